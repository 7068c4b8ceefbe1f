//! Berth's domain services. Handlers call these; these call `db` and `storage`.
//!
//! Architecture invariant: no HTTP types here; errors are domain errors that
//! the server maps to each protocol's envelope.

pub mod registry;

pub use registry::{Registry, RegistryError};
