//! Serving HTTP: every listener (plain and TLS) as one acceptor, hyper's connection (HTTP/1.1
//! and HTTP/2, with upgrades) around the application on each accepted connection, and a
//! graceful stop.
//!
//! This replaces poem's `Server`, which cost every connection more than it needed to:
//!
//! - poem boxes every acceptor and hands hyper each connection as a `BoxIo`, the two halves of
//!   `tokio::io::split` behind a `Box<dyn>` each: a lock taken on every read and write, and no
//!   vectored writes, so hyper copied every chunk of every answer into its own buffer before
//!   writing it (a produce stream's result lines, a 4 MB records answer). Here hyper gets the
//!   acceptor's own connection, and writes an answer's head and chunks with one `writev`.
//! - Each wake-up of a poem connection polled three cancellation tokens besides the
//!   connection. Two of them are shared by every connection, and polling a token that waits
//!   takes the lock of its waiter list, so the connections of both worker threads took the same
//!   two locks once per wake-up (~1,700 instructions of a one-record produce request). Here a
//!   connection waits for the stop on a channel of its own.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::listener::{Connection, NoDelayAcceptor};
use crate::tls::{TlsAcceptor, TlsConnection};

/// How long the accept loop pauses after a failed accept (most often: out of file
/// descriptors), so that it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on the connections of `acceptor` until `shutdown` completes; then stops
/// accepting, asks every connection to finish its request in progress and close (HTTP/1.1:
/// no further request on it; HTTP/2: a GOAWAY), waits up to `graceful` for them, and cuts
/// those still open.
pub(crate) async fn serve<A, E>(
    mut acceptor: A,
    app: E,
    shutdown: impl Future<Output = ()>,
    graceful: Duration,
) where
    A: Acceptor,
    E: Endpoint<Output = Response> + 'static,
{
    let app = Arc::new(app);
    let open = Arc::new(OpenConnections::default());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                log_ended(ended);
            }
            accepted = acceptor.accept() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    let (id, stop) = open.register();
                    let peer = Peer { local, remote, scheme };
                    let app = Arc::clone(&app);
                    let open = Arc::clone(&open);
                    connections.spawn(async move {
                        serve_connection(io, peer, app, stop).await;
                        open.remove(id);
                    });
                }
                // A client that reset its connection before it was accepted is routine.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => tracing::debug!(error = %e, "a connection ended before it was accepted"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }
    drop(acceptor);
    open.stop_all();
    let drained = tokio::time::timeout(graceful, async {
        while let Some(ended) = connections.join_next().await {
            log_ended(ended);
        }
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            connections = connections.len(),
            "cutting the connections still open after shutdown.graceful.ms"
        );
        connections.shutdown().await;
    }
}

fn log_ended(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        // The application catches its own panics; this would be hyper's or ours.
        tracing::error!(error = %e, "a connection's task failed");
    }
}

/// The addresses and scheme of a connection, which every request on it carries.
#[derive(Clone)]
struct Peer {
    local: LocalAddr,
    remote: RemoteAddr,
    scheme: Scheme,
}

async fn serve_connection<Io, E>(io: Io, peer: Peer, app: Arc<E>, stop: oneshot::Receiver<()>)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    E: Endpoint<Output = Response> + 'static,
{
    let service = hyper::service::service_fn(move |request: poem::http::Request<Incoming>| {
        let app = Arc::clone(&app);
        let peer = peer.clone();
        async move {
            let request = Request::from((request, peer.local, peer.remote, peer.scheme));
            let response = app.get_response(request).await;
            Ok::<_, Infallible>(poem::http::Response::from(response))
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        biased;
        _ = connection.as_mut() => return,
        _ = stop => {}
    }
    connection.as_mut().graceful_shutdown();
    // The request in progress finishes (or the connection is cut when the graceful period
    // ends); an error here is the client's or the network's, already over.
    let _ = connection.await;
}

/// The stop channel of every open connection.
#[derive(Default)]
struct OpenConnections {
    state: Mutex<OpenState>,
}

#[derive(Default)]
struct OpenState {
    next: u64,
    stops: HashMap<u64, oneshot::Sender<()>>,
}

impl OpenConnections {
    fn state(&self) -> std::sync::MutexGuard<'_, OpenState> {
        // The map stays valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection's id and the channel that tells it to stop.
    fn register(&self) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut state = self.state();
        let id = state.next;
        state.next += 1;
        state.stops.insert(id, tx);
        (id, rx)
    }

    fn remove(&self, id: u64) {
        self.state().stops.remove(&id);
    }

    fn stop_all(&self) {
        for (_, stop) in self.state().stops.drain() {
            let _ = stop.send(());
        }
    }
}

/// One listener of the proxy: plain HTTP, or HTTPS.
pub(crate) enum Listener {
    Plain(NoDelayAcceptor),
    Tls(TlsAcceptor),
}

impl Listener {
    async fn accept(&mut self) -> io::Result<(Accepted, LocalAddr, RemoteAddr, Scheme)> {
        match self {
            Listener::Plain(tcp) => {
                let (connection, local, remote, scheme) = tcp.accept().await?;
                Ok((Accepted::Plain(connection), local, remote, scheme))
            }
            Listener::Tls(tls) => {
                let (connection, local, remote, scheme) = tls.accept().await?;
                Ok((Accepted::Tls(Box::new(connection)), local, remote, scheme))
            }
        }
    }

    fn local_addr(&self) -> Vec<LocalAddr> {
        match self {
            Listener::Plain(tcp) => tcp.local_addr(),
            Listener::Tls(tls) => tls.local_addr(),
        }
    }
}

/// Every listener of the proxy as one acceptor, whose connections are a plain enum of the two
/// kinds (poem's `combine` and `boxed` would put each behind a `BoxIo`, see above).
pub(crate) struct Listeners {
    listeners: Vec<Listener>,
    /// The listener asked first on the next accept, so that a busy one cannot starve the
    /// others.
    next: usize,
}

impl Listeners {
    /// `None` without a listener.
    pub(crate) fn new(listeners: Vec<Listener>) -> Option<Listeners> {
        (!listeners.is_empty()).then_some(Listeners { listeners, next: 0 })
    }
}

impl Acceptor for Listeners {
    type Io = Accepted;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.listeners
            .iter()
            .flat_map(Listener::local_addr)
            .collect()
    }

    async fn accept(&mut self) -> io::Result<(Accepted, LocalAddr, RemoteAddr, Scheme)> {
        if let [only] = self.listeners.as_mut_slice() {
            return only.accept().await;
        }
        let first = self.next % self.listeners.len();
        self.next = first + 1;
        let (before, after) = self.listeners.split_at_mut(first);
        // Accepting is cancel-safe for both kinds (a TLS handshake runs on the connection,
        // after the accept), so the accepts not chosen are dropped without losing a client.
        let accepts = after
            .iter_mut()
            .chain(before.iter_mut())
            .map(|listener| Box::pin(listener.accept()));
        let (accepted, _, _) = futures::future::select_all(accepts).await;
        accepted
    }
}

/// A connection of either kind of listener.
pub(crate) enum Accepted {
    Plain(Connection),
    /// Boxed: a TLS connection carries its rustls state.
    Tls(Box<TlsConnection>),
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(c) => Pin::new(c).poll_read(cx, buf),
            Accepted::Tls(c) => Pin::new(c.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Accepted::Plain(c) => Pin::new(c).poll_write(cx, buf),
            Accepted::Tls(c) => Pin::new(c.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Accepted::Plain(c) => Pin::new(c).poll_write_vectored(cx, bufs),
            Accepted::Tls(c) => Pin::new(c.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Accepted::Plain(c) => c.is_write_vectored(),
            Accepted::Tls(c) => c.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(c) => Pin::new(c).poll_flush(cx),
            Accepted::Tls(c) => Pin::new(c.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(c) => Pin::new(c).poll_shutdown(cx),
            Accepted::Tls(c) => Pin::new(c.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::{handler, EndpointExt, Route};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[handler]
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    #[handler]
    fn hello() -> &'static str {
        "hello"
    }

    #[handler]
    async fn forever() -> &'static str {
        std::future::pending::<()>().await;
        "never"
    }

    /// A server on a free port with `/hello`, `/slow` and `/forever`, its address, and the
    /// sender that starts its graceful stop.
    async fn start(
        graceful: Duration,
    ) -> (
        std::net::SocketAddr,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = tcp.local_addr().expect("address");
        let acceptor = NoDelayAcceptor::from_tokio(tcp, None).expect("acceptor");
        let app = Route::new()
            .at("/hello", hello)
            .at("/slow", slow)
            .at("/forever", forever);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            acceptor,
            app.map_to_response(),
            async {
                let _ = stopped.await;
            },
            graceful,
        ));
        (addr, stop, server)
    }

    /// Sends one HTTP/1.1 request for `path` on `stream` and reads until the answer's body
    /// `expect` arrived or the connection closed.
    async fn get(stream: &mut tokio::net::TcpStream, path: &str, expect: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).ends_with(expect) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn serves_requests_on_a_kept_alive_connection() {
        let (addr, stop, server) = start(Duration::from_secs(5)).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        for _ in 0..3 {
            let answer = get(&mut stream, "/hello", "hello").await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.ends_with("hello"), "{answer}");
        }
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stopped in time")
            .expect("server task");
    }

    #[tokio::test]
    async fn a_request_in_progress_finishes_when_the_stop_comes_and_the_connection_closes() {
        let (addr, stop, server) = start(Duration::from_secs(5)).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // Answered once, so the connection is open and served before the stop.
        assert!(get(&mut stream, "/hello", "hello").await.ends_with("hello"));
        let client = tokio::spawn(async move {
            let answer = get(&mut stream, "/slow", "done").await;
            // After the answer the server closes the connection: the next read sees its end.
            let mut rest = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
                    .await
                    .is_ok();
            (answer, closed)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
        let (answer, closed) = client.await.expect("client");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        assert!(closed, "the connection stayed open after the stop");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stopped in time")
            .expect("server task");
        // Nothing listens any more.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn connections_still_busy_after_the_graceful_period_are_cut() {
        let graceful = Duration::from_millis(300);
        let (addr, stop, server) = start(graceful).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stopped in time")
            .expect("server task");
        assert!(started.elapsed() >= graceful, "{:?}", started.elapsed());
        // The client sees the connection end without an answer.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .expect("closed in time");
        assert!(read.is_err() || rest.is_empty(), "{rest:?}");
    }
}
