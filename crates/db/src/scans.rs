//! Scan reports: one per manifest digest, scanner and kind of report.

use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A report row. While a scan runs, `status` says how far it is and the
/// report is empty.
#[derive(Debug, Clone)]
pub struct Report {
    pub uuid: String,
    pub digest: String,
    pub registration_uuid: String,
    pub mime_type: String,
    pub execution_id: Option<i64>,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub severity: String,
    /// JSON: Harbor's `VulnerabilitySummary` (or the SBOM's digest).
    pub summary: String,
    /// JSON: the report as the scanner made it.
    pub report: String,
}

fn report(r: AnyRow) -> Result<Report, DbError> {
    Ok(Report {
        uuid: r.try_get(0)?,
        digest: r.try_get(1)?,
        registration_uuid: r.try_get(2)?,
        mime_type: r.try_get(3)?,
        execution_id: r.try_get(4)?,
        status: r.try_get(5)?,
        start_time: r.try_get(6)?,
        end_time: r.try_get(7)?,
        severity: r.try_get(8)?,
        summary: r.try_get(9)?,
        report: r.try_get(10)?,
    })
}

const COLUMNS: &str = "r.uuid, r.digest, r.registration_uuid, r.mime_type, r.execution_id, \
    CASE WHEN r.status IN ('Pending', 'Running') AND e.status IN ('Error', 'Stopped') \
    THEN e.status ELSE r.status END AS status, r.start_time, \
    COALESCE(r.end_time, e.end_time) AS end_time, r.severity, r.summary, r.report";

/// A new scan of `digest` replaces any earlier report of the same kind:
/// pending, with no findings, under a new uuid.
#[allow(clippy::too_many_arguments)]
pub async fn start<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
    digest: &str,
    registration_uuid: &str,
    mime_type: &str,
    execution_id: i64,
    now: i64,
) -> Result<(), DbError> {
    let reset = ", severity = '', summary = '{}', report = ''";
    pending(
        ex,
        reset,
        [uuid, digest, registration_uuid, mime_type],
        execution_id,
        now,
    )
    .await
}

/// Queues a scan of `digest` under a scan all's execution: pending under a
/// new uuid, keeping the last report (and its status' outcome) until the
/// new one replaces it, so a rescan does not open or close pulls meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn queue<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
    digest: &str,
    registration_uuid: &str,
    mime_type: &str,
    execution_id: i64,
    now: i64,
) -> Result<(), DbError> {
    pending(
        ex,
        "",
        [uuid, digest, registration_uuid, mime_type],
        execution_id,
        now,
    )
    .await
}

/// A pending report; `reset` is what else an existing one loses.
async fn pending<'e>(
    ex: impl Executor<'e, Database = Any>,
    reset: &str,
    [uuid, digest, registration_uuid, mime_type]: [&str; 4],
    execution_id: i64,
    now: i64,
) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO scan_report (uuid, digest, registration_uuid, mime_type, execution_id, \
         status, start_time, end_time, severity, summary, report) \
         VALUES ($1, $2, $3, $4, $5, 'Pending', $6, NULL, '', '{{}}', '') \
         ON CONFLICT (digest, registration_uuid, mime_type) DO UPDATE SET uuid = excluded.uuid, \
         execution_id = excluded.execution_id, status = 'Pending', start_time = excluded.start_time, \
         end_time = NULL{reset}"
    );
    sqlx::query(&sql)
        .bind(uuid)
        .bind(digest)
        .bind(registration_uuid)
        .bind(mime_type)
        .bind(execution_id)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// Records how far a scan is; an ending status also ends it. False when
/// the report has been replaced by a later scan meanwhile.
pub async fn set_status<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
    status: &str,
    end_time: Option<i64>,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE scan_report SET status = $1, end_time = $2 WHERE uuid = $3")
        .bind(status)
        .bind(end_time)
        .bind(uuid)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a finished report; false (and nothing stored) when a later scan
/// replaced it.
pub async fn finish<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
    severity: &str,
    summary: &str,
    report: &str,
    now: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE scan_report SET status = 'Success', end_time = $1, severity = $2, summary = $3, \
         report = $4 WHERE uuid = $5",
    )
    .bind(now)
    .bind(severity)
    .bind(summary)
    .bind(report)
    .bind(uuid)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The reports of a kind on the digests given.
pub async fn of_digests<'e>(
    ex: impl Executor<'e, Database = Any>,
    digests: &[&str],
    registration_uuid: &str,
    mime_type: &str,
) -> Result<Vec<Report>, DbError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let digests = crate::padded(digests);
    let sql = format!(
        "SELECT {COLUMNS} FROM scan_report r LEFT JOIN execution e ON e.id = r.execution_id \
         WHERE r.registration_uuid = $1 AND r.mime_type = $2 AND r.digest IN ({})",
        crate::placeholders(3..digests.len() + 3)
    );
    let mut q = sqlx::query(&sql).bind(registration_uuid).bind(mime_type);
    for d in digests {
        q = q.bind(*d);
    }
    q.fetch_all(ex).await?.into_iter().map(report).collect()
}

/// A report by its uuid.
pub async fn by_uuid<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
) -> Result<Option<Report>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM scan_report r LEFT JOIN execution e ON e.id = r.execution_id \
         WHERE r.uuid = $1"
    );
    let row = sqlx::query(&sql).bind(uuid).fetch_optional(ex).await?;
    row.map(report).transpose()
}

/// Every image manifest a scan all considers: one repository holding each
/// digest (reports are per digest), image manifests only.
pub async fn candidates<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = sqlx::query(
        "SELECT MIN(r.name), a.digest FROM artifact a JOIN repository r ON r.id = a.repository_id \
         WHERE a.media_type IN ('application/vnd.oci.image.manifest.v1+json', \
           'application/vnd.docker.distribution.manifest.v2+json') \
         AND (a.harbor_type IS NULL OR a.harbor_type = 'IMAGE') \
         GROUP BY a.digest ORDER BY a.digest",
    )
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// How many of an execution's reports are in each state.
pub async fn states_of<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) FROM scan_report WHERE execution_id = $1 GROUP BY status",
    )
    .bind(execution_id)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
