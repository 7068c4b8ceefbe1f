//! OpenID Connect against a real provider (the npm `oidc-provider`
//! package) on loopback: so far `/system/oidc/ping`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::oidc::OidcProvider;
use common::*;
use reqwest::Method;
use serde_json::json;

/// The ping reads the provider's discovery document: a provider that
/// answers as its issuer passes; another name for it, a port with
/// nothing behind it or a URL that is not one fail with Harbor's
/// message; only administrators may ask.
#[tokio::test]
async fn administrators_ping_a_provider() {
    let provider = OidcProvider::start();
    let port = provider.url.rsplit(':').next().unwrap();
    for s in servers().await {
        let ping = |url: String| {
            let body = json!({"url": url, "verify_cert": true});
            let s = &s;
            async move {
                s.expect(Method::POST, "/system/oidc/ping", ADMIN, Some(&body))
                    .await
            }
        };
        ping(provider.url.clone()).await.is(200);
        ping(format!("{}/", provider.url)).await.is(200);
        for wrong in [
            format!("http://localhost:{port}"),
            "http://127.0.0.1:1".to_string(),
            "file:///etc/passwd".to_string(),
        ] {
            let e = ping(wrong.clone()).await.error(400, "BAD_REQUEST");
            assert!(
                e.to_string().contains("failed to verify connection"),
                "{wrong}: {e}"
            );
        }
        s.create_user("olly", "Olly12345pass").await;
        let body = json!({"url": provider.url});
        (s.expect(
            Method::POST,
            "/system/oidc/ping",
            Some(("olly", "Olly12345pass")),
            Some(&body),
        ))
        .await
        .error(403, "FORBIDDEN");
        (s.expect(Method::POST, "/system/oidc/ping", None, Some(&body)))
            .await
            .error(401, "UNAUTHORIZED");
    }
}
