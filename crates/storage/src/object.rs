//! Blobs in an object store (S3 and S3-compatible stores, Google Cloud
//! Storage, Azure Blob), through the `object_store` crate.
//!
//! An upload's bytes go to a multipart upload at `uploads/<uuid>/data` in
//! parts of `PART` bytes; what follows the last part (less than a part) is
//! kept as a small object `uploads/<uuid>/tail-<random>`, read back by the
//! next request, which may land on any process: the parts' ids, the tail
//! and the hash state are the `UploadState` saved with the session row.
//! Sealing joins the parts (the tail is the last); placing copies the
//! result to `blobs/sha256/<2 hex>/<hex>` inside the blob row's
//! transaction, so an object appears at its content address only whole and
//! verified.

use crate::{digest_of_name, limited, BlobStream, Checkpoint, StorageError, UploadState};
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStoreExt, PutPayload, WriteMultipart};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Bytes per multipart part (S3 wants at least 5 MiB for all but the last).
const PART: usize = 8 * 1024 * 1024;
/// The largest object S3's one-request copy takes; larger ones are copied
/// as a stream of parts.
const S3_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// How long a redirect URL stays valid.
const REDIRECT_TTL: Duration = Duration::from_secs(20 * 60);

/// Where blobs go when not on the filesystem.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// `s3://bucket[/prefix]`, `gs://bucket[/prefix]` or `az://container[/prefix]`.
    pub url: String,
    /// The store's settings by `object_store`'s names (`endpoint`,
    /// `region`, `access_key_id`, `secret_access_key`, `allow_http`,
    /// `virtual_hosted_style_request`, `server_side_encryption`,
    /// `sse_kms_key_id` …); the standard `AWS_*`, `GOOGLE_*` and `AZURE_*`
    /// variables and instance credentials apply where these are silent.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Answer blob GETs with a redirect to a presigned URL.
    #[serde(default)]
    pub redirect: bool,
}

/// An object store holding Berth's blobs.
#[derive(Clone)]
pub struct ObjectStore {
    kind: &'static str,
    store: Arc<dyn object_store::ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    signer: Option<Arc<dyn Signer>>,
    prefix: String,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} store {}", self.kind, self.store)
    }
}

fn config_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Config(e.to_string())
}

impl ObjectStore {
    /// Connects to the store `config` names (no request is made yet).
    pub fn open(config: &ObjectConfig) -> Result<Self, StorageError> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let (scheme, rest) = config
            .url
            .split_once("://")
            .ok_or_else(|| config_error(format!("{:?} is not a store URL", config.url)))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(config_error("the store URL names no bucket"));
        }
        let options = config.options.iter();
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        match scheme {
            "s3" => {
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse::<AmazonS3ConfigKey>()?, v);
                }
                Ok(Self::assemble("s3", b.build()?, config.redirect, prefix))
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse::<GoogleConfigKey>()?, v);
                }
                Ok(Self::assemble("gcs", b.build()?, config.redirect, prefix))
            }
            "az" | "azure" => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
                for (k, v) in options {
                    b = b.with_config(k.parse::<AzureConfigKey>()?, v);
                }
                Ok(Self::assemble("azure", b.build()?, config.redirect, prefix))
            }
            other => Err(config_error(format!(
                "storage scheme {other:?}: use s3://, gs:// or az://"
            ))),
        }
    }

    fn assemble<S>(kind: &'static str, store: S, redirect: bool, prefix: String) -> Self
    where
        S: object_store::ObjectStore + MultipartStore + Signer,
    {
        let store = Arc::new(store);
        ObjectStore {
            kind,
            store: store.clone(),
            multipart: store.clone(),
            signer: redirect.then_some(store),
            prefix,
        }
    }

    /// "s3", "gcs" or "azure".
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!(
            "{}blobs/{}/{}/{hex}",
            self.prefix,
            digest.algorithm(),
            &hex[..2]
        ))
    }

    fn upload_key(&self, id: Uuid, name: &str) -> Path {
        Path::from(format!("{}uploads/{id}/{name}", self.prefix))
    }

    /// Whether the store answers.
    pub async fn check(&self) -> Result<(), StorageError> {
        let blobs = Path::from(format!("{}blobs", self.prefix));
        self.store.list_with_delimiter(Some(&blobs)).await?;
        Ok(())
    }

    /// Streams bytes `start..end` of a committed blob (one ranged GET).
    pub async fn read(
        &self,
        digest: &Digest,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, StorageError> {
        if start >= end {
            return Ok(Some(futures_util::stream::empty().boxed()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.blob_key(digest), options).await {
            Ok(got) => Ok(Some(got.into_stream().map_err(io::Error::other).boxed())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A presigned URL for the blob, when redirects are configured.
    pub async fn redirect(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(http::Method::GET, &self.blob_key(digest), REDIRECT_TTL)
            .await?;
        Ok(Some(url.to_string()))
    }

    /// Appends `body`: full parts go to the multipart upload as they fill,
    /// each followed by `checkpoint` with the state up to it (so a request
    /// cut short resumes from its last part), the rest becomes the new
    /// tail. On a storage failure the state is the last checkpoint; on a
    /// body failure what arrived is kept.
    pub async fn append<S, E>(
        &self,
        id: Uuid,
        start: UploadState,
        body: S,
        limit: Option<u64>,
        checkpoint: &Checkpoint,
    ) -> (UploadState, Result<(), StorageError>)
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let mut state = start.clone();
        // The old tail comes first; its bytes are in the hash already.
        let mut buf = match &state.tail {
            Some((name, _)) => match self.get_bytes(&self.upload_key(id, name)).await {
                Ok(b) => b.to_vec(),
                Err(e) => return (start, Err(e)),
            },
            None => Vec::new(),
        };
        let mut hashed = buf.len();
        let mut saved = start;
        let mut body = limited(body, limit);
        let mut result = Ok(());
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            buf.extend_from_slice(&chunk);
            while buf.len() >= PART {
                let rest = buf.split_off(PART);
                let part = Bytes::from(std::mem::replace(&mut buf, rest));
                let part_hashed = std::mem::take(&mut hashed);
                let old_tail = state.tail.take();
                let stored = self.put_part(id, &mut state, part, part_hashed).await;
                if let Err(e) = stored {
                    return (saved, Err(e));
                }
                checkpoint(state.clone()).await;
                saved = state.clone();
                if let Some((name, _)) = old_tail {
                    // Best effort: a leftover goes with the upload's prefix.
                    let _ = self.store.delete(&self.upload_key(id, &name)).await;
                }
            }
        }
        let old_tail = state.tail.take();
        if !buf.is_empty() {
            state.hash.update(&buf[hashed..]);
            let name = format!("tail-{}", Uuid::new_v4().simple());
            let len = buf.len() as u64;
            let put = self
                .store
                .put(&self.upload_key(id, &name), PutPayload::from(buf))
                .await;
            if let Err(e) = put {
                return (saved, Err(e.into()));
            }
            state.tail = Some((name, len));
        }
        if let Some((name, _)) = old_tail {
            let _ = self.store.delete(&self.upload_key(id, &name)).await;
        }
        (state, result)
    }

    async fn get_bytes(&self, key: &Path) -> Result<Bytes, StorageError> {
        Ok(self.store.get(key).await?.bytes().await?)
    }

    /// Hashes a part (past its first `hashed` bytes, already in the hash)
    /// off the async runtime and sends it.
    async fn put_part(
        &self,
        id: Uuid,
        state: &mut UploadState,
        data: Bytes,
        hashed: usize,
    ) -> Result<(), StorageError> {
        let mut hash = std::mem::take(&mut state.hash);
        let part = data.clone();
        state.hash = tokio::task::spawn_blocking(move || {
            hash.update(&part[hashed..]);
            hash
        })
        .await
        .map_err(io::Error::other)?;
        let key = self.upload_key(id, "data");
        let upload = match &state.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self.multipart.create_multipart(&key).await?;
                state.multipart = Some(m.clone());
                m
            }
        };
        let part = self
            .multipart
            .put_part(&key, &upload, state.parts.len(), data.into())
            .await?;
        state.parts.push(part.content_id);
        Ok(())
    }

    /// Joins the parts, with the tail as the last, into `uploads/<id>/data`
    /// (done already if that object has the upload's length), then copies
    /// the upload to its content address: the copy (seconds for a large
    /// blob) is made before the caller's transaction, and `place` inside
    /// it only confirms the bytes are still there.
    pub async fn seal(&self, id: Uuid, state: &UploadState) -> Result<(), StorageError> {
        self.join_parts(id, state).await?;
        let to = self.blob_key(&state.digest());
        if !self.holds(&to, state.len()).await {
            self.copy_upload(id, state, &to).await?;
        }
        Ok(())
    }

    /// Whether `key` holds an object of `size` bytes.
    async fn holds(&self, key: &Path, size: u64) -> bool {
        (self.store.head(key).await).is_ok_and(|m| m.size == size)
    }

    async fn join_parts(&self, id: Uuid, state: &UploadState) -> Result<(), StorageError> {
        let Some(upload) = &state.multipart else {
            return Ok(());
        };
        let key = self.upload_key(id, "data");
        if self.holds(&key, state.len()).await {
            return Ok(());
        }
        let mut parts: Vec<PartId> = (state.parts.iter())
            .map(|p| PartId {
                content_id: p.clone(),
            })
            .collect();
        if let Some((name, _)) = &state.tail {
            let tail = self.get_bytes(&self.upload_key(id, name)).await?;
            let last = (self.multipart)
                .put_part(&key, upload, parts.len(), tail.into())
                .await?;
            parts.push(last);
        }
        self.multipart
            .complete_multipart(&key, upload, parts)
            .await?;
        Ok(())
    }

    /// Makes sure a sealed upload is at its content address: `seal` put it
    /// there, but a collection of the same digest may have deleted it
    /// since (before the caller's row held it), and then it is copied again.
    pub async fn place(
        &self,
        id: Uuid,
        state: &UploadState,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let to = self.blob_key(digest);
        if self.holds(&to, state.len()).await {
            return Ok(());
        }
        self.copy_upload(id, state, &to).await
    }

    /// Copies a joined upload to `to`.
    async fn copy_upload(
        &self,
        id: Uuid,
        state: &UploadState,
        to: &Path,
    ) -> Result<(), StorageError> {
        let from = match (&state.multipart, &state.tail) {
            (Some(_), _) => self.upload_key(id, "data"),
            (None, Some((name, _))) => self.upload_key(id, name),
            (None, None) => {
                self.store.put(to, PutPayload::default()).await?;
                return Ok(());
            }
        };
        if self.kind == "s3" && state.len() > S3_COPY_LIMIT {
            let mut source = self.store.get(&from).await?.into_stream();
            let mut out = WriteMultipart::new(self.store.put_multipart(to).await?);
            while let Some(chunk) = source.next().await {
                out.write(&chunk?);
                out.wait_for_capacity(4).await?;
            }
            out.finish().await?;
        } else {
            self.store.copy(&from, to).await?;
        }
        Ok(())
    }

    /// Aborts an upload's parts and deletes its objects; without its state
    /// the upload's keys are listed (parts of a multipart upload whose id
    /// is lost are left to the bucket's lifecycle rule).
    pub async fn delete_upload(
        &self,
        id: Uuid,
        state: Option<&UploadState>,
    ) -> Result<(), StorageError> {
        let keys: Vec<Path> = match state {
            Some(state) => {
                if let Some(upload) = &state.multipart {
                    // Already completed (sealed) is fine.
                    let key = self.upload_key(id, "data");
                    let _ = self.multipart.abort_multipart(&key, upload).await;
                }
                let tail = state.tail.iter().map(|(name, _)| self.upload_key(id, name));
                tail.chain([self.upload_key(id, "data")]).collect()
            }
            None => {
                let dir = Path::from(format!("{}uploads/{id}", self.prefix));
                let listed: Vec<_> = self.store.list(Some(&dir)).try_collect().await?;
                listed.into_iter().map(|m| m.location).collect()
            }
        };
        self.delete_keys(keys).await
    }

    async fn delete_keys(&self, keys: Vec<Path>) -> Result<(), StorageError> {
        let keys = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut deleted = self.store.delete_stream(keys);
        while let Some(r) = deleted.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Uploads none of whose objects changed for `age`.
    pub async fn old_uploads(&self, age: Duration) -> Result<Vec<Uuid>, StorageError> {
        let dir = Path::from(format!("{}uploads", self.prefix));
        let cutoff = now_millis() - age.as_millis() as i64;
        let mut newest: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut listed = self.store.list(Some(&dir));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            let id = meta.location.parts().nth_back(1);
            if let Some(id) = id.and_then(|p| Uuid::parse_str(p.as_ref()).ok()) {
                let at = meta.last_modified.timestamp_millis();
                let e = newest.entry(id).or_insert(at);
                *e = (*e).max(at);
            }
        }
        Ok(newest
            .into_iter()
            .filter(|(_, at)| *at < cutoff)
            .map(|(id, _)| id)
            .collect())
    }

    /// Deletes committed blobs (many per request where the store can).
    pub async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        self.delete_keys(digests.iter().map(|d| self.blob_key(d)).collect())
            .await
    }

    /// Every committed blob in the store.
    pub async fn list_blobs(&self) -> Result<Vec<Digest>, StorageError> {
        let dir = Path::from(format!("{}blobs/sha256", self.prefix));
        let mut out = Vec::new();
        let mut listed = self.store.list(Some(&dir));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            if let Some(d) = meta.location.filename().and_then(digest_of_name) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
