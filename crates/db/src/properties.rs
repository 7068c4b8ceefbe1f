//! Settings stored in the database (Harbor's `properties`).

use crate::DbError;
use sqlx::{Any, Executor};

/// Every stored setting.
pub async fn all<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(sqlx::query_as("SELECT k, v FROM properties ORDER BY k")
        .fetch_all(ex)
        .await?)
}

/// One setting.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    key: &str,
) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT v FROM properties WHERE k = $1")
        .bind(key)
        .fetch_optional(ex)
        .await?)
}

/// Stores a setting.
pub async fn set<'e>(
    ex: impl Executor<'e, Database = Any>,
    key: &str,
    value: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO properties (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    )
    .bind(key)
    .bind(value)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes a setting.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, key: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM properties WHERE k = $1")
        .bind(key)
        .execute(ex)
        .await?;
    Ok(())
}
