//! The request bodies of the consumer control calls and their decoders: the bytes of a body
//! to the domain values of `consume/`.
//!
//! Bodies follow Confluent's Jackson rules: unknown fields are refused (422 "Unrecognized field:
//! NAME"), numbers may come as strings and strings as numbers or booleans. The decoders are pure,
//! so that the fuzz targets (`fuzz/`) can drive them with any bytes. Reading the body (its size
//! and time limits, its media type) is the handlers'.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::consume::{
    ConsumeError, CreateInstance, OffsetCommit, SeekPosition, SeekTarget, Subscription,
    TopicPartition, FETCH_MIN_BYTES_RANGE,
};
use crate::error::ProxyError;
use crate::records::{EmbeddedFormat, JsonObject};

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
                Category::Syntax | Category::Eof | Category::Io => ProxyError::BadRequest {
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

/// Parses an ISO-8601 instant as Jackson reads `java.time.Instant` (`2024-01-01T00:00:00Z`,
/// an optional fraction, `Z` or a `+HH:MM` offset) into milliseconds since the epoch. `None`
/// for text that is not such an instant, for a date that does not exist (`2024-02-31`) and for
/// an instant outside the years -9999..=9999, so no timestamp can overflow.
fn parse_instant_ms(s: &str) -> Option<i64> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_millisecond)
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
            "2024-01-01T00:00:00",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_that_do_not_exist_are_refused() {
        for bad in [
            "2024-02-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_far_from_now_are_refused_instead_of_overflowing() {
        for bad in [
            "+300000000-01-01T00:00:00Z",
            "300000000-01-01T00:00:00Z",
            "+999999999-12-31T23:59:59Z",
            "-300000000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
            let body =
                format!(r#"{{"timestamps":[{{"topic":"t","partition":0,"timestamp":"{bad}"}}]}}"#);
            assert!(
                matches!(
                    decode_seek(body.as_bytes()),
                    Err(ProxyError::InvalidRequest { .. })
                ),
                "{bad}"
            );
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
            Err(ProxyError::BadRequest { .. })
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
            Err(ProxyError::BadRequest { .. })
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
