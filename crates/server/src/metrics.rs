//! Prometheus metrics in the text format, under Harbor's and
//! Distribution's names: every request counted and timed by method, status
//! and operation (a route template or Harbor's operation id, never a raw
//! path, so label values stay few), plus what Harbor's exporter reports of
//! projects, jobs and health, read at scrape time (`core::metrics`).

use crate::State;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

/// Request metrics, shared by every router of the process.
struct Http {
    registry: Registry,
    core_total: IntCounterVec,
    core_seconds: HistogramVec,
    core_inflight: IntGauge,
    v2_total: IntCounterVec,
    v2_seconds: HistogramVec,
    v2_inflight: IntGauge,
}

fn registered<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    // Names are fixed and distinct: registration cannot fail.
    let _ = r.register(Box::new(c.clone()));
    c
}

static HTTP: LazyLock<Http> = LazyLock::new(|| {
    let r = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels);
        registered(&r, c.unwrap_or_else(|_| unreachable!("valid metric")))
    };
    let histogram = |name: &str, help: &str, labels: &[&str]| {
        let h = HistogramVec::new(HistogramOpts::new(name, help), labels);
        registered(&r, h.unwrap_or_else(|_| unreachable!("valid metric")))
    };
    let gauge = |name: &str, help: &str| {
        let g = IntGauge::new(name, help);
        registered(&r, g.unwrap_or_else(|_| unreachable!("valid metric")))
    };
    Http {
        core_total: counter(
            "harbor_core_http_request_total",
            "The total number of requests",
            &["method", "code", "operation"],
        ),
        core_seconds: histogram(
            "harbor_core_http_request_duration_seconds",
            "The time duration of the requests",
            &["method", "operation"],
        ),
        core_inflight: gauge(
            "harbor_core_http_inflight_requests",
            "The requests in flight",
        ),
        v2_total: counter(
            "registry_http_requests_total",
            "Total number of HTTP requests made.",
            &["code", "method"],
        ),
        v2_seconds: histogram(
            "registry_http_request_duration_seconds",
            "The HTTP request latencies in seconds.",
            &["method"],
        ),
        v2_inflight: gauge(
            "registry_http_in_flight_requests",
            "The in-flight HTTP requests",
        ),
        registry: r,
    }
});

/// method → route template → Harbor's operation id, from the OpenAPI document.
static OPERATIONS: OnceLock<HashMap<&'static str, HashMap<String, String>>> = OnceLock::new();

/// Learns the API's operation ids (once, when the router is built).
pub fn learn_operations(doc: &utoipa::openapi::OpenApi) {
    let mut map: HashMap<&'static str, HashMap<String, String>> = HashMap::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
        ];
        for (method, op) in ops {
            if let Some(id) = op.as_ref().and_then(|o| o.operation_id.clone()) {
                map.entry(method).or_default().insert(path.clone(), id);
            }
        }
    }
    let _ = OPERATIONS.set(map);
}

/// Counts and times every request (`/v2` under Distribution's names).
pub async fn track(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path();
    let v2 = path == "/v2" || path.starts_with("/v2/");
    // Distribution's names carry no operation: `/v2` skips the lookup.
    let operation = match (v2, req.extensions().get::<MatchedPath>()) {
        (true, _) => String::new(),
        (false, Some(m)) => {
            crate::traces::route(req.method(), m.as_str());
            (OPERATIONS.get())
                .and_then(|ops| ops.get(method.as_str())?.get(m.as_str()))
                .map_or_else(|| m.as_str().to_string(), Clone::clone)
        }
        (false, None) => "unmatched".to_string(),
    };
    let http = &*HTTP;
    let inflight = if v2 {
        &http.v2_inflight
    } else {
        &http.core_inflight
    };
    inflight.inc();
    let started = Instant::now();
    let res = next.run(req).await;
    inflight.dec();
    let seconds = started.elapsed().as_secs_f64();
    let code = res.status().as_u16().to_string();
    if v2 {
        http.v2_total.with_label_values(&[&code, &method]).inc();
        http.v2_seconds
            .with_label_values(&[&method])
            .observe(seconds);
    } else {
        (http.core_total)
            .with_label_values(&[&method, &code, &operation])
            .inc();
        (http.core_seconds)
            .with_label_values(&[&method, &operation])
            .observe(seconds);
    }
    res
}

/// `GET /metrics`: the request metrics and the exporter's figures.
pub async fn render(state: &State) -> Response {
    let snapshot = match state.exporter.snapshot().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "reading the exporter's figures");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let figures = Registry::new();
    let gauges = |name: &str, help: &str, labels: &[&str]| {
        let g = GaugeVec::new(Opts::new(name, help), labels);
        registered(&figures, g.unwrap_or_else(|_| unreachable!("valid metric")))
    };
    let project_total = gauges("harbor_project_total", "Total projects number", &["public"]);
    let repos = gauges(
        "harbor_project_repo_total",
        "Total project repos number",
        &["project_name", "public"],
    );
    let members = gauges(
        "harbor_project_member_total",
        "Total members number of a project",
        &["project_name"],
    );
    let usage = gauges(
        "harbor_project_quota_usage_byte",
        "The used resource of a project",
        &["project_name"],
    );
    let quota = gauges(
        "harbor_project_quota_byte",
        "The quota of a project",
        &["project_name"],
    );
    let pulled = gauges(
        "harbor_artifact_pulled",
        "The pull number of an artifact",
        &["project_name"],
    );
    let artifacts = gauges(
        "harbor_project_artifact_total",
        "Total project artifacts number",
        &["project_name", "public", "artifact_type"],
    );
    let queue_size = gauges("harbor_task_queue_size", "Total number of tasks", &["type"]);
    let queue_latency = gauges(
        "harbor_task_queue_latency",
        "how long ago the next job to be processed was enqueued",
        &["type"],
    );
    let up = gauges(
        "harbor_up",
        "Running status of harbor component",
        &["component"],
    );
    let mut public_of = HashMap::new();
    let (mut public, mut private) = (0.0, 0.0);
    for (name, is_public, repo_count, member_count, used, hard, pulls) in &snapshot.projects {
        let p = if *is_public { "true" } else { "false" };
        public_of.insert(name.as_str(), p);
        *(if *is_public {
            &mut public
        } else {
            &mut private
        }) += 1.0;
        repos.with_label_values(&[name, p]).set(*repo_count as f64);
        members.with_label_values(&[name]).set(*member_count as f64);
        usage.with_label_values(&[name]).set(*used as f64);
        quota.with_label_values(&[name]).set(*hard as f64);
        pulled.with_label_values(&[name]).set(*pulls as f64);
    }
    project_total.with_label_values(&["true"]).set(public);
    project_total.with_label_values(&["false"]).set(private);
    for (project, kind, n) in &snapshot.artifacts {
        let p = public_of.get(project.as_str()).copied().unwrap_or("false");
        (artifacts.with_label_values(&[project, p, kind])).set(*n as f64);
    }
    for (kind, n, waited_ms) in &snapshot.queues {
        queue_size.with_label_values(&[kind]).set(*n as f64);
        (queue_latency.with_label_values(&[kind])).set(*waited_ms as f64 / 1000.0);
    }
    let scheduled = Gauge::new(
        "harbor_task_scheduled_total",
        "total number of scheduled job",
    );
    let scheduled = registered(&figures, scheduled.unwrap_or_else(|_| unreachable!()));
    scheduled.set(snapshot.schedules as f64);
    let healthy = snapshot.health.iter().all(|c| c.error.is_none());
    for c in &snapshot.health {
        (up.with_label_values(&[c.name])).set(f64::from(u8::from(c.error.is_none())));
    }
    let health = Gauge::new("harbor_health", "Running status of Harbor");
    let health = registered(&figures, health.unwrap_or_else(|_| unreachable!()));
    health.set(f64::from(u8::from(healthy)));

    let cache = state.registry.manifest_cache().stats();
    let kept = Gauge::new(
        "berth_manifest_cache_bytes",
        "Bytes of manifests kept in memory for pulls",
    );
    registered(&figures, kept.unwrap_or_else(|_| unreachable!())).set(cache.bytes as f64);
    let served = |name: &str, help: &str, n: u64| {
        let c = IntCounter::new(name, help).unwrap_or_else(|_| unreachable!("valid metric"));
        registered(&figures, c).inc_by(n);
    };
    served(
        "berth_manifest_cache_hits_total",
        "Manifest pulls answered from memory",
        cache.hits,
    );
    served(
        "berth_manifest_cache_misses_total",
        "Manifest pulls that read the database",
        cache.misses,
    );

    let mut families = HTTP.registry.gather();
    families.extend(figures.gather());
    families.extend(berth_core::metrics::storage_actions());
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(error = %e, "encoding metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], out).into_response()
}
