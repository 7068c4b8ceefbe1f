//! Projects' metadata as the pull rules read it, on every manifest pull:
//! cached a moment per project, forgotten at once when this process
//! changes it, so only another replica's change takes up to `FRESH_FOR`.

use berth_db::{projects, Db, DbError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a project's metadata read here is trusted.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(2);

/// A project's metadata: key to value.
pub type Metadata = Arc<BTreeMap<String, String>>;

/// The cache, shared by the rules that read it and by `Projects`, which
/// forgets a project whose metadata it writes.
#[derive(Clone)]
pub struct ProjectSettings {
    db: Db,
    cache: Arc<Mutex<HashMap<String, (Instant, Metadata)>>>,
}

impl ProjectSettings {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        ProjectSettings {
            db,
            cache: Arc::default(),
        }
    }

    /// The metadata of project `name` (empty for none such).
    pub async fn of(&self, name: &str) -> Result<Metadata, DbError> {
        if let Some((at, m)) = crate::lock(&self.cache).get(name) {
            if at.elapsed() < FRESH_FOR {
                return Ok(m.clone());
            }
        }
        let read = projects::metadata_by_name(self.db.reader(), name).await?;
        let m: Metadata = Arc::new(read.into_iter().collect());
        crate::lock(&self.cache).insert(name.to_string(), (Instant::now(), m.clone()));
        Ok(m)
    }

    /// Drops what is known of project `name`: its metadata changed.
    pub fn forget(&self, name: &str) {
        crate::lock(&self.cache).remove(name);
    }
}
