//! Manifests served over `/v2`, by tag and by digest, kept in memory a
//! moment so a hot pull reads no database. This process forgets a
//! repository's entries as soon as it changes its tags or artifacts;
//! another replica's change is seen within `FRESH_FOR`, as projects'
//! settings are. The cache never holds more than its budget in bytes.
//! Beside it, what pushed manifests were described as (`Descriptions`).

use crate::policy::FRESH_FOR;
use berth_db::artifacts::{Described, ManifestRow};
use berth_db::DbError;
use berth_oci::Digest;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What an entry costs besides its strings and manifest: keys, maps, `Arc`.
const OVERHEAD: usize = 160;

/// The cache, shared by the registry (which reads and forgets) and the
/// garbage collector (which forgets what it deletes).
#[derive(Clone)]
pub struct ManifestCache(Arc<Inner>);

struct Inner {
    budget: usize,
    state: Mutex<State>,
    /// How many times anything was forgotten: a read that began before a
    /// change was forgotten must not put its old value back.
    forgotten: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What the cache holds and how it has served, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

#[derive(Default)]
struct State {
    /// Repository name → reference (a tag, or a digest) → entry.
    repos: HashMap<String, HashMap<String, Entry>>,
    bytes: usize,
}

struct Entry {
    at: Instant,
    row: Arc<ManifestRow>,
    cost: usize,
}

impl ManifestCache {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> Self {
        ManifestCache(Arc::new(Inner {
            budget,
            state: Mutex::default(),
            forgotten: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    /// The manifest `reference` of `repo`, from memory while fresh, else
    /// from `read` (kept if it found one and nothing was forgotten since).
    pub(crate) async fn get<F>(
        &self,
        repo: &str,
        reference: &str,
        read: F,
    ) -> Result<Option<Arc<ManifestRow>>, DbError>
    where
        F: Future<Output = Result<Option<ManifestRow>, DbError>>,
    {
        let inner = &*self.0;
        if let Some(e) = crate::lock(&inner.state)
            .repos
            .get(repo)
            .and_then(|r| r.get(reference))
        {
            if e.at.elapsed() < FRESH_FOR {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(e.row.clone()));
            }
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        let began = inner.forgotten.load(Ordering::Acquire);
        let Some(row) = read.await?.map(Arc::new) else {
            return Ok(None);
        };
        let cost = OVERHEAD
            + repo.len()
            + reference.len()
            + row.manifest.len()
            + row.digest.len()
            + row.media_type.len();
        if cost > inner.budget {
            return Ok(Some(row));
        }
        let mut state = crate::lock(&inner.state);
        if inner.forgotten.load(Ordering::Acquire) != began {
            return Ok(Some(row));
        }
        if state.bytes + cost > inner.budget {
            state.make_room(cost, inner.budget);
        }
        let entry = Entry {
            at: Instant::now(),
            row: row.clone(),
            cost,
        };
        // Allocating the names is no matter beside the read just made.
        let old =
            (state.repos.entry(repo.to_string()).or_default()).insert(reference.to_string(), entry);
        state.bytes += cost;
        state.bytes -= old.map_or(0, |e| e.cost);
        Ok(Some(row))
    }

    /// Drops what is kept of `repo`: its tags or artifacts changed.
    pub fn forget(&self, repo: &str) {
        let inner = &*self.0;
        let mut state = crate::lock(&inner.state);
        inner.forgotten.fetch_add(1, Ordering::AcqRel);
        if let Some(gone) = state.repos.remove(repo) {
            state.bytes -= gone.values().map(|e| e.cost).sum::<usize>();
        }
    }

    /// What the cache holds now and how many reads it answered.
    pub fn stats(&self) -> CacheStats {
        let inner = &*self.0;
        CacheStats {
            bytes: crate::lock(&inner.state).bytes,
            hits: inner.hits.load(Ordering::Relaxed),
            misses: inner.misses.load(Ordering::Relaxed),
        }
    }
}

impl State {
    /// Drops stale entries, then whole repositories, until `cost` more
    /// bytes fit within `budget` with a quarter of it to spare, so a full
    /// cache is not swept on every read.
    fn make_room(&mut self, cost: usize, budget: usize) {
        let target = (budget - budget / 4).saturating_sub(cost);
        let mut freed = 0;
        for entries in self.repos.values_mut() {
            entries.retain(|_, e| {
                let keep = e.at.elapsed() < FRESH_FOR;
                if !keep {
                    freed += e.cost;
                }
                keep
            });
        }
        self.bytes -= freed;
        self.repos.retain(|_, entries| !entries.is_empty());
        while self.bytes > target {
            let Some(name) = self.repos.keys().next().cloned() else {
                break;
            };
            if let Some(gone) = self.repos.remove(&name) {
                self.bytes -= gone.values().map(|e| e.cost).sum::<usize>();
            }
        }
    }
}

/// At most this many bytes of descriptions are kept.
const DESCRIPTIONS_BUDGET: usize = 1 << 20;

/// What pushed manifests were described as, by digest. A description
/// follows from the manifest's bytes and its config's, both fixed by the
/// digest, so it never goes stale: a manifest pushed again (under more
/// tags, into another repository) reads no config. Starts over when full.
#[derive(Default)]
pub(crate) struct Descriptions(Mutex<(HashMap<Digest, Described>, usize)>);

impl Descriptions {
    pub(crate) fn get(&self, digest: &Digest) -> Option<Described> {
        crate::lock(&self.0).0.get(digest).cloned()
    }

    pub(crate) fn keep(&self, digest: &Digest, d: &Described) {
        let cost = OVERHEAD
            + digest.hex().len()
            + d.harbor_type.len()
            + d.media_type.len()
            + d.extra_attrs.as_ref().map_or(0, String::len);
        let mut kept = crate::lock(&self.0);
        if kept.1 + cost > DESCRIPTIONS_BUDGET {
            *kept = Default::default();
        }
        if kept.0.insert(digest.clone(), d.clone()).is_none() {
            kept.1 += cost;
        }
    }
}
