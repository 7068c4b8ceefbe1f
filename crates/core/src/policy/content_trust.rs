//! Content trust, as Harbor's content-trust middleware: in a project with
//! `enable_content_trust_cosign` (or `enable_content_trust`, for notation)
//! on, a manifest is served only when a signature of that kind refers to
//! it. Signatures themselves pass, and so do signing tools that may push
//! and scanners pulling with a scan's credential.
//! Beyond Harbor, a manifest an index lists passes when the index is
//! signed, so a signed multi-platform image can be pulled; and a project
//! that holds cosign public keys asks that a signature verify against one
//! of them (its simple-signing payload naming the signed digest).
//!
//! What signs a manifest is cached per repository and digest: any write to
//! the repository (a signature pushed or deleted, a tag moved) drops the
//! repository's verdicts in this process, and another replica's writes are
//! seen within `FRESH_FOR`.

use super::settings::FRESH_FOR;
use super::{cosign, Policy, ProjectSettings, Read, Write};
use crate::registry::error::RegistryError;
use berth_db::{artifacts, Db};
use berth_storage::Store;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Each switch, the accessory type it asks for, and Harbor's refusal.
const RULES: &[(&str, &str, &str)] = &[
    (
        "enable_content_trust_cosign",
        "signature.cosign",
        "The image is not signed by cosign.",
    ),
    (
        "enable_content_trust",
        "signature.notation",
        "The image is not signed by notation.",
    ),
];

/// The refusal of a cosign-signed manifest whose signatures verify with
/// none of the project's keys.
const UNVERIFIED: &str = "The image is signed by cosign, but not with a key of the project.";

/// Verdicts kept at most, across repositories: past it, all are dropped.
const MOST: usize = 50_000;

/// What signs one manifest.
#[derive(Clone)]
struct Verdict {
    at: Instant,
    /// The manifest is itself a signature.
    is_signature: bool,
    /// Per entry of `RULES`: a signature of that kind refers to it or to an
    /// index listing it.
    signed: [bool; RULES.len()],
    /// The cosign signatures of it (or of an index listing it) whose
    /// payload names what they sign: (payload, signature), checked against
    /// the project's keys at each pull, so a key change holds at once.
    cosign: Arc<[(Vec<u8>, Vec<u8>)]>,
}

/// A signature payload larger than this is not read (cosign's are a few
/// hundred bytes).
const MAX_PAYLOAD: u64 = 64 << 10;

pub struct ContentTrust {
    db: Db,
    store: Store,
    settings: ProjectSettings,
    /// Repository → digest → verdict.
    verdicts: Mutex<HashMap<String, HashMap<String, Verdict>>>,
}

impl ContentTrust {
    pub fn new(db: Db, store: Store, settings: ProjectSettings) -> Self {
        ContentTrust {
            db,
            store,
            settings,
            verdicts: Mutex::default(),
        }
    }

    /// The verdict on `digest`, from the cache while fresh.
    async fn verdict(&self, repo: &str, digest: &str) -> Result<Verdict, RegistryError> {
        let cached = crate::lock(&self.verdicts)
            .get(repo)
            .and_then(|m| m.get(digest).cloned());
        if let Some(v) = cached.filter(|v| v.at.elapsed() < FRESH_FOR) {
            return Ok(v);
        }
        let db = self.db.reader();
        let mut v = Verdict {
            at: Instant::now(),
            is_signature: artifacts::is_signature(db, repo, digest).await?,
            signed: [false; RULES.len()],
            cosign: Arc::new([]),
        };
        if !v.is_signature {
            let parents = artifacts::parent_digests(db, repo, digest).await?;
            let subjects: Vec<&str> = std::iter::once(digest)
                .chain(parents.iter().map(String::as_str))
                .collect();
            for (i, (_, kind, _)) in RULES.iter().enumerate() {
                for subject in &subjects {
                    if artifacts::has_accessory(db, repo, subject, kind).await? {
                        v.signed[i] = true;
                        break;
                    }
                }
            }
            if v.signed[0] {
                v.cosign = self.cosign_signatures(repo, &subjects).await?.into();
            }
        }
        let mut all = crate::lock(&self.verdicts);
        if all.values().map(HashMap::len).sum::<usize>() >= MOST {
            all.clear();
        }
        let of_repo = all.entry(repo.to_string()).or_default();
        of_repo.insert(digest.to_string(), v.clone());
        Ok(v)
    }

    /// The cosign signatures of the subjects whose payload names the
    /// subject it is attached to, with their payloads read from storage.
    async fn cosign_signatures(
        &self,
        repo: &str,
        subjects: &[&str],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, RegistryError> {
        let db = self.db.reader();
        let mut out = Vec::new();
        for subject in subjects {
            let kind = RULES[0].1;
            for (_, manifest) in artifacts::accessory_manifests(db, repo, subject, kind).await? {
                for (layer, size, signature) in cosign::signed_layers(&manifest) {
                    let read = self.store.read_small(&layer, size, MAX_PAYLOAD).await;
                    let Ok(Some(payload)) = read else {
                        continue;
                    };
                    if cosign::signed_digest(&payload).as_deref() == Some(*subject) {
                        out.push((payload, signature));
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Policy for ContentTrust {
    fn after_write<'a>(&'a self, write: &'a Write<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let repo = match write {
                Write::PushManifest { repo, .. }
                | Write::AddTag { repo, .. }
                | Write::DeleteTag { repo, .. }
                | Write::DeleteArtifact { repo, .. }
                | Write::DeleteRepository { repo } => repo,
                Write::PutBlob { .. } => return,
            };
            crate::lock(&self.verdicts).remove(repo.as_str());
        })
    }

    fn check_pull<'a>(&'a self, read: &'a Read<'a>) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let Some((repo, digest, puller)) = read.manifest() else {
                return Ok(());
            };
            let settings = self.settings.of(repo.project()).await?;
            let on = |key: &str| settings.get(key).is_some_and(|v| v == "true");
            if !RULES.iter().any(|(key, ..)| on(key)) || puller.exempt() {
                return Ok(());
            }
            let verdict = self.verdict(repo.as_str(), digest).await?;
            if verdict.is_signature {
                return Ok(());
            }
            for ((key, _, refusal), signed) in RULES.iter().zip(verdict.signed) {
                if on(key) && !signed {
                    return Err(RegistryError::PolicyViolation((*refusal).into()));
                }
            }
            // Beyond Harbor: a project with cosign keys asks that a
            // signature verify against one of them.
            if on(RULES[0].0) {
                let keys = self.settings.cosign_keys(repo.project()).await?;
                let verified = keys.is_empty()
                    || (verdict.cosign.iter())
                        .any(|(payload, sig)| keys.iter().any(|k| k.verifies(payload, sig)));
                if !verified {
                    return Err(RegistryError::PolicyViolation(UNVERIFIED.into()));
                }
            }
            Ok(())
        })
    }
}
