//! The JSON Schema codec: schema text to a validator, a value checked against it and written as
//! UTF-8 JSON text, and that text read back.
//!
//! Like the Confluent JSON Schema serializer, the payload is the JSON document itself; here it
//! is the client's own text without insignificant white space (key order and number spelling
//! kept). Schemas without `$schema` are read as draft 7, Confluent's default, and formats are
//! checked as its validator does. References to other documents (`$ref` to a URL or file) are
//! never fetched. Pure: no registry, no Kafka.

use jsonschema::{Draft, Validator};
use serde_json::Value as Json;

/// A compiled JSON Schema.
#[derive(Debug)]
pub struct JsonSchema {
    validator: Validator,
    /// The `title`, which the record-name subject strategies use ("record" without one).
    name: String,
}

/// Compiles JSON Schema text. The error is the compiler's message.
pub fn parse(text: &str) -> Result<JsonSchema, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("the schema is not JSON: {e}"))?;
    if !(json.is_object() || json.is_boolean()) {
        return Err("a JSON schema must be an object or a boolean".into());
    }
    let mut options = jsonschema::options().should_validate_formats(true);
    if json.get("$schema").is_none() {
        options = options.with_draft(Draft::Draft7);
    }
    let validator = options.build(&json).map_err(|e| e.to_string())?;
    let name = json
        .get("title")
        .and_then(Json::as_str)
        .unwrap_or("record")
        .to_string();
    Ok(JsonSchema { validator, name })
}

impl JsonSchema {
    /// The name a record-name subject strategy uses.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Validates one value; the payload is `text` (the value's JSON text) made compact.
    pub fn encode(&self, value: &Json, text: &str) -> Result<Vec<u8>, String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(value)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(format!(
                "does not match the JSON schema: {}",
                problems.join("; ")
            ));
        }
        Ok(crate::records::compact_json(text))
    }

    /// The JSON document of a payload (without the wire prefix), as compact JSON text. Like
    /// Confluent's deserializer it is not validated against the schema again.
    pub fn decode(&self, payload: &[u8]) -> Result<String, String> {
        decode_document(payload)
    }
}

/// The JSON text of a payload: it must be UTF-8 JSON; returned without white space.
pub fn decode_document(payload: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(payload).map_err(|e| format!("payload is not UTF-8: {e}"))?;
    // Parsed completely, as the json format's consumer parses: a payload another producer
    // wrote with a number beyond a double or nesting beyond 128 levels is refused here rather
    // than handed on to clients whose parsers refuse it (found by the jsonschema fuzz target).
    crate::records::check_json(text).map_err(|e| format!("payload {e}"))?;
    String::from_utf8(crate::records::compact_json(text))
        .map_err(|e| format!("payload is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"{"title":"Order","type":"object","properties":{
        "id":{"type":"integer"},"email":{"type":"string","format":"email"},
        "tags":{"type":"array","items":{"type":"string"}}},"required":["id"]}"#;

    #[test]
    fn valid_documents_are_written_as_compact_json_text() {
        let s = parse(SCHEMA).expect("parses");
        assert_eq!(s.name(), "Order");
        let text = r#"{ "tags": ["a b"], "id": 1.0e0, "email": "x@example.com" }"#;
        let value: Json = serde_json::from_str(text).expect("JSON");
        let payload = s.encode(&value, text).expect("valid");
        assert_eq!(
            payload,
            br#"{"tags":["a b"],"id":1.0e0,"email":"x@example.com"}"#.to_vec()
        );
        assert_eq!(
            s.decode(&payload).expect("decodes"),
            r#"{"tags":["a b"],"id":1.0e0,"email":"x@example.com"}"#
        );
    }

    #[test]
    fn invalid_documents_name_the_place_and_the_rule() {
        let s = parse(SCHEMA).expect("parses");
        let bad = json!({"id": "seven", "email": "nope", "tags": [1]});
        let err = s.encode(&bad, &bad.to_string()).expect_err("invalid");
        assert!(err.starts_with("does not match the JSON schema: "), "{err}");
        assert!(
            err.contains("/id: \"seven\" is not of type \"integer\""),
            "{err}"
        );
        assert!(err.contains("/email"), "formats are checked: {err}");
        assert!(err.contains("/tags/0"), "{err}");
        let err = s.encode(&json!({}), "{}").expect_err("required");
        assert!(err.contains("\"id\" is a required property"), "{err}");
        assert!(s.encode(&Json::Null, "null").is_err());
    }

    #[test]
    fn schemas_default_to_draft_7_and_bad_ones_are_refused() {
        let untitled = parse(r#"{"type":"string"}"#).expect("parses");
        assert_eq!(untitled.name(), "record");
        assert!(untitled.encode(&json!("x"), "\"x\"").is_ok());
        assert!(parse(r#"{"type": 5}"#).is_err());
        assert!(parse("[1]").is_err());
        assert!(parse("{nope").is_err());
        // Remote references are never fetched.
        assert!(parse(r#"{"$ref":"https://example.com/schema.json"}"#).is_err());
    }

    #[test]
    fn payloads_that_are_not_json_do_not_decode() {
        assert!(decode_document(b"{\"a\":").is_err());
        assert!(decode_document(&[0xff]).is_err());
        assert!(decode_document(b"88888888888888888888E8988").is_err());
        assert!(decode_document("[".repeat(200).as_bytes()).is_err());
        assert_eq!(decode_document(b" [1, 2] ").expect("JSON"), "[1,2]");
    }
}
