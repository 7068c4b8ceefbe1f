//! OpenID Connect against a real provider (the npm `oidc-provider`
//! package) on loopback: `/system/oidc/ping`, the sign-in flow, groups
//! and CLI secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::oidc::OidcProvider;
use common::*;
use reqwest::Method;
use serde_json::json;
use std::process::Command;

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

/// A provider with one client per server (redirect URI its callback) and
/// accounts with groups; access tokens live 5 s, so a CLI secret's every
/// use asks the provider to refresh.
fn provider_for(servers: &[Server]) -> OidcProvider {
    let clients: Vec<_> = (servers.iter().enumerate())
        .map(|(i, s)| {
            json!({
                "client_id": format!("berth-{i}"),
                "client_secret": format!("Client-secret-{i}"),
                "redirect_uris": [s.u("/c/oidc/callback")],
                "post_logout_redirect_uris": [s.u("/harbor/sign-in")],
            })
        })
        .collect();
    OidcProvider::start_with(&json!({
        "clients": clients,
        "accounts": {
            "alice": {"name": "Alice Smith", "groups": ["devs", "qa"]},
            "rooty": {"name": "Root Y", "groups": ["berth-admins"]},
            "dave": {"name": "Dave"},
        },
        "access_token_ttl": 5,
    }))
}

/// Points server `i` at the provider in OIDC mode.
async fn use_provider(s: &Server, i: usize, provider: &OidcProvider, extra: serde_json::Value) {
    let mut settings = json!({
        "auth_mode": "oidc_auth",
        "oidc_name": "Test IdP",
        "oidc_endpoint": provider.url,
        "oidc_client_id": format!("berth-{i}"),
        "oidc_client_secret": format!("Client-secret-{i}"),
        "oidc_scope": "openid,profile,email,groups,offline_access",
        "oidc_groups_claim": "groups",
        "oidc_admin_group": "berth-admins",
        "oidc_group_filter": "^(devs|berth-admins)$",
    });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    s.configure(settings).await.is(200);
}

/// A browser: keeps cookies, follows no redirect by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows redirects from `url` as a browser does, signing in at the
/// provider's login page as `login` when it shows; returns the first
/// answer from Berth that is not a redirect into the provider, with the
/// URL it answered.
async fn through_provider(
    b: &reqwest::Client,
    provider: &OidcProvider,
    url: String,
    login: &str,
) -> (String, reqwest::Response) {
    let mut url = url;
    for _ in 0..20 {
        let r = b.get(&url).send().await.unwrap();
        let at_provider = url.starts_with(&provider.url);
        match r.headers().get("location") {
            Some(to) if r.status().is_redirection() => {
                let to = to.to_str().unwrap();
                let next = match to.starts_with("http") {
                    true => to.to_string(),
                    false => format!("{}{to}", &url[..url[8..].find('/').unwrap() + 8]),
                };
                if !at_provider && !next.starts_with(&provider.url) {
                    return (url, r);
                }
                url = next;
            }
            _ if at_provider => {
                // The provider's own sign-in form: any password will do.
                let page = r.text().await.unwrap();
                assert!(page.contains("name=\"login\""), "{page}");
                let r = b
                    .post(&url)
                    .form(&[("prompt", "login"), ("login", login), ("password", "pw")])
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_redirection(), "{:?}", r.status());
                let to = r.headers()["location"].to_str().unwrap();
                url = match to.starts_with("http") {
                    true => to.to_string(),
                    false => format!("{}{to}", provider.url),
                };
            }
            _ => return (url, r),
        }
    }
    panic!("too many redirects");
}

/// Starts a sign-in at Berth and goes through the provider as `login`;
/// Berth's answer.
async fn sign_in(
    b: &reqwest::Client,
    s: &Server,
    provider: &OidcProvider,
    login: &str,
) -> (String, reqwest::Response) {
    let r = b.get(s.u("/c/oidc/login")).send().await.unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    through_provider(b, provider, to, login).await
}

/// Calls the API as a browser with a session (no credentials).
async fn as_browser(b: &reqwest::Client, s: &Server, path: &str) -> Reply {
    Reply::read(
        b.get(s.u(&format!("/api/v2.0{path}")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The whole sign-in through the provider: PKCE, state and nonce, the
/// on-boarding of a new user, groups from the claim as project members,
/// the admin group, the CLI secret with skopeo, and a provider that no
/// longer vouches for the user ending the secret's use.
#[tokio::test]
async fn users_sign_in_through_the_provider_and_push_with_their_cli_secret() {
    let servers = servers().await;
    let provider = provider_for(&servers);
    for (i, s) in servers.iter().enumerate() {
        use_provider(s, i, &provider, json!({})).await;
        // The client secret is stored, never shown.
        let all = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(all["auth_mode"]["value"], "oidc_auth");
        assert!(all.get("oidc_client_secret").is_none(), "{all}");
        let info = s
            .expect(Method::GET, "/systeminfo", None, None)
            .await
            .is(200);
        assert_eq!(info["oidc_provider_name"], "Test IdP");

        // Sign-in: Berth sends the browser to the provider with a PKCE
        // challenge, a nonce and a state that its cookie holds.
        let alice = browser();
        let r = alice
            .get(s.u("/c/oidc/login?redirect_url=/harbor/projects"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with(&format!("{}/auth?", provider.url)), "{to}");
        for part in [
            "code_challenge_method=S256",
            "code_challenge=",
            "nonce=",
            "state=",
            "scope=openid+profile+email+groups+offline_access",
        ] {
            assert!(to.contains(part), "{part} in {to}");
        }
        // Another site is no place to come back to.
        (s.expect(
            Method::GET,
            "/c/oidc/login?redirect_url=https://evil.example/",
            None,
            None,
        ))
        .await
        .error(400, "BAD_REQUEST");

        // A new user is sent to choose a username (the name claim suggests one).
        let (_, r) = through_provider(&alice, &provider, to, "alice").await;
        assert_eq!(r.status(), 302);
        let onboard = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(
            onboard,
            "/harbor/oidc-onboard?username=Alice_Smith&redirect_url=%2Fharbor%2Fprojects"
        );
        let name = |n: &str| json!({"username": n});
        let post_onboard = |b: &reqwest::Client, body: serde_json::Value| {
            let r = b.post(s.u("/c/oidc/onboard")).json(&body).send();
            async move { Reply::read(r.await.unwrap()).await }
        };
        // Names are checked; one that is taken is refused.
        post_onboard(&alice, name(""))
            .await
            .error(400, "BAD_REQUEST");
        post_onboard(&alice, name("a,b"))
            .await
            .error(400, "BAD_REQUEST");
        let local =
            json!({"username": "loc", "email": "loc@example.com", "password": "Local12345"});
        s.expect(Method::POST, "/users", ADMIN, Some(&local))
            .await
            .error(403, "FORBIDDEN");
        post_onboard(&alice, name("admin"))
            .await
            .error(409, "CONFLICT");
        post_onboard(&alice, name("alice")).await.is(200);
        let me = as_browser(&alice, s, "/users/current").await.is(200);
        assert_eq!(me["username"], "alice");
        assert_eq!(me["email"], "alice@example.com");
        assert_eq!(me["comment"], "Onboarded via OIDC provider");
        assert_eq!(me["admin_role_in_auth"], false);
        assert_eq!(
            me["oidc_user_meta"]["subiss"],
            format!("alice{}", provider.url)
        );
        let secret = me["oidc_user_meta"]["secret"].as_str().unwrap().to_string();
        assert!(secret.len() >= 8, "{secret}");
        // A stranger without the cookie, or a second use of it, is refused.
        post_onboard(&browser(), name("mallory"))
            .await
            .error(400, "BAD_REQUEST");
        post_onboard(&alice, name("alice2"))
            .await
            .error(400, "BAD_REQUEST");

        // A returning user is signed in at once: the provider remembers
        // them, and the callback's page moves the browser on.
        let (at, r) = sign_in(&alice, s, &provider, "alice").await;
        assert!(at.starts_with(&s.u("/c/oidc/callback?")), "{at}");
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("url=/harbor/projects"));
        assert_eq!(
            as_browser(&alice, s, "/users/current").await.is(200)["username"],
            "alice"
        );
        // A callback whose state is not this browser's is refused.
        let forged = alice
            .get(s.u("/c/oidc/callback?code=x&state=forged"))
            .send()
            .await
            .unwrap();
        let e = Reply::read(forged).await.error(400, "BAD_REQUEST");
        assert!(e.to_string().contains("State mismatch"), "{e}");

        // The provider's groups: an OIDC group member of a project grants
        // it; groups the filter drops ("qa") are not recorded.
        let groups = s
            .expect(Method::GET, "/usergroups", ADMIN, None)
            .await
            .is(200);
        let names: Vec<_> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group_name"].clone())
            .collect();
        assert_eq!(names, vec![json!("devs")], "{groups}");
        assert_eq!(groups[0]["group_type"], 3);
        s.create_project("devp", false, ADMIN).await;
        let member = json!({"role_id": 2, "member_group": {"group_name": "devs", "group_type": 3}});
        s.expect(Method::POST, "/projects/devp/members", ADMIN, Some(&member))
            .await
            .is(201);

        // The CLI secret is alice's password for clients: skopeo pushes
        // into the project her group may push to.
        s.push_image("p/seed", "1", "oidc").await;
        let host = s.url.trim_start_matches("http://");
        let copy = |creds: String| {
            Command::new("skopeo")
                .args([
                    "--insecure-policy",
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                ])
                .args([
                    "--src-creds",
                    &format!("admin:{ADMIN_PASSWORD}"),
                    "--dest-creds",
                    &creds,
                ])
                .arg(format!("docker://{host}/p/seed:1"))
                .arg(format!("docker://{host}/devp/app:1"))
                .output()
                .expect("skopeo (scripts/test.sh installs it)")
        };
        let out = copy(format!("alice:{secret}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let alice_cli = Some(("alice", secret.as_str()));
        s.expect(
            Method::GET,
            "/projects/devp/repositories/app/artifacts",
            alice_cli,
            None,
        )
        .await
        .is(200);
        // It is not a portal password.
        let r = s
            .anon
            .post(s.u("/c/login"))
            .form(&[("principal", "alice"), ("password", &secret)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = s
            .anon
            .post(s.u("/c/login"))
            .form(&[("principal", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "the administrator signs in with a password"
        );

        // It is the password of clients, not of the rest of the API.
        (s.expect(Method::GET, "/users/current", alice_cli, None)
            .await)
            .error(401, "UNAUTHORIZED");
        let projects = "/projects?name=devp";
        s.expect(Method::GET, projects, alice_cli, None)
            .await
            .is(200);

        // Setting it (in the browser session): Harbor's rule; the old one
        // stops working.
        let id = me["user_id"].as_i64().unwrap();
        let path = format!("/users/{id}/cli_secret");
        let put = |b: &reqwest::Client, body: serde_json::Value| {
            let b = b.clone();
            let path = path.clone();
            async move {
                let csrf = as_browser(&b, s, "/users/current")
                    .await
                    .header("x-harbor-csrf-token")
                    .to_string();
                let r = b
                    .put(s.u(&format!("/api/v2.0{path}")))
                    .header("x-harbor-csrf-token", csrf)
                    .json(&body)
                    .send();
                Reply::read(r.await.unwrap()).await
            }
        };
        put(&alice, json!({"secret": "weak"}))
            .await
            .error(400, "BAD_REQUEST");
        put(&alice, json!({"secret": "Fresh-Secret-42"}))
            .await
            .is(200);
        (s.expect(Method::GET, projects, alice_cli, None).await).error(401, "UNAUTHORIZED");
        let alice_cli = Some(("alice", "Fresh-Secret-42"));
        s.expect(Method::GET, projects, alice_cli, None)
            .await
            .is(200);
        // Wrong secrets count toward the lockout passwords do (10 here,
        // for 2 s).
        for _ in 0..10 {
            let wrong = Some(("alice", "Wrong-Secret-1"));
            (s.expect(Method::GET, projects, wrong, None).await).error(401, "UNAUTHORIZED");
        }
        let locked = s.expect(Method::GET, projects, alice_cli, None).await;
        assert_eq!(locked.status, 429, "{}", locked.text);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        s.expect(Method::GET, projects, alice_cli, None)
            .await
            .is(200);

        // The admin group makes an administrator; with auto on-boarding
        // the username claim names the user at once.
        use_provider(
            s,
            i,
            &provider,
            json!({"oidc_auto_onboard": true, "oidc_user_claim": "preferred_username"}),
        )
        .await;
        let rooty = browser();
        let (_, r) = sign_in(&rooty, s, &provider, "rooty").await;
        assert_eq!(r.status(), 200);
        let me = as_browser(&rooty, s, "/users/current").await.is(200);
        assert_eq!(
            (me["username"].as_str(), me["admin_role_in_auth"].as_bool()),
            (Some("rooty"), Some(true))
        );
        as_browser(&rooty, s, "/users").await.is(200);
        // Others may not set alice's secret, nor see her group's project.
        let dave = browser();
        sign_in(&dave, s, &provider, "dave").await;
        put(&dave, json!({})).await.error(403, "FORBIDDEN");
        as_browser(&dave, s, "/projects/devp")
            .await
            .error(403, "FORBIDDEN");

        // When the provider no longer knows the user, it refuses to
        // refresh their tokens and the CLI secret stops working.
        provider.set_enabled("alice", false).await;
        s.expect(Method::GET, projects, alice_cli, None)
            .await
            .error(401, "UNAUTHORIZED");
        let out = copy("alice:Fresh-Secret-42".into());
        assert!(!out.status.success());
        provider.set_enabled("alice", true).await;
    }
}

/// UAA mode: the server checks passwords by the OAuth2 password grant
/// (the test provider answering at UAA's paths); users are on-boarded
/// with the name and email its userinfo gives, a wrong password is a
/// 401, and when the server is gone the sign-in says so while the
/// administrator still signs in.
#[tokio::test]
async fn uaa_checks_passwords_by_the_password_grant() {
    let servers = servers().await;
    let provider = OidcProvider::start_with(&json!({
        "uaa": true,
        "clients": [{"client_id": "berth-uaa", "client_secret": "Uaa-client-1",
            "grant_types": ["password"], "response_types": [], "redirect_uris": []}],
        "accounts": {"uma": {"name": "Uma U", "email": "uma@uaa.test", "password": "Uma-pass-1"}},
    }));
    for s in &servers {
        let settings = json!({
            "auth_mode": "uaa_auth",
            "uaa_endpoint": provider.url,
            "uaa_client_id": "berth-uaa",
            "uaa_client_secret": "Uaa-client-1",
            "uaa_verify_cert": false,
        });
        s.configure(settings).await.is(200);
        let all = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(all["uaa_endpoint"]["value"], provider.url.as_str());
        assert!(all.get("uaa_client_secret").is_none(), "{all}");

        let uma = Some(("uma", "Uma-pass-1"));
        let me = s
            .expect(Method::GET, "/users/current", uma, None)
            .await
            .is(200);
        assert_eq!(me["username"], "uma");
        assert_eq!(me["realname"], "Uma U");
        assert_eq!(me["email"], "uma@uaa.test");
        assert_eq!(me["comment"], "From UAA");
        let form = [("principal", "uma"), ("password", "Uma-pass-1")];
        let r = s
            .anon
            .post(s.u("/c/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the portal's sign-in");
        let wrong = Some(("uma", "Uma-pass-2"));
        s.expect(Method::GET, "/users/current", wrong, None)
            .await
            .error(401, "UNAUTHORIZED");
        let nobody = Some(("nobody", "Uma-pass-1"));
        s.expect(Method::GET, "/users/current", nobody, None)
            .await
            .error(401, "UNAUTHORIZED");
        // The token service signs UAA users in too.
        let r = s
            .anon
            .get(s.u("/service/token?service=harbor-registry&scope=repository:p/x:pull"))
            .basic_auth("uma", Some("Uma-pass-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    drop(provider);
    for s in &servers {
        let uma = Some(("uma", "Uma-pass-1"));
        let e = s
            .expect(Method::GET, "/users/current", uma, None)
            .await
            .error(401, "UNAUTHORIZED");
        assert!(e.to_string().contains("UAA server could not check"), "{e}");
        s.expect(Method::GET, "/users/current", ADMIN, None)
            .await
            .is(200);
    }
}
