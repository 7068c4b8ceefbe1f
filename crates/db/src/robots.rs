//! Robot accounts and their permissions.

use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A robot row (secret hash included; never serialized by callers).
#[derive(Debug, Clone)]
pub struct Robot {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub level: String,
    pub project_id: Option<i64>,
    pub secret_hash: String,
    pub disabled: bool,
    pub duration: i64,
    pub expires_at: i64,
    pub creation_time: i64,
    pub update_time: i64,
}

/// One granted permission: kind (`system`/`project`), namespace (`/`, a project name or `*`), resource, action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub kind: String,
    pub namespace: String,
    pub resource: String,
    pub action: String,
    /// The project a `project` permission with a named namespace is bound
    /// to (set by the robot service; None for system permissions and `*`).
    pub project_id: Option<i64>,
}

const COLUMNS: &str =
    "id, name, description, level, project_id, secret_hash, disabled, duration, expires_at, \
                       creation_time, update_time";

fn from_row(r: AnyRow) -> Result<Robot, DbError> {
    Ok(Robot {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        level: r.try_get(3)?,
        project_id: r.try_get(4)?,
        secret_hash: r.try_get(5)?,
        disabled: r.try_get::<i64, _>(6)? != 0,
        duration: r.try_get(7)?,
        expires_at: r.try_get(8)?,
        creation_time: r.try_get(9)?,
        update_time: r.try_get(10)?,
    })
}

/// Inserts a robot with its permissions; returns its id.
pub async fn insert(tx: &mut crate::Conn, r: &Robot, perms: &[Permission]) -> Result<i64, DbError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO robot (name, description, level, project_id, secret_hash, disabled, duration, expires_at, \
         creation_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(&r.name)
    .bind(&r.description)
    .bind(&r.level)
    .bind(r.project_id)
    .bind(&r.secret_hash)
    .bind(i64::from(r.disabled))
    .bind(r.duration)
    .bind(r.expires_at)
    .bind(r.creation_time)
    .fetch_one(&mut *tx)
    .await?;
    set_permissions(tx, id, perms).await?;
    Ok(id)
}

/// Replaces a robot's permissions.
pub async fn set_permissions(
    tx: &mut crate::Conn,
    id: i64,
    perms: &[Permission],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM robot_permission WHERE robot_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for p in perms {
        sqlx::query(
            "INSERT INTO robot_permission (robot_id, kind, namespace, resource, action, project_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&p.kind)
        .bind(&p.namespace)
        .bind(&p.resource)
        .bind(&p.action)
        .bind(p.project_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A robot by full name.
pub async fn by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<Robot>, DbError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM robot WHERE name = $1"))
        .bind(name)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// A robot by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Robot>, DbError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM robot WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// One page of an owner's robots, by id.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    owner: Owner,
    offset: i64,
    limit: i64,
) -> Result<Vec<Robot>, DbError> {
    let (project, level) = owner.binds();
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM robot WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR level = $2) ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(project)
    .bind(level)
    .bind(limit)
    .bind(offset)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(from_row)
    .collect()
}

/// Number of robots of an owner.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    owner: Owner,
) -> Result<i64, DbError> {
    let (project, level) = owner.binds();
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM robot WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR level = $2)",
    )
    .bind(project)
    .bind(level)
    .fetch_one(ex)
    .await?)
}

/// Whose robots a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Every robot.
    All,
    /// System-level robots.
    System,
    /// One project's robots.
    Project(i64),
}

impl Owner {
    /// The project id and level the list's query filters on.
    fn binds(self) -> (Option<i64>, Option<&'static str>) {
        match self {
            Owner::All => (None, None),
            Owner::System => (None, Some("system")),
            Owner::Project(id) => (Some(id), Some("project")),
        }
    }
}

/// A robot's permissions.
pub async fn permissions<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Vec<Permission>, DbError> {
    sqlx::query("SELECT kind, namespace, resource, action, project_id FROM robot_permission WHERE robot_id = $1 ORDER BY kind, namespace, resource, action")
        .bind(id)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Permission {
                kind: r.try_get(0)?,
                namespace: r.try_get(1)?,
                resource: r.try_get(2)?,
                action: r.try_get(3)?,
                project_id: r.try_get(4)?,
            })
        })
        .collect()
}

/// Updates description, disabled flag, duration and expiry.
pub async fn update(tx: &mut crate::Conn, r: &Robot) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE robot SET description = $2, disabled = $3, duration = $4, expires_at = $5, update_time = $6 WHERE id = $1",
    )
    .bind(r.id)
    .bind(&r.description)
    .bind(i64::from(r.disabled))
    .bind(r.duration)
    .bind(r.expires_at)
    .bind(r.update_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Replaces the secret hash.
pub async fn set_secret<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE robot SET secret_hash = $2, update_time = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// Deletes a robot.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM robot WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a project's robots whose names start with `prefix` and that
/// expired before `now` (seconds); how many went.
pub async fn delete_expired<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    prefix: &str,
    now: i64,
) -> Result<u64, DbError> {
    let pattern = format!("{}%", crate::query::like_pattern(prefix).trim_matches('%'));
    let r = sqlx::query(
        "DELETE FROM robot WHERE project_id = $1 AND name LIKE $2 ESCAPE '\\' \
         AND expires_at >= 0 AND expires_at < $3",
    )
    .bind(project_id)
    .bind(pattern)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected())
}
