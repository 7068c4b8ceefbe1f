//! Proxy-cache projects: a project created with a registry endpoint pulls
//! through it. A manifest asked by tag is checked upstream with a `HEAD`
//! each time (as Harbor does) and served from here when the digest is the
//! one cached; otherwise it is fetched, served, and stored once every
//! blob it needs is here. When upstream cannot answer, what is cached is
//! served (serve-stale). A blob not cached yet streams to the client
//! while it is written here, and concurrent pulls of it wait for that one
//! fetch instead of starting their own; a cached blob never goes upstream
//! again (its digest is its content). What is cached is the repository's
//! like anything pushed: garbage collection and retention apply.

use crate::registry::{Blob, Registry, RegistryError};
use crate::remote::Remote;
use crate::replication::registries::Registries;
use berth_oci::manifest::Manifest;
use berth_oci::{Digest, Reference, RepositoryName};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How long upstream has to answer a manifest check before the cached
/// copy is served.
const UPSTREAM_WAIT: Duration = Duration::from_secs(10);
/// How long a manifest served from upstream waits for its blobs to be
/// cached before it is stored (each pull of a blob caches it).
const STORE_WAIT: Duration = Duration::from_secs(600);
/// How long a client of an endpoint (with its token) is kept.
const CLIENT_FOR: Duration = Duration::from_secs(60);

/// A manifest to serve: media type, bytes and digest.
pub struct Served {
    pub media_type: String,
    pub bytes: Bytes,
    pub digest: String,
}

/// A blob to serve: cached here, or streaming from upstream as it is cached.
pub enum ProxiedBlob {
    Local(Blob),
    Upstream {
        size: u64,
        stream: BoxStream<'static, std::io::Result<Bytes>>,
    },
}

/// A client of an endpoint with the endpoint's type.
type Upstream = Arc<(String, Remote)>;

struct Inner {
    registry: Arc<Registry>,
    registries: Registries,
    /// Blobs being fetched, by repository and digest: a later pull waits
    /// for the first one's fetch to end.
    fetching: Mutex<HashMap<(String, String), watch::Receiver<bool>>>,
    /// Clients of endpoints (each keeps its token), by endpoint id.
    clients: Mutex<HashMap<i64, (Instant, Upstream)>>,
}

/// The proxy cache.
#[derive(Clone)]
pub struct ProxyCache {
    inner: Arc<Inner>,
}

/// The upstream name of a proxy project's repository: without the
/// project (so it may have one component, as `alpine`), and under
/// `library/` for Docker Hub's official images.
fn upstream_name(kind: &str, repo: &RepositoryName) -> String {
    let rest = repo.as_str().split_once('/').map_or("", |(_, r)| r);
    match kind == "docker-hub" && !rest.contains('/') {
        true => format!("library/{rest}"),
        false => rest.to_string(),
    }
}

/// Removes a blob's fetch from the table when it ends, and wakes whoever waits.
struct Fetching {
    inner: Arc<Inner>,
    key: (String, String),
    done: watch::Sender<bool>,
}

impl Drop for Fetching {
    fn drop(&mut self) {
        crate::lock(&self.inner.fetching).remove(&self.key);
        self.done.send_replace(true);
    }
}

impl ProxyCache {
    /// The proxy cache, writing through `registry`.
    pub fn new(registry: Arc<Registry>, registries: Registries) -> Self {
        ProxyCache {
            inner: Arc::new(Inner {
                registry,
                registries,
                fetching: Mutex::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A client of the endpoint, with its type.
    async fn client(&self, registry_id: i64) -> Result<Upstream, String> {
        if let Some((at, c)) = crate::lock(&self.inner.clients).get(&registry_id) {
            if at.elapsed() < CLIENT_FOR {
                return Ok(c.clone());
            }
        }
        let (e, remote) =
            (self.inner.registries.client(registry_id).await).map_err(|e| e.to_string())?;
        let c = Arc::new((e.kind, remote));
        crate::lock(&self.inner.clients).insert(registry_id, (Instant::now(), c.clone()));
        Ok(c)
    }

    /// A manifest of a proxy project's repository, as the section above
    /// says; `operator` is who pulls (the cached copy is stored as theirs).
    pub async fn manifest(
        &self,
        registry_id: i64,
        repo: &RepositoryName,
        reference: &Reference,
        operator: &str,
    ) -> Result<Served, RegistryError> {
        let registry = &self.inner.registry;
        let local = match registry.get_manifest(repo, reference).await {
            Ok(m) => Some(m),
            Err(e) if e.is_unknown() => None,
            Err(e) => return Err(e),
        };
        let served = |m: berth_db::artifacts::ManifestRow| Served {
            media_type: m.media_type,
            bytes: m.manifest,
            digest: m.digest,
        };
        // A digest names the same bytes here and upstream.
        if let (Reference::Digest(_), Some(m)) = (reference, &local) {
            return Ok(served(m.clone()));
        }
        let checked = tokio::time::timeout(UPSTREAM_WAIT, async {
            let c = self.client(registry_id).await?;
            let up = upstream_name(&c.0, repo);
            // With no cached copy to compare, the GET below asks by the
            // reference itself: one round trip instead of two.
            let wanted = match (reference, &local) {
                (Reference::Tag(t), Some(_)) => c.1.manifest_digest(&up, t.as_str()).await?,
                _ => Some(reference.to_string()),
            };
            Ok::<_, String>((c, up, wanted))
        })
        .await
        .unwrap_or_else(|_| Err("upstream did not answer in time".into()));
        let (c, up, wanted) = match checked {
            Ok(found) => found,
            Err(why) => {
                tracing::info!(%repo, why, "proxy cache: upstream unavailable, serving what is cached");
                return local.map(served).ok_or(RegistryError::ManifestUnknown);
            }
        };
        let Some(wanted) = wanted else {
            return Err(RegistryError::ManifestUnknown);
        };
        if let Some(m) = local.filter(|m| m.digest == wanted) {
            return Ok(served(m));
        }
        let (media_type, bytes, d) = (c.1.fetch_manifest(&up, &wanted).await).map_err(|why| {
            tracing::info!(%repo, why, "proxy cache: fetching a manifest");
            RegistryError::ManifestUnknown
        })?;
        self.store_later(repo, reference, &media_type, &bytes, operator);
        Ok(Served {
            media_type,
            bytes,
            digest: d.to_string(),
        })
    }

    /// Stores a manifest served from upstream once what it refers to is
    /// cached (its blobs, an index's images), in the background.
    fn store_later(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        media_type: &str,
        bytes: &Bytes,
        operator: &str,
    ) {
        let Ok(manifest) = Manifest::parse(bytes, Some(media_type).filter(|t| !t.is_empty()))
        else {
            return;
        };
        let blobs: Vec<Digest> = (manifest.config.iter().chain(&manifest.layers))
            .filter(|b| b.urls.is_empty())
            .map(|b| b.digest.clone())
            .collect();
        let children: Vec<Digest> = manifest
            .manifests
            .iter()
            .map(|m| m.digest.clone())
            .collect();
        let (registry, repo, reference) =
            (self.inner.registry.clone(), repo.clone(), reference.clone());
        let (media_type, bytes, operator) =
            (media_type.to_string(), bytes.clone(), operator.to_string());
        tokio::spawn(async move {
            let deadline = Instant::now() + STORE_WAIT;
            loop {
                let mut ready = true;
                for b in &blobs {
                    ready &= registry.blob(&repo, b).await.is_ok();
                }
                for m in &children {
                    let r = Reference::Digest(m.clone());
                    ready &= registry.get_manifest(&repo, &r).await.is_ok();
                }
                if ready {
                    let mt = Some(media_type.as_str());
                    let stored = registry
                        .put_manifest(&repo, &reference, mt, &bytes, Vec::new(), &operator)
                        .await;
                    if let Err(e) = stored {
                        tracing::warn!(%repo, error = %e, "proxy cache: storing a manifest");
                    }
                    return;
                }
                if Instant::now() > deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// A blob of a proxy project's repository: cached, or fetched once and
    /// streamed while it is cached.
    pub async fn blob(
        &self,
        registry_id: i64,
        (repo, operator): (&RepositoryName, &str),
        digest: &Digest,
        head: bool,
    ) -> Result<ProxiedBlob, RegistryError> {
        let key = (repo.to_string(), digest.to_string());
        loop {
            match self.inner.registry.blob(repo, digest).await {
                Ok(b) => return Ok(ProxiedBlob::Local(b)),
                Err(e) if e.is_unknown() => {}
                Err(e) => return Err(e),
            }
            let unknown = |why: String| {
                tracing::info!(%repo, %digest, why, "proxy cache: fetching a blob");
                RegistryError::BlobUnknown
            };
            let c = self.client(registry_id).await.map_err(unknown)?;
            let up = upstream_name(&c.0, repo);
            if head {
                let size = c.1.blob_size(&up, digest).await.map_err(unknown)?;
                return match size {
                    Some(size) => Ok(ProxiedBlob::Upstream {
                        size,
                        stream: futures_util::stream::empty().boxed(),
                    }),
                    None => Err(RegistryError::BlobUnknown),
                };
            }
            let fetching = {
                let mut table = crate::lock(&self.inner.fetching);
                match table.get(&key) {
                    Some(rx) => Err(rx.clone()),
                    None => {
                        let (done, rx) = watch::channel(false);
                        table.insert(key.clone(), rx);
                        Ok(Fetching {
                            inner: self.inner.clone(),
                            key: key.clone(),
                            done,
                        })
                    }
                }
            };
            let guard = match fetching {
                Ok(guard) => guard,
                // Another pull fetches it: wait, then serve what it cached
                // (or fetch again if it failed).
                Err(mut rx) => {
                    let _ = rx.wait_for(|done| *done).await;
                    continue;
                }
            };
            // A fetch that ended between the first look and the table's
            // has cached it.
            if let Ok(b) = self.inner.registry.blob(repo, digest).await {
                return Ok(ProxiedBlob::Local(b));
            }
            let (size, upstream) = c.1.blob_sized(&up, digest).await.map_err(unknown)?;
            return Ok(ProxiedBlob::Upstream {
                size,
                stream: self.tee((repo, operator), digest, size, upstream.boxed(), guard),
            });
        }
    }

    /// Streams `upstream` to the client while storing it; the store goes
    /// on if the client leaves.
    fn tee(
        &self,
        (repo, operator): (&RepositoryName, &str),
        digest: &Digest,
        size: u64,
        mut upstream: BoxStream<'static, std::io::Result<Bytes>>,
        guard: Fetching,
    ) -> BoxStream<'static, std::io::Result<Bytes>> {
        let (client_tx, client_rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
        let (store_tx, store_rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
        let (registry, repo, digest) = (self.inner.registry.clone(), repo.clone(), digest.clone());
        let operator = operator.to_string();
        tokio::spawn(async move {
            let _guard = guard;
            let pump = async move {
                let mut client = Some(client_tx);
                while let Some(item) = upstream.next().await {
                    let chunk = match item {
                        Ok(b) => b,
                        Err(e) => {
                            let why = e.to_string();
                            let _ = store_tx.send(Err(std::io::Error::other(why.clone()))).await;
                            if let Some(c) = &client {
                                let _ = c.send(Err(std::io::Error::other(why))).await;
                            }
                            return;
                        }
                    };
                    if store_tx.send(Ok(chunk.clone())).await.is_err() {
                        return;
                    }
                    if let Some(c) = &client {
                        if c.send(Ok(chunk)).await.is_err() {
                            client = None;
                        }
                    }
                }
            };
            let body = Box::pin(receiver_stream(store_rx));
            let store = registry.upload_monolithic((&repo, &operator), &digest, Some(size), body);
            let ((), stored) = tokio::join!(pump, store);
            if let Err(e) = stored {
                tracing::warn!(%repo, %digest, error = %e, "proxy cache: storing a blob");
            }
        });
        receiver_stream(client_rx).boxed()
    }
}

/// A channel's receiving end as a stream.
fn receiver_stream<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_drop_the_project() {
        let n = |kind: &str, repo: &str| {
            let repo = RepositoryName::parse(repo).unwrap();
            upstream_name(kind, &repo)
        };
        assert_eq!(n("docker-registry", "hub/team/app"), "team/app");
        assert_eq!(n("docker-hub", "hub/nginx"), "library/nginx");
        assert_eq!(n("docker-hub", "hub/bitnami/redis"), "bitnami/redis");
    }
}
