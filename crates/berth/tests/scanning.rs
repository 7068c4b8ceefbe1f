//! Vulnerability scanning with the built-in scanner: real OSV advisories
//! imported with `berth vulndb import`, images built here with dpkg, apk,
//! rpm, Python, npm, Cargo and Go packages of known versions, and the findings,
//! overviews and logs a Harbor client reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{berth, tar_gz, Server, ADMIN, OCI_INDEX, OCI_MANIFEST};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;

const NATIVE: &str = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
const GENERIC: &str = "application/vnd.security.vulnerability.report; version=1.1";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

const DPKG_STATUS: &str = "\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - cryptographic utility

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
";

/// A Debian 12 image with Python, npm and Cargo packages; the second
/// layer deletes a lock file the first had.
async fn push_debian(s: &Server, repo: &str, tag: &str) -> (String, usize) {
    let base = tar_gz(&[
        ("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", DPKG_STATUS),
        (
            "usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\nLicense: MIT\n\nYAML parser and emitter for Python\n",
        ),
        (
            "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\n",
        ),
        (
            "srv/web/package-lock.json",
            r#"{"name":"web","lockfileVersion":3,"packages":{"":{"name":"web"},"node_modules/lodash":{"version":"4.17.15"}}}"#,
        ),
        (
            "srv/tool/Cargo.lock",
            "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.100\"\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.4.0\"\n",
        ),
        ("srv/old/Cargo.lock", "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"0.6.10\"\n"),
    ]);
    let top = tar_gz(&[
        ("srv/old/.wh.Cargo.lock", ""),
        ("srv/README", "deleted the old tool\n"),
    ]);
    s.push_layers(repo, tag, &[base, top]).await
}

async fn push_alpine(s: &Server, repo: &str, tag: &str) -> (String, usize) {
    let installed = "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\nL:Apache-2.0\n\n\
        C:Q1def=\nP:libssl3\nV:3.1.4-r1\nA:x86_64\no:openssl\nL:Apache-2.0\n\n\
        C:Q1ghi=\nP:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\nL:GPL-2.0-only\n";
    let base = tar_gz(&[
        (
            "etc/os-release",
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.0\n",
        ),
        ("lib/apk/db/installed", installed),
    ]);
    s.push_layers(repo, tag, &[base]).await
}

fn artifact_path(repo: &str, reference: &str) -> String {
    let (project, name) = repo.split_once('/').unwrap();
    format!(
        "/projects/{project}/repositories/{}/artifacts/{reference}",
        name.replace('/', "%252F")
    )
}

/// Waits for the artifact's scan to end; its overview.
async fn scanned(s: &Server, repo: &str, reference: &str) -> Value {
    let overview = |a: &Value| a["scan_overview"][NATIVE].clone();
    overview(&ended(s, repo, reference, "with_scan_overview", overview).await)
}

/// Waits until the overview `flag` asks for (read from the artifact by
/// `overview`) says a scan ended; the artifact.
async fn ended(
    s: &Server,
    repo: &str,
    reference: &str,
    flag: &str,
    overview: impl Fn(&Value) -> Value,
) -> Value {
    let path = format!("{}?{flag}=true", artifact_path(repo, reference));
    let mut a = Value::Null;
    for _ in 0..200 {
        a = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        let status = overview(&a)["scan_status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !["", "Pending", "Running"].contains(&status.as_str()) {
            return a;
        }
        common::sleep_ms(50).await;
    }
    panic!("the scan of {repo}@{reference} did not end: {a}");
}

/// A scan's log, once the job service has recorded it (as the run ends,
/// a moment after the report says how it ended).
async fn scan_log(s: &Server, path: &str) -> common::Reply {
    for _ in 0..100 {
        let log = s.expect(Method::GET, path, ADMIN, None).await;
        if log.status != 200 || !log.text.is_empty() {
            return log;
        }
        common::sleep_ms(50).await;
    }
    s.expect(Method::GET, path, ADMIN, None).await
}

/// The report's findings as (id, package, version, fix, severity).
fn findings(report: &Value) -> Vec<(String, String, String, String, String)> {
    report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (
                s("id"),
                s("package"),
                s("version"),
                s("fix_version"),
                s("severity"),
            )
        })
        .collect()
}

/// Scans an artifact and waits for the scan to end; its overview and its
/// report, as `additions/vulnerabilities` gives it.
async fn scan_report(s: &Server, repo: &str, reference: &str) -> (Value, Value) {
    let path = artifact_path(repo, reference);
    s.expect(Method::POST, &format!("{path}/scan"), ADMIN, None)
        .await
        .is(202);
    let overview = scanned(s, repo, reference).await;
    let report = s
        .expect(
            Method::GET,
            &format!("{path}/additions/vulnerabilities"),
            ADMIN,
            None,
        )
        .await
        .is(200);
    (overview, report)
}

/// The package URLs an SPDX document lists, sorted, but for the image's own.
fn purls(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .filter(|p| !p.starts_with("pkg:oci/"))
        .map(String::from)
        .collect();
    out.sort();
    out
}

fn row(
    id: &str,
    package: &str,
    version: &str,
    fix: &str,
    severity: &str,
) -> (String, String, String, String, String) {
    (
        id.into(),
        package.into(),
        version.into(),
        fix.into(),
        severity.into(),
    )
}

#[tokio::test]
async fn the_built_in_scanner_finds_exactly_the_advisories_of_an_images_packages() {
    for s in common::servers().await {
        let imported = s.import_vulndb(&fixtures());
        assert!(
            imported.contains(
                "10 advisories stored, 1 withdrawn removed, 0 invalid; 10 advisories in the database"
            ),
            "{imported}"
        );
        let (debian, debian_size) = push_debian(&s, "p/app", "bookworm").await;
        let (alpine, alpine_size) = push_alpine(&s, "p/app", "alpine").await;

        // Nothing is shown before a scan; the addition link is there.
        let path = artifact_path("p/app", "bookworm");
        let a = s
            .expect(
                Method::GET,
                &format!("{path}?with_scan_overview=true"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert!(a.get("scan_overview").is_none(), "{a}");
        assert_eq!(
            a["addition_links"]["vulnerabilities"]["href"],
            format!("/api/v2.0/projects/p/repositories/app/artifacts/{debian}/additions/vulnerabilities")
        );
        let none = s
            .expect(
                Method::GET,
                &format!("{path}/additions/vulnerabilities"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(none, json!({}));

        let (overview, report) = scan_report(&s, "p/app", "bookworm").await;
        assert_eq!(overview["scan_status"], "Success", "{overview}");
        assert_eq!(overview["severity"], "Critical");
        assert_eq!(overview["complete_percent"], 100);
        assert_eq!(overview["scanner"]["name"], "Berth");
        assert_eq!(
            overview["summary"],
            json!({"total": 6, "fixable": 6, "summary": {"Critical": 2, "High": 3, "Medium": 1}})
        );

        let report = &report[NATIVE];
        assert_eq!(report["severity"], "Critical");
        // The same CVE from GitHub's and PyPA's databases is one finding;
        // the deleted lock file's smallvec 0.6.10 is not there; zlib has
        // no advisory; the removed package is not installed.
        assert_eq!(
            findings(report),
            [
                row("CVE-2020-14343", "PyYAML", "5.3.1", "5.4", "Critical"),
                row("CVE-2021-25900", "smallvec", "1.4.0", "1.6.1", "Critical"),
                row(
                    "CVE-2023-5363",
                    "libssl3",
                    "3.0.11-1~deb12u1",
                    "3.0.11-1~deb12u2",
                    "High"
                ),
                row("CVE-2020-8203", "lodash", "4.17.15", "4.17.20", "High"),
                row(
                    "CVE-2023-5363",
                    "openssl",
                    "3.0.11-1~deb12u1",
                    "3.0.11-1~deb12u2",
                    "High"
                ),
                row("CVE-2023-32681", "requests", "2.25.0", "2.31.0", "Medium"),
            ]
        );
        let lodash = &report["vulnerabilities"][3];
        assert_eq!(lodash["preferred_cvss"]["score_v3"], 7.4);
        assert_eq!(lodash["cwe_ids"], json!(["CWE-1321", "CWE-770"]));
        assert_eq!(lodash["artifact_digests"], json!([debian]));
        assert_eq!(
            lodash["links"][0],
            "https://osv.dev/vulnerability/GHSA-p6mc-m468-83gw"
        );

        // The generic report type when the client asks for it.
        let generic = s
            .anon
            .get(s.u(&format!("/api/v2.0{path}/additions/vulnerabilities")))
            .basic_auth("admin", Some(common::ADMIN_PASSWORD))
            .header("X-Accept-Vulnerabilities", GENERIC)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(findings(&generic[GENERIC]).len(), 6);

        // The scan's log.
        let report_id = overview["report_id"].as_str().unwrap();
        let log = scan_log(&s, &format!("{path}/scan/{report_id}/log")).await;
        assert_eq!(log.status, 200);
        assert!(
            log.text.contains("6 vulnerabilities, severity Critical"),
            "{}",
            log.text
        );
        s.expect(
            Method::GET,
            &format!("{path}/scan/no-such-report/log"),
            ADMIN,
            None,
        )
        .await
        .error(404, "NOT_FOUND");

        // Alpine: both binary packages of the openssl origin.
        let apath = artifact_path("p/app", "alpine");
        s.expect(
            Method::POST,
            &format!("{apath}/scan"),
            ADMIN,
            Some(&json!({"scan_type": "vulnerability"})),
        )
        .await
        .is(202);
        let overview = scanned(&s, "p/app", "alpine").await;
        assert_eq!(overview["summary"]["total"], 2, "{overview}");
        let report = s
            .expect(
                Method::GET,
                &format!("{apath}/additions/vulnerabilities"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(
            findings(&report[NATIVE]),
            [
                row(
                    "CVE-2024-0727",
                    "libcrypto3",
                    "3.1.4-r1",
                    "3.1.4-r5",
                    "Medium"
                ),
                row("CVE-2024-0727", "libssl3", "3.1.4-r1", "3.1.4-r5", "Medium"),
            ]
        );

        // An index of both: its overview and report add up its children's.
        let index = common::index_manifest(
            OCI_INDEX,
            &[
                (OCI_MANIFEST, &debian, debian_size),
                (OCI_MANIFEST, &alpine, alpine_size),
            ],
        );
        let r = s.put_manifest("p/app", "multi", OCI_INDEX, &index).await;
        assert_eq!(r.status(), 201);
        let listed = s
            .expect(
                Method::GET,
                "/projects/p/repositories/app/artifacts?with_scan_overview=true&q=tags%3Dmulti",
                ADMIN,
                None,
            )
            .await
            .is(200);
        let o = &listed[0]["scan_overview"][NATIVE];
        assert_eq!(o["summary"]["total"], 8, "{listed}");
        assert_eq!(o["severity"], "Critical");
        let merged = s
            .expect(
                Method::GET,
                &format!(
                    "{}/additions/vulnerabilities",
                    artifact_path("p/app", "multi")
                ),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(findings(&merged[NATIVE]).len(), 8);

        // Scanning the index scans both images again.
        let ipath = artifact_path("p/app", "multi");
        s.expect(Method::POST, &format!("{ipath}/scan"), ADMIN, None)
            .await
            .is(202);
        let o = scanned(&s, "p/app", "multi").await;
        assert_eq!(o["scan_status"], "Success", "{o}");
        assert_eq!(o["summary"]["total"], 8);

        // What is not an image is not scanned; bad scan types are refused.
        let chart = json!({"apiVersion": "v2", "name": "c", "version": "1.0"});
        let archive = common::chart_archive(&chart, &[]);
        let chart = s.push_chart("p/chart", "1.0", &chart, &archive).await;
        let cpath = artifact_path("p/chart", &chart);
        let e = s
            .expect(Method::POST, &format!("{cpath}/scan"), ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");
        assert!(
            e["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("does not support scanning"),
            "{e}"
        );
        s.expect(
            Method::POST,
            &format!("{path}/scan"),
            ADMIN,
            Some(&json!({"scan_type": "viruses"})),
        )
        .await
        .error(400, "BAD_REQUEST");
        s.expect(
            Method::POST,
            &format!("{path}/scan/stop"),
            ADMIN,
            Some(&json!({"scan_type": "vulnerability"})),
        )
        .await
        .error(400, "BAD_REQUEST");

        // Who may: a guest reads overviews but may not scan; strangers see nothing.
        s.create_user("guest", "Guest12345").await;
        s.create(
            "/projects/p/members",
            ADMIN,
            json!({"role_id": 3, "member_user": {"username": "guest"}}),
        )
        .await;
        let guest = Some(("guest", "Guest12345"));
        s.expect(Method::POST, &format!("{path}/scan"), guest, None)
            .await
            .error(403, "FORBIDDEN");
        let seen = s
            .expect(
                Method::GET,
                &format!("{path}?with_scan_overview=true"),
                guest,
                None,
            )
            .await
            .is(200);
        assert_eq!(seen["scan_overview"][NATIVE]["scan_status"], "Success");
        s.expect(Method::POST, &format!("{path}/scan"), None, None)
            .await
            .error(401, "UNAUTHORIZED");
        s.create_user("stranger", "Stranger12345").await;
        s.expect(
            Method::GET,
            &format!("{path}/scan/{report_id}/log"),
            Some(("stranger", "Stranger12345")),
            None,
        )
        .await
        .error(403, "FORBIDDEN");
    }
}

/// An OSV archive (as osv.dev's `all.zip`) of the fixtures, left open for more.
fn fixtures_zip<W: std::io::Write + std::io::Seek>(w: W) -> zip::ZipWriter<W> {
    let mut zip = zip::ZipWriter::new(w);
    let options = zip::write::SimpleFileOptions::default();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            zip.start_file(path.file_name().unwrap().to_string_lossy(), options)
                .unwrap();
            std::io::Write::write_all(&mut zip, &std::fs::read(&path).unwrap()).unwrap();
        }
    }
    zip
}

#[tokio::test]
async fn an_archive_import_replaces_and_withdraws_advisories() {
    let s = Server::start("sqlite", None).await;
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let mut zip = fixtures_zip(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("broken.json", options).unwrap();
    std::io::Write::write_all(&mut zip, b"{not json").unwrap();
    zip.finish().unwrap();
    let out = s.import_vulndb(&zip_path);
    assert!(out.contains("Read 12 records"), "{out}");
    assert!(
        out.contains("10 advisories stored, 1 withdrawn removed, 1 invalid"),
        "{out}"
    );

    // lodash's advisory withdrawn later: it no longer matches.
    let withdrawn = dir.path().join("update");
    std::fs::create_dir(&withdrawn).unwrap();
    std::fs::write(
        withdrawn.join("GHSA-p6mc-m468-83gw.json"),
        r#"{"id":"GHSA-p6mc-m468-83gw","modified":"2030-01-01T00:00:00Z","withdrawn":"2030-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let out = s.import_vulndb(&withdrawn);
    assert!(
        out.contains("0 advisories stored, 1 withdrawn removed, 0 invalid; 9 advisories"),
        "{out}"
    );
    push_debian(&s, "p/app", "v1").await;
    s.expect(
        Method::POST,
        &format!("{}/scan", artifact_path("p/app", "v1")),
        ADMIN,
        None,
    )
    .await
    .is(202);
    let o = scanned(&s, "p/app", "v1").await;
    assert_eq!(o["summary"]["summary"]["High"], 2, "{o}");

    // Not an archive: a clear error, nothing imported.
    let bad = dir.path().join("bad.zip");
    std::fs::write(&bad, b"not a zip").unwrap();
    let out = berth()
        .args(["vulndb", "import"])
        .arg(&bad)
        .args(["--database-url", &s.database_url])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a zip archive"),
        "{out:?}"
    );
}

/// Waits for the artifact's SBOM generation to end; its overview.
async fn sbom_generated(s: &Server, repo: &str, reference: &str) -> Value {
    let overview = |a: &Value| a["sbom_overview"].clone();
    ended(s, repo, reference, "with_sbom_overview", overview).await
}

#[tokio::test]
async fn an_sbom_lists_every_package_and_is_pushed_as_the_images_accessory() {
    for s in common::servers().await {
        let (debian, _) = push_debian(&s, "p/app", "bookworm").await;
        let path = artifact_path("p/app", "bookworm");
        let sbom = json!({"scan_type": "sbom"});
        s.expect(Method::POST, &format!("{path}/scan"), ADMIN, Some(&sbom))
            .await
            .is(202);
        let a = sbom_generated(&s, "p/app", "bookworm").await;
        let overview = &a["sbom_overview"];
        assert_eq!(overview["scan_status"], "Success", "{a}");
        assert_eq!(overview["scanner"]["name"], "Berth");
        let sbom_digest = overview["sbom_digest"].as_str().unwrap();
        let href = a["addition_links"]["sboms"]["href"].as_str().unwrap();
        assert_eq!(
            href,
            format!("/api/v2.0/projects/p/repositories/app/artifacts/{sbom_digest}/additions/sbom")
        );
        // No vulnerability scan was asked for.
        assert!(a.get("scan_overview").is_none());

        // The document lists every installed package with its package URL.
        let doc = s
            .expect(
                Method::GET,
                href.trim_start_matches("/api/v2.0"),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(doc.status, 200, "{}", doc.text);
        assert_eq!(
            doc.header("content-type"),
            "application/vnd.goharbor.harbor.sbom.v1"
        );
        let doc: Value = serde_json::from_str(&doc.text).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["name"], format!("p/app@{debian}"));
        assert_eq!(
            purls(&doc),
            [
                "pkg:cargo/serde@1.0.100",
                "pkg:cargo/smallvec@1.4.0",
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12",
                "pkg:deb/debian/openssl@3.0.11-1~deb12u1?arch=amd64&distro=debian-12",
                "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12",
                "pkg:npm/lodash@4.17.15",
                "pkg:pypi/PyYAML@5.3.1",
                "pkg:pypi/requests@2.25.0",
            ]
        );
        let contains = doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == "CONTAINS")
            .count();
        assert_eq!(contains, 9, "the OS and 8 packages");

        // The SBOM is the image's accessory, of Harbor's SBOM type, pushed by
        // the one who asked (audit).
        let accessories = s
            .expect(Method::GET, &format!("{path}/accessories"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(accessories[0]["type"], "sbom.harbor", "{accessories}");
        assert_eq!(accessories[0]["digest"], sbom_digest);
        let sbom_art = s
            .expect(
                Method::GET,
                &artifact_path("p/app", sbom_digest),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(sbom_art["type"], "SBOM");
        assert_eq!(
            sbom_art["annotations"]["org.opencontainers.artifact.description"],
            "SPDX JSON SBOM"
        );
        let pushed = format!("p/app@{sbom_digest}");
        let mut logs = Value::Null;
        for _ in 0..50 {
            logs = s
                .expect(Method::GET, "/audit-logs?page_size=100", ADMIN, None)
                .await
                .is(200);
            if logs
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["resource"] == pushed)
            {
                break;
            }
            common::sleep_ms(100).await;
        }
        let entry = logs
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["resource"] == pushed);
        assert_eq!(
            entry.map(|e| (&e["operation"], &e["username"])),
            Some((&json!("create"), &json!("admin"))),
            "{logs}"
        );

        // A maintainer may generate SBOMs, a developer may not.
        s.create_user("dev", "Developer1").await;
        s.create(
            "/projects/p/members",
            ADMIN,
            json!({"role_id": 2, "member_user": {"username": "dev"}}),
        )
        .await;
        s.expect(
            Method::POST,
            &format!("{path}/scan"),
            Some(("dev", "Developer1")),
            Some(&sbom),
        )
        .await
        .error(403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn a_project_can_scan_and_make_sboms_on_push() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let on = json!({"metadata": {"auto_scan": "true", "auto_sbom_generation": "true"}});
        s.expect(Method::PUT, "/projects/q", ADMIN, Some(&on))
            .await
            .is(200);
        let (digest, size) = push_debian(&s, "q/app", "v1").await;
        let overview = scanned(&s, "q/app", "v1").await;
        assert_eq!(overview["scan_status"], "Success", "{overview}");
        assert_eq!(overview["summary"]["total"], 6);
        let a = sbom_generated(&s, "q/app", "v1").await;
        assert_eq!(a["sbom_overview"]["scan_status"], "Success", "{a}");

        // The SBOM the push made is not scanned in turn, nor is an index
        // (its images were, as they came); an image pushed to p, which has
        // not the switches on, is not scanned at all.
        let index = common::index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &digest, size)]);
        assert_eq!(
            s.put_manifest("q/app", "multi", OCI_INDEX, &index)
                .await
                .status(),
            201
        );
        push_alpine(&s, "p/plain", "v1").await;
        common::sleep_ms(300).await;
        let listed = s
            .expect(Method::GET, "/projects/q/repositories/app/artifacts?with_scan_overview=true&with_sbom_overview=true&with_accessory=true", ADMIN, None)
            .await
            .is(200);
        let accessories = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["digest"] == digest.as_str())
            .unwrap()["accessories"]
            .clone();
        assert_eq!(accessories.as_array().unwrap().len(), 1, "{listed}");
        let sbom = accessories[0]["digest"].as_str().unwrap();
        let sbom_art = s
            .expect(
                Method::GET,
                &format!(
                    "{}?with_scan_overview=true&with_sbom_overview=true",
                    artifact_path("q/app", sbom)
                ),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert!(
            sbom_art.get("scan_overview").is_none() && sbom_art.get("sbom_overview").is_none(),
            "{sbom_art}"
        );
        let plain = s
            .expect(
                Method::GET,
                &format!("{}?with_scan_overview=true", artifact_path("p/plain", "v1")),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert!(plain.get("scan_overview").is_none(), "{plain}");
    }
}

/// `GET /v2/<repo>/manifests/<reference>` as the admin: the status and
/// the first error.
async fn pull(s: &Server, repo: &str, reference: &str) -> (u16, Value) {
    let admin = ("admin", common::ADMIN_PASSWORD);
    s.pull_manifest(repo, reference, admin, "docker").await
}

async fn prevent(s: &Server, project: &str, severity: &str) {
    let body = json!({"metadata": {"prevent_vul": "true", "severity": severity}});
    s.expect(
        Method::PUT,
        &format!("/projects/{project}"),
        ADMIN,
        Some(&body),
    )
    .await
    .is(200);
}

#[tokio::test]
async fn prevent_vul_refuses_pulls_of_images_at_or_above_the_projects_severity() {
    let policy = |severity: &str| {
        format!(
            "cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of \"{severity}\" or higher from running.'"
        )
    };
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let (debian, debian_size) = push_debian(&s, "p/app", "debian").await;
        let (alpine, alpine_size) = push_alpine(&s, "p/app", "alpine").await;
        s.push_image("p/app", "broken", "not-a-tar").await;
        let chart = json!({"apiVersion": "v2", "name": "c", "version": "1.0"});
        s.push_chart(
            "p/chart",
            "1.0",
            &chart,
            &common::chart_archive(&chart, &[]),
        )
        .await;
        for tag in ["debian", "broken"] {
            let path = format!("{}/scan", artifact_path("p/app", tag));
            s.expect(Method::POST, &path, ADMIN, None).await.is(202);
            scanned(&s, "p/app", tag).await;
        }
        // Off: everything is served.
        assert_eq!(pull(&s, "p/app", "debian").await.0, 200);

        prevent(&s, "p", "high").await;
        let (status, error) = pull(&s, "p/app", "debian").await;
        assert_eq!(
            (status, error["code"].as_str()),
            (412, Some("PROJECTPOLICYVIOLATION")),
            "{error}"
        );
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("current image with 6 vulnerabilities "),
            "{message}"
        );
        assert!(message.contains(&policy("High")), "{message}");
        assert!(
            message.ends_with(
                "to exempt matched vulnerabilities through configuring the CVE allowlist."
            ),
            "{message}"
        );
        let out = common::skopeo_pull(&s, "p/app:debian");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("current image with 6 vulnerabilities"),
            "{out:?}"
        );

        // Not scanned yet: refused until a scan says otherwise, and the
        // scan's verdict holds at once.
        let (status, error) = pull(&s, "p/app", "alpine").await;
        assert_eq!(status, 412);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("current image without vulnerability scanning "),
            "{error}"
        );
        let path = format!("{}/scan", artifact_path("p/app", "alpine"));
        s.expect(Method::POST, &path, ADMIN, None).await.is(202);
        scanned(&s, "p/app", "alpine").await;
        assert_eq!(
            pull(&s, "p/app", "alpine").await.0,
            200,
            "Medium findings pass a High threshold"
        );
        assert!(common::skopeo_pull(&s, "p/app:alpine").status.success());

        // A failed scan refuses, and says why.
        let (status, error) = pull(&s, "p/app", "broken").await;
        assert_eq!(status, 412);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("current image with \"Error\" status of vulnerability scanning "),
            "{error}"
        );

        // What the scanner does not read passes; so does an index of
        // images, whose images are checked by themselves.
        assert_eq!(pull(&s, "p/chart", "1.0").await.0, 200);
        let index = common::index_manifest(
            OCI_INDEX,
            &[
                (OCI_MANIFEST, &debian, debian_size),
                (OCI_MANIFEST, &alpine, alpine_size),
            ],
        );
        assert_eq!(
            s.put_manifest("p/app", "multi", OCI_INDEX, &index)
                .await
                .status(),
            201
        );
        assert_eq!(pull(&s, "p/app", "multi").await.0, 200);
        assert_eq!(pull(&s, "p/app", &debian).await.0, 412);

        // The threshold follows the setting: with "critical", a Medium
        // image passes and a Critical one does not; with "low", neither.
        prevent(&s, "p", "critical").await;
        assert_eq!(pull(&s, "p/app", "alpine").await.0, 200);
        let (status, error) = pull(&s, "p/app", "debian").await;
        assert_eq!(status, 412);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&policy("Critical")),
            "{error}"
        );
        prevent(&s, "p", "low").await;
        let (status, error) = pull(&s, "p/app", "alpine").await;
        assert_eq!(status, 412);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("current image with 2 vulnerabilities "),
            "{error}"
        );

        // Another project is not concerned.
        push_debian(&s, "q/app", "debian").await;
        assert_eq!(pull(&s, "q/app", "debian").await.0, 200);

        // CVE allowlists: the project's own, then the system's it reuses.
        prevent(&s, "p", "critical").await;
        let criticals = json!([{"cve_id": "CVE-2020-14343"}, {"cve_id": "CVE-2021-25900"}]);
        let own = json!({"cve_allowlist": {"items": criticals}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&own))
            .await
            .is(200);
        let project = s
            .expect(Method::GET, "/projects/p", ADMIN, None)
            .await
            .is(200);
        assert_eq!(project["cve_allowlist"]["items"], criticals, "{project}");
        assert!(project["cve_allowlist"].get("expires_at").is_none());
        let listed = s
            .expect(Method::GET, "/projects?name=p", ADMIN, None)
            .await
            .is(200);
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "p")
            .unwrap();
        assert_eq!(row["cve_allowlist"]["items"], criticals, "{row}");
        assert_eq!(
            pull(&s, "p/app", "debian").await.0,
            200,
            "the High findings pass a Critical threshold"
        );
        prevent(&s, "p", "high").await;
        let (status, error) = pull(&s, "p/app", "debian").await;
        assert_eq!(status, 412);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("current image with 4 vulnerabilities "),
            "{error}"
        );
        prevent(&s, "p", "critical").await;
        let expired = json!({"cve_allowlist": {"items": criticals, "expires_at": 1_600_000_000}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&expired))
            .await
            .is(200);
        assert_eq!(
            pull(&s, "p/app", "debian").await.0,
            412,
            "an expired allowlist lets nothing through"
        );

        let reuse = json!({"metadata": {"reuse_sys_cve_allowlist": "true"}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&reuse))
            .await
            .is(200);
        assert_eq!(
            pull(&s, "p/app", "debian").await.0,
            412,
            "the system's list is empty"
        );
        let system = json!({"items": criticals, "expires_at": 4_000_000_000u64});
        s.expect(Method::PUT, "/system/CVEAllowlist", ADMIN, Some(&system))
            .await
            .is(200);
        assert_eq!(pull(&s, "p/app", "debian").await.0, 200);
        let shown = s
            .expect(Method::GET, "/system/CVEAllowlist", ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            (&shown["project_id"], &shown["expires_at"], &shown["items"]),
            (&json!(0), &json!(4_000_000_000u64), &criticals)
        );

        // Harbor's refusals.
        let dup = json!({"items": [{"cve_id": "CVE-1"}, {"cve_id": "CVE-1"}]});
        let e = s
            .expect(Method::PUT, "/system/CVEAllowlist", ADMIN, Some(&dup))
            .await
            .error(400, "BAD_REQUEST");
        assert_eq!(
            e["errors"][0]["message"],
            "duplicate CVE ID in allowlist: CVE-1"
        );
        let blank = json!({"cve_allowlist": {"items": [{"cve_id": " "}]}});
        s.expect(Method::PUT, "/projects/p", ADMIN, Some(&blank))
            .await
            .error(400, "BAD_REQUEST");
        s.create_user("reader", "Reader12345").await;
        let reader = Some(("reader", "Reader12345"));
        s.expect(Method::GET, "/system/CVEAllowlist", reader, None)
            .await
            .is(200);
        s.expect(Method::PUT, "/system/CVEAllowlist", reader, Some(&system))
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/system/CVEAllowlist", None, None)
            .await
            .error(401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn scan_all_scans_every_image_once_and_reports_its_progress() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        s.expect(Method::POST, "/system/scanAll/stop", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");
        let none = s
            .expect(Method::GET, "/scans/all/metrics", ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            none,
            json!({"total": 0, "completed": 0, "metrics": {}, "ongoing": false})
        );
        push_debian(&s, "p/app", "debian").await;
        // The same image in a second repository is scanned once.
        push_debian(&s, "q/copy", "debian").await;
        push_alpine(&s, "p/app", "alpine").await;
        s.push_image("p/app", "broken", "not-a-tar").await;
        let chart = json!({"apiVersion": "v2", "name": "c", "version": "1.0"});
        s.push_chart(
            "p/chart",
            "1.0",
            &chart,
            &common::chart_archive(&chart, &[]),
        )
        .await;

        let manual = json!({"schedule": {"type": "Manual"}});
        s.expect(
            Method::POST,
            "/system/scanAll/schedule",
            ADMIN,
            Some(&manual),
        )
        .await
        .is(201);
        let mut stats = Value::Null;
        for _ in 0..200 {
            stats = s
                .expect(Method::GET, "/scans/all/metrics", ADMIN, None)
                .await
                .is(200);
            if stats["ongoing"] == false && stats["total"] != 0 {
                break;
            }
            common::sleep_ms(50).await;
        }
        assert_eq!(
            stats,
            json!({"total": 3, "completed": 3, "metrics": {"Success": 2, "Error": 1},
                "ongoing": false, "trigger": "Manual"})
        );
        let copy = scanned(&s, "q/copy", "debian").await;
        assert_eq!(copy["summary"]["total"], 6, "{copy}");
        assert_eq!(scanned(&s, "p/app", "alpine").await["summary"]["total"], 2);
        assert_eq!(scanned(&s, "p/app", "broken").await["scan_status"], "Error");
        let scheduled = s
            .expect(Method::GET, "/scans/schedule/metrics", ADMIN, None)
            .await
            .is(200);
        assert_eq!(scheduled["total"], 0, "no scheduled run yet");

        // A schedule.
        let daily = json!({"schedule": {"type": "Daily"}});
        s.expect(Method::PUT, "/system/scanAll/schedule", ADMIN, Some(&daily))
            .await
            .is(200);
        let got = s
            .expect(Method::GET, "/system/scanAll/schedule", ADMIN, None)
            .await
            .is(200);
        assert_eq!(got["schedule"]["type"], "Daily", "{got}");
        assert!(got["schedule"]["next_scheduled_time"].is_string(), "{got}");
        let off = json!({"schedule": {"type": "None"}});
        s.expect(Method::PUT, "/system/scanAll/schedule", ADMIN, Some(&off))
            .await
            .is(200);
        let got = s
            .expect(Method::GET, "/system/scanAll/schedule", ADMIN, None)
            .await
            .is(200);
        assert_eq!(got["schedule"]["type"], "None");

        // Administrators only.
        s.create_user("user", "User12345").await;
        let user = Some(("user", "User12345"));
        s.expect(
            Method::POST,
            "/system/scanAll/schedule",
            user,
            Some(&manual),
        )
        .await
        .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/scans/all/metrics", user, None)
            .await
            .error(403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn scans_that_end_are_told_to_webhooks() {
    // A receiver that keeps what it is sent.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    for s in common::servers().await {
        got.lock().unwrap().clear();
        s.import_vulndb(&fixtures());
        let policy = json!({"name": "scans", "targets": [{"type": "http", "address": hook}],
            "event_types": ["SCANNING_COMPLETED", "SCANNING_FAILED", "SCANNING_STOPPED"]});
        s.create("/projects/p/webhook/policies", ADMIN, policy)
            .await;
        let (debian, _) = push_debian(&s, "p/app", "debian").await;
        s.push_image("p/app", "broken", "not-a-tar").await;
        for tag in ["debian", "broken"] {
            let path = format!("{}/scan", artifact_path("p/app", tag));
            s.expect(Method::POST, &path, ADMIN, None).await.is(202);
            scanned(&s, "p/app", tag).await;
        }
        let mut events = Vec::new();
        for _ in 0..100 {
            events = got.lock().unwrap().clone();
            if events.len() >= 2 {
                break;
            }
            common::sleep_ms(50).await;
        }
        assert_eq!(events.len(), 2, "{events:?}");
        let completed = events
            .iter()
            .find(|e| e["type"] == "SCANNING_COMPLETED")
            .unwrap();
        let resource = &completed["event_data"]["resources"][0];
        assert_eq!(resource["digest"], debian.as_str());
        let overview = &resource["scan_overview"][GENERIC];
        assert_eq!(overview["scan_status"], "Success", "{completed}");
        assert_eq!(overview["summary"]["total"], 6);
        assert_eq!(completed["operator"], "admin");
        assert_eq!(
            completed["event_data"]["repository"]["repo_full_name"],
            "p/app"
        );
        let failed = events
            .iter()
            .find(|e| e["type"] == "SCANNING_FAILED")
            .unwrap();
        assert_eq!(
            failed["event_data"]["resources"][0]["scan_overview"][GENERIC]["scan_status"],
            "Error"
        );

        // A scan stopped while its scanner works on it.
        let (proxy, _) = adapter_proxy(s.u("/scanner-adapter"), Twist::Stall).await;
        let reg = json!({"name": "stalling", "url": proxy, "auth": "Basic",
                         "access_credential": format!("admin:{}", common::ADMIN_PASSWORD)});
        let created = s.expect(Method::POST, "/scanners", ADMIN, Some(&reg)).await;
        let uuid = created
            .header("location")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let chosen = json!({"uuid": uuid});
        s.expect(Method::PUT, "/projects/p/scanner", ADMIN, Some(&chosen))
            .await
            .is(200);
        let path = artifact_path("p/app", "debian");
        s.expect(Method::POST, &format!("{path}/scan"), ADMIN, None)
            .await
            .is(202);
        let vulnerability = json!({"scan_type": "vulnerability"});
        let stop = format!("{path}/scan/stop");
        s.expect(Method::POST, &stop, ADMIN, Some(&vulnerability))
            .await
            .is(202);
        assert_eq!(
            scanned(&s, "p/app", "debian").await["scan_status"],
            "Stopped"
        );
        let mut stopped = None;
        for _ in 0..100 {
            stopped = (got.lock().unwrap().iter())
                .find(|e| e["type"] == "SCANNING_STOPPED")
                .cloned();
            if stopped.is_some() {
                break;
            }
            common::sleep_ms(50).await;
        }
        let stopped = stopped.expect("SCANNING_STOPPED");
        let resource = &stopped["event_data"]["resources"][0];
        assert_eq!(resource["digest"], debian.as_str());
        assert_eq!(resource["scan_overview"][GENERIC]["scan_status"], "Stopped");
        assert_eq!(stopped["operator"], "admin");
    }
}

#[tokio::test]
async fn java_archives_are_scanned_for_their_maven_packages() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let pom =
            |a: &str| format!("groupId=org.apache.logging.log4j\nartifactId={a}\nversion=2.14.1\n");
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for a in ["log4j-core", "log4j-api"] {
            let entry = format!("META-INF/maven/org.apache.logging.log4j/{a}/pom.properties");
            zip.start_file(entry, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, pom(a).as_bytes()).unwrap();
        }
        let jar = zip.finish().unwrap().into_inner();
        // A tar of the jar (binary, so not through tar_gz's text files).
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(jar.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "opt/app/lib/app.jar", &jar[..])
            .unwrap();
        let layer = b.into_inner().unwrap();
        s.push_layers("p/java", "v1", &[layer]).await;
        let (overview, report) = scan_report(&s, "p/java", "v1").await;
        assert_eq!(overview["severity"], "Critical", "{overview}");
        assert_eq!(
            findings(&report[NATIVE]),
            [row(
                "CVE-2021-44228",
                "org.apache.logging.log4j:log4j-core",
                "2.14.1",
                "2.15.0",
                "Critical"
            )]
        );
        assert_eq!(
            report[NATIVE]["vulnerabilities"][0]["preferred_cvss"]["score_v3"],
            10.0
        );
    }
}

/// Runs a build tool, failing the test with what it said.
fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// rpm's SQLite database, made by rpm itself: `openssl-libs` (a
/// subpackage of `openssl`, with an epoch) and `zlib` installed.
fn rpm_database(dir: &std::path::Path) -> Vec<u8> {
    let spec = "Name: openssl\nEpoch: 1\nVersion: 3.0.1\nRelease: 46.el9_1\nSummary: TLS\n\
        License: ASL 2.0\nBuildArch: x86_64\n%description\nTLS\n\
        %package libs\nSummary: TLS libraries\n%description libs\nTLS libraries\n%files libs\n";
    let zlib = "Name: zlib\nVersion: 1.2.11\nRelease: 40.el9\nSummary: zlib\nLicense: zlib\n\
        BuildArch: x86_64\n%description\nzlib\n%files\n";
    let top = dir.join("rpmbuild");
    let db = dir.join("rpmdb");
    for (name, text) in [("openssl.spec", spec), ("zlib.spec", zlib)] {
        std::fs::write(dir.join(name), text).unwrap();
        run(std::process::Command::new("rpmbuild")
            .args(["-bb", "--quiet", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg(dir.join(name)));
    }
    let rpms: Vec<PathBuf> = std::fs::read_dir(top.join("RPMS/x86_64"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    run(std::process::Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .arg("--initdb"));
    run(std::process::Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .args([
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--ignorearch",
            "--ignoreos",
        ])
        .args(&rpms));
    std::fs::read(db.join("rpmdb.sqlite")).unwrap()
}

/// A Go program built with `golang.org/x/text` v0.3.7 (vendored: no
/// network); its bytes and the Go release that built it.
fn go_program(dir: &std::path::Path) -> (Vec<u8>, String) {
    let src = dir.join("hello");
    let lib = src.join("vendor/golang.org/x/text/language");
    std::fs::create_dir_all(&lib).unwrap();
    let files = [
        (src.join("go.mod"), "module example.com/hello\n\ngo 1.19\n\nrequire golang.org/x/text v0.3.7\n"),
        (src.join("vendor/modules.txt"), "# golang.org/x/text v0.3.7\n## explicit\ngolang.org/x/text/language\n"),
        (lib.join("language.go"), "package language\n\nfunc Name() string { return \"en\" }\n"),
        (src.join("main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.Name()) }\n"),
    ];
    for (path, text) in files {
        std::fs::write(path, text).unwrap();
    }
    let go = |args: &[&str]| {
        let mut c = std::process::Command::new("go");
        c.args(args)
            .current_dir(&src)
            .env("GOFLAGS", "-mod=vendor")
            .env("GOPROXY", "off")
            .env("GOPATH", dir.join("gopath"))
            .env("GOCACHE", dir.join("gocache"))
            .env("CGO_ENABLED", "0");
        c
    };
    run(&mut go(&["build", "-trimpath", "-o", "hello", "."]));
    let version = go(&["env", "GOVERSION"]).output().unwrap().stdout;
    let version = String::from_utf8(version).unwrap();
    (
        std::fs::read(src.join("hello")).unwrap(),
        version.trim().trim_start_matches("go").to_string(),
    )
}

#[tokio::test]
async fn rpm_databases_and_go_programs_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let rpmdb = rpm_database(dir.path());
    let (program, go_release) = go_program(dir.path());
    let mut b = tar::Builder::new(Vec::new());
    let release = b"NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.1\"\n";
    for (path, bytes, mode) in [
        ("etc/os-release", &release[..], 0o644),
        ("var/lib/rpm/rpmdb.sqlite", &rpmdb[..], 0o644),
        ("usr/local/bin/hello", &program[..], 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, path, bytes).unwrap();
    }
    let layer = b.into_inner().unwrap();
    let openssl_cves = [
        "CVE-2022-4203",
        "CVE-2022-4304",
        "CVE-2022-4450",
        "CVE-2023-0215",
        "CVE-2023-0216",
        "CVE-2023-0217",
        "CVE-2023-0286",
        "CVE-2023-0401",
    ];
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let (digest, _) = s
            .push_layers("p/alma", "9", std::slice::from_ref(&layer))
            .await;
        let (overview, report) = scan_report(&s, "p/alma", "9").await;
        assert_eq!(overview["severity"], "High", "{overview}");
        // Every CVE AlmaLinux's advisory names, for the binary package it
        // names; the Go module's advisory, which rates nothing.
        let mut want: Vec<_> = openssl_cves
            .iter()
            .map(|cve| {
                row(
                    cve,
                    "openssl-libs",
                    "1:3.0.1-46.el9_1",
                    "1:3.0.1-47.el9_1",
                    "High",
                )
            })
            .collect();
        want.push(row(
            "CVE-2022-32149",
            "golang.org/x/text",
            "v0.3.7",
            "0.3.8",
            "Unknown",
        ));
        assert_eq!(findings(&report[NATIVE]), want);
        let first = &report[NATIVE]["vulnerabilities"][0];
        assert_eq!(first["artifact_digests"][0], digest.as_str());
        assert_eq!(first["vendor_attributes"]["osv_id"], "ALSA-2023:0946");

        // The SBOM lists every package, the Go release among them.
        let sbom = json!({"scan_type": "sbom"});
        let path = artifact_path("p/alma", "9");
        s.expect(Method::POST, &format!("{path}/scan"), ADMIN, Some(&sbom))
            .await
            .is(202);
        let a = sbom_generated(&s, "p/alma", "9").await;
        let href = a["addition_links"]["sboms"]["href"].as_str().unwrap();
        let doc = s
            .expect(
                Method::GET,
                href.trim_start_matches("/api/v2.0"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        let stdlib = format!("pkg:golang/stdlib@{go_release}");
        assert_eq!(
            purls(&doc),
            [
                "pkg:golang/golang.org/x/text@v0.3.7",
                stdlib.as_str(),
                "pkg:rpm/almalinux/openssl-libs@3.0.1-46.el9_1?arch=x86_64&distro=almalinux-9.1&epoch=1",
                "pkg:rpm/almalinux/zlib@1.2.11-40.el9?arch=x86_64&distro=almalinux-9.1",
            ]
        );
    }
}

/// A registration an earlier version stored with its credential in the
/// clear is sealed when Berth starts, and still works.
#[tokio::test]
async fn scanner_credentials_stored_in_the_clear_are_sealed_at_start() {
    for s in common::servers().await {
        let db = s.open_db().await;
        let credential = format!("admin:{}", common::ADMIN_PASSWORD);
        let legacy = berth_db::scanners::Registration {
            id: 0,
            uuid: "0c5e4c2e-legacy".into(),
            name: "legacy".into(),
            description: String::new(),
            url: s.u("/scanner-adapter"),
            disabled: false,
            is_default: false,
            auth: "Basic".into(),
            access_credential: credential.clone(),
            skip_cert_verify: false,
            use_internal_addr: false,
            immutable: false,
            creation_time: 0,
            update_time: 0,
        };
        berth_db::scanners::insert(db.writer(), &legacy)
            .await
            .unwrap();
        // Another process on the same database starts and seals it.
        let next = s.sibling();
        let one = next
            .expect(Method::GET, "/scanners/0c5e4c2e-legacy", ADMIN, None)
            .await
            .is(200);
        assert_eq!(one["health"], "healthy", "{one}");
        let row = berth_db::scanners::by_uuid(db.reader(), "0c5e4c2e-legacy")
            .await
            .unwrap()
            .unwrap();
        assert!(row.access_credential.starts_with("sealed:v1:"));
        assert!(!row.access_credential.contains(common::ADMIN_PASSWORD));
    }
}

/// How a proxy in front of Berth's adapter changes it.
#[derive(Clone, Copy)]
enum Twist {
    /// Its metadata says the scanner wants a bearer token for the registry
    /// (as some adapters do).
    Bearer,
    /// A report is never ready.
    Stall,
}

/// Berth's adapter behind a proxy that twists it and keeps the
/// `Authorization` each scan request hands over; its URL.
async fn adapter_proxy(
    adapter: String,
    twist: Twist,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let handed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = handed.clone();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (client, adapter, kept) = (client.clone(), adapter.clone(), kept.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            if parts.uri.path() == "/api/v1/scan" {
                let r: Value = serde_json::from_slice(&body).unwrap();
                let auth = r["registry"]["authorization"].as_str().unwrap().to_string();
                kept.lock().unwrap().push(auth);
            }
            if matches!(twist, Twist::Stall) && parts.uri.path().ends_with("/report") {
                let mut headers = axum::http::HeaderMap::new();
                headers.insert("refresh-after", "1".parse().unwrap());
                return (axum::http::StatusCode::FOUND, headers, Vec::new());
            }
            let url = format!("{adapter}{}", parts.uri);
            let mut rb = client.request(parts.method.clone(), url).body(body);
            for name in ["authorization", "accept", "content-type"] {
                if let Some(v) = parts.headers.get(name) {
                    rb = rb.header(name, v.to_str().unwrap());
                }
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let mut headers = axum::http::HeaderMap::new();
            for (k, v) in r.headers() {
                if ["content-type", "refresh-after"].contains(&k.as_str()) {
                    headers.insert(
                        k.as_str().parse::<axum::http::HeaderName>().unwrap(),
                        v.to_str().unwrap().parse().unwrap(),
                    );
                }
            }
            let mut bytes = r.bytes().await.unwrap().to_vec();
            if matches!(twist, Twist::Bearer)
                && parts.uri.path() == "/api/v1/metadata"
                && status == 200
            {
                let mut m: Value = serde_json::from_slice(&bytes).unwrap();
                m["properties"]["harbor.scanner-adapter/registry-authorization-type"] =
                    json!("Bearer");
                bytes = serde_json::to_vec(&m).unwrap();
            }
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            (status, headers, bytes)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, handed)
}

/// The built-in scanner registered a second time through the adapter Berth
/// serves: the project's scans go over Harbor's pluggable scanner API (a
/// scan's robot pulls the image back over `/v2`, past `prevent_vul`) and
/// give the same report; registrations are managed as Harbor's are.
#[tokio::test]
async fn a_scanner_registered_through_its_adapter_api_gives_the_same_report() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        push_debian(&s, "p/app", "bookworm").await;
        let adapter_url = s.u("/scanner-adapter");

        // Berth's own scanner is registered and the default.
        let list = s.expect(Method::GET, "/scanners", ADMIN, None).await;
        assert_eq!(list.header("x-total-count"), "1");
        let builtin = &list.json[0];
        assert_eq!(builtin["name"], "Berth");
        assert_eq!(builtin["is_default"], true);
        assert_eq!(builtin["health"], "healthy");
        assert_eq!(builtin["url"], adapter_url);
        assert_eq!(
            builtin["capabilities"],
            json!({"support_vulnerability": true, "support_sbom": true})
        );
        let builtin_uuid = builtin["uuid"].as_str().unwrap().to_string();

        // The adapter answers only those who may register scanners.
        let metadata = "/scanner-adapter/api/v1/metadata";
        let anon = s.expect(Method::GET, metadata, None, None).await;
        assert_eq!(anon.status, 401, "{}", anon.text);
        assert!(anon.json["error"]["message"].is_string(), "{}", anon.text);
        s.create_user("dev", "Passw0rd!").await;
        let dev = Some(("dev", "Passw0rd!"));
        assert_eq!(s.expect(Method::GET, metadata, dev, None).await.status, 403);
        let meta = s.expect(Method::GET, metadata, ADMIN, None).await;
        assert_eq!(
            meta.header("content-type"),
            "application/vnd.scanner.adapter.metadata+json; version=1.1"
        );
        let meta = meta.is(200);
        assert_eq!(meta["scanner"]["name"], "Berth");
        assert_eq!(meta["capabilities"][0]["type"], "vulnerability");
        assert_eq!(meta["capabilities"][1]["type"], "sbom");
        let bad = s
            .expect(
                Method::POST,
                "/scanner-adapter/api/v1/scan",
                ADMIN,
                Some(&json!({"x": 1})),
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.text);
        let report = "/scanner-adapter/api/v1/scan/nope/report";
        assert_eq!(s.expect(Method::GET, report, ADMIN, None).await.status, 404);

        // Registering: the name Berth is taken, the adapter must answer,
        // and a name or URL is registered once.
        let credential = format!("admin:{}", common::ADMIN_PASSWORD);
        let registration = |name: &str, url: &str, credential: &str| {
            json!({"name": name, "url": url, "auth": "Basic", "access_credential": credential,
                   "description": "Berth's scanner over HTTP"})
        };
        let reg = registration("Berth", &adapter_url, &credential);
        s.expect(Method::POST, "/scanners", ADMIN, Some(&reg))
            .await
            .error(400, "BAD_REQUEST");
        let wrong = registration("over-http", &adapter_url, "admin:wrong");
        s.expect(Method::POST, "/scanners/ping", ADMIN, Some(&wrong))
            .await
            .error(400, "BAD_REQUEST");
        let down = registration("over-http", "http://127.0.0.1:9", &credential);
        s.expect(Method::POST, "/scanners", ADMIN, Some(&down))
            .await
            .error(400, "BAD_REQUEST");
        let reg = registration("over-http", &adapter_url, &credential);
        s.expect(Method::POST, "/scanners/ping", ADMIN, Some(&reg))
            .await
            .is(200);
        s.expect(Method::POST, "/scanners", dev, Some(&reg))
            .await
            .error(403, "FORBIDDEN");
        let created = s.expect(Method::POST, "/scanners", ADMIN, Some(&reg)).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let location = created.header("location").to_string();
        let uuid = location.rsplit('/').next().unwrap().to_string();
        s.expect(Method::POST, "/scanners", ADMIN, Some(&reg))
            .await
            .error(409, "CONFLICT");
        let one = s
            .expect(Method::GET, &format!("/scanners/{uuid}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(one["name"], "over-http");
        assert_eq!(one["url"], adapter_url);
        assert_eq!(one["auth"], "Basic");
        assert_eq!(one["health"], "healthy");
        assert_eq!(one["adapter"], "Berth");
        assert_eq!(one["is_default"], false);
        assert!(one.get("access_credential").is_none(), "{one}");
        // Stored sealed, never in the clear.
        let db = s.open_db().await;
        let row = berth_db::scanners::by_uuid(db.reader(), &uuid)
            .await
            .unwrap()
            .unwrap();
        assert!(row.access_credential.starts_with("sealed:v1:"));
        assert!(!row.access_credential.contains(common::ADMIN_PASSWORD));
        let meta = s
            .expect(
                Method::GET,
                &format!("/scanners/{uuid}/metadata"),
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(meta["capabilities"][0]["type"], "vulnerability");
        let searched = s
            .expect(Method::GET, "/scanners?name=over", ADMIN, None)
            .await;
        assert_eq!(searched.header("x-total-count"), "1");

        // The shipped registration stays as it is.
        let builtin_path = format!("/scanners/{builtin_uuid}");
        s.expect(Method::DELETE, &builtin_path, ADMIN, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::PUT, &builtin_path, ADMIN, Some(&reg))
            .await
            .error(403, "FORBIDDEN");

        // The project scans with it, even where unscanned images may not
        // be pulled: its robot may.
        let project_scanner = "/projects/p/scanner";
        let candidates = s
            .expect(Method::GET, "/projects/p/scanner/candidates", ADMIN, None)
            .await;
        assert_eq!(candidates.header("x-total-count"), "2");
        s.expect(
            Method::PUT,
            project_scanner,
            ADMIN,
            Some(&json!({"uuid": "nope"})),
        )
        .await
        .error(404, "NOT_FOUND");
        s.expect(
            Method::PUT,
            project_scanner,
            ADMIN,
            Some(&json!({"uuid": uuid})),
        )
        .await
        .is(200);
        let chosen = s
            .expect(Method::GET, project_scanner, ADMIN, None)
            .await
            .is(200);
        assert_eq!(chosen["name"], "over-http");
        prevent(&s, "p", "critical").await;
        assert_eq!(pull(&s, "p/app", "bookworm").await.0, 412);
        let path = artifact_path("p/app", "bookworm");
        let (overview, report) = scan_report(&s, "p/app", "bookworm").await;
        assert_eq!(overview["scan_status"], "Success", "{overview}");
        assert_eq!(overview["scanner"]["name"], "Berth");
        assert_eq!(
            overview["summary"],
            json!({"total": 6, "fixable": 6, "summary": {"Critical": 2, "High": 3, "Medium": 1}})
        );
        let ids: Vec<String> = findings(&report[NATIVE]).into_iter().map(|f| f.0).collect();
        assert_eq!(
            ids,
            [
                "CVE-2020-14343",
                "CVE-2021-25900",
                "CVE-2023-5363",
                "CVE-2020-8203",
                "CVE-2023-5363",
                "CVE-2023-32681"
            ]
        );
        assert_eq!(
            pull(&s, "p/app", "bookworm").await.0,
            412,
            "criticals found"
        );
        let report_id = overview["report_id"].as_str().unwrap();
        let log = scan_log(&s, &format!("{path}/scan/{report_id}/log")).await;
        assert!(
            log.text.contains("asking over-http to scan"),
            "{}",
            log.text
        );
        assert!(log.text.contains("accepted the scan as"), "{}", log.text);

        // The scan's robot is gone once the scan ended.
        let pid = s
            .expect(Method::GET, "/projects/p", ADMIN, None)
            .await
            .is(200)["project_id"]
            .as_i64()
            .unwrap();
        let robots = s
            .expect(
                Method::GET,
                &format!("/robots?q=Level%3Dproject%2CProjectID%3D{pid}"),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(robots.header("x-total-count"), "0", "{}", robots.text);

        // An SBOM over the adapter too, pushed as the image's accessory.
        s.expect(
            Method::POST,
            &format!("{path}/scan"),
            ADMIN,
            Some(&json!({"scan_type": "sbom"})),
        )
        .await
        .is(202);
        let a = sbom_generated(&s, "p/app", "bookworm").await;
        assert_eq!(a["sbom_overview"]["scan_status"], "Success", "{a}");
        let href = a["addition_links"]["sboms"]["href"].as_str().unwrap();
        let doc = s
            .expect(
                Method::GET,
                href.trim_start_matches("/api/v2.0"),
                ADMIN,
                None,
            )
            .await;
        assert!(doc.text.contains("pkg:pypi/PyYAML@5.3.1"), "{}", doc.text);

        // A scanner that asks for a bearer token gets one from Berth's
        // token service, scoped to the repository, instead of a password.
        let (proxy, handed) = adapter_proxy(adapter_url.clone(), Twist::Bearer).await;
        let reg = registration("bearer", &proxy, &credential);
        let created = s.expect(Method::POST, "/scanners", ADMIN, Some(&reg)).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let bearer = created
            .header("location")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        s.expect(
            Method::PUT,
            project_scanner,
            ADMIN,
            Some(&json!({"uuid": bearer})),
        )
        .await
        .is(200);
        s.expect(Method::POST, &format!("{path}/scan"), ADMIN, None)
            .await
            .is(202);
        let overview = scanned(&s, "p/app", "bookworm").await;
        assert_eq!(overview["summary"]["total"], 6, "{overview}");
        let handed = handed.lock().unwrap().clone();
        assert_eq!(handed.len(), 1);
        assert!(handed[0].starts_with("Bearer "), "{handed:?}");
        s.expect(Method::DELETE, &format!("/scanners/{bearer}"), ADMIN, None)
            .await
            .is(200);
        s.expect(
            Method::PUT,
            project_scanner,
            ADMIN,
            Some(&json!({"uuid": uuid})),
        )
        .await
        .is(200);

        // The default moves; deleting it makes Berth's own the default
        // again, and the project falls back to it.
        let default = json!({"is_default": true});
        s.expect(
            Method::PATCH,
            &format!("/scanners/{uuid}"),
            ADMIN,
            Some(&default),
        )
        .await
        .is(200);
        let list = s
            .expect(Method::GET, "/scanners", ADMIN, None)
            .await
            .is(200);
        let defaults: Vec<&str> = (list.as_array().unwrap().iter())
            .filter(|r| r["is_default"] == true)
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(defaults, ["over-http"]);
        let deleted = s
            .expect(Method::DELETE, &format!("/scanners/{uuid}"), ADMIN, None)
            .await
            .is(200);
        assert_eq!(deleted["name"], "over-http");
        let chosen = s
            .expect(Method::GET, project_scanner, ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            (chosen["name"].as_str(), chosen["is_default"].as_bool()),
            (Some("Berth"), Some(true))
        );
        // Berth's own scanner never scanned this image.
        assert_eq!(pull(&s, "p/app", "bookworm").await.0, 412);
    }
}

/// The security hub counts and searches the findings of the default
/// scanner's reports over every artifact.
#[tokio::test]
async fn the_security_hub_counts_and_searches_every_artifacts_findings() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let (debian, _) = push_debian(&s, "p/app", "bookworm").await;
        let (alpine, _) = push_alpine(&s, "p/app", "alpine").await;
        s.push_image("p/app", "unscanned", "not-a-tar").await;
        for tag in ["bookworm", "alpine"] {
            let path = format!("{}/scan", artifact_path("p/app", tag));
            s.expect(Method::POST, &path, ADMIN, None).await.is(202);
            assert_eq!(scanned(&s, "p/app", tag).await["scan_status"], "Success");
        }

        let summary = s
            .expect(Method::GET, "/security/summary", ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            summary,
            json!({"critical_cnt": 2, "high_cnt": 3, "medium_cnt": 3, "low_cnt": 0,
                   "none_cnt": 0, "unknown_cnt": 0, "total_vuls": 8, "scanned_cnt": 2,
                   "total_artifact": 3, "fixable_cnt": 8})
        );
        let full = s
            .expect(
                Method::GET,
                "/security/summary?with_dangerous_cve=true&with_dangerous_artifact=true",
                ADMIN,
                None,
            )
            .await
            .is(200);
        let artifacts = full["dangerous_artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), 2, "{full}");
        assert_eq!(artifacts[0]["digest"], debian);
        assert_eq!(artifacts[0]["repository_name"], "p/app");
        assert_eq!(
            (
                artifacts[0]["critical_cnt"].as_i64(),
                artifacts[0]["high_cnt"].as_i64()
            ),
            (Some(2), Some(3))
        );
        assert_eq!(artifacts[1]["digest"], alpine);
        let cves = full["dangerous_cves"].as_array().unwrap();
        assert_eq!(cves.len(), 5, "{full}");
        let scores: Vec<f64> = cves
            .iter()
            .map(|c| c["cvss_score_v3"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert_eq!(cves[0]["severity"], "Critical");

        // Administrators only.
        s.create_user("dev", "Passw0rd!").await;
        let dev = Some(("dev", "Passw0rd!"));
        s.expect(Method::GET, "/security/summary", dev, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::GET, "/security/vul", dev, None)
            .await
            .error(403, "FORBIDDEN");

        // The findings, highest score first, searched as Harbor's are.
        let all = s
            .expect(Method::GET, "/security/vul?page_size=3", ADMIN, None)
            .await;
        assert_eq!(all.header("x-total-count"), "8");
        let page = all.is(200);
        assert_eq!(page.as_array().unwrap().len(), 3);
        assert_eq!(page[0]["severity"], "Critical");
        let search = |q: &str| {
            let s = &s;
            let path = format!("/security/vul?with_tag=true&page_size=50&q={q}");
            async move { s.expect(Method::GET, &path, ADMIN, None).await.is(200) }
        };
        let one = search("cve_id%3DCVE-2023-5363").await;
        let packages: Vec<&str> = (one.as_array().unwrap().iter())
            .map(|v| v["package"].as_str().unwrap())
            .collect();
        assert_eq!(packages.len(), 2);
        assert!(packages.contains(&"libssl3") && packages.contains(&"openssl"));
        assert_eq!(one[0]["digest"], debian);
        assert_eq!(one[0]["repository_name"], "p/app");
        assert_eq!(one[0]["tags"], json!(["bookworm"]));
        assert_eq!(one[0]["fixed_version"], "3.0.11-1~deb12u2");
        assert_eq!(one[0]["status"], "fixed");
        assert_eq!(
            search("severity%3DMedium").await.as_array().unwrap().len(),
            3
        );
        assert_eq!(search("tag%3Dalpine").await.as_array().unwrap().len(), 2);
        let scored = search("cvss_score_v3%3D%5B9~10%5D").await;
        assert_eq!(scored.as_array().unwrap().len(), 2, "{scored}");
        let lodash = search("package%3Dlodash").await;
        assert_eq!(lodash[0]["cvss_v3_score"], 7.4);
        assert_eq!(
            lodash[0]["links"][0],
            "https://osv.dev/vulnerability/GHSA-p6mc-m468-83gw"
        );
        let pid = s
            .expect(Method::GET, "/projects/p", ADMIN, None)
            .await
            .is(200)["project_id"]
            .as_i64()
            .unwrap();
        let mine = search(&format!("project_id%3D{pid},repository_name%3Dp%2Fapp")).await;
        assert_eq!(mine.as_array().unwrap().len(), 8);
        assert_eq!(
            search(&format!("digest%3D{alpine}"))
                .await
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let tuned = s
            .expect(Method::GET, "/security/vul?tune_count=true", ADMIN, None)
            .await;
        assert_eq!(tuned.header("x-total-count"), "8");
        s.expect(Method::GET, "/security/vul?q=nope%3D1", ADMIN, None)
            .await
            .error(400, "BAD_REQUEST");

        // A rescan's findings replace the last ones; a deleted artifact's
        // no longer count.
        let path = format!("{}/scan", artifact_path("p/app", "alpine"));
        s.expect(Method::POST, &path, ADMIN, None).await.is(202);
        scanned(&s, "p/app", "alpine").await;
        let again = s
            .expect(Method::GET, "/security/summary", ADMIN, None)
            .await
            .is(200);
        assert_eq!(again["total_vuls"], 8);
        s.expect(
            Method::DELETE,
            &artifact_path("p/app", "alpine"),
            ADMIN,
            None,
        )
        .await
        .is(200);
        let after = s
            .expect(Method::GET, "/security/summary", ADMIN, None)
            .await
            .is(200);
        assert_eq!(
            (
                after["total_vuls"].as_i64(),
                after["total_artifact"].as_i64()
            ),
            (Some(6), Some(2))
        );
    }
}

/// Runs a CVE export as `user` and waits for it; its run.
async fn exported(s: &Server, user: Option<(&str, &str)>, criteria: Value) -> Value {
    let started = s
        .anon
        .post(s.u("/api/v2.0/export/cve"))
        .basic_auth(user.unwrap().0, Some(user.unwrap().1))
        .header("X-Scan-Data-Type", GENERIC)
        .json(&criteria)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let id = started.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/export/cve/execution/{id}");
    for _ in 0..200 {
        let run = s.expect(Method::GET, &path, user, None).await.is(200);
        if run["status"] == "Success" || run["status"] == "Error" {
            return run;
        }
        common::sleep_ms(50).await;
    }
    panic!("export {id} did not end");
}

/// The rows of a downloaded export (header first).
async fn download(s: &Server, user: Option<(&str, &str)>, id: i64) -> Vec<Vec<String>> {
    let r = s
        .expect(
            Method::GET,
            &format!("/export/cve/download/{id}"),
            user,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), "text/csv");
    assert_eq!(
        r.header("content-disposition"),
        format!("attachment; filename=\"scandata_export_{id}.csv\"")
    );
    let mut rows = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(r.text.as_bytes());
    for line in reader.records() {
        rows.push(line.unwrap().iter().map(String::from).collect());
    }
    rows
}

/// A project's findings exported to CSV by a job, for the user who asked,
/// once; filtered by repository and tag patterns and CVE ids.
#[tokio::test]
async fn a_projects_findings_export_to_csv_for_the_user_who_asked() {
    for s in common::servers().await {
        s.import_vulndb(&fixtures());
        let (debian, _) = push_debian(&s, "p/app", "bookworm").await;
        push_alpine(&s, "p/web", "3.19").await;
        for (repo, tag) in [("p/app", "bookworm"), ("p/web", "3.19")] {
            let path = format!("{}/scan", artifact_path(repo, tag));
            s.expect(Method::POST, &path, ADMIN, None).await.is(202);
            scanned(&s, repo, tag).await;
        }
        let pid = s
            .expect(Method::GET, "/projects/p", ADMIN, None)
            .await
            .is(200)["project_id"]
            .as_i64()
            .unwrap();
        for (user, role) in [("dev", 2), ("guest", 3)] {
            s.create_user(user, "Passw0rd!").await;
            let member = json!({"role_id": role, "member_user": {"username": user}});
            s.create("/projects/p/members", ADMIN, member).await;
        }
        let developer = ("dev", "Passw0rd!");
        let dev = Some(developer);

        // What Harbor refuses.
        let post = |user: (&str, &str), data_type: &str, body: Value| {
            s.anon
                .post(s.u("/api/v2.0/export/cve"))
                .basic_auth(user.0, Some(user.1))
                .header("X-Scan-Data-Type", data_type)
                .json(&body)
                .send()
        };
        let one = json!({"projects": [pid]});
        let refused = [
            (
                post(developer, "text/plain", one.clone()).await.unwrap(),
                400,
            ),
            (
                post(developer, GENERIC, json!({"projects": []}))
                    .await
                    .unwrap(),
                400,
            ),
            (
                post(developer, GENERIC, json!({"projects": [999999]}))
                    .await
                    .unwrap(),
                404,
            ),
            (
                post(
                    developer,
                    GENERIC,
                    json!({"projects": [pid], "labels": [1]}),
                )
                .await
                .unwrap(),
                404,
            ),
            (
                post(
                    developer,
                    GENERIC,
                    json!({"projects": [pid], "tags": "a b"}),
                )
                .await
                .unwrap(),
                400,
            ),
            (
                post(("guest", "Passw0rd!"), GENERIC, one.clone())
                    .await
                    .unwrap(),
                403,
            ),
        ];
        for (r, status) in refused {
            assert_eq!(r.status().as_u16(), status);
        }

        // A repository and two CVEs.
        let criteria = json!({"projects": [pid], "repositories": "app",
                              "cveIds": "{CVE-2023-5363,CVE-2020-8203}", "job_name": "x"});
        let run = exported(&s, dev, criteria).await;
        assert_eq!(run["status"], "Success", "{run}");
        assert_eq!(
            (run["user_name"].as_str(), run["file_present"].as_bool()),
            (Some("dev"), Some(true))
        );
        let id = run["id"].as_i64().unwrap();
        let path = format!("/export/cve/execution/{id}");
        s.expect(Method::GET, &path, ADMIN, None)
            .await
            .error(403, "FORBIDDEN");
        let listed = s
            .expect(Method::GET, "/export/cve/executions", dev, None)
            .await
            .is(200);
        assert_eq!(listed["items"][0]["id"], id);
        let rows = download(&s, dev, id).await;
        assert_eq!(
            rows[0],
            [
                "Repository",
                "Artifact Digest",
                "CVE",
                "Package",
                "Current Version",
                "Fixed in version",
                "Severity",
                "CWE Ids",
                "Additional Data",
                "Scanner"
            ]
        );
        let found: Vec<(&str, &str, &str)> = rows[1..]
            .iter()
            .map(|r| (r[0].as_str(), r[2].as_str(), r[3].as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("p/app", "CVE-2020-8203", "lodash"),
                ("p/app", "CVE-2023-5363", "libssl3"),
                ("p/app", "CVE-2023-5363", "openssl"),
            ]
        );
        assert!(rows[1..].iter().all(|r| r[1] == debian && r[9] == "Berth"));
        let lodash = &rows[1];
        assert_eq!(
            (lodash[4].as_str(), lodash[5].as_str(), lodash[6].as_str()),
            ("4.17.15", "4.17.20", "High")
        );
        assert_eq!(lodash[7], "CWE-1321,CWE-770");
        // Downloaded once.
        s.expect(
            Method::GET,
            &format!("/export/cve/download/{id}"),
            dev,
            None,
        )
        .await
        .error(404, "NOT_FOUND");
        let run = s.expect(Method::GET, &path, dev, None).await.is(200);
        assert_eq!(run["file_present"], false);

        // A tag pattern; then the whole project.
        let run = exported(&s, dev, json!({"projects": [pid], "tags": "3.*"})).await;
        let rows = download(&s, dev, run["id"].as_i64().unwrap()).await;
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows[1..]
            .iter()
            .all(|r| r[0] == "p/web" && r[2] == "CVE-2024-0727"));
        let run = exported(&s, dev, json!({"projects": [pid]})).await;
        assert_eq!(
            download(&s, dev, run["id"].as_i64().unwrap()).await.len(),
            9
        );
        // Artifacts carrying a label.
        let web = s
            .create("/labels", ADMIN, json!({"name": "web", "scope": "g"}))
            .await;
        let put_on = format!("{}/labels", artifact_path("p/web", "3.19"));
        s.expect(Method::POST, &put_on, dev, Some(&json!({"id": web})))
            .await
            .is(200);
        let run = exported(&s, dev, json!({"projects": [pid], "labels": [web]})).await;
        let rows = download(&s, dev, run["id"].as_i64().unwrap()).await;
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows[1..].iter().all(|r| r[0] == "p/web"));
    }
}

/// A portal page as the administrator sees it (signed in through `/c/login`).
async fn portal_page(s: &Server, path: &str) -> String {
    let sid = s.session("admin", common::ADMIN_PASSWORD).await;
    let page = s
        .anon
        .get(s.u(path))
        .header("Cookie", sid)
        .send()
        .await
        .unwrap();
    page.text().await.unwrap()
}

/// With `--vulndb-urls`, Berth downloads the OSV archives itself (at
/// start when its database is empty or old, then on its schedule) and
/// scans with them; a URL that fails leaves the database as it was.
#[tokio::test]
async fn the_vulnerability_database_is_refreshed_from_its_urls() {
    let archive = (fixtures_zip(std::io::Cursor::new(Vec::new())).finish())
        .unwrap()
        .into_inner();
    let app = axum::Router::new().route(
        "/osv/all.zip",
        axum::routing::get(move || {
            let archive = archive.clone();
            async move { archive }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("{base}/osv/all.zip");

    for (backend, database) in common::databases().await {
        let s = Server::start_with(backend, database, &["--vulndb-urls", &url]).await;
        let builtin = "/scanners/8a0e5d2c-1b1e-4c55-9a43-6f7d2b8e0001/metadata";
        let updated = "harbor.scanner-adapter/vulnerability-database-updated-at";
        let mut meta = Value::Null;
        for _ in 0..200 {
            meta = s.expect(Method::GET, builtin, ADMIN, None).await.is(200);
            if meta["properties"].get(updated).is_some() {
                break;
            }
            common::sleep_ms(50).await;
        }
        assert!(meta["properties"].get(updated).is_some(), "{meta}");
        push_debian(&s, "p/app", "bookworm").await;
        let path = format!("{}/scan", artifact_path("p/app", "bookworm"));
        s.expect(Method::POST, &path, ADMIN, None).await.is(202);
        let overview = scanned(&s, "p/app", "bookworm").await;
        assert_eq!(overview["summary"]["total"], 6, "{overview}");
        let page = portal_page(&s, "/harbor/interrogation-services").await;
        assert!(
            page.contains(&url),
            "the page names where the advisories came from"
        );
    }

    // A URL that fails is the refresh's error, shown on the page; nothing
    // is imported.
    let bad = format!("{base}/osv/missing.zip");
    let s = Server::start_with("sqlite", None, &["--vulndb-urls", &bad]).await;
    let mut page = String::new();
    for _ in 0..200 {
        page = portal_page(&s, "/harbor/interrogation-services").await;
        if page.contains("404 Not Found") {
            break;
        }
        common::sleep_ms(50).await;
    }
    assert!(page.contains("404 Not Found"), "{page}");
    let meta = s
        .expect(
            Method::GET,
            "/scanners/8a0e5d2c-1b1e-4c55-9a43-6f7d2b8e0001/metadata",
            ADMIN,
            None,
        )
        .await
        .is(200);
    assert!(meta["properties"]
        .get("harbor.scanner-adapter/vulnerability-database-updated-at")
        .is_none());
}
