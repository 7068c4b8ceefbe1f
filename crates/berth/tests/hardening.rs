//! What hostile or broken clients get: slow headers and bodies are cut off
//! while other clients are served, a refused body closes its connection,
//! and oversized requests keep the protocol's error envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn addr(s: &Server) -> SocketAddr {
    s.url.trim_start_matches("http://").parse().unwrap()
}

/// A connection from another loopback address, as an attacker's would be.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends raw bytes and reads what comes back until the server closes or
/// `wait` passes.
async fn exchange(stream: &mut TcpStream, request: &[u8], wait: Duration) -> String {
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server has closed the connection (reads end) within `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match tokio::time::timeout(deadline - Instant::now(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let flags = &[
        "--header-timeout-seconds",
        "2",
        "--body-timeout-seconds",
        "2",
        "--max-connections",
        "100",
    ];
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, flags).await;
        let to = addr(&s);
        // 150 clients send half a request and stall, more than the cap.
        let mut slow = Vec::new();
        for _ in 0..150 {
            let mut c = connect_from("127.0.0.2", to).await;
            c.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            slow.push(c);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Everyone else is still served, each on a new connection.
        for i in 0..20 {
            let r = reqwest::Client::new()
                .get(s.u("/api/v2.0/ping"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{backend}: request {i}");
        }
        // The stalled ones are closed after the header timeout.
        let started = Instant::now();
        let mut closed = 0;
        for c in &mut slow {
            if closed_within(c, Duration::from_secs(4)).await {
                closed += 1;
            }
        }
        assert_eq!(closed, 150, "{backend}: stalled connections left open");
        assert!(started.elapsed() < Duration::from_secs(8));

        // A body that stops halfway fails after the body timeout.
        let upload = s.start_upload("p/slow").await;
        let path = upload.trim_start_matches(&s.url);
        let mut c = TcpStream::connect(to).await.unwrap();
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789",
            admin_basic()
        );
        let answer = exchange(&mut c, head.as_bytes(), Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 4"), "{backend}: {answer}");
        // The session is still there to resume.
        let r = s.client.get(&upload).send().await.unwrap();
        assert_eq!(r.status(), 204, "{backend}");
    }
}

fn admin_basic() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
}

#[tokio::test]
async fn a_refused_body_closes_its_connection() {
    for s in servers().await {
        let to = addr(&s);
        let body = vec![b'x'; 100_000];
        // Refused before its body is read: an unknown API route, and a chunk
        // out of order.
        let mut c = TcpStream::connect(to).await.unwrap();
        let mut req = format!(
            "POST /api/v2.0/nothing-here HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let answer = exchange(&mut c, &req, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert!(
            answer.to_lowercase().contains("\r\nconnection: close\r\n"),
            "{answer}"
        );

        let upload = s.start_upload("p/app").await;
        let path = upload.trim_start_matches(&s.url);
        let mut c = TcpStream::connect(to).await.unwrap();
        let mut req = format!(
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
             Content-Type: application/octet-stream\r\nContent-Range: 500-100499\r\n\
             Content-Length: {}\r\n\r\n",
            admin_basic(),
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let answer = exchange(&mut c, &req, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 416"), "{answer}");
        assert!(
            answer.to_lowercase().contains("\r\nconnection: close\r\n"),
            "{answer}"
        );
        // A body that was read keeps the connection open for the next request.
        let mut c = TcpStream::connect(to).await.unwrap();
        let ping = b"GET /api/v2.0/ping HTTP/1.1\r\nHost: x\r\n\r\n";
        c.write_all(ping).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("Pong"));
        c.write_all(ping).await.unwrap();
        let n = c.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("Pong"));
    }
}

#[tokio::test]
async fn oversized_requests_keep_the_error_envelope() {
    for s in servers().await {
        let huge = format!(r#"{{"project_name":"{}"}}"#, "x".repeat(3_000_000));
        let r = s
            .api(reqwest::Method::POST, "/projects", ADMIN)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(header(&r, "content-type"), "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "REQUEST_ENTITY_TOO_LARGE", "{v}");

        let long = "a".repeat(20_000);
        let r = s
            .api(
                reqwest::Method::GET,
                &format!("/projects?q=name%3D{long}"),
                ADMIN,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 414);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "URI_TOO_LONG", "{v}");
        assert!(v["errors"][0]["message"].is_string());

        // The router's own 405 keeps its Allow header, in the envelope.
        let r = s
            .api(reqwest::Method::DELETE, "/ping", ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert!(header(&r, "allow").contains("GET"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "METHOD_NOT_ALLOWED", "{v}");

        let r = s.get(&format!("/v2/p/{long}/tags/list")).await;
        assert_eq!(r.status(), 414);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "UNSUPPORTED", "{v}");
        assert!(v["errors"][0]["message"].is_string());
    }
}

/// A client whose connections come from `source` (a loopback address).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn login_floods_are_throttled_per_address_and_sessions_outlast_a_lockout() {
    for s in servers().await {
        let current = s.u("/api/v2.0/users/current");
        // A browser session opened before the trouble starts.
        let sid = s.session("admin", ADMIN_PASSWORD).await;

        // One address guesses random names: after its budget, it is refused
        // before any password is checked.
        let flood = client_from("127.0.0.3");
        let mut statuses = Vec::new();
        for i in 0..30 {
            let r = flood
                .get(&current)
                .basic_auth(format!("nobody{i}"), Some("Wrong12345"))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["errors"][0]["code"], "TOO_MANY_REQUESTS", "{v}");
                let msg = v["errors"][0]["message"].as_str().unwrap();
                assert!(msg.contains("this address"), "{msg}");
            }
        }
        assert_eq!(&statuses[..20], &[401; 20], "{statuses:?}");
        assert_eq!(&statuses[20..], &[429; 10], "{statuses:?}");
        // Even the right password waits there; elsewhere it works.
        let r = flood
            .get(&current)
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        let r = s.client.get(&current).send().await.unwrap();
        assert_eq!(r.status(), 200);

        // Another address locks the admin out by name: password logins are
        // refused everywhere, on /api and /v2 ...
        let other = client_from("127.0.0.4");
        for _ in 0..10 {
            let r = other
                .get(&current)
                .basic_auth("admin", Some("Wrong12345"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
        }
        let r = s.client.get(&current).send().await.unwrap();
        assert_eq!(r.status(), 429);
        let v: Value = r.json().await.unwrap();
        assert!(v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("this user"));
        expect_error(s.get("/v2/").await, 429, "TOOMANYREQUESTS").await;
        // ... but the session already open still works, and gets registry tokens.
        let r = s
            .anon
            .get(&current)
            .header("cookie", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = s
            .anon
            .get(s.u("/service/token?service=harbor-registry&scope=repository:p/app:pull,push"))
            .header("cookie", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token: Value = r.json().await.unwrap();
        let r = s
            .anon
            .get(s.u("/v2/p/app/tags/list"))
            .bearer_auth(token["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "authorized, and the repository is unknown");
        // The lockout ends (2 s in the test servers).
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let r = s.client.get(&current).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_not_the_proxy() {
    for (backend, url) in databases().await {
        let s = Server::start_with(backend, url, &["--trusted-proxies", "127.0.0.5/32"]).await;
        let current = s.u("/api/v2.0/users/current");
        let proxy = client_from("127.0.0.5");
        let login = |from: &reqwest::Client, forwarded: &str, user: &str, password: &str| {
            from.get(&current)
                .header("x-forwarded-for", forwarded)
                .basic_auth(user, Some(password))
                .send()
        };
        // One client behind the proxy floods; it alone is throttled.
        let mut statuses = Vec::new();
        for i in 0..21 {
            let r = login(&proxy, "203.0.113.7", &format!("nobody{i}"), "Wrong12345");
            statuses.push(r.await.unwrap().status().as_u16());
        }
        assert_eq!(&statuses[..20], &[401; 20], "{statuses:?}");
        assert_eq!(statuses[20], 429);
        let r = login(&proxy, "203.0.113.8", "admin", ADMIN_PASSWORD);
        assert_eq!(r.await.unwrap().status(), 200);
        // Naming someone else first does not help: the proxy saw the flooder.
        let r = login(&proxy, "203.0.113.8, 203.0.113.7", "admin", ADMIN_PASSWORD);
        assert_eq!(r.await.unwrap().status(), 429);
        // From anyone but the proxy the header is the client's own word.
        let direct = client_from("127.0.0.6");
        for i in 0..20 {
            let r = login(
                &direct,
                &format!("198.51.100.{i}"),
                &format!("nobody{i}"),
                "Wrong12345",
            );
            assert_eq!(r.await.unwrap().status(), 401);
        }
        let r = login(&direct, "198.51.100.99", "admin", ADMIN_PASSWORD);
        assert_eq!(r.await.unwrap().status(), 429);
    }
}
