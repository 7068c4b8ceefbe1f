//! Replication rules, and the replication runs' executions and tasks as
//! the replication API lists them.

use crate::jobs::{Execution, Task};
use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// The executions' vendor type.
pub const VENDOR: &str = "REPLICATION";

/// A stored rule; registry id 0 is this registry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub creator: String,
    pub src_registry_id: i64,
    pub dest_registry_id: i64,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i64,
    /// Harbor's filter array, as JSON.
    pub filters: String,
    /// `manual`, `scheduled` or `event_based`.
    pub trigger_type: String,
    /// A scheduled rule's cron (empty otherwise).
    pub trigger_cron: String,
    pub replicate_deletion: bool,
    pub override_: bool,
    pub enabled: bool,
    /// KB/s per task, 0 for no limit.
    pub speed: i64,
    pub copy_by_chunk: bool,
    pub single_active: bool,
    pub creation_time: i64,
    pub update_time: i64,
}

const COLUMNS: &str = "id, name, description, creator, src_registry_id, dest_registry_id, \
    dest_namespace, dest_namespace_replace_count, filters, trigger_type, trigger_cron, \
    replicate_deletion, override, enabled, speed, copy_by_chunk, single_active, \
    creation_time, update_time";

fn from_row(r: AnyRow) -> Result<Policy, DbError> {
    let flag = |i: usize| r.try_get::<i64, _>(i).map(|v| v != 0);
    Ok(Policy {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        creator: r.try_get(3)?,
        src_registry_id: r.try_get(4)?,
        dest_registry_id: r.try_get(5)?,
        dest_namespace: r.try_get(6)?,
        dest_namespace_replace_count: r.try_get(7)?,
        filters: r.try_get(8)?,
        trigger_type: r.try_get(9)?,
        trigger_cron: r.try_get(10)?,
        replicate_deletion: flag(11)?,
        override_: flag(12)?,
        enabled: flag(13)?,
        speed: r.try_get(14)?,
        copy_by_chunk: flag(15)?,
        single_active: flag(16)?,
        creation_time: r.try_get(17)?,
        update_time: r.try_get(18)?,
    })
}

/// What a rule list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "name",
        column: "name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "creation_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "update_time",
        column: "update_time",
        kind: Kind::Time,
        within: None,
    },
];

/// One page of rules matching `query` (oldest first unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Policy>, DbError> {
    let select = format!("SELECT {COLUMNS} FROM replication_policy");
    query::page(ex, &select, query, "id", (offset, limit), from_row).await
}

/// Number of rules matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    query::count(ex, "replication_policy", query).await
}

/// A rule by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Policy>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM replication_policy WHERE id = $1");
    (sqlx::query(&sql).bind(id).fetch_optional(ex).await?)
        .map(from_row)
        .transpose()
}

/// The enabled event-based rules that push from this registry.
pub async fn pushing_on_events<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Vec<Policy>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM replication_policy WHERE src_registry_id = 0 \
         AND trigger_type = 'event_based' AND enabled = 1 ORDER BY id"
    );
    (sqlx::query(&sql).fetch_all(ex).await?)
        .into_iter()
        .map(from_row)
        .collect()
}

/// The names of the rules that replicate from or to a registry endpoint.
pub async fn using_registry<'e>(
    ex: impl Executor<'e, Database = Any>,
    registry_id: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM replication_policy WHERE src_registry_id = $1 OR dest_registry_id = $1 \
         ORDER BY name",
    )
    .bind(registry_id)
    .fetch_all(ex)
    .await?)
}

fn bind_policy<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    p: &'q Policy,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&p.name)
        .bind(&p.description)
        .bind(&p.creator)
        .bind(p.src_registry_id)
        .bind(p.dest_registry_id)
        .bind(&p.dest_namespace)
        .bind(p.dest_namespace_replace_count)
        .bind(&p.filters)
        .bind(&p.trigger_type)
        .bind(&p.trigger_cron)
        .bind(i64::from(p.replicate_deletion))
        .bind(i64::from(p.override_))
        .bind(i64::from(p.enabled))
        .bind(p.speed)
        .bind(i64::from(p.copy_by_chunk))
        .bind(i64::from(p.single_active))
        .bind(p.creation_time)
        .bind(p.update_time)
}

/// Stores a new rule; its id.
pub async fn insert(conn: &mut crate::Conn, p: &Policy) -> Result<i64, DbError> {
    let sql = format!(
        "INSERT INTO replication_policy ({}) VALUES ({}) RETURNING id",
        COLUMNS.trim_start_matches("id, "),
        crate::placeholders(1..19)
    );
    Ok(bind_policy(sqlx::query(&sql), p)
        .fetch_one(conn)
        .await?
        .try_get(0)?)
}

/// Saves a rule; false when it no longer exists.
pub async fn update(conn: &mut crate::Conn, p: &Policy) -> Result<bool, DbError> {
    let columns = COLUMNS.trim_start_matches("id, ").split(", ");
    let set: Vec<String> = (columns.enumerate())
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE replication_policy SET {} WHERE id = $19",
        set.join(", ")
    );
    let done = bind_policy(sqlx::query(&sql), p)
        .bind(p.id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a rule with its runs.
pub async fn delete(conn: &mut crate::Conn, id: i64) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM execution WHERE vendor_type = $1 AND vendor_id = $2")
        .bind(VENDOR)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM replication_policy WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The replication executions, as their list can be filtered and sorted.
const EXECUTIONS: &str = "(SELECT * FROM execution WHERE vendor_type = 'REPLICATION') e";

/// What an execution list can be filtered and sorted on.
pub static EXECUTION_FIELDS: &[Field] = &[
    Field {
        key: "id",
        column: "id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "policy_id",
        column: "vendor_id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "status",
        column: "status",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "trigger",
        column: "trigger_type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "start_time",
        column: "start_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "end_time",
        column: "end_time",
        kind: Kind::Time,
        within: None,
    },
];

/// One page of replication executions matching `query` (newest first
/// unless sorted).
pub async fn executions<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Execution>, DbError> {
    let select = format!(
        "SELECT {} FROM {EXECUTIONS}",
        crate::jobs::EXECUTION_COLUMNS
    );
    query::page(
        ex,
        &select,
        query,
        "id DESC",
        (offset, limit),
        crate::jobs::execution_from_row,
    )
    .await
}

/// Number of replication executions matching `query`.
pub async fn count_executions<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    query::count(ex, EXECUTIONS, query).await
}

/// How many tasks of `job_type` each execution has in each state:
/// (execution id, status, count).
pub async fn task_counts<'e>(
    ex: impl Executor<'e, Database = Any>,
    executions: &[i64],
    job_type: &str,
) -> Result<Vec<(i64, String, i64)>, DbError> {
    if executions.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT execution_id, status, COUNT(*) FROM task WHERE job_type = $1 \
         AND execution_id IN ({}) GROUP BY execution_id, status",
        crate::placeholders(2..executions.len() + 2)
    );
    let mut q = sqlx::query_as(&sql).bind(job_type);
    for id in executions {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(ex).await?)
}

/// The tasks of `job_type` in an execution, in order.
pub async fn tasks<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
    job_type: &str,
) -> Result<Vec<Task>, DbError> {
    let sql = format!(
        "SELECT {} FROM task WHERE execution_id = $1 AND job_type = $2 ORDER BY id",
        crate::jobs::TASK_COLUMNS
    );
    (sqlx::query(&sql)
        .bind(execution_id)
        .bind(job_type)
        .fetch_all(ex)
        .await?)
        .into_iter()
        .map(crate::jobs::task_from_row)
        .collect()
}
