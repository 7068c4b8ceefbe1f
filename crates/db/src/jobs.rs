//! The job service's tables: executions, their tasks (the durable queue),
//! paused job types and worker pools.
//!
//! Backend-specific SQL lives here and only here: on PostgreSQL a claim
//! skips rows other workers hold (`FOR UPDATE SKIP LOCKED`); SQLite has one
//! writer, so claims are serialized already. Enqueuing inserts an execution
//! and its task in one round trip: a data-modifying CTE on PostgreSQL, two
//! statements in one call on SQLite.
//!
//! A job that its own process starts at once (a webhook delivery) is only
//! an outbox row until its run ends: then its execution and task are
//! written once, already ended, many runs per transaction — not written
//! in the change's transaction and rewritten at the end.

use crate::{Backend, Db, DbError};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row as _};
use std::sync::Arc;

/// A task's or an execution's state (Harbor's names).
pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const SUCCESS: &str = "Success";
pub const ERROR: &str = "Error";
pub const STOPPED: &str = "Stopped";

/// An execution row.
#[derive(Debug, Clone)]
pub struct Execution {
    pub id: i64,
    pub vendor_type: String,
    pub vendor_id: i64,
    pub status: String,
    pub status_message: String,
    pub trigger: String,
    pub extra_attrs: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub update_time: i64,
}

pub(crate) const EXECUTION_COLUMNS: &str =
    "id, vendor_type, vendor_id, status, status_message, trigger_type, \
     extra_attrs, start_time, end_time, update_time";

pub(crate) fn execution_from_row(r: AnyRow) -> Result<Execution, DbError> {
    Ok(Execution {
        id: r.try_get(0)?,
        vendor_type: r.try_get(1)?,
        vendor_id: r.try_get(2)?,
        status: r.try_get(3)?,
        status_message: r.try_get(4)?,
        trigger: r.try_get(5)?,
        extra_attrs: r.try_get(6)?,
        start_time: r.try_get(7)?,
        end_time: r.try_get(8)?,
        update_time: r.try_get(9)?,
    })
}

/// A task row (without its log).
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub execution_id: i64,
    pub job_type: String,
    pub params: String,
    pub status: String,
    pub status_message: String,
    pub run_count: i64,
    pub max_runs: i64,
    pub worker: Option<String>,
    pub creation_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub update_time: i64,
}

pub(crate) const TASK_COLUMNS: &str =
    "id, execution_id, job_type, params, status, status_message, run_count, \
     max_runs, worker, creation_time, start_time, end_time, update_time";

pub(crate) fn task_from_row(r: AnyRow) -> Result<Task, DbError> {
    Ok(Task {
        id: r.try_get(0)?,
        execution_id: r.try_get(1)?,
        job_type: r.try_get(2)?,
        params: r.try_get(3)?,
        status: r.try_get(4)?,
        status_message: r.try_get(5)?,
        run_count: r.try_get(6)?,
        max_runs: r.try_get(7)?,
        worker: r.try_get(8)?,
        creation_time: r.try_get(9)?,
        start_time: r.try_get(10)?,
        end_time: r.try_get(11)?,
        update_time: r.try_get(12)?,
    })
}

/// What enqueuing a job records.
#[derive(Debug)]
pub struct NewJob<'a> {
    pub vendor_type: &'a str,
    pub vendor_id: i64,
    pub trigger: &'a str,
    pub extra_attrs: &'a str,
    pub job_type: &'a str,
    pub params: &'a str,
    pub max_runs: i64,
}

/// Records an execution with one pending task, inside the caller's
/// transaction (so the job exists exactly when the change that caused it
/// does). Returns (execution id, task id).
pub async fn enqueue(
    conn: &mut crate::Conn,
    job: &NewJob<'_>,
    now: i64,
) -> Result<(i64, i64), DbError> {
    let pending = TaskState {
        status: PENDING,
        message: "",
        run_count: 0,
        log: "",
        next_run_at: now,
        worker: None,
        lease_until: None,
        start_time: None,
        end_time: None,
    };
    insert(conn, job, &pending, now, now).await
}

/// Records a job that the caller's own process runs as soon as the
/// transaction commits: one outbox row, held until `lease_until`, instead
/// of an execution and a task that the end of the run would rewrite.
/// None when the job type's queue is paused (enqueue it as pending instead).
pub async fn enqueue_started(
    conn: &mut crate::Conn,
    job: &NewJob<'_>,
    lease_until: i64,
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO job_outbox (vendor_type, vendor_id, trigger_type, extra_attrs, job_type, \
         params, max_runs, lease_until, creation_time) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
         WHERE NOT EXISTS (SELECT 1 FROM job_queue_status WHERE job_type = $5 AND paused = 1) \
         RETURNING id",
    )
    .bind(job.vendor_type)
    .bind(job.vendor_id)
    .bind(job.trigger)
    .bind(job.extra_attrs)
    .bind(job.job_type)
    .bind(job.params)
    .bind(job.max_runs)
    .bind(lease_until)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The state an execution's one task is written in.
struct TaskState<'a> {
    status: &'a str,
    message: &'a str,
    run_count: i64,
    log: &'a str,
    next_run_at: i64,
    worker: Option<&'a str>,
    lease_until: Option<i64>,
    start_time: Option<i64>,
    end_time: Option<i64>,
}

/// Writes an execution with its one task, created at `created`, in one
/// round trip (a data-modifying CTE on PostgreSQL, two statements in one
/// call on SQLite); the execution's state follows its task's. Returns
/// (execution id, task id).
async fn insert(
    conn: &mut crate::Conn,
    job: &NewJob<'_>,
    state: &TaskState<'_>,
    created: i64,
    now: i64,
) -> Result<(i64, i64), DbError> {
    let (execution, task) = insert_values(0);
    let sql = if conn.backend_name() == "PostgreSQL" {
        format!(
            "WITH e AS ({INSERT_EXECUTION} VALUES ({execution}) RETURNING id) \
             {INSERT_TASK} SELECT e.id, {task} FROM e RETURNING id, execution_id"
        )
    } else {
        format!(
            "{INSERT_EXECUTION} VALUES ({execution}); {INSERT_TASK} SELECT e.id, {task} \
             FROM execution e WHERE e.id = last_insert_rowid() RETURNING id, execution_id"
        )
    };
    let row = bind_insert(sqlx::query(&sql), job, state, created, now)
        .fetch_all(&mut *conn)
        .await?
        .pop()
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((row.try_get(1)?, row.try_get(0)?))
}

const INSERT_EXECUTION: &str = "INSERT INTO execution (vendor_type, vendor_id, status, \
    status_message, trigger_type, extra_attrs, start_time, end_time, update_time)";
const INSERT_TASK: &str = "INSERT INTO task (execution_id, job_type, params, status, \
    status_message, run_count, max_runs, next_run_at, stop_requested, log, creation_time, \
    start_time, end_time, update_time, worker, lease_until)";
/// Parameters of one execution and its task (see [`bind_insert`]).
const INSERT_PARAMS: usize = 19;

/// The values of the `i`th execution and task a statement writes (the task's
/// after its execution id): parameters 19i+1 … 19i+19.
fn insert_values(i: usize) -> (String, String) {
    let p = |k: usize| format!("${}", i * INSERT_PARAMS + k);
    let execution = (1..=9).map(p).collect::<Vec<_>>().join(", ");
    let task = [10, 11, 3, 12, 13, 14, 15, 0, 16, 7, 17, 8, 9, 18, 19]
        .map(|k| if k == 0 { "0".to_string() } else { p(k) })
        .join(", ");
    (execution, task)
}

/// Binds the values [`insert_values`] names.
fn bind_insert<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    job: &NewJob<'q>,
    state: &TaskState<'q>,
    created: i64,
    now: i64,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    // An execution shows the message of its failed task.
    let execution_message = if state.status == ERROR {
        state.message
    } else {
        ""
    };
    q.bind(job.vendor_type)
        .bind(job.vendor_id)
        .bind(state.status)
        .bind(execution_message)
        .bind(job.trigger)
        .bind(job.extra_attrs)
        .bind(created)
        .bind(state.end_time)
        .bind(now)
        .bind(job.job_type)
        .bind(job.params)
        .bind(state.message)
        .bind(state.run_count)
        .bind(job.max_runs)
        .bind(state.next_run_at)
        .bind(state.log)
        .bind(state.start_time)
        .bind(state.worker)
        .bind(state.lease_until)
}

/// A task a worker has claimed, or a job it started from the outbox.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub row: Row,
    pub job_type: String,
    /// Shared with the running job's context, not copied.
    pub params: Arc<str>,
    pub run_count: i64,
    pub max_runs: i64,
    /// The log of its earlier runs.
    pub log: String,
}

/// Where a run's state is kept.
#[derive(Debug, Clone)]
pub enum Row {
    /// Its task (and execution).
    Task { id: i64, execution_id: i64 },
    /// Only its outbox row so far, and what its execution will say.
    Outbox { id: i64, execution: Box<Planned> },
}

/// The execution a job started from the outbox will be written as.
#[derive(Debug, Clone)]
pub struct Planned {
    pub vendor_type: String,
    pub vendor_id: i64,
    pub trigger: String,
    pub extra_attrs: String,
    /// When it was enqueued (and started).
    pub created: i64,
}

impl Claimed {
    /// The first run of a job recorded by [`enqueue_started`] as outbox row `id`.
    pub fn started(id: i64, job: &NewJob<'_>, now: i64) -> Claimed {
        Claimed {
            row: Row::Outbox {
                id,
                execution: Box::new(Planned {
                    vendor_type: job.vendor_type.to_string(),
                    vendor_id: job.vendor_id,
                    trigger: job.trigger.to_string(),
                    extra_attrs: job.extra_attrs.to_string(),
                    created: now,
                }),
            },
            job_type: job.job_type.to_string(),
            params: job.params.into(),
            run_count: 1,
            max_runs: job.max_runs,
            log: String::new(),
        }
    }

    /// The job, as enqueued.
    fn job<'a>(&'a self, planned: &'a Planned) -> NewJob<'a> {
        NewJob {
            vendor_type: &planned.vendor_type,
            vendor_id: planned.vendor_id,
            trigger: &planned.trigger,
            extra_attrs: &planned.extra_attrs,
            job_type: &self.job_type,
            params: &self.params,
            max_runs: self.max_runs,
        }
    }
}

/// Claims the oldest runnable tasks of job types that are not paused, one
/// per worker named, all in one transaction (a burst of jobs costs one
/// write, not one per job). Returns fewer when fewer are runnable.
pub async fn claim(
    db: &Db,
    workers: &[String],
    lease_until: i64,
    now: i64,
) -> Result<Vec<Claimed>, DbError> {
    let lock = match db.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE task SET status = 'Running', run_count = run_count + 1, worker = $1, lease_until = $2, \
         start_time = $3, update_time = $3, status_message = '' \
         WHERE id = (SELECT t.id FROM task t WHERE t.status = 'Pending' AND t.next_run_at <= $3 \
           AND NOT EXISTS (SELECT 1 FROM job_queue_status q WHERE q.job_type = t.job_type AND q.paused = 1) \
           ORDER BY t.next_run_at, t.id LIMIT 1 {lock}) \
         RETURNING id, execution_id, job_type, params, run_count, max_runs, log"
    );
    let mut tx = db.begin().await?;
    let mut claimed = Vec::new();
    let mut executions = Vec::new();
    for worker in workers {
        let Some(r) = sqlx::query(&sql)
            .bind(worker)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
        else {
            break;
        };
        let execution_id = r.try_get(1)?;
        executions.push(execution_id);
        claimed.push(Claimed {
            row: Row::Task {
                id: r.try_get(0)?,
                execution_id,
            },
            job_type: r.try_get(2)?,
            params: r.try_get::<String, _>(3)?.into(),
            run_count: r.try_get(4)?,
            max_runs: r.try_get(5)?,
            log: r.try_get(6)?,
        });
    }
    if !claimed.is_empty() {
        let ids = crate::placeholders(2..executions.len() + 2);
        let sql = format!(
            "UPDATE execution SET status = 'Running', update_time = $1 \
             WHERE status = 'Pending' AND id IN ({ids})"
        );
        let mut q = sqlx::query(&sql).bind(now);
        for id in &executions {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await?;
    }
    crate::commit(tx).await?;
    Ok(claimed)
}

/// Why a run ended without its worker saying so.
const LOST: &str = "the worker running it stopped";

/// Running tasks whose worker stopped renewing its lease (a crash) become
/// pending again, or fail once they have used every run; so do outbox rows
/// whose lease ran out, as tasks whose first run was lost. Returns how many.
pub async fn reclaim_expired(db: &Db, now: i64) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    let executions: Vec<i64> = sqlx::query_scalar(
        "UPDATE task SET worker = NULL, lease_until = NULL, update_time = $1, next_run_at = $1, \
         status = CASE WHEN stop_requested = 1 THEN 'Stopped' WHEN run_count >= max_runs THEN 'Error' ELSE 'Pending' END, \
         status_message = $2, \
         end_time = CASE WHEN stop_requested = 1 OR run_count >= max_runs THEN $1 ELSE NULL END \
         WHERE status = 'Running' AND lease_until < $1 RETURNING execution_id",
    )
    .bind(now)
    .bind(LOST)
    .fetch_all(&mut *tx)
    .await?;
    let mut reclaimed = executions.len() as u64;
    // A task that ends here (stopped, or out of runs) ends its execution too:
    // no worker is left to say so, and a GC left Running would refuse every
    // later one.
    refresh_executions(&mut tx, &executions, now).await?;
    let lost = sqlx::query(
        "DELETE FROM job_outbox WHERE lease_until < $1 RETURNING id, vendor_type, vendor_id, \
         trigger_type, extra_attrs, job_type, params, max_runs, creation_time",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for r in lost {
        let text = |i| r.try_get::<String, _>(i);
        let (vendor_type, trigger, extra_attrs) = (text(1)?, text(3)?, text(4)?);
        let (job_type, params) = (text(5)?, text(6)?);
        let job = NewJob {
            vendor_type: &vendor_type,
            vendor_id: r.try_get(2)?,
            trigger: &trigger,
            extra_attrs: &extra_attrs,
            job_type: &job_type,
            params: &params,
            max_runs: r.try_get(7)?,
        };
        let created: i64 = r.try_get(8)?;
        let spent = job.max_runs <= 1;
        let state = TaskState {
            status: if spent { ERROR } else { PENDING },
            message: LOST,
            run_count: 1,
            log: "",
            next_run_at: now,
            worker: None,
            lease_until: None,
            start_time: Some(created),
            end_time: spent.then_some(now),
        };
        insert(&mut tx, &job, &state, created, now).await?;
        reclaimed += 1;
    }
    crate::commit(tx).await?;
    Ok(reclaimed)
}

/// Ends executions still shown as pending or running whose tasks have all
/// ended (earlier versions did not end them when they reclaimed their last
/// task from a dead process). Returns how many.
pub async fn repair_executions(db: &Db, now: i64) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM execution WHERE status IN ('Pending', 'Running') AND NOT EXISTS \
         (SELECT 1 FROM task WHERE execution_id = execution.id AND status IN ('Pending', 'Running'))",
    )
    .fetch_all(&mut *tx)
    .await?;
    refresh_executions(&mut tx, &ids, now).await?;
    crate::commit(tx).await?;
    Ok(ids.len() as u64)
}

/// Gives a job started from the outbox its execution and task, Running
/// under `worker` until `lease_until` (a run that lasts can then be listed,
/// stopped and renewed like any other). None if its outbox row is gone:
/// its lease ran out and the job was queued again.
pub async fn promote(
    db: &Db,
    run: &Claimed,
    worker: &str,
    lease_until: i64,
    now: i64,
) -> Result<Option<(i64, i64)>, DbError> {
    let Row::Outbox { id, execution } = &run.row else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    let taken = sqlx::query("DELETE FROM job_outbox WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() == 0 {
        return Ok(None);
    }
    let running = TaskState {
        status: RUNNING,
        message: "",
        run_count: run.run_count,
        log: &run.log,
        next_run_at: execution.created,
        worker: Some(worker),
        lease_until: Some(lease_until),
        start_time: Some(execution.created),
        end_time: None,
    };
    let ids = insert(
        &mut tx,
        &run.job(execution),
        &running,
        execution.created,
        now,
    )
    .await?;
    crate::commit(tx).await?;
    Ok(Some(ids))
}

/// Writes the executions and tasks of jobs started from the outbox, in the
/// state their runs ended in, and deletes their outbox rows, a run of up to
/// 8 jobs per round trip (on SQLite each is a hand-over to the connection's
/// thread and back, which costs more than the writing). A job whose row is
/// gone was queued again when its lease ran out, and is skipped.
async fn write_started(tx: &mut crate::Tx, ends: &[&Finished]) -> Result<(), DbError> {
    let postgres = tx.backend_name() == "PostgreSQL";
    let items: Vec<_> = ends.iter().filter_map(|end| started(end)).collect();
    for run in crate::power_of_two_runs(&items, 8) {
        let n = run.len();
        let outbox = |i: usize| format!("${}", n * INSERT_PARAMS + i + 1);
        let ids = (0..n).map(outbox).collect::<Vec<_>>().join(", ");
        let delete = format!("DELETE FROM job_outbox WHERE id IN ({ids})");
        let mut parts = Vec::with_capacity(n + 1);
        for i in 0..n {
            let (execution, task) = insert_values(i);
            let o = outbox(i);
            parts.push(if postgres {
                // Only rows this statement deleted count (another process
                // may have taken one).
                format!(
                    "e{i} AS ({INSERT_EXECUTION} SELECT {execution} \
                     WHERE EXISTS (SELECT 1 FROM o WHERE o.id = {o}) RETURNING id), \
                     t{i} AS ({INSERT_TASK} SELECT e{i}.id, {task} FROM e{i})"
                )
            } else {
                // One writer: the rows cannot go between these statements.
                let held = format!("EXISTS (SELECT 1 FROM job_outbox WHERE id = {o})");
                format!(
                    "{INSERT_EXECUTION} SELECT {execution} WHERE {held}; \
                     {INSERT_TASK} SELECT e.id, {task} FROM execution e \
                     WHERE e.id = last_insert_rowid() AND {held}"
                )
            });
        }
        let sql = if postgres {
            format!(
                "WITH o AS ({delete} RETURNING id), {} SELECT 1",
                parts.join(", ")
            )
        } else {
            parts.push(delete);
            parts.join("; ")
        };
        let mut q = sqlx::query(&sql);
        for w in run {
            q = bind_insert(q, &w.job, &w.state, w.created, w.now);
        }
        for w in run {
            q = q.bind(w.outbox_id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What is written for a job started from the outbox when its run ended.
struct Started<'a> {
    outbox_id: i64,
    job: NewJob<'a>,
    state: TaskState<'a>,
    created: i64,
    now: i64,
}

/// The rows a run's end writes; None for a claimed task.
fn started(end: &Finished) -> Option<Started<'_>> {
    let Row::Outbox { id, execution } = &end.run.row else {
        return None;
    };
    let state = TaskState {
        status: end.status,
        message: &end.message,
        run_count: end.run.run_count,
        log: &end.run.log,
        next_run_at: end.next_run_at,
        worker: None,
        lease_until: None,
        start_time: Some(execution.created),
        end_time: (end.status != PENDING).then_some(end.now),
    };
    Some(Started {
        outbox_id: *id,
        job: end.run.job(execution),
        state,
        created: execution.created,
        now: end.now,
    })
}

/// Renews a lease and saves the log so far; returns whether a stop was
/// requested, or None if the worker no longer holds the task.
pub async fn heartbeat<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    worker: &str,
    lease_until: i64,
    log: &str,
    now: i64,
) -> Result<Option<bool>, DbError> {
    let row = sqlx::query(
        "UPDATE task SET lease_until = $3, log = $4, update_time = $5 \
         WHERE id = $1 AND worker = $2 AND status = 'Running' RETURNING stop_requested",
    )
    .bind(id)
    .bind(worker)
    .bind(lease_until)
    .bind(log)
    .bind(now)
    .fetch_optional(ex)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<i64, _>(0)? == 1),
        None => None,
    })
}

/// How a run ended: `status` is final, or Pending again (a retry at
/// `next_run_at`); the run's log is its whole log now.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: Claimed,
    pub worker: String,
    pub status: &'static str,
    pub message: String,
    pub next_run_at: i64,
    pub now: i64,
}

/// Records the ends of runs, all in one transaction: claimed tasks are
/// updated; jobs started from the outbox get their execution and task
/// written in that state and their outbox row deleted.
pub async fn finish(db: &Db, runs: &[Finished]) -> Result<(), DbError> {
    let Some(now) = runs.iter().map(|f| f.now).max() else {
        return Ok(());
    };
    let (mut tasks, mut started) = (Vec::new(), Vec::new());
    for f in runs {
        match f.run.row {
            Row::Task { id, .. } => tasks.push((id, f)),
            Row::Outbox { .. } => started.push(f),
        }
    }
    let mut tx = db.begin().await?;
    let mut executions = Vec::with_capacity(tasks.len());
    // 7 values a run; short chunks keep binding cheap (see power_of_two_runs).
    for chunk in tasks.chunks(32) {
        let rows = crate::padded(chunk);
        let values = (0..rows.len())
            .map(|i| format!("({})", crate::placeholders(i * 7 + 1..i * 7 + 8)))
            .collect::<Vec<_>>()
            .join(", ");
        // VALUES columns are column1… on both engines. A repeated row
        // updates its task once and returns it once.
        let sql = format!(
            "UPDATE task SET status = v.column3, status_message = v.column4, log = v.column5, \
             next_run_at = v.column6, worker = NULL, lease_until = NULL, update_time = v.column7, \
             end_time = CASE WHEN v.column3 = 'Pending' THEN NULL ELSE v.column7 END \
             FROM (VALUES {values}) AS v \
             WHERE task.id = v.column1 AND task.worker = v.column2 RETURNING task.execution_id"
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for (id, f) in rows {
            q = q
                .bind(id)
                .bind(&f.worker)
                .bind(f.status)
                .bind(&f.message)
                .bind(&f.run.log)
                .bind(f.next_run_at)
                .bind(f.now);
        }
        executions.extend(q.fetch_all(&mut *tx).await?);
    }
    refresh_executions(&mut tx, &executions, now).await?;
    write_started(&mut tx, &started).await?;
    crate::commit(tx).await?;
    Ok(())
}

/// Sets each execution's status, message and end from its tasks.
pub async fn refresh_executions(tx: &mut crate::Tx, ids: &[i64], now: i64) -> Result<(), DbError> {
    // Short chunks keep binding cheap (see power_of_two_runs).
    for chunk in ids.chunks(64) {
        refresh_chunk(tx, chunk, now).await?;
    }
    Ok(())
}

async fn refresh_chunk(tx: &mut crate::Tx, ids: &[i64], now: i64) -> Result<(), DbError> {
    let rows = crate::padded(ids);
    let list = crate::placeholders(2..rows.len() + 2);
    const OF: &str = "SELECT 1 FROM task WHERE execution_id = execution.id";
    let sql = format!(
        "UPDATE execution SET status = CASE \
           WHEN EXISTS ({OF} AND status = 'Running') THEN 'Running' \
           WHEN EXISTS ({OF} AND status = 'Pending') THEN \
             CASE WHEN EXISTS ({OF} AND status <> 'Pending') THEN 'Running' ELSE 'Pending' END \
           WHEN EXISTS ({OF} AND status = 'Error') THEN 'Error' \
           WHEN EXISTS ({OF} AND status = 'Stopped') THEN 'Stopped' \
           ELSE 'Success' END, \
         status_message = COALESCE((SELECT status_message FROM task WHERE execution_id = execution.id \
           AND status = 'Error' AND status_message <> '' ORDER BY id LIMIT 1), ''), \
         update_time = $1, \
         end_time = CASE WHEN EXISTS ({OF} AND status IN ('Running', 'Pending')) THEN NULL ELSE $1 END \
         WHERE id IN ({list})"
    );
    let mut q = sqlx::query(&sql).bind(now);
    for id in rows {
        q = q.bind(id);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Asks a task to stop: a pending one stops at once, a running one when
/// its worker next checks in. False if it had already ended.
pub async fn request_stop(db: &Db, id: i64, now: i64) -> Result<Option<bool>, DbError> {
    let mut tx = db.begin().await?;
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT execution_id, status FROM task WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((execution_id, status)) = row else {
        return Ok(None);
    };
    let stopping = match status.as_str() {
        PENDING => {
            sqlx::query(
                "UPDATE task SET status = 'Stopped', stop_requested = 1, end_time = $2, update_time = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            refresh_executions(&mut tx, &[execution_id], now).await?;
            true
        }
        RUNNING => {
            sqlx::query("UPDATE task SET stop_requested = 1, update_time = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            true
        }
        _ => false,
    };
    crate::commit(tx).await?;
    Ok(Some(stopping))
}

/// A task's log.
pub async fn task_log<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT log FROM task WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?)
}

/// An execution's tasks.
pub async fn tasks_of<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
) -> Result<Vec<Task>, DbError> {
    sqlx::query(&format!(
        "SELECT {TASK_COLUMNS} FROM task WHERE execution_id = $1 ORDER BY id"
    ))
    .bind(execution_id)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(task_from_row)
    .collect()
}

/// One execution.
pub async fn execution<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Execution>, DbError> {
    sqlx::query(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM execution WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .map(execution_from_row)
    .transpose()
}

/// One page of a vendor's executions (of one vendor id, if given), newest
/// first, with the total.
pub async fn executions(
    db: &Db,
    vendor_type: &str,
    vendor_id: Option<i64>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Execution>, i64), DbError> {
    const WHERE: &str = "WHERE vendor_type = $1 AND ($2 IS NULL OR vendor_id = $2)";
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM execution {WHERE}"))
        .bind(vendor_type)
        .bind(vendor_id)
        .fetch_one(db.reader())
        .await?;
    let page = sqlx::query(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM execution {WHERE} ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(vendor_type)
    .bind(vendor_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db.reader())
    .await?
    .into_iter()
    .map(execution_from_row)
    .collect::<Result<_, _>>()?;
    Ok((page, total))
}

/// Keeps the newest `keep` finished executions of every vendor (type and
/// id: each GC, each webhook policy); returns how many went.
pub async fn sweep(db: &Db, keep: i64) -> Result<u64, DbError> {
    // Ranked in one pass, deleted a batch per statement: SQLite's one
    // writer is never held for long, however much history piled up.
    const BATCH: u64 = 1000;
    let mut total = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM execution WHERE id IN (SELECT id FROM (SELECT id, end_time, \
             ROW_NUMBER() OVER (PARTITION BY vendor_type, vendor_id ORDER BY id DESC) AS pos \
             FROM execution) AS ranked WHERE end_time IS NOT NULL AND pos > $1 LIMIT $2)",
        )
        .bind(keep)
        .bind(BATCH as i64)
        .execute(db.writer())
        .await?
        .rows_affected();
        total += deleted;
        if deleted < BATCH {
            return Ok(total);
        }
    }
}

/// A queue: pending tasks of one job type.
#[derive(Debug, Clone)]
pub struct Queue {
    pub job_type: String,
    pub count: i64,
    /// Milliseconds the oldest pending task has waited.
    pub latency: i64,
    pub paused: bool,
}

/// Every job type that has pending tasks or a pause flag.
pub async fn queues<'e>(
    ex: impl Executor<'e, Database = Any>,
    now: i64,
) -> Result<Vec<Queue>, DbError> {
    let rows = sqlx::query(
        "SELECT k.job_type, \
           (SELECT COUNT(*) FROM task t WHERE t.job_type = k.job_type AND t.status = 'Pending'), \
           COALESCE((SELECT $1 - MIN(t.creation_time) FROM task t WHERE t.job_type = k.job_type AND t.status = 'Pending'), 0), \
           COALESCE((SELECT q.paused FROM job_queue_status q WHERE q.job_type = k.job_type), 0) \
         FROM (SELECT job_type FROM task WHERE status = 'Pending' UNION SELECT job_type FROM job_queue_status) k \
         ORDER BY k.job_type",
    )
    .bind(now)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Queue {
                job_type: r.try_get(0)?,
                count: r.try_get(1)?,
                latency: r.try_get(2)?,
                paused: r.try_get::<i64, _>(3)? == 1,
            })
        })
        .collect()
}

/// Pauses or resumes a job type (`None`: every type known to the queue).
pub async fn set_paused(db: &Db, job_type: &str, paused: bool, now: i64) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO job_queue_status (job_type, paused, update_time) VALUES ($1, $2, $3) \
         ON CONFLICT (job_type) DO UPDATE SET paused = excluded.paused, update_time = excluded.update_time",
    )
    .bind(job_type)
    .bind(i64::from(paused))
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Stops every pending task of a job type and asks its running ones to stop.
pub async fn stop_queue(db: &Db, job_type: &str, now: i64) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    let executions: Vec<i64> = sqlx::query_scalar(
        "UPDATE task SET status = CASE WHEN status = 'Pending' THEN 'Stopped' ELSE status END, \
         end_time = CASE WHEN status = 'Pending' THEN $2 ELSE end_time END, stop_requested = 1, update_time = $2 \
         WHERE job_type = $1 AND status IN ('Pending', 'Running') RETURNING execution_id",
    )
    .bind(job_type)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    refresh_executions(&mut tx, &executions, now).await?;
    crate::commit(tx).await?;
    Ok(())
}

/// Every job type with a pause flag or tasks.
pub async fn job_types<'e>(ex: impl Executor<'e, Database = Any>) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT job_type FROM task UNION SELECT job_type FROM job_queue_status ORDER BY 1",
    )
    .fetch_all(ex)
    .await?)
}

/// A worker pool (one per Berth process).
#[derive(Debug, Clone)]
pub struct Pool {
    pub id: String,
    pub pid: i64,
    pub host: String,
    pub concurrency: i64,
    pub start_at: i64,
    pub heartbeat_at: i64,
}

/// Records that a pool is alive.
pub async fn pool_heartbeat<'e>(
    ex: impl Executor<'e, Database = Any>,
    p: &Pool,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO worker_pool (id, pid, host, concurrency, start_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(&p.id)
    .bind(p.pid)
    .bind(&p.host)
    .bind(p.concurrency)
    .bind(p.start_at)
    .bind(p.heartbeat_at)
    .execute(ex)
    .await?;
    Ok(())
}

/// Pools that checked in since `since`; older rows are dropped.
pub async fn live_pools(db: &Db, since: i64) -> Result<Vec<Pool>, DbError> {
    sqlx::query("DELETE FROM worker_pool WHERE heartbeat_at < $1")
        .bind(since)
        .execute(db.writer())
        .await?;
    let rows = sqlx::query(
        "SELECT id, pid, host, concurrency, start_at, heartbeat_at FROM worker_pool ORDER BY start_at, id",
    )
    .fetch_all(db.reader())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Pool {
                id: r.try_get(0)?,
                pid: r.try_get(1)?,
                host: r.try_get(2)?,
                concurrency: r.try_get(3)?,
                start_at: r.try_get(4)?,
                heartbeat_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Tasks running in a pool (their worker ids start with the pool's id).
pub async fn running_in<'e>(
    ex: impl Executor<'e, Database = Any>,
    pool_id: &str,
) -> Result<Vec<Task>, DbError> {
    sqlx::query(&format!(
        "SELECT {TASK_COLUMNS} FROM task WHERE status = 'Running' AND worker LIKE $1 ORDER BY id"
    ))
    .bind(format!("{pool_id}:%"))
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(task_from_row)
    .collect()
}

/// Records what an execution produced (JSON).
pub async fn set_extra_attrs<'e>(
    ex: impl Executor<'e, Database = Any>,
    execution_id: i64,
    attrs: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE execution SET extra_attrs = $2 WHERE id = $1")
        .bind(execution_id)
        .bind(attrs)
        .execute(ex)
        .await?;
    Ok(())
}

/// Whether a vendor (type and id) has an execution that has not ended.
pub async fn has_active<'e>(
    ex: impl Executor<'e, Database = Any>,
    vendor_type: &str,
    vendor_id: i64,
) -> Result<bool, DbError> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM execution WHERE vendor_type = $1 AND vendor_id = $2 \
         AND status IN ('Pending', 'Running') \
         UNION ALL SELECT 1 FROM job_outbox WHERE vendor_type = $1 AND vendor_id = $2 LIMIT 1",
    )
    .bind(vendor_type)
    .bind(vendor_id)
    .fetch_optional(ex)
    .await?;
    Ok(n.is_some())
}

/// Adds pending tasks of `job_type`, one per parameters, to an execution
/// (a run that plans its own work: each task is one piece of it).
pub async fn add_tasks(
    conn: &mut crate::Conn,
    execution_id: i64,
    job_type: &str,
    params: &[String],
    max_runs: i64,
    now: i64,
) -> Result<(), DbError> {
    for p in params {
        sqlx::query(
            "INSERT INTO task (execution_id, job_type, params, status, status_message, run_count, \
             max_runs, next_run_at, stop_requested, log, creation_time, update_time) \
             VALUES ($1, $2, $3, 'Pending', '', 0, $4, $5, 0, '', $5, $5)",
        )
        .bind(execution_id)
        .bind(job_type)
        .bind(p)
        .bind(max_runs)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records a run that was skipped: an execution ended in error at once,
/// with no task. Returns its id.
pub async fn record_skipped<'e>(
    ex: impl Executor<'e, Database = Any>,
    vendor_type: &str,
    vendor_id: i64,
    trigger: &str,
    message: &str,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(&format!(
        "{INSERT_EXECUTION} VALUES ($1, $2, 'Error', $3, $4, '{{}}', $5, $5, $5) RETURNING id"
    ))
    .bind(vendor_type)
    .bind(vendor_id)
    .bind(message)
    .bind(trigger)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// A schedule row.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: i64,
    pub vendor_type: String,
    pub vendor_id: i64,
    pub cron_type: String,
    pub cron: String,
    pub params: String,
    pub next_run_at: i64,
    pub update_time: i64,
}

const SCHEDULE_COLUMNS: &str =
    "id, vendor_type, vendor_id, cron_type, cron, params, next_run_at, update_time";

fn schedule_from_row(r: AnyRow) -> Result<Schedule, DbError> {
    Ok(Schedule {
        id: r.try_get(0)?,
        vendor_type: r.try_get(1)?,
        vendor_id: r.try_get(2)?,
        cron_type: r.try_get(3)?,
        cron: r.try_get(4)?,
        params: r.try_get(5)?,
        next_run_at: r.try_get(6)?,
        update_time: r.try_get(7)?,
    })
}

/// Creates or replaces a vendor's schedule.
#[allow(clippy::too_many_arguments)]
pub async fn set_schedule<'e>(
    ex: impl Executor<'e, Database = Any>,
    vendor_type: &str,
    vendor_id: i64,
    cron_type: &str,
    cron: &str,
    params: &str,
    next_run_at: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO schedule (vendor_type, vendor_id, cron_type, cron, params, next_run_at, creation_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (vendor_type, vendor_id) DO UPDATE SET \
         cron_type = excluded.cron_type, cron = excluded.cron, params = excluded.params, \
         next_run_at = excluded.next_run_at, update_time = excluded.update_time",
    )
    .bind(vendor_type)
    .bind(vendor_id)
    .bind(cron_type)
    .bind(cron)
    .bind(params)
    .bind(next_run_at)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes a vendor's schedule.
pub async fn delete_schedule<'e>(
    ex: impl Executor<'e, Database = Any>,
    vendor_type: &str,
    vendor_id: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM schedule WHERE vendor_type = $1 AND vendor_id = $2")
        .bind(vendor_type)
        .bind(vendor_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// A vendor's schedule.
pub async fn schedule<'e>(
    ex: impl Executor<'e, Database = Any>,
    vendor_type: &str,
    vendor_id: i64,
) -> Result<Option<Schedule>, DbError> {
    sqlx::query(&format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE vendor_type = $1 AND vendor_id = $2"
    ))
    .bind(vendor_type)
    .bind(vendor_id)
    .fetch_optional(ex)
    .await?
    .map(schedule_from_row)
    .transpose()
}

/// Every schedule (`due_by`: only those due by then).
pub async fn schedules<'e>(
    ex: impl Executor<'e, Database = Any>,
    due_by: Option<i64>,
) -> Result<Vec<Schedule>, DbError> {
    sqlx::query(&format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE ($1 IS NULL OR next_run_at <= $1) ORDER BY id"
    ))
    .bind(due_by)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(schedule_from_row)
    .collect()
}

/// Moves a schedule to its next period if nobody else did; true if this caller won.
pub async fn advance_schedule(
    conn: &mut crate::Conn,
    id: i64,
    expected: i64,
    next: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE schedule SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2")
        .bind(id)
        .bind(expected)
        .bind(next)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
