//! The security hub: `/security/summary` and `/security/vul`.

use super::{filter, query_value, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{RawQuery, State as S};
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(vulnerabilities))
}

/// One of the highest scored CVEs (Harbor's `DangerousCVE`).
#[derive(Serialize, ToSchema)]
pub struct DangerousCve {
    cve_id: String,
    severity: String,
    cvss_score_v3: f64,
    desc: String,
    package: String,
    version: String,
}

/// One of the artifacts with the most serious findings (Harbor's
/// `DangerousArtifact`).
#[derive(Serialize, ToSchema)]
pub struct DangerousArtifact {
    project_id: i64,
    repository_name: String,
    digest: String,
    critical_cnt: i64,
    high_cnt: i64,
    medium_cnt: i64,
}

/// Harbor's `SecuritySummary`.
#[derive(Serialize, ToSchema)]
pub struct SecuritySummary {
    critical_cnt: i64,
    high_cnt: i64,
    medium_cnt: i64,
    low_cnt: i64,
    none_cnt: i64,
    unknown_cnt: i64,
    total_vuls: i64,
    scanned_cnt: i64,
    total_artifact: i64,
    fixable_cnt: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dangerous_cves: Option<Vec<DangerousCve>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dangerous_artifacts: Option<Vec<DangerousArtifact>>,
}

/// A finding on an artifact (Harbor's `VulnerabilityItem`).
#[derive(Serialize, ToSchema)]
pub struct VulnerabilityItem {
    project_id: i64,
    repository_name: String,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    cve_id: String,
    severity: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cvss_v3_score: Option<f64>,
    package: String,
    version: String,
    fixed_version: String,
    desc: String,
    links: Vec<String>,
}

fn flag(q: Option<&str>, key: &str) -> bool {
    query_value(q, key).is_some_and(|v| v == "true")
}

/// The findings of the default scanner's reports over every artifact,
/// counted (administrators).
#[utoipa::path(get, path = "/api/v2.0/security/summary", tag = "securityhub",
    operation_id = "getSecuritySummary",
    responses((status = 200, description = "The summary", body = SecuritySummary)))]
async fn summary(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Json<SecuritySummary>, ApiError> {
    let (cves, artifacts) = (
        flag(q.as_deref(), "with_dangerous_cve"),
        flag(q.as_deref(), "with_dangerous_artifact"),
    );
    let s = state.scans.security_summary(&ctx, cves, artifacts).await?;
    Ok(Json(SecuritySummary {
        critical_cnt: s.critical,
        high_cnt: s.high,
        medium_cnt: s.medium,
        low_cnt: s.low,
        none_cnt: s.none,
        unknown_cnt: s.unknown,
        total_vuls: s.total,
        scanned_cnt: s.scanned,
        total_artifact: s.artifacts,
        fixable_cnt: s.fixable,
        dangerous_cves: s.dangerous_cves.map(|l| {
            l.into_iter()
                .map(|c| DangerousCve {
                    cve_id: c.cve_id,
                    severity: c.severity,
                    cvss_score_v3: c.cvss_score_v3,
                    desc: c.description,
                    package: c.package,
                    version: c.version,
                })
                .collect()
        }),
        dangerous_artifacts: s.dangerous_artifacts.map(|l| {
            l.into_iter()
                .map(|a| DangerousArtifact {
                    project_id: a.project_id,
                    repository_name: a.repository_name,
                    digest: a.digest,
                    critical_cnt: a.critical,
                    high_cnt: a.high,
                    medium_cnt: a.medium,
                })
                .collect()
        }),
    }))
}

/// Findings on artifacts, highest score first; `q` takes `cve_id`,
/// `severity`, `status`, `cvss_score_v3=[min~max]`, `project_id`,
/// `repository_name`, `package`, `tag` and `digest`.
#[utoipa::path(get, path = "/api/v2.0/security/vul", tag = "securityhub",
    operation_id = "ListVulnerabilities", params(ListParams),
    responses((status = 200, description = "A page of findings", body = [VulnerabilityItem])))]
async fn vulnerabilities(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let (listed, total) = state
        .scans
        .security_vulnerabilities(
            &ctx,
            &filter(q),
            (page.offset(), page.size),
            flag(q, "tune_count"),
            flag(q, "with_tag"),
        )
        .await?;
    let items: Vec<VulnerabilityItem> = listed
        .into_iter()
        .map(|l| {
            let v = l.vulnerability;
            VulnerabilityItem {
                project_id: v.project_id,
                repository_name: v.repository_name,
                digest: v.digest,
                tags: l.tags,
                cve_id: v.cve_id,
                severity: v.severity,
                status: v.status,
                cvss_v3_score: v.cvss_score_v3,
                package: v.package,
                version: v.version,
                fixed_version: v.fixed_version,
                desc: v.description,
                links: serde_json::from_str(&v.links).unwrap_or_default(),
            }
        })
        .collect();
    Ok(page.respond(items, "/api/v2.0/security/vul", total))
}
