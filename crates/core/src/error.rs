//! Errors of the management services (everything but the `/v2` engine).

use berth_db::DbError;

/// Why a management operation failed; the API maps each to Harbor's codes.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized,
    /// Credentials could not be checked: the directory users sign in
    /// through did not answer (a 401 with this message, never a 5xx).
    #[error("{0}")]
    SignInUnavailable(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Precondition(String),
    /// Too many failed logins (for this user, or from this address).
    #[error("{0}")]
    TooManyAttempts(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// A write's error: `Conflict(what)` when it broke a unique key (the
    /// name is taken), the database error otherwise.
    pub fn taken(e: DbError, what: impl Into<String>) -> Self {
        if e.is_unique_violation() {
            CoreError::Conflict(what.into())
        } else {
            e.into()
        }
    }
}

/// Result of a management operation.
pub type CoreResult<T> = Result<T, CoreError>;

impl From<berth_db::query::QueryError> for CoreError {
    fn from(e: berth_db::query::QueryError) -> Self {
        CoreError::BadRequest(e.to_string())
    }
}
