//! Blobs and their links to repositories.

use crate::DbError;
use sqlx::{Any, Executor};

/// Records a committed blob (idempotent).
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    digest: &str,
    size: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO blob (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(size)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Links a blob to a repository (idempotent).
pub async fn link<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    digest: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO repository_blob (repository_id, digest, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repository_id)
    .bind(digest)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// The size of a blob if it is linked to the named repository.
pub async fn linked_size<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT b.size FROM repository r \
         JOIN repository_blob rb ON rb.repository_id = r.id \
         JOIN blob b ON b.digest = rb.digest \
         WHERE r.name = $1 AND rb.digest = $2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_optional(ex)
    .await?)
}

/// The size of a blob linked to the repository with this id.
pub async fn linked_size_by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT b.size FROM repository_blob rb JOIN blob b ON b.digest = rb.digest \
         WHERE rb.repository_id = $1 AND rb.digest = $2",
    )
    .bind(repository_id)
    .bind(digest)
    .fetch_optional(ex)
    .await?)
}

/// Removes a blob's link to a repository; returns whether it was linked.
pub async fn unlink<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "DELETE FROM repository_blob WHERE digest = $2 \
         AND repository_id = (SELECT id FROM repository WHERE name = $1)",
    )
    .bind(repository)
    .bind(digest)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}
