//! The produce service: one call that takes a decoded produce request for a topic (and maybe a
//! partition) and returns the outcome of every record, for any API version that produces.
//!
//! It owns the order of a produce: check that the topic and every target partition exist
//! (unless the broker creates topics on first use), then resolve and apply the schemas of a
//! schema format, then send. Invariant: a rejected request writes nothing; every check that
//! can refuse the request runs before the first record is handed to the producer pool.
//! Decoding the HTTP body is the API layer's, schema resolution is `schema/`, sending is the
//! pool's.

use crate::metadata::{Metadata, MetadataError};
use crate::metrics::Metrics;
use crate::records::{self, EmbeddedFormat, ProduceRecord, RecordError, SchemaBatch};
use crate::schema::{SchemaError, SchemaFormat, Schemas};

use super::{FailureKind, ProducerPool, RecordOutcome};

/// A produce request, decoded but not yet checked against Kafka or the registry.
#[derive(Debug)]
pub enum ProduceRequest {
    /// `binary` or `json` records, already in their wire bytes.
    Plain(Vec<ProduceRecord>),
    /// Records of a schema format, still JSON, with the schema references of the request.
    Schema {
        format: SchemaFormat,
        batch: SchemaBatch,
    },
}

impl ProduceRequest {
    /// Decodes a v2 produce body of an embedded format. Pure: every record is converted (or
    /// the request refused) before anything is looked up or sent.
    pub fn decode_v2(format: EmbeddedFormat, body: &[u8]) -> Result<ProduceRequest, RecordError> {
        Ok(match SchemaFormat::of(format) {
            None => ProduceRequest::Plain(records::decode_produce(format, body)?.records),
            Some(format) => ProduceRequest::Schema {
                format,
                batch: records::decode_schema_produce(body)?,
            },
        })
    }

    /// The partition each record names itself, in request order.
    fn record_partitions(&self) -> Vec<Option<i32>> {
        match self {
            ProduceRequest::Plain(records) => records.iter().map(|r| r.partition).collect(),
            ProduceRequest::Schema { batch, .. } => {
                batch.records.iter().map(|r| r.partition).collect()
            }
        }
    }
}

/// Why a produce request was refused as a whole. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The topic does not exist (and the broker does not create it), or metadata failed.
    #[error("cannot look up the partitions of the topic")]
    Metadata(#[from] MetadataError),
    /// A record (or the path) names a partition the topic does not have.
    #[error("partition {partition} of topic {topic:?} not found")]
    PartitionNotFound { topic: String, partition: i32 },
    /// A schema could not be resolved, or a record does not fit its schema.
    #[error("the records do not convert with their schemas")]
    Schema(#[from] SchemaError),
}

/// How each record of an accepted request ended, with the schema ids the response reports.
#[derive(Debug)]
pub struct Produced {
    /// One outcome per record, in request order.
    pub outcomes: Vec<RecordOutcome>,
    pub key_schema_id: Option<i32>,
    pub value_schema_id: Option<i32>,
}

impl Produced {
    /// The credentials failure that decides the status of the whole answer: the first record
    /// that failed for authentication or authorization, if any (Confluent answers 401 or 403
    /// with the same per-record body).
    pub fn refused_for(&self) -> Option<FailureKind> {
        self.outcomes.iter().find_map(|o| match o {
            RecordOutcome::Failed(f)
                if matches!(
                    f.kind,
                    FailureKind::Authentication | FailureKind::Authorization
                ) =>
            {
                Some(f.kind)
            }
            _ => None,
        })
    }
}

/// The produce service over the shared metadata cache, schema caches and producer pool.
/// Cheap to clone.
#[derive(Clone)]
pub struct Produce {
    pub(super) metadata: Metadata,
    pub(super) schemas: Schemas,
    pub(super) producers: ProducerPool,
    pub(super) metrics: Metrics,
}

impl Produce {
    pub fn new(
        metadata: Metadata,
        schemas: Schemas,
        producers: ProducerPool,
        metrics: Metrics,
    ) -> Produce {
        Produce {
            metadata,
            schemas,
            producers,
            metrics,
        }
    }

    /// Produces every record of `request` to `topic`; a record's own partition wins over
    /// `partition` (the path's), and without either the partitioner chooses.
    ///
    /// Refuses the whole request, writing nothing, when the topic or a target partition does
    /// not exist or a record does not convert with its schema. Otherwise every record is sent
    /// and its outcome (delivered or failed) reported.
    #[tracing::instrument(level = "debug", name = "produce", skip_all, fields(topic = topic))]
    pub async fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        request: ProduceRequest,
    ) -> Result<Produced, ProduceError> {
        // The topic is checked before any schema is registered for it.
        self.check_partitions(topic, partition, &request.record_partitions())
            .await?;
        let (records, key_schema_id, value_schema_id) = match request {
            ProduceRequest::Plain(records) => (records, None, None),
            ProduceRequest::Schema { format, batch } => {
                let encoded = self.schemas.encode_batch(topic, format, batch).await?;
                (
                    encoded.records,
                    encoded.key_schema_id,
                    encoded.value_schema_id,
                )
            }
        };
        let outcomes = self.producers.produce(topic, partition, &records).await;
        self.record_metrics(topic, &records, &outcomes);
        Ok(Produced {
            outcomes,
            key_schema_id,
            value_schema_id,
        })
    }

    /// Counts the records handed to Kafka and the ones it did not acknowledge.
    fn record_metrics(&self, topic: &str, records: &[ProduceRecord], outcomes: &[RecordOutcome]) {
        let bytes: usize = records
            .iter()
            .map(|r| {
                let len = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, Vec::len);
                len(&r.key)
                    + len(&r.value)
                    + r.headers
                        .iter()
                        .map(|h| h.name.len() + len(&h.value))
                        .sum::<usize>()
            })
            .sum();
        self.metrics.produce_sent(
            topic,
            u64::try_from(records.len()).unwrap_or(u64::MAX),
            u64::try_from(bytes).unwrap_or(u64::MAX),
        );
        for outcome in outcomes {
            if let RecordOutcome::Failed(failure) = outcome {
                // The `error_code` the produce response gives the record (the table of
                // `error::record_error_code`, which this module cannot import).
                self.metrics.produce_record_failed(match failure.kind {
                    FailureKind::Authentication => "40101",
                    FailureKind::Authorization => "40301",
                    FailureKind::Retriable => "50003",
                    FailureKind::TooLarge | FailureKind::Other => "50002",
                });
            }
        }
    }

    /// Refuses the request before anything is sent when the topic or a target partition does
    /// not exist, unless the broker creates topics on first use and no partition is named (then
    /// the produce creates the topic; `docs/decisions.md` §2).
    pub(super) async fn check_partitions(
        &self,
        topic: &str,
        path_partition: Option<i32>,
        record_partitions: &[Option<i32>],
    ) -> Result<(), ProduceError> {
        let targets = || {
            record_partitions
                .iter()
                .filter_map(move |p| p.or(path_partition))
        };
        let partitions = match self.metadata.partitions(topic).await {
            Ok(p) => p,
            Err(MetadataError::UnknownTopic { .. })
                if path_partition.is_none()
                    && targets().next().is_none()
                    && self.metadata.broker_auto_creates_topics().await =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let known = |p: i32| partitions.iter().any(|info| info.partition == p);
        if let Some(missing) = targets().find(|&p| !known(p)) {
            // The partition may be new: look once more before refusing.
            let fresh = self.metadata.partitions_refreshed(topic).await?;
            if !fresh.iter().any(|info| info.partition == missing) {
                return Err(ProduceError::PartitionNotFound {
                    topic: topic.to_string(),
                    partition: missing,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::DeliveryFailure;

    fn failed(kind: FailureKind) -> RecordOutcome {
        RecordOutcome::Failed(DeliveryFailure {
            kind,
            message: "m".into(),
        })
    }

    #[test]
    fn the_first_credentials_failure_decides_the_status() {
        let produced = |outcomes| Produced {
            outcomes,
            key_schema_id: None,
            value_schema_id: None,
        };
        let delivered = RecordOutcome::Delivered {
            partition: 0,
            offset: 1,
        };
        assert_eq!(produced(vec![delivered.clone()]).refused_for(), None);
        assert_eq!(
            produced(vec![
                failed(FailureKind::Retriable),
                failed(FailureKind::Other)
            ])
            .refused_for(),
            None
        );
        assert_eq!(
            produced(vec![
                delivered,
                failed(FailureKind::Retriable),
                failed(FailureKind::Authorization),
                failed(FailureKind::Authentication),
            ])
            .refused_for(),
            Some(FailureKind::Authorization)
        );
    }

    #[test]
    fn a_v2_body_decodes_by_its_embedded_format() {
        let body = br#"{"records":[{"value":{"a":1},"partition":2}]}"#;
        let plain = ProduceRequest::decode_v2(EmbeddedFormat::Json, body).expect("json");
        assert!(matches!(&plain, ProduceRequest::Plain(r) if r.len() == 1));
        assert_eq!(plain.record_partitions(), vec![Some(2)]);
        let schema = ProduceRequest::decode_v2(EmbeddedFormat::Avro, body).expect("avro");
        assert!(matches!(
            schema,
            ProduceRequest::Schema {
                format: SchemaFormat::Avro,
                ..
            }
        ));
        assert!(ProduceRequest::decode_v2(EmbeddedFormat::Json, b"{").is_err());
    }
}
