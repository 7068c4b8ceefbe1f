//! `/api/v2.0/jobservice`: worker pools, workers, queues and jobs.

use super::model::{JobQueue, ScheduleTask, SchedulerStatus, Worker, WorkerPool};
use super::ApiJson;
use super::{timestamp, ApiError, Ctx, Page};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(pools))
        .routes(routes!(workers))
        .routes(routes!(queues))
        .routes(routes!(act_on_queue))
        .routes(routes!(act_on_job))
        .routes(routes!(job_log))
        .routes(routes!(schedules))
        .routes(routes!(schedule_paused))
}

/// Every schedule.
#[utoipa::path(get, path = "/api/v2.0/schedules", tag = "schedule", operation_id = "listSchedules",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "The schedules", body = [ScheduleTask])))]
async fn schedules(S(state): S<State>, Ctx(ctx): Ctx, page: Page) -> Result<Response, ApiError> {
    Ok(page.of(
        state
            .jobs
            .schedules(&ctx)
            .await?
            .into_iter()
            .map(|s| ScheduleTask {
                id: s.id,
                vendor_type: s.vendor_type,
                vendor_id: s.vendor_id,
                cron: s.cron,
                update_time: timestamp(s.update_time),
            })
            .collect(),
        "/api/v2.0/schedules",
    ))
}

/// Whether a job type's queue, and so its scheduled runs, is paused.
#[utoipa::path(get, path = "/api/v2.0/schedules/{job_type}/paused", tag = "schedule",
    operation_id = "getSchedulePaused",
    responses((status = 200, description = "Paused or not", body = SchedulerStatus)))]
async fn schedule_paused(
    S(state): S<State>,
    Path(job_type): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<SchedulerStatus>, ApiError> {
    let paused = state.jobs.paused(&ctx, &job_type).await?;
    Ok(Json(SchedulerStatus { paused }))
}

/// What to do with a job or queue.
#[derive(Deserialize, ToSchema)]
struct ActionRequest {
    /// `stop`, or for a queue also `pause` and `resume`.
    action: String,
}

/// The worker pools: one per running Berth process.
#[utoipa::path(get, path = "/api/v2.0/jobservice/pools", tag = "jobservice",
    operation_id = "getWorkerPools",
    responses((status = 200, description = "Live pools", body = [WorkerPool])))]
async fn pools(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Vec<WorkerPool>>, ApiError> {
    Ok(Json(
        state
            .jobs
            .pools(&ctx)
            .await?
            .into_iter()
            .map(|p| WorkerPool {
                pid: p.pid,
                worker_pool_id: p.id,
                start_at: timestamp(p.start_at),
                heartbeat_at: timestamp(p.heartbeat_at),
                concurrency: p.concurrency,
                host: p.host,
            })
            .collect(),
    ))
}

/// A pool's workers (`all`: every pool's) and what each runs.
#[utoipa::path(get, path = "/api/v2.0/jobservice/pools/{pool_id}/workers", tag = "jobservice",
    operation_id = "getWorkers",
    responses((status = 200, description = "Every worker of the pool", body = [Worker])))]
async fn workers(
    S(state): S<State>,
    Path(pool_id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Vec<Worker>>, ApiError> {
    let mut out = Vec::new();
    for (pool, running) in state.jobs.workers(&ctx, &pool_id).await? {
        for n in 0..pool.concurrency {
            let id = format!("{}:{n}", pool.id);
            let task = running.iter().find(|t| t.worker.as_deref() == Some(&id));
            out.push(Worker {
                id,
                pool_id: pool.id.clone(),
                job_name: task.map(|t| t.job_type.clone()).unwrap_or_default(),
                job_id: task.map(|t| t.id.to_string()).unwrap_or_default(),
                start_at: task.and_then(|t| t.start_time).map(timestamp),
                check_in: task.map(|t| t.status_message.clone()).unwrap_or_default(),
                checkin_at: task.map(|t| timestamp(t.update_time)),
            });
        }
    }
    Ok(Json(out))
}

/// Pending jobs per job type.
#[utoipa::path(get, path = "/api/v2.0/jobservice/queues", tag = "jobservice",
    operation_id = "listJobQueues",
    responses((status = 200, description = "The queues", body = [JobQueue])))]
async fn queues(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Vec<JobQueue>>, ApiError> {
    Ok(Json(
        state
            .jobs
            .queues(&ctx)
            .await?
            .into_iter()
            .map(|q| JobQueue {
                job_type: q.job_type,
                count: q.count,
                latency: q.latency / 1000,
                paused: q.paused,
            })
            .collect(),
    ))
}

/// Stops, pauses or resumes a job type's queue (`all` for every type).
#[utoipa::path(put, path = "/api/v2.0/jobservice/queues/{job_type}", tag = "jobservice",
    operation_id = "actionPendingJobs", request_body = ActionRequest,
    responses((status = 200, description = "Done")))]
async fn act_on_queue(
    S(state): S<State>,
    Path(job_type): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .jobs
        .act_on_queue(&ctx, &job_type, &req.action)
        .await?;
    Ok(StatusCode::OK)
}

/// Stops a job.
#[utoipa::path(put, path = "/api/v2.0/jobservice/jobs/{job_id}", tag = "jobservice",
    operation_id = "stopRunningJob", request_body = ActionRequest,
    responses((status = 200, description = "Stopping"),
        (status = 412, description = "The job has ended", body = super::model::Errors)))]
async fn act_on_job(
    S(state): S<State>,
    Path(job_id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<StatusCode, ApiError> {
    if req.action != "stop" {
        return Err(ApiError::bad_request("the only action on a job is stop"));
    }
    state
        .jobs
        .stop(&ctx, super::path_id(&job_id, "job id")?)
        .await?;
    Ok(StatusCode::OK)
}

/// A job's log.
#[utoipa::path(get, path = "/api/v2.0/jobservice/jobs/{job_id}/log", tag = "jobservice",
    operation_id = "actionGetJobLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn job_log(
    S(state): S<State>,
    Path(job_id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let log = state
        .jobs
        .log(&ctx, super::path_id(&job_id, "job id")?)
        .await?;
    Ok(text(log))
}

/// A plain-text answer (job logs).
pub(super) fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
