//! How the bytes of a consumed Kafka record become the JSON the client sees: the record shape
//! of a records response (Confluent's `topic, key, value, partition, offset` plus our `headers`
//! and `timestamp`), base64 for the binary format and JSON parsing for the json format. The
//! schema formats render their JSON text in `schema/`; it is embedded here verbatim.
//!
//! Pure: it knows nothing about Kafka clients, sockets or HTTP; `consume/` feeds it bytes and
//! `api/` sends what it renders.

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// One Kafka record header as the client sees it: the value is base64, or null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordHeader {
    pub name: String,
    pub value: Option<String>,
}

/// The key or the value of a consumed record, as it goes into the response.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RecordData {
    /// Built by the proxy: a base64 string (binary) or the parsed stored JSON (json); `null`
    /// for a Kafka null.
    Value(Value),
    /// JSON text rendered by a schema codec (avro, jsonschema, protobuf), embedded verbatim so
    /// that numbers and field order stay exactly as the codec wrote them.
    Rendered(Box<RawValue>),
}

impl RecordData {
    /// The length of this key or value as JSON text, which is what a schema-format record
    /// counts against `max_bytes` (`docs/decisions.md` §C3); a Kafka null counts nothing.
    pub fn json_len(&self) -> u64 {
        match self {
            RecordData::Value(Value::Null) => 0,
            RecordData::Value(v) => v.to_string().len() as u64,
            RecordData::Rendered(raw) => raw.get().len() as u64,
        }
    }

    /// The data as a JSON value (parsing rendered text); for tests and logs.
    pub fn to_value(&self) -> Value {
        match self {
            RecordData::Value(v) => v.clone(),
            RecordData::Rendered(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for RecordData {
    fn from(v: Value) -> Self {
        RecordData::Value(v)
    }
}

/// One record of a records response, in the field order Confluent uses, followed by our
/// extension fields `headers` and `timestamp` (`docs/decisions.md` §16).
#[derive(Debug, Clone, Serialize)]
pub struct ConsumedRecord {
    pub topic: String,
    pub key: RecordData,
    pub value: RecordData,
    pub partition: i32,
    pub offset: i64,
    pub headers: Vec<RecordHeader>,
    /// Milliseconds since the epoch; null when the record has none.
    pub timestamp: Option<i64>,
}

/// Which half of a record failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Key,
    Value,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::Key => "key",
            Field::Value => "value",
        })
    }
}

/// Why the bytes of a record could not be shown in the instance's format.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the {field} is not valid JSON")]
    NotJson {
        field: Field,
        #[source]
        source: serde_json::Error,
    },
}

/// Standard base64 with padding, as Confluent's binary format uses.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The binary format: base64 of the bytes; a Kafka null stays JSON null.
pub fn binary_field(bytes: Option<&[u8]>) -> Value {
    match bytes {
        Some(b) => Value::String(base64_encode(b)),
        None => Value::Null,
    }
}

/// The json format: the stored bytes parsed as one JSON value; a Kafka null stays JSON null.
/// Empty bytes are not JSON (as in Confluent, whose parser rejects them too).
pub fn json_field(field: Field, bytes: Option<&[u8]>) -> Result<Value, DecodeError> {
    match bytes {
        None => Ok(Value::Null),
        Some(b) => {
            serde_json::from_slice(b).map_err(|source| DecodeError::NotJson { field, source })
        }
    }
}

/// Record headers for the response: names as text (lossy for non-UTF-8 names, which Kafka
/// clients cannot produce anyway), values as base64.
pub fn headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Vec<RecordHeader> {
    headers
        .into_iter()
        .map(|(name, value)| RecordHeader {
            name: name.to_string(),
            value: value.map(base64_encode),
        })
        .collect()
}

/// The bytes a binary or json record counts against `max_bytes`: raw key plus raw value.
pub fn raw_size(key: Option<&[u8]>, value: Option<&[u8]>) -> u64 {
    (key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::EmbeddedFormat;
    use serde_json::json;

    #[test]
    fn formats_parse_ignoring_case_and_name_their_media_types() {
        assert_eq!(
            EmbeddedFormat::parse("BINARY"),
            Some(EmbeddedFormat::Binary)
        );
        assert_eq!(
            EmbeddedFormat::parse("JsonSchema"),
            Some(EmbeddedFormat::JsonSchema)
        );
        assert_eq!(EmbeddedFormat::parse("string"), None);
        assert_eq!(EmbeddedFormat::parse(""), None);
        for f in EmbeddedFormat::ALL {
            assert_eq!(
                f.media_type(),
                format!("application/vnd.kafka.{}.v2+json", f.name())
            );
        }
        assert_eq!(
            EmbeddedFormat::Protobuf.reader_class(),
            EmbeddedFormat::Avro.reader_class()
        );
        assert_ne!(
            EmbeddedFormat::Json.reader_class(),
            EmbeddedFormat::Binary.reader_class()
        );
    }

    #[test]
    fn binary_is_padded_base64_and_null_stays_null() {
        assert_eq!(binary_field(Some(b"Kafka")), json!("S2Fma2E="));
        assert_eq!(binary_field(Some(b"")), json!(""));
        assert_eq!(binary_field(Some(&[0xff, 0x00])), json!("/wA="));
        assert_eq!(binary_field(None), Value::Null);
    }

    #[test]
    fn json_embeds_any_json_value_and_rejects_other_bytes() {
        assert_eq!(
            json_field(Field::Value, Some(br#"{"a":[1,2]}"#)).expect("json"),
            json!({"a": [1, 2]})
        );
        assert_eq!(
            json_field(Field::Value, Some(br#""text""#)).expect("json"),
            json!("text")
        );
        assert_eq!(json_field(Field::Key, None).expect("null"), Value::Null);
        let err = json_field(Field::Key, Some(b"not json")).expect_err("not json");
        assert_eq!(err.to_string(), "the key is not valid JSON");
        assert!(json_field(Field::Value, Some(b"")).is_err());
    }

    #[test]
    fn a_record_renders_in_confluent_field_order_with_our_extensions() {
        let record = ConsumedRecord {
            topic: "t".into(),
            key: Value::Null.into(),
            value: binary_field(Some(b"v")).into(),
            partition: 2,
            offset: 7,
            headers: headers([("h1", Some(&b"x"[..])), ("h2", None)]),
            timestamp: Some(1_700_000_000_000),
        };
        assert_eq!(
            serde_json::to_string(&record).expect("serialize"),
            r#"{"topic":"t","key":null,"value":"dg==","partition":2,"offset":7,"headers":[{"name":"h1","value":"eA=="},{"name":"h2","value":null}],"timestamp":1700000000000}"#
        );
    }

    #[test]
    fn rendered_json_is_embedded_verbatim_and_counted_as_text() {
        let rendered = |text: &str| {
            RecordData::Rendered(RawValue::from_string(text.into()).expect("valid JSON"))
        };
        let record = ConsumedRecord {
            topic: "t".into(),
            key: rendered("1.0E10"),
            value: rendered(r#"{"b":1,"a":{"string":"x"}}"#),
            partition: 0,
            offset: 1,
            headers: vec![],
            timestamp: None,
        };
        assert_eq!(
            serde_json::to_string(&record).expect("serialize"),
            r#"{"topic":"t","key":1.0E10,"value":{"b":1,"a":{"string":"x"}},"partition":0,"offset":1,"headers":[],"timestamp":null}"#
        );
        assert_eq!(record.key.json_len() + record.value.json_len(), 6 + 26);
        assert_eq!(RecordData::Value(Value::Null).json_len(), 0);
        assert_eq!(RecordData::Value(json!("ab")).json_len(), 4);
        assert_eq!(
            record.value.to_value(),
            json!({"a": {"string": "x"}, "b": 1})
        );
    }

    #[test]
    fn size_counts_raw_key_and_value_bytes() {
        assert_eq!(raw_size(Some(b"ab"), Some(b"cde")), 5);
        assert_eq!(raw_size(None, None), 0);
    }
}
