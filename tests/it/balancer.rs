//! Several proxy instances behind a real nginx load balancer (round robin), in front of the
//! real cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, Nginx, TestProxy};
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
