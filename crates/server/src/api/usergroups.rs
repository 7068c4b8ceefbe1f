//! User groups: `/usergroups` (administrators) and `/usergroups/search`
//! (anyone signed in).

use super::model::Errors;
use super::{created, path_id, query_value, ApiError, ApiJson, Ctx, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use berth_core::iam::groups::UserGroup as Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(search))
        .routes(routes!(get, update, delete))
}

/// A user group (Harbor's `UserGroup`).
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct UserGroup {
    /// The group's id (ignored in requests).
    id: i64,
    group_name: String,
    /// 1 for an LDAP group.
    group_type: i64,
    /// The LDAP group's DN.
    ldap_group_dn: String,
}

impl From<&Row> for UserGroup {
    fn from(g: &Row) -> Self {
        UserGroup {
            id: g.id,
            group_name: g.group_name.clone(),
            group_type: g.group_type,
            ldap_group_dn: g.ldap_group_dn.clone(),
        }
    }
}

/// A group found by name (Harbor's `UserGroupSearchItem`).
#[derive(Serialize, ToSchema)]
struct UserGroupSearchItem {
    id: i64,
    group_name: String,
    group_type: i64,
}

/// User groups; in LDAP mode the LDAP ones (`ldap_group_dn` finds one).
#[utoipa::path(get, path = "/api/v2.0/usergroups", tag = "usergroup", operation_id = "listUserGroups",
    params(("ldap_group_dn" = Option<String>, Query, description = "An LDAP group's DN"),
        ("group_name" = Option<String>, Query, description = "Part of the group's name"),
        ("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of groups", body = [UserGroup]),
        (status = 403, description = "Not an administrator", body = Errors)))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let name = query_value(q.as_deref(), "group_name");
    let dn = query_value(q.as_deref(), "ldap_group_dn");
    let (groups, total) = (state.iam)
        .groups(
            &ctx,
            name.as_deref(),
            dn.as_deref(),
            page.offset(),
            page.size,
        )
        .await?;
    let items: Vec<UserGroup> = groups.iter().map(UserGroup::from).collect();
    Ok(page.respond(items, "/api/v2.0/usergroups", total))
}

/// Adds an LDAP group the directory has.
#[utoipa::path(post, path = "/api/v2.0/usergroups", tag = "usergroup", operation_id = "createUserGroup",
    request_body = UserGroup,
    responses((status = 201, description = "Added; Location names it"),
        (status = 400, description = "No name, another type, or a DN the directory does not have", body = Errors),
        (status = 409, description = "Already here", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(g): ApiJson<UserGroup>,
) -> Result<Response, ApiError> {
    let id = (state.iam)
        .create_group(&ctx, &g.group_name, g.group_type, &g.ldap_group_dn)
        .await?;
    Ok(created(format!("/api/v2.0/usergroups/{id}")))
}

/// Groups whose name contains `groupname`.
#[utoipa::path(get, path = "/api/v2.0/usergroups/search", tag = "usergroup",
    operation_id = "searchUserGroups",
    params(("groupname" = String, Query, description = "Part of the group's name"),
        ("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of groups", body = [UserGroupSearchItem]),
        (status = 400, description = "No name given", body = Errors)))]
async fn search(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let name = query_value(q.as_deref(), "groupname").unwrap_or_default();
    let (groups, total) = (state.iam)
        .search_groups(&ctx, &name, page.offset(), page.size)
        .await?;
    let items: Vec<UserGroupSearchItem> = (groups.into_iter())
        .map(|g| UserGroupSearchItem {
            id: g.id,
            group_name: g.group_name,
            group_type: g.group_type,
        })
        .collect();
    Ok(page.respond(items, "/api/v2.0/usergroups/search", total))
}

/// One group.
#[utoipa::path(get, path = "/api/v2.0/usergroups/{group_id}", tag = "usergroup",
    operation_id = "getUserGroup",
    responses((status = 200, description = "The group", body = UserGroup),
        (status = 404, description = "No such group", body = Errors)))]
async fn get(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<UserGroup>, ApiError> {
    let g = state.iam.group(&ctx, group_id(&id)?).await?;
    Ok(Json(UserGroup::from(&g)))
}

/// Renames a group.
#[utoipa::path(put, path = "/api/v2.0/usergroups/{group_id}", tag = "usergroup",
    operation_id = "updateUserGroup", request_body = UserGroup,
    responses((status = 200, description = "Renamed"),
        (status = 400, description = "No name", body = Errors),
        (status = 404, description = "No such group", body = Errors)))]
async fn update(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(g): ApiJson<UserGroup>,
) -> Result<StatusCode, ApiError> {
    (state.iam)
        .rename_group(&ctx, group_id(&id)?, &g.group_name)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a group and its project memberships.
#[utoipa::path(delete, path = "/api/v2.0/usergroups/{group_id}", tag = "usergroup",
    operation_id = "deleteUserGroup", responses((status = 200, description = "Deleted")))]
async fn delete(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state.iam.delete_group(&ctx, group_id(&id)?).await?;
    Ok(StatusCode::OK)
}

/// A group id from the path: a positive integer.
fn group_id(s: &str) -> Result<i64, ApiError> {
    match path_id(s, "group id")? {
        id if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request("the group id should be provided")),
    }
}
