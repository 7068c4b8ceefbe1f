//! The registry engine's errors.

use crate::error::CoreError;
use berth_db::DbError;
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::Digest;
use berth_storage::StorageError;

/// Why a registry operation failed; each maps to one OCI error code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    #[error("blob upload invalid: {0}")]
    UploadInvalid(String),
    #[error("provided digest did not match uploaded content")]
    DigestMismatch,
    #[error("invalid digest: {0}")]
    DigestInvalid(String),
    #[error("manifest references {0}, which is not in the repository")]
    ManifestBlobUnknown(Digest),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest is larger than {MAX_MANIFEST_SIZE} bytes")]
    ManifestTooLarge,
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("{0}")]
    SizeInvalid(String),
    #[error("chunk does not start at the upload's current offset {size}")]
    OutOfOrder { size: u64 },
    #[error("the artifact is referenced by an index and cannot be deleted")]
    Referenced,
    /// A policy refused the write or pull (the text says why).
    /// A project's policy refuses the pull (content trust, vulnerabilities).
    #[error("{0}")]
    PolicyViolation(String),
    #[error("{0}")]
    Denied(String),
    /// A tag immutability rule keeps the tag (or what it names) as it is.
    #[error("{0}")]
    Immutable(String),
    /// The project's storage quota would be exceeded (Harbor's message).
    #[error("{0}")]
    QuotaExceeded(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RegistryError {
    /// Whether it says the thing asked for is not there.
    pub fn is_unknown(&self) -> bool {
        matches!(
            self,
            RegistryError::BlobUnknown
                | RegistryError::ManifestUnknown
                | RegistryError::NameUnknown
        )
    }
}

impl From<RegistryError> for CoreError {
    fn from(e: RegistryError) -> Self {
        use RegistryError as R;
        match e {
            R::Referenced => CoreError::Precondition(e.to_string()),
            R::Denied(why) | R::QuotaExceeded(why) => CoreError::Forbidden(why),
            R::PolicyViolation(why) | R::Immutable(why) => CoreError::Precondition(why),
            R::ManifestUnknown | R::NameUnknown | R::BlobUnknown => {
                CoreError::NotFound(e.to_string())
            }
            R::Db(d) => d.into(),
            other => CoreError::Internal(other.to_string()),
        }
    }
}
