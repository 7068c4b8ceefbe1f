//! Identity and access: users, authentication, the security context and RBAC.

pub mod context;
pub mod groups;
pub mod ldap;
pub mod oidc;
pub mod oidc_user;
pub mod password;
pub mod rbac;
pub mod robots;
mod role;
pub mod secrets;
pub mod token;
pub mod uaa;

use crate::error::{CoreError, CoreResult};
use crate::notify::trail::{Operation, Target, Trail};
use crate::project::Projects;
use crate::query::Filter;
use berth_db::query::ListQuery;
use berth_db::users::NewUser;
/// A user as the API and portal render it.
pub use berth_db::users::User;
use berth_db::{now_millis, usergroups, users, Db};
use context::{Principal, SecurityContext};
use ldap::{LdapGroup, LdapSettings, LdapUser};
use rbac::{require, Action, Resource};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which way credentials come in: from a registry client (`/v2`, the
/// token service, and the few API calls Harbor lets clients make), where an
/// OIDC user's CLI secret is their password, or any other way, where it is
/// not (as Harbor's `oidc_cli` security context has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Client,
    Other,
}

/// Users and authentication (database mode).
#[derive(Clone)]
pub struct Iam {
    db: Db,
    configurations: crate::Configurations,
    lockout: Arc<Lockout>,
    trail: Trail,
    /// The OIDC provider's discovery document and keys, as last read.
    oidc: oidc::ProviderCache,
    /// Robot accounts (they log in through the same door as users).
    pub robots: robots::Robots,
}

/// Failed-login bookkeeping: attempts for one user are serialized, and after
/// `max_failures` failures in a row the user is locked for `duration`. Each
/// source address also has a budget of failures, spent by every failed
/// login from it and refilled over time; an address with none left is
/// refused before any password is hashed, so a flood of guesses (random
/// names included) from one place costs a few hashes, not one each.
struct Lockout {
    max_failures: u32,
    duration: Duration,
    users: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Attempts>>>>,
    addresses: Mutex<HashMap<IpAddr, Budget>>,
}

/// Failed logins an address may make at once.
const ADDRESS_BURST: f64 = 20.0;
/// One more failed login allowed per this many seconds.
const ADDRESS_REFILL_SECS: f64 = 3.0;
/// Addresses tracked at most (past it, those with a full budget are forgotten,
/// then new addresses go untracked until room is made).
const TRACKED_ADDRESSES: usize = 10_000;

const USER_LOCKED: &str = "too many failed logins for this user; try again later";
const ADDRESS_THROTTLED: &str = "too many failed logins from this address; try again later";

/// An address's budget of failed logins.
#[derive(Clone, Copy)]
struct Budget {
    left: f64,
    at: Instant,
}

impl Budget {
    fn now(self) -> f64 {
        (self.left + self.at.elapsed().as_secs_f64() / ADDRESS_REFILL_SECS).min(ADDRESS_BURST)
    }
}

impl Lockout {
    /// Whether failed logins from `source` have used up its budget.
    fn throttled(&self, source: IpAddr) -> bool {
        crate::lock(&self.addresses)
            .get(&source)
            .is_some_and(|b| b.now() < 1.0)
    }

    /// Spends one failed login of `source`'s budget.
    fn failed_from(&self, source: IpAddr) {
        let mut map = crate::lock(&self.addresses);
        if map.len() >= TRACKED_ADDRESSES && !map.contains_key(&source) {
            map.retain(|_, b| b.now() < ADDRESS_BURST);
            if map.len() >= TRACKED_ADDRESSES {
                return;
            }
        }
        let b = map.entry(source).or_insert(Budget {
            left: ADDRESS_BURST,
            at: Instant::now(),
        });
        *b = Budget {
            left: b.now() - 1.0,
            at: Instant::now(),
        };
        if b.left < 1.0 {
            tracing::warn!(%source, "throttling logins from an address after failed logins");
        }
    }
}

#[derive(Default)]
struct Attempts {
    failures: u32,
    locked_until: Option<Instant>,
}

/// The stored password of users who sign in through a directory: no
/// password verifies against it.
const NO_LOCAL_PASSWORD: &str = "!";

/// How long a browser session lasts.
const SESSION_MS: i64 = 60 * 60 * 1000;

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    // SystemRandom only fails without OS randomness, which nothing here can run without.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Sessions are stored by hash, so a database leak yields no usable cookie.
fn token_hash(t: &str) -> String {
    hex_encode(ring::digest::digest(&ring::digest::SHA256, t.as_bytes()).as_ref())
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Users tracked at most; past this, users with no recent failure are forgotten.
const TRACKED_USERS: usize = 10_000;

/// A user as the API creates it.
#[derive(Debug, Clone, Default)]
pub struct UserRequest {
    pub username: String,
    pub email: Option<String>,
    pub realname: String,
    pub comment: String,
    pub password: String,
}

/// A hash verified when the user does not exist, so a wrong username costs
/// as much time as a wrong password and names cannot be probed by timing.
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

impl Iam {
    /// The service on a database, with the default lockout (for the
    /// command line's password reset).
    pub fn new(db: Db) -> Self {
        let trail = Trail::new();
        let configurations = crate::Configurations::new(db.clone(), trail.clone());
        let settings = crate::policy::ProjectSettings::new(db.clone());
        let projects = Projects::new(db.clone(), configurations.clone(), trail, settings);
        Self::with_lockout(db, configurations, projects, 10, Duration::from_secs(300))
    }

    /// The service with the run-time settings, the project service (robots
    /// are bound to projects; changes are recorded on its trail) and a
    /// login lockout policy.
    pub fn with_lockout(
        db: Db,
        configurations: crate::Configurations,
        projects: Projects,
        max_failures: u32,
        duration: Duration,
    ) -> Self {
        Iam {
            trail: projects.trail().clone(),
            robots: robots::Robots::new(db.clone(), projects),
            configurations,
            db,
            oidc: oidc::ProviderCache::default(),
            lockout: Arc::new(Lockout {
                max_failures: max_failures.max(1),
                duration,
                users: Mutex::new(HashMap::new()),
                addresses: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A context for a caller who presented no credentials.
    pub fn anonymous(&self) -> SecurityContext {
        SecurityContext::new(Principal::Anonymous, self.db.clone())
    }

    /// A context for a known user.
    pub fn context_for(&self, user: &User) -> SecurityContext {
        SecurityContext::new(
            Principal::User {
                id: user.user_id,
                name: user.username.clone(),
                sysadmin: user.sysadmin || user.admin_role_in_auth,
            },
            self.db.clone(),
        )
    }

    /// A context for the subject of a verified token (anonymous if the user is gone).
    pub async fn context_for_name(&self, username: &str) -> CoreResult<SecurityContext> {
        if robots::is_robot(username) {
            return Ok(self
                .robots
                .context_by_name(username)
                .await?
                .unwrap_or_else(|| self.anonymous()));
        }
        Ok(match users::by_name(self.db.reader(), username).await? {
            Some(u) => self.context_for(&u),
            None => self.anonymous(),
        })
    }

    /// Checks a user's password or a robot's secret, presented from
    /// `source` (when known), and returns the caller's context; `None` for
    /// bad credentials, `TooManyAttempts` while the user is locked out or
    /// the address has spent its failed logins. Sessions and tokens already
    /// issued are not logins: they keep working through a lockout.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
        door: Door,
    ) -> CoreResult<Option<SecurityContext>> {
        if source.is_some_and(|s| self.lockout.throttled(s)) {
            return Err(CoreError::TooManyAttempts(ADDRESS_THROTTLED));
        }
        let slot = {
            let mut map = crate::lock(&self.lockout.users);
            if map.len() >= TRACKED_USERS {
                map.retain(|_, a| {
                    Arc::strong_count(a) > 1 || a.try_lock().is_ok_and(|a| a.failures > 0)
                });
            }
            map.entry(username.to_string()).or_default().clone()
        };
        let mut attempts = slot.lock().await;
        if let Some(until) = attempts.locked_until {
            if Instant::now() < until {
                return Err(CoreError::TooManyAttempts(USER_LOCKED));
            }
            *attempts = Attempts::default();
        }
        let ctx = if robots::is_robot(username) {
            self.robots.authenticate(username, password).await?
        } else {
            self.authenticate(username, password, door)
                .await?
                .map(|u| self.context_for(&u))
        };
        if ctx.is_some() {
            attempts.failures = 0;
        } else {
            if let Some(s) = source {
                self.lockout.failed_from(s);
            }
            attempts.failures += 1;
            if attempts.failures >= self.lockout.max_failures {
                tracing::warn!(
                    username,
                    failures = attempts.failures,
                    "locking out user after failed logins"
                );
                attempts.locked_until = Some(Instant::now() + self.lockout.duration);
            }
        }
        Ok(ctx)
    }

    /// A sign-in (portal or `/c/login`): a login, recorded as one. In
    /// OIDC mode only the first administrator signs in with a password
    /// (the others through the provider; their CLI secrets are for
    /// clients, not the portal), as Harbor has it.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> CoreResult<Option<SecurityContext>> {
        let result = match self.configurations.snapshot().auth_mode == "oidc_auth"
            && !self.is_local_admin(username).await?
        {
            true => Ok(None),
            false => self.login(username, password, source, Door::Other).await,
        };
        let ok = matches!(result, Ok(Some(_)));
        (self.trail).record(username, Operation::Login, &Target::User(username), ok);
        result
    }

    /// Opens a browser session for a user: returns (cookie value, CSRF token).
    pub async fn create_session(&self, ctx: &SecurityContext) -> CoreResult<(String, String)> {
        let user = ctx
            .user_id()
            .ok_or_else(|| CoreError::Forbidden("only users can log in to the portal".into()))?;
        let (sid, csrf) = (random_token(), random_token());
        let now = now_millis();
        berth_db::sessions::insert(
            self.db.writer(),
            &token_hash(&sid),
            user,
            &csrf,
            now + SESSION_MS,
            now,
        )
        .await?;
        Ok((sid, csrf))
    }

    /// The context and CSRF token of a live session.
    pub async fn session(&self, sid: &str) -> CoreResult<Option<(SecurityContext, String)>> {
        let Some((user_id, csrf)) =
            berth_db::sessions::get(self.db.reader(), &token_hash(sid), now_millis()).await?
        else {
            return Ok(None);
        };
        Ok(users::by_id(self.db.reader(), user_id)
            .await?
            .map(|u| (self.context_for(&u), csrf)))
    }

    /// Ends a session (a logout, recorded as one).
    pub async fn end_session(&self, sid: &str) -> CoreResult<()> {
        let user = self.session(sid).await?;
        berth_db::sessions::delete(self.db.writer(), &token_hash(sid), now_millis()).await?;
        if let Some((ctx, _)) = user {
            let name = ctx.username();
            (self.trail).record(name, Operation::Logout, &Target::User(name), true);
        }
        Ok(())
    }

    /// The name the audit log gives a user (its id when there is none).
    async fn username_of(&self, id: i64) -> String {
        match users::by_id(self.db.reader(), id).await {
            Ok(Some(u)) => u.username,
            _ => id.to_string(),
        }
    }

    /// Checks a user's password (no lockout bookkeeping: use `login`)
    /// where the authentication mode says; the first administrator always
    /// signs in with the password stored here, so a directory outage
    /// cannot lock the system out.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        door: Door,
    ) -> CoreResult<Option<User>> {
        let mode = self.configurations.snapshot().auth_mode;
        if mode == "db_auth" || mode.is_empty() || self.is_local_admin(username).await? {
            return self.authenticate_locally(username, password).await;
        }
        match mode.as_str() {
            "ldap_auth" => self.authenticate_ldap(username, password).await,
            "oidc_auth" if door == Door::Client => {
                self.authenticate_cli_secret(username, password).await
            }
            "uaa_auth" => self.authenticate_uaa(username, password).await,
            _ => Ok(None),
        }
    }

    /// Whether `username` is the first system administrator.
    async fn is_local_admin(&self, username: &str) -> CoreResult<bool> {
        let Some(user) = users::by_name(self.db.reader(), username).await? else {
            return Ok(false);
        };
        Ok(users::first_admin(self.db.reader()).await? == Some(user.user_id))
    }

    /// The LDAP settings, secrets opened.
    async fn ldap_settings(&self) -> CoreResult<LdapSettings> {
        Ok(LdapSettings::from_values(
            &self.configurations.current().await?,
        ))
    }

    /// Signs a user in through LDAP, on-boarding them on their first.
    async fn authenticate_ldap(&self, username: &str, password: &str) -> CoreResult<Option<User>> {
        let settings = self.ldap_settings().await?;
        let found = (ldap::authenticate(&settings, username, password).await).map_err(|e| {
            tracing::warn!(error = %e, "LDAP sign-in could not be checked");
            CoreError::SignInUnavailable(
                "the LDAP server could not check these credentials; try again later".into(),
            )
        })?;
        let Some(signed) = found else {
            return Ok(None);
        };
        let user = self.on_board(&signed.user).await?;
        let mut ids = Vec::new();
        for g in &signed.groups {
            ids.push(self.ensure_group(usergroups::LDAP, &g.name, &g.dn).await?);
        }
        let mut tx = self.db.begin().await?;
        usergroups::set_of_user(&mut tx, user.user_id, &ids, signed.admin).await?;
        berth_db::commit(tx).await?;
        Ok(Some(User {
            admin_role_in_auth: signed.admin,
            ..user
        }))
    }

    /// The local record of a directory user, made on first sight (as
    /// Harbor's on-boarding: name, full name, email when it is free).
    async fn on_board(&self, entry: &LdapUser) -> CoreResult<User> {
        if let Some(u) = users::by_name(self.db.reader(), &entry.username).await? {
            return Ok(u);
        }
        let email = [entry.email.as_str(), entry.username.as_str()]
            .into_iter()
            .find(|e| valid_email(e));
        let inserted =
            (self.add_external_user(&entry.username, email, &entry.realname, "from LDAP.")).await;
        // A name on-boarded by a concurrent sign-in is that user.
        match inserted {
            Err(CoreError::Db(e)) if e.is_unique_violation() => {}
            other => {
                other?;
            }
        }
        users::by_name(self.db.reader(), &entry.username)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("on-boarding {}", entry.username)))
    }

    /// Adds a user who signs in through a directory or provider (no
    /// password here); an email another user has is left out. A taken
    /// name is the database's unique violation.
    async fn add_external_user(
        &self,
        username: &str,
        email: Option<&str>,
        realname: &str,
        comment: &str,
    ) -> CoreResult<i64> {
        validate_username(username)?;
        let new = |email| NewUser {
            username,
            email,
            realname,
            comment,
            password_hash: NO_LOCAL_PASSWORD,
            sysadmin: false,
            now: now_millis(),
        };
        Ok(match users::insert(self.db.writer(), &new(email)).await {
            Err(e) if e.is_unique_violation() && email.is_some() => {
                users::insert(self.db.writer(), &new(None)).await
            }
            other => other,
        }?)
    }

    /// Whether an OpenID Connect provider answers at `url` with a valid
    /// discovery document (administrators; Harbor's message otherwise).
    pub async fn oidc_ping(
        &self,
        ctx: &SecurityContext,
        url: &str,
        verify_cert: bool,
    ) -> CoreResult<()> {
        require(ctx, Action::Update, Resource::Configuration).await?;
        match oidc::discover(url, verify_cert).await {
            Ok(_) => Ok(()),
            Err(why) => {
                tracing::info!(url, why, "OIDC ping failed");
                Err(CoreError::BadRequest("failed to verify connection".into()))
            }
        }
    }

    /// Whether the directory answers to these settings and the search DN
    /// binds (administrators only): the stored settings when no URL is
    /// given; a search password or timeout left out is the stored one.
    /// The outcome is `Err(why)` when it does not.
    pub async fn ldap_ping(
        &self,
        ctx: &SecurityContext,
        given: LdapSettings,
    ) -> CoreResult<Result<(), String>> {
        require(ctx, Action::Read, Resource::Configuration).await?;
        let stored = self.ldap_settings().await?;
        let settings = match given.url.is_empty() {
            true => stored,
            false => LdapSettings {
                search_password: match given.search_password.is_empty() {
                    true => stored.search_password,
                    false => given.search_password.clone(),
                },
                timeout_secs: match given.timeout_secs {
                    0 => stored.timeout_secs,
                    t => t,
                },
                ..given
            },
        };
        Ok(ldap::ping(&settings).await.map_err(|e| e.to_string()))
    }

    /// The id of the user named `name` for a project membership: in LDAP
    /// mode one the directory has but who never signed in is on-boarded
    /// first, as Harbor does (only for who may add members: `ctx`).
    pub async fn member_user_id(
        &self,
        ctx: &SecurityContext,
        name: &str,
    ) -> CoreResult<Option<i64>> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        if let Some(u) = users::by_name(self.db.reader(), name).await? {
            return Ok(Some(u.user_id));
        }
        if self.configurations.snapshot().auth_mode != "ldap_auth" || name.trim().is_empty() {
            return Ok(None);
        }
        let settings = self.ldap_settings().await?;
        let found = (ldap::search_users(&settings, name).await).map_err(ldap_unavailable)?;
        match found.as_slice() {
            [one] => Ok(Some(self.on_board(one).await?.user_id)),
            _ => Ok(None),
        }
    }

    /// Directory users whose uid is `name` (every one for an empty name).
    pub async fn ldap_users(&self, ctx: &SecurityContext, name: &str) -> CoreResult<Vec<LdapUser>> {
        require(ctx, Action::List, Resource::System("ldap-user")).await?;
        let settings = self.ldap_settings().await?;
        ldap::search_users(&settings, name)
            .await
            .map_err(ldap_unavailable)
    }

    /// On-boards directory users by uid; the uids that failed, each with
    /// Harbor's reason (`empty_uid`, `unknown_user`, `failed_search_user`).
    pub async fn ldap_import(
        &self,
        ctx: &SecurityContext,
        uids: &[String],
    ) -> CoreResult<Vec<(String, String)>> {
        require(ctx, Action::Create, Resource::System("ldap-user")).await?;
        let settings = self.ldap_settings().await?;
        let mut failed = Vec::new();
        for uid in uids {
            let reason = match uid.as_str() {
                "" => Some("empty_uid".to_string()),
                _ => match ldap::search_users(&settings, uid).await {
                    Err(e) => {
                        tracing::warn!(uid, error = %e, "LDAP import: searching");
                        Some("failed_search_user".into())
                    }
                    Ok(found) => match found.first() {
                        None => Some("unknown_user".into()),
                        Some(entry) => match self.on_board(entry).await {
                            Ok(_) => None,
                            Err(e) => Some(format!("failed to import user: {uid} ({e})")),
                        },
                    },
                },
            };
            if let Some(reason) = reason {
                failed.push((uid.clone(), reason));
            }
        }
        Ok(failed)
    }

    /// Directory groups by name (every one for an empty name) or by DN.
    pub async fn ldap_groups(
        &self,
        ctx: &SecurityContext,
        name: &str,
        dn: Option<&str>,
    ) -> CoreResult<Vec<LdapGroup>> {
        require(ctx, Action::List, Resource::System("ldap-user")).await?;
        let settings = self.ldap_settings().await?;
        let groups = (ldap::search_groups(&settings, name, dn).await).map_err(ldap_unavailable)?;
        if groups.is_empty() {
            return Err(CoreError::NotFound(format!(
                "group name:{name}, group DN:{}",
                dn.unwrap_or_default()
            )));
        }
        Ok(groups)
    }

    /// Checks a password stored here.
    async fn authenticate_locally(
        &self,
        username: &str,
        password: &str,
    ) -> CoreResult<Option<User>> {
        let user = users::by_name(self.db.reader(), username).await?;
        let stored = match &user {
            Some(u) => u.password_hash.clone(),
            None => dummy_hash().await,
        };
        let ok = password::verify(password, &stored).await;
        Ok(user.filter(|_| ok))
    }

    /// Creates the first system administrator if there are no users yet.
    /// Returns the password when one was generated (to be shown once).
    pub async fn bootstrap_admin(&self, password: Option<&str>) -> CoreResult<Option<String>> {
        if users::count(self.db.reader(), &ListQuery::default()).await? > 0 {
            return Ok(None);
        }
        let (pw, generated) = match password {
            Some(p) => (p.to_string(), false),
            None => (password::generate(), true),
        };
        password::check_rule(&pw)?;
        let hash = password::hash(&pw).await?;
        let made = users::insert(
            self.db.writer(),
            &NewUser {
                username: "admin",
                email: Some("admin@example.com"),
                realname: "system admin",
                comment: "admin user",
                password_hash: &hash,
                sysadmin: true,
                now: now_millis(),
            },
        )
        .await;
        match made {
            Ok(_) => Ok(generated.then_some(pw)),
            // Another replica starting on the same database made it first.
            Err(e) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a user's password without the old one (operator recovery).
    pub async fn reset_password(&self, username: &str, new: &str) -> CoreResult<()> {
        password::check_rule(new)?;
        let user = users::by_name(self.db.reader(), username)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {username} not found")))?;
        let hash = password::hash(new).await?;
        users::set_password(self.db.writer(), user.user_id, &hash, now_millis()).await?;
        Ok(())
    }

    /// Creates a user: system administrators may; a caller who is not
    /// logged in may sign up while self-registration is on.
    pub async fn create_user(&self, ctx: &SecurityContext, req: &UserRequest) -> CoreResult<i64> {
        let signing_up =
            !ctx.is_authenticated() && self.configurations.refresh().await?.self_registration;
        let result = async {
            let mode = self.configurations.snapshot().auth_mode;
            if mode != "db_auth" && !mode.is_empty() {
                return Err(CoreError::Forbidden(format!(
                    "creating local user is not allowed under auth mode: {mode}"
                )));
            }
            if !signing_up {
                require(ctx, Action::Create, Resource::Users).await?;
            }
            self.insert_user(req).await
        }
        .await;
        // Who signs up creates themselves.
        let operator = if signing_up {
            &req.username
        } else {
            ctx.username()
        };
        let target = Target::User(&req.username);
        (self.trail).outcome(operator, Operation::Create, &target, &result);
        result
    }

    async fn insert_user(&self, req: &UserRequest) -> CoreResult<i64> {
        validate_username(&req.username)?;
        let email = req.email.as_deref().filter(|e| !e.is_empty());
        match email {
            Some(e) if valid_email(e) => {}
            Some(_) => return Err(bad_email()),
            None => return Err(CoreError::BadRequest("enter an email address".into())),
        }
        check_lengths(&req.realname, &req.comment)?;
        password::check_rule(&req.password)?;
        if users::exists(self.db.reader(), &req.username, email).await? {
            return Err(CoreError::Conflict(
                "username or email already exists".into(),
            ));
        }
        let hash = password::hash(&req.password).await?;
        let id = users::insert(
            self.db.writer(),
            &NewUser {
                username: &req.username,
                email,
                realname: &req.realname,
                comment: &req.comment,
                password_hash: &hash,
                sysadmin: false,
                now: now_millis(),
            },
        )
        .await
        .map_err(|e| CoreError::taken(e, "username or email already exists"))?;
        Ok(id)
    }

    /// A user by id: themselves, or anyone for an administrator.
    pub async fn get_user(&self, ctx: &SecurityContext, id: i64) -> CoreResult<User> {
        if ctx.user_id() != Some(id) {
            require(ctx, Action::Read, Resource::Users).await?;
        }
        users::by_id(self.db.reader(), id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {id} not found")))
    }

    /// The calling user.
    pub async fn current_user(&self, ctx: &SecurityContext) -> CoreResult<User> {
        let id = ctx.user_id().ok_or(CoreError::Unauthorized)?;
        self.get_user(ctx, id).await
    }

    /// One page of users (administrators only), with the total.
    pub async fn list_users(
        &self,
        ctx: &SecurityContext,
        filter: &Filter,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<User>, i64)> {
        let query = &filter.parse(berth_db::users::FIELDS)?;
        require(ctx, Action::List, Resource::Users).await?;
        let total = users::count(self.db.reader(), query).await?;
        let page = users::list(self.db.reader(), query, offset, limit).await?;
        Ok((page, total))
    }

    /// Whether a user has this username or email (Harbor's
    /// `/c/userExists`, for the sign-up form): while self-registration is
    /// on, or for system administrators.
    pub async fn user_exists(
        &self,
        ctx: &SecurityContext,
        target: &str,
        value: &str,
    ) -> CoreResult<bool> {
        if !self.configurations.refresh().await?.self_registration && !ctx.is_sysadmin() {
            return Err(CoreError::Precondition(
                "self registration deactivated, only sysadmin can check user existence".into(),
            ));
        }
        let db = self.db.reader();
        match target {
            "username" => Ok(users::exists(db, value, None).await?),
            // No user has an empty name, so only the email can match.
            "email" => Ok(users::exists(db, "", Some(value)).await?),
            other => Err(CoreError::BadRequest(format!(
                "target must be username or email, not {other:?}"
            ))),
        }
    }

    /// Users whose name contains `name`, for any logged-in user (Harbor's
    /// `/users/search`, used to pick members): ids and names only.
    pub async fn search_users(
        &self,
        ctx: &SecurityContext,
        name: &str,
        offset: i64,
        limit: i64,
    ) -> CoreResult<(Vec<(i64, String)>, i64)> {
        if !ctx.is_authenticated() {
            return Err(CoreError::Unauthorized);
        }
        let query = ListQuery::default().fuzzy(users::FIELDS, "username", name)?;
        let total = users::count(self.db.reader(), &query).await?;
        let page = users::list(self.db.reader(), &query, offset, limit)
            .await?
            .into_iter()
            .map(|u| (u.user_id, u.username))
            .collect();
        Ok((page, total))
    }

    /// Updates a profile (the user themselves or an administrator).
    pub async fn update_profile(
        &self,
        ctx: &SecurityContext,
        id: i64,
        email: Option<&str>,
        realname: &str,
        comment: &str,
    ) -> CoreResult<()> {
        let work = async {
            self.require_local(id).await?;
            if ctx.user_id() != Some(id) {
                require(ctx, Action::Update, Resource::Users).await?;
            }
            let email = email.filter(|e| !e.is_empty());
            if email.is_some_and(|e| !valid_email(e)) {
                return Err(bad_email());
            }
            check_lengths(realname, comment)?;
            let updated =
                users::update_profile(self.db.writer(), id, email, realname, comment, now_millis())
                    .await
                    .map_err(|e| CoreError::taken(e, "email already exists"))?;
            if !updated {
                return Err(CoreError::NotFound(format!("user {id} not found")));
            }
            Ok(())
        };
        self.audited(ctx, Operation::Update, id, work).await
    }

    /// Whether user `id`'s profile and password are kept here (so the
    /// portal offers to change them).
    pub async fn keeps_profile(&self, id: i64) -> CoreResult<bool> {
        match self.require_local(id).await {
            Ok(()) => Ok(true),
            Err(CoreError::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Refuses to change user `id` here when a directory keeps users'
    /// profiles and passwords (all but the first administrator's), as
    /// Harbor does.
    async fn require_local(&self, id: i64) -> CoreResult<()> {
        let mode = self.configurations.snapshot().auth_mode;
        if mode == "db_auth" || mode.is_empty() {
            return Ok(());
        }
        match users::first_admin(self.db.reader()).await? == Some(id) {
            true => Ok(()),
            false => Err(CoreError::Forbidden(format!(
                "User with ID {id} can't be updated"
            ))),
        }
    }

    /// Runs `work` on user `id` and records its outcome.
    async fn audited(
        &self,
        ctx: &SecurityContext,
        operation: Operation,
        id: i64,
        work: impl std::future::Future<Output = CoreResult<()>>,
    ) -> CoreResult<()> {
        let name = self.username_of(id).await;
        (self.trail)
            .audited(ctx, operation, Target::User(&name), work)
            .await
    }

    /// Changes a password: a user gives the old one; an administrator may set
    /// anyone else's without it.
    pub async fn change_password(
        &self,
        ctx: &SecurityContext,
        id: i64,
        old: Option<&str>,
        new: &str,
    ) -> CoreResult<()> {
        let work = async {
            let user = self.get_user(ctx, id).await?;
            self.require_local(id).await?;
            let own = ctx.user_id() == Some(id);
            if own {
                let old = old.unwrap_or("");
                if !password::verify(old, &user.password_hash).await {
                    return Err(CoreError::Forbidden("the old password is wrong".into()));
                }
            } else {
                require(ctx, Action::Update, Resource::Users).await?;
            }
            password::check_rule(new)?;
            if password::verify(new, &user.password_hash).await {
                return Err(CoreError::BadRequest(
                    "the new password must differ from the old one".into(),
                ));
            }
            let hash = password::hash(new).await?;
            users::set_password(self.db.writer(), id, &hash, now_millis()).await?;
            Ok(())
        };
        self.audited(ctx, Operation::Update, id, work).await
    }

    /// Deletes a user (administrators only, not themselves): memberships go,
    /// projects the user owned pass to the longest-standing administrator.
    pub async fn delete_user(&self, ctx: &SecurityContext, id: i64) -> CoreResult<()> {
        let work = async {
            require(ctx, Action::Delete, Resource::Users).await?;
            if ctx.user_id() == Some(id) {
                return Err(CoreError::Forbidden("you cannot delete yourself".into()));
            }
            let mut tx = self.db.begin().await?;
            if !users::delete(&mut tx, id).await? {
                return Err(CoreError::NotFound(format!("user {id} not found")));
            }
            berth_db::commit(tx).await?;
            Ok(())
        };
        self.audited(ctx, Operation::Delete, id, work).await
    }

    /// Grants or revokes system administration (administrators only, not on themselves).
    pub async fn set_sysadmin(
        &self,
        ctx: &SecurityContext,
        id: i64,
        admin: bool,
    ) -> CoreResult<()> {
        let work = async {
            require(ctx, Action::Update, Resource::Users).await?;
            if ctx.user_id() == Some(id) {
                return Err(CoreError::Forbidden(
                    "you cannot change your own administrator flag".into(),
                ));
            }
            if !users::set_sysadmin(self.db.writer(), id, admin, now_millis()).await? {
                return Err(CoreError::NotFound(format!("user {id} not found")));
            }
            Ok(())
        };
        self.audited(ctx, Operation::Update, id, work).await
    }
}

/// The directory could not answer an administrator's request: the
/// settings they gave are what to fix, so the reason is theirs to read.
fn ldap_unavailable(e: ldap::Unavailable) -> CoreError {
    CoreError::BadRequest(format!("LDAP: {e}"))
}

pub(crate) async fn dummy_hash() -> String {
    if let Some(h) = DUMMY_HASH.get() {
        return h.clone();
    }
    let h = password::hash("not-a-real-password-1A")
        .await
        .unwrap_or_default();
    DUMMY_HASH.get_or_init(|| h).clone()
}

fn bad_email() -> CoreError {
    CoreError::BadRequest("enter an email address such as name@example.com".into())
}

/// Harbor's limits on a user's full name and comment.
fn check_lengths(realname: &str, comment: &str) -> CoreResult<()> {
    if realname.chars().count() > 255 {
        return Err(CoreError::BadRequest(
            "the full name may be at most 255 characters".into(),
        ));
    }
    if comment.chars().count() > 30_000 {
        return Err(CoreError::BadRequest(
            "the comment may be at most 30,000 characters".into(),
        ));
    }
    Ok(())
}

/// Harbor's username rule: 1–255 characters, none of `,"~#%$` or control characters.
fn validate_username(name: &str) -> CoreResult<()> {
    let bad = name.is_empty()
        || name.chars().count() > 255
        || name.starts_with("robot$")
        || name
            .chars()
            .any(|c| c.is_control() || ",\"~#%$".contains(c));
    if bad {
        Err(CoreError::BadRequest(
            "username must be 1 to 255 characters without any of ,\"~#%$".into(),
        ))
    } else {
        Ok(())
    }
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.contains(char::is_whitespace)
        && e.len() <= 255
}
