//! Scans asked of Berth's own scanner adapter by other registries.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// A stored adapter scan.
#[derive(Debug, Clone)]
pub struct AdapterScan {
    pub id: String,
    /// `vulnerability` or `sbom`.
    pub kind: String,
    /// JSON: the scan request, until the scan has run.
    pub request: String,
    /// `Pending`, `Running`, `Success` or `Error`.
    pub status: String,
    /// JSON: the report, once it succeeded.
    pub report: String,
    pub error: String,
    pub creation_time: i64,
}

/// Records a requested scan, and drops those older than `purge_before`.
pub async fn insert(
    tx: &mut crate::Tx,
    id: &str,
    kind: &str,
    request: &str,
    now: i64,
    purge_before: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM adapter_scan WHERE creation_time < $1")
        .bind(purge_before)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO adapter_scan (id, kind, request, status, report, error, creation_time) \
         VALUES ($1, $2, $3, 'Pending', '', '', $4)",
    )
    .bind(id)
    .bind(kind)
    .bind(request)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A scan by id.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<AdapterScan>, DbError> {
    let row = sqlx::query(
        "SELECT id, kind, request, status, report, error, creation_time FROM adapter_scan \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(AdapterScan {
            id: r.try_get(0)?,
            kind: r.try_get(1)?,
            request: r.try_get(2)?,
            status: r.try_get(3)?,
            report: r.try_get(4)?,
            error: r.try_get(5)?,
            creation_time: r.try_get(6)?,
        })
    })
    .transpose()
}

/// Marks a scan running.
pub async fn running<'e>(ex: impl Executor<'e, Database = Any>, id: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE adapter_scan SET status = 'Running' WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Records how a scan ended; the request (and the credential in it) goes.
pub async fn finish<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: &str,
    outcome: Result<&str, &str>,
) -> Result<(), DbError> {
    let (status, report, error) = match outcome {
        Ok(report) => ("Success", report, ""),
        Err(error) => ("Error", "", error),
    };
    sqlx::query(
        "UPDATE adapter_scan SET status = $2, report = $3, error = $4, request = '' WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(report)
    .bind(error)
    .execute(ex)
    .await?;
    Ok(())
}
