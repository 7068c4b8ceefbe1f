//! Pure OCI spec types: digests, repository names, references, media types,
//! manifest parsing and validation, byte ranges and the spec's error codes,
//! and what Harbor reads of artifacts (their types, Helm charts' archives).
//!
//! Architecture invariant: this crate does no I/O of its own (its parsers
//! take bytes or a `Read`) and nothing async, so every parser here can be
//! fuzzed and tested exhaustively.

pub mod artifact;
pub mod chart;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod media;
pub mod name;
pub mod range;
pub mod reference;

pub use digest::{Digest, DigestError};
pub use error::ErrorCode;
pub use manifest::{Descriptor, Manifest, ManifestError, ManifestKind};
pub use name::{NameError, RepositoryName};
pub use range::{ByteRange, RangeError};
pub use reference::{Reference, ReferenceError, Tag};
