//! A project's Webhooks tab: policies with their last trigger, creating,
//! enabling, disabling and deleting them, and each policy's deliveries.

use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::projects::minutes;
use super::Col::Plain;
use super::{
    confirmed, form_set, head, message, outcome, redirect_with, refusal, switch, Flash, Viewer,
};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::jobs::Execution;
use berth_core::notify::webhooks::{Policy, PolicyRequest, Target, EVENT_TYPES};
use maud::{html, Markup};

/// Deliveries shown per policy.
const RECENT: i64 = 10;

pub async fn tab(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let name = &p.project.name;
    let policies = match state.webhooks.last_triggers(&v.ctx, name).await {
        Ok(x) => x,
        Err(e) => return refusal(&v, &e),
    };
    let mut recent = Vec::new();
    for (policy, _) in &policies {
        let runs = state
            .webhooks
            .executions(&v.ctx, name, policy.id, 0, RECENT)
            .await
            .map(|(runs, _)| runs)
            .unwrap_or_default();
        recent.push(runs);
    }
    let may_create = may(&v, &p, Action::Create, Kind::NotificationPolicy).await;
    let allowed = Allowed {
        update: may(&v, &p, Action::Update, Kind::NotificationPolicy).await,
        delete: may(&v, &p, Action::Delete, Kind::NotificationPolicy).await,
    };
    let here = tab_url(&p, "webhooks");
    let off = !state.configurations.snapshot().notifications;
    let body = html! {
        @if off {
            div.notice.err role="status" { "Webhook notifications are switched off for the whole system; nothing is sent until an administrator turns them on." }
        }
        @if policies.is_empty() {
            p.empty { "No webhooks. A webhook tells another service when artifacts are pushed, pulled or deleted here"
                @if may_create { ": add one below." } @else { "." } }
        }
        @for ((policy, last), runs) in policies.iter().zip(&recent) {
            (policy_section(&v, &here, policy, *last, runs, allowed))
        }
        @if may_create { (new_webhook_form(&v, &here)) }
    };
    show(&v, &p, "webhooks", body).await
}

/// What the viewer may do to the project's webhooks besides creating them.
#[derive(Clone, Copy)]
struct Allowed {
    update: bool,
    delete: bool,
}

/// One policy: its facts, recent deliveries and the buttons the viewer may use.
fn policy_section(
    v: &Viewer,
    here: &str,
    policy: &Policy,
    last: Option<i64>,
    runs: &[Execution],
    allowed: Allowed,
) -> Markup {
    html! {
        section.policy aria-label={ "Webhook " (policy.name) } {
            h2 { (policy.name) " " span.badge { @if policy.enabled { "Enabled" } @else { "Disabled" } } }
            dl.facts {
                dt { "Endpoint" } dd { @for t in &policy.targets { code { (t.address) } " (" (t.kind) ", " (t.payload_format) ")" br; } }
                dt { "Events" } dd { (policy.event_types.join(", ")) }
                dt { "Last triggered" } dd.last { @match last { Some(t) => (minutes(t)), None => "never" } }
                dt { "Created by" } dd { (policy.creator) }
            }
            @if !runs.is_empty() { (deliveries(runs)) }
            @if allowed.update {
                (switch(v, &format!("{here}/{}", policy.id), policy.enabled))
            }
            @if allowed.delete {
                (confirmed(v, &format!("{here}/{}", policy.id),
                    &format!("Delete webhook {}?", policy.name), "delete", "Delete"))
            }
        }
    }
}

/// A policy's recent deliveries.
fn deliveries(runs: &[Execution]) -> Markup {
    html! {
        table.deliveries {
            caption.muted { "Recent deliveries" }
            (head(&[Plain("Event"), Plain("Status"), Plain("Started")]))
            tbody {
                @for e in runs {
                    tr {
                        td { (serde_json::from_str::<serde_json::Value>(&e.extra_attrs).ok()
                            .and_then(|a| a["event_type"].as_str().map(str::to_string)).unwrap_or_default()) }
                        td { (e.status) }
                        td { (minutes(e.start_time)) }
                    }
                }
            }
        }
    }
}

/// The form that adds a webhook.
fn new_webhook_form(v: &Viewer, here: &str) -> Markup {
    html! {
        (form_set(v, here, "New webhook", html! {
            label for="hook_name" { "Name" }
            input #hook_name type="text" name="name" required;
            label for="hook_address" { "Endpoint URL" }
            input #hook_address type="text" inputmode="url" name="address" required placeholder="https://ci.example.com/hooks/berth";
            label for="hook_type" { "Notify type" }
            select #hook_type name="type" {
                option value="http" { "http" }
                option value="slack" { "slack" }
            }
            label for="hook_format" { "Payload format" }
            select #hook_format name="payload_format" {
                option value="Default" { "Default" }
                option value="CloudEvents" { "CloudEvents" }
            }
            label for="hook_auth" { "Auth header" }
            input #hook_auth type="text" name="auth_header" autocomplete="off";
            label.check { input type="checkbox" name="skip_cert_verify"; "Skip certificate verification" }
            fieldset.grants {
                legend { "Event types" }
                @for t in EVENT_TYPES {
                    label.check {
                        input type="checkbox" name="event_type" value=(t)
                            checked[t.ends_with("_ARTIFACT")];
                        (t)
                    }
                }
            }
            p { button type="submit" { "Add webhook" } }
        }))
    }
}

pub async fn create(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let req = PolicyRequest {
        name: form.get("name").trim().to_string(),
        description: String::new(),
        enabled: true,
        event_types: form.all("event_type").map(str::to_string).collect(),
        targets: vec![Target {
            kind: form.get("type").to_string(),
            address: form.get("address").trim().to_string(),
            auth_header: form.get("auth_header").trim().to_string(),
            skip_cert_verify: form.checked("skip_cert_verify"),
            payload_format: form.get("payload_format").to_string(),
        }],
    };
    let name = &p.project.name;
    let result = state.webhooks.create(&v.ctx, name, &req).await;
    let to = tab_url(&p, "webhooks");
    outcome(&to, result.map(|_| format!("Webhook {} added.", req.name)))
}

pub async fn change(
    S(state): S<State>,
    Path((_, policy)): Path<(String, i64)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    let name = &p.project.name;
    let to = tab_url(&p, "webhooks");
    let hooks = &state.webhooks;
    let current = match hooks.get(&v.ctx, name, policy).await {
        Ok(c) => c,
        Err(e) => return redirect_with(&to, Flash::Err(message(&e))),
    };
    let result = match form.get("action") {
        "delete" => hooks
            .delete(&v.ctx, name, policy)
            .await
            .map(|()| format!("Webhook {} deleted.", current.name)),
        action @ ("enable" | "disable") => {
            let req = PolicyRequest {
                name: current.name.clone(),
                description: current.description.clone(),
                enabled: action == "enable",
                event_types: current.event_types.clone(),
                targets: current.targets.clone(),
            };
            hooks
                .update(&v.ctx, name, policy, &req)
                .await
                .map(|()| format!("Webhook {} is {action}d.", current.name))
        }
        other => return redirect_with(&to, Flash::Err(format!("Unknown action {other:?}."))),
    };
    outcome(&to, result)
}
