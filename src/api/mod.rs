//! The generated per-tag port traits of the v2 API (`kafka_rest_api::v2::{RootApi, HealthApi,
//! TopicsApi, PartitionsApi, BrokersApi, ProduceApi, ConsumersApi}`), implemented for
//! `Service` with the proxy's services, one self-contained `impl` block per trait. Each method
//! turns the generated types into domain values, makes one
//! service call and turns the result (or the service error, through `ProxyError`) back into
//! the operation's response enum; the per-tag modules hold the bodies of those methods.
//!
//! Routing, the derived OpenAPI document and the response types come from the generated crate
//! `kafka-rest-api` (`generated/rust-server`). This module also owns content negotiation of the
//! `Accept` header against the generated route table (`docs/decisions.md` §15) and
//! reading request bodies within their limits.

pub mod consumers;
pub mod health;
pub mod media;
pub mod partition_records;
pub mod produce;
pub mod stream;
pub mod topics;
pub mod v3;

use kafka_rest_api::support::accept;
use kafka_rest_api::support::routes::{self, Lookup, Route};
use kafka_rest_api::v2;
use kafka_rest_api::Lenient;
use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};

use std::sync::Arc;

use crate::config::Config;
use crate::error::{ProxyError, V2_JSON};
use crate::records::EmbeddedFormat;
use crate::services::Services;

/// The v2 API over the proxy's services; what the generated adapter `V2Api` calls. Each
/// per-tag module implements its tag's trait for it.
#[derive(Clone)]
pub struct Service {
    services: Services,
    http: Arc<HttpSettings>,
}

impl Service {
    pub fn new(services: Services, http: HttpSettings) -> Self {
        Service {
            services,
            http: Arc::new(http),
        }
    }
}

/// What the API layer needs of the configuration besides the services: body limits and how
/// consumer `base_uri`s are built.
#[derive(Debug)]
pub struct HttpSettings {
    /// Largest request body read (`request.body.max.bytes`).
    pub request_body_max_bytes: usize,
    /// Longest wait for a whole request body (`request.body.timeout.ms`), for every body.
    pub request_body_timeout: std::time::Duration,
    /// Largest consumer control body read (`consumer.request.body.max.bytes`).
    pub consumer_request_body_max_bytes: usize,
    /// How consumer `base_uri`s are built.
    pub base_uri: consumers::BaseUriRules,
}

impl HttpSettings {
    pub fn from_config(config: &Config) -> HttpSettings {
        HttpSettings {
            request_body_max_bytes: config.request_body_max_bytes,
            request_body_timeout: config.request_body_timeout,
            consumer_request_body_max_bytes: config.consumer_request_body_max_bytes,
            base_uri: consumers::BaseUriRules::from_config(config),
        }
    }
}

/// An optional integer query parameter; text that is not an integer is 400.
fn query_int(name: &str, value: Option<Lenient<i64>>) -> Result<Option<i64>, ProxyError> {
    value
        .map(|v| {
            v.into_result().map_err(|raw| ProxyError::BadRequest {
                message: format!("Invalid query parameter {name}: {raw:?} is not an integer"),
            })
        })
        .transpose()
}

/// Reads a whole request body, bounded in size (413) and in time (408), so a client that
/// trickles its body cannot hold a request open for ever.
pub async fn read_body(
    body: poem::Body,
    max_bytes: usize,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, ProxyError> {
    match tokio::time::timeout(timeout, collect_limited(body, max_bytes)).await {
        Err(_elapsed) => Err(ProxyError::BodyTimeout {
            timeout_ms: timeout.as_millis(),
        }),
        Ok(Err(BodyReadError::TooLarge)) => Err(ProxyError::PayloadTooLarge),
        Ok(Err(BodyReadError::Io(e))) => Err(ProxyError::BadRequest {
            message: format!("Cannot read the request body: io: {e}"),
        }),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// Why [`collect_limited`] gave up.
enum BodyReadError {
    /// The body is larger than its limit.
    TooLarge,
    /// The connection failed while the body was read.
    Io(std::io::Error),
}

/// The body's bytes, refused past `max_bytes`. A body that comes as one frame (most do: a
/// small body with `Content-Length`) is that frame, not copied; poem's `into_bytes_limit`
/// zeroes a 4 KiB buffer per call and copies every body through it.
async fn collect_limited(
    body: poem::Body,
    max_bytes: usize,
) -> Result<bytes::Bytes, BodyReadError> {
    use futures::StreamExt;
    let mut frames = std::pin::pin!(body.into_bytes_stream());
    let mut first: Option<bytes::Bytes> = None;
    let mut more: Option<bytes::BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(BodyReadError::Io)?;
        total = total.saturating_add(frame.len());
        if total > max_bytes {
            return Err(BodyReadError::TooLarge);
        }
        match (&mut first, &mut more) {
            (None, _) => first = Some(frame),
            (Some(head), None) => {
                let mut joined = bytes::BytesMut::with_capacity(head.len() + frame.len());
                joined.extend_from_slice(head);
                joined.extend_from_slice(&frame);
                more = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&frame),
        }
    }
    Ok(match (more, first) {
        (Some(joined), _) => joined.freeze(),
        (None, Some(only)) => only,
        (None, None) => bytes::Bytes::new(),
    })
}

/// Types the proxy answers in beyond those the contract lists for an operation, for clients
/// of Confluent's proxy (`docs/decisions.md` §15): plain `application/json` wherever
/// the v2 type is offered, and the v2 type wherever the binary embedded type is (a records
/// call reads binary then).
const ALIASES: &[(&str, &str)] = &[
    (V2_JSON, "application/json"),
    ("application/vnd.kafka.binary.v2+json", V2_JSON),
];

/// Every media type `route` may answer in: the contract's successful types, their
/// [`ALIASES`], and for consumer instance calls the five embedded types, which Confluent's
/// consumer control calls accept too.
pub fn offered_types(route: &Route) -> Vec<&'static str> {
    // An operation whose success has no body (204) still answers its errors in the v2 type,
    // and Confluent's clients ask for that type on every call.
    let mut offered: Vec<&'static str> = if route.response_types.is_empty() {
        vec![V2_JSON]
    } else {
        route.response_types.to_vec()
    };
    for (contract, alias) in ALIASES {
        if offered.contains(contract) && !offered.contains(alias) {
            offered.push(alias);
        }
    }
    if route.tag == "consumers" {
        for format in EmbeddedFormat::ALL {
            if !offered.contains(&format.media_type()) {
                offered.push(format.media_type());
            }
        }
    }
    offered
}

/// The parsed `Accept` header of `req` (`None` without one: anything is acceptable).
pub fn accept_ranges(req: &Request) -> Option<Vec<accept::MediaRange>> {
    accept::parse(
        req.headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    )
}

/// Middleware: answers 406 before the handler runs when the `Accept` header admits none of the
/// types the request's operation can answer in ([`offered_types`], from the generated route
/// table). Requests that reach no operation are left to the router's 404 or 405. A records
/// call passes when it accepts any of its types; its handler then chooses the format.
pub async fn negotiate<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    // The access log found the route already (outermost layer); the table is scanned again
    // only where it did not run.
    let found = match req.extensions().get::<routes::Matched>() {
        Some(matched) => matched.of(v2::routes::ROUTES),
        None => match routes::lookup(v2::routes::ROUTES, req.method().as_str(), req.uri().path()) {
            Lookup::Found(route) => Some(route),
            _ => None,
        },
    };
    if let Some(route) = found {
        let ranges = accept_ranges(&req);
        if !accept::accepts_any(ranges.as_deref(), &offered_types(route)) {
            return Err(ProxyError::NotAcceptable.into());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&'static [u8]]) -> poem::Body {
        let parts: Vec<Result<bytes::Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p)))
            .collect();
        poem::Body::from_bytes_stream(futures::stream::iter(parts))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_any_frames_and_refused_past_its_limit() {
        let wait = std::time::Duration::from_secs(5);
        let one = read_body(frames(&[b"{\"a\":1}"]), 7, wait)
            .await
            .expect("fits");
        assert_eq!(&one[..], b"{\"a\":1}");
        let three = read_body(frames(&[b"ab", b"", b"cd", b"e"]), 5, wait)
            .await
            .expect("fits");
        assert_eq!(&three[..], b"abcde");
        let empty = read_body(frames(&[]), 0, wait).await.expect("empty");
        assert!(empty.is_empty());
        assert!(matches!(
            read_body(frames(&[b"abc", b"def"]), 5, wait).await,
            Err(ProxyError::PayloadTooLarge)
        ));
        assert!(matches!(
            read_body(frames(&[b"abcdef"]), 5, wait).await,
            Err(ProxyError::PayloadTooLarge)
        ));
    }

    fn offered(method: &str, path: &str) -> Vec<&'static str> {
        match routes::lookup(v2::routes::ROUTES, method, path) {
            Lookup::Found(route) => offered_types(route),
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    fn ok(accept: Option<&str>, offered: &[&str]) -> bool {
        accept::accepts_any(accept::parse(accept).as_deref(), offered)
    }

    #[test]
    fn metadata_calls_answer_the_v2_type_or_plain_json() {
        let types = offered("GET", "/topics/records");
        let rows = [
            (None, true),
            (Some("*/*"), true),
            (Some("application/*"), true),
            (Some("application/json"), true),
            (Some("application/vnd.kafka.v2+json"), true),
            (Some("Application/Vnd.Kafka.V2+Json; charset=utf-8"), true),
            (Some("text/html, application/json;q=0.5"), true),
            (Some("text/html"), false),
            (Some("text/*"), false),
            (Some("application/json;q=0"), false),
            (Some("application/json;q=abc"), false),
            (Some("application/vnd.kafka.binary.v2+json"), false),
            (Some("application/xml, text/plain"), false),
        ];
        for (accept, expected) in rows {
            assert_eq!(ok(accept, &types), expected, "{accept:?}");
        }
    }

    #[test]
    fn operations_answered_with_no_content_accept_the_v2_type_and_plain_json() {
        for (method, path) in [
            ("POST", "/consumers/g/instances/i/subscription"),
            ("DELETE", "/consumers/g/instances/i"),
            ("POST", "/consumers/g/instances/i/positions"),
            ("POST", "/consumers/g/instances/i/assignments"),
        ] {
            let types = offered(method, path);
            assert!(
                ok(Some("application/vnd.kafka.v2+json"), &types),
                "{method} {path}"
            );
            assert!(ok(Some("application/json"), &types), "{method} {path}");
            assert!(ok(None, &types), "{method} {path}");
            assert!(!ok(Some("text/html"), &types), "{method} {path}");
        }
    }

    #[test]
    fn a_topic_named_records_is_negotiated_like_any_topic() {
        assert_eq!(
            offered("POST", "/topics/records"),
            offered("POST", "/topics/t")
        );
        assert!(!ok(Some("text/html"), &offered("POST", "/topics/records")));
    }

    #[test]
    fn consumer_calls_also_answer_the_embedded_types_and_records_the_v2_alias() {
        let control = offered("GET", "/consumers/g/instances/i/subscription");
        assert!(ok(Some("application/vnd.kafka.protobuf.v2+json"), &control));
        let records = offered("GET", "/consumers/g/instances/i/records");
        assert!(ok(Some("application/vnd.kafka.v2+json"), &records));
        assert!(ok(Some("application/vnd.kafka.avro.v2+json"), &records));
        assert!(!ok(Some("text/html"), &records));
    }
}
