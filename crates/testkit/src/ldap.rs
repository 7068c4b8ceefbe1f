//! An OpenLDAP server (Debian's `slapd`) for tests: its own configuration,
//! database and certificate in a temporary directory, listening on
//! loopback ports for `ldap://` (StartTLS offered) and `ldaps://`, with
//! the `memberof` overlay so users show their groups as directories do.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The directory's suffix.
pub const SUFFIX: &str = "dc=berth,dc=test";
/// The manager's DN and password (the tests' search DN).
pub const MANAGER_DN: &str = "cn=admin,dc=berth,dc=test";
pub const MANAGER_PASSWORD: &str = "manager-secret";

/// A running slapd; killed when dropped.
pub struct Slapd {
    /// `ldap://127.0.0.1:<port>`
    pub url: String,
    /// `ldaps://127.0.0.1:<port>`
    pub ldaps_url: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Slapd {
    /// Starts one holding the suffix's entry and `ldif` (added over LDAP,
    /// so the overlay sees them).
    pub async fn start(ldif: &str) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let cert = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-keyout", "key.pem", "-out", "cert.pem"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            cert.status.success(),
            "{}",
            String::from_utf8_lossy(&cert.stderr)
        );
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n\
             pidfile {dir}/slapd.pid\n\
             TLSCertificateFile {dir}/cert.pem\nTLSCertificateKeyFile {dir}/key.pem\n\
             database mdb\nsuffix \"{SUFFIX}\"\nrootdn \"{MANAGER_DN}\"\nrootpw {MANAGER_PASSWORD}\n\
             directory {dir}/db\nmaxsize 104857600\noverlay memberof\n",
            dir = d.display()
        );
        std::fs::write(d.join("slapd.conf"), config).unwrap();
        let (port, tls_port) = (crate::free_port(), crate::free_port());
        let mut s = Slapd {
            url: format!("ldap://127.0.0.1:{port}"),
            ldaps_url: format!("ldaps://127.0.0.1:{tls_port}"),
            child: None,
            dir,
        };
        s.spawn().await;
        s.add(&format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Berth\ndc: berth\n"
        ));
        s.add(ldif);
        s
    }

    async fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new("slapd")
            .arg("-d")
            .arg("0")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{}/ {}/", self.url, self.ldaps_url))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd (Debian's OpenLDAP) is installed by scripts/test.sh");
        self.child = Some(child);
        for _ in 0..200 {
            let bound = self.tool("ldapwhoami", &[]).status.success();
            if bound {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("slapd did not start on {}", self.url);
    }

    /// Runs an OpenLDAP client tool as the manager.
    fn tool(&self, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.url,
                "-D",
                MANAGER_DN,
                "-w",
                MANAGER_PASSWORD,
            ])
            .args(args)
            .output()
            .unwrap()
    }

    /// Adds entries (LDIF).
    pub fn add(&self, ldif: &str) {
        let file = self.dir.path().join("add.ldif");
        std::fs::write(&file, ldif).unwrap();
        let out = self.tool("ldapadd", &["-f", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "ldapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Deletes an entry.
    pub fn delete(&self, dn: &str) {
        let out = self.tool("ldapdelete", &[dn]);
        assert!(
            out.status.success(),
            "ldapdelete: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops it (its database stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on its ports and database.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
