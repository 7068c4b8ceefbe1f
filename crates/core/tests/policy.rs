//! The policy chain with a rule of the test's own, on SQLite and (when
//! `BERTH_TEST_DATABASE_URL` is set) PostgreSQL: every kind of write and
//! pull reaches it, a refusal leaves nothing behind, and the rule reads the
//! write's own transaction.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use berth_core::notify::events::Events;
use berth_core::notify::trail::Trail;
use berth_core::policy::{Chain, Inputs, Policy, ProjectSettings, Puller, Read, Write};
use berth_core::Configurations;
use berth_core::{Registry, RegistryError};
use berth_db::{artifacts, Db, Tx};
use berth_oci::{Digest, Reference, RepositoryName, Tag};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// A tag named `frozen` is never moved, removed or deleted with its
/// artifact; a blob on the deny list is never served. Every committed write
/// is noted.
struct Frozen {
    denied_blob: Digest,
    committed: Arc<Mutex<Vec<String>>>,
}

fn refuse(what: &str) -> RegistryError {
    RegistryError::Denied(format!("the frozen tag cannot be {what}"))
}

impl Policy for Frozen {
    fn check_write<'a>(
        &'a self,
        tx: &'a mut Tx,
        write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            match write {
                Write::PushManifest {
                    repo, digest, tags, ..
                } if tags.iter().any(|t| t.as_str() == "frozen") => {
                    let held = artifacts::by_tag(&mut **tx, repo.as_str(), "frozen").await?;
                    match held {
                        Some(row) if row.digest != digest.to_string() => Err(refuse("moved")),
                        _ => Ok(()),
                    }
                }
                Write::AddTag { tag, .. } if tag.as_str() == "frozen" => Err(refuse("added")),
                Write::DeleteTag { tag, .. } if *tag == "frozen" => Err(refuse("removed")),
                Write::DeleteArtifact { artifact_id, .. } => {
                    let tags = artifacts::tag_names(&mut **tx, *artifact_id).await?;
                    match tags.iter().any(|t| t == "frozen") {
                        true => Err(refuse("deleted")),
                        false => Ok(()),
                    }
                }
                _ => Ok(()),
            }
        })
    }

    fn after_write<'a>(&'a self, write: &'a Write<'a>) -> BoxFuture<'a, ()> {
        let name = match write {
            Write::PushManifest { .. } => "push",
            Write::AddTag { .. } => "add-tag",
            Write::DeleteTag { .. } => "delete-tag",
            Write::DeleteArtifact { .. } => "delete-artifact",
            Write::DeleteRepository { .. } => "delete-repository",
            Write::PutBlob { .. } => "blob",
        };
        self.committed.lock().unwrap().push(name.into());
        Box::pin(async {})
    }

    fn check_pull<'a>(&'a self, read: &'a Read<'a>) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            match read {
                Read::Blob { digest, .. } if **digest == self.denied_blob => {
                    Err(RegistryError::Denied("this blob is not served".into()))
                }
                _ => Ok(()),
            }
        })
    }
}

async fn push_blob(r: &Registry, repo: &RepositoryName, data: &[u8]) -> Digest {
    let d = berth_storage::digest_of(data);
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
    r.upload_monolithic((repo, "tester"), &d, Some(data.len() as u64), body)
        .await
        .unwrap();
    d
}

/// Pushes a one-layer image under `tag`: its digest, and whether it was taken.
async fn push_image(
    r: &Registry,
    repo: &RepositoryName,
    tag: &str,
    seed: &str,
) -> (Digest, Result<(), RegistryError>) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
    let c = push_blob(r, repo, config.as_bytes()).await;
    let layer = push_blob(r, repo, seed.as_bytes()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": c.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer.to_string(), "size": seed.len()}],
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let reference = Reference::Tag(Tag::parse(tag).unwrap());
    let pushed = r
        .put_manifest(repo, &reference, None, &body, Vec::new(), "tester")
        .await;
    (berth_storage::digest_of(&body), pushed.map(|_| ()))
}

#[tokio::test]
async fn every_write_and_pull_passes_the_chain() {
    for (url, _dir) in common::databases("policy").await {
        let store_dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&url).await.unwrap();
        let store =
            berth_storage::Store::Fs(berth_storage::FsStore::open(store_dir.path()).unwrap());
        let committed = Arc::new(Mutex::new(Vec::new()));
        let denied_blob = berth_storage::digest_of(b"secret layer");
        let settings = ProjectSettings::new(db.clone());
        let events = Events::new();
        let inputs = Inputs {
            settings: &settings,
            verdicts: &Default::default(),
            configurations: &Configurations::new(db.clone(), Trail::new()),
            events: &events,
        };
        let chain = Chain::standard(&db, &store, inputs).with(Frozen {
            denied_blob: denied_blob.clone(),
            committed: committed.clone(),
        });
        let cache = berth_core::registry::ManifestCache::new(1 << 20);
        let r = Registry::new(db, store, events, chain, Trail::new(), cache);
        let repo = RepositoryName::parse("p/app").unwrap();
        let tag = |t: &str| Reference::Tag(Tag::parse(t).unwrap());

        let (first, pushed) = push_image(&r, &repo, "frozen", "one").await;
        pushed.unwrap();
        // Moving the frozen tag is refused inside the push's transaction:
        // the tag still names the first image, and no artifact was stored.
        let (second, moved) = push_image(&r, &repo, "frozen", "two").await;
        assert!(matches!(moved, Err(RegistryError::Denied(_))), "{moved:?}");
        let held = r.get_manifest(&repo, &tag("frozen")).await.unwrap();
        assert_eq!(held.digest, first.to_string());
        let gone = r.get_manifest(&repo, &Reference::Digest(second)).await;
        assert!(matches!(gone, Err(RegistryError::ManifestUnknown)));
        // Pushing the same image under it again is no move.
        push_image(&r, &repo, "frozen", "one").await.1.unwrap();

        for refused in [
            r.delete_manifest(&repo, &tag("frozen"), "tester").await,
            r.delete_manifest(&repo, &Reference::Digest(first.clone()), "tester")
                .await,
        ] {
            assert!(
                matches!(refused, Err(RegistryError::Denied(_))),
                "{refused:?}"
            );
        }
        let row = r.get_manifest(&repo, &tag("frozen")).await.unwrap();
        let frozen = Tag::parse("frozen").unwrap();
        let added = r
            .add_tag(&repo, row.repository_id, row.id, &frozen, "ci")
            .await;
        assert!(matches!(added, Err(RegistryError::Denied(_))));
        let v1 = Tag::parse("v1").unwrap();
        assert!(r
            .add_tag(&repo, row.repository_id, row.id, &v1, "ci")
            .await
            .unwrap());
        assert!(r.delete_tag(&repo, "v1", "ci").await.unwrap());

        // The standard rule runs too: an index's child cannot go alone.
        let (other, pushed) = push_image(&r, &repo, "other", "three").await;
        pushed.unwrap();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": other.to_string(),
                "size": r.get_manifest(&repo, &tag("other")).await.unwrap().manifest.len()}],
        });
        let body = serde_json::to_vec(&index).unwrap();
        r.put_manifest(&repo, &tag("multi"), None, &body, Vec::new(), "tester")
            .await
            .unwrap();
        let alone = r
            .delete_manifest(&repo, &Reference::Digest(other), "tester")
            .await;
        assert!(matches!(alone, Err(RegistryError::Referenced)), "{alone:?}");

        // Pulls: a denied blob is not served; others are.
        push_blob(&r, &repo, b"secret layer").await;
        assert!(matches!(
            r.serve_blob(&repo, &denied_blob).await,
            Err(RegistryError::Denied(_))
        ));
        assert!(r.blob(&repo, &denied_blob).await.is_ok());
        let frozen = tag("frozen");
        let pulled = r.serve_manifest(&repo, &frozen, Puller::default());
        assert!(pulled.await.is_ok());

        assert!(r.delete_repository(&repo, "tester").await.unwrap());
        let seen = committed.lock().unwrap().clone();
        for kind in ["blob", "push", "add-tag", "delete-tag", "delete-repository"] {
            assert!(seen.iter().any(|s| s == kind), "{kind} not seen: {seen:?}");
        }
        // Refused writes are not reported as committed.
        assert_eq!(seen.iter().filter(|s| *s == "add-tag").count(), 1);
        assert!(!seen.iter().any(|s| s == "delete-artifact"), "{seen:?}");
    }
}
