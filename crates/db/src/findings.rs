//! The findings of vulnerability reports as rows: what the security hub
//! counts and searches and the CVE export lists. Only artifacts that exist
//! count (a finding is joined to the artifacts with its digest).

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A finding to store.
#[derive(Debug, Clone)]
pub struct NewFinding {
    pub cve_id: String,
    pub package: String,
    pub version: String,
    pub fixed_version: String,
    pub severity: String,
    pub severity_code: i64,
    pub cvss_score_v3: Option<f64>,
    pub description: String,
    /// JSON array of URLs.
    pub links: String,
    /// Comma-separated.
    pub cwe_ids: String,
    /// JSON.
    pub vendor_attributes: String,
}

/// Replaces the findings a scanner reported on a manifest.
pub async fn replace(
    tx: &mut crate::Tx,
    digest: &str,
    registration_uuid: &str,
    findings: &[NewFinding],
) -> Result<(), DbError> {
    clear(&mut **tx, digest, registration_uuid).await?;
    for f in findings {
        let status = if f.fixed_version.is_empty() {
            "affected"
        } else {
            "fixed"
        };
        sqlx::query(
            "INSERT INTO scan_finding (digest, registration_uuid, cve_id, package, version, \
             fixed_version, status, severity, severity_code, cvss_score_v3, description, links, \
             cwe_ids, vendor_attributes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(digest)
        .bind(registration_uuid)
        .bind(&f.cve_id)
        .bind(&f.package)
        .bind(&f.version)
        .bind(&f.fixed_version)
        .bind(status)
        .bind(&f.severity)
        .bind(f.severity_code)
        .bind(f.cvss_score_v3)
        .bind(&f.description)
        .bind(&f.links)
        .bind(&f.cwe_ids)
        .bind(&f.vendor_attributes)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Forgets a scanner's findings on a manifest (its report is being redone).
pub async fn clear<'e>(
    ex: impl Executor<'e, Database = Any>,
    digest: &str,
    registration_uuid: &str,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM scan_finding WHERE digest = $1 AND registration_uuid = $2")
        .bind(digest)
        .bind(registration_uuid)
        .execute(ex)
        .await?;
    Ok(())
}

/// Findings counted over every artifact, by severity; and how many have a
/// fixed version.
pub async fn by_severity<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
) -> Result<(Vec<(String, i64)>, i64), DbError> {
    let rows = sqlx::query(
        "SELECT f.severity, COUNT(*), \
         CAST(SUM(CASE WHEN f.fixed_version <> '' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM artifact a JOIN scan_finding f ON f.digest = a.digest \
         AND f.registration_uuid = $1 GROUP BY f.severity",
    )
    .bind(registration_uuid)
    .fetch_all(ex)
    .await?;
    let mut counts = Vec::new();
    let mut fixable = 0;
    for r in rows {
        counts.push((r.try_get(0)?, r.try_get(1)?));
        fixable += r.try_get::<i64, _>(2)?;
    }
    Ok((counts, fixable))
}

/// How many artifacts there are, and how many have a vulnerability
/// report by the scanner.
pub async fn artifact_counts<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
    mime_type: &str,
) -> Result<(i64, i64), DbError> {
    let r = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM scan_report s \
         WHERE s.digest = a.digest AND s.registration_uuid = $1 AND s.mime_type = $2) \
         THEN 1 ELSE 0 END), 0) AS BIGINT) FROM artifact a",
    )
    .bind(registration_uuid)
    .bind(mime_type)
    .fetch_one(ex)
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// One of the CVEs with the highest scores.
#[derive(Debug, Clone)]
pub struct DangerousCve {
    pub cve_id: String,
    pub package: String,
    pub version: String,
    pub severity: String,
    pub cvss_score_v3: f64,
    pub description: String,
}

/// The five CVEs found with the highest CVSS v3 scores (then severities).
pub async fn dangerous_cves<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
) -> Result<Vec<DangerousCve>, DbError> {
    let rows = sqlx::query(
        "SELECT f.cve_id, f.package, f.version, MAX(f.severity), MAX(f.cvss_score_v3) AS score, \
         MAX(f.severity_code) AS code, MAX(f.description) FROM scan_finding f \
         WHERE f.registration_uuid = $1 AND f.cvss_score_v3 IS NOT NULL \
         AND EXISTS (SELECT 1 FROM artifact a WHERE a.digest = f.digest) \
         GROUP BY f.cve_id, f.package, f.version \
         ORDER BY score DESC, code DESC, f.cve_id, f.package LIMIT 5",
    )
    .bind(registration_uuid)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DangerousCve {
                cve_id: r.try_get(0)?,
                package: r.try_get(1)?,
                version: r.try_get(2)?,
                severity: r.try_get(3)?,
                cvss_score_v3: r.try_get(4)?,
                description: r.try_get(6)?,
            })
        })
        .collect()
}

/// One of the artifacts with the most serious findings.
#[derive(Debug, Clone)]
pub struct DangerousArtifact {
    pub project_id: i64,
    pub repository_name: String,
    pub digest: String,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
}

const BASE: &str = "FROM artifact a JOIN repository r ON r.id = a.repository_id \
    JOIN project p ON p.name = r.project_name \
    JOIN scan_finding f ON f.digest = a.digest AND f.registration_uuid = $1";

/// The five artifacts with the most critical (then high, medium, low)
/// findings.
pub async fn dangerous_artifacts<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
) -> Result<Vec<DangerousArtifact>, DbError> {
    let count =
        |s: &str| format!("CAST(SUM(CASE WHEN f.severity = '{s}' THEN 1 ELSE 0 END) AS BIGINT)");
    let sql = format!(
        "SELECT p.project_id, r.name, a.digest, {} AS c, {} AS h, {} AS m, {} AS l {BASE} \
         GROUP BY p.project_id, r.name, a.digest \
         HAVING {} + {} + {} + {} > 0 \
         ORDER BY c DESC, h DESC, m DESC, l DESC, r.name, a.digest LIMIT 5",
        count("Critical"),
        count("High"),
        count("Medium"),
        count("Low"),
        count("Critical"),
        count("High"),
        count("Medium"),
        count("Low"),
    );
    let rows = sqlx::query(&sql)
        .bind(registration_uuid)
        .fetch_all(ex)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DangerousArtifact {
                project_id: r.try_get(0)?,
                repository_name: r.try_get(1)?,
                digest: r.try_get(2)?,
                critical: r.try_get(3)?,
                high: r.try_get(4)?,
                medium: r.try_get(5)?,
            })
        })
        .collect()
}

/// A finding on an artifact, as the security hub lists it.
#[derive(Debug, Clone)]
pub struct Vulnerability {
    pub project_id: i64,
    pub repository_name: String,
    pub artifact_id: i64,
    pub digest: String,
    pub cve_id: String,
    pub severity: String,
    pub status: String,
    pub cvss_score_v3: Option<f64>,
    pub package: String,
    pub version: String,
    pub fixed_version: String,
    pub description: String,
    /// JSON array of URLs.
    pub links: String,
}

fn vulnerability(r: AnyRow) -> Result<Vulnerability, DbError> {
    Ok(Vulnerability {
        project_id: r.try_get(0)?,
        repository_name: r.try_get(1)?,
        artifact_id: r.try_get(2)?,
        digest: r.try_get(3)?,
        cve_id: r.try_get(4)?,
        severity: r.try_get(5)?,
        status: r.try_get(6)?,
        cvss_score_v3: r.try_get(7)?,
        package: r.try_get(8)?,
        version: r.try_get(9)?,
        fixed_version: r.try_get(10)?,
        description: r.try_get(11)?,
        links: r.try_get(12)?,
    })
}

const fn field(key: &'static str, column: &'static str, kind: Kind) -> Field {
    Field {
        key,
        column,
        kind,
        within: None,
    }
}

/// What the security hub's list of findings can be filtered on (Harbor's
/// keys).
pub static FIELDS: &[Field] = &[
    field("cve_id", "f.cve_id", Kind::Text),
    field("severity", "f.severity", Kind::Text),
    field("status", "f.status", Kind::Text),
    field("cvss_score_v3", "f.cvss_score_v3", Kind::Float),
    field("project_id", "p.project_id", Kind::Int),
    field("repository_name", "r.name", Kind::Text),
    field("package", "f.package", Kind::Text),
    Field {
        key: "tag",
        column: "t.name",
        kind: Kind::Text,
        within: Some("EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND {})"),
    },
    field("digest", "a.digest", Kind::Text),
];

/// One page of the findings on artifacts matching `query`, highest score
/// first (unscored last).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Vulnerability>, DbError> {
    let (cond, args) = query.conditions(2);
    let n = args.len() + 2;
    let sql = format!(
        "SELECT p.project_id, r.name, a.id, a.digest, f.cve_id, f.severity, f.status, \
         f.cvss_score_v3, f.package, f.version, f.fixed_version, f.description, f.links \
         {BASE} WHERE 1 = 1{cond} {} LIMIT ${n} OFFSET ${}",
        query.order_by("(f.cvss_score_v3 IS NULL), f.cvss_score_v3 DESC, a.id, f.id"),
        n + 1
    );
    query::bind(sqlx::query(&sql).bind(registration_uuid), &args)
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(vulnerability)
        .collect()
}

/// How many findings on artifacts match `query`, counting no further than
/// `cap` when given (then `cap + 1` means more).
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
    query: &ListQuery,
    cap: Option<i64>,
) -> Result<i64, DbError> {
    let (cond, args) = query.conditions(2);
    let limit = cap.map(|c| format!(" LIMIT {}", c + 1)).unwrap_or_default();
    let sql =
        format!("SELECT COUNT(*) FROM (SELECT 1 AS one {BASE} WHERE 1 = 1{cond}{limit}) found");
    Ok(
        query::bind(sqlx::query(&sql).bind(registration_uuid), &args)
            .fetch_one(ex)
            .await?
            .try_get(0)?,
    )
}

/// A finding on an artifact of a project, as the CVE export writes it.
#[derive(Debug, Clone)]
pub struct Exported {
    pub repository_name: String,
    pub artifact_id: i64,
    pub digest: String,
    pub cve_id: String,
    pub package: String,
    pub version: String,
    pub fixed_version: String,
    pub severity: String,
    pub cwe_ids: String,
    pub vendor_attributes: String,
}

/// Every finding on the artifacts of a project, by repository and
/// artifact, the most severe first.
pub async fn of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    registration_uuid: &str,
    project: &str,
) -> Result<Vec<Exported>, DbError> {
    let rows = sqlx::query(
        "SELECT r.name, a.id, a.digest, f.cve_id, f.package, f.version, f.fixed_version, \
         f.severity, f.cwe_ids, f.vendor_attributes FROM artifact a \
         JOIN repository r ON r.id = a.repository_id \
         JOIN scan_finding f ON f.digest = a.digest AND f.registration_uuid = $1 \
         WHERE r.project_name = $2 \
         ORDER BY r.name, a.id, f.severity_code DESC, f.cve_id, f.package",
    )
    .bind(registration_uuid)
    .bind(project)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Exported {
                repository_name: r.try_get(0)?,
                artifact_id: r.try_get(1)?,
                digest: r.try_get(2)?,
                cve_id: r.try_get(3)?,
                package: r.try_get(4)?,
                version: r.try_get(5)?,
                fixed_version: r.try_get(6)?,
                severity: r.try_get(7)?,
                cwe_ids: r.try_get(8)?,
                vendor_attributes: r.try_get(9)?,
            })
        })
        .collect()
}
