//! Repositories.

use crate::projects::{Visibility, VISIBLE_TO};
use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::{Any, Executor};

/// Creates a repository's row unless it exists, else touches it ($1 name,
/// $2 project, $3 time, $4 listed); returns its id.
macro_rules! ensure_sql {
    () => {
        // DO UPDATE (not DO NOTHING) so RETURNING yields the id of an existing row too.
        "INSERT INTO repository (name, project_name, created_at, updated_at, listed) \
         VALUES ($1, $2, $3, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at, \
         listed = CASE WHEN excluded.listed = 1 THEN 1 ELSE repository.listed END RETURNING id"
    };
}

/// Returns the id of the named repository, creating the row if needed;
/// `artifact` (a manifest is being pushed) makes it listed from now on.
pub async fn ensure<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    project: &str,
    now: i64,
    artifact: bool,
) -> Result<i64, DbError> {
    let id = sqlx::query_scalar(ensure_sql!())
        .bind(name)
        .bind(project)
        .bind(now)
        .bind(i64::from(artifact))
        .fetch_one(ex)
        .await?;
    Ok(id)
}

/// As [`ensure`] for a manifest being pushed, in the same statement finding
/// whether the repository holds it already: (repository id, artifact id).
pub async fn ensure_holding<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    project: &str,
    now: i64,
    digest: &str,
) -> Result<(i64, Option<i64>), DbError> {
    let sql = concat!(
        ensure_sql!(),
        ", (SELECT a.id FROM artifact a WHERE a.repository_id = repository.id AND a.digest = $5)"
    );
    Ok(sqlx::query_as(sql)
        .bind(name)
        .bind(project)
        .bind(now)
        .bind(1_i64)
        .bind(digest)
        .fetch_one(ex)
        .await?)
}

/// The id of a repository by name.
pub async fn id_by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM repository WHERE name = $1")
            .bind(name)
            .fetch_optional(ex)
            .await?,
    )
}

/// Names of listed repositories after `last`, in lexical order.
pub async fn catalog<'e>(
    ex: impl Executor<'e, Database = Any>,
    last: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT r.name FROM repository r WHERE r.name > $1 AND r.listed = 1 \
         ORDER BY r.name LIMIT $2",
    )
    .bind(last)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// Adds batched pulls to a repository's count.
pub async fn add_pulls<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    count: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE repository SET pull_count = pull_count + $2 WHERE id = $1")
        .bind(id)
        .bind(count)
        .execute(ex)
        .await?;
    Ok(())
}

/// A repository as Harbor's API shows it.
#[derive(Debug, Clone)]
pub struct RepositoryRow {
    pub id: i64,
    pub pull_count: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub artifact_count: i64,
    pub creation_time: i64,
    pub update_time: i64,
}

// The artifact count is of the artifacts Harbor lists.
const REPO_SELECT: &str = concat!(
    "SELECT r.id, p.project_id, r.name, r.description, \
     (SELECT COUNT(*) FROM artifact a WHERE a.repository_id = r.id",
    listed_artifact!(),
    "), r.created_at, r.updated_at, r.pull_count \
     FROM repository r JOIN project p ON p.name = r.project_name"
);

/// Repositories listed (an artifact was pushed there), in projects
/// the caller may see (`$1` all, `$2` member user id), optionally of one
/// project (`$3`); query conditions follow from `$4`.
const REPO_WHERE: &str = "WHERE r.listed = 1 \
     AND ($3 IS NULL OR r.project_name = $3) AND ";

/// What a repository list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "name",
        column: "r.name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "project_id",
        column: "p.project_id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "pull_count",
        column: "r.pull_count",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "r.created_at",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "update_time",
        column: "r.updated_at",
        kind: Kind::Time,
        within: None,
    },
];

fn repo_from_row(r: sqlx::any::AnyRow) -> Result<RepositoryRow, DbError> {
    use sqlx::Row;
    Ok(RepositoryRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        artifact_count: r.try_get(4)?,
        creation_time: r.try_get(5)?,
        update_time: r.try_get(6)?,
        pull_count: r.try_get(7)?,
    })
}

/// One page of visible repositories matching `query` (by name unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    vis: Visibility,
    project: Option<&str>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<RepositoryRow>, DbError> {
    let (cond, args) = query.conditions(4);
    let n = args.len() + 4;
    let sql = format!(
        "{REPO_SELECT} {REPO_WHERE} {VISIBLE_TO}{cond} {} LIMIT ${n} OFFSET ${}",
        query.order_by("r.name"),
        n + 1
    );
    query::bind(
        vis.bind(sqlx::query(&sql))
            .bind(project.map(str::to_string)),
        &args,
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(repo_from_row)
    .collect()
}

/// Number of visible repositories matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    vis: Visibility,
    project: Option<&str>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    use sqlx::Row;
    let (cond, args) = query.conditions(4);
    let sql = format!(
        "SELECT COUNT(*) FROM repository r JOIN project p ON p.name = r.project_name {REPO_WHERE} {VISIBLE_TO}{cond}"
    );
    let row = query::bind(
        vis.bind(sqlx::query(&sql))
            .bind(project.map(str::to_string)),
        &args,
    )
    .fetch_one(ex)
    .await?;
    Ok(row.try_get(0)?)
}

/// One listed repository.
pub async fn get<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<RepositoryRow>, DbError> {
    sqlx::query(&format!("{REPO_SELECT} WHERE r.name = $1 AND r.listed = 1"))
        .bind(name)
        .fetch_optional(ex)
        .await?
        .map(repo_from_row)
        .transpose()
}

/// A repository's description, without the counts `get` adds.
pub async fn description<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT description FROM repository WHERE name = $1")
            .bind(name)
            .fetch_optional(ex)
            .await?,
    )
}

/// Sets a repository's description.
pub async fn set_description<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    description: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE repository SET description = $2, updated_at = $3 WHERE name = $1")
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a repository with its artifacts, tags and blob links.
pub async fn delete(tx: &mut crate::Tx, name: &str) -> Result<bool, DbError> {
    // An index's references go first: PostgreSQL may check a child's
    // reference before the cascade has removed the index that makes it.
    sqlx::query(
        "DELETE FROM artifact_reference WHERE parent_id IN \
         (SELECT a.id FROM artifact a JOIN repository r ON r.id = a.repository_id WHERE r.name = $1)",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    let r = sqlx::query("DELETE FROM repository WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() > 0)
}
