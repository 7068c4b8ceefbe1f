//! A webhook receiver the tests run on 127.0.0.1: it records what Berth
//! delivers and can fail or delay answers.
#![allow(clippy::unwrap_used)]

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP receiver that fails its first `fail` requests (or all, with `usize::MAX`).
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    pub attempts: Arc<AtomicUsize>,
}

pub async fn receiver(fail: usize) -> Receiver {
    slow_receiver(fail, Duration::ZERO).await
}

/// A receiver that takes `delay` to answer each request.
pub async fn slow_receiver(fail: usize, delay: Duration) -> Receiver {
    receiver_delaying(fail, move |_| delay).await
}

/// A receiver that takes `delay(n)` to answer its request number `n` (from 0).
pub async fn receiver_delaying(
    fail: usize,
    delay: impl Fn(usize) -> Duration + Clone + Send + Sync + 'static,
) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let (g, a) = (got.clone(), attempts.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (g, a, delay) = (g.clone(), a.clone(), delay.clone());
            async move {
                let n = a.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay(n)).await;
                if n < fail {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock()
                    .unwrap()
                    .push((headers, serde_json::from_slice(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got, attempts }
}

impl Receiver {
    /// Waits until `n` requests came in.
    pub async fn wait_attempts(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.attempts.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "request {n} never came");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `n` events arrived; returns them.
    pub async fn wait(&self, n: usize) -> Vec<(HeaderMap, Value)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} events arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
