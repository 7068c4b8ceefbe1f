//! SQLite's write transactions ([`crate::Db::write`]), run on a thread of
//! their own and committed in groups.
//!
//! sqlx runs each SQLite connection on a worker thread, so every statement
//! is a round trip between the transaction's task and that thread; between
//! two CPUs each wakes a sleeping CPU (on the 2-CPU VM measured: 72 µs a
//! `SELECT 1` inside a transaction), on one CPU it is a context switch
//! (11 µs). So the transactions run on a thread kept on one CPU, and the
//! writer connection is opened from it, so its worker inherits the CPU.
//!
//! Bodies queued while a transaction runs are run together in the next
//! one: one `BEGIN` and one `COMMIT` for the group, and each page they
//! share (a quota row, a table's last leaf) written to the log once. A
//! body that fails rolls the group back, and each of its bodies runs
//! again alone, so each caller sees its own outcome as if it had run by
//! itself.

use crate::{commit, DbError, Tx};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::AnyPool;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// The future a [`crate::Db::write`] body returns.
pub type WriteFuture<'t, T, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 't>>;

/// The most bodies one transaction takes: a group's latency is the sum of
/// its bodies'.
const MAX_GROUP: usize = 32;

/// What a body came to: its result, or the panic it raised.
type Outcome<T, E> = std::thread::Result<Result<T, E>>;

/// The writer's thread, with a runtime of its own, kept on one CPU.
#[derive(Debug)]
pub(crate) struct WriterThread {
    queue: mpsc::UnboundedSender<Box<dyn Queued>>,
    /// Dropped with the last `Db`, which ends the thread.
    _stop: oneshot::Sender<()>,
}

impl WriterThread {
    /// Starts the thread, opens the writer's pool (one connection) on it
    /// with `open`, and starts taking bodies; returns the thread and pool.
    pub(crate) async fn start<O>(open: O) -> Result<(WriterThread, AnyPool), DbError>
    where
        O: std::future::Future<Output = Result<AnyPool, sqlx::Error>> + Send + 'static,
    {
        let (ready, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("berth-db-writer".into())
            .spawn(move || {
                pin_to_this_cpu();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(r) => r,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                if ready.send(Ok(runtime.handle().clone())).is_ok() {
                    let _ = runtime.block_on(stopped);
                }
            })?;
        let runtime = handle.recv().map_err(std::io::Error::other)??;
        let pool = (runtime.spawn(open).await).map_err(std::io::Error::other)??;
        let (queue, bodies) = mpsc::unbounded_channel();
        runtime.spawn(run_groups(pool.clone(), bodies));
        let writer = WriterThread { queue, _stop: stop };
        Ok((writer, pool))
    }

    /// Runs `body` in a transaction on the thread, perhaps with others.
    pub(crate) async fn write<T, E, F>(&self, body: F) -> Result<T, E>
    where
        F: for<'t> Fn(&'t mut Tx) -> WriteFuture<'t, T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Box::new(Job {
            body,
            outcome: None,
            reply,
        });
        // Sent and answered unless the thread is gone (a runtime failure).
        if self.queue.send(job).is_ok() {
            match outcome.await {
                Ok(Ok(out)) => return out,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => {}
            }
        }
        let gone = std::io::Error::other("the writer thread stopped");
        Err(E::from(DbError::Io(gone)))
    }
}

/// Keeps the calling thread, and the threads it starts, on the CPU it
/// runs on now.
fn pin_to_this_cpu() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread with a zeroed, then
    // filled, CPU set of the size passed.
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu >= 0 {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

/// A queued body and its caller's reply, with the types erased.
trait Queued: Send {
    /// Runs the body in `tx` and keeps what it came to; whether it succeeded.
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool>;
    /// The transaction itself failed (to begin or to commit).
    fn fail(&mut self, e: DbError);
    /// Sends what the body came to.
    fn reply(self: Box<Self>);
}

struct Job<T, E, F> {
    body: F,
    outcome: Option<Outcome<T, E>>,
    reply: oneshot::Sender<Outcome<T, E>>,
}

impl<T, E, F> Queued for Job<T, E, F>
where
    F: for<'t> Fn(&'t mut Tx) -> WriteFuture<'t, T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let outcome = AssertUnwindSafe((self.body)(tx)).catch_unwind().await;
            let ok = matches!(outcome, Ok(Ok(_)));
            self.outcome = Some(outcome);
            ok
        })
    }

    fn fail(&mut self, e: DbError) {
        self.outcome = Some(Ok(Err(E::from(e))));
    }

    fn reply(self: Box<Self>) {
        if let Some(outcome) = self.outcome {
            let _ = self.reply.send(outcome);
        }
    }
}

/// Takes the queued bodies, all that wait at a time, in one transaction.
async fn run_groups(pool: AnyPool, mut bodies: mpsc::UnboundedReceiver<Box<dyn Queued>>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while bodies.recv_many(&mut group, MAX_GROUP).await > 0 {
        if group.len() == 1 || !run_together(&pool, &mut group).await {
            for job in &mut group {
                run_alone(&pool, job.as_mut()).await;
            }
        }
        for job in group.drain(..) {
            job.reply();
        }
    }
}

/// Runs every body in one transaction; false (rolled back) unless all of
/// them succeeded and it committed.
async fn run_together(pool: &AnyPool, group: &mut [Box<dyn Queued>]) -> bool {
    let Ok(mut tx) = pool.begin().await else {
        return false;
    };
    for job in group.iter_mut() {
        if !job.run(&mut tx).await {
            let _ = tx.rollback().await;
            return false;
        }
    }
    commit(tx).await.is_ok()
}

async fn run_alone(pool: &AnyPool, job: &mut dyn Queued) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return job.fail(e.into()),
    };
    if !job.run(&mut tx).await {
        let _ = tx.rollback().await;
    } else if let Err(e) = commit(tx).await {
        job.fail(e);
    }
}
