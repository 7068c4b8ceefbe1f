//! Audit logs on the API: the middleware that records every change made
//! through `/api`, the log listings, and the purge at `/system/purgeaudit`.

use super::executions::{self, Schedule};
use super::model::{AuditLog, AuditLogEventType, AuditLogExt, Errors, ExecHistory};
use super::{context, filter, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State as S};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::notify::audit::{Event, PurgeParams, EVENT_TYPES, PURGE_VENDOR};
use berth_core::notify::audit::{Log, Table};
use berth_core::project::ProjectKey;
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

/// The operation and resource type of a change, from its route.
fn classify(method: &Method, route: &str) -> Option<(&'static str, &'static str)> {
    let t = route.strip_prefix("/api/v2.0")?;
    let op = match *method {
        Method::POST => "create",
        Method::PUT | Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => return None,
    };
    const ART: &str = "/projects/{p}/repositories/{r}/artifacts";
    let kind = match t {
        "/users" | "/users/{id}" | "/users/{id}/password" | "/users/{id}/sysadmin" => "user",
        "/projects" | "/projects/{p}" => "project",
        t if t.starts_with("/projects/{p}/metadatas") => return Some(("update", "project")),
        "/projects/{p}/members" | "/projects/{p}/members/{mid}" => "member",
        "/robots" | "/robots/{id}" => "robot",
        "/configurations" => "configuration",
        "/projects/{p}/repositories/{r}" => "repository",
        t if t == ART || t == format!("{ART}/{{reference}}") => "artifact",
        t if t.starts_with(ART) && (t.ends_with("/tags") || t.ends_with("/tags/{tag}")) => "tag",
        _ => return None,
    };
    Some((op, kind))
}

/// The value of each `{param}` of `route` in `path`.
fn params<'a>(route: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    route
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, v)| Some((t.strip_prefix('{')?.strip_suffix('}')?, v)))
        .collect()
}

/// The name of the project a path or `Location` names by id or name.
async fn project_name(state: &State, headers: &HeaderMap, p: &str) -> Option<String> {
    let is_name = headers
        .get("x-is-resource-name")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    match ProjectKey::parse(p, is_name) {
        ProjectKey::Name(n) => Some(n),
        ProjectKey::Id(id) => state.projects.name_of(id).await.ok().flatten(),
    }
}

/// Who is calling, without verifying again what the handler verified.
async fn operator(state: &State, headers: &HeaderMap) -> String {
    if let Some((user, _)) = headers
        .get(header::AUTHORIZATION)
        .and_then(crate::auth::parse_basic)
    {
        return user;
    }
    if let Some(sid) = crate::session::session_id(headers) {
        if let Ok(Some((ctx, _))) = state.iam.session(sid).await {
            return ctx.username().to_string();
        }
    }
    "anonymous".into()
}

/// Records every change made through the API, with its result; requests
/// that fail authentication (401) are not attributed to anyone.
pub async fn record_changes(S(state): S<State>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let Some((operation, kind)) = route.as_deref().and_then(|r| classify(req.method(), r)) else {
        return next.run(req).await;
    };
    let route = route.unwrap_or_default();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let ps = params(&route, &path);
    let get = |k: &str| ps.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    // Before the change: a deleted project has no name afterwards.
    let mut project = match get("p") {
        Some(p) => project_name(&state, &headers, &p).await,
        None => None,
    };
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        return resp;
    }
    let created = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        });
    if kind == "project" && project.is_none() {
        if let Some(c) = &created {
            project = project_name(&state, &resp_headers_name(&headers), c).await;
        }
    }
    let repo = || {
        let r = get("r").unwrap_or_default();
        let r = percent_encoding::percent_decode_str(&r)
            .decode_utf8_lossy()
            .into_owned();
        format!("{}/{r}", project.clone().unwrap_or_default())
    };
    let resource = match kind {
        "project" => project.clone().unwrap_or_default(),
        "repository" => repo(),
        "artifact" => format!(
            "{}@{}",
            repo(),
            get("reference").or(created.clone()).unwrap_or_default()
        ),
        "tag" => format!(
            "{}:{}",
            repo(),
            get("tag").or(created.clone()).unwrap_or_default()
        ),
        "member" => format!(
            "{}/member {}",
            project.clone().unwrap_or_default(),
            get("mid").or(created.clone()).unwrap_or_default()
        ),
        "configuration" => "configurations".into(),
        _ => get("id").or(created).unwrap_or_default(),
    };
    state.audit.record(&Event {
        project: project.as_deref(),
        operation,
        resource_type: kind,
        resource: &resource,
        username: &operator(&state, &headers).await,
        success: resp.status().as_u16() < 400,
    });
    resp
}

/// A project's Location carries its id unless it was asked to carry the name.
fn resp_headers_name(req: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    if req
        .get("x-resource-name-in-location")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        h.insert(
            "x-is-resource-name",
            header::HeaderValue::from_static("true"),
        );
    }
    h
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
    let ctx = context(state, headers).await?;
    let page = Page::parse(q)?;
    let query = filter(q);
    let (rows, total) = state
        .audit
        .list(&ctx, table, project, &query, page.offset(), page.size)
        .await?;
    let mut resp = Json(rows.iter().map(shape).collect::<Vec<_>>()).into_response();
    page.headers(&mut resp, path, total);
    Ok(resp)
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
