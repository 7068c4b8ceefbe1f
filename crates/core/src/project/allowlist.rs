//! CVE allowlists: the system's, which any project may reuse, and each
//! project's own. The vulnerability rule reads the one a project uses
//! through `ProjectSettings`, which these writes clear.

use super::{ProjectKey, Projects};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Kind, Resource};
use crate::notify::trail::{Operation, Target};
use berth_db::allowlists::{self, SYSTEM};
use berth_db::now_millis;

/// An allowlist as Harbor's API shows it.
#[derive(Debug, Clone, Default)]
pub struct CveAllowlist {
    pub id: i64,
    pub project_id: i64,
    /// Seconds since the epoch; None never expires.
    pub expires_at: Option<i64>,
    pub items: Vec<String>,
    pub creation_time: i64,
    pub update_time: i64,
}

/// What a caller sets: an expiry and the CVE ids.
#[derive(Debug, Clone, Default)]
pub struct AllowlistChange {
    pub expires_at: Option<i64>,
    pub items: Vec<String>,
}

impl AllowlistChange {
    /// The ids, trimmed; Harbor's refusals for a blank or repeated one.
    fn checked(&self) -> CoreResult<String> {
        let mut seen = Vec::with_capacity(self.items.len());
        for id in &self.items {
            let id = id.trim();
            if id.is_empty() {
                return Err(CoreError::BadRequest(
                    "empty or whitespace-only CVE ID in allowlist".into(),
                ));
            }
            if seen.contains(&id) {
                return Err(CoreError::BadRequest(format!(
                    "duplicate CVE ID in allowlist: {id}"
                )));
            }
            seen.push(id);
        }
        serde_json::to_string(&seen).map_err(|e| CoreError::Internal(e.to_string()))
    }
}

impl Projects {
    /// The system allowlist (any signed-in caller may read it).
    pub async fn system_allowlist(&self, ctx: &SecurityContext) -> CoreResult<CveAllowlist> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        self.allowlist(SYSTEM).await
    }

    /// Replaces the system allowlist (system administrators).
    pub async fn set_system_allowlist(
        &self,
        ctx: &SecurityContext,
        change: &AllowlistChange,
    ) -> CoreResult<()> {
        let work = async {
            require(ctx, Action::Update, Resource::Configuration).await?;
            let items = change.checked()?;
            allowlists::set(
                self.db.writer(),
                SYSTEM,
                change.expires_at,
                &items,
                now_millis(),
            )
            .await?;
            self.settings.forget_allowlists();
            Ok(())
        };
        (self.trail)
            .audited(ctx, Operation::Update, Target::Configuration, work)
            .await
    }

    /// The own allowlists of projects the caller has read, in their order
    /// (one never set is empty).
    pub async fn allowlists(&self, project_ids: &[i64]) -> CoreResult<Vec<CveAllowlist>> {
        let stored = allowlists::of_projects(self.db.reader(), project_ids).await?;
        Ok(project_ids
            .iter()
            .map(|id| match stored.iter().find(|l| l.project_id == *id) {
                Some(l) => shown(l.clone()),
                None => CveAllowlist {
                    project_id: *id,
                    ..CveAllowlist::default()
                },
            })
            .collect())
    }

    /// Replaces a project's own allowlist (a project update).
    pub async fn set_allowlist(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        change: &AllowlistChange,
    ) -> CoreResult<()> {
        let work = async {
            let view = self
                .authorized(ctx, key, Action::Update, Kind::Project)
                .await?;
            let items = change.checked()?;
            let id = view.project.project_id;
            allowlists::set(
                self.db.writer(),
                id,
                change.expires_at,
                &items,
                now_millis(),
            )
            .await?;
            self.settings.forget(&view.project.name);
            Ok(())
        };
        self.audited(ctx, Operation::Update, key, work).await
    }

    /// A project's own allowlist (the caller has read the project), or the
    /// system's (project 0).
    pub async fn allowlist(&self, project_id: i64) -> CoreResult<CveAllowlist> {
        let mut one = self.allowlists(&[project_id]).await?;
        Ok(one.pop().unwrap_or_default())
    }
}

fn shown(l: allowlists::Allowlist) -> CveAllowlist {
    CveAllowlist {
        id: l.id,
        project_id: l.project_id,
        expires_at: l.expires_at,
        items: serde_json::from_str(&l.items).unwrap_or_default(),
        creation_time: l.creation_time,
        update_time: l.update_time,
    }
}
