//! Three Berth replicas on one PostgreSQL database and one S3 bucket behind
//! nginx (round robin) are one registry: an upload's requests on different
//! replicas, tokens and sessions from any, settings seen by all within
//! seconds, pulls and audit from every replica, GC while another replica
//! pushes, and a replica killed mid-push losing nothing acknowledged.
//! (PostgreSQL only: replicas share a database server.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use berth_testkit::balancer::Balancer;
use bytes::Bytes;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long another replica may act on an old setting or serve a moved
/// tag's old manifest (settings are re-read every second; the bound the
/// documentation states is 2 s).
const STALENESS: Duration = Duration::from_secs(2);

/// Three replicas (the first made the database) and the balancer before them.
async fn cluster(url: Option<String>) -> (Vec<Server>, Balancer) {
    let port = free_port();
    let external = format!("http://127.0.0.1:{port}");
    let flags = [
        "--external-url",
        &external,
        "--trusted-proxies",
        "127.0.0.1",
        "--gc-min-window-seconds",
        "5",
        "--job-lease-seconds",
        "3",
    ];
    let first = Server::start_with("postgres", url, &flags).await;
    let replicas = vec![first.sibling(), first.sibling()];
    let replicas: Vec<Server> = std::iter::once(first).chain(replicas).collect();
    let upstreams: Vec<String> = (replicas.iter())
        .map(|s| s.url.trim_start_matches("http://").to_string())
        .collect();
    let upstreams: Vec<&str> = upstreams.iter().map(String::as_str).collect();
    let lb = Balancer::start(port, &upstreams).await;
    (replicas, lb)
}

/// Where `location` points, at `base` (a replica or the balancer) instead.
fn at(base: &str, location: &str) -> String {
    let path = location.find("/v2/").map(|i| &location[i..]).unwrap();
    format!("{base}{path}")
}

#[tokio::test]
async fn three_replicas_behind_a_balancer_are_one_registry() {
    let Some(url) = databases().await.into_iter().find_map(|(_, u)| u) else {
        eprintln!("no PostgreSQL: replicas need a shared database server");
        return;
    };
    let (mut replicas, lb) = cluster(Some(url)).await;
    let [a, b, c] = [&replicas[0], &replicas[1], &replicas[2]];
    let through = Registry {
        url: lb.url.clone(),
        http: a.client.clone(),
    };

    // One upload, each request on another replica: the hash state and the
    // object store's parts travel in the database (chunks cross a part).
    let data = bytes(19 << 20, 1);
    let d = digest(&data);
    let loc = a.start_upload("p/spread").await;
    let mut offset = 0;
    for (chunk, s) in data.chunks(9 << 20).zip([b, c, a]) {
        let r = s
            .client
            .patch(at(&s.url, &loc))
            .header(
                "content-range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        offset += chunk.len();
        assert_eq!(header(&r, "range"), format!("0-{}", offset - 1));
    }
    let r = b
        .client
        .put(at(&b.url, &format!("{loc}?digest={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    for s in [a, b, c] {
        let got = s.get(&format!("/v2/p/spread/blobs/{d}")).await;
        assert_eq!(got.status(), 200);
        assert_eq!(digest(&got.bytes().await.unwrap()), d);
    }

    // A token from one replica opens every other; a session too.
    let r = a
        .client
        .get(a.u("/service/token?service=harbor-registry&scope=repository:p/spread:pull"))
        .send()
        .await
        .unwrap();
    let token: Value = r.json().await.unwrap();
    let token = token["token"].as_str().unwrap();
    for s in [b, c] {
        let r = s
            .anon
            .head(s.u(&format!("/v2/p/spread/blobs/{d}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let sid = b.session("admin", ADMIN_PASSWORD).await;
    let r = c
        .anon
        .get(c.u("/api/v2.0/users/current"))
        .header("cookie", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A setting changed on one replica holds on the others within the bound.
    let read_only = |on: bool| {
        a.client
            .put(a.u("/api/v2.0/configurations"))
            .json(&json!({"read_only": on}))
            .send()
    };
    assert_eq!(read_only(true).await.unwrap().status(), 200);
    let changed = Instant::now();
    loop {
        let r = c
            .client
            .post(c.u("/v2/p/x/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        if r.status() != 202 {
            assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
            break;
        }
        assert!(changed.elapsed() < STALENESS, "c still writable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(read_only(false).await.unwrap().status(), 200);
    tokio::time::sleep(STALENESS).await;

    // Pulls through the balancer land on every replica; each counts them
    // and the audit log (read on one) has every one.
    a.push_image("p/pulled", "v1", "pulled").await;
    for _ in 0..6 {
        let r = a
            .client
            .get(lb.u("/v2/p/pulled/manifests/v1"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let repo: Value = a.api_json("/projects/p/repositories/pulled", ADMIN).await;
        let logs: Vec<Value> = a
            .api_json("/audit-logs?q=operation%3Dpull&page_size=100", ADMIN)
            .await;
        let pulls = (logs.iter())
            .filter(|l| l["resource"].as_str().unwrap().starts_with("p/pulled"))
            .count();
        if pulls == 6 && repo["pull_count"] == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "{pulls} pulls audited; {repo}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A tag moved on one replica is served by another within the bound,
    // though that one keeps the manifest it served in memory for pulls.
    let served = |s: &Server| {
        let r = s.client.get(s.u("/v2/p/moved/manifests/v1"));
        async move {
            let r = r.header("accept", OCI_MANIFEST).send().await.unwrap();
            assert_eq!(r.status(), 200);
            header(&r, "docker-content-digest").to_string()
        }
    };
    let (old, _) = a.push_image("p/moved", "v1", "old").await;
    assert_eq!(served(b).await, old);
    assert_eq!(served(b).await, old);
    let (new, _) = a.push_image("p/moved", "v1", "new").await;
    let moved = Instant::now();
    while served(b).await != new {
        assert!(moved.elapsed() < STALENESS, "b still serves the old v1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Collections on one replica while another pushes images that reuse
    // the very layers being collected: every acknowledged image stays whole.
    let garbage: Vec<Vec<u8>> = (0..6).map(|i| bytes(256 << 10, 100 + i)).collect();
    for (i, layer) in garbage.iter().enumerate() {
        let (m, _) = a
            .push_layers("p/garbage", &format!("g{i}"), std::slice::from_ref(layer))
            .await;
        assert_eq!(
            a.delete(&format!("/v2/p/garbage/manifests/{m}"))
                .await
                .status(),
            202
        );
    }
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let pusher = {
        let reg = Registry {
            url: b.url.clone(),
            http: b.client.clone(),
        };
        let garbage = garbage.clone();
        tokio::spawn(async move {
            let mut pushed = Vec::new();
            for i in 0..24 {
                let config = Bytes::from(format!(
                    "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":{i}}}"
                ));
                let layer = Bytes::from(garbage[i % garbage.len()].clone());
                let m = reg.push_image_blobs("p/busy", config, layer).await.unwrap();
                reg.push_manifest("p/busy", &format!("t{i}"), OCI_MANIFEST, m.clone())
                    .await
                    .unwrap();
                pushed.push((format!("t{i}"), m));
            }
            pushed
        })
    };
    let params = json!({"delete_untagged": true, "time_window": 0, "workers": 2});
    while !pusher.is_finished() {
        let id = a.start_gc(params.clone()).await;
        assert_eq!(a.wait_gc(id).await["job_status"], "Success");
    }
    let pushed = pusher.await.unwrap();
    for (tag, m) in &pushed {
        check_image(&through, "p/busy", tag, m).await;
    }

    // A replica killed mid-push: clients go on through the balancer, and
    // every blob acknowledged is there, whole.
    let pusher = {
        let reg = through.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut failures = 0;
            for i in 0..30 {
                let data = bytes(3 << 20, 1000 + i);
                let d = digest(&data);
                // A client retries a failed upload from the start.
                for attempt in 0.. {
                    match reg.push_chunked("p/killed", &data, &d, 1 << 20).await {
                        Ok(()) => break,
                        Err(e) => {
                            failures += 1;
                            assert!(attempt < 5, "blob {i} never went in: {e}");
                        }
                    }
                }
                acknowledged.push(d);
            }
            (acknowledged, failures)
        })
    };
    // And an upload streaming into that replica when it dies: 12 MiB in
    // (one 8 MiB part saved), the rest never sent.
    let big = bytes(20 << 20, 7);
    let big_digest = digest(&big);
    let loc = through.start_upload("p/killed").await.unwrap();
    let (tx, body) = channel_body();
    let direct = replicas[2]
        .client
        .patch(at(&replicas[2].url, &loc))
        .body(body);
    let patch = tokio::spawn(direct.send());
    for chunk in big[..12 << 20].chunks(1 << 20) {
        tx.send(chunk.to_vec()).await.unwrap();
    }
    sleep_ms(500).await;
    assert!(!pusher.is_finished(), "the pushes must outlast the kill");
    replicas[2].kill();
    assert!(patch.await.unwrap().is_err(), "a killed request must fail");
    drop(tx);
    let (acknowledged, failures) = pusher.await.unwrap();
    eprintln!("{failures} uploads retried after the kill");
    let (a, b) = (&replicas[0], &replicas[1]);
    for d in &acknowledged {
        for s in [a, b] {
            let got = s.get(&format!("/v2/p/killed/blobs/{d}")).await;
            assert_eq!(got.status(), 200, "{d}");
            assert_eq!(&digest(&got.bytes().await.unwrap()), d);
        }
    }
    // The client asks the balancer where its upload stands and goes on
    // from the part the dead replica saved.
    let r = a.client.get(at(&lb.url, &loc)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let offset: usize = header(&r, "range")
        .split('-')
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        + 1;
    assert_eq!(offset, 8 << 20, "the saved part");
    let r = a
        .client
        .patch(at(&lb.url, &loc))
        .header("content-range", format!("{offset}-{}", big.len() - 1))
        .body(big[offset..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let r = a
        .client
        .put(format!("{}?digest={big_digest}", at(&lb.url, &loc)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = b.get(&format!("/v2/p/killed/blobs/{big_digest}")).await;
    assert!(
        got.bytes().await.unwrap().as_ref() == &big[..],
        "resumed blob differs"
    );
}

/// Pulls an image's manifest and blobs; all must match their digests.
async fn check_image(reg: &Registry, repo: &str, tag: &str, manifest: &Bytes) {
    let r = reg
        .http
        .get(format!("{}/v2/{repo}/manifests/{tag}", reg.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{repo}:{tag}");
    assert_eq!(&r.bytes().await.unwrap(), manifest);
    let m: Value = serde_json::from_slice(manifest).unwrap();
    let layers = m["layers"].as_array().unwrap();
    for blob in layers.iter().chain([&m["config"]]) {
        let d = blob["digest"].as_str().unwrap();
        let r = reg
            .http
            .get(format!("{}/v2/{repo}/blobs/{d}", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{repo}:{tag} {d}");
        assert_eq!(digest(&r.bytes().await.unwrap()), d);
    }
}
