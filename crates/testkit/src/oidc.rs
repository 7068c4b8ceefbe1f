//! A real OpenID Connect provider for tests: the npm `oidc-provider`
//! package run by Node on a loopback port (scripts/test.sh installs both;
//! the package lives in `target/oidc-provider`, or where
//! `BERTH_OIDC_PROVIDER_DIR` says).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = include_str!("../oidc/provider.mjs");

/// A running provider; killed when dropped.
pub struct OidcProvider {
    /// Its issuer, `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    script: PathBuf,
}

impl OidcProvider {
    /// Starts one with no clients and waits until it listens.
    pub fn start() -> OidcProvider {
        Self::start_with(&serde_json::json!({}))
    }

    /// Starts one with a setup (clients, accounts, access token lifetime:
    /// see provider.mjs) and waits until it listens.
    pub fn start_with(setup: &serde_json::Value) -> OidcProvider {
        let dir = std::env::var_os("BERTH_OIDC_PROVIDER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oidc-provider")
            });
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not in {} (scripts/test.sh installs it)",
            dir.display()
        );
        // The script sits beside node_modules so that its import resolves.
        let port = crate::free_port();
        let script = dir.join(format!("provider-{port}.mjs"));
        std::fs::write(&script, SCRIPT).unwrap();
        let mut child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .arg(setup.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node (scripts/test.sh installs it)");
        let mut line = String::new();
        let out = child.stdout.take().unwrap();
        BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening", "the OIDC provider did not start");
        OidcProvider {
            url: format!("http://127.0.0.1:{port}"),
            child,
            script,
        }
    }
}

impl OidcProvider {
    /// Makes an account unknown to the provider (it refuses to refresh
    /// that user's tokens) or known again.
    pub async fn set_enabled(&self, login: &str, enabled: bool) {
        let verb = if enabled { "enable" } else { "disable" };
        let r = reqwest::Client::new()
            .post(format!("{}/test/{verb}/{login}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.script);
    }
}
