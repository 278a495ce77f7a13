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

use std::collections::HashMap;
use std::fmt::Write as _;

use apache_avro::schema::{RecordSchema, Schema, UnionSchema};
use apache_avro::types::Value;
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
    let mut json: Json =
        serde_json::from_str(text).map_err(|e| format!("the schema is not JSON: {e}"))?;
    strip_logical_types(&mut json);
    let schema = Schema::parse(&json).map_err(|e| e.to_string())?;
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

/// Where in a value a problem is, as `$.field[2].inner`, for error messages.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn push(&mut self, part: String) {
        self.0.push(part);
    }
    fn pop(&mut self) {
        self.0.pop();
    }
    fn error(&self, problem: impl std::fmt::Display) -> String {
        if self.0.is_empty() {
            problem.to_string()
        } else {
            format!("{}: {problem}", self.0.concat())
        }
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
    /// The name a record-name subject strategy uses: the full name of a named type, else the
    /// type name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Converts the JSON form of one value to Avro binary (without the wire prefix).
    pub fn encode(&self, json: &Json) -> Result<Vec<u8>, String> {
        let mut path = Path::default();
        let value = self.value_of(&self.schema, json, Mode::Data, &mut path)?;
        apache_avro::to_avro_datum(&self.schema, value)
            .map_err(|e| format!("cannot encode the value: {e}"))
    }

    /// Converts Avro binary (without the wire prefix) to its JSON form, as compact JSON text.
    ///
    /// A top-level union renders its branch value unwrapped, as the Confluent consumer does
    /// (it renders the deserialized object with that object's own schema).
    pub fn decode(&self, payload: &[u8]) -> Result<String, String> {
        let mut reader = payload;
        let value = apache_avro::from_avro_datum(&self.schema, &mut reader, None)
            .map_err(|e| format!("invalid Avro data: {e}"))?;
        let mut out = String::new();
        match (&self.schema, &value) {
            (Schema::Union(u), Value::Union(i, inner)) => {
                let branch = u
                    .variants()
                    .get(*i as usize)
                    .ok_or_else(|| format!("union branch {i} is out of range"))?;
                self.render(branch, inner, &mut out)?;
            }
            _ => self.render(&self.schema, &value, &mut out)?,
        }
        Ok(out)
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

    fn value_of(
        &self,
        schema: &Schema,
        json: &Json,
        mode: Mode,
        path: &mut Path,
    ) -> Result<Value, String> {
        let schema = self.resolve(schema)?;
        let mismatch = |expected: &str| path.error(format!("expected {expected}, found {}", kind(json)));
        match schema {
            Schema::Null => match json {
                Json::Null => Ok(Value::Null),
                _ => Err(mismatch("null")),
            },
            Schema::Boolean => json.as_bool().map(Value::Boolean).ok_or_else(|| mismatch("boolean")),
            Schema::Int => {
                let n = integer(json).ok_or_else(|| mismatch("int"))?;
                i32::try_from(n)
                    .map(Value::Int)
                    .map_err(|_| path.error(format!("{n} is out of range for int")))
            }
            Schema::Long => integer(json).map(Value::Long).ok_or_else(|| mismatch("long")),
            Schema::Float => floating(json)
                .map(|f| Value::Float(f as f32))
                .ok_or_else(|| mismatch("float")),
            Schema::Double => floating(json).map(Value::Double).ok_or_else(|| mismatch("double")),
            Schema::String => json
                .as_str()
                .map(|s| Value::String(s.to_string()))
                .ok_or_else(|| mismatch("string")),
            Schema::Bytes => {
                let s = json.as_str().ok_or_else(|| mismatch("bytes as a string"))?;
                latin1(s).map(Value::Bytes).map_err(|e| path.error(e))
            }
            Schema::Fixed(f) => {
                let s = json
                    .as_str()
                    .ok_or_else(|| mismatch(&format!("fixed {} as a string", f.name.fullname(None))))?;
                let bytes = latin1(s).map_err(|e| path.error(e))?;
                if bytes.len() != f.size {
                    return Err(path.error(format!(
                        "fixed {} needs {} bytes, found {}",
                        f.name.fullname(None),
                        f.size,
                        bytes.len()
                    )));
                }
                Ok(Value::Fixed(f.size, bytes))
            }
            Schema::Enum(e) => {
                let s = json
                    .as_str()
                    .ok_or_else(|| mismatch(&format!("a symbol of enum {}", e.name.fullname(None))))?;
                let index = e.symbols.iter().position(|x| x == s).ok_or_else(|| {
                    path.error(format!(
                        "{s:?} is not a symbol of enum {} ({})",
                        e.name.fullname(None),
                        e.symbols.join(", ")
                    ))
                })?;
                Ok(Value::Enum(index as u32, s.to_string()))
            }
            Schema::Array(a) => {
                let items = json.as_array().ok_or_else(|| mismatch("array"))?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    out.push(self.value_of(&a.items, item, mode, path)?);
                    path.pop();
                }
                Ok(Value::Array(out))
            }
            Schema::Map(m) => {
                let entries = json.as_object().ok_or_else(|| mismatch("map (an object)"))?;
                let mut out = HashMap::with_capacity(entries.len());
                for (k, v) in entries {
                    path.push(format!("[{k:?}]"));
                    out.insert(k.clone(), self.value_of(&m.types, v, mode, path)?);
                    path.pop();
                }
                Ok(Value::Map(out))
            }
            Schema::Union(u) => self.union_from_json(u, json, mode, path),
            Schema::Record(r) => {
                let object = json
                    .as_object()
                    .ok_or_else(|| mismatch(&format!("record {} (an object)", r.name.fullname(None))))?;
                let mut fields = Vec::with_capacity(r.fields.len());
                let mut used = 0usize;
                for field in &r.fields {
                    let found = object.get(&field.name).or_else(|| {
                        field
                            .aliases
                            .iter()
                            .flatten()
                            .find_map(|alias| object.get(alias))
                    });
                    path.push(format!(".{}", field.name));
                    let value = match (found, &field.default) {
                        (Some(v), _) => {
                            used += 1;
                            self.value_of(&field.schema, v, mode, path)?
                        }
                        (None, Some(default)) => {
                            self.value_of(&field.schema, default, Mode::Default, path)?
                        }
                        (None, None) => {
                            return Err(path.error("missing field (it has no default)"));
                        }
                    };
                    path.pop();
                    fields.push((field.name.clone(), value));
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
                Ok(Value::Record(fields))
            }
            other => Err(path.error(format!(
                "unsupported schema type {}",
                type_label(other)
            ))),
        }
    }

    fn union_from_json(
        &self,
        union: &UnionSchema,
        json: &Json,
        mode: Mode,
        path: &mut Path,
    ) -> Result<Value, String> {
        let branches = union.variants();
        if mode == Mode::Default {
            // A default is a value of the first branch, unwrapped; be lenient and try the rest.
            let mut first_error = None;
            for (i, branch) in branches.iter().enumerate() {
                match self.value_of(branch, json, Mode::Default, path) {
                    Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            return Err(first_error.unwrap_or_else(|| path.error("empty union")));
        }
        let labels: Vec<String> = branches.iter().map(type_label).collect();
        if json.is_null() {
            return match branches.iter().position(|b| matches!(b, Schema::Null)) {
                Some(i) => Ok(Value::Union(i as u32, Box::new(Value::Null))),
                None => Err(path.error(format!(
                    "null is not allowed by the union [{}]",
                    labels.join(", ")
                ))),
            };
        }
        let wrapped = json.as_object().filter(|o| o.len() == 1);
        let Some((label, inner)) = wrapped.and_then(|o| o.iter().next()) else {
            return Err(path.error(format!(
                "a union value must be null or an object with one of the keys {} (e.g. {{\"{}\": ...}}), found {}",
                labels.join(", "),
                labels.iter().find(|l| *l != "null").map(String::as_str).unwrap_or("null"),
                kind(json)
            )));
        };
        let index = labels
            .iter()
            .position(|l| l == label)
            .or_else(|| {
                // Leniency: the simple name of a named type, when only one branch has it.
                let mut matches = labels
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.rsplit('.').next() == Some(label.as_str()));
                match (matches.next(), matches.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            })
            .ok_or_else(|| {
                path.error(format!(
                    "{label:?} is not a branch of the union [{}]",
                    labels.join(", ")
                ))
            })?;
        path.push(format!("[{label:?}]"));
        let value = self.value_of(&branches[index], inner, Mode::Data, path)?;
        path.pop();
        Ok(Value::Union(index as u32, Box::new(value)))
    }

    fn render(&self, schema: &Schema, value: &Value, out: &mut String) -> Result<(), String> {
        let schema = self.resolve(schema)?;
        match (value, schema) {
            (Value::Null, _) => out.push_str("null"),
            (Value::Boolean(b), _) => out.push_str(if *b { "true" } else { "false" }),
            (Value::Int(n), _) => {
                let _ = write!(out, "{n}");
            }
            (Value::Long(n), _) => {
                let _ = write!(out, "{n}");
            }
            (Value::Float(f), _) => push_float(out, f64::from(*f), f.is_finite().then(|| f.to_string())),
            (Value::Double(f), _) => push_float(out, *f, None),
            (Value::String(s), _) | (Value::Enum(_, s), _) => push_str(out, s),
            (Value::Bytes(b), _) | (Value::Fixed(_, b), _) => {
                let text: String = b.iter().map(|&byte| char::from(byte)).collect();
                push_str(out, &text);
            }
            (Value::Array(items), Schema::Array(a)) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.render(&a.items, item, out)?;
                }
                out.push(']');
            }
            (Value::Map(entries), Schema::Map(m)) => {
                // Sorted, so that the same record always renders the same way.
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, k);
                    out.push(':');
                    if let Some(v) = entries.get(k) {
                        self.render(&m.types, v, out)?;
                    }
                }
                out.push('}');
            }
            (Value::Record(fields), Schema::Record(r)) => {
                out.push('{');
                for (i, ((name, v), field)) in fields.iter().zip(&r.fields).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, name);
                    out.push(':');
                    self.render(&field.schema, v, out)?;
                }
                out.push('}');
            }
            (Value::Union(i, inner), Schema::Union(u)) => {
                let branch = u
                    .variants()
                    .get(*i as usize)
                    .ok_or_else(|| format!("union branch {i} is out of range"))?;
                if matches!(**inner, Value::Null) {
                    out.push_str("null");
                } else {
                    out.push('{');
                    push_str(out, &type_label(branch));
                    out.push(':');
                    self.render(branch, inner, out)?;
                    out.push('}');
                }
            }
            (other, schema) => {
                return Err(format!(
                    "decoded value {other:?} does not fit schema type {}",
                    type_label(schema)
                ))
            }
        }
        Ok(())
    }
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
