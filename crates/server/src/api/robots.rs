//! `/api/v2.0/robots`.

use super::model::{self, Robot, RobotCreated, RobotPermission, RobotSec};
use super::{json_body, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::iam::robots::RobotRequest;
use berth_core::iam::robots::{Owner, Permission};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete, refresh))
}

/// One action granted (`effect` may only be `allow`).
#[derive(Deserialize, ToSchema)]
struct Access {
    resource: String,
    action: String,
    #[serde(default)]
    effect: Option<String>,
}

/// The actions granted in one namespace.
#[derive(Deserialize, ToSchema)]
struct PermissionReq {
    kind: String,
    namespace: String,
    #[serde(default)]
    access: Vec<Access>,
}

/// A robot account to create, or its new settings.
#[derive(Deserialize, ToSchema)]
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
    /// On creation, a secret to use instead of a generated one (8–128
    /// characters with an uppercase and a lowercase letter and a digit);
    /// it is not sent back. A secret is changed with `PATCH`.
    #[serde(default)]
    secret: Option<String>,
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
                    project_id: None,
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
            secret: self.secret.filter(|s| !s.is_empty()),
        })
    }
}

/// Harbor's `Robot` model (never the secret or its hash).
fn robot_json(r: &berth_core::iam::robots::Robot, perms: &[Permission]) -> Robot {
    let mut grouped: Vec<RobotPermission> = Vec::new();
    for p in perms {
        let access = model::Access {
            resource: p.resource.clone(),
            action: p.action.clone(),
            effect: "allow".into(),
        };
        match grouped
            .iter_mut()
            .find(|g| g.kind == p.kind && g.namespace == p.namespace)
        {
            Some(g) => g.access.push(access),
            None => grouped.push(RobotPermission {
                kind: p.kind.clone(),
                namespace: p.namespace.clone(),
                access: vec![access],
            }),
        }
    }
    Robot {
        id: r.id,
        name: r.name.clone(),
        description: r.description.clone(),
        level: r.level.clone(),
        duration: r.duration,
        editable: true,
        disable: r.disabled,
        expires_at: r.expires_at,
        permissions: grouped,
        creation_time: timestamp(r.creation_time),
        update_time: timestamp(r.update_time),
    }
}

/// Creates a robot account; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v2.0/robots", tag = "robot", operation_id = "CreateRobot",
    request_body = RobotReq,
    responses((status = 201, description = "Created", body = RobotCreated),
        (status = 409, description = "The name is taken", body = super::model::Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req = json_body::<RobotReq>(&body)?.into_request()?;
    let (r, secret) = state.iam.robots.create(&ctx, &req).await?;
    // A secret the caller chose is not echoed back (as Harbor's refresh does).
    let secret = if req.secret.is_some() {
        String::new()
    } else {
        secret
    };
    let mut resp = (
        StatusCode::CREATED,
        Json(RobotCreated {
            id: r.id,
            name: r.name,
            secret,
            creation_time: timestamp(r.creation_time),
            expires_at: r.expires_at,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v2.0/robots/{}", r.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Whose robots `q` asks for: `Level=project,ProjectID=<id>` one
/// project's, `Level=system` the system robots, none every robot.
fn owner_filter(q: Option<&str>) -> Result<Owner, ApiError> {
    let Some(expr) = query_value(q, "q") else {
        return Ok(Owner::All);
    };
    let mut level = None;
    let mut project = None;
    for part in expr.split(',') {
        match part.split_once('=') {
            Some(("Level", l)) => level = Some(l),
            Some(("ProjectID", id)) => {
                project = Some(
                    id.parse()
                        .map_err(|_| ApiError::bad_request("ProjectID must be an integer"))?,
                )
            }
            _ => level = Some("?"),
        }
    }
    match (level, project) {
        (Some("system"), None) => Ok(Owner::System),
        (Some("project") | None, Some(id)) => Ok(Owner::Project(id)),
        _ => Err(ApiError::bad_request(format!(
            "unsupported query {expr:?}: use q=Level=system or q=Level=project,ProjectID=<id>"
        ))),
    }
}

/// Robot accounts: all (administrators), the system's with
/// `q=Level=system`, or one project's with `q=Level=project,ProjectID=<id>`.
#[utoipa::path(get, path = "/api/v2.0/robots", tag = "robot", operation_id = "ListRobot",
    params(ListParams),
    responses((status = 200, description = "A page of robots", body = [Robot])))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let owner = owner_filter(q.as_deref())?;
    let (rows, total) = state
        .iam
        .robots
        .list(&ctx, owner, page.offset(), page.size)
        .await?;
    Ok(page.respond(
        rows.iter()
            .map(|(r, p)| robot_json(r, p))
            .collect::<Vec<_>>(),
        "/api/v2.0/robots",
        total,
    ))
}

/// One robot account.
#[utoipa::path(get, path = "/api/v2.0/robots/{id}", tag = "robot", operation_id = "GetRobotByID",
    responses((status = 200, description = "The robot", body = Robot)))]
async fn get_one(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Robot>, ApiError> {
    let (r, p) = state
        .iam
        .robots
        .get(&ctx, super::path_id(&id, "robot id")?)
        .await?;
    Ok(Json(robot_json(&r, &p)))
}

/// Changes a robot's description, state, duration and permissions.
#[utoipa::path(put, path = "/api/v2.0/robots/{id}", tag = "robot", operation_id = "UpdateRobot",
    request_body = RobotReq, responses((status = 200, description = "Updated")))]
async fn update(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req = json_body::<RobotReq>(&body)?.into_request()?;
    if req.secret.is_some() {
        return Err(ApiError::bad_request(
            "a robot's secret is changed with PATCH /robots/{id}",
        ));
    }
    state
        .iam
        .robots
        .update(&ctx, super::path_id(&id, "robot id")?, &req)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a robot account.
#[utoipa::path(delete, path = "/api/v2.0/robots/{id}", tag = "robot", operation_id = "DeleteRobot",
    responses((status = 200, description = "Deleted")))]
async fn delete(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .iam
        .robots
        .delete(&ctx, super::path_id(&id, "robot id")?)
        .await?;
    Ok(StatusCode::OK)
}

/// A secret to set; none or empty generates one (and only a generated one
/// is sent back).
#[derive(Deserialize, ToSchema)]
struct SecretReq {
    secret: Option<String>,
}

/// Replaces a robot's secret.
#[utoipa::path(patch, path = "/api/v2.0/robots/{id}", tag = "robot", operation_id = "RefreshSec",
    request_body = SecretReq,
    responses((status = 200, description = "The new secret", body = RobotSec)))]
async fn refresh(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Json<RobotSec>, ApiError> {
    let req: SecretReq = if body.is_empty() {
        SecretReq { secret: None }
    } else {
        json_body(&body)?
    };
    let chosen = req.secret.as_deref().filter(|s| !s.is_empty());
    let secret = state
        .iam
        .robots
        .refresh_secret(&ctx, super::path_id(&id, "robot id")?, chosen)
        .await?;
    Ok(Json(RobotSec {
        secret: if chosen.is_some() {
            String::new()
        } else {
            secret
        },
    }))
}
