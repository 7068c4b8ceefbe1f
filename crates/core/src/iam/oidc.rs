//! OpenID Connect, as Harbor's OIDC authenticator uses a provider. So far
//! the provider's discovery document, which `/system/oidc/ping` checks.

use serde::Deserialize;
use std::time::Duration;

/// How long a provider has to answer.
const WITHIN: Duration = Duration::from_secs(10);

/// What a provider's discovery document must name.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Reads the discovery document of the provider at `url` (its issuer):
/// it must answer, name the endpoints a sign-in needs, and name itself as
/// that issuer (as OpenID Connect Discovery requires).
pub async fn discover(url: &str, verify_cert: bool) -> Result<Discovery, String> {
    let issuer = url.trim_end_matches('/');
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(format!("{url} is not an http(s) URL"));
    }
    let http = reqwest::Client::builder()
        .timeout(WITHIN)
        .danger_accept_invalid_certs(!verify_cert)
        .build()
        .map_err(|e| e.to_string())?;
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
