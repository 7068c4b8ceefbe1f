//! Robot accounts: `robot$<name>` (system) or `robot$<project>+<name>`
//! (project), with an explicit permission list, a secret shown once and
//! stored hashed, an expiry and a disable switch.

use super::context::{Principal, RobotGrant, SecurityContext};
use super::rbac::{self, Action, Kind, ProjectRef, Resource};
use super::{password, require};
use crate::error::{CoreError, CoreResult};
use crate::notify::trail::{Operation, Target};
use crate::project::Projects;
use berth_db::robots;
/// A robot and its grants as the API and portal render them.
pub use berth_db::robots::{Owner, Permission, Robot};
use berth_db::{now_millis, Db};

/// What a robot is created or updated with.
#[derive(Debug, Clone)]
pub struct RobotRequest {
    pub name: String,
    pub description: String,
    pub level: String,
    /// Days until expiry; -1 never.
    pub duration: i64,
    pub disable: bool,
    pub permissions: Vec<Permission>,
    /// A secret chosen by the caller (checked against the password rule);
    /// None generates one.
    pub secret: Option<String>,
}

impl RobotRequest {
    /// A request that leaves `robot` as it is, with its `permissions`.
    pub fn unchanged(robot: &Robot, permissions: Vec<Permission>) -> Self {
        RobotRequest {
            name: robot.name.clone(),
            description: robot.description.clone(),
            level: robot.level.clone(),
            duration: robot.duration,
            disable: robot.disabled,
            permissions,
            secret: None,
        }
    }
}

/// The robot service.
#[derive(Clone)]
pub struct Robots {
    db: Db,
    projects: Projects,
}

const PREFIX: &str = "robot$";

impl Robots {
    /// The service on a database.
    pub fn new(db: Db, projects: Projects) -> Self {
        Robots { db, projects }
    }

    /// Who may manage a robot: admins for system robots, project admins for theirs.
    async fn require_manage(
        &self,
        ctx: &SecurityContext,
        level: &str,
        project_id: Option<i64>,
        action: Action,
    ) -> CoreResult<()> {
        match (level, project_id) {
            ("project", Some(id)) => {
                let p = self.projects.lookup_id(id).await?;
                require(ctx, action, Resource::Project(p, Kind::Robot)).await
            }
            _ if ctx.is_sysadmin() => Ok(()),
            _ if ctx.is_authenticated() => Err(CoreError::Forbidden(
                "only system administrators manage system robots".into(),
            )),
            _ => Err(CoreError::Unauthorized),
        }
    }

    /// The permissions bound to their projects' ids (a grant follows its
    /// project, never a later project of the same name), once the caller is
    /// found to hold each itself: Harbor's rule for robots that create
    /// robots ("equal to or more restrictive than the creator's"), applied
    /// to every creator but a system administrator.
    async fn bind(
        &self,
        ctx: &SecurityContext,
        requested: &[Permission],
    ) -> CoreResult<Vec<Permission>> {
        let mut out = Vec::with_capacity(requested.len());
        for p in requested {
            let mut p = p.clone();
            p.project_id = None;
            let project = if p.kind == "project" && p.namespace != "*" {
                let found = self.projects.lookup(&p.namespace).await?.ok_or_else(|| {
                    CoreError::NotFound(format!("project {} not found", p.namespace))
                })?;
                p.project_id = Some(found.id);
                Some(found)
            } else {
                None
            };
            if !ctx.is_sysadmin() && !holds(ctx, &p, project).await? {
                return Err(CoreError::Forbidden(format!(
                    "permission scope is invalid. It must be equal to or more restrictive than the creator's permissions: {}",
                    ctx.username()
                )));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Creates a robot; returns it and its secret (shown this once).
    pub async fn create(
        &self,
        ctx: &SecurityContext,
        req: &RobotRequest,
    ) -> CoreResult<(Robot, String)> {
        let project = match req.level.as_str() {
            "project" => single_project(&req.permissions).ok(),
            _ => None,
        };
        let name = match &project {
            Some(ns) => format!("{PREFIX}{ns}+{}", req.name),
            None => format!("{PREFIX}{}", req.name),
        };
        let target = Target::Robot(&name, project.as_deref());
        let work = self.insert(ctx, req);
        (self.projects.trail())
            .audited(ctx, Operation::Create, target, work)
            .await
    }

    async fn insert(
        &self,
        ctx: &SecurityContext,
        req: &RobotRequest,
    ) -> CoreResult<(Robot, String)> {
        if req.name.is_empty()
            || req.name.len() > 255
            || !req
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(CoreError::BadRequest(
                "robot name must be letters, digits, '.', '_' or '-'".into(),
            ));
        }
        let (full, project_id) = match req.level.as_str() {
            "system" => (format!("{PREFIX}{}", req.name), None),
            "project" => {
                let ns = single_project(&req.permissions)?;
                let p = self
                    .projects
                    .lookup(&ns)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("project {ns} not found")))?;
                (format!("{PREFIX}{ns}+{}", req.name), Some(p.id))
            }
            other => {
                return Err(CoreError::BadRequest(format!(
                    "level must be system or project, not {other:?}"
                )))
            }
        };
        self.require_manage(ctx, &req.level, project_id, Action::Create)
            .await?;
        validate_permissions(&req.permissions)?;
        let permissions = self.bind(ctx, &req.permissions).await?;
        let secret = chosen_or_generated(req.secret.as_deref())?;
        let now = now_millis();
        let mut robot = Robot {
            id: 0,
            name: full,
            description: req.description.clone(),
            level: req.level.clone(),
            project_id,
            secret_hash: password::hash(&secret).await?,
            disabled: req.disable,
            duration: req.duration,
            expires_at: expiry(now, req.duration)?,
            creation_time: now,
            update_time: now,
        };
        let mut tx = self.db.begin().await?;
        robot.id = robots::insert(&mut tx, &robot, &permissions)
            .await
            .map_err(|e| CoreError::taken(e, format!("robot {} already exists", robot.name)))?;
        berth_db::commit(tx).await?;
        Ok((robot, secret))
    }

    /// A robot and its permissions.
    pub async fn get(
        &self,
        ctx: &SecurityContext,
        id: i64,
    ) -> CoreResult<(Robot, Vec<Permission>)> {
        let r = robots::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("robot {id} not found")))?;
        self.require_manage(ctx, &r.level, r.project_id, Action::Read)
            .await?;
        let perms = robots::permissions(self.db.reader(), id).await?;
        Ok((r, perms))
    }

    /// One page of an owner's robots (a project's for its robot readers,
    /// others for administrators), with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        owner: Owner,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<(Robot, Vec<Permission>)>, i64)> {
        match owner {
            Owner::Project(id) => {
                self.require_manage(ctx, "project", Some(id), Action::List)
                    .await?
            }
            _ => {
                self.require_manage(ctx, "system", None, Action::List)
                    .await?
            }
        }
        let total = robots::count(self.db.reader(), owner).await?;
        let mut out = Vec::new();
        for r in robots::list(self.db.reader(), owner, offset, limit).await? {
            let perms = robots::permissions(self.db.reader(), r.id).await?;
            out.push((r, perms));
        }
        Ok((out, total))
    }

    /// Updates description, disable, duration and permissions.
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        req: &RobotRequest,
    ) -> CoreResult<()> {
        let work = self.set(ctx, id, req);
        self.audited(ctx, Operation::Update, id, work).await
    }

    /// Runs `work` on robot `id` and records its outcome.
    async fn audited<T>(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        id: i64,
        work: impl std::future::Future<Output = CoreResult<T>>,
    ) -> CoreResult<T> {
        let robot = robots::by_id(self.db.reader(), id).await.ok().flatten();
        let (name, project) = match &robot {
            Some(r) if r.level == "project" => (r.name.clone(), Some(project_of(&r.name))),
            Some(r) => (r.name.clone(), None),
            None => (id.to_string(), None),
        };
        let target = Target::Robot(&name, project.as_deref());
        (self.projects.trail())
            .audited(ctx, operation, target, work)
            .await
    }

    async fn set(&self, ctx: &SecurityContext, id: i64, req: &RobotRequest) -> CoreResult<()> {
        let (mut r, _) = self.get(ctx, id).await?;
        self.require_manage(ctx, &r.level, r.project_id, Action::Update)
            .await?;
        validate_permissions(&req.permissions)?;
        if r.level == "project" && single_project(&req.permissions)? != project_of(&r.name) {
            return Err(CoreError::BadRequest(
                "a project robot's permissions must stay in its project".into(),
            ));
        }
        let permissions = self.bind(ctx, &req.permissions).await?;
        r.description = req.description.clone();
        r.disabled = req.disable;
        r.duration = req.duration;
        r.expires_at = expiry(r.creation_time, req.duration)?;
        r.update_time = now_millis();
        let mut tx = self.db.begin().await?;
        robots::update(&mut tx, &r).await?;
        robots::set_permissions(&mut tx, id, &permissions).await?;
        berth_db::commit(tx).await?;
        Ok(())
    }

    /// Replaces the secret (a given one must satisfy the password rule); returns it.
    pub async fn refresh_secret(
        &self,
        ctx: &SecurityContext,
        id: i64,
        given: Option<&str>,
    ) -> CoreResult<String> {
        let work = async {
            let (r, _) = self.get(ctx, id).await?;
            self.require_manage(ctx, &r.level, r.project_id, Action::Update)
                .await?;
            let secret = chosen_or_generated(given)?;
            let hash = password::hash(&secret).await?;
            robots::set_secret(self.db.writer(), id, &hash, now_millis()).await?;
            Ok(secret)
        };
        self.audited(ctx, Operation::Update, id, work).await
    }

    /// Deletes a robot.
    pub async fn delete(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        let work = async {
            let (r, _) = self.get(ctx, id).await?;
            self.require_manage(ctx, &r.level, r.project_id, Action::Delete)
                .await?;
            robots::delete(self.db.writer(), id).await?;
            Ok(())
        };
        self.audited(ctx, Operation::Delete, id, work).await
    }

    /// Authenticates `robot$…` with its secret; `None` for a bad secret or a
    /// disabled or expired robot.
    pub async fn authenticate(
        &self,
        name: &str,
        secret: &str,
    ) -> CoreResult<Option<SecurityContext>> {
        let Some(r) = robots::by_name(self.db.reader(), name).await? else {
            let _ = password::verify(secret, &super::dummy_hash().await).await;
            return Ok(None);
        };
        if !password::verify(secret, &r.secret_hash).await {
            return Ok(None);
        }
        let expired = r.expires_at >= 0 && r.expires_at * 1000 < now_millis();
        if r.disabled || expired {
            return Ok(None);
        }
        Ok(Some(self.context(&r).await?))
    }

    /// A context for a robot (e.g. the subject of a verified token).
    pub async fn context_by_name(&self, name: &str) -> CoreResult<Option<SecurityContext>> {
        match robots::by_name(self.db.reader(), name).await? {
            Some(r) if !r.disabled => Ok(Some(self.context(&r).await?)),
            _ => Ok(None),
        }
    }

    async fn context(&self, r: &Robot) -> CoreResult<SecurityContext> {
        let mut grants = Vec::new();
        for p in robots::permissions(self.db.reader(), r.id).await? {
            let project = match (p.kind.as_str(), p.project_id) {
                ("system", _) => None,
                ("project", Some(id)) => Some(Some(id)),
                ("project", None) if p.namespace == "*" => Some(None),
                _ => continue,
            };
            grants.push(RobotGrant {
                project,
                resource: p.resource,
                action: p.action,
            });
        }
        Ok(SecurityContext::new(
            Principal::Robot {
                id: r.id,
                name: r.name.clone(),
                permissions: grants,
            },
            self.db.clone(),
        ))
    }
}

/// How long a scan's robot lives at most: it is deleted when its scan ends.
const SCAN_ROBOT_SECONDS: i64 = 3600;

impl Robots {
    /// A robot for one scan by an external scanner, as Harbor makes one:
    /// `pull` and `scanner-pull` in the project, for an hour at most. Berth
    /// makes and deletes it itself ([`Robots::remove_for_scan`]), so it is
    /// not audited.
    pub async fn create_for_scan(
        &self,
        project: &str,
        scanner: &str,
    ) -> CoreResult<(Robot, String)> {
        let p = (self.projects.lookup(project).await?)
            .ok_or_else(|| CoreError::NotFound(format!("project {project} not found")))?;
        let scanner: String = (scanner.chars())
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let permissions: Vec<Permission> = ["pull", "scanner-pull"]
            .into_iter()
            .map(|action| Permission {
                kind: "project".into(),
                namespace: project.into(),
                resource: "repository".into(),
                action: action.into(),
                project_id: Some(p.id),
            })
            .collect();
        // A stopped scan leaves its robot to expire: such leftovers go now.
        let prefix = format!("{PREFIX}{project}+scanner-");
        let now = now_millis();
        robots::delete_expired(self.db.writer(), p.id, &prefix, now / 1000).await?;
        let secret = chosen_or_generated(None)?;
        let mut robot = Robot {
            id: 0,
            name: format!("{prefix}{scanner}-{}", &id[..8]),
            description: "for scan".into(),
            level: "project".into(),
            project_id: Some(p.id),
            secret_hash: password::hash(&secret).await?,
            disabled: false,
            duration: -1,
            expires_at: now / 1000 + SCAN_ROBOT_SECONDS,
            creation_time: now,
            update_time: now,
        };
        let mut tx = self.db.begin().await?;
        robot.id = robots::insert(&mut tx, &robot, &permissions).await?;
        berth_db::commit(tx).await?;
        Ok((robot, secret))
    }

    /// Deletes a scan's robot once its scan has ended.
    pub async fn remove_for_scan(&self, id: i64) -> CoreResult<()> {
        robots::delete(self.db.writer(), id).await?;
        Ok(())
    }
}

/// Whether the caller may itself do everything a permission grants (each
/// action, for `*`). Only system administrators grant system permissions
/// or every project.
async fn holds(
    ctx: &SecurityContext,
    p: &Permission,
    project: Option<ProjectRef>,
) -> CoreResult<bool> {
    let (Some(project), Some(kind)) = (project, rbac::kind_named(&p.resource)) else {
        return Ok(false);
    };
    for (resource, action) in PROJECT_GRANTS {
        if *resource != p.resource || (p.action != "*" && p.action != *action) {
            continue;
        }
        let Some(action) = rbac::action_named(action) else {
            return Ok(false);
        };
        if !rbac::can(ctx, action, Resource::Project(project, kind)).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a username names a robot.
pub fn is_robot(name: &str) -> bool {
    name.starts_with(PREFIX)
}

fn project_of(full: &str) -> String {
    full.trim_start_matches(PREFIX)
        .split('+')
        .next()
        .unwrap_or("")
        .to_string()
}

/// Expiry in Unix seconds from a creation time (ms) and a duration in days (-1: never).
fn expiry(created_ms: i64, days: i64) -> CoreResult<i64> {
    match days {
        -1 => Ok(-1),
        d if d > 0 && d <= 365 * 100 => Ok(created_ms / 1000 + d * 86_400),
        _ => Err(CoreError::BadRequest(
            "duration must be -1 (never) or a positive number of days".into(),
        )),
    }
}

/// A project robot's permissions must name exactly one project.
fn single_project(perms: &[Permission]) -> CoreResult<String> {
    let mut ns: Vec<&str> = perms.iter().map(|p| p.namespace.as_str()).collect();
    ns.dedup();
    match (ns.as_slice(), perms.iter().all(|p| p.kind == "project")) {
        ([one], true) if *one != "*" => Ok((*one).to_string()),
        _ => Err(CoreError::BadRequest(
            "a project robot needs permissions of kind project for exactly one project".into(),
        )),
    }
}

impl Robots {
    /// What robots may be granted, system-wide and per project (administrators only).
    pub async fn grantable(
        &self,
        ctx: &SecurityContext,
    ) -> CoreResult<(
        &'static [(&'static str, &'static str)],
        &'static [(&'static str, &'static str)],
    )> {
        super::require(ctx, Action::Read, super::rbac::Resource::Configuration).await?;
        Ok((SYSTEM_GRANTS, PROJECT_GRANTS))
    }
}

/// What a robot may be granted system-wide (Harbor's `/permissions`).
pub const SYSTEM_GRANTS: &[(&str, &str)] = &[
    ("project", "create"),
    ("garbage-collection", "read"),
    ("garbage-collection", "create"),
    ("garbage-collection", "list"),
    ("garbage-collection", "stop"),
    ("scanner", "read"),
    ("scanner", "create"),
    ("scanner", "update"),
    ("scanner", "delete"),
    ("scanner", "list"),
    ("security-hub", "read"),
    ("security-hub", "list"),
    ("scan-all", "read"),
    ("scan-all", "create"),
    ("scan-all", "update"),
    ("scan-all", "list"),
    ("scan-all", "stop"),
    ("jobservice-monitor", "list"),
    ("jobservice-monitor", "stop"),
    ("audit-log", "list"),
    ("purge-audit", "read"),
    ("purge-audit", "create"),
    ("purge-audit", "list"),
    ("purge-audit", "update"),
    ("purge-audit", "stop"),
    ("catalog", "read"),
    ("ldap-user", "create"),
    ("ldap-user", "list"),
    ("registry", "read"),
    ("registry", "create"),
    ("registry", "update"),
    ("registry", "delete"),
    ("registry", "list"),
    ("replication-adapter", "list"),
    ("replication-policy", "read"),
    ("replication-policy", "create"),
    ("replication-policy", "update"),
    ("replication-policy", "delete"),
    ("replication-policy", "list"),
    ("replication", "read"),
    ("replication", "create"),
    ("replication", "list"),
    ("user", "create"),
    ("user", "read"),
    ("user", "update"),
    ("user", "delete"),
    ("user", "list"),
    ("user-group", "create"),
    ("user-group", "read"),
    ("user-group", "update"),
    ("user-group", "delete"),
    ("user-group", "list"),
];

/// What a robot may be granted in a project.
pub const PROJECT_GRANTS: &[(&str, &str)] = &[
    ("project", "read"),
    ("project", "update"),
    ("project", "delete"),
    ("member", "create"),
    ("member", "read"),
    ("member", "update"),
    ("member", "delete"),
    ("member", "list"),
    ("metadata", "create"),
    ("metadata", "read"),
    ("metadata", "update"),
    ("metadata", "delete"),
    ("log", "list"),
    ("repository", "read"),
    ("repository", "update"),
    ("repository", "delete"),
    ("repository", "list"),
    ("repository", "pull"),
    ("repository", "push"),
    ("artifact", "create"),
    ("artifact", "read"),
    ("artifact", "delete"),
    ("artifact", "list"),
    ("scan", "create"),
    ("scan", "read"),
    ("scan", "stop"),
    ("sbom", "create"),
    ("sbom", "read"),
    ("sbom", "stop"),
    ("scanner", "create"),
    ("scanner", "read"),
    ("tag", "create"),
    ("tag", "delete"),
    ("tag", "list"),
    ("robot", "create"),
    ("robot", "read"),
    ("robot", "update"),
    ("robot", "delete"),
    ("robot", "list"),
    ("artifact-addition", "read"),
    ("accessory", "list"),
    ("notification-policy", "create"),
    ("notification-policy", "read"),
    ("notification-policy", "update"),
    ("notification-policy", "delete"),
    ("notification-policy", "list"),
];

fn validate_permissions(perms: &[Permission]) -> CoreResult<()> {
    for p in perms {
        let grants = match p.kind.as_str() {
            "system" => SYSTEM_GRANTS,
            "project" => PROJECT_GRANTS,
            _ => &[],
        };
        let ok = grants
            .iter()
            .any(|(r, a)| *r == p.resource && (*a == p.action || p.action == "*"));
        if !ok {
            return Err(CoreError::BadRequest(format!(
                "unsupported permission {}:{}:{}:{}",
                p.kind, p.namespace, p.resource, p.action
            )));
        }
    }
    Ok(())
}

/// A caller's secret that passes the password rule, or a generated one.
fn chosen_or_generated(given: Option<&str>) -> CoreResult<String> {
    match given {
        Some(s) => {
            password::check_rule(s)?;
            Ok(s.to_string())
        }
        None => Ok(password::generate()),
    }
}
