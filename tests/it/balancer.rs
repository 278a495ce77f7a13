//! Several proxy instances behind a real nginx load balancer (round robin), in front of the
//! real cluster: produce spreads freely, consumer instances live in the proxy that created
//! them and are reached through their `base_uri`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, call, Nginx, TestListener, TestProxy};
use crate::require_stack;

async fn instance(stack: &common::Stack, id: &str) -> TestProxy {
    let mut props = common::proxy_properties(stack);
    props.set("id", id);
    TestProxy::start_with(props).await
}

#[tokio::test]
async fn produce_through_a_round_robin_balancer_loses_nothing() {
    let stack = require_stack!();
    let topic = common::rand_topic("balanced");
    common::create_topic(&stack, &topic, 2).await;
    let a = instance(&stack, "a").await;
    let b = instance(&stack, "b").await;
    let upstreams: Vec<String> = [&a, &b]
        .iter()
        .map(|p| p.base.trim_start_matches("http://").to_string())
        .collect();
    let lb = Nginx::start(&upstreams);

    let mut sent = BTreeSet::new();
    for i in 0..20 {
        let value = format!("through-lb-{i}");
        let (status, _, body) = common::post_json(
            &lb.url(&format!("/topics/{topic}")),
            "application/vnd.kafka.json.v2+json",
            json!({ "records": [{ "value": value }] }).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["offsets"][0]["error_code"], Value::Null, "{body}");
        sent.insert(format!("\"{value}\""));
    }
    let got = common::read_all(&stack, &topic, 20, Duration::from_secs(10));
    let held: BTreeSet<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(held, sent);

    a.stop().await;
    b.stop().await;
}

/// How a proxy names itself in consumer `base_uri`s (`docs/decisions.md` §C5).
#[derive(Clone, Copy)]
enum SelfNaming {
    /// `advertised.listeners` is its own address.
    AdvertisedListener,
    /// `host.name` is its own host; the port comes from its `listeners` entry, because requests
    /// through the balancer carry a port in `Host`.
    HostName,
}

/// A proxy with its own `id` whose consumer `base_uri`s name its own `127.0.0.1:port`, which is
/// only known once the listener is bound.
async fn self_naming_instance(stack: &common::Stack, id: &str, naming: SelfNaming) -> TestProxy {
    let listener = TestListener::bind().await;
    let mut props = common::proxy_properties(stack);
    props.set("id", id).set("listeners", listener.base.clone());
    match naming {
        SelfNaming::AdvertisedListener => props.set("advertised.listeners", listener.base.clone()),
        SelfNaming::HostName => props.set("host.name", "127.0.0.1"),
    };
    TestProxy::start_on(listener, props).await
}

/// The same call sent to the proxy that does not own the instance: 404 / 40403.
async fn not_here(method: &str, url: &str, body: Option<Value>) {
    let (status, answer) = call(method, url, None, body).await;
    assert_eq!(
        (status, answer["error_code"].as_i64()),
        (404, Some(40403)),
        "{method} {url}: {answer}"
    );
}

#[tokio::test]
async fn a_consumer_created_through_the_balancer_is_served_at_its_base_uri_and_only_there() {
    let stack = require_stack!();
    let topic = common::rand_topic("balanced-consume");
    common::create_topic(&stack, &topic, 1).await;
    common::produce_native(&stack, &topic, 0, 5).await;
    let a = self_naming_instance(&stack, "a", SelfNaming::AdvertisedListener).await;
    let b = self_naming_instance(&stack, "b", SelfNaming::HostName).await;
    let proxies = [("a", &a), ("b", &b)];
    let upstreams: Vec<String> = proxies
        .iter()
        .map(|(_, p)| p.base.trim_start_matches("http://").to_string())
        .collect();
    let lb = Nginx::start(&upstreams);

    // Round robin spreads the creates; go on until each proxy has created one instance.
    let mut owned: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for _ in 0..10 {
        if owned.len() == proxies.len() {
            break;
        }
        let group = common::rand_group("balanced-consume");
        let (status, created) = call(
            "POST",
            &lb.url(&format!("/consumers/{group}")),
            None,
            Some(json!({"format": "binary", "auto.offset.reset": "earliest"})),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let base_uri = created["base_uri"].as_str().expect("base_uri").to_string();
        let name = created["instance_id"].as_str().expect("instance_id");
        let (id, _) = proxies
            .iter()
            .find(|(_, p)| base_uri == format!("{}/consumers/{group}/instances/{name}", p.base))
            .unwrap_or_else(|| panic!("{base_uri} names neither proxy"));
        assert!(
            name.starts_with(&format!("rest-consumer-{id}-")),
            "{name} was not generated by proxy {id}"
        );
        if owned.contains_key(id) {
            let (status, _) = call("DELETE", &base_uri, None, None).await;
            assert_eq!(status, 204);
        } else {
            owned.insert(id, (group, base_uri));
        }
    }
    assert_eq!(owned.len(), 2, "the balancer never reached both proxies");

    for (id, (group, base_uri)) in &owned {
        let (_, owner) = proxies.iter().find(|(i, _)| i == id).expect("owner");
        let (_, other) = proxies.iter().find(|(i, _)| i != id).expect("other proxy");
        let path = base_uri
            .strip_prefix(&owner.base)
            .expect("base_uri of the owner");
        let elsewhere = format!("{}{path}", other.base);

        let subscription = json!({"topics": [topic]});
        not_here(
            "POST",
            &format!("{elsewhere}/subscription"),
            Some(subscription.clone()),
        )
        .await;
        let (status, body) = call(
            "POST",
            &format!("{base_uri}/subscription"),
            None,
            Some(subscription),
        )
        .await;
        assert_eq!(status, 204, "{body}");

        not_here("GET", &format!("{elsewhere}/records"), None).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut records = Vec::new();
        while records.len() < 5 {
            assert!(
                Instant::now() < deadline,
                "{id}: only {} of 5 records",
                records.len()
            );
            let (status, batch) = call(
                "GET",
                &format!("{base_uri}/records?timeout=500"),
                Some("application/vnd.kafka.binary.v2+json"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{batch}");
            records.extend(batch.as_array().expect("array").iter().cloned());
        }
        let values: Vec<String> = records
            .iter()
            .map(|r| {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(r["value"].as_str().expect("value"))
                    .expect("base64");
                String::from_utf8(bytes).expect("utf-8")
            })
            .collect();
        assert_eq!(
            values,
            (0..5).map(|i| format!("record-{i}")).collect::<Vec<_>>()
        );

        not_here("POST", &format!("{elsewhere}/offsets"), None).await;
        let (status, body) = call("POST", &format!("{base_uri}/offsets"), None, None).await;
        assert_eq!((status, &body), (200, &json!([])));
        assert_eq!(common::committed(&stack, group, &topic, 0), Some(5));

        not_here("DELETE", &elsewhere, None).await;
        let (status, _) = call("DELETE", base_uri, None, None).await;
        assert_eq!(status, 204);
        not_here("DELETE", base_uri, None).await;
    }
    drop(lb);
    a.stop().await;
    b.stop().await;
}

/// The 2xx stateless reads a proxy answered, from its own `/metrics`.
async fn stateless_reads_answered(proxy: &TestProxy) -> f64 {
    let scraped = crate::metrics::scrape(&proxy.url("/metrics")).await;
    scraped
        .value(
            "kafka_rest_http_requests_total",
            &[
                ("method", "GET"),
                (
                    "route",
                    "/topics/{topic_name}/partitions/{partition_id}/records",
                ),
                ("status", "2xx"),
            ],
        )
        .unwrap_or(0.0)
}

#[tokio::test]
async fn stateless_reads_page_through_a_partition_whichever_proxy_the_balancer_picks() {
    let stack = require_stack!();
    let topic = common::rand_topic("balanced-stateless");
    common::create_topic(&stack, &topic, 1).await;
    common::produce_native(&stack, &topic, 0, 20).await;
    let a = instance(&stack, "a").await;
    let b = instance(&stack, "b").await;
    let upstreams: Vec<String> = [&a, &b]
        .iter()
        .map(|p| p.base.trim_start_matches("http://").to_string())
        .collect();
    let lb = Nginx::start(&upstreams);

    // A client pages by asking again from the offset after the last record it got; nothing
    // ties one page to the proxy that answered the one before.
    let mut got = Vec::new();
    let mut offset = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "only {} records: {got:?}",
            got.len()
        );
        let (status, body) = call(
            "GET",
            &lb.url(&format!(
                "/topics/{topic}/partitions/0/records?offset={offset}&count=3&timeout=5000"
            )),
            Some("application/vnd.kafka.binary.v2+json"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for record in body.as_array().expect("an array of records") {
            use base64::Engine;
            let value = base64::engine::general_purpose::STANDARD
                .decode(record["value"].as_str().expect("a binary value"))
                .expect("base64");
            let at = record["offset"].as_i64().expect("offset");
            got.push((at, String::from_utf8(value).expect("utf-8")));
            offset = at + 1;
        }
    }
    let expected: Vec<(i64, String)> = (0..20).map(|i| (i, format!("record-{i}"))).collect();
    assert_eq!(got, expected);
    // Round robin sent pages to both proxies, and each answered its share.
    let (from_a, from_b) = (
        stateless_reads_answered(&a).await,
        stateless_reads_answered(&b).await,
    );
    assert!(from_a >= 1.0 && from_b >= 1.0, "a: {from_a}, b: {from_b}");
    drop(lb);
    a.stop().await;
    b.stop().await;
}
