//! `ProxyError`, the only error type handlers return, and its table to
//! `(HTTP status, error_code, message)`.
//!
//! This is the single place where status codes and Confluent error codes are chosen
//! (decisions.md, "Error codes"). Services return their own error enums; `src/api/` converts them
//! into `ProxyError`. Every error body is `{"error_code": N, "message": "..."}`, including the
//! framework's own 404/405/406/413/415 answers, which [`catch_all`] rewrites.

use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::Response;
use serde::Serialize;

/// The media type of every non-records response, errors included.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// Everything a request can fail with, in client-facing terms.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Topic not found.")]
    TopicNotFound { topic: String },
    #[error("Partition not found.")]
    PartitionNotFound { topic: String, partition: i32 },
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
    #[error("{message}")]
    MalformedJson { message: String },
    /// JSON of the wrong shape (a field of the wrong type).
    #[error("{message}")]
    BadRequest { message: String },
    /// A request field the v2 API does not know (decisions 4).
    #[error("Unrecognized field: {field}")]
    UnrecognizedField { field: String },
    /// A request that is well-formed JSON but breaks a constraint (no body, no records).
    #[error("{message}")]
    Unprocessable { message: String },
    /// A record whose data is invalid for its embedded format (decisions 3).
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
    /// An embedded format this proxy cannot produce or consume yet.
    #[error("The {format} embedded format is not supported by this proxy yet.")]
    FormatNotSupported { format: &'static str },
    /// A request body that parses but breaks a rule (missing field, wrong type, bad value).
    #[error("{message}")]
    InvalidRequest { message: String },
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
    /// Kafka failed in a way a retry may fix (timeouts, no leader, transport).
    #[error("Kafka error: {message}")]
    KafkaRetriable { message: String },
    /// Kafka failed for good.
    #[error("Kafka error: {message}")]
    Kafka { message: String },
    /// A bug or an unexpected state; the client sees nothing but "Internal Server Error".
    #[error("Internal Server Error")]
    Internal {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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
            PartitionNotFound { .. } => (StatusCode::NOT_FOUND, 40402),
            RouteNotFound => (StatusCode::NOT_FOUND, 404),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 405),
            NotAcceptable => (StatusCode::NOT_ACCEPTABLE, 406),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 413),
            BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, 408),
            NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, 503),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415),
            MalformedJson { .. } => (StatusCode::BAD_REQUEST, 400),
            BadRequest { .. } => (StatusCode::BAD_REQUEST, 400),
            UnrecognizedField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 422),
            Unprocessable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 422),
            InvalidRecord { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            KeySchemaMissing => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            ValueSchemaMissing => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            InvalidSchema { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42205),
            SchemaRegistryNotConfigured => (StatusCode::UNPROCESSABLE_ENTITY, 42206),
            SchemaRegistry { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42207),
            SchemaRegistryForbidden { .. } => (StatusCode::FORBIDDEN, 40301),
            FormatNotSupported { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415),
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
            KafkaRetriable { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50003),
            Kafka { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
            Internal { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 500),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.status_and_code().1,
            message: self.to_string(),
        }
    }

    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ProxyError::Internal {
            source: source.into(),
        }
    }
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
        error_response(status, &self.body())
    }
}

/// Renders an error and its sources on one line, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
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
        StatusCode::BAD_REQUEST => ProxyError::MalformedJson {
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
                ProxyError::PartitionNotFound {
                    topic: "t".into(),
                    partition: 3,
                },
                404,
                40402,
                "Partition not found.",
            ),
            (ProxyError::RouteNotFound, 404, 404, "HTTP 404 Not Found"),
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
                ProxyError::MalformedJson {
                    message: "expected value at line 1 column 2".into(),
                },
                400,
                400,
                "expected value at line 1 column 2",
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
                ProxyError::Unprocessable {
                    message: "records may not be empty".into(),
                },
                422,
                422,
                "records may not be empty",
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
                ProxyError::FormatNotSupported { format: "avro" },
                415,
                415,
                "The avro embedded format is not supported by this proxy yet.",
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
                    message: "timed out".into(),
                },
                500,
                50003,
                "Kafka error: timed out",
            ),
            (
                ProxyError::Kafka {
                    message: "broken".into(),
                },
                500,
                50002,
                "Kafka error: broken",
            ),
            (
                ProxyError::internal("secret detail"),
                500,
                500,
                "Internal Server Error",
            ),
        ];
        for (err, status, code, message) in rows {
            let (s, c) = err.status_and_code();
            assert_eq!((s.as_u16(), c), (status, code), "{err:?}");
            assert_eq!(err.body().message, message, "{err:?}");
        }
    }
}
