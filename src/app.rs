//! `AppState` (the shared services) and the assembly of the HTTP application.
//!
//! This module mounts the generated adapter `V2Api` (which routes every path and method of the
//! contract to `api::Service`), the served OpenAPI document and Swagger UI, the `Accept`
//! negotiation layer and the error-catching layer that gives every failure the Confluent JSON
//! error body. The operations live in `api/`, services elsewhere.

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint, Response, Route};

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
        let schemas = Schemas::new(config)?;
        Ok(AppState {
            producers: ProducerPool::new(config)?,
            request_body_max_bytes: config.request_body_max_bytes,
            request_body_timeout: config.request_body_timeout,
            consumers: ConsumerManager::new(
                ManagerSettings::from_config(config),
                metadata.clone(),
                schemas.clone(),
            ),
            schemas,
            metadata,
            base_uri: Arc::new(BaseUriRules::from_config(config)),
        })
    }
}

/// The whole HTTP application: the v2 API at `/`, its OpenAPI document at `/openapi.json` and
/// `/openapi.yaml`, and Swagger UI at `/docs`.
pub fn routes(state: AppState) -> BoxEndpoint<'static, Response> {
    let api = kafka_rest_api::openapi_service(api::Service::new(state));
    let spec_json = api.spec_endpoint();
    let spec_yaml = api.spec_endpoint_yaml();
    let swagger_ui = api.swagger_ui();
    Route::new()
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .nest("/docs", swagger_ui)
        // The negotiation layer covers the API only: the document and Swagger UI answer any
        // `Accept`.
        .nest("/", api.around(api::negotiate))
        .catch_all_error(catch_all)
        .into_endpoint()
        .boxed()
}
