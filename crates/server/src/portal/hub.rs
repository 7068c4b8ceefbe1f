//! The security hub page: the default scanner's findings over every
//! artifact, counted, the most dangerous ones, and a search; and the
//! download of a CVE export's file.

use super::projects::{counted, pager};
use super::{message, page, param, refusal, Listing, Viewer};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::query::Filter;
use maud::html;

const HERE: &str = "/harbor/security-hub";
/// Findings per page.
const PAGE: i64 = 20;
/// The search's text fields: (query key, label).
const FIELDS: &[(&str, &str)] = &[
    ("cve_id", "CVE id"),
    ("package", "Package"),
    ("repository_name", "Repository"),
    ("tag", "Tag"),
];

pub fn router() -> Router<State> {
    Router::new()
        .route(HERE, get(show))
        .route("/harbor/cve-exports/{id}", get(download))
}

/// A CVE export's CSV file, for the user who asked for it, once.
pub async fn download(S(state): S<State>, v: Viewer, Path(id): Path<i64>) -> Response {
    match state.scans.download_cve_export(&v.ctx, id).await {
        Ok(csv) => crate::api::export::csv_file(id, csv),
        Err(e) => refusal(&v, &e),
    }
}

pub async fn show(S(state): S<State>, v: Viewer, list: Listing, RawQuery(q): RawQuery) -> Response {
    let summary = match state.scans.security_summary(&v.ctx, true, true).await {
        Ok(s) => s,
        Err(e) => return refusal(&v, &e),
    };
    // The search: a CVSS range (numbers only, so nothing typed reaches
    // `q` but them), then exact matches of what is filled in.
    let score = |key: &str| param(&q, key).trim().parse::<f64>().ok();
    let (low, high) = (score("cvss_min"), score("cvss_max"));
    let range = (low.is_some() || high.is_some()).then(|| {
        let bound = |b: Option<f64>| b.map(|b| b.to_string()).unwrap_or_default();
        format!("cvss_score_v3=[{}~{}]", bound(low), bound(high))
    });
    let mut filter = Filter::new(range, None);
    for (key, _) in FIELDS {
        let value = param(&q, key);
        if !value.trim().is_empty() {
            filter = filter.exact(key, value.trim().to_string());
        }
    }
    let severity = param(&q, "severity");
    if !severity.is_empty() {
        filter = filter.exact("severity", severity.clone());
    }
    let found = state
        .scans
        .security_vulnerabilities(&v.ctx, &filter, (list.offset(PAGE), PAGE), false, true)
        .await;
    let kept: Vec<(&str, String)> = FIELDS
        .iter()
        .map(|(k, _)| (*k, param(&q, k)))
        .chain([
            ("severity", severity.clone()),
            ("cvss_min", param(&q, "cvss_min")),
            ("cvss_max", param(&q, "cvss_max")),
        ])
        .collect();
    let keep: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = &summary;
    let body = html! {
        h1 { "Security hub" }
        dl.facts.hub {
            dt { "Vulnerabilities" } dd { (s.total) " (" (s.fixable) " fixable)" }
            dt { "Critical" } dd.critical { (s.critical) }
            dt { "High" } dd.high { (s.high) }
            dt { "Medium" } dd.medium { (s.medium) }
            dt { "Low" } dd.low { (s.low) }
            dt { "None / unknown" } dd { (s.none) " / " (s.unknown) }
            dt { "Artifacts scanned" } dd { (s.scanned) " of " (s.artifacts) }
        }
        p.muted { "Counted from the default scanner's reports; an image in two repositories counts twice." }
        h2 { "Most dangerous artifacts" }
        div.scroll { table.dangerous-artifacts {
            thead { tr { th { "Repository" } th { "Digest" } th { "Critical" } th { "High" } th { "Medium" } } }
            tbody {
                @for a in s.dangerous_artifacts.iter().flatten() {
                    tr { td { (a.repository_name) } td { code { (short(&a.digest)) } }
                         td { (a.critical) } td { (a.high) } td { (a.medium) } }
                }
            }
        } }
        h2 { "Most dangerous CVEs" }
        div.scroll { table.dangerous-cves {
            thead { tr { th { "CVE" } th { "Severity" } th { "CVSS" } th { "Package" } th { "Version" } } }
            tbody {
                @for c in s.dangerous_cves.iter().flatten() {
                    tr { td { (c.cve_id) } td { (c.severity) } td { (c.cvss_score_v3) }
                         td { (c.package) } td { (c.version) } }
                }
            }
        } }
        h2 { "Vulnerabilities" }
        form.search method="get" action=(HERE) role="search" {
            @for (key, label) in FIELDS {
                label for=(key) { (label) }
                input id=(key) name=(key) value=(param(&q, key));
            }
            label for="severity" { "Severity" }
            select #severity name="severity" {
                option value="" { "Any" }
                @for word in ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"] {
                    option value=(word) selected[severity == word] { (word) }
                }
            }
            label for="cvss_min" { "CVSS v3 from" }
            input #cvss_min name="cvss_min" type="number" step="0.1" min="0" max="10" value=(param(&q, "cvss_min"));
            label for="cvss_max" { "to" }
            input #cvss_max name="cvss_max" type="number" step="0.1" min="0" max="10" value=(param(&q, "cvss_max"));
            p { button.secondary type="submit" { "Search" } }
        }
        @match &found {
            Err(e) => div.notice.err role="alert" { (message(e)) },
            Ok((rows, total)) => {
                div.scroll { table.findings {
                    (counted(*total, "finding", "findings"))
                    thead { tr { th { "CVE" } th { "Severity" } th { "CVSS" } th { "Package" }
                        th.wide { "Version" } th { "Fixed in" } th.wide { "Repository" } th { "Artifact" } } }
                    tbody {
                        @for l in rows {
                            @let f = &l.vulnerability;
                            @let links: Vec<String> = serde_json::from_str(&f.links).unwrap_or_default();
                            tr {
                                td { @match links.first() { Some(u) => a href=(u) { (f.cve_id) }, None => (f.cve_id) } }
                                td { (f.severity) }
                                td { @if let Some(score) = f.cvss_score_v3 { (score) } }
                                td { (f.package) } td.wide { (f.version) } td { (f.fixed_version) }
                                td.wide { (f.repository_name) }
                                td { code { (short(&f.digest)) }
                                     @for t in l.tags.iter().flatten() { " " span.tag { (t) } } }
                            }
                        }
                    }
                } }
                (pager(HERE, &keep, list.page, PAGE, *total))
            }
        }
    };
    page(&v, "Security hub", body)
}

/// A digest as lists show it.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
