//! nginx (Debian's) as a round-robin load balancer in front of Berth
//! replicas, configured as an operator would: bodies streamed both ways,
//! no size limit, `X-Forwarded-For` added, a dead replica skipped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx; stopped when dropped.
pub struct Balancer {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Balancer {
    /// Listens on `port`, spreading requests over `upstreams` (`host:port`).
    pub async fn start(port: u16, upstreams: &[&str]) -> Balancer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let servers: String = (upstreams.iter())
            .map(|u| format!("    server {u} max_fails=1 fail_timeout=30s;\n"))
            .collect();
        // As root (CI), workers would run as nobody, locked out of the
        // temporary directory.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;\n"
        } else {
            ""
        };
        let config = format!(
            "{user}worker_processes 1;\n\
             error_log {d}/error.log warn;\n\
             pid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n\
               scgi_temp_path {d}/scgi;\n\
               upstream berth {{\n{servers}  }}\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 client_max_body_size 0;\n\
                 proxy_request_buffering off;\n\
                 proxy_buffering off;\n\
                 proxy_http_version 1.1;\n\
                 location / {{\n\
                   proxy_pass http://berth;\n\
                   proxy_set_header Host $http_host;\n\
                   proxy_set_header Connection \"\";\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_set_header X-Forwarded-Proto $scheme;\n\
                   proxy_read_timeout 300s;\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .args([
                "-p",
                &d.to_string(),
                "-c",
                "nginx.conf",
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx (Debian's nginx-light)");
        let lb = Balancer {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return lb;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(lb._dir.path().join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }

    /// The balancer's address for `path`.
    pub fn u(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
