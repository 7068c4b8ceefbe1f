//! Tag retention: policies under Harbor's rules, dry runs that list exactly
//! what each template would delete among 100 artifacts of known push and
//! pull times, and a real run that deletes that and nothing else — never
//! an immutable artifact — and tells a webhook.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::webhook::receiver;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const DAY: i64 = 24 * 3600 * 1000;
const PW: &str = "Passw0rd-1";

fn rule(template: &str, n: i64, tags: &str) -> Value {
    json!({
        "template": template,
        "params": {template: n},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
        "scope_selectors": {"repository": [
            {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    })
}

fn policy(project: i64, rules: Vec<Value>) -> Value {
    json!({"algorithm": "or", "rules": rules, "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
        "scope": {"level": "project", "ref": project}})
}

/// Pushes 100 artifacts into `ret/app`: number `i` pushed `i` days (and an
/// hour) ago, tagged `v<i>` below 90, pulled `i` half-days ago when `i` is
/// a multiple of 3. Returns their digests by number.
async fn hundred(s: &Server) -> Vec<String> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"retained layer";
    let (cd, ld) = (
        s.push_blob("ret/app", config).await,
        s.push_blob("ret/app", layer).await,
    );
    let db = s.open_db().await;
    let now = berth_db::now_millis();
    let mut digests = Vec::new();
    for i in 0..100i64 {
        let body = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, config.len()),
            &[(OCI_LAYER, &ld, layer.len())],
            Some(json!({"annotations": {"n": i.to_string()}})),
        );
        let d = digest(&body);
        let reference = if i < 90 { format!("v{i}") } else { d.clone() };
        let r = s
            .put_manifest("ret/app", &reference, OCI_MANIFEST, &body)
            .await;
        assert_eq!(r.status(), 201);
        let pushed = now - i * DAY - 3600 * 1000;
        let pulled = (i % 3 == 0).then_some(now - i * DAY / 2);
        sqlx::query("UPDATE artifact SET push_time = $1, pull_time = $2 WHERE digest = $3")
            .bind(pushed)
            .bind(pulled)
            .bind(&d)
            .execute(db.writer())
            .await
            .unwrap();
        sqlx::query(
            "UPDATE tag SET push_time = $1, pull_time = $2 \
             WHERE artifact_id IN (SELECT id FROM artifact WHERE digest = $3)",
        )
        .bind(pushed)
        .bind(pulled)
        .bind(&d)
        .execute(db.writer())
        .await
        .unwrap();
        digests.push(d);
    }
    digests
}

/// Runs the policy and waits for the run to end; its one task's (total,
/// retained) and the digests its log says it deletes (or would).
async fn run(s: &Server, id: i64, dry_run: bool) -> ((i64, i64), BTreeSet<String>) {
    let path = format!("/retentions/{id}/executions");
    let eid = s.create(&path, ADMIN, json!({"dry_run": dry_run})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        let this = (runs.as_array().unwrap().iter())
            .find(|r| r["id"] == eid)
            .unwrap();
        assert_eq!(this["dry_run"], dry_run);
        match this["status"].as_str().unwrap() {
            "Success" => break,
            "Pending" | "Running" => {}
            other => panic!("run ended {other}: {this}"),
        }
        assert!(Instant::now() < deadline, "the run did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tasks = (s
        .expect(Method::GET, &format!("{path}/{eid}/tasks"), ADMIN, None)
        .await)
        .is(200);
    assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
    let t = &tasks[0];
    assert_eq!(
        (t["repository"].as_str(), t["status"].as_str()),
        (Some("ret/app"), Some("Success"))
    );
    let log = s
        .api(
            Method::GET,
            &format!("{path}/{eid}/tasks/{}", t["id"]),
            ADMIN,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let deleted = (log.lines())
        .filter(|l| l.contains("DELETE ret/app@"))
        .map(|l| {
            l.split('@')
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let counts = (
        t["total"].as_i64().unwrap(),
        t["retained"].as_i64().unwrap(),
    );
    (counts, deleted)
}

/// The digests of the artifacts `ret/app` lists.
async fn left(s: &Server) -> BTreeSet<String> {
    let path = "/projects/ret/repositories/app/artifacts?page_size=100";
    let listed = s.expect(Method::GET, path, ADMIN, None).await.is(200);
    (listed.as_array().unwrap().iter())
        .map(|a| a["digest"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_template_keeps_what_harbor_keeps_and_runs_delete_the_rest() {
    for s in servers().await {
        let project: Value = {
            s.create_project("ret", false, ADMIN).await;
            s.api_json("/projects/ret", ADMIN).await
        };
        let pid = project["project_id"].as_i64().unwrap();
        let digests = hundred(&s).await;
        let hooks = receiver(0).await;
        let hook = json!({"name": "ret", "event_types": ["TAG_RETENTION"],
            "targets": [{"type": "http", "address": hooks.url}]});
        s.create("/projects/ret/webhook/policies", ADMIN, hook)
            .await;

        let meta = s
            .expect(Method::GET, "/retentions/metadatas", ADMIN, None)
            .await
            .is(200);
        let templates: Vec<&str> = (meta["templates"].as_array().unwrap().iter())
            .map(|t| t["rule_template"].as_str().unwrap())
            .collect();
        assert_eq!(
            templates,
            [
                "latestPushedK",
                "latestPulledN",
                "nDaysSinceLastPush",
                "nDaysSinceLastPull",
                "always"
            ]
        );

        // One policy per project, checked as Harbor checks it.
        let id = s
            .create(
                "/retentions",
                ADMIN,
                policy(pid, vec![rule("latestPushedK", 10, "**")]),
            )
            .await;
        let second = policy(pid, vec![rule("always", 0, "**")]);
        let e = (s
            .expect(Method::POST, "/retentions", ADMIN, Some(&second))
            .await)
            .error(400, "BAD_REQUEST");
        assert!(
            e.to_string().contains("already has retention policy"),
            "{e}"
        );
        let meta: Value = s.api_json("/projects/ret/metadatas", ADMIN).await;
        assert_eq!(meta["retention_id"], id.to_string());
        let one = format!("/retentions/{id}");
        let twice = policy(pid, vec![rule("always", 0, "**"), rule("always", 0, "**")]);
        (s.expect(Method::PUT, &one, ADMIN, Some(&twice)).await).error(409, "CONFLICT");
        let zero = policy(pid, vec![rule("latestPushedK", 0, "**")]);
        (s.expect(Method::PUT, &one, ADMIN, Some(&zero)).await).error(400, "BAD_REQUEST");
        s.create_user("dev", PW).await;
        let member = json!({"role_id": 2, "member_user": {"username": "dev"}});
        s.create("/projects/ret/members", ADMIN, member).await;
        let dev = Some(("dev", PW));
        (s.expect(Method::GET, &one, dev, None).await).is(200);
        let always = policy(pid, vec![rule("always", 0, "**")]);
        (s.expect(Method::PUT, &one, dev, Some(&always)).await).error(403, "FORBIDDEN");
        let run_path = format!("{one}/executions");
        (s.expect(
            Method::POST,
            &run_path,
            dev,
            Some(&json!({"dry_run": true})),
        )
        .await)
            .error(403, "FORBIDDEN");

        // Each template's dry run lists exactly what it would delete.
        let numbers = |keep: &[i64]| -> BTreeSet<String> {
            (0..100)
                .filter(|i| !keep.contains(i))
                .map(|i| digests[i as usize].clone())
                .collect()
        };
        let cases: Vec<(Value, Vec<i64>)> = vec![
            (rule("latestPushedK", 10, "**"), (0..10).collect()),
            (rule("latestPulledN", 5, "**"), vec![0, 3, 6, 9, 12]),
            (rule("nDaysSinceLastPush", 7, "**"), (0..7).collect()),
            (
                rule("nDaysSinceLastPull", 10, "**"),
                (0..=20).filter(|i| i % 3 == 0).collect(),
            ),
            (
                rule("always", 0, "v1*"),
                [1].into_iter().chain(10..20).collect(),
            ),
        ];
        for (r, keep) in cases {
            let template = r["template"].clone();
            (s.expect(Method::PUT, &one, ADMIN, Some(&policy(pid, vec![r])))
                .await)
                .is(200);
            let ((total, retained), deleted) = run(&s, id, true).await;
            assert_eq!((total, retained), (100, keep.len() as i64), "{template}");
            assert_eq!(deleted, numbers(&keep), "{template}");
        }
        assert_eq!(left(&s).await.len(), 100, "dry runs delete nothing");

        // A real run deletes that and nothing else; immutable tags stay.
        let frozen = json!({
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v5*"}],
            "scope_selectors": {"repository": [
                {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}});
        s.create("/projects/ret/immutabletagrules", ADMIN, frozen)
            .await;
        let keep: Vec<i64> = (0..7).chain([5]).chain(50..60).collect();
        let r = rule("nDaysSinceLastPush", 7, "**");
        (s.expect(Method::PUT, &one, ADMIN, Some(&policy(pid, vec![r])))
            .await)
            .is(200);
        let ((total, retained), deleted) = run(&s, id, false).await;
        assert_eq!((total, retained), (100, 17));
        assert_eq!(deleted, numbers(&keep));
        let kept: BTreeSet<String> = keep.iter().map(|i| digests[*i as usize].clone()).collect();
        assert_eq!(left(&s).await, kept);
        let got = hooks.wait(1).await;
        let retention = &got[0].1["event_data"]["retention"];
        assert_eq!(got[0].1["type"], "TAG_RETENTION");
        assert_eq!(
            (retention["total"].as_i64(), retention["retained"].as_i64()),
            (Some(100), Some(17))
        );
        assert_eq!(retention["deleted_artifact"].as_array().unwrap().len(), 83);
        assert_eq!(retention["project_name"], "ret");

        // A cron in the trigger schedules runs; a bad one is refused.
        let mut scheduled = policy(pid, vec![rule("always", 0, "**")]);
        scheduled["trigger"]["settings"]["cron"] = json!("0 0 3 * * *");
        (s.expect(Method::PUT, &one, ADMIN, Some(&scheduled)).await).is(200);
        let schedules = s
            .expect(Method::GET, "/schedules", ADMIN, None)
            .await
            .is(200);
        let ours = (schedules.as_array().unwrap().iter())
            .find(|x| x["vendor_type"] == "RETENTION" && x["vendor_id"] == id);
        assert_eq!(ours.unwrap()["cron"], "0 0 3 * * *", "{schedules}");
        scheduled["trigger"]["settings"]["cron"] = json!("every day");
        (s.expect(Method::PUT, &one, ADMIN, Some(&scheduled)).await).error(400, "BAD_REQUEST");

        // A run is stopped only by `stop`; deleting the policy unbinds it.
        let eid = s.create(&run_path, ADMIN, json!({"dry_run": true})).await;
        let patch = format!("{run_path}/{eid}");
        (s.expect(Method::PATCH, &patch, ADMIN, Some(&json!({"action": "go"})))
            .await)
            .error(400, "BAD_REQUEST");
        (s.expect(
            Method::PATCH,
            &patch,
            ADMIN,
            Some(&json!({"action": "stop"})),
        )
        .await)
            .is(200);
        (s.expect(Method::DELETE, &one, ADMIN, None).await).is(200);
        (s.expect(Method::GET, &one, ADMIN, None).await).error(404, "NOT_FOUND");
        let meta: Value = s.api_json("/projects/ret/metadatas", ADMIN).await;
        assert!(meta.get("retention_id").is_none(), "{meta}");
        let schedules = s
            .expect(Method::GET, "/schedules", ADMIN, None)
            .await
            .is(200);
        assert!(
            !(schedules.as_array().unwrap().iter()).any(|x| x["vendor_type"] == "RETENTION"),
            "{schedules}"
        );
    }
}
