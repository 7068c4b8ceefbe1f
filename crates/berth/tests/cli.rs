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
        "--otlp-endpoint",
        "--otlp-sampling-ratio",
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
    // A sampling ratio alone would trace nothing: refused, as is a bad one.
    let (ok, text) = output(berth().args(["serve", "--otlp-sampling-ratio", "0.5"]));
    assert!(!ok && text.contains("needs otlp_endpoint"), "{text}");
    let (ok, text) = output(berth().args([
        "serve",
        "--otlp-endpoint",
        "http://127.0.0.1:4318",
        "--otlp-sampling-ratio",
        "2",
    ]));
    assert!(!ok && text.contains("between 0 and 1"), "{text}");
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

#[tokio::test]
async fn a_backup_taken_while_berth_collects_restores_whole() {
    // The embedded setup backups cover: SQLite, blobs on the filesystem.
    let s = Server::start_with("sqlite", None, &["--gc-min-window-seconds", "1"]).await;
    let (image, body) = s.push_image("p/app", "v1", "backed-up").await;
    s.create_user("dev", "Devel12345").await;
    // While a backup holds collections back, they delete rows, not bytes.
    let db = s.open_db().await;
    let until = (std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    berth_db::properties::set(db.writer(), "backup_running_until", &until.to_string())
        .await
        .unwrap();
    let (held, held_body) = s.push_image("p/held", "h", "held").await;
    let held_layer = serde_json::from_slice::<serde_json::Value>(&held_body).unwrap()["layers"][0]
        ["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.delete(&format!("/v2/p/held/manifests/{held}"))
            .await
            .status(),
        202
    );
    sleep_ms(1200).await;
    let gc = s
        .start_gc(serde_json::json!({"delete_untagged": true, "time_window": 0}))
        .await;
    assert_eq!(s.wait_gc(gc).await["job_status"], "Success");
    let r = s.head(&format!("/v2/p/held/blobs/{held_layer}")).await;
    assert_eq!(r.status(), 404, "the row went");
    assert!(s.stored_blob(&held_layer).await.is_some(), "the bytes wait");
    berth_db::properties::delete(db.writer(), "backup_running_until")
        .await
        .unwrap();
    let gc = s.start_gc(serde_json::json!({"time_window": 0})).await;
    assert_eq!(s.wait_gc(gc).await["job_status"], "Success");
    assert!(
        s.stored_blob(&held_layer).await.is_none(),
        "the next run deletes them"
    );

    // Garbage for a collection running while the backup copies.
    for i in 0..8 {
        let (m, _) = s
            .push_image("p/junk", &format!("j{i}"), &format!("junk{i}"))
            .await;
        let r = s.delete(&format!("/v2/p/junk/manifests/{m}")).await;
        assert_eq!(r.status(), 202);
    }
    sleep_ms(1200).await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("backup");
    let gc = s
        .start_gc(serde_json::json!({"delete_untagged": true, "time_window": 0}))
        .await;
    let mut cmd = berth();
    cmd.arg("backup")
        .arg(&to)
        .arg("--data-dir")
        .arg(s.data_dir())
        .args(["--database-url", &s.database_url]);
    let (ok, text) = output(&mut cmd);
    assert!(ok && text.contains("Backed up the database"), "{text}");
    assert_eq!(s.wait_gc(gc).await["job_status"], "Success");
    // Berth goes on; what happens after the backup is not in it.
    s.push_image("p/app", "v2", "after").await;
    // A backup goes into a new directory only.
    let mut again = berth();
    again
        .arg("backup")
        .arg(&to)
        .arg("--data-dir")
        .arg(s.data_dir());
    let (ok, text) = output(&mut again);
    assert!(!ok && text.contains("is not empty"), "{text}");

    // Restored into a new data directory (every blob the database names
    // copied and checked, or the restore fails), Berth starts there.
    let data = dir.path().join("restored");
    let (ok, text) = output(berth().arg("restore").arg(&to).arg("--data-dir").arg(&data));
    assert!(ok && text.contains("Restored the database"), "{text}");
    let (mut child, url) = spawn_listening(serve(&data));
    let restored = Registry {
        url: url.clone(),
        http: s.client.clone(),
    };
    let r = restored
        .http
        .get(format!("{url}/v2/p/app/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "docker-content-digest"), image);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for blob in [&m["config"], &m["layers"][0]] {
        let d = blob["digest"].as_str().unwrap();
        let r = (restored.http.get(format!("{url}/v2/p/app/blobs/{d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(digest(&r.bytes().await.unwrap()), d);
    }
    let r = (restored.http.get(format!("{url}/v2/p/app/manifests/v2")))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "pushed after the backup");
    let r = reqwest::Client::new()
        .get(format!("{url}/api/v2.0/users/current"))
        .basic_auth("dev", Some("Devel12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // Never over an existing database; never on PostgreSQL or object storage.
    let (ok, text) = output(berth().arg("restore").arg(&to).arg("--data-dir").arg(&data));
    assert!(!ok && text.contains("exists"), "{text}");
    let (ok, text) = output(
        berth()
            .arg("backup")
            .arg(dir.path().join("pg"))
            .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"]),
    );
    assert!(
        !ok && text.contains("SQLite with blobs on the filesystem"),
        "{text}"
    );
}
