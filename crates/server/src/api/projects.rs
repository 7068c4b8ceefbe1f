//! `/api/v2.0/projects`: projects, their metadata and members.

use super::model::{
    CveAllowlist, Errors, Project, ProjectDeletable, ProjectMemberEntity, ProjectSummary,
    ProjectSummaryQuota,
};
use super::ApiJson;
use super::{created, json_body, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::Member;
use berth_core::project::{NewMember, ProjectKey, ProjectView};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create, head))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(deletable))
        .routes(routes!(summary))
        .routes(routes!(get_metadata, add_metadata))
        // Harbor's clients also use the trailing slash.
        .route(
            "/api/v2.0/projects/{p}/metadatas/",
            get(get_metadata).post(add_metadata),
        )
        .routes(routes!(
            get_metadata_one,
            put_metadata_one,
            delete_metadata_one
        ))
        .routes(routes!(members, add_member))
        .routes(routes!(member, update_member, delete_member))
}

pub(super) fn key(headers: &HeaderMap, p: &str) -> ProjectKey {
    let is_name = headers
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ProjectKey::parse(p, is_name)
}

/// Harbor's `Project` model.
pub(super) fn project_json(v: &ProjectView) -> Project {
    let role_ids: Vec<i64> = v.roles.iter().map(|r| *r as i64).collect();
    Project {
        project_id: v.project.project_id,
        owner_id: v.project.owner_id,
        owner_name: v.project.owner_name.clone(),
        name: v.project.name.clone(),
        registry_id: v.project.registry_id,
        creation_time: timestamp(v.project.creation_time),
        update_time: timestamp(v.project.update_time),
        deleted: false,
        togglable: berth_core::iam::rbac::may_toggle(&v.roles),
        current_user_role_id: role_ids.iter().min().copied().unwrap_or(0),
        current_user_role_ids: role_ids,
        repo_count: v.repo_count,
        metadata: v.metadata.clone(),
        cve_allowlist: CveAllowlist {
            project_id: v.project.project_id,
            ..CveAllowlist::default()
        },
    }
}

/// A new project, or changes to one.
#[derive(Deserialize, ToSchema)]
struct ProjectReq {
    project_name: Option<String>,
    public: Option<bool>,
    /// Values are strings (`"true"`); booleans are accepted too.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    metadata: BTreeMap<String, Value>,
    /// The project's own CVE allowlist (used unless its metadata
    /// `reuse_sys_cve_allowlist` is `true`).
    cve_allowlist: Option<CveAllowlist>,
    /// Makes the project a proxy cache of this registry endpoint.
    registry_id: Option<i64>,
    /// Bytes the project may store, -1 unlimited (system administrators;
    /// others get the `storage_per_project` setting). Checked but not
    /// applied on update: `/quotas/{id}` changes a limit, as in Harbor.
    storage_limit: Option<i64>,
}

/// Harbor sends metadata values as strings; accept booleans too.
fn metadata_strings(m: BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(ApiError::bad_request(format!(
                "metadata {k} has invalid value {other}"
            ))),
        })
        .collect()
}

/// Creates a project; the caller becomes its project admin.
#[utoipa::path(post, path = "/api/v2.0/projects", tag = "project", operation_id = "createProject",
    request_body = ProjectReq, responses((status = 201, description = "Created; Location names it"),
    (status = 409, description = "The name is taken", body = Errors)))]
async fn create(
    S(state): S<State>,
    headers: HeaderMap,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<ProjectReq>,
) -> Result<Response, ApiError> {
    let name = req
        .project_name
        .ok_or_else(|| ApiError::bad_request("project_name is required"))?;
    let mut metadata = metadata_strings(req.metadata)?;
    if let Some(p) = req.public {
        metadata
            .entry("public".into())
            .or_insert_with(|| p.to_string());
    }
    let id = (state.projects)
        .create(&ctx, &name, &metadata, (req.registry_id, req.storage_limit))
        .await?;
    if let Some(list) = req
        .cve_allowlist
        .filter(|l| !l.items.is_empty() || l.expires_at.is_some())
    {
        let key = berth_core::project::ProjectKey::Id(id);
        state
            .projects
            .set_allowlist(&ctx, &key, &list.change())
            .await?;
    }
    let by_name = headers
        .get("x-resource-name-in-location")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(created(if by_name {
        format!("/api/v2.0/projects/{name}")
    } else {
        format!("/api/v2.0/projects/{id}")
    }))
}

/// Whether a project name is taken.
#[utoipa::path(head, path = "/api/v2.0/projects", tag = "project", operation_id = "headProject",
    params(("project_name" = String, Query)),
    responses((status = 200, description = "It exists")))]
async fn head(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(_ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    let name = query_value(q.as_deref(), "project_name")
        .ok_or_else(|| ApiError::bad_request("project_name is required"))?;
    Ok(if state.projects.exists(&name).await? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

/// Lists the projects the caller may see; `q` keys: name, owner, public,
/// project_id, creation_time, update_time.
#[utoipa::path(get, path = "/api/v2.0/projects", tag = "project", operation_id = "listProjects",
    params(ListParams, ("name" = Option<String>, Query, description = "Part of the name"),
        ("public" = Option<bool>, Query), ("owner" = Option<String>, Query)),
    responses((status = 200, description = "A page of projects", body = [Project])))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let q = q.as_deref();
    let page = Page::parse(q)?;
    let mut query = super::filter(q);
    if let Some(name) = query_value(q, "name") {
        query = query.search("name", name);
    }
    for key in ["public", "owner"] {
        if let Some(v) = query_value(q, key) {
            query = query.exact(key, v);
        }
    }
    let (projects, total) = state
        .projects
        .list(&ctx, &query, page.offset(), page.size)
        .await?;
    let ids: Vec<i64> = projects.iter().map(|p| p.project.project_id).collect();
    let lists = state.projects.allowlists(&ids).await?;
    let mut out: Vec<Project> = projects.iter().map(project_json).collect();
    for (p, list) in out.iter_mut().zip(lists) {
        p.cve_allowlist = CveAllowlist::of(list);
    }
    Ok(page.respond(out, "/api/v2.0/projects", total))
}

/// One project, by id or (with `X-Is-Resource-Name: true`) name, with its
/// own CVE allowlist.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}", tag = "project", operation_id = "getProject",
    responses((status = 200, description = "The project", body = Project)))]
async fn get_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<Project>, ApiError> {
    let view = state.projects.get(&ctx, &key(&headers, &p)).await?;
    let mut out = project_json(&view);
    let list = state.projects.allowlist(view.project.project_id).await?;
    out.cve_allowlist = CveAllowlist::of(list);
    Ok(Json(out))
}

/// Updates a project's metadata and its CVE allowlist.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}", tag = "project", operation_id = "updateProject",
    request_body = ProjectReq, responses((status = 200, description = "Updated")))]
async fn update(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<ProjectReq>,
) -> Result<StatusCode, ApiError> {
    let mut metadata = metadata_strings(req.metadata)?;
    if let Some(p) = req.public {
        metadata.insert("public".into(), p.to_string());
    }
    if let Some(limit) = req.storage_limit {
        berth_core::quota::check_limit(limit)?;
    }
    let key = key(&headers, &p);
    if !metadata.is_empty() {
        state.projects.set_metadata(&ctx, &key, &metadata).await?;
    }
    if let Some(list) = req.cve_allowlist {
        state
            .projects
            .set_allowlist(&ctx, &key, &list.change())
            .await?;
    }
    Ok(StatusCode::OK)
}

/// Deletes an empty project.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}", tag = "project", operation_id = "deleteProject",
    responses((status = 200, description = "Deleted"),
        (status = 412, description = "The project still holds repositories", body = Errors)))]
async fn delete(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state.projects.delete(&ctx, &key(&headers, &p)).await?;
    Ok(StatusCode::OK)
}

/// Whether a project can be deleted now.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/_deletable", tag = "project",
    operation_id = "getProjectDeletable",
    responses((status = 200, description = "Deletable or why not", body = ProjectDeletable)))]
async fn deletable(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<ProjectDeletable>, ApiError> {
    let (deletable, message) = state.projects.deletable(&ctx, &key(&headers, &p)).await?;
    Ok(Json(ProjectDeletable { deletable, message }))
}

/// Repository and member counts of a project, and the storage it uses.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/summary", tag = "project",
    operation_id = "getProjectSummary",
    responses((status = 200, description = "Counts", body = ProjectSummary)))]
async fn summary(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<ProjectSummary>, ApiError> {
    use berth_core::iam::rbac::Role;
    let summary = state.projects.summary(&ctx, &key(&headers, &p)).await?;
    let count = |role: Role| {
        summary
            .members
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(0, |(_, n)| *n)
    };
    Ok(Json(ProjectSummary {
        repo_count: summary.repo_count,
        project_admin_count: count(Role::ProjectAdmin),
        maintainer_count: count(Role::Maintainer),
        developer_count: count(Role::Developer),
        guest_count: count(Role::Guest),
        limited_guest_count: count(Role::LimitedGuest),
        quota: summary.quota.map(|(hard, used)| ProjectSummaryQuota {
            hard: BTreeMap::from([("storage".into(), hard)]),
            used: BTreeMap::from([("storage".into(), used)]),
        }),
    }))
}

/// A project's metadata.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/metadatas", tag = "projectMetadata",
    operation_id = "listProjectMetadatas",
    responses((status = 200, description = "Every key", body = BTreeMap<String, String>)))]
async fn get_metadata(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    Ok(Json(
        state.projects.metadata(&ctx, &key(&headers, &p)).await?,
    ))
}

/// Adds metadata keys.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/metadatas", tag = "projectMetadata",
    operation_id = "addProjectMetadatas", request_body = BTreeMap<String, String>,
    responses((status = 200, description = "Added")))]
async fn add_metadata(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let m = metadata_strings(json_body(&body)?)?;
    state
        .projects
        .set_metadata(&ctx, &key(&headers, &p), &m)
        .await?;
    Ok(StatusCode::OK)
}

/// One metadata key.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/metadatas/{name}", tag = "projectMetadata",
    operation_id = "getProjectMetadata",
    responses((status = 200, description = "The key and its value", body = BTreeMap<String, String>)))]
async fn get_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let all = state.projects.metadata(&ctx, &key(&headers, &p)).await?;
    let v = all.get(&name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("metadata {name} not found"))
    })?;
    Ok(Json(BTreeMap::from([(name, v.clone())])))
}

/// Sets one metadata key.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}/metadatas/{name}", tag = "projectMetadata",
    operation_id = "updateProjectMetadata", request_body = BTreeMap<String, String>,
    responses((status = 200, description = "Set")))]
async fn put_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let m = metadata_strings(json_body(&body)?)?;
    if m.len() != 1 || !m.contains_key(&name) {
        return Err(ApiError::bad_request(format!(
            "the body must hold exactly the key {name}"
        )));
    }
    state
        .projects
        .set_metadata(&ctx, &key(&headers, &p), &m)
        .await?;
    Ok(StatusCode::OK)
}

/// Removes one metadata key.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/metadatas/{name}", tag = "projectMetadata",
    operation_id = "deleteProjectMetadata", responses((status = 200, description = "Removed")))]
async fn delete_metadata_one(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, name)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .projects
        .delete_metadata(&ctx, &key(&headers, &p), &name)
        .await?;
    Ok(StatusCode::OK)
}

fn member_json(m: &Member) -> ProjectMemberEntity {
    let role_name = berth_core::iam::rbac::Role::from_id(m.role)
        .map(|r| r.name())
        .unwrap_or("");
    ProjectMemberEntity {
        id: m.id,
        project_id: m.project_id,
        entity_name: m.entity_name.clone(),
        role_name: role_name.to_string(),
        role_id: m.role,
        entity_id: m.entity_id,
        entity_type: m.entity_type.clone(),
    }
}

/// A project's members.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/members", tag = "member",
    operation_id = "listProjectMembers",
    params(("entityname" = Option<String>, Query, description = "Part of the member's name"),
        ("page" = Option<i64>, Query), ("page_size" = Option<i64>, Query)),
    responses((status = 200, description = "A page of members", body = [ProjectMemberEntity])))]
async fn members(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let name = query_value(q.as_deref(), "entityname");
    let (list, total) = state
        .projects
        .members(
            &ctx,
            &key(&headers, &p),
            name.as_deref(),
            page.offset(),
            page.size,
        )
        .await?;
    Ok(page.respond(
        list.iter().map(member_json).collect::<Vec<_>>(),
        &format!("/api/v2.0/projects/{p}/members"),
        total,
    ))
}

/// A new member: a user by id or name, or a group by id or LDAP DN, and a
/// role id (1–5).
#[derive(Deserialize, ToSchema)]
struct MemberReq {
    role_id: i64,
    member_user: Option<MemberUserReq>,
    member_group: Option<MemberGroupReq>,
}

/// A user, by id or name.
#[derive(Deserialize, ToSchema)]
struct MemberUserReq {
    user_id: Option<i64>,
    username: Option<String>,
}

/// A group, by id, by DN (an LDAP group, added when new) or by name (an
/// OIDC group, added when new).
#[derive(Deserialize, ToSchema)]
struct MemberGroupReq {
    id: Option<i64>,
    ldap_group_dn: Option<String>,
    group_name: Option<String>,
}

/// Adds a member.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/members", tag = "member",
    operation_id = "createProjectMember", request_body = MemberReq,
    responses((status = 201, description = "Added; Location names the membership"),
        (status = 409, description = "Already a member", body = Errors)))]
async fn add_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<MemberReq>,
) -> Result<Response, ApiError> {
    let member = match (req.member_user, req.member_group) {
        (
            Some(MemberUserReq {
                user_id: Some(id), ..
            }),
            _,
        ) if id > 0 => NewMember::Id(id),
        (
            Some(MemberUserReq {
                username: Some(n), ..
            }),
            _,
        ) if !n.is_empty() => {
            // Only who may add members on-boards a directory user here.
            (state.projects)
                .authorized(&ctx, &key(&headers, &p), Action::Create, Kind::Member)
                .await?;
            match state.iam.member_user_id(&ctx, &n).await? {
                Some(id) => NewMember::Id(id),
                None => NewMember::Name(n),
            }
        }
        (_, Some(MemberGroupReq { id: Some(id), .. })) if id > 0 => NewMember::Group(id),
        (
            _,
            Some(MemberGroupReq {
                ldap_group_dn: Some(dn),
                ..
            }),
        ) if !dn.is_empty() => {
            // Only who may add members makes a directory group known here.
            (state.projects)
                .authorized(&ctx, &key(&headers, &p), Action::Create, Kind::Member)
                .await?;
            NewMember::Group(state.iam.ldap_group_id(&ctx, &dn).await?)
        }
        (
            _,
            Some(MemberGroupReq {
                group_name: Some(name),
                ..
            }),
        ) if !name.is_empty() => {
            (state.projects)
                .authorized(&ctx, &key(&headers, &p), Action::Create, Kind::Member)
                .await?;
            NewMember::Group(state.iam.oidc_group_id(&ctx, &name).await?)
        }
        _ => {
            return Err(ApiError::bad_request(
                "member_user with user_id or username, or member_group with id, ldap_group_dn \
                 or group_name, is required",
            ))
        }
    };
    let id = state
        .projects
        .add_member(&ctx, &key(&headers, &p), member, req.role_id)
        .await?;
    Ok(created(format!("/api/v2.0/projects/{p}/members/{id}")))
}

/// One membership.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/members/{mid}", tag = "member",
    operation_id = "getProjectMember",
    responses((status = 200, description = "The membership", body = ProjectMemberEntity)))]
async fn member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Json<ProjectMemberEntity>, ApiError> {
    let m = state
        .projects
        .member(&ctx, &key(&headers, &p), super::path_id(&mid, "member id")?)
        .await?;
    Ok(Json(member_json(&m)))
}

/// A member's new role.
#[derive(Deserialize, ToSchema)]
struct RoleReq {
    role_id: i64,
}

/// Changes a member's role.
#[utoipa::path(put, path = "/api/v2.0/projects/{p}/members/{mid}", tag = "member",
    operation_id = "updateProjectMember", request_body = RoleReq,
    responses((status = 200, description = "Changed")))]
async fn update_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
    Ctx(ctx): Ctx,
    ApiJson(req): ApiJson<RoleReq>,
) -> Result<StatusCode, ApiError> {
    state
        .projects
        .update_member(
            &ctx,
            &key(&headers, &p),
            super::path_id(&mid, "member id")?,
            req.role_id,
        )
        .await?;
    Ok(StatusCode::OK)
}

/// Removes a member.
#[utoipa::path(delete, path = "/api/v2.0/projects/{p}/members/{mid}", tag = "member",
    operation_id = "deleteProjectMember", responses((status = 200, description = "Removed")))]
async fn delete_member(
    S(state): S<State>,
    headers: HeaderMap,
    Path((p, mid)): Path<(String, String)>,
    Ctx(ctx): Ctx,
) -> Result<StatusCode, ApiError> {
    state
        .projects
        .delete_member(&ctx, &key(&headers, &p), super::path_id(&mid, "member id")?)
        .await?;
    Ok(StatusCode::OK)
}
