//! Webhooks: policies, and deliveries of pushes, pulls and deletes to a
//! receiver this test runs on 127.0.0.1, in both payload formats, with
//! retries, on every database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::webhook::*;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const PW: &str = "Passw0rd!";

async fn add_policy(s: &Server, project: &str, events: &[&str], target: Value) -> i64 {
    add_policy_for(s, project, events, json!([target])).await
}

/// A policy with several targets; returns its id.
async fn add_policy_for(s: &Server, project: &str, events: &[&str], targets: Value) -> i64 {
    let name = format!("hook-{}", targets[0]["address"]);
    let body = json!({"name": name, "event_types": events, "targets": targets});
    s.create(
        &format!("/projects/{project}/webhook/policies"),
        ADMIN,
        body,
    )
    .await
}

#[tokio::test]
async fn pushes_pulls_and_deletes_reach_receivers_in_both_formats() {
    for s in servers().await {
        let plain = receiver(0).await;
        let cloud = receiver(0).await;
        let all = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"];
        add_policy(
            &s,
            "p",
            &all,
            json!({"type": "http", "address": plain.url, "auth_header": "Bearer s3cret"}),
        )
        .await;
        let cid = add_policy(
            &s,
            "p",
            &all,
            json!({"address": cloud.url, "payload_format": "CloudEvents"}),
        )
        .await;
        let pid: Value = s.api_json("/projects/p", ADMIN).await;
        let pid = pid["project_id"].as_i64().unwrap();

        let (d, _) = s.push_image("p/app", "v1", "hooked").await;
        assert_eq!(s.get("/v2/p/app/manifests/v1").await.status(), 200);
        assert_eq!(
            s.delete(&format!("/v2/p/app/manifests/{d}")).await.status(),
            202
        );

        let got = plain.wait(3).await;
        let by_type = |t: &str| {
            got.iter()
                .find(|(_, b)| b["type"] == t)
                .unwrap_or_else(|| panic!("no {t}: {got:?}"))
        };
        let (h, push) = by_type("PUSH_ARTIFACT");
        assert_eq!(h["authorization"], "Bearer s3cret");
        assert!(h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(push["operator"], "admin");
        assert!(push["occur_at"].as_i64().unwrap() > 1_700_000_000);
        let repo = &push["event_data"]["repository"];
        assert_eq!(repo["repo_full_name"], "p/app");
        assert_eq!(repo["namespace"], "p");
        assert_eq!(repo["name"], "app");
        assert_eq!(repo["repo_type"], "private");
        let res = &push["event_data"]["resources"][0];
        assert_eq!(res["digest"], d);
        assert_eq!(res["tag"], "v1");
        assert!(res["resource_url"].as_str().unwrap().ends_with("/p/app:v1"));
        // A pull by tag names the pulled manifest's digest and the tag.
        let (_, pull) = by_type("PULL_ARTIFACT");
        assert_eq!(pull["event_data"]["resources"][0]["tag"], "v1");
        assert_eq!(pull["event_data"]["resources"][0]["digest"], d);
        let (_, del) = by_type("DELETE_ARTIFACT");
        assert_eq!(del["event_data"]["resources"][0]["digest"], d);

        let got = cloud.wait(3).await;
        let (h, ce) = got
            .iter()
            .find(|(_, b)| b["type"] == "harbor.artifact.pushed")
            .unwrap();
        assert_eq!(h["content-type"], "application/cloudevents+json");
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(
            ce["source"],
            format!("/projects/{pid}/webhook/policies/{cid}")
        );
        assert_eq!(ce["operator"], "admin");
        assert!(!ce["id"].as_str().unwrap().is_empty());
        assert_eq!(ce["data"]["resources"][0]["digest"], d);
        let (_, pulled) = got
            .iter()
            .find(|(_, b)| b["type"] == "harbor.artifact.pulled")
            .unwrap();
        assert_eq!(pulled["data"]["resources"][0]["digest"], d);
        assert_eq!(pulled["data"]["resources"][0]["tag"], "v1");
        assert!(got
            .iter()
            .any(|(_, b)| b["type"] == "harbor.artifact.deleted"));

        // Nothing more arrives: each event went out once per target.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(plain.attempts.load(Ordering::SeqCst), 3);
        assert_eq!(cloud.attempts.load(Ordering::SeqCst), 3);
        let last: Vec<Value> = s.api_json("/projects/p/webhook/lasttrigger", ADMIN).await;
        assert_eq!(last.len(), 6);
        assert!(last.iter().all(|l| l["last_trigger_time"].is_string()));
    }
}

/// Deleting a repository deletes each of its artifacts, and each deletion
/// is an event, as Harbor sends them.
#[tokio::test]
async fn deleting_a_repository_sends_a_delete_event_per_artifact() {
    for s in servers().await {
        let hook = receiver(0).await;
        add_policy(&s, "p", &["DELETE_ARTIFACT"], json!({"address": hook.url})).await;
        let (a, _) = s.push_image("p/gone", "a", "first").await;
        let (b, _) = s.push_image("p/gone", "b", "second").await;
        let repo = |m: Method| {
            let r = s.api(m, "/projects/p/repositories/gone", ADMIN).send();
            async { r.await.unwrap().status() }
        };
        assert_eq!(repo(Method::DELETE).await, 200);
        let got = hook.wait(2).await;
        let mut deleted: Vec<(&str, &str)> = got
            .iter()
            .map(|(_, e)| {
                assert_eq!(e["type"], "DELETE_ARTIFACT");
                assert_eq!(e["event_data"]["repository"]["repo_full_name"], "p/gone");
                let res = &e["event_data"]["resources"][0];
                (
                    res["digest"].as_str().unwrap(),
                    res["tag"].as_str().unwrap(),
                )
            })
            .collect();
        deleted.sort();
        let mut want = vec![(a.as_str(), "a"), (b.as_str(), "b")];
        want.sort();
        assert_eq!(deleted, want);
        assert_eq!(repo(Method::GET).await, 404);
        assert_eq!(repo(Method::DELETE).await, 404);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(hook.attempts.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn failing_receivers_are_retried_three_times_at_most() {
    for s in servers().await {
        let flaky = receiver(2).await;
        let dead = receiver(usize::MAX).await;
        let fid = add_policy(&s, "p", &["PUSH_ARTIFACT"], json!({"address": flaky.url})).await;
        let did = add_policy(&s, "p", &["PUSH_ARTIFACT"], json!({"address": dead.url})).await;
        s.push_image("p/app", "v1", "retry").await;
        let got = flaky.wait(1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            flaky.attempts.load(Ordering::SeqCst),
            3,
            "two failures, then the event once"
        );

        // The dead one: three attempts, then the delivery is an error.
        let deadline = Instant::now() + Duration::from_secs(30);
        let execs = loop {
            let e: Vec<Value> = s
                .api_json(
                    &format!("/projects/p/webhook/policies/{did}/executions"),
                    ADMIN,
                )
                .await;
            if e.first().is_some_and(|e| e["status"] == "Error") {
                break e;
            }
            assert!(Instant::now() < deadline, "{e:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(dead.attempts.load(Ordering::SeqCst), 3);
        assert_eq!(execs[0]["trigger"], "EVENT");
        assert_eq!(execs[0]["extra_attrs"]["event_type"], "PUSH_ARTIFACT");
        let eid = execs[0]["id"].as_i64().unwrap();
        let tasks: Vec<Value> = s
            .api_json(
                &format!("/projects/p/webhook/policies/{did}/executions/{eid}/tasks"),
                ADMIN,
            )
            .await;
        assert_eq!(tasks[0]["run_count"], 3);
        let tid = tasks[0]["id"].as_i64().unwrap();
        let log = task_log(
            &s,
            &format!("/projects/p/webhook/policies/{did}/executions/{eid}/tasks/{tid}"),
        )
        .await;
        assert_eq!(log.matches("failed: ").count(), 3, "{log}");
        assert!(log.contains("no runs left"), "{log}");
        let ok: Vec<Value> = s
            .api_json(
                &format!("/projects/p/webhook/policies/{fid}/executions"),
                ADMIN,
            )
            .await;
        assert_eq!(ok[0]["status"], "Success");
    }
}

/// Pushes `n` images to p/app at once, tagged v0 …
async fn push_burst(s: &Server, n: usize, seed: &str) {
    futures_util::future::join_all((0..n).map(|i| async move {
        s.push_image("p/app", &format!("v{i}"), &format!("{seed}{i}"))
            .await
    }))
    .await;
}

/// The log of a delivery, at a task's path.
async fn task_log(s: &Server, task: &str) -> String {
    s.api(Method::GET, &format!("{task}/log"), ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The executions of a policy.
async fn executions(s: &Server, policy: i64) -> Vec<Value> {
    s.api_json(
        &format!("/projects/p/webhook/policies/{policy}/executions"),
        ADMIN,
    )
    .await
}

#[tokio::test]
async fn deliveries_cut_off_by_a_crash_are_made_after_restart() {
    for (backend, url) in databases().await {
        let mut s = Server::start_with(backend, url, &["--job-lease-seconds", "3"]).await;
        // Requests 0 and 2 hang until the process sending them is killed.
        let hook = receiver_delaying(0, |n| {
            Duration::from_secs(if n % 2 == 0 { 3600 } else { 0 })
        })
        .await;
        let id = add_policy(&s, "p", &["PUSH_ARTIFACT"], json!({"address": hook.url})).await;

        // Killed as soon as the receiver has the request: the delivery has
        // not even got its execution yet.
        s.push_image("p/app", "v1", "crash1").await;
        hook.wait_attempts(1).await;
        s.kill();
        s.restart();
        let got = hook.wait(1).await;
        assert_eq!(got[0].1["event_data"]["resources"][0]["tag"], "v1");

        // Killed once the delivery shows as running.
        s.push_image("p/app", "v2", "crash2").await;
        hook.wait_attempts(3).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !executions(&s, id)
            .await
            .iter()
            .any(|e| e["status"] == "Running")
        {
            assert!(
                Instant::now() < deadline,
                "{backend}: never listed as running"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s.kill();
        s.restart();
        let got = hook.wait(2).await;
        assert_eq!(got[1].1["event_data"]["resources"][0]["tag"], "v2");
        assert_eq!(hook.attempts.load(Ordering::SeqCst), 4);

        // Each delivery is one execution, which took a second run.
        let deadline = Instant::now() + Duration::from_secs(10);
        let execs = loop {
            let e = executions(&s, id).await;
            if e.len() == 2 && e.iter().all(|e| e["status"] == "Success") {
                break e;
            }
            assert!(Instant::now() < deadline, "{backend}: {e:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for e in execs {
            let eid = e["id"].as_i64().unwrap();
            let tasks: Vec<Value> = s
                .api_json(
                    &format!("/projects/p/webhook/policies/{id}/executions/{eid}/tasks"),
                    ADMIN,
                )
                .await;
            assert_eq!(tasks.len(), 1, "{backend}: {tasks:?}");
            assert_eq!(tasks[0]["run_count"], 2, "{backend}: {tasks:?}");
        }
    }
}

/// Deliveries that end together are recorded together: each execution
/// keeps its own target, status and log.
#[tokio::test]
async fn deliveries_ending_together_keep_their_own_records() {
    for s in servers().await {
        let ok = receiver(0).await;
        let bad = receiver(usize::MAX).await;
        let targets = json!([{"address": ok.url}, {"address": bad.url}]);
        let id = add_policy_for(&s, "p", &["PUSH_ARTIFACT"], targets).await;
        push_burst(&s, 6, "together").await;
        ok.wait(6).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let execs = loop {
            let e: Vec<Value> = s
                .api_json(
                    &format!("/projects/p/webhook/policies/{id}/executions?page_size=50"),
                    ADMIN,
                )
                .await;
            let ended = |e: &&Value| e["status"] == "Success" || e["status"] == "Error";
            if e.len() == 12 && e.iter().filter(ended).count() >= 6 {
                break e;
            }
            assert!(Instant::now() < deadline, "{e:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for e in &execs {
            let address = e["extra_attrs"]["address"].as_str().unwrap();
            let eid = e["id"].as_i64().unwrap();
            let base = format!("/projects/p/webhook/policies/{id}/executions/{eid}/tasks");
            let tasks: Vec<Value> = s.api_json(&base, ADMIN).await;
            assert_eq!(tasks.len(), 1, "{tasks:?}");
            let tid = tasks[0]["id"].as_i64().unwrap();
            let log = task_log(&s, &format!("{base}/{tid}")).await;
            assert!(
                log.contains(&format!("sending PUSH_ARTIFACT to {address}")),
                "{log}"
            );
            if address == ok.url {
                assert_eq!(e["status"], "Success", "{e}");
                assert_eq!(tasks[0]["status"], "Success");
                assert_eq!(tasks[0]["run_count"], 1);
                assert!(log.contains("succeeded"), "{log}");
            } else {
                assert_eq!(address, bad.url);
                assert_ne!(e["status"], "Success", "{e}");
                assert!(log.contains("answered 500"), "{log}");
            }
        }
    }
}

#[tokio::test]
async fn a_burst_larger_than_the_worker_pool_is_delivered_promptly() {
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, &["--job-workers", "2"]).await;
        // Each answer takes a while, so most deliveries wait for a worker.
        let slow = slow_receiver(0, Duration::from_millis(100)).await;
        let id = add_policy(&s, "p", &["PUSH_ARTIFACT"], json!({"address": slow.url})).await;
        let started = Instant::now();
        push_burst(&s, 12, "burst").await;
        slow.wait(12).await;
        // Two workers need 0.6 s; waiting for the dispatcher's idle polls
        // instead of being handed the next task would take far longer.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{backend}: took {took:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e: Vec<Value> = s
                .api_json(
                    &format!("/projects/p/webhook/policies/{id}/executions?page_size=50"),
                    ADMIN,
                )
                .await;
            if e.len() == 12 && e.iter().all(|e| e["status"] == "Success") {
                break;
            }
            assert!(Instant::now() < deadline, "{e:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(slow.attempts.load(Ordering::SeqCst), 12);
    }
}

#[tokio::test]
async fn policies_are_managed_by_project_admins() {
    for s in servers().await {
        s.create_user("mia", PW).await;
        s.create_user("dee", PW).await;
        for (user, role) in [("mia", 4), ("dee", 2)] {
            s.expect(
                Method::POST,
                "/projects/p/members",
                ADMIN,
                Some(&json!({"role_id": role, "member_user": {"username": user}})),
            )
            .await
            .is(201);
        }
        let body = json!({"name": "ci", "description": "to CI", "event_types": ["PUSH_ARTIFACT"],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/hook"}]});
        let post = |user, body: &Value| {
            s.api(Method::POST, "/projects/p/webhook/policies", user)
                .json(body)
                .send()
        };
        let r = post(ADMIN, &body).await.unwrap();
        assert_eq!(r.status(), 201);
        let loc = header(&r, "location").to_string();
        let id = loc.rsplit('/').next().unwrap();
        expect_error(post(ADMIN, &body).await.unwrap(), 409, "CONFLICT").await;
        for bad in [
            json!({"name": "x", "event_types": ["EXPLODE"], "targets": [{"address": "http://a/"}]}),
            json!({"name": "x", "event_types": ["PUSH_ARTIFACT"], "targets": [{"address": "ftp://a/"}]}),
            json!({"name": "x", "event_types": ["PUSH_ARTIFACT"], "targets": []}),
            json!({"name": "x", "event_types": ["PUSH_ARTIFACT"],
                "targets": [{"type": "slack", "address": "http://a/", "payload_format": "CloudEvents"}]}),
        ] {
            expect_error(post(ADMIN, &bad).await.unwrap(), 400, "BAD_REQUEST").await;
        }
        // A maintainer reads; a developer sees nothing; neither writes.
        let one: Value = s
            .api_json(
                &format!("/projects/p/webhook/policies/{id}"),
                Some(("mia", PW)),
            )
            .await;
        assert_eq!(one["name"], "ci");
        assert_eq!(one["enabled"], true);
        assert_eq!(one["targets"][0]["payload_format"], "Default");
        assert_eq!(one["creator"], "admin");
        expect_error(
            post(Some(("mia", PW)), &body).await.unwrap(),
            403,
            "FORBIDDEN",
        )
        .await;
        s.expect(
            Method::GET,
            "/projects/p/webhook/policies",
            Some(("dee", PW)),
            None,
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/projects/p/webhook/policies", None, None)
            .await
            .error(401, "UNAUTHORIZED");

        let mut changed = body.clone();
        changed["enabled"] = json!(false);
        changed["event_types"] = json!(["PULL_ARTIFACT", "DELETE_ARTIFACT"]);
        s.expect(
            Method::PUT,
            &format!("/projects/p/webhook/policies/{id}"),
            ADMIN,
            Some(&changed),
        )
        .await
        .is(200);
        let one: Value = s
            .api_json(&format!("/projects/p/webhook/policies/{id}"), ADMIN)
            .await;
        assert_eq!(one["enabled"], false);
        assert_eq!(
            one["event_types"],
            json!(["PULL_ARTIFACT", "DELETE_ARTIFACT"])
        );
        let events: Value = s.api_json("/projects/p/webhook/events", ADMIN).await;
        assert_eq!(events["event_type"].as_array().unwrap().len(), 10);
        assert_eq!(events["notify_type"], json!(["http", "slack"]));
        s.expect(
            Method::DELETE,
            &format!("/projects/p/webhook/policies/{id}"),
            ADMIN,
            None,
        )
        .await
        .is(200);
        s.expect(
            Method::GET,
            &format!("/projects/p/webhook/policies/{id}"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        // A policy in another project is not found through this one.
        let other = s
            .api(Method::POST, "/projects/q/webhook/policies", ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let oid = header(&other, "location")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        s.expect(
            Method::GET,
            &format!("/projects/p/webhook/policies/{oid}"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn notification_enable_switches_every_policy_off() {
    for s in servers().await {
        let hook = receiver(0).await;
        add_policy(&s, "p", &["PUSH_ARTIFACT"], json!({"address": hook.url})).await;
        let set = |on: bool| {
            s.api(Method::PUT, "/configurations", ADMIN)
                .json(&json!({ "notification_enable": on }))
                .send()
        };
        assert_eq!(set(false).await.unwrap().status(), 200);
        s.push_image("p/app", "off", "quiet").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(hook.attempts.load(Ordering::SeqCst), 0);
        assert_eq!(set(true).await.unwrap().status(), 200);
        s.push_image("p/app", "on", "loud").await;
        let got = hook.wait(1).await;
        assert_eq!(got[0].1["event_data"]["resources"][0]["tag"], "on");
    }
}

/// A replication task that ends is told to the webhooks of this
/// registry's project, in Harbor's `replication` shape.
#[tokio::test]
async fn replication_tasks_reach_the_projects_receivers() {
    let dist = common::Distribution::start().await;
    for s in servers().await {
        let r = receiver(0).await;
        add_policy(
            &s,
            "p",
            &["REPLICATION"],
            json!({"type": "http", "address": r.url}),
        )
        .await;
        s.push_image("p/rep", "v1", "replicated-hook").await;
        let endpoint = json!({"name": "dist", "type": "docker-registry", "url": dist.url});
        let dist_id = s.create("/registries", ADMIN, endpoint).await;
        let rule = json!({"name": "hooked", "enabled": true, "dest_registry": {"id": dist_id},
            "dest_namespace": format!("hooked-{}", s.backend),
            "filters": [{"type": "name", "value": "p/rep"}]});
        let rule = s.create("/replication/policies", ADMIN, rule).await;
        s.create("/replication/executions", ADMIN, json!({"policy_id": rule}))
            .await;
        let got = r.wait(1).await;
        let (_, body) = &got[0];
        assert_eq!(body["type"], "REPLICATION", "{body}");
        assert_eq!(body["operator"], "admin");
        let rep = &body["event_data"]["replication"];
        assert_eq!(rep["job_status"], "Success", "{rep}");
        assert_eq!(rep["trigger_type"], "MANUAL");
        assert_eq!(rep["policy_creator"], "admin");
        assert_eq!(rep["src_resource"]["namespace"], "p");
        assert_eq!(rep["src_resource"]["registry_type"], "harbor");
        assert_eq!(rep["dest_resource"]["registry_name"], "dist");
        assert_eq!(
            rep["dest_resource"]["namespace"],
            format!("hooked-{}", s.backend)
        );
        assert_eq!(rep["successful_artifact"][0]["name_tag"], "rep:v1");
        assert_eq!(rep["successful_artifact"][0]["references"], json!(["v1"]));
    }
}
