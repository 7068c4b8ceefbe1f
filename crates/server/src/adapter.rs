//! The built-in scanner served as a pluggable scanner adapter (Harbor's
//! scanner adapter API v1.2) at `/scanner-adapter/api/v1`, for other
//! registries to register. Callers authenticate with basic auth, as a
//! system administrator or a system robot granted `scanner` create.

use crate::api::scanners::ADAPTER_PATH;
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_core::iam::context::SecurityContext;
use berth_core::iam::Door;
use berth_core::scan::adapter::{self, ScanRequest};
use berth_core::scan::AdapterReport;
use berth_core::CoreError;

pub fn router() -> Router<State> {
    Router::new()
        .route(&format!("{ADAPTER_PATH}/api/v1/metadata"), get(metadata))
        .route(&format!("{ADAPTER_PATH}/api/v1/scan"), post(scan))
        .route(
            &format!("{ADAPTER_PATH}/api/v1/scan/{{id}}/report"),
            get(report),
        )
}

/// How long a poller is told to wait for a report being made.
const REFRESH_AFTER: &str = "1";

/// An error in the adapter API's own format.
struct AdapterError(StatusCode, String);

impl IntoResponse for AdapterError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"message": self.1}}).to_string();
        let mut resp = (self.0, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(adapter::ERROR),
        );
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth-scanner-adapter\""),
            );
        }
        resp
    }
}

/// Core errors as the adapter API answers them: a bad field is 422, what
/// the scanner cannot do 501.
impl From<CoreError> for AdapterError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CoreError::Unauthorized => StatusCode::UNAUTHORIZED,
            CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Precondition(_) => StatusCode::NOT_IMPLEMENTED,
            CoreError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdapterError(status, e.to_string())
    }
}

/// The caller: basic auth only (a session cookie carries no weight here,
/// so no page can make a browser ask for scans).
async fn caller(state: &State, headers: &HeaderMap) -> Result<SecurityContext, AdapterError> {
    if headers.get(header::AUTHORIZATION).is_none() {
        return Err(AdapterError(
            StatusCode::UNAUTHORIZED,
            "authentication required".into(),
        ));
    }
    crate::api::context(state, headers, Door::Other)
        .await
        .map_err(|e| AdapterError(e.status(), e.message().to_string()))
}

fn json(status: StatusCode, media_type: &'static str, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    resp
}

async fn metadata(S(state): S<State>, headers: HeaderMap) -> Result<Response, AdapterError> {
    let ctx = caller(&state, &headers).await?;
    let m = state.scans.adapter_metadata(&ctx).await?;
    let body = serde_json::to_string(&m)
        .map_err(|e| AdapterError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(json(StatusCode::OK, adapter::METADATA, body))
}

async fn scan(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AdapterError> {
    let ctx = caller(&state, &headers).await?;
    let req: ScanRequest = serde_json::from_slice(&body).map_err(|e| {
        AdapterError(
            StatusCode::BAD_REQUEST,
            format!("invalid scan request: {e}"),
        )
    })?;
    let id = state.scans.adapter_scan(&ctx, &req).await?;
    let body = serde_json::json!({ "id": id }).to_string();
    Ok(json(StatusCode::ACCEPTED, adapter::SCAN_RESPONSE, body))
}

async fn report(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path(id): Path<String>,
) -> Result<Response, AdapterError> {
    let ctx = caller(&state, &headers).await?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let sbom_type = crate::api::query_value(q.as_deref(), "sbom_media_type");
    let answer = state
        .scans
        .adapter_report(&ctx, &id, accept, sbom_type.as_deref())
        .await?;
    Ok(match answer {
        AdapterReport::Pending => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut()
                .insert("Refresh-After", HeaderValue::from_static(REFRESH_AFTER));
            resp
        }
        AdapterReport::Ready { mime, body } => json(StatusCode::OK, mime, body),
        AdapterReport::Failed(why) => {
            AdapterError(StatusCode::INTERNAL_SERVER_ERROR, why).into_response()
        }
    })
}
