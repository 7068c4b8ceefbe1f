//! A rule's filters (Harbor's `name`, `tag`, `resource` and `label`),
//! applied as Harbor applies them: the name to the whole repository name,
//! each tag filter in turn to the tags an artifact still has (an untagged
//! artifact is matched as the empty tag), all with doublestar patterns.

use super::policies::FilterSpec;
use crate::error::{CoreError, CoreResult};
use crate::glob::pattern;
use globset::GlobMatcher;

/// A tag filter.
struct TagFilter {
    /// None: every tag.
    glob: Option<GlobMatcher>,
    excludes: bool,
}

/// A rule's filters, checked.
#[derive(Default)]
pub struct Filters {
    name: Option<GlobMatcher>,
    /// The name pattern as written (for the names it stands for).
    name_pattern: String,
    tags: Vec<TagFilter>,
    /// `image` or `artifact` (everything).
    resource: Option<String>,
}

impl Filters {
    /// Checks filters as Harbor does; label filters are refused (not built yet).
    pub fn parse(specs: &[FilterSpec]) -> CoreResult<Filters> {
        let bad = |m: &str| CoreError::BadRequest(m.to_string());
        let mut f = Filters::default();
        for spec in specs {
            let text = || {
                spec.value
                    .as_str()
                    .ok_or_else(|| bad("the type of filter value isn't string"))
            };
            match spec.kind.as_str() {
                "name" | "resource" if !spec.decoration.is_empty() => {
                    return Err(bad("only tag and label filter support decoration"))
                }
                "name" => {
                    f.name = pattern(text()?, "name")?;
                    f.name_pattern = text()?.to_string();
                }
                "resource" => match text()? {
                    "" => {}
                    r @ ("image" | "artifact") => f.resource = Some(r.to_string()),
                    r => return Err(bad(&format!("invalid resource filter: {r}"))),
                },
                "tag" => {
                    let excludes = match spec.decoration.as_str() {
                        "" | "matches" => false,
                        "excludes" => true,
                        d => return Err(bad(&format!("invalid filter decoration, :{d}"))),
                    };
                    let glob = pattern(text()?, "tag")?;
                    f.tags.push(TagFilter { glob, excludes });
                }
                "label" => return Err(bad("label filters are not supported yet")),
                _ => return Err(bad("invalid filter type")),
            }
        }
        Ok(f)
    }

    /// Whether a repository's name passes the name filter.
    pub fn repository(&self, name: &str) -> bool {
        self.name.as_ref().is_none_or(|g| g.is_match(name))
    }

    /// The repository names the name filter stands for when it names them
    /// all (`a/b`, `a/{b,c}`): a registry whose catalog cannot be listed
    /// (Docker Hub's) can still be read from. None when it is a pattern.
    pub fn exact_names(&self) -> Option<Vec<String>> {
        let mut names = vec![String::new()];
        if self.name_pattern.is_empty() {
            return None;
        }
        for component in self.name_pattern.split('/') {
            let options = exact_component(component)?;
            names = (names.iter())
                .flat_map(|n| {
                    options.iter().map(move |o| match n.is_empty() {
                        true => o.clone(),
                        false => format!("{n}/{o}"),
                    })
                })
                .collect();
        }
        Some(names)
    }

    /// Whether an artifact of this Harbor type (`IMAGE`, `CHART` …; None
    /// when unknown, as for another registry's) passes the resource filter.
    pub fn resource(&self, harbor_type: Option<&str>) -> bool {
        match (self.resource.as_deref(), harbor_type) {
            (Some("image"), Some(t)) => t.eq_ignore_ascii_case("IMAGE"),
            _ => true,
        }
    }

    /// The tags of an artifact the tag filters keep, or None when they
    /// drop it (an untagged artifact is kept with no tags, as the empty
    /// tag it is matched as).
    pub fn tags(&self, tags: &[String]) -> Option<Vec<String>> {
        let mut kept = tags.to_vec();
        for f in &self.tags {
            let Some(glob) = &f.glob else { continue };
            if kept.is_empty() {
                if glob.is_match("") == f.excludes {
                    return None;
                }
                continue;
            }
            kept.retain(|t| glob.is_match(t) != f.excludes);
            if kept.is_empty() {
                return None;
            }
        }
        Some(kept)
    }
}

/// `{a,b}` and plain names: the names a path component stands for; None
/// for a pattern.
fn exact_component(c: &str) -> Option<Vec<String>> {
    if c.is_empty() || c.contains(['*', '?', '[', ']', '\\', '^']) {
        return None;
    }
    if !c.contains(['{', '}', ',']) {
        return Some(vec![c.to_string()]);
    }
    if c.matches('{').count() != 1 {
        return None;
    }
    let (prefix, rest) = c.split_once('{')?;
    let (inner, suffix) = rest.rsplit_once('}')?;
    Some(
        inner
            .split(',')
            .map(|o| format!("{prefix}{o}{suffix}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, value: &str, decoration: &str) -> FilterSpec {
        FilterSpec {
            kind: kind.into(),
            value: value.into(),
            decoration: decoration.into(),
        }
    }

    fn v(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn filters_match_as_harbor_matches() {
        let f = Filters::parse(&[
            spec("name", "library/**", ""),
            spec("tag", "v*", ""),
            spec("tag", "*-rc", "excludes"),
        ])
        .unwrap();
        assert!(f.repository("library/a/b"));
        assert!(!f.repository("other/a"));
        assert_eq!(f.tags(&v(&["v1", "v2-rc", "latest"])), Some(v(&["v1"])));
        assert_eq!(f.tags(&v(&["latest"])), None);
        assert_eq!(f.tags(&[]), None, "untagged does not match v*");
        let all = Filters::parse(&[spec("tag", "", "")]).unwrap();
        assert_eq!(all.tags(&[]), Some(vec![]));
        let not_v = Filters::parse(&[spec("tag", "v*", "excludes")]).unwrap();
        assert_eq!(not_v.tags(&[]), Some(vec![]), "untagged is not excluded");
    }

    #[test]
    fn exact_names_are_expanded() {
        let names = |p: &str| {
            Filters::parse(&[spec("name", p, "")])
                .unwrap()
                .exact_names()
        };
        assert_eq!(names("library/hello"), Some(v(&["library/hello"])));
        assert_eq!(names("a/{b,c}"), Some(v(&["a/b", "a/c"])));
        assert_eq!(names("a/*"), None);
        assert_eq!(names("**"), None);
    }

    #[test]
    fn bad_filters_are_refused() {
        let err = |s: FilterSpec| Filters::parse(&[s]).err().unwrap().to_string();
        assert_eq!(
            err(spec("resource", "chart", "")),
            "invalid resource filter: chart"
        );
        assert_eq!(
            err(spec("name", "a", "excludes")),
            "only tag and label filter support decoration"
        );
        assert_eq!(err(spec("other", "a", "")), "invalid filter type");
        assert!(err(spec("label", "a", "")).starts_with("label filters"));
    }
}
