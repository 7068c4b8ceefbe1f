//! Projects' metadata as the pull rules read it, on every manifest pull:
//! cached a moment per project, forgotten at once when this process
//! changes it, so only another replica's change takes up to `FRESH_FOR`.

use super::cosign::PublicKey;
use berth_db::{allowlists, projects, Db, DbError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a project's metadata read here is trusted.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(2);

/// A project's metadata: key to value.
pub type Metadata = Arc<BTreeMap<String, String>>;

/// The CVEs a project's pulls let through, and when that stops (seconds
/// since the epoch).
#[derive(Debug, Default)]
pub struct Allowed {
    pub expires_at: Option<i64>,
    pub cves: HashSet<String>,
}

impl Allowed {
    /// Whether a CVE is let through now.
    pub fn allows(&self, cve: &str) -> bool {
        let live = self
            .expires_at
            .is_none_or(|at| at > berth_db::now_millis() / 1000);
        live && self.cves.contains(cve)
    }
}

/// The cache, shared by the rules that read it and by `Projects`, which
/// forgets a project whose metadata it writes.
#[derive(Clone)]
pub struct ProjectSettings {
    db: Db,
    cache: Cache<Metadata>,
    allowed: Cache<Arc<Allowed>>,
    keys: Cache<Arc<Vec<PublicKey>>>,
}

/// Values per project name, each with when it was read.
type Cache<T> = Arc<Mutex<HashMap<String, (Instant, T)>>>;

impl ProjectSettings {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        ProjectSettings {
            db,
            cache: Arc::default(),
            allowed: Arc::default(),
            keys: Arc::default(),
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

    /// The CVE allowlist project `name`'s pulls use (its own, or the
    /// system's when it reuses that).
    pub async fn allowed(&self, name: &str) -> Result<Arc<Allowed>, DbError> {
        if let Some((at, a)) = crate::lock(&self.allowed).get(name) {
            if at.elapsed() < FRESH_FOR {
                return Ok(a.clone());
            }
        }
        let read = allowlists::effective(self.db.reader(), name).await?;
        let a = Arc::new(match read {
            Some((expires_at, items)) => Allowed {
                expires_at,
                cves: serde_json::from_str(&items).unwrap_or_default(),
            },
            None => Allowed::default(),
        });
        crate::lock(&self.allowed).insert(name.to_string(), (Instant::now(), a.clone()));
        Ok(a)
    }

    /// The cosign public keys project `name`'s signatures must verify
    /// against (none: any signature will do, as in Harbor).
    pub async fn cosign_keys(&self, name: &str) -> Result<Arc<Vec<PublicKey>>, DbError> {
        if let Some((at, k)) = crate::lock(&self.keys).get(name) {
            if at.elapsed() < FRESH_FOR {
                return Ok(k.clone());
            }
        }
        let pems = berth_db::cosign_keys::pems_of(self.db.reader(), name).await?;
        // Keys are checked as they are added; one that no longer parses
        // verifies nothing.
        let k: Arc<Vec<PublicKey>> = Arc::new(
            (pems.iter())
                .filter_map(|p| PublicKey::parse(p).ok())
                .collect(),
        );
        crate::lock(&self.keys).insert(name.to_string(), (Instant::now(), k.clone()));
        Ok(k)
    }

    /// Drops what is known of project `name`: its metadata, allowlist or
    /// keys changed.
    pub fn forget(&self, name: &str) {
        crate::lock(&self.cache).remove(name);
        crate::lock(&self.allowed).remove(name);
        crate::lock(&self.keys).remove(name);
    }

    /// Drops every project's allowlist: the system's changed.
    pub fn forget_allowlists(&self) {
        crate::lock(&self.allowed).clear();
    }
}
