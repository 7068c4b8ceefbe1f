//! `/api/v2.0/system/gc`: garbage collection runs, their logs, stop, schedule.

use super::jobservice::{job_id_of, text};
use super::model::{Errors, GCHistory, ScheduleObj};
use super::{context, created, json_body, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::gc::GcParams;
use berth_db::jobs::Execution;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(get_one, stop))
        .routes(routes!(log))
        .routes(routes!(get_schedule, create_schedule, update_schedule))
}

fn history_json(e: &Execution) -> GCHistory {
    let params = serde_json::from_str::<serde_json::Value>(&e.extra_attrs)
        .ok()
        .map(|v| v.get("parameters").cloned().unwrap_or(v))
        .map(|v| v.to_string())
        .unwrap_or_default();
    GCHistory {
        id: e.id,
        job_name: e.vendor_type.clone(),
        job_kind: e.trigger.clone(),
        job_parameters: params,
        schedule: None,
        job_status: e.status.clone(),
        deleted: false,
        creation_time: timestamp(e.start_time),
        update_time: timestamp(e.update_time),
    }
}

/// Garbage collection runs, newest first.
#[utoipa::path(get, path = "/api/v2.0/system/gc", tag = "gc", operation_id = "getGCHistory",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of runs", body = [GCHistory])))]
async fn history(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let page = Page::parse(q.as_deref())?;
    let (rows, total) = state.gc.history(&ctx, page.offset(), page.size).await?;
    let mut resp = Json(rows.iter().map(history_json).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, "/api/v2.0/system/gc", total);
    Ok(resp)
}

/// One run.
#[utoipa::path(get, path = "/api/v2.0/system/gc/{gc_id}", tag = "gc", operation_id = "getGC",
    responses((status = 200, description = "The run", body = GCHistory)))]
async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<GCHistory>, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(Json(history_json(
        &state.gc.get(&ctx, job_id_of(&id)?).await?,
    )))
}

/// Stops a run; what it deleted stays deleted.
#[utoipa::path(put, path = "/api/v2.0/system/gc/{gc_id}", tag = "gc", operation_id = "stopGC",
    responses((status = 200, description = "Stopping"),
        (status = 412, description = "The run has ended", body = Errors)))]
async fn stop(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state.gc.stop(&ctx, job_id_of(&id)?).await?;
    Ok(StatusCode::OK)
}

/// A run's log.
#[utoipa::path(get, path = "/api/v2.0/system/gc/{gc_id}/log", tag = "gc", operation_id = "getGCLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn log(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    Ok(text(state.gc.log(&ctx, job_id_of(&id)?).await?))
}

/// A run to start, or its schedule.
#[derive(Deserialize, ToSchema)]
struct Schedule {
    schedule: ScheduleObj,
    /// `delete_untagged`, `dry_run`, `workers` (1–10), `time_window` (hours).
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Option<serde_json::Value>,
}

fn params_of(req: &Schedule) -> Result<GcParams, ApiError> {
    match &req.parameters {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid parameters: {e}"))),
        None => Ok(GcParams::default()),
    }
}

/// When collections run (type `None` when they are not scheduled).
#[utoipa::path(get, path = "/api/v2.0/system/gc/schedule", tag = "gc",
    operation_id = "getGCSchedule",
    responses((status = 200, description = "The schedule", body = GCHistory)))]
async fn get_schedule(S(state): S<State>, headers: HeaderMap) -> Result<Json<GCHistory>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let s = state.gc.schedule(&ctx).await?;
    Ok(Json(match s {
        Some(s) => GCHistory {
            id: s.id,
            job_name: berth_core::gc::VENDOR.into(),
            job_kind: "SCHEDULE".into(),
            job_parameters: s.params.clone(),
            schedule: Some(ScheduleObj {
                kind: s.cron_type.clone(),
                cron: Some(s.cron.clone()),
                next_scheduled_time: Some(timestamp(s.next_run_at)),
            }),
            job_status: String::new(),
            deleted: false,
            creation_time: timestamp(s.update_time),
            update_time: timestamp(s.update_time),
        },
        None => GCHistory {
            id: 0,
            job_name: berth_core::gc::VENDOR.into(),
            job_kind: "SCHEDULE".into(),
            job_parameters: String::new(),
            schedule: Some(ScheduleObj {
                kind: "None".into(),
                cron: None,
                next_scheduled_time: None,
            }),
            job_status: String::new(),
            deleted: false,
            creation_time: timestamp(0),
            update_time: timestamp(0),
        },
    }))
}

/// `Manual` starts a collection now; `Hourly`, `Daily`, `Weekly` and
/// `Custom` (6-field cron) schedule them.
#[utoipa::path(post, path = "/api/v2.0/system/gc/schedule", tag = "gc",
    operation_id = "createGCSchedule", request_body = Schedule,
    responses((status = 201, description = "Started or scheduled; Location names it"),
        (status = 409, description = "A collection is already running", body = Errors)))]
async fn create_schedule(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: Schedule = json_body(&body)?;
    let params = params_of(&req)?;
    if req.schedule.kind == "Manual" {
        let id = state.gc.start(&ctx, &params, "MANUAL").await?;
        return Ok(created(format!("/api/v2.0/system/gc/{id}")));
    }
    state
        .gc
        .set_schedule(
            &ctx,
            &req.schedule.kind,
            req.schedule.cron.as_deref(),
            &params,
        )
        .await?;
    Ok(created("/api/v2.0/system/gc/schedule".into()))
}

/// Changes the schedule; type `None` removes it.
#[utoipa::path(put, path = "/api/v2.0/system/gc/schedule", tag = "gc",
    operation_id = "updateGCSchedule", request_body = Schedule,
    responses((status = 200, description = "Changed")))]
async fn update_schedule(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: Schedule = json_body(&body)?;
    let params = params_of(&req)?;
    if req.schedule.kind == "Manual" {
        return Err(ApiError::bad_request("use POST to run a collection now"));
    }
    state
        .gc
        .set_schedule(
            &ctx,
            &req.schedule.kind,
            req.schedule.cron.as_deref(),
            &params,
        )
        .await?;
    Ok(StatusCode::OK)
}
