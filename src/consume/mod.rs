//! The consumer manager: the consumer instances this process owns, keyed by (group, name),
//! their creation with the right librdkafka settings, the one task that expires idle
//! instances, and closing them all at shutdown.
//!
//! Each call looks its instance up here, then runs under that instance's lock
//! (`instance.rs` for control calls, `reader.rs` for records). This module knows nothing about
//! HTTP: `api/consumers.rs` turns requests into these calls and [`ConsumeError`] into status
//! codes.

pub mod decoder;
pub mod instance;
pub mod reader;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use crate::blocking::{BlockingCalls, Busy};
use crate::metadata::{Metadata, MetadataError};
use crate::metrics::Metrics;
use crate::records::{ConsumedRecord, EmbeddedFormat, ReaderClass};
use crate::schema::Schemas;
use decoder::{Decoder, RecordDecodeError};
use instance::{Instance, InstanceContext, InstanceSettings, KafkaConsumer, Mode};
use reader::ReadLimits;

/// What rendering a records response may fail with (it is the caller's code).
pub type RenderError = Box<dyn std::error::Error + Send + Sync>;

/// The range Confluent allows for `fetch.min.bytes`.
pub const FETCH_MIN_BYTES_RANGE: std::ops::RangeInclusive<i64> = -1..=10_000_000;

/// librdkafka settings the proxy picks for its consumers unless the operator sets them with
/// `consumer.*` or `client.*`: a small prefetch queue per instance (librdkafka's defaults,
/// 100000 messages and 64 MiB, are meant for one consumer per process, not hundreds). With a
/// small queue it is full after every fetch, and librdkafka then waits `fetch.queue.backoff.ms`
/// (1 s by default) before fetching again: a records call that drained the queue would find
/// nothing new for a second (measured: ~9,400 records per second per instance). A short
/// backoff refills the queue while the client is still reading the response.
///
/// `enable.metrics.push` (KIP-714, on by default) makes librdkafka keep 16 latency histograms
/// per broker connection and 6 per client for the broker's telemetry subscription: about
/// 0.28 MiB of resident memory per idle instance, more than half of its cost (measured with 300
/// idle instances: 0.50 MiB each with it, 0.22 without). The proxy reports its own metrics on
/// `/metrics`; an operator whose brokers collect client telemetry sets
/// `consumer.enable.metrics.push=true`.
pub const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("queued.min.messages", "1000"),
    ("queued.max.messages.kbytes", "1024"),
    ("fetch.queue.backoff.ms", "10"),
    ("enable.metrics.push", "false"),
];

/// Everything that can go wrong in a consumer call, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("consumer instance {instance:?} of group {group:?} not found")]
    InstanceNotFound { group: String, instance: String },
    #[error("consumer instance {instance:?} already exists in group {group:?}")]
    InstanceExists { group: String, instance: String },
    #[error("the limit of {limit} consumer instances is reached")]
    TooManyInstances { limit: usize },
    /// Principal pass-through is on but the request has no password to pass on (refused at
    /// start for the authentication methods where it could happen).
    #[error("the request has no credential to pass to Kafka")]
    NoCredential,
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("fetch.min.bytes must be between -1 and 10000000, was {value}")]
    FetchMinBytesOutOfRange { value: i64 },
    #[error("cannot create the Kafka consumer")]
    Create(#[source] KafkaError),
    #[error("{message}")]
    IllegalState { message: String },
    #[error("invalid topic_pattern {pattern:?}")]
    InvalidPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("librdkafka cannot use topic_pattern {pattern:?}")]
    PatternRejected { pattern: String },
    #[error("invalid offset {offset} for partition {partition} of topic {topic:?}")]
    InvalidOffset {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("the {requested} format does not match the {actual} format of this instance")]
    FormatMismatch {
        requested: &'static str,
        actual: &'static str,
    },
    /// A schema-format instance read while `schema.registry.url` is empty.
    #[error("Schema Registry must be configured when using schemas.")]
    RegistryNotConfigured,
    /// The next record's bytes are wrong for the instance's format; it stays next in line.
    #[error("cannot deserialize the record at offset {offset} of partition {partition} of topic {topic:?}")]
    Undecodable {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: RecordDecodeError,
    },
    /// The registry cannot serve the schema of the next record now (unreachable, server
    /// error); the record stays next in line and the same call may work later.
    #[error("the Schema Registry cannot serve the schema of the record at offset {offset} of partition {partition} of topic {topic:?}")]
    RegistryUnavailable {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: RecordDecodeError,
    },
    /// The registry refused the proxy's credentials for the schema of the next record.
    #[error("the Schema Registry refused the schema of the record at offset {offset} of partition {partition} of topic {topic:?}")]
    RegistryForbidden {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: RecordDecodeError,
    },
    #[error("Kafka {operation} failed")]
    Kafka {
        operation: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("rendering the records failed")]
    Render(#[source] RenderError),
    #[error("a Kafka call was cancelled")]
    Cancelled(#[source] tokio::task::JoinError),
    /// Cluster metadata could not be read (the topics a pattern subscription matches): Kafka
    /// is unreachable or slow, so a retry may work.
    #[error("cannot read the cluster metadata")]
    Metadata(#[source] MetadataError),
    /// Every permit for blocking librdkafka calls (`kafka.blocking.calls.max`) stayed taken
    /// until the call's deadline: retriable.
    #[error("Kafka {operation} could not start")]
    Busy {
        operation: &'static str,
        #[source]
        source: Busy,
    },
    /// An earlier blocking call on the same instance, whose caller stopped waiting for it, was
    /// still running in librdkafka at the call's deadline (Kafka is slow or down): retriable.
    #[error(
        "Kafka {operation} could not start: an earlier call on this consumer instance still runs"
    )]
    InstanceBusy { operation: &'static str },
}

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// One entry of a commit with a body: the last offset processed (Kafka gets `offset + 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub partition: TopicPartition,
    pub offset: i64,
    pub metadata: Option<String>,
}

/// A committed offset as Kafka holds it (the next offset to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub partition: TopicPartition,
    pub offset: i64,
    pub metadata: String,
}

/// Where a seek moves a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekPosition {
    /// The next offset to read (no `+ 1`).
    Offset(i64),
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
    Beginning,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekTarget {
    pub partition: TopicPartition,
    pub position: SeekPosition,
}

/// A subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    Topics(Vec<String>),
    Pattern(String),
}

/// A create-consumer request, already checked for shape by the caller.
#[derive(Debug, Clone, Default)]
pub struct CreateInstance {
    pub name: Option<String>,
    pub format: Option<EmbeddedFormat>,
    pub auto_offset_reset: Option<String>,
    pub auto_commit_enable: Option<String>,
    pub fetch_min_bytes: Option<i64>,
    pub request_timeout_ms: Option<i64>,
}

/// The proxy-wide consumer settings, built from the configuration by the composition root.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// librdkafka settings of every consumer: bootstrap, `client.*`, `consumer.*`.
    pub kafka: BTreeMap<String, String>,
    /// The proxy `id`, part of generated instance names and client ids.
    pub id: String,
    /// `consumer.instance.timeout.ms`.
    pub instance_timeout: Duration,
    /// `consumer.request.timeout.ms`.
    pub request_timeout: Duration,
    /// `consumer.request.max.bytes`.
    pub request_max_bytes: u64,
    /// `fetch.min.bytes` (proxy side), -1 off.
    pub fetch_min_bytes: i64,
    /// `consumer.instances.max`.
    pub max_instances: usize,
    /// Under principal pass-through (`auth.passthrough`), the SASL mechanism of Basic callers:
    /// each instance signs in to Kafka as the user that creates it, and belongs to that user.
    pub passthrough: Option<String>,
}

type Key = (String, String);

/// Whether the request being served may use `instance`: always for an instance without an
/// owner and outside a request (the expiry task, shutdown); else only its owner.
fn owned_by_caller(instance: &Instance) -> bool {
    let Some(owner) = instance.owner.get() else {
        return true;
    };
    match crate::principal::caller() {
        None => true,
        Some(caller) => caller.is_some_and(|p| &p.name == owner),
    }
}

/// The consumer instances of this process. Cheap to clone.
#[derive(Clone)]
pub struct ConsumerManager {
    shared: Arc<Shared>,
}

struct Shared {
    settings: ManagerSettings,
    /// For the topic names a pattern subscription currently matches.
    metadata: Metadata,
    /// The registry client and schema caches shared with produce; schema-format instances
    /// render their records through it.
    schemas: Schemas,
    /// Permits for blocking librdkafka calls (create, close and every control call of every
    /// instance), shared with the metadata client.
    blocking: BlockingCalls,
    /// Live instances. Held only for map operations, never across an await.
    instances: StdMutex<HashMap<Key, Arc<Instance>>>,
    /// The expiry task; aborted at shutdown. It also ends when the manager is dropped.
    expiry: StdMutex<Option<tokio::task::JoinHandle<()>>>,
    /// Instances created and expired, records returned and the time of records calls.
    metrics: Metrics,
    /// Instances closed since the freed memory was last handed back to the system.
    closed_since_trim: AtomicUsize,
}

/// After this many instances are closed, the memory they freed is handed back to the system
/// (`malloc_trim`, decision 66): each held about 0.5 MiB that glibc would otherwise keep in
/// its heaps for the life of the process.
const TRIM_AFTER_CLOSED: usize = 64;

impl ConsumerManager {
    /// Creates the manager and starts its expiry task; must run inside a tokio runtime.
    pub fn new(
        settings: ManagerSettings,
        metadata: Metadata,
        schemas: Schemas,
        blocking: BlockingCalls,
        metrics: Metrics,
    ) -> ConsumerManager {
        let shared = Arc::new(Shared {
            settings,
            metadata,
            schemas,
            blocking,
            instances: StdMutex::new(HashMap::new()),
            expiry: StdMutex::new(None),
            metrics,
            closed_since_trim: AtomicUsize::new(0),
        });
        let task = tokio::spawn(expire_idle_instances(Arc::downgrade(&shared)));
        *lock(&shared.expiry) = Some(task);
        ConsumerManager { shared }
    }

    fn settings(&self) -> &ManagerSettings {
        &self.shared.settings
    }

    /// The instance, touched so that its idle time restarts.
    fn get(&self, group: &str, name: &str) -> Result<Arc<Instance>, ConsumeError> {
        let instances = lock(&self.shared.instances);
        let instance = instances
            .get(&(group.to_string(), name.to_string()))
            .cloned()
            .filter(|instance| owned_by_caller(instance))
            .ok_or_else(|| ConsumeError::InstanceNotFound {
                group: group.to_string(),
                instance: name.to_string(),
            })?;
        instance.touch();
        Ok(instance)
    }

    pub fn len(&self) -> usize {
        lock(&self.shared.instances).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts the live instances when called, without keeping the manager alive (the metrics
    /// scrape holds it, and the manager holds the metrics).
    pub fn live_count(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let shared = Arc::downgrade(&self.shared);
        move || shared.upgrade().map_or(0, |s| lock(&s.instances).len())
    }

    /// Creates an instance in `group` and returns its name.
    pub async fn create(&self, group: &str, req: CreateInstance) -> Result<String, ConsumeError> {
        let settings = self.settings();
        let instance_settings = self.instance_settings(&req)?;
        let name = match req.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => generated_name(&settings.id),
        };
        let key = (group.to_string(), name.clone());
        self.check_room(&key)?;
        // Under pass-through the instance signs in to Kafka as its creator.
        let caller = match &settings.passthrough {
            None => None,
            Some(mechanism) => {
                let principal = crate::principal::caller()
                    .flatten()
                    .ok_or(ConsumeError::NoCredential)?;
                let identity = crate::kafka_security::caller_settings(&principal, mechanism)
                    .ok_or(ConsumeError::NoCredential)?;
                Some((principal.name, identity))
            }
        };

        let mut client = ClientConfig::new();
        for (k, v) in CONSUMER_DEFAULTS {
            client.set(*k, *v);
        }
        for (k, v) in &settings.kafka {
            client.set(k, v);
        }
        let auto_commit = instance_settings.auto_commit.to_string();
        client
            .set("group.id", group)
            .set("client.id", format!("{}-{name}", client_id(&settings.id)))
            .set("enable.auto.commit", auto_commit.as_str())
            // Offsets are stored by the reader after a response is built, never by librdkafka
            // when it hands a record over: commits cover only what clients received.
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        if let Some(reset) = req.auto_offset_reset.as_deref() {
            client.set("auto.offset.reset", auto_offset_reset(reset)?);
        }
        if let Some((_, identity)) = &caller {
            for (k, v) in identity {
                client.set(k, v);
            }
        }
        let deadline = Instant::now() + instance::KAFKA_CALL_TIMEOUT;
        let consumer: KafkaConsumer = self
            .shared
            .blocking
            .spawn(deadline, move || {
                client.create_with_context(InstanceContext::default())
            })
            .await
            .map_err(|source| ConsumeError::Busy {
                operation: "create consumer",
                source,
            })?
            .await
            .map_err(ConsumeError::Cancelled)?
            .map_err(ConsumeError::Create)?;

        let instance = Arc::new(Instance::new(
            group.to_string(),
            name.clone(),
            instance_settings,
            consumer,
            self.shared.blocking.clone(),
        ));
        if let Some((owner, _)) = caller {
            // Set once, before the instance is visible to any other call.
            let _ = instance.owner.set(owner);
        }
        let inserted = {
            let mut instances = lock(&self.shared.instances);
            match self.room_in(&instances, &key) {
                Ok(()) => {
                    instances.insert(key, Arc::clone(&instance));
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = inserted {
            // Lost a race with a create of the same name, or the cap was reached meanwhile.
            close_instance(&instance).await;
            return Err(e);
        }
        tracing::info!(group, instance = %name, format = instance.settings.format.name(), "consumer instance created");
        self.shared.metrics.consumer_instance_created();
        Ok(name)
    }

    fn check_room(&self, key: &Key) -> Result<(), ConsumeError> {
        self.room_in(&lock(&self.shared.instances), key)
    }

    fn room_in(
        &self,
        instances: &HashMap<Key, Arc<Instance>>,
        key: &Key,
    ) -> Result<(), ConsumeError> {
        if instances.contains_key(key) {
            return Err(ConsumeError::InstanceExists {
                group: key.0.clone(),
                instance: key.1.clone(),
            });
        }
        if instances.len() >= self.settings().max_instances {
            return Err(ConsumeError::TooManyInstances {
                limit: self.settings().max_instances,
            });
        }
        Ok(())
    }

    fn instance_settings(&self, req: &CreateInstance) -> Result<InstanceSettings, ConsumeError> {
        let settings = self.settings();
        let fetch_min_bytes = req.fetch_min_bytes.unwrap_or(settings.fetch_min_bytes);
        if !FETCH_MIN_BYTES_RANGE.contains(&fetch_min_bytes) {
            return Err(ConsumeError::FetchMinBytesOutOfRange {
                value: fetch_min_bytes,
            });
        }
        let request_timeout = match req.request_timeout_ms {
            None => settings.request_timeout,
            Some(ms) if ms >= 0 => Duration::from_millis(ms.unsigned_abs()),
            Some(ms) => {
                return Err(ConsumeError::InvalidConfig {
                    key: "consumer.request.timeout.ms".into(),
                    value: ms.to_string(),
                    reason: "must not be negative".into(),
                })
            }
        };
        let auto_commit = match req.auto_commit_enable.as_deref() {
            None => match settings.kafka.get("enable.auto.commit") {
                Some(v) => v.trim().eq_ignore_ascii_case("true"),
                None => true,
            },
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ConsumeError::InvalidConfig {
                        key: "auto.commit.enable".into(),
                        value: v.to_string(),
                        reason: "expected true or false".into(),
                    })
                }
            },
        };
        Ok(InstanceSettings {
            format: req.format.unwrap_or(EmbeddedFormat::Binary),
            request_timeout,
            // 0 and -1 both mean "answer as soon as there is a record".
            fetch_min_bytes: u64::try_from(fetch_min_bytes).ok().filter(|b| *b > 0),
            auto_commit,
        })
    }

    /// Removes the instance; it commits what auto-commit owes and leaves its group before
    /// this returns.
    pub async fn delete(&self, group: &str, name: &str) -> Result<(), ConsumeError> {
        let removed = {
            let mut instances = lock(&self.shared.instances);
            let key = (group.to_string(), name.to_string());
            if instances.get(&key).is_some_and(|i| owned_by_caller(i)) {
                instances.remove(&key)
            } else {
                None
            }
        };
        let instance = removed.ok_or_else(|| ConsumeError::InstanceNotFound {
            group: group.to_string(),
            instance: name.to_string(),
        })?;
        close_instance(&instance).await;
        tracing::info!(group, instance = name, "consumer instance deleted");
        self.closed(1);
        Ok(())
    }

    /// Counts `count` instances closed, and once [`TRIM_AFTER_CLOSED`] have been since the
    /// last time, hands the memory they freed back to the system, on a blocking thread (it
    /// walks every malloc heap).
    fn closed(&self, count: usize) {
        let debt = self
            .shared
            .closed_since_trim
            .fetch_add(count, Ordering::Relaxed)
            + count;
        if debt >= TRIM_AFTER_CLOSED
            && self
                .shared
                .closed_since_trim
                .compare_exchange(debt, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tokio::task::spawn_blocking(crate::admin::ffi::memory::release_freed);
        }
    }

    pub async fn subscribe(
        &self,
        group: &str,
        name: &str,
        subscription: Subscription,
    ) -> Result<(), ConsumeError> {
        let instance = self.get(group, name)?;
        let mut state = instance.lock().await?;
        match subscription {
            Subscription::Topics(topics) => state.subscribe_topics(&instance, topics).await,
            Subscription::Pattern(pattern) => state.subscribe_pattern(&instance, pattern).await,
        }
    }

    /// The subscribed topics; for a pattern, the existing topics it matches (as Java does).
    pub async fn subscription(&self, group: &str, name: &str) -> Result<Vec<String>, ConsumeError> {
        let instance = self.get(group, name)?;
        let mode = instance.lock().await?.mode.clone();
        match mode {
            Mode::Topics(topics) => Ok(topics),
            Mode::Pattern(pattern) => {
                let regex = instance::anchored_pattern(&pattern)?;
                let names = self
                    .shared
                    .metadata
                    .topic_names()
                    .await
                    .map_err(ConsumeError::Metadata)?;
                Ok(names.into_iter().filter(|t| regex.is_match(t)).collect())
            }
            Mode::Idle | Mode::Assigned => Ok(Vec::new()),
        }
    }

    pub async fn unsubscribe(&self, group: &str, name: &str) -> Result<(), ConsumeError> {
        let instance = self.get(group, name)?;
        let mut state = instance.lock().await?;
        state.unsubscribe(&instance).await
    }

    pub async fn assign(
        &self,
        group: &str,
        name: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<(), ConsumeError> {
        let instance = self.get(group, name)?;
        let mut state = instance.lock().await?;
        state.assign(&instance, partitions).await
    }

    pub async fn assignment(
        &self,
        group: &str,
        name: &str,
    ) -> Result<Vec<TopicPartition>, ConsumeError> {
        let instance = self.get(group, name)?;
        let state = instance.lock().await?;
        state.assignment(&instance).await
    }

    pub async fn commit(
        &self,
        group: &str,
        name: &str,
        offsets: Option<Vec<OffsetCommit>>,
    ) -> Result<(), ConsumeError> {
        let instance = self.get(group, name)?;
        let state = instance.lock().await?;
        state.commit(&instance, offsets).await
    }

    pub async fn committed(
        &self,
        group: &str,
        name: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<CommittedOffset>, ConsumeError> {
        let instance = self.get(group, name)?;
        let state = instance.lock().await?;
        state.committed(&instance, partitions).await
    }

    pub async fn seek(
        &self,
        group: &str,
        name: &str,
        targets: Vec<SeekTarget>,
    ) -> Result<(), ConsumeError> {
        let instance = self.get(group, name)?;
        let mut state = instance.lock().await?;
        state.seek(&instance, targets).await
    }

    /// The embedded format an instance was created with.
    pub fn format_of(&self, group: &str, name: &str) -> Result<EmbeddedFormat, ConsumeError> {
        Ok(self.get(group, name)?.settings.format)
    }

    /// A records call. `requested` is the format the client asked for; it must be of the same
    /// reader class as the instance's. `render` turns the records into the response while the
    /// instance is still locked; their offsets are stored only after it succeeded.
    pub async fn read<T>(
        &self,
        group: &str,
        name: &str,
        requested: EmbeddedFormat,
        timeout_ms: Option<i64>,
        max_bytes: Option<i64>,
        render: impl FnOnce(&[ConsumedRecord]) -> Result<T, RenderError>,
    ) -> Result<(EmbeddedFormat, T), ConsumeError> {
        let instance = self.get(group, name)?;
        let format = instance.settings.format;
        if requested.reader_class() != format.reader_class() {
            return Err(ConsumeError::FormatMismatch {
                requested: requested.name(),
                actual: format.name(),
            });
        }
        if format.reader_class() == ReaderClass::Schema && !self.shared.schemas.is_configured() {
            return Err(ConsumeError::RegistryNotConfigured);
        }
        let decoder = Decoder::for_format(format, &self.shared.schemas);
        let limits = ReadLimits::new(
            timeout_ms,
            max_bytes,
            instance.settings.request_timeout,
            self.settings().request_max_bytes,
            instance.settings.fetch_min_bytes,
        );
        let started = Instant::now();
        let mut returned = 0;
        let render = |records: &[ConsumedRecord]| {
            returned = records.len();
            render(records)
        };
        let mut state = instance.lock().await?;
        let out = reader::read(&instance, &mut state, &decoder, limits, render).await?;
        instance.touch();
        self.shared.metrics.records_call(
            u64::try_from(returned).unwrap_or(u64::MAX),
            started.elapsed(),
        );
        Ok((format, out))
    }

    /// One step of a records stream: stores the offsets of the records the previous step
    /// returned (the stream calls this only after it wrote them to its client), then reads
    /// the next records in the instance's own format without storing theirs; the caller
    /// passes the [`reader::Returned`] offsets to its next step once they are written.
    /// `current` is asked once the instance is locked: when it says the stream was replaced
    /// (a newer stream of the instance seeks), nothing is read or stored and the answer is
    /// `None`.
    pub async fn read_stream_step<T>(
        &self,
        group: &str,
        name: &str,
        delivered: &reader::Returned,
        timeout_ms: Option<i64>,
        current: impl FnOnce() -> bool,
        render: impl FnOnce(&[ConsumedRecord]) -> Result<T, RenderError>,
    ) -> Result<Option<(T, reader::Returned)>, ConsumeError> {
        let instance = self.get(group, name)?;
        let format = instance.settings.format;
        if format.reader_class() == ReaderClass::Schema && !self.shared.schemas.is_configured() {
            return Err(ConsumeError::RegistryNotConfigured);
        }
        let decoder = Decoder::for_format(format, &self.shared.schemas);
        let limits = ReadLimits::new(
            timeout_ms,
            None,
            instance.settings.request_timeout,
            self.settings().request_max_bytes,
            instance.settings.fetch_min_bytes,
        );
        let mut state = instance.lock().await?;
        if !current() {
            return Ok(None);
        }
        reader::store(&instance, &state, delivered)?;
        let out = reader::read_unstored(&instance, &mut state, &decoder, limits, render).await?;
        instance.touch();
        Ok(Some(out))
    }

    /// Closes every instance (commit what auto-commit owes, leave the group) and stops the
    /// expiry task. Called once the HTTP server has stopped.
    pub async fn shutdown(&self) {
        if let Some(task) = lock(&self.shared.expiry).take() {
            task.abort();
        }
        let all: Vec<Arc<Instance>> = lock(&self.shared.instances)
            .drain()
            .map(|(_, i)| i)
            .collect();
        if !all.is_empty() {
            tracing::info!(count = all.len(), "closing consumer instances");
        }
        futures::future::join_all(all.iter().map(|i| close_instance(i))).await;
    }

    /// Removes and closes instances idle for longer than `consumer.instance.timeout.ms`.
    /// An instance busy with a call is not idle, whatever its last-used time says.
    async fn expire(&self, now: Instant) {
        let timeout = self.settings().instance_timeout;
        let mut closing = Vec::new();
        {
            let mut instances = lock(&self.shared.instances);
            instances.retain(|_, instance| {
                if instance.idle_for(now) <= timeout {
                    return true;
                }
                match instance.try_lock() {
                    Some(mut state) => {
                        if let Some(consumer) = state.consumer.take() {
                            closing.push((
                                consumer,
                                Arc::clone(instance),
                                instance.group.clone(),
                                instance.name.clone(),
                            ));
                        }
                        false
                    }
                    None => true,
                }
            });
        }
        let count = closing.len();
        futures::future::join_all(closing.into_iter().map(
            |(consumer, instance, group, name)| async move {
                tracing::info!(%group, instance = %name, "consumer instance expired");
                self.shared.metrics.consumer_instance_expired();
                instance::close(&instance, consumer).await;
            },
        ))
        .await;
        if count > 0 {
            self.closed(count);
        }
    }
}

/// Takes the consumer out of the instance (later calls answer "not found") and closes it.
async fn close_instance(instance: &Instance) {
    let mut state = match instance.lock().await {
        Ok(state) => state,
        Err(_) => return, // already closed
    };
    state.buffer.clear();
    let consumer = state.consumer.take();
    drop(state);
    if let Some(consumer) = consumer {
        instance::close(instance, consumer).await;
    }
}

/// The one background task of the manager: checks for idle instances every second (or more
/// often when the timeout is shorter), until the manager is dropped or shut down.
async fn expire_idle_instances(shared: Weak<Shared>) {
    let period = match shared.upgrade() {
        Some(s) => (s.settings.instance_timeout / 2)
            .clamp(Duration::from_millis(50), Duration::from_secs(1)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        ConsumerManager { shared }.expire(Instant::now()).await;
    }
}

/// `rest-consumer-[<id>-]<uuid>`, as Confluent names instances created without a name.
fn generated_name(id: &str) -> String {
    let uuid = uuid::Uuid::new_v4();
    if id.is_empty() {
        format!("rest-consumer-{uuid}")
    } else {
        format!("rest-consumer-{id}-{uuid}")
    }
}

fn client_id(id: &str) -> String {
    if id.is_empty() {
        "kafka-rest-consumer".to_string()
    } else {
        format!("kafka-rest-{id}-consumer")
    }
}

/// Maps the Java consumer's `auto.offset.reset` values (and librdkafka's synonyms) to
/// librdkafka's; anything else is a bad consumer configuration.
fn auto_offset_reset(value: &str) -> Result<&'static str, ConsumeError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "earliest" | "smallest" | "beginning" => Ok("earliest"),
        "latest" | "largest" | "end" => Ok("latest"),
        "none" | "error" => Ok("error"),
        _ => Err(ConsumeError::InvalidConfig {
            key: "auto.offset.reset".into(),
            value: value.to_string(),
            reason: "expected earliest, latest or none".into(),
        }),
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these short map locks leaves consistent data behind.
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each librdkafka setting the proxy picks for its consumer instances has its README row
    /// (`config::PASS_THROUGH`), with the value the proxy really sets.
    #[test]
    fn consumer_defaults_are_listed() {
        use crate::config::{KeyDefault, PASS_THROUGH};
        for (key, value) in CONSUMER_DEFAULTS {
            let name = format!("consumer.{key}");
            let row = PASS_THROUGH
                .iter()
                .find(|k| k.name == name)
                .unwrap_or_else(|| panic!("{name} has no row in PASS_THROUGH"));
            assert!(
                matches!(row.default, KeyDefault::Text(d) if d == *value),
                "{name}: the row's default is not {value:?}"
            );
        }
    }

    #[test]
    fn generated_names_carry_the_proxy_id() {
        assert!(generated_name("").starts_with("rest-consumer-"));
        let name = generated_name("p1");
        assert!(name.starts_with("rest-consumer-p1-"), "{name}");
        assert_eq!(name.len(), "rest-consumer-p1-".len() + 36);
        assert_ne!(generated_name("p1"), generated_name("p1"));
    }

    #[test]
    fn auto_offset_reset_accepts_java_and_librdkafka_names() {
        assert_eq!(auto_offset_reset("EARLIEST").ok(), Some("earliest"));
        assert_eq!(auto_offset_reset("largest").ok(), Some("latest"));
        assert_eq!(auto_offset_reset("none").ok(), Some("error"));
        assert!(matches!(
            auto_offset_reset("sometimes"),
            Err(ConsumeError::InvalidConfig { ref key, .. }) if key == "auto.offset.reset"
        ));
    }

    /// A manager whose Kafka is a port nothing listens on, with short metadata waits.
    fn unreachable_manager() -> ConsumerManager {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let bootstrap = format!("127.0.0.1:{port}");
        let kafka: BTreeMap<String, String> =
            [("bootstrap.servers".to_string(), bootstrap.clone())].into();
        let blocking = BlockingCalls::new(8);
        let metadata = Metadata::new(
            crate::metadata::MetadataSettings {
                kafka: kafka.clone(),
                timeout: Duration::from_millis(300),
                cache_max_age: Duration::from_secs(1),
                negative_cache_ttl: Duration::from_secs(1),
                ready_wait: Duration::from_millis(100),
            },
            blocking.clone(),
        )
        .expect("metadata client");
        let schemas = Schemas::for_tests("");
        let settings = ManagerSettings {
            kafka,
            id: String::new(),
            instance_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(1),
            request_max_bytes: 1 << 20,
            fetch_min_bytes: -1,
            max_instances: 10,
            passthrough: None,
        };
        ConsumerManager::new(settings, metadata, schemas, blocking, Metrics::default())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_metadata_outage_while_listing_a_pattern_subscription_is_a_metadata_error() {
        let manager = unreachable_manager();
        let name = manager
            .create(
                "g",
                CreateInstance {
                    auto_commit_enable: Some("false".into()),
                    ..CreateInstance::default()
                },
            )
            .await
            .expect("created without a broker");
        manager
            .subscribe("g", &name, Subscription::Pattern("it-.*".into()))
            .await
            .expect("a subscription is local");
        let answer = manager.subscription("g", &name).await;
        assert!(
            matches!(
                answer,
                Err(ConsumeError::Metadata(MetadataError::Request(_)))
            ),
            "{answer:?}"
        );
        manager.delete("g", &name).await.expect("deleted");
    }
}
