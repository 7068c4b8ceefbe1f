//! `/api/v2.0/projects/{p}/repositories/{r}/artifacts` and their tags.

use super::{context, created, json_body, timestamp, ApiError, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use berth_db::artifacts::{Accessory, ArtifactRow};
use berth_oci::{media, Reference, RepositoryName};
use serde::Deserialize;
use serde_json::{json, Value};

const BASE: &str = "/api/v2.0/projects/{p}/repositories/{r}/artifacts";

pub fn router() -> Router<State> {
    Router::new()
        .route(BASE, get(list).post(copy))
        .route(
            &format!("{BASE}/{{reference}}"),
            get(get_one).delete(delete_one),
        )
        .route(
            &format!("{BASE}/{{reference}}/tags"),
            get(list_tags).post(add_tag),
        )
        .route(
            &format!("{BASE}/{{reference}}/tags/{{tag}}"),
            delete(delete_tag),
        )
        .route(
            &format!("{BASE}/{{reference}}/accessories"),
            get(list_accessories),
        )
        .route(
            &format!("{BASE}/{{reference}}/additions/{{addition}}"),
            get(addition),
        )
}

/// The artifacts collection's path, for `Link` headers.
fn base(p: &str, r: &str) -> String {
    let r = r.replace('%', "%25");
    format!("/api/v2.0/projects/{p}/repositories/{r}/artifacts")
}

fn repo(p: &str, r: &str) -> Result<RepositoryName, ApiError> {
    let r = super::repositories::repo_name(r)?;
    RepositoryName::parse(&format!("{p}/{r}")).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn reference(s: &str) -> Result<Reference, ApiError> {
    Reference::parse(s).map_err(|e| ApiError::bad_request(format!("invalid reference {s:?}: {e}")))
}

fn tag_json(a: &ArtifactRow, (id, name, push_time): &(i64, String, i64)) -> Value {
    json!({
        "id": id,
        "repository_id": a.repository_id,
        "artifact_id": a.id,
        "name": name,
        "push_time": timestamp(*push_time),
        "immutable": false,
    })
}

/// Harbor's `Artifact` model (the parts Berth records).
fn artifact_json(a: &ArtifactRow, project_id: i64, repo: &RepositoryName, with_tag: bool) -> Value {
    let image_config = matches!(
        a.artifact_type.as_deref(),
        Some(
            "application/vnd.oci.image.config.v1+json"
                | "application/vnd.docker.container.image.v1+json"
        )
    );
    let index = a.media_type == media::OCI_INDEX || a.media_type == media::DOCKER_MANIFEST_LIST;
    let annotations: Value = a
        .annotations
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let mut v = json!({
        "id": a.id,
        "type": if image_config || index { "IMAGE" } else { "UNKNOWN" },
        "media_type": a.artifact_type.clone().unwrap_or_else(|| a.media_type.clone()),
        "manifest_media_type": a.media_type,
        "artifact_type": a.artifact_type,
        "project_id": project_id,
        "repository_id": a.repository_id,
        "repository_name": repo.as_str(),
        "digest": a.digest,
        "size": a.size,
        "push_time": timestamp(a.push_time),
        "annotations": annotations,
        "extra_attrs": {},
        "labels": [],
    });
    if let Some(t) = a.pull_time {
        v["pull_time"] = timestamp(t).into();
    }
    if with_tag {
        v["tags"] = a
            .tags
            .iter()
            .map(|t| tag_json(a, t))
            .collect::<Vec<_>>()
            .into();
    }
    v
}

fn with_tag(q: Option<&str>) -> bool {
    super::query_value(q, "with_tag").is_none_or(|v| v != "false")
}

async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let page = Page::parse(q.as_deref())?;
    let (rows, total, project_id) = state
        .artifacts
        .list(
            &ctx,
            &repo,
            &super::list_query(q.as_deref(), berth_db::artifacts::FIELDS)?,
            page.offset(),
            page.size,
        )
        .await?;
    let tags = with_tag(q.as_deref());
    let mut resp = Json(
        rows.iter()
            .map(|a| artifact_json(a, project_id, &repo, tags))
            .collect::<Vec<_>>(),
    )
    .into_response();
    page.headers(&mut resp, &base(&p, &r), total);
    Ok(resp)
}

/// `POST …/artifacts?from=project/repo:tag|@digest`: copy an artifact here.
async fn copy(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let from = super::query_value(q.as_deref(), "from")
        .ok_or_else(|| ApiError::bad_request("from is required"))?;
    let digest = state
        .artifacts
        .copy(&ctx, &state.registry, &repo, &from)
        .await?;
    Ok(created(format!(
        "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{digest}"
    )))
}

async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let (a, project_id) = state
        .artifacts
        .get(&ctx, &repo, &reference(&reference_s)?)
        .await?;
    Ok(Json(artifact_json(
        &a,
        project_id,
        &repo,
        with_tag(q.as_deref()),
    )))
}

async fn delete_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    state
        .artifacts
        .delete(&ctx, &state.registry, &repo, &reference(&reference_s)?)
        .await?;
    Ok(StatusCode::OK)
}

async fn list_tags(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let (a, _) = state
        .artifacts
        .get(&ctx, &repo, &reference(&reference_s)?)
        .await?;
    let mut resp = Json(a.tags.iter().map(|t| tag_json(&a, t)).collect::<Vec<_>>()).into_response();
    if let Ok(v) = a.tags.len().to_string().parse() {
        resp.headers_mut().insert("x-total-count", v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct TagReq {
    name: String,
}

async fn add_tag(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let req: TagReq = json_body(&body)?;
    state
        .artifacts
        .add_tag(&ctx, &repo, &reference(&reference_s)?, &req.name)
        .await?;
    Ok(created(format!(
        "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference_s}/tags/{}",
        req.name
    )))
}

async fn delete_tag(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s, tag)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    state
        .artifacts
        .delete_tag(&ctx, &repo, &reference(&reference_s)?, &tag)
        .await?;
    Ok(StatusCode::OK)
}

/// Harbor's `Accessory` model.
fn accessory_json(a: &Accessory, subject: &ArtifactRow, repo: &RepositoryName) -> Value {
    json!({
        "id": a.id,
        "artifact_id": a.id,
        "subject_artifact_id": subject.id,
        "subject_artifact_digest": subject.digest,
        "subject_artifact_repo": repo.as_str(),
        "size": a.size,
        "digest": a.digest,
        "type": a.kind,
        "icon": "",
        "creation_time": timestamp(a.creation_time),
    })
}

async fn list_accessories(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    let page = Page::parse(q.as_deref())?;
    let query = super::list_query(q.as_deref(), berth_db::artifacts::ACCESSORY_FIELDS)?;
    let (rows, total, subject) = state
        .artifacts
        .accessories(
            &ctx,
            &repo,
            &reference(&reference_s)?,
            &query,
            page.offset(),
            page.size,
        )
        .await?;
    let mut resp = Json(
        rows.iter()
            .map(|a| accessory_json(a, &subject, &repo))
            .collect::<Vec<_>>(),
    )
    .into_response();
    page.headers(
        &mut resp,
        &format!("{}/{reference_s}/accessories", base(&p, &r)),
        total,
    );
    Ok(resp)
}

/// `additions/build_history`: the image's build steps. Harbor's other
/// additions (values.yaml, readme.md, dependencies) belong to Helm charts.
async fn addition(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s, addition)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ctx = context(&state, &headers).await?;
    let repo = repo(&p, &r)?;
    match addition.to_ascii_lowercase().as_str() {
        "build_history" => Ok(Json(
            state
                .artifacts
                .build_history(&ctx, &state.registry, &repo, &reference(&reference_s)?)
                .await?,
        )),
        "values.yaml" | "readme.md" | "dependencies" | "sbom" | "license" | "files" => {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{addition} is not available for this artifact"),
            ))
        }
        _ => Err(ApiError::bad_request(format!(
            "unknown addition {addition:?}"
        ))),
    }
}
