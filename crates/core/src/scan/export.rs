//! CVE export (`/export/cve`): a project's findings written to CSV by a
//! job, for the user who asked to download once, as Harbor's scan data
//! export is.

use super::{Inner, Scans};
use crate::error::{CoreError, CoreResult};
use crate::glob::pattern;
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::jobs::{JobContext, JobResult};
use berth_db::jobs::{Execution, NewJob};
use berth_db::{cve_exports, findings, now_millis};
use serde::{Deserialize, Serialize};

/// The job type (and execution vendor) of a CVE export.
pub const EXPORT_JOB: &str = "SCAN_DATA_EXPORT";
/// The only data type exported (the `X-Scan-Data-Type` header).
pub const EXPORT_TYPE: &str = berth_scan::VULN_REPORT;
/// How many of a user's exports are listed.
const LISTED: i64 = 100;

/// What to export (Harbor's `ScanDataExportRequest`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportCriteria {
    #[serde(default)]
    pub job_name: String,
    /// Exactly one project id.
    #[serde(default)]
    pub projects: Vec<i64>,
    /// Label ids: only artifacts carrying one of them (empty: all).
    #[serde(default)]
    pub labels: Vec<i64>,
    /// A doublestar pattern of repository names in the project (`**`,
    /// `{a,b}`); empty: all.
    #[serde(default)]
    pub repositories: String,
    /// CVE ids, one or `{a,b}`; empty: all.
    #[serde(default, rename = "cveIds")]
    pub cve_ids: String,
    /// A doublestar pattern of tags; empty: every artifact, tagged or not.
    #[serde(default)]
    pub tags: String,
}

/// What the job is given.
#[derive(Serialize, Deserialize)]
struct ExportParams {
    project: String,
    criteria: ExportCriteria,
}

/// What an export run records besides its status.
#[derive(Serialize, Deserialize)]
struct ExportAttrs {
    user_id: i64,
    user_name: String,
    project_ids: Vec<i64>,
    job_name: String,
}

/// An export run as its owner sees it.
pub struct ExportRun {
    pub execution: Execution,
    pub user_id: i64,
    pub user_name: String,
    pub file_present: bool,
}

/// `a` or `{a,b}`: the CVE ids asked for.
fn cve_ids(s: &str) -> Vec<String> {
    let inner = s.trim_start_matches('{').trim_end_matches('}');
    (inner.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

impl ExportCriteria {
    /// Checks the criteria as Harbor does: one project, no spaces in the
    /// patterns, patterns that compile.
    fn check(&self) -> CoreResult<()> {
        if self.projects.len() != 1 {
            return Err(CoreError::BadRequest(format!(
                "only support export single project, invalid value: {:?}",
                self.projects
            )));
        }
        for s in [&self.repositories, &self.tags, &self.cve_ids] {
            if s.contains(' ') {
                return Err(CoreError::BadRequest(format!(
                    "invalid criteria value, please remove additional spaces for input: {s}"
                )));
            }
        }
        pattern(&self.repositories, "repository")?;
        pattern(&self.tags, "tag")?;
        Ok(())
    }
}

impl Scans {
    /// Starts an export of a project's findings for the caller; the run's
    /// id. Developers and up may export (Harbor's `export-cve`).
    pub async fn export_cves(
        &self,
        ctx: &SecurityContext,
        data_type: &str,
        criteria: ExportCriteria,
    ) -> CoreResult<i64> {
        if data_type != EXPORT_TYPE {
            return Err(CoreError::BadRequest(format!(
                "Unsupported MIME type : {data_type}"
            )));
        }
        criteria.check()?;
        let i = &self.inner;
        let id = criteria.projects[0];
        let project = (berth_db::projects::by_id(i.db.reader(), id).await?)
            .ok_or_else(|| CoreError::NotFound(format!("project {id} not found")))?;
        i.projects
            .require_in(ctx, &project.name, Action::Create, Kind::ExportCve)
            .await?;
        for &label in &criteria.labels {
            let found = berth_db::labels::by_id(i.db.reader(), label).await?;
            if !found.is_some_and(|l| l.scope == "g" || l.project_id == id) {
                return Err(CoreError::NotFound(format!("label {label} not found")));
            }
        }
        let user_id = exporter(ctx)?;
        let attrs = ExportAttrs {
            user_id,
            user_name: ctx.username().to_string(),
            project_ids: criteria.projects.clone(),
            job_name: criteria.job_name.clone(),
        };
        let params = ExportParams {
            project: project.name,
            criteria,
        };
        let job = NewJob {
            vendor_type: EXPORT_JOB,
            vendor_id: user_id,
            trigger: "MANUAL",
            extra_attrs: &to_json(&attrs)?,
            job_type: EXPORT_JOB,
            params: &to_json(&params)?,
            max_runs: 1,
        };
        let mut tx = i.db.begin().await?;
        let mut jobs = i.jobs.batch();
        let execution = jobs.add_task(&mut tx, &job, now_millis()).await?;
        berth_db::commit(tx).await?;
        jobs.start();
        Ok(execution)
    }

    /// The caller's export runs, newest first.
    pub async fn cve_exports(&self, ctx: &SecurityContext) -> CoreResult<Vec<ExportRun>> {
        let user_id = exporter(ctx)?;
        let db = &self.inner.db;
        let (runs, _) =
            berth_db::jobs::executions(db, EXPORT_JOB, Some(user_id), 0, LISTED).await?;
        let mut out = Vec::with_capacity(runs.len());
        for e in runs {
            out.push(self.inner.export_run(e).await?);
        }
        Ok(out)
    }

    /// One of the caller's export runs (another's is 403).
    pub async fn cve_export(&self, ctx: &SecurityContext, id: i64) -> CoreResult<ExportRun> {
        let run = self.inner.owned_run(ctx, id).await?;
        Ok(run)
    }

    /// The CSV of one of the caller's export runs, which is then dropped
    /// (it is downloaded once, as in Harbor); 404 when there is none.
    pub async fn download_cve_export(&self, ctx: &SecurityContext, id: i64) -> CoreResult<String> {
        let run = self.inner.owned_run(ctx, id).await?;
        let db = &self.inner.db;
        let csv = (cve_exports::get(db.reader(), run.execution.id).await?).ok_or_else(|| {
            CoreError::NotFound(format!("the export file of {id} is not present"))
        })?;
        cve_exports::delete(db.writer(), id).await?;
        Ok(csv)
    }
}

/// A value as JSON.
fn to_json<T: Serialize>(v: &T) -> CoreResult<String> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(e.to_string()))
}

/// The exporting user: robots have no user, so they cannot export, as in
/// Harbor.
fn exporter(ctx: &SecurityContext) -> CoreResult<i64> {
    match ctx.user_id() {
        Some(id) => Ok(id),
        None if ctx.is_authenticated() => Err(CoreError::Forbidden(format!(
            "User : {} not found",
            ctx.username()
        ))),
        None => Err(CoreError::Unauthorized),
    }
}

impl Inner {
    async fn export_run(&self, execution: Execution) -> CoreResult<ExportRun> {
        let attrs: ExportAttrs = serde_json::from_str(&execution.extra_attrs)
            .map_err(|e| CoreError::Internal(format!("export {}: {e}", execution.id)))?;
        let file_present = cve_exports::present(self.db.reader(), execution.id).await?;
        Ok(ExportRun {
            execution,
            user_id: attrs.user_id,
            user_name: attrs.user_name,
            file_present,
        })
    }

    /// An export run of the caller: 404 for none, 403 for another's.
    async fn owned_run(&self, ctx: &SecurityContext, id: i64) -> CoreResult<ExportRun> {
        let missing = || CoreError::NotFound(format!("execution with id: {id} not found"));
        let e = (berth_db::jobs::execution(self.db.reader(), id).await?)
            .filter(|e| e.vendor_type == EXPORT_JOB)
            .ok_or_else(missing)?;
        let user_id = exporter(ctx)?;
        if e.vendor_id != user_id {
            return Err(CoreError::Forbidden(
                "the export belongs to another user".into(),
            ));
        }
        self.export_run(e).await
    }

    /// The export job: the project's scanner's findings on the artifacts
    /// the criteria select, as CSV.
    pub(super) async fn export(&self, job: JobContext) -> JobResult {
        let execution = job
            .execution_id()
            .ok_or("an export runs as a task of its own")?;
        let p: ExportParams = job.params()?;
        let fail = |e: berth_db::DbError| e.to_string();
        let db = self.db.reader();
        let scanner = self
            .scanners
            .resolve(&p.project)
            .await
            .map_err(|e| e.to_string())?;
        let repos = pattern(&p.criteria.repositories, "repository").map_err(|e| e.to_string())?;
        let tags = pattern(&p.criteria.tags, "tag").map_err(|e| e.to_string())?;
        let cves = cve_ids(&p.criteria.cve_ids);
        let rows = findings::of_project(db, &scanner.uuid, &p.project)
            .await
            .map_err(fail)?;
        let mut out = csv::Writer::from_writer(Vec::new());
        let header = [
            "Repository",
            "Artifact Digest",
            "CVE",
            "Package",
            "Current Version",
            "Fixed in version",
            "Severity",
            "CWE Ids",
            "Additional Data",
            "Scanner",
        ];
        out.write_record(header).map_err(|e| e.to_string())?;
        let scanner_name = self.scanner_info(&scanner).await.name;
        let mut tagged: std::collections::HashMap<i64, bool> = Default::default();
        let mut labelled: std::collections::HashMap<i64, bool> = Default::default();
        let mut written = 0;
        for f in rows {
            let name = f.repository_name.split_once('/').map_or("", |(_, n)| n);
            if repos.as_ref().is_some_and(|m| !m.is_match(name)) {
                continue;
            }
            if !cves.is_empty() && !cves.contains(&f.cve_id) {
                continue;
            }
            if !p.criteria.labels.is_empty() {
                let keep = match labelled.get(&f.artifact_id) {
                    Some(k) => *k,
                    None => {
                        let on = berth_db::labels::of_artifacts(db, &[f.artifact_id])
                            .await
                            .map_err(fail)?;
                        let k = on.iter().any(|(_, l)| p.criteria.labels.contains(&l.id));
                        labelled.insert(f.artifact_id, k);
                        k
                    }
                };
                if !keep {
                    continue;
                }
            }
            if let Some(m) = &tags {
                let keep = match tagged.get(&f.artifact_id) {
                    Some(k) => *k,
                    None => {
                        let names = berth_db::artifacts::tags_with_parents(db, f.artifact_id)
                            .await
                            .map_err(fail)?;
                        let k = names.iter().any(|t| m.is_match(t));
                        tagged.insert(f.artifact_id, k);
                        k
                    }
                };
                if !keep {
                    continue;
                }
            }
            let record = [
                &f.repository_name,
                &f.digest,
                &f.cve_id,
                &f.package,
                &f.version,
                &f.fixed_version,
                &f.severity,
                &f.cwe_ids,
                &f.vendor_attributes,
                &scanner_name,
            ];
            out.write_record(record.map(|s| cell(s)))
                .map_err(|e| e.to_string())?;
            written += 1;
        }
        let bytes = out.into_inner().map_err(|e| e.to_string())?;
        let csv = String::from_utf8(bytes).map_err(|e| e.to_string())?;
        cve_exports::put(self.db.writer(), execution, &csv)
            .await
            .map_err(fail)?;
        job.log(format!("{written} findings exported"));
        Ok(())
    }
}

/// A cell a spreadsheet will not run: one that would start a formula is
/// quoted with `'`, as Harbor's export does.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_read_as_harbors_doublestar() {
        let m = |p: &str, s: &str| pattern(p, "x").unwrap().unwrap().is_match(s);
        assert!(m("app", "app"));
        assert!(m("{app,web}", "web"));
        assert!(m("*", "app"));
        assert!(!m("*", "team/app"));
        assert!(m("**", "team/app"));
        assert!(m("team/**", "team/a/b"));
        assert!(pattern("", "x").unwrap().is_none());
        assert!(pattern("[", "x").is_err());
        assert_eq!(cve_ids("{CVE-1,CVE-2}"), ["CVE-1", "CVE-2"]);
        assert_eq!(cve_ids("CVE-1"), ["CVE-1"]);
        assert_eq!(cell("=cmd()"), "'=cmd()");
        assert_eq!(cell("openssl"), "openssl");
    }
}
