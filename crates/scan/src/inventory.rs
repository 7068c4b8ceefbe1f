//! The packages an image holds, read from its layers: the OS's package
//! databases (dpkg, apk, rpm's SQLite database) and language packages
//! (Cargo.lock, package-lock.json and node_modules, Python's installed
//! distributions, the Maven coordinates in Java archives, nested ones
//! included, and the modules Go programs were built with).

use crate::{gobinary, rpmdb};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read};

/// A file larger than this is not a package database Berth reads.
const MAX_FILE: u64 = 32 << 20;
/// rpm's database holds every header whole: a large install's is larger.
const MAX_RPMDB: u64 = 128 << 20;
/// What is kept of a Go program: its build information, as
/// `program!/GO_BUILD_INFO`.
const GO_BUILD_INFO: &str = "go.buildinfo";
/// What all kept files may add up to.
const MAX_KEPT: usize = 256 << 20;

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("layer is not a tar archive: {0}")]
    Tar(#[from] std::io::Error),
    #[error("the image's package files add up to more than {} MiB", MAX_KEPT >> 20)]
    TooLarge,
}

/// An operating system, from `os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Os {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

impl Os {
    /// The OSV ecosystem of its packages (`Debian:12`, `Alpine:v3.19` …).
    pub fn ecosystem(&self) -> Option<String> {
        let mut parts = self.version_id.split('.');
        let major = parts.next().filter(|m| !m.is_empty())?;
        let minor = parts.next();
        Some(match self.id.as_str() {
            "debian" => format!("Debian:{major}"),
            "ubuntu" => format!("Ubuntu:{}", self.version_id),
            "alpine" => format!("Alpine:v{major}.{}", minor?),
            "rocky" => format!("Rocky Linux:{major}"),
            "almalinux" => format!("AlmaLinux:{major}"),
            _ => return None,
        })
    }
}

/// A package found in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Its package URL type: `deb`, `apk`, `rpm`, `cargo`, `npm`, `pypi`,
    /// `maven`, `golang`.
    pub kind: &'static str,
    /// The OSV ecosystem advisories name it in, when known.
    pub ecosystem: Option<String>,
    /// The name and version advisories know it by: a distribution's
    /// source package (Debian's `Source`, Alpine's origin), a normalized
    /// PyPI name.
    pub lookup: (String, String),
    /// The file that lists it.
    pub path: String,
    pub arch: Option<String>,
    pub license: Option<String>,
}

impl Package {
    /// Its package URL (<https://github.com/package-url/purl-spec>).
    pub fn purl(&self, os: Option<&Os>) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let name = match self.kind {
            "deb" | "apk" | "rpm" => {
                let namespace = os.map(|o| o.id.as_str()).unwrap_or("unknown");
                format!("{namespace}/{}", enc(&self.name))
            }
            "golang" => self.name.split('/').map(enc).collect::<Vec<_>>().join("/"),
            "npm" => match self.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, name)) => format!("%40{}/{}", enc(scope), enc(name)),
                None => enc(&self.name),
            },
            "maven" => match self.name.split_once(':') {
                Some((group, artifact)) => format!("{}/{}", enc(group), enc(artifact)),
                None => enc(&self.name),
            },
            _ => enc(&self.name),
        };
        // An rpm's epoch is a qualifier of its own.
        let (epoch, version) = match (self.kind, self.version.split_once(':')) {
            ("rpm", Some((epoch, version))) => (Some(epoch), version),
            _ => (None, self.version.as_str()),
        };
        let mut purl = format!("pkg:{}/{name}@{}", self.kind, enc(version));
        let mut qualifiers = Vec::new();
        if let Some(arch) = &self.arch {
            qualifiers.push(format!("arch={}", enc(arch)));
        }
        if let (Some(os), "deb" | "apk" | "rpm") = (os, self.kind) {
            qualifiers.push(format!("distro={}-{}", enc(&os.id), enc(&os.version_id)));
        }
        // Qualifiers go in the canonical (sorted) order.
        if let Some(epoch) = epoch {
            qualifiers.push(format!("epoch={}", enc(epoch)));
        }
        if !qualifiers.is_empty() {
            purl.push('?');
            purl.push_str(&qualifiers.join("&"));
        }
        purl
    }
}

/// What an image holds.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub os: Option<Os>,
    pub packages: Vec<Package>,
}

/// The package files of an image's layers, applied in order (a later
/// layer's file replaces an earlier one's, whiteouts delete).
#[derive(Debug, Default)]
pub struct Layers {
    files: BTreeMap<String, Vec<u8>>,
    kept: usize,
}

impl Layers {
    /// No layers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the next layer (a tar archive: plain, gzip or zstd).
    pub fn add(&mut self, layer: impl Read) -> Result<(), Error> {
        let mut reader = BufReader::with_capacity(256 << 10, layer);
        let magic = reader.fill_buf()?;
        if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return self.apply(zstd::stream::read::Decoder::with_buffer(reader)?);
        }
        if magic.starts_with(&[0x1f, 0x8b]) {
            self.apply(flate2::read::MultiGzDecoder::new(reader))
        } else {
            self.apply(reader)
        }
    }

    fn apply(&mut self, tar: impl Read) -> Result<(), Error> {
        let mut archive = tar::Archive::new(tar);
        let mut added = BTreeMap::new();
        let mut deleted = Vec::new();
        let mut opaque = Vec::new();
        // Archives and programs this layer writes: what lower layers' copies
        // held is gone, whatever this one holds.
        let mut replaced = HashSet::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let path = raw.trim_start_matches("./").trim_start_matches('/');
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (format!("{d}/"), b),
                None => (String::new(), path),
            };
            if base == ".wh..wh..opq" {
                opaque.push(dir);
                continue;
            }
            if let Some(gone) = base.strip_prefix(".wh.") {
                deleted.push(format!("{dir}{gone}"));
                continue;
            }
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = path.to_string();
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            let found = if wanted(&path) {
                let limit = match kind_of(&path) {
                    Some(Kind::Rpm) => MAX_RPMDB,
                    _ => MAX_FILE,
                };
                if entry.size() > limit {
                    continue;
                }
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes)?;
                // An archive is kept as the package files inside it, named
                // `archive!/entry`, not whole.
                match is_archive(&path) {
                    true => {
                        replaced.insert(path.clone());
                        archive_entries(&path, &bytes, 0)
                    }
                    false => vec![(path, bytes)],
                }
            } else if executable {
                replaced.insert(path.clone());
                let mut head = Vec::with_capacity(4);
                (&mut entry).take(4).read_to_end(&mut head)?;
                if !gobinary::is_executable(&head) {
                    continue;
                }
                match gobinary::build_info(head.as_slice().chain(&mut entry))? {
                    Some(info) => vec![(format!("{path}!/{GO_BUILD_INFO}"), info.into_bytes())],
                    None => continue,
                }
            } else {
                continue;
            };
            for (path, bytes) in found {
                self.kept += bytes.len();
                if self.kept > MAX_KEPT {
                    return Err(Error::TooLarge);
                }
                added.insert(path, bytes);
            }
        }
        // Whiteouts hide what lower layers have; this layer's own files stay.
        self.files.retain(|path, _| {
            let within = path.split_once("!/").map(|(outer, _)| outer);
            if within.is_some_and(|outer| replaced.contains(outer)) {
                return false;
            }
            let hidden = deleted.iter().any(|d| {
                path == d
                    || path.starts_with(&format!("{d}/"))
                    || path.starts_with(&format!("{d}!/"))
            });
            !hidden && !opaque.iter().any(|dir| path.starts_with(dir.as_str()))
        });
        self.files.extend(added);
        Ok(())
    }

    /// The packages the layers hold, each once.
    pub fn inventory(&self) -> Inventory {
        let os = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|p| self.files.get(*p))
            .map(|b| os_release(&String::from_utf8_lossy(b)));
        let distro = os.as_ref().and_then(Os::ecosystem);
        let mut packages = Vec::new();
        for (path, bytes) in &self.files {
            let Some(kind) = kind_of(path) else {
                continue;
            };
            let text = || String::from_utf8_lossy(bytes);
            let found = match kind {
                Kind::Dpkg => dpkg(&text(), distro.as_deref()),
                Kind::Apk => apk(&text(), distro.as_deref()),
                Kind::Rpm => rpm(bytes, distro.as_deref()),
                Kind::CargoLock => cargo_lock(&text()),
                Kind::PackageLock => package_lock(&text()),
                Kind::NodeModule => node_module(&text()),
                Kind::Python => python(&text()),
                Kind::Maven => maven(&text()),
                Kind::GoBinary => go(&text()),
            };
            packages.extend(found.into_iter().map(|p| Package {
                path: path.clone(),
                ..p
            }));
        }
        let mut seen = HashSet::new();
        packages.retain(|p| seen.insert((p.kind, p.name.clone(), p.version.clone())));
        Inventory { os, packages }
    }
}

enum Kind {
    Dpkg,
    Apk,
    Rpm,
    CargoLock,
    PackageLock,
    NodeModule,
    Python,
    Maven,
    GoBinary,
}

fn kind_of(path: &str) -> Option<Kind> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let parent = |n: usize| path.rsplit('/').nth(n).unwrap_or_default();
    Some(
        if path == "var/lib/dpkg/status"
            || (path.starts_with("var/lib/dpkg/status.d/") && !base.ends_with(".md5sums"))
        {
            Kind::Dpkg
        } else if path == "lib/apk/db/installed" {
            Kind::Apk
        } else if path == "var/lib/rpm/rpmdb.sqlite" || path == "usr/lib/sysimage/rpm/rpmdb.sqlite"
        {
            Kind::Rpm
        } else if base == "Cargo.lock" {
            Kind::CargoLock
        } else if base == "package-lock.json" {
            Kind::PackageLock
        } else if base == "package.json"
            && (parent(2) == "node_modules"
                || (parent(3) == "node_modules" && parent(2).starts_with('@')))
        {
            Kind::NodeModule
        } else if (base == "METADATA" && parent(1).ends_with(".dist-info"))
            || (base == "PKG-INFO" && parent(1).ends_with(".egg-info"))
        {
            Kind::Python
        } else if base == "pom.properties" && path.contains("META-INF/maven/") {
            Kind::Maven
        } else if base == GO_BUILD_INFO && path.contains("!/") {
            Kind::GoBinary
        } else {
            return None;
        },
    )
}

fn wanted(path: &str) -> bool {
    path == "etc/os-release"
        || path == "usr/lib/os-release"
        || kind_of(path).is_some()
        || is_archive(path)
}

/// A Java archive (a zip).
fn is_archive(path: &str) -> bool {
    [".jar", ".war", ".ear"].iter().any(|x| path.ends_with(x))
}

/// The Maven descriptors inside a Java archive, and inside the archives
/// it holds (a Spring Boot jar's `BOOT-INF/lib`), as `archive!/entry`.
fn archive_entries(path: &str, bytes: &[u8], depth: usize) -> Vec<(String, Vec<u8>)> {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        let name = entry.name().to_string();
        let inner = format!("{path}!/{name}");
        let nested = is_archive(&name) && depth < 2;
        if !(nested || matches!(kind_of(&inner), Some(Kind::Maven))) || entry.size() > MAX_FILE {
            continue;
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        if (&mut entry)
            .take(MAX_FILE)
            .read_to_end(&mut content)
            .is_err()
        {
            continue;
        }
        match nested {
            true => out.extend(archive_entries(&inner, &content, depth + 1)),
            false => out.push((inner, content)),
        }
    }
    out
}

fn os_release(text: &str) -> Os {
    let mut os = Os::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches('"')
            .trim_matches('\'')
            .to_string();
        match key.trim() {
            "ID" => os.id = value,
            "VERSION_ID" => os.version_id = value,
            "PRETTY_NAME" => os.pretty_name = value,
            _ => {}
        }
    }
    os
}

/// A package with no lookup of its own and no path yet.
fn package(kind: &'static str, ecosystem: Option<&str>, name: &str, version: &str) -> Package {
    let lookup = match ecosystem {
        Some(e) => crate::osv::lookup_name(e, name),
        None => name.to_string(),
    };
    Package {
        name: name.to_string(),
        version: version.to_string(),
        kind,
        ecosystem: ecosystem.map(String::from),
        lookup: (lookup, version.to_string()),
        path: String::new(),
        arch: None,
        license: None,
    }
}

/// `Key: value` fields of deb822 paragraphs (continuation lines skipped).
fn paragraphs(text: &str, sep: char) -> impl Iterator<Item = BTreeMap<&str, &str>> {
    text.split("\n\n").map(move |p| {
        p.lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_once(sep))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect()
    })
}

fn dpkg(text: &str, ecosystem: Option<&str>) -> Vec<Package> {
    paragraphs(text, ':')
        .filter(|f| f.get("Status").is_none_or(|s| s.ends_with(" installed")))
        .filter_map(|f| {
            let (name, version) = (f.get("Package")?, f.get("Version")?);
            let mut p = package("deb", ecosystem, name, version);
            // Advisories name the source package: `Source: name (version)`.
            if let Some(source) = f.get("Source") {
                let (src, src_version) = match source.split_once(" (") {
                    Some((s, v)) => (s, v.trim_end_matches(')')),
                    None => (*source, *version),
                };
                p.lookup = (src.to_string(), src_version.to_string());
            }
            p.arch = f.get("Architecture").map(|a| a.to_string());
            Some(p)
        })
        .collect()
}

fn apk(text: &str, ecosystem: Option<&str>) -> Vec<Package> {
    paragraphs(text, ':')
        .filter_map(|f| {
            let (name, version) = (f.get("P")?, f.get("V")?);
            let mut p = package("apk", ecosystem, name, version);
            if let Some(origin) = f.get("o") {
                p.lookup.0 = origin.to_string();
            }
            p.arch = f.get("A").map(|a| a.to_string());
            p.license = f.get("L").map(|l| l.to_string());
            Some(p)
        })
        .collect()
}

fn rpm(file: &[u8], ecosystem: Option<&str>) -> Vec<Package> {
    (rpmdb::packages(file).into_iter())
        .map(|h| {
            // Advisories name binary packages, with their epoch.
            let mut p = package("rpm", ecosystem, &h.name, &h.evr);
            p.arch = h.arch;
            p.license = h.license;
            p
        })
        .collect()
}

fn go(info: &str) -> Vec<Package> {
    (gobinary::modules(info).into_iter())
        .map(|m| {
            let mut p = package("golang", Some("Go"), &m.path, &m.version);
            // OSV writes Go versions without the `v`.
            p.lookup.1 = m.version.trim_start_matches('v').to_string();
            p
        })
        .collect()
}

fn cargo_lock(text: &str) -> Vec<Package> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Crate>,
    }
    #[derive(serde::Deserialize)]
    struct Crate {
        name: String,
        version: String,
    }
    let lock: Lock = toml::from_str(text).unwrap_or(Lock {
        package: Vec::new(),
    });
    (lock.package.iter())
        .map(|c| package("cargo", Some("crates.io"), &c.name, &c.version))
        .collect()
}

fn package_lock(text: &str) -> Vec<Package> {
    let Ok(lock) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(packages) = lock.get("packages").and_then(|p| p.as_object()) {
        for (key, entry) in packages {
            let Some(at) = key.rfind("node_modules/") else {
                continue;
            };
            let name = (entry.get("name").and_then(|n| n.as_str()))
                .unwrap_or(&key[at + "node_modules/".len()..]);
            if entry.get("link").and_then(|l| l.as_bool()) == Some(true) {
                continue;
            }
            if let Some(version) = entry.get("version").and_then(|v| v.as_str()) {
                out.push(package("npm", Some("npm"), name, version));
            }
        }
        return out;
    }
    // lockfileVersion 1: nested `dependencies`.
    fn walk(deps: &serde_json::Value, out: &mut Vec<Package>, depth: usize) {
        let Some(deps) = deps.as_object().filter(|_| depth < 64) else {
            return;
        };
        for (name, entry) in deps {
            if let Some(version) = entry.get("version").and_then(|v| v.as_str()) {
                out.push(package("npm", Some("npm"), name, version));
            }
            if let Some(nested) = entry.get("dependencies") {
                walk(nested, out, depth + 1);
            }
        }
    }
    if let Some(deps) = lock.get("dependencies") {
        walk(deps, &mut out, 0);
    }
    out
}

fn node_module(text: &str) -> Vec<Package> {
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let field = |k: &str| manifest.get(k).and_then(|v| v.as_str());
    match (field("name"), field("version")) {
        (Some(name), Some(version)) => {
            let mut p = package("npm", Some("npm"), name, version);
            p.license = field("license").map(String::from);
            vec![p]
        }
        _ => Vec::new(),
    }
}

fn maven(text: &str) -> Vec<Package> {
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
    };
    match (field("groupId"), field("artifactId"), field("version")) {
        (Some(g), Some(a), Some(v)) => {
            vec![package("maven", Some("Maven"), &format!("{g}:{a}"), v)]
        }
        _ => Vec::new(),
    }
}

fn python(text: &str) -> Vec<Package> {
    // The metadata's headers end at the first blank line.
    let head = text.split("\n\n").next().unwrap_or_default();
    let fields = paragraphs(head, ':').next().unwrap_or_default();
    match (fields.get("Name"), fields.get("Version")) {
        (Some(name), Some(version)) => {
            let mut p = package("pypi", Some("PyPI"), name, version);
            p.license = fields.get("License").map(|l| l.to_string());
            vec![p]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, content.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_default()
    }

    #[test]
    fn reads_zstd_layers() {
        let layer = tar(&[(
            "usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\n",
        )]);
        let compressed = zstd::encode_all(&layer[..], 3).unwrap_or_default();
        let mut layers = Layers::new();
        layers
            .add(&compressed[..])
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = (layers.inventory().packages.iter())
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        assert_eq!(names, [("PyYAML".to_string(), "5.3.1".to_string())]);
        let mut broken = compressed.clone();
        broken.truncate(compressed.len() / 2);
        assert!(Layers::new().add(&broken[..]).is_err());
    }

    const STATUS: &str = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
        Source: openssl (3.0.11-1~deb12u1)\nVersion: 3.0.11-1~deb12u1\nDescription: SSL\n more\n\n\
        Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
        Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n";

    #[test]
    fn reads_dpkg_with_source_packages_and_whiteouts() {
        let mut layers = Layers::new();
        let base = tar(&[
            (
                "etc/os-release",
                "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12\"\n",
            ),
            ("var/lib/dpkg/status", STATUS),
            (
                "app/requests-2.25.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\n\nbody",
            ),
            (
                "app/old/Cargo.lock",
                "[[package]]\nname = \"smallvec\"\nversion = \"1.4.0\"\n",
            ),
        ]);
        layers.add(&base[..]).unwrap_or_else(|e| panic!("{e}"));
        let top = tar(&[("app/.wh.old", "")]);
        layers.add(&top[..]).unwrap_or_else(|e| panic!("{e}"));
        let inv = layers.inventory();
        assert_eq!(
            inv.os.as_ref().and_then(Os::ecosystem).as_deref(),
            Some("Debian:12")
        );
        let names: Vec<_> = inv
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.lookup.0.as_str(), p.lookup.1.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("requests", "requests", "2.25.0"),
                ("libssl3", "openssl", "3.0.11-1~deb12u1"),
                ("zlib1g", "zlib", "1:1.2.13.dfsg-1"),
            ]
        );
        assert_eq!(
            inv.packages[1].purl(inv.os.as_ref()),
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn reads_apk_and_node_packages() {
        let mut layers = Layers::new();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(
            &mut gz,
            &tar(&[
                ("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
                ("lib/apk/db/installed", "C:Q1\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\nL:Apache-2.0\n\nP:busybox\nV:1.36.1-r15\n"),
                ("srv/node_modules/@scope/pkg/package.json", r#"{"name":"@scope/pkg","version":"1.0.0"}"#),
                ("srv/package-lock.json", r#"{"lockfileVersion":3,"packages":{"":{"name":"srv"},"node_modules/lodash":{"version":"4.17.15"}}}"#),
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let layer = gz.finish().unwrap_or_default();
        layers.add(&layer[..]).unwrap_or_else(|e| panic!("{e}"));
        let inv = layers.inventory();
        let found: Vec<_> = inv
            .packages
            .iter()
            .map(|p| {
                (
                    p.kind,
                    p.lookup.0.as_str(),
                    p.version.as_str(),
                    p.ecosystem.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("apk", "openssl", "3.1.4-r1", Some("Alpine:v3.19")),
                ("apk", "busybox", "1.36.1-r15", Some("Alpine:v3.19")),
                ("npm", "@scope/pkg", "1.0.0", Some("npm")),
                ("npm", "lodash", "4.17.15", Some("npm")),
            ]
        );
        assert_eq!(inv.packages[2].purl(None), "pkg:npm/%40scope/pkg@1.0.0");
    }

    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            std::io::Write::write_all(&mut w, content).unwrap_or_else(|e| panic!("{e}"));
        }
        w.finish().map(|c| c.into_inner()).unwrap_or_default()
    }

    #[test]
    fn reads_maven_coordinates_in_jars_and_jars_in_jars() {
        let pom = |g: &str, a: &str, v: &str| format!("groupId={g}\nartifactId={a}\nversion={v}\n");
        let core = pom("org.apache.logging.log4j", "log4j-core", "2.14.1");
        let api = pom("org.apache.logging.log4j", "log4j-api", "2.14.1");
        let inner = zip(&[(
            "META-INF/maven/org.apache.logging.log4j/log4j-api/pom.properties",
            api.as_bytes(),
        )]);
        let app = zip(&[
            (
                "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
                core.as_bytes(),
            ),
            ("BOOT-INF/lib/log4j-api-2.14.1.jar", &inner),
            ("com/example/App.class", b"\xca\xfe"),
        ]);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(app.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "app/app.jar", &app[..])
            .unwrap_or_else(|e| panic!("{e}"));
        let layer = b.into_inner().unwrap_or_default();
        let mut layers = Layers::new();
        layers.add(&layer[..]).unwrap_or_else(|e| panic!("{e}"));
        let inv = layers.inventory();
        let found: Vec<_> = inv
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.purl(None)))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "org.apache.logging.log4j:log4j-api",
                    "2.14.1",
                    "pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1".to_string()
                ),
                (
                    "org.apache.logging.log4j:log4j-core",
                    "2.14.1",
                    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".to_string()
                ),
            ]
        );
        // Deleting the jar in a later layer deletes what was found in it.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "app/.wh.app.jar", &[][..])
            .unwrap_or_else(|e| panic!("{e}"));
        let top = b.into_inner().unwrap_or_default();
        layers.add(&top[..]).unwrap_or_else(|e| panic!("{e}"));
        assert!(layers.inventory().packages.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,300}") {
            let _ = dpkg(&text, Some("Debian:12"));
            let _ = apk(&text, None);
            let _ = cargo_lock(&text);
            let _ = package_lock(&text);
            let _ = python(&text);
            let _ = maven(&text);
            let _ = archive_entries("x.jar", text.as_bytes(), 0);
            let _ = Layers::new().add(text.as_bytes());
        }
    }
}
