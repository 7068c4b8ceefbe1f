//! `/api/v2.0/users`.

use super::{context, created, json_body, list_query, query_value, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use berth_core::iam::UserRequest;
use berth_db::users::User;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v2.0/users", get(list).post(create))
        .route("/api/v2.0/users/current", get(current))
        .route("/api/v2.0/users/search", get(search))
        .route("/api/v2.0/users/current/permissions", get(permissions))
        .route(
            "/api/v2.0/users/{id}",
            get(get_one).put(update).delete(delete_one),
        )
        .route("/api/v2.0/users/{id}/password", put(password))
        .route("/api/v2.0/users/{id}/sysadmin", put(sysadmin))
}

/// Harbor's `UserResp` (never the password or its hash).
fn user_json(u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "username": u.username,
        "email": u.email.clone().unwrap_or_default(),
        "realname": u.realname,
        "comment": u.comment,
        "sysadmin_flag": u.sysadmin,
        "admin_role_in_auth": false,
        "creation_time": timestamp(u.creation_time),
        "update_time": timestamp(u.update_time),
    })
}

fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("user id must be an integer"))
}

#[derive(Deserialize)]
struct CreateReq {
    username: String,
    email: Option<String>,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
    password: String,
}

async fn create(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: CreateReq = json_body(&body)?;
    let id = state
        .iam
        .create_user(
            &ctx,
            &UserRequest {
                username: req.username,
                email: req.email,
                realname: req.realname,
                comment: req.comment,
                password: req.password,
            },
        )
        .await?;
    Ok(created(format!("/api/v2.0/users/{id}")))
}

async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let page = Page::parse(q.as_deref())?;
    let mut query = list_query(q.as_deref(), berth_db::users::FIELDS)?;
    if let Some(name) = query_value(q.as_deref(), "username") {
        query = query.fuzzy(berth_db::users::FIELDS, "username", &name)?;
    }
    let (users, total) = state
        .iam
        .list_users(&ctx, &query, page.offset(), page.size)
        .await?;
    let mut resp = Json(users.iter().map(user_json).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, "/api/v2.0/users", total);
    Ok(resp)
}

async fn current(S(state): S<State>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(Json(user_json(&state.iam.current_user(&ctx).await?)))
}

async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(Json(user_json(
        &state.iam.get_user(&ctx, user_id(&id)?).await?,
    )))
}

async fn search(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let page = Page::parse(q.as_deref())?;
    let name = query_value(q.as_deref(), "username")
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let (found, total) = state
        .iam
        .search_users(&ctx, &name, page.offset(), page.size)
        .await?;
    let body: Vec<Value> = found
        .iter()
        .map(|(id, n)| json!({"user_id": id, "username": n}))
        .collect();
    let mut resp = Json(body).into_response();
    page.headers(&mut resp, "/api/v2.0/users/search", total);
    Ok(resp)
}

/// `?scope=/project/<id>[&relative=true]`: what the caller may do there.
async fn permissions(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    use berth_core::iam::rbac::{action_name, kind_name};
    let ctx = context(&state, &headers).await?;
    if !ctx.is_authenticated() {
        return Err(berth_core::CoreError::Unauthorized.into());
    }
    let scope = query_value(q.as_deref(), "scope")
        .ok_or_else(|| ApiError::bad_request("scope is required"))?;
    let id: i64 = scope
        .strip_prefix("/project/")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::bad_request("scope must be /project/<id>"))?;
    let relative = query_value(q.as_deref(), "relative").is_some_and(|v| v == "true");
    let perms = state.projects.permissions(&ctx, id).await?;
    Ok(Json(Value::Array(
        perms
            .into_iter()
            .map(|(k, a)| {
                let resource = if relative {
                    kind_name(k).to_string()
                } else {
                    format!("{scope}/{}", kind_name(k))
                };
                json!({"resource": resource, "action": action_name(a)})
            })
            .collect(),
    )))
}

async fn delete_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state.iam.delete_user(&ctx, user_id(&id)?).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct ProfileReq {
    email: Option<String>,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
}

async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: ProfileReq = json_body(&body)?;
    state
        .iam
        .update_profile(
            &ctx,
            user_id(&id)?,
            req.email.as_deref(),
            &req.realname,
            &req.comment,
        )
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct PasswordReq {
    old_password: Option<String>,
    new_password: String,
}

async fn password(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: PasswordReq = json_body(&body)?;
    state
        .iam
        .change_password(
            &ctx,
            user_id(&id)?,
            req.old_password.as_deref(),
            &req.new_password,
        )
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct SysadminReq {
    sysadmin_flag: bool,
}

async fn sysadmin(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: SysadminReq = json_body(&body)?;
    state
        .iam
        .set_sysadmin(&ctx, user_id(&id)?, req.sysadmin_flag)
        .await?;
    Ok(StatusCode::OK)
}
