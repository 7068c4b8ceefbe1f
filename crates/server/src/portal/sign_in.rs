//! Signing in and out.

use super::{layout, redirect_with, respond, Flash, Form, Posted};
use crate::session;
use crate::State;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as S};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

/// The sign-in form's own CSRF cookie: there is no session yet to hold one.
const FORM_COOKIE: &str = "berth_signin";

pub async fn form(S(state): S<State>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let next = super::param(&query, "next");
    let next = super::safe_next(&next).unwrap_or("/harbor/projects");
    if super::viewer(&state, &headers).await.is_ok() {
        return Redirect::to(next).into_response();
    }
    render(&state, &headers, None, StatusCode::OK, next)
}

fn render(
    state: &State,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
    next: &str,
) -> Response {
    let settings = state.configurations.snapshot();
    let sign_up = error.is_none() && settings.self_registration;
    let oidc = settings.auth_mode == "oidc_auth";
    let token = berth_core::iam::random_token();
    let body = html! {
        div.sign-in {
            h1 { "Sign in to Berth" }
            @if let Some(e) = error {
                div.notice.err role="alert" { (e) }
            }
            @if oidc {
                p {
                    a.button #oidc-sign-in href={ "/c/oidc/login?redirect_url=" (super::query_escape(next)) } {
                        "Sign in with "
                        @if settings.oidc_provider_name.is_empty() { "the OIDC provider" }
                        @else { (settings.oidc_provider_name) }
                    }
                }
                h2 { "Administrator" }
            }
            form method="post" action="/harbor/sign-in" {
                input type="hidden" name="_csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="principal" { "Username or email" }
                input #principal type="text" name="principal" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "Sign in" } }
            }
            @if sign_up {
                p { "No account yet? " a href="/harbor/sign-up" { "Sign up" } }
            }
        }
    };
    let resp = if error.is_some() {
        respond(status, layout(None, "Sign in", None, body))
    } else {
        super::framed(None, super::take_flash(headers).as_ref(), "Sign in", body)
    };
    with_form_cookie(resp, status, &token)
}

/// A pre-session page with its form's CSRF token in the form cookie.
fn with_form_cookie(mut resp: Response, status: StatusCode, token: &str) -> Response {
    *resp.status_mut() = status;
    if let Ok(c) = HeaderValue::from_str(&format!(
        "{FORM_COOKIE}={token}; Path=/harbor; HttpOnly; SameSite=Strict"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Whether a pre-session form echoes the token of its form cookie.
fn form_checks(headers: &HeaderMap, form: &Form) -> bool {
    let expected = session::cookie(headers, FORM_COOKIE).unwrap_or_default();
    !expected.is_empty()
        && berth_core::iam::constant_time_eq(form.get("_csrf").as_bytes(), expected.as_bytes())
}

fn sign_up_page(
    entered: Option<&berth_core::iam::UserRequest>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = berth_core::iam::random_token();
    let body = html! {
        div.sign-in {
            h1 { "Sign up for Berth" }
            @if let Some(e) = error {
                div.notice.err role="alert" { (e) }
            }
            form method="post" action="/harbor/sign-up" {
                input type="hidden" name="_csrf" value=(token);
                (super::users::person_fields(entered))
                p { button type="submit" { "Sign up" } }
            }
            p { "Have an account? " a href="/harbor/sign-in" { "Sign in" } }
        }
    };
    let resp = respond(status, layout(None, "Sign up", None, body));
    with_form_cookie(resp, status, &token)
}

/// Self-registration off: there is no sign-up page.
fn no_sign_up() -> Response {
    super::failed(
        None,
        StatusCode::NOT_FOUND,
        "Self-registration is off: an administrator creates accounts.",
    )
}

pub async fn sign_up_form(S(state): S<State>) -> Response {
    if !state.configurations.snapshot().self_registration {
        return no_sign_up();
    }
    sign_up_page(None, None, StatusCode::OK)
}

pub async fn sign_up(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !form_checks(&headers, &form) {
        return super::refused(None);
    }
    if !state.configurations.snapshot().self_registration {
        return no_sign_up();
    }
    let req = super::users::person(&form);
    let result = state.iam.create_user(&state.iam.anonymous(), &req).await;
    match result {
        Ok(_) => redirect_with(
            "/harbor/sign-in",
            Flash::Ok(format!("Account {} created: sign in.", req.username)),
        ),
        Err(e) => sign_up_page(
            Some(&req),
            Some(&super::message(&e)),
            StatusCode::BAD_REQUEST,
        ),
    }
}

pub async fn submit(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !form_checks(&headers, &form) {
        return super::refused(None);
    }
    let principal = form.get("principal");
    let next = super::safe_next(form.get("next")).unwrap_or("/harbor/projects");
    let result = state
        .iam
        .sign_in(principal, form.get("password"), crate::listener::peer())
        .await;
    let ctx = match result {
        Ok(Some(ctx)) => ctx,
        Ok(None) => {
            return render(
                &state,
                &headers,
                Some("Invalid username or password."),
                StatusCode::UNAUTHORIZED,
                next,
            )
        }
        Err(e) => {
            // A lockout is 429 here as on the API and the token service.
            let status = match e {
                berth_core::CoreError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            return render(&state, &headers, Some(&super::message(&e)), status, next);
        }
    };
    match session::start(&state, &ctx).await {
        Ok((cookie, _)) => {
            let mut resp = Redirect::to(next).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => render(
            &state,
            &headers,
            Some(&super::message(&e)),
            StatusCode::FORBIDDEN,
            next,
        ),
    }
}

/// Ends the session; with `oidc_logout`, the browser then signs out at
/// the provider too.
pub async fn sign_out(S(state): S<State>, headers: HeaderMap, Posted(_, _): Posted) -> Response {
    let to = match crate::api::oidc::signed_out_to(&state, &headers).await {
        Ok(to) => to,
        Err(e) => return redirect_with("/harbor/projects", Flash::Err(super::message(&e))),
    };
    let mut resp = match to.starts_with("/harbor/") {
        true => redirect_with(&to, Flash::Ok("You have signed out.".into())),
        false => Redirect::to(&to).into_response(),
    };
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(session::CLEAR_COOKIE),
    );
    resp
}

/// The page where a user the OIDC provider signed in for the first time
/// chooses their username (`?username=` suggests one).
pub async fn onboard_form(RawQuery(query): RawQuery) -> Response {
    let username = super::param(&query, "username");
    let next = super::param(&query, "redirect_url");
    onboard_page(&username, &next, None, StatusCode::OK)
}

fn onboard_page(username: &str, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let token = berth_core::iam::random_token();
    let body = html! {
        div.sign-in {
            h1 { "Choose your username" }
            p { "The OIDC provider signed you in. Choose the name Berth will know you by." }
            @if let Some(e) = error {
                div.notice.err role="alert" { (e) }
            }
            form method="post" action="/harbor/oidc-onboard" {
                input type="hidden" name="_csrf" value=(token);
                input type="hidden" name="redirect_url" value=(next);
                label for="username" { "Username" }
                input #username type="text" name="username" value=(username) required autofocus;
                p { button type="submit" { "Continue" } }
            }
        }
    };
    let resp = respond(status, layout(None, "Choose your username", None, body));
    with_form_cookie(resp, status, &token)
}

pub async fn onboard(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !form_checks(&headers, &form) {
        return super::refused(None);
    }
    let (username, next) = (form.get("username").trim(), form.get("redirect_url"));
    let key = session::cookie(&headers, crate::api::oidc::STATE_COOKIE);
    let started = match state.iam.oidc_onboard(key, username).await {
        Ok((ctx, _)) => session::start(&state, &ctx).await,
        Err(e) => Err(e),
    };
    match started {
        Ok((cookie, _)) => {
            let to = super::safe_next(next).unwrap_or("/harbor/projects");
            let mut resp = Redirect::to(to).into_response();
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static(crate::api::oidc::CLEAR_STATE),
            );
            resp
        }
        Err(e) => {
            let status = match &e {
                berth_core::CoreError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            onboard_page(username, next, Some(&super::message(&e)), status)
        }
    }
}
