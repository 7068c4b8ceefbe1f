//! `/api/v2.0/robots`.

use super::{context, json_body, query_value, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_core::iam::robots::RobotRequest;
use berth_db::robots::{Permission, Robot};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<State> {
    Router::new()
        .route("/api/v2.0/robots", get(list).post(create))
        .route(
            "/api/v2.0/robots/{id}",
            get(get_one).put(update).delete(delete).patch(refresh),
        )
}

#[derive(Deserialize)]
struct Access {
    resource: String,
    action: String,
    #[serde(default)]
    effect: Option<String>,
}

#[derive(Deserialize)]
struct PermissionReq {
    kind: String,
    namespace: String,
    #[serde(default)]
    access: Vec<Access>,
}

#[derive(Deserialize)]
struct RobotReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    level: String,
    #[serde(default = "never")]
    duration: i64,
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    permissions: Vec<PermissionReq>,
}

fn never() -> i64 {
    -1
}

impl RobotReq {
    fn into_request(self) -> Result<RobotRequest, ApiError> {
        let mut permissions = Vec::new();
        for p in self.permissions {
            for a in p.access {
                if a.effect.as_deref().is_some_and(|e| e != "allow") {
                    return Err(ApiError::bad_request("only effect \"allow\" is supported"));
                }
                permissions.push(Permission {
                    kind: p.kind.clone(),
                    namespace: p.namespace.clone(),
                    resource: a.resource,
                    action: a.action,
                });
            }
        }
        Ok(RobotRequest {
            name: self.name,
            description: self.description,
            level: self.level,
            duration: self.duration,
            disable: self.disable,
            permissions,
        })
    }
}

/// Harbor's `Robot` model (never the secret or its hash).
fn robot_json(r: &Robot, perms: &[Permission]) -> Value {
    let mut grouped: Vec<Value> = Vec::new();
    for p in perms {
        let access = json!({"resource": p.resource, "action": p.action, "effect": "allow"});
        match grouped
            .iter_mut()
            .find(|g| g["kind"] == p.kind.as_str() && g["namespace"] == p.namespace.as_str())
        {
            Some(g) => {
                if let Some(a) = g["access"].as_array_mut() {
                    a.push(access);
                }
            }
            None => {
                grouped.push(json!({"kind": p.kind, "namespace": p.namespace, "access": [access]}))
            }
        }
    }
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "level": r.level,
        "duration": r.duration,
        "editable": true,
        "disable": r.disabled,
        "expires_at": r.expires_at,
        "permissions": grouped,
        "creation_time": timestamp(r.creation_time),
        "update_time": timestamp(r.update_time),
    })
}

fn robot_id(s: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("robot id must be an integer"))
}

async fn create(
    S(state): S<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req = json_body::<RobotReq>(&body)?.into_request()?;
    let (r, secret) = state.iam.robots.create(&ctx, &req).await?;
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({
            "id": r.id,
            "name": r.name,
            "secret": secret,
            "creation_time": timestamp(r.creation_time),
            "expires_at": r.expires_at,
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v2.0/robots/{}", r.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `q=Level=project,ProjectID=<id>` lists one project's robots; no `q` lists all (admins).
fn project_filter(q: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(expr) = query_value(q, "q") else {
        return Ok(None);
    };
    for part in expr.split(',') {
        if let Some(id) = part.strip_prefix("ProjectID=") {
            return id
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request("ProjectID must be an integer"));
        }
    }
    Err(ApiError::bad_request(format!(
        "unsupported query {expr:?}: use q=Level=project,ProjectID=<id>"
    )))
}

async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let page = Page::parse(q.as_deref())?;
    let project = project_filter(q.as_deref())?;
    let (rows, total) = state
        .iam
        .robots
        .list(&ctx, project, page.offset(), page.size)
        .await?;
    let mut resp = Json(
        rows.iter()
            .map(|(r, p)| robot_json(r, p))
            .collect::<Vec<_>>(),
    )
    .into_response();
    page.headers(&mut resp, "/api/v2.0/robots", total);
    Ok(resp)
}

async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let (r, p) = state.iam.robots.get(&ctx, robot_id(&id)?).await?;
    Ok(Json(robot_json(&r, &p)))
}

async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req = json_body::<RobotReq>(&body)?.into_request()?;
    state.iam.robots.update(&ctx, robot_id(&id)?, &req).await?;
    Ok(StatusCode::OK)
}

async fn delete(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    state.iam.robots.delete(&ctx, robot_id(&id)?).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct SecretReq {
    secret: Option<String>,
}

async fn refresh(
    S(state): S<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let req: SecretReq = if body.is_empty() {
        SecretReq { secret: None }
    } else {
        json_body(&body)?
    };
    let secret = state
        .iam
        .robots
        .refresh_secret(
            &ctx,
            robot_id(&id)?,
            req.secret.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(Json(json!({ "secret": secret })))
}
