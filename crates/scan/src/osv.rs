//! Advisories in the OSV format (<https://ossf.github.io/osv-schema/>): what
//! an import keeps of each, and whether an affected entry covers a version.

use crate::version::Scheme;
use crate::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::io::{Read, Seek};

/// An OSV record, as published.
#[derive(Debug, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub modified: String,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Debian's and others' upstream ids (CVE-…).
    #[serde(default)]
    pub upstream: Vec<String>,
    /// Related ids: where AlmaLinux's and Rocky Linux's advisories name
    /// the CVEs they fix.
    #[serde(default)]
    pub related: Vec<String>,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Link>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

/// A severity score (`CVSS_V3` with its vector, `Ubuntu` with a word …).
#[derive(Debug, Deserialize)]
pub struct Score {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// A reference link.
#[derive(Debug, Deserialize)]
pub struct Link {
    pub url: String,
}

/// The package an affected entry names.
#[derive(Debug, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
}

/// One package an advisory affects, with the versions it affects.
#[derive(Debug, Deserialize)]
pub struct Affected {
    pub package: Option<Package>,
    #[serde(flatten)]
    pub versions: Versions,
    #[serde(default)]
    pub severity: Vec<Score>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
}

/// The versions of a package an advisory affects: ranges and a list.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Versions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// A range: events in the version order of its type.
#[derive(Debug, Deserialize, Serialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    pub events: Vec<Event>,
}

/// A range's event; exactly one field is set.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// What Berth keeps of an advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// The OSV id (`GHSA-…`, `DEBIAN-CVE-…`, `CVE-…`).
    pub id: String,
    /// The CVEs it is about (reports name CVEs, as Harbor's do); a
    /// distribution's advisory often fixes several.
    pub cves: Vec<String>,
    pub modified: String,
    pub description: String,
    pub severity: Severity,
    /// The highest CVSS score given, with its vector.
    pub cvss: Option<(f64, String)>,
    pub links: Vec<String>,
    pub cwe_ids: Vec<String>,
}

/// An affected package of an advisory, ready to be stored: its lookup key
/// and the versions, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedPackage {
    pub ecosystem: String,
    pub name: String,
    pub versions: String,
    /// A severity this package's distribution gives (Ubuntu's priority …).
    pub severity: Option<Severity>,
}

impl Record {
    /// Reads one record.
    pub fn parse(json: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// What Berth keeps: the advisory and the packages it affects; None for
    /// a withdrawn record.
    pub fn split(self) -> Option<(Advisory, Vec<AffectedPackage>)> {
        if self.withdrawn.is_some() {
            return None;
        }
        let cvss = self
            .severity
            .iter()
            .filter_map(|s| cvss_score(&s.score))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let database = self.database_specific.as_ref();
        // Red Hat's rebuilds rate an advisory in its summary only
        // ("Important: openssl security update").
        let rated = self.summary.as_deref().and_then(|s| s.split_once(": "));
        let severity = match &cvss {
            Some((score, _)) => Severity::of_score(*score),
            None => database
                .and_then(|d| d.get("severity"))
                .and_then(Value::as_str)
                .map(Severity::of_word)
                .or_else(|| rated.map(|(word, _)| Severity::of_word(word)))
                .unwrap_or(Severity::Unknown),
        };
        let cwe_ids = database
            .and_then(|d| d.get("cwe_ids"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut cves: Vec<String> = Vec::new();
        for id in std::iter::once(&self.id)
            .chain(&self.aliases)
            .chain(&self.upstream)
            .chain(&self.related)
        {
            if id.starts_with("CVE-") && !cves.contains(id) {
                cves.push(id.clone());
            }
        }
        let description = match (self.summary, self.details) {
            (Some(s), Some(d)) if !d.is_empty() && !d.starts_with(s.as_str()) => {
                format!("{s}\n\n{d}")
            }
            (Some(s), _) if !s.is_empty() => s,
            (_, Some(d)) => d,
            _ => String::new(),
        };
        let packages = self
            .affected
            .into_iter()
            .filter_map(|a| {
                let package = a.package?;
                let severity = a
                    .severity
                    .iter()
                    .find_map(|s| cvss_score(&s.score).map(|(n, _)| Severity::of_score(n)))
                    .or_else(|| {
                        let word = a.severity.iter().find(|s| !s.score.starts_with("CVSS"));
                        word.map(|s| Severity::of_word(&s.score))
                    })
                    .or_else(|| {
                        let e = a.ecosystem_specific.as_ref()?;
                        e.get("severity")
                            .or_else(|| e.get("urgency"))
                            .and_then(Value::as_str)
                            .map(Severity::of_word)
                    })
                    .filter(|s| *s != Severity::Unknown);
                let versions = serde_json::to_string(&a.versions).ok()?;
                Some(AffectedPackage {
                    name: lookup_name(&package.ecosystem, &package.name),
                    ecosystem: lookup_ecosystem(&package.ecosystem),
                    versions,
                    severity,
                })
            })
            .collect();
        Some((
            Advisory {
                id: self.id,
                cves,
                modified: self.modified,
                description,
                severity,
                cvss,
                links: self.references.into_iter().map(|r| r.url).collect(),
                cwe_ids,
            },
            packages,
        ))
    }
}

/// A CVSS vector's base score (v3 or v4).
fn cvss_score(vector: &str) -> Option<(f64, String)> {
    let parsed: cvss::Cvss = vector.parse().ok()?;
    Some((parsed.score(), vector.to_string()))
}

/// An ecosystem as advisories and inventories name it for lookups: Ubuntu's
/// `:LTS` and `:Pro` variants are the release itself.
pub fn lookup_ecosystem(ecosystem: &str) -> String {
    match ecosystem.strip_prefix("Ubuntu:") {
        Some(rest) => {
            let release = rest.split(':').find(|p| *p != "Pro").unwrap_or(rest);
            format!("Ubuntu:{release}")
        }
        None => ecosystem.to_string(),
    }
}

/// A package name as advisories and inventories name it for lookups: PyPI
/// names are compared normalized (PEP 503), the rest as they are.
pub fn lookup_name(ecosystem: &str, name: &str) -> String {
    if ecosystem != "PyPI" {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

impl Versions {
    /// Whether `version` is affected, and the version that fixes it (the
    /// first fix above it) if any; None when it is not affected.
    pub fn affects(&self, scheme: Option<Scheme>, version: &str) -> Option<Option<String>> {
        if self.versions.iter().any(|v| v == version) {
            return Some(self.fix_above(scheme, version));
        }
        let scheme = scheme?;
        let hit = self
            .ranges
            .iter()
            .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
            .any(|r| r.includes(scheme_of(r, scheme), version));
        hit.then(|| self.fix_above(Some(scheme), version))
    }

    fn fix_above(&self, scheme: Option<Scheme>, version: &str) -> Option<String> {
        let scheme = scheme?;
        self.ranges
            .iter()
            .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.as_deref()))
            .filter(|f| scheme.compare(f, version) == Some(Ordering::Greater))
            .min_by(|a, b| scheme.compare(a, b).unwrap_or(Ordering::Equal))
            .map(String::from)
    }
}

/// SEMVER ranges are semantic versions whatever the ecosystem.
fn scheme_of(range: &Range, ecosystem: Scheme) -> Scheme {
    if range.kind == "SEMVER" {
        Scheme::Semver
    } else {
        ecosystem
    }
}

impl Range {
    /// OSV's evaluation: walk the events in version order; an introduction
    /// at or below the version opens the range, a fix at or below it (or a
    /// last affected version below it) closes it.
    fn includes(&self, scheme: Scheme, version: &str) -> bool {
        let cmp = |a: &str, b: &str| {
            if a == "0" {
                return Some(if b == "0" {
                    Ordering::Equal
                } else {
                    Ordering::Less
                });
            }
            scheme.compare(a, b)
        };
        fn point(e: &Event) -> Option<&str> {
            (e.introduced.as_deref())
                .or(e.fixed.as_deref())
                .or(e.last_affected.as_deref())
                .or(e.limit.as_deref())
        }
        let mut events: Vec<&Event> = self.events.iter().filter(|e| point(e).is_some()).collect();
        events.sort_by(|a, b| {
            let (pa, pb) = (point(a).unwrap_or("0"), point(b).unwrap_or("0"));
            cmp(pa, pb).unwrap_or(Ordering::Equal)
        });
        let mut affected = false;
        for e in events {
            if let Some(limit) = &e.limit {
                if cmp(version, limit) != Some(Ordering::Less) {
                    return false;
                }
            }
            if let Some(introduced) = &e.introduced {
                if cmp(introduced, version).is_some_and(|o| o != Ordering::Greater) {
                    affected = true;
                }
            } else if let Some(fixed) = &e.fixed {
                if cmp(fixed, version).is_some_and(|o| o != Ordering::Greater) {
                    affected = false;
                }
            } else if let Some(last) = &e.last_affected {
                if cmp(last, version) == Some(Ordering::Less) {
                    affected = false;
                }
            }
        }
        affected
    }
}

/// Every record in an OSV archive (`all.zip`, one JSON file per record),
/// handed to `each` as it is read; returns how many records were read.
pub fn read_archive<R: Read + Seek>(
    archive: R,
    mut each: impl FnMut(Result<Record, String>) -> Result<(), String>,
) -> Result<u64, String> {
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| format!("not a zip archive: {e}"))?;
    let mut count = 0;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| e.to_string())?;
        if !file.is_file() || !file.name().ends_with(".json") {
            continue;
        }
        let name = file.name().to_string();
        let mut bytes = Vec::with_capacity(file.size().min(MAX_RECORD) as usize);
        (&mut file)
            .take(MAX_RECORD)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{name}: {e}"))?;
        count += 1;
        each(Record::parse(&bytes).map_err(|e| format!("{name}: {e}")))?;
    }
    Ok(count)
}

/// No advisory is this large; a bigger file is cut and then refused.
pub const MAX_RECORD: u64 = 16 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(json: &str) -> Versions {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn ranges_as_osv_evaluates_them() {
        let v = versions(
            r#"{"ranges":[{"type":"ECOSYSTEM","events":[
                {"introduced":"0.6.3"},{"fixed":"0.6.14"},
                {"introduced":"1.0.0"},{"fixed":"1.6.1"}]}]}"#,
        );
        let s = Some(Scheme::Semver);
        assert_eq!(v.affects(s, "1.4.0"), Some(Some("1.6.1".into())));
        assert_eq!(v.affects(s, "0.6.10"), Some(Some("0.6.14".into())));
        assert_eq!(v.affects(s, "0.6.14"), None);
        assert_eq!(v.affects(s, "1.6.1"), None);
        assert_eq!(v.affects(s, "0.5.0"), None);
        let last = versions(
            r#"{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"last_affected":"2.0"}]}]}"#,
        );
        assert_eq!(last.affects(Some(Scheme::Pep440), "2.0"), Some(None));
        assert_eq!(last.affects(Some(Scheme::Pep440), "2.0.1"), None);
        let listed = versions(r#"{"versions":["1.2.3"]}"#);
        assert_eq!(listed.affects(None, "1.2.3"), Some(None));
        assert_eq!(listed.affects(None, "1.2.4"), None);
        let dpkg = versions(
            r#"{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}"#,
        );
        assert_eq!(
            dpkg.affects(Some(Scheme::Dpkg), "3.0.11-1~deb12u1"),
            Some(Some("3.0.11-1~deb12u2".into()))
        );
        assert_eq!(dpkg.affects(Some(Scheme::Dpkg), "3.0.11-1~deb12u2"), None);
    }

    #[test]
    fn a_record_keeps_its_cve_severity_and_packages() {
        let r = Record::parse(
            br#"{"id":"GHSA-8q59-q68h-6hv4","modified":"2024-01-01T00:00:00Z",
            "aliases":["CVE-2020-14343"],"summary":"Improper Input Validation in PyYAML",
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected":[{"package":{"ecosystem":"PyPI","name":"PyYAML"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.4"}]}]}],
            "references":[{"type":"WEB","url":"https://nvd.nist.gov/vuln/detail/CVE-2020-14343"}],
            "database_specific":{"cwe_ids":["CWE-20"],"severity":"CRITICAL"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Some((a, p)) = r.split() else {
            panic!("not withdrawn")
        };
        assert_eq!(a.cves, ["CVE-2020-14343"]);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.cvss.as_ref().map(|c| c.0), Some(9.8));
        assert_eq!(a.cwe_ids, ["CWE-20"]);
        assert_eq!(p[0].name, "pyyaml");
        assert_eq!(lookup_ecosystem("Ubuntu:Pro:22.04:LTS"), "Ubuntu:22.04");
    }

    #[test]
    fn a_rebuilds_advisory_names_its_cves_in_related_and_rates_in_its_summary() {
        let r = Record::parse(
            br#"{"id":"ALSA-2023:0946","summary":"Important: openssl security and bug fix update",
            "related":["CVE-2022-4203","CVE-2022-4304","RHSA-2023:0946"],
            "affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"openssl-libs"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.1-47.el9_1"}]}]}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Some((a, _)) = r.split() else {
            panic!("not withdrawn")
        };
        assert_eq!(a.cves, ["CVE-2022-4203", "CVE-2022-4304"]);
        assert_eq!(a.severity, Severity::High);
    }

    proptest::proptest! {
        #[test]
        fn records_never_panic(json in "\\PC{0,200}") {
            if let Ok(r) = Record::parse(json.as_bytes()) {
                let _ = r.split();
            }
        }
    }
}
