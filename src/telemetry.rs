//! Trace export: when `tracing.otlp.endpoint` is set, the spans of a request (`request` in the
//! observation layer, `produce` in the produce service, `kafka.send` in the producer pool) are
//! exported over OTLP/HTTP (JSON) by a batch processor on a thread of its own.
//!
//! Owns the OpenTelemetry tracer provider and the `tracing` layer that feeds it. Which spans
//! exist is the business of the modules that open them; how the layers are stacked with the
//! log is `main.rs` (or a test, which installs the layer for its own thread).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::Config;

/// The target prefix of the spans that are exported: the crate's own.
pub const SPAN_TARGET: &str = "kafka_rest";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the OTLP exporter for `tracing.otlp.endpoint` {endpoint}")]
    Exporter {
        endpoint: String,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// A running trace export. Spans still queued are sent by [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Starts the export `config` asks for; `None` when `tracing.otlp.endpoint` is empty.
    pub fn start(config: &Config) -> Result<Option<Telemetry>, TelemetryError> {
        let endpoint = config.tracing_otlp_endpoint.trim();
        if endpoint.is_empty() {
            return Ok(None);
        }
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|source| TelemetryError::Exporter {
                endpoint: endpoint.to_string(),
                source,
            })?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(config.tracing_otlp_queue_max)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(Resource::builder().with_service_name("kafka-rest").build())
            .build();
        Ok(Some(Telemetry { provider }))
    }

    /// The layer that turns the crate's spans into exported spans; other targets' spans and
    /// every event stay out.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("kafka-rest"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with(SPAN_TARGET)
            }))
    }

    /// Sends the spans queued so far; blocks until they are sent or the export timed out.
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "cannot export the queued spans");
        }
    }

    /// Sends what is queued and stops the export thread; blocks.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "trace export did not shut down cleanly");
        }
    }
}
