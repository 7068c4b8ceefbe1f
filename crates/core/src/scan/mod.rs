//! Vulnerability scanning: scans are jobs (`IMAGE_SCAN`) that read an
//! image's layers from storage, list its packages (`berth_scan`) and match
//! them against the vulnerability database; reports are kept per manifest
//! digest, as Harbor keeps them.

pub mod report;
pub mod vulndb;

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::jobs::{JobContext, JobResult, Jobs};
use crate::project::artifacts::{ArtifactRow, Artifacts};
use crate::project::Projects;
use crate::registry::Registry;
use berth_db::jobs::NewJob;
use berth_db::{now_millis, scans as db, Db};
use berth_oci::manifest::{Manifest, ManifestKind};
use berth_oci::{Digest, Reference, RepositoryName};
use berth_scan::inventory::Layers;
use report::{Overview, Report, ScannerInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
pub use vulndb::VulnDb;

/// The job type (and execution vendor) of a vulnerability scan.
pub const SCAN_JOB: &str = "IMAGE_SCAN";
/// Harbor's native report type, what clients get by default.
pub const NATIVE_REPORT: &str =
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
/// The generic vulnerability report type (same content).
pub const VULN_REPORT: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// The registration of the built-in scanner.
pub const BUILTIN: &str = "8a0e5d2c-1b1e-4c55-9a43-6f7d2b8e0001";

/// The built-in scanner, as reports name it.
pub fn builtin() -> ScannerInfo {
    ScannerInfo {
        name: "Berth".into(),
        vendor: "Berth".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Which report types a client accepts (`X-Accept-Vulnerabilities`):
/// the known ones it names, in its order, else the native one.
pub fn accepted(header: Option<&str>) -> Vec<&'static str> {
    let named: Vec<&'static str> = header
        .unwrap_or_default()
        .split(',')
        .filter_map(|m| {
            [NATIVE_REPORT, VULN_REPORT]
                .into_iter()
                .find(|k| *k == m.trim())
        })
        .collect();
    if named.is_empty() {
        vec![NATIVE_REPORT]
    } else {
        named
    }
}

/// What a scan job is given.
#[derive(Serialize, Deserialize)]
struct ScanParams {
    repository: String,
    targets: Vec<Target>,
}

/// A manifest to scan and the report it fills.
#[derive(Serialize, Deserialize)]
struct Target {
    digest: String,
    report: String,
}

struct Inner {
    db: Db,
    registry: Arc<Registry>,
    projects: Projects,
    artifacts: Artifacts,
    jobs: Jobs,
    vulndb: VulnDb,
}

/// The scan service.
#[derive(Clone)]
pub struct Scans {
    inner: Arc<Inner>,
}

impl Scans {
    /// The service; registers the scan job's code with `jobs`.
    pub fn new(
        db: Db,
        registry: Arc<Registry>,
        projects: Projects,
        artifacts: Artifacts,
        jobs: Jobs,
    ) -> Self {
        let inner = Arc::new(Inner {
            vulndb: VulnDb::new(db.clone()),
            db,
            registry,
            projects,
            artifacts,
            jobs: jobs.clone(),
        });
        jobs.register_on(SCAN_JOB, inner.clone(), |inner, ctx| async move {
            inner.run(ctx).await
        });
        Scans { inner }
    }

    /// The vulnerability database.
    pub fn vulndb(&self) -> &VulnDb {
        &self.inner.vulndb
    }

    /// Starts a scan of an artifact (an index: of its images); 400 for an
    /// artifact with no image to scan, 409 while an earlier scan of it has
    /// not ended.
    pub async fn scan(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<()> {
        let i = &self.inner;
        let (a, digests, earlier) = i
            .subject(ctx, repo, reference, Action::Create, Kind::Scan)
            .await?;
        if digests.is_empty() {
            return Err(CoreError::BadRequest(format!(
                "the configured scanner Berth does not support scanning artifact with mime type {}",
                a.media_type
            )));
        }
        if let Some(busy) = earlier.iter().find(|r| busy(r)) {
            return Err(CoreError::Conflict(format!(
                "a previous scan process is {}",
                busy.status
            )));
        }
        let targets: Vec<Target> = digests
            .into_iter()
            .map(|digest| Target {
                digest,
                report: uuid::Uuid::new_v4().to_string(),
            })
            .collect();
        let params = ScanParams {
            repository: repo.to_string(),
            targets,
        };
        let attrs = serde_json::json!({
            "artifact": {"id": a.id, "repository_name": repo.as_str(), "digest": a.digest},
            "registration": {"uuid": BUILTIN, "name": "Berth"},
            "enabled_capabilities": {"type": "vulnerability"},
            "operator": ctx.username(),
        });
        let params_json =
            serde_json::to_string(&params).map_err(|e| CoreError::Internal(e.to_string()))?;
        let mut tx = i.db.begin().await?;
        let job = NewJob {
            vendor_type: SCAN_JOB,
            vendor_id: a.id,
            trigger: "MANUAL",
            extra_attrs: &attrs.to_string(),
            job_type: SCAN_JOB,
            params: &params_json,
            max_runs: 2,
        };
        let execution = i.jobs.enqueue_in(&mut tx, &job).await?;
        let now = now_millis();
        for t in &params.targets {
            db::start(
                &mut *tx,
                &t.report,
                &t.digest,
                BUILTIN,
                VULN_REPORT,
                execution,
                now,
            )
            .await?;
        }
        berth_db::commit(tx).await?;
        i.jobs.wake();
        Ok(())
    }

    /// Stops the running scan of an artifact; 400 when none runs.
    pub async fn stop(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<()> {
        let i = &self.inner;
        let (a, _, reports) = i
            .subject(ctx, repo, reference, Action::Stop, Kind::Scan)
            .await?;
        let executions: Vec<i64> = reports
            .iter()
            .filter(|r| busy(r))
            .filter_map(|r| r.execution_id)
            .collect();
        if executions.is_empty() {
            return Err(CoreError::BadRequest(format!(
                "no scan job for artifact digest={}",
                a.digest
            )));
        }
        for e in executions {
            for task in berth_db::jobs::tasks_of(i.db.reader(), e).await? {
                match i.jobs.stop_task(task.id).await {
                    Ok(()) | Err(CoreError::Precondition(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The log of the scan that made a report.
    pub async fn log(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        report_id: &str,
    ) -> CoreResult<String> {
        let i = &self.inner;
        i.projects
            .require_in(ctx, repo.project(), Action::Read, Kind::Scan)
            .await?;
        let missing = || CoreError::NotFound(format!("scan log with uuid: {report_id} not found"));
        let report = db::by_uuid(i.db.reader(), report_id)
            .await?
            .ok_or_else(missing)?;
        // A report is the digest's: it is shown only where that digest is.
        let digest = Digest::parse(&report.digest).map_err(|_| missing())?;
        i.artifacts
            .get(ctx, repo, &Reference::Digest(digest))
            .await
            .map_err(|_| missing())?;
        let tasks = match report.execution_id {
            Some(e) => berth_db::jobs::tasks_of(i.db.reader(), e).await?,
            None => Vec::new(),
        };
        let task = tasks.first().ok_or_else(missing)?;
        i.jobs.task_log(task.id).await
    }

    /// The `additions/vulnerabilities` of an artifact: its report under the
    /// first accepted type (an index's children's reports as one), or
    /// nothing before every image in it has been scanned.
    pub async fn vulnerabilities(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        accept: Option<&str>,
    ) -> CoreResult<BTreeMap<String, Report>> {
        let (_, digests, rows) = self
            .inner
            .subject(ctx, repo, reference, Action::Read, Kind::ArtifactAddition)
            .await?;
        let mut out = BTreeMap::new();
        let done: Vec<Report> = rows
            .iter()
            .filter(|r| r.status == "Success")
            .filter_map(|r| serde_json::from_str(&r.report).ok())
            .collect();
        if !digests.is_empty() && done.len() == digests.len() {
            if let Some(merged) = Report::merge(done) {
                out.insert(accepted(accept)[0].to_string(), merged);
            }
        }
        Ok(out)
    }

    /// The scan overviews of artifacts a caller has listed, by artifact id
    /// (those never scanned have none), keyed by the first accepted type.
    pub async fn overviews(
        &self,
        rows: &[ArtifactRow],
        accept: Option<&str>,
    ) -> CoreResult<HashMap<i64, BTreeMap<String, serde_json::Value>>> {
        let i = &self.inner;
        let mime = accepted(accept)[0];
        // A manifest has a report only if it was scannable: the digests
        // are looked up without reading the manifests.
        let mut images: Vec<(i64, Vec<String>)> = Vec::new();
        for a in rows {
            let digests = if is_index(&a.media_type) {
                let children = berth_db::artifacts::children(i.db.reader(), a.id).await?;
                children.into_iter().map(|(_, d)| d).collect()
            } else {
                vec![a.digest.clone()]
            };
            images.push((a.id, digests));
        }
        let all: Vec<&str> = images
            .iter()
            .flat_map(|(_, d)| d.iter().map(String::as_str))
            .collect();
        let reports = db::of_digests(i.db.reader(), &all, BUILTIN, VULN_REPORT).await?;
        let by_digest: HashMap<&str, &db::Report> =
            reports.iter().map(|r| (r.digest.as_str(), r)).collect();
        let mut out = HashMap::new();
        for (id, digests) in images {
            let children: Vec<Overview> = digests
                .iter()
                .filter_map(|d| by_digest.get(d.as_str()))
                .map(|r| overview(r))
                .collect();
            if let Some(o) = Overview::combine(children) {
                out.insert(id, BTreeMap::from([(mime.to_string(), o.to_json())]));
            }
        }
        Ok(out)
    }
}

/// Whether artifacts of a Harbor type are scanned (images and indexes of
/// images): they have a `vulnerabilities` addition.
pub fn scannable_type(harbor_type: &str) -> bool {
    harbor_type == "IMAGE"
}

fn overview(r: &db::Report) -> Overview {
    let done = r.status == "Success";
    Overview {
        report_id: r.uuid.clone(),
        status: r.status.clone(),
        severity: berth_scan::Severity::parse(&r.severity).filter(|_| done),
        summary: done
            .then(|| serde_json::from_str(&r.summary).ok())
            .flatten(),
        start_time: r.start_time,
        end_time: r.end_time,
        scanner: builtin(),
    }
}

fn is_index(media_type: &str) -> bool {
    [
        berth_oci::media::OCI_INDEX,
        berth_oci::media::DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
}

/// An image manifest whose config is an image's: what has layers to read.
fn scannable(m: &Manifest) -> bool {
    m.kind == ManifestKind::Image
        && berth_oci::artifact::harbor_type(m) == "IMAGE"
        && !m.layers.is_empty()
}

/// A scan that has not ended.
fn busy(r: &db::Report) -> bool {
    r.status == "Pending" || r.status == "Running"
}

impl Inner {
    /// Checks that the caller may `action` on `kind` in the artifact's
    /// project; the artifact, the digests of the images it is, and their
    /// reports.
    async fn subject(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        action: Action,
        kind: Kind,
    ) -> CoreResult<(ArtifactRow, Vec<String>, Vec<db::Report>)> {
        self.projects
            .require_in(ctx, repo.project(), action, kind)
            .await?;
        let (a, m) = (self.artifacts)
            .manifest(ctx, &self.registry, repo, reference)
            .await?;
        let digests = self.images(repo, &a, &m).await?;
        let refs: Vec<&str> = digests.iter().map(String::as_str).collect();
        let reports = db::of_digests(self.db.reader(), &refs, BUILTIN, VULN_REPORT).await?;
        Ok((a, digests, reports))
    }

    /// The digests of the images an artifact is: itself, or an index's
    /// children that are images.
    async fn images(
        &self,
        repo: &RepositoryName,
        a: &ArtifactRow,
        m: &Manifest,
    ) -> CoreResult<Vec<String>> {
        if m.kind == ManifestKind::Image {
            return Ok(if scannable(m) {
                vec![a.digest.clone()]
            } else {
                Vec::new()
            });
        }
        let mut out = Vec::new();
        for child in &m.manifests {
            let row = self
                .registry
                .get_manifest(repo, &Reference::Digest(child.digest.clone()))
                .await;
            let Ok(row) = row else { continue };
            if Manifest::parse(&row.manifest, Some(&row.media_type)).is_ok_and(|c| scannable(&c)) {
                out.push(child.digest.to_string());
            }
        }
        Ok(out)
    }

    /// A scan job: each target's report is filled in turn.
    async fn run(&self, job: JobContext) -> JobResult {
        let p: ScanParams = job.params()?;
        let repo = RepositoryName::parse(&p.repository).map_err(|e| e.to_string())?;
        let w = self.db.writer();
        let mut failed = None;
        for t in &p.targets {
            if !db::set_status(w, &t.report, "Running", None)
                .await
                .map_err(|e| e.to_string())?
            {
                job.log(format!("{}: a later scan replaced this one", t.digest));
                continue;
            }
            job.log(format!("scanning {repo}@{}", t.digest));
            match self.scan_one(&repo, &t.digest).await {
                Ok(report) => {
                    let summary = report.summary();
                    job.log(format!(
                        "{} vulnerabilities, severity {}",
                        report.vulnerabilities.len(),
                        report.severity.as_str()
                    ));
                    let body = serde_json::to_string(&report).map_err(|e| e.to_string())?;
                    db::finish(
                        w,
                        &t.report,
                        report.severity.as_str(),
                        &summary.to_string(),
                        &body,
                        now_millis(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                }
                Err(e) => {
                    job.log(format!("{}: {e}", t.digest));
                    db::set_status(w, &t.report, "Error", Some(now_millis()))
                        .await
                        .map_err(|e| e.to_string())?;
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Reads one image's layers, lists its packages and matches them.
    async fn scan_one(&self, repo: &RepositoryName, digest: &str) -> Result<Report, String> {
        let d = Digest::parse(digest).map_err(|e| e.to_string())?;
        let row = self
            .registry
            .get_manifest(repo, &Reference::Digest(d))
            .await
            .map_err(|e| e.to_string())?;
        let m = Manifest::parse(&row.manifest, Some(&row.media_type)).map_err(|e| e.to_string())?;
        let mut layers = Layers::new();
        for l in &m.layers {
            let (back, read) = self
                .registry
                .read_blob_with(repo, &l.digest, move |r| {
                    let read = layers.add(r);
                    (layers, read)
                })
                .await
                .map_err(|e| format!("layer {}: {e}", l.digest))?;
            layers = back;
            read.map_err(|e| format!("layer {}: {e}", l.digest))?;
        }
        let inventory = tokio::task::spawn_blocking(move || layers.inventory())
            .await
            .map_err(|e| e.to_string())?;
        let findings = self
            .vulndb
            .findings(&inventory, digest)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Report::new(findings, builtin(), now_millis()))
    }
}
