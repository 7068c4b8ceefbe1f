//! Harbor's selectors, as tag immutability and retention rules use them:
//! a doublestar pattern that a repository or tag name matches or must not
//! match.

use crate::error::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One selector (Harbor's `ImmutableSelector` / retention selector).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Selector {
    /// `doublestar`.
    pub kind: String,
    /// `matches` / `excludes` for tags, `repoMatches` / `repoExcludes` for
    /// repositories.
    pub decoration: String,
    pub pattern: String,
    /// Harbor's extra settings as JSON text (`{"untagged":true}`).
    pub extras: String,
}

/// A rule as Harbor writes tag immutability and retention rules: what it
/// does (`action`, `template` with `params`) to the tags and repositories
/// its selectors pick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub id: i64,
    pub priority: i64,
    pub disabled: bool,
    pub action: String,
    pub template: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub tag_selectors: Vec<Selector>,
    pub scope_selectors: BTreeMap<String, Vec<Selector>>,
}

/// What a selector picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Repository,
    Tag,
}

impl Selector {
    /// The decorations a selector on `on` may have: (keep, drop).
    fn decorations(on: On) -> (&'static str, &'static str) {
        match on {
            On::Repository => ("repoMatches", "repoExcludes"),
            On::Tag => ("matches", "excludes"),
        }
    }

    /// Checks it as Harbor's selector index would build it.
    pub fn check(&self, on: On) -> CoreResult<()> {
        if self.kind != "doublestar" {
            return Err(CoreError::BadRequest(format!(
                "selector kind {:?} is not supported: doublestar is",
                self.kind
            )));
        }
        let (keep, drop) = Self::decorations(on);
        if self.decoration != keep && self.decoration != drop {
            return Err(CoreError::BadRequest(format!(
                "selector decoration {:?} is not one of {keep}, {drop}",
                self.decoration
            )));
        }
        crate::glob::pattern(&self.pattern, "selector pattern")?;
        Ok(())
    }

    /// Whether `name` is selected (a selector that does not check out
    /// selects nothing).
    pub fn selects(&self, on: On, name: &str) -> bool {
        let Ok(pattern) = crate::glob::pattern(&self.pattern, "selector pattern") else {
            return false;
        };
        let matched = pattern.is_none_or(|m| m.is_match(name));
        let (keep, _) = Self::decorations(on);
        matched == (self.decoration == keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(decoration: &str, pattern: &str) -> Selector {
        Selector {
            kind: "doublestar".into(),
            decoration: decoration.into(),
            pattern: pattern.into(),
            extras: String::new(),
        }
    }

    #[test]
    fn doublestar_selectors_keep_or_drop() {
        assert!(sel("matches", "v1.*").selects(On::Tag, "v1.2"));
        assert!(!sel("matches", "v1.*").selects(On::Tag, "v2.0"));
        assert!(sel("excludes", "latest").selects(On::Tag, "v2.0"));
        assert!(!sel("excludes", "latest").selects(On::Tag, "latest"));
        assert!(sel("repoMatches", "**").selects(On::Repository, "a/b/c"));
        assert!(sel("repoMatches", "{app,web}").selects(On::Repository, "web"));
        assert!(!sel("repoExcludes", "app").selects(On::Repository, "app"));
        assert!(sel("matches", "v1.*").check(On::Tag).is_ok());
        assert!(sel("repoMatches", "x").check(On::Tag).is_err());
        assert!(sel("matches", "[").check(On::Tag).is_err());
    }
}
