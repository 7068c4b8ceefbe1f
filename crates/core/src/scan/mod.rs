//! Vulnerability scanning: scans are jobs (`IMAGE_SCAN`) run by the
//! project's scanner. The built-in one reads an image's layers from
//! storage, lists its packages (`berth_scan`) and matches them against the
//! vulnerability database; another is called through Harbor's pluggable
//! scanner API, handed a robot that may pull the image. Reports are kept
//! per manifest digest and scanner, as Harbor keeps them.

pub mod adapter;
pub mod export;
mod hub;
mod remote_scan;
pub mod report;
pub mod scanners;
mod serve;
pub mod vulndb;

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::iam::robots::Robots;
use crate::iam::secrets::Secrets;
use crate::iam::token::TokenService;
use crate::jobs::{Enqueued, JobContext, JobParams, JobResult, Jobs, Vendor};
use crate::notify::events::{Event, Events, Outbox};
use crate::policy::{ProjectSettings, ScanVerdicts};
use crate::project::artifacts::{is_index, ArtifactRow, Artifacts};
use crate::project::Projects;
use crate::registry::Registry;
use berth_db::artifacts::ManifestRow;
use berth_db::jobs::NewJob;
use berth_db::scanners::Registration;
use berth_db::{now_millis, scans as db, Db};
use berth_oci::artifact::is_scannable_image;
use berth_oci::manifest::{Manifest, ManifestKind};
use berth_oci::{Digest, Reference, RepositoryName};
use berth_scan::inventory::{Inventory, Layers};
use berth_scan::BUILTIN_SCANNER as BUILTIN;
pub use berth_scan::{NATIVE_REPORT, SBOM_REPORT, VULN_REPORT};
use futures_util::future::BoxFuture;
pub use hub::{Listed, SecuritySummary};
use report::{Overview, Report, ScannerInfo};
pub use scanners::Scanners;
use serde::{Deserialize, Serialize};
pub use serve::AdapterReport;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
pub use vulndb::VulnDb;

/// The job type (and execution vendor) of a vulnerability scan.
pub const SCAN_JOB: &str = "IMAGE_SCAN";
/// The job type (and execution vendor) of a scan of every image.
pub const SCAN_ALL: &str = "SCAN_ALL";
/// The job type (and execution vendor) of an SBOM generation.
pub const SBOM_JOB: &str = "SBOM";
/// Reports a scan all queues per transaction.
const QUEUED_PER_TX: usize = 200;
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

    /// Harbor's word for it (a capability's type).
    pub fn word(self) -> &'static str {
        match self {
            ScanType::Vulnerability => "vulnerability",
            ScanType::Sbom => "sbom",
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
    /// The registration that scans (the built-in scanner for jobs queued
    /// before registrations were).
    #[serde(default = "builtin_uuid")]
    registration: String,
    repository: String,
    targets: Vec<Target>,
    #[serde(rename = "type")]
    scan_type: ScanType,
    /// Who asked: an SBOM is pushed in their name.
    operator: String,
}

fn builtin_uuid() -> String {
    BUILTIN.to_string()
}

/// A manifest to scan and the report it fills.
#[derive(Serialize, Deserialize)]
struct Target {
    digest: String,
    report: String,
}

/// Where scanners reach Berth's `/v2` to pull what they scan.
#[derive(Debug, Clone)]
pub struct RegistryUrls {
    /// The URL clients use.
    pub external: String,
    /// Berth's own address (a registration's `use_internal_addr`).
    pub internal: String,
}

struct Inner {
    db: Db,
    registry: Arc<Registry>,
    scanners: Scanners,
    robots: Robots,
    tokens: Arc<TokenService>,
    urls: RegistryUrls,
    refresh: vulndb::Refresh,
    work_dir: std::path::PathBuf,
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

/// The services a scan needs besides the registry's.
pub struct ScanDeps {
    pub projects: Projects,
    pub settings: ProjectSettings,
    pub verdicts: ScanVerdicts,
    pub artifacts: Artifacts,
    pub jobs: Jobs,
    pub events: Events,
    pub robots: Robots,
    pub tokens: Arc<TokenService>,
    pub urls: RegistryUrls,
    /// Where the vulnerability database is refreshed from, and when.
    pub refresh: vulndb::Refresh,
    /// Where downloads are written while they are imported.
    pub work_dir: std::path::PathBuf,
    /// Seals adapters' credentials at rest.
    pub secrets: Secrets,
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
    pub fn new(registry: Arc<Registry>, deps: ScanDeps) -> Self {
        let db = registry.db().clone();
        let vulndb = VulnDb::new(db.clone());
        let jobs = deps.jobs;
        let inner = Arc::new(Inner {
            scanners: Scanners::new(
                db.clone(),
                deps.projects.clone(),
                vulndb.clone(),
                deps.verdicts.clone(),
                deps.secrets,
            ),
            vulndb,
            db,
            registry,
            robots: deps.robots,
            tokens: deps.tokens,
            urls: deps.urls,
            refresh: deps.refresh,
            work_dir: deps.work_dir,
            projects: deps.projects,
            settings: deps.settings,
            verdicts: deps.verdicts,
            artifacts: deps.artifacts,
            jobs: jobs.clone(),
            events: deps.events,
        });
        for job in [SCAN_JOB, SBOM_JOB] {
            jobs.register_on(job, inner.clone(), |inner, ctx| async move {
                inner.run(ctx).await
            });
        }
        jobs.register_on(serve::ADAPTER_JOB, inner.clone(), |inner, ctx| async move {
            inner.adapter_scan(ctx).await
        });
        jobs.register_on(export::EXPORT_JOB, inner.clone(), |inner, ctx| async move {
            inner.export(ctx).await
        });
        jobs.register_on(
            vulndb::REFRESH_JOB,
            inner.clone(),
            |inner, ctx| async move {
                let i = &inner;
                i.vulndb.refresh(&i.refresh.urls, &i.work_dir, &ctx).await
            },
        );
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

    /// Schedules the refresh of the vulnerability database from its URLs
    /// (none: no refresh), and runs one now when it was never imported or
    /// is older than a day.
    pub async fn schedule_vulndb_refresh(&self) -> CoreResult<()> {
        let i = &self.inner;
        let job = vulndb::REFRESH_JOB;
        if i.refresh.urls.is_empty() {
            return i.jobs.set_schedule(job, "None", None, "{}").await;
        }
        i.jobs
            .set_schedule(job, "Custom", Some(&i.refresh.cron), "{}")
            .await?;
        let running = berth_db::jobs::has_active(i.db.reader(), job, -1).await?;
        if i.vulndb.stale().await? && !running {
            i.jobs
                .enqueue(&NewJob {
                    vendor_type: job,
                    vendor_id: -1,
                    trigger: "MANUAL",
                    extra_attrs: "{}",
                    job_type: job,
                    params: "{}",
                    max_runs: 3,
                })
                .await?;
        }
        Ok(())
    }

    /// The scanner registrations.
    pub fn scanners(&self) -> &Scanners {
        &self.inner.scanners
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
        let Subject {
            artifact: a,
            images: digests,
            reports: earlier,
            registration,
        } = i
            .subject(ctx, repo, reference, Action::Create, scan_type)
            .await?;
        if registration.disabled {
            return Err(CoreError::Precondition(format!(
                "scanner {} is deactivated",
                registration.name
            )));
        }
        let capable = match registration.uuid == BUILTIN {
            true => true,
            false => (i.scanners.metadata_of(&registration).await)
                .map_err(|e| {
                    CoreError::Precondition(format!("scanner {}: {e}", registration.name))
                })?
                .capabilities
                .iter()
                .any(|c| c.kind() == scan_type.word()),
        };
        if digests.is_empty() || !capable {
            return Err(CoreError::BadRequest(format!(
                "the configured scanner {} does not support scanning artifact with mime type {}",
                registration.name, a.media_type
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
            registration: &registration,
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
        let Subject {
            artifact: a,
            reports,
            registration,
            ..
        } = i
            .subject(ctx, repo, reference, Action::Stop, scan_type)
            .await?;
        let stopping: Vec<&db::Report> = (reports.iter())
            .filter(|r| busy(r) && r.execution_id.is_some())
            .collect();
        if stopping.is_empty() {
            return Err(CoreError::BadRequest(format!(
                "no scan job for artifact digest={}",
                a.digest
            )));
        }
        for r in &stopping {
            let Some(e) = r.execution_id else { continue };
            for task in berth_db::jobs::tasks_of(i.db.reader(), e).await? {
                match i.jobs.stop_task(task.id).await {
                    Ok(()) | Err(CoreError::Precondition(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if scan_type == ScanType::Vulnerability {
            for r in stopping {
                let t = Target {
                    digest: r.digest.clone(),
                    report: r.uuid.clone(),
                };
                let (user, reg) = (ctx.username(), Some(&registration));
                i.announce(repo, &t, "SCANNING_STOPPED", user, reg).await?;
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
        let Subject {
            images: digests,
            reports: rows,
            ..
        } = self
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
        let Some(first) = rows.first() else {
            return Ok(HashMap::new());
        };
        // A list is of one repository's artifacts, or one project's.
        let project = first.repository_name.split('/').next().unwrap_or_default();
        let registration = i.scanners.resolve(project).await?;
        let scanner = i.scanner_info(&registration).await;
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
        let reg = registration.uuid.as_str();
        let reports = db::of_digests(i.db.reader(), &all, reg, scan_type.mime()).await?;
        let by_digest: HashMap<&str, &db::Report> =
            reports.iter().map(|r| (r.digest.as_str(), r)).collect();
        let mut out = HashMap::new();
        for (id, digests) in images {
            let children: Vec<Overview> = digests
                .iter()
                .filter_map(|d| by_digest.get(d.as_str()))
                .map(|r| overview(r, &scanner))
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

fn overview(r: &db::Report, scanner: &ScannerInfo) -> Overview {
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
        scanner: scanner.clone(),
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
            let project = pushed.repo.project();
            let Some(registration) = berth_db::scanners::of_project(&mut **tx, project).await?
            else {
                return Ok(None);
            };
            if registration.disabled {
                return Ok(None);
            }
            let mut jobs = self.jobs.batch();
            for scan_type in wanted {
                let digests = [pushed.digest.as_str()];
                let reg = registration.uuid.as_str();
                let earlier = db::of_digests(&mut **tx, &digests, reg, scan_type.mime()).await?;
                if earlier.iter().any(busy) {
                    continue;
                }
                let request = Request {
                    registration: &registration,
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
    registration: &'a Registration,
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
            "registration": {"uuid": self.registration.uuid, "name": self.registration.name},
            "enabled_capabilities": {"type": self.scan_type},
            "operator": self.operator,
        });
        let params = ScanParams {
            registration: self.registration.uuid.clone(),
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
            let reg = &self.registration.uuid;
            db::start(&mut **tx, &t.report, &t.digest, reg, mime, execution, now).await?;
            if self.scan_type == ScanType::Vulnerability {
                berth_db::findings::clear(&mut **tx, &t.digest, reg).await?;
            }
        }
        Ok(())
    }
}

/// A scan that has not ended.
fn busy(r: &db::Report) -> bool {
    r.status == "Pending" || r.status == "Running"
}

/// An artifact a scan request is about.
struct Subject {
    artifact: ArtifactRow,
    /// The digests of the images it is.
    images: Vec<String>,
    /// Their reports of the type asked about, by the project's scanner.
    reports: Vec<db::Report>,
    /// The project's scanner.
    registration: Registration,
}

impl Inner {
    /// Checks that the caller may `action` on scans of the type in the
    /// artifact's project; the artifact and what scans of it are.
    async fn subject(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        action: Action,
        scan_type: ScanType,
    ) -> CoreResult<Subject> {
        self.projects
            .require_in(ctx, repo.project(), action, scan_type.kind())
            .await?;
        let (a, m) = (self.artifacts)
            .manifest(ctx, &self.registry, repo, reference)
            .await?;
        let images = self.images(repo, &a, &m).await?;
        let registration = self.scanners.resolve(repo.project()).await?;
        let refs: Vec<&str> = images.iter().map(String::as_str).collect();
        let (reg, mime) = (registration.uuid.as_str(), scan_type.mime());
        let reports = db::of_digests(self.db.reader(), &refs, reg, mime).await?;
        Ok(Subject {
            artifact: a,
            images,
            reports,
            registration,
        })
    }

    /// Who reports name as their scanner: the built-in one, or what a
    /// registration's adapter last said of itself.
    async fn scanner_info(&self, r: &Registration) -> ScannerInfo {
        if r.uuid == BUILTIN {
            return builtin();
        }
        match self.scanners.metadata_of(r).await {
            Ok(m) => m.scanner,
            Err(_) => ScannerInfo {
                name: r.name.clone(),
                ..ScannerInfo::default()
            },
        }
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
        let registration = berth_db::scanners::by_uuid(self.db.reader(), &p.registration)
            .await
            .map_err(|e| e.to_string())?;
        let mut failed = None;
        for t in &p.targets {
            let scan = Scan {
                registration: registration.as_ref(),
                repo: &repo,
                target: t,
                scan_type: p.scan_type,
                operator: &p.operator,
            };
            if let Err(e) = self.scan_target(&job, scan).await? {
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
        scan: Scan<'_>,
    ) -> Result<Result<(), String>, String> {
        let Scan {
            registration,
            repo,
            target: t,
            scan_type,
            operator,
        } = scan;
        let w = self.db.writer();
        let running = db::set_status(w, &t.report, "Running", None).await;
        self.verdicts.forget(&t.digest);
        if !running.map_err(|e| e.to_string())? {
            job.log(format!("{}: a later scan replaced this one", t.digest));
            return Ok(Ok(()));
        }
        let outcome = match registration {
            None => Err("the scanner registration was deleted".to_string()),
            Some(r) if r.uuid == BUILTIN => {
                job.log(format!("scanning {repo}@{}", t.digest));
                match scan_type {
                    ScanType::Vulnerability => self.vulnerabilities(repo, &t.digest).await,
                    ScanType::Sbom => self.sbom(repo, &t.digest, operator).await,
                }
            }
            Some(r) => {
                job.log(format!("asking {} to scan {repo}@{}", r.name, t.digest));
                self.remote_scan(job, r, repo, &t.digest, scan_type, operator)
                    .await
            }
        };
        let now = now_millis();
        let written = match (&outcome, registration) {
            (Ok(done), Some(reg)) => {
                job.log(&done.said);
                self.store(t, reg, done, now).await
            }
            (Ok(_), None) => Ok(()),
            (Err(e), _) => {
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
            self.announce(repo, t, kind, operator, registration)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(outcome.map(|_| ()))
    }

    /// Stores a finished report and, for a vulnerability report, its
    /// findings as rows (unless a later scan replaced the report meanwhile).
    async fn store(
        &self,
        t: &Target,
        registration: &Registration,
        done: &Done,
        now: i64,
    ) -> Result<(), berth_db::DbError> {
        let summary = done.summary.to_string();
        let mut tx = self.db.begin().await?;
        let stored = db::finish(
            &mut *tx,
            &t.report,
            &done.severity,
            &summary,
            &done.report,
            now,
        )
        .await?;
        if stored && !done.findings.is_empty() {
            let reg = &registration.uuid;
            berth_db::findings::replace(&mut tx, &t.digest, reg, &done.findings).await?;
        }
        berth_db::commit(tx).await
    }

    /// Tells the events bus (webhooks) how a scan ended, with its overview.
    async fn announce(
        &self,
        repo: &RepositoryName,
        t: &Target,
        kind: &'static str,
        operator: &str,
        registration: Option<&Registration>,
    ) -> Result<(), berth_db::DbError> {
        let Some(mut report) = db::by_uuid(self.db.reader(), &t.report).await? else {
            return Ok(());
        };
        if kind == "SCANNING_STOPPED" {
            // Told as the stop is asked: the run ends a moment later.
            report.status = "Stopped".into();
            report.end_time = Some(now_millis());
        }
        let scanner = match registration {
            Some(r) => self.scanner_info(r).await,
            None => ScannerInfo::default(),
        };
        let overview = serde_json::json!({ VULN_REPORT: overview(&report, &scanner).to_json() });
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
        // Each project's scanner (None: none usable), looked up once.
        let mut scanners: HashMap<String, Option<Registration>> = HashMap::new();
        for (repo, digest) in db::candidates(r).await.map_err(fail)? {
            let Ok(repo) = RepositoryName::parse(&repo) else {
                continue;
            };
            let project = repo.project().to_string();
            if !scanners.contains_key(&project) {
                let reg = berth_db::scanners::of_project(r, &project).await;
                let usable = reg.map_err(fail)?.filter(|reg| !reg.disabled);
                scanners.insert(project.clone(), usable);
            }
            if scanners.get(&project).is_none_or(Option::is_none) {
                continue;
            }
            let row = berth_db::artifacts::by_digest(r, repo.as_str(), &digest).await;
            let image = (row.map_err(fail)?)
                .and_then(|m| Manifest::parse(&m.manifest, Some(&m.media_type)).ok())
                .is_some_and(|m| is_scannable_image(&m));
            let report = uuid::Uuid::new_v4().to_string();
            if image {
                targets.push((repo, Target { digest, report }));
            }
        }
        // A transaction per batch: SQLite has one writer, which pushes,
        // claims and heartbeats must not wait on for long.
        let now = now_millis();
        for batch in targets.chunks(QUEUED_PER_TX) {
            let mut tx = self.db.begin().await.map_err(fail)?;
            for (repo, t) in batch {
                let Some(Some(reg)) = scanners.get(repo.project()) else {
                    continue;
                };
                let (uuid, mime) = (reg.uuid.as_str(), VULN_REPORT);
                db::queue(&mut *tx, &t.report, &t.digest, uuid, mime, execution, now)
                    .await
                    .map_err(fail)?;
            }
            berth_db::commit(tx).await.map_err(fail)?;
        }
        job.log(format!("{} images to scan", targets.len()));
        let (mut scanned, mut failed) = (0, 0);
        for (repo, t) in &targets {
            let scan = Scan {
                registration: scanners.get(repo.project()).and_then(Option::as_ref),
                repo,
                target: t,
                scan_type: ScanType::Vulnerability,
                operator: "",
            };
            match self.scan_target(&job, scan).await? {
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
        let packages = inventory.packages.len();
        Done::of(&report, format!("{packages} packages"))
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
        let document = spdx(&inventory, repo.as_str(), digest);
        let layer = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
        let pushed = self.push_sbom(repo, &subject, layer, operator).await?;
        Ok(Done {
            said: format!("{} packages; {}", inventory.packages.len(), pushed.said),
            ..pushed
        })
    }

    /// Pushes an SBOM document beside the image it describes, as Harbor
    /// pushes one: an image manifest whose config is Harbor's SBOM type,
    /// whose one layer is the document, and whose subject is the image.
    async fn push_sbom(
        &self,
        repo: &RepositoryName,
        subject: &ManifestRow,
        layer: Vec<u8>,
        operator: &str,
    ) -> Result<Done, String> {
        let digest = subject.digest.as_str();
        let created = crate::timestamp(now_millis());
        let layer_digest = self.push_blob((repo, operator), layer.clone()).await?;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "", "os": "", "created": created,
            "history": [{"created": created, "created_by": "Berth", "author": "Berth"}],
            "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        }))
        .map_err(|e| e.to_string())?;
        let config_digest = self.push_blob((repo, operator), config.clone()).await?;
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
            said: format!("SBOM {sbom_digest} pushed"),
            severity: String::new(),
            summary: serde_json::json!({"sbom_digest": sbom_digest.to_string()}),
            report: String::new(),
            findings: Vec::new(),
        })
    }

    /// Stores a small blob in a repository.
    async fn push_blob(
        &self,
        to: (&RepositoryName, &str),
        bytes: Vec<u8>,
    ) -> Result<Digest, String> {
        let digest = berth_storage::digest_of(&bytes);
        let len = bytes.len() as u64;
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
            bytes::Bytes::from(bytes),
        )]);
        self.registry
            .upload_monolithic(to, &digest, Some(len), body)
            .await
            .map_err(|e| format!("pushing a blob of the SBOM: {e}"))?;
        Ok(digest)
    }
}

/// An image's SBOM, as Berth writes one (SPDX 2.3 JSON).
fn spdx(inventory: &Inventory, repository: &str, digest: &str) -> serde_json::Value {
    let created = crate::timestamp(now_millis());
    let namespace = format!(
        "https://berth.invalid/spdx/{repository}/{}",
        uuid::Uuid::new_v4()
    );
    let tool = format!("Berth-{}", env!("CARGO_PKG_VERSION"));
    berth_scan::sbom::spdx(
        inventory,
        &berth_scan::sbom::Subject {
            repository,
            digest,
            namespace: &namespace,
            created: &created,
            tool: &tool,
        },
    )
}

/// One image to scan, by whom, for what.
#[derive(Clone, Copy)]
struct Scan<'a> {
    /// None when the registration was deleted since the scan was queued.
    registration: Option<&'a Registration>,
    repo: &'a RepositoryName,
    target: &'a Target,
    scan_type: ScanType,
    operator: &'a str,
}

/// What a scan of one image made.
struct Done {
    /// A line for the log.
    said: String,
    severity: String,
    summary: serde_json::Value,
    report: String,
    /// A vulnerability report's findings, as rows.
    findings: Vec<berth_db::findings::NewFinding>,
}

impl Done {
    /// A vulnerability report made, with what the scan saw first.
    fn of(report: &Report, saw: String) -> Result<Done, String> {
        Ok(Done {
            said: format!(
                "{saw}, {} vulnerabilities, severity {}",
                report.vulnerabilities.len(),
                report.severity.as_str()
            ),
            severity: report.severity.as_str().into(),
            summary: report.summary(),
            report: serde_json::to_string(report).map_err(|e| e.to_string())?,
            findings: (report.vulnerabilities.iter())
                .map(|f| berth_db::findings::NewFinding {
                    cve_id: f.id.clone(),
                    package: f.package.clone(),
                    version: f.version.clone(),
                    fixed_version: f.fix_version.clone(),
                    severity: f.severity.as_str().into(),
                    severity_code: i64::from(f.severity.code()),
                    cvss_score_v3: f.preferred_cvss.score_v3,
                    description: f.description.clone(),
                    links: serde_json::to_string(&f.links).unwrap_or_else(|_| "[]".into()),
                    cwe_ids: f.cwe_ids.join(","),
                    vendor_attributes: serde_json::to_string(&f.vendor_attributes)
                        .unwrap_or_else(|_| "{}".into()),
                })
                .collect(),
        })
    }
}
