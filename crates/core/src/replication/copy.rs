//! Copies an artifact from one registry to another, as replication does:
//! every manifest of it (an index's children before the index), the blobs
//! the destination lacks (mounted from another of its repositories that
//! was seen with them, else streamed from one to the other, never held
//! whole), the manifests that refer to it (signatures and SBOMs: the
//! referrers API, and cosign's `sha256-<hex>.sig|att|sbom` tags), then its
//! tags. What the destination already holds is not sent again, so a copy
//! interrupted half-way and run again sends only the rest. Digests stay as
//! they were: the destination checks each blob and manifest against its
//! digest.
//!
//! Either side is this registry (read from and written to through the
//! registry engine, as the job service's own: no pull rule applies to
//! what replication reads, every write rule to what it writes) or another
//! one, spoken to over `/v2`.

use crate::registry::Registry;
use crate::remote::Remote;
use berth_oci::manifest::{Manifest, ManifestKind};
use berth_oci::{Digest, Reference, RepositoryName};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};

/// An index inside an index inside …: deeper than this is refused.
const MAX_DEPTH: usize = 4;
/// The tag suffixes cosign keeps an artifact's signatures, attestations
/// and SBOMs under (`sha256-<hex>.sig`).
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// What a copy sent and what it found already there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Manifests stored at the destination (tags included).
    pub manifests: usize,
    /// Blobs sent, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs the destination had.
    pub blobs_present: usize,
    /// Blobs the destination mounted from another of its repositories.
    pub blobs_mounted: usize,
    /// Tags the destination holds for another artifact, left as they were.
    pub kept_tags: Vec<String>,
}

/// A registry a copy reads from or writes to.
#[derive(Clone, Copy)]
pub enum Store<'a> {
    /// This registry; what it writes is recorded as `operator`'s.
    Local {
        registry: &'a Registry,
        operator: &'a str,
    },
    /// Another registry.
    Remote(&'a Remote),
}

/// One side of a copy: a registry and a repository in it.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub store: Store<'a>,
    pub repo: &'a RepositoryName,
}

/// How a copy goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Tags the destination holds for another artifact are moved.
    pub overwrite: bool,
    /// Bytes per second for each blob, None for no limit.
    pub rate: Option<u64>,
    /// Blobs go to another registry in chunks of this many bytes.
    pub chunk: Option<u64>,
}

/// A blob's bytes as they stream.
type BlobStream = BoxStream<'static, std::io::Result<Bytes>>;

fn reference(s: &str) -> Result<Reference, String> {
    Reference::parse(s).map_err(|e| format!("{s}: {e}"))
}

impl Side<'_> {
    /// A manifest by tag or digest: its media type, bytes and digest.
    async fn fetch_manifest(&self, r: &str) -> Result<(String, Bytes, Digest), String> {
        match self.store {
            Store::Remote(remote) => remote.fetch_manifest(self.repo, r).await,
            Store::Local { registry, .. } => {
                let row = (registry.get_manifest(self.repo, &reference(r)?).await)
                    .map_err(|e| format!("manifest {}:{r}: {e}", self.repo))?;
                let digest = Digest::parse(&row.digest).map_err(|e| e.to_string())?;
                Ok((row.media_type, row.manifest, digest))
            }
        }
    }

    /// The digest a tag or digest names, None when there is no such manifest.
    async fn manifest_digest(&self, r: &str) -> Result<Option<String>, String> {
        match self.store {
            Store::Remote(remote) => remote.manifest_digest(self.repo, r).await,
            Store::Local { registry, .. } => {
                match registry.get_manifest(self.repo, &reference(r)?).await {
                    Ok(row) => Ok(Some(row.digest)),
                    Err(e) if e.is_unknown() => Ok(None),
                    Err(e) => Err(format!("manifest {}:{r}: {e}", self.repo)),
                }
            }
        }
    }

    async fn put_manifest(&self, r: &str, media_type: &str, bytes: Bytes) -> Result<(), String> {
        match self.store {
            Store::Remote(remote) => remote.put_manifest(self.repo, r, media_type, bytes).await,
            Store::Local { registry, operator } => {
                let media_type = Some(media_type).filter(|t| !t.is_empty());
                (registry.put_manifest(
                    self.repo,
                    &reference(r)?,
                    media_type,
                    &bytes,
                    Vec::new(),
                    operator,
                ))
                .await
                .map(|_| ())
                .map_err(|e| format!("storing manifest {}:{r}: {e}", self.repo))
            }
        }
    }

    async fn has_blob(&self, digest: &Digest) -> Result<bool, String> {
        match self.store {
            Store::Remote(remote) => remote.has_blob(self.repo, digest).await,
            Store::Local { registry, .. } => match registry.blob(self.repo, digest).await {
                Ok(_) => Ok(true),
                Err(e) if e.is_unknown() => Ok(false),
                Err(e) => Err(format!("blob {digest}: {e}")),
            },
        }
    }

    /// Mounts a blob from another repository of the same registry that is
    /// known to have it; false when none is.
    async fn mount_blob(&self, digest: &Digest) -> Result<bool, String> {
        match self.store {
            Store::Remote(remote) => remote.mount_blob(self.repo, digest).await,
            // This registry stores a blob once, whichever repositories have it.
            Store::Local { .. } => Ok(false),
        }
    }

    async fn blob(&self, digest: &Digest) -> Result<(u64, BlobStream), String> {
        match self.store {
            Store::Remote(remote) => {
                let (size, stream) = remote.blob_sized(self.repo, digest).await?;
                Ok((size, stream.boxed()))
            }
            Store::Local { registry, .. } => {
                let blob = (registry.blob(self.repo, digest).await)
                    .map_err(|e| format!("blob {digest}: {e}"))?;
                let stream = (blob.open(None).await).map_err(|e| format!("blob {digest}: {e}"))?;
                Ok((blob.size, stream))
            }
        }
    }

    async fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        body: BlobStream,
        chunk: Option<u64>,
    ) -> Result<(), String> {
        match self.store {
            Store::Remote(remote) => match chunk {
                Some(chunk) => {
                    remote
                        .push_blob_chunked(self.repo, digest, body, chunk)
                        .await
                }
                None => remote.push_blob(self.repo, digest, size, body).await,
            },
            Store::Local { registry, operator } => {
                (registry.upload_monolithic((self.repo, operator), digest, Some(size), body))
                    .await
                    .map_err(|e| format!("storing blob {digest}: {e}"))
            }
        }
    }

    async fn referrers(&self, digest: &Digest) -> Result<Vec<Digest>, String> {
        match self.store {
            Store::Remote(remote) => remote.referrers(self.repo, digest).await,
            Store::Local { registry, .. } => Ok((registry.referrers(self.repo, digest, None))
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter_map(|r| Digest::parse(&r.digest).ok())
                .collect()),
        }
    }

    /// Deletes a manifest by digest (with every tag of it); false when
    /// there was none.
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<bool, String> {
        match self.store {
            Store::Remote(remote) => remote.delete_manifest(self.repo, digest).await,
            Store::Local { registry, operator } => {
                let r = Reference::Digest(digest.clone());
                match registry.delete_manifest(self.repo, &r, operator).await {
                    Ok(()) => Ok(true),
                    Err(e) if e.is_unknown() => Ok(false),
                    Err(e) => Err(format!("deleting {}@{digest}: {e}", self.repo)),
                }
            }
        }
    }
}

/// Copies the artifact `reference` (a digest, or a tag) names from `src`
/// to `dst`, with the manifests that refer to it, then gives it `tags`
/// there.
pub async fn copy(
    src: &Side<'_>,
    dst: &Side<'_>,
    reference: &str,
    tags: &[String],
    options: &Options,
) -> Result<Copied, String> {
    let (media_type, bytes, digest) = src.fetch_manifest(reference).await?;
    let mut copied = Copied::default();
    let mut run = Run {
        src,
        dst,
        options,
        copied: &mut copied,
    };
    let top = Fetched {
        media_type: &media_type,
        bytes: &bytes,
        digest: &digest,
    };
    run.tree(top, 0).await?;
    for referrer in src.referrers(&digest).await? {
        run.copy_by_digest(&referrer.to_string()).await?;
    }
    for suffix in COSIGN_SUFFIXES {
        let tag = format!("{}-{}.{suffix}", digest.algorithm(), digest.hex());
        if let Some(d) = src.manifest_digest(&tag).await? {
            run.copy_by_digest(&d).await?;
            run.tag(&tag, &d, None).await?;
        }
    }
    for tag in tags {
        let d = digest.to_string();
        run.tag(tag, &d, Some((&media_type, &bytes))).await?;
    }
    Ok(copied)
}

/// A manifest as fetched.
#[derive(Clone, Copy)]
struct Fetched<'a> {
    media_type: &'a str,
    bytes: &'a Bytes,
    digest: &'a Digest,
}

/// A copy under way.
struct Run<'a, 'b> {
    src: &'a Side<'a>,
    dst: &'a Side<'a>,
    options: &'a Options,
    copied: &'b mut Copied,
}

impl Run<'_, '_> {
    async fn copy_by_digest(&mut self, digest: &str) -> Result<(), String> {
        let (mt, b, d) = self.src.fetch_manifest(digest).await?;
        let fetched = Fetched {
            media_type: &mt,
            bytes: &b,
            digest: &d,
        };
        self.tree(fetched, 0).await
    }

    /// Points `tag` at the destination to `digest`, unless it is there
    /// already; a tag of another artifact moves only when overwriting.
    async fn tag(
        &mut self,
        tag: &str,
        digest: &str,
        manifest: Option<(&str, &Bytes)>,
    ) -> Result<(), String> {
        match self.dst.manifest_digest(tag).await? {
            Some(there) if there == digest => return Ok(()),
            Some(_) if !self.options.overwrite => {
                self.copied.kept_tags.push(tag.to_string());
                return Ok(());
            }
            _ => {}
        }
        let (mt, bytes) = match manifest {
            Some((mt, bytes)) => (mt.to_string(), bytes.clone()),
            None => {
                let (mt, bytes, _) = self.src.fetch_manifest(digest).await?;
                (mt, bytes)
            }
        };
        self.dst.put_manifest(tag, &mt, bytes).await?;
        self.copied.manifests += 1;
        Ok(())
    }

    /// Stores a manifest by digest at the destination, after what it refers
    /// to; nothing when the destination has it (and so all it refers to).
    fn tree<'s>(&'s mut self, m: Fetched<'s>, depth: usize) -> BoxFuture<'s, Result<(), String>> {
        Box::pin(async move {
            let digest = m.digest.to_string();
            if self.dst.manifest_digest(&digest).await?.is_some() {
                return Ok(());
            }
            let parsed = Manifest::parse(m.bytes, Some(m.media_type).filter(|t| !t.is_empty()))
                .map_err(|e| format!("manifest {digest}: {e}"))?;
            match parsed.kind {
                ManifestKind::Index => {
                    if depth >= MAX_DEPTH {
                        return Err(format!("manifest {digest}: indexes nested too deep"));
                    }
                    for child in &parsed.manifests {
                        let (mt, b, d) = self.src.fetch_manifest(&child.digest.to_string()).await?;
                        let fetched = Fetched {
                            media_type: &mt,
                            bytes: &b,
                            digest: &d,
                        };
                        self.tree(fetched, depth + 1).await?;
                    }
                }
                ManifestKind::Image => {
                    for blob in parsed.config.iter().chain(&parsed.layers) {
                        // Foreign layers stay where they are.
                        if !blob.urls.is_empty() {
                            continue;
                        }
                        self.blob(&blob.digest).await?;
                    }
                }
            }
            (self.dst)
                .put_manifest(&digest, m.media_type, m.bytes.clone())
                .await?;
            self.copied.manifests += 1;
            Ok(())
        })
    }

    async fn blob(&mut self, digest: &Digest) -> Result<(), String> {
        if self.dst.has_blob(digest).await? {
            self.copied.blobs_present += 1;
            return Ok(());
        }
        if self.dst.mount_blob(digest).await? {
            self.copied.blobs_mounted += 1;
            return Ok(());
        }
        let (size, stream) = self.src.blob(digest).await?;
        let stream = match self.options.rate {
            Some(rate) => throttled(stream, rate),
            None => stream,
        };
        (self.dst)
            .push_blob(digest, size, stream, self.options.chunk)
            .await?;
        self.copied.blobs += 1;
        self.copied.bytes += size;
        Ok(())
    }
}

/// A stream that yields no faster than `rate` bytes a second: each chunk
/// waits until the bytes before and in it are due.
fn throttled(stream: BlobStream, rate: u64) -> BlobStream {
    let start = Instant::now();
    let mut sent = 0u64;
    stream
        .and_then(move |chunk| {
            sent += chunk.len() as u64;
            let due = start + Duration::from_secs_f64(sent as f64 / rate.max(1) as f64);
            async move {
                tokio::time::sleep_until(due.into()).await;
                Ok(chunk)
            }
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_throttled_stream_takes_as_long_as_its_rate_says() {
        let chunks = (0..4).map(|_| Ok(Bytes::from(vec![0u8; 25_000])));
        let stream = futures_util::stream::iter(chunks).boxed();
        let start = Instant::now();
        let got: Vec<Bytes> = throttled(stream, 200_000).try_collect().await.unwrap();
        assert_eq!(got.iter().map(Bytes::len).sum::<usize>(), 100_000);
        // 100,000 bytes at 200,000 B/s: half a second.
        assert!(start.elapsed() >= Duration::from_millis(490));
    }
}
