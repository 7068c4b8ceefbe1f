//! Registry endpoints (`/registries`): where another registry is and how
//! to sign in to it. An endpoint must answer before it is stored; its
//! secret is sealed at rest and never shown again.

use super::adapters;
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Resource};
use crate::iam::secrets::Secrets;
use crate::jobs::{JobContext, JobResult, Jobs};
use crate::query::Filter;
use crate::remote::{ca_certificates, MountHints, Remote};
use base64::Engine;
/// A stored endpoint (its secret sealed).
pub use berth_db::registries::Endpoint;
use berth_db::registries::{self as db, FIELDS};
use berth_db::{now_millis, Db};
use std::sync::Arc;

/// The longest name Harbor takes.
const MAX_NAME: usize = 64;
/// The job that checks every endpoint, on a schedule.
pub const HEALTH_CHECK_JOB: &str = "REGISTRY_HEALTH_CHECK";

fn registry() -> Resource {
    Resource::System("registry")
}

/// How to sign in to a registry (Harbor's `RegistryCredential`).
#[derive(Debug, Clone, Default)]
pub struct Credential {
    /// `basic` (or empty, the same).
    pub kind: String,
    pub access_key: String,
    pub access_secret: String,
}

/// An endpoint to create (Harbor's `Registry`).
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub name: String,
    pub description: String,
    pub kind: String,
    pub url: String,
    pub credential: Option<Credential>,
    pub insecure: bool,
    pub ca_certificate: Option<String>,
}

/// What to change of an endpoint (Harbor's `RegistryUpdate`); None keeps.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub credential_type: Option<String>,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: Option<bool>,
    pub ca_certificate: Option<String>,
}

/// What to ping (Harbor's `RegistryPing`): a stored endpoint, with other
/// credentials perhaps, or settings not stored yet (`with`'s name and
/// description are not read).
#[derive(Debug, Clone, Default)]
pub struct PingRequest {
    pub id: Option<i64>,
    pub kind: Option<String>,
    pub with: EndpointChange,
}

/// An endpoint with its secret open, only ever held to call the registry.
struct Open {
    stored: Endpoint,
    secret: String,
}

/// The endpoints service.
#[derive(Clone)]
pub struct Registries {
    db: Db,
    secrets: Secrets,
    /// Where replication saw blobs at its destinations, shared by its tasks.
    mounts: Arc<MountHints>,
}

impl Registries {
    /// The service on a database, sealing secrets with `secrets`.
    pub fn new(db: Db, secrets: Secrets) -> Self {
        Registries {
            db,
            secrets,
            mounts: Arc::default(),
        }
    }

    /// Checks every endpoint on `cron` (Harbor checks every five minutes),
    /// once across replicas: the job service runs the schedule.
    pub async fn schedule_health_checks(&self, jobs: &Jobs, cron: &str) -> CoreResult<()> {
        jobs.register_on(
            HEALTH_CHECK_JOB,
            std::sync::Arc::new(self.clone()),
            |r, ctx| async move { r.check_all(ctx).await },
        );
        jobs.set_schedule(HEALTH_CHECK_JOB, "Custom", Some(cron), "{}")
            .await
    }

    /// Pings every endpoint as stored and records what it found.
    async fn check_all(&self, job: JobContext) -> JobResult {
        let everything = Filter::default().parse(FIELDS).map_err(|e| e.to_string())?;
        let endpoints = db::list(self.db.reader(), &everything, 0, i64::MAX)
            .await
            .map_err(|e| e.to_string())?;
        for e in endpoints {
            let (id, name) = (e.id, e.name.clone());
            // A secret sealed under another key cannot be used: unhealthy.
            let answered = match self.secrets.open(&e.access_secret) {
                Ok(secret) => (Open { stored: e, secret }).answers().await,
                Err(why) => Err(why.to_string()),
            };
            if let Err(why) = &answered {
                job.log(format!("{name}: {why}"));
            }
            (self.record(id, answered.is_ok()).await).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Records what a check of a stored endpoint found.
    async fn record(&self, id: i64, answered: bool) -> Result<(), berth_db::DbError> {
        let status = if answered { "healthy" } else { "unhealthy" };
        db::set_status(self.db.writer(), id, status).await
    }

    /// A stored endpoint with a client of its registry (replication's).
    pub(crate) async fn client(&self, id: i64) -> CoreResult<(Endpoint, Remote)> {
        let stored = self.stored(id).await?;
        let secret = self.secrets.open(&stored.access_secret)?;
        let open = Open { stored, secret };
        let remote = open.remote().map_err(CoreError::Internal)?;
        Ok((open.stored, remote.with_mount_hints(self.mounts.clone())))
    }

    /// A page of endpoints, and how many match.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Endpoint>, i64)> {
        require(ctx, Action::List, registry()).await?;
        let query = filter.parse(FIELDS)?;
        let r = self.db.reader();
        let total = db::count(r, &query).await?;
        Ok((db::list(r, &query, offset, limit).await?, total))
    }

    /// One endpoint.
    pub async fn get(&self, ctx: &SecurityContext, id: i64) -> CoreResult<Endpoint> {
        require(ctx, Action::Read, registry()).await?;
        self.stored(id).await
    }

    async fn stored(&self, id: i64) -> CoreResult<Endpoint> {
        db::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("registry {id} not found")))
    }

    /// Stores an endpoint once it answers; its id.
    pub async fn create(&self, ctx: &SecurityContext, new: &NewEndpoint) -> CoreResult<i64> {
        require(ctx, Action::Create, registry()).await?;
        let credential = new.credential.clone().unwrap_or_default();
        let now = now_millis();
        let mut e = Endpoint {
            id: 0,
            name: new.name.clone(),
            description: new.description.clone(),
            kind: new.kind.clone(),
            url: new.url.clone(),
            credential_type: credential.kind,
            access_key: credential.access_key,
            access_secret: String::new(),
            insecure: new.insecure,
            ca_certificate: new.ca_certificate.clone().unwrap_or_default(),
            status: String::new(),
            creation_time: now,
            update_time: now,
        };
        self.validated(&mut e, credential.access_secret).await?;
        db::insert(self.db.writer(), &e)
            .await
            .map_err(|err| CoreError::taken(err, format!("registry {} already exists", e.name)))
    }

    /// Changes an endpoint; it must answer as changed. A new URL without
    /// a new secret drops the stored one, so a secret is never sent
    /// somewhere else than where it was given for (as in Harbor).
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        id: i64,
        change: &EndpointChange,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, registry()).await?;
        let mut e = self.stored(id).await?;
        let mut secret = self.secrets.open(&e.access_secret)?;
        let stored_url = e.url.clone();
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                field.clone_from(v);
            }
        };
        set(&mut e.name, &change.name);
        set(&mut e.description, &change.description);
        set(&mut e.url, &change.url);
        set(&mut e.credential_type, &change.credential_type);
        set(&mut e.access_key, &change.access_key);
        set(&mut e.ca_certificate, &change.ca_certificate);
        set(&mut secret, &change.access_secret);
        if let Some(insecure) = change.insecure {
            e.insecure = insecure;
        }
        if change.access_secret.is_none() && normalized(&e.url)? != stored_url {
            secret.clear();
        }
        e.update_time = now_millis();
        self.validated(&mut e, secret).await?;
        let saved = db::update(self.db.writer(), &e)
            .await
            .map_err(|err| CoreError::taken(err, format!("registry {} already exists", e.name)))?;
        match saved {
            true => Ok(()),
            false => Err(CoreError::NotFound(format!("registry {id} not found"))),
        }
    }

    /// Deletes an endpoint.
    pub async fn delete(&self, ctx: &SecurityContext, id: i64) -> CoreResult<Endpoint> {
        require(ctx, Action::Delete, registry()).await?;
        let e = self.stored(id).await?;
        if !berth_db::replication::using_registry(self.db.reader(), id)
            .await?
            .is_empty()
        {
            return Err(CoreError::Precondition(format!(
                "the registry {id} is referenced by replication policies, cannot delete it"
            )));
        }
        if !berth_db::projects::proxying(self.db.reader(), id)
            .await?
            .is_empty()
        {
            return Err(CoreError::Precondition(format!(
                "the registry {id} is referenced by proxy cache project, cannot delete it"
            )));
        }
        db::delete(self.db.writer(), id).await?;
        Ok(e)
    }

    /// Whether a registry answers: a stored endpoint (its stored address,
    /// perhaps with other credentials) or one described in full.
    pub async fn ping(&self, ctx: &SecurityContext, req: &PingRequest) -> CoreResult<()> {
        require(ctx, Action::Read, registry()).await?;
        let with = &req.with;
        let mut e = Endpoint::default();
        let mut secret = String::new();
        if let Some(id) = req.id {
            e = self.stored(id).await?;
            secret = self.secrets.open(&e.access_secret)?;
        } else {
            // Only settings not stored may point the ping anywhere: a
            // stored endpoint's secret goes to its own address only (its
            // type says where too: Docker Hub's API is elsewhere).
            if let Some(url) = &with.url {
                e.url = normalized(url)?;
            }
            if let Some(kind) = &req.kind {
                e.kind.clone_from(kind);
            }
            e.insecure = with.insecure.unwrap_or(false);
            e.ca_certificate = with.ca_certificate.clone().unwrap_or_default();
        }
        for (field, v) in [
            (&mut e.credential_type, &with.credential_type),
            (&mut e.access_key, &with.access_key),
            (&mut secret, &with.access_secret),
        ] {
            if let Some(v) = v {
                field.clone_from(v);
            }
        }
        if e.kind.is_empty() || e.url.is_empty() {
            return Err(CoreError::BadRequest("type or url cannot be empty".into()));
        }
        check_kind(&e.kind)?;
        ca_certificates(&e.ca_certificate).map_err(CoreError::BadRequest)?;
        let open = Open { stored: e, secret };
        let answered = open.answers().await;
        // A stored endpoint pinged as stored shows what was found.
        let as_stored = with.credential_type.is_none()
            && with.access_key.is_none()
            && with.access_secret.is_none();
        if let (Some(id), true) = (req.id, as_stored) {
            self.record(id, answered.is_ok()).await?;
        }
        answered.map_err(|why| {
            tracing::info!(url = open.stored.url, why, "registry ping");
            CoreError::BadRequest("the registry is unhealthy".into())
        })
    }

    /// What an endpoint's registry is and supports.
    pub async fn info(&self, ctx: &SecurityContext, id: i64) -> CoreResult<adapters::Info> {
        require(ctx, Action::Read, registry()).await?;
        let e = self.stored(id).await?;
        adapters::info(&e.kind)
            .ok_or_else(|| CoreError::Internal(format!("no adapter for type {}", e.kind)))
    }

    /// The adapters' names.
    pub async fn adapters(&self, ctx: &SecurityContext) -> CoreResult<Vec<&'static str>> {
        require(ctx, Action::List, Resource::System("replication-adapter")).await?;
        Ok(adapters::kinds())
    }

    /// The endpoint patterns of the adapters that have them.
    pub async fn adapter_patterns(
        &self,
        ctx: &SecurityContext,
    ) -> CoreResult<std::collections::BTreeMap<&'static str, adapters::EndpointPattern>> {
        require(ctx, Action::List, Resource::System("replication-adapter")).await?;
        Ok(adapters::patterns())
    }

    /// Checks an endpoint as Harbor does (name, type, URL, CA, that it
    /// answers), seals its secret into it, and marks it healthy.
    async fn validated(&self, e: &mut Endpoint, secret: String) -> CoreResult<()> {
        e.name = e.name.trim().to_string();
        if e.name.is_empty() {
            return Err(CoreError::BadRequest("name cannot be empty".into()));
        }
        if e.name.chars().count() > MAX_NAME {
            return Err(CoreError::BadRequest("the max length of name is 64".into()));
        }
        check_kind(&e.kind)?;
        e.url = normalized(&e.url)?;
        if !matches!(e.credential_type.as_str(), "" | "basic") {
            return Err(CoreError::BadRequest(format!(
                "unsupported credential type {}: basic is supported",
                e.credential_type
            )));
        }
        if e.credential_type.is_empty() && !(e.access_key.is_empty() && secret.is_empty()) {
            e.credential_type = "basic".into();
        }
        ca_certificates(&e.ca_certificate).map_err(CoreError::BadRequest)?;
        let open = Open {
            stored: e.clone(),
            secret,
        };
        if let Err(why) = open.answers().await {
            tracing::info!(url = e.url, why, "registry health check");
            return Err(CoreError::BadRequest("the registry is unhealthy".into()));
        }
        e.access_secret = self.secrets.seal(&open.secret)?;
        e.status = "healthy".into();
        Ok(())
    }
}

impl Open {
    /// The `Authorization` its credentials make (empty for none).
    fn authorization(&self) -> String {
        let e = &self.stored;
        if e.access_key.is_empty() && self.secret.is_empty() {
            return String::new();
        }
        let pair = format!("{}:{}", e.access_key, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// A client of its registry's distribution API.
    fn remote(&self) -> Result<Remote, String> {
        let e = &self.stored;
        let base = adapters::api_base(&e.kind, &e.url);
        Remote::trusting(&base, &self.authorization(), e.insecure, &e.ca_certificate)
    }

    /// Whether it answers its API's base to its credentials.
    async fn answers(&self) -> Result<(), String> {
        self.remote()?.ping().await
    }
}

fn check_kind(kind: &str) -> CoreResult<()> {
    match adapters::known(kind) {
        true => Ok(()),
        false => Err(CoreError::BadRequest(format!(
            "unsupported registry type {kind:?}: one of {}",
            adapters::kinds().join(", ")
        ))),
    }
}

/// A URL as Harbor keeps one: `scheme://host[:port][/path]`, `http://`
/// assumed, nothing else kept (no credentials, query or fragment).
fn normalized(url: &str) -> CoreResult<String> {
    let s = url.trim().trim_end_matches('/');
    if s.is_empty() {
        return Err(CoreError::BadRequest("empty string".into()));
    }
    let s = match s.contains("://") {
        true => s.to_string(),
        false => format!("http://{s}"),
    };
    let u =
        reqwest::Url::parse(&s).map_err(|e| CoreError::BadRequest(format!("invalid URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(CoreError::BadRequest(format!(
            "invalid HTTP scheme: {}",
            u.scheme()
        )));
    }
    let host = u
        .host_str()
        .ok_or_else(|| CoreError::BadRequest("invalid URL: no host".into()))?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = u.path().trim_end_matches('/');
    Ok(format!("{}://{host}{port}{path}", u.scheme()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_kept_as_harbor_keeps_them() {
        let n = |u: &str| normalized(u).map_err(|e| e.to_string());
        assert_eq!(
            n("registry.example:5000/").as_deref(),
            Ok("http://registry.example:5000")
        );
        assert_eq!(
            n(" https://user:pw@r.example/path/?x=1#y ").as_deref(),
            Ok("https://r.example/path")
        );
        assert_eq!(
            n("ftp://r.example").unwrap_err(),
            "invalid HTTP scheme: ftp"
        );
        assert_eq!(n("  ").unwrap_err(), "empty string");
    }
}
