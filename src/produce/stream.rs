//! Producing one record at a time, for the v3 API: each record of a stream names its own
//! partition, formats and schemas, is checked and converted on its own, and is handed to the
//! producer before the next one is read, so a stream's records keep their order.
//!
//! A [`RecordStream`] belongs to one request: it keeps to one producer of the pool (the order
//! of its records per partition is the order they were sent), and remembers the partitions it
//! has already checked so that steady traffic asks the metadata cache nothing. A record that
//! fails (a check, a schema, Kafka) fails alone; deciding what the client sees is `error.rs`'s,
//! and reading the stream is the API layer's.

use std::collections::BTreeSet;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::metrics::{Metrics, TopicCounters};
use crate::records::stream::PlainFormat;
use crate::records::{Header, ProduceRecord};
use crate::schema::{SchemaError, SchemaSpec, Side};

use super::{Delivering, DeliveryFailure, FailureKind, Produce, ProduceError, Target, TopicHandle};

/// Where Kafka put a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp as Kafka reports it, milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

/// One record of a stream, decoded but not yet converted with its schemas.
#[derive(Debug)]
pub struct StreamRecord {
    pub partition: Option<i32>,
    pub headers: Vec<Header>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// `None`: the request gave no key (a null key the answer does not describe).
    pub key: Option<SideRequest>,
    pub value: Option<SideRequest>,
}

/// A key or value as the request gives it.
#[derive(Debug)]
pub enum SideRequest {
    /// `BINARY`, `STRING` or `JSON`, already in its bytes (`None` is a Kafka null).
    Plain {
        format: PlainFormat,
        bytes: Option<Vec<u8>>,
    },
    /// A schema format (named, or left to the registry), with its data as JSON text.
    Schema {
        /// Boxed: records mostly have none, and a stream moves every record several times.
        spec: Box<SchemaSpec>,
        data: Option<String>,
    },
}

/// What the answer says about a key or value that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideInfo {
    /// `BINARY`, `STRING`, `JSON`, `AVRO`, `JSONSCHEMA` or `PROTOBUF`.
    pub format: &'static str,
    /// Bytes written to Kafka.
    pub size: usize,
    /// The schema it was written with; boxed, as most records have none and a stream moves
    /// every record's answer several times.
    pub schema: Option<Box<SchemaInfo>>,
}

impl SideInfo {
    /// A key or value written with a schema.
    pub fn with_schema(
        format: &'static str,
        size: usize,
        subject: String,
        schema_id: i32,
        schema_version: Option<i32>,
    ) -> SideInfo {
        SideInfo {
            format,
            size,
            schema: Some(Box::new(SchemaInfo {
                subject,
                schema_id,
                schema_version,
            })),
        }
    }
}

/// The schema a key or value was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaInfo {
    pub subject: String,
    pub schema_id: i32,
    pub schema_version: Option<i32>,
}

/// A record Kafka acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProduced {
    pub delivery: Delivery,
    pub key: Option<SideInfo>,
    pub value: Option<SideInfo>,
}

/// Why one record of a stream was not written.
#[derive(Debug, thiserror::Error)]
pub enum RecordFailure {
    /// The topic or partition does not exist, or a schema refused the record; not sent.
    #[error("the record was refused")]
    Refused(#[from] ProduceError),
    /// Kafka did not acknowledge the record.
    #[error("{}", .0.message)]
    Delivery(DeliveryFailure),
}

/// The outcome of one record, once Kafka answered. It has no timer of its own: the holder stops
/// waiting at its [`PendingRecord::deadline`] ([`PendingRecord::timed_out`]), or awaits
/// [`PendingRecord::outcome`], which does that with a timer of its own.
#[derive(Debug)]
pub struct PendingRecord(Pending);

#[derive(Debug)]
enum Pending {
    /// Refused or failed before Kafka had it (taken by the first poll).
    Done(Option<Result<RecordProduced, RecordFailure>>),
    /// Enqueued, awaiting its delivery report.
    Sending {
        delivering: Delivering,
        key: Option<SideInfo>,
        value: Option<SideInfo>,
        metrics: Metrics,
    },
}

impl PendingRecord {
    fn done(outcome: Result<RecordProduced, RecordFailure>) -> PendingRecord {
        PendingRecord(Pending::Done(Some(outcome)))
    }

    /// When to stop waiting for the record's delivery report; `None` when its outcome is
    /// known already.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.0 {
            Pending::Done(_) => None,
            Pending::Sending { delivering, .. } => Some(delivering.deadline()),
        }
    }

    /// The outcome of a record whose report did not come by its deadline (counted as a
    /// failed record).
    pub fn timed_out(&self) -> RecordFailure {
        if let Pending::Sending { metrics, .. } = &self.0 {
            metrics.produce_record_failed(failure_code(FailureKind::Retriable));
        }
        RecordFailure::Delivery(Delivering::timed_out())
    }

    /// The outcome, waiting for the delivery report until the record's deadline.
    pub async fn outcome(mut self) -> Result<RecordProduced, RecordFailure> {
        let Some(deadline) = self.deadline() else {
            return (&mut self).await;
        };
        match tokio::time::timeout_at(deadline, &mut self).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(self.timed_out()),
        }
    }
}

impl Future for PendingRecord {
    type Output = Result<RecordProduced, RecordFailure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Pending::Done(outcome) => Poll::Ready(
                outcome
                    .take()
                    .expect("a PendingRecord polled after it completed"),
            ),
            Pending::Sending {
                delivering,
                key,
                value,
                metrics,
            } => match Pin::new(delivering).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(delivery)) => Poll::Ready(Ok(RecordProduced {
                    delivery,
                    key: key.take(),
                    value: value.take(),
                })),
                Poll::Ready(Err(failure)) => {
                    metrics.produce_record_failed(failure_code(failure.kind));
                    Poll::Ready(Err(RecordFailure::Delivery(failure)))
                }
            },
        }
    }
}

/// A record [`RecordStream::try_send`] could not send at once; [`RecordStream::send_later`]
/// sends it. Boxed: it is the slow path, and keeps `try_send`'s result small.
#[derive(Debug)]
pub struct Later(Box<LaterKind>);

#[derive(Debug)]
enum LaterKind {
    /// It needs the metadata (a partition or topic not seen yet) or the registry (a schema).
    Unprepared(StreamRecord),
    /// The producer's queue was full.
    QueueFull(Prepared),
}

/// A record ready for the producer, with what its answer says about its key and value.
#[derive(Debug)]
struct Prepared {
    record: ProduceRecord,
    key: Option<SideInfo>,
    value: Option<SideInfo>,
}

/// A key or value in its bytes, with what the answer says about it.
type Encoded = (Option<Vec<u8>>, Option<SideInfo>);

impl Prepared {
    fn new(
        partition: Option<i32>,
        headers: Vec<Header>,
        timestamp: Option<i64>,
        (key, key_info): Encoded,
        (value, value_info): Encoded,
    ) -> Prepared {
        Prepared {
            record: ProduceRecord {
                key,
                value,
                partition,
                headers,
                timestamp,
            },
            key: key_info,
            value: value_info,
        }
    }
}

/// The records of one request to one topic, sent one by one.
pub struct RecordStream {
    produce: Produce,
    topic: String,
    /// The pool's producer every record of this stream goes through.
    producer: usize,
    /// Whether the topic was found (or is created on first use).
    topic_checked: bool,
    /// The producer's handle of the topic, made once the topic was found: records are sent
    /// with it rather than by name.
    handle: Option<TopicHandle>,
    /// Partitions named by earlier records and found; at most the topic's partition count.
    partitions: BTreeSet<i32>,
    /// The topic's produce counters, looked up once per stream.
    counters: TopicCounters,
}

impl Produce {
    /// A stream of records to `topic`.
    pub fn stream(&self, topic: &str) -> RecordStream {
        RecordStream {
            produce: self.clone(),
            topic: topic.to_string(),
            producer: self.producers.pick_index(),
            topic_checked: false,
            handle: None,
            partitions: BTreeSet::new(),
            counters: self.metrics.topic_counters(topic),
        }
    }
}

impl RecordStream {
    /// Checks the record's topic and partition, converts its key and value, and hands it to
    /// the producer (waiting while the producer's queue is full). The returned future is the
    /// record's outcome; a record refused before sending has its outcome ready.
    pub async fn send(&mut self, record: StreamRecord) -> PendingRecord {
        match self.try_send(record) {
            Ok(pending) => pending,
            Err(later) => self.send_later(later).await,
        }
    }

    /// [`RecordStream::send`] without waiting, for the common record: plain key and value, to
    /// a topic and partition this stream has seen, with room in the producer's queue. Any
    /// other record comes back, for [`RecordStream::send_later`]. No future is built or moved
    /// for the common record, which matters at one record per JSON object of a stream.
    pub fn try_send(&mut self, record: StreamRecord) -> Result<PendingRecord, Later> {
        if !self.known(record.partition) || is_schema(&record.key) || is_schema(&record.value) {
            return Err(Later(Box::new(LaterKind::Unprepared(record))));
        }
        let key = plain_side(record.key);
        let value = plain_side(record.value);
        let prepared = self.counted(Prepared::new(
            record.partition,
            record.headers,
            record.timestamp,
            key,
            value,
        ));
        match self
            .produce
            .producers
            .try_send_one(self.producer, self.target(), &prepared.record)
        {
            Ok(Some(delivering)) => Ok(self.sending(delivering, prepared)),
            Ok(None) => Err(Later(Box::new(LaterKind::QueueFull(prepared)))),
            Err(failure) => Ok(self.failed(failure)),
        }
    }

    /// Sends what [`RecordStream::try_send`] could not: checks the topic and partition, asks
    /// the registry, or waits for room in the producer's queue.
    pub async fn send_later(&mut self, later: Later) -> PendingRecord {
        let prepared = match *later.0 {
            LaterKind::QueueFull(prepared) => prepared,
            LaterKind::Unprepared(record) => match self.prepare(record).await {
                Ok(prepared) => self.counted(prepared),
                Err(failure) => return PendingRecord::done(Err(failure)),
            },
        };
        match self
            .produce
            .producers
            .send_one(self.producer, self.target(), &prepared.record)
            .await
        {
            Ok(delivering) => self.sending(delivering, prepared),
            Err(failure) => self.failed(failure),
        }
    }

    /// Where this stream's records go: by the topic's handle once it was found.
    fn target(&self) -> Target<'_> {
        self.handle
            .as_ref()
            .map_or(Target::Name(&self.topic), Target::Handle)
    }

    /// Whether the record's topic, or its partition, was found for an earlier record.
    fn known(&self, partition: Option<i32>) -> bool {
        match partition {
            Some(p) => self.partitions.contains(&p),
            None => self.topic_checked,
        }
    }

    /// `prepared`, counted as sent in the topic's produce metrics.
    fn counted(&self, prepared: Prepared) -> Prepared {
        let record = &prepared.record;
        let bytes = size(&record.key)
            + size(&record.value)
            + record
                .headers
                .iter()
                .map(|h| h.name.len() + size(&h.value))
                .sum::<usize>();
        self.counters
            .sent(1, u64::try_from(bytes).unwrap_or(u64::MAX));
        prepared
    }

    fn sending(&self, delivering: Delivering, prepared: Prepared) -> PendingRecord {
        PendingRecord(Pending::Sending {
            delivering,
            key: prepared.key,
            value: prepared.value,
            metrics: self.produce.metrics.clone(),
        })
    }

    fn failed(&self, failure: DeliveryFailure) -> PendingRecord {
        self.produce
            .metrics
            .produce_record_failed(failure_code(failure.kind));
        PendingRecord::done(Err(RecordFailure::Delivery(failure)))
    }

    async fn prepare(&mut self, record: StreamRecord) -> Result<Prepared, RecordFailure> {
        if !self.known(record.partition) {
            let named: Vec<Option<i32>> = vec![record.partition];
            self.produce
                .check_partitions(&self.topic, None, &named)
                .await?;
            self.topic_checked = true;
            if self.handle.is_none() {
                self.handle = self.produce.producers.topic(self.producer, &self.topic);
            }
            if let Some(p) = record.partition {
                self.partitions.insert(p);
            }
        }
        let key = self.side(Side::Key, record.key).await?;
        let value = self.side(Side::Value, record.value).await?;
        Ok(Prepared::new(
            record.partition,
            record.headers,
            record.timestamp,
            key,
            value,
        ))
    }

    async fn side(
        &self,
        side: Side,
        request: Option<SideRequest>,
    ) -> Result<Encoded, RecordFailure> {
        match request {
            Some(SideRequest::Schema { spec, data }) => {
                let encoded = self
                    .produce
                    .schemas
                    .encode_side(&self.topic, side, *spec, data.as_deref())
                    .await
                    .map_err(|e: SchemaError| RecordFailure::Refused(e.into()))?;
                let info = SideInfo::with_schema(
                    encoded.format.v3_name(),
                    size(&encoded.bytes),
                    encoded.subject,
                    encoded.schema_id,
                    encoded.schema_version,
                );
                Ok((encoded.bytes, Some(info)))
            }
            plain => Ok(plain_side(plain)),
        }
    }
}

fn is_schema(side: &Option<SideRequest>) -> bool {
    matches!(side, Some(SideRequest::Schema { .. }))
}

/// A key or value that needs no schema: its bytes as they are. (Called with a schema side, it
/// writes nothing; callers send those to the registry first.)
fn plain_side(request: Option<SideRequest>) -> Encoded {
    match request {
        Some(SideRequest::Plain { format, bytes }) => {
            let info = SideInfo {
                format: format.name(),
                size: size(&bytes),
                schema: None,
            };
            (bytes, Some(info))
        }
        None | Some(SideRequest::Schema { .. }) => (None, None),
    }
}

fn size(bytes: &Option<Vec<u8>>) -> usize {
    bytes.as_ref().map_or(0, Vec::len)
}

/// The metrics label of a failed delivery: the v2 `error_code` (as `Produce` counts them).
fn failure_code(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Authentication => "40101",
        FailureKind::Authorization => "40301",
        FailureKind::Retriable => "50003",
        FailureKind::TooLarge | FailureKind::Other => "50002",
    }
}
