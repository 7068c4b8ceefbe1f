//! `/api/v2.0/repositories` and `/api/v2.0/projects/{p}/repositories`.

use super::model::Repository;
use super::ApiJson;
use super::{context, filter, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::project::repositories::RepositoryRow;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_all))
        .routes(routes!(list_in_project))
        .routes(routes!(get_one, update, delete))
}

/// Harbor's `Repository` model.
fn repo_json(r: &RepositoryRow) -> Repository {
    Repository {
        id: r.id,
        project_id: r.project_id,
        name: r.name.clone(),
        description: r.description.clone(),
        artifact_count: r.artifact_count,
        pull_count: r.pull_count,
        creation_time: timestamp(r.creation_time),
        update_time: timestamp(r.update_time),
    }
}

/// Repository names in paths are URL-encoded twice (`a/b` → `a%252Fb`);
/// the router decoded once.
pub(super) fn repo_name(r: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(r)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("invalid repository name"))
}

async fn list(
    state: &State,
    headers: &HeaderMap,
    project: Option<&str>,
    q: Option<&str>,
    path: &str,
) -> Result<Response, ApiError> {
    let ctx = context(state, headers, super::door(&axum::http::Method::GET, path)).await?;
    let page = Page::parse(q)?;
    let query = filter(q);
    let (rows, total) = state
        .repositories
        .list(&ctx, project, &query, page.offset(), page.size)
        .await?;
    Ok(page.respond(rows.iter().map(repo_json).collect::<Vec<_>>(), path, total))
}

/// Repositories in every project the caller may see; `q` keys: name,
/// project_id, pull_count, creation_time, update_time.
#[utoipa::path(get, path = "/api/v2.0/repositories", tag = "repository",
    operation_id = "listAllRepositories", params(ListParams),
    responses((status = 200, description = "A page of repositories", body = [Repository])))]
async fn list_all(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    list(
        &state,
        &headers,
        None,
        q.as_deref(),
        "/api/v2.0/repositories",
    )
    .await
}

/// A project's repositories.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories", tag = "repository",
    operation_id = "listRepositories", params(ListParams),
    responses((status = 200, description = "A page of repositories", body = [Repository])))]
async fn list_in_project(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = format!("/api/v2.0/projects/{p}/repositories");
    list(&state, &headers, Some(&p), q.as_deref(), &path).await
}

/// One repository; its name inside the project is URL-encoded twice.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}", tag = "repository",
    operation_id = "getRepository",
    responses((status = 200, description = "The repository", body = Repository)))]
async fn get_one(
    S(state): S<State>,
    Path((p, r)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Json<Repository>, ApiError> {
    let row = state.repositories.get(&ctx, &p, &repo_name(&r)?).await?;
    Ok(Json(repo_json(&row)))
}

/// A repository's description.
#[derive(Deserialize, ToSchema)]
struct UpdateReq {
    #[serde(default)]
    description: String,
}

/// Sets a repository's description.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}/repositories/{r}", tag = "repository",
    operation_id = "updateRepository", request_body = UpdateReq,
    responses((status = 200, description = "Updated")))]
async fn update(
    S(state): S<State>,
    Path((p, r)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<UpdateReq>,
) -> Result<StatusCode, ApiError> {
    state
        .repositories
        .update_description(&ctx, &p, &repo_name(&r)?, &req.description)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a repository with its artifacts.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/repositories/{r}", tag = "repository",
    operation_id = "deleteRepository", responses((status = 200, description = "Deleted")))]
async fn delete(
    S(state): S<State>,
    Path((p, r)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .repositories
        .delete(&ctx, &state.registry, &p, &repo_name(&r)?)
        .await?;
    Ok(StatusCode::OK)
}
