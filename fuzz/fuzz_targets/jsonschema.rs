//! Fuzz target: the JSON Schema codec (`schema/json_schema.rs` through `ParsedSchema`):
//! documents validated and written as a produce request converts them, payloads from Kafka
//! read back, and schema text from a request. See `common::schema_codec` for the input layout.
//!
//! Checked: no panic and no stack overflow on a worker's stack; what converts decodes again;
//! what decodes is JSON a client can parse.

#![no_main]

mod common;

use kafka_rest::fuzzing::schema::SchemaFormat;
use libfuzzer_sys::fuzz_target;

/// Fixed schemas: the test fixture, recursion through `$ref`, formats, patterns and
/// combinators.
const SCHEMAS: &[&str] = &[
    include_str!("../../tests/data/order.schema.json"),
    r##"{"$ref":"#/definitions/n","definitions":{"n":{"type":["object","null"],"properties":{"next":{"$ref":"#/definitions/n"}}}}}"##,
    r#"{"type":"string","format":"email","pattern":"^[a-z]+@","maxLength":64}"#,
    r#"{"anyOf":[{"type":"integer","minimum":0},{"type":"array","items":{"type":"number"},"uniqueItems":true}],"not":{"const":3}}"#,
    r#"{"type":"object","patternProperties":{"^x-":{"type":"string","format":"date-time"}},"additionalProperties":false}"#,
    "true",
];

fuzz_target!(|data: &[u8]| {
    common::on_worker_stack(|| common::schema_codec(SchemaFormat::JsonSchema, SCHEMAS, data));
});
