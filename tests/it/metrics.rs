//! `GET /metrics` against the real stack: a fresh proxy's counters and histograms move by
//! exactly the requests made (read with a Prometheus text-format parser, the records checked
//! against what Kafka holds), random paths and methods do not add series, topics beyond
//! `metrics.topics.max` share one label, and `metrics.listener` moves the scrape elsewhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::common::{self, TestProxy};
use crate::require_stack;

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";
const PRODUCE_ROUTE: &str = "/topics/{topic_name}";
/// How long a condition may take to come true before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// One sample of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text exposition format (Prometheus 0.0.4 and OpenMetrics 1.0 text) strictly:
/// every line is a `# HELP`, `# TYPE` or `# UNIT` line, a sample, or the final `# EOF`; label
/// values are quoted with `\\`, `\"` and `\n` escapes (so `{`, `}` and `,` in a value, as in a
/// route template, are read right); every sample belongs to a family declared by `# TYPE`.
/// Written here because the Rust parsers at hand split label values at the first `}`.
pub fn parse_exposition(text: &str) -> Result<(Vec<String>, Vec<Sample>), String> {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            if lines.peek().is_some() {
                return Err("lines after # EOF".into());
            }
            break;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "unknown",
                        "untyped",
                        "info",
                        "stateset",
                        "gaugehistogram",
                    ];
                    if !valid_name(name) || !known.contains(&kind) {
                        return Err(format!("bad TYPE line {line:?}"));
                    }
                    families.push((name.to_string(), kind.to_string()));
                }
                (Some("HELP" | "UNIT"), Some(name), _) if valid_name(name) => {}
                _ => return Err(format!("bad comment line {line:?}")),
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("{e} in {line:?}"))?;
        let suffixes: &[&str] = &[
            "", "_total", "_created", "_bucket", "_count", "_sum", "_info",
        ];
        let declared = families.iter().any(|(family, _)| {
            suffixes
                .iter()
                .any(|suffix| sample.name == format!("{family}{suffix}"))
        });
        if !declared {
            return Err(format!("sample {:?} of no declared family", sample.name));
        }
        samples.push(sample);
    }
    Ok((
        families.into_iter().map(|(name, _)| name).collect(),
        samples,
    ))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            if let Some((i, '}')) = chars.peek().copied() {
                rest = &after[i + 1..];
                break;
            }
            let start = chars.peek().map(|(i, _)| *i).ok_or("unclosed labels")?;
            let eq = after[start..].find('=').ok_or("label without =")? + start;
            let label = &after[start..eq];
            if !valid_name(label) || label.contains(':') {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("unquoted label value".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label {label:?} twice"));
            }
            match chars.peek().copied() {
                Some((_, ',')) => {
                    chars.next();
                }
                Some((_, '}')) => {}
                _ => return Err("expected , or } after a label".into()),
            }
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = match fields.next().ok_or("no value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<f64>()
            .map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// One scrape, parsed.
pub struct Scraped {
    pub text: String,
    pub families: Vec<String>,
    pub samples: Vec<Sample>,
}

impl Scraped {
    /// The value of the sample `metric` whose labels include `labels`; `None` if there is none.
    pub fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples.iter().filter(|s| {
            s.name == metric
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        });
        let sample = found.next()?;
        assert!(
            found.next().is_none(),
            "{metric} {labels:?} matches several series"
        );
        Some(sample.value)
    }

    /// The value of the sample, which must exist.
    pub fn get(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(metric, labels)
            .unwrap_or_else(|| panic!("no {metric} {labels:?} in\n{}", self.text))
    }
}

/// Scrapes `url` (a proxy's `/metrics`) and parses the answer.
pub async fn scrape(url: &str) -> Scraped {
    let resp = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = resp.text().await.expect("scrape body");
    let (families, samples) =
        parse_exposition(&text).unwrap_or_else(|e| panic!("an invalid scrape: {e}\n{text}"));
    Scraped {
        text,
        families,
        samples,
    }
}

#[test]
fn the_exposition_parser_reads_escapes_and_braces_and_refuses_broken_lines() {
    let text = "# HELP a_total Help.\n# TYPE a counter\n\
                a_total{route=\"/t/{x}\",q=\"a\\\"b,c\\\\\"} 3\n# EOF\n";
    let (families, samples) = parse_exposition(text).expect("valid");
    assert_eq!(families, ["a"]);
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].labels["route"], "/t/{x}");
    assert_eq!(samples[0].labels["q"], "a\"b,c\\");
    assert_eq!(samples[0].value, 3.0);
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na_total{route=x} 1\n",
        "# TYPE a counter\na_total{route=\"x} 1\n",
        "# TYPE a counter\na_total one\n",
        "# TYPE a counter\n# EOF\na_total 1\n",
        "# NOTE a\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "{bad:?}");
    }
}

fn binary_records(values: &[&str]) -> String {
    let records: Vec<Value> = values
        .iter()
        .map(|v| json!({ "value": base64::engine::general_purpose::STANDARD.encode(v) }))
        .collect();
    json!({ "records": records }).to_string()
}

#[tokio::test]
async fn produce_requests_move_the_route_counters_and_the_record_counters_by_exactly_what_was_sent()
{
    let stack = require_stack!();
    let topic = common::rand_topic("metrics-produce");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let batches: [&[&str]; 3] = [&["a"], &["bb", "ccc"], &["dddd", "eeeee", "ffffff"]];
    let mut request_bytes = 0;
    for batch in batches {
        let body = binary_records(batch);
        request_bytes += body.len();
        let (status, _, answer) =
            common::post_json(&proxy.url(&format!("/topics/{topic}")), BINARY, body).await;
        assert_eq!(status, 200, "{answer}");
    }
    // A topic that does not exist: the same route of another method, answered 404.
    let missing = common::rand_topic("metrics-missing");
    let (status, _) =
        common::call("GET", &proxy.url(&format!("/topics/{missing}")), None, None).await;
    assert_eq!(status, 404);

    let m = scrape(&proxy.url("/metrics")).await;
    let post = [("method", "POST"), ("route", PRODUCE_ROUTE)];
    let with = |status: &'static str| [post[0], post[1], ("status", status)];
    assert_eq!(m.get("kafka_rest_http_requests_total", &with("2xx")), 3.0);
    for other in ["1xx", "3xx", "4xx", "5xx"] {
        assert_eq!(m.get("kafka_rest_http_requests_total", &with(other)), 0.0);
    }
    assert_eq!(
        m.get(
            "kafka_rest_http_requests_total",
            &[
                ("method", "GET"),
                ("route", PRODUCE_ROUTE),
                ("status", "4xx")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.get("kafka_rest_http_request_duration_seconds_count", &post),
        3.0
    );
    assert!(m.get("kafka_rest_http_request_duration_seconds_sum", &post) > 0.0);
    assert_eq!(
        m.get("kafka_rest_http_request_bytes_total", &post),
        request_bytes as f64
    );
    assert!(m.get("kafka_rest_http_response_bytes_total", &post) > 0.0);
    let t = [("topic", topic.as_str())];
    assert_eq!(m.get("kafka_rest_produce_records_total", &t), 6.0);
    assert_eq!(m.get("kafka_rest_produce_bytes_total", &t), 21.0);
    for code in ["40101", "40301", "50002", "50003"] {
        assert_eq!(
            m.get(
                "kafka_rest_produce_record_errors_total",
                &[("error_code", code)]
            ),
            0.0
        );
    }
    // The scrape is outside the in-flight limits, so nothing is in flight while it runs.
    assert_eq!(m.get("kafka_rest_http_requests_in_flight", &[]), 0.0);
    assert_eq!(m.get("kafka_rest_http_requests_in_flight_max", &[]), 1024.0);
    assert_eq!(m.get("kafka_rest_http_request_bytes_in_flight", &[]), 0.0);
    assert!(m.get("process_threads", &[]) > 0.0);
    assert!(m.get("process_open_fds", &[]) > 0.0);
    assert!(m.get("process_resident_memory_bytes", &[]) > 0.0);

    // What the counters say was sent is what Kafka holds.
    let stack2 = stack.clone();
    let held = tokio::task::spawn_blocking(move || {
        common::read_all(&stack2, &topic, 7, Duration::from_secs(5))
    })
    .await
    .expect("read back");
    assert_eq!(held.len(), 6);
    proxy.stop().await;
}

#[tokio::test]
async fn consumer_metrics_count_instances_records_and_records_calls() {
    let stack = require_stack!();
    let topic = common::rand_topic("metrics-consume");
    common::create_topic(&stack, &topic, 1).await;
    common::produce_native(&stack, &topic, 0, 5).await;
    let proxy = TestProxy::start(&stack).await;
    let group = common::rand_group("metrics");
    let (status, created) = common::call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(json!({"name": "m1", "format": "binary", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let instance = proxy.url(&format!("/consumers/{group}/instances/m1"));
    let (status, _) = common::call(
        "POST",
        &format!("{instance}/subscription"),
        None,
        Some(json!({ "topics": [topic] })),
    )
    .await;
    assert_eq!(status, 204);
    let (mut records, mut calls) = (0, 0);
    let deadline = Instant::now() + DEADLINE;
    while records < 5 {
        assert!(Instant::now() < deadline, "only {records} records");
        let (status, body) = common::call(
            "GET",
            &format!("{instance}/records?timeout=500"),
            Some(BINARY),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        records += body.as_array().map_or(0, Vec::len);
        calls += 1;
    }
    let m = scrape(&proxy.url("/metrics")).await;
    assert_eq!(m.get("kafka_rest_consumer_instances", &[]), 1.0);
    assert_eq!(
        m.get("kafka_rest_consumer_instances_created_total", &[]),
        1.0
    );
    assert_eq!(
        m.get("kafka_rest_consumer_instances_expired_total", &[]),
        0.0
    );
    assert_eq!(m.get("kafka_rest_consumer_records_total", &[]), 5.0);
    assert_eq!(
        m.get(
            "kafka_rest_consumer_records_call_duration_seconds_count",
            &[]
        ),
        f64::from(calls)
    );
    let records_route = [
        ("method", "GET"),
        (
            "route",
            "/consumers/{group_name}/instances/{instance}/records",
        ),
        ("status", "2xx"),
    ];
    assert_eq!(
        m.get("kafka_rest_http_requests_total", &records_route),
        f64::from(calls)
    );
    let (status, _) = common::call("DELETE", &instance, Some(V2), None).await;
    assert_eq!(status, 204);
    let m = scrape(&proxy.url("/metrics")).await;
    assert_eq!(m.get("kafka_rest_consumer_instances", &[]), 0.0);
    proxy.stop().await;
}

#[tokio::test]
async fn random_paths_and_methods_add_no_series() {
    let stack = require_stack!();
    // Without librdkafka statistics, whose first report would add the producer's series.
    let mut props = common::proxy_properties(&stack);
    props.set("metrics.kafka.statistics.interval.ms", "0");
    let proxy = TestProxy::start_with(props).await;
    let before = scrape(&proxy.url("/metrics")).await;
    let client = reqwest::Client::new();
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "BREW", "X-RANDOM"];
    for i in 0..200 {
        let method =
            reqwest::Method::from_bytes(methods[i % methods.len()].as_bytes()).expect("a method");
        let path = format!(
            "/random-{}/{}/x{i}",
            uuid::Uuid::new_v4().simple(),
            i * 7919 % 1000
        );
        let resp = client
            .request(method, proxy.url(&path))
            .send()
            .await
            .expect("a response");
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
    }
    let after = scrape(&proxy.url("/metrics")).await;
    assert_eq!(
        after.samples.len(),
        before.samples.len(),
        "the number of series grew"
    );
    let unmatched: f64 = after
        .samples
        .iter()
        .filter(|s| {
            s.name == "kafka_rest_http_requests_total"
                && s.labels.get("route").map(String::as_str) == Some("unmatched")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(unmatched, 200.0);
    assert_eq!(
        after.get(
            "kafka_rest_http_requests_total",
            &[
                ("method", "other"),
                ("route", "unmatched"),
                ("status", "4xx")
            ]
        ),
        56.0,
        "BREW and X-RANDOM share the `other` method"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn topics_beyond_metrics_topics_max_are_counted_under_other() {
    let stack = require_stack!();
    let topics = [
        common::rand_topic("metrics-cap-a"),
        common::rand_topic("metrics-cap-b"),
        common::rand_topic("metrics-cap-c"),
    ];
    for topic in &topics {
        common::create_topic(&stack, topic, 1).await;
    }
    let mut props = common::proxy_properties(&stack);
    props.set("metrics.topics.max", "1");
    let proxy = TestProxy::start_with(props).await;
    for topic in &topics {
        let (status, _, answer) = common::post_json(
            &proxy.url(&format!("/topics/{topic}")),
            BINARY,
            binary_records(&["xy"]),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    let m = scrape(&proxy.url("/metrics")).await;
    assert_eq!(
        m.get("kafka_rest_produce_records_total", &[("topic", &topics[0])]),
        1.0
    );
    assert_eq!(
        m.get("kafka_rest_produce_records_total", &[("topic", "other")]),
        2.0
    );
    assert_eq!(
        m.value("kafka_rest_produce_records_total", &[("topic", &topics[1])]),
        None
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_metrics_listener_serves_the_scrape_instead_of_the_main_listener() {
    let stack = require_stack!();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("address").port()
    };
    let mut props = common::proxy_properties(&stack);
    props.set("metrics.listener", format!("http://127.0.0.1:{port}"));
    let proxy = TestProxy::start_with(props).await;
    let (status, _) = common::call("GET", &proxy.url("/topics"), None, None).await;
    assert_eq!(status, 200);
    let main = reqwest::get(proxy.url("/metrics")).await.expect("GET");
    assert_eq!(main.status().as_u16(), 404);
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + DEADLINE;
    while reqwest::get(&metrics_url).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the metrics listener never answered"
        );
        tokio::task::yield_now().await;
    }
    let m = scrape(&metrics_url).await;
    assert_eq!(
        m.get(
            "kafka_rest_http_requests_total",
            &[("method", "GET"), ("route", "/topics"), ("status", "2xx")]
        ),
        1.0
    );
    proxy.stop().await;
}

/// Every PromQL expression of a Grafana dashboard, from the targets of its panels and of the
/// panels inside its rows, and the queries of its template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            out.push(query.to_string());
        }
    }
    out
}

/// The metric names a PromQL expression mentions: the identifiers of the proxy's metric
/// namespaces (`kafka_rest_`, `process_`), outside label matchers' quoted values.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_quotes = false;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("kafka_rest_") || word.starts_with("process_") {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

#[tokio::test]
async fn the_dashboard_charts_every_family_and_only_metrics_a_running_proxy_exposes() {
    let stack = require_stack!();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/kafka-rest.json");
    let text = std::fs::read_to_string(path).expect("the dashboard file");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "kafka-rest");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > 10, "{queries:?}");
    let referenced: std::collections::BTreeSet<String> =
        queries.iter().flat_map(|q| metric_names(q)).collect();

    // Statistics often, and one record produced, so that the librdkafka figures have series.
    let topic = common::rand_topic("metrics-dashboard");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("metrics.kafka.statistics.interval.ms", "100");
    let proxy = TestProxy::start_with(props).await;
    let m = produce_one_and_wait_for_statistics(&proxy, &topic).await;
    let suffixes = ["", "_total", "_bucket", "_count", "_sum"];
    let exposed: std::collections::BTreeSet<&str> =
        m.samples.iter().map(|s| s.name.as_str()).collect();
    let unknown: Vec<&String> = referenced
        .iter()
        .filter(|name| !exposed.contains(name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard charts metrics the proxy does not expose: {unknown:?}"
    );
    let uncharted: Vec<&String> = m
        .families
        .iter()
        .filter(|family| {
            !suffixes
                .iter()
                .any(|suffix| referenced.contains(&format!("{family}{suffix}")))
        })
        .collect();
    assert!(
        uncharted.is_empty(),
        "metric families no panel charts: {uncharted:?}"
    );
    // Panel ids are unique, as Grafana needs them to be.
    let mut ids: Vec<i64> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate panel ids");
    proxy.stop().await;
}

#[test]
fn metric_names_are_read_from_promql_outside_quoted_label_values() {
    assert_eq!(
        metric_names(
            r#"sum by (le) (rate(kafka_rest_a_bucket{x="process_not_me"}[5m])) / process_threads"#
        ),
        ["kafka_rest_a_bucket", "process_threads"]
    );
}

#[tokio::test]
async fn librdkafka_statistics_report_the_producer_queue_and_broker_round_trips() {
    let stack = require_stack!();
    let topic = common::rand_topic("metrics-stats");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("metrics.kafka.statistics.interval.ms", "100");
    let proxy = TestProxy::start_with(props).await;
    let m = produce_one_and_wait_for_statistics(&proxy, &topic).await;
    let rtt = m
        .samples
        .iter()
        .find(|s| s.name == "kafka_rest_kafka_broker_rtt_avg_seconds" && s.value > 0.0)
        .expect("found above");
    assert_eq!(rtt.labels["producer"], "0");
    assert!(rtt.labels["broker"].parse::<i32>().is_ok_and(|id| id >= 0));
    // The record was acknowledged before the produce answered, so nothing is queued.
    assert_eq!(
        m.get(
            "kafka_rest_kafka_producer_queue_messages",
            &[("producer", "0")]
        ),
        0.0
    );
    proxy.stop().await;
}

/// Produces one record to `topic` and scrapes until the producer's statistics report a broker
/// round trip (the proxy must have a short `metrics.kafka.statistics.interval.ms`).
async fn produce_one_and_wait_for_statistics(proxy: &TestProxy, topic: &str) -> Scraped {
    let (status, _, answer) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        BINARY,
        binary_records(&["x"]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // The producer has talked to the broker; its next statistics report has a round trip.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let m = scrape(&proxy.url("/metrics")).await;
        let rtt = m
            .samples
            .iter()
            .any(|s| s.name == "kafka_rest_kafka_broker_rtt_avg_seconds" && s.value > 0.0);
        if rtt {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no broker round trip reported:\n{}",
            m.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
