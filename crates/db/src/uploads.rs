//! Upload sessions.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// An upload session row.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub repository_name: String,
    pub size: i64,
    pub created_at: i64,
    /// The store's saved state of the upload.
    pub state: Option<Vec<u8>>,
}

/// Records a new session.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: &str,
    repository_name: &str,
    state: &[u8],
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO upload (id, repository_name, size, created_at, updated_at, state) \
         VALUES ($1, $2, 0, $3, $3, $4)",
    )
    .bind(id)
    .bind(repository_name)
    .bind(now)
    .bind(state)
    .execute(ex)
    .await?;
    Ok(())
}

/// Looks a session up by id.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<Upload>, DbError> {
    let row = sqlx::query(
        "SELECT id, repository_name, size, created_at, state FROM upload WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(Upload {
            id: r.try_get(0)?,
            repository_name: r.try_get(1)?,
            size: r.try_get(2)?,
            created_at: r.try_get(3)?,
            state: r.try_get(4)?,
        })
    })
    .transpose()
}

/// Records the bytes received so far and the store's state of them.
pub async fn save<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: &str,
    size: i64,
    state: &[u8],
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE upload SET size = $2, updated_at = $3, state = $4 WHERE id = $1")
        .bind(id)
        .bind(size)
        .bind(now)
        .bind(state)
        .execute(ex)
        .await?;
    Ok(())
}

/// Removes a session; returns whether it existed.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: &str) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM upload WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Upload sessions not written to since `before`: (id, saved state).
pub async fn idle_since<'e>(
    ex: impl Executor<'e, Database = Any>,
    before: i64,
) -> Result<Vec<(String, Option<Vec<u8>>)>, DbError> {
    Ok(
        sqlx::query_as("SELECT id, state FROM upload WHERE updated_at < $1")
            .bind(before)
            .fetch_all(ex)
            .await?,
    )
}

/// Whether an upload session exists.
pub async fn exists<'e>(ex: impl Executor<'e, Database = Any>, id: &str) -> Result<bool, DbError> {
    let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM upload WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?;
    Ok(n.is_some())
}
