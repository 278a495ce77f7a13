//! Fuzz target: the Protobuf codec (`schema/protobuf.rs` through `ParsedSchema`): messages in
//! their JSON mapping converted as a produce request converts them, message indexes and
//! payloads from Kafka rendered as a consumer renders them, and `.proto` text from a request.
//! See `common::schema_codec` for the input layout.
//!
//! Checked: no panic and no stack overflow on a worker's stack; what converts decodes again;
//! what decodes is JSON a client can parse.

#![no_main]

mod common;

use kafka_rest::fuzzing::schema::SchemaFormat;
use libfuzzer_sys::fuzz_target;

/// Fixed schemas: the test fixture, a recursive message, maps, oneofs and well-known types.
const SCHEMAS: &[&str] = &[
    include_str!("../../tests/data/order.proto"),
    r#"syntax = "proto3"; message Node { int32 v = 1; Node next = 2; repeated Node kids = 3; }"#,
    r#"syntax = "proto3"; import "google/protobuf/struct.proto"; import "google/protobuf/timestamp.proto";
       import "google/protobuf/wrappers.proto";
       message W { google.protobuf.Struct s = 1; google.protobuf.Timestamp at = 2;
                   google.protobuf.Int64Value n = 3; map<string, bytes> m = 4;
                   oneof o { string a = 5; double b = 6; } }"#,
    r#"syntax = "proto2"; message P { required sint64 z = 1; optional fixed32 f = 2 [default = 7];
       repeated float r = 3 [packed = true]; optional group G = 4 { optional bool b = 5; } }"#,
];

fuzz_target!(|data: &[u8]| {
    common::on_worker_stack(|| common::schema_codec(SchemaFormat::Protobuf, SCHEMAS, data));
});
