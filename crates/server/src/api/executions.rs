//! What the runs of system jobs (garbage collection, audit log purge) share
//! on the API: history, one run, its log, stop, schedule.

use super::jobservice::text;
use super::model::{ExecHistory, ScheduleObj};
use super::{context, created, json_body, timestamp, ApiError, Page};
use crate::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::iam::context::SecurityContext;
use berth_core::iam::Door;
use berth_core::jobs::Execution;
use berth_core::jobs::{JobParams, Vendor};
use serde::Deserialize;
use utoipa::ToSchema;

/// A run to start now (`Manual`), or a schedule.
#[derive(Deserialize, ToSchema)]
pub struct Schedule {
    pub schedule: ScheduleObj,
    /// The job's parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<serde_json::Value>,
}

impl Schedule {
    /// The parameters as `P` (its defaults when absent).
    fn params<P: JobParams>(&self) -> Result<P, ApiError> {
        match &self.parameters {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid parameters: {e}"))),
            None => Ok(P::default()),
        }
    }

    /// Makes this the schedule of `runs`' jobs.
    async fn save<P: JobParams>(
        &self,
        ctx: &SecurityContext,
        runs: &Vendor,
        params: &P,
    ) -> Result<(), ApiError> {
        let kind = &self.schedule.kind;
        runs.set_schedule(ctx, kind, self.schedule.cron.as_deref(), params)
            .await?;
        Ok(())
    }
}

/// `POST …/schedule`: `Manual` starts a run now, other types schedule runs.
pub async fn create<P: JobParams>(
    state: &State,
    headers: &HeaderMap,
    body: &[u8],
    runs: &Vendor,
    base: &str,
) -> Result<Response, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    let req: Schedule = json_body(body)?;
    let params: P = req.params()?;
    if req.schedule.kind == "Manual" {
        let id = runs.start(&ctx, &params).await?;
        return Ok(created(format!("{base}/{id}")));
    }
    req.save(&ctx, runs, &params).await?;
    Ok(created(format!("{base}/schedule")))
}

/// `PUT …/schedule`: changes the schedule; `None` removes it.
pub async fn update<P: JobParams>(
    state: &State,
    headers: &HeaderMap,
    body: &[u8],
    runs: &Vendor,
) -> Result<StatusCode, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    let req: Schedule = json_body(body)?;
    if req.schedule.kind == "Manual" {
        return Err(ApiError::bad_request("use POST to run now"));
    }
    let params: P = req.params()?;
    req.save(&ctx, runs, &params).await?;
    Ok(StatusCode::OK)
}

/// Harbor's schedule type of a run's trigger: `MANUAL` → `Manual`,
/// `SCHEDULE` → `Schedule`.
fn trigger_type(trigger: &str) -> String {
    let lower = trigger.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn history_json(e: &Execution) -> ExecHistory {
    let params = serde_json::from_str::<serde_json::Value>(&e.extra_attrs)
        .ok()
        .and_then(|v| v.get("parameters").cloned())
        .map(|v| v.to_string())
        .unwrap_or_default();
    ExecHistory {
        id: e.id,
        job_name: e.vendor_type.clone(),
        job_kind: e.trigger.clone(),
        job_parameters: params,
        schedule: ScheduleObj {
            kind: trigger_type(&e.trigger),
            cron: None,
            next_scheduled_time: None,
        },
        job_status: e.status.clone(),
        deleted: false,
        creation_time: timestamp(e.start_time),
        update_time: timestamp(e.update_time),
    }
}

/// A page of runs, newest first.
pub async fn history(
    state: &State,
    headers: &HeaderMap,
    q: Option<&str>,
    runs: &Vendor,
    path: &str,
) -> Result<Response, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    let page = Page::parse(q)?;
    let (rows, total) = runs.history(&ctx, page.offset(), page.size).await?;
    Ok(page.respond(
        rows.iter().map(history_json).collect::<Vec<_>>(),
        path,
        total,
    ))
}

/// One run.
pub async fn get_one(
    state: &State,
    headers: &HeaderMap,
    id: &str,
    runs: &Vendor,
) -> Result<Json<ExecHistory>, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    Ok(Json(history_json(
        &runs.get(&ctx, super::path_id(id, "run id")?).await?,
    )))
}

/// Stops a run.
pub async fn stop(
    state: &State,
    headers: &HeaderMap,
    id: &str,
    runs: &Vendor,
) -> Result<StatusCode, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    runs.stop(&ctx, super::path_id(id, "run id")?).await?;
    Ok(StatusCode::OK)
}

/// A run's log, as text.
pub async fn log(
    state: &State,
    headers: &HeaderMap,
    id: &str,
    runs: &Vendor,
) -> Result<Response, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    Ok(text(runs.log(&ctx, super::path_id(id, "run id")?).await?))
}

/// The schedule (type `None` when runs are not scheduled).
pub async fn schedule(
    state: &State,
    headers: &HeaderMap,
    runs: &Vendor,
    vendor: &str,
) -> Result<Json<ExecHistory>, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    let s = runs.schedule(&ctx).await?;
    let (id, params, obj, time) = match s {
        Some(s) => (
            s.id,
            s.params.clone(),
            ScheduleObj {
                kind: s.cron_type.clone(),
                cron: Some(s.cron.clone()),
                next_scheduled_time: Some(timestamp(s.next_run_at)),
            },
            s.update_time,
        ),
        None => (
            0,
            String::new(),
            ScheduleObj {
                kind: "None".into(),
                cron: None,
                next_scheduled_time: None,
            },
            0,
        ),
    };
    Ok(Json(ExecHistory {
        id,
        job_name: vendor.into(),
        job_kind: "SCHEDULE".into(),
        job_parameters: params,
        schedule: obj,
        job_status: String::new(),
        deleted: false,
        creation_time: timestamp(time),
        update_time: timestamp(time),
    }))
}
