//! `/api/v2.0/projects/{p}/webhook`: policies, their deliveries, last
//! triggers and the supported events.

use super::jobservice::text;
use super::model::{
    Errors, Execution, PayloadFormat, SupportedWebhookEventTypes, Task, WebhookLastTrigger,
    WebhookPolicy, WebhookTargetObject,
};
use super::{created, json_body, timestamp, ApiError, Ctx, Page};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::notify::webhooks::{Policy, PolicyRequest, Target, EVENT_TYPES};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(executions))
        .routes(routes!(tasks))
        .routes(routes!(task_log))
        .routes(routes!(last_trigger))
        .routes(routes!(events))
}

fn policy_json(p: &Policy) -> WebhookPolicy {
    WebhookPolicy {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        project_id: p.project_id,
        targets: p
            .targets
            .iter()
            .map(|t| WebhookTargetObject {
                kind: t.kind.clone(),
                address: t.address.clone(),
                auth_header: t.auth_header.clone(),
                skip_cert_verify: t.skip_cert_verify,
                payload_format: t.payload_format.clone(),
            })
            .collect(),
        event_types: p.event_types.clone(),
        creator: p.creator.clone(),
        creation_time: timestamp(p.creation_time),
        update_time: timestamp(p.update_time),
        enabled: p.enabled,
    }
}

/// A policy to create, or its new settings.
#[derive(Deserialize, ToSchema)]
struct PolicyReq {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    enabled: Option<bool>,
    event_types: Vec<String>,
    targets: Vec<WebhookTargetObject>,
}

impl PolicyReq {
    fn into_request(self) -> PolicyRequest {
        PolicyRequest {
            name: self.name,
            description: self.description,
            enabled: self.enabled.unwrap_or(true),
            event_types: self.event_types,
            targets: self
                .targets
                .into_iter()
                .map(|t| Target {
                    kind: if t.kind.is_empty() {
                        "http".into()
                    } else {
                        t.kind
                    },
                    address: t.address,
                    auth_header: t.auth_header,
                    skip_cert_verify: t.skip_cert_verify,
                    payload_format: if t.payload_format.is_empty() {
                        "Default".into()
                    } else {
                        t.payload_format
                    },
                })
                .collect(),
        }
    }
}

/// A project's webhook policies.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/webhook/policies", tag = "webhook",
    operation_id = "ListWebhookPoliciesOfProject",
    responses((status = 200, description = "The policies", body = [WebhookPolicy])))]
async fn list(
    S(state): S<State>,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let list = state.webhooks.list(&ctx, &p).await?;
    let mut resp = Json(list.iter().map(policy_json).collect::<Vec<_>>()).into_response();
    if let Ok(v) = list.len().to_string().parse() {
        resp.headers_mut().insert("x-total-count", v);
    }
    Ok(resp)
}

/// Creates a policy.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/webhook/policies", tag = "webhook",
    operation_id = "CreateWebhookPolicyOfProject", request_body = PolicyReq,
    responses((status = 201, description = "Created; Location names it"),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn create(
    S(state): S<State>,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req = json_body::<PolicyReq>(&body)?.into_request();
    let id = state.webhooks.create(&ctx, &p, &req).await?;
    Ok(created(format!(
        "/api/v2.0/projects/{p}/webhook/policies/{id}"
    )))
}

/// One policy.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "GetWebhookPolicyOfProject",
    responses((status = 200, description = "The policy", body = WebhookPolicy)))]
async fn get_one(
    S(state): S<State>,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Json<WebhookPolicy>, ApiError> {
    let policy = state
        .webhooks
        .get(&ctx, &p, super::path_id(&id, "policy id")?)
        .await?;
    Ok(Json(policy_json(&policy)))
}

/// Replaces a policy's settings.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "UpdateWebhookPolicyOfProject", request_body = PolicyReq,
    responses((status = 200, description = "Updated"),
        (status = 409, description = "The name is taken", body = Errors)))]
async fn update(
    S(state): S<State>,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req = json_body::<PolicyReq>(&body)?.into_request();
    state
        .webhooks
        .update(&ctx, &p, super::path_id(&id, "policy id")?, &req)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a policy.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", operation_id = "DeleteWebhookPolicyOfProject",
    responses((status = 200, description = "Deleted")))]
async fn delete(
    S(state): S<State>,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .webhooks
        .delete(&ctx, &p, super::path_id(&id, "policy id")?)
        .await?;
    Ok(StatusCode::OK)
}

fn execution_json(e: &berth_core::jobs::Execution) -> Execution {
    Execution {
        id: e.id,
        vendor_type: e.vendor_type.clone(),
        vendor_id: e.vendor_id,
        status: e.status.clone(),
        status_message: e.status_message.clone(),
        trigger: e.trigger.clone(),
        extra_attrs: serde_json::from_str(&e.extra_attrs).unwrap_or_default(),
        start_time: timestamp(e.start_time),
        end_time: e.end_time.map(timestamp),
    }
}

/// A policy's deliveries, newest first.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}/executions",
    tag = "webhook", operation_id = "ListExecutionsOfWebhookPolicy",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of deliveries", body = [Execution])))]
async fn executions(
    S(state): S<State>,
    Path((p, id)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let (rows, total) = state
        .webhooks
        .executions(
            &ctx,
            &p,
            super::path_id(&id, "policy id")?,
            page.offset(),
            page.size,
        )
        .await?;
    let path = format!("/api/v2.0/projects/{p}/webhook/policies/{id}/executions");
    Ok(page.respond(
        rows.iter().map(execution_json).collect::<Vec<_>>(),
        &path,
        total,
    ))
}

/// A delivery's tasks.
#[utoipa::path(get,
    path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks",
    tag = "webhook", operation_id = "ListTasksOfWebhookExecution",
    params(("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "The tasks", body = [Task])))]
async fn tasks(
    S(state): S<State>,
    Path((p, id, eid)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let tasks = state
        .webhooks
        .tasks(
            &ctx,
            &p,
            super::path_id(&id, "policy id")?,
            super::path_id(&eid, "execution id")?,
        )
        .await?;
    let path = format!("/api/v2.0/projects/{p}/webhook/policies/{id}/executions/{eid}/tasks");
    Ok(page.of(
        tasks
            .into_iter()
            .map(|t| Task {
                id: t.id,
                execution_id: t.execution_id,
                status: t.status,
                status_message: t.status_message,
                run_count: t.run_count,
                creation_time: timestamp(t.creation_time),
                update_time: timestamp(t.update_time),
                start_time: t.start_time.map(timestamp),
                end_time: t.end_time.map(timestamp),
            })
            .collect(),
        &path,
    ))
}

/// A delivery task's log.
#[utoipa::path(get,
    path = "/api/v2.0/projects/{p}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks/{task_id}/log",
    tag = "webhook", operation_id = "GetLogsOfWebhookTask",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn task_log(
    S(state): S<State>,
    Path((p, id, eid, tid)): Path<(String, String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let log = state
        .webhooks
        .task_log(
            &ctx,
            &p,
            super::path_id(&id, "policy id")?,
            super::path_id(&eid, "execution id")?,
            super::path_id(&tid, "task id")?,
        )
        .await?;
    Ok(text(log))
}

/// When each policy last sent something, per event type it wants.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/webhook/lasttrigger", tag = "webhook",
    operation_id = "LastTrigger",
    responses((status = 200, description = "Per policy and event type", body = [WebhookLastTrigger])))]
async fn last_trigger(
    S(state): S<State>,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Vec<WebhookLastTrigger>>, ApiError> {
    let mut out = Vec::new();
    for (policy, last) in state.webhooks.last_triggers(&ctx, &p).await? {
        for t in &policy.event_types {
            out.push(WebhookLastTrigger {
                policy_name: policy.name.clone(),
                event_type: t.clone(),
                enabled: policy.enabled,
                creation_time: timestamp(policy.creation_time),
                last_trigger_time: last.map(timestamp),
            });
        }
    }
    Ok(Json(out))
}

/// The supported event types, target types and payload formats.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/webhook/events", tag = "webhook",
    operation_id = "GetSupportedEventTypes",
    responses((status = 200, description = "What webhooks support", body = SupportedWebhookEventTypes)))]
async fn events(
    S(state): S<State>,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<SupportedWebhookEventTypes>, ApiError> {
    state.webhooks.supported(&ctx, &p).await?;
    let formats = |t: &str, f: &[&str]| PayloadFormat {
        notify_type: t.into(),
        formats: f.iter().map(|s| s.to_string()).collect(),
    };
    Ok(Json(SupportedWebhookEventTypes {
        event_type: EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
        notify_type: vec!["http".into(), "slack".into()],
        payload_formats: vec![
            formats("http", &["Default", "CloudEvents"]),
            formats("slack", &["Default"]),
        ],
    }))
}
