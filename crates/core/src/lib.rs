//! Berth's domain services. Handlers call these; these call `db` and `storage`.
//!
//! Architecture invariant: no HTTP types here; errors are domain errors that
//! the server maps to each protocol's envelope.

pub mod backup;
pub mod configurations;
pub mod error;
pub mod gc;
pub mod glob;
pub mod health;
pub mod iam;
pub mod icons;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod project;
pub mod proxy;
pub mod query;
pub mod quota;
pub mod registry;
pub mod remote;
pub mod replication;
pub mod retention;
pub mod scan;
pub mod selector;

/// Now, in Unix milliseconds (every stored time).
pub use berth_db::now_millis;
pub use configurations::Configurations;
pub use error::{CoreError, CoreResult};
pub use iam::Iam;
pub use jobs::Jobs;
pub use project::artifacts::Artifacts;
pub use project::repositories::Repositories;
pub use project::Projects;
pub use registry::{Registry, RegistryError};
pub use scan::Scans;

/// Locks a mutex, carrying on past a panic elsewhere (every guarded value
/// here stays consistent between statements).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks an RwLock the same way.
pub(crate) fn lock_write<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Harbor's timestamp format (RFC 3339, UTC) for Unix milliseconds.
pub fn timestamp(millis: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
