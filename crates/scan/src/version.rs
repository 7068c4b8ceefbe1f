//! Each ecosystem's own order of versions, as OSV ranges are written in it.

use std::cmp::Ordering;

/// How an ecosystem orders its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg --compare-versions`).
    Dpkg,
    /// Alpine (`apk version -t`).
    Apk,
    /// Red Hat and its rebuilds, SUSE (`rpmvercmp` over epoch, version, release).
    Rpm,
    /// Semantic Versioning 2.0 (crates.io, npm, Go with its `v` prefix).
    Semver,
    /// PEP 440 (PyPI).
    Pep440,
    /// Maven's `ComparableVersion`.
    Maven,
}

impl Scheme {
    /// The scheme of an OSV ecosystem (`Debian:12`, `PyPI` …); None for
    /// one whose order Berth does not know (only its listed versions match).
    pub fn of(ecosystem: &str) -> Option<Scheme> {
        let family = ecosystem.split(':').next().unwrap_or_default();
        Some(match family {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" => Scheme::Apk,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia" => Scheme::Rpm,
            "crates.io" | "npm" | "Go" | "Hex" | "Pub" => Scheme::Semver,
            "PyPI" => Scheme::Pep440,
            "Maven" => Scheme::Maven,
            _ => return None,
        })
    }

    /// Compares two versions; None when either is not a version of this
    /// scheme.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Scheme::Dpkg => {
                let a: debversion::Version = a.parse().ok()?;
                let b: debversion::Version = b.parse().ok()?;
                Some(a.cmp(&b))
            }
            Scheme::Apk => Some(apk(a).cmp(&apk(b))),
            Scheme::Rpm => Some(rpm_evr(a, b)),
            Scheme::Semver => Some(semver(a)?.cmp_precedence(&semver(b)?)),
            Scheme::Pep440 => {
                let a: pep440_rs::Version = a.parse().ok()?;
                let b: pep440_rs::Version = b.parse().ok()?;
                Some(a.cmp(&b))
            }
            Scheme::Maven => Some(maven_cmp(&maven(a), &maven(b))),
        }
    }
}

/// A semantic version, leniently: Go's `v` prefix, and `1.2` as `1.2.0`.
fn semver(v: &str) -> Option<semver::Version> {
    let v = v.trim().trim_start_matches('v');
    if let Ok(parsed) = semver::Version::parse(v) {
        return Some(parsed);
    }
    let end = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(end);
    let parts = core.split('.').count();
    if parts == 0 || parts > 2 {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - parts));
    semver::Version::parse(&padded).ok()
}

/// An Alpine version as apk orders it: numbers, a letter, suffixes
/// (`_alpha` … `_rc` before the release, `_cvs` … `_p` after), `-rN`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Apk {
    numbers: Vec<u64>,
    letter: Option<char>,
    suffixes: Vec<(i8, u64)>,
    revision: u64,
}

fn apk(v: &str) -> Apk {
    let (v, revision) = match v.rsplit_once("-r") {
        Some((head, r)) if r.bytes().all(|b| b.is_ascii_digit()) => (head, r.parse().unwrap_or(0)),
        _ => (v, 0),
    };
    let v = v.split('~').next().unwrap_or_default();
    let mut parts = v.split('_');
    let mut head = parts.next().unwrap_or_default();
    let mut letter = None;
    if let Some(c) = head.chars().last().filter(|c| c.is_ascii_lowercase()) {
        letter = Some(c);
        head = &head[..head.len() - 1];
    }
    let numbers = head.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    let mut suffixes: Vec<(i8, u64)> = parts
        .map(|s| {
            let digits = s.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let name = &s[..s.len() - digits.len()];
            let rank = match name {
                "alpha" => -4,
                "beta" => -3,
                "pre" => -2,
                "rc" => -1,
                "cvs" => 1,
                "svn" => 2,
                "git" => 3,
                "hg" => 4,
                "p" => 5,
                _ => 0,
            };
            (rank, digits.parse().unwrap_or(0))
        })
        .collect();
    // No suffix sorts between the pre-release and the post-release ones.
    suffixes.push((0, 0));
    Apk {
        numbers,
        letter,
        suffixes,
        revision,
    }
}

/// `[epoch:]version[-release]` in rpm's order.
fn rpm_evr(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, Option<&str>) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) => {
                (e.parse().unwrap_or(0), rest)
            }
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((version, release)) => (epoch, version, Some(release)),
            None => (epoch, rest, None),
        }
    }
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            // A range without a release covers every release of the version.
            _ => Ordering::Equal,
        })
}

/// rpm's segment-by-segment comparison: runs of digits compare as numbers
/// and beat runs of letters; `~` sorts before anything, `^` after the end.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let skip = |s: &[u8]| -> usize {
        s.iter()
            .take_while(|c| !c.is_ascii_alphanumeric() && **c != b'~' && **c != b'^')
            .count()
    };
    loop {
        a = &a[skip(a)..];
        b = &b[skip(b)..];
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(_)) => {
                let numeric = x.is_ascii_digit();
                let run = |s: &[u8]| {
                    s.iter()
                        .take_while(|c| {
                            if numeric {
                                c.is_ascii_digit()
                            } else {
                                c.is_ascii_alphabetic()
                            }
                        })
                        .count()
                };
                let (na, nb) = (run(a), run(b));
                if nb == 0 {
                    // A number beats letters.
                    return if numeric {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    };
                }
                let (sa, sb) = (&a[..na], &b[..nb]);
                let order = if numeric {
                    let trim = |s: &[u8]| {
                        let zeros = s.iter().take_while(|c| **c == b'0').count();
                        s[zeros..].to_vec()
                    };
                    let (ta, tb) = (trim(sa), trim(sb));
                    ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
                } else {
                    sa.cmp(sb)
                };
                if order != Ordering::Equal {
                    return order;
                }
                a = &a[na..];
                b = &b[nb..];
            }
        }
    }
}

/// One item of a Maven version: numbers above qualifiers, and qualifiers
/// in Maven's order (`alpha` < `beta` < `milestone` < `rc` < `snapshot` <
/// release < `sp` < any other word).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum MavenItem {
    Qualifier(u8, String),
    Number(u64),
}

fn maven(v: &str) -> Vec<MavenItem> {
    let mut items = Vec::new();
    let lower = v.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        rest = rest.trim_start_matches(['.', '-', '_']);
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n = if digits > 0 {
            digits
        } else {
            rest.bytes()
                .take_while(|b| !b.is_ascii_digit() && !b".-_".contains(b))
                .count()
        };
        if n == 0 {
            break;
        }
        let token = &rest[..n];
        rest = &rest[n..];
        items.push(if digits > 0 {
            MavenItem::Number(token.parse().unwrap_or(u64::MAX))
        } else {
            let rank = match token {
                "alpha" | "a" => 0,
                "beta" | "b" => 1,
                "milestone" | "m" => 2,
                "rc" | "cr" => 3,
                "snapshot" => 4,
                "ga" | "final" | "release" => 5,
                "sp" => 6,
                _ => 7,
            };
            MavenItem::Qualifier(
                rank,
                if rank == 7 {
                    token.into()
                } else {
                    String::new()
                },
            )
        });
    }
    items
}

/// Maven's comparison: a shorter version is padded with items that equal
/// `0` and the release (so `1.0-rc1` < `1.0` < `1.0-sp1`).
fn maven_cmp(a: &[MavenItem], b: &[MavenItem]) -> Ordering {
    let against_padding = |item: &MavenItem| match item {
        MavenItem::Number(n) => n.cmp(&0),
        MavenItem::Qualifier(rank, _) => rank.cmp(&5),
    };
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(x), None) => against_padding(x),
            (None, Some(y)) => against_padding(y).reverse(),
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn check(scheme: Scheme, pairs: &[(&str, &str, Ordering)]) {
        for (a, b, want) in pairs {
            assert_eq!(scheme.compare(a, b), Some(*want), "{scheme:?}: {a} vs {b}");
            assert_eq!(
                scheme.compare(b, a),
                Some(want.reverse()),
                "{scheme:?}: {b} vs {a}"
            );
        }
    }

    #[test]
    fn dpkg_order() {
        check(
            Scheme::Dpkg,
            &[
                ("1.2.3-1", "1.2.3-2", Less),
                ("1:1.0", "2.0", Greater),
                ("1.0~rc1", "1.0", Less),
                ("3.0.11-1~deb12u2", "3.0.11-1", Less),
                ("3.0.11-1~deb12u2", "3.0.11-1~deb12u1", Greater),
            ],
        );
    }

    #[test]
    fn apk_order() {
        check(
            Scheme::Apk,
            &[
                ("1.2.3-r0", "1.2.3-r1", Less),
                ("1.2.3_rc1-r0", "1.2.3-r0", Less),
                ("1.2.3_p1-r0", "1.2.3-r0", Greater),
                ("1.2.3a-r0", "1.2.3-r0", Greater),
                ("3.1.4-r5", "3.1.10-r0", Less),
                ("1.36.1-r29", "1.36.1-r29", Equal),
            ],
        );
    }

    #[test]
    fn rpm_order() {
        check(
            Scheme::Rpm,
            &[
                ("1.0-1.el9", "1.0-2.el9", Less),
                ("1:1.0-1", "2.0-1", Greater),
                ("1.0~rc1-1", "1.0-1", Less),
                ("1.0^git1-1", "1.0-1", Greater),
                ("2.10-1", "2.9-1", Greater),
                ("1.0a-1", "1.0-1", Greater),
                ("1.0-1", "1.0", Equal),
            ],
        );
    }

    #[test]
    fn semver_pep440_maven_order() {
        check(
            Scheme::Semver,
            &[
                ("1.6.0", "1.6.1", Less),
                ("v0.3.7", "v0.17.0", Less),
                ("1.0.0-alpha", "1.0.0", Less),
                ("1.2", "1.2.0", Equal),
            ],
        );
        check(
            Scheme::Pep440,
            &[
                ("5.3.1", "5.4", Less),
                ("5.4b1", "5.4", Less),
                ("2.31.0", "2.31", Equal),
                ("1.0.post1", "1.0", Greater),
            ],
        );
        check(
            Scheme::Maven,
            &[
                ("2.14.1", "2.15.0", Less),
                ("2.15.0-rc1", "2.15.0", Less),
                ("1.0", "1", Equal),
                ("1.0-SNAPSHOT", "1.0", Less),
                ("1.0-sp1", "1.0", Greater),
            ],
        );
    }

    #[test]
    fn schemes_of_ecosystems() {
        assert_eq!(Scheme::of("Debian:12"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::of("Alpine:v3.19"), Some(Scheme::Apk));
        assert_eq!(Scheme::of("Rocky Linux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::of("PyPI"), Some(Scheme::Pep440));
        assert_eq!(Scheme::of("GIT"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(a in "\\PC{0,24}", b in "\\PC{0,24}") {
            for s in [Scheme::Dpkg, Scheme::Apk, Scheme::Rpm, Scheme::Semver, Scheme::Pep440, Scheme::Maven] {
                let _ = s.compare(&a, &b);
            }
        }
    }
}
