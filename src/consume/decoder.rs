//! Record decoders: one per embedded format, chosen when an instance is created.
//!
//! This module owns the choice of codec for a consumer instance and the byte size a record
//! counts against `max_bytes`. The codecs themselves are pure functions in `records/`. The
//! schema formats (avro, jsonschema, protobuf) slot in here as new variants holding a registry
//! client; until then [`Decoder::for_format`] refuses them, so creating such an instance works
//! but reading from it answers a clear error.

use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;

use crate::records::{self, ConsumedRecord, DecodeError, EmbeddedFormat, Field};

/// How the bytes of a consumed record become the JSON of a records response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// Key and value as base64 strings.
    Binary,
    /// Key and value parsed as JSON.
    Json,
}

impl Decoder {
    /// The decoder of `format`, or `None` when that format cannot be read yet.
    pub fn for_format(format: EmbeddedFormat) -> Option<Decoder> {
        match format {
            EmbeddedFormat::Binary => Some(Decoder::Binary),
            EmbeddedFormat::Json => Some(Decoder::Json),
            EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf => None,
        }
    }

    /// The bytes `message` counts against the records call's byte limit. For binary and json
    /// this is the raw key plus the raw value, as in Confluent.
    pub fn size(&self, message: &OwnedMessage) -> u64 {
        match self {
            Decoder::Binary | Decoder::Json => records::raw_size(message.key(), message.payload()),
        }
    }

    /// Renders one record; the caller keeps the message when this fails.
    pub fn decode(&self, message: &OwnedMessage) -> Result<ConsumedRecord, DecodeError> {
        let (key, value) = match self {
            Decoder::Binary => (
                records::binary_field(message.key()),
                records::binary_field(message.payload()),
            ),
            Decoder::Json => (
                records::json_field(Field::Key, message.key())?,
                records::json_field(Field::Value, message.payload())?,
            ),
        };
        let headers = message
            .headers()
            .map(|h| records::headers(h.iter().map(|h| (h.key, h.value))))
            .unwrap_or_default();
        Ok(ConsumedRecord {
            topic: message.topic().to_string(),
            key,
            value,
            partition: message.partition(),
            offset: message.offset(),
            headers,
            timestamp: message.timestamp().to_millis(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, Timestamp};
    use serde_json::json;

    fn message(key: Option<&[u8]>, value: Option<&[u8]>) -> OwnedMessage {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some("abc"),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        OwnedMessage::new(
            value.map(<[u8]>::to_vec),
            key.map(<[u8]>::to_vec),
            "orders".into(),
            Timestamp::CreateTime(1_700_000_000_123),
            3,
            42,
            Some(headers),
        )
    }

    #[test]
    fn binary_renders_base64_with_headers_and_timestamp() {
        let record = Decoder::Binary
            .decode(&message(Some(b"k"), None))
            .expect("binary always decodes");
        assert_eq!(
            serde_json::to_value(&record).expect("serialize"),
            json!({
                "topic": "orders", "key": "aw==", "value": null, "partition": 3, "offset": 42,
                "headers": [{"name": "trace", "value": "YWJj"}, {"name": "empty", "value": null}],
                "timestamp": 1_700_000_000_123_i64,
            })
        );
    }

    #[test]
    fn json_renders_parsed_values_and_refuses_other_bytes() {
        let record = Decoder::Json
            .decode(&message(Some(b"\"id\""), Some(br#"{"n":1}"#)))
            .expect("json");
        assert_eq!(record.key, json!("id"));
        assert_eq!(record.value, json!({"n": 1}));
        assert!(Decoder::Json
            .decode(&message(None, Some(b"\x00binary")))
            .is_err());
    }

    #[test]
    fn size_is_raw_key_plus_value_and_schema_formats_have_no_decoder_yet() {
        assert_eq!(Decoder::Json.size(&message(Some(b"ab"), Some(b"cde"))), 5);
        assert_eq!(Decoder::for_format(EmbeddedFormat::Avro), None);
        assert_eq!(
            Decoder::for_format(EmbeddedFormat::Binary),
            Some(Decoder::Binary)
        );
    }
}
