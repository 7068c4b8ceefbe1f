//! Replication: the registry endpoints Berth talks to (`registries`), what
//! each kind of registry is (`adapters`), the rules (`policies`, with
//! their `filters`), their runs (`flow`: one job plans a run, one task per
//! artifact carries it out) and the copy of one artifact (`copy`). Every
//! adapter speaks the OCI distribution API through [`crate::remote`].

pub mod adapters;
pub mod copy;
pub mod filters;
pub mod flow;
pub mod policies;
pub mod registries;
