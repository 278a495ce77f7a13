//! The assembly of the HTTP application from the services (`services.rs`) and the API layer.
//!
//! This module mounts the generated adapter `V2Api` (which routes every path and method of the
//! contract to `api::Service`), the served OpenAPI document and Swagger UI, the `Accept`
//! negotiation layer, a layer that turns a panicking handler into a 500, the error-catching
//! layer that gives every failure the Confluent JSON error body, and the `Allow` header of 405
//! answers from the generated route table. The operations live in `api/`, services elsewhere.
//! Outermost is the observation layer (`access_log.rs`: request ids, metrics, access log),
//! which names each request by the route template of the document it falls in (`DOCUMENTS`).

use std::sync::Arc;

use kafka_rest_api::support::routes as openapi_routes;
use poem::endpoint::BoxEndpoint;
use poem::http::{header, StatusCode};
use poem::middleware::{CatchPanic, Cors};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};

use crate::access_log::{Document, Observe};
use crate::api;
use crate::config::Config;
use crate::error::{catch_all, panic_response};
use crate::limits::{LimitSettings, Limits};
use crate::metrics::Snapshot;
use crate::services::Services;

/// The API documents the application mounts, by the path they are nested under, with their
/// generated route tables: the metrics and the access log name each request by its route
/// template in these. A document mounted under a prefix adds its row here.
static DOCUMENTS: &[Document] = &[
    Document {
        prefix: "",
        routes: kafka_rest_api::v2::routes::ROUTES,
    },
    Document {
        prefix: "/v3",
        routes: kafka_rest_api::v3::routes::ROUTES,
    },
];

/// The whole HTTP application: the v2 API at `/`, its OpenAPI document at `/openapi.json` and
/// `/openapi.yaml`, the v3 document at `/v3/openapi.json` and `/v3/openapi.yaml`, and Swagger UI
/// at `/docs`, with a selector for the two documents.
pub fn routes(services: Services, config: &Config) -> BoxEndpoint<'static, Response> {
    let limits = Limits::new(LimitSettings::from_config(config));
    let observe = observe(&services, config, &limits);
    let http = api::HttpSettings::from_config(config);
    let v3_api = api::v3::endpoint(api::v3::V3Service::new(
        services.clone(),
        api::v3::V3Settings::from_config(config),
    ));
    // The records stream answers a streamed body, which the generated adapter cannot: it is
    // mounted beside it (`docs/decisions.md` §51).
    let stream = api::stream::endpoint(
        services.consumers.clone(),
        config.consumer_stream_heartbeat,
        services.closing.watch(),
    );
    let api = kafka_rest_api::v2::openapi_service(api::Service::new(services, http));
    // Each served document is poem-openapi's plus the keywords its schema model cannot write
    // (`DOCUMENT_KEYWORDS` of each generated module), so it is served from that text, not from
    // `api.spec_endpoint()`. The v3 API itself is mounted at `/v3`; its document sits beside it.
    let v2_document = kafka_rest_api::v2::served_document();
    let v3_document = kafka_rest_api::v3::served_document();
    let v3 = kafka_rest_api::v3::openapi_service(kafka_rest_api::v3::SpecOnly);
    let swagger_ui = swagger_ui(vec![
        (
            "v2",
            swagger_page(&api.swagger_ui_html(), &api.spec(), &v2_document),
        ),
        (
            "v3",
            swagger_page(&v3.swagger_ui_html(), &v3.spec(), &v3_document),
        ),
    ]);
    let routes = serve_document(Route::new(), "/openapi", v2_document);
    serve_document(routes, "/v3/openapi", v3_document)
        .nest("/docs", swagger_ui)
        // The v3 API (contract server URL `/v3`): its own content rules, no v2 negotiation.
        .nest("/v3", v3_api)
        .at(api::stream::PATH, poem::get(stream))
        // The negotiation layer covers the API only: the document and Swagger UI answer any
        // `Accept`.
        .nest("/", api.around(api::negotiate))
        .with(CatchPanic::new().with_handler(panic_response))
        .catch_all_error(catch_all)
        .around(|next, req| allow_header(next, req, kafka_rest_api::v2::routes::ROUTES))
        // Authentication and authorization, before routing so that every route is covered,
        // inside the limits and CORS (preflights are answered before it).
        .with(crate::auth::AuthLayer::new(config))
        // Outermost but for the observation, so a refused request costs no routing or handler
        // work.
        .with(limits)
        // Outermost: refused requests get a request id, are counted and logged too.
        .with(observe)
        .into_endpoint()
        .boxed()
}

/// The observation layer, reading the in-flight figures of `limits` and the consumer count at
/// each scrape. It serves `/metrics` itself unless `metrics.listener` moves it elsewhere.
fn observe(services: &Services, config: &Config, limits: &Limits) -> Observe {
    let metrics = &services.metrics;
    metrics.set_in_flight_limits(
        u64::try_from(config.inflight_requests_max).unwrap_or(u64::MAX),
        config.inflight_bytes_max,
    );
    let in_flight = limits.in_flight().clone();
    let consumers = services.consumers.live_count();
    metrics.set_sampler(Box::new(move || Snapshot {
        in_flight_requests: u64::try_from(in_flight.requests()).unwrap_or(u64::MAX),
        in_flight_bytes: in_flight.bytes(),
        consumer_instances: u64::try_from(consumers()).unwrap_or(u64::MAX),
    }));
    Observe::new(
        metrics,
        config,
        DOCUMENTS,
        config.metrics_listener.is_none(),
    )
}

/// `route` with `document` (JSON text) served at `{at}.json` and, converted, at `{at}.yaml`.
fn serve_document(route: Route, at: &str, document: String) -> Route {
    let yaml = serde_json::from_str::<serde_json::Value>(&document)
        .ok()
        .and_then(|doc| serde_yaml::to_string(&doc).ok())
        .unwrap_or_default();
    route
        .at(
            format!("{at}.json"),
            poem::endpoint::make_sync(move |_| {
                document
                    .clone()
                    .with_content_type("application/json; charset=utf-8")
            }),
        )
        .at(
            format!("{at}.yaml"),
            poem::endpoint::make_sync(move |_| {
                yaml.clone()
                    .with_content_type("application/x-yaml; charset=utf-8")
            }),
        )
}

/// poem-openapi's Swagger UI `page`, showing the `served` document instead of the `derived` one
/// the page embeds (they differ by the keywords and paths the generated
/// `served_document` functions restore).
fn swagger_page(page: &str, derived: &str, served: &str) -> String {
    page.replacen(derived, served, 1)
}

/// Swagger UI for several documents, given as (name, poem-openapi's Swagger UI page): `?api=`
/// picks the page (the first one without it), and a selector above the UI switches between
/// them. poem-openapi's page embeds one document, so the selector reloads with another `api`.
fn swagger_ui(pages: Vec<(&'static str, String)>) -> impl Endpoint + 'static {
    let pages: Vec<(&'static str, String)> = pages
        .iter()
        .map(|(name, html)| {
            let options: String = pages
                .iter()
                .map(|(other, _)| {
                    let selected = if other == name { " selected" } else { "" };
                    format!("<option value=\"{other}\"{selected}>{other}</option>")
                })
                .collect();
            let selector = format!(
                "<body>\n<div style=\"padding:8px 20px;font-family:sans-serif\">\
                 <label>API <select id=\"api\" \
                 onchange=\"window.location.search='?api='+this.value\">{options}</select>\
                 </label></div>"
            );
            (*name, html.replacen("<body>", &selector, 1))
        })
        .collect();
    poem::endpoint::make_sync(move |req: Request| {
        let wanted = req
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("api="));
        let page = pages
            .iter()
            .find(|(name, _)| Some(*name) == wanted)
            .or_else(|| pages.first())
            .map(|(_, html)| html.clone())
            .unwrap_or_default();
        poem::web::Html(page)
    })
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
    // The route table is looked up only for a 405 (a lookup scans every route): the method and
    // the URI are kept for it, which copies no bytes (the URI's parts are shared).
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let mut response = next.call(req).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
    {
        if let openapi_routes::Lookup::MethodNotAllowed(methods) =
            openapi_routes::lookup(routes, method.as_str(), uri.path())
        {
            if let Ok(value) = methods.parse() {
                response.headers_mut().insert(header::ALLOW, value);
            }
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
