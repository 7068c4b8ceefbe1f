//! Copies an artifact from one registry to another through the OCI
//! distribution API, as replication does: every manifest of it (an index's
//! children before the index), the blobs the destination lacks (streamed
//! from one to the other, never held whole), the manifests the source's
//! referrers API names for it (signatures, SBOMs), then its tag. What the
//! destination already holds is not sent again, so a copy interrupted
//! half-way and run again sends only the rest. Digests stay as they were:
//! the destination checks each blob and manifest against its digest.

use crate::remote::Remote;
use berth_oci::manifest::{Manifest, ManifestKind};
use berth_oci::{Digest, RepositoryName};
use futures_util::future::BoxFuture;

/// An index inside an index inside …: deeper than this is refused.
const MAX_DEPTH: usize = 4;

/// What a copy sent and what it found already there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Manifests stored at the destination.
    pub manifests: usize,
    /// Blobs sent, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs the destination had.
    pub blobs_present: usize,
}

/// One side of a copy: a registry and a repository in it.
pub struct Side<'a> {
    pub registry: &'a Remote,
    pub repo: &'a RepositoryName,
}

/// Copies `reference` (a tag, or a digest) from `src` to `dst`, under the
/// same reference.
pub async fn copy(src: &Side<'_>, dst: &Side<'_>, reference: &str) -> Result<Copied, String> {
    let (media_type, bytes, digest) = src.registry.fetch_manifest(src.repo, reference).await?;
    let mut copied = Copied::default();
    let top = Fetched {
        media_type: &media_type,
        bytes: &bytes,
        digest: &digest,
    };
    tree(src, dst, top, &mut copied, 0).await?;
    for referrer in src.registry.referrers(src.repo, &digest).await? {
        let (mt, b, d) = (src.registry)
            .fetch_manifest(src.repo, &referrer.to_string())
            .await?;
        let fetched = Fetched {
            media_type: &mt,
            bytes: &b,
            digest: &d,
        };
        tree(src, dst, fetched, &mut copied, 0).await?;
    }
    if Digest::parse(reference).is_err() {
        let there = dst.registry.manifest_digest(dst.repo, reference).await?;
        if there.as_deref() != Some(digest.to_string().as_str()) {
            (dst.registry)
                .put_manifest(dst.repo, reference, &media_type, bytes)
                .await?;
            copied.manifests += 1;
        }
    }
    Ok(copied)
}

/// A manifest as fetched.
#[derive(Clone, Copy)]
struct Fetched<'a> {
    media_type: &'a str,
    bytes: &'a bytes::Bytes,
    digest: &'a Digest,
}

/// Stores a manifest by digest at the destination, after what it refers
/// to; nothing when the destination has it (and so all it refers to).
fn tree<'a>(
    src: &'a Side<'a>,
    dst: &'a Side<'a>,
    m: Fetched<'a>,
    copied: &'a mut Copied,
    depth: usize,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let digest = m.digest.to_string();
        if dst
            .registry
            .manifest_digest(dst.repo, &digest)
            .await?
            .is_some()
        {
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
                    let (mt, b, d) = (src.registry)
                        .fetch_manifest(src.repo, &child.digest.to_string())
                        .await?;
                    let fetched = Fetched {
                        media_type: &mt,
                        bytes: &b,
                        digest: &d,
                    };
                    tree(src, dst, fetched, copied, depth + 1).await?;
                }
            }
            ManifestKind::Image => {
                for blob in parsed.config.iter().chain(&parsed.layers) {
                    // Foreign layers stay where they are.
                    if !blob.urls.is_empty() {
                        continue;
                    }
                    if dst.registry.has_blob(dst.repo, &blob.digest).await? {
                        copied.blobs_present += 1;
                        continue;
                    }
                    let (size, stream) = src.registry.blob_sized(src.repo, &blob.digest).await?;
                    (dst.registry)
                        .push_blob(dst.repo, &blob.digest, size, stream)
                        .await?;
                    copied.blobs += 1;
                    copied.bytes += size;
                }
            }
        }
        (dst.registry)
            .put_manifest(dst.repo, &digest, m.media_type, m.bytes.clone())
            .await?;
        copied.manifests += 1;
        Ok(())
    })
}
