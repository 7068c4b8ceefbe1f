//! Labels: `/labels` (global ones for administrators, a project's for its
//! members by role).

use super::model::{Errors, Label};
use super::{created, filter, path_id, query_value, timestamp, ApiError, ApiJson, Ctx, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use berth_core::project::labels::{Label as Row, LabelFields, NewLabel};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// Harbor's `Label`.
pub fn label_json(l: &Row) -> Label {
    Label {
        id: l.id,
        name: l.name.clone(),
        description: l.description.clone(),
        color: l.color.clone(),
        scope: l.scope.clone(),
        project_id: l.project_id,
        creation_time: timestamp(l.creation_time),
        update_time: timestamp(l.update_time),
    }
}

/// A label as requests give it (id and times ignored).
#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
struct LabelReq {
    name: String,
    description: String,
    color: String,
    /// `g` (global) or `p` (a project's).
    scope: String,
    project_id: i64,
}

/// A scope's labels: `scope=g` global ones (anyone), `scope=p` with
/// `project_id` a project's; `name` a part of the name; `q` keys: name,
/// creation_time, update_time.
#[utoipa::path(get, path = "/api/v2.0/labels", tag = "label", operation_id = "ListLabels",
    params(super::ListParams, ("name" = Option<String>, Query, description = "Part of the name"),
        ("scope" = Option<String>, Query, description = "g or p"),
        ("project_id" = Option<i64>, Query, description = "The project, for scope p")),
    responses((status = 200, description = "A page of labels", body = [Label]),
        (status = 400, description = "No valid scope", body = Errors)))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let scope = query_value(q, "scope").unwrap_or_default();
    let project_id = match query_value(q, "project_id") {
        Some(v) => Some(path_id(&v, "project_id")?),
        None => None,
    };
    let name = query_value(q, "name");
    let (labels, total) = (state.labels)
        .list(
            &ctx,
            (&scope, project_id),
            name.as_deref(),
            &filter(q),
            page.offset(),
            page.size,
        )
        .await?;
    let items: Vec<Label> = labels.iter().map(label_json).collect();
    Ok(page.respond(items, "/api/v2.0/labels", total))
}

/// Makes a label: a global one (administrators) or a project's.
#[utoipa::path(post, path = "/api/v2.0/labels", tag = "label", operation_id = "CreateLabel",
    request_body = LabelReq,
    responses((status = 201, description = "Made; Location names it"),
        (status = 409, description = "The scope has a label of that name", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<LabelReq>,
) -> Result<Response, ApiError> {
    let new = NewLabel {
        name: req.name,
        description: req.description,
        color: req.color,
        scope: req.scope,
        project_id: req.project_id,
    };
    let id = state.labels.create(&ctx, &new).await?;
    Ok(created(format!("/api/v2.0/labels/{id}")))
}

/// One label.
#[utoipa::path(get, path = "/api/v2.0/labels/{label_id}", tag = "label",
    operation_id = "GetLabelByID",
    responses((status = 200, description = "The label", body = Label),
        (status = 404, description = "No such label", body = Errors)))]
async fn get(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Label>, ApiError> {
    let id = path_id(&id, "label id")?;
    Ok(Json(label_json(&state.labels.get(&ctx, id).await?)))
}

/// Changes a label's name, description and color.
#[utoipa::path(put, path = "/api/v2.0/labels/{label_id}", tag = "label",
    operation_id = "UpdateLabel", request_body = LabelReq,
    responses((status = 200, description = "Changed"),
        (status = 409, description = "The scope has a label of that name", body = Errors)))]
async fn update(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<LabelReq>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, "label id")?;
    let fields = LabelFields {
        name: &req.name,
        description: &req.description,
        color: &req.color,
    };
    state.labels.update(&ctx, id, fields).await?;
    Ok(StatusCode::OK)
}

/// Deletes a label; it leaves every artifact it was on.
#[utoipa::path(delete, path = "/api/v2.0/labels/{label_id}", tag = "label",
    operation_id = "DeleteLabel",
    responses((status = 200, description = "Deleted"),
        (status = 404, description = "No such label", body = Errors)))]
async fn delete(
    S(state): S<State>,
    Path(id): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id, "label id")?;
    state.labels.delete(&ctx, id).await?;
    Ok(StatusCode::OK)
}
