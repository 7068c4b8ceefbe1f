//! `/api/v2.0/repositories` and `/api/v2.0/projects/{p}/repositories`.

use super::{context, list_query, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_db::repositories::RepositoryRow;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v2.0/repositories", get(list_all))
        .route("/api/v2.0/projects/{p}/repositories", get(list_in_project))
        .route(
            "/api/v2.0/projects/{p}/repositories/{r}",
            get(get_one).put(update).delete(delete),
        )
}

/// Harbor's `Repository` model.
fn repo_json(r: &RepositoryRow) -> Value {
    json!({
        "id": r.id,
        "project_id": r.project_id,
        "name": r.name,
        "description": r.description,
        "artifact_count": r.artifact_count,
        "pull_count": r.pull_count,
        "creation_time": timestamp(r.creation_time),
        "update_time": timestamp(r.update_time),
    })
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
    let ctx = context(state, headers).await?;
    let page = Page::parse(q)?;
    let query = list_query(q, berth_db::repositories::FIELDS)?;
    let (rows, total) = state
        .repositories
        .list(&ctx, project, &query, page.offset(), page.size)
        .await?;
    let mut resp = Json(rows.iter().map(repo_json).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, path, total);
    Ok(resp)
}

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

async fn list_in_project(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = format!("/api/v2.0/projects/{p}/repositories");
    list(&state, &headers, Some(&p), q.as_deref(), &path).await
}

async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let row = state.repositories.get(&ctx, &p, &repo_name(&r)?).await?;
    Ok(Json(repo_json(&row)))
}

#[derive(Deserialize)]
struct UpdateReq {
    #[serde(default)]
    description: String,
}

async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: UpdateReq = super::json_body(&body)?;
    state
        .repositories
        .update_description(&ctx, &p, &repo_name(&r)?, &req.description)
        .await?;
    Ok(StatusCode::OK)
}

async fn delete(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state.repositories.delete(&ctx, &p, &repo_name(&r)?).await?;
    Ok(StatusCode::OK)
}
