//! The contract, read into what the Rust emitters need: the intermediate model of one API
//! document. Owns every decision that depends only on the OpenAPI document: the operations
//! with their parameters, bodies and documented answers, the media-type markers, the models
//! of `components/schemas` (with `allOf` flattened and the names of inline enums and objects
//! synthesised from their parent and field), the schema keywords poem-openapi cannot write,
//! the representative status of each documented status range (`5XX` is answered as 500), and
//! the decode-side types of the JSON request bodies. Anything the generator cannot express
//! fails here, with the schema or operation named.
//!
//! How the model is spelled as Rust text (attributes, doc comments, the files of the crate)
//! is `rust_server.rs`; where the output goes is `codegen.rs`.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};
use openapiv3::{
    AdditionalProperties, IntegerFormat, OpenAPI, Operation, Parameter, ParameterSchemaOrContent,
    ReferenceOr, RequestBody, Response, Schema, SchemaKind, StatusCode, StringFormat, Type,
    VariantOrUnknownOrEmpty,
};

/// One parameter of an operation.
pub(super) struct Param {
    pub(super) name: String,
    pub(super) location: ParamIn,
    /// The Rust type the trait method takes (`String`, `Lenient<i32>`, `Option<...>`).
    pub(super) rust: String,
    pub(super) description: Option<String>,
    pub(super) deprecated: bool,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ParamIn {
    Path,
    Query,
}

/// One documented answer of an operation.
pub(super) struct Answer {
    /// The status the adapter answers with: the documented one, or for a range the
    /// representative of [`range_status`].
    pub(super) status: u16,
    /// The range the contract documents (`5XX`), when it documents one instead of a status.
    pub(super) range: Option<String>,
    pub(super) description: String,
    /// The variant's payload type, `None` for an answer without a body.
    pub(super) payload: Option<String>,
}

/// One operation: a method of the trait and of the adapter, and a response enum.
pub(super) struct Op {
    /// The Rust name: the operationId in snake case, or one derived from method and path.
    pub(super) id: String,
    /// The operationId as the contract spells it (the served document keeps it).
    pub(super) operation_id: String,
    pub(super) method: String,
    /// The path template as the contract writes it (`/topics/{topic_name}`).
    pub(super) path: String,
    /// The path in poem's syntax (`/topics/:topic_name`); see [`poem_path`].
    pub(super) route: String,
    /// The path as poem-openapi writes it in the derived document: the contract's path, except
    /// for a segment with an action (`acls:batch`), which is written as routed (`acls%3Abatch`).
    pub(super) served_path: String,
    /// The operation's `x-` extensions, as (name, JSON value), in contract order.
    pub(super) extensions: Vec<(String, String)>,
    pub(super) tags: Vec<String>,
    pub(super) summary: Option<String>,
    pub(super) description: Option<String>,
    pub(super) deprecated: bool,
    pub(super) params: Vec<Param>,
    /// The body's Rust type (`RawBody<Model, media::Marker>`).
    pub(super) body: Option<String>,
    /// The component schema of the request body.
    pub(super) body_schema: Option<String>,
    /// The media types of the request body, in contract order.
    pub(super) request_types: Vec<String>,
    /// The media types of the 2XX answers, in contract order, without repeats.
    pub(super) response_types: Vec<String>,
    pub(super) answers: Vec<Answer>,
}

impl Op {
    /// The tag whose trait declares the operation: its first, or `default` without tags.
    pub(super) fn trait_tag(&self) -> &str {
        self.tags.first().map_or("default", String::as_str)
    }
}

/// A media-type marker to emit in `media.rs`.
pub(super) enum Marker {
    /// One media type (`MediaType`).
    Single { name: String, content_type: String },
    /// The media types of one request body (`RequestMedia`).
    Request {
        op: String,
        name: String,
        content_types: Vec<String>,
        required: bool,
        description: Option<String>,
    },
    /// The media types of one multi-type response (`ResponseMedia`).
    Response {
        name: String,
        content_types: Vec<String>,
    },
}

/// One model of `components/schemas` (or one synthesised from an inline object): a struct,
/// or an alias of another Rust type.
pub(super) struct Model {
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) kind: ModelKind,
}

pub(super) enum ModelKind {
    /// An object with properties, in contract order.
    Struct(Vec<Field>),
    /// A string, typeless, array or map schema: `pub type Name = ty;`.
    Alias {
        ty: String,
        /// The `x-extensible-enum` list of a string schema, as JSON.
        known_values: Option<String>,
    },
}

/// One property of an object model.
pub(super) struct Field {
    /// The property name as the contract spells it.
    pub(super) name: String,
    /// The Rust type, with the required/nullable wrapping (`Option<Nullable<T>>`).
    pub(super) ty: String,
    pub(super) required: bool,
    /// The description of an inline property schema (a `$ref` property has none of its own).
    pub(super) description: Option<String>,
    pub(super) deprecated: bool,
    /// `minItems` of an array property.
    pub(super) min_items: Option<usize>,
}

/// A string schema with `enum`: a Rust enum whose variants rename to the values.
pub(super) struct StringEnum {
    pub(super) name: String,
    pub(super) values: Vec<String>,
}

/// The models met while reading one component besides the component itself: the string
/// enums (emitted after every model) and the objects synthesised from inline schemas (emitted
/// right after their component).
#[derive(Default)]
struct Pending {
    enums: Vec<StringEnum>,
    inline: Vec<Model>,
}

/// One API document, read: everything the emitters need.
pub(super) struct Contract<'a> {
    /// The document itself, for its `info` and top-level `tags`.
    pub(super) doc: &'a OpenAPI,
    /// The operations, in contract order (paths, then methods).
    pub(super) ops: Vec<Op>,
    /// Single media types first (by media type), then the request and response markers in
    /// operation order.
    pub(super) markers: Vec<Marker>,
    /// The models, in `components/schemas` order, each followed by those synthesised from its
    /// inline objects.
    pub(super) models: Vec<Model>,
    /// The string enums, in the order the models met them.
    pub(super) enums: Vec<StringEnum>,
    /// Keywords of component schemas that poem-openapi's schema model cannot write, as (JSON
    /// pointer into the served document, JSON value).
    pub(super) keywords: Vec<(String, String)>,
    /// The decoders of the JSON request bodies and the decode-side models they read.
    pub(super) decode: Decoders,
}

impl<'a> Contract<'a> {
    /// Reads the operations, models and keywords of `doc`.
    pub(super) fn read(doc: &'a OpenAPI) -> Result<Self> {
        let reader = Reader { doc };
        let mut markers = Vec::new();
        let mut ops = Vec::new();
        let mut single: BTreeMap<String, String> = BTreeMap::new();
        for (path, item) in doc.paths.iter() {
            let ReferenceOr::Item(item) = item else {
                bail!("path {path}: a $ref path item is not supported");
            };
            for (method, operation) in item.iter() {
                let op = reader
                    .operation(
                        path,
                        method,
                        &item.parameters,
                        operation,
                        &mut single,
                        &mut markers,
                    )
                    .with_context(|| format!("{} {path}", method.to_uppercase()))?;
                ops.push(op);
            }
        }
        for op in &ops {
            for tag in &op.tags {
                ensure!(
                    doc.tags.iter().any(|t| &t.name == tag),
                    "{}: tag {tag} is not in the top-level tags",
                    op.id
                );
            }
        }
        let markers = single
            .into_iter()
            .map(|(content_type, name)| Marker::Single { name, content_type })
            .chain(markers)
            .collect();
        let mut models = Vec::new();
        let mut pending = Pending::default();
        if let Some(components) = &doc.components {
            for (name, schema) in &components.schemas {
                let ReferenceOr::Item(schema) = schema else {
                    bail!("schema {name}: a $ref alias is not supported");
                };
                let model = reader
                    .model(&mut pending, name, schema)
                    .with_context(|| format!("schema {name}"))?;
                models.extend(model);
                models.append(&mut pending.inline);
            }
        }
        let mut keywords = reader.document_keywords()?;
        for op in &ops {
            for (name, value) in &op.extensions {
                keywords.push((
                    format!(
                        "/paths/{}/{}/{}",
                        pointer_escape(&op.path),
                        op.method,
                        pointer_escape(name)
                    ),
                    value.clone(),
                ));
            }
        }
        Ok(Contract {
            doc,
            markers,
            models,
            enums: pending.enums,
            keywords,
            decode: reader.decoders(&ops)?,
            ops,
        })
    }
}

/// Reads parts of one document, resolving `$ref`s through its components.
struct Reader<'a> {
    doc: &'a OpenAPI,
}

impl<'a> Reader<'a> {
    fn operation(
        &self,
        path: &str,
        method: &str,
        path_params: &'a [ReferenceOr<Parameter>],
        op: &'a Operation,
        single: &mut BTreeMap<String, String>,
        markers: &mut Vec<Marker>,
    ) -> Result<Op> {
        let (id, operation_id) = match &op.operation_id {
            Some(operation_id) => (snake(operation_id), operation_id.clone()),
            None => {
                let id = derived_id(method, path);
                (id.clone(), id)
            }
        };
        ensure!(
            id.starts_with(|c: char| c.is_ascii_lowercase()),
            "operationId {operation_id} does not start with a letter"
        );
        let camel = camel(&id);
        check_literal_segments(path)?;

        // Path-level parameters first; an operation-level one with the same name and place
        // replaces it.
        let mut params: Vec<Param> = Vec::new();
        for p in path_params.iter().chain(&op.parameters) {
            let param = self.param(p)?;
            params.retain(|q| !(q.name == param.name && q.location == param.location));
            params.push(param);
        }

        let mut request_types = Vec::new();
        let mut body_schema = None;
        let body = match &op.request_body {
            None => None,
            Some(body) => {
                let body = self.request_body(body)?;
                let (schema, content_types) = self.one_schema(&body.content, "request body")?;
                request_types.clone_from(&content_types);
                body_schema = schema.strip_prefix("models::").map(str::to_string);
                let name = format!("{camel}Body");
                markers.push(Marker::Request {
                    op: id.clone(),
                    name: name.clone(),
                    content_types,
                    required: body.required,
                    description: body.description.clone(),
                });
                Some(format!("RawBody<{schema}, media::{name}>"))
            }
        };

        ensure!(
            op.responses.default.is_none(),
            "a `default` response is not supported; list the statuses"
        );
        let mut answers = Vec::new();
        let mut response_types: Vec<String> = Vec::new();
        for (status, response) in &op.responses.responses {
            // poem-openapi answers one status per variant, so a range is answered with its
            // representative status; the emitters say so and restore the range in the served
            // document.
            let (status, range) = match *status {
                StatusCode::Code(status) => (status, None),
                StatusCode::Range(range) => {
                    let status = range_status(range)?;
                    (status, Some(format!("{range}XX")))
                }
            };
            ensure!(
                !answers.iter().any(|a: &Answer| a.status == status),
                "status {status} is documented both on its own and through its range {}XX",
                status / 100
            );
            let response = self.response(response)?;
            if (200..300).contains(&status) {
                for content_type in response.content.keys() {
                    if !response_types.contains(content_type) {
                        response_types.push(content_type.clone());
                    }
                }
            }
            let payload = if response.content.is_empty() {
                None
            } else {
                let (schema, content_types) =
                    self.one_schema(&response.content, &format!("response {status}"))?;
                // A streamed answer (`x-streamed: true`) is a body the server writes as it goes,
                // so it is handed over encoded, like a response of several media types.
                let streamed = (200..300).contains(&status)
                    && op
                        .extensions
                        .get("x-streamed")
                        .is_some_and(|v| v.as_bool() == Some(true));
                if let ([content_type], false) = (content_types.as_slice(), streamed) {
                    let marker = single
                        .entry(content_type.clone())
                        .or_insert_with(|| media_type_name(content_type))
                        .clone();
                    Some(format!("Vnd<media::{marker}, {schema}>"))
                } else {
                    let name = format!("{camel}Response{status}");
                    markers.push(Marker::Response {
                        name: name.clone(),
                        content_types,
                    });
                    Some(format!("RawResponse<{schema}, media::{name}>"))
                }
            };
            answers.push(Answer {
                status,
                range,
                description: response.description.clone(),
                payload,
            });
        }
        ensure!(!answers.is_empty(), "the operation documents no response");

        Ok(Op {
            id,
            operation_id,
            path: path.to_string(),
            method: method.to_string(),
            route: poem_path(path),
            served_path: served_path(path),
            extensions: op
                .extensions
                .iter()
                .filter(|(name, _)| name.starts_with("x-"))
                .map(|(name, value)| (name.clone(), value.to_string()))
                .collect(),
            tags: op.tags.clone(),
            summary: op.summary.clone(),
            description: op.description.clone(),
            deprecated: op.deprecated,
            params,
            body,
            body_schema,
            request_types,
            response_types,
            answers,
        })
    }

    fn param(&self, p: &ReferenceOr<Parameter>) -> Result<Param> {
        let p = match p {
            ReferenceOr::Item(p) => p,
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference, "#/components/parameters/")?;
                match self.components()?.parameters.get(name) {
                    Some(ReferenceOr::Item(p)) => p,
                    _ => bail!("{reference} is not a parameter of components"),
                }
            }
        };
        let (data, location) = match p {
            Parameter::Path { parameter_data, .. } => (parameter_data, ParamIn::Path),
            Parameter::Query { parameter_data, .. } => (parameter_data, ParamIn::Query),
            _ => bail!("header and cookie parameters are not supported"),
        };
        let ParameterSchemaOrContent::Schema(schema) = &data.format else {
            bail!(
                "parameter {}: only `schema` parameters are supported",
                data.name
            );
        };
        let schema = self.schema(schema)?;
        // Strings cannot fail to parse; anything else reaches the implementation as
        // `Lenient`, which answers a bad value with its own documented error code.
        let base = match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) if s.enumeration.is_empty() => "String".to_string(),
            SchemaKind::Type(Type::Integer(_) | Type::Boolean(_) | Type::Number(_)) => {
                format!("Lenient<{}>", self.scalar_type(schema, &data.name)?)
            }
            _ => bail!(
                "parameter {}: only string, integer, number and boolean are supported",
                data.name
            ),
        };
        Ok(Param {
            name: data.name.clone(),
            location,
            rust: if data.required {
                base
            } else {
                format!("Option<{base}>")
            },
            description: data.description.clone(),
            deprecated: data.deprecated.unwrap_or(false),
        })
    }

    fn request_body(&self, body: &'a ReferenceOr<RequestBody>) -> Result<&'a RequestBody> {
        match body {
            ReferenceOr::Item(b) => Ok(b),
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference, "#/components/requestBodies/")?;
                match self.components()?.request_bodies.get(name) {
                    Some(ReferenceOr::Item(b)) => Ok(b),
                    _ => bail!("{reference} is not a request body of components"),
                }
            }
        }
    }

    fn response(&self, response: &'a ReferenceOr<Response>) -> Result<&'a Response> {
        match response {
            ReferenceOr::Item(r) => Ok(r),
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference, "#/components/responses/")?;
                match self.components()?.responses.get(name) {
                    Some(ReferenceOr::Item(r)) => Ok(r),
                    _ => bail!("{reference} is not a response of components"),
                }
            }
        }
    }

    fn schema<'b>(&'b self, schema: &'b ReferenceOr<Schema>) -> Result<&'b Schema> {
        match schema {
            ReferenceOr::Item(s) => Ok(s),
            ReferenceOr::Reference { reference } => {
                let name = ref_name(reference, "#/components/schemas/")?;
                match self.components()?.schemas.get(name) {
                    Some(ReferenceOr::Item(s)) => Ok(s),
                    _ => bail!("{reference} is not a schema of components"),
                }
            }
        }
    }

    fn components(&self) -> Result<&'a openapiv3::Components> {
        self.doc
            .components
            .as_ref()
            .context("the document has no components")
    }

    /// The Rust type of the one schema all media types of a body share, and the media types.
    fn one_schema(
        &self,
        content: &indexmap::IndexMap<String, openapiv3::MediaType>,
        what: &str,
    ) -> Result<(String, Vec<String>)> {
        let mut schema: Option<String> = None;
        for (content_type, media) in content {
            let s = media
                .schema
                .as_ref()
                .with_context(|| format!("{what}: {content_type} has no schema"))?;
            let ReferenceOr::Reference { reference } = s else {
                bail!("{what}: {content_type}: use a $ref to components/schemas");
            };
            let name = ref_name(reference, "#/components/schemas/")?.to_string();
            match &schema {
                None => schema = Some(name),
                Some(first) => ensure!(
                    *first == name,
                    "{what}: every media type must have the same schema ({first} and {name})"
                ),
            }
        }
        let schema = schema.with_context(|| format!("{what}: no media type"))?;
        Ok((
            format!("models::{schema}"),
            content.keys().cloned().collect(),
        ))
    }

    /// The Rust type of a string, integer, number or boolean schema.
    fn scalar_type(&self, schema: &Schema, what: &str) -> Result<String> {
        Ok(match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                // `pattern`, `minLength` and `maxLength` reach the served document through
                // `document_keywords` (properties and array items of properties only; the drift
                // test catches any other place).
                match &s.format {
                    VariantOrUnknownOrEmpty::Empty => "String",
                    VariantOrUnknownOrEmpty::Item(StringFormat::Byte) => "ByteString",
                    VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => "DateTimeString",
                    other => bail!("{what}: string format {other:?} is not supported"),
                }
                .to_string()
            }
            SchemaKind::Type(Type::Integer(i)) => {
                // `minimum` / `maximum` reach the served document through
                // `document_keywords` (properties only; the drift test catches any other place).
                ensure!(
                    i.enumeration.is_empty(),
                    "{what}: integer enums are not supported"
                );
                match &i.format {
                    VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32) => "i32",
                    VariantOrUnknownOrEmpty::Item(IntegerFormat::Int64)
                    | VariantOrUnknownOrEmpty::Empty => "i64",
                    other => bail!("{what}: integer format {other:?} is not supported"),
                }
                .to_string()
            }
            SchemaKind::Type(Type::Number(_)) => "f64".to_string(),
            SchemaKind::Type(Type::Boolean(_)) => "bool".to_string(),
            _ => bail!("{what}: not a scalar schema"),
        })
    }

    /// Keywords of component schemas that poem-openapi's schema model cannot write, as (JSON
    /// pointer into the served document, JSON value): `nullable`, `additionalProperties: false`
    /// and `minProperties` of objects, `minimum` / `maximum` of integer properties, `pattern`,
    /// `minLength` and `maxLength` of string properties and their array items. The bodies
    /// that carry them reach the implementation unread (`RawBody`), which enforces them.
    fn document_keywords(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let Some(components) = &self.doc.components else {
            return Ok(out);
        };
        for (name, schema) in &components.schemas {
            let ReferenceOr::Item(Schema {
                schema_kind: SchemaKind::Type(Type::Object(obj)),
                schema_data,
            }) = schema
            else {
                continue;
            };
            let at = format!("/components/schemas/{}", pointer_escape(name));
            if schema_data.nullable {
                out.push((format!("{at}/nullable"), "true".to_string()));
            }
            if let Some(AdditionalProperties::Any(false)) = obj.additional_properties {
                out.push((format!("{at}/additionalProperties"), "false".to_string()));
            }
            if let Some(min) = obj.min_properties {
                out.push((format!("{at}/minProperties"), min.to_string()));
            }
            for (field, field_schema) in &obj.properties {
                let ReferenceOr::Item(field_schema) = field_schema else {
                    continue;
                };
                let field_at = format!("{at}/properties/{}", pointer_escape(field));
                match &field_schema.schema_kind {
                    SchemaKind::Type(Type::Integer(i)) => {
                        if let Some(min) = i.minimum {
                            out.push((format!("{field_at}/minimum"), min.to_string()));
                        }
                        if let Some(max) = i.maximum {
                            out.push((format!("{field_at}/maximum"), max.to_string()));
                        }
                        ensure!(
                            !i.exclusive_minimum && !i.exclusive_maximum,
                            "{name}.{field}: exclusive bounds are not supported"
                        );
                    }
                    SchemaKind::Type(Type::String(s)) => string_keywords(&field_at, s, &mut out),
                    SchemaKind::Type(Type::Array(a)) => {
                        if let Some(ReferenceOr::Item(item)) = &a.items {
                            if let SchemaKind::Type(Type::String(s)) = &item.schema_kind {
                                string_keywords(&format!("{field_at}/items"), s, &mut out);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// `allOf` flattened into one object schema: the properties of every part (resolved
    /// through `$ref`, nested `allOf` flattened too) in order, a later part replacing an
    /// earlier property of the same name, and the union of their `required` lists.
    fn flatten_all_of(&self, schema: &Schema, depth: usize) -> Result<openapiv3::ObjectType> {
        ensure!(depth < 16, "allOf nested too deeply (or a $ref cycle)");
        let mut merged = openapiv3::ObjectType::default();
        let SchemaKind::AllOf { all_of } = &schema.schema_kind else {
            bail!("not an allOf schema");
        };
        for part in all_of {
            let part = self.schema(part)?;
            let obj = match &part.schema_kind {
                SchemaKind::Type(Type::Object(obj)) => obj.clone(),
                SchemaKind::AllOf { .. } => self.flatten_all_of(part, depth + 1)?,
                _ => bail!("allOf: every part must be an object schema"),
            };
            ensure!(
                !matches!(
                    obj.additional_properties,
                    Some(AdditionalProperties::Schema(_))
                ),
                "allOf: a part that is a map is not supported"
            );
            for (field, field_schema) in obj.properties {
                merged.properties.insert(field, field_schema);
            }
            for field in obj.required {
                if !merged.required.contains(&field) {
                    merged.required.push(field);
                }
            }
            if obj.additional_properties.is_some() {
                merged.additional_properties = obj.additional_properties;
            }
        }
        Ok(merged)
    }

    /// The model of the component `name`; `None` for a string enum, which goes to
    /// `pending.enums`.
    fn model(&self, pending: &mut Pending, name: &str, schema: &Schema) -> Result<Option<Model>> {
        let description = schema.schema_data.description.clone();
        if let SchemaKind::AllOf { .. } = &schema.schema_kind {
            let flat = Schema {
                schema_data: schema.schema_data.clone(),
                schema_kind: SchemaKind::Type(Type::Object(self.flatten_all_of(schema, 0)?)),
            };
            return self.model(pending, name, &flat);
        }
        let alias = |ty: String, known_values: Option<String>| {
            Ok(Some(Model {
                name: name.to_string(),
                description: description.clone(),
                kind: ModelKind::Alias { ty, known_values },
            }))
        };
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(st)) if !st.enumeration.is_empty() => {
                self.string_enum(pending, name, st)?;
                Ok(None)
            }
            SchemaKind::Type(Type::String(_)) => {
                // A plain string component, or an `x-extensible-enum` one (its list names the
                // known values; any other string is valid too).
                let ty = self.scalar_type(schema, name)?;
                let known = schema
                    .schema_data
                    .extensions
                    .get("x-extensible-enum")
                    .map(ToString::to_string);
                alias(ty, known)
            }
            SchemaKind::Any(any)
                if any.typ.is_none()
                    && any.properties.is_empty()
                    && any.items.is_none()
                    && any.all_of.is_empty()
                    && any.one_of.is_empty()
                    && any.any_of.is_empty() =>
            {
                // The typeless schema (`AnyValue`): any JSON value, kept as it came.
                alias("serde_json::Value".to_string(), None)
            }
            SchemaKind::Type(Type::Object(obj))
                if !matches!(
                    obj.additional_properties,
                    Some(AdditionalProperties::Schema(_))
                ) =>
            {
                Ok(Some(Model {
                    name: name.to_string(),
                    description,
                    kind: ModelKind::Struct(self.fields(pending, name, obj)?),
                }))
            }
            SchemaKind::Type(Type::Object(_)) | SchemaKind::Type(Type::Array(_)) => {
                let (ty, _) = self.inline_type(schema, name, pending, name)?;
                alias(ty, None)
            }
            _ => bail!("only object, array, string, allOf and typeless schemas can be components"),
        }
    }

    /// The fields of the object `name`; inline enums and objects of its properties are named
    /// after it and the property (`{name}{Property}`).
    fn fields(
        &self,
        pending: &mut Pending,
        name: &str,
        obj: &openapiv3::ObjectType,
    ) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        for (field, field_schema) in &obj.properties {
            let what = format!("{name}.{field}");
            let required = obj.required.contains(field);
            let (ty, field_schema) = self.field_type(
                field_schema,
                &what,
                pending,
                &format!("{name}{}", camel(field)),
            )?;
            let nullable = field_schema.is_some_and(|f| f.schema_data.nullable);
            let ty = match (required, nullable) {
                (true, false) => ty,
                (true, true) => format!("Nullable<{ty}>"),
                (false, false) => format!("Option<{ty}>"),
                (false, true) => format!("Option<Nullable<{ty}>>"),
            };
            let mut min_items = None;
            if let Some(SchemaKind::Type(Type::Array(a))) = field_schema.map(|f| &f.schema_kind) {
                ensure!(
                    a.max_items.is_none() && !a.unique_items,
                    "{what}: maxItems and uniqueItems are not supported"
                );
                min_items = a.min_items;
            }
            fields.push(Field {
                name: field.clone(),
                ty,
                required,
                description: field_schema.and_then(|f| f.schema_data.description.clone()),
                deprecated: field_schema.is_some_and(|f| f.schema_data.deprecated),
                min_items,
            });
        }
        Ok(fields)
    }

    /// The Rust type of a property or item (without the required/nullable wrapping of a
    /// field), and its inline schema if it has one.
    fn field_type<'b>(
        &'b self,
        schema: &'b ReferenceOr<Box<Schema>>,
        what: &str,
        pending: &mut Pending,
        enum_name: &str,
    ) -> Result<(String, Option<&'b Schema>)> {
        match schema {
            ReferenceOr::Reference { reference } => Ok((
                ref_name(reference, "#/components/schemas/")?.to_string(),
                None,
            )),
            ReferenceOr::Item(s) => {
                let (ty, _) = self.inline_type(s, what, pending, enum_name)?;
                Ok((ty, Some(s)))
            }
        }
    }

    /// The Rust type of an inline schema; items and map values that are nullable become
    /// `Nullable<T>`.
    fn inline_type(
        &self,
        schema: &Schema,
        what: &str,
        pending: &mut Pending,
        enum_name: &str,
    ) -> Result<(String, bool)> {
        let nullable = schema.schema_data.nullable;
        let ty = match &schema.schema_kind {
            SchemaKind::Any(any) => {
                ensure!(
                    any.typ.is_none() && any.properties.is_empty() && any.items.is_none(),
                    "{what}: a schema without `type` must have no other keywords"
                );
                "serde_json::Value".to_string()
            }
            SchemaKind::Type(Type::String(st)) if !st.enumeration.is_empty() => {
                self.string_enum(pending, enum_name, st)?;
                enum_name.to_string()
            }
            SchemaKind::Type(
                Type::String(_) | Type::Integer(_) | Type::Number(_) | Type::Boolean(_),
            ) => self.scalar_type(schema, what)?,
            SchemaKind::Type(Type::Array(a)) => {
                let items = a
                    .items
                    .as_ref()
                    .with_context(|| format!("{what}: an array needs `items`"))?;
                let (item, item_schema) = self.field_type(
                    items,
                    &format!("{what}[]"),
                    pending,
                    &format!("{enum_name}Item"),
                )?;
                if item_schema.is_some_and(|i| i.schema_data.nullable) {
                    format!("Vec<Nullable<{item}>>")
                } else {
                    format!("Vec<{item}>")
                }
            }
            SchemaKind::Type(Type::Object(obj))
                if !matches!(
                    obj.additional_properties,
                    Some(AdditionalProperties::Schema(_))
                ) && !obj.properties.is_empty() =>
            {
                // An inline object with properties becomes a model of its own, named after
                // where it sits: `{Parent}{Field}` for a property, `{Parent}{Field}Item` for
                // the items of an array property.
                self.inline_object(pending, what, enum_name, schema, obj)?;
                enum_name.to_string()
            }
            SchemaKind::Type(Type::Object(obj)) => {
                let Some(AdditionalProperties::Schema(values)) = &obj.additional_properties else {
                    bail!(
                        "{what}: an inline object needs properties or must be a map \
                         (additionalProperties: schema); or give it a name in components/schemas"
                    );
                };
                ensure!(
                    obj.properties.is_empty(),
                    "{what}: a map with fixed properties is not supported"
                );
                let values: ReferenceOr<Box<Schema>> = match values.as_ref() {
                    ReferenceOr::Reference { reference } => ReferenceOr::Reference {
                        reference: reference.clone(),
                    },
                    ReferenceOr::Item(v) => ReferenceOr::Item(Box::new(v.clone())),
                };
                let (value, value_schema) = self.field_type(
                    &values,
                    &format!("{what}{{}}"),
                    pending,
                    &format!("{enum_name}Value"),
                )?;
                if value_schema.is_some_and(|v| v.schema_data.nullable) {
                    format!("BTreeMap<String, Nullable<{value}>>")
                } else {
                    format!("BTreeMap<String, {value}>")
                }
            }
            // `allOf: [$ref]` is how a property gives a referenced schema its own description.
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => match &all_of[0] {
                ReferenceOr::Reference { reference } => {
                    ref_name(reference, "#/components/schemas/")?.to_string()
                }
                ReferenceOr::Item(_) => bail!("{what}: an inline allOf must be one $ref"),
            },
            _ => bail!("{what}: oneOf, anyOf, not and inline allOf are not supported"),
        };
        Ok((ty, nullable))
    }

    /// Synthesises the model `name` for the inline object at `what`, refusing a name that a
    /// component or another synthesised model already has.
    fn inline_object(
        &self,
        pending: &mut Pending,
        what: &str,
        name: &str,
        schema: &Schema,
        obj: &openapiv3::ObjectType,
    ) -> Result<()> {
        let taken = self
            .doc
            .components
            .as_ref()
            .is_some_and(|c| c.schemas.contains_key(name))
            || pending.inline.iter().any(|m| m.name == name)
            || pending.enums.iter().any(|e| e.name == name);
        ensure!(
            !taken,
            "{what}: the inline object would be named {name}, which is taken; give it a name in \
             components/schemas"
        );
        let fields = self.fields(pending, name, obj)?;
        pending.inline.push(Model {
            name: name.to_string(),
            description: schema.schema_data.description.clone(),
            kind: ModelKind::Struct(fields),
        });
        Ok(())
    }

    fn string_enum(
        &self,
        pending: &mut Pending,
        name: &str,
        st: &openapiv3::StringType,
    ) -> Result<()> {
        let values = st
            .enumeration
            .iter()
            .map(|value| {
                value
                    .clone()
                    .with_context(|| format!("{name}: a null enum value is not supported"))
            })
            .collect::<Result<_>>()?;
        pending.enums.push(StringEnum {
            name: name.to_string(),
            values,
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Request-body decoders

/// One decode-side model: what a JSON request body (or a part of one) is read into by the
/// generated `decode` module.
pub(super) struct DecodeModel {
    pub(super) name: String,
    pub(super) kind: DecodeKind,
}

pub(super) enum DecodeKind {
    /// An object; `deny_unknown` when its schema says `additionalProperties: false`.
    Struct {
        fields: Vec<DecodeField>,
        deny_unknown: bool,
    },
    /// An array or map schema: `pub type Name = ty;`.
    Alias(String),
}

/// One property of a decode-side object.
pub(super) struct DecodeField {
    /// The property name as the contract spells it.
    pub(super) name: String,
    /// The Rust type: `T` when required and not nullable, else `Option<T>` (missing and
    /// `null` read the same).
    pub(super) ty: String,
    /// Whether the field is `Option<T>`.
    pub(super) optional: bool,
}

/// The decoder of one operation's JSON request body.
pub(super) struct Decoder {
    /// The operation's Rust name: the function is `decode_{op}`.
    pub(super) op: String,
    /// What the body is read into: a decode-side model, `Option<_>` of one for a nullable body.
    pub(super) ty: String,
}

/// The decoders of every operation with a JSON request body and the decode-side models they
/// reach, in the order they are first reached.
#[derive(Default)]
pub(super) struct Decoders {
    pub(super) decoders: Vec<Decoder>,
    pub(super) models: Vec<DecodeModel>,
}

impl Reader<'_> {
    fn decoders(&self, ops: &[Op]) -> Result<Decoders> {
        let mut out = Decoders::default();
        let mut queue: Vec<String> = Vec::new();
        for op in ops {
            let Some(schema_name) = &op.body_schema else {
                continue;
            };
            let json = op
                .request_types
                .iter()
                .all(|t| t == "application/json" || t.ends_with("+json"));
            if !json {
                continue;
            }
            let schema = self.component(schema_name)?;
            let ty = self
                .decode_ref(schema_name, &mut queue)
                .with_context(|| format!("request body of {}", op.id))?;
            let ty = if schema.schema_data.nullable {
                format!("Option<{ty}>")
            } else {
                ty
            };
            out.decoders.push(Decoder {
                op: op.id.clone(),
                ty,
            });
        }
        let mut done: Vec<String> = Vec::new();
        while let Some(name) = queue.first().cloned() {
            queue.remove(0);
            if done.contains(&name) {
                continue;
            }
            done.push(name.clone());
            let schema = self.component(&name)?;
            self.decode_model(&name, schema, &mut queue, &mut out.models)
                .with_context(|| format!("decoding schema {name}"))?;
        }
        Ok(out)
    }

    fn component(&self, name: &str) -> Result<&Schema> {
        match self.components()?.schemas.get(name) {
            Some(ReferenceOr::Item(s)) => Ok(s),
            _ => bail!("{name} is not a schema of components"),
        }
    }

    /// The decode-side type of a `$ref` to the component `name`: string components are read
    /// as their model, typeless ones as raw JSON, the others as a decode-side model (queued).
    fn decode_ref(&self, name: &str, queue: &mut Vec<String>) -> Result<String> {
        let schema = self.component(name)?;
        Ok(match &schema.schema_kind {
            SchemaKind::Type(Type::String(_)) => format!("models::{name}"),
            SchemaKind::Any(any) if any.typ.is_none() && any.properties.is_empty() => {
                "Box<RawValue>".to_string()
            }
            _ => {
                if !queue.iter().any(|q| q == name) {
                    queue.push(name.to_string());
                }
                name.to_string()
            }
        })
    }

    fn decode_model(
        &self,
        name: &str,
        schema: &Schema,
        queue: &mut Vec<String>,
        out: &mut Vec<DecodeModel>,
    ) -> Result<()> {
        let obj = match &schema.schema_kind {
            SchemaKind::AllOf { .. } => self.flatten_all_of(schema, 0)?,
            SchemaKind::Type(Type::Object(obj))
                if !matches!(
                    obj.additional_properties,
                    Some(AdditionalProperties::Schema(_))
                ) =>
            {
                obj.clone()
            }
            _ => {
                let ty = self.decode_inline(schema, name, name, queue, out)?;
                out.push(DecodeModel {
                    name: name.to_string(),
                    kind: DecodeKind::Alias(ty),
                });
                return Ok(());
            }
        };
        let mut fields = Vec::new();
        for (field, field_schema) in &obj.properties {
            let what = format!("{name}.{field}");
            let synthesised = format!("{name}{}", camel(field));
            let (ty, nullable) = match field_schema {
                ReferenceOr::Reference { reference } => (
                    self.decode_ref(ref_name(reference, "#/components/schemas/")?, queue)?,
                    false,
                ),
                ReferenceOr::Item(s) => (
                    self.decode_inline(s, &what, &synthesised, queue, out)?,
                    s.schema_data.nullable,
                ),
            };
            let optional = nullable || !obj.required.contains(field);
            fields.push(DecodeField {
                name: field.clone(),
                ty: if optional {
                    format!("Option<{ty}>")
                } else {
                    ty
                },
                optional,
            });
        }
        out.push(DecodeModel {
            name: name.to_string(),
            kind: DecodeKind::Struct {
                fields,
                deny_unknown: matches!(
                    obj.additional_properties,
                    Some(AdditionalProperties::Any(false))
                ),
            },
        });
        Ok(())
    }

    /// The decode-side type of an inline schema at `what`; `name` is the name its models
    /// counterpart has when it needs one (an enum, an object).
    fn decode_inline(
        &self,
        schema: &Schema,
        what: &str,
        name: &str,
        queue: &mut Vec<String>,
        out: &mut Vec<DecodeModel>,
    ) -> Result<String> {
        let item = |this: &Self,
                    s: &ReferenceOr<Box<Schema>>,
                    name: String,
                    queue: &mut Vec<String>,
                    out: &mut Vec<DecodeModel>|
         -> Result<String> {
            match s {
                ReferenceOr::Reference { reference } => {
                    this.decode_ref(ref_name(reference, "#/components/schemas/")?, queue)
                }
                ReferenceOr::Item(s) => {
                    let ty = this.decode_inline(s, what, &name, queue, out)?;
                    Ok(if s.schema_data.nullable {
                        format!("Option<{ty}>")
                    } else {
                        ty
                    })
                }
            }
        };
        Ok(match &schema.schema_kind {
            SchemaKind::Any(any) if any.typ.is_none() && any.properties.is_empty() => {
                "Box<RawValue>".to_string()
            }
            SchemaKind::Type(Type::String(st)) if !st.enumeration.is_empty() => {
                format!("models::{name}")
            }
            SchemaKind::Type(
                Type::String(_) | Type::Integer(_) | Type::Number(_) | Type::Boolean(_),
            ) => self.scalar_type(schema, what)?,
            SchemaKind::Type(Type::Array(a)) => {
                let items = a
                    .items
                    .as_ref()
                    .with_context(|| format!("{what}: an array needs `items`"))?;
                format!(
                    "Vec<{}>",
                    item(self, items, format!("{name}Item"), queue, out)?
                )
            }
            SchemaKind::Type(Type::Object(obj)) => match &obj.additional_properties {
                Some(AdditionalProperties::Schema(values)) => {
                    let values: ReferenceOr<Box<Schema>> = match values.as_ref() {
                        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
                            reference: reference.clone(),
                        },
                        ReferenceOr::Item(v) => ReferenceOr::Item(Box::new(v.clone())),
                    };
                    format!(
                        "BTreeMap<String, {}>",
                        item(self, &values, format!("{name}Value"), queue, out)?
                    )
                }
                _ => {
                    self.decode_model(name, schema, queue, out)?;
                    name.to_string()
                }
            },
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => match &all_of[0] {
                ReferenceOr::Reference { reference } => {
                    self.decode_ref(ref_name(reference, "#/components/schemas/")?, queue)?
                }
                ReferenceOr::Item(_) => bail!("{what}: an inline allOf must be one $ref"),
            },
            _ => bail!("{what}: oneOf, anyOf, not and inline allOf are not supported"),
        })
    }
}

/// The status that answers for the range `{range}XX`: its first, such as 500 for `5XX`.
pub(super) fn range_status(range: u16) -> Result<u16> {
    ensure!(
        (1..=5).contains(&range),
        "status range {range}XX is not an HTTP status range"
    );
    Ok(range * 100)
}

pub(super) fn ref_name<'r>(reference: &'r str, prefix: &str) -> Result<&'r str> {
    reference
        .strip_prefix(prefix)
        .with_context(|| format!("$ref {reference} does not start with {prefix}"))
}

/// The Rust name of an operation without operationId: its method and the path's segments, with
/// parameters spelled `by_<name>` (`GET /clusters/{cluster_id}/brokers` is
/// `get_clusters_by_cluster_id_brokers`).
pub(super) fn derived_id(method: &str, path: &str) -> String {
    let mut parts = vec![method.to_ascii_lowercase()];
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => parts.push(format!("by_{}", snake(name))),
            None => parts.push(snake(segment)),
        }
    }
    let id = parts.join("_");
    let mut out = String::new();
    for c in id.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Fails on a path whose literal segments hold a character poem's router reads as syntax:
/// `:` starts a parameter, `*` a catch-all and `<` a regular expression, even inside a segment,
/// so `/acls:batch` would route as `/acls` followed by a parameter named `batch`. The one
/// exception is an *action*: a last segment `name:action` (both made of letters, digits, `-`
/// and `_`), as in `/acls:batch` or `/configs:alter`, which [`poem_path`] routes with the
/// colon encoded.
pub(super) fn check_literal_segments(path: &str) -> Result<()> {
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.starts_with('{') && segment.ends_with('}') {
            continue;
        }
        if i + 1 == segments.len() && action_segment(segment).is_some() {
            continue;
        }
        ensure!(
            !segment.contains([':', '*', '<', '{', '}']),
            "path segment {segment:?}: poem's router reads `:`, `*` and `<` inside a segment as \
             a parameter, a catch-all or a regular expression, and a parameter must be a whole \
             segment; only a last segment `name:action` is supported"
        );
    }
    Ok(())
}

/// `("acls", "batch")` for the action segment `acls:batch`: a name and an action of letters,
/// digits, `-` and `_`, joined by one colon.
fn action_segment(segment: &str) -> Option<(&str, &str)> {
    let (name, action) = segment.split_once(':')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    (plain(name) && plain(action)).then_some((name, action))
}

/// The route of an action segment: the name, the colon percent-encoded, the action
/// (`acls%3Abatch`), as `openapi_support::actions::action_route` spells it. poem's router has no
/// escape for a literal colon, so the adapters register it encoded and the server wraps them in
/// `openapi_support::actions::ActionPaths`, which encodes the colons of request paths alike.
fn action_route(name: &str, action: &str) -> String {
    format!("{name}%3A{action}")
}

/// `/topics/{topic_name}` to poem's `/topics/:topic_name`; an action segment (`acls:batch`)
/// becomes [`action_route`].
pub(super) fn poem_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                format!(":{name}")
            } else if let Some((name, action)) = action_segment(segment) {
                action_route(name, action)
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path poem-openapi writes for the route of `path`: parameters as in the contract, an
/// action segment as its route (the served document is given the contract's path back).
pub(super) fn served_path(path: &str) -> String {
    path.split('/')
        .map(|segment| match action_segment(segment) {
            Some((name, action)) if !segment.starts_with('{') => action_route(name, action),
            _ => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `pattern`, `minLength` and `maxLength` of the string schema at `at`, as document keywords.
fn string_keywords(at: &str, s: &openapiv3::StringType, out: &mut Vec<(String, String)>) {
    if let Some(pattern) = &s.pattern {
        out.push((
            format!("{at}/pattern"),
            serde_json::Value::String(pattern.clone()).to_string(),
        ));
    }
    if let Some(min) = s.min_length {
        out.push((format!("{at}/minLength"), min.to_string()));
    }
    if let Some(max) = s.max_length {
        out.push((format!("{at}/maxLength"), max.to_string()));
    }
}

/// A JSON pointer segment: `~` becomes `~0`, `/` becomes `~1`.
pub(super) fn pointer_escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `produce_to_topic` or `auto.offset.reset` to `ProduceToTopic` / `AutoOffsetReset`.
pub(super) fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// `ProduceToTopic` or `responseMinBytes` to snake case.
pub(super) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

/// A Rust identifier for a property or parameter name.
pub(super) fn field_ident(name: &str) -> String {
    let ident = snake(name);
    match ident.as_str() {
        // These cannot be raw identifiers.
        "self" | "super" | "crate" => format!("{ident}_"),
        "type" | "async" | "await" | "match" | "ref" | "move" | "fn" | "impl" | "loop"
        | "where" | "mod" | "use" | "struct" | "enum" | "trait" | "in" | "for" | "if" | "else"
        | "as" | "box" | "const" | "static" | "dyn" | "mut" | "pub" | "return" | "break"
        | "continue" | "let" | "true" | "false" | "unsafe" | "extern" | "yield" | "try" => {
            format!("r#{ident}")
        }
        _ => ident,
    }
}

/// The marker name of a media type: `application/vnd.kafka.json.v2+json` is `KafkaJsonV2`,
/// `application/json` is `Json`.
pub(super) fn media_type_name(content_type: &str) -> String {
    let essence = content_type
        .trim_start_matches("application/")
        .trim_start_matches("vnd.")
        .trim_end_matches("+json");
    camel(essence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_come_from_any_operation_id_or_method_and_path() {
        assert_eq!(snake("listKafkaTopics"), "list_kafka_topics");
        assert_eq!(snake("get_topic"), "get_topic");
        assert_eq!(
            derived_id("get", "/clusters/{cluster_id}/brokers"),
            "get_clusters_by_cluster_id_brokers"
        );
        assert_eq!(derived_id("post", "/"), "post");
    }

    #[test]
    fn paths_with_router_syntax_inside_a_segment_are_refused_except_a_last_action() {
        assert!(check_literal_segments("/topics/{topic_name}/partitions").is_ok());
        assert!(check_literal_segments("/clusters/{cluster_id}/acls:batch").is_ok());
        assert!(check_literal_segments("/topics/-/configs:alter").is_ok());
        let err = check_literal_segments("/clusters/{cluster_id}/acls:batch/x")
            .expect_err("a colon inside a segment that is not the last");
        assert!(err.to_string().contains("acls:batch"), "{err}");
        assert!(check_literal_segments("/a/b:c:d").is_err());
        assert!(check_literal_segments("/a/:b").is_err());
        assert!(check_literal_segments("/a/b*").is_err());
        assert!(check_literal_segments("/a/b{c}").is_err());
    }

    #[test]
    fn action_segments_route_with_the_colon_encoded() {
        assert_eq!(
            poem_path("/clusters/{cluster_id}/acls:batch"),
            "/clusters/:cluster_id/acls%3Abatch"
        );
        assert_eq!(
            served_path("/clusters/{cluster_id}/acls:batch"),
            "/clusters/{cluster_id}/acls%3Abatch"
        );
        assert_eq!(served_path("/topics/{topic_name}"), "/topics/{topic_name}");
    }

    #[test]
    fn names_follow_rust_conventions() {
        assert_eq!(camel("produce_to_topic"), "ProduceToTopic");
        assert_eq!(camel("auto.offset.reset"), "AutoOffsetReset");
        assert_eq!(snake("responseMinBytes"), "response_min_bytes");
        assert_eq!(
            field_ident("consumer.request.timeout.ms"),
            "consumer_request_timeout_ms"
        );
        assert_eq!(field_ident("async"), "r#async");
        assert_eq!(field_ident("self"), "self_");
        assert_eq!(
            media_type_name("application/vnd.kafka.json.v2+json"),
            "KafkaJsonV2"
        );
        assert_eq!(media_type_name("application/vnd.kafka.v2+json"), "KafkaV2");
        assert_eq!(
            poem_path("/topics/{topic_name}/partitions"),
            "/topics/:topic_name/partitions"
        );
    }
}
