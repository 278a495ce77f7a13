//! The produce operations of `KafkaRestV2`: `POST /topics/{topic}` and
//! `POST /topics/{topic}/partitions/{partition}`.
//!
//! Owns the HTTP side of producing: the embedded format from `Content-Type`, the body size
//! limit, the checks that the topic and every target partition exist (404 at once instead of a
//! hang, decisions 2), and the v2 produce response with one entry per record in request order
//! (decisions 14). Decoding is `records/`, schema resolution and conversion of the schema formats
//! is `schema/`, sending is `produce/`.

use kafka_rest_api::{
    media as vnd, models, Lenient, Nullable, ProduceToPartitionResponse, ProduceToTopicResponse,
    RawBody, Vnd,
};

use super::topics::partition_id;
use crate::app::AppState;
use crate::error::ProxyError;
use crate::metadata::MetadataError;
use crate::produce::{FailureKind, RecordOutcome};
use crate::records::{self, EmbeddedFormat, RecordError};
use crate::schema::{SchemaError, SchemaFormat};

impl From<RecordError> for ProxyError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::MalformedJson(message) => ProxyError::MalformedJson { message },
            RecordError::WrongShape(message) => ProxyError::BadRequest { message },
            RecordError::UnknownField(field) => ProxyError::UnrecognizedField { field },
            RecordError::Empty(message) => ProxyError::Unprocessable {
                message: message.to_string(),
            },
            e @ RecordError::InvalidRecord { .. } => ProxyError::InvalidRecord {
                message: e.to_string(),
            },
        }
    }
}

impl From<SchemaError> for ProxyError {
    fn from(e: SchemaError) -> Self {
        if e.is_registry_forbidden() {
            return ProxyError::SchemaRegistryForbidden {
                message: e.to_string(),
            };
        }
        match e {
            SchemaError::RegistryNotConfigured => ProxyError::SchemaRegistryNotConfigured,
            SchemaError::KeySchemaMissing => ProxyError::KeySchemaMissing,
            SchemaError::ValueSchemaMissing => ProxyError::ValueSchemaMissing,
            e @ SchemaError::SchemaAndId { .. } => ProxyError::Unprocessable {
                message: e.to_string(),
            },
            e @ SchemaError::InvalidSchema { .. } => ProxyError::InvalidSchema {
                message: e.to_string(),
            },
            e @ (SchemaError::Registry { .. } | SchemaError::SchemaMismatch(_)) => {
                tracing::info!(error = %crate::error::ErrorChain(&e), "schema registry call failed");
                ProxyError::SchemaRegistry {
                    message: e.to_string(),
                }
            }
            e @ SchemaError::InvalidRecord { .. } => ProxyError::InvalidRecord {
                message: e.to_string(),
            },
        }
    }
}

/// How a produce went as a whole: the status of its answer (confluent-v2-api 2.4).
enum Produced {
    /// 200, also when some records failed.
    Ok(models::ProduceResponse),
    /// 401: a record failed for authentication.
    Unauthenticated(models::ProduceResponse),
    /// 403: a record failed for authorization.
    Unauthorized(models::ProduceResponse),
}

/// `POST /topics/{topic}`: produce records; each goes to its own `partition`, else where the
/// key's murmur2 hash (or, without a key, the partitioner) puts it.
pub async fn produce_to_topic(
    state: &AppState,
    topic: String,
    body: RawBody<models::ProduceRequest, vnd::ProduceToTopicBody>,
) -> Result<ProduceToTopicResponse, ProxyError> {
    let (content_type, body) = (body.content_type().map(str::to_owned), body.into_body());
    Ok(
        match produce(state, topic, None, content_type, body).await? {
            Produced::Ok(r) => ProduceToTopicResponse::Ok(Vnd::new(r)),
            Produced::Unauthenticated(r) => ProduceToTopicResponse::Unauthorized(Vnd::new(r)),
            Produced::Unauthorized(r) => ProduceToTopicResponse::Forbidden(Vnd::new(r)),
        },
    )
}

/// `POST /topics/{topic}/partitions/{partition}`: produce records to one partition (a record's
/// own `partition` still wins).
pub async fn produce_to_partition(
    state: &AppState,
    topic: String,
    raw_partition: Lenient<i32>,
    body: RawBody<models::ProduceRequest, vnd::ProduceToPartitionBody>,
) -> Result<ProduceToPartitionResponse, ProxyError> {
    let partition = partition_id(&topic, raw_partition)?;
    let (content_type, body) = (body.content_type().map(str::to_owned), body.into_body());
    Ok(
        match produce(state, topic, Some(partition), content_type, body).await? {
            Produced::Ok(r) => ProduceToPartitionResponse::Ok(Vnd::new(r)),
            Produced::Unauthenticated(r) => ProduceToPartitionResponse::Unauthorized(Vnd::new(r)),
            Produced::Unauthorized(r) => ProduceToPartitionResponse::Forbidden(Vnd::new(r)),
        },
    )
}

async fn produce(
    state: &AppState,
    topic: String,
    path_partition: Option<i32>,
    content_type: Option<String>,
    body: poem::Body,
) -> Result<Produced, ProxyError> {
    let format = content_type
        .as_deref()
        .and_then(EmbeddedFormat::from_media_type)
        .ok_or(ProxyError::UnsupportedMediaType)?;
    let bytes = super::read_body(
        body,
        state.request_body_max_bytes,
        state.request_body_timeout,
    )
    .await?;
    match SchemaFormat::of(format) {
        None => {
            let batch = records::decode_produce(format, &bytes)?;
            let targets = batch.records.iter().map(|r| r.partition);
            check_partitions(state, &topic, path_partition, targets).await?;
            let outcomes = state
                .producers
                .produce(&topic, path_partition, &batch.records)
                .await;
            Ok(produce_response(outcomes, None, None))
        }
        Some(schema_format) => {
            let batch = records::decode_schema_produce(&bytes)?;
            let targets = batch.records.iter().map(|r| r.partition);
            // The topic is checked before any schema is registered for it.
            check_partitions(state, &topic, path_partition, targets).await?;
            let encoded = state
                .schemas
                .encode_batch(&topic, schema_format, batch)
                .await?;
            let outcomes = state
                .producers
                .produce(&topic, path_partition, &encoded.records)
                .await;
            Ok(produce_response(
                outcomes,
                encoded.key_schema_id,
                encoded.value_schema_id,
            ))
        }
    }
}

/// 404 before anything is sent when the topic or a target partition does not exist, unless the
/// broker creates topics on first use (then the produce creates it, decisions 2).
async fn check_partitions(
    state: &AppState,
    topic: &str,
    path_partition: Option<i32>,
    record_partitions: impl Iterator<Item = Option<i32>> + Clone,
) -> Result<(), ProxyError> {
    let targets = || {
        record_partitions
            .clone()
            .filter_map(|p| p.or(path_partition))
    };
    let partitions = match state.metadata.partitions(topic).await {
        Ok(p) => p,
        Err(MetadataError::UnknownTopic { .. })
            if path_partition.is_none()
                && targets().next().is_none()
                && state.metadata.broker_auto_creates_topics().await =>
        {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let known = |p: i32| partitions.iter().any(|info| info.partition == p);
    if let Some(missing) = targets().find(|&p| !known(p)) {
        // The partition may be new: look once more before refusing.
        let fresh = state.metadata.partitions_refreshed(topic).await?;
        if !fresh.iter().any(|info| info.partition == missing) {
            return Err(ProxyError::PartitionNotFound {
                topic: topic.to_string(),
                partition: missing,
            });
        }
    }
    Ok(())
}

/// The v2 produce response; 401/403 when a record failed for authentication/authorization,
/// else 200 even when some records failed (confluent-v2-api 2.4).
fn produce_response(
    outcomes: Vec<RecordOutcome>,
    key_schema_id: Option<i32>,
    value_schema_id: Option<i32>,
) -> Produced {
    let mut status = None;
    let offsets = outcomes
        .into_iter()
        .map(|o| match o {
            RecordOutcome::Delivered { partition, offset } => models::ProduceOffset {
                partition: Nullable(Some(partition)),
                offset: Nullable(Some(offset)),
                error_code: Nullable(None),
                error: Nullable(None),
            },
            RecordOutcome::Failed(f) => {
                let code = match f.kind {
                    FailureKind::Authentication => 40101,
                    FailureKind::Authorization => 40301,
                    FailureKind::Retriable => 50003,
                    FailureKind::Other => 50002,
                };
                if status.is_none() {
                    status = match f.kind {
                        FailureKind::Authentication => Some(FailureKind::Authentication),
                        FailureKind::Authorization => Some(FailureKind::Authorization),
                        _ => None,
                    };
                }
                models::ProduceOffset {
                    partition: Nullable(None),
                    offset: Nullable(None),
                    error_code: Nullable(Some(code)),
                    error: Nullable(Some(f.message)),
                }
            }
        })
        .collect();
    let body = models::ProduceResponse {
        offsets,
        key_schema_id: Nullable(key_schema_id),
        value_schema_id: Nullable(value_schema_id),
    };
    match status {
        Some(FailureKind::Authentication) => Produced::Unauthenticated(body),
        Some(FailureKind::Authorization) => Produced::Unauthorized(body),
        _ => Produced::Ok(body),
    }
}
