//! A project's cosign public keys (Berth's own API: Harbor only asks that
//! a cosign signature exists): `/projects/{p}/cosign-keys`.

use super::model::Errors;
use super::projects::key;
use super::{created, json_body, path_id, timestamp, ApiError, Ctx};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(delete))
}

/// A key signatures must verify against.
#[derive(Serialize, ToSchema)]
pub struct CosignKey {
    id: i64,
    name: String,
    /// PEM (SubjectPublicKeyInfo), ECDSA P-256.
    public_key: String,
    #[schema(format = DateTime)]
    creation_time: String,
}

/// A key to add.
#[derive(Deserialize, ToSchema)]
struct CosignKeyReq {
    #[serde(default)]
    name: String,
    /// PEM, as `cosign generate-key-pair` writes `cosign.pub`.
    #[serde(default)]
    public_key: String,
}

/// The project's cosign public keys. With cosign content trust on and a
/// key here, an image is served only when a cosign signature of it
/// verifies against one of them.
#[utoipa::path(get, path = "/api/v2.0/projects/{project_name_or_id}/cosign-keys",
    tag = "project", operation_id = "listCosignKeys",
    responses((status = 200, description = "The keys", body = [CosignKey])))]
async fn list(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(project_name_or_id): Path<String>,
) -> Result<Json<Vec<CosignKey>>, ApiError> {
    let keys = (state.projects)
        .cosign_keys(&ctx, &key(&headers, &project_name_or_id))
        .await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| CosignKey {
                id: k.id,
                name: k.name,
                public_key: k.pem,
                creation_time: timestamp(k.creation_time),
            })
            .collect(),
    ))
}

/// Adds a key (project administrators).
#[utoipa::path(post, path = "/api/v2.0/projects/{project_name_or_id}/cosign-keys",
    tag = "project", operation_id = "addCosignKey", request_body = CosignKeyReq,
    responses((status = 201, description = "Added"),
        (status = 400, description = "Not an ECDSA P-256 PEM public key", body = Errors),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn add(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(project_name_or_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req = json_body::<CosignKeyReq>(&body)?;
    let p = key(&headers, &project_name_or_id);
    let id = (state.projects)
        .add_cosign_key(&ctx, &p, &req.name, &req.public_key)
        .await?;
    Ok(created(format!(
        "/api/v2.0/projects/{project_name_or_id}/cosign-keys/{id}"
    )))
}

/// Deletes a key (project administrators).
#[utoipa::path(delete, path = "/api/v2.0/projects/{project_name_or_id}/cosign-keys/{key_id}",
    tag = "project", operation_id = "deleteCosignKey",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such key", body = Errors)))]
async fn delete(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path((project_name_or_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&key_id, "key_id")?;
    let p = key(&headers, &project_name_or_id);
    state.projects.delete_cosign_key(&ctx, &p, id).await?;
    Ok(StatusCode::OK)
}
