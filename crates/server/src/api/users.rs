//! `/api/v2.0/users`.

use super::model::Errors;
use super::model::{OidcUserInfo, Permission, UserResp, UserSearchRespItem};
use super::ApiJson;
use super::{created, filter, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use berth_core::iam::context::SecurityContext;
use berth_core::iam::User;
use berth_core::iam::UserRequest;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(current))
        .routes(routes!(search))
        .routes(routes!(permissions))
        .routes(routes!(get_one, update, delete_one))
        .routes(routes!(password))
        .routes(routes!(sysadmin))
        .routes(routes!(cli_secret))
}

/// Harbor's `UserResp` (never the password or its hash).
fn user_json(u: &User) -> UserResp {
    UserResp {
        user_id: u.user_id,
        username: u.username.clone(),
        email: u.email.clone().unwrap_or_default(),
        realname: u.realname.clone(),
        comment: u.comment.clone(),
        sysadmin_flag: u.sysadmin,
        admin_role_in_auth: u.admin_role_in_auth,
        creation_time: timestamp(u.creation_time),
        update_time: timestamp(u.update_time),
        oidc_user_meta: None,
    }
}

/// A user with their OIDC record, when they have one.
async fn user_with_meta(
    state: &State,
    ctx: &SecurityContext,
    u: &User,
) -> Result<Json<UserResp>, ApiError> {
    let meta = state.iam.oidc_user_meta(ctx, u.user_id).await?;
    Ok(Json(UserResp {
        oidc_user_meta: meta.map(|m| OidcUserInfo {
            id: m.id,
            user_id: m.user_id,
            subiss: m.subiss,
            secret: m.secret,
            creation_time: timestamp(m.creation_time),
            update_time: timestamp(m.update_time),
        }),
        ..user_json(u)
    }))
}

/// A new user.
#[derive(Deserialize, ToSchema)]
struct CreateReq {
    username: String,
    email: Option<String>,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
    password: String,
}

/// Creates a user (administrators).
#[utoipa::path(post, path = "/api/v2.0/users", tag = "user", operation_id = "createUser",
    request_body = CreateReq, responses((status = 201, description = "Created; Location names it"),
    (status = 409, description = "Username or email taken", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CreateReq>,
) -> Result<Response, ApiError> {
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

/// Lists users (administrators); `q` keys: username, email, user_id, creation_time.
#[utoipa::path(get, path = "/api/v2.0/users", tag = "user", operation_id = "listUsers",
    params(ListParams, ("username" = Option<String>, Query, description = "Part of the name")),
    responses((status = 200, description = "A page of users", body = [UserResp])))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let mut query = filter(q.as_deref());
    if let Some(name) = query_value(q.as_deref(), "username") {
        query = query.search("username", name);
    }
    let (users, total) = state
        .iam
        .list_users(&ctx, &query, page.offset(), page.size)
        .await?;
    Ok(page.respond(
        users.iter().map(user_json).collect::<Vec<_>>(),
        "/api/v2.0/users",
        total,
    ))
}

/// The calling user.
#[utoipa::path(get, path = "/api/v2.0/users/current", tag = "user", operation_id = "getCurrentUserInfo",
    responses((status = 200, description = "The caller", body = UserResp)))]
async fn current(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<UserResp>, ApiError> {
    let me = state.iam.current_user(&ctx).await?;
    user_with_meta(&state, &ctx, &me).await
}

/// One user (administrators, or the user themselves).
#[utoipa::path(get, path = "/api/v2.0/users/{id}", tag = "user", operation_id = "getUser",
    responses((status = 200, description = "The user", body = UserResp)))]
async fn get_one(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<UserResp>, ApiError> {
    let user = (state.iam)
        .get_user(&ctx, super::path_id(&id, "user id")?)
        .await?;
    user_with_meta(&state, &ctx, &user).await
}

/// Users whose name contains `username`, for any signed-in caller.
#[utoipa::path(get, path = "/api/v2.0/users/search", tag = "user", operation_id = "searchUsers",
    params(("username" = String, Query, description = "Part of the name"), ("page" = Option<i64>, Query),
        ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "Matching users", body = [UserSearchRespItem])))]
async fn search(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let name = query_value(q.as_deref(), "username")
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let (found, total) = state
        .iam
        .search_users(&ctx, &name, page.offset(), page.size)
        .await?;
    let body: Vec<UserSearchRespItem> = found
        .into_iter()
        .map(|(user_id, username)| UserSearchRespItem { user_id, username })
        .collect();
    Ok(page.respond(body, "/api/v2.0/users/search", total))
}

/// `?scope=/project/<id>[&relative=true]`: what the caller may do there.
#[utoipa::path(get, path = "/api/v2.0/users/current/permissions", tag = "user",
    operation_id = "getCurrentUserPermissions",
    params(("scope" = String, Query, description = "/project/<id>"), ("relative" = Option<bool>, Query)),
    responses((status = 200, description = "Granted permissions", body = [Permission])))]
async fn permissions(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Json<Vec<Permission>>, ApiError> {
    use berth_core::iam::rbac::{action_name, kind_name};
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
    Ok(Json(
        perms
            .into_iter()
            .map(|(k, a)| Permission {
                resource: if relative {
                    kind_name(k).to_string()
                } else {
                    format!("{scope}/{}", kind_name(k))
                },
                action: action_name(a).to_string(),
            })
            .collect(),
    ))
}

/// Deletes a user (administrators; not themselves).
#[utoipa::path(delete, path = "/api/v2.0/users/{id}", tag = "user", operation_id = "deleteUser",
    responses((status = 200, description = "Deleted")))]
async fn delete_one(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .iam
        .delete_user(&ctx, super::path_id(&id, "user id")?)
        .await?;
    Ok(StatusCode::OK)
}

/// Profile fields.
#[derive(Deserialize, ToSchema)]
struct ProfileReq {
    email: Option<String>,
    #[serde(default)]
    realname: String,
    #[serde(default)]
    comment: String,
}

/// Updates a profile (administrators, or the user themselves).
#[utoipa::path(put, path = "/api/v2.0/users/{id}", tag = "user", operation_id = "updateUserProfile",
    request_body = ProfileReq, responses((status = 200, description = "Updated")))]
async fn update(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<ProfileReq>,
) -> Result<StatusCode, ApiError> {
    state
        .iam
        .update_profile(
            &ctx,
            super::path_id(&id, "user id")?,
            req.email.as_deref(),
            &req.realname,
            &req.comment,
        )
        .await?;
    Ok(StatusCode::OK)
}

/// A password change; users give their old password.
#[derive(Deserialize, ToSchema)]
struct PasswordReq {
    old_password: Option<String>,
    new_password: String,
}

/// Changes a password.
#[utoipa::path(put, path = "/api/v2.0/users/{id}/password", tag = "user", operation_id = "updateUserPassword",
    request_body = PasswordReq, responses((status = 200, description = "Changed")))]
async fn password(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<PasswordReq>,
) -> Result<StatusCode, ApiError> {
    state
        .iam
        .change_password(
            &ctx,
            super::path_id(&id, "user id")?,
            req.old_password.as_deref(),
            &req.new_password,
        )
        .await?;
    Ok(StatusCode::OK)
}

/// The administrator flag.
#[derive(Deserialize, ToSchema)]
struct SysadminReq {
    sysadmin_flag: bool,
}

/// Grants or revokes system administration (administrators; not themselves).
#[utoipa::path(put, path = "/api/v2.0/users/{id}/sysadmin", tag = "user", operation_id = "setUserSysAdmin",
    request_body = SysadminReq, responses((status = 200, description = "Changed")))]
async fn sysadmin(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<SysadminReq>,
) -> Result<StatusCode, ApiError> {
    state
        .iam
        .set_sysadmin(&ctx, super::path_id(&id, "user id")?, req.sysadmin_flag)
        .await?;
    Ok(StatusCode::OK)
}

/// A new CLI secret (empty: a random one).
#[derive(Deserialize, ToSchema)]
struct CliSecretReq {
    #[serde(default)]
    secret: String,
}

/// Sets a user's CLI secret (the user or an administrator; OIDC mode only).
#[utoipa::path(put, path = "/api/v2.0/users/{id}/cli_secret", tag = "user",
    operation_id = "setCliSecret", request_body = CliSecretReq,
    responses((status = 200, description = "Set; the old secret no longer works"),
        (status = 400, description = "The secret does not meet the rule", body = Errors),
        (status = 412, description = "Not in OIDC mode", body = Errors)))]
async fn cli_secret(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<CliSecretReq>,
) -> Result<StatusCode, ApiError> {
    let id = super::path_id(&id, "user id")?;
    state.iam.set_cli_secret(&ctx, id, &req.secret).await?;
    Ok(StatusCode::OK)
}
