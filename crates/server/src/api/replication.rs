//! Replication: rules (`/replication/policies`) and their runs
//! (`/replication/executions`, their tasks and the tasks' logs).

use super::model::Errors;
use super::registries::{registry_json, Registry};
use super::{created, json_body, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::query::Filter;
use berth_core::replication::flow::{ExecutionView, PolicyView, TaskView};
use berth_core::replication::policies::{filter_specs, FilterSpec, PolicySpec};
use berth_core::replication::registries::Endpoint;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(list_executions, start))
        .routes(routes!(get_execution, stop))
        .routes(routes!(list_tasks))
        .routes(routes!(task_log))
}

/// A registry named by id in a rule.
#[derive(Deserialize, ToSchema, Default)]
struct ReplicationRegistryRef {
    #[serde(default)]
    id: i64,
}

/// When a rule runs (Harbor's `ReplicationTrigger`).
#[derive(Serialize, Deserialize, ToSchema, Default)]
struct ReplicationTrigger {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_settings: Option<ReplicationTriggerSettings>,
}

/// A scheduled rule's cron.
#[derive(Serialize, Deserialize, ToSchema, Default)]
struct ReplicationTriggerSettings {
    #[serde(default)]
    cron: String,
}

/// A rule as clients write it (Harbor's `ReplicationPolicy`).
#[derive(Deserialize, ToSchema, Default)]
struct ReplicationPolicyReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    src_registry: Option<ReplicationRegistryRef>,
    dest_registry: Option<ReplicationRegistryRef>,
    #[serde(default)]
    dest_namespace: String,
    dest_namespace_replace_count: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    filters: Vec<FilterSpec>,
    trigger: Option<ReplicationTrigger>,
    #[serde(default)]
    deletion: bool,
    #[serde(default)]
    replicate_deletion: bool,
    #[serde(default)]
    #[serde(rename = "override")]
    override_: bool,
    #[serde(default)]
    enabled: bool,
    speed: Option<i64>,
    copy_by_chunk: Option<bool>,
    single_active_replication: Option<bool>,
}

impl ReplicationPolicyReq {
    fn spec(self) -> PolicySpec {
        let trigger = self.trigger.unwrap_or_default();
        PolicySpec {
            name: self.name,
            description: self.description,
            src_registry_id: self.src_registry.map_or(0, |r| r.id),
            dest_registry_id: self.dest_registry.map_or(0, |r| r.id),
            dest_namespace: self.dest_namespace,
            dest_namespace_replace_count: self.dest_namespace_replace_count,
            filters: self.filters,
            trigger_type: trigger.kind,
            cron: trigger.trigger_settings.map(|s| s.cron).unwrap_or_default(),
            replicate_deletion: self.deletion || self.replicate_deletion,
            override_: self.override_,
            enabled: self.enabled,
            speed: self.speed,
            copy_by_chunk: self.copy_by_chunk,
            single_active: self.single_active_replication,
        }
    }
}

/// A rule (Harbor's `ReplicationPolicy`).
#[derive(Serialize, ToSchema)]
struct ReplicationPolicy {
    id: i64,
    name: String,
    description: String,
    src_registry: Registry,
    dest_registry: Registry,
    dest_namespace: String,
    dest_namespace_replace_count: i64,
    #[schema(value_type = Vec<Object>)]
    filters: Vec<FilterSpec>,
    trigger: ReplicationTrigger,
    deletion: bool,
    replicate_deletion: bool,
    #[serde(rename = "override")]
    override_: bool,
    enabled: bool,
    speed: i64,
    copy_by_chunk: bool,
    single_active_replication: bool,
    #[schema(format = DateTime)]
    creation_time: String,
    #[schema(format = DateTime)]
    update_time: String,
}

/// This registry as a rule's side shows it (Harbor's "Local").
fn local(external_url: &str) -> Endpoint {
    Endpoint {
        name: "Local".into(),
        kind: "harbor".into(),
        url: external_url.into(),
        status: "healthy".into(),
        ..Endpoint::default()
    }
}

fn policy_json(v: &PolicyView, external_url: &str) -> ReplicationPolicy {
    let p = &v.policy;
    let side =
        |e: &Option<Endpoint>| registry_json(&e.clone().unwrap_or_else(|| local(external_url)));
    ReplicationPolicy {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        src_registry: side(&v.src),
        dest_registry: side(&v.dest),
        dest_namespace: p.dest_namespace.clone(),
        dest_namespace_replace_count: p.dest_namespace_replace_count,
        filters: filter_specs(p),
        trigger: ReplicationTrigger {
            kind: p.trigger_type.clone(),
            trigger_settings: Some(ReplicationTriggerSettings {
                cron: p.trigger_cron.clone(),
            }),
        },
        deletion: p.replicate_deletion,
        replicate_deletion: p.replicate_deletion,
        override_: p.override_,
        enabled: p.enabled,
        speed: p.speed,
        copy_by_chunk: p.copy_by_chunk,
        single_active_replication: p.single_active,
        creation_time: timestamp(p.creation_time),
        update_time: timestamp(p.update_time),
    }
}

/// Replication rules (administrators); `name` searches as well as `q`.
#[utoipa::path(get, path = "/api/v2.0/replication/policies", tag = "replication",
    operation_id = "listReplicationPolicies", params(ListParams),
    responses((status = 200, description = "A page of rules", body = [ReplicationPolicy])))]
async fn list_policies(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let mut query = super::filter(q.as_deref());
    if let Some(v) = query_value(q.as_deref(), "name").filter(|v| !v.is_empty()) {
        query = query.search("name", v);
    }
    let (items, total) = (state.replication)
        .list(&ctx, &query, page.offset(), page.size)
        .await?;
    let items: Vec<ReplicationPolicy> = (items.iter())
        .map(|v| policy_json(v, &state.external_url))
        .collect();
    Ok(page.respond(items, "/api/v2.0/replication/policies", total))
}

/// Creates a rule.
#[utoipa::path(post, path = "/api/v2.0/replication/policies", tag = "replication",
    operation_id = "createReplicationPolicy", request_body = ReplicationPolicyReq,
    responses((status = 201, description = "Created"),
        (status = 400, description = "Invalid", body = Errors),
        (status = 404, description = "A registry it names does not exist", body = Errors),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn create_policy(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let spec = json_body::<ReplicationPolicyReq>(&body)?.spec();
    let id = state.replication.create(&ctx, &spec).await?;
    Ok(created(format!("/api/v2.0/replication/policies/{id}")))
}

/// One rule.
#[utoipa::path(get, path = "/api/v2.0/replication/policies/{id}", tag = "replication",
    operation_id = "getReplicationPolicy",
    responses((status = 200, description = "The rule", body = ReplicationPolicy),
        (status = 404, description = "No such rule", body = Errors)))]
async fn get_policy(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<Json<ReplicationPolicy>, ApiError> {
    let v = state.replication.get(&ctx, id).await?;
    Ok(Json(policy_json(&v, &state.external_url)))
}

/// Changes a rule (all of it, as written).
#[utoipa::path(put, path = "/api/v2.0/replication/policies/{id}", tag = "replication",
    operation_id = "updateReplicationPolicy", request_body = ReplicationPolicyReq,
    responses((status = 200, description = "Changed"),
        (status = 400, description = "Invalid", body = Errors),
        (status = 404, description = "No such rule", body = Errors),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn update_policy(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let spec = json_body::<ReplicationPolicyReq>(&body)?.spec();
    state.replication.update(&ctx, id, &spec).await?;
    Ok(StatusCode::OK)
}

/// Deletes a rule and its runs; refused while a run has not ended.
#[utoipa::path(delete, path = "/api/v2.0/replication/policies/{id}", tag = "replication",
    operation_id = "deleteReplicationPolicy",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such rule", body = Errors),
        (status = 412, description = "A run has not ended", body = Errors)))]
async fn delete_policy(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.replication.delete(&ctx, id).await?;
    Ok(StatusCode::OK)
}

/// A run (Harbor's `ReplicationExecution`).
#[derive(Serialize, ToSchema)]
struct ReplicationExecution {
    id: i64,
    policy_id: i64,
    /// `InProgress`, `Succeed`, `Failed` or `Stopped`.
    status: &'static str,
    status_text: String,
    /// `manual`, `scheduled` or `event_based`.
    trigger: &'static str,
    #[schema(format = DateTime)]
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    end_time: Option<String>,
    total: i64,
    failed: i64,
    succeed: i64,
    in_progress: i64,
    stopped: i64,
}

/// A job state as Harbor's replication API names it.
fn status_name(s: &str) -> &'static str {
    match s {
        "Success" => "Succeed",
        "Error" => "Failed",
        "Stopped" => "Stopped",
        "Pending" => "Pending",
        _ => "InProgress",
    }
}

/// Harbor's trigger names, as the API writes them and as stored.
const TRIGGERS: [(&str, &str); 3] = [
    ("manual", "MANUAL"),
    ("scheduled", "SCHEDULE"),
    ("event_based", "EVENT"),
];

fn execution_json(v: &ExecutionView) -> ReplicationExecution {
    let e = &v.execution;
    ReplicationExecution {
        id: e.id,
        policy_id: e.vendor_id,
        status: match e.status.as_str() {
            "Pending" => "InProgress",
            s => status_name(s),
        },
        status_text: e.status_message.clone(),
        trigger: (TRIGGERS.iter())
            .find(|(_, stored)| *stored == e.trigger)
            .map_or("manual", |(name, _)| name),
        start_time: timestamp(e.start_time),
        end_time: e.end_time.map(timestamp),
        total: v.total,
        failed: v.failed,
        succeed: v.succeed,
        in_progress: v.in_progress,
        stopped: v.stopped,
    }
}

/// Which rule to run (Harbor's `StartReplicationExecution`).
#[derive(Deserialize, ToSchema)]
struct StartReplicationExecution {
    policy_id: Option<i64>,
}

/// Runs a rule now.
#[utoipa::path(post, path = "/api/v2.0/replication/executions", tag = "replication",
    operation_id = "startReplication", request_body = StartReplicationExecution,
    responses((status = 201, description = "Started"),
        (status = 400, description = "No rule named", body = Errors),
        (status = 404, description = "No such rule", body = Errors),
        (status = 412, description = "The rule is disabled", body = Errors)))]
async fn start(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req = json_body::<StartReplicationExecution>(&body)?;
    let id = req
        .policy_id
        .ok_or_else(|| ApiError::bad_request("policy_id is required"))?;
    let execution = state.replication.start(&ctx, id).await?;
    Ok(created(format!(
        "/api/v2.0/replication/executions/{execution}"
    )))
}

/// Runs, newest first; by rule, state (`InProgress`, `Succeed`, `Failed`,
/// `Stopped`) and trigger.
#[utoipa::path(get, path = "/api/v2.0/replication/executions", tag = "replication",
    operation_id = "listReplicationExecutions", params(ListParams),
    responses((status = 200, description = "A page of runs", body = [ReplicationExecution])))]
async fn list_executions(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let mut query = Filter::new(None, query_value(q, "sort"));
    if let Some(id) = query_value(q, "policy_id") {
        query = query.exact("policy_id", id);
    }
    if let Some(s) = query_value(q, "status") {
        let stored = match s.as_str() {
            "InProgress" => "Running",
            "Succeed" => "Success",
            "Failed" => "Error",
            other => other,
        };
        query = query.exact("status", stored.to_string());
    }
    if let Some(t) = query_value(q, "trigger") {
        let stored = (TRIGGERS.iter())
            .find(|(name, _)| *name == t)
            .map_or(t.as_str(), |(_, stored)| stored);
        query = query.exact("trigger", stored.to_string());
    }
    let (items, total) = (state.replication)
        .executions(&ctx, &query, page.offset(), page.size)
        .await?;
    let items: Vec<ReplicationExecution> = items.iter().map(execution_json).collect();
    Ok(page.respond(items, "/api/v2.0/replication/executions", total))
}

/// One run.
#[utoipa::path(get, path = "/api/v2.0/replication/executions/{id}", tag = "replication",
    operation_id = "getReplicationExecution",
    responses((status = 200, description = "The run", body = ReplicationExecution),
        (status = 404, description = "No such run", body = Errors)))]
async fn get_execution(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<Json<ReplicationExecution>, ApiError> {
    Ok(Json(execution_json(
        &state.replication.execution(&ctx, id).await?,
    )))
}

/// Stops a run.
#[utoipa::path(put, path = "/api/v2.0/replication/executions/{id}", tag = "replication",
    operation_id = "stopReplication",
    responses((status = 200, description = "Stopping"),
        (status = 404, description = "No such run", body = Errors)))]
async fn stop(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.replication.stop(&ctx, id).await?;
    Ok(StatusCode::OK)
}

/// A run's task (Harbor's `ReplicationTask`): one artifact.
#[derive(Serialize, ToSchema)]
struct ReplicationTask {
    id: i64,
    execution_id: i64,
    resource_type: String,
    src_resource: String,
    dst_resource: String,
    /// `copy` or `deletion`.
    operation: String,
    status: &'static str,
    job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    end_time: Option<String>,
}

fn task_json(t: &TaskView) -> ReplicationTask {
    ReplicationTask {
        id: t.task.id,
        execution_id: t.task.execution_id,
        resource_type: t.work.resource_type.clone(),
        src_resource: t.work.resource(&t.work.src_repo),
        dst_resource: t.work.resource(&t.work.dst_repo),
        operation: t.work.operation.clone(),
        status: status_name(&t.task.status),
        job_id: t.task.id.to_string(),
        start_time: t.task.start_time.map(timestamp),
        end_time: t.task.end_time.map(timestamp),
    }
}

/// A run's tasks, by state (`Pending`, `InProgress`, `Succeed`, `Failed`,
/// `Stopped`) and resource type.
#[utoipa::path(get, path = "/api/v2.0/replication/executions/{id}/tasks", tag = "replication",
    operation_id = "listReplicationTasks", params(ListParams),
    responses((status = 200, description = "A page of tasks", body = [ReplicationTask]),
        (status = 404, description = "No such run", body = Errors)))]
async fn list_tasks(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    Path(id): Path<i64>,
    page: Page,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let (status, resource_type) = (query_value(q, "status"), query_value(q, "resource_type"));
    let (items, total) = (state.replication)
        .tasks(
            &ctx,
            id,
            status.as_deref(),
            resource_type.as_deref(),
            page.offset(),
            page.size,
        )
        .await?;
    let items: Vec<ReplicationTask> = items.iter().map(task_json).collect();
    let path = format!("/api/v2.0/replication/executions/{id}/tasks");
    Ok(page.respond(items, &path, total))
}

/// A task's log.
#[utoipa::path(get, path = "/api/v2.0/replication/executions/{id}/tasks/{task_id}/log",
    tag = "replication", operation_id = "getReplicationLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain"),
        (status = 404, description = "No such run or task", body = Errors)))]
async fn task_log(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path((id, task_id)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let log = state.replication.task_log(&ctx, id, task_id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}
