//! Harbor's OIDC browser flow: `GET /c/oidc/login` sends the browser to
//! the provider, `GET /c/oidc/callback` takes it back, `POST
//! /c/oidc/onboard` names a new user, `GET /c/oidc/logout` ends the
//! session (and the provider's, when configured).

use super::{ApiError, ApiJson};
use crate::session::{self, CLEAR_COOKIE};
use crate::State;
use axum::extract::{Query, RawQuery, State as S};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_core::iam::oidc_user::{Callback, OidcSignIn};
use serde::Deserialize;

/// The cookie that ties a browser to its sign-in with the provider.
pub const STATE_COOKIE: &str = "berth_oidc";

pub fn router() -> Router<State> {
    Router::new()
        .route("/c/oidc/login", get(login))
        .route("/c/oidc/callback", get(callback))
        .route("/c/oidc/onboard", post(onboard))
        .route("/c/oidc/logout", get(logout))
}

/// The state cookie: sent back on the provider's redirect (a top-level
/// navigation from another site, hence `Lax`), for ten minutes.
fn state_cookie(value: &str, external_url: &str) -> HeaderValue {
    let secure = if external_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let c = format!("{STATE_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600{secure}");
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(CLEAR_STATE))
}

/// Clears the state cookie.
pub const CLEAR_STATE: &str = "berth_oidc=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";

/// Where the provider sends browsers back.
pub fn callback_url(state: &State) -> String {
    format!(
        "{}/c/oidc/callback",
        state.external_url.trim_end_matches('/')
    )
}

/// Sends the browser to the provider (`redirect_url`: a local path to
/// come back to).
async fn login(S(state): S<State>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let redirect = crate::portal::param(&q, "redirect_url");
    let start = (state.iam)
        .oidc_login(&callback_url(&state), &redirect)
        .await?;
    let mut resp = found(&start.url);
    (resp.headers_mut()).append(
        header::SET_COOKIE,
        state_cookie(&start.state, &state.external_url),
    );
    Ok(resp)
}

/// A 302 to `to`, as Harbor answers these routes.
fn found(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A page that moves the browser on by itself. The session cookie is
/// `SameSite=Strict`, so a redirect at the end of the provider's chain of
/// redirects would arrive without it; a navigation this page starts is
/// this site's own.
fn bounce(to: &str) -> Response {
    let page = maud::html! {
        (maud::DOCTYPE)
        html {
            head {
                meta http-equiv="refresh" content=(format!("0;url={to}"));
                title { "Signing in" }
            }
            body { p { "Signed in. " a href=(to) { "Continue" } } }
        }
    };
    let page = axum::response::Html(page.into_string());
    ([(header::CACHE_CONTROL, "no-store")], page).into_response()
}

/// The provider's answer: a known user's session starts; a new user is
/// on-boarded at once (`oidc_auto_onboard`) or sent to choose a username.
async fn callback(
    S(state): S<State>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Result<Response, ApiError> {
    let cookie = session::cookie(&headers, STATE_COOKIE);
    let resp = match state.iam.oidc_callback(cookie, &answer).await? {
        OidcSignIn::Done { ctx, redirect } => {
            let (cookie, _) = session::start(&state, &ctx).await?;
            let mut resp = bounce(&redirect);
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp.headers_mut()
                .append(header::SET_COOKIE, HeaderValue::from_static(CLEAR_STATE));
            resp
        }
        OidcSignIn::Onboard {
            key,
            username,
            redirect,
        } => {
            let to = format!(
                "/harbor/oidc-onboard?username={}&redirect_url={}",
                crate::portal::query_escape(&username),
                crate::portal::query_escape(&redirect)
            );
            let mut resp = found(&to);
            (resp.headers_mut())
                .append(header::SET_COOKIE, state_cookie(&key, &state.external_url));
            resp
        }
    };
    Ok(resp)
}

#[derive(Deserialize)]
struct OnboardReq {
    username: String,
}

/// Names the new user the provider signed in; starts their session.
async fn onboard(
    S(state): S<State>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<OnboardReq>,
) -> Result<Response, ApiError> {
    let key = session::cookie(&headers, STATE_COOKIE);
    let (ctx, _) = state.iam.oidc_onboard(key, &req.username).await?;
    let (cookie, csrf) = session::start(&state, &ctx).await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    h.append(header::SET_COOKIE, HeaderValue::from_static(CLEAR_STATE));
    if let Ok(t) = HeaderValue::from_str(&csrf) {
        h.insert(session::CSRF_HEADER, t);
    }
    Ok(resp)
}

/// Ends the session; then the browser signs out at the provider too when
/// `oidc_logout` is set, else it goes to the sign-in page.
async fn logout(S(state): S<State>, headers: HeaderMap) -> Result<Response, ApiError> {
    let to = signed_out_to(&state, &headers).await?;
    let mut resp = found(&to);
    (resp.headers_mut()).append(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    Ok(resp)
}

/// Ends the browser's session; where it goes next (the provider's
/// end-session page, or the sign-in page).
pub async fn signed_out_to(
    state: &State,
    headers: &HeaderMap,
) -> Result<String, berth_core::CoreError> {
    let sign_in = "/harbor/sign-in".to_string();
    let Some(sid) = session::session_id(headers) else {
        return Ok(sign_in);
    };
    let user = state.iam.session(sid).await?.and_then(|(c, _)| c.user_id());
    state.iam.end_session(sid).await?;
    let after = format!("{}{sign_in}", state.external_url.trim_end_matches('/'));
    Ok(match user {
        Some(id) => (state.iam.oidc_logout_url(id, &after).await?).unwrap_or(sign_in),
        None => sign_in,
    })
}
