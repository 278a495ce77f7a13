//! The Protobuf codec: `.proto` schema text compiled in process (protox, no `protoc`), a
//! message in its JSON form converted to Protobuf binary, and binary rendered back as JSON.
//!
//! As in Confluent's serializer, a schema's message is the first message of the file, and the
//! payload is preceded by the message indexes that locate it in the file (see [`write_indexes`]).
//! The JSON form is the canonical Protobuf JSON mapping that Confluent uses
//! (`JsonFormat`): on produce both the JSON names (lowerCamelCase) and the field names of the
//! `.proto` are accepted, unknown fields are refused; on consume fields are written with their
//! JSON names, fields without presence are written even when they hold the default value,
//! 64-bit integers are strings, enums are names and bytes are base64.
//! The well-known `google/protobuf/*.proto` files may be imported; other imports (schema
//! references) are not supported. Pure: no registry, no Kafka.

use prost::Message as _;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FileDescriptor, MessageDescriptor, SerializeOptions,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value as Json;

/// The file name the schema text is compiled under.
const FILE_NAME: &str = "schema.proto";

/// A compiled `.proto` schema and the message its records use.
#[derive(Debug)]
pub struct ProtobufSchema {
    file: FileDescriptor,
    /// The first message of the file (Confluent's choice when no message is named).
    message: MessageDescriptor,
}

/// Serves the schema text as one file, so that it can be compiled without a file system.
struct SourceResolver(String);

impl FileResolver for SourceResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == FILE_NAME {
            File::from_source(name, &self.0)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// How deep brackets (`{`, `[`, `(`, `<`) may nest in schema text. protox allows messages 31
/// levels deep; the text format of option values is parsed recursively without a limit, so
/// without this bound a schema in a request could overflow the stack of the thread compiling it.
pub const MAX_NESTING: usize = 64;

/// Compiles `.proto` text. The error is the compiler's message.
pub fn parse(text: &str) -> Result<ProtobufSchema, String> {
    if nesting_depth(text) > MAX_NESTING {
        return Err(format!(
            "the schema nests brackets deeper than {MAX_NESTING} levels"
        ));
    }
    let mut resolver = ChainFileResolver::new();
    resolver.add(SourceResolver(text.to_string()));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler
        .open_file(FILE_NAME)
        .map_err(|e| protox_message(&e))?;
    let pool = compiler.descriptor_pool();
    let file = pool
        .get_file_by_name(FILE_NAME)
        .ok_or_else(|| "the schema file did not compile".to_string())?;
    let message = file
        .messages()
        .next()
        .ok_or_else(|| "the schema defines no message".to_string())?;
    Ok(ProtobufSchema { file, message })
}

/// The deepest nesting of brackets in `.proto` text, outside comments and string literals.
fn nesting_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' | '(' | '<' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' | ']' | ')' | '>' => depth = depth.saturating_sub(1),
            '"' | '\'' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '\n' => break,
                        s if s == c => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for s in chars.by_ref() {
                    if star && s == '/' {
                        break;
                    }
                    star = s == '*';
                }
            }
            _ => {}
        }
    }
    deepest
}

/// protox's error with its location, on one line.
fn protox_message(e: &protox::Error) -> String {
    let text = e.to_string();
    match e.file() {
        Some(file) if !text.contains(file) => format!("{file}: {text}"),
        _ => text,
    }
}

impl ProtobufSchema {
    /// The full name of the schema's message, which the record-name subject strategies use.
    pub fn name(&self) -> &str {
        self.message.full_name()
    }

    /// The message indexes of the schema's message: always the first message, `[0]`.
    pub fn message_indexes(&self) -> Vec<i32> {
        vec![0]
    }

    /// Converts the JSON form of one message to Protobuf binary (without the wire prefix and
    /// message indexes).
    pub fn encode(&self, json: &Json) -> Result<Vec<u8>, String> {
        if !json.is_object() {
            return Err(format!(
                "expected a {} message as a JSON object",
                self.message.full_name()
            ));
        }
        let options = DeserializeOptions::new().deny_unknown_fields(true);
        let message =
            DynamicMessage::deserialize_with_options(self.message.clone(), json, &options)
                .map_err(|e| format!("does not match message {}: {e}", self.message.full_name()))?;
        Ok(message.encode_to_vec())
    }

    /// Renders a payload (after the message indexes) of the message at `indexes` as compact
    /// JSON text.
    pub fn decode(&self, indexes: &[i32], payload: &[u8]) -> Result<String, String> {
        let descriptor = self.message_at(indexes)?;
        let message = DynamicMessage::decode(descriptor.clone(), payload)
            .map_err(|e| format!("invalid Protobuf data for {}: {e}", descriptor.full_name()))?;
        let options = SerializeOptions::new()
            .skip_default_fields(false)
            .stringify_64_bit_integers(true)
            .use_enum_numbers(false)
            .use_proto_field_name(false);
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::new(&mut out);
        message
            .serialize_with_options(&mut serializer, &options)
            .map_err(|e| format!("cannot render {} as JSON: {e}", descriptor.full_name()))?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    /// The message a list of message indexes names: top-level message, then nested ones.
    fn message_at(&self, indexes: &[i32]) -> Result<MessageDescriptor, String> {
        let bad = || format!("message indexes {indexes:?} name no message of the schema");
        let (first, rest) = indexes.split_first().ok_or_else(bad)?;
        let mut message = usize::try_from(*first)
            .ok()
            .and_then(|i| self.file.messages().nth(i))
            .ok_or_else(bad)?;
        for index in rest {
            message = usize::try_from(*index)
                .ok()
                .and_then(|i| message.child_messages().nth(i))
                .ok_or_else(bad)?;
        }
        Ok(message)
    }
}

/// Appends the message indexes in Confluent's encoding: a zig-zag varint count, then each index
/// as a zig-zag varint; the common `[0]` is written as a single `0`.
pub fn write_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    write_varint(indexes.len() as i64, out);
    for &i in indexes {
        write_varint(i64::from(i), out);
    }
}

/// Reads the message indexes from the start of `bytes`; returns them and the rest.
pub fn read_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), String> {
    let (count, mut rest) = read_varint(bytes)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(1..=100).contains(&count) {
        return Err(format!("invalid message index count {count}"));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (i, r) = read_varint(rest)?;
        rest = r;
        indexes.push(i32::try_from(i).map_err(|_| format!("invalid message index {i}"))?);
    }
    Ok((indexes, rest))
}

fn write_varint(n: i64, out: &mut Vec<u8>) {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8]) -> Result<(i64, &[u8]), String> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let n = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Ok((n, &bytes[i + 1..]));
        }
    }
    Err("truncated message indexes".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROTO: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Order {
          string order_id = 1;
          int64 amount = 2;
          repeated int32 lines = 3;
          Customer customer = 4;
          Status status = 5;
          bytes blob = 6;
          google.protobuf.Timestamp at = 7;
          enum Status { NEW = 0; PAID = 1; }
          message Customer { string name = 1; }
        }
        message Other { bool flag = 1; }
    "#;

    #[test]
    fn the_first_message_is_used_and_json_names_or_proto_names_are_accepted() {
        let s = parse(PROTO).expect("compiles");
        assert_eq!(s.name(), "shop.Order");
        assert_eq!(s.message_indexes(), vec![0]);
        let bytes = s
            .encode(&json!({"orderId": "o1", "amount": "5", "customer": {"name": "ann"}, "status": "PAID"}))
            .expect("encodes");
        let same = s
            .encode(
                &json!({"order_id": "o1", "amount": 5, "customer": {"name": "ann"}, "status": 1}),
            )
            .expect("encodes");
        assert_eq!(bytes, same);
        assert_eq!(
            bytes,
            vec![0x0a, 2, b'o', b'1', 0x10, 5, 0x22, 5, 0x0a, 3, b'a', b'n', b'n', 0x28, 1]
        );
        assert_eq!(
            s.decode(&[0], &bytes).expect("decodes"),
            r#"{"orderId":"o1","amount":"5","lines":[],"customer":{"name":"ann"},"status":"PAID","blob":""}"#
        );
    }

    #[test]
    fn defaults_are_rendered_and_well_known_types_use_their_json_form() {
        let s = parse(PROTO).expect("compiles");
        let bytes = s
            .encode(&json!({"blob": "AAE=", "at": "2024-01-02T03:04:05Z", "lines": [1, 2]}))
            .expect("encodes");
        assert_eq!(
            s.decode(&[0], &bytes).expect("decodes"),
            r#"{"orderId":"","amount":"0","lines":[1,2],"status":"NEW","blob":"AAE=","at":"2024-01-02T03:04:05Z"}"#
        );
        // Another message of the file, by its index.
        assert_eq!(
            s.decode(&[1], &[8, 1]).expect("decodes"),
            r#"{"flag":true}"#
        );
        assert_eq!(
            s.decode(&[0, 0], &[0x0a, 1, b'x']).expect("nested"),
            r#"{"name":"x"}"#
        );
        assert!(s.decode(&[2], &[]).is_err());
    }

    #[test]
    fn bad_values_and_bad_schemas_are_refused() {
        let s = parse(PROTO).expect("compiles");
        let err = s.encode(&json!({"nope": 1})).expect_err("unknown field");
        assert!(
            err.starts_with("does not match message shop.Order"),
            "{err}"
        );
        assert!(s.encode(&json!({"amount": "x"})).is_err());
        assert!(s.encode(&json!([1])).is_err());
        assert!(s.decode(&[0], &[0xff]).is_err());
        assert!(parse("syntax = \"proto3\"; message {").is_err());
        assert!(parse("syntax = \"proto3\";").is_err());
        assert!(
            parse("syntax = \"proto3\"; import \"other.proto\"; message A { Other o = 1; }")
                .is_err()
        );
    }

    #[test]
    fn deeply_nested_schema_text_is_refused_before_it_reaches_the_compiler() {
        fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(f)
                .expect("spawn")
                .join()
                .expect("no panic")
        }
        let option = |depth: usize| {
            format!(
                "syntax = \"proto3\"; import \"google/protobuf/descriptor.proto\";
                 extend google.protobuf.MessageOptions {{ M m = 50000; }}
                 message M {{ M a = 1; }}
                 message X {{ option (m) = {}{{}}{}; }}",
                "{a: ".repeat(depth - 1),
                "}".repeat(depth - 1)
            )
        };
        let err =
            on_worker_stack(move || parse(&option(100_000)).map(|_| ())).expect_err("too deep");
        assert!(err.contains("deeper than 64"), "{err}");
        // Just under the limit compiles on a worker's stack.
        on_worker_stack(move || parse(&option(MAX_NESTING - 3)).map(|_| ())).expect("compiles");
        // Brackets in comments and strings do not count.
        assert_eq!(
            nesting_depth("// {{{{\n/* [[[[ */ m { s = \"(((\\\"\"; }"),
            1
        );
    }

    #[test]
    fn message_indexes_use_confluents_encoding() {
        let mut out = Vec::new();
        write_indexes(&[0], &mut out);
        assert_eq!(out, vec![0]);
        let mut out = Vec::new();
        write_indexes(&[1, 2], &mut out);
        assert_eq!(out, vec![4, 2, 4]);
        out.extend([9, 9]);
        assert_eq!(
            read_indexes(&out).expect("reads"),
            (vec![1, 2], &[9u8, 9][..])
        );
        assert_eq!(read_indexes(&[0, 7]).expect("reads"), (vec![0], &[7u8][..]));
        assert!(read_indexes(&[]).is_err());
        assert!(read_indexes(&[4, 2]).is_err());
    }
}
