//! The administrators' security page (Harbor's interrogation services):
//! the scanners registered (and the default), the vulnerability database
//! the built-in scanner uses, and the system's CVE allowlist.

use super::{csrf_field, outcome, page, refusal, Posted, Viewer};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::project::allowlist::{AllowlistChange, CveAllowlist};
use berth_core::scan::scanners::{RegistrationRequest, Scanner};
use maud::{html, Markup};

const HERE: &str = "/harbor/interrogation-services";

pub fn router() -> Router<State> {
    Router::new().route(HERE, get(show).post(save))
}

pub async fn show(S(state): S<State>, v: Viewer) -> Response {
    let list = match state.projects.system_allowlist(&v.ctx).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    if !berth_core::iam::rbac::administers(&v.ctx) {
        return refusal(&v, &berth_core::CoreError::Forbidden("forbidden".into()));
    }
    let db = state.scans.vulndb().status().await;
    let refresh = state.scans.vulndb().last_refresh().await.ok().flatten();
    let everything = berth_core::query::Filter::default();
    let scanners = state
        .scans
        .scanners()
        .list(&v.ctx, &everything, 0, 100)
        .await;
    let body = html! {
        h1 { "Interrogation services" }
        h2 { "Scanners" }
        @match &scanners {
            Ok((list, _)) => (scanner_table(&v, &state.external_url, list)),
            Err(e) => p.notice.err { (super::message(e)) },
        }
        (scanner_form(&v))
        h2 { "Vulnerability database" }
        @match db {
            Ok(db) => dl.facts.vulndb {
                dt { "Scanner" } dd { "Berth (built in)" }
                dt { "Advisories" } dd { (db.advisories) }
                dt { "Updated" } dd {
                    @match db.updated_at {
                        Some(t) => { (super::projects::minutes(t)) " (" (age(t)) ")" }
                        None => span.muted { "never: the scanner finds nothing until advisories are imported" },
                    }
                }
                @if let Some(source) = &db.source { dt { "From" } dd { code { (source) } } }
                @if let Some(r) = &refresh {
                    dt { "Last refresh" } dd.refresh {
                        (r.status) " " (super::projects::minutes(r.start_time))
                        @if !r.status_message.is_empty() { ": " (r.status_message) }
                    }
                }
            },
            Err(e) => p.notice.err { (super::message(&e)) },
        }
        p.muted {
            "Import OSV advisories (osv.dev's per-ecosystem all.zip, or a folder of OSV JSON files) with "
            code { "berth vulndb import FILE" } ", or have Berth download them on a schedule ("
            code { "--vulndb-urls" } ", " code { "--vulndb-refresh-cron" } "); a newer import replaces what it names."
        }
        (allowlist_form(&v, HERE, &list, "Let these CVEs through vulnerability prevention in \
            every project that uses the system's allowlist."))
    };
    page(&v, "Interrogation services", body)
}

/// The registered scanners, with what may be done to each.
fn scanner_table(v: &Viewer, external_url: &str, list: &[Scanner]) -> Markup {
    html! {
        div.scroll { table.scanners {
            thead { tr { th { "Name" } th.wide { "Endpoint" } th { "Health" } th.wide { "Enabled" } th { "Default" } th {} } }
            tbody {
                @for s in list {
                    @let r = &s.registration;
                    tr {
                        td { (r.name) @if !r.description.is_empty() { br; span.muted { (r.description) } } }
                        td.wide { @if s.is_builtin() { span.muted { "built in" } } @else { code { (r.url) } } }
                        td { span class=(s.health()) { (s.health()) }
                            @if let Err(why) = &s.metadata { br; span.muted { (why) } } }
                        td.wide { @if r.disabled { "no" } @else { "yes" } }
                        td { @if r.is_default { "default" } }
                        td {
                            @if !v.read_only && !r.is_default && !r.disabled {
                                (scanner_button(v, &r.uuid, "scanner-default", "Set as default"))
                            }
                            @if !v.read_only && !r.immutable {
                                (scanner_button(v, &r.uuid, "scanner-delete", "Delete"))
                            }
                        }
                    }
                }
            }
        } }
        p.muted {
            "Berth's own scanner is also served to other registries as a pluggable scanner adapter at "
            code { (external_url) "/scanner-adapter" } " (basic auth as an administrator)."
        }
    }
}

fn scanner_button(v: &Viewer, uuid: &str, action: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action=(HERE) {
            (csrf_field(v))
            input type="hidden" name="uuid" value=(uuid);
            button.secondary type="submit" name="action" value=(action) { (label) }
        }
    }
}

/// Registering a scanner adapter (Harbor's pluggable scanner API).
fn scanner_form(v: &Viewer) -> Markup {
    html! {
        form method="post" action=(HERE) {
            (csrf_field(v))
            fieldset disabled[v.read_only] {
                legend { "Add a scanner" }
                label for="scanner_name" { "Name" }
                input #scanner_name name="name" required;
                label for="scanner_description" { "Description" }
                input #scanner_description name="description";
                label for="scanner_url" { "Adapter URL" }
                input #scanner_url name="url" type="url" required placeholder="http://harbor-scanner-trivy:8080";
                label for="scanner_auth" { "Authorization" }
                select #scanner_auth name="auth" {
                    option value="" { "None" }
                    option value="Basic" { "Basic (user:password)" }
                    option value="Bearer" { "Bearer token" }
                    option value="APIKey" { "API key (X-ScannerAdapter-API-Key)" }
                }
                label for="scanner_credential" { "Credential" }
                input #scanner_credential name="access_credential" type="password" autocomplete="off";
                label.check { input type="checkbox" name="skip_cert_verify"; "Skip certificate verification" }
                label.check { input type="checkbox" name="use_internal_addr";
                    "Let the scanner pull from Berth's own address rather than its external URL" }
                @if !v.read_only { p { button type="submit" name="action" value="scanner-add" { "Add scanner" } } }
            }
        }
    }
}

/// How long ago a time was, roughly.
fn age(t: i64) -> String {
    let minutes = (berth_core::now_millis() - t).max(0) / 60_000;
    match minutes {
        0 => "just now".into(),
        m if m < 120 => format!("{m} minutes ago"),
        m if m < 48 * 60 => format!("{} hours ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

/// The form that edits an allowlist: its CVE ids, one a line, and when
/// it expires.
pub fn allowlist_form(v: &Viewer, to: &str, list: &CveAllowlist, hint: &str) -> Markup {
    let expires = list.expires_at.and_then(|s| {
        let t = time::OffsetDateTime::from_unix_timestamp(s).ok()?;
        t.format(&time::macros::format_description!("[year]-[month]-[day]"))
            .ok()
    });
    html! {
        form method="post" action=(to) {
            (csrf_field(v))
            fieldset disabled[v.read_only] {
                legend { "CVE allowlist" }
                p.muted { (hint) }
                label for="cves" { "CVE ids, one a line" }
                textarea #cves name="cves" rows="5" { (list.items.join("\n")) }
                label for="expires" { "Expires on (empty: never)" }
                input #expires type="date" name="expires" value=[expires];
                @if !v.read_only { p { button type="submit" name="action" value="allowlist" { "Save allowlist" } } }
            }
        }
    }
}

/// What an allowlist form asks for; a date it cannot read is an error.
pub fn allowlist_change(cves: &str, expires: &str) -> Result<AllowlistChange, String> {
    let items = cves
        .split(['\n', ',', ' '])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let expires_at = match expires.trim() {
        "" => None,
        day => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date = time::Date::parse(day, &format)
                .map_err(|_| format!("{day} is not a date (year-month-day)."))?;
            // The allowlist holds through the whole day named.
            Some(
                date.next_day()
                    .unwrap_or(date)
                    .midnight()
                    .assume_utc()
                    .unix_timestamp(),
            )
        }
    };
    Ok(AllowlistChange { expires_at, items })
}

pub async fn save(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let scanners = state.scans.scanners();
    let uuid = form.get("uuid");
    let result = match form.get("action") {
        "scanner-add" => {
            let req = RegistrationRequest {
                name: form.get("name").into(),
                description: form.get("description").into(),
                url: form.get("url").into(),
                auth: form.get("auth").into(),
                access_credential: form.get("access_credential").into(),
                skip_cert_verify: form.checked("skip_cert_verify"),
                use_internal_addr: form.checked("use_internal_addr"),
                disabled: false,
            };
            (scanners.create(&v.ctx, &req).await)
                .map(|_| format!("Scanner {} was added.", req.name))
        }
        "scanner-default" => (scanners.set_default(&v.ctx, uuid, true).await)
            .map(|()| "The default scanner was changed.".into()),
        "scanner-delete" => (scanners.delete(&v.ctx, uuid).await)
            .map(|s| format!("Scanner {} was deleted.", s.registration.name)),
        _ => save_allowlist(&state, &v, &form).await,
    };
    outcome(HERE, result)
}

async fn save_allowlist(
    state: &State,
    v: &Viewer,
    form: &super::Form,
) -> Result<String, berth_core::CoreError> {
    match allowlist_change(form.get("cves"), form.get("expires")) {
        Ok(change) => (state.projects.set_system_allowlist(&v.ctx, &change).await)
            .map(|()| "The system's CVE allowlist was saved.".into()),
        Err(why) => Err(berth_core::CoreError::BadRequest(why)),
    }
}
