//! Storage quotas: `/quotas` (system administrators), and Harbor's
//! `/api/internal/syncquota`, which recounts every project's usage.

use super::model::{Errors, Quota, QuotaRef};
use super::{filter, path_id, query_value, timestamp, ApiError, ApiJson, Ctx, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use berth_core::quota::{QuotaRow, SyncParams};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, update))
}

/// Harbor's internal routes (outside its published API).
pub fn internal() -> Router<State> {
    Router::new().route("/api/internal/syncquota", post(sync))
}

fn quota_json(q: &QuotaRow) -> Quota {
    let storage = |n: i64| BTreeMap::from([("storage".to_string(), n)]);
    Quota {
        id: q.id,
        reference: QuotaRef {
            id: q.project_id,
            name: q.project_name.clone(),
            owner_name: q.owner_name.clone(),
        },
        hard: storage(q.hard),
        used: storage(q.used),
        creation_time: timestamp(q.creation_time),
        update_time: timestamp(q.update_time),
    }
}

/// Quotas, newest first: `reference` (`project`) and `reference_id` (a
/// project's id) filter; `sort` on `creation_time`, `update_time`,
/// `hard.storage`, `used.storage` (`-` for descending).
#[utoipa::path(get, path = "/api/v2.0/quotas", tag = "quota", operation_id = "listQuotas",
    params(super::ListParams,
        ("reference" = Option<String>, Query, description = "project"),
        ("reference_id" = Option<String>, Query, description = "A project's id")),
    responses((status = 200, description = "A page of quotas", body = [Quota]),
        (status = 403, description = "Not a system administrator", body = Errors)))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let reference = query_value(q, "reference");
    let reference_id = query_value(q, "reference_id");
    let (quotas, total) = (state.quotas)
        .list(
            &ctx,
            (reference.as_deref(), reference_id.as_deref()),
            &filter(q),
            (page.offset(), page.size),
        )
        .await?;
    let items: Vec<Quota> = quotas.iter().map(quota_json).collect();
    Ok(page.respond(items, "/api/v2.0/quotas", total))
}

/// One quota.
#[utoipa::path(get, path = "/api/v2.0/quotas/{id}", tag = "quota", operation_id = "getQuota",
    responses((status = 200, description = "The quota", body = Quota),
        (status = 404, description = "No such quota", body = Errors)))]
async fn get(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Quota>, ApiError> {
    let id = path_id(&id, "quota id")?;
    Ok(Json(quota_json(&state.quotas.get(&ctx, id).await?)))
}

/// New hard limits.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
struct QuotaUpdateReq {
    /// `{"storage": bytes}`, -1 for unlimited.
    hard: BTreeMap<String, i64>,
}

/// Sets a quota's hard limits.
#[utoipa::path(put, path = "/api/v2.0/quotas/{id}", tag = "quota", operation_id = "updateQuota",
    request_body = QuotaUpdateReq,
    responses((status = 200, description = "Set"),
        (status = 400, description = "No or invalid limits", body = Errors),
        (status = 404, description = "No such quota", body = Errors)))]
async fn update(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<QuotaUpdateReq>,
) -> Result<(), ApiError> {
    let id = path_id(&id, "quota id")?;
    state.quotas.update(&ctx, id, &req.hard).await?;
    Ok(())
}

/// Starts a recount of every project's usage (a `QUOTA_SYNC` job).
async fn sync(S(state): S<State>, Ctx(ctx): Ctx) -> Result<(), ApiError> {
    if !state.configurations.snapshot().quota_per_project_enable {
        return Err(
            berth_core::CoreError::Forbidden("quota per project is deactivated".into()).into(),
        );
    }
    state
        .quotas
        .syncs()
        .start(&ctx, &SyncParams::default())
        .await?;
    Ok(())
}
