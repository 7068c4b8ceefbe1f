//! Tag retention (Harbor's `/retentions`): one policy per project, whose
//! rules say which artifacts of a repository to keep — the most recently
//! pushed or pulled so many, those pushed or pulled within so many days,
//! or all — among those their tag selectors pick, in the repositories
//! their repository selectors pick. Rules are OR-ed; in a repository some
//! rule applies to, every artifact no rule keeps is deleted, through the
//! registry's own delete path (events, audit, webhooks, quotas), except
//! what tag immutability protects. A run is an execution: a plan task that
//! adds one task per repository, as Harbor's job service runs them; a dry
//! run deletes nothing and logs what would go.

use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Kind, Resource};
use crate::jobs::{JobContext, JobResult, Jobs};
use crate::notify::events::{Artifact, Event, Events};
use crate::policy::immutability;
use crate::project::Projects;
pub use crate::selector::Rule;
use crate::selector::{On, Selector};
use crate::Registry;
use berth_db::jobs::{self as jobrows, Execution, NewJob, Task};
use berth_db::retention::{self as rows, Candidate};
use berth_db::{now_millis, Db};
use berth_oci::{Digest, Reference, RepositoryName};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Harbor's vendor type of a run, and the job type of its plan.
pub const VENDOR: &str = "RETENTION";
/// The job type of a repository's task.
const REPOSITORY_JOB: &str = "RETENTION_REPOSITORY";
/// Harbor's limit on a policy's rules.
const MAX_RULES: usize = 15;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Harbor's `RetentionPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionPolicy {
    pub id: i64,
    pub algorithm: String,
    pub rules: Vec<Rule>,
    pub trigger: Trigger,
    pub scope: Scope,
}

/// When a policy runs by itself: `kind` `Schedule` with a `cron` setting
/// (none or empty: only when asked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Trigger {
    pub kind: String,
    pub settings: BTreeMap<String, Value>,
    pub references: BTreeMap<String, Value>,
}

/// What a policy is of: `project` and its id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scope {
    pub level: String,
    #[serde(rename = "ref")]
    pub reference: i64,
}

impl Trigger {
    /// The schedule's cron, if it has one.
    fn cron(&self) -> Option<&str> {
        (self.settings.get("cron"))
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
    }
}

/// A rule's templates: Harbor's id, its parameter's unit, and how the
/// portal says it.
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "latestPushedK",
        "COUNT",
        "the most recently pushed # artifacts",
    ),
    (
        "latestPulledN",
        "COUNT",
        "the most recently pulled # artifacts",
    ),
    (
        "nDaysSinceLastPush",
        "DAYS",
        "pushed within the last # days",
    ),
    (
        "nDaysSinceLastPull",
        "DAYS",
        "pulled within the last # days",
    ),
    ("always", "", "always"),
];

/// Harbor's `/retentions/metadatas`: the templates and selectors rules use.
pub fn metadata() -> Value {
    let templates: Vec<Value> = (TEMPLATES.iter())
        .map(|(id, unit, text)| {
            let params: Vec<Value> = match *unit {
                "" => Vec::new(),
                unit => vec![json!({"type": "int", "unit": unit, "required": true})],
            };
            json!({"rule_template": id, "display_text": text, "action": "retain", "params": params})
        })
        .collect();
    json!({
        "templates": templates,
        "scope_selectors": [{"display_text": "Repositories", "kind": "doublestar",
            "decorations": ["repoMatches", "repoExcludes"]}],
        "tag_selectors": [{"display_text": "Tags", "kind": "doublestar",
            "decorations": ["matches", "excludes"]}],
    })
}

/// A rule's count or number of days.
pub fn parameter(rule: &Rule) -> Option<i64> {
    let v = rule.params.get(&rule.template)?;
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str()?.trim().parse().ok())
}

/// Checks a rule as Harbor's validators do.
fn check_rule(rule: &Rule) -> CoreResult<()> {
    let bad = |m: String| Err(CoreError::BadRequest(m));
    let Some((_, unit, _)) = TEMPLATES.iter().find(|(id, ..)| *id == rule.template) else {
        return bad(format!(
            "rule evaluator {} is not registered",
            rule.template
        ));
    };
    if !unit.is_empty() && parameter(rule).is_none_or(|n| n <= 0) {
        return bad(format!(
            "{} requires a parameter {} greater than 0",
            rule.template, rule.template
        ));
    }
    if !rule.action.is_empty() && rule.action != "retain" {
        return bad(format!(
            "action {} is not supported: retain is",
            rule.action
        ));
    }
    if rule.tag_selectors.is_empty() {
        return bad("a rule needs a tag selector".into());
    }
    for s in &rule.tag_selectors {
        s.check(On::Tag)?;
        if !s.extras.is_empty() && serde_json::from_str::<Value>(&s.extras).is_err() {
            return bad(format!("selector extras {:?} are not JSON", s.extras));
        }
    }
    let repos = rule.scope_selectors.get("repository");
    if repos.is_none_or(|r| r.is_empty()) {
        return bad("a rule needs a repository selector".into());
    }
    for s in repos.into_iter().flatten() {
        s.check(On::Repository)?;
    }
    Ok(())
}

/// Whether a tag selector picks an artifact, as Harbor's doublestar
/// selector does: `matches` picks one with a tag it matches (an untagged
/// one when `extras` says `{"untagged":true}`), `excludes` one with a tag
/// it does not match (an untagged one unless `untagged` is true).
fn picks(s: &Selector, c: &Candidate) -> bool {
    let untagged = serde_json::from_str::<Value>(&s.extras)
        .ok()
        .and_then(|v| v["untagged"].as_bool())
        .unwrap_or(false);
    let matches = s.decoration == "matches";
    if c.tags.is_empty() {
        return untagged == matches;
    }
    // `selects` already applies the decoration to one name.
    c.tags.iter().any(|t| s.selects(On::Tag, t))
}

/// Whether every repository selector of the rule picks `repo` (its name
/// in the project).
fn applies(rule: &Rule, repo: &str) -> bool {
    !rule.disabled
        && (rule.scope_selectors.get("repository"))
            .is_some_and(|all| all.iter().all(|s| s.selects(On::Repository, repo)))
}

/// What one rule keeps of a repository's candidates (Harbor's evaluators).
fn keeps<'a>(rule: &Rule, candidates: &'a [Candidate], now: i64) -> Vec<&'a Candidate> {
    let mut picked: Vec<&Candidate> = (candidates.iter())
        .filter(|c| rule.tag_selectors.iter().all(|s| picks(s, c)))
        .collect();
    let n = parameter(rule).unwrap_or(0);
    match rule.template.as_str() {
        "latestPushedK" => {
            picked.sort_by_key(|c| std::cmp::Reverse(c.pushed));
            picked.truncate(n.max(0) as usize);
        }
        "latestPulledN" => {
            picked.sort_by_key(|c| std::cmp::Reverse(c.pulled));
            picked.truncate(n.max(0) as usize);
        }
        "nDaysSinceLastPush" => picked.retain(|c| c.pushed >= now - n * DAY_MS),
        "nDaysSinceLastPull" => picked.retain(|c| c.pulled >= now - n * DAY_MS),
        "always" => {}
        _ => picked.clear(),
    }
    picked
}

/// The digests the rules keep of a repository's candidates.
pub fn retained(rules: &[&Rule], candidates: &[Candidate], now: i64) -> HashSet<String> {
    (rules.iter())
        .flat_map(|r| keeps(r, candidates, now))
        .map(|c| c.digest.clone())
        .collect()
}

/// A run as the API shows it.
#[derive(Debug, Clone)]
pub struct ExecutionView {
    pub execution: Execution,
    pub dry_run: bool,
}

/// A repository's task as the API shows it.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: Task,
    pub repository: String,
    pub total: i64,
    pub retained: i64,
}

/// What a plan is given.
#[derive(Debug, Serialize, Deserialize)]
struct PlanParams {
    policy_id: i64,
    #[serde(default)]
    dry_run: bool,
}

/// What a repository's task is given.
#[derive(Debug, Serialize, Deserialize)]
struct RepositoryParams {
    policy_id: i64,
    repository: String,
    dry_run: bool,
    operator: String,
}

struct Inner {
    db: Db,
    jobs: Jobs,
    projects: Projects,
    registry: Arc<Registry>,
    events: Events,
    /// This registry's host, for webhook payloads.
    hostname: String,
}

/// The retention service.
#[derive(Clone)]
pub struct Retention {
    inner: Arc<Inner>,
}

fn not_found(id: i64) -> CoreError {
    CoreError::NotFound(format!("retention policy {id} not found"))
}

impl Retention {
    /// The service; registers its jobs with `jobs`; deletes go through
    /// `registry`, webhooks through `events`; `external_url` names this
    /// registry in payloads.
    pub fn new(
        db: Db,
        jobs: Jobs,
        projects: Projects,
        (registry, events): (Arc<Registry>, Events),
        external_url: &str,
    ) -> Self {
        let host = external_url
            .split_once("://")
            .map_or(external_url, |(_, h)| h);
        let inner = Arc::new(Inner {
            db,
            jobs: jobs.clone(),
            projects,
            registry,
            events,
            hostname: host.split(':').next().unwrap_or(host).to_string(),
        });
        jobs.register_on(
            VENDOR,
            inner.clone(),
            |i, ctx| async move { i.plan(ctx).await },
        );
        jobs.register_on(REPOSITORY_JOB, inner.clone(), |i, ctx| async move {
            i.repository(ctx).await
        });
        Retention { inner }
    }

    async fn require(&self, ctx: &SecurityContext, project: i64, action: Action) -> CoreResult<()> {
        let p = self.inner.projects.lookup_id(project).await?;
        require(ctx, action, Resource::Project(p, Kind::TagRetention)).await
    }

    /// A policy and its project's id, checked against `ctx` for `action`.
    async fn policy(
        &self,
        ctx: &SecurityContext,
        id: i64,
        action: Action,
    ) -> CoreResult<RetentionPolicy> {
        let row = (rows::by_id(self.inner.db.reader(), id).await?).ok_or_else(|| not_found(id))?;
        self.require(ctx, row.project_id, action).await?;
        parsed(&row)
    }

    /// Makes a project's policy (`scope.ref` names the project); its id.
    pub async fn create(&self, ctx: &SecurityContext, policy: &RetentionPolicy) -> CoreResult<i64> {
        let project = checked(policy)?;
        let p = (self.inner.projects.lookup_id(project).await)
            .map_err(|_| CoreError::BadRequest(format!("invalid Project id {project}")))?;
        require(
            ctx,
            Action::Create,
            Resource::Project(p, Kind::TagRetention),
        )
        .await?;
        let now = now_millis();
        let mut tx = self.inner.db.begin().await?;
        let meta = berth_db::projects::metadata(&mut *tx, project).await?;
        if let Some((_, old)) = meta.iter().find(|(k, _)| k == "retention_id") {
            return Err(CoreError::BadRequest(format!(
                "project {project} already has retention policy {old}"
            )));
        }
        let id = rows::insert(&mut *tx, project, &stored(policy)?, now).await?;
        berth_db::projects::set_metadata(&mut *tx, project, "retention_id", &id.to_string())
            .await?;
        berth_db::commit(tx).await?;
        self.schedule(id, policy).await?;
        Ok(id)
    }

    /// One policy.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<RetentionPolicy> {
        self.policy(ctx, id, Action::Read).await
    }

    /// Replaces a policy's rules and trigger (its project stays).
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        policy: &RetentionPolicy,
    ) -> CoreResult<()> {
        let old = self.policy(ctx, id, Action::Update).await?;
        if checked(policy)? != old.scope.reference {
            return Err(CoreError::BadRequest(
                "a policy stays with its project".into(),
            ));
        }
        if !rows::update(self.inner.db.writer(), id, &stored(policy)?, now_millis()).await? {
            return Err(not_found(id));
        }
        self.schedule(id, policy).await
    }

    /// Deletes a policy (its runs' history stays).
    pub async fn delete(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        let old = self.policy(ctx, id, Action::Delete).await?;
        let mut tx = self.inner.db.begin().await?;
        rows::delete(&mut *tx, id).await?;
        berth_db::projects::delete_metadata(&mut *tx, old.scope.reference, "retention_id").await?;
        berth_db::commit(tx).await?;
        (self.inner.jobs)
            .set_schedule_of(VENDOR, id, "None", None, "")
            .await
    }

    async fn schedule(&self, id: i64, policy: &RetentionPolicy) -> CoreResult<()> {
        let params = serde_json::to_string(&PlanParams {
            policy_id: id,
            dry_run: false,
        })
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        let jobs = &self.inner.jobs;
        match policy.trigger.cron() {
            Some(cron) => (jobs.set_schedule_of(VENDOR, id, "Custom", Some(cron), &params)).await,
            None => jobs.set_schedule_of(VENDOR, id, "None", None, "").await,
        }
    }

    /// Starts a run (a dry run deletes nothing); its execution id.
    pub async fn run(&self, ctx: &SecurityContext, id: i64, dry_run: bool) -> CoreResult<i64> {
        self.policy(ctx, id, Action::Update).await?;
        let params = json!({"policy_id": id, "dry_run": dry_run});
        let attrs = json!({"parameters": params, "operator": ctx.username()}).to_string();
        self.inner
            .jobs
            .enqueue(&NewJob {
                vendor_type: VENDOR,
                vendor_id: id,
                trigger: "MANUAL",
                extra_attrs: &attrs,
                job_type: VENDOR,
                params: &params.to_string(),
                max_runs: 3,
            })
            .await
    }

    /// A page of a policy's runs, newest first, and how many there are.
    pub async fn executions(
        &self,
        ctx: &SecurityContext,
        id: i64,
        (offset, limit): (i64, i64),
    ) -> CoreResult<(Vec<ExecutionView>, i64)> {
        self.policy(ctx, id, Action::List).await?;
        let (page, total) =
            jobrows::executions(&self.inner.db, VENDOR, Some(id), offset, limit).await?;
        let views = (page.into_iter())
            .map(|execution| {
                let attrs: Value = serde_json::from_str(&execution.extra_attrs).unwrap_or_default();
                let dry_run = attrs["parameters"]["dry_run"].as_bool().unwrap_or(false);
                ExecutionView { execution, dry_run }
            })
            .collect();
        Ok((views, total))
    }

    /// A run of the policy.
    async fn execution(&self, id: i64, eid: i64) -> CoreResult<Execution> {
        jobrows::execution(self.inner.db.reader(), eid)
            .await?
            .filter(|e| e.vendor_type == VENDOR && e.vendor_id == id)
            .ok_or_else(|| CoreError::NotFound(format!("retention execution {eid} not found")))
    }

    /// Stops a run: its tasks that have not ended (`action` must be `stop`).
    pub async fn operate(
        &self,
        ctx: &SecurityContext,
        (id, eid): (i64, i64),
        action: &str,
    ) -> CoreResult<()> {
        if action != "stop" {
            return Err(CoreError::BadRequest("action should be 'stop'".into()));
        }
        self.policy(ctx, id, Action::Update).await?;
        self.execution(id, eid).await?;
        self.inner.jobs.stop_execution(eid).await
    }

    /// A page of a run's repository tasks, and how many there are.
    pub async fn tasks(
        &self,
        ctx: &SecurityContext,
        (id, eid): (i64, i64),
        (offset, limit): (i64, i64),
    ) -> CoreResult<(Vec<TaskView>, i64)> {
        self.policy(ctx, id, Action::List).await?;
        self.execution(id, eid).await?;
        let r = self.inner.db.reader();
        let found: BTreeMap<String, (i64, i64)> = (rows::tasks(r, eid).await?.into_iter())
            .map(|(repo, total, retained)| (repo, (total, retained)))
            .collect();
        let all: Vec<TaskView> = (jobrows::tasks_of(r, eid).await?.into_iter())
            .filter(|t| t.job_type == REPOSITORY_JOB)
            .filter_map(|task| {
                let p: RepositoryParams = serde_json::from_str(&task.params).ok()?;
                let (total, retained) = found.get(&p.repository).copied().unwrap_or_default();
                Some(TaskView {
                    task,
                    repository: p.repository,
                    total,
                    retained,
                })
            })
            .collect();
        let total = all.len() as i64;
        let page = (all.into_iter())
            .skip(offset.max(0) as usize)
            .take(limit.max(0) as usize)
            .collect();
        Ok((page, total))
    }

    /// A repository task's log.
    pub async fn task_log(
        &self,
        ctx: &SecurityContext,
        (id, eid): (i64, i64),
        task_id: i64,
    ) -> CoreResult<String> {
        self.policy(ctx, id, Action::Read).await?;
        self.execution(id, eid).await?;
        let tasks = jobrows::tasks_of(self.inner.db.reader(), eid).await?;
        if !tasks.iter().any(|t| t.id == task_id) {
            return Err(CoreError::NotFound(format!(
                "execution {eid} contains no task with ID {task_id}"
            )));
        }
        self.inner.jobs.task_log(task_id).await
    }
}

/// Checks a policy; the id of its project.
fn checked(policy: &RetentionPolicy) -> CoreResult<i64> {
    let bad = |m: String| Err(CoreError::BadRequest(m));
    if !policy.algorithm.is_empty() && policy.algorithm != "or" {
        return bad(format!(
            "algorithm {} is not supported: or is",
            policy.algorithm
        ));
    }
    if policy.rules.len() > MAX_RULES {
        return bad(format!("only {MAX_RULES} rules are allowed at most"));
    }
    if policy.scope.level != "project" {
        return bad(format!("scope {} is not support", policy.scope.level));
    }
    let mut seen = BTreeMap::new();
    for (n, rule) in policy.rules.iter().enumerate() {
        check_rule(rule)?;
        let same = serde_json::to_string(&Rule {
            id: 0,
            ..rule.clone()
        })
        .unwrap_or_default();
        if let Some(old) = seen.insert(same, n) {
            return Err(CoreError::Conflict(format!(
                "rule {n} is conflict with rule {old}"
            )));
        }
    }
    if let Some(cron) = policy.trigger.cron() {
        crate::jobs::cron_for("Custom", Some(cron))?;
    }
    Ok(policy.scope.reference)
}

/// A policy as stored: its rules numbered, Harbor's defaults filled in.
fn stored(policy: &RetentionPolicy) -> CoreResult<String> {
    let mut p = policy.clone();
    p.algorithm = "or".into();
    p.trigger.kind = "Schedule".into();
    for (n, rule) in p.rules.iter_mut().enumerate() {
        rule.id = n as i64 + 1;
        rule.action = "retain".into();
    }
    serde_json::to_string(&p).map_err(|e| CoreError::Internal(e.to_string()))
}

fn parsed(row: &rows::PolicyRow) -> CoreResult<RetentionPolicy> {
    let mut p: RetentionPolicy =
        serde_json::from_str(&row.policy).map_err(|e| CoreError::Internal(e.to_string()))?;
    p.id = row.id;
    p.scope = Scope {
        level: "project".into(),
        reference: row.project_id,
    };
    Ok(p)
}

impl Inner {
    /// Plans a run: a task for each repository some rule applies to.
    async fn plan(&self, job: JobContext) -> JobResult {
        let params: PlanParams = job.params()?;
        let fail = |e: berth_db::DbError| e.to_string();
        let execution = job
            .execution_id()
            .ok_or("a plan runs as a task of its own")?;
        let r = self.db.reader();
        // A plan run again after its commit (its process died before the
        // run was recorded) has nothing left to do.
        if !rows::tasks(r, execution).await.map_err(fail)?.is_empty() {
            job.log("planned already");
            return Ok(());
        }
        let row = (rows::by_id(r, params.policy_id).await.map_err(fail)?)
            .ok_or("the policy was deleted")?;
        let policy = parsed(&row).map_err(|e| e.to_string())?;
        let project = (self.projects.name_of(row.project_id).await)
            .map_err(|e| e.to_string())?
            .ok_or("the project was deleted")?;
        let exec =
            (jobrows::execution(r, execution).await.map_err(fail)?).ok_or("the run was deleted")?;
        let attrs: Value = serde_json::from_str(&exec.extra_attrs).unwrap_or_default();
        let operator = attrs["operator"]
            .as_str()
            .unwrap_or("retention")
            .to_string();
        let mut planned = Vec::new();
        for repo in rows::repositories(r, &project).await.map_err(fail)? {
            let name = repo.split_once('/').map_or("", |(_, n)| n);
            if policy.rules.iter().any(|rule| applies(rule, name)) {
                planned.push(repo);
            }
        }
        job.log(format!(
            "{} repositories of {project} to weigh{}",
            planned.len(),
            if params.dry_run { " (dry run)" } else { "" }
        ));
        let tasks: Vec<String> = (planned.iter())
            .map(|repository| {
                serde_json::to_string(&RepositoryParams {
                    policy_id: params.policy_id,
                    repository: repository.clone(),
                    dry_run: params.dry_run,
                    operator: operator.clone(),
                })
                .unwrap_or_default()
            })
            .collect();
        let mut tx = self.db.begin().await.map_err(fail)?;
        for repository in &planned {
            rows::add_task(&mut *tx, execution, repository)
                .await
                .map_err(fail)?;
        }
        jobrows::add_tasks(&mut tx, execution, REPOSITORY_JOB, &tasks, 3, now_millis())
            .await
            .map_err(fail)?;
        berth_db::commit(tx).await.map_err(fail)?;
        self.jobs.wake();
        Ok(())
    }

    /// Weighs a repository's artifacts and deletes what no rule keeps.
    async fn repository(&self, job: JobContext) -> JobResult {
        let params: RepositoryParams = job.params()?;
        let fail = |e: berth_db::DbError| e.to_string();
        let execution = job.execution_id().ok_or("a task of a run")?;
        let r = self.db.reader();
        let row = (rows::by_id(r, params.policy_id).await.map_err(fail)?)
            .ok_or("the policy was deleted")?;
        let policy = parsed(&row).map_err(|e| e.to_string())?;
        let repo = RepositoryName::parse(&params.repository).map_err(|e| e.to_string())?;
        let name = params.repository.split_once('/').map_or("", |(_, n)| n);
        let rules: Vec<&Rule> = policy.rules.iter().filter(|r| applies(r, name)).collect();
        let candidates = rows::candidates(r, &params.repository)
            .await
            .map_err(fail)?;
        let keep = retained(&rules, &candidates, now_millis());
        let protected = immutability::parsed(
            &(berth_db::immutable::enabled_in(r, repo.project()).await).map_err(fail)?,
        );
        let mut deleted = Vec::new();
        for c in &candidates {
            let tags = c.tags.join(",");
            let said = format!("{}@{} tags [{tags}]", params.repository, c.digest);
            if keep.contains(&c.digest) {
                job.log(format!("RETAIN {said}"));
                continue;
            }
            if c.tags
                .iter()
                .any(|t| immutability::protected(&protected, &repo, t))
            {
                job.log(format!("IMMUTABLE {said}: kept"));
                continue;
            }
            if params.dry_run {
                job.log(format!("DELETE {said} (dry run: kept)"));
                deleted.push(c);
                continue;
            }
            if job.stopping() {
                return Err("stopped".into());
            }
            let digest = Digest::parse(&c.digest).map_err(|e| e.to_string())?;
            let reference = Reference::Digest(digest);
            match (self.registry)
                .delete_manifest(&repo, &reference, &params.operator)
                .await
            {
                Ok(()) => {
                    job.log(format!("DELETE {said}"));
                    deleted.push(c);
                }
                Err(e) if e.is_unknown() => job.log(format!("GONE {said}: deleted meanwhile")),
                Err(e) => job.log(format!("KEPT {said}: {e}")),
            }
        }
        let total = candidates.len() as i64;
        let retained = total - deleted.len() as i64;
        job.log(format!(
            "{total} artifacts weighed, {retained} retained, {} {}",
            deleted.len(),
            if params.dry_run {
                "would be deleted"
            } else {
                "deleted"
            }
        ));
        let at = (execution, params.repository.as_str());
        (rows::finish_task(self.db.writer(), at, total, retained).await).map_err(fail)?;
        if !params.dry_run && !deleted.is_empty() {
            let project = repo.project();
            let deleted_artifact: Vec<Value> = (deleted.iter())
                .map(|c| {
                    let name_tag = match c.tags.first() {
                        Some(t) => format!("{name}:{t}"),
                        None => format!("{name}@{}", c.digest),
                    };
                    json!({"type": "image", "status": "SUCCESS", "name_tag": name_tag})
                })
                .collect();
            let account = json!({
                "total": total,
                "retained": retained,
                "harbor_hostname": self.hostname,
                "project_name": project,
                "retention_policy_id": policy.id,
                "retention_rule": (policy.rules.iter()).map(|r| json!({
                    "template": r.template, "params": r.params,
                    "tag_selectors": r.tag_selectors, "scope_selectors": r.scope_selectors,
                })).collect::<Vec<_>>(),
                "result": "SUCCESS",
                "deleted_artifact": deleted_artifact,
            });
            let about = Artifact {
                repo: repo.clone(),
                digest: String::new(),
                tags: Vec::new(),
                operator: params.operator.clone(),
                at: now_millis(),
            };
            self.events.publish(Event::Retained(about, account));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(digest: &str, tags: &[&str], pushed: i64, pulled: i64) -> Candidate {
        Candidate {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed,
            pulled,
        }
    }

    fn rule(template: &str, n: i64, tags: &str, extras: &str) -> Rule {
        let sel = |decoration: &str, pattern: &str| Selector {
            kind: "doublestar".into(),
            decoration: decoration.into(),
            pattern: pattern.into(),
            extras: extras.into(),
        };
        Rule {
            template: template.into(),
            params: BTreeMap::from([(template.to_string(), json!(n))]),
            tag_selectors: vec![sel("matches", tags)],
            scope_selectors: BTreeMap::from([(
                "repository".into(),
                vec![sel("repoMatches", "**")],
            )]),
            ..Rule::default()
        }
    }

    #[test]
    fn templates_keep_what_harbor_keeps() {
        let now = 100 * DAY_MS;
        let all = [
            candidate("a", &["v1"], now - 10 * DAY_MS, now - DAY_MS),
            candidate("b", &["v2"], now - 5 * DAY_MS, 0),
            candidate("c", &["dev"], now - DAY_MS, now - 20 * DAY_MS),
            candidate("d", &[], now, 0),
        ];
        let kept = |r: Rule| {
            let mut v: Vec<String> = retained(&[&r], &all, now).into_iter().collect();
            v.sort();
            v
        };
        assert_eq!(kept(rule("latestPushedK", 2, "**", "")), ["b", "c"]);
        assert_eq!(
            kept(rule("latestPushedK", 2, "**", r#"{"untagged":true}"#)),
            ["c", "d"]
        );
        assert_eq!(kept(rule("latestPulledN", 1, "v*", "")), ["a"]);
        assert_eq!(kept(rule("nDaysSinceLastPush", 6, "**", "")), ["b", "c"]);
        assert_eq!(kept(rule("nDaysSinceLastPull", 2, "**", "")), ["a"]);
        assert_eq!(kept(rule("always", 0, "v*", "")), ["a", "b"]);
        let mut excluding = rule("always", 0, "v*", "");
        excluding.tag_selectors[0].decoration = "excludes".into();
        assert_eq!(kept(excluding), ["c", "d"]);
    }

    #[test]
    fn policies_are_checked_as_harbor_checks_them() {
        let ok = RetentionPolicy {
            rules: vec![rule("latestPushedK", 3, "**", "")],
            scope: Scope {
                level: "project".into(),
                reference: 7,
            },
            ..RetentionPolicy::default()
        };
        assert_eq!(checked(&ok).unwrap(), 7);
        let mut twice = ok.clone();
        twice.rules.push(ok.rules[0].clone());
        assert!(matches!(checked(&twice), Err(CoreError::Conflict(_))));
        let mut zero = ok.clone();
        zero.rules[0] = rule("latestPushedK", 0, "**", "");
        assert!(checked(&zero).is_err());
        let mut unknown = ok.clone();
        unknown.rules[0].template = "nothing".into();
        assert!(checked(&unknown).is_err());
        let mut system = ok;
        system.scope.level = "system".into();
        assert!(checked(&system).is_err());
    }
}
