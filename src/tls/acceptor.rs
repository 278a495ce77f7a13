//! The poem acceptor of an HTTPS listener, and the way a connection's client certificate
//! reaches each of its requests.
//!
//! [`TlsAcceptor`] hands the server a [`TlsConnection`] for every TCP connection at once; the
//! handshake runs inside the connection on its first read or write, in the connection's own
//! task, so a slow or silent client never holds up the accept loop, and the TCP connection's
//! idle timeout (`connection.idle.timeout.ms`, `listener.rs`) bounds a handshake that stalls.
//! Each handshake takes the [`ServerTls`] configuration current at that moment, which is how a
//! reload reaches new connections while open ones keep theirs.
//!
//! poem gives a request its connection's addresses but no per-connection data, so the verified
//! client certificate's subject goes into [`PeerCertificates`], keyed by the listener's and the
//! client's addresses (unique among open connections), from the end of the handshake until the
//! connection drops; [`PeerCertificates::attach`] copies it into each request of that
//! connection as a [`PeerCertificate`] extension.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::listener::{Connection, NoDelayAcceptor};
use crate::principal::PeerCertificate;

use super::subject::subject_of;
use super::ServerTls;

/// Which connection: the listener's address and the client's.
type ConnectionKey = (SocketAddr, SocketAddr);

/// The verified client certificates of the open TLS connections. Entries are added when a
/// handshake with a client certificate completes and removed when its connection drops, so
/// there are never more than open connections.
#[derive(Debug, Default)]
pub(crate) struct PeerCertificates {
    /// Each entry carries the id of the connection that added it, so that a closing connection
    /// never removes the entry of a newer one that reuses its addresses.
    open: Mutex<HashMap<ConnectionKey, (u64, PeerCertificate)>>,
    next_id: AtomicU64,
}

impl PeerCertificates {
    fn insert(&self, key: ConnectionKey, certificate: PeerCertificate) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (id, certificate));
        id
    }

    fn remove(&self, key: &ConnectionKey, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.get(key).is_some_and(|(owner, _)| *owner == id) {
            open.remove(key);
        }
    }

    /// Forgets any certificate of a connection that a new one now uses the addresses of.
    fn forget(&self, key: &ConnectionKey) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn get(&self, key: &ConnectionKey) -> Option<PeerCertificate> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(|(_, certificate)| certificate.clone())
    }

    /// How many connections have a certificate in the table.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Puts the client certificate of the request's connection, if it presented one, into the
    /// request's extensions. A [`PeerCertificate`] the request already carries is removed
    /// first, so only this listener can set one.
    pub(crate) fn attach(&self, request: &mut Request) {
        request.extensions_mut().remove::<PeerCertificate>();
        let (Some(local), Some(remote)) = (
            request.local_addr().as_socket_addr(),
            request.remote_addr().as_socket_addr(),
        ) else {
            return;
        };
        if let Some(certificate) = self.get(&(*local, *remote)) {
            request.extensions_mut().insert(certificate);
        }
    }
}

/// The acceptor of one HTTPS listener.
pub(crate) struct TlsAcceptor {
    tcp: NoDelayAcceptor,
    tls: Arc<ServerTls>,
    peers: Arc<PeerCertificates>,
}

impl TlsAcceptor {
    pub(crate) fn new(
        tcp: NoDelayAcceptor,
        tls: Arc<ServerTls>,
        peers: Arc<PeerCertificates>,
    ) -> TlsAcceptor {
        TlsAcceptor { tcp, tls, peers }
    }
}

impl Acceptor for TlsAcceptor {
    type Io = TlsConnection;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.tcp.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(TlsConnection, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, _) = self.tcp.accept().await?;
        let key = match (local.as_socket_addr(), remote.as_socket_addr()) {
            (Some(local), Some(remote)) => Some((*local, *remote)),
            _ => None,
        };
        if let Some(key) = &key {
            self.peers.forget(key);
        }
        let handshake = tokio_rustls::TlsAcceptor::from(self.tls.current()).accept(stream);
        let connection = TlsConnection {
            state: State::Handshake(Box::new(handshake)),
            peers: Arc::clone(&self.peers),
            key,
            registered: None,
        };
        Ok((connection, local, remote, Scheme::HTTPS))
    }
}

/// Both streams are large (a rustls connection each), so they are boxed.
enum State {
    Handshake(Box<tokio_rustls::Accept<Connection>>),
    Ready(Box<tokio_rustls::server::TlsStream<Connection>>),
    Failed,
}

/// One HTTPS connection: the handshake until it completes, then the TLS stream. It removes
/// its client certificate from [`PeerCertificates`] when dropped.
pub(crate) struct TlsConnection {
    state: State,
    peers: Arc<PeerCertificates>,
    key: Option<ConnectionKey>,
    /// The id of this connection's entry in `peers`.
    registered: Option<u64>,
}

impl TlsConnection {
    /// Drives the handshake; `Ready(Ok)` once the stream is usable.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let State::Handshake(handshake) = &mut self.state else {
            return match self.state {
                State::Failed => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the TLS handshake failed",
                ))),
                _ => Poll::Ready(Ok(())),
            };
        };
        match Pin::new(handshake.as_mut()).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(stream)) => {
                self.register(&stream);
                self.state = State::Ready(Box::new(stream));
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.state = State::Failed;
                // Failed handshakes are routine (scanners, clients without a certificate or
                // with an untrusted one), so they are not warnings.
                tracing::debug!(
                    client = ?self.key.map(|(_, remote)| remote),
                    error = %e,
                    "TLS handshake failed"
                );
                Poll::Ready(Err(e))
            }
        }
    }

    /// Records the subject of the client certificate the handshake verified, if any.
    fn register(&mut self, stream: &tokio_rustls::server::TlsStream<Connection>) {
        let Some(key) = self.key else {
            return;
        };
        let Some(certificate) = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
        else {
            return;
        };
        match subject_of(certificate) {
            Some(subject) => {
                self.registered = Some(self.peers.insert(key, PeerCertificate { subject }));
            }
            // rustls verified the certificate, so this does not happen; were it to, the
            // connection simply has no certificate identity.
            None => tracing::warn!(
                client = %key.1,
                "the client certificate's subject cannot be read; it is ignored"
            ),
        }
    }

    fn stream(&mut self) -> Option<Pin<&mut tokio_rustls::server::TlsStream<Connection>>> {
        match &mut self.state {
            State::Ready(stream) => Some(Pin::new(stream.as_mut())),
            _ => None,
        }
    }
}

impl Drop for TlsConnection {
    fn drop(&mut self) {
        if let (Some(key), Some(id)) = (&self.key, self.registered) {
            self.peers.remove(key, id);
        }
    }
}

/// Drives the handshake, then runs `$call` on the stream.
macro_rules! after_handshake {
    ($this:ident, $cx:ident, |$stream:ident| $call:expr) => {{
        let this = $this.get_mut();
        match this.poll_handshake($cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => match this.stream() {
                Some($stream) => $call,
                None => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the TLS handshake failed",
                ))),
            },
        }
    }};
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        after_handshake!(self, cx, |stream| stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        after_handshake!(self, cx, |stream| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        after_handshake!(self, cx, |stream| stream.poll_write_vectored(cx, bufs))
    }

    /// rustls takes the slices into its records either way: hyper hands over an answer's
    /// chunks without first copying them into its own buffer.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        after_handshake!(self, cx, |stream| stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A connection whose handshake failed or never started has nothing to close politely.
        if !matches!(self.state, State::Ready(_)) {
            return Poll::Ready(Ok(()));
        }
        after_handshake!(self, cx, |stream| stream.poll_shutdown(cx))
    }
}
