//! `/api/v2.0/projects`: projects, their metadata and members.

use super::{context, created, json_body, query_value, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_core::projects::{MemberUser, ProjectKey, ProjectView};
use berth_db::projects::Member;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v2.0/projects", get(list).post(create).head(head))
        .route(
            "/api/v2.0/projects/{p}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v2.0/projects/{p}/_deletable", get(deletable))
        .route("/api/v2.0/projects/{p}/summary", get(summary))
        .route(
            "/api/v2.0/projects/{p}/metadatas",
            get(get_metadata).post(add_metadata),
        )
        .route(
            "/api/v2.0/projects/{p}/metadatas/",
            get(get_metadata).post(add_metadata),
        )
        .route(
            "/api/v2.0/projects/{p}/metadatas/{name}",
            get(get_metadata_one)
                .put(put_metadata_one)
                .delete(delete_metadata_one),
        )
        .route(
            "/api/v2.0/projects/{p}/members",
            get(members).post(add_member),
        )
        .route(
            "/api/v2.0/projects/{p}/members/{mid}",
            get(member).put(update_member).delete(delete_member),
        )
}

fn key(headers: &HeaderMap, p: &str) -> ProjectKey {
    let is_name = headers
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ProjectKey::parse(p, is_name)
}

/// Harbor's `Project` model.
pub(super) fn project_json(v: &ProjectView) -> Value {
    let role_ids: Vec<i64> = v.roles.iter().map(|r| *r as i64).collect();
    json!({
        "project_id": v.project.project_id,
        "owner_id": v.project.owner_id,
        "owner_name": v.project.owner_name,
        "name": v.project.name,
        "registry_id": null,
        "creation_time": timestamp(v.project.creation_time),
        "update_time": timestamp(v.project.update_time),
        "deleted": false,
        "togglable": role_ids.contains(&1),
        "current_user_role_id": role_ids.iter().min().copied().unwrap_or(0),
        "current_user_role_ids": role_ids,
        "repo_count": v.repo_count,
        "metadata": v.metadata,
        "cve_allowlist": {"items": [], "project_id": v.project.project_id},
    })
}

#[derive(Deserialize)]
struct ProjectReq {
    project_name: Option<String>,
    public: Option<bool>,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
}

/// Harbor sends metadata values as strings; accept booleans too.
fn metadata_strings(m: BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(ApiError::bad_request(format!(
                "metadata {k} has invalid value {other}"
            ))),
        })
        .collect()
}

async fn create(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: ProjectReq = json_body(&body)?;
    let name = req
        .project_name
        .ok_or_else(|| ApiError::bad_request("project_name is required"))?;
    let mut metadata = metadata_strings(req.metadata)?;
    if let Some(p) = req.public {
        metadata
            .entry("public".into())
            .or_insert_with(|| p.to_string());
    }
    let id = state.projects.create(&ctx, &name, &metadata).await?;
    let by_name = headers
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(created(if by_name {
        format!("/api/v2.0/projects/{name}")
    } else {
        format!("/api/v2.0/projects/{id}")
    }))
}

async fn head(S(state): S<State>, RawQuery(q): RawQuery) -> Result<StatusCode, ApiError> {
    let name = query_value(q.as_deref(), "project_name")
        .ok_or_else(|| ApiError::bad_request("project_name is required"))?;
    Ok(if state.projects.exists(&name).await? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let q = q.as_deref();
    let page = Page::parse(q)?;
    let fields = berth_db::projects::FIELDS;
    let mut query = super::list_query(q, fields)?;
    if let Some(name) = query_value(q, "name") {
        query = query.fuzzy(fields, "name", &name)?;
    }
    for key in ["public", "owner"] {
        if let Some(v) = query_value(q, key) {
            query = query.exact(fields, key, &v)?;
        }
    }
    let (projects, total) = state
        .projects
        .list(&ctx, &query, page.offset(), page.size)
        .await?;
    let mut resp = Json(projects.iter().map(project_json).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, "/api/v2.0/projects", total);
    Ok(resp)
}

async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(Json(project_json(
        &state.projects.get(&ctx, &key(&headers, &p)).await?,
    )))
}

async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: ProjectReq = json_body(&body)?;
    let mut metadata = metadata_strings(req.metadata)?;
    if let Some(p) = req.public {
        metadata.insert("public".into(), p.to_string());
    }
    state
        .projects
        .set_metadata(&ctx, &key(&headers, &p), &metadata)
        .await?;
    Ok(StatusCode::OK)
}

async fn delete(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state.projects.delete(&ctx, &key(&headers, &p)).await?;
    Ok(StatusCode::OK)
}

async fn deletable(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let (ok, message) = state.projects.deletable(&ctx, &key(&headers, &p)).await?;
    Ok(Json(json!({ "deletable": ok, "message": message })))
}

async fn summary(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> Result<Json<Value>, ApiError> {
    use berth_core::iam::rbac::Role;
    let ctx = context(&state, &headers).await?;
    let (repo_count, members) = state.projects.summary(&ctx, &key(&headers, &p)).await?;
    let count = |role: Role| {
        members
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(0, |(_, n)| *n)
    };
    Ok(Json(json!({
        "repo_count": repo_count,
        "project_admin_count": count(Role::ProjectAdmin),
        "maintainer_count": count(Role::Maintainer),
        "developer_count": count(Role::Developer),
        "guest_count": count(Role::Guest),
        "limited_guest_count": count(Role::LimitedGuest),
    })))
}

async fn get_metadata(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(Json(json!(
        state.projects.metadata(&ctx, &key(&headers, &p)).await?
    )))
}

async fn add_metadata(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let m = metadata_strings(json_body(&body)?)?;
    state
        .projects
        .set_metadata(&ctx, &key(&headers, &p), &m)
        .await?;
    Ok(StatusCode::OK)
}

async fn get_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let all = state.projects.metadata(&ctx, &key(&headers, &p)).await?;
    let v = all.get(&name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("metadata {name} not found"))
    })?;
    Ok(Json(json!({ name: v })))
}

async fn put_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let m = metadata_strings(json_body(&body)?)?;
    if m.len() != 1 || !m.contains_key(&name) {
        return Err(ApiError::bad_request(format!(
            "the body must hold exactly the key {name}"
        )));
    }
    state
        .projects
        .set_metadata(&ctx, &key(&headers, &p), &m)
        .await?;
    Ok(StatusCode::OK)
}

async fn delete_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state
        .projects
        .delete_metadata(&ctx, &key(&headers, &p), &name)
        .await?;
    Ok(StatusCode::OK)
}

fn member_json(m: &Member) -> Value {
    let role_name = berth_core::iam::rbac::Role::from_id(m.role)
        .map(|r| r.name())
        .unwrap_or("");
    json!({
        "id": m.id,
        "project_id": m.project_id,
        "entity_name": m.entity_name,
        "role_name": role_name,
        "role_id": m.role,
        "entity_id": m.entity_id,
        "entity_type": m.entity_type,
    })
}

fn member_id(s: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("member id must be an integer"))
}

async fn members(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let page = Page::parse(q.as_deref())?;
    let name = query_value(q.as_deref(), "entityname");
    let (list, total) = state
        .projects
        .members(
            &ctx,
            &key(&headers, &p),
            name.as_deref(),
            page.offset(),
            page.size,
        )
        .await?;
    let mut resp = Json(list.iter().map(member_json).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, &format!("/api/v2.0/projects/{p}/members"), total);
    Ok(resp)
}

#[derive(Deserialize)]
struct MemberReq {
    role_id: i64,
    member_user: Option<MemberUserReq>,
    member_group: Option<Value>,
}

#[derive(Deserialize)]
struct MemberUserReq {
    user_id: Option<i64>,
    username: Option<String>,
}

async fn add_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: MemberReq = json_body(&body)?;
    if req.member_group.is_some() {
        return Err(ApiError::bad_request(
            "group members need LDAP or OIDC authentication, which is not configured",
        ));
    }
    let user = match req.member_user {
        Some(MemberUserReq {
            user_id: Some(id), ..
        }) if id > 0 => MemberUser::Id(id),
        Some(MemberUserReq {
            username: Some(n), ..
        }) if !n.is_empty() => MemberUser::Name(n),
        _ => {
            return Err(ApiError::bad_request(
                "member_user with user_id or username is required",
            ))
        }
    };
    let id = state
        .projects
        .add_member(&ctx, &key(&headers, &p), user, req.role_id)
        .await?;
    Ok(created(format!("/api/v2.0/projects/{p}/members/{id}")))
}

async fn member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let m = state
        .projects
        .member(&ctx, &key(&headers, &p), member_id(&mid)?)
        .await?;
    Ok(Json(member_json(&m)))
}

#[derive(Deserialize)]
struct RoleReq {
    role_id: i64,
}

async fn update_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: RoleReq = json_body(&body)?;
    state
        .projects
        .update_member(&ctx, &key(&headers, &p), member_id(&mid)?, req.role_id)
        .await?;
    Ok(StatusCode::OK)
}

async fn delete_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state
        .projects
        .delete_member(&ctx, &key(&headers, &p), member_id(&mid)?)
        .await?;
    Ok(StatusCode::OK)
}
