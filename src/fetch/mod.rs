//! Stateless reads: the records of one partition from an offset, without a consumer instance
//! and without a consumer group (an extension beyond Confluent, `docs/decisions.md` §49).
//!
//! This module owns the small pool of fetch clients that every stateless read shares (Kafka
//! consumers that never join a group, given one partition by a manual assignment for the length of one
//! read and then unassigned), the checks of the requested offset against the partition's
//! offsets, and the time, byte and count budget of one read. It renders records with the
//! consumer instances' [`Decoder`] and reports undecodable records with their errors, so both
//! reads answer alike. It knows nothing about HTTP: `api/` chooses the format from `Accept`
//! and maps [`FetchError`] through `ProxyError`.
//!
//! Nothing here blocks a runtime thread: assigning and unassigning a client run on the
//! blocking pool (`kafka.blocking.calls.max`), and records are awaited with
//! `StreamConsumer::recv`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::{Consumer, DefaultConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::blocking::{BlockingCalls, Busy};
use crate::consume::decoder::Decoder;
use crate::consume::reader::{undecodable, ReadLimits};
use crate::consume::ConsumeError;
use crate::metadata::{Metadata, MetadataError};
use crate::records::{ConsumedRecord, EmbeddedFormat, ReaderClass};
use crate::schema::Schemas;

/// One pooled fetch client. Its `group.id` is never joined and never committed to.
type FetchConsumer = StreamConsumer<DefaultConsumerContext>;

/// Pause after an error event from librdkafka before asking again, so that a repeating error
/// (a broker that is down) does not spin the task until the deadline.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// How long assigning a partition to a pooled client may take; librdkafka answers it locally,
/// so only a stuck client thread reaches this.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// The stateless read service's settings, built by the composition root.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// librdkafka settings of the pooled clients (`client.*` and `consumer.*`).
    pub kafka: BTreeMap<String, String>,
    /// The `client.id` prefix of the pooled clients; each adds its number.
    pub client_id: String,
    /// Clients in the pool (`fetch.pool.size`): reads running at once.
    pub pool_size: usize,
    /// Longest wait for a free client (`fetch.pool.wait.ms`).
    pub pool_wait: Duration,
    /// Longest wait for records of one read (`fetch.request.timeout.ms`).
    pub request_timeout: Duration,
    /// Most key and value bytes of one read (`fetch.request.max.bytes`).
    pub request_max_bytes: u64,
    /// Most records of one read (`fetch.request.count.max`).
    pub request_count_max: usize,
}

/// Why a stateless read failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The topic or partition does not exist, or its offsets could not be read.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The requested offset is outside the partition's offsets; `end` itself is valid (the
    /// read waits for the next record).
    #[error(
        "Offset {offset} is out of range for partition {partition} of topic {topic:?}: valid \
         offsets are {beginning} to {end} ({end} waits for the next record)."
    )]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
        beginning: i64,
        end: i64,
    },
    /// Every pooled client stayed busy for `fetch.pool.wait.ms`.
    #[error(
        "Too many stateless reads at once: all {limit} read clients stayed busy, retry later."
    )]
    PoolBusy { limit: usize },
    /// A schema format was asked for while `schema.registry.url` is empty.
    #[error("Schema Registry must be configured when using schemas.")]
    RegistryNotConfigured,
    /// The first record cannot be rendered in the asked format; the consume error says why
    /// (bad bytes, registry unavailable or forbidden) and names the record.
    #[error(transparent)]
    Record(Box<ConsumeError>),
    /// Assigning or unassigning a pooled client failed.
    #[error("Kafka error: {operation}")]
    Kafka {
        operation: &'static str,
        #[source]
        source: KafkaError,
    },
    /// No blocking-call permit (`kafka.blocking.calls.max`) became free in time.
    #[error("no blocking Kafka call could start for a stateless read")]
    Busy(#[source] Busy),
    /// A pooled client could not be created (a bad `consumer.*` setting).
    #[error("cannot create a fetch client")]
    Client(#[source] KafkaError),
    /// A blocking call panicked or was cancelled.
    #[error("a blocking Kafka call of a stateless read failed")]
    Join(#[source] tokio::task::JoinError),
}

/// One read: where, from which offset, in which format, within which budget.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub format: EmbeddedFormat,
    /// The query's `timeout` in milliseconds (absent or not positive: the proxy's limit).
    pub timeout_ms: Option<i64>,
    /// The query's `max_bytes` (absent or not positive: the proxy's limit).
    pub max_bytes: Option<i64>,
    /// The query's `count` (absent or not positive: the proxy's limit).
    pub count: Option<i64>,
}

/// The stateless read service. Cheap to clone.
#[derive(Clone)]
pub struct Fetch {
    inner: Arc<Inner>,
}

struct Inner {
    settings: FetchSettings,
    metadata: Metadata,
    schemas: Schemas,
    blocking: BlockingCalls,
    /// One permit per pooled client: a read holds one from checkout until its client is back
    /// in `idle` (after the unassign), so at most `pool_size` clients ever exist. Never
    /// closed.
    permits: Arc<Semaphore>,
    /// Clients not in use, all unassigned. Created on demand, up to `pool_size`.
    idle: StdMutex<Vec<Arc<FetchConsumer>>>,
    /// Numbers the clients' `client.id`s.
    created: std::sync::atomic::AtomicUsize,
}

impl Fetch {
    pub fn new(
        settings: FetchSettings,
        metadata: Metadata,
        schemas: Schemas,
        blocking: BlockingCalls,
    ) -> Fetch {
        let permits = Arc::new(Semaphore::new(settings.pool_size.max(1)));
        Fetch {
            inner: Arc::new(Inner {
                settings,
                metadata,
                schemas,
                blocking,
                permits,
                idle: StdMutex::new(Vec::new()),
                created: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// Reads the records of `request.partition` from `request.offset` and hands them to
    /// `render`. Answers as soon as any record exists (with those librdkafka already holds,
    /// within the byte and count limits), or with none when the wait ends.
    pub async fn read<T>(
        &self,
        request: ReadRequest,
        render: impl FnOnce(&[ConsumedRecord]) -> T,
    ) -> Result<T, FetchError> {
        let settings = &self.inner.settings;
        if request.format.reader_class() == ReaderClass::Schema
            && !self.inner.schemas.is_configured()
        {
            return Err(FetchError::RegistryNotConfigured);
        }
        let limits = ReadLimits::new(
            request.timeout_ms,
            request.max_bytes,
            settings.request_timeout,
            settings.request_max_bytes,
            None,
        );
        let count = match request.count {
            Some(c) if c > 0 => usize::try_from(c)
                .unwrap_or(usize::MAX)
                .min(settings.request_count_max),
            _ => settings.request_count_max,
        };
        let deadline = Instant::now() + limits.wait;
        self.check_offset(&request).await?;
        let decoder = Decoder::for_format(request.format, &self.inner.schemas);
        let client = self.checkout(&request).await?;
        let records = self
            .collect(
                &client.consumer,
                &request,
                &decoder,
                limits,
                count,
                deadline,
            )
            .await;
        let records = match records {
            Err(FetchError::OffsetOutOfRange { .. }) => {
                // The log was truncated (retention) between the check and the fetch: answer
                // with the range as it is now.
                self.check_offset(&request).await?;
                Vec::new()
            }
            other => other?,
        };
        Ok(render(&records))
    }

    /// The requested offset must lie within the partition's offsets, its end included.
    async fn check_offset(&self, request: &ReadRequest) -> Result<(), FetchError> {
        let offsets = self
            .inner
            .metadata
            .offsets(&request.topic, request.partition)
            .await?;
        if request.offset < offsets.beginning_offset || request.offset > offsets.end_offset {
            return Err(FetchError::OffsetOutOfRange {
                topic: request.topic.clone(),
                partition: request.partition,
                offset: request.offset,
                beginning: offsets.beginning_offset,
                end: offsets.end_offset,
            });
        }
        Ok(())
    }

    /// Takes a free client (creating one while the pool is not full) and assigns it the
    /// requested partition at the requested offset.
    async fn checkout(&self, request: &ReadRequest) -> Result<Checkout, FetchError> {
        let inner = &self.inner;
        let permit = tokio::time::timeout(
            inner.settings.pool_wait,
            Arc::clone(&inner.permits).acquire_owned(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(FetchError::PoolBusy {
            limit: inner.settings.pool_size,
        })?;
        let idle = lock(&inner.idle).pop();
        let consumer = match idle {
            Some(consumer) => consumer,
            None => Arc::new(self.create()?),
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &request.topic,
            request.partition,
            Offset::Offset(request.offset),
        )
        .map_err(|source| FetchError::Kafka {
            operation: "assign",
            source,
        })?;
        let assigned = {
            let consumer = Arc::clone(&consumer);
            let deadline = std::time::Instant::now() + ASSIGN_TIMEOUT;
            inner
                .blocking
                .spawn(deadline, move || consumer.assign(&tpl))
                .await
                .map_err(FetchError::Busy)?
        };
        // From here the checkout owns the client: dropping it unassigns the client and puts it
        // back, whatever happens to this read.
        let checkout = Checkout {
            consumer,
            permit: Some(permit),
            fetch: self.clone(),
        };
        assigned
            .await
            .map_err(FetchError::Join)?
            .map_err(|source| FetchError::Kafka {
                operation: "assign",
                source,
            })?;
        Ok(checkout)
    }

    fn create(&self) -> Result<FetchConsumer, FetchError> {
        let settings = &self.inner.settings;
        let number = self
            .inner
            .created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut config = ClientConfig::new();
        for (key, value) in &settings.kafka {
            config.set(key, value);
        }
        // librdkafka assigns partitions only to a consumer with a `group.id`; this one never
        // joins its group (no subscription) and never commits to it. A truncated log is
        // reported (not silently skipped to another offset) so the read can say so.
        config
            .set("group.id", &settings.client_id)
            .set("client.id", format!("{}-{number}", settings.client_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false");
        // An assigned client prefetches; bound what it may hold to about one read's bytes
        // unless the operator chose otherwise.
        if !settings.kafka.contains_key("queued.max.messages.kbytes") {
            let kbytes = (settings.request_max_bytes / 1024).clamp(1024, 2_097_151);
            config.set("queued.max.messages.kbytes", kbytes.to_string());
        }
        config.create().map_err(FetchError::Client)
    }

    /// Collects the records of one read from an assigned client.
    async fn collect(
        &self,
        consumer: &FetchConsumer,
        request: &ReadRequest,
        decoder: &Decoder,
        limits: ReadLimits,
        count: usize,
        deadline: Instant,
    ) -> Result<Vec<ConsumedRecord>, FetchError> {
        let mut records: Vec<ConsumedRecord> = Vec::new();
        let mut bytes: u64 = 0;
        let mut next_offset = request.offset;
        while records.len() < count && bytes < limits.max_bytes {
            let next = if records.is_empty() {
                match tokio::time::timeout_at(deadline, consumer.recv()).await {
                    Ok(next) => next,
                    Err(_elapsed) => break,
                }
            } else {
                // Records are ready: add only those librdkafka already holds, then answer.
                match consumer.recv().now_or_never() {
                    Some(next) => next,
                    None => break,
                }
            };
            let message = match next {
                Ok(message) => message.detach(),
                Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) => {
                    return Err(FetchError::OffsetOutOfRange {
                        topic: request.topic.clone(),
                        partition: request.partition,
                        offset: request.offset,
                        beginning: 0,
                        end: 0,
                    });
                }
                Err(e) => {
                    tracing::debug!(topic = %request.topic, partition = request.partition,
                        error = %e, "fetch client error event while reading");
                    if records.is_empty() {
                        tokio::time::sleep_until(deadline.min(Instant::now() + ERROR_BACKOFF))
                            .await;
                    }
                    continue;
                }
            };
            // A record of an earlier assignment of this client that librdkafka still held is
            // not part of this read.
            if !is_next(&message, request, next_offset) {
                continue;
            }
            let first = records.is_empty();
            match decoder.decode(&message).await {
                Ok(decoded) => {
                    if !first && bytes.saturating_add(decoded.size) > limits.max_bytes {
                        break;
                    }
                    next_offset = message.offset() + 1;
                    bytes = bytes.saturating_add(decoded.size);
                    records.push(decoded.record);
                }
                Err(source) if first => {
                    return Err(FetchError::Record(Box::new(undecodable(&message, source))));
                }
                // Answer with what decoded; the next read starts at the bad record.
                Err(_) => break,
            }
        }
        Ok(records)
    }
}

/// Whether `message` is a record of the requested partition at or after the next offset.
fn is_next(message: &OwnedMessage, request: &ReadRequest, next_offset: i64) -> bool {
    message.topic() == request.topic
        && message.partition() == request.partition
        && message.offset() >= next_offset
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The idle list is a plain Vec that no panic can leave half-changed.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A pooled client lent to one read. Dropping it unassigns the client on the blocking pool
/// and then puts it back, releasing the pool permit only then; a client whose unassign fails
/// is dropped instead (the pool creates a new one when needed).
struct Checkout {
    consumer: Arc<FetchConsumer>,
    /// The pool permit; moves into the return task.
    permit: Option<OwnedSemaphorePermit>,
    fetch: Fetch,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let consumer = Arc::clone(&self.consumer);
        let permit = self.permit.take();
        let inner = Arc::clone(&self.fetch.inner);
        let returned = self.fetch.inner.blocking.spawn_when_free(move || {
            let unassigned = consumer.unassign();
            if let Err(e) = &unassigned {
                tracing::warn!(error = %e, "cannot unassign a fetch client; dropping it");
            }
            (consumer, unassigned.is_ok())
        });
        tokio::spawn(async move {
            if let Ok(Some((consumer, true))) = returned.await {
                lock(&inner.idle).push(consumer);
            }
            drop(permit);
        });
    }
}
