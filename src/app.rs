//! `AppState` (the shared services) and the assembly of routes and middleware.
//!
//! This module owns which path goes to which handler, the `Accept` negotiation layer and the
//! error-catching layer that gives every failure the Confluent JSON error body. Handlers live
//! in `api/`, services elsewhere.

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{delete, get, post, EndpointExt, IntoEndpoint, Response, Route};

use crate::api;
use crate::api::consumers::BaseUriRules;
use crate::config::Config;
use crate::consume::{ConsumerManager, ManagerSettings};
use crate::error::catch_all;
use crate::metadata::{Metadata, MetadataError};
use crate::produce::{ProducePoolError, ProducerPool};
use crate::schema::{RegistrySetupError, Schemas};

/// Services shared by all requests. Cheap to clone (poem clones it into every request).
#[derive(Clone)]
pub struct AppState {
    pub metadata: Metadata,
    pub producers: ProducerPool,
    /// The Schema Registry client and schema caches, shared by produce and consume.
    pub schemas: Schemas,
    /// Largest request body read (`request.body.max.bytes`).
    pub request_body_max_bytes: usize,
    /// Longest wait for a whole request body (`request.body.timeout.ms`).
    pub request_body_timeout: std::time::Duration,
    /// The consumer instances of this process.
    pub consumers: ConsumerManager,
    /// How consumer `base_uri`s are built.
    pub base_uri: Arc<BaseUriRules>,
}

/// Why the application could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot set up the Kafka metadata client")]
    Metadata(#[from] MetadataError),
    #[error("cannot set up the Kafka producers")]
    Producers(#[from] ProducePoolError),
    #[error("cannot set up the Schema Registry client")]
    Schemas(#[from] RegistrySetupError),
}

impl AppState {
    /// Builds the services; must run inside a tokio runtime (the consumer manager starts its
    /// expiry task).
    pub fn new(config: &Config) -> Result<AppState, AppError> {
        let metadata = Metadata::new(config)?;
        Ok(AppState {
            producers: ProducerPool::new(config)?,
            schemas: Schemas::new(config)?,
            request_body_max_bytes: config.request_body_max_bytes,
            request_body_timeout: config.request_body_timeout,
            consumers: ConsumerManager::new(ManagerSettings::from_config(config), metadata.clone()),
            metadata,
            base_uri: Arc::new(BaseUriRules::from_config(config)),
        })
    }
}

/// The whole HTTP application.
pub fn routes(state: AppState) -> BoxEndpoint<'static, Response> {
    Route::new()
        .at("/", get(api::topics::root).post(api::topics::post_root))
        .at("/topics", get(api::topics::list_topics))
        .at(
            "/topics/:topic",
            get(api::topics::get_topic).post(api::produce::produce_to_topic),
        )
        .at(
            "/topics/:topic/partitions",
            get(api::topics::list_partitions),
        )
        .at(
            "/topics/:topic/partitions/:partition",
            get(api::topics::get_partition).post(api::produce::produce_to_partition),
        )
        .at(
            "/topics/:topic/partitions/:partition/offsets",
            get(api::topics::get_offsets),
        )
        .at("/brokers", get(api::topics::list_brokers))
        .at("/health/live", get(api::health::live))
        .at("/health/ready", get(api::health::ready))
        .at("/consumers/:group", post(api::consumers::create))
        .at(
            "/consumers/:group/instances/:instance",
            delete(api::consumers::delete),
        )
        .at(
            "/consumers/:group/instances/:instance/subscription",
            post(api::consumers::subscribe)
                .get(api::consumers::get_subscription)
                .delete(api::consumers::unsubscribe),
        )
        .at(
            "/consumers/:group/instances/:instance/assignments",
            post(api::consumers::assign).get(api::consumers::get_assignments),
        )
        .at(
            "/consumers/:group/instances/:instance/offsets",
            post(api::consumers::commit_offsets).get(api::consumers::committed_offsets),
        )
        .at(
            "/consumers/:group/instances/:instance/positions",
            post(api::consumers::seek),
        )
        .at(
            "/consumers/:group/instances/:instance/positions/beginning",
            post(api::consumers::seek_to_beginning),
        )
        .at(
            "/consumers/:group/instances/:instance/positions/end",
            post(api::consumers::seek_to_end),
        )
        .at(
            "/consumers/:group/instances/:instance/records",
            get(api::consumers::records),
        )
        .around(api::negotiate)
        .data(state)
        .catch_all_error(catch_all)
        .into_endpoint()
        .boxed()
}
