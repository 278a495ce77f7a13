//! The produce operations of `KafkaRestV2`: `POST /topics/{topic}` and
//! `POST /topics/{topic}/partitions/{partition}`.
//!
//! Owns the HTTP side of producing: the embedded format from `Content-Type`, reading the body
//! within its limits, and the v2 produce response with one entry per record in request order
//! (`docs/decisions.md` §14), answered 401/403 when a record failed for its credentials.
//! Decoding is `records/`; the checks, schemas and sending are the produce service's
//! (`produce::Produce`).

use kafka_rest_api::{
    media as vnd, models, Lenient, ProduceToPartitionResponse, ProduceToTopicResponse, RawBody, Vnd,
};

use super::Service;
use crate::error::{record_error_code, ProxyError};
use crate::produce::{FailureKind, ProduceRequest, Produced, RecordOutcome};
use crate::records::EmbeddedFormat;
use kafka_rest_api::v2;
use poem::Request;

/// The embedded format from `Content-Type` (415 without one), then the body, read within its
/// size and time limits and decoded for that format.
async fn decode<M>(
    state: &Service,
    body: RawBody<models::ProduceRequest, M>,
) -> Result<ProduceRequest, ProxyError> {
    let format = body
        .content_type()
        .and_then(EmbeddedFormat::from_media_type)
        .ok_or(ProxyError::UnsupportedMediaType)?;
    let bytes = super::read_body(
        body.into_body(),
        state.http.request_body_max_bytes,
        state.http.request_body_timeout,
    )
    .await?;
    Ok(ProduceRequest::decode_v2(format, &bytes)?)
}

/// The v2 produce response: one entry per record, in request order, as the JSON serde writes
/// for a `models::ProduceResponse` (a test compares them). Written by hand: serde's generic
/// path cost about a tenth of a 100-record request's instructions.
fn produce_response<M>(produced: &Produced) -> Vnd<M, models::ProduceResponse> {
    // About 60 bytes per delivered record.
    let mut out = Vec::with_capacity(64 + 64 * produced.outcomes.len());
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(br#"{"offsets":["#);
    for (i, outcome) in produced.outcomes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match outcome {
            RecordOutcome::Delivered { partition, offset } => {
                out.extend_from_slice(br#"{"partition":"#);
                out.extend_from_slice(numbers.format(*partition).as_bytes());
                out.extend_from_slice(br#","offset":"#);
                out.extend_from_slice(numbers.format(*offset).as_bytes());
                out.extend_from_slice(br#","error_code":null,"error":null}"#);
            }
            RecordOutcome::Failed(f) => {
                out.extend_from_slice(br#"{"partition":null,"offset":null,"error_code":"#);
                out.extend_from_slice(numbers.format(record_error_code(f.kind)).as_bytes());
                out.extend_from_slice(br#","error":"#);
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &f.message);
                out.push(b'}');
            }
        }
    }
    for (name, id) in [
        (&br#"],"key_schema_id":"#[..], produced.key_schema_id),
        (br#","value_schema_id":"#, produced.value_schema_id),
    ] {
        out.extend_from_slice(name);
        match id {
            Some(id) => out.extend_from_slice(numbers.format(id).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    Vnd::encoded(out)
}

/// The operations tagged `produce`.
impl v2::ProduceApi for Service {
    type Error = ProxyError;

    /// `POST /topics/{topic}`: produce records; each goes to its own `partition`, else where the
    /// key's murmur2 hash (or, without a key, the partitioner) puts it.
    async fn produce_to_topic(
        &self,
        _request: &Request,
        topic: String,
        body: RawBody<models::ProduceRequest, vnd::ProduceToTopicBody>,
    ) -> Result<v2::ProduceToTopicResponse, ProxyError> {
        let request = decode(self, body).await?;
        let produced = self
            .services
            .produce_for_caller()
            .map_err(ProxyError::internal)?
            .produce(&topic, None, request)
            .await?;
        let refused_for = produced.refused_for();
        let body = produce_response(&produced);
        Ok(match refused_for {
            Some(FailureKind::Authentication) => ProduceToTopicResponse::Unauthorized(body),
            Some(FailureKind::Authorization) => ProduceToTopicResponse::Forbidden(body),
            _ => ProduceToTopicResponse::Ok(body),
        })
    }

    /// `POST /topics/{topic}/partitions/{partition}`: produce records to one partition (a record's
    /// own `partition` still wins).
    async fn produce_to_partition(
        &self,
        _request: &Request,
        topic: String,
        raw_partition: Lenient<i32>,
        body: RawBody<models::ProduceRequest, vnd::ProduceToPartitionBody>,
    ) -> Result<v2::ProduceToPartitionResponse, ProxyError> {
        let partition = super::topics::partition_id(raw_partition)?;
        let request = decode(self, body).await?;
        let produced = self
            .services
            .produce_for_caller()
            .map_err(ProxyError::internal)?
            .produce(&topic, Some(partition), request)
            .await?;
        let refused_for = produced.refused_for();
        let body = produce_response(&produced);
        Ok(match refused_for {
            Some(FailureKind::Authentication) => ProduceToPartitionResponse::Unauthorized(body),
            Some(FailureKind::Authorization) => ProduceToPartitionResponse::Forbidden(body),
            _ => ProduceToPartitionResponse::Ok(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::{DeliveryFailure, FailureKind};
    use kafka_rest_api::Nullable;
    use poem::IntoResponse;

    /// The response as serde writes the model.
    fn with_serde(produced: &Produced) -> Vec<u8> {
        let offsets = produced
            .outcomes
            .iter()
            .map(|o| match o {
                RecordOutcome::Delivered { partition, offset } => models::ProduceOffset {
                    partition: Nullable(Some(*partition)),
                    offset: Nullable(Some(*offset)),
                    error_code: Nullable(None),
                    error: Nullable(None),
                },
                RecordOutcome::Failed(f) => models::ProduceOffset {
                    partition: Nullable(None),
                    offset: Nullable(None),
                    error_code: Nullable(Some(record_error_code(f.kind))),
                    error: Nullable(Some(f.message.clone())),
                },
            })
            .collect();
        serde_json::to_vec(&models::ProduceResponse {
            offsets,
            key_schema_id: Nullable(produced.key_schema_id),
            value_schema_id: Nullable(produced.value_schema_id),
        })
        .expect("serializes")
    }

    async fn by_hand(produced: &Produced) -> Vec<u8> {
        let response = produce_response::<vnd::KafkaV2>(produced).into_response();
        response
            .into_body()
            .into_vec()
            .await
            .expect("a body in memory")
    }

    #[tokio::test]
    async fn the_hand_written_response_is_what_serde_writes() {
        let failed = |kind, message: &str| {
            RecordOutcome::Failed(DeliveryFailure {
                kind,
                message: message.to_string(),
            })
        };
        for produced in [
            Produced {
                outcomes: vec![],
                key_schema_id: None,
                value_schema_id: None,
            },
            Produced {
                outcomes: vec![
                    RecordOutcome::Delivered {
                        partition: 0,
                        offset: 0,
                    },
                    RecordOutcome::Delivered {
                        partition: 2_147_483_647,
                        offset: i64::MAX,
                    },
                    failed(FailureKind::Retriable, "Local: Message timed out"),
                    failed(FailureKind::Other, "invalid"),
                    failed(
                        FailureKind::TooLarge,
                        "quote \" backslash \\ tab \t é \u{1}",
                    ),
                    failed(FailureKind::Authorization, ""),
                    RecordOutcome::Delivered {
                        partition: 1,
                        offset: -1,
                    },
                ],
                key_schema_id: Some(1),
                value_schema_id: Some(2_000_000),
            },
            Produced {
                outcomes: vec![failed(FailureKind::Authentication, "SASL")],
                key_schema_id: None,
                value_schema_id: Some(-1),
            },
        ] {
            let hand = by_hand(&produced).await;
            assert_eq!(
                String::from_utf8_lossy(&hand),
                String::from_utf8_lossy(&with_serde(&produced))
            );
        }
    }
}
