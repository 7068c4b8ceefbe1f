//! Content trust, as Harbor's content-trust middleware: in a project with
//! `enable_content_trust_cosign` (or `enable_content_trust`, for notation)
//! on, a manifest is served only when a signature of that kind refers to
//! it. Signatures themselves pass, and so do signing tools that may push.
//! Beyond Harbor, a manifest an index lists passes when the index is
//! signed, so a signed multi-platform image can be pulled.

use super::{Policy, ProjectSettings, Read};
use crate::registry::error::RegistryError;
use berth_db::{artifacts, Db};
use futures_util::future::BoxFuture;

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

pub struct ContentTrust {
    db: Db,
    settings: ProjectSettings,
}

impl ContentTrust {
    pub fn new(db: Db, settings: ProjectSettings) -> Self {
        ContentTrust { db, settings }
    }

    /// Whether `digest`, or an index listing it, has a signature of `kind`.
    async fn signed(&self, repo: &str, digest: &str, kind: &str) -> Result<bool, RegistryError> {
        let db = self.db.reader();
        if artifacts::has_accessory(db, repo, digest, kind).await? {
            return Ok(true);
        }
        for parent in artifacts::parent_digests(db, repo, digest).await? {
            if artifacts::has_accessory(db, repo, &parent, kind).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Policy for ContentTrust {
    fn check_pull<'a>(&'a self, read: &'a Read<'a>) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let Read::Manifest {
                repo,
                digest,
                puller,
            } = read
            else {
                return Ok(());
            };
            let settings = self.settings.of(repo.project()).await?;
            let on = |key: &str| settings.get(key).is_some_and(|v| v == "true");
            if !RULES.iter().any(|(key, ..)| on(key)) || puller.signing {
                return Ok(());
            }
            let name = repo.as_str();
            if artifacts::is_signature(self.db.reader(), name, digest).await? {
                return Ok(());
            }
            for (key, kind, refusal) in RULES {
                if on(key) && !self.signed(name, digest, kind).await? {
                    return Err(RegistryError::PolicyViolation((*refusal).into()));
                }
            }
            Ok(())
        })
    }
}
