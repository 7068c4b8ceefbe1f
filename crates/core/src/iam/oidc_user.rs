//! Users of an OpenID Connect provider (`auth_mode` `oidc_auth`): the
//! browser sign-in through the provider, on-boarding, and the CLI secret
//! that stands in for a password while the provider still refreshes the
//! user's tokens, as Harbor's OIDC controller and secret manager do.

use super::oidc::{Identity, OidcError, OidcSettings, Provider, Tokens};
use super::rbac::{require, Action, Resource};
use super::{random_token, token_hash, validate_username, Iam, SecurityContext, User};
use crate::error::{CoreError, CoreResult};
use crate::notify::trail::{Operation, Target};
use berth_db::{now_millis, oidc, usergroups, users};
use serde::{Deserialize, Serialize};

/// How long a browser has to come back from the provider, or to choose a
/// username.
const LOGIN_MS: i64 = 10 * 60 * 1000;
/// The comment on-boarded users get (Harbor's).
const ONBOARDED: &str = "Onboarded via OIDC provider";

/// A sign-in with the provider in progress (stored sealed).
#[derive(Serialize, Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
    /// Where the browser goes once signed in.
    redirect: String,
    /// This server's callback URL, as the provider was given it.
    callback: String,
    /// Once the provider has signed the user in but they have no username
    /// here yet: their tokens and identity.
    #[serde(default)]
    signed: Option<(Tokens, Identity)>,
}

impl Pending {
    /// Where the browser goes once signed in (the projects when it did
    /// not say).
    fn landing(&self) -> String {
        match self.redirect.as_str() {
            "" => "/harbor/projects".to_string(),
            r => r.to_string(),
        }
    }
}

/// Where to send a browser to sign in with the provider, and the state
/// that its cookie must hold when it comes back.
pub struct OidcStart {
    pub url: String,
    pub state: String,
}

/// What the provider's answer led to.
pub enum OidcSignIn {
    /// A user signed in; the browser goes to `redirect`.
    Done {
        ctx: SecurityContext,
        redirect: String,
    },
    /// The user is new and chooses a username first (`username` suggested);
    /// the browser's cookie now holds `key`.
    Onboard {
        key: String,
        username: String,
        redirect: String,
    },
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    #[serde(default)]
    pub state: String,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A user's OIDC record as the API shows it to them (Harbor's
/// `OIDCUserInfo`): the CLI secret in the clear.
#[derive(Debug, Clone)]
pub struct OidcUserMeta {
    pub id: i64,
    pub user_id: i64,
    pub subiss: String,
    pub secret: String,
    pub creation_time: i64,
    pub update_time: i64,
}

fn refused(e: OidcError) -> CoreError {
    match e {
        OidcError::Refused(why) => CoreError::BadRequest(why),
        OidcError::Unavailable(why) => {
            CoreError::SignInUnavailable(format!("the OIDC provider did not answer: {why}"))
        }
    }
}

/// Harbor's rule for CLI secrets (and passwords set through its API).
fn check_secret(s: &str) -> CoreResult<()> {
    let ok = (8..=128).contains(&s.len())
        && s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_digit());
    match ok {
        true => Ok(()),
        false => Err(CoreError::BadRequest(
            "the password or secret must be 8-128, inclusively, characters long with at least \
             1 uppercase letter, 1 lowercase letter and 1 number"
                .into(),
        )),
    }
}

/// A random CLI secret that meets Harbor's rule.
fn new_secret() -> String {
    loop {
        let s: String = random_token()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let s = &s[..s.len().min(32)];
        if check_secret(s).is_ok() {
            return s.to_string();
        }
    }
}

/// Whether `path` stays on this site: a path, not `//host` or a URL, and
/// nothing a browser drops before reading it (`/\t/host` is `//host`).
fn local_path(path: &str) -> bool {
    let odd = |c: char| c == '\\' || c.is_control() || c.is_whitespace();
    path.is_empty() || (path.starts_with('/') && !path.starts_with("//") && !path.contains(odd))
}

impl Iam {
    /// The provider of the OIDC settings; only in OIDC mode.
    async fn oidc_provider(&self) -> CoreResult<Provider> {
        let mode = self.configurations.refresh().await?.auth_mode;
        if mode != "oidc_auth" {
            return Err(CoreError::Precondition(format!(
                "auth mode: {mode} is not OIDC based"
            )));
        }
        let settings = OidcSettings::from_values(&self.configurations.current().await?);
        self.oidc.provider(settings).await.map_err(refused)
    }

    fn seal<T: Serialize>(&self, value: &T) -> CoreResult<String> {
        let json = serde_json::to_string(value).map_err(|e| CoreError::Internal(e.to_string()))?;
        self.configurations.secrets()?.seal(&json)
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, sealed: &str) -> CoreResult<T> {
        let json = self.configurations.secrets()?.open(sealed)?;
        serde_json::from_str(&json).map_err(|e| CoreError::Internal(e.to_string()))
    }

    async fn put_pending(&self, key: &str, pending: &Pending) -> CoreResult<()> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        oidc::put_login(
            &mut tx,
            &token_hash(key),
            &self.seal(pending)?,
            now + LOGIN_MS,
            now,
        )
        .await?;
        berth_db::commit(tx).await?;
        Ok(())
    }

    /// Starts a browser sign-in: the provider's authorization URL for
    /// `callback` (this server's), returning to the local `redirect`.
    pub async fn oidc_login(&self, callback: &str, redirect: &str) -> CoreResult<OidcStart> {
        let provider = self.oidc_provider().await?;
        if !local_path(redirect) {
            return Err(CoreError::BadRequest(
                "cannot redirect to other site".into(),
            ));
        }
        let (state, pending) = (
            random_token(),
            Pending {
                verifier: random_token(),
                nonce: random_token(),
                redirect: redirect.to_string(),
                callback: callback.to_string(),
                signed: None,
            },
        );
        let url = provider
            .authorization_url(callback, &state, &pending.nonce, &pending.verifier)
            .map_err(refused)?;
        self.put_pending(&state, &pending).await?;
        Ok(OidcStart { url, state })
    }

    /// Finishes a browser sign-in when the provider sends it back: the
    /// state must be the one this browser's cookie holds.
    pub async fn oidc_callback(
        &self,
        cookie: Option<&str>,
        answer: &Callback,
    ) -> CoreResult<OidcSignIn> {
        let provider = self.oidc_provider().await?;
        let mismatch = || CoreError::BadRequest("State mismatch".into());
        let state = answer.state.as_str();
        if !cookie.is_some_and(|c| super::constant_time_eq(c.as_bytes(), state.as_bytes())) {
            return Err(mismatch());
        }
        let key = token_hash(state);
        let sealed =
            (oidc::login(self.db.reader(), &key, now_millis()).await?).ok_or_else(mismatch)?;
        // Each state is used once.
        if !oidc::take_login(self.db.writer(), &key).await? {
            return Err(mismatch());
        }
        let pending: Pending = self.open(&sealed)?;
        if let Some(error) = &answer.error {
            return Err(CoreError::BadRequest(format!(
                "OIDC callback returned error: {error} - {}",
                answer.error_description.as_deref().unwrap_or("")
            )));
        }
        let code = answer.code.as_deref().unwrap_or("");
        let now = now_millis();
        let tokens = (provider
            .exchange(code, &pending.verifier, &pending.callback, now)
            .await)
            .map_err(refused)?;
        let identity =
            (provider.identity(&tokens, true, Some(&pending.nonce)).await).map_err(refused)?;
        let redirect = pending.landing();
        let known = oidc::by_subiss(self.db.reader(), &identity.subiss()).await?;
        let user = match known {
            Some(record) => {
                oidc::set_token(self.db.writer(), record.user_id, &self.seal(&tokens)?, now)
                    .await?;
                users::by_id(self.db.reader(), record.user_id)
                    .await?
                    .ok_or_else(|| CoreError::Internal("an OIDC user without a user".into()))?
            }
            None if provider.settings.auto_onboard => {
                if identity.username.is_empty() {
                    return Err(CoreError::Internal(format!(
                        "unable to recover username for auto onboard, username claim: {}",
                        provider.settings.user_claim
                    )));
                }
                self.onboard_oidc(&identity.username, &tokens, &identity)
                    .await?
            }
            None => {
                let key = random_token();
                let username = identity.username.clone();
                let pending = Pending {
                    signed: Some((tokens, identity)),
                    ..pending
                };
                self.put_pending(&key, &pending).await?;
                return Ok(OidcSignIn::Onboard {
                    key,
                    username,
                    redirect,
                });
            }
        };
        let ctx = self.signed_in_oidc(user, &identity).await?;
        Ok(OidcSignIn::Done { ctx, redirect })
    }

    /// On-boards the user of a sign-in waiting for a username (the
    /// browser's cookie holds `key`); returns their context and where the
    /// browser goes.
    pub async fn oidc_onboard(
        &self,
        key: Option<&str>,
        username: &str,
    ) -> CoreResult<(SecurityContext, String)> {
        self.oidc_provider().await?;
        if username.is_empty() || username.chars().count() > 255 {
            return Err(CoreError::BadRequest("username with illegal length".into()));
        }
        validate_username(username)?;
        let missing = || CoreError::BadRequest("Failed to get OIDC user info from session".into());
        let hash = token_hash(key.ok_or_else(missing)?);
        let sealed =
            (oidc::login(self.db.reader(), &hash, now_millis()).await?).ok_or_else(missing)?;
        let pending: Pending = self.open(&sealed)?;
        let redirect = pending.landing();
        let (tokens, identity) = pending.signed.ok_or_else(missing)?;
        let user = self.onboard_oidc(username, &tokens, &identity).await?;
        oidc::take_login(self.db.writer(), &hash).await?;
        Ok((self.signed_in_oidc(user, &identity).await?, redirect))
    }

    /// Creates the user of a provider's identity with a fresh CLI secret.
    async fn onboard_oidc(
        &self,
        username: &str,
        tokens: &Tokens,
        identity: &Identity,
    ) -> CoreResult<User> {
        let taken = || CoreError::Conflict(format!("username {username} already exists"));
        if users::exists(self.db.reader(), username, None).await? {
            return Err(taken());
        }
        let (secret, token) = (self.seal(&new_secret())?, self.seal(tokens)?);
        let email = Some(identity.email.as_str()).filter(|e| super::valid_email(e));
        let now = now_millis();
        let id = match self
            .add_external_user(username, email, username, ONBOARDED)
            .await
        {
            Err(CoreError::Db(e)) if e.is_unique_violation() => return Err(taken()),
            other => other?,
        };
        let mut tx = self.db.begin().await?;
        let recorded = oidc::insert(&mut tx, id, &identity.subiss(), &secret, &token, now).await;
        if let Err(e) = recorded {
            drop(tx);
            // The provider's user was on-boarded by a concurrent sign-in.
            let mut undo = self.db.begin().await?;
            users::delete(&mut undo, id).await?;
            berth_db::commit(undo).await?;
            return Err(CoreError::taken(e, "this OIDC user is on-boarded already"));
        }
        berth_db::commit(tx).await?;
        (users::by_id(self.db.reader(), id).await?)
            .ok_or_else(|| CoreError::Internal(format!("on-boarding {username}")))
    }

    /// Records a provider's sign-in: the user's groups and admin role as
    /// the provider now says, and the login on the audit trail.
    async fn signed_in_oidc(&self, user: User, identity: &Identity) -> CoreResult<SecurityContext> {
        let user = self.remember_oidc_groups(user, identity).await?;
        let name = &user.username;
        (self.trail).record(name, Operation::Login, &Target::User(name), true);
        Ok(self.context_for(&user))
    }

    async fn remember_oidc_groups(&self, user: User, identity: &Identity) -> CoreResult<User> {
        let mut ids = Vec::new();
        for g in &identity.groups {
            ids.push(self.ensure_group(usergroups::OIDC, g, "").await?);
        }
        let mut tx = self.db.begin().await?;
        usergroups::set_of_user(&mut tx, user.user_id, &ids, identity.admin).await?;
        berth_db::commit(tx).await?;
        Ok(User {
            admin_role_in_auth: identity.admin,
            ..user
        })
    }

    /// Checks an OIDC user's CLI secret: it must match, and the provider
    /// must still vouch for the user (expired tokens are refreshed; a
    /// refused refresh fails the sign-in). The groups and admin role
    /// follow what the provider says now.
    pub(super) async fn authenticate_cli_secret(
        &self,
        username: &str,
        secret: &str,
    ) -> CoreResult<Option<User>> {
        let Some(record) = oidc::by_username(self.db.reader(), username).await? else {
            return Ok(None);
        };
        let stored = self.configurations.secrets()?.open(&record.secret)?;
        if !super::constant_time_eq(stored.as_bytes(), secret.as_bytes()) {
            return Ok(None);
        }
        let provider = self.oidc_provider().await?;
        let mut tokens: Tokens = self.open(&record.token)?;
        let now = now_millis();
        if !tokens.valid(now) {
            tokens = match provider.refresh(&tokens, now).await {
                Ok(t) => t,
                Err(OidcError::Refused(why)) => {
                    tracing::info!(username, why, "OIDC refresh refused: CLI secret rejected");
                    return Ok(None);
                }
                Err(e) => return Err(refused(e)),
            };
            oidc::set_token(self.db.writer(), record.user_id, &self.seal(&tokens)?, now).await?;
        }
        let identity = match provider.identity(&tokens, false, None).await {
            Ok(i) if i.subiss() == record.subiss => i,
            Ok(_) => return Ok(None),
            Err(OidcError::Refused(why)) => {
                tracing::info!(username, why, "OIDC token refused: CLI secret rejected");
                return Ok(None);
            }
            Err(e) => return Err(refused(e)),
        };
        let Some(user) = users::by_id(self.db.reader(), record.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(self.remember_oidc_groups(user, &identity).await?))
    }

    /// Sets a user's CLI secret (themselves or an administrator; only in
    /// OIDC mode); an empty secret is replaced by a random one.
    pub async fn set_cli_secret(
        &self,
        ctx: &SecurityContext,
        id: i64,
        secret: &str,
    ) -> CoreResult<()> {
        let work = async {
            let mode = self.configurations.refresh().await?.auth_mode;
            if mode != "oidc_auth" {
                return Err(CoreError::Precondition(format!(
                    "unable to update CLI secret under authmode: {mode}"
                )));
            }
            if ctx.user_id() != Some(id) {
                require(ctx, Action::Update, Resource::Users).await?;
            }
            let secret = match secret {
                "" => new_secret(),
                s => s.to_string(),
            };
            check_secret(&secret)?;
            let sealed = self.configurations.secrets()?.seal(&secret)?;
            if !oidc::set_secret(self.db.writer(), id, &sealed, now_millis()).await? {
                return Err(CoreError::NotFound(format!(
                    "oidc info for user {id} not found"
                )));
            }
            Ok(())
        };
        self.audited(ctx, Operation::Update, id, work).await
    }

    /// A user's OIDC record with the CLI secret opened, for themselves or
    /// an administrator (none for users the provider does not sign in).
    pub async fn oidc_user_meta(
        &self,
        ctx: &SecurityContext,
        id: i64,
    ) -> CoreResult<Option<OidcUserMeta>> {
        if ctx.user_id() != Some(id) {
            require(ctx, Action::Read, Resource::Users).await?;
        }
        let Some(r) = oidc::by_user(self.db.reader(), id).await? else {
            return Ok(None);
        };
        Ok(Some(OidcUserMeta {
            secret: self.configurations.secrets()?.open(&r.secret)?,
            id: r.id,
            user_id: r.user_id,
            subiss: r.subiss,
            creation_time: r.creation_time,
            update_time: r.update_time,
        }))
    }

    /// Where a browser signing out of an OIDC user's session goes to sign
    /// out at the provider too (when `oidc_logout` is set and the provider
    /// has an end-session endpoint), returning to `after`.
    pub async fn oidc_logout_url(&self, user_id: i64, after: &str) -> CoreResult<Option<String>> {
        let Ok(provider) = self.oidc_provider().await else {
            return Ok(None);
        };
        let end = provider.discovery().end_session_endpoint.clone();
        let (Some(end), true) = (end, provider.settings.logout) else {
            return Ok(None);
        };
        let Some(record) = oidc::by_user(self.db.reader(), user_id).await? else {
            return Ok(None);
        };
        let tokens: Tokens = self.open(&record.token)?;
        let mut url = reqwest::Url::parse(&end).map_err(|e| CoreError::Internal(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", &tokens.id_token)
            .append_pair("post_logout_redirect_uri", after);
        Ok(Some(url.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        for ok in ["", "/harbor/projects", "/c/x?y=1"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.test",
            "/\\evil.test",
            "/\t/evil.test",
            "https://evil.test",
            "harbor",
        ] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn random_secrets_meet_the_rule() {
        for _ in 0..100 {
            assert!(check_secret(&new_secret()).is_ok());
        }
    }
}
