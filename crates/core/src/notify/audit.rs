//! Audit logs: who did what, when, with what result.
//!
//! The services record entries on a `Trail` as they act; they are written
//! here in one transaction every second (and at shutdown), so a pull or
//! push never waits for an audit write; a process killed outright loses at
//! most the last second, as Harbor's own asynchronous audit does. Disabled
//! event types are read from the configuration at each flush and their
//! entries dropped there, so every process follows a change within a
//! second.

use crate::configurations::Configurations;
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::require;
use crate::iam::rbac::{can, Action, Kind, ProjectRef, Resource};
use crate::jobs::{JobContext, JobParams, JobResult, Jobs, Vendor};
use crate::notify::trail::Trail;
use crate::project::Projects;
use crate::query::Filter;
use berth_db::audit;
/// An audit entry, and which log it is in.
pub use berth_db::audit::{Log, Table};
use berth_db::{now_millis, Db};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The event types recorded (`operation_resourcetype`), as Harbor names them.
pub use crate::configurations::AUDIT_EVENT_TYPES as EVENT_TYPES;

/// Harbor's vendor and job type for the purge.
pub const PURGE_VENDOR: &str = "PURGE_AUDIT_LOG";

/// What a purge is asked to do (Harbor's parameters).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeParams {
    /// Entries older than this many hours go.
    #[serde(default = "month")]
    pub audit_retention_hour: i64,
    /// Comma-separated event types to purge (empty: all).
    #[serde(default)]
    pub include_event_types: String,
    /// Count, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn month() -> i64 {
    24 * 30
}

impl Default for PurgeParams {
    fn default() -> Self {
        PurgeParams {
            audit_retention_hour: month(),
            include_event_types: String::new(),
            dry_run: false,
        }
    }
}

struct Inner {
    db: Db,
    configurations: Configurations,
    trail: Trail,
}

/// The audit service.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
    projects: Projects,
    purges: Vendor,
}

impl Audit {
    /// The service writing out `trail`; registers the purge job with `jobs`.
    pub fn new(
        db: Db,
        configurations: Configurations,
        projects: Projects,
        jobs: Jobs,
        trail: Trail,
    ) -> Self {
        let inner = Arc::new(Inner {
            db,
            configurations,
            trail,
        });
        jobs.register_on(PURGE_VENDOR, inner.clone(), |audit, ctx| async move {
            audit.purge(ctx).await
        });
        Audit {
            inner,
            projects,
            purges: Vendor::new(jobs, PURGE_VENDOR, "purge-audit"),
        }
    }

    /// Writes buffered entries (and re-reads the settings, which say which
    /// event types are disabled).
    pub async fn flush(&self) -> CoreResult<()> {
        let disabled = self
            .inner
            .configurations
            .refresh()
            .await?
            .disabled_audit_event_types;
        let mut entries = self.inner.trail.take();
        entries.retain(|e| {
            let event_type = format!("{}_{}", e.operation, e.resource_type);
            !disabled.contains(&event_type)
        });
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.db.begin().await?;
        audit::insert_all(&mut tx, &entries).await?;
        berth_db::commit(tx).await?;
        Ok(())
    }

    /// A page of a log: everything for administrators, else the projects
    /// where the caller may list logs (`project`: one project).
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        table: Table,
        project: Option<&str>,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Log>, i64)> {
        let query = &filter.parse(berth_db::audit::FIELDS)?;
        if table == Table::Extended && project.is_none() {
            require(ctx, Action::List, Resource::System("audit-log")).await?;
        }
        let scope: Option<Vec<i64>> = match project {
            Some(p) => Some(vec![
                self.projects
                    .require_in(ctx, p, Action::List, Kind::Log)
                    .await?
                    .id,
            ]),
            None if can(ctx, Action::List, Resource::System("audit-log")).await? => None,
            None => {
                if !ctx.is_authenticated() {
                    return Err(CoreError::Unauthorized);
                }
                let mut ids = Vec::new();
                if let Some(user) = ctx.user_id() {
                    for (id, _) in audit::memberships(self.inner.db.reader(), user).await? {
                        let p = ProjectRef {
                            id,
                            public: false,
                            created_at: 0,
                        };
                        if can(ctx, Action::List, Resource::Project(p, Kind::Log)).await? {
                            ids.push(id);
                        }
                    }
                }
                Some(ids)
            }
        };
        Ok(audit::list(
            self.inner.db.reader(),
            table,
            scope.as_deref(),
            query,
            offset,
            limit,
        )
        .await?)
    }

    /// History, logs, stop and schedule of purges.
    pub fn purges(&self) -> &Vendor {
        &self.purges
    }
}

impl JobParams for PurgeParams {
    fn validate(&self) -> CoreResult<()> {
        if self.audit_retention_hour < 0 {
            return Err(CoreError::BadRequest(
                "audit_retention_hour must be 0 or more".into(),
            ));
        }
        if let Some(bad) = event_types(&self.include_event_types)
            .into_iter()
            .find(|t| !EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(CoreError::BadRequest(format!("unknown event type {bad:?}")));
        }
        Ok(())
    }
}

fn event_types(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Inner {
    async fn purge(self: Arc<Self>, ctx: JobContext) -> JobResult {
        let p: PurgeParams = ctx.params()?;
        let before = now_millis() - p.audit_retention_hour * 3_600_000;
        let types = event_types(&p.include_event_types);
        ctx.log(format!(
            "purging entries older than {} hours of {} (dry run: {})",
            p.audit_retention_hour,
            if types.is_empty() {
                "every event type".to_string()
            } else {
                types.join(", ")
            },
            p.dry_run
        ));
        let mut tx = self.db.begin().await.map_err(|e| e.to_string())?;
        let n = audit::purge(&mut tx, before, &types, p.dry_run)
            .await
            .map_err(|e| e.to_string())?;
        berth_db::commit(tx).await.map_err(|e| e.to_string())?;
        ctx.log(if p.dry_run {
            format!("would purge {n} entries")
        } else {
            format!("purged {n} entries")
        });
        Ok(())
    }
}
