//! `/api/v2.0/projects/{p}/immutabletagrules`: a project's tag
//! immutability rules.

use super::model::Errors;
use super::projects::key;
use super::{created, path_id, ApiError, ApiJson, Ctx, Page};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use berth_core::project::immutable::ImmutableRule;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

/// Harbor's `ImmutableRule` (what the API reads and writes).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ImmutableRuleDoc {
    id: i64,
    priority: i64,
    disabled: bool,
    /// `immutable`.
    action: String,
    /// `immutable_template`.
    template: String,
    params: BTreeMap<String, serde_json::Value>,
    /// The first one counts: `doublestar`, `matches` or `excludes`, a pattern.
    tag_selectors: Vec<ImmutableSelector>,
    /// `repository`: the first one counts (`repoMatches` or `repoExcludes`).
    scope_selectors: BTreeMap<String, Vec<ImmutableSelector>>,
}

/// Harbor's `ImmutableSelector`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ImmutableSelector {
    kind: String,
    decoration: String,
    pattern: String,
    extras: String,
}

/// The project's rules, by id.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/immutabletagrules", tag = "immutable",
    operation_id = "ListImmuRules", params(super::ListParams),
    responses((status = 200, description = "A page of rules", body = [ImmutableRuleDoc])))]
async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let (rules, total) = (state.immutable)
        .list(&ctx, &key(&headers, &p), page.offset(), page.size)
        .await?;
    Ok(page.respond(
        rules,
        &format!("/api/v2.0/projects/{p}/immutabletagrules"),
        total,
    ))
}

/// Adds a rule.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/immutabletagrules", tag = "immutable",
    operation_id = "CreateImmuRule", request_body = ImmutableRuleDoc,
    responses((status = 201, description = "Added; Location names it"),
        (status = 409, description = "The project has this rule", body = Errors)))]
async fn create(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(rule): ApiJson<ImmutableRule>,
) -> Result<Response, ApiError> {
    let id = (state.immutable)
        .create(&ctx, &key(&headers, &p), &rule)
        .await?;
    Ok(created(format!(
        "/api/v2.0/projects/{p}/immutabletagrules/{id}"
    )))
}

/// Replaces a rule (its `id` must be the path's); `disabled` turns it off.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", operation_id = "UpdateImmuRule", request_body = ImmutableRuleDoc,
    responses((status = 200, description = "Replaced"),
        (status = 404, description = "No such rule in the project", body = Errors)))]
async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    ApiJson(rule): ApiJson<ImmutableRule>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, "immutable rule id")?;
    (state.immutable)
        .update(&ctx, &key(&headers, &p), id, &rule)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a rule.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", operation_id = "DeleteImmuRule",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such rule in the project", body = Errors)))]
async fn delete(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, "immutable rule id")?;
    (state.immutable)
        .delete(&ctx, &key(&headers, &p), id)
        .await?;
    Ok(StatusCode::OK)
}
