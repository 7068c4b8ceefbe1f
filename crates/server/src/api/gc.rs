//! `/api/v2.0/system/gc`: garbage collection runs, their logs, stop, schedule.

use super::executions::{self, Schedule};
use super::model::{Errors, ExecHistory};
use super::ApiError;
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::gc::{GcParams, VENDOR};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(get_one, stop))
        .routes(routes!(log))
        .routes(routes!(get_schedule, create_schedule, update_schedule))
}

/// Garbage collection runs, newest first.
#[utoipa::path(get, path = "/api/v2.0/system/gc", tag = "gc", operation_id = "getGCHistory",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of runs", body = [ExecHistory])))]
async fn history(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let runs = state.gc.runs();
    executions::history(&state, &headers, q.as_deref(), runs, "/api/v2.0/system/gc").await
}

/// One run.
#[utoipa::path(get, path = "/api/v2.0/system/gc/{gc_id}", tag = "gc", operation_id = "getGC",
    responses((status = 200, description = "The run", body = ExecHistory)))]
async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ExecHistory>, ApiError> {
    executions::get_one(&state, &headers, &id, state.gc.runs()).await
}

/// Stops a run; what it deleted stays deleted. A run that has ended stays
/// as it is (and the answer is 200, as Harbor's).
#[utoipa::path(put, path = "/api/v2.0/system/gc/{gc_id}", tag = "gc", operation_id = "stopGC",
    responses((status = 200, description = "Stopping, or already ended")))]
async fn stop(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    executions::stop(&state, &headers, &id, state.gc.runs()).await
}

/// A run's log.
#[utoipa::path(get, path = "/api/v2.0/system/gc/{gc_id}/log", tag = "gc", operation_id = "getGCLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn log(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    executions::log(&state, &headers, &id, state.gc.runs()).await
}

/// When collections run (type `None` when they are not scheduled).
#[utoipa::path(get, path = "/api/v2.0/system/gc/schedule", tag = "gc",
    operation_id = "getGCSchedule",
    responses((status = 200, description = "The schedule", body = ExecHistory)))]
async fn get_schedule(
    S(state): S<State>,
    headers: HeaderMap,
) -> Result<Json<ExecHistory>, ApiError> {
    executions::schedule(&state, &headers, state.gc.runs(), VENDOR).await
}

/// `Manual` starts a collection now (parameters `delete_untagged`,
/// `dry_run`, `workers` 1–10, `time_window` hours); `Hourly`, `Daily`,
/// `Weekly` and `Custom` (6-field cron) schedule them.
#[utoipa::path(post, path = "/api/v2.0/system/gc/schedule", tag = "gc",
    operation_id = "createGCSchedule", request_body = Schedule,
    responses((status = 201, description = "Started or scheduled; Location names it"),
        (status = 409, description = "A collection is already running", body = Errors)))]
async fn create_schedule(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let base = "/api/v2.0/system/gc";
    executions::create::<GcParams>(&state, &headers, &body, state.gc.runs(), base).await
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
    executions::update::<GcParams>(&state, &headers, &body, state.gc.runs()).await
}
