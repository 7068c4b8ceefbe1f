//! Repositories as Harbor's API manages them: listing, description, deletion.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{self, Action, Kind};
use crate::notify::trail::{Operation, Target};
use crate::project::Projects;
use crate::query::Filter;
use crate::registry::Registry;
use berth_db::projects::Visibility;
use berth_db::repositories;
/// A repository as the API and portal render it.
pub use berth_db::repositories::RepositoryRow;
use berth_db::{now_millis, Db};
use berth_oci::RepositoryName;

/// The repository service.
#[derive(Clone)]
pub struct Repositories {
    db: Db,
    projects: Projects,
}

impl Repositories {
    /// The service on a database.
    pub fn new(db: Db, projects: Projects) -> Self {
        Repositories { db, projects }
    }

    /// One page of repositories the caller may see (all projects, or one), with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        project: Option<&str>,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<RepositoryRow>, i64)> {
        let query = &filter.parse(berth_db::repositories::FIELDS)?;
        if let Some(p) = project {
            self.projects
                .require_in(ctx, p, Action::List, Kind::Repository)
                .await?;
        }
        // Access to a named project was just checked.
        let vis = match project {
            Some(_) => Visibility::All,
            None => rbac::visibility(ctx),
        };
        let total = repositories::count(self.db.reader(), vis, project, query).await?;
        let page = repositories::list(self.db.reader(), vis, project, query, offset, limit).await?;
        Ok((page, total))
    }

    /// One repository (`project/rest`), checked for `action`.
    async fn checked(
        &self,
        ctx: &SecurityContext,
        project: &str,
        repo: &str,
        action: Action,
    ) -> CoreResult<RepositoryRow> {
        self.projects
            .require_in(ctx, project, action, Kind::Repository)
            .await?;
        repositories::get(self.db.reader(), &format!("{project}/{repo}"))
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("repository {project}/{repo} not found")))
    }

    /// One repository the caller may read.
    pub async fn get(
        &self,
        ctx: &SecurityContext,
        project: &str,
        repo: &str,
    ) -> CoreResult<RepositoryRow> {
        self.checked(ctx, project, repo, Action::Read).await
    }

    /// The description of a repository the caller may read ("" for one
    /// that holds nothing yet).
    pub async fn description(
        &self,
        ctx: &SecurityContext,
        project: &str,
        repo: &str,
    ) -> CoreResult<String> {
        self.projects
            .require_in(ctx, project, Action::Read, Kind::Repository)
            .await?;
        let name = format!("{project}/{repo}");
        Ok(repositories::description(self.db.reader(), &name)
            .await?
            .unwrap_or_default())
    }

    /// Sets the description.
    pub async fn update_description(
        &self,
        ctx: &SecurityContext,
        project: &str,
        repo: &str,
        description: &str,
    ) -> CoreResult<()> {
        let work = async {
            let r = self.checked(ctx, project, repo, Action::Update).await?;
            let now = now_millis();
            repositories::set_description(self.db.writer(), &r.name, description, now).await?;
            Ok(())
        };
        let name = format!("{project}/{repo}");
        (self.projects.trail())
            .audited(ctx, Operation::Update, Target::Repository(&name), work)
            .await
    }

    /// Deletes the repository and its artifacts, each artifact's deletion an
    /// event (storage is reclaimed by GC).
    pub async fn delete(
        &self,
        ctx: &SecurityContext,
        registry: &Registry,
        project: &str,
        repo: &str,
    ) -> CoreResult<()> {
        let work = async {
            let r = self.checked(ctx, project, repo, Action::Delete).await?;
            let name =
                RepositoryName::parse(&r.name).map_err(|e| CoreError::Internal(e.to_string()))?;
            if !registry.delete_repository(&name, ctx.username()).await? {
                return Err(CoreError::NotFound(format!(
                    "repository {} not found",
                    r.name
                )));
            }
            Ok(())
        };
        let name = format!("{project}/{repo}");
        (self.projects.trail()).refusal(
            ctx,
            Operation::Delete,
            Target::Repository(&name),
            work.await,
        )
    }
}
