//! The `kafka-rest` binary: configuration errors, serving from a config file given as
//! `--config FILE` or as the positional argument (as Confluent's start script takes it), and log
//! output without terminal colour codes when it goes to a pipe or a file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{self, BinaryProxy};
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

/// The topic names of a `GET /topics` answer.
async fn topic_names(url: String) -> Vec<String> {
    let resp = reqwest::get(url).await.expect("GET /topics");
    assert_eq!(resp.status(), 200);
    let topics: serde_json::Value = resp.json().await.expect("json");
    topics
        .as_array()
        .unwrap_or_else(|| panic!("an array of names: {topics}"))
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_binary_serves_topics_from_its_config_file() {
    let stack = require_stack!();
    let topic = common::rand_topic("binary");
    common::create_topic(&stack, &topic, 1).await;
    let dir = temp_dir("binary");
    let path = write_config(
        &dir,
        &format!(
            "listeners=http://127.0.0.1:0\nbootstrap.servers={}\n",
            stack.bootstrap
        ),
    );
    let proxy = BinaryProxy::start(&path);
    let names = topic_names(proxy.url("/topics")).await;
    assert!(names.contains(&topic), "{topic} not in {names:?}");
}

#[tokio::test]
async fn the_binary_takes_its_properties_file_as_the_positional_argument_and_logs_plain_text() {
    let stack = require_stack!();
    let topic = common::rand_topic("positional");
    common::create_topic(&stack, &topic, 1).await;
    let dir = temp_dir("positional");
    // An ignored key makes the proxy log a warning too, so more than one kind of line is checked.
    let path = write_config(
        &dir,
        &format!(
            "listeners=http://127.0.0.1:0\nbootstrap.servers={}\nconsumer.threads=2\n",
            stack.bootstrap
        ),
    );
    // As a service manager starts it: the file as the only argument, stderr to a pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-rest"))
        .arg(&path)
        .env("KAFKA_REST_LOG", "debug")
        .env_remove("KAFKA_REST_BOOTSTRAP_SERVERS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kafka-rest");
    let stderr = child.stderr.take().expect("piped stderr");
    let stdout = child.stdout.take().expect("piped stdout");
    let log = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(stderr) as Box<dyn std::io::Read + Send>,
        Box::new(stdout),
    ] {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
    }
    let log_text = || log.lock().map(|l| l.clone()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let base = loop {
        let text = log_text();
        if let Some(pos) = text.find("listening on http://") {
            let addr = text[pos + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            break addr;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kafka-rest did not report its listening address within 20 s:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let names = topic_names(format!("{base}/topics")).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(names.contains(&topic), "{topic} not in {names:?}");
    let text = log_text();
    assert!(text.contains("`consumer.threads` has no effect"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "terminal escape codes in a piped log:\n{text:?}"
    );
}
