//! Artifacts and tags as Harbor's API manages them.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::notify::trail::{Operation, Target};
use crate::policy::immutability::{self, ImmutableRule};
use crate::project::{ProjectKey, Projects};
use crate::query::Filter;
use crate::registry::Registry;
use berth_db::artifacts::{self, Within};
/// The rows the API and portal render.
pub use berth_db::artifacts::{Accessory, ArtifactRow, Described, TagRow};
use berth_db::{labels, now_millis, Db};
use berth_oci::artifact::IMAGE_CONFIGS;
use berth_oci::chart::{self, ChartFiles};
use berth_oci::manifest::Manifest;
use berth_oci::{Descriptor, Reference, RepositoryName, Tag};

/// An addition's content and its media type.
#[derive(Debug)]
pub struct Addition {
    pub content: Vec<u8>,
    pub content_type: &'static str,
}

impl Addition {
    fn new(content: Vec<u8>, content_type: &'static str) -> Self {
        Addition {
            content,
            content_type,
        }
    }

    fn json(value: &impl serde::Serialize) -> CoreResult<Self> {
        let content = serde_json::to_vec(value).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Addition::new(content, "application/json; charset=utf-8"))
    }
}

/// A child of an index, as the index lists it (platform, annotations, urls).
#[derive(Debug, Clone)]
pub struct ChildReference {
    pub child_id: i64,
    pub descriptor: Descriptor,
}

/// The artifact service.
#[derive(Clone)]
pub struct Artifacts {
    db: Db,
    projects: Projects,
}

impl Artifacts {
    /// The service on a database.
    pub fn new(db: Db, projects: Projects) -> Self {
        Artifacts { db, projects }
    }

    async fn check(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        action: Action,
        kind: Kind,
    ) -> CoreResult<i64> {
        Ok(self
            .projects
            .require_in(ctx, repo.project(), action, kind)
            .await?
            .id)
    }

    /// One page of a repository's artifacts (newest first), with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<ArtifactRow>, i64, i64)> {
        let query = &filter.parse(berth_db::artifacts::FIELDS)?;
        let project_id = self.check(ctx, repo, Action::List, Kind::Artifact).await?;
        let id = berth_db::repositories::id_by_name(self.db.reader(), repo.as_str())
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("repository {repo} not found")))?;
        let within = Within::Repository(id);
        let total = artifacts::count(&self.db, within, query).await?;
        let page = artifacts::list(&self.db, within, query, offset, limit).await?;
        Ok((page, total, project_id))
    }

    /// One page of a project's artifacts across its repositories (newest
    /// first), with the total and the project's id; `latest` keeps the
    /// newest match of each repository.
    pub async fn list_in_project(
        &self,
        ctx: &SecurityContext,
        project: &ProjectKey,
        latest: bool,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<ArtifactRow>, i64, i64)> {
        let query = &filter.parse(berth_db::artifacts::FIELDS)?;
        let view = self
            .projects
            .authorized(ctx, project, Action::List, Kind::Artifact)
            .await?;
        let within = Within::Project {
            name: &view.project.name,
            latest,
        };
        let total = artifacts::count(&self.db, within, query).await?;
        let page = artifacts::list(&self.db, within, query, offset, limit).await?;
        Ok((page, total, view.project.project_id))
    }

    /// How many accessories (signatures, SBOMs, other referrers) each of a
    /// page of `repo`'s artifacts has; artifacts without any are absent.
    pub async fn accessory_counts(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        page: &[ArtifactRow],
    ) -> CoreResult<std::collections::BTreeMap<String, i64>> {
        self.check(ctx, repo, Action::List, Kind::Accessory).await?;
        let Some(first) = page.first() else {
            return Ok(Default::default());
        };
        let digests: Vec<String> = page.iter().map(|a| a.digest.clone()).collect();
        Ok(artifacts::accessory_counts(self.db.reader(), first.repository_id, &digests).await?)
    }

    /// One artifact by tag or digest.
    pub async fn get(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<(ArtifactRow, i64)> {
        let project_id = self.check(ctx, repo, Action::Read, Kind::Artifact).await?;
        Ok((self.find(repo, reference).await?, project_id))
    }

    async fn find(&self, repo: &RepositoryName, reference: &Reference) -> CoreResult<ArtifactRow> {
        let (digest, tag) = match reference {
            Reference::Digest(d) => (Some(d.to_string()), None),
            Reference::Tag(t) => (None, Some(t.as_str())),
        };
        artifacts::find(self.db.reader(), repo.as_str(), digest.as_deref(), tag)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("artifact {repo}:{reference} not found")))
    }

    /// Copies `from` (`project/repo:tag` or `project/repo@digest`) into
    /// `repo`; needs pull on the source and artifact create on the target.
    pub async fn copy(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        from: &str,
    ) -> CoreResult<String> {
        // The artifact would be the source's, in `repo`.
        let source = match from.split_once('@') {
            Some((_, digest)) => digest,
            None => from.rsplit_once(':').map_or(from, |(_, tag)| tag),
        };
        let work = self.copy_checked(ctx, registry, repo, from);
        let target = Target::Artifact(repo, source);
        (self.projects.trail()).refusal(ctx, Operation::Create, target, work.await)
    }

    async fn copy_checked(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        from: &str,
    ) -> CoreResult<String> {
        let (src, reference) = match from.split_once('@') {
            Some((r, d)) => (r, d),
            None => from
                .rsplit_once(':')
                .filter(|(r, _)| !r.is_empty())
                .ok_or_else(|| {
                    CoreError::BadRequest("from must be project/repository:tag or @digest".into())
                })?,
        };
        let src = RepositoryName::parse(src).map_err(|e| CoreError::BadRequest(e.to_string()))?;
        let reference =
            Reference::parse(reference).map_err(|e| CoreError::BadRequest(e.to_string()))?;
        self.check(ctx, &src, Action::Pull, Kind::Repository)
            .await?;
        self.check(ctx, repo, Action::Create, Kind::Artifact)
            .await?;
        let digest = registry
            .copy_manifest(&src, &reference, repo, ctx.username())
            .await?;
        Ok(digest.to_string())
    }

    /// Deletes an artifact with its tags (refused while an index refers to it).
    pub async fn delete(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<()> {
        let work = async {
            self.check(ctx, repo, Action::Delete, Kind::Artifact)
                .await?;
            let a = self.find(repo, reference).await?;
            let digest = berth_oci::Digest::parse(&a.digest)
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            Ok(registry
                .delete_manifest(repo, &Reference::Digest(digest), ctx.username())
                .await?)
        };
        let target = Target::Artifact(repo, &reference.to_string());
        (self.projects.trail()).refusal(ctx, Operation::Delete, target, work.await)
    }

    /// One page of an artifact's accessories (signatures, SBOMs, other
    /// referrers), with the total and the subject.
    pub async fn accessories(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Accessory>, i64, ArtifactRow)> {
        let query = &filter.parse(berth_db::artifacts::ACCESSORY_FIELDS)?;
        self.check(ctx, repo, Action::List, Kind::Accessory).await?;
        let subject = self.find(repo, reference).await?;
        let (page, total) = artifacts::accessories(
            &self.db,
            repo.as_str(),
            &subject.digest,
            query,
            offset,
            limit,
        )
        .await?;
        Ok((page, total, subject))
    }

    /// An artifact with its manifest (its config, layers or child manifests).
    pub async fn manifest(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<(ArtifactRow, Manifest)> {
        self.check(ctx, repo, Action::Read, Kind::Artifact).await?;
        let a = self.find(repo, reference).await?;
        let manifest = parsed(registry, repo, &a).await?;
        Ok((a, manifest))
    }

    /// What Harbor's processors say of an artifact the caller has read:
    /// recorded at push, or worked out now for one pushed before Berth
    /// recorded it.
    pub async fn described(
        &self,
        registry: &Registry,
        repo: &RepositoryName,
        a: &ArtifactRow,
    ) -> CoreResult<Described> {
        match &a.described {
            Some(d) => Ok(d.clone()),
            None => Ok(registry.describe(&parsed(registry, repo, a).await?).await),
        }
    }

    /// The children of an index the caller has read, each with the
    /// descriptor the index lists it by (none for other artifacts).
    pub async fn references(
        &self,
        registry: &Registry,
        repo: &RepositoryName,
        a: &ArtifactRow,
    ) -> CoreResult<Vec<ChildReference>> {
        if !is_index(&a.media_type) {
            return Ok(Vec::new());
        }
        let m = parsed(registry, repo, a).await?;
        let children = artifacts::children(self.db.reader(), a.id).await?;
        Ok(m.manifests
            .into_iter()
            .filter_map(|descriptor| {
                let digest = descriptor.digest.to_string();
                let (child_id, _) = children.iter().find(|(_, d)| *d == digest)?;
                Some(ChildReference {
                    child_id: *child_id,
                    descriptor,
                })
            })
            .collect())
    }

    /// One of an artifact's additions (`build_history` of an image;
    /// `values.yaml`, `readme.md`, `dependencies` of a chart), named in any
    /// case as in Harbor; 400 for one its type does not have.
    pub async fn addition(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
        name: &str,
    ) -> CoreResult<Addition> {
        self.check(ctx, repo, Action::Read, Kind::ArtifactAddition)
            .await?;
        let a = self.find(repo, reference).await?;
        let described = self.described(registry, repo, &a).await?;
        let name = name.to_ascii_lowercase();
        if !additions_of(&described, &a.media_type).contains(&name.as_str()) {
            return Err(CoreError::BadRequest(format!(
                "addition {} isn't supported for {}",
                name.to_ascii_uppercase(),
                described.harbor_type
            )));
        }
        if name == "build_history" {
            return build_history(registry, repo, &parsed(registry, repo, &a).await?).await;
        }
        if name == "sbom" {
            return sbom_document(registry, repo, &parsed(registry, repo, &a).await?).await;
        }
        let files = chart_files(registry, repo, &a).await?;
        Ok(match name.as_str() {
            "values.yaml" => Addition::new(files.values, "text/plain; charset=utf-8"),
            "readme.md" => Addition::new(files.readme, "text/markdown; charset=utf-8"),
            _ => Addition::json(&files.dependencies)?,
        })
    }

    /// A chart's readme, values and dependencies at once (for the portal).
    pub async fn chart(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> CoreResult<ChartFiles> {
        self.check(ctx, repo, Action::Read, Kind::ArtifactAddition)
            .await?;
        chart_files(registry, repo, &self.find(repo, reference).await?).await
    }

    /// Adds a tag to an artifact; 409 if the repository has it already.
    pub async fn add_tag(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
        name: &str,
    ) -> CoreResult<()> {
        let work = async {
            self.check(ctx, repo, Action::Create, Kind::Tag).await?;
            let tag = Tag::parse(name)
                .map_err(|_| CoreError::BadRequest(format!("invalid tag name {name:?}")))?;
            let a = self.find(repo, reference).await?;
            let added = registry
                .add_tag(repo, a.repository_id, a.id, &tag, ctx.username())
                .await?;
            if !added {
                return Err(CoreError::Conflict(format!(
                    "tag {name} already exists in {repo}"
                )));
            }
            Ok(())
        };
        (self.projects.trail()).refusal(ctx, Operation::Create, Target::Tag(repo, name), work.await)
    }

    /// Puts a label on an artifact: a global label or one of its
    /// project's.
    pub async fn add_label(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        label: i64,
    ) -> CoreResult<()> {
        let project = self
            .check(ctx, repo, Action::Create, Kind::ArtifactLabel)
            .await?;
        let found = labels::by_id(self.db.reader(), label).await?;
        if !found.is_some_and(|l| l.scope == "g" || l.project_id == project) {
            return Err(CoreError::NotFound(format!(
                "project id {project}, label {label} not found"
            )));
        }
        let a = self.find(repo, reference).await?;
        labels::add_to(self.db.writer(), label, a.id, now_millis())
            .await
            .map_err(|e| {
                let what = format!("label {label} is already added to the artifact {}", a.id);
                CoreError::taken(e, what)
            })
    }

    /// The enabled tag immutability rules of the project named `project`
    /// (`policy::immutability::protected` tests a tag against them).
    pub async fn immutable_rules(&self, project: &str) -> CoreResult<Vec<ImmutableRule>> {
        let stored = berth_db::immutable::enabled_in(self.db.reader(), project).await?;
        Ok(immutability::parsed(&stored))
    }

    /// Takes a label off an artifact.
    pub async fn remove_label(
        &self,
        ctx: &SecurityContext,
        repo: &RepositoryName,
        reference: &Reference,
        label: i64,
    ) -> CoreResult<()> {
        self.check(ctx, repo, Action::Delete, Kind::ArtifactLabel)
            .await?;
        let a = self.find(repo, reference).await?;
        match labels::remove_from(self.db.writer(), label, a.id).await? {
            true => Ok(()),
            false => Err(CoreError::NotFound(format!(
                "reference with label {label} and artifact {} not found",
                a.id
            ))),
        }
    }

    /// Removes a tag from an artifact.
    pub async fn delete_tag(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        repo: &RepositoryName,
        reference: &Reference,
        name: &str,
    ) -> CoreResult<()> {
        let work = async {
            self.check(ctx, repo, Action::Delete, Kind::Tag).await?;
            let a = self.find(repo, reference).await?;
            if !a.tags.iter().any(|t| t.name == name) {
                return Err(CoreError::NotFound(format!(
                    "tag {name} not found on {}",
                    a.digest
                )));
            }
            registry.delete_tag(repo, name, ctx.username()).await?;
            Ok(())
        };
        (self.projects.trail()).refusal(ctx, Operation::Delete, Target::Tag(repo, name), work.await)
    }
}

/// An artifact's manifest, parsed (it was validated when pushed).
async fn parsed(
    registry: &Registry,
    repo: &RepositoryName,
    a: &ArtifactRow,
) -> CoreResult<Manifest> {
    let digest =
        berth_oci::Digest::parse(&a.digest).map_err(|e| CoreError::Internal(e.to_string()))?;
    let row = registry
        .get_manifest(repo, &Reference::Digest(digest))
        .await?;
    Manifest::parse(&row.manifest, Some(&row.media_type))
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// The additions Harbor's processor for an artifact lists (as its links
/// name them): an image manifest's build history (not an index's), a
/// chart's values, readme and dependencies, an SBOM's document.
pub fn additions_of(d: &Described, manifest_media_type: &str) -> &'static [&'static str] {
    match d.harbor_type.as_str() {
        "IMAGE" | "WASM"
            if IMAGE_CONFIGS.contains(&d.media_type.as_str()) && !is_index(manifest_media_type) =>
        {
            &["build_history"]
        }
        "CHART" => &["values.yaml", "readme.md", "dependencies"],
        "SBOM" => &["sbom"],
        _ => &[],
    }
}

/// What a chart's archive holds for its additions.
async fn chart_files(
    registry: &Registry,
    repo: &RepositoryName,
    a: &ArtifactRow,
) -> CoreResult<ChartFiles> {
    let manifest = parsed(registry, repo, a).await?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == chart::CHART_LAYER)
        .ok_or_else(|| CoreError::BadRequest(format!("{} has no chart archive", a.digest)))?;
    registry
        .read_blob_with(repo, &layer.digest, chart::read)
        .await?
        .map_err(|e| CoreError::BadRequest(e.to_string()))
}

/// An SBOM accessory's document: its one layer, as Harbor serves it.
async fn sbom_document(
    registry: &Registry,
    repo: &RepositoryName,
    manifest: &Manifest,
) -> CoreResult<Addition> {
    const MAX_SBOM: u64 = 64 << 20;
    let [layer] = manifest.layers.as_slice() else {
        return Err(CoreError::NotFound("The sbom is not found".into()));
    };
    let content = registry
        .read_small_blob(repo, &layer.digest, MAX_SBOM)
        .await?;
    Ok(Addition::new(
        content,
        "application/vnd.goharbor.harbor.sbom.v1",
    ))
}

/// The `history` of an image's config, as JSON.
async fn build_history(
    registry: &Registry,
    repo: &RepositoryName,
    manifest: &Manifest,
) -> CoreResult<Addition> {
    const MAX_CONFIG: u64 = 4 << 20;
    let Some(config) = &manifest.config else {
        return Addition::json(&serde_json::json!([]));
    };
    let bytes = registry
        .read_small_blob(repo, &config.digest, MAX_CONFIG)
        .await?;
    let config: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| CoreError::BadRequest(format!("the image config is not JSON: {e}")))?;
    Addition::json(config.get("history").unwrap_or(&serde_json::json!([])))
}

/// Whether a manifest media type is an index's (OCI or Docker).
pub fn is_index(media_type: &str) -> bool {
    [
        berth_oci::media::OCI_INDEX,
        berth_oci::media::DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
}
