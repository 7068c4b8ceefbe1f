//! Harbor's pluggable scanner adapter API (v1.2): its messages, and a
//! client of any adapter that speaks it (Trivy's, or another Berth's).

use super::report::{Cvss, Finding, Report, ScannerInfo};
use berth_scan::Severity;
use reqwest::header::{HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The metadata's media type.
pub const METADATA: &str = "application/vnd.scanner.adapter.metadata+json; version=1.1";
/// A scan request's media type.
pub const SCAN_REQUEST: &str = "application/vnd.scanner.adapter.scan.request+json; version=1.1";
/// A scan response's media type.
pub const SCAN_RESPONSE: &str = "application/vnd.scanner.adapter.scan.response+json; version=1.0";
/// An error's media type.
pub const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";
/// The SBOM format Berth writes.
pub const SPDX: &str = "application/spdx+json";
/// The header an `APIKey` registration sends its credential in.
pub const API_KEY_HEADER: &str = "X-ScannerAdapter-API-Key";
/// A registration property naming how a scanner wants to be handed the
/// registry's credential (`Basic`, the default, or `Bearer`).
pub const AUTHORIZATION_TYPE: &str = "harbor.scanner-adapter/registry-authorization-type";
/// The manifest types a scanner of images consumes.
pub const IMAGE_TYPES: [&str; 2] = [
    berth_oci::media::OCI_MANIFEST,
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// What an adapter says of itself (`ScannerAdapterMetadata`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    pub scanner: ScannerInfo,
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// One thing an adapter does (`ScannerCapability`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capability {
    /// `vulnerability` (also when absent, as older adapters send it) or `sbom`.
    #[serde(rename = "type", default)]
    pub kind: String,
    pub consumes_mime_types: Vec<String>,
    pub produces_mime_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_attributes: Option<Value>,
}

impl Capability {
    /// The capability's type, `vulnerability` when unnamed.
    pub fn kind(&self) -> &str {
        if self.kind.is_empty() {
            "vulnerability"
        } else {
            &self.kind
        }
    }
}

impl Metadata {
    /// Checks what Harbor checks of an adapter's metadata: a named scanner
    /// with at least one capability that consumes and produces something.
    pub fn validate(&self) -> Result<(), String> {
        if self.scanner.name.is_empty() {
            return Err("the adapter's metadata names no scanner".into());
        }
        if self.capabilities.is_empty() {
            return Err("the adapter's metadata lists no capability".into());
        }
        if (self.capabilities.iter())
            .any(|c| c.consumes_mime_types.is_empty() || c.produces_mime_types.is_empty())
        {
            return Err("a capability of the adapter consumes or produces nothing".into());
        }
        Ok(())
    }

    /// The report types a capability of `kind` produces for a manifest
    /// type; empty when the scanner cannot do it.
    pub fn produces(&self, kind: &str, manifest_type: &str) -> Vec<String> {
        (self.capabilities.iter())
            .filter(|c| {
                c.kind() == kind && c.consumes_mime_types.iter().any(|m| m == manifest_type)
            })
            .flat_map(|c| c.produces_mime_types.clone())
            .collect()
    }

    /// Harbor's `capabilities` of a registration.
    pub fn support(&self) -> Value {
        let has = |k: &str| self.capabilities.iter().any(|c| c.kind() == k);
        serde_json::json!({
            "support_vulnerability": has("vulnerability"),
            "support_sbom": has("sbom"),
        })
    }
}

/// What a scan is asked for (`ScanRequest`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanRequest {
    pub registry: RegistryRef,
    pub artifact: ArtifactRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_capabilities: Vec<EnabledCapability>,
}

/// Where the artifact is and the `Authorization` to pull it with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistryRef {
    pub url: String,
    #[serde(default)]
    pub authorization: String,
}

/// The artifact to scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub repository: String,
    pub digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
}

/// A capability a request asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnabledCapability {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub produces_mime_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// An SBOM report (`HarborSbomReport`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SbomReport {
    #[serde(default)]
    pub generated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactRef>,
    pub scanner: ScannerInfo,
    pub media_type: String,
    pub sbom: Value,
}

/// A vulnerability report as adapters send it (fields they may leave out
/// are optional).
#[derive(Deserialize)]
struct WireReport {
    scanner: ScannerInfo,
    #[serde(default)]
    vulnerabilities: Vec<WireFinding>,
}

#[derive(Deserialize)]
struct WireFinding {
    id: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fix_version: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    preferred_cvss: Option<Cvss>,
    #[serde(default)]
    cwe_ids: Vec<String>,
    #[serde(default)]
    vendor_attributes: BTreeMap<String, Value>,
}

/// An adapter's vulnerability report of one image as Berth keeps reports.
pub fn read_report(body: &str, digest: &str, now: i64) -> Result<Report, String> {
    let wire: WireReport =
        serde_json::from_str(body).map_err(|e| format!("the adapter's report: {e}"))?;
    let findings = (wire.vulnerabilities.into_iter())
        .map(|f| Finding {
            id: f.id,
            package: f.package,
            version: f.version,
            fix_version: f.fix_version,
            severity: Severity::parse(&f.severity).unwrap_or(Severity::Unknown),
            description: f.description,
            links: f.links,
            artifact_digests: vec![digest.to_string()],
            preferred_cvss: f.preferred_cvss.unwrap_or_default(),
            cwe_ids: f.cwe_ids,
            vendor_attributes: f.vendor_attributes,
        })
        .collect();
    Ok(Report::new(findings, wire.scanner, now))
}

/// A report's state when polled.
pub enum Poll {
    /// The report, as the adapter sent it.
    Ready(String),
    /// Not yet: ask again after this long.
    Later(Duration),
}

/// A client of one adapter.
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The header a registration's credential goes in, and its value.
    auth: Option<(HeaderName, String)>,
}

impl Client {
    /// A client of the adapter at `url` (its base, before `/api/v1`),
    /// authenticated as a registration says (`auth` and `credential`).
    pub fn new(
        url: &str,
        auth: &str,
        credential: &str,
        skip_cert_verify: bool,
    ) -> Result<Client, String> {
        use base64::Engine;
        let auth = match auth {
            "" => None,
            "Basic" => Some((
                AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(credential)
                ),
            )),
            "Bearer" => Some((AUTHORIZATION, format!("Bearer {credential}"))),
            "APIKey" => Some((
                HeaderName::from_static("x-scanneradapter-api-key"),
                credential.into(),
            )),
            other => return Err(format!("auth type {other} is not supported")),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(skip_cert_verify)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            base: format!("{}/api/v1", url.trim_end_matches('/')),
            auth,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((name, value)) = &self.auth {
            req = req.header(name.clone(), value);
        }
        req
    }

    /// The adapter's metadata, checked.
    pub async fn metadata(&self) -> Result<Metadata, String> {
        let res = (self.request(reqwest::Method::GET, "/metadata"))
            .header(ACCEPT, METADATA)
            .send()
            .await
            .map_err(|e| format!("the scanner adapter is unreachable: {e}"))?;
        let body = answer(res).await?;
        let m: Metadata = serde_json::from_str(&body)
            .map_err(|e| format!("the scanner adapter's metadata: {e}"))?;
        m.validate()?;
        Ok(m)
    }

    /// Asks for a scan; the id to poll its report with.
    pub async fn scan(&self, req: &ScanRequest) -> Result<String, String> {
        let body = serde_json::to_string(req).map_err(|e| e.to_string())?;
        let res = (self.request(reqwest::Method::POST, "/scan"))
            .header(CONTENT_TYPE, SCAN_REQUEST)
            .header(ACCEPT, SCAN_RESPONSE)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the scanner adapter is unreachable: {e}"))?;
        #[derive(Deserialize)]
        struct Accepted {
            id: String,
        }
        let a: Accepted = serde_json::from_str(&answer(res).await?)
            .map_err(|e| format!("the scanner adapter's answer: {e}"))?;
        Ok(a.id)
    }

    /// Polls a scan's report of a type.
    pub async fn report(&self, id: &str, mime: &str, sbom: bool) -> Result<Poll, String> {
        let mut req = (self.request(reqwest::Method::GET, &format!("/scan/{id}/report")))
            .header(ACCEPT, mime);
        if sbom {
            req = req.query(&[("sbom_media_type", SPDX)]);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("the scanner adapter is unreachable: {e}"))?;
        if res.status() == StatusCode::FOUND {
            let after = (res.headers().get("Refresh-After"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Ok(Poll::Later(Duration::from_secs(after.clamp(1, 60))));
        }
        answer(res).await.map(Poll::Ready)
    }
}

/// A 2xx answer's body, or the adapter's error message.
async fn answer(res: reqwest::Response) -> Result<String, String> {
    let status = res.status();
    let body = res.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        return Ok(body);
    }
    #[derive(Deserialize)]
    struct Wire {
        error: WireError,
    }
    #[derive(Deserialize)]
    struct WireError {
        message: String,
    }
    let message = serde_json::from_str::<Wire>(&body)
        .map(|w| w.error.message)
        .unwrap_or_else(|_| body.chars().take(200).collect());
    Err(format!("the scanner adapter answered {status}: {message}"))
}
