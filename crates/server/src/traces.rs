//! OpenTelemetry request spans: each request's span joins the caller's
//! trace (W3C `traceparent`) and is named by its route template, never a
//! raw path. Off unless an OTLP endpoint is configured; then the spans of
//! core, storage and the database open inside it.

use axum::http::{Method, Request, Response};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);

/// Turns on the OpenTelemetry fields (once an exporter is installed).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The span of one request (`id` is its `X-Request-Id`).
pub fn request_span<B>(req: &Request<B>, id: &str) -> Span {
    let (method, path) = (req.method(), req.uri().path());
    if !on() {
        return tracing::info_span!("request", id, %method, path);
    }
    // Named by method until the router knows the route.
    let span = tracing::info_span!(
        "request",
        id,
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        url.path = path,
        http.route = Empty,
        http.response.status_code = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    let _ = span.set_parent(parent);
    span
}

/// Names the current request's span by its route template.
pub fn route(method: &Method, template: &str) {
    if on() {
        let span = Span::current();
        span.record("http.route", template);
        // The OpenTelemetry span started when the request span was first
        // entered: its name can only be changed on it directly.
        let name = format!("{method} {template}");
        span.context().span().update_name(name);
    }
}

/// Records the response's status on the request span (a server error
/// marks the span failed), then logs as tower-http does by default.
pub fn on_response<B>(res: &Response<B>, latency: Duration, span: &Span) {
    if on() {
        let status = res.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    DefaultOnResponse::default().on_response(res, latency, span);
}
