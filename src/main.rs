//! The `kafka-rest` binary: arguments -> `Config` -> bind every listener -> serve until a signal.
//!
//! Nothing else happens here; the server itself is `kafka_rest::run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kafka_rest::config::LogFormat;
use kafka_rest::telemetry::{Telemetry, TelemetryError};
use kafka_rest::Config;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The version `--version` and the start log line report: Cargo's version and the git commit
/// the binary was built from (`build.rs`), so a running proxy can be traced to its source.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILD_GIT_COMMIT"),
    ")"
);

/// A Kafka REST Proxy compatible with the Confluent REST Proxy v2 API.
#[derive(Parser, Debug)]
#[command(version = VERSION, about)]
struct Args {
    /// A Confluent-style `kafka-rest.properties` file. `KAFKA_REST_*` environment variables
    /// override its values.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The same file as a positional argument, the way Confluent's `kafka-rest-start` takes it,
    /// so that service units written for Confluent's proxy start this one unchanged.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    file: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // A bad configuration is one line on stderr naming the key (and the cause, if any), and
    // exit code 2. The configuration is read before logging starts, since it chooses the log
    // format; nothing logs before this point.
    let config = match Config::load(args.config.or(args.file).as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!(
                "kafka-rest: configuration error: {:#}",
                anyhow::Error::from(e)
            );
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match init_logging(&config) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!(
                "kafka-rest: configuration error: {:#}",
                anyhow::Error::from(e)
            );
            return std::process::ExitCode::from(2);
        }
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Keystores and truststores that cannot be read are configuration errors too.
    if let Err(e) = kafka_rest::check_tls(&config) {
        eprintln!(
            "kafka-rest: configuration error: {:#}",
            anyhow::Error::from(e)
        );
        return std::process::ExitCode::from(2);
    }
    #[cfg(unix)]
    raise_open_files_limit(config.consumer_instances_max);
    let served = serve(config);
    // The spans of the last requests are sent before the process ends.
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-rest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The log on standard error, at the level of `KAFKA_REST_LOG` (`info` by default), as text
/// or as one JSON object per event (`log.format`); and, with `tracing.otlp.endpoint`, the
/// export of the crate's spans, each layer with its own filter.
fn init_logging(config: &Config) -> Result<Option<Telemetry>, TelemetryError> {
    let filter =
        EnvFilter::try_from_env("KAFKA_REST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let log: Box<dyn Layer<Registry> + Send + Sync> = match config.log_format {
        // Colours only for a person at a terminal: a log file, a pipe or journald gets plain
        // text.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        // Events flattened into one object with the span they happened in, which is what log
        // collectors index.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let telemetry = Telemetry::start(config)?;
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(telemetry.as_ref().map(|t| t.layer()))
        .init();
    Ok(telemetry)
}

#[tokio::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    // Every listener is bound before anything is served, so a port in use stops the start.
    let mut bound = Vec::with_capacity(config.listeners.len());
    for listener in &config.listeners {
        let tcp = tokio::net::TcpListener::bind(listener.bind_addr())
            .await
            .with_context(|| format!("cannot listen on {}", listener.bind_addr()))?;
        let local = tcp.local_addr().context("listener has no local address")?;
        tracing::info!(address = %local, bootstrap = %config.bootstrap_servers, "kafka-rest {VERSION} listening on {}://{local}", listener.scheme);
        bound.push(kafka_rest::BoundListener {
            tcp,
            https: listener.is_https(),
        });
    }
    kafka_rest::serve(bound, config, shutdown_signal()).await?;
    tracing::info!("kafka-rest stopped");
    Ok(())
}

/// File descriptors one consumer instance holds on a one-broker cluster, measured with
/// `cargo xtask bench --only M1`: the wake-up pipes of librdkafka's internal, broker and group
/// coordinator threads, and two connections. Each further broker adds a pipe and possibly a
/// connection.
#[cfg(unix)]
const FDS_PER_CONSUMER_INSTANCE: u64 = 8;

/// Raises the soft limit of open files to the hard limit, as the JVM does for the Confluent
/// proxy: services often start with a soft limit of 1024, which would stop this process at
/// about a hundred consumer instances. Warns when the limit stays below what
/// `consumer.instances.max` instances need.
#[cfg(unix)]
fn raise_open_files_limit(max_instances: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open files limit");
            return;
        }
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the open files limit");
                limit = hard;
            }
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the open files limit"),
        }
    }
    // Room for HTTP connections and the shared Kafka clients besides the consumers.
    let needed = u64::try_from(max_instances)
        .unwrap_or(u64::MAX)
        .saturating_mul(FDS_PER_CONSUMER_INSTANCE)
        .saturating_add(1024);
    if limit < needed {
        tracing::warn!(
            limit,
            needed,
            "the open files limit is below what consumer.instances.max instances need; \
             raise it (ulimit -n, systemd LimitNOFILE) or lower consumer.instances.max"
        );
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received; draining");
}
