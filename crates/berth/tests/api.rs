//! Harbor's v2.0 API: system endpoints, users, projects, metadata, members,
//! with the permission checks a Harbor user expects, on every database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn api_error(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status, "expected {code}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn system_endpoints() {
    for s in servers().await {
        let v: Value = s.get("/api/version").await.json().await.unwrap();
        assert_eq!(v["version"], "v2.0");
        assert_eq!(s.get("/api/v2.0/ping").await.text().await.unwrap(), "Pong");
        let h: Value = s.get("/api/v2.0/health").await.json().await.unwrap();
        assert_eq!(h["status"], "healthy");
        let r = s.get("/api/v2.0/nothing").await;
        assert!(!header(&r, "x-request-id").is_empty());
        api_error(r, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn users_and_authentication() {
    for s in servers().await {
        let me: Value = s
            .api(Method::GET, "/users/current", ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["username"], "admin");
        assert_eq!(me["sysadmin_flag"], true);
        assert!(me.get("password").is_none() && me.get("password_hash").is_none());
        for (user, status, code) in [
            (None, 401, "UNAUTHORIZED"),
            (Some(("admin", "wrong")), 401, "UNAUTHORIZED"),
            (Some(("ghost", "Whatever1")), 401, "UNAUTHORIZED"),
        ] {
            s.expect(Method::GET, "/users/current", user, None)
                .await
                .error(status, code);
        }

        let alice = s.create_user("alice", "Alice12345").await;
        let a = Some(("alice", "Alice12345"));
        // The password rule, uniqueness, and who may create users.
        for (name, email, pw, status, code) in [
            ("bob", "bob@example.com", "short1A", 400, "BAD_REQUEST"),
            (
                "bob",
                "bob@example.com",
                "alllowercase1",
                400,
                "BAD_REQUEST",
            ),
            ("bob", "not-an-email", "Bob1234567", 400, "BAD_REQUEST"),
            (
                "bad,name",
                "b@example.com",
                "Bob1234567",
                400,
                "BAD_REQUEST",
            ),
            ("alice", "other@example.com", "Alice12345", 409, "CONFLICT"),
            ("carol", "alice@example.com", "Carol12345", 409, "CONFLICT"),
        ] {
            let r = s
                .api(Method::POST, "/users", ADMIN)
                .json(&json!({"username": name, "email": email, "password": pw}))
                .send()
                .await
                .unwrap();
            api_error(r, status, code).await;
        }
        let body = json!({"username": "bob", "email": "bob@example.com", "password": "Bob1234567"});
        s.expect(Method::POST, "/users", a, Some(&body))
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::POST, "/users", None, Some(&body))
            .await
            .error(401, "UNAUTHORIZED");
        let r = s
            .api(Method::POST, "/users", ADMIN)
            .body(body.to_string())
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap();
        api_error(r, 415, "UNSUPPORTED_MEDIA_TYPE").await;
        let r = s
            .api(Method::POST, "/users", ADMIN)
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        api_error(r, 400, "BAD_REQUEST").await;
        let bob = s.create_user("bob", "Bob1234567").await;

        let r = s
            .api(Method::GET, "/users?page=1&page_size=2", ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "3");
        assert!(header(&r, "link").contains("rel=\"next\""));
        let page: Value = r.json().await.unwrap();
        assert_eq!(page.as_array().unwrap().len(), 2);
        let r = s
            .api(Method::GET, "/users?username=bo", ADMIN)
            .send()
            .await
            .unwrap();
        let found: Value = r.json().await.unwrap();
        assert_eq!(found[0]["username"], "bob");
        s.expect(Method::GET, "/users", a, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/users?page_size=101", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");

        s.expect(Method::GET, &format!("/users/{alice}"), a, None)
            .await
            .is(200);
        s.expect(Method::GET, &format!("/users/{bob}"), a, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/users/9999", ADMIN, None)
            .await
            .error(404, "NOT_FOUND");

        // Password change: the old password is checked.
        let path = format!("/users/{alice}/password");
        s.expect(
            Method::PUT,
            &path,
            a,
            Some(&json!({"old_password": "Wrong12345", "new_password": "Alice54321"})),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(
            Method::PUT,
            &path,
            a,
            Some(&json!({"old_password": "Alice12345", "new_password": "weak"})),
        )
        .await
        .error(400, "BAD_REQUEST");
        s.expect(
            Method::PUT,
            &path,
            a,
            Some(&json!({"old_password": "Alice12345", "new_password": "Alice54321"})),
        )
        .await
        .is(200);
        let a2 = Some(("alice", "Alice54321"));
        s.expect(Method::GET, "/users/current", a2, None)
            .await
            .is(200);
        s.expect(Method::GET, "/users/current", a, None)
            .await
            .error(401, "UNAUTHORIZED");

        // Search (any logged-in user) and profile updates (self or admin).
        let r = s
            .api(Method::GET, "/users/search?username=bo", a2)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "1");
        let found: Value = r.json().await.unwrap();
        assert_eq!(found, json!([{"user_id": bob, "username": "bob"}]));
        s.expect(Method::GET, "/users/search?username=bo", None, None)
            .await
            .error(401, "UNAUTHORIZED");
        let profile =
            json!({"email": "alice@new.example.com", "realname": "Alice A.", "comment": "hi"});
        s.expect(Method::PUT, &format!("/users/{alice}"), a2, Some(&profile))
            .await
            .is(200);
        let me: Value = s
            .api(Method::GET, "/users/current", a2)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], "alice@new.example.com");
        assert_eq!(me["realname"], "Alice A.");
        s.expect(Method::PUT, &format!("/users/{bob}"), a2, Some(&profile))
            .await
            .error(403, "FORBIDDEN");
        let taken = json!({"email": "alice@new.example.com"});
        s.expect(Method::PUT, &format!("/users/{bob}"), ADMIN, Some(&taken))
            .await
            .error(409, "CONFLICT");
        s.expect(
            Method::PUT,
            &format!("/users/{bob}"),
            ADMIN,
            Some(&json!({"email": "nope"})),
        )
        .await
        .error(400, "BAD_REQUEST");

        // Sysadmin flag: admin only.
        s.expect(
            Method::PUT,
            &format!("/users/{bob}/sysadmin"),
            a2,
            Some(&json!({"sysadmin_flag": true})),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(
            Method::PUT,
            &format!("/users/{bob}/sysadmin"),
            ADMIN,
            Some(&json!({"sysadmin_flag": true})),
        )
        .await
        .is(200);
        s.expect(Method::GET, "/users", Some(("bob", "Bob1234567")), None)
            .await
            .is(200);
    }
}

#[tokio::test]
async fn projects_visibility_metadata_and_members() {
    for s in servers().await {
        s.create_user("owner", "Owner12345").await;
        s.create_user("dev", "Devel12345").await;
        s.create_user("stranger", "Strange123").await;
        let (o, d, x) = (
            Some(("owner", "Owner12345")),
            Some(("dev", "Devel12345")),
            Some(("stranger", "Strange123")),
        );

        // library exists and is public.
        let lib: Value = s
            .api(Method::GET, "/projects/library", None)
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(lib["name"], "library");
        assert_eq!(lib["metadata"]["public"], "true");
        assert_eq!(lib["owner_name"], "admin");

        let id = s.create_project("secret", false, o).await;
        s.expect(
            Method::POST,
            "/projects",
            o,
            Some(&json!({"project_name": "secret"})),
        )
        .await
        .error(409, "CONFLICT");
        for bad in ["Upper", "a--b", "", "-x"] {
            s.expect(
                Method::POST,
                "/projects",
                o,
                Some(&json!({"project_name": bad})),
            )
            .await
            .error(400, "BAD_REQUEST");
        }
        s.expect(
            Method::POST,
            "/projects",
            None,
            Some(&json!({"project_name": "anon"})),
        )
        .await
        .error(401, "UNAUTHORIZED");
        s.expect(
            Method::POST,
            "/projects",
            o,
            Some(&json!({"project_name": "m", "metadata": {"severity": "extreme"}})),
        )
        .await
        .error(400, "BAD_REQUEST");

        s.expect(Method::HEAD, "/projects?project_name=secret", None, None)
            .await
            .is(200);
        s.expect(Method::HEAD, "/projects?project_name=nope", None, None)
            .await
            .is(404);

        // Visibility: anonymous and strangers see public projects only.
        let names = |v: Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        };
        let r = s.api(Method::GET, "/projects", None).send().await.unwrap();
        assert_eq!(header(&r, "x-total-count"), "1");
        assert_eq!(names(r.json().await.unwrap()), vec!["library"]);
        let mine: Value = s
            .api(Method::GET, "/projects", o)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(mine.clone()), vec!["library", "secret"]);
        let secret = mine
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "secret")
            .unwrap();
        assert_eq!(secret["current_user_role_id"], 1);
        assert_eq!(secret["togglable"], true);
        assert_eq!(secret["owner_name"], "owner");
        assert_eq!(secret["metadata"]["public"], "false");
        let all: Value = s
            .api(Method::GET, "/projects?name=sec", ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(all), vec!["secret"]);
        s.expect(Method::GET, &format!("/projects/{id}"), None, None)
            .await
            .error(401, "UNAUTHORIZED");
        s.expect(Method::GET, "/projects/secret", x, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/projects/nothere", o, None)
            .await
            .error(404, "NOT_FOUND");

        // Members.
        let members = format!("/projects/{id}/members");
        for (user, body, status, code) in [
            (
                x,
                Some(json!({"role_id": 2, "member_user": {"username": "dev"}})),
                403,
                "FORBIDDEN",
            ),
            (
                o,
                Some(json!({"role_id": 9, "member_user": {"username": "dev"}})),
                400,
                "BAD_REQUEST",
            ),
            (
                o,
                Some(json!({"role_id": 2, "member_user": {"username": "nobody"}})),
                404,
                "NOT_FOUND",
            ),
        ] {
            s.expect(Method::POST, members.as_str(), user, body.as_ref())
                .await
                .error(status, code);
        }
        let r = s
            .api(Method::POST, &members, o)
            .json(&json!({"role_id": 3, "member_user": {"username": "dev"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let mid: i64 = header(&r, "location")
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        s.expect(
            Method::POST,
            &members,
            o,
            Some(&json!({"role_id": 3, "member_user": {"username": "dev"}})),
        )
        .await
        .error(409, "CONFLICT");
        let list: Value = s
            .api(Method::GET, &members, d)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dev = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["entity_name"] == "dev")
            .unwrap();
        assert_eq!(dev["role_name"], "guest");
        assert_eq!(dev["entity_type"], "u");
        let got: Value = s
            .api(Method::GET, "/projects/secret", d)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["current_user_role_ids"], json!([3]));
        // A guest cannot change metadata or members.
        s.expect(
            Method::PUT,
            "/projects/secret",
            d,
            Some(&json!({"metadata": {"public": "true"}})),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(
            Method::PUT,
            &format!("{members}/{mid}"),
            d,
            Some(&json!({"role_id": 1})),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(
            Method::PUT,
            &format!("{members}/{mid}"),
            o,
            Some(&json!({"role_id": 2})),
        )
        .await
        .is(200);
        let m: Value = s
            .api(Method::GET, &format!("{members}/{mid}"), o)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["role_name"], "developer");

        // Metadata.
        s.expect(
            Method::PUT,
            "/projects/secret",
            o,
            Some(&json!({"metadata": {"auto_scan": "true", "severity": "high"}})),
        )
        .await
        .is(200);
        let md: Value = s
            .api(Method::GET, &format!("/projects/{id}/metadatas/"), o)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            md,
            json!({"auto_scan": "true", "public": "false", "severity": "high"})
        );
        let one: Value = s
            .api(
                Method::GET,
                &format!("/projects/{id}/metadatas/severity"),
                o,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one, json!({"severity": "high"}));
        s.expect(
            Method::DELETE,
            &format!("/projects/{id}/metadatas/auto_scan"),
            o,
            None,
        )
        .await
        .is(200);
        s.expect(
            Method::GET,
            &format!("/projects/{id}/metadatas/auto_scan"),
            o,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        s.expect(
            Method::PUT,
            &format!("/projects/{id}/metadatas/public"),
            o,
            Some(&json!({"public": "true"})),
        )
        .await
        .is(200);
        // Now public: strangers and anonymous can read it, not change it.
        s.expect(Method::GET, "/projects/secret", None, None)
            .await
            .is(200);
        s.expect(Method::GET, &members, None, None)
            .await
            .error(401, "UNAUTHORIZED");

        // Deletion: refused while it holds repositories, by non-admins of it, then done.
        s.push_image("secret/app", "v1", "x").await;
        let r: Value = s
            .api(Method::GET, &format!("/projects/{id}/_deletable"), o)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["deletable"], false);
        s.expect(Method::DELETE, &format!("/projects/{id}"), o, None)
            .await
            .error(412, "PRECONDITION");
        let empty = s.create_project("empty", false, o).await;
        s.expect(Method::DELETE, &format!("/projects/{empty}"), d, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::DELETE, &format!("/projects/{empty}"), o, None)
            .await
            .is(200);
        s.expect(Method::GET, &format!("/projects/{empty}"), o, None)
            .await
            .error(404, "NOT_FOUND");
        s.expect(Method::DELETE, &format!("{members}/{mid}"), o, None)
            .await
            .is(200);
        s.expect(Method::GET, &format!("{members}/{mid}"), o, None)
            .await
            .error(404, "NOT_FOUND");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_throttled() {
    for s in servers().await {
        s.create_user("victim", "Victim1234").await;
        let try_login = |pw: &'static str| {
            let s = &s;
            async move {
                s.api(Method::GET, "/users/current", Some(("victim", pw)))
                    .send()
                    .await
                    .unwrap()
            }
        };
        // 20 wrong passwords in a row, some at once: the first 10 are plain
        // 401s (never a server error), the rest are throttled.
        let wrong: Vec<_> = (0..20).map(|_| try_login("Wrong12345")).collect();
        let mut statuses: Vec<u16> = Vec::new();
        for r in futures_util::future::join_all(wrong).await {
            statuses.push(r.status().as_u16());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 401).count(),
            10,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            10,
            "{statuses:?}"
        );
        // Locked: even the right password waits, on /api, /v2 and the token service.
        api_error(try_login("Victim1234").await, 429, "TOO_MANY_REQUESTS").await;
        s.expect(Method::GET, "/v2/", Some(("victim", "Victim1234")), None)
            .await
            .error(429, "TOOMANYREQUESTS");
        let r = s
            .anon
            .get(s.u("/service/token"))
            .basic_auth("victim", Some("Victim1234"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        // And the portal's sign-in form, with the lockout's message.
        let r = s
            .anon
            .post(s.u("/harbor/sign-in"))
            .header("cookie", "berth_signin=t0ken")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("_csrf=t0ken&principal=victim&password=Victim1234")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let page = r.text().await.unwrap();
        assert!(page.contains("failed logins for this user"), "{page}");
        // Other users are unaffected.
        s.expect(Method::GET, "/users/current", ADMIN, None)
            .await
            .is(200);
        sleep_ms(2100).await;
        assert_eq!(try_login("Victim1234").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn first_admin_password_is_generated_once_and_resettable() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = serve(dir.path());
        cmd.env_remove("BERTH_ADMIN_PASSWORD");
        spawn_listening(cmd)
    };
    let (mut child, url) = start();
    let file = dir.path().join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let client = reqwest::Client::new();
    let me = |url: String, pw: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{url}/api/v2.0/users/current"))
                .basic_auth("admin", Some(pw))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(url.clone(), password.clone()).await, StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
    // A second start keeps the same admin.
    let (mut child, url) = start();
    assert_eq!(me(url.clone(), password.clone()).await, StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();

    let out = berth()
        .args(["admin", "reset-password", "admin", "--data-dir"])
        .arg(dir.path())
        .env("BERTH_NEW_PASSWORD", "Reset12345")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, url) = start();
    assert_eq!(me(url.clone(), "Reset12345".into()).await, StatusCode::OK);
    assert_eq!(me(url, password).await, StatusCode::UNAUTHORIZED);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn repositories_api() {
    for s in servers().await {
        s.create_user("member", "Member1234").await;
        s.create_user("stranger", "Strange123").await;
        let (m, x) = (
            Some(("member", "Member1234")),
            Some(("stranger", "Strange123")),
        );
        let r = s
            .api(Method::POST, "/projects/p/members", ADMIN)
            .header("x-is-resource-name", "true")
            .json(&json!({"role_id": 2, "member_user": {"username": "member"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        s.push_image("p/web/app", "v1", "a").await;
        s.push_image("p/web/app", "v2", "b").await;
        s.push_image("p/db", "v1", "c").await;
        s.push_image("library/pub", "v1", "d").await;
        s.push_blob("p/blobs-only", b"no manifest").await;

        let names = |v: Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect()
        };
        let r = s
            .api(Method::GET, "/projects/p/repositories", m)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "2");
        let list: Value = r.json().await.unwrap();
        assert_eq!(names(list.clone()), vec!["p/db", "p/web/app"]);
        let app = &list[1];
        assert_eq!(app["artifact_count"], 2);
        assert!(app["project_id"].as_i64().unwrap() > 0 && app["creation_time"].is_string());
        for (path, user, status, code) in [
            ("/projects/p/repositories", x, 403, "FORBIDDEN"),
            ("/projects/p/repositories", None, 401, "UNAUTHORIZED"),
            ("/projects/none/repositories", m, 404, "NOT_FOUND"),
        ] {
            s.expect(Method::GET, path, user, None)
                .await
                .error(status, code);
        }

        // All visible repositories: a stranger sees public ones only.
        let all: Value = s
            .api(Method::GET, "/repositories", x)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(all), vec!["library/pub"]);
        let all: Value = s
            .api(Method::GET, "/repositories?q=name%3D~web", m)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(all), vec!["p/web/app"]);
        let r = s
            .api(Method::GET, "/repositories?page=2&page_size=1", ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "3");
        assert!(
            header(&r, "link").contains("rel=\"prev\"")
                && header(&r, "link").contains("rel=\"next\"")
        );
        let r = s
            .api(Method::GET, "/repositories?q=name%3Dp%2Fweb", ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "0", "exact, not fuzzy");
        s.expect(Method::GET, "/repositories?q=owner%3Dx", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");

        // Double-encoded names; description; delete by role.
        let one: Value = s
            .api(Method::GET, "/projects/p/repositories/web%252Fapp", m)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["name"], "p/web/app");
        s.expect(
            Method::PUT,
            "/projects/p/repositories/web%252Fapp",
            m,
            Some(&json!({"description": "the web app"})),
        )
        .await
        .is(200);
        let one: Value = s
            .api(Method::GET, "/projects/p/repositories/web%252Fapp", m)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["description"], "the web app");
        s.expect(Method::DELETE, "/projects/p/repositories/db", m, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::DELETE, "/projects/p/repositories/db", ADMIN, None)
            .await
            .is(200);
        s.expect(Method::GET, "/projects/p/repositories/db", ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        expect_error(s.get("/v2/p/db/manifests/v1").await, 404, "NAME_UNKNOWN").await;
        assert_eq!(
            s.get("/v2/p/web/app/manifests/v1").await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn systeminfo_and_statistics() {
    for s in servers().await {
        let anon: Value = s
            .api(Method::GET, "/systeminfo", None)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(anon["auth_mode"], "db_auth");
        assert_eq!(anon["self_registration"], false);
        assert!(anon.get("external_url").is_none() && anon.get("read_only").is_none());
        let full: Value = s
            .api(Method::GET, "/systeminfo", ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(full["external_url"], s.url.as_str());
        assert_eq!(full["registry_url"], s.url.trim_start_matches("http://"));
        assert!(full["current_time"].is_string());

        s.expect(Method::GET, "/statistics", None, None)
            .await
            .error(401, "UNAUTHORIZED");
        s.create_user("viewer", "Viewer1234").await;
        let layer = bytes(5000, 9);
        let d = s.push_blob("library/pub", &layer).await;
        let config = b"{}".to_vec();
        let cd = s.push_blob("library/pub", &config).await;
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, 2),
            &[(OCI_LAYER, &d, 5000)],
            None,
        );
        assert_eq!(
            s.put_manifest("library/pub", "v1", OCI_MANIFEST, &body)
                .await
                .status(),
            StatusCode::CREATED
        );
        let public_manifest = body.len() as i64;
        // The same layer in a private repository is counted once.
        let r = s
            .client
            .post(s.u(&format!(
                "/v2/p/app/blobs/uploads/?mount={d}&from=library/pub"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let cd2 = s.push_blob("p/app", b"[]").await;
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd2, 2),
            &[(OCI_LAYER, &d, 5000)],
            None,
        );
        assert_eq!(
            s.put_manifest("p/app", "v1", OCI_MANIFEST, &body)
                .await
                .status(),
            StatusCode::CREATED
        );
        let private_manifest = body.len() as i64;

        let st: Value = s
            .api(Method::GET, "/statistics", ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["public_project_count"], 1);
        assert_eq!(st["private_project_count"], 2);
        assert_eq!(st["total_project_count"], 3);
        assert_eq!(st["public_repo_count"], 1);
        assert_eq!(st["private_repo_count"], 1);
        // Manifests count as Harbor's quotas count them.
        assert_eq!(
            st["total_storage_consumption"],
            5000 + 2 + 2 + public_manifest + private_manifest
        );
        let st: Value = s
            .api(Method::GET, "/statistics", Some(("viewer", "Viewer1234")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["total_project_count"], 1);
        assert_eq!(st["private_repo_count"], 0);
        assert_eq!(st["total_storage_consumption"], 5000 + 2 + public_manifest);

        // Deleted artifacts stop counting at once, whether or not GC has run.
        s.expect(
            Method::DELETE,
            "/projects/library/repositories/pub/artifacts/v1",
            ADMIN,
            None,
        )
        .await
        .is(200);
        let st: Value = s.api_json("/statistics", ADMIN).await;
        assert_eq!(st["total_storage_consumption"], 5000 + 2 + private_manifest);
        // As in Harbor, the repository stays, listed with no artifacts,
        // until it is deleted itself.
        assert_eq!(st["public_repo_count"], 1);
        let repo: Value = s
            .api_json("/projects/library/repositories/pub", ADMIN)
            .await;
        assert_eq!(repo["artifact_count"], 0, "{repo}");
        let summary: Value = s.api_json("/projects/library/summary", ADMIN).await;
        assert_eq!(summary["quota"]["used"]["storage"], 0, "{summary}");
        assert_eq!(summary["repo_count"], 1, "{summary}");
        let summary: Value = s.api_json("/projects/p/summary", ADMIN).await;
        assert_eq!(
            summary["quota"]["used"]["storage"],
            5000 + 2 + private_manifest
        );
        assert_eq!(summary["quota"]["hard"]["storage"], -1);
    }
}

#[tokio::test]
async fn artifacts_and_tags_api() {
    for s in servers().await {
        s.create_user("guest", "Guest12345").await;
        let g = Some(("guest", "Guest12345"));
        let r = s
            .api(Method::POST, "/projects/p/members", ADMIN)
            .header("x-is-resource-name", "true")
            .json(&json!({"role_id": 3, "member_user": {"username": "guest"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let (d1, _) = s.push_image("p/web/app", "v1", "one").await;
        let (d2, _) = s.push_image("p/web/app", "v2", "two").await;
        let base = "/projects/p/repositories/web%252Fapp/artifacts";

        let r = s.api(Method::GET, base, g).send().await.unwrap();
        assert_eq!(header(&r, "x-total-count"), "2");
        let list: Value = r.json().await.unwrap();
        assert_eq!(list[0]["digest"], d2.as_str(), "newest first");
        assert_eq!(list[0]["type"], "IMAGE");
        assert_eq!(list[0]["manifest_media_type"], OCI_MANIFEST);
        assert_eq!(list[0]["repository_name"], "p/web/app");
        assert_eq!(list[0]["tags"][0]["name"], "v2");
        assert!(list[0]["size"].as_i64().unwrap() > 0);
        let list: Value = s
            .api(Method::GET, &format!("{base}?with_tag=false"), g)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(list[0].get("tags").is_none());
        s.expect(Method::GET, base, None, None)
            .await
            .error(401, "UNAUTHORIZED");
        s.expect(
            Method::GET,
            "/projects/p/repositories/nope/artifacts",
            g,
            None,
        )
        .await
        .error(404, "NOT_FOUND");

        // By tag and by digest.
        let a: Value = s
            .api(Method::GET, &format!("{base}/v1"), g)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(a["digest"], d1.as_str());
        let a: Value = s
            .api(Method::GET, &format!("{base}/{d1}"), g)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(a["tags"][0]["name"], "v1");
        s.expect(Method::GET, &format!("{base}/nope"), g, None)
            .await
            .error(404, "NOT_FOUND");

        // Tags: a guest may list, not create; a maintainer-level user (admin) may.
        let body = json!({"name": "stable"});
        s.expect(Method::POST, &format!("{base}/v1/tags"), g, Some(&body))
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::POST, &format!("{base}/v1/tags"), ADMIN, Some(&body))
            .await
            .is(201);
        s.expect(Method::POST, &format!("{base}/v2/tags"), ADMIN, Some(&body))
            .await
            .error(409, "CONFLICT");
        s.expect(
            Method::POST,
            &format!("{base}/v1/tags"),
            ADMIN,
            Some(&json!({"name": "-bad"})),
        )
        .await
        .error(400, "BAD_REQUEST");
        let tags: Value = s
            .api(Method::GET, &format!("{base}/v1/tags"), g)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = tags
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["stable", "v1"]);
        let r = s.head("/v2/p/web/app/manifests/stable").await;
        assert_eq!(header(&r, "docker-content-digest"), d1);
        s.expect(Method::DELETE, &format!("{base}/v1/tags/stable"), g, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(
            Method::DELETE,
            &format!("{base}/v1/tags/stable"),
            ADMIN,
            None,
        )
        .await
        .is(200);
        s.expect(
            Method::DELETE,
            &format!("{base}/v1/tags/stable"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        assert_eq!(
            s.head("/v2/p/web/app/manifests/stable").await.status(),
            StatusCode::NOT_FOUND
        );

        // Delete an artifact: its tags go, the other artifact stays.
        s.expect(Method::DELETE, &format!("{base}/v1"), g, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::DELETE, &format!("{base}/v1"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            s.head(&format!("/v2/p/web/app/manifests/{d1}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.head("/v2/p/web/app/manifests/v2").await.status(),
            StatusCode::OK
        );
        // A child of an index cannot be deleted while the index stands.
        let (child, body) = s.push_image("p/multi", "c", "child").await;
        let idx = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &child, body.len())]);
        assert_eq!(
            s.put_manifest("p/multi", "all", OCI_INDEX, &idx)
                .await
                .status(),
            StatusCode::CREATED
        );
        s.expect(
            Method::DELETE,
            &format!("/projects/p/repositories/multi/artifacts/{child}"),
            ADMIN,
            None,
        )
        .await
        .error(412, "PRECONDITION");
    }
}

#[tokio::test]
async fn sessions_and_csrf() {
    for s in servers().await {
        let login = |pw: &str| {
            s.anon
                .post(s.u("/c/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("principal=admin&password={pw}"))
                .send()
        };
        api_error(login("wrong").await.unwrap(), 401, "UNAUTHORIZED").await;
        let r = login(ADMIN_PASSWORD).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = header(&r, "set-cookie").to_string();
        assert!(
            cookie.starts_with("sid=")
                && cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let csrf = header(&r, "x-harbor-csrf-token").to_string();
        let sid = cookie.split(';').next().unwrap().to_string();

        let r = s
            .anon
            .get(s.u("/api/v2.0/users/current"))
            .header("cookie", &sid)
            .send()
            .await
            .unwrap();
        // Every answer to a session request carries the token, as Harbor's do.
        assert_eq!(header(&r, "x-harbor-csrf-token"), csrf);
        let me: Value = r.json().await.unwrap();
        assert_eq!(me["username"], "admin");
        // Not to basic-auth or anonymous requests, which have no session.
        let r = s
            .api(Method::GET, "/users/current", ADMIN)
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("x-harbor-csrf-token").is_none());
        let create = |token: Option<&str>| {
            let mut rb = s
                .anon
                .post(s.u("/api/v2.0/projects"))
                .header("cookie", &sid)
                .json(&json!({"project_name": "from-browser"}));
            if let Some(t) = token {
                rb = rb.header("x-harbor-csrf-token", t);
            }
            rb.send()
        };
        api_error(create(None).await.unwrap(), 403, "FORBIDDEN").await;
        api_error(create(Some("forged")).await.unwrap(), 403, "FORBIDDEN").await;
        assert_eq!(
            create(Some(&csrf)).await.unwrap().status(),
            StatusCode::CREATED
        );

        let r = s
            .anon
            .get(s.u("/c/log_out"))
            .header("cookie", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header(&r, "set-cookie").contains("Max-Age=0"));
        let r = s
            .anon
            .get(s.u("/api/v2.0/users/current"))
            .header("cookie", &sid)
            .send()
            .await
            .unwrap();
        api_error(r, 401, "UNAUTHORIZED").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_counts_are_batched_and_survive_shutdown() {
    for mut s in servers().await {
        let (d, _) = s.push_image("p/pulled", "v1", "pc").await;
        for _ in 0..3 {
            assert_eq!(
                s.get("/v2/p/pulled/manifests/v1").await.status(),
                StatusCode::OK
            );
        }
        // HEAD is not a pull.
        s.head("/v2/p/pulled/manifests/v1").await;
        let repo = |s: &Server| {
            let rb = s.api(Method::GET, "/projects/p/repositories/pulled", ADMIN);
            async move { rb.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let mut count = 0;
        for _ in 0..50 {
            count = repo(&s).await["pull_count"].as_i64().unwrap();
            if count == 3 {
                break;
            }
            sleep_ms(100).await;
        }
        assert_eq!(count, 3, "pulls are written within a few seconds");
        let a: Value = s
            .api(
                Method::GET,
                &format!("/projects/p/repositories/pulled/artifacts/{d}"),
                ADMIN,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(a["pull_time"].is_string());

        // Pulls still in memory at SIGTERM are written before exit.
        s.get(&format!("/v2/p/pulled/manifests/{d}")).await;
        let mut child = s.terminate();
        assert!(child.wait().unwrap().success());
        s.restart();
        assert_eq!(repo(&s).await["pull_count"], 4);
    }
}

#[tokio::test]
async fn copy_artifacts_between_repositories() {
    for s in servers().await {
        let (d, body) = s.push_image("p/src", "v1", "copy").await;
        let idx = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &d, body.len())]);
        let idx_d = digest(&idx);
        assert_eq!(
            s.put_manifest("p/src", "multi", OCI_INDEX, &idx)
                .await
                .status(),
            StatusCode::CREATED
        );

        let copy = |to: &str, from: &str, user: Option<(&str, &str)>| {
            s.api(
                Method::POST,
                &format!("/projects/q/repositories/{to}/artifacts?from={from}"),
                user,
            )
            .send()
        };
        let r = copy("dst", "p/src:v1", ADMIN).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(header(&r, "location").ends_with(&d));
        let r = s.get("/v2/q/dst/manifests/v1").await;
        assert_eq!(header(&r, "docker-content-digest"), d);
        let m: Value = r.json().await.unwrap();
        for l in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
            let blob = s
                .get(&format!(
                    "/v2/q/dst/blobs/{}",
                    l["digest"].as_str().unwrap()
                ))
                .await;
            assert_eq!(blob.status(), StatusCode::OK);
        }
        // An index by digest brings its children and tags along.
        let r = copy("idx", &format!("p/src@{idx_d}"), ADMIN).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            header(
                &s.head("/v2/q/idx/manifests/multi").await,
                "docker-content-digest"
            ),
            idx_d
        );
        assert_eq!(
            s.head(&format!("/v2/q/idx/manifests/{d}")).await.status(),
            StatusCode::OK
        );

        api_error(
            copy("dst", "p/src:nope", ADMIN).await.unwrap(),
            404,
            "NOT_FOUND",
        )
        .await;
        api_error(
            copy("dst", "garbage", ADMIN).await.unwrap(),
            400,
            "BAD_REQUEST",
        )
        .await;
        // Pull on the source is not enough: the target needs artifact create.
        s.create_user("dev", "Devel12345").await;
        let r = s
            .api(Method::POST, "/projects/p/members", ADMIN)
            .header("x-is-resource-name", "true")
            .json(&json!({"role_id": 2, "member_user": {"username": "dev"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        api_error(
            copy("dev", "p/src:v1", Some(("dev", "Devel12345")))
                .await
                .unwrap(),
            403,
            "FORBIDDEN",
        )
        .await;
    }
}

#[tokio::test]
async fn project_summary_and_current_permissions() {
    for s in servers().await {
        s.create_user("g", "Guest12345").await;
        let g = Some(("g", "Guest12345"));
        let r = s
            .api(Method::POST, "/projects/p/members", ADMIN)
            .header("x-is-resource-name", "true")
            .json(&json!({"role_id": 3, "member_user": {"username": "g"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        s.push_image("p/one", "v1", "s").await;
        let sum: Value = s
            .api(Method::GET, "/projects/p/summary", g)
            .header("x-is-resource-name", "true")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sum["repo_count"], 1);
        assert_eq!(sum["project_admin_count"], 1);
        assert_eq!(sum["guest_count"], 1);
        assert_eq!(sum["developer_count"], 0);
        api_error(
            s.api(Method::GET, "/projects/p/summary", None)
                .header("x-is-resource-name", "true")
                .send()
                .await
                .unwrap(),
            401,
            "UNAUTHORIZED",
        )
        .await;

        let pid = sum_project_id(&s).await;
        let perms: Value = s
            .api(
                Method::GET,
                &format!("/users/current/permissions?scope=/project/{pid}&relative=true"),
                g,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let has = |res: &str, act: &str| {
            perms
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["resource"] == res && p["action"] == act)
        };
        assert!(has("repository", "pull") && has("member", "list") && has("artifact", "list"));
        assert!(!has("repository", "push") && !has("member", "create"));
        let full: Value = s
            .api(
                Method::GET,
                &format!("/users/current/permissions?scope=/project/{pid}"),
                g,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(full
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["resource"] == format!("/project/{pid}/repository").as_str()));
        s.expect(
            Method::GET,
            "/users/current/permissions?scope=/system",
            g,
            None,
        )
        .await
        .error(400, "BAD_REQUEST");
    }
}

async fn sum_project_id(s: &Server) -> i64 {
    let p: Value = s
        .api(Method::GET, "/projects/p", ADMIN)
        .header("x-is-resource-name", "true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    p["project_id"].as_i64().unwrap()
}

#[tokio::test]
async fn search_projects_and_repositories() {
    for s in servers().await {
        s.create_user("x", "Stranger12").await;
        s.push_image("p/webapp", "v1", "w").await;
        s.push_image("library/webserver", "v1", "l").await;
        let admin: Value = s
            .api(Method::GET, "/search?q=web", ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let repos: Vec<&str> = admin["repository"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["repository_name"].as_str().unwrap())
            .collect();
        assert_eq!(repos, vec!["library/webserver", "p/webapp"]);
        assert_eq!(admin["repository"][0]["project_public"], true);
        let found: Value = s
            .api(Method::GET, "/search?q=lib", None)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["project"][0]["name"], "library");
        let stranger: Value = s
            .api(Method::GET, "/search?q=web", Some(("x", "Stranger12")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            stranger["repository"].as_array().unwrap().len(),
            1,
            "private repositories stay hidden"
        );
        s.expect(Method::GET, "/search", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");
    }
}
