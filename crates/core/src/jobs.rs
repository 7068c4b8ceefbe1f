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
/// A run of a job as the API shows it.
pub use berth_db::jobs::Execution;
use berth_db::jobs::{self, NewJob, Pool, Queue, Row, Schedule, Task};
use berth_db::{now_millis, Db};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

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
        let now = now_millis();
        if cron_type == "None" {
            jobs::delete_schedule(self.inner.db.writer(), vendor_type, -1).await?;
            return Ok(());
        }
        let cron = cron_for(cron_type, cron)?;
        let next = next_after(&cron, now)?;
        jobs::set_schedule(
            self.inner.db.writer(),
            vendor_type,
            -1,
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

/// The runs of one vendor type (garbage collection, audit log purge …)
/// behind one system permission: start, history, one run, its log, stop,
/// schedule. Each run is an execution with one task.
#[derive(Clone)]
pub struct Vendor {
    jobs: Jobs,
    vendor: &'static str,
    resource: &'static str,
}

/// Finished runs kept per vendor (each GC, each webhook policy …).
const KEEP_RUNS: i64 = 50;

/// How often old runs are swept away.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Vendor {
    /// Runs of `vendor` (also its job type), guarded by the system resource
    /// `resource`.
    pub fn new(jobs: Jobs, vendor: &'static str, resource: &'static str) -> Self {
        Vendor {
            jobs,
            vendor,
            resource,
        }
    }

    async fn require(&self, ctx: &SecurityContext, action: Action) -> CoreResult<()> {
        require(ctx, action, Resource::System(self.resource)).await
    }

    /// Starts a run now; 409 while another has not ended.
    pub async fn start<P: JobParams>(&self, ctx: &SecurityContext, params: &P) -> CoreResult<i64> {
        self.require(ctx, Action::Create).await?;
        params.validate()?;
        let params = &to_json(params)?;
        let db = &self.jobs.inner.db;
        if jobs::has_active(db.reader(), self.vendor).await? {
            return Err(CoreError::Conflict(format!(
                "a {} run has not ended yet",
                self.vendor
            )));
        }
        let attrs = serde_json::json!({
            "parameters": serde_json::from_str::<serde_json::Value>(params).unwrap_or_default()
        })
        .to_string();
        self.jobs
            .enqueue(&NewJob {
                vendor_type: self.vendor,
                vendor_id: -1,
                trigger: "MANUAL",
                extra_attrs: &attrs,
                job_type: self.vendor,
                params,
                max_runs: 3,
            })
            .await
    }

    /// One page of runs, newest first, with the total.
    pub async fn history(
        &self,
        ctx: &SecurityContext,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<jobs::Execution>, i64)> {
        self.require(ctx, Action::List).await?;
        Ok(jobs::executions(&self.jobs.inner.db, self.vendor, None, offset, limit).await?)
    }

    /// One run.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<jobs::Execution> {
        self.require(ctx, Action::Read).await?;
        self.execution(id).await
    }

    async fn execution(&self, id: i64) -> CoreResult<jobs::Execution> {
        jobs::execution(self.jobs.inner.db.reader(), id)
            .await?
            .filter(|e| e.vendor_type == self.vendor)
            .ok_or_else(|| CoreError::NotFound(format!("{} run {id} not found", self.vendor)))
    }

    async fn task_of(&self, id: i64) -> CoreResult<i64> {
        self.execution(id).await?;
        jobs::tasks_of(self.jobs.inner.db.reader(), id)
            .await?
            .first()
            .map(|t| t.id)
            .ok_or_else(|| CoreError::NotFound(format!("{} run {id} has no job", self.vendor)))
    }

    /// A run's log.
    pub async fn log(&self, ctx: &SecurityContext, id: i64) -> CoreResult<String> {
        self.require(ctx, Action::Read).await?;
        self.jobs.task_log(self.task_of(id).await?).await
    }

    /// Stops a run; stopping one that has ended does nothing, as in Harbor.
    pub async fn stop(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        self.require(ctx, Action::Stop).await?;
        match self.jobs.stop_task(self.task_of(id).await?).await {
            Err(CoreError::Precondition(_)) => Ok(()),
            other => other,
        }
    }

    /// Schedules runs (`None` removes the schedule).
    pub async fn set_schedule<P: JobParams>(
        &self,
        ctx: &SecurityContext,
        cron_type: &str,
        cron: Option<&str>,
        params: &P,
    ) -> CoreResult<()> {
        self.require(ctx, Action::Update).await?;
        params.validate()?;
        self.jobs
            .set_schedule(self.vendor, cron_type, cron, &to_json(params)?)
            .await
    }

    /// The schedule, if runs are scheduled.
    pub async fn schedule(&self, ctx: &SecurityContext) -> CoreResult<Option<Schedule>> {
        self.require(ctx, Action::Read).await?;
        self.jobs.schedule_of(self.vendor).await
    }
}

/// The cron of a Harbor schedule type (six fields, seconds first).
pub fn cron_for(cron_type: &str, cron: Option<&str>) -> CoreResult<String> {
    let cron = match cron_type {
        "Hourly" => "0 0 * * * *".to_string(),
        "Daily" => "0 0 0 * * *".to_string(),
        "Weekly" => "0 0 0 * * 0".to_string(),
        "Custom" | "Schedule" => cron
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| CoreError::BadRequest("a Custom schedule needs a cron".into()))?
            .trim()
            .to_string(),
        other => {
            return Err(CoreError::BadRequest(format!(
                "schedule type must be Hourly, Daily, Weekly, Custom, Manual or None, not {other:?}"
            )))
        }
    };
    next_after(&cron, now_millis())?;
    Ok(cron)
}

/// The first time after `after_ms` that a 6-field cron names.
pub fn next_after(cron: &str, after_ms: i64) -> CoreResult<i64> {
    use croner::parser::{CronParser, Seconds, Year};
    let bad =
        |e: &dyn std::fmt::Display| CoreError::BadRequest(format!("invalid cron {cron:?}: {e}"));
    let parsed = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(cron)
        .map_err(|e| bad(&e))?;
    // Whole seconds: the parser carries a start's fraction into its answer.
    let after = chrono::DateTime::from_timestamp(after_ms.div_euclid(1000), 0)
        .ok_or_else(|| CoreError::Internal("time out of range".into()))?;
    let next = parsed
        .find_next_occurrence(&after, false)
        .map_err(|e| bad(&e))?;
    Ok(next.timestamp_millis())
}

/// Run ends written per transaction at most.
const RECORD_BATCH: usize = 128;
/// How long the first of a burst of run ends waits for the rest.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// How long a job started from the outbox runs before it gets its
/// execution and task (as Running): deliveries end long before, and one
/// that lasts shows in its listing from then on and can be stopped.
pub const PROMOTE_AFTER: Duration = Duration::from_secs(1);

/// How often a pool records that it is alive.
const POOL_HEARTBEAT: Duration = Duration::from_secs(5);

impl Inner {
    fn worker_id(&self, n: usize) -> String {
        format!("{}:{n}", self.pool.id)
    }

    /// Tasks may be pending: wakes the dispatcher.
    fn more(&self) {
        self.backlog.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Hands runnable tasks to idle workers: one claim transaction for as
    /// many tasks as there are idle workers. Local jobs wake it at once;
    /// retries falling due and other processes' jobs are found by polling.
    async fn dispatch(self: Arc<Self>) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let idle = std::mem::take(&mut *crate::lock(&self.idle));
            let mut full = false;
            if !idle.is_empty() {
                // Cleared before the claim: whatever is enqueued during it sets it again.
                self.backlog.store(false, Ordering::SeqCst);
                let workers: Vec<String> = idle.iter().map(|n| self.worker_id(*n)).collect();
                let now = now_millis();
                let lease_until = now + self.settings.lease.as_millis() as i64;
                let claimed = match jobs::claim(&self.db, &workers, lease_until, now).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming jobs");
                        Vec::new()
                    }
                };
                full = claimed.len() == idle.len();
                crate::lock(&self.idle).extend(&idle[claimed.len()..]);
                for (n, task) in idle.into_iter().zip(claimed) {
                    let worker = Worker {
                        n,
                        inner: self.clone(),
                    };
                    self.clone().spawn_run(worker, task);
                }
                if full {
                    // More may be pending: workers freed from now on wake the
                    // dispatcher, and one freed during the claim is used now.
                    self.backlog.store(true, Ordering::SeqCst);
                    if !crate::lock(&self.idle).is_empty() {
                        continue;
                    }
                }
            }
            // With every worker busy, the next wake is a worker coming free.
            let poll = Duration::from_secs(if full { 10 } else { 1 });
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Runs a claimed task; its worker comes free afterwards.
    fn spawn_run(self: Arc<Self>, worker: Worker, task: jobs::Claimed) {
        tokio::spawn(async move { self.run(worker, task).await });
    }

    /// Writes the ends of runs: whatever has queued up while the last
    /// transaction ran, or within a moment of the first end, goes into the
    /// next one (a burst of deliveries costs one write, not one each).
    async fn record(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<jobs::Finished>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            if batch.len() < RECORD_BATCH {
                tokio::time::sleep(RECORD_LINGER).await;
                while batch.len() < RECORD_BATCH {
                    let Ok(end) = rx.try_recv() else { break };
                    batch.push(end);
                }
            }
            if let Err(e) = jobs::finish(&self.db, &batch).await {
                tracing::warn!(error = %e, tasks = batch.len(), "recording the end of jobs");
            }
            self.unrecorded.fetch_sub(batch.len(), Ordering::SeqCst);
            batch.clear();
        }
    }

    /// Runs a task or a job started from the outbox; its worker slot comes
    /// free as soon as the run has ended, before its end is written (the
    /// lease covers the gap).
    async fn run(&self, slot: Worker, mut task: jobs::Claimed) {
        let worker = &self.worker_id(slot.n);
        let handler = crate::lock(&self.handlers).get(&task.job_type).cloned();
        let (interrupt_tx, mut interrupt) = watch::channel(Interrupt::None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let ids = Arc::new(OnceLock::new());
        let mut task_id = None;
        if let Row::Task { id, execution_id } = task.row {
            let _ = ids.set((id, execution_id));
            task_id = Some(id);
        }
        let key = self.next_run.fetch_add(1, Ordering::Relaxed);
        let running = Running {
            task: task_id,
            job_type: task.job_type.clone(),
            interrupt: interrupt_tx.clone(),
        };
        crate::lock(&self.running).insert(key, running);
        let ctx = JobContext {
            ids,
            params: task.params.clone(),
            run: task.run_count,
            // Each run adds to the log of the runs before it.
            log: Arc::new(Mutex::new(std::mem::take(&mut task.log))),
            stop: stop_rx,
        };
        ctx.log(format!(
            "run {} of {} started on {worker}",
            task.run_count, task.max_runs
        ));
        // Heartbeats share the run's task: most jobs (deliveries) end long
        // before the first, and a second task per run would cost a wake-up.
        // A job started from the outbox gets its rows at the first.
        let beat_every = self.settings.lease / 3;
        let first = match task.row {
            Row::Outbox { .. } => beat_every.min(PROMOTE_AFTER),
            Row::Task { .. } => beat_every,
        };
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + first, beat_every);
        let result = match handler {
            None => Err(format!("no code for job type {}", task.job_type)),
            Some(h) => {
                let mut fut = h(ctx.clone());
                loop {
                    tokio::select! {
                        r = &mut fut => break r,
                        () = interrupted(&mut interrupt) => {
                            stop_tx.send_replace(true);
                            break Err("interrupted".to_string());
                        }
                        _ = beat.tick() => {
                            if self.heartbeat(&mut task, &ctx, worker, key).await {
                                interrupt_tx.send_replace(Interrupt::Stop);
                            }
                        }
                    }
                }
            }
        };
        let why = *interrupt_tx.borrow();
        let now = now_millis();
        let (status, message, next) = match (result, why) {
            (_, Interrupt::Shutdown) => {
                ctx.log("interrupted by shutdown; it will run again");
                (jobs::PENDING, String::new(), now)
            }
            (_, Interrupt::Stop) => {
                ctx.log("stopped");
                (jobs::STOPPED, "stopped".to_string(), now)
            }
            (Ok(()), Interrupt::None) => {
                ctx.log("succeeded");
                (jobs::SUCCESS, String::new(), now)
            }
            (Err(e), Interrupt::None) if task.run_count < task.max_runs => {
                let wait = backoff(task.run_count);
                ctx.log(format!("failed: {e}; retrying in {}s", wait.as_secs()));
                (jobs::PENDING, e, now + wait.as_millis() as i64)
            }
            (Err(e), Interrupt::None) => {
                ctx.log(format!("failed: {e}; no runs left"));
                (jobs::ERROR, e, now)
            }
        };
        task.log = ctx.snapshot();
        let end = jobs::Finished {
            run: task,
            worker: worker.clone(),
            status,
            message,
            next_run_at: next,
            now,
        };
        // Counted before it leaves `running`, so shutdown, which waits for
        // both to empty, never misses it; the run's task ends here, without
        // waiting for the write.
        self.unrecorded.fetch_add(1, Ordering::SeqCst);
        if self.finished.send(end).is_err() {
            self.unrecorded.fetch_sub(1, Ordering::SeqCst);
        }
        crate::lock(&self.running).remove(&key);
        drop(slot);
    }

    /// Renews a running task's lease and saves its log, or gives a job
    /// started from the outbox its rows; true if it must stop (asked to, or
    /// no longer this worker's).
    async fn heartbeat(
        &self,
        task: &mut jobs::Claimed,
        ctx: &JobContext,
        worker: &str,
        key: u64,
    ) -> bool {
        let now = now_millis();
        let until = now + self.settings.lease.as_millis() as i64;
        task.log = ctx.snapshot();
        let outcome = match task.row {
            Row::Task { id, .. } => {
                jobs::heartbeat(self.db.writer(), id, worker, until, &task.log, now).await
            }
            Row::Outbox { .. } => match jobs::promote(&self.db, task, worker, until, now).await {
                Ok(Some((execution_id, id))) => {
                    task.row = Row::Task { id, execution_id };
                    let _ = ctx.ids.set((id, execution_id));
                    if let Some(run) = crate::lock(&self.running).get_mut(&key) {
                        run.task = Some(id);
                    }
                    Ok(Some(false))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(Some(stop)) => stop,
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(error = %e, job = task.job_type, "job heartbeat");
                false
            }
        }
    }

    /// Requeues tasks of dead workers and says this pool is alive.
    async fn housekeeping(self: Arc<Self>) {
        let mut shutdown = self.shutdown.subscribe();
        let mut swept = Instant::now();
        loop {
            let now = now_millis();
            if swept.elapsed() >= SWEEP_EVERY {
                swept = Instant::now();
                match jobs::sweep(&self.db, KEEP_RUNS).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(executions = n, "swept old job runs"),
                    Err(e) => tracing::warn!(error = %e, "sweeping old job runs"),
                }
            }
            match jobs::reclaim_expired(&self.db, now).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tasks = n, "requeued jobs whose worker stopped");
                    self.more();
                }
                Err(e) => tracing::warn!(error = %e, "requeuing jobs"),
            }
            if let Err(e) = self.fire_schedules(now).await {
                tracing::warn!(error = %e, "firing schedules");
            }
            let pool = Pool {
                heartbeat_at: now,
                ..self.pool.clone()
            };
            if let Err(e) = jobs::pool_heartbeat(self.db.writer(), &pool).await {
                tracing::warn!(error = %e, "worker pool heartbeat");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Enqueues the job of every schedule that is due, once per period even
    /// with several processes: only the one that moves `next_run_at` on enqueues.
    async fn fire_schedules(&self, now: i64) -> CoreResult<()> {
        for s in jobs::schedules(self.db.reader(), Some(now)).await? {
            let next = match next_after(&s.cron, now) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, schedule = s.id, "skipping a schedule");
                    continue;
                }
            };
            let mut tx = self.db.begin().await?;
            if !jobs::advance_schedule(&mut tx, s.id, s.next_run_at, next).await? {
                continue;
            }
            // A run still going on makes this period's run pointless.
            if !jobs::has_active(&mut *tx, &s.vendor_type).await? {
                let attrs = serde_json::json!({
                    "parameters": serde_json::from_str::<serde_json::Value>(&s.params).unwrap_or_default(),
                    "scheduled_at": s.next_run_at,
                })
                .to_string();
                jobs::enqueue(
                    &mut tx,
                    &NewJob {
                        vendor_type: &s.vendor_type,
                        vendor_id: s.vendor_id,
                        trigger: "SCHEDULE",
                        extra_attrs: &attrs,
                        job_type: &s.vendor_type,
                        params: &s.params,
                        max_runs: 3,
                    },
                    now,
                )
                .await?;
            }
            berth_db::commit(tx).await?;
            self.more();
        }
        Ok(())
    }
}

/// Returns once a run is told to end early (the watch guard is dropped
/// inside, so the run's future stays `Send`).
async fn interrupted(rx: &mut watch::Receiver<Interrupt>) {
    let _ = rx.wait_for(|i| *i != Interrupt::None).await;
}

/// Waits 2, 4, 8 … seconds between runs, at most a minute.
fn backoff(run: i64) -> Duration {
    Duration::from_secs(2u64.saturating_pow(run.clamp(1, 6) as u32).min(60))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
