//! The produce operations of `KafkaRestV2`: `POST /topics/{topic}` and
//! `POST /topics/{topic}/partitions/{partition}`.
//!
//! Owns the HTTP side of producing: the embedded format from `Content-Type`, reading the body
//! within its limits, and the v2 produce response with one entry per record in request order
//! (`docs/decisions.md` §14), answered 401/403 when a record failed for its credentials.
//! Decoding is `records/`; the checks, schemas and sending are the produce service's
//! (`produce::Produce`).

use kafka_rest_api::{
    media as vnd, models, Lenient, Nullable, ProduceToPartitionResponse, ProduceToTopicResponse,
    RawBody, Vnd,
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

/// The v2 produce response: one entry per record, in request order.
fn produce_response(produced: Produced) -> models::ProduceResponse {
    let offsets = produced
        .outcomes
        .into_iter()
        .map(|o| match o {
            RecordOutcome::Delivered { partition, offset } => models::ProduceOffset {
                partition: Nullable(Some(partition)),
                offset: Nullable(Some(offset)),
                error_code: Nullable(None),
                error: Nullable(None),
            },
            RecordOutcome::Failed(f) => models::ProduceOffset {
                partition: Nullable(None),
                offset: Nullable(None),
                error_code: Nullable(Some(record_error_code(f.kind))),
                error: Nullable(Some(f.message)),
            },
        })
        .collect();
    models::ProduceResponse {
        offsets,
        key_schema_id: Nullable(produced.key_schema_id),
        value_schema_id: Nullable(produced.value_schema_id),
    }
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
        let body = Vnd::new(produce_response(produced));
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
        let body = Vnd::new(produce_response(produced));
        Ok(match refused_for {
            Some(FailureKind::Authentication) => ProduceToPartitionResponse::Unauthorized(body),
            Some(FailureKind::Authorization) => ProduceToPartitionResponse::Forbidden(body),
            _ => ProduceToPartitionResponse::Ok(body),
        })
    }
}
