//! The `kafka-rest` binary: configuration errors and serving from a config file.

use std::process::Command;

use crate::common::BinaryProxy;
use crate::require_stack;

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("kafka-rest.properties");
    std::fs::write(&path, text).expect("write config");
    path
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-rest-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_bad_config_value_is_one_line_naming_the_key() {
    let dir = temp_dir("badconfig");
    let path = write_config(
        &dir,
        "bootstrap.servers=127.0.0.1:9092\nconsumer.request.timeout.ms=soon\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-rest"))
        .arg("--config")
        .arg(&path)
        .env_remove("KAFKA_REST_BOOTSTRAP_SERVERS")
        .output()
        .expect("run kafka-rest");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("`consumer.request.timeout.ms`"),
        "{stderr}"
    );
    assert!(lines[0].contains("kafka-rest.properties:2"), "{stderr}");
}

#[test]
fn a_missing_bootstrap_servers_is_a_startup_error() {
    let dir = temp_dir("nobootstrap");
    let path = write_config(&dir, "listeners=http://127.0.0.1:0\n");
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-rest"))
        .arg("--config")
        .arg(&path)
        .env_remove("KAFKA_REST_BOOTSTRAP_SERVERS")
        .output()
        .expect("run kafka-rest");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`bootstrap.servers`"), "{stderr}");
}

#[tokio::test]
async fn the_binary_serves_topics_from_its_config_file() {
    let stack = require_stack!();
    let dir = temp_dir("binary");
    let path = write_config(
        &dir,
        &format!(
            "listeners=http://127.0.0.1:0\nbootstrap.servers={}\n",
            stack.bootstrap
        ),
    );
    let proxy = BinaryProxy::start(&path);
    let resp = reqwest::get(proxy.url("/topics"))
        .await
        .expect("GET /topics");
    assert_eq!(resp.status(), 200);
    let topics: serde_json::Value = resp.json().await.expect("json");
    assert!(topics.is_array(), "{topics}");
}
