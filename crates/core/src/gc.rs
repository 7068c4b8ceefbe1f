//! Online garbage collection, run by the job service while pushes and pulls
//! go on.
//!
//! Mark reads references from the database only: untagged artifacts
//! (optionally) are deleted, then every blob that no artifact references and
//! nobody touched within the time window is a candidate. Sweep works in
//! small batches, two transactions each. The first deletes the rows that
//! are still garbage and records each digest in `blob_trash`; a manifest
//! that references a blob being swept fails its foreign key and is told to
//! push the blob again. Once that is durable, the second holds each such
//! digest still without a row (a placeholder row on PostgreSQL, the one
//! writer on SQLite; an upload of the same digest inserts its row before it
//! places its bytes, so it waits for this transaction, or makes it spare
//! the bytes), deletes the bytes from the store, and ends the holds and
//! trash entries. So a row never names missing bytes: a crash between the
//! two leaves trash entries the next run finishes, and bytes the store has
//! with no row (a crash between an upload's bytes and its commit) are
//! found by listing the store and deleted the same way. That is also how a
//! stopped or killed collection resumes: each run starts from what the
//! database says is garbage now.

use crate::error::{CoreError, CoreResult};
use crate::jobs::{JobContext, JobParams, JobResult, Jobs, Vendor};
use crate::registry::ManifestCache;
use berth_db::jobs as jobrows;
use berth_db::{artifacts, blobs, now_millis, quotas, uploads, Db};
use berth_oci::Digest;
use berth_storage::{Store, UploadState};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Blobs deleted per transaction.
const BATCH: usize = 256;

/// Harbor's vendor and job type for garbage collection.
pub const VENDOR: &str = "GARBAGE_COLLECTION";

/// What a collection is asked to do (Harbor's parameters).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcParams {
    /// Delete artifacts that have no tag first.
    #[serde(default = "yes")]
    pub delete_untagged: bool,
    /// Report what would go, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Parallel sweepers, 1–10.
    #[serde(default = "one")]
    pub workers: i64,
    /// Hours: anything touched more recently is spared.
    #[serde(default = "two")]
    pub time_window: i64,
}

fn yes() -> bool {
    true
}
fn one() -> i64 {
    1
}
fn two() -> i64 {
    2
}

impl Default for GcParams {
    fn default() -> Self {
        GcParams {
            delete_untagged: true,
            dry_run: false,
            workers: 1,
            time_window: 2,
        }
    }
}

/// Settings fixed at start.
#[derive(Debug, Clone, Copy)]
pub struct GcSettings {
    /// Blobs touched this recently are always spared, whatever the time
    /// window, so a push between its blob uploads and its manifest never
    /// loses a layer to a collection with `time_window` 0.
    pub min_window: Duration,
    /// Upload sessions idle this long are purged.
    pub upload_age: Duration,
}

/// What a collection did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GcResult {
    pub freed_bytes: i64,
    pub deleted_blobs: i64,
    pub deleted_artifacts: i64,
    pub purged_uploads: i64,
}

struct Inner {
    db: Db,
    store: Store,
    settings: GcSettings,
    /// Forgets the repositories whose untagged artifacts it deletes.
    manifests: ManifestCache,
}

/// The garbage collection service.
#[derive(Clone)]
pub struct Gc {
    runs: Vendor,
}

impl Gc {
    /// The service; registers its job with `jobs`.
    pub fn new(
        db: Db,
        store: Store,
        jobs: Jobs,
        settings: GcSettings,
        manifests: ManifestCache,
    ) -> Self {
        let inner = Arc::new(Inner {
            db,
            store,
            settings,
            manifests,
        });
        jobs.register_on(
            VENDOR,
            inner,
            |gc, ctx| async move { gc.collect(ctx).await },
        );
        Gc {
            runs: Vendor::new(jobs, VENDOR, "garbage-collection"),
        }
    }

    /// History, logs, stop and schedule of collections.
    pub fn runs(&self) -> &Vendor {
        &self.runs
    }
}

impl Inner {
    async fn collect(self: Arc<Self>, ctx: JobContext) -> JobResult {
        let params: GcParams = ctx.params()?;
        let started = now_millis();
        let window =
            Duration::from_secs(params.time_window as u64 * 3600).max(self.settings.min_window);
        let cutoff = started - window.as_millis() as i64;
        ctx.log(format!(
            "parameters: delete_untagged={} dry_run={} workers={} time_window={}h (sparing anything touched in the last {}s)",
            params.delete_untagged, params.dry_run, params.workers, params.time_window, window.as_secs()
        ));
        let trashed = blobs::trashed(self.db.reader())
            .await
            .map_err(|e| e.to_string())?;
        if !trashed.is_empty() {
            let done = (self.delete_bytes(&trashed).await).map_err(|e| e.to_string())?;
            ctx.log(match done {
                true => format!(
                    "finished deleting {} blobs an earlier run dropped",
                    trashed.len()
                ),
                false => format!(
                    "{} blobs an earlier run dropped wait: a backup is running",
                    trashed.len()
                ),
            });
        }
        let mut result = GcResult::default();
        if params.delete_untagged {
            result.deleted_artifacts = self
                .delete_untagged(&ctx, cutoff, params.dry_run)
                .await
                .map_err(|e| e.to_string())?;
        }
        if !params.dry_run {
            self.release_unused(&ctx, cutoff)
                .await
                .map_err(|e| e.to_string())?;
        }
        let candidates = blobs::unreferenced(self.db.reader(), cutoff)
            .await
            .map_err(|e| e.to_string())?;
        let bytes: i64 = candidates.iter().map(|(_, s)| s).sum();
        ctx.log(format!(
            "mark: {} unreferenced blobs, {bytes} bytes",
            candidates.len()
        ));
        if params.dry_run {
            ctx.log("dry run: nothing deleted");
            return Ok(());
        }
        let (freed, deleted) = self.sweep(&ctx, candidates, params.workers, cutoff).await;
        result.freed_bytes = freed;
        result.deleted_blobs = deleted;
        if ctx.stopping() {
            return Err("stopped during the sweep".into());
        }
        let strays = self.delete_strays().await.map_err(|e| e.to_string())?;
        if strays > 0 {
            ctx.log(format!(
                "deleted {strays} stored blobs no row names (left by uploads cut short)"
            ));
        }
        result.purged_uploads = self.purge_uploads(&ctx).await.map_err(|e| e.to_string())?;
        // The run ends when the space it reports freed is free.
        self.store.reclaimed().await;
        ctx.log(format!(
            "freed {} bytes: {} blobs, {} untagged artifacts, {} abandoned uploads deleted",
            result.freed_bytes,
            result.deleted_blobs,
            result.deleted_artifacts,
            result.purged_uploads
        ));
        let attrs = serde_json::json!({"parameters": params, "result": result}).to_string();
        // Collections are enqueued as tasks, so a run always has its execution.
        let execution = ctx.execution_id().ok_or("the run has no execution")?;
        jobrows::set_extra_attrs(self.db.writer(), execution, &attrs)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Deletes untagged artifacts (an index first, then children it freed).
    async fn delete_untagged(
        &self,
        ctx: &JobContext,
        cutoff: i64,
        dry_run: bool,
    ) -> CoreResult<i64> {
        let mut deleted = 0;
        for _ in 0..5 {
            let found = artifacts::untagged(self.db.reader(), cutoff).await?;
            if found.is_empty() {
                break;
            }
            for (id, repo, digest) in &found {
                if ctx.stopping() {
                    return Ok(deleted);
                }
                if dry_run {
                    ctx.log(format!("would delete untagged {repo}@{digest}"));
                    continue;
                }
                let project = repo.split_once('/').map_or("", |(p, _)| p);
                let mut tx = self.db.begin().await?;
                // The quota first, as every writer of a project's usage.
                quotas::lock(&mut *tx, project, now_millis()).await?;
                // Checked again inside the transaction: it may have been tagged meanwhile.
                if artifacts::untagged_by_id(&mut *tx, *id, cutoff).await? {
                    let mut used = artifacts::blob_digests(&mut *tx, *id).await?;
                    used.push(digest.clone());
                    artifacts::delete(&mut *tx, *id).await?;
                    quotas::release(&mut tx, project, &used).await?;
                    berth_db::commit(tx).await?;
                    self.manifests.forget(repo);
                    deleted += 1;
                    ctx.log(format!("deleted untagged {repo}@{digest}"));
                }
            }
            if dry_run {
                break;
            }
        }
        Ok(deleted)
    }

    /// Stops counting in each project's quota what no artifact of it uses
    /// and nobody added within the window (uploads for pushes that never
    /// came, blobs of deleted repositories), as Harbor's collections do.
    async fn release_unused(&self, ctx: &JobContext, cutoff: i64) -> CoreResult<()> {
        for project in quotas::project_names(self.db.reader()).await? {
            let mut tx = self.db.begin().await?;
            quotas::lock(&mut *tx, &project, now_millis()).await?;
            let freed = quotas::release_unused(&mut tx, &project, cutoff).await?;
            berth_db::commit(tx).await?;
            if freed > 0 {
                ctx.log(format!(
                    "{project}: {freed} bytes no artifact uses no longer count in its quota"
                ));
            }
        }
        Ok(())
    }

    /// Deletes candidates with `workers` sweepers; returns (bytes, blobs) freed.
    async fn sweep(
        self: &Arc<Self>,
        ctx: &JobContext,
        candidates: Vec<(String, i64)>,
        workers: i64,
        cutoff: i64,
    ) -> (i64, i64) {
        let freed = Arc::new(AtomicI64::new(0));
        let count = Arc::new(AtomicI64::new(0));
        let queue = Arc::new(std::sync::Mutex::new(candidates.into_iter()));
        let mut handles = Vec::new();
        for _ in 0..workers.max(1) {
            let (me, ctx) = (self.clone(), ctx.clone());
            let (queue, freed, count) = (queue.clone(), freed.clone(), count.clone());
            handles.push(tokio::spawn(async move {
                loop {
                    if ctx.stopping() {
                        return;
                    }
                    let batch: Vec<String> = crate::lock(&queue)
                        .by_ref()
                        .take(BATCH)
                        .map(|(d, _)| d)
                        .collect();
                    if batch.is_empty() {
                        return;
                    }
                    // A batch fails whole (a manifest took one of its blobs
                    // meanwhile): its blobs are then tried one by one.
                    let results = match me.sweep_batch(&batch, cutoff).await {
                        Ok(r) => r,
                        Err(_) if batch.len() > 1 => {
                            let mut r = Vec::new();
                            for d in &batch {
                                match me.sweep_batch(std::slice::from_ref(d), cutoff).await {
                                    Ok(mut one) => r.append(&mut one),
                                    Err(e) => ctx.log(format!("kept blob {d}: {e}")),
                                }
                            }
                            r
                        }
                        Err(e) => {
                            ctx.log(format!("kept blob {}: {e}", batch[0]));
                            Vec::new()
                        }
                    };
                    for (digest, size) in results {
                        match size {
                            Some(size) => {
                                freed.fetch_add(size, Ordering::Relaxed);
                                count.fetch_add(1, Ordering::Relaxed);
                                ctx.log(format!("deleted blob {digest} ({size} bytes)"));
                            }
                            None => ctx.log(format!("kept blob {digest}: in use again")),
                        }
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
        (freed.load(Ordering::Relaxed), count.load(Ordering::Relaxed))
    }

    /// Deletes the blobs of a batch that are still garbage (rows in one
    /// transaction, then their bytes); returns each digest with its size if
    /// it went.
    async fn sweep_batch(
        &self,
        digests: &[String],
        cutoff: i64,
    ) -> CoreResult<Vec<(String, Option<i64>)>> {
        let mut tx = self.db.begin().await?;
        let deleted = blobs::delete_unreferenced(&mut tx, digests, cutoff).await?;
        berth_db::commit(tx).await?;
        let dropped: Vec<String> = deleted.iter().map(|(d, _)| d.clone()).collect();
        self.delete_bytes(&dropped).await?;
        let sizes: std::collections::HashMap<String, i64> = deleted.into_iter().collect();
        Ok((digests.iter())
            .map(|d| (d.clone(), sizes.get(d).copied()))
            .collect())
    }

    /// Deletes the stored bytes of digests no row names, each held
    /// (`blobs::hold_absent`) meanwhile, and forgets their trash entries;
    /// false when a backup held them back.
    async fn delete_bytes(&self, digests: &[String]) -> CoreResult<bool> {
        if digests.is_empty() {
            return Ok(true);
        }
        // What made them garbage (their rows' deletion) is durable before
        // their bytes go: a power loss must not bring back a row whose
        // bytes are gone.
        self.db.sync().await?;
        for batch in digests.chunks(BATCH) {
            // A backup is copying what its snapshot names: the bytes wait
            // (their trash entries stay) for a later run.
            if crate::backup::running(&self.db).await? {
                return Ok(false);
            }
            let mut tx = self.db.begin().await?;
            let held: Vec<Digest> = (blobs::hold_absent(&mut tx, batch).await?.iter())
                .map(|d| Digest::parse(d).map_err(internal))
                .collect::<CoreResult<_>>()?;
            self.store.delete_blobs(&held).await.map_err(internal)?;
            blobs::release_held(&mut tx, batch).await?;
            berth_db::commit(tx).await?;
        }
        Ok(true)
    }

    /// Deletes stored blobs no row names; returns how many.
    async fn delete_strays(&self) -> CoreResult<usize> {
        let stored = self.store.list_blobs().await.map_err(internal)?;
        let mut strays = Vec::new();
        for chunk in stored.chunks(512) {
            let names: Vec<String> = chunk.iter().map(Digest::to_string).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let recorded = blobs::recorded(self.db.reader(), &refs).await?;
            let recorded: std::collections::HashSet<String> = recorded.into_iter().collect();
            strays.extend(names.into_iter().filter(|d| !recorded.contains(d)));
        }
        self.delete_bytes(&strays).await?;
        Ok(strays.len())
    }

    /// Removes upload sessions (and stray upload files) idle for the configured age.
    async fn purge_uploads(&self, ctx: &JobContext) -> CoreResult<i64> {
        let age = self.settings.upload_age;
        let before = now_millis() - age.as_millis() as i64;
        let mut purged = 0;
        for (id, saved) in uploads::idle_since(self.db.reader(), before).await? {
            uploads::delete(self.db.writer(), &id).await?;
            if let Ok(uuid) = uuid::Uuid::parse_str(&id) {
                let state = saved.as_deref().and_then(UploadState::from_bytes);
                (self.store.delete_upload(uuid, state.as_ref()).await).map_err(internal)?;
            }
            purged += 1;
        }
        // Files of uploads that never had a session row (a monolithic push cut short).
        for id in self.store.old_uploads(age).await.map_err(internal)? {
            if !uploads::exists(self.db.reader(), &id.to_string()).await? {
                self.store.delete_upload(id, None).await.map_err(internal)?;
                purged += 1;
            }
        }
        if purged > 0 {
            ctx.log(format!("purged {purged} abandoned uploads"));
        }
        Ok(purged)
    }
}

impl JobParams for GcParams {
    fn validate(&self) -> CoreResult<()> {
        if !(1..=10).contains(&self.workers) {
            return Err(CoreError::BadRequest("workers must be 1 to 10".into()));
        }
        if self.time_window < 0 {
            return Err(CoreError::BadRequest(
                "time_window must be 0 or more hours".into(),
            ));
        }
        Ok(())
    }
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(e.to_string())
}
