//! Repositories.

use crate::DbError;
use sqlx::{Any, Executor};

/// Returns the id of the named repository, creating the row if needed.
pub async fn ensure<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    project: &str,
    now: i64,
) -> Result<i64, DbError> {
    // DO UPDATE (not DO NOTHING) so RETURNING yields the id of an existing row too.
    let id = sqlx::query_scalar(
        "INSERT INTO repository (name, project_name, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
    )
    .bind(name)
    .bind(project)
    .bind(now)
    .fetch_one(ex)
    .await?;
    Ok(id)
}

/// The id of a repository by name.
pub async fn id_by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM repository WHERE name = $1")
            .bind(name)
            .fetch_optional(ex)
            .await?,
    )
}

/// Names of repositories holding at least one artifact, after `last`, in lexical order.
pub async fn catalog<'e>(
    ex: impl Executor<'e, Database = Any>,
    last: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT r.name FROM repository r WHERE r.name > $1 \
         AND EXISTS (SELECT 1 FROM artifact a WHERE a.repository_id = r.id) \
         ORDER BY r.name LIMIT $2",
    )
    .bind(last)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}
