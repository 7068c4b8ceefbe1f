//! The registry engine: blob uploads and mounts, manifests, tags, referrers.

mod cache;
pub mod error;

use crate::notify::events::{Artifact, Event, Events, Staged};
use crate::notify::trail::{Operation, Target, Trail};
use crate::policy::{Chain, Passed, Puller, Read, Write};
use berth_db::artifacts::{Described, ManifestRow, NewArtifact, Referrer};
use berth_db::tags::Existing;
use berth_db::{artifacts, blobs, now_millis, quotas, repositories, tags, uploads, Db, Tx};
use berth_oci::artifact;
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{
    ByteRange, Digest, Manifest, ManifestError, ManifestKind, Reference, RepositoryName, Tag,
};
use berth_storage::{BlobStream, Checkpoint, StorageError, Store, UploadState};
use bytes::Bytes;
use cache::Descriptions;
pub use cache::{CacheStats, ManifestCache};
pub use error::RegistryError;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Tag and catalog pages are never longer than this.
pub const MAX_PAGE: i64 = 10_000;

/// A request body as a stream of chunks.
pub trait BodyStream: Stream<Item = Result<Bytes, Self::Error>> + Send + Unpin {
    type Error: std::fmt::Display;
}
impl<S, E> BodyStream for S
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    type Error = E;
}

/// An upload about to become a blob: its id, what it received, the size the
/// client announced, and whether it has a session row.
struct Upload<'a> {
    id: Uuid,
    state: &'a UploadState,
    expected_size: Option<u64>,
    has_row: bool,
}

/// Serializes this process's requests on one upload. (Its state is saved
/// with the session row, so the next request may land on any process.)
type UploadSlot = Arc<tokio::sync::Mutex<()>>;

/// The result of a manifest push.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
    pub tags: Vec<Tag>,
}

/// A blob the caller may read (its repository link was checked).
pub struct Blob {
    pub size: u64,
    digest: Digest,
    store: Store,
}

impl Blob {
    /// Opens the whole blob, or an inclusive byte range of it, for
    /// streaming; unknown if a collection deleted it since it was found.
    pub async fn open(&self, range: Option<ByteRange>) -> Result<BlobStream> {
        let (start, end) = match range {
            Some(r) => (r.start, r.end + 1),
            None => (0, self.size),
        };
        (self.store.read(&self.digest, start, end).await?).ok_or(RegistryError::BlobUnknown)
    }

    /// A URL the client may fetch the blob from directly, when the store
    /// is configured to redirect.
    pub async fn redirect(&self) -> Result<Option<String>> {
        Ok(self.store.redirect(&self.digest).await?)
    }
}

/// Pulls counted in memory and written in batches, so a pull never costs a
/// database write (Harbor's per-pull updates are a known write storm).
#[derive(Default)]
struct PullStats {
    /// artifact id → (repository id, pulls, last pull time)
    pending: HashMap<i64, (i64, i64, i64)>,
    /// (repository id, tag) → last pull by that tag
    tags: HashMap<(i64, String), i64>,
}

/// The registry engine.
pub struct Registry {
    db: Db,
    store: Store,
    uploads: Mutex<HashMap<Uuid, UploadSlot>>,
    pulls: Mutex<PullStats>,
    events: Events,
    policies: Arc<Chain>,
    trail: Trail,
    manifests: ManifestCache,
    descriptions: Descriptions,
}

impl Registry {
    /// Builds the engine on a database and a blob store; it tells `events`
    /// of pushes, pulls and deletes, and every write and pull passes
    /// `policies`; it records each change and pull on `trail`. Pulls
    /// read manifests through `manifests`.
    pub fn new(
        db: Db,
        store: Store,
        events: Events,
        policies: Chain,
        trail: Trail,
        manifests: ManifestCache,
    ) -> Self {
        Registry {
            db,
            store,
            uploads: Mutex::new(HashMap::new()),
            pulls: Mutex::new(PullStats::default()),
            events,
            policies: Arc::new(policies),
            trail,
            manifests,
            descriptions: Descriptions::default(),
        }
    }

    /// The manifests kept for pulls.
    pub fn manifest_cache(&self) -> &ManifestCache {
        &self.manifests
    }

    /// The database (for health checks, and the services beside it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    // ----- blobs -----

    /// A blob linked to the repository. Its row is the truth: a blob's
    /// bytes are stored before its row commits and deleted only after the
    /// row is gone, so HEAD needs no storage request.
    pub async fn blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Blob> {
        let size = blobs::linked_size(self.db.reader(), repo.as_str(), &digest.to_string())
            .await?
            .ok_or(RegistryError::BlobUnknown)? as u64;
        Ok(Blob {
            size,
            digest: digest.clone(),
            store: self.store.clone(),
        })
    }

    /// A blob served over `/v2`, once the policies allow the pull.
    #[tracing::instrument(level = "debug", name = "registry.serve_blob", skip_all)]
    pub async fn serve_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<Blob> {
        let blob = self.blob(repo, digest).await?;
        self.policies
            .check_pull(&Read::Blob { repo, digest })
            .await?;
        Ok(blob)
    }

    /// A small blob linked to the repository (an image config), read whole;
    /// anything over `max` bytes is refused rather than buffered.
    pub async fn read_small_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        max: u64,
    ) -> Result<Vec<u8>> {
        read_whole(self.blob(repo, digest).await?, digest, max).await
    }

    /// Hands a blob linked to the repository to a blocking parser (a chart's
    /// archive) on a worker thread, streamed to it rather than buffered.
    pub async fn read_blob_with<T: Send + 'static>(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        parse: impl FnOnce(Box<dyn std::io::Read + Send>) -> T + Send + 'static,
    ) -> Result<T> {
        let stream = self.blob(repo, digest).await?.open(None).await?;
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        tokio::task::spawn_blocking(move || parse(Box::new(reader)))
            .await
            .map_err(|e| RegistryError::Storage(StorageError::Io(std::io::Error::other(e))))
    }

    /// What Harbor's processors say of a manifest: its type and media type,
    /// and the attributes of its config when its type takes them from there
    /// (a config that cannot be read or parsed leaves them out).
    pub async fn describe(&self, m: &Manifest) -> Described {
        self.described(m).await.0
    }

    /// `describe`'s answer, and whether it is final: not when a config it
    /// needed could not be read or parsed (it may be pushed later).
    async fn described(&self, m: &Manifest) -> (Described, bool) {
        let harbor_type = artifact::harbor_type(m);
        let mut extra_attrs = None;
        let mut whole = true;
        if let Some(c) = m
            .config
            .as_ref()
            .filter(|_| artifact::reads_config(m, &harbor_type))
        {
            let bytes = (self.store)
                .read_small(&c.digest, c.size, artifact::MAX_CONFIG_SIZE)
                .await;
            match bytes
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(config) => {
                    let attrs = artifact::extra_attrs(m, &harbor_type, &config);
                    extra_attrs =
                        (!attrs.is_empty()).then(|| serde_json::Value::Object(attrs).to_string());
                }
                None => whole = false,
            }
        }
        let described = Described {
            media_type: artifact::media_type(m),
            harbor_type,
            extra_attrs,
        };
        (described, whole)
    }

    /// Unlinks a blob from a repository (storage is reclaimed by GC).
    #[tracing::instrument(level = "debug", name = "registry.delete_blob", skip_all)]
    pub async fn delete_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !blobs::unlink(&mut *tx, repo.as_str(), &digest.to_string()).await? {
            return Err(RegistryError::BlobUnknown);
        }
        berth_db::commit(tx).await?;
        Ok(())
    }

    /// Links a blob from `from` into `repo`; false if `from` does not have it.
    #[tracing::instrument(level = "debug", name = "registry.mount_blob", skip_all)]
    pub async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
        operator: &str,
    ) -> Result<bool> {
        let link = Arc::new(BlobLink::new(repo, digest, operator));
        let (policies, from, l) = (Arc::clone(&self.policies), from.clone(), Arc::clone(&link));
        let mounted = (self.db)
            .write(move |tx| {
                let (policies, from, l) = (policies.clone(), from.clone(), l.clone());
                Box::pin(async move {
                    let (d, now) = (l.digest.to_string(), now_millis());
                    // Touching the blob keeps a concurrent garbage collection off it.
                    let Some(size) = blobs::touch_linked(&mut **tx, from.as_str(), &d, now).await?
                    else {
                        return Ok(None);
                    };
                    let (passed, repo_id) = l.admit(tx, &policies, size as u64, now).await?;
                    blobs::link(&mut **tx, repo_id, &d, now).await?;
                    Ok::<_, RegistryError>(Some((size, passed)))
                })
            })
            .await?;
        let Some((size, passed)) = mounted else {
            return Ok(false);
        };
        self.policies
            .after_write(&link.write(size as u64), passed)
            .await;
        Ok(true)
    }

    // ----- uploads -----

    /// Opens an upload session recorded in the database.
    #[tracing::instrument(level = "debug", name = "registry.start_upload", skip_all)]
    pub async fn start_upload(&self, repo: &RepositoryName) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let state = self.store.create_upload(id).await?;
        let row = Arc::new((id.to_string(), repo.clone(), state.to_bytes(), now_millis()));
        (self.db)
            .write(move |tx| {
                let row = Arc::clone(&row);
                Box::pin(async move {
                    let (id, repo, state, now) = &*row;
                    uploads::insert(&mut **tx, id, repo.as_str(), state, *now).await
                })
            })
            .await?;
        Ok(id)
    }

    /// Pushes a whole blob in one request (POST with `?digest=`).
    #[tracing::instrument(level = "debug", name = "registry.upload_monolithic", skip_all)]
    pub async fn upload_monolithic<S: BodyStream>(
        &self,
        (repo, operator): (&RepositoryName, &str),
        digest: &Digest,
        content_length: Option<u64>,
        body: S,
    ) -> Result<()> {
        // No session row: a crash leaves only unreferenced bytes in uploads/,
        // which the abandoned-upload purge removes.
        let id = Uuid::new_v4();
        let state = self.store.create_upload(id).await?;
        let unsaved: &Checkpoint = &|_| Box::pin(async {});
        let (state, written) = (self.store)
            .append(id, state, body, content_length, unsaved)
            .await;
        let result = match written {
            Ok(()) => {
                let upload = Upload {
                    id,
                    state: &state,
                    expected_size: content_length,
                    has_row: false,
                };
                self.complete((repo, operator), upload, digest).await
            }
            Err(e) => Err(e.into()),
        };
        // Done or failed, the upload's pieces go (a placed blob is elsewhere).
        self.store.delete_upload(id, Some(&state)).await?;
        result
    }

    /// The number of bytes an upload has received.
    pub async fn upload_size(&self, repo: &RepositoryName, id: &str) -> Result<(Uuid, u64)> {
        let (id, _serial, state) = self.session(repo, id).await?;
        Ok((id, state.len()))
    }

    /// Appends a chunk (PATCH). `range` is the optional `Content-Range`.
    #[tracing::instrument(level = "debug", name = "registry.upload_chunk", skip_all)]
    pub async fn upload_chunk<S: BodyStream>(
        &self,
        repo: &RepositoryName,
        id: &str,
        range: Option<ByteRange>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(Uuid, u64)> {
        let (id, _serial, state) = self.session(repo, id).await?;
        let limit = check_chunk(&state, range, content_length)?;
        let checkpoint = self.checkpoint(id);
        let (state, written) = (self.store)
            .append(id, state, body, limit, &checkpoint)
            .await;
        let size = state.len();
        self.save(id, &state).await?;
        written.map_err(|e| RegistryError::UploadInvalid(e.to_string()))?;
        if let Some(r) = range {
            if size != r.end + 1 {
                return Err(RegistryError::SizeInvalid(
                    "body shorter than Content-Range".into(),
                ));
            }
        }
        Ok((id, size))
    }

    /// Closes an upload (PUT with `?digest=`), with an optional last chunk.
    #[tracing::instrument(level = "debug", name = "registry.finish_upload", skip_all)]
    pub async fn finish_upload<S: BodyStream>(
        &self,
        (repo, operator): (&RepositoryName, &str),
        id: &str,
        digest: &Digest,
        range: Option<ByteRange>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<()> {
        let (id, _serial, state) = self.session(repo, id).await?;
        let before = state.len();
        let limit = check_chunk(&state, range, content_length)?;
        let checkpoint = self.checkpoint(id);
        let (state, written) = (self.store)
            .append(id, state, body, limit, &checkpoint)
            .await;
        if let Err(e) = written {
            self.save(id, &state).await?;
            return Err(RegistryError::UploadInvalid(e.to_string()));
        }
        let expected_total = match (range, content_length) {
            (Some(r), _) => Some(r.end + 1),
            (None, Some(n)) => Some(before + n),
            _ => None,
        };
        let upload = Upload {
            id,
            state: &state,
            expected_size: expected_total,
            has_row: true,
        };
        let result = self.complete((repo, operator), upload, digest).await;
        match &result {
            // A wrong digest ends the session, as Distribution does: the bytes
            // can never become the blob the client named.
            Err(RegistryError::DigestMismatch) => self.discard(id, &state).await?,
            // The session row went with the blob's commit.
            Ok(()) => self.forget(id, &state).await?,
            // Anything else may be retried: the session keeps what it received.
            Err(_) => self.save(id, &state).await?,
        }
        result
    }

    /// Cancels an upload session.
    #[tracing::instrument(level = "debug", name = "registry.cancel_upload", skip_all)]
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        let (id, _serial, state) = self.session(repo, id).await?;
        self.discard(id, &state).await
    }

    /// Ends an upload: its session row and its pieces.
    async fn discard(&self, id: Uuid, state: &UploadState) -> Result<()> {
        uploads::delete(self.db.writer(), &id.to_string()).await?;
        self.forget(id, state).await
    }

    /// Removes the pieces of an upload whose session row is gone.
    async fn forget(&self, id: Uuid, state: &UploadState) -> Result<()> {
        self.store.delete_upload(id, Some(state)).await?;
        crate::lock(&self.uploads).remove(&id);
        Ok(())
    }

    /// Saves an upload's state with its session row as the store reaches
    /// each of its parts.
    fn checkpoint(&self, id: Uuid) -> impl Fn(UploadState) -> BoxFuture<'static, ()> + Send + Sync {
        let db = self.db.clone();
        move |state: UploadState| {
            let db = db.clone();
            Box::pin(async move {
                let (id, size, bytes) = (id.to_string(), state.len() as i64, state.to_bytes());
                let saved = uploads::save(db.writer(), &id, size, &bytes, now_millis());
                if let Err(e) = saved.await {
                    tracing::warn!(upload = %id, error = %e, "saving an upload's progress");
                }
            })
        }
    }

    /// Saves what an upload received with its session row.
    async fn save(&self, id: Uuid, state: &UploadState) -> Result<()> {
        let (size, state) = (state.len() as i64, state.to_bytes());
        uploads::save(
            self.db.writer(),
            &id.to_string(),
            size,
            &state,
            now_millis(),
        )
        .await?;
        Ok(())
    }

    /// Verifies and commits an upload's bytes as a blob of `repo`.
    async fn complete(
        &self,
        (repo, operator): (&RepositoryName, &str),
        upload: Upload<'_>,
        digest: &Digest,
    ) -> Result<()> {
        let Upload {
            id,
            state,
            expected_size,
            has_row,
        } = upload;
        if let Some(n) = expected_size {
            if n != state.len() {
                return Err(RegistryError::SizeInvalid(format!(
                    "received {} bytes, expected {n}",
                    state.len()
                )));
            }
        }
        if state.digest() != *digest {
            return Err(RegistryError::DigestMismatch);
        }
        self.store.seal(id, state).await?;
        let link = Arc::new(BlobLink::new(repo, digest, operator));
        let (policies, store, l) = (
            Arc::clone(&self.policies),
            self.store.clone(),
            Arc::clone(&link),
        );
        let (size, state) = (state.len(), Arc::new(state.clone()));
        let passed = (self.db)
            .write(move |tx| {
                let (policies, store, l) = (policies.clone(), store.clone(), l.clone());
                let state = state.clone();
                Box::pin(async move {
                    let (d, now) = (l.digest.to_string(), now_millis());
                    let (passed, repo_id) = l.admit(tx, &policies, size, now).await?;
                    // Row first, bytes second: a garbage collection deleting this
                    // digest's bytes holds its row until they are gone, and one that
                    // comes later finds the row and spares them.
                    blobs::insert(&mut **tx, &d, size as i64, now).await?;
                    store.place(id, &state, &l.digest).await?;
                    blobs::link(&mut **tx, repo_id, &d, now).await?;
                    if has_row {
                        uploads::delete(&mut **tx, &id.to_string()).await?;
                    }
                    Ok::<_, RegistryError>(passed)
                })
            })
            .await?;
        self.policies.after_write(&link.write(size), passed).await;
        Ok(())
    }

    /// Holds this process's slot of a session of this repository (so its
    /// requests here run one at a time) and reads the session's state.
    async fn session(
        &self,
        repo: &RepositoryName,
        id: &str,
    ) -> Result<(Uuid, OwnedMutexGuard<()>, UploadState)> {
        let uuid = Uuid::parse_str(id).map_err(|_| RegistryError::UploadUnknown)?;
        let slot = crate::lock(&self.uploads).entry(uuid).or_default().clone();
        let serial = slot.lock_owned().await;
        match self.loaded(repo, uuid).await {
            Ok(state) => Ok((uuid, serial, state)),
            Err(e) => {
                drop(serial);
                // No slot is kept for an id that names no session here.
                let mut map = crate::lock(&self.uploads);
                if map.get(&uuid).is_some_and(|s| Arc::strong_count(s) == 1) {
                    map.remove(&uuid);
                }
                Err(e)
            }
        }
    }

    /// The upload's state as its session row saved it (read once the slot
    /// is held: the last request may have changed it).
    async fn loaded(&self, repo: &RepositoryName, id: Uuid) -> Result<UploadState> {
        let row = uploads::get(self.db.reader(), &id.to_string())
            .await?
            .filter(|row| row.repository_name == repo.as_str())
            .ok_or(RegistryError::UploadUnknown)?;
        let resumed = self.store.resume_upload(id, row.state.as_deref()).await;
        resumed.map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                RegistryError::UploadUnknown
            }
            e => e.into(),
        })
    }

    // ----- manifests -----

    /// Stores a manifest under a tag or digest, plus any extra tags (`?tag=`).
    #[tracing::instrument(level = "debug", name = "registry.put_manifest", skip_all)]
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: &[u8],
        extra_tags: Vec<Tag>,
        operator: &str,
    ) -> Result<PushedManifest> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge);
        }
        let digest = berth_storage::digest_of(body);
        let mut tag_list = extra_tags;
        match reference {
            Reference::Digest(d) if *d != digest => return Err(RegistryError::DigestMismatch),
            Reference::Digest(_) => {}
            Reference::Tag(t) => tag_list.insert(0, t.clone()),
        }
        let manifest = Manifest::parse(body, content_type).map_err(|e| match e {
            ManifestError::TooLarge => RegistryError::ManifestTooLarge,
            e => RegistryError::ManifestInvalid(e.to_string()),
        })?;
        let annotations = manifest
            .annotations
            .as_ref()
            .filter(|a| !a.is_empty())
            .and_then(|a| serde_json::to_string(a).ok());
        let described = match self.descriptions.get(&digest) {
            Some(known) => known,
            None => {
                let (described, whole) = self.described(&manifest).await;
                if whole {
                    self.descriptions.keep(&digest, &described);
                }
                described
            }
        };
        let push = Arc::new(ManifestPush {
            repo: repo.clone(),
            digest,
            manifest,
            body: body.to_vec(),
            tags: tag_list,
            operator: operator.to_string(),
            annotations,
            described,
        });
        let (policies, events) = (Arc::clone(&self.policies), self.events.clone());
        let p = Arc::clone(&push);
        let written = (self.db)
            .write(move |tx| {
                let (p, policies, events) = (p.clone(), policies.clone(), events.clone());
                Box::pin(async move { p.store(tx, &policies, &events).await })
            })
            .await;
        let (passed, staged, stored) = match written {
            Ok(done) => done,
            // A garbage collection removed a blob after it was checked.
            Err(RegistryError::Db(e)) if e.is_foreign_key_violation() => {
                let blobs = push.blob_digests();
                let names: Vec<&str> = blobs.iter().map(String::as_str).collect();
                let present = blobs::recorded(self.db.reader(), &names).await?;
                let gone = (blobs.iter())
                    .find(|d| !present.contains(d))
                    .and_then(|d| Digest::parse(d).ok());
                return Err(match gone {
                    Some(d) => RegistryError::ManifestBlobUnknown(d),
                    None => e.into(),
                });
            }
            Err(e) => return Err(e),
        };
        self.manifests.forget(repo.as_str());
        staged.committed();
        self.policies.after_write(&push.write(stored), passed).await;
        let pushed = Target::Artifact(repo, &reference.to_string());
        self.trail
            .record(operator, Operation::Create, &pushed, true);
        Ok(PushedManifest {
            digest: push.digest.clone(),
            subject: push.manifest.subject.as_ref().map(|s| s.digest.clone()),
            tags: push.tags.clone(),
        })
    }

    /// A pull of a served manifest: counted (flushed later by
    /// `flush_pulls`) and told to subscribers with its digest and the tag
    /// it was pulled by, if any.
    pub fn pulled(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        m: &ManifestRow,
        operator: &str,
    ) {
        let now = now_millis();
        let tags = match reference {
            Reference::Digest(_) => Vec::new(),
            Reference::Tag(t) => vec![t.as_str().to_string()],
        };
        let pulled = Target::Artifact(repo, &reference.to_string());
        self.trail.record(operator, Operation::Pull, &pulled, true);
        {
            let mut stats = crate::lock(&self.pulls);
            let e = stats.pending.entry(m.id).or_insert((m.repository_id, 0, 0));
            e.1 += 1;
            e.2 = now;
            if let Some(t) = tags.first() {
                stats.tags.insert((m.repository_id, t.clone()), now);
            }
        }
        self.events.publish(Event::ArtifactPulled(Artifact {
            repo: repo.clone(),
            digest: m.digest.clone(),
            tags,
            operator: operator.to_string(),
            at: now,
        }));
    }

    /// Writes the pulls counted since the last flush in one transaction.
    pub async fn flush_pulls(&self) -> Result<()> {
        let PullStats { pending, tags } = std::mem::take(&mut *crate::lock(&self.pulls));
        if pending.is_empty() {
            return Ok(());
        }
        let mut per_repo: HashMap<i64, i64> = HashMap::new();
        let mut tx = self.db.begin().await?;
        for (artifact, (repo, count, at)) in &pending {
            artifacts::add_pulls(&mut *tx, *artifact, *count, *at).await?;
            *per_repo.entry(*repo).or_default() += count;
        }
        for (repo, count) in per_repo {
            repositories::add_pulls(&mut *tx, repo, count).await?;
        }
        for ((repo, tag), at) in &tags {
            berth_db::tags::pulled(&mut *tx, *repo, tag, *at).await?;
        }
        berth_db::commit(tx).await?;
        Ok(())
    }

    /// Copies an artifact (and, for an index, its children) with its tags
    /// from one repository to another: blobs are linked, never duplicated.
    pub fn copy_manifest<'a>(
        &'a self,
        src: &'a RepositoryName,
        reference: &'a Reference,
        dst: &'a RepositoryName,
        operator: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Digest>> + Send + 'a>> {
        Box::pin(async move {
            let row = self.get_manifest(src, reference).await?;
            let manifest = Manifest::parse(&row.manifest, Some(&row.media_type))
                .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
            for child in &manifest.manifests {
                self.copy_manifest(src, &Reference::Digest(child.digest.clone()), dst, operator)
                    .await?;
            }
            let tags: Vec<Tag> = match reference {
                Reference::Tag(t) => vec![t.clone()],
                Reference::Digest(_) => artifacts::tag_names(self.db.reader(), row.id)
                    .await?
                    .iter()
                    .filter_map(|t| Tag::parse(t).ok())
                    .collect(),
            };
            let now = now_millis();
            let mut tx = self.db.begin().await?;
            let dst_id =
                repositories::ensure(&mut *tx, dst.as_str(), dst.project(), now, false).await?;
            let mut linked = Vec::new();
            for blob in manifest.required_blobs() {
                let d = blob.digest.to_string();
                let Some(size) = blobs::linked_size(&mut *tx, src.as_str(), &d).await? else {
                    return Err(RegistryError::ManifestBlobUnknown(blob.digest.clone()));
                };
                let write = Write::PutBlob {
                    repo: dst,
                    digest: &blob.digest,
                    size: size as u64,
                    operator,
                };
                let passed = self.policies.check_write(&mut tx, &write).await?;
                blobs::link(&mut *tx, dst_id, &d, now).await?;
                linked.push((write, passed));
            }
            berth_db::commit(tx).await?;
            for (write, passed) in linked {
                self.policies.after_write(&write, passed).await;
            }
            let digest = Digest::parse(&row.digest)
                .map_err(|e| RegistryError::DigestInvalid(e.to_string()))?;
            self.put_manifest(
                dst,
                &Reference::Digest(digest.clone()),
                Some(&row.media_type),
                &row.manifest,
                tags,
                operator,
            )
            .await?;
            Ok(digest)
        })
    }

    /// A manifest served over `/v2`, once the policies allow the pull.
    #[tracing::instrument(level = "debug", name = "registry.serve_manifest", skip_all)]
    pub async fn serve_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        puller: Puller,
    ) -> Result<Arc<ManifestRow>> {
        let read = self.read_manifest(repo, reference);
        let key = reference.to_string();
        let row = match self.manifests.get(repo.as_str(), &key, read).await? {
            Some(row) => row,
            None => return Err(self.missing_manifest(repo).await),
        };
        self.policies
            .check_pull(&Read::Manifest {
                repo,
                digest: &row.digest,
                puller,
            })
            .await?;
        Ok(row)
    }

    /// Why the policies refuse an ordinary client's pull of manifest
    /// `digest` now (content trust …), if they do: the portal says so.
    pub async fn pull_refusal(
        &self,
        repo: &RepositoryName,
        digest: &str,
    ) -> Result<Option<String>> {
        let read = Read::Manifest {
            repo,
            digest,
            puller: Puller::default(),
        };
        match self.policies.check_pull(&read).await {
            Ok(()) => Ok(None),
            Err(RegistryError::PolicyViolation(why)) => Ok(Some(why)),
            Err(e) => Err(e),
        }
    }

    /// A manifest by tag or digest.
    pub async fn get_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestRow> {
        match self.read_manifest(repo, reference).await? {
            Some(r) => Ok(r),
            None => Err(self.missing_manifest(repo).await),
        }
    }

    async fn read_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<ManifestRow>, berth_db::DbError> {
        let pool = self.db.reader();
        match reference {
            Reference::Tag(t) => artifacts::by_tag(pool, repo.as_str(), t.as_str()).await,
            Reference::Digest(d) => artifacts::by_digest(pool, repo.as_str(), &d.to_string()).await,
        }
    }

    async fn missing_manifest(&self, repo: &RepositoryName) -> RegistryError {
        match repositories::id_by_name(self.db.reader(), repo.as_str()).await {
            Ok(Some(_)) => RegistryError::ManifestUnknown,
            Ok(None) => RegistryError::NameUnknown,
            Err(e) => e.into(),
        }
    }

    /// Deletes a tag, or a manifest by digest (with its tags).
    #[tracing::instrument(level = "debug", name = "registry.delete_manifest", skip_all)]
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        operator: &str,
    ) -> Result<()> {
        let d = match reference {
            Reference::Tag(t) => {
                return match self.delete_tag(repo, t.as_str(), operator).await? {
                    true => Ok(()),
                    false => Err(self.missing_manifest(repo).await),
                }
            }
            Reference::Digest(d) => d.to_string(),
        };
        let mut tx = self.db.begin().await?;
        let Some(row) = artifacts::by_digest(&mut *tx, repo.as_str(), &d).await? else {
            drop(tx);
            return Err(self.missing_manifest(repo).await);
        };
        let write = Write::DeleteArtifact {
            repo,
            artifact_id: row.id,
            digest: &d,
        };
        let passed = self.policies.check_write(&mut tx, &write).await?;
        let tags = artifacts::tag_names(&mut *tx, row.id).await?;
        let freed = delete_deeply(&mut tx, row.repository_id, row.id, &row.digest).await?;
        quotas::release(&mut tx, repo.project(), &freed).await?;
        let event = Event::ArtifactDeleted(Artifact {
            repo: repo.clone(),
            digest: row.digest,
            tags,
            operator: operator.to_string(),
            at: now_millis(),
        });
        let staged = self.events.stage(&mut tx, event).await?;
        berth_db::commit(tx).await?;
        self.manifests.forget(repo.as_str());
        staged.committed();
        self.policies.after_write(&write, passed).await;
        let deleted = Target::Artifact(repo, &d);
        self.trail
            .record(operator, Operation::Delete, &deleted, true);
        Ok(())
    }

    /// Adds a tag to a stored artifact of the repository; false if the
    /// repository has the tag already.
    #[tracing::instrument(level = "debug", name = "registry.add_tag", skip_all)]
    pub async fn add_tag(
        &self,
        repo: &RepositoryName,
        repository_id: i64,
        artifact_id: i64,
        tag: &Tag,
        operator: &str,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let write = Write::AddTag {
            repo,
            artifact_id,
            tag,
        };
        let passed = self.policies.check_write(&mut tx, &write).await?;
        let ids = (repository_id, artifact_id);
        let added = tags::put(&mut *tx, ids, tag.as_str(), now_millis(), Existing::Keep).await?;
        berth_db::commit(tx).await?;
        if added {
            self.policies.after_write(&write, passed).await;
            let tagged = Target::Tag(repo, tag.as_str());
            self.trail
                .record(operator, Operation::Create, &tagged, true);
        }
        Ok(added)
    }

    /// Removes a tag; false if the repository has no such tag.
    #[tracing::instrument(level = "debug", name = "registry.delete_tag", skip_all)]
    pub async fn delete_tag(
        &self,
        repo: &RepositoryName,
        tag: &str,
        operator: &str,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let write = Write::DeleteTag { repo, tag };
        let passed = self.policies.check_write(&mut tx, &write).await?;
        let deleted = tags::delete(&mut *tx, repo.as_str(), tag).await?;
        berth_db::commit(tx).await?;
        self.manifests.forget(repo.as_str());
        if deleted {
            self.policies.after_write(&write, passed).await;
            let untagged = Target::Tag(repo, tag);
            self.trail
                .record(operator, Operation::Delete, &untagged, true);
        }
        Ok(deleted)
    }

    /// Deletes a repository with its artifacts and tags; each artifact's
    /// deletion is an event, as if it had been deleted on its own. False if
    /// there was no such repository.
    #[tracing::instrument(level = "debug", name = "registry.delete_repository", skip_all)]
    pub async fn delete_repository(&self, repo: &RepositoryName, operator: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let write = Write::DeleteRepository { repo };
        let passed = self.policies.check_write(&mut tx, &write).await?;
        let artifacts = artifacts::digests_and_tags(&mut *tx, repo.as_str()).await?;
        let used = artifacts::used_in_repository(&mut *tx, repo.as_str()).await?;
        if !repositories::delete(&mut tx, repo.as_str()).await? {
            return Ok(false);
        }
        quotas::release(&mut tx, repo.project(), &used).await?;
        let at = now_millis();
        let mut staged = Vec::with_capacity(artifacts.len());
        for (digest, tags) in artifacts {
            let event = Event::ArtifactDeleted(Artifact {
                repo: repo.clone(),
                digest,
                tags,
                operator: operator.to_string(),
                at,
            });
            staged.push(self.events.stage(&mut tx, event).await?);
        }
        berth_db::commit(tx).await?;
        self.manifests.forget(repo.as_str());
        for s in staged {
            s.committed();
        }
        self.policies.after_write(&write, passed).await;
        let deleted = Target::Repository(repo.as_str());
        self.trail
            .record(operator, Operation::Delete, &deleted, true);
        Ok(true)
    }

    // ----- listings -----

    /// One page of a repository's tags, and whether more follow.
    #[tracing::instrument(level = "debug", name = "registry.tags", skip_all)]
    pub async fn tags(
        &self,
        repo: &RepositoryName,
        n: Option<i64>,
        last: Option<&str>,
    ) -> Result<(Vec<String>, bool)> {
        let id = repositories::id_by_name(self.db.reader(), repo.as_str())
            .await?
            .ok_or(RegistryError::NameUnknown)?;
        let limit = page_limit(n);
        let mut page = tags::list(self.db.reader(), id, last.unwrap_or(""), limit + 1).await?;
        Ok(truncate(&mut page, limit))
    }

    /// One page of the catalog, and whether more follow.
    #[tracing::instrument(level = "debug", name = "registry.catalog", skip_all)]
    pub async fn catalog(&self, n: Option<i64>, last: Option<&str>) -> Result<(Vec<String>, bool)> {
        let limit = page_limit(n);
        let mut page =
            repositories::catalog(self.db.reader(), last.unwrap_or(""), limit + 1).await?;
        Ok(truncate(&mut page, limit))
    }

    /// Manifests in the repository whose subject is `digest`.
    #[tracing::instrument(level = "debug", name = "registry.referrers", skip_all)]
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        Ok(artifacts::referrers(
            self.db.reader(),
            repo.as_str(),
            &digest.to_string(),
            artifact_type,
        )
        .await?)
    }
}

/// Checks a chunk's `Content-Range`/`Content-Length` against the upload and
/// returns how many bytes the body may carry.
fn check_chunk(
    state: &UploadState,
    range: Option<ByteRange>,
    content_length: Option<u64>,
) -> Result<Option<u64>> {
    match range {
        Some(r) => {
            if r.start != state.len() {
                return Err(RegistryError::OutOfOrder { size: state.len() });
            }
            if content_length.is_some_and(|n| n != r.len()) {
                return Err(RegistryError::SizeInvalid(
                    "Content-Length does not match Content-Range".into(),
                ));
            }
            Ok(Some(r.len()))
        }
        None => Ok(content_length),
    }
}

fn page_limit(n: Option<i64>) -> i64 {
    n.unwrap_or(MAX_PAGE).clamp(0, MAX_PAGE)
}

fn truncate(page: &mut Vec<String>, limit: i64) -> (Vec<String>, bool) {
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    (std::mem::take(page), more)
}

/// Deletes an artifact with what goes with it, as Harbor does: its
/// accessories (unless an index still lists one) and its children that no
/// tag and no other index keeps, and theirs in turn. Only the artifact
/// itself is announced, as in Harbor. The caller has checked that no index
/// lists it. Returns the digests the deleted artifacts were and used, for
/// the project's quota to release.
async fn delete_deeply(
    tx: &mut berth_db::Tx,
    repository_id: i64,
    id: i64,
    digest: &str,
) -> Result<Vec<String>> {
    let mut used = Vec::new();
    // (id, digest, whether a tag keeps it: true for children, not for
    // accessories, whose cosign tag only names their subject).
    let mut pending = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut next = Some((id, digest.to_string()));
    while let Some((id, digest)) = next.take() {
        if seen.insert(id) {
            let children = artifacts::children(&mut **tx, id).await?;
            let accessories =
                artifacts::hard_accessories(&mut **tx, repository_id, &digest).await?;
            used.extend(artifacts::blob_digests(&mut **tx, id).await?);
            artifacts::delete(&mut **tx, id).await?;
            used.push(digest.clone());
            pending.extend(children.into_iter().map(|(i, d)| (i, d, true)));
            pending.extend(accessories.into_iter().map(|(i, d)| (i, d, false)));
        }
        while let Some((id, digest, tag_keeps)) = pending.pop() {
            if seen.contains(&id)
                || (tag_keeps && !artifacts::tag_names(&mut **tx, id).await?.is_empty())
                || artifacts::has_parent(&mut **tx, id).await?
            {
                continue;
            }
            next = Some((id, digest));
            break;
        }
    }
    Ok(used)
}

/// A blob of at most `max` bytes, read whole.
async fn read_whole(blob: Blob, digest: &Digest, max: u64) -> Result<Vec<u8>> {
    use futures_util::TryStreamExt;
    if blob.size > max {
        return Err(RegistryError::SizeInvalid(format!(
            "blob {digest} is larger than {max} bytes"
        )));
    }
    let chunks: Vec<Bytes> = blob
        .open(None)
        .await?
        .try_collect()
        .await
        .map_err(StorageError::from)?;
    Ok(chunks.concat())
}

/// A manifest push, owned, for its transaction on the writer's thread.
struct ManifestPush {
    repo: RepositoryName,
    digest: Digest,
    manifest: Manifest,
    body: Vec<u8>,
    tags: Vec<Tag>,
    operator: String,
    annotations: Option<String>,
    described: Described,
}

impl ManifestPush {
    /// The write the policies judge; `stored` when the repository holds
    /// the manifest already.
    fn write(&self, stored: bool) -> Write<'_> {
        Write::PushManifest {
            repo: &self.repo,
            digest: &self.digest,
            manifest: &self.manifest,
            size: self.body.len() as u64,
            tags: &self.tags,
            operator: &self.operator,
            stored,
        }
    }

    /// The blobs the manifest references, each once, sorted.
    fn blob_digests(&self) -> Vec<String> {
        (self.manifest.required_blobs())
            .map(|d| d.digest.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Checks the manifest against what the repository holds and stores
    /// it with its tags, inside `tx`; returns what to publish once it has
    /// committed, and whether the repository held the manifest already (a
    /// push of more tags: its blobs and children were checked and counted
    /// when it was first pushed). A blob a collection took since it was
    /// checked fails with a foreign-key violation.
    async fn store(
        &self,
        tx: &mut Tx,
        policies: &Chain,
        events: &Events,
    ) -> Result<(Passed, Staged, bool)> {
        let repo = &self.repo;
        let now = now_millis();
        let d = self.digest.to_string();
        // The project's quota row first, as every writer of its usage and
        // every delete takes it (PostgreSQL's lock order): the artifact
        // found here cannot be deleted before the push commits.
        quotas::lock(&mut **tx, repo.project(), now).await?;
        let (repo_id, stored) =
            repositories::ensure_holding(&mut **tx, repo.as_str(), repo.project(), now, &d).await?;
        let passed = policies
            .check_write(tx, &self.write(stored.is_some()))
            .await?;
        let id = match stored {
            Some(id) => id,
            None => self.insert(tx, repo_id, &d, now).await?,
        };
        for tag in &self.tags {
            tags::put(&mut **tx, (repo_id, id), tag.as_str(), now, Existing::Move).await?;
        }
        let event = Event::ArtifactPushed(Artifact {
            repo: repo.clone(),
            digest: d,
            tags: self.tags.iter().map(|t| t.as_str().to_string()).collect(),
            operator: self.operator.clone(),
            at: now,
        });
        Ok((passed, events.stage(tx, event).await?, stored.is_some()))
    }

    /// Adds the manifest as a new artifact of the repository with id
    /// `repo_id`, once its blobs and children are found there; its id.
    async fn insert(&self, tx: &mut Tx, repo_id: i64, d: &str, now: i64) -> Result<i64> {
        let manifest = &self.manifest;
        let mut size = self.body.len() as u64;
        let blob_digests = self.blob_digests();
        let stored = blobs::linked_sizes(&mut **tx, repo_id, &blob_digests).await?;
        for desc in manifest.required_blobs() {
            let stored = *(stored.get(&desc.digest.to_string()))
                .ok_or_else(|| RegistryError::ManifestBlobUnknown(desc.digest.clone()))?;
            if stored as u64 != desc.size {
                return Err(RegistryError::ManifestInvalid(format!(
                    "descriptor of {} says {} bytes, the blob has {stored}",
                    desc.digest, desc.size
                )));
            }
        }
        // Each distinct blob once (its size is its descriptors', as checked).
        size += stored.values().sum::<i64>() as u64;
        let mut children = Vec::new();
        if manifest.kind == ManifestKind::Index {
            for desc in &manifest.manifests {
                let child =
                    artifacts::id_in_repository(&mut **tx, repo_id, &desc.digest.to_string())
                        .await?
                        .ok_or_else(|| RegistryError::ManifestBlobUnknown(desc.digest.clone()))?;
                children.push(child);
                size += desc.size;
            }
        }
        let subject = manifest.subject.as_ref().map(|s| s.digest.to_string());
        let id = artifacts::upsert(
            &mut **tx,
            &NewArtifact {
                repository_id: repo_id,
                digest: d,
                media_type: &manifest.media_type,
                artifact_type: manifest.artifact_type.as_deref(),
                manifest: &self.body,
                size: size as i64,
                subject_digest: subject.as_deref(),
                annotations: self.annotations.as_deref(),
                described: &self.described,
                now,
            },
        )
        .await?;
        artifacts::add_blobs(tx, id, &blob_digests).await?;
        for child in children {
            artifacts::add_child(&mut **tx, id, child).await?;
        }
        Ok(id)
    }
}

/// A blob being linked into a repository (uploaded or mounted), owned, for
/// its transaction on the writer's thread.
struct BlobLink {
    repo: RepositoryName,
    digest: Digest,
    operator: String,
}

impl BlobLink {
    fn new(repo: &RepositoryName, digest: &Digest, operator: &str) -> Self {
        BlobLink {
            repo: repo.clone(),
            digest: digest.clone(),
            operator: operator.to_string(),
        }
    }

    /// The write the policies judge, for a blob of `size` bytes.
    fn write(&self, size: u64) -> Write<'_> {
        Write::PutBlob {
            repo: &self.repo,
            digest: &self.digest,
            size,
            operator: &self.operator,
        }
    }

    /// Passes the policies and makes sure the repository exists; returns
    /// what they raised and the repository's id.
    async fn admit(
        &self,
        tx: &mut Tx,
        policies: &Chain,
        size: u64,
        now: i64,
    ) -> Result<(Passed, i64)> {
        let passed = policies.check_write(tx, &self.write(size)).await?;
        let repo = &self.repo;
        let id = repositories::ensure(&mut **tx, repo.as_str(), repo.project(), now, false).await?;
        Ok((passed, id))
    }
}
