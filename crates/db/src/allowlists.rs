//! CVE allowlists: the system's (project 0) and each project's.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// The system allowlist's project id.
pub const SYSTEM: i64 = 0;

/// A stored allowlist.
#[derive(Debug, Clone)]
pub struct Allowlist {
    pub id: i64,
    pub project_id: i64,
    /// Seconds since the epoch.
    pub expires_at: Option<i64>,
    /// JSON array of CVE ids.
    pub items: String,
    pub creation_time: i64,
    pub update_time: i64,
}

/// The allowlists of the projects given (those ever set), for a page of
/// projects in one query.
pub async fn of_projects<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_ids: &[i64],
) -> Result<Vec<Allowlist>, DbError> {
    if project_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = crate::padded(project_ids);
    let sql = format!(
        "SELECT id, project_id, expires_at, items, creation_time, update_time \
         FROM cve_allowlist WHERE project_id IN ({})",
        crate::placeholders(1..ids.len() + 1)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(ex).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Allowlist {
                id: r.try_get(0)?,
                project_id: r.try_get(1)?,
                expires_at: r.try_get(2)?,
                items: r.try_get(3)?,
                creation_time: r.try_get(4)?,
                update_time: r.try_get(5)?,
            })
        })
        .collect()
}

/// The allowlist a project's pulls use: the system's when its
/// `reuse_sys_cve_allowlist` is `true`, else its own.
pub async fn effective<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
) -> Result<Option<(Option<i64>, String)>, DbError> {
    let row = sqlx::query(
        "SELECT l.expires_at, l.items FROM project p JOIN cve_allowlist l ON l.project_id = \
         CASE WHEN EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.project_id \
           AND m.name = 'reuse_sys_cve_allowlist' AND m.value = 'true') THEN 0 ELSE p.project_id END \
         WHERE p.name = $1",
    )
    .bind(project)
    .fetch_optional(ex)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Replaces a project's (or the system's) allowlist.
pub async fn set<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    expires_at: Option<i64>,
    items: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO cve_allowlist (project_id, expires_at, items, creation_time, update_time) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (project_id) DO UPDATE SET \
         expires_at = excluded.expires_at, items = excluded.items, update_time = excluded.update_time",
    )
    .bind(project_id)
    .bind(expires_at)
    .bind(items)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes a deleted project's allowlist.
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM cve_allowlist WHERE project_id = $1")
        .bind(project_id)
        .execute(ex)
        .await?;
    Ok(())
}
