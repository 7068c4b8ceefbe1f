//! Scanning an artifact: start, stop, a report's log.

use super::artifacts::{reference, repo};
use super::{json_body, ApiError, Ctx};
use crate::State;
use axum::body::Bytes;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(scan))
        .routes(routes!(stop))
        .routes(routes!(log))
}

/// Harbor's `ScanType`: `vulnerability` (the default) or `sbom`.
#[derive(Deserialize, ToSchema, Default)]
pub struct ScanType {
    #[serde(default)]
    scan_type: Option<String>,
}

/// The scan type a request names; the body is optional for a scan.
fn scan_type(body: &[u8], required: bool) -> Result<berth_core::scan::ScanType, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ApiError::bad_request("scan_type is required"))
        } else {
            Ok(berth_core::scan::ScanType::Vulnerability)
        };
    }
    let t: ScanType = json_body(body)?;
    let word = t.scan_type.as_deref().unwrap_or("vulnerability");
    berth_core::scan::ScanType::parse(word).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid scan_type {word:?}: it must be vulnerability or sbom"
        ))
    })
}

/// Starts a scan of the artifact (an index: of each image in it): a
/// vulnerability report, or with `scan_type: sbom` an SBOM pushed as its
/// accessory; it runs as a job, and the artifact's `scan_overview` or
/// `sbom_overview` follows it.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/scan",
    tag = "scan", operation_id = "scanArtifact", request_body(content = Option<ScanType>),
    responses((status = 202, description = "The scan is queued"),
        (status = 409, description = "An earlier scan has not ended", body = super::model::Errors)))]
async fn scan(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    let reference = reference(&reference_s)?;
    let scan_type = scan_type(&body, false)?;
    state.scans.scan(&ctx, &repo, &reference, scan_type).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Stops the artifact's running scan.
#[utoipa::path(post, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/scan/stop",
    tag = "scan", operation_id = "stopScanArtifact", request_body = ScanType,
    responses((status = 202, description = "Stopping")))]
async fn stop(
    S(state): S<State>,
    Path((p, r, reference_s)): Path<(String, String, String)>,
    Ctx(ctx): Ctx,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let repo = repo(&p, &r)?;
    let reference = reference(&reference_s)?;
    let scan_type = scan_type(&body, true)?;
    state.scans.stop(&ctx, &repo, &reference, scan_type).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The log of the scan that made a report.
#[utoipa::path(get, path = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}/scan/{report_id}/log",
    tag = "scan", operation_id = "getReportLog",
    responses((status = 200, description = "The log", body = String, content_type = "text/plain")))]
async fn log(
    S(state): S<State>,
    Path((p, r, reference_s, report_id)): Path<(String, String, String, String)>,
    Ctx(ctx): Ctx,
) -> Result<Response, ApiError> {
    let repo = repo(&p, &r)?;
    reference(&reference_s)?;
    let log = state.scans.log(&ctx, &repo, &report_id).await?;
    Ok(super::jobservice::text(log))
}
