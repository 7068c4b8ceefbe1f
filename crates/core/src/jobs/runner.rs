//! The workers' loop: claiming, leases, retries, stops, the outbox, the
//! pool's heartbeat and the recording of run ends.

use super::*;
use std::pin::pin;

/// Finished runs kept per vendor (each GC, each webhook policy …).
const KEEP_RUNS: i64 = 50;

/// How often old runs are swept away.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Run ends written per transaction at most.
const RECORD_BATCH: usize = 128;
/// How long the first of a burst of run ends waits for the rest.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// How long a job started from the outbox runs before it gets its
/// execution and task (as Running): deliveries end long before, and one
/// that lasts shows in its listing from then on and can be stopped.
pub const PROMOTE_AFTER: Duration = Duration::from_secs(1);

impl Inner {
    pub(super) fn worker_id(&self, n: usize) -> String {
        format!("{}:{n}", self.pool.id)
    }

    /// Tasks may be pending: wakes the dispatcher.
    pub(super) fn more(&self) {
        self.backlog.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Hands runnable tasks to idle workers: one claim transaction for as
    /// many tasks as there are idle workers. Local jobs wake it at once;
    /// retries falling due and other processes' jobs are found by polling.
    pub(super) async fn dispatch(self: Arc<Self>) {
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
    pub(super) fn spawn_run(self: Arc<Self>, worker: Worker, task: jobs::Claimed) {
        tokio::spawn(async move { self.run(worker, task).await });
    }

    /// Writes the ends of runs: whatever has queued up while the last
    /// transaction ran, or within a moment of the first end, goes into the
    /// next one (a burst of deliveries costs one write, not one each).
    pub(super) async fn record(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<jobs::Finished>) {
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
    pub(super) async fn run(&self, slot: Worker, mut task: jobs::Claimed) {
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
                            // The run goes on while its heartbeat waits: it
                            // may hold the writer (SQLite has one) that the
                            // heartbeat is waiting for.
                            let mut beating = pin!(self.heartbeat(&mut task, &ctx, worker, key));
                            let mut ended = None;
                            let stop = loop {
                                tokio::select! {
                                    stop = &mut beating => break stop,
                                    r = &mut fut, if ended.is_none() => ended = Some(r),
                                }
                            };
                            if stop {
                                interrupt_tx.send_replace(Interrupt::Stop);
                            }
                            if let Some(r) = ended {
                                break r;
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
    pub(super) async fn heartbeat(
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
    pub(super) async fn housekeeping(self: Arc<Self>) {
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
            self.last_round.store(now, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Enqueues the job of every schedule that is due, once per period even
    /// with several processes: only the one that moves `next_run_at` on enqueues.
    pub(super) async fn fire_schedules(&self, now: i64) -> CoreResult<()> {
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
            if !jobs::has_active(&mut *tx, &s.vendor_type, s.vendor_id).await? {
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
