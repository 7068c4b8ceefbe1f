//! Webhooks: a project's policies send artifact events to HTTP or Slack
//! targets. Each delivery is a job (3 runs, 3 s timeout): for pushes and
//! deletes it is enqueued in the change's own transaction (an outbox on the
//! event bus), for pulls, quota and retention events by a stateful subscriber that
//! enqueues whatever came meanwhile in one transaction. The payload is fixed when the
//! job is enqueued, so every retry sends the same bytes.

use crate::configurations::Configurations;
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{Action, Kind};
use crate::jobs::{Enqueued, JobContext, JobResult, JobSpec, Jobs};
use crate::notify::events::{Event, Events, Outbox, Subscriber};
use crate::project::Projects;
use berth_db::jobs::{self as jobrows, Execution, Task};
use berth_db::webhooks::{self as rows};
use berth_db::{now_millis, Db, DbError, Tx};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Harbor's vendor and job type for a delivery.
pub const VENDOR: &str = "WEBHOOK";

/// The event types a policy may subscribe to (Harbor's ten).
pub const EVENT_TYPES: &[&str] = &[
    "PUSH_ARTIFACT",
    "PULL_ARTIFACT",
    "DELETE_ARTIFACT",
    "QUOTA_EXCEED",
    "QUOTA_WARNING",
    "SCANNING_FAILED",
    "SCANNING_STOPPED",
    "SCANNING_COMPLETED",
    "REPLICATION",
    "TAG_RETENTION",
];

/// Runs per delivery (the first and two retries).
const DELIVERY_RUNS: i64 = 3;
/// How long a target has to answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// How long a process trusts what it read of a project's policies.
const CACHE_FOR: Duration = Duration::from_secs(2);

/// Where and how events are sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// `http` or `slack`.
    #[serde(rename = "type", default = "http")]
    pub kind: String,
    pub address: String,
    /// Sent as the `Authorization` header.
    #[serde(default)]
    pub auth_header: String,
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// `Default` or `CloudEvents`.
    #[serde(default = "default_format")]
    pub payload_format: String,
}

fn http() -> String {
    "http".into()
}

fn default_format() -> String {
    "Default".into()
}

/// A policy to create, or its new settings.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<Target>,
}

fn yes() -> bool {
    true
}

/// A policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<Target>,
    pub creator: String,
    pub creation_time: i64,
    pub update_time: i64,
}

impl Policy {
    fn from_row(r: rows::Policy) -> Policy {
        Policy {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            description: r.description,
            enabled: r.enabled,
            event_types: serde_json::from_str(&r.event_types).unwrap_or_default(),
            targets: serde_json::from_str(&r.targets).unwrap_or_default(),
            creator: r.creator,
            creation_time: r.creation_time,
            update_time: r.update_time,
        }
    }
}

/// What a project's policies need to know of it.
#[derive(Clone)]
struct Scope {
    project_id: i64,
    public: bool,
    policies: Vec<Policy>,
}

struct Inner {
    db: Db,
    jobs: Jobs,
    /// `notification_enable` switches every policy off at once.
    configurations: Configurations,
    /// `host[:port]` of the external URL, for `resource_url`.
    host: String,
    cache: Mutex<HashMap<String, (Instant, Option<Scope>)>>,
}

/// The webhook service.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
    projects: Projects,
}

impl Webhooks {
    /// The service; registers the delivery job with `jobs`.
    pub fn new(
        db: Db,
        jobs: Jobs,
        projects: Projects,
        configurations: Configurations,
        external_url: &str,
    ) -> Self {
        jobs.register(VENDOR, deliver);
        let host = external_url
            .split_once("://")
            .map_or(external_url, |(_, h)| h)
            .trim_end_matches('/')
            .to_string();
        Webhooks {
            inner: Arc::new(Inner {
                db,
                jobs,
                configurations,
                host,
                cache: Mutex::new(HashMap::new()),
            }),
            projects,
        }
    }

    async fn check(&self, ctx: &SecurityContext, project: &str, action: Action) -> CoreResult<i64> {
        Ok(self
            .projects
            .require_in(ctx, project, action, Kind::NotificationPolicy)
            .await?
            .id)
    }

    fn forget(&self, project: &str) {
        crate::lock(&self.inner.cache).remove(project);
    }

    /// A project's policies.
    pub async fn list(&self, ctx: &SecurityContext, project: &str) -> CoreResult<Vec<Policy>> {
        let id = self.check(ctx, project, Action::List).await?;
        Ok(rows::of_project(self.inner.db.reader(), id)
            .await?
            .into_iter()
            .map(Policy::from_row)
            .collect())
    }

    /// One policy.
    pub async fn get(&self, ctx: &SecurityContext, project: &str, id: i64) -> CoreResult<Policy> {
        let pid = self.check(ctx, project, Action::Read).await?;
        self.policy(pid, id).await
    }

    async fn policy(&self, project_id: i64, id: i64) -> CoreResult<Policy> {
        rows::get(self.inner.db.reader(), project_id, id)
            .await?
            .map(Policy::from_row)
            .ok_or_else(|| CoreError::NotFound(format!("webhook policy {id} not found")))
    }

    /// Sends a `PING` event (no resources, so receivers that act on
    /// artifact events ignore it) to each of a policy's endpoints now, as
    /// a delivery would, whether or not the policy is enabled; returns what
    /// each did. Nothing is recorded: it is a check, not a delivery.
    pub async fn ping(
        &self,
        ctx: &SecurityContext,
        project: &str,
        id: i64,
    ) -> CoreResult<Vec<Result<String, String>>> {
        let found = (self.projects)
            .require_in(ctx, project, Action::Update, Kind::NotificationPolicy)
            .await?;
        let (project_id, public) = (found.id, found.public);
        let p = self.policy(project_id, id).await?;
        let mut answers = Vec::with_capacity(p.targets.len());
        for t in &p.targets {
            let data = EventData::Artifact {
                resources: Vec::new(),
                repository: Repository {
                    date_created: Some(now_millis() / 1000),
                    name: "",
                    namespace: project,
                    repo_full_name: project,
                    repo_type: if public { "public" } else { "private" },
                },
            };
            let source = format!("/projects/{project_id}/webhook/policies/{id}");
            let occurred = ("PING", "harbor.ping", now_millis());
            let body = to_json(&envelope(t, occurred, ctx.username(), source, data));
            answers.push(send(t, body).await);
        }
        Ok(answers)
    }

    /// Creates a policy; returns its id.
    pub async fn create(
        &self,
        ctx: &SecurityContext,
        project: &str,
        req: &PolicyRequest,
    ) -> CoreResult<i64> {
        let pid = self.check(ctx, project, Action::Create).await?;
        let row = to_row(req, pid, ctx.username())?;
        let id = rows::insert(self.inner.db.writer(), &row)
            .await
            .map_err(|e| conflict(e, &req.name))?;
        self.forget(project);
        Ok(id)
    }

    /// Replaces a policy's settings.
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        project: &str,
        id: i64,
        req: &PolicyRequest,
    ) -> CoreResult<()> {
        let pid = self.check(ctx, project, Action::Update).await?;
        let row = rows::Policy {
            id,
            ..to_row(req, pid, ctx.username())?
        };
        if !rows::update(self.inner.db.writer(), &row)
            .await
            .map_err(|e| conflict(e, &req.name))?
        {
            return Err(CoreError::NotFound(format!(
                "webhook policy {id} not found"
            )));
        }
        self.forget(project);
        Ok(())
    }

    /// Deletes a policy (its delivery history goes with it).
    pub async fn delete(&self, ctx: &SecurityContext, project: &str, id: i64) -> CoreResult<()> {
        let pid = self.check(ctx, project, Action::Delete).await?;
        if !rows::delete(self.inner.db.writer(), pid, id).await? {
            return Err(CoreError::NotFound(format!(
                "webhook policy {id} not found"
            )));
        }
        self.forget(project);
        Ok(())
    }

    /// A page of a policy's deliveries, newest first, with the total.
    pub async fn executions(
        &self,
        ctx: &SecurityContext,
        project: &str,
        policy: i64,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Execution>, i64)> {
        let pid = self.check(ctx, project, Action::Read).await?;
        self.policy(pid, policy).await?;
        Ok(jobrows::executions(&self.inner.db, VENDOR, Some(policy), offset, limit).await?)
    }

    async fn execution(
        &self,
        ctx: &SecurityContext,
        project: &str,
        policy: i64,
        execution: i64,
    ) -> CoreResult<Execution> {
        let pid = self.check(ctx, project, Action::Read).await?;
        self.policy(pid, policy).await?;
        jobrows::execution(self.inner.db.reader(), execution)
            .await?
            .filter(|e| e.vendor_type == VENDOR && e.vendor_id == policy)
            .ok_or_else(|| CoreError::NotFound(format!("execution {execution} not found")))
    }

    /// A delivery's tasks.
    pub async fn tasks(
        &self,
        ctx: &SecurityContext,
        project: &str,
        policy: i64,
        execution: i64,
    ) -> CoreResult<Vec<Task>> {
        self.execution(ctx, project, policy, execution).await?;
        Ok(jobrows::tasks_of(self.inner.db.reader(), execution).await?)
    }

    /// A delivery task's log.
    pub async fn task_log(
        &self,
        ctx: &SecurityContext,
        project: &str,
        policy: i64,
        execution: i64,
        task: i64,
    ) -> CoreResult<String> {
        let tasks = self.tasks(ctx, project, policy, execution).await?;
        if !tasks.iter().any(|t| t.id == task) {
            return Err(CoreError::NotFound(format!("task {task} not found")));
        }
        self.inner.jobs.task_log(task).await
    }

    /// A delivery's tasks, each with its log.
    pub async fn task_logs(
        &self,
        ctx: &SecurityContext,
        project: &str,
        policy: i64,
        execution: i64,
    ) -> CoreResult<Vec<(Task, String)>> {
        let mut out = Vec::new();
        for task in self.tasks(ctx, project, policy, execution).await? {
            let log = self.inner.jobs.task_log(task.id).await?;
            out.push((task, log));
        }
        Ok(out)
    }

    /// Each policy with when it last sent something (ms), if ever.
    pub async fn last_triggers(
        &self,
        ctx: &SecurityContext,
        project: &str,
    ) -> CoreResult<Vec<(Policy, Option<i64>)>> {
        let mut out = Vec::new();
        for p in self.list(ctx, project).await? {
            let last = rows::last_triggers(self.inner.db.reader(), p.id).await?;
            out.push((p, last));
        }
        Ok(out)
    }

    /// Any signed-in caller may see which events, targets and formats exist.
    pub async fn supported(&self, ctx: &SecurityContext, project: &str) -> CoreResult<()> {
        self.check(ctx, project, Action::List).await.map(|_| ())
    }

    /// Listens on the bus: pushes and deletes through an outbox; pulls,
    /// quota and retention events (published, never staged) through a
    /// stateful subscriber (called at start, inside the runtime).
    pub fn subscribe(&self, events: &Events) {
        events.add_outbox(self.inner.clone());
        let inner = self.inner.clone();
        let wants = self.inner.clone();
        events.subscribe(
            Box::new(move |e| match e {
                Event::ArtifactPulled(_) => wants.may_want_pulls(e),
                Event::Quota(..) | Event::Retained(..) => true,
                _ => false,
            }),
            Subscriber::Stateful(Box::new(move |published| {
                let inner = inner.clone();
                Box::pin(async move { inner.published(&published).await })
            })),
        );
    }
}

fn conflict(e: berth_db::DbError, name: &str) -> CoreError {
    CoreError::taken(e, format!("a webhook policy named {name} exists already"))
}

fn to_row(req: &PolicyRequest, project_id: i64, creator: &str) -> CoreResult<rows::Policy> {
    let bad = |m: String| Err(CoreError::BadRequest(m));
    if req.name.trim().is_empty() {
        return bad("a policy needs a name".into());
    }
    if req.event_types.is_empty() {
        return bad("choose at least one event type".into());
    }
    if req.targets.is_empty() {
        return bad("a policy needs an endpoint (targets)".into());
    }
    if let Some(t) = req
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return bad(format!("unknown event type {t:?}"));
    }
    for t in &req.targets {
        if !(t.address.starts_with("http://") || t.address.starts_with("https://")) {
            let given = match t.address.trim() {
                "" => String::new(),
                other => format!(", not {other:?}"),
            };
            return bad(format!(
                "enter an endpoint URL starting with http:// or https://{given}"
            ));
        }
        let problem = match (t.kind.as_str(), t.payload_format.as_str()) {
            ("http", "Default" | "CloudEvents") | ("slack", "Default") => continue,
            ("slack", _) => "a slack endpoint takes the Default payload format",
            ("http", _) => "the payload format is Default or CloudEvents",
            _ => "the notify type is http or slack",
        };
        return bad(format!("{problem} (endpoint {})", t.address));
    }
    let now = now_millis();
    Ok(rows::Policy {
        id: 0,
        project_id,
        name: req.name.trim().to_string(),
        description: req.description.clone(),
        enabled: req.enabled,
        event_types: to_json(&req.event_types),
        targets: to_json(&req.targets),
        creator: creator.to_string(),
        creation_time: now,
        update_time: now,
    })
}

/// The stored form of a policy's lists.
fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Inner {
    /// A project's id, visibility and policies (cached a moment: pulls are hot).
    async fn scope(&self, project: &str) -> Option<Scope> {
        if let Some((at, s)) = crate::lock(&self.cache).get(project) {
            if at.elapsed() < CACHE_FOR {
                return s.clone();
            }
        }
        let loaded = async {
            let Some(berth_db::projects::AuthRef { id, public, .. }) =
                berth_db::projects::auth_ref(self.db.reader(), project).await?
            else {
                return Ok::<_, berth_db::DbError>(None);
            };
            let policies = rows::of_project(self.db.reader(), id)
                .await?
                .into_iter()
                .map(Policy::from_row)
                .collect();
            Ok(Some(Scope {
                project_id: id,
                public,
                policies,
            }))
        }
        .await;
        match loaded {
            Ok(s) => {
                crate::lock(&self.cache).insert(project.to_string(), (Instant::now(), s.clone()));
                s
            }
            Err(e) => {
                tracing::warn!(error = %e, project, "reading webhook policies");
                None
            }
        }
    }

    /// Whether a pull may need a delivery: false only when what this
    /// process read of the project's policies a moment ago says none wants
    /// pulls, so the hot pull path usually costs one map lookup.
    fn may_want_pulls(&self, e: &Event) -> bool {
        if !self.configurations.snapshot().notifications {
            return false;
        }
        match crate::lock(&self.cache).get(e.artifact().repo.project()) {
            Some((at, scope)) if at.elapsed() < CACHE_FOR => scope.as_ref().is_some_and(|s| {
                s.policies
                    .iter()
                    .any(|p| p.enabled && p.event_types.iter().any(|t| t == "PULL_ARTIFACT"))
            }),
            _ => true,
        }
    }

    /// Enqueues the deliveries of published events, all in one transaction.
    async fn published(&self, events: &[Arc<Event>]) {
        let mut specs = Vec::new();
        for e in events {
            specs.extend(
                self.specs(e)
                    .await
                    .into_iter()
                    .map(|s| (s, e.artifact().at)),
            );
        }
        if specs.is_empty() {
            return;
        }
        let mut jobs = self.jobs.batch();
        let result = async {
            let mut tx = self.db.begin().await?;
            for (spec, at) in &specs {
                jobs.add(&mut tx, &spec.new_job(), *at).await?;
            }
            berth_db::commit(tx).await
        }
        .await;
        match result {
            Ok(()) => jobs.start(),
            Err(e) => tracing::warn!(error = %e, "enqueuing webhooks of pulls and quotas"),
        }
    }

    /// One delivery job per target of every enabled policy that wants the event.
    async fn specs(&self, e: &Event) -> Vec<JobSpec> {
        if !self.configurations.snapshot().notifications {
            return Vec::new();
        }
        let kind = e.kind();
        let Some(scope) = self.scope(e.artifact().repo.project()).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in scope
            .policies
            .iter()
            .filter(|p| p.enabled && p.event_types.iter().any(|t| t == kind))
        {
            for t in &p.targets {
                let delivery = Delivery {
                    event_type: kind,
                    target: t,
                    body: payload(e, &scope, p, t, &self.host),
                };
                out.push(JobSpec {
                    vendor_type: VENDOR.into(),
                    vendor_id: p.id,
                    trigger: "EVENT".into(),
                    extra_attrs: to_json(&Attrs {
                        event_type: kind,
                        address: &t.address,
                    }),
                    job_type: VENDOR.into(),
                    params: to_json(&delivery),
                    max_runs: DELIVERY_RUNS,
                });
            }
        }
        out
    }
}

impl Outbox for Inner {
    fn enqueue<'a>(
        &'a self,
        tx: &'a mut Tx,
        e: &'a Event,
    ) -> BoxFuture<'a, Result<Option<Enqueued>, DbError>> {
        Box::pin(async move {
            if matches!(
                e,
                Event::ArtifactPulled(_) | Event::Quota(..) | Event::Retained(..)
            ) {
                return Ok(None);
            }
            let specs = self.specs(e).await;
            if specs.is_empty() {
                return Ok(None);
            }
            let mut jobs = self.jobs.batch();
            for spec in &specs {
                jobs.add(tx, &spec.new_job(), e.artifact().at).await?;
            }
            Ok(Some(jobs))
        })
    }
}

/// What a delivery job carries: its target and the payload, fixed at enqueue.
#[derive(Serialize, Deserialize)]
struct Delivery<'a, T, B> {
    event_type: &'a str,
    target: T,
    body: B,
}

/// An execution's `extra_attrs`, shown in its listing.
#[derive(Serialize)]
struct Attrs<'a> {
    event_type: &'a str,
    address: &'a str,
}

/// Harbor's payloads, in the order Harbor writes their fields.
#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Default {
        #[serde(rename = "type")]
        kind: &'a str,
        occur_at: i64,
        operator: &'a str,
        event_data: EventData<'a>,
    },
    CloudEvents {
        specversion: &'static str,
        id: String,
        requestid: String,
        source: String,
        #[serde(rename = "type")]
        kind: &'static str,
        datacontenttype: &'static str,
        time: String,
        operator: &'a str,
        data: EventData<'a>,
    },
    Slack {
        text: String,
    },
}

/// What happened: the artifact's resources and repository, a quota's
/// account (Harbor's `custom_attributes.Details`), or a replication's own
/// account of itself.
#[derive(Serialize)]
#[serde(untagged)]
enum EventData<'a> {
    Artifact {
        resources: Vec<Resource<'a>>,
        repository: Repository<'a>,
    },
    Quota {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        resources: Vec<Resource<'a>>,
        repository: Repository<'a>,
        custom_attributes: BTreeMap<&'static str, &'a str>,
    },
    Replication {
        replication: &'a serde_json::Value,
    },
    Retention {
        retention: &'a serde_json::Value,
    },
}

#[derive(Serialize)]
struct Resource<'a> {
    digest: &'a str,
    tag: &'a str,
    resource_url: String,
    /// A scan's outcome, on scanning events.
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_overview: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct Repository<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    date_created: Option<i64>,
    name: &'a str,
    namespace: &'a str,
    repo_full_name: &'a str,
    repo_type: &'static str,
}

/// Harbor's payload for a target: Default, CloudEvents 1.0, or a Slack message.
fn payload<'a>(event: &'a Event, scope: &Scope, p: &Policy, t: &Target, host: &str) -> Payload<'a> {
    let e = event.artifact();
    let repo = e.repo.as_str();
    let scan_overview = match event {
        Event::Scanned(_, end) => Some(&end.overview),
        _ => None,
    };
    let resource = |tag: &'a str| Resource {
        digest: &e.digest,
        tag,
        resource_url: if tag.is_empty() {
            format!("{host}/{repo}@{}", e.digest)
        } else {
            format!("{host}/{repo}:{tag}")
        },
        scan_overview,
    };
    let data = match event {
        Event::Replicated(_, replication) => EventData::Replication { replication },
        Event::Retained(_, retention) => EventData::Retention { retention },
        Event::Quota(_, note) => {
            let (mut resources, mut repository) = artifact_parts(e, scope, resource);
            // A blob has no resource, and Harbor dates no quota event's repository.
            resources.retain(|r| !r.digest.is_empty());
            repository.date_created = None;
            EventData::Quota {
                resources,
                repository,
                custom_attributes: BTreeMap::from([("Details", note.details.as_str())]),
            }
        }
        _ => {
            let (resources, repository) = artifact_parts(e, scope, resource);
            EventData::Artifact {
                resources,
                repository,
            }
        }
    };
    let source = format!("/projects/{}/webhook/policies/{}", scope.project_id, p.id);
    let kind = event.kind();
    let occurred = (kind, cloud_type(kind), e.at);
    envelope(t, occurred, &e.operator, source, data)
}

/// An artifact event's resources (one per tag, one without) and repository.
fn artifact_parts<'a>(
    e: &'a crate::notify::events::Artifact,
    scope: &Scope,
    resource: impl Fn(&'a str) -> Resource<'a>,
) -> (Vec<Resource<'a>>, Repository<'a>) {
    let repo = e.repo.as_str();
    let (namespace, name) = repo.split_once('/').unwrap_or(("", repo));
    let resources = if e.tags.is_empty() {
        vec![resource("")]
    } else {
        e.tags.iter().map(|t| resource(t)).collect()
    };
    let repository = Repository {
        date_created: Some(e.at / 1000),
        name,
        namespace,
        repo_full_name: repo,
        repo_type: if scope.public { "public" } else { "private" },
    };
    (resources, repository)
}

/// `data` in the target's format; `occurred` is the event type, its
/// CloudEvents type and when it happened (ms).
fn envelope<'a>(
    t: &Target,
    (kind, cloud_kind, at): (&'a str, &'static str, i64),
    operator: &'a str,
    source: String,
    data: EventData<'a>,
) -> Payload<'a> {
    match (t.kind.as_str(), t.payload_format.as_str()) {
        (_, "CloudEvents") => Payload::CloudEvents {
            specversion: "1.0",
            id: uuid::Uuid::new_v4().to_string(),
            requestid: uuid::Uuid::new_v4().to_string(),
            source,
            kind: cloud_kind,
            datacontenttype: "application/json",
            time: crate::timestamp(at),
            operator,
            data,
        },
        ("slack", _) => Payload::Slack {
            text: format!(
                "Harbor webhook events\n**event_type:** {kind}\n**occur_at:** {}\n**operator:** {operator}\n**event_data:** ```{}```",
                crate::timestamp(at),
                to_json(&data)
            ),
        },
        _ => Payload::Default {
            kind,
            occur_at: at / 1000,
            operator,
            event_data: data,
        },
    }
}

fn cloud_type(event_type: &str) -> &'static str {
    match event_type {
        "PUSH_ARTIFACT" => "harbor.artifact.pushed",
        "PULL_ARTIFACT" => "harbor.artifact.pulled",
        "DELETE_ARTIFACT" => "harbor.artifact.deleted",
        "QUOTA_EXCEED" => "harbor.quota.exceeded",
        "QUOTA_WARNING" => "harbor.quota.warned",
        "SCANNING_COMPLETED" => "harbor.scan.completed",
        "SCANNING_FAILED" => "harbor.scan.failed",
        "SCANNING_STOPPED" => "harbor.scan.stopped",
        "REPLICATION" => "harbor.replication.status.changed",
        _ => "harbor.tag_retention.finished",
    }
}

/// One HTTP client per certificate policy, shared by every delivery (a
/// client holds the connection pool and the TLS roots; building one per
/// delivery would cost more than the delivery).
fn client(skip_cert_verify: bool) -> Result<&'static reqwest::Client, String> {
    static VERIFYING: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    static TRUSTING: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let cell = if skip_cert_verify {
        &TRUSTING
    } else {
        &VERIFYING
    };
    if let Some(c) = cell.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .danger_accept_invalid_certs(skip_cert_verify)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(cell.get_or_init(|| built))
}

/// The delivery job: one POST, a 2xx answer within the timeout succeeds.
async fn deliver(ctx: JobContext) -> JobResult {
    let Delivery {
        event_type,
        target,
        body,
    } = ctx.params::<Delivery<Target, &RawValue>>()?;
    ctx.log(format!("sending {event_type} to {}", target.address));
    let sent = send(&target, body.get().to_owned()).await;
    match &sent {
        Ok(answer) | Err(answer) => ctx.log(answer),
    }
    sent.map(drop)
}

/// POSTs `body` to the target; what happened, in words, as success (a
/// 2xx answer within the timeout) or failure.
async fn send(target: &Target, body: String) -> Result<String, String> {
    let content_type = if target.payload_format == "CloudEvents" {
        "application/cloudevents+json"
    } else {
        "application/json"
    };
    let mut req = client(target.skip_cert_verify)?
        .post(&target.address)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if !target.auth_header.is_empty() {
        req = req.header(reqwest::header::AUTHORIZATION, &target.auth_header);
    }
    let started = Instant::now();
    match req.send().await {
        Ok(r) if r.status().is_success() => Ok(format!(
            "{} answered {} in {:?}",
            target.address,
            r.status(),
            started.elapsed()
        )),
        Ok(r) => Err(format!("{} answered {}", target.address, r.status())),
        Err(e) => Err(format!("sending to {} failed: {e}", target.address)),
    }
}
