//! Where the local stack lives and how it is reached: the locations under the cache root, the
//! ports (moved by `KAFKA_REST_STACK_PORT_OFFSET`) and addresses, the names of the stack's
//! components with their pid and log files, and the broker count the running stack recorded.
//!
//! Owns names only: nothing here starts, stops or signals a process (`process.rs`), downloads
//! anything (`maven.rs`) or talks to Kafka or the registry (`kafka.rs`, `registry.rs`).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::secure::Secure;
use super::{StackInfo, APICURIO_VERSION, KAFKA_VERSION};

/// Every process of the stack listens on this address only.
pub(super) const HOST: &str = "127.0.0.1";
/// The registry's port before `KAFKA_REST_STACK_PORT_OFFSET` (see [`port_offset`]).
const REGISTRY_BASE_PORT: u16 = 8081;
/// The path of the registry's Confluent-compatible API.
pub(super) const REGISTRY_API: &str = "/apis/ccompat/v7";

/// All locations, derived from the environment (never hard-coded).
pub(super) struct Paths {
    pub(super) kafka_home: PathBuf,
    pub(super) kafka_libs: PathBuf,
    pub(super) apicurio_home: PathBuf,
    pub(super) stack: PathBuf,
    pub(super) pids: PathBuf,
    pub(super) data: PathBuf,
    pub(super) conf: PathBuf,
    pub(super) logs: PathBuf,
    pub(super) brokers_file: PathBuf,
    /// Present while the stack runs secured (`stack up --secure`).
    pub(super) secure_file: PathBuf,
    /// The secured stack's CA, certificates and keys (`secure.rs`).
    pub(super) tls: PathBuf,
}

impl Paths {
    pub(super) fn new() -> Self {
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
            secure_file: stack.join("secure"),
            tls: stack.join("tls"),
            stack,
        }
    }

    pub(super) fn create_state_dirs(&self) -> Result<()> {
        for dir in [&self.stack, &self.pids, &self.data, &self.conf, &self.logs] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(())
    }

    pub(super) fn registry_jar(&self) -> PathBuf {
        self.apicurio_home.join("quarkus-run.jar")
    }

    pub(super) fn log4j2(&self) -> PathBuf {
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
pub(super) enum Component {
    /// Kafka node with this 1-based id.
    Kafka(u8),
    Registry,
}

impl Component {
    pub(super) fn name(self) -> String {
        match self {
            Component::Kafka(i) => format!("kafka-{i}"),
            Component::Registry => "registry".to_string(),
        }
    }

    pub(super) fn pid_file(self, paths: &Paths) -> PathBuf {
        paths.pids.join(format!("{}.pid", self.name()))
    }

    pub(super) fn log_file(self, paths: &Paths) -> PathBuf {
        paths.logs.join(format!("{}.log", self.name()))
    }

    pub(super) fn address(self) -> String {
        match self {
            Component::Kafka(i) => format!("{HOST}:{}", broker_port(i)),
            Component::Registry => registry_url(),
        }
    }

    /// A string the process's command line must contain for it to be ours.
    pub(super) fn cmdline_marker(self, paths: &Paths) -> String {
        match self {
            Component::Kafka(i) => kafka_conf(paths, i).display().to_string(),
            Component::Registry => paths.registry_jar().display().to_string(),
        }
    }
}

/// `KAFKA_REST_STACK_PORT_OFFSET` (default 0) is added to every port of the stack, so that a
/// second stack (another checkout, or a 3-broker stack beside the usual one, each with its own
/// `KAFKA_REST_CACHE`) can run on the same machine.
pub(super) fn port_offset() -> u16 {
    std::env::var("KAFKA_REST_STACK_PORT_OFFSET")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub(super) fn registry_port() -> u16 {
    REGISTRY_BASE_PORT + port_offset()
}

pub(super) fn broker_port(node: u8) -> u16 {
    9091 + u16::from(node) + port_offset()
}

pub(super) fn controller_port(node: u8) -> u16 {
    19091 + u16::from(node) + port_offset()
}

pub(super) fn bootstrap(brokers: u8) -> String {
    (1..=brokers)
        .map(|i| format!("{HOST}:{}", broker_port(i)))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn registry_url() -> String {
    format!("http://{HOST}:{}{REGISTRY_API}", registry_port())
}

pub(super) fn stack_info(brokers: u8, started_now: bool) -> StackInfo {
    let paths = Paths::new();
    StackInfo {
        bootstrap: bootstrap(brokers),
        registry_url: registry_url(),
        brokers,
        started_now,
        secure: is_secure(&paths).then(|| Secure::new(&paths, brokers)),
    }
}

/// Whether the recorded stack runs secured.
pub(super) fn is_secure(paths: &Paths) -> bool {
    paths.secure_file.exists()
}

pub(super) fn kafka_conf(paths: &Paths, node: u8) -> PathBuf {
    paths.conf.join(format!("kafka-{node}.properties"))
}

pub(super) fn read_broker_count(paths: &Paths) -> Option<u8> {
    fs::read_to_string(&paths.brokers_file)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Components that have a pid file, with that file.
pub(super) fn recorded_components(paths: &Paths) -> Result<Vec<(Component, PathBuf)>> {
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
