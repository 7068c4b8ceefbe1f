//! Tag retention: `/retentions` (a project's policy, its runs, their
//! repository tasks and logs) and `/retentions/metadatas`.

use super::model::Errors;
use super::{created, path_id, timestamp, ApiError, ApiJson, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::retention::{ExecutionView, RetentionPolicy, TaskView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(metadatas))
        .routes(routes!(create))
        .routes(routes!(get, update, delete))
        .routes(routes!(run, executions))
        .routes(routes!(operate))
        .routes(routes!(tasks))
        .routes(routes!(task_log))
}

/// The templates and selectors a rule may use.
#[utoipa::path(get, path = "/api/v2.0/retentions/metadatas", tag = "Retention",
    operation_id = "getRentenitionMetadata",
    responses((status = 200, description = "Templates and selectors", body = Object)))]
async fn metadatas() -> Json<Value> {
    Json(berth_core::retention::metadata())
}

fn policy_body(body: Value) -> Result<RetentionPolicy, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid policy: {e}")))
}

/// Makes a project's policy (`scope`: `{"level":"project","ref":<id>}`).
#[utoipa::path(post, path = "/api/v2.0/retentions", tag = "Retention",
    operation_id = "createRetention", request_body = Object,
    responses((status = 201, description = "Made; Location names it"),
        (status = 400, description = "An invalid policy, or the project has one", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = state.retention.create(&ctx, &policy_body(body)?).await?;
    Ok(created(format!("/api/v2.0/retentions/{id}")))
}

/// One policy.
#[utoipa::path(get, path = "/api/v2.0/retentions/{id}", tag = "Retention",
    operation_id = "getRetention",
    responses((status = 200, description = "The policy", body = Object),
        (status = 404, description = "No such policy", body = Errors)))]
async fn get(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Json<RetentionPolicy>, ApiError> {
    let id = path_id(&id, "retention id")?;
    Ok(Json(state.retention.get(&ctx, id).await?))
}

/// Replaces a policy's rules and trigger.
#[utoipa::path(put, path = "/api/v2.0/retentions/{id}", tag = "Retention",
    operation_id = "updateRetention", request_body = Object,
    responses((status = 200, description = "Saved"),
        (status = 400, description = "An invalid policy", body = Errors)))]
async fn update(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(), ApiError> {
    let id = path_id(&id, "retention id")?;
    state
        .retention
        .update(&ctx, id, &policy_body(body)?)
        .await?;
    Ok(())
}

/// Deletes a policy.
#[utoipa::path(delete, path = "/api/v2.0/retentions/{id}", tag = "Retention",
    operation_id = "deleteRetention",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such policy", body = Errors)))]
async fn delete(S(state): S<State>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<(), ApiError> {
    let id = path_id(&id, "retention id")?;
    state.retention.delete(&ctx, id).await?;
    Ok(())
}

/// What starts a run.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
struct RunReq {
    /// Delete nothing; log what would go.
    dry_run: bool,
}

/// Starts a run.
#[utoipa::path(post, path = "/api/v2.0/retentions/{id}/executions", tag = "Retention",
    operation_id = "triggerRetentionExecution", request_body = RunReq,
    responses((status = 201, description = "Started; Location names the run"),
        (status = 404, description = "No such policy", body = Errors)))]
async fn run(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RunReq>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "retention id")?;
    let eid = state.retention.run(&ctx, id, req.dry_run).await?;
    Ok(created(format!(
        "/api/v2.0/retentions/{id}/executions/{eid}"
    )))
}

/// A run (Harbor's `RetentionExecution`).
#[derive(Serialize, ToSchema)]
struct RetentionExecution {
    id: i64,
    policy_id: i64,
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    status: String,
    trigger: String,
    dry_run: bool,
}

fn execution_json(v: &ExecutionView) -> RetentionExecution {
    let e = &v.execution;
    RetentionExecution {
        id: e.id,
        policy_id: e.vendor_id,
        start_time: timestamp(e.start_time),
        end_time: e.end_time.map(timestamp),
        status: e.status.clone(),
        trigger: e.trigger.clone(),
        dry_run: v.dry_run,
    }
}

/// A policy's runs, newest first.
#[utoipa::path(get, path = "/api/v2.0/retentions/{id}/executions", tag = "Retention",
    operation_id = "listRetentionExecutions", params(ListParams),
    responses((status = 200, description = "A page of runs", body = [RetentionExecution])))]
async fn executions(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    page: Page,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "retention id")?;
    let (runs, total) = (state.retention)
        .executions(&ctx, id, (page.offset(), page.size))
        .await?;
    let items: Vec<RetentionExecution> = runs.iter().map(execution_json).collect();
    Ok(page.respond(
        items,
        &format!("/api/v2.0/retentions/{id}/executions"),
        total,
    ))
}

/// What to do with a run: `stop`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
struct OperateReq {
    action: String,
}

/// Stops a run.
#[utoipa::path(patch, path = "/api/v2.0/retentions/{id}/executions/{eid}", tag = "Retention",
    operation_id = "operateRetentionExecution", request_body = OperateReq,
    responses((status = 200, description = "Stopping"),
        (status = 400, description = "An action other than stop", body = Errors)))]
async fn operate(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path((id, eid)): Path<(String, String)>,
    ApiJson(req): ApiJson<OperateReq>,
) -> Result<(), ApiError> {
    let ids = (
        path_id(&id, "retention id")?,
        path_id(&eid, "execution id")?,
    );
    state.retention.operate(&ctx, ids, &req.action).await?;
    Ok(())
}

/// A repository's task of a run (Harbor's `RetentionExecutionTask`).
#[derive(Serialize, ToSchema)]
struct RetentionExecutionTask {
    id: i64,
    execution_id: i64,
    repository: String,
    job_id: String,
    status: String,
    status_code: i64,
    status_revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    total: i64,
    retained: i64,
}

fn task_json(t: &TaskView) -> RetentionExecutionTask {
    // Harbor's job status codes: every final state shares 3.
    let status_code = match t.task.status.as_str() {
        "Pending" => 0,
        "Running" => 2,
        _ => 3,
    };
    RetentionExecutionTask {
        id: t.task.id,
        execution_id: t.task.execution_id,
        repository: t.repository.clone(),
        job_id: t.task.id.to_string(),
        status: t.task.status.clone(),
        status_code,
        status_revision: t.task.update_time,
        start_time: t.task.start_time.map(timestamp),
        end_time: t.task.end_time.map(timestamp),
        total: t.total,
        retained: t.retained,
    }
}

/// A run's repository tasks.
#[utoipa::path(get, path = "/api/v2.0/retentions/{id}/executions/{eid}/tasks", tag = "Retention",
    operation_id = "listRetentionTasks", params(ListParams),
    responses((status = 200, description = "A page of tasks", body = [RetentionExecutionTask])))]
async fn tasks(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path((id, eid)): Path<(String, String)>,
    page: Page,
) -> Result<Response, ApiError> {
    let ids = (
        path_id(&id, "retention id")?,
        path_id(&eid, "execution id")?,
    );
    let (items, total) = (state.retention)
        .tasks(&ctx, ids, (page.offset(), page.size))
        .await?;
    let items: Vec<RetentionExecutionTask> = items.iter().map(task_json).collect();
    let path = format!("/api/v2.0/retentions/{}/executions/{}/tasks", ids.0, ids.1);
    Ok(page.respond(items, &path, total))
}

/// A repository task's log: what it kept and deleted, and why.
#[utoipa::path(get, path = "/api/v2.0/retentions/{id}/executions/{eid}/tasks/{tid}",
    tag = "Retention", operation_id = "getRetentionTaskLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain"),
        (status = 404, description = "No such run or task", body = Errors)))]
async fn task_log(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path((id, eid, tid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let ids = (
        path_id(&id, "retention id")?,
        path_id(&eid, "execution id")?,
    );
    let log = (state.retention)
        .task_log(&ctx, ids, path_id(&tid, "task id")?)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}
