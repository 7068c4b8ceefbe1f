//! Crash safety and restarts: SIGKILL in the middle of uploads and manifest
//! pushes, upload sessions that outlive the process, graceful SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Every stored blob must hash to its own name: nothing partial is ever
/// visible at a content address.
async fn assert_blob_files_whole(s: &Server) {
    for d in s.stored_blobs().await {
        let data = s.stored_blob(&d).await.unwrap();
        assert_eq!(digest(&data), d, "stored blob is not whole");
    }
}

async fn assert_db_sound(s: &Server) {
    let problems = s.open_db().await.integrity_check().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn upload_session_survives_restart() {
    for mut s in servers().await {
        let data = bytes(3 * 1024 * 1024, 20);
        let loc = s.start_upload("p/resume").await;
        let r = s
            .client
            .patch(&loc)
            .body(data[..1_000_000].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let path = loc.trim_start_matches(&s.url).to_string();

        s.restart();
        let loc = s.u(&path);
        let r = s.client.get(&loc).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&r, "range"), "0-999999");
        let r = s
            .client
            .patch(&loc)
            .header("content-range", format!("1000000-{}", data.len() - 1))
            .body(data[1_000_000..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r = s
            .client
            .put(format!("{loc}?digest={}", digest(&data)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let got = s
            .get(&format!("/v2/p/resume/blobs/{}", digest(&data)))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.as_ref(), &data[..]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_upload_loses_nothing_acknowledged() {
    for mut s in servers().await {
        // Acknowledged content before the crash.
        let (image, image_body) = s.push_image("p/crash", "stable", "before").await;
        let kept = bytes(2 * 1024 * 1024, 21);
        let kept_digest = s.push_blob("p/crash", &kept).await;

        // A large chunked upload, killed mid-stream.
        let big = bytes(48 * 1024 * 1024, 22);
        let big_digest = digest(&big);
        let loc = s.start_upload("p/crash").await;
        let path = loc.trim_start_matches(&s.url).to_string();
        let (tx, body) = channel_body();
        let client = s.client.clone();
        let patch = tokio::spawn(async move { client.patch(&loc).body(body).send().await });
        for chunk in big[..24 * 1024 * 1024].chunks(1024 * 1024) {
            tx.send(chunk.to_vec()).await.unwrap();
        }
        // And a monolithic push killed mid-stream.
        let (mono_tx, mono_body) = channel_body();
        let client = s.client.clone();
        let mono_url = s.u(&format!("/v2/p/crash/blobs/uploads/?digest={big_digest}"));
        let mono = tokio::spawn(async move { client.post(mono_url).body(mono_body).send().await });
        mono_tx.send(big[..8 * 1024 * 1024].to_vec()).await.unwrap();
        sleep_ms(300).await;
        s.kill();
        assert!(
            patch.await.unwrap().is_err(),
            "killed request must not succeed"
        );
        assert!(
            mono.await.unwrap().is_err(),
            "killed request must not succeed"
        );
        drop((tx, mono_tx));

        assert_db_sound(&s).await;
        assert_blob_files_whole(&s).await;
        s.restart();

        // Everything acknowledged is intact; nothing partial is visible.
        let r = s.get("/v2/p/crash/manifests/stable").await;
        assert_eq!(header(&r, "docker-content-digest"), image);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &image_body[..]);
        let got = s
            .get(&format!("/v2/p/crash/blobs/{kept_digest}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.as_ref(), &kept[..]);
        assert_eq!(
            s.head(&format!("/v2/p/crash/blobs/{big_digest}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );

        // The interrupted session resumes from what reached the disk.
        let loc = s.u(&path);
        let r = s.client.get(&loc).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let range = header(&r, "range").to_string();
        let offset: usize = range.split('-').nth(1).unwrap().parse::<usize>().unwrap() + 1;
        assert!(offset > 0 && offset <= 24 * 1024 * 1024, "offset {offset}");
        let r = s
            .client
            .patch(&loc)
            .header("content-range", format!("{offset}-{}", big.len() - 1))
            .body(big[offset..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "{}",
            r.text().await.unwrap()
        );
        let r = s
            .client
            .put(format!("{loc}?digest={big_digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let got = s
            .get(&format!("/v2/p/crash/blobs/{big_digest}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert!(got.as_ref() == &big[..], "resumed blob differs");
        assert_blob_files_whole(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_manifest_push() {
    for mut s in servers().await {
        let (stable, _) = s.push_image("p/mcrash", "stable", "one").await;
        let (_, body) = s.push_image("p/mcrash", "other", "two").await;

        let (tx, stream) = channel_body();
        let client = s.client.clone();
        let url = s.u("/v2/p/mcrash/manifests/new");
        let put = tokio::spawn(async move {
            client
                .put(url)
                .header("content-type", OCI_MANIFEST)
                .body(stream)
                .send()
                .await
        });
        tx.send(body[..body.len() / 2].to_vec()).await.unwrap();
        sleep_ms(200).await;
        s.kill();
        assert!(put.await.unwrap().is_err());
        drop(tx);
        assert_db_sound(&s).await;
        s.restart();

        expect_error(
            s.get("/v2/p/mcrash/manifests/new").await,
            404,
            "MANIFEST_UNKNOWN",
        )
        .await;
        let r = s.head("/v2/p/mcrash/manifests/stable").await;
        assert_eq!(header(&r, "docker-content-digest"), stable);
        let r = s.put_manifest("p/mcrash", "new", OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut s = Server::start("sqlite", None).await;
    let data = bytes(4 * 1024 * 1024, 23);
    let loc = s.start_upload("p/term").await;
    let (tx, body) = channel_body();
    let client = s.client.clone();
    let l2 = loc.clone();
    let patch = tokio::spawn(async move { client.patch(&l2).body(body).send().await });
    tx.send(data[..1024 * 1024].to_vec()).await.unwrap();
    sleep_ms(200).await;
    let mut child = s.terminate();
    sleep_ms(200).await;
    // Still finishing the request in flight; new connections are refused.
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    for chunk in data[1024 * 1024..].chunks(1024 * 1024) {
        tx.send(chunk.to_vec()).await.unwrap();
    }
    drop(tx);
    let r = patch.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range"), format!("0-{}", data.len() - 1));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        sleep_ms(50).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_nothing_does_not_hold_up_shutdown() {
    let mut s = Server::start("sqlite", None).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sleep_ms(100).await;
    let mut child = s.terminate();
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a silent connection held up shutdown"
        );
        sleep_ms(50).await;
    }
}

/// Copies a directory tree.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn data_an_earlier_version_wrote_is_migrated_whole() {
    // Written by scripts/upgrade-fixture.sh: a data directory on SQLite, a
    // dump and its data directory on PostgreSQL.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    for (backend, url) in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        copy_tree(&fixture.join(backend), &data);
        // Where the fixture's Berth listened: its registry endpoint is itself.
        let mut cmd = berth();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:29417",
            "--log-level",
            "warn",
        ])
        .arg("--data-dir")
        .arg(&data);
        let mut second = None;
        if let Some(url) = &url {
            let dump = data.join("dump.sql");
            let loaded = std::process::Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-f"])
                .arg(&dump)
                .output()
                .unwrap();
            assert!(loaded.status.success(), "{loaded:?}");
            cmd.args(["--database-url", url]);
            // Two replicas start at once on it: one migrates, both serve.
            let mut other = serve(&dir.path().join("other"));
            other.args(["--database-url", url, "--secret-key-file"]);
            other
                .arg(data.join("secret-key"))
                .arg("--storage-path")
                .arg(data.join("storage"));
            second = Some(std::thread::spawn(move || spawn_listening(other)));
        }
        let (child, base) = spawn_listening(cmd);
        let mut children = vec![Killed(child)];
        let mut urls = vec![base.clone()];
        if let Some(t) = second {
            let (c, u) = t.join().unwrap();
            children.push(Killed(c));
            urls.push(u);
        }
        let http = reqwest::Client::new();
        for base in &urls {
            // The member signs in with their password and pulls the image whole.
            let r = (http.get(format!("{base}/api/v2.0/users/current")))
                .basic_auth("dev", Some("Devel12345"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{backend}");
            let r = (http.get(format!("{base}/v2/fixture/app/manifests/v1")))
                .basic_auth("dev", Some("Devel12345"))
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{backend}");
            let m: serde_json::Value = r.json().await.unwrap();
            for blob in [&m["config"], &m["layers"][0]] {
                let d = blob["digest"].as_str().unwrap();
                let r = (http.get(format!("{base}/v2/fixture/app/blobs/{d}")))
                    .basic_auth("dev", Some("Devel12345"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(digest(&r.bytes().await.unwrap()), d, "{backend}");
            }
        }
        let admin = |path: &str| {
            http.get(format!("{base}/api/v2.0{path}"))
                .basic_auth("admin", Some(ADMIN_PASSWORD))
                .send()
        };
        let settings: serde_json::Value = admin("/configurations")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            settings["banner_message"]["value"], "fixture banner",
            "{backend}"
        );
        let robots: serde_json::Value = admin("/robots").await.unwrap().json().await.unwrap();
        assert_eq!(robots[0]["name"], "robot$fixture+ci", "{backend}");
        let logs: Vec<serde_json::Value> =
            admin("/audit-logs").await.unwrap().json().await.unwrap();
        assert!(!logs.is_empty(), "{backend}");
        // The endpoint's sealed password still opens, and is the right one.
        let registries: serde_json::Value =
            admin("/registries").await.unwrap().json().await.unwrap();
        let id = registries[0]["id"].as_i64().unwrap();
        let r = (http.post(format!("{base}/api/v2.0/registries/ping")))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&serde_json::json!({"id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{backend}: {}", r.text().await.unwrap());
        drop(children);
    }
}
