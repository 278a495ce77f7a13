//! Admission control: a bound on the requests in flight (`inflight.requests.max`) and on the
//! request-body bytes they may hold (`inflight.bytes.max`), enforced by the [`Limits`]
//! middleware around the whole application.
//!
//! Each request reserves one request slot and, before its handler runs, the bytes its body may
//! occupy: its `Content-Length` (at most `request.body.max.bytes`), `request.body.max.bytes` for
//! a body of unknown length (chunked), nothing for a request without a body. When either budget
//! cannot take the request it is answered at once with `503`, a `Retry-After` header and the
//! Confluent JSON error body; nothing waits in a queue. The reservation is an RAII guard that
//! moves into the response body, so it is released when the response has been sent, or when
//! the connection is dropped at any point (mid-body, mid-response), because the guard is
//! dropped with the request future or the response body.
//!
//! The health probes (`/health/live`, `/health/ready`) and the metrics scrape (`/metrics`) are
//! exempt: a load balancer must be able to tell a busy proxy from a dead one, and a saturated
//! proxy is exactly when its metrics are wanted. Per-request limits (body size and time) stay with
//! `api::read_body`; connection counts are left to the HTTP server.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use poem::http::{header, HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use crate::config::Config;
use crate::error::{ErrorBody, V2_JSON};

/// The `Retry-After` of a refusal, in seconds. Requests in flight are bounded in time (body
/// timeout, produce and consumer waits), so a saturated proxy usually has room again within a
/// second; a client that backs off for longer only loses throughput.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The Confluent `error_code` of a refusal: the same `503` the readiness probe answers with
/// when the proxy cannot serve (error codes equal the HTTP status unless an extension is
/// documented).
pub const ERROR_CODE: u32 = 503;

/// The budgets, read from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// `inflight.requests.max`: requests admitted at once (health probes not counted).
    pub max_requests: usize,
    /// `inflight.bytes.max`: request-body bytes reserved at once by admitted requests.
    pub max_bytes: u64,
    /// `request.body.max.bytes`: the most one request body may hold, reserved for a body of
    /// unknown length and the cap of what a `Content-Length` reserves.
    pub body_max_bytes: u64,
    /// `api.v3.produce.request.size.limit.max.bytes`: what a v3 produce stream reserves. Its
    /// body has no end by design and is read record by record, so the bytes it holds at once
    /// are one record's, never `request.body.max.bytes`.
    pub stream_record_max_bytes: u64,
}

impl LimitSettings {
    pub fn from_config(config: &Config) -> LimitSettings {
        LimitSettings {
            max_requests: config.inflight_requests_max,
            max_bytes: config.inflight_bytes_max,
            body_max_bytes: u64::try_from(config.request_body_max_bytes).unwrap_or(u64::MAX),
            stream_record_max_bytes: u64::try_from(config.v3_produce_record_max_bytes)
                .unwrap_or(u64::MAX),
        }
    }
}

/// The shared counters of admitted requests and their reserved bytes. Cheap to clone; every
/// clone counts against the same budgets.
#[derive(Debug, Clone)]
pub struct InFlight {
    budget: Arc<Budget>,
}

#[derive(Debug)]
struct Budget {
    max_requests: usize,
    max_bytes: u64,
    /// Requests admitted and not yet released; only [`InFlight::try_admit`] raises it and only
    /// [`Admission`]'s drop lowers it.
    requests: AtomicUsize,
    /// Bytes reserved by admitted requests, changed the same way as `requests`.
    bytes: AtomicU64,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Too many requests in flight: the limit of {limit} is reached; retry later.")]
    Requests { limit: usize },
    #[error(
        "Too many request body bytes in flight: {wanted} more would exceed the limit of {limit}; retry later."
    )]
    Bytes { wanted: u64, limit: u64 },
}

/// One admitted request's share of the budgets, given back when this is dropped.
#[derive(Debug)]
pub struct Admission {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.budget.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    pub fn new(max_requests: usize, max_bytes: u64) -> InFlight {
        InFlight {
            budget: Arc::new(Budget {
                max_requests,
                max_bytes,
                requests: AtomicUsize::new(0),
                bytes: AtomicU64::new(0),
            }),
        }
    }

    /// Admits one request that reserves `bytes`, or says which budget is full. Never waits.
    pub fn try_admit(&self, bytes: u64) -> Result<Admission, Refusal> {
        let budget = &self.budget;
        budget
            .requests
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget.max_requests).then_some(n + 1)
            })
            .map_err(|_| Refusal::Requests {
                limit: budget.max_requests,
            })?;
        let reserved = budget
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                b.checked_add(bytes)
                    .filter(|total| *total <= budget.max_bytes)
            });
        if reserved.is_err() {
            // The request slot taken above is given back: a refused request holds nothing.
            budget.requests.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Bytes {
                wanted: bytes,
                limit: budget.max_bytes,
            });
        }
        Ok(Admission {
            budget: Arc::clone(budget),
            bytes,
        })
    }

    /// Requests admitted now.
    pub fn requests(&self) -> usize {
        self.budget.requests.load(Ordering::Acquire)
    }

    /// Bytes reserved now.
    pub fn bytes(&self) -> u64 {
        self.budget.bytes.load(Ordering::Acquire)
    }
}

/// The bytes a request's body may occupy: nothing for a body known to be empty, its
/// `Content-Length` up to `body_max_bytes` (the handler refuses a longer body after reading at
/// most that much), and `body_max_bytes` when the length is unknown (chunked). A v3 produce
/// stream holds one record of its body at a time, so it reserves at most
/// `stream_record_max_bytes` whatever its length.
fn body_reservation(req: &mut Request, limits: &Limits) -> u64 {
    // The body is only inspected (its size hint), then put back unread.
    let body = req.take_body();
    let empty = body.is_empty();
    req.set_body(body);
    if empty {
        return 0;
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let cap = if req.method() == poem::http::Method::POST && is_produce_stream(req.uri().path()) {
        limits.stream_record_max_bytes
    } else {
        limits.body_max_bytes
    };
    length.unwrap_or(cap).min(cap)
}

/// `/v3/clusters/{cluster_id}/topics/{topic_name}/records`: the streamed produce (not
/// `records:batch`, whose body is read whole).
fn is_produce_stream(path: &str) -> bool {
    // Read on every POST: segment by segment, without collecting them.
    let mut segments = path.trim_start_matches('/').split('/');
    let mut next = || segments.next();
    matches!(
        (next(), next(), next(), next(), next(), next(), next()),
        (Some("v3"), Some("clusters"), Some(cluster), Some("topics"), Some(topic), Some("records"), None)
            if !cluster.is_empty() && !topic.is_empty()
    )
}

/// Paths that are answered whatever the load: the health probes and the metrics scrape.
fn is_exempt(path: &str) -> bool {
    path == "/health/live" || path == "/health/ready" || path == "/metrics"
}

/// The `503` answer to a refused request, with `Retry-After` and the JSON error body.
fn refusal_response(refusal: &Refusal) -> Response {
    let body = ErrorBody {
        error_code: ERROR_CODE,
        message: refusal.to_string(),
    };
    // Serializing two plain fields cannot fail; fall back to a fixed body anyway.
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| {
        br#"{"error_code":503,"message":"Too many requests in flight; retry later."}"#.to_vec()
    });
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .content_type(V2_JSON)
        .header(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
        .body(json)
}

/// The middleware: admits each request within the budgets or answers `503` at once.
#[derive(Debug, Clone)]
pub struct Limits {
    in_flight: InFlight,
    body_max_bytes: u64,
    stream_record_max_bytes: u64,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Limits {
        Limits {
            in_flight: InFlight::new(settings.max_requests, settings.max_bytes),
            body_max_bytes: settings.body_max_bytes,
            stream_record_max_bytes: settings.stream_record_max_bytes,
        }
    }
}

impl Limits {
    /// The counters this middleware admits against (read by the metrics scrape).
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }
}

impl<E: Endpoint> Middleware<E> for Limits {
    type Output = LimitsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        LimitsEndpoint {
            inner,
            limits: self.clone(),
        }
    }
}

/// An endpoint wrapped by [`Limits`].
#[derive(Debug)]
pub struct LimitsEndpoint<E> {
    inner: E,
    limits: Limits,
}

impl<E: Endpoint> Endpoint for LimitsEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if is_exempt(req.uri().path()) {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let wanted = body_reservation(&mut req, &self.limits);
        // The admission lives in this future until the handler has answered, then in the
        // response body: a dropped connection drops one or the other.
        let admission = match self.limits.in_flight.try_admit(wanted) {
            Ok(admission) => admission,
            Err(refusal) => {
                tracing::debug!(%refusal, path = req.uri().path(), "request refused");
                return Ok(refusal_response(&refusal));
            }
        };
        let response = self.inner.call(req).await?.into_response();
        Ok(hold_until_sent(response, admission))
    }
}

/// Moves `admission` into the response body, so it is released when the last byte has been
/// handed to the connection or the body is dropped unsent.
fn hold_until_sent(response: Response, admission: Admission) -> Response {
    let (parts, body) = response.into_parts();
    let guarded = GuardedBody {
        inner: BoxBody::from(body),
        admission: Some(admission),
    };
    Response::from_parts(parts, Body::from(BoxBody::new(guarded)))
}

/// A response body that holds an [`Admission`] until it ends or is dropped. It forwards the
/// size hint, so a response of known length keeps its `Content-Length`.
struct GuardedBody {
    inner: BoxBody<Bytes, io::Error>,
    /// Released (set to `None`) at the end of the body or on its error; dropped with the body
    /// otherwise.
    admission: Option<Admission>,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.admission = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http_body::Body as _;
    use http_body_util::BodyExt;
    use poem::endpoint::make;
    use poem::EndpointExt;
    use tokio::sync::oneshot;

    #[test]
    fn admission_counts_one_request_and_its_bytes_until_dropped() {
        let in_flight = InFlight::new(2, 100);
        let first = in_flight.try_admit(60).expect("first admitted");
        assert_eq!((in_flight.requests(), in_flight.bytes()), (1, 60));
        let second = in_flight.try_admit(40).expect("second admitted");
        assert_eq!((in_flight.requests(), in_flight.bytes()), (2, 100));
        drop(first);
        assert_eq!((in_flight.requests(), in_flight.bytes()), (1, 40));
        drop(second);
        assert_eq!((in_flight.requests(), in_flight.bytes()), (0, 0));
    }

    #[test]
    fn a_full_request_budget_refuses_without_taking_bytes() {
        let in_flight = InFlight::new(1, 100);
        let _held = in_flight.try_admit(10).expect("admitted");
        assert_eq!(
            in_flight.try_admit(0).expect_err("refused"),
            Refusal::Requests { limit: 1 }
        );
        assert_eq!((in_flight.requests(), in_flight.bytes()), (1, 10));
    }

    #[test]
    fn a_full_byte_budget_refuses_and_gives_the_request_slot_back() {
        let in_flight = InFlight::new(10, 100);
        let _held = in_flight.try_admit(70).expect("admitted");
        assert_eq!(
            in_flight.try_admit(31).expect_err("refused"),
            Refusal::Bytes {
                wanted: 31,
                limit: 100
            }
        );
        assert_eq!((in_flight.requests(), in_flight.bytes()), (1, 70));
        // What still fits is admitted, and requests without a body only need a slot.
        let _fits = in_flight.try_admit(30).expect("exactly the rest fits");
        let _no_body = in_flight.try_admit(0).expect("a request without a body");
        assert_eq!((in_flight.requests(), in_flight.bytes()), (3, 100));
    }

    #[test]
    fn a_reservation_that_overflows_the_counter_is_refused() {
        let in_flight = InFlight::new(10, u64::MAX);
        let _held = in_flight.try_admit(u64::MAX - 1).expect("admitted");
        assert!(matches!(in_flight.try_admit(2), Err(Refusal::Bytes { .. })));
        assert_eq!(in_flight.requests(), 1);
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_budgets_and_all_are_released() {
        let in_flight = InFlight::new(8, 8 * 1024);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let in_flight = in_flight.clone();
                scope.spawn(move || {
                    for i in 0..10_000u64 {
                        if let Ok(admission) = in_flight.try_admit(512 + i % 1024) {
                            assert!(in_flight.requests() <= 8);
                            assert!(in_flight.bytes() <= 8 * 1024);
                            drop(admission);
                        }
                    }
                });
            }
        });
        assert_eq!((in_flight.requests(), in_flight.bytes()), (0, 0));
    }

    fn config_with(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let mut props = crate::config::Properties::default();
        props.set("bootstrap.servers", "k:9092");
        for (key, value) in pairs {
            props.set(key, *value);
        }
        Config::from_properties(&props)
    }

    #[test]
    fn settings_come_from_the_config_with_generous_defaults() {
        let defaults = config_with(&[]).expect("valid config");
        assert_eq!(
            LimitSettings::from_config(&defaults),
            LimitSettings {
                max_requests: 1024,
                max_bytes: 256 << 20,
                body_max_bytes: 64 << 20,
                stream_record_max_bytes: 1 << 20,
            }
        );
        let set = config_with(&[
            ("inflight.requests.max", "3"),
            ("inflight.bytes.max", "1500"),
            ("request.body.max.bytes", "1000"),
        ])
        .expect("valid config");
        assert_eq!(
            LimitSettings::from_config(&set),
            LimitSettings {
                max_requests: 3,
                max_bytes: 1500,
                body_max_bytes: 1000,
                stream_record_max_bytes: 1 << 20,
            }
        );
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    }

    #[test]
    fn zero_and_a_byte_budget_below_one_body_are_rejected_naming_the_key() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("inflight.requests.max", "0")], "inflight.requests.max"),
            (&[("inflight.requests.max", "-1")], "inflight.requests.max"),
            (&[("inflight.bytes.max", "0")], "inflight.bytes.max"),
            (&[("inflight.bytes.max", "lots")], "inflight.bytes.max"),
            // Below the default `request.body.max.bytes` of 64 MiB.
            (&[("inflight.bytes.max", "1048576")], "inflight.bytes.max"),
        ];
        for (pairs, key) in cases {
            let err = config_with(pairs).expect_err(key);
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{key}`")), "{pairs:?}: {msg}");
        }
        config_with(&[("inflight.bytes.max", "1"), ("request.body.max.bytes", "0")])
            .expect("a budget of one byte over bodies of at most zero");
    }

    fn settings(max_requests: usize, max_bytes: u64) -> LimitSettings {
        LimitSettings {
            max_requests,
            max_bytes,
            body_max_bytes: 1000,
            stream_record_max_bytes: 100,
        }
    }

    fn post(path: &str, body: &'static [u8]) -> Request {
        Request::builder()
            .method(poem::http::Method::POST)
            .uri(path.parse().expect("test URI"))
            .header(header::CONTENT_LENGTH, body.len())
            .body(body)
    }

    fn get(path: &str) -> Request {
        Request::builder()
            .uri(path.parse().expect("test URI"))
            .finish()
    }

    #[test]
    fn the_reservation_is_the_content_length_capped_by_the_body_limit_or_the_limit_when_unknown() {
        let limits = Limits::new(settings(10, 10_000));
        assert_eq!(body_reservation(&mut get("/topics"), &limits), 0);
        assert_eq!(
            body_reservation(&mut post("/topics/t", &[b'x'; 10]), &limits),
            10
        );
        // A declared length beyond the body limit is refused by the handler after at most the
        // limit was read.
        let mut long = post("/topics/t", b"x");
        long.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(5000u64));
        assert_eq!(body_reservation(&mut long, &limits), 1000);
        assert_eq!(body_reservation(&mut chunked("/topics/t"), &limits), 1000);
    }

    fn chunked(path: &str) -> Request {
        let stream = Body::from_bytes_stream(futures::stream::iter([Ok::<_, io::Error>(
            Bytes::from_static(b"chunk"),
        )]));
        Request::builder()
            .method(poem::http::Method::POST)
            .uri(path.parse().expect("test URI"))
            .body(stream)
    }

    /// A v3 produce stream has no end, so reserving the whole body limit would admit only
    /// `inflight.bytes.max / request.body.max.bytes` streams (4 by default); it holds one
    /// record at a time.
    #[test]
    fn a_v3_produce_stream_reserves_one_record_whatever_its_length() {
        let limits = Limits::new(settings(10, 10_000));
        let stream_path = "/v3/clusters/c1/topics/t/records";
        assert_eq!(body_reservation(&mut chunked(stream_path), &limits), 100);
        let mut long = post(stream_path, b"x");
        long.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(5000u64));
        assert_eq!(body_reservation(&mut long, &limits), 100);
        assert_eq!(
            body_reservation(&mut post(stream_path, &[b'x'; 10]), &limits),
            10
        );
        // The batch is read whole; other paths ending in `records` are not streams.
        for path in [
            "/v3/clusters/c1/topics/t/records:batch",
            "/consumers/g/instances/i/records",
            "/v3/clusters//topics/t/records",
            "/v3/clusters/c1/topics/t/records/more",
            "/v3/clusters/c1/topics/t",
        ] {
            assert_eq!(
                body_reservation(&mut chunked(path), &limits),
                1000,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_request_gets_503_with_retry_after_and_the_json_error_body() {
        let limits = Limits::new(settings(1, 10_000));
        let _held = limits.in_flight().try_admit(0).expect("admitted");
        let app = make(|_| async { "never called" }).with(limits.clone());
        let resp = app.call(get("/topics")).await.expect("an answer");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        assert_eq!(resp.content_type(), Some(V2_JSON));
        let body = resp.into_body().into_bytes().await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "error_code": 503,
                "message": "Too many requests in flight: the limit of 1 is reached; retry later."
            })
        );
        assert_eq!(limits.in_flight().requests(), 1);
    }

    #[tokio::test]
    async fn health_probes_are_answered_when_the_budget_is_full() {
        let limits = Limits::new(settings(1, 10_000));
        let _held = limits.in_flight().try_admit(0).expect("admitted");
        let app = make(|_| async { "UP" }).with(limits.clone());
        for path in ["/health/live", "/health/ready"] {
            let resp = app.call(get(path)).await.expect("an answer");
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
        let resp = app.call(get("/health/other")).await.expect("an answer");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn the_reservation_is_held_until_the_response_body_is_consumed() {
        let limits = Limits::new(settings(4, 10_000));
        let app = make(|_| async { "a response" }).with(limits.clone());
        let resp = app
            .call(post("/topics/t", &[b'x'; 100]))
            .await
            .expect("an answer");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            (limits.in_flight().requests(), limits.in_flight().bytes()),
            (1, 100)
        );
        let body = BoxBody::from(resp.into_body());
        assert_eq!(body.size_hint().exact(), Some(10), "the length is kept");
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"a response");
        assert_eq!(
            (limits.in_flight().requests(), limits.in_flight().bytes()),
            (0, 0)
        );
    }

    #[tokio::test]
    async fn a_dropped_request_or_response_releases_its_reservation() {
        let limits = Limits::new(settings(4, 10_000));
        let (entered_tx, entered_rx) = oneshot::channel::<()>();
        let entered_tx = std::sync::Mutex::new(Some(entered_tx));
        let app = make(move |_| {
            let entered = entered_tx.lock().ok().and_then(|mut tx| tx.take());
            async move {
                if let Some(tx) = entered {
                    let _ = tx.send(());
                }
                // A handler that never finishes, like one whose client stopped sending.
                std::future::pending::<()>().await;
                "unreachable"
            }
        })
        .with(limits.clone());
        let app = Arc::new(app);
        let call = tokio::spawn({
            let app = Arc::clone(&app);
            async move { app.call(post("/topics/t", &[b'x'; 300])).await }
        });
        entered_rx.await.expect("the handler ran");
        assert_eq!(
            (limits.in_flight().requests(), limits.in_flight().bytes()),
            (1, 300)
        );
        // The connection goes away: the request future is dropped.
        call.abort();
        let _ = call.await;
        assert_eq!(
            (limits.in_flight().requests(), limits.in_flight().bytes()),
            (0, 0)
        );

        // A response dropped before it was sent releases as well.
        let limits = Limits::new(settings(4, 10_000));
        let app = make(|_| async { "a response" }).with(limits.clone());
        let resp = app
            .call(post("/topics/t", &[b'x'; 50]))
            .await
            .expect("an answer");
        assert_eq!(limits.in_flight().requests(), 1);
        drop(resp);
        assert_eq!(
            (limits.in_flight().requests(), limits.in_flight().bytes()),
            (0, 0)
        );
    }

    #[tokio::test]
    async fn a_body_that_does_not_fit_the_byte_budget_is_refused_while_a_small_one_passes() {
        let limits = Limits::new(settings(10, 1500));
        let _held = limits.in_flight().try_admit(1000).expect("admitted");
        let app = make(|_| async { "ok" }).with(limits.clone());
        let big = app
            .call(post("/topics/t", &[b'x'; 600]))
            .await
            .expect("an answer");
        assert_eq!(big.status(), StatusCode::SERVICE_UNAVAILABLE);
        let small = app
            .call(post("/topics/t", &[b'x'; 400]))
            .await
            .expect("an answer");
        assert_eq!(small.status(), StatusCode::OK);
        let no_body = app.call(get("/topics")).await.expect("an answer");
        assert_eq!(no_body.status(), StatusCode::OK);
    }
}
