//! The Avro codec: schema text to a parsed schema, the v2 API's JSON form of a value to Avro
//! binary, and Avro binary back to that JSON form.
//!
//! The JSON form is Avro's own JSON encoding, as the Confluent converters use it (Avro's
//! `JsonDecoder` on produce, `JsonEncoder` on consume): a union value other than null is wrapped
//! in an object naming its branch (`{"string": "x"}`), `bytes` and `fixed` are strings whose code
//! points are the byte values (ISO-8859-1), enums are their symbol, maps are objects. Logical
//! types are annotations only: a `decimal` travels as its bytes, a `date` as its int, a
//! `timestamp-millis` as its long, a `uuid` as its string, exactly as in Java without logical type
//! conversions. To get that, values are encoded and decoded with a copy of the schema whose
//! `logicalType` attributes are removed, so apache-avro never reinterprets them.
//!
//! Pure: no registry, no Kafka. The wire prefix (magic byte, schema id) is `schema/mod.rs`.

mod text;

use std::collections::HashMap;
use std::fmt::Write as _;

use apache_avro::schema::{RecordSchema, Schema, UnionSchema};
use serde_json::Value as Json;

/// A parsed Avro schema, ready to convert values.
#[derive(Debug)]
pub struct AvroSchema {
    /// The schema without logical types: what values are encoded and decoded with.
    schema: Schema,
    /// Named types (records, enums, fixed) by full name, to follow references.
    names: HashMap<String, Schema>,
    /// The full name of a named top-level type, or the type name ("string", "union", ...).
    name: String,
}

/// Parses Avro schema text. The error is the parser's message.
pub fn parse(text: &str) -> Result<AvroSchema, String> {
    let parsed = parse_unchecked(text)?;
    parsed.check_field_defaults()?;
    Ok(parsed)
}

/// [`parse`] without [`AvroSchema::check_field_defaults`].
fn parse_unchecked(text: &str) -> Result<AvroSchema, String> {
    let mut json: Json =
        serde_json::from_str(text).map_err(|e| format!("the schema is not JSON: {e}"))?;
    check_names(&json)?;
    strip_logical_types(&mut json);
    hide_field_defaults(&mut json);
    let mut schema = Schema::parse(&json).map_err(|e| e.to_string())?;
    restore_field_defaults(&mut schema)?;
    let mut names = HashMap::new();
    collect_names(&schema, &mut names);
    let name = match &schema {
        Schema::Record(RecordSchema { name, .. }) => name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        other => type_label(other),
    };
    Ok(AvroSchema {
        schema,
        names,
        name,
    })
}

/// The key a field's `default` travels under through apache-avro's parser (a key no Avro
/// schema uses: it does not start with a letter).
///
/// apache-avro checks each default while it parses, against the names known so far: a default
/// that reaches a union inside an array, a map or a record naming a type still being defined
/// (`"items": ["null", "S"]` within `S`) panics in its parser instead of being refused (found by
/// the fuzz target `avro`). So defaults are hidden from it as custom attributes, put back on the
/// parsed fields, and checked by this module's own encoder once every name is known
/// ([`AvroSchema::check_field_defaults`]).
const HIDDEN_DEFAULT: &str = "#kafka-rest:default";

/// Renames the `default` of every record field to [`HIDDEN_DEFAULT`] (not inside `default`
/// values, which are data; an enum's own `default` symbol is not a field's and stays).
fn hide_field_defaults(json: &mut Json) {
    match json {
        Json::Object(map) => {
            if let Some(Json::Array(fields)) = map.get_mut("fields") {
                for field in fields.iter_mut() {
                    if let Some(field) = field.as_object_mut() {
                        field.remove(HIDDEN_DEFAULT);
                        if let Some(default) = field.remove("default") {
                            field.insert(HIDDEN_DEFAULT.to_owned(), default);
                        }
                    }
                }
            }
            for (key, value) in map.iter_mut() {
                if key != "default" && key != HIDDEN_DEFAULT {
                    hide_field_defaults(value);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(hide_field_defaults),
        _ => {}
    }
}

/// Puts the defaults [`hide_field_defaults`] renamed back where apache-avro keeps them.
fn restore_field_defaults(schema: &mut Schema) -> Result<(), String> {
    match schema {
        Schema::Record(r) => {
            for field in &mut r.fields {
                if let Some(default) = field.custom_attributes.remove(HIDDEN_DEFAULT) {
                    field.default = Some(default);
                }
                restore_field_defaults(&mut field.schema)?;
            }
        }
        Schema::Array(a) => restore_field_defaults(&mut a.items)?,
        Schema::Map(m) => restore_field_defaults(&mut m.types)?,
        Schema::Union(u) => {
            let mut branches = u.variants().to_vec();
            for branch in &mut branches {
                restore_field_defaults(branch)?;
            }
            *u = UnionSchema::new(branches).map_err(|e| e.to_string())?;
        }
        _ => {}
    }
    Ok(())
}

/// Checks every name in type positions of a schema (type references, `name`, `namespace`,
/// `aliases`, field names) against the Avro specification before apache-avro sees them: its
/// parser panics on some invalid names (`"name": ")Q"`) instead of returning an error.
fn check_names(schema: &Json) -> Result<(), String> {
    match schema {
        Json::String(name) => check_name("type", name),
        Json::Array(branches) => branches.iter().try_for_each(check_names),
        Json::Object(map) => {
            if let Some(Json::String(name)) = map.get("name") {
                check_name("name", name)?;
            }
            if let Some(Json::String(namespace)) = map.get("namespace") {
                if !namespace.is_empty() {
                    check_name("namespace", namespace)?;
                }
            }
            check_aliases(map)?;
            for key in ["type", "items", "values"] {
                if let Some(inner) = map.get(key) {
                    check_names(inner)?;
                }
            }
            for field in map
                .get("fields")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(Json::String(name)) = field.get("name") {
                    check_name("field name", name)?;
                }
                if let Some(field) = field.as_object() {
                    check_aliases(field)?;
                }
                if let Some(inner) = field.get("type") {
                    check_names(inner)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_aliases(map: &serde_json::Map<String, Json>) -> Result<(), String> {
    for alias in map
        .get("aliases")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Json::String(alias) = alias {
            check_name("alias", alias)?;
        }
    }
    Ok(())
}

/// A full name: dot-separated parts of `[A-Za-z_][A-Za-z0-9_]*`.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if name.split('.').all(part) {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} {name:?}: Avro names are dot-separated parts of letters, digits and _ that do not start with a digit"
        ))
    }
}

/// Removes every `logicalType` attribute (but not inside `default` values, which are data).
fn strip_logical_types(json: &mut Json) {
    match json {
        Json::Object(map) => {
            map.remove("logicalType");
            for (key, value) in map.iter_mut() {
                if key != "default" {
                    strip_logical_types(value);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(strip_logical_types),
        _ => {}
    }
}

fn collect_names(schema: &Schema, names: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(r) => {
            names.insert(r.name.fullname(None), schema.clone());
            for f in &r.fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => u.variants().iter().for_each(|s| collect_names(s, names)),
        Schema::Decimal(d) => collect_names(&d.inner, names),
        _ => {}
    }
}

/// The label of a union branch in Avro's JSON encoding (and the name of an unnamed type).
fn type_label(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int => "int".into(),
        Schema::Long => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes => "bytes".into(),
        Schema::String => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        Schema::Ref { name } => name.fullname(None),
        // Logical types are stripped before parsing; these only name their underlying type.
        Schema::Decimal(d) => type_label(&d.inner),
        Schema::BigDecimal | Schema::Duration => "bytes".into(),
        Schema::Uuid => "string".into(),
        Schema::Date | Schema::TimeMillis => "int".into(),
        _ => "long".into(),
    }
}

/// Where in a value a problem is, as `.field[2].inner`, for error messages. The parts borrow
/// the schema and the JSON and are rendered only when there is an error, so that a value that
/// encodes costs no allocation for them.
#[derive(Default)]
struct Path<'a> {
    parts: Vec<Part<'a>>,
    /// Values written in [`Mode::Default`] so far, against [`MAX_DEFAULT_STEPS`].
    default_steps: usize,
}

/// One step into a value.
#[derive(Clone, Copy)]
enum Part<'a> {
    /// `.name`: a record field.
    Field(&'a str),
    /// `[i]`: an array item.
    Index(usize),
    /// `["key"]`: a map entry, or the branch of a wrapped union value.
    Key(&'a str),
}

impl<'a> Path<'a> {
    fn push(&mut self, part: Part<'a>) {
        self.parts.push(part);
    }
    fn pop(&mut self) {
        self.parts.pop();
    }
    fn depth(&self) -> usize {
        self.parts.len()
    }
    /// Back to `depth` parts: where a failed attempt (a union branch) left off.
    fn truncate(&mut self, depth: usize) {
        self.parts.truncate(depth);
    }
    fn error(&self, problem: impl std::fmt::Display) -> String {
        if self.parts.is_empty() {
            return problem.to_string();
        }
        let mut out = String::new();
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                Part::Field(name) => write!(out, ".{name}"),
                Part::Index(i) => write!(out, "[{i}]"),
                Part::Key(key) => write!(out, "[{key:?}]"),
            };
        }
        format!("{out}: {problem}")
    }
}

/// How JSON is read: request data (unions wrapped) or a schema default (unions unwrapped, the
/// value being of the first branch, as the Avro specification has it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Data,
    Default,
}

impl AvroSchema {
    /// Refuses a schema with a field default that is not a value of the field's type, as
    /// Avro's parser does (`Schema.Parser` validates defaults). A default is checked by writing
    /// it as a missing field would be written; a union default may be a value of any branch,
    /// as apache-avro accepts it. Every named record is in `names` once.
    ///
    /// The records are checked in name order, so that of several bad defaults the same one is
    /// named every time, and [`MAX_DEFAULT_STEPS`] bounds the whole schema's check.
    fn check_field_defaults(&self) -> Result<(), String> {
        let mut scratch = Vec::new();
        let mut records: Vec<(&String, &RecordSchema)> = self
            .names
            .iter()
            .filter_map(|(name, schema)| match schema {
                Schema::Record(r) => Some((name, r)),
                _ => None,
            })
            .collect();
        records.sort_unstable_by_key(|(name, _)| *name);
        let mut steps = 0;
        for (_, r) in records {
            for field in &r.fields {
                let Some(default) = &field.default else {
                    continue;
                };
                scratch.clear();
                let mut path = Path {
                    parts: Vec::new(),
                    default_steps: steps,
                };
                self.write_value(
                    &field.schema,
                    default,
                    Mode::Default,
                    &mut path,
                    &mut scratch,
                )
                .map_err(|e| {
                    format!(
                        "the default of field {} of record {} is not a value of its type ({})",
                        field.name,
                        r.name.fullname(None),
                        e
                    )
                })?;
                steps = path.default_steps;
            }
        }
        Ok(())
    }

    /// The name a record-name subject strategy uses: the full name of a named type, else the
    /// type name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Converts the JSON form of one value to Avro binary (without the wire prefix).
    pub fn encode(&self, json: &Json) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode_into(json, &mut out)?;
        Ok(out)
    }

    /// Appends the Avro binary of the JSON form of one value to `out`. The value is written
    /// while the JSON is walked along the schema, without building an Avro value tree first
    /// (the bytes are those of Avro's binary encoding, as apache-avro writes them). On an error
    /// `out` may hold part of the value.
    pub fn encode_into(&self, json: &Json, out: &mut Vec<u8>) -> Result<(), String> {
        let mut path = Path::default();
        self.write_value(&self.schema, json, Mode::Data, &mut path, out)
    }

    /// Converts Avro binary (without the wire prefix) to its JSON form, as compact JSON text.
    ///
    /// A top-level union renders its branch value unwrapped, as the Confluent consumer does
    /// (it renders the deserialized object with that object's own schema).
    ///
    /// The bytes are read and rendered in one pass by this module's own reader rather than by
    /// apache-avro, whose reader follows a recursive schema as deep as the bytes say (and a
    /// record that contains itself for ever): the payload comes from Kafka, so only
    /// [`MAX_DEPTH`] and [`MAX_RENDERED_BYTES`] bound what rendering it costs.
    pub fn decode(&self, payload: &[u8]) -> Result<String, String> {
        let mut reader = DatumReader {
            schema: self,
            bytes: payload,
            depth: 0,
            out: String::new(),
        };
        match self.resolve(&self.schema)? {
            Schema::Union(u) => {
                let branch = reader.union_branch(u)?;
                reader.value(branch)?;
            }
            other => reader.value(other)?,
        }
        Ok(reader.out)
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => self
                .names
                .get(&name.fullname(None))
                .ok_or_else(|| format!("unknown type {}", name.fullname(None))),
            other => Ok(other),
        }
    }

    /// Writes `json` as a value of `schema` to `out` (Avro binary encoding: zig-zag varints,
    /// length-prefixed strings and bytes, arrays and maps as one block and a zero count, a
    /// union as its branch index and the value, a record as its fields in schema order).
    fn write_value<'a>(
        &'a self,
        schema: &'a Schema,
        json: &'a Json,
        mode: Mode,
        path: &mut Path<'a>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        if path.depth() > MAX_DEPTH {
            // Only a schema default can get here: data is no deeper than the request's JSON. A
            // record whose default leads back to itself would otherwise never end.
            return Err(path.error(format!(
                "the value is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        if mode == Mode::Default {
            path.default_steps += 1;
            if path.default_steps > MAX_DEFAULT_STEPS {
                return Err(path.error(format!(
                    "the default takes more than {MAX_DEFAULT_STEPS} values to write"
                )));
            }
        }
        let schema = self.resolve(schema)?;
        let mismatch = |path: &Path<'_>, expected: &str| {
            path.error(format!("expected {expected}, found {}", kind(json)))
        };
        match schema {
            Schema::Null => match json {
                Json::Null => Ok(()),
                _ => Err(mismatch(path, "null")),
            },
            Schema::Boolean => {
                let b = json.as_bool().ok_or_else(|| mismatch(path, "boolean"))?;
                out.push(u8::from(b));
                Ok(())
            }
            Schema::Int => {
                let n = integer(json).ok_or_else(|| mismatch(path, "int"))?;
                let n = i32::try_from(n)
                    .map_err(|_| path.error(format!("{n} is out of range for int")))?;
                put_long(out, i64::from(n));
                Ok(())
            }
            Schema::Long => {
                put_long(out, integer(json).ok_or_else(|| mismatch(path, "long"))?);
                Ok(())
            }
            Schema::Float => {
                let f = floating(json).ok_or_else(|| mismatch(path, "float"))?;
                out.extend_from_slice(&(f as f32).to_le_bytes());
                Ok(())
            }
            Schema::Double => {
                let f = floating(json).ok_or_else(|| mismatch(path, "double"))?;
                out.extend_from_slice(&f.to_le_bytes());
                Ok(())
            }
            Schema::String => {
                let s = json.as_str().ok_or_else(|| mismatch(path, "string"))?;
                put_bytes(out, s.as_bytes());
                Ok(())
            }
            Schema::Bytes => {
                let s = json
                    .as_str()
                    .ok_or_else(|| mismatch(path, "bytes as a string"))?;
                let bytes = latin1(s).map_err(|e| path.error(e))?;
                put_bytes(out, &bytes);
                Ok(())
            }
            Schema::Fixed(f) => {
                let s = json.as_str().ok_or_else(|| {
                    mismatch(
                        path,
                        &format!("fixed {} as a string", f.name.fullname(None)),
                    )
                })?;
                let bytes = latin1(s).map_err(|e| path.error(e))?;
                if bytes.len() != f.size {
                    return Err(path.error(format!(
                        "fixed {} needs {} bytes, found {}",
                        f.name.fullname(None),
                        f.size,
                        bytes.len()
                    )));
                }
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Schema::Enum(e) => {
                let s = json.as_str().ok_or_else(|| {
                    mismatch(path, &format!("a symbol of enum {}", e.name.fullname(None)))
                })?;
                let index = e.symbols.iter().position(|x| x == s).ok_or_else(|| {
                    path.error(format!(
                        "{s:?} is not a symbol of enum {} ({})",
                        e.name.fullname(None),
                        e.symbols.join(", ")
                    ))
                })?;
                put_long(out, index as i64);
                Ok(())
            }
            Schema::Array(a) => {
                let items = json.as_array().ok_or_else(|| mismatch(path, "array"))?;
                if !items.is_empty() {
                    put_long(out, items.len() as i64);
                }
                for (i, item) in items.iter().enumerate() {
                    path.push(Part::Index(i));
                    self.write_value(&a.items, item, mode, path, out)?;
                    path.pop();
                }
                out.push(0);
                Ok(())
            }
            Schema::Map(m) => {
                let entries = json
                    .as_object()
                    .ok_or_else(|| mismatch(path, "map (an object)"))?;
                if !entries.is_empty() {
                    put_long(out, entries.len() as i64);
                }
                for (k, v) in entries {
                    path.push(Part::Key(k));
                    put_bytes(out, k.as_bytes());
                    self.write_value(&m.types, v, mode, path, out)?;
                    path.pop();
                }
                out.push(0);
                Ok(())
            }
            Schema::Union(u) => self.write_union(u, json, mode, path, out),
            Schema::Record(r) => {
                let object = json.as_object().ok_or_else(|| {
                    mismatch(
                        path,
                        &format!("record {} (an object)", r.name.fullname(None)),
                    )
                })?;
                let mut used = 0usize;
                for field in &r.fields {
                    let found = object.get(&field.name).or_else(|| {
                        field
                            .aliases
                            .iter()
                            .flatten()
                            .find_map(|alias| object.get(alias))
                    });
                    path.push(Part::Field(&field.name));
                    match (found, &field.default) {
                        (Some(v), _) => {
                            used += 1;
                            self.write_value(&field.schema, v, mode, path, out)?;
                        }
                        (None, Some(default)) => {
                            self.write_value(&field.schema, default, Mode::Default, path, out)?;
                        }
                        (None, None) => {
                            return Err(path.error("missing field (it has no default)"));
                        }
                    }
                    path.pop();
                }
                if used < object.len() {
                    let unknown: Vec<&str> = object
                        .keys()
                        .filter(|k| {
                            !r.fields.iter().any(|f| {
                                &f.name == *k || f.aliases.iter().flatten().any(|a| a == *k)
                            })
                        })
                        .map(String::as_str)
                        .collect();
                    if !unknown.is_empty() {
                        return Err(path.error(format!(
                            "unknown field(s) {} for record {}",
                            unknown.join(", "),
                            r.name.fullname(None)
                        )));
                    }
                }
                Ok(())
            }
            other => Err(path.error(format!("unsupported schema type {}", type_label(other)))),
        }
    }

    fn write_union<'a>(
        &'a self,
        union: &'a UnionSchema,
        json: &'a Json,
        mode: Mode,
        path: &mut Path<'a>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let branches = union.variants();
        if mode == Mode::Default {
            // A default is a value of the first branch, unwrapped; be lenient and try the rest.
            let mut first_error = None;
            let start = out.len();
            let depth = path.depth();
            for (i, branch) in branches.iter().enumerate() {
                put_long(out, i as i64);
                match self.write_value(branch, json, Mode::Default, path, out) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(start);
                        path.truncate(depth);
                        first_error.get_or_insert(e);
                    }
                }
            }
            return Err(first_error.unwrap_or_else(|| path.error("empty union")));
        }
        if json.is_null() {
            return match branches.iter().position(|b| matches!(b, Schema::Null)) {
                Some(i) => {
                    put_long(out, i as i64);
                    Ok(())
                }
                None => Err(path.error(format!(
                    "null is not allowed by the union [{}]",
                    union_labels(branches).join(", ")
                ))),
            };
        }
        let wrapped = json.as_object().filter(|o| o.len() == 1);
        let Some((label, inner)) = wrapped.and_then(|o| o.iter().next()) else {
            let labels = union_labels(branches);
            return Err(path.error(format!(
                "a union value must be null or an object with one of the keys {} (e.g. {{\"{}\": ...}}), found {}",
                labels.join(", "),
                labels.iter().find(|l| *l != "null").map(String::as_str).unwrap_or("null"),
                kind(json)
            )));
        };
        let index = branch_index(branches, label).ok_or_else(|| {
            path.error(format!(
                "{label:?} is not a branch of the union [{}]",
                union_labels(branches).join(", ")
            ))
        })?;
        put_long(out, index as i64);
        path.push(Part::Key(label));
        self.write_value(&branches[index], inner, Mode::Data, path, out)?;
        path.pop();
        Ok(())
    }
}

/// The labels of a union's branches, as a wrapped union value names them.
fn union_labels(branches: &[Schema]) -> Vec<String> {
    branches.iter().map(type_label).collect()
}

/// The branch a wrapped union value names: its label, or (leniency) the simple name of a named
/// type when only one branch has it. Compares without building the labels of every branch
/// unless a name must be shortened.
fn branch_index(branches: &[Schema], label: &str) -> Option<usize> {
    if let Some(i) = branches.iter().position(|b| type_label_is(b, label)) {
        return Some(i);
    }
    let labels = union_labels(branches);
    let mut matches = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.rsplit('.').next() == Some(label));
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Whether [`type_label`] of `schema` is `label`, without allocating for the primitive types.
fn type_label_is(schema: &Schema, label: &str) -> bool {
    let primitive = match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes => "bytes",
        Schema::String => "string",
        other => return type_label(other) == label,
    };
    primitive == label
}

/// Avro's `long` (and `int`): zig-zag, then a little-endian base-128 varint.
fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Avro's `bytes` and `string`: the length as a `long`, then the bytes.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// How deep a decoded value may nest (records, arrays, maps and union wrappers, each one
/// level): as deep as serde_json reads (127 levels, the limit a client's JSON has on produce
/// too), so that whatever this codec renders, a parser with the usual limits reads back.
pub const MAX_DEPTH: usize = 127;

/// The most values the schema defaults of one record (or, at parse, of one schema) may take to
/// write. A default may try every branch of each union it reaches, so a default that leads back
/// to its own record through a union of two records would otherwise take time exponential in
/// [`MAX_DEPTH`]; a real default is a few values. The check runs on a worker thread while a
/// request's schema is parsed, so the bound keeps its worst case to a few milliseconds.
const MAX_DEFAULT_STEPS: usize = 10_000;

/// The largest JSON text one value renders to. Items that take no bytes (nulls, empty
/// records) would otherwise let a few bytes of block count render gigabytes.
pub const MAX_RENDERED_BYTES: usize = 64 << 20;

/// Reads Avro binary by a schema and renders Avro's JSON encoding as it goes.
struct DatumReader<'s, 'b> {
    schema: &'s AvroSchema,
    bytes: &'b [u8],
    /// Containers open at this point of the value.
    depth: usize,
    out: String,
}

impl<'s, 'b> DatumReader<'s, 'b> {
    fn value(&mut self, schema: &'s Schema) -> Result<(), String> {
        let schema = self.schema.resolve(schema)?;
        if self.out.len() > MAX_RENDERED_BYTES {
            return Err(format!(
                "invalid Avro data: the value renders to more than {MAX_RENDERED_BYTES} bytes of JSON"
            ));
        }
        match schema {
            Schema::Null => self.out.push_str("null"),
            Schema::Boolean => match self.take(1)? {
                [0] => self.out.push_str("false"),
                [1] => self.out.push_str("true"),
                [b] => return Err(format!("invalid Avro data: {b} is not a boolean")),
                _ => return Err(truncated()),
            },
            Schema::Int => {
                let n = self.long()?;
                let n = i32::try_from(n)
                    .map_err(|_| format!("invalid Avro data: {n} is out of range for int"))?;
                let _ = write!(self.out, "{n}");
            }
            Schema::Long => {
                let n = self.long()?;
                let _ = write!(self.out, "{n}");
            }
            Schema::Float => {
                let b = self.take(4)?;
                let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                push_float(
                    &mut self.out,
                    f64::from(f),
                    f.is_finite().then(|| f.to_string()),
                );
            }
            Schema::Double => {
                let b = self.take(8)?;
                let f = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                push_float(&mut self.out, f, None);
            }
            Schema::String => {
                let len = self.length()?;
                let text = std::str::from_utf8(self.take(len)?)
                    .map_err(|e| format!("invalid Avro data: a string is not UTF-8: {e}"))?;
                push_str(&mut self.out, text);
            }
            Schema::Bytes => {
                let len = self.length()?;
                let bytes = self.take(len)?;
                push_latin1(&mut self.out, bytes);
            }
            Schema::Fixed(f) => {
                let bytes = self.take(f.size)?;
                push_latin1(&mut self.out, bytes);
            }
            Schema::Enum(e) => {
                let i = self.long()?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| {
                        format!(
                            "invalid Avro data: {i} is not a symbol index of enum {}",
                            e.name.fullname(None)
                        )
                    })?;
                push_str(&mut self.out, symbol);
            }
            Schema::Array(a) => {
                self.open('[')?;
                let mut first = true;
                while let Some(count) = self.block()? {
                    for _ in 0..count {
                        if !std::mem::take(&mut first) {
                            self.out.push(',');
                        }
                        self.value(&a.items)?;
                    }
                }
                self.close(']');
            }
            Schema::Map(m) => {
                self.open('{')?;
                // Rendered sorted by key; a repeated key keeps its last value, as a map does.
                let mut entries = std::collections::BTreeMap::new();
                while let Some(count) = self.block()? {
                    for _ in 0..count {
                        let len = self.length()?;
                        let key = std::str::from_utf8(self.take(len)?)
                            .map_err(|e| format!("invalid Avro data: a map key is not UTF-8: {e}"))?
                            .to_string();
                        let start = self.out.len();
                        self.value(&m.types)?;
                        let rendered = self.out.split_off(start);
                        entries.insert(key, rendered);
                    }
                }
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    push_str(&mut self.out, key);
                    self.out.push(':');
                    self.out.push_str(value);
                }
                self.close('}');
            }
            Schema::Record(r) => {
                self.open('{')?;
                for (i, field) in r.fields.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    push_str(&mut self.out, &field.name);
                    self.out.push(':');
                    self.value(&field.schema)?;
                }
                self.close('}');
            }
            Schema::Union(u) => {
                let branch = self.union_branch(u)?;
                if matches!(self.schema.resolve(branch)?, Schema::Null) {
                    self.out.push_str("null");
                } else {
                    self.open('{')?;
                    push_str(&mut self.out, &type_label(branch));
                    self.out.push(':');
                    self.value(branch)?;
                    self.close('}');
                }
            }
            other => {
                return Err(format!(
                    "unsupported schema type {} in decoding",
                    type_label(other)
                ))
            }
        }
        Ok(())
    }

    /// Reads a union's branch index; the branch's schema.
    fn union_branch(&mut self, union: &'s UnionSchema) -> Result<&'s Schema, String> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| union.variants().get(i))
            .ok_or_else(|| format!("invalid Avro data: union branch {i} is out of range"))
    }

    fn open(&mut self, bracket: char) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "invalid Avro data: the value is nested deeper than {MAX_DEPTH} levels"
            ));
        }
        self.out.push(bracket);
        Ok(())
    }

    fn close(&mut self, bracket: char) {
        self.depth -= 1;
        self.out.push(bracket);
    }

    /// The item count of the next block of an array or map; `None` after the last block. A
    /// negative count is followed by the block's size in bytes, which is skipped over.
    fn block(&mut self) -> Result<Option<u64>, String> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        Ok((count != 0).then_some(count.unsigned_abs()))
    }

    /// A length prefix, which must not promise more bytes than are left.
    fn length(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "invalid Avro data: length {n} with {} bytes left",
                    self.bytes.len()
                )
            })
    }

    fn take(&mut self, n: usize) -> Result<&'b [u8], String> {
        if n > self.bytes.len() {
            return Err(truncated());
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// A zig-zag varint `long`, at most 10 bytes.
    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for i in 0..10 {
            // `take(1)` returned exactly one byte.
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err("invalid Avro data: a varint is longer than 10 bytes".into())
    }
}

fn truncated() -> String {
    "invalid Avro data: the bytes end in the middle of a value".into()
}

/// Bytes as a JSON string whose code points are the byte values (ISO-8859-1).
fn push_latin1(out: &mut String, bytes: &[u8]) {
    let text: String = bytes.iter().map(|&byte| char::from(byte)).collect();
    push_str(out, &text);
}

/// Writes a JSON number; NaN and the infinities as the strings Jackson writes for them.
fn push_float(out: &mut String, f: f64, shortest_f32: Option<String>) {
    if f.is_nan() {
        out.push_str("\"NaN\"");
    } else if f == f64::INFINITY {
        out.push_str("\"Infinity\"");
    } else if f == f64::NEG_INFINITY {
        out.push_str("\"-Infinity\"");
    } else if let Some(text) = shortest_f32 {
        // A float's shortest decimal form (1.1, not 1.100000023841858), as Java prints it.
        out.push_str(&text);
        if !text.contains(['.', 'e', 'E']) {
            out.push_str(".0");
        }
    } else {
        match serde_json::Number::from_f64(f) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        }
    }
}

fn push_str(out: &mut String, s: &str) {
    // Serializing a string to JSON cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// An integral JSON number.
fn integer(json: &Json) -> Option<i64> {
    json.as_i64()
}

/// A JSON number, or one of the strings Avro's JSON decoder accepts for special values.
fn floating(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// The bytes of a string whose code points are byte values (ISO-8859-1).
fn latin1(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| {
                format!(
                    "bytes must be a string of code points U+0000..U+00FF (ISO-8859-1), found {c:?}"
                )
            })
        })
        .collect()
}

fn kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) if s.len() <= 40 => format!("{s:?}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(text: &str) -> AvroSchema {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Encodes, checks the exact Avro bytes, decodes and checks the rendered JSON.
    fn round_trip(s: &AvroSchema, input: Json, bytes: &[u8], rendered: &str) {
        let encoded = s.encode(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(encoded, bytes, "{input}");
        assert_eq!(s.decode(&encoded).expect("decodes"), rendered, "{input}");
    }

    #[test]
    fn the_quickstart_record_encodes_as_avro_binary() {
        let s = schema(
            r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}"#,
        );
        assert_eq!(s.name(), "User");
        round_trip(
            &s,
            json!({"name": "testUser"}),
            b"\x10testUser",
            r#"{"name":"testUser"}"#,
        );
    }

    #[test]
    fn unions_are_wrapped_with_their_branch_name_and_null_stays_null() {
        let s = schema(
            r#"{"type":"record","name":"R","namespace":"ns","fields":[
                {"name":"a","type":["null","string"]},
                {"name":"b","type":["null",{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}]},
                {"name":"c","type":["int","long"]}]}"#,
        );
        round_trip(
            &s,
            json!({"a": {"string": "x"}, "b": {"ns.Inner": {"x": 1}}, "c": {"long": 3}}),
            &[2, 2, b'x', 2, 2, 2, 6],
            r#"{"a":{"string":"x"},"b":{"ns.Inner":{"x":1}},"c":{"long":3}}"#,
        );
        round_trip(
            &s,
            json!({"a": null, "b": null, "c": {"int": -1}}),
            &[0, 0, 0, 1],
            r#"{"a":null,"b":null,"c":{"int":-1}}"#,
        );
        // The simple name of a named branch is accepted too.
        assert_eq!(
            s.encode(&json!({"a": null, "b": {"Inner": {"x": 1}}, "c": {"int": 0}}))
                .expect("simple name"),
            vec![0, 2, 2, 0, 0]
        );
        let err = s
            .encode(&json!({"a": "x", "b": null, "c": {"int": 0}}))
            .expect_err("unwrapped union");
        assert!(
            err.starts_with(".a: a union value must be null or an object"),
            "{err}"
        );
        let err = s
            .encode(&json!({"a": {"int": 1}, "b": null, "c": {"int": 0}}))
            .expect_err("wrong branch");
        assert_eq!(
            err,
            r#".a: "int" is not a branch of the union [null, string]"#
        );
    }

    #[test]
    fn a_top_level_union_decodes_unwrapped_like_the_confluent_consumer() {
        let s = schema(r#"["null","string"]"#);
        assert_eq!(s.name(), "union");
        let bytes = s.encode(&json!({"string": "hi"})).expect("encodes");
        assert_eq!(bytes, vec![2, 4, b'h', b'i']);
        assert_eq!(s.decode(&bytes).expect("decodes"), r#""hi""#);
        assert_eq!(s.encode(&Json::Null).expect("null branch"), vec![0]);
        assert_eq!(s.decode(&[0]).expect("decodes"), "null");
    }

    #[test]
    fn bytes_and_fixed_are_iso_8859_1_strings() {
        let s = schema(
            r#"{"type":"record","name":"B","fields":[
                {"name":"b","type":"bytes"},
                {"name":"f","type":{"type":"fixed","name":"F","size":2}}]}"#,
        );
        round_trip(
            &s,
            json!({"b": "\u{0}\u{ff}A", "f": "\u{80}z"}),
            &[6, 0, 0xff, b'A', 0x80, b'z'],
            "{\"b\":\"\\u0000\u{ff}A\",\"f\":\"\u{80}z\"}",
        );
        let err = s
            .encode(&json!({"b": "€", "f": "ab"}))
            .expect_err("not latin-1");
        assert!(
            err.starts_with(".b: bytes must be a string of code points"),
            "{err}"
        );
        let err = s.encode(&json!({"b": "", "f": "abc"})).expect_err("size");
        assert_eq!(err, ".f: fixed F needs 2 bytes, found 3");
    }

    #[test]
    fn logical_types_travel_as_their_underlying_types() {
        let s = schema(
            r#"{"type":"record","name":"L","fields":[
                {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
                {"name":"price","type":{"type":"fixed","name":"Price","size":3,"logicalType":"decimal","precision":6,"scale":2}},
                {"name":"day","type":{"type":"int","logicalType":"date"}},
                {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"at_us","type":{"type":"long","logicalType":"timestamp-micros"}},
                {"name":"id","type":{"type":"string","logicalType":"uuid"}},
                {"name":"raw_id","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}}]}"#,
        );
        // 12345 (123.45 at scale 2) is 0x30 0x39.
        let input = json!({
            "amount": "\u{30}\u{39}",
            "price": "\u{0}\u{30}\u{39}",
            "day": 19000,
            "at": 1_700_000_000_000_i64,
            "at_us": -1,
            "id": "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e",
            "raw_id": "0123456789abcdef"
        });
        let encoded = s.encode(&input).expect("encodes");
        let mut expected = vec![4, 0x30, 0x39, 0, 0x30, 0x39];
        expected.extend([0xf0, 0xa8, 0x02]); // zig-zag 19000
        expected.extend([0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62]); // zig-zag 1.7e12
        expected.push(1); // zig-zag -1
        expected.push(72); // 36 characters
        expected.extend(b"8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e");
        expected.extend(b"0123456789abcdef");
        assert_eq!(encoded, expected);
        let rendered: Json =
            serde_json::from_str(&s.decode(&encoded).expect("decodes")).expect("JSON");
        assert_eq!(rendered, input);
    }

    #[test]
    fn enums_arrays_maps_and_shared_named_types() {
        let s = schema(
            r#"{"type":"record","name":"C","fields":[
                {"name":"e","type":{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS"]}},
                {"name":"xs","type":{"type":"array","items":"long"}},
                {"name":"m","type":{"type":"map","values":"Suit"}},
                {"name":"p","type":{"type":"record","name":"P","fields":[{"name":"v","type":"float"}]}},
                {"name":"q","type":"P"}]}"#,
        );
        round_trip(
            &s,
            json!({"e": "HEARTS", "xs": [1, -2], "m": {"b": "SPADES"},
                   "p": {"v": 1.1}, "q": {"v": "NaN"}}),
            &[
                2, // HEARTS
                4, 2, 3, 0, // [1, -2]
                2, 2, b'b', 0, 0, // {"b": SPADES}
                0xcd, 0xcc, 0x8c, 0x3f, // 1.1f
                0x00, 0x00, 0xc0, 0x7f, // NaN
            ],
            r#"{"e":"HEARTS","xs":[1,-2],"m":{"b":"SPADES"},"p":{"v":1.1},"q":{"v":"NaN"}}"#,
        );
        // Map entries render sorted by key, whatever order they were written in.
        let two = s
            .encode(
                &json!({"e": "SPADES", "xs": [], "m": {"b": "SPADES", "a": "HEARTS"},
                            "p": {"v": 0}, "q": {"v": "-Infinity"}}),
            )
            .expect("encodes");
        assert_eq!(
            s.decode(&two).expect("decodes"),
            r#"{"e":"SPADES","xs":[],"m":{"a":"HEARTS","b":"SPADES"},"p":{"v":0.0},"q":{"v":"-Infinity"}}"#
        );
        let err = s
            .encode(&json!({"e": "CLUBS", "xs": [], "m": {}, "p": {"v": 0}, "q": {"v": 0}}))
            .expect_err("bad symbol");
        assert_eq!(
            err,
            r#".e: "CLUBS" is not a symbol of enum Suit (SPADES, HEARTS)"#
        );
    }

    #[test]
    fn field_defaults_are_checked_once_every_name_is_known() {
        // A default reaching a union inside an array that names the record being defined:
        // apache-avro's parser panics on it when it checks the default itself.
        let recursive = |default: &str| {
            format!(
                r#"{{"type":"record","name":"S","fields":[{{"name":"a","type":{{"type":"array","items":["null","S"]}},"default":{default}}}]}}"#
            )
        };
        assert_eq!(
            parse(&recursive("[1]")).expect_err("1 is neither null nor an S"),
            "the default of field a of record S is not a value of its type ([0]: expected null, found 1)"
        );
        let s = schema(&recursive(r#"[null, {"a": []}]"#));
        round_trip(
            &s,
            json!({}),
            &[4, 0, 2, 0, 0], // two items: null (branch 0), S (branch 1) with no items
            r#"{"a":[null,{"S":{"a":[]}}]}"#,
        );
        // Still refused: a default of another type, and a record whose default never ends.
        assert_eq!(
            parse(r#"{"type":"record","name":"R","fields":[{"name":"n","type":"int","default":"x"}]}"#)
                .expect_err("a string for an int"),
            "the default of field n of record R is not a value of its type (expected int, found \"x\")"
        );
        let endless = parse(
            r#"{"type":"record","name":"R","fields":[{"name":"r","type":"R","default":{}}]}"#,
        )
        .expect_err("{} needs r, whose default is {} again");
        assert!(endless.contains("nested deeper than"), "{endless}");
        // Each level of this default may be an A or a B, both of which need the default again,
        // and every branch is tried: 2^127 attempts, but for the bound on the values written.
        let branching = r#"{"type":"record","name":"A","fields":[{"name":"g","type":["A",{"type":"record","name":"B","fields":[{"name":"h","type":["A","B"],"default":{}}]}],"default":{}}]}"#;
        let refused = parse(branching).expect_err("no finite value");
        assert!(
            refused.starts_with("the default of field g of record A"),
            "{refused}"
        );
        let unchecked = parse_unchecked(branching).expect("apache-avro parses it");
        let empty = json!({});
        let mut path = Path::default();
        unchecked
            .write_value(
                &unchecked.schema,
                &empty,
                Mode::Data,
                &mut path,
                &mut Vec::new(),
            )
            .expect_err("no finite value");
        // Past the bound each attempt fails at once: the unions on the way back up end it.
        assert!(
            (MAX_DEFAULT_STEPS..MAX_DEFAULT_STEPS + 1_000).contains(&path.default_steps),
            "{}",
            path.default_steps
        );
        // An enum's own default symbol is not a field default and still reaches apache-avro.
        let e = schema(
            r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"B"},"default":"A"}]}"#,
        );
        assert_eq!(e.encode(&json!({})).expect("the field default"), [0]);
        // A field attribute spelled like the hidden key is not taken for a default.
        let odd = schema(
            r##"{"type":"record","name":"R","fields":[{"name":"n","type":"int","#kafka-rest:default":5}]}"##,
        );
        assert_eq!(
            odd.encode(&json!({})).expect_err("n has no default"),
            ".n: missing field (it has no default)"
        );
    }

    #[test]
    fn missing_fields_take_their_defaults_and_unknown_fields_are_refused() {
        let s = schema(
            r#"{"type":"record","name":"D","fields":[
                {"name":"name","type":"string"},
                {"name":"age","type":"int","default":7},
                {"name":"nick","type":["null","string"],"default":null},
                {"name":"tags","type":{"type":"array","items":"string"},"default":["a"]}]}"#,
        );
        round_trip(
            &s,
            json!({"name": "x"}),
            &[2, b'x', 14, 0, 2, 2, b'a', 0],
            r#"{"name":"x","age":7,"nick":null,"tags":["a"]}"#,
        );
        assert_eq!(
            s.encode(&json!({"age": 1})).expect_err("no default"),
            ".name: missing field (it has no default)"
        );
        assert_eq!(
            s.encode(&json!({"name": "x", "agee": 1}))
                .expect_err("unknown field"),
            "unknown field(s) agee for record D"
        );
        assert_eq!(
            s.encode(&json!({"name": 5})).expect_err("type"),
            ".name: expected string, found 5"
        );
        assert_eq!(
            s.encode(&json!({"name": "x", "age": 1.5}))
                .expect_err("not an int"),
            ".age: expected int, found 1.5"
        );
        assert_eq!(
            s.encode(&json!({"name": "x", "age": 3_000_000_000_i64}))
                .expect_err("range"),
            ".age: 3000000000 is out of range for int"
        );
    }

    #[test]
    fn primitive_schemas_and_errors() {
        let s = schema(r#""string""#);
        assert_eq!(s.name(), "string");
        round_trip(&s, json!("k"), &[2, b'k'], r#""k""#);
        let s = schema(r#"{"type":"long"}"#);
        round_trip(&s, json!(-3), &[5], "-3");
        assert!(parse(r#"{"type":"recor"}"#).is_err());
        assert!(parse("not json").is_err());
        assert!(
            parse(r#"{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}"#).is_err()
        );
        assert!(
            schema(r#""int""#).decode(&[0x80]).is_err(),
            "truncated varint"
        );
    }

    /// Runs `f` on a thread with the stack of a tokio worker (2 MiB), where the proxy runs
    /// codecs, so that unbounded recursion shows up as it would in the server.
    fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no panic")
    }

    #[test]
    fn deeply_nested_data_of_a_recursive_schema_is_refused_not_overflowing_the_stack() {
        let err = on_worker_stack(|| {
            let s = schema(
                r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
            );
            // 100,000 times "branch L", then null: a list 100,000 records deep.
            let mut payload = vec![2u8; 100_000];
            payload.push(0);
            s.decode(&payload)
        })
        .expect_err("too deep");
        assert!(err.contains("nested"), "{err}");
        // A record that contains itself without a union never ends: refused, not followed.
        let err = on_worker_stack(|| {
            schema(r#"{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}"#).decode(&[])
        })
        .expect_err("endless");
        assert!(err.contains("nested"), "{err}");
    }

    #[test]
    fn invalid_names_are_refused_before_apache_avro_panics_on_them() {
        for text in [
            r#"{"type":"record","name":")Q","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"9f","size":1}}]}"#,
            r#"{"type":"record","name":"R","aliases":["a-b"],"fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","aliases":["x y"],"type":"int"}]}"#,
            r#"["null","no such-type"]"#,
            r#"{"type":"enum","name":"E","namespace":"a..b","symbols":["A"]}"#,
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.starts_with("invalid "), "{text}: {err}");
        }
        assert!(
            parse(r#"{"type":"record","name":"ns.R","fields":[{"name":"_a1","type":"int"}]}"#)
                .is_ok()
        );
    }

    #[test]
    fn the_deepest_value_that_decodes_is_json_that_serde_json_reads() {
        let s = schema(
            r#"{"type":"array","items":["null",{"type":"array","items":["null","string"]}]}"#,
        );
        let l = schema(
            r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
        );
        let mut deepest = None;
        for depth in 1..200 {
            let mut payload = vec![2u8; depth];
            payload.push(0);
            match l.decode(&payload) {
                Ok(text) => deepest = Some(text),
                Err(e) => {
                    assert!(e.contains("nested deeper than 127"), "{e}");
                    break;
                }
            }
        }
        let text = deepest.expect("shallow lists decode");
        serde_json::from_str::<Json>(&text).expect("serde_json reads the deepest value");
        assert!(s.decode(&[2, 2, 2, 2, 0, 0, 0]).is_ok());
    }

    #[test]
    fn a_huge_block_count_of_empty_items_is_cut_off() {
        // One block that claims 2^61 nulls: a few bytes that would render as exabytes.
        let s = schema(r#"{"type":"array","items":"null"}"#);
        let mut payload = Vec::new();
        let mut v: u64 = (1u64 << 61) << 1; // zig-zag of a positive count
        while v >= 0x80 {
            payload.push((v as u8) | 0x80);
            v >>= 7;
        }
        payload.push(v as u8);
        let err = s.decode(&payload).expect_err("cut off");
        assert!(err.contains("more than"), "{err}");
        // Lengths that promise more bytes than there are fail at once.
        assert!(schema(r#""string""#)
            .decode(&[0xfe, 0xff, 0xff, 0xff, 0x0f])
            .is_err());
    }
}
