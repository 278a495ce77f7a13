//! What `cargo xtask bench` and `cargo xtask soak` share to load the release proxy: the release
//! binary started in front of the stack (or an external proxy by URL), a minimal keep-alive
//! HTTP/1.1 client that costs as little CPU as possible on a machine shared with the proxy and
//! the broker, the proxy's RSS, threads, descriptors and CPU time read from `/proc`, and topics
//! made and removed with an admin client.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection; requests are sent one at a time (no pipelining).
pub struct HttpConn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl HttpConn {
    pub async fn connect(addr: &str) -> Result<HttpConn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true).ok();
        Ok(HttpConn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends one request and reads the whole response: status and body.
    pub async fn roundtrip(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await.context("write")?;
        self.buf.clear();
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            self.read_more().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("response status")?;
        let chunked = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("transfer-encoding")
                    && value.trim().eq_ignore_ascii_case("chunked")
            })
        });
        if chunked {
            let body = self.read_chunked(head_end).await?;
            return Ok((status, body));
        }
        let length: usize = match head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        }) {
            Some(length) => length,
            // No Content-Length is allowed only where there is no body.
            None if status == 204 || status == 304 => 0,
            None => bail!("the proxy answered {status} without Content-Length"),
        };
        while self.buf.len() < head_end + length {
            self.read_more().await?;
        }
        Ok((status, self.buf[head_end..head_end + length].to_vec()))
    }

    /// Reads a chunked body that starts at `start` of the buffer until its last (empty) chunk,
    /// and returns it decoded. Trailers are not expected.
    async fn read_chunked(&mut self, start: usize) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut at = start;
        loop {
            let line_end = loop {
                if let Some(pos) = find(&self.buf[at..], b"\r\n") {
                    break at + pos;
                }
                self.read_more().await?;
            };
            let size_text = std::str::from_utf8(&self.buf[at..line_end]).context("chunk size")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("chunk size {size_text:?}"))?;
            let data = line_end + 2;
            while self.buf.len() < data + size + 2 {
                self.read_more().await?;
            }
            body.extend_from_slice(&self.buf[data..data + size]);
            at = data + size + 2;
            if size == 0 {
                return Ok(body);
            }
        }
    }

    pub async fn read_more(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.context("read")?;
        if n == 0 {
            bail!("the proxy closed the connection");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The proxy being measured: our release binary (with /proc sampling) or an external URL.
pub struct ProxyUnderTest {
    /// `host:port` to connect to.
    pub addr: String,
    /// The `Host` header value.
    pub host: String,
    /// A path prefix of the external proxy's base URL (empty for ours).
    pub base_path: String,
    pub child: Option<Child>,
}

impl ProxyUnderTest {
    pub fn external(url: &str) -> Result<ProxyUnderTest> {
        let rest = url
            .strip_prefix("http://")
            .context("--target must be an http:// URL")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let addr = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        println!("driving the proxy at {url}");
        Ok(ProxyUnderTest {
            addr,
            host: authority.to_string(),
            base_path: path.to_string(),
            child: None,
        })
    }

    /// Builds the release binary and starts it on a free port in front of the stack.
    pub fn start(
        label: &str,
        bootstrap: &str,
        registry_url: &str,
        set: &[String],
    ) -> Result<ProxyUnderTest> {
        println!("[{label}] building the release proxy (cargo build --release) ...");
        crate::ci::cargo(&["build", "--release", "--bin", "kafka-rest"], &[])?;
        let binary = target_dir().join("release").join("kafka-rest");
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("kafka-rest-{label}-{port}.log"));
        let mut command = Command::new(&binary);
        for item in set {
            let (key, value) = item
                .split_once('=')
                .with_context(|| format!("--set {item}: expected KEY=VALUE"))?;
            command.env(proxy_env_name(key), value);
        }
        command
            .env("KAFKA_REST_LISTENERS", format!("http://127.0.0.1:{port}"))
            .env("KAFKA_REST_BOOTSTRAP_SERVERS", bootstrap)
            .env("KAFKA_REST_SCHEMA_REGISTRY_URL", registry_url)
            .env("KAFKA_REST_LOG", "warn");
        let addr = format!("127.0.0.1:{port}");
        let child = spawn_listening(command, &addr, &log, "the proxy")?;
        println!(
            "[{label}] proxy pid {} on http://{addr} (log: {})",
            child.id(),
            log.display()
        );
        Ok(ProxyUnderTest {
            host: addr.clone(),
            addr,
            base_path: String::new(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn cpu_seconds(&self) -> Option<f64> {
        self.pid().and_then(proc_cpu_seconds)
    }

    /// RSS, threads, file descriptors and CPU time of our proxy right now.
    pub fn sample(&self) -> Option<ProcSample> {
        self.pid().and_then(ProcSample::take)
    }

    pub fn rss_sampler(&self) -> Option<RssSampler> {
        self.pid().map(RssSampler::start)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free port")?
        .port())
}

/// Starts `command` (`what`, for messages) with its stderr in `log`, and waits until it listens
/// on `addr` (at most 20 s; it is killed if it does not), then one second more so that its
/// librdkafka clients connect before anything is measured (the proxy's idle RSS among it).
pub fn spawn_listening(
    mut command: Command,
    addr: &str,
    log: &std::path::Path,
    what: &str,
) -> Result<Child> {
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not listen on {addr} within 20 s (log: {})",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    Ok(child)
}

/// One HTTP/1.1 request as bytes for [`HttpConn::roundtrip`]: `path` is below `base_path`,
/// `body` is `(content type, text)`.
pub fn http_request(
    host: &str,
    base_path: &str,
    method: &str,
    path: &str,
    accept: &str,
    body: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut head =
        format!("{method} {base_path}{path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n");
    match body {
        Some((content_type, body)) => head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => head.push_str("Content-Length: 0\r\n\r\n"),
    }
    head.into_bytes()
}

/// The `KAFKA_REST_*` variable of a config key (Confluent image rules: `.` -> `_`,
/// `-` -> `__`, `_` -> `___`).
pub fn proxy_env_name(key: &str) -> String {
    let mut out = String::from("KAFKA_REST_");
    for c in key.chars() {
        match c {
            '.' => out.push('_'),
            '-' => out.push_str("__"),
            '_' => out.push_str("___"),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

/// utime + stime of a process, in seconds.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn proc_rss_mib(pid: u32) -> Option<f64> {
    proc_status_kib(pid, "VmRSS:").map(|kib| kib / 1024.0)
}

pub fn proc_status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One look at a process in `/proc`.
#[derive(Debug, Clone, Default)]
pub struct ProcSample {
    pub rss_mib: f64,
    pub threads: usize,
    /// Thread counts by name (`/proc/PID/task/TID/comm`) with trailing digits and dashes
    /// dropped, so `rdk:broker1` and `rdk:broker-1` count as `rdk:broker`.
    pub by_name: BTreeMap<String, usize>,
    pub fds: usize,
    /// utime + stime so far.
    pub cpu_s: f64,
}

impl ProcSample {
    pub fn take(pid: u32) -> Option<ProcSample> {
        let mut by_name = BTreeMap::new();
        let mut threads = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            threads += 1;
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let name = comm
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                .to_string();
            *by_name.entry(name).or_insert(0) += 1;
        }
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some(ProcSample {
            rss_mib: proc_rss_mib(pid)?,
            threads,
            by_name,
            fds,
            cpu_s: proc_cpu_seconds(pid)?,
        })
    }

    /// Threads librdkafka started (its threads are named `rdk:*`).
    pub fn librdkafka_threads(&self) -> usize {
        self.by_name
            .iter()
            .filter(|(name, _)| name.starts_with("rdk:"))
            .map(|(_, n)| n)
            .sum()
    }

    /// `name=count` pairs, most frequent first.
    pub fn threads_by_name(&self) -> String {
        let mut names: Vec<(&String, &usize)> = self.by_name.iter().collect();
        names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        names
            .iter()
            .map(|(name, n)| format!("{name}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Samples a process's RSS every 100 ms on its own thread; `finish` returns the peak in MiB.
pub struct RssSampler {
    pub stop: Arc<AtomicBool>,
    pub thread: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(rss) = proc_rss_mib(pid) {
                    peak = peak.max(rss);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        RssSampler { stop, thread }
    }

    pub fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}

pub fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka admin client")
}

/// Creates a topic with a unique name and waits for it to be usable.
pub async fn fresh_topic(
    admin: &AdminClient<DefaultClientContext>,
    prefix: &str,
    partitions: i32,
) -> Result<String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let name = format!("{prefix}-{stamp}");
    let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .context("create_topics")?;
    for r in results {
        r.map_err(|(t, code)| anyhow::anyhow!("cannot create {t}: {code}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(Some(&name), Duration::from_secs(5))
            .context("metadata")?;
        let ready = md.topics().iter().any(|t| {
            t.name() == name
                && t.error().is_none()
                && t.partitions().len() == usize::try_from(partitions).unwrap_or_default()
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(name);
        }
        if Instant::now() > deadline {
            bail!("topic {name} has no leaders after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn delete_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) {
    let _ = admin.delete_topics(&[topic], &AdminOptions::new()).await;
}

pub fn base64_encode(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
