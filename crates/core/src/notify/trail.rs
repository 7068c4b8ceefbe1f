//! The audit trail's write side: each core service records what it does
//! as it does it, with the operator from the security context and the
//! resource as a typed target. The registry records the changes it makes
//! (for `/v2`, the API and the portal alike); a service that refuses a
//! request records the refusal. `audit::Audit` writes the trail out.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use berth_db::audit::Entry;
use berth_oci::RepositoryName;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Pull,
    Login,
    Logout,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Pull => "pull",
            Operation::Login => "login",
            Operation::Logout => "logout",
        }
    }
}

/// What it was done to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    User(&'a str),
    /// A robot by its full name; project robots belong to their project.
    Robot(&'a str, Option<&'a str>),
    Project(&'a str),
    /// A project's member, by project and member name.
    Member(&'a str, &'a str),
    Configuration,
    /// A repository by its full name (`project/…`).
    Repository(&'a str),
    /// An artifact by repository and reference (a tag or a digest).
    Artifact(&'a RepositoryName, &'a str),
    Tag(&'a RepositoryName, &'a str),
    /// A user group, by name.
    UserGroup(&'a str),
}

impl Target<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Target::User(_) => "user",
            Target::Robot(..) => "robot",
            Target::Project(_) => "project",
            Target::Member(..) => "member",
            Target::Configuration => "configuration",
            Target::Repository(_) => "repository",
            Target::Artifact(..) => "artifact",
            Target::Tag(..) => "tag",
            Target::UserGroup(_) => "user_group",
        }
    }

    fn project(&self) -> Option<&str> {
        match *self {
            Target::User(_) | Target::Configuration | Target::UserGroup(_) => None,
            Target::Robot(_, p) => p,
            Target::Project(p) | Target::Member(p, _) => Some(p),
            Target::Repository(r) => r.split('/').next(),
            Target::Artifact(r, _) | Target::Tag(r, _) => Some(r.project()),
        }
    }

    /// The resource as the log names it.
    fn name(&self) -> String {
        match self {
            Target::User(n)
            | Target::Robot(n, _)
            | Target::Project(n)
            | Target::Repository(n)
            | Target::UserGroup(n) => n.to_string(),
            Target::Member(p, m) => format!("{p}/member {m}"),
            Target::Configuration => "configurations".into(),
            // A digest has a colon; a tag cannot.
            Target::Artifact(r, d) if d.contains(':') => format!("{r}@{d}"),
            Target::Artifact(r, t) | Target::Tag(r, t) => format!("{r}:{t}"),
        }
    }
}

/// Operations the legacy log keeps (on these resource types only).
fn legacy(operation: Operation, resource_type: &str) -> bool {
    matches!(
        operation,
        Operation::Create | Operation::Delete | Operation::Pull
    ) && matches!(resource_type, "artifact" | "tag" | "repository" | "project")
}

/// Entries recorded and not yet written; cheap to clone and share.
#[derive(Clone, Default)]
pub struct Trail {
    buffer: Arc<Mutex<Vec<Entry>>>,
}

impl Trail {
    /// An empty trail.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an operation by `operator`.
    pub fn record(&self, operator: &str, operation: Operation, target: &Target<'_>, success: bool) {
        let (kind, resource) = (target.kind(), target.name());
        let entry = Entry {
            project: target.project().map(str::to_string),
            operation: operation.as_str().to_string(),
            resource_type: kind.to_string(),
            description: format!("{} {kind} {resource}", operation.as_str()),
            resource,
            username: operator.to_string(),
            success,
            op_time: crate::now_millis(),
            legacy: success && legacy(operation, kind),
        };
        crate::lock(&self.buffer).push(entry);
    }

    /// Records what `operator` asked for and how it ended; a request
    /// refused for want of credentials is nobody's operation.
    pub fn outcome<T>(
        &self,
        operator: &str,
        operation: Operation,
        target: &Target<'_>,
        result: &CoreResult<T>,
    ) {
        if !matches!(result, Err(CoreError::Unauthorized)) {
            self.record(operator, operation, target, result.is_ok());
        }
    }

    /// Runs `work` and records its outcome.
    pub async fn audited<T>(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        target: Target<'_>,
        work: impl Future<Output = CoreResult<T>>,
    ) -> CoreResult<T> {
        let result = work.await;
        self.outcome(ctx.username(), operation, &target, &result);
        result
    }

    /// Records `result` if it is a refusal, and passes it on: the registry
    /// records the success.
    pub fn refusal<T>(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        target: Target<'_>,
        result: CoreResult<T>,
    ) -> CoreResult<T> {
        if result.is_err() {
            self.outcome(ctx.username(), operation, &target, &result);
        }
        result
    }

    /// Everything recorded since the last call.
    pub(crate) fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *crate::lock(&self.buffer))
    }
}
