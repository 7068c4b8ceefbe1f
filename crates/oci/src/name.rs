//! Repository names: the spec's grammar, plus Berth's `project/repository` rule.

use std::fmt;

/// Longest repository name accepted (Harbor's limit).
pub const MAX_NAME_LEN: usize = 255;

/// A validated repository name with at least two components, the first being the project.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

/// Why a string is not a repository name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name must not be longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("invalid repository name component {0:?}")]
    BadComponent(String),
    #[error("repository name must be <project>/<repository>")]
    NoProject,
}

impl RepositoryName {
    /// Parses a name per `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        let mut count = 0;
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(NameError::BadComponent(
                    component.chars().take(64).collect(),
                ));
            }
            count += 1;
        }
        if count < 2 {
            return Err(NameError::NoProject);
        }
        Ok(RepositoryName(s.to_string()))
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project: the first path component.
    pub fn project(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or any run of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or "-"+; it is always followed by an alnum
        // because the last byte is alnum.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_spec_names() {
        for n in [
            "library/alpine",
            "a/b/c",
            "my-proj/app.v2",
            "p/a__b",
            "p/a---b",
            "p0/x_y",
        ] {
            assert!(RepositoryName::parse(n).is_ok(), "{n}");
        }
        assert_eq!(RepositoryName::parse("lib/x").unwrap().project(), "lib");
    }

    #[test]
    fn rejects_bad_names() {
        for n in [
            "alpine", "", "/a", "a/", "a//b", "A/b", "a/b_", "a/.b", "a/b___c", "a/b._c", "a/../b",
            "a/b c", "a/b%2f",
        ] {
            assert!(RepositoryName::parse(n).is_err(), "{n}");
        }
        assert_eq!(
            RepositoryName::parse(&format!("a/{}", "b".repeat(300))),
            Err(NameError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = RepositoryName::parse(&s);
        }

        #[test]
        fn valid_names_have_no_dot_segments(s in "[a-z0-9._/-]{1,40}") {
            if let Ok(n) = RepositoryName::parse(&s) {
                prop_assert!(n.as_str().split('/').all(|c| c != "." && c != ".."));
            }
        }
    }
}
