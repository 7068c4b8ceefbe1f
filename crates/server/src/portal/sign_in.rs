//! Signing in and out.

use super::{layout, page, posted, redirect_with, respond, Flash, Form};
use crate::session;
use crate::State;
use axum::body::Bytes;
use axum::extract::State as S;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

/// The sign-in form's own CSRF cookie: there is no session yet to hold one.
const FORM_COOKIE: &str = "berth_signin";

pub async fn form(S(state): S<State>, headers: HeaderMap) -> Response {
    if super::viewer(&state, &headers).await.is_ok() {
        return Redirect::to("/harbor/projects").into_response();
    }
    render(&headers, None, StatusCode::OK)
}

fn render(headers: &HeaderMap, error: Option<&str>, status: StatusCode) -> Response {
    let token = berth_core::iam::random_token();
    let body = html! {
        div.sign-in {
            h1 { "Sign in to Berth" }
            @if let Some(e) = error {
                div.notice.err role="alert" { (e) }
            }
            form method="post" action="/harbor/sign-in" {
                input type="hidden" name="_csrf" value=(token);
                label for="principal" { "Username or email" }
                input #principal type="text" name="principal" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "Sign in" } }
            }
        }
    };
    let mut resp = if error.is_some() {
        respond(status, layout(None, "Sign in", None, body))
    } else {
        page(None, headers, "Sign in", body)
    };
    *resp.status_mut() = status;
    if let Ok(c) = HeaderValue::from_str(&format!(
        "{FORM_COOKIE}={token}; Path=/harbor/sign-in; HttpOnly; SameSite=Strict"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub async fn submit(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let expected = session::cookie(&headers, FORM_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !berth_core::iam::constant_time_eq(form.get("_csrf").as_bytes(), expected.as_bytes())
    {
        return super::refused();
    }
    let principal = form.get("principal");
    let result = state.iam.login(principal, form.get("password")).await;
    session::audit(&state, "login", principal, matches!(result, Ok(Some(_))));
    let ctx = match result {
        Ok(Some(ctx)) => ctx,
        Ok(None) => {
            return render(
                &headers,
                Some("Invalid username or password."),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => {
            return render(
                &headers,
                Some(&super::message(&e)),
                StatusCode::UNAUTHORIZED,
            )
        }
    };
    match session::start(&state, &ctx).await {
        Ok((cookie, _)) => {
            let mut resp = Redirect::to("/harbor/projects").into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            resp
        }
        Err(e) => render(&headers, Some(&super::message(&e)), StatusCode::FORBIDDEN),
    }
}

pub async fn sign_out(S(state): S<State>, headers: HeaderMap, body: Bytes) -> Response {
    let v = match posted(&state, &headers, &body).await {
        Ok((v, _)) => v,
        Err(r) => return r,
    };
    if let Some(sid) = session::session_id(&headers) {
        if let Err(e) = state.iam.end_session(sid).await {
            return redirect_with("/harbor/projects", Flash::Err(super::message(&e)));
        }
    }
    session::audit(&state, "logout", v.ctx.username(), true);
    let mut resp = redirect_with("/harbor/sign-in", Flash::Ok("You have signed out.".into()));
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(session::CLEAR_COOKIE),
    );
    resp
}
