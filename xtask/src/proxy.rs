//! A `kafka-rest` process for the contract tests (`sdk-test --flows`, `schemathesis`): the
//! debug binary, built by cargo, started on a free loopback port in front of a running stack
//! and stopped again when the handle is dropped, also when a test fails.
//!
//! Owns the process and its log file only; which stack it talks to is `stack/`, what is sent
//! to it is `flows.rs` and `schemathesis.rs`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::stack::StackInfo;

/// How long the proxy may take to answer `/health/ready` (it connects to Kafka first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped proxy may take to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running proxy; dropping it stops the process.
pub struct Proxy {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// Where the proxy's stderr (its log) goes.
    pub log: PathBuf,
}

impl Proxy {
    /// Builds the debug binary (a no-op when it is up to date, as after the integration tests)
    /// and starts it with the stack's addresses; returns once `/health/ready` answers 200.
    /// `tag` names the log file.
    pub fn start(info: &StackInfo, tag: &str) -> Result<Proxy> {
        let started = Instant::now();
        eprintln!("[proxy] building the proxy (cargo build --bin kafka-rest) ...");
        crate::ci::cargo(&["build", "--bin", "kafka-rest"], &[])?;
        let binary = target_dir().join("debug").join("kafka-rest");
        let port = crate::load::free_port()?;
        let logs = crate::tools::logs_dir();
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        let log = logs.join(format!("proxy-{tag}.log"));
        let log_file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(&binary)
            .env("KAFKA_REST_LISTENERS", format!("http://127.0.0.1:{port}"))
            .env("KAFKA_REST_BOOTSTRAP_SERVERS", &info.bootstrap)
            .env("KAFKA_REST_SCHEMA_REGISTRY_URL", &info.registry_url)
            .env("KAFKA_REST_LOG", "info")
            // Test clients (requests' pool in schemathesis) keep idle keep-alive connections
            // longer than the default 60 s and reuse them without retrying a POST; the idle
            // cut-off has its own test (reliability.rs), so it is out of the way here.
            .env("KAFKA_REST_CONNECTION_IDLE_TIMEOUT_MS", "600000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let proxy = Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match get(&format!("127.0.0.1:{port}"), "/health/ready") {
                Ok((200, _)) => break,
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok((status, body)) => bail!(
                    "the proxy answered /health/ready with {status} {body} for {}s (log: {})",
                    READY_TIMEOUT.as_secs(),
                    proxy.log.display()
                ),
                Err(err) => bail!(
                    "the proxy did not answer on port {port} within {}s: {err:#} (log: {})",
                    READY_TIMEOUT.as_secs(),
                    proxy.log.display()
                ),
            }
        }
        eprintln!(
            "[proxy] pid {} on {} in {:.1}s (log: {})",
            proxy.child.id(),
            proxy.url,
            started.elapsed().as_secs_f64(),
            proxy.log.display()
        );
        Ok(proxy)
    }
}

impl Drop for Proxy {
    /// SIGTERM first, so the proxy drains and its consumers leave their groups; SIGKILL if it
    /// has not exited after [`STOP_TIMEOUT`].
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET on a fresh connection; returns the status and the body.
fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}
