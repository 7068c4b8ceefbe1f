//! Berth's domain services. Handlers call these; these call `db` and `storage`.
//!
//! Architecture invariant: no HTTP types here; errors are domain errors that
//! the server maps to each protocol's envelope.

pub mod artifacts;
pub mod configurations;
pub mod error;
pub mod iam;
pub mod projects;
pub mod registry;
pub mod repositories;

pub use artifacts::Artifacts;
pub use configurations::Configurations;
pub use error::{CoreError, CoreResult};
pub use iam::Iam;
pub use projects::Projects;
pub use registry::{Registry, RegistryError};
pub use repositories::Repositories;
