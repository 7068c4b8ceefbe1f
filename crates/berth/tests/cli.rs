//! The command line and configuration: help text, berth.toml, BERTH_*
//! variables, flag precedence, and TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::{Command, Stdio};

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn help_explains_every_option() {
    let (ok, top) = output(berth().arg("--help"));
    assert!(ok);
    assert!(top.contains("serve") && top.contains("--config"), "{top}");
    let (ok, serve) = output(berth().args(["serve", "--help"]));
    assert!(ok);
    for opt in [
        "--listen",
        "--external-url",
        "--data-dir",
        "--database-url",
        "--storage-path",
        "--tls-cert",
        "--tls-key",
        "--log-level",
        "--log-format",
        "BERTH_LISTEN",
        "BERTH_DATABASE_URL",
    ] {
        assert!(serve.contains(opt), "serve --help lacks {opt}:\n{serve}");
    }
}

#[tokio::test]
async fn config_file_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.toml"),
        "listen = \"127.0.0.1:0\"\ndata_dir = \"from-file\"\nlog_level = \"warn\"\n",
    )
    .unwrap();
    // berth.toml in the working directory is read.
    let mut cmd = berth();
    cmd.current_dir(dir.path()).arg("serve");
    let (mut child, url) = spawn_listening(cmd);
    assert!(reqwest::get(format!("{url}/api/v2.0/ping"))
        .await
        .unwrap()
        .status()
        .is_success());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.path().join("from-file/berth.db").exists());

    // The environment beats the file, and a flag beats the environment.
    let mut cmd = berth();
    cmd.current_dir(dir.path())
        .env("BERTH_DATA_DIR", "from-env")
        .env("BERTH_STORAGE_PATH", dir.path().join("blobs-here"))
        .arg("serve");
    let (mut child, _) = spawn_listening(cmd);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.path().join("from-env/berth.db").exists());
    assert!(dir.path().join("blobs-here/blobs/sha256").is_dir());

    let mut cmd = berth();
    cmd.current_dir(dir.path())
        .env("BERTH_DATA_DIR", "from-env")
        .args(["serve", "--data-dir", "from-flag"]);
    let (mut child, _) = spawn_listening(cmd);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.path().join("from-flag/berth.db").exists());

    // Mistakes are reported, not ignored.
    std::fs::write(dir.path().join("bad.toml"), "listn = \"127.0.0.1:0\"\n").unwrap();
    let (ok, text) = output(
        berth()
            .current_dir(dir.path())
            .args(["--config", "bad.toml", "serve"]),
    );
    assert!(!ok && text.contains("listn"), "{text}");
    let (ok, text) = output(
        berth()
            .args(["serve", "--database-url", "mysql://x", "--data-dir"])
            .arg(dir.path().join("d")),
    );
    assert!(!ok && text.contains("sqlite"), "{text}");
}

#[tokio::test]
async fn serves_tls_with_rustls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (ok, text) = output(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    assert!(ok, "{text}");
    let mut cmd = serve(&dir.path().join("data"));
    cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    let (mut child, url) = spawn_listening(cmd);
    assert!(url.starts_with("https://"), "{url}");
    let (ok, text) = output(
        Command::new("curl")
            .args(["-sS", "-D", "-", "--cacert"])
            .arg(&cert)
            .arg(format!("{url}/v2/")),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ok, "{text}");
    let lower = text.to_lowercase();
    assert!(
        lower.contains(" 401") && lower.contains("docker-distribution-api-version: registry/2.0"),
        "{text}"
    );
    assert!(
        lower.contains("www-authenticate: bearer realm=\"https://127.0.0.1:"),
        "{text}"
    );
}

#[tokio::test]
async fn the_token_key_lives_in_the_database_under_the_secret_key() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    // A data directory as an earlier version left it: the signing key in a file.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let old_key = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    std::fs::write(data.join("token-signing-key.p8"), old_key.as_ref()).unwrap();
    let mut cmd = serve(&data);
    cmd.env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
    let (mut child, url) = spawn_listening(cmd);
    // A token that key signed before the upgrade still opens the registry.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": "harbor-token-issuer", "sub": "admin",
        "aud": "harbor-registry", "iat": now, "nbf": now, "exp": now + 600, "jti": "x",
        "access": [{"type": "registry", "name": "catalog", "actions": ["*"]}]});
    let token = encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_der(old_key.as_ref()),
    )
    .unwrap();
    let catalog = |url: &str, token: &str| {
        reqwest::Client::new()
            .get(format!("{url}/v2/_catalog"))
            .bearer_auth(token.to_string())
            .send()
    };
    assert_eq!(catalog(&url, &token).await.unwrap().status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // It was moved into the database: gone from the file, it still works.
    std::fs::remove_file(data.join("token-signing-key.p8")).unwrap();
    let (mut child, url) = spawn_listening(serve(&data));
    assert_eq!(catalog(&url, &token).await.unwrap().status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // Another secret key cannot open it: Berth refuses to start, and says why.
    let (ok, text) = output(
        serve(&data)
            .arg("--secret-key-file")
            .arg(dir.path().join("another-key")),
    );
    assert!(!ok);
    assert!(
        text.contains("cannot be opened with this secret key")
            && text.contains("--secret-key-file"),
        "{text}"
    );
}
