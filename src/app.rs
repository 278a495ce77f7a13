//! `AppState` (the shared services) and the assembly of routes and middleware.
//!
//! This module owns which path goes to which handler, the `Accept` negotiation layer and the
//! error-catching layer that gives every failure the Confluent JSON error body. Handlers live
//! in `api/`, services elsewhere.

use poem::endpoint::BoxEndpoint;
use poem::{get, EndpointExt, IntoEndpoint, Response, Route};

use crate::api;
use crate::config::Config;
use crate::error::catch_all;
use crate::metadata::{Metadata, MetadataError};
use crate::produce::{ProducePoolError, ProducerPool};
use crate::schema::{RegistrySetupError, Schemas};

/// Services shared by all requests. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub metadata: Metadata,
    pub producers: ProducerPool,
    /// The Schema Registry client and schema caches, shared by produce and consume.
    pub schemas: Schemas,
    /// Largest request body read (`request.body.max.bytes`).
    pub request_body_max_bytes: usize,
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
    pub fn new(config: &Config) -> Result<AppState, AppError> {
        Ok(AppState {
            metadata: Metadata::new(config)?,
            producers: ProducerPool::new(config)?,
            schemas: Schemas::new(config)?,
            request_body_max_bytes: config.request_body_max_bytes,
        })
    }
}

/// The whole HTTP application.
pub fn routes(state: AppState) -> BoxEndpoint<'static, Response> {
    Route::new()
        .at("/", get(api::topics::root))
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
        .around(api::negotiate)
        .data(state)
        .catch_all_error(catch_all)
        .into_endpoint()
        .boxed()
}
