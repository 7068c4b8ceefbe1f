//! Audit logs on the API: the log listings, and the purge at
//! `/system/purgeaudit`. (The services record what they do; see
//! `berth_core::notify::trail`.)

use super::executions::{self, Schedule};
use super::model::{AuditLog, AuditLogEventType, AuditLogExt, Errors, ExecHistory};
use super::{context, filter, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::iam::Door;
use berth_core::notify::audit::{Log, Table};
use berth_core::notify::audit::{PurgeParams, EVENT_TYPES, PURGE_VENDOR};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(audit_logs))
        .routes(routes!(project_logs))
        .routes(routes!(ext_logs))
        .routes(routes!(project_ext_logs))
        .routes(routes!(event_types))
        .routes(routes!(purge_history))
        .routes(routes!(purge_get, purge_stop))
        .routes(routes!(purge_log))
        .routes(routes!(purge_schedule, purge_create, purge_update))
}

fn legacy_json(l: &Log) -> AuditLog {
    AuditLog {
        id: l.id,
        username: l.username.clone(),
        resource: l.resource.clone(),
        resource_type: l.resource_type.clone(),
        operation: l.operation.clone(),
        op_time: timestamp(l.op_time),
    }
}

fn ext_json(l: &Log) -> AuditLogExt {
    AuditLogExt {
        id: l.id,
        username: l.username.clone(),
        resource: l.resource.clone(),
        resource_type: l.resource_type.clone(),
        operation: l.operation.clone(),
        operation_description: l.description.clone(),
        operation_result: l.success,
        op_time: timestamp(l.op_time),
    }
}

async fn list<T: serde::Serialize>(
    state: &State,
    headers: &HeaderMap,
    q: Option<&str>,
    table: Table,
    project: Option<&str>,
    path: &str,
    shape: fn(&Log) -> T,
) -> Result<Response, ApiError> {
    let ctx = context(state, headers, Door::Other).await?;
    let page = Page::parse(q)?;
    let query = filter(q);
    let (rows, total) = state
        .audit
        .list(&ctx, table, project, &query, page.offset(), page.size)
        .await?;
    Ok(page.respond(rows.iter().map(shape).collect::<Vec<_>>(), path, total))
}

/// The legacy audit log over what the caller may see; `q` keys: operation,
/// resource, resource_type, username, op_time.
#[utoipa::path(get, path = "/api/v2.0/audit-logs", tag = "auditlog", operation_id = "listAuditLogs",
    params(ListParams),
    responses((status = 200, description = "A page of entries", body = [AuditLog])))]
async fn audit_logs(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = "/api/v2.0/audit-logs";
    list(
        &state,
        &headers,
        q.as_deref(),
        Table::Legacy,
        None,
        path,
        legacy_json,
    )
    .await
}

/// A project's legacy audit log.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/logs", tag = "project", operation_id = "getLogs",
    params(ListParams),
    responses((status = 200, description = "A page of entries", body = [AuditLog])))]
async fn project_logs(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = format!("/api/v2.0/projects/{p}/logs");
    list(
        &state,
        &headers,
        q.as_deref(),
        Table::Legacy,
        Some(&p),
        &path,
        legacy_json,
    )
    .await
}

/// The extended audit log (administrators).
#[utoipa::path(get, path = "/api/v2.0/auditlog-exts", tag = "auditlog",
    operation_id = "listAuditLogExts", params(ListParams),
    responses((status = 200, description = "A page of entries", body = [AuditLogExt])))]
async fn ext_logs(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = "/api/v2.0/auditlog-exts";
    list(
        &state,
        &headers,
        q.as_deref(),
        Table::Extended,
        None,
        path,
        ext_json,
    )
    .await
}

/// A project's extended audit log.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/auditlog-exts", tag = "project",
    operation_id = "getLogExts", params(ListParams),
    responses((status = 200, description = "A page of entries", body = [AuditLogExt])))]
async fn project_ext_logs(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let path = format!("/api/v2.0/projects/{p}/auditlog-exts");
    list(
        &state,
        &headers,
        q.as_deref(),
        Table::Extended,
        Some(&p),
        &path,
        ext_json,
    )
    .await
}

/// The event types the audit log records.
#[utoipa::path(get, path = "/api/v2.0/auditlog-exts/events", tag = "auditlog",
    operation_id = "listAuditLogEventTypes",
    responses((status = 200, description = "Every event type", body = [AuditLogEventType])))]
async fn event_types(Ctx(ctx): Ctx) -> Result<Json<Vec<AuditLogEventType>>, ApiError> {
    if !ctx.is_authenticated() {
        return Err(berth_core::CoreError::Unauthorized.into());
    }
    Ok(Json(
        EVENT_TYPES
            .iter()
            .map(|t| AuditLogEventType {
                event_type: t.to_string(),
            })
            .collect(),
    ))
}

/// Audit log purges, newest first.
#[utoipa::path(get, path = "/api/v2.0/system/purgeaudit", tag = "purge",
    operation_id = "getPurgeHistory",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of runs", body = [ExecHistory])))]
async fn purge_history(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let runs = state.audit.purges();
    executions::history(
        &state,
        &headers,
        q.as_deref(),
        runs,
        "/api/v2.0/system/purgeaudit",
    )
    .await
}

/// One purge.
#[utoipa::path(get, path = "/api/v2.0/system/purgeaudit/{purge_id}", tag = "purge",
    operation_id = "getPurgeJob",
    responses((status = 200, description = "The run", body = ExecHistory)))]
async fn purge_get(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ExecHistory>, ApiError> {
    executions::get_one(&state, &headers, &id, state.audit.purges()).await
}

/// Stops a purge (one that has ended stays as it is, as in Harbor).
#[utoipa::path(put, path = "/api/v2.0/system/purgeaudit/{purge_id}", tag = "purge",
    operation_id = "stopPurge",
    responses((status = 200, description = "Stopping, or already ended")))]
async fn purge_stop(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    executions::stop(&state, &headers, &id, state.audit.purges()).await
}

/// A purge's log.
#[utoipa::path(get, path = "/api/v2.0/system/purgeaudit/{purge_id}/log", tag = "purge",
    operation_id = "getPurgeJobLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn purge_log(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    executions::log(&state, &headers, &id, state.audit.purges()).await
}

/// When purges run (type `None` when they are not scheduled).
#[utoipa::path(get, path = "/api/v2.0/system/purgeaudit/schedule", tag = "purge",
    operation_id = "getPurgeSchedule",
    responses((status = 200, description = "The schedule", body = ExecHistory)))]
async fn purge_schedule(
    S(state): S<State>,
    headers: HeaderMap,
) -> Result<Json<ExecHistory>, ApiError> {
    executions::schedule(&state, &headers, state.audit.purges(), PURGE_VENDOR).await
}

/// `Manual` purges now (parameters `audit_retention_hour`,
/// `include_event_types`, `dry_run`); other types schedule purges.
#[utoipa::path(post, path = "/api/v2.0/system/purgeaudit/schedule", tag = "purge",
    operation_id = "createPurgeSchedule", request_body = Schedule,
    responses((status = 201, description = "Started or scheduled; Location names it"),
        (status = 409, description = "A purge is already running", body = Errors)))]
async fn purge_create(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let base = "/api/v2.0/system/purgeaudit";
    executions::create::<PurgeParams>(&state, &headers, &body, state.audit.purges(), base).await
}

/// Changes the purge schedule; type `None` removes it.
#[utoipa::path(put, path = "/api/v2.0/system/purgeaudit/schedule", tag = "purge",
    operation_id = "updatePurgeSchedule", request_body = Schedule,
    responses((status = 200, description = "Changed")))]
async fn purge_update(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    executions::update::<PurgeParams>(&state, &headers, &body, state.audit.purges()).await
}
