//! The policy chain: every write to the registry's tags, manifests and
//! blobs (push, tag, delete, copy, mount, over `/v2` or the API) and every
//! read that serves content over `/v2` passes it, so a rule on them (tag
//! immutability, quotas, content trust …) is one module here implementing
//! [`Policy`] plus one line in [`Chain::standard`].
//!
//! Write checks run in order inside the write's transaction, before it
//! changes anything, so what a rule reads is what the write commits
//! against; a refusal rolls the write back. Then each rule keeps its
//! accounts of the write (`account`: a quota's usage), which may still
//! refuse it. `after_write` runs once the write has committed, and the
//! events the rules raised are published; `check_pull` runs before
//! content is served.

mod content_trust;
pub mod cosign;
pub mod immutability;
pub mod quota;
mod referenced;
mod settings;
mod vulnerability;

pub use settings::ProjectSettings;
pub(crate) use settings::FRESH_FOR;
pub use vulnerability::ScanVerdicts;

use crate::configurations::Configurations;
use crate::notify::events::{Event, Events};
use crate::registry::error::RegistryError;
use berth_db::{Db, Tx};
use berth_oci::manifest::Manifest;
use berth_oci::{Digest, RepositoryName, Tag};
use berth_storage::Store;
use futures_util::future::BoxFuture;

/// A write to the registry, as the rules see it.
#[derive(Debug)]
pub enum Write<'a> {
    /// A manifest stored under its digest, with these tags (none for a push
    /// by digest).
    PushManifest {
        repo: &'a RepositoryName,
        digest: &'a Digest,
        manifest: &'a Manifest,
        /// The manifest's own size in bytes.
        size: u64,
        tags: &'a [Tag],
        operator: &'a str,
        /// The repository held this manifest already: its blobs were
        /// checked and counted when it was first pushed.
        stored: bool,
    },
    /// A tag added to a stored artifact.
    AddTag {
        repo: &'a RepositoryName,
        artifact_id: i64,
        tag: &'a Tag,
    },
    /// A tag removed.
    DeleteTag {
        repo: &'a RepositoryName,
        tag: &'a str,
    },
    /// An artifact deleted by digest, with its tags (and, as in Harbor, its
    /// unreferenced children and its accessories).
    DeleteArtifact {
        repo: &'a RepositoryName,
        artifact_id: i64,
        digest: &'a str,
    },
    /// A repository deleted with everything in it.
    DeleteRepository { repo: &'a RepositoryName },
    /// A blob added to a repository: uploaded, mounted or copied.
    PutBlob {
        repo: &'a RepositoryName,
        digest: &'a Digest,
        size: u64,
        operator: &'a str,
    },
}

/// Content about to be served.
#[derive(Debug)]
pub enum Read<'a> {
    Manifest {
        repo: &'a RepositoryName,
        digest: &'a str,
        puller: Puller,
    },
    Blob {
        repo: &'a RepositoryName,
        digest: &'a Digest,
    },
}

impl Read<'_> {
    /// A manifest read's repository, digest and puller; None for a blob.
    pub fn manifest(&self) -> Option<(&RepositoryName, &str, Puller)> {
        match self {
            Read::Manifest {
                repo,
                digest,
                puller,
            } => Some((repo, digest, *puller)),
            Read::Blob { .. } => None,
        }
    }
}

/// Who pulls, as far as the rules care.
#[derive(Debug, Clone, Copy, Default)]
pub struct Puller {
    /// A signing tool (cosign, notation) that may push to the repository:
    /// it reads a manifest in order to sign it, so signature rules let it
    /// through, as Harbor's do.
    pub signing: bool,
    /// A scanner Berth handed a scan's credential (`scanner-pull`): it
    /// reads an image in order to scan it, as Harbor's scanners do.
    pub scanner: bool,
}

impl Puller {
    /// Whether the pull rules let this puller through.
    pub fn exempt(self) -> bool {
        self.signing || self.scanner
    }
}

/// A rule on the registry's writes and reads. Every hook allows by default.
pub trait Policy: Send + Sync {
    /// Before a write changes anything, inside its transaction: an error
    /// refuses it (and is the client's answer).
    fn check_write<'a>(
        &'a self,
        _tx: &'a mut Tx,
        _write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }

    /// After every rule allowed the write, still inside its transaction
    /// and before it changes anything: what the rule keeps account of (a
    /// project's storage use); an error still refuses the write. Returns
    /// events to publish once the write has committed.
    fn account<'a>(
        &'a self,
        _tx: &'a mut Tx,
        _write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<Vec<Event>, RegistryError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// After a write has committed.
    fn after_write<'a>(&'a self, _write: &'a Write<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Before content is served: an error refuses the pull.
    fn check_pull<'a>(&'a self, _read: &'a Read<'a>) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A write the rules allowed: the events they raised, to publish once it
/// has committed (see [`Chain::after_write`]).
#[must_use = "hand it to after_write once the write has committed"]
pub struct Passed(Vec<Event>);

/// What the rules read besides the database and the blob store.
pub struct Inputs<'a> {
    /// Projects' settings.
    pub settings: &'a ProjectSettings,
    /// What scans found (the scanner clears it as it writes reports).
    pub verdicts: &'a ScanVerdicts,
    /// Run-time settings (whether quotas are enforced).
    pub configurations: &'a Configurations,
    /// Where the rules' own events go.
    pub events: &'a Events,
}

/// The rules, in the order they run, and where their events go.
pub struct Chain {
    rules: Vec<Box<dyn Policy>>,
    events: Events,
}

impl Chain {
    /// Berth's rules, reading what they need from `db` and `inputs`.
    pub fn standard(db: &Db, store: &Store, inputs: Inputs<'_>) -> Self {
        let Inputs {
            settings,
            verdicts,
            configurations,
            events,
        } = inputs;
        let rules: Vec<Box<dyn Policy>> = vec![
            Box::new(referenced::ReferencedByIndex),
            Box::new(immutability::Immutability),
            Box::new(content_trust::ContentTrust::new(
                db.clone(),
                store.clone(),
                settings.clone(),
            )),
            Box::new(vulnerability::Vulnerability::new(
                db.clone(),
                settings.clone(),
                verdicts.clone(),
            )),
            Box::new(quota::Quota::new(configurations.clone(), events.clone())),
        ];
        Chain {
            rules,
            events: events.clone(),
        }
    }

    /// The chain with one more rule, run last.
    pub fn with(mut self, rule: impl Policy + 'static) -> Self {
        self.rules.push(Box::new(rule));
        self
    }

    pub(crate) async fn check_write(
        &self,
        tx: &mut Tx,
        write: &Write<'_>,
    ) -> Result<Passed, RegistryError> {
        for rule in &self.rules {
            rule.check_write(tx, write).await?;
        }
        let mut raised = Vec::new();
        for rule in &self.rules {
            raised.extend(rule.account(tx, write).await?);
        }
        Ok(Passed(raised))
    }

    pub(crate) async fn after_write(&self, write: &Write<'_>, passed: Passed) {
        for rule in &self.rules {
            rule.after_write(write).await;
        }
        for e in passed.0 {
            self.events.publish(e);
        }
    }

    pub(crate) async fn check_pull(&self, read: &Read<'_>) -> Result<(), RegistryError> {
        for rule in &self.rules {
            rule.check_pull(read).await?;
        }
        Ok(())
    }
}
