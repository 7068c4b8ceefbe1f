//! Berth's built-in scanner, as pure functions: what packages an image's
//! layers hold (`inventory`, reading rpm's database with SQLite from memory), what OSV advisories say of them (`osv`, in
//! each ecosystem's `version` order), and the SBOM that lists them (`sbom`).
//! The registry and the database are the caller's: parsers take a `Read`
//! or bytes.

mod gobinary;
pub mod inventory;
pub mod osv;
mod rpmdb;
pub mod sbom;
pub mod version;

use serde::{Deserialize, Serialize};

/// Harbor's native vulnerability report type, what clients get by default.
pub const NATIVE_REPORT: &str =
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
/// The generic vulnerability report type (the same content).
pub const VULN_REPORT: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// Harbor's SBOM report type (its summary names the SBOM accessory).
pub const SBOM_REPORT: &str = "application/vnd.security.sbom.report+json; version=1.0";
/// The registration id of Berth's built-in scanner: its reports are
/// stored under it.
pub const BUILTIN_SCANNER: &str = "8a0e5d2c-1b1e-4c55-9a43-6f7d2b8e0001";

/// Harbor's severities, in Harbor's order (`None` and `Unknown` rank alike
/// there: neither blocks a pull).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    None,
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 7] = [
        Severity::None,
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Harbor's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "None",
            Severity::Unknown => "Unknown",
            Severity::Negligible => "Negligible",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// Harbor's word, in any case; None for another word.
    pub fn parse(word: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(word))
    }

    /// CVSS's rating of a base score.
    pub fn of_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::None,
        }
    }

    /// A database's word (GitHub's `MODERATE`, Ubuntu's `negligible`,
    /// Debian's `not yet assigned` …); Unknown for a word it does not know.
    pub fn of_word(word: &str) -> Severity {
        match word.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "unimportant" => Severity::Low,
            "negligible" => Severity::Negligible,
            _ => Severity::Unknown,
        }
    }

    /// Harbor's rank: `None` and `Unknown` are 0 and block nothing.
    pub fn code(self) -> u8 {
        match self {
            Severity::None | Severity::Unknown => 0,
            Severity::Negligible => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}
