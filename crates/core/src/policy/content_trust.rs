//! Content trust, as Harbor's content-trust middleware: in a project with
//! `enable_content_trust_cosign` (or `enable_content_trust`, for notation)
//! on, a manifest is served only when a signature of that kind refers to
//! it. Signatures themselves pass, and so do signing tools that may push
//! and scanners pulling with a scan's credential.
//! Beyond Harbor, a manifest an index lists passes when the index is
//! signed, so a signed multi-platform image can be pulled.
//!
//! What signs a manifest is cached per repository and digest: any write to
//! the repository (a signature pushed or deleted, a tag moved) drops the
//! repository's verdicts in this process, and another replica's writes are
//! seen within `FRESH_FOR`.

use super::settings::FRESH_FOR;
use super::{Policy, ProjectSettings, Read, Write};
use crate::registry::error::RegistryError;
use berth_db::{artifacts, Db};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
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

/// Verdicts kept at most, across repositories: past it, all are dropped.
const MOST: usize = 50_000;

/// What signs one manifest.
#[derive(Clone, Copy)]
struct Verdict {
    at: Instant,
    /// The manifest is itself a signature.
    is_signature: bool,
    /// Per entry of `RULES`: a signature of that kind refers to it or to an
    /// index listing it.
    signed: [bool; RULES.len()],
}

pub struct ContentTrust {
    db: Db,
    settings: ProjectSettings,
    /// Repository → digest → verdict.
    verdicts: Mutex<HashMap<String, HashMap<String, Verdict>>>,
}

impl ContentTrust {
    pub fn new(db: Db, settings: ProjectSettings) -> Self {
        ContentTrust {
            db,
            settings,
            verdicts: Mutex::default(),
        }
    }

    /// The verdict on `digest`, from the cache while fresh.
    async fn verdict(&self, repo: &str, digest: &str) -> Result<Verdict, RegistryError> {
        let cached = crate::lock(&self.verdicts)
            .get(repo)
            .and_then(|m| m.get(digest).copied());
        if let Some(v) = cached.filter(|v| v.at.elapsed() < FRESH_FOR) {
            return Ok(v);
        }
        let db = self.db.reader();
        let mut v = Verdict {
            at: Instant::now(),
            is_signature: artifacts::is_signature(db, repo, digest).await?,
            signed: [false; RULES.len()],
        };
        if !v.is_signature {
            let parents = artifacts::parent_digests(db, repo, digest).await?;
            for (i, (_, kind, _)) in RULES.iter().enumerate() {
                for subject in std::iter::once(digest).chain(parents.iter().map(String::as_str)) {
                    if artifacts::has_accessory(db, repo, subject, kind).await? {
                        v.signed[i] = true;
                        break;
                    }
                }
            }
        }
        let mut all = crate::lock(&self.verdicts);
        if all.values().map(HashMap::len).sum::<usize>() >= MOST {
            all.clear();
        }
        let of_repo = all.entry(repo.to_string()).or_default();
        of_repo.insert(digest.to_string(), v);
        Ok(v)
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
            Ok(())
        })
    }
}
