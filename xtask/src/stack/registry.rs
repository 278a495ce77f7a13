//! The stack's schema registry: Apicurio Registry serving the Confluent-compatible API
//! (`/apis/ccompat/v7`). Owns the Java it needs, its command line, waiting until it
//! answers, its global compatibility (BACKWARD, as Confluent's default) and a minimal HTTP
//! client for those calls.
//!
//! When it starts relative to Kafka is `mod.rs`; its download is `maven.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::paths::{port_offset, registry_port, Component, Paths, HOST, REGISTRY_API};
use super::process::{ensure_port_free, secs, spawn_detached, write_pid};
use super::APICURIO_VERSION;
use crate::tools;

const REGISTRY_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// How long a starting registry may take to answer.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(90);

/// A Java 21+ for Apicurio Registry: `$KAFKA_REST_REGISTRY_JAVA` when set, else the first
/// that fits of `$JAVA_HOME`, `java` on PATH and the newest JDK under `/usr/lib/jvm`.
pub(super) fn find_registry_java() -> Result<PathBuf> {
    const NEEDED: u32 = 21;
    if let Some(java) = std::env::var_os("KAFKA_REST_REGISTRY_JAVA").filter(|j| !j.is_empty()) {
        let java = PathBuf::from(java);
        return match tools::java_major(&java) {
            Some(major) if major >= NEEDED => Ok(java),
            Some(major) => bail!(
                "KAFKA_REST_REGISTRY_JAVA={} is Java {major}, but Apicurio Registry \
                 {APICURIO_VERSION} needs Java {NEEDED}+",
                java.display()
            ),
            None => bail!(
                "KAFKA_REST_REGISTRY_JAVA={} does not run (`{} -version` failed)",
                java.display(),
                java.display()
            ),
        };
    }
    tools::java(
        NEEDED,
        &format!("Apicurio Registry {APICURIO_VERSION} (the local schema registry)"),
    )
    .context("set KAFKA_REST_REGISTRY_JAVA=/path/to/jdk/bin/java to choose the registry's Java")
}

pub(super) fn start_registry(paths: &Paths, java: &Path) -> Result<u32> {
    ensure_port_free(registry_port(), "the schema registry", paths)?;
    let log = Component::Registry.log_file(paths);
    eprintln!(
        "[stack] starting registry (Apicurio {APICURIO_VERSION}, {}) on {HOST}:{} \
         (log: {})",
        java.display(),
        registry_port(),
        log.display()
    );
    let mut command = Command::new(java);
    command
        .args(["-Xmx384m", "-XX:TieredStopAtLevel=1"])
        .arg(format!("-Dquarkus.http.host={HOST}"))
        .arg(format!("-Dquarkus.http.port={}", registry_port()))
        // Quarkus's management interface (health, metrics) would bind *:9000.
        .arg(format!("-Dquarkus.management.host={HOST}"))
        .arg(format!(
            "-Dquarkus.management.port={}",
            9000 + port_offset()
        ))
        .arg("-jar")
        .arg(paths.registry_jar())
        .current_dir(&paths.stack);
    let child = spawn_detached(command, &log, "the schema registry")?;
    let pid = child.id();
    write_pid(paths, Component::Registry, pid)?;
    Ok(pid)
}

/// Waits until the registry answers; `launched` (when this run started it) is used for the
/// "ready in" message, a reused registry is waited for quietly.
pub(super) fn wait_for_registry(paths: &Paths, launched: Option<Instant>) -> Result<()> {
    let started = Instant::now();
    let mut next_report = Duration::from_secs(5);
    let mut last;
    let failure = loop {
        match http_request("GET", &format!("{REGISTRY_API}/subjects"), None) {
            Ok((200, _)) => {
                if let Some(launched) = launched {
                    eprintln!("[stack] registry ready in {}", secs(launched.elapsed()));
                }
                return Ok(());
            }
            Ok((status, body)) => last = format!("HTTP {status}: {}", body.trim()),
            Err(err) => last = format!("{err:#}"),
        }
        if !Component::Registry.state(paths).is_running() {
            break "the schema registry exited while starting".to_string();
        }
        if started.elapsed() > REGISTRY_TIMEOUT {
            break format!(
                "the schema registry did not become ready within {}s ({last})",
                REGISTRY_TIMEOUT.as_secs()
            );
        }
        if started.elapsed() >= next_report {
            eprintln!(
                "[stack]   still waiting for the registry ({}s, {last})",
                next_report.as_secs()
            );
            next_report += Duration::from_secs(5);
        }
        sleep(Duration::from_millis(250));
    };
    let log = Component::Registry.log_file(paths);
    tools::print_tail(&log);
    bail!("{failure}; see {}", log.display())
}

/// Confluent Schema Registry defaults to BACKWARD; make the registry behave the same.
pub(super) fn configure_registry() -> Result<()> {
    let (status, body) = http_request(
        "PUT",
        &format!("{REGISTRY_API}/config"),
        Some(r#"{"compatibility":"BACKWARD"}"#),
    )?;
    ensure!(
        (200..300).contains(&status),
        "setting the registry's global compatibility to BACKWARD failed: HTTP {status}: {}",
        body.trim()
    );
    Ok(())
}

/// Minimal HTTP/1.1 client for the registry on 127.0.0.1; returns status and body.
pub(super) fn http_request(method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let addr = SocketAddr::from(([127, 0, 0, 1], registry_port()));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .with_context(|| format!("cannot configure the connection to {addr}"))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {REGISTRY_CONTENT_TYPE}, \
         application/json\r\nConnection: close\r\n"
    );
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: {REGISTRY_CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("cannot send {method} {path} to {addr}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("cannot read the response to {method} {path} from {addr}"))?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("malformed HTTP response to {method} {path} from {addr}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
