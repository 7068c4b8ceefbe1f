//! The token service, `GET /service/token` (Docker registry token auth).

use crate::api::ApiError;
use crate::State;
use axum::extract::{RawQuery, State as S};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use berth_core::iam::Door;
use serde_json::{json, Value};

pub fn router() -> Router<State> {
    Router::new().route("/service/token", get(token))
}

/// Grants each requested scope as far as the caller's permissions go; bad
/// credentials are a 401, no credentials an anonymous token.
async fn token(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ctx = crate::api::context(&state, &headers, Door::Client).await?;
    let scopes: Vec<String> = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let access = berth_core::iam::token::grant(&ctx, &state.projects, &scopes).await?;
    let minutes = state.configurations.snapshot().token_expiration_minutes;
    let issued = state.tokens.issue(ctx.username(), access, minutes * 60)?;
    Ok(Json(json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": crate::api::timestamp(issued.issued_at * 1000),
    })))
}
