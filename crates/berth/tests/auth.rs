//! Docker token auth and `/v2` enforcement: Harbor's challenge, scopes
//! filtered by role, bearer verification, basic auth, anonymous pulls of
//! public projects, catalog filtering, and mounts that need read access.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn token(s: &Server, user: Option<(&str, &str)>, scopes: &[&str]) -> (String, Value) {
    let mut url = s.u("/service/token?service=harbor-registry");
    for sc in scopes {
        url.push_str(&format!("&scope={}", form(sc)));
    }
    let mut rb = s.anon.get(url);
    if let Some((u, p)) = user {
        rb = rb.basic_auth(u, Some(p));
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let t = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], t.as_str());
    (t.clone(), token_claims(&t))
}

fn form(s: &str) -> String {
    s.replace(':', "%3A")
        .replace(',', "%2C")
        .replace('/', "%2F")
        .replace('*', "%2A")
}

async fn bearer(s: &Server, m: Method, path: &str, t: &str) -> reqwest::Response {
    s.anon
        .request(m, s.u(path))
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
}

async fn setup(s: &Server) {
    s.create_user("dev", "Devel12345").await;
    s.create_user("guest", "Guest12345").await;
    s.create_user("stranger", "Strange123").await;
    for (user, role) in [("dev", 2), ("guest", 3)] {
        let r = s
            .api(Method::POST, "/projects/p/members", ADMIN)
            .header("x-is-resource-name", "true")
            .json(&json!({"role_id": role, "member_user": {"username": user}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}

const DEV: Option<(&str, &str)> = Some(("dev", "Devel12345"));
const GUEST: Option<(&str, &str)> = Some(("guest", "Guest12345"));
const STRANGER: Option<(&str, &str)> = Some(("stranger", "Strange123"));

#[tokio::test]
async fn challenge_and_token_claims() {
    for s in servers().await {
        let r = s.anon.get(s.u("/v2/")).send().await.unwrap();
        assert_eq!(
            header(&r, "www-authenticate"),
            format!(
                "Bearer realm=\"{}/service/token\",service=\"harbor-registry\"",
                s.url
            )
        );
        expect_error(r, 401, "UNAUTHORIZED").await;
        let r = s.anon.get(s.u("/v2/p/x/tags/list")).send().await.unwrap();
        assert!(header(&r, "www-authenticate").ends_with(",scope=\"repository:p/x:pull\""));
        let r = s
            .anon
            .post(s.u("/v2/p/x/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert!(header(&r, "www-authenticate").ends_with(",scope=\"repository:p/x:pull,push\""));

        let (t, c) = token(&s, ADMIN, &["repository:p/x:pull,push"]).await;
        let header_json: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header_json["alg"], "ES256");
        assert!(header_json["kid"].as_str().is_some_and(|k| !k.is_empty()));
        assert_eq!(c["iss"], "harbor-token-issuer");
        assert_eq!(c["sub"], "admin");
        assert_eq!(c["aud"], "harbor-registry");
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            1800
        );
        assert!(c["nbf"].is_i64() && c["jti"].is_string());
        assert_eq!(granted(&c, "p/x"), vec!["pull", "push"]);
        assert_eq!(
            bearer(&s, Method::GET, "/v2/", &t).await.status(),
            StatusCode::OK
        );

        let r = s
            .anon
            .get(s.u("/service/token?scope=repository:p/x:pull"))
            .basic_auth("admin", Some("nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn scopes_follow_roles() {
    for s in servers().await {
        setup(&s).await;
        let scope = ["repository:p/app:pull,push,delete"];
        let (_, c) = token(&s, DEV, &scope).await;
        assert_eq!(granted(&c, "p/app"), vec!["pull", "push"]);
        let (_, c) = token(&s, GUEST, &scope).await;
        assert_eq!(granted(&c, "p/app"), vec!["pull"]);
        let (_, c) = token(&s, STRANGER, &scope).await;
        assert!(granted(&c, "p/app").is_empty());
        let (_, c) = token(&s, None, &scope).await;
        assert!(granted(&c, "p/app").is_empty());
        assert_eq!(c["sub"], "anonymous");
        let (_, c) = token(&s, None, &["repository:library/app:pull,push"]).await;
        assert_eq!(granted(&c, "library/app"), vec!["pull"]);
        let (_, c) = token(
            &s,
            ADMIN,
            &["repository:missing/app:pull,push", "repository:p/app:*"],
        )
        .await;
        assert!(granted(&c, "missing/app").is_empty());
        assert_eq!(granted(&c, "p/app"), vec!["pull", "push", "delete"]);
        let (_, c) = token(&s, DEV, &["registry:catalog:*"]).await;
        assert_eq!(granted(&c, "catalog"), vec!["*"]);
    }
}

#[tokio::test]
async fn v2_enforces_tokens_and_roles() {
    for s in servers().await {
        setup(&s).await;
        let data = b"layer bytes".to_vec();
        let d = digest(&data);
        let push = |t: String| {
            let s = &s;
            let data = data.clone();
            let d = d.clone();
            async move {
                s.anon
                    .post(s.u(&format!("/v2/p/app/blobs/uploads/?digest={d}")))
                    .bearer_auth(t)
                    .body(data)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let (dev_t, _) = token(&s, DEV, &["repository:p/app:pull,push"]).await;
        assert_eq!(push(dev_t.clone()).await.status(), StatusCode::CREATED);
        let (guest_t, _) = token(&s, GUEST, &["repository:p/app:pull,push"]).await;
        let r = push(guest_t.clone()).await;
        assert!(header(&r, "www-authenticate").contains("scope=\"repository:p/app:pull,push\""));
        expect_error(r, 401, "UNAUTHORIZED").await;
        assert_eq!(
            bearer(&s, Method::GET, &format!("/v2/p/app/blobs/{d}"), &guest_t)
                .await
                .status(),
            StatusCode::OK
        );
        // A token for one repository does not open another.
        let r = bearer(&s, Method::GET, &format!("/v2/p/other/blobs/{d}"), &guest_t).await;
        expect_error(r, 401, "UNAUTHORIZED").await;
        // A developer may not delete.
        let (dev_del, c) = token(&s, DEV, &["repository:p/app:delete"]).await;
        assert!(granted(&c, "p/app").is_empty());
        expect_error(
            bearer(
                &s,
                Method::DELETE,
                &format!("/v2/p/app/blobs/{d}"),
                &dev_del,
            )
            .await,
            401,
            "UNAUTHORIZED",
        )
        .await;

        // Basic auth works too: an authenticated user without the right gets 403.
        s.expect(
            Method::POST,
            "/v2/p/app/blobs/uploads/",
            Some(("guest", "Guest12345")),
            None,
        )
        .await
        .error(403, "DENIED");
        let r = s
            .anon
            .post(s.u("/v2/p/app/blobs/uploads/"))
            .basic_auth("dev", Some("Devel12345"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        s.expect(
            Method::POST,
            "/v2/nope/app/blobs/uploads/",
            Some(("dev", "Devel12345")),
            None,
        )
        .await
        .error(404, "NAME_UNKNOWN");
        s.expect(Method::GET, "/v2/", Some(("dev", "wrong")), None)
            .await
            .error(401, "UNAUTHORIZED");

        // Anonymous: public projects pull, private ones challenge.
        s.push_image("library/pub", "v1", "pub").await;
        s.push_image("p/app", "v1", "priv").await;
        assert_eq!(
            s.anon
                .get(s.u("/v2/library/pub/manifests/v1"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        expect_error(
            s.anon
                .get(s.u("/v2/p/app/manifests/v1"))
                .send()
                .await
                .unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;
        expect_error(
            s.anon
                .put(s.u("/v2/library/pub/manifests/v2"))
                .send()
                .await
                .unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;

        // Mounting needs pull on the source: a stranger's token for its own
        // project cannot lift a blob out of p.
        s.create_project("mine", false, STRANGER).await;
        let (t, _) = token(
            &s,
            STRANGER,
            &["repository:mine/x:pull,push", "repository:p/app:pull"],
        )
        .await;
        let r = bearer(
            &s,
            Method::POST,
            &format!("/v2/mine/x/blobs/uploads/?mount={d}&from=p/app"),
            &t,
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "mount without read access must not link"
        );
        let (t, _) = token(
            &s,
            DEV,
            &["repository:p/app2:pull,push", "repository:p/app:pull"],
        )
        .await;
        let r = bearer(
            &s,
            Method::POST,
            &format!("/v2/p/app2/blobs/uploads/?mount={d}&from=p/app"),
            &t,
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);

        // The catalog shows only what the caller may read.
        let (t, _) = token(&s, STRANGER, &["registry:catalog:*"]).await;
        let cat: Value = bearer(&s, Method::GET, "/v2/_catalog", &t)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cat["repositories"], json!(["library/pub"]));
        let cat: Value = s.get("/v2/_catalog").await.json().await.unwrap();
        assert_eq!(cat["repositories"], json!(["library/pub", "p/app"]));
        expect_error(
            s.anon.get(s.u("/v2/_catalog")).send().await.unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;
        let (t, _) = token(&s, STRANGER, &["repository:mine/x:pull"]).await;
        expect_error(
            bearer(&s, Method::GET, "/v2/_catalog", &t).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn forged_and_stale_tokens_are_rejected() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    for s in servers().await {
        let key = s.token_signing_key().await;
        let good = EncodingKey::from_ec_der(&key);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = |aud: &str, iat: i64, exp: i64| {
            json!({"iss": "harbor-token-issuer", "sub": "admin", "aud": aud, "iat": iat, "nbf": iat, "exp": exp,
                   "jti": "x", "access": [{"type": "repository", "name": "p/x", "actions": ["pull", "push"]}]})
        };
        let sign = |c: Value| encode(&Header::new(Algorithm::ES256), &c, &good).unwrap();
        let path = "/v2/p/x/tags/list";
        // The control: a well-formed token signed with the real key works.
        let ok = sign(claims("harbor-registry", now, now + 600));
        expect_error(
            bearer(&s, Method::GET, path, &ok).await,
            404,
            "NAME_UNKNOWN",
        )
        .await;

        let expired = sign(claims("harbor-registry", now - 7200, now - 3600));
        let wrong_aud = sign(claims("other-service", now, now + 600));
        let future = sign(claims("harbor-registry", now + 3600, now + 7200));
        let hs256 = encode(
            &Header::new(Algorithm::HS256),
            &claims("harbor-registry", now, now + 600),
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims("harbor-registry", now, now + 600))
        );
        let mut parts: Vec<String> = ok.split('.').map(String::from).collect();
        let mut c = claims("harbor-registry", now, now + 600);
        c["sub"] = "someone-else".into();
        parts[1] = b64(&c);
        let tampered = parts.join(".");
        for (what, t) in [
            ("expired", expired),
            ("audience", wrong_aud),
            ("not yet valid", future),
            ("HS256", hs256),
            ("alg none", none),
            ("tampered", tampered),
        ] {
            let r = bearer(&s, Method::GET, path, &t).await;
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{what} token accepted"
            );
        }

        // A token issued before the project was (re)created is stale.
        let (t, _) = token(&s, ADMIN, &["repository:q/x:pull"]).await;
        expect_error(
            bearer(&s, Method::GET, "/v2/q/x/tags/list", &t).await,
            404,
            "NAME_UNKNOWN",
        )
        .await;
        assert_eq!(
            s.api(Method::DELETE, "/projects/q", ADMIN)
                .header("x-is-resource-name", "true")
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        sleep_ms(2100).await;
        s.create_project("q", false, ADMIN).await;
        expect_error(
            bearer(&s, Method::GET, "/v2/q/x/tags/list", &t).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn robot_accounts() {
    for s in servers().await {
        setup(&s).await;
        let perms = json!([{"kind": "project", "namespace": "p", "access": [
            {"resource": "repository", "action": "pull"},
            {"resource": "repository", "action": "push"},
            {"resource": "artifact", "action": "list"},
        ]}]);
        let body = json!({"name": "ci", "description": "builds", "level": "project", "duration": 30, "permissions": perms});
        // Only a project admin (or system admin) may create project robots.
        api_error_of(
            s.api(Method::POST, "/robots", DEV)
                .json(&body)
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;
        api_error_of(
            s.api(Method::POST, "/robots", None)
                .json(&body)
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
        let r = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["name"], "robot$p+ci");
        let id = created["id"].as_i64().unwrap();
        let secret = created["secret"].as_str().unwrap().to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((created["expires_at"].as_i64().unwrap() - (now + 30 * 86400)).abs() < 60);
        api_error_of(
            s.api(Method::POST, "/robots", ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap(),
            409,
        )
        .await;
        for bad in [
            json!({"name": "bad name", "level": "project", "permissions": perms}),
            json!({"name": "x", "level": "project", "permissions": [{"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]}),
            json!({"name": "x", "level": "weird", "permissions": []}),
            json!({"name": "x", "level": "project", "duration": 0, "permissions": perms}),
        ] {
            api_error_of(
                s.api(Method::POST, "/robots", ADMIN)
                    .json(&bad)
                    .send()
                    .await
                    .unwrap(),
                400,
            )
            .await;
        }
        let sys = json!({"name": "sys", "level": "system", "permissions": [{"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]});
        api_error_of(
            s.api(Method::POST, "/robots", DEV)
                .json(&sys)
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;

        let got: Value = s
            .api(Method::GET, &format!("/robots/{id}"), ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(got.get("secret").is_none());
        assert_eq!(got["permissions"][0]["access"].as_array().unwrap().len(), 3);
        let pid: i64 = s
            .api(Method::GET, "/projects/p", ADMIN)
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["project_id"]
            .as_i64()
            .unwrap();
        let list: Value = s
            .api(
                Method::GET,
                &format!("/robots?q=Level%3Dproject%2CProjectID%3D{pid}"),
                ADMIN,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        // Harbor's portal lists the system robots with `Level=system`.
        let made = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&json!({"name": "sys", "level": "system", "duration": -1,
                "permissions": [{"kind": "system", "namespace": "/",
                    "access": [{"resource": "catalog", "action": "read"}]}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 201);
        let names = |list: Value| -> Vec<String> {
            let rows = list.as_array().unwrap().iter();
            rows.map(|r| r["name"].as_str().unwrap().to_string())
                .collect()
        };
        let system: Value = s.api_json("/robots?q=Level%3Dsystem", ADMIN).await;
        assert_eq!(names(system), ["robot$sys"]);
        let all: Value = s.api_json("/robots", ADMIN).await;
        assert_eq!(names(all), ["robot$p+ci", "robot$sys"]);
        let bad = s.api(Method::GET, "/robots?q=Level%3Dother", ADMIN);
        api_error_of(bad.send().await.unwrap(), 400).await;

        // The robot logs in with its secret: token scopes follow its permissions.
        let robot = Some(("robot$p+ci", secret.as_str()));
        let (t, c) = token(
            &s,
            robot,
            &["repository:p/app:pull,push,delete", "repository:q/app:pull"],
        )
        .await;
        assert_eq!(c["sub"], "robot$p+ci");
        assert_eq!(granted(&c, "p/app"), vec!["pull", "push"]);
        assert!(granted(&c, "q/app").is_empty());
        let data = b"robot layer".to_vec();
        let r = s
            .anon
            .post(s.u(&format!(
                "/v2/p/app/blobs/uploads/?digest={}",
                digest(&data)
            )))
            .bearer_auth(&t)
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // Basic auth on the API: artifacts listable, members not.
        s.push_image("p/app", "v1", "r").await;
        s.expect(
            Method::GET,
            "/projects/p/repositories/app/artifacts",
            robot,
            None,
        )
        .await
        .is(200);
        api_error_of(
            s.api(Method::GET, "/projects/p/members", robot)
                .header("x-is-resource-name", "true")
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;

        // Refresh: the old secret stops working.
        let r: Value = s
            .api(Method::PATCH, &format!("/robots/{id}"), ADMIN)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let new_secret = r["secret"].as_str().unwrap().to_string();
        let r = s
            .anon
            .get(s.u("/service/token?scope=repository:p/app:pull"))
            .basic_auth("robot$p+ci", Some(&secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        token(
            &s,
            Some(("robot$p+ci", new_secret.as_str())),
            &["repository:p/app:pull"],
        )
        .await;

        // A secret the caller chooses works and is not echoed back.
        let chosen = "Chosen-Secret-1";
        let r = s
            .api(Method::PATCH, &format!("/robots/{id}"), ADMIN)
            .json(&json!({"secret": chosen}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["secret"], "");
        token(&s, Some(("robot$p+ci", chosen)), &["repository:p/app:pull"]).await;
        let r = s
            .api(Method::PATCH, &format!("/robots/{id}"), ADMIN)
            .json(&json!({"secret": "weak"}))
            .send()
            .await
            .unwrap();
        api_error_of(r, 400).await;
        let new_secret = chosen.to_string();
        // So may the creator of a robot; a weak one is refused.
        let mut given = json!({"name": "given", "level": "project", "duration": 30,
            "permissions": perms, "secret": "Given-Secret-9"});
        let r = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&given)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<Value>().await.unwrap()["secret"], "");
        token(
            &s,
            Some(("robot$p+given", "Given-Secret-9")),
            &["repository:p/app:pull"],
        )
        .await;
        given["name"] = json!("weak");
        given["secret"] = json!("password");
        let r = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&given)
            .send()
            .await
            .unwrap();
        api_error_of(r, 400).await;

        // Disable, then delete.
        let upd = json!({"name": "ci", "level": "project", "disable": true, "duration": 30, "permissions": perms});
        s.expect(Method::PUT, &format!("/robots/{id}"), ADMIN, Some(&upd))
            .await
            .is(200);
        let r = s
            .anon
            .get(s.u("/service/token?scope=repository:p/app:pull"))
            .basic_auth("robot$p+ci", Some(&new_secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        s.expect(Method::DELETE, &format!("/robots/{id}"), ADMIN, None)
            .await
            .is(200);
        api_error_of(
            s.api(Method::GET, &format!("/robots/{id}"), ADMIN)
                .send()
                .await
                .unwrap(),
            404,
        )
        .await;
    }
}

async fn api_error_of(r: reqwest::Response, status: u16) {
    assert_eq!(r.status().as_u16(), status);
    let body: Value = r.json().await.unwrap();
    assert!(body["errors"][0]["code"].is_string(), "{body}");
}

/// Creates a robot as `creator`; returns the answer's status and body.
async fn create_robot(
    s: &Server,
    creator: Option<(&str, &str)>,
    name: &str,
    level: &str,
    perms: Value,
) -> (u16, Value) {
    let r = s
        .api(Method::POST, "/robots", creator)
        .json(&json!({"name": name, "level": level, "duration": -1, "permissions": perms}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Pushes a small blob into `repo` with basic auth as `who`; returns the status.
async fn push_as(s: &Server, who: Option<(&str, &str)>, repo: &str) -> StatusCode {
    let (user, secret) = who.unwrap();
    let data = format!("pushed by {user}").into_bytes();
    s.anon
        .post(s.u(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            digest(&data)
        )))
        .basic_auth(user, Some(secret))
        .body(data)
        .send()
        .await
        .unwrap()
        .status()
}

fn project_perms(ns: &str, access: &[(&str, &str)]) -> Value {
    let access: Vec<Value> = access
        .iter()
        .map(|(r, a)| json!({"resource": r, "action": a}))
        .collect();
    json!([{"kind": "project", "namespace": ns, "access": access}])
}

#[tokio::test]
async fn robots_grant_no_more_than_their_creator_holds() {
    for s in servers().await {
        setup(&s).await;
        let maker_perms = project_perms(
            "p",
            &[
                ("robot", "create"),
                ("robot", "read"),
                ("repository", "pull"),
            ],
        );
        let (status, maker) = create_robot(&s, ADMIN, "maker", "project", maker_perms).await;
        assert_eq!(status, 201, "{maker}");
        let maker = Some(("robot$p+maker", maker["secret"].as_str().unwrap()));

        // More than it holds, by name or by `*`: refused, as Harbor does.
        for access in [
            &[("repository", "pull"), ("repository", "push")][..],
            &[("artifact", "delete")][..],
            &[("repository", "*")][..],
        ] {
            let (status, body) =
                create_robot(&s, maker, "wider", "project", project_perms("p", access)).await;
            assert_eq!(status, 403, "{access:?}: {body}");
            assert_eq!(body["errors"][0]["code"], "FORBIDDEN");
            let msg = body["errors"][0]["message"].as_str().unwrap();
            assert!(msg.starts_with("permission scope is invalid"), "{msg}");
        }
        // As much or less is allowed, and the robot made gets no more.
        let (status, made) = create_robot(
            &s,
            maker,
            "puller",
            "project",
            project_perms("p", &[("repository", "pull")]),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        let puller = Some(("robot$p+puller", made["secret"].as_str().unwrap()));
        let (_, c) = token(&s, puller, &["repository:p/app:pull,push"]).await;
        assert_eq!(granted(&c, "p/app"), vec!["pull"]);
        assert_eq!(push_as(&s, puller, "p/app").await, StatusCode::FORBIDDEN);

        // Nor may it widen a robot by updating it.
        let id = made["id"].as_i64().unwrap();
        let upd = json!({"name": "puller", "level": "project", "duration": -1,
            "permissions": project_perms("p", &[("repository", "pull"), ("repository", "push")])});
        s.expect(Method::PUT, &format!("/robots/{id}"), maker, Some(&upd))
            .await
            .is(403);
        // A project admin who is no system admin holds what it grants.
        s.create_user("owner", "Owner12345").await;
        let owner = Some(("owner", "Owner12345"));
        s.create_project("mine", false, owner).await;
        let wide = project_perms("mine", &[("repository", "push"), ("artifact", "delete")]);
        assert_eq!(create_robot(&s, owner, "ci", "project", wide).await.0, 201);
        let theirs = project_perms("p", &[("repository", "pull")]);
        assert_eq!(create_robot(&s, owner, "x", "project", theirs).await.0, 403);
    }
}

#[tokio::test]
async fn robot_grants_end_with_their_project_and_skip_a_namesake() {
    for s in servers().await {
        setup(&s).await;
        s.create_project("tmpp", false, ADMIN).await;
        let perms = json!([
            {"kind": "project", "namespace": "tmpp", "access": [
                {"resource": "repository", "action": "pull"},
                {"resource": "repository", "action": "push"}]},
            {"kind": "project", "namespace": "q", "access": [
                {"resource": "repository", "action": "pull"}]},
        ]);
        let (status, made) = create_robot(&s, ADMIN, "sys", "system", perms).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().unwrap();
        let robot = Some(("robot$sys", made["secret"].as_str().unwrap()));
        let (_, c) = token(&s, robot, &["repository:tmpp/app:pull,push"]).await;
        assert_eq!(granted(&c, "tmpp/app"), vec!["pull", "push"]);

        let r = s
            .api(Method::DELETE, "/projects/tmpp", ADMIN)
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Another user takes the name: the old grant does not follow it.
        s.create_project("tmpp", false, DEV).await;
        let (_, c) = token(&s, robot, &["repository:tmpp/app:pull,push"]).await;
        assert!(granted(&c, "tmpp/app").is_empty(), "{c}");
        assert_eq!(push_as(&s, robot, "tmpp/app").await, StatusCode::FORBIDDEN);
        // The grant went with its project; the other stays.
        let got: Value = s.api_json(&format!("/robots/{id}"), ADMIN).await;
        let namespaces: Vec<&str> = got["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["namespace"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces, vec!["q"], "{got}");
        // Granting a project that does not exist is refused.
        let ghost = project_perms("ghost", &[("repository", "pull")]);
        assert_eq!(create_robot(&s, ADMIN, "g", "system", ghost).await.0, 404);
    }
}
