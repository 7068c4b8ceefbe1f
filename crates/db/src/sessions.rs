//! Browser sessions.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// Records a session.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    id_hash: &str,
    user_id: i64,
    csrf: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO session (id_hash, user_id, csrf_token, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(expires_at)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// The (user id, CSRF token) of a live session.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    id_hash: &str,
    now: i64,
) -> Result<Option<(i64, String)>, DbError> {
    let row = sqlx::query(
        "SELECT user_id, csrf_token FROM session WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(ex)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Ends a session, and drops expired ones.
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    id_hash: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM session WHERE id_hash = $1 OR expires_at <= $2")
        .bind(id_hash)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}
