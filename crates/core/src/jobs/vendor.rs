//! One vendor type's runs behind one system permission.

use super::*;

/// The runs of one vendor type (garbage collection, audit log purge …)
/// behind one system permission: start, history, one run, its log, stop,
/// schedule. Each run is an execution with one task.
#[derive(Clone)]
pub struct Vendor {
    jobs: Jobs,
    vendor: &'static str,
    resource: &'static str,
}

impl Vendor {
    /// Runs of `vendor` (also its job type), guarded by the system resource
    /// `resource`.
    pub fn new(jobs: Jobs, vendor: &'static str, resource: &'static str) -> Self {
        Vendor {
            jobs,
            vendor,
            resource,
        }
    }

    async fn require(&self, ctx: &SecurityContext, action: Action) -> CoreResult<()> {
        require(ctx, action, Resource::System(self.resource)).await
    }

    /// Starts a run now; 409 while another has not ended.
    pub async fn start<P: JobParams>(&self, ctx: &SecurityContext, params: &P) -> CoreResult<i64> {
        self.require(ctx, Action::Create).await?;
        params.validate()?;
        let params = &to_json(params)?;
        let db = &self.jobs.inner.db;
        if jobs::has_active(db.reader(), self.vendor, -1).await? {
            return Err(CoreError::Conflict(format!(
                "a {} run has not ended yet",
                self.vendor
            )));
        }
        let attrs = serde_json::json!({
            "parameters": serde_json::from_str::<serde_json::Value>(params).unwrap_or_default()
        })
        .to_string();
        self.jobs
            .enqueue(&NewJob {
                vendor_type: self.vendor,
                vendor_id: -1,
                trigger: "MANUAL",
                extra_attrs: &attrs,
                job_type: self.vendor,
                params,
                max_runs: 3,
            })
            .await
    }

    /// One page of runs, newest first, with the total.
    pub async fn history(
        &self,
        ctx: &SecurityContext,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<jobs::Execution>, i64)> {
        self.require(ctx, Action::List).await?;
        Ok(jobs::executions(&self.jobs.inner.db, self.vendor, None, offset, limit).await?)
    }

    /// One run.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<jobs::Execution> {
        self.require(ctx, Action::Read).await?;
        self.execution(id).await
    }

    async fn execution(&self, id: i64) -> CoreResult<jobs::Execution> {
        jobs::execution(self.jobs.inner.db.reader(), id)
            .await?
            .filter(|e| e.vendor_type == self.vendor)
            .ok_or_else(|| CoreError::NotFound(format!("{} run {id} not found", self.vendor)))
    }

    async fn task_of(&self, id: i64) -> CoreResult<i64> {
        self.execution(id).await?;
        jobs::tasks_of(self.jobs.inner.db.reader(), id)
            .await?
            .first()
            .map(|t| t.id)
            .ok_or_else(|| CoreError::NotFound(format!("{} run {id} has no job", self.vendor)))
    }

    /// A run's log.
    pub async fn log(&self, ctx: &SecurityContext, id: i64) -> CoreResult<String> {
        self.require(ctx, Action::Read).await?;
        self.jobs.task_log(self.task_of(id).await?).await
    }

    /// Stops a run; stopping one that has ended does nothing, as in Harbor.
    pub async fn stop(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        self.require(ctx, Action::Stop).await?;
        match self.jobs.stop_task(self.task_of(id).await?).await {
            Err(CoreError::Precondition(_)) => Ok(()),
            other => other,
        }
    }

    /// Schedules runs (`None` removes the schedule).
    pub async fn set_schedule<P: JobParams>(
        &self,
        ctx: &SecurityContext,
        cron_type: &str,
        cron: Option<&str>,
        params: &P,
    ) -> CoreResult<()> {
        self.require(ctx, Action::Update).await?;
        params.validate()?;
        self.jobs
            .set_schedule(self.vendor, cron_type, cron, &to_json(params)?)
            .await
    }

    /// The schedule, if runs are scheduled.
    pub async fn schedule(&self, ctx: &SecurityContext) -> CoreResult<Option<Schedule>> {
        self.require(ctx, Action::Read).await?;
        self.jobs.schedule_of(self.vendor).await
    }
}
