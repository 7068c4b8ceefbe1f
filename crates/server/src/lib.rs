//! Berth's HTTP surfaces. Handlers are thin: parse the request, call one core
//! service, map the result (or error) to the protocol's format.
//!
//! Architecture invariant: only this crate knows HTTP; error envelopes are
//! produced here and nowhere else.

pub mod api;
pub mod auth;
pub mod distribution;
pub mod portal;
pub mod session;
pub mod token;

use axum::http::{HeaderName, Request};
use axum::Router;
use berth_core::audit::Audit;
use berth_core::gc::Gc;
use berth_core::iam::token::TokenService;
use berth_core::webhooks::Webhooks;
use berth_core::{Artifacts, Configurations, Iam, Jobs, Projects, Registry, Repositories};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Everything a handler can reach.
pub struct AppState {
    pub registry: Registry,
    pub iam: Iam,
    pub projects: Projects,
    pub repositories: Repositories,
    pub artifacts: Artifacts,
    pub configurations: Configurations,
    pub jobs: Jobs,
    pub gc: Gc,
    pub audit: Audit,
    pub webhooks: Webhooks,
    pub tokens: TokenService,
    /// The URL clients use to reach Berth, without a trailing slash.
    pub external_url: String,
}

/// Shared handler state.
pub type State = Arc<AppState>;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: State) -> Router {
    Router::new()
        .merge(distribution::router())
        .merge(api::router(state.clone()))
        .merge(token::router())
        .merge(session::router())
        .merge(portal::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), read_only_guard))
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(&REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
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
            portal::read_only(READ_ONLY)
        } else if path.starts_with("/v2") {
            distribution::OciError::new(berth_oci::ErrorCode::Denied, READ_ONLY).into_response()
        } else {
            api::ApiError::with_code(axum::http::StatusCode::FORBIDDEN, "DENIED", READ_ONLY)
                .into_response()
        };
    }
    next.run(req).await
}
