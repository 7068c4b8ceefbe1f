//! Projects as authorization and the pull rules read them, on every
//! `/v2` request: cached a moment per project, forgotten at once when this
//! process changes them, so only another replica's change takes up to
//! `FRESH_FOR`.

use super::cosign::PublicKey;
use berth_db::{allowlists, projects, Db, DbError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a project's metadata read here is trusted.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(2);

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
    refs: Cache<projects::AuthRef>,
    cache: Cache<Metadata>,
    allowed: Cache<Arc<Allowed>>,
    keys: Cache<Arc<Vec<PublicKey>>>,
}

/// Values per project name, and how many times anything was forgotten: a read that began before a change
/// committed and was forgotten must not put its old value back.
struct Cache<T>(Arc<(Mutex<Entries<T>>, AtomicU64)>);

/// Each project's value, with when it was read.
type Entries<T> = HashMap<String, (Instant, T)>;

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache(self.0.clone())
    }
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache(Arc::default())
    }
}

impl<T: Clone> Cache<T> {
    /// The value for `name`, read fresh once it is `FRESH_FOR` old; a
    /// read finding nothing (`None`) is not kept.
    async fn get<F>(&self, name: &str, read: F) -> Result<Option<T>, DbError>
    where
        F: std::future::Future<Output = Result<Option<T>, DbError>>,
    {
        let (map, forgotten) = &*self.0;
        if let Some((at, v)) = crate::lock(map).get(name) {
            if at.elapsed() < FRESH_FOR {
                return Ok(Some(v.clone()));
            }
        }
        let began = forgotten.load(Ordering::Acquire);
        let value = read.await?;
        let mut map = crate::lock(map);
        if let (Some(v), true) = (&value, forgotten.load(Ordering::Acquire) == began) {
            map.insert(name.to_string(), (Instant::now(), v.clone()));
        }
        Ok(value)
    }

    fn forget(&self, name: Option<&str>) {
        let (map, forgotten) = &*self.0;
        let mut map = crate::lock(map);
        forgotten.fetch_add(1, Ordering::AcqRel);
        match name {
            Some(name) => drop(map.remove(name)),
            None => map.clear(),
        }
    }
}

impl ProjectSettings {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        ProjectSettings {
            db,
            refs: Cache::default(),
            cache: Cache::default(),
            allowed: Cache::default(),
            keys: Cache::default(),
        }
    }

    /// What authorization reads of project `name` (None: no such
    /// project; never kept, so a project made by another replica is
    /// found at once).
    pub async fn auth_ref(&self, name: &str) -> Result<Option<projects::AuthRef>, DbError> {
        (self.refs)
            .get(name, projects::auth_ref(self.db.reader(), name))
            .await
    }

    /// The metadata of project `name` (empty for none such).
    pub async fn of(&self, name: &str) -> Result<Metadata, DbError> {
        let read = async {
            let read = projects::metadata_by_name(self.db.reader(), name).await?;
            Ok(Some(Arc::new(read.into_iter().collect())))
        };
        Ok(self.cache.get(name, read).await?.unwrap_or_default())
    }

    /// The CVE allowlist project `name`'s pulls use (its own, or the
    /// system's when it reuses that).
    pub async fn allowed(&self, name: &str) -> Result<Arc<Allowed>, DbError> {
        let read = async {
            let read = allowlists::effective(self.db.reader(), name).await?;
            Ok(Some(Arc::new(match read {
                Some((expires_at, items)) => Allowed {
                    expires_at,
                    cves: serde_json::from_str(&items).unwrap_or_default(),
                },
                None => Allowed::default(),
            })))
        };
        Ok(self.allowed.get(name, read).await?.unwrap_or_default())
    }

    /// The cosign public keys project `name`'s signatures must verify
    /// against (none: any signature will do, as in Harbor).
    pub async fn cosign_keys(&self, name: &str) -> Result<Arc<Vec<PublicKey>>, DbError> {
        let read = async {
            let pems = berth_db::cosign_keys::pems_of(self.db.reader(), name).await?;
            // Keys are checked as they are added; one that no longer parses
            // verifies nothing.
            Ok(Some(Arc::new(
                (pems.iter())
                    .filter_map(|p| PublicKey::parse(p).ok())
                    .collect(),
            )))
        };
        Ok(self.keys.get(name, read).await?.unwrap_or_default())
    }

    /// Drops what is known of project `name`: its metadata, allowlist or
    /// keys changed.
    pub fn forget(&self, name: &str) {
        self.refs.forget(Some(name));
        self.cache.forget(Some(name));
        self.allowed.forget(Some(name));
        self.keys.forget(Some(name));
    }

    /// Drops every project's allowlist: the system's changed.
    pub fn forget_allowlists(&self) {
        self.allowed.forget(None);
    }
}
