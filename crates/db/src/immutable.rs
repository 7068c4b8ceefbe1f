//! Tag immutability rules.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// A stored rule: Harbor's JSON and whether it is off.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRow {
    pub id: i64,
    pub project_id: i64,
    pub tag_filter: String,
    pub disabled: bool,
}

const SELECT: &str = "SELECT id, project_id, tag_filter, disabled FROM immutable_tag_rule";

fn from_row(r: sqlx::any::AnyRow) -> Result<RuleRow, DbError> {
    Ok(RuleRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        tag_filter: r.try_get(2)?,
        disabled: r.try_get::<i64, _>(3)? != 0,
    })
}

/// One page of a project's rules, by id.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    offset: i64,
    limit: i64,
) -> Result<Vec<RuleRow>, DbError> {
    sqlx::query(&format!(
        "{SELECT} WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(project_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(from_row)
    .collect()
}

/// How many rules a project has.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM immutable_tag_rule WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(ex)
            .await?,
    )
}

/// One rule.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<RuleRow>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Adds a rule; its id (a unique violation when the project has it).
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    tag_filter: &str,
    disabled: bool,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO immutable_tag_rule (project_id, tag_filter, disabled, creation_time) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(project_id)
    .bind(tag_filter)
    .bind(i64::from(disabled))
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// Replaces a rule; false when it is gone.
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    tag_filter: &str,
    disabled: bool,
) -> Result<bool, DbError> {
    let r =
        sqlx::query("UPDATE immutable_tag_rule SET tag_filter = $2, disabled = $3 WHERE id = $1")
            .bind(id)
            .bind(tag_filter)
            .bind(i64::from(disabled))
            .execute(ex)
            .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a rule; false when it was not there.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM immutable_tag_rule WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The enabled rules (Harbor's JSON) of the project named `project`.
pub async fn enabled_in<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT r.tag_filter FROM immutable_tag_rule r JOIN project p ON p.project_id = r.project_id \
         WHERE p.name = $1 AND r.disabled = 0 ORDER BY r.id",
    )
    .bind(project)
    .fetch_all(ex)
    .await?)
}
