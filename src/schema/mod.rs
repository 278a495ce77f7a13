//! Schema Registry formats (avro, jsonschema, protobuf): which schema a produce request means,
//! the conversion of its records to the Confluent wire format, and the reverse for consumers.
//!
//! This module owns the subject naming strategies, the order of a schema-format produce
//! (registry configured, schemas present, schemas resolved, every record converted before any
//! is sent), the Confluent framing (magic byte 0, big-endian schema id, protobuf message
//! indexes, payload) and the caches of parsed schemas. The HTTP calls to the registry are
//! `registry.rs`; the value conversions are the codecs `avro.rs`, `json_schema.rs` and
//! `protobuf.rs`. Nothing here knows HTTP status codes or Kafka clients: `src/api/` maps
//! [`SchemaError`] to the error table, `src/produce/` sends the bytes.

pub mod avro;
pub mod json_schema;
pub mod protobuf;
mod record;
pub mod registry;

use std::fmt;
use std::sync::Arc;

use serde_json::value::RawValue;

/// Parsed with the configuration keys; the subjects it names are derived here.
pub use crate::config::SubjectNameStrategy;
use crate::metrics::{Metrics, SchemaCache};
use crate::records::{EmbeddedFormat, ProduceRecord, SchemaBatch};
pub use record::SchemaSpec;
pub use registry::RegistrySettings;
use registry::{BoundedCache, Registry, RegistryError, SchemaType};

pub use registry::RegistrySetupError;

/// The three embedded formats that go through the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaFormat {
    Avro,
    JsonSchema,
    Protobuf,
}

impl SchemaFormat {
    /// The schema format of an embedded format, if it has one.
    pub fn of(format: EmbeddedFormat) -> Option<SchemaFormat> {
        match format {
            EmbeddedFormat::Avro => Some(SchemaFormat::Avro),
            EmbeddedFormat::JsonSchema => Some(SchemaFormat::JsonSchema),
            EmbeddedFormat::Protobuf => Some(SchemaFormat::Protobuf),
            EmbeddedFormat::Binary | EmbeddedFormat::Json => None,
        }
    }

    fn schema_type(self) -> SchemaType {
        match self {
            SchemaFormat::Avro => SchemaType::Avro,
            SchemaFormat::JsonSchema => SchemaType::Json,
            SchemaFormat::Protobuf => SchemaType::Protobuf,
        }
    }
}

impl SchemaFormat {
    /// The name of the format in the v3 API (`type`).
    pub fn v3_name(self) -> &'static str {
        match self {
            SchemaFormat::Avro => "AVRO",
            SchemaFormat::JsonSchema => "JSONSCHEMA",
            SchemaFormat::Protobuf => "PROTOBUF",
        }
    }
}

impl fmt::Display for SchemaFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.schema_type().as_str())
    }
}

/// Key or value: the two sides of a record, each with its own schema and subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Key,
    Value,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Key => "key",
            Side::Value => "value",
        })
    }
}

impl SubjectNameStrategy {
    /// The subject of a schema with `record_name` for one side of `topic`.
    pub fn subject(self, topic: &str, side: Side, record_name: &str) -> String {
        match self {
            SubjectNameStrategy::TopicName => format!("{topic}-{side}"),
            SubjectNameStrategy::RecordName => record_name.to_string(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{record_name}"),
        }
    }
}

/// A schema parsed by its codec.
#[derive(Debug)]
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchema),
    Protobuf(protobuf::ProtobufSchema),
}

impl ParsedSchema {
    /// Parses schema text of a format; the error is the parser's message.
    pub fn parse(format: SchemaFormat, text: &str) -> Result<ParsedSchema, String> {
        match format {
            SchemaFormat::Avro => avro::parse(text).map(ParsedSchema::Avro),
            SchemaFormat::JsonSchema => json_schema::parse(text).map(ParsedSchema::Json),
            SchemaFormat::Protobuf => protobuf::parse(text).map(ParsedSchema::Protobuf),
        }
    }

    /// The name the record-name subject strategies use.
    pub fn record_name(&self) -> &str {
        match self {
            ParsedSchema::Avro(s) => s.name(),
            ParsedSchema::Json(s) => s.name(),
            ParsedSchema::Protobuf(s) => s.name(),
        }
    }

    fn format(&self) -> SchemaFormat {
        match self {
            ParsedSchema::Avro(_) => SchemaFormat::Avro,
            ParsedSchema::Json(_) => SchemaFormat::JsonSchema,
            ParsedSchema::Protobuf(_) => SchemaFormat::Protobuf,
        }
    }

    /// Converts the JSON text of one key or value to its framed wire bytes under schema `id`.
    pub fn encode(&self, id: i32, text: &str) -> Result<Vec<u8>, String> {
        let mut bytes = self.encode_unstamped(text)?;
        stamp(&mut bytes, id);
        Ok(bytes)
    }

    /// Converts the JSON text of one key or value to wire bytes whose schema id is still 0:
    /// the records of a request are converted before their schema is registered, and
    /// [`stamp`]ed with the id afterwards. The text is JSON already (the request body parsed).
    fn encode_unstamped(&self, text: &str) -> Result<Vec<u8>, String> {
        // `frame(0)`, sized for the payload: Avro binary is about as long as the JSON text or
        // shorter, so the bytes usually take one allocation.
        let mut out = Vec::with_capacity(5 + text.len());
        out.extend_from_slice(&[0; 5]);
        if let ParsedSchema::Avro(s) = self {
            // The common shape is written straight from the text; the rest (and every error)
            // takes the general encoder below.
            if s.encode_text_into(text.as_bytes(), &mut out).is_some() {
                return Ok(out);
            }
        }
        self.encode_general_into(text, out)
    }

    /// What [`ParsedSchema::encode`] gives without Avro's walk of the text: the text read into
    /// a `serde_json::Value` first. The fuzz target `avro` checks that the two agree.
    pub fn encode_general(&self, id: i32, text: &str) -> Result<Vec<u8>, String> {
        let mut bytes = self.encode_general_into(text, frame(0))?;
        stamp(&mut bytes, id);
        Ok(bytes)
    }

    fn encode_general_into(&self, text: &str, mut out: Vec<u8>) -> Result<Vec<u8>, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
        match self {
            ParsedSchema::Avro(s) => s.encode_into(&json, &mut out)?,
            ParsedSchema::Json(s) => out.extend(s.encode(&json, text)?),
            ParsedSchema::Protobuf(s) => {
                protobuf::write_indexes(&s.message_indexes(), &mut out);
                out.extend(s.encode(&json)?);
            }
        }
        Ok(out)
    }

    /// Renders the payload that follows the magic byte and schema id as the JSON the
    /// Confluent consumer returns, as compact JSON text.
    pub fn decode(&self, payload: &[u8]) -> Result<String, String> {
        match self {
            ParsedSchema::Avro(s) => s.decode(payload),
            ParsedSchema::Json(s) => s.decode(payload),
            ParsedSchema::Protobuf(s) => {
                let (indexes, rest) = protobuf::read_indexes(payload)?;
                s.decode(&indexes, rest)
            }
        }
    }
}

/// The 5-byte Confluent prefix: magic byte 0 and the schema id, big-endian.
pub fn frame(id: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// Writes the schema id into bytes made by [`frame`].
fn stamp(bytes: &mut [u8], id: i32) {
    if let Some(slot) = bytes.get_mut(1..5) {
        slot.copy_from_slice(&id.to_be_bytes());
    }
}

/// Splits framed bytes into schema id and payload.
pub fn unframe(bytes: &[u8]) -> Result<(i32, &[u8]), String> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [magic, ..] if bytes.len() >= 5 => Err(format!(
            "unknown magic byte {magic} (the Confluent wire format starts with 0)"
        )),
        _ => Err(format!(
            "{} bytes are too short for the Confluent wire format (magic byte and schema id)",
            bytes.len()
        )),
    }
}

/// Why a schema-format produce request was refused. Nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// `schema.registry.url` is empty.
    #[error("Schema Registry must be configured when using schemas.")]
    RegistryNotConfigured,
    /// A record has a key but the request names no key schema.
    #[error("Request includes keys but does not include key schema")]
    KeySchemaMissing,
    /// A record has a value but the request names no value schema.
    #[error("Request includes values but does not include value schema")]
    ValueSchemaMissing,
    /// Both `*_schema` and `*_schema_id` for one side.
    #[error("Request includes both {side}_schema and {side}_schema_id; use one of them")]
    SchemaAndId { side: Side },
    /// The schema text does not parse, or the registry holds a schema this proxy cannot use.
    #[error("{side} schema: {problem}")]
    InvalidSchema { side: Side, problem: String },
    /// The registry failed or refused: unreachable, incompatible schema, unknown id, id not
    /// under the subject.
    #[error("{context}: {source}")]
    Registry {
        context: String,
        #[source]
        source: RegistryError,
    },
    /// The registry answered, but with something unusable for this request.
    #[error("{0}")]
    SchemaMismatch(String),
    /// A key or value that does not fit its schema.
    #[error("Record {index}: {side} {problem}")]
    InvalidRecord {
        index: usize,
        side: Side,
        problem: String,
    },
}

impl SchemaError {
    /// Whether the registry refused the proxy's credentials (Confluent answers 403/40301).
    pub fn is_registry_forbidden(&self) -> bool {
        matches!(self, SchemaError::Registry { source, .. } if source.is_forbidden())
    }
}

/// Why bytes read from Kafka could not be rendered as JSON (a consumer answers 40801).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("Schema Registry must be configured when using schemas.")]
    RegistryNotConfigured,
    /// Not the Confluent wire format.
    #[error("{0}")]
    Framing(String),
    /// The schema id is unknown or the registry cannot be reached.
    #[error("cannot fetch schema {id}: {source}")]
    Schema {
        id: i32,
        #[source]
        source: RegistryError,
    },
    /// The schema is of another format than the consumer's, or unusable.
    #[error("schema {id}: {problem}")]
    UnusableSchema { id: i32, problem: String },
    /// The payload does not decode with its schema.
    #[error("schema {id}: {problem}")]
    Data { id: i32, problem: String },
}

impl DecodeError {
    /// Whether the registry could not serve the schema for now (unreachable, server error):
    /// the bytes may well be fine, and the same call may work later.
    pub fn is_registry_unavailable(&self) -> bool {
        matches!(self, DecodeError::Schema { source, .. } if source.is_unavailable())
    }

    /// Whether the registry refused the proxy's credentials for the schema.
    pub fn is_registry_forbidden(&self) -> bool {
        matches!(self, DecodeError::Schema { source, .. } if source.is_forbidden())
    }
}

/// A schema resolved for one side of a produce request.
#[derive(Debug, Clone)]
pub struct ResolvedSchema {
    pub id: i32,
}

/// Records converted to wire bytes, with the schema ids the response reports.
#[derive(Debug)]
pub struct EncodedBatch {
    pub records: Vec<ProduceRecord>,
    pub key_schema_id: Option<i32>,
    pub value_schema_id: Option<i32>,
}

/// The schema formats service: the registry client (if configured) and the caches of parsed
/// schemas. Cheap to clone.
#[derive(Clone)]
pub struct Schemas {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    registry: Registry,
    key_strategy: SubjectNameStrategy,
    value_strategy: SubjectNameStrategy,
    /// `null.request.body.always.publishes.empty.record`: nulls are Kafka nulls even with a
    /// schema.
    null_is_kafka_null: bool,
    /// Parsed client schema texts, so a repeated schema is parsed once.
    parsed_by_text: BoundedCache<(SchemaFormat, String), Arc<ParsedSchema>>,
    /// Parsed registry schemas by id (schema ids on produce, every consumed record).
    parsed_by_id: BoundedCache<i32, Arc<ParsedSchema>>,
    /// Counts the lookups in `parsed_by_id` (the registry client counts its own).
    metrics: Metrics,
}

#[cfg(test)]
impl Schemas {
    /// The service with the registry at `url` (none when empty) and the configuration's
    /// defaults otherwise, for unit tests.
    pub(crate) fn for_tests(url: &str) -> Schemas {
        Schemas::new(SchemaSettings {
            registry: (!url.is_empty()).then(|| RegistrySettings {
                url: url.to_string(),
                connect_timeout: std::time::Duration::from_secs(2),
                request_timeout: std::time::Duration::from_secs(5),
                cache_capacity: 1000,
                other: Default::default(),
            }),
            key_strategy: SubjectNameStrategy::TopicName,
            value_strategy: SubjectNameStrategy::TopicName,
            null_is_kafka_null: false,
        })
        .expect("schemas for a test")
    }
}

/// What the schema service needs of the configuration; built by `services.rs`.
#[derive(Debug, Clone)]
pub struct SchemaSettings {
    /// The registry client's settings (`schema.registry.*`); `None` without
    /// `schema.registry.url`.
    pub registry: Option<RegistrySettings>,
    /// Subject name strategies of keys and values (`key.subject.name.strategy`,
    /// `value.subject.name.strategy`).
    pub key_strategy: SubjectNameStrategy,
    pub value_strategy: SubjectNameStrategy,
    /// `null.request.body.always.publishes.empty.record`.
    pub null_is_kafka_null: bool,
}

impl Schemas {
    /// The service for `settings`; without a registry every schema call answers "not
    /// configured". Reads TLS files, opens no connection.
    pub fn new(settings: SchemaSettings) -> Result<Schemas, RegistrySetupError> {
        Schemas::with_metrics(settings, Metrics::default())
    }

    /// [`Schemas::new`], counting registry requests and cache lookups in `metrics`.
    pub fn with_metrics(
        settings: SchemaSettings,
        metrics: Metrics,
    ) -> Result<Schemas, RegistrySetupError> {
        let Some(registry) = settings.registry else {
            return Ok(Schemas { inner: None });
        };
        let capacity = registry.cache_capacity;
        Ok(Schemas {
            inner: Some(Arc::new(Inner {
                registry: Registry::with_metrics(&registry, metrics.clone())?,
                key_strategy: settings.key_strategy,
                value_strategy: settings.value_strategy,
                null_is_kafka_null: settings.null_is_kafka_null,
                parsed_by_text: BoundedCache::new(capacity),
                parsed_by_id: BoundedCache::new(capacity),
                metrics,
            })),
        })
    }

    /// Whether a registry is configured (`schema.registry.url` not empty).
    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    /// Puts a parsed schema under `id` into the cache, as if the registry had served it.
    #[cfg(test)]
    pub(crate) fn cache_for_tests(&self, id: i32, format: SchemaFormat, text: &str) {
        if let (Some(inner), Ok(parsed)) = (&self.inner, ParsedSchema::parse(format, text)) {
            inner.parsed_by_id.insert(id, Arc::new(parsed));
        }
    }

    /// Converts every record of a schema-format produce request to wire bytes, resolving
    /// (and, for new schema text, registering) the key and value schemas first. Either all
    /// records convert or the request fails; nothing is sent here.
    pub async fn encode_batch(
        &self,
        topic: &str,
        format: SchemaFormat,
        batch: SchemaBatch,
    ) -> Result<EncodedBatch, SchemaError> {
        let inner = self
            .inner
            .as_ref()
            .ok_or(SchemaError::RegistryNotConfigured)?;
        let refs = &batch.schemas;
        let key_ref = schema_ref(Side::Key, refs.key_schema.as_deref(), refs.key_schema_id)?;
        let value_ref = schema_ref(
            Side::Value,
            refs.value_schema.as_deref(),
            refs.value_schema_id,
        )?;
        if key_ref.is_none() && batch.records.iter().any(|r| r.key.is_some()) {
            return Err(SchemaError::KeySchemaMissing);
        }
        if value_ref.is_none() && batch.records.iter().any(|r| r.value.is_some()) {
            return Err(SchemaError::ValueSchemaMissing);
        }
        // Schemas first (parsed, or fetched by id), then every record, then registration:
        // a request with bad data leaves nothing behind, in Kafka or in the registry.
        let key = match key_ref {
            Some(r) => Some(inner.prepare(Side::Key, format, r).await?),
            None => None,
        };
        let value = match value_ref {
            Some(r) => Some(inner.prepare(Side::Value, format, r).await?),
            None => None,
        };
        let mut records = Vec::with_capacity(batch.records.len());
        // The schema a record's key or value goes through; none for a null when nulls are
        // configured to be Kafka nulls.
        let schema_for = |side: &Option<Prepared>, text: &Option<String>| match side {
            Some(_) if text.is_none() && inner.null_is_kafka_null => None,
            Some(p) => Some(p.schema.clone()),
            None => None,
        };
        for (index, r) in batch.records.into_iter().enumerate() {
            let key = convert(
                index,
                Side::Key,
                schema_for(&key, &r.key).as_deref(),
                r.key.as_deref(),
            )?;
            let value = convert(
                index,
                Side::Value,
                schema_for(&value, &r.value).as_deref(),
                r.value.as_deref(),
            )?;
            records.push(ProduceRecord {
                key,
                value,
                partition: r.partition,
                headers: r.headers,
                timestamp: None,
            });
        }
        let key_schema_id = match &key {
            Some(k) => Some(inner.confirm(topic, Side::Key, format, k).await?.id),
            None => None,
        };
        let value_schema_id = match &value {
            Some(v) => Some(inner.confirm(topic, Side::Value, format, v).await?.id),
            None => None,
        };
        for r in &mut records {
            if let (Some(bytes), Some(id)) = (r.key.as_mut(), key_schema_id) {
                stamp(bytes, id);
            }
            if let (Some(bytes), Some(id)) = (r.value.as_mut(), value_schema_id) {
                stamp(bytes, id);
            }
        }
        Ok(EncodedBatch {
            records,
            key_schema_id,
            value_schema_id,
        })
    }

    /// Renders the framed bytes of a key or value as the JSON the Confluent consumer returns
    /// for `format`: the schema comes from the registry by the id in the bytes (cached).
    pub async fn decode(
        &self,
        format: SchemaFormat,
        bytes: &[u8],
    ) -> Result<Box<RawValue>, DecodeError> {
        let inner = self
            .inner
            .as_ref()
            .ok_or(DecodeError::RegistryNotConfigured)?;
        let (id, payload) = unframe(bytes).map_err(DecodeError::Framing)?;
        let schema = inner.schema_by_id(id).await.map_err(|e| match e {
            ById::Registry(source) => DecodeError::Schema { id, source },
            ById::Unusable(problem) => DecodeError::UnusableSchema { id, problem },
        })?;
        if schema.format() != format {
            return Err(DecodeError::UnusableSchema {
                id,
                problem: format!("is a {} schema, not {format}", schema.format()),
            });
        }
        let text = schema
            .decode(payload)
            .map_err(|problem| DecodeError::Data { id, problem })?;
        RawValue::from_string(text).map_err(|e| DecodeError::Data {
            id,
            problem: format!("rendered invalid JSON: {e}"),
        })
    }
}

/// The schema reference of one side, refusing both text and id.
fn schema_ref(
    side: Side,
    text: Option<&str>,
    id: Option<i32>,
) -> Result<Option<SchemaRef>, SchemaError> {
    match (text, id) {
        (Some(_), Some(_)) => Err(SchemaError::SchemaAndId { side }),
        (Some(text), None) => Ok(Some(SchemaRef::Text(text.to_string()))),
        (None, Some(id)) => Ok(Some(SchemaRef::Id(id))),
        (None, None) => Ok(None),
    }
}

/// The key or value bytes of one record (schema id not yet stamped): no data and no schema is
/// a Kafka null; data (or a null) with a schema is converted, so a null goes through the schema
/// too (`docs/decisions.md` §C6; a schema that does not allow null refuses it).
fn convert(
    index: usize,
    side: Side,
    schema: Option<&ParsedSchema>,
    text: Option<&str>,
) -> Result<Option<Vec<u8>>, SchemaError> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    schema
        .encode_unstamped(text.unwrap_or("null"))
        .map(Some)
        .map_err(|problem| SchemaError::InvalidRecord {
            index,
            side,
            problem,
        })
}

/// A side's schema before its registration is confirmed.
struct Prepared {
    schema: Arc<ParsedSchema>,
    origin: Origin,
}

enum Origin {
    /// Schema text from the request.
    Text(String),
    /// A schema id from the request, as the registry holds it.
    Id(Arc<registry::RegisteredSchema>),
}

/// What a produce request names for one side.
enum SchemaRef {
    Text(String),
    Id(i32),
}

/// Why a schema could not be had by id.
enum ById {
    Registry(RegistryError),
    Unusable(String),
}

impl Inner {
    fn strategy(&self, side: Side) -> SubjectNameStrategy {
        match side {
            Side::Key => self.key_strategy,
            Side::Value => self.value_strategy,
        }
    }

    /// The parsed schema a side names: schema text is parsed (cached); a schema id is fetched
    /// from the registry (cached) and parsed.
    async fn prepare(
        &self,
        side: Side,
        format: SchemaFormat,
        reference: SchemaRef,
    ) -> Result<Prepared, SchemaError> {
        match reference {
            SchemaRef::Text(text) => {
                let key = (format, text);
                let schema = match self.parsed_by_text.get(&key) {
                    Some(s) => s,
                    None => {
                        let parsed = ParsedSchema::parse(format, &key.1)
                            .map_err(|problem| SchemaError::InvalidSchema { side, problem })?;
                        let parsed = Arc::new(parsed);
                        self.parsed_by_text.insert(key.clone(), parsed.clone());
                        parsed
                    }
                };
                Ok(Prepared {
                    schema,
                    origin: Origin::Text(key.1),
                })
            }
            SchemaRef::Id(id) => {
                let registered = self.registry.schema_by_id(id).await.map_err(|source| {
                    SchemaError::Registry {
                        context: format!(
                            "Error serializing message. Error when fetching {side} schema {id}"
                        ),
                        source,
                    }
                })?;
                if registered.schema_type != format.schema_type() {
                    return Err(SchemaError::SchemaMismatch(format!(
                        "Error serializing message. Schema {id} is a {} schema; the {format} format needs a {format} schema",
                        registered.schema_type.as_str()
                    )));
                }
                let schema =
                    self.parsed(&registered)
                        .map_err(|problem| SchemaError::InvalidSchema {
                            side,
                            problem: format!("schema {id} from the registry: {problem}"),
                        })?;
                Ok(Prepared {
                    schema,
                    origin: Origin::Id(registered),
                })
            }
        }
    }

    /// The registration of a prepared schema under its subject: schema text is looked up and
    /// registered if new (an incompatible schema is the registry's error); a schema id must be
    /// registered under the subject already.
    async fn confirm(
        &self,
        topic: &str,
        side: Side,
        format: SchemaFormat,
        prepared: &Prepared,
    ) -> Result<ResolvedSchema, SchemaError> {
        let subject = self
            .strategy(side)
            .subject(topic, side, prepared.schema.record_name());
        let id = match &prepared.origin {
            Origin::Text(text) => {
                let id = self
                    .registry
                    .lookup_or_register(&subject, format.schema_type(), text)
                    .await
                    .map_err(|source| SchemaError::Registry {
                        context: format!(
                            "Error serializing message. Error when registering the {side} schema under subject {subject}"
                        ),
                        source,
                    })?;
                // Later requests naming this id need no registry call either.
                self.registry.remember(id, format.schema_type(), text);
                self.parsed_by_id.insert(id, prepared.schema.clone());
                id
            }
            Origin::Id(registered) => {
                let found = self
                    .registry
                    .lookup(&subject, registered.schema_type, &registered.text)
                    .await
                    .map_err(|source| SchemaError::Registry {
                        context: format!(
                            "Error serializing message. Error when looking up {side} schema {} under subject {subject}",
                            registered.id
                        ),
                        source,
                    })?;
                if found.is_none() {
                    return Err(SchemaError::SchemaMismatch(format!(
                        "Error serializing message. Schema {} is not registered under subject {subject}",
                        registered.id
                    )));
                }
                registered.id
            }
        };
        Ok(ResolvedSchema { id })
    }

    /// A registry schema parsed by its codec (cached by id).
    fn parsed(&self, registered: &registry::RegisteredSchema) -> Result<Arc<ParsedSchema>, String> {
        if let Some(hit) = self.parsed_by_id.get(&registered.id) {
            return Ok(hit);
        }
        if registered.has_references {
            return Err("schemas with references are not supported".into());
        }
        let format = match registered.schema_type {
            SchemaType::Avro => SchemaFormat::Avro,
            SchemaType::Json => SchemaFormat::JsonSchema,
            SchemaType::Protobuf => SchemaFormat::Protobuf,
        };
        let parsed = Arc::new(ParsedSchema::parse(format, &registered.text)?);
        self.parsed_by_id.insert(registered.id, parsed.clone());
        Ok(parsed)
    }

    async fn schema_by_id(&self, id: i32) -> Result<Arc<ParsedSchema>, ById> {
        let cached = self.parsed_by_id.get(&id);
        self.metrics
            .schema_cache(SchemaCache::ParsedById, cached.is_some());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let registered = self
            .registry
            .schema_by_id(id)
            .await
            .map_err(ById::Registry)?;
        self.parsed(&registered).map_err(ById::Unusable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confluent_prefix_is_magic_zero_and_a_big_endian_id() {
        assert_eq!(frame(0x0102_0304), vec![0, 1, 2, 3, 4]);
        assert_eq!(unframe(&[0, 0, 0, 1, 0, 9, 9]), Ok((256, &[9u8, 9][..])));
        assert_eq!(unframe(&[0, 0, 0, 0, 7]), Ok((7, &[][..])));
        assert!(unframe(&[1, 0, 0, 0, 7, 1]).is_err_and(|e| e.contains("magic byte 1")));
        assert!(unframe(&[0, 0, 0]).is_err_and(|e| e.contains("too short")));
        assert!(unframe(b"{\"a\":1}").is_err());
    }

    #[test]
    fn subject_names_follow_the_strategy() {
        let t = |s: &str| s.parse::<SubjectNameStrategy>().expect("known");
        assert_eq!(t("TopicNameStrategy"), SubjectNameStrategy::TopicName);
        assert_eq!(
            t("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"),
            SubjectNameStrategy::TopicRecordName
        );
        assert_eq!(t("RECORD_NAME"), SubjectNameStrategy::RecordName);
        assert!("Topic".parse::<SubjectNameStrategy>().is_err());
        assert_eq!(
            SubjectNameStrategy::TopicName.subject("orders", Side::Key, "x.Y"),
            "orders-key"
        );
        assert_eq!(
            SubjectNameStrategy::TopicName.subject("orders", Side::Value, "x.Y"),
            "orders-value"
        );
        assert_eq!(
            SubjectNameStrategy::RecordName.subject("orders", Side::Value, "x.Y"),
            "x.Y"
        );
        assert_eq!(
            SubjectNameStrategy::TopicRecordName.subject("orders", Side::Key, "x.Y"),
            "orders-x.Y"
        );
    }

    #[test]
    fn every_format_frames_its_payload_and_decodes_its_own_bytes() {
        let rows: [(SchemaFormat, &str, &str, Vec<u8>, &str); 3] = [
            (
                SchemaFormat::Avro,
                r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#,
                r#"{"name": "testUser"}"#,
                [&[0u8, 0, 0, 0, 42][..], b"\x10testUser"].concat(),
                r#"{"name":"testUser"}"#,
            ),
            (
                SchemaFormat::JsonSchema,
                r#"{"type":"object","properties":{"f1":{"type":"string"}}}"#,
                r#"{"f1": "v"}"#,
                [&[0u8, 0, 0, 0, 42][..], br#"{"f1":"v"}"#].concat(),
                r#"{"f1":"v"}"#,
            ),
            (
                SchemaFormat::Protobuf,
                "syntax = \"proto3\";\nmessage MyRecord {\n  string f1 = 1;\n}\n",
                r#"{"f1": "v"}"#,
                vec![0, 0, 0, 0, 42, 0, 0x0a, 1, b'v'],
                r#"{"f1":"v"}"#,
            ),
        ];
        for (format, schema, input, wire, rendered) in rows {
            let parsed = ParsedSchema::parse(format, schema).expect("parses");
            let bytes = parsed.encode(42, input).expect("encodes");
            assert_eq!(bytes, wire, "{format}");
            let (id, payload) = unframe(&bytes).expect("framed");
            assert_eq!(id, 42);
            assert_eq!(
                parsed.decode(payload).expect("decodes"),
                rendered,
                "{format}"
            );
        }
    }

    fn parsed(format: SchemaFormat, text: &str) -> ParsedSchema {
        ParsedSchema::parse(format, text).expect("parses")
    }

    #[test]
    fn nulls_without_a_schema_are_kafka_nulls_and_with_one_go_through_it() {
        assert_eq!(convert(0, Side::Key, None, None).expect("no schema"), None);
        let nullable = parsed(SchemaFormat::Avro, r#"["null","string"]"#);
        let mut bytes = convert(0, Side::Value, Some(&nullable), None)
            .expect("nullable")
            .expect("bytes");
        assert_eq!(bytes, vec![0, 0, 0, 0, 0, 0], "id stamped later");
        stamp(&mut bytes, 9);
        assert_eq!(bytes, vec![0, 0, 0, 0, 9, 0]);
        let record = parsed(
            SchemaFormat::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        );
        let err = convert(3, Side::Value, Some(&record), None).expect_err("not nullable");
        assert_eq!(
            err.to_string(),
            "Record 3: value expected record R (an object), found null"
        );
        let err = convert(1, Side::Key, Some(&record), Some(r#"{"a":"x"}"#)).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "Record 1: key .a: expected int, found \"x\""
        );
        let json = parsed(SchemaFormat::JsonSchema, r#"{"type":["object","null"]}"#);
        assert_eq!(
            convert(0, Side::Value, Some(&json), None).expect("null allowed"),
            Some(b"\0\0\0\0\0null".to_vec())
        );
    }

    fn schemas(url: &str) -> Schemas {
        Schemas::for_tests(url)
    }

    #[tokio::test]
    async fn undecodable_bytes_are_typed_errors() {
        let none = schemas("");
        assert!(matches!(
            none.decode(SchemaFormat::Avro, &[0, 0, 0, 0, 1, 2]).await,
            Err(DecodeError::RegistryNotConfigured)
        ));
        // Nothing listens on port 1: refused at once, never a hang.
        let down = schemas("http://127.0.0.1:1");
        assert!(matches!(
            down.decode(SchemaFormat::Avro, b"plain text").await,
            Err(DecodeError::Framing(_))
        ));
        assert!(matches!(
            down.decode(SchemaFormat::Protobuf, &[0, 0, 0, 0]).await,
            Err(DecodeError::Framing(_))
        ));
        match down.decode(SchemaFormat::Avro, &[0, 0, 0, 0, 7, 2]).await {
            Err(DecodeError::Schema { id: 7, source }) => {
                assert!(source.to_string().contains("did not answer"), "{source}")
            }
            other => panic!("expected a registry error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn schema_formats_without_a_registry_are_refused_first() {
        let batch = crate::records::decode_schema_produce(br#"{"records":[{"value":1}]}"#)
            .expect("decodes");
        assert!(matches!(
            schemas("")
                .encode_batch("t", SchemaFormat::JsonSchema, batch)
                .await,
            Err(SchemaError::RegistryNotConfigured)
        ));
    }

    #[test]
    fn a_request_may_not_name_a_schema_twice() {
        assert!(matches!(
            schema_ref(Side::Value, Some("\"int\""), Some(3)),
            Err(SchemaError::SchemaAndId { side: Side::Value })
        ));
        assert!(matches!(
            schema_ref(Side::Key, None, Some(3)),
            Ok(Some(SchemaRef::Id(3)))
        ));
        assert!(matches!(schema_ref(Side::Key, None, None), Ok(None)));
    }
}
