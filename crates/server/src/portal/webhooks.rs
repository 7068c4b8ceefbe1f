//! A project's Webhooks tab: policies with their last trigger, creating,
//! enabling, disabling and deleting them, and each policy's deliveries.

use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::projects::minutes;
use super::Col::Plain;
use super::{
    confirmed, csrf_field, form_set, head, message, outcome, outcome_keeping, redirect_with,
    refusal, switch, Flash, Form, Viewer,
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
            @if !runs.is_empty() { (deliveries(runs, &format!("{here}/{}", policy.id))) }
            @if allowed.update && !v.read_only {
                a.button.secondary href={ (here) "/" (policy.id) } aria-label={ "Edit webhook " (policy.name) } { "Edit" }
                " "
                (switch(v, &format!("{here}/{}", policy.id), policy.enabled))
                form.inline method="post" action={ (here) "/" (policy.id) } {
                    (csrf_field(v))
                    button.secondary type="submit" name="action" value="ping"
                        aria-label={ "Send a test event to the endpoint of " (policy.name) } { "Test endpoint" }
                }
            }
            @if allowed.delete {
                (confirmed(v, &format!("{here}/{}", policy.id),
                    &format!("Delete webhook {}?", policy.name), "delete", "Delete"))
            }
        }
    }
}

/// A policy's recent deliveries, each linking to its log (`policy` is the
/// policy's page).
fn deliveries(runs: &[Execution], policy: &str) -> Markup {
    html! {
        table.deliveries {
            caption.muted { "Recent deliveries" }
            (head(&[Plain("Event"), Plain("Status"), Plain("Started"), Plain("Log")]))
            tbody {
                @for e in runs {
                    tr {
                        td { (serde_json::from_str::<serde_json::Value>(&e.extra_attrs).ok()
                            .and_then(|a| a["event_type"].as_str().map(str::to_string)).unwrap_or_default()) }
                        td { (e.status) }
                        td { (minutes(e.start_time)) }
                        td { a href={ (policy) "/deliveries/" (e.id) } { "Log of delivery " (e.id) } }
                    }
                }
            }
        }
    }
}

/// The form that adds a webhook.
fn new_webhook_form(v: &Viewer, here: &str) -> Markup {
    let kept = (!v.kept.is_empty()).then(|| requested(&v.kept, true));
    form_set(
        v,
        here,
        "New webhook",
        html! {
            (webhook_fields(kept.as_ref()))
            p { button type="submit" { "Add webhook" } }
        },
    )
}

/// A policy's fields, holding its settings when it has some.
fn webhook_fields(policy: Option<&PolicyRequest>) -> Markup {
    let target = policy.and_then(|p| p.targets.first());
    let kind = target.map_or("http", |t| t.kind.as_str());
    let format = target.map_or("Default", |t| t.payload_format.as_str());
    let wanted = |t: &str| match policy {
        Some(p) => p.event_types.iter().any(|e| e == t),
        None => t.ends_with("_ARTIFACT"),
    };
    html! {
        label for="hook_name" { "Name" }
        input #hook_name type="text" name="name" required value=[policy.map(|p| &p.name)];
        label for="hook_address" { "Endpoint URL" }
        input #hook_address type="text" inputmode="url" name="address" required
            placeholder="https://ci.example.com/hooks/berth" value=[target.map(|t| &t.address)];
        label for="hook_type" { "Notify type" }
        select #hook_type name="type" {
            @for k in ["http", "slack"] { option value=(k) selected[k == kind] { (k) } }
        }
        label for="hook_format" { "Payload format" }
        select #hook_format name="payload_format" {
            @for f in ["Default", "CloudEvents"] { option value=(f) selected[f == format] { (f) } }
        }
        label for="hook_auth" { "Auth header" }
        input #hook_auth type="text" name="auth_header" autocomplete="off" value=[target.map(|t| &t.auth_header)];
        label.check {
            input type="checkbox" name="skip_cert_verify" checked[target.is_some_and(|t| t.skip_cert_verify)];
            "Skip certificate verification"
        }
        fieldset.grants {
            legend { "Event types" }
            @for t in EVENT_TYPES {
                label.check { input type="checkbox" name="event_type" value=(t) checked[wanted(t)]; (t) }
            }
        }
    }
}

/// A policy's settings, as a form holds them.
fn settings(policy: &Policy) -> PolicyRequest {
    PolicyRequest {
        name: policy.name.clone(),
        description: policy.description.clone(),
        enabled: policy.enabled,
        event_types: policy.event_types.clone(),
        targets: policy.targets.clone(),
    }
}

/// The policy a posted form describes.
fn requested(form: &Form, enabled: bool) -> PolicyRequest {
    PolicyRequest {
        name: form.get("name").trim().to_string(),
        description: String::new(),
        enabled,
        event_types: form.all("event_type").map(str::to_string).collect(),
        targets: vec![Target {
            kind: form.get("type").to_string(),
            address: form.get("address").trim().to_string(),
            auth_header: form.get("auth_header").trim().to_string(),
            skip_cert_verify: form.checked("skip_cert_verify"),
            payload_format: form.get("payload_format").to_string(),
        }],
    }
}

/// A policy's page: its settings to edit.
pub async fn edit(
    S(state): S<State>,
    Path((_, policy)): Path<(String, i64)>,
    InProject(v, p): InProject,
) -> Response {
    let current = match state.webhooks.get(&v.ctx, &p.project.name, policy).await {
        Ok(c) => c,
        Err(e) => return refusal(&v, &e),
    };
    let here = tab_url(&p, "webhooks");
    let body = html! {
        p.crumbs { a href=(here) { "Webhooks" } " /" }
        h2 { "Webhook " (current.name) }
        (form_set(&v, &format!("{here}/{policy}"), "Settings", html! {
            (webhook_fields(Some(&settings(&current))))
            p { button type="submit" name="action" value="update" { "Save" } }
        }))
    };
    show(&v, &p, "webhooks", body).await
}

/// One delivery: each of its tasks with its status and log.
pub async fn delivery(
    S(state): S<State>,
    Path((_, policy, execution)): Path<(String, i64, i64)>,
    InProject(v, p): InProject,
) -> Response {
    let listed = (state.webhooks)
        .task_logs(&v.ctx, &p.project.name, policy, execution)
        .await;
    let tasks = match listed {
        Ok(t) => t,
        Err(e) => return refusal(&v, &e),
    };
    let here = tab_url(&p, "webhooks");
    let body = html! {
        p.crumbs { a href=(here) { "Webhooks" } " /" }
        h2 { "Delivery " (execution) }
        @for (t, log) in &tasks {
            p { "Attempt " (t.id) ": " strong.status { (t.status) } }
            @if log.is_empty() { p.empty { "Nothing logged yet. Reload in a moment." } }
            @else { pre.log { (log) } }
        }
    };
    show(&v, &p, "webhooks", body).await
}

pub async fn create(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let req = requested(&form, true);
    let name = &p.project.name;
    let result = state.webhooks.create(&v.ctx, name, &req).await;
    let done = result.map(|_| format!("Webhook {} added.", req.name));
    outcome_keeping(&tab_url(&p, "webhooks"), done, &form)
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
        "update" => {
            let req = requested(&form, current.enabled);
            let updated = hooks.update(&v.ctx, name, policy, &req).await;
            if let Err(e) = updated {
                return redirect_with(&format!("{to}/{policy}"), Flash::Err(message(&e)));
            }
            Ok(format!("Webhook {} saved.", req.name))
        }
        action @ ("enable" | "disable") => {
            let req = PolicyRequest {
                enabled: action == "enable",
                ..settings(&current)
            };
            hooks
                .update(&v.ctx, name, policy, &req)
                .await
                .map(|()| format!("Webhook {} is {action}d.", current.name))
        }
        "ping" => return ping(&state, &v, name, policy, &to).await,
        other => return redirect_with(&to, Flash::Err(format!("Unknown action {other:?}."))),
    };
    outcome(&to, result)
}

/// Sends a test event to a policy's endpoints and says what each answered.
async fn ping(state: &State, v: &Viewer, project: &str, policy: i64, to: &str) -> Response {
    let answers = match state.webhooks.ping(&v.ctx, project, policy).await {
        Ok(a) => a,
        Err(e) => return redirect_with(to, Flash::Err(message(&e))),
    };
    let failed = answers.iter().any(Result::is_err);
    let said: Vec<String> = answers
        .into_iter()
        .map(|(Ok(a) | Err(a))| format!("{a}."))
        .collect();
    let said = said.join(" ");
    match failed {
        false => redirect_with(to, Flash::Ok(format!("Test event sent: {said}"))),
        true => redirect_with(
            to,
            Flash::Err(format!("The test event did not arrive: {said}")),
        ),
    }
}
