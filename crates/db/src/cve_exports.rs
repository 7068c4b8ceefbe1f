//! CVE exports' CSV files, by execution.

use crate::DbError;
use sqlx::{Any, Executor};

/// Keeps an export's file.
pub async fn put<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
    csv: &str,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO cve_export (execution_id, csv) VALUES ($1, $2)")
        .bind(execution_id)
        .bind(csv)
        .execute(ex)
        .await?;
    Ok(())
}

/// An export's file, if it is (still) there.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT csv FROM cve_export WHERE execution_id = $1")
            .bind(execution_id)
            .fetch_optional(ex)
            .await?,
    )
}

/// Whether an export's file is there.
pub async fn present<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<bool, DbError> {
    let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM cve_export WHERE execution_id = $1")
        .bind(execution_id)
        .fetch_optional(ex)
        .await?;
    Ok(n.is_some())
}

/// Drops an export's file (it was downloaded).
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM cve_export WHERE execution_id = $1")
        .bind(execution_id)
        .execute(ex)
        .await?;
    Ok(())
}
