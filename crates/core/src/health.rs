//! The health of each part Berth depends on, in Harbor's shape
//! (`/api/v2.0/health`): the database, the blob store (Harbor's
//! "registry"), the job service and the default scanner.

use crate::jobs::Jobs;
use crate::scan::Scans;
use berth_db::Db;
use berth_storage::Store;
use std::time::Duration;

/// A check that takes longer than this fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// One component's state: `None` when healthy, else why not.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: &'static str,
    pub error: Option<String>,
}

/// The health checks.
#[derive(Clone)]
pub struct Health {
    db: Db,
    store: Store,
    jobs: Jobs,
    scans: Scans,
}

impl Health {
    /// Checks over the services Berth runs on.
    pub fn new(db: Db, store: Store, jobs: Jobs, scans: Scans) -> Self {
        Health {
            db,
            store,
            jobs,
            scans,
        }
    }

    /// Every component, checked at once, each within a few seconds.
    pub async fn check(&self) -> Vec<Component> {
        let database = async {
            match self.db.ping().await {
                true => Ok(()),
                false => Err("the database does not answer".to_string()),
            }
        };
        let registry = async {
            (self.store.check().await).map_err(|e| format!("{} storage: {e}", self.store.kind()))
        };
        let jobservice = async { self.jobs.alive() };
        let scanner = async { self.scans.scanners().check_default().await };
        let (database, registry, jobservice, scanner) = tokio::join!(
            timed(database),
            timed(registry),
            timed(jobservice),
            timed(scanner)
        );
        let mut out = vec![
            Component {
                name: "core",
                error: None,
            },
            Component {
                name: "database",
                error: database.err(),
            },
            Component {
                name: "registry",
                error: registry.err(),
            },
            Component {
                name: "jobservice",
                error: jobservice.err(),
            },
        ];
        // Only when a default scanner is set, as Harbor's "trivy" only when installed.
        if let Some(scanner) = scanner.transpose() {
            out.push(Component {
                name: "scanner",
                error: scanner.err(),
            });
        }
        out
    }
}

async fn timed<T>(
    check: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    }
}
