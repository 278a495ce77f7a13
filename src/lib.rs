//! The kafka-rest library: everything `main.rs` runs, in a form tests can drive.
//!
//! [`run`] takes an already bound listener and a shutdown future, so a test can start the proxy
//! on port 0 and stop it when it likes (the mini-redis shape).

pub mod api;
pub mod app;
pub mod blocking;
pub mod config;
pub mod consume;
pub mod error;
pub mod kafka_error;
pub mod limits;
pub mod log;
pub mod metadata;
pub mod produce;
pub mod records;
pub mod schema;
pub mod services;

use std::future::Future;

use poem::listener::TcpAcceptor;
use poem::Server;

pub use config::Config;

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
