//! Harbor's doublestar patterns (repository, tag and CVE filters).

use crate::error::{CoreError, CoreResult};
use globset::GlobMatcher;

/// A doublestar pattern as Harbor reads one: `*` within a path segment,
/// `**` across them, `{a,b}` alternatives; None for an empty pattern
/// (everything matches). `what` names it in the error.
pub fn pattern(p: &str, what: &str) -> CoreResult<Option<GlobMatcher>> {
    if p.is_empty() {
        return Ok(None);
    }
    let glob = globset::GlobBuilder::new(p)
        .literal_separator(true)
        .build()
        .map_err(|e| CoreError::BadRequest(format!("invalid {what} pattern {p:?}: {e}")))?;
    Ok(Some(glob.compile_matcher()))
}
