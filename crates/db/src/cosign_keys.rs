//! Cosign public keys of projects.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// A stored key.
#[derive(Debug, Clone)]
pub struct CosignKey {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub pem: String,
    pub creation_time: i64,
}

/// A project's keys, by name.
pub async fn of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<Vec<CosignKey>, DbError> {
    let rows = sqlx::query(
        "SELECT id, project_id, name, pem, creation_time FROM cosign_key \
         WHERE project_id = $1 ORDER BY name",
    )
    .bind(project_id)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(CosignKey {
                id: r.try_get(0)?,
                project_id: r.try_get(1)?,
                name: r.try_get(2)?,
                pem: r.try_get(3)?,
                creation_time: r.try_get(4)?,
            })
        })
        .collect()
}

/// The keys of a project by name, as PEM.
pub async fn pems_of<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT k.pem FROM cosign_key k JOIN project p ON p.project_id = k.project_id \
         WHERE p.name = $1 ORDER BY k.id",
    )
    .bind(project)
    .fetch_all(ex)
    .await?)
}

/// Adds a key; its id.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    name: &str,
    pem: &str,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO cosign_key (project_id, name, pem, creation_time) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(project_id)
    .bind(name)
    .bind(pem)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// Deletes a project's key; false when it had none such.
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM cosign_key WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}
