//! The security context: who is calling, built once per request.

use super::role::Role;
use berth_db::{projects, Db, DbError};
use std::collections::HashMap;
use tokio::sync::Mutex;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        id: i64,
        name: String,
        sysadmin: bool,
    },
    /// A robot account: only its explicit permissions count.
    Robot {
        id: i64,
        name: String,
        permissions: Vec<RobotGrant>,
    },
}

/// One robot permission, with its namespace resolved to a project id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotGrant {
    /// `None` for system permissions; `Some(None)` for every project (`*`).
    pub project: Option<Option<i64>>,
    pub resource: String,
    pub action: String,
}

/// One request's caller plus a cache of its project roles.
pub struct SecurityContext {
    principal: Principal,
    db: Db,
    roles: Mutex<HashMap<i64, Vec<Role>>>,
}

impl SecurityContext {
    /// A context for a caller.
    pub fn new(principal: Principal, db: Db) -> Self {
        SecurityContext {
            principal,
            db,
            roles: Mutex::new(HashMap::new()),
        }
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether someone (not anonymous) is calling.
    pub fn is_authenticated(&self) -> bool {
        self.principal != Principal::Anonymous
    }

    /// Whether the caller is a system administrator.
    pub fn is_sysadmin(&self) -> bool {
        matches!(self.principal, Principal::User { sysadmin: true, .. })
    }

    /// The caller's user id, if a user.
    pub fn user_id(&self) -> Option<i64> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            Principal::Anonymous | Principal::Robot { .. } => None,
        }
    }

    /// The caller's name (`anonymous` when nobody is logged in).
    pub fn username(&self) -> &str {
        match &self.principal {
            Principal::User { name, .. } | Principal::Robot { name, .. } => name,
            Principal::Anonymous => "anonymous",
        }
    }

    /// The caller's roles in a project (looked up once per request).
    pub async fn project_roles(&self, project_id: i64) -> Result<Vec<Role>, DbError> {
        let Some(user) = self.user_id() else {
            return Ok(Vec::new());
        };
        let mut cache = self.roles.lock().await;
        if let Some(r) = cache.get(&project_id) {
            return Ok(r.clone());
        }
        let roles: Vec<Role> = projects::user_roles(self.db.reader(), project_id, user)
            .await?
            .into_iter()
            .filter_map(Role::from_id)
            .collect();
        cache.insert(project_id, roles.clone());
        Ok(roles)
    }
}
