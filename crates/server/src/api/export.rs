//! CVE export: `/export/cve` (start), `/export/cve/executions`,
//! `/export/cve/execution/{id}` and `/export/cve/download/{id}`.

use super::model::Errors;
use super::{json_body, path_id, timestamp, ApiError, Ctx};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_core::scan::export::{ExportCriteria, ExportRun};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(executions))
        .routes(routes!(execution))
        .routes(routes!(download))
}

/// What to export (Harbor's `ScanDataExportRequest`).
#[derive(Deserialize, ToSchema)]
struct ScanDataExportRequest {
    #[serde(default)]
    job_name: String,
    /// Exactly one project id.
    #[serde(default)]
    projects: Vec<i64>,
    #[serde(default)]
    labels: Vec<i64>,
    /// A doublestar pattern of repository names (`**`, `{a,b}`).
    #[serde(default)]
    repositories: String,
    /// `CVE-…` or `{CVE-…,CVE-…}`.
    #[serde(default, rename = "cveIds")]
    cve_ids: String,
    /// A doublestar pattern of tags.
    #[serde(default)]
    tags: String,
}

/// The export run started (Harbor's `ScanDataExportJob`).
#[derive(Serialize, ToSchema)]
pub struct ScanDataExportJob {
    id: i64,
}

/// An export run (Harbor's `ScanDataExportExecution`).
#[derive(Serialize, ToSchema)]
pub struct ScanDataExportExecution {
    id: i64,
    user_id: i64,
    status: String,
    trigger: String,
    #[schema(format = DateTime)]
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    end_time: Option<String>,
    status_text: String,
    user_name: String,
    file_present: bool,
}

/// The caller's export runs (Harbor's `ScanDataExportExecutionList`).
#[derive(Serialize, ToSchema)]
pub struct ScanDataExportExecutionList {
    items: Vec<ScanDataExportExecution>,
}

fn execution_json(r: ExportRun) -> ScanDataExportExecution {
    let e = r.execution;
    let status_text = match (e.status.as_str(), e.status_message.is_empty()) {
        ("Error", true) => {
            "Please contact the system administrator to check the logs of jobservice.".into()
        }
        _ => e.status_message,
    };
    ScanDataExportExecution {
        id: e.id,
        user_id: r.user_id,
        status: e.status,
        trigger: e.trigger,
        start_time: timestamp(e.start_time),
        end_time: e.end_time.map(timestamp),
        status_text,
        user_name: r.user_name,
        file_present: r.file_present,
    }
}

/// Exports a project's findings to CSV, as a job; its run's id. The
/// `X-Scan-Data-Type` header must name the vulnerability report type.
#[utoipa::path(post, path = "/api/v2.0/export/cve", tag = "scan data export",
    operation_id = "exportScanData", request_body = ScanDataExportRequest,
    responses((status = 200, description = "Started", body = ScanDataExportJob),
        (status = 400, description = "Bad criteria or data type", body = Errors),
        (status = 404, description = "No such project or label", body = Errors)))]
async fn start(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<ScanDataExportJob>, ApiError> {
    let req = json_body::<ScanDataExportRequest>(&body)?;
    let data_type = (headers.get("X-Scan-Data-Type"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let criteria = ExportCriteria {
        job_name: req.job_name,
        projects: req.projects,
        labels: req.labels,
        repositories: req.repositories,
        cve_ids: req.cve_ids,
        tags: req.tags,
    };
    let id = state.scans.export_cves(&ctx, data_type, criteria).await?;
    Ok(Json(ScanDataExportJob { id }))
}

/// The caller's export runs, newest first.
#[utoipa::path(get, path = "/api/v2.0/export/cve/executions", tag = "scan data export",
    operation_id = "getScanDataExportExecutionList",
    responses((status = 200, description = "The runs", body = ScanDataExportExecutionList)))]
async fn executions(
    S(state): S<State>,
    Ctx(ctx): Ctx,
) -> Result<Json<ScanDataExportExecutionList>, ApiError> {
    let runs = state.scans.cve_exports(&ctx).await?;
    Ok(Json(ScanDataExportExecutionList {
        items: runs.into_iter().map(execution_json).collect(),
    }))
}

/// One of the caller's export runs.
#[utoipa::path(get, path = "/api/v2.0/export/cve/execution/{execution_id}",
    tag = "scan data export", operation_id = "getScanDataExportExecution",
    responses((status = 200, description = "The run", body = ScanDataExportExecution),
        (status = 403, description = "Another user's", body = Errors),
        (status = 404, description = "No such run", body = Errors)))]
async fn execution(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(execution_id): Path<String>,
) -> Result<Json<ScanDataExportExecution>, ApiError> {
    let id = path_id(&execution_id, "execution_id")?;
    let run = state.scans.cve_export(&ctx, id).await?;
    Ok(Json(execution_json(run)))
}

/// The CSV file of one of the caller's runs; downloaded once, then gone.
#[utoipa::path(get, path = "/api/v2.0/export/cve/download/{execution_id}",
    tag = "scan data export", operation_id = "downloadScanData",
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        (status = 403, description = "Another user's", body = Errors),
        (status = 404, description = "No file", body = Errors)))]
async fn download(
    S(state): S<State>,
    Ctx(ctx): Ctx,
    Path(execution_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&execution_id, "execution_id")?;
    let csv = state.scans.download_cve_export(&ctx, id).await?;
    Ok(csv_file(id, csv))
}

/// An export's CSV as a download, named as Harbor names it (the API's and
/// the portal's answer alike).
pub(crate) fn csv_file(id: i64, csv: String) -> Response {
    let mut resp = csv.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"scandata_export_{id}.csv\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
