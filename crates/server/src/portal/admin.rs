//! Administration: garbage collection, the audit log, job queues and
//! system settings.

use super::projects::{counted, minutes, pager};
use super::Col::{Plain, Wide};
use super::Listing;
use super::{csrf_field, form_set, head, outcome, outcome_tried, page, refusal, Posted, Viewer};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_core::gc::GcParams;
use berth_core::jobs::{Execution, Pool, Queue, Schedule};
use berth_core::CoreError;
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
        .route("/harbor/configs/ldap-ping", post(ldap_ping))
        .route("/harbor/configs/oidc-ping", post(oidc_ping))
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
                label for="auth_mode" { "Auth mode" }
                @let mode = value("auth_mode");
                @let mode_fixed = !all.get("auth_mode").is_some_and(|i| i.editable);
                select #auth_mode name="auth_mode" disabled[mode_fixed] {
                    option value="db_auth" selected[mode == "db_auth"] { "Database" }
                    option value="ldap_auth" selected[mode == "ldap_auth"] { "LDAP" }
                    option value="oidc_auth" selected[mode == "oidc_auth"] { "OIDC" }
                    option value="uaa_auth" selected[mode == "uaa_auth"] { "UAA" }
                }
                @if mode_fixed {
                    p.hint { "Fixed: users other than the first administrator exist." }
                }
                label { input type="checkbox" name="self_registration" checked[on("self_registration")]; "Allow self-registration" }
                label for="token_expiration" { "Token expiration (minutes)" }
                input #token_expiration type="text" inputmode="numeric" name="token_expiration"
                    value=(value("token_expiration"));
            }
            (ldap_fields(&v, &value))
            (oidc_fields(&v, &value))
            (uaa_fields(&v, &value))
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
            fieldset {
                legend { "Quotas" }
                label { input type="checkbox" name="quota_per_project_enable" checked[on("quota_per_project_enable")];
                    "Enforce project storage limits" }
                label for="storage_per_project" { "Default storage limit of a new project" }
                @let default = value("storage_per_project").as_i64().unwrap_or(-1);
                input #storage_per_project type="text" name="storage_per_project"
                    value=(v.typed("storage_per_project", &super::quotas::limit_text(default)))
                    aria-describedby="storage_per_project_help";
                p #storage_per_project_help .muted { "Such as 500 MiB or 2 GiB; -1 for unlimited." }
            }
            p {
                button type="submit" { "Save" } " "
                button.secondary type="submit" formaction="/harbor/configs/ldap-ping" { "Test LDAP connection" } " "
                button.secondary type="submit" formaction="/harbor/configs/oidc-ping" { "Test OIDC provider" }
            }
        }
    };
    page(&v, "Configuration", body)
}

/// The LDAP settings (`ldap_*`) that are text, with their labels.
const LDAP_TEXT: &[(&str, &str)] = &[
    ("ldap_url", "LDAP URL (ldap:// or ldaps://)"),
    ("ldap_search_dn", "Search DN"),
    ("ldap_base_dn", "Base DN"),
    ("ldap_filter", "Filter"),
    ("ldap_uid", "UID attribute"),
    ("ldap_timeout", "Timeout (seconds)"),
    ("ldap_group_base_dn", "Group base DN"),
    ("ldap_group_search_filter", "Group filter"),
    ("ldap_group_attribute_name", "Group GID attribute"),
    ("ldap_group_admin_dn", "Group admin DN"),
    (
        "ldap_group_membership_attribute",
        "Group membership attribute",
    ),
];
/// The LDAP search scopes, by Harbor's numbers.
const LDAP_SCOPES: &[(&str, &str)] = &[("0", "Base"), ("1", "One level"), ("2", "Subtree")];

/// A setting as the form shows it: as typed when the form comes back
/// with an error, else as stored.
fn shown(v: &Viewer, value: &dyn Fn(&str) -> serde_json::Value, k: &str) -> String {
    let stored = match value(k) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    v.typed(k, &stored).to_string()
}

/// The LDAP settings (the form's second button tries them unsaved).
fn ldap_fields(v: &Viewer, value: &dyn Fn(&str) -> serde_json::Value) -> Markup {
    let text = |k: &str| shown(v, value, k);
    let ticked = |k: &str| v.ticked(k, "on", value(k) == true);
    let scope = |key: &str| {
        html! {
            select #(key) name=(key) {
                @for (n, label) in LDAP_SCOPES {
                    option value=(n) selected[text(key) == *n] { (label) }
                }
            }
        }
    };
    html! {
        fieldset {
            legend { "LDAP" }
            @for (key, label) in LDAP_TEXT {
                label for=(key) { (label) }
                input id=(key) type="text" name=(key) value=(text(key));
            }
            label for="ldap_search_password" { "Search password (left empty: unchanged)" }
            input #ldap_search_password type="password" name="ldap_search_password" autocomplete="off";
            label for="ldap_scope" { "Search scope" }
            (scope("ldap_scope"))
            label for="ldap_group_search_scope" { "Group search scope" }
            (scope("ldap_group_search_scope"))
            label { input type="checkbox" name="ldap_start_tls" checked[ticked("ldap_start_tls")]; "StartTLS on ldap://" }
            label { input type="checkbox" name="ldap_verify_cert" checked[ticked("ldap_verify_cert")]; "Verify the server's certificate" }
            label { input type="checkbox" name="ldap_nested_groups" checked[ticked("ldap_nested_groups")]; "Nested groups: the groups a user's groups belong to count too" }
        }
    }
}

/// The OIDC settings (`oidc_*`) that are text, with their labels.
const OIDC_TEXT: &[(&str, &str)] = &[
    ("oidc_name", "Provider name (on the sign-in button)"),
    ("oidc_endpoint", "Provider endpoint (its issuer URL)"),
    ("oidc_client_id", "Client ID"),
    ("oidc_scope", "Scopes (comma-separated)"),
    ("oidc_groups_claim", "Groups claim"),
    ("oidc_admin_group", "Admin group"),
    ("oidc_group_filter", "Group filter (regular expression)"),
    ("oidc_user_claim", "Username claim (empty: name)"),
    (
        "oidc_extra_redirect_parms",
        "Extra authorization parameters (JSON object)",
    ),
];
/// The OIDC settings that are switches, with their labels.
const OIDC_SWITCHES: &[(&str, &str)] = &[
    ("oidc_verify_cert", "Verify the provider's certificate"),
    (
        "oidc_auto_onboard",
        "On-board new users automatically (username from the claim)",
    ),
    ("oidc_logout", "Signing out also signs out at the provider"),
];

/// The OIDC settings; this server's callback URL is the redirect URI to
/// register with the provider.
fn oidc_fields(v: &Viewer, value: &dyn Fn(&str) -> serde_json::Value) -> Markup {
    html! {
        fieldset {
            legend { "OIDC" }
            @for (key, label) in OIDC_TEXT {
                label for=(key) { (label) }
                input id=(key) type="text" name=(key) value=(shown(v, value, key));
            }
            label for="oidc_client_secret" { "Client secret (left empty: unchanged)" }
            input #oidc_client_secret type="password" name="oidc_client_secret" autocomplete="off";
            @for (key, label) in OIDC_SWITCHES {
                label { input type="checkbox" name=(key) checked[v.ticked(key, "on", value(key) == true)]; (label) }
            }
        }
    }
}

/// The OIDC settings a configuration form gives.
fn oidc_changes(form: &super::Form) -> Vec<(String, serde_json::Value)> {
    let text = OIDC_TEXT.iter().map(|(k, _)| *k);
    let switches = OIDC_SWITCHES.iter().map(|(k, _)| *k);
    section_changes(form, text, switches, "oidc_client_secret")
}

/// The UAA settings: the server checks passwords by the OAuth2 password
/// grant.
fn uaa_fields(v: &Viewer, value: &dyn Fn(&str) -> serde_json::Value) -> Markup {
    html! {
        fieldset {
            legend { "UAA" }
            label for="uaa_endpoint" { "UAA endpoint" }
            input #uaa_endpoint type="text" name="uaa_endpoint" value=(shown(v, value, "uaa_endpoint"));
            label for="uaa_client_id" { "Client ID" }
            input #uaa_client_id type="text" name="uaa_client_id" value=(shown(v, value, "uaa_client_id"));
            label for="uaa_client_secret" { "Client secret (left empty: unchanged)" }
            input #uaa_client_secret type="password" name="uaa_client_secret" autocomplete="off";
            label { input type="checkbox" name="uaa_verify_cert" checked[v.ticked("uaa_verify_cert", "on", value("uaa_verify_cert") == true)]; "Verify the server's certificate" }
        }
    }
}

/// The UAA settings a configuration form gives.
fn uaa_changes(form: &super::Form) -> Vec<(String, serde_json::Value)> {
    let text = ["uaa_endpoint", "uaa_client_id"];
    section_changes(form, text, ["uaa_verify_cert"], "uaa_client_secret")
}

/// Tries the provider endpoint of the configuration form (nothing is saved).
pub async fn oidc_ping(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let url = form.get("oidc_endpoint").trim();
    let result = (state.iam)
        .oidc_ping(&v.ctx, url, form.checked("oidc_verify_cert"))
        .await
        .map(|()| format!("The OIDC provider at {url} answered with its discovery document."));
    outcome_tried("/harbor/configs", result, &form)
}

/// A section's settings as a configuration form gives them: text as
/// typed, switches as ticked, the secret only when one was typed.
fn section_changes<'a>(
    form: &super::Form,
    text: impl IntoIterator<Item = &'a str>,
    switches: impl IntoIterator<Item = &'a str>,
    secret: &str,
) -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<(String, serde_json::Value)> = (text.into_iter())
        .map(|k| (k.to_string(), form.get(k).trim().into()))
        .collect();
    out.extend(
        switches
            .into_iter()
            .map(|k| (k.to_string(), form.checked(k).into())),
    );
    if !form.get(secret).is_empty() {
        out.push((secret.to_string(), form.get(secret).into()));
    }
    out
}

/// The LDAP settings a configuration form gives.
fn ldap_changes(form: &super::Form) -> Vec<(String, serde_json::Value)> {
    let text = LDAP_TEXT.iter().map(|(k, _)| *k);
    let scopes = ["ldap_scope", "ldap_group_search_scope"];
    let switches = ["ldap_start_tls", "ldap_verify_cert", "ldap_nested_groups"];
    section_changes(form, text.chain(scopes), switches, "ldap_search_password")
}

/// Tries the LDAP settings of the configuration form (nothing is saved).
pub async fn ldap_ping(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let text = |k: &str| form.get(k).trim().to_string();
    let given = berth_core::iam::ldap::LdapSettings {
        url: text("ldap_url"),
        start_tls: form.checked("ldap_start_tls"),
        search_dn: text("ldap_search_dn"),
        search_password: form.get("ldap_search_password").to_string(),
        base_dn: text("ldap_base_dn"),
        filter: text("ldap_filter"),
        uid: text("ldap_uid"),
        scope: text("ldap_scope").parse().unwrap_or(2),
        timeout_secs: text("ldap_timeout").parse().unwrap_or(0),
        verify_cert: form.checked("ldap_verify_cert"),
        ..Default::default()
    };
    let result = match state.iam.ldap_ping(&v.ctx, given).await {
        Ok(Ok(())) => Ok("The LDAP server answered and the search DN signed in.".to_string()),
        Ok(Err(why)) => Err(CoreError::BadRequest(format!(
            "LDAP connection failed: {why}"
        ))),
        Err(e) => Err(e),
    };
    outcome_tried("/harbor/configs", result, &form)
}

pub async fn configure(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let mut changes: BTreeMap<String, serde_json::Value> = [
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
    match super::quotas::parse_limit(form.get("storage_per_project")) {
        Ok(limit) => changes.insert("storage_per_project".into(), limit.into()),
        Err(e) => return outcome("/harbor/configs", Err(e)),
    };
    changes.insert(
        "quota_per_project_enable".into(),
        form.checked("quota_per_project_enable").into(),
    );
    // A fixed mode is not in the form (its select is disabled).
    if !form.get("auth_mode").is_empty() {
        changes.insert("auth_mode".into(), form.get("auth_mode").into());
    }
    changes.extend(ldap_changes(&form));
    changes.extend(oidc_changes(&form));
    changes.extend(uaa_changes(&form));
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
