//! The v3 API: the generated per-tag traits of `kafka_rest_api::v3` implemented for
//! [`V3Service`], one file per tag group (`cluster.rs`, `brokers.rs`, `configs.rs`,
//! `topics.rs`, `partitions.rs`, and the consumer group and ACL files), and the infrastructure
//! they share: the per-request [`Ctx`] (the checked cluster id, absolute `self`/`related` links
//! and CRN `resource_name`s), the list envelope, and the content rules of every v3 path
//! ([`content_rules`]).
//!
//! Each handler decodes the generated types into domain values, makes one service call and
//! encodes the result; the services know nothing about HTTP. The v2 API (`api/mod.rs`) and its
//! `Accept` negotiation do not apply here: v3 reads and answers `application/json` only.

mod acls;
mod groups;

use std::sync::Arc;

use poem::http::{header, HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::admin::Admin;
use crate::api::consumers::{request_host, BaseUriRules};
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
}

impl V3Settings {
    pub fn from_config(config: &Config) -> V3Settings {
        V3Settings {
            links: BaseUriRules::from_config(config),
        }
    }
}

impl V3Service {
    pub fn new(services: Services, settings: V3Settings) -> V3Service {
        V3Service {
            services,
            http: Arc::new(settings),
        }
    }

    /// The administration service.
    pub fn admin(&self) -> &Admin {
        &self.services.admin
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
        let cluster_id = self.admin().check_cluster(cluster_id).await?;
        Ok(Ctx {
            base: self.base_url(req),
            cluster_id,
        })
    }

    /// The context of a request that names no cluster (`GET /v3/clusters`): the connected
    /// cluster's.
    pub async fn ctx_connected(&self, req: &Request) -> Result<Ctx, ProxyError> {
        let cluster_id = self.admin().cluster_id().await?;
        Ok(Ctx {
            base: self.base_url(req),
            cluster_id,
        })
    }
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
    let response = if refused {
        poem::error::ResponseError::as_response(&ProxyError::UnsupportedMediaType)
    } else {
        match next.call(req).await {
            Ok(response) => response.into_response(),
            Err(err) => catch_all(err).await,
        }
    };
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
