//! Online garbage collection on the job service: what it deletes and keeps,
//! pushes and pulls during a collection, a collection killed mid-sweep, and
//! the job service's own API, on every database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Fast leases and a one-second floor on the time window, so tests need not wait.
const FLAGS: &[&str] = &["--gc-min-window-seconds", "1", "--job-lease-seconds", "3"];

async fn gc_servers() -> Vec<Server> {
    let mut out = Vec::new();
    for (backend, url) in databases().await {
        out.push(Server::start_with(backend, url, FLAGS).await);
    }
    out
}

async fn gc_log(s: &Server, id: i64) -> String {
    let r = s
        .api(Method::GET, &format!("/system/gc/{id}/log"), ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    r.text().await.unwrap()
}

/// The bytes a finished collection says it freed.
fn freed(log: &str) -> i64 {
    let line = log
        .lines()
        .find(|l| l.contains(" freed "))
        .unwrap_or_else(|| panic!("no summary in:\n{log}"));
    line.split(" freed ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn blob_file(s: &Server, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    s.data_dir()
        .join("storage/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
}

/// Pushes `n` blobs no manifest will ever reference; returns (digests, bytes).
async fn orphans(s: &Server, repo: &str, n: usize, seed: u64) -> (Vec<String>, i64) {
    let mut out = Vec::new();
    let mut total = 0;
    for i in 0..n {
        let data = bytes(512 + i % 100, seed * 100_000 + i as u64);
        total += data.len() as i64;
        out.push(s.push_blob(repo, &data).await);
    }
    (out, total)
}

/// Pulls an image by tag and checks every byte against what was pushed.
async fn pull_exact(s: &Server, repo: &str, tag: &str, manifest: &[u8]) {
    let r = s
        .client
        .get(s.u(&format!("/v2/{repo}/manifests/{tag}")))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{repo}:{tag}");
    assert_eq!(r.bytes().await.unwrap(), manifest);
    let m: Value = serde_json::from_slice(manifest).unwrap();
    let mut descs = vec![m["config"].clone()];
    descs.extend(m["layers"].as_array().unwrap().iter().cloned());
    for d in descs {
        let digest = d["digest"].as_str().unwrap();
        let r = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(r.status(), 200, "{repo}@{digest}");
        let body = r.bytes().await.unwrap();
        assert_eq!(common::digest(&body), digest);
    }
}

#[tokio::test]
async fn collects_garbage_and_keeps_what_is_referenced() {
    for s in gc_servers().await {
        let (_, kept) = s.push_image("p/app", "v1", "kept").await;
        let (orphan_digests, orphan_bytes) = orphans(&s, "p/junk", 5, 1).await;
        // An untagged image whose blobs only it references.
        let config = br#"{"os":"linux","untagged":true}"#.to_vec();
        let layer = bytes(3000, 77);
        let untagged = image_manifest(
            OCI_MANIFEST,
            (
                OCI_CONFIG,
                &s.push_blob("p/app", &config).await,
                config.len(),
            ),
            &[(OCI_LAYER, &s.push_blob("p/app", &layer).await, layer.len())],
            None,
        );
        let ud = digest(&untagged);
        assert_eq!(
            s.put_manifest("p/app", &ud, OCI_MANIFEST, &untagged)
                .await
                .status(),
            201
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;

        // A dry run reports and deletes nothing.
        let id = s.start_gc(json!({"dry_run": true, "time_window": 0})).await;
        assert_eq!(s.wait_gc(id).await["job_status"], "Success");
        let log = gc_log(&s, id).await;
        assert!(
            log.contains("mark: 7 unreferenced blobs")
                || log.contains("mark: 5 unreferenced blobs"),
            "{log}"
        );
        assert!(
            log.contains(&format!("would delete untagged p/app@{ud}")),
            "{log}"
        );
        for d in &orphan_digests {
            assert!(s.stored_blob(d).await.is_some());
        }

        // Pulled right before the collection: what the server keeps in
        // memory for pulls must not outlive the artifact.
        pull_exact(&s, "p/app", &ud, &untagged).await;
        let id = s
            .start_gc(json!({"delete_untagged": true, "time_window": 0, "workers": 3}))
            .await;
        let run = s.wait_gc(id).await;
        assert_eq!(run["job_status"], "Success", "{}", gc_log(&s, id).await);
        assert_eq!(run["job_kind"], "MANUAL");
        assert_eq!(run["schedule"]["type"], "Manual");
        let params: Value = serde_json::from_str(run["job_parameters"].as_str().unwrap()).unwrap();
        assert_eq!(params["workers"], 3);
        let log = gc_log(&s, id).await;
        assert_eq!(
            freed(&log),
            orphan_bytes + (config.len() + layer.len()) as i64,
            "{log}"
        );
        for d in &orphan_digests {
            assert!(s.stored_blob(d).await.is_none(), "{d} still stored");
            assert_eq!(s.head(&format!("/v2/p/junk/blobs/{d}")).await.status(), 404);
        }
        let r = s.get(&format!("/v2/p/app/manifests/{ud}")).await;
        assert_eq!(r.status(), 404, "the untagged image is gone");
        pull_exact(&s, "p/app", "v1", &kept).await;

        // History, newest first; a missing run is a 404.
        let r = s
            .api(Method::GET, "/system/gc?page_size=1", ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-total-count"), "2");
        let list: Vec<Value> = r.json().await.unwrap();
        assert_eq!(list[0]["id"], id);
        s.expect(Method::GET, "/system/gc/999999", ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        // Only administrators collect garbage.
        s.create_user("gwen", "Passw0rd!").await;
        s.expect(
            Method::POST,
            "/system/gc/schedule",
            Some(("gwen", "Passw0rd!")),
            Some(&json!({"schedule": {"type": "Manual"}})),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(
            Method::POST,
            "/system/gc/schedule",
            ADMIN,
            Some(&json!({"schedule": {"type": "Manual"}, "parameters": {"workers": 11}})),
        )
        .await
        .error(400, "BAD_REQUEST");
    }
}

#[tokio::test]
async fn paused_queues_stop_and_conflicts() {
    for s in gc_servers().await {
        let pause = |action: &'static str| {
            s.api(Method::PUT, "/jobservice/queues/GARBAGE_COLLECTION", ADMIN)
                .json(&json!({ "action": action }))
                .send()
        };
        assert_eq!(pause("pause").await.unwrap().status(), 200);
        let id = s.start_gc(json!({})).await;
        // While one waits, another is refused.
        s.expect(
            Method::POST,
            "/system/gc/schedule",
            ADMIN,
            Some(&json!({"schedule": {"type": "Manual"}})),
        )
        .await
        .error(409, "CONFLICT");
        let queues: Vec<Value> = s.api_json("/jobservice/queues", ADMIN).await;
        let q = queues
            .iter()
            .find(|q| q["job_type"] == "GARBAGE_COLLECTION")
            .unwrap();
        assert_eq!(
            (q["count"].as_i64(), q["paused"].as_bool()),
            (Some(1), Some(true))
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let v: Value = s.api_json(&format!("/system/gc/{id}"), ADMIN).await;
        assert_eq!(v["job_status"], "Pending", "a paused queue runs nothing");

        s.expect(Method::PUT, &format!("/system/gc/{id}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(s.wait_gc(id).await["job_status"], "Stopped");
        // Stopping it again changes nothing (Harbor answers 200 too).
        s.expect(Method::PUT, &format!("/system/gc/{id}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(s.wait_gc(id).await["job_status"], "Stopped");
        assert_eq!(pause("resume").await.unwrap().status(), 200);
        assert_eq!(pause("explode").await.unwrap().status(), 400);
        let id = s.start_gc(json!({})).await;
        assert_eq!(s.wait_gc(id).await["job_status"], "Success");

        // The pool of this process and its workers.
        let pools: Vec<Value> = s.api_json("/jobservice/pools", ADMIN).await;
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0]["concurrency"], 10);
        let pool = pools[0]["worker_pool_id"].as_str().unwrap();
        let workers: Vec<Value> = s
            .api_json(&format!("/jobservice/pools/{pool}/workers"), ADMIN)
            .await;
        assert_eq!(workers.len(), 10);
        // Idle workers have no start or check-in time (Harbor omits them).
        assert!(workers
            .iter()
            .all(|w| w.get("start_at").is_none() && w.get("checkin_at").is_none()));
        assert!(workers.iter().all(|w| w["check_in"] == ""));
        // `all` stands for every pool.
        let every: Vec<Value> = s.api_json("/jobservice/pools/all/workers", ADMIN).await;
        assert_eq!(every, workers);
        s.expect(Method::GET, "/jobservice/pools/nope/workers", ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        s.expect(Method::GET, "/jobservice/queues", None, None)
            .await
            .error(401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn pushes_and_pulls_go_on_during_collection() {
    for s in gc_servers().await {
        let (orphan_digests, _) = orphans(&s, "p/junk", 40, 2).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let shared = bytes(4096, 9);

        let pusher = async {
            let mut pushed = Vec::new();
            for i in 0..15 {
                let repo = "p/live";
                let config = format!(r#"{{"os":"linux","n":{i}}}"#).into_bytes();
                let own = bytes(2048, 1000 + i);
                let m = image_manifest(
                    OCI_MANIFEST,
                    (OCI_CONFIG, &s.push_blob(repo, &config).await, config.len()),
                    &[
                        (OCI_LAYER, &s.push_blob(repo, &shared).await, shared.len()),
                        (OCI_LAYER, &s.push_blob(repo, &own).await, own.len()),
                    ],
                    None,
                );
                let tag = format!("t{i}");
                let r = s.put_manifest(repo, &tag, OCI_MANIFEST, &m).await;
                assert_eq!(
                    r.status(),
                    201,
                    "push {i} failed during GC: {}",
                    r.text().await.unwrap()
                );
                pull_exact(&s, repo, &tag, &m).await;
                pushed.push((tag, m));
            }
            pushed
        };
        let collector = async {
            let mut ids = Vec::new();
            for _ in 0..3 {
                let id = s.start_gc(json!({"time_window": 0, "workers": 4})).await;
                assert_eq!(s.wait_gc(id).await["job_status"], "Success");
                ids.push(id);
            }
            ids
        };
        let (pushed, _) = tokio::join!(pusher, collector);
        for d in &orphan_digests {
            assert!(s.stored_blob(d).await.is_none());
        }
        // Long after the pushes, a collection still keeps every layer they use.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let id = s.start_gc(json!({"time_window": 0})).await;
        assert_eq!(s.wait_gc(id).await["job_status"], "Success");
        for (tag, m) in &pushed {
            pull_exact(&s, "p/live", tag, m).await;
        }
    }
}

/// Pushes an image to keep and `n` orphan blobs, starts a collection and
/// SIGKILLs the server once its sweep (in digest order) has taken the first
/// orphan; returns (run id, the kept manifest, the orphans' digests).
async fn kill_mid_sweep(s: &mut Server, n: usize, seed: u64) -> (i64, Vec<u8>, Vec<String>) {
    let (_, kept) = s.push_image("p/app", "v1", "kept").await;
    let (mut orphan_digests, _) = orphans(s, "p/junk", n, seed).await;
    orphan_digests.sort();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let id = s.start_gc(json!({"time_window": 0, "workers": 1})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.stored_blob(&orphan_digests[0]).await.is_some() {
        assert!(Instant::now() < deadline, "the sweep never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.kill();
    (id, kept, orphan_digests)
}

#[tokio::test]
async fn a_collection_killed_mid_sweep_resumes_after_restart() {
    for mut s in gc_servers().await {
        let (id, kept, orphan_digests) = kill_mid_sweep(&mut s, 1000, 3).await;
        let mut left = 0;
        for d in &orphan_digests {
            left += s.stored_blob(d).await.is_some() as usize;
        }
        s.restart();
        let run = s.wait_gc(id).await;
        assert_eq!(run["job_status"], "Success", "{}", gc_log(&s, id).await);
        let log = gc_log(&s, id).await;
        assert!(
            log.contains("run 2 of 3"),
            "the job ran again after the crash:\n{log}"
        );
        for d in &orphan_digests {
            assert!(s.stored_blob(d).await.is_none(), "{d} survived");
        }
        assert!(left > 0, "the kill came after the sweep had finished");
        pull_exact(&s, "p/app", "v1", &kept).await;
        let db = s.open_db().await;
        let problems = db.integrity_check().await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
}

#[tokio::test]
async fn schedules_fire_once_per_period_across_processes() {
    for s in gc_servers().await {
        let set = |body: Value| {
            s.api(Method::PUT, "/system/gc/schedule", ADMIN)
                .json(&body)
                .send()
        };
        let none: Value = s.api_json("/system/gc/schedule", ADMIN).await;
        assert_eq!(none["schedule"]["type"], "None");
        for bad in [
            json!({"schedule": {"type": "Custom", "cron": "not a cron"}}),
            json!({"schedule": {"type": "Custom"}}),
            json!({"schedule": {"type": "Monthly"}}),
            json!({"schedule": {"type": "Manual"}}),
        ] {
            expect_error(set(bad).await.unwrap(), 400, "BAD_REQUEST").await;
        }
        let r = s
            .api(Method::POST, "/system/gc/schedule", ADMIN)
            .json(&json!({"schedule": {"type": "Daily"}, "parameters": {"dry_run": true}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let daily: Value = s.api_json("/system/gc/schedule", ADMIN).await;
        assert_eq!(daily["schedule"]["type"], "Daily");
        assert_eq!(daily["schedule"]["cron"], "0 0 0 * * *");
        let next = daily["schedule"]["next_scheduled_time"].as_str().unwrap();
        assert!(next.ends_with("T00:00:00Z"), "{next}");
        // Listed beside the system's own (the registry health checks).
        let listed: Vec<Value> = s.api_json("/schedules", ADMIN).await;
        let gc = listed
            .iter()
            .find(|x| x["vendor_type"] == "GARBAGE_COLLECTION");
        assert!(gc.is_some(), "{listed:?}");

        // Every 2 seconds, with a second process on the same database when
        // there is a server database to share.
        let sibling = (s.backend == "postgres").then(|| s.sibling());
        let every2 = json!({"schedule": {"type": "Custom", "cron": "*/2 * * * * *"},
            "parameters": {"dry_run": true, "delete_untagged": false, "workers": 2}});
        assert_eq!(set(every2).await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(
            set(json!({"schedule": {"type": "None"}}))
                .await
                .unwrap()
                .status(),
            200
        );
        drop(sibling);
        let runs: Vec<Value> = s.api_json("/system/gc?page_size=100", ADMIN).await;
        let scheduled: Vec<&Value> = runs
            .iter()
            .filter(|r| r["job_kind"] == "SCHEDULE")
            .collect();
        assert!(
            (2..=5).contains(&scheduled.len()),
            "{} runs in 9 s: {runs:?}",
            scheduled.len()
        );
        // Each ran with the schedule's parameters, and says it was scheduled.
        for r in &scheduled {
            assert_eq!(r["schedule"]["type"], "Schedule", "{r}");
            let params: Value =
                serde_json::from_str(r["job_parameters"].as_str().unwrap()).unwrap();
            assert_eq!(params["delete_untagged"], false, "{r}");
            assert_eq!(params["workers"], 2, "{r}");
            let id = r["id"].as_i64().unwrap();
            if r["job_status"] == "Success" {
                let log = gc_log(&s, id).await;
                assert!(
                    log.contains("delete_untagged=false dry_run=true workers=2"),
                    "{log}"
                );
            }
        }
        // No period fired twice (other schedules, the registry health
        // checks', may fire in the same second).
        let db = s.open_db().await;
        let attrs: Vec<String> = sqlx::query_scalar(
            "SELECT extra_attrs FROM execution WHERE trigger_type = 'SCHEDULE' \
             AND vendor_type = 'GARBAGE_COLLECTION'",
        )
        .fetch_all(db.reader())
        .await
        .unwrap();
        let mut periods: Vec<i64> = attrs
            .iter()
            .map(|a| {
                serde_json::from_str::<Value>(a).unwrap()["scheduled_at"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let n = periods.len();
        periods.sort();
        periods.dedup();
        assert_eq!(periods.len(), n, "a period fired twice");
        let gone: Value = s.api_json("/system/gc/schedule", ADMIN).await;
        assert_eq!(gone["schedule"]["type"], "None");
        let paused: Value = s
            .api_json("/schedules/GARBAGE_COLLECTION/paused", ADMIN)
            .await;
        assert_eq!(paused["paused"], false);
    }
}

fn trash_file(s: &Server, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    s.data_dir().join(format!("storage/trash/sha256-{hex}"))
}

/// The digest of the one layer of an image manifest.
fn layer_of(manifest: &[u8]) -> String {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_collection_killed_then_stopped_ends_and_an_old_trash_is_put_back() {
    // A lease long enough that the stop reaches the run its dead process left.
    let flags = &["--gc-min-window-seconds", "1", "--job-lease-seconds", "6"];
    for (backend, url) in databases().await {
        let mut s = Server::start_with(backend, url, flags).await;
        let (id, kept, orphan_digests) = kill_mid_sweep(&mut s, 300, 4).await;
        let layer = layer_of(&kept);
        let on_disk = s.bucket.is_none();
        if on_disk {
            // What earlier versions left when killed between moving a batch
            // aside and its commit: recorded blobs whose files sit in the
            // trash (here one of an image).
            std::fs::create_dir_all(trash_file(&s, &layer).parent().unwrap()).unwrap();
            std::fs::rename(blob_file(&s, &layer), trash_file(&s, &layer)).unwrap();
        }
        s.restart();
        if on_disk {
            // Put back before the first request is served.
            assert!(blob_file(&s, &layer).exists(), "{backend}: not put back");
            assert!(!s.data_dir().join("storage/trash").exists());
        }
        pull_exact(&s, "p/app", "v1", &kept).await;

        let stop = s
            .api(Method::PUT, &format!("/system/gc/{id}"), ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(stop.status(), 200, "{backend}");
        let run = s.wait_gc(id).await;
        assert_eq!(run["job_status"], "Stopped", "{backend}: {run}");
        // Ended for good: a new collection is accepted and finishes the job.
        let next = s.start_gc(json!({"time_window": 0, "workers": 2})).await;
        assert_eq!(s.wait_gc(next).await["job_status"], "Success");
        for d in &orphan_digests {
            assert!(s.stored_blob(d).await.is_none(), "{backend}: {d} survived");
        }
        s.restart();
        let run: Value = s.api_json(&format!("/system/gc/{id}"), ADMIN).await;
        assert_eq!(run["job_status"], "Stopped", "{backend}: {run}");
        pull_exact(&s, "p/app", "v1", &kept).await;
    }
}

#[tokio::test]
async fn a_collection_deletes_stored_bytes_no_row_names_and_finishes_what_a_dead_run_dropped() {
    for s in gc_servers().await {
        let (_, kept) = s.push_image("p/app", "v1", "kept").await;
        let layer = layer_of(&kept);
        // Bytes an upload placed before the process died, its commit lost.
        let stray = bytes(3000, 17);
        let stray_digest = digest(&stray);
        s.put_stored_blob(&stray_digest, &stray).await;
        // A blob a collection dropped (row gone, trash entry written) before
        // its process died, the bytes still stored; and a trash entry of a
        // digest pushed again since (the kept layer): its bytes stay.
        let dropped = s.push_blob("p/junk", &bytes(1000, 18)).await;
        let db = s.open_db().await;
        for sql in [
            "DELETE FROM repository_blob WHERE digest = $1",
            "DELETE FROM blob WHERE digest = $1",
            "INSERT INTO blob_trash (digest, created_at) VALUES ($1, 0)",
        ] {
            sqlx::query(sql)
                .bind(&dropped)
                .execute(db.writer())
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO blob_trash (digest, created_at) VALUES ($1, 0)")
            .bind(&layer)
            .execute(db.writer())
            .await
            .unwrap();
        assert!(s.stored_blob(&dropped).await.is_some());

        let id = s.start_gc(json!({"time_window": 0})).await;
        assert_eq!(s.wait_gc(id).await["job_status"], "Success");
        let log = gc_log(&s, id).await;
        assert!(
            log.contains("finished deleting 2 blobs an earlier run dropped"),
            "{log}"
        );
        assert!(log.contains("deleted 1 stored blobs no row names"), "{log}");
        assert!(
            s.stored_blob(&stray_digest).await.is_none(),
            "{}",
            s.backend
        );
        assert!(s.stored_blob(&dropped).await.is_none(), "{}", s.backend);
        assert!(s.stored_blob(&layer).await.is_some(), "{}", s.backend);
        pull_exact(&s, "p/app", "v1", &kept).await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blob_trash")
            .fetch_one(db.writer())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}

#[tokio::test]
async fn a_blob_whose_bytes_are_lost_is_unknown_to_downloads() {
    for s in gc_servers().await {
        let data = bytes(2048, 91);
        let d = s.push_blob("p/a", &data).await;
        let path = format!("/v2/p/a/blobs/{d}");
        assert_eq!(s.get(&path).await.bytes().await.unwrap(), data);
        // Lost outside Berth (a collection never deletes bytes a row names).
        s.delete_stored_blob(&d).await;
        expect_error(s.get(&path).await, 404, "BLOB_UNKNOWN").await;
        let r = s
            .client
            .get(s.u(&path))
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "BLOB_UNKNOWN").await;
    }
}

/// Pushes a small image like `push_image`, but says None instead of
/// failing when the server dies on the way.
async fn try_push_image(s: &Server, repo: &str, tag: &str, seed: &str) -> Option<Vec<u8>> {
    let blob = |data: Vec<u8>| async move {
        let d = digest(&data);
        let url = s.u(&format!("/v2/{repo}/blobs/uploads/?digest={d}"));
        let r = s.client.post(url).body(data).send().await.ok()?;
        (r.status() == 201).then_some(d)
    };
    let config = format!(r#"{{"os":"linux","seed":"{seed}"}}"#).into_bytes();
    let layer = format!("layer {seed} ").repeat(50).into_bytes();
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &blob(config.clone()).await?, config.len()),
        &[(OCI_LAYER, &blob(layer.clone()).await?, layer.len())],
        None,
    );
    let url = s.u(&format!("/v2/{repo}/manifests/{tag}"));
    let r = s
        .client
        .put(url)
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .ok()?;
    (r.status() == 201).then_some(manifest)
}

#[tokio::test]
async fn acknowledged_images_survive_kills_during_pushes_and_collections() {
    for mut s in gc_servers().await {
        let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
        for round in 0..4u64 {
            orphans(&s, "p/junk", 150, 20 + round).await;
            tokio::time::sleep(Duration::from_millis(1100)).await;
            // (The last round's run may still be going, after its restart.)
            let r = s
                .api(Method::POST, "/system/gc/schedule", ADMIN)
                .json(&json!({"schedule": {"type": "Manual"},
                    "parameters": {"time_window": 0, "workers": 2}}))
                .send()
                .await
                .unwrap();
            assert!(matches!(r.status().as_u16(), 201 | 409), "{}", r.status());
            // Push until the kill, at a different moment each round but
            // never before this round has had a push acknowledged.
            let before = acked.len();
            let count = std::sync::atomic::AtomicUsize::new(before);
            let pushing = async {
                for i in 0.. {
                    let tag = format!("r{round}-{i}");
                    if let Some(m) = try_push_image(&s, "p/live", &tag, &tag).await {
                        acked.push((tag, m));
                        count.store(acked.len(), std::sync::atomic::Ordering::SeqCst);
                    }
                }
            };
            let kill_time = async {
                tokio::time::sleep(Duration::from_millis(150 + 170 * round)).await;
                // (At most 30 s: a server that acknowledges nothing fails below.)
                for _ in 0..6000 {
                    if count.load(std::sync::atomic::Ordering::SeqCst) > before {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                _ = pushing => {}
                _ = kill_time => {}
            }
            s.kill();
            s.restart();
            // Every acknowledged image is whole from the first request on.
            for (tag, m) in &acked {
                pull_exact(&s, "p/live", tag, m).await;
            }
        }
        assert!(acked.len() >= 4, "a round had no acknowledged push");
        eprintln!(
            "{}: {} acknowledged images whole after each of 4 kills",
            s.backend,
            acked.len()
        );
        let db = s.open_db().await;
        let problems = db.integrity_check().await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
}
