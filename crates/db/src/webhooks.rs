//! Webhook policies (Harbor's `notification_policy`).

use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A policy row; event types and targets are JSON.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: String,
    pub targets: String,
    pub creator: String,
    pub creation_time: i64,
    pub update_time: i64,
}

const COLUMNS: &str = "id, project_id, name, description, enabled, event_types, targets, creator, \
     creation_time, update_time";

fn from_row(r: AnyRow) -> Result<Policy, DbError> {
    Ok(Policy {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        enabled: r.try_get::<i64, _>(4)? == 1,
        event_types: r.try_get(5)?,
        targets: r.try_get(6)?,
        creator: r.try_get(7)?,
        creation_time: r.try_get(8)?,
        update_time: r.try_get(9)?,
    })
}

/// Inserts a policy; returns its id.
pub async fn insert<'e>(ex: impl Executor<'e, Database = Any>, p: &Policy) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO notification_policy (project_id, name, description, enabled, event_types, targets, \
         creator, creation_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(p.project_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(i64::from(p.enabled))
    .bind(&p.event_types)
    .bind(&p.targets)
    .bind(&p.creator)
    .bind(p.creation_time)
    .fetch_one(ex)
    .await?)
}

/// Replaces a policy's settings; false if it is not in the project.
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    p: &Policy,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE notification_policy SET name = $3, description = $4, enabled = $5, event_types = $6, \
         targets = $7, update_time = $8 WHERE id = $1 AND project_id = $2",
    )
    .bind(p.id)
    .bind(p.project_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(i64::from(p.enabled))
    .bind(&p.event_types)
    .bind(&p.targets)
    .bind(p.update_time)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a policy; false if it is not in the project.
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM notification_policy WHERE id = $1 AND project_id = $2")
        .bind(id)
        .bind(project_id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// One policy of a project.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
) -> Result<Option<Policy>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_policy WHERE id = $1 AND project_id = $2"
    ))
    .bind(id)
    .bind(project_id)
    .fetch_optional(ex)
    .await?
    .map(from_row)
    .transpose()
}

/// A project's policies, by id.
pub async fn of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<Vec<Policy>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_policy WHERE project_id = $1 ORDER BY id"
    ))
    .bind(project_id)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(from_row)
    .collect()
}

/// When a policy's deliveries were last enqueued, per event type (ms).
pub async fn last_triggers<'e>(
    ex: impl Executor<'e, Database = Any>,
    policy_id: i64,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(start_time) FROM execution WHERE vendor_type = 'WEBHOOK' AND vendor_id = $1",
    )
    .bind(policy_id)
    .fetch_one(ex)
    .await?)
}
