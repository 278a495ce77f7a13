//! Pure (sans-io) record codecs: the embedded formats of the v2 API and the decoding of a
//! produce request body into the exact bytes that go to Kafka.
//!
//! This module owns the wire rules of the `binary` and `json` embedded formats (`docs/decisions.md`
//! §C1: binary writes the base64-decoded bytes, json writes the compact JSON text) and the
//! validation of every record before anything is sent (`docs/decisions.md` §3 and §4). It knows nothing
//! about Kafka clients, HTTP or status codes: `src/api/` maps [`RecordError`] to the error table.
//! The rendering of consumed records lives in `consumed.rs`.

mod b64;
mod consumed;
pub mod plain_record;
pub mod stream;

pub use consumed::*;

use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The embedded formats of the v2 API, selected by the media type of a produce request or a
/// records call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddedFormat {
    Binary,
    Json,
    Avro,
    JsonSchema,
    Protobuf,
}

/// Which reader a format needs. Confluent checks a records call's `Accept` against the instance
/// by this class, so avro, jsonschema and protobuf instances accept each other's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderClass {
    Binary,
    Json,
    Schema,
}

impl EmbeddedFormat {
    pub const ALL: [EmbeddedFormat; 5] = [
        EmbeddedFormat::Binary,
        EmbeddedFormat::Json,
        EmbeddedFormat::Avro,
        EmbeddedFormat::JsonSchema,
        EmbeddedFormat::Protobuf,
    ];

    /// The vendor media type of this format, e.g. `application/vnd.kafka.json.v2+json`.
    pub fn media_type(self) -> &'static str {
        match self {
            EmbeddedFormat::Binary => "application/vnd.kafka.binary.v2+json",
            EmbeddedFormat::Json => "application/vnd.kafka.json.v2+json",
            EmbeddedFormat::Avro => "application/vnd.kafka.avro.v2+json",
            EmbeddedFormat::JsonSchema => "application/vnd.kafka.jsonschema.v2+json",
            EmbeddedFormat::Protobuf => "application/vnd.kafka.protobuf.v2+json",
        }
    }

    /// The format a media type names (parameters such as `charset` are ignored), if any.
    pub fn from_media_type(media_type: &str) -> Option<EmbeddedFormat> {
        let essence = media_type.split(';').next().unwrap_or_default().trim();
        EmbeddedFormat::ALL
            .into_iter()
            .find(|f| f.media_type().eq_ignore_ascii_case(essence))
    }

    /// The name used in the create-consumer `format` field.
    pub fn name(self) -> &'static str {
        match self {
            EmbeddedFormat::Binary => "binary",
            EmbeddedFormat::Json => "json",
            EmbeddedFormat::Avro => "avro",
            EmbeddedFormat::JsonSchema => "jsonschema",
            EmbeddedFormat::Protobuf => "protobuf",
        }
    }

    /// Parses a `format` field of a create-consumer request, ignoring case.
    pub fn parse(name: &str) -> Option<EmbeddedFormat> {
        EmbeddedFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The reader class of this format (see [`ReaderClass`]).
    pub fn reader_class(self) -> ReaderClass {
        match self {
            EmbeddedFormat::Binary => ReaderClass::Binary,
            EmbeddedFormat::Json => ReaderClass::Json,
            EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf => {
                ReaderClass::Schema
            }
        }
    }

    /// Whether records of this format go through the Schema Registry.
    pub fn uses_schema(self) -> bool {
        matches!(
            self,
            EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf
        )
    }
}

/// Why a produce request body was rejected before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The body is not JSON at all.
    #[error("{0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: a field of the wrong type, a missing required field.
    #[error("{0}")]
    WrongShape(String),
    /// A field the v2 API does not know.
    #[error("Unrecognized field: {0}")]
    UnknownField(String),
    /// No body, or `records` missing or empty.
    #[error("{0}")]
    Empty(&'static str),
    /// One record's data is invalid for the embedded format.
    #[error("Record {index}: {problem}")]
    InvalidRecord { index: usize, problem: String },
}

/// One record as it will be handed to the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The record's own `partition`, which wins over a partition in the path.
    pub partition: Option<i32>,
    pub headers: Vec<Header>,
    /// The record's timestamp in milliseconds since the epoch (v3 produce); `None` leaves it
    /// to the producer (the time it was enqueued).
    pub timestamp: Option<i64>,
}

/// A record header (our extension, `docs/decisions.md` §16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Option<Vec<u8>>,
}

/// The schema references of a produce request (used by the schema formats only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaRefs {
    pub key_schema: Option<String>,
    pub key_schema_id: Option<i32>,
    pub value_schema: Option<String>,
    pub value_schema_id: Option<i32>,
}

/// A decoded produce request for a format without schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceBatch {
    pub records: Vec<ProduceRecord>,
    pub schemas: SchemaRefs,
}

/// A value that must be a JSON object, deserialized as `T`. serde's derived structs also take
/// a JSON array (the fields in order), which neither the contract nor the Confluent REST Proxy
/// accepts; this refuses it with serde's usual "invalid type" error. Only for input parsed from
/// a slice or a string (it borrows the raw text).
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let text = raw.get().trim_start();
        let found = match text.as_bytes().first() {
            Some(b'{') => None,
            Some(b'[') => Some(de::Unexpected::Seq),
            Some(b'"') => Some(de::Unexpected::Other("a string")),
            Some(b'n') => Some(de::Unexpected::Unit),
            Some(b't' | b'f') => Some(de::Unexpected::Other("a boolean")),
            _ => Some(de::Unexpected::Other("a number")),
        };
        if let Some(found) = found {
            return Err(de::Error::invalid_type(found, &"a JSON object"));
        }
        serde_json::from_str(raw.get())
            .map(JsonObject)
            .map_err(|e| de::Error::custom(without_location(&e.to_string())))
    }
}

/// serde_json's message without its " at line L column C" suffix (the outer parse adds its own).
fn without_location(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestIn<'a> {
    #[serde(borrow, default)]
    records: Option<Vec<JsonObject<RecordIn<'a>>>>,
    #[serde(default)]
    key_schema: Option<String>,
    #[serde(default, deserialize_with = "lenient_i32")]
    key_schema_id: Option<i32>,
    #[serde(default)]
    value_schema: Option<String>,
    #[serde(default, deserialize_with = "lenient_i32")]
    value_schema_id: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient_i32")]
    partition: Option<i32>,
    #[serde(default)]
    headers: Option<Vec<JsonObject<HeaderIn>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

/// An integer that may also arrive as a numeric string (Jackson's scalar coercion accepts
/// `"partition": "1"`).
fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i64),
        Str(String),
    }
    match Option::<IntOrString>::deserialize(d)? {
        None => Ok(None),
        Some(IntOrString::Int(n)) => i32::try_from(n)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("integer {n} is out of range"))),
        Some(IntOrString::Str(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected an integer, found {s:?}"))),
    }
}

/// One record of a produce request in a schema format: key and value are the client's JSON
/// text (`None` when absent or null), converted later by the schema codec (`src/schema/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRecord {
    pub key: Option<String>,
    pub value: Option<String>,
    /// The record's own `partition`, which wins over a partition in the path.
    pub partition: Option<i32>,
    pub headers: Vec<Header>,
}

/// A decoded produce request for a schema format (avro, jsonschema, protobuf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaBatch {
    pub records: Vec<SchemaRecord>,
    pub schemas: SchemaRefs,
}

/// Decodes and validates a whole produce request body for the `binary` or `json` format.
///
/// Every record is converted before the caller sends any, so one bad record rejects the request
/// and nothing is half-written.
///
/// The common body (plain records without headers) is read in one pass
/// (`plain_record::read_plain_body`); anything else by [`decode_produce_general`].
pub fn decode_produce(format: EmbeddedFormat, body: &[u8]) -> Result<ProduceBatch, RecordError> {
    let plain = match format {
        EmbeddedFormat::Binary => Some(stream::PlainFormat::Binary),
        EmbeddedFormat::Json => Some(stream::PlainFormat::Json),
        _ => None,
    };
    if let Some(records) = plain.and_then(|f| plain_record::read_plain_body(f, body)) {
        return Ok(ProduceBatch {
            records,
            schemas: SchemaRefs::default(),
        });
    }
    decode_produce_general(format, body)
}

/// [`decode_produce`] of every body, with every error: serde reads the envelope and each
/// record, and each key and value is converted on its own.
pub fn decode_produce_general(
    format: EmbeddedFormat,
    body: &[u8],
) -> Result<ProduceBatch, RecordError> {
    let (records, schemas) = decode_records(body, |index, r| {
        let invalid = |problem: String| RecordError::InvalidRecord { index, problem };
        let key = encode_data(format, r.key).map_err(|p| invalid(format!("key {p}")))?;
        let value = encode_data(format, r.value).map_err(|p| invalid(format!("value {p}")))?;
        Ok(ProduceRecord {
            key,
            value,
            partition: r.partition,
            headers: decode_headers(index, r.headers)?,
            timestamp: None,
        })
    })?;
    Ok(ProduceBatch { records, schemas })
}

/// Decodes a produce request body for a schema format: the request's shape, headers and
/// partitions are checked here; keys and values stay JSON text for the schema codec.
///
/// The common body (schema ids, no headers) is read in one pass
/// (`plain_record::read_plain_schema_body`); anything else by
/// [`decode_schema_produce_general`].
pub fn decode_schema_produce(body: &[u8]) -> Result<SchemaBatch, RecordError> {
    match plain_record::read_plain_schema_body(body) {
        Some(batch) => Ok(batch),
        None => decode_schema_produce_general(body),
    }
}

/// [`decode_schema_produce`] of every body, with every error.
pub fn decode_schema_produce_general(body: &[u8]) -> Result<SchemaBatch, RecordError> {
    let data = |raw: Option<&RawValue>| {
        raw.map(RawValue::get)
            .filter(|text| *text != "null")
            .map(str::to_string)
    };
    let (records, schemas) = decode_records(body, |index, r| {
        Ok(SchemaRecord {
            key: data(r.key),
            value: data(r.value),
            partition: r.partition,
            headers: decode_headers(index, r.headers)?,
        })
    })?;
    Ok(SchemaBatch { records, schemas })
}

/// Parses the request envelope and hands each record to `convert`, in order.
fn decode_records<T>(
    body: &[u8],
    mut convert: impl FnMut(usize, RecordIn<'_>) -> Result<T, RecordError>,
) -> Result<(Vec<T>, SchemaRefs), RecordError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RecordError::Empty("Request body is missing."));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| RecordError::MalformedJson(format!("Request body is not UTF-8: {e}")))?;
    let JsonObject(request): JsonObject<RequestIn<'_>> =
        serde_json::from_str(text).map_err(classify)?;
    let records_in = request
        .records
        .filter(|r| !r.is_empty())
        .ok_or(RecordError::Empty("records may not be empty"))?;
    let mut records = Vec::with_capacity(records_in.len());
    for (index, JsonObject(r)) in records_in.into_iter().enumerate() {
        records.push(convert(index, r)?);
    }
    Ok((
        records,
        SchemaRefs {
            key_schema: request.key_schema,
            key_schema_id: request.key_schema_id,
            value_schema: request.value_schema,
            value_schema_id: request.value_schema_id,
        },
    ))
}

fn decode_headers(
    index: usize,
    headers: Option<Vec<JsonObject<HeaderIn>>>,
) -> Result<Vec<Header>, RecordError> {
    headers
        .unwrap_or_default()
        .into_iter()
        .map(|JsonObject(h)| {
            let value = match h.value {
                None => None,
                Some(v) => Some(decode_base64(&v).map_err(|p| RecordError::InvalidRecord {
                    index,
                    problem: format!("header {:?} value {p}", h.name),
                })?),
            };
            Ok(Header {
                name: h.name,
                value,
            })
        })
        .collect()
}

/// Maps a serde_json error to the request error it stands for.
fn classify(e: serde_json::Error) -> RecordError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            RecordError::MalformedJson(format!("Malformed JSON: {e}"))
        }
        Category::Data => {
            let text = e.to_string();
            // serde's own wording: "unknown field `NAME`, expected one of ...".
            if let Some(rest) = text.strip_prefix("unknown field `") {
                if let Some(end) = rest.find('`') {
                    return RecordError::UnknownField(rest[..end].to_string());
                }
            }
            RecordError::WrongShape(format!("Invalid request: {text}"))
        }
    }
}

/// The bytes of one key or value; `None` (absent or JSON null) is a Kafka null.
fn encode_data(format: EmbeddedFormat, data: Option<&RawValue>) -> Result<Option<Vec<u8>>, String> {
    let Some(raw) = data else { return Ok(None) };
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    match format {
        EmbeddedFormat::Binary => {
            let s: String = serde_json::from_str(text).map_err(|_| {
                format!(
                    "must be a base64 string or null, found {}",
                    abbreviate(text)
                )
            })?;
            decode_base64(&s).map(Some)
        }
        EmbeddedFormat::Json => json_bytes(text).map(Some),
        other => Err(format!(
            "cannot be encoded here: the {} format goes through the schema codec",
            other.name()
        )),
    }
}

/// Checks that a json-format key or value is JSON a consumer can read back: the request
/// parser only checks its syntax (keeping the client's text), so this walks it once more with
/// the full parser, which refuses what a records call could not render: nesting deeper than
/// serde_json's limit (127 levels), numbers outside the range of a double (`1e400`) and unpaired
/// UTF-16 surrogate escapes (`"\ud800"`).
pub fn check_json(text: &str) -> Result<(), String> {
    serde_json::from_str::<ValidJson>(text)
        .map(|_| ())
        .map_err(|e| format!("is not JSON a consumer can read: {e}"))
}

/// A JSON value that was parsed completely and thrown away (see [`check_json`]). Unlike
/// `serde::de::IgnoredAny`, which serde_json skips over without decoding, every string and
/// number is decoded and every container counts against the recursion limit.
struct ValidJson;

impl<'de> Deserialize<'de> for ValidJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidJsonVisitor)
    }
}

struct ValidJsonVisitor;

impl<'de> de::Visitor<'de> for ValidJsonVisitor {
    type Value = ValidJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ValidJson, E> {
        Ok(ValidJson)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ValidJson, A::Error> {
        while seq.next_element::<ValidJson>()?.is_some() {}
        Ok(ValidJson)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ValidJson, A::Error> {
        while map.next_entry::<ValidJson, ValidJson>()?.is_some() {}
        Ok(ValidJson)
    }
}

/// Standard base64 with padding, as Jackson's `byte[]` binding accepts it (also without the
/// trailing padding).
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    if let Some(bytes) = b64::decode(s.as_bytes()) {
        return Ok(bytes);
    }
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .map_err(|e| format!("is not valid base64 ({e})"))
}

/// The bytes Kafka gets for a json-format key or value: the compact form of `text`, refused when
/// [`check_json`] refuses it. `text` is JSON whose syntax the request parser checked (a
/// `RawValue`'s text).
///
/// Most values hold nothing [`check_json`] is there for, and one pass over the bytes can tell:
/// [`compact_if_plain`] compacts the text and gives up at the first sign of what the full parse
/// could refuse, and only then does the full parse run.
pub fn json_bytes(text: &str) -> Result<Vec<u8>, String> {
    match compact_if_plain(text) {
        Some(bytes) => Ok(bytes),
        None => {
            check_json(text)?;
            Ok(compact_json(text))
        }
    }
}

/// Nesting a value may have and still skip the full parse; serde_json's own limit is 127.
const PLAIN_DEPTH_MAX: usize = 100;

/// Number characters in a row a value may have and still skip the full parse: 300 digits
/// cannot leave the range of a double (about 1.8e308).
const PLAIN_NUMBER_MAX: usize = 300;

/// [`compact_json`] of syntactically valid JSON, or `None` where [`check_json`] could refuse
/// it: an escape in a string (it may be an unpaired surrogate), a number with an exponent or
/// of more than [`PLAIN_NUMBER_MAX`] characters (it may not fit a double), nesting deeper than
/// [`PLAIN_DEPTH_MAX`].
fn compact_if_plain(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut at, mut depth, mut number) = (0, 0usize, 0usize);
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => {
                // A string, copied to its closing quote; one with an escape is the full
                // parse's.
                let rest = &bytes[at + 1..];
                let end = memchr::memchr2(b'"', b'\\', rest)?;
                if rest[end] == b'\\' {
                    return None;
                }
                out.extend_from_slice(&bytes[at..at + end + 2]);
                at += end + 2;
                number = 0;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => number = 0,
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                number += 1;
                if number > PLAIN_NUMBER_MAX {
                    return None;
                }
                out.push(b);
            }
            b'e' | b'E' if number > 0 => return None,
            b'[' | b'{' => {
                depth += 1;
                if depth > PLAIN_DEPTH_MAX {
                    return None;
                }
                number = 0;
                out.push(b);
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                number = 0;
                out.push(b);
            }
            _ => {
                number = 0;
                out.push(b);
            }
        }
        at += 1;
    }
    Some(out)
}

/// The compact form of a JSON text: whitespace outside strings removed, everything else (key
/// order, number spelling, escapes) kept exactly as the client wrote it.
pub fn compact_json(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

fn abbreviate(text: &str) -> String {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    use RecordError::InvalidRecord;

    fn decode(format: EmbeddedFormat, body: &str) -> Result<ProduceBatch, RecordError> {
        decode_produce(format, body.as_bytes())
    }

    #[test]
    fn media_types_select_formats_ignoring_parameters_and_case() {
        for f in EmbeddedFormat::ALL {
            assert_eq!(EmbeddedFormat::from_media_type(f.media_type()), Some(f));
        }
        assert_eq!(
            EmbeddedFormat::from_media_type("Application/VND.kafka.json.v2+json; charset=utf-8"),
            Some(EmbeddedFormat::Json)
        );
        assert_eq!(
            EmbeddedFormat::from_media_type("application/vnd.kafka.v2+json"),
            None
        );
        assert_eq!(EmbeddedFormat::from_media_type("application/json"), None);
    }

    #[test]
    fn the_body_records_and_headers_must_be_json_objects() {
        for body in [
            r#"[[{"value":1}]]"#,
            r#"{"records":[[null,null]]}"#,
            r#"{"records":[{"value":1,"headers":[["h","aGk="]]}]}"#,
            r#"{"records":[null]}"#,
        ] {
            assert!(
                decode(EmbeddedFormat::Json, body).is_err(),
                "{body} was accepted"
            );
        }
        let batch = decode(
            EmbeddedFormat::Json,
            r#"{"records":[{"value":1,"headers":[{"name":"h","value":"aGk="}]}]}"#,
        )
        .expect("objects are fine");
        assert_eq!(batch.records.len(), 1);
    }

    #[test]
    fn binary_records_are_base64_decoded() {
        let batch = decode(
            EmbeddedFormat::Binary,
            r#"{"records":[{"key":"a2V5","value":"dmFsdWU=","partition":1},{"value":null},{"key":null,"value":"AP8="}]}"#,
        )
        .expect("valid");
        assert_eq!(batch.records.len(), 3);
        assert_eq!(batch.records[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(batch.records[0].value.as_deref(), Some(&b"value"[..]));
        assert_eq!(batch.records[0].partition, Some(1));
        assert_eq!(batch.records[1].key, None);
        assert_eq!(batch.records[1].value, None);
        assert_eq!(batch.records[2].value.as_deref(), Some(&[0u8, 255][..]));
    }

    #[test]
    fn json_records_keep_the_clients_text_without_whitespace() {
        let batch = decode(
            EmbeddedFormat::Json,
            r#"{"records":[{"key":"k 1","value":{ "z" : 1, "a" : [ 1.50, 12345678901234567890123 ], "s": "a \" b" }}]}"#,
        )
        .expect("valid");
        assert_eq!(batch.records[0].key.as_deref(), Some(&br#""k 1""#[..]));
        assert_eq!(
            String::from_utf8_lossy(batch.records[0].value.as_deref().unwrap_or_default()),
            r#"{"z":1,"a":[1.50,12345678901234567890123],"s":"a \" b"}"#
        );
    }

    #[test]
    fn headers_are_decoded_and_partitions_coerced_from_strings() {
        let batch = decode(
            EmbeddedFormat::Json,
            r#"{"records":[{"value":1,"partition":"2","headers":[{"name":"h","value":"aGk="},{"name":"n","value":null},{"name":"m"}]}]}"#,
        )
        .expect("valid");
        let r = &batch.records[0];
        assert_eq!(r.partition, Some(2));
        assert_eq!(
            r.headers,
            vec![
                Header {
                    name: "h".into(),
                    value: Some(b"hi".to_vec())
                },
                Header {
                    name: "n".into(),
                    value: None
                },
                Header {
                    name: "m".into(),
                    value: None
                },
            ]
        );
    }

    #[test]
    fn schema_fields_are_accepted_and_kept() {
        let batch = decode(
            EmbeddedFormat::Json,
            r#"{"value_schema_id":"7","key_schema":"\"string\"","records":[{"value":1}]}"#,
        )
        .expect("valid");
        assert_eq!(batch.schemas.value_schema_id, Some(7));
        assert_eq!(batch.schemas.key_schema.as_deref(), Some("\"string\""));
    }

    #[test]
    fn bad_bodies_are_rejected_with_their_kind() {
        use RecordError::*;
        let rows: Vec<(EmbeddedFormat, &str, RecordError)> = vec![
            (EmbeddedFormat::Json, "", Empty("Request body is missing.")),
            (
                EmbeddedFormat::Json,
                "  \n",
                Empty("Request body is missing."),
            ),
            (
                EmbeddedFormat::Json,
                "{}",
                Empty("records may not be empty"),
            ),
            (
                EmbeddedFormat::Json,
                r#"{"records":[]}"#,
                Empty("records may not be empty"),
            ),
            (
                EmbeddedFormat::Json,
                r#"{"records":null}"#,
                Empty("records may not be empty"),
            ),
            (
                EmbeddedFormat::Json,
                r#"{"records":[{"value":1,"timestamp":5}]}"#,
                UnknownField("timestamp".into()),
            ),
            (
                EmbeddedFormat::Json,
                r#"{"records":[{"value":1}],"extra":true}"#,
                UnknownField("extra".into()),
            ),
            (
                EmbeddedFormat::Binary,
                r#"{"records":[{"value":"aGk="},{"value":"not base64!"}]}"#,
                InvalidRecord {
                    index: 1,
                    problem: "value is not valid base64 (Invalid symbol 32, offset 3.)".into(),
                },
            ),
            (
                EmbeddedFormat::Binary,
                r#"{"records":[{"key":5}]}"#,
                InvalidRecord {
                    index: 0,
                    problem: "key must be a base64 string or null, found 5".into(),
                },
            ),
        ];
        for (format, body, expected) in rows {
            assert_eq!(decode(format, body), Err(expected), "{body}");
        }
        assert!(matches!(
            decode(EmbeddedFormat::Json, r#"{"records":[{"value":1}"#),
            Err(MalformedJson(_))
        ));
        assert!(matches!(
            decode(EmbeddedFormat::Json, r#"{"records":5}"#),
            Err(WrongShape(_))
        ));
        for not_an_object in [r#"[[{"value":1}]]"#, "5", "null", r#""records""#] {
            match decode(EmbeddedFormat::Json, not_an_object) {
                Err(WrongShape(message)) => assert!(message.contains("JSON object"), "{message}"),
                other => panic!("{not_an_object}: {other:?}"),
            }
        }
        assert!(matches!(
            decode(EmbeddedFormat::Json, "[[{"),
            Err(MalformedJson(_))
        ));
        assert!(matches!(
            decode(
                EmbeddedFormat::Json,
                r#"{"records":[{"value":1,"partition":"x"}]}"#
            ),
            Err(WrongShape(_))
        ));
        assert!(matches!(
            decode(
                EmbeddedFormat::Json,
                r#"{"records":[{"value":1,"partition":99999999999}]}"#
            ),
            Err(WrongShape(_))
        ));
        assert!(matches!(
            decode_produce(EmbeddedFormat::Json, &[0xff, 0xfe]),
            Err(MalformedJson(_))
        ));
    }

    #[test]
    fn schema_records_keep_the_clients_json_text_and_treat_null_as_absent() {
        let batch = decode_schema_produce(
            br#"{"value_schema_id":3,"records":[{"key":{"a": 1},"value":{"string":"x"},"partition":0},{"value":null},{"key":"k","headers":[{"name":"h","value":"aGk="}]}]}"#,
        )
        .expect("valid");
        assert_eq!(batch.schemas.value_schema_id, Some(3));
        let r = &batch.records;
        assert_eq!(r[0].key.as_deref(), Some(r#"{"a": 1}"#));
        assert_eq!(r[0].value.as_deref(), Some(r#"{"string":"x"}"#));
        assert_eq!(r[0].partition, Some(0));
        assert_eq!((r[1].key.as_deref(), r[1].value.as_deref()), (None, None));
        assert_eq!(r[2].key.as_deref(), Some(r#""k""#));
        assert_eq!(r[2].headers[0].value.as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            decode_schema_produce(br#"{"records":[{"value":1,"extra":2}]}"#),
            Err(RecordError::UnknownField("extra".into()))
        );
        assert_eq!(
            decode_schema_produce(br#"{"records":[]}"#),
            Err(RecordError::Empty("records may not be empty"))
        );
    }

    #[test]
    fn json_values_a_consumer_could_not_read_back_are_refused() {
        let nested = |depth: usize| {
            format!(
                r#"{{"records":[{{"value":{}{}}}]}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        for body in [
            nested(100_000),
            nested(129),
            r#"{"records":[{"value":1e400}]}"#.to_string(),
            r#"{"records":[{"value":{"a":-1e309}}]}"#.to_string(),
            r#"{"records":[{"key":"\ud800","value":1}]}"#.to_string(),
            r#"{"records":[{"value":{"\udfff":1}}]}"#.to_string(),
        ] {
            match decode(EmbeddedFormat::Json, &body) {
                Err(InvalidRecord { index: 0, problem }) => {
                    assert!(
                        problem.contains("is not JSON a consumer can read"),
                        "{problem}"
                    )
                }
                other => panic!("{}: {other:?}", &body[..body.len().min(60)]),
            }
        }
        // What the consumer's parser reads is fine, however odd.
        for ok in [
            nested(127),
            r#"{"records":[{"value":1e308}]}"#.to_string(),
            r#"{"records":[{"value":123456789012345678901234567890}]}"#.to_string(),
            r#"{"records":[{"value":"\ud83d\ude00 \u0000"}]}"#.to_string(),
        ] {
            let batch = decode(EmbeddedFormat::Json, &ok).expect("valid");
            let stored = batch.records[0].value.clone().unwrap_or_default();
            crate::records::json_field(Field::Value, Some(&stored)).expect("reads back");
        }
    }

    #[test]
    fn json_bytes_skip_the_full_parse_only_where_it_could_refuse_nothing() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let long_number = "1".repeat(400);
        let plain = [
            r#"{ "a" : [1, -2.5, true, false, null], "b": "x y é" }"#.to_string(),
            "\"e\"".to_string(),
            "[0.000001, -0, 123456789012345678901234567890]".to_string(),
            deep(PLAIN_DEPTH_MAX),
        ];
        for text in &plain {
            let fast = compact_if_plain(text).unwrap_or_else(|| panic!("fast path: {text}"));
            assert_eq!(fast, compact_json(text), "{text}");
            assert_eq!(json_bytes(text), Ok(fast), "{text}");
        }
        // What the full parse is there for goes to it, and it decides.
        let full = [
            (r#""a\nb""#.to_string(), true),
            (r#""\ud800""#.to_string(), false),
            ("1e5".to_string(), true),
            ("[2E-3]".to_string(), true),
            ("1e400".to_string(), false),
            (long_number, false),
            (deep(PLAIN_DEPTH_MAX + 1), true),
            (deep(200), false),
        ];
        for (text, valid) in &full {
            assert_eq!(compact_if_plain(text), None, "{text}");
            assert_eq!(json_bytes(text).is_ok(), *valid, "{text}");
            if *valid {
                assert_eq!(json_bytes(text), Ok(compact_json(text)), "{text}");
            }
        }
    }

    #[test]
    fn compact_json_keeps_strings_intact() {
        assert_eq!(
            compact_json("[ \"a  b\\\\\" , \"\\\" x\" ]"),
            b"[\"a  b\\\\\",\"\\\" x\"]".to_vec()
        );
    }
}
