//! The HTTP server: accepts connections, plain or TLS, and serves the app
//! with limits that keep slow and hostile clients from holding it.
//!
//! - A connection with no request in flight (a slow or stalled header, a
//!   TLS handshake, an idle keep-alive) is closed after the header timeout;
//!   when connections near the cap, after one second.
//! - A request body that stalls longer than the body timeout fails.
//! - Past the connection cap a client is answered 503 and closed.
//! - A response sent before its request's body was read (a refusal) says
//!   `Connection: close`, so the client does not send its next request
//!   into a connection that is closing.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// What one client may hold, and whom to believe about who it is.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; past it a client is answered 503.
    pub max_connections: usize,
    /// How long a connection may go without a request in flight: the time
    /// to send a request's headers (or a TLS handshake), and the keep-alive.
    pub header_timeout: Duration,
    /// How long a request body may stall between two chunks.
    pub body_idle_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

tokio::task_local! {
    /// The address of the client whose request is being handled.
    static PEER: IpAddr;
}

/// The address of the client whose request this task handles (None
/// outside a request served by [`serve`]).
pub fn peer() -> Option<std::net::IpAddr> {
    PEER.try_with(|p| *p).ok()
}

/// The client of a request from `peer`: the peer itself, unless it is a
/// trusted proxy; then the last `X-Forwarded-For` address that is not one
/// (those before it are the client's own word, which anyone may forge).
fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &[ipnet::IpNet]) -> IpAddr {
    // An IPv4 client of a `[::]` listener arrives IPv4-mapped.
    let trusted = |ip: &IpAddr| proxies.iter().any(|n| n.contains(&ip.to_canonical()));
    let mut client = peer.to_canonical();
    let hops = (headers.get_all("x-forwarded-for").iter().rev())
        .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
    for hop in hops {
        if !trusted(&client) {
            break;
        }
        match hop.trim().parse() {
            Ok(ip) => client = IpAddr::to_canonical(&ip),
            Err(_) => break,
        }
    }
    client
}

/// How long in-flight requests may take to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(60);
/// Near the cap, connections without a request in flight get this long.
const PRESSED_GRACE: Duration = Duration::from_secs(1);
/// At the cap, a connection with nothing in flight for this long may be
/// closed to make room (a client sends its headers in milliseconds).
const EVICTABLE_AFTER: Duration = Duration::from_millis(250);
/// Refusals being written at once past the cap; beyond, a connection is
/// closed unanswered (each refusal holds a descriptor for up to a second).
const MAX_REFUSING: usize = 256;

/// Serves `app` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (for at most a minute).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let conns = Arc::new(Connections::new());
    let (closing, closing_rx) = watch::channel(false);
    let refusing = Arc::new(AtomicUsize::new(0));
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let reaper = tokio::spawn(reap(conns.clone(), limits.clone()));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, most likely: slow down instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let live = conns.len();
        if live * 4 >= limits.max_connections * 3 {
            conns.pressed.notify_one();
        }
        // At the cap, a new client takes the place of the connection that
        // has waited longest with nothing in flight (a stalled header, an
        // idle keep-alive), so a flood of slow clients cannot lock others out.
        if live >= limits.max_connections && !conns.evict_idle(EVICTABLE_AFTER) {
            // Dropped unanswered past a bound (and always under TLS, where
            // a plain answer would mean nothing).
            if tls.is_none() && refusing.load(Ordering::SeqCst) < MAX_REFUSING {
                refusing.fetch_add(1, Ordering::SeqCst);
                let refusing = refusing.clone();
                tokio::spawn(async move {
                    refuse(stream).await;
                    refusing.fetch_sub(1, Ordering::SeqCst);
                });
            }
            continue;
        }
        let conn = conns.register();
        let served = Served {
            app: app.clone(),
            peer,
            conn: conn.state.clone(),
            body_idle: limits.body_idle_timeout,
            proxies: limits.trusted_proxies.clone(),
        };
        let (tls, closing) = (tls.clone(), closing_rx.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let connection = async move {
                match tls {
                    None => served.run(stream, closing).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            served.run(stream, closing).await;
                        }
                    }
                }
            };
            // The reaper ends a handshake, a header or a keep-alive that
            // takes too long: dropping the connection closes it.
            tokio::select! {
                _ = connection => {}
                _ = conn.state.kill.notified() => {}
            }
        });
    }
    closing.send_replace(true);
    let deadline = Instant::now() + DRAIN;
    while conns.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reaper.abort();
}

/// Answers a client past the cap with a 503 in both protocols' envelope
/// shape, then closes after it has had a moment to read it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"errors":[{"code":"UNAVAILABLE","message":"the registry is serving as many connections as it can; try again later"}]}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Closing with unread input would reset the connection, and the
        // client could lose the answer: read what it sent, briefly.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Every open connection, for the cap and the reaper.
struct Connections {
    start: Instant,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    next: AtomicU64,
    /// Connections are near the cap: reap now.
    pressed: Notify,
}

/// What the reaper knows of one connection.
struct ConnState {
    start: Instant,
    /// Requests whose response has not been sent.
    in_flight: AtomicUsize,
    /// Milliseconds after `start` when it last had nothing in flight
    /// (`CLOSING` once it was told to close).
    idle_since: AtomicU64,
    /// Closes the connection.
    kill: Notify,
}

impl ConnState {
    fn millis(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// `idle_since` of a connection being closed.
const CLOSING: u64 = u64::MAX;

/// A registered connection; dropping it deregisters.
struct Registered {
    conns: Arc<Connections>,
    id: u64,
    state: Arc<ConnState>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.conns.open).remove(&self.id);
    }
}

/// A lock whose holder panicked still guards usable data (plain maps and counters).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connections {
    fn new() -> Self {
        Connections {
            start: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            pressed: Notify::new(),
        }
    }

    fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Closes the connection that has had nothing in flight the longest,
    /// if that is at least `min`; whether one was closed.
    fn evict_idle(&self, min: Duration) -> bool {
        let now = self.start.elapsed().as_millis() as u64;
        let open = lock(&self.open);
        let oldest = open
            .values()
            .filter(|c| c.in_flight.load(Ordering::SeqCst) == 0)
            .min_by_key(|c| c.idle_since.load(Ordering::SeqCst));
        match oldest {
            Some(c)
                if now.saturating_sub(c.idle_since.load(Ordering::SeqCst))
                    >= min.as_millis() as u64 =>
            {
                // Marked so that it is not chosen again while it closes.
                c.idle_since.store(CLOSING, Ordering::SeqCst);
                c.kill.notify_one();
                true
            }
            _ => false,
        }
    }

    fn register(self: &Arc<Self>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            start: self.start,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            kill: Notify::new(),
        });
        state.idle_since.store(state.millis(), Ordering::SeqCst);
        lock(&self.open).insert(id, state.clone());
        Registered {
            conns: self.clone(),
            id,
            state,
        }
    }
}

/// Closes connections that have had nothing in flight for the header
/// timeout (every second), or for a second when connections near the cap.
async fn reap(conns: Arc<Connections>, limits: Limits) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = conns.pressed.notified() => {}
        }
        let open: Vec<Arc<ConnState>> = lock(&conns.open).values().cloned().collect();
        let pressed = open.len() * 4 >= limits.max_connections * 3;
        let allowed = if pressed {
            PRESSED_GRACE
        } else {
            limits.header_timeout
        };
        let now = conns.start.elapsed().as_millis() as u64;
        let mut closed = 0;
        for c in open {
            let idle = now.saturating_sub(c.idle_since.load(Ordering::SeqCst));
            if c.in_flight.load(Ordering::SeqCst) == 0 && idle >= allowed.as_millis() as u64 {
                c.idle_since.store(CLOSING, Ordering::SeqCst);
                c.kill.notify_one();
                closed += 1;
            }
        }
        if pressed && closed > 0 {
            tracing::warn!(closed, "near the connection cap: closed idle connections");
        }
        if pressed {
            // Keep up with a flood without spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One connection's service.
#[derive(Clone)]
struct Served {
    app: Router,
    peer: SocketAddr,
    conn: Arc<ConnState>,
    body_idle: Duration,
    proxies: Arc<[ipnet::IpNet]>,
}

impl Served {
    /// Serves HTTP/1 (or HTTP/2 when the client asks for it) until the
    /// connection ends or shutdown has let it finish.
    async fn run<I>(self, io: I, mut closing: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static + Negotiated,
    {
        // A client that connected but has sent nothing yet is not in
        // flight: shutdown does not wait for its first byte.
        let h2 = tokio::select! {
            h2 = io.wants_h2() => h2,
            _ = closing.wait_for(|c| *c) => return,
        };
        let svc = hyper::service::service_fn(move |req| self.clone().call(req));
        let io = TokioIo::new(io);
        let mut served: Pin<Box<dyn Connection>> = if h2 {
            Box::pin(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, svc),
            )
        } else {
            Box::pin(hyper::server::conn::http1::Builder::new().serve_connection(io, svc))
        };
        let mut draining = false;
        loop {
            tokio::select! {
                _ = served.as_mut() => return,
                _ = closing.wait_for(|c| *c), if !draining => {
                    draining = true;
                    served.as_mut().shut_down();
                }
            }
        }
    }

    async fn call(self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let flight = InFlight::start(self.conn.clone());
        let http1 = req.version() <= Version::HTTP_11;
        let (parts, body) = req.into_parts();
        let client = client_address(self.peer.ip(), &parts.headers, &self.proxies);
        let read_all = Arc::new(AtomicBool::new(body.is_end_stream()));
        let body = RequestBody {
            inner: body,
            idle: self.body_idle,
            timer: None,
            progressed: true,
            read_all: read_all.clone(),
        };
        let handled = self.app.oneshot(Request::from_parts(parts, body));
        let Ok(mut resp) = PEER.scope(client, handled).await;
        if http1 && !read_all.load(Ordering::SeqCst) {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(resp.map(|inner| {
            Body::new(ResponseBody {
                inner,
                _flight: flight,
            })
        }))
    }
}

/// A served connection of either protocol.
trait Connection: Future<Output = Result<(), hyper::Error>> + Send {
    /// Finishes what is in flight, takes nothing new.
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S> Connection for hyper::server::conn::http1::Connection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S> Connection for hyper::server::conn::http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send + 'static,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// How a connection tells which protocol its client speaks.
trait Negotiated {
    /// Whether the client speaks HTTP/2.
    fn wants_h2(&self) -> impl Future<Output = bool> + Send;
}

impl Negotiated for TcpStream {
    /// Prior knowledge: the connection starts with HTTP/2's preface.
    async fn wants_h2(&self) -> bool {
        const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let mut buf = [0u8; 24];
        loop {
            let Ok(n) = self.peek(&mut buf).await else {
                return false;
            };
            if n == 0 || buf[..n] != PREFACE[..n] {
                return false;
            }
            if n == PREFACE.len() {
                return true;
            }
            // Part of the preface so far: peeking again would see the same bytes at once.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Negotiated for tokio_rustls::server::TlsStream<TcpStream> {
    /// ALPN, as agreed in the handshake.
    async fn wants_h2(&self) -> bool {
        self.get_ref().1.alpn_protocol() == Some(b"h2")
    }
}

/// A request in flight until its response has been sent or dropped.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(conn: Arc<ConnState>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Idle from now, unless another request on the connection is in flight.
        self.0.idle_since.store(self.0.millis(), Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request body that fails when it stalls, and says when it was read to
/// its end.
struct RequestBody {
    inner: Incoming,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Data arrived since the timer was last set.
    progressed: bool,
    read_all: Arc<AtomicBool>,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.progressed = true;
                if this.inner.is_end_stream() {
                    this.read_all.store(true, Ordering::SeqCst);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.read_all.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if std::mem::take(&mut this.progressed) {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "the request body sent nothing for {} s",
                        this.idle.as_secs()
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request in flight until it is sent.
struct ResponseBody {
    inner: Body,
    _flight: InFlight,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: &str, forwarded: &[&str], proxies: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for f in forwarded {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(f).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let proxies: Vec<ipnet::IpNet> = (proxies.iter())
            .map(|p| p.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let peer = peer.parse().unwrap_or_else(|e| panic!("{e}"));
        client_address(peer, &headers, &proxies).to_string()
    }

    #[test]
    fn only_trusted_proxies_name_the_client() {
        // No trusted proxy: the header is anyone's word.
        assert_eq!(client("10.0.0.1", &["1.2.3.4"], &[]), "10.0.0.1");
        assert_eq!(
            client("10.0.0.1", &["1.2.3.4"], &["10.0.0.2/32"]),
            "10.0.0.1"
        );
        // From a trusted proxy: the last hop it did not add itself.
        assert_eq!(client("10.0.0.1", &["1.2.3.4"], &["10.0.0.0/8"]), "1.2.3.4");
        assert_eq!(
            client("10.0.0.1", &["6.6.6.6, 1.2.3.4"], &["10.0.0.0/8"]),
            "1.2.3.4"
        );
        assert_eq!(
            client(
                "10.0.0.1",
                &["6.6.6.6, 1.2.3.4", "10.0.0.9"],
                &["10.0.0.0/8"]
            ),
            "1.2.3.4"
        );
        // An IPv4 peer or client seen IPv4-mapped is the IPv4 address.
        assert_eq!(
            client("::ffff:10.0.0.1", &["1.2.3.4"], &["10.0.0.0/8"]),
            "1.2.3.4"
        );
        assert_eq!(client("::ffff:10.0.0.1", &[], &[]), "10.0.0.1");
        // Garbage ends the chain at the last address believed.
        assert_eq!(
            client("10.0.0.1", &["1.2.3.4, junk"], &["10.0.0.0/8"]),
            "10.0.0.1"
        );
        assert_eq!(client("10.0.0.1", &[], &["10.0.0.0/8"]), "10.0.0.1");
    }
}
