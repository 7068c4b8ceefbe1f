//! Vulnerability scanning: scans are jobs (`IMAGE_SCAN`) that read an
//! image's layers from storage, list its packages (`berth_scan`) and match
//! them against the vulnerability database; reports are kept per manifest
//! digest, as Harbor keeps them.

pub mod report;
pub mod vulndb;

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::jobs::{Enqueued, JobContext, JobParams, JobResult, Jobs, Vendor};
use crate::notify::events::{Event, Events, Outbox};
use crate::policy::{ProjectSettings, ScanVerdicts};
use crate::project::artifacts::{is_index, ArtifactRow, Artifacts};
use crate::project::Projects;
use crate::registry::Registry;
use berth_db::artifacts::ManifestRow;
use berth_db::jobs::NewJob;
use berth_db::{now_millis, scans as db, Db};
use berth_oci::artifact::is_scannable_image;
use berth_oci::manifest::{Manifest, ManifestKind};
use berth_oci::{Digest, Reference, RepositoryName};
use berth_scan::inventory::{Inventory, Layers};
use berth_scan::BUILTIN_SCANNER as BUILTIN;
pub use berth_scan::{NATIVE_REPORT, SBOM_REPORT, VULN_REPORT};
use futures_util::future::BoxFuture;
use report::{Overview, Report, ScannerInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
pub use vulndb::VulnDb;

/// The job type (and execution vendor) of a vulnerability scan.
pub const SCAN_JOB: &str = "IMAGE_SCAN";
/// The job type (and execution vendor) of a scan of every image.
pub const SCAN_ALL: &str = "SCAN_ALL";
/// The job type (and execution vendor) of an SBOM generation.
pub const SBOM_JOB: &str = "SBOM";
/// The config media type of an SBOM accessory, as Harbor pushes it.
const SBOM_CONFIG: &str = "application/vnd.goharbor.harbor.sbom.v1";

/// What a scan makes: a vulnerability report, or an SBOM pushed as the
/// artifact's accessory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanType {
    Vulnerability,
    Sbom,
}

impl ScanType {
    /// Harbor's `scan_type` word; None for another.
    pub fn parse(word: &str) -> Option<ScanType> {
        match word {
            "vulnerability" => Some(ScanType::Vulnerability),
            "sbom" => Some(ScanType::Sbom),
            _ => None,
        }
    }

    /// The report type its reports are stored under.
    fn mime(self) -> &'static str {
        match self {
            ScanType::Vulnerability => VULN_REPORT,
            ScanType::Sbom => SBOM_REPORT,
        }
    }

    fn job(self) -> &'static str {
        match self {
            ScanType::Vulnerability => SCAN_JOB,
            ScanType::Sbom => SBOM_JOB,
        }
    }

    /// The permission it takes.
    fn kind(self) -> Kind {
        match self {
            ScanType::Vulnerability => Kind::Scan,
            ScanType::Sbom => Kind::Sbom,
        }
    }
}

/// The built-in scanner, as reports name it.
pub fn builtin() -> ScannerInfo {
    ScannerInfo {
        name: "Berth".into(),
        vendor: "Berth".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The report type a client gets (`X-Accept-Vulnerabilities`): the first
/// known one it names, else the native one, as Harbor answers.
pub fn accepted(header: Option<&str>) -> &'static str {
    (header.unwrap_or_default().split(','))
        .find_map(|m| {
            [NATIVE_REPORT, VULN_REPORT]
                .into_iter()
                .find(|k| *k == m.trim())
        })
        .unwrap_or(NATIVE_REPORT)
}

/// What a scan job is given.
#[derive(Serialize, Deserialize)]
struct ScanParams {
    repository: String,
    targets: Vec<Target>,
    #[serde(rename = "type")]
    scan_type: ScanType,
    /// Who asked: an SBOM is pushed in their name.
    operator: String,
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
    settings: ProjectSettings,
    verdicts: ScanVerdicts,
    artifacts: Artifacts,
    jobs: Jobs,
    events: Events,
    vulndb: VulnDb,
}

/// The scan service.
#[derive(Clone)]
pub struct Scans {
    inner: Arc<Inner>,
    /// Scan all's runs, behind Harbor's `scan-all` system resource.
    all: Vendor,
}

/// Scan all takes no parameters.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ScanAllParams {}

impl JobParams for ScanAllParams {
    fn validate(&self) -> CoreResult<()> {
        Ok(())
    }
}

/// How far the latest scan all went (Harbor's `Stats`).
#[derive(Debug, Default)]
pub struct ScanAllStats {
    pub total: i64,
    pub completed: i64,
    /// Reports per state.
    pub metrics: BTreeMap<String, i64>,
    pub ongoing: bool,
    /// `Manual` or `Schedule`, when there was a run.
    pub trigger: Option<String>,
}

impl Scans {
    /// The service, on the registry's database; registers the scan jobs'
    /// code with `jobs`.
    pub fn new(
        registry: Arc<Registry>,
        projects: Projects,
        settings: ProjectSettings,
        verdicts: ScanVerdicts,
        artifacts: Artifacts,
        jobs: Jobs,
        events: Events,
    ) -> Self {
        let db = registry.db().clone();
        let inner = Arc::new(Inner {
            vulndb: VulnDb::new(db.clone()),
            db,
            registry,
            projects,
            settings,
            verdicts,
            artifacts,
            jobs: jobs.clone(),
            events,
        });
        for job in [SCAN_JOB, SBOM_JOB] {
            jobs.register_on(job, inner.clone(), |inner, ctx| async move {
                inner.run(ctx).await
            });
        }
        jobs.register_on(SCAN_ALL, inner.clone(), |inner, ctx| async move {
            inner.scan_all(ctx).await
        });
        let all = Vendor::new(jobs, SCAN_ALL, "scan-all");
        Scans { inner, all }
    }

    /// Scan all's runs: start, stop, schedule.
    pub fn all_runs(&self) -> &Vendor {
        &self.all
    }

    /// How far the latest scan all went (only scheduled ones when asked).
    pub async fn all_stats(
        &self,
        ctx: &SecurityContext,
        scheduled: bool,
    ) -> CoreResult<ScanAllStats> {
        let (runs, _) = self.all.history(ctx, 0, 50).await?;
        let latest = runs
            .into_iter()
            .find(|e| !scheduled || e.trigger == "SCHEDULE");
        let Some(run) = latest else {
            return Ok(ScanAllStats::default());
        };
        let states = db::states_of(self.inner.db.reader(), run.id).await?;
        let ended = ["Success", "Error", "Stopped"];
        Ok(ScanAllStats {
            total: states.iter().map(|(_, n)| n).sum(),
            completed: (states.iter())
                .filter(|(s, _)| ended.contains(&s.as_str()))
                .map(|(_, n)| n)
                .sum(),
            metrics: states.into_iter().collect(),
            ongoing: run.status == "Pending" || run.status == "Running",
            trigger: Some(match run.trigger.as_str() {
                "SCHEDULE" => "Schedule".into(),
                _ => "Manual".into(),
            }),
        })
    }

    /// Stops the latest scan all; 400 when there was none.
    pub async fn stop_all(&self, ctx: &SecurityContext) -> CoreResult<()> {
        let (runs, _) = self.all.history(ctx, 0, 1).await?;
        let run = runs
            .first()
            .ok_or_else(|| CoreError::BadRequest("no scan all job is found currently".into()))?;
        self.all.stop(ctx, run.id).await
    }

    /// Scans on push: a pushed image is scanned, or has its SBOM made,
    /// when its project's `auto_scan` or `auto_sbom_generation` is on.
    pub fn subscribe(&self) {
        self.inner.events.add_outbox(self.inner.clone());
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
        scan_type: ScanType,
    ) -> CoreResult<()> {
        let i = &self.inner;
        let (a, digests, earlier) = i
            .subject(ctx, repo, reference, Action::Create, scan_type)
            .await?;
        if digests.is_empty() {
            return Err(CoreError::BadRequest(format!(
                "the configured scanner Berth does not support scanning artifact with mime type {}",
                a.media_type
            )));
        }
        if let Some(busy) = earlier.iter().find(|r| busy(r)) {
            return Err(CoreError::Conflict(match scan_type {
                ScanType::Vulnerability => format!("a previous scan process is {}", busy.status),
                ScanType::Sbom => "a previous sbom generate process is running".into(),
            }));
        }
        let images = digests.clone();
        let request = Request {
            repo,
            artifact_id: a.id,
            digest: &a.digest,
            images,
            scan_type,
            operator: ctx.username(),
            trigger: "MANUAL",
        };
        let mut tx = i.db.begin().await?;
        let mut jobs = i.jobs.batch();
        request.enqueue(&mut tx, &mut jobs).await?;
        berth_db::commit(tx).await?;
        jobs.start();
        for d in &digests {
            i.verdicts.forget(d);
        }
        Ok(())
    }

    /// Stops the running scan of an artifact; 400 when none runs.
    pub async fn stop(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        scan_type: ScanType,
    ) -> CoreResult<()> {
        let i = &self.inner;
        let (a, _, reports) = i
            .subject(ctx, repo, reference, Action::Stop, scan_type)
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
            .subject(ctx, repo, reference, Action::Read, ScanType::Vulnerability)
            .await?;
        let mut out = BTreeMap::new();
        let done: Vec<Report> = rows
            .iter()
            .filter(|r| r.status == "Success")
            .filter_map(|r| serde_json::from_str(&r.report).ok())
            .collect();
        if !digests.is_empty() && done.len() == digests.len() {
            if let Some(merged) = Report::merge(done) {
                out.insert(accepted(accept).to_string(), merged);
            }
        }
        Ok(out)
    }

    /// The overviews of scans of a type of artifacts a caller has listed,
    /// by artifact id (those never scanned have none).
    pub async fn overviews(
        &self,
        rows: &[ArtifactRow],
        scan_type: ScanType,
    ) -> CoreResult<HashMap<i64, Overview>> {
        let i = &self.inner;
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
        let reports = db::of_digests(i.db.reader(), &all, BUILTIN, scan_type.mime()).await?;
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
                out.insert(id, o);
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

impl Outbox for Inner {
    fn enqueue<'a>(
        &'a self,
        tx: &'a mut berth_db::Tx,
        e: &'a Event,
    ) -> BoxFuture<'a, Result<Option<Enqueued>, berth_db::DbError>> {
        Box::pin(async move {
            let Event::ArtifactPushed(pushed) = e else {
                return Ok(None);
            };
            let settings = self.settings.of(pushed.repo.project()).await?;
            let on = |key: &str| settings.get(key).is_some_and(|v| v == "true");
            let wanted: Vec<ScanType> = [
                (ScanType::Vulnerability, "auto_scan"),
                (ScanType::Sbom, "auto_sbom_generation"),
            ]
            .into_iter()
            .filter(|(_, key)| on(key))
            .map(|(t, _)| t)
            .collect();
            if wanted.is_empty() {
                return Ok(None);
            }
            // An index's images are scanned as each is pushed.
            let repo = pushed.repo.as_str();
            let Some(row) = berth_db::artifacts::by_digest(&mut **tx, repo, &pushed.digest).await?
            else {
                return Ok(None);
            };
            if !Manifest::parse(&row.manifest, Some(&row.media_type))
                .is_ok_and(|m| is_scannable_image(&m))
            {
                return Ok(None);
            }
            let mut jobs = self.jobs.batch();
            for scan_type in wanted {
                let digests = [pushed.digest.as_str()];
                let earlier =
                    db::of_digests(&mut **tx, &digests, BUILTIN, scan_type.mime()).await?;
                if earlier.iter().any(busy) {
                    continue;
                }
                let request = Request {
                    repo: &pushed.repo,
                    artifact_id: row.id,
                    digest: &pushed.digest,
                    images: vec![pushed.digest.clone()],
                    scan_type,
                    operator: &pushed.operator,
                    trigger: "EVENT",
                };
                request.enqueue(tx, &mut jobs).await?;
            }
            Ok(Some(jobs))
        })
    }
}

/// A scan to queue.
struct Request<'a> {
    repo: &'a RepositoryName,
    artifact_id: i64,
    digest: &'a str,
    /// The digests of the images to scan (the artifact's, or an index's
    /// children's).
    images: Vec<String>,
    scan_type: ScanType,
    operator: &'a str,
    /// `MANUAL`, or `EVENT` for a scan on push.
    trigger: &'a str,
}

impl Request<'_> {
    /// Queues the job, and a pending report for each image, in the
    /// caller's transaction.
    async fn enqueue(
        self,
        tx: &mut berth_db::Tx,
        jobs: &mut Enqueued,
    ) -> Result<(), berth_db::DbError> {
        let targets: Vec<Target> = (self.images.into_iter())
            .map(|digest| Target {
                digest,
                report: uuid::Uuid::new_v4().to_string(),
            })
            .collect();
        let attrs = serde_json::json!({
            "artifact": {"id": self.artifact_id, "repository_name": self.repo.as_str(), "digest": self.digest},
            "registration": {"uuid": BUILTIN, "name": "Berth"},
            "enabled_capabilities": {"type": self.scan_type},
            "operator": self.operator,
        });
        let params = ScanParams {
            repository: self.repo.to_string(),
            targets,
            scan_type: self.scan_type,
            operator: self.operator.to_string(),
        };
        // Plain strings and numbers: serializing cannot fail.
        let params_json = serde_json::to_string(&params).unwrap_or_default();
        let job = NewJob {
            vendor_type: self.scan_type.job(),
            vendor_id: self.artifact_id,
            trigger: self.trigger,
            extra_attrs: &attrs.to_string(),
            job_type: self.scan_type.job(),
            params: &params_json,
            max_runs: 2,
        };
        let now = now_millis();
        let execution = jobs.add_task(tx, &job, now).await?;
        let mime = self.scan_type.mime();
        for t in &params.targets {
            db::start(
                &mut **tx, &t.report, &t.digest, BUILTIN, mime, execution, now,
            )
            .await?;
        }
        Ok(())
    }
}

/// A scan that has not ended.
fn busy(r: &db::Report) -> bool {
    r.status == "Pending" || r.status == "Running"
}

impl Inner {
    /// Checks that the caller may `action` on scans of the type in the
    /// artifact's project; the artifact, the digests of the images it is,
    /// and their reports of the type.
    async fn subject(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        action: Action,
        scan_type: ScanType,
    ) -> CoreResult<(ArtifactRow, Vec<String>, Vec<db::Report>)> {
        self.projects
            .require_in(ctx, repo.project(), action, scan_type.kind())
            .await?;
        let (a, m) = (self.artifacts)
            .manifest(ctx, &self.registry, repo, reference)
            .await?;
        let digests = self.images(repo, &a, &m).await?;
        let refs: Vec<&str> = digests.iter().map(String::as_str).collect();
        let mime = scan_type.mime();
        let reports = db::of_digests(self.db.reader(), &refs, BUILTIN, mime).await?;
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
            return Ok(if is_scannable_image(m) {
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
            if Manifest::parse(&row.manifest, Some(&row.media_type))
                .is_ok_and(|c| is_scannable_image(&c))
            {
                out.push(child.digest.to_string());
            }
        }
        Ok(out)
    }

    /// A scan job: each target's report is filled in turn.
    async fn run(&self, job: JobContext) -> JobResult {
        let p: ScanParams = job.params()?;
        let repo = RepositoryName::parse(&p.repository).map_err(|e| e.to_string())?;
        let mut failed = None;
        for t in &p.targets {
            if let Err(e) = self
                .scan_target(&job, &repo, t, p.scan_type, &p.operator)
                .await?
            {
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// One image's scan: its report marked running, then filled or marked
    /// failed. The outer error is the database's; the inner, the scan's.
    async fn scan_target(
        &self,
        job: &JobContext,
        repo: &RepositoryName,
        t: &Target,
        scan_type: ScanType,
        operator: &str,
    ) -> Result<Result<(), String>, String> {
        let w = self.db.writer();
        let running = db::set_status(w, &t.report, "Running", None).await;
        self.verdicts.forget(&t.digest);
        if !running.map_err(|e| e.to_string())? {
            job.log(format!("{}: a later scan replaced this one", t.digest));
            return Ok(Ok(()));
        }
        job.log(format!("scanning {repo}@{}", t.digest));
        let outcome = match scan_type {
            ScanType::Vulnerability => self.vulnerabilities(repo, &t.digest).await,
            ScanType::Sbom => self.sbom(repo, &t.digest, operator).await,
        };
        let now = now_millis();
        let written = match &outcome {
            Ok(done) => {
                job.log(&done.said);
                let summary = done.summary.to_string();
                db::finish(w, &t.report, &done.severity, &summary, &done.report, now).await
            }
            Err(e) => {
                job.log(format!("{}: {e}", t.digest));
                (db::set_status(w, &t.report, "Error", Some(now)).await).map(|_| ())
            }
        };
        self.verdicts.forget(&t.digest);
        written.map_err(|e| e.to_string())?;
        if scan_type == ScanType::Vulnerability {
            let kind = match outcome {
                Ok(_) => "SCANNING_COMPLETED",
                Err(_) => "SCANNING_FAILED",
            };
            self.announce(repo, t, kind, operator)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(outcome.map(|_| ()))
    }

    /// Tells the events bus (webhooks) how a scan ended, with its overview.
    async fn announce(
        &self,
        repo: &RepositoryName,
        t: &Target,
        kind: &'static str,
        operator: &str,
    ) -> Result<(), berth_db::DbError> {
        let Some(report) = db::by_uuid(self.db.reader(), &t.report).await? else {
            return Ok(());
        };
        let overview = serde_json::json!({ VULN_REPORT: overview(&report).to_json() });
        let artifact = crate::notify::events::Artifact {
            repo: repo.clone(),
            digest: t.digest.clone(),
            tags: Vec::new(),
            operator: if operator.is_empty() {
                "auto"
            } else {
                operator
            }
            .to_string(),
            at: now_millis(),
        };
        let end = crate::notify::events::ScanEnd { kind, overview };
        let mut tx = self.db.begin().await?;
        let staged = self
            .events
            .stage(&mut tx, Event::Scanned(artifact, end))
            .await?;
        berth_db::commit(tx).await?;
        staged.committed();
        Ok(())
    }

    /// Scan all: every image (each digest once) is queued under this run,
    /// keeping its last report until its turn comes, then scanned in turn.
    async fn scan_all(&self, job: JobContext) -> JobResult {
        let execution = job
            .execution_id()
            .ok_or("a scan all runs as a task of its own")?;
        let fail = |e: berth_db::DbError| e.to_string();
        let r = self.db.reader();
        let mut targets = Vec::new();
        for (repo, digest) in db::candidates(r).await.map_err(fail)? {
            let Ok(repo) = RepositoryName::parse(&repo) else {
                continue;
            };
            let row = berth_db::artifacts::by_digest(r, repo.as_str(), &digest).await;
            let image = (row.map_err(fail)?)
                .and_then(|m| Manifest::parse(&m.manifest, Some(&m.media_type)).ok())
                .is_some_and(|m| is_scannable_image(&m));
            let report = uuid::Uuid::new_v4().to_string();
            if image {
                targets.push((repo, Target { digest, report }));
            }
        }
        let mut tx = self.db.begin().await.map_err(fail)?;
        let now = now_millis();
        for (_, t) in &targets {
            db::queue(
                &mut *tx,
                &t.report,
                &t.digest,
                BUILTIN,
                VULN_REPORT,
                execution,
                now,
            )
            .await
            .map_err(fail)?;
        }
        berth_db::commit(tx).await.map_err(fail)?;
        job.log(format!("{} images to scan", targets.len()));
        let (mut scanned, mut failed) = (0, 0);
        for (repo, t) in &targets {
            match self
                .scan_target(&job, repo, t, ScanType::Vulnerability, "")
                .await?
            {
                Ok(()) => scanned += 1,
                Err(_) => failed += 1,
            }
        }
        job.log(format!("{scanned} scanned, {failed} failed"));
        Ok(())
    }

    /// Reads one image's layers and lists its packages; with its manifest.
    async fn inventory(
        &self,
        repo: &RepositoryName,
        digest: &str,
    ) -> Result<(ManifestRow, Inventory), String> {
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
        Ok((row, inventory))
    }

    /// An image's vulnerability report.
    async fn vulnerabilities(&self, repo: &RepositoryName, digest: &str) -> Result<Done, String> {
        let (_, inventory) = self.inventory(repo, digest).await?;
        let findings = self
            .vulndb
            .findings(&inventory, digest)
            .await
            .map_err(|e| e.to_string())?;
        let report = Report::new(findings, builtin(), now_millis());
        Ok(Done {
            said: format!(
                "{} packages, {} vulnerabilities, severity {}",
                inventory.packages.len(),
                report.vulnerabilities.len(),
                report.severity.as_str()
            ),
            severity: report.severity.as_str().into(),
            summary: report.summary(),
            report: serde_json::to_string(&report).map_err(|e| e.to_string())?,
        })
    }

    /// An image's SBOM (SPDX JSON), pushed beside it as Harbor pushes one:
    /// an image manifest whose config is Harbor's SBOM type, whose one
    /// layer is the document, and whose subject is the image.
    async fn sbom(
        &self,
        repo: &RepositoryName,
        digest: &str,
        operator: &str,
    ) -> Result<Done, String> {
        let (subject, inventory) = self.inventory(repo, digest).await?;
        let now = now_millis();
        let created = crate::timestamp(now);
        let namespace = format!("https://berth.invalid/spdx/{repo}/{}", uuid::Uuid::new_v4());
        let tool = format!("Berth-{}", env!("CARGO_PKG_VERSION"));
        let document = berth_scan::sbom::spdx(
            &inventory,
            &berth_scan::sbom::Subject {
                repository: repo.as_str(),
                digest,
                namespace: &namespace,
                created: &created,
                tool: &tool,
            },
        );
        let layer = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
        let layer_digest = self.push_blob(repo, layer.clone()).await?;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "", "os": "", "created": created,
            "history": [{"created": created, "created_by": "Berth", "author": "Berth"}],
            "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        }))
        .map_err(|e| e.to_string())?;
        let config_digest = self.push_blob(repo, config.clone()).await?;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": berth_oci::media::OCI_MANIFEST,
            "config": {"mediaType": SBOM_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.to_string(), "size": layer.len()}],
            "annotations": {
                "created": created,
                "created-by": "Berth",
                "org.opencontainers.artifact.created": created,
                "org.opencontainers.artifact.description": "SPDX JSON SBOM",
            },
            "subject": {"mediaType": subject.media_type, "digest": digest, "size": subject.manifest.len()},
        }))
        .map_err(|e| e.to_string())?;
        let sbom_digest = berth_storage::digest_of(&manifest);
        self.registry
            .put_manifest(
                repo,
                &Reference::Digest(sbom_digest.clone()),
                Some(berth_oci::media::OCI_MANIFEST),
                &manifest,
                Vec::new(),
                operator,
            )
            .await
            .map_err(|e| format!("pushing the SBOM: {e}"))?;
        Ok(Done {
            said: format!(
                "{} packages; SBOM {sbom_digest} pushed",
                inventory.packages.len()
            ),
            severity: String::new(),
            summary: serde_json::json!({"sbom_digest": sbom_digest.to_string()}),
            report: String::new(),
        })
    }

    /// Stores a small blob in a repository.
    async fn push_blob(&self, repo: &RepositoryName, bytes: Vec<u8>) -> Result<Digest, String> {
        let digest = berth_storage::digest_of(&bytes);
        let len = bytes.len() as u64;
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
            bytes::Bytes::from(bytes),
        )]);
        self.registry
            .upload_monolithic(repo, &digest, Some(len), body)
            .await
            .map_err(|e| format!("pushing a blob of the SBOM: {e}"))?;
        Ok(digest)
    }
}

/// What a scan of one image made.
struct Done {
    /// A line for the log.
    said: String,
    severity: String,
    summary: serde_json::Value,
    report: String,
}
