//! Cloud Foundry UAA (`auth_mode` `uaa_auth`), as Harbor's UAA
//! authenticator: the server checks a user's password by the OAuth2
//! password grant, and its userinfo endpoint gives the name and email.

use super::{Iam, User};
use crate::error::{CoreError, CoreResult};
use berth_db::{now_millis, users};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the server has to answer.
const WITHIN: Duration = Duration::from_secs(10);
/// The comment on-boarded users get (Harbor's).
const ONBOARDED: &str = "From UAA";

/// The UAA settings of `/configurations`, secret opened.
#[derive(Debug, Clone, Default)]
pub struct UaaSettings {
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    pub verify_cert: bool,
}

impl UaaSettings {
    /// The settings from `/configurations`' values.
    pub fn from_values(v: &BTreeMap<&'static str, String>) -> Self {
        let get = |k: &str| v.get(k).cloned().unwrap_or_default();
        UaaSettings {
            endpoint: get("uaa_endpoint").trim_end_matches('/').to_string(),
            client_id: get("uaa_client_id"),
            client_secret: get("uaa_client_secret"),
            verify_cert: get("uaa_verify_cert") != "false",
        }
    }
}

/// What UAA's userinfo endpoint says of a user.
#[derive(Debug, Default, Deserialize)]
struct UserInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// The server could not be asked.
fn unavailable(e: impl std::fmt::Display) -> CoreError {
    tracing::warn!(error = %e, "UAA sign-in could not be checked");
    CoreError::SignInUnavailable(
        "the UAA server could not check these credentials; try again later".into(),
    )
}

/// Whether UAA accepts the password: the name and email its userinfo
/// endpoint gives (empty when it does not answer), or `None`.
async fn password_grant(
    s: &UaaSettings,
    username: &str,
    password: &str,
) -> CoreResult<Option<UserInfo>> {
    if s.endpoint.is_empty() || password.is_empty() {
        return Ok(None);
    }
    let http = reqwest::Client::builder()
        .timeout(WITHIN)
        .danger_accept_invalid_certs(!s.verify_cert)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unavailable)?;
    let res = http
        .post(format!("{}/oauth/token", s.endpoint))
        .basic_auth(&s.client_id, Some(&s.client_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .map_err(unavailable)?;
    match res.status() {
        st if st.is_success() => {}
        st if st.is_client_error() => {
            tracing::info!(username, status = %st, "UAA refused a password grant");
            return Ok(None);
        }
        st => return Err(unavailable(format!("the token endpoint answered {st}"))),
    }
    let token: TokenResponse = res.json().await.map_err(unavailable)?;
    let info = http
        .get(format!("{}/userinfo", s.endpoint))
        .bearer_auth(&token.access_token)
        .send()
        .await;
    let info = match info {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        Ok(r) => {
            tracing::warn!(status = %r.status(), "UAA userinfo refused");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "UAA userinfo failed");
            None
        }
    };
    Ok(Some(info.unwrap_or_default()))
}

impl Iam {
    /// Signs a user in through UAA: on-boarded on their first sign-in,
    /// their name and email following UAA's on the next ones.
    pub(super) async fn authenticate_uaa(
        &self,
        username: &str,
        password: &str,
    ) -> CoreResult<Option<User>> {
        let settings = UaaSettings::from_values(&self.configurations.current().await?);
        let Some(info) = password_grant(&settings, username, password).await? else {
            return Ok(None);
        };
        let realname = match info.name.is_empty() {
            true => username,
            false => info.name.as_str(),
        };
        let email = [info.email.as_str(), username]
            .into_iter()
            .find(|e| super::valid_email(e));
        let now = now_millis();
        match users::by_name(self.db.reader(), username).await? {
            Some(u) => {
                // An email another user has is kept as it was.
                let email = email.or(u.email.as_deref());
                let updated = users::update_profile(
                    self.db.writer(),
                    u.user_id,
                    email,
                    realname,
                    &u.comment,
                    now,
                )
                .await;
                if let Err(e) = updated {
                    tracing::warn!(username, error = %e, "updating a UAA user's profile");
                }
            }
            None => {
                let added = self.add_external_user(username, email, realname, ONBOARDED);
                // A name on-boarded by a concurrent sign-in is that user.
                match added.await {
                    Err(CoreError::Db(e)) if e.is_unique_violation() => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(users::by_name(self.db.reader(), username).await?)
    }
}
