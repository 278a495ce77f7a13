//! The kafka-rest library: everything `main.rs` runs, in a form tests can drive.
//!
//! [`run`] takes an already bound listener and a shutdown future, so a test can start the proxy
//! on port 0 and stop it when it likes (the mini-redis shape).

pub mod api;
pub mod app;
pub mod config;
pub mod error;
pub mod metadata;
pub mod produce;
pub mod records;
pub mod schema;

use std::future::Future;

use poem::listener::TcpAcceptor;
use poem::Server;

pub use config::Config;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    App(#[from] app::AppError),
    #[error("HTTP server failed")]
    Io(#[from] std::io::Error),
}

/// Serves the proxy on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `shutdown.graceful.ms`.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let state = app::AppState::new(&config)?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app::routes(state), shutdown, Some(config.shutdown_graceful))
        .await?;
    Ok(())
}
