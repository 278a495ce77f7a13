//! The TCP acceptor of every listener: poem's, with `TCP_NODELAY` set on each accepted
//! connection and the idle timeout (`connection.idle.timeout.ms`) kept by the connection
//! itself.
//!
//! Streamed answers (a v3 produce stream's result lines, the records streams, a chunked
//! answer of one record) are written as several small segments. With Nagle's algorithm on, the
//! kernel holds a small segment back until the previous one is acknowledged, and the client
//! delays that acknowledgement (40 ms on Linux), so each such answer waited ~40 ms. An answer
//! of known length leaves in one write and was never affected.
//!
//! The idle timeout is not poem's (`Server::idle_timeout`): that one gives every connection a
//! task of its own with a timer, and wakes that task on every read, write and flush, so each
//! request cost a wake-up of another task, often on the other worker thread, and a timer
//! set again (~4,800 instructions of a one-record produce request, besides the thread
//! hand-off). Here the connection notes the time of its last read or write, and only when
//! hyper waits on it (for the next request, for more of a request body, for room to write, or
//! to notice a client that left while its request is served) does it look at one timer, which
//! is set again at most once per timeout while the connection is busy.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// [`TcpAcceptor`] with `TCP_NODELAY` on every connection it accepts, and each connection
/// closed after `idle` without a read or write.
pub struct NoDelayAcceptor {
    inner: TcpAcceptor,
    idle: Option<Duration>,
}

impl NoDelayAcceptor {
    /// `idle`: `connection.idle.timeout.ms`; `None` keeps connections open however long they
    /// are idle.
    pub fn from_tokio(
        listener: tokio::net::TcpListener,
        idle: Option<Duration>,
    ) -> io::Result<NoDelayAcceptor> {
        Ok(NoDelayAcceptor {
            inner: TcpAcceptor::from_tokio(listener)?,
            idle,
        })
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = Connection;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Connection, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.inner.accept().await?;
        // A socket that refuses the option still serves, only with Nagle's delays.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let connection = Connection {
            stream,
            idle: self.idle.map(IdleTimer::new),
        };
        Ok((connection, local, remote, scheme))
    }
}

/// One accepted TCP connection, with its idle timeout.
pub struct Connection {
    stream: TcpStream,
    idle: Option<IdleTimer>,
}

/// When a connection last read or wrote, and the one timer that ends it once it has been idle
/// for `timeout`.
struct IdleTimer {
    timeout: Duration,
    last: Instant,
    /// Made when the connection first waits; it runs to `last + timeout` as it was when the
    /// timer was last set, so when it fires, `last` says whether the connection was busy since.
    timer: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    fn new(timeout: Duration) -> IdleTimer {
        IdleTimer {
            timeout,
            last: Instant::now(),
            timer: None,
        }
    }

    fn busy(&mut self) {
        self.last = Instant::now();
    }

    /// Whether the connection has been idle for its timeout; if not, the timer wakes the
    /// waiting task by then.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let due = self.last + self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            // The timer went off: idle unless there was a read or write since it was set.
            let due = self.last + self.timeout;
            if due <= Instant::now() {
                return true;
            }
            timer.as_mut().reset(due);
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection was idle for connection.idle.timeout.ms",
    )
}

impl Connection {
    /// What a read or write that is `Pending` becomes: an error once the connection has been
    /// idle for its timeout.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.idle.as_mut().is_some_and(|idle| idle.expired(cx)) {
            true => Poll::Ready(Err(timed_out())),
            false => Poll::Pending,
        }
    }

    /// Notes a read or write that happened.
    fn done<T>(&mut self, result: io::Result<T>) -> Poll<io::Result<T>> {
        if let Some(idle) = &mut self.idle {
            idle.busy();
        }
        Poll::Ready(result)
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => this.done(result),
            Poll::Pending => this.waiting(cx),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(result) => this.done(result),
            Poll::Pending => this.waiting(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => this.done(result),
            Poll::Pending => this.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let (connection, _client) = accepted(None).await;
        assert!(connection.stream.nodelay().expect("nodelay readable"));
    }

    /// A connection accepted with the idle timeout `idle`, and the client's end of it.
    async fn accepted(idle: Option<Duration>) -> (Connection, TcpStream) {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = tcp.local_addr().expect("address");
        let mut acceptor = NoDelayAcceptor::from_tokio(tcp, idle).expect("acceptor");
        assert_eq!(acceptor.local_addr().len(), 1);
        let client = tokio::spawn(TcpStream::connect(addr));
        let (connection, _, _, _) = acceptor.accept().await.expect("accept");
        (connection, client.await.expect("task").expect("connect"))
    }

    #[tokio::test]
    async fn a_connection_that_reads_nothing_ends_after_its_idle_timeout() {
        use tokio::io::AsyncReadExt;
        let idle = Duration::from_millis(500);
        let (mut connection, _client) = accepted(Some(idle)).await;
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        let e = connection.read(&mut buf).await.expect_err("timed out");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(took >= idle && took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test]
    async fn reads_keep_a_connection_open_past_its_idle_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let idle = Duration::from_secs(1);
        let (mut connection, mut client) = accepted(Some(idle)).await;
        let started = std::time::Instant::now();
        let writer = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                client.write_all(b"x").await.expect("write");
            }
            client
        });
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            assert_eq!(connection.read(&mut buf).await.expect("a byte"), 1);
        }
        // 1.5 s in, past one timeout from the start: the reads kept it open.
        assert!(started.elapsed() >= Duration::from_millis(1500));
        let last_read = std::time::Instant::now();
        let e = connection.read(&mut buf).await.expect_err("timed out");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let idle_for = last_read.elapsed();
        assert!(
            idle_for >= Duration::from_millis(900) && idle_for < Duration::from_secs(5),
            "{idle_for:?}"
        );
        drop(writer.await.expect("writer"));
    }

    #[tokio::test]
    async fn a_write_the_client_never_reads_ends_after_the_idle_timeout() {
        use tokio::io::AsyncWriteExt;
        let idle = Duration::from_millis(500);
        let (mut connection, _client) = accepted(Some(idle)).await;
        // More than the two sockets' buffers hold, so the writes wait for a reader that
        // never comes.
        let chunk = vec![0u8; 1 << 20];
        let started = std::time::Instant::now();
        let e = loop {
            if let Err(e) = connection.write_all(&chunk).await {
                break e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the writes never waited"
            );
        };
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn without_an_idle_timeout_a_connection_waits() {
        use tokio::io::AsyncReadExt;
        let (mut connection, _client) = accepted(None).await;
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(1), connection.read(&mut buf)).await;
        assert!(read.is_err(), "the read ended: {read:?}");
    }
}
