//! `/api/v2.0/projects/{p}/repositories/{r}/artifacts`, their tags,
//! accessories and additions.

use super::model::{self, Accessory, Artifact, Errors, Tag};
use super::ApiJson;
use super::{created, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::iam::context::SecurityContext;
use berth_core::policy::immutability::{protected, ImmutableRule};
use berth_core::project::artifacts::{ArtifactRow, TagRow};
use berth_core::query::Filter;
use berth_core::scan::ScanType;
use berth_oci::{Reference, RepositoryName};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, copy))
        .routes(routes!(get_one, delete_one))
        .routes(routes!(list_tags, add_tag))
        .routes(routes!(delete_tag))
        .routes(routes!(add_label))
        .routes(routes!(remove_label))
        .routes(routes!(list_accessories))
        .routes(routes!(addition))
        .routes(routes!(list_in_project))
        .routes(routes!(icon))
}

/// The `X-Accept-Vulnerabilities` header: which report types the client
/// reads (Harbor's native one when absent).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct AcceptVulnerabilities {
    #[param(rename = "X-Accept-Vulnerabilities")]
    x_accept_vulnerabilities: Option<String>,
}

/// The artifacts collection's path, for `Link` headers (the repository
/// name stays encoded twice).
fn base(p: &str, r: &str) -> String {
    let r = r.replace('%', "%25");
    format!("/api/v2.0/projects/{p}/repositories/{r}/artifacts")
}

pub(super) fn repo(p: &str, r: &str) -> Result<RepositoryName, ApiError> {
    let r = super::repositories::repo_name(r)?;
    RepositoryName::parse(&format!("{p}/{r}")).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub(super) fn reference(s: &str) -> Result<Reference, ApiError> {
    Reference::parse(s).map_err(|e| ApiError::bad_request(format!("invalid reference {s:?}: {e}")))
}

/// A tag as Harbor shows it; `immutable` tells whether `rules` (its
/// project's, when asked for) protect it.
fn tag_json(a: &ArtifactRow, t: &TagRow, rules: &[ImmutableRule]) -> Tag {
    let immutable = match RepositoryName::parse(&a.repository_name) {
        Ok(repo) => protected(rules, &repo, &t.name),
        Err(_) => false,
    };
    Tag {
        id: t.id,
        repository_id: a.repository_id,
        artifact_id: a.id,
        name: t.name.clone(),
        push_time: timestamp(t.push_time),
        pull_time: t.pull_time.map(timestamp),
        immutable,
    }
}

/// Which optional parts an artifact is shown with.
struct With {
    tags: bool,
    immutable_status: bool,
    labels: bool,
    accessories: bool,
    /// The report types the client accepts, when it asks for overviews.
    scan_overview: Option<Option<String>>,
    sbom_overview: bool,
}

impl With {
    fn parse(q: Option<&str>, headers: &HeaderMap) -> With {
        let accept = headers
            .get("x-accept-vulnerabilities")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        With {
            tags: query_value(q, "with_tag").is_none_or(|v| v != "false"),
            immutable_status: query_value(q, "with_immutable_status").is_some_and(|v| v == "true"),
            labels: query_value(q, "with_label").is_some_and(|v| v == "true"),
            accessories: query_value(q, "with_accessory").is_some_and(|v| v == "true"),
            scan_overview: query_value(q, "with_scan_overview")
                .is_some_and(|v| v == "true")
                .then_some(accept),
            sbom_overview: query_value(q, "with_sbom_overview").is_some_and(|v| v == "true"),
        }
    }
}

/// Harbor's `Artifact` model (the parts Berth records).
async fn artifact_json(
    state: &State,
    ctx: &SecurityContext,
    a: &ArtifactRow,
    project_id: i64,
    repo: &RepositoryName,
    with: &With,
    rules: &[ImmutableRule],
) -> Result<Artifact, ApiError> {
    let arts = &state.artifacts;
    let described = arts.described(&state.registry, repo, a).await?;
    let references = arts
        .references(&state.registry, repo, a)
        .await?
        .into_iter()
        .map(|r| model::ArtifactReference {
            parent_id: a.id,
            child_id: r.child_id,
            child_digest: r.descriptor.digest.to_string(),
            platform: r.descriptor.platform,
            annotations: r.descriptor.annotations,
            urls: r.descriptor.urls,
        })
        .collect();
    let accessories = if with.accessories {
        let (rows, _, _) = arts
            .accessories(
                ctx,
                repo,
                &reference(&a.digest)?,
                &Filter::default(),
                0,
                100,
            )
            .await?;
        Some(rows.iter().map(|x| accessory_json(x, a, repo)).collect())
    } else {
        None
    };
    let (project, name_in_project) = repo.as_str().split_once('/').unwrap_or_default();
    let scannable = berth_core::scan::scannable_type(&described.harbor_type);
    let addition_links = berth_core::project::artifacts::additions_of(&described, &a.media_type)
        .iter()
        .chain(scannable.then_some(&"vulnerabilities"))
        .map(|name| {
            let href = format!(
                "{}/{}/additions/{name}",
                base(project, &name_in_project.replace('/', "%2F")),
                a.digest
            );
            let link = model::AdditionLink {
                href,
                absolute: false,
            };
            (name.to_string(), link)
        })
        .collect();
    Ok(Artifact {
        id: a.id,
        icon: berth_core::icons::for_type(&described.harbor_type)
            .digest
            .clone(),
        extra_attrs: described
            .extra_attrs
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default(),
        kind: described.harbor_type,
        media_type: described.media_type,
        manifest_media_type: a.media_type.clone(),
        artifact_type: a.artifact_type.clone(),
        project_id,
        repository_id: a.repository_id,
        repository_name: repo.as_str().to_string(),
        digest: a.digest.clone(),
        size: a.size,
        push_time: timestamp(a.push_time),
        pull_time: a.pull_time.map(timestamp),
        annotations: a
            .annotations
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        references,
        addition_links,
        labels: Vec::new(),
        tags: with
            .tags
            .then(|| a.tags.iter().map(|t| tag_json(a, t, rules)).collect()),
        accessories,
        scan_overview: None,
        sbom_overview: None,
    })
}

/// A page of artifacts as Harbor lists them (`with_*` read from `query`),
/// each from its own repository.
async fn artifacts_json(
    state: &State,
    ctx: &SecurityContext,
    rows: &[ArtifactRow],
    project_id: i64,
    with: &With,
) -> Result<Vec<Artifact>, ApiError> {
    let mut out = Vec::with_capacity(rows.len());
    let rules = match (with.immutable_status, rows.first()) {
        (true, Some(a)) => {
            let project = a.repository_name.split_once('/').map_or("", |(p, _)| p);
            state.artifacts.immutable_rules(project).await?
        }
        _ => Vec::new(),
    };
    for a in rows {
        // Stored names were checked when their repository was made.
        let repo = RepositoryName::parse(&a.repository_name)
            .map_err(|e| berth_core::CoreError::Internal(e.to_string()))?;
        out.push(artifact_json(state, ctx, a, project_id, &repo, with, &rules).await?);
    }
    if with.labels {
        let ids: Vec<i64> = rows.iter().map(|a| a.id).collect();
        let mut labels = state.labels.of_artifacts(&ids).await?;
        for a in &mut out {
            let on = labels.remove(&a.id).unwrap_or_default();
            a.labels = on.iter().map(super::labels::label_json).collect();
        }
    }
    if let Some(accept) = &with.scan_overview {
        let mime = berth_core::scan::accepted(accept.as_deref());
        let mut overviews = state.scans.overviews(rows, ScanType::Vulnerability).await?;
        for a in &mut out {
            a.scan_overview = (overviews.remove(&a.id))
                .map(|o| BTreeMap::from([(mime.to_string(), o.to_json())]));
        }
    }
    if with.sbom_overview {
        let mut overviews = state.scans.overviews(rows, ScanType::Sbom).await?;
        for a in &mut out {
            let Some(o) = overviews.remove(&a.id) else {
                continue;
            };
            // As Harbor: where an SBOM was pushed, the link to read it.
            if let Some(sbom) = o.sbom_digest() {
                let (project, name) = a.repository_name.split_once('/').unwrap_or_default();
                let link = model::AdditionLink {
                    href: format!(
                        "{}/{sbom}/additions/sbom",
                        base(project, &name.replace('/', "%2F"))
                    ),
                    absolute: false,
                };
                a.addition_links.insert("sboms".into(), link);
            }
            a.sbom_overview = Some(o.sbom_json());
        }
    }
    Ok(out)
}

/// A repository's artifacts, newest first; `q` keys: digest, tags,
/// labels (ids; `labels=(1 2)` wants both), media_type, artifact_type,
/// size, push_time, pull_time.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts", tag = "artifact",
    operation_id = "listArtifacts",
    params(ListParams, ("with_tag" = Option<bool>, Query), ("with_label" = Option<bool>, Query), ("with_accessory" = Option<bool>, Query),
        ("with_scan_overview" = Option<bool>, Query), ("with_sbom_overview" = Option<bool>, Query),
        AcceptVulnerabilities),
    responses((status = 200, description = "A page of artifacts", body = [Artifact])))]
async fn list(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    let page = Page::parse(q.as_deref())?;
    let (rows, total, project_id) = state
        .artifacts
        .list(
            &ctx,
            &repo,
            &super::filter(q.as_deref()),
            page.offset(),
            page.size,
        )
        .await?;
    let with = With::parse(q.as_deref(), &headers);
    let out = artifacts_json(&state, &ctx, &rows, project_id, &with).await?;
    Ok(page.respond(out, &base(&p, &r), total))
}

/// A project's artifacts across its repositories, newest first (`q` as for
/// a repository's); `latest_in_repository=true` with a `media_type` or
/// `artifact_type` in `q` keeps the newest match of each repository.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/artifacts", tag = "project",
    operation_id = "listArtifactsOfProject",
    params(ListParams, ("with_tag" = Option<bool>, Query), ("with_label" = Option<bool>, Query), ("with_accessory" = Option<bool>, Query),
        ("with_scan_overview" = Option<bool>, Query), ("with_sbom_overview" = Option<bool>, Query),
        AcceptVulnerabilities, ("latest_in_repository" = Option<bool>, Query)),
    responses((status = 200, description = "A page of artifacts", body = [Artifact])))]
async fn list_in_project(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let filters = query_value(q.as_deref(), "q").unwrap_or_default();
    let by_type = filters
        .split(',')
        .any(|f| f.starts_with("media_type=") || f.starts_with("artifact_type="));
    let latest =
        by_type && query_value(q.as_deref(), "latest_in_repository").is_some_and(|v| v == "true");
    let (rows, total, project_id) = state
        .artifacts
        .list_in_project(
            &ctx,
            &super::projects::key(&headers, &p),
            latest,
            &super::filter(q.as_deref()),
            page.offset(),
            page.size,
        )
        .await?;
    let with = With::parse(q.as_deref(), &headers);
    let out = artifacts_json(&state, &ctx, &rows, project_id, &with).await?;
    let mut resp = Json(out).into_response();
    page.headers(
        &mut resp,
        &format!("/api/v2.0/projects/{p}/artifacts"),
        total,
    );
    Ok(resp)
}

/// One of the icons artifacts are shown with (`icon` of an artifact).
#[utoipa::path(get, path = "/api/v2.0/icons/{digest}", tag = "icon", operation_id = "getIcon",
    responses((status = 200, description = "The icon, base64-encoded", body = model::Icon)))]
async fn icon(Path(digest): Path<String>, Ctx(_ctx): Ctx) -> Result<Json<model::Icon>, ApiError> {
    // Anyone may fetch an icon (as in Harbor), but bad credentials still fail.
    berth_oci::Digest::parse(&digest)
        .map_err(|e| ApiError::bad_request(format!("invalid digest {digest:?}: {e}")))?;
    let icon = berth_core::icons::by_digest(&digest).ok_or_else(|| {
        ApiError::from(berth_core::CoreError::NotFound(format!(
            "icon {digest} not found"
        )))
    })?;
    use base64::Engine;
    Ok(Json(model::Icon {
        content_type: icon.content_type.into(),
        content: base64::engine::general_purpose::STANDARD.encode(icon.content),
    }))
}

/// `POST …/artifacts?from=project/repo:tag|@digest`: copy an artifact here.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts", tag = "artifact",
    operation_id = "CopyArtifact",
    params(("from" = String, Query, description = "project/repository:tag or project/repository@digest")),
    responses((status = 201, description = "Copied; Location names the artifact")))]
async fn copy(
    S(state): S<State>,
    Path((p, r)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    let from = query_value(q.as_deref(), "from")
        .ok_or_else(|| ApiError::bad_request("from is required"))?;
    let digest = state
        .artifacts
        .copy(&ctx, &state.registry, &repo, &from)
        .await?;
    Ok(created(format!("{}/{digest}", base(&p, &r))))
}

/// One artifact, by tag or digest.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}",
    tag = "artifact", operation_id = "getArtifact",
    params(("with_tag" = Option<bool>, Query), ("with_label" = Option<bool>, Query), ("with_accessory" = Option<bool>, Query),
        ("with_scan_overview" = Option<bool>, Query), ("with_sbom_overview" = Option<bool>, Query),
        AcceptVulnerabilities),
    responses((status = 200, description = "The artifact", body = Artifact)))]
async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Json<Artifact>, ApiError> {
    let repo = repo(&p, &r)?;
    let (a, project_id) = state
        .artifacts
        .get(&ctx, &repo, &reference(&reference_s)?)
        .await?;
    let with = With::parse(q.as_deref(), &headers);
    let mut out = artifacts_json(&state, &ctx, std::slice::from_ref(&a), project_id, &with).await?;
    Ok(Json(out.remove(0)))
}

/// Deletes an artifact and its tags.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}",
    tag = "artifact", operation_id = "deleteArtifact",
    responses((status = 200, description = "Deleted"),
        (status = 412, description = "An index still refers to it", body = Errors)))]
async fn delete_one(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    state
        .artifacts
        .delete(&ctx, &state.registry, &repo, &reference(&reference_s)?)
        .await?;
    Ok(StatusCode::OK)
}

/// An artifact's tags.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/tags",
    tag = "artifact", operation_id = "listTags",
    responses((status = 200, description = "Every tag", body = [Tag])))]
async fn list_tags(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    let (a, _) = state
        .artifacts
        .get(&ctx, &repo, &reference(&reference_s)?)
        .await?;
    let rules = match query_value(q.as_deref(), "with_immutable_status").as_deref() {
        Some("true") => state.artifacts.immutable_rules(repo.project()).await?,
        _ => Vec::new(),
    };
    let tags: Vec<Tag> = a.tags.iter().map(|t| tag_json(&a, t, &rules)).collect();
    let mut resp = Json(tags).into_response();
    if let Ok(v) = a.tags.len().to_string().parse() {
        resp.headers_mut().insert("x-total-count", v);
    }
    Ok(resp)
}

/// A tag to add.
#[derive(Deserialize, ToSchema)]
struct TagReq {
    name: String,
}

/// Tags an artifact.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/tags",
    tag = "artifact", operation_id = "createTag", request_body = TagReq,
    responses((status = 201, description = "Tagged; Location names the tag"),
        (status = 409, description = "The repository has the tag already", body = Errors)))]
async fn add_tag(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<TagReq>,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    state
        .artifacts
        .add_tag(
            &ctx,
            &state.registry,
            &repo,
            &reference(&reference_s)?,
            &req.name,
        )
        .await?;
    Ok(created(format!(
        "{}/{reference_s}/tags/{}",
        base(&p, &r),
        req.name
    )))
}

/// Removes a tag.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/tags/{tag}",
    tag = "artifact", operation_id = "deleteTag",
    responses((status = 200, description = "Removed")))]
async fn delete_tag(
    S(state): S<State>,
    Path((p, r, reference_s, tag)): Path<(String, String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    state
        .artifacts
        .delete_tag(
            &ctx,
            &state.registry,
            &repo,
            &reference(&reference_s)?,
            &tag,
        )
        .await?;
    Ok(StatusCode::OK)
}

/// The label to put on an artifact (Harbor sends a whole `Label`; its id counts).
#[derive(Deserialize, ToSchema)]
struct LabelRef {
    id: i64,
}

/// Puts a label (global, or the project's) on an artifact.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/labels",
    tag = "artifact", operation_id = "addLabel", request_body = LabelRef,
    responses((status = 200, description = "Put on"),
        (status = 409, description = "Already on it", body = Errors)))]
async fn add_label(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<LabelRef>,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    (state.artifacts)
        .add_label(&ctx, &repo, &reference(&reference_s)?, req.id)
        .await?;
    Ok(StatusCode::OK)
}

/// Takes a label off an artifact.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/labels/{label_id}",
    tag = "artifact", operation_id = "removeLabel",
    responses((status = 200, description = "Taken off"),
        (status = 404, description = "Not on it", body = Errors)))]
async fn remove_label(
    S(state): S<State>,
    Path((p, r, reference_s, label)): Path<(String, String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    let label = super::path_id(&label, "label id")?;
    (state.artifacts)
        .remove_label(&ctx, &repo, &reference(&reference_s)?, label)
        .await?;
    Ok(StatusCode::OK)
}

/// Harbor's `Accessory` model.
fn accessory_json(
    a: &berth_core::project::artifacts::Accessory,
    subject: &ArtifactRow,
    repo: &RepositoryName,
) -> Accessory {
    model::Accessory {
        id: a.id,
        artifact_id: a.id,
        subject_artifact_id: subject.id,
        subject_artifact_digest: subject.digest.clone(),
        subject_artifact_repo: repo.as_str().to_string(),
        size: a.size,
        digest: a.digest.clone(),
        kind: a.kind.clone(),
        icon: String::new(),
        creation_time: timestamp(a.creation_time),
    }
}

/// An artifact's accessories: signatures, SBOMs and other referrers;
/// `q` keys: type, digest, creation_time.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/accessories",
    tag = "artifact", operation_id = "listAccessories", params(ListParams),
    responses((status = 200, description = "A page of accessories", body = [Accessory])))]
async fn list_accessories(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    let page = Page::parse(q.as_deref())?;
    let query = super::filter(q.as_deref());
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

/// An artifact's addition: an image's `build_history` or
/// `vulnerabilities`, a chart's `values.yaml`, `readme.md` or
/// `dependencies`, an SBOM's `sbom` (the SPDX document), each with its
/// own media type.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/additions/{addition}",
    tag = "artifact", operation_id = "getAddition",
    responses((status = 200, description = "The addition: JSON for build_history and dependencies, \
        text for values.yaml and readme.md", content(
            (model::AdditionJson = "application/json"),
            (String = "text/plain"),
            (String = "text/markdown"),
            (Object = "application/vnd.goharbor.harbor.sbom.v1")))))]
async fn addition(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, r, reference_s, addition)): Path<(String, String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    if addition.eq_ignore_ascii_case("vulnerabilities") {
        let accept = headers
            .get("x-accept-vulnerabilities")
            .and_then(|v| v.to_str().ok());
        let reports = state
            .scans
            .vulnerabilities(&ctx, &repo, &reference(&reference_s)?, accept)
            .await?;
        return Ok(Json(reports).into_response());
    }
    let a = state
        .artifacts
        .addition(
            &ctx,
            &state.registry,
            &repo,
            &reference(&reference_s)?,
            &addition,
        )
        .await?;
    Ok(([(CONTENT_TYPE, a.content_type)], a.content).into_response())
}
