//! Tag retention: each project's policy (Harbor's JSON), what each
//! repository's task of a run found, and the artifacts a run weighs.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// A stored policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRow {
    pub id: i64,
    pub project_id: i64,
    /// Harbor's `RetentionPolicy` as JSON (its `id` and `scope` as stored).
    pub policy: String,
}

/// Stores a project's policy; its id. A second policy for the project is
/// refused by the unique project column.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    policy: &str,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO retention_policy (project_id, policy, creation_time, update_time) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(project_id)
    .bind(policy)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// Replaces a policy's JSON; false if there is no such policy.
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    policy: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE retention_policy SET policy = $2, update_time = $3 WHERE id = $1")
        .bind(id)
        .bind(policy)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a policy; false if there was none.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM retention_policy WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// A policy by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<PolicyRow>, DbError> {
    sqlx::query("SELECT id, project_id, policy FROM retention_policy WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(|r| {
            Ok(PolicyRow {
                id: r.try_get(0)?,
                project_id: r.try_get(1)?,
                policy: r.try_get(2)?,
            })
        })
        .transpose()
}

/// A repository's task in a run, recorded when the run is planned.
pub async fn add_task<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
    repository: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO retention_task (execution_id, repository, total, retained) \
         VALUES ($1, $2, 0, 0)",
    )
    .bind(execution_id)
    .bind(repository)
    .execute(ex)
    .await?;
    Ok(())
}

/// Records what a repository's task found.
pub async fn finish_task<'e>(
    ex: impl Executor<'e, Database = Any>,
    (execution_id, repository): (i64, &str),
    total: i64,
    retained: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE retention_task SET total = $3, retained = $4 \
         WHERE execution_id = $1 AND repository = $2",
    )
    .bind(execution_id)
    .bind(repository)
    .bind(total)
    .bind(retained)
    .execute(ex)
    .await?;
    Ok(())
}

/// What each repository's task of a run found: (repository, artifacts
/// weighed, retained).
pub async fn tasks<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<Vec<(String, i64, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT repository, total, retained FROM retention_task WHERE execution_id = $1",
    )
    .bind(execution_id)
    .fetch_all(ex)
    .await?)
}

/// An artifact as retention weighs it: its digest, tags, and the last push
/// and pull of it or any of its tags (Unix ms; 0 never pulled).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed: i64,
    pub pulled: i64,
}

/// The artifacts of a repository retention weighs: those its artifact list
/// shows (no accessory, no untagged index child: they go with what they
/// belong to), with their tags.
pub async fn candidates<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
) -> Result<Vec<Candidate>, DbError> {
    let rows = sqlx::query(concat!(
        "SELECT a.id, a.digest, a.push_time, COALESCE(a.pull_time, 0), t.name, t.push_time, \
           COALESCE(t.pull_time, 0) \
         FROM artifact a JOIN repository r ON r.id = a.repository_id \
         LEFT JOIN tag t ON t.artifact_id = a.id WHERE r.name = $1",
        listed_artifact!(),
        " ORDER BY a.id, t.name"
    ))
    .bind(repository)
    .fetch_all(ex)
    .await?;
    let mut out: Vec<(i64, Candidate)> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get(0)?;
        if out.last().is_none_or(|(last, _)| *last != id) {
            out.push((
                id,
                Candidate {
                    digest: r.try_get(1)?,
                    tags: Vec::new(),
                    pushed: r.try_get(2)?,
                    pulled: r.try_get(3)?,
                },
            ));
        }
        let Some((_, c)) = out.last_mut() else {
            continue;
        };
        if let Some(tag) = r.try_get::<Option<String>, _>(4)? {
            c.tags.push(tag);
            c.pushed = c.pushed.max(r.try_get(5)?);
            c.pulled = c.pulled.max(r.try_get(6)?);
        }
    }
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// The names of a project's repositories, in order.
pub async fn repositories<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT name FROM repository WHERE project_name = $1 ORDER BY name")
            .bind(project)
            .fetch_all(ex)
            .await?,
    )
}
