//! Events: what happened to artifacts, told to whoever subscribed.
//!
//! A change that must not lose its side effects stages its event in its own
//! transaction: every outbox enqueues the jobs it calls for there, so the
//! jobs exist exactly when the change does. Once the change has committed,
//! the event is published to subscribers, which are either stateless (each
//! event handled on its own task, concurrently) or stateful (one task per
//! subscriber, handed in order whatever has queued up since its last call,
//! so it never runs concurrently with itself and can batch its writes).

use crate::jobs::Enqueued;
use berth_db::{DbError, Tx};
use berth_oci::RepositoryName;
use futures_util::future::BoxFuture;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A manifest was pushed (`tags`: the tag it was pushed by, if any).
    ArtifactPushed(Artifact),
    /// A manifest was pulled (`tags`: the tag it was pulled by, if any).
    ArtifactPulled(Artifact),
    /// A manifest was deleted with its tags.
    ArtifactDeleted(Artifact),
    /// A vulnerability scan of a manifest ended.
    Scanned(Artifact, ScanEnd),
    /// A replication task ended for good (the artifact is this registry's
    /// side of it): Harbor's `replication` event data, as built by
    /// replication.
    Replicated(Artifact, serde_json::Value),
    /// A project's storage quota refused a write (`QUOTA_EXCEED`) or its
    /// usage passed the warning level (`QUOTA_WARNING`); the artifact is
    /// the manifest pushed (no digest for a blob), the text Harbor's.
    Quota(Artifact, QuotaNote),
    /// A tag retention task deleted artifacts of a repository: Harbor's
    /// `retention` event data, as built by retention.
    Retained(Artifact, serde_json::Value),
}

/// What a quota event says.
#[derive(Debug, Clone)]
pub struct QuotaNote {
    /// `QUOTA_EXCEED` or `QUOTA_WARNING`.
    pub kind: &'static str,
    pub details: String,
}

/// How a scan ended, as webhooks tell it.
#[derive(Debug, Clone)]
pub struct ScanEnd {
    /// `SCANNING_COMPLETED`, `SCANNING_FAILED` or `SCANNING_STOPPED`.
    pub kind: &'static str,
    /// The artifact's `scan_overview` (report type → summary).
    pub overview: serde_json::Value,
}

/// The artifact an event is about.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub repo: RepositoryName,
    pub digest: String,
    pub tags: Vec<String>,
    /// Who did it.
    pub operator: String,
    /// Unix milliseconds.
    pub at: i64,
}

impl Event {
    /// The artifact it is about.
    pub fn artifact(&self) -> &Artifact {
        match self {
            Event::ArtifactPushed(a)
            | Event::ArtifactPulled(a)
            | Event::ArtifactDeleted(a)
            | Event::Scanned(a, _)
            | Event::Replicated(a, _)
            | Event::Quota(a, _)
            | Event::Retained(a, _) => a,
        }
    }

    /// Harbor's name of the event type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ArtifactPushed(_) => "PUSH_ARTIFACT",
            Event::ArtifactPulled(_) => "PULL_ARTIFACT",
            Event::ArtifactDeleted(_) => "DELETE_ARTIFACT",
            Event::Scanned(_, end) => end.kind,
            Event::Replicated(..) => "REPLICATION",
            Event::Quota(_, note) => note.kind,
            Event::Retained(..) => "TAG_RETENTION",
        }
    }
}

/// Enqueues the jobs an event calls for, in the transaction of its change.
pub trait Outbox: Send + Sync {
    /// The jobs, or None when the event calls for none.
    fn enqueue<'a>(
        &'a self,
        tx: &'a mut Tx,
        e: &'a Event,
    ) -> BoxFuture<'a, Result<Option<Enqueued>, DbError>>;
}

/// How a subscriber takes events.
pub enum Subscriber {
    /// Each event on its own task; may run concurrently with itself.
    Stateless(Arc<dyn Fn(Arc<Event>) -> BoxFuture<'static, ()> + Send + Sync>),
    /// One task, handed every event queued since its last call, in order.
    Stateful(Box<dyn FnMut(Vec<Arc<Event>>) -> BoxFuture<'static, ()> + Send>),
}

/// Whether a subscriber cares about an event; asked on the publisher's own
/// path, so it must be cheap (it keeps a pull from waking anyone in vain).
pub type Interest = Box<dyn Fn(&Event) -> bool + Send + Sync>;

enum Sink {
    Stateless(Arc<dyn Fn(Arc<Event>) -> BoxFuture<'static, ()> + Send + Sync>),
    Stateful(mpsc::UnboundedSender<Arc<Event>>),
}

#[derive(Default)]
struct Inner {
    outboxes: RwLock<Vec<Arc<dyn Outbox>>>,
    subscribers: RwLock<Vec<(Interest, Sink)>>,
}

/// The event bus.
#[derive(Clone, Default)]
pub struct Events {
    inner: Arc<Inner>,
}

/// Events a stateful subscriber takes at most per call.
const BATCH: usize = 256;

impl Events {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an outbox (at start).
    pub fn add_outbox(&self, outbox: Arc<dyn Outbox>) {
        crate::lock_write(&self.inner.outboxes).push(outbox);
    }

    /// Subscribes to the events `interest` accepts (at start, inside the runtime).
    pub fn subscribe(&self, interest: Interest, subscriber: Subscriber) {
        let sink = match subscriber {
            Subscriber::Stateless(f) => Sink::Stateless(f),
            Subscriber::Stateful(mut f) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let mut batch = Vec::new();
                    while rx.recv_many(&mut batch, BATCH).await > 0 {
                        f(std::mem::take(&mut batch)).await;
                    }
                });
                Sink::Stateful(tx)
            }
        };
        crate::lock_write(&self.inner.subscribers).push((interest, sink));
    }

    /// Enqueues what every outbox calls for in the change's transaction;
    /// the event is published when the change has committed.
    pub async fn stage(&self, tx: &mut Tx, event: Event) -> Result<Staged, DbError> {
        let outboxes = self.read_outboxes();
        let mut jobs = Vec::new();
        for o in outboxes {
            if let Some(j) = o.enqueue(tx, &event).await? {
                jobs.push(j);
            }
        }
        Ok(Staged {
            events: self.clone(),
            event,
            jobs,
        })
    }

    fn read_outboxes(&self) -> Vec<Arc<dyn Outbox>> {
        self.inner
            .outboxes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the subscribers that want it (after the change has committed).
    pub fn publish(&self, event: Event) {
        let subscribers = self
            .inner
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut shared: Option<Arc<Event>> = None;
        for (interest, sink) in subscribers.iter() {
            if !interest(&event) {
                continue;
            }
            let e = shared
                .get_or_insert_with(|| Arc::new(event.clone()))
                .clone();
            match sink {
                Sink::Stateless(f) => {
                    tokio::spawn(f(e));
                }
                Sink::Stateful(tx) => {
                    let _ = tx.send(e);
                }
            }
        }
    }
}

/// An event whose change has not committed yet, with the jobs it enqueued.
#[must_use = "call committed() once the transaction has committed"]
pub struct Staged {
    events: Events,
    event: Event,
    jobs: Vec<Enqueued>,
}

impl Staged {
    /// The change committed: its jobs start and its event is published.
    pub fn committed(self) {
        for mut j in self.jobs {
            j.start();
        }
        self.events.publish(self.event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn pulled(i: usize) -> Event {
        Event::ArtifactPulled(Artifact {
            repo: RepositoryName::parse("p/r").unwrap(),
            digest: String::new(),
            tags: vec![i.to_string()],
            operator: "u".into(),
            at: 0,
        })
    }

    /// Counts handlers running at once and the highest count seen.
    #[derive(Default)]
    struct Overlap {
        now: AtomicUsize,
        most: AtomicUsize,
        seen: AtomicUsize,
    }

    impl Overlap {
        async fn handle(&self, events: usize) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.seen.fetch_add(events, Ordering::SeqCst);
        }
    }

    async fn settle(o: &Overlap, events: usize) {
        for _ in 0..200 {
            if o.seen.load(Ordering::SeqCst) == events {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "only {} of {events} events handled",
            o.seen.load(Ordering::SeqCst)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stateful_subscribers_never_overlap_and_get_events_in_order() {
        let bus = Events::new();
        let o = Arc::new(Overlap::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o2, order2) = (o.clone(), order.clone());
        bus.subscribe(
            Box::new(|_| true),
            Subscriber::Stateful(Box::new(move |batch| {
                let (o, order) = (o2.clone(), order2.clone());
                Box::pin(async move {
                    order
                        .lock()
                        .unwrap()
                        .extend(batch.iter().map(|e| e.artifact().tags[0].clone()));
                    o.handle(batch.len()).await;
                })
            })),
        );
        for i in 0..50 {
            bus.publish(pulled(i));
        }
        settle(&o, 50).await;
        assert_eq!(o.most.load(Ordering::SeqCst), 1);
        let want: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        assert_eq!(*order.lock().unwrap(), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stateless_subscribers_run_concurrently_and_see_only_what_they_want() {
        let bus = Events::new();
        let o = Arc::new(Overlap::default());
        let o2 = o.clone();
        bus.subscribe(
            Box::new(|e| matches!(e, Event::ArtifactPulled(_))),
            Subscriber::Stateless(Arc::new(move |_| {
                let o = o2.clone();
                Box::pin(async move { o.handle(1).await })
            })),
        );
        for i in 0..10 {
            bus.publish(pulled(i));
        }
        let mut pushed = pulled(0);
        if let Event::ArtifactPulled(a) = pushed {
            pushed = Event::ArtifactPushed(a);
        }
        bus.publish(pushed);
        settle(&o, 10).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(o.seen.load(Ordering::SeqCst), 10, "the push was not wanted");
        assert!(o.most.load(Ordering::SeqCst) > 1);
    }
}
