//! The schema formats (avro, jsonschema, protobuf) against the real Kafka and Schema Registry.
//! Produce: every record written is read back with a native consumer and decoded here
//! independently of the proxy (magic byte, schema id, payload with the format's own crate), and
//! registrations are checked against the registry itself. Consume: records produced through the
//! proxy, and records whose Confluent wire format the tests build byte by byte, are read back
//! through schema-format consumer instances.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::types::Value as Avro;
use prost_reflect::{DynamicMessage, ReflectMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};

use crate::common::{self, Stack, TestProxy};
use crate::require_stack;

const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";

const ORDER_AVSC: &str = include_str!("../data/order.avsc");
const ORDER_PROTO: &str = include_str!("../data/order.proto");
const ORDER_JSON_SCHEMA: &str = include_str!("../data/order.schema.json");

/// POSTs a produce body; returns status and JSON body.
async fn produce(proxy: &TestProxy, topic: &str, content_type: &str, body: &Value) -> (u16, Value) {
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        content_type,
        body.to_string(),
    )
    .await;
    (status, body)
}

/// Splits the Confluent wire format by hand: magic byte 0, big-endian id, payload.
fn wire(bytes: &[u8]) -> (i32, &[u8]) {
    assert!(bytes.len() >= 5, "too short for the wire format: {bytes:?}");
    assert_eq!(bytes[0], 0, "magic byte");
    let id = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    (id, &bytes[5..])
}

/// GETs a registry path (below the ccompat base URL) and returns status and JSON.
async fn registry_get(stack: &Stack, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{}{path}", stack.registry_url))
        .await
        .expect("registry GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn avro_decode(schema_text: &str, payload: &[u8]) -> Avro {
    let schema = apache_avro::Schema::parse_str(schema_text).expect("test schema parses");
    let mut reader = payload;
    let value = apache_avro::from_avro_datum(&schema, &mut reader, None).expect("Avro datum");
    assert!(reader.is_empty(), "trailing bytes after the Avro datum");
    value
}

fn field<'a>(record: &'a Avro, name: &str) -> &'a Avro {
    match record {
        Avro::Record(fields) => fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name} in {record:?}")),
        other => panic!("not a record: {other:?}"),
    }
}

fn offsets_ok(body: &Value, count: usize) {
    let offsets = body["offsets"].as_array().expect("offsets");
    assert_eq!(offsets.len(), count, "{body}");
    for o in offsets {
        assert_eq!(o["error_code"], Value::Null, "{body}");
        assert!(o["offset"].is_i64(), "{body}");
    }
}

#[tokio::test]
async fn schema_avro_quickstart_registers_the_schema_and_writes_the_wire_format() {
    let stack = require_stack!();
    let topic = common::rand_topic("avroqs");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;

    // The Confluent quickstart request, verbatim.
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        AVRO,
        r#"{"value_schema": "{\"type\": \"record\", \"name\": \"User\", \"fields\": [{\"name\": \"name\", \"type\": \"string\"}]}", "records": [{"value": {"name": "testUser"}}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["value_schema_id"].as_i64().expect("value_schema_id") as i32;
    assert_eq!(
        body,
        json!({
            "offsets": [{"partition": 0, "offset": 0, "error_code": null, "error": null}],
            "key_schema_id": null,
            "value_schema_id": id
        })
    );

    // The registry holds it under the TopicNameStrategy subject with that id.
    let (status, latest) =
        registry_get(&stack, &format!("/subjects/{topic}-value/versions/latest")).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["id"], id);

    let got = common::read_all(&stack, &topic, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key(), None);
    let (wire_id, payload) = wire(got[0].payload().expect("value"));
    assert_eq!(wire_id, id);
    assert_eq!(payload, b"\x10testUser");
    let value = avro_decode(
        r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}"#,
        payload,
    );
    assert_eq!(field(&value, "name"), &Avro::String("testUser".into()));
    proxy.stop().await;
}

#[tokio::test]
async fn schema_avro_keys_and_values_round_trip_with_unions_logical_types_and_nested_records() {
    let stack = require_stack!();
    let topic = common::rand_topic("avrort");
    let partitions = 4;
    common::create_topic(&stack, &topic, partitions).await;
    let proxy = TestProxy::start(&stack).await;
    let key_schema = r#"{"type":"record","name":"OrderKey","namespace":"it.shop","fields":[{"name":"id","type":"long"}]}"#;
    let request = json!({
        "key_schema": key_schema,
        "value_schema": ORDER_AVSC,
        "records": [
            {"key": {"id": 1}, "value": {
                "id": 1, "note": {"string": "first"}, "amount": "\u{30}\u{39}", "day": 19000,
                "at": 1_700_000_000_000_i64, "ref": "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e",
                "status": "PAID", "customer": {"name": "Ann", "vip": true}, "lines": [1, 2]}},
            {"key": {"id": 2}, "value": {
                "id": 2, "amount": "\u{ff}", "day": 0, "at": 0,
                "ref": "00000000-0000-0000-0000-000000000000", "status": "NEW",
                "customer": {"name": "Bob"}, "lines": []}}
        ]
    });
    let (status, body) = produce(&proxy, &topic, AVRO, &request).await;
    assert_eq!(status, 200, "{body}");
    offsets_ok(&body, 2);
    let key_id = body["key_schema_id"].as_i64().expect("key id") as i32;
    let value_id = body["value_schema_id"].as_i64().expect("value id") as i32;
    assert_ne!(key_id, value_id);

    let got = common::read_all(&stack, &topic, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    for m in &got {
        let key_bytes = m.key().expect("key");
        // Keyed records are partitioned over the serialized key, prefix included.
        assert_eq!(
            m.partition(),
            common::java_partition(key_bytes, partitions),
            "partition of {key_bytes:?}"
        );
        let (kid, kpayload) = wire(key_bytes);
        assert_eq!(kid, key_id);
        let key = avro_decode(key_schema, kpayload);
        let (vid, vpayload) = wire(m.payload().expect("value"));
        assert_eq!(vid, value_id);
        let value = avro_decode(ORDER_AVSC, vpayload);
        assert_eq!(field(&key, "id"), field(&value, "id"));
        match field(&value, "id") {
            Avro::Long(1) => {
                assert_eq!(
                    field(&value, "note"),
                    &Avro::Union(1, Box::new(Avro::String("first".into())))
                );
                let amount = apache_avro::Decimal::from(vec![0x30, 0x39]);
                assert_eq!(field(&value, "amount"), &Avro::Decimal(amount));
                assert_eq!(field(&value, "day"), &Avro::Date(19000));
                assert_eq!(
                    field(&value, "at"),
                    &Avro::TimestampMillis(1_700_000_000_000)
                );
                assert_eq!(
                    field(&value, "ref"),
                    &Avro::Uuid(
                        "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e"
                            .parse()
                            .expect("uuid")
                    )
                );
                assert_eq!(field(&value, "status"), &Avro::Enum(1, "PAID".into()));
                let customer = field(&value, "customer");
                assert_eq!(field(customer, "name"), &Avro::String("Ann".into()));
                assert_eq!(field(customer, "vip"), &Avro::Boolean(true));
                assert_eq!(
                    field(&value, "lines"),
                    &Avro::Array(vec![Avro::Int(1), Avro::Int(2)])
                );
            }
            Avro::Long(2) => {
                // Missing fields took their defaults.
                assert_eq!(field(&value, "note"), &Avro::Union(0, Box::new(Avro::Null)));
                assert_eq!(
                    field(field(&value, "customer"), "vip"),
                    &Avro::Boolean(false)
                );
                assert_eq!(
                    field(&value, "amount"),
                    &Avro::Decimal(apache_avro::Decimal::from(vec![0xff]))
                );
            }
            other => panic!("unexpected id {other:?}"),
        }
    }

    // The consume-side decoder renders the bytes the produce path wrote.
    let schemas = kafka_rest::fuzzing::schema::Schemas::new(kafka_rest::fuzzing::schema_settings(
        &kafka_rest::Config::from_properties(&common::proxy_properties(&stack)).expect("config"),
    ))
    .expect("schemas");
    // The record whose key is {"id": 1}: Avro long 1 is the zig-zag byte 2.
    let first = got
        .iter()
        .find(|m| m.key().map(|k| wire(k).1 == [2]).unwrap_or(false))
        .expect("record with id 1");
    let rendered = schemas
        .decode(
            kafka_rest::fuzzing::schema::SchemaFormat::Avro,
            first.payload().expect("value"),
        )
        .await
        .expect("decodes");
    let rendered: Value = serde_json::from_str(rendered.get()).expect("JSON");
    assert_eq!(
        rendered,
        json!({"id": 1, "note": {"string": "first"}, "amount": "09", "day": 19000,
               "at": 1_700_000_000_000_i64, "ref": "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e",
               "status": "PAID", "customer": {"name": "Ann", "vip": true}, "lines": [1, 2]})
    );
    let key: Value = serde_json::from_str(
        schemas
            .decode(
                kafka_rest::fuzzing::schema::SchemaFormat::Avro,
                first.key().expect("key"),
            )
            .await
            .expect("decodes")
            .get(),
    )
    .expect("JSON");
    assert_eq!(key, json!({"id": 1}));
    proxy.stop().await;
}

#[tokio::test]
async fn schema_jsonschema_keys_and_values_round_trip_as_json_text() {
    let stack = require_stack!();
    let topic = common::rand_topic("jsonschemart");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    // Raw text, so that key order and white space are the client's own.
    let request = format!(
        r#"{{ "key_schema": {key_schema}, "value_schema": {value_schema},
             "records": [ {{"key": "k1", "value": {{ "id": 1, "note": "x y", "lines": ["a", "b"] }} }},
                          {{"key": "k2", "value": {{"note": null, "id": 2.50e1}} }} ] }}"#,
        // Apicurio recognizes a JSON schema without properties only by its `$schema`.
        key_schema =
            json!(r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}"#),
        value_schema = json!(ORDER_JSON_SCHEMA),
    );
    let (status, _, body) =
        common::post_json(&proxy.url(&format!("/topics/{topic}")), JSONSCHEMA, request).await;
    assert_eq!(status, 200, "{body}");
    offsets_ok(&body, 2);
    let key_id = body["key_schema_id"].as_i64().expect("key id") as i32;
    let value_id = body["value_schema_id"].as_i64().expect("value id") as i32;
    let (status, registered) = registry_get(&stack, &format!("/schemas/ids/{value_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(registered["schemaType"], "JSON");

    let got = common::read_all(&stack, &topic, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    let (kid, key) = wire(got[0].key().expect("key"));
    assert_eq!((kid, key), (key_id, &br#""k1""#[..]));
    let (vid, value) = wire(got[0].payload().expect("value"));
    assert_eq!(vid, value_id);
    assert_eq!(value, br#"{"id":1,"note":"x y","lines":["a","b"]}"#);
    let (_, value) = wire(got[1].payload().expect("value"));
    assert_eq!(value, br#"{"note":null,"id":2.50e1}"#);

    let schemas = kafka_rest::fuzzing::schema::Schemas::new(kafka_rest::fuzzing::schema_settings(
        &kafka_rest::Config::from_properties(&common::proxy_properties(&stack)).expect("config"),
    ))
    .expect("schemas");
    let rendered = schemas
        .decode(
            kafka_rest::fuzzing::schema::SchemaFormat::JsonSchema,
            got[0].payload().expect("value"),
        )
        .await
        .expect("decodes");
    assert_eq!(rendered.get(), r#"{"id":1,"note":"x y","lines":["a","b"]}"#);
    // The wrong format for the bytes is a typed error, not a guess.
    let err = schemas
        .decode(
            kafka_rest::fuzzing::schema::SchemaFormat::Avro,
            got[0].payload().expect("value"),
        )
        .await
        .expect_err("a JSON schema is not Avro");
    assert!(err.to_string().contains("is a JSON schema"), "{err}");
    proxy.stop().await;
}

#[tokio::test]
async fn schema_protobuf_keys_and_values_round_trip_with_message_indexes() {
    let stack = require_stack!();
    let topic = common::rand_topic("protobufrt");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let key_proto =
        "syntax = \"proto3\";\npackage it.shop;\nmessage OrderKey { string order_id = 1; }\n";
    let request = json!({
        "key_schema": key_proto,
        "value_schema": ORDER_PROTO,
        "records": [
            {"key": {"order_id": "o-1"}, "value": {
                "orderId": "o-1", "amount": "1250", "lines": ["tea", "cake"],
                "customer": {"name": "Ann"}, "status": "PAID"}},
            {"key": {"orderId": "o-2"}, "value": {"order_id": "o-2"}}
        ]
    });
    let (status, body) = produce(&proxy, &topic, PROTOBUF, &request).await;
    assert_eq!(status, 200, "{body}");
    offsets_ok(&body, 2);
    let key_id = body["key_schema_id"].as_i64().expect("key id") as i32;
    let value_id = body["value_schema_id"].as_i64().expect("value id") as i32;
    let (_, registered) = registry_get(&stack, &format!("/schemas/ids/{value_id}")).await;
    assert_eq!(registered["schemaType"], "PROTOBUF");

    // An independent decoder: the fixture compiled by protox from its file.
    let data = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/data");
    let pool = protox::compile(["order.proto"], [&data])
        .map(|set| prost_reflect::DescriptorPool::from_file_descriptor_set(set).expect("pool"))
        .expect("fixture compiles");
    let order = pool.get_message_by_name("it.shop.Order").expect("Order");

    let got = common::read_all(&stack, &topic, 2, Duration::from_secs(10));
    assert_eq!(got.len(), 2);
    let (kid, key) = wire(got[0].key().expect("key"));
    assert_eq!(kid, key_id);
    assert_eq!(
        key,
        &[0, 0x0a, 3, b'o', b'-', b'1'][..],
        "index 0, then field 1"
    );
    let (vid, value) = wire(got[0].payload().expect("value"));
    assert_eq!(vid, value_id);
    assert_eq!(value[0], 0, "message indexes: the first message");
    let message = DynamicMessage::decode(order.clone(), &value[1..]).expect("Order bytes");
    assert_eq!(message.descriptor().full_name(), "it.shop.Order");
    let as_json = serde_json::to_value(&message).expect("JSON");
    assert_eq!(
        as_json,
        json!({"orderId": "o-1", "amount": "1250", "lines": ["tea", "cake"],
               "customer": {"name": "Ann"}, "status": "PAID"})
    );
    let (_, value) = wire(got[1].payload().expect("value"));
    let message = DynamicMessage::decode(order, &value[1..]).expect("Order bytes");
    assert_eq!(
        serde_json::to_value(&message).expect("JSON"),
        json!({"orderId": "o-2"})
    );

    let schemas = kafka_rest::fuzzing::schema::Schemas::new(kafka_rest::fuzzing::schema_settings(
        &kafka_rest::Config::from_properties(&common::proxy_properties(&stack)).expect("config"),
    ))
    .expect("schemas");
    let rendered = schemas
        .decode(
            kafka_rest::fuzzing::schema::SchemaFormat::Protobuf,
            got[1].payload().expect("value"),
        )
        .await
        .expect("decodes");
    assert_eq!(
        rendered.get(),
        r#"{"orderId":"o-2","amount":"0","lines":[],"status":"NEW"}"#
    );
    proxy.stop().await;
}

#[tokio::test]
async fn schema_evolution_registers_compatible_versions_and_refuses_incompatible_ones() {
    let stack = require_stack!();
    let topic = common::rand_topic("evolve");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let v1 = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let v2 = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    let v3 = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"long"}]}"#;
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": v1, "records": [{"value": {"name": "a"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id1 = body["value_schema_id"].clone();
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": v2, "records": [{"value": {"name": "b", "age": 3}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id2 = body["value_schema_id"].clone();
    assert_ne!(id1, id2, "a new version gets a new id");
    let (_, versions) = registry_get(&stack, &format!("/subjects/{topic}-value/versions")).await;
    assert_eq!(versions, json!([1, 2]));

    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": v3, "records": [{"value": {"name": 5}}]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], 42207, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Error serializing message.") && message.contains("ncompatible"),
        "the registry's own words: {message}"
    );
    let got = common::read_all(&stack, &topic, 3, Duration::from_secs(5));
    assert_eq!(got.len(), 2, "the refused request wrote nothing");
    proxy.stop().await;
}

#[tokio::test]
async fn schema_ids_returned_by_produce_can_be_reused_and_must_belong_to_the_subject() {
    let stack = require_stack!();
    let topic = common::rand_topic("reuse");
    let other = common::rand_topic("reuseother");
    common::create_topic(&stack, &topic, 1).await;
    common::create_topic(&stack, &other, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let schema = r#"{"type":"record","name":"Ping","fields":[{"name":"n","type":"int"}]}"#;
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": schema, "records": [{"value": {"n": 1}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["value_schema_id"].as_i64().expect("id");

    // Reuse by id: same id in the response and in the bytes.
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema_id": id, "records": [{"value": {"n": 2}}, {"value": {"n": 3}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value_schema_id"], id);
    let got = common::read_all(&stack, &topic, 3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    for m in &got {
        assert_eq!(i64::from(wire(m.payload().expect("value")).0), id);
    }

    // The same id for a topic whose subject does not hold it, and an id nobody registered.
    let (status, body) = produce(
        &proxy,
        &other,
        AVRO,
        &json!({"value_schema_id": id, "records": [{"value": {"n": 1}}]}),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42207)),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("not registered under subject {other}-value")),
        "{body}"
    );
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema_id": 2_000_000_000, "records": [{"value": {"n": 1}}]}),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42207)),
        "{body}"
    );
    assert!(common::read_all(&stack, &other, 1, Duration::from_secs(2)).is_empty());
    proxy.stop().await;
}

/// Every refused schema-format request: status, error_code, and nothing written.
#[tokio::test]
async fn schema_bad_requests_are_refused_before_anything_is_sent() {
    let stack = require_stack!();
    let topic = common::rand_topic("schemabad");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let user = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let proto = "syntax = \"proto3\"; message M { int32 n = 1; }";
    let json_schema = r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#;
    // (content type, body, status, error_code, message prefix)
    let cases: Vec<(&str, Value, u16, u64, &str)> = vec![
        (
            AVRO,
            json!({"value_schema": user, "records": [{"value": {"name": "ok"}}, {"value": {"name": 5}}]}),
            422,
            42203,
            "Record 1: value .name: expected string",
        ),
        (
            AVRO,
            json!({"value_schema": r#"["null","string"]"#, "records": [{"value": "unwrapped"}]}),
            422,
            42203,
            "Record 0: value a union value must be null",
        ),
        (
            AVRO,
            json!({"value_schema": user, "records": [{"value": null}]}),
            422,
            42203,
            "Record 0: value expected record User",
        ),
        (
            JSONSCHEMA,
            json!({"value_schema": json_schema, "records": [{"value": {"n": 1}}, {"value": {"n": "x"}}]}),
            422,
            42203,
            "Record 1: value does not match the JSON schema",
        ),
        (
            PROTOBUF,
            json!({"value_schema": proto, "records": [{"value": {"n": 1}}, {"value": {"m": 1}}]}),
            422,
            42203,
            "Record 1: value does not match message M",
        ),
        (
            AVRO,
            json!({"records": [{"value": {"name": "x"}}]}),
            422,
            42202,
            "Request includes values but does not include value schema",
        ),
        (
            PROTOBUF,
            json!({"value_schema": proto, "records": [{"key": {"n": 1}, "value": {"n": 1}}]}),
            422,
            42201,
            "Request includes keys but does not include key schema",
        ),
        (
            AVRO,
            json!({"value_schema": user, "value_schema_id": 1, "records": [{"value": {"name": "x"}}]}),
            422,
            422,
            "Request includes both value_schema and value_schema_id",
        ),
        (
            AVRO,
            json!({"value_schema": r#"{"type":"recor"}"#, "records": [{"value": {}}]}),
            422,
            42205,
            "Invalid schema: value schema:",
        ),
        (
            JSONSCHEMA,
            json!({"key_schema": r#"{"type": 12}"#, "records": [{"key": 1}]}),
            422,
            42205,
            "Invalid schema: key schema:",
        ),
        (
            PROTOBUF,
            json!({"value_schema": "message {", "records": [{"value": {}}]}),
            422,
            42205,
            "Invalid schema: value schema:",
        ),
        (
            AVRO,
            json!({"value_schema": user, "records": [{"value": {"name": "x"}, "extra": 1}]}),
            422,
            422,
            "Unrecognized field: extra",
        ),
    ];
    for (ct, body, status, code, prefix) in cases {
        let (got_status, got) = produce(&proxy, &topic, ct, &body).await;
        assert_eq!(got_status, status, "{ct} {body}: {got}");
        assert_eq!(got["error_code"], code, "{ct} {body}: {got}");
        let message = got["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(prefix), "{ct} {body}: {message}");
    }
    // Schema formats check the topic before anything else: nothing gets registered for it.
    let missing = common::rand_topic("schemanosuch");
    let (status, body) = produce(
        &proxy,
        &missing,
        AVRO,
        &json!({"value_schema": user, "records": [{"value": {"name": "x"}}]}),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (404, json!(40401)));
    let (status, _) = registry_get(&stack, &format!("/subjects/{missing}-value/versions")).await;
    assert_eq!(status, 404, "no subject was registered for a missing topic");

    let (_, high) = common::admin(&stack)
        .inner()
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .expect("watermarks");
    assert_eq!(high, 0, "a refused request wrote something");
    proxy.stop().await;
}

#[tokio::test]
async fn schema_formats_without_a_registry_answer_42206() {
    let stack = require_stack!();
    let topic = common::rand_topic("noregistry");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("schema.registry.url", "");
    let proxy = TestProxy::start_with(props).await;
    for ct in [AVRO, JSONSCHEMA, PROTOBUF] {
        let (status, body) = produce(
            &proxy,
            &topic,
            ct,
            &json!({"value_schema": r#""string""#, "records": [{"value": "x"}]}),
        )
        .await;
        assert_eq!(status, 422, "{ct}: {body}");
        assert_eq!(body["error_code"], 42206, "{ct}: {body}");
        assert_eq!(
            body["message"],
            "Payload error. Schema Registry must be configured when using schemas."
        );
    }
    // The schemaless formats do not need it.
    let (status, body) = produce(
        &proxy,
        &topic,
        "application/vnd.kafka.json.v2+json",
        &json!({"records": [{"value": 1}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A schema-format instance can be created, but reading from it says what is missing.
    let instance = create_consumer(
        &proxy,
        &common::rand_group("noregistry"),
        json!({"format": "avro"}),
    )
    .await;
    assign(&instance, &topic).await;
    let (status, _, body) = records(&instance, AVRO, "?timeout=100").await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42206)),
        "{body}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn schema_an_unreachable_registry_answers_42207_quickly() {
    let stack = require_stack!();
    let topic = common::rand_topic("registrydown");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("schema.registry.url", "http://127.0.0.1:1");
    let proxy = TestProxy::start_with(props).await;
    let started = Instant::now();
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": r#""string""#, "records": [{"value": "x"}]}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42207)),
        "{body}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema_id": 1, "records": [{"value": "x"}]}),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42207)),
        "{body}"
    );
    proxy.stop().await;
}

/// A TCP forwarder to the real registry that a test can cut and restore, connections included.
struct Forwarder {
    port: u16,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    async fn start(port: u16, target: String) -> Forwarder {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the forwarder port");
        let port = listener.local_addr().expect("address").port();
        let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().expect("lock").push(task);
            }
        });
        Forwarder {
            port,
            tasks,
            accept: Some(accept),
        }
    }

    /// Closes the listener and every forwarded connection.
    async fn cut(mut self) -> u16 {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
        self.port
    }
}

#[tokio::test]
async fn schema_cached_schemas_need_no_registry_and_the_client_recovers_after_an_outage() {
    let stack = require_stack!();
    let topic = common::rand_topic("outage");
    common::create_topic(&stack, &topic, 1).await;
    let registry = reqwest::Url::parse(&stack.registry_url).expect("registry URL");
    let target = format!(
        "{}:{}",
        registry.host_str().expect("host"),
        registry.port_or_known_default().expect("port")
    );
    let forwarder = Forwarder::start(0, target.clone()).await;
    let mut via = registry.clone();
    via.set_port(Some(forwarder.port)).expect("port");
    let mut props = common::proxy_properties(&stack);
    props.set("schema.registry.url", via.as_str().trim_end_matches('/'));
    let proxy = TestProxy::start_with(props).await;
    let s1 = r#"{"type":"record","name":"Tick","fields":[{"name":"n","type":"int"}]}"#;
    let s2 = r#"{"type":"record","name":"Tick","fields":[{"name":"n","type":"int"},{"name":"m","type":"int","default":0}]}"#;
    let with =
        |schema: &str, n: i32| json!({"value_schema": schema, "records": [{"value": {"n": n}}]});

    let started = Instant::now();
    let (status, body) = produce(&proxy, &topic, AVRO, &with(s1, 0)).await;
    let first = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let id = body["value_schema_id"].clone();
    let started = Instant::now();
    for n in 1..=20 {
        let (status, body) = produce(&proxy, &topic, AVRO, &with(s1, n)).await;
        assert_eq!(status, 200, "{body}");
    }
    let cached = started.elapsed() / 20;
    let started = Instant::now();
    for n in 0..20 {
        let (status, body) = produce(
            &proxy,
            &topic,
            "application/vnd.kafka.json.v2+json",
            &json!({"records": [{"value": n}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let schemaless = started.elapsed() / 20;
    eprintln!(
        "produce, 1 record: avro first request {first:?}, avro with a cached schema {cached:?}, \
         json (no schema) {schemaless:?} per request"
    );

    // Registry gone: the cached schema (by text and by id) still works, a new one cannot.
    let port = forwarder.cut().await;
    let (status, body) = produce(&proxy, &topic, AVRO, &with(s1, 21)).await;
    assert_eq!(status, 200, "a cached schema needs no registry: {body}");
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema_id": id, "records": [{"value": {"n": 22}}]}),
    )
    .await;
    assert_eq!(status, 200, "a cached id needs no registry: {body}");
    let started = Instant::now();
    let (status, body) = produce(&proxy, &topic, AVRO, &with(s2, 0)).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!(42207)),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Registry back on the same address: the next request just works.
    let _forwarder = Forwarder::start(port, target).await;
    let (status, body) = produce(&proxy, &topic, AVRO, &with(s2, 1)).await;
    assert_eq!(status, 200, "recovered after the outage: {body}");
    assert_ne!(body["value_schema_id"], id);
    let got = common::read_all(&stack, &topic, 44, Duration::from_secs(10));
    assert_eq!(got.len(), 44);
    proxy.stop().await;
}

#[tokio::test]
async fn schema_record_name_strategies_choose_the_subject() {
    let stack = require_stack!();
    let topic = common::rand_topic("recordname");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set(
            "schema.registry.value.subject.name.strategy",
            "io.confluent.kafka.serializers.subject.RecordNameStrategy",
        )
        .set(
            "schema.registry.key.subject.name.strategy",
            "TopicRecordNameStrategy",
        );
    let proxy = TestProxy::start_with(props).await;
    // A namespace unique to this run, so the record-name subject is new.
    let namespace = topic.replace('-', "_");
    let value_schema = format!(
        r#"{{"type":"record","name":"Event","namespace":"{namespace}","fields":[{{"name":"n","type":"int"}}]}}"#
    );
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"key_schema": r#""string""#, "value_schema": value_schema,
                "records": [{"key": "k", "value": {"n": 1}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, versions) =
        registry_get(&stack, &format!("/subjects/{namespace}.Event/versions")).await;
    assert_eq!((status, versions), (200, json!([1])));
    let (status, versions) =
        registry_get(&stack, &format!("/subjects/{topic}-string/versions")).await;
    assert_eq!((status, versions), (200, json!([1])));
    let (status, _) = registry_get(&stack, &format!("/subjects/{topic}-value/versions")).await;
    assert_eq!(status, 404);
    proxy.stop().await;
}

#[tokio::test]
async fn schema_null_values_go_through_the_schema_unless_configured_as_kafka_nulls() {
    let stack = require_stack!();
    let topic = common::rand_topic("schemanull");
    common::create_topic(&stack, &topic, 1).await;
    let nullable = r#"["null",{"type":"record","name":"V","fields":[{"name":"n","type":"int"}]}]"#;
    let request = json!({
        "key_schema": r#""string""#,
        "value_schema": nullable,
        "records": [{"key": "k", "value": null}, {"key": "k2", "value": {"V": {"n": 1}}}]
    });
    let proxy = TestProxy::start(&stack).await;
    let (status, body) = produce(&proxy, &topic, AVRO, &request).await;
    assert_eq!(status, 200, "{body}");
    let value_id = body["value_schema_id"].as_i64().expect("value id") as i32;
    proxy.stop().await;

    let mut props = common::proxy_properties(&stack);
    props.set("null.request.body.always.publishes.empty.record", "true");
    let proxy = TestProxy::start_with(props).await;
    let (status, body) = produce(&proxy, &topic, AVRO, &request).await;
    assert_eq!(status, 200, "{body}");
    proxy.stop().await;

    let got = common::read_all(&stack, &topic, 4, Duration::from_secs(10));
    assert_eq!(got.len(), 4);
    // `docs/decisions.md` §C6: a null with a schema is the schema's null (union branch 0)...
    assert_eq!(
        wire(got[0].payload().expect("a schema-typed null")),
        (value_id, &[0u8][..])
    );
    assert_eq!(wire(got[1].key().expect("key")).1, &[4u8, b'k', b'2'][..]);
    assert_eq!(wire(got[1].payload().expect("value")).1, &[2u8, 2][..]);
    // With the setting, the null is a tombstone.
    assert_eq!(got[2].payload(), None);
    assert!(got[2].key().is_some());
}

// ---------------------------------------------------------------------------------------------
// Consume: schema-format consumer instances.

/// Deadline for anything that waits on Kafka (group joins, fetches).
const PATIENCE: Duration = Duration::from_secs(30);

/// Creates a consumer instance in `group`; returns its `base_uri`.
async fn create_consumer(proxy: &TestProxy, group: &str, body: Value) -> String {
    let (status, answer) = common::call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "create in {group}: {answer}");
    answer["base_uri"].as_str().expect("base_uri").to_string()
}

/// Assigns partition 0 of `topic` to the instance.
async fn assign(instance: &str, topic: &str) {
    let (status, body) = common::call(
        "POST",
        &format!("{instance}/assignments"),
        None,
        Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
    )
    .await;
    assert_eq!(status, 204, "assign: {body}");
}

/// Moves the instance to `offset` of partition 0 of `topic`.
async fn seek(instance: &str, topic: &str, offset: i64) {
    let (status, body) = common::call(
        "POST",
        &format!("{instance}/positions"),
        None,
        Some(json!({"offsets": [{"topic": topic, "partition": 0, "offset": offset}]})),
    )
    .await;
    assert_eq!(status, 204, "seek: {body}");
}

/// One records call: status, `Content-Type` and JSON body.
async fn records(instance: &str, accept: &str, query: &str) -> (u16, String, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{instance}/records{query}"))
        .header("accept", accept)
        .send()
        .await
        .expect("records");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

/// Reads until `count` records arrived (fails after [`PATIENCE`]); checks every answer's type.
async fn read_until(instance: &str, accept: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records after {PATIENCE:?}: {out:?}",
            out.len()
        );
        let (status, content_type, body) = records(instance, accept, "?timeout=500").await;
        assert_eq!(status, 200, "records: {body}");
        assert_eq!(content_type, accept, "the negotiated type comes back");
        out.extend(body.as_array().expect("array").iter().cloned());
    }
    out
}

/// A record's key and value as a consumer sees them.
type KeyValue = (Value, Value);

/// A record's key and value bytes as Kafka holds them (`None`: a Kafka null).
type RawRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Key and value of each record, in order.
fn keys_and_values(records: &[Value]) -> Vec<KeyValue> {
    records
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect()
}

/// Registers a schema straight in the registry (not through the proxy); returns its id.
async fn registry_register(stack: &Stack, subject: &str, schema_type: &str, text: &str) -> i32 {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/subjects/{subject}/versions",
            stack.registry_url
        ))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"schema": text, "schemaType": schema_type}).to_string())
        .send()
        .await
        .expect("registry POST");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "register under {subject}: {body}");
    body["id"].as_i64().expect("id") as i32
}

/// The Confluent wire format, built by hand: magic byte 0, big-endian schema id, payload.
fn framed(id: i32, payload: &[u8]) -> Vec<u8> {
    [&[0u8][..], &id.to_be_bytes(), payload].concat()
}

/// Writes keys and values with a native producer to partition 0, in order.
async fn produce_raw(stack: &Stack, topic: &str, records: &[RawRecord]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .create()
        .expect("producer");
    for (key, value) in records {
        let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(topic).partition(0);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("delivered");
    }
}

#[tokio::test]
async fn schema_avro_consumer_quickstart_reads_back_the_test_user() {
    let stack = require_stack!();
    let topic = common::rand_topic("avroconsumeqs");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        AVRO,
        r#"{"value_schema": "{\"type\": \"record\", \"name\": \"User\", \"fields\": [{\"name\": \"name\", \"type\": \"string\"}]}", "records": [{"value": {"name": "testUser"}}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The Confluent consumer quickstart for Avro, verbatim but for the group and topic names.
    let group = common::rand_group("my_avro_consumer");
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/consumers/{group}")),
        "application/vnd.kafka.v2+json",
        r#"{"name": "my_consumer_instance", "format": "avro", "auto.offset.reset": "earliest"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["instance_id"], "my_consumer_instance");
    let instance = body["base_uri"].as_str().expect("base_uri").to_string();
    assert_eq!(
        instance,
        proxy.url(&format!(
            "/consumers/{group}/instances/my_consumer_instance"
        ))
    );
    let (status, _, body) = common::post_json(
        &format!("{instance}/subscription"),
        "application/vnd.kafka.v2+json",
        format!(r#"{{"topics":["{topic}"]}}"#),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let got = read_until(&instance, AVRO, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let record = &got[0];
    assert_eq!(record["topic"], json!(topic));
    assert_eq!(record["key"], Value::Null);
    assert_eq!(record["value"], json!({"name": "testUser"}));
    assert_eq!(
        (&record["partition"], &record["offset"]),
        (&json!(0), &json!(0))
    );
    let (status, _) = common::call("DELETE", &instance, None, None).await;
    assert_eq!(status, 204);
    proxy.stop().await;
}

#[tokio::test]
async fn schema_records_produced_in_every_format_read_back_as_produced() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let avro_key = r#"{"type":"record","name":"OrderKey","namespace":"it.shop","fields":[{"name":"id","type":"long"}]}"#;
    let proto_key =
        "syntax = \"proto3\";\npackage it.shop;\nmessage OrderKey { string order_id = 1; }\n";
    let json_key = r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}"#;
    // (format, content type, request, the keys and values read back)
    let cases: Vec<(&str, &str, Value, Vec<KeyValue>)> = vec![
        (
            "avro",
            AVRO,
            json!({
                "key_schema": avro_key,
                "value_schema": ORDER_AVSC,
                "records": [
                    {"key": {"id": 1}, "value": {
                        "id": 1, "note": {"string": "first"}, "amount": "\u{30}\u{39}",
                        "day": 19000, "at": 1_700_000_000_000_i64,
                        "ref": "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e", "status": "PAID",
                        "customer": {"name": "Ann", "vip": true}, "lines": [1, 2]}},
                    {"key": {"id": 2}, "value": {
                        "id": 2, "amount": "\u{ff}", "day": 0, "at": 0,
                        "ref": "00000000-0000-0000-0000-000000000000", "status": "NEW",
                        "customer": {"name": "Bob"}, "lines": []}}
                ]
            }),
            vec![
                (
                    json!({"id": 1}),
                    json!({"id": 1, "note": {"string": "first"}, "amount": "09",
                           "day": 19000, "at": 1_700_000_000_000_i64,
                           "ref": "8c0a2f4e-7f5d-4e0b-9a4e-6d1c2b3a4f5e", "status": "PAID",
                           "customer": {"name": "Ann", "vip": true}, "lines": [1, 2]}),
                ),
                (
                    json!({"id": 2}),
                    // The union's null stays bare, defaults are filled in, bytes are
                    // ISO-8859-1 code points.
                    json!({"id": 2, "note": null, "amount": "\u{ff}", "day": 0, "at": 0,
                           "ref": "00000000-0000-0000-0000-000000000000", "status": "NEW",
                           "customer": {"name": "Bob", "vip": false}, "lines": []}),
                ),
            ],
        ),
        (
            "jsonschema",
            JSONSCHEMA,
            json!({
                "key_schema": json_key,
                "value_schema": ORDER_JSON_SCHEMA,
                "records": [
                    {"key": "k1", "value": {"id": 1, "note": "x y", "lines": ["a", "b"]}},
                    {"key": "k2", "value": {"note": null, "id": 2}}
                ]
            }),
            vec![
                (
                    json!("k1"),
                    json!({"id": 1, "note": "x y", "lines": ["a", "b"]}),
                ),
                (json!("k2"), json!({"note": null, "id": 2})),
            ],
        ),
        (
            "protobuf",
            PROTOBUF,
            json!({
                "key_schema": proto_key,
                "value_schema": ORDER_PROTO,
                "records": [
                    {"key": {"order_id": "o-1"}, "value": {
                        "orderId": "o-1", "amount": "1250", "lines": ["tea", "cake"],
                        "customer": {"name": "Ann"}, "status": "PAID"}},
                    {"key": {"orderId": "o-2"}, "value": {"order_id": "o-2"}}
                ]
            }),
            vec![
                (
                    json!({"orderId": "o-1"}),
                    json!({"orderId": "o-1", "amount": "1250", "lines": ["tea", "cake"],
                           "customer": {"name": "Ann"}, "status": "PAID"}),
                ),
                (
                    json!({"orderId": "o-2"}),
                    json!({"orderId": "o-2", "amount": "0", "lines": [], "status": "NEW"}),
                ),
            ],
        ),
    ];
    for (format, content_type, request, expected) in cases {
        let topic = common::rand_topic(&format!("consume{format}"));
        common::create_topic(&stack, &topic, 1).await;
        let (status, body) = produce(&proxy, &topic, content_type, &request).await;
        assert_eq!(status, 200, "{format}: {body}");
        let instance = create_consumer(
            &proxy,
            &common::rand_group(&format!("consume{format}")),
            json!({"format": format, "auto.offset.reset": "earliest"}),
        )
        .await;
        assign(&instance, &topic).await;
        let got = read_until(&instance, content_type, expected.len()).await;
        assert_eq!(keys_and_values(&got), expected, "{format}");
        let offsets: Vec<&Value> = got.iter().map(|r| &r["offset"]).collect();
        assert_eq!(offsets, [&json!(0), &json!(1)], "{format}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn schema_records_written_in_the_wire_format_by_hand_read_back_and_count_as_json_text() {
    let stack = require_stack!();
    let avro_topic = common::rand_topic("wireavro");
    let json_topic = common::rand_topic("wirejson");
    let proto_topic = common::rand_topic("wireproto");
    for t in [&avro_topic, &json_topic, &proto_topic] {
        common::create_topic(&stack, t, 1).await;
    }
    let avro_value = r#"{"type":"record","name":"Reading","namespace":"it.wire","fields":[{"name":"sensor","type":"string"},{"name":"level","type":["null","int"],"default":null},{"name":"raw","type":"bytes"}]}"#;
    let kid = registry_register(&stack, &format!("{avro_topic}-key"), "AVRO", r#""string""#).await;
    let vid = registry_register(&stack, &format!("{avro_topic}-value"), "AVRO", avro_value).await;
    let jid = registry_register(
        &stack,
        &format!("{json_topic}-value"),
        "JSON",
        r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"sensor":{"type":"string"},"level":{"type":"integer"}}}"#,
    )
    .await;
    let pid = registry_register(
        &stack,
        &format!("{proto_topic}-value"),
        "PROTOBUF",
        "syntax = \"proto3\";\npackage it.wire;\nmessage Other { string x = 1; }\nmessage Reading {\n  string sensor = 1;\n  int64 at = 2;\n  Inner inner = 3;\n  message Inner { bool ok = 1; }\n}\n",
    )
    .await;

    // Avro: strings are a zig-zag length and UTF-8, the union branch index comes first, bytes
    // are a length and the raw bytes. A missing key and a tombstone stay null.
    produce_raw(
        &stack,
        &avro_topic,
        &[
            (
                Some(framed(kid, b"\x04k1")),
                Some(framed(vid, b"\x04a1\x02\x2a\x04\xff\x41")),
            ),
            (None, Some(framed(vid, b"\x04b2\x00\x00"))),
            (Some(framed(kid, b"\x04k3")), None),
        ],
    )
    .await;
    // JSON Schema: the document itself. Protobuf: message indexes (zig-zag count, then each
    // index; a single 0 for the first message), then the message.
    produce_raw(
        &stack,
        &json_topic,
        &[(None, Some(framed(jid, br#"{"sensor":"a1","level":21}"#)))],
    )
    .await;
    produce_raw(
        &stack,
        &proto_topic,
        &[
            (
                None,
                Some(framed(pid, b"\x02\x02\x0a\x02a1\x10\x2a\x1a\x02\x08\x01")),
            ),
            (None, Some(framed(pid, b"\x04\x02\x00\x08\x01"))),
            (None, Some(framed(pid, b"\x00\x0a\x01z"))),
        ],
    )
    .await;

    let proxy = TestProxy::start(&stack).await;
    let cases: Vec<(&str, &str, &str, Vec<KeyValue>)> = vec![
        (
            "avro",
            AVRO,
            &avro_topic,
            vec![
                (
                    json!("k1"),
                    json!({"sensor": "a1", "level": {"int": 21}, "raw": "\u{ff}A"}),
                ),
                (
                    Value::Null,
                    json!({"sensor": "b2", "level": null, "raw": ""}),
                ),
                (json!("k3"), Value::Null),
            ],
        ),
        (
            "jsonschema",
            JSONSCHEMA,
            &json_topic,
            vec![(Value::Null, json!({"sensor": "a1", "level": 21}))],
        ),
        (
            "protobuf",
            PROTOBUF,
            &proto_topic,
            vec![
                (
                    Value::Null,
                    json!({"sensor": "a1", "at": "42", "inner": {"ok": true}}),
                ),
                (Value::Null, json!({"ok": true})),
                (Value::Null, json!({"x": "z"})),
            ],
        ),
    ];
    let mut avro_instance = String::new();
    for (format, accept, topic, expected) in cases {
        let instance = create_consumer(
            &proxy,
            &common::rand_group(&format!("wire{format}")),
            json!({"format": format}),
        )
        .await;
        assign(&instance, topic).await;
        seek(&instance, topic, 0).await;
        let got = read_until(&instance, accept, expected.len()).await;
        assert_eq!(keys_and_values(&got), expected, "{format}");
        if format == "avro" {
            avro_instance = instance;
        }
    }

    // max_bytes counts the JSON text of key and value (`docs/decisions.md` §C3), not the bytes in
    // Kafka: a limit that the raw bytes of all three records fit keeps the first two apart.
    let json_size = |key: &Value, value: &Value| {
        [key, value]
            .iter()
            .map(|v| if v.is_null() { 0 } else { v.to_string().len() })
            .sum::<usize>()
    };
    let sizes: Vec<usize> = [
        (
            json!("k1"),
            json!({"sensor": "a1", "level": {"int": 21}, "raw": "\u{ff}A"}),
        ),
        (
            Value::Null,
            json!({"sensor": "b2", "level": null, "raw": ""}),
        ),
        (json!("k3"), Value::Null),
    ]
    .iter()
    .map(|(k, v)| json_size(k, v))
    .collect();
    let raw_total = (5 + 3) + (5 + 8) + (5 + 5) + (5 + 3);
    let max_bytes = sizes[0] + sizes[1] - 1;
    assert!(raw_total <= max_bytes, "the raw bytes would all fit");
    seek(&avro_instance, &avro_topic, 0).await;
    let deadline = Instant::now() + PATIENCE;
    let mut batches = Vec::new();
    while batches.iter().map(Vec::len).sum::<usize>() < 3 {
        assert!(Instant::now() < deadline, "{batches:?}");
        let (status, _, body) = records(
            &avro_instance,
            AVRO,
            &format!("?timeout=500&max_bytes={max_bytes}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let offsets: Vec<i64> = body
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["offset"].as_i64().expect("offset"))
            .collect();
        if !offsets.is_empty() {
            batches.push(offsets);
        }
    }
    assert_eq!(batches[0], vec![0], "{batches:?}");
    assert_eq!(batches.concat(), vec![0, 1, 2], "{batches:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn schema_bytes_not_in_the_wire_format_answer_408_until_a_seek_moves_past_them() {
    let stack = require_stack!();
    let topic = common::rand_topic("wirebad");
    common::create_topic(&stack, &topic, 1).await;
    let id = registry_register(&stack, &format!("{topic}-value"), "AVRO", r#""string""#).await;
    produce_raw(
        &stack,
        &topic,
        &[
            (None, Some(framed(id, b"\x04ok"))),
            (None, Some(b"plain text".to_vec())),
            (None, Some(framed(2_000_000_000, b"\x04??"))),
            (Some(b"\x00\x00".to_vec()), Some(framed(id, b"\x04ok"))),
            (None, Some(framed(id, b"\x06end"))),
        ],
    )
    .await;
    let proxy = TestProxy::start(&stack).await;
    let instance = create_consumer(
        &proxy,
        &common::rand_group("wirebad"),
        json!({"format": "avro", "auto.offset.reset": "earliest"}),
    )
    .await;
    assign(&instance, &topic).await;
    let good = read_until(&instance, AVRO, 1).await;
    assert_eq!(keys_and_values(&good), vec![(Value::Null, json!("ok"))]);

    // Each bad record answers 408 / 40801 at once, naming where it is and what is wrong, call
    // after call, until a seek moves past it.
    let bad: [(i64, &str); 3] = [
        (1, "unknown magic byte 112"),
        (2, "schema 2000000000"),
        (3, "the key cannot be read as avro: 2 bytes are too short"),
    ];
    for (offset, problem) in bad {
        for _ in 0..2 {
            let started = Instant::now();
            let (status, content_type, body) = records(&instance, AVRO, "?timeout=5000").await;
            assert_eq!(
                (status, body["error_code"].clone()),
                (408, json!(40801)),
                "offset {offset}: {body}"
            );
            assert_eq!(content_type, "application/vnd.kafka.v2+json");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("at offset {offset} of partition 0 of topic"))
                    && message.contains(problem),
                "offset {offset}: {message}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "408 came at once"
            );
        }
        seek(&instance, &topic, offset + 1).await;
    }
    let after = read_until(&instance, AVRO, 1).await;
    assert_eq!(keys_and_values(&after), vec![(Value::Null, json!("end"))]);
    assert_eq!(after[0]["offset"], 4);
    proxy.stop().await;
}

#[tokio::test]
async fn schema_instances_accept_each_others_types_and_keep_their_own_format() {
    let stack = require_stack!();
    let topic = common::rand_topic("schemaaccept");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let (status, body) = produce(
        &proxy,
        &topic,
        AVRO,
        &json!({"value_schema": r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#,
                "records": [{"value": {"name": "testUser"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let avro = create_consumer(
        &proxy,
        &common::rand_group("schemaaccept"),
        json!({"format": "avro"}),
    )
    .await;
    assign(&avro, &topic).await;
    // An avro instance read with the jsonschema or protobuf type renders Avro, and answers
    // with the type the client asked for (`docs/decisions.md` §C3).
    for accept in [JSONSCHEMA, PROTOBUF, AVRO] {
        seek(&avro, &topic, 0).await;
        let got = read_until(&avro, accept, 1).await;
        assert_eq!(got[0]["value"], json!({"name": "testUser"}), "{accept}");
    }
    for other in [
        "application/vnd.kafka.binary.v2+json",
        "application/vnd.kafka.json.v2+json",
        "application/vnd.kafka.v2+json",
    ] {
        let (status, _, body) = records(&avro, other, "?timeout=100").await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (406, json!(40601)),
            "{other}: {body}"
        );
    }
    // A protobuf instance asked for avro still reads protobuf: the Avro record is not one.
    let protobuf = create_consumer(
        &proxy,
        &common::rand_group("schemaaccept"),
        json!({"format": "protobuf"}),
    )
    .await;
    assign(&protobuf, &topic).await;
    seek(&protobuf, &topic, 0).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _, body) = records(&protobuf, AVRO, "?timeout=500").await;
        if status == 200 && body == json!([]) {
            assert!(Instant::now() < deadline, "no record after {PATIENCE:?}");
            continue;
        }
        assert_eq!(
            (status, body["error_code"].clone()),
            (408, json!(40801)),
            "{body}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("is a AVRO schema, not PROTOBUF"),
            "{message}"
        );
        break;
    }
    proxy.stop().await;
}

#[tokio::test]
async fn schema_a_registry_outage_answers_503_for_unseen_schemas_and_loses_no_record() {
    let stack = require_stack!();
    let topic = common::rand_topic("readoutage");
    common::create_topic(&stack, &topic, 1).await;
    let seen = registry_register(&stack, &format!("{topic}-value"), "AVRO", r#""string""#).await;
    // Another subject: the registry refuses an incompatible second version of one subject.
    let unseen = registry_register(
        &stack,
        &format!("{topic}-late"),
        "AVRO",
        r#"{"type":"record","name":"Late","fields":[{"name":"n","type":"int"}]}"#,
    )
    .await;
    assert_ne!(seen, unseen);
    let registry = reqwest::Url::parse(&stack.registry_url).expect("registry URL");
    let target = format!(
        "{}:{}",
        registry.host_str().expect("host"),
        registry.port_or_known_default().expect("port")
    );
    let forwarder = Forwarder::start(0, target.clone()).await;
    let mut via = registry.clone();
    via.set_port(Some(forwarder.port)).expect("port");
    let mut props = common::proxy_properties(&stack);
    props.set("schema.registry.url", via.as_str().trim_end_matches('/'));
    let proxy = TestProxy::start_with(props).await;
    let instance = create_consumer(
        &proxy,
        &common::rand_group("readoutage"),
        json!({"format": "avro", "auto.offset.reset": "earliest"}),
    )
    .await;
    assign(&instance, &topic).await;
    produce_raw(&stack, &topic, &[(None, Some(framed(seen, b"\x02a")))]).await;
    let first = read_until(&instance, AVRO, 1).await;
    assert_eq!(first[0]["value"], json!("a"));

    // Registry gone: the cached schema keeps decoding; the first record of an unseen one
    // answers 503 at once, call after call, and stays next in line.
    let port = forwarder.cut().await;
    produce_raw(
        &stack,
        &topic,
        &[
            (None, Some(framed(seen, b"\x02b"))),
            (None, Some(framed(unseen, b"\x0e"))),
            (None, Some(framed(seen, b"\x02c"))),
        ],
    )
    .await;
    let cached = read_until(&instance, AVRO, 1).await;
    assert_eq!(keys_and_values(&cached), vec![(Value::Null, json!("b"))]);
    for _ in 0..2 {
        let started = Instant::now();
        let (status, content_type, body) = records(&instance, AVRO, "?timeout=5000").await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (503, json!(503)),
            "{body}"
        );
        assert_eq!(content_type, "application/vnd.kafka.v2+json");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Schema Registry unavailable:")
                && message.contains("offset 2 of partition 0")
                && message.contains(&format!("cannot fetch schema {unseen}")),
            "{message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "503 came at once"
        );
    }

    // Registry back on the same address: the same call goes on where it stopped.
    let _forwarder = Forwarder::start(port, target).await;
    let rest = read_until(&instance, AVRO, 2).await;
    assert_eq!(
        keys_and_values(&rest),
        vec![(Value::Null, json!({"n": 7})), (Value::Null, json!("c"))]
    );
    assert_eq!(rest[0]["offset"], 2);
    proxy.stop().await;
}
