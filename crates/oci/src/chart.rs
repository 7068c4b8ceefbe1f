//! A Helm chart's archive (the `.tgz` layer of a chart artifact): the files
//! Harbor shows as a chart's additions (`values.yaml`, `readme.md`,
//! `dependencies`), read as Helm's loader reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Read;

/// The media type of a chart's archive layer.
pub const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Most bytes an archive may inflate to (Helm's own limit).
pub const MAX_UNPACKED: u64 = 100 * 1024 * 1024;
/// Largest file read from an archive (Helm's own limit).
pub const MAX_FILE: u64 = 5 * 1024 * 1024;

/// One chart another depends on, as `Chart.yaml` (apiVersion v2) or
/// `requirements.yaml` (v1) lists it; serialized with Helm's JSON names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enabled: bool,
    #[serde(
        default,
        rename = "import-values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_values: Vec<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

/// What a chart's archive holds for Harbor's additions.
#[derive(Debug, Default, PartialEq)]
pub struct ChartFiles {
    /// The chart's `README.md` (any case), empty without one.
    pub readme: Vec<u8>,
    /// The chart's `values.yaml` (any case), empty without one.
    pub values: Vec<u8>,
    pub dependencies: Vec<Dependency>,
}

/// Why a chart's archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart archive cannot be read: {0}")]
    Archive(String),
    #[error("the chart's {0} is larger than {MAX_FILE} bytes")]
    FileTooLarge(String),
    #[error("the chart's {file} is not valid YAML: {reason}")]
    Yaml { file: &'static str, reason: String },
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize, Default)]
struct Requirements {
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

/// Reads a gzipped chart archive from `r`, inflating at most
/// [`MAX_UNPACKED`] bytes. Only the chart's top-level files count (the
/// archive's first path component is the chart's directory), as in Helm:
/// a v2 chart lists its dependencies in `Chart.yaml`, a v1 chart (or one
/// without an `apiVersion`) in `requirements.yaml`.
pub fn read(r: impl Read) -> Result<ChartFiles, ChartError> {
    let archive_err = |e: std::io::Error| ChartError::Archive(e.to_string());
    let gz = flate2::read::GzDecoder::new(r).take(MAX_UNPACKED);
    let mut archive = tar::Archive::new(gz);
    let mut out = ChartFiles::default();
    let (mut chart_yaml, mut requirements) = (None, None);
    for entry in archive.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(archive_err)?.into_owned();
        let path = path.to_string_lossy().replace('\\', "/");
        // `chart/NAME` only: deeper files are templates and sub-charts.
        let Some((_, name)) = path.trim_start_matches("./").split_once('/') else {
            continue;
        };
        let slot = match name.to_ascii_uppercase().as_str() {
            "CHART.YAML" if name == "Chart.yaml" => &mut chart_yaml,
            "REQUIREMENTS.YAML" => &mut requirements,
            "README.MD" => {
                out.readme = read_file(&mut entry, name)?;
                continue;
            }
            "VALUES.YAML" => {
                out.values = read_file(&mut entry, name)?;
                continue;
            }
            _ => continue,
        };
        *slot = Some(read_file(&mut entry, name)?);
    }
    let meta: Metadata = parse_yaml(chart_yaml.as_deref(), "Chart.yaml")?;
    out.dependencies = match meta.api_version.as_deref() {
        Some("v2") => meta.dependencies,
        _ => parse_yaml::<Requirements>(requirements.as_deref(), "requirements.yaml")?.dependencies,
    };
    Ok(out)
}

fn read_file(entry: &mut impl Read, name: &str) -> Result<Vec<u8>, ChartError> {
    let mut buf = Vec::new();
    entry
        .take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ChartError::Archive(e.to_string()))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(ChartError::FileTooLarge(name.into()));
    }
    Ok(buf)
}

/// A YAML file's fields, or their defaults when the file is absent or empty.
fn parse_yaml<T: Default + for<'de> Deserialize<'de>>(
    bytes: Option<&[u8]>,
    file: &'static str,
) -> Result<T, ChartError> {
    match bytes {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => {
            serde_norway::from_slice(b).map_err(|e| ChartError::Yaml {
                file,
                reason: e.to_string(),
            })
        }
        _ => Ok(T::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, path, *body).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_v2_chart_lists_its_dependencies_in_chart_yaml() {
        let chart = archive(&[
            (
                "web/Chart.yaml",
                b"apiVersion: v2\nname: web\nversion: 1.2.3\ndependencies:\n- name: redis\n  version: ~17.0\n  repository: oci://example/charts\n  condition: redis.enabled\n  tags: [cache]\n  import-values: [data]\n",
            ),
            ("web/values.yaml", b"replicas: 2\n"),
            ("web/README.md", b"# Web\n"),
            ("web/templates/values.yaml", b"not: this\n"),
            ("web/charts/redis/README.md", b"# not this either\n"),
            ("web/requirements.yaml", b"dependencies:\n- name: ignored\n"),
        ]);
        let files = read(&chart[..]).unwrap();
        assert_eq!(files.values, b"replicas: 2\n");
        assert_eq!(files.readme, b"# Web\n");
        assert_eq!(
            serde_json::to_value(&files.dependencies).unwrap(),
            json!([{"name": "redis", "version": "~17.0", "repository": "oci://example/charts",
                "condition": "redis.enabled", "tags": ["cache"], "import-values": ["data"]}])
        );
    }

    #[test]
    fn a_v1_chart_lists_them_in_requirements_yaml() {
        let chart = archive(&[
            ("old/Chart.yaml", b"apiVersion: v1\nname: old\nversion: 0.1.0\n"),
            (
                "old/requirements.yaml",
                b"dependencies:\n- name: db\n  version: 1.0.0\n  repository: https://charts.example\n",
            ),
            ("old/readme.md", b"lower case counts\n"),
        ]);
        let files = read(&chart[..]).unwrap();
        assert_eq!(files.readme, b"lower case counts\n");
        assert!(files.values.is_empty());
        assert_eq!(files.dependencies.len(), 1);
        assert_eq!(files.dependencies[0].name, "db");
    }

    #[test]
    fn bad_archives_and_files_are_errors() {
        assert!(matches!(
            read(&b"not gzip"[..]),
            Err(ChartError::Archive(_))
        ));
        let big = vec![b'a'; MAX_FILE as usize + 1];
        let chart = archive(&[
            ("c/Chart.yaml", b"apiVersion: v2\n"),
            ("c/values.yaml", &big),
        ]);
        assert!(matches!(read(&chart[..]), Err(ChartError::FileTooLarge(_))));
        let chart = archive(&[("c/Chart.yaml", b"apiVersion: [v2\n")]);
        assert!(matches!(read(&chart[..]), Err(ChartError::Yaml { .. })));
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        // Zeros compress about a thousandfold: a small archive, a huge file.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut tar = tar::Builder::new(gz);
        let size = MAX_UNPACKED + 1024;
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "c/templates/big", std::io::repeat(0).take(size))
            .unwrap();
        let bomb = tar.into_inner().unwrap().finish().unwrap();
        assert!(bomb.len() < 1024 * 1024);
        assert!(matches!(read(&bomb[..]), Err(ChartError::Archive(_))));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read(&bytes[..]);
        }

        #[test]
        fn never_panics_on_a_gzipped_stream(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            let _ = read(&gz.finish().unwrap()[..]);
        }
    }
}
