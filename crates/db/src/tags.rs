//! Tags.

use crate::DbError;
use sqlx::{Any, Executor};

/// What writing a tag does when the repository already has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Moves it to the artifact (a push).
    Move,
    /// Leaves it where it is (adding a tag through the API).
    Keep,
}

/// Points a tag at an artifact; false when it existed and was kept.
pub async fn put<'e>(
    ex: impl Executor<'e, Database = Any>,
    (repository_id, artifact_id): (i64, i64),
    name: &str,
    now: i64,
    existing: Existing,
) -> Result<bool, DbError> {
    let on_conflict = match existing {
        Existing::Move => {
            "DO UPDATE SET artifact_id = excluded.artifact_id, push_time = excluded.push_time"
        }
        Existing::Keep => "DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO tag (repository_id, artifact_id, name, push_time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repository_id, name) {on_conflict}"
    );
    let r = sqlx::query(&sql)
        .bind(repository_id)
        .bind(artifact_id)
        .bind(name)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Tag names of a repository after `last`, in lexical order.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    last: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    // One aggregated row instead of one row per tag: listing thousands of tags
    // is dominated by per-row driver overhead otherwise. Tags cannot contain
    // a newline, so it is a safe separator (string_agg: SQLite >= 3.44, PostgreSQL).
    let joined: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(name, $4 ORDER BY name) FROM \
         (SELECT name FROM tag WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3) page",
    )
    .bind(repository_id)
    .bind(last)
    .bind(limit)
    .bind("\n")
    .fetch_one(ex)
    .await?;
    Ok(joined
        .map(|j| j.split('\n').map(String::from).collect())
        .unwrap_or_default())
}

/// Deletes a tag; returns whether it existed.
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    name: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "DELETE FROM tag WHERE name = $2 AND repository_id = (SELECT id FROM repository WHERE name = $1)",
    )
    .bind(repository)
    .bind(name)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Records the last pull of a tag (a later time wins).
pub async fn pulled<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    name: &str,
    at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tag SET pull_time = $3 WHERE repository_id = $1 AND name = $2 \
         AND (pull_time IS NULL OR pull_time < $3)",
    )
    .bind(repository_id)
    .bind(name)
    .bind(at)
    .execute(ex)
    .await?;
    Ok(())
}
