//! Blobs and their links to repositories.

use crate::DbError;
use sqlx::{Any, Executor};

/// Records a committed blob, or marks an existing one as just uploaded.
/// Run it before the file is put in place: the row lock it takes orders the
/// upload against a garbage collection sweeping the same digest.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    digest: &str,
    size: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO blob (digest, size, created_at, touched_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at",
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
#[tracing::instrument(level = "debug", name = "db.blob_linked_size", skip_all)]
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

/// The sizes of those of `digests` linked to the repository with this id,
/// in one statement (a manifest's blobs are checked together).
pub async fn linked_sizes<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    digests: &[String],
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    if digests.is_empty() {
        return Ok(Default::default());
    }
    let list = crate::padded(digests);
    let sql = format!(
        "SELECT b.digest, b.size FROM repository_blob rb JOIN blob b ON b.digest = rb.digest \
         WHERE rb.repository_id = $1 AND rb.digest IN ({})",
        crate::placeholders(2..list.len() + 2)
    );
    let mut q = sqlx::query_as(&sql).bind(repository_id);
    for d in list {
        q = q.bind(d.as_str());
    }
    Ok(q.fetch_all(ex).await?.into_iter().collect())
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

/// Marks a blob linked to `repository` as just used (a mount); its size,
/// or None if it is not linked there (or a garbage collection just removed
/// it).
pub async fn touch_linked<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "UPDATE blob SET touched_at = $3 WHERE digest = $2 AND EXISTS (SELECT 1 FROM repository_blob rb \
         JOIN repository r ON r.id = rb.repository_id WHERE r.name = $1 AND rb.digest = $2) \
         RETURNING size",
    )
    .bind(repository)
    .bind(digest)
    .bind(now)
    .fetch_optional(ex)
    .await?)
}

/// Blobs no artifact references and nobody touched since `cutoff`: what a
/// garbage collection may delete. (digest, size)
pub async fn unreferenced<'e>(
    ex: impl Executor<'e, Database = Any>,
    cutoff: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT b.digest, b.size FROM blob b WHERE b.touched_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM artifact_blob ab WHERE ab.digest = b.digest) ORDER BY b.digest",
    )
    .bind(cutoff)
    .fetch_all(ex)
    .await?)
}

/// Deletes the rows and links of those of `digests` still unreferenced
/// and untouched since `cutoff`, putting them in the trash until their
/// bytes go; returns each one deleted with its size.
pub async fn delete_unreferenced(
    conn: &mut crate::Conn,
    digests: &[String],
    cutoff: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::padded(digests);
    let garbage = format!(
        "digest IN ({}) AND touched_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM artifact_blob ab WHERE ab.digest = blob.digest)",
        crate::placeholders(2..list.len() + 2)
    );
    let links = format!(
        "DELETE FROM repository_blob WHERE digest IN (SELECT digest FROM blob WHERE {garbage})"
    );
    let mut q = sqlx::query(&links).bind(cutoff);
    for d in &list {
        q = q.bind(d.as_str());
    }
    q.execute(&mut *conn).await?;
    let rows = format!("DELETE FROM blob WHERE {garbage} RETURNING digest, size");
    let mut q = sqlx::query_as(&rows).bind(cutoff);
    for d in &list {
        q = q.bind(d.as_str());
    }
    let deleted: Vec<(String, i64)> = q.fetch_all(&mut *conn).await?;
    for run in crate::power_of_two_runs(&deleted, 64) {
        let sql = format!(
            "INSERT INTO blob_trash (digest, created_at) VALUES {} ON CONFLICT DO NOTHING",
            crate::value_rows(run.len(), |i| format!("(${i}, $1)"))
        );
        let mut q = sqlx::query(&sql).bind(crate::now_millis());
        for (d, _) in run {
            q = q.bind(d);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(deleted)
}

/// Blobs a collection dropped whose bytes may still be in the store.
pub async fn trashed<'e>(ex: impl Executor<'e, Database = Any>) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT digest FROM blob_trash ORDER BY digest")
            .fetch_all(ex)
            .await?,
    )
}

/// The size a placeholder row has: it marks a digest whose bytes are being
/// deleted, for the deleting transaction's length only.
const HELD: i64 = -1;

/// Holds those of `digests` that have no blob row, so an upload of such a
/// digest waits for this transaction; returns the digests held. One that
/// has a row (or an uncommitted upload's row appeared, once it commits) is
/// in use: its bytes stay. On PostgreSQL the hold is a placeholder row for
/// each, on whose key an upload's insert blocks. On SQLite the transaction
/// holds the one writer, so no upload's row can appear before it ends: the
/// rows absent now are held already, and placeholders would only write
/// and then delete a row on a random page per digest.
pub async fn hold_absent(
    conn: &mut crate::Conn,
    digests: &[String],
) -> Result<Vec<String>, DbError> {
    if conn.backend_name() != "PostgreSQL" {
        let names: Vec<&str> = digests.iter().map(String::as_str).collect();
        let present: std::collections::HashSet<String> =
            recorded(&mut *conn, &names).await?.into_iter().collect();
        return Ok(digests
            .iter()
            .filter(|d| !present.contains(*d))
            .cloned()
            .collect());
    }
    let mut held = Vec::new();
    for run in crate::power_of_two_runs(digests, 64) {
        let sql = format!(
            "INSERT INTO blob (digest, size, created_at, touched_at) VALUES {} \
             ON CONFLICT (digest) DO NOTHING RETURNING digest",
            crate::value_rows(run.len(), |i| format!("(${i}, $1, 0, 0)"))
        );
        let mut q = sqlx::query_scalar(&sql).bind(HELD);
        for d in run {
            q = q.bind(d);
        }
        held.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(held)
}

/// Ends the holds and trash entries of `digests` (their bytes are gone,
/// or in use).
pub async fn release_held(conn: &mut crate::Conn, digests: &[String]) -> Result<(), DbError> {
    if digests.is_empty() {
        return Ok(());
    }
    let list = crate::padded(digests);
    if conn.backend_name() == "PostgreSQL" {
        let ins = crate::placeholders(2..list.len() + 2);
        let holds = format!("DELETE FROM blob WHERE size = $1 AND digest IN ({ins})");
        let mut q = sqlx::query(&holds).bind(HELD);
        for d in &list {
            q = q.bind(d.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    let trash = format!(
        "DELETE FROM blob_trash WHERE digest IN ({})",
        crate::placeholders(1..list.len() + 1)
    );
    let mut q = sqlx::query(&trash);
    for d in &list {
        q = q.bind(d.as_str());
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Which of `digests` have a blob row.
pub async fn recorded<'e>(
    ex: impl Executor<'e, Database = Any>,
    digests: &[&str],
) -> Result<Vec<String>, DbError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let digests = crate::padded(digests);
    let sql = format!(
        "SELECT digest FROM blob WHERE digest IN ({})",
        crate::placeholders(1..digests.len() + 1)
    );
    let mut q = sqlx::query_scalar(&sql);
    for d in digests {
        q = q.bind(*d);
    }
    Ok(q.fetch_all(ex).await?)
}
