//! The kafka-rest library: everything `main.rs` runs, in a form tests can drive.
//!
//! [`run`] takes an already bound listener and a shutdown future, so a test can start the proxy
//! on port 0 and stop it when it likes (the mini-redis shape); [`serve`] does the same for
//! several listeners, HTTP and HTTPS side by side, as `main.rs` binds them from `listeners`.

pub(crate) mod access_log;
pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod blocking;
pub mod config;
pub(crate) mod consume;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod kafka_error;
pub(crate) mod kafka_security;
pub(crate) mod limits;
pub(crate) mod listener;
pub(crate) mod log;
pub(crate) mod metadata;
pub(crate) mod metrics;
pub(crate) mod passthrough;
pub(crate) mod principal;
pub(crate) mod produce;
pub(crate) mod records;
pub(crate) mod schema;
pub(crate) mod server;
pub(crate) mod services;
pub mod telemetry;
pub(crate) mod tls;

use std::future::Future;
use std::sync::Arc;

use listener::NoDelayAcceptor;
use server::{Listener, Listeners};

pub use config::Config;

/// What the fuzz targets (`fuzz/`) and the integration tests reach inside the crate: the pure
/// decoders and codecs, and the few services a test builds by hand. Not an API: everything else
/// is private to the crate, so the compiler reports what nothing uses.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::admin::{acls as admin_acls, groups as admin_groups, lags as admin_lags};
    pub use crate::admin::{
        Admin, AdminError, AdminSettings, AlterOp, ConfigResource, FfiError, NewTopic,
    };
    pub use crate::api::{consumers, media};
    pub use crate::blocking::BlockingCalls;
    pub use crate::consume::{SeekPosition, Subscription, TopicPartition};
    pub use crate::error::{ProxyError, V2_JSON};
    pub use crate::metadata::{Metadata, MetadataError, MetadataSettings};
    pub use crate::records::{EmbeddedFormat, Field};
    pub use crate::services::schema_settings;

    /// The produce body decoders.
    pub mod records {
        pub use crate::records::{
            decode_produce, decode_produce_general, decode_schema_produce,
            decode_schema_produce_general, json_field,
        };
        pub use crate::records::{EmbeddedFormat, Field};
    }

    /// The two readers of a v3 produce record: the one-pass reader of the common shape and
    /// the general one, which must agree wherever the first gives a record.
    pub mod v3_records {
        pub use crate::api::v3::produce::{general_stream_record, plain_stream_record};
    }

    /// The schema service and codecs.
    pub mod schema {
        pub use crate::schema::{unframe, ParsedSchema, SchemaFormat, Schemas};
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Services(#[from] services::ServicesError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("no listener to serve")]
    NoListener,
    #[error("HTTP server failed")]
    Io(#[from] std::io::Error),
    #[error("cannot listen for metrics on {addr} (`metrics.listener`)")]
    MetricsListener {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A bound listening socket and whether it serves HTTPS (`listeners` entry with `https://`).
#[derive(Debug)]
pub struct BoundListener {
    pub tcp: tokio::net::TcpListener,
    pub https: bool,
}

/// Reads the keystore and truststore the `https` listeners would use, so that `main` can refuse
/// to start on bad TLS material before it binds anything. [`serve`] reads them again.
pub fn check_tls(config: &Config) -> Result<(), tls::TlsError> {
    if config.has_https_listener() {
        tls::ServerTls::load(config)?;
    }
    Ok(())
}

/// Serves the proxy on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `shutdown.graceful.ms`, then closes every consumer instance (committing
/// what auto-commit owes and leaving their groups). The listener serves HTTPS when the first
/// entry of `listeners` is `https://`, plain HTTP otherwise.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let https = config
        .listeners
        .first()
        .is_some_and(config::Listener::is_https);
    serve(
        vec![BoundListener {
            tcp: listener,
            https,
        }],
        config,
        shutdown,
    )
    .await
}

/// Serves one proxy on every listener in `listeners`, as [`run`] does on one. The TLS settings
/// are read first, so a bad keystore stops the start before any Kafka client exists.
pub async fn serve(
    listeners: Vec<BoundListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    // Unusable authentication settings (a missing password file, bad keys) stop the start.
    auth::check(&config)?;
    // Reading the stores blocks, but only here at start, before anything is served.
    let tls = if listeners.iter().any(|l| l.https) {
        Some(tls::ServerTls::load(&config)?)
    } else {
        None
    };
    let services = services::Services::new(&config)?;
    let consumers = services.consumers.clone();
    let producers = services.producers.clone();
    // The records streams end as soon as the shutdown starts, so the graceful wait does not
    // have to cut them.
    let closing = services.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close();
    };
    // The metrics listener, when configured, is bound before the main one serves, so a
    // port already taken stops the start; it stops when the main server has stopped.
    let (metrics_stop, metrics_server) = match &config.metrics_listener {
        Some(listener) => {
            let addr = listener.bind_addr();
            let tcp = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|source| RunError::MetricsListener { addr, source })?;
            tracing::info!(address = %tcp.local_addr()?, "metrics listening");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let app = access_log::metrics_app(services.metrics.clone(), &config);
            let server = server::serve(
                NoDelayAcceptor::from_tokio(tcp, Some(config.connection_idle_timeout))?,
                app,
                async {
                    let _ = stopped.await;
                },
                std::time::Duration::from_secs(1),
            );
            (Some(stop), Some(tokio::spawn(server)))
        }
        None => (None, None),
    };
    let peers = Arc::new(tls::PeerCertificates::default());
    let mut accepting = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let tcp = NoDelayAcceptor::from_tokio(listener.tcp, Some(config.connection_idle_timeout))?;
        accepting.push(match (&tls, listener.https) {
            (Some(tls), true) => Listener::Tls(tls::TlsAcceptor::new(
                tcp,
                Arc::clone(tls),
                Arc::clone(&peers),
            )),
            _ => Listener::Plain(tcp),
        });
    }
    let acceptor = Listeners::new(accepting).ok_or(RunError::NoListener)?;
    let _reloading = tls.as_ref().map(|tls| tls.start_reloading(&config));
    let mut app = app::with_cors(app::routes(services, &config), &config);
    if tls.is_some() {
        // Outermost, so the authentication layer inside `app` sees the certificate.
        app = tls::with_peer_certificates(app, peers);
    }
    // The start-up's transient values (the documents' trees, the route tables' builders, the
    // clients' configuration) are freed by now: their pages go back to the system.
    admin::ffi::memory::release_freed();
    server::serve(acceptor, app, shutdown, config.shutdown_graceful).await;
    if let (Some(stop), Some(server)) = (metrics_stop, metrics_server) {
        let _ = stop.send(());
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "the metrics listener failed");
        }
    }
    // In-flight requests are done (or cut off): close the consumers (commit what auto-commit
    // owes, leave the groups) and flush records a request enqueued before its response was cut.
    consumers.shutdown().await;
    if let Err(e) = producers.flush(config.shutdown_graceful).await {
        tracing::warn!(error = %e, "producers not fully flushed at shutdown");
    }
    Ok(())
}
