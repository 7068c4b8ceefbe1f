//! LDAP: `/ldap/ping`, `/ldap/users/search`, `/ldap/users/import` and
//! `/ldap/groups/search` (system administrators).

use super::model::Errors;
use super::{query_value, ApiError, ApiJson, Ctx};
use crate::State;
use axum::extract::{RawQuery, State as S};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::iam::ldap::LdapSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(search_users))
        .routes(routes!(import_users))
        .routes(routes!(search_groups))
}

/// LDAP settings to try (Harbor's `LdapConf`).
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct LdapConf {
    ldap_url: String,
    ldap_search_dn: String,
    ldap_search_password: String,
    ldap_base_dn: String,
    ldap_filter: String,
    ldap_uid: String,
    ldap_scope: i64,
    ldap_connection_timeout: i64,
    ldap_verify_cert: bool,
}

/// The outcome of a ping (Harbor's `LdapPingResult`).
#[derive(Serialize, ToSchema)]
pub struct LdapPingResult {
    success: bool,
    message: String,
}

/// Whether the LDAP server answers to the settings given (the stored ones
/// for an empty body; a search password left out is the stored one).
#[utoipa::path(post, path = "/api/v2.0/ldap/ping", tag = "Ldap", operation_id = "pingLdap",
    request_body = LdapConf,
    responses((status = 200, description = "Whether it answered", body = LdapPingResult),
        (status = 401, description = "Not logged in", body = Errors),
        (status = 403, description = "Not an administrator", body = Errors)))]
async fn ping(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Json<LdapPingResult>, ApiError> {
    let c: LdapConf = match body.is_empty() {
        true => LdapConf::default(),
        false => super::json_body(&body)?,
    };
    let given = LdapSettings {
        url: c.ldap_url,
        search_dn: c.ldap_search_dn,
        search_password: c.ldap_search_password,
        base_dn: c.ldap_base_dn,
        filter: c.ldap_filter,
        uid: c.ldap_uid,
        scope: c.ldap_scope,
        timeout_secs: c.ldap_connection_timeout,
        verify_cert: c.ldap_verify_cert,
        ..LdapSettings::default()
    };
    let outcome = state.iam.ldap_ping(&ctx, given).await?;
    Ok(Json(LdapPingResult {
        success: outcome.is_ok(),
        message: outcome
            .err()
            .map(|e| format!("error: {e}"))
            .unwrap_or_default(),
    }))
}

/// A directory user (Harbor's `LdapUser`).
#[derive(Serialize, ToSchema)]
pub struct LdapUser {
    username: String,
    realname: String,
    email: String,
}

/// Directory users whose uid attribute is `username` (every one without it).
#[utoipa::path(get, path = "/api/v2.0/ldap/users/search", tag = "Ldap", operation_id = "searchLdapUser",
    params(("username" = Option<String>, Query, description = "The uid to look for")),
    responses((status = 200, description = "The users found", body = [LdapUser]),
        (status = 401, description = "Not logged in", body = Errors),
        (status = 403, description = "Not an administrator", body = Errors)))]
async fn search_users(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<LdapUser>>, ApiError> {
    let name = query_value(q.as_deref(), "username").unwrap_or_default();
    let found = state.iam.ldap_users(&ctx, &name).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|u| LdapUser {
                username: u.username,
                realname: u.realname,
                email: u.email,
            })
            .collect(),
    ))
}

/// The uids to import (Harbor's `LdapImportUsers`).
#[derive(Deserialize, ToSchema)]
pub struct LdapImportUsers {
    ldap_uid_list: Vec<String>,
}

/// A uid that was not imported, and why (Harbor's `LdapFailedImportUser`).
#[derive(Serialize, ToSchema)]
pub struct LdapFailedImportUser {
    uid: String,
    error: String,
}

/// On-boards directory users by uid; 404 with the ones that failed.
#[utoipa::path(post, path = "/api/v2.0/ldap/users/import", tag = "Ldap", operation_id = "importLdapUser",
    request_body = LdapImportUsers,
    responses((status = 200, description = "Every one imported"),
        (status = 404, description = "Some were not", body = [LdapFailedImportUser]),
        (status = 401, description = "Not logged in", body = Errors),
        (status = 403, description = "Not an administrator", body = Errors)))]
async fn import_users(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<LdapImportUsers>,
) -> Result<Response, ApiError> {
    let failed = state.iam.ldap_import(&ctx, &body.ldap_uid_list).await?;
    if failed.is_empty() {
        return Ok(StatusCode::OK.into_response());
    }
    let failed: Vec<LdapFailedImportUser> = failed
        .into_iter()
        .map(|(uid, error)| LdapFailedImportUser { uid, error })
        .collect();
    Ok((StatusCode::NOT_FOUND, Json(failed)).into_response())
}

/// A directory group (Harbor's `UserGroup`, as the LDAP search fills it).
#[derive(Serialize, ToSchema)]
pub struct LdapUserGroup {
    group_name: String,
    ldap_group_dn: String,
}

/// Directory groups by name (every one without it) or by DN.
#[utoipa::path(get, path = "/api/v2.0/ldap/groups/search", tag = "Ldap", operation_id = "searchLdapGroup",
    params(("groupname" = Option<String>, Query, description = "The group's name"),
        ("groupdn" = Option<String>, Query, description = "The group's DN")),
    responses((status = 200, description = "The groups found", body = [LdapUserGroup]),
        (status = 404, description = "None", body = Errors),
        (status = 401, description = "Not logged in", body = Errors),
        (status = 403, description = "Not an administrator", body = Errors)))]
async fn search_groups(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<LdapUserGroup>>, ApiError> {
    let name = query_value(q.as_deref(), "groupname").unwrap_or_default();
    let dn = query_value(q.as_deref(), "groupdn").filter(|d| !d.is_empty());
    let found = state.iam.ldap_groups(&ctx, &name, dn.as_deref()).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|g| LdapUserGroup {
                group_name: g.name,
                ldap_group_dn: g.dn,
            })
            .collect(),
    ))
}
