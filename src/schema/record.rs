//! The schema formats of one v3 key or value: every record of a v3 produce names its own
//! format and schema (`type`, `schema`, `schema_id`, `schema_version`, `subject`,
//! `subject_name_strategy`), so each side is resolved and converted on its own, through the
//! same caches as a v2 batch.
//!
//! The order is that of a v2 request, for one side: the schema is parsed (or fetched), the
//! data converted, and only then is schema text registered, so a record refused for its data
//! leaves nothing in the registry.

use std::sync::Arc;

use super::registry::{RegisteredSchema, RegistryError, SchemaType};
use super::{
    convert, stamp, ParsedSchema, SchemaError, SchemaFormat, SchemaRef, Schemas, Side,
    SubjectNameStrategy,
};

/// How a v3 key or value names its schema. The API layer has already refused the combinations
/// the format does not allow (schema text with a schema id, a schema format without text).
#[derive(Debug, Clone, Default)]
pub struct SchemaSpec {
    /// The format the client named; `None` lets the registry decide.
    pub format: Option<SchemaFormat>,
    /// The subject, instead of the one the strategy names.
    pub subject: Option<String>,
    /// The strategy naming the subject, instead of the configured one.
    pub strategy: Option<SubjectNameStrategy>,
    pub schema_id: Option<i32>,
    pub schema_version: Option<i32>,
    /// Schema text (with `format`).
    pub schema: Option<String>,
}

/// A key or value converted with its schema, and what the answer reports about it.
#[derive(Debug)]
pub struct EncodedSide {
    /// The framed bytes; `None` for a null that stays a Kafka null.
    pub bytes: Option<Vec<u8>>,
    pub format: SchemaFormat,
    pub subject: String,
    pub schema_id: i32,
    /// The version under the subject, when the request named it or asked for the latest.
    pub schema_version: Option<i32>,
}

impl Schemas {
    /// Converts one key or value (`data`, JSON text; `None` is null) of a record for `topic`
    /// with the schema `spec` names: schema text is parsed and, once the data converted,
    /// registered under its subject; without a format the registry's schema with
    /// `schema_id`, or the subject's `schema_version` (else latest), decides.
    pub async fn encode_side(
        &self,
        topic: &str,
        side: Side,
        spec: SchemaSpec,
        data: Option<&str>,
    ) -> Result<EncodedSide, SchemaError> {
        let inner = self
            .inner
            .as_ref()
            .ok_or(SchemaError::RegistryNotConfigured)?;
        let strategy = spec.strategy.unwrap_or_else(|| inner.strategy(side));
        let subject_for = |record_name: &str| {
            spec.subject
                .clone()
                .unwrap_or_else(|| strategy.subject(topic, side, record_name))
        };
        let null_stays_null = data.is_none() && inner.null_is_kafka_null;
        if let (Some(format), Some(text)) = (spec.format, spec.schema.clone()) {
            let prepared = inner.prepare(side, format, SchemaRef::Text(text)).await?;
            let mut bytes = if null_stays_null {
                None
            } else {
                convert(0, side, Some(&prepared.schema), data)?
            };
            let subject = subject_for(prepared.schema.record_name());
            let text = match &prepared.origin {
                super::Origin::Text(text) => text.clone(),
                super::Origin::Id(registered) => registered.text.clone(),
            };
            let id = inner
                .registry
                .lookup_or_register(&subject, format.schema_type(), &text)
                .await
                .map_err(|source| registry_error(side, &subject, source))?;
            inner.registry.remember(id, format.schema_type(), &text);
            inner.parsed_by_id.insert(id, prepared.schema.clone());
            if let Some(b) = bytes.as_mut() {
                stamp(b, id);
            }
            return Ok(EncodedSide {
                bytes,
                format,
                subject,
                schema_id: id,
                schema_version: None,
            });
        }
        let (registered, subject, version): (Arc<RegisteredSchema>, String, Option<i32>) =
            match spec.schema_id {
                Some(id) => {
                    let registered = inner.registry.schema_by_id(id).await.map_err(|source| {
                        SchemaError::Registry {
                            context: format!(
                                "Error serializing message. Error when fetching {side} schema {id}"
                            ),
                            source,
                        }
                    })?;
                    let parsed = inner
                        .parsed(&registered)
                        .map_err(|problem| SchemaError::InvalidSchema { side, problem })?;
                    let subject = subject_for(parsed.record_name());
                    (registered, subject, None)
                }
                None => {
                    let subject = match (&spec.subject, strategy) {
                        (Some(subject), _) => subject.clone(),
                        (None, SubjectNameStrategy::TopicName) => strategy.subject(topic, side, ""),
                        (None, _) => {
                            return Err(SchemaError::SchemaMismatch(format!(
                                "Error serializing message. The {side} names no schema, so the \
                                 record name strategies cannot name its subject"
                            )))
                        }
                    };
                    let (registered, version) = inner
                        .registry
                        .subject_version(&subject, spec.schema_version)
                        .await
                        .map_err(|source| registry_error(side, &subject, source))?;
                    (registered, subject, Some(version))
                }
            };
        let format = match registered.schema_type {
            SchemaType::Avro => SchemaFormat::Avro,
            SchemaType::Json => SchemaFormat::JsonSchema,
            SchemaType::Protobuf => SchemaFormat::Protobuf,
        };
        if spec.format.is_some_and(|f| f != format) {
            return Err(SchemaError::SchemaMismatch(format!(
                "Error serializing message. Schema {} is a {} schema",
                registered.id,
                registered.schema_type.as_str()
            )));
        }
        let parsed: Arc<ParsedSchema> = inner
            .parsed(&registered)
            .map_err(|problem| SchemaError::InvalidSchema { side, problem })?;
        let bytes = if null_stays_null {
            None
        } else {
            let mut bytes = convert(0, side, Some(&parsed), data)?;
            if let Some(b) = bytes.as_mut() {
                stamp(b, registered.id);
            }
            bytes
        };
        Ok(EncodedSide {
            bytes,
            format,
            subject,
            schema_id: registered.id,
            schema_version: version,
        })
    }
}

fn registry_error(side: Side, subject: &str, source: RegistryError) -> SchemaError {
    SchemaError::Registry {
        context: format!(
            "Error serializing message. Error when resolving the {side} schema under subject {subject}"
        ),
        source,
    }
}
