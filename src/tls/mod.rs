//! The HTTPS listeners: TLS 1.2 and 1.3 with rustls over the TCP listeners, server
//! certificates from a keystore, optional or required client certificates checked against a
//! truststore, and reloading both without dropping open connections.
//!
//! This module owns the rustls server configuration built from the `ssl.*` keys ([`ServerTls`]),
//! its reload on SIGHUP and when the keystore file changes, the reading of the stores
//! (`store.rs`), the acceptor that runs each connection's handshake and makes the verified
//! client certificate's subject ([`crate::principal::PeerCertificate`]) a request extension
//! (`acceptor.rs`), and the RFC 4514 rendering of that subject (`subject.rs`). Parsing the keys
//! is `crate::config`; turning a certificate into a principal is the authentication layer's.

mod acceptor;
mod store;
mod subject;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, Response};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

use crate::config::{ClientAuthentication, Config, KeystoreType, Secret, TlsVersion};
use crate::log::ErrorChain;

pub(crate) use acceptor::{PeerCertificates, TlsAcceptor, TlsConnection};

use store::StoreFile;

/// Wraps the application so that each request of a connection whose client presented a
/// verified certificate carries it as a [`crate::principal::PeerCertificate`] extension.
pub(crate) fn with_peer_certificates(
    app: BoxEndpoint<'static, Response>,
    peers: Arc<PeerCertificates>,
) -> BoxEndpoint<'static, Response> {
    app.before(move |mut req| {
        peers.attach(&mut req);
        async move { Ok(req) }
    })
    .boxed()
}

/// Why the TLS settings cannot be used. Every variant names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{key}` file {}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{key}` file {} {reason}", path.display())]
    Invalid {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("`{key}` file {} {reason}", path.display())]
    Open {
        key: &'static str,
        path: PathBuf,
        reason: String,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("`{key}` file {} has a certificate rustls cannot use", path.display())]
    Certificate {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error(
        "`ssl.keystore.location` file {}: its private key does not fit its certificate or is of \
         a kind rustls cannot sign with (RSA, ECDSA P-256/P-384 and Ed25519 are supported)",
        path.display()
    )]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("`ssl.truststore.location`: its certificates cannot verify client certificates")]
    Verifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("`ssl.cipher.suites`: {reason}")]
    CipherSuites { reason: String },
    #[error(
        "`ssl.enabled.protocols` and `ssl.cipher.suites`: no listed suite works with the listed \
         protocols"
    )]
    Protocols {
        #[source]
        source: rustls::Error,
    },
}

/// The `ssl.*` settings the listeners use, copied out of [`Config`] so that a reload reads the
/// stores again with the settings the proxy started with.
#[derive(Debug, Clone)]
struct TlsSettings {
    keystore: Option<PathBuf>,
    keystore_type: KeystoreType,
    keystore_password: Secret,
    key_password: Secret,
    truststore: Option<PathBuf>,
    truststore_type: KeystoreType,
    truststore_password: Secret,
    client_authentication: ClientAuthentication,
    protocols: Vec<TlsVersion>,
    cipher_suites: Vec<String>,
}

impl TlsSettings {
    fn from_config(config: &Config) -> TlsSettings {
        TlsSettings {
            keystore: config.ssl_keystore_location.clone(),
            keystore_type: config.ssl_keystore_type,
            keystore_password: config.ssl_keystore_password.clone(),
            key_password: config.ssl_key_password.clone(),
            truststore: config.ssl_truststore_location.clone(),
            truststore_type: config.ssl_truststore_type,
            truststore_password: config.ssl_truststore_password.clone(),
            client_authentication: config.client_authentication(),
            protocols: config.ssl_enabled_protocols.clone(),
            cipher_suites: config.ssl_cipher_suites.clone(),
        }
    }
}

/// The TLS configuration new handshakes use. A reload swaps it; a connection keeps the one its
/// handshake started with, so open connections are never dropped by a reload.
#[derive(Debug)]
pub(crate) struct ServerTls {
    settings: TlsSettings,
    /// Read by the acceptor at each handshake, written by [`ServerTls::reload`].
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Reads the stores and builds the configuration; any problem is an error naming its key.
    pub(crate) fn load(config: &Config) -> Result<Arc<ServerTls>, TlsError> {
        let settings = TlsSettings::from_config(config);
        let server = build(&settings)?;
        Ok(Arc::new(ServerTls {
            settings,
            current: RwLock::new(Arc::new(server)),
        }))
    }

    /// The configuration for the next handshake.
    fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the stores again. On success new handshakes use them; on failure the running
    /// configuration stays and the error is logged, so a half-written keystore never takes the
    /// listener down.
    pub(crate) async fn reload(self: &Arc<Self>, why: &'static str) {
        let tls = Arc::clone(self);
        // Reading files and deriving PKCS#12 keys is blocking work.
        let built = tokio::task::spawn_blocking(move || build(&tls.settings)).await;
        match built {
            Ok(Ok(server)) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(server);
                tracing::info!(trigger = why, "TLS keystore and truststore reloaded");
            }
            Ok(Err(e)) => tracing::warn!(
                trigger = why,
                error = %ErrorChain(&e),
                "TLS reload failed; the previous certificate stays in use"
            ),
            Err(e) => tracing::warn!(trigger = why, error = %e, "TLS reload did not finish"),
        }
    }

    /// Starts the reload triggers: SIGHUP always (on Unix), and the watched file when
    /// `ssl.keystore.reload` is on. The tasks stop when the returned guard drops.
    pub(crate) fn start_reloading(self: &Arc<Self>, config: &Config) -> ReloadTasks {
        let mut tasks = Vec::new();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Registered here, before the listeners serve, so that a SIGHUP that arrives once
            // the proxy answers is a reload and never the default action (exit).
            match signal(SignalKind::hangup()) {
                Ok(mut hangup) => {
                    let tls = Arc::clone(self);
                    tasks.push(tokio::spawn(async move {
                        while hangup.recv().await.is_some() {
                            tls.reload("SIGHUP").await;
                        }
                    }));
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP; no reload on it"),
            }
        }
        if config.ssl_keystore_reload {
            let watched = config
                .ssl_keystore_watch_location
                .clone()
                .or_else(|| config.ssl_keystore_location.clone());
            if let Some(path) = watched {
                let tls = Arc::clone(self);
                let every = config.ssl_keystore_reload_interval;
                tasks.push(tokio::spawn(async move { tls.watch(path, every).await }));
            }
        }
        ReloadTasks(tasks)
    }

    /// Polls `path` every `every` and reloads when its modification time, size or inode
    /// changes (a file rewritten in place, or replaced by a rename or a new symlink target).
    async fn watch(self: Arc<Self>, path: PathBuf, every: Duration) {
        let mut last = fingerprint(&path).await;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = fingerprint(&path).await;
            // A change is taken once, even when the reload fails: the next write changes the
            // fingerprint again, and a broken file is not retried (and logged) every tick.
            if now != last {
                last = now;
                if last.is_some() {
                    self.reload("keystore file change").await;
                }
            }
        }
    }
}

/// What identifies a version of a watched file.
type Fingerprint = (SystemTime, u64, u64);

async fn fingerprint(path: &std::path::Path) -> Option<Fingerprint> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

/// The reload tasks; aborted when dropped (when the server stops).
#[derive(Debug)]
pub(crate) struct ReloadTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for ReloadTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Builds the rustls configuration from the settings, reading the stores.
fn build(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(provider(&settings.cipher_suites)?);
    let versions: Vec<&'static SupportedProtocolVersion> = settings
        .protocols
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Protocols { source })?;
    let builder = match settings.client_authentication {
        ClientAuthentication::None => builder.with_no_client_auth(),
        mode => {
            // `Config::validate` makes sure a truststore is set with client authentication.
            let path = settings
                .truststore
                .as_deref()
                .ok_or_else(|| TlsError::Invalid {
                    key: "ssl.truststore.location",
                    path: PathBuf::new(),
                    reason: "is not set, and client authentication needs it".into(),
                })?;
            let roots = store::read_truststore(&StoreFile {
                key: "ssl.truststore.location",
                path,
                kind: settings.truststore_type,
                password: &settings.truststore_password,
            })?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == ClientAuthentication::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|source| TlsError::Verifier { source })?,
            )
        }
    };
    let path = settings
        .keystore
        .as_deref()
        .ok_or_else(|| TlsError::Invalid {
            key: "ssl.keystore.location",
            path: PathBuf::new(),
            reason: "is not set, and an https listener needs it".into(),
        })?;
    let identity = store::read_keystore(
        &StoreFile {
            key: "ssl.keystore.location",
            path,
            kind: settings.keystore_type,
            password: &settings.keystore_password,
        },
        &settings.key_password,
    )?;
    let mut server = builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(|source| TlsError::Key {
            path: path.to_path_buf(),
            source,
        })?;
    // HTTP/1.1 only: a client that offers ALPN gets it, one that does not is served the same.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(server)
}

/// The ring provider, with its cipher suites narrowed to `ssl.cipher.suites` when set.
fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let mut chosen = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match provider
            .cipher_suites
            .iter()
            .find(|suite| iana_name(suite).eq_ignore_ascii_case(name))
        {
            Some(suite) => chosen.push(*suite),
            None => unknown.push(name.as_str()),
        }
    }
    let supported = || {
        provider
            .cipher_suites
            .iter()
            .map(iana_name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if chosen.is_empty() {
        return Err(TlsError::CipherSuites {
            reason: format!(
                "none of the listed suites is implemented by rustls; these are: {}",
                supported()
            ),
        });
    }
    if !unknown.is_empty() {
        tracing::warn!(
            skipped = unknown.join(", "),
            "ssl.cipher.suites lists suites rustls does not implement; they are skipped"
        );
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// A suite's IANA name, the one Java uses (`TLS_AES_128_GCM_SHA256`); rustls spells TLS 1.3
/// suites with a `TLS13_` prefix.
fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}
