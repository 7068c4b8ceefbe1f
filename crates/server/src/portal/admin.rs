//! Administration: garbage collection, the audit log, job queues and
//! system settings.

use super::projects::{counted, minutes, pager};
use super::Col::{Plain, Wide};
use super::Listing;
use super::{csrf_field, form_set, head, outcome, page, refusal, Posted, Viewer};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::gc::GcParams;
use berth_core::jobs::{Execution, Pool, Queue, Schedule};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// Runs per page.
const PAGE: i64 = 15;

pub fn router() -> Router<State> {
    Router::new()
        .route("/harbor/gc", get(gc).post(gc_act))
        .route("/harbor/gc/{id}/log", get(gc_log))
        .route("/harbor/logs", get(logs))
        .route("/harbor/configs", get(configs).post(configure))
        .route(
            "/harbor/job-service-dashboard",
            get(job_queues).post(act_on_queue),
        )
}

/// The schedule types Harbor offers.
const CRON_TYPES: &[&str] = &["None", "Hourly", "Daily", "Weekly", "Custom"];

pub async fn gc(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    let runs = state.gc.runs();
    let (history, total) = match runs.history(&v.ctx, list.offset(PAGE), PAGE).await {
        Ok(x) => x,
        Err(e) => return refusal(&v, &e),
    };
    let schedule = runs.schedule(&v.ctx).await.ok().flatten();
    let body = html! {
        h1 { "Garbage collection" }
        p.muted { "Deletes blobs and manifests no tag or manifest refers to any more. Pushes and pulls go on meanwhile." }
        (run_form(&v))
        (schedule_form(&v, schedule.as_ref()))
        h2 { "History" }
        (gc_history(&history, total, list.page))
    };
    page(&v, "Garbage collection", body)
}

/// A run now, with Harbor's default parameters to start from.
fn run_form(v: &Viewer) -> Markup {
    form_set(
        v,
        "/harbor/gc",
        "Run now",
        html! {
            (gc_fields("run", &GcParams::default()))
            p {
                button type="submit" name="action" value="run" { "Run GC now" } " "
                button.secondary type="submit" name="action" value="dry-run" { "Dry run" }
            }
        },
    )
}

/// The schedule, with the parameters its runs use (a dry run is not
/// schedulable), and what the next run will do.
fn schedule_form(v: &Viewer, schedule: Option<&Schedule>) -> Markup {
    let cron_type = schedule.map_or("None", |s| s.cron_type.as_str());
    let params: GcParams = schedule
        .and_then(|s| serde_json::from_str(&s.params).ok())
        .unwrap_or_default();
    form_set(
        v,
        "/harbor/gc",
        "Schedule",
        html! {
            label for="cron_type" { "Repeat" }
            select #cron_type name="cron_type" {
                @for t in CRON_TYPES { option value=(t) selected[*t == cron_type] { (t) } }
            }
            label for="cron" { "Custom cron (6 fields, seconds first)" }
            input #cron type="text" name="cron" value=(schedule.map_or("", |s| s.cron.as_str()));
            (gc_fields("schedule", &params))
            @if let Some(s) = schedule.filter(|s| s.cron_type != "None") {
                p.muted.scheduled {
                    "Next run: " (minutes(s.next_run_at)) ". It deletes what nothing refers to"
                    @if params.delete_untagged { " and every untagged artifact" }
                    ", with " (params.workers) " worker(s), sparing anything touched in the last "
                    (params.time_window) " hour(s)."
                }
            }
            p { button.secondary type="submit" name="action" value="schedule" { "Save schedule" } }
        },
    )
}

/// The parameters of a collection, with ids under `prefix`.
fn gc_fields(prefix: &str, params: &GcParams) -> Markup {
    html! {
        label { input type="checkbox" name="delete_untagged" checked[params.delete_untagged]; "Also delete untagged artifacts" }
        label for={ (prefix) "_workers" } { "Workers" }
        select id={ (prefix) "_workers" } name="workers" {
            @for n in 1..=5 { option value=(n) selected[n == params.workers] { (n) } }
        }
        label for={ (prefix) "_time_window" } { "Spare anything touched in the last (hours)" }
        input id={ (prefix) "_time_window" } type="text" inputmode="numeric" name="time_window" value=(params.time_window);
    }
}

/// A page of past runs, newest first.
fn gc_history(history: &[Execution], total: i64, page_no: i64) -> Markup {
    html! {
        @if history.is_empty() {
            p.empty { "Garbage collection has not run yet." }
        } @else {
            table.runs {
                (counted(total, "run", "runs"))
                (head(&[Plain("Run"), Plain("Trigger"), Plain("Status"), Wide("Started"), Wide("Ended"), Plain("Log")]))
                tbody {
                    @for e in history {
                        tr {
                            td { (e.id) @if e.extra_attrs.contains("\"dry_run\":true") { " (dry run)" } }
                            td { (e.trigger) }
                            td.status { (e.status) }
                            td.wide { (minutes(e.start_time)) }
                            td.wide { @match e.end_time { Some(t) => (minutes(t)), None => "—" } }
                            td { a href={ "/harbor/gc/" (e.id) "/log" } { "Log of run " (e.id) } }
                        }
                    }
                }
            }
            (pager("/harbor/gc", &[], page_no, PAGE, total))
        }
    }
}

pub async fn gc_act(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let params = GcParams {
        delete_untagged: form.checked("delete_untagged"),
        dry_run: form.get("action") == "dry-run",
        workers: form.get("workers").parse().unwrap_or(1),
        time_window: form.get("time_window").trim().parse().unwrap_or(-1),
    };
    let runs = state.gc.runs();
    let result = if form.get("action") == "schedule" {
        let cron = Some(form.get("cron").trim()).filter(|c| !c.is_empty());
        runs.set_schedule(&v.ctx, form.get("cron_type"), cron, &params)
            .await
            .map(|()| "The schedule was saved.".to_string())
    } else {
        runs.start(&v.ctx, &params).await.map(|id| {
            let what = if params.dry_run {
                "Dry run"
            } else {
                "Garbage collection"
            };
            format!("{what} {id} started.")
        })
    };
    outcome("/harbor/gc", result)
}

pub async fn gc_log(S(state): S<State>, v: Viewer, Path(id): Path<i64>) -> Response {
    let runs = state.gc.runs();
    let (run, log) = match (runs.get(&v.ctx, id).await, runs.log(&v.ctx, id).await) {
        (Ok(run), Ok(log)) => (run, log),
        (Err(e), _) | (_, Err(e)) => return refusal(&v, &e),
    };
    let body = html! {
        p.crumbs { a href="/harbor/gc" { "Garbage collection" } " /" }
        h1 { "Log of run " (id) }
        p { "Status: " strong.status { (run.status) } }
        @if log.is_empty() { p.empty { "The run has not written anything yet. Reload in a moment." } }
        @else { pre.log { (log) } }
    };
    page(&v, &format!("GC run {id}"), body)
}

pub async fn logs(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    let table = super::logs::table(&state, &v, None, &list, "/harbor/logs").await;
    let body = html! { h1 { "Audit log" } (table) };
    page(&v, "Audit log", body)
}

pub async fn configs(S(state): S<State>, v: Viewer) -> Response {
    let all = match state.configurations.all(&v.ctx).await {
        Ok(all) => all,
        Err(e) => return refusal(&v, &e),
    };
    let value = |k: &str| all.get(k).map(|i| i.value.clone()).unwrap_or_default();
    let on = |k: &str| value(k).as_bool().unwrap_or(false);
    let restriction = value("project_creation_restriction");
    let body = html! {
        h1 { "Configuration" }
        form method="post" action="/harbor/configs" {
            (csrf_field(&v))
            fieldset {
                legend { "Authentication" }
                p { "Auth mode: " strong { (value("auth_mode").as_str().unwrap_or("db_auth")) } " (fixed)" }
                label { input type="checkbox" name="self_registration" checked[on("self_registration")]; "Allow self-registration" }
                label for="token_expiration" { "Token expiration (minutes)" }
                input #token_expiration type="text" inputmode="numeric" name="token_expiration"
                    value=(value("token_expiration"));
            }
            fieldset {
                legend { "System" }
                label for="project_creation_restriction" { "Who may create projects" }
                select #project_creation_restriction name="project_creation_restriction" {
                    option value="everyone" selected[restriction == "everyone"] { "Everyone" }
                    option value="adminonly" selected[restriction == "adminonly"] { "Administrators only" }
                }
                label { input type="checkbox" name="read_only" checked[on("read_only")];
                    "Read only: refuse every push, deletion and change" }
                label { input type="checkbox" name="notification_enable" checked[on("notification_enable")];
                    "Send webhook notifications" }
            }
            p { button type="submit" { "Save" } }
        }
    };
    page(&v, "Configuration", body)
}

pub async fn configure(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let changes: BTreeMap<String, serde_json::Value> = [
        (
            "self_registration",
            form.checked("self_registration").into(),
        ),
        ("read_only", form.checked("read_only").into()),
        (
            "notification_enable",
            form.checked("notification_enable").into(),
        ),
        (
            "token_expiration",
            form.get("token_expiration").trim().into(),
        ),
        (
            "project_creation_restriction",
            form.get("project_creation_restriction").into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let result = state.configurations.update(&v.ctx, &changes).await;
    outcome(
        "/harbor/configs",
        result.map(|()| "The configuration was saved.".into()),
    )
}

pub async fn job_queues(S(state): S<State>, v: Viewer) -> Response {
    let (queues, pools) = match (
        state.jobs.queues(&v.ctx).await,
        state.jobs.pools(&v.ctx).await,
    ) {
        (Ok(q), Ok(p)) => (q, p),
        (Err(e), _) | (_, Err(e)) => return refusal(&v, &e),
    };
    let body = html! {
        h1 { "Job queues" }
        (queue_table(&v, &queues))
        h2 { "Worker pools" }
        (pool_table(&pools))
    };
    page(&v, "Job queues", body)
}

/// Each job type's queue, with pause/resume and stop-all buttons.
fn queue_table(v: &Viewer, queues: &[Queue]) -> Markup {
    html! {
        @if queues.is_empty() {
            p.empty { "No job is waiting and no queue is paused." }
        } @else {
            table.queues {
                (head(&[Plain("Job type"), Plain("Pending"), Plain("Oldest waiting"), Plain("Status"), Plain("Actions")]))
                tbody {
                    @for q in queues {
                        tr {
                            td { (q.job_type) }
                            td { (q.count) }
                            td { (q.latency / 1000) " s" }
                            td { @if q.paused { "Paused" } @else { "Running" } }
                            td {
                                @if !v.read_only {
                                form.inline method="post" action="/harbor/job-service-dashboard" {
                                    (csrf_field(v))
                                    input type="hidden" name="job_type" value=(q.job_type);
                                    @if q.paused {
                                        button.secondary type="submit" name="action" value="resume" { "Resume" }
                                    } @else {
                                        button.secondary type="submit" name="action" value="pause" { "Pause" }
                                    }
                                }
                                form.inline method="post" action="/harbor/job-service-dashboard"
                                    data-confirm={ "Stop every pending and running " (q.job_type) " job?" } {
                                    (csrf_field(v))
                                    input type="hidden" name="job_type" value=(q.job_type);
                                    button.danger type="submit" name="action" value="stop" { "Stop all" }
                                }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The worker pools running jobs, with their heartbeats.
fn pool_table(pools: &[Pool]) -> Markup {
    html! {
        table.pools {
            (head(&[Plain("Pool"), Plain("Host"), Plain("Workers"), Wide("Started"), Wide("Last heartbeat")]))
            tbody {
                @for p in pools {
                    tr {
                        td { code { (p.id) } }
                        td { (p.host) " (pid " (p.pid) ")" }
                        td { (p.concurrency) }
                        td.wide { (minutes(p.start_at)) }
                        td.wide { (minutes(p.heartbeat_at)) }
                    }
                }
            }
        }
    }
}

pub async fn act_on_queue(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let (job_type, action) = (form.get("job_type"), form.get("action"));
    let to = "/harbor/job-service-dashboard";
    outcome(
        to,
        state
            .jobs
            .act_on_queue(&v.ctx, job_type, action)
            .await
            .map(|()| format!("{job_type}: {action} done.")),
    )
}
