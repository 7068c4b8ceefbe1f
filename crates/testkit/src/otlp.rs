//! An OTLP/HTTP trace receiver the tests run on 127.0.0.1: it decodes
//! what Berth exports (protobuf `ExportTraceServiceRequest`s) and keeps
//! the spans.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received span with its service's name.
#[derive(Clone, Debug)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    /// `SPAN_KIND_*` as numbered by OTLP (2: server).
    pub kind: i32,
    /// OTLP status code (2: error).
    pub status: i32,
    pub attributes: Vec<KeyValue>,
}

impl Span {
    /// An attribute's value as text (numbers and booleans formatted).
    pub fn attr(&self, key: &str) -> Option<String> {
        let kv = self.attributes.iter().find(|kv| kv.key == key)?;
        Some(match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            Value::BoolValue(b) => b.to_string(),
            Value::DoubleValue(d) => d.to_string(),
            other => format!("{other:?}"),
        })
    }
}

/// The receiver; Berth's `--otlp-endpoint` is `url`.
pub struct Receiver {
    pub url: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

/// Starts a receiver.
pub async fn receiver() -> Receiver {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let got = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let got = got.clone();
            async move {
                let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                    return StatusCode::BAD_REQUEST;
                };
                let mut got = got.lock().unwrap();
                for rs in req.resource_spans {
                    let service = (rs.resource.iter())
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                            Value::StringValue(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                        got.push(Span {
                            service: service.clone(),
                            name: s.name,
                            trace_id: s.trace_id,
                            span_id: s.span_id,
                            parent_span_id: s.parent_span_id,
                            kind: s.kind,
                            status: s.status.map_or(0, |st| st.code),
                            attributes: s.attributes,
                        });
                    }
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, spans }
}

impl Receiver {
    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) for a span `matches` accepts; returns it.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Span) -> bool) -> Span {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.spans().into_iter().find(|s| matches(s)) {
                return s;
            }
            if Instant::now() > deadline {
                let got: Vec<_> = self.spans().into_iter().map(|s| s.name).collect();
                panic!("no span {what} arrived; received: {got:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
