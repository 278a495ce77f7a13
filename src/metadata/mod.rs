//! Cluster metadata: topics, partitions, replicas, offsets and brokers, read through one shared
//! Kafka client with a short-lived snapshot cache.
//!
//! This module owns the long-lived admin client that every metadata request goes through (never
//! a new connection per request), the snapshot cache, and the translation of librdkafka
//! metadata into plain values. It knows nothing about HTTP; `src/api/` maps its errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use tokio::sync::Mutex;

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
    #[error("topic {topic:?} not found")]
    UnknownTopic { topic: String },
    #[error("partition {partition} of topic {topic:?} not found")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("cannot create the Kafka metadata client")]
    Client(#[source] KafkaError),
    #[error("metadata request to Kafka failed")]
    Request(#[source] KafkaError),
    #[error("describe configs of topic {topic:?} failed: {code:?}")]
    Configs {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("metadata task was cancelled")]
    Cancelled(#[source] tokio::task::JoinError),
}

/// One replica of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub broker: i32,
    pub leader: bool,
    pub in_sync: bool,
}

/// One partition: its leader (-1 when none) and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<Replica>,
}

/// A topic as `GET /topics/{topic}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// Every config of the topic; sensitive values are `None`.
    pub configs: BTreeMap<String, Option<String>>,
    pub partitions: Vec<PartitionInfo>,
}

/// First and next offset of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub beginning_offset: i64,
    pub end_offset: i64,
}

/// An owned copy of one cluster metadata response.
#[derive(Debug, Default)]
struct Snapshot {
    brokers: Vec<i32>,
    /// Topic name -> partitions sorted by id. Topics with an error are left out.
    topics: BTreeMap<String, Vec<PartitionInfo>>,
}

impl Snapshot {
    fn from_rdkafka(md: &rdkafka::metadata::Metadata) -> Snapshot {
        let mut brokers: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        brokers.sort_unstable();
        let topics = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions()
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.id(),
                        leader: p.leader(),
                        replicas: p
                            .replicas()
                            .iter()
                            .map(|&broker| Replica {
                                broker,
                                leader: broker == p.leader(),
                                in_sync: p.isr().contains(&broker),
                            })
                            .collect(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                (t.name().to_string(), partitions)
            })
            .collect();
        Snapshot { brokers, topics }
    }
}

/// The latest snapshot and when it was fetched, and the latest failed fetch.
#[derive(Default)]
struct Cache {
    snapshot: Option<(Instant, Arc<Snapshot>)>,
    /// When the latest fetch failed, and why. A request that was already waiting for the
    /// cache when that fetch failed shares its failure instead of starting one more fetch:
    /// with Kafka down, N waiting requests fail after one `metadata.timeout.ms`, not N.
    failed: Option<(Instant, KafkaError)>,
}

/// The shared metadata client. Cheap to clone.
#[derive(Clone)]
pub struct Metadata {
    /// One admin client for the process; librdkafka keeps its broker connections open.
    admin: Arc<AdminClient<DefaultClientContext>>,
    /// Bound on one metadata round trip (`metadata.timeout.ms`).
    timeout: Duration,
    /// How long a snapshot answers requests before it is fetched again (`metadata.cache.ms`).
    max_age: Duration,
    /// The latest snapshot. Held across a refresh, so concurrent requests share one fetch.
    cache: Arc<Mutex<Cache>>,
    /// The brokers' `auto.create.topics.enable`, read on first need.
    auto_create: Arc<tokio::sync::OnceCell<bool>>,
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
            max_age: config.metadata_cache,
            cache: Arc::new(Mutex::new(Cache::default())),
            auto_create: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// The cached snapshot, or a fresh one when it is older than `max_age` (or `fresh` is set).
    async fn snapshot(&self, fresh: bool) -> Result<Arc<Snapshot>, MetadataError> {
        let asked = Instant::now();
        let mut cache = self.cache.lock().await;
        if let Some((at, snap)) = cache.snapshot.as_ref() {
            if !fresh && at.elapsed() < self.max_age {
                return Ok(Arc::clone(snap));
            }
        }
        if let Some((failed_at, error)) = cache.failed.as_ref() {
            if *failed_at >= asked {
                return Err(MetadataError::Request(error.clone()));
            }
        }
        let admin = Arc::clone(&self.admin);
        let timeout = self.timeout;
        // All topics, never one by name: a named request could auto-create the topic.
        let snap = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(None, timeout)
                .map(|md| Snapshot::from_rdkafka(&md))
        })
        .await
        .map_err(MetadataError::Cancelled)?;
        let snap = match snap {
            Ok(snap) => Arc::new(snap),
            Err(error) => {
                cache.failed = Some((Instant::now(), error.clone()));
                return Err(MetadataError::Request(error));
            }
        };
        cache.snapshot = Some((Instant::now(), Arc::clone(&snap)));
        cache.failed = None;
        Ok(snap)
    }

    /// The partitions of `topic`, refreshing once if the cached snapshot does not know it.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionInfo>, MetadataError> {
        for fresh in [false, true] {
            if let Some(p) = self.snapshot(fresh).await?.topics.get(topic) {
                return Ok(p.clone());
            }
        }
        Err(MetadataError::UnknownTopic {
            topic: topic.to_string(),
        })
    }

    /// The partitions of `topic` from a fresh metadata request (for a partition the cached
    /// snapshot may not know yet).
    pub async fn partitions_refreshed(
        &self,
        topic: &str,
    ) -> Result<Vec<PartitionInfo>, MetadataError> {
        match self.snapshot(true).await?.topics.get(topic) {
            Some(p) => Ok(p.clone()),
            None => Err(MetadataError::UnknownTopic {
                topic: topic.to_string(),
            }),
        }
    }

    /// Whether the brokers create a topic on its first use (`auto.create.topics.enable`),
    /// asked once per process; `false` when the brokers cannot be asked.
    pub async fn broker_auto_creates_topics(&self) -> bool {
        let answer = self
            .auto_create
            .get_or_try_init(|| async {
                let broker = self
                    .snapshot(false)
                    .await?
                    .brokers
                    .first()
                    .copied()
                    .unwrap_or(1);
                let opts = AdminOptions::new().request_timeout(Some(self.timeout));
                let results = self
                    .admin
                    .describe_configs([&ResourceSpecifier::Broker(broker)], &opts)
                    .await
                    .map_err(MetadataError::Request)?;
                let enabled = results.into_iter().flatten().any(|resource| {
                    resource.entries.iter().any(|e| {
                        e.name == "auto.create.topics.enable" && e.value.as_deref() == Some("true")
                    })
                });
                Ok::<bool, MetadataError>(enabled)
            })
            .await;
        match answer {
            Ok(enabled) => *enabled,
            Err(e) => {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "cannot read auto.create.topics.enable of the brokers");
                false
            }
        }
    }

    /// One partition of `topic`.
    pub async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionInfo, MetadataError> {
        let partitions = self.partitions(topic).await?;
        partitions
            .into_iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| MetadataError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Names of the user-visible topics, sorted.
    pub async fn topic_names(&self) -> Result<Vec<String>, MetadataError> {
        let snap = self.snapshot(false).await?;
        Ok(snap
            .topics
            .keys()
            .filter(|name| !INTERNAL_TOPICS.contains(&name.as_str()))
            .cloned()
            .collect())
    }

    /// Ids of the live brokers, sorted.
    pub async fn broker_ids(&self) -> Result<Vec<i32>, MetadataError> {
        Ok(self.snapshot(false).await?.brokers.clone())
    }

    /// Name, every config and the partitions of `topic`.
    pub async fn topic(&self, topic: &str) -> Result<TopicInfo, MetadataError> {
        let partitions = self.partitions(topic).await?;
        let opts = AdminOptions::new().request_timeout(Some(self.timeout));
        let results = self
            .admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
            .await
            .map_err(MetadataError::Request)?;
        let mut configs = BTreeMap::new();
        for result in results {
            match result {
                Ok(resource) => {
                    for entry in resource.entries {
                        let value = if entry.is_sensitive {
                            None
                        } else {
                            entry.value
                        };
                        configs.insert(entry.name, value);
                    }
                }
                Err(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    return Err(MetadataError::UnknownTopic {
                        topic: topic.to_string(),
                    })
                }
                Err(code) => {
                    return Err(MetadataError::Configs {
                        topic: topic.to_string(),
                        code,
                    })
                }
            }
        }
        Ok(TopicInfo {
            name: topic.to_string(),
            configs,
            partitions,
        })
    }

    /// The beginning and end offsets of one partition.
    pub async fn offsets(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionOffsets, MetadataError> {
        self.partition(topic, partition).await?;
        let admin = Arc::clone(&self.admin);
        let timeout = self.timeout;
        let name = topic.to_string();
        let (low, high) = tokio::task::spawn_blocking(move || {
            admin.inner().fetch_watermarks(&name, partition, timeout)
        })
        .await
        .map_err(MetadataError::Cancelled)?
        .map_err(MetadataError::Request)?;
        Ok(PartitionOffsets {
            beginning_offset: low,
            end_offset: high,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With Kafka unreachable, requests waiting for the cache share the failure of the fetch
    /// in progress: three concurrent requests fail after about one `metadata.timeout.ms`,
    /// not three of them one after another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_requests_share_a_failed_fetch_instead_of_queueing_one_timeout_each() {
        // A port nothing listens on: every connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut props = crate::config::Properties::default();
        props
            .set("bootstrap.servers", format!("127.0.0.1:{port}"))
            .set("metadata.timeout.ms", "1500");
        let metadata =
            Metadata::new(&Config::from_properties(&props).expect("config")).expect("client");
        let started = Instant::now();
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let m = metadata.clone();
                tokio::spawn(async move { m.broker_ids().await })
            })
            .collect();
        for call in calls {
            let answer = call.await.expect("task");
            assert!(
                matches!(answer, Err(MetadataError::Request(_))),
                "{answer:?}"
            );
        }
        let took = started.elapsed();
        assert!(took < Duration::from_millis(4000), "took {took:?}");
    }
}
