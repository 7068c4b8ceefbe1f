//! Browser sessions: the cookie and CSRF rules every session-carrying
//! request follows (the `/c/` sign-in routes are `api::login`).

use axum::http::{header, HeaderMap, HeaderValue};

/// The session cookie's name (Harbor's).
pub const COOKIE: &str = "sid";
/// The header that must echo the session's CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-harbor-csrf-token";

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
