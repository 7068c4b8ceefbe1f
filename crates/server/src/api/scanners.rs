//! Scanner registrations: `/scanners` (CRUD, ping, default, metadata) and
//! a project's scanner (`/projects/{p}/scanner`, its candidates).

use super::model::Errors;
use super::projects::key;
use super::{created, filter, json_body, query_value, timestamp, ApiError, Ctx, ListParams, Page};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use berth_core::scan::adapter::Metadata;
use berth_core::scan::scanners::{RegistrationRequest, Scanner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(ping))
        .routes(routes!(get_one, update, delete, set_default))
        .routes(routes!(metadata))
        .routes(routes!(of_project, set_of_project))
        .routes(routes!(candidates))
}

/// A scanner registration (Harbor's `ScannerRegistration`); its
/// credential is never sent back.
#[derive(Serialize, ToSchema)]
pub struct ScannerRegistration {
    uuid: String,
    name: String,
    description: String,
    url: String,
    disabled: bool,
    is_default: bool,
    auth: String,
    #[serde(rename = "skip_certVerify")]
    skip_cert_verify: bool,
    use_internal_addr: bool,
    #[schema(format = DateTime)]
    create_time: String,
    #[schema(format = DateTime)]
    update_time: String,
    /// The scanner's name, as its adapter says.
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// `healthy` when its adapter answered, else `unhealthy`.
    health: String,
    /// `support_vulnerability`, `support_sbom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    capabilities: Option<serde_json::Value>,
}

/// Where Berth serves its built-in scanner as an adapter.
pub const ADAPTER_PATH: &str = "/scanner-adapter";

/// A registration as the API shows it; the built-in one (which Berth runs
/// in process) shows where Berth serves it as an adapter to others.
fn registration_json(s: &Scanner, external_url: &str) -> ScannerRegistration {
    let r = &s.registration;
    let meta = s.metadata.as_ref().ok();
    ScannerRegistration {
        uuid: r.uuid.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        url: match s.is_builtin() {
            true => format!("{external_url}{ADAPTER_PATH}"),
            false => r.url.clone(),
        },
        disabled: r.disabled,
        is_default: r.is_default,
        auth: r.auth.clone(),
        skip_cert_verify: r.skip_cert_verify,
        use_internal_addr: r.use_internal_addr,
        create_time: timestamp(r.creation_time),
        update_time: timestamp(r.update_time),
        adapter: meta.map(|m| m.scanner.name.clone()),
        vendor: meta.map(|m| m.scanner.vendor.clone()),
        version: meta.map(|m| m.scanner.version.clone()),
        health: s.health().into(),
        capabilities: meta.map(Metadata::support),
    }
}

/// A registration to create or its new settings
/// (`ScannerRegistrationReq`; `ScannerRegistrationSettings` to ping).
#[derive(Deserialize, ToSchema)]
struct RegistrationReq {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    url: String,
    /// `""`, `Basic`, `Bearer` or `APIKey`.
    #[serde(default)]
    auth: String,
    #[serde(default)]
    access_credential: String,
    #[serde(default, rename = "skip_certVerify")]
    skip_cert_verify: bool,
    #[serde(default)]
    use_internal_addr: bool,
    #[serde(default)]
    disabled: bool,
}

impl From<RegistrationReq> for RegistrationRequest {
    fn from(r: RegistrationReq) -> Self {
        RegistrationRequest {
            name: r.name,
            description: r.description,
            url: r.url,
            auth: r.auth,
            access_credential: r.access_credential,
            skip_cert_verify: r.skip_cert_verify,
            use_internal_addr: r.use_internal_addr,
            disabled: r.disabled,
        }
    }
}

/// A scanner's capabilities (Harbor's `ScannerCapability`).
#[derive(Serialize, ToSchema)]
pub struct ScannerCapability {
    #[serde(rename = "type")]
    kind: String,
    consumes_mime_types: Vec<String>,
    produces_mime_types: Vec<String>,
}

/// A scanner adapter's metadata (Harbor's `ScannerAdapterMetadata`).
#[derive(Serialize, ToSchema)]
pub struct ScannerAdapterMetadata {
    #[schema(value_type = Object)]
    scanner: serde_json::Value,
    capabilities: Vec<ScannerCapability>,
    properties: BTreeMap<String, String>,
}

/// `{"is_default": true}` (Harbor's `IsDefault`).
#[derive(Deserialize, ToSchema)]
struct IsDefault {
    #[serde(default)]
    is_default: bool,
}

/// The registration a project is to use (Harbor's `ProjectScanner`).
#[derive(Deserialize, ToSchema)]
struct ProjectScanner {
    #[serde(default)]
    uuid: String,
}

/// Scanner registrations (administrators); `name`, `description` and
/// `url` search as well as `q`.
#[utoipa::path(get, path = "/api/v2.0/scanners", tag = "scanner", operation_id = "listScanners",
    params(ListParams),
    responses((status = 200, description = "A page of registrations", body = [ScannerRegistration])))]
async fn list(
    S(state): S<State>,
    RawQuery(q): RawQuery,
    Ctx(ctx): Ctx,
    page: Page,
) -> Result<Response, ApiError> {
    let mut query = filter(q.as_deref());
    for k in ["name", "description", "url"] {
        if let Some(v) = query_value(q.as_deref(), k).filter(|v| !v.is_empty()) {
            query = query.search(k, v);
        }
    }
    for (k, field) in [("ex_name", "name"), ("ex_url", "url")] {
        if let Some(v) = query_value(q.as_deref(), k).filter(|v| !v.is_empty()) {
            query = query.exact(field, v);
        }
    }
    let (items, total) = (state.scans.scanners())
        .list(&ctx, &query, page.offset(), page.size)
        .await?;
    let items: Vec<ScannerRegistration> = items
        .iter()
        .map(|s| registration_json(s, &state.external_url))
        .collect();
    Ok(page.respond(items, "/api/v2.0/scanners", total))
}

/// Registers a scanner adapter, once it answers.
#[utoipa::path(post, path = "/api/v2.0/scanners", tag = "scanner", operation_id = "createScanner",
    request_body = RegistrationReq,
    responses((status = 201, description = "Registered"),
        (status = 400, description = "Invalid settings, or the adapter did not answer", body = Errors)))]
async fn create(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: RegistrationRequest = json_body::<RegistrationReq>(&body)?.into();
    let uuid = state.scans.scanners().create(&ctx, &req).await?;
    Ok(created(format!("/api/v2.0/scanners/{uuid}")))
}

/// Checks that an adapter answers with these settings.
#[utoipa::path(post, path = "/api/v2.0/scanners/ping", tag = "scanner", operation_id = "pingScanner",
    request_body = RegistrationReq,
    responses((status = 200, description = "The adapter answered"),
        (status = 400, description = "Invalid settings, or the adapter did not answer", body = Errors)))]
async fn ping(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req: RegistrationRequest = json_body::<RegistrationReq>(&body)?.into();
    state.scans.scanners().ping(&ctx, &req).await?;
    Ok(StatusCode::OK)
}

/// One registration.
#[utoipa::path(get, path = "/api/v2.0/scanners/{registration_id}", tag = "scanner",
    operation_id = "getScanner",
    responses((status = 200, description = "The registration", body = ScannerRegistration)))]
async fn get_one(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(registration_id): Path<String>,
) -> Result<Json<ScannerRegistration>, ApiError> {
    let s = state.scans.scanners().get(&ctx, &registration_id).await?;
    Ok(Json(registration_json(&s, &state.external_url)))
}

/// Changes a registration (not the built-in one); an empty
/// `access_credential` keeps the stored one.
#[utoipa::path(put, path = "/api/v2.0/scanners/{registration_id}", tag = "scanner",
    operation_id = "updateScanner", request_body = RegistrationReq,
    responses((status = 200, description = "Changed"),
        (status = 403, description = "The built-in registration", body = Errors)))]
async fn update(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(registration_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req: RegistrationRequest = json_body::<RegistrationReq>(&body)?.into();
    (state.scans.scanners())
        .update(&ctx, &registration_id, &req)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a registration (not the built-in one); when it was the
/// default, the built-in scanner is again.
#[utoipa::path(delete, path = "/api/v2.0/scanners/{registration_id}", tag = "scanner",
    operation_id = "deleteScanner",
    responses((status = 200, description = "The deleted registration", body = ScannerRegistration),
        (status = 403, description = "The built-in registration", body = Errors)))]
async fn delete(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(registration_id): Path<String>,
) -> Result<Json<ScannerRegistration>, ApiError> {
    let s = state
        .scans
        .scanners()
        .delete(&ctx, &registration_id)
        .await?;
    Ok(Json(registration_json(&s, &state.external_url)))
}

/// Makes a registration the system default.
#[utoipa::path(patch, path = "/api/v2.0/scanners/{registration_id}", tag = "scanner",
    operation_id = "setScannerAsDefault", request_body = IsDefault,
    responses((status = 200, description = "Set")))]
async fn set_default(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(registration_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req = json_body::<IsDefault>(&body)?;
    (state.scans.scanners())
        .set_default(&ctx, &registration_id, req.is_default)
        .await?;
    Ok(StatusCode::OK)
}

/// What a registration's adapter says of itself.
#[utoipa::path(get, path = "/api/v2.0/scanners/{registration_id}/metadata", tag = "scanner",
    operation_id = "getScannerMetadata",
    responses((status = 200, description = "The adapter's metadata", body = ScannerAdapterMetadata)))]
async fn metadata(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(registration_id): Path<String>,
) -> Result<Json<ScannerAdapterMetadata>, ApiError> {
    let m = state
        .scans
        .scanners()
        .metadata(&ctx, &registration_id)
        .await?;
    Ok(Json(ScannerAdapterMetadata {
        scanner: serde_json::to_value(&m.scanner).unwrap_or_default(),
        capabilities: (m.capabilities.iter())
            .map(|c| ScannerCapability {
                kind: c.kind().into(),
                consumes_mime_types: c.consumes_mime_types.clone(),
                produces_mime_types: c.produces_mime_types.clone(),
            })
            .collect(),
        properties: m.properties,
    }))
}

/// The scanner a project's scans use (its own, else the default).
#[utoipa::path(get, path = "/api/v2.0/projects/{project_name_or_id}/scanner", tag = "project",
    operation_id = "getScannerOfProject",
    responses((status = 200, description = "The registration", body = ScannerRegistration)))]
async fn of_project(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(project_name_or_id): Path<String>,
) -> Result<Json<ScannerRegistration>, ApiError> {
    let p = key(&headers, &project_name_or_id);
    let s = state.scans.scanners().of_project(&ctx, &p).await?;
    Ok(Json(registration_json(&s, &state.external_url)))
}

/// Sets the scanner of a project.
#[utoipa::path(put, path = "/api/v2.0/projects/{project_name_or_id}/scanner", tag = "project",
    operation_id = "setScannerOfProject", request_body = ProjectScanner,
    responses((status = 200, description = "Set")))]
async fn set_of_project(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(project_name_or_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let req = json_body::<ProjectScanner>(&body)?;
    let p = key(&headers, &project_name_or_id);
    (state.scans.scanners())
        .set_of_project(&ctx, &p, &req.uuid)
        .await?;
    Ok(StatusCode::OK)
}

/// The registrations a project may choose from.
#[utoipa::path(get, path = "/api/v2.0/projects/{project_name_or_id}/scanner/candidates",
    tag = "project", operation_id = "listScannerCandidatesOfProject", params(ListParams),
    responses((status = 200, description = "A page of registrations", body = [ScannerRegistration])))]
async fn candidates(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path(project_name_or_id): Path<String>,
    page: Page,
) -> Result<Response, ApiError> {
    let p = key(&headers, &project_name_or_id);
    let (items, total) = (state.scans.scanners())
        .candidates(&ctx, &p, &filter(q.as_deref()), page.offset(), page.size)
        .await?;
    let items: Vec<ScannerRegistration> = items
        .iter()
        .map(|s| registration_json(s, &state.external_url))
        .collect();
    let path = format!("/api/v2.0/projects/{project_name_or_id}/scanner/candidates");
    Ok(page.respond(items, &path, total))
}
