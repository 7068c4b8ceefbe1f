//! What the Prometheus exporter reports, read in a few grouped queries.

use crate::DbError;
use sqlx::{Any, Executor};

/// A project's figures: (name, public, repositories, members, quota used,
/// quota limit (-1 unlimited), pulls).
pub type ProjectFigures = (String, bool, i64, i64, i64, i64, i64);

/// Every project's figures.
pub async fn projects<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<ProjectFigures>, DbError> {
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.name, \
         CASE WHEN EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.project_id \
           AND m.name = 'public' AND m.value = 'true') THEN 1 ELSE 0 END, \
         (SELECT COUNT(*) FROM repository r WHERE r.project_name = p.name), \
         (SELECT COUNT(*) FROM project_member pm WHERE pm.project_id = p.project_id), \
         COALESCE((SELECT q.used FROM quota q WHERE q.project_id = p.project_id), 0), \
         COALESCE((SELECT q.hard FROM quota q WHERE q.project_id = p.project_id), -1), \
         COALESCE((SELECT CAST(SUM(r.pull_count) AS BIGINT) FROM repository r \
           WHERE r.project_name = p.name), 0) \
         FROM project p ORDER BY p.name",
    )
    .fetch_all(ex)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(n, public, repos, members, used, hard, pulls)| {
            (n, public == 1, repos, members, used, hard, pulls)
        })
        .collect())
}

/// Artifacts per project and Harbor type: (project, type, count).
pub async fn artifacts<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<(String, String, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT r.project_name, COALESCE(a.harbor_type, 'UNKNOWN'), COUNT(*) \
         FROM artifact a JOIN repository r ON r.id = a.repository_id \
         GROUP BY r.project_name, COALESCE(a.harbor_type, 'UNKNOWN') \
         ORDER BY r.project_name",
    )
    .fetch_all(ex)
    .await?)
}

/// Pending tasks per job type: (type, count, when the oldest was due).
pub async fn queues<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<(String, i64, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT job_type, COUNT(*), MIN(next_run_at) FROM task WHERE status = 'Pending' \
         GROUP BY job_type ORDER BY job_type",
    )
    .fetch_all(ex)
    .await?)
}

/// How many schedules are set.
pub async fn schedules<'e>(ex: impl Executor<'e, Database = Any>) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM schedule")
        .fetch_one(ex)
        .await?)
}
