//! The built-in scanner served as a pluggable scanner adapter, so other
//! registries (another Berth, Harbor) can use it: a scan request becomes a
//! job that pulls the image from the registry named in the request, with
//! the credential handed over, and leaves its report to be fetched.

use super::adapter::{Metadata, SbomReport, ScanRequest, SPDX};
use super::{builtin, spdx, Inner, Scans, NATIVE_REPORT, SBOM_REPORT, VULN_REPORT};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Resource};
use crate::jobs::{JobContext, JobResult};
use crate::remote::{Remote, Verified};
use berth_db::jobs::NewJob;
use berth_db::{adapter_scans as db, now_millis};
use berth_oci::artifact::is_scannable_image;
use berth_oci::manifest::Manifest;
use berth_oci::{Digest, RepositoryName};
use berth_scan::inventory::{Inventory, Layers};
use serde::{Deserialize, Serialize};
use tokio_util::io::{StreamReader, SyncIoBridge};

/// The job type of a scan asked of the adapter.
pub const ADAPTER_JOB: &str = "SCANNER_ADAPTER_SCAN";
/// How long a requested scan and its report are kept.
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// What a report poll is answered.
pub enum AdapterReport {
    /// Not ready: poll again.
    Pending,
    /// The report, of this type.
    Ready { mime: &'static str, body: String },
    /// The scan failed, for this reason.
    Failed(String),
}

#[derive(Serialize, Deserialize)]
struct AdapterParams {
    id: String,
}

/// Who may use the adapter: whoever may register scanners (system
/// administrators, system robots granted `scanner`).
async fn allowed(ctx: &SecurityContext) -> CoreResult<()> {
    require(ctx, Action::Create, Resource::System("scanner")).await
}

impl Scans {
    /// The adapter's metadata.
    pub async fn adapter_metadata(&self, ctx: &SecurityContext) -> CoreResult<Metadata> {
        allowed(ctx).await?;
        self.inner.scanners.builtin_metadata().await
    }

    /// Accepts a scan request; its id. A bad field is `BadRequest`; what
    /// the scanner cannot do is `Precondition`.
    pub async fn adapter_scan(
        &self,
        ctx: &SecurityContext,
        req: &ScanRequest,
    ) -> CoreResult<String> {
        allowed(ctx).await?;
        let url = reqwest::Url::parse(&req.registry.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if url.is_none() {
            return Err(CoreError::BadRequest(format!(
                "registry.url {:?} is not an http or https URL",
                req.registry.url
            )));
        }
        RepositoryName::parse(&req.artifact.repository)
            .map_err(|e| CoreError::BadRequest(format!("artifact.repository: {e}")))?;
        Digest::parse(&req.artifact.digest)
            .map_err(|e| CoreError::BadRequest(format!("artifact.digest: {e}")))?;
        let image_types = super::adapter::IMAGE_TYPES;
        if !req.artifact.mime_type.is_empty()
            && !image_types.contains(&req.artifact.mime_type.as_str())
        {
            return Err(CoreError::Precondition(format!(
                "unsupported artifact type {}",
                req.artifact.mime_type
            )));
        }
        let kind = (req.enabled_capabilities.first())
            .map_or("vulnerability", |c| c.kind.as_str())
            .to_string();
        if kind != "vulnerability" && kind != "sbom" {
            return Err(CoreError::Precondition(format!(
                "unsupported capability {kind}"
            )));
        }
        let i = &self.inner;
        let id = uuid::Uuid::new_v4().to_string();
        let request = serde_json::to_string(req).map_err(|e| CoreError::Internal(e.to_string()))?;
        let params = serde_json::to_string(&AdapterParams { id: id.clone() })
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let attrs = serde_json::json!({"scan_request_id": id, "repository": req.artifact.repository, "digest": req.artifact.digest});
        let job = NewJob {
            vendor_type: ADAPTER_JOB,
            vendor_id: 0,
            trigger: "MANUAL",
            extra_attrs: &attrs.to_string(),
            job_type: ADAPTER_JOB,
            params: &params,
            max_runs: 1,
        };
        let now = now_millis();
        let mut tx = i.db.begin().await?;
        db::insert(&mut tx, &id, &kind, &request, now, now - KEEP_MS).await?;
        let mut jobs = i.jobs.batch();
        jobs.add_task(&mut tx, &job, now).await?;
        berth_db::commit(tx).await?;
        jobs.start();
        Ok(id)
    }

    /// A requested scan's report, in a type its capability produces
    /// (`Precondition` for another; `BadRequest` for an SBOM asked in a
    /// format other than SPDX).
    pub async fn adapter_report(
        &self,
        ctx: &SecurityContext,
        id: &str,
        accept: Option<&str>,
        sbom_media_type: Option<&str>,
    ) -> CoreResult<AdapterReport> {
        allowed(ctx).await?;
        let scan = db::get(self.inner.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("scan request {id} not found")))?;
        let produced: &[&'static str] = match scan.kind.as_str() {
            "sbom" => &[SBOM_REPORT],
            _ => &[VULN_REPORT, NATIVE_REPORT],
        };
        let accept = accept
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "*/*");
        let mime = match accept {
            None => produced[0],
            Some(a) => (produced.iter().find(|m| **m == a))
                .ok_or_else(|| CoreError::Precondition(format!("unsupported report type {a}")))?,
        };
        if scan.kind == "sbom" && sbom_media_type != Some(SPDX) {
            return Err(CoreError::BadRequest(format!(
                "sbom_media_type must be {SPDX}"
            )));
        }
        Ok(match scan.status.as_str() {
            "Success" => AdapterReport::Ready {
                mime,
                body: scan.report,
            },
            "Error" => AdapterReport::Failed(scan.error),
            _ => AdapterReport::Pending,
        })
    }
}

impl Inner {
    /// The adapter's scan job.
    pub(super) async fn adapter_scan(&self, job: JobContext) -> JobResult {
        let p: AdapterParams = job.params()?;
        let w = self.db.writer();
        let Some(scan) = db::get(w, &p.id).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        db::running(w, &p.id).await.map_err(|e| e.to_string())?;
        let outcome = match serde_json::from_str::<ScanRequest>(&scan.request) {
            Ok(req) => self.serve_scan(&job, &scan.kind, &req).await,
            Err(e) => Err(format!("the stored request: {e}")),
        };
        if let Err(e) = &outcome {
            job.log(e);
        }
        (db::finish(w, &p.id, outcome.as_deref().map_err(String::as_str)).await)
            .map_err(|e| e.to_string())?;
        outcome.map(|_| ())
    }

    /// Pulls the image the request names and scans it; the report's JSON.
    async fn serve_scan(
        &self,
        job: &JobContext,
        kind: &str,
        req: &ScanRequest,
    ) -> Result<String, String> {
        let repo = RepositoryName::parse(&req.artifact.repository).map_err(|e| e.to_string())?;
        let digest = Digest::parse(&req.artifact.digest).map_err(|e| e.to_string())?;
        job.log(format!("pulling {repo}@{digest} from {}", req.registry.url));
        let remote = Remote::new(&req.registry.url, &req.registry.authorization, false)?;
        let inventory = pulled_inventory(&remote, &repo, &digest).await?;
        let now = now_millis();
        let json = match kind {
            "sbom" => serde_json::to_string(&SbomReport {
                generated_at: crate::timestamp(now),
                artifact: Some(req.artifact.clone()),
                scanner: builtin(),
                media_type: SPDX.into(),
                sbom: spdx(&inventory, repo.as_str(), &req.artifact.digest),
            }),
            _ => {
                let findings = (self.vulndb.findings(&inventory, &req.artifact.digest).await)
                    .map_err(|e| e.to_string())?;
                let report = super::report::Report::new(findings, builtin(), now);
                job.log(format!(
                    "{} packages, {} vulnerabilities",
                    inventory.packages.len(),
                    report.vulnerabilities.len()
                ));
                serde_json::to_value(&report).and_then(|mut v| {
                    v["artifact"] = serde_json::to_value(&req.artifact)?;
                    serde_json::to_string(&v)
                })
            }
        };
        json.map_err(|e| e.to_string())
    }
}

/// Pulls an image's layers from a registry, each checked against its
/// digest as it streams by, and lists its packages.
async fn pulled_inventory(
    remote: &Remote,
    repo: &RepositoryName,
    digest: &Digest,
) -> Result<Inventory, String> {
    let (media_type, bytes) = remote.manifest(repo, digest).await?;
    let m = Manifest::parse(&bytes, Some(&media_type)).map_err(|e| e.to_string())?;
    if !is_scannable_image(&m) {
        return Err(format!("{repo}@{digest} is not an image the scanner reads"));
    }
    let mut layers = Layers::new();
    for l in &m.layers {
        let stream = remote.blob(repo, &l.digest).await?;
        let reader = SyncIoBridge::new(StreamReader::new(stream));
        let expected = l.digest.clone();
        let (back, read) = tokio::task::spawn_blocking(move || {
            let mut verified = Verified::new(reader, expected);
            let read = (layers.add(&mut verified).map_err(|e| e.to_string()))
                .and_then(|()| verified.finish().map_err(|e| e.to_string()));
            (layers, read)
        })
        .await
        .map_err(|e| e.to_string())?;
        layers = back;
        read.map_err(|e| format!("layer {}: {e}", l.digest))?;
    }
    tokio::task::spawn_blocking(move || layers.inventory())
        .await
        .map_err(|e| e.to_string())
}
