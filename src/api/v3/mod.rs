//! The v3 API: the generated per-tag traits of `kafka_rest_api::v3` implemented for
//! [`V3Service`], one file per tag group (`cluster.rs`, `brokers.rs`, `configs.rs`,
//! `topics.rs`, `partitions.rs`, and the consumer group and ACL files), and the infrastructure
//! they share: the per-request [`Ctx`] (the checked cluster id, absolute `self`/`related` links
//! and CRN `resource_name`s), the list envelope, and the content rules of every v3 path
//! ([`content_rules`]).
//!
//! Each handler decodes the generated types into domain values, makes one service call and
//! encodes the result; the services know nothing about HTTP. [`endpoint`] mounts the adapters
//! of the tags implemented here (under `/v3`, the contract's server URL, see `app.rs`). The v2 API (`api/mod.rs`) and its
//! `Accept` negotiation do not apply here: v3 reads and answers `application/json` only.

pub mod acls;
pub mod brokers;
pub mod cluster;
pub mod configs;
pub mod groups;
pub mod partitions;
pub mod produce;
pub mod topics;

use std::sync::{Arc, Mutex as StdMutex};

use kafka_rest_api::support::actions::action_paths;
use kafka_rest_api::support::routes;
use kafka_rest_api::v3::{self, models};
use kafka_rest_api::{Lenient, Nullable, RawBody};
use poem::endpoint::BoxEndpoint;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};

use crate::admin::Admin;
use crate::api::consumers::{request_host, BaseUriRules};
use crate::api::read_body;
use crate::config::Config;
use crate::error::{catch_all, ProxyError, V2_JSON};
use crate::services::Services;

/// The one media type v3 reads and answers.
pub const JSON: &str = "application/json";

/// The v3 API over the proxy's services; what the generated v3 adapters call.
#[derive(Clone)]
pub struct V3Service {
    pub(crate) services: Services,
    pub(crate) http: Arc<V3Settings>,
}

/// What the v3 layer needs of the configuration besides the services.
#[derive(Debug)]
pub struct V3Settings {
    /// How the authority of absolute links is chosen (the rules of consumer `base_uri`s).
    pub links: BaseUriRules,
    /// Largest request body read (`request.body.max.bytes`).
    pub request_body_max_bytes: usize,
    /// Longest wait for a whole request body (`request.body.timeout.ms`).
    pub request_body_timeout: std::time::Duration,
    /// The bounds of v3 produce.
    pub produce: produce::ProduceSettings,
    /// The v3 produce rate limits, shared by every request.
    pub produce_rates: crate::produce::rate::ProduceRates,
}

impl V3Settings {
    pub fn from_config(config: &Config) -> V3Settings {
        V3Settings {
            links: BaseUriRules::from_config(config),
            request_body_max_bytes: config.request_body_max_bytes,
            request_body_timeout: config.request_body_timeout,
            produce: produce::ProduceSettings::from_config(config),
            produce_rates: crate::produce::rate::ProduceRates::new(
                crate::produce::rate::RateSettings {
                    enabled: config.v3_produce_rate_limit_enabled,
                    records: config.v3_produce_rate_limit_requests,
                    records_global: config.v3_produce_rate_limit_requests_global,
                    bytes: config.v3_produce_rate_limit_bytes,
                    bytes_global: config.v3_produce_rate_limit_bytes_global,
                },
            ),
        }
    }
}

/// The v3 API as one endpoint, to be nested at `/v3`: the adapters of the implemented tags
/// (add a tag's adapter to the tuple once `V3Service` implements its trait), with
/// [`content_rules`] around all of it. The document is served by `app.rs`.
pub fn endpoint(service: V3Service) -> BoxEndpoint<'static, Response> {
    let api = v3::service_of((
        v3::ClusterV3Api::new(service.clone()),
        v3::BrokerV3Api::new(service.clone()),
        v3::ConfigsV3Api::new(service.clone()),
        v3::TopicV3Api::new(service.clone()),
        v3::PartitionV3Api::new(service.clone()),
        v3::ReplicaV3Api::new(service.clone()),
        v3::ConsumerGroupV3Api::new(service.clone()),
        v3::AclV3Api::new(service.clone()),
        v3::RecordsV3Api::new(service),
    ));
    // Action paths (`configs:alter`, `records:delete`, `acls:batch`, `offsets:reset`) reach
    // their operations only with the colon encoded, which `action_paths` does before routing;
    // the generated routes are registered that way, so their order does not matter.
    Route::new()
        .nest("/", action_paths(api))
        .around(content_rules)
        .boxed()
}

impl V3Service {
    pub fn new(services: Services, settings: V3Settings) -> V3Service {
        V3Service {
            services,
            http: Arc::new(settings),
        }
    }

    /// The administration service: the caller's own under principal pass-through.
    pub fn admin(&self) -> Result<Admin, ProxyError> {
        self.services
            .admin_for_caller()
            .map_err(ProxyError::internal)
    }

    /// `scheme://authority` of the links of an answer to `req`, by the rules of consumer
    /// `base_uri`s (`docs/decisions.md` §C5).
    pub fn base_url(&self, req: &Request) -> String {
        let scheme = req.scheme().as_str().to_string();
        let authority = self.http.links.authority(&scheme, &request_host(req));
        format!("{scheme}://{authority}")
    }

    /// Checks that `cluster_id` names the connected cluster (404 "Cluster <id> cannot be
    /// found." otherwise; the id is cached for `kafka.cluster.id.cache.ms`) and builds the
    /// context of one request.
    pub async fn ctx(&self, req: &Request, cluster_id: &str) -> Result<Ctx, ProxyError> {
        let cluster_id = self.admin()?.check_cluster(cluster_id).await?;
        Ok(Ctx {
            base: self.base_url(req),
            cluster_id,
        })
    }

    /// The connected cluster's id, if `cluster_id` names it (404 as [`V3Service::ctx`]): for
    /// the answers without links (produce), which need no base URL.
    pub async fn cluster(&self, cluster_id: &str) -> Result<String, ProxyError> {
        Ok(self.admin()?.check_cluster(cluster_id).await?)
    }

    /// The context of a request that names no cluster (`GET /v3/clusters`): the connected
    /// cluster's.
    pub async fn ctx_connected(&self, req: &Request) -> Result<Ctx, ProxyError> {
        let cluster_id = self.admin()?.cluster_id().await?;
        Ok(Ctx {
            base: self.base_url(req),
            cluster_id,
        })
    }
}

impl V3Service {
    /// Reads and decodes a JSON request body within the body limits: no body is 422 / 42206
    /// "Payload error. Request body is empty. Data is required.", a body `decode` refuses 422
    /// / 42206 with the decoder's message.
    pub async fn body<T, B, M>(
        &self,
        body: RawBody<B, M>,
        decode: fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, ProxyError> {
        self.body_of(body.into_body(), decode).await
    }

    /// [`V3Service::body`] of a plain body.
    pub async fn body_of<T>(
        &self,
        body: poem::Body,
        decode: fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<T, ProxyError> {
        let bytes = read_body(
            body,
            self.http.request_body_max_bytes,
            self.http.request_body_timeout,
        )
        .await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ProxyError::V3PayloadError {
                message: "Request body is empty. Data is required.".into(),
            });
        }
        decode(&bytes).map_err(|e| ProxyError::V3PayloadError {
            message: e.to_string(),
        })
    }
}

/// A numeric path segment (a broker or partition id); text that is not a number names no
/// resource, so it is 404 like any unknown path.
pub fn path_id(value: Lenient<i32>) -> Result<i32, ProxyError> {
    value.into_result().map_err(|raw| ProxyError::V3NotFound {
        what: format!("path segment {raw:?} is not a number"),
    })
}

/// Sets the `Location` header of the answer to the request being handled (a created topic's
/// URL, a created ACL's search URL). [`content_rules`] writes it once the handler returns.
pub fn set_location(req: &Request, url: String) {
    if let Some(slot) = req.extensions().get::<LocationSlot>() {
        let mut location = match slot.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *location = Some(url);
    }
}

/// Where a handler leaves the `Location` of its answer (see [`set_location`]).
#[derive(Clone, Default)]
struct LocationSlot(Arc<StdMutex<Option<String>>>);

/// One page of a list (the extension of `page_size` and `page_token`) and the collection's
/// metadata: `self` is the request's own absolute URL, and `next` the URL of the next page when
/// the request asked for pages and more items follow, else `null`. Without `page_size` the
/// list comes whole, as in Confluent. A `page_size` below 1 or not a number, or a `page_token`
/// that is not one this proxy wrote, is 400.
pub fn paginate<T>(
    req: &Request,
    ctx: &Ctx,
    items: Vec<T>,
    page_size: Option<Lenient<i32>>,
    page_token: Option<String>,
) -> Result<(Vec<T>, models::ResourceCollectionMetadata), ProxyError> {
    let self_ = ctx.request_url(req);
    let Some(size) = page_size else {
        return Ok((
            items,
            models::ResourceCollectionMetadata {
                self_,
                next: Nullable(None),
            },
        ));
    };
    let size = size
        .into_result()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| ProxyError::BadRequest {
            message: "page_size must be a positive integer".into(),
        })?;
    let start = match page_token.as_deref() {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| ProxyError::BadRequest {
            message: format!("page_token {token:?} is invalid"),
        })?,
    };
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let page: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (end < total).then(|| {
        let uri = req.original_uri();
        let path = uri.path();
        let mut query: Vec<String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page_token="))
            .map(str::to_string)
            .collect();
        query.push(format!("page_token={end}"));
        format!("{}{path}?{}", ctx.base, query.join("&"))
    });
    Ok((
        page,
        models::ResourceCollectionMetadata {
            self_,
            next: Nullable(next),
        },
    ))
}

/// One v3 request's context: the checked cluster id and the base of absolute links.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `scheme://authority`.
    base: String,
    cluster_id: String,
}

impl Ctx {
    /// For unit tests of the link builders.
    #[cfg(test)]
    pub fn for_tests(base: &str, cluster_id: &str) -> Ctx {
        Ctx {
            base: base.to_string(),
            cluster_id: cluster_id.to_string(),
        }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// `<base>/v3/clusters/<cluster_id>`.
    pub fn cluster_url(&self) -> String {
        format!(
            "{}/v3/clusters/{}",
            self.base,
            encode_segment(&self.cluster_id)
        )
    }

    /// `<base>/v3/clusters`.
    pub fn clusters_url(&self) -> String {
        format!("{}/v3/clusters", self.base)
    }

    /// The absolute URL of a resource of the cluster: `<cluster_url>/<segment>/<segment>...`,
    /// each segment percent-encoded (a `-` segment, "every", stays as it is).
    pub fn url(&self, segments: &[&str]) -> String {
        let mut url = self.cluster_url();
        for segment in segments {
            url.push('/');
            url.push_str(&encode_segment(segment));
        }
        url
    }

    /// The absolute URL of the request itself, query included (the `self` of a collection).
    pub fn request_url(&self, req: &Request) -> String {
        // The original URI: nesting under `/v3` strips the prefix from `req.uri()`.
        let uri = req.original_uri();
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), ToString::to_string);
        format!("{}{path_and_query}", self.base)
    }

    /// A link to a related resource of the cluster (`{"related": URL}`).
    pub fn related(&self, segments: &[&str]) -> models::Relationship {
        models::Relationship {
            related: self.url(segments),
        }
    }

    /// The metadata of one resource: its absolute URL and its CRN.
    pub fn resource(&self, segments: &[&str], crn: &[(&str, &str)]) -> models::ResourceMetadata {
        models::ResourceMetadata {
            self_: self.url(segments),
            resource_name: Some(Nullable(Some(self.crn(crn)))),
        }
    }

    /// The CRN of a resource of the cluster:
    /// `crn:///kafka=<cluster_id>/<type>=<name>/...` (Confluent's, with the default empty
    /// authority).
    pub fn crn(&self, parts: &[(&str, &str)]) -> String {
        let mut crn = format!("crn:///kafka={}", self.cluster_id);
        for (kind, name) in parts {
            crn.push('/');
            crn.push_str(kind);
            crn.push('=');
            crn.push_str(name);
        }
        crn
    }
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters and the
/// sub-delimiters, `:` and `@` that a segment may hold as they are.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `value` (a `Content-Type`) is `application/json`, parameters aside.
fn is_json(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON))
}

/// Whether `req` carries a body (a non-zero `Content-Length` or a chunked transfer).
fn has_body(req: &Request) -> bool {
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    }
}

/// Middleware of every v3 path: a request body must be `application/json` (a body of
/// another or no type, or a write that names another type, gets 415
/// `{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}`), and every answer, errors
/// included, is `application/json`. Errors that escape a handler get their JSON body here, so
/// that the v2 media type of the outer error layer never reaches a v3 client.
pub async fn content_rules<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let write = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let refused = match content_type.as_deref() {
        Some(value) => (write || has_body(&req)) && !is_json(value),
        None => has_body(&req),
    };
    // The `Allow` header of a 405 answer (RFC 9110), from the v3 route table: the outer
    // layer in `app.rs` knows the v2 table only. Looked up only for a 405 (a lookup scans
    // the table); the method and URI kept for it share their bytes with the request's.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let slot = LocationSlot::default();
    let mut req = req;
    req.extensions_mut().insert(slot.clone());
    let mut response = if refused {
        poem::error::ResponseError::as_response(&ProxyError::UnsupportedMediaType)
    } else {
        match next.call(req).await {
            Ok(response) => response.into_response(),
            Err(err) => catch_all(err).await,
        }
    };
    let location = match slot.0.lock() {
        Ok(mut guard) => guard.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
    {
        let allowed = match routes::lookup(v3::routes::ROUTES, method.as_str(), uri.path()) {
            routes::Lookup::MethodNotAllowed(methods) => Some(methods),
            _ => None,
        };
        if let Some(value) = allowed.and_then(|m| HeaderValue::from_str(&m).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(as_json(response))
}

/// Gives an answer in the v2 media type (the error layer's) the v3 one.
fn as_json(mut response: Response) -> Response {
    let v2 = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(V2_JSON));
    if v2 {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_and_segments_encoded() {
        let ctx = Ctx::for_tests("http://proxy.example:8082", "c1");
        assert_eq!(
            ctx.cluster_url(),
            "http://proxy.example:8082/v3/clusters/c1"
        );
        assert_eq!(
            ctx.url(&["topics", "t.1", "partitions", "-", "reassignment"]),
            "http://proxy.example:8082/v3/clusters/c1/topics/t.1/partitions/-/reassignment"
        );
        assert_eq!(
            ctx.url(&["consumer-groups", "a b/c%"]),
            "http://proxy.example:8082/v3/clusters/c1/consumer-groups/a%20b%2Fc%25"
        );
    }

    #[test]
    fn resource_names_are_confluent_crns() {
        let ctx = Ctx::for_tests("http://h", "c1");
        assert_eq!(ctx.crn(&[]), "crn:///kafka=c1");
        assert_eq!(
            ctx.crn(&[("topic", "t"), ("partition", "0")]),
            "crn:///kafka=c1/topic=t/partition=0"
        );
    }

    #[test]
    fn only_json_bodies_are_accepted() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("application/vnd.kafka.v2+json"));
        assert!(!is_json("text/plain"));
    }
}
