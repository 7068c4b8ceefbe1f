//! What Harbor's exporter reports of projects, jobs and health, read from
//! the database at most once per `FRESH`, whatever the scrape rate.

use crate::error::CoreResult;
use crate::health::{Component, Health};
use berth_db::{metrics, Db};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use berth_db::metrics::ProjectFigures;
/// Storage actions timed (`registry_storage_action_seconds`), for `/metrics`.
pub use berth_storage::metrics::gather as storage_actions;

/// How long a snapshot is served before it is read again.
const FRESH: Duration = Duration::from_secs(10);

/// The exporter's figures at one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub projects: Vec<ProjectFigures>,
    /// (project, Harbor type, artifacts)
    pub artifacts: Vec<(String, String, i64)>,
    /// (job type, pending tasks, milliseconds the oldest has waited)
    pub queues: Vec<(String, i64, i64)>,
    pub schedules: i64,
    pub health: Vec<Component>,
}

/// A snapshot and when it was read.
type Cached = Option<(Instant, Arc<Snapshot>)>;

/// Reads and caches snapshots.
#[derive(Clone)]
pub struct Exporter {
    db: Db,
    health: Health,
    cached: Arc<Mutex<Cached>>,
}

impl Exporter {
    /// An exporter over the database and the health checks.
    pub fn new(db: Db, health: Health) -> Self {
        Exporter {
            db,
            health,
            cached: Arc::default(),
        }
    }

    /// The current figures (at most `FRESH` old).
    pub async fn snapshot(&self) -> CoreResult<Arc<Snapshot>> {
        if let Some((at, s)) = crate::lock(&self.cached).as_ref() {
            if at.elapsed() < FRESH {
                return Ok(s.clone());
            }
        }
        let db = self.db.reader();
        let now = berth_db::now_millis();
        let snapshot = Arc::new(Snapshot {
            projects: metrics::projects(db).await?,
            artifacts: metrics::artifacts(db).await?,
            queues: (metrics::queues(db).await?.into_iter())
                .map(|(t, n, due)| (t, n, (now - due).max(0)))
                .collect(),
            schedules: metrics::schedules(db).await?,
            health: self.health.check().await,
        });
        *crate::lock(&self.cached) = Some((Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }
}
