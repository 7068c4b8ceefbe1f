//! Authorization: Harbor's role matrix behind one function, [`can`].

use super::context::{Principal, SecurityContext};
use crate::error::{CoreError, CoreResult};
use berth_db::projects::Visibility;
use berth_db::DbError;

pub use super::role::Role;

/// What is acted upon inside a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Project,
    Member,
    Metadata,
    Log,
    Repository,
    Artifact,
    Tag,
    Robot,
    /// Build history and other derived content of an artifact.
    ArtifactAddition,
    /// Signatures, SBOMs and other referrers attached to an artifact.
    Accessory,
    /// Webhook policies.
    NotificationPolicy,
    /// Vulnerability scans of artifacts and their reports.
    Scan,
    /// SBOMs generated for artifacts.
    Sbom,
    /// The scanner a project's scans use.
    Scanner,
    /// Exports of a project's findings (CSV).
    ExportCve,
    /// The project's own labels.
    Label,
    /// Labels put on and taken off artifacts.
    ArtifactLabel,
    /// Tag immutability rules.
    ImmutableTag,
    /// The project's storage quota.
    Quota,
    /// The project's tag retention policy and its runs.
    TagRetention,
}

impl Kind {
    /// Every kind, for listing permissions.
    pub const ALL: [Kind; 20] = [
        Kind::Project,
        Kind::Member,
        Kind::Metadata,
        Kind::Log,
        Kind::Repository,
        Kind::Artifact,
        Kind::Tag,
        Kind::Robot,
        Kind::ArtifactAddition,
        Kind::Accessory,
        Kind::NotificationPolicy,
        Kind::Scan,
        Kind::Sbom,
        Kind::Scanner,
        Kind::ExportCve,
        Kind::Label,
        Kind::ArtifactLabel,
        Kind::ImmutableTag,
        Kind::Quota,
        Kind::TagRetention,
    ];
}

impl Action {
    /// Every action, for listing permissions.
    pub const ALL: [Action; 7] = [
        Action::Create,
        Action::Read,
        Action::Update,
        Action::Delete,
        Action::List,
        Action::Pull,
        Action::Push,
    ];
}

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    List,
    Pull,
    Push,
    /// Stopping a running job (GC, purge, a jobservice task).
    Stop,
    /// A scanner's pull, which the pull rules (vulnerability, content
    /// trust) let through: granted only to the robots scans make.
    ScannerPull,
}

impl Action {
    /// Whether the action changes something (what read-only mode refuses).
    pub fn writes(self) -> bool {
        !matches!(self, Action::Read | Action::List | Action::Pull)
    }
}

/// A project, as authorization needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectRef {
    pub id: i64,
    pub public: bool,
    /// Creation time (ms): tokens issued before it belong to an older project of the same name.
    pub created_at: i64,
}

/// The thing a permission is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Something inside a project.
    Project(ProjectRef, Kind),
    /// System-wide user management.
    Users,
    /// The registry catalog (`/v2/_catalog` over all projects).
    Catalog,
    /// Creating projects; `admin_only` when the setting keeps it to
    /// system administrators (and, as in Harbor, system robots granted it).
    ProjectCreation { admin_only: bool },
    /// Run-time settings (system administrators only).
    Configuration,
    /// A system-wide resource by Harbor's name (`jobservice-monitor`,
    /// `garbage-collection`, `audit-log`, …): administrators, and robots
    /// granted it.
    System(&'static str),
}

/// Which projects the caller sees in lists and statistics: every one for a
/// system administrator, else the public ones and those they belong to.
pub fn visibility(ctx: &SecurityContext) -> Visibility {
    if ctx.is_sysadmin() {
        Visibility::All
    } else {
        Visibility::PublicOrMemberOf(ctx.user_id())
    }
}

/// Whether the caller reaches the administration pages (users, logs,
/// garbage collection, job queues, configuration).
pub fn administers(ctx: &SecurityContext) -> bool {
    ctx.is_sysadmin()
}

/// Whether one holding `roles` in a project may switch it between public
/// and private (Harbor's `togglable`): its project administrators.
pub fn may_toggle(roles: &[Role]) -> bool {
    roles.contains(&Role::ProjectAdmin)
}

/// Fails with 401 for anonymous callers and 403 for others unless allowed.
pub async fn require(ctx: &SecurityContext, action: Action, resource: Resource) -> CoreResult<()> {
    if can(ctx, action, resource).await? {
        Ok(())
    } else if ctx.is_authenticated() {
        Err(CoreError::Forbidden("forbidden".into()))
    } else {
        Err(CoreError::Unauthorized)
    }
}

/// Whether the caller may perform `action` on `resource`.
///
/// System administrators may do everything; users get the union of their
/// project roles; everyone (anonymous included) gets read access to public
/// projects; any authenticated user may create projects (the configurable
/// restriction is checked by the project service).
pub async fn can(
    ctx: &SecurityContext,
    action: Action,
    resource: Resource,
) -> Result<bool, DbError> {
    if action == Action::ScannerPull {
        // Nobody but a scan's own robot: not administrators, not roles.
        return Ok(
            matches!(ctx.principal(), Principal::Robot { permissions, .. }
            if robot_allows(permissions, action, resource)),
        );
    }
    if ctx.is_sysadmin() {
        return Ok(true);
    }
    if let Principal::Robot { permissions, .. } = ctx.principal() {
        let public_read = matches!(resource, Resource::Project(p, kind) if p.public && public_allows(kind, action));
        return Ok(public_read || robot_allows(permissions, action, resource));
    }
    match resource {
        Resource::Users | Resource::Catalog | Resource::Configuration | Resource::System(_) => {
            Ok(false)
        }
        Resource::ProjectCreation { admin_only } => {
            Ok(!admin_only && !matches!(ctx.principal(), Principal::Anonymous))
        }
        Resource::Project(project, kind) => {
            if project.public && public_allows(kind, action) {
                return Ok(true);
            }
            let roles = ctx.project_roles(project.id).await?;
            Ok(roles.iter().any(|r| role_allows(*r, kind, action)))
        }
    }
}

/// A robot may do exactly what its permission list says.
fn robot_allows(grants: &[super::context::RobotGrant], action: Action, resource: Resource) -> bool {
    let (scope, res) = match resource {
        Resource::Project(p, kind) => (Some(p.id), kind_name(kind)),
        Resource::Catalog => (None, "catalog"),
        Resource::ProjectCreation { .. } => (None, "project"),
        Resource::Users => (None, "user"),
        Resource::Configuration => (None, "configuration"),
        Resource::System(name) => (None, name),
    };
    let act = action_name(action);
    grants.iter().any(|g| {
        let scope_ok = match (g.project, scope) {
            (Some(None), Some(_)) => true,
            (Some(Some(id)), Some(p)) => id == p,
            (None, None) => true,
            _ => false,
        };
        let act_ok = g.action == act || (g.action == "*" && action != Action::ScannerPull);
        scope_ok && g.resource == res && act_ok
    })
}

/// Harbor's resource name for a kind.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Project => "project",
        Kind::Member => "member",
        Kind::Metadata => "metadata",
        Kind::Log => "log",
        Kind::Repository => "repository",
        Kind::Artifact => "artifact",
        Kind::Tag => "tag",
        Kind::Robot => "robot",
        Kind::ArtifactAddition => "artifact-addition",
        Kind::Accessory => "accessory",
        Kind::NotificationPolicy => "notification-policy",
        Kind::Scan => "scan",
        Kind::Sbom => "sbom",
        Kind::Scanner => "scanner",
        Kind::ExportCve => "export-cve",
        Kind::Label => "label",
        Kind::ArtifactLabel => "artifact-label",
        Kind::ImmutableTag => "immutable-tag",
        Kind::Quota => "quota",
        Kind::TagRetention => "tag-retention",
    }
}

/// The kind with Harbor's resource name.
pub fn kind_named(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| kind_name(*k) == name)
}

/// The action with Harbor's name.
pub fn action_named(name: &str) -> Option<Action> {
    Action::ALL
        .into_iter()
        .chain([Action::Stop, Action::ScannerPull])
        .find(|a| action_name(*a) == name)
}

/// Harbor's action name.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Read => "read",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::List => "list",
        Action::Pull => "pull",
        Action::Push => "push",
        Action::Stop => "stop",
        Action::ScannerPull => "scanner-pull",
    }
}

/// What everyone may do in a public project.
fn public_allows(kind: Kind, action: Action) -> bool {
    use Action::*;
    use Kind::*;
    matches!(
        (kind, action),
        (Project, Read)
            | (Repository, List | Read | Pull)
            | (Artifact, Read | List)
            | (Tag, List)
            | (ArtifactAddition, Read)
            | (Accessory, List)
            | (Scan | Scanner, Read)
            | (Label, Read | List)
    )
}

/// Harbor's project role matrix (the parts Berth implements so far).
fn role_allows(role: Role, kind: Kind, action: Action) -> bool {
    use Action::*;
    use Kind::*;
    use Role::*;
    match (kind, role) {
        (Project, ProjectAdmin) => matches!(action, Read | Update | Delete),
        (Project, _) => action == Read,
        (Member, ProjectAdmin) => matches!(action, Create | Read | Update | Delete | List),
        (Member, LimitedGuest) => false,
        (Member, _) => matches!(action, Read | List),
        (Metadata, ProjectAdmin) => matches!(action, Create | Read | Update | Delete),
        (Metadata, Maintainer) => action == Read,
        (Metadata, _) => false,
        (Log, ProjectAdmin) => action == List,
        (Log, _) => false,
        (Repository, ProjectAdmin | Maintainer) => true,
        (Repository, Developer) => action != Delete,
        (Repository, Guest | LimitedGuest) => matches!(action, Read | List | Pull),
        (Artifact, ProjectAdmin | Maintainer) => matches!(action, Create | Read | Delete | List),
        (Artifact, Developer) => matches!(action, Create | Read | List),
        (Artifact, Guest | LimitedGuest) => matches!(action, Read | List),
        (Tag, ProjectAdmin | Maintainer) => matches!(action, Create | Delete | List),
        (Tag, Developer) => matches!(action, Create | List),
        (Tag, Guest | LimitedGuest) => action == List,
        (Robot, ProjectAdmin) => matches!(action, Create | Read | Update | Delete | List),
        (Robot, LimitedGuest) => false,
        (Robot, _) => matches!(action, Read | List),
        (NotificationPolicy, ProjectAdmin) => {
            matches!(action, Create | Read | Update | Delete | List)
        }
        (NotificationPolicy, Maintainer) => matches!(action, Read | List),
        (NotificationPolicy, _) => false,
        (Scan | Sbom, ProjectAdmin | Maintainer) => matches!(action, Create | Read | Stop),
        (Scan | Sbom, _) => action == Read,
        (Scanner, ProjectAdmin) => matches!(action, Create | Read),
        (Scanner, _) => action == Read,
        (ExportCve, ProjectAdmin | Maintainer | Developer) => {
            matches!(action, Create | Read | List)
        }
        (ExportCve, _) => false,
        (ArtifactAddition, _) => action == Read,
        (Accessory, _) => action == List,
        (Label, ProjectAdmin | Maintainer) => {
            matches!(action, Create | Read | Update | Delete | List)
        }
        (Label, Developer | Guest) => matches!(action, Read | List),
        (Label, LimitedGuest) => false,
        (ArtifactLabel, ProjectAdmin | Maintainer | Developer) => {
            matches!(action, Create | Delete)
        }
        (ArtifactLabel, _) => false,
        (ImmutableTag, ProjectAdmin | Maintainer) => {
            matches!(action, Create | Update | Delete | List)
        }
        (ImmutableTag, _) => false,
        (Quota, _) => action == Read,
        // Harbor's code gives developers every retention action too; a
        // retention run deletes artifacts, which developers may not.
        (TagRetention, ProjectAdmin | Maintainer) => {
            matches!(action, Create | Read | Update | Delete | List)
        }
        (TagRetention, Developer) => matches!(action, Read | List),
        (TagRetention, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Kind::*;
    use Role::*;

    #[test]
    fn matrix_spot_checks() {
        assert!(role_allows(Developer, Repository, Push));
        assert!(!role_allows(Developer, Repository, Delete));
        assert!(role_allows(Maintainer, Repository, Delete));
        assert!(!role_allows(Guest, Repository, Push));
        assert!(role_allows(Guest, Repository, Pull));
        assert!(role_allows(LimitedGuest, Repository, Pull));
        assert!(!role_allows(LimitedGuest, Member, List));
        assert!(role_allows(ProjectAdmin, Member, Create));
        assert!(!role_allows(Maintainer, Member, Create));
        assert!(!role_allows(Maintainer, Project, Delete));
        assert!(role_allows(ProjectAdmin, Project, Delete));
        assert!(public_allows(Repository, Pull));
        assert!(!public_allows(Repository, Push));
        assert!(!public_allows(Member, List));
    }
}
