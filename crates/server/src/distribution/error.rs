//! OCI error responses: `{"errors":[{"code","message","detail"}]}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::RegistryError;
use berth_oci::ErrorCode;

/// An error as the distribution spec shapes it.
#[derive(Debug)]
pub struct OciError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    detail: Option<serde_json::Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl OciError {
    /// An error with the code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => StatusCode::NOT_FOUND,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::status(status, code, message)
    }

    /// An error with an explicit status.
    pub fn status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        OciError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<RegistryError> for OciError {
    fn from(e: RegistryError) -> Self {
        use ErrorCode as C;
        use RegistryError as R;
        let msg = e.to_string();
        match e {
            R::BlobUnknown => OciError::new(C::BlobUnknown, msg),
            R::UploadUnknown => OciError::new(C::BlobUploadUnknown, msg),
            R::UploadInvalid(_) => OciError::new(C::BlobUploadInvalid, msg),
            R::DigestMismatch | R::DigestInvalid(_) => OciError::new(C::DigestInvalid, msg),
            R::ManifestBlobUnknown(d) => OciError::new(C::ManifestBlobUnknown, msg)
                .detail(serde_json::json!({ "digest": d.to_string() })),
            R::ManifestInvalid(_) => OciError::new(C::ManifestInvalid, msg),
            R::ManifestTooLarge => {
                OciError::status(StatusCode::PAYLOAD_TOO_LARGE, C::ManifestInvalid, msg)
            }
            R::ManifestUnknown => OciError::new(C::ManifestUnknown, msg),
            R::NameUnknown => OciError::new(C::NameUnknown, msg),
            R::SizeInvalid(_) => OciError::new(C::SizeInvalid, msg),
            R::OutOfOrder { size } => {
                OciError::status(StatusCode::RANGE_NOT_SATISFIABLE, C::BlobUploadInvalid, msg)
                    .header(header::RANGE, upload_range(size))
            }
            R::Referenced | R::Immutable(_) => {
                OciError::status(StatusCode::PRECONDITION_FAILED, C::Denied, msg)
            }
            R::Denied(_) | R::QuotaExceeded(_) => {
                OciError::status(StatusCode::FORBIDDEN, C::Denied, msg)
            }
            R::PolicyViolation(_) => OciError::status(
                StatusCode::PRECONDITION_FAILED,
                C::ProjectPolicyViolation,
                msg,
            ),
            R::Db(_) | R::Storage(_) => {
                tracing::error!(error = %msg, "internal error");
                OciError::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    C::Unknown,
                    "internal server error",
                )
            }
        }
    }
}

/// The `Range` value describing an upload's received bytes (`0-<last>`).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let mut err = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(d) = self.detail {
            err["detail"] = d;
        }
        let body = serde_json::json!({ "errors": [err] }).to_string();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}
