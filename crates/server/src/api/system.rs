//! System endpoints: `/systeminfo` and `/statistics`.

use super::model::{
    ConfigurationItem, GeneralInfo, Permission, Permissions, Search, SearchRepository, Statistic,
};
use super::{timestamp, ApiError, ApiJson, Ctx};
use crate::State;
use axum::extract::State as S;
use axum::http::StatusCode;
use axum::Json;
use berth_core::query::Filter;
use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(systeminfo))
        .routes(routes!(statistics))
        .routes(routes!(search))
        .routes(routes!(permissions))
        .routes(routes!(configurations, update_configurations))
        .routes(routes!(system_allowlist, set_system_allowlist))
        .routes(routes!(oidc_ping))
}

/// An OpenID Connect provider to try.
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct OidcEndpoint {
    /// The provider's issuer URL.
    url: String,
    #[serde(default = "verify_by_default")]
    verify_cert: bool,
}

fn verify_by_default() -> bool {
    true
}

/// Whether an OpenID Connect provider answers at `url` with its discovery
/// document (administrators).
#[utoipa::path(post, path = "/api/v2.0/system/oidc/ping", tag = "oidc", operation_id = "pingOIDC",
    request_body = OidcEndpoint,
    responses((status = 200, description = "It answered"),
        (status = 400, description = "It did not: failed to verify connection", body = super::model::Errors)))]
async fn oidc_ping(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(e): ApiJson<OidcEndpoint>,
) -> Result<StatusCode, ApiError> {
    state.iam.oidc_ping(&ctx, &e.url, e.verify_cert).await?;
    Ok(StatusCode::OK)
}

/// The system's CVE allowlist, which projects with
/// `reuse_sys_cve_allowlist` use (any signed-in caller).
#[utoipa::path(get, path = "/api/v2.0/system/CVEAllowlist", tag = "SystemCVEAllowlist",
    operation_id = "getSystemCVEAllowlist",
    responses((status = 200, description = "The allowlist", body = super::model::CveAllowlist)))]
async fn system_allowlist(
    S(state): S<State>,
    Ctx(ctx): Ctx,
) -> Result<Json<super::model::CveAllowlist>, ApiError> {
    let list = state.projects.system_allowlist(&ctx).await?;
    Ok(Json(super::model::CveAllowlist::of(list)))
}

/// Replaces the system's CVE allowlist (system administrators).
#[utoipa::path(put, path = "/api/v2.0/system/CVEAllowlist", tag = "SystemCVEAllowlist",
    operation_id = "putSystemCVEAllowlist", request_body = super::model::CveAllowlist,
    responses((status = 200, description = "Replaced")))]
async fn set_system_allowlist(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    ApiJson(list): ApiJson<super::model::CveAllowlist>,
) -> Result<StatusCode, ApiError> {
    state
        .projects
        .set_system_allowlist(&ctx, &list.change())
        .await?;
    Ok(StatusCode::OK)
}

/// Anonymous callers get what a login page needs; others also the registry's settings.
#[utoipa::path(get, path = "/api/v2.0/systeminfo", tag = "systeminfo", operation_id = "getSystemInfo",
    responses((status = 200, description = "General information", body = GeneralInfo)))]
async fn systeminfo(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<GeneralInfo>, ApiError> {
    let settings = state.configurations.refresh().await?;
    let mut info = GeneralInfo {
        auth_mode: settings.auth_mode,
        primary_auth_mode: false,
        self_registration: settings.self_registration,
        banner_message: settings.banner_message,
        oidc_provider_name: settings.oidc_provider_name,
        harbor_version: None,
        current_time: None,
        external_url: None,
        registry_url: None,
        project_creation_restriction: None,
        read_only: None,
        has_ca_root: None,
        registry_storage_provider_name: None,
        notification_enable: None,
    };
    // What Harbor counts as protected: for signed-in callers only.
    if ctx.is_authenticated() {
        let host = state
            .external_url
            .split_once("://")
            .map_or(state.external_url.as_str(), |(_, h)| h);
        let restriction = if settings.admin_only_project_creation {
            "adminonly"
        } else {
            "everyone"
        };
        info = GeneralInfo {
            harbor_version: Some(concat!("berth-", env!("CARGO_PKG_VERSION")).into()),
            current_time: Some(timestamp(berth_core::now_millis())),
            external_url: Some(state.external_url.clone()),
            registry_url: Some(host.to_string()),
            project_creation_restriction: Some(restriction.into()),
            read_only: Some(settings.read_only),
            has_ca_root: Some(false),
            registry_storage_provider_name: Some("filesystem".into()),
            notification_enable: Some(settings.notifications),
            ..info
        };
    }
    Ok(Json(info))
}

/// Projects and repositories whose names contain `q`, among those the caller may see.
#[utoipa::path(get, path = "/api/v2.0/search", tag = "search", operation_id = "search",
    params(("q" = String, Query, description = "Part of a project or repository name")),
    responses((status = 200, description = "What matched", body = Search)))]
async fn search(
    S(state): S<State>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
    Ctx(ctx): Ctx,
) -> Result<Json<Search>, ApiError> {
    let term = super::query_value(q.as_deref(), "q")
        .ok_or_else(|| ApiError::bad_request("q is required"))?;
    let by_name = Filter::default().search("name", term);
    let (projects, _) = state.projects.list(&ctx, &by_name, 0, 100).await?;
    let (repos, _) = state
        .repositories
        .list(&ctx, None, &by_name, 0, 100)
        .await?;
    let mut repository = Vec::new();
    for r in repos {
        let project = r.name.split('/').next().unwrap_or("").to_string();
        let project_public = state
            .projects
            .lookup(&project)
            .await?
            .is_some_and(|p| p.public);
        repository.push(SearchRepository {
            project_id: r.project_id,
            project_name: project,
            project_public,
            repository_name: r.name,
            pull_count: r.pull_count,
            artifact_count: r.artifact_count,
        });
    }
    Ok(Json(Search {
        project: projects.iter().map(super::projects::project_json).collect(),
        repository,
    }))
}

/// Counts over what the caller may see (Harbor's `Statistic`).
#[utoipa::path(get, path = "/api/v2.0/statistics", tag = "statistic", operation_id = "getStatistic",
    responses((status = 200, description = "Counts", body = Statistic)))]
async fn statistics(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Statistic>, ApiError> {
    if !ctx.is_authenticated() {
        return Err(berth_core::CoreError::Unauthorized.into());
    }
    let [public_projects, private_projects, public_repos, private_repos, storage] =
        state.projects.statistics(&ctx).await?;
    Ok(Json(Statistic {
        public_project_count: public_projects,
        private_project_count: private_projects,
        total_project_count: public_projects + private_projects,
        public_repo_count: public_repos,
        private_repo_count: private_repos,
        total_repo_count: public_repos + private_repos,
        total_storage_consumption: storage,
    }))
}

/// What robots may be granted, system-wide and in a project.
#[utoipa::path(get, path = "/api/v2.0/permissions", tag = "permissions", operation_id = "getPermissions",
    responses((status = 200, description = "Grantable permissions", body = Permissions)))]
async fn permissions(S(state): S<State>, Ctx(ctx): Ctx) -> Result<Json<Permissions>, ApiError> {
    let (system, project) = state.iam.robots.grantable(&ctx).await?;
    let list = |grants: &[(&str, &str)]| {
        grants
            .iter()
            .map(|(resource, action)| Permission {
                resource: resource.to_string(),
                action: action.to_string(),
            })
            .collect()
    };
    Ok(Json(Permissions {
        system: list(system),
        project: list(project),
    }))
}

/// Every setting and whether it can be changed (administrators).
#[utoipa::path(get, path = "/api/v2.0/configurations", tag = "configure",
    operation_id = "getConfigurations",
    responses((status = 200, description = "The settings", body = BTreeMap<String, ConfigurationItem>)))]
async fn configurations(
    S(state): S<State>,
    Ctx(ctx): Ctx,
) -> Result<Json<BTreeMap<String, ConfigurationItem>>, ApiError> {
    let items = state.configurations.all(&ctx).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|(k, i)| {
                (
                    k.to_string(),
                    ConfigurationItem {
                        value: i.value,
                        editable: i.editable,
                    },
                )
            })
            .collect(),
    ))
}

/// Changes editable settings (administrators): `project_creation_restriction`
/// is `everyone` or `adminonly`.
#[utoipa::path(put, path = "/api/v2.0/configurations", tag = "configure",
    operation_id = "updateConfigurations", request_body = BTreeMap<String, String>,
    responses((status = 200, description = "Changed")))]
async fn update_configurations(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let changes = super::json_body(&body)?;
    state.configurations.update(&ctx, &changes).await?;
    Ok(StatusCode::OK)
}
