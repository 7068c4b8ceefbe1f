//! Labels and the artifacts they are on.

use crate::query::{Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A label; `project_id` is 0 for a global one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Label {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
    /// `g` (global) or `p` (a project's).
    pub scope: String,
    pub project_id: i64,
    pub creation_time: i64,
    pub update_time: i64,
}

/// What a label is made or changed with.
#[derive(Debug, Clone, Copy)]
pub struct LabelFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub color: &'a str,
}

/// The keys a label list is filtered and sorted on (a list names its
/// scope with `scope` and `project_id`, 0 for global labels).
pub static FIELDS: &[Field] = &[
    Field {
        key: "scope",
        column: "l.scope",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "project_id",
        column: "COALESCE(l.project_id, 0)",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "name",
        column: "l.name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "l.creation_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "update_time",
        column: "l.update_time",
        kind: Kind::Time,
        within: None,
    },
];

const SELECT: &str = "SELECT l.id, l.name, l.description, l.color, l.scope, \
     COALESCE(l.project_id, 0), l.creation_time, l.update_time FROM harbor_label l";

fn from_row(r: AnyRow) -> Result<Label, DbError> {
    label_at(&r, 0)
}

/// The label whose columns (as `SELECT` lists them) start at `i`.
fn label_at(r: &AnyRow, i: usize) -> Result<Label, DbError> {
    Ok(Label {
        id: r.try_get(i)?,
        name: r.try_get(i + 1)?,
        description: r.try_get(i + 2)?,
        color: r.try_get(i + 3)?,
        scope: r.try_get(i + 4)?,
        project_id: r.try_get(i + 5)?,
        creation_time: r.try_get(i + 6)?,
        update_time: r.try_get(i + 7)?,
    })
}

/// One page of the labels a query lets through, by its sort then id.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Label>, DbError> {
    crate::query::page(ex, SELECT, query, "l.id", (offset, limit), from_row).await
}

/// How many labels a query lets through.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    crate::query::count(ex, "harbor_label l", query).await
}

/// One label.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Label>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Adds a label (global when `project` is None); its id (a unique
/// violation when the scope has the name).
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: Option<i64>,
    f: LabelFields<'_>,
    now: i64,
) -> Result<i64, DbError> {
    let scope = if project.is_some() { "p" } else { "g" };
    Ok(sqlx::query_scalar(
        "INSERT INTO harbor_label (name, description, color, scope, project_id, creation_time, \
         update_time) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(f.name)
    .bind(f.description)
    .bind(f.color)
    .bind(scope)
    .bind(project)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// Changes a label's name, description and color; false when it is gone.
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    f: LabelFields<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE harbor_label SET name = $2, description = $3, color = $4, update_time = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.color)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a label, and so takes it off every artifact; false when it was
/// not there.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM harbor_label WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Puts a label on an artifact (a unique violation when it is on it).
pub async fn add_to<'e>(
    ex: impl Executor<'e, Database = Any>,
    label: i64,
    artifact: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO label_reference (label_id, artifact_id, creation_time, update_time) \
         VALUES ($1, $2, $3, $3)",
    )
    .bind(label)
    .bind(artifact)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Takes a label off an artifact; false when it was not on it.
pub async fn remove_from<'e>(
    ex: impl Executor<'e, Database = Any>,
    label: i64,
    artifact: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM label_reference WHERE label_id = $1 AND artifact_id = $2")
        .bind(label)
        .bind(artifact)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The labels on each of these artifacts, by artifact id, by name.
pub async fn of_artifacts<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifacts: &[i64],
) -> Result<Vec<(i64, Label)>, DbError> {
    if artifacts.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=artifacts.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT r.artifact_id, l.id, l.name, l.description, l.color, l.scope, \
         COALESCE(l.project_id, 0), l.creation_time, l.update_time \
         FROM label_reference r JOIN harbor_label l ON l.id = r.label_id \
         WHERE r.artifact_id IN ({}) ORDER BY r.artifact_id, l.name",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for a in artifacts {
        q = q.bind(*a);
    }
    q.fetch_all(ex)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, label_at(&r, 1)?)))
        .collect()
}
