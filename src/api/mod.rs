//! HTTP handlers. Each one turns the request into domain values, makes one service call and
//! turns the result (or the service error, through `ProxyError`) back into a response.
//!
//! Endpoint shapes live here by hand until the OpenAPI-generated interface replaces them. This
//! module also owns content negotiation of the `Accept` header (decisions 15).

pub mod consumers;
pub mod health;
pub mod media;
pub mod produce;
pub mod topics;

use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde::Serialize;

use crate::error::{ProxyError, V2_JSON};
use crate::records::EmbeddedFormat;

/// A JSON body sent as `application/vnd.kafka.v2+json`.
pub struct V2Json<T>(pub T);

impl<T: Serialize + Send> IntoResponse for V2Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, V2_JSON)
                .body(body),
            Err(e) => poem::error::ResponseError::as_response(&ProxyError::internal(e)),
        }
    }
}

/// Reads a whole request body, bounded in size (413) and in time (408), so a client that
/// trickles its body cannot hold a request open for ever.
pub async fn read_body(
    body: poem::Body,
    max_bytes: usize,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, ProxyError> {
    match tokio::time::timeout(timeout, body.into_bytes_limit(max_bytes)).await {
        Err(_elapsed) => Err(ProxyError::BodyTimeout {
            timeout_ms: timeout.as_millis(),
        }),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(ProxyError::PayloadTooLarge),
        Ok(Err(other)) => Err(ProxyError::BadRequest {
            message: format!("Cannot read the request body: {other}"),
        }),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// The media ranges of an `Accept` header that the client accepts (q > 0), lower-cased and
/// without parameters. `None` when there is no (or an empty) `Accept` header.
pub fn accepted_media_ranges(req: &Request) -> Option<Vec<String>> {
    let raw = req.headers().get_all(header::ACCEPT);
    let mut ranges = Vec::new();
    let mut any_header = false;
    for value in raw {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            if range.is_empty() {
                continue;
            }
            any_header = true;
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !refused {
                ranges.push(range);
            }
        }
    }
    any_header.then_some(ranges)
}

/// Whether an `Accept` header admits one of `offered` (exact types, compared case-insensitively).
pub fn accepts_any(accepted: &Option<Vec<String>>, offered: &[&str]) -> bool {
    match accepted {
        None => true,
        Some(ranges) => ranges.iter().any(|range| {
            range == "*/*"
                || offered.iter().any(|o| {
                    o.eq_ignore_ascii_case(range)
                        || range
                            .strip_suffix("/*")
                            .is_some_and(|ty| o.split('/').next() == Some(ty))
                })
        }),
    }
}

/// What the metadata, produce and consumer control calls can answer in: the v2 type, which
/// plain `application/json` clients also get (decisions 15).
const V2_RESPONSE_TYPES: &[&str] = &[V2_JSON, "application/json"];

/// Middleware: answers 406 before the handler runs when the `Accept` header admits no type the
/// endpoint can send. Records calls negotiate their own embedded format and are left alone;
/// consumer control calls also accept the five embedded types, as Confluent's do.
pub async fn negotiate<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    if !path.ends_with("/records") {
        let accepted = accepted_media_ranges(&req);
        let ok = accepts_any(&accepted, V2_RESPONSE_TYPES)
            || (path.starts_with("/consumers")
                && EmbeddedFormat::ALL
                    .iter()
                    .any(|f| accepts_any(&accepted, &[f.media_type()])));
        if !ok {
            return Err(ProxyError::NotAcceptable.into());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(accept: Option<&str>) -> Option<Vec<String>> {
        let mut req = Request::builder();
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        accepted_media_ranges(&req.finish())
    }

    #[test]
    fn accept_headers_are_matched_with_wildcards_and_q_values() {
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
            (Some("application/vnd.kafka.binary.v2+json"), false),
            (Some("application/xml, text/plain"), false),
        ];
        for (accept, ok) in rows {
            assert_eq!(
                accepts_any(&ranges(accept), V2_RESPONSE_TYPES),
                ok,
                "{accept:?}"
            );
        }
    }
}
