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

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::metrics::TopicCounters;
use crate::records::stream::PlainFormat;
use crate::records::{Header, ProduceRecord};
use crate::schema::{SchemaError, SchemaSpec, Side};

use super::{DeliveryFailure, FailureKind, Produce, ProduceError};

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
        spec: SchemaSpec,
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
    pub subject: Option<String>,
    pub schema_id: Option<i32>,
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

/// The outcome of one record, once Kafka answered.
pub type PendingRecord = BoxFuture<'static, Result<RecordProduced, RecordFailure>>;

/// The records of one request to one topic, sent one by one.
pub struct RecordStream {
    produce: Produce,
    topic: String,
    /// The pool's producer every record of this stream goes through.
    producer: usize,
    /// Whether the topic was found (or is created on first use).
    topic_checked: bool,
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
        match self.prepare(record).await {
            Err(e) => futures::future::ready(Err(e)).boxed(),
            Ok((record, key, value)) => {
                let bytes = size(&record.key)
                    + size(&record.value)
                    + record
                        .headers
                        .iter()
                        .map(|h| h.name.len() + size(&h.value))
                        .sum::<usize>();
                self.counters
                    .sent(1, u64::try_from(bytes).unwrap_or(u64::MAX));
                let metrics = self.produce.metrics.clone();
                match self
                    .produce
                    .producers
                    .send_one(self.producer, &self.topic, &record)
                    .await
                {
                    Err(failure) => {
                        metrics.produce_record_failed(failure_code(failure.kind));
                        futures::future::ready(Err(RecordFailure::Delivery(failure))).boxed()
                    }
                    Ok(delivery) => async move {
                        match delivery.await {
                            Ok(delivery) => Ok(RecordProduced {
                                delivery,
                                key,
                                value,
                            }),
                            Err(failure) => {
                                metrics.produce_record_failed(failure_code(failure.kind));
                                Err(RecordFailure::Delivery(failure))
                            }
                        }
                    }
                    .boxed(),
                }
            }
        }
    }

    async fn prepare(
        &mut self,
        record: StreamRecord,
    ) -> Result<(ProduceRecord, Option<SideInfo>, Option<SideInfo>), RecordFailure> {
        let known = match record.partition {
            Some(p) => self.partitions.contains(&p),
            None => self.topic_checked,
        };
        if !known {
            let named: Vec<Option<i32>> = vec![record.partition];
            self.produce
                .check_partitions(&self.topic, None, &named)
                .await?;
            self.topic_checked = true;
            if let Some(p) = record.partition {
                self.partitions.insert(p);
            }
        }
        let (key, key_info) = self.side(Side::Key, record.key).await?;
        let (value, value_info) = self.side(Side::Value, record.value).await?;
        Ok((
            ProduceRecord {
                key,
                value,
                partition: record.partition,
                headers: record.headers,
                timestamp: record.timestamp,
            },
            key_info,
            value_info,
        ))
    }

    async fn side(
        &self,
        side: Side,
        request: Option<SideRequest>,
    ) -> Result<(Option<Vec<u8>>, Option<SideInfo>), RecordFailure> {
        match request {
            None => Ok((None, None)),
            Some(SideRequest::Plain { format, bytes }) => {
                let info = SideInfo {
                    format: format.name(),
                    size: size(&bytes),
                    subject: None,
                    schema_id: None,
                    schema_version: None,
                };
                Ok((bytes, Some(info)))
            }
            Some(SideRequest::Schema { spec, data }) => {
                let encoded = self
                    .produce
                    .schemas
                    .encode_side(&self.topic, side, spec, data.as_deref())
                    .await
                    .map_err(|e: SchemaError| RecordFailure::Refused(e.into()))?;
                let info = SideInfo {
                    format: encoded.format.v3_name(),
                    size: size(&encoded.bytes),
                    subject: Some(encoded.subject),
                    schema_id: Some(encoded.schema_id),
                    schema_version: encoded.schema_version,
                };
                Ok((encoded.bytes, Some(info)))
            }
        }
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
