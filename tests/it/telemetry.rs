//! Trace export against the real stack and a local OTLP/HTTP receiver that the test starts: a
//! produce request becomes one trace of three spans, `request` -> `produce` -> `kafka.send`,
//! exported as OTLP JSON to `tracing.otlp.endpoint`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use poem::listener::TcpAcceptor;
use poem::{IntoResponse, Request, Response};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

use crate::common::{self, TestProxy};
use crate::require_stack;

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
/// How long the spans may take to arrive before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// One exported span, as the receiver got it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: BTreeMap<String, Value>,
}

/// The spans of OTLP JSON `ExportTraceServiceRequest` bodies.
fn spans(bodies: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    let each = |v: &Value| v.as_array().cloned().unwrap_or_default();
    for body in bodies {
        for resource in each(&body["resourceSpans"]) {
            for scope in each(&resource["scopeSpans"]) {
                for span in each(&scope["spans"]) {
                    let attributes = each(&span["attributes"])
                        .into_iter()
                        .filter_map(|a| {
                            let key = a["key"].as_str()?.to_string();
                            let value = a["value"].as_object()?.values().next()?.clone();
                            Some((key, value))
                        })
                        .collect();
                    let text = |k: &str| span[k].as_str().unwrap_or_default().to_string();
                    out.push(Span {
                        name: text("name"),
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent_span_id: text("parentSpanId"),
                        attributes,
                    });
                }
            }
        }
    }
    out
}

/// A local OTLP/HTTP receiver: keeps every JSON body posted to it and answers `{}`.
async fn start_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = tcp.local_addr().expect("address");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    let app = poem::endpoint::make(move |req: Request| {
        let kept = Arc::clone(&kept);
        async move {
            let path = req.uri().path().to_string();
            let bytes = req.into_body().into_bytes().await.unwrap_or_default();
            if path == "/v1/traces" {
                if let Ok(body) = serde_json::from_slice::<Value>(&bytes) {
                    kept.lock().expect("receiver lock").push(body);
                }
            }
            Response::builder()
                .content_type("application/json")
                .body("{}")
                .into_response()
        }
    });
    let acceptor = TcpAcceptor::from_tokio(tcp).expect("acceptor");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/v1/traces"), bodies)
}

// A current-thread runtime (the default of `tokio::test`): the subscriber this test sets for
// its thread sees every task of the in-process proxy.
#[tokio::test]
async fn a_produce_is_exported_as_one_trace_of_request_produce_and_kafka_send() {
    let stack = require_stack!();
    let topic = common::rand_topic("trace");
    common::create_topic(&stack, &topic, 1).await;
    let (endpoint, bodies) = start_receiver().await;
    let mut props = common::proxy_properties(&stack);
    props.set("tracing.otlp.endpoint", endpoint);
    let config = kafka_rest::Config::from_properties(&props).expect("valid config");
    // The exporter's blocking HTTP client is built and dropped outside the runtime.
    let telemetry = tokio::task::spawn_blocking(move || {
        kafka_rest::telemetry::Telemetry::start(&config)
            .expect("trace export starts")
            .expect("an endpoint is configured")
    })
    .await
    .expect("start");
    let telemetry = Arc::new(telemetry);
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    let dispatch = tracing::Dispatch::new(subscriber);
    // Other tests run in parallel in this process, on threads without a subscriber. While one
    // dispatcher is registered, tracing caches a callsite's interest as the thread that first
    // reaches it sees it: another test's thread would cache "never" for the request span, for
    // this thread too. A second registered dispatcher (one that wants nothing) makes the cache
    // ask every registered dispatcher and leave the decision to each thread's own. The cache
    // is built again once the proxy runs, for a callsite whose registration straddled these.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let guard = tracing::dispatcher::set_default(&dispatch);

    let proxy = TestProxy::start_with(props).await;
    tracing::callsite::rebuild_interest_cache();
    let values =
        ["a", "b"].map(|v| json!({ "value": base64::engine::general_purpose::STANDARD.encode(v) }));
    let resp = reqwest::Client::new()
        .post(proxy.url(&format!("/topics/{topic}")))
        .header("content-type", BINARY)
        .header("x-request-id", "trace-test-one")
        .body(json!({ "records": values }).to_string())
        .send()
        .await
        .expect("produce");
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.bytes().await;

    let deadline = Instant::now() + DEADLINE;
    let exported = loop {
        let flushing = Arc::clone(&telemetry);
        tokio::task::spawn_blocking(move || flushing.flush())
            .await
            .expect("flush");
        let all = spans(&bodies.lock().expect("receiver lock"));
        // Spans are exported as they close, the request span last and possibly in a later
        // batch: wait for both ends of the trace.
        let request_closed = all.iter().any(|s| {
            s.name == "request" && s.attributes.get("request_id") == Some(&json!("trace-test-one"))
        });
        if request_closed && all.iter().any(|s| s.name == "kafka.send") {
            break all;
        }
        assert!(Instant::now() < deadline, "spans so far: {all:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let request = exported
        .iter()
        .find(|s| {
            s.name == "request" && s.attributes.get("request_id") == Some(&json!("trace-test-one"))
        })
        .unwrap_or_else(|| panic!("no request span: {exported:#?}"));
    assert_eq!(
        request.attributes.get("http.route"),
        Some(&json!("/topics/{topic_name}"))
    );
    assert_eq!(
        request.attributes.get("http.request.method"),
        Some(&json!("POST"))
    );
    let child_of = |parent: &Span, name: &str| {
        exported
            .iter()
            .find(|s| s.name == name && s.parent_span_id == parent.span_id)
            .unwrap_or_else(|| panic!("no {name} span under {parent:?}: {exported:#?}"))
            .clone()
    };
    let produce = child_of(request, "produce");
    assert_eq!(produce.trace_id, request.trace_id);
    assert_eq!(produce.attributes.get("topic"), Some(&json!(topic)));
    let send = child_of(&produce, "kafka.send");
    assert_eq!(send.trace_id, request.trace_id);
    // OTLP JSON writes 64-bit integers as strings.
    assert!(
        matches!(send.attributes.get("records"), Some(v) if v == &json!("2") || v == &json!(2)),
        "{send:?}"
    );

    // What the traced request wrote is in Kafka.
    let stack2 = stack.clone();
    let held = tokio::task::spawn_blocking(move || {
        common::read_all(&stack2, &topic, 2, Duration::from_secs(10))
    })
    .await
    .expect("read back");
    assert_eq!(held.len(), 2);

    proxy.stop().await;
    drop(guard);
    if let Ok(telemetry) = Arc::try_unwrap(telemetry) {
        tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .expect("shutdown");
    }
}
