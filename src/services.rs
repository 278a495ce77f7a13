//! `Services`: the long-lived services every API shares (the metadata client, the producer
//! pool and the produce service, the Schema Registry client, the consumer manager, the v3
//! administration service), built from
//! the configuration with each service's own settings.
//!
//! Owns the composition of the services only; it knows nothing about HTTP. The API layer
//! (`api/`) holds a `Services` next to its HTTP settings, and `app.rs` mounts the routes.

use crate::admin::{Admin, AdminError, AdminSettings};
use crate::blocking::BlockingCalls;
use crate::config::Config;
use crate::consume::{ConsumerManager, ManagerSettings};
use crate::fetch::{Fetch, FetchSettings};
use crate::kafka_security::{translate_config, ClientSecurityError};
use crate::metadata::{Metadata, MetadataError, MetadataSettings};
use crate::metrics::Metrics;
use crate::passthrough::{CallerClients, PassthroughError, PassthroughSettings};
use crate::produce::{PoolSettings, Produce, ProducePoolError, ProducerPool};
use crate::schema::{RegistrySettings, RegistrySetupError, SchemaSettings, Schemas};

/// Services shared by all requests. Cheap to clone (poem clones it into every request).
#[derive(Clone)]
pub struct Services {
    pub metadata: Metadata,
    pub producers: ProducerPool,
    /// The produce service (checks, schemas, sending) over `metadata`, `schemas` and
    /// `producers`.
    pub produce: Produce,
    /// The Schema Registry client and schema caches, shared by produce and consume.
    pub schemas: Schemas,
    /// The consumer instances of this process.
    pub consumers: ConsumerManager,
    /// The metrics every service records into and `/metrics` serves.
    pub metrics: Metrics,
    /// The v3 administration service (its own admin client).
    pub admin: Admin,
    /// Stateless reads over a small pool of group-less Kafka clients.
    pub fetch: Fetch,
    /// Under principal pass-through, the producers and admin clients acting for callers.
    pub callers: CallerClients,
    /// Set when the proxy starts to shut down; the records streams end on it instead of
    /// being cut when `shutdown.graceful.ms` runs out.
    pub closing: Closing,
}

/// The shutdown signal of long-lived answers: `lib.rs` sets it when the shutdown future
/// completes, each records stream watches it.
#[derive(Clone)]
pub struct Closing(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Closing {
    fn new() -> Closing {
        Closing(std::sync::Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Tells every watcher that the proxy shuts down.
    pub fn close(&self) {
        self.0.send_replace(true);
    }

    /// A receiver that becomes `true` once [`Closing::close`] was called.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Why the services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("cannot set up the Kafka metadata client")]
    Metadata(#[from] MetadataError),
    #[error("cannot set up the Kafka producers")]
    Producers(#[from] ProducePoolError),
    #[error("cannot set up the Schema Registry client")]
    Schemas(#[from] RegistrySetupError),
    #[error("cannot set up the Kafka administration client")]
    Admin(#[from] AdminError),
    #[error("cannot use the Kafka client security settings")]
    ClientSecurity(#[from] ClientSecurityError),
}

impl Services {
    /// Builds the services; must run inside a tokio runtime (the consumer manager starts its
    /// expiry task, the metadata client its first fetch).
    pub fn new(config: &Config) -> Result<Services, ServicesError> {
        // Confluent's Java client keys (JAAS, truststores, keystores) in librdkafka's words.
        let (config, warnings) = translate_config(config)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let config = &config;
        let blocking = BlockingCalls::new(config.kafka_blocking_calls_max);
        let metadata = Metadata::new(metadata_settings(config), blocking.clone())?;
        let metrics = Metrics::new(config.metrics_topics_max);
        let schemas = Schemas::with_metrics(schema_settings(config), metrics.clone())?;
        let producers = ProducerPool::new(pool_settings(config), metrics.clone())?;
        // One admin client for the proxy's own identity: the metadata cache's.
        let admin = Admin::with_client(
            metadata.admin_client(),
            &admin_settings(config),
            blocking.clone(),
        );
        let callers = if config.auth_passthrough {
            CallerClients::new(
                PassthroughSettings {
                    mechanism: config.auth_passthrough_sasl_mechanism.clone(),
                    max_callers: config.auth_passthrough_clients_max,
                    idle: config.auth_passthrough_idle,
                    pool: pool_settings(config),
                    admin: admin_settings(config),
                },
                metadata.clone(),
                schemas.clone(),
                metrics.clone(),
                blocking.clone(),
            )
        } else {
            CallerClients::default()
        };
        let fetch = Fetch::new(
            fetch_settings(config),
            metadata.clone(),
            schemas.clone(),
            blocking.clone(),
        );
        Ok(Services {
            admin,
            fetch,
            callers,
            closing: Closing::new(),
            produce: Produce::new(
                metadata.clone(),
                schemas.clone(),
                producers.clone(),
                metrics.clone(),
            ),
            producers,
            consumers: ConsumerManager::new(
                manager_settings(config),
                metadata.clone(),
                schemas.clone(),
                blocking,
                metrics.clone(),
            ),
            schemas,
            metadata,
            metrics,
        })
    }
}

impl Services {
    /// The produce service of the request being served: the caller's own under principal
    /// pass-through, else the shared one.
    pub fn produce_for_caller(&self) -> Result<Produce, PassthroughError> {
        self.callers.produce(&self.produce)
    }

    /// The administration service of the request being served, likewise.
    pub fn admin_for_caller(&self) -> Result<Admin, PassthroughError> {
        self.callers.admin(&self.admin)
    }
}

/// The metadata client's settings.
fn metadata_settings(config: &Config) -> MetadataSettings {
    let mut kafka = config.kafka_settings(&config.admin);
    kafka.insert("client.id".to_string(), config.client_id("admin"));
    MetadataSettings {
        kafka,
        timeout: config.metadata_timeout,
        cache_max_age: config.metadata_cache,
        negative_cache_ttl: config.metadata_negative_cache,
        ready_wait: config.health_ready_timeout,
    }
}

/// The v3 administration service's settings: its bounds, and the admin client settings a
/// pass-through caller's own client is made with (as the metadata client's, with a client id
/// of its own); the proxy's own v3 service shares the metadata client.
fn admin_settings(config: &Config) -> AdminSettings {
    let mut kafka = config.kafka_settings(&config.admin);
    kafka.insert("client.id".to_string(), config.client_id("admin-v3"));
    AdminSettings {
        kafka,
        timeout: config.kafka_admin_timeout,
        cluster_id_ttl: config.kafka_cluster_id_cache,
    }
}

/// The consumer manager's settings.
fn manager_settings(config: &Config) -> ManagerSettings {
    ManagerSettings {
        kafka: config.kafka_settings(&config.consumer),
        id: config.id.clone(),
        instance_timeout: config.consumer_instance_timeout,
        request_timeout: config.consumer_request_timeout,
        request_max_bytes: config.consumer_request_max_bytes,
        fetch_min_bytes: config.fetch_min_bytes,
        max_instances: config.consumer_instances_max,
        passthrough: config
            .auth_passthrough
            .then(|| config.auth_passthrough_sasl_mechanism.clone()),
    }
}

/// The stateless read service's settings.
fn fetch_settings(config: &Config) -> FetchSettings {
    FetchSettings {
        kafka: config.kafka_settings(&config.consumer),
        client_id: config.client_id("fetch"),
        pool_size: config.fetch_pool_size,
        pool_wait: config.fetch_pool_wait,
        request_timeout: config.fetch_request_timeout,
        request_max_bytes: config.fetch_request_max_bytes,
        request_count_max: config.fetch_request_count_max,
    }
}

/// The schema service's settings.
pub fn schema_settings(config: &Config) -> SchemaSettings {
    SchemaSettings {
        registry: config
            .schema_registry_url
            .as_ref()
            .map(|url| RegistrySettings {
                url: url.clone(),
                connect_timeout: config.schema_registry_connect_timeout,
                request_timeout: config.schema_registry_request_timeout,
                cache_capacity: config.schema_registry_cache_capacity,
                other: config.schema_registry.clone(),
            }),
        key_strategy: config.key_subject_name_strategy,
        value_strategy: config.value_subject_name_strategy,
        null_is_kafka_null: config.null_always_publishes_empty_record,
    }
}

/// The producer pool's settings.
fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        kafka: config.kafka_settings(&config.producer),
        size: config.produce_pool_size,
        timeout: config.produce_timeout,
        client_ids: (0..config.produce_pool_size)
            .map(|index| config.client_id(&format!("producer-{index}")))
            .collect(),
        statistics_interval: config.metrics_kafka_statistics_interval,
    }
}
