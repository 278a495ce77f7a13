//! The consumer operations of `KafkaRestV2`: instances, subscriptions, assignments, offsets,
//! positions and records.
//!
//! Each operation checks the media types, decodes the body into domain values, makes one call on
//! the consumer manager (`consume/`) and encodes the answer. This module also owns the
//! `base_uri` rules of a new instance (confluent-v2-api 5.1), which depend on the request.

use kafka_rest_api::{
    media as vnd, models, AssignPartitionsResponse, CommitOffsetsResponse, CreateConsumerResponse,
    DeleteConsumerResponse, GetAssignmentsResponse, GetCommittedOffsetsResponse,
    GetSubscriptionResponse, RawBody, RawResponse, ReadRecordsResponse, SeekResponse,
    SubscribeResponse, UnsubscribeResponse, Vnd,
};
use poem::http::{header, HeaderValue};
use poem::Request;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::media;
use crate::app::AppState;
use crate::config::{Config, Listener};
use crate::consume::{
    ConsumeError, CreateInstance, OffsetCommit, SeekPosition, SeekTarget, Subscription,
    TopicPartition, FETCH_MIN_BYTES_RANGE,
};
use crate::error::{ErrorChain, ProxyError};
use crate::records::{EmbeddedFormat, JsonObject};
use crate::schema::registry::RegistryError;

/// Largest body a consumer control call reads; their bodies are lists of partitions.
pub const CONTROL_BODY_LIMIT: usize = 1 << 20;

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
                message: client_message(&e),
            },
            e @ ConsumeError::RegistryUnavailable { .. } => {
                tracing::warn!(error = %ErrorChain(&e), "schema registry unavailable while reading records");
                ProxyError::SchemaRegistryUnavailable {
                    message: client_message(&e),
                }
            }
            e @ ConsumeError::RegistryForbidden { .. } => ProxyError::SchemaRegistryForbidden {
                message: client_message(&e),
            },
            // Kafka does not know a partition the request named (a commit to a partition
            // that does not exist): the client's mistake, as on produce.
            ConsumeError::Kafka { source, .. }
                if source.rdkafka_error_code()
                    == Some(RDKafkaErrorCode::UnknownTopicOrPartition) =>
            {
                ProxyError::PartitionNotFound {
                    topic: String::new(),
                    partition: -1,
                }
            }
            ConsumeError::Kafka { operation, source } => {
                let message = format!("{operation}: {source}");
                if is_retriable(&source) {
                    ProxyError::KafkaRetriable { message }
                } else {
                    ProxyError::Kafka { message }
                }
            }
            ConsumeError::Metadata(source) => ProxyError::from(source),
            e @ (ConsumeError::Busy { .. } | ConsumeError::InstanceBusy { .. }) => {
                ProxyError::KafkaRetriable {
                    message: e.to_string(),
                }
            }
            other => ProxyError::internal(other),
        }
    }
}

/// An error and its causes on one line, down to the registry's own answer: the transport
/// details below it (which socket call failed) are for the log, not for clients.
fn client_message(e: &(dyn std::error::Error + 'static)) -> String {
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

/// Kafka failures a retry may fix (Java's `RetriableException` family), answered as 50003.
fn is_retriable(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        e.rdkafka_error_code(),
        Some(
            OperationTimedOut
                | RequestTimedOut
                | MessageTimedOut
                | BrokerTransportFailure
                | AllBrokersDown
                | NetworkException
                | CoordinatorLoadInProgress
                | CoordinatorNotAvailable
                | WaitingForCoordinator
                | NotCoordinator
                | LeaderNotAvailable
                | NotLeaderForPartition
                | RebalanceInProgress
        )
    )
}

// ---------------------------------------------------------------------------------------------
// Request bodies. Unknown fields are refused (422 "Unrecognized field: NAME"); numbers may come
// as strings and strings as numbers or booleans, as Jackson coerces them in Confluent.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: Option<String>,
    /// Deprecated alias of `name` that wins over it (Confluent).
    id: Option<String>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<Value>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<Value>,
    #[serde(rename = "fetch.min.bytes")]
    fetch_min_bytes: Option<Value>,
    #[serde(rename = "consumer.request.timeout.ms")]
    request_timeout_ms: Option<Value>,
    /// Old spelling of `fetch.min.bytes`, which wins when both are given. A separate field
    /// rather than a serde alias: an alias makes a body with both spellings a duplicate field.
    #[serde(rename = "responseMinBytes")]
    response_min_bytes: Option<Value>,
    /// Old spelling of `consumer.request.timeout.ms`, which wins when both are given.
    #[serde(rename = "requestWaitMs")]
    request_wait_ms: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    topics: Option<Vec<String>>,
    topic_pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionBody {
    topic: String,
    #[serde(deserialize_with = "lenient::int")]
    partition: i32,
}

impl TryFrom<JsonObject<PartitionBody>> for TopicPartition {
    type Error = ProxyError;

    fn try_from(JsonObject(p): JsonObject<PartitionBody>) -> Result<Self, ProxyError> {
        topic_partition(p.topic, p.partition)
    }
}

/// A partition named in a request body: a topic that librdkafka can be given (not empty, no
/// NUL character, which its C strings cannot carry) and a partition that is not negative.
fn topic_partition(topic: String, partition: i32) -> Result<TopicPartition, ProxyError> {
    if partition < 0 {
        return Err(ProxyError::InvalidRequest {
            message: format!("partition must not be negative, was {partition}"),
        });
    }
    Ok(TopicPartition {
        topic: topic_name(topic)?,
        partition,
    })
}

/// A topic name from a request body, checked as [`topic_partition`] says.
fn topic_name(topic: String) -> Result<String, ProxyError> {
    if topic.is_empty() {
        return Err(ProxyError::InvalidRequest {
            message: "topic must not be empty".into(),
        });
    }
    no_nul("topic", topic)
}

/// Text that goes to librdkafka as a C string cannot hold a NUL character.
fn no_nul(field: &str, text: String) -> Result<String, ProxyError> {
    if text.contains('\0') {
        return Err(ProxyError::InvalidRequest {
            message: format!("{field} must not contain a NUL character"),
        });
    }
    Ok(text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionsBody {
    partitions: Vec<JsonObject<PartitionBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetBody {
    topic: String,
    #[serde(deserialize_with = "lenient::int")]
    partition: i32,
    #[serde(deserialize_with = "lenient::int")]
    offset: i64,
    #[serde(default)]
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetsBody {
    offsets: Vec<JsonObject<OffsetBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampBody {
    topic: String,
    #[serde(deserialize_with = "lenient::int")]
    partition: i32,
    timestamp: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted as in Confluent; a seek has no use for it
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeekBody {
    #[serde(default)]
    offsets: Vec<JsonObject<OffsetBody>>,
    #[serde(default)]
    timestamps: Vec<JsonObject<TimestampBody>>,
}

/// Serde helpers for integers that Jackson would also take as strings.
mod lenient {
    use serde::de::{Error, Visitor};
    use serde::Deserializer;

    pub fn int<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64>,
    {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = i64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::custom(format!("integer {v} is too large")))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<i64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected an integer, found {v:?}")))
            }
        }
        let v = d.deserialize_any(IntVisitor)?;
        T::try_from(v).map_err(|_| D::Error::custom(format!("integer {v} is out of range")))
    }
}

/// A JSON scalar as text (Jackson's coercion into a string field).
fn text_field(name: &str, v: Option<Value>) -> Result<Option<String>, ProxyError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ProxyError::InvalidRequest {
            message: format!("{name} must be a string"),
        }),
    }
}

/// A JSON integer, or a string holding one, that fits in 32 bits (the contract's `int32`).
fn int_field(name: &str, v: Option<Value>) -> Result<Option<i64>, ProxyError> {
    let bad = || ProxyError::InvalidRequest {
        message: format!("{name} must be a 32-bit integer"),
    };
    let value = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    i32::try_from(value).map_err(|_| bad())?;
    Ok(Some(value))
}

/// Reads a control call's body (at most [`CONTROL_BODY_LIMIT`] bytes) after checking its
/// media type; the `decode_*` functions below turn the bytes into domain values.
async fn control_body<S, M>(body: RawBody<S, M>) -> Result<bytes::Bytes, ProxyError> {
    media::check_control_content_type(body.content_type())?;
    body.into_body()
        .into_bytes_limit(CONTROL_BODY_LIMIT)
        .await
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ProxyError::PayloadTooLarge,
            other => ProxyError::MalformedJson {
                message: other.to_string(),
            },
        })
}

/// Parses a body; an empty one is `None`. Errors follow Confluent: malformed JSON is 400, an
/// unknown field is 422 "Unrecognized field: NAME", any other mismatch is 422.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ProxyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // A JSON `null` body is no body, as Jackson reads it. Anything else must be an object.
    serde_json::from_slice::<Option<JsonObject<T>>>(bytes)
        .map(|body| body.map(|JsonObject(body)| body))
        .map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => {
                    let message = e.to_string();
                    match unknown_field(&message) {
                        Some(field) => ProxyError::UnrecognizedField { field },
                        None => ProxyError::InvalidRequest {
                            message: strip_location(&message),
                        },
                    }
                }
                Category::Syntax | Category::Eof | Category::Io => ProxyError::MalformedJson {
                    message: e.to_string(),
                },
            }
        })
}

/// The field name of serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}

fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn required<T>(body: Option<T>) -> Result<T, ProxyError> {
    body.ok_or_else(|| ProxyError::InvalidRequest {
        message: "Request body is empty".into(),
    })
}

fn accept(req: &Request) -> Option<&str> {
    req.header(header::ACCEPT.as_str())
}

// ---------------------------------------------------------------------------------------------
// base_uri

/// What the `base_uri` of a new instance is built from (confluent-v2-api 5.1).
#[derive(Debug, Clone, Default)]
pub struct BaseUriRules {
    pub advertised_listeners: Vec<Listener>,
    pub host_name: String,
    pub listeners: Vec<Listener>,
    pub port: u16,
}

impl BaseUriRules {
    pub fn from_config(config: &Config) -> BaseUriRules {
        BaseUriRules {
            advertised_listeners: config.advertised_listeners.clone(),
            host_name: config.host_name.clone(),
            listeners: config.listeners.clone(),
            port: config.port,
        }
    }

    /// `<scheme>://<authority>/consumers/<group>/instances/<instance>`, where the authority is
    /// the first advertised listener of the request's scheme, else `host.name` (with the
    /// listener's port only when the request named a port), else the request's `Host`.
    /// Group and instance are not URL-encoded (as in Confluent).
    pub fn base_uri(&self, scheme: &str, host: &str, group: &str, instance: &str) -> String {
        let authority = if let Some(l) = self
            .advertised_listeners
            .iter()
            .find(|l| l.scheme.eq_ignore_ascii_case(scheme))
        {
            authority(&l.host, Some(l.port))
        } else if !self.host_name.is_empty() {
            let port = has_port(host).then(|| {
                self.listeners
                    .iter()
                    .rev()
                    .find(|l| l.scheme.eq_ignore_ascii_case(scheme))
                    .map_or(self.port, |l| l.port)
            });
            authority(&self.host_name, port)
        } else {
            host.to_string()
        };
        format!("{scheme}://{authority}/consumers/{group}/instances/{instance}")
    }
}

fn authority(host: &str, port: Option<u16>) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Whether a `Host` value carries an explicit port (`h:1`, `[::1]:1`, not `[::1]`).
fn has_port(host: &str) -> bool {
    let after_bracket = match host.rfind(']') {
        Some(i) => &host[i + 1..],
        None => host,
    };
    after_bracket
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// The authority the client used: the `Host` header, else the address it connected to.
fn request_host(req: &Request) -> String {
    match req.header(header::HOST.as_str()).filter(|h| !h.is_empty()) {
        Some(host) => host.to_string(),
        None => req
            .local_addr()
            .as_socket_addr()
            .map(ToString::to_string)
            .unwrap_or_else(|| "localhost".to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps of seek requests

/// Parses an ISO-8601 instant as Jackson reads `java.time.Instant`
/// (`2024-01-01T00:00:00Z`, optional fraction, `Z` or a `±HH:MM` offset) into milliseconds
/// since the epoch.
fn parse_instant_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        (c, sign * (oh * 3600 + om * 60))
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, f),
        None => (clock, ""),
    };
    let mut t = hms.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if hour > 23 || minute > 59 || second > 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// Request body decoders: the bytes of a control call's body to domain values. Pure, so that the
// fuzz targets (`fuzz/`) can drive them with any bytes.

/// `POST /consumers/{group}`: an empty body takes every default.
pub fn decode_create(bytes: &[u8]) -> Result<CreateInstance, ProxyError> {
    let mut body: CreateBody = parse_json(bytes)?.unwrap_or_default();
    let format = match body.format.as_deref() {
        None => None,
        Some(name) => {
            Some(
                EmbeddedFormat::parse(name).ok_or_else(|| ProxyError::InvalidRequest {
                    message: "Invalid format type.".into(),
                })?,
            )
        }
    };
    // Both spellings are checked as the contract says (the winning one again when the
    // instance is built); the new one wins.
    let old_min_bytes = int_field("responseMinBytes", body.response_min_bytes.take())?;
    if let Some(value) = old_min_bytes.filter(|v| !FETCH_MIN_BYTES_RANGE.contains(v)) {
        return Err(ConsumeError::FetchMinBytesOutOfRange { value }.into());
    }
    let fetch_min_bytes =
        int_field("fetch.min.bytes", body.fetch_min_bytes.take())?.or(old_min_bytes);
    let old_wait_ms = int_field("requestWaitMs", body.request_wait_ms.take())?;
    if let Some(value) = old_wait_ms.filter(|v| *v < 0) {
        return Err(ConsumeError::InvalidConfig {
            key: "requestWaitMs".into(),
            value: value.to_string(),
            reason: "must not be negative".into(),
        }
        .into());
    }
    let request_timeout_ms = int_field(
        "consumer.request.timeout.ms",
        body.request_timeout_ms.take(),
    )?
    .or(old_wait_ms);
    Ok(CreateInstance {
        name: body
            .id
            .or(body.name)
            .map(|n| no_nul("name", n))
            .transpose()?,
        format,
        auto_offset_reset: text_field("auto.offset.reset", body.auto_offset_reset)?,
        auto_commit_enable: text_field("auto.commit.enable", body.auto_commit_enable)?,
        fetch_min_bytes,
        request_timeout_ms,
    })
}

/// `POST .../subscription`: `topics` (wins when present) or `topic_pattern`.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ProxyError> {
    let body: SubscribeBody = required(parse_json(bytes)?)?;
    match (body.topics, body.topic_pattern) {
        (Some(topics), _) => Ok(Subscription::Topics(
            topics
                .into_iter()
                .map(topic_name)
                .collect::<Result<_, _>>()?,
        )),
        (None, Some(pattern)) => Ok(Subscription::Pattern(no_nul("topic_pattern", pattern)?)),
        (None, None) => Err(ProxyError::InvalidRequest {
            message: "A subscription needs topics or topic_pattern".into(),
        }),
    }
}

/// `{"partitions": [...]}` of assign and the seeks to the beginning or end; required.
pub fn decode_partitions(bytes: &[u8]) -> Result<Vec<TopicPartition>, ProxyError> {
    let body: PartitionsBody = required(parse_json(bytes)?)?;
    body.partitions.into_iter().map(TryInto::try_into).collect()
}

/// `GET .../offsets`: `{"partitions": [...]}`, or `None` without a body.
pub fn decode_committed_request(bytes: &[u8]) -> Result<Option<Vec<TopicPartition>>, ProxyError> {
    let body: Option<PartitionsBody> = parse_json(bytes)?;
    body.map(|b| b.partitions.into_iter().map(TryInto::try_into).collect())
        .transpose()
}

/// `POST .../offsets`: the offsets to commit, or `None` (commit everything returned) without
/// a body.
pub fn decode_commit(bytes: &[u8]) -> Result<Option<Vec<OffsetCommit>>, ProxyError> {
    let body: Option<OffsetsBody> = parse_json(bytes)?;
    body.map(|b| {
        b.offsets
            .into_iter()
            .map(|JsonObject(o)| {
                Ok(OffsetCommit {
                    partition: topic_partition(o.topic, o.partition)?,
                    offset: o.offset,
                    metadata: o.metadata,
                })
            })
            .collect()
    })
    .transpose()
}

/// `POST .../positions`: seeks to offsets (read next from exactly `offset`) and to the first
/// record at or after a timestamp.
pub fn decode_seek(bytes: &[u8]) -> Result<Vec<SeekTarget>, ProxyError> {
    let body: SeekBody = required(parse_json(bytes)?)?;
    let mut targets = Vec::with_capacity(body.offsets.len() + body.timestamps.len());
    for JsonObject(o) in body.offsets {
        if o.offset < 0 {
            return Err(ProxyError::InvalidRequest {
                message: format!("offsets.offset must not be negative, was {}", o.offset),
            });
        }
        targets.push(SeekTarget {
            partition: topic_partition(o.topic, o.partition)?,
            position: SeekPosition::Offset(o.offset),
        });
    }
    for JsonObject(t) in body.timestamps {
        let ms = parse_instant_ms(&t.timestamp).ok_or_else(|| ProxyError::InvalidRequest {
            message: format!(
                "timestamps.timestamp must be an ISO-8601 instant such as 2024-01-01T00:00:00Z, was {:?}",
                t.timestamp
            ),
        })?;
        targets.push(SeekTarget {
            partition: topic_partition(t.topic, t.partition)?,
            position: SeekPosition::Timestamp(ms),
        });
    }
    Ok(targets)
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `POST /consumers/{group}`: creates a consumer instance; an empty body takes every default.
pub async fn create(
    state: &AppState,
    req: &Request,
    group: String,
    body: RawBody<models::CreateConsumerRequest, vnd::CreateConsumerBody>,
) -> Result<CreateConsumerResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let request = decode_create(&control_body(body).await?)?;
    let name = state.consumers.create(&group, request).await?;
    let base_uri =
        state
            .base_uri
            .base_uri(req.scheme().as_str(), &request_host(req), &group, &name);
    Ok(CreateConsumerResponse::Ok(Vnd::new(
        models::CreateConsumerResponse {
            instance_id: name,
            base_uri,
        },
    )))
}

/// `DELETE /consumers/{group}/instances/{instance}`: commits what auto-commit owes, leaves the
/// group and removes the instance.
pub async fn delete(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<DeleteConsumerResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    state.consumers.delete(&group, &instance).await?;
    Ok(DeleteConsumerResponse::NoContent)
}

/// `POST .../subscription`: `topics` (wins when present) or `topic_pattern`.
pub async fn subscribe(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::SubscriptionRequest, vnd::SubscribeBody>,
) -> Result<SubscribeResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let subscription = decode_subscription(&control_body(body).await?)?;
    state
        .consumers
        .subscribe(&group, &instance, subscription)
        .await?;
    Ok(SubscribeResponse::NoContent)
}

/// `GET .../subscription`: `{"topics": [...]}`.
pub async fn get_subscription(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<GetSubscriptionResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let topics = state.consumers.subscription(&group, &instance).await?;
    Ok(GetSubscriptionResponse::Ok(Vnd::new(
        models::Subscription { topics },
    )))
}

/// `DELETE .../subscription`: ends the subscription (or manual assignment).
pub async fn unsubscribe(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<UnsubscribeResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    state.consumers.unsubscribe(&group, &instance).await?;
    Ok(UnsubscribeResponse::NoContent)
}

/// `POST .../assignments`: assigns partitions by hand.
pub async fn assign(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::PartitionsRequest, vnd::AssignPartitionsBody>,
) -> Result<AssignPartitionsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let partitions = decode_partitions(&control_body(body).await?)?;
    state
        .consumers
        .assign(&group, &instance, partitions)
        .await?;
    Ok(AssignPartitionsResponse::NoContent)
}

/// `GET .../assignments`: `{"partitions": [{topic, partition}]}`.
pub async fn get_assignments(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<GetAssignmentsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let partitions = state.consumers.assignment(&group, &instance).await?;
    Ok(GetAssignmentsResponse::Ok(Vnd::new(models::Assignment {
        partitions: partitions
            .into_iter()
            .map(|p| models::AssignedPartition {
                topic: p.topic,
                partition: p.partition,
            })
            .collect(),
    })))
}

/// `POST .../offsets`: with a body, commits `offset + 1` of each entry; without, commits every
/// record returned so far. Synchronous; answers `[]`.
pub async fn commit_offsets(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::CommitOffsetsRequest, vnd::CommitOffsetsBody>,
) -> Result<CommitOffsetsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let offsets = decode_commit(&control_body(body).await?)?;
    state.consumers.commit(&group, &instance, offsets).await?;
    Ok(CommitOffsetsResponse::Ok(Vnd::new(Vec::new())))
}

/// `GET .../offsets` with a body `{"partitions": [...]}`: the group's committed offsets;
/// partitions without one are left out.
pub async fn committed_offsets(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::PartitionsRequest, vnd::GetCommittedOffsetsBody>,
) -> Result<GetCommittedOffsetsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let Some(partitions) = decode_committed_request(&control_body(body).await?)? else {
        // Confluent answers a missing body like an unknown partition.
        return Err(ProxyError::PartitionNotFound {
            topic: String::new(),
            partition: -1,
        });
    };
    let committed = state
        .consumers
        .committed(&group, &instance, partitions)
        .await?;
    Ok(GetCommittedOffsetsResponse::Ok(Vnd::new(
        models::CommittedOffsets {
            offsets: committed
                .into_iter()
                .map(|c| models::CommittedOffset {
                    topic: c.partition.topic,
                    partition: c.partition.partition,
                    offset: c.offset,
                    metadata: c.metadata,
                })
                .collect(),
        },
    )))
}

/// `POST .../positions`: seeks to offsets (read next from exactly `offset`) and/or to the
/// first record at or after a timestamp.
pub async fn seek(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::SeekRequest, vnd::SeekBody>,
) -> Result<SeekResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let targets = decode_seek(&control_body(body).await?)?;
    state.consumers.seek(&group, &instance, targets).await?;
    Ok(SeekResponse::NoContent)
}

/// `POST .../positions/beginning` and `.../positions/end`: every listed partition to `position`.
pub async fn seek_all<S, M>(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<S, M>,
    position: SeekPosition,
) -> Result<(), ProxyError> {
    media::check_control_accept(accept(req))?;
    let targets = decode_partitions(&control_body(body).await?)?
        .into_iter()
        .map(|partition| SeekTarget {
            partition,
            position,
        })
        .collect();
    state.consumers.seek(&group, &instance, targets).await?;
    Ok(())
}

/// `GET .../records?timeout=&max_bytes=`: the `Accept` type picks the reader, which must match
/// the instance's format; the response carries that type.
pub async fn records(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    timeout: Option<i64>,
    max_bytes: Option<i64>,
) -> Result<ReadRecordsResponse, ProxyError> {
    // An unknown instance answers 40403 from `read` below.
    let instance_format = state.consumers.format_of(&group, &instance).ok();
    let negotiated = media::negotiate_records(accept(req), instance_format)?;
    let (_, body) = state
        .consumers
        .read(
            &group,
            &instance,
            negotiated.format,
            timeout,
            max_bytes,
            |records| serde_json::to_vec(records).map_err(Into::into),
        )
        .await?;
    Ok(ReadRecordsResponse::Ok(RawResponse::new(
        HeaderValue::from_static(negotiated.media_type),
        body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(scheme: &str, host: &str, port: u16) -> Listener {
        Listener {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn base_uri_prefers_the_advertised_listener_of_the_request_scheme() {
        let rules = BaseUriRules {
            advertised_listeners: vec![
                listener("https", "secure.example", 443),
                listener("http", "proxy.example", 8082),
            ],
            host_name: "ignored.example".into(),
            listeners: vec![listener("http", "0.0.0.0", 8082)],
            port: 8082,
        };
        assert_eq!(
            rules.base_uri("http", "10.0.0.1:9999", "g", "i"),
            "http://proxy.example:8082/consumers/g/instances/i"
        );
    }

    #[test]
    fn base_uri_uses_host_name_with_a_port_only_when_the_request_had_one() {
        let rules = BaseUriRules {
            advertised_listeners: vec![listener("https", "secure.example", 443)],
            host_name: "rest.example".into(),
            listeners: vec![
                listener("http", "0.0.0.0", 8082),
                listener("http", "0.0.0.0", 8090),
            ],
            port: 7000,
        };
        assert_eq!(
            rules.base_uri("http", "10.0.0.1:1234", "g", "i"),
            "http://rest.example:8090/consumers/g/instances/i"
        );
        assert_eq!(
            rules.base_uri("http", "10.0.0.1", "g", "i"),
            "http://rest.example/consumers/g/instances/i"
        );
        let no_listener = BaseUriRules {
            listeners: vec![],
            ..rules
        };
        assert_eq!(
            no_listener.base_uri("http", "[::1]:1", "g", "i"),
            "http://rest.example:7000/consumers/g/instances/i"
        );
    }

    #[test]
    fn base_uri_falls_back_to_the_host_header_without_encoding() {
        let rules = BaseUriRules::default();
        assert_eq!(
            rules.base_uri("http", "127.0.0.1:8082", "my group", "a/b"),
            "http://127.0.0.1:8082/consumers/my group/instances/a/b"
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_and_ports_detected() {
        assert_eq!(authority("::1", Some(80)), "[::1]:80");
        assert!(has_port("[::1]:80"));
        assert!(!has_port("[::1]"));
        assert!(has_port("h:1"));
        assert!(!has_port("h"));
    }

    #[test]
    fn instants_parse_like_java_instant() {
        assert_eq!(parse_instant_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_instant_ms("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000)
        );
        assert_eq!(
            parse_instant_ms("2024-02-29T12:30:15.5Z"),
            Some(1_709_209_815_500)
        );
        assert_eq!(parse_instant_ms("1970-01-01T01:00:00.123+01:00"), Some(123));
        assert_eq!(parse_instant_ms("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "2024-01-01",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01T25:00:00Z",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn bodies_follow_confluent_json_rules() {
        let empty: Option<CreateBody> = parse_json(b"  ").expect("empty is fine");
        assert!(empty.is_none());
        match parse_json::<CreateBody>(br#"{"nmae":"x"}"#) {
            Err(ProxyError::UnrecognizedField { field }) => assert_eq!(field, "nmae"),
            other => panic!("unexpected {:?}", other.err()),
        }
        assert!(matches!(
            parse_json::<CreateBody>(b"{\"name\":"),
            Err(ProxyError::MalformedJson { .. })
        ));
        for not_an_object in [&br#"["x"]"#[..], b" 5", br#""name""#, b"true"] {
            match parse_json::<CreateBody>(not_an_object) {
                Err(ProxyError::InvalidRequest { message }) => {
                    assert!(message.contains("JSON object"), "{message}")
                }
                other => panic!("{not_an_object:?}: {:?}", other.err()),
            }
        }
        assert!(matches!(
            parse_json::<CreateBody>(b"[\"x\""),
            Err(ProxyError::MalformedJson { .. })
        ));
        assert!(parse_json::<CreateBody>(b"null").expect("null").is_none());
        assert!(matches!(
            parse_json::<PartitionsBody>(br#"{"partitions":[{"topic":"t"}]}"#),
            Err(ProxyError::InvalidRequest { .. })
        ));
        let p: PartitionsBody = parse_json(br#"{"partitions":[{"topic":"t","partition":"3"}]}"#)
            .expect("lenient partition")
            .expect("present");
        assert_eq!(p.partitions[0].0.partition, 3);
    }

    #[test]
    fn partitions_librdkafka_cannot_take_are_refused_with_422() {
        let invalid = |r: Result<(), ProxyError>| match r {
            Err(ProxyError::InvalidRequest { message }) => message,
            other => panic!("expected 422, got {other:?}"),
        };
        let partitions = |b: &[u8]| decode_partitions(b).map(|_| ());
        assert!(invalid(partitions(
            br#"{"partitions":[{"topic":"t","partition":-1}]}"#
        ))
        .contains("negative"));
        assert!(invalid(partitions(
            br#"{"partitions":[{"topic":"","partition":0}]}"#
        ))
        .contains("empty"));
        assert!(invalid(partitions(
            br#"{"partitions":[{"topic":"a\u0000b","partition":0}]}"#
        ))
        .contains("NUL"));
        assert!(invalid(
            decode_commit(br#"{"offsets":[{"topic":"t","partition":-2,"offset":1}]}"#).map(|_| ())
        )
        .contains("negative"));
        assert!(invalid(
            decode_seek(br#"{"timestamps":[{"topic":"\u0000","partition":0,"timestamp":"2024-01-01T00:00:00Z"}]}"#)
                .map(|_| ())
        )
        .contains("NUL"));
        assert!(
            invalid(decode_subscription(br#"{"topics":["ok",""]}"#).map(|_| ())).contains("empty")
        );
        assert!(
            invalid(decode_subscription(br#"{"topic_pattern":"a\u0000"}"#).map(|_| ()))
                .contains("NUL")
        );
        assert!(invalid(decode_create(br#"{"name":"a\u0000"}"#).map(|_| ())).contains("NUL"));
        assert_eq!(
            decode_partitions(br#"{"partitions":[{"topic":"t","partition":"2"}]}"#).expect("valid"),
            vec![TopicPartition {
                topic: "t".into(),
                partition: 2
            }]
        );
        assert_eq!(decode_committed_request(b" ").expect("no body"), None);
        assert_eq!(decode_commit(b"").expect("no body"), None);
    }

    #[test]
    fn create_fields_coerce_scalars_like_jackson() {
        let c: CreateBody =
            parse_json(br#"{"format":"json","auto.commit.enable":false,"fetch.min.bytes":"10"}"#)
                .expect("valid")
                .expect("present");
        assert_eq!(
            text_field("auto.commit.enable", c.auto_commit_enable).expect("text"),
            Some("false".to_string())
        );
        assert_eq!(
            int_field("fetch.min.bytes", c.fetch_min_bytes).expect("int"),
            Some(10)
        );
        assert!(int_field("x", Some(Value::String("ten".into()))).is_err());
        let alias: CreateBody = parse_json(br#"{"requestWaitMs":250,"responseMinBytes":5}"#)
            .expect("both spellings parse")
            .expect("present");
        assert_eq!(
            int_field("t", alias.request_wait_ms).expect("int"),
            Some(250)
        );
    }
}
