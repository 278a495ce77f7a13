//! The generated per-tag port traits of the v2 API (`kafka_rest_api::v2::{RootApi, HealthApi,
//! TopicsApi, PartitionsApi, BrokersApi, ProduceApi, ConsumersApi}`), implemented for
//! `Service` with the proxy's services, one self-contained `impl` block per trait. Each method
//! turns the generated types into domain values, makes one
//! service call and turns the result (or the service error, through `ProxyError`) back into
//! the operation's response enum; the per-tag modules hold the bodies of those methods.
//!
//! Routing, the derived OpenAPI document and the response types come from the generated crate
//! `kafka-rest-api` (`generated/rust-server`). This module also owns content negotiation of the
//! `Accept` header against the generated route table (docs/decisions.md, decision 15) and
//! reading request bodies within their limits.

pub mod consumers;
pub mod health;
pub mod media;
pub mod produce;
pub mod topics;

use kafka_rest_api::support::accept;
use kafka_rest_api::support::routes::{self, Lookup, Route};
use kafka_rest_api::v2::{self, media as vnd, models};
use kafka_rest_api::{Lenient, RawBody};
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

/// The operations tagged `root`.
impl v2::RootApi for Service {
    type Error = ProxyError;

    async fn get_root(&self, _request: &Request) -> Result<v2::GetRootResponse, ProxyError> {
        Ok(topics::root())
    }

    async fn post_root(
        &self,
        _request: &Request,
        body: RawBody<models::RootRequest, vnd::PostRootBody>,
    ) -> Result<v2::PostRootResponse, ProxyError> {
        topics::post_root(&self.state, body).await
    }
}

/// The operations tagged `health`.
impl v2::HealthApi for Service {
    type Error = ProxyError;

    async fn health_live(&self, _request: &Request) -> Result<v2::HealthLiveResponse, ProxyError> {
        Ok(health::live())
    }

    async fn health_ready(
        &self,
        _request: &Request,
    ) -> Result<v2::HealthReadyResponse, ProxyError> {
        health::ready(&self.state).await
    }
}

/// The operations tagged `topics`.
impl v2::TopicsApi for Service {
    type Error = ProxyError;

    async fn list_topics(&self, _request: &Request) -> Result<v2::ListTopicsResponse, ProxyError> {
        topics::list_topics(&self.state).await
    }

    async fn get_topic(
        &self,
        _request: &Request,
        topic_name: String,
    ) -> Result<v2::GetTopicResponse, ProxyError> {
        topics::get_topic(&self.state, topic_name).await
    }
}

/// The operations tagged `partitions`.
impl v2::PartitionsApi for Service {
    type Error = ProxyError;

    async fn list_partitions(
        &self,
        _request: &Request,
        topic_name: String,
    ) -> Result<v2::ListPartitionsResponse, ProxyError> {
        topics::list_partitions(&self.state, topic_name).await
    }

    async fn get_partition(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v2::GetPartitionResponse, ProxyError> {
        topics::get_partition(&self.state, topic_name, partition_id).await
    }

    async fn get_partition_offsets(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v2::GetPartitionOffsetsResponse, ProxyError> {
        topics::get_offsets(&self.state, topic_name, partition_id).await
    }
}

/// The operations tagged `brokers`.
impl v2::BrokersApi for Service {
    type Error = ProxyError;

    async fn list_brokers(
        &self,
        _request: &Request,
    ) -> Result<v2::ListBrokersResponse, ProxyError> {
        topics::list_brokers(&self.state).await
    }
}

/// The operations tagged `produce`.
impl v2::ProduceApi for Service {
    type Error = ProxyError;

    async fn produce_to_topic(
        &self,
        _request: &Request,
        topic_name: String,
        body: RawBody<models::ProduceRequest, vnd::ProduceToTopicBody>,
    ) -> Result<v2::ProduceToTopicResponse, ProxyError> {
        produce::produce_to_topic(&self.state, topic_name, body).await
    }

    async fn produce_to_partition(
        &self,
        _request: &Request,
        topic_name: String,
        partition_id: Lenient<i32>,
        body: RawBody<models::ProduceRequest, vnd::ProduceToPartitionBody>,
    ) -> Result<v2::ProduceToPartitionResponse, ProxyError> {
        produce::produce_to_partition(&self.state, topic_name, partition_id, body).await
    }
}

/// The operations tagged `consumers`.
impl v2::ConsumersApi for Service {
    type Error = ProxyError;

    async fn create_consumer(
        &self,
        request: &Request,
        group_name: String,
        body: RawBody<models::CreateConsumerRequest, vnd::CreateConsumerBody>,
    ) -> Result<v2::CreateConsumerResponse, ProxyError> {
        consumers::create(&self.state, request, group_name, body).await
    }

    async fn delete_consumer(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<v2::DeleteConsumerResponse, ProxyError> {
        consumers::delete(&self.state, request, group_name, instance).await
    }

    async fn get_subscription(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<v2::GetSubscriptionResponse, ProxyError> {
        consumers::get_subscription(&self.state, request, group_name, instance).await
    }

    async fn subscribe(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::SubscriptionRequest, vnd::SubscribeBody>,
    ) -> Result<v2::SubscribeResponse, ProxyError> {
        consumers::subscribe(&self.state, request, group_name, instance, body).await
    }

    async fn unsubscribe(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<v2::UnsubscribeResponse, ProxyError> {
        consumers::unsubscribe(&self.state, request, group_name, instance).await
    }

    async fn get_assignments(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
    ) -> Result<v2::GetAssignmentsResponse, ProxyError> {
        consumers::get_assignments(&self.state, request, group_name, instance).await
    }

    async fn assign_partitions(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::AssignPartitionsBody>,
    ) -> Result<v2::AssignPartitionsResponse, ProxyError> {
        consumers::assign(&self.state, request, group_name, instance, body).await
    }

    async fn get_committed_offsets(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::GetCommittedOffsetsBody>,
    ) -> Result<v2::GetCommittedOffsetsResponse, ProxyError> {
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
    ) -> Result<v2::CommitOffsetsResponse, ProxyError> {
        consumers::commit_offsets(&self.state, request, group_name, instance, body).await
    }

    async fn seek(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::SeekRequest, vnd::SeekBody>,
    ) -> Result<v2::SeekResponse, ProxyError> {
        consumers::seek(&self.state, request, group_name, instance, body).await
    }

    async fn seek_to_beginning(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToBeginningBody>,
    ) -> Result<v2::SeekToBeginningResponse, ProxyError> {
        consumers::seek_all(
            &self.state,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::Beginning,
        )
        .await?;
        Ok(v2::SeekToBeginningResponse::NoContent)
    }

    async fn seek_to_end(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToEndBody>,
    ) -> Result<v2::SeekToEndResponse, ProxyError> {
        consumers::seek_all(
            &self.state,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::End,
        )
        .await?;
        Ok(v2::SeekToEndResponse::NoContent)
    }

    async fn read_records(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        timeout: Option<Lenient<i64>>,
        max_bytes: Option<Lenient<i64>>,
    ) -> Result<v2::ReadRecordsResponse, ProxyError> {
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

/// Types the proxy answers in beyond those the contract lists for an operation, for clients
/// of Confluent's proxy (docs/decisions.md, decision 15): plain `application/json` wherever
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
    let mut offered: Vec<&'static str> = route.response_types.to_vec();
    for (contract, alias) in ALIASES {
        if route.response_types.contains(contract) && !offered.contains(alias) {
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
    if let Lookup::Found(route) =
        routes::lookup(v2::routes::ROUTES, req.method().as_str(), req.uri().path())
    {
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
