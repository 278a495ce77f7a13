//! The bad-input corpus: malformed and hostile requests against every operation of the
//! contract, sent as raw bytes so that they reach the proxy exactly as written (broken JSON,
//! wrong types, huge numbers, negative partitions, unknown fields, empty bodies, wrong and
//! missing media types, invalid base64 and UTF-8, JSON nested 100,000 levels deep, bodies over
//! the size limit, odd path segments, 10,000 records in one request).
//!
//! Every case must get its documented 4xx with the JSON error body, no case may get a 5xx or
//! no answer, nothing a refused produce request carried may reach Kafka, and the proxy must
//! still serve afterwards. A case that crashed the proxy (a stack overflow aborts the whole
//! process) fails every later case and the final checks.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, RawAnswer, TestProxy};
use crate::require_stack;

const V2: &str = "application/vnd.kafka.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";

/// The produce body limit of the proxy under test (`request.body.max.bytes`), smaller than the
/// default so that the over-limit cases are cheap, larger than every other case; control calls
/// have their own limit (`consumer.request.body.max.bytes`, 1 MiB by default).
const BODY_LIMIT: usize = 4 << 20;

/// Longest wait for one answer; the slowest case (10,000 records) takes well under a second.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// One request of the corpus and the answer the contract documents for it.
struct Case {
    /// The contract's operationId this case targets.
    op: &'static str,
    what: String,
    method: &'static str,
    path: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    status: u16,
    code: u32,
}

fn case(op: &'static str, what: &str, method: &'static str, path: impl AsRef<[u8]>) -> Case {
    Case {
        op,
        what: what.to_string(),
        method,
        path: path.as_ref().to_vec(),
        headers: Vec::new(),
        body: None,
        status: 0,
        code: 0,
    }
}

impl Case {
    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Case {
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    fn ct(self, content_type: &str) -> Case {
        self.header("Content-Type", content_type)
    }

    fn accept(self, accept: &str) -> Case {
        self.header("Accept", accept)
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = Some(body.into());
        self
    }

    fn json(self, body: Value) -> Case {
        self.body(body.to_string())
    }

    fn expect(mut self, status: u16, code: u32) -> Case {
        self.status = status;
        self.code = code;
        self
    }
}

/// `depth` levels of `[` (and, when `closed`, as many `]`).
fn nested(depth: usize, closed: bool) -> String {
    let mut s = "[".repeat(depth);
    if closed {
        s.push_str(&"]".repeat(depth));
    }
    s
}

/// A produce body of `count` binary records of which the last has invalid base64.
fn many_records_last_bad(count: usize) -> Vec<u8> {
    let mut records: Vec<Value> = (0..count)
        .map(|i| json!({"key": "a2V5", "value": format!("dmFsdWUt{i:04}")}))
        .collect();
    records[count - 1] = json!({"value": "not base64!"});
    json!({ "records": records }).to_string().into_bytes()
}

/// The corpus for one proxy: `topic` exists (2 partitions); `group` has the instances
/// `bin` (binary, assigned partition 0 of `topic`) and `jsn` (json).
fn corpus(topic: &str, group: &str) -> Vec<Case> {
    let t = format!("/topics/{topic}");
    let g = format!("/consumers/{group}");
    let bin = format!("{g}/instances/bin");
    let jsn = format!("{g}/instances/jsn");
    let long_name = "n".repeat(10_000);
    let deep = nested(100_000, true);
    let over_limit = vec![b' '; BODY_LIMIT + 1];
    let control_over_limit = {
        let mut b = br#"{"name":""#.to_vec();
        b.extend(std::iter::repeat_n(b'x', 1 << 20));
        b.extend(br#""}"#);
        b
    };
    let schema_body = |key: &str, schema: String, value: Value| {
        json!({ key: schema, "records": [{"value": value}] }).to_string()
    };
    let deep_proto = format!(
        "syntax = \"proto3\"; import \"google/protobuf/descriptor.proto\";
         extend google.protobuf.MessageOptions {{ M m = 50000; }}
         message M {{ M a = 1; }} message X {{ option (m) = {}{{}}{}; }}",
        "{a: ".repeat(100_000),
        "}".repeat(100_000)
    );
    let deep_avro = format!(
        "{}\"int\"{}",
        r#"{"type":"array","items":"#.repeat(100_000),
        "}".repeat(100_000)
    );
    let partitions = |topic: &str, partition: Value| json!({"partitions": [{"topic": topic, "partition": partition}]});

    vec![
        // --- root and health
        case("get_root", "unacceptable Accept", "GET", "/").accept("text/html").expect(406, 406),
        case("post_root", "broken JSON", "POST", "/").ct(V2).body("{\"a\":").expect(400, 400),
        case("post_root", "100,000 levels of [", "POST", "/").ct(V2).body(nested(100_000, false)).expect(400, 400),
        case("post_root", "not an object of strings", "POST", "/").ct(V2).json(json!({"a": 1})).expect(422, 422),
        case("post_root", "wrong media type", "POST", "/").ct("text/plain").body("{}").expect(415, 415),
        case("post_root", "body over the limit", "POST", "/").ct(V2).body(over_limit.clone()).expect(413, 413),
        case("health_live", "unacceptable Accept", "GET", "/health/live").accept("application/xml").expect(406, 406),
        case("health_ready", "unacceptable Accept", "GET", "/health/ready").accept("text/*").expect(406, 406),
        // --- topics, partitions, brokers: path segments
        case("list_topics", "unacceptable Accept", "GET", "/topics").accept("text/html").expect(406, 406),
        case("get_topic", "unknown topic", "GET", "/topics/no-such-topic-anywhere").expect(404, 40401),
        case("get_topic", "percent-encoded slash", "GET", "/topics/a%2Fb").expect(404, 40401),
        case("get_topic", "dot segments", "GET", "/topics/..%2F..%2Fetc").expect(404, 40401),
        case("get_topic", "unicode name", "GET", "/topics/%E2%98%83%F0%9F%92%A9").expect(404, 40401),
        case("get_topic", "NUL in the name", "GET", "/topics/a%00b").expect(404, 40401),
        case("get_topic", "10,000-character name", "GET", format!("/topics/{long_name}")).expect(404, 40401),
        case("get_topic", "not UTF-8 after decoding", "GET", "/topics/%ff%fe").expect(404, 404),
        case("list_partitions", "unknown topic", "GET", "/topics/no-such-topic-anywhere/partitions").expect(404, 40401),
        case("list_partitions", "not UTF-8 after decoding", "GET", "/topics/%c3%28/partitions").expect(404, 404),
        case("get_partition", "negative partition", "GET", format!("{t}/partitions/-1")).expect(404, 40402),
        case("get_partition", "partition beyond i32", "GET", format!("{t}/partitions/99999999999999999999")).expect(404, 40402),
        case("get_partition", "partition in exponent form", "GET", format!("{t}/partitions/1e3")).expect(404, 40402),
        case("get_partition", "partition that is text", "GET", format!("{t}/partitions/zero")).expect(404, 40402),
        case("get_partition", "partition that does not exist", "GET", format!("{t}/partitions/7")).expect(404, 40402),
        case("get_partition_offsets", "negative partition", "GET", format!("{t}/partitions/-5/offsets")).expect(404, 40402),
        case("get_partition_offsets", "unknown topic", "GET", "/topics/no-such-topic-anywhere/partitions/0/offsets").expect(404, 40401),
        case("read_partition_records", "offset that is text", "GET", format!("{t}/partitions/0/records?offset=first")).accept(BINARY).expect(400, 400),
        case("read_partition_records", "no offset", "GET", format!("{t}/partitions/0/records")).accept(BINARY).expect(400, 400),
        case("read_partition_records", "negative offset", "GET", format!("{t}/partitions/0/records?offset=-1")).accept(BINARY).expect(404, 40402),
        case("read_partition_records", "count that is text", "GET", format!("{t}/partitions/0/records?offset=0&count=many")).accept(BINARY).expect(400, 400),
        case("read_partition_records", "partition that is text", "GET", format!("{t}/partitions/x/records?offset=0")).accept(BINARY).expect(404, 40402),
        case("read_partition_records", "unacceptable Accept", "GET", format!("{t}/partitions/0/records?offset=0")).accept("image/png").expect(406, 406),
        case("list_brokers", "unacceptable Accept", "GET", "/brokers").accept("image/png").expect(406, 406),
        case("list_brokers", "wrong method", "POST", "/brokers").ct(V2).body("{}").expect(405, 405),
        // --- produce to a topic
        case("produce_to_topic", "broken JSON", "POST", &t).ct(JSON).body(r#"{"records":[{"value":1}"#).expect(400, 400),
        case("produce_to_topic", "100,000 levels of [ as the body", "POST", &t).ct(JSON).body(nested(100_000, false)).expect(400, 400),
        case("produce_to_topic", "100,000 levels of [ in a json value", "POST", &t).ct(JSON).body(format!(r#"{{"records":[{{"value":{deep}}}]}}"#)).expect(422, 42203),
        case("produce_to_topic", "100,000 levels of {\"a\": in a json key", "POST", &t).ct(JSON).body(format!(r#"{{"records":[{{"key":{}1{},"value":1}}]}}"#, r#"{"a":"#.repeat(100_000), "}".repeat(100_000))).expect(422, 42203),
        case("produce_to_topic", "a json value no consumer can parse (1e400)", "POST", &t).ct(JSON).body(r#"{"records":[{"value":1e400}]}"#).expect(422, 42203),
        case("produce_to_topic", "a lone surrogate escape in a json value", "POST", &t).ct(JSON).body(r#"{"records":[{"value":"\ud800"}]}"#).expect(422, 42203),
        case("produce_to_topic", "records of the wrong type", "POST", &t).ct(JSON).json(json!({"records": "many"})).expect(400, 400),
        case("produce_to_topic", "a body that is an array", "POST", &t).ct(JSON).json(json!([[{"value": 1}]])).expect(400, 400),
        case("produce_to_topic", "partition of the wrong type", "POST", &t).ct(JSON).json(json!({"records": [{"value": 1, "partition": "one"}]})).expect(400, 400),
        case("produce_to_topic", "partition beyond i32", "POST", &t).ct(JSON).json(json!({"records": [{"value": 1, "partition": 99_999_999_999_i64}]})).expect(400, 400),
        case("produce_to_topic", "partition 1e400", "POST", &t).ct(JSON).body(r#"{"records":[{"value":1,"partition":1e400}]}"#).expect(400, 400),
        case("produce_to_topic", "negative partition", "POST", &t).ct(JSON).json(json!({"records": [{"value": 1, "partition": -1}]})).expect(404, 40402),
        case("produce_to_topic", "unknown record field", "POST", &t).ct(JSON).json(json!({"records": [{"value": 1, "timestamp": 5}]})).expect(422, 422),
        case("produce_to_topic", "unknown top-level field", "POST", &t).ct(JSON).json(json!({"records": [{"value": 1}], "topic": "x"})).expect(422, 422),
        case("produce_to_topic", "empty body", "POST", &t).ct(JSON).body("").expect(422, 422),
        case("produce_to_topic", "no records", "POST", &t).ct(JSON).json(json!({"records": []})).expect(422, 422),
        case("produce_to_topic", "no Content-Type", "POST", &t).json(json!({"records": [{"value": 1}]})).expect(415, 415),
        case("produce_to_topic", "the v2 type instead of an embedded format", "POST", &t).ct(V2).json(json!({"records": [{"value": 1}]})).expect(415, 415),
        case("produce_to_topic", "application/json", "POST", &t).ct("application/json").json(json!({"records": [{"value": 1}]})).expect(415, 415),
        case("produce_to_topic", "a Content-Type that is not text", "POST", &t).header("Content-Type", b"\xff\xfe").json(json!({"records": [{"value": 1}]})).expect(415, 415),
        case("produce_to_topic", "invalid base64", "POST", &t).ct(BINARY).json(json!({"records": [{"value": "aGk="}, {"value": "%%%"}]})).expect(422, 42203),
        case("produce_to_topic", "base64 of the wrong type", "POST", &t).ct(BINARY).json(json!({"records": [{"key": 5, "value": null}]})).expect(422, 42203),
        case("produce_to_topic", "invalid base64 in a header", "POST", &t).ct(BINARY).json(json!({"records": [{"value": "aGk=", "headers": [{"name": "h", "value": "***"}]}]})).expect(422, 42203),
        case("produce_to_topic", "invalid UTF-8 in the body", "POST", &t).ct(JSON).body(b"{\"records\":[{\"value\":\"\xff\xfe\"}]}".to_vec()).expect(400, 400),
        case("produce_to_topic", "body over the limit", "POST", &t).ct(BINARY).body(over_limit.clone()).expect(413, 413),
        case("produce_to_topic", "10,000 records, the last one invalid", "POST", &t).ct(BINARY).body(many_records_last_bad(10_000)).expect(422, 42203),
        case("produce_to_topic", "unknown topic", "POST", "/topics/no-such-topic-anywhere").ct(JSON).json(json!({"records": [{"value": 1}]})).expect(404, 40401),
        case("produce_to_topic", "10,000-character topic", "POST", format!("/topics/{long_name}")).ct(JSON).json(json!({"records": [{"value": 1}]})).expect(404, 40401),
        case("produce_to_topic", "percent-encoded slash in the topic", "POST", "/topics/a%2Fb").ct(JSON).json(json!({"records": [{"value": 1}]})).expect(404, 40401),
        case("produce_to_topic", "avro: schema text that is not a schema", "POST", &t).ct(AVRO).body(schema_body("value_schema", "{\"type\":\"nope\"}".into(), json!(1))).expect(422, 42205),
        case("produce_to_topic", "avro: schema nested 100,000 levels", "POST", &t).ct(AVRO).body(schema_body("value_schema", deep_avro, json!([]))).expect(422, 42205),
        case("produce_to_topic", "avro: value that does not match", "POST", &t).ct(AVRO).body(schema_body("value_schema", "\"int\"".into(), json!("seven"))).expect(422, 42203),
        case("produce_to_topic", "avro: a key without a key schema", "POST", &t).ct(AVRO).json(json!({"value_schema": "\"int\"", "records": [{"key": 1, "value": 1}]})).expect(422, 42201),
        case("produce_to_topic", "avro: a value without a value schema", "POST", &t).ct(AVRO).json(json!({"records": [{"value": 1}]})).expect(422, 42202),
        case("produce_to_topic", "avro: schema and schema id", "POST", &t).ct(AVRO).json(json!({"value_schema": "\"int\"", "value_schema_id": 1, "records": [{"value": 1}]})).expect(422, 422),
        case("produce_to_topic", "avro: schema id of the wrong type", "POST", &t).ct(AVRO).json(json!({"value_schema_id": [1], "records": [{"value": 1}]})).expect(400, 400),
        case("produce_to_topic", "jsonschema: schema that is an array", "POST", &t).ct(JSONSCHEMA).body(schema_body("value_schema", "[1]".into(), json!(1))).expect(422, 42205),
        case("produce_to_topic", "jsonschema: schema nested 100,000 levels", "POST", &t).ct(JSONSCHEMA).body(schema_body("value_schema", format!("{{\"items\":{}}}", nested(100_000, true)), json!(1))).expect(422, 42205),
        case("produce_to_topic", "protobuf: option value nested 100,000 levels", "POST", &t).ct(PROTOBUF).body(schema_body("value_schema", deep_proto, json!({}))).expect(422, 42205),
        case("produce_to_topic", "protobuf: schema that does not compile", "POST", &t).ct(PROTOBUF).body(schema_body("value_schema", "message {".into(), json!({}))).expect(422, 42205),
        // --- produce to a partition
        case("produce_to_partition", "negative partition", "POST", format!("{t}/partitions/-1")).ct(BINARY).json(json!({"records": [{"value": "aGk="}]})).expect(404, 40402),
        case("produce_to_partition", "partition that is text", "POST", format!("{t}/partitions/first")).ct(BINARY).json(json!({"records": [{"value": "aGk="}]})).expect(404, 40402),
        case("produce_to_partition", "partition that does not exist", "POST", format!("{t}/partitions/9")).ct(BINARY).json(json!({"records": [{"value": "aGk="}]})).expect(404, 40402),
        case("produce_to_partition", "broken JSON", "POST", format!("{t}/partitions/0")).ct(BINARY).body("{\"records\":[").expect(400, 400),
        case("produce_to_partition", "wrong media type", "POST", format!("{t}/partitions/0")).ct("text/plain").body("hello").expect(415, 415),
        case("produce_to_partition", "empty body", "POST", format!("{t}/partitions/0")).ct(BINARY).expect(422, 422),
        case("produce_to_partition", "invalid base64", "POST", format!("{t}/partitions/0")).ct(BINARY).json(json!({"records": [{"value": "a"}]})).expect(422, 42203),
        case("produce_to_partition", "body over the limit", "POST", format!("{t}/partitions/0")).ct(BINARY).body(over_limit).expect(413, 413),
        // --- consumer instances
        case("create_consumer", "broken JSON", "POST", &g).ct(V2).body("{\"name\":").expect(400, 400),
        case("create_consumer", "100,000 levels of [", "POST", &g).ct(V2).body(nested(100_000, false)).expect(400, 400),
        case("create_consumer", "a body that is an array", "POST", &g).ct(V2).json(json!(["x"])).expect(422, 422),
        case("create_consumer", "format of the wrong type", "POST", &g).ct(V2).json(json!({"format": 5})).expect(422, 422),
        case("create_consumer", "unknown format", "POST", &g).ct(V2).json(json!({"format": "xml"})).expect(422, 422),
        case("create_consumer", "unknown field", "POST", &g).ct(V2).json(json!({"nmae": "x"})).expect(422, 422),
        case("create_consumer", "fetch.min.bytes 1e400", "POST", &g).ct(V2).body(r#"{"fetch.min.bytes":1e400}"#).expect(422, 422),
        case("create_consumer", "fetch.min.bytes beyond i64", "POST", &g).ct(V2).body(r#"{"fetch.min.bytes":99999999999999999999999}"#).expect(422, 422),
        case("create_consumer", "fetch.min.bytes out of range", "POST", &g).ct(V2).json(json!({"fetch.min.bytes": -2})).expect(422, 40001),
        case("create_consumer", "a NUL in the name", "POST", &g).ct(V2).json(json!({"name": "a\u{0}b"})).expect(422, 422),
        case("create_consumer", "invalid UTF-8 in the body", "POST", &g).ct(V2).body(b"{\"name\":\"\xc3\x28\"}".to_vec()).expect(400, 400),
        case("create_consumer", "wrong media type", "POST", &g).ct("text/plain").body("{}").expect(415, 415),
        case("create_consumer", "body over the limit", "POST", &g).ct(V2).body(control_over_limit).expect(413, 413),
        case("create_consumer", "not UTF-8 after decoding", "POST", "/consumers/%ff").ct(V2).body("{}").expect(404, 404),
        case("delete_consumer", "unknown instance", "DELETE", format!("{g}/instances/nobody")).expect(404, 40403),
        case("delete_consumer", "unicode group", "DELETE", "/consumers/%E2%98%83/instances/bin").expect(404, 40403),
        case("delete_consumer", "unacceptable Accept", "DELETE", &bin).accept("text/html").expect(406, 406),
        // --- subscriptions
        case("get_subscription", "unknown instance", "GET", format!("{g}/instances/nobody/subscription")).expect(404, 40403),
        case("get_subscription", "10,000-character instance", "GET", format!("{g}/instances/{long_name}/subscription")).expect(404, 40403),
        case("subscribe", "broken JSON", "POST", format!("{jsn}/subscription")).ct(V2).body("{\"topics\":[").expect(400, 400),
        case("subscribe", "empty body", "POST", format!("{jsn}/subscription")).ct(V2).body("").expect(422, 422),
        case("subscribe", "topics of the wrong type", "POST", format!("{jsn}/subscription")).ct(V2).json(json!({"topics": "t"})).expect(422, 422),
        case("subscribe", "an empty topic", "POST", format!("{jsn}/subscription")).ct(V2).json(json!({"topics": [""]})).expect(422, 422),
        case("subscribe", "a NUL in a topic", "POST", format!("{jsn}/subscription")).ct(V2).json(json!({"topics": ["a\u{0}b"]})).expect(422, 422),
        case("subscribe", "a pattern that is not a regex", "POST", format!("{jsn}/subscription")).ct(V2).json(json!({"topic_pattern": "(".repeat(10_000)})).expect(422, 422),
        case("subscribe", "unknown field", "POST", format!("{jsn}/subscription")).ct(V2).json(json!({"topic": ["t"]})).expect(422, 422),
        case("subscribe", "wrong media type", "POST", format!("{jsn}/subscription")).ct("application/xml").body("<topics/>").expect(415, 415),
        case("unsubscribe", "unknown instance", "DELETE", format!("{g}/instances/nobody/subscription")).expect(404, 40403),
        // --- assignments
        case("get_assignments", "unknown instance", "GET", format!("{g}/instances/nobody/assignments")).expect(404, 40403),
        case("assign_partitions", "negative partition", "POST", format!("{jsn}/assignments")).ct(V2).json(partitions(topic, json!(-1))).expect(422, 422),
        case("assign_partitions", "partition 1e400", "POST", format!("{jsn}/assignments")).ct(V2).body(format!(r#"{{"partitions":[{{"topic":"{topic}","partition":1e400}}]}}"#)).expect(422, 422),
        case("assign_partitions", "partition beyond i32", "POST", format!("{jsn}/assignments")).ct(V2).json(partitions(topic, json!(4_294_967_296_i64))).expect(422, 422),
        case("assign_partitions", "an empty topic", "POST", format!("{jsn}/assignments")).ct(V2).json(partitions("", json!(0))).expect(422, 422),
        case("assign_partitions", "missing partition", "POST", format!("{jsn}/assignments")).ct(V2).json(json!({"partitions": [{"topic": topic}]})).expect(422, 422),
        case("assign_partitions", "empty body", "POST", format!("{jsn}/assignments")).ct(V2).expect(422, 422),
        // --- offsets
        case("get_committed_offsets", "no body", "GET", format!("{bin}/offsets")).expect(404, 40402),
        case("get_committed_offsets", "broken JSON", "GET", format!("{bin}/offsets")).ct(V2).body("{").expect(400, 400),
        case("get_committed_offsets", "partition of the wrong type", "GET", format!("{bin}/offsets")).ct(V2).json(partitions(topic, json!([0]))).expect(422, 422),
        case("get_committed_offsets", "a NUL in a topic", "GET", format!("{bin}/offsets")).ct(V2).json(partitions("\u{0}", json!(0))).expect(422, 422),
        case("commit_offsets", "offset that is text", "POST", format!("{bin}/offsets")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": 0, "offset": "ten"}]})).expect(422, 422),
        case("commit_offsets", "offset beyond i64", "POST", format!("{bin}/offsets")).ct(V2).body(format!(r#"{{"offsets":[{{"topic":"{topic}","partition":0,"offset":99999999999999999999}}]}}"#)).expect(422, 422),
        case("commit_offsets", "negative offset", "POST", format!("{bin}/offsets")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": 0, "offset": -7}]})).expect(422, 422),
        case("commit_offsets", "negative partition", "POST", format!("{bin}/offsets")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": -1, "offset": 1}]})).expect(422, 422),
        case("commit_offsets", "a partition Kafka does not have", "POST", format!("{bin}/offsets")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": 99, "offset": 1}]})).expect(404, 40402),
        case("commit_offsets", "unknown field", "POST", format!("{bin}/offsets")).ct(V2).json(json!({"offsets": [], "async": true})).expect(422, 422),
        case("commit_offsets", "async that is not UTF-8, with broken JSON", "POST", format!("{bin}/offsets?async=%ff")).ct(V2).body("{").expect(400, 400),
        // --- positions
        case("seek", "negative offset", "POST", format!("{bin}/positions")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": 0, "offset": -1}]})).expect(422, 422),
        case("seek", "timestamp that is not an instant", "POST", format!("{bin}/positions")).ct(V2).json(json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "yesterday"}]})).expect(422, 422),
        case("seek", "timestamp of the wrong type", "POST", format!("{bin}/positions")).ct(V2).json(json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": 1_700_000_000_000_i64}]})).expect(422, 422),
        case("seek", "timestamp in the year 300000000", "POST", format!("{bin}/positions")).ct(V2).json(json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "+300000000-01-01T00:00:00Z"}]})).expect(422, 422),
        case("seek", "timestamp in the year 300000000 without a sign", "POST", format!("{bin}/positions")).ct(V2).json(json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "300000000-01-01T00:00:00Z"}]})).expect(422, 422),
        case("seek", "timestamp on February 31", "POST", format!("{bin}/positions")).ct(V2).json(json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "2024-02-31T00:00:00Z"}]})).expect(422, 422),
        case("seek", "a partition not assigned", "POST", format!("{bin}/positions")).ct(V2).json(json!({"offsets": [{"topic": topic, "partition": 1, "offset": 0}]})).expect(409, 40903),
        case("seek", "empty body", "POST", format!("{bin}/positions")).ct(V2).body("  ").expect(422, 422),
        case("seek_to_beginning", "negative partition", "POST", format!("{bin}/positions/beginning")).ct(V2).json(partitions(topic, json!(-1))).expect(422, 422),
        case("seek_to_beginning", "broken JSON", "POST", format!("{bin}/positions/beginning")).ct(V2).body("]").expect(400, 400),
        case("seek_to_end", "a topic not assigned", "POST", format!("{bin}/positions/end")).ct(V2).json(partitions("no-such-topic-anywhere", json!(0))).expect(409, 40903),
        case("seek_to_end", "100,000 levels of [ and ]", "POST", format!("{bin}/positions/end")).ct(V2).body(nested(100_000, true)).expect(422, 422),
        // --- records
        case("read_records", "timeout that is not an integer", "GET", format!("{bin}/records?timeout=soon")).expect(400, 400),
        case("read_records", "max_bytes beyond i64", "GET", format!("{bin}/records?max_bytes=99999999999999999999")).expect(400, 400),
        case("read_records", "the json type on a binary instance", "GET", format!("{bin}/records")).accept(JSON).expect(406, 40601),
        case("read_records", "unacceptable Accept", "GET", format!("{bin}/records")).accept("text/html").expect(406, 406),
        case("read_records", "unknown instance", "GET", format!("{g}/instances/nobody/records")).expect(404, 40403),
        case("read_records", "not subscribed", "GET", format!("{jsn}/records?timeout=10")).accept(JSON).expect(409, 40903),
    ]
}

/// The operationIds of the contract.
fn contract_operations() -> BTreeSet<String> {
    let contract: Value =
        serde_yaml::from_str(include_str!("../../openapi/kafka-rest-v2.yaml")).expect("YAML");
    contract["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|o| o.values()))
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_bad_input_with_its_documented_4xx_and_keeps_serving() {
    let stack = require_stack!();
    let topic = common::rand_topic("bad-input");
    common::create_topic(&stack, &topic, 2).await;
    let group = common::rand_group("bad-input");
    let mut props = common::proxy_properties(&stack);
    props.set("request.body.max.bytes", BODY_LIMIT.to_string());
    let proxy = TestProxy::start_with(props).await;
    let consumers = format!("/consumers/{group}");
    for (name, format) in [("bin", "binary"), ("jsn", "json")] {
        let (status, body) = common::call(
            "POST",
            &proxy.url(&consumers),
            None,
            Some(json!({"name": name, "format": format})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = common::call(
        "POST",
        &proxy.url(&format!("{consumers}/instances/bin/assignments")),
        None,
        Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let cases = corpus(&topic, &group);
    let covered: BTreeSet<String> = cases.iter().map(|c| c.op.to_string()).collect();
    let missing: Vec<_> = contract_operations()
        .difference(&covered)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a bad-input case: {missing:?}"
    );

    let mut failures = Vec::new();
    for c in &cases {
        let label = format!(
            "{} {} ({}: {})",
            c.method,
            String::from_utf8_lossy(&c.path[..c.path.len().min(80)]),
            c.op,
            c.what
        );
        let Some(answer) = common::raw_request(
            &proxy.base,
            c.method,
            &c.path,
            &c.headers,
            c.body.clone(),
            ANSWER_WITHIN,
        )
        .await
        else {
            failures.push(format!("{label}: no HTTP answer (did the proxy crash?)"));
            continue;
        };
        if let Err(problem) = check(&answer, c.status, c.code) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // The proxy still serves reads and writes, and nothing of a refused produce reached Kafka.
    let (status, _, topics) = common::get_json(&proxy.url("/topics")).await;
    assert_eq!(status, 200, "{topics}");
    let (status, body) = common::call(
        "GET",
        &proxy.url(&format!("{consumers}/instances/bin/assignments")),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = common::admin(&stack);
    for partition in 0..2 {
        let (_, high) = admin
            .inner()
            .fetch_watermarks(&topic, partition, Duration::from_secs(5))
            .expect("watermarks");
        assert_eq!(
            high, 0,
            "partition {partition} holds records of refused requests"
        );
    }
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        r#"{"records":[{"value":{"after":"the corpus"}}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = common::read_all(&stack, &topic, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    proxy.stop().await;
}

/// A corpus answer is right when it has the documented status and code in the JSON error body
/// with the v2 media type.
fn check(answer: &RawAnswer, status: u16, code: u32) -> Result<(), String> {
    let body = answer.json();
    if answer.status >= 500 {
        return Err(format!("5xx: {} {body}", answer.status));
    }
    if (answer.status, body["error_code"].as_u64()) != (status, Some(u64::from(code))) {
        return Err(format!(
            "expected {status}/{code}, got {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        ));
    }
    if answer.content_type != V2 {
        return Err(format!("content type {:?}", answer.content_type));
    }
    if body["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no message: {body}"));
    }
    Ok(())
}

#[tokio::test]
async fn ten_thousand_records_in_one_request_are_all_acknowledged_in_request_order() {
    let stack = require_stack!();
    let topic = common::rand_topic("ten-thousand");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let records: Vec<Value> = (0..10_000).map(|i| json!({ "value": i })).collect();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        json!({ "records": records }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let offsets = body["offsets"].as_array().expect("offsets");
    assert_eq!(offsets.len(), 10_000);
    for (i, o) in offsets.iter().enumerate() {
        assert_eq!(o["offset"].as_u64(), Some(i as u64), "{o}");
    }
    let got = common::read_all(&stack, &topic, 10_000, Duration::from_secs(30));
    assert_eq!(got.len(), 10_000);
    proxy.stop().await;
}

/// Requests so broken that the HTTP layer (hyper) refuses them before any handler runs: they
/// get hyper's 4xx, which has no body (the JSON error body cannot be added there), and the
/// proxy serves the next request as usual.
#[tokio::test]
async fn requests_the_http_layer_refuses_get_a_4xx_and_the_proxy_keeps_serving() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let long_path = format!("/topics/{}", "a".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("GET", long_path.into_bytes(), "a request line over 64 KiB"),
        ("GET", b"/topics with spaces".to_vec(), "spaces in the path"),
        (
            "G\x01T",
            b"/topics".to_vec(),
            "a method with a control character",
        ),
    ];
    for (method, path, what) in cases {
        let answer = common::raw_request(&proxy.base, method, &path, &[], None, ANSWER_WITHIN)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(
            (400..500).contains(&answer.status),
            "{what}: {}",
            answer.status
        );
        let (status, _, _) = common::get_json(&proxy.url("/topics")).await;
        assert_eq!(status, 200, "after {what}");
    }
    proxy.stop().await;
}
