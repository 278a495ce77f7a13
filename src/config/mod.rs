//! Configuration: the Confluent `kafka-rest.properties` file, then `KAFKA_REST_*` environment
//! overrides, then validation into one typed [`Config`].
//!
//! This module owns parsing and validation only, in three parts: `properties.rs` (the file
//! syntax and the environment), `keys.rs` (the one table of keys: field, default, README text,
//! parser) and this file (unknown and ignored keys, pass-through prefixes, checks across keys).
//! It imports nothing from the services; it does not open sockets or create Kafka clients (that
//! is `app.rs` and the services), and it never exits the process (that is `main.rs`).

mod keys;
mod properties;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use keys::{AccessLogFormat, Config, Key, KeyDefault, LogFormat, KEYS, PASS_THROUGH};
pub use properties::{env_var_to_key, key_to_env_var, Origin, Properties};

/// Why a configuration could not be loaded. Every variant names the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: malformed properties syntax", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        #[source]
        source: java_properties::PropertiesError,
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
    #[error("missing setting `{key}`: {reason} (set it in the config file or as {env})")]
    Needed {
        key: String,
        env: String,
        reason: String,
    },
}

/// One HTTP listener (`listeners` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `http` or `https`, lower-cased.
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// Whether this listener serves TLS.
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

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

/// A password from the configuration. Its `Debug` form hides the value, so that printing a
/// [`Config`] never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself, for the code that opens the store it protects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(empty)")
        } else {
            f.write_str("Secret(***)")
        }
    }
}

/// The file format of a keystore or truststore (`ssl.keystore.type`, `ssl.truststore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreType {
    /// Confluent's default. Java reads a PKCS#12 file under this type too, and so do we; a Java
    /// KeyStore proper is refused with the command that converts it.
    Jks,
    Pkcs12,
    Pem,
}

impl FromStr for KeystoreType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "JKS" => Ok(KeystoreType::Jks),
            "PKCS12" => Ok(KeystoreType::Pkcs12),
            "PEM" => Ok(KeystoreType::Pem),
            _ => Err("expected PKCS12, PEM or JKS".into()),
        }
    }
}

/// Whether `https` listeners ask for client certificates (`ssl.client.authentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    None,
    /// A client may present a certificate; one that does not chain to the truststore fails
    /// the handshake, no certificate is fine.
    Requested,
    /// The handshake fails without a certificate that chains to the truststore.
    Required,
}

impl FromStr for ClientAuthentication {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" => Ok(ClientAuthentication::None),
            "REQUESTED" => Ok(ClientAuthentication::Requested),
            "REQUIRED" => Ok(ClientAuthentication::Required),
            _ => Err("expected NONE, REQUESTED or REQUIRED".into()),
        }
    }
}

/// A TLS version `https` listeners may speak (`ssl.enabled.protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl FromStr for TlsVersion {
    type Err = String;

    /// Java's protocol names, in any case. The versions before TLS 1.2 (and SSL) are refused:
    /// they are broken, and rustls does not implement them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "TLSV1.2" => Ok(TlsVersion::Tls12),
            "TLSV1.3" => Ok(TlsVersion::Tls13),
            "TLSV1" | "TLSV1.0" | "TLSV1.1" | "SSLV3" | "SSLV2" | "SSLV2HELLO" => Err(format!(
                "{s} is not supported; only TLSv1.2 and TLSv1.3 are"
            )),
            _ => Err(format!(
                "unknown protocol {s:?}; expected TLSv1.2 or TLSv1.3"
            )),
        }
    }
}

/// How a subject name is derived (Confluent's `*.subject.name.strategy`). The type lives here,
/// where the keys are parsed; `schema/` derives the subjects from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (the default).
    #[default]
    TopicName,
    /// The schema's record name (Avro full name, Protobuf message full name, JSON `title`).
    RecordName,
    /// `<topic>-<record name>`.
    TopicRecordName,
}

impl FromStr for SubjectNameStrategy {
    type Err = String;

    /// Accepts Confluent's class names (`io.confluent.kafka.serializers.subject.
    /// TopicNameStrategy`), their short names (`TopicNameStrategy`) and the v3 API names
    /// (`TOPIC_NAME`), in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        let short = s.trim().rsplit('.').next().unwrap_or_default();
        match short.to_ascii_lowercase().replace('_', "").as_str() {
            "topicnamestrategy" | "topicname" => Ok(SubjectNameStrategy::TopicName),
            "recordnamestrategy" | "recordname" => Ok(SubjectNameStrategy::RecordName),
            "topicrecordnamestrategy" | "topicrecordname" => {
                Ok(SubjectNameStrategy::TopicRecordName)
            }
            _ => Err(
                "expected TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy \
                 (short or io.confluent.kafka.serializers.subject.* class name)"
                    .into(),
            ),
        }
    }
}

/// How clients prove who they are (`authentication.method`). The type lives here, where the
/// key is parsed; `auth/` does the checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthenticationMethod {
    /// Nobody is asked (Confluent's default).
    #[default]
    None,
    /// HTTP Basic against a password file.
    Basic,
    /// A bearer JWT.
    Bearer,
    /// The TLS client certificate (ours).
    Certificate,
}

impl FromStr for AuthenticationMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "NONE" => Ok(AuthenticationMethod::None),
            "BASIC" => Ok(AuthenticationMethod::Basic),
            "BEARER" => Ok(AuthenticationMethod::Bearer),
            "CERTIFICATE" => Ok(AuthenticationMethod::Certificate),
            _ => Err("expected NONE, BASIC, BEARER or CERTIFICATE".into()),
        }
    }
}

/// Keys of Confluent's config that are accepted for compatibility but have no effect here.
/// `debug` is one of them: in Confluent it adds internal details to some error responses, but
/// this proxy's 5xx answers never carry them (the log line has the whole error chain).
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
    "debug",
    // Java's TLS machinery: the protocol family, the security provider and the key and trust
    // manager algorithms have no counterpart in rustls.
    "ssl.protocol",
    "ssl.provider",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.endpoint.identification.algorithm",
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

    /// Whether `https` listeners ask for client certificates: `ssl.client.authentication` when
    /// set, else `REQUIRED` when the deprecated `ssl.client.auth` is `true` (Confluent's rule).
    pub fn client_authentication(&self) -> ClientAuthentication {
        match self.ssl_client_authentication {
            Some(mode) => mode,
            None if self.ssl_client_auth => ClientAuthentication::Required,
            None => ClientAuthentication::None,
        }
    }

    /// Whether any listener serves TLS.
    pub fn has_https_listener(&self) -> bool {
        self.listeners.iter().any(Listener::is_https)
    }

    /// A Kafka `client.id` for one of this proxy's clients, including the instance `id`.
    pub fn client_id(&self, role: &str) -> String {
        if self.id.is_empty() {
            format!("kafka-rest-{role}")
        } else {
            format!("kafka-rest-{}-{role}", self.id)
        }
    }

    /// Builds and validates the typed configuration: every key of the table, then the
    /// pass-through prefixes and warnings for the rest, then the checks across keys.
    pub fn from_properties(props: &Properties) -> Result<Config, ConfigError> {
        let mut config = keys::read(props)?;
        let mut maps: BTreeMap<&str, BTreeMap<String, String>> =
            PREFIXES.iter().map(|p| (*p, BTreeMap::new())).collect();
        for (key, entry) in &props.entries {
            if KEYS.iter().any(|k| k.name == key.as_str()) {
                continue;
            }
            if IGNORED_KEYS.contains(&key.as_str()) {
                config.warnings.push(format!(
                    "{}: `{key}` has no effect in this proxy; ignored",
                    entry.origin
                ));
                continue;
            }
            match PREFIXES.iter().find(|p| key.starts_with(**p)) {
                Some(prefix) => {
                    let stripped = &key[prefix.len()..];
                    if stripped.is_empty() {
                        config
                            .warnings
                            .push(format!("{}: empty key `{key}` ignored", entry.origin));
                    } else if let Some(map) = maps.get_mut(prefix) {
                        map.insert(stripped.to_string(), entry.value.clone());
                    }
                }
                None => config
                    .warnings
                    .push(format!("{}: unknown setting `{key}` ignored", entry.origin)),
            }
        }
        let mut take = |prefix: &str| maps.remove(prefix).unwrap_or_default();
        config.schema_registry = take("schema.registry.");
        config.client = take("client.");
        config.producer = take("producer.");
        config.consumer = take("consumer.");
        config.admin = take("admin.");
        config.validate(props)?;
        Ok(config)
    }

    /// Checks and defaults that involve more than one key.
    fn validate(&mut self, props: &Properties) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            self.listeners.push(Listener {
                scheme: "http".into(),
                host: "0.0.0.0".into(),
                port: self.port,
            });
        }
        // TLS material is read when the listeners start (`crate::tls`), but what is missing
        // altogether is a configuration error like any other.
        if self.has_https_listener() && self.ssl_keystore_location.is_none() {
            return Err(needed(
                "ssl.keystore.location",
                "an https listener needs a keystore with its certificate and private key",
            ));
        }
        if self.has_https_listener()
            && self.client_authentication() != ClientAuthentication::None
            && self.ssl_truststore_location.is_none()
        {
            return Err(needed(
                "ssl.truststore.location",
                "client certificates (ssl.client.authentication) are checked against the CAs \
                 of a truststore",
            ));
        }
        // A body of unknown length reserves `request.body.max.bytes`, so a smaller budget could
        // never admit one.
        let body_max = u64::try_from(self.request_body_max_bytes).unwrap_or(u64::MAX);
        if self.inflight_bytes_max < body_max.max(1) {
            return Err(Reader { props }.invalid(
                "inflight.bytes.max",
                &self.inflight_bytes_max.to_string(),
                format!("must be at least request.body.max.bytes ({body_max}) and at least 1"),
            ));
        }
        // Each authentication method needs exactly one source of credentials.
        let sources = match self.authentication_method {
            AuthenticationMethod::Basic => Some((
                "authentication.password.file",
                "authentication.jaas.config.file",
                !self.authentication_password_file.is_empty(),
                !self.authentication_jaas_config_file.is_empty(),
            )),
            AuthenticationMethod::Bearer => Some((
                "authentication.bearer.jwks.file",
                "authentication.bearer.public.key.file",
                !self.authentication_bearer_jwks_file.is_empty(),
                !self.authentication_bearer_public_key_file.is_empty(),
            )),
            AuthenticationMethod::None | AuthenticationMethod::Certificate => None,
        };
        if let Some((first, second, has_first, has_second)) = sources {
            if has_first == has_second {
                let method = props
                    .get("authentication.method")
                    .map(|e| e.value.clone())
                    .unwrap_or_default();
                return Err(Reader { props }.invalid(
                    "authentication.method",
                    &method,
                    format!("needs exactly one of `{first}` and `{second}`"),
                ));
            }
        }
        // Pass-through hands Kafka a password or a token: it needs a method that has one, and
        // a SASL listener to hand it to.
        if self.auth_passthrough {
            let reader = Reader { props };
            if self.authentication_method != AuthenticationMethod::Basic {
                return Err(reader.invalid(
                    "auth.passthrough",
                    "true",
                    "needs authentication.method BASIC: the caller's user name and password \
                     sign in to Kafka (a certificate has no credential Kafka's SASL mechanisms \
                     take, and bearer tokens are not passed on)",
                ));
            }
            let protocol = self
                .client
                .get("security.protocol")
                .map(|p| p.to_ascii_uppercase())
                .unwrap_or_default();
            if !matches!(protocol.as_str(), "SASL_SSL" | "SASL_PLAINTEXT") {
                return Err(reader.invalid(
                    "auth.passthrough",
                    "true",
                    "needs client.security.protocol SASL_SSL or SASL_PLAINTEXT",
                ));
            }
        }
        // The idle timer also runs while a request waits on Kafka, so it must outlast the
        // longest such wait.
        let longest_wait =
            self.produce_timeout.max(self.consumer_request_timeout) + Duration::from_secs(1);
        if self.connection_idle_timeout <= longest_wait {
            return Err(Reader { props }.invalid(
                "connection.idle.timeout.ms",
                &self.connection_idle_timeout.as_millis().to_string(),
                format!(
                    "must be more than {} ms (produce.timeout.ms or consumer.request.timeout.ms, plus 1 s)",
                    longest_wait.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

/// A key that other settings make necessary.
fn needed(key: &str, reason: &str) -> ConfigError {
    ConfigError::Needed {
        key: key.into(),
        env: key_to_env_var(key),
        reason: reason.into(),
    }
}

/// Reads one key with its parser, turning a bad value into a [`ConfigError::Invalid`] that
/// names the key and where it was set.
struct Reader<'a> {
    props: &'a Properties,
}

impl Reader<'_> {
    fn value<T>(
        &self,
        key: &str,
        default: KeyDefault,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let set = self
            .props
            .get(key)
            .map(|e| e.value.trim())
            .filter(|v| !v.is_empty() || default != KeyDefault::Required);
        let value = match (set, default) {
            (Some(value), _) => value,
            (None, KeyDefault::Text(value)) => value,
            (None, KeyDefault::Required) => {
                return Err(ConfigError::Missing {
                    key: key.into(),
                    env: key_to_env_var(key),
                })
            }
        };
        parse(value).map_err(|reason| self.invalid(key, value, reason))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Properties {
        Properties::parse(text, Path::new("kafka-rest.properties")).expect("valid syntax")
    }

    fn config(text: &str) -> Result<Config, ConfigError> {
        Config::from_properties(&props(text))
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
        assert_eq!(c.fetch_min_bytes, -1);
        assert_eq!(c.consumer_instances_max, 1000);
        assert_eq!(
            c.schema_registry_url.as_deref(),
            Some("http://localhost:8081")
        );
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
            (
                "access.control.allow.methods=GET POST",
                "access.control.allow.methods",
            ),
            ("consumer.instances.max=many", "consumer.instances.max"),
            ("fetch.min.bytes=10000001", "fetch.min.bytes"),
            ("schema.registry.url=localhost:8081", "schema.registry.url"),
            ("port=99999", "port"),
            ("produce.pool.size=0", "produce.pool.size"),
            ("produce.timeout.ms=0", "produce.timeout.ms"),
            ("request.body.max.bytes=-1", "request.body.max.bytes"),
            ("request.body.timeout.ms=x", "request.body.timeout.ms"),
            ("inflight.requests.max=0", "inflight.requests.max"),
            // Smaller than one request body of the default 64 MiB.
            ("inflight.bytes.max=1024", "inflight.bytes.max"),
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
    fn tls_settings_parse_with_confluents_defaults_and_legacy_key() {
        let d = config("bootstrap.servers=k:9092").expect("valid config");
        assert!(!d.has_https_listener());
        assert_eq!(d.client_authentication(), ClientAuthentication::None);
        assert_eq!(d.ssl_keystore_type, KeystoreType::Jks);
        assert_eq!(
            d.ssl_enabled_protocols,
            [TlsVersion::Tls12, TlsVersion::Tls13]
        );
        assert_eq!(d.ssl_keystore_reload_interval, Duration::from_secs(1));

        let c = config(
            "bootstrap.servers=k:9092\nlisteners=http://0.0.0.0:8082,https://0.0.0.0:8443\n\
             ssl.keystore.location=/etc/kafka-rest/server.p12\nssl.keystore.type=pkcs12\n\
             ssl.keystore.password=s3cret\nssl.truststore.location=/etc/kafka-rest/ca.pem\n\
             ssl.truststore.type=PEM\nssl.client.auth=true\nssl.enabled.protocols=TLSv1.3\n\
             ssl.protocol=TLS\n",
        )
        .expect("valid config");
        assert!(c.has_https_listener());
        assert!(!c.listeners[0].is_https());
        assert!(c.listeners[1].is_https());
        assert_eq!(c.ssl_keystore_type, KeystoreType::Pkcs12);
        assert_eq!(c.ssl_keystore_password.expose(), "s3cret");
        // The deprecated boolean means REQUIRED, as in Confluent.
        assert_eq!(c.client_authentication(), ClientAuthentication::Required);
        assert_eq!(c.ssl_enabled_protocols, [TlsVersion::Tls13]);
        // Java's TLS knobs are accepted with a warning.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("`ssl.protocol` has no effect"));
        // Passwords never show in a printed configuration.
        assert!(!format!("{c:?}").contains("s3cret"));
        let k = config(
            "bootstrap.servers=k:9092\nclient.sasl.jaas.config=PlainLoginModule required \
             username=\"u\" password=\"p4ss\";\nproducer.sasl.password=p4ss\n\
             schema.registry.basic.auth.user.info=u:p4ss\nclient.security.protocol=SASL_SSL\n",
        )
        .expect("valid config");
        let shown = format!("{k:?}");
        assert!(!shown.contains("p4ss"), "{shown}");
        assert!(shown.contains("SASL_SSL"), "{shown}");

        // The new key wins over the deprecated one.
        let r = config(
            "bootstrap.servers=k:9092\nssl.client.auth=true\nssl.client.authentication=requested",
        )
        .expect("valid config");
        assert_eq!(r.client_authentication(), ClientAuthentication::Requested);
    }

    #[test]
    fn bad_tls_settings_are_errors_naming_the_key() {
        let cases = [
            (
                "ssl.enabled.protocols=TLSv1.2,TLSv1.1",
                "ssl.enabled.protocols",
                "TLSv1.1 is not supported",
            ),
            (
                "ssl.enabled.protocols=SSLv3",
                "ssl.enabled.protocols",
                "only TLSv1.2 and TLSv1.3",
            ),
            (
                "ssl.enabled.protocols=TLSv2",
                "ssl.enabled.protocols",
                "unknown protocol",
            ),
            (
                "ssl.keystore.type=BKS",
                "ssl.keystore.type",
                "PKCS12, PEM or JKS",
            ),
            (
                "ssl.truststore.type=JCEKS",
                "ssl.truststore.type",
                "PKCS12, PEM or JKS",
            ),
            (
                "ssl.client.authentication=WANT",
                "ssl.client.authentication",
                "NONE, REQUESTED",
            ),
            ("ssl.client.auth=yes", "ssl.client.auth", "true or false"),
            (
                "ssl.keystore.reload.interval.ms=10",
                "ssl.keystore.reload.interval.ms",
                "between 100",
            ),
            (
                "listeners=ftp://0.0.0.0:21",
                "listeners",
                "use http or https",
            ),
            // An https listener without a keystore, and client certificates without a truststore.
            (
                "listeners=https://0.0.0.0:8443",
                "ssl.keystore.location",
                "needs a keystore",
            ),
            (
                "listeners=https://0.0.0.0:8443\nssl.keystore.location=k.p12\n\
                 ssl.client.authentication=REQUIRED",
                "ssl.truststore.location",
                "KAFKA_REST_SSL_TRUSTSTORE_LOCATION",
            ),
        ];
        for (lines, key, reason) in cases {
            let err = config(&format!("bootstrap.servers=k:9092\n{lines}")).expect_err(lines);
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{key}`")), "{lines}: {msg}");
            assert!(msg.contains(reason), "{lines}: {msg}");
        }
        // Client authentication without an https listener needs no truststore.
        config("bootstrap.servers=k:9092\nssl.client.authentication=REQUIRED")
            .expect("nothing to check without https");
    }

    #[test]
    fn missing_bootstrap_servers_is_an_error() {
        let err = config("id=x").expect_err("missing key");
        assert!(matches!(err, ConfigError::Missing { ref key, .. } if key == "bootstrap.servers"));
        assert!(err.to_string().contains("KAFKA_REST_BOOTSTRAP_SERVERS"));
    }

    #[test]
    fn unknown_and_ignored_keys_are_warnings() {
        let c = config(
            "bootstrap.servers=k:9092\nbootstrap.server=typo\nconsumer.threads=4\ndebug=true\n",
        )
        .expect("valid config");
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("kafka-rest.properties:4: `debug` has no effect")));
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

    #[test]
    fn the_shipped_properties_file_is_valid_and_has_no_unknown_keys() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/kafka-rest.properties"
        ));
        let c = Config::from_properties(&Properties::from_file(path).expect("readable"))
            .expect("valid config");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.id, "kafka-rest-local");
    }

    #[test]
    fn cors_is_off_by_default_and_lists_are_split() {
        let d = config("bootstrap.servers=k:9092").expect("valid config");
        assert!(d.access_control_allow_origin.is_empty());
        assert_eq!(d.access_control_allow_methods, ["GET", "POST", "HEAD"]);
        let c = config(
            "bootstrap.servers=k:9092\naccess.control.allow.origin=*\n\
             access.control.allow.methods=GET, DELETE\naccess.control.allow.headers=\n",
        )
        .expect("valid config");
        assert_eq!(c.access_control_allow_origin, ["*"]);
        assert_eq!(c.access_control_allow_methods, ["GET", "DELETE"]);
        // Empty means Jetty's default list, as in Confluent.
        assert_eq!(
            c.access_control_allow_headers,
            ["X-Requested-With", "Content-Type", "Accept", "Origin"]
        );
    }
}
