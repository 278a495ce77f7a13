//! Configuration: the Confluent `kafka-rest.properties` file, then `KAFKA_REST_*` environment
//! overrides, then `validate()` into one typed [`Config`].
//!
//! This module owns parsing and validation only. It knows the Confluent property names and our
//! own additions; it does not open sockets or create Kafka clients (that is `app.rs` and the
//! services), and it never exits the process (that is `main.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::schema::SubjectNameStrategy;

/// Where a property value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a properties file.
    File { path: PathBuf, line: usize },
    /// An environment variable.
    Env { var: String },
    /// Set by the caller (tests, embedding).
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Code => write!(f, "built-in settings"),
        }
    }
}

/// Why a configuration could not be loaded. Every variant names the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: invalid value {value:?} for `{key}`: {reason}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        reason: String,
    },
    #[error("missing required setting `{key}` (set it in the config file or as {env})")]
    Missing { key: String, env: String },
}

/// A raw property with where it came from.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: Origin,
}

/// The untyped layer: properties from the file, overridden by the environment.
#[derive(Debug, Default, Clone)]
pub struct Properties {
    entries: BTreeMap<String, Entry>,
}

impl Properties {
    /// Parses Java `.properties` text (the format of the Confluent config files).
    pub fn parse(text: &str, path: &Path) -> Properties {
        let mut props = Properties::default();
        for (line, key, value) in parse_properties(text) {
            props.entries.insert(
                key,
                Entry {
                    value,
                    origin: Origin::File {
                        path: path.to_path_buf(),
                        line,
                    },
                },
            );
        }
        props
    }

    /// Reads and parses a properties file.
    pub fn from_file(path: &Path) -> Result<Properties, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Properties::parse(&text, path))
    }

    /// Applies `KAFKA_REST_*` variables, named as in Confluent's container images:
    /// `.` becomes `_`, `-` becomes `__` and `_` becomes `___`, upper case.
    pub fn apply_env<I, K, V>(&mut self, vars: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (var, value) in vars {
            let var = var.as_ref();
            // The proxy's own process settings, not configuration keys.
            if PROCESS_ENV_VARS.contains(&var) {
                continue;
            }
            if let Some(key) = env_var_to_key(var) {
                self.entries.insert(
                    key,
                    Entry {
                        value: value.as_ref().to_string(),
                        origin: Origin::Env {
                            var: var.to_string(),
                        },
                    },
                );
            }
        }
    }

    /// Sets one property from code (tests and embedding).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.entries.insert(
            key.to_string(),
            Entry {
                value: value.into(),
                origin: Origin::Code,
            },
        );
        self
    }

    fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }
}

/// Splits `.properties` text into `(line number, key, value)`, following `java.util.Properties`:
/// `#`/`!` comments, `=`, `:` or white space as separator, `\` line continuation and escapes.
fn parse_properties(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let first = raw.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues the line.
        let mut logical = first.to_string();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        out.push((index + 1, unescape(&key), unescape(&value)));
    }
    out
}

fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            key.push(c);
            key.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '=' || c == ':' || c.is_whitespace() {
            break;
        }
        key.push(c);
        i += 1;
    }
    // Skip white space, then at most one `=` or `:`, then white space again.
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if i < chars.len() && (chars[i] == '=' || chars[i] == ':') {
        i += 1;
    }
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let value: String = chars[i..].iter().collect();
    (key, value)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// `KAFKA_REST_BOOTSTRAP_SERVERS` -> `bootstrap.servers`; `None` for other variables.
pub fn env_var_to_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("KAFKA_REST_")?;
    if rest.is_empty() {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    let mut key = String::with_capacity(lower.len());
    let mut underscores = 0;
    let flush = |key: &mut String, n: usize| {
        // Runs of underscores: every `___` is `_`, then a `__` is `-`, then a `_` is `.`.
        let (triples, rest) = (n / 3, n % 3);
        key.extend(std::iter::repeat_n('_', triples));
        match rest {
            1 => key.push('.'),
            2 => key.push('-'),
            _ => {}
        }
    };
    for c in lower.chars() {
        if c == '_' {
            underscores += 1;
        } else {
            flush(&mut key, underscores);
            underscores = 0;
            key.push(c);
        }
    }
    flush(&mut key, underscores);
    Some(key)
}

/// The inverse of [`env_var_to_key`], used in error messages.
pub fn key_to_env_var(key: &str) -> String {
    let mut var = String::from("KAFKA_REST_");
    for c in key.chars() {
        match c {
            '.' => var.push('_'),
            '-' => var.push_str("__"),
            '_' => var.push_str("___"),
            c => var.push(c.to_ascii_uppercase()),
        }
    }
    var
}

/// One HTTP listener (`listeners` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The `host:port` to bind; an empty host means all interfaces.
    pub fn bind_addr(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The typed configuration of one proxy process.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listeners to bind (`listeners`, default `http://0.0.0.0:8082`).
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, used for consumer `base_uri`s.
    pub advertised_listeners: Vec<Listener>,
    /// `host.name` (deprecated in Confluent, still used for `base_uri`).
    pub host_name: String,
    /// `port` (deprecated; used when `listeners` is empty and for `base_uri`).
    pub port: u16,
    /// `id`: this instance's id, part of generated consumer names.
    pub id: String,
    /// `bootstrap.servers` (required).
    pub bootstrap_servers: String,
    /// `schema.registry.url`; `None` when set to an empty string (schema formats disabled).
    pub schema_registry_url: Option<String>,
    /// Other `schema.registry.*` settings, prefix stripped.
    pub schema_registry: BTreeMap<String, String>,
    /// `schema.registry.key.subject.name.strategy`: the subject of key schemas.
    pub key_subject_name_strategy: SubjectNameStrategy,
    /// `schema.registry.value.subject.name.strategy`: the subject of value schemas.
    pub value_subject_name_strategy: SubjectNameStrategy,
    /// `schema.registry.http.connect.timeout.ms`: bound on connecting to the registry.
    pub schema_registry_connect_timeout: Duration,
    /// `schema.registry.http.read.timeout.ms`: bound on one whole registry call.
    pub schema_registry_request_timeout: Duration,
    /// `schema.registry.cache.capacity` (ours): entries in each schema cache.
    pub schema_registry_cache_capacity: usize,
    /// `client.*`: librdkafka settings for every client, prefix stripped.
    pub client: BTreeMap<String, String>,
    /// `producer.*`, prefix stripped; win over `client.*` for producers.
    pub producer: BTreeMap<String, String>,
    /// `consumer.*` (other than the proxy's own `consumer.` keys), prefix stripped.
    pub consumer: BTreeMap<String, String>,
    /// `admin.*`, prefix stripped; for the metadata client.
    pub admin: BTreeMap<String, String>,
    /// `consumer.instance.timeout.ms`: idle time after which a consumer instance is removed.
    pub consumer_instance_timeout: Duration,
    /// `consumer.request.timeout.ms`: the longest a records call waits.
    pub consumer_request_timeout: Duration,
    /// `consumer.request.max.bytes`: cap on key+value bytes of one records response.
    pub consumer_request_max_bytes: u64,
    /// `consumer.request.body.max.bytes` (ours): largest body of a consumer control call
    /// (create, subscribe, assign, offsets, positions); larger ones get 413.
    pub consumer_request_body_max_bytes: usize,
    /// `fetch.min.bytes` (proxy side): answer a records call early once this many bytes wait;
    /// -1 disables it.
    pub fetch_min_bytes: i64,
    /// `consumer.instances.max` (ours): how many consumer instances this process keeps at once.
    pub consumer_instances_max: usize,
    /// `access.control.allow.origin`; CORS is on when non-empty.
    pub access_control_allow_origin: String,
    /// `access.control.allow.methods`.
    pub access_control_allow_methods: String,
    /// `access.control.allow.headers`.
    pub access_control_allow_headers: String,
    /// `access.control.expose.headers`.
    pub access_control_expose_headers: String,
    /// `debug`: add error chains to 5xx messages.
    pub debug: bool,
    /// `metadata.timeout.ms` (ours): bound on one metadata request to Kafka.
    pub metadata_timeout: Duration,
    /// `metadata.cache.ms` (ours): how long one cluster metadata snapshot answers requests.
    pub metadata_cache: Duration,
    /// `shutdown.graceful.ms`: how long in-flight requests may finish after a shutdown signal.
    pub shutdown_graceful: Duration,
    /// Number of shared Kafka producers (`produce.pool.size`, 1..=16).
    pub produce_pool_size: usize,
    /// Longest a produce request waits for queue space and delivery (`produce.timeout.ms`).
    pub produce_timeout: Duration,
    /// Largest request body accepted (`request.body.max.bytes`); larger ones get 413.
    pub request_body_max_bytes: usize,
    /// Longest a client may take to send a request body (`request.body.timeout.ms`).
    pub request_body_timeout: Duration,
    /// `inflight.requests.max` (ours): requests admitted at once; more get `503` (the health
    /// probes are not counted). Read by `limits::Limits`.
    pub inflight_requests_max: usize,
    /// `inflight.bytes.max` (ours): request-body bytes admitted requests may hold at once; at
    /// least `request.body.max.bytes`. Read by `limits::Limits`.
    pub inflight_bytes_max: u64,
    /// A connection with no byte read or written for this long is closed
    /// (`connection.idle.timeout.ms`); longer than any wait of a request.
    pub connection_idle_timeout: Duration,
    /// `null.request.body.always.publishes.empty.record`: a null key or value in a schema
    /// format is a Kafka null even when the request names a schema for it.
    pub null_always_publishes_empty_record: bool,
    /// Warnings found while loading (unknown or ignored keys), for `main` to log.
    pub warnings: Vec<String>,
}

/// `KAFKA_REST_*` variables that are not configuration keys: the log filter of `main.rs`, and
/// those of the development tooling and tests.
const PROCESS_ENV_VARS: &[&str] = &[
    "KAFKA_REST_LOG",
    "KAFKA_REST_CACHE",
    "KAFKA_REST_REQUIRE_STACK",
    "KAFKA_REST_REGISTRY_JAVA",
    "KAFKA_REST_STACK_BROKERS",
    "KAFKA_REST_STACK_PIDS",
    "KAFKA_REST_STACK_PORT_OFFSET",
];

/// Keys of Confluent's config that are accepted for compatibility but have no effect here.
const IGNORED_KEYS: &[&str] = &[
    "client.timeout.ms",
    "client.init.timeout.ms",
    "consumer.iterator.backoff.ms",
    "consumer.iterator.timeout.ms",
    "consumer.threads",
    "producer.threads",
    "simpleconsumer.pool.size.max",
    "simpleconsumer.pool.timeout.ms",
    "response.mediatype.preferred",
    "response.mediatype.default",
    "compression.enable",
    "api.v3.enable",
    "thread.pool.min",
    "thread.pool.max",
    "request.logger.name",
    "zookeeper.connect",
];

/// Keys this proxy reads itself (everything else must be a prefixed pass-through or ignored).
const KNOWN_KEYS: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "host.name",
    "port",
    "id",
    "bootstrap.servers",
    "schema.registry.url",
    "consumer.instance.timeout.ms",
    "consumer.request.timeout.ms",
    "consumer.request.max.bytes",
    "consumer.request.body.max.bytes",
    "fetch.min.bytes",
    "consumer.instances.max",
    "access.control.allow.origin",
    "access.control.allow.methods",
    "access.control.allow.headers",
    "access.control.expose.headers",
    "debug",
    "metadata.timeout.ms",
    "metadata.cache.ms",
    "shutdown.graceful.ms",
    "produce.pool.size",
    "produce.timeout.ms",
    "request.body.max.bytes",
    "request.body.timeout.ms",
    "inflight.requests.max",
    "inflight.bytes.max",
    "connection.idle.timeout.ms",
    "null.request.body.always.publishes.empty.record",
];

/// Prefixes passed through to clients, in the order they are checked.
const PREFIXES: &[&str] = &[
    "schema.registry.",
    "client.",
    "producer.",
    "consumer.",
    "admin.",
];

impl Config {
    /// File (if any), then the process environment, then validation.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut props = match path {
            Some(path) => Properties::from_file(path)?,
            None => Properties::default(),
        };
        props.apply_env(std::env::vars());
        Config::from_properties(&props)
    }

    /// librdkafka settings for one kind of client: `bootstrap.servers`, then `client.*`, then
    /// the role's own map (`producer.*`, `consumer.*` or `admin.*`), later ones winning.
    pub fn kafka_settings(&self, role: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut settings = BTreeMap::new();
        settings.insert(
            "bootstrap.servers".to_string(),
            self.bootstrap_servers.clone(),
        );
        settings.extend(self.client.iter().map(|(k, v)| (k.clone(), v.clone())));
        settings.extend(role.iter().map(|(k, v)| (k.clone(), v.clone())));
        settings
    }

    /// A Kafka `client.id` for one of this proxy's clients, including the instance `id`.
    pub fn client_id(&self, role: &str) -> String {
        if self.id.is_empty() {
            format!("kafka-rest-{role}")
        } else {
            format!("kafka-rest-{}-{role}", self.id)
        }
    }

    /// Builds and validates the typed configuration.
    pub fn from_properties(props: &Properties) -> Result<Config, ConfigError> {
        let reader = Reader { props };
        let mut warnings = Vec::new();
        let mut maps: BTreeMap<&str, BTreeMap<String, String>> =
            PREFIXES.iter().map(|p| (*p, BTreeMap::new())).collect();

        for (key, entry) in &props.entries {
            if KNOWN_KEYS.contains(&key.as_str()) {
                continue;
            }
            if IGNORED_KEYS.contains(&key.as_str()) {
                warnings.push(format!(
                    "{}: `{key}` has no effect in this proxy; ignored",
                    entry.origin
                ));
                continue;
            }
            match PREFIXES.iter().find(|p| key.starts_with(**p)) {
                Some(prefix) => {
                    let stripped = &key[prefix.len()..];
                    if stripped.is_empty() {
                        warnings.push(format!("{}: empty key `{key}` ignored", entry.origin));
                    } else if let Some(map) = maps.get_mut(prefix) {
                        map.insert(stripped.to_string(), entry.value.clone());
                    }
                }
                None => warnings.push(format!("{}: unknown setting `{key}` ignored", entry.origin)),
            }
        }

        let port = reader.u16("port", 8082)?;
        let mut listeners = reader.listeners("listeners")?;
        if listeners.is_empty() {
            listeners.push(Listener {
                scheme: "http".into(),
                host: "0.0.0.0".into(),
                port,
            });
        }
        let bootstrap_servers = reader.string("bootstrap.servers", "");
        if bootstrap_servers.trim().is_empty() {
            return Err(ConfigError::Missing {
                key: "bootstrap.servers".into(),
                env: key_to_env_var("bootstrap.servers"),
            });
        }
        let schema_registry_url = {
            let url = reader.string("schema.registry.url", "http://localhost:8081");
            let url = url.trim().trim_end_matches('/').to_string();
            if url.is_empty() {
                None
            } else {
                reader.check("schema.registry.url", &url, |u| {
                    if u.starts_with("http://") || u.starts_with("https://") {
                        Ok(())
                    } else {
                        Err("expected an http:// or https:// URL".into())
                    }
                })?;
                Some(url)
            }
        };
        let key_subject_name_strategy = reader.parsed_with(
            "schema.registry.key.subject.name.strategy",
            Default::default(),
        )?;
        let value_subject_name_strategy = reader.parsed_with(
            "schema.registry.value.subject.name.strategy",
            Default::default(),
        )?;
        let schema_registry_cache_capacity = reader.u64("schema.registry.cache.capacity", 1000)?;
        reader.check(
            "schema.registry.cache.capacity",
            &schema_registry_cache_capacity.to_string(),
            |_| match schema_registry_cache_capacity {
                1..=1_000_000 => Ok(()),
                _ => Err("must be between 1 and 1000000".into()),
            },
        )?;
        let fetch_min_bytes = reader.i64("fetch.min.bytes", -1)?;
        reader.check(
            "fetch.min.bytes",
            &fetch_min_bytes.to_string(),
            |_| match fetch_min_bytes {
                -1..=10_000_000 => Ok(()),
                _ => Err("must be between -1 and 10000000".into()),
            },
        )?;

        let produce_pool_size = reader.u64("produce.pool.size", 1)?;
        reader.check("produce.pool.size", &produce_pool_size.to_string(), |_| {
            match produce_pool_size {
                1..=16 => Ok(()),
                _ => Err("must be between 1 and 16".into()),
            }
        })?;
        let produce_timeout = reader.millis("produce.timeout.ms", 30_000)?;
        reader.check(
            "produce.timeout.ms",
            &produce_timeout.as_millis().to_string(),
            |_| {
                if produce_timeout >= Duration::from_millis(1) {
                    Ok(())
                } else {
                    Err("must be at least 1".into())
                }
            },
        )?;
        let request_body_max_bytes = reader.u64("request.body.max.bytes", 64 << 20)?;
        let request_body_timeout = reader.millis("request.body.timeout.ms", 30_000)?;
        // There is no "unlimited": 0 would refuse every request, so it is rejected.
        let inflight_requests_max = reader.usize("inflight.requests.max", 1024)?;
        reader.check(
            "inflight.requests.max",
            &inflight_requests_max.to_string(),
            |_| match inflight_requests_max {
                0 => Err("must be at least 1".into()),
                _ => Ok(()),
            },
        )?;
        // A body of unknown length reserves `request.body.max.bytes`, so a smaller budget could
        // never admit one.
        let inflight_bytes_max = reader.u64("inflight.bytes.max", 256 << 20)?;
        reader.check(
            "inflight.bytes.max",
            &inflight_bytes_max.to_string(),
            |_| {
                if inflight_bytes_max >= request_body_max_bytes.max(1) {
                    Ok(())
                } else {
                    Err(format!(
                        "must be at least request.body.max.bytes ({request_body_max_bytes}) and at least 1"
                    ))
                }
            },
        )?;
        let consumer_request_timeout = reader.millis("consumer.request.timeout.ms", 1_000)?;
        let connection_idle_timeout = reader.millis("connection.idle.timeout.ms", 60_000)?;
        // The idle timer also runs while a request waits on Kafka, so it must outlast the
        // longest such wait.
        let longest_wait = produce_timeout.max(consumer_request_timeout) + Duration::from_secs(1);
        reader.check(
            "connection.idle.timeout.ms",
            &connection_idle_timeout.as_millis().to_string(),
            |_| {
                if connection_idle_timeout > longest_wait {
                    Ok(())
                } else {
                    Err(format!(
                        "must be more than {} ms (produce.timeout.ms or consumer.request.timeout.ms, plus 1 s)",
                        longest_wait.as_millis()
                    ))
                }
            },
        )?;

        let mut take = |prefix: &str| maps.remove(prefix).unwrap_or_default();
        let (schema_registry, client, producer, consumer, admin) = (
            take("schema.registry."),
            take("client."),
            take("producer."),
            take("consumer."),
            take("admin."),
        );

        Ok(Config {
            listeners,
            advertised_listeners: reader.listeners("advertised.listeners")?,
            host_name: reader.string("host.name", ""),
            port,
            id: reader.string("id", ""),
            bootstrap_servers,
            schema_registry_url,
            schema_registry,
            key_subject_name_strategy,
            value_subject_name_strategy,
            schema_registry_connect_timeout: reader
                .millis("schema.registry.http.connect.timeout.ms", 2_000)?,
            schema_registry_request_timeout: reader
                .millis("schema.registry.http.read.timeout.ms", 5_000)?,
            schema_registry_cache_capacity: usize::try_from(schema_registry_cache_capacity)
                .unwrap_or(1000),
            client,
            producer,
            consumer,
            admin,
            consumer_instance_timeout: reader.millis("consumer.instance.timeout.ms", 300_000)?,
            consumer_request_timeout,
            consumer_request_max_bytes: reader.u64("consumer.request.max.bytes", 64 << 20)?,
            consumer_request_body_max_bytes: reader
                .usize("consumer.request.body.max.bytes", 1 << 20)?,
            fetch_min_bytes,
            consumer_instances_max: reader.usize("consumer.instances.max", 1000)?,
            access_control_allow_origin: reader.string("access.control.allow.origin", ""),
            access_control_allow_methods: reader.string("access.control.allow.methods", ""),
            access_control_allow_headers: reader.string("access.control.allow.headers", ""),
            access_control_expose_headers: reader.string("access.control.expose.headers", ""),
            debug: reader.bool("debug", false)?,
            metadata_timeout: reader.millis("metadata.timeout.ms", 5_000)?,
            metadata_cache: reader.millis("metadata.cache.ms", 1_000)?,
            shutdown_graceful: reader.millis("shutdown.graceful.ms", 5_000)?,
            produce_pool_size: usize::try_from(produce_pool_size).unwrap_or(1),
            produce_timeout,
            request_body_max_bytes: usize::try_from(request_body_max_bytes).unwrap_or(usize::MAX),
            request_body_timeout,
            inflight_requests_max,
            inflight_bytes_max,
            connection_idle_timeout,
            null_always_publishes_empty_record: reader
                .bool("null.request.body.always.publishes.empty.record", false)?,
            warnings,
        })
    }
}

/// Typed accessors that turn a bad value into a [`ConfigError::Invalid`] naming the key.
struct Reader<'a> {
    props: &'a Properties,
}

impl Reader<'_> {
    fn string(&self, key: &str, default: &str) -> String {
        self.props
            .get(key)
            .map(|e| e.value.trim().to_string())
            .unwrap_or_else(|| default.to_string())
    }

    fn invalid(&self, key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            origin: self
                .props
                .get(key)
                .map(|e| e.origin.clone())
                .unwrap_or(Origin::Code),
            reason: reason.into(),
        }
    }

    fn check(
        &self,
        key: &str,
        value: &str,
        f: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<(), ConfigError> {
        f(value).map_err(|reason| self.invalid(key, value, reason))
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.props.get(key) {
            None => Ok(default),
            Some(e) => e
                .value
                .trim()
                .parse()
                .map_err(|_| self.invalid(key, e.value.trim(), format!("expected {what}"))),
        }
    }

    /// A value parsed by its type's `FromStr`, whose error text says what is expected.
    fn parsed_with<T: std::str::FromStr<Err = String>>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.props.get(key) {
            None => Ok(default),
            Some(e) => e
                .value
                .trim()
                .parse()
                .map_err(|reason| self.invalid(key, e.value.trim(), reason)),
        }
    }

    fn u16(&self, key: &str, default: u16) -> Result<u16, ConfigError> {
        self.parsed(key, default, "a port number (0-65535)")
    }

    fn u64(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        self.parsed(key, default, "a non-negative integer")
    }

    fn usize(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        self.parsed(key, default, "a non-negative integer")
    }

    fn i64(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        self.parsed(key, default, "an integer")
    }

    fn millis(&self, key: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parsed(key, default, "a non-negative number of milliseconds")
            .map(Duration::from_millis)
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.props.get(key) {
            None => Ok(default),
            Some(e) => match e.value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(key, e.value.trim(), "expected true or false")),
            },
        }
    }

    fn listeners(&self, key: &str) -> Result<Vec<Listener>, ConfigError> {
        let raw = self.string(key, "");
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| parse_listener(item).map_err(|reason| self.invalid(key, item, reason)))
            .collect()
    }
}

/// Parses `http://host:port` (IPv6 hosts in brackets). Only `http` is served for now.
fn parse_listener(item: &str) -> Result<Listener, String> {
    let (scheme, rest) = item
        .split_once("://")
        .ok_or_else(|| "expected scheme://host:port, e.g. http://0.0.0.0:8082".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}; use http"));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (host, tail) = after
            .split_once(']')
            .ok_or_else(|| "unclosed [ in IPv6 host".to_string())?;
        let port = tail
            .strip_prefix(':')
            .ok_or_else(|| "missing :port".to_string())?;
        (host.to_string(), port)
    } else {
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| "missing :port".to_string())?;
        (host.to_string(), port)
    };
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    Ok(Listener { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Properties {
        Properties::parse(text, Path::new("kafka-rest.properties"))
    }

    fn config(text: &str) -> Result<Config, ConfigError> {
        Config::from_properties(&props(text))
    }

    #[test]
    fn properties_syntax_follows_java_properties() {
        let p = props(
            "# comment\n! also comment\n\n  a=1\nb : 2\nc 3\nd=multi\\\n   line\ne=tab\\tand\\u0041\nf=\n",
        );
        let get = |k: &str| p.get(k).map(|e| e.value.clone());
        assert_eq!(get("a").as_deref(), Some("1"));
        assert_eq!(get("b").as_deref(), Some("2"));
        assert_eq!(get("c").as_deref(), Some("3"));
        assert_eq!(get("d").as_deref(), Some("multiline"));
        assert_eq!(get("e").as_deref(), Some("tab\tandA"));
        assert_eq!(get("f").as_deref(), Some(""));
        assert_eq!(p.entries.len(), 6);
    }

    #[test]
    fn env_names_map_like_confluent_images() {
        assert_eq!(
            env_var_to_key("KAFKA_REST_BOOTSTRAP_SERVERS").as_deref(),
            Some("bootstrap.servers")
        );
        assert_eq!(
            env_var_to_key("KAFKA_REST_CLIENT_SASL__MECHANISM").as_deref(),
            Some("client.sasl-mechanism")
        );
        assert_eq!(
            env_var_to_key("KAFKA_REST_SCHEMA___REGISTRY").as_deref(),
            Some("schema_registry")
        );
        assert_eq!(env_var_to_key("PATH"), None);
        assert_eq!(env_var_to_key("KAFKA_REST_"), None);
        for key in [
            "bootstrap.servers",
            "a-b.c_d",
            "consumer.request.timeout.ms",
        ] {
            assert_eq!(env_var_to_key(&key_to_env_var(key)).as_deref(), Some(key));
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut p = props("bootstrap.servers=file:9092\nid=a\n");
        p.apply_env([
            ("KAFKA_REST_BOOTSTRAP_SERVERS", "env:9092"),
            ("HOME", "/nowhere"),
            ("KAFKA_REST_LOG", "debug"),
        ]);
        let c = Config::from_properties(&p).expect("valid config");
        assert_eq!(c.bootstrap_servers, "env:9092");
        assert_eq!(c.id, "a");
        // The log filter is not a setting: no "unknown setting `log`" warning.
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn defaults_match_confluent() {
        let c = config("bootstrap.servers=localhost:9092").expect("valid config");
        assert_eq!(
            c.listeners,
            vec![Listener {
                scheme: "http".into(),
                host: "0.0.0.0".into(),
                port: 8082
            }]
        );
        assert_eq!(c.consumer_instance_timeout, Duration::from_secs(300));
        assert_eq!(c.consumer_request_timeout, Duration::from_secs(1));
        assert_eq!(c.consumer_request_max_bytes, 67_108_864);
        assert_eq!(c.consumer_request_body_max_bytes, 1_048_576);
        assert_eq!(c.fetch_min_bytes, -1);
        assert_eq!(c.consumer_instances_max, 1000);
        assert_eq!(
            c.schema_registry_url.as_deref(),
            Some("http://localhost:8081")
        );
        assert!(!c.debug);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn prefixed_keys_are_passed_through_stripped() {
        let c = config(
            "bootstrap.servers=k:9092\nclient.security.protocol=SSL\nproducer.linger.ms=10\n\
             consumer.max.poll.records=5\nadmin.request.timeout.ms=7\n\
             schema.registry.basic.auth.user.info=u:p\nconsumer.request.timeout.ms=250\n",
        )
        .expect("valid config");
        assert_eq!(
            c.client.get("security.protocol").map(String::as_str),
            Some("SSL")
        );
        assert_eq!(c.producer.get("linger.ms").map(String::as_str), Some("10"));
        assert_eq!(
            c.consumer.get("max.poll.records").map(String::as_str),
            Some("5")
        );
        assert_eq!(
            c.admin.get("request.timeout.ms").map(String::as_str),
            Some("7")
        );
        assert_eq!(
            c.schema_registry
                .get("basic.auth.user.info")
                .map(String::as_str),
            Some("u:p")
        );
        // The proxy's own consumer.* keys are not passed to librdkafka.
        assert!(!c.consumer.contains_key("request.timeout.ms"));
        assert_eq!(c.consumer_request_timeout, Duration::from_millis(250));
    }

    #[test]
    fn listeners_parse_and_bad_ones_name_the_key() {
        let c = config("bootstrap.servers=k:9092\nlisteners=http://127.0.0.1:0, http://[::1]:8085")
            .expect("valid config");
        assert_eq!(c.listeners[0].bind_addr(), "127.0.0.1:0");
        assert_eq!(c.listeners[1].bind_addr(), "[::1]:8085");

        let err = config("bootstrap.servers=k:9092\nlisteners=http://localhost:eighty")
            .expect_err("bad port");
        let msg = err.to_string();
        assert!(msg.contains("`listeners`"), "{msg}");
        assert!(msg.contains("kafka-rest.properties:2"), "{msg}");
        assert!(msg.contains("eighty"), "{msg}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        let cases = [
            (
                "consumer.request.timeout.ms=soon",
                "consumer.request.timeout.ms",
            ),
            (
                "consumer.instance.timeout.ms=-5",
                "consumer.instance.timeout.ms",
            ),
            ("debug=yes", "debug"),
            ("consumer.instances.max=many", "consumer.instances.max"),
            ("fetch.min.bytes=10000001", "fetch.min.bytes"),
            ("schema.registry.url=localhost:8081", "schema.registry.url"),
            ("port=99999", "port"),
            ("produce.pool.size=0", "produce.pool.size"),
            ("produce.timeout.ms=0", "produce.timeout.ms"),
            ("request.body.max.bytes=-1", "request.body.max.bytes"),
            ("request.body.timeout.ms=x", "request.body.timeout.ms"),
            // Shorter than a produce request may wait for Kafka (30 s by default).
            (
                "connection.idle.timeout.ms=10000",
                "connection.idle.timeout.ms",
            ),
        ];
        for (line, key) in cases {
            let err = config(&format!("bootstrap.servers=k:9092\n{line}")).expect_err(line);
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{key}`")), "{line}: {msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn missing_bootstrap_servers_is_an_error() {
        let err = config("id=x").expect_err("missing key");
        assert!(matches!(err, ConfigError::Missing { ref key, .. } if key == "bootstrap.servers"));
        assert!(err.to_string().contains("KAFKA_REST_BOOTSTRAP_SERVERS"));
    }

    #[test]
    fn unknown_and_ignored_keys_are_warnings() {
        let c = config("bootstrap.servers=k:9092\nbootstrap.server=typo\nconsumer.threads=4\n")
            .expect("valid config");
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("unknown setting `bootstrap.server`")));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("`consumer.threads` has no effect")));
    }

    #[test]
    fn subject_name_strategies_accept_class_and_short_names() {
        let c = config(
            "bootstrap.servers=k:9092\n\
             schema.registry.key.subject.name.strategy=io.confluent.kafka.serializers.subject.RecordNameStrategy\n\
             schema.registry.value.subject.name.strategy=TopicRecordNameStrategy\n",
        )
        .expect("valid config");
        assert_eq!(c.key_subject_name_strategy, SubjectNameStrategy::RecordName);
        assert_eq!(
            c.value_subject_name_strategy,
            SubjectNameStrategy::TopicRecordName
        );
        let d = config("bootstrap.servers=k:9092").expect("valid config");
        assert_eq!(d.key_subject_name_strategy, SubjectNameStrategy::TopicName);
        assert_eq!(d.schema_registry_request_timeout, Duration::from_secs(5));
        assert_eq!(d.schema_registry_cache_capacity, 1000);
        let err =
            config("bootstrap.servers=k:9092\nschema.registry.value.subject.name.strategy=Nope\n")
                .expect_err("unknown strategy");
        assert!(err
            .to_string()
            .contains("`schema.registry.value.subject.name.strategy`"));
    }

    #[test]
    fn empty_registry_url_disables_schemas() {
        let c = config("bootstrap.servers=k:9092\nschema.registry.url=").expect("valid config");
        assert_eq!(c.schema_registry_url, None);
    }
}
