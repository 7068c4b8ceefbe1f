//! Replication's ground: the registry endpoints Berth talks to
//! (`registries`) and what each kind of registry is (`adapters`). Every
//! adapter speaks the OCI distribution API through [`crate::remote`]; what
//! differs between them is where that API lives and how they are named.

pub mod adapters;
pub mod copy;
pub mod registries;
