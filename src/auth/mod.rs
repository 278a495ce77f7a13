//! Authentication and authorization of HTTP requests: who is calling (HTTP Basic against a
//! password file, a bearer JWT, or a TLS client certificate), whether their roles let them do
//! what the request asks, and whether `api.endpoints.allowlist`/`blocklist` turned the endpoint
//! off.
//!
//! The checks are pure functions in the submodules (`password.rs`, `jwt.rs`, `certificate.rs`,
//! `access.rs`) and in [`Auth::decide`]; `middleware.rs` is the thin poem layer that feeds a
//! request to `decide`, answers 401/403/404/405 itself, and attaches the
//! [`Principal`](crate::principal::Principal) for the layers and handlers after it. Reading and
//! reloading the password file is here. TLS itself (verifying the certificate) is the
//! listener's; passing a user's identity on to Kafka is `passthrough.rs` and the consumer
//! manager's, which read the principal the middleware also makes the request's
//! [`caller`](crate::principal::caller).

mod access;
mod certificate;
mod jwt;
mod middleware;
mod password;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::config::{AuthenticationMethod, Config};
use crate::principal::{AuthMethod, Credential, PeerCertificate, Principal};

pub use access::Permission;
pub use middleware::AuthLayer;

/// Why the authentication settings could not be used. Every variant names the key or file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {path} (`{key}`)")]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid password file {path}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: password::PasswordFileError,
    },
    #[error("invalid JAAS configuration {path} (`authentication.jaas.config.file`)")]
    Jaas {
        path: PathBuf,
        #[source]
        source: password::PasswordFileError,
    },
    #[error("invalid key file {path} (`{key}`)")]
    Keys {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: jwt::KeyError,
    },
    #[error("invalid `ssl.principal.mapping.rules`")]
    MappingRules(#[source] certificate::RuleError),
}

/// A set of roles from the configuration: `*` (or `**`) is any authenticated user, an empty
/// list nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roles {
    Anyone,
    OneOf(Vec<String>),
}

impl Roles {
    fn from_list(list: &[String]) -> Roles {
        if list.iter().any(|r| r == "*" || r == "**") {
            Roles::Anyone
        } else {
            Roles::OneOf(list.to_vec())
        }
    }

    fn admits(&self, held: &[String]) -> bool {
        match self {
            Roles::Anyone => true,
            Roles::OneOf(allowed) => held.iter().any(|r| allowed.contains(r)),
        }
    }
}

/// The users of the password file, replaced as a whole when the file changes.
#[derive(Debug)]
struct PasswordStore {
    path: PathBuf,
    current: RwLock<Arc<password::PasswordFile>>,
    /// The bytes `current` was parsed from (or that failed to parse), to tell a change.
    last_read: RwLock<Vec<u8>>,
}

impl PasswordStore {
    fn users(&self) -> Arc<password::PasswordFile> {
        match self.current.read() {
            Ok(users) => Arc::clone(&users),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Takes the file's new bytes; a file that no longer parses keeps the previous users.
    fn update(&self, bytes: Vec<u8>) {
        let unchanged = self
            .last_read
            .read()
            .map(|last| *last == bytes)
            .unwrap_or(false);
        if unchanged {
            return;
        }
        let parsed = String::from_utf8(bytes.clone())
            .map_err(|_| password::PasswordFileError::NotUtf8)
            .and_then(|text| password::PasswordFile::parse(&text));
        match parsed {
            Ok(users) => {
                tracing::info!(
                    path = %self.path.display(),
                    users = users.len(),
                    "password file reloaded"
                );
                if let Ok(mut current) = self.current.write() {
                    *current = Arc::new(users);
                }
            }
            Err(e) => tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "password file changed but cannot be used; the previous users stay"
            ),
        }
        if let Ok(mut last) = self.last_read.write() {
            *last = bytes;
        }
    }
}

/// Bearer-token verification: the keys and the claim rules.
#[derive(Debug)]
struct Bearer {
    keys: Vec<jwt::VerifyingKey>,
    rules: jwt::Rules,
}

/// Everything the layer decides with; built once from the configuration.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    method: AuthenticationMethod,
    realm: String,
    allowed: Roles,
    skip_paths: Vec<String>,
    open_health_and_metrics: bool,
    /// With CORS on, `OPTIONS` requests skip authentication, as Confluent's
    /// `access.control.skip.options` default does.
    skip_options: bool,
    passwords: Option<Arc<PasswordStore>>,
    bearer: Option<Bearer>,
    mapper: certificate::PrincipalMapper,
    permissions: BTreeMap<Permission, Roles>,
    lists: access::AccessLists,
}

/// The parts of a request the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    /// The `Content-Type` (produce) or `Accept` (records) naming the embedded format.
    pub media_type: Option<&'a str>,
    pub peer: Option<&'a PeerCertificate>,
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve it, as this principal (none when authentication is off or skipped).
    Serve(Option<Principal>),
    /// 401 with this `WWW-Authenticate` challenge (none for certificates, which have no
    /// HTTP scheme).
    Unauthenticated { challenge: Option<String> },
    /// 403 / 40301 with this message.
    Forbidden(String),
    /// Turned off by the access lists: 404 for GET, 405 otherwise.
    Disabled,
}

impl Auth {
    /// Reads the configuration and the files it names (password file, JAAS configuration,
    /// keys). Synchronous: called once at start-up, before anything is served.
    pub fn from_config(config: &Config) -> Result<Auth, AuthError> {
        let passwords = password_file_path(config)?
            .map(|path| {
                let bytes = read(&path, password_key(config))?;
                let text =
                    String::from_utf8(bytes.clone()).map_err(|_| AuthError::PasswordFile {
                        path: path.clone(),
                        source: password::PasswordFileError::NotUtf8,
                    })?;
                let users = password::PasswordFile::parse(&text).map_err(|source| {
                    AuthError::PasswordFile {
                        path: path.clone(),
                        source,
                    }
                })?;
                Ok::<_, AuthError>(Arc::new(PasswordStore {
                    path,
                    current: RwLock::new(Arc::new(users)),
                    last_read: RwLock::new(bytes),
                }))
            })
            .transpose()?;
        let bearer = bearer_keys(config)?.map(|keys| Bearer {
            keys,
            rules: jwt::Rules {
                issuer: non_empty(&config.authentication_bearer_issuer),
                audience: non_empty(&config.authentication_bearer_audience),
                clock_skew: config.authentication_bearer_clock_skew,
                principal_claim: config.authentication_bearer_principal_claim.clone(),
                roles_claim: config.authentication_bearer_roles_claim.clone(),
            },
        });
        let mapper = certificate::PrincipalMapper::parse(&config.ssl_principal_mapping_rules)
            .map_err(AuthError::MappingRules)?;
        let permissions = [
            (Permission::Metadata, &config.authorization_roles_metadata),
            (Permission::Produce, &config.authorization_roles_produce),
            (Permission::Consume, &config.authorization_roles_consume),
            (
                Permission::AdminRead,
                &config.authorization_roles_admin_read,
            ),
            (
                Permission::AdminWrite,
                &config.authorization_roles_admin_write,
            ),
        ]
        .into_iter()
        .map(|(permission, list)| (permission, Roles::from_list(list)))
        .collect();
        Ok(Auth {
            inner: Arc::new(Inner {
                method: config.authentication_method,
                realm: config.authentication_realm.clone(),
                allowed: Roles::from_list(&config.authentication_roles),
                skip_paths: config.authentication_skip_paths.clone(),
                open_health_and_metrics: config.authentication_health_and_metrics_open,
                skip_options: !config.access_control_allow_origin.is_empty(),
                passwords,
                bearer,
                mapper,
                permissions,
                lists: access::AccessLists {
                    allow: config.api_endpoints_allowlist.clone(),
                    block: config.api_endpoints_blocklist.clone(),
                },
            }),
        })
    }

    /// Starts re-reading the password file every `every` on the current tokio runtime (if
    /// there is a file, a runtime, and `every` is not zero). The task ends when this `Auth`
    /// and its clones are dropped.
    pub fn watch_password_file(&self, every: Duration) {
        let Some(store) = &self.inner.passwords else {
            return;
        };
        if every.is_zero() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<PasswordStore> = Arc::downgrade(store);
        let owner = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let (Some(store), Some(_owner)) = (weak.upgrade(), owner.upgrade()) else {
                    break;
                };
                match tokio::fs::read(&store.path).await {
                    Ok(bytes) => store.update(bytes),
                    Err(e) => tracing::warn!(
                        path = %store.path.display(),
                        error = %e,
                        "cannot read the password file; the previous users stay"
                    ),
                }
            }
        });
    }

    /// Whether every request is served as it is: no authentication and no access lists, so
    /// [`decide`](Self::decide) answers `Serve(None)` to each.
    pub fn is_open(&self) -> bool {
        let inner = &self.inner;
        inner.method == AuthenticationMethod::None
            && inner.lists.allow.is_empty()
            && inner.lists.block.is_empty()
    }

    /// The decision for one request: authentication (401), `authentication.roles` (403), the
    /// access lists (404/405), then the role the operation needs (403).
    pub fn decide(&self, request: &RequestFacts<'_>) -> Decision {
        let inner = &self.inner;
        if self.is_open() {
            return Decision::Serve(None);
        }
        let operation = access::find(request.method, request.path);
        let principal = if self.exempt(request) {
            None
        } else {
            let principal = match self.authenticate(request) {
                Ok(principal) => principal,
                Err(challenge) => return Decision::Unauthenticated { challenge },
            };
            if !inner.allowed.admits(&principal.roles) {
                return Decision::Forbidden(
                    "Forbidden: the user has no role allowed to use this proxy".into(),
                );
            }
            Some(principal)
        };
        if let Some(op) = operation {
            let name = op
                .name
                .replace("{format}", access::format_of(request.media_type));
            if inner.lists.blocks(op, &name) {
                return Decision::Disabled;
            }
        }
        if let Some(principal) = &principal {
            let needed = operation
                .map(|op| op.permission)
                .or_else(|| access::fallback_permission(request.method, request.path));
            if let Some(needed) = needed {
                let admitted = inner
                    .permissions
                    .get(&needed)
                    .is_some_and(|roles| roles.admits(&principal.roles));
                if !admitted {
                    return Decision::Forbidden(format!(
                        "Forbidden: the user may not {}",
                        needed.describe()
                    ));
                }
            }
        }
        Decision::Serve(principal)
    }

    /// Paths and requests served without asking who is calling.
    fn exempt(&self, request: &RequestFacts<'_>) -> bool {
        let inner = &self.inner;
        if inner.method == AuthenticationMethod::None {
            return true;
        }
        if inner.skip_options && request.method == "OPTIONS" {
            return true;
        }
        if inner.open_health_and_metrics
            && matches!(request.path, "/health/live" | "/health/ready" | "/metrics")
        {
            return true;
        }
        inner
            .skip_paths
            .iter()
            .any(|pattern| path_matches(pattern, request.path))
    }

    /// The principal the request's credential proves, or the challenge of the 401.
    fn authenticate(&self, request: &RequestFacts<'_>) -> Result<Principal, Option<String>> {
        let inner = &self.inner;
        let realm = inner.realm.replace(['"', '\\'], "");
        match inner.method {
            AuthenticationMethod::None => Err(None),
            AuthenticationMethod::Basic => {
                let challenge = Some(format!("Basic realm=\"{realm}\""));
                let (user, password) = request
                    .authorization
                    .and_then(basic_credentials)
                    .ok_or_else(|| challenge.clone())?;
                let users = inner
                    .passwords
                    .as_ref()
                    .map(|store| store.users())
                    .ok_or_else(|| challenge.clone())?;
                let roles = users.check(&user, &password).ok_or(challenge)?;
                Ok(Principal {
                    name: user,
                    roles: roles.to_vec(),
                    method: AuthMethod::Basic,
                    credential: Credential::Password(password),
                })
            }
            AuthenticationMethod::Bearer => {
                let Some(token) = request.authorization.and_then(bearer_token) else {
                    return Err(Some(format!("Bearer realm=\"{realm}\"")));
                };
                let invalid = || Some(format!("Bearer realm=\"{realm}\", error=\"invalid_token\""));
                let bearer = inner.bearer.as_ref().ok_or_else(invalid)?;
                match jwt::verify(token, &bearer.keys, &bearer.rules, request.now) {
                    Ok(verified) => Ok(Principal {
                        name: verified.name,
                        roles: verified.roles,
                        method: AuthMethod::Bearer,
                        credential: Credential::Token(token.to_string()),
                    }),
                    Err(reason) => {
                        tracing::debug!(%reason, "bearer token refused");
                        Err(invalid())
                    }
                }
            }
            AuthenticationMethod::Certificate => {
                let name = request
                    .peer
                    .and_then(|peer| inner.mapper.map(&peer.subject))
                    .ok_or(None)?;
                let roles = inner
                    .passwords
                    .as_ref()
                    .and_then(|store| store.users().roles(&name).map(<[String]>::to_vec))
                    .unwrap_or_default();
                Ok(Principal {
                    name,
                    roles,
                    method: AuthMethod::Certificate,
                    credential: Credential::None,
                })
            }
        }
    }
}

/// Checks the settings and the files they name: what `lib.rs` calls before serving, so that a
/// missing password file or a bad key stops the start with an error naming it. (The layer
/// itself is built again from the same configuration in `app::routes`.)
pub fn check(config: &Config) -> Result<(), AuthError> {
    Auth::from_config(config).map(|_| ())
}

/// A `authentication.skip.paths` entry: an exact path, or a prefix ending in `/*`.
fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
        None => pattern == path,
    }
}

/// User and password of a `Basic` header (scheme in any case; the pair decoded as UTF-8, or
/// ISO-8859-1 when it is not UTF-8, as Jetty does by default).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = match String::from_utf8(decoded) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The token of a `Bearer` header.
fn bearer_token(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim()).filter(|t| !t.is_empty())
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.to_string()).filter(|t| !t.is_empty())
}

fn password_key(config: &Config) -> &'static str {
    if config.authentication_password_file.is_empty() {
        "authentication.jaas.config.file"
    } else {
        "authentication.password.file"
    }
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|source| AuthError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// The password file: `authentication.password.file`, else the one the JAAS configuration
/// gives the realm (relative to the JAAS file's folder when relative).
fn password_file_path(config: &Config) -> Result<Option<PathBuf>, AuthError> {
    if !config.authentication_password_file.is_empty() {
        return Ok(Some(PathBuf::from(&config.authentication_password_file)));
    }
    if config.authentication_jaas_config_file.is_empty() {
        return Ok(None);
    }
    let jaas = PathBuf::from(&config.authentication_jaas_config_file);
    let bytes = read(&jaas, "authentication.jaas.config.file")?;
    let text = String::from_utf8_lossy(&bytes);
    let file =
        password::jaas_password_file(&text, &config.authentication_realm).map_err(|source| {
            AuthError::Jaas {
                path: jaas.clone(),
                source,
            }
        })?;
    let file = PathBuf::from(file);
    Ok(Some(match jaas.parent() {
        Some(folder) if file.is_relative() => folder.join(file),
        _ => file,
    }))
}

fn bearer_keys(config: &Config) -> Result<Option<Vec<jwt::VerifyingKey>>, AuthError> {
    let (key, path, parse): (_, _, fn(&str) -> Result<_, jwt::KeyError>) =
        if !config.authentication_bearer_jwks_file.is_empty() {
            (
                "authentication.bearer.jwks.file",
                &config.authentication_bearer_jwks_file,
                jwt::jwks_keys,
            )
        } else if !config.authentication_bearer_public_key_file.is_empty() {
            (
                "authentication.bearer.public.key.file",
                &config.authentication_bearer_public_key_file,
                jwt::pem_key,
            )
        } else {
            return Ok(None);
        };
    let path = PathBuf::from(path);
    let bytes = read(&path, key)?;
    parse(&String::from_utf8_lossy(&bytes))
        .map(Some)
        .map_err(|source| AuthError::Keys { key, path, source })
}

/// Seconds since the Unix epoch, for token expiry.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
