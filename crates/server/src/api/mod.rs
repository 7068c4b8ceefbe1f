//! Harbor's v2.0 REST API at `/api/v2.0` (and `/api/version`).
//!
//! Every handler builds the request's security context first ([`context`])
//! and leaves the permission decision to the core service it calls.

mod artifacts;
mod audit;
mod cosign_keys;
mod error;
mod executions;
pub(crate) mod export;
mod gc;
mod immutable;
mod jobservice;
pub mod labels;
mod ldap;
pub mod login;
mod model;
pub mod oidc;
mod openapi;
mod projects;
mod quotas;
mod registries;
mod replication;
mod repositories;
mod retention;
mod robots;
mod scan;
mod scan_all;
pub mod scanners;
mod security;
mod system;
mod usergroups;
mod users;
mod webhooks;

pub use error::ApiError;

use crate::State;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_core::iam::context::SecurityContext;
use berth_core::iam::Door;
use model::{ApiVersion, ComponentHealthStatus, OverallHealthStatus};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Where the API's own OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v2.0/openapi.json";

/// Routes for `/api`, and the OpenAPI document generated from them.
pub fn router(state: State) -> Router<State> {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(version))
        .routes(routes!(ping))
        .routes(routes!(health))
        .merge(users::router())
        .merge(ldap::router())
        .merge(usergroups::router())
        .merge(labels::router())
        .merge(immutable::router())
        .merge(quotas::router())
        .merge(retention::router())
        .merge(projects::router())
        .merge(repositories::router())
        .merge(registries::router())
        .merge(replication::router())
        .merge(robots::router())
        .merge(artifacts::router())
        .merge(scan::router())
        .merge(scan_all::router())
        .merge(scanners::router())
        .merge(security::router())
        .merge(export::router())
        .merge(cosign_keys::router())
        .merge(system::router())
        .merge(jobservice::router())
        .merge(gc::router())
        .merge(audit::router())
        .merge(webhooks::router())
        .split_for_parts();
    let doc = Arc::new(openapi::finish(doc));
    crate::metrics::learn_operations(&doc);
    router
        .merge(quotas::internal())
        .route(OPENAPI_PATH, get(move || async move { Json(doc) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such API") })
        .layer(axum::middleware::from_fn(media_type_filter))
        .layer(axum::middleware::from_fn_with_state(state, csrf_guard))
}

/// The API version.
#[utoipa::path(get, path = "/api/version", tag = "system", operation_id = "getVersion",
    responses((status = 200, description = "Always v2.0", body = ApiVersion)))]
async fn version() -> Json<ApiVersion> {
    Json(ApiVersion {
        version: "v2.0".into(),
    })
}

/// Liveness.
#[utoipa::path(get, path = "/api/v2.0/ping", tag = "ping", operation_id = "getPing",
    responses((status = 200, description = "Pong", body = String, content_type = "text/plain")))]
async fn ping() -> &'static str {
    "Pong"
}

/// The health of each component: the database, the blob store
/// ("registry"), the job service and the default scanner.
#[utoipa::path(get, path = "/api/v2.0/health", tag = "health", operation_id = "getHealth",
    responses((status = 200, description = "Healthy", body = OverallHealthStatus),
        (status = 503, description = "Unhealthy", body = OverallHealthStatus)))]
async fn health(axum::extract::State(state): axum::extract::State<State>) -> Response {
    let components = state.health.check().await;
    let healthy = components.iter().all(|c| c.error.is_none());
    let status = |ok: bool| if ok { "healthy" } else { "unhealthy" }.to_string();
    let body = Json(OverallHealthStatus {
        status: status(healthy),
        components: (components.into_iter())
            .map(|c| ComponentHealthStatus {
                name: c.name.into(),
                status: status(c.error.is_none()),
                error: c.error,
            })
            .collect(),
    });
    // Unhealthy is a 503 (Harbor answers 200), so a load balancer's or
    // orchestrator's readiness probe can use it as is.
    let code = match healthy {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, body).into_response()
}

/// Unsafe requests that ride on a session cookie must echo its CSRF token
/// in `X-Harbor-CSRF-Token` (basic-auth requests carry no ambient
/// credential); every answer to a session request carries the token, as
/// Harbor's do, so a client can fetch it without signing in again.
async fn csrf_guard(
    axum::extract::State(state): axum::extract::State<State>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers();
    let sid = match crate::session::session_id(headers) {
        Some(sid) if headers.get(header::AUTHORIZATION).is_none() => sid,
        _ => return next.run(req).await,
    };
    let expected = match state.iam.session(sid).await {
        Ok(Some((_, csrf))) => csrf,
        Ok(None) => return next.run(req).await,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let given = headers
            .get(crate::session::CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !berth_core::iam::constant_time_eq(given, expected.as_bytes()) {
            return ApiError::new(StatusCode::FORBIDDEN, "CSRF token invalid").into_response();
        }
    }
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&expected) {
        resp.headers_mut().insert(crate::session::CSRF_HEADER, v);
    }
    resp
}

/// Harbor's media-type filter: writes must be JSON, multipart or octet-stream.
async fn media_type_filter(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(berth_oci::media::essence);
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|n| n != "0");
        let ok = match ct {
            Some(ct) => [
                "application/json",
                "multipart/form-data",
                "application/octet-stream",
            ]
            .contains(&ct),
            None => !has_body,
        };
        if !ok {
            return ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
                .into_response();
        }
    }
    next.run(req).await
}

/// The caller's security context as an extractor (see [`context`]): a
/// handler that takes it runs only for callers whose credentials hold.
pub struct Ctx(pub SecurityContext);

impl FromRequestParts<State> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        let door = door(&parts.method, parts.uri.path());
        context(state, &parts.headers, door).await.map(Ctx)
    }
}

/// The API calls registry clients make (replication, CI tools), where an
/// OIDC user's CLI secret signs in: Harbor's list.
pub(super) fn door(method: &Method, path: &str) -> Door {
    let path = path.trim_end_matches('/');
    let in_project = |p: &str| p.starts_with("/projects/") && p.contains("/repositories");
    let client = match (method, path.strip_prefix("/api/v2.0")) {
        (&Method::POST, Some("/projects")) => true,
        (&Method::GET, Some("/projects" | "/systeminfo" | "/labels")) => true,
        (&Method::GET, Some(p)) => {
            in_project(p) && (p.ends_with("/repositories") || p.ends_with("/artifacts"))
        }
        (&Method::DELETE, Some(p)) => {
            in_project(p) && p.contains("/artifacts/") && p.contains("/tags/")
        }
        (&Method::GET, None) => path == "/api/version",
        _ => false,
    };
    if client {
        Door::Client
    } else {
        Door::Other
    }
}

/// Builds the caller's security context: basic auth, else the session
/// cookie, else anonymous. Bad credentials are a 401, never silently anonymous.
pub async fn context(
    state: &State,
    headers: &HeaderMap,
    door: Door,
) -> Result<SecurityContext, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if let Some(sid) = crate::session::session_id(headers) {
            if let Some((ctx, _)) = state.iam.session(sid).await? {
                return Ok(ctx);
            }
        }
        return Ok(state.iam.anonymous());
    };
    let (user, password) = crate::auth::parse_basic(value).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unsupported or malformed Authorization header",
        )
    })?;
    match state
        .iam
        .login(&user, &password, crate::listener::peer(), door)
        .await?
    {
        Some(ctx) => Ok(ctx),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid username or password",
        )),
    }
}

/// Parses a JSON request body into `T`, with Harbor's error on failure.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// A handler's JSON request body; one that does not parse is Harbor's 400.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let body = <axum::body::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        json_body(&body).map(ApiJson)
    }
}

/// The paging and query parameters every list takes (documentation of
/// what [`Page::parse`] and [`filter`] read from the raw query).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Page number, from 1.
    page: Option<i64>,
    /// Page size, 1–100 (default 10).
    page_size: Option<i64>,
    /// `k=v` exact, `k=~v` fuzzy, `k=[a~b]` range, `k={a b}` or, `k=(a b)` and; comma-separated.
    q: Option<String>,
    /// Keys to sort by, `-` for descending: `name,-creation_time`.
    sort: Option<String>,
}

/// `page` and `page_size` (default 10, at most 100) from a query string.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub size: i64,
}

/// A list handler's page, after its caller is known: a bad `page` or
/// `page_size` is a 400.
impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Page::parse(parts.uri.query())
    }
}

impl Page {
    /// Parses the paging parameters.
    pub fn parse(query: Option<&str>) -> Result<Page, ApiError> {
        let get = |k: &str| -> Result<Option<i64>, ApiError> {
            query_value(query, k)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| ApiError::bad_request(format!("{k} must be an integer")))
                })
                .transpose()
        };
        let page = get("page")?.unwrap_or(1);
        let size = get("page_size")?.unwrap_or(10);
        if page < 1 || !(1..=100).contains(&size) {
            return Err(ApiError::bad_request(
                "page must be >= 1 and page_size between 1 and 100",
            ));
        }
        Ok(Page { page, size })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.size
    }

    /// One page of a short list held whole (a few schedules, an
    /// execution's tasks), with its headers.
    pub fn of<T: serde::Serialize>(&self, items: Vec<T>, path: &str) -> Response {
        let total = items.len() as i64;
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset() as usize)
            .take(self.size as usize)
            .collect();
        self.respond(page, path, total)
    }

    /// This page of `items` (of `total` in all) as JSON, with
    /// `X-Total-Count` and `Link` (prev/next) headers.
    pub fn respond<T: serde::Serialize>(&self, items: T, path: &str, total: i64) -> Response {
        let mut resp = Json(items).into_response();
        self.headers(&mut resp, path, total);
        resp
    }

    /// Adds `X-Total-Count` and `Link` (prev/next) to a list response.
    fn headers(&self, resp: &mut Response, path: &str, total: i64) {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            h.insert("x-total-count", v);
        }
        let link =
            |p: i64, rel: &str| format!("<{path}?page={p}&page_size={}>; rel=\"{rel}\"", self.size);
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(link(self.page - 1, "prev"));
        }
        if self.page * self.size < total {
            links.push(link(self.page + 1, "next"));
        }
        if !links.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&links.join(" , ")) {
                h.insert(header::LINK, v);
            }
        }
    }
}

/// Harbor's `q` and `sort` parameters; the service checks them against
/// its list's fields.
pub fn filter(query: Option<&str>) -> Filter {
    Filter::new(query_value(query, "q"), query_value(query, "sort"))
}

/// A numeric id from a path segment (`what` names it in the error).
pub fn path_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} must be an integer")))
}

/// The first value of a query parameter.
pub fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

use berth_core::query::Filter;
pub use berth_core::timestamp;

/// A 201 with a `Location`.
pub fn created(location: String) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod door_tests {
    use super::*;

    #[test]
    fn cli_secrets_open_the_calls_harbor_lets_clients_make() {
        let client = [
            (Method::GET, "/api/v2.0/projects"),
            (Method::POST, "/api/v2.0/projects/"),
            (Method::GET, "/api/v2.0/systeminfo"),
            (Method::GET, "/api/version"),
            (Method::GET, "/api/v2.0/projects/p/repositories"),
            (
                Method::GET,
                "/api/v2.0/projects/p/repositories/a%2Fb/artifacts",
            ),
            (
                Method::DELETE,
                "/api/v2.0/projects/p/repositories/a/artifacts/v1/tags/v1",
            ),
        ];
        for (m, p) in client {
            assert_eq!(door(&m, p), Door::Client, "{m} {p}");
        }
        let other = [
            (Method::GET, "/api/v2.0/users/current"),
            (Method::GET, "/api/v2.0/projects/p"),
            (
                Method::DELETE,
                "/api/v2.0/projects/p/repositories/a/artifacts/v1",
            ),
            (Method::PUT, "/api/v2.0/users/3/cli_secret"),
            (
                Method::POST,
                "/api/v2.0/projects/p/repositories/a/artifacts",
            ),
        ];
        for (m, p) in other {
            assert_eq!(door(&m, p), Door::Other, "{m} {p}");
        }
    }
}
