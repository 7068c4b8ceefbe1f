//! The replication service: rules, and their runs on the job service. A
//! run is an execution whose first job (`REPLICATION`) plans it — lists
//! what the rule selects at the source, works out the destination names,
//! creates the destination's missing projects — and adds one task
//! (`REPLICATION_ARTIFACT`) per artifact, which the workers carry out,
//! retry and resume like any job. The execution's state follows its
//! tasks'.

use super::copy::{copy, Options, Side, Store};
use super::filters::Filters;
use super::policies::{destination_name, filter_specs, Policy, PolicySpec, SCHEDULED};
use super::registries::Registries;
use crate::error::{CoreError, CoreResult};
use crate::iam::context::{Principal, SecurityContext};
use crate::iam::rbac::{require, Action, Resource};
use crate::jobs::{Enqueued, Execution, JobContext, JobResult, Jobs};
use crate::notify::events::{Event, Events, Outbox};
use crate::project::Projects;
use crate::query::Filter;
use crate::registry::Registry;
use crate::remote::Remote;
use berth_db::jobs::{NewJob, Task};
use berth_db::replication::{self as db, VENDOR};
use berth_db::{now_millis, Db};
use berth_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The job that plans a run (also the executions' vendor type).
pub const PLAN_JOB: &str = VENDOR;
/// The job that replicates one artifact.
pub const ARTIFACT_JOB: &str = "REPLICATION_ARTIFACT";
/// Blobs sent in chunks go in chunks of this size (Harbor's).
const CHUNK: u64 = 10 << 20;
/// Runs of an artifact's task (the first and two retries).
const ARTIFACT_RUNS: i64 = 3;
/// Tasks added per transaction while planning.
const TASKS_PER_TX: usize = 500;
/// How long this process trusts its list of event-based rules: a rule
/// another replica creates or changes applies to pushes here this much
/// later at most (changes made here apply at once).
const EVENT_RULES_FRESH: Duration = Duration::from_secs(5);

/// The enabled event-based rules pushing from here, with their filters,
/// as read at a time.
type EventRules = Arc<Vec<(Policy, Filters)>>;

fn policies() -> Resource {
    Resource::System("replication-policy")
}

fn runs() -> Resource {
    Resource::System("replication")
}

/// What one task does (its parameters).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Work {
    pub policy_id: i64,
    /// `copy` or `deletion`.
    pub operation: String,
    /// `image` (another registry's) or `artifact` (this one's).
    pub resource_type: String,
    pub src_repo: String,
    pub dst_repo: String,
    /// None for an artifact known only by its tags.
    pub digest: Option<String>,
    pub tags: Vec<String>,
}

impl Work {
    /// How the task's resource is shown: `repo:tag,tag` or `repo@digest`.
    pub fn resource(&self, repo: &str) -> String {
        match (self.tags.is_empty(), &self.digest) {
            (false, _) => format!("{repo}:{}", self.tags.join(",")),
            (true, Some(d)) => format!("{repo}@{d}"),
            (true, None) => repo.to_string(),
        }
    }
}

/// What a plan is asked for.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PlanParams {
    policy_id: i64,
    /// A run for one pushed or deleted artifact (event-based rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<EventParams>,
}

/// The artifact an event-based run is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EventParams {
    repo: String,
    digest: String,
    tags: Vec<String>,
    deleted: bool,
}

/// An artifact a run replicates.
struct Candidate {
    repo: String,
    digest: Option<String>,
    tags: Vec<String>,
    deletion: bool,
}

/// A rule with the endpoints it names (None: this registry).
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub policy: Policy,
    pub src: Option<super::registries::Endpoint>,
    pub dest: Option<super::registries::Endpoint>,
}

/// A run, with its tasks counted by state.
#[derive(Debug, Clone)]
pub struct ExecutionView {
    pub execution: Execution,
    pub total: i64,
    pub failed: i64,
    pub succeed: i64,
    pub in_progress: i64,
    pub stopped: i64,
}

/// A task with what it does.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: Task,
    pub work: Work,
}

struct Inner {
    db: Db,
    jobs: Jobs,
    registries: Registries,
    registry: Arc<Registry>,
    projects: Projects,
    events: Events,
    /// Where this registry is (`scheme://host[:port]`), for webhooks.
    external_url: String,
    event_rules: Mutex<Option<(Instant, EventRules)>>,
}

/// Where a replication service stands: what it reads from and writes to.
pub struct ReplicationDeps {
    pub db: Db,
    pub jobs: Jobs,
    pub registries: Registries,
    pub registry: Arc<Registry>,
    pub projects: Projects,
    pub events: Events,
    pub external_url: String,
}

/// The replication service.
#[derive(Clone)]
pub struct Replication {
    inner: Arc<Inner>,
}

impl Replication {
    /// The service; registers its jobs.
    pub fn new(deps: ReplicationDeps) -> Self {
        let jobs = deps.jobs.clone();
        let inner = Arc::new(Inner {
            db: deps.db,
            jobs: deps.jobs,
            registries: deps.registries,
            registry: deps.registry,
            projects: deps.projects,
            events: deps.events,
            external_url: deps.external_url,
            event_rules: Mutex::new(None),
        });
        jobs.register_on(PLAN_JOB, inner.clone(), |i, ctx| async move {
            i.plan(ctx).await
        });
        jobs.register_on(ARTIFACT_JOB, inner.clone(), |i, ctx| async move {
            i.replicate(ctx).await
        });
        Replication { inner }
    }

    /// Runs the event-based rules a push or deletion calls for, enqueued
    /// in the change's own transaction.
    pub fn subscribe(&self) {
        self.inner.events.add_outbox(self.inner.clone());
    }

    // ----- rules -----

    /// A page of rules, and how many match.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<PolicyView>, i64)> {
        require(ctx, Action::List, policies()).await?;
        let query = filter.parse(db::FIELDS)?;
        let r = self.inner.db.reader();
        let total = db::count(r, &query).await?;
        let mut out = Vec::new();
        for p in db::list(r, &query, offset, limit).await? {
            out.push(self.view(p).await?);
        }
        Ok((out, total))
    }

    /// One rule.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<PolicyView> {
        require(ctx, Action::Read, policies()).await?;
        self.view(self.inner.policy(id).await?).await
    }

    async fn view(&self, policy: Policy) -> CoreResult<PolicyView> {
        let endpoint = |id: i64| async move {
            match id {
                0 => Ok(None),
                id => (berth_db::registries::by_id(self.inner.db.reader(), id).await)
                    .map_err(CoreError::from),
            }
        };
        Ok(PolicyView {
            src: endpoint(policy.src_registry_id).await?,
            dest: endpoint(policy.dest_registry_id).await?,
            policy,
        })
    }

    /// Creates a rule; its id.
    pub async fn create(&self, ctx: &SecurityContext, spec: &PolicySpec) -> CoreResult<i64> {
        require(ctx, Action::Create, policies()).await?;
        let mut p = self.inner.checked(spec).await?;
        p.creator = ctx.username().to_string();
        let now = now_millis();
        (p.creation_time, p.update_time) = (now, now);
        let mut tx = self.inner.db.begin().await?;
        let id = db::insert(&mut tx, &p)
            .await
            .map_err(|e| CoreError::taken(e, format!("policy {} already exists", p.name)))?;
        berth_db::commit(tx).await?;
        p.id = id;
        self.inner.changed();
        self.inner.schedule(&p).await?;
        Ok(id)
    }

    /// Changes a rule.
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        spec: &PolicySpec,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, policies()).await?;
        let stored = self.inner.policy(id).await?;
        let mut p = self.inner.checked(spec).await?;
        (p.id, p.creator, p.creation_time) = (id, stored.creator, stored.creation_time);
        p.update_time = now_millis();
        let mut tx = self.inner.db.begin().await?;
        let saved = db::update(&mut tx, &p)
            .await
            .map_err(|e| CoreError::taken(e, format!("policy {} already exists", p.name)))?;
        berth_db::commit(tx).await?;
        if !saved {
            return Err(CoreError::NotFound(format!("policy {id} not found")));
        }
        self.inner.changed();
        self.inner.schedule(&p).await
    }

    /// Deletes a rule with its runs; refused while one has not ended.
    pub async fn delete(&self, ctx: &SecurityContext, id: i64) -> CoreResult<Policy> {
        require(ctx, Action::Delete, policies()).await?;
        let p = self.inner.policy(id).await?;
        if berth_db::jobs::has_active(self.inner.db.reader(), VENDOR, id).await? {
            return Err(CoreError::Precondition(
                "contains executions that aren't in final status, stop the execution first".into(),
            ));
        }
        (self.inner.jobs)
            .set_schedule_of(VENDOR, id, "None", None, "")
            .await?;
        let mut tx = self.inner.db.begin().await?;
        db::delete(&mut tx, id).await?;
        berth_db::commit(tx).await?;
        self.inner.changed();
        Ok(p)
    }

    // ----- runs -----

    /// Runs a rule now; the execution's id.
    pub async fn start(&self, ctx: &SecurityContext, policy_id: i64) -> CoreResult<i64> {
        require(ctx, Action::Create, runs()).await?;
        let p = self.inner.policy(policy_id).await?;
        self.inner.start(&p, "MANUAL", ctx.username(), None).await
    }

    /// Stops a run: its tasks that have not ended.
    pub async fn stop(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        require(ctx, Action::Create, runs()).await?;
        self.inner.execution(id).await?;
        self.inner.jobs.stop_execution(id).await
    }

    /// A page of runs (newest first unless sorted), and how many match.
    pub async fn executions(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<ExecutionView>, i64)> {
        require(ctx, Action::List, runs()).await?;
        let query = filter.parse(db::EXECUTION_FIELDS)?;
        let r = self.inner.db.reader();
        let total = db::count_executions(r, &query).await?;
        let page = db::executions(r, &query, offset, limit).await?;
        Ok((self.inner.counted(page).await?, total))
    }

    /// One run.
    pub async fn execution(&self, ctx: &SecurityContext, id: i64) -> CoreResult<ExecutionView> {
        require(ctx, Action::Read, runs()).await?;
        let e = self.inner.execution(id).await?;
        let mut views = self.inner.counted(vec![e]).await?;
        views
            .pop()
            .ok_or_else(|| CoreError::Internal("a run went missing".into()))
    }

    /// A page of a run's tasks, of one state and resource type if asked
    /// (states as Harbor's API names them), and how many match.
    pub async fn tasks(
        &self,
        ctx: &SecurityContext,
        id: i64,
        status: Option<&str>,
        resource_type: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<TaskView>, i64)> {
        require(ctx, Action::List, runs()).await?;
        self.inner.execution(id).await?;
        let states: Option<Vec<&str>> = status.map(|s| match s {
            "InProgress" => vec!["Running"],
            "Succeed" => vec!["Success"],
            "Failed" => vec!["Error"],
            other => vec![other],
        });
        let all = db::tasks(self.inner.db.reader(), id, ARTIFACT_JOB).await?;
        let matching: Vec<TaskView> = all
            .into_iter()
            .filter_map(|task| {
                let work: Work = serde_json::from_str(&task.params).ok()?;
                Some(TaskView { task, work })
            })
            .filter(|t| {
                states
                    .as_ref()
                    .is_none_or(|s| s.contains(&t.task.status.as_str()))
            })
            .filter(|t| resource_type.is_none_or(|r| t.work.resource_type == r))
            .collect();
        let total = matching.len() as i64;
        let page = (matching.into_iter())
            .skip(offset.max(0) as usize)
            .take(limit.max(0) as usize)
            .collect();
        Ok((page, total))
    }

    /// A task's log.
    pub async fn task_log(
        &self,
        ctx: &SecurityContext,
        id: i64,
        task_id: i64,
    ) -> CoreResult<String> {
        require(ctx, Action::Read, runs()).await?;
        self.inner.execution(id).await?;
        let tasks = db::tasks(self.inner.db.reader(), id, ARTIFACT_JOB).await?;
        if !tasks.iter().any(|t| t.id == task_id) {
            return Err(CoreError::NotFound(format!(
                "execution {id} contains no task with ID {task_id}"
            )));
        }
        self.inner.jobs.task_log(task_id).await
    }
}

impl Inner {
    /// A rule changed here: the event-based ones are read again.
    fn changed(&self) {
        *crate::lock(&self.event_rules) = None;
    }

    /// The event-based rules, as read at most [`EVENT_RULES_FRESH`] ago.
    async fn event_rules(&self, tx: &mut berth_db::Tx) -> Result<EventRules, berth_db::DbError> {
        if let Some((at, rules)) = crate::lock(&self.event_rules).as_ref() {
            if at.elapsed() < EVENT_RULES_FRESH {
                return Ok(rules.clone());
            }
        }
        let rules: EventRules = Arc::new(
            (db::pushing_on_events(&mut **tx).await?)
                .into_iter()
                .filter_map(|p| Some((Filters::parse(&filter_specs(&p)).ok()?, p)))
                .map(|(f, p)| (p, f))
                .collect(),
        );
        *crate::lock(&self.event_rules) = Some((Instant::now(), rules.clone()));
        Ok(rules)
    }

    async fn policy(&self, id: i64) -> CoreResult<Policy> {
        db::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("policy {id} not found")))
    }

    async fn execution(&self, id: i64) -> CoreResult<Execution> {
        berth_db::jobs::execution(self.db.reader(), id)
            .await?
            .filter(|e| e.vendor_type == VENDOR)
            .ok_or_else(|| CoreError::NotFound(format!("replication execution {id} not found")))
    }

    /// A rule as written, checked, with the endpoints it names existing.
    async fn checked(&self, spec: &PolicySpec) -> CoreResult<Policy> {
        let p = spec.checked()?;
        for id in [p.src_registry_id, p.dest_registry_id] {
            if id != 0
                && berth_db::registries::by_id(self.db.reader(), id)
                    .await?
                    .is_none()
            {
                return Err(CoreError::NotFound(format!("registry {id} not found")));
            }
        }
        Ok(p)
    }

    /// Keeps a rule's schedule as it says: runs on its cron while it is
    /// enabled and scheduled, none otherwise.
    async fn schedule(&self, p: &Policy) -> CoreResult<()> {
        let params = plan_params(p.id, None);
        match p.enabled && p.trigger_type == SCHEDULED {
            true => {
                let cron = Some(p.trigger_cron.as_str());
                (self.jobs)
                    .set_schedule_of(VENDOR, p.id, "Custom", cron, &params)
                    .await
            }
            false => {
                self.jobs
                    .set_schedule_of(VENDOR, p.id, "None", None, "")
                    .await
            }
        }
    }

    async fn start(
        &self,
        p: &Policy,
        trigger: &str,
        operator: &str,
        event: Option<EventParams>,
    ) -> CoreResult<i64> {
        if !p.enabled {
            return Err(CoreError::Precondition(format!(
                "the policy {} is disabled",
                p.id
            )));
        }
        let now = now_millis();
        if p.single_active && berth_db::jobs::has_active(self.db.reader(), VENDOR, p.id).await? {
            let message = "Execution skipped: active replication still in progress.";
            let skipped = berth_db::jobs::record_skipped(
                self.db.writer(),
                VENDOR,
                p.id,
                trigger,
                message,
                now,
            );
            return Ok(skipped.await?);
        }
        let attrs = serde_json::json!({ "operator": operator }).to_string();
        let params = plan_params(p.id, event);
        self.jobs
            .enqueue(&NewJob {
                vendor_type: VENDOR,
                vendor_id: p.id,
                trigger,
                extra_attrs: &attrs,
                job_type: PLAN_JOB,
                params: &params,
                max_runs: 3,
            })
            .await
    }

    /// The runs with their tasks counted.
    async fn counted(&self, page: Vec<Execution>) -> CoreResult<Vec<ExecutionView>> {
        let ids: Vec<i64> = page.iter().map(|e| e.id).collect();
        let mut counts: HashMap<i64, HashMap<String, i64>> = HashMap::new();
        for (id, status, n) in db::task_counts(self.db.reader(), &ids, ARTIFACT_JOB).await? {
            counts.entry(id).or_default().insert(status, n);
        }
        Ok((page.into_iter())
            .map(|execution| {
                let c = counts.remove(&execution.id).unwrap_or_default();
                let n = |s: &str| c.get(s).copied().unwrap_or(0);
                ExecutionView {
                    total: c.values().sum(),
                    failed: n("Error"),
                    succeed: n("Success"),
                    in_progress: n("Pending") + n("Running"),
                    stopped: n("Stopped"),
                    execution,
                }
            })
            .collect())
    }

    /// Whom replication acts as here: the first system administrator (as
    /// Harbor's job service acts as its administrator).
    async fn acting_admin(&self) -> Result<SecurityContext, String> {
        let r = self.db.reader();
        let fail = |e: berth_db::DbError| e.to_string();
        let id = (berth_db::users::first_admin(r).await.map_err(fail)?)
            .ok_or("there is no system administrator")?;
        let user = (berth_db::users::by_id(r, id).await.map_err(fail)?)
            .ok_or("there is no system administrator")?;
        let principal = Principal::User {
            id,
            name: user.username,
            sysadmin: true,
        };
        Ok(SecurityContext::new(principal, self.db.clone()))
    }

    /// A client of an endpoint, with its type.
    async fn remote(&self, id: i64) -> Result<(String, Remote), String> {
        let (e, remote) = self
            .registries
            .client(id)
            .await
            .map_err(|e| e.to_string())?;
        Ok((e.kind, remote))
    }

    // ----- the jobs -----

    /// Plans a run: one task per artifact the rule selects.
    async fn plan(&self, job: JobContext) -> JobResult {
        let params: PlanParams = job.params()?;
        let execution = job
            .execution_id()
            .ok_or("a plan runs as a task of its own")?;
        let p = (self.policy(params.policy_id).await).map_err(|e| e.to_string())?;
        let filters = Filters::parse(&filter_specs(&p)).map_err(|e| e.to_string())?;
        let src = match p.src_registry_id {
            0 => None,
            id => Some(self.remote(id).await?),
        };
        let dest = match p.dest_registry_id {
            0 => None,
            id => Some(self.remote(id).await?),
        };
        let candidates = match (&params.event, &src) {
            (Some(e), _) => event_candidates(&filters, e),
            (None, None) => self.local_candidates(&filters).await?,
            (None, Some((_, remote))) => remote_candidates(remote, &filters, &job).await?,
        };
        let only_two = dest.as_ref().is_some_and(|(kind, _)| kind == "docker-hub");
        let resource_type = if src.is_none() { "artifact" } else { "image" };
        let mut works = Vec::new();
        for c in candidates {
            let dst_repo = destination_name(
                &c.repo,
                &p.dest_namespace,
                p.dest_namespace_replace_count,
                only_two,
            )?;
            if c.deletion && !p.replicate_deletion {
                continue;
            }
            works.push(Work {
                policy_id: p.id,
                operation: if c.deletion { "deletion" } else { "copy" }.into(),
                resource_type: resource_type.into(),
                src_repo: c.repo,
                dst_repo,
                digest: c.digest,
                tags: c.tags,
            });
        }
        job.log(format!("{} artifacts to replicate", works.len()));
        if works.is_empty() {
            return Ok(());
        }
        self.prepare_destination(dest.as_ref(), &works, &job)
            .await?;
        let now = now_millis();
        for batch in works.chunks(TASKS_PER_TX) {
            if job.stopping() {
                return Err("stopped".into());
            }
            let params: Vec<String> = (batch.iter())
                .map(|w| serde_json::to_string(w).unwrap_or_default())
                .collect();
            let fail = |e: berth_db::DbError| e.to_string();
            let mut tx = self.db.begin().await.map_err(fail)?;
            berth_db::jobs::add_tasks(
                &mut tx,
                execution,
                ARTIFACT_JOB,
                &params,
                ARTIFACT_RUNS,
                now,
            )
            .await
            .map_err(fail)?;
            berth_db::commit(tx).await.map_err(fail)?;
        }
        self.jobs.wake();
        Ok(())
    }

    /// Every artifact of this registry the filters keep (index children,
    /// referrers and signatures travel with what they belong to).
    async fn local_candidates(&self, filters: &Filters) -> Result<Vec<Candidate>, String> {
        let r = self.db.reader();
        let fail = |e: berth_db::DbError| e.to_string();
        let everything =
            (Filter::default().parse(berth_db::artifacts::FIELDS)).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut last = String::new();
        loop {
            let page = (berth_db::repositories::catalog(r, &last, 1000).await).map_err(fail)?;
            for repo in page.iter().filter(|n| filters.repository(n)) {
                // Deleted since the catalog page was read: nothing to copy.
                let Some(id) = (berth_db::repositories::id_by_name(r, repo).await).map_err(fail)?
                else {
                    continue;
                };
                let within = berth_db::artifacts::Within::Repository(id);
                let artifacts =
                    berth_db::artifacts::list(&self.db, within, &everything, 0, i64::MAX)
                        .await
                        .map_err(fail)?;
                for a in artifacts.into_iter().rev() {
                    let harbor_type = a.described.as_ref().map(|d| d.harbor_type.as_str());
                    if !filters.resource(harbor_type) {
                        continue;
                    }
                    let tags: Vec<String> = a.tags.into_iter().map(|t| t.name).collect();
                    if let Some(tags) = filters.tags(&tags) {
                        out.push(Candidate {
                            repo: repo.clone(),
                            digest: Some(a.digest),
                            tags,
                            deletion: false,
                        });
                    }
                }
            }
            match page.last() {
                Some(l) if page.len() == 1000 => last.clone_from(l),
                _ => return Ok(out),
            }
        }
    }

    /// Creates the projects the destination lacks: here, as the acting
    /// administrator; on a Harbor (or Berth), through its API.
    async fn prepare_destination(
        &self,
        dest: Option<&(String, Remote)>,
        works: &[Work],
        job: &JobContext,
    ) -> Result<(), String> {
        let projects: std::collections::BTreeSet<&str> = (works.iter())
            .filter(|w| w.operation == "copy")
            .filter_map(|w| w.dst_repo.split('/').next())
            .collect();
        match dest {
            None => {
                let admin = self.acting_admin().await?;
                for name in projects {
                    if self
                        .projects
                        .exists(name)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        continue;
                    }
                    match self
                        .projects
                        .create(&admin, name, &BTreeMap::new(), (None, None))
                        .await
                    {
                        Ok(_) => job.log(format!("created project {name}")),
                        Err(CoreError::Conflict(_)) => {}
                        Err(e) => return Err(format!("creating project {name}: {e}")),
                    }
                }
            }
            Some((kind, remote)) if kind == "harbor" => {
                for name in projects {
                    remote.ensure_harbor_project(name).await?;
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Replicates one artifact (or deletes it at the destination); once
    /// it ends for good, tells the webhooks of this registry's project.
    async fn replicate(&self, job: JobContext) -> JobResult {
        let work: Work = job.params()?;
        let p = (self.policy(work.policy_id).await).map_err(|e| e.to_string())?;
        let result = self.carry_out(&job, &work, &p).await;
        if result.is_ok() || job.run >= ARTIFACT_RUNS {
            if let Err(e) = self.tell(&job, &work, &p, result.as_ref().err()).await {
                job.log(format!("telling webhooks: {e}"));
            }
        }
        result
    }

    /// Stages Harbor's `REPLICATION` event of a task that ended (`failed`:
    /// why it failed).
    async fn tell(
        &self,
        job: &JobContext,
        work: &Work,
        p: &Policy,
        failed: Option<&String>,
    ) -> Result<(), String> {
        let fail = |e: berth_db::DbError| e.to_string();
        let r = self.db.reader();
        let execution = match job.execution_id() {
            Some(id) => berth_db::jobs::execution(r, id).await.map_err(fail)?,
            None => None,
        };
        let execution = execution.ok_or("the task's run is gone")?;
        let remote_id = p.src_registry_id.max(p.dest_registry_id);
        let remote = (berth_db::registries::by_id(r, remote_id).await)
            .map_err(fail)?
            .unwrap_or_default();
        let pushing = p.src_registry_id == 0;
        let (local_repo, remote_repo) = match pushing {
            true => (&work.src_repo, &work.dst_repo),
            false => (&work.dst_repo, &work.src_repo),
        };
        let namespace = |repo: &str| repo.split('/').next().unwrap_or_default().to_string();
        let local = serde_json::json!({
            "registry_type": "harbor",
            "endpoint": self.external_url,
            "namespace": namespace(local_repo),
        });
        let other = serde_json::json!({
            "registry_name": remote.name,
            "registry_type": remote.kind,
            "endpoint": remote.url,
            "namespace": namespace(remote_repo),
        });
        let (src, dest) = if pushing {
            (local, other)
        } else {
            (other, local)
        };
        let status = if failed.is_some() { "Error" } else { "Success" };
        let name_tag = work.resource(local_repo);
        let name_tag = name_tag
            .split_once('/')
            .map_or(name_tag.as_str(), |(_, n)| n);
        let mut artifact = serde_json::json!({
            "type": work.resource_type,
            "status": status,
            "name_tag": name_tag,
            "references": if work.tags.is_empty() { work.digest.iter().cloned().collect() } else { work.tags.clone() },
        });
        if let Some(why) = failed {
            artifact["fail_reason"] = why.clone().into();
        }
        let host = (self.external_url.split("://").nth(1).unwrap_or_default())
            .split([':', '/'])
            .next()
            .unwrap_or_default();
        let operator = serde_json::from_str::<serde_json::Value>(&execution.extra_attrs)
            .ok()
            .and_then(|a| a["operator"].as_str().map(String::from))
            .unwrap_or_default();
        let mut data = serde_json::json!({
            "harbor_hostname": host,
            "job_status": status,
            "description": p.description,
            "artifact_type": work.resource_type,
            "authentication_type": remote.credential_type,
            "override_mode": p.override_,
            "trigger_type": execution.trigger,
            "policy_creator": p.creator,
            "execution_timestamp": execution.start_time / 1000,
            "src_resource": src,
            "dest_resource": dest,
            "execution_id": execution.id,
            "task_id": job.task_id().unwrap_or_default(),
        });
        let list = if failed.is_some() {
            "failed_artifact"
        } else {
            "successful_artifact"
        };
        data[list] = serde_json::json!([artifact]);
        let repo = RepositoryName::parse(local_repo).map_err(|e| e.to_string())?;
        let event = Event::Replicated(
            crate::notify::events::Artifact {
                repo,
                digest: work.digest.clone().unwrap_or_default(),
                tags: work.tags.clone(),
                operator,
                at: now_millis(),
            },
            data,
        );
        let mut tx = self.db.begin().await.map_err(fail)?;
        let staged = self.events.stage(&mut tx, event).await.map_err(fail)?;
        berth_db::commit(tx).await.map_err(fail)?;
        staged.committed();
        Ok(())
    }

    /// What a task does: the copy, or the deletion at the destination.
    async fn carry_out(&self, job: &JobContext, work: &Work, p: &Policy) -> JobResult {
        let admin = self.acting_admin().await?;
        let operator = admin.username().to_string();
        let src_remote = match p.src_registry_id {
            0 => None,
            id => Some(self.remote(id).await?.1),
        };
        let dst_remote = match p.dest_registry_id {
            0 => None,
            id => Some(self.remote(id).await?.1),
        };
        let name = |s: &str| RepositoryName::parse(s).map_err(|e| format!("{s}: {e}"));
        let (src_repo, dst_repo) = (name(&work.src_repo)?, name(&work.dst_repo)?);
        let src = Side {
            store: store(src_remote.as_ref(), &self.registry, &operator),
            repo: &src_repo,
        };
        let dst = Side {
            store: store(dst_remote.as_ref(), &self.registry, &operator),
            repo: &dst_repo,
        };
        if work.operation == "deletion" {
            let digest = (work.digest.as_deref())
                .and_then(|d| Digest::parse(d).ok())
                .ok_or("a deletion names its digest")?;
            let deleted = dst.delete_manifest(&digest).await?;
            job.log(match deleted {
                true => format!("deleted {}@{digest}", work.dst_repo),
                false => format!("{}@{digest} was not there", work.dst_repo),
            });
            return Ok(());
        }
        let options = Options {
            overwrite: p.override_,
            rate: (p.speed > 0).then(|| p.speed as u64 * 1024),
            chunk: p.copy_by_chunk.then_some(CHUNK),
        };
        let reference = (work.digest.clone())
            .or_else(|| work.tags.first().cloned())
            .ok_or("nothing names the artifact")?;
        job.log(format!(
            "copying {} to {}",
            work.resource(&work.src_repo),
            work.resource(&work.dst_repo)
        ));
        let c = copy(&src, &dst, &reference, &work.tags, &options).await?;
        job.log(format!(
            "stored {} manifests and {} blobs ({} bytes); {} blobs were there already, {} mounted",
            c.manifests, c.blobs, c.bytes, c.blobs_present, c.blobs_mounted
        ));
        if !c.kept_tags.is_empty() {
            job.log(format!(
                "kept the destination's tags {} (the rule does not override)",
                c.kept_tags.join(", ")
            ));
        }
        Ok(())
    }
}

/// Another registry, or this one writing as `operator`.
fn store<'a>(remote: Option<&'a Remote>, registry: &'a Registry, operator: &'a str) -> Store<'a> {
    match remote {
        Some(r) => Store::Remote(r),
        None => Store::Local { registry, operator },
    }
}

impl Outbox for Inner {
    fn enqueue<'a>(
        &'a self,
        tx: &'a mut berth_db::Tx,
        e: &'a Event,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<Enqueued>, berth_db::DbError>> {
        Box::pin(async move {
            let (a, deleted) = match e {
                Event::ArtifactPushed(a) => (a, false),
                Event::ArtifactDeleted(a) => (a, true),
                _ => return Ok(None),
            };
            let rules = self.event_rules(tx).await?;
            let mut jobs = self.jobs.batch();
            let mut any = false;
            let now = now_millis();
            for (p, filters) in rules.iter() {
                let event = EventParams {
                    repo: a.repo.to_string(),
                    digest: a.digest.clone(),
                    tags: a.tags.clone(),
                    deleted,
                };
                if (deleted && !p.replicate_deletion)
                    || event_candidates(filters, &event).is_empty()
                {
                    continue;
                }
                let attrs = serde_json::json!({ "operator": a.operator }).to_string();
                let params = plan_params(p.id, Some(event));
                let job = NewJob {
                    vendor_type: VENDOR,
                    vendor_id: p.id,
                    trigger: "EVENT",
                    extra_attrs: &attrs,
                    job_type: PLAN_JOB,
                    params: &params,
                    max_runs: 3,
                };
                jobs.add_task(tx, &job, now).await?;
                any = true;
            }
            Ok(any.then_some(jobs))
        })
    }
}

fn plan_params(policy_id: i64, event: Option<EventParams>) -> String {
    serde_json::to_string(&PlanParams { policy_id, event }).unwrap_or_default()
}

/// The artifact an event is about, if the filters keep it.
fn event_candidates(filters: &Filters, e: &EventParams) -> Vec<Candidate> {
    if !filters.repository(&e.repo) {
        return Vec::new();
    }
    let Some(tags) = filters.tags(&e.tags) else {
        return Vec::new();
    };
    vec![Candidate {
        repo: e.repo.clone(),
        digest: Some(e.digest.clone()),
        // A deletion removes the artifact, whatever its tags.
        tags: if e.deleted { Vec::new() } else { tags },
        deletion: e.deleted,
    }]
}

/// The tagged artifacts of another registry the filters keep: the
/// repositories the name filter names (or its catalog's that match), each
/// tag the tag filters keep, grouped by the digest it names.
async fn remote_candidates(
    remote: &Remote,
    filters: &Filters,
    job: &JobContext,
) -> Result<Vec<Candidate>, String> {
    let names = match filters.exact_names() {
        Some(names) => names,
        None => (remote.catalog().await?)
            .into_iter()
            .filter(|n| filters.repository(n))
            .collect(),
    };
    let mut out = Vec::new();
    for name in names {
        let repo = RepositoryName::parse(&name).map_err(|e| format!("{name}: {e}"))?;
        let tags = match remote.tags(&repo).await {
            Ok(tags) => tags,
            Err(e) => {
                job.log(format!("skipping {name}: {e}"));
                continue;
            }
        };
        let mut by_digest: Vec<(String, Vec<String>)> = Vec::new();
        for tag in tags {
            if filters.tags(std::slice::from_ref(&tag)).is_none() {
                continue;
            }
            let Some(digest) = remote.manifest_digest(&repo, &tag).await? else {
                continue;
            };
            match by_digest.iter_mut().find(|(d, _)| *d == digest) {
                Some((_, tags)) => tags.push(tag),
                None => by_digest.push((digest, vec![tag])),
            }
        }
        out.extend(by_digest.into_iter().map(|(digest, tags)| Candidate {
            repo: name.clone(),
            digest: Some(digest),
            tags,
            deletion: false,
        }));
    }
    Ok(out)
}
