//! Scans by a scanner reached through Harbor's pluggable scanner API: the
//! adapter is handed a robot of the project that may pull the image (and
//! pass the pull rules, `scanner-pull`), asked to scan, and polled for its
//! report, as Harbor's scan job does.

use super::adapter::{
    self, ArtifactRef, Client, EnabledCapability, Metadata, Poll, RegistryRef, SbomReport,
    ScanRequest,
};
use super::{Done, Inner, ScanType, NATIVE_REPORT, SBOM_REPORT, VULN_REPORT};
use crate::iam::token::Access;
use crate::jobs::JobContext;
use base64::Engine;
use berth_db::artifacts::ManifestRow;
use berth_db::now_millis;
use berth_db::scanners::Registration;
use berth_oci::{Digest, Reference, RepositoryName};
use std::time::{Duration, Instant};

/// How long a scan may take before Berth gives up on its report (Harbor's
/// 30 minutes).
const REPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long the registry token handed to a scanner lives.
const TOKEN_SECONDS: i64 = 30 * 60;

/// What is asked of the adapter.
struct Ask<'a> {
    client: &'a Client,
    metadata: &'a Metadata,
    registration: &'a Registration,
    repo: &'a RepositoryName,
    subject: &'a ManifestRow,
    /// The report type wanted.
    mime: &'static str,
    scan_type: ScanType,
}

impl Inner {
    /// One image scanned by a registration's adapter.
    pub(super) async fn remote_scan(
        &self,
        job: &JobContext,
        registration: &Registration,
        repo: &RepositoryName,
        digest: &str,
        scan_type: ScanType,
        operator: &str,
    ) -> Result<Done, String> {
        let client = self.scanners.client_of(registration)?;
        // What the scan request asked of the adapter moments ago, cached.
        let metadata = self.scanners.metadata_of(registration).await?;
        let d = Digest::parse(digest).map_err(|e| e.to_string())?;
        let subject = (self.registry)
            .get_manifest(repo, &Reference::Digest(d))
            .await
            .map_err(|e| e.to_string())?;
        let produced = metadata.produces(scan_type.word(), &subject.media_type);
        let wanted: &[&'static str] = match scan_type {
            ScanType::Vulnerability => &[VULN_REPORT, NATIVE_REPORT],
            ScanType::Sbom => &[SBOM_REPORT],
        };
        let mime = (wanted.iter())
            .find(|m| produced.iter().any(|p| p == *m))
            .ok_or_else(|| {
                format!(
                    "{} makes no {} report of a {}",
                    registration.name,
                    scan_type.word(),
                    subject.media_type
                )
            })?;
        let ask = Ask {
            client: &client,
            metadata: &metadata,
            registration,
            repo,
            subject: &subject,
            mime,
            scan_type,
        };
        let body = self.ask(job, ask).await?;
        match scan_type {
            ScanType::Vulnerability => {
                let report = adapter::read_report(&body, digest, now_millis())?;
                Done::of(&report, format!("{} reported", registration.name))
            }
            ScanType::Sbom => {
                let report: SbomReport = serde_json::from_str(&body)
                    .map_err(|e| format!("the adapter's SBOM report: {e}"))?;
                let document = serde_json::to_vec(&report.sbom).map_err(|e| e.to_string())?;
                self.push_sbom(repo, &subject, document, operator).await
            }
        }
    }

    /// Hands the adapter a robot for the scan, asks for it and waits for
    /// its report; the robot is deleted whatever the outcome.
    async fn ask(&self, job: &JobContext, ask: Ask<'_>) -> Result<String, String> {
        let (robot, secret) = (self.robots)
            .create_for_scan(ask.repo.project(), &ask.registration.name)
            .await
            .map_err(|e| e.to_string())?;
        let bearer = (ask.metadata.properties.get(adapter::AUTHORIZATION_TYPE))
            .is_some_and(|t| t == "Bearer");
        let authorization = match bearer {
            true => {
                let access = vec![Access {
                    kind: "repository".into(),
                    name: ask.repo.to_string(),
                    actions: vec!["pull".into(), "scanner-pull".into()],
                }];
                (self.tokens.issue(&robot.name, access, TOKEN_SECONDS))
                    .map(|t| format!("Bearer {}", t.token))
                    .map_err(|e| e.to_string())
            }
            false => Ok(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{secret}", robot.name))
            )),
        };
        let outcome = match authorization {
            Ok(authorization) => self.ask_with(job, &ask, authorization).await,
            Err(e) => Err(e),
        };
        if let Err(e) = self.robots.remove_for_scan(robot.id).await {
            job.log(format!("deleting the scan's robot {}: {e}", robot.name));
        }
        outcome
    }

    async fn ask_with(
        &self,
        job: &JobContext,
        ask: &Ask<'_>,
        authorization: String,
    ) -> Result<String, String> {
        let url = match ask.registration.use_internal_addr {
            true => &self.urls.internal,
            false => &self.urls.external,
        };
        let sbom = ask.scan_type == ScanType::Sbom;
        let request = ScanRequest {
            registry: RegistryRef {
                url: url.clone(),
                authorization,
            },
            artifact: ArtifactRef {
                repository: ask.repo.to_string(),
                digest: ask.subject.digest.clone(),
                tag: String::new(),
                mime_type: ask.subject.media_type.clone(),
            },
            enabled_capabilities: vec![EnabledCapability {
                kind: ask.scan_type.word().into(),
                produces_mime_types: vec![ask.mime.into()],
                parameters: sbom.then(|| serde_json::json!({"sbom_media_types": [adapter::SPDX]})),
            }],
        };
        let id = ask.client.scan(&request).await?;
        job.log(format!(
            "{} accepted the scan as {id}",
            ask.registration.name
        ));
        let deadline = Instant::now() + REPORT_TIMEOUT;
        let mut wait = Duration::from_millis(200);
        loop {
            tokio::time::sleep(wait).await;
            match ask.client.report(&id, ask.mime, sbom).await? {
                Poll::Ready(body) => return Ok(body),
                Poll::Later(after) => wait = after,
            }
            if Instant::now() > deadline {
                return Err("check scan report timeout".into());
            }
        }
    }
}
