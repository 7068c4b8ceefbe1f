//! The administrators' security page (Harbor's interrogation services):
//! the vulnerability database the built-in scanner uses, and the system's
//! CVE allowlist.

use super::{csrf_field, outcome, page, refusal, Posted, Viewer};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::project::allowlist::{AllowlistChange, CveAllowlist};
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
    let body = html! {
        h1 { "Interrogation services" }
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
            },
            Err(e) => p.notice.err { (super::message(&e)) },
        }
        p.muted {
            "Import OSV advisories (osv.dev's per-ecosystem all.zip, or a folder of OSV JSON files) with "
            code { "berth vulndb import FILE" } "; a newer import replaces what it names."
        }
        (allowlist_form(&v, HERE, &list, "Let these CVEs through vulnerability prevention in \
            every project that uses the system's allowlist."))
    };
    page(&v, "Interrogation services", body)
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
    let result = match allowlist_change(form.get("cves"), form.get("expires")) {
        Ok(change) => (state.projects.set_system_allowlist(&v.ctx, &change).await)
            .map(|()| "The system's CVE allowlist was saved.".into()),
        Err(why) => Err(berth_core::CoreError::BadRequest(why)),
    };
    outcome(HERE, result)
}
