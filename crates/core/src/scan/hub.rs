//! The security hub (`/security/summary`, `/security/vul`): the findings of
//! the default scanner's reports over every artifact, counted and searched,
//! as Harbor's is (administrators, and system robots granted
//! `security-hub`).

use super::Scans;
use crate::error::CoreResult;
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Resource};
use crate::query::Filter;
use berth_db::findings::{self, DangerousArtifact, DangerousCve, Vulnerability, FIELDS};
use berth_db::scanners;
use berth_scan::{Severity, VULN_REPORT};

/// How far `tune_count` counts before answering -1.
const TUNED_COUNT: i64 = 1000;

/// The hub's figures (Harbor's `SecuritySummary`).
#[derive(Debug, Default)]
pub struct SecuritySummary {
    /// Findings per severity (Negligible counts as None, as Harbor's
    /// threshold reads it).
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub none: i64,
    pub unknown: i64,
    pub total: i64,
    pub fixable: i64,
    pub scanned: i64,
    pub artifacts: i64,
    /// The five highest scored CVEs, when asked for.
    pub dangerous_cves: Option<Vec<DangerousCve>>,
    /// The five artifacts with the most serious findings, when asked for.
    pub dangerous_artifacts: Option<Vec<DangerousArtifact>>,
}

/// A finding with its artifact's tags, when asked for.
pub struct Listed {
    pub vulnerability: Vulnerability,
    pub tags: Option<Vec<String>>,
}

fn hub() -> Resource {
    Resource::System("security-hub")
}

impl Scans {
    /// The default scanner's uuid: the hub shows its reports.
    async fn hub_scanner(&self) -> CoreResult<String> {
        let r = scanners::default(self.inner.db.reader()).await?;
        Ok(r.map(|r| r.uuid).unwrap_or_default())
    }

    /// The security hub's summary.
    pub async fn security_summary(
        &self,
        ctx: &SecurityContext,
        with_cves: bool,
        with_artifacts: bool,
    ) -> CoreResult<SecuritySummary> {
        require(ctx, Action::Read, hub()).await?;
        let db = self.inner.db.reader();
        let scanner = self.hub_scanner().await?;
        let (counts, fixable) = findings::by_severity(db, &scanner).await?;
        let (artifacts, scanned) = findings::artifact_counts(db, &scanner, VULN_REPORT).await?;
        let mut s = SecuritySummary {
            fixable,
            artifacts,
            scanned,
            ..SecuritySummary::default()
        };
        for (word, n) in counts {
            s.total += n;
            let slot = match Severity::parse(&word) {
                Some(Severity::Critical) => &mut s.critical,
                Some(Severity::High) => &mut s.high,
                Some(Severity::Medium) => &mut s.medium,
                Some(Severity::Low) => &mut s.low,
                Some(Severity::None | Severity::Negligible) => &mut s.none,
                _ => &mut s.unknown,
            };
            *slot += n;
        }
        if with_cves {
            s.dangerous_cves = Some(findings::dangerous_cves(db, &scanner).await?);
        }
        if with_artifacts {
            s.dangerous_artifacts = Some(findings::dangerous_artifacts(db, &scanner).await?);
        }
        Ok(s)
    }

    /// A page of findings matching Harbor's `q` (`cve_id`, `severity`,
    /// `status`, `cvss_score_v3` range, `project_id`, `repository_name`,
    /// `package`, `tag`, `digest`), highest score first; and how many
    /// match (-1 past 1,000 when `tune_count` asks).
    pub async fn security_vulnerabilities(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        (offset, limit): (i64, i64),
        tune_count: bool,
        with_tag: bool,
    ) -> CoreResult<(Vec<Listed>, i64)> {
        require(ctx, Action::List, hub()).await?;
        let query = filter.parse(FIELDS)?;
        let db = self.inner.db.reader();
        let scanner = self.hub_scanner().await?;
        let cap = tune_count.then_some(TUNED_COUNT);
        let mut total = findings::count(db, &scanner, &query, cap).await?;
        if tune_count && total > TUNED_COUNT {
            total = -1;
        }
        let rows = findings::list(db, &scanner, &query, offset, limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        for v in rows {
            let tags = match with_tag {
                true => Some(berth_db::artifacts::tag_names(db, v.artifact_id).await?),
                false => None,
            };
            out.push(Listed {
                vulnerability: v,
                tags,
            });
        }
        Ok((out, total))
    }
}
