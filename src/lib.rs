//! The kafka-rest library: everything `main.rs` runs, in a form tests can drive.
//!
//! [`run`] takes an already bound listener and a shutdown future, so a test can start the proxy
//! on port 0 and stop it when it likes (the mini-redis shape).

pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod blocking;
pub mod config;
pub(crate) mod consume;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod kafka_error;
pub(crate) mod limits;
pub(crate) mod log;
pub(crate) mod metadata;
pub(crate) mod produce;
pub(crate) mod records;
pub(crate) mod schema;
pub(crate) mod services;

use std::future::Future;

use poem::listener::TcpAcceptor;
use poem::Server;

pub use config::Config;

/// What the fuzz targets (`fuzz/`) and the integration tests reach inside the crate: the pure
/// decoders and codecs, and the few services a test builds by hand. Not an API: everything else
/// is private to the crate, so the compiler reports what nothing uses.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::{consumers, media};
    pub use crate::blocking::BlockingCalls;
    pub use crate::consume::{SeekPosition, Subscription, TopicPartition};
    pub use crate::error::{ProxyError, V2_JSON};
    pub use crate::metadata::{Metadata, MetadataError, MetadataSettings};
    pub use crate::records::{EmbeddedFormat, Field};
    pub use crate::services::schema_settings;

    /// The produce body decoders.
    pub mod records {
        pub use crate::records::{decode_produce, decode_schema_produce, json_field};
        pub use crate::records::{EmbeddedFormat, Field};
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
    #[error("HTTP server failed")]
    Io(#[from] std::io::Error),
}

/// Serves the proxy on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `shutdown.graceful.ms`, then closes every consumer instance (committing
/// what auto-commit owes and leaving their groups).
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let services = services::Services::new(&config)?;
    let consumers = services.consumers.clone();
    let producers = services.producers.clone();
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let served = Server::new_with_acceptor(acceptor)
        .idle_timeout(config.connection_idle_timeout)
        .run_with_graceful_shutdown(
            app::with_cors(app::routes(services, &config), &config),
            shutdown,
            Some(config.shutdown_graceful),
        )
        .await;
    // In-flight requests are done (or cut off): close the consumers (commit what auto-commit
    // owes, leave the groups) and flush records a request enqueued before its response was cut.
    consumers.shutdown().await;
    if let Err(e) = producers.flush(config.shutdown_graceful).await {
        tracing::warn!(error = %e, "producers not fully flushed at shutdown");
    }
    served?;
    Ok(())
}
