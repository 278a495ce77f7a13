//! Cluster metadata: topics and brokers, read through one shared Kafka client.
//!
//! This module owns the long-lived admin client that every metadata request goes through (never
//! a new connection per request) and the translation of librdkafka metadata into plain values.
//! It knows nothing about HTTP; `src/api/` maps its errors to status codes.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata as RdMetadata;
use rdkafka::ClientConfig;

use crate::config::Config;

/// Topics that Kafka's own `listTopics()` hides, and so does Confluent's `GET /topics`.
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// What can go wrong while reading metadata.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot create the Kafka metadata client")]
    Client(#[source] KafkaError),
    #[error("metadata request to Kafka failed")]
    Request(#[source] KafkaError),
    #[error("metadata task was cancelled")]
    Cancelled(#[source] tokio::task::JoinError),
}

/// The shared metadata client. Cheap to clone.
#[derive(Clone)]
pub struct Metadata {
    /// One admin client for the process; librdkafka keeps its broker connections open.
    admin: Arc<AdminClient<DefaultClientContext>>,
    /// Bound on one metadata round trip (`metadata.timeout.ms`).
    timeout: Duration,
}

impl Metadata {
    /// Creates the client. librdkafka connects lazily, so this succeeds without a broker.
    pub fn new(config: &Config) -> Result<Metadata, MetadataError> {
        let mut client = ClientConfig::new();
        for (key, value) in config.kafka_settings(&config.admin) {
            client.set(key, value);
        }
        client.set("client.id", config.client_id("admin"));
        let admin = client.create().map_err(MetadataError::Client)?;
        Ok(Metadata {
            admin: Arc::new(admin),
            timeout: config.metadata_timeout,
        })
    }

    /// Runs a blocking metadata request off the async runtime.
    async fn fetch(&self, topic: Option<String>) -> Result<RdMetadata, MetadataError> {
        let admin = Arc::clone(&self.admin);
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(topic.as_deref(), timeout))
            .await
            .map_err(MetadataError::Cancelled)?
            .map_err(MetadataError::Request)
    }

    /// Names of the user-visible topics, sorted.
    pub async fn topic_names(&self) -> Result<Vec<String>, MetadataError> {
        let metadata = self.fetch(None).await?;
        let mut names: Vec<String> = metadata
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|name| !INTERNAL_TOPICS.contains(&name.as_str()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Ids of the live brokers, sorted.
    pub async fn broker_ids(&self) -> Result<Vec<i32>, MetadataError> {
        let metadata = self.fetch(None).await?;
        let mut ids: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}
