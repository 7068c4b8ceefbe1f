//! Administration on the v2.0 API: run-time configurations (project
//! creation restriction, token expiration, self-registration), robot-grantable
//! permissions, user deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const PW: &str = "Passw0rd!";

#[tokio::test]
async fn project_creation_restriction() {
    for s in servers().await {
        s.create_user("ann", PW).await;
        let ann = Some(("ann", PW));
        let get = |user| s.api(Method::GET, "/configurations", user).send();
        let cfg: Value = get(ADMIN).await.unwrap().json().await.unwrap();
        assert_eq!(
            cfg["project_creation_restriction"],
            json!({"value": "everyone", "editable": true})
        );
        assert_eq!(cfg["auth_mode"]["value"], "db_auth");
        assert_eq!(cfg["auth_mode"]["editable"], false);
        assert_eq!(cfg["token_expiration"]["value"], 30);
        expect_error(get(ann).await.unwrap(), 403, "FORBIDDEN").await;
        expect_error(get(None).await.unwrap(), 401, "UNAUTHORIZED").await;

        let put = |user, body: Value| {
            s.api(Method::PUT, "/configurations", user)
                .json(&body)
                .send()
        };
        for bad in [
            json!({"project_creation_restriction": "nobody"}),
            json!({"project_creation_restriction": 1}),
            json!({"auth_mode": "ldap_auth"}),
            json!({"no_such_setting": "x"}),
        ] {
            expect_error(put(ADMIN, bad).await.unwrap(), 400, "BAD_REQUEST").await;
        }
        let adminonly = json!({"project_creation_restriction": "adminonly"});
        expect_error(put(ann, adminonly.clone()).await.unwrap(), 403, "FORBIDDEN").await;
        s.create_project("before", false, ann).await;
        assert_eq!(put(ADMIN, adminonly).await.unwrap().status(), 200);
        let cfg: Value = get(ADMIN).await.unwrap().json().await.unwrap();
        assert_eq!(cfg["project_creation_restriction"]["value"], "adminonly");
        let info: Value = s.api_json("/systeminfo", ann).await;
        assert_eq!(info["project_creation_restriction"], "adminonly");

        let create = |user| {
            s.api(Method::POST, "/projects", user)
                .json(&json!({"project_name": "later"}))
                .send()
        };
        expect_error(create(ann).await.unwrap(), 403, "FORBIDDEN").await;
        // A system robot granted project creation may, as in Harbor; the
        // project is the first administrator's.
        let robot: Value = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&json!({"name": "maker", "level": "system", "duration": -1,
                "permissions": [{"kind": "system", "namespace": "/",
                    "access": [{"resource": "project", "action": "create"}]}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (name, secret) = (
            robot["name"].as_str().unwrap().to_string(),
            robot["secret"].as_str().unwrap().to_string(),
        );
        let by_robot = s
            .api(
                Method::POST,
                "/projects",
                Some((name.as_str(), secret.as_str())),
            )
            .json(&json!({"project_name": "robots"}))
            .send()
            .await
            .unwrap();
        assert_eq!(by_robot.status(), 201);
        let made: Value = s.api_json("/projects/robots", ADMIN).await;
        assert_eq!(made["owner_name"], "admin");
        // The setting is kept across a restart.
        let mut s = s;
        s.restart();
        let create = |user| {
            s.api(Method::POST, "/projects", user)
                .json(&json!({"project_name": "later"}))
                .send()
        };
        expect_error(create(ann).await.unwrap(), 403, "FORBIDDEN").await;
        assert_eq!(create(ADMIN).await.unwrap().status(), 201);
        let back = json!({"project_creation_restriction": "everyone"});
        s.configure(back).await.is(200);
        s.create_project("again", false, ann).await;
    }
}

#[tokio::test]
async fn grantable_permissions() {
    for s in servers().await {
        let v: Value = s.api_json("/permissions", ADMIN).await;
        let has = |scope: &str, resource: &str, action: &str| {
            v[scope]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["resource"] == resource && p["action"] == action)
        };
        assert!(has("project", "repository", "pull"));
        assert!(has("project", "repository", "push"));
        assert!(has("project", "accessory", "list"));
        assert!(has("system", "project", "create"));
        assert!(!has("system", "repository", "pull"));
        // Everything listed can really be granted.
        let r = s
            .api(Method::POST, "/robots", ADMIN)
            .json(&json!({
                "name": "all", "level": "system", "duration": -1,
                "permissions": [
                    {"kind": "system", "namespace": "/", "access": v["system"]},
                    {"kind": "project", "namespace": "*", "access": v["project"]},
                ],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        s.create_user("bob", PW).await;
        s.expect(Method::GET, "/permissions", Some(("bob", PW)), None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/permissions", None, None)
            .await
            .error(401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn deleting_users() {
    for s in servers().await {
        let cid = s.create_user("cat", PW).await;
        let did = s.create_user("dan", PW).await;
        let cat = Some(("cat", PW));
        let pid = s.create_project("catsproj", false, cat).await;
        s.expect(
            Method::POST,
            "/projects/p/members",
            ADMIN,
            Some(&json!({"role_id": 2, "member_user": {"username": "cat"}})),
        )
        .await
        .is(201);

        let del = |id: i64, user| s.api(Method::DELETE, &format!("/users/{id}"), user).send();
        expect_error(del(did, cat).await.unwrap(), 403, "FORBIDDEN").await;
        expect_error(del(did, None).await.unwrap(), 401, "UNAUTHORIZED").await;
        expect_error(del(1, ADMIN).await.unwrap(), 403, "FORBIDDEN").await;
        expect_error(del(9999, ADMIN).await.unwrap(), 404, "NOT_FOUND").await;
        assert_eq!(del(cid, ADMIN).await.unwrap().status(), 200);

        s.expect(Method::GET, &format!("/users/{cid}"), ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        s.expect(Method::GET, "/users/current", cat, None)
            .await
            .error(401, "UNAUTHORIZED");
        let project: Value = s.api_json(&format!("/projects/{pid}"), ADMIN).await;
        assert_eq!(project["owner_name"], "admin");
        let members: Vec<Value> = s.api_json("/projects/p/members", ADMIN).await;
        assert!(
            members.iter().all(|m| m["entity_name"] != "cat"),
            "{members:?}"
        );
        // The name is free again.
        s.create_user("cat", PW).await;
    }
}

#[tokio::test]
async fn read_only_mode_refuses_every_write() {
    for s in servers().await {
        s.push_image("p/app", "v1", "before").await;
        s.configure(json!({"read_only": "sometimes"}))
            .await
            .error(400, "BAD_REQUEST");
        s.configure(json!({"read_only": true})).await.is(200);
        let cfg: Value = s.api_json("/configurations", ADMIN).await;
        assert_eq!(cfg["read_only"], json!({"value": true, "editable": true}));

        // /v2 writes: the OCI envelope.
        let upload = "/v2/p/app/blobs/uploads/";
        let body = s
            .expect(Method::POST, upload, ADMIN, None)
            .await
            .error(403, "DENIED");
        assert_eq!(
            body["errors"][0]["message"],
            "The system is in read only mode. Any modification is prohibited."
        );
        assert_eq!(s.delete("/v2/p/app/manifests/v1").await.status(), 403);
        // /api writes: Harbor's envelope with DENIED.
        s.expect(
            Method::POST,
            "/projects",
            ADMIN,
            Some(&json!({"project_name": "nope"})),
        )
        .await
        .error(403, "DENIED");
        // Reads and logins go on.
        assert_eq!(s.get("/v2/p/app/manifests/v1").await.status(), 200);
        let r = s
            .anon
            .post(s.u("/c/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("principal=admin&password={ADMIN_PASSWORD}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Still on after a restart; off again through the configuration.
        let mut s = s;
        s.restart();
        s.expect(Method::POST, upload, ADMIN, None)
            .await
            .error(403, "DENIED");
        s.configure(json!({"read_only": false})).await.is(200);
        s.push_image("p/app", "v2", "after").await;
    }
}

#[tokio::test]
async fn token_expiration_is_editable() {
    for s in servers().await {
        let put = |body: Value| {
            s.api(Method::PUT, "/configurations", ADMIN)
                .json(&body)
                .send()
        };
        let expires_in = || async {
            let r = s
                .anon
                .get(s.u("/service/token?service=harbor-registry"))
                .basic_auth("admin", Some(ADMIN_PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["expires_in"].clone()
        };
        assert_eq!(expires_in().await, 30 * 60);
        for bad in [json!(0), json!(-5), json!("soon"), json!(true)] {
            let r = put(json!({"token_expiration": bad})).await.unwrap();
            expect_error(r, 400, "BAD_REQUEST").await;
        }
        assert_eq!(
            put(json!({"token_expiration": 5})).await.unwrap().status(),
            200
        );
        let cfg: Value = s.api_json("/configurations", ADMIN).await;
        assert_eq!(
            cfg["token_expiration"],
            json!({"value": 5, "editable": true})
        );
        assert_eq!(expires_in().await, 5 * 60);
    }
}

#[tokio::test]
async fn self_registration() {
    for s in servers().await {
        let sign_up = |name: &str| {
            s.api(Method::POST, "/users", None)
                .json(
                    &json!({"username": name, "email": format!("{name}@example.com"),
                    "realname": name, "password": PW}),
                )
                .send()
        };
        // The sign-up form asks whether a name or email is taken.
        let exists = |user: Option<(&'static str, &'static str)>, target: &str, value: &str| {
            let mut r = (s.anon.post(s.u("/c/userExists")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("target={target}&value={value}"));
            if let Some((u, p)) = user {
                r = r.basic_auth(u, Some(p));
            }
            r.send()
        };
        let answer = |r: reqwest::Response| async move {
            assert_eq!(r.status(), 200);
            r.json::<bool>().await.unwrap()
        };
        let info: Value = s.api_json("/systeminfo", None).await;
        assert_eq!(info["self_registration"], false);
        expect_error(sign_up("eve").await.unwrap(), 401, "UNAUTHORIZED").await;
        let closed = exists(None, "username", "admin").await.unwrap();
        expect_error(closed, 412, "PRECONDITION").await;
        assert!(answer(exists(ADMIN, "username", "admin").await.unwrap()).await);

        let on = json!({"self_registration": true});
        s.configure(on).await.is(200);
        assert!(answer(exists(None, "username", "admin").await.unwrap()).await);
        assert!(!answer(exists(None, "username", "eve").await.unwrap()).await);
        assert!(answer(exists(None, "email", "admin%40example.com").await.unwrap()).await);
        assert!(!answer(exists(None, "email", "eve%40example.com").await.unwrap()).await);
        let bad = exists(None, "realname", "x").await.unwrap();
        expect_error(bad, 400, "BAD_REQUEST").await;
        let info: Value = s.api_json("/systeminfo", None).await;
        assert_eq!(info["self_registration"], true);
        assert_eq!(sign_up("eve").await.unwrap().status(), 201);
        assert!(answer(exists(None, "username", "eve").await.unwrap()).await);
        expect_error(sign_up("eve").await.unwrap(), 409, "CONFLICT").await;
        // The new user logs in and is no administrator.
        let me: Value = s.api_json("/users/current", Some(("eve", PW))).await;
        assert_eq!(me["username"], "eve");
        assert_eq!(me["sysadmin_flag"], false);
        // A logged-in user who is not an administrator still cannot create users.
        s.expect(
            Method::POST,
            "/users",
            Some(("eve", PW)),
            Some(&json!({"username": "mallory", "email": "m@example.com",
                "realname": "m", "password": PW})),
        )
        .await
        .error(403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn systeminfo_reflects_the_settings() {
    for s in servers().await {
        let info: Value = s.api_json("/systeminfo", None).await;
        // Harbor's version is among the protected fields.
        assert!(info.get("harbor_version").is_none(), "{info}");
        assert_eq!(info["banner_message"], "");
        let info: Value = s.api_json("/systeminfo", ADMIN).await;
        assert_eq!(info["read_only"], false);
        assert_eq!(info["notification_enable"], true);
        assert!(info["harbor_version"]
            .as_str()
            .unwrap()
            .starts_with("berth-"));

        let banner = r#"{"closable":true,"message":"maintenance at 10","type":"warning"}"#;
        let change =
            json!({"read_only": true, "notification_enable": false, "banner_message": banner});
        s.configure(change).await.is(200);
        let info: Value = s.api_json("/systeminfo", ADMIN).await;
        assert_eq!(info["read_only"], true);
        assert_eq!(info["notification_enable"], false);
        assert_eq!(info["banner_message"], banner);
        let anon: Value = s.api_json("/systeminfo", None).await;
        assert_eq!(anon["banner_message"], banner);
        assert!(anon.get("read_only").is_none());
        let cfg: Value = s.api_json("/configurations", ADMIN).await;
        assert_eq!(cfg["banner_message"]["value"], banner);

        let too_long = json!({"read_only": false, "banner_message": "x".repeat(5000)});
        s.configure(too_long).await.error(400, "BAD_REQUEST");
    }
}
