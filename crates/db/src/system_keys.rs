//! Keys every replica shares, sealed (the token signing key).

use crate::DbError;
use sqlx::{Any, Executor};

/// A key as sealed, if one was stored under `name`.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT sealed FROM system_key WHERE name = $1")
            .bind(name)
            .fetch_optional(ex)
            .await?,
    )
}

/// Stores a key unless one is already stored under `name` (replicas
/// starting together: the first one's stays).
pub async fn insert_absent<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    sealed: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO system_key (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(sealed)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}
