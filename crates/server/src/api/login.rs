//! Harbor's form sign-in: `POST /c/login`, `GET /c/log_out`, and the
//! sign-up form's `POST /c/userExists`.

use super::ApiError;
use crate::session::{session_id, start, CLEAR_COOKIE, CSRF_HEADER};
use crate::State;
use axum::extract::State as S;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_core::iam::Door;

pub fn router() -> Router<State> {
    Router::new()
        .route("/c/login", post(login))
        .route("/c/log_out", get(log_out))
        .route("/c/userExists", post(user_exists))
}

/// Whether a user has the `value` as `target` (`username` or `email`):
/// `true` or `false`.
async fn user_exists(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<bool>, ApiError> {
    let ctx = super::context(&state, &headers, Door::Other).await?;
    let field = |key: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let found = (state.iam)
        .user_exists(&ctx, &field("target"), &field("value"))
        .await?;
    Ok(axum::Json(found))
}

/// Form login with `principal` and `password`; sets `sid` and returns the CSRF token.
async fn login(S(state): S<State>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let mut principal = None;
    let mut password = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "principal" => principal = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    let (Some(principal), Some(password)) = (principal, password) else {
        return Err(ApiError::bad_request("principal and password are required"));
    };
    let ctx = state
        .iam
        .sign_in(&principal, &password, crate::listener::peer())
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "invalid username or password"))?;
    let (cookie, csrf) = start(&state, &ctx).await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(header::SET_COOKIE, cookie);
    if let Ok(t) = HeaderValue::from_str(&csrf) {
        h.insert(CSRF_HEADER, t);
    }
    Ok(resp)
}

/// Ends the session and clears the cookie.
async fn log_out(S(state): S<State>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(sid) = session_id(&headers) {
        state.iam.end_session(sid).await?;
    }
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    Ok(resp)
}
