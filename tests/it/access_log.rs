//! The access log and request ids against the real stack: with `access.log.format` set, each
//! request writes one line to `access.log.file` naming its route template, status, bytes and
//! request id; `X-Request-ID` is echoed when acceptable, generated when absent and replaced
//! when too long or not plain.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, TestProxy};
use crate::require_stack;

/// How long a line may take to reach the file before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// A file name in the temporary directory no other test uses.
fn log_file(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.log", common::rand_topic(prefix)))
}

/// The first line of `file` containing `needle`, waiting for the writer thread.
async fn line_with(file: &Path, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needle:?} in {}:\n{text}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn proxy_logging(stack: &common::Stack, format: &str, file: &Path) -> TestProxy {
    let mut props = common::proxy_properties(stack);
    props
        .set("access.log.format", format)
        .set("access.log.file", file.display().to_string());
    TestProxy::start_with(props).await
}

#[tokio::test]
async fn a_request_writes_one_json_line_with_its_route_status_bytes_and_request_id() {
    let stack = require_stack!();
    let topic = common::rand_topic("access-json");
    common::create_topic(&stack, &topic, 1).await;
    let file = log_file("access-json");
    let proxy = proxy_logging(&stack, "json", &file).await;
    let resp = reqwest::Client::new()
        .get(proxy.url(&format!("/topics/{topic}?x=1")))
        .header("x-request-id", "rid-json-one")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.bytes().await.expect("body");
    let line = line_with(&file, "rid-json-one").await;
    let mut logged: Value = serde_json::from_str(&line).expect("a JSON line");
    let duration = logged["duration_ms"].take();
    assert!(duration.as_f64().is_some_and(|d| d > 0.0), "{line}");
    let time = logged["time"].take();
    assert!(time.as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
    assert_eq!(
        logged,
        serde_json::json!({
            "time": null,
            "duration_ms": null,
            "remote": "127.0.0.1",
            "principal": null,
            "method": "GET",
            "path": format!("/topics/{topic}?x=1"),
            "route": "/topics/{topic_name}",
            "status": 200,
            "request_bytes": 0,
            "response_bytes": body.len(),
            "request_id": "rid-json-one",
        })
    );
    let text = std::fs::read_to_string(&file).expect("the log file");
    assert_eq!(text.matches("rid-json-one").count(), 1, "{text}");
    proxy.stop().await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn the_common_format_is_the_ncsa_line_with_duration_request_id_and_route() {
    let stack = require_stack!();
    let file = log_file("access-common");
    let proxy = proxy_logging(&stack, "common", &file).await;
    let resp = reqwest::Client::new()
        .get(proxy.url("/no/such/path"))
        .header("x-request-id", "rid-common-one")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 404);
    let length = resp.bytes().await.expect("body").len();
    let line = line_with(&file, "rid-common-one").await;
    // `127.0.0.1 - - [02/Dec/2026:04:10:00 +0000] "GET /no/such/path HTTP/1.1" 404 N MS ID ROUTE`
    let (head, rest) = line.split_once("] ").expect("a bracketed time");
    assert!(head.starts_with("127.0.0.1 - - ["), "{line}");
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(
        fields[..5],
        [
            "\"GET",
            "/no/such/path",
            "HTTP/1.1\"",
            "404",
            length.to_string().as_str()
        ],
        "{line}"
    );
    assert!(fields[5].parse::<f64>().is_ok(), "{line}");
    assert_eq!(fields[6..], ["rid-common-one", "unmatched"], "{line}");
    proxy.stop().await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn with_authentication_on_the_line_names_the_user_and_a_refused_request_names_none() {
    let stack = require_stack!();
    let dir = std::env::temp_dir().join(common::rand_topic("access-auth"));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let users = dir.join("password.properties");
    std::fs::write(&users, "alice: secret,admin\n").expect("the password file");
    let file = log_file("access-auth");
    let mut props = common::proxy_properties(&stack);
    props
        .set("access.log.format", "json")
        .set("access.log.file", file.display().to_string())
        .set("authentication.method", "BASIC")
        .set("authentication.password.file", users.display().to_string());
    let proxy = TestProxy::start_with(props).await;
    let client = reqwest::Client::new();
    for (id, user) in [("rid-auth-alice", Some("secret")), ("rid-auth-none", None)] {
        let mut request = client.get(proxy.url("/topics")).header("x-request-id", id);
        if let Some(password) = user {
            request = request.basic_auth("alice", Some(password));
        }
        let status = request.send().await.expect("GET").status().as_u16();
        assert_eq!(status, if user.is_some() { 200 } else { 401 }, "{id}");
    }
    let served: Value =
        serde_json::from_str(&line_with(&file, "rid-auth-alice").await).expect("JSON");
    assert_eq!(served["principal"], "alice", "{served}");
    assert_eq!(served["status"], 200, "{served}");
    let refused: Value =
        serde_json::from_str(&line_with(&file, "rid-auth-none").await).expect("JSON");
    assert_eq!(refused["principal"], Value::Null, "{refused}");
    assert_eq!(refused["status"], 401, "{refused}");
    // The password never reaches the log.
    let text = std::fs::read_to_string(&file).expect("the log file");
    assert!(!text.contains("secret"), "{text}");
    proxy.stop().await;
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn request_ids_are_echoed_generated_or_replaced() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let client = reqwest::Client::new();
    let id_of = |resp: &reqwest::Response| {
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let given = client
        .get(proxy.url("/topics"))
        .header("x-request-id", "client-chosen.id:42")
        .send()
        .await
        .expect("GET");
    assert_eq!(id_of(&given).as_deref(), Some("client-chosen.id:42"));

    let plain = |id: &str| {
        !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:+=/".contains(&b))
    };
    let mut generated = Vec::new();
    for _ in 0..2 {
        let absent = client.get(proxy.url("/topics")).send().await.expect("GET");
        let id = id_of(&absent).expect("a generated id");
        assert!(plain(&id), "{id}");
        generated.push(id);
    }
    assert_ne!(generated[0], generated[1], "ids are unique");

    let oversized = "a".repeat(129);
    for bad in [oversized.as_str(), "has space", "quote\"d"] {
        let resp = client
            .get(proxy.url("/no/such/path"))
            .header("x-request-id", bad)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 404, "errors carry the id too");
        let id = id_of(&resp).expect("a replacement id");
        assert_ne!(id, bad);
        assert!(plain(&id), "{id}");
    }
    proxy.stop().await;
}
