//! Content-addressed blob storage: on the local filesystem (`fs`) or in an
//! object store — S3 and S3-compatible stores, Google Cloud Storage, Azure
//! Blob — (`object`), behind one `Store`.
//!
//! Committed blobs live at `blobs/sha256/<first two hex>/<hex>`; uploads in
//! progress under `uploads/<uuid>`.
//!
//! Architecture invariants: a blob appears at its content address only
//! complete, its digest verified while it was received; no path or key is
//! built from anything but a parsed `Digest` or `Uuid`.

mod fs;
pub mod metrics;
mod object;

pub use fs::FsStore;
pub use object::{ObjectConfig, ObjectStore};

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256};
use std::future::Future;
use std::io;
use std::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

/// Errors from the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    #[error("upload body: {0}")]
    Body(String),
    #[error("storage configuration: {0}")]
    Config(String),
}

/// Bytes of a blob, streamed.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

/// Saves an upload's state in the middle of a request, where the store
/// keeps no record of its own (an object store's parts).
pub type Checkpoint = dyn Fn(UploadState) -> BoxFuture<'static, ()> + Send + Sync;

/// The running hash of an upload. Its state can be saved (104 bytes) and
/// resumed, so any process may take the next chunk of an upload.
#[derive(Clone, Default)]
pub struct UploadHash {
    hasher: Sha256,
    len: u64,
}

/// The sha256 digest of a byte string.
pub fn digest_of(data: &[u8]) -> Digest {
    Digest::from_sha256_bytes(&Sha256::digest(data).into())
}

impl UploadHash {
    /// Bytes hashed so far (equals the upload's size).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    /// The digest of everything hashed so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256_bytes(&self.hasher.clone().finalize().into())
    }
}

/// Where an upload stands: its hash, and in an object store the parts
/// uploaded so far and the bytes after them. Saved with the upload's
/// session row after every request, so the next may land anywhere.
#[derive(Clone, Default)]
pub struct UploadState {
    hash: UploadHash,
    /// Object stores: the multipart upload, once a part was sent.
    multipart: Option<String>,
    /// Object stores: the parts' ids (ETags), in order.
    parts: Vec<String>,
    /// Object stores: the key suffix and length of the bytes received
    /// after the last part.
    tail: Option<(String, u64)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedState {
    hash: String,
    len: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail: Option<(String, u64)>,
}

impl UploadState {
    /// The digest of what was received.
    pub fn digest(&self) -> Digest {
        self.hash.digest()
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.hash.len
    }

    /// Whether nothing was received yet.
    pub fn is_empty(&self) -> bool {
        self.hash.len == 0
    }

    /// The state as saved in the database.
    pub fn to_bytes(&self) -> Vec<u8> {
        let saved = SavedState {
            hash: hex::encode(self.hash.hasher.serialize()),
            len: self.hash.len,
            multipart: self.multipart.clone(),
            parts: self.parts.clone(),
            tail: self.tail.clone(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// A saved state; None if it cannot be read.
    pub fn from_bytes(bytes: &[u8]) -> Option<UploadState> {
        let saved: SavedState = serde_json::from_slice(bytes).ok()?;
        let raw = hex::decode(&saved.hash).ok()?;
        let hasher = Sha256::deserialize(raw.as_slice().try_into().ok()?).ok()?;
        Some(UploadState {
            hash: UploadHash {
                hasher,
                len: saved.len,
            },
            multipart: saved.multipart,
            parts: saved.parts,
            tail: saved.tail,
        })
    }
}

/// The blob store Berth runs on.
#[derive(Clone, Debug)]
pub enum Store {
    Fs(FsStore),
    Object(ObjectStore),
}

impl Store {
    /// Runs a storage action in a span of its own and times it.
    async fn action<T>(&self, name: &'static str, work: impl Future<Output = T>) -> T {
        let span = tracing::debug_span!("storage", otel.name = name, storage.driver = self.kind());
        let started = Instant::now();
        let out = work.instrument(span).await;
        metrics::observe(self.kind(), name, started.elapsed());
        out
    }

    /// What the store is, for logs and health ("filesystem", "s3" …).
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Fs(_) => "filesystem",
            Store::Object(o) => o.kind(),
        }
    }

    /// Whether the store answers (lists its blobs' first key).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.action("List", async {
            match self {
                Store::Fs(f) => f.check().await,
                Store::Object(o) => o.check().await,
            }
        })
        .await
    }

    /// Streams bytes `start..end` of a committed blob; None if it is not
    /// there (a collection deleted it meanwhile).
    pub async fn read(
        &self,
        digest: &Digest,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, StorageError> {
        self.action("Reader", async {
            match self {
                Store::Fs(f) => f.read(digest, start, end).await,
                Store::Object(o) => o.read(digest, start, end).await,
            }
        })
        .await
    }

    /// A committed blob of at most `max` bytes, read whole; None if it is
    /// not there or larger.
    pub async fn read_small(
        &self,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        if size > max {
            return Ok(None);
        }
        if let Store::Fs(f) = self {
            return self.action("Reader", f.read_whole(digest, size)).await;
        }
        let Some(mut stream) = self.read(digest, 0, size).await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Some(out))
    }

    /// A short-lived URL the client may fetch the blob from directly, when
    /// the store is configured to redirect.
    pub async fn redirect(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        match self {
            Store::Fs(_) => Ok(None),
            Store::Object(o) => self.action("RedirectURL", o.redirect(digest)).await,
        }
    }

    /// Starts an upload.
    pub async fn create_upload(&self, id: Uuid) -> Result<UploadState, StorageError> {
        match self {
            Store::Fs(f) => self.action("Writer", f.create_upload(id)).await,
            Store::Object(_) => Ok(UploadState::default()),
        }
    }

    /// An upload's state from what its session row saved (None: saved
    /// by a version that kept none).
    pub async fn resume_upload(
        &self,
        id: Uuid,
        saved: Option<&[u8]>,
    ) -> Result<UploadState, StorageError> {
        let state = saved.and_then(UploadState::from_bytes);
        match self {
            Store::Fs(f) => self.action("Stat", f.resume_upload(id, state)).await,
            Store::Object(_) => state.ok_or_else(|| {
                StorageError::Io(io::Error::new(io::ErrorKind::NotFound, "upload state lost"))
            }),
        }
    }

    /// Streams `body` onto the end of an upload, hashing as it goes.
    /// Returns the new state, also on a body error: the bytes received stay,
    /// and the client may resume from the offset reported.
    pub async fn append<S, E>(
        &self,
        id: Uuid,
        state: UploadState,
        body: S,
        limit: Option<u64>,
        checkpoint: &Checkpoint,
    ) -> (UploadState, Result<(), StorageError>)
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        self.action("Writer", async {
            match self {
                Store::Fs(f) => f.append(id, state, body, limit).await,
                Store::Object(o) => o.append(id, state, body, limit, checkpoint).await,
            }
        })
        .await
    }

    /// Makes an upload's bytes whole and durable at their content address
    /// before the blob's transaction, so `place` has only to confirm them
    /// there (a file fsynced and hard-linked, its directory fsynced; an
    /// object store's parts joined and the whole copied). May be called
    /// again.
    pub async fn seal(&self, id: Uuid, state: &UploadState) -> Result<(), StorageError> {
        self.action("Commit", async {
            match self {
                Store::Fs(f) => f.seal(id, &state.digest()).await,
                Store::Object(o) => o.seal(id, state).await,
            }
        })
        .await
    }

    /// Makes sure a sealed upload is at its content address, putting it
    /// there again if a collection took it since `seal`. Called while the
    /// blob's row is held, so a collection of the same digest cannot
    /// interleave.
    pub async fn place(
        &self,
        id: Uuid,
        state: &UploadState,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        self.action("Move", async {
            match self {
                Store::Fs(f) => f.place(id, digest).await,
                Store::Object(o) => o.place(id, state, digest).await,
            }
        })
        .await
    }

    /// Removes what an upload left (its file, parts and pieces); missing
    /// is fine. Without its state, an object store lists the upload's keys.
    pub async fn delete_upload(
        &self,
        id: Uuid,
        state: Option<&UploadState>,
    ) -> Result<(), StorageError> {
        self.action("Delete", async {
            match self {
                Store::Fs(f) => f.delete_upload(id).await,
                Store::Object(o) => o.delete_upload(id, state).await,
            }
        })
        .await
    }

    /// Uploads nothing was written to for `age`.
    pub async fn old_uploads(&self, age: std::time::Duration) -> Result<Vec<Uuid>, StorageError> {
        self.action("List", async {
            match self {
                Store::Fs(f) => f.old_uploads(age).await,
                Store::Object(o) => o.old_uploads(age).await,
            }
        })
        .await
    }

    /// Deletes committed blobs; missing ones are fine.
    pub async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        self.action("Delete", async {
            match self {
                Store::Fs(f) => f.delete_blobs(digests).await,
                Store::Object(o) => o.delete_blobs(digests).await,
            }
        })
        .await
    }

    /// Waits until the bytes of blobs deleted so far are gone from the
    /// backend (an object store's deletes are done when they return).
    pub async fn reclaimed(&self) {
        if let Store::Fs(f) = self {
            f.reclaimed().await
        }
    }

    /// Every committed blob in the store.
    pub async fn list_blobs(&self) -> Result<Vec<Digest>, StorageError> {
        self.action("Walk", async {
            match self {
                Store::Fs(f) => f.list_blobs().await,
                Store::Object(o) => o.list_blobs().await,
            }
        })
        .await
    }
}

/// The digest a blob key's file name names (`<hex>`), if it is one.
fn digest_of_name(name: &str) -> Option<Digest> {
    Digest::parse(&format!("sha256:{name}")).ok()
}

/// The body's chunks, failing once it runs past `limit` bytes.
fn limited<S, E>(
    body: S,
    limit: Option<u64>,
) -> impl Stream<Item = Result<Bytes, StorageError>> + Unpin
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut seen = 0u64;
    body.map(move |chunk| {
        let chunk = chunk.map_err(|e| StorageError::Body(e.to_string()))?;
        seen += chunk.len() as u64;
        if limit.is_some_and(|l| seen > l) {
            return Err(StorageError::Body("body is longer than declared".into()));
        }
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_saving() {
        let mut s = UploadState::default();
        s.hash.update(b"hello ");
        s.parts.push("\"etag\"".into());
        let mut back = UploadState::from_bytes(&s.to_bytes()).unwrap();
        back.hash.update(b"world");
        assert_eq!(back.len(), 11);
        assert_eq!(back.parts, s.parts);
        assert_eq!(
            back.hash.digest().to_string(),
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert!(UploadState::from_bytes(b"{}").is_none());
        assert!(UploadState::from_bytes(b"{\"hash\":\"zz\",\"len\":0}").is_none());
    }
}
