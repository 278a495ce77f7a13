//! The TCP acceptor of every listener: poem's, with `TCP_NODELAY` set on each accepted
//! connection.
//!
//! Streamed answers (a v3 produce stream's result lines, the records streams, a chunked
//! answer of one record) are written as several small segments. With Nagle's algorithm on, the
//! kernel holds a small segment back until the previous one is acknowledged, and the client
//! delays that acknowledgement (40 ms on Linux), so each such answer waited ~40 ms. An answer
//! of known length leaves in one write and was never affected.

use std::io;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::TcpStream;

/// [`TcpAcceptor`] with `TCP_NODELAY` on every connection it accepts.
pub struct NoDelayAcceptor {
    inner: TcpAcceptor,
}

impl NoDelayAcceptor {
    pub fn from_tokio(listener: tokio::net::TcpListener) -> io::Result<NoDelayAcceptor> {
        Ok(NoDelayAcceptor {
            inner: TcpAcceptor::from_tokio(listener)?,
        })
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.inner.accept().await?;
        // A socket that refuses the option still serves, only with Nagle's delays.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        Ok((stream, local, remote, scheme))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = tcp.local_addr().expect("address");
        let mut acceptor = NoDelayAcceptor::from_tokio(tcp).expect("acceptor");
        let client = tokio::spawn(TcpStream::connect(addr));
        let (stream, _, _, _) = acceptor.accept().await.expect("accept");
        assert!(stream.nodelay().expect("nodelay readable"));
        assert_eq!(acceptor.local_addr().len(), 1);
        drop(client.await.expect("connect task").expect("connect"));
    }
}
