//! Record decoders: one per embedded format, chosen when a records call starts.
//!
//! This module owns the choice of codec for a consumer instance and the byte size a record
//! counts against `max_bytes`: the raw key plus value for binary and json, the length of the
//! rendered JSON text for the schema formats (`docs/decisions.md` §C3). The codecs themselves are
//! elsewhere: pure functions in `records/` for binary and json, and the shared [`Schemas`]
//! service for avro, jsonschema and protobuf, which fetches each schema from the registry once
//! (by the id in the record's Confluent prefix) and then serves it from its cache.

use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;

use crate::records::{self, ConsumedRecord, EmbeddedFormat, Field, RecordData};
use crate::schema::{self, SchemaFormat, Schemas};

/// How the bytes of a consumed record become the JSON of a records response.
#[derive(Clone)]
pub enum Decoder {
    /// Key and value as base64 strings.
    Binary,
    /// Key and value parsed as JSON.
    Json,
    /// Key and value in the Confluent wire format of a schema format, rendered as the JSON the
    /// Confluent consumer returns.
    Schema {
        format: SchemaFormat,
        /// The format's name for messages (`avro`, `jsonschema`, `protobuf`).
        name: &'static str,
        schemas: Schemas,
    },
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decoder::Binary => f.write_str("Binary"),
            Decoder::Json => f.write_str("Json"),
            Decoder::Schema { name, .. } => write!(f, "Schema({name})"),
        }
    }
}

/// Why one record could not be rendered. The caller keeps the record.
#[derive(Debug, thiserror::Error)]
pub enum RecordDecodeError {
    /// A json instance read bytes that are not JSON.
    #[error(transparent)]
    Json(#[from] records::DecodeError),
    /// A schema instance read a key or value it cannot render: not the Confluent wire format,
    /// a schema the registry does not have (or cannot serve now), or a payload that does not
    /// match its schema.
    #[error("the {field} cannot be read as {format}")]
    Schema {
        field: Field,
        format: &'static str,
        #[source]
        source: schema::DecodeError,
    },
}

impl RecordDecodeError {
    /// Whether the registry could not serve a schema for now; the record itself may be fine.
    pub fn is_registry_unavailable(&self) -> bool {
        matches!(self, RecordDecodeError::Schema { source, .. } if source.is_registry_unavailable())
    }

    /// Whether the registry refused the proxy's credentials.
    pub fn is_registry_forbidden(&self) -> bool {
        matches!(self, RecordDecodeError::Schema { source, .. } if source.is_registry_forbidden())
    }
}

/// One rendered record and what it counts against the records call's byte limit.
#[derive(Debug)]
pub struct Decoded {
    pub record: ConsumedRecord,
    pub size: u64,
}

impl Decoder {
    /// The decoder of `format`; the schema formats render through `schemas`.
    pub fn for_format(format: EmbeddedFormat, schemas: &Schemas) -> Decoder {
        match SchemaFormat::of(format) {
            None if format == EmbeddedFormat::Json => Decoder::Json,
            None => Decoder::Binary,
            Some(schema_format) => Decoder::Schema {
                format: schema_format,
                name: format.name(),
                schemas: schemas.clone(),
            },
        }
    }

    /// Renders one record. A schema format may call the registry on a schema cache miss
    /// (bounded by the `schema.registry.http.*` timeouts); everything else is synchronous.
    pub async fn decode(&self, message: &OwnedMessage) -> Result<Decoded, RecordDecodeError> {
        let (key, value, size) = match self {
            Decoder::Binary => (
                records::binary_field(message.key()).into(),
                records::binary_field(message.payload()).into(),
                records::raw_size(message.key(), message.payload()),
            ),
            Decoder::Json => (
                records::json_field(Field::Key, message.key())?.into(),
                records::json_field(Field::Value, message.payload())?.into(),
                records::raw_size(message.key(), message.payload()),
            ),
            Decoder::Schema {
                format,
                name,
                schemas,
            } => {
                let key = schema_field(schemas, *format, name, Field::Key, message.key()).await?;
                let value =
                    schema_field(schemas, *format, name, Field::Value, message.payload()).await?;
                let size = key.json_len().saturating_add(value.json_len());
                (key, value, size)
            }
        };
        let headers = message
            .headers()
            .map(|h| records::headers(h.iter().map(|h| (h.key, h.value))))
            .unwrap_or_default();
        Ok(Decoded {
            record: ConsumedRecord {
                topic: message.topic().to_string(),
                key,
                value,
                partition: message.partition(),
                offset: message.offset(),
                headers,
                timestamp: message.timestamp().to_millis(),
            },
            size,
        })
    }
}

/// A key or value of a schema format: a Kafka null stays null (no registry call); anything
/// else must be framed bytes whose schema renders it.
async fn schema_field(
    schemas: &Schemas,
    format: SchemaFormat,
    name: &'static str,
    field: Field,
    bytes: Option<&[u8]>,
) -> Result<RecordData, RecordDecodeError> {
    let Some(bytes) = bytes else {
        return Ok(RecordData::Value(serde_json::Value::Null));
    };
    schemas
        .decode(format, bytes)
        .await
        .map(RecordData::Rendered)
        .map_err(|source| RecordDecodeError::Schema {
            field,
            format: name,
            source,
        })
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

    fn schemas(url: &str) -> Schemas {
        Schemas::for_tests(url)
    }

    #[tokio::test]
    async fn binary_renders_base64_with_headers_and_timestamp() {
        let decoded = Decoder::Binary
            .decode(&message(Some(b"k"), None))
            .await
            .expect("binary always decodes");
        assert_eq!(decoded.size, 1);
        assert_eq!(
            serde_json::to_value(&decoded.record).expect("serialize"),
            json!({
                "topic": "orders", "key": "aw==", "value": null, "partition": 3, "offset": 42,
                "headers": [{"name": "trace", "value": "YWJj"}, {"name": "empty", "value": null}],
                "timestamp": 1_700_000_000_123_i64,
            })
        );
    }

    #[tokio::test]
    async fn json_renders_parsed_values_and_refuses_other_bytes() {
        let decoded = Decoder::Json
            .decode(&message(Some(b"\"id\""), Some(br#"{"n":1}"#)))
            .await
            .expect("json");
        assert_eq!(decoded.record.key.to_value(), json!("id"));
        assert_eq!(decoded.record.value.to_value(), json!({"n": 1}));
        assert_eq!(decoded.size, 4 + 7, "raw key plus raw value");
        assert!(Decoder::Json
            .decode(&message(None, Some(b"\x00binary")))
            .await
            .is_err());
    }

    #[test]
    fn every_format_has_a_decoder() {
        let s = schemas("");
        assert!(matches!(
            Decoder::for_format(EmbeddedFormat::Binary, &s),
            Decoder::Binary
        ));
        assert!(matches!(
            Decoder::for_format(EmbeddedFormat::Json, &s),
            Decoder::Json
        ));
        for (format, expected) in [
            (EmbeddedFormat::Avro, SchemaFormat::Avro),
            (EmbeddedFormat::JsonSchema, SchemaFormat::JsonSchema),
            (EmbeddedFormat::Protobuf, SchemaFormat::Protobuf),
        ] {
            assert!(
                matches!(Decoder::for_format(format, &s), Decoder::Schema { format, .. } if format == expected)
            );
        }
    }

    #[tokio::test]
    async fn schema_nulls_stay_null_without_the_registry_and_bad_bytes_name_the_field() {
        // Nothing listens on port 1: a registry call would fail, and none is made for nulls.
        let decoder = Decoder::for_format(EmbeddedFormat::Avro, &schemas("http://127.0.0.1:1"));
        let decoded = decoder.decode(&message(None, None)).await.expect("nulls");
        assert_eq!(decoded.record.key.to_value(), serde_json::Value::Null);
        assert_eq!(decoded.record.value.to_value(), serde_json::Value::Null);
        assert_eq!(decoded.size, 0);

        let err = decoder
            .decode(&message(None, Some(b"not framed")))
            .await
            .expect_err("not the wire format");
        assert_eq!(
            crate::log::ErrorChain(&err).to_string(),
            "the value cannot be read as avro: unknown magic byte 110 (the Confluent wire format starts with 0)"
        );
        assert!(!err.is_registry_unavailable());

        let err = decoder
            .decode(&message(Some(&[0, 0, 0, 0, 7, 2]), None))
            .await
            .expect_err("registry down");
        assert!(err
            .to_string()
            .starts_with("the key cannot be read as avro"));
        assert!(err.is_registry_unavailable(), "{err:?}");
        assert!(!err.is_registry_forbidden());
    }
}
