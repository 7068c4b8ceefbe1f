//! Berth's HTTP surfaces. Handlers are thin: parse the request, call one core
//! service, map the result (or error) to the protocol's format.
//!
//! Architecture invariant: only this crate knows HTTP; error envelopes are
//! produced here and nowhere else.

pub mod adapter;
pub mod api;
pub mod auth;
pub mod distribution;
pub mod listener;
pub mod metrics;
pub mod portal;
pub mod session;
pub mod token;
pub mod traces;

use axum::http::{HeaderName, Request};
use axum::Router;
use berth_core::gc::Gc;
use berth_core::health::Health;
use berth_core::iam::token::TokenService;
use berth_core::metrics::Exporter;
use berth_core::notify::audit::Audit;
use berth_core::notify::webhooks::Webhooks;
use berth_core::project::immutable::ImmutableRules;
use berth_core::project::labels::Labels;
use berth_core::proxy::ProxyCache;
use berth_core::quota::Quotas;
use berth_core::replication::flow::Replication;
use berth_core::replication::registries::Registries;
use berth_core::retention::Retention;
use berth_core::{Artifacts, Configurations, Iam, Jobs, Projects, Registry, Repositories, Scans};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Everything a handler can reach.
pub struct AppState {
    pub registry: Arc<Registry>,
    pub iam: Iam,
    pub projects: Projects,
    pub repositories: Repositories,
    pub artifacts: Artifacts,
    pub labels: Labels,
    pub quotas: Quotas,
    pub retention: Retention,
    pub immutable: ImmutableRules,
    pub scans: Scans,
    pub configurations: Configurations,
    pub jobs: Jobs,
    pub gc: Gc,
    pub audit: Audit,
    pub webhooks: Webhooks,
    pub registries: Registries,
    pub replication: Replication,
    pub proxy: ProxyCache,
    pub tokens: Arc<TokenService>,
    /// The URL clients use to reach Berth, without a trailing slash.
    pub external_url: String,
    pub health: Health,
    pub exporter: Exporter,
    /// Serve `/metrics` on the main port (to system administrators).
    pub metrics_on_main_port: bool,
}

/// Shared handler state.
pub type State = Arc<AppState>;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: State) -> Router {
    let metrics = match state.metrics_on_main_port {
        true => Router::new().route("/metrics", axum::routing::get(admin_metrics)),
        false => Router::new(),
    };
    Router::new()
        .merge(metrics)
        .merge(distribution::router())
        .merge(api::router(state.clone()))
        .merge(adapter::router())
        .merge(token::router())
        .merge(api::login::router())
        .merge(api::oidc::router())
        .merge(portal::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), durable))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_only_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            portal::styled_errors,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
        .layer(axum::middleware::from_fn(envelopes))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .headers()
                                .get(&REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            traces::request_span(req, id)
                        })
                        .on_response(traces::on_response),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// `/metrics` on the main port: it names private projects, so system
/// administrators only (a scraper signs in as one, or a robot granted it).
async fn admin_metrics(
    axum::extract::State(state): axum::extract::State<State>,
    api::Ctx(ctx): api::Ctx,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use berth_core::iam::rbac::{require, Action, Resource};
    match require(&ctx, Action::Read, Resource::System("metrics")).await {
        Ok(()) => metrics::render(&state).await,
        Err(e) => api::ApiError::from(e).into_response(),
    }
}

/// `/metrics` alone, for a port of its own (no credentials: bind it where
/// only the scraper reaches).
pub fn metrics_router(state: State) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(state): axum::extract::State<State>| async move {
                    metrics::render(&state).await
                },
            ),
        )
        .with_state(state)
}

/// The longest request target served (path and query, as nginx in front
/// of Harbor allows); a longer one is answered 414. (Past 64 KiB the HTTP
/// parser refuses the request line itself, before any route is known.)
const MAX_URI: usize = 8192;

/// Largest framework-made error body read back to rewrap it.
const MAX_REWRAPPED: usize = 4096;

/// Keeps every error on `/v2` and `/api` in its protocol's envelope: long
/// URIs are refused here, and the framework's own plain-text refusals
/// (a body over the limit, malformed JSON, a method a route lacks) are
/// rewrapped.
async fn envelopes(
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, Method, StatusCode};
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let (v2, api) = (path.starts_with("/v2"), path.starts_with("/api/"));
    let error = |status: StatusCode, message: String| {
        if v2 {
            let code = match status {
                StatusCode::PAYLOAD_TOO_LARGE => berth_oci::ErrorCode::SizeInvalid,
                StatusCode::UNAUTHORIZED => berth_oci::ErrorCode::Unauthorized,
                StatusCode::FORBIDDEN => berth_oci::ErrorCode::Denied,
                StatusCode::TOO_MANY_REQUESTS => berth_oci::ErrorCode::TooManyRequests,
                s if s.is_server_error() => berth_oci::ErrorCode::Unknown,
                _ => berth_oci::ErrorCode::Unsupported,
            };
            distribution::OciError::status(status, code, message).into_response()
        } else {
            api::ApiError::new(status, message).into_response()
        }
    };
    let target = path.len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if (v2 || api) && target > MAX_URI {
        let message = format!("the request URI is {target} bytes long, over {MAX_URI}");
        return error(StatusCode::URI_TOO_LONG, message);
    }
    let head = req.method() == Method::HEAD;
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(v2 || api) || head || json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_REWRAPPED)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut wrapped = error(status, message);
    // The refusal's own headers (`Allow` on a 405, say) stay.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            wrapped.headers_mut().append(name, value.clone());
        }
    }
    wrapped
}

/// Answers a request that may have written only once what it wrote is
/// durable (`Db::sync`: concurrent requests share one fsync of SQLite's
/// log), so an acknowledged push or change survives a power loss.
async fn durable(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let resp = next.run(req).await;
    if read {
        return resp;
    }
    match state.registry.db().sync().await {
        Ok(()) => resp,
        Err(e) => {
            tracing::error!(error = %e, "syncing the database log");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What read-only mode answers every write with.
const READ_ONLY: &str = "The system is in read only mode. Any modification is prohibited.";

/// In read-only mode (configuration `read_only`) every write on `/v2`,
/// `/api`, `/c` and the portal is refused with 403 (`DENIED`), except
/// changing the configuration (to leave the mode, through the API or the
/// portal) and signing in or out.
async fn read_only_guard(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = matches!(
        (req.method(), path),
        (&Method::PUT, "/api/v2.0/configurations")
            | (
                &Method::POST,
                "/c/login" | "/harbor/sign-in" | "/harbor/sign-out" | "/harbor/configs"
            )
    );
    if write && !exempt && state.configurations.snapshot().read_only {
        return if path.starts_with("/harbor") {
            portal::read_only(&state, req.headers(), READ_ONLY).await
        } else if path.starts_with("/v2") {
            distribution::OciError::new(berth_oci::ErrorCode::Denied, READ_ONLY).into_response()
        } else {
            api::ApiError::with_code(axum::http::StatusCode::FORBIDDEN, "DENIED", READ_ONLY)
                .into_response()
        };
    }
    next.run(req).await
}
