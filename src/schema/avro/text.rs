//! Avro binary straight from the JSON text of a value, in one walk along the schema.
//!
//! The general encoder ([`AvroSchema::encode_into`]) reads the text into a `serde_json::Value`
//! first: a tree of maps and strings built and dropped per record, which cost more than the
//! rest of an Avro produce together. [`AvroSchema::encode_text_into`] walks the text itself
//! and writes each value as it is read. It takes the common shape only and gives up (`None`)
//! at anything else, after which the general encoder reads the text from the start, so every
//! error keeps its exact message:
//!
//! - records whose fields come in the schema's order, each present, under its own name (a
//!   missing field, which takes its default, another order, an alias or an unknown field:
//!   given up);
//! - strings without escapes (`bytes`, `fixed` and enums: ASCII);
//! - integers within their type's range, and numbers without an exponent for `float` and
//!   `double` (read by serde_json's own number parser, so that they round alike);
//! - unions as `null` or a one-key wrapper; arrays; no maps (the general encoder writes a map
//!   in the sorted order of its `serde_json` map, not in the order of the text).
//!
//! Invariant: whenever this gives bytes, the general encoder gives the same bytes. The tests
//! compare the two on generated and mutated text.

use apache_avro::schema::{RecordSchema, Schema, UnionSchema};

use super::{branch_index, put_bytes, put_long, AvroSchema, MAX_DEPTH};
use crate::records::plain_record::Reader;

impl AvroSchema {
    /// Appends the Avro binary of the JSON text of one value to `out`, or gives up (`None`,
    /// `out` as it was) when the text is outside the shape this walk takes.
    pub fn encode_text_into(&self, text: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let start = out.len();
        let mut r = Reader::new(text);
        r.ws();
        let done = self
            .text_value(&self.schema, &mut r, out, 0)
            .and_then(|()| {
                r.ws();
                r.at_end().then_some(())
            });
        if done.is_none() {
            out.truncate(start);
        }
        done
    }

    fn text_value(
        &self,
        schema: &Schema,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.resolve(schema).ok()? {
            Schema::Null if r.null() => {}
            Schema::Boolean => {
                let b = match r.peek()? {
                    b't' => r.literal(b"true").map(|()| 1),
                    _ => r.literal(b"false").map(|()| 0),
                }?;
                out.push(b);
            }
            Schema::Int => {
                let n = i32::try_from(integer(r)?).ok()?;
                put_long(out, i64::from(n));
            }
            Schema::Long => put_long(out, integer(r)?),
            Schema::Float => out.extend_from_slice(&(floating(r)? as f32).to_le_bytes()),
            Schema::Double => out.extend_from_slice(&floating(r)?.to_le_bytes()),
            Schema::String => put_bytes(out, r.string()?),
            Schema::Bytes => put_bytes(out, ascii(r)?),
            Schema::Fixed(f) => {
                let bytes = ascii(r)?;
                if bytes.len() != f.size {
                    return None;
                }
                out.extend_from_slice(bytes);
            }
            Schema::Enum(e) => {
                let symbol = r.string()?;
                let index = e.symbols.iter().position(|s| s.as_bytes() == symbol)?;
                put_long(out, index as i64);
            }
            Schema::Array(a) => self.text_array(&a.items, r, out, depth)?,
            Schema::Union(u) => self.text_union(u, r, out, depth)?,
            Schema::Record(record) => self.text_record(record, r, out, depth)?,
            // A map (see the module's note), or `null` not there.
            _ => return None,
        }
        Some(())
    }

    /// An array as one block: its count (known once the items are written, then put before
    /// them), the items, and the closing zero.
    fn text_array(
        &self,
        items: &Schema,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Option<()> {
        r.eat(b'[')?;
        r.ws();
        let start = out.len();
        let mut count = 0i64;
        if r.peek()? == b']' {
            r.eat(b']')?;
        } else {
            loop {
                self.text_value(items, r, out, depth + 1)?;
                count += 1;
                r.ws();
                match r.peek()? {
                    b',' => {
                        r.eat(b',')?;
                        r.ws();
                    }
                    _ => {
                        r.eat(b']')?;
                        break;
                    }
                }
            }
            let mut prefix = Vec::with_capacity(10);
            put_long(&mut prefix, count);
            out.splice(start..start, prefix);
        }
        out.push(0);
        Some(())
    }

    /// `null` (the union's null branch), or `{"branch": value}`.
    fn text_union(
        &self,
        union: &UnionSchema,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Option<()> {
        let branches = union.variants();
        if r.null() {
            let index = branches.iter().position(|b| matches!(b, Schema::Null))?;
            put_long(out, index as i64);
            return Some(());
        }
        r.eat(b'{')?;
        r.ws();
        let label = std::str::from_utf8(r.key()?).ok()?;
        let index = branch_index(branches, label)?;
        put_long(out, index as i64);
        r.ws();
        self.text_value(&branches[index], r, out, depth + 1)?;
        r.ws();
        r.eat(b'}')
    }

    /// A record whose fields come in the schema's order, each under its own name.
    fn text_record(
        &self,
        record: &RecordSchema,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Option<()> {
        r.eat(b'{')?;
        r.ws();
        for (i, field) in record.fields.iter().enumerate() {
            if i > 0 {
                r.ws();
                r.eat(b',')?;
                r.ws();
            }
            if r.key()? != field.name.as_bytes() {
                return None;
            }
            r.ws();
            self.text_value(&field.schema, r, out, depth + 1)?;
        }
        r.ws();
        r.eat(b'}')
    }
}

/// An integer that fits an `i64`, as serde_json reads it into one: no fraction, and not `-0`
/// (which serde_json reads as a float).
fn integer(r: &mut Reader<'_>) -> Option<i64> {
    let text = r.number_text()?;
    if text.contains(&b'.') || text.starts_with(b"-0") {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A number, parsed by serde_json as the general encoder's `Value` has it.
fn floating(r: &mut Reader<'_>) -> Option<f64> {
    serde_json::from_slice(r.number_text()?).ok()
}

/// A string of `bytes` or `fixed`: its code points are the byte values, which for ASCII are the
/// text's own bytes.
fn ascii<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    r.string().filter(|s| s.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::records::plain_record::readers_agree_on_mutations;

    /// What the text encoder gives (`None`: it gave up) and what the general one gives.
    fn both(schema: &AvroSchema, text: &[u8]) -> (Option<Vec<u8>>, Result<Vec<u8>, String>) {
        let mut out = vec![7];
        let fast = schema
            .encode_text_into(text, &mut out)
            .map(|()| out[1..].to_vec());
        if fast.is_none() {
            assert_eq!(out, [7], "a walk that gave up left bytes behind");
        }
        let general = std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(t).map_err(|e| e.to_string()))
            .and_then(|json| schema.encode(&json));
        (fast, general)
    }

    const SCHEMA: &str = r#"{"type":"record","name":"R","namespace":"n","fields":[
        {"name":"id","type":"string"},
        {"name":"n","type":"int"},
        {"name":"l","type":"long"},
        {"name":"f","type":"float"},
        {"name":"d","type":"double"},
        {"name":"b","type":"boolean"},
        {"name":"raw","type":"bytes"},
        {"name":"fx","type":{"type":"fixed","name":"F","size":2}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
        {"name":"xs","type":{"type":"array","items":"long"}},
        {"name":"u","type":["null","string",{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}]},
        {"name":"again","type":["null","In"]},
        {"name":"nothing","type":"null"},
        {"name":"m","type":{"type":"map","values":"int"},"default":{}},
        {"name":"opt","type":"int","default":3}
    ]}"#;

    /// The common shape, in the schema's order: what the walk must take.
    const TEXT: &str = r#"{"id":"abc","n":-12,"l":9007199254740993,"f":1.5,"d":-0.1,"b":true,
        "raw":"xy","fx":"ab","e":"B","xs":[1,2,300],"u":{"string":"s"},"again":{"In":{"x":1}},
        "nothing":null,"m":{"b":1,"a":2},"opt":5}"#;

    #[test]
    fn the_common_shape_is_written_as_the_general_encoder_writes_it() {
        let s = parse(SCHEMA).expect("schema");
        let (fast, general) = both(&s, TEXT.as_bytes());
        // Maps are given up: the general encoder's map order is its own.
        assert_eq!(fast, None);
        assert!(general.is_ok(), "{general:?}");
        let schema = SCHEMA.replace(r#"{"type":"map","values":"int"},"default":{}"#, r#""int""#);
        let text = TEXT.replace(r#"{"b":1,"a":2}"#, "4");
        let s = parse(&schema).expect("schema");
        let (fast, general) = both(&s, text.as_bytes());
        assert!(fast.is_some(), "{general:?}");
        assert_eq!(Ok(fast.expect("read")), general);
        for (schema, text) in [
            (r#""string""#, r#""plain""#),
            (r#""long""#, "-9223372036854775808"),
            (r#""double""#, "12345678901234567890123"),
            (r#""double""#, "0.30000000000000004"),
            (r#"["null","string"]"#, "null"),
            (r#"["null","string"]"#, r#" { "string" : "x" } "#),
            (r#"{"type":"array","items":"int"}"#, "[]"),
            (r#"{"type":"record","name":"Empty","fields":[]}"#, "{}"),
        ] {
            let s = parse(schema).expect("schema");
            let (fast, general) = both(&s, text.as_bytes());
            assert_eq!(fast.ok_or(()), general.map_err(drop), "{schema} {text}");
        }
    }

    #[test]
    fn what_needs_the_general_encoder_is_left_to_it() {
        for (schema, text) in [
            (r#""string""#, r#""esc\"aped""#),
            (r#""int""#, "2147483648"),
            (r#""int""#, "1.0"),
            (r#""long""#, "-0"),
            (r#""long""#, "9223372036854775808"),
            (r#""double""#, "1e3"),
            (r#""double""#, r#""NaN""#),
            (r#""bytes""#, r#""é""#),
            (r#"["string","null"]"#, r#"{"string":"a","string":"b"}"#),
            (r#"["int","string"]"#, "null"),
            (SCHEMA, r#"{"n":1,"id":"a"}"#),
        ] {
            let s = parse(schema).expect("schema");
            let (fast, _) = both(&s, text.as_bytes());
            assert_eq!(fast, None, "{schema} {text}");
        }
    }

    #[test]
    fn where_the_walk_gives_bytes_the_general_encoder_gives_the_same() {
        let schema = SCHEMA.replace(r#"{"type":"map","values":"int"},"default":{}"#, r#""int""#);
        let s = parse(&schema).expect("schema");
        let text = TEXT.replace(r#"{"b":1,"a":2}"#, "4");
        let bench = parse(
            r#"{"type":"record","name":"BenchRecord","fields":[{"name":"id","type":"string"},
            {"name":"name","type":"string"},{"name":"payload","type":"string"}]}"#,
        )
        .expect("schema");
        readers_agree_on_mutations(&[text.as_str()], 20_000, |t| both(&s, t));
        readers_agree_on_mutations(
            &[r#"{"id":"00000001","name":"bench-record","payload":"abcdefghij"}"#],
            20_000,
            |t| both(&bench, t),
        );
    }
}
