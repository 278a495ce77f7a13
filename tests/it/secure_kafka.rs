//! The proxy against the secured stack (`cargo xtask stack up --secure`): its own Kafka clients
//! over SASL_SSL (SCRAM, PLAIN) and SSL with a client certificate, configured with Confluent's
//! Java keys (`client.sasl.jaas.config`, `client.ssl.truststore.*`, `client.ssl.keystore.*`),
//! for produce, consumer instances and v3 administration, each checked against what Kafka holds
//! with a native client on the stack's plaintext listener (a super user there).
//!
//! These tests run only where the secured stack's addresses are set (`cargo xtask test
//! --secure`, and CI's secured step); elsewhere each skips with one line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Stack, TestProxy};

/// The secured stack: the plain addresses plus the secured listeners and the test PKI.
pub struct Secured {
    pub stack: Stack,
    pub sasl_ssl: String,
    pub ssl: String,
    pub tls: PathBuf,
}

impl Secured {
    pub fn ca(&self) -> String {
        self.tls.join("ca.pem").display().to_string()
    }
}

/// The secured stack, or `None` after one line; a failure when `cargo xtask` said it runs.
pub fn secured() -> Option<Secured> {
    let stack = common::stack()?;
    match (
        std::env::var("KAFKA_SASL_SSL_BOOTSTRAP"),
        std::env::var("KAFKA_SSL_BOOTSTRAP"),
        std::env::var("KAFKA_TLS_DIR"),
    ) {
        (Ok(sasl_ssl), Ok(ssl), Ok(tls)) if !sasl_ssl.is_empty() => Some(Secured {
            stack,
            sasl_ssl,
            ssl,
            tls: PathBuf::from(tls),
        }),
        _ => {
            if std::env::var_os("KAFKA_REST_REQUIRE_SECURE_STACK").is_some() {
                panic!(
                    "the secured stack's addresses are not set; use `cargo xtask test --secure`"
                );
            }
            eprintln!("skipped: no secured stack (run `cargo xtask test --secure`)");
            None
        }
    }
}

/// `let secured = require_secured!();` at the top of a test.
#[macro_export]
macro_rules! require_secured {
    () => {
        match $crate::secure_kafka::secured() {
            Some(secured) => secured,
            None => return,
        }
    };
}

/// The proxy's own identity on the secured listeners.
const PROXY_USER: (&str, &str) = ("kafkarest", "kafkarest-secret");

fn jaas(module: &str, user: &str, password: &str) -> String {
    format!(
        "org.apache.kafka.common.security.{module} required username=\"{user}\" \
         password=\"{password}\";"
    )
}

/// Proxy properties whose every Kafka client uses SASL_SSL with `mechanism` as `user`.
fn sasl_properties(
    secured: &Secured,
    mechanism: &str,
    user: (&str, &str),
) -> kafka_rest::config::Properties {
    let module = if mechanism == "PLAIN" {
        "plain.PlainLoginModule"
    } else {
        "scram.ScramLoginModule"
    };
    let mut props = common::proxy_properties(&secured.stack);
    props
        .set("bootstrap.servers", secured.sasl_ssl.clone())
        .set("client.security.protocol", "SASL_SSL")
        .set("client.sasl.mechanism", mechanism)
        .set("client.sasl.jaas.config", jaas(module, user.0, user.1))
        .set("client.ssl.truststore.location", secured.ca())
        .set("client.ssl.truststore.type", "PEM")
        // A first TLS and SASL handshake on a busy 2-core machine can outlast the default 5 s.
        .set("metadata.timeout.ms", "15000");
    props
}

const JSON_V2: &str = "application/vnd.kafka.json.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";
const PATIENCE: Duration = Duration::from_secs(20);

async fn request(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", content_type.unwrap_or(V2))
            .body(body.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Produces JSON values through the proxy (v2); returns the status and the answer.
async fn produce(proxy: &TestProxy, topic: &str, values: &[Value]) -> (u16, Value) {
    let records: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
    request(
        "POST",
        &proxy.url(&format!("/topics/{topic}")),
        Some(JSON_V2),
        None,
        Some(json!({ "records": records })),
    )
    .await
}

/// What Kafka holds in `topic`, as JSON values, read with a native client on the plaintext
/// listener.
fn kafka_values(stack: &Stack, topic: &str, count: usize) -> Vec<Value> {
    use rdkafka::Message;
    common::read_all(stack, topic, count, Duration::from_secs(10))
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON value"))
        .collect()
}

/// The whole v2 consumer flow through the proxy: create, subscribe, read `count` records.
async fn consume(proxy: &TestProxy, topic: &str, count: usize) -> Vec<Value> {
    let group = common::rand_group("secure");
    let (status, created) = request(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        None,
        Some(json!({ "format": "json", "auto.offset.reset": "earliest" })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let instance = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, body) = request(
        "POST",
        &format!("{instance}/subscription"),
        None,
        None,
        Some(json!({ "topics": [topic] })),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + PATIENCE;
    let mut values = Vec::new();
    while values.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {values:?} of {count} records"
        );
        let (status, records) = request(
            "GET",
            &format!("{instance}/records?timeout=500"),
            None,
            Some(JSON_V2),
            None,
        )
        .await;
        assert_eq!(status, 200, "{records}");
        values.extend(
            records
                .as_array()
                .expect("records")
                .iter()
                .map(|r| r["value"].clone()),
        );
    }
    let (status, _) = request("DELETE", &instance, None, None, None).await;
    assert_eq!(status, 204);
    values
}

#[tokio::test]
async fn the_proxy_produces_consumes_and_administers_over_sasl_ssl_with_scram() {
    let secured = require_secured!();
    let proxy = TestProxy::start_with(sasl_properties(&secured, "SCRAM-SHA-512", PROXY_USER)).await;

    // v3 administration: the topic is created through the proxy's admin client.
    let cluster = common::cluster_id(&secured.stack);
    let topic = common::rand_topic("secure-scram");
    let (status, created) = request(
        "POST",
        &proxy.url(&format!("/v3/clusters/{cluster}/topics")),
        Some("application/json"),
        None,
        Some(json!({ "topic_name": topic, "partitions_count": 1, "replication_factor": 1 })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["topic_name"], json!(topic));
    assert!(
        common::cluster_topics(&secured.stack).contains(&topic),
        "Kafka has no topic {topic}"
    );

    // v2 produce, read back natively.
    let values = [json!({"n": 1}), json!("two"), json!([3])];
    let (status, answer) = produce(&proxy, &topic, &values).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(kafka_values(&secured.stack, &topic, 3), values);

    // A consumer instance reads them over the same secured listener.
    assert_eq!(consume(&proxy, &topic, 3).await, values);

    // v3 reads.
    let (status, listed) = request(
        "GET",
        &proxy.url(&format!("/v3/clusters/{cluster}/topics/{topic}/partitions")),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    proxy.stop().await;
}

#[tokio::test]
async fn the_proxy_produces_over_sasl_plain_and_scram_sha_256() {
    let secured = require_secured!();
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let topic = common::rand_topic("secure-mech");
        common::create_topic(&secured.stack, &topic, 1).await;
        let proxy = TestProxy::start_with(sasl_properties(&secured, mechanism, PROXY_USER)).await;
        let values = [json!({ "mechanism": mechanism })];
        let (status, answer) = produce(&proxy, &topic, &values).await;
        assert_eq!(status, 200, "{mechanism}: {answer}");
        assert_eq!(
            kafka_values(&secured.stack, &topic, 1),
            values,
            "{mechanism}"
        );
        proxy.stop().await;
    }
}

#[tokio::test]
async fn the_proxy_uses_a_client_certificate_and_a_pkcs12_truststore_on_the_ssl_listener() {
    let secured = require_secured!();
    // A PKCS#12 truststore made from the stack's CA: converted for librdkafka at start.
    let ca =
        openssl::x509::X509::from_pem(&std::fs::read(secured.tls.join("ca.pem")).expect("ca.pem"))
            .expect("CA certificate");
    let mut cas = openssl::stack::Stack::new().expect("stack");
    cas.push(ca).expect("push");
    let p12 = openssl::pkcs12::Pkcs12::builder()
        .ca(cas)
        .build2("changeit")
        .expect("PKCS#12")
        .to_der()
        .expect("DER");
    let truststore = std::env::temp_dir().join(format!(
        "kafka-rest-it-truststore-{}.p12",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&truststore, p12).expect("write truststore");

    let topic = common::rand_topic("secure-mtls");
    common::create_topic(&secured.stack, &topic, 1).await;
    let mut props = common::proxy_properties(&secured.stack);
    props
        .set("bootstrap.servers", secured.ssl.clone())
        .set("client.security.protocol", "SSL")
        .set(
            "client.ssl.truststore.location",
            truststore.display().to_string(),
        )
        .set("client.ssl.truststore.type", "PKCS12")
        .set("client.ssl.truststore.password", "changeit")
        .set(
            "client.ssl.keystore.location",
            secured.tls.join("kafkarest.pem").display().to_string(),
        )
        .set("client.ssl.keystore.type", "PEM")
        .set("metadata.timeout.ms", "15000");
    let proxy = TestProxy::start_with(props).await;
    let values = [json!("over mutual TLS")];
    let (status, answer) = produce(&proxy, &topic, &values).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(kafka_values(&secured.stack, &topic, 1), values);
    assert_eq!(consume(&proxy, &topic, 1).await, values);
    proxy.stop().await;
    let _ = std::fs::remove_file(truststore);
}

/// Grants `principal` the `operations` on a topic (literal name) or group, through a proxy on
/// the plaintext listener (a super user there) and its v3 ACL API.
pub async fn grant(
    stack: &Stack,
    resource_type: &str,
    name: &str,
    principal: &str,
    operations: &[&str],
) {
    let admin = TestProxy::start(stack).await;
    let cluster = common::cluster_id(stack);
    for operation in operations {
        let (status, answer) = request(
            "POST",
            &admin.url(&format!("/v3/clusters/{cluster}/acls")),
            Some("application/json"),
            None,
            Some(json!({
                "resource_type": resource_type,
                "resource_name": name,
                "pattern_type": "LITERAL",
                "principal": principal,
                "host": "*",
                "operation": operation,
                "permission": "ALLOW",
            })),
        )
        .await;
        assert_eq!(status, 201, "{operation}: {answer}");
    }
    admin.stop().await;
}

#[tokio::test]
async fn kafka_refusing_the_proxys_identity_is_403_with_40301_and_nothing_is_written() {
    let secured = require_secured!();
    let topic = common::rand_topic("secure-denied");
    common::create_topic(&secured.stack, &topic, 1).await;
    // bob may see the topic but not write it; the stack denies what no ACL allows.
    grant(&secured.stack, "TOPIC", &topic, "User:bob", &["DESCRIBE"]).await;
    let proxy = TestProxy::start_with(sasl_properties(
        &secured,
        "SCRAM-SHA-512",
        ("bob", "bob-secret"),
    ))
    .await;
    let (status, answer) = produce(&proxy, &topic, &[json!("refused")]).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["offsets"][0]["error_code"], json!(40301), "{answer}");
    assert!(common::read_all(&secured.stack, &topic, 1, Duration::from_secs(2)).is_empty());

    // v3 administration Kafka refuses is 403 / 40301 as well.
    let cluster = common::cluster_id(&secured.stack);
    let (status, answer) = request(
        "POST",
        &proxy.url(&format!("/v3/clusters/{cluster}/topics")),
        Some("application/json"),
        None,
        Some(json!({ "topic_name": common::rand_topic("secure-denied-create"), "partitions_count": 1 })),
    )
    .await;
    assert_eq!(
        (status, answer["error_code"].clone()),
        (403, json!(40301)),
        "{answer}"
    );
    proxy.stop().await;
}

/// A password file in a temporary directory, removed when dropped.
struct PasswordFile(PathBuf);

impl PasswordFile {
    fn new(text: &str) -> PasswordFile {
        let path = std::env::temp_dir().join(format!(
            "kafka-rest-it-passwords-{}.properties",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, text).expect("write password file");
        PasswordFile(path)
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A proxy with HTTP Basic authentication whose Kafka clients act for each caller over
/// SCRAM-SHA-512 (its own identity, a super user, only reads metadata).
async fn passthrough_proxy(secured: &Secured, users: &PasswordFile) -> TestProxy {
    let mut props = sasl_properties(secured, "SCRAM-SHA-512", PROXY_USER);
    props
        .set("authentication.method", "BASIC")
        .set(
            "authentication.password.file",
            users.0.display().to_string(),
        )
        .set("auth.passthrough", "true")
        .set("auth.passthrough.sasl.mechanism", "SCRAM-SHA-512");
    TestProxy::start_with(props).await
}

/// The stack's users with the same passwords as in Kafka; both may administer as far as the
/// proxy's roles go, so that only Kafka's ACLs tell them apart.
const USERS: &str = "alice: alice-secret,admin\nbob: bob-secret,admin\n";

async fn as_user(
    user: (&str, &str),
    method: &str,
    url: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(method, url)
        .basic_auth(user.0, Some(user.1));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", content_type.unwrap_or(V2))
            .body(body.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");

#[tokio::test]
async fn passthrough_lets_kafka_acls_decide_who_writes_a_topic() {
    let secured = require_secured!();
    let topic = common::rand_topic("secure-pass");
    common::create_topic(&secured.stack, &topic, 1).await;
    grant(
        &secured.stack,
        "TOPIC",
        &topic,
        "User:alice",
        &["WRITE", "DESCRIBE"],
    )
    .await;
    let users = PasswordFile::new(USERS);
    let proxy = passthrough_proxy(&secured, &users).await;
    let url = proxy.url(&format!("/topics/{topic}"));
    let produce = |user, value: &str| {
        as_user(
            user,
            "POST",
            &url,
            Some(JSON_V2),
            None,
            Some(json!({ "records": [{ "value": value }] })),
        )
    };

    let (status, answer) = produce(ALICE, "from alice").await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = produce(BOB, "from bob").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["offsets"][0]["error_code"], json!(40301), "{answer}");
    // Alice again, with her cached clients, and a wrong password (the proxy refuses it).
    let (status, answer) = produce(ALICE, "alice again").await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = produce(("alice", "wrong"), "never").await;
    assert_eq!(status, 401, "{answer}");

    // Kafka holds alice's records only (read as a super user).
    assert_eq!(
        kafka_values(&secured.stack, &topic, 3),
        [json!("from alice"), json!("alice again")]
    );
    // Once Kafka lets bob write, his next request does: the producer Kafka refused for good is
    // replaced.
    grant(
        &secured.stack,
        "TOPIC",
        &topic,
        "User:bob",
        &["WRITE", "DESCRIBE"],
    )
    .await;
    let (status, answer) = produce(BOB, "bob, allowed").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        kafka_values(&secured.stack, &topic, 3),
        [
            json!("from alice"),
            json!("alice again"),
            json!("bob, allowed")
        ]
    );

    // v3 administration runs as the caller too: neither may create topics.
    let cluster = common::cluster_id(&secured.stack);
    let (status, answer) = as_user(
        BOB,
        "POST",
        &proxy.url(&format!("/v3/clusters/{cluster}/topics")),
        Some("application/json"),
        None,
        Some(json!({ "topic_name": common::rand_topic("secure-pass-create"), "partitions_count": 1 })),
    )
    .await;
    assert_eq!(
        (status, answer["error_code"].clone()),
        (403, json!(40301)),
        "{answer}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn passthrough_consumer_instances_belong_to_their_creator() {
    let secured = require_secured!();
    let topic = common::rand_topic("secure-owner");
    let group = common::rand_group("secure-owner");
    common::create_topic(&secured.stack, &topic, 1).await;
    grant(
        &secured.stack,
        "TOPIC",
        &topic,
        "User:alice",
        &["READ", "DESCRIBE"],
    )
    .await;
    grant(
        &secured.stack,
        "GROUP",
        &group,
        "User:alice",
        &["READ", "DESCRIBE"],
    )
    .await;
    common::produce_native(&secured.stack, &topic, 0, 2).await;
    let users = PasswordFile::new(USERS);
    let proxy = passthrough_proxy(&secured, &users).await;

    let (status, created) = as_user(
        ALICE,
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        None,
        Some(json!({ "name": "mine", "format": "binary", "auto.offset.reset": "earliest" })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let instance = proxy.url(&format!("/consumers/{group}/instances/mine"));
    let (status, body) = as_user(
        ALICE,
        "POST",
        &format!("{instance}/subscription"),
        None,
        None,
        Some(json!({ "topics": [topic] })),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // Bob finds no such instance, whatever he asks, and cannot delete it.
    let not_found = json!({
        "error_code": 40403,
        "message": "Consumer instance not found."
    });
    for (method, path, body) in [
        ("GET", format!("{instance}/records"), None),
        ("GET", format!("{instance}/subscription"), None),
        (
            "POST",
            format!("{instance}/subscription"),
            Some(json!({ "topics": [topic] })),
        ),
        ("DELETE", instance.clone(), None),
    ] {
        let (status, answer) = as_user(BOB, method, &path, None, Some(V2), body).await;
        assert_eq!((status, &answer), (404, &not_found), "{method} {path}");
    }

    // Alice reads both records as herself.
    let deadline = Instant::now() + PATIENCE;
    let mut read = 0;
    while read < 2 {
        assert!(Instant::now() < deadline, "only {read} of 2 records");
        let (status, records) = as_user(
            ALICE,
            "GET",
            &format!("{instance}/records?timeout=500"),
            None,
            Some("application/vnd.kafka.binary.v2+json"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{records}");
        read += records.as_array().map_or(0, Vec::len);
    }
    let (status, _) = as_user(ALICE, "DELETE", &instance, None, None, None).await;
    assert_eq!(status, 204);
    proxy.stop().await;
}
