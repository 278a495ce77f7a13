//! The table of configuration keys: every key the proxy reads itself, once, with its `Config`
//! field, type, default, README text and parser. The same table generates the [`Config`]
//! struct, reads and checks the values, tells known keys from unknown ones (warnings), and is
//! the README's configuration table (`readme_tables_are_the_key_tables` keeps them equal).
//!
//! This module owns the per-key parsers. Checks that involve several keys are
//! `Config::validate` in `mod.rs`; the file syntax and the environment are `properties.rs`.
//!
//! To add a key: add one line to the `keys!` table below (field, type, key, default, parser,
//! README text), then run `UPDATE_README=1 cargo test --lib config::keys` to rewrite the README
//! table. Nothing else lists keys.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::{
    AuthenticationMethod, ClientAuthentication, ConfigError, KeystoreType, Listener, Properties,
    Reader, Secret, SubjectNameStrategy, TlsVersion,
};

/// What a key is worth when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// The proxy does not start without it.
    Required,
    /// This text, read by the key's own parser (so the README shows exactly what is used).
    Text(&'static str),
}

/// One documented key, as the README shows it.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub default: KeyDefault,
    /// The README's "meaning" column.
    pub doc: &'static str,
}

/// Jetty's `CrossOriginFilter` defaults, which Confluent's proxy uses when the CORS method or
/// header list is empty.
const CORS_METHODS: &str = "GET,POST,HEAD";
const CORS_HEADERS: &str = "X-Requested-With,Content-Type,Accept,Origin";

/// Generates [`Config`] (one field per key plus the pass-through maps and the warnings),
/// [`KEYS`], and the function that reads every key with its parser.
macro_rules! keys {
    ($( $field:ident : $ty:ty = $name:literal, $default:expr, $parse:expr, $doc:literal; )*) => {
        /// The typed configuration of one proxy process. Its `Debug` form hides passwords:
        /// [`Secret`] fields, and the values of the prefixed maps' credential keys.
        #[derive(Clone)]
        pub struct Config {
            $( #[doc = concat!("`", $name, "`: ", $doc)] pub $field: $ty, )*
            /// Other `schema.registry.*` settings, prefix stripped (read by the registry
            /// client: authentication, TLS).
            pub schema_registry: BTreeMap<String, String>,
            /// `client.*`: librdkafka settings for every client, prefix stripped.
            pub client: BTreeMap<String, String>,
            /// `producer.*`, prefix stripped; win over `client.*` for producers.
            pub producer: BTreeMap<String, String>,
            /// `consumer.*` (other than the proxy's own `consumer.` keys), prefix stripped.
            pub consumer: BTreeMap<String, String>,
            /// `admin.*`, prefix stripped; for the metadata client.
            pub admin: BTreeMap<String, String>,
            /// Warnings found while loading (unknown or ignored keys), for `main` to log.
            pub warnings: Vec<String>,
        }

        impl std::fmt::Debug for Config {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Config")
                    $( .field($name, &self.$field) )*
                    .field("schema.registry.*", &Redacted(&self.schema_registry))
                    .field("client.*", &Redacted(&self.client))
                    .field("producer.*", &Redacted(&self.producer))
                    .field("consumer.*", &Redacted(&self.consumer))
                    .field("admin.*", &Redacted(&self.admin))
                    .field("warnings", &self.warnings)
                    .finish()
            }
        }

        /// Every key the proxy reads itself, in the README's order.
        pub const KEYS: &[Key] = &[ $( Key { name: $name, default: $default, doc: $doc }, )* ];

        /// Reads every key of the table; the prefixed maps and warnings are filled by the caller.
        pub(super) fn read(props: &Properties) -> Result<Config, ConfigError> {
            let reader = Reader { props };
            Ok(Config {
                $( $field: reader.value($name, $default, $parse)?, )*
                schema_registry: BTreeMap::new(),
                client: BTreeMap::new(),
                producer: BTreeMap::new(),
                consumer: BTreeMap::new(),
                admin: BTreeMap::new(),
                warnings: Vec::new(),
            })
        }
    };
}

use KeyDefault::{Required, Text};

/// A prefixed settings map whose credential values print as `***`.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |key: &str| {
            [
                "password",
                "jaas",
                "secret",
                "token",
                "user.info",
                "key.pem",
                "ssl.keystore.key",
            ]
            .iter()
            .any(|word| key.contains(word))
        };
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if secret(k) { "***" } else { v.as_str() };
                (k, shown)
            }))
            .finish()
    }
}

keys! {
    bootstrap_servers: String = "bootstrap.servers", Required, text,
        "Kafka brokers";
    listeners: Vec<Listener> = "listeners", Text(""), listeners,
        "comma-separated `http://` and `https://` listeners, all served by one proxy \
         (`http://0.0.0.0:8082,https://0.0.0.0:8443`; port 0 picks a free port; an IPv6 host in \
         brackets); empty means `http://0.0.0.0:` and `port`. `https` needs \
         `ssl.keystore.location`";
    port: u16 = "port", Text("8082"), port,
        "deprecated; used when `listeners` is empty, and for consumer `base_uri`s";
    advertised_listeners: Vec<Listener> = "advertised.listeners", Text(""), listeners,
        "consumer `base_uri` host (Confluent rules)";
    host_name: String = "host.name", Text(""), text,
        "consumer `base_uri` host when no advertised listener matches (deprecated in Confluent)";
    id: String = "id", Text(""), text,
        "instance id, part of generated client ids and consumer names";
    schema_registry_url: Option<String> = "schema.registry.url", Text("http://localhost:8081"),
        registry_url,
        "Confluent-compatible registry (comma-separated URLs are tried in order); empty disables \
         schema formats";
    key_subject_name_strategy: SubjectNameStrategy = "schema.registry.key.subject.name.strategy",
        Text("TopicNameStrategy"), |v| v.parse(),
        "subject of key schemas: `TopicNameStrategy` (`<topic>-key`), `RecordNameStrategy` (the \
         record's full name) or `TopicRecordNameStrategy` (`<topic>-<record name>`); Confluent \
         class names accepted";
    value_subject_name_strategy: SubjectNameStrategy =
        "schema.registry.value.subject.name.strategy", Text("TopicNameStrategy"), |v| v.parse(),
        "the same for value schemas (`<topic>-value`)";
    schema_registry_connect_timeout: Duration = "schema.registry.http.connect.timeout.ms",
        Text("2000"), millis,
        "bound on connecting to the registry (Confluent: 60000)";
    schema_registry_request_timeout: Duration = "schema.registry.http.read.timeout.ms",
        Text("5000"), millis,
        "bound on one whole registry call; an outage answers `42207` to produce and `503` to a \
         records call needing an uncached schema within it (Confluent: 60000)";
    schema_registry_cache_capacity: usize = "schema.registry.cache.capacity", Text("1000"),
        |v| between(v, 1, 1_000_000, NON_NEGATIVE),
        "entries in each schema cache (by id, by subject and text, parsed schemas), 1-1000000 \
         (ours)";
    null_always_publishes_empty_record: bool = "null.request.body.always.publishes.empty.record",
        Text("false"), flag,
        "in the schema formats a null key or value with a schema is written as the schema's null \
         (Avro: a union's null branch; refused when the schema has no null); `true` writes a \
         Kafka null (tombstone) instead";
    consumer_instance_timeout: Duration = "consumer.instance.timeout.ms", Text("300000"), millis,
        "idle consumer instances expire after this";
    consumer_request_timeout: Duration = "consumer.request.timeout.ms", Text("1000"), millis,
        "longest wait of one records call";
    consumer_request_max_bytes: u64 = "consumer.request.max.bytes", Text("67108864"),
        |v| number(v, NON_NEGATIVE),
        "cap on key+value bytes per records response";
    consumer_request_body_max_bytes: usize = "consumer.request.body.max.bytes",
        Text("1048576"), |v| number(v, NON_NEGATIVE),
        "largest body of a consumer control call (create, subscribe, assign, offsets, positions; \
         ours); larger ones get `413`. Like every request body it must arrive within \
         `request.body.timeout.ms`";
    fetch_min_bytes: i64 = "fetch.min.bytes", Text("-1"),
        |v| between(v, -1, 10_000_000, "an integer"),
        "a records call waits for this many bytes (or its timeout); -1 answers as soon as any \
         record is there (max 10000000)";
    fetch_pool_size: usize = "fetch.pool.size", Text("4"),
        |v| between(v, 1, 64, NON_NEGATIVE),
        "Kafka clients shared by the stateless reads (`GET /topics/{t}/partitions/{p}/records`, \
         ours, 1-64): reads running at once. Each is a librdkafka consumer that never joins a group, \
         created when first needed and lent to one read at a time";
    fetch_pool_wait: Duration = "fetch.pool.wait.ms", Text("1000"), millis,
        "how long a stateless read waits for a free client of `fetch.pool.size` (ours); after \
         that it answers `503`";
    fetch_request_timeout: Duration = "fetch.request.timeout.ms", Text("1000"), millis,
        "longest wait of one stateless read for records (ours); its `timeout` can only shorten it";
    fetch_request_max_bytes: u64 = "fetch.request.max.bytes", Text("8388608"),
        |v| number(v, NON_NEGATIVE),
        "cap on key+value bytes per stateless read answer (ours); also bounds what a pooled \
         client prefetches (`queued.max.messages.kbytes`, unless set)";
    fetch_request_count_max: usize = "fetch.request.count.max", Text("10000"),
        |v| between(v, 1, 1_000_000, NON_NEGATIVE),
        "cap on records per stateless read answer (ours, 1-1000000); its `count` can only lower it";
    consumer_stream_heartbeat: Duration = "consumer.stream.heartbeat.ms", Text("15000"),
        positive_millis,
        "a records stream (`GET .../records/stream`, Server-Sent Events or WebSocket, ours) with \
         nothing to send writes a comment line (SSE) or a ping frame (WebSocket) this often, so \
         that clients and load balancers keep it open; each batch it sends is at most \
         `consumer.request.max.bytes`";
    consumer_instances_max: usize = "consumer.instances.max", Text("1000"),
        |v| number(v, NON_NEGATIVE),
        "consumer instances this process keeps at once (ours); creating one more answers `429`. \
         Each is a librdkafka client with its own group membership: 4 threads (main, internal, \
         one per broker, group coordinator) and 8 file descriptors with one broker, about 0.21 \
         MiB when idle (0.5 with `consumer.enable.metrics.push=true`), up to \
         `queued.max.messages.kbytes` of prefetched records when reading, and about 0.25% of a \
         core when idle (mostly fetch long-polls; `consumer.fetch.wait.max.ms=5000` cuts it but \
         delays reads after a seek). Measured with `cargo xtask bench --only M1`: 1000 idle \
         instances, about 250 MiB RSS and 4030 threads; after deleting them threads and \
         descriptors return to the baseline, while glibc's malloc arenas keep some of the memory \
         for the next instances (about 20 MiB). The \
         proxy raises its soft open-files limit to the hard limit at start and warns when that \
         is too low for this many instances";
    access_control_allow_origin: Vec<String> = "access.control.allow.origin", Text(""), origins,
        "CORS: comma-separated origins allowed to call the proxy from a browser (`*` is any \
         origin, `https://*.example.com` a pattern); empty turns CORS off. A request from \
         another origin is served without CORS headers, as in Confluent";
    access_control_allow_methods: Vec<String> = "access.control.allow.methods",
        Text(CORS_METHODS), |v| tokens(v, CORS_METHODS),
        "CORS: methods a preflight allows (comma-separated; empty means the default)";
    access_control_allow_headers: Vec<String> = "access.control.allow.headers",
        Text(CORS_HEADERS), |v| tokens(v, CORS_HEADERS),
        "CORS: request headers a preflight allows (comma-separated; empty means the default)";
    access_control_expose_headers: Vec<String> = "access.control.expose.headers", Text(""),
        |v| tokens(v, ""),
        "CORS: response headers a browser script may read (comma-separated)";
    metadata_timeout: Duration = "metadata.timeout.ms", Text("5000"), millis,
        "bound on one metadata request to Kafka (ours)";
    metadata_cache: Duration = "metadata.cache.ms", Text("1000"), millis,
        "how long one cluster metadata snapshot answers requests before it is fetched again \
         (ours). One fetch runs at a time and every request that needs one waits for it; a \
         request that accepts the cached snapshot is answered with an expired one while its \
         refresh runs (for at most `metadata.timeout.ms` more), unless a fetch has failed since; \
         a failed fetch answers requests, with `50003`, for this long too";
    metadata_negative_cache: Duration = "metadata.negative.cache.ms", Text("1000"), millis,
        "a topic that a metadata fetch did not have is unknown (`40401`, or a produce refused) \
         for this long without asking Kafka again (ours); at most 10000 names are kept, 0 turns \
         it off. A topic created meanwhile through another client is seen once this has passed";
    health_ready_timeout: Duration = "health.ready.timeout.ms", Text("500"), millis,
        "the longest `GET /health/ready` waits for a metadata fetch (ours; a Kubernetes probe \
         times out after 1 s by default). It answers from the latest fetch when that is at most \
         `metadata.cache.ms` old; otherwise it starts one (or joins the one in progress) and \
         waits for it this long, and if it has not finished answers from the latest fetch when \
         that succeeded at most `metadata.cache.ms` + `metadata.timeout.ms` ago, else `503`";
    kafka_blocking_calls_max: usize = "kafka.blocking.calls.max", Text("64"),
        |v| between(v, 1, 256, NON_NEGATIVE),
        "blocking librdkafka calls running at once (ours, 1-256): metadata fetches and \
         watermarks, consumer create, close, commit, committed offsets, seek, subscribe, assign, \
         the reachability check of a records call, and the v3 administrative calls. A call whose client already got its \
         timeout answer keeps its permit until librdkafka returns. A call that finds none free \
         within its own deadline answers `50003`; a close waits for one";
    kafka_admin_timeout: Duration = "kafka.admin.timeout.ms", Text("30000"), positive_millis,
        "bound on one v3 administrative call to Kafka (ours): describing the cluster, configs or \
         topics, creating, growing or deleting a topic, changing configs, the wait for a \
         `kafka.blocking.calls.max` permit included. A call not answered by then gets `50003`";
    kafka_cluster_id_cache: Duration = "kafka.cluster.id.cache.ms", Text("10000"), millis,
        "how long the cluster id read from Kafka answers the `{cluster_id}` check of v3 paths \
         before it is read again (ours)";
    shutdown_graceful: Duration = "shutdown.graceful.ms", Text("5000"), millis,
        "how long in-flight requests may finish after SIGTERM/SIGINT; also bounds the producer \
         flush after them";
    produce_pool_size: usize = "produce.pool.size", Text("1"),
        |v| between(v, 1, 16, NON_NEGATIVE),
        "shared Kafka producers (1-16); each request uses one, round robin";
    produce_timeout: Duration = "produce.timeout.ms", Text("30000"), positive_millis,
        "longest a produce request waits for queue space and delivery reports; a record not \
         acknowledged by then is reported with `50003` (also the default of librdkafka's \
         `message.timeout.ms`)";
    v3_produce_record_max_bytes: usize = "api.v3.produce.request.size.limit.max.bytes",
        Text("1048576"), |v| at_least(v, 1, NON_NEGATIVE),
        "largest record (one JSON object, in bytes of request text) of a v3 produce stream or \
         batch entry; a larger one ends the stream with a last `400` result (Confluent's key; \
         its default 0, no limit, is not accepted here)";
    v3_produce_inflight_records_max: usize = "api.v3.produce.streaming.inflight.records.max",
        Text("1000"), |v| between(v, 1, 1_000_000, NON_NEGATIVE),
        "records of one v3 produce stream that may await their Kafka acknowledgement at once \
         (ours, 1-1000000); the stream reads no further record until the oldest is answered";
    v3_produce_batch_max_entries: usize = "api.v3.produce.batch.maximum.entries",
        Text("10"), |v| between(v, 1, 1000, NON_NEGATIVE),
        "most entries of one `records:batch` request (1-1000); more answer `422` / `42208`";
    v3_streaming_max_duration: Duration = "streaming.connection.max.duration.ms",
        Text("86400000"), positive_millis,
        "age after which a v3 produce stream answers each further record `408` and is closed \
         `streaming.connection.max.duration.grace.period.ms` later";
    v3_streaming_grace_period: Duration = "streaming.connection.max.duration.grace.period.ms",
        Text("500"), millis,
        "how long a v3 produce stream past its maximum age stays open to answer `408`s";
    v3_produce_rate_limit_enabled: bool = "api.v3.produce.rate.limit.enabled", Text("false"),
        flag,
        "whether v3 produce records count against the rate limits below (a record over them \
         gets `429`; a `records:batch` request over them a JSON `429` with `Retry-After`)";
    v3_produce_rate_limit_requests: u64 = "api.v3.produce.rate.limit.max.requests.per.sec",
        Text("10000"), |v| at_least(v, 1, NON_NEGATIVE),
        "v3 produce records per second per cluster id";
    v3_produce_rate_limit_requests_global: u64 =
        "api.v3.produce.rate.limit.max.requests.global.per.sec", Text("10000"),
        |v| at_least(v, 1, NON_NEGATIVE),
        "v3 produce records per second in all";
    v3_produce_rate_limit_bytes: u64 = "api.v3.produce.rate.limit.max.bytes.per.sec",
        Text("10000000"), |v| at_least(v, 1, NON_NEGATIVE),
        "v3 produce bytes (of record JSON text) per second per cluster id";
    v3_produce_rate_limit_bytes_global: u64 = "api.v3.produce.rate.limit.max.bytes.global.per.sec",
        Text("10000000"), |v| at_least(v, 1, NON_NEGATIVE),
        "v3 produce bytes (of record JSON text) per second in all";
    request_body_max_bytes: usize = "request.body.max.bytes", Text("67108864"),
        |v| number(v, NON_NEGATIVE),
        "larger request bodies get `413`";
    request_body_timeout: Duration = "request.body.timeout.ms", Text("30000"), millis,
        "a client that has not sent its whole body by then gets `408`";
    inflight_requests_max: usize = "inflight.requests.max", Text("1024"),
        |v| at_least(v, 1, NON_NEGATIVE),
        "requests admitted at once (ours); one more is answered at once with `503`, \
         `Retry-After: 1` and `{\"error_code\":503,...}`, never queued. A request counts until \
         its response has been sent or its connection dropped. `/health/live`, \
         `/health/ready` and `/metrics` are not counted and always answered, so a busy proxy is \
         not taken for a dead one. At least 1";
    inflight_bytes_max: u64 = "inflight.bytes.max", Text("268435456"),
        |v| number(v, NON_NEGATIVE),
        "request-body bytes admitted requests may hold at once (ours); before its handler runs a \
         request reserves its `Content-Length` (capped at `request.body.max.bytes`), \
         `request.body.max.bytes` when the length is unknown (chunked) and nothing without a \
         body; a v3 produce stream, read one record at a time, reserves at most \
         `api.v3.produce.request.size.limit.max.bytes`. A request that does not fit gets the \
         same `503`. At least `request.body.max.bytes`";
    ssl_keystore_location: Option<PathBuf> = "ssl.keystore.location", Text(""), path,
        "the certificate and private key of the `https` listeners: a `PKCS12` keystore, or a \
         `PEM` file holding the certificate chain (server certificate first) and the key";
    ssl_keystore_type: KeystoreType = "ssl.keystore.type", Text("JKS"), |v| v.parse(),
        "`PKCS12`, `PEM`, or `JKS`, which, as in Java, also reads a PKCS#12 file; a Java KeyStore \
         proper (JKS/JCEKS) is refused with the `keytool` command that converts it";
    ssl_keystore_password: Secret = "ssl.keystore.password", Text(""), secret,
        "password of a `PKCS12` keystore";
    ssl_key_password: Secret = "ssl.key.password", Text(""), secret,
        "password of an encrypted `PEM` private key; for `PKCS12`, tried when \
         `ssl.keystore.password` does not open the key";
    ssl_truststore_location: Option<PathBuf> = "ssl.truststore.location", Text(""), path,
        "CA certificates that client certificates must chain to: a `PKCS12` truststore or a \
         `PEM` file; required when `ssl.client.authentication` is not `NONE`";
    ssl_truststore_type: KeystoreType = "ssl.truststore.type", Text("JKS"), |v| v.parse(),
        "`PKCS12`, `PEM` or `JKS` (read as for `ssl.keystore.type`)";
    ssl_truststore_password: Secret = "ssl.truststore.password", Text(""), secret,
        "password of a `PKCS12` truststore";
    ssl_client_authentication: Option<ClientAuthentication> = "ssl.client.authentication",
        Text(""), client_authentication,
        "client certificates on `https` listeners: `NONE`, `REQUESTED` (a client may present one) \
         or `REQUIRED` (the handshake fails without one); a presented certificate must chain to \
         the truststore. Empty means `NONE`, or `REQUIRED` when `ssl.client.auth=true`";
    ssl_client_auth: bool = "ssl.client.auth", Text("false"), flag,
        "deprecated (Confluent): `true` means `ssl.client.authentication=REQUIRED` when that key \
         is not set";
    ssl_enabled_protocols: Vec<TlsVersion> = "ssl.enabled.protocols", Text(""), protocols,
        "comma-separated TLS versions the `https` listeners accept: `TLSv1.2`, `TLSv1.3`; empty \
         means both. Older versions are refused at start";
    ssl_cipher_suites: Vec<String> = "ssl.cipher.suites", Text(""), |v| tokens(v, ""),
        "comma-separated cipher suites (IANA names as Java lists them, e.g. \
         `TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`); empty means every \
         suite rustls offers (AES-GCM and ChaCha20-Poly1305 with ECDHE). Suites rustls does not \
         implement are skipped with a warning; none left is an error";
    ssl_keystore_reload: bool = "ssl.keystore.reload", Text("false"), flag,
        "reload the keystore (and truststore) when the keystore file changes; new handshakes \
         use the new certificate, open connections keep theirs. SIGHUP reloads them whenever an \
         `https` listener is configured";
    ssl_keystore_watch_location: Option<PathBuf> = "ssl.keystore.watch.location", Text(""), path,
        "the file or directory whose change triggers the reload, when it is not the keystore \
         itself (e.g. a Kubernetes secret's `..data` link)";
    ssl_keystore_reload_interval: Duration = "ssl.keystore.reload.interval.ms", Text("1000"),
        |v| between(v, 100, 3_600_000, NON_NEGATIVE).map(Duration::from_millis),
        "how often `ssl.keystore.reload` looks at the watched file's modification time, size and \
         inode (ours, 100-3600000)";
    connection_idle_timeout: Duration = "connection.idle.timeout.ms", Text("60000"), millis,
        "a connection with no traffic for this long is closed; must exceed `produce.timeout.ms` \
         and `consumer.request.timeout.ms` by 1 s";
    authentication_method: AuthenticationMethod = "authentication.method", Text("NONE"),
        |v| v.parse(),
        "`NONE`, `BASIC` (HTTP Basic against the password file), `BEARER` (a signed JWT) or \
         `CERTIFICATE` (the verified TLS client certificate, ours); see \
         [Authentication and authorization](#authentication-and-authorization)";
    authentication_realm: String = "authentication.realm", Text("KafkaRest"), text,
        "the realm named in `WWW-Authenticate`, and the section of \
         `authentication.jaas.config.file` that names the password file (Confluent's default \
         is empty and needs a JAAS file anyway)";
    authentication_roles: Vec<String> = "authentication.roles", Text("*"), |v| Ok(items(v)),
        "roles allowed to use the proxy at all: `*` or `**` any authenticated user, else a \
         comma-separated list (the user needs one of them); an empty list refuses everyone \
         with `403`";
    authentication_skip_paths: Vec<String> = "authentication.skip.paths", Text(""),
        |v| Ok(items(v)),
        "comma-separated paths served without authentication: exact paths, or prefixes ending \
         in `/*`";
    authentication_health_and_metrics_open: bool = "authentication.health.and.metrics.open",
        Text("true"), flag,
        "`/health/live`, `/health/ready` and `/metrics` are served without authentication \
         (ours); `false` protects them like every other path";
    authentication_password_file: String = "authentication.password.file", Text(""), text,
        "the password file for `BASIC` (Jetty's `user: password,role...` format with plain, \
         `OBF:`, `MD5:` or `CRYPT:` passwords; ours). Checked every \
         `authentication.password.file.reload.ms` and reloaded when it changes";
    authentication_jaas_config_file: String = "authentication.jaas.config.file", Text(""),
        text,
        "instead of `authentication.password.file`: the JAAS configuration Confluent's proxy \
         reads through `-Djava.security.auth.login.config`; the `file` option of the \
         `PropertyFileLoginModule` in section `authentication.realm` names the password file \
         (ours)";
    authentication_password_file_reload: Duration = "authentication.password.file.reload.ms",
        Text("1000"), millis,
        "how often the password file is read again; changed contents are taken within this \
         time, and a file that no longer parses keeps the previous users (with a warning). 0 \
         never reloads (ours)";
    authentication_bearer_jwks_file: String = "authentication.bearer.jwks.file", Text(""), text,
        "`BEARER`: a JWKS document (RSA and P-256 keys; ours). Tokens must be RS256 or ES256";
    authentication_bearer_public_key_file: String = "authentication.bearer.public.key.file",
        Text(""), text,
        "`BEARER`: instead of a JWKS, one PEM public key or certificate (ours)";
    authentication_bearer_issuer: String = "authentication.bearer.issuer", Text(""), text,
        "`BEARER`: the `iss` a token must carry; empty accepts any (ours)";
    authentication_bearer_audience: String = "authentication.bearer.audience", Text(""), text,
        "`BEARER`: a value the token's `aud` must contain; empty accepts any (ours)";
    authentication_bearer_clock_skew: Duration = "authentication.bearer.clock.skew.ms",
        Text("30000"), |v| millis(v).and_then(|d| {
            if d <= Duration::from_secs(300) { Ok(d) } else { Err("must be at most 300000".into()) }
        }),
        "`BEARER`: tolerance on `exp` and `nbf`, 0-300000 (ours)";
    authentication_bearer_principal_claim: String = "authentication.bearer.principal.claim",
        Text("sub"), text,
        "`BEARER`: the claim naming the user (ours)";
    authentication_bearer_roles_claim: String = "authentication.bearer.roles.claim",
        Text("roles"), text,
        "`BEARER`: the claim with the user's roles, a dotted path such as \
         `realm_access.roles`; an array of strings or a space-separated string (ours)";
    ssl_principal_mapping_rules: String = "ssl.principal.mapping.rules", Text("DEFAULT"), text,
        "`CERTIFICATE`: Kafka's rules from the certificate subject (`CN=alice,O=Example`) to \
         the user name, e.g. `RULE:^CN=([^,]+),.*$/$1/L,DEFAULT` (ours); the user's roles are \
         the password file's for that name, when one is configured";
    authorization_roles_metadata: Vec<String> = "authorization.roles.metadata", Text("*"),
        |v| Ok(items(v)),
        "roles that may read metadata (v2 topics, partitions, brokers; v3 clusters, brokers, \
         topics, partitions); `*` any authenticated user, empty nobody (ours)";
    authorization_roles_produce: Vec<String> = "authorization.roles.produce", Text("*"),
        |v| Ok(items(v)),
        "roles that may produce (v2 and v3; ours)";
    authorization_roles_consume: Vec<String> = "authorization.roles.consume", Text("*"),
        |v| Ok(items(v)),
        "roles that may use v2 consumer instances (ours)";
    authorization_roles_admin_read: Vec<String> = "authorization.roles.admin.read", Text("*"),
        |v| Ok(items(v)),
        "roles that may read v3 configurations, groups, lags, ACLs, replicas and reassignments \
         (ours)";
    authorization_roles_admin_write: Vec<String> = "authorization.roles.admin.write",
        Text("admin"), |v| Ok(items(v)),
        "roles that may change the cluster through v3 (create, alter, delete; everything but \
         produce) once authentication is on (ours)";
    auth_passthrough: bool = "auth.passthrough", Text("false"), flag,
        "principal pass-through (ours): produce, v3 administration and the consumer instances a \
         user creates talk to Kafka as that user, so Kafka's ACLs decide (`403`/`40301` when \
         they refuse). Callers sign in to Kafka with their HTTP Basic user name and password \
         over `auth.passthrough.sasl.mechanism`; needs `authentication.method=BASIC` and \
         `client.security.protocol` `SASL_SSL` or `SASL_PLAINTEXT`. Metadata reads keep the \
         proxy's own identity";
    auth_passthrough_sasl_mechanism: String = "auth.passthrough.sasl.mechanism", Text("PLAIN"),
        sasl_password_mechanism,
        "the SASL mechanism of `BASIC` callers' Kafka clients under `auth.passthrough`: \
         `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (ours)";
    auth_passthrough_clients_max: usize = "auth.passthrough.clients.max", Text("100"),
        |v| between(v, 1, 10_000, NON_NEGATIVE),
        "principals whose Kafka clients (a producer, an admin client) are kept at once under \
         `auth.passthrough`, 1-10000 (ours); one more closes the least recently used. Consumer \
         instances count against `consumer.instances.max` instead";
    auth_passthrough_idle: Duration = "auth.passthrough.idle.ms", Text("300000"),
        positive_millis,
        "a principal's Kafka clients unused for this long are closed (ours)";
    api_endpoints_allowlist: Vec<String> = "api.endpoints.allowlist", Text(""),
        |v| Ok(items(v)),
        "resource names (`api.v2.topics.list`, or a class such as `api.v3.topics.*`) that stay \
         enabled; when set every other endpoint is off (`404` for GET, `405` otherwise)";
    api_endpoints_blocklist: Vec<String> = "api.endpoints.blocklist", Text(""),
        |v| Ok(items(v)),
        "resource names that are turned off; wins over the allowlist";
    metrics_listener: Option<Listener> = "metrics.listener", Text(""), optional_listener,
        "where `GET /metrics` (Prometheus text format) is served (ours): empty serves it on the \
         main listener, beside the API and outside the in-flight limits; `http://host:port` \
         serves it there only, on a listener of its own";
    metrics_topics_max: usize = "metrics.topics.max", Text("100"), |v| number(v, NON_NEGATIVE),
        "topics that get their own `topic` label in the produce metrics (ours); records to \
         further topics are counted under `topic=\"other\"`, so clients cannot grow the \
         number of series without bound";
    metrics_kafka_statistics_interval: Duration = "metrics.kafka.statistics.interval.ms",
        Text("15000"), millis,
        "how often the producers' librdkafka statistics (queue depth, broker round-trip times) \
         are refreshed for `/metrics` (ours; librdkafka's `statistics.interval.ms` for the \
         producers, which a `producer.statistics.interval.ms` overrides); 0 turns them off";
    access_log_format: AccessLogFormat = "access.log.format", Text("off"), access_log_format,
        "one line per request (ours): `off`, `common` (NCSA common log format, the \
         authenticated user as `authuser`, followed by the duration in ms, the request id and \
         the route template) or `json` (one object with `time`, `remote`, `principal`, \
         `method`, `path`, `route`, `status`, `request_bytes`, `response_bytes`, \
         `duration_ms`, `request_id`)";
    access_log_file: String = "access.log.file", Text(""), text,
        "file the access log is appended to (ours); empty writes it to standard output";
    access_log_queue_max: usize = "access.log.queue.max", Text("10000"),
        |v| at_least(v, 1, NON_NEGATIVE),
        "access log lines waiting for the writer thread (ours); lines beyond it are dropped, \
         and a warning says how many, rather than slowing requests down";
    tracing_otlp_endpoint: String = "tracing.otlp.endpoint", Text(""), text,
        "where the spans of each request (`request`, then `produce` and `kafka.send` for a \
         produce) are exported over OTLP/HTTP with JSON bodies (ours), as the full URL of the \
         collector's traces resource, e.g. `http://localhost:4318/v1/traces`; empty turns \
         tracing off, and with it every cost of it";
    tracing_otlp_queue_max: usize = "tracing.otlp.queue.max", Text("2048"),
        |v| at_least(v, 1, NON_NEGATIVE),
        "finished spans waiting for export (ours); spans beyond it are dropped";
    log_format: LogFormat = "log.format", Text("text"), log_format,
        "the format of the proxy's own log on standard error (ours): `text` or `json` (one \
         object per event); the level is set with the `KAFKA_REST_LOG` environment variable \
         (`info` by default, e.g. `kafka_rest=debug`)";
}

/// Keys under a pass-through prefix that another module reads from the prefixed maps of
/// [`Config`]. Listed here so that the README documents them beside the proxy's own keys; the
/// parsers are where the keys are used (`schema/registry.rs`, `consume/`).
pub const PASS_THROUGH: &[Key] = &[
    Key {
        name: "schema.registry.basic.auth.credentials.source",
        default: Text("URL"),
        doc: "`URL` (credentials in the URL's user info) or `USER_INFO`; `USER_INFO` when only \
              the user info is set",
    },
    Key {
        name: "schema.registry.basic.auth.user.info",
        default: Text(""),
        doc: "`user:password` for basic authentication",
    },
    Key {
        name: "schema.registry.bearer.auth.credentials.source",
        default: Text(""),
        doc: "`STATIC_TOKEN` for bearer authentication with `schema.registry.bearer.auth.token`",
    },
    Key {
        name: "schema.registry.bearer.auth.token",
        default: Text(""),
        doc: "the bearer token",
    },
    Key {
        name: "schema.registry.ssl.truststore.location",
        default: Text(""),
        doc: "CA certificates for `https://` registries: a PEM file (with \
              `schema.registry.ssl.truststore.type=PEM`); the system's CAs are trusted too",
    },
    Key {
        name: "schema.registry.ssl.truststore.type",
        default: Text("JKS"),
        doc: "only `PEM` is supported",
    },
    Key {
        name: "schema.registry.ssl.truststore.certificates",
        default: Text(""),
        doc: "inline PEM CA certificates",
    },
    Key {
        name: "schema.registry.ssl.keystore.location",
        default: Text(""),
        doc: "client certificate: `PKCS12`, or `PEM` (certificate chain and PKCS#8 key in one \
              file)",
    },
    Key {
        name: "schema.registry.ssl.keystore.type",
        default: Text("JKS"),
        doc: "`PKCS12` or `PEM`",
    },
    Key {
        name: "schema.registry.ssl.keystore.password",
        default: Text(""),
        doc: "password of a `PKCS12` key store",
    },
    Key {
        name: "schema.registry.ssl.endpoint.identification.algorithm",
        default: Text("https"),
        doc: "empty turns off the host name check",
    },
    Key {
        name: "client.*",
        default: Text(""),
        doc: "librdkafka settings for every Kafka client (prefix stripped)",
    },
    Key {
        name: "client.security.protocol",
        default: Text("PLAINTEXT"),
        doc: "`PLAINTEXT`, `SSL`, `SASL_SSL` or `SASL_PLAINTEXT` (librdkafka's own key; like \
              every security key below it may also be set under `producer.*`, `consumer.*` or \
              `admin.*`)",
    },
    Key {
        name: "client.sasl.mechanism",
        default: Text("GSSAPI"),
        doc: "`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`",
    },
    Key {
        name: "client.sasl.jaas.config",
        default: Text(""),
        doc: "Java's JAAS line, translated at start: `PlainLoginModule` or `ScramLoginModule` \
              `required username=\"...\" password=\"...\";` (librdkafka's `sasl.username` and \
              `sasl.password`), `OAuthBearerLoginModule` with `clientId`/`clientSecret` (OIDC) \
              or `unsecuredLoginStringClaim_sub`; other login modules stop the start",
    },
    Key {
        name: "client.ssl.truststore.location",
        default: Text(""),
        doc: "CA certificates Kafka's certificates must chain to: PEM, or PKCS#12 (converted at \
              start); a Java KeyStore proper stops the start with the `keytool` command that \
              converts it",
    },
    Key {
        name: "client.ssl.truststore.type",
        default: Text("JKS"),
        doc: "`PEM`, `PKCS12` or `JKS` (the file's content decides; see above)",
    },
    Key {
        name: "client.ssl.truststore.password",
        default: Text(""),
        doc: "password of a PKCS#12 truststore",
    },
    Key {
        name: "client.ssl.keystore.location",
        default: Text(""),
        doc: "the client certificate for `SSL` listeners that require one: PKCS#12, or PEM \
              (private key and certificate chain in one file)",
    },
    Key {
        name: "client.ssl.keystore.type",
        default: Text("JKS"),
        doc: "`PKCS12`, `PEM` or `JKS` (the file's content decides)",
    },
    Key {
        name: "client.ssl.keystore.password",
        default: Text(""),
        doc: "password of a PKCS#12 keystore; `client.ssl.key.password` opens an encrypted key",
    },
    Key {
        name: "producer.*",
        default: Text(""),
        doc: "librdkafka settings for the producers (win over `client.*`)",
    },
    Key {
        name: "consumer.*",
        default: Text(""),
        doc: "librdkafka settings for the consumer instances (win over `client.*`)",
    },
    Key {
        name: "admin.*",
        default: Text(""),
        doc: "librdkafka settings for the metadata client (win over `client.*`)",
    },
    Key {
        name: "consumer.queued.max.messages.kbytes",
        default: Text("1024"),
        doc: "librdkafka prefetch per consumer instance; the proxy lowers librdkafka's default \
              (65536), set this to raise it",
    },
    Key {
        name: "consumer.queued.min.messages",
        default: Text("1000"),
        doc: "the same in records; the proxy lowers librdkafka's default (100000)",
    },
    Key {
        name: "consumer.fetch.queue.backoff.ms",
        default: Text("10"),
        doc: "how long librdkafka waits to fetch again once the prefetch queue is full; the proxy \
              lowers librdkafka's default (1000) so that a records call that drained the small \
              queue finds it refilled",
    },
    Key {
        name: "consumer.enable.metrics.push",
        default: Text("false"),
        doc: "KIP-714 client metrics pushed to the brokers; librdkafka's default is `true`, which \
              keeps latency histograms costing about 0.28 MiB per consumer instance (the proxy \
              has its own `/metrics`)",
    },
];

const NON_NEGATIVE: &str = "a non-negative integer";

/// `access.log.format`: how each request is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    Off,
    /// The NCSA common log format followed by the duration in milliseconds, the request id
    /// and the route template.
    Common,
    /// One JSON object per line.
    Json,
}

fn access_log_format(v: &str) -> Result<AccessLogFormat, String> {
    match v.to_ascii_lowercase().as_str() {
        "off" => Ok(AccessLogFormat::Off),
        "common" => Ok(AccessLogFormat::Common),
        "json" => Ok(AccessLogFormat::Json),
        _ => Err("expected off, common or json".into()),
    }
}

/// `log.format`: how the proxy's own log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn log_format(v: &str) -> Result<LogFormat, String> {
    match v.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".into()),
    }
}

/// One `scheme://host:port` listener, or `None` when empty.
fn optional_listener(v: &str) -> Result<Option<Listener>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    parse_listener(v)
        .map(Some)
        .map_err(|reason| format!("{v:?}: {reason}"))
}

fn sasl_password_mechanism(v: &str) -> Result<String, String> {
    let upper = v.trim().to_ascii_uppercase();
    match upper.as_str() {
        "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => Ok(upper),
        _ => Err("expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into()),
    }
}

fn text(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

fn flag(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn secret(v: &str) -> Result<Secret, String> {
    Ok(Secret::new(v))
}

/// A file path; empty means none.
fn path(v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

/// `NONE`, `REQUESTED` or `REQUIRED` in any case; empty means "not set" (the deprecated
/// `ssl.client.auth` then decides, see `Config::client_authentication`).
fn client_authentication(v: &str) -> Result<Option<ClientAuthentication>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some)
}

/// Comma-separated TLS versions; empty means TLS 1.2 and 1.3.
fn protocols(v: &str) -> Result<Vec<TlsVersion>, String> {
    let mut versions = Vec::new();
    for item in list(v) {
        let version = item.parse()?;
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        versions = vec![TlsVersion::Tls12, TlsVersion::Tls13];
    }
    Ok(versions)
}

fn port(v: &str) -> Result<u16, String> {
    v.parse()
        .map_err(|_| "expected a port number (0-65535)".into())
}

fn number<T: FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("expected {what}"))
}

fn between<T: FromStr + PartialOrd + Display>(
    v: &str,
    low: T,
    high: T,
    what: &str,
) -> Result<T, String> {
    let n: T = number(v, what)?;
    if low <= n && n <= high {
        Ok(n)
    } else {
        Err(format!("must be between {low} and {high}"))
    }
}

fn at_least<T: FromStr + PartialOrd + Display>(v: &str, low: T, what: &str) -> Result<T, String> {
    let n: T = number(v, what)?;
    if n >= low {
        Ok(n)
    } else {
        Err(format!("must be at least {low}"))
    }
}

fn millis(v: &str) -> Result<Duration, String> {
    number(v, "a non-negative number of milliseconds").map(Duration::from_millis)
}

fn positive_millis(v: &str) -> Result<Duration, String> {
    match millis(v)? {
        d if d >= Duration::from_millis(1) => Ok(d),
        _ => Err("must be at least 1".into()),
    }
}

/// Comma-separated `scheme://host:port` items (IPv6 hosts in brackets); empty items skipped.
fn listeners(v: &str) -> Result<Vec<Listener>, String> {
    list(v)
        .map(|item| parse_listener(item).map_err(|reason| format!("{item:?}: {reason}")))
        .collect()
}

/// An `http(s)://` URL list without trailing `/`; `None` when empty.
fn registry_url(v: &str) -> Result<Option<String>, String> {
    let url = v.trim_end_matches('/');
    if url.is_empty() {
        Ok(None)
    } else if url.starts_with("http://") || url.starts_with("https://") {
        Ok(Some(url.to_string()))
    } else {
        Err("expected an http:// or https:// URL".into())
    }
}

/// Comma-separated origins; each must be a valid header value without spaces, since it is
/// compared with (and sent back as) the `Origin` header.
fn origins(v: &str) -> Result<Vec<String>, String> {
    list(v)
        .map(|item| {
            if item.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(item.to_string())
            } else {
                Err(format!("{item:?} is not an origin"))
            }
        })
        .collect()
}

/// Comma-separated HTTP tokens (method or header names); `default` when empty.
fn tokens(v: &str, default: &str) -> Result<Vec<String>, String> {
    let v = if v.is_empty() { default } else { v };
    list(v)
        .map(|item| {
            let is_token = item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if is_token {
                Ok(item.to_string())
            } else {
                Err(format!("{item:?} is not a method or header name"))
            }
        })
        .collect()
}

/// A comma-separated list, items trimmed, empty items dropped.
fn items(v: &str) -> Vec<String> {
    list(v).map(str::to_string).collect()
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Parses `http://host:port` or `https://host:port` (IPv6 hosts in brackets).
pub(super) fn parse_listener(item: &str) -> Result<Listener, String> {
    let (scheme, rest) = item
        .split_once("://")
        .ok_or_else(|| "expected scheme://host:port, e.g. http://0.0.0.0:8082".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}; use http or https"));
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

    /// The README table of `keys`: one row per key, in table order.
    fn readme_table(keys: &[Key]) -> String {
        let mut out = String::from("| key | default | meaning |\n|---|---|---|\n");
        for key in keys {
            let default = match key.default {
                Required => "(required)".to_string(),
                Text("") => "empty".to_string(),
                Text(value) => format!("`{value}`"),
            };
            out.push_str(&format!("| `{}` | {default} | {} |\n", key.name, key.doc));
        }
        out
    }

    /// Replaces the text between `<!-- begin NAME -->` and `<!-- end NAME -->` lines.
    fn replace_block(readme: &str, name: &str, body: &str) -> Option<String> {
        let begin = format!("<!-- begin {name} (generated from src/config/keys.rs) -->\n");
        let end = format!("<!-- end {name} -->");
        let start = readme.find(&begin)? + begin.len();
        let stop = start + readme[start..].find(&end)?;
        Some(format!("{}{body}{}", &readme[..start], &readme[stop..]))
    }

    #[test]
    fn readme_tables_are_the_key_tables() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md is readable");
        let mut expected = readme.clone();
        for (name, keys) in [("config keys", KEYS), ("pass-through keys", PASS_THROUGH)] {
            expected = replace_block(&expected, name, &readme_table(keys))
                .unwrap_or_else(|| panic!("README.md has no `{name}` block"));
        }
        if expected != readme {
            if std::env::var_os("UPDATE_README").is_some() {
                std::fs::write(path, &expected).expect("README.md is writable");
            }
            panic!(
                "README.md's configuration tables differ from src/config/keys.rs; run \
                 `UPDATE_README=1 cargo test --lib config::keys` to rewrite them"
            );
        }
    }

    #[test]
    fn every_key_is_listed_once() {
        let mut names: Vec<&str> = KEYS.iter().chain(PASS_THROUGH).map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a key is listed twice");
    }

    #[test]
    fn cors_lists_default_to_jettys_and_refuse_what_is_not_a_token() {
        assert_eq!(
            tokens("", CORS_METHODS).expect("default"),
            ["GET", "POST", "HEAD"]
        );
        assert_eq!(
            tokens(" GET , DELETE,", CORS_METHODS).expect("list"),
            ["GET", "DELETE"]
        );
        assert!(tokens("GET POST", CORS_METHODS).is_err());
        assert_eq!(
            origins("*, https://a.example").expect("origins"),
            ["*", "https://a.example"]
        );
        assert!(origins("https://a b").is_err());
    }
}
