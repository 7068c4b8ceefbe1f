//! Storage quotas on the policy chain: a write that adds blobs or a
//! manifest to a project counts each once against the project's limit,
//! in the write's own transaction, under the quota row's lock — so two
//! pushes racing for the last megabyte cannot both win. Deletes lock the
//! row too (the registry releases what they freed), so every writer of a
//! project's usage takes that lock first.

use super::{Policy, Write};
use crate::configurations::Configurations;
use crate::notify::events::{Artifact, Event, Events, QuotaNote};
use crate::quota::{display_size, WARNING_PERCENT};
use crate::registry::error::RegistryError;
use berth_db::{now_millis, quotas, Tx};
use futures_util::future::BoxFuture;

/// The rule.
pub struct Quota {
    configurations: Configurations,
    events: Events,
}

impl Quota {
    /// Enforced while `quota_per_project_enable` is on (usage is counted
    /// either way); refusals are told to `events` at once.
    pub fn new(configurations: Configurations, events: Events) -> Self {
        Quota {
            configurations,
            events,
        }
    }

    async fn account(&self, tx: &mut Tx, write: &Write<'_>) -> Result<Vec<Event>, RegistryError> {
        let (repo, items, operator, manifest) = match write {
            Write::PutBlob {
                repo,
                digest,
                size,
                operator,
            } => (
                *repo,
                vec![(digest.to_string(), *size as i64)],
                *operator,
                None,
            ),
            // Nothing new: what it uses is counted already.
            Write::PushManifest { stored: true, .. } => return Ok(Vec::new()),
            Write::PushManifest {
                repo,
                digest,
                manifest,
                size,
                tags,
                operator,
                stored: false,
            } => {
                let mut items = vec![(digest.to_string(), *size as i64)];
                items.extend(
                    (manifest.required_blobs()).map(|d| (d.digest.to_string(), d.size as i64)),
                );
                items.sort();
                items.dedup_by(|a, b| a.0 == b.0);
                (*repo, items, *operator, Some((digest.to_string(), *tags)))
            }
            Write::DeleteArtifact { repo, .. } | Write::DeleteRepository { repo } => {
                // The registry releases what the delete frees, under this lock.
                quotas::lock(&mut **tx, repo.project(), now_millis()).await?;
                return Ok(Vec::new());
            }
            Write::AddTag { .. } | Write::DeleteTag { .. } => return Ok(Vec::new()),
        };
        let now = now_millis();
        let Some(q) = quotas::lock(&mut **tx, repo.project(), now).await? else {
            return Ok(Vec::new());
        };
        let added = quotas::add_blobs(tx, q.project_id, &items, now).await?;
        if added == 0 {
            return Ok(Vec::new());
        }
        let used = q.used + added;
        let limited = q.hard >= 0 && self.configurations.snapshot().quota_per_project_enable;
        let event = |kind, details| {
            let (digest, tags) = manifest.clone().unwrap_or_default();
            Event::Quota(
                Artifact {
                    repo: repo.clone(),
                    digest,
                    tags: tags.iter().map(|t| t.as_str().to_string()).collect(),
                    operator: operator.to_string(),
                    at: now,
                },
                QuotaNote { kind, details },
            )
        };
        if limited && used > q.hard {
            // Harbor's words (`ResourceOverflow`).
            let why = format!(
                "adding {} of storage resource, which when updated to current usage of {} will exceed the configured upper limit of {}.",
                display_size(added),
                display_size(q.used),
                display_size(q.hard)
            );
            self.events.publish(event("QUOTA_EXCEED", why.clone()));
            return Err(RegistryError::QuotaExceeded(why));
        }
        quotas::add_used(&mut **tx, q.project_id, added).await?;
        let level = |n: i64| n * 100 >= q.hard * WARNING_PERCENT;
        if limited && q.hard > 0 && level(used) && !level(q.used) {
            let details = format!(
                "quota usage reach {WARNING_PERCENT}%: resource storage used {} of {}",
                display_size(used),
                display_size(q.hard)
            );
            return Ok(vec![event("QUOTA_WARNING", details)]);
        }
        Ok(Vec::new())
    }
}

impl Policy for Quota {
    fn account<'a>(
        &'a self,
        tx: &'a mut Tx,
        write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<Vec<Event>, RegistryError>> {
        Box::pin(Quota::account(self, tx, write))
    }
}
