//! Browser sessions: `POST /c/login`, `GET /c/log_out`, and the cookie and
//! CSRF rules every session-carrying request follows.

use crate::api::ApiError;
use crate::State;
use axum::extract::State as S;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// The session cookie's name (Harbor's).
pub const COOKIE: &str = "sid";
/// The header that must echo the session's CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-harbor-csrf-token";

pub fn router() -> Router<State> {
    Router::new()
        .route("/c/login", post(login))
        .route("/c/log_out", get(log_out))
}

/// The `sid` cookie's value, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// A cookie's value, if it is set and not empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// Starts a session for a signed-in user: the `Set-Cookie` value and the
/// session's CSRF token.
pub async fn start(
    state: &crate::State,
    ctx: &berth_core::iam::context::SecurityContext,
) -> Result<(HeaderValue, String), berth_core::CoreError> {
    let (sid, csrf) = state.iam.create_session(ctx).await?;
    let secure = if state.external_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|e| berth_core::CoreError::Internal(e.to_string()))?;
    Ok((cookie, csrf))
}

/// Clears the session cookie.
pub const CLEAR_COOKIE: &str = "sid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";

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
        .login(&principal, &password, crate::listener::peer())
        .await;
    let ok = matches!(ctx, Ok(Some(_)));
    audit(&state, "login", &principal, ok);
    let ctx = ctx?
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
        if let Some((ctx, _)) = state.iam.session(sid).await? {
            audit(&state, "logout", ctx.username(), true);
        }
        state.iam.end_session(sid).await?;
    }
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    Ok(resp)
}

/// Records a login or logout.
pub fn audit(state: &State, operation: &str, user: &str, success: bool) {
    state.audit.record(&berth_core::audit::Event {
        project: None,
        operation,
        resource_type: "user",
        resource: user,
        username: user,
        success,
    });
}
