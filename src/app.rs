//! `AppState` (the shared services) and the assembly of the HTTP application.
//!
//! This module mounts the generated adapter `V2Api` (which routes every path and method of the
//! contract to `api::Service`), the served OpenAPI document and Swagger UI, the `Accept`
//! negotiation layer, a layer that turns a panicking handler into a 500, the error-catching
//! layer that gives every failure the Confluent JSON error body, and the `Allow` header of 405
//! answers from the generated route table. The operations live in `api/`, services elsewhere.

use std::sync::Arc;

use kafka_rest_api::support::routes as openapi_routes;
use poem::endpoint::BoxEndpoint;
use poem::http::{header, StatusCode};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};

use crate::api;
use crate::api::consumers::BaseUriRules;
use crate::config::Config;
use crate::consume::{ConsumerManager, ManagerSettings};
use crate::error::{catch_all, panic_response};
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
/// `/openapi.yaml`, and Swagger UI at `/docs`. A further API document would be mounted beside
/// it, with its own document at a sibling path such as `/v3/openapi.json`.
pub fn routes(state: AppState) -> BoxEndpoint<'static, Response> {
    let api = kafka_rest_api::v2::openapi_service(api::Service::new(state));
    // The served document is poem-openapi's plus the keywords its schema model cannot write
    // (`kafka_rest_api::v2::DOCUMENT_KEYWORDS`), so it is served from that text, not from
    // `api.spec_endpoint()`.
    let document = kafka_rest_api::v2::served_document();
    let json = document.clone();
    let yaml = serde_json::from_str::<serde_json::Value>(&document)
        .ok()
        .and_then(|doc| serde_yaml::to_string(&doc).ok())
        .unwrap_or_default();
    let swagger_ui = api.swagger_ui();
    Route::new()
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| {
                json.clone()
                    .with_content_type("application/json; charset=utf-8")
            }),
        )
        .at(
            "/openapi.yaml",
            poem::endpoint::make_sync(move |_| {
                yaml.clone()
                    .with_content_type("application/x-yaml; charset=utf-8")
            }),
        )
        .nest("/docs", swagger_ui)
        // The negotiation layer covers the API only: the document and Swagger UI answer any
        // `Accept`.
        .nest("/", api.around(api::negotiate))
        .with(CatchPanic::new().with_handler(panic_response))
        .catch_all_error(catch_all)
        .around(|next, req| allow_header(next, req, kafka_rest_api::v2::routes::ROUTES))
        .into_endpoint()
        .boxed()
}

/// Adds the `Allow` header that RFC 9110 requires on a 405 answer, listing the methods the
/// contract has for the request's path (from the generated route table `routes`).
async fn allow_header<E: Endpoint>(
    next: E,
    req: Request,
    routes: &'static [openapi_routes::Route],
) -> poem::Result<Response> {
    let allowed = match openapi_routes::lookup(routes, req.method().as_str(), req.uri().path()) {
        openapi_routes::Lookup::MethodNotAllowed(methods) => Some(methods),
        _ => None,
    };
    let mut response = next.call(req).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
    {
        if let Some(value) = allowed.and_then(|m| m.parse().ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(path: &str) -> Option<String> {
        match openapi_routes::lookup(kafka_rest_api::v2::routes::ROUTES, "TRACE", path) {
            openapi_routes::Lookup::MethodNotAllowed(methods) => Some(methods),
            _ => None,
        }
    }

    #[test]
    fn allowed_methods_come_from_the_generated_route_table() {
        assert_eq!(allowed("/").as_deref(), Some("GET, POST"));
        assert_eq!(allowed("/topics").as_deref(), Some("GET"));
        assert_eq!(allowed("/topics/t").as_deref(), Some("GET, POST"));
        assert_eq!(
            allowed("/consumers/g/instances/i/subscription").as_deref(),
            Some("GET, POST, DELETE")
        );
        assert_eq!(
            allowed("/consumers/g/instances/i/positions/beginning").as_deref(),
            Some("POST")
        );
        assert_eq!(allowed("/nowhere/at/all"), None);
    }
}
