//! The local Kafka + Schema Registry stack used for development and CI.
//!
//! This module owns everything about that stack: resolving the artifacts (Apache Kafka jars and
//! the Apicurio Registry distribution, both from Maven Central via `mvn`), writing the KRaft node
//! configurations, formatting and starting 1..N combined broker/controller nodes plus the
//! registry as detached background processes, waiting until they answer, and stopping them
//! again. Only processes recorded in the stack's pid files are ever signalled.
//!
//! Layout under the cache root (`$KAFKA_REST_CACHE`, else `$XDG_CACHE_HOME/kafka-rest`, else
//! `$HOME/.cache/kafka-rest`):
//!
//! - `kafka-4.2.1/libs/`: Kafka runtime jars (`.complete` marks a finished download)
//! - `apicurio-3.3.3/`: the extracted Apicurio Registry (`.complete` marks a finished download)
//! - `stack/`: runtime state: `pids/`, `data/`, `conf/`, `logs/` and `brokers` (the broker count
//!   of the running stack)

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};

const KAFKA_VERSION: &str = "4.2.1";
const KAFKA_POM: &str = include_str!("../assets/kafka-pom.xml");
const KAFKA_LOG4J2: &str = include_str!("../assets/log4j2.properties");
/// Fixed KRaft cluster id (22 characters of base64url, i.e. a 16-byte UUID).
const CLUSTER_ID: &str = "kafkarestlocalstack01A";
const APICURIO_VERSION: &str = "3.3.3";
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";
const HOST: &str = "127.0.0.1";
/// The registry's port before `KAFKA_REST_STACK_PORT_OFFSET` (see [`port_offset`]).
const REGISTRY_BASE_PORT: u16 = 8081;
const REGISTRY_API: &str = "/apis/ccompat/v7";
const REGISTRY_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Largest supported cluster; also bounds the scan for stale kafka pid files.
const MAX_BROKERS: u8 = 9;
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);
const TAIL_LINES: usize = 40;

/// Where a running (or just started) stack can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    /// Comma-separated broker addresses, e.g. `127.0.0.1:9092`.
    pub bootstrap: String,
    /// Base URL of the Confluent-compatible registry API.
    pub registry_url: String,
    /// Number of Kafka nodes.
    pub brokers: u8,
    /// Whether this call started at least one process.
    pub started_now: bool,
}

/// Idempotent: reuses a running stack (same broker count) or starts one; resolves artifacts first.
pub fn up(brokers: u8) -> Result<StackInfo> {
    ensure!(
        (1..=MAX_BROKERS).contains(&brokers),
        "unsupported broker count {brokers}: the local stack runs 1 to {MAX_BROKERS} Kafka nodes"
    );
    let paths = Paths::new();
    paths.create_state_dirs()?;
    let _lock = StackLock::acquire(&paths.stack)?;
    let started = Instant::now();

    resolve_kafka(&paths)?;
    resolve_registry(&paths)?;
    let registry_java = find_registry_java()?;
    let kafka_java = kafka_java();

    // Forget processes that are gone, then look at what is left.
    let mut all = vec![Component::Registry];
    all.extend((1..=MAX_BROKERS).map(Component::Kafka));
    for component in &all {
        if let PidState::Stale(pid) = component.state(&paths) {
            eprintln!(
                "[stack] removing stale pid file {} ({})",
                component.pid_file(&paths).display(),
                describe_stale(pid)
            );
            remove_file_if_exists(&component.pid_file(&paths))?;
        }
    }
    if let Some(info) = running().filter(|info| info.brokers == brokers) {
        create_quickstart_topics(brokers)?;
        eprintln!("[stack] reusing running stack ({brokers} broker(s))");
        print_summary(&info);
        return Ok(info);
    }
    let alive_kafka: Vec<u8> = (1..=MAX_BROKERS)
        .filter(|&i| Component::Kafka(i).state(&paths).is_running())
        .collect();
    let recorded = read_broker_count(&paths);
    if !alive_kafka.is_empty() {
        match recorded {
            Some(n) if n == brokers => {}
            Some(n) => bail!(
                "a {n}-broker stack is already running (state in {}), but {brokers} broker(s) \
                 were requested; run `cargo xtask stack down` first",
                paths.stack.display()
            ),
            None => bail!(
                "kafka processes are recorded in {} but {} is missing; run `cargo xtask stack \
                 down` first",
                paths.pids.display(),
                paths.brokers_file.display()
            ),
        }
        if let Some(extra) = alive_kafka.iter().find(|&&i| i > brokers) {
            bail!(
                "kafka-{extra} is running although the stack records {brokers} broker(s); run \
                 `cargo xtask stack down` first"
            );
        }
    }

    let mut launched: Vec<Launched> = Vec::new();
    let result = start_and_wait(
        &paths,
        brokers,
        &alive_kafka,
        &kafka_java,
        &registry_java,
        &mut launched,
    );
    if let Err(err) = result {
        if !launched.is_empty() {
            eprintln!("[stack] start failed; stopping the processes this run started");
            stop_processes(&paths, &launched);
        }
        return Err(err);
    }

    create_quickstart_topics(brokers)?;
    let info = stack_info(brokers, !launched.is_empty());
    if info.started_now {
        eprintln!(
            "[stack] stack with {brokers} broker(s) ready in {}",
            secs(started.elapsed())
        );
    } else {
        eprintln!("[stack] reusing running stack ({brokers} broker(s))");
    }
    print_summary(&info);
    Ok(info)
}

fn print_summary(info: &StackInfo) {
    println!("KAFKA_BOOTSTRAP={}", info.bootstrap);
    println!("SCHEMA_REGISTRY_URL={}", info.registry_url);
}

/// Stops exactly the processes recorded in pid files (SIGTERM, wait up to 30 s, then SIGKILL), removes data dirs and pid files. Ok if nothing runs.
pub fn down() -> Result<()> {
    let paths = Paths::new();
    if !paths.stack.exists() {
        eprintln!(
            "[stack] nothing to stop ({} does not exist)",
            paths.stack.display()
        );
        return Ok(());
    }
    paths.create_state_dirs()?;
    let _lock = StackLock::acquire(&paths.stack)?;

    let mut victims = Vec::new();
    for (component, pid_file) in recorded_components(&paths)? {
        match component.state(&paths) {
            PidState::Running(pid) => victims.push(Launched { component, pid }),
            PidState::Stale(pid) => eprintln!(
                "[stack] removing stale pid file {} ({})",
                pid_file.display(),
                describe_stale(pid)
            ),
            PidState::Missing => {}
        }
    }
    if victims.is_empty() {
        eprintln!("[stack] no stack processes were running");
    } else {
        stop_processes(&paths, &victims);
    }

    // Remove pid files even if a process could not be stopped: it is no longer ours to manage.
    if paths.pids.exists() {
        let entries = fs::read_dir(&paths.pids)
            .with_context(|| format!("cannot list {}", paths.pids.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", paths.pids.display()))?;
            remove_file_if_exists(&entry.path())?;
        }
    }
    remove_file_if_exists(&paths.brokers_file)?;
    if paths.data.exists() {
        fs::remove_dir_all(&paths.data)
            .with_context(|| format!("cannot remove {}", paths.data.display()))?;
    }
    eprintln!(
        "[stack] removed {} (logs kept in {})",
        paths.data.display(),
        paths.logs.display()
    );
    Ok(())
}

/// Prints one line per component: running (pid, address) / stopped / stale pid file.
pub fn status() -> Result<()> {
    let paths = Paths::new();
    let recorded = read_broker_count(&paths);
    let highest_pid_file = recorded_components(&paths)?
        .into_iter()
        .filter_map(|(component, _)| match component {
            Component::Kafka(i) => Some(i),
            Component::Registry => None,
        })
        .max();
    let nodes = recorded
        .unwrap_or(0)
        .max(highest_pid_file.unwrap_or(0))
        .max(1);

    let mut components: Vec<Component> = (1..=nodes).map(Component::Kafka).collect();
    components.push(Component::Registry);
    let mut all_running = true;
    for component in components {
        let line = match component.state(&paths) {
            PidState::Running(pid) => format!("running (pid {pid}, {})", component.address()),
            PidState::Missing => {
                all_running = false;
                "stopped".to_string()
            }
            PidState::Stale(pid) => {
                all_running = false;
                format!(
                    "stale pid file {} ({})",
                    component.pid_file(&paths).display(),
                    describe_stale(pid)
                )
            }
        };
        println!("{:<10} {line}", component.name());
    }
    if all_running {
        match running() {
            Some(info) => print_summary(&info),
            None => println!("(processes are alive but the stack does not answer yet)"),
        }
    }
    println!("logs: {}", log_dir().display());
    Ok(())
}

/// Some(info with started_now=false) if a complete stack is recorded and alive.
pub fn running() -> Option<StackInfo> {
    let paths = Paths::new();
    let brokers = read_broker_count(&paths)?;
    let mut components: Vec<Component> = (1..=brokers).map(Component::Kafka).collect();
    components.push(Component::Registry);
    if !components
        .iter()
        .all(|component| component.state(&paths).is_running())
    {
        return None;
    }
    let consumer = metadata_client(&bootstrap(brokers)).ok()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(5)).ok()?;
    if metadata.brokers().len() != usize::from(brokers) {
        return None;
    }
    match http_request("GET", &format!("{REGISTRY_API}/subjects"), None) {
        Ok((200, _)) => Some(stack_info(brokers, false)),
        _ => None,
    }
}

/// Directory where logs go (printed in failure messages).
pub fn log_dir() -> PathBuf {
    Paths::new().logs
}

/// Where the stack records its pids (`kafka-N.pid`, `registry.pid`); fault tests read it.
pub fn pid_dir() -> PathBuf {
    Paths::new().pids
}

// ---------------------------------------------------------------------------------------------
// Paths and components

/// All locations, derived from the environment (never hard-coded).
struct Paths {
    kafka_home: PathBuf,
    kafka_libs: PathBuf,
    apicurio_home: PathBuf,
    stack: PathBuf,
    pids: PathBuf,
    data: PathBuf,
    conf: PathBuf,
    logs: PathBuf,
    brokers_file: PathBuf,
}

impl Paths {
    fn new() -> Self {
        let cache = cache_root();
        let kafka_home = cache.join(format!("kafka-{KAFKA_VERSION}"));
        // A stack on other ports (see `port_offset`) keeps its own state beside the usual one.
        let stack = match port_offset() {
            0 => cache.join("stack"),
            n => cache.join(format!("stack-{n}")),
        };
        Paths {
            kafka_libs: kafka_home.join("libs"),
            kafka_home,
            apicurio_home: cache.join(format!("apicurio-{APICURIO_VERSION}")),
            pids: stack.join("pids"),
            data: stack.join("data"),
            conf: stack.join("conf"),
            logs: stack.join("logs"),
            brokers_file: stack.join("brokers"),
            stack,
        }
    }

    fn create_state_dirs(&self) -> Result<()> {
        for dir in [&self.stack, &self.pids, &self.data, &self.conf, &self.logs] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(())
    }

    fn registry_jar(&self) -> PathBuf {
        self.apicurio_home.join("quarkus-run.jar")
    }

    fn log4j2(&self) -> PathBuf {
        self.conf.join("log4j2.properties")
    }
}

/// The root of every download and all local state: `$KAFKA_REST_CACHE`, else
/// `$XDG_CACHE_HOME/kafka-rest`, else `$HOME/.cache/kafka-rest`.
pub(crate) fn cache_root() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("KAFKA_REST_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("kafka-rest");
    }
    match non_empty("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("kafka-rest"),
        None => std::env::temp_dir().join("kafka-rest-cache"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    /// Kafka node with this 1-based id.
    Kafka(u8),
    Registry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PidState {
    Missing,
    Running(u32),
    /// The pid file exists but its process is gone (or the file is unreadable: `None`).
    Stale(Option<u32>),
}

impl PidState {
    fn is_running(self) -> bool {
        matches!(self, PidState::Running(_))
    }
}

impl Component {
    fn name(self) -> String {
        match self {
            Component::Kafka(i) => format!("kafka-{i}"),
            Component::Registry => "registry".to_string(),
        }
    }

    fn pid_file(self, paths: &Paths) -> PathBuf {
        paths.pids.join(format!("{}.pid", self.name()))
    }

    fn log_file(self, paths: &Paths) -> PathBuf {
        paths.logs.join(format!("{}.log", self.name()))
    }

    fn address(self) -> String {
        match self {
            Component::Kafka(i) => format!("{HOST}:{}", broker_port(i)),
            Component::Registry => registry_url(),
        }
    }

    /// A string the process's command line must contain for it to be ours.
    fn cmdline_marker(self, paths: &Paths) -> String {
        match self {
            Component::Kafka(i) => kafka_conf(paths, i).display().to_string(),
            Component::Registry => paths.registry_jar().display().to_string(),
        }
    }

    fn state(self, paths: &Paths) -> PidState {
        let pid_file = self.pid_file(paths);
        if !pid_file.exists() {
            return PidState::Missing;
        }
        match read_pid(&pid_file) {
            Some(pid) if process_is_ours(pid, &self.cmdline_marker(paths)) => {
                PidState::Running(pid)
            }
            pid => PidState::Stale(pid),
        }
    }
}

/// A process started (or found) by this module.
#[derive(Debug, Clone, Copy)]
struct Launched {
    component: Component,
    pid: u32,
}

/// `KAFKA_REST_STACK_PORT_OFFSET` (default 0) is added to every port of the stack, so that a
/// second stack (another checkout, or a 3-broker stack beside the usual one, each with its own
/// `KAFKA_REST_CACHE`) can run on the same machine.
fn port_offset() -> u16 {
    std::env::var("KAFKA_REST_STACK_PORT_OFFSET")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn registry_port() -> u16 {
    REGISTRY_BASE_PORT + port_offset()
}

fn broker_port(node: u8) -> u16 {
    9091 + u16::from(node) + port_offset()
}

fn controller_port(node: u8) -> u16 {
    19091 + u16::from(node) + port_offset()
}

fn bootstrap(brokers: u8) -> String {
    (1..=brokers)
        .map(|i| format!("{HOST}:{}", broker_port(i)))
        .collect::<Vec<_>>()
        .join(",")
}

fn registry_url() -> String {
    format!("http://{HOST}:{}{REGISTRY_API}", registry_port())
}

fn stack_info(brokers: u8, started_now: bool) -> StackInfo {
    StackInfo {
        bootstrap: bootstrap(brokers),
        registry_url: registry_url(),
        brokers,
        started_now,
    }
}

fn kafka_conf(paths: &Paths, node: u8) -> PathBuf {
    paths.conf.join(format!("kafka-{node}.properties"))
}

fn read_broker_count(paths: &Paths) -> Option<u8> {
    fs::read_to_string(&paths.brokers_file)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Components that have a pid file, with that file.
fn recorded_components(paths: &Paths) -> Result<Vec<(Component, PathBuf)>> {
    let mut found = Vec::new();
    if !paths.pids.exists() {
        return Ok(found);
    }
    let entries = fs::read_dir(&paths.pids)
        .with_context(|| format!("cannot list {}", paths.pids.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", paths.pids.display()))?;
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".pid"))
        else {
            continue;
        };
        let component = if stem == "registry" {
            Component::Registry
        } else if let Some(node) = stem
            .strip_prefix("kafka-")
            .and_then(|n| n.parse::<u8>().ok())
        {
            Component::Kafka(node)
        } else {
            continue;
        };
        found.push((component, path));
    }
    found.sort_by_key(|(component, _)| match component {
        Component::Kafka(i) => u16::from(*i),
        Component::Registry => u16::MAX,
    });
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// Processes

fn read_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

fn write_pid(paths: &Paths, component: Component, pid: u32) -> Result<()> {
    let pid_file = component.pid_file(paths);
    fs::write(&pid_file, format!("{pid}\n"))
        .with_context(|| format!("cannot write {}", pid_file.display()))
}

/// Alive, a Java process, and started with `marker` on its command line. Zombies have an empty
/// command line, so they count as dead.
fn process_is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    contains(&cmdline, b"java") && contains(&cmdline, marker.as_bytes())
}

fn process_exists(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

fn describe_stale(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid} is not running"),
        None => "unreadable pid".to_string(),
    }
}

fn signal(pid: u32, sig: &str) {
    // Failure only means the process is already gone.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM all, wait up to 30 s, SIGKILL the rest; removes their pid files.
fn stop_processes(paths: &Paths, victims: &[Launched]) {
    let started = Instant::now();
    let alive =
        |victim: &&Launched| process_is_ours(victim.pid, &victim.component.cmdline_marker(paths));
    for victim in victims {
        if alive(&victim) {
            eprintln!(
                "[stack] stopping {} (pid {})",
                victim.component.name(),
                victim.pid
            );
            signal(victim.pid, "TERM");
        } else {
            eprintln!(
                "[stack] {} (pid {}) has already exited",
                victim.component.name(),
                victim.pid
            );
        }
    }
    while victims.iter().any(|v| alive(&v)) && started.elapsed() < STOP_TIMEOUT {
        sleep(Duration::from_millis(100));
    }
    for victim in victims.iter().filter(alive) {
        eprintln!(
            "[stack] {} (pid {}) ignored SIGTERM for {}s; sending SIGKILL",
            victim.component.name(),
            victim.pid,
            STOP_TIMEOUT.as_secs()
        );
        signal(victim.pid, "KILL");
    }
    let kill_deadline = Instant::now() + Duration::from_secs(5);
    while victims.iter().any(|v| alive(&v)) && Instant::now() < kill_deadline {
        sleep(Duration::from_millis(100));
    }
    for victim in victims {
        if alive(&victim) {
            eprintln!(
                "[stack] warning: {} (pid {}) is still running",
                victim.component.name(),
                victim.pid
            );
        } else {
            let _ = fs::remove_file(victim.component.pid_file(paths));
        }
    }
    eprintln!(
        "[stack] stopped {} process(es) in {}",
        victims.len(),
        secs(started.elapsed())
    );
}

/// Moves an existing log aside (`x.log` -> `x.log.1`) and opens a fresh one.
fn fresh_log(path: &Path) -> Result<File> {
    if path.exists() {
        let mut previous = path.as_os_str().to_owned();
        previous.push(".1");
        fs::rename(path, &previous)
            .with_context(|| format!("cannot rotate log file {}", path.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create log file {}", path.display()))
}

/// Spawns a background process in its own process group (so Ctrl-C in the terminal that ran
/// xtask does not reach it), with stdout and stderr appended to `log`.
fn spawn_detached(mut command: Command, log: &Path, what: &str) -> Result<Child> {
    let file = fresh_log(log)?;
    let stderr = file
        .try_clone()
        .with_context(|| format!("cannot reopen log file {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    command.spawn().with_context(|| {
        format!(
            "cannot start {what} ({:?}); is Java installed?",
            command.get_program()
        )
    })
}

fn port_in_use(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn ensure_port_free(port: u16, what: &str, paths: &Paths) -> Result<()> {
    if port_in_use(port) {
        bail!(
            "{HOST}:{port} (needed by {what}) is already in use by a process this stack did not \
             start (pid files: {}); stop that process and retry",
            paths.pids.display()
        );
    }
    Ok(())
}

fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

fn print_tail(path: &Path) {
    eprintln!(
        "[stack] ---- last {TAIL_LINES} lines of {} ----",
        path.display()
    );
    eprintln!("{}", tail(path, TAIL_LINES));
    eprintln!("[stack] ---- end of {} ----", path.display());
}

fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// Serialises `up`/`down` across processes with a pid-stamped lock file.
struct StackLock {
    path: PathBuf,
}

impl StackLock {
    fn acquire(stack: &Path) -> Result<Self> {
        let path = stack.join("lock");
        let started = Instant::now();
        let mut announced = false;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(StackLock { path });
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                    let holder = read_pid(&path);
                    let young = fs::metadata(&path)
                        .and_then(|meta| meta.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                        .is_some_and(|age| age < Duration::from_secs(5));
                    let held = match holder {
                        Some(pid) => process_exists(pid),
                        // Being written right now, or garbage left behind.
                        None => young,
                    };
                    if !held {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_TIMEOUT {
                        bail!(
                            "timed out waiting for {} (held by pid {}); remove it if no other \
                             `cargo xtask stack` command is running",
                            path.display(),
                            holder.map_or_else(|| "?".to_string(), |pid| pid.to_string())
                        );
                    }
                    if !announced {
                        eprintln!(
                            "[stack] waiting for another xtask stack command (lock {})",
                            path.display()
                        );
                        announced = true;
                    }
                    sleep(Duration::from_millis(250));
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", path.display())),
    }
}

// ---------------------------------------------------------------------------------------------
// Artifacts

/// Runs `mvn` with its output in `log`; on failure prints the log's tail.
fn run_maven(args: &[String], log: &Path, what: &str) -> Result<()> {
    let file =
        File::create(log).with_context(|| format!("cannot create log file {}", log.display()))?;
    let stderr = file
        .try_clone()
        .with_context(|| format!("cannot reopen log file {}", log.display()))?;
    let status = Command::new("mvn")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .status();
    let status = match status {
        Ok(status) => status,
        Err(err) if err.kind() == ErrorKind::NotFound => bail!(
            "Apache Maven (`mvn`) is needed to download {what} from Maven Central but was not \
             found on PATH; install it (e.g. `apt-get install maven`) and retry"
        ),
        Err(err) => return Err(err).context("cannot run `mvn`"),
    };
    if !status.success() {
        print_tail(log);
        bail!(
            "`mvn` failed ({status}) while downloading {what}; see {}",
            log.display()
        );
    }
    Ok(())
}

fn resolve_kafka(paths: &Paths) -> Result<()> {
    let marker = paths.kafka_home.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    let started = Instant::now();
    fs::create_dir_all(&paths.kafka_home)
        .with_context(|| format!("cannot create {}", paths.kafka_home.display()))?;
    if paths.kafka_libs.exists() {
        fs::remove_dir_all(&paths.kafka_libs)
            .with_context(|| format!("cannot remove {}", paths.kafka_libs.display()))?;
    }
    let pom = paths.kafka_home.join("pom.xml");
    fs::write(&pom, KAFKA_POM).with_context(|| format!("cannot write {}", pom.display()))?;
    let log = paths.kafka_home.join("mvn.log");
    eprintln!(
        "[stack] resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central (log: {}) ...",
        log.display()
    );
    let args = vec![
        "-B".to_string(),
        "-ntp".to_string(),
        "-f".to_string(),
        pom.display().to_string(),
        format!("{DEPENDENCY_PLUGIN}:copy-dependencies"),
        "-DincludeScope=runtime".to_string(),
        format!("-DoutputDirectory={}", paths.kafka_libs.display()),
    ];
    run_maven(
        &args,
        &log,
        &format!("the Apache Kafka {KAFKA_VERSION} jars"),
    )?;

    let main_jar = paths
        .kafka_libs
        .join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    ensure!(
        main_jar.exists(),
        "`mvn` succeeded but {} is missing; see {}",
        main_jar.display(),
        log.display()
    );
    let (count, bytes) = dir_stats(&paths.kafka_libs)?;
    fs::write(&marker, "").with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[stack] kafka jars ready ({count} jars, {} MB) in {}",
        bytes / 1_000_000,
        secs(started.elapsed())
    );
    Ok(())
}

fn dir_stats(dir: &Path) -> Result<(usize, u64)> {
    let mut count = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot stat {}", entry.path().display()))?;
        if meta.is_file() {
            count += 1;
            bytes += meta.len();
        }
    }
    Ok((count, bytes))
}

fn resolve_registry(paths: &Paths) -> Result<()> {
    let home = &paths.apicurio_home;
    let marker = home.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    let started = Instant::now();
    if home.exists() {
        fs::remove_dir_all(home).with_context(|| format!("cannot remove {}", home.display()))?;
    }
    fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let log = home.join("mvn.log");
    eprintln!(
        "[stack] resolving Apicurio Registry {APICURIO_VERSION} from Maven Central (log: {}) ...",
        log.display()
    );
    let args = vec![
        "-B".to_string(),
        "-ntp".to_string(),
        format!("{DEPENDENCY_PLUGIN}:copy"),
        format!("-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"),
        format!("-DoutputDirectory={}", home.display()),
    ];
    run_maven(
        &args,
        &log,
        &format!("Apicurio Registry {APICURIO_VERSION}"),
    )?;

    let tarball = home.join(format!(
        "apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    ));
    let output = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(home)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `tar` to extract {}", tarball.display()))?;
    if !output.status.success() {
        bail!(
            "`tar -xzf {}` failed ({}): {}",
            tarball.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    fs::remove_file(&tarball).with_context(|| format!("cannot remove {}", tarball.display()))?;
    let jar = paths.registry_jar();
    ensure!(
        jar.exists(),
        "{} is missing after extracting the Apicurio Registry distribution",
        jar.display()
    );
    fs::write(&marker, "").with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[stack] registry unpacked into {} in {}",
        home.display(),
        secs(started.elapsed())
    );
    Ok(())
}

/// The Java used for Kafka: `$JAVA_HOME/bin/java`, else `java` on PATH.
fn kafka_java() -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|home| !home.is_empty()) {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.exists() {
            return java;
        }
    }
    PathBuf::from("java")
}

/// Major version from `java -version` (e.g. `openjdk version "17.0.15"` or `"1.8.0_392"`).
fn java_major(java: &Path) -> Option<u32> {
    let output = Command::new(java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text.split('"').nth(1)?;
    parse_java_major(version)
}

fn parse_java_major(version: &str) -> Option<u32> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

/// A Java 21+ for Apicurio Registry: `$KAFKA_REST_REGISTRY_JAVA`, `$JAVA_HOME`, the newest JDK
/// under `/usr/lib/jvm`, or `java` on PATH.
fn find_registry_java() -> Result<PathBuf> {
    const NEEDED: u32 = 21;
    if let Some(java) = std::env::var_os("KAFKA_REST_REGISTRY_JAVA").filter(|j| !j.is_empty()) {
        let java = PathBuf::from(java);
        return match java_major(&java) {
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
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|home| !home.is_empty()) {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.exists() && java_major(&java).is_some_and(|major| major >= NEEDED) {
            return Ok(java);
        }
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir("/usr/lib/jvm") {
        for entry in entries.flatten() {
            let dir = entry.path();
            let java = dir.join("bin").join("java");
            let Ok(release) = fs::read_to_string(dir.join("release")) else {
                continue;
            };
            let major = release
                .lines()
                .find_map(|line| line.strip_prefix("JAVA_VERSION="))
                .and_then(|value| parse_java_major(value.trim().trim_matches('"')));
            if let Some(major) = major {
                if major >= NEEDED
                    && java.exists()
                    && best.as_ref().is_none_or(|(best, _)| major > *best)
                {
                    best = Some((major, java));
                }
            }
        }
    }
    if let Some((_, java)) = best {
        return Ok(java);
    }
    let java = PathBuf::from("java");
    if java_major(&java).is_some_and(|major| major >= NEEDED) {
        return Ok(java);
    }
    bail!(
        "Apicurio Registry {APICURIO_VERSION} (the local schema registry) needs Java {NEEDED}+, \
         but none was found (checked $KAFKA_REST_REGISTRY_JAVA, $JAVA_HOME, /usr/lib/jvm/*/release \
         and `java` on PATH). Install a JDK {NEEDED}+ (e.g. Temurin 21) and set \
         KAFKA_REST_REGISTRY_JAVA=/path/to/jdk/bin/java"
    )
}

// ---------------------------------------------------------------------------------------------
// Kafka

fn kafka_properties(paths: &Paths, node: u8, brokers: u8) -> String {
    let voters = (1..=brokers)
        .map(|j| format!("{j}@{HOST}:{}", controller_port(j)))
        .collect::<Vec<_>>()
        .join(",");
    let replication = brokers.min(3);
    let min_isr = if replication >= 3 { 2 } else { 1 };
    let data = paths.data.join(format!("kafka-{node}"));
    let broker = broker_port(node);
    let controller = controller_port(node);
    format!(
        "# Written by `cargo xtask stack up`; regenerated on every start.\n\
         process.roles=broker,controller\n\
         node.id={node}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://{HOST}:{broker},CONTROLLER://{HOST}:{controller}\n\
         advertised.listeners=PLAINTEXT://{HOST}:{broker}\n\
         inter.broker.listener.name=PLAINTEXT\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         default.replication.factor={replication}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={replication}\n\
         offsets.topic.num.partitions=1\n\
         transaction.state.log.replication.factor={replication}\n\
         transaction.state.log.min.isr={min_isr}\n\
         transaction.state.log.num.partitions=1\n\
         share.coordinator.state.topic.replication.factor={replication}\n\
         share.coordinator.state.topic.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=false\n\
         num.network.threads=2\n\
         num.io.threads=2\n\
         num.recovery.threads.per.data.dir=1\n\
         log.cleaner.dedupe.buffer.size=16777216\n\
         message.max.bytes=16777216\n\
         replica.fetch.max.bytes=16777216\n",
        data = data.display(),
    )
}

fn kafka_classpath(paths: &Paths) -> String {
    format!("{}/*", paths.kafka_libs.display())
}

/// Formats the given nodes' storage (in parallel; each is a short-lived JVM).
fn format_kafka(paths: &Paths, java: &Path, nodes: &[u8]) -> Result<()> {
    let mut running = Vec::new();
    for &node in nodes {
        eprintln!("[stack] formatting kafka-{node}");
        let data = paths.data.join(format!("kafka-{node}"));
        if data.exists() {
            fs::remove_dir_all(&data)
                .with_context(|| format!("cannot remove {}", data.display()))?;
        }
        let child = Command::new(java)
            .arg("-Xmx256m")
            .arg("-cp")
            .arg(kafka_classpath(paths))
            .args(["kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c"])
            .arg(kafka_conf(paths, node))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} to format kafka-{node}; is Java 17+ installed?",
                    java.display()
                )
            })?;
        running.push((node, child));
    }
    let mut failures = Vec::new();
    for (node, child) in running {
        let output = child
            .wait_with_output()
            .with_context(|| format!("formatting kafka-{node} failed"))?;
        if !output.status.success() {
            failures.push(format!(
                "kafka-{node} ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "formatting Kafka storage failed:\n{}",
        failures.join("\n")
    );
    Ok(())
}

fn start_kafka(paths: &Paths, java: &Path, node: u8) -> Result<u32> {
    let log = Component::Kafka(node).log_file(paths);
    eprintln!(
        "[stack] starting kafka-{node} on {HOST}:{} (log: {})",
        broker_port(node),
        log.display()
    );
    let mut command = Command::new(java);
    command
        .args([
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
        ])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            paths.log4j2().display()
        ))
        .arg(format!("-Dkafka.logs.dir={}", paths.logs.display()))
        .arg("-cp")
        .arg(kafka_classpath(paths))
        .arg("kafka.Kafka")
        .arg(kafka_conf(paths, node))
        .current_dir(&paths.stack);
    let child = spawn_detached(command, &log, &format!("kafka-{node}"))?;
    let pid = child.id();
    write_pid(paths, Component::Kafka(node), pid)?;
    Ok(pid)
}

/// Topics of the Confluent quickstart, created up front so that its curl commands work verbatim
/// although the local brokers do not create topics on first use (`auto.create.topics.enable`
/// is off, so tests can see 40401 for unknown topics).
const QUICKSTART_TOPICS: &[&str] = &[
    "jsontest",
    "binarytest",
    "avrotest",
    "jsonschematest",
    "protobuftest",
];

/// Creates the quickstart topics that do not exist yet.
fn create_quickstart_topics(brokers: u8) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(brokers))
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka admin client for the local stack")?;
    let replication = i32::from(brokers.min(3));
    let topics: Vec<NewTopic<'_>> = QUICKSTART_TOPICS
        .iter()
        .map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = futures::executor::block_on(admin.create_topics(&topics, &opts))
        .context("cannot create the quickstart topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create quickstart topic {name}: {code}"),
        }
    }
    Ok(())
}

fn metadata_client(bootstrap: &str) -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("socket.connection.setup.timeout.ms", "2000")
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka client to probe the local stack")
}

/// Asks node `node` itself (a fresh client knows no other broker yet) for the cluster metadata;
/// ready when it answers and lists every broker. Probing each node separately matters after a
/// restart: the other nodes keep listing a killed broker until its session expires.
fn probe_node(node: u8, brokers: u8) -> Result<()> {
    let client = metadata_client(&format!("{HOST}:{}", broker_port(node)))?;
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(2))
        .map_err(|err| anyhow::anyhow!("no metadata answer ({err})"))?;
    let registered = metadata.brokers().len();
    ensure!(
        registered == usize::from(brokers),
        "{registered} of {brokers} broker(s) registered"
    );
    Ok(())
}

/// Waits until every node answers; quiet when nothing was started (a reused stack).
fn wait_for_kafka(paths: &Paths, brokers: u8, verbose: bool) -> Result<()> {
    let timeout = Duration::from_secs(if brokers == 1 { 90 } else { 180 });
    if verbose {
        eprintln!("[stack] waiting for {brokers} broker(s)...");
    }
    let started = Instant::now();
    let mut pending: Vec<u8> = (1..=brokers).collect();
    let mut next_report = Duration::from_secs(5);
    let failure = loop {
        let mut last = String::new();
        while let Some(&node) = pending.first() {
            match probe_node(node, brokers) {
                Ok(()) => {
                    pending.remove(0);
                }
                Err(err) => {
                    last = format!("kafka-{node}: {err}");
                    break;
                }
            }
        }
        if pending.is_empty() {
            if verbose {
                eprintln!("[stack] kafka ready in {}", secs(started.elapsed()));
            }
            return Ok(());
        }
        if let Some(dead) = (1..=brokers).find(|&i| !Component::Kafka(i).state(paths).is_running())
        {
            break format!("kafka-{dead} exited while starting");
        }
        if started.elapsed() > timeout {
            break format!(
                "kafka did not become ready within {}s ({last})",
                timeout.as_secs()
            );
        }
        if started.elapsed() >= next_report {
            eprintln!(
                "[stack]   still waiting for kafka ({}s, {last})",
                next_report.as_secs()
            );
            next_report += Duration::from_secs(5);
        }
        sleep(Duration::from_millis(500));
    };
    let logs: Vec<PathBuf> = (1..=brokers)
        .map(|i| Component::Kafka(i).log_file(paths))
        .collect();
    for log in &logs {
        print_tail(log);
    }
    bail!(
        "{failure}; see {}",
        logs.iter()
            .map(|log| log.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Registry

fn start_registry(paths: &Paths, java: &Path) -> Result<u32> {
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
fn wait_for_registry(paths: &Paths, launched: Option<Instant>) -> Result<()> {
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
    print_tail(&log);
    bail!("{failure}; see {}", log.display())
}

/// Confluent Schema Registry defaults to BACKWARD; make the registry behave the same.
fn configure_registry() -> Result<()> {
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
fn http_request(method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
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

// ---------------------------------------------------------------------------------------------
// Orchestration

fn start_and_wait(
    paths: &Paths,
    brokers: u8,
    alive_kafka: &[u8],
    kafka_java: &Path,
    registry_java: &Path,
    launched: &mut Vec<Launched>,
) -> Result<()> {
    let to_start: Vec<u8> = (1..=brokers)
        .filter(|node| !alive_kafka.contains(node))
        .collect();
    if !to_start.is_empty() {
        let fresh = alive_kafka.is_empty();
        if fresh && paths.data.exists() {
            // Nothing of a previous cluster is running: start from clean storage.
            fs::remove_dir_all(&paths.data)
                .with_context(|| format!("cannot remove {}", paths.data.display()))?;
        }
        fs::create_dir_all(&paths.data)
            .with_context(|| format!("cannot create {}", paths.data.display()))?;
        fs::write(&paths.brokers_file, format!("{brokers}\n"))
            .with_context(|| format!("cannot write {}", paths.brokers_file.display()))?;
        fs::write(paths.log4j2(), KAFKA_LOG4J2)
            .with_context(|| format!("cannot write {}", paths.log4j2().display()))?;
        for node in 1..=brokers {
            let conf = kafka_conf(paths, node);
            fs::write(&conf, kafka_properties(paths, node, brokers))
                .with_context(|| format!("cannot write {}", conf.display()))?;
        }
        // A restarted node of a running cluster keeps its storage unless it is gone.
        let unformatted: Vec<u8> = to_start
            .iter()
            .copied()
            .filter(|&node| {
                !paths
                    .data
                    .join(format!("kafka-{node}"))
                    .join("meta.properties")
                    .exists()
            })
            .collect();
        for &node in &to_start {
            ensure_port_free(broker_port(node), &format!("kafka-{node}"), paths)?;
            ensure_port_free(controller_port(node), &format!("kafka-{node}"), paths)?;
        }
        if !Component::Registry.state(paths).is_running() {
            ensure_port_free(registry_port(), "the schema registry", paths)?;
        }
        format_kafka(paths, kafka_java, &unformatted)?;
        // Start every node before waiting: a multi-node quorum needs a majority of voters.
        for &node in &to_start {
            let pid = start_kafka(paths, kafka_java, node)?;
            launched.push(Launched {
                component: Component::Kafka(node),
                pid,
            });
        }
    }
    let registry_launched = if Component::Registry.state(paths).is_running() {
        None
    } else {
        let at = Instant::now();
        let pid = start_registry(paths, registry_java)?;
        launched.push(Launched {
            component: Component::Registry,
            pid,
        });
        Some(at)
    };
    wait_for_kafka(paths, brokers, !to_start.is_empty())?;
    wait_for_registry(paths, registry_launched)?;
    if registry_launched.is_some() {
        configure_registry()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions() {
        assert_eq!(parse_java_major("17.0.15"), Some(17));
        assert_eq!(parse_java_major("21"), Some(21));
        assert_eq!(parse_java_major("25.0.3"), Some(25));
        assert_eq!(parse_java_major("1.8.0_392"), Some(8));
        assert_eq!(parse_java_major("x"), None);
    }

    #[test]
    fn three_node_properties() {
        // Ports move with KAFKA_REST_STACK_PORT_OFFSET (set when ci runs beside another stack).
        let o = port_offset();
        let paths = Paths::new();
        let props = kafka_properties(&paths, 2, 3);
        assert!(props.contains("node.id=2\n"));
        let voters = format!(
            "controller.quorum.voters=1@127.0.0.1:{},2@127.0.0.1:{},3@127.0.0.1:{}\n",
            19092 + o,
            19093 + o,
            19094 + o
        );
        assert!(props.contains(&voters), "{props}");
        let listeners = format!(
            "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\n",
            9093 + o,
            19093 + o
        );
        assert!(props.contains(&listeners), "{props}");
        assert!(props.contains("default.replication.factor=3\n"));
        assert!(props.contains("min.insync.replicas=2\n"));
        assert_eq!(
            bootstrap(3),
            format!(
                "127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
                9092 + o,
                9093 + o,
                9094 + o
            )
        );
    }
}
