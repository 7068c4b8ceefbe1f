//! Harbor's error envelope: `{"errors":[{"code","message"}]}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_core::CoreError;

/// An `/api` error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// A code other than the status's own (`DENIED` in read-only mode).
    code: Option<&'static str>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }

    /// An error with its own code.
    pub fn with_code(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code: Some(code),
            ..Self::new(status, message)
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn code(&self) -> &'static str {
        if let Some(c) = self.code {
            return c;
        }
        match self.status {
            StatusCode::BAD_REQUEST => "BAD_REQUEST",
            StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
            StatusCode::FORBIDDEN => "FORBIDDEN",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
            StatusCode::CONFLICT => "CONFLICT",
            StatusCode::PRECONDITION_FAILED => "PRECONDITION",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
            StatusCode::TOO_MANY_REQUESTS => "TOO_MANY_REQUESTS",
            StatusCode::PAYLOAD_TOO_LARGE => "REQUEST_ENTITY_TOO_LARGE",
            StatusCode::URI_TOO_LONG => "URI_TOO_LONG",
            _ => "UNKNOWN",
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CoreError::Unauthorized | CoreError::SignInUnavailable(_) => StatusCode::UNAUTHORIZED,
            CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Precondition(_) => StatusCode::PRECONDITION_FAILED,
            CoreError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::Db(_) | CoreError::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "errors": [{ "code": self.code(), "message": self.message }] });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"harbor\""),
            );
        }
        resp
    }
}
