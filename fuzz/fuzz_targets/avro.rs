//! Fuzz target: the Avro codec (`schema/avro.rs` through `ParsedSchema`): JSON to Avro binary
//! as a produce request converts it, Avro binary from Kafka to JSON as a consumer renders it,
//! and schema text from a request. See `common::schema_codec` for the input layout.
//!
//! Checked: no panic and no stack overflow on a worker's stack; what converts decodes again;
//! what decodes is JSON a client can parse.

#![no_main]

mod common;

use kafka_rest::fuzzing::schema::SchemaFormat;
use libfuzzer_sys::fuzz_target;

/// Fixed schemas: the test fixture, recursion through a union, a record that contains itself,
/// top-level unions, maps, fixed and the primitives.
const SCHEMAS: &[&str] = &[
    include_str!("../../tests/data/order.avsc"),
    r#"{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}"#,
    r#"{"type":"record","name":"T","fields":[{"name":"kids","type":{"type":"array","items":"T"}},{"name":"m","type":{"type":"map","values":"T"}}]}"#,
    r#"["null","string",{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":4}}]}]"#,
    r#"{"type":"map","values":["null","double","float","bytes","boolean","long"]}"#,
    r#"{"type":"array","items":{"type":"enum","name":"E","symbols":["A","B","C"]}}"#,
    r#"{"type":"record","name":"D","fields":[{"name":"a","type":"int","default":1},{"name":"u","type":["null","D"],"default":null}]}"#,
    r#""string""#,
];

fuzz_target!(|data: &[u8]| {
    common::on_worker_stack(|| common::schema_codec(SchemaFormat::Avro, SCHEMAS, data));
});
