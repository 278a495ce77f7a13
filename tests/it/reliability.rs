//! Reliability against the real cluster: health probes, slow and idle clients, and graceful
//! shutdown that loses no acknowledged record.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, BinaryProxy, TestProxy};
use crate::require_stack;

#[tokio::test]
async fn health_probes_report_liveness_and_kafka_readiness() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let (status, ct, body) = common::get_json(&proxy.url("/health/live")).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/vnd.kafka.v2+json")
    );
    assert_eq!(body["status"], "UP");
    let (status, _, body) = common::get_json(&proxy.url("/health/ready")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["brokers"].as_u64().unwrap_or(0) >= 1, "{body}");
    proxy.stop().await;

    // A proxy whose Kafka is unreachable is alive but not ready, and says so quickly.
    let mut props = common::proxy_properties(&stack);
    props
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("metadata.timeout.ms", "500");
    let dead = TestProxy::start_with(props).await;
    let (status, _, _) = common::get_json(&dead.url("/health/live")).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let (status, _, body) = common::get_json(&dead.url("/health/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_code"], 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    dead.stop().await;
}

/// Sends `first`, then `trickle` one byte every `gap`, on a fresh connection, and reads until
/// the server closes it or `limit` has passed. Returns what the server sent and how long it took.
pub(crate) fn raw_exchange(
    addr: &str,
    first: &[u8],
    trickle: &[u8],
    gap: Duration,
    limit: Duration,
) -> (String, Duration) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let started = Instant::now();
    stream.write_all(first).expect("write head");
    let mut out = Vec::new();
    let mut trickle = trickle.iter();
    let mut next_byte = Instant::now() + gap;
    loop {
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if Instant::now() >= next_byte {
            if let Some(b) = trickle.next() {
                // The server may already have answered and closed; that is the point.
                let _ = stream.write_all(&[*b]);
            }
            next_byte = Instant::now() + gap;
        }
        if started.elapsed() > limit {
            break;
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_with_408_and_an_idle_connection_is_closed() {
    let stack = require_stack!();
    let topic = common::rand_topic("slow");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("request.body.timeout.ms", "700")
        .set("produce.timeout.ms", "1000")
        .set("connection.idle.timeout.ms", "2500");
    let proxy = TestProxy::start_with(props).await;
    let addr = proxy.base.trim_start_matches("http://").to_string();

    let body = br#"{"records":[{"value":1}]}"#;
    let head = format!(
        "POST /topics/{topic} HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let addr2 = addr.clone();
    let (answer, took) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            &addr2,
            head.as_bytes(),
            body,
            Duration::from_millis(300),
            Duration::from_secs(8),
        )
    })
    .await
    .expect("slow client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error_code":408"#), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // An open connection that sends nothing is closed after the idle timeout.
    let (answer, took) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            &addr,
            b"",
            b"",
            Duration::from_secs(60),
            Duration::from_secs(10),
        )
    })
    .await
    .expect("idle client");
    assert_eq!(answer, "");
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // The server still serves, and nothing of the trickled request was written.
    let (status, _, _) = common::get_json(&proxy.url("/topics")).await;
    assert_eq!(status, 200);
    let (_, high) = common::admin(&stack)
        .inner()
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .expect("watermarks");
    assert_eq!(high, 0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_exits_cleanly_and_loses_no_acknowledged_record() {
    let stack = require_stack!();
    let topic = common::rand_topic("shutdown");
    common::create_topic(&stack, &topic, 3).await;
    let dir = std::env::temp_dir().join(format!("kafka-rest-it-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("kafka-rest.properties");
    std::fs::write(
        &config,
        format!(
            "listeners=http://127.0.0.1:0\nbootstrap.servers={}\nshutdown.graceful.ms=5000\n",
            stack.bootstrap
        ),
    )
    .expect("write config");
    let mut proxy = BinaryProxy::start(&config);
    let url = proxy.url(&format!("/topics/{topic}"));

    // Eight clients produce until the proxy goes away; each keeps what was acknowledged.
    let mut clients = Vec::new();
    for c in 0..8 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acked: Vec<(i32, i64, String)> = Vec::new();
            for r in 0.. {
                let values: Vec<String> = (0..20).map(|i| format!("c{c}-r{r}-i{i}")).collect();
                let records: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/vnd.kafka.json.v2+json")
                    .body(json!({ "records": records }).to_string())
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                if resp.status() != 200 {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else {
                    break;
                };
                for (entry, v) in body["offsets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .zip(&values)
                {
                    if let (Some(p), Some(o)) =
                        (entry["partition"].as_i64(), entry["offset"].as_i64())
                    {
                        acked.push((p as i32, o, format!("\"{v}\"")));
                    }
                }
            }
            acked
        }));
    }
    // Let the load run, then stop the proxy in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, high) = common::admin(&stack)
            .inner()
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        if high > 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no load reached Kafka");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let code = proxy.terminate(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "the proxy exits 0 on SIGTERM");

    let mut acked = Vec::new();
    for c in clients {
        acked.extend(c.await.expect("client"));
    }
    assert!(!acked.is_empty());
    let got = common::read_all(&stack, &topic, usize::MAX, Duration::from_secs(5));
    for (p, o, v) in &acked {
        let m = got
            .iter()
            .find(|m| m.partition() == *p && m.offset() == *o)
            .unwrap_or_else(|| panic!("acknowledged record {p}/{o} is not in Kafka"));
        assert_eq!(m.payload(), Some(v.as_bytes()));
    }
}
