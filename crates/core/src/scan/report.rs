//! Harbor's vulnerability report and its summaries.

use crate::timestamp;
use berth_scan::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The scanner that wrote a report (`Scanner` in Harbor's API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScannerInfo {
    pub name: String,
    pub vendor: String,
    pub version: String,
}

/// A scanner's CVSS figures for a finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_v3: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vector_v3: String,
}

/// One vulnerability found in one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub version: String,
    pub fix_version: String,
    pub severity: Severity,
    pub description: String,
    pub links: Vec<String>,
    pub artifact_digests: Vec<String>,
    pub preferred_cvss: Cvss,
    pub cwe_ids: Vec<String>,
    pub vendor_attributes: BTreeMap<String, Value>,
}

/// Harbor's vulnerability report (`version=1.1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: String,
    pub scanner: ScannerInfo,
    pub severity: Severity,
    pub vulnerabilities: Vec<Finding>,
}

impl Report {
    /// A report of findings, most severe first; its severity is the
    /// highest found (`None` for none).
    pub fn new(mut findings: Vec<Finding>, scanner: ScannerInfo, now: i64) -> Report {
        findings.sort_by(|a, b| {
            (b.severity.cmp(&a.severity))
                .then_with(|| a.package.cmp(&b.package))
                .then_with(|| a.id.cmp(&b.id))
        });
        Report {
            generated_at: timestamp(now),
            scanner,
            severity: overall(&findings),
            vulnerabilities: findings,
        }
    }

    /// Harbor's `VulnerabilitySummary`: totals, fixable, and a count per
    /// severity found.
    pub fn summary(&self) -> Value {
        let mut per = BTreeMap::new();
        for f in &self.vulnerabilities {
            *per.entry(f.severity.as_str()).or_insert(0i64) += 1;
        }
        let fixable = (self.vulnerabilities.iter())
            .filter(|f| !f.fix_version.is_empty())
            .count();
        json!({"total": self.vulnerabilities.len(), "fixable": fixable, "summary": per})
    }

    /// The reports of an index's children as one: the same finding in
    /// several children once, with each child's digest.
    pub fn merge(reports: Vec<Report>) -> Option<Report> {
        let mut iter = reports.into_iter();
        let mut merged = iter.next()?;
        for r in iter {
            merged.generated_at = merged.generated_at.max(r.generated_at);
            for f in r.vulnerabilities {
                let same = merged
                    .vulnerabilities
                    .iter_mut()
                    .find(|m| m.id == f.id && m.package == f.package && m.version == f.version);
                match same {
                    Some(m) => {
                        for d in f.artifact_digests {
                            if !m.artifact_digests.contains(&d) {
                                m.artifact_digests.push(d);
                            }
                        }
                    }
                    None => merged.vulnerabilities.push(f),
                }
            }
        }
        merged.severity = overall(&merged.vulnerabilities);
        Some(merged)
    }
}

fn overall(findings: &[Finding]) -> Severity {
    (findings.iter().map(|f| f.severity))
        .max()
        .unwrap_or(Severity::None)
}

/// A scan's state as lists show it (Harbor's `NativeReportSummary`).
#[derive(Debug, Clone)]
pub struct Overview {
    pub report_id: String,
    pub status: String,
    pub severity: Option<Severity>,
    pub summary: Option<Value>,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub scanner: ScannerInfo,
}

impl Overview {
    /// An SBOM generation's state, as Harbor's `SBOMOverview`.
    pub fn sbom_json(&self) -> Value {
        let mut v = json!({
            "report_id": self.report_id,
            "scan_status": self.status,
            "start_time": timestamp(self.start_time),
            "scanner": self.scanner,
        });
        if let Some(end) = self.end_time {
            v["end_time"] = json!(timestamp(end));
            v["duration"] = json!((end - self.start_time).max(0) / 1000);
        }
        if let Some(d) = self.sbom_digest() {
            v["sbom_digest"] = json!(d);
        }
        v
    }

    /// The SBOM accessory an SBOM generation pushed (one image's).
    pub fn sbom_digest(&self) -> Option<&str> {
        self.summary.as_ref()?.get("sbom_digest")?.as_str()
    }

    /// Its JSON, as Harbor's `NativeReportSummary`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "report_id": self.report_id,
            "scan_status": self.status,
            "start_time": timestamp(self.start_time),
            "scanner": self.scanner,
            "complete_percent": if self.status == "Success" { 100 } else { 0 },
        });
        if let Some(end) = self.end_time {
            v["end_time"] = json!(timestamp(end));
            v["duration"] = json!((end - self.start_time).max(0) / 1000);
        }
        if let Some(s) = self.severity {
            v["severity"] = json!(s.as_str());
        }
        if let Some(summary) = &self.summary {
            v["summary"] = summary.clone();
        }
        v
    }

    /// An index's overview from its children's: the least finished state,
    /// the highest severity, the counts added up.
    pub fn combine(children: Vec<Overview>) -> Option<Overview> {
        let rank = |s: &str| match s {
            "Running" => 0,
            "Pending" => 1,
            "Error" => 2,
            "Stopped" => 3,
            _ => 4,
        };
        let mut iter = children.into_iter();
        let mut out = iter.next()?;
        for c in iter {
            if rank(&c.status) < rank(&out.status) {
                out.status = c.status.clone();
                out.report_id = c.report_id.clone();
            }
            out.severity = out.severity.max(c.severity);
            out.start_time = out.start_time.min(c.start_time);
            out.end_time = match (out.end_time, c.end_time) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            out.summary = match (out.summary.take(), c.summary) {
                (Some(a), Some(b)) => Some(add_summaries(&a, &b)),
                _ => None,
            };
        }
        Some(out)
    }
}

fn add_summaries(a: &Value, b: &Value) -> Value {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    for v in [a, b] {
        if let Some(map) = v.get("summary").and_then(Value::as_object) {
            for (k, c) in map {
                *per.entry(k.clone()).or_default() += c.as_i64().unwrap_or(0);
            }
        }
    }
    json!({"total": n(a, "total") + n(b, "total"), "fixable": n(a, "fixable") + n(b, "fixable"), "summary": per})
}
