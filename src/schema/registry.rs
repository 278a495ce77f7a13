//! The one Schema Registry client of the process: HTTP calls to a Confluent-compatible registry
//! (schema by id, lookup under a subject, register under a subject), their authentication and
//! TLS settings, short timeouts, and bounded caches so that a steady stream of requests with the
//! same schema costs no round trip after the first.
//!
//! Only successful answers are cached, so a registry outage costs failed requests while it lasts
//! and nothing after it (no poisoned entries). Which subject a schema goes under, and what the
//! schema text means, are the business of `schema/mod.rs` and the codecs.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::metrics::{Metrics, RegistryOutcome, SchemaCache};

/// The schema types of the registry API (`schemaType`; absent means AVRO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    /// The registry's name for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    fn from_registry(name: Option<&str>) -> Option<SchemaType> {
        match name.map(str::to_ascii_uppercase).as_deref() {
            None | Some("") | Some("AVRO") => Some(SchemaType::Avro),
            Some("JSON") => Some(SchemaType::Json),
            Some("PROTOBUF") => Some(SchemaType::Protobuf),
            Some(_) => None,
        }
    }
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: i32,
    pub schema_type: SchemaType,
    pub text: String,
    /// Whether the schema refers to other registered schemas (not supported by the codecs).
    pub has_references: bool,
}

/// Why the client could not be built. Reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    #[error("invalid schema.registry.url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read `schema.registry.{key}` file {path}")]
    ReadFile {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid `schema.registry.{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot build the schema registry HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Why a registry call failed, in the registry's own words where it answered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No answer: connection refused, timeout, TLS failure.
    #[error("the schema registry at {url} did not answer: {reason}")]
    Unreachable {
        url: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error.
    #[error("{message} (schema registry error code {error_code})")]
    Rejected {
        status: u16,
        error_code: i64,
        message: String,
    },
    /// The registry answered something this client does not understand.
    #[error("unexpected answer from the schema registry: {0}")]
    BadAnswer(String),
}

impl RegistryError {
    /// Whether the registry said "not found" (subject or schema unknown).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Rejected { status: 404, .. })
    }

    /// Whether the failure says nothing about the request, only that the registry cannot
    /// serve now: no answer, a server error (5xx) or a rate limit (429). A retry may work.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Rejected { status, .. } => *status >= 500 || *status == 429,
            RegistryError::BadAnswer(_) => false,
        }
    }

    /// Whether the registry refused the caller's credentials or permissions.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            RegistryError::Rejected {
                status: 401 | 403,
                ..
            } | RegistryError::Rejected {
                error_code: 40301,
                ..
            }
        )
    }
}

/// The settings of the client, from `schema.registry.*`.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// `schema.registry.url`: one or more comma-separated base URLs, tried in order.
    pub url: String,
    /// `schema.registry.http.connect.timeout.ms`.
    pub connect_timeout: Duration,
    /// `schema.registry.http.read.timeout.ms`: bound on a whole call, answer included.
    pub request_timeout: Duration,
    /// `schema.registry.cache.capacity`: entries per cache.
    pub cache_capacity: usize,
    /// Every other `schema.registry.*` setting, prefix stripped (authentication, TLS).
    pub other: BTreeMap<String, String>,
}

/// How requests authenticate.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// The registry client. Cheap to clone; all clones share the connection pool and caches.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Base URLs without credentials, tried in order until one answers.
    urls: Vec<Url>,
    auth: Auth,
    /// Schemas by id. Ids never change meaning, so entries stay until evicted.
    by_id: BoundedCache<i32, Arc<RegisteredSchema>>,
    /// The id of a schema text under a subject, once the registry confirmed it is registered
    /// there (by lookup or by registering it).
    ids: BoundedCache<(String, SchemaType, String), i32>,
    /// Counts every HTTP request to the registry and every lookup in the two caches above.
    metrics: Metrics,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5";

impl Registry {
    /// Builds the client; reads TLS files named in the settings. Opens no connection.
    #[cfg(test)]
    pub fn new(settings: &RegistrySettings) -> Result<Registry, RegistrySetupError> {
        Registry::with_metrics(settings, Metrics::default())
    }

    /// [`Registry::new`], counting requests and cache lookups in `metrics`.
    pub fn with_metrics(
        settings: &RegistrySettings,
        metrics: Metrics,
    ) -> Result<Registry, RegistrySetupError> {
        let other = &settings.other;
        let mut urls = Vec::new();
        let mut url_credentials = None;
        for raw in settings
            .url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let mut url = Url::parse(raw).map_err(|e| RegistrySetupError::Url {
                url: raw.to_string(),
                reason: e.to_string(),
            })?;
            if !url.username().is_empty() {
                url_credentials.get_or_insert_with(|| {
                    (
                        percent_decode(url.username()),
                        percent_decode(url.password().unwrap_or_default()),
                    )
                });
                // Credentials never appear in URLs that end up in messages.
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
            urls.push(url);
        }
        let auth = auth_from(other, url_credentials)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("kafka-rest/", env!("CARGO_PKG_VERSION")));
        builder = tls_from(other, builder)?;
        let http = builder.build().map_err(RegistrySetupError::Client)?;
        Ok(Registry {
            inner: Arc::new(Inner {
                http,
                urls,
                auth,
                by_id: BoundedCache::new(settings.cache_capacity),
                ids: BoundedCache::new(settings.cache_capacity),
                metrics,
            }),
        })
    }

    /// The schema with this id (`GET /schemas/ids/{id}`), cached.
    pub async fn schema_by_id(&self, id: i32) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let cached = self.inner.by_id.get(&id);
        self.inner
            .metrics
            .schema_cache(SchemaCache::RegistryById, cached.is_some());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            schema: String,
            #[serde(default)]
            schema_type: Option<String>,
            #[serde(default)]
            references: Option<Vec<serde_json::Value>>,
        }
        let answer: Answer = self
            .call(
                reqwest::Method::GET,
                &["schemas", "ids", &id.to_string()],
                None,
            )
            .await?;
        let schema_type =
            SchemaType::from_registry(answer.schema_type.as_deref()).ok_or_else(|| {
                RegistryError::BadAnswer(format!(
                    "schema {id} has the unknown type {:?}",
                    answer.schema_type
                ))
            })?;
        let schema = Arc::new(RegisteredSchema {
            id,
            schema_type,
            text: answer.schema,
            has_references: answer.references.is_some_and(|r| !r.is_empty()),
        });
        self.inner.by_id.insert(id, schema.clone());
        Ok(schema)
    }

    /// Records that schema `id` has `text` (learned from a lookup or registration), so that a
    /// later request naming the id needs no fetch. Keeps an entry already there.
    pub fn remember(&self, id: i32, schema_type: SchemaType, text: &str) {
        if self.inner.by_id.get(&id).is_none() {
            self.inner.by_id.insert(
                id,
                Arc::new(RegisteredSchema {
                    id,
                    schema_type,
                    text: text.to_string(),
                    has_references: false,
                }),
            );
        }
    }

    /// The id of `text` under `subject` if it is registered there (`POST /subjects/{subject}`),
    /// `None` if the subject or the schema is unknown. Cached when found.
    pub async fn lookup(
        &self,
        subject: &str,
        schema_type: SchemaType,
        text: &str,
    ) -> Result<Option<i32>, RegistryError> {
        let key = (subject.to_string(), schema_type, text.to_string());
        let cached = self.inner.ids.get(&key);
        self.inner
            .metrics
            .schema_cache(SchemaCache::RegistryIds, cached.is_some());
        if let Some(id) = cached {
            return Ok(Some(id));
        }
        #[derive(Deserialize)]
        struct Answer {
            id: i32,
        }
        let body = schema_body(schema_type, text);
        match self
            .call::<Answer>(reqwest::Method::POST, &["subjects", subject], Some(&body))
            .await
        {
            Ok(answer) => {
                self.inner.ids.insert(key, answer.id);
                Ok(Some(answer.id))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Version `version` of `subject` (`GET /subjects/{subject}/versions/{version}`), or its
    /// latest version when `None`, as (id, version). Explicit versions never change and are
    /// cached by the schema id; the latest version is asked for each time.
    pub async fn subject_version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<(Arc<RegisteredSchema>, i32), RegistryError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            id: i32,
            version: i32,
            schema: String,
            #[serde(default)]
            schema_type: Option<String>,
            #[serde(default)]
            references: Option<Vec<serde_json::Value>>,
        }
        let version_segment = version.map_or_else(|| "latest".to_string(), |v| v.to_string());
        let answer: Answer = self
            .call(
                reqwest::Method::GET,
                &["subjects", subject, "versions", &version_segment],
                None,
            )
            .await?;
        let schema_type =
            SchemaType::from_registry(answer.schema_type.as_deref()).ok_or_else(|| {
                RegistryError::BadAnswer(format!(
                    "schema {} has the unknown type {:?}",
                    answer.id, answer.schema_type
                ))
            })?;
        let schema = match self.inner.by_id.get(&answer.id) {
            Some(hit) => hit,
            None => {
                let schema = Arc::new(RegisteredSchema {
                    id: answer.id,
                    schema_type,
                    text: answer.schema,
                    has_references: answer.references.is_some_and(|r| !r.is_empty()),
                });
                self.inner.by_id.insert(answer.id, schema.clone());
                schema
            }
        };
        Ok((schema, answer.version))
    }

    /// The id of `text` under `subject`, registering it there first if it is new
    /// (`POST /subjects/{subject}/versions`). An incompatible schema is the registry's error.
    pub async fn lookup_or_register(
        &self,
        subject: &str,
        schema_type: SchemaType,
        text: &str,
    ) -> Result<i32, RegistryError> {
        if let Some(id) = self.lookup(subject, schema_type, text).await? {
            return Ok(id);
        }
        #[derive(Deserialize)]
        struct Answer {
            id: i32,
        }
        let body = schema_body(schema_type, text);
        let answer: Answer = self
            .call(
                reqwest::Method::POST,
                &["subjects", subject, "versions"],
                Some(&body),
            )
            .await?;
        self.inner.ids.insert(
            (subject.to_string(), schema_type, text.to_string()),
            answer.id,
        );
        Ok(answer.id)
    }

    /// One call, tried against each base URL in turn until one answers.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&serde_json::Value>,
    ) -> Result<T, RegistryError> {
        let mut last = None;
        for base in &self.inner.urls {
            let mut url = base.clone();
            match url.path_segments_mut() {
                Ok(mut path) => {
                    path.pop_if_empty().extend(segments);
                }
                Err(()) => {
                    return Err(RegistryError::BadAnswer(format!(
                        "{base} cannot be a base URL"
                    )))
                }
            }
            let mut request = self
                .inner
                .http
                .request(method.clone(), url)
                .header(reqwest::header::ACCEPT, ACCEPT);
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .body(body.to_string());
            }
            request = match &self.inner.auth {
                Auth::None => request,
                Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
                Auth::Bearer(token) => request.bearer_auth(token),
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(source) => {
                    self.inner
                        .metrics
                        .registry_request(RegistryOutcome::Unreachable);
                    last = Some(unreachable(base, source));
                    continue;
                }
            };
            let status = response.status();
            self.inner.metrics.registry_request(if status.is_success() {
                RegistryOutcome::Ok
            } else {
                RegistryOutcome::Error
            });
            let bytes = match response.bytes().await {
                Ok(b) => b,
                Err(source) => {
                    last = Some(unreachable(base, source));
                    continue;
                }
            };
            return if status.is_success() {
                serde_json::from_slice(&bytes).map_err(|e| {
                    RegistryError::BadAnswer(format!(
                        "{e} in {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ))
                })
            } else {
                Err(rejected(status, &bytes))
            };
        }
        Err(last.unwrap_or_else(|| {
            RegistryError::BadAnswer("no schema registry URL is configured".into())
        }))
    }
}

fn unreachable(base: &Url, source: reqwest::Error) -> RegistryError {
    let reason = if source.is_timeout() {
        "timed out".to_string()
    } else if source.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    RegistryError::Unreachable {
        url: base.to_string(),
        reason,
        source,
    }
}

/// The registry's error body (`{"error_code": N, "message": "..."}`), or the HTTP status.
fn rejected(status: StatusCode, bytes: &[u8]) -> RegistryError {
    #[derive(Deserialize)]
    struct Body {
        error_code: Option<i64>,
        message: Option<String>,
    }
    let parsed: Option<Body> = serde_json::from_slice(bytes).ok();
    let error_code = parsed
        .as_ref()
        .and_then(|b| b.error_code)
        .unwrap_or_else(|| i64::from(status.as_u16()));
    let message = parsed.and_then(|b| b.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
        if text.trim().is_empty() {
            status.to_string()
        } else {
            text
        }
    });
    RegistryError::Rejected {
        status: status.as_u16(),
        error_code,
        message,
    }
}

fn schema_body(schema_type: SchemaType, text: &str) -> serde_json::Value {
    match schema_type {
        SchemaType::Avro => serde_json::json!({ "schema": text }),
        other => serde_json::json!({ "schema": text, "schemaType": other.as_str() }),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `basic.auth.credentials.source` (`URL`, `USER_INFO`) with `basic.auth.user.info`, or
/// `bearer.auth.credentials.source=STATIC_TOKEN` with `bearer.auth.token`.
fn auth_from(
    other: &BTreeMap<String, String>,
    url_credentials: Option<(String, String)>,
) -> Result<Auth, RegistrySetupError> {
    let get = |k: &str| other.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(source) = get("bearer.auth.credentials.source") {
        if !source.eq_ignore_ascii_case("STATIC_TOKEN") {
            return Err(RegistrySetupError::Invalid {
                key: "bearer.auth.credentials.source",
                reason: format!("{source:?} is not supported; use STATIC_TOKEN"),
            });
        }
        let token = get("bearer.auth.token").ok_or(RegistrySetupError::Invalid {
            key: "bearer.auth.token",
            reason: "required with bearer.auth.credentials.source=STATIC_TOKEN".into(),
        })?;
        return Ok(Auth::Bearer(token.to_string()));
    }
    let user_info = get("basic.auth.user.info");
    // Confluent defaults the source to URL; with user info set and no source, use the info.
    let source = get("basic.auth.credentials.source")
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| {
            if user_info.is_some() {
                "USER_INFO".into()
            } else {
                "URL".into()
            }
        });
    match source.as_str() {
        "URL" => Ok(match url_credentials {
            Some((user, password)) => Auth::Basic { user, password },
            None => Auth::None,
        }),
        "USER_INFO" => {
            let info = user_info.ok_or(RegistrySetupError::Invalid {
                key: "basic.auth.user.info",
                reason: "required with basic.auth.credentials.source=USER_INFO".into(),
            })?;
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            Ok(Auth::Basic {
                user: user.to_string(),
                password: password.to_string(),
            })
        }
        other => Err(RegistrySetupError::Invalid {
            key: "basic.auth.credentials.source",
            reason: format!("{other:?} is not supported; use URL or USER_INFO"),
        }),
    }
}

/// TLS for `https://` registries: trusted CAs (`ssl.truststore.location` with
/// `ssl.truststore.type=PEM`, or inline `ssl.truststore.certificates`), a client certificate
/// (`ssl.keystore.location` of type PKCS12 with `ssl.keystore.password`, or PEM with the
/// certificate chain and the PKCS#8 key in one file), and host name checks
/// (`ssl.endpoint.identification.algorithm`, empty turns them off).
fn tls_from(
    other: &BTreeMap<String, String>,
    mut builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, RegistrySetupError> {
    let get = |k: &str| other.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let read = |key: &'static str, path: &str| {
        std::fs::read(path).map_err(|source| RegistrySetupError::ReadFile {
            key,
            path: path.to_string(),
            source,
        })
    };
    let invalid = |key: &'static str, e: reqwest::Error| RegistrySetupError::Invalid {
        key,
        reason: e.to_string(),
    };
    let mut trusted = Vec::new();
    if let Some(path) = get("ssl.truststore.location") {
        let kind = get("ssl.truststore.type")
            .unwrap_or("JKS")
            .to_ascii_uppercase();
        if kind != "PEM" {
            return Err(RegistrySetupError::Invalid {
                key: "ssl.truststore.type",
                reason: format!("{kind} trust stores are not supported; use PEM"),
            });
        }
        trusted.push((
            "ssl.truststore.location",
            read("ssl.truststore.location", path)?,
        ));
    }
    if let Some(pem) = get("ssl.truststore.certificates") {
        trusted.push(("ssl.truststore.certificates", pem.as_bytes().to_vec()));
    }
    for (key, pem) in trusted {
        for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(key, e))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(path) = get("ssl.keystore.location") {
        let bytes = read("ssl.keystore.location", path)?;
        let kind = get("ssl.keystore.type")
            .unwrap_or("JKS")
            .to_ascii_uppercase();
        let identity = match kind.as_str() {
            "PKCS12" => reqwest::Identity::from_pkcs12_der(
                &bytes,
                get("ssl.keystore.password").unwrap_or_default(),
            ),
            "PEM" => reqwest::Identity::from_pkcs8_pem(&bytes, &bytes),
            other => {
                return Err(RegistrySetupError::Invalid {
                    key: "ssl.keystore.type",
                    reason: format!("{other} key stores are not supported; use PKCS12 or PEM"),
                })
            }
        }
        .map_err(|e| invalid("ssl.keystore.location", e))?;
        builder = builder.identity(identity);
    }
    if other
        .get("ssl.endpoint.identification.algorithm")
        .is_some_and(|v| v.trim().is_empty())
    {
        builder = builder.danger_accept_invalid_hostnames(true);
    }
    Ok(builder)
}

/// A map with at most `capacity` entries; inserting into a full map evicts the entry used
/// least recently. Lookups and inserts take a short lock and never wait on I/O.
pub(crate) struct BoundedCache<K, V> {
    /// The entries; the lock is never held across an await.
    state: Mutex<CacheState<K, V>>,
    capacity: usize,
}

struct CacheState<K, V> {
    /// Each value with the tick of its last use.
    map: HashMap<K, (V, u64)>,
    /// Counts uses, so that the least recently used entry has the smallest tick.
    tick: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCache {
            state: Mutex::new(CacheState {
                map: HashMap::new(),
                tick: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<K, V>> {
        // A panic while holding the lock cannot leave a half-written entry: every critical
        // section is a single map operation. So a poisoned lock is still a usable map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let mut state = self.lock();
        state.tick += 1;
        let now = state.tick;
        state.map.get_mut(key).map(|(v, used)| {
            *used = now;
            v.clone()
        })
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut state = self.lock();
        state.tick += 1;
        let now = state.tick;
        if state.map.len() >= self.capacity && !state.map.contains_key(&key) {
            if let Some(oldest) = state
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                state.map.remove(&oldest);
            }
        }
        state.map.insert(key, (value, now));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let cache = BoundedCache::new(2);
        cache.insert(1, "a");
        cache.insert(2, "b");
        assert_eq!(cache.get(&1), Some("a"));
        cache.insert(3, "c");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&2), None, "2 was used least recently");
        assert_eq!(cache.get(&1), Some("a"));
        assert_eq!(cache.get(&3), Some("c"));
        cache.insert(3, "c2");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&3), Some("c2"));
    }

    fn settings(url: &str, other: &[(&str, &str)]) -> RegistrySettings {
        RegistrySettings {
            url: url.into(),
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(500),
            cache_capacity: 10,
            other: other
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn credentials_come_from_user_info_or_the_url_and_never_stay_in_it() {
        let r = Registry::new(&settings(
            "http://me:s%40cret@127.0.0.1:8081/apis/ccompat/v7",
            &[],
        ))
        .expect("valid");
        assert!(
            matches!(&r.inner.auth, Auth::Basic { user, password } if user == "me" && password == "s@cret")
        );
        assert_eq!(
            r.inner.urls[0].as_str(),
            "http://127.0.0.1:8081/apis/ccompat/v7"
        );
        let r = Registry::new(&settings(
            "http://127.0.0.1:8081",
            &[
                ("basic.auth.credentials.source", "USER_INFO"),
                ("basic.auth.user.info", "u:p:q"),
            ],
        ))
        .expect("valid");
        assert!(
            matches!(&r.inner.auth, Auth::Basic { user, password } if user == "u" && password == "p:q")
        );
        let r = Registry::new(&settings(
            "http://127.0.0.1:8081",
            &[
                ("bearer.auth.credentials.source", "STATIC_TOKEN"),
                ("bearer.auth.token", "t0k"),
            ],
        ))
        .expect("valid");
        assert!(matches!(&r.inner.auth, Auth::Bearer(t) if t == "t0k"));
        assert!(Registry::new(&settings(
            "http://127.0.0.1:8081",
            &[("basic.auth.credentials.source", "SASL_INHERIT")]
        ))
        .is_err());
        assert!(Registry::new(&settings(
            "http://127.0.0.1:8081",
            &[("ssl.truststore.location", "/nonexistent/ca.jks")]
        ))
        .is_err());
    }

    #[test]
    fn registry_errors_keep_the_registrys_words() {
        let e = rejected(
            StatusCode::CONFLICT,
            br#"{"error_code":409,"message":"Incompatible artifact"}"#,
        );
        assert_eq!(
            e.to_string(),
            "Incompatible artifact (schema registry error code 409)"
        );
        assert!(!e.is_not_found());
        let e = rejected(StatusCode::NOT_FOUND, b"");
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "404 Not Found (schema registry error code 404)"
        );
        assert!(rejected(StatusCode::UNAUTHORIZED, b"no").is_forbidden());
    }

    #[test]
    fn only_server_side_failures_count_as_unavailable() {
        assert!(rejected(StatusCode::SERVICE_UNAVAILABLE, b"").is_unavailable());
        assert!(rejected(StatusCode::INTERNAL_SERVER_ERROR, b"").is_unavailable());
        assert!(rejected(StatusCode::TOO_MANY_REQUESTS, b"").is_unavailable());
        assert!(!rejected(StatusCode::NOT_FOUND, b"").is_unavailable());
        assert!(!rejected(StatusCode::FORBIDDEN, b"").is_unavailable());
        assert!(!RegistryError::BadAnswer("x".into()).is_unavailable());
    }
}
