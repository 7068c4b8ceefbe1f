//! Scanner registrations (`/scanners`): the scanners Berth calls through
//! Harbor's pluggable scanner API, the system default, and each project's
//! choice. The built-in scanner is a registration too, shipped and
//! immutable, answered in process rather than over HTTP. An adapter's
//! credential is stored sealed (`iam::secrets`) and opened only to call it.

use super::adapter::{self, Capability, Client, Metadata};
use super::{builtin, VulnDb};
use crate::error::{CoreError, CoreResult};
use crate::iam::context::SecurityContext;
use crate::iam::rbac::{require, Action, Kind, Resource};
use crate::iam::secrets::Secrets;
use crate::policy::ScanVerdicts;
use crate::project::{ProjectKey, Projects};
use crate::query::Filter;
/// A stored registration, as the API and portal render it.
pub use berth_db::scanners::Registration;
use berth_db::scanners::{self as db, FIELDS};
use berth_db::{now_millis, Db};
use berth_scan::{BUILTIN_SCANNER, NATIVE_REPORT, SBOM_REPORT, VULN_REPORT};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an adapter's metadata is trusted (Harbor's 30 seconds).
const METADATA_FRESH: Duration = Duration::from_secs(30);
/// The URL the built-in registration is stored with.
const BUILTIN_URL: &str = "builtin:";

/// A registration with what its adapter said when last asked.
#[derive(Debug, Clone)]
pub struct Scanner {
    pub registration: Registration,
    /// The adapter's metadata, or why it could not be had.
    pub metadata: Result<Metadata, String>,
}

impl Scanner {
    /// Harbor's `health`.
    pub fn health(&self) -> &'static str {
        match self.metadata {
            Ok(_) => "healthy",
            Err(_) => "unhealthy",
        }
    }

    /// Whether it is the scanner inside Berth.
    pub fn is_builtin(&self) -> bool {
        self.registration.uuid == BUILTIN_SCANNER
    }
}

/// What a registration is created or updated with
/// (`ScannerRegistrationReq`).
#[derive(Debug, Clone, Default)]
pub struct RegistrationRequest {
    pub name: String,
    pub description: String,
    pub url: String,
    pub auth: String,
    pub access_credential: String,
    pub skip_cert_verify: bool,
    pub use_internal_addr: bool,
    pub disabled: bool,
}

/// An adapter's answer (its metadata or why there was none), and when.
type Seen = (Instant, Result<Metadata, String>);

/// The registrations service.
#[derive(Clone)]
pub struct Scanners {
    db: Db,
    projects: Projects,
    vulndb: VulnDb,
    verdicts: ScanVerdicts,
    secrets: Secrets,
    /// Adapters' metadata by registration uuid, with when it was read.
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

fn scanner_resource() -> Resource {
    Resource::System("scanner")
}

impl Scanners {
    /// The service on a database.
    pub(super) fn new(
        db: Db,
        projects: Projects,
        vulndb: VulnDb,
        verdicts: ScanVerdicts,
        secrets: Secrets,
    ) -> Self {
        Scanners {
            db,
            projects,
            vulndb,
            verdicts,
            secrets,
            seen: Arc::default(),
        }
    }

    /// Seals the credentials earlier versions stored in the clear; how
    /// many. Run once at start, before any is read.
    pub async fn seal_stored(&self) -> CoreResult<usize> {
        let everything = crate::query::Filter::default().parse(FIELDS)?;
        let mut sealed = 0;
        for mut r in db::list(self.db.reader(), &everything, 0, i64::MAX).await? {
            if r.access_credential.is_empty() || Secrets::is_sealed(&r.access_credential) {
                continue;
            }
            r.access_credential = self.secrets.seal(&r.access_credential)?;
            db::update(self.db.writer(), &r).await?;
            sealed += 1;
        }
        Ok(sealed)
    }

    /// A client of a stored registration's adapter, its credential opened.
    pub(super) fn client_of(&self, r: &Registration) -> Result<Client, String> {
        let credential = self
            .secrets
            .open(&r.access_credential)
            .map_err(|e| e.to_string())?;
        client(r, &credential)
    }

    /// A registration as stored: its credential sealed.
    fn sealed(&self, r: &Registration) -> CoreResult<Registration> {
        let mut stored = r.clone();
        stored.access_credential = self.secrets.seal(&r.access_credential)?;
        Ok(stored)
    }

    /// The built-in scanner's metadata, as its adapter serves it.
    pub async fn builtin_metadata(&self) -> CoreResult<Metadata> {
        let status = self.vulndb.status().await?;
        let images: Vec<String> = adapter::IMAGE_TYPES.iter().map(|s| s.to_string()).collect();
        let mut properties = std::collections::BTreeMap::new();
        properties.insert(
            "harbor.scanner-adapter/scanner-type".into(),
            "os-package-vulnerability".into(),
        );
        if let Some(at) = status.updated_at {
            properties.insert(
                "harbor.scanner-adapter/vulnerability-database-updated-at".into(),
                crate::timestamp(at),
            );
        }
        Ok(Metadata {
            scanner: builtin(),
            capabilities: vec![
                Capability {
                    kind: "vulnerability".into(),
                    consumes_mime_types: images.clone(),
                    produces_mime_types: vec![NATIVE_REPORT.into(), VULN_REPORT.into()],
                    additional_attributes: None,
                },
                Capability {
                    kind: "sbom".into(),
                    consumes_mime_types: images,
                    produces_mime_types: vec![SBOM_REPORT.into()],
                    additional_attributes: Some(
                        serde_json::json!({"sbom_media_types": [adapter::SPDX]}),
                    ),
                },
            ],
            properties,
        })
    }

    /// Whether the default scanner answers: None when there is none.
    pub async fn check_default(&self) -> Result<Option<()>, String> {
        let Some(r) = db::default(self.db.reader())
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        match self.metadata_of(&r).await {
            Ok(_) => Ok(Some(())),
            Err(e) => Err(format!("scanner {}: {e}", r.name)),
        }
    }

    /// What a registration's adapter says of itself (cached for 30 s, as
    /// Harbor does; the built-in scanner answers in process).
    pub async fn metadata_of(&self, r: &Registration) -> Result<Metadata, String> {
        if r.uuid == BUILTIN_SCANNER {
            return self.builtin_metadata().await.map_err(|e| e.to_string());
        }
        if let Some((at, m)) = crate::lock(&self.seen).get(&r.uuid) {
            if at.elapsed() < METADATA_FRESH {
                return m.clone();
            }
        }
        let m = match self.client_of(r) {
            Ok(c) => c.metadata().await,
            Err(e) => Err(e),
        };
        crate::lock(&self.seen).insert(r.uuid.clone(), (Instant::now(), m.clone()));
        m
    }

    async fn scanner(&self, registration: Registration) -> Scanner {
        let metadata = self.metadata_of(&registration).await;
        Scanner {
            registration,
            metadata,
        }
    }

    /// A page of registrations (each with its adapter's metadata), and how
    /// many match.
    pub async fn list(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Scanner>, i64)> {
        require(ctx, Action::List, scanner_resource()).await?;
        self.page(filter, offset, limit).await
    }

    async fn page(
        &self,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Scanner>, i64)> {
        let query = filter.parse(FIELDS)?;
        let r = self.db.reader();
        let total = db::count(r, &query).await?;
        let mut out = Vec::new();
        for reg in db::list(r, &query, offset, limit).await? {
            out.push(self.scanner(reg).await);
        }
        Ok((out, total))
    }

    async fn registration(&self, uuid: &str) -> CoreResult<Registration> {
        db::by_uuid(self.db.reader(), uuid)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("scanner {uuid} not found")))
    }

    /// One registration.
    pub async fn get(&self, ctx: &SecurityContext, uuid: &str) -> CoreResult<Scanner> {
        require(ctx, Action::Read, scanner_resource()).await?;
        let r = self.registration(uuid).await?;
        Ok(self.scanner(r).await)
    }

    /// The metadata of a registration's adapter; an error when it cannot
    /// be had.
    pub async fn metadata(&self, ctx: &SecurityContext, uuid: &str) -> CoreResult<Metadata> {
        require(ctx, Action::Read, scanner_resource()).await?;
        let r = self.registration(uuid).await?;
        self.metadata_of(&r).await.map_err(unreachable)
    }

    /// Asks an adapter for its metadata with the settings given.
    pub async fn ping(&self, ctx: &SecurityContext, req: &RegistrationRequest) -> CoreResult<()> {
        require(ctx, Action::Read, scanner_resource()).await?;
        let r = validated(req, None)?;
        let client = client(&r, &r.access_credential).map_err(CoreError::BadRequest)?;
        client.metadata().await.map_err(unreachable)?;
        Ok(())
    }

    /// Registers an adapter (it must answer first); its uuid. The first
    /// registration ever becomes the default, as in Harbor; Berth always
    /// has its own, so that never happens here.
    pub async fn create(
        &self,
        ctx: &SecurityContext,
        req: &RegistrationRequest,
    ) -> CoreResult<String> {
        require(ctx, Action::Create, scanner_resource()).await?;
        let r = validated(req, None)?;
        client(&r, &r.access_credential)
            .map_err(CoreError::BadRequest)?
            .metadata()
            .await
            .map_err(unreachable)?;
        db::insert(self.db.writer(), &self.sealed(&r)?)
            .await
            .map_err(|e| taken(e, &r))?;
        Ok(r.uuid)
    }

    /// Changes a registration (not the built-in one). An empty credential
    /// keeps the stored one while the auth type still needs one.
    pub async fn update(
        &self,
        ctx: &SecurityContext,
        uuid: &str,
        req: &RegistrationRequest,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, scanner_resource()).await?;
        let mut old = self.registration(uuid).await?;
        if old.immutable {
            return Err(CoreError::Forbidden(format!(
                "registration {} is not allowed to update as it is immutable: scanner API: update",
                old.name
            )));
        }
        old.access_credential = self.secrets.open(&old.access_credential)?;
        let r = validated(req, Some(&old))?;
        if r.is_default && r.disabled {
            return Err(CoreError::BadRequest(format!(
                "default registration {uuid} can not be marked to deactivated"
            )));
        }
        db::update(self.db.writer(), &self.sealed(&r)?)
            .await
            .map_err(|e| taken(e, &r))?;
        crate::lock(&self.seen).remove(uuid);
        Ok(())
    }

    /// Deletes a registration (not the built-in one); it, as it was.
    pub async fn delete(&self, ctx: &SecurityContext, uuid: &str) -> CoreResult<Scanner> {
        require(ctx, Action::Delete, scanner_resource()).await?;
        let r = self.registration(uuid).await?;
        if r.immutable {
            return Err(CoreError::Forbidden(format!(
                "registration {} is not allowed to delete as it is immutable: scanner API: delete",
                r.name
            )));
        }
        let mut tx = self.db.begin().await?;
        db::delete(&mut tx, uuid).await?;
        berth_db::commit(tx).await?;
        crate::lock(&self.seen).remove(uuid);
        self.verdicts.forget_all();
        Ok(self.scanner(r).await)
    }

    /// Makes a registration the system default (`is_default: false` changes
    /// nothing, as in Harbor).
    pub async fn set_default(
        &self,
        ctx: &SecurityContext,
        uuid: &str,
        is_default: bool,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, scanner_resource()).await?;
        let r = self.registration(uuid).await?;
        if !is_default {
            return Ok(());
        }
        if r.disabled {
            return Err(CoreError::BadRequest(format!(
                "registration {} is deactivated and can not be the default",
                r.name
            )));
        }
        db::set_default(self.db.writer(), uuid).await?;
        self.verdicts.forget_all();
        Ok(())
    }

    /// The scanner a project's scans use (its own choice, else the
    /// default), with its adapter's health.
    pub async fn of_project(&self, ctx: &SecurityContext, key: &ProjectKey) -> CoreResult<Scanner> {
        let p = (self.projects)
            .authorized(ctx, key, Action::Read, Kind::Scanner)
            .await?;
        let r = self.resolve(&p.project.name).await?;
        Ok(self.scanner(r).await)
    }

    /// Sets the scanner of a project.
    pub async fn set_of_project(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        uuid: &str,
    ) -> CoreResult<()> {
        let p = (self.projects)
            .authorized(ctx, key, Action::Create, Kind::Scanner)
            .await?;
        if uuid.is_empty() {
            return Err(CoreError::BadRequest("missing scanner UUID".into()));
        }
        self.registration(uuid).await?;
        db::set_of_project(self.db.writer(), p.project.project_id, uuid).await?;
        self.verdicts.forget_all();
        Ok(())
    }

    /// The registrations a project may choose from.
    pub async fn candidates(
        &self,
        ctx: &SecurityContext,
        key: &ProjectKey,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<Scanner>, i64)> {
        (self.projects)
            .authorized(ctx, key, Action::Create, Kind::Scanner)
            .await?;
        self.page(filter, offset, limit).await
    }

    /// The registration that scans a project's artifacts.
    pub(super) async fn resolve(&self, project: &str) -> CoreResult<Registration> {
        db::of_project(self.db.reader(), project)
            .await?
            .ok_or_else(|| {
                CoreError::Precondition(format!("no available scanner for project: {project}"))
            })
    }
}

/// A registration as a request describes it, checked as Harbor checks one.
fn validated(req: &RegistrationRequest, old: Option<&Registration>) -> CoreResult<Registration> {
    if req.name.trim().is_empty() {
        return Err(CoreError::BadRequest("missing registration name".into()));
    }
    if req.name == builtin().name && old.is_none_or(|o| o.uuid != BUILTIN_SCANNER) {
        return Err(CoreError::BadRequest(format!(
            "name \"{}\" is reserved, please try a different name",
            req.name
        )));
    }
    let url = req.url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if parsed.is_none() {
        return Err(CoreError::BadRequest(format!(
            "scanner registration validate: invalid URL {:?}: an http or https URL is needed",
            req.url
        )));
    }
    if !matches!(req.auth.as_str(), "" | "Basic" | "Bearer" | "APIKey") {
        return Err(CoreError::BadRequest(format!(
            "auth type {} is not supported",
            req.auth
        )));
    }
    let mut credential = req.access_credential.clone();
    if credential.is_empty() && !req.auth.is_empty() {
        credential = old.map(|o| o.access_credential.clone()).unwrap_or_default();
    }
    if !req.auth.is_empty() && credential.is_empty() {
        return Err(CoreError::BadRequest(format!(
            "access_credential is required for auth type {}",
            req.auth
        )));
    }
    if req.auth.is_empty() {
        credential.clear();
    }
    let now = now_millis();
    Ok(Registration {
        id: old.map_or(0, |o| o.id),
        uuid: old.map_or_else(|| uuid::Uuid::new_v4().to_string(), |o| o.uuid.clone()),
        name: req.name.trim().to_string(),
        description: req.description.clone(),
        url: url.to_string(),
        disabled: req.disabled,
        is_default: old.is_some_and(|o| o.is_default),
        auth: req.auth.clone(),
        access_credential: credential,
        skip_cert_verify: req.skip_cert_verify,
        use_internal_addr: req.use_internal_addr,
        immutable: false,
        creation_time: old.map_or(now, |o| o.creation_time),
        update_time: now,
    })
}

/// A client of a registration's adapter, with its credential in the clear.
fn client(r: &Registration, credential: &str) -> Result<Client, String> {
    if r.url == BUILTIN_URL {
        return Err("the built-in scanner has no adapter to call".into());
    }
    Client::new(&r.url, &r.auth, credential, r.skip_cert_verify)
}

/// An adapter that did not answer as it should: the settings are wrong.
fn unreachable(why: String) -> CoreError {
    CoreError::BadRequest(format!("failed to ping the scanner adapter: {why}"))
}

fn taken(e: berth_db::DbError, r: &Registration) -> CoreError {
    CoreError::taken(
        e,
        format!(
            "a scanner registration named {:?} or at {} already exists",
            r.name, r.url
        ),
    )
}
