//! Principal pass-through (`auth.passthrough`, `docs/decisions.md` §24): the Kafka clients that
//! act for one caller, so that Kafka's ACLs decide what each user may do.
//!
//! A caller (one user name with one credential) gets its own producer and admin client on its
//! first produce or v3 call, signed in to Kafka with its own SASL credentials
//! (`kafka_security::caller_settings`). They are kept for the caller's next requests, at most
//! `auth.passthrough.clients.max` callers at once (one more closes the least recently used),
//! and closed after `auth.passthrough.idle.ms` unused. Metadata reads (the topic checks before
//! a produce) keep the proxy's own identity. Consumer instances are the consumer manager's
//! (`consume/`), which signs them in the same way and keeps them to their creator.
//!
//! Owns the cache and its limits only; producing and administration are `produce/` and
//! `admin/`, which know nothing about callers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use crate::admin::{Admin, AdminError, AdminSettings};
use crate::blocking::BlockingCalls;
use crate::kafka_security::caller_settings;
use crate::metadata::Metadata;
use crate::metrics::Metrics;
use crate::principal::{caller, Principal};
use crate::produce::{PoolSettings, Produce, ProducePoolError, ProducerPool};
use crate::schema::Schemas;

/// Why no client could act for the caller.
#[derive(Debug, thiserror::Error)]
pub enum PassthroughError {
    /// Pass-through is on but the request has no principal with a password (refused at start
    /// for every authentication method where it could happen).
    #[error("the request has no credential to pass to Kafka")]
    NoCredential,
    #[error("cannot create the caller's producer")]
    Producer(#[from] ProducePoolError),
    #[error("cannot create the caller's admin client")]
    Admin(#[from] AdminError),
}

/// What the cache needs of the configuration; built by `services.rs`.
#[derive(Debug, Clone)]
pub struct PassthroughSettings {
    /// `auth.passthrough.sasl.mechanism`.
    pub mechanism: String,
    /// `auth.passthrough.clients.max`.
    pub max_callers: usize,
    /// `auth.passthrough.idle.ms`.
    pub idle: Duration,
    /// The shared producers' settings; a caller's producer is one more with its identity.
    pub pool: PoolSettings,
    /// The v3 admin client's settings, likewise.
    pub admin: AdminSettings,
}

/// The clients of the callers, or nothing when pass-through is off. Cheap to clone.
#[derive(Clone, Default)]
pub struct CallerClients {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: PassthroughSettings,
    metadata: Metadata,
    schemas: Schemas,
    metrics: Metrics,
    blocking: BlockingCalls,
    /// By caller key (user name and a digest of the credential). Held only for map operations,
    /// never across an await; at most `max_callers` entries.
    callers: StdMutex<HashMap<String, Clients>>,
}

/// One caller's clients and when they were last used.
struct Clients {
    /// The producer behind `produce`, to tell when it failed for good.
    producers: ProducerPool,
    produce: Produce,
    admin: Admin,
    last_used: Instant,
}

impl CallerClients {
    /// The cache, with its idle sweep (which ends when the cache is dropped); must run inside
    /// a tokio runtime.
    pub fn new(
        settings: PassthroughSettings,
        metadata: Metadata,
        schemas: Schemas,
        metrics: Metrics,
        blocking: BlockingCalls,
    ) -> CallerClients {
        let idle = settings.idle;
        let inner = Arc::new(Inner {
            settings,
            metadata,
            schemas,
            metrics,
            blocking,
            callers: StdMutex::new(HashMap::new()),
        });
        tokio::spawn(sweep(Arc::downgrade(&inner), idle));
        CallerClients { inner: Some(inner) }
    }

    /// Whether services act as the caller.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The produce service of the request's caller, or `shared` when pass-through is off or
    /// this runs outside a request.
    pub fn produce(&self, shared: &Produce) -> Result<Produce, PassthroughError> {
        Ok(match self.current()? {
            Some(clients) => clients.0,
            None => shared.clone(),
        })
    }

    /// The admin service of the request's caller, or `shared`.
    pub fn admin(&self, shared: &Admin) -> Result<Admin, PassthroughError> {
        Ok(match self.current()? {
            Some(clients) => clients.1,
            None => shared.clone(),
        })
    }

    fn current(&self) -> Result<Option<(Produce, Admin)>, PassthroughError> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        match caller() {
            None => Ok(None),
            Some(None) => Err(PassthroughError::NoCredential),
            Some(Some(principal)) => inner.clients(&principal).map(Some),
        }
    }
}

impl Inner {
    fn clients(&self, principal: &Principal) -> Result<(Produce, Admin), PassthroughError> {
        let identity = caller_settings(principal, &self.settings.mechanism)
            .ok_or(PassthroughError::NoCredential)?;
        let key = caller_key(principal);
        let now = Instant::now();
        {
            let mut callers = lock(&self.callers);
            // A producer Kafka refused for good (an idempotent producer without any WRITE) is
            // replaced, so that a caller granted rights later can produce.
            let failed = callers.get(&key).map(|c| c.producers.failed());
            match failed {
                Some(false) => {
                    if let Some(found) = callers.get_mut(&key) {
                        found.last_used = now;
                        return Ok((found.produce.clone(), found.admin.clone()));
                    }
                }
                Some(true) => {
                    let stale = callers.remove(&key);
                    drop(callers);
                    close(stale.into_iter().collect());
                }
                None => {}
            }
        }
        // librdkafka connects lazily: creating the clients does not wait on Kafka.
        let client_id = format!("kafka-rest-caller-{}", principal.name);
        let mut pool = self.settings.pool.clone();
        pool.size = 1;
        pool.client_ids = vec![client_id.clone()];
        pool.kafka.extend(identity.iter().cloned());
        let mut admin = self.settings.admin.clone();
        admin.kafka.extend(identity);
        admin.kafka.insert("client.id".into(), client_id);
        let producers = ProducerPool::new(pool, self.metrics.clone())?;
        let admin = Admin::new(admin, self.blocking.clone())?;
        let produce = Produce::new(
            self.metadata.clone(),
            self.schemas.clone(),
            producers.clone(),
            self.metrics.clone(),
        );
        let evicted = {
            let mut callers = lock(&self.callers);
            let mut evicted = Vec::new();
            while callers.len() >= self.settings.max_callers {
                let Some(oldest) = callers
                    .iter()
                    .min_by_key(|(_, c)| c.last_used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                evicted.extend(callers.remove(&oldest));
            }
            callers.insert(
                key,
                Clients {
                    producers,
                    produce: produce.clone(),
                    admin: admin.clone(),
                    last_used: now,
                },
            );
            evicted
        };
        close(evicted);
        Ok((produce, admin))
    }
}

/// The cache key of a caller: the user name and a digest of the credential, so that a caller
/// whose password changed never gets the clients signed in with the old one.
fn caller_key(principal: &Principal) -> String {
    let secret = principal.credential.expose().unwrap_or_default();
    let digest = openssl::sha::sha256(secret.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\u{0}{hex}", principal.name)
}

/// Drops clients on the blocking pool: closing a librdkafka handle waits for its threads.
fn close(clients: Vec<Clients>) {
    if !clients.is_empty() {
        drop(tokio::task::spawn_blocking(move || drop(clients)));
    }
}

/// Closes the clients of callers idle for `idle`, every quarter of it, until the cache is gone.
async fn sweep(inner: Weak<Inner>, idle: Duration) {
    let period = (idle / 4).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let expired: Vec<Clients> = {
            let mut callers = lock(&inner.callers);
            let now = Instant::now();
            let stale: Vec<String> = callers
                .iter()
                .filter(|(_, c)| now.duration_since(c.last_used) >= idle)
                .map(|(k, _)| k.clone())
                .collect();
            stale.iter().filter_map(|k| callers.remove(k)).collect()
        };
        if !expired.is_empty() {
            tracing::debug!(callers = expired.len(), "closed idle pass-through clients");
        }
        close(expired);
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{AuthMethod, Credential};

    fn principal(name: &str, password: &str) -> Principal {
        Principal {
            name: name.into(),
            roles: Vec::new(),
            method: AuthMethod::Basic,
            credential: Credential::Password(password.into()),
        }
    }

    #[test]
    fn a_changed_password_is_another_caller() {
        assert_eq!(
            caller_key(&principal("alice", "a")),
            caller_key(&principal("alice", "a"))
        );
        assert_ne!(
            caller_key(&principal("alice", "a")),
            caller_key(&principal("alice", "b"))
        );
        assert!(!caller_key(&principal("alice", "secret")).contains("secret"));
    }
}
