//! The v3 administration service: the cluster and its brokers, broker, cluster-wide and topic
//! configs, topics, partitions, replicas and partition offsets, as plain values.
//!
//! This module owns its own admin client (one per process, its connections kept open), the
//! short-lived cache of the cluster id, and the rules of each operation (what must exist before
//! a change, how lists are sorted). Every librdkafka call runs on the blocking pool under
//! `kafka.blocking.calls.max` with the deadline `kafka.admin.timeout.ms` (the wait for a permit
//! included); the calls rust-rdkafka lacks are in `ffi/`, the only `unsafe` code of the crate
//! (with one glibc call, `ffi::memory`).
//! It knows nothing about HTTP: `src/error.rs` turns [`AdminError`] into status and error
//! codes, and `src/api/v3/` turns the values into the contract's bodies.

pub mod acls;
pub mod ffi;
pub mod groups;
pub mod lags;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::blocking::{BlockingCalls, Busy};
use crate::metadata::{PartitionInfo, Replica, INTERNAL_TOPICS};

pub use ffi::cluster::Node as Broker;
pub use ffi::configs::{AlterOp, ConfigEntry, ConfigResource};
pub use ffi::topics::NewTopic;
pub use ffi::FfiError;

use ffi::NativeClient;

/// What can go wrong in an administrative call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create the Kafka admin client")]
    Client(#[source] KafkaError),
    /// A librdkafka admin call of `ffi/` failed: Kafka's error (with its code), no answer by
    /// the deadline, or a request librdkafka would not build.
    #[error("{operation} failed")]
    Call {
        operation: &'static str,
        #[source]
        source: FfiError,
    },
    /// A call through rust-rdkafka (metadata, watermarks, record deletion) failed.
    #[error("{operation} failed")]
    Request {
        operation: &'static str,
        #[source]
        source: KafkaError,
    },
    /// No blocking-call permit (`kafka.blocking.calls.max`) was free within the deadline.
    #[error("no blocking Kafka call could start for {operation}")]
    Busy {
        operation: &'static str,
        #[source]
        source: Busy,
    },
    /// The blocking task of a call ended without an answer (it panicked, or the runtime is
    /// shutting down).
    #[error("the {operation} task ended without an answer")]
    Cancelled {
        operation: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// The path names another cluster than the one the proxy is connected to.
    #[error("Cluster {cluster_id} cannot be found.")]
    ClusterNotFound { cluster_id: String },
    #[error("topic {topic:?} not found")]
    TopicNotFound { topic: String },
    #[error("partition {partition} of topic {topic:?} not found")]
    PartitionNotFound { topic: String, partition: i32 },
    #[error("broker {broker} not found")]
    BrokerNotFound { broker: i32 },
    #[error("broker {broker} holds no replica of partition {partition} of topic {topic:?}")]
    ReplicaNotFound {
        topic: String,
        partition: i32,
        broker: i32,
    },
    /// A config read by name that the resource does not have.
    #[error("config {name:?} not found for {resource:?}")]
    ConfigNotFound {
        name: String,
        resource: ConfigResource,
    },
    /// A change of a config the resource does not have (checked before the change, as
    /// Confluent does for topics and brokers); the text is the client message.
    #[error("Config {name} cannot be found for {kind} {resource} in cluster {cluster_id}.")]
    UnknownConfig {
        name: String,
        kind: &'static str,
        resource: String,
        cluster_id: String,
    },
    /// librdkafka cannot name the cluster-wide broker config resource (it refuses a broker
    /// resource with an empty name), so those configs can be read (from a broker's synonyms)
    /// but not changed (`docs/decisions.md`, "Cluster-wide broker configs").
    #[error("Changing cluster-wide broker configs is not supported by this proxy; change them on each broker or with Kafka's tools.")]
    ClusterConfigsReadOnly,
    /// librdkafka cannot list partition reassignments (it has no ListPartitionReassignments
    /// call), and the metadata cannot tell a reassignment in progress from a settled replica
    /// set, so no answer would be honest (`docs/decisions.md`, "Partition reassignments").
    #[error("Listing partition reassignments is not supported by this proxy.")]
    ReassignmentsUnsupported,
}

impl AdminError {
    /// The librdkafka error code behind this error, when Kafka (or librdkafka on its behalf)
    /// gave one, and the message that goes with it.
    pub fn kafka_code(&self) -> Option<(RDKafkaErrorCode, String)> {
        match self {
            AdminError::Call {
                source: FfiError::Kafka { code, message },
                ..
            } => Some((*code, message.clone())),
            AdminError::Call {
                source: e @ FfiError::TimedOut(_),
                ..
            } => Some((RDKafkaErrorCode::OperationTimedOut, e.to_string())),
            AdminError::Request { source, .. } | AdminError::Client(source) => source
                .rdkafka_error_code()
                .map(|code| (code, source.to_string())),
            _ => None,
        }
    }
}

/// The administration service's settings, built from the configuration by the composition
/// root.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// librdkafka settings of the admin client: `bootstrap.servers`, `client.*`, `admin.*`
    /// and its `client.id`.
    pub kafka: BTreeMap<String, String>,
    /// `kafka.admin.timeout.ms`: bound on one administrative call, the wait for a
    /// blocking-call permit included.
    pub timeout: Duration,
    /// `kafka.cluster.id.cache.ms`: how long the cluster id read from Kafka answers the
    /// cluster check of every path before it is read again.
    pub cluster_id_ttl: Duration,
}

/// The cluster: its id, its controller (when Kafka names one) and its brokers by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub cluster_id: String,
    pub controller: Option<i32>,
    pub brokers: Vec<Broker>,
}

/// A topic: its partitions in partition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    pub is_internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

impl Topic {
    /// The replica count of the first partition, as Kafka's tools and Confluent report it (0
    /// for a topic without partitions).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }
}

/// A replica together with the partition it belongs to (the replicas of one broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReplica {
    pub topic: String,
    pub partition: i32,
    pub replica: Replica,
}

/// The first offset and the offset after the last record of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub earliest: i64,
    pub latest: i64,
}

/// The administration service. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    client: Arc<AdminClient<DefaultClientContext>>,
    blocking: BlockingCalls,
    timeout: Duration,
    cluster_id_ttl: Duration,
    /// The cluster id and when it was read. A std mutex held only to read or replace it.
    cluster_id: StdMutex<Option<(String, Instant)>>,
}

impl Admin {
    /// Creates the admin client; librdkafka connects lazily, so this succeeds without a
    /// broker.
    pub fn new(settings: AdminSettings, blocking: BlockingCalls) -> Result<Admin, AdminError> {
        let mut config = ClientConfig::new();
        for (key, value) in &settings.kafka {
            config.set(key, value);
        }
        // Reading one topic's metadata must never create it on brokers that auto-create.
        config.set("allow.auto.create.topics", "false");
        let client = config.create().map_err(AdminError::Client)?;
        Ok(Admin::with_client(Arc::new(client), &settings, blocking))
    }

    /// The service over an admin client that already exists (the metadata cache's, for the
    /// proxy's own identity); `settings.kafka` is not used. The client must have been created
    /// with `allow.auto.create.topics=false`.
    pub fn with_client(
        client: Arc<AdminClient<DefaultClientContext>>,
        settings: &AdminSettings,
        blocking: BlockingCalls,
    ) -> Admin {
        Admin {
            inner: Arc::new(Inner {
                client,
                blocking,
                timeout: settings.timeout,
                cluster_id_ttl: settings.cluster_id_ttl,
                cluster_id: StdMutex::new(None),
            }),
        }
    }

    /// Runs `f` on the blocking pool with the call's deadline, under a blocking-call permit.
    async fn blocking<T, F>(&self, operation: &'static str, f: F) -> Result<T, AdminError>
    where
        T: Send + 'static,
        F: FnOnce(&NativeClient, Instant) -> Result<T, AdminError> + Send + 'static,
    {
        let deadline = Instant::now() + self.inner.timeout;
        let client = Arc::clone(&self.inner.client);
        let call = self
            .inner
            .blocking
            .spawn(deadline, move || f(client.inner(), deadline))
            .await
            .map_err(|source| AdminError::Busy { operation, source })?;
        call.await
            .map_err(|source| AdminError::Cancelled { operation, source })?
    }

    /// The id of the connected cluster, read from Kafka at most every
    /// `kafka.cluster.id.cache.ms`.
    pub async fn cluster_id(&self) -> Result<String, AdminError> {
        if let Some((id, read)) = self.lock_cluster_id().clone() {
            if read.elapsed() < self.inner.cluster_id_ttl {
                return Ok(id);
            }
        }
        Ok(self.cluster().await?.cluster_id)
    }

    /// `cluster_id` when it names the connected cluster, else
    /// [`AdminError::ClusterNotFound`].
    pub async fn check_cluster(&self, cluster_id: &str) -> Result<String, AdminError> {
        let id = self.cluster_id().await?;
        if id == cluster_id {
            Ok(id)
        } else {
            Err(AdminError::ClusterNotFound {
                cluster_id: cluster_id.to_string(),
            })
        }
    }

    fn lock_cluster_id(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        // Replacing the value cannot panic halfway, so a poisoned lock holds a whole value.
        match self.inner.cluster_id.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The cluster as Kafka describes it now; brokers sorted by id. Refreshes the cached
    /// cluster id.
    pub async fn cluster(&self) -> Result<Cluster, AdminError> {
        let described = self
            .blocking("describe cluster", |client, deadline| {
                ffi::cluster::describe_cluster(client, deadline).map_err(|source| {
                    AdminError::Call {
                        operation: "describe cluster",
                        source,
                    }
                })
            })
            .await?;
        *self.lock_cluster_id() = Some((described.cluster_id.clone(), Instant::now()));
        let mut brokers = described.nodes;
        brokers.sort_by_key(|b| b.id);
        Ok(Cluster {
            cluster_id: described.cluster_id,
            controller: described.controller.map(|c| c.id),
            brokers,
        })
    }

    /// Every broker, sorted by id.
    pub async fn brokers(&self) -> Result<Vec<Broker>, AdminError> {
        Ok(self.cluster().await?.brokers)
    }

    /// One broker.
    pub async fn broker(&self, broker: i32) -> Result<Broker, AdminError> {
        self.brokers()
            .await?
            .into_iter()
            .find(|b| b.id == broker)
            .ok_or(AdminError::BrokerNotFound { broker })
    }

    /// The configs of `resource`, sorted by name. A broker must be one of the cluster's
    /// (librdkafka would wait for an unknown one until the deadline); the cluster-wide broker
    /// resource lists only the dynamic cluster-wide entries.
    pub async fn configs(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>, AdminError> {
        let described = match resource {
            ConfigResource::Broker(broker) => {
                self.broker(*broker).await?;
                resource.clone()
            }
            ConfigResource::BrokerDefault => {
                // Every broker reports the cluster-wide value of a config among its synonyms,
                // whether or not a value of its own overrides it.
                let broker = self
                    .brokers()
                    .await?
                    .first()
                    .map(|b| b.id)
                    .ok_or(AdminError::BrokerNotFound { broker: -1 })?;
                let entries = self.describe(ConfigResource::Broker(broker)).await?;
                return Ok(cluster_wide(entries));
            }
            ConfigResource::Topic(_) => resource.clone(),
        };
        self.describe(described).await
    }

    /// The configs of a topic or broker as Kafka describes them, sorted by name.
    async fn describe(&self, described: ConfigResource) -> Result<Vec<ConfigEntry>, AdminError> {
        let mut entries = self
            .blocking("describe configs", move |client, deadline| {
                ffi::configs::describe_configs(client, &described, deadline).map_err(|source| {
                    AdminError::Call {
                        operation: "describe configs",
                        source,
                    }
                })
            })
            .await?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The configs of every broker, by broker id, each list sorted by name.
    pub async fn all_broker_configs(&self) -> Result<Vec<(i32, Vec<ConfigEntry>)>, AdminError> {
        let mut all = Vec::new();
        for broker in self.brokers().await? {
            let configs = self.configs(&ConfigResource::Broker(broker.id)).await?;
            all.push((broker.id, configs));
        }
        Ok(all)
    }

    /// The configs of every topic `topics` lists, by topic name, each list sorted by name.
    pub async fn all_topic_configs(&self) -> Result<Vec<(String, Vec<ConfigEntry>)>, AdminError> {
        let mut all = Vec::new();
        for topic in self.topics().await? {
            let configs = self
                .configs(&ConfigResource::Topic(topic.name.clone()))
                .await?;
            all.push((topic.name, configs));
        }
        Ok(all)
    }

    /// One config of `resource`.
    pub async fn config(
        &self,
        resource: &ConfigResource,
        name: &str,
    ) -> Result<ConfigEntry, AdminError> {
        self.configs(resource)
            .await?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| AdminError::ConfigNotFound {
                name: name.to_string(),
                resource: resource.clone(),
            })
    }

    /// Applies `changes` to `resource` with an incremental alter, all or nothing on Kafka's
    /// side; with `validate_only` Kafka only checks them. A topic or broker must already have
    /// every config named (Confluent checks this first); the cluster-wide resource takes any
    /// name Kafka accepts.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: Vec<(String, AlterOp)>,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let (kind, resource_name) = match resource {
            ConfigResource::Topic(topic) => ("TOPIC", topic.clone()),
            ConfigResource::Broker(broker) => ("BROKER", broker.to_string()),
            ConfigResource::BrokerDefault => return Err(AdminError::ClusterConfigsReadOnly),
        };
        {
            let known: BTreeSet<String> = self
                .configs(resource)
                .await?
                .into_iter()
                .map(|e| e.name)
                .collect();
            if let Some((missing, _)) = changes.iter().find(|(n, _)| !known.contains(n)) {
                return Err(AdminError::UnknownConfig {
                    name: missing.clone(),
                    kind,
                    resource: resource_name,
                    cluster_id: self.cluster_id().await?,
                });
            }
        }
        let resource = resource.clone();
        self.blocking("alter configs", move |client, deadline| {
            ffi::configs::incremental_alter_configs(
                client,
                &resource,
                &changes,
                validate_only,
                deadline,
            )
            .map_err(|source| AdminError::Call {
                operation: "alter configs",
                source,
            })
        })
        .await
    }

    /// Cluster metadata for one topic (`Some`) or all of them, fetched now.
    async fn metadata(&self, topic: Option<String>) -> Result<Vec<Topic>, AdminError> {
        self.blocking("metadata request", move |client, deadline| {
            let md = client
                .fetch_metadata(topic.as_deref(), left(deadline))
                .map_err(|source| AdminError::Request {
                    operation: "metadata request",
                    source,
                })?;
            let mut topics = Vec::new();
            for t in md.topics() {
                match t.error() {
                    None => topics.push(topic_from(t)),
                    Some(err) => {
                        let code = RDKafkaErrorCode::from(err);
                        let unknown = matches!(
                            code,
                            RDKafkaErrorCode::UnknownTopicOrPartition
                                | RDKafkaErrorCode::UnknownTopic
                        );
                        // A named topic that failed for another reason (no authorization, a
                        // leader election) is an error, not an absence.
                        if topic.is_some() && !unknown {
                            return Err(AdminError::Request {
                                operation: "metadata request",
                                source: KafkaError::MetadataFetch(code),
                            });
                        }
                    }
                }
            }
            Ok(topics)
        })
        .await
    }

    /// Every topic but Kafka's internal ones (as Kafka's `listTopics` lists them), sorted by
    /// name.
    pub async fn topics(&self) -> Result<Vec<Topic>, AdminError> {
        let mut topics = self.metadata(None).await?;
        topics.retain(|t| !t.is_internal);
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// One topic, internal ones included.
    pub async fn topic(&self, topic: &str) -> Result<Topic, AdminError> {
        self.metadata(Some(topic.to_string()))
            .await?
            .into_iter()
            .find(|t| t.name == topic)
            .ok_or_else(|| AdminError::TopicNotFound {
                topic: topic.to_string(),
            })
    }

    /// Creates a topic; with `validate_only` Kafka only checks the request.
    pub async fn create_topic(
        &self,
        topic: NewTopic,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        self.blocking("create topic", move |client, deadline| {
            ffi::topics::create_topic(client, &topic, validate_only, deadline).map_err(|source| {
                AdminError::Call {
                    operation: "create topic",
                    source,
                }
            })
        })
        .await
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), AdminError> {
        let topic = topic.to_string();
        self.blocking("delete topic", move |client, deadline| {
            ffi::topics::delete_topic(client, &topic, deadline).map_err(|source| AdminError::Call {
                operation: "delete topic",
                source,
            })
        })
        .await
    }

    /// Grows `topic` to `count` partitions (Kafka refuses the same or a lower count) and
    /// answers the topic once the metadata shows them, or as it is at the deadline.
    pub async fn set_partitions_count(&self, topic: &str, count: i32) -> Result<Topic, AdminError> {
        let name = topic.to_string();
        let total = usize::try_from(count).unwrap_or(0);
        self.blocking("create partitions", move |client, deadline| {
            ffi::topics::create_partitions(client, &name, total, deadline).map_err(|source| {
                AdminError::Call {
                    operation: "create partitions",
                    source,
                }
            })
        })
        .await?;
        // The controller has the partitions; the brokers' metadata follows within moments.
        let deadline = Instant::now() + self.inner.timeout;
        loop {
            let current = self.topic(topic).await?;
            if current.partitions.len() >= total || Instant::now() >= deadline {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The partitions of a topic, in partition order.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionInfo>, AdminError> {
        Ok(self.topic(topic).await?.partitions)
    }

    /// One partition of a topic.
    pub async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionInfo, AdminError> {
        self.partitions(topic)
            .await?
            .into_iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| AdminError::PartitionNotFound {
                topic: topic.to_string(),
                partition,
            })
    }

    /// One replica of a partition.
    pub async fn replica(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
    ) -> Result<Replica, AdminError> {
        self.partition(topic, partition)
            .await?
            .replicas
            .into_iter()
            .find(|r| r.broker == broker)
            .ok_or_else(|| AdminError::ReplicaNotFound {
                topic: topic.to_string(),
                partition,
                broker,
            })
    }

    /// Every replica a broker holds, by topic then partition (internal topics included).
    pub async fn broker_replicas(&self, broker: i32) -> Result<Vec<PartitionReplica>, AdminError> {
        self.broker(broker).await?;
        let mut topics = self.metadata(None).await?;
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let mut replicas = Vec::new();
        for t in topics {
            for p in t.partitions {
                for replica in p.replicas.into_iter().filter(|r| r.broker == broker) {
                    replicas.push(PartitionReplica {
                        topic: t.name.clone(),
                        partition: p.partition,
                        replica,
                    });
                }
            }
        }
        Ok(replicas.into_iter().collect())
    }

    /// The earliest and latest offsets of one partition.
    pub async fn offsets(&self, topic: &str, partition: i32) -> Result<Offsets, AdminError> {
        self.partition(topic, partition).await?;
        let name = topic.to_string();
        self.blocking("list offsets", move |client, deadline| {
            let (earliest, latest) = client
                .fetch_watermarks(&name, partition, left(deadline))
                .map_err(|source| AdminError::Request {
                    operation: "list offsets",
                    source,
                })?;
            Ok(Offsets { earliest, latest })
        })
        .await
    }

    /// Deletes the records of one partition before `offset` (-1: all of them) and answers the
    /// partition's new earliest offset.
    pub async fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, AdminError> {
        let operation = "delete records";
        self.partition(topic, partition).await?;
        let mut list = TopicPartitionList::new();
        let position = if offset < 0 {
            Offset::End
        } else {
            Offset::Offset(offset)
        };
        list.add_partition_offset(topic, partition, position)
            .map_err(|source| AdminError::Request { operation, source })?;
        let options = AdminOptions::new().request_timeout(Some(self.inner.timeout));
        // rust-rdkafka runs this call on its own thread and answers through a future, so it
        // does not take a blocking-pool thread; the deadline still bounds the wait.
        let call = self.inner.client.delete_records(&list, &options);
        let result = tokio::time::timeout(self.inner.timeout, call)
            .await
            .map_err(|_| AdminError::Call {
                operation,
                source: FfiError::TimedOut(self.inner.timeout),
            })?
            .map_err(|source| AdminError::Request { operation, source })?;
        let element = result.find_partition(topic, partition).ok_or_else(|| {
            AdminError::PartitionNotFound {
                topic: topic.to_string(),
                partition,
            }
        })?;
        element
            .error()
            .map_err(|source| AdminError::Request { operation, source })?;
        match element.offset() {
            Offset::Offset(low) => Ok(low),
            _ => Ok(0),
        }
    }

    /// Partition reassignments cannot be listed (see [`AdminError::ReassignmentsUnsupported`]).
    pub async fn reassignments(&self) -> Result<(), AdminError> {
        Err(AdminError::ReassignmentsUnsupported)
    }
}

/// The cluster-wide dynamic broker configs among the synonyms of one broker's `entries`, by
/// name: each with the synonyms below it (the static and default values it overrides).
fn cluster_wide(entries: Vec<ConfigEntry>) -> Vec<ConfigEntry> {
    const SOURCE: &str = "DYNAMIC_DEFAULT_BROKER_CONFIG";
    let mut wide: BTreeMap<String, ConfigEntry> = BTreeMap::new();
    for entry in entries {
        let Some(at) = entry.synonyms.iter().position(|s| s.source == SOURCE) else {
            continue;
        };
        let own = &entry.synonyms[at];
        wide.entry(own.name.clone()).or_insert_with(|| ConfigEntry {
            name: own.name.clone(),
            value: if entry.is_sensitive {
                None
            } else {
                own.value.clone()
            },
            source: SOURCE,
            is_default: false,
            is_read_only: false,
            is_sensitive: entry.is_sensitive,
            synonyms: entry.synonyms[at..].to_vec(),
        });
    }
    wide.into_values().collect()
}

/// What is left until `deadline`, at least 1 ms (librdkafka reads 0 as "do not wait").
fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn topic_from(t: &rdkafka::metadata::MetadataTopic) -> Topic {
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
    Topic {
        name: t.name().to_string(),
        is_internal: INTERNAL_TOPICS.contains(&t.name()),
        partitions,
    }
}
