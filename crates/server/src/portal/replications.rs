//! The administrators' replication pages (Harbor's Replications): the
//! rules (run, enable or disable, delete; a form to add one), each rule's
//! page to change it, the latest runs, a run's tasks and a task's log.

use super::projects::minutes;
use super::{actions, csrf_field, head, outcome, outcome_keeping, page, refusal, Col, Form};
use super::{row_button, Posted, Viewer};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::query::Filter;
use berth_core::replication::flow::PolicyView;
use berth_core::replication::policies::{filter_specs, FilterSpec, Policy, PolicySpec};
use berth_core::replication::registries::Endpoint;
use berth_core::CoreError;
use maud::{html, Markup};

const HERE: &str = "/harbor/replications";

pub fn router() -> Router<State> {
    Router::new()
        .route(HERE, get(show).post(act))
        .route("/harbor/replications/{id}", get(edit).post(change))
        .route("/harbor/replications/executions/{id}", get(run).post(stop))
        .route(
            "/harbor/replications/executions/{id}/tasks/{task}/log",
            get(task_log),
        )
}

/// How many of the latest runs the rules page shows.
const LATEST: i64 = 10;

async fn show(S(state): S<State>, v: Viewer) -> Response {
    let r = &state.replication;
    let everything = Filter::default();
    let listed = async {
        let (rules, _) = r.list(&v.ctx, &everything, 0, 100).await?;
        let (runs, _) = r.executions(&v.ctx, &everything, 0, LATEST).await?;
        let (endpoints, _) = state.registries.list(&v.ctx, &everything, 0, 100).await?;
        Ok::<_, CoreError>((rules, runs, endpoints))
    };
    let (rules, runs, endpoints) = match listed.await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let cols = [
        Col::Plain("Name"),
        Col::Plain("Status"),
        Col::Wide("Source"),
        Col::Wide("Destination"),
        Col::Wide("Trigger"),
    ];
    let body = html! {
        h1 { "Replications" }
        p.muted { "Rules that copy artifacts between Berth and the registry endpoints." }
        @if rules.is_empty() {
            p.muted { "No replication rule yet." }
        } @else {
            div.scroll { table.rules {
                (head(&[&cols[..], actions(!v.read_only)].concat()))
                tbody {
                    @for rule in &rules {
                        @let p = &rule.policy;
                        tr {
                            td { a href=(format!("{HERE}/{}", p.id)) { (p.name) }
                                @if !p.description.is_empty() { br; span.muted { (p.description) } } }
                            td { @if p.enabled { "Enabled" } @else { "Disabled" } }
                            td.wide { (side(&rule.src, None)) }
                            td.wide { (side(&rule.dest, Some(&p.dest_namespace))) }
                            td.wide { (p.trigger_type) @if !p.trigger_cron.is_empty() { " " code { (p.trigger_cron) } } }
                            @if !v.read_only {
                                td {
                                    (row_button(&v, HERE, p.id, "run", "Replicate", None))
                                    @if p.enabled { (row_button(&v, HERE, p.id, "disable", "Disable", None)) }
                                    @else { (row_button(&v, HERE, p.id, "enable", "Enable", None)) }
                                    (row_button(&v, HERE, p.id, "delete", "Delete", Some(&format!("Delete the rule {} and its runs?", p.name))))
                                }
                            }
                        }
                    }
                }
            } }
        }
        h2 { "Latest runs" }
        @if runs.is_empty() {
            p.muted { "No rule has run yet." }
        } @else {
            div.scroll { table.runs {
                (head(&[Col::Plain("Run"), Col::Plain("Status"), Col::Wide("Trigger"), Col::Wide("Started"), Col::Plain("Artifacts")]))
                tbody {
                    @for run in &runs {
                        @let e = &run.execution;
                        tr {
                            td { a href=(format!("{HERE}/executions/{}", e.id)) { "Run " (e.id) } " of rule " (e.vendor_id) }
                            td.status { (e.status) }
                            td.wide { (e.trigger) }
                            td.wide { (minutes(e.start_time)) }
                            td { (run.succeed) " of " (run.total) " done" @if run.failed > 0 { ", " (run.failed) " failed" } }
                        }
                    }
                }
            } }
        }
        @if endpoints.is_empty() {
            p.muted { "A rule needs a registry endpoint: add one under " a href="/harbor/registries" { "Registries" } "." }
        } @else {
            (rule_form(&v, HERE, None, &endpoints))
        }
    };
    page(&v, "Replications", body)
}

/// Where a rule's side is: an endpoint, or Berth itself.
fn side(e: &Option<Endpoint>, namespace: Option<&str>) -> Markup {
    html! {
        @match e { Some(e) => (e.name), None => "this registry" }
        @if let Some(ns) = namespace.filter(|n| !n.is_empty()) { " under " code { (ns) } }
    }
}

/// A rule's filter of one type, as stored.
fn filter_of<'a>(filters: &'a [FilterSpec], kind: &str) -> Option<&'a FilterSpec> {
    filters.iter().find(|f| f.kind == kind)
}

/// The fields of a rule: empty to add one, or a rule's to change it.
fn rule_form(v: &Viewer, to: &str, p: Option<&Policy>, endpoints: &[Endpoint]) -> Markup {
    let filters = p.map(filter_specs).unwrap_or_default();
    let filter = |kind: &str| {
        filter_of(&filters, kind)
            .and_then(|f| f.value.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (name_filter, tag_filter, resource) = (filter("name"), filter("tag"), filter("resource"));
    let excludes = filter_of(&filters, "tag").is_some_and(|f| f.decoration == "excludes");
    let value = |name: &str, stored: String| v.typed(name, &stored).to_string();
    let pulling = p.is_some_and(|p| p.src_registry_id != 0);
    let mode = value("mode", (if pulling { "pull" } else { "push" }).into());
    let registry = value(
        "registry",
        p.map(|p| p.src_registry_id.max(p.dest_registry_id).to_string())
            .unwrap_or_default(),
    );
    let trigger = value(
        "trigger",
        p.map(|p| p.trigger_type.clone()).unwrap_or_default(),
    );
    let replace = value(
        "replace_count",
        p.map_or(-1, |p| p.dest_namespace_replace_count).to_string(),
    );
    let tick = |name: &str, stored: bool| v.ticked(name, "on", stored);
    html! {
        form method="post" action=(to) {
            (csrf_field(v))
            fieldset disabled[v.read_only] {
                legend { @if p.is_some() { "Edit the rule" } @else { "New rule" } }
                label for="rule_name" { "Name" }
                input #rule_name name="name" required value=(value("name", p.map(|p| p.name.clone()).unwrap_or_default()));
                label for="rule_description" { "Description" }
                input #rule_description name="description" value=(value("description", p.map(|p| p.description.clone()).unwrap_or_default()));
                label for="rule_mode" { "Replication mode" }
                select #rule_mode name="mode" {
                    option value="push" selected[mode == "push"] { "Push-based: from Berth to the registry" }
                    option value="pull" selected[mode == "pull"] { "Pull-based: from the registry to Berth" }
                }
                label for="rule_registry" { "Registry" }
                select #rule_registry name="registry" {
                    @for e in endpoints {
                        option value=(e.id) selected[e.id.to_string() == registry] { (e.name) " (" (e.url) ")" }
                    }
                }
                label for="rule_filter_name" { "Repositories (a doublestar pattern: p/**, p/{a,b})" }
                input #rule_filter_name name="filter_name" value=(value("filter_name", name_filter));
                label for="rule_filter_tag" { "Tags (a doublestar pattern)" }
                input #rule_filter_tag name="filter_tag" value=(value("filter_tag", tag_filter));
                label for="rule_tag_decoration" { "Tags the pattern" }
                select #rule_tag_decoration name="tag_decoration" {
                    option value="matches" selected[!v.ticked("tag_decoration", "excludes", excludes)] { "matches" }
                    option value="excludes" selected[v.ticked("tag_decoration", "excludes", excludes)] { "excludes" }
                }
                label for="rule_resource" { "Artifacts" }
                select #rule_resource name="filter_resource" {
                    @let r = value("filter_resource", resource);
                    option value="" selected[r.is_empty()] { "All" }
                    option value="image" selected[r == "image"] { "Images only" }
                }
                label for="rule_namespace" { "Destination namespace (empty: as at the source)" }
                input #rule_namespace name="dest_namespace" value=(value("dest_namespace", p.map(|p| p.dest_namespace.clone()).unwrap_or_default()));
                label for="rule_replace" { "Flattening" }
                select #rule_replace name="replace_count" {
                    @for (n, label) in [("-1", "Flatten all levels"), ("0", "No flattening"), ("1", "Flatten 1 level"), ("2", "Flatten 2 levels"), ("3", "Flatten 3 levels")] {
                        option value=(n) selected[replace == n] { (label) }
                    }
                }
                label for="rule_trigger" { "Trigger" }
                select #rule_trigger name="trigger" {
                    @for (t, label) in [("manual", "Manual"), ("scheduled", "Scheduled"), ("event_based", "Event based (pushes and deletions here)")] {
                        option value=(t) selected[trigger == t] { (label) }
                    }
                }
                label for="rule_cron" { "Cron, when scheduled (seconds first: 0 0 3 * * *)" }
                input #rule_cron name="cron" value=(value("cron", p.map(|p| p.trigger_cron.clone()).unwrap_or_default()));
                label for="rule_speed" { "Speed limit per task (KB/s; 0 for none)" }
                input #rule_speed name="speed" inputmode="numeric" value=(value("speed", p.map_or(0, |p| p.speed).to_string()));
                label.check { input type="checkbox" name="override" checked[tick("override", p.is_some_and(|p| p.override_))]; "Override tags the destination has for other artifacts" }
                label.check { input type="checkbox" name="deletion" checked[tick("deletion", p.is_some_and(|p| p.replicate_deletion))]; "Replicate deletions" }
                label.check { input type="checkbox" name="copy_by_chunk" checked[tick("copy_by_chunk", p.is_some_and(|p| p.copy_by_chunk))]; "Copy blobs in chunks" }
                label.check { input type="checkbox" name="single_active" checked[tick("single_active", p.is_some_and(|p| p.single_active))]; "Skip a run while the last one goes on" }
                label.check { input type="checkbox" name="enabled" checked[tick("enabled", p.is_none_or(|p| p.enabled))]; "Enabled" }
                @if !v.read_only {
                    p { @match p {
                        Some(_) => button type="submit" name="action" value="save" { "Save" },
                        None => button type="submit" name="action" value="add" { "Add rule" },
                    } }
                }
            }
        }
    }
}

/// The rule a form describes.
fn spec_of(form: &Form) -> PolicySpec {
    let registry = form.get("registry").parse().unwrap_or(0);
    let text = |kind: &str, value: &str, decoration: &str| FilterSpec {
        kind: kind.into(),
        value: value.trim().into(),
        decoration: decoration.into(),
    };
    let mut filters = Vec::new();
    if !form.get("filter_name").trim().is_empty() {
        filters.push(text("name", form.get("filter_name"), ""));
    }
    if !form.get("filter_tag").trim().is_empty() {
        let decoration = form.get("tag_decoration");
        filters.push(text("tag", form.get("filter_tag"), decoration));
    }
    if !form.get("filter_resource").is_empty() {
        filters.push(text("resource", form.get("filter_resource"), ""));
    }
    let pulling = form.get("mode") == "pull";
    PolicySpec {
        name: form.get("name").into(),
        description: form.get("description").into(),
        src_registry_id: if pulling { registry } else { 0 },
        dest_registry_id: if pulling { 0 } else { registry },
        dest_namespace: form.get("dest_namespace").trim().into(),
        dest_namespace_replace_count: form.get("replace_count").parse().ok(),
        filters,
        trigger_type: form.get("trigger").into(),
        cron: form.get("cron").into(),
        replicate_deletion: form.checked("deletion"),
        override_: form.checked("override"),
        enabled: form.checked("enabled"),
        speed: form.get("speed").trim().parse().ok(),
        copy_by_chunk: Some(form.checked("copy_by_chunk")),
        single_active: Some(form.checked("single_active")),
    }
}

/// The rule as stored, as a client would write it again.
fn spec_from(p: &Policy) -> PolicySpec {
    PolicySpec {
        name: p.name.clone(),
        description: p.description.clone(),
        src_registry_id: p.src_registry_id,
        dest_registry_id: p.dest_registry_id,
        dest_namespace: p.dest_namespace.clone(),
        dest_namespace_replace_count: Some(p.dest_namespace_replace_count),
        filters: filter_specs(p),
        trigger_type: p.trigger_type.clone(),
        cron: p.trigger_cron.clone(),
        replicate_deletion: p.replicate_deletion,
        override_: p.override_,
        enabled: p.enabled,
        speed: Some(p.speed),
        copy_by_chunk: Some(p.copy_by_chunk),
        single_active: Some(p.single_active),
    }
}

async fn act(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let r = &state.replication;
    let id = form.get("id").parse::<i64>().unwrap_or(0);
    let ctx = &v.ctx;
    let switch = |on: bool| async move {
        let stored: PolicyView = r.get(ctx, id).await?;
        let spec = PolicySpec {
            enabled: on,
            ..spec_from(&stored.policy)
        };
        r.update(ctx, id, &spec).await?;
        let state = if on { "enabled" } else { "disabled" };
        Ok(format!("The rule {} was {state}.", stored.policy.name))
    };
    let result = match form.get("action") {
        "add" => {
            let spec = spec_of(&form);
            let added = r.create(&v.ctx, &spec).await;
            return outcome_keeping(
                HERE,
                added.map(|_| format!("The rule {} was added.", spec.name.trim())),
                &form,
            );
        }
        "run" => (r.start(&v.ctx, id).await).map(|run| format!("Run {run} started.")),
        "enable" => switch(true).await,
        "disable" => switch(false).await,
        "delete" => {
            (r.delete(&v.ctx, id).await).map(|p| format!("The rule {} was deleted.", p.name))
        }
        _ => Err(CoreError::BadRequest("unknown action".into())),
    };
    outcome(HERE, result)
}

async fn edit(S(state): S<State>, v: Viewer, Path(id): Path<i64>) -> Response {
    let everything = Filter::default();
    let found = async {
        let rule = state.replication.get(&v.ctx, id).await?;
        let (endpoints, _) = state.registries.list(&v.ctx, &everything, 0, 100).await?;
        Ok::<_, CoreError>((rule, endpoints))
    };
    let (rule, endpoints) = match found.await {
        Ok(f) => f,
        Err(e) => return refusal(&v, &e),
    };
    let p = &rule.policy;
    let body = html! {
        p.crumbs { a href=(HERE) { "Replications" } " /" }
        h1 { (p.name) }
        p.muted { "Created by " (p.creator) "." }
        (rule_form(&v, &format!("{HERE}/{id}"), Some(p), &endpoints))
    };
    page(&v, &p.name, body)
}

async fn change(S(state): S<State>, Path(id): Path<i64>, Posted(v, form): Posted) -> Response {
    let to = format!("{HERE}/{id}");
    let saved = state.replication.update(&v.ctx, id, &spec_of(&form)).await;
    outcome_keeping(&to, saved.map(|()| "The rule was saved.".into()), &form)
}

async fn run(S(state): S<State>, v: Viewer, Path(id): Path<i64>) -> Response {
    let r = &state.replication;
    let found = async {
        let run = r.execution(&v.ctx, id).await?;
        let (tasks, _) = r.tasks(&v.ctx, id, None, None, 0, 1000).await?;
        Ok::<_, CoreError>((run, tasks))
    };
    let (run, tasks) = match found.await {
        Ok(f) => f,
        Err(e) => return refusal(&v, &e),
    };
    let e = &run.execution;
    let body = html! {
        p.crumbs { a href=(HERE) { "Replications" } " /" }
        h1 { "Run " (id) }
        p { "Rule " a href=(format!("{HERE}/{}", e.vendor_id)) { (e.vendor_id) } ", " (e.trigger)
            ", started " (minutes(e.start_time)) ". Status: " strong.status { (e.status) }
            @if !e.status_message.is_empty() { " (" (e.status_message) ")" } }
        p { (run.succeed) " of " (run.total) " artifacts done, " (run.failed) " failed, "
            (run.in_progress) " in progress, " (run.stopped) " stopped." }
        @if e.end_time.is_none() && !v.read_only {
            form.inline method="post" action=(format!("{HERE}/executions/{id}")) {
                (csrf_field(&v))
                button.danger type="submit" { "Stop" }
            }
        }
        @if tasks.is_empty() {
            p.empty { "No artifact to replicate yet. Reload in a moment." }
        } @else {
            div.scroll { table.tasks {
                (head(&[Col::Plain("Artifact"), Col::Wide("Destination"), Col::Plain("Status"), Col::Wide("Operation"), Col::Plain("Log")]))
                tbody {
                    @for t in &tasks {
                        tr {
                            td { code { (t.work.resource(&t.work.src_repo)) } }
                            td.wide { code { (t.work.resource(&t.work.dst_repo)) } }
                            td.status { (t.task.status) }
                            td.wide { (t.work.operation) }
                            td { a href=(format!("{HERE}/executions/{id}/tasks/{}/log", t.task.id)) { "Log" } }
                        }
                    }
                }
            } }
        }
    };
    page(&v, &format!("Run {id}"), body)
}

async fn stop(S(state): S<State>, Path(id): Path<i64>, Posted(v, _): Posted) -> Response {
    let stopped = state.replication.stop(&v.ctx, id).await;
    let to = format!("{HERE}/executions/{id}");
    outcome(&to, stopped.map(|()| format!("Run {id} is stopping.")))
}

async fn task_log(S(state): S<State>, v: Viewer, Path((id, task)): Path<(i64, i64)>) -> Response {
    let log = match state.replication.task_log(&v.ctx, id, task).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let body = html! {
        p.crumbs { a href=(HERE) { "Replications" } " / " a href=(format!("{HERE}/executions/{id}")) { "Run " (id) } " /" }
        h1 { "Log of task " (task) }
        @if log.is_empty() { p.empty { "The task has not written anything yet. Reload in a moment." } }
        @else { pre.log { (log) } }
    };
    page(&v, &format!("Log of task {task}"), body)
}
