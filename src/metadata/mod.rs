//! Cluster metadata: topics, partitions, replicas, offsets and brokers, read through one shared
//! Kafka client with a short-lived snapshot cache.
//!
//! This module owns the long-lived admin client that every metadata request goes through (never
//! a new connection per request), the snapshot cache and its one refresh at a time, the
//! readiness answer, and the translation of librdkafka metadata into plain values. The rules
//! of the cache (which snapshot answers which request) are in `cache.rs`. It knows nothing
//! about HTTP (`src/api/` maps its errors) and nothing about the configuration file
//! ([`MetadataSettings`] is built by the composition root).
//!
//! How the cache behaves:
//! - Fetches run one at a time, on a task of their own, and every request that needs a fetch
//!   waits for the one in progress instead of starting another (single flight). A request that
//!   needs news (a topic or partition the cached snapshot does not know) accepts any snapshot
//!   whose fetch started after it asked, so concurrent such requests share one fetch.
//! - A request that accepts the cached snapshot never waits for a refresh in progress: an
//!   expired snapshot answers it while the refresh runs (stale-while-revalidate), unless a
//!   fetch has failed since.
//! - A topic a fetch did not have is unknown, without asking Kafka again, for
//!   `metadata.negative.cache.ms`.
//! - Readiness answers from the latest fetch's outcome; it waits for a fetch only within its
//!   own bound (`health.ready.timeout.ms`).

mod cache;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use tokio::sync::watch;

use crate::blocking::{BlockingCalls, Busy};
use cache::{Answer, Cache, FetchError, Policy, Snapshot, Want};

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
    /// No blocking-call permit (`kafka.blocking.calls.max`) was free within
    /// `metadata.timeout.ms`: retriable, like a Kafka timeout.
    #[error("no blocking Kafka call could start for the metadata request")]
    Busy(#[source] Busy),
    #[error("describe configs of topic {topic:?} failed: {code:?}")]
    Configs {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("metadata task was cancelled")]
    Cancelled(#[source] tokio::task::JoinError),
    /// The shared fetch ended without an outcome (it panicked, or the runtime is shutting
    /// down).
    #[error("the metadata fetch ended without an answer")]
    FetchAborted,
    /// Readiness only: no metadata fetch has finished yet, and none finished within
    /// `health.ready.timeout.ms`.
    #[error("no metadata fetch finished within {waited:?}")]
    Pending { waited: Duration },
}

impl From<FetchError> for MetadataError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Kafka(source) => MetadataError::Request(source),
            FetchError::Busy(busy) => MetadataError::Busy(busy),
            FetchError::Aborted => MetadataError::FetchAborted,
        }
    }
}

/// The metadata client's settings, built from the configuration by the composition root.
#[derive(Debug, Clone)]
pub struct MetadataSettings {
    /// librdkafka settings of the admin client: `bootstrap.servers`, `client.*`, `admin.*`
    /// and its `client.id`.
    pub kafka: BTreeMap<String, String>,
    /// `metadata.timeout.ms`: bound on one metadata round trip, the wait for a blocking-call
    /// permit included.
    pub timeout: Duration,
    /// `metadata.cache.ms`: how long a snapshot (or a failed fetch) answers requests before it
    /// is fetched again.
    pub cache_max_age: Duration,
    /// `metadata.negative.cache.ms`: how long a topic a fetch did not have is unknown without
    /// asking Kafka again; zero turns the negative cache off.
    pub negative_cache_ttl: Duration,
    /// `health.ready.timeout.ms`: the longest readiness waits for a fetch.
    pub ready_wait: Duration,
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

/// Brokers and topics of one metadata response (what a [`Snapshot`] holds besides its times).
type Cluster = (Vec<i32>, BTreeMap<String, Vec<PartitionInfo>>);

fn cluster(md: &rdkafka::metadata::Metadata) -> Cluster {
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
    (brokers, topics)
}

/// One blocking cluster metadata request with a timeout. The admin client in production; a
/// stand-in in the unit tests of the cache's waiting.
type FetchFn = Arc<dyn Fn(Duration) -> KafkaResult<Cluster> + Send + Sync>;

/// The shared metadata client. Cheap to clone.
#[derive(Clone)]
pub struct Metadata {
    inner: Arc<Inner>,
}

struct Inner {
    /// One admin client for the process; librdkafka keeps its broker connections open.
    admin: Arc<AdminClient<DefaultClientContext>>,
    /// The cluster metadata request behind every snapshot.
    fetch: FetchFn,
    /// `metadata.timeout.ms`.
    timeout: Duration,
    /// `health.ready.timeout.ms`.
    ready_wait: Duration,
    policy: Policy,
    /// Permits for the blocking librdkafka calls (fetches, watermarks), shared with consumers.
    blocking: BlockingCalls,
    /// The latest outcomes, the fetch in progress and the negative cache. A std mutex held only
    /// while reading or updating them, never across an await: nobody waits on it for Kafka.
    cache: StdMutex<Cache>,
    /// Bumped each time a fetch finishes. A request that must wait subscribes while holding
    /// `cache` (so it cannot miss the bump), then waits for a change.
    done: watch::Sender<u64>,
    /// Fetches started since the process started (for tests and diagnostics).
    fetches: AtomicU64,
    /// The brokers' `auto.create.topics.enable`, read on first need.
    auto_create: tokio::sync::OnceCell<bool>,
}

impl Metadata {
    /// Creates the client, and starts a first fetch when called inside a tokio runtime (so that
    /// readiness rarely has to wait). librdkafka connects lazily, so this succeeds without a
    /// broker.
    pub fn new(
        settings: MetadataSettings,
        blocking: BlockingCalls,
    ) -> Result<Metadata, MetadataError> {
        let mut client = ClientConfig::new();
        for (key, value) in &settings.kafka {
            client.set(key, value);
        }
        // The v3 administration service reads one topic's metadata by name through this client
        // (`admin_client`): that must never create the topic on brokers that auto-create.
        client.set("allow.auto.create.topics", "false");
        let admin: Arc<AdminClient<DefaultClientContext>> =
            Arc::new(client.create().map_err(MetadataError::Client)?);
        let fetcher = Arc::clone(&admin);
        // All topics, never one by name: a named request could auto-create the topic.
        let fetch: FetchFn = Arc::new(move |timeout| {
            fetcher
                .inner()
                .fetch_metadata(None, timeout)
                .map(|md| cluster(&md))
        });
        let metadata = Metadata::assemble(admin, fetch, &settings, blocking);
        if tokio::runtime::Handle::try_current().is_ok() {
            let mut cache = metadata.inner.lock();
            metadata.inner.start_fetch(&mut cache, Instant::now());
        }
        Ok(metadata)
    }

    fn assemble(
        admin: Arc<AdminClient<DefaultClientContext>>,
        fetch: FetchFn,
        settings: &MetadataSettings,
        blocking: BlockingCalls,
    ) -> Metadata {
        Metadata {
            inner: Arc::new(Inner {
                admin,
                fetch,
                timeout: settings.timeout,
                ready_wait: settings.ready_wait,
                policy: Policy {
                    max_age: settings.cache_max_age,
                    stale_for: settings.timeout,
                    negative_ttl: settings.negative_cache_ttl,
                },
                blocking,
                cache: StdMutex::new(Cache::default()),
                done: watch::channel(0).0,
                fetches: AtomicU64::new(0),
                auto_create: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The process's admin client, which the v3 administration service shares rather than
    /// starting a second librdkafka client (its threads, connections and buffers) at idle.
    pub fn admin_client(&self) -> Arc<AdminClient<DefaultClientContext>> {
        Arc::clone(&self.inner.admin)
    }

    /// How many cluster metadata fetches this client has started.
    pub fn fetches_started(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A snapshot as `want` asks, waiting for a fetch only when the cache cannot answer.
    async fn snapshot(&self, want: Want) -> Result<Arc<Snapshot>, MetadataError> {
        let asked = Instant::now();
        loop {
            let mut done = {
                let mut cache = self.inner.lock();
                let now = Instant::now();
                match cache.answer(want, asked, now, &self.inner.policy) {
                    Answer::Use(snap) => return Ok(snap),
                    Answer::UseAndRefresh(snap) => {
                        self.inner.start_fetch(&mut cache, now);
                        return Ok(snap);
                    }
                    Answer::Fail(error) => return Err(error.into()),
                    Answer::Wait => self.inner.start_fetch(&mut cache, now),
                }
                self.inner.done.subscribe()
            };
            // The fetch waited for is bounded by `metadata.timeout.ms` (permit wait included).
            if done.changed().await.is_err() {
                return Err(MetadataError::FetchAborted);
            }
        }
    }

    /// The number of live brokers for `GET /health/ready`, from the latest fetch when it is at
    /// most `metadata.cache.ms` old. Otherwise it starts a fetch (or joins the one in progress,
    /// which may have been started by any request) and waits for it at most
    /// `health.ready.timeout.ms`; if it has not finished by then, the latest outcome answers
    /// while it is at most `metadata.cache.ms` + `metadata.timeout.ms` old (the fetch in
    /// progress has not failed yet), and [`MetadataError::Pending`] otherwise.
    pub async fn ready_brokers(&self) -> Result<usize, MetadataError> {
        let asked = Instant::now();
        let mut done = {
            let mut cache = self.inner.lock();
            let now = Instant::now();
            if let Some((finished, outcome)) = cache.latest() {
                if now.saturating_duration_since(finished) < self.inner.policy.max_age {
                    return outcome.map_err(MetadataError::from);
                }
            }
            self.inner.start_fetch(&mut cache, now);
            self.inner.done.subscribe()
        };
        let deadline = tokio::time::Instant::from_std(asked + self.inner.ready_wait);
        if let Ok(changed) = tokio::time::timeout_at(deadline, done.changed()).await {
            if changed.is_err() {
                return Err(MetadataError::FetchAborted);
            }
            // A fetch finished after this call asked: its outcome is the latest.
            if let Some((_, outcome)) = self.inner.lock().latest() {
                return outcome.map_err(MetadataError::from);
            }
        }
        let stale_limit = self.inner.policy.max_age + self.inner.timeout;
        match self.inner.lock().latest() {
            Some((finished, Ok(brokers)))
                if Instant::now().saturating_duration_since(finished) < stale_limit =>
            {
                Ok(brokers)
            }
            Some((_, Err(error))) => Err(error.into()),
            Some((_, Ok(_))) | None => Err(MetadataError::Pending {
                waited: asked.elapsed(),
            }),
        }
    }

    /// The partitions of `topic`. When the cached snapshot does not know it, a snapshot fetched
    /// after this call asked decides (shared with concurrent requests), unless a fetch less
    /// than `metadata.negative.cache.ms` old did not have it either.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionInfo>, MetadataError> {
        let asked = Instant::now();
        if let Some(p) = self.snapshot(Want::Cached).await?.topics.get(topic) {
            return Ok(p.clone());
        }
        let unknown = || MetadataError::UnknownTopic {
            topic: topic.to_string(),
        };
        let ttl = self.inner.policy.negative_ttl;
        if !cache::could_exist(topic) || self.inner.lock().known_absent(topic, asked, ttl) {
            return Err(unknown());
        }
        let snap = self.snapshot(Want::FetchedAfter(asked)).await?;
        let mut cache = self.inner.lock();
        match snap.topics.get(topic) {
            Some(p) => {
                cache.note_present(topic);
                Ok(p.clone())
            }
            None => {
                cache.note_absent(topic, snap.fetched, Instant::now(), ttl);
                Err(unknown())
            }
        }
    }

    /// The partitions of `topic` from a snapshot fetched after this call (for a partition the
    /// cached snapshot may not know yet); concurrent calls share one fetch.
    pub async fn partitions_refreshed(
        &self,
        topic: &str,
    ) -> Result<Vec<PartitionInfo>, MetadataError> {
        let asked = Instant::now();
        match self
            .snapshot(Want::FetchedAfter(asked))
            .await?
            .topics
            .get(topic)
        {
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
            .inner
            .auto_create
            .get_or_try_init(|| async {
                let broker = self
                    .snapshot(Want::Cached)
                    .await?
                    .brokers
                    .first()
                    .copied()
                    .unwrap_or(1);
                let opts = AdminOptions::new().request_timeout(Some(self.inner.timeout));
                let results = self
                    .inner
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
                // `tracing` records an error value together with its chain of sources.
                let error: &(dyn std::error::Error + 'static) = &e;
                tracing::warn!(
                    error,
                    "cannot read auto.create.topics.enable of the brokers"
                );
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
        let snap = self.snapshot(Want::Cached).await?;
        Ok(snap
            .topics
            .keys()
            .filter(|name| !INTERNAL_TOPICS.contains(&name.as_str()))
            .cloned()
            .collect())
    }

    /// Ids of the live brokers, sorted.
    pub async fn broker_ids(&self) -> Result<Vec<i32>, MetadataError> {
        Ok(self.snapshot(Want::Cached).await?.brokers.clone())
    }

    /// Name, every config and the partitions of `topic`.
    pub async fn topic(&self, topic: &str) -> Result<TopicInfo, MetadataError> {
        let partitions = self.partitions(topic).await?;
        let opts = AdminOptions::new().request_timeout(Some(self.inner.timeout));
        let results = self
            .inner
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
        let admin = Arc::clone(&self.inner.admin);
        let deadline = Instant::now() + self.inner.timeout;
        let name = topic.to_string();
        let call = self
            .inner
            .blocking
            .spawn(deadline, move || {
                admin
                    .inner()
                    .fetch_watermarks(&name, partition, time_left(deadline))
            })
            .await
            .map_err(MetadataError::Busy)?;
        let (low, high) = call
            .await
            .map_err(MetadataError::Cancelled)?
            .map_err(MetadataError::Request)?;
        Ok(PartitionOffsets {
            beginning_offset: low,
            end_offset: high,
        })
    }
}

/// What is left until `deadline`, at least 1 ms (librdkafka reads 0 as "do not wait").
fn time_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        // Every update of the cache is a few field assignments that cannot panic halfway, so
        // the data behind a poisoned lock is consistent.
        match self.cache.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts a fetch on a task of its own unless one runs. Called with the cache locked, so
    /// that the caller's subscription to `done` sees its end. The task is not tied to any
    /// request: a client that disconnects does not cancel a fetch others wait for.
    fn start_fetch(self: &Arc<Self>, cache: &mut Cache, now: Instant) {
        if !cache.begin_fetch(now) {
            return;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let mut finish = FinishFetch {
                inner: &inner,
                started: now,
                outcome: Some(Err(FetchError::Aborted)),
            };
            finish.outcome = Some(inner.fetch_once(now).await);
        });
    }

    /// One cluster metadata request on the blocking pool, within `metadata.timeout.ms` from
    /// `started`, the wait for a blocking-call permit included.
    async fn fetch_once(&self, started: Instant) -> Result<Snapshot, FetchError> {
        let deadline = started + self.timeout;
        let fetch = Arc::clone(&self.fetch);
        let call = self
            .blocking
            .spawn(deadline, move || fetch(time_left(deadline)))
            .await
            .map_err(FetchError::Busy)?;
        match call.await {
            Ok(Ok((brokers, topics))) => Ok(Snapshot {
                fetched: started,
                finished: Instant::now(),
                brokers,
                topics,
            }),
            Ok(Err(e)) => Err(FetchError::Kafka(e)),
            Err(e) => {
                let error: &(dyn std::error::Error + 'static) = &e;
                tracing::warn!(error, "the metadata fetch task failed");
                Err(FetchError::Aborted)
            }
        }
    }
}

/// Records the outcome of the fetch in progress and wakes its waiters when dropped, so that
/// even a fetch task dropped halfway (runtime shutdown) leaves no waiter behind and lets the
/// next fetch start.
struct FinishFetch<'a> {
    inner: &'a Inner,
    started: Instant,
    outcome: Option<Result<Snapshot, FetchError>>,
}

impl Drop for FinishFetch<'_> {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(Err(FetchError::Aborted));
        if let Err(error) = &outcome {
            tracing::debug!(
                ?error,
                took = ?self.started.elapsed(),
                "cluster metadata fetch failed"
            );
        }
        self.inner.lock().finish_fetch(outcome, Instant::now());
        self.inner.done.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests;
