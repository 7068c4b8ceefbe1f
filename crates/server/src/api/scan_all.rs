//! Scan all: `/system/scanAll/schedule`, `/system/scanAll/stop` and the
//! latest run's progress at `/scans/all/metrics` and
//! `/scans/schedule/metrics`.

use super::executions::{self, Schedule};
use super::model::{Errors, ScheduleObj};
use super::{timestamp, ApiError, Ctx};
use crate::State;
use axum::extract::State as S;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::scan::ScanAllParams;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(get_schedule, create_schedule, update_schedule))
        .routes(routes!(stop))
        .routes(routes!(all_metrics))
        .routes(routes!(schedule_metrics))
}

const BASE: &str = "/api/v2.0/system/scanAll";

/// When scan all runs (Harbor's `Schedule`).
#[derive(Serialize, ToSchema)]
pub struct ScanAllSchedule {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    update_time: Option<String>,
    schedule: ScheduleObj,
}

/// How far the latest scan all went (Harbor's `Stats`).
#[derive(Serialize, ToSchema)]
pub struct Stats {
    total: i64,
    completed: i64,
    /// Reports per state (`Success`, `Error`, `Running` …).
    metrics: BTreeMap<String, i64>,
    ongoing: bool,
    /// `Manual` or `Schedule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
}

/// When scan all runs (type `None` when it is not scheduled).
#[utoipa::path(get, path = "/api/v2.0/system/scanAll/schedule", tag = "scanAll",
    operation_id = "getScanAllSchedule",
    responses((status = 200, description = "The schedule", body = ScanAllSchedule)))]
async fn get_schedule(
    S(state): S<State>,
    Ctx(ctx): Ctx,
) -> Result<Json<ScanAllSchedule>, ApiError> {
    let s = state.scans.all_runs().schedule(&ctx).await?;
    Ok(Json(match s {
        Some(s) => ScanAllSchedule {
            id: Some(s.id),
            update_time: Some(timestamp(s.update_time)),
            schedule: ScheduleObj {
                kind: s.cron_type,
                cron: Some(s.cron),
                next_scheduled_time: Some(timestamp(s.next_run_at)),
            },
        },
        None => ScanAllSchedule {
            id: None,
            update_time: None,
            schedule: ScheduleObj {
                kind: "None".into(),
                cron: None,
                next_scheduled_time: None,
            },
        },
    }))
}

/// `Manual` scans every image now (409 while a run has not ended);
/// `Hourly`, `Daily`, `Weekly` and `Custom` schedule it.
#[utoipa::path(post, path = "/api/v2.0/system/scanAll/schedule", tag = "scanAll",
    operation_id = "createScanAllSchedule", request_body = Schedule,
    responses((status = 201, description = "Started or scheduled"),
        (status = 409, description = "A scan all has not ended", body = Errors)))]
async fn create_schedule(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let runs = state.scans.all_runs();
    executions::create::<ScanAllParams>(&state, &headers, &body, runs, BASE).await
}

/// Changes the schedule; type `None` removes it.
#[utoipa::path(put, path = "/api/v2.0/system/scanAll/schedule", tag = "scanAll",
    operation_id = "updateScanAllSchedule", request_body = Schedule,
    responses((status = 200, description = "Changed")))]
async fn update_schedule(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let runs = state.scans.all_runs();
    executions::update::<ScanAllParams>(&state, &headers, &body, runs).await
}

/// Stops the latest scan all (the images it scanned keep their reports).
#[utoipa::path(post, path = "/api/v2.0/system/scanAll/stop", tag = "scanAll",
    operation_id = "stopScanAll",
    responses((status = 202, description = "Stopping"),
        (status = 400, description = "No scan all ran", body = Errors)))]
async fn stop(S(state): S<State>, Ctx(ctx): Ctx) -> Result<StatusCode, ApiError> {
    state.scans.stop_all(&ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

fn stats(s: berth_core::scan::ScanAllStats) -> Stats {
    Stats {
        total: s.total,
        completed: s.completed,
        metrics: s.metrics,
        ongoing: s.ongoing,
        trigger: s.trigger,
    }
}

/// How far the latest scan all went.
#[utoipa::path(get, path = "/api/v2.0/scans/all/metrics", tag = "scanAll",
    operation_id = "getLatestScanAllMetrics",
    responses((status = 200, description = "Its progress", body = Stats)))]
async fn all_metrics(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats(state.scans.all_stats(&ctx, false).await?)))
}

/// How far the latest scheduled scan all went.
#[utoipa::path(get, path = "/api/v2.0/scans/schedule/metrics", tag = "scanAll",
    operation_id = "getLatestScheduledScanAllMetrics",
    responses((status = 200, description = "Its progress", body = Stats)))]
async fn schedule_metrics(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats(state.scans.all_stats(&ctx, true).await?)))
}
