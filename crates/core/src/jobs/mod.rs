//! The job service inside Berth: a durable queue in the database, a pool of
//! workers per process, retries with backoff, stop, bounded per-task logs.
//!
//! A task is claimed with a lease that its worker renews while it runs; a
//! task whose lease runs out (its process was killed) is queued again by
//! whichever process notices first, so work survives crashes and several
//! Berth processes can share one database.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::require;
use crate::iam::rbac::{Action, Resource};
use berth_db::jobs::{self, NewJob, Row, Task};
/// A run of a job as the API shows it.
pub use berth_db::jobs::{Execution, Pool, Queue, Schedule};
use berth_db::{now_millis, Db};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

mod cron;
mod runner;
mod vendor;

pub use cron::{cron_for, next_after};
pub use runner::PROMOTE_AFTER;
pub use vendor::Vendor;

/// What a job's code returns: Err(message) fails the run (retried while runs remain).
pub type JobResult = Result<(), String>;

/// A job type's code.
pub type Handler =
    Arc<dyn Fn(JobContext) -> Pin<Box<dyn Future<Output = JobResult> + Send>> + Send + Sync>;

/// Logs are kept to this many bytes per task (the newest part survives).
const MAX_LOG: usize = 256 * 1024;

/// What a running job sees.
#[derive(Clone)]
pub struct JobContext {
    /// (task id, execution id): a job started from the outbox has them
    /// only once its run outlasts [`PROMOTE_AFTER`].
    ids: Arc<OnceLock<(i64, i64)>>,
    /// The job's parameters (JSON), as enqueued.
    params: Arc<str>,
    /// Which run this is, from 1.
    pub run: i64,
    log: Arc<Mutex<String>>,
    stop: watch::Receiver<bool>,
}

impl JobContext {
    /// Appends a line to the task's log.
    pub fn log(&self, line: impl AsRef<str>) {
        let mut log = crate::lock(&self.log);
        let stamp = crate::timestamp(now_millis());
        log.push_str(&format!("{stamp} {}\n", line.as_ref()));
        if log.len() > MAX_LOG {
            let cut = log.len() - MAX_LOG / 2;
            let cut = (cut..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(log.len());
            log.replace_range(..cut, "[… earlier lines dropped …]\n");
        }
    }

    /// The job's parameters, read as its code expects them.
    pub fn params<'a, P: serde::Deserialize<'a>>(&'a self) -> Result<P, String> {
        serde_json::from_str(&self.params).map_err(|e| format!("bad parameters: {e}"))
    }

    /// The run's execution, once it has one (see [`Enqueued::add`]).
    pub fn execution_id(&self) -> Option<i64> {
        self.ids.get().map(|ids| ids.1)
    }

    /// The run's task, once it has one (see [`Enqueued::add`]).
    pub fn task_id(&self) -> Option<i64> {
        self.ids.get().map(|ids| ids.0)
    }

    /// Whether the job was asked to stop (long jobs check between steps).
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn snapshot(&self) -> String {
        crate::lock(&self.log).clone()
    }
}

/// Settings of the worker pool.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// Workers in this process.
    pub workers: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
}

/// Why a running task ends early.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    None,
    /// Someone asked it to stop.
    Stop,
    /// This process is shutting down: the task runs again later.
    Shutdown,
}

/// A run in progress in this process.
struct Running {
    /// Its task, once it has one.
    task: Option<i64>,
    job_type: String,
    interrupt: watch::Sender<Interrupt>,
}

struct Inner {
    db: Db,
    settings: JobSettings,
    handlers: Mutex<HashMap<String, Handler>>,
    /// Wakes the dispatcher: a job was committed or a worker became free.
    wake: Notify,
    /// Pending tasks may be waiting for a worker. A freed worker wakes the
    /// dispatcher only then: each claim is a write transaction, and one that
    /// finds nothing would cost as much as the job the worker just ran.
    backlog: AtomicBool,
    /// Worker numbers not running a task.
    idle: Mutex<Vec<usize>>,
    /// Ends of runs, written by one recorder many at a time.
    finished: mpsc::UnboundedSender<jobs::Finished>,
    finished_rx: Mutex<Option<mpsc::UnboundedReceiver<jobs::Finished>>>,
    /// Ends of runs sent to the recorder and not yet written (shutdown
    /// waits for them).
    unrecorded: AtomicUsize,
    pool: Pool,
    /// Runs in progress in this process, by a number of their own, to stop
    /// them without waiting for a heartbeat.
    running: Mutex<HashMap<u64, Running>>,
    next_run: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// When the housekeeping loop last went round (0: not started).
    last_round: AtomicI64,
}

/// The job service.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

impl Jobs {
    /// The service; no worker runs until [`Jobs::start`].
    pub fn new(db: Db, settings: JobSettings) -> Self {
        let now = now_millis();
        let pool = Pool {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            pid: i64::from(std::process::id()),
            host: hostname(),
            concurrency: settings.workers as i64,
            start_at: now,
            heartbeat_at: now,
        };
        let (finished, finished_rx) = mpsc::unbounded_channel();
        Jobs {
            inner: Arc::new(Inner {
                db,
                settings,
                handlers: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                backlog: AtomicBool::new(true),
                idle: Mutex::new((0..settings.workers).rev().collect()),
                finished,
                finished_rx: Mutex::new(Some(finished_rx)),
                unrecorded: AtomicUsize::new(0),
                pool,
                running: Mutex::new(HashMap::new()),
                next_run: AtomicU64::new(0),
                shutdown: watch::channel(false).0,
                last_round: AtomicI64::new(0),
            }),
        }
    }

    /// Registers the code of a job type.
    pub fn register<F, Fut>(&self, job_type: &str, f: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx| Box::pin(f(ctx)));
        crate::lock(&self.inner.handlers).insert(job_type.to_string(), handler);
    }

    /// Registers the handler of `job_type` as `f` run on a shared `target`
    /// (a service's state).
    pub fn register_on<T, F, Fut>(&self, job_type: &str, target: Arc<T>, f: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        self.register(job_type, move |ctx| f(target.clone(), ctx));
    }

    /// Starts the dispatcher, the recorder and the housekeeping loop.
    pub fn start(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.dispatch().await });
        if let Some(rx) = crate::lock(&self.inner.finished_rx).take() {
            let inner = self.inner.clone();
            tokio::spawn(async move { inner.record(rx).await });
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match jobs::repair_executions(&inner.db, now_millis()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(executions = n, "ended runs whose tasks had all ended"),
                Err(e) => tracing::warn!(error = %e, "ending runs whose tasks had all ended"),
            }
            inner.housekeeping().await
        });
    }

    /// Whether the service goes round: its housekeeping loop (schedules,
    /// requeues, the pool's heartbeat) ran within the last 15 seconds.
    pub fn alive(&self) -> Result<(), String> {
        let last = self.inner.last_round.load(Ordering::Relaxed);
        let ago = now_millis() - last;
        match last {
            0 => Err("the job service has not started".into()),
            _ if ago > 15_000 => Err(format!(
                "the job service last went round {}s ago",
                ago / 1000
            )),
            _ => Ok(()),
        }
    }

    /// Stops claiming; running tasks are interrupted and will run again.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        for run in crate::lock(&self.inner.running).values() {
            run.interrupt.send_replace(Interrupt::Shutdown);
        }
        for _ in 0..100 {
            if crate::lock(&self.inner.running).is_empty()
                && self.inner.unrecorded.load(Ordering::SeqCst) == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Tells the dispatcher that tasks may be pending (a burst of wakes
    /// becomes one claim of everything pending).
    pub fn wake(&self) {
        self.inner.more();
    }

    /// Enqueues a job in its own transaction; returns its execution id.
    pub async fn enqueue(&self, job: &NewJob<'_>) -> CoreResult<i64> {
        let mut tx = self.inner.db.begin().await?;
        let (execution, _) = jobs::enqueue(&mut tx, job, now_millis()).await?;
        berth_db::commit(tx).await?;
        self.inner.more();
        Ok(execution)
    }

    /// Nothing yet: jobs to add in a caller's transaction (see [`Enqueued`]).
    pub fn batch(&self) -> Enqueued {
        Enqueued {
            inner: self.inner.clone(),
            held: Vec::new(),
            pending: false,
        }
    }

    /// Asks a task to stop (jobservice-monitor stop).
    pub async fn stop(&self, ctx: &SecurityContext, task_id: i64) -> CoreResult<()> {
        require(ctx, Action::Stop, Resource::System("jobservice-monitor")).await?;
        self.stop_task(task_id).await
    }

    /// Stops a task without a permission check (the caller checked its own).
    pub async fn stop_task(&self, task_id: i64) -> CoreResult<()> {
        match jobs::request_stop(&self.inner.db, task_id, now_millis()).await? {
            None => Err(CoreError::NotFound(format!("job {task_id} not found"))),
            Some(false) => Err(CoreError::Precondition(format!(
                "job {task_id} has already ended"
            ))),
            Some(true) => {
                for run in crate::lock(&self.inner.running).values() {
                    if run.task == Some(task_id) {
                        run.interrupt.send_replace(Interrupt::Stop);
                    }
                }
                Ok(())
            }
        }
    }

    /// Stops every task of an execution that has not ended, without a
    /// permission check (the caller checked its own).
    pub async fn stop_execution(&self, execution_id: i64) -> CoreResult<()> {
        for t in jobs::tasks_of(self.inner.db.reader(), execution_id).await? {
            if t.end_time.is_none() {
                match self.stop_task(t.id).await {
                    Ok(()) | Err(CoreError::Precondition(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// A task's log.
    pub async fn log(&self, ctx: &SecurityContext, task_id: i64) -> CoreResult<String> {
        require(ctx, Action::List, Resource::System("jobservice-monitor")).await?;
        self.task_log(task_id).await
    }

    /// A task's log, without a permission check (the caller checked its own).
    pub async fn task_log(&self, task_id: i64) -> CoreResult<String> {
        jobs::task_log(self.inner.db.reader(), task_id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("job {task_id} not found")))
    }

    /// The queues: pending tasks per job type.
    pub async fn queues(&self, ctx: &SecurityContext) -> CoreResult<Vec<Queue>> {
        require(ctx, Action::List, Resource::System("jobservice-monitor")).await?;
        Ok(jobs::queues(self.inner.db.reader(), now_millis()).await?)
    }

    /// Pauses, resumes or stops a job type's queue (`all`: every known type).
    pub async fn act_on_queue(
        &self,
        ctx: &SecurityContext,
        job_type: &str,
        action: &str,
    ) -> CoreResult<()> {
        require(ctx, Action::Stop, Resource::System("jobservice-monitor")).await?;
        let types = if job_type.eq_ignore_ascii_case("all") {
            jobs::job_types(self.inner.db.reader()).await?
        } else {
            vec![job_type.to_string()]
        };
        let now = now_millis();
        for t in &types {
            match action {
                "pause" => jobs::set_paused(&self.inner.db, t, true, now).await?,
                "resume" => jobs::set_paused(&self.inner.db, t, false, now).await?,
                "stop" => jobs::stop_queue(&self.inner.db, t, now).await?,
                other => {
                    return Err(CoreError::BadRequest(format!(
                        "action must be stop, pause or resume, not {other:?}"
                    )))
                }
            }
        }
        if action == "stop" {
            for run in crate::lock(&self.inner.running).values() {
                if types.contains(&run.job_type) {
                    run.interrupt.send_replace(Interrupt::Stop);
                }
            }
        }
        self.wake();
        Ok(())
    }

    /// The live worker pools (one per Berth process on this database).
    pub async fn pools(&self, ctx: &SecurityContext) -> CoreResult<Vec<Pool>> {
        require(ctx, Action::List, Resource::System("jobservice-monitor")).await?;
        let since = now_millis() - 3 * POOL_HEARTBEAT.as_millis() as i64;
        Ok(jobs::live_pools(&self.inner.db, since).await?)
    }

    /// The pools named (`all` for every live pool), each with the tasks its
    /// workers are running.
    pub async fn workers(
        &self,
        ctx: &SecurityContext,
        pool_id: &str,
    ) -> CoreResult<Vec<(Pool, Vec<Task>)>> {
        let pools: Vec<Pool> = self
            .pools(ctx)
            .await?
            .into_iter()
            .filter(|p| pool_id == "all" || p.id == pool_id)
            .collect();
        if pools.is_empty() && pool_id != "all" {
            return Err(CoreError::NotFound(format!(
                "worker pool {pool_id} not found"
            )));
        }
        let mut out = Vec::new();
        for pool in pools {
            let running = jobs::running_in(self.inner.db.reader(), &pool.id).await?;
            out.push((pool, running));
        }
        Ok(out)
    }
}

impl Jobs {
    /// Sets when a vendor's job runs: `Hourly`, `Daily`, `Weekly`, `Custom`
    /// (a 6-field cron with seconds), or `None` to stop running it.
    pub async fn set_schedule(
        &self,
        vendor_type: &str,
        cron_type: &str,
        cron: Option<&str>,
        params: &str,
    ) -> CoreResult<()> {
        self.set_schedule_of(vendor_type, -1, cron_type, cron, params)
            .await
    }

    /// Sets when one vendor's job runs (a replication rule's, say: its
    /// vendor id); as [`Jobs::set_schedule`]. The job is the vendor type's.
    pub async fn set_schedule_of(
        &self,
        vendor_type: &str,
        vendor_id: i64,
        cron_type: &str,
        cron: Option<&str>,
        params: &str,
    ) -> CoreResult<()> {
        let now = now_millis();
        if cron_type == "None" {
            jobs::delete_schedule(self.inner.db.writer(), vendor_type, vendor_id).await?;
            return Ok(());
        }
        let cron = cron_for(cron_type, cron)?;
        let next = next_after(&cron, now)?;
        jobs::set_schedule(
            self.inner.db.writer(),
            vendor_type,
            vendor_id,
            cron_type,
            &cron,
            params,
            next,
            now,
        )
        .await?;
        Ok(())
    }

    /// A vendor's schedule, if it has one.
    pub async fn schedule_of(&self, vendor_type: &str) -> CoreResult<Option<Schedule>> {
        Ok(jobs::schedule(self.inner.db.reader(), vendor_type, -1).await?)
    }

    /// Every schedule.
    pub async fn schedules(&self, ctx: &SecurityContext) -> CoreResult<Vec<Schedule>> {
        require(ctx, Action::List, Resource::System("jobservice-monitor")).await?;
        Ok(jobs::schedules(self.inner.db.reader(), None).await?)
    }

    /// Whether a job type's queue is paused.
    pub async fn paused(&self, ctx: &SecurityContext, job_type: &str) -> CoreResult<bool> {
        let queues = self.queues(ctx).await?;
        Ok(queues.iter().any(|q| q.job_type == job_type && q.paused))
    }
}

/// Jobs enqueued in a transaction that has not committed yet. An idle
/// worker of this process takes each on at once, so it starts as soon as
/// [`Enqueued::start`] is called after the commit, without a claim; such a
/// job is only an outbox row until its run ends or outlasts
/// [`PROMOTE_AFTER`], so it costs one write in the transaction and a share
/// of a batch afterwards. Jobs no worker is free for are pending tasks.
#[must_use = "start the jobs once the transaction has committed"]
pub struct Enqueued {
    inner: Arc<Inner>,
    /// Jobs idle workers of this process hold.
    held: Vec<(Worker, jobs::Claimed)>,
    /// Some job was left for the dispatcher.
    pending: bool,
}

impl Enqueued {
    /// Adds another job to the same transaction.
    pub async fn add(
        &mut self,
        tx: &mut berth_db::Tx,
        job: &NewJob<'_>,
        now: i64,
    ) -> Result<(), berth_db::DbError> {
        if let Some(worker) = Worker::take(&self.inner) {
            let lease_until = now + self.inner.settings.lease.as_millis() as i64;
            // None: its queue is paused, and the worker stays free.
            if let Some(id) = jobs::enqueue_started(tx, job, lease_until, now).await? {
                self.held
                    .push((worker, jobs::Claimed::started(id, job, now)));
                return Ok(());
            }
        }
        jobs::enqueue(tx, job, now).await?;
        self.pending = true;
        Ok(())
    }

    /// Adds a job as a pending task for the dispatcher, never held, so it
    /// has its execution at once (for rows of the caller's that refer to
    /// it); returns the execution id.
    pub async fn add_task(
        &mut self,
        tx: &mut berth_db::Tx,
        job: &NewJob<'_>,
        now: i64,
    ) -> Result<i64, berth_db::DbError> {
        let (execution, _) = jobs::enqueue(tx, job, now).await?;
        self.pending = true;
        Ok(execution)
    }

    /// The transaction committed: held tasks start, the rest are the dispatcher's.
    pub fn start(&mut self) {
        for (worker, task) in self.held.drain(..) {
            self.inner.clone().spawn_run(worker, task);
        }
        if std::mem::take(&mut self.pending) {
            self.inner.more();
        }
    }
}

/// One of this process's worker slots, taken from the idle list; it goes
/// back when dropped — after its run, or unused when the transaction that
/// reserved it rolled back (a job whose commit went through anyway is
/// queued again once its lease runs out).
struct Worker {
    n: usize,
    inner: Arc<Inner>,
}

impl Worker {
    fn take(inner: &Arc<Inner>) -> Option<Worker> {
        if *inner.shutdown.borrow() {
            return None;
        }
        let n = crate::lock(&inner.idle).pop()?;
        Some(Worker {
            n,
            inner: inner.clone(),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        crate::lock(&self.inner.idle).push(self.n);
        if self.inner.backlog.load(Ordering::SeqCst) {
            self.inner.wake.notify_one();
        }
    }
}

/// A job to enqueue, owned (what an outbox hands over).
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub vendor_type: String,
    pub vendor_id: i64,
    pub trigger: String,
    pub extra_attrs: String,
    pub job_type: String,
    pub params: String,
    pub max_runs: i64,
}

impl JobSpec {
    /// The row to insert.
    pub fn new_job(&self) -> NewJob<'_> {
        NewJob {
            vendor_type: &self.vendor_type,
            vendor_id: self.vendor_id,
            trigger: &self.trigger,
            extra_attrs: &self.extra_attrs,
            job_type: &self.job_type,
            params: &self.params,
            max_runs: self.max_runs,
        }
    }
}

/// Parameters of a system job, as clients send them.
pub trait JobParams: serde::Serialize + serde::de::DeserializeOwned + Default {
    /// Refuses values the job cannot run with.
    fn validate(&self) -> CoreResult<()>;
}

fn to_json<P: JobParams>(params: &P) -> CoreResult<String> {
    serde_json::to_string(params).map_err(|e| CoreError::Internal(e.to_string()))
}

/// How often a pool records that it is alive.
const POOL_HEARTBEAT: Duration = Duration::from_secs(5);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
