//! The assembly of the HTTP application from the services (`services.rs`) and the API layer.
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
use poem::middleware::{CatchPanic, Cors};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};

use crate::api;
use crate::config::Config;
use crate::error::{catch_all, panic_response};
use crate::limits::{LimitSettings, Limits};
use crate::services::Services;

/// The whole HTTP application: the v2 API at `/`, its OpenAPI document at `/openapi.json` and
/// `/openapi.yaml`, and Swagger UI at `/docs`. A further API document would be mounted beside
/// it, with its own document at a sibling path such as `/v3/openapi.json`.
pub fn routes(services: Services, config: &Config) -> BoxEndpoint<'static, Response> {
    let limits = Limits::new(LimitSettings::from_config(config));
    let http = api::HttpSettings::from_config(config);
    // The records stream answers a streamed body, which the generated adapter cannot: it is
    // mounted beside it (`docs/decisions.md` §51).
    let stream =
        api::stream::endpoint(services.consumers.clone(), config.consumer_stream_heartbeat);
    let api = kafka_rest_api::v2::openapi_service(api::Service::new(services, http));
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
        .at(api::stream::PATH, poem::get(stream))
        // The negotiation layer covers the API only: the document and Swagger UI answer any
        // `Accept`.
        .nest("/", api.around(api::negotiate))
        .with(CatchPanic::new().with_handler(panic_response))
        .catch_all_error(catch_all)
        .around(|next, req| allow_header(next, req, kafka_rest_api::v2::routes::ROUTES))
        // Outermost, so a refused request costs no routing or handler work.
        .with(limits)
        .into_endpoint()
        .boxed()
}

/// CORS as Confluent's proxy (Jetty's `CrossOriginFilter`) does it, when
/// `access.control.allow.origin` is set; otherwise `app` itself. Preflights from an allowed
/// origin are answered before routing, and every answer to an allowed origin carries the CORS
/// headers. A request from any other origin is served as if it had no `Origin` header, as Jetty
/// does (poem's middleware alone would refuse it with 403).
pub fn with_cors(
    app: BoxEndpoint<'static, Response>,
    config: &Config,
) -> BoxEndpoint<'static, Response> {
    if config.access_control_allow_origin.is_empty() {
        return app;
    }
    let origins = Arc::new(config.access_control_allow_origin.clone());
    let allowed = Arc::clone(&origins);
    // The names were checked to be HTTP tokens when the configuration was read, so poem's
    // builders (which panic on an invalid name) accept them.
    let cors = Cors::new()
        .allow_origins_fn(move |origin| origin_allowed(&allowed, origin))
        .allow_methods(
            config
                .access_control_allow_methods
                .iter()
                .map(String::as_str),
        )
        .allow_headers(
            config
                .access_control_allow_headers
                .iter()
                .map(String::as_str),
        )
        .expose_headers(
            config
                .access_control_expose_headers
                .iter()
                .map(String::as_str),
        )
        // Jetty's defaults, which Confluent keeps.
        .allow_credentials(true)
        .max_age(1800);
    let plain = Arc::new(app);
    let cors = Arc::new(Arc::clone(&plain).with(cors));
    poem::endpoint::make(move |req: Request| {
        let (plain, cors, origins) = (Arc::clone(&plain), Arc::clone(&cors), Arc::clone(&origins));
        async move {
            let from_allowed = req
                .headers()
                .get(header::ORIGIN)
                .and_then(|origin| origin.to_str().ok())
                .is_some_and(|origin| origin_allowed(&origins, origin));
            if from_allowed {
                cors.call(req).await
            } else {
                plain.call(req).await
            }
        }
    })
    .boxed()
}

/// Whether `origin` is one of `allowed`: `*` is any origin, and a `*` inside an entry matches
/// any text (Jetty's patterns, e.g. `https://*.example.com`).
fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|pattern| {
        let mut parts = pattern.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = origin.strip_prefix(first) else {
            return false;
        };
        let mut parts: Vec<&str> = parts.collect();
        let Some(last) = parts.pop() else {
            // No `*`: the whole origin must match.
            return rest.is_empty();
        };
        for part in parts {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    })
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

    #[test]
    fn cors_origins_match_exactly_or_by_pattern() {
        let allowed = [
            "https://a.example".to_string(),
            "https://*.b.example".to_string(),
        ];
        assert!(origin_allowed(&allowed, "https://a.example"));
        assert!(!origin_allowed(&allowed, "https://a.example.evil"));
        assert!(origin_allowed(&allowed, "https://x.b.example"));
        assert!(!origin_allowed(&allowed, "https://b.example"));
        assert!(!origin_allowed(&allowed, "http://x.b.example"));
        assert!(origin_allowed(&["*".to_string()], "null"));
    }
}
