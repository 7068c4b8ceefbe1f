//! System endpoints: `/systeminfo` and `/statistics`.

use super::{context, timestamp, ApiError};
use crate::State;
use axum::extract::State as S;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v2.0/systeminfo", get(systeminfo))
        .route("/api/v2.0/statistics", get(statistics))
        .route("/api/v2.0/search", get(search))
        .route("/api/v2.0/permissions", get(permissions))
        .route(
            "/api/v2.0/configurations",
            get(configurations).put(update_configurations),
        )
}

/// Anonymous callers get what a login page needs; others also the registry's settings.
async fn systeminfo(S(state): S<State>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let mut info = json!({
        "auth_mode": "db_auth",
        "primary_auth_mode": false,
        "self_registration": false,
        "banner_message": "",
        "harbor_version": concat!("berth-", env!("CARGO_PKG_VERSION")),
    });
    if ctx.is_authenticated() {
        let host = state
            .external_url
            .split_once("://")
            .map_or(state.external_url.as_str(), |(_, h)| h);
        let extra = json!({
            "current_time": timestamp(berth_db::now_millis()),
            "external_url": state.external_url,
            "registry_url": host,
            "project_creation_restriction": state.configurations.project_creation_restriction().await?,
            "read_only": false,
            "has_ca_root": false,
            "registry_storage_provider_name": "filesystem",
            "notification_enable": false,
        });
        if let (Some(i), Some(e)) = (info.as_object_mut(), extra.as_object()) {
            i.extend(e.clone());
        }
    }
    Ok(Json(info))
}

/// Projects and repositories whose names contain `q`, among those the caller may see.
async fn search(
    S(state): S<State>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let term = super::query_value(q.as_deref(), "q")
        .ok_or_else(|| ApiError::bad_request("q is required"))?;
    let by_name = |fields| berth_db::query::ListQuery::default().fuzzy(fields, "name", &term);
    let (projects, _) = state
        .projects
        .list(&ctx, &by_name(berth_db::projects::FIELDS)?, 0, 100)
        .await?;
    let (repos, _) = state
        .repositories
        .list(
            &ctx,
            None,
            &by_name(berth_db::repositories::FIELDS)?,
            0,
            100,
        )
        .await?;
    let mut repo_json = Vec::new();
    for r in &repos {
        let project = r.name.split('/').next().unwrap_or("");
        let public = state
            .projects
            .lookup(project)
            .await?
            .is_some_and(|p| p.public);
        repo_json.push(json!({
            "project_id": r.project_id,
            "project_name": project,
            "project_public": public,
            "repository_name": r.name,
            "pull_count": r.pull_count,
            "artifact_count": r.artifact_count,
        }));
    }
    Ok(Json(json!({
        "project": projects.iter().map(super::projects::project_json).collect::<Vec<_>>(),
        "repository": repo_json,
    })))
}

/// Counts over what the caller may see (Harbor's `Statistic`).
async fn statistics(S(state): S<State>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    if !ctx.is_authenticated() {
        return Err(berth_core::CoreError::Unauthorized.into());
    }
    let [public_projects, private_projects, public_repos, private_repos, storage] =
        state.projects.statistics(&ctx).await?;
    Ok(Json(json!({
        "public_project_count": public_projects,
        "private_project_count": private_projects,
        "total_project_count": public_projects + private_projects,
        "public_repo_count": public_repos,
        "private_repo_count": private_repos,
        "total_repo_count": public_repos + private_repos,
        "total_storage_consumption": storage,
    })))
}

/// What robots may be granted, system-wide and in a project.
async fn permissions(S(state): S<State>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let (system, project) = state.iam.robots.grantable(&ctx).await?;
    let list = |grants: &[(&str, &str)]| -> Value {
        grants
            .iter()
            .map(|(resource, action)| json!({"resource": resource, "action": action}))
            .collect()
    };
    Ok(Json(
        json!({"system": list(system), "project": list(project)}),
    ))
}

async fn configurations(S(state): S<State>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let items = state.configurations.all(&ctx).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|(k, i)| {
                (
                    k.to_string(),
                    json!({"value": i.value, "editable": i.editable}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
    ))
}

async fn update_configurations(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let changes = super::json_body(&body)?;
    state.configurations.update(&ctx, &changes).await?;
    Ok(axum::http::StatusCode::OK)
}
