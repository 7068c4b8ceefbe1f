//! Projects: creation, visibility, metadata, deletion and members.

pub mod allowlist;
pub mod artifacts;
pub mod cosign_keys;
pub mod immutable;
pub mod labels;
pub mod repositories;

use crate::configurations::Configurations;
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::require;
use crate::iam::rbac::{self, can, Action, Kind, ProjectRef, Resource, Role};
use crate::notify::trail::{Operation, Target, Trail};
use crate::policy::ProjectSettings;
use crate::query::Filter;
/// A project member as the API and portal render it.
pub use berth_db::projects::Member;
use berth_db::projects::Project;
use berth_db::{now_millis, projects, usergroups, users, Db};
use std::collections::BTreeMap;

/// Metadata keys a project accepts, with the values each allows.
const BOOL_KEYS: &[&str] = &[
    "public",
    "auto_scan",
    "auto_sbom_generation",
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "reuse_sys_cve_allowlist",
];
const SEVERITIES: &[&str] = &["none", "low", "medium", "high", "critical"];

/// Counts about a project.
#[derive(Debug, Clone)]
pub struct Summary {
    pub repo_count: i64,
    /// Members by role (roles without members are absent).
    pub members: Vec<(Role, i64)>,
    /// The storage quota: (hard limit, bytes used), -1 for no limit;
    /// None when quotas are off or the caller may not read them.
    pub quota: Option<(i64, i64)>,
}

/// A project with what the API shows about it.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub metadata: BTreeMap<String, String>,
    pub repo_count: i64,
    /// The caller's roles in the project.
    pub roles: Vec<Role>,
}

impl ProjectView {
    /// Whether anyone may read the project.
    pub fn is_public(&self) -> bool {
        self.metadata.get("public").is_some_and(|v| v == "true")
    }

    /// The project as authorization sees it.
    pub fn as_ref(&self) -> ProjectRef {
        ProjectRef {
            id: self.project.project_id,
            public: self.is_public(),
            created_at: self.project.creation_time,
        }
    }
}

/// How a project is named in a URL: by name or by numeric id.
#[derive(Debug, Clone)]
pub enum ProjectKey {
    Name(String),
    Id(i64),
}

impl ProjectKey {
    /// Harbor's rule: digits mean an id unless the caller says it is a name.
    pub fn parse(s: &str, is_name: bool) -> ProjectKey {
        match s.parse::<i64>() {
            Ok(id) if !is_name => ProjectKey::Id(id),
            _ => ProjectKey::Name(s.to_string()),
        }
    }
}

/// The project manager.
#[derive(Clone)]
pub struct Projects {
    db: Db,
    configurations: Configurations,
    trail: Trail,
    /// What the pull rules know of projects' metadata, forgotten here when
    /// it changes.
    settings: ProjectSettings,
}

impl Projects {
    /// The service on a database, following the run-time settings,
    /// recording changes on `trail` and keeping `settings` current.
    pub fn new(
        db: Db,
        configurations: Configurations,
        trail: Trail,
        settings: ProjectSettings,
    ) -> Self {
        Projects {
            db,
            configurations,
            trail,
            settings,
        }
    }

    /// The trail the project's services record on.
    pub(crate) fn trail(&self) -> &Trail {
        &self.trail
    }

    /// The name a key stands for, as the audit log names the project (the
    /// key itself when there is no such project).
    async fn name_for(&self, key: &ProjectKey) -> String {
        match key {
            ProjectKey::Name(n) => n.clone(),
            ProjectKey::Id(id) => match self.name_of(*id).await {
                Ok(Some(n)) => n,
                _ => id.to_string(),
            },
        }
    }

    /// Runs `work` on the project `key` names and records its outcome.
    async fn audited<T>(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        key: &ProjectKey,
        work: impl std::future::Future<Output = CoreResult<T>>,
    ) -> CoreResult<T> {
        let name = self.name_for(key).await;
        let target = Target::Project(&name);
        self.trail.audited(ctx, operation, target, work).await
    }

    /// Runs `work` on member `mid` of the project `key` names and records
    /// its outcome (the member named by its id when there is none).
    async fn member_audited(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        key: &ProjectKey,
        mid: i64,
        work: impl std::future::Future<Output = CoreResult<()>>,
    ) -> CoreResult<()> {
        let id = match key {
            ProjectKey::Id(id) => Some(*id),
            ProjectKey::Name(n) => self.lookup(n).await.ok().flatten().map(|p| p.id),
        };
        let member = match id {
            Some(id) => projects::member(self.db.reader(), id, mid)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let member = member.map_or_else(|| mid.to_string(), |m| m.entity_name);
        let project = self.name_for(key).await;
        let target = Target::Member(&project, &member);
        self.trail.audited(ctx, operation, target, work).await
    }

    /// Creates the public `library` project owned by the first administrator, once.
    pub async fn ensure_library(&self) -> CoreResult<()> {
        if projects::by_name(self.db.reader(), "library")
            .await?
            .is_some()
        {
            return Ok(());
        }
        let Some(admin) = users::by_name(self.db.reader(), "admin").await? else {
            return Ok(());
        };
        let public = BTreeMap::from([("public".into(), "true".into())]);
        let limit = self.configurations.snapshot().storage_per_project;
        match self
            .insert("library", admin.user_id, &public, (None, limit))
            .await
        {
            // Another replica starting on the same database made it first.
            Err(CoreError::Conflict(_)) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the caller may create projects (what `create` checks first).
    pub async fn may_create(&self, ctx: &SecurityContext) -> bool {
        self.check_creation(ctx).await.is_ok()
    }

    async fn check_creation(&self, ctx: &SecurityContext) -> CoreResult<()> {
        let admin_only = self.configurations.admin_only_project_creation().await?;
        match require(
            ctx,
            Action::Create,
            Resource::ProjectCreation { admin_only },
        )
        .await
        {
            Err(CoreError::Forbidden(_)) if admin_only => Err(CoreError::Forbidden(
                "only system administrators may create projects".into(),
            )),
            other => other,
        }
    }

    /// Creates a project owned by the caller, who becomes its project
    /// admin; with `registry_id`, a proxy cache of that registry endpoint
    /// (system administrators only, as in Harbor). Its storage limit is
    /// `storage_limit` when a system administrator gives one, else the
    /// `storage_per_project` setting.
    pub async fn create(
        &self,
        ctx: &SecurityContext,
        name: &str,
        metadata: &BTreeMap<String, String>,
        (registry_id, storage_limit): (Option<i64>, Option<i64>),
    ) -> CoreResult<i64> {
        let work = async {
            self.check_creation(ctx).await?;
            if let Some(limit) = storage_limit {
                crate::quota::check_limit(limit)?;
            }
            // check_creation has just read the settings.
            let settings = self.configurations.snapshot();
            let limit = match storage_limit {
                _ if !settings.quota_per_project_enable => -1,
                Some(n) if ctx.is_sysadmin() && n != 0 => n,
                _ => settings.storage_per_project,
            };
            if let Some(id) = registry_id {
                if !ctx.is_sysadmin() {
                    return Err(CoreError::Forbidden(
                        "Only system admin can create proxy cache project".into(),
                    ));
                }
                if berth_db::registries::by_id(self.db.reader(), id)
                    .await?
                    .is_none()
                {
                    return Err(CoreError::NotFound(format!("registry {id} not found")));
                }
            }
            self.create_checked(ctx, name, metadata, (registry_id, limit))
                .await
        };
        (self.trail)
            .audited(ctx, Operation::Create, Target::Project(name), work)
            .await
    }

    async fn create_checked(
        &self,
        ctx: &SecurityContext,
        name: &str,
        metadata: &BTreeMap<String, String>,
        registry_and_limit: (Option<i64>, i64),
    ) -> CoreResult<i64> {
        validate_name(name)?;
        validate_metadata(metadata)?;
        let owner = match ctx.user_id() {
            Some(id) => id,
            // As in Harbor, a project a robot creates is the first
            // administrator's.
            None => users::first_admin(self.db.reader())
                .await?
                .ok_or_else(|| CoreError::Internal("there is no system administrator".into()))?,
        };
        if projects::by_name(self.db.reader(), name).await?.is_some() {
            return Err(CoreError::Conflict(format!(
                "the project named {name} already exists"
            )));
        }
        self.insert(name, owner, metadata, registry_and_limit).await
    }

    async fn insert(
        &self,
        name: &str,
        owner: i64,
        metadata: &BTreeMap<String, String>,
        (registry_id, storage_limit): (Option<i64>, i64),
    ) -> CoreResult<i64> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let id = projects::insert(&mut *tx, name, owner, now)
            .await
            .map_err(|e| CoreError::taken(e, format!("the project named {name} already exists")))?;
        let mut all = metadata.clone();
        all.entry("public".into()).or_insert_with(|| "false".into());
        for (k, v) in &all {
            projects::set_metadata(&mut *tx, id, k, v).await?;
        }
        projects::add_member(&mut *tx, id, ("u", owner), Role::ProjectAdmin as i64, now).await?;
        if let Some(registry) = registry_id {
            projects::set_registry(&mut *tx, id, registry).await?;
        }
        berth_db::quotas::create(&mut *tx, id, storage_limit, now).await?;
        berth_db::commit(tx).await?;
        self.settings.forget(name);
        Ok(id)
    }

    /// Whether a project with this name exists (anyone may ask, as in Harbor).
    pub async fn exists(&self, name: &str) -> CoreResult<bool> {
        Ok(projects::by_name(self.db.reader(), name).await?.is_some())
    }

    /// A project the caller may read.
    pub async fn get(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<ProjectView> {
        let view = self
            .authorized(ctx, key, Action::Read, Kind::Project)
            .await?;
        Ok(view)
    }

    /// A project for authorization checks on `/v2`, without permission checks.
    pub async fn lookup(&self, name: &str) -> CoreResult<Option<ProjectRef>> {
        Ok(self.lookup_upstream(name).await?.map(|(p, _)| p))
    }

    /// A project for `/v2`, with its upstream registry endpoint if it is a
    /// proxy cache.
    pub async fn lookup_upstream(
        &self,
        name: &str,
    ) -> CoreResult<Option<(ProjectRef, Option<i64>)>> {
        Ok(self.settings.auth_ref(name).await?.map(|p| {
            let r = ProjectRef {
                id: p.id,
                public: p.public,
                created_at: p.created_at,
            };
            (r, p.registry_id)
        }))
    }

    /// Checks one permission in the named project (404 if it does not exist).
    pub async fn require_in(
        &self,
        ctx: &SecurityContext,
        name: &str,
        action: Action,
        kind: Kind,
    ) -> CoreResult<ProjectRef> {
        let p = self
            .lookup(name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("project {name} not found")))?;
        require(ctx, action, Resource::Project(p, kind)).await?;
        Ok(p)
    }

    /// A project's name by id.
    pub async fn name_of(&self, id: i64) -> CoreResult<Option<String>> {
        Ok(projects::by_id(self.db.reader(), id).await?.map(|p| p.name))
    }

    /// A project by id, as authorization needs it.
    pub async fn lookup_id(&self, id: i64) -> CoreResult<ProjectRef> {
        let p = projects::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("project {id} not found")))?;
        self.lookup(&p.name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("project {id} not found")))
    }

    /// Loads a project and checks one permission on it.
    pub async fn authorized(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        action: Action,
        kind: Kind,
    ) -> CoreResult<ProjectView> {
        let view = self.load(ctx, key).await?;
        require(ctx, action, Resource::Project(view.as_ref(), kind)).await?;
        Ok(view)
    }

    async fn load(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<ProjectView> {
        let project = match key {
            ProjectKey::Name(n) => projects::by_name(self.db.reader(), n).await?,
            ProjectKey::Id(id) => projects::by_id(self.db.reader(), *id).await?,
        }
        .ok_or_else(|| CoreError::NotFound("project not found".into()))?;
        self.view(ctx, project).await
    }

    async fn view(&self, ctx: &SecurityContext, project: Project) -> CoreResult<ProjectView> {
        let metadata = projects::metadata(self.db.reader(), project.project_id)
            .await?
            .into_iter()
            .collect();
        let repo_count = projects::repo_count(self.db.reader(), &project.name).await?;
        let roles = ctx.project_roles(project.project_id).await?;
        Ok(ProjectView {
            project,
            metadata,
            repo_count,
            roles,
        })
    }

    /// One page of the projects the caller may see, with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<ProjectView>, i64)> {
        let query = &filter.parse(berth_db::projects::FIELDS)?;
        let vis = rbac::visibility(ctx);
        let total = projects::count(self.db.reader(), vis, query).await?;
        let mut out = Vec::new();
        for p in projects::list(self.db.reader(), vis, query, offset, limit).await? {
            out.push(self.view(ctx, p).await?);
        }
        Ok((out, total))
    }

    /// Project and repository counts and storage over what the caller may see.
    pub async fn statistics(&self, ctx: &SecurityContext) -> CoreResult<[i64; 5]> {
        let vis = rbac::visibility(ctx);
        Ok(projects::statistics(self.db.reader(), vis).await?)
    }

    /// A project's summary: repository count, member counts by role, bytes stored.
    pub async fn summary(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<Summary> {
        let view = self
            .authorized(ctx, key, Action::Read, Kind::Project)
            .await?;
        let id = view.project.project_id;
        let members = projects::member_counts(self.db.reader(), id)
            .await?
            .into_iter()
            .filter_map(|(role, n)| Role::from_id(role).map(|r| (r, n)))
            .collect();
        let quota = match self.configurations.snapshot().quota_per_project_enable
            && can(
                ctx,
                Action::Read,
                Resource::Project(view.as_ref(), Kind::Quota),
            )
            .await?
        {
            true => berth_db::quotas::of_project(self.db.reader(), id)
                .await?
                .map(|q| (q.hard, q.used)),
            false => None,
        };
        Ok(Summary {
            repo_count: view.repo_count,
            members,
            quota,
        })
    }

    /// Bytes each of these projects' quotas count. The views show the
    /// caller was allowed to read them.
    pub async fn storage_used(&self, projects: &[&ProjectView]) -> CoreResult<BTreeMap<i64, i64>> {
        let ids: Vec<i64> = projects.iter().map(|p| p.project.project_id).collect();
        Ok(projects::storage_used(self.db.reader(), &ids)
            .await?
            .into_iter()
            .collect())
    }

    /// What the caller may do in a project, as Harbor's (resource, action) pairs.
    pub async fn permissions(
        &self,
        ctx: &SecurityContext,
        id: i64,
    ) -> CoreResult<Vec<(Kind, Action)>> {
        let project = self.lookup_id(id).await?;
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for action in Action::ALL {
                if can(ctx, action, Resource::Project(project, kind)).await? {
                    out.push((kind, action));
                }
            }
        }
        Ok(out)
    }

    /// Deletes an empty project.
    pub async fn delete(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Delete, Kind::Project)
                .await?;
            if view.repo_count > 0 {
                return Err(CoreError::Precondition(
                    "the project contains repositories and cannot be deleted".into(),
                ));
            }
            let mut tx = self.db.begin().await?;
            projects::delete(&mut *tx, view.project.project_id).await?;
            berth_db::allowlists::delete(&mut *tx, view.project.project_id).await?;
            berth_db::commit(tx).await?;
            self.settings.forget(&view.project.name);
            Ok(())
        };
        self.audited(ctx, Operation::Delete, key, work).await
    }

    /// Whether the caller could delete the project now (`_deletable`).
    pub async fn deletable(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
    ) -> CoreResult<(bool, String)> {
        let view = self
            .authorized(ctx, key, Action::Delete, Kind::Project)
            .await?;
        Ok(if view.repo_count > 0 {
            (false, "the project contains repositories".into())
        } else {
            (true, String::new())
        })
    }

    /// Sets metadata values (project update and `metadatas` writes).
    pub async fn set_metadata(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        metadata: &BTreeMap<String, String>,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Update, Kind::Metadata)
                .await?;
            validate_metadata(metadata)?;
            let mut tx = self.db.begin().await?;
            for (k, v) in metadata {
                projects::set_metadata(&mut *tx, view.project.project_id, k, v).await?;
            }
            berth_db::commit(tx).await?;
            self.settings.forget(&view.project.name);
            Ok(())
        };
        self.audited(ctx, Operation::Update, key, work).await
    }

    /// Reads the project's metadata.
    pub async fn metadata(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
    ) -> CoreResult<BTreeMap<String, String>> {
        let view = self.load(ctx, key).await?;
        if !can(
            ctx,
            Action::Read,
            Resource::Project(view.as_ref(), Kind::Metadata),
        )
        .await?
        {
            // Harbor lets every project reader see the flags that shape the project page.
            require(
                ctx,
                Action::Read,
                Resource::Project(view.as_ref(), Kind::Project),
            )
            .await?;
        }
        Ok(view.metadata)
    }

    /// Removes one metadata value.
    pub async fn delete_metadata(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        name: &str,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Delete, Kind::Metadata)
                .await?;
            if !projects::delete_metadata(self.db.writer(), view.project.project_id, name).await? {
                return Err(CoreError::NotFound(format!("metadata {name} not found")));
            }
            self.settings.forget(&view.project.name);
            Ok(())
        };
        self.audited(ctx, Operation::Update, key, work).await
    }

    // ----- members -----

    /// Adds a user (by name or id) or a group to a project with a role.
    pub async fn add_member(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        member: NewMember,
        role: i64,
    ) -> CoreResult<i64> {
        let project = self.name_for(key).await;
        let found = self.member_entity(&member).await;
        let name = match (&found, &member) {
            (Ok(Some((_, _, name))), _) => name.clone(),
            (_, NewMember::Name(n)) => n.clone(),
            (_, NewMember::Id(id) | NewMember::Group(id)) => id.to_string(),
        };
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Create, Kind::Member)
                .await?;
            Role::from_id(role)
                .ok_or_else(|| CoreError::BadRequest(format!("invalid role id {role}")))?;
            let (kind, id, name) = found?.ok_or_else(|| match member {
                NewMember::Group(_) => CoreError::NotFound("user group not found".into()),
                _ => CoreError::NotFound("user not found".into()),
            })?;
            let entity = (kind, id);
            projects::add_member(
                self.db.writer(),
                view.project.project_id,
                entity,
                role,
                now_millis(),
            )
            .await
            .map_err(|e| CoreError::taken(e, format!("{name} is already a member")))
        };
        (self.trail)
            .audited(
                ctx,
                Operation::Create,
                Target::Member(&project, &name),
                work,
            )
            .await
    }

    /// The member a request names: its entity type, id and name.
    async fn member_entity(
        &self,
        member: &NewMember,
    ) -> CoreResult<Option<(&'static str, i64, String)>> {
        let r = self.db.reader();
        Ok(match member {
            NewMember::Id(id) => users::by_id(r, *id)
                .await?
                .map(|u| ("u", u.user_id, u.username)),
            NewMember::Name(n) => users::by_name(r, n)
                .await?
                .map(|u| ("u", u.user_id, u.username)),
            NewMember::Group(id) => {
                (usergroups::by_id(r, *id).await?).map(|g| ("g", g.id, g.group_name))
            }
        })
    }

    /// One page of members, with the total.
    pub async fn members(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Member>, i64)> {
        let view = self
            .authorized(ctx, key, Action::List, Kind::Member)
            .await?;
        let id = view.project.project_id;
        let total = projects::member_count(self.db.reader(), id, name).await?;
        Ok((
            projects::members(self.db.reader(), id, name, offset, limit).await?,
            total,
        ))
    }

    /// One member.
    pub async fn member(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        mid: i64,
    ) -> CoreResult<Member> {
        let view = self
            .authorized(ctx, key, Action::Read, Kind::Member)
            .await?;
        projects::member(self.db.reader(), view.project.project_id, mid)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("member {mid} not found")))
    }

    /// Changes a member's role.
    pub async fn update_member(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        mid: i64,
        role: i64,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Update, Kind::Member)
                .await?;
            Role::from_id(role)
                .ok_or_else(|| CoreError::BadRequest(format!("invalid role id {role}")))?;
            let id = view.project.project_id;
            if !projects::set_member_role(self.db.writer(), id, mid, role, now_millis()).await? {
                return Err(CoreError::NotFound(format!("member {mid} not found")));
            }
            Ok(())
        };
        self.member_audited(ctx, Operation::Update, key, mid, work)
            .await
    }

    /// Removes a member.
    pub async fn delete_member(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        mid: i64,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Delete, Kind::Member)
                .await?;
            if !projects::delete_member(self.db.writer(), view.project.project_id, mid).await? {
                return Err(CoreError::NotFound(format!("member {mid} not found")));
            }
            Ok(())
        };
        self.member_audited(ctx, Operation::Delete, key, mid, work)
            .await
    }
}

/// How a new member is named.
#[derive(Debug, Clone)]
pub enum NewMember {
    Id(i64),
    Name(String),
    /// A user group, by id.
    Group(i64),
}

/// Harbor's project name rule: `[a-z0-9]+(?:[._-][a-z0-9]+)*`, 1–255 characters.
fn validate_name(name: &str) -> CoreResult<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut prev_sep = true;
    let mut ok = !name.is_empty() && name.len() <= 255;
    for c in name.chars() {
        if alnum(c) {
            prev_sep = false;
        } else if matches!(c, '.' | '_' | '-') && !prev_sep {
            prev_sep = true;
        } else {
            ok = false;
        }
    }
    if ok && !prev_sep {
        Ok(())
    } else {
        Err(CoreError::BadRequest(format!(
            "project name {name:?} must be lower-case letters and digits, optionally joined by single '.', '_' or '-'"
        )))
    }
}

fn validate_metadata(metadata: &BTreeMap<String, String>) -> CoreResult<()> {
    for (k, v) in metadata {
        let ok = if BOOL_KEYS.contains(&k.as_str()) {
            v == "true" || v == "false"
        } else if k == "severity" {
            SEVERITIES.contains(&v.as_str())
        } else {
            return Err(CoreError::BadRequest(format!(
                "unknown project metadata {k:?}"
            )));
        };
        if !ok {
            return Err(CoreError::BadRequest(format!(
                "invalid value {v:?} for project metadata {k:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["library", "a", "my-proj", "a.b_c-d", "x1"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a--b", "a/b", "a b", "a..b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
