//! Storage quotas (Harbor's `/quotas`): each project's limit and what it
//! uses — every blob and manifest counted once per project, kept inside
//! the writes that change it (the rule in `policy::quota` counts and
//! refuses, the registry releases what deletes free, collections release
//! what nothing uses any more). A recount job (`QUOTA_SYNC`, Harbor's
//! `/api/internal/syncquota`) repairs any drift.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Resource};
use crate::jobs::{JobContext, JobParams, JobResult, Jobs, Vendor};
use crate::query::Filter;
pub use berth_db::quotas::QuotaRow;
use berth_db::{now_millis, quotas, Db};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Quotas are a system resource (Harbor's `quota`).
const QUOTA: Resource = Resource::System("quota");

/// Harbor's vendor and job type of a recount.
pub const SYNC: &str = "QUOTA_SYNC";

/// Usage at or past this share of the limit raises `QUOTA_WARNING`.
pub const WARNING_PERCENT: i64 = 85;

/// The largest limit Harbor takes: 1024 TiB.
pub const MAX_LIMIT: i64 = 1_125_899_906_842_624;

/// Bytes as Harbor writes them in quota messages (`9.5 MiB`, `512 B`).
pub fn display_size(bytes: i64) -> String {
    const UNIT: i64 = 1024;
    if bytes < UNIT {
        return format!("{bytes} B");
    }
    let (mut div, mut exp) = (UNIT, 0);
    let mut n = bytes / UNIT;
    while n >= UNIT {
        div *= UNIT;
        exp += 1;
        n /= UNIT;
    }
    let unit = b"KMGTPE"[exp] as char;
    format!("{:.1} {unit}iB", bytes as f64 / div as f64)
}

/// Harbor's rule for a storage limit: -1 (unlimited) or 1 byte to 1024 TiB.
pub fn check_limit(limit: i64) -> CoreResult<()> {
    if limit <= 0 && limit != -1 {
        return Err(CoreError::BadRequest(format!(
            "invalid non-positive value for quota limit, value={limit}"
        )));
    }
    if limit > MAX_LIMIT {
        return Err(CoreError::BadRequest(format!(
            "exceeded 1024TB, which is 1125899906842624 Bytes, value={limit}"
        )));
    }
    Ok(())
}

/// The quota service.
#[derive(Clone)]
pub struct Quotas {
    db: Db,
    syncs: Vendor,
}

/// A recount takes no parameters.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SyncParams {}

impl JobParams for SyncParams {
    fn validate(&self) -> CoreResult<()> {
        Ok(())
    }
}

impl Quotas {
    /// The service; registers the recount job with `jobs`.
    pub fn new(db: Db, jobs: Jobs) -> Self {
        let target = std::sync::Arc::new(db.clone());
        jobs.register_on(
            SYNC,
            target,
            |db, ctx| async move { recount(&db, ctx).await },
        );
        Quotas {
            db,
            syncs: Vendor::new(jobs, SYNC, "quota"),
        }
    }

    /// One page of quotas (`reference` is `project`, the only kind there
    /// is; `reference_id` a project's id), with the total.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        (reference, reference_id): (Option<&str>, Option<&str>),
        filter: &Filter,
        (offset, limit): (i64, i64),
    ) -> CoreResult<(Vec<QuotaRow>, i64)> {
        require(ctx, Action::List, QUOTA).await?;
        if reference.is_some_and(|r| !r.is_empty() && r != "project") {
            return Ok((Vec::new(), 0));
        }
        let mut query = filter.parse(quotas::FIELDS)?;
        if let Some(id) = reference_id.filter(|id| !id.is_empty()) {
            let bad = |e: berth_db::query::QueryError| CoreError::BadRequest(e.to_string());
            query = query
                .exact(quotas::FIELDS, "reference_id", id)
                .map_err(bad)?;
        }
        let r = self.db.reader();
        let total = quotas::count(r, &query).await?;
        Ok((quotas::list(r, &query, offset, limit).await?, total))
    }

    /// One quota.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<QuotaRow> {
        require(ctx, Action::Read, QUOTA).await?;
        quotas::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("quota {id} not found")))
    }

    /// Sets a quota's hard limits (Harbor's body: `{"hard": {"storage": n}}`).
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        hard: &BTreeMap<String, i64>,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, QUOTA).await?;
        if hard.is_empty() {
            return Err(CoreError::BadRequest("hard required in body".into()));
        }
        self.get(ctx, id).await?;
        if let Some(other) = hard.keys().find(|k| *k != "storage") {
            return Err(CoreError::BadRequest(format!(
                "resource {other} not support"
            )));
        }
        let storage = hard["storage"];
        check_limit(storage)?;
        if !quotas::set_hard(self.db.writer(), id, storage, now_millis()).await? {
            return Err(CoreError::NotFound(format!("quota {id} not found")));
        }
        Ok(())
    }

    /// Recounts of every project's usage: start, history, log.
    pub fn syncs(&self) -> &Vendor {
        &self.syncs
    }
}

/// The recount job: each project in its own transaction under its quota's
/// lock, so pushes go on meanwhile.
async fn recount(db: &Db, ctx: JobContext) -> JobResult {
    let fail = |e: berth_db::DbError| e.to_string();
    let projects = quotas::project_names(db.reader()).await.map_err(fail)?;
    let mut fixed = 0;
    for name in &projects {
        if ctx.stopping() {
            return Err("stopped".into());
        }
        let mut tx = db.begin().await.map_err(fail)?;
        let now = now_millis();
        if quotas::lock(&mut *tx, name, now)
            .await
            .map_err(fail)?
            .is_none()
        {
            continue;
        }
        let (before, after) = quotas::recount(&mut tx, name, now).await.map_err(fail)?;
        berth_db::commit(tx).await.map_err(fail)?;
        if before != after {
            fixed += 1;
            ctx.log(format!("{name}: usage was {before} bytes, is {after}"));
        }
    }
    ctx.log(format!(
        "recounted {} projects, {fixed} corrected",
        projects.len()
    ));
    Ok(())
}
