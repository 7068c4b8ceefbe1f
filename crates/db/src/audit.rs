//! Audit logs: the legacy `audit_log` and the extended `audit_log_ext`.

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// One audited operation, before it is written.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The project it belongs to, by name (resolved when written; none: 0).
    pub project: Option<String>,
    pub operation: String,
    pub resource_type: String,
    pub resource: String,
    pub username: String,
    pub description: String,
    pub success: bool,
    pub op_time: i64,
    /// Whether it also goes to the legacy log.
    pub legacy: bool,
}

/// Writes entries in one transaction, many rows per statement.
pub async fn insert_all(tx: &mut crate::Tx, entries: &[Entry]) -> Result<(), DbError> {
    let all: Vec<&Entry> = entries.iter().collect();
    let extended = "audit_log_ext (project_id, operation, operation_description, \
        operation_result, resource_type, resource, username, op_time)";
    insert_into(tx, extended, &all, true).await?;
    let legacy: Vec<&Entry> = entries.iter().filter(|e| e.legacy).collect();
    let table = "audit_log (project_id, operation, resource_type, resource, username, op_time)";
    insert_into(tx, table, &legacy, false).await
}

/// Writes `entries` into `table`; the extended log's rows also carry the
/// description and the result.
async fn insert_into(
    tx: &mut crate::Tx,
    table: &str,
    entries: &[&Entry],
    extended: bool,
) -> Result<(), DbError> {
    const ROWS: usize = 32;
    let width = if extended { 8 } else { 6 };
    for run in crate::power_of_two_runs(entries, ROWS) {
        let tuples: Vec<String> = (0..run.len())
            .map(|i| {
                let b = i * width;
                format!(
                    "(COALESCE((SELECT project_id FROM project WHERE name = ${}), 0), {})",
                    b + 1,
                    crate::placeholders(b + 2..b + width + 1)
                )
            })
            .collect();
        let sql = format!("INSERT INTO {table} VALUES {}", tuples.join(", "));
        let mut q = sqlx::query(&sql);
        for e in run {
            q = q.bind(e.project.as_deref()).bind(&e.operation);
            if extended {
                q = q.bind(&e.description).bind(i64::from(e.success));
            }
            q = q
                .bind(&e.resource_type)
                .bind(&e.resource)
                .bind(&e.username)
                .bind(e.op_time);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What audit log lists can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "operation",
        column: "l.operation",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "resource",
        column: "l.resource",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "resource_type",
        column: "l.resource_type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "username",
        column: "l.username",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "op_time",
        column: "l.op_time",
        kind: Kind::Time,
        within: None,
    },
];

/// A logged operation.
#[derive(Debug, Clone)]
pub struct Log {
    pub id: i64,
    pub project_id: i64,
    pub operation: String,
    pub resource_type: String,
    pub resource: String,
    pub username: String,
    pub op_time: i64,
    /// Extended log only.
    pub description: String,
    pub success: bool,
}

/// Which log to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Legacy,
    Extended,
}

/// One page of a log matching `query`, newest first unless sorted, limited
/// to some projects (`None`: all), with the total.
pub async fn list<'e, E>(
    ex: E,
    table: Table,
    projects: Option<&[i64]>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Log>, i64), DbError>
where
    E: Executor<'e, Database = Any> + Copy,
{
    let (name, extra) = match table {
        Table::Legacy => ("audit_log", "'', 1"),
        Table::Extended => (
            "audit_log_ext",
            "l.operation_description, l.operation_result",
        ),
    };
    // Project ids are integers the caller computed, never client text.
    let scope = match projects {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(ids) => format!(
            " AND l.project_id IN ({})",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
    };
    let (cond, args) = query.conditions(1);
    let n = args.len() + 1;
    let total: i64 = query::bind(
        sqlx::query(&format!(
            "SELECT COUNT(*) FROM {name} l WHERE 1 = 1{scope}{cond}"
        )),
        &args,
    )
    .fetch_one(ex)
    .await?
    .try_get(0)?;
    let sql = format!(
        "SELECT l.id, l.project_id, l.operation, l.resource_type, l.resource, l.username, l.op_time, {extra} \
         FROM {name} l WHERE 1 = 1{scope}{cond} {} LIMIT ${n} OFFSET ${}",
        query.order_by("l.op_time DESC, l.id DESC"),
        n + 1
    );
    let rows = query::bind(sqlx::query(&sql), &args)
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await?;
    let page = rows
        .into_iter()
        .map(|r: AnyRow| {
            Ok(Log {
                id: r.try_get(0)?,
                project_id: r.try_get(1)?,
                operation: r.try_get(2)?,
                resource_type: r.try_get(3)?,
                resource: r.try_get(4)?,
                username: r.try_get(5)?,
                op_time: r.try_get(6)?,
                description: r.try_get(7)?,
                success: r.try_get::<i64, _>(8)? == 1,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok((page, total))
}

/// Deletes entries older than `before` of the given `operation_resource`
/// event types (empty: all) from both logs; returns how many went (or would).
pub async fn purge(
    tx: &mut crate::Tx,
    before: i64,
    event_types: &[String],
    dry_run: bool,
) -> Result<i64, DbError> {
    let mut total = 0;
    for table in ["audit_log", "audit_log_ext"] {
        let mut args = vec![query::Arg::Int(before)];
        let kinds = if event_types.is_empty() {
            String::new()
        } else {
            let ps: Vec<String> = event_types
                .iter()
                .map(|t| {
                    args.push(query::Arg::Text(t.clone()));
                    format!("${}", args.len())
                })
                .collect();
            format!(
                " AND (operation || '_' || resource_type) IN ({})",
                ps.join(", ")
            )
        };
        let verb = if dry_run { "SELECT COUNT(*)" } else { "DELETE" };
        let sql = format!("{verb} FROM {table} WHERE op_time < $1{kinds}");
        if dry_run {
            let n: i64 = query::bind(sqlx::query(&sql), &args)
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
            total += n;
        } else {
            let r = query::bind(sqlx::query(&sql), &args)
                .execute(&mut **tx)
                .await?;
            total += r.rows_affected() as i64;
        }
    }
    Ok(total)
}

/// Ids of projects where a user has a role (with the role ids).
pub async fn memberships<'e>(
    ex: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT DISTINCT project_id, role FROM project_member pm WHERE ",
        crate::projects::member_is!("$1")
    ))
    .bind(user_id)
    .fetch_all(ex)
    .await?)
}
