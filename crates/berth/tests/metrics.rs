//! Operations: Prometheus metrics (parsed with a text-format parser) under
//! Harbor's and Distribution's names, moving with traffic, on the main port
//! for administrators or on a port of their own; health per component;
//! OpenTelemetry traces received by an OTLP receiver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use prometheus_parse::{Scrape, Value};
use reqwest::Method;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample of `metric` with these labels (among others).
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = s.samples.iter().find(|x| {
        x.metric == metric && (labels.iter()).all(|(k, v)| x.labels.get(k) == Some(*v))
    })?;
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        Value::Histogram(ref buckets) => buckets.last().map(|b| b.count),
        _ => None,
    }
}

async fn scrape(s: &Server, url: &str) -> Scrape {
    let r = s.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    parse(&r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_move_with_traffic_under_harbors_names() {
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, &["--metrics"]).await;
        let metrics = s.u("/metrics");
        s.push_image("p/app", "v1", "metrics").await;
        let listed = s.api(Method::GET, "/projects", ADMIN).send().await.unwrap();
        assert_eq!(listed.status(), 200);

        let a = scrape(&s, &metrics).await;
        let list = [
            ("method", "GET"),
            ("code", "200"),
            ("operation", "listProjects"),
        ];
        let listed_a = value(&a, "harbor_core_http_request_total", &list).unwrap();
        assert!(listed_a >= 1.0, "{backend}");
        let put = [("method", "PUT"), ("code", "201")];
        assert!(value(&a, "registry_http_requests_total", &put).unwrap() >= 1.0);
        assert!(value(
            &a,
            "registry_http_request_duration_seconds",
            &[("method", "PUT")]
        )
        .is_some());
        let p = [("project_name", "p"), ("public", "false")];
        assert_eq!(
            value(&a, "harbor_project_repo_total", &p),
            Some(1.0),
            "{backend}"
        );
        let image = [("project_name", "p"), ("artifact_type", "IMAGE")];
        assert_eq!(
            value(&a, "harbor_project_artifact_total", &image),
            Some(1.0)
        );
        assert_eq!(
            value(&a, "harbor_project_total", &[("public", "true")]),
            Some(1.0)
        );
        assert_eq!(
            value(&a, "harbor_project_total", &[("public", "false")]),
            Some(2.0)
        );
        let usage = value(
            &a,
            "harbor_project_quota_usage_byte",
            &[("project_name", "p")],
        );
        assert!(usage.unwrap() > 0.0);
        assert_eq!(
            value(&a, "harbor_project_quota_byte", &[("project_name", "p")]),
            Some(-1.0)
        );
        assert_eq!(
            value(&a, "harbor_up", &[("component", "database")]),
            Some(1.0)
        );
        assert_eq!(
            value(&a, "harbor_up", &[("component", "registry")]),
            Some(1.0)
        );
        assert_eq!(value(&a, "harbor_health", &[]), Some(1.0));
        // Storage actions are timed under Distribution's name.
        let driver = match s.bucket {
            Some(_) => "s3",
            None => "filesystem",
        };
        let action = |scrape: &Scrape, action: &str| {
            let labels = [("driver", driver), ("action", action)];
            value(scrape, "registry_storage_action_seconds", &labels).unwrap_or(0.0)
        };
        assert!(
            action(&a, "Move") >= 2.0,
            "{backend}: the image's two blobs"
        );
        let layer = s.push_blob("p/app", b"a layer to read").await;
        let read = s.get(&format!("/v2/p/app/blobs/{layer}")).await;
        assert_eq!(read.status(), 200);

        for _ in 0..3 {
            s.api(Method::GET, "/projects", ADMIN).send().await.unwrap();
        }
        let b = scrape(&s, &metrics).await;
        let listed_b = value(&b, "harbor_core_http_request_total", &list).unwrap();
        assert_eq!(listed_b - listed_a, 3.0, "{backend}");
        assert_eq!(action(&b, "Move") - action(&a, "Move"), 1.0, "{backend}");
        assert!(action(&b, "Reader") > action(&a, "Reader"), "{backend}");
        // Label values are route templates or operation ids, never raw paths.
        for sample in &b.samples {
            for (_, v) in sample.labels.iter() {
                assert!(!v.contains("p/app") && !v.contains("/v2/"), "{sample:?}");
            }
        }

        // It names private projects: administrators only on the main port.
        assert_eq!(s.anon.get(&metrics).send().await.unwrap().status(), 401);
        s.create_user("watcher", "Watcher12345").await;
        let r = s
            .anon
            .get(&metrics)
            .basic_auth("watcher", Some("Watcher12345"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
}

#[tokio::test]
async fn metrics_on_a_port_of_their_own() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let s = Server::start_with("sqlite", None, &["--metrics-listen", &listen]).await;
    // Not on the main port then.
    assert_eq!(s.get("/metrics").await.status(), 404);
    let mut scraped = None;
    for _ in 0..50 {
        if let Ok(r) = s.anon.get(format!("http://{listen}/metrics")).send().await {
            scraped = Some(parse(&r.text().await.unwrap()));
            break;
        }
        sleep_ms(100).await;
    }
    let scraped = scraped.expect("the metrics port answers");
    assert_eq!(value(&scraped, "harbor_health", &[]), Some(1.0));
}

#[tokio::test]
async fn health_reports_each_component() {
    for s in servers().await {
        let health: serde_json::Value = s.api_json("/health", ADMIN).await;
        assert_eq!(health["status"], "healthy", "{health}");
        let names: Vec<&str> = (health["components"].as_array().unwrap().iter())
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for name in ["core", "database", "registry", "jobservice"] {
            assert!(names.contains(&name), "{name} missing: {health}");
        }
        if s.bucket.is_some() {
            continue;
        }
        // Storage that cannot be read: the registry component says why.
        let blobs = s.data_dir().join("storage/blobs");
        let aside = s.data_dir().join("storage/blobs-aside");
        std::fs::rename(&blobs, &aside).unwrap();
        let r = s.get("/api/v2.0/health").await;
        assert_eq!(r.status(), 503);
        let health: serde_json::Value = r.json().await.unwrap();
        assert_eq!(health["status"], "unhealthy");
        let registry = (health["components"].as_array().unwrap().iter())
            .find(|c| c["name"] == "registry")
            .unwrap();
        assert_eq!(registry["status"], "unhealthy");
        assert!(registry["error"]
            .as_str()
            .unwrap()
            .contains("filesystem storage"));
        std::fs::rename(&aside, &blobs).unwrap();
        assert_eq!(s.get("/api/v2.0/health").await.status(), 200);
    }
}

/// 32 (trace) or 16 (span) random hex digits.
fn random_hex(digits: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..digits].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A GET carrying a W3C traceparent.
async fn traced_get(s: &Server, path: &str, trace: &str, parent: &str, sampled: bool) -> u16 {
    let flags = if sampled { "01" } else { "00" };
    let r = (s.client.get(s.u(path)))
        .header("traceparent", format!("00-{trace}-{parent}-{flags}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn traces_reach_an_otlp_collector() {
    let collector = berth_testkit::otlp::receiver().await;
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, &["--otlp-endpoint", &collector.url]).await;
        s.push_image("p/app", "v1", "traces").await;

        // A caller's trace goes on in Berth: the request's span is its
        // child, named by the route template; core's and the database's
        // spans are children of it.
        let (trace, parent) = (random_hex(32), random_hex(16));
        let path = "/v2/p/app/manifests/v1";
        assert_eq!(traced_get(&s, path, &trace, &parent, true).await, 200);
        let in_trace = |name: &'static str| {
            let trace = trace.clone();
            move |sp: &berth_testkit::otlp::Span| hex(&sp.trace_id) == trace && sp.name == name
        };
        let request = collector
            .wait_for(
                "for the request",
                in_trace("GET /v2/{name}/manifests/{reference}"),
            )
            .await;
        assert_eq!(request.service, "berth");
        assert_eq!(request.kind, 2, "a server span");
        assert_eq!(hex(&request.parent_span_id), parent, "{backend}");
        let route = request.attr("http.route");
        assert_eq!(route.as_deref(), Some("/v2/{name}/manifests/{reference}"));
        let status = request.attr("http.response.status_code");
        assert_eq!(status.as_deref(), Some("200"));
        assert_eq!(request.attr("url.path").as_deref(), Some(path));
        let core = (collector.wait_for("from core", in_trace("registry.serve_manifest"))).await;
        assert_eq!(core.parent_span_id, request.span_id);
        let db = (collector.wait_for("from the database", in_trace("db.artifact_by_tag"))).await;
        assert_eq!(db.parent_span_id, core.span_id);

        // Storage, on a blob read.
        let layer = s.push_blob("p/app", b"traced bytes").await;
        let (trace, parent) = (random_hex(32), random_hex(16));
        let blob = format!("/v2/p/app/blobs/{layer}");
        assert_eq!(traced_get(&s, &blob, &trace, &parent, true).await, 200);
        let read = collector
            .wait_for("from storage", |sp| {
                hex(&sp.trace_id) == trace && sp.name == "Reader"
            })
            .await;
        let driver = if s.bucket.is_some() {
            "s3"
        } else {
            "filesystem"
        };
        assert_eq!(read.attr("storage.driver").as_deref(), Some(driver));

        // The API's spans are named by their route; a failure's status is kept.
        let (trace, parent) = (random_hex(32), random_hex(16));
        let missing = "/api/v2.0/projects/nosuch";
        assert_eq!(traced_get(&s, missing, &trace, &parent, true).await, 404);
        let api = collector
            .wait_for("for the API", |sp| {
                hex(&sp.trace_id) == trace && sp.kind == 2
            })
            .await;
        assert_eq!(api.name, "GET /api/v2.0/projects/{p}");
        assert_eq!(
            api.attr("http.response.status_code").as_deref(),
            Some("404")
        );

        // A caller that did not sample its trace gets none from Berth.
        let (unsampled, parent) = (random_hex(32), random_hex(16));
        assert_eq!(traced_get(&s, path, &unsampled, &parent, false).await, 200);
        let (trace, parent) = (random_hex(32), random_hex(16));
        assert_eq!(traced_get(&s, path, &trace, &parent, true).await, 200);
        collector
            .wait_for("after the unsampled request", |sp| {
                hex(&sp.trace_id) == trace
            })
            .await;
        let leaked = collector
            .spans()
            .into_iter()
            .any(|sp| hex(&sp.trace_id) == unsampled);
        assert!(!leaked, "{backend}: an unsampled trace was exported");
    }

    // A ratio of 0 samples no new trace, and still follows callers'.
    let s = Server::start_with(
        "sqlite",
        None,
        &[
            "--otlp-endpoint",
            &collector.url,
            "--otlp-sampling-ratio",
            "0",
        ],
    )
    .await;
    let before = collector.spans().len();
    let listed = s.get("/api/v2.0/projects").await;
    assert_eq!(listed.status(), 200);
    let (trace, parent) = (random_hex(32), random_hex(16));
    assert_eq!(
        traced_get(&s, "/api/v2.0/projects", &trace, &parent, true).await,
        200
    );
    collector
        .wait_for("from a sampled caller", |sp| {
            hex(&sp.trace_id) == trace && sp.kind == 2
        })
        .await;
    let new: Vec<_> = collector.spans().into_iter().skip(before).collect();
    assert!(
        new.iter().all(|sp| hex(&sp.trace_id) == trace),
        "only the caller's trace: {new:?}"
    );
}
