//! The local Kafka + Schema Registry stack used for development and CI.
//!
//! This module owns everything about that stack: resolving the artifacts (Apache Kafka jars and
//! the Apicurio Registry distribution, both from Maven Central via `mvn`), writing the KRaft node
//! configurations, formatting and starting 1..N combined broker/controller nodes plus the
//! registry as detached background processes, waiting until they answer, and stopping them
//! again. Only processes recorded in the stack's pid files are ever signalled.
//!
//! This file is the public face (`up`, `down`, `status`, `running`, `StackInfo`, `pid_dir`,
//! `log_dir`) and the order in which things start and stop. The rest is one concern per file:
//! `paths.rs` (locations, ports, component names), `process.rs` (pid files, signals, the lock),
//! `maven.rs` (artifacts), `kafka.rs` (the brokers) and `registry.rs` (the schema registry).
//!
//! Layout under the cache root (`$KAFKA_REST_CACHE`, else `$XDG_CACHE_HOME/kafka-rest`, else
//! `$HOME/.cache/kafka-rest`):
//!
//! - `kafka-4.2.1/libs/`: Kafka runtime jars (`.complete` marks a finished download)
//! - `apicurio-3.3.3/`: the extracted Apicurio Registry (`.complete` marks a finished download)
//! - `stack/`: runtime state: `pids/`, `data/`, `conf/`, `logs/` and `brokers` (the broker count
//!   of the running stack)

mod kafka;
mod maven;
mod paths;
mod process;
mod registry;
mod secure;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::consumer::Consumer;

pub(crate) use paths::cache_root;
use paths::stack_info;
use paths::{bootstrap, is_secure, read_broker_count, recorded_components, registry_port};
use paths::{broker_port, controller_port, Component, Paths, REGISTRY_API};
use process::{describe_stale, ensure_port_free, remove_file_if_exists, secs, stop_processes};
use process::{Launched, PidState, StackLock};
pub use secure::{Secure, PROXY_USER, USERS};

const KAFKA_VERSION: &str = "4.2.1";
const APICURIO_VERSION: &str = "3.3.3";
/// Largest supported cluster; also bounds the scan for stale kafka pid files.
const MAX_BROKERS: u8 = 9;

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
    /// The secured listeners, when the stack runs with `--secure`.
    pub secure: Option<Secure>,
}

/// Idempotent: reuses a running stack (same broker count) or starts one; resolves artifacts first.
/// A running secured stack is reused too: it keeps every plain listener.
pub fn up(brokers: u8) -> Result<StackInfo> {
    up_with(brokers, false)
}

/// [`up`], and with `secure` the secured listeners, users and certificates (`secure.rs`). A
/// running plain stack is not secured in place: `stack down` first.
pub fn up_with(brokers: u8, secure: bool) -> Result<StackInfo> {
    ensure!(
        (1..=MAX_BROKERS).contains(&brokers),
        "unsupported broker count {brokers}: the local stack runs 1 to {MAX_BROKERS} Kafka nodes"
    );
    let paths = Paths::new();
    paths.create_state_dirs()?;
    let _lock = StackLock::acquire(&paths.stack)?;
    let started = Instant::now();

    maven::resolve_kafka(&paths)?;
    maven::resolve_registry(&paths)?;
    let registry_java = registry::find_registry_java()?;
    let kafka_java = kafka::kafka_java()?;

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
        if secure && info.secure.is_none() {
            bail!(
                "a plain {brokers}-broker stack is running (state in {}); run `cargo xtask stack \
                 down` before `stack up --secure`",
                paths.stack.display()
            );
        }
        kafka::create_quickstart_topics(brokers)?;
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
        if secure && !is_secure(&paths) {
            bail!(
                "plain kafka processes are running (state in {}); run `cargo xtask stack down` \
                 before `stack up --secure`",
                paths.stack.display()
            );
        }
        if let Some(extra) = alive_kafka.iter().find(|&&i| i > brokers) {
            bail!(
                "kafka-{extra} is running although the stack records {brokers} broker(s); run \
                 `cargo xtask stack down` first"
            );
        }
    }

    let mut launched: Vec<Launched> = Vec::new();
    // A restarted node of a running stack keeps the stack's mode.
    let secure = secure || (!alive_kafka.is_empty() && is_secure(&paths));
    let result = start_and_wait(
        &paths,
        brokers,
        secure,
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

    kafka::create_quickstart_topics(brokers)?;
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
    if let Some(secure) = &info.secure {
        secure.print_summary();
    }
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
    remove_file_if_exists(&paths.secure_file)?;
    if paths.tls.exists() {
        fs::remove_dir_all(&paths.tls)
            .with_context(|| format!("cannot remove {}", paths.tls.display()))?;
    }
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
    let consumer = kafka::metadata_client(&bootstrap(brokers)).ok()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(5)).ok()?;
    if metadata.brokers().len() != usize::from(brokers) {
        return None;
    }
    match registry::http_request("GET", &format!("{REGISTRY_API}/subjects"), None) {
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

fn start_and_wait(
    paths: &Paths,
    brokers: u8,
    secure: bool,
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
        if fresh {
            if secure {
                secure::write_material(paths)?;
                fs::write(&paths.secure_file, "SASL_SSL and SSL listeners\n")
                    .with_context(|| format!("cannot write {}", paths.secure_file.display()))?;
                let users: Vec<&str> = USERS.iter().map(|(user, _)| *user).collect();
                eprintln!(
                    "[stack] secured listeners: SASL_SSL (PLAIN, SCRAM-SHA-256/512 users {}) and \
                     SSL (client certificates); super user {PROXY_USER}",
                    users.join(", ")
                );
            } else {
                remove_file_if_exists(&paths.secure_file)?;
            }
        }
        kafka::write_configs(paths, brokers, secure)?;
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
            if secure {
                ensure_port_free(secure::sasl_ssl_port(node), &format!("kafka-{node}"), paths)?;
                ensure_port_free(secure::ssl_port(node), &format!("kafka-{node}"), paths)?;
            }
        }
        if !Component::Registry.state(paths).is_running() {
            ensure_port_free(registry_port(), "the schema registry", paths)?;
        }
        kafka::format_kafka(paths, kafka_java, &unformatted, secure)?;
        // Start every node before waiting: a multi-node quorum needs a majority of voters.
        for &node in &to_start {
            let pid = kafka::start_kafka(paths, kafka_java, node)?;
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
        let pid = registry::start_registry(paths, registry_java)?;
        launched.push(Launched {
            component: Component::Registry,
            pid,
        });
        Some(at)
    };
    kafka::wait_for_kafka(paths, brokers, !to_start.is_empty())?;
    registry::wait_for_registry(paths, registry_launched)?;
    if registry_launched.is_some() {
        registry::configure_registry()?;
    }
    Ok(())
}
