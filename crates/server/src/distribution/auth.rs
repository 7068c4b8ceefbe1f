//! Who may do what on `/v2`: the caller (anonymous, a user with basic auth,
//! or a bearer token from `/service/token`) and Harbor's challenge rules.

use super::OciError;
use crate::State;
use axum::http::{header, HeaderMap};
use berth_core::iam::context::SecurityContext;
use berth_core::iam::rbac::{can, Action, Kind, ProjectRef, Resource};
use berth_core::iam::token::{Verified, SERVICE};
use berth_core::iam::Door;
use berth_oci::{ErrorCode, RepositoryName};

/// The authenticated caller of a `/v2` request.
pub enum Caller {
    Anonymous(SecurityContext),
    User(SecurityContext),
    Token(Verified),
}

impl Caller {
    /// Who is calling, for the audit log.
    pub fn username(&self) -> &str {
        match self {
            Caller::Anonymous(ctx) | Caller::User(ctx) => ctx.username(),
            Caller::Token(v) if v.subject.is_empty() => "anonymous",
            Caller::Token(v) => &v.subject,
        }
    }

    /// Whether the caller could hold `scanner-pull` at all (a robot, or a
    /// token naming it): only those are asked.
    pub fn may_scanner_pull(&self) -> bool {
        match self {
            Caller::Anonymous(_) => false,
            Caller::User(ctx) => berth_core::iam::robots::is_robot(ctx.username()),
            Caller::Token(t) => {
                (t.access.iter()).any(|a| a.actions.iter().any(|x| x == "scanner-pull"))
            }
        }
    }
}

/// What a repository request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoAction {
    Pull,
    Push,
    Delete,
    /// A scan's pull, let through the pull rules.
    ScannerPull,
}

impl RepoAction {
    fn token_action(self) -> &'static str {
        match self {
            RepoAction::Pull => "pull",
            RepoAction::Push => "push",
            RepoAction::Delete => "delete",
            RepoAction::ScannerPull => "scanner-pull",
        }
    }

    /// The scope a client should ask for (push implies pull, as Docker asks).
    fn scope_actions(self) -> &'static str {
        match self {
            RepoAction::Pull | RepoAction::ScannerPull => "pull",
            RepoAction::Push => "pull,push",
            RepoAction::Delete => "delete",
        }
    }

    fn rbac(self) -> Action {
        match self {
            RepoAction::Pull => Action::Pull,
            RepoAction::Push => Action::Push,
            RepoAction::Delete => Action::Delete,
            RepoAction::ScannerPull => Action::ScannerPull,
        }
    }
}

/// A 401 with Harbor's Bearer challenge.
pub fn challenge(state: &State, scope: Option<String>, message: &str) -> OciError {
    let scope = scope.map(|s| format!(",scope=\"{s}\"")).unwrap_or_default();
    OciError::new(ErrorCode::Unauthorized, message).header(
        header::WWW_AUTHENTICATE,
        format!(
            "Bearer realm=\"{}/service/token\",service=\"{SERVICE}\"{scope}",
            state.external_url
        ),
    )
}

/// Identifies the caller; bad credentials or tokens are a 401, never anonymous.
pub async fn caller(state: &State, headers: &HeaderMap) -> Result<Caller, OciError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous(state.iam.anonymous()));
    };
    let text = value.to_str().unwrap_or("");
    if let Some(token) = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
    {
        return state
            .tokens
            .verify(token.trim())
            .map(Caller::Token)
            .ok_or_else(|| challenge(state, None, "invalid or expired token"));
    }
    let Some((user, password)) = crate::auth::parse_basic(value) else {
        return Err(challenge(state, None, "unsupported Authorization header"));
    };
    match state
        .iam
        .login(&user, &password, crate::listener::peer(), Door::Client)
        .await
    {
        Ok(Some(ctx)) => Ok(Caller::User(ctx)),
        Ok(None) => Err(challenge(state, None, "invalid username or password")),
        Err(berth_core::CoreError::TooManyAttempts(why)) => {
            Err(OciError::new(ErrorCode::TooManyRequests, why))
        }
        Err(berth_core::CoreError::SignInUnavailable(why)) => Err(challenge(state, None, &why)),
        Err(e) => Err(super::blobs::internal(e)),
    }
}

/// `GET /v2/` needs a logged-in caller or a valid token.
pub fn require_login(state: &State, caller: &Caller) -> Result<(), OciError> {
    match caller {
        Caller::Anonymous(_) => Err(challenge(state, None, "authentication required")),
        _ => Ok(()),
    }
}

/// The security context to filter listings with (the token's subject for tokens).
pub async fn listing_context(state: &State, caller: Caller) -> Result<SecurityContext, OciError> {
    match caller {
        Caller::Anonymous(_) => Err(challenge(
            state,
            Some("registry:catalog:*".into()),
            "authentication required",
        )),
        Caller::User(ctx) => Ok(ctx),
        Caller::Token(t) if t.allows_catalog() => state
            .iam
            .context_for_name(&t.subject)
            .await
            .map_err(super::blobs::internal),
        Caller::Token(_) => Err(challenge(
            state,
            Some("registry:catalog:*".into()),
            "insufficient scope",
        )),
    }
}

/// Checks one repository action for the caller.
pub async fn authorize(
    state: &State,
    caller: &Caller,
    repo: &RepositoryName,
    action: RepoAction,
) -> Result<(), OciError> {
    authorize_upstream(state, caller, repo, action)
        .await
        .map(drop)
}

/// Checks one repository action for the caller; the upstream registry
/// endpoint of the repository's project, if it is a proxy cache.
pub async fn authorize_upstream(
    state: &State,
    caller: &Caller,
    repo: &RepositoryName,
    action: RepoAction,
) -> Result<Option<i64>, OciError> {
    let found = state
        .projects
        .lookup_upstream(repo.project())
        .await
        .map_err(super::blobs::internal)?;
    let upstream = found.and_then(|(_, u)| u);
    check_access(state, caller, repo, action, found.map(|(p, _)| p)).await?;
    // A proxy cache is filled by pulls only (as in Harbor).
    if upstream.is_some() && matches!(action, RepoAction::Push) {
        return Err(OciError::new(
            ErrorCode::Denied,
            format!(
                "can not push artifact to a proxy project: {}",
                repo.project()
            ),
        ));
    }
    Ok(upstream)
}

/// Checks one repository action for the caller in its project (None: it
/// does not exist).
async fn check_access(
    state: &State,
    caller: &Caller,
    repo: &RepositoryName,
    action: RepoAction,
    project: Option<ProjectRef>,
) -> Result<(), OciError> {
    let scope = || Some(format!("repository:{repo}:{}", action.scope_actions()));
    match caller {
        Caller::Token(t) => {
            if t.allows_in(project.as_ref(), repo.as_str(), action.token_action()) {
                Ok(())
            } else {
                Err(challenge(state, scope(), "insufficient scope"))
            }
        }
        Caller::Anonymous(ctx) | Caller::User(ctx) => {
            let anonymous = matches!(caller, Caller::Anonymous(_));
            let Some(project) = project else {
                return Err(if anonymous {
                    challenge(state, scope(), "authentication required")
                } else {
                    OciError::new(
                        ErrorCode::NameUnknown,
                        format!("project {} not found", repo.project()),
                    )
                });
            };
            let allowed = can(
                ctx,
                action.rbac(),
                Resource::Project(project, Kind::Repository),
            )
            .await
            .map_err(super::blobs::internal)?;
            match (allowed, anonymous) {
                (true, _) => Ok(()),
                (false, true) => Err(challenge(state, scope(), "authentication required")),
                (false, false) => Err(OciError::new(
                    ErrorCode::Denied,
                    "requested access to the resource is denied",
                )),
            }
        }
    }
}

/// Whether the caller may read repositories of a project (catalog filtering).
pub async fn may_list(
    ctx: &SecurityContext,
    state: &State,
    project: &str,
) -> Result<bool, OciError> {
    let Some(p) = state
        .projects
        .lookup(project)
        .await
        .map_err(super::blobs::internal)?
    else {
        return Ok(false);
    };
    can(ctx, Action::List, Resource::Project(p, Kind::Repository))
        .await
        .map_err(super::blobs::internal)
}
