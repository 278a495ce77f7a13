//! `impl KafkaRestV2 for Service`: the generated port trait of the v2 API, implemented with
//! the proxy's services. Each method turns the generated types into domain values, makes one
//! service call and turns the result (or the service error, through `ProxyError`) back into
//! the operation's response enum; the per-tag modules hold the bodies of those methods.
//!
//! Routing, the derived OpenAPI document and the response types come from the generated crate
//! `kafka-rest-api` (`generated/rust-server`). This module also owns content negotiation of the
//! `Accept` header (decisions 15) and reading request bodies within their limits.

pub mod consumers;
pub mod health;
pub mod media;
pub mod produce;
pub mod topics;

use kafka_rest_api::{media as vnd, models, KafkaRestV2, Lenient, RawBody};
use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::app::AppState;
use crate::error::{ProxyError, V2_JSON};
use crate::records::EmbeddedFormat;

/// The v2 API over the proxy's services; what the generated adapter `V2Api` calls.
#[derive(Clone)]
pub struct Service {
    state: AppState,
}

impl Service {
    pub fn new(state: AppState) -> Self {
        Service { state }
    }
}

impl KafkaRestV2 for Service {
    type Error = ProxyError;

    async fn get_root(
        &self,
        _request: &Request,
    ) -> Result<kafka_rest_api::GetRootResponse, ProxyError> {
        Ok(topics::root())
    }

    async fn post_root(
        &self,
        _request: &Request,
        body: RawBody<models::RootRequest, vnd::PostRootBody>,
    ) -> Result<kafka_rest_api::PostRootResponse, ProxyError> {
        topics::post_root(&self.state, body).await
    }

    async fn health_live(
        &self,
        _request: &Request,
    ) -> Result<kafka_rest_api::HealthLiveResponse, ProxyError> {
        Ok(health::live())
    }

    async fn health_ready(
        &self,
        _request: &Request,
    ) -> Result<kafka_rest_api::HealthReadyResponse, ProxyError> {
        health::ready(&self.state).await
    }

    async fn list_topics(
        &self,
        _request: &Request,
    ) -> Result<kafka_rest_api::ListTopicsResponse, ProxyError> {
        topics::list_topics(&self.state).await
    }

    async fn get_topic(
        &self,
        _request: &Request,
        topic_name: String,
    ) -> Result<kafka_rest_api::GetTopicResponse, ProxyError> {
        topics::get_topic(&self.state, topic_name).await
    }

    async fn produce_to_topic(
        &self,
        _request: &Request,
        topic_name: String,
        body: RawBody<models::ProduceRequest, vnd::ProduceToTopicBody>,
    ) -> Result<kafka_rest_api::ProduceToTopicResponse, ProxyError> {
        produce::produce_to_topic(&self.state, topic_name, body).await
    }

    async fn list_partitions(
        &self,
        _request: &Request,
        topic_name: String,
    ) -> Result<kafka_rest_api::ListPartitionsResponse, ProxyError> {
        topics::list_partitions(&self.state, topic_name).await
    }

    async fn get_partition(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<kafka_rest_api::GetPartitionResponse, ProxyError> {
        topics::get_partition(&self.state, topic_name, partition_id).await
    }

    async fn produce_to_partition(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
        body: RawBody<models::ProduceRequest, vnd::ProduceToPartitionBody>,
    ) -> Result<kafka_rest_api::ProduceToPartitionResponse, ProxyError> {
        produce::produce_to_partition(&self.state, topic_name, partition_id, body).await
    }

    async fn get_partition_offsets(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<kafka_rest_api::GetPartitionOffsetsResponse, ProxyError> {
        topics::get_offsets(&self.state, topic_name, partition_id).await
    }

    async fn list_brokers(
        &self,
        _request: &Request,
    ) -> Result<kafka_rest_api::ListBrokersResponse, ProxyError> {
        topics::list_brokers(&self.state).await
    }

    async fn create_consumer(
        &self,
        request: &Request,
        group_name: String,
        body: RawBody<models::CreateConsumerRequest, vnd::CreateConsumerBody>,
    ) -> Result<kafka_rest_api::CreateConsumerResponse, ProxyError> {
        consumers::create(&self.state, request, group_name, body).await
    }

    async fn delete_consumer(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<kafka_rest_api::DeleteConsumerResponse, ProxyError> {
        consumers::delete(&self.state, request, group_name, instance).await
    }

    async fn get_subscription(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<kafka_rest_api::GetSubscriptionResponse, ProxyError> {
        consumers::get_subscription(&self.state, request, group_name, instance).await
    }

    async fn subscribe(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::SubscriptionRequest, vnd::SubscribeBody>,
    ) -> Result<kafka_rest_api::SubscribeResponse, ProxyError> {
        consumers::subscribe(&self.state, request, group_name, instance, body).await
    }

    async fn unsubscribe(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<kafka_rest_api::UnsubscribeResponse, ProxyError> {
        consumers::unsubscribe(&self.state, request, group_name, instance).await
    }

    async fn get_assignments(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<kafka_rest_api::GetAssignmentsResponse, ProxyError> {
        consumers::get_assignments(&self.state, request, group_name, instance).await
    }

    async fn assign_partitions(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::AssignPartitionsBody>,
    ) -> Result<kafka_rest_api::AssignPartitionsResponse, ProxyError> {
        consumers::assign(&self.state, request, group_name, instance, body).await
    }

    async fn get_committed_offsets(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::GetCommittedOffsetsBody>,
    ) -> Result<kafka_rest_api::GetCommittedOffsetsResponse, ProxyError> {
        consumers::committed_offsets(&self.state, request, group_name, instance, body).await
    }

    async fn commit_offsets(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        // Accepted for compatibility and ignored, whatever its value: every commit is
        // synchronous.
        _async: Option<Lenient<bool>>,
        body: RawBody<models::CommitOffsetsRequest, vnd::CommitOffsetsBody>,
    ) -> Result<kafka_rest_api::CommitOffsetsResponse, ProxyError> {
        consumers::commit_offsets(&self.state, request, group_name, instance, body).await
    }

    async fn seek(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::SeekRequest, vnd::SeekBody>,
    ) -> Result<kafka_rest_api::SeekResponse, ProxyError> {
        consumers::seek(&self.state, request, group_name, instance, body).await
    }

    async fn seek_to_beginning(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToBeginningBody>,
    ) -> Result<kafka_rest_api::SeekToBeginningResponse, ProxyError> {
        consumers::seek_all(
            &self.state,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::Beginning,
        )
        .await?;
        Ok(kafka_rest_api::SeekToBeginningResponse::NoContent)
    }

    async fn seek_to_end(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToEndBody>,
    ) -> Result<kafka_rest_api::SeekToEndResponse, ProxyError> {
        consumers::seek_all(
            &self.state,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::End,
        )
        .await?;
        Ok(kafka_rest_api::SeekToEndResponse::NoContent)
    }

    async fn read_records(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        timeout: Option<Lenient<i64>>,
        max_bytes: Option<Lenient<i64>>,
    ) -> Result<kafka_rest_api::ReadRecordsResponse, ProxyError> {
        let timeout = query_int("timeout", timeout)?;
        let max_bytes = query_int("max_bytes", max_bytes)?;
        consumers::records(
            &self.state,
            request,
            group_name,
            instance,
            timeout,
            max_bytes,
        )
        .await
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
