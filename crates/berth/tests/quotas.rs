//! Storage quotas: every blob and manifest counted once per project, kept
//! by pushes, mounts, deletes and collections; limits that refuse the
//! write that would pass them (plain pushes, skopeo, sixteen racing
//! pushers) with Harbor's message and webhooks; `/quotas`; the recount.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::webhook::receiver;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const PW: &str = "Passw0rd-1";

/// A project's quota as `/quotas` shows it: (id, hard, used).
async fn quota(s: &Server, project: &str) -> (i64, i64, i64) {
    let p: Value = s.api_json(&format!("/projects/{project}"), ADMIN).await;
    let path = format!("/quotas?reference=project&reference_id={}", p["project_id"]);
    let list = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let q = &list[0];
    assert_eq!(q["ref"]["name"], project);
    let n = |v: &Value| v["storage"].as_i64().unwrap();
    (q["id"].as_i64().unwrap(), n(&q["hard"]), n(&q["used"]))
}

async fn set_limit(s: &Server, id: i64, bytes: i64) {
    let body = json!({"hard": {"storage": bytes}});
    (s.expect(Method::PUT, &format!("/quotas/{id}"), ADMIN, Some(&body))
        .await)
        .is(200);
}

/// Harbor's way of writing sizes in quota messages.
fn shown(n: i64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / 1048576.0),
    }
}

/// Pushes a blob; the response.
async fn push(s: &Server, repo: &str, data: &[u8]) -> Reply {
    let d = digest(data);
    let url = s.u(&format!("/v2/{repo}/blobs/uploads/?digest={d}"));
    Reply::read(s.client.post(url).body(data.to_vec()).send().await.unwrap()).await
}

/// Servers whose collections may take what is a second old.
async fn collecting_servers() -> Vec<Server> {
    let mut out = Vec::new();
    for (backend, url) in databases().await {
        out.push(Server::start_with(backend, url, &["--gc-min-window-seconds", "1"]).await);
    }
    out
}

#[tokio::test]
async fn usage_counts_each_blob_once_and_limits_refuse_what_would_pass_them() {
    for s in collecting_servers().await {
        let hooks = receiver(0).await;
        let policy = json!({"name": "quota", "event_types": ["QUOTA_WARNING", "QUOTA_EXCEED"],
            "targets": [{"type": "http", "address": hooks.url}]});
        s.create_project("lim", false, ADMIN).await;
        s.create("/projects/lim/webhook/policies", ADMIN, policy)
            .await;
        let (id, hard, used) = quota(&s, "lim").await;
        assert_eq!((hard, used), (-1, 0));

        // A blob counts once however many repositories hold it; manifests count.
        let layer = bytes(3000, 1);
        push(&s, "lim/app", &layer).await.is(201);
        push(&s, "lim/other", &layer).await.is(201);
        assert_eq!(quota(&s, "lim").await.2, 3000);
        let (_, manifest_len) = s
            .push_layers("lim/app", "v1", std::slice::from_ref(&layer))
            .await;
        let config_len =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#.len() as i64;
        let image = 3000 + config_len + manifest_len as i64;
        assert_eq!(quota(&s, "lim").await.2, image);
        // … and in every project that holds it.
        s.create_project("shared", false, ADMIN).await;
        push(&s, "shared/app", &layer).await.is(201);
        assert_eq!(quota(&s, "shared").await.2, 3000);
        assert_eq!(quota(&s, "lim").await.2, image);

        // Passing 85 % of the limit warns; passing the limit is refused.
        set_limit(&s, id, image + 1000).await;
        push(&s, "lim/app", &bytes(500, 2)).await.is(201);
        let used = image + 500;
        let big = bytes(2000, 3);
        let refused = push(&s, "lim/app", &big).await.error(403, "DENIED");
        let message = format!(
            "adding {} of storage resource, which when updated to current usage of {} will exceed the configured upper limit of {}.",
            shown(2000),
            shown(used),
            shown(image + 1000)
        );
        assert_eq!(refused["errors"][0]["message"], message);
        let r = s.head(&format!("/v2/lim/app/blobs/{}", digest(&big))).await;
        assert_eq!(r.status(), 404, "nothing of a refused blob is kept");
        assert_eq!(quota(&s, "lim").await.2, used);
        let got = hooks.wait(2).await;
        let event = |kind: &str| {
            (got.iter().map(|(_, b)| b))
                .find(|b| b["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} in {got:?}"))
                .clone()
        };
        let warned = event("QUOTA_WARNING");
        assert_eq!(
            warned["event_data"]["custom_attributes"]["Details"],
            format!(
                "quota usage reach 85%: resource storage used {} of {}",
                shown(used),
                shown(image + 1000)
            )
        );
        assert_eq!(
            warned["event_data"]["repository"]["repo_full_name"],
            "lim/app"
        );
        let exceeded = event("QUOTA_EXCEED");
        assert_eq!(
            exceeded["event_data"]["custom_attributes"]["Details"],
            message
        );
        assert_eq!(exceeded["operator"], "admin");

        // A manifest counts too: one that would pass the limit is refused,
        // and its tag is not made.
        set_limit(&s, id, used + 10).await;
        let cd = digest(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#);
        let other = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &cd, config_len as usize),
            &[(OCI_LAYER, &digest(&layer), 3000)],
            Some(json!({"annotations": {"org.example": "another manifest"}})),
        );
        let r = s.put_manifest("lim/app", "v2", OCI_MANIFEST, &other).await;
        Reply::read(r).await.error(403, "DENIED");
        assert_eq!(s.get("/v2/lim/app/manifests/v2").await.status(), 404);
        assert_eq!(quota(&s, "lim").await.2, used);
        // The stored manifest pushed again under another tag adds nothing:
        // at the limit it is let through, and nothing more counts.
        s.push_layers("lim/app", "v1b", std::slice::from_ref(&layer))
            .await;
        assert_eq!(quota(&s, "lim").await.2, used);

        // The summary shows the quota to members.
        s.create_user("dev", PW).await;
        let member = json!({"role_id": 2, "member_user": {"username": "dev"}});
        s.create("/projects/lim/members", ADMIN, member).await;
        let dev = Some(("dev", PW));
        let summary = (s
            .expect(Method::GET, "/projects/lim/summary", dev, None)
            .await)
            .is(200);
        assert_eq!(summary["quota"]["hard"]["storage"], used + 10);
        assert_eq!(summary["quota"]["used"]["storage"], used);

        // Deleting the artifact frees what no other artifact uses; a
        // collection frees what was uploaded and never used.
        let art = "/projects/lim/repositories/app/artifacts/v1";
        (s.expect(Method::DELETE, art, ADMIN, None).await).is(200);
        assert_eq!(
            quota(&s, "lim").await.2,
            500,
            "the unused upload still counts"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        collect(&s).await;
        assert_eq!(quota(&s, "lim").await.2, 0);
        assert_eq!(quota(&s, "shared").await.2, 0);
    }
}

/// Polls `done` for up to 60 s.
async fn wait_for<F, Fut>(done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sixteen_racing_pushers_never_pass_the_limit() {
    for s in servers().await {
        let body = json!({"project_name": "race", "storage_limit": 10 * 10240});
        s.create("/projects", ADMIN, body).await;
        let pushes = (0..16u64).map(|i| {
            let s = &s;
            async move { push(s, &format!("race/r{}", i % 3), &bytes(10240, 100 + i)).await }
        });
        let replies = futures_util::future::join_all(pushes).await;
        let ok = replies.iter().filter(|r| r.status == 201).count();
        let denied = replies.iter().filter(|r| r.status == 403).count();
        assert_eq!((ok, denied), (10, 6), "{replies:?}");
        assert_eq!(quota(&s, "race").await.1, 102400);
        assert_eq!(quota(&s, "race").await.2, 102400);
    }
}

#[tokio::test]
async fn skopeo_pushes_until_the_limit() {
    for s in collecting_servers().await {
        s.create_project("src", false, ADMIN).await;
        let big = |seed| vec![bytes(150_000, seed), bytes(50_000, seed + 1)];
        s.push_layers("src/app", "v1", &big(10)).await;
        s.push_layers("src/app", "v2", &big(20)).await;
        let body = json!({"project_name": "sk", "storage_limit": 300_000});
        s.create("/projects", ADMIN, body).await;
        let host = s.url.trim_start_matches("http://");
        let creds = format!("admin:{ADMIN_PASSWORD}");
        let copy = |tag: &str| {
            Command::new("skopeo")
                .args(["--insecure-policy", "copy", "-q"])
                .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
                .args(["--src-creds", &creds, "--dest-creds", &creds])
                .arg(format!("docker://{host}/src/app:{tag}"))
                .arg(format!("docker://{host}/sk/app:{tag}"))
                .output()
                .expect("skopeo (scripts/test.sh installs it)")
        };
        let out = copy("v1");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, _, after_v1) = quota(&s, "sk").await;
        assert!(after_v1 > 200_000 && after_v1 <= 300_000, "{after_v1}");
        let out = copy("v2");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("will exceed the configured upper limit of 293.0 KiB"),
            "{err}"
        );
        // The image is not there; of its layers, those pushed before the
        // refusal are whole blobs that count until a collection takes them.
        let tags: Value = s.api_json("/v2/sk/app/tags/list", ADMIN).await;
        assert_eq!(tags["tags"], json!(["v1"]));
        let (_, _, after_v2) = quota(&s, "sk").await;
        assert!(after_v2 <= 300_000, "{after_v2}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        collect(&s).await;
        assert_eq!(quota(&s, "sk").await.2, after_v1);
    }
}

/// Runs a collection of everything unused for a second; waits for it.
async fn collect(s: &Server) {
    let gc = json!({"schedule": {"type": "Manual"}, "parameters": {"time_window": 0}});
    let run = s.create("/system/gc/schedule", ADMIN, gc).await;
    wait_for(|| async {
        let v: Value = s.api_json(&format!("/system/gc/{run}"), ADMIN).await;
        v["job_status"] == "Success"
    })
    .await;
}

#[tokio::test]
async fn quotas_are_for_administrators_and_recounts_repair_drift() {
    for s in servers().await {
        s.create_user("joe", PW).await;
        let joe = Some(("joe", PW));
        (s.expect(Method::GET, "/quotas", joe, None).await).error(403, "FORBIDDEN");

        // New projects take the default limit; only administrators pick another.
        s.configure(json!({"storage_per_project": 5_000_000}))
            .await
            .is(200);
        (s.configure(json!({"storage_per_project": 0})).await).error(400, "BAD_REQUEST");
        let mine = json!({"project_name": "joes", "storage_limit": 1});
        s.create("/projects", joe, mine).await;
        assert_eq!(quota(&s, "joes").await.1, 5_000_000);
        let bad = json!({"project_name": "neg", "storage_limit": -5});
        let e = (s.expect(Method::POST, "/projects", ADMIN, Some(&bad)).await)
            .error(400, "BAD_REQUEST");
        assert!(
            e.to_string()
                .contains("invalid non-positive value for quota limit"),
            "{e}"
        );
        let (id, _, _) = quota(&s, "joes").await;
        let path = format!("/quotas/{id}");
        for (body, why) in [
            (json!({"hard": {}}), "hard required in body"),
            (json!({"hard": {"count": 1}}), "resource count not support"),
            (json!({"hard": {"storage": 1i64 << 51}}), "exceeded 1024TB"),
        ] {
            let e =
                (s.expect(Method::PUT, &path, ADMIN, Some(&body)).await).error(400, "BAD_REQUEST");
            assert!(e.to_string().contains(why), "{e}");
        }
        (s.expect(
            Method::PUT,
            &path,
            joe,
            Some(&json!({"hard": {"storage": -1}})),
        )
        .await)
            .error(403, "FORBIDDEN");
        (s.expect(Method::GET, "/quotas/999999", ADMIN, None).await).error(404, "NOT_FOUND");

        // Lists sort by use and limit, unlimited last.
        push(&s, "joes/a", &bytes(4000, 7)).await.is(201);
        let used_first = s
            .expect(Method::GET, "/quotas?sort=-used.storage", ADMIN, None)
            .await
            .is(200);
        assert_eq!(used_first[0]["ref"]["name"], "joes");
        assert_eq!(used_first[0]["used"]["storage"], 4000);
        let by_limit = (s
            .expect(Method::GET, "/quotas?sort=hard.storage", ADMIN, None)
            .await)
            .is(200);
        assert_eq!(by_limit[0]["ref"]["name"], "joes");
        let others = (s
            .expect(Method::GET, "/quotas?reference=user", ADMIN, None)
            .await)
            .is(200);
        assert_eq!(others, json!([]));

        // With quotas off, limits are not enforced and summaries leave them out.
        set_limit(&s, id, 4100).await;
        push(&s, "joes/a", &bytes(4000, 8))
            .await
            .error(403, "DENIED");
        s.configure(json!({"quota_per_project_enable": false}))
            .await
            .is(200);
        push(&s, "joes/a", &bytes(4000, 8)).await.is(201);
        let summary = (s
            .expect(Method::GET, "/projects/joes/summary", joe, None)
            .await)
            .is(200);
        assert!(summary.get("quota").is_none(), "{summary}");
        s.configure(json!({"quota_per_project_enable": true}))
            .await
            .is(200);

        // A recount puts a drifted usage right.
        let db = s.open_db().await;
        sqlx::query("UPDATE quota SET used = 12345")
            .execute(db.writer())
            .await
            .unwrap();
        let sync = |user: (&str, &str)| {
            s.anon
                .post(s.u("/api/internal/syncquota"))
                .basic_auth(user.0, Some(user.1))
                .send()
        };
        assert_eq!(sync(("joe", PW)).await.unwrap().status(), 403);
        assert_eq!(sync(("admin", ADMIN_PASSWORD)).await.unwrap().status(), 200);
        wait_for(|| async { quota(&s, "joes").await.2 == 8000 }).await;
        assert_eq!(quota(&s, "p").await.2, 0);
    }
}

/// More pushes into one project at once than the server keeps database
/// connections, for longer than its settings are kept (2 s): each push
/// holds the project's quota from its count to its commit, and the one
/// that finds the settings lapsed on the way must not wait behind the
/// others for a connection to read them.
#[tokio::test]
async fn more_pushers_than_connections_all_land() {
    for s in servers().await {
        s.create("/projects", ADMIN, json!({"project_name": "busy"}))
            .await;
        let image: Value = serde_json::from_slice(&s.image("busy/app", "busy").await).unwrap();
        // A token, as docker pushes: no password to check on each request.
        let scope = "service=harbor-registry&scope=repository:busy/app:pull,push";
        let token = s.get(&format!("/service/token?{scope}")).await;
        let token: Value = token.json().await.unwrap();
        let mut auth = reqwest::header::HeaderMap::new();
        let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
        auth.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
        let registry = Registry {
            url: s.url.clone(),
            http: reqwest::Client::builder()
                .default_headers(auth)
                .build()
                .unwrap(),
        };
        let until = Instant::now() + Duration::from_secs(5);
        let pushers = (0..48).map(|p| {
            let (s, image, registry) = (&s, &image, &registry);
            async move {
                let mut pushed = 0;
                while Instant::now() < until {
                    let mut m = image.clone();
                    m["annotations"] = json!({"i": format!("{p}-{pushed}")});
                    let body = serde_json::to_vec(&m).unwrap().into();
                    let tag = format!("p{p}-{pushed}");
                    let r = registry.put_manifest("busy/app", &tag, OCI_MANIFEST, body);
                    let r = r.await.unwrap();
                    let status = r.status();
                    assert_eq!(
                        status,
                        StatusCode::CREATED,
                        "{}: {}",
                        s.backend,
                        r.text().await.unwrap()
                    );
                    pushed += 1;
                }
                pushed
            }
        });
        let pushed: usize = futures_util::future::join_all(pushers)
            .await
            .into_iter()
            .sum();
        let listed = s.get("/api/v2.0/projects/busy/repositories/app").await;
        let listed: Value = listed.json().await.unwrap();
        assert_eq!(listed["artifact_count"], pushed, "{}: {listed}", s.backend);
    }
}
