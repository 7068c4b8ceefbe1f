//! Registry endpoints: `/registries` (CRUD, ping, info) and the adapters
//! (`/replication/adapters`, `/replication/adapterinfos`).

use super::model::Errors;
use super::{created, filter, json_body, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use berth_core::replication::adapters::{EndpointPattern, Info};
use berth_core::replication::registries::{
    Credential, Endpoint, EndpointChange, NewEndpoint, PingRequest,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(ping))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(info))
        .routes(routes!(adapters))
        .routes(routes!(adapter_infos))
}

/// How Berth signs in to a registry (Harbor's `RegistryCredential`); the
/// secret shows only as `*****`.
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct RegistryCredential {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    access_secret: String,
}

/// A registry endpoint (Harbor's `Registry`).
#[derive(Serialize, ToSchema)]
pub struct Registry {
    id: i64,
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<RegistryCredential>,
    insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_certificate: Option<String>,
    /// `healthy` or `unhealthy`, as last checked.
    status: String,
    #[schema(format = DateTime)]
    creation_time: String,
    #[schema(format = DateTime)]
    update_time: String,
}

/// An endpoint as the API shows it: its secret never.
pub fn registry_json(e: &Endpoint) -> Registry {
    let has_credential = !(e.credential_type.is_empty() && e.access_key.is_empty());
    Registry {
        id: e.id,
        name: e.name.clone(),
        description: e.description.clone(),
        kind: e.kind.clone(),
        url: e.url.clone(),
        credential: has_credential.then(|| RegistryCredential {
            kind: e.credential_type.clone(),
            access_key: e.access_key.clone(),
            access_secret: match e.access_secret.is_empty() {
                true => String::new(),
                false => "*****".into(),
            },
        }),
        insecure: e.insecure,
        ca_certificate: (!e.ca_certificate.is_empty()).then(|| e.ca_certificate.clone()),
        status: e.status.clone(),
        creation_time: timestamp(e.creation_time),
        update_time: timestamp(e.update_time),
    }
}

/// An endpoint to create (Harbor's `Registry`).
#[derive(Deserialize, ToSchema)]
struct RegistryReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    url: String,
    credential: Option<RegistryCredential>,
    #[serde(default)]
    insecure: bool,
    ca_certificate: Option<String>,
}

/// What to change of an endpoint (Harbor's `RegistryUpdate`).
#[derive(Deserialize, ToSchema)]
struct RegistryUpdate {
    name: Option<String>,
    description: Option<String>,
    url: Option<String>,
    credential_type: Option<String>,
    access_key: Option<String>,
    access_secret: Option<String>,
    insecure: Option<bool>,
    ca_certificate: Option<String>,
}

/// What to ping (Harbor's `RegistryPing`).
#[derive(Deserialize, ToSchema)]
struct RegistryPing {
    id: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    credential_type: Option<String>,
    access_key: Option<String>,
    access_secret: Option<String>,
    insecure: Option<bool>,
    ca_certificate: Option<String>,
}

/// Where an adapter's endpoints are, by adapter (Harbor's
/// `RegistryProviderInfo`).
#[derive(Serialize, ToSchema)]
struct RegistryProviderInfo {
    #[schema(value_type = Object)]
    endpoint_pattern: EndpointPattern,
}

/// Registry endpoints (administrators); `name` searches as well as `q`.
#[utoipa::path(get, path = "/api/v2.0/registries", tag = "registry", operation_id = "listRegistries",
    params(ListParams),
    responses((status = 200, description = "A page of endpoints", body = [Registry])))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let mut query = filter(q.as_deref());
    if let Some(v) = query_value(q.as_deref(), "name").filter(|v| !v.is_empty()) {
        query = query.search("name", v);
    }
    let (items, total) = (state.registries)
        .list(&ctx, &query, page.offset(), page.size)
        .await?;
    let items: Vec<Registry> = items.iter().map(registry_json).collect();
    Ok(page.respond(items, "/api/v2.0/registries", total))
}

/// Stores an endpoint once its registry answers.
#[utoipa::path(post, path = "/api/v2.0/registries", tag = "registry", operation_id = "createRegistry",
    request_body = RegistryReq,
    responses((status = 201, description = "Stored"),
        (status = 400, description = "Invalid, or the registry did not answer", body = Errors),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let r = json_body::<RegistryReq>(&body)?;
    let new = NewEndpoint {
        name: r.name,
        description: r.description,
        kind: r.kind,
        url: r.url,
        credential: r.credential.map(|c| Credential {
            kind: c.kind,
            access_key: c.access_key,
            access_secret: c.access_secret,
        }),
        insecure: r.insecure,
        ca_certificate: r.ca_certificate,
    };
    let id = state.registries.create(&ctx, &new).await?;
    Ok(created(format!("/api/v2.0/registries/{id}")))
}

/// Whether a registry answers: a stored endpoint, or settings to store.
#[utoipa::path(post, path = "/api/v2.0/registries/ping", tag = "registry", operation_id = "pingRegistry",
    request_body = RegistryPing,
    responses((status = 200, description = "It answered"),
        (status = 400, description = "It did not answer, or the settings are invalid", body = Errors),
        (status = 404, description = "No such endpoint", body = Errors)))]
async fn ping(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let r = json_body::<RegistryPing>(&body)?;
    let req = PingRequest {
        id: r.id,
        kind: r.kind,
        with: EndpointChange {
            url: r.url,
            credential_type: r.credential_type,
            access_key: r.access_key,
            access_secret: r.access_secret,
            insecure: r.insecure,
            ca_certificate: r.ca_certificate,
            ..EndpointChange::default()
        },
    };
    state.registries.ping(&ctx, &req).await?;
    Ok(StatusCode::OK)
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v2.0/registries/{id}", tag = "registry", operation_id = "getRegistry",
    responses((status = 200, description = "The endpoint", body = Registry),
        (status = 404, description = "No such endpoint", body = Errors)))]
async fn get_one(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<Json<Registry>, ApiError> {
    Ok(Json(registry_json(&state.registries.get(&ctx, id).await?)))
}

/// Changes an endpoint; its registry must answer as changed. A new URL
/// without a new secret drops the stored secret.
#[utoipa::path(put, path = "/api/v2.0/registries/{id}", tag = "registry", operation_id = "updateRegistry",
    request_body = RegistryUpdate,
    responses((status = 200, description = "Changed"),
        (status = 400, description = "Invalid, or the registry did not answer", body = Errors),
        (status = 404, description = "No such endpoint", body = Errors),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn update(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let r = json_body::<RegistryUpdate>(&body)?;
    let change = EndpointChange {
        name: r.name,
        description: r.description,
        url: r.url,
        credential_type: r.credential_type,
        access_key: r.access_key,
        access_secret: r.access_secret,
        insecure: r.insecure,
        ca_certificate: r.ca_certificate,
    };
    state.registries.update(&ctx, id, &change).await?;
    Ok(StatusCode::OK)
}

/// Deletes an endpoint.
#[utoipa::path(delete, path = "/api/v2.0/registries/{id}", tag = "registry", operation_id = "deleteRegistry",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such endpoint", body = Errors)))]
async fn delete(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.registries.delete(&ctx, id).await?;
    Ok(StatusCode::OK)
}

/// What an endpoint's registry is and supports (Harbor's `RegistryInfo`).
#[utoipa::path(get, path = "/api/v2.0/registries/{id}/info", tag = "registry",
    operation_id = "getRegistryInfo",
    responses((status = 200, description = "Its adapter's capabilities", body = Object),
        (status = 404, description = "No such endpoint", body = Errors)))]
async fn info(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<Json<Info>, ApiError> {
    Ok(Json(state.registries.info(&ctx, id).await?))
}

/// The adapters Berth has.
#[utoipa::path(get, path = "/api/v2.0/replication/adapters", tag = "registry",
    operation_id = "listRegistryProviderTypes",
    responses((status = 200, description = "Adapter names", body = [String])))]
async fn adapters(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Vec<&'static str>>, ApiError> {
    Ok(Json(state.registries.adapters(&ctx).await?))
}

/// The endpoints of the adapters that have fixed ones.
#[utoipa::path(get, path = "/api/v2.0/replication/adapterinfos", tag = "registry",
    operation_id = "listRegistryProviderInfos",
    responses((status = 200, description = "By adapter", body = BTreeMap<String, RegistryProviderInfo>)))]
async fn adapter_infos(
    S(state): S<State>,
    Ctx(ctx): Ctx,
) -> Result<Json<BTreeMap<&'static str, RegistryProviderInfo>>, ApiError> {
    let patterns = state.registries.adapter_patterns(&ctx).await?;
    Ok(Json(
        (patterns.into_iter())
            .map(|(k, endpoint_pattern)| (k, RegistryProviderInfo { endpoint_pattern }))
            .collect(),
    ))
}
