//! Tag immutability, as Harbor's immutable tag rules: in a project with an
//! enabled rule whose repository and tag selectors pick a tag, that tag may
//! not move to another artifact or be deleted, and neither may the
//! artifact it names (nor its repository), whoever asks. Pushing the same
//! digest to it again changes nothing and is let through.

use super::{Policy, Write};
use crate::registry::error::RegistryError;
use crate::selector::On;
use berth_db::{artifacts, immutable, Tx};
use berth_oci::RepositoryName;
use futures_util::future::BoxFuture;

/// A rule as Harbor's API and storage write it (`ImmutableRule`).
pub use crate::selector::Rule as ImmutableRule;

/// Whether a rule protects `tag` of repository `repo` (its name in the
/// project): its first repository selector and first tag selector both
/// pick it, as Harbor's matcher reads a rule.
fn protects(rule: &ImmutableRule, repo: &str, tag: &str) -> bool {
    let repos = rule
        .scope_selectors
        .get("repository")
        .and_then(|s| s.first());
    match (repos, rule.tag_selectors.first()) {
        (Some(r), Some(t)) => r.selects(On::Repository, repo) && t.selects(On::Tag, tag),
        _ => false,
    }
}

/// Rules as stored (`db::immutable::enabled_in`), read.
pub fn parsed(stored: &[String]) -> Vec<ImmutableRule> {
    (stored.iter())
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// Whether one of `rules` (the project's) protects `tag` in `repo`.
pub fn protected(rules: &[ImmutableRule], repo: &RepositoryName, tag: &str) -> bool {
    let name = repo.as_str().split_once('/').map_or("", |(_, n)| n);
    rules.iter().any(|r| protects(r, name, tag))
}

fn refused(message: String) -> RegistryError {
    RegistryError::Immutable(message)
}

/// The rule on the policy chain.
pub struct Immutability;

impl Immutability {
    async fn check(tx: &mut Tx, write: &Write<'_>) -> Result<(), RegistryError> {
        let repo = match write {
            // A push by digest moves no tag.
            Write::PushManifest { tags: [], .. } => return Ok(()),
            Write::PushManifest { repo, .. }
            | Write::AddTag { repo, .. }
            | Write::DeleteTag { repo, .. }
            | Write::DeleteArtifact { repo, .. }
            | Write::DeleteRepository { repo } => *repo,
            Write::PutBlob { .. } => return Ok(()),
        };
        let rules = parsed(&immutable::enabled_in(&mut **tx, repo.project()).await?);
        if rules.is_empty() {
            return Ok(());
        }
        let cannot_delete = |tag: &str| {
            refused(format!(
                "the tag {tag} configured as immutable, cannot be deleted"
            ))
        };
        match write {
            Write::PushManifest { digest, tags, .. } => {
                for tag in tags.iter().filter(|t| protected(&rules, repo, t.as_str())) {
                    let now = artifacts::by_tag(&mut **tx, repo.as_str(), tag.as_str()).await?;
                    if now.is_some_and(|m| m.digest != digest.to_string()) {
                        let name = repo.as_str().split_once('/').map_or("", |(_, n)| n);
                        return Err(refused(format!(
                            "Failed to process request due to '{name}:{}' configured as immutable.",
                            tag.as_str()
                        )));
                    }
                }
            }
            Write::AddTag {
                artifact_id, tag, ..
            } => {
                let tag = tag.as_str();
                if protected(&rules, repo, tag) {
                    let now = artifacts::by_tag(&mut **tx, repo.as_str(), tag).await?;
                    let theirs = artifacts::tag_names(&mut **tx, *artifact_id).await?;
                    if now.is_some() && !theirs.iter().any(|t| t == tag) {
                        return Err(refused(format!(
                            "the tag {tag} configured as immutable, cannot be updated"
                        )));
                    }
                }
            }
            Write::DeleteTag { tag, .. } => {
                if protected(&rules, repo, tag) {
                    return Err(cannot_delete(tag));
                }
            }
            Write::DeleteArtifact { artifact_id, .. } => {
                let tags = artifacts::tag_names(&mut **tx, *artifact_id).await?;
                if let Some(tag) = tags.iter().find(|t| protected(&rules, repo, t)) {
                    return Err(cannot_delete(tag));
                }
            }
            Write::DeleteRepository { .. } => {
                let all = artifacts::digests_and_tags(&mut **tx, repo.as_str()).await?;
                let mut tags = all.iter().flat_map(|(_, tags)| tags);
                if let Some(tag) = tags.find(|t| protected(&rules, repo, t)) {
                    return Err(cannot_delete(tag));
                }
            }
            Write::PutBlob { .. } => {}
        }
        Ok(())
    }
}

impl Policy for Immutability {
    fn check_write<'a>(
        &'a self,
        tx: &'a mut Tx,
        write: &'a Write<'a>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(Self::check(tx, write))
    }
}
