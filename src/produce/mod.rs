//! The producer pool: a few long-lived, shared rdkafka producers that every produce request goes
//! through, and the per-record outcome of a batch; [`Produce`] (in `service.rs`) is the one
//! entry that API handlers call.
//!
//! This module owns the producer settings (idempotent, `acks=all`, Java-compatible murmur2
//! partitioning unless the operator overrides them), the enqueue-then-await flow of one request,
//! waiting for queue space up to the request's deadline, and the classification of delivery
//! failures (by `kafka_error`'s classification) into the per-record classes. It knows nothing
//! about HTTP.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Message, Statistics};
use tokio::time::Instant;

use crate::admin::ffi::produce as native;
use crate::kafka_error::{self, KafkaErrorClass};
use crate::metrics::Metrics;
use crate::records::ProduceRecord;

pub mod rate;
mod service;
mod stream;

pub use service::{Produce, ProduceError, ProduceRequest, Produced};
pub use stream::{
    Delivery, Later, PendingRecord, RecordFailure, RecordProduced, RecordStream, SideInfo,
    SideRequest, StreamRecord,
};

/// Why the pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProducePoolError {
    #[error("cannot create Kafka producer {index}")]
    Create {
        index: usize,
        #[source]
        source: KafkaError,
    },
}

/// How one record of a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Delivered { partition: i32, offset: i64 },
    Failed(DeliveryFailure),
}

/// A record Kafka did not acknowledge, in the terms of the v2 produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub kind: FailureKind,
    pub message: String,
}

/// The classes of per-record failure the v2 API distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Kafka rejected the client's credentials.
    Authentication,
    /// The client may not write to the topic.
    Authorization,
    /// A retry may succeed (timeouts, leader moves, not enough replicas).
    Retriable,
    /// Kafka refused the record for its size (v3 answers `413`, v2 `50002`).
    TooLarge,
    /// A retry will not help (invalid record, ...).
    Other,
}

/// The shared producers. Cheap to clone.
#[derive(Clone)]
pub struct ProducerPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// Created at start, dropped (after `flush`) at shutdown.
    producers: Vec<KafkaProducer>,
    /// Round-robin cursor over `producers`; one request uses one producer.
    next: AtomicUsize,
    /// Longest a request waits for queue space and delivery reports (`produce.timeout.ms`).
    timeout: Duration,
}

/// What the producer pool needs of the configuration; built by `services.rs`.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// librdkafka settings from `client.*` and `producer.*` (and `bootstrap.servers`), which
    /// win over the proxy's defaults.
    pub kafka: BTreeMap<String, String>,
    /// `produce.pool.size`.
    pub size: usize,
    /// `produce.timeout.ms`.
    pub timeout: Duration,
    /// The `client.id` of producer N.
    pub client_ids: Vec<String>,
    /// `metrics.kafka.statistics.interval.ms`: how often librdkafka reports the statistics the
    /// metrics keep (queue depth, broker round trips); zero turns them off. A
    /// `statistics.interval.ms` in `client.*` or `producer.*` wins.
    pub statistics_interval: Duration,
}

/// One producer of the pool. Its own thread polls librdkafka and hands each delivery report
/// to the record's [`ReportFuture`] (through [`StatsContext`]'s `delivery`).
type KafkaProducer = ThreadedProducer<StatsContext>;

/// What librdkafka reported of one record.
type Report = Result<Delivery, KafkaError>;

/// Where the delivery report of one enqueued record goes: librdkafka carries the slot's `Arc`
/// as the record's opaque and the context's `delivery` fills it; the request awaits it as a
/// [`ReportFuture`]. One allocation per record (a channel and a boxed sender were two).
pub struct ReportSlot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    report: Option<Report>,
    /// The task to wake once the report is there.
    waker: Option<Waker>,
}

impl ReportSlot {
    fn new() -> Arc<ReportSlot> {
        Arc::new(ReportSlot {
            state: Mutex::new(SlotState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // A poisoned lock only means a thread panicked holding it; the state is two options,
        // valid whatever was interrupted.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Called once, from the producer's polling thread.
    fn deliver(&self, report: Report) {
        let waker = {
            let mut state = self.state();
            state.report = Some(report);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The delivery report of one enqueued record. A record librdkafka never reports (its
/// producer destroyed without purging it) leaves this pending: its waiter stops at its
/// deadline.
pub struct ReportFuture(Arc<ReportSlot>);

impl Future for ReportFuture {
    type Output = Report;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Report> {
        let mut state = self.0.state();
        if let Some(report) = state.report.take() {
            return Poll::Ready(report);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The context of each producer: hands librdkafka's statistics to the metrics, and each
/// delivery report to the record's [`ReportFuture`].
pub struct StatsContext {
    /// The producer's index in the pool, its `producer` label.
    producer: String,
    metrics: Metrics,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        self.metrics
            .producer_queue(&self.producer, statistics.msg_cnt, statistics.msg_size);
        for broker in statistics.brokers.values() {
            // Bootstrap entries (negative ids) are the same brokers under another name.
            if broker.nodeid < 0 {
                continue;
            }
            // librdkafka's round-trip window restarts with every report: a window without a
            // request (an idle producer) says nothing, and keeps the last measured value rather
            // than showing a round trip of zero.
            if let Some(rtt) = broker.rtt.as_ref().filter(|w| w.cnt > 0) {
                let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
                self.metrics.broker_rtt(
                    &self.producer,
                    &broker.nodeid.to_string(),
                    micros(rtt.avg),
                    micros(rtt.p99),
                );
            }
        }
    }
}

impl ProducerContext for StatsContext {
    type DeliveryOpaque = Arc<ReportSlot>;

    fn delivery(&self, result: &DeliveryResult<'_>, report: Self::DeliveryOpaque) {
        let result = match result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp().to_millis(),
            }),
            Err((err, _message)) => Err(err.clone()),
        };
        // When the request ended first (its deadline passed), nobody reads the slot: it is
        // freed with this last reference.
        report.deliver(result);
    }
}

/// librdkafka settings the proxy chooses unless `client.*` / `producer.*` say otherwise.
fn default_settings(timeout: Duration) -> BTreeMap<String, String> {
    let timeout_ms = timeout.as_millis().to_string();
    [
        ("acks", "all".to_string()),
        ("enable.idempotence", "true".to_string()),
        ("partitioner", "murmur2_random".to_string()),
        // One request is often one record: a short linger keeps its latency low, and batches
        // still form from concurrent requests while earlier ones are in flight.
        ("linger.ms", "1".to_string()),
        // A delivery report always arrives before the request's own deadline.
        ("message.timeout.ms", timeout_ms),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl ProducerPool {
    /// Creates `produce.pool.size` producers. librdkafka connects lazily, so this succeeds
    /// without a broker.
    pub fn new(pool: PoolSettings, metrics: Metrics) -> Result<ProducerPool, ProducePoolError> {
        let mut settings = default_settings(pool.timeout);
        if !pool.statistics_interval.is_zero() {
            settings.insert(
                "statistics.interval.ms".to_string(),
                pool.statistics_interval.as_millis().to_string(),
            );
        }
        settings.extend(pool.kafka);
        let producers = (0..pool.size)
            .map(|index| {
                let mut client = ClientConfig::new();
                for (k, v) in &settings {
                    client.set(k, v);
                }
                if let Some(id) = pool.client_ids.get(index) {
                    client.set("client.id", id);
                }
                client
                    .create_with_context(StatsContext {
                        producer: index.to_string(),
                        metrics: metrics.clone(),
                    })
                    .map_err(|source| ProducePoolError::Create { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProducerPool {
            inner: Arc::new(PoolInner {
                producers,
                next: AtomicUsize::new(0),
                timeout: pool.timeout,
            }),
        })
    }

    fn pick(&self) -> &KafkaProducer {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.producers.len();
        &self.inner.producers[i]
    }

    /// Sends every record of one request to `topic` and waits for all delivery reports, which
    /// come back in request order. A record's own partition wins over `default_partition`.
    ///
    /// Records are enqueued in order (so librdkafka batches them and, being idempotent, keeps
    /// their order per partition); when the local queue is full the enqueue waits for space
    /// until the deadline. A record not acknowledged by the deadline is reported as a retriable
    /// failure, never as delivered.
    #[tracing::instrument(
        level = "debug",
        name = "kafka.send",
        skip_all,
        fields(topic = topic, records = records.len())
    )]
    pub async fn produce(
        &self,
        topic: &str,
        default_partition: Option<i32>,
        records: &[ProduceRecord],
    ) -> Vec<RecordOutcome> {
        let deadline = Instant::now() + self.inner.timeout;
        let producer = self.pick();
        // Many records are sent with a handle of the topic, looked up once; one record by name
        // (a handle would cost it a lookup of its own, and its release).
        let handle = match records.len() {
            0 | 1 => None,
            _ => native::Topic::new(producer, topic),
        };
        let target = handle
            .as_ref()
            .map_or(native::Target::Name(topic), native::Target::Handle);
        let mut pending: Vec<Result<ReportFuture, DeliveryFailure>> =
            Vec::with_capacity(records.len());
        for record in records {
            pending.push(enqueue(producer, target, default_partition, record, deadline).await);
        }
        drop(handle);
        // Slack past the deadline: librdkafka's own `message.timeout.ms` normally reports first.
        // One timer for the request, not one per record: the reports are awaited in order
        // (they arrive in order per partition, and a report that came early is taken at once).
        let hard_deadline = deadline + Duration::from_secs(1);
        let timer = tokio::time::sleep_until(hard_deadline);
        tokio::pin!(timer);
        let mut outcomes = Vec::with_capacity(pending.len());
        for p in pending {
            let mut report = match p {
                Err(failure) => {
                    outcomes.push(RecordOutcome::Failed(failure));
                    continue;
                }
                Ok(report) => report,
            };
            let report = tokio::select! {
                biased;
                report = &mut report => Some(report),
                () = &mut timer => None,
            };
            outcomes.push(match report {
                Some(Ok(delivery)) => RecordOutcome::Delivered {
                    partition: delivery.partition,
                    offset: delivery.offset,
                },
                Some(Err(err)) => RecordOutcome::Failed(classify_delivery(producer, &err)),
                None => RecordOutcome::Failed(Delivering::timed_out()),
            });
        }
        outcomes
    }

    /// Enqueues one record of a stream on producer `producer` if its queue has room now
    /// (`Ok(None)`: it is full). A stream keeps to one producer, so its records stay in order
    /// per partition.
    pub(crate) fn try_send_one(
        &self,
        producer: usize,
        topic: Target<'_>,
        record: &ProduceRecord,
    ) -> Result<Option<Delivering>, DeliveryFailure> {
        let deadline = Instant::now() + self.inner.timeout;
        let (p, topic) = self.target(producer, topic);
        Ok(try_enqueue(p, topic, None, record)?.map(|report| Delivering::new(report, deadline)))
    }

    /// The producer `producer` (an index of the pool) and the topic to name to it: a handle
    /// is only used with the producer it was made for, which is then the one chosen.
    fn target<'a>(
        &self,
        producer: usize,
        topic: Target<'a>,
    ) -> (&KafkaProducer, native::Target<'a>) {
        match topic {
            Target::Handle(handle) if Arc::ptr_eq(&handle.pool, &self.inner) => (
                &self.inner.producers[handle.producer],
                native::Target::Handle(&handle.handle),
            ),
            Target::Handle(handle) => (
                &self.inner.producers[producer % self.inner.producers.len()],
                native::Target::Name(&handle.name),
            ),
            Target::Name(name) => (
                &self.inner.producers[producer % self.inner.producers.len()],
                native::Target::Name(name),
            ),
        }
    }

    /// A handle of `topic` on producer `producer` (an index of the pool), for sending many
    /// records to it without looking the topic up by name for each; `None` when librdkafka
    /// refuses the name.
    pub(crate) fn topic(&self, producer: usize, topic: &str) -> Option<TopicHandle> {
        let producer = producer % self.inner.producers.len();
        let handle = native::Topic::new(&self.inner.producers[producer], topic)?;
        Some(TopicHandle {
            handle,
            name: topic.to_string(),
            producer,
            pool: Arc::clone(&self.inner),
        })
    }

    /// [`ProducerPool::try_send_one`], waiting for queue space until the produce deadline: a
    /// full queue slows the stream's reading instead of buffering.
    pub(crate) async fn send_one(
        &self,
        producer: usize,
        topic: Target<'_>,
        record: &ProduceRecord,
    ) -> Result<Delivering, DeliveryFailure> {
        let deadline = Instant::now() + self.inner.timeout;
        let (p, topic) = self.target(producer, topic);
        let report = enqueue(p, topic, None, record, deadline).await?;
        Ok(Delivering::new(report, deadline))
    }

    /// The producer a new stream keeps to (round robin).
    pub(crate) fn pick_index(&self) -> usize {
        self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.producers.len()
    }

    /// Waits (up to `timeout`) until every enqueued record is delivered or failed. Called on
    /// shutdown, from a blocking thread since librdkafka's flush blocks.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            for p in &pool.inner.producers {
                p.flush(timeout)?;
            }
            Ok(())
        })
        .await
        .unwrap_or(Ok(()))
    }
}

/// Enqueues one record, waiting for queue space until `deadline`.
async fn enqueue(
    producer: &KafkaProducer,
    topic: native::Target<'_>,
    default_partition: Option<i32>,
    record: &ProduceRecord,
    deadline: Instant,
) -> Result<ReportFuture, DeliveryFailure> {
    let mut backoff = Duration::from_millis(1);
    loop {
        if let Some(report) = try_enqueue(producer, topic, default_partition, record)? {
            return Ok(report);
        }
        if Instant::now() + backoff > deadline {
            return Err(DeliveryFailure {
                kind: FailureKind::Retriable,
                message: "The producer queue stayed full until the request deadline.".into(),
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(50));
    }
}

/// Enqueues one record if the producer's queue has room (`Ok(None)`: it is full).
fn try_enqueue(
    producer: &KafkaProducer,
    topic: native::Target<'_>,
    default_partition: Option<i32>,
    record: &ProduceRecord,
) -> Result<Option<ReportFuture>, DeliveryFailure> {
    let slot = ReportSlot::new();
    let sent = native::send(
        producer,
        native::Record {
            topic,
            partition: record.partition.or(default_partition),
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
            timestamp: record.timestamp,
        },
        Arc::clone(&slot),
    );
    match sent {
        Ok(()) => Ok(Some(ReportFuture(slot))),
        Err((RDKafkaErrorCode::QueueFull, _)) => Ok(None),
        Err((code, _)) => Err(classify_delivery(
            producer,
            &KafkaError::MessageProduction(code),
        )),
    }
}

/// Where [`ProducerPool::try_send_one`] and [`ProducerPool::send_one`] send a record: a topic
/// by name, or by a handle of [`ProducerPool::topic`].
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Name(&'a str),
    Handle(&'a TopicHandle),
}

/// A topic looked up once on one producer of a pool ([`ProducerPool::topic`]). It keeps the
/// pool alive: librdkafka's handle is released before its producer.
pub(crate) struct TopicHandle {
    /// Dropped first (fields drop in order), while `pool` still holds the producer.
    handle: native::Topic,
    name: String,
    producer: usize,
    pool: Arc<PoolInner>,
}

impl std::fmt::Debug for TopicHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicHandle")
            .field("name", &self.name)
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

/// A record librdkafka took, until its delivery report. It has no timer of its own: whoever
/// awaits it stops at [`Delivering::deadline`] and reports [`Delivering::timed_out`], with one
/// timer for a whole request or stream rather than one per record.
pub struct Delivering {
    report: ReportFuture,
    deadline: Instant,
}

impl Delivering {
    /// `deadline`: the produce deadline; the report is awaited one second past it, since
    /// librdkafka's own `message.timeout.ms` (the same timeout) normally reports first.
    fn new(report: ReportFuture, deadline: Instant) -> Delivering {
        Delivering {
            report,
            deadline: deadline + Duration::from_secs(1),
        }
    }

    /// When to stop waiting for the report.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The failure of a record whose report did not come by its deadline.
    pub fn timed_out() -> DeliveryFailure {
        DeliveryFailure {
            kind: FailureKind::Retriable,
            message: "Delivery report not received before the request deadline.".into(),
        }
    }
}

impl std::fmt::Debug for Delivering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivering")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Future for Delivering {
    type Output = Result<Delivery, DeliveryFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.report)
            .poll(cx)
            .map(|report| report.map_err(|err| classify(&err)))
    }
}

/// The failure of a record `producer` did not deliver. An idempotent producer that Kafka
/// refused its producer id (a user without `WRITE` on any topic) raises a fatal error and purges
/// its queue: such a record is reported with the fatal error (`403` for an authorization
/// failure), not with the purge.
fn classify_delivery(producer: &KafkaProducer, err: &KafkaError) -> DeliveryFailure {
    let purged = matches!(
        err,
        KafkaError::MessageProduction(
            RDKafkaErrorCode::PurgeQueue
                | RDKafkaErrorCode::PurgeInflight
                | RDKafkaErrorCode::Fatal
        )
    );
    match producer.client().fatal_error() {
        Some((code, message)) if purged => {
            let mut failure = classify(&KafkaError::MessageProduction(code));
            failure.message = message;
            failure
        }
        _ => classify(err),
    }
}

impl ProducerPool {
    /// Whether a producer of the pool failed for good (librdkafka's fatal error, after which
    /// it sends nothing more); principal pass-through then makes the caller a new one.
    pub fn failed(&self) -> bool {
        self.inner
            .producers
            .iter()
            .any(|p| p.client().fatal_error().is_some())
    }
}

/// Sorts a Kafka error into the per-record classes of the v2 produce response, by the one
/// classification of `kafka_error`. A topic or partition Kafka does not know is retriable here
/// (Java's producer waits for it to appear), so it answers 50003 like a metadata timeout.
pub fn classify(err: &KafkaError) -> DeliveryFailure {
    let kind = match kafka_error::classify(err) {
        KafkaErrorClass::Authentication => FailureKind::Authentication,
        KafkaErrorClass::Authorization => FailureKind::Authorization,
        KafkaErrorClass::Retriable | KafkaErrorClass::UnknownTopicOrPartition => {
            FailureKind::Retriable
        }
        KafkaErrorClass::Other
            if err.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) =>
        {
            FailureKind::TooLarge
        }
        KafkaErrorClass::Other => FailureKind::Other,
    };
    DeliveryFailure {
        kind,
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_errors_are_classified_like_confluent() {
        let rows = [
            (RDKafkaErrorCode::MessageTimedOut, FailureKind::Retriable),
            (RDKafkaErrorCode::NotEnoughReplicas, FailureKind::Retriable),
            (
                RDKafkaErrorCode::NotLeaderForPartition,
                FailureKind::Retriable,
            ),
            (RDKafkaErrorCode::MessageSizeTooLarge, FailureKind::TooLarge),
            (RDKafkaErrorCode::InvalidRecord, FailureKind::Other),
            (
                RDKafkaErrorCode::UnknownTopicOrPartition,
                FailureKind::Retriable,
            ),
            (
                RDKafkaErrorCode::TopicAuthorizationFailed,
                FailureKind::Authorization,
            ),
            (
                RDKafkaErrorCode::SaslAuthenticationFailed,
                FailureKind::Authentication,
            ),
        ];
        for (code, kind) in rows {
            let failure = classify(&KafkaError::MessageProduction(code));
            assert_eq!(failure.kind, kind, "{code:?}");
            assert!(!failure.message.is_empty());
        }
    }

    /// A pool of `size` producers for a broker that is not there (librdkafka connects
    /// lazily, so records are only queued), with a produce timeout of `timeout`.
    fn unconnected_pool(size: usize, timeout: Duration) -> ProducerPool {
        ProducerPool::new(
            PoolSettings {
                kafka: [("bootstrap.servers", "127.0.0.1:1")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                size,
                timeout,
                client_ids: Vec::new(),
                statistics_interval: Duration::ZERO,
            },
            Metrics::default(),
        )
        .expect("a producer without a broker")
    }

    fn one_record() -> ProduceRecord {
        ProduceRecord {
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            partition: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Whether `delivering` ended (within a few seconds) rather than stayed pending.
    async fn ended(delivering: Delivering) -> bool {
        tokio::time::timeout(Duration::from_secs(5), delivering)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_topic_handle_sends_through_the_producer_it_was_made_for() {
        let pool = unconnected_pool(2, Duration::from_secs(30));
        let handle = pool.topic(1, "handled").expect("a valid name");
        assert_eq!(handle.producer, 1);
        let send = |index, target| {
            pool.try_send_one(index, target, &one_record())
                .expect("no refusal")
                .expect("room in the queue")
        };
        // The stream's own index says 0: the handle's producer wins, since a handle of one
        // producer means nothing to another.
        let by_handle = send(0, Target::Handle(&handle));
        // By name, the index chooses.
        let by_name = send(0, Target::Name("handled"));
        // A handle of another pool is used by its name, on this pool's producer 1.
        let other = unconnected_pool(1, Duration::from_secs(30));
        let foreign = other.topic(0, "handled").expect("a valid name");
        let by_foreign = send(1, Target::Handle(&foreign));
        // Purging producer 1's queue fails exactly the records it holds.
        pool.inner.producers[1].purge(rdkafka::producer::PurgeConfig::default().queue());
        assert!(
            ended(by_handle).await,
            "the handle's record was on producer 1"
        );
        assert!(
            ended(by_foreign).await,
            "the foreign handle's record was on producer 1"
        );
        let pending = tokio::time::timeout(Duration::from_millis(300), by_name).await;
        assert!(pending.is_err(), "the record by name stayed on producer 0");
        // The handle keeps its pool alive: dropping the pool first is safe.
        drop(pool);
        drop(handle);
        drop(foreign);
    }

    #[test]
    fn a_name_librdkafka_cannot_take_has_no_handle_and_fails_by_name() {
        let pool = unconnected_pool(1, Duration::from_secs(5));
        assert!(pool.topic(0, "nul\0inside").is_none());
        let failure = pool
            .try_send_one(0, Target::Name("nul\0inside"), &one_record())
            .expect_err("refused");
        assert_eq!(failure.kind, FailureKind::Other);
    }

    #[tokio::test]
    async fn many_records_of_one_request_each_get_their_outcome() {
        let pool = unconnected_pool(1, Duration::from_millis(200));
        let records = vec![one_record(), one_record(), one_record()];
        // No broker: each record fails by the deadline, none is lost or reported twice.
        let outcomes = pool.produce("many", None, &records).await;
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, RecordOutcome::Failed(f) if f.kind == FailureKind::Retriable)));
    }

    /// A waker that counts its wake-ups.
    struct Counting(AtomicUsize);

    impl futures::task::ArcWake for Counting {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_report_reaches_its_waiter_whether_it_comes_before_or_after_the_wait() {
        let delivered = |offset| {
            Ok(Delivery {
                partition: 1,
                offset,
                timestamp: None,
            })
        };
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = futures::task::waker(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);

        // Reported first: the first poll takes it, nothing is woken.
        let slot = ReportSlot::new();
        slot.deliver(delivered(7));
        let mut future = ReportFuture(Arc::clone(&slot));
        match Pin::new(&mut future).poll(&mut cx) {
            Poll::Ready(Ok(d)) => assert_eq!(d.offset, 7),
            other => panic!("expected the report, got {other:?}"),
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);

        // Awaited first: polled twice (one waker kept), then reported from the polling
        // thread, which wakes the waiter once.
        let slot = ReportSlot::new();
        let mut future = ReportFuture(Arc::clone(&slot));
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        let reporter = std::thread::spawn(move || {
            slot.deliver(Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )))
        });
        reporter.join().expect("the reporting thread");
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        match Pin::new(&mut future).poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(
                e.rdkafka_error_code(),
                Some(RDKafkaErrorCode::MessageTimedOut)
            ),
            other => panic!("expected the failure, got {other:?}"),
        }

        // A waiter gone before the report: the report is dropped with the slot.
        let slot = ReportSlot::new();
        drop(ReportFuture(Arc::clone(&slot)));
        slot.deliver(delivered(8));
        assert_eq!(Arc::strong_count(&slot), 1);
    }

    #[test]
    fn proxy_defaults_are_idempotent_and_java_compatible_but_overridable() {
        let mut props = crate::config::Properties::default();
        props
            .set("bootstrap.servers", "127.0.0.1:9092")
            .set("producer.acks", "1")
            .set("produce.timeout.ms", "7000");
        let config = crate::config::Config::from_properties(&props).expect("valid");
        let mut settings = default_settings(config.produce_timeout);
        assert_eq!(settings["enable.idempotence"], "true");
        assert_eq!(settings["partitioner"], "murmur2_random");
        assert_eq!(settings["message.timeout.ms"], "7000");
        settings.extend(config.kafka_settings(&config.producer));
        assert_eq!(settings["acks"], "1");
    }
}
