//! `ProxyError`, the only error type handlers return, and its table to
//! `(HTTP status, error_code, message)`.
//!
//! This is the single place where status codes, Confluent error codes and client messages are
//! chosen (`docs/decisions.md`, "Error codes"): the table, the per-record codes of a produce
//! answer, and every `From<service error> for ProxyError`. Services return their own error
//! enums; `src/api/` converts them into `ProxyError` with `?`. Every error body is
//! `{"error_code": N, "message": "..."}`, including the framework's own 404/405/406/413/415
//! answers, which [`catch_all`] rewrites. 5xx answers are logged with the whole source chain.

use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::Response;
use rdkafka::error::KafkaError;
use serde::Serialize;

pub use crate::log::ErrorChain;

use crate::admin::acls::AclError;
use crate::admin::groups::GroupsError;
use crate::admin::{AdminError, FfiError};
use crate::consume::ConsumeError;
use crate::fetch::FetchError;
use crate::kafka_error::{self, AdminErrorClass, KafkaErrorClass};
use crate::metadata::MetadataError;
use crate::produce::{FailureKind, ProduceError, RecordFailure};
use crate::records::RecordError;
use crate::schema::registry::RegistryError;
use crate::schema::SchemaError;

/// The media type of every non-records response, errors included.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// Everything a request can fail with, in client-facing terms.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Topic not found.")]
    TopicNotFound { topic: String },
    /// A partition that does not exist, or a partition path segment that names none. The
    /// client message never names it, so the variant carries nothing.
    #[error("Partition not found.")]
    PartitionNotFound,
    /// A stateless read from an offset outside the partition's offsets; the message gives the
    /// valid range (`docs/decisions.md` §49).
    #[error("{message}")]
    OffsetOutOfRange { message: String },
    /// Every client of the stateless read pool stayed busy (`fetch.pool.wait.ms`); a retry may
    /// succeed (`docs/decisions.md` §50).
    #[error("{message}")]
    ReadPoolBusy { message: String },
    #[error("HTTP 404 Not Found")]
    RouteNotFound,
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    #[error("HTTP 406 Not Acceptable")]
    NotAcceptable,
    #[error("HTTP 413 Payload Too Large")]
    PayloadTooLarge,
    /// The client did not send the whole body within `request.body.timeout.ms`.
    #[error("Request body not received within {timeout_ms} ms.")]
    BodyTimeout { timeout_ms: u128 },
    /// The proxy cannot reach Kafka (readiness probe).
    #[error("Not ready: Kafka metadata is unreachable.")]
    NotReady {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("HTTP 415 Unsupported Media Type")]
    UnsupportedMediaType,
    /// A body that is not JSON, JSON of the wrong shape, or a query parameter of the wrong
    /// type; the message is the parser's.
    #[error("{message}")]
    BadRequest { message: String },
    /// A request field the v2 API does not know (`docs/decisions.md` §4).
    #[error("Unrecognized field: {field}")]
    UnrecognizedField { field: String },
    /// A request that is well-formed JSON but breaks a rule: no body, no records, a missing
    /// field, a value out of range.
    #[error("{message}")]
    InvalidRequest { message: String },
    /// A record whose data is invalid for its embedded format (`docs/decisions.md` §3).
    #[error("{message}")]
    InvalidRecord { message: String },
    /// A schema-format request with keys but no key schema.
    #[error("Request includes keys but does not include key schema")]
    KeySchemaMissing,
    /// A schema-format request with values but no value schema.
    #[error("Request includes values but does not include value schema")]
    ValueSchemaMissing,
    /// Schema text that does not parse, or a registry schema this proxy cannot use.
    #[error("Invalid schema: {message}")]
    InvalidSchema { message: String },
    /// A schema format used while `schema.registry.url` is empty.
    #[error("Payload error. Schema Registry must be configured when using schemas.")]
    SchemaRegistryNotConfigured,
    /// The registry failed or refused (unreachable, incompatible schema, id not under the
    /// subject); the message carries the registry's own words.
    #[error("{message}")]
    SchemaRegistry { message: String },
    /// The registry refused the proxy's credentials.
    #[error("{message}")]
    SchemaRegistryForbidden { message: String },
    #[error("Consumer instance not found.")]
    ConsumerInstanceNotFound { group: String, instance: String },
    #[error("Consumer with specified consumer ID already exists in the specified consumer group.")]
    ConsumerAlreadyExists { group: String, instance: String },
    /// A consumer call that Kafka's state does not allow (subscribe while assigned, seek of an
    /// unassigned partition, reading before subscribe or assign).
    #[error("Illegal state: {message}")]
    IllegalState { message: String },
    /// A records call whose `Accept` asks for another reader than the instance's format.
    #[error("The requested embedded data format does not match the deserializer for this consumer instance")]
    ConsumerFormatMismatch,
    /// Consumed bytes that the instance's format cannot read.
    #[error("{message}")]
    Deserialization { message: String },
    #[error("Invalid consumer configuration: {message}")]
    InvalidConsumerConfig { message: String },
    /// A create-consumer value outside its allowed range (`fetch.min.bytes`).
    #[error("Invalid consumer configuration. It does not abide by the constraints: {message}")]
    InvalidConsumerConfigConstraint { message: String },
    #[error("Too many consumer instances: the limit of {limit} is reached")]
    TooManyConsumerInstances { limit: usize },
    /// The registry cannot serve a schema a records call needs now (unreachable, server
    /// error); the message names the record and the registry's answer.
    #[error("Schema Registry unavailable: {message}")]
    SchemaRegistryUnavailable { message: String },
    /// Kafka failed in a way a retry may fix (timeouts, no leader, transport), as
    /// `kafka_error` classifies it. The client message adds the Kafka error's own text, as
    /// Confluent's does; the log gets the whole chain.
    #[error("Kafka error: {operation}")]
    KafkaRetriable {
        operation: &'static str,
        #[source]
        source: KafkaError,
    },
    /// No blocking Kafka call could start in time (`kafka.blocking.calls.max` permits all
    /// taken, or an abandoned call still holds the consumer instance): a retry may succeed, so
    /// it answers like a retriable Kafka error.
    #[error("Kafka error: {operation}: the proxy is busy with other Kafka calls, retry later")]
    KafkaBusy {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Kafka failed for good.
    #[error("Kafka error: {operation}")]
    Kafka {
        operation: &'static str,
        #[source]
        source: KafkaError,
    },
    /// A bug or an unexpected state; the client sees nothing but "Internal Server Error".
    #[error("Internal Server Error")]
    Internal {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    // ---- v3 admin: the administration API (`AdminError` maps here, Confluent's v3 codes:
    // `docs/decisions.md`, "v3 API"). Kafka's refusals carry Kafka's own message.
    /// A v3 path naming another cluster than the connected one.
    #[error("Cluster {cluster_id} cannot be found.")]
    V3ClusterNotFound { cluster_id: String },
    /// A v3 resource that does not exist (a topic read, a partition, broker, replica or
    /// config): Confluent's bare 404. `what` is for the log only.
    #[error("HTTP 404 Not Found")]
    V3NotFound { what: String },
    /// A config change naming a config the resource does not have.
    #[error("{message}")]
    V3ConfigNotFound { message: String },
    /// Kafka refused an administrative request (an existing topic, a bad replication factor,
    /// partition count or config, a policy).
    #[error("{message}")]
    V3KafkaRefused { message: String },
    /// Kafka does not know the topic or partition a change or a config read names.
    #[error("{message}")]
    V3UnknownTopicOrPartition { message: String },
    /// Kafka rejected the proxy's credentials.
    #[error("{message}")]
    V3KafkaUnauthenticated { message: String },
    /// Kafka does not allow the proxy this call.
    #[error("{message}")]
    V3KafkaForbidden { message: String },
    /// No broker could serve the call.
    #[error("{message}")]
    V3BrokerNotAvailable { message: String },
    /// Kafka throttled the call.
    #[error("{message}")]
    V3KafkaThrottled { message: String },
    /// A v3 call failed in a way a retry may fix (a timeout, a leader move).
    #[error("{message}")]
    V3KafkaRetriable {
        message: String,
        #[source]
        source: AdminError,
    },
    /// A v3 call failed for good.
    #[error("{message}")]
    V3Kafka {
        message: String,
        #[source]
        source: AdminError,
    },
    /// A v3 request body that is missing or breaks a payload rule (Confluent's 42206).
    #[error("Payload error. {message}")]
    V3PayloadError { message: String },
    /// A v3 operation this proxy cannot answer truthfully (`docs/decisions.md`, "Partition
    /// reassignments").
    #[error("{message}")]
    V3NotImplemented { message: String },
    /// A `records:batch` request with no entries, too many, or two with one id
    /// (Confluent's 42208).
    #[error("{message}")]
    V3InvalidBatch { message: String },
    /// A v3 produce request over the produce rate limits; answered with `Retry-After`.
    #[error(
        "Request rate limit exceeded: The rate limit of requests per second has been exceeded."
    )]
    V3RateLimited { retry_after_secs: u64 },

    // ---- v3 consumer groups and ACLs (`src/admin/{groups,lags,acls}.rs`; Kafka's own
    // failures of those calls come as `AdminError` and use the v3 admin variants above).
    /// A consumer group, member, assignment or lag that does not exist, or a group without
    /// committed offsets or lags; the message is Confluent's for each case.
    #[error("{message}")]
    GroupsNotFound { message: String },
    /// An ACL or offset-reset request Confluent (or the extension's contract) refuses, such
    /// as ANY in a new ACL; the message is Confluent's.
    #[error("{message}")]
    GroupsBadRequest { message: String },
    /// Deleting a group, or resetting its offsets, while it has members: refused as Kafka
    /// refuses a delete, with Kafka's message (the OpenAPI contract).
    #[error("The group is not empty.")]
    GroupNotEmpty { group: String, members: usize },
}

/// The JSON error body of the Confluent REST Proxy.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error_code: u32,
    pub message: String,
}

impl ProxyError {
    /// The table: HTTP status and Confluent `error_code` of each variant.
    pub fn status_and_code(&self) -> (StatusCode, u32) {
        use ProxyError::*;
        match self {
            TopicNotFound { .. } => (StatusCode::NOT_FOUND, 40401),
            PartitionNotFound => (StatusCode::NOT_FOUND, 40402),
            OffsetOutOfRange { .. } => (StatusCode::NOT_FOUND, 40402),
            ReadPoolBusy { .. } => (StatusCode::SERVICE_UNAVAILABLE, 503),
            RouteNotFound => (StatusCode::NOT_FOUND, 404),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 405),
            NotAcceptable => (StatusCode::NOT_ACCEPTABLE, 406),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 413),
            BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, 408),
            NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, 503),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415),
            BadRequest { .. } => (StatusCode::BAD_REQUEST, 400),
            UnrecognizedField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 422),
            InvalidRecord { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            KeySchemaMissing => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            ValueSchemaMissing => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            InvalidSchema { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42205),
            SchemaRegistryNotConfigured => (StatusCode::UNPROCESSABLE_ENTITY, 42206),
            SchemaRegistry { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42207),
            SchemaRegistryForbidden { .. } => (StatusCode::FORBIDDEN, 40301),
            InvalidRequest { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 422),
            ConsumerInstanceNotFound { .. } => (StatusCode::NOT_FOUND, 40403),
            ConsumerAlreadyExists { .. } => (StatusCode::CONFLICT, 40902),
            IllegalState { .. } => (StatusCode::CONFLICT, 40903),
            ConsumerFormatMismatch => (StatusCode::NOT_ACCEPTABLE, 40601),
            Deserialization { .. } => (StatusCode::REQUEST_TIMEOUT, 40801),
            InvalidConsumerConfig { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42204),
            InvalidConsumerConfigConstraint { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 40001),
            TooManyConsumerInstances { .. } => (StatusCode::TOO_MANY_REQUESTS, 429),
            SchemaRegistryUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, 503),
            KafkaRetriable { .. } | KafkaBusy { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50003),
            Kafka { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
            Internal { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 500),
            // v3 admin
            V3ClusterNotFound { .. } | V3NotFound { .. } | V3ConfigNotFound { .. } => {
                (StatusCode::NOT_FOUND, 404)
            }
            V3KafkaRefused { .. } => (StatusCode::BAD_REQUEST, 40002),
            V3UnknownTopicOrPartition { .. } => (StatusCode::NOT_FOUND, 40403),
            V3KafkaUnauthenticated { .. } => (StatusCode::UNAUTHORIZED, 40101),
            V3KafkaForbidden { .. } => (StatusCode::FORBIDDEN, 40301),
            V3BrokerNotAvailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, 50302),
            V3KafkaThrottled { .. } => (StatusCode::TOO_MANY_REQUESTS, 42901),
            V3KafkaRetriable { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50003),
            V3Kafka { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
            V3PayloadError { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42206),
            V3NotImplemented { .. } => (StatusCode::NOT_IMPLEMENTED, 501),
            V3InvalidBatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42208),
            V3RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, 429),
            // v3 consumer groups and ACLs: in v3 the code of an answer the proxy chooses is
            // its HTTP status.
            GroupsNotFound { .. } => (StatusCode::NOT_FOUND, 404),
            GroupsBadRequest { .. } => (StatusCode::BAD_REQUEST, 400),
            GroupNotEmpty { .. } => (StatusCode::BAD_REQUEST, 40002),
        }
    }

    /// The message clients get: the `Display` text, plus the Kafka error's own text for the
    /// two Kafka variants (Confluent's "Kafka error: ..." answers carry it).
    pub fn message(&self) -> String {
        match self {
            ProxyError::KafkaRetriable { source, .. } | ProxyError::Kafka { source, .. } => {
                format!("{self}: {source}")
            }
            _ => self.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.status_and_code().1,
            message: self.message(),
        }
    }

    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ProxyError::Internal {
            source: source.into(),
        }
    }
}

/// The second table: the `error_code` of a record that failed in an otherwise accepted produce
/// request (the answer's `offsets[].error_code`), by the class of its failure.
pub fn record_error_code(kind: FailureKind) -> i32 {
    match kind {
        FailureKind::Authentication => 40101,
        FailureKind::Authorization => 40301,
        FailureKind::Retriable => 50003,
        FailureKind::TooLarge | FailureKind::Other => 50002,
    }
}

/// The third table: the result line of one record of a v3 produce that failed (Confluent's
/// streaming mapper, `docs/decisions.md` §55). Kafka's failures keep their class's code
/// (`413` for a record too large); a refused record answers the code of the request error it
/// would have been, except that a `422` moves its five-digit code into the message
/// ("Error: 42207 : ...") and a record that does not fit its schema is a `400`.
pub fn v3_record_error(failure: RecordFailure) -> ErrorBody {
    match failure {
        RecordFailure::Delivery(f) => ErrorBody {
            error_code: match f.kind {
                FailureKind::TooLarge => 413,
                FailureKind::Authentication => 40101,
                FailureKind::Authorization => 40301,
                FailureKind::Retriable => 50003,
                FailureKind::Other => 50002,
            },
            message: f.message,
        },
        RecordFailure::Refused(ProduceError::Schema(SchemaError::InvalidRecord {
            side,
            problem,
            ..
        })) => v3_bad_record(&format!("{side} {problem}")),
        RecordFailure::Refused(e) => {
            let e = ProxyError::from(e);
            let (status, code) = e.status_and_code();
            if status.is_server_error() {
                tracing::warn!(error = %ErrorChain(&e), "a produced record failed");
            }
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                ErrorBody {
                    error_code: 422,
                    message: format!("Error: {code} : {}", e.message()),
                }
            } else {
                ErrorBody {
                    error_code: code,
                    message: e.message(),
                }
            }
        }
    }
}

/// The result line of a v3 produce record that breaks a rule of the request format.
pub fn v3_bad_record(message: &str) -> ErrorBody {
    // Confluent cuts per-record messages at the first line break, as they are lines.
    let first = message.lines().next().unwrap_or_default();
    ErrorBody {
        error_code: 400,
        message: format!("Bad Request: {first}"),
    }
}

impl ProxyError {
    /// A Kafka failure of `operation`: 50003 when a retry may fix it, else 50002.
    fn kafka(operation: &'static str, source: KafkaError) -> ProxyError {
        if kafka_error::classify(&source).is_retriable() {
            ProxyError::KafkaRetriable { operation, source }
        } else {
            ProxyError::Kafka { operation, source }
        }
    }
}

impl From<RecordError> for ProxyError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::MalformedJson(message) | RecordError::WrongShape(message) => {
                ProxyError::BadRequest { message }
            }
            RecordError::UnknownField(field) => ProxyError::UnrecognizedField { field },
            RecordError::Empty(message) => ProxyError::InvalidRequest {
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
            e @ SchemaError::SchemaAndId { .. } => ProxyError::InvalidRequest {
                message: e.to_string(),
            },
            e @ SchemaError::InvalidSchema { .. } => ProxyError::InvalidSchema {
                message: e.to_string(),
            },
            e @ (SchemaError::Registry { .. } | SchemaError::SchemaMismatch(_)) => {
                tracing::info!(error = %ErrorChain(&e), "schema registry call failed");
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

impl From<MetadataError> for ProxyError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::UnknownTopic { topic } => ProxyError::TopicNotFound { topic },
            MetadataError::UnknownPartition { .. } => ProxyError::PartitionNotFound,
            MetadataError::Request(source) => ProxyError::kafka("metadata request", source),
            MetadataError::Busy(source) => ProxyError::KafkaBusy {
                operation: "metadata request",
                source: source.into(),
            },
            other => ProxyError::internal(other),
        }
    }
}

impl From<ProduceError> for ProxyError {
    fn from(e: ProduceError) -> Self {
        match e {
            ProduceError::Metadata(e) => e.into(),
            ProduceError::PartitionNotFound { .. } => ProxyError::PartitionNotFound,
            ProduceError::Schema(e) => e.into(),
        }
    }
}

impl From<ConsumeError> for ProxyError {
    fn from(e: ConsumeError) -> Self {
        match e {
            ConsumeError::InstanceNotFound { group, instance } => {
                ProxyError::ConsumerInstanceNotFound { group, instance }
            }
            ConsumeError::InstanceExists { group, instance } => {
                ProxyError::ConsumerAlreadyExists { group, instance }
            }
            ConsumeError::TooManyInstances { limit } => {
                ProxyError::TooManyConsumerInstances { limit }
            }
            ConsumeError::InvalidConfig { key, value, reason } => {
                ProxyError::InvalidConsumerConfig {
                    message: format!("Invalid value {value} for configuration {key}: {reason}"),
                }
            }
            e @ ConsumeError::FetchMinBytesOutOfRange { .. } => {
                ProxyError::InvalidConsumerConfigConstraint {
                    message: e.to_string(),
                }
            }
            ConsumeError::Create(source) => ProxyError::InvalidConsumerConfig {
                message: source.to_string(),
            },
            ConsumeError::IllegalState { message } => ProxyError::IllegalState { message },
            ConsumeError::InvalidPattern { pattern, source } => {
                tracing::debug!(error = %source, "bad topic_pattern");
                ProxyError::InvalidRequest {
                    message: format!("Invalid topic_pattern: {pattern}"),
                }
            }
            ConsumeError::PatternRejected { pattern } => ProxyError::InvalidRequest {
                message: format!("Invalid topic_pattern: {pattern}"),
            },
            e @ ConsumeError::InvalidOffset { .. } => ProxyError::InvalidRequest {
                message: e.to_string(),
            },
            ConsumeError::FormatMismatch { .. } => ProxyError::ConsumerFormatMismatch,
            ConsumeError::RegistryNotConfigured => ProxyError::SchemaRegistryNotConfigured,
            e @ ConsumeError::Undecodable { .. } => ProxyError::Deserialization {
                message: registry_message(&e),
            },
            e @ ConsumeError::RegistryUnavailable { .. } => {
                tracing::warn!(error = %ErrorChain(&e), "schema registry unavailable while reading records");
                ProxyError::SchemaRegistryUnavailable {
                    message: registry_message(&e),
                }
            }
            e @ ConsumeError::RegistryForbidden { .. } => ProxyError::SchemaRegistryForbidden {
                message: registry_message(&e),
            },
            ConsumeError::Kafka { operation, source } => match kafka_error::classify(&source) {
                // Kafka does not know a partition the request named (a commit to a partition
                // that does not exist): the client's mistake, as on produce.
                KafkaErrorClass::UnknownTopicOrPartition => ProxyError::PartitionNotFound,
                _ => ProxyError::kafka(operation, source),
            },
            ConsumeError::Metadata(source) => source.into(),
            ConsumeError::Busy { operation, source } => ProxyError::KafkaBusy {
                operation,
                source: source.into(),
            },
            e @ ConsumeError::InstanceBusy { operation } => ProxyError::KafkaBusy {
                operation,
                source: e.into(),
            },
            other => ProxyError::internal(other),
        }
    }
}

// ---- v3 consumer groups and ACLs: conversions ----

impl From<GroupsError> for ProxyError {
    fn from(e: GroupsError) -> Self {
        let not_found = |message: String| ProxyError::GroupsNotFound { message };
        match e {
            GroupsError::GroupNotFound { group } => {
                not_found(format!("Consumer Group {group} could not be found."))
            }
            GroupsError::ConsumerNotFound { .. }
            | GroupsError::AssignmentNotFound { .. }
            | GroupsError::LagNotFound { .. } => not_found("HTTP 404 Not Found".to_string()),
            GroupsError::OffsetsNotFound { .. } => {
                not_found("Consumer group offsets could not be found.".to_string())
            }
            GroupsError::LagsNotFound { .. } => not_found("Consumer lags not found.".to_string()),
            GroupsError::GroupNotEmpty { group, members } => {
                ProxyError::GroupNotEmpty { group, members }
            }
            GroupsError::InvalidReset { message } => ProxyError::GroupsBadRequest { message },
            GroupsError::Admin(e) => e.into(),
        }
    }
}

impl From<AclError> for ProxyError {
    fn from(e: AclError) -> Self {
        match e {
            AclError::Invalid { message } => ProxyError::GroupsBadRequest { message },
            AclError::Admin(e) => e.into(),
        }
    }
}

impl From<AdminError> for ProxyError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::ClusterNotFound { cluster_id } => {
                ProxyError::V3ClusterNotFound { cluster_id }
            }
            e @ (AdminError::TopicNotFound { .. }
            | AdminError::PartitionNotFound { .. }
            | AdminError::BrokerNotFound { .. }
            | AdminError::ReplicaNotFound { .. }
            | AdminError::ConfigNotFound { .. }) => ProxyError::V3NotFound {
                what: e.to_string(),
            },
            e @ AdminError::UnknownConfig { .. } => ProxyError::V3ConfigNotFound {
                message: e.to_string(),
            },
            e @ (AdminError::ReassignmentsUnsupported | AdminError::ClusterConfigsReadOnly) => {
                ProxyError::V3NotImplemented {
                    message: e.to_string(),
                }
            }
            AdminError::Busy { operation, source } => ProxyError::KafkaBusy {
                operation,
                source: source.into(),
            },
            // librdkafka would not build the request from the client's values.
            AdminError::Call {
                source: FfiError::Invalid(message),
                ..
            } => ProxyError::V3KafkaRefused { message },
            other => match other.kafka_code() {
                Some((code, message)) => match kafka_error::classify_admin(code) {
                    AdminErrorClass::Refused => ProxyError::V3KafkaRefused { message },
                    AdminErrorClass::UnknownTopicOrPartition => {
                        ProxyError::V3UnknownTopicOrPartition { message }
                    }
                    AdminErrorClass::Authentication => {
                        ProxyError::V3KafkaUnauthenticated { message }
                    }
                    AdminErrorClass::Authorization => ProxyError::V3KafkaForbidden { message },
                    AdminErrorClass::BrokerNotAvailable => {
                        ProxyError::V3BrokerNotAvailable { message }
                    }
                    AdminErrorClass::Throttled => ProxyError::V3KafkaThrottled { message },
                    AdminErrorClass::Retriable => ProxyError::V3KafkaRetriable {
                        message,
                        source: other,
                    },
                    AdminErrorClass::Other => ProxyError::V3Kafka {
                        message,
                        source: other,
                    },
                },
                None => ProxyError::internal(other),
            },
        }
    }
}

impl From<FetchError> for ProxyError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Metadata(e) => e.into(),
            e @ FetchError::OffsetOutOfRange { .. } => ProxyError::OffsetOutOfRange {
                message: e.to_string(),
            },
            e @ FetchError::PoolBusy { .. } => ProxyError::ReadPoolBusy {
                message: e.to_string(),
            },
            FetchError::RegistryNotConfigured => ProxyError::SchemaRegistryNotConfigured,
            FetchError::Record(e) => (*e).into(),
            FetchError::Kafka { operation, source } => ProxyError::kafka(operation, source),
            FetchError::Busy(source) => ProxyError::KafkaBusy {
                operation: "stateless read",
                source: source.into(),
            },
            other @ (FetchError::Client(_) | FetchError::Join(_)) => ProxyError::internal(other),
        }
    }
}

/// An error and its causes on one line, down to the registry's own answer: the transport
/// details below it (which socket call failed) are for the log, not for clients.
fn registry_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        if s.downcast_ref::<RegistryError>().is_some() {
            break;
        }
        source = s.source();
    }
    message
}

impl poem::error::ResponseError for ProxyError {
    fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn as_response(&self) -> Response {
        let (status, _) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %ErrorChain(self), "request failed");
        }
        let mut response = error_response(status, &self.body());
        if let ProxyError::V3RateLimited { retry_after_secs } = self {
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response
                    .headers_mut()
                    .insert(poem::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

fn error_response(status: StatusCode, body: &ErrorBody) -> Response {
    // Serializing two plain fields cannot fail; fall back to a fixed body anyway.
    let json = serde_json::to_vec(body)
        .unwrap_or_else(|_| br#"{"error_code":500,"message":"Internal Server Error"}"#.to_vec());
    Response::builder()
        .status(status)
        .content_type(V2_JSON)
        .body(json)
}

/// The answer to a request whose handler panicked (poem's `CatchPanic` calls this): a plain
/// 500 for the client, the panic message in the log. No panic is expected; this keeps a bug
/// from dropping the connection without an answer.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    ProxyError::internal(format!("request handler panicked: {message}")).as_response()
}

/// Turns any error that escaped a handler (poem's routing, extractor and body errors, and our
/// own) into the Confluent JSON error body.
pub async fn catch_all(err: poem::Error) -> Response {
    if let Some(e) = err.downcast_ref::<ProxyError>() {
        return e.as_response();
    }
    // A path segment whose percent-decoding is not UTF-8 (`/topics/%ff`) names no topic,
    // group or instance: it is an unknown path, not a malformed request.
    if err.is::<poem::error::ParsePathError>() {
        return ProxyError::RouteNotFound.as_response();
    }
    let status = err.status();
    let mapped = match status {
        StatusCode::NOT_FOUND => ProxyError::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProxyError::MethodNotAllowed,
        StatusCode::NOT_ACCEPTABLE => ProxyError::NotAcceptable,
        StatusCode::PAYLOAD_TOO_LARGE => ProxyError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProxyError::UnsupportedMediaType,
        StatusCode::BAD_REQUEST => ProxyError::BadRequest {
            message: err.to_string(),
        },
        s if s.is_client_error() => {
            return error_response(
                s,
                &ErrorBody {
                    error_code: u32::from(s.as_u16()),
                    message: err.to_string(),
                },
            )
        }
        _ => ProxyError::internal(err.to_string()),
    };
    mapped.as_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[tokio::test]
    async fn a_path_that_is_not_utf8_is_an_unknown_path() {
        let resp = catch_all(poem::error::ParsePathError.into()).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.into_body().into_bytes().await.expect("body");
        let body: ErrorBody = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body.error_code, 404);
    }

    /// The error table, pinned: status, code and client message of every variant.
    #[test]
    fn error_table() {
        let rows: Vec<(ProxyError, u16, u32, &str)> = vec![
            (
                ProxyError::TopicNotFound { topic: "t".into() },
                404,
                40401,
                "Topic not found.",
            ),
            (
                ProxyError::PartitionNotFound,
                404,
                40402,
                "Partition not found.",
            ),
            (ProxyError::RouteNotFound, 404, 404, "HTTP 404 Not Found"),
            (
                ProxyError::V3InvalidBatch {
                    message: "The batch has no entries.".into(),
                },
                422,
                42208,
                "The batch has no entries.",
            ),
            (
                ProxyError::V3RateLimited {
                    retry_after_secs: 1,
                },
                429,
                429,
                "Request rate limit exceeded: The rate limit of requests per second has been exceeded.",
            ),
            (
                ProxyError::from(FetchError::OffsetOutOfRange {
                    topic: "t".into(),
                    partition: 0,
                    offset: 50,
                    beginning: 0,
                    end: 42,
                }),
                404,
                40402,
                "Offset 50 is out of range for partition 0 of topic \"t\": valid offsets are 0 to 42 (42 waits for the next record).",
            ),
            (
                ProxyError::from(FetchError::PoolBusy { limit: 4 }),
                503,
                503,
                "Too many stateless reads at once: all 4 read clients stayed busy, retry later.",
            ),
            (
                ProxyError::MethodNotAllowed,
                405,
                405,
                "HTTP 405 Method Not Allowed",
            ),
            (
                ProxyError::NotAcceptable,
                406,
                406,
                "HTTP 406 Not Acceptable",
            ),
            (
                ProxyError::PayloadTooLarge,
                413,
                413,
                "HTTP 413 Payload Too Large",
            ),
            (
                ProxyError::UnsupportedMediaType,
                415,
                415,
                "HTTP 415 Unsupported Media Type",
            ),
            (
                ProxyError::BodyTimeout { timeout_ms: 700 },
                408,
                408,
                "Request body not received within 700 ms.",
            ),
            (
                ProxyError::NotReady {
                    source: "the cluster reports no brokers".into(),
                },
                503,
                503,
                "Not ready: Kafka metadata is unreachable.",
            ),
            (
                ProxyError::BadRequest {
                    message: "Invalid request: invalid type".into(),
                },
                400,
                400,
                "Invalid request: invalid type",
            ),
            (
                ProxyError::UnrecognizedField {
                    field: "timestamp".into(),
                },
                422,
                422,
                "Unrecognized field: timestamp",
            ),
            (
                ProxyError::InvalidRecord {
                    message: "Record 2: value is not valid base64".into(),
                },
                422,
                42203,
                "Record 2: value is not valid base64",
            ),
            (
                ProxyError::KeySchemaMissing,
                422,
                42201,
                "Request includes keys but does not include key schema",
            ),
            (
                ProxyError::ValueSchemaMissing,
                422,
                42202,
                "Request includes values but does not include value schema",
            ),
            (
                ProxyError::InvalidSchema {
                    message: "value schema: unknown type".into(),
                },
                422,
                42205,
                "Invalid schema: value schema: unknown type",
            ),
            (
                ProxyError::SchemaRegistryNotConfigured,
                422,
                42206,
                "Payload error. Schema Registry must be configured when using schemas.",
            ),
            (
                ProxyError::SchemaRegistry {
                    message: "Error serializing message. incompatible".into(),
                },
                422,
                42207,
                "Error serializing message. incompatible",
            ),
            (
                ProxyError::SchemaRegistryForbidden {
                    message: "Error serializing message. forbidden".into(),
                },
                403,
                40301,
                "Error serializing message. forbidden",
            ),
            (
                ProxyError::InvalidRequest {
                    message: "Invalid format type.".into(),
                },
                422,
                422,
                "Invalid format type.",
            ),
            (
                ProxyError::ConsumerInstanceNotFound {
                    group: "g".into(),
                    instance: "i".into(),
                },
                404,
                40403,
                "Consumer instance not found.",
            ),
            (
                ProxyError::ConsumerAlreadyExists {
                    group: "g".into(),
                    instance: "i".into(),
                },
                409,
                40902,
                "Consumer with specified consumer ID already exists in the specified consumer group.",
            ),
            (
                ProxyError::IllegalState {
                    message: "not subscribed".into(),
                },
                409,
                40903,
                "Illegal state: not subscribed",
            ),
            (
                ProxyError::ConsumerFormatMismatch,
                406,
                40601,
                "The requested embedded data format does not match the deserializer for this consumer instance",
            ),
            (
                ProxyError::Deserialization {
                    message: "not JSON".into(),
                },
                408,
                40801,
                "not JSON",
            ),
            (
                ProxyError::InvalidConsumerConfig {
                    message: "bad reset".into(),
                },
                422,
                42204,
                "Invalid consumer configuration: bad reset",
            ),
            (
                ProxyError::InvalidConsumerConfigConstraint {
                    message: "too big".into(),
                },
                422,
                40001,
                "Invalid consumer configuration. It does not abide by the constraints: too big",
            ),
            (
                ProxyError::TooManyConsumerInstances { limit: 3 },
                429,
                429,
                "Too many consumer instances: the limit of 3 is reached",
            ),
            (
                ProxyError::SchemaRegistryUnavailable {
                    message: "cannot fetch schema 7".into(),
                },
                503,
                503,
                "Schema Registry unavailable: cannot fetch schema 7",
            ),
            (
                ProxyError::KafkaRetriable {
                    operation: "commit",
                    source: KafkaError::ConsumerCommit(RDKafkaErrorCode::RequestTimedOut),
                },
                500,
                50003,
                "Kafka error: commit: Consumer commit error: RequestTimedOut (Broker: Request timed out)",
            ),
            (
                ProxyError::Kafka {
                    operation: "commit",
                    source: KafkaError::ConsumerCommit(RDKafkaErrorCode::InvalidCommitOffsetSize),
                },
                500,
                50002,
                "Kafka error: commit: Consumer commit error: InvalidCommitOffsetSize (Broker: Commit offset data size is not valid)",
            ),
            (
                ProxyError::KafkaBusy {
                    operation: "commit",
                    source: "no permit".into(),
                },
                500,
                50003,
                "Kafka error: commit: the proxy is busy with other Kafka calls, retry later",
            ),
            (
                ProxyError::internal("secret detail"),
                500,
                500,
                "Internal Server Error",
            ),
            // v3 admin
            (
                ProxyError::V3ClusterNotFound {
                    cluster_id: "other".into(),
                },
                404,
                404,
                "Cluster other cannot be found.",
            ),
            (
                ProxyError::V3NotFound {
                    what: "topic \"t\" not found".into(),
                },
                404,
                404,
                "HTTP 404 Not Found",
            ),
            (
                ProxyError::V3ConfigNotFound {
                    message: "Config x cannot be found for TOPIC t in cluster c.".into(),
                },
                404,
                404,
                "Config x cannot be found for TOPIC t in cluster c.",
            ),
            (
                ProxyError::V3KafkaRefused {
                    message: "Topic 't' already exists.".into(),
                },
                400,
                40002,
                "Topic 't' already exists.",
            ),
            (
                ProxyError::V3UnknownTopicOrPartition {
                    message: "This server does not host this topic-partition.".into(),
                },
                404,
                40403,
                "This server does not host this topic-partition.",
            ),
            (
                ProxyError::V3KafkaUnauthenticated {
                    message: "bad credentials".into(),
                },
                401,
                40101,
                "bad credentials",
            ),
            (
                ProxyError::V3KafkaForbidden {
                    message: "not allowed".into(),
                },
                403,
                40301,
                "not allowed",
            ),
            (
                ProxyError::V3BrokerNotAvailable {
                    message: "no broker".into(),
                },
                503,
                50302,
                "no broker",
            ),
            (
                ProxyError::V3KafkaThrottled {
                    message: "quota".into(),
                },
                429,
                42901,
                "quota",
            ),
            (
                ProxyError::V3KafkaRetriable {
                    message: "Local: Timed out".into(),
                    source: AdminError::ReassignmentsUnsupported,
                },
                500,
                50003,
                "Local: Timed out",
            ),
            (
                ProxyError::V3Kafka {
                    message: "Broker: Invalid replica assignment".into(),
                    source: AdminError::ReassignmentsUnsupported,
                },
                500,
                50002,
                "Broker: Invalid replica assignment",
            ),
            (
                ProxyError::V3PayloadError {
                    message: "Request body is empty. Data is required.".into(),
                },
                422,
                42206,
                "Payload error. Request body is empty. Data is required.",
            ),
            (
                ProxyError::V3NotImplemented {
                    message: "not here".into(),
                },
                501,
                501,
                "not here",
            ),
            // v3 consumer groups and ACLs.
            (
                ProxyError::GroupsNotFound {
                    message: "Consumer lags not found.".into(),
                },
                404,
                404,
                "Consumer lags not found.",
            ),
            (
                ProxyError::GroupsBadRequest {
                    message: "resource_type cannot be ANY".into(),
                },
                400,
                400,
                "resource_type cannot be ANY",
            ),
            (
                ProxyError::GroupNotEmpty {
                    group: "g".into(),
                    members: 2,
                },
                400,
                40002,
                "The group is not empty.",
            ),
        ];
        let mut covered = [false; VARIANTS];
        for (err, status, code, message) in rows {
            covered[row_of(&err)] = true;
            let (s, c) = err.status_and_code();
            assert_eq!((s.as_u16(), c), (status, code), "{err:?}");
            assert_eq!(err.body().message, message, "{err:?}");
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !covered[i]).collect();
        assert!(missing.is_empty(), "variants without a row: {missing:?}");
    }

    #[test]
    fn kafka_failures_map_by_the_one_classification() {
        let consume = |code| {
            ProxyError::from(ConsumeError::Kafka {
                operation: "commit",
                source: KafkaError::ConsumerCommit(code),
            })
        };
        assert!(matches!(
            consume(RDKafkaErrorCode::UnknownTopicOrPartition),
            ProxyError::PartitionNotFound
        ));
        assert!(matches!(
            consume(RDKafkaErrorCode::NotEnoughReplicas),
            ProxyError::KafkaRetriable { .. }
        ));
        assert!(matches!(
            consume(RDKafkaErrorCode::RebalanceInProgress),
            ProxyError::KafkaRetriable { .. }
        ));
        assert!(matches!(
            consume(RDKafkaErrorCode::InvalidCommitOffsetSize),
            ProxyError::Kafka { .. }
        ));
        let metadata =
            |code| ProxyError::from(MetadataError::Request(KafkaError::MetadataFetch(code)));
        assert!(matches!(
            metadata(RDKafkaErrorCode::OperationTimedOut),
            ProxyError::KafkaRetriable { .. }
        ));
        assert!(matches!(
            metadata(RDKafkaErrorCode::TopicAuthorizationFailed),
            ProxyError::Kafka { .. }
        ));
        // The cause stays attached for the log.
        let err = metadata(RDKafkaErrorCode::AllBrokersDown);
        assert!(ErrorChain(&err)
            .to_string()
            .contains("Meta data fetch error"));
    }

    #[test]
    fn admin_failures_answer_confluents_v3_codes() {
        let call = |code, message: &str| {
            ProxyError::from(AdminError::Call {
                operation: "create topic",
                source: FfiError::Kafka {
                    code,
                    message: message.into(),
                },
            })
        };
        let rows = [
            (RDKafkaErrorCode::TopicAlreadyExists, 400, 40002),
            (RDKafkaErrorCode::InvalidReplicationFactor, 400, 40002),
            (RDKafkaErrorCode::InvalidPartitions, 400, 40002),
            (RDKafkaErrorCode::InvalidConfig, 400, 40002),
            (RDKafkaErrorCode::PolicyViolation, 400, 40002),
            (RDKafkaErrorCode::UnknownTopicOrPartition, 404, 40403),
            (RDKafkaErrorCode::TopicAuthorizationFailed, 403, 40301),
            (RDKafkaErrorCode::BrokerNotAvailable, 503, 50302),
            (RDKafkaErrorCode::ThrottlingQuotaExceeded, 429, 42901),
            (RDKafkaErrorCode::RequestTimedOut, 500, 50003),
            (RDKafkaErrorCode::InvalidReplicaAssignment, 500, 50002),
        ];
        for (code, status, error_code) in rows {
            let err = call(code, "Kafka's words");
            let (s, c) = err.status_and_code();
            assert_eq!((s.as_u16(), c), (status, error_code), "{code:?}");
            assert_eq!(err.body().message, "Kafka's words", "{code:?}");
        }
        let timed_out = ProxyError::from(AdminError::Call {
            operation: "describe cluster",
            source: FfiError::TimedOut(std::time::Duration::from_secs(1)),
        });
        assert_eq!(timed_out.status_and_code().1, 50003);
        let refused = ProxyError::from(AdminError::Call {
            operation: "create topic",
            source: FfiError::Invalid("bad assignment".into()),
        });
        assert_eq!(refused.status_and_code(), (StatusCode::BAD_REQUEST, 40002));
        let missing = ProxyError::from(AdminError::TopicNotFound { topic: "t".into() });
        assert_eq!(missing.body().message, "HTTP 404 Not Found");
        let config = ProxyError::from(AdminError::UnknownConfig {
            name: "x".into(),
            kind: "TOPIC",
            resource: "t".into(),
            cluster_id: "c".into(),
        });
        assert_eq!(
            config.body().message,
            "Config x cannot be found for TOPIC t in cluster c."
        );
    }

    #[test]
    fn v3_group_and_acl_errors_answer_confluents_codes_and_messages() {
        let body = |e: ProxyError| {
            let (status, code) = e.status_and_code();
            (status.as_u16(), code, e.message())
        };
        assert_eq!(
            body(GroupsError::GroupNotFound { group: "g".into() }.into()),
            (404, 404, "Consumer Group g could not be found.".into())
        );
        assert_eq!(
            body(GroupsError::OffsetsNotFound { group: "g".into() }.into()),
            (
                404,
                404,
                "Consumer group offsets could not be found.".into()
            )
        );
        assert_eq!(
            body(GroupsError::LagsNotFound { group: "g".into() }.into()),
            (404, 404, "Consumer lags not found.".into())
        );
        assert_eq!(
            body(
                GroupsError::ConsumerNotFound {
                    group: "g".into(),
                    consumer: "c".into()
                }
                .into()
            ),
            (404, 404, "HTTP 404 Not Found".into())
        );
        assert_eq!(
            body(
                AclError::Invalid {
                    message: "operation cannot be ANY".into()
                }
                .into()
            ),
            (400, 400, "operation cannot be ANY".into())
        );
        // A Kafka without an authorizer refuses ACL calls: Confluent's 400/40002.
        let no_authorizer = AclError::Admin(AdminError::Call {
            operation: "describe ACLs",
            source: FfiError::Kafka {
                code: RDKafkaErrorCode::SecurityDisabled,
                message: "No Authorizer is configured.".into(),
            },
        });
        assert_eq!(
            body(no_authorizer.into()),
            (400, 40002, "No Authorizer is configured.".into())
        );
    }

    #[test]
    fn failed_records_get_confluents_per_record_codes() {
        assert_eq!(record_error_code(FailureKind::Authentication), 40101);
        assert_eq!(record_error_code(FailureKind::Authorization), 40301);
        assert_eq!(record_error_code(FailureKind::Retriable), 50003);
        assert_eq!(record_error_code(FailureKind::Other), 50002);
    }

    #[test]
    fn v3_records_get_confluents_streaming_codes() {
        let delivery = |kind| {
            v3_record_error(RecordFailure::Delivery(crate::produce::DeliveryFailure {
                kind,
                message: "m".into(),
            }))
            .error_code
        };
        assert_eq!(delivery(FailureKind::TooLarge), 413);
        assert_eq!(delivery(FailureKind::Retriable), 50003);
        assert_eq!(delivery(FailureKind::Other), 50002);
        let refused = |e: ProduceError| v3_record_error(RecordFailure::Refused(e));
        assert_eq!(
            refused(ProduceError::PartitionNotFound {
                topic: "t".into(),
                partition: 9
            }),
            ErrorBody {
                error_code: 40402,
                message: "Partition not found.".into()
            }
        );
        assert_eq!(
            refused(ProduceError::Schema(SchemaError::RegistryNotConfigured)),
            ErrorBody {
                error_code: 422,
                message: "Error: 42206 : Payload error. Schema Registry must be configured when using schemas."
                    .into()
            }
        );
        assert_eq!(v3_bad_record("a\nb").message, "Bad Request: a");
    }

    #[test]
    fn a_produce_refused_for_a_missing_partition_answers_40402() {
        let err = ProxyError::from(ProduceError::PartitionNotFound {
            topic: "t".into(),
            partition: 9,
        });
        assert_eq!(err.status_and_code(), (StatusCode::NOT_FOUND, 40402));
    }

    /// How many variants `ProxyError` has; [`row_of`] numbers them.
    const VARIANTS: usize = 52;

    /// A number per variant. The match has no wildcard, so a new variant does not compile
    /// until it gets a number here, and then `error_table` fails until it gets a row.
    fn row_of(e: &ProxyError) -> usize {
        use ProxyError::*;
        match e {
            TopicNotFound { .. } => 0,
            PartitionNotFound => 1,
            RouteNotFound => 2,
            MethodNotAllowed => 3,
            NotAcceptable => 4,
            PayloadTooLarge => 5,
            BodyTimeout { .. } => 6,
            NotReady { .. } => 7,
            UnsupportedMediaType => 8,
            BadRequest { .. } => 9,
            UnrecognizedField { .. } => 10,
            InvalidRequest { .. } => 11,
            InvalidRecord { .. } => 12,
            KeySchemaMissing => 13,
            ValueSchemaMissing => 14,
            InvalidSchema { .. } => 15,
            SchemaRegistryNotConfigured => 16,
            SchemaRegistry { .. } => 17,
            SchemaRegistryForbidden { .. } => 18,
            ConsumerInstanceNotFound { .. } => 19,
            ConsumerAlreadyExists { .. } => 20,
            IllegalState { .. } => 21,
            ConsumerFormatMismatch => 22,
            Deserialization { .. } => 23,
            InvalidConsumerConfig { .. } => 24,
            InvalidConsumerConfigConstraint { .. } => 25,
            TooManyConsumerInstances { .. } => 26,
            SchemaRegistryUnavailable { .. } => 27,
            KafkaRetriable { .. } => 28,
            Kafka { .. } => 29,
            Internal { .. } => 30,
            KafkaBusy { .. } => 31,
            // v3 admin
            V3ClusterNotFound { .. } => 32,
            V3NotFound { .. } => 33,
            V3ConfigNotFound { .. } => 34,
            V3KafkaRefused { .. } => 35,
            V3UnknownTopicOrPartition { .. } => 36,
            V3KafkaUnauthenticated { .. } => 37,
            V3KafkaForbidden { .. } => 38,
            V3BrokerNotAvailable { .. } => 39,
            V3KafkaThrottled { .. } => 40,
            V3KafkaRetriable { .. } => 41,
            V3Kafka { .. } => 42,
            V3PayloadError { .. } => 43,
            V3NotImplemented { .. } => 44,
            // v3 consumer groups and ACLs.
            GroupsNotFound { .. } => 45,
            GroupsBadRequest { .. } => 46,
            GroupNotEmpty { .. } => 47,
            // Stateless reads.
            OffsetOutOfRange { .. } => 48,
            ReadPoolBusy { .. } => 49,
            // v3 produce.
            V3InvalidBatch { .. } => 50,
            V3RateLimited { .. } => 51,
        }
    }
}
