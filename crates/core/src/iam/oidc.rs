//! OpenID Connect, as Harbor's OIDC authenticator uses a provider: the
//! discovery document, the authorization-code flow with PKCE and a nonce,
//! ID token verification against the provider's keys, the userinfo
//! endpoint, and refreshing the tokens that keep a CLI secret valid.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a provider has to answer.
const WITHIN: Duration = Duration::from_secs(10);
/// How long a provider's discovery document and keys are reused.
const CACHED_FOR: Duration = Duration::from_secs(300);
/// An access token this close to its expiry counts as expired (as Go's
/// oauth2 package, which Harbor uses, reckons).
const EXPIRY_MARGIN_MS: i64 = 10_000;

/// What a provider's discovery document names.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// The OIDC settings of `/configurations`, secrets opened.
#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    pub name: String,
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub groups_claim: String,
    pub admin_group: String,
    /// A regular expression group names must match to be kept.
    pub group_filter: String,
    /// The claim that names a user (else `name`).
    pub user_claim: String,
    pub auto_onboard: bool,
    pub verify_cert: bool,
    /// Further parameters of the authorization request.
    pub extra_redirect_parms: BTreeMap<String, String>,
    /// Whether signing out also signs out at the provider.
    pub logout: bool,
}

impl OidcSettings {
    /// The settings from `/configurations`' values.
    pub fn from_values(v: &BTreeMap<&'static str, String>) -> Self {
        let get = |k: &str| v.get(k).cloned().unwrap_or_default();
        let mut scopes: Vec<String> = get("oidc_scope")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        // Without it the provider would not speak OpenID Connect.
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        OidcSettings {
            name: get("oidc_name"),
            endpoint: get("oidc_endpoint").trim_end_matches('/').to_string(),
            client_id: get("oidc_client_id"),
            client_secret: get("oidc_client_secret"),
            scopes,
            groups_claim: get("oidc_groups_claim"),
            admin_group: get("oidc_admin_group"),
            group_filter: get("oidc_group_filter"),
            user_claim: get("oidc_user_claim"),
            auto_onboard: get("oidc_auto_onboard") == "true",
            verify_cert: get("oidc_verify_cert") != "false",
            extra_redirect_parms: serde_json::from_str(&get("oidc_extra_redirect_parms"))
                .unwrap_or_default(),
            logout: get("oidc_logout") == "true",
        }
    }
}

/// The tokens a provider issued for a user (kept sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The last ID token the provider issued.
    pub id_token: String,
    /// When the access token expires (Unix milliseconds), if it does.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl Tokens {
    /// Whether the access token is still good to use.
    pub fn valid(&self, now: i64) -> bool {
        !self.access_token.is_empty() && self.expires_at.is_none_or(|e| now < e - EXPIRY_MARGIN_MS)
    }
}

/// Who the provider says a user is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    pub issuer: String,
    /// The suggested username (blanks made underscores); may be empty.
    pub username: String,
    pub email: String,
    /// The groups claim, filtered by the group filter.
    pub groups: Vec<String>,
    /// Whether the groups include the admin group.
    pub admin: bool,
}

impl Identity {
    /// The key of the provider's user (Harbor's `subiss`).
    pub fn subiss(&self) -> String {
        format!("{}{}", self.subject, self.issuer)
    }
}

/// Why the provider did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("{0}")]
    Unavailable(String),
    /// The provider refused (a bad code, a revoked grant, a bad token).
    #[error("{0}")]
    Refused(String),
}

fn unavailable(e: impl std::fmt::Display) -> OidcError {
    OidcError::Unavailable(e.to_string())
}

/// A provider's discovery document and keys, as fetched.
struct Fetched {
    key: (String, bool),
    discovery: Arc<Discovery>,
    keys: Arc<JwkSet>,
    at: Instant,
}

/// Discovery documents and keys, reused for a few minutes (refetched at
/// once when a token names a key not among them).
#[derive(Default, Clone)]
pub struct ProviderCache(Arc<Mutex<Option<Arc<Fetched>>>>);

fn http(verify_cert: bool) -> Result<reqwest::Client, OidcError> {
    reqwest::Client::builder()
        .timeout(WITHIN)
        .danger_accept_invalid_certs(!verify_cert)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unavailable)
}

/// Reads the discovery document of the provider at `url` (its issuer):
/// it must answer, name the endpoints a sign-in needs, and name itself as
/// that issuer (as OpenID Connect Discovery requires).
pub async fn discover(url: &str, verify_cert: bool) -> Result<Discovery, String> {
    let issuer = url.trim_end_matches('/');
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(format!("{url} is not an http(s) URL"));
    }
    let http = http(verify_cert).map_err(|e| e.to_string())?;
    let at = format!("{issuer}/.well-known/openid-configuration");
    let res = http.get(&at).send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("GET {at}: {}", res.status()));
    }
    let found: Discovery = res.json().await.map_err(|e| format!("{at}: {e}"))?;
    if found.issuer.trim_end_matches('/') != issuer {
        return Err(format!(
            "the provider names its issuer {}, not {issuer}",
            found.issuer
        ));
    }
    Ok(found)
}

/// A provider ready to use with some settings.
pub struct Provider {
    pub settings: OidcSettings,
    fetched: Arc<Fetched>,
    cache: ProviderCache,
    http: reqwest::Client,
}

/// What a token endpoint answers.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl ProviderCache {
    /// The provider the settings name, its discovery document and keys
    /// fetched unless fetched lately.
    pub async fn provider(&self, settings: OidcSettings) -> Result<Provider, OidcError> {
        if settings.endpoint.is_empty() || settings.client_id.is_empty() {
            return Err(OidcError::Unavailable(
                "the OIDC endpoint and client ID are not configured".into(),
            ));
        }
        let key = (settings.endpoint.clone(), settings.verify_cert);
        let cached = crate::lock(&self.0)
            .clone()
            .filter(|f| f.key == key && f.at.elapsed() < CACHED_FOR);
        let fetched = match cached {
            Some(f) => f,
            None => self.fetch(key).await?,
        };
        Ok(Provider {
            http: http(settings.verify_cert)?,
            settings,
            fetched,
            cache: self.clone(),
        })
    }

    async fn fetch(&self, key: (String, bool)) -> Result<Arc<Fetched>, OidcError> {
        let discovery = discover(&key.0, key.1)
            .await
            .map_err(OidcError::Unavailable)?;
        let res = (http(key.1)?.get(&discovery.jwks_uri).send().await).map_err(unavailable)?;
        if !res.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "GET {}: {}",
                discovery.jwks_uri,
                res.status()
            )));
        }
        let keys: JwkSet = res.json().await.map_err(unavailable)?;
        let fetched = Arc::new(Fetched {
            key,
            discovery: Arc::new(discovery),
            keys: Arc::new(keys),
            at: Instant::now(),
        });
        *crate::lock(&self.0) = Some(fetched.clone());
        Ok(fetched)
    }
}

/// The PKCE challenge of a verifier (S256).
fn challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl Provider {
    /// The provider's endpoints.
    pub fn discovery(&self) -> &Discovery {
        &self.fetched.discovery
    }

    /// Where to send a browser to sign in.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, OidcError> {
        let s = &self.settings;
        let mut url = reqwest::Url::parse(&self.discovery().authorization_endpoint)
            .map_err(|e| OidcError::Unavailable(format!("authorization endpoint: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &s.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &s.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", &challenge(verifier))
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &s.extra_redirect_parms {
                q.append_pair(k, v);
            }
        }
        Ok(url.into())
    }

    /// Trades an authorization code for tokens.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Result<Tokens, OidcError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let got = self.token_request(&form, now).await?;
        if got.id_token.is_empty() {
            return Err(OidcError::Refused(
                "the provider returned no ID token".into(),
            ));
        }
        Ok(got)
    }

    /// New tokens for expired ones, by the refresh token; the last ID
    /// token stays when the provider sends no new one.
    pub async fn refresh(&self, old: &Tokens, now: i64) -> Result<Tokens, OidcError> {
        let Some(refresh) = old.refresh_token.as_deref().filter(|r| !r.is_empty()) else {
            return Err(OidcError::Refused(
                "the token has expired and there is no refresh token".into(),
            ));
        };
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let mut got = self.token_request(&form, now).await?;
        if got.id_token.is_empty() {
            got.id_token = old.id_token.clone();
        }
        if got.refresh_token.is_none() {
            got.refresh_token = old.refresh_token.clone();
        }
        Ok(got)
    }

    async fn token_request(&self, form: &[(&str, &str)], now: i64) -> Result<Tokens, OidcError> {
        let s = &self.settings;
        let res = self
            .http
            .post(&self.discovery().token_endpoint)
            .basic_auth(
                form_escape(&s.client_id),
                Some(form_escape(&s.client_secret)),
            )
            .form(form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = res.status();
        let body = res.bytes().await.map_err(unavailable)?;
        if !status.is_success() {
            let why: Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| why.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let message = format!(
                "the token endpoint answered {status}: {} {}",
                text("error"),
                text("error_description")
            );
            return Err(match status.is_client_error() {
                true => OidcError::Refused(message.trim().to_string()),
                false => OidcError::Unavailable(message.trim().to_string()),
            });
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        Ok(Tokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            id_token: t.id_token.unwrap_or_default(),
            expires_at: t.expires_in.map(|s| now + s * 1000),
        })
    }

    /// The claims of an ID token signed by the provider for this client;
    /// its expiry is checked only for a fresh sign-in (`fresh`), and its
    /// nonce when one is given.
    async fn id_claims(
        &self,
        raw: &str,
        fresh: bool,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let refused = |e: &dyn std::fmt::Display| OidcError::Refused(format!("ID token: {e}"));
        let header = jsonwebtoken::decode_header(raw).map_err(|e| refused(&e))?;
        // Only the provider's published keys sign: never a shared secret,
        // which would let a public key be used as one.
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(refused(&format!(
                "{:?} is not a public-key signature",
                header.alg
            )));
        }
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None => keys.keys.first().cloned(),
        };
        let jwk = match find(&self.fetched.keys) {
            Some(k) => k,
            // The provider may have rotated its keys since they were read.
            None => find(&self.cache.fetch(self.fetched.key.clone()).await?.keys)
                .ok_or_else(|| refused(&"signed with a key the provider does not publish"))?,
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| refused(&e))?;
        let mut v = Validation::new(header.alg);
        v.set_audience(&[&self.settings.client_id]);
        v.set_issuer(&[&self.discovery().issuer]);
        v.validate_exp = fresh;
        v.required_spec_claims = ["sub", "iss", "aud"].map(String::from).into();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(raw, &key, &v)
            .map_err(|e| refused(&e))?
            .claims;
        if let Some(nonce) = nonce {
            let given = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
            if !super::constant_time_eq(given.as_bytes(), nonce.as_bytes()) {
                return Err(refused(&"nonce mismatch"));
            }
        }
        Ok(claims)
    }

    /// The userinfo endpoint's claims for an access token (none when the
    /// provider has no such endpoint or it fails, as Harbor falls back).
    async fn userinfo(&self, access_token: &str) -> Option<Map<String, Value>> {
        let at = self.discovery().userinfo_endpoint.as_deref()?;
        let res = self.http.get(at).bearer_auth(access_token).send().await;
        match res {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            Ok(r) => {
                tracing::warn!(status = %r.status(), "OIDC userinfo endpoint refused");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "OIDC userinfo endpoint failed");
                None
            }
        }
    }

    /// Who the tokens belong to: the ID token's claims, completed by the
    /// userinfo endpoint's (whose subject must be the same).
    pub async fn identity(
        &self,
        tokens: &Tokens,
        fresh: bool,
        nonce: Option<&str>,
    ) -> Result<Identity, OidcError> {
        let id = self.id_claims(&tokens.id_token, fresh, nonce).await?;
        let text = |m: &Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
        };
        let mut claims = id.clone();
        if let Some(remote) = self.userinfo(&tokens.access_token).await {
            if text(&remote, "sub") != text(&id, "sub") {
                return Err(OidcError::Refused(
                    "the userinfo endpoint names another subject than the ID token".into(),
                ));
            }
            for (k, v) in remote {
                if k != "iss" {
                    claims.insert(k, v);
                }
            }
        }
        let s = &self.settings;
        // The configured username claim (the ID token's first, as in
        // Harbor), else the name.
        let claim = |k: &str| {
            [&id, &claims]
                .into_iter()
                .map(|m| text(m, k))
                .find(|v| !v.is_empty())
                .unwrap_or_default()
        };
        let username = Some(claim(&s.user_claim))
            .filter(|n| !s.user_claim.is_empty() && !n.is_empty())
            .unwrap_or_else(|| text(&claims, "name"));
        let groups = group_names(claims.get(&s.groups_claim), &s.group_filter);
        Ok(Identity {
            subject: text(&id, "sub"),
            issuer: text(&id, "iss"),
            username: username.replace(' ', "_"),
            email: text(&claims, "email"),
            admin: !s.admin_group.is_empty() && groups.contains(&s.admin_group),
            groups,
        })
    }
}

/// The group names of a groups claim (a list, or one name), kept when
/// they match the filter (all of them when it is empty or invalid).
fn group_names(claim: Option<&Value>, filter: &str) -> Vec<String> {
    let names: Vec<String> = match claim {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    match regex::Regex::new(filter) {
        Ok(re) if !filter.is_empty() => names.into_iter().filter(|n| re.is_match(n)).collect(),
        Ok(_) => names,
        Err(e) => {
            tracing::warn!(filter, error = %e, "the OIDC group filter is not a valid regular expression");
            names
        }
    }
}

/// Client credentials in HTTP basic authentication are form-encoded first
/// (RFC 6749, section 2.3.1).
fn form_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claims_are_lists_or_one_name_and_are_filtered() {
        let list = serde_json::json!(["devs", "qa", 3]);
        assert_eq!(group_names(Some(&list), ""), ["devs", "qa"]);
        assert_eq!(group_names(Some(&list), "^d"), ["devs"]);
        assert_eq!(group_names(Some(&serde_json::json!("ops")), ""), ["ops"]);
        assert!(group_names(None, "").is_empty());
    }

    #[test]
    fn tokens_expire_ten_seconds_early() {
        let t = |expires_at| Tokens {
            access_token: "a".into(),
            refresh_token: None,
            id_token: String::new(),
            expires_at,
        };
        assert!(t(None).valid(0));
        assert!(t(Some(20_000)).valid(9_999));
        assert!(!t(Some(20_000)).valid(10_000));
    }
}
