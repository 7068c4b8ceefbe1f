//! Audit logs: what pushes, pulls, deletes, API changes and logins record,
//! who may read them, disabled event types, and the purge, on every database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PW: &str = "Passw0rd!";

/// Polls a log until `pred` holds (entries are written within a second or two).
async fn wait_for(
    s: &Server,
    path: &str,
    user: Option<(&str, &str)>,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<Value> = s.api_json(path, user).await;
        if pred(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: never matched: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has(rows: &[Value], operation: &str, resource_type: &str, resource: &str) -> bool {
    rows.iter().any(|r| {
        r["operation"] == operation
            && r["resource_type"] == resource_type
            && r["resource"] == resource
    })
}

#[tokio::test]
async fn registry_operations_are_logged() {
    for s in servers().await {
        let (d, _) = s.push_image("p/app", "v1", "one").await;
        let r = s.get("/v2/p/app/manifests/v1").await;
        assert_eq!(r.status(), 200);
        // A HEAD is not a pull.
        assert_eq!(s.head("/v2/p/app/manifests/v1").await.status(), 200);
        assert_eq!(s.delete("/v2/p/app/manifests/v1").await.status(), 202);
        assert_eq!(
            s.delete(&format!("/v2/p/app/manifests/{d}")).await.status(),
            202
        );
        let rows = wait_for(&s, "/audit-logs?page_size=100", ADMIN, |r| {
            has(r, "delete", "artifact", &format!("p/app@{d}"))
        })
        .await;
        assert!(has(&rows, "create", "artifact", "p/app:v1"), "{rows:#?}");
        assert!(has(&rows, "pull", "artifact", "p/app:v1"));
        assert!(has(&rows, "delete", "tag", "p/app:v1"));
        assert_eq!(rows.iter().filter(|r| r["operation"] == "pull").count(), 1);
        assert!(rows.iter().all(|r| r["username"] == "admin"));
        assert!(rows[0]["op_time"].as_str().unwrap().ends_with('Z'));
        // Filtered, by project.
        let pulls: Vec<Value> = s.api_json("/audit-logs?q=operation%3Dpull", ADMIN).await;
        assert_eq!(pulls.len(), 1);
        let project: Vec<Value> = s.api_json("/projects/p/logs", ADMIN).await;
        assert_eq!(project.len(), 5, "{project:#?}");
        assert!(has(&project, "create", "project", "p"));
        let other: Vec<Value> = s.api_json("/projects/q/logs", ADMIN).await;
        assert_eq!(other.len(), 1, "only q's creation: {other:#?}");
        let ext: Vec<Value> = s.api_json("/auditlog-exts?q=operation%3Dpull", ADMIN).await;
        assert_eq!(ext[0]["operation_result"], true);
        assert_eq!(ext[0]["operation_description"], "pull artifact p/app:v1");
    }
}

/// A burst bigger than one insert statement (entries are written many rows
/// a statement) is logged whole: every entry once.
#[tokio::test]
async fn a_burst_of_pulls_is_logged_entry_by_entry() {
    const PULLS: usize = 45;
    for s in servers().await {
        s.push_image("p/burst", "v1", "burst").await;
        let pulls = (0..PULLS).map(|_| s.get("/v2/p/burst/manifests/v1"));
        for r in futures_util::future::join_all(pulls).await {
            assert_eq!(r.status(), 200);
        }
        let path = "/audit-logs?q=operation%3Dpull&page_size=100";
        let rows = wait_for(&s, path, ADMIN, |r| r.len() >= PULLS).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rows_later: Vec<Value> = s.api_json(path, ADMIN).await;
        assert_eq!(rows_later.len(), PULLS, "{rows:#?}");
        assert!(rows_later
            .iter()
            .all(|r| r["resource"] == "p/burst:v1" && r["resource_type"] == "artifact"));
    }
}

#[tokio::test]
async fn api_changes_and_logins_are_logged_with_their_result() {
    for s in servers().await {
        s.create_user("ned", PW).await;
        let dup = s
            .api(Method::POST, "/users", ADMIN)
            .json(&json!({"username": "ned", "email": "x@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(dup.status(), 409);
        let pid = s.create_project("audp", false, ADMIN).await;
        let member = json!({"role_id": 1, "member_user": {"username": "ned"}});
        let r = s
            .api(Method::POST, "/projects/audp/members", ADMIN)
            .json(&member)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = s
            .api(Method::PUT, "/configurations", ADMIN)
            .json(&json!({"project_creation_restriction": "everyone"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let login = |pw: &str| {
            s.anon
                .post(s.u("/c/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("principal=ned&password={pw}"))
                .send()
        };
        assert_eq!(login("wrong").await.unwrap().status(), 401);
        let r = login(PW).await.unwrap();
        let sid = header(&r, "set-cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let r = s
            .anon
            .get(s.u("/c/log_out"))
            .header("cookie", sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // An unauthenticated attempt is nobody's operation.
        let r = s
            .api(Method::DELETE, &format!("/projects/{pid}"), None)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = s
            .api(Method::DELETE, &format!("/projects/{pid}"), ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        let rows = wait_for(&s, "/auditlog-exts?page_size=100", ADMIN, |r| {
            has(r, "delete", "project", "audp")
        })
        .await;
        let find = |op: &str, kind: &str| {
            rows.iter()
                .filter(|r| r["operation"] == op && r["resource_type"] == kind)
                // Projects p and q come with every test server.
                .filter(|r| kind != "project" || r["resource"] == "audp")
                .map(|r| {
                    (
                        r["operation_result"].as_bool().unwrap(),
                        r["username"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let creates = find("create", "user");
        assert!(
            creates.contains(&(true, "admin".into())) && creates.contains(&(false, "admin".into())),
            "{rows:#?}"
        );
        assert_eq!(find("create", "project"), [(true, "admin".to_string())]);
        assert!(has(&rows, "create", "project", "audp"));
        assert_eq!(find("create", "member"), [(true, "admin".to_string())]);
        assert_eq!(find("update", "configuration").len(), 1);
        let logins = find("login", "user");
        assert!(logins.contains(&(true, "ned".into())) && logins.contains(&(false, "ned".into())));
        assert_eq!(find("logout", "user"), [(true, "ned".to_string())]);
        assert_eq!(
            find("delete", "project"),
            [(true, "admin".to_string())],
            "the 401 is not logged"
        );
        // The legacy log keeps project creation and deletion only.
        let legacy: Vec<Value> = s.api_json("/audit-logs?page_size=100", ADMIN).await;
        assert!(
            has(&legacy, "create", "project", "audp") && has(&legacy, "delete", "project", "audp")
        );
        assert!(!legacy.iter().any(|r| r["resource_type"] == "user"));

        let types: Vec<Value> = s.api_json("/auditlog-exts/events", ADMIN).await;
        assert!(types.iter().any(|t| t["event_type"] == "login_user"));
    }
}

#[tokio::test]
async fn who_reads_which_logs() {
    for s in servers().await {
        s.create_user("pam", PW).await;
        s.create_user("dev", PW).await;
        let pam = Some(("pam", PW));
        let dev = Some(("dev", PW));
        s.create_project("pams", false, pam).await;
        let member = json!({"role_id": 2, "member_user": {"username": "dev"}});
        let r = s
            .api(Method::POST, "/projects/pams/members", pam)
            .json(&member)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        s.push_image("pams/app", "v1", "x").await;
        s.push_image("p/app", "v1", "y").await;
        wait_for(&s, "/audit-logs", ADMIN, |r| {
            has(r, "create", "artifact", "pams/app:v1")
        })
        .await;
        wait_for(&s, "/audit-logs", ADMIN, |r| {
            has(r, "create", "artifact", "p/app:v1")
        })
        .await;
        // A project admin sees their project's entries, not others'.
        let mine: Vec<Value> = s.api_json("/audit-logs?page_size=100", pam).await;
        assert!(has(&mine, "create", "artifact", "pams/app:v1"));
        assert!(!has(&mine, "create", "artifact", "p/app:v1"));
        let mine: Vec<Value> = s.api_json("/projects/pams/logs", pam).await;
        assert!(!mine.is_empty());
        // A developer may not read the project's log; only admins the extended one.
        let r = s
            .api(Method::GET, "/projects/pams/logs", dev)
            .send()
            .await
            .unwrap();
        expect_error(r, 403, "FORBIDDEN").await;
        let theirs: Vec<Value> = s.api_json("/audit-logs", dev).await;
        assert!(theirs.is_empty());
        let r = s
            .api(Method::GET, "/auditlog-exts", pam)
            .send()
            .await
            .unwrap();
        expect_error(r, 403, "FORBIDDEN").await;
        let r = s
            .api(Method::GET, "/audit-logs", None)
            .send()
            .await
            .unwrap();
        expect_error(r, 401, "UNAUTHORIZED").await;
        let r = s
            .api(Method::GET, "/audit-logs?q=bogus%3D1", ADMIN)
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "BAD_REQUEST").await;
    }
}

#[tokio::test]
async fn disabled_event_types_and_purge() {
    for s in servers().await {
        let set = |v: &str| {
            s.api(Method::PUT, "/configurations", ADMIN)
                .json(&json!({ "disabled_audit_log_event_types": v }))
                .send()
        };
        expect_error(set("pull_everything").await.unwrap(), 400, "BAD_REQUEST").await;
        assert_eq!(set("pull_artifact").await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        s.push_image("p/app", "v1", "x").await;
        assert_eq!(s.get("/v2/p/app/manifests/v1").await.status(), 200);
        wait_for(&s, "/audit-logs", ADMIN, |r| {
            has(r, "create", "artifact", "p/app:v1")
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pulls: Vec<Value> = s.api_json("/audit-logs?q=operation%3Dpull", ADMIN).await;
        assert!(pulls.is_empty(), "pulls are not logged while disabled");
        assert_eq!(set("").await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(s.get("/v2/p/app/manifests/v1").await.status(), 200);
        wait_for(&s, "/audit-logs?q=operation%3Dpull", ADMIN, |r| {
            r.len() == 1
        })
        .await;

        // Purge pulls older than 0 hours: a dry run counts, a real run deletes.
        let purge = |dry: bool| {
            s.api(Method::POST, "/system/purgeaudit/schedule", ADMIN)
                .json(&json!({"schedule": {"type": "Manual"}, "parameters": {
                    "audit_retention_hour": 0, "include_event_types": "pull_artifact", "dry_run": dry}}))
                .send()
        };
        for dry in [true, false] {
            let r = purge(dry).await.unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            let id = header(&r, "location")
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let v: Value = s.api_json(&format!("/system/purgeaudit/{id}"), ADMIN).await;
                if v["job_status"] == "Success" {
                    break;
                }
                assert!(Instant::now() < deadline, "{v}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let log = s
                .api(Method::GET, &format!("/system/purgeaudit/{id}/log"), ADMIN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            // One pull, in the legacy and the extended log.
            let expect = if dry {
                "would purge 2 entries"
            } else {
                "purged 2 entries"
            };
            assert!(log.contains(expect), "{log}");
        }
        let pulls: Vec<Value> = s.api_json("/audit-logs?q=operation%3Dpull", ADMIN).await;
        assert!(pulls.is_empty());
        let kept: Vec<Value> = s.api_json("/audit-logs?q=operation%3Dcreate", ADMIN).await;
        assert!(!kept.is_empty(), "other event types stay");
        let history: Vec<Value> = s.api_json("/system/purgeaudit", ADMIN).await;
        assert_eq!(history.len(), 2);
        let params: Value =
            serde_json::from_str(history[0]["job_parameters"].as_str().unwrap()).unwrap();
        assert_eq!(params["dry_run"], false);
        let bad =
            json!({"schedule": {"type": "Manual"}, "parameters": {"include_event_types": "nope"}});
        let r = s
            .api(Method::POST, "/system/purgeaudit/schedule", ADMIN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "BAD_REQUEST").await;
        let weekly =
            json!({"schedule": {"type": "Weekly"}, "parameters": {"audit_retention_hour": 168}});
        let r = s
            .api(Method::PUT, "/system/purgeaudit/schedule", ADMIN)
            .json(&weekly)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let sched: Value = s.api_json("/system/purgeaudit/schedule", ADMIN).await;
        assert_eq!(sched["schedule"]["cron"], "0 0 0 * * 0");
    }
}

/// Each service records what it did, naming the resource (users and robots
/// by name), and what it refused, whoever asked through whichever door.
#[tokio::test]
async fn services_record_changes_by_name_and_refusals() {
    for s in servers().await {
        let rita = s.create_user("rita", PW).await;
        let as_rita = Some(("rita", PW));
        s.push_image("p/app", "v1", "names").await;
        let call = |m: Method, path: &str, user, body: Option<Value>| {
            let rb = s.api(m, path, user);
            async move {
                match body {
                    Some(b) => rb.json(&b),
                    None => rb,
                }
                .send()
                .await
                .unwrap()
                .status()
            }
        };
        let admin_flag = json!({"sysadmin_flag": false});
        let path = format!("/users/{rita}/sysadmin");
        assert_eq!(call(Method::PUT, &path, ADMIN, Some(admin_flag)).await, 200);
        let robot = json!({"name": "ci", "level": "system", "duration": -1, "permissions": [
            {"kind": "project", "namespace": "p", "access": [{"resource": "repository", "action": "pull"}]}]});
        assert_eq!(call(Method::POST, "/robots", ADMIN, Some(robot)).await, 201);
        let tags = "/projects/p/repositories/app/artifacts/v1/tags";
        let tag = json!({"name": "v2"});
        assert_eq!(call(Method::POST, tags, ADMIN, Some(tag)).await, 201);
        // Refused: rita is no member of p.
        let art = "/projects/p/repositories/app/artifacts/v1";
        assert_eq!(call(Method::DELETE, art, as_rita, None).await, 403);
        assert_eq!(
            call(Method::DELETE, "/projects/p", as_rita, None).await,
            403
        );

        let rows = wait_for(&s, "/auditlog-exts?page_size=100", ADMIN, |r| {
            has(r, "delete", "project", "p")
        })
        .await;
        let result = |op: &str, kind: &str, resource: &str| {
            rows.iter()
                .find(|r| {
                    r["operation"] == op && r["resource_type"] == kind && r["resource"] == resource
                })
                .map(|r| (r["operation_result"].clone(), r["username"].clone()))
        };
        let ok = |who: &str| Some((json!(true), json!(who)));
        let refused = |who: &str| Some((json!(false), json!(who)));
        assert_eq!(result("create", "user", "rita"), ok("admin"), "{rows:#?}");
        assert_eq!(result("update", "user", "rita"), ok("admin"));
        assert_eq!(result("create", "robot", "robot$ci"), ok("admin"));
        assert_eq!(result("create", "tag", "p/app:v2"), ok("admin"));
        assert_eq!(result("delete", "artifact", "p/app:v1"), refused("rita"));
        assert_eq!(result("delete", "project", "p"), refused("rita"));
        // A refusal is not in the legacy log.
        let legacy: Vec<Value> = s.api_json("/audit-logs?page_size=100", ADMIN).await;
        assert!(
            !legacy.iter().any(|r| r["username"] == "rita"),
            "{legacy:#?}"
        );
    }
}
