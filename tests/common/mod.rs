//! Test harness shared by the integration tests: the running stack's addresses, a proxy started
//! in-process on port 0 or as the real binary, unique topic and group names, and native rdkafka
//! clients to set up topics and to read back what Kafka really holds.
//!
//! The stack itself is started by `cargo xtask stack up` (or `cargo xtask ci`), never here.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::oneshot;

/// Addresses of the running stack, from the environment `cargo xtask` sets.
#[derive(Debug, Clone)]
pub struct Stack {
    pub bootstrap: String,
    pub registry_url: String,
}

/// The stack, or `None` (after one line on stderr) when no stack is configured. Under
/// `cargo xtask test`/`ci` (`KAFKA_REST_REQUIRE_STACK=1`) a missing stack is a failure.
pub fn stack() -> Option<Stack> {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(bootstrap) if !bootstrap.is_empty() => Some(Stack {
            bootstrap,
            registry_url: std::env::var("SCHEMA_REGISTRY_URL").unwrap_or_default(),
        }),
        _ => {
            if std::env::var_os("KAFKA_REST_REQUIRE_STACK").is_some() {
                panic!("KAFKA_BOOTSTRAP is not set but KAFKA_REST_REQUIRE_STACK is: start the stack with `cargo xtask stack up`");
            }
            eprintln!("skipped: no stack (run `cargo xtask stack up` and set KAFKA_BOOTSTRAP, or use `cargo xtask test`)");
            None
        }
    }
}

/// `let stack = require_stack!();` at the top of an integration test.
#[macro_export]
macro_rules! require_stack {
    () => {
        match $crate::common::stack() {
            Some(stack) => stack,
            None => return,
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}-{n}-{}", std::process::id(), &id[..8])
}

/// A topic name no other test uses.
pub fn rand_topic(prefix: &str) -> String {
    unique(&format!("it-{prefix}"))
}

/// A consumer group name no other test uses.
pub fn rand_group(prefix: &str) -> String {
    unique(&format!("it-group-{prefix}"))
}

/// Base properties for a proxy in front of the stack.
pub fn proxy_properties(stack: &Stack) -> kafka_rest::config::Properties {
    let mut props = kafka_rest::config::Properties::default();
    props
        .set("bootstrap.servers", stack.bootstrap.clone())
        .set("listeners", "http://127.0.0.1:0")
        .set("schema.registry.url", stack.registry_url.clone());
    props
}

/// A free loopback port, bound before the proxy's configuration is built, so that the
/// configuration can name the port (`listeners`, `advertised.listeners`).
pub struct TestListener {
    listener: tokio::net::TcpListener,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub port: u16,
}

impl TestListener {
    pub async fn bind() -> TestListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        TestListener {
            listener,
            base: format!("http://{addr}"),
            port: addr.port(),
        }
    }
}

impl TestListener {
    /// The bound socket for `kafka_rest::serve`, served as HTTPS when `https`.
    pub fn bound(self, https: bool) -> kafka_rest::BoundListener {
        kafka_rest::BoundListener {
            tcp: self.listener,
            https,
        }
    }
}

/// A proxy running inside the test process on a free port; stops when dropped.
pub struct TestProxy {
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), kafka_rest::RunError>>>,
}

impl TestProxy {
    pub async fn start(stack: &Stack) -> TestProxy {
        TestProxy::start_with(proxy_properties(stack)).await
    }

    pub async fn start_with(props: kafka_rest::config::Properties) -> TestProxy {
        TestProxy::start_on(TestListener::bind().await, props).await
    }

    /// Serves on an already bound listener, whose address `props` may name.
    pub async fn start_on(
        listener: TestListener,
        props: kafka_rest::config::Properties,
    ) -> TestProxy {
        let config = kafka_rest::Config::from_properties(&props).expect("test config is valid");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kafka_rest::run(listener.listener, config, async {
            let _ = rx.await;
        }));
        TestProxy {
            base: listener.base,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Serves on several bound listeners (HTTP and HTTPS side by side) with
    /// `kafka_rest::serve`; `base` is what [`TestProxy::url`] builds on.
    pub async fn serve_on(
        listeners: Vec<kafka_rest::BoundListener>,
        base: String,
        props: kafka_rest::config::Properties,
    ) -> TestProxy {
        let config = kafka_rest::Config::from_properties(&props).expect("test config is valid");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kafka_rest::serve(listeners, config, async {
            let _ = rx.await;
        }));
        TestProxy {
            base,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task did not panic")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The real `kafka-rest` binary, started with a config file; killed when dropped.
pub struct BinaryProxy {
    pub base: String,
    child: Child,
}

impl BinaryProxy {
    /// Starts the binary and waits (bounded) for its "listening" log line.
    pub fn start(config_file: &std::path::Path) -> BinaryProxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-rest"))
            .arg("--config")
            .arg(config_file)
            .env("KAFKA_REST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kafka-rest");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(pos) = line.find("listening on http://") {
                    let addr = line[pos + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("kafka-rest did not report its listening address within 20 s");
            }
        };
        BinaryProxy { base, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id, to read its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit code.
    pub async fn terminate(&mut self, within: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BinaryProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn admin(stack: &Stack) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .create()
        .expect("admin client")
}

/// Creates a topic and waits until every partition has a leader.
pub async fn create_topic(stack: &Stack, name: &str, partitions: i32) {
    create_topic_with(stack, name, partitions, &[]).await
}

/// Creates a topic with topic configs and waits until every partition has a leader.
pub async fn create_topic_with(
    stack: &Stack,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let admin = admin(stack);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics request");
    for r in results {
        r.expect("topic created");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(5))
            .expect("metadata");
        let ready = md.topics().iter().any(|t| {
            t.name() == name
                && t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} has no leaders after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Topic names the cluster reports, internal ones included.
pub fn cluster_topics(stack: &Stack) -> Vec<String> {
    let md = admin(stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

/// Commits an offset for `group` on partition 0 of `topic` with a native consumer, which makes
/// the broker create `__consumer_offsets`.
pub fn commit_native(stack: &Stack, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("partition offset");
    consumer
        .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
}

/// The group's committed offset of one partition, read by a native consumer of that group.
pub fn committed(stack: &Stack, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let tpl = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    match tpl.elements()[0].offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Reads every partition of `topic` from the beginning with a native consumer until `count`
/// records arrived or `timeout` passed.
pub fn read_all(stack: &Stack, topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", unique("it-readback"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(m.detach()),
            // A broker of the cluster restarting (fault tests): librdkafka reconnects itself.
            Some(Err(rdkafka::error::KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure
                | rdkafka::types::RDKafkaErrorCode::AllBrokersDown,
            ))) => {}
            Some(Err(e)) => panic!("reading {topic} back failed: {e}"),
            None => {}
        }
    }
    out.sort_by_key(|m| (m.partition(), m.offset()));
    out
}

/// Writes `count` records with a native producer to one partition and waits for them.
pub async fn produce_native(stack: &Stack, topic: &str, partition: i32, count: usize) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .create()
        .expect("producer");
    for i in 0..count {
        let payload = format!("record-{i}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
}

/// GET a path and return status, content type and JSON body.
pub async fn get_json(url: &str) -> (u16, String, serde_json::Value) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.json().await.expect("JSON body");
    (status, content_type, body)
}

/// Kafka's `Utils.murmur2`, the hash of the Java client's default partitioner, written out
/// independently of the proxy (which relies on librdkafka's `murmur2_random`).
pub fn java_murmur2(data: &[u8]) -> i32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let length = data.len();
    let mut h: u32 = seed ^ (length as u32);
    let chunks = length / 4;
    for i in 0..chunks {
        let i4 = i * 4;
        let mut k = u32::from_le_bytes([data[i4], data[i4 + 1], data[i4 + 2], data[i4 + 3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for a keyed record.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (java_murmur2(key) & 0x7fff_ffff) % partitions
}

/// POST a body with a content type; returns status, content type and the JSON body (or
/// `Value::Null` when the body is not JSON).
pub async fn post_json(
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = resp.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ct, json)
}

/// One HTTP call with an optional `Accept` and an optional `vnd.kafka.v2+json` body; returns
/// the status and the JSON body (`Value::Null` when empty or not JSON).
pub async fn call(
    method: &str,
    url: &str,
    accept: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/vnd.kafka.v2+json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A real nginx (Debian's, installed by `cargo xtask ci`) balancing round robin over several
/// proxies on a free loopback port; stopped when dropped. It runs as one process
/// (`master_process off`): killing a master leaves its workers behind, still listening.
pub struct Nginx {
    pub base: String,
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (`host:port` each) and waits until it listens.
    pub fn start(upstreams: &[String]) -> Nginx {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nginx is installed (`cargo xtask ci` installs Debian's nginx-light)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("kafka-rest-it-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {u};\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "user root;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream proxies {{\n{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://proxies;\n\
                   proxy_set_header Host $http_host;\n      proxy_next_upstream off;\n    }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::yield_now();
        }
        Nginx {
            base: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number of brokers of the running stack (`KAFKA_REST_STACK_BROKERS`, set by xtask).
pub fn stack_brokers() -> u8 {
    std::env::var("KAFKA_REST_STACK_BROKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// `let stack = require_brokers!(3);`: the stack, when it has that many brokers; otherwise the
/// test says why on one line and returns (CI runs the fault tests on a 3-broker stack).
#[macro_export]
macro_rules! require_brokers {
    ($n:expr) => {{
        let stack = $crate::require_stack!();
        if $crate::common::stack_brokers() < $n {
            eprintln!(
                "skipped: needs a {}-broker stack (`cargo xtask test --brokers 3 faults::`)",
                $n
            );
            return;
        }
        stack
    }};
}

/// The pid of Kafka node `node` of the stack, from the stack's pid files.
pub fn broker_pid(node: i32) -> u32 {
    let dir =
        std::env::var("KAFKA_REST_STACK_PIDS").expect("KAFKA_REST_STACK_PIDS is set by xtask");
    let path = std::path::Path::new(&dir).join(format!("kafka-{node}.pid"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .parse()
        .expect("pid")
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// A broker this test killed with SIGKILL; `restart` starts it again with its own command line
/// and records the new pid where `cargo xtask stack down` will find it.
pub struct KilledBroker {
    node: i32,
    argv: Vec<String>,
    cwd: std::path::PathBuf,
    /// Set once the broker runs again; a test that panics before restarting it still leaves
    /// the cluster whole, through `Drop`.
    restarted: bool,
}

/// SIGKILLs Kafka node `node` and waits until it is gone.
pub fn kill_broker(node: i32) -> KilledBroker {
    let pid = broker_pid(node);
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).expect("broker cmdline");
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| "/".into());
    send_signal(pid, "-KILL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "broker {node} (pid {pid}) did not die"
        );
        std::thread::yield_now();
    }
    KilledBroker {
        node,
        argv,
        cwd,
        restarted: false,
    }
}

impl KilledBroker {
    /// Starts the broker again with its own command line and records the new pid.
    pub fn restart(mut self) {
        self.start().expect("restart the killed broker");
    }

    // The restarted broker belongs to the stack, not to this test: `cargo xtask stack down`
    // stops it by the pid recorded here, so it is deliberately never waited for.
    #[allow(clippy::zombie_processes)]
    fn start(&mut self) -> std::io::Result<()> {
        let dir = std::env::var("KAFKA_REST_STACK_PIDS").map_err(std::io::Error::other)?;
        let log_dir = std::path::Path::new(&dir)
            .parent()
            .ok_or_else(|| std::io::Error::other("no stack dir"))?
            .join("logs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_dir.join(format!("kafka-{}.log", self.node)))?;
        let err = log.try_clone()?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()?;
        std::fs::write(
            std::path::Path::new(&dir).join(format!("kafka-{}.pid", self.node)),
            format!("{}\n", child.id()),
        )?;
        self.restarted = true;
        Ok(())
    }
}

impl Drop for KilledBroker {
    fn drop(&mut self) {
        if !self.restarted {
            if let Err(e) = self.start() {
                eprintln!("cannot restart kafka-{}: {e}", self.node);
            }
        }
    }
}

/// The high watermark of a partition, or `None` while the cluster cannot tell (a leader that
/// just moved answers "not caught up" for a moment).
pub fn high_watermark(stack: &Stack, topic: &str, partition: i32) -> Option<i64> {
    admin(stack)
        .inner()
        .fetch_watermarks(topic, partition, Duration::from_secs(5))
        .ok()
        .map(|(_, high)| high)
}

/// Freezes (SIGSTOP) or thaws (SIGCONT) every broker of the stack.
pub fn freeze_brokers(brokers: u8, frozen: bool) {
    for node in 1..=i32::from(brokers) {
        send_signal(broker_pid(node), if frozen { "-STOP" } else { "-CONT" });
    }
}

/// The leader of one partition, or -1.
pub fn partition_leader(stack: &Stack, topic: &str, partition: i32) -> i32 {
    let md = admin(stack)
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
        .map(|p| p.leader())
        .unwrap_or(-1)
}

/// Creates a topic replicated on three brokers with `min.insync.replicas=2`.
pub async fn create_replicated_topic(stack: &Stack, name: &str, partitions: i32) {
    let admin = admin(stack);
    let topic =
        NewTopic::new(name, partitions, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics request");
    for r in results {
        r.expect("topic created");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(5))
            .expect("metadata");
        let ready = md.topics().iter().any(|t| {
            t.name() == name
                && t.partitions().len() == partitions as usize
                && t.partitions()
                    .iter()
                    .all(|p| p.leader() >= 0 && p.isr().len() == 3)
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} not fully replicated after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP answer read off the wire by [`raw_request`].
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    /// The `Content-Type` header, or empty.
    pub content_type: String,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request exactly as given (any method, an unencoded path, any header bytes, any
/// body) on a fresh connection with `Connection: close`, and reads the answer until the server
/// closes. The body is written from another thread, so a server that answers early (413) and
/// closes is seen answering, not as a failed write. `None` when no HTTP answer came within
/// `within`.
pub async fn raw_request(
    base: &str,
    method: &str,
    path: &[u8],
    headers: &[(String, Vec<u8>)],
    body: Option<Vec<u8>>,
    within: Duration,
) -> Option<RawAnswer> {
    let addr = base.trim_start_matches("http://").to_string();
    let mut head = Vec::new();
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(path);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: bad-input.test\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    if let Some(body) = &body {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the proxy");
        stream.set_read_timeout(Some(within)).expect("read timeout");
        let mut writer = stream.try_clone().expect("clone the stream");
        let sender = std::thread::spawn(move || {
            // The server may answer and close before it read everything; that is allowed.
            let _ = writer.write_all(&head);
            if let Some(body) = body {
                for chunk in body.chunks(64 << 10) {
                    if writer.write_all(chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 << 10];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A reset after the answer was read (the server closed with unread body bytes).
                Err(_) => break,
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
        let _ = sender.join();
        parse_answer(&raw)
    })
    .await
    .expect("raw request thread")
}

/// Splits an HTTP/1.1 answer into status, content type and (de-chunked) body.
fn parse_answer(raw: &[u8]) -> Option<RawAnswer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut content_type = String::new();
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_string();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let mut body = raw[end + 4..].to_vec();
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..line_end])
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        body = out;
    }
    Some(RawAnswer {
        status,
        content_type,
        body,
    })
}

/// One v3 call: an optional JSON body sent as `application/json`; returns the status, the
/// content type and the JSON body (`Value::Null` when empty or not JSON).
pub async fn v3_call(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, String, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The configs of one resource as a native admin client describes them: name -> (value,
/// is_default).
pub async fn native_configs(
    stack: &Stack,
    resource: rdkafka::admin::ResourceSpecifier<'_>,
) -> std::collections::BTreeMap<String, (Option<String>, bool)> {
    let results = admin(stack)
        .describe_configs([&resource], &AdminOptions::new())
        .await
        .expect("describe_configs request");
    let mut configs = std::collections::BTreeMap::new();
    for result in results {
        for entry in result.expect("configs described").entries {
            configs.insert(entry.name, (entry.value, entry.is_default));
        }
    }
    configs
}

/// Partition count and replica count of the first partition of `topic` as the cluster's
/// metadata reports them, or `None` when the cluster does not know the topic.
pub fn native_topic_shape(stack: &Stack, topic: &str) -> Option<(usize, usize)> {
    let md = admin(stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| {
            let replicas = t.partitions().first().map_or(0, |p| p.replicas().len());
            (t.partitions().len(), replicas)
        })
}

/// The id of the stack's cluster, as Kafka reports it to a native client.
pub fn cluster_id(stack: &Stack) -> String {
    admin(stack)
        .inner()
        .fetch_cluster_id(Duration::from_secs(10))
        .expect("cluster id")
}

pub type NativeConfigs = std::collections::BTreeMap<String, (Option<String>, bool)>;

/// A native describe of `topic`'s configs once `ready` holds for it (at most 30 s): the answer
/// to a change comes when the controller accepted it, and the broker that describes the topic
/// applies it a moment later.
pub async fn topic_configs_when(
    stack: &Stack,
    topic: &str,
    ready: impl Fn(&NativeConfigs) -> bool,
) -> NativeConfigs {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = native_configs(stack, rdkafka::admin::ResourceSpecifier::Topic(topic)).await;
        if ready(&now) || std::time::Instant::now() >= deadline {
            // The caller's assertions say what is wrong when the deadline passed.
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
