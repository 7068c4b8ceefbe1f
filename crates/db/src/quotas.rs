//! Storage quotas: each project's limit and usage, and the blobs and
//! manifests its usage counts (`project_blob`).
//!
//! Every write that changes a project's usage locks its quota row first
//! ([`lock`]), before it touches anything else: pushes, deletes and
//! collections in one project then queue on that row instead of deadlocking
//! on each other's rows.

use crate::query::{Field, Kind, ListQuery};
use crate::DbError;
use sqlx::{Any, Executor, Row};

/// A project's quota.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaRow {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub owner_name: String,
    /// Bytes; -1 is unlimited.
    pub hard: i64,
    pub used: i64,
    pub creation_time: i64,
    pub update_time: i64,
}

const SELECT: &str =
    "SELECT q.id, q.project_id, p.name, COALESCE(u.username, ''), q.hard, q.used, \
     q.creation_time, q.update_time FROM quota q JOIN project p ON p.project_id = q.project_id \
     LEFT JOIN harbor_user u ON u.user_id = p.owner_id";

fn from_row(r: sqlx::any::AnyRow) -> Result<QuotaRow, DbError> {
    Ok(QuotaRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        project_name: r.try_get(2)?,
        owner_name: r.try_get(3)?,
        hard: r.try_get(4)?,
        used: r.try_get(5)?,
        creation_time: r.try_get(6)?,
        update_time: r.try_get(7)?,
    })
}

/// Gives a new project its quota.
pub async fn create<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    hard: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO quota (project_id, hard, used, creation_time, update_time) \
         VALUES ($1, $2, 0, $3, $3)",
    )
    .bind(project_id)
    .bind(hard)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// A quota by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<QuotaRow>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE q.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// A project's quota.
pub async fn of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<Option<QuotaRow>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE q.project_id = $1"))
        .bind(project_id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// The keys a quota list is filtered and sorted on: Harbor's
/// `reference_id` (the project's id), times, and `hard.storage` /
/// `used.storage` (unlimited sorts as the largest limit, as in Harbor).
pub static FIELDS: &[Field] = &[
    Field {
        key: "reference_id",
        column: "q.project_id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "q.creation_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "update_time",
        column: "q.update_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "hard.storage",
        column: "(CASE WHEN q.hard < 0 THEN 9223372036854775807 ELSE q.hard END)",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "used.storage",
        column: "q.used",
        kind: Kind::Int,
        within: None,
    },
];

/// One page of the quotas a query lets through, in its order, newest first
/// otherwise.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<QuotaRow>, DbError> {
    let tiebreak = "q.creation_time DESC, q.id DESC";
    crate::query::page(ex, SELECT, query, tiebreak, (offset, limit), from_row).await
}

/// How many quotas a query lets through.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    crate::query::count(ex, "quota q", query).await
}

/// Sets a quota's hard limit; false if there is no such quota.
pub async fn set_hard<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    hard: i64,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE quota SET hard = $2, update_time = $3 WHERE id = $1")
        .bind(id)
        .bind(hard)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// A locked quota: whose it is, its limit and usage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Locked {
    pub project_id: i64,
    pub hard: i64,
    pub used: i64,
}

/// Locks the quota of the named project for the rest of the transaction
/// and reads it; None if the project has none.
pub async fn lock<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
    now: i64,
) -> Result<Option<Locked>, DbError> {
    let row = sqlx::query(
        "UPDATE quota SET update_time = $2 \
         WHERE project_id = (SELECT project_id FROM project WHERE name = $1) \
         RETURNING project_id, hard, used",
    )
    .bind(project)
    .bind(now)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(Locked {
            project_id: r.try_get(0)?,
            hard: r.try_get(1)?,
            used: r.try_get(2)?,
        })
    })
    .transpose()
}

/// Records blobs and manifests (digest, size) as the project's, each once;
/// returns the bytes newly counted. Run under [`lock`].
pub async fn add_blobs(
    conn: &mut crate::Conn,
    project_id: i64,
    items: &[(String, i64)],
    now: i64,
) -> Result<i64, DbError> {
    let mut added = 0;
    // A few hundred rows per statement stay under every engine's limit on
    // bound parameters.
    for chunk in items.chunks(200) {
        let values = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, $2)", 3 + 2 * i, 4 + 2 * i))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO project_blob (project_id, digest, size, created_at) VALUES {values} \
             ON CONFLICT (project_id, digest) DO NOTHING RETURNING size"
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql)
            .bind(project_id)
            .bind(now);
        for (digest, size) in chunk {
            q = q.bind(digest).bind(*size);
        }
        added += q.fetch_all(&mut *conn).await?.iter().sum::<i64>();
    }
    Ok(added)
}

/// Changes a project's usage by `delta` bytes (never below zero).
pub async fn add_used<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    delta: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE quota SET used = CASE WHEN used + $2 < 0 THEN 0 ELSE used + $2 END \
         WHERE project_id = $1",
    )
    .bind(project_id)
    .bind(delta)
    .execute(ex)
    .await?;
    Ok(())
}

/// No artifact of the project (named `$2`) is, or references, the digest of
/// the `project_blob` row being looked at.
const UNREFERENCED: &str =
    "NOT EXISTS (SELECT 1 FROM artifact a JOIN repository r ON r.id = a.repository_id \
       WHERE a.digest = project_blob.digest AND r.project_name = $2) \
     AND NOT EXISTS (SELECT 1 FROM artifact_blob ab JOIN artifact a ON a.id = ab.artifact_id \
       JOIN repository r ON r.id = a.repository_id \
       WHERE ab.digest = project_blob.digest AND r.project_name = $2)";

/// Stops counting those of `digests` that no artifact of the project uses
/// any more (after deletes); returns the bytes freed. Run under [`lock`].
pub async fn release(
    conn: &mut crate::Conn,
    project: &str,
    digests: &[String],
) -> Result<i64, DbError> {
    if digests.is_empty() {
        return Ok(0);
    }
    let Some(project_id) = project_id(&mut *conn, project).await? else {
        return Ok(0);
    };
    let mut freed = 0;
    for chunk in digests.chunks(200) {
        let list = crate::placeholders(3..chunk.len() + 3);
        let sql = format!(
            "DELETE FROM project_blob WHERE project_id = $1 AND digest IN ({list}) \
             AND {UNREFERENCED} RETURNING size"
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql)
            .bind(project_id)
            .bind(project);
        for d in chunk {
            q = q.bind(d);
        }
        freed += q.fetch_all(&mut *conn).await?.iter().sum::<i64>();
    }
    add_used(&mut *conn, project_id, -freed).await?;
    Ok(freed)
}

/// Stops counting what the project recorded before `cutoff` and no
/// artifact of it uses (blobs uploaded for pushes that never came, or left
/// by deleted repositories): what a garbage collection releases. Returns
/// the bytes freed. Run under [`lock`].
pub async fn release_unused(
    conn: &mut crate::Conn,
    project: &str,
    cutoff: i64,
) -> Result<i64, DbError> {
    let Some(project_id) = project_id(&mut *conn, project).await? else {
        return Ok(0);
    };
    let freed: i64 = sqlx::query_scalar::<_, i64>(&format!(
        "DELETE FROM project_blob WHERE project_id = $1 AND created_at < $3 \
         AND {UNREFERENCED} RETURNING size"
    ))
    .bind(project_id)
    .bind(project)
    .bind(cutoff)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .sum();
    add_used(&mut *conn, project_id, -freed).await?;
    Ok(freed)
}

/// Counts again what the project's artifacts use and sets its usage to the
/// sum of what it counts; returns (usage before, usage after). Run under
/// [`lock`].
pub async fn recount(
    conn: &mut crate::Conn,
    project: &str,
    now: i64,
) -> Result<(i64, i64), DbError> {
    let Some(project_id) = project_id(&mut *conn, project).await? else {
        return Ok((0, 0));
    };
    sqlx::query(
        "INSERT INTO project_blob (project_id, digest, size, created_at) \
         SELECT DISTINCT $1, b.digest, b.size, $3 FROM repository r \
         JOIN artifact a ON a.repository_id = r.id \
         JOIN artifact_blob ab ON ab.artifact_id = a.id \
         JOIN blob b ON b.digest = ab.digest WHERE r.project_name = $2 \
         ON CONFLICT (project_id, digest) DO NOTHING",
    )
    .bind(project_id)
    .bind(project)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO project_blob (project_id, digest, size, created_at) \
         SELECT $1, a.digest, MIN(a.manifest_size), $3 FROM repository r \
         JOIN artifact a ON a.repository_id = r.id WHERE r.project_name = $2 \
         GROUP BY a.digest ON CONFLICT (project_id, digest) DO NOTHING",
    )
    .bind(project_id)
    .bind(project)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let before: i64 = sqlx::query_scalar("SELECT used FROM quota WHERE project_id = $1")
        .bind(project_id)
        .fetch_one(&mut *conn)
        .await?;
    let after: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM project_blob WHERE project_id = $1",
    )
    .bind(project_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE quota SET used = $2 WHERE project_id = $1")
        .bind(project_id)
        .bind(after)
        .execute(&mut *conn)
        .await?;
    Ok((before, after))
}

async fn project_id(conn: &mut crate::Conn, name: &str) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT project_id FROM project WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Names of every project with a quota, for the collections and recounts
/// that go through them one by one.
pub async fn project_names<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT p.name FROM quota q JOIN project p ON p.project_id = q.project_id ORDER BY p.name",
    )
    .fetch_all(ex)
    .await?)
}
