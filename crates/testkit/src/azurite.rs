//! Azurite, Microsoft's Azure Blob Storage emulator (the npm `azurite`
//! package, which scripts/test.sh installs in `target/azurite`), run by
//! Node on a loopback port, for Berth's `az://` storage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Killed;
use base64::Engine;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Azurite's well-known development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const VERSION: &str = "2021-08-06";

/// A running Azurite blob service.
pub struct Azurite {
    /// The account's endpoint, `http://127.0.0.1:<port>/devstoreaccount1`.
    pub endpoint: String,
    _child: Killed,
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts one and waits until it listens.
    pub async fn start() -> Azurite {
        let dir = std::env::var_os("BERTH_AZURITE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/azurite")
            });
        let bin = dir.join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "azurite is not in {} (scripts/test.sh installs it)",
            dir.display()
        );
        let data = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn azurite-blob (Node)");
        let azurite = Azurite {
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            _child: Killed(child),
            _dir: data,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return azurite;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("azurite did not start on port {port}");
    }

    /// Creates a container, signing the request with the account key
    /// (Shared Key; Azurite's path-style resource names the account twice).
    pub async fn create_container(&self, name: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b64.decode(KEY).unwrap());
        let signature = b64.encode(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref());
        let r = reqwest::Client::new()
            .put(format!("{}/{name}?restype=container", self.endpoint))
            .header("x-ms-date", date)
            .header("x-ms-version", VERSION)
            .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// `berth serve` flags keeping blobs in `container`.
    pub fn berth_flags(&self, container: &str) -> Vec<String> {
        vec![
            "--storage-url".into(),
            format!("az://{container}"),
            "--storage-option".into(),
            format!(
                "account_name={ACCOUNT},access_key={KEY},endpoint={},allow_http=true",
                self.endpoint
            ),
        ]
    }
}
