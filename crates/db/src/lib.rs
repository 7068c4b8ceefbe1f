//! Berth's metadata database on SQLite or PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver with `$n` placeholders, which both
//! engines accept, so there is one copy of every query. The schema is one set
//! of migrations written in the common subset of both dialects, with three
//! tokens rendered per engine (see `migrate`).
//!
//! Architecture invariant: all SQL lives in this crate; callers get plain
//! row structs, never sqlx types other than the pool and transaction.

/// The condition (after `AND`) on an artifact `a` that Harbor lists as a
/// repository's artifact: an index's untagged children are shown under
/// their index, accessories (referrers, cosign signatures under their
/// subject's `sha256-<hex>.sig` tag) under their subject. A macro so that
/// constant queries can include it.
macro_rules! listed_artifact {
    () => {
        " AND (EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id) \
         OR NOT EXISTS (SELECT 1 FROM artifact_reference ar WHERE ar.child_id = a.id)) \
         AND a.subject_digest IS NULL \
         AND NOT EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND t.name LIKE 'sha256-%.sig' \
           AND EXISTS (SELECT 1 FROM artifact s WHERE s.repository_id = a.repository_id \
             AND s.digest = 'sha256:' || SUBSTR(t.name, 8, 64)))"
    };
}

pub mod adapter_scans;
pub mod allowlists;
pub mod artifacts;
pub mod audit;
pub mod backup;
pub mod blobs;
pub mod cosign_keys;
pub mod cve_exports;
pub mod findings;
pub mod immutable;
pub mod jobs;
pub mod labels;
pub mod metrics;
pub mod oidc;
pub mod projects;
pub mod properties;
pub mod query;
pub mod quotas;
pub mod registries;
pub mod replication;
pub mod repositories;
pub mod retention;
pub mod robots;
pub mod scanners;
pub mod scans;
pub mod sessions;
pub mod system_keys;
pub mod tags;
pub mod uploads;
pub mod usergroups;
pub mod users;
pub mod vulnerabilities;
pub mod webhooks;
mod writer;

pub use writer::WriteFuture;
use writer::WriterThread;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A transaction on the write pool.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;
/// A connection, as used inside a transaction.
pub type Conn = sqlx::AnyConnection;

/// Database errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database URL {0:?} is neither sqlite: nor postgres:")]
    UnsupportedUrl(String),
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unsupported(&'static str),
}

impl DbError {
    /// Whether the error is a unique-constraint violation (the row exists).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(sqlx::Error::Database(e))
            if e.kind() == sqlx::error::ErrorKind::UniqueViolation
                || e.message().contains("UNIQUE constraint failed"))
    }

    /// Whether the error is a foreign-key violation (the row is still referenced).
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            DbError::Sqlx(sqlx::Error::Database(e)) => {
                e.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
                    || e.message().contains("FOREIGN KEY constraint failed")
            }
            _ => false,
        }
    }
}

/// `$a, $a+1, …` for the bind positions in `positions` (an `IN (…)` list).
pub(crate) fn placeholders(positions: std::ops::Range<usize>) -> String {
    positions
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` rows of a multi-row `VALUES` whose shared value is `$1`: `row(i)`
/// writes the row of the item bound at `$i` (from `$2`).
pub(crate) fn value_rows(n: usize, row: impl Fn(usize) -> String) -> String {
    (2..n + 2).map(row).collect::<Vec<_>>().join(", ")
}

/// A batch's rows padded to a power of two by repeating them, so a
/// batch statement's text takes one of a few forms, each prepared once per
/// connection; preparing a statement costs more than running it. Callers
/// use it where a repeated row changes nothing (an `IN` list, an update).
pub(crate) fn padded<T>(rows: &[T]) -> Vec<&T> {
    let n = rows.len().next_power_of_two();
    rows.iter().chain(rows.iter().cycle()).take(n).collect()
}

/// A batch cut into runs of a power of two rows, the largest first, none
/// over `max` (a power of two): for multi-row inserts, which cannot repeat
/// a row to pad, the same few statement texts. Runs stay short because
/// SQLite finds each `$n` by a linear search when parsing and binding, so a
/// statement's cost grows with the square of its parameters.
pub(crate) fn power_of_two_runs<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = max.min(1 << rest.len().checked_ilog2()?);
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some(run)
    })
}

/// Which engine the database URL selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection pools: one writer and a reader pool on SQLite (WAL lets reads
/// run beside the single writer); on PostgreSQL a pool for writes and
/// transactions and one for plain reads.
#[derive(Clone, Debug)]
pub struct Db {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    /// SQLite's write-ahead log, synced before a write is acknowledged.
    wal: Option<Arc<WalSync>>,
    /// Where SQLite's write transactions run (see [`Db::write`]).
    writer: Option<Arc<WriterThread>>,
}

/// Group commit for SQLite. Commits run with `synchronous = NORMAL`: the
/// log is written but not fsynced under the single writer's lock, so a
/// commit survives a killed process but not a power loss. [`Db::sync`]
/// then fsyncs the log outside that lock, once for every caller waiting
/// at the time, so concurrent writes share one fsync instead of queueing
/// one each behind the lock (which `synchronous = FULL` would do).
#[derive(Debug)]
struct WalSync {
    path: std::path::PathBuf,
    lock: tokio::sync::Mutex<()>,
    /// Syncs begun and finished, numbered from 1.
    started: AtomicU64,
    done: AtomicU64,
}

/// Every connection's settings. Page caches stay at SQLite's default, 2 MB
/// per connection: the kernel caches the file for all of them, and 16 MB
/// each measured no faster here while holding 10 MB more at the
/// benchmark's peak.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;";

impl Db {
    /// The engine behind this database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        };
        let db = match backend {
            Backend::Sqlite => {
                let rw = sqlite_url(url, "rwc");
                // A SQLite connection is a file handle that cannot go stale:
                // pinging it before each use (sqlx's default) would cost a
                // round trip to its worker thread on every acquire.
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .test_before_acquire(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL;").await?;
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(AnyConnectOptions::from_str(&rw)?);
                // Opened on the writer's thread (see `writer`).
                let (writer, write) = WriterThread::start(write).await?;
                let read = AnyPoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect_with(AnyConnectOptions::from_str(&sqlite_url(url, "ro"))?)
                    .await?;
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&write)
                        .await?;
                let path = std::path::PathBuf::from(format!("{file}-wal"));
                // The log's directory entry, once, so the file itself survives a power loss.
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
                }
                Db {
                    write,
                    read,
                    backend,
                    wal: Some(Arc::new(WalSync {
                        path,
                        lock: tokio::sync::Mutex::new(()),
                        started: AtomicU64::new(0),
                        done: AtomicU64::new(0),
                    })),
                    writer: Some(Arc::new(writer)),
                }
            }
            // Two pools, as on SQLite: a transaction that holds a row lock
            // (a project's quota) may read a lapsed setting on the way, and
            // if it took that connection from its own pool, writers queued
            // behind its lock could hold every one of them, each waiting
            // for the other. Plain reads never wait on row locks, so the
            // read pool always frees up.
            Backend::Postgres => {
                let pool = |n| {
                    AnyPoolOptions::new()
                        .max_connections(n)
                        .acquire_timeout(Duration::from_secs(30))
                        // JIT compiling a query plan costs 100-200 ms, more
                        // than any of Berth's queries takes to run (a count
                        // over 100,000 artifacts: 35 ms run, 216 ms compile).
                        // PostgreSQL before 11 has no such setting.
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                let _ = conn.execute("SET jit = off").await;
                                Ok(())
                            })
                        })
                        .connect(url)
                };
                Db {
                    write: pool(16).await?,
                    read: pool(8).await?,
                    backend,
                    wal: None,
                    writer: None,
                }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Closes every connection (SQLite folds its log back into the file).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for single-statement writes.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction.
    #[tracing::instrument(level = "debug", name = "db.begin", skip_all)]
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(self.write.begin().await?)
    }

    /// Runs `body` in a write transaction and commits it unless it fails
    /// (then the transaction rolls back). On SQLite it runs on the writer's
    /// thread, to the end even if the caller goes away, perhaps in one
    /// transaction with others and then perhaps twice (see `writer`).
    pub async fn write<T, E, F>(&self, body: F) -> Result<T, E>
    where
        F: for<'t> Fn(&'t mut Tx) -> WriteFuture<'t, T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.write(body).await;
        }
        let mut tx = self.begin().await?;
        let out = body(&mut tx).await?;
        commit(tx).await?;
        Ok(out)
    }

    /// Makes every write committed so far durable, through a power loss
    /// too: on SQLite one fsync of the log, shared by every caller waiting
    /// at the time; nothing on PostgreSQL, whose commits are durable.
    #[tracing::instrument(level = "debug", name = "db.sync", skip_all)]
    pub async fn sync(&self) -> Result<(), DbError> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        // A sync that begins after this point covers this caller's commits.
        let needed = wal.started.load(Ordering::SeqCst) + 1;
        let _turn = wal.lock.lock().await;
        if wal.done.load(Ordering::SeqCst) >= needed {
            return Ok(());
        }
        let id = wal.started.fetch_add(1, Ordering::SeqCst) + 1;
        let path = wal.path.clone();
        tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(f) => f.sync_data(),
            // No log yet: nothing was written.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)??;
        wal.done.store(id, Ordering::SeqCst);
        Ok(())
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.read).await.is_ok()
    }

    /// Checks the database's own integrity (SQLite `integrity_check` and
    /// `foreign_key_check`; a trivial query on PostgreSQL).
    pub async fn integrity_check(&self) -> Result<Vec<String>, DbError> {
        use sqlx::Row;
        let mut problems = Vec::new();
        if self.backend == Backend::Sqlite {
            for row in sqlx::query("PRAGMA integrity_check")
                .fetch_all(&self.write)
                .await?
            {
                let line: String = row.try_get(0)?;
                if line != "ok" {
                    problems.push(line);
                }
            }
            let fk = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&self.write)
                .await?;
            if !fk.is_empty() {
                problems.push(format!("{} foreign key violations", fk.len()));
            }
        } else {
            sqlx::query("SELECT 1").fetch_one(&self.write).await?;
        }
        Ok(problems)
    }

    /// Applies pending migrations, each in its own transaction.
    async fn migrate(&self) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
            // Replicas starting together must not race on the schema.
            sqlx::query("SELECT pg_advisory_xact_lock(7362301)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS berth_migration (version BIGINT PRIMARY KEY, \
             name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM berth_migration")
            .fetch_all(&mut *tx)
            .await?;
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tracing::info!(version, name, "applying migration");
            for statement in statements(&self.render(sql)) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO berth_migration (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(*version)
            .bind(*name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        if self.backend == Backend::Postgres {
            trigram_index(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn render(&self, sql: &str) -> String {
        let (id, bytes, name) = match self.backend {
            Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "TEXT"),
            Backend::Postgres => (
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "BYTEA",
                "TEXT COLLATE \"C\"",
            ),
        };
        sql.replace("{{id}}", id)
            .replace("{{bytes}}", bytes)
            .replace("{{name}}", name)
    }
}

/// On PostgreSQL, a trigram index under fuzzy tag filters (`q=tags=~v`),
/// which otherwise read every tag of the repositories listed. It needs the
/// `pg_trgm` extension, which a server may not offer or let this user
/// create; then the filters still work, as a scan, and a later start tries
/// again. Not a migration, since a migration cannot be optional.
async fn trigram_index(tx: &mut Tx) -> Result<(), DbError> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT CAST(to_regclass('tag_name_trgm') AS TEXT)")
            .fetch_one(&mut **tx)
            .await?;
    if exists.is_some() {
        return Ok(());
    }
    sqlx::query("SAVEPOINT trigram").execute(&mut **tx).await?;
    let created = async {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .execute(&mut **tx)
            .await?;
        sqlx::query("CREATE INDEX tag_name_trgm ON tag USING gin (LOWER(name) gin_trgm_ops)")
            .execute(&mut **tx)
            .await
    }
    .await;
    match created {
        Ok(_) => sqlx::query("RELEASE SAVEPOINT trigram"),
        Err(e) => {
            tracing::warn!(error = %e, "no trigram index (pg_trgm): fuzzy tag filters will scan");
            sqlx::query("ROLLBACK TO SAVEPOINT trigram")
        }
    }
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "registry",
        include_str!("../migrations/0001_registry.sql"),
    ),
    (2, "iam", include_str!("../migrations/0002_iam.sql")),
    (
        3,
        "repository_description",
        include_str!("../migrations/0003_repository_description.sql"),
    ),
    (4, "robot", include_str!("../migrations/0004_robot.sql")),
    (5, "session", include_str!("../migrations/0005_session.sql")),
    (
        6,
        "pull_stats",
        include_str!("../migrations/0006_pull_stats.sql"),
    ),
    (
        7,
        "properties",
        include_str!("../migrations/0007_properties.sql"),
    ),
    (8, "jobs", include_str!("../migrations/0008_jobs.sql")),
    (9, "gc", include_str!("../migrations/0009_gc.sql")),
    (
        10,
        "schedule",
        include_str!("../migrations/0010_schedule.sql"),
    ),
    (11, "audit", include_str!("../migrations/0011_audit.sql")),
    (
        12,
        "webhook",
        include_str!("../migrations/0012_webhook.sql"),
    ),
    (
        13,
        "artifact_order",
        include_str!("../migrations/0013_artifact_order.sql"),
    ),
    (
        14,
        "job_outbox",
        include_str!("../migrations/0014_job_outbox.sql"),
    ),
    (
        15,
        "robot_permission_project",
        include_str!("../migrations/0015_robot_permission_project.sql"),
    ),
    (
        16,
        "artifact_attributes",
        include_str!("../migrations/0016_artifact_attributes.sql"),
    ),
    (
        17,
        "robot_level",
        include_str!("../migrations/0017_robot_level.sql"),
    ),
    (18, "scan", include_str!("../migrations/0018_scan.sql")),
    (
        19,
        "cve_allowlist",
        include_str!("../migrations/0019_cve_allowlist.sql"),
    ),
    (
        20,
        "scanner",
        include_str!("../migrations/0020_scanner.sql"),
    ),
    (
        21,
        "scan_finding",
        include_str!("../migrations/0021_scan_finding.sql"),
    ),
    (
        22,
        "cve_export",
        include_str!("../migrations/0022_cve_export.sql"),
    ),
    (
        23,
        "cosign_key",
        include_str!("../migrations/0023_cosign_key.sql"),
    ),
    (
        24,
        "vulnerability_cves",
        include_str!("../migrations/0024_vulnerability_cves.sql"),
    ),
    (
        25,
        "registry",
        include_str!("../migrations/0025_registry.sql"),
    ),
    (
        26,
        "replication_policy",
        include_str!("../migrations/0026_replication_policy.sql"),
    ),
    (
        27,
        "proxy_cache",
        include_str!("../migrations/0027_proxy_cache.sql"),
    ),
    (
        28,
        "user_group",
        include_str!("../migrations/0028_user_group.sql"),
    ),
    (
        29,
        "oidc_user",
        include_str!("../migrations/0029_oidc_user.sql"),
    ),
    (30, "label", include_str!("../migrations/0030_label.sql")),
    (
        31,
        "immutable_tag_rule",
        include_str!("../migrations/0031_immutable_tag_rule.sql"),
    ),
    (32, "quota", include_str!("../migrations/0032_quota.sql")),
    (
        33,
        "retention",
        include_str!("../migrations/0033_retention.sql"),
    ),
    (
        34,
        "blob_store",
        include_str!("../migrations/0034_blob_store.sql"),
    ),
    (
        35,
        "system_key",
        include_str!("../migrations/0035_system_key.sql"),
    ),
    (
        36,
        "list_indexes",
        include_str!("../migrations/0036_list_indexes.sql"),
    ),
    (
        37,
        "list_scale",
        include_str!("../migrations/0037_list_scale.sql"),
    ),
];

/// Splits a migration into statements; `--` comments are dropped first so
/// they may contain any text.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Adds the access mode to a SQLite URL (`rwc` writer, `ro` readers).
fn sqlite_url(url: &str, mode: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode={mode}")
}

/// Milliseconds since the Unix epoch: every timestamp column's unit.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Commits a write transaction.
#[tracing::instrument(level = "debug", name = "db.commit", skip_all)]
pub async fn commit(tx: Tx) -> Result<(), DbError> {
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn power_of_two_runs_cut_largest_first() {
        let lens = |n: usize| -> Vec<usize> {
            let rows: Vec<usize> = (0..n).collect();
            super::power_of_two_runs(&rows, 4)
                .map(<[usize]>::len)
                .collect()
        };
        assert_eq!(lens(0), Vec::<usize>::new());
        assert_eq!(lens(3), [2, 1]);
        assert_eq!(lens(13), [4, 4, 4, 1]);
    }
}
