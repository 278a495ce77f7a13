//! The observation layer of the HTTP application: the [`Observe`] middleware, which gives
//! every request its request id, records it in the HTTP metrics under its route template and
//! writes its access log line; and the `/metrics` scrape endpoint.
//!
//! Owns the resolution of a request to an operation (the route tables of the mounted API
//! documents, plus the few endpoints outside them), the `X-Request-ID` rules, the access log
//! formats and the writer thread of the access log. The metric families themselves are
//! `metrics.rs`; which documents are mounted where is `app.rs`.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use kafka_rest_api::support::routes::{Matched, Route, RouteIndex};
use poem::http::{header, HeaderName, HeaderValue, Method};
use poem::{Endpoint, EndpointExt, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use crate::config::{AccessLogFormat, Config};
use crate::metrics::{Metrics, OperationMetrics, CONTENT_TYPE, UNMATCHED_ROUTE};

/// The request id header, accepted from clients and set on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a client; a longer one is replaced.
pub const REQUEST_ID_MAX_LEN: usize = 128;

/// Endpoints served outside the API documents, each its own operation: (method, path, whether
/// the path is a prefix).
const EXTRA_ENDPOINTS: [(&str, &str, bool); 4] = [
    ("GET", "/metrics", false),
    ("GET", "/openapi.json", false),
    ("GET", "/openapi.yaml", false),
    ("GET", "/docs", true),
];

/// The methods a client can send that get their own label value in the unmatched bucket;
/// any other method is counted as `other`.
const UNMATCHED_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// One mounted API document: the path it is nested under (`""` for the root) and its
/// generated route table.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    pub prefix: &'static str,
    pub routes: &'static [Route],
}

/// Every operation of the application with its metric handles, in the order of the tables.
struct Operations {
    /// Documents with their first index into `ops` and their table prepared for lookups,
    /// longest prefix first so that a nested document wins over the one at the root.
    documents: Vec<(Document, usize, RouteIndex)>,
    /// One entry per route of every document, then one per extra endpoint.
    ops: Vec<Operation>,
    extras_start: usize,
    /// The unmatched bucket, one per method of [`UNMATCHED_METHODS`] and one for `other`.
    unmatched: Vec<Operation>,
}

struct Operation {
    route: Cow<'static, str>,
    metrics: OperationMetrics,
}

impl Operations {
    fn new(metrics: &Metrics, documents: &[Document]) -> Operations {
        let mut sorted: Vec<Document> = documents.to_vec();
        sorted.sort_by_key(|d| std::cmp::Reverse(d.prefix.len()));
        let mut ops = Vec::new();
        let mut indexed = Vec::new();
        for document in sorted {
            indexed.push((document, ops.len(), RouteIndex::new(document.routes)));
            for route in document.routes {
                let template: Cow<'static, str> = if document.prefix.is_empty() {
                    Cow::Borrowed(route.path)
                } else {
                    Cow::Owned(format!("{}{}", document.prefix, route.path))
                };
                ops.push(Operation {
                    metrics: metrics.operation(Cow::Borrowed(route.method), template.clone()),
                    route: template,
                });
            }
        }
        let extras_start = ops.len();
        for (method, path, _) in EXTRA_ENDPOINTS {
            ops.push(Operation {
                route: Cow::Borrowed(path),
                metrics: metrics.operation(Cow::Borrowed(method), Cow::Borrowed(path)),
            });
        }
        let unmatched = UNMATCHED_METHODS
            .iter()
            .chain(std::iter::once(&"other"))
            .map(|method| Operation {
                route: Cow::Borrowed(UNMATCHED_ROUTE),
                metrics: metrics.operation(Cow::Borrowed(method), Cow::Borrowed(UNMATCHED_ROUTE)),
            })
            .collect();
        Operations {
            documents: indexed,
            ops,
            extras_start,
            unmatched,
        }
    }

    /// The operation a request is for, and the route it matched (for [`Matched`]). Allocates
    /// nothing: the route tables are scanned and the matched entry found by address.
    fn resolve(&self, method: &Method, path: &str) -> (&Operation, Option<&'static Route>) {
        let method = method.as_str();
        for (i, (m, p, prefix)) in EXTRA_ENDPOINTS.iter().enumerate() {
            let matches =
                path == *p || (*prefix && path.starts_with(p) && path[p.len()..].starts_with('/'));
            if matches && method == *m {
                return (&self.ops[self.extras_start + i], None);
            }
        }
        for (document, first, index) in &self.documents {
            let Some(rest) = path.strip_prefix(document.prefix) else {
                continue;
            };
            // A nested document owns its prefix only as a whole path segment.
            if !(document.prefix.is_empty() || rest.is_empty() || rest.starts_with('/')) {
                continue;
            }
            if let Ok((at, route)) = index.lookup(method, rest) {
                return (&self.ops[first + at], Some(route));
            }
            // A path under a nested document's prefix is that document's or none.
            if !document.prefix.is_empty() {
                break;
            }
        }
        let at = UNMATCHED_METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(UNMATCHED_METHODS.len());
        (&self.unmatched[at], None)
    }
}

/// The middleware: request id, HTTP metrics and access log for every request.
#[derive(Clone)]
pub struct Observe {
    inner: Arc<ObserveInner>,
}

struct ObserveInner {
    operations: Operations,
    log: Option<AccessLog>,
    ids: RequestIds,
    /// Set when `GET /metrics` is answered here, in front of the application.
    scrape: Option<Metrics>,
}

impl Observe {
    /// The layer for an application that mounts `documents`; starts the access log's writer
    /// thread when `access.log.format` is not `off`. With `serve_metrics`, it answers
    /// `GET /metrics` itself; the scrape is then observed like any request.
    pub fn new(
        metrics: &Metrics,
        config: &Config,
        documents: &[Document],
        serve_metrics: bool,
    ) -> Observe {
        Observe {
            inner: Arc::new(ObserveInner {
                operations: Operations::new(metrics, documents),
                log: AccessLog::start(config),
                ids: RequestIds::new(),
                scrape: serve_metrics.then(|| metrics.clone()),
            }),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            observe: self.clone(),
        }
    }
}

/// An endpoint wrapped by [`Observe`].
pub struct ObserveEndpoint<E> {
    inner: E,
    observe: Observe,
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let this = &self.observe.inner;
        let request_id = match req.headers().get(&REQUEST_ID) {
            Some(given) if valid_request_id(given.as_bytes()) => given.clone(),
            _ => this.ids.next(),
        };
        // The handler sees the id the response will carry.
        req.headers_mut().insert(REQUEST_ID, request_id.clone());
        let request_bytes = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let (operation, route) = this.operations.resolve(req.method(), req.uri().path());
        if let Some(route) = route {
            req.extensions_mut().insert(Matched(route));
        }
        let line = this.log.as_ref().map(|_| LineStart::of(&req));
        // A debug span, so that it costs nothing unless trace export (or a debug log) wants it.
        let span = tracing::debug_span!(
            "request",
            http.request.method = %req.method(),
            http.route = %operation.route,
            request_id = request_id.to_str().unwrap_or("-"),
            http.response.status_code = tracing::field::Empty,
        );
        let scrape = match &this.scrape {
            Some(metrics) if req.method() == Method::GET && req.uri().path() == "/metrics" => {
                Some(metrics.clone())
            }
            _ => None,
        };
        let mut response = match scrape {
            Some(metrics) => scrape_response(metrics).await,
            // Boxed: the rest of the request's future (every inner layer and the router) is
            // moved to the heap once here, instead of being copied, several KiB at a time,
            // into this layer's future and again when the server boxes it.
            None => match Box::pin(self.inner.call(req))
                .instrument(span.clone())
                .await
            {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            },
        };
        let duration = started.elapsed();
        response
            .headers_mut()
            .insert(REQUEST_ID, request_id.clone());
        let status = response.status().as_u16();
        span.record("http.response.status_code", status);
        let response_bytes = response_length(&mut response);
        operation
            .metrics
            .observe(status, duration, request_bytes, response_bytes.unwrap_or(0));
        if let (Some(log), Some(start)) = (&this.log, line) {
            let principal = response
                .extensions()
                .get::<crate::principal::Principal>()
                .map(|p| p.name.as_str());
            log.write(&Line {
                start,
                principal,
                route: &operation.route,
                status,
                request_bytes,
                response_bytes,
                duration,
                request_id: request_id.to_str().unwrap_or("-"),
            });
        }
        Ok(response)
    }
}

/// The length of a response body when it is known before it is sent (every answer of the
/// API is: they are built whole); `None` for a streamed body.
fn response_length(response: &mut Response) -> Option<u64> {
    // The body is only inspected (its size hint, from which the server sets `Content-Length`),
    // then put back unread; both conversions are moves.
    let body = BoxBody::from(response.take_body());
    let length = http_body::Body::size_hint(&body).exact();
    response.set_body(poem::Body::from(body));
    length
}

/// Whether a client's request id is kept: 1 to [`REQUEST_ID_MAX_LEN`] characters of letters,
/// digits and `-_.:+=/`, so it can be logged and echoed without escaping.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= REQUEST_ID_MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+=/".contains(b))
}

/// Generates request ids: a random prefix chosen at start and a counter, so ids are unique
/// within the process and across processes without a random draw per request.
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        let random = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: random[..16].to_string(),
            next: AtomicU64::new(1),
        }
    }

    /// `{prefix}-{n:010}`, written without `format!` (once per request).
    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        let mut id = Vec::with_capacity(self.prefix.len() + 1 + digits.len().max(10));
        id.extend_from_slice(self.prefix.as_bytes());
        id.push(b'-');
        id.resize(id.len() + 10usize.saturating_sub(digits.len()), b'0');
        id.extend_from_slice(digits);
        // Hex digits, a dash and decimal digits are always a valid header value.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// What the access log keeps of a request before it is handed to the handler.
struct LineStart {
    time: jiff::Timestamp,
    remote: String,
    method: Method,
    path: String,
    version: poem::http::Version,
}

impl LineStart {
    fn of(req: &Request) -> LineStart {
        let remote = match req.remote_addr().as_socket_addr() {
            Some(addr) => addr.ip().to_string(),
            None => "-".to_string(),
        };
        LineStart {
            time: jiff::Timestamp::now(),
            remote,
            method: req.method().clone(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_string(), |p| p.to_string()),
            version: req.version(),
        }
    }
}

/// One access log line.
struct Line<'a> {
    start: LineStart,
    /// The authenticated user, when authentication is on and the request passed it.
    principal: Option<&'a str>,
    route: &'a str,
    status: u16,
    request_bytes: u64,
    response_bytes: Option<u64>,
    duration: Duration,
    request_id: &'a str,
}

impl Line<'_> {
    fn render(&self, format: AccessLogFormat) -> String {
        let millis = self.duration.as_secs_f64() * 1000.0;
        match format {
            AccessLogFormat::Off => String::new(),
            AccessLogFormat::Common => format!(
                "{} - {} [{}] \"{} {} {:?}\" {} {} {millis:.3} {} {}",
                self.start.remote,
                self.principal.unwrap_or("-"),
                self.start.time.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                self.start.method,
                self.start.path,
                self.start.version,
                self.status,
                self.response_bytes
                    .map_or_else(|| "-".to_string(), |b| b.to_string()),
                self.request_id,
                self.route,
            ),
            AccessLogFormat::Json => serde_json::json!({
                "time": self.start.time.to_string(),
                "remote": self.start.remote,
                "principal": self.principal,
                "method": self.start.method.as_str(),
                "path": self.start.path,
                "route": self.route,
                "status": self.status,
                "request_bytes": self.request_bytes,
                "response_bytes": self.response_bytes,
                "duration_ms": (millis * 1000.0).round() / 1000.0,
                "request_id": self.request_id,
            })
            .to_string(),
        }
    }
}

/// The access log: lines go through a bounded queue (`access.log.queue.max`) to one writer
/// thread, so a slow disk or terminal never holds up a request; when the queue is full the
/// line is dropped and counted.
struct AccessLog {
    format: AccessLogFormat,
    /// Closed when the last clone of the middleware is dropped, which ends the writer thread.
    lines: SyncSender<String>,
    dropped: AtomicU64,
}

impl AccessLog {
    fn start(config: &Config) -> Option<AccessLog> {
        let format = config.access_log_format;
        if format == AccessLogFormat::Off {
            return None;
        }
        let sink: Box<dyn Write + Send> = if config.access_log_file.is_empty() {
            Box::new(std::io::stdout())
        } else {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&config.access_log_file)
            {
                Ok(file) => Box::new(file),
                Err(e) => {
                    tracing::error!(
                        file = %config.access_log_file,
                        error = %e,
                        "cannot open the access log file; access log lines go to stdout"
                    );
                    Box::new(std::io::stdout())
                }
            }
        };
        let (lines, queue) = sync_channel(config.access_log_queue_max);
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(queue, sink));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the access log writer; access log off");
            return None;
        }
        Some(AccessLog {
            format,
            lines,
            dropped: AtomicU64::new(0),
        })
    }

    fn write(&self, line: &Line<'_>) {
        match self.lines.try_send(line.render(self.format)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "access log queue full; lines dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The writer thread: writes each line, flushing whenever the queue is empty.
fn write_lines(queue: Receiver<String>, sink: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::new(sink);
    while let Ok(line) = queue.recv() {
        let mut next = Some(line);
        while let Some(line) = next.take() {
            if writeln!(out, "{line}").is_err() {
                return;
            }
            next = queue.try_recv().ok();
        }
        if out.flush().is_err() {
            return;
        }
    }
}

/// The application of a `metrics.listener`: `GET /metrics` and nothing else, observed (with
/// request ids and access log lines) like the main application.
pub fn metrics_app(metrics: Metrics, config: &Config) -> impl Endpoint<Output = Response> {
    let observe = Observe::new(&metrics, config, &[], true);
    poem::endpoint::make(|_req: Request| async {
        poem::http::StatusCode::NOT_FOUND.into_response()
    })
    .with(observe)
}

/// The answer to `GET /metrics`: the Prometheus text exposition of `metrics`. Rendering reads
/// `/proc`, so it runs on the blocking pool.
async fn scrape_response(metrics: Metrics) -> Response {
    match tokio::task::spawn_blocking(move || metrics.render()).await {
        Ok(text) => text.with_content_type(CONTENT_TYPE).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the metrics scrape failed");
            poem::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations() -> Operations {
        Operations::new(
            &Metrics::default(),
            &[Document {
                prefix: "",
                routes: kafka_rest_api::v2::routes::ROUTES,
            }],
        )
    }

    fn route(ops: &Operations, method: Method, path: &str) -> String {
        ops.resolve(&method, path).0.route.to_string()
    }

    #[test]
    fn requests_resolve_to_their_route_template_or_one_unmatched_bucket() {
        let ops = operations();
        assert_eq!(
            route(&ops, Method::POST, "/topics/t1"),
            "/topics/{topic_name}"
        );
        assert_eq!(route(&ops, Method::GET, "/topics"), "/topics");
        assert_eq!(
            route(&ops, Method::GET, "/consumers/g/instances/i/records"),
            "/consumers/{group_name}/instances/{instance}/records"
        );
        assert_eq!(route(&ops, Method::GET, "/metrics"), "/metrics");
        assert_eq!(route(&ops, Method::GET, "/docs/index.html"), "/docs");
        assert_eq!(route(&ops, Method::GET, "/nowhere/at/all"), UNMATCHED_ROUTE);
        assert_eq!(route(&ops, Method::PUT, "/topics"), UNMATCHED_ROUTE);
        assert_eq!(route(&ops, Method::POST, "/metrics"), UNMATCHED_ROUTE);
    }

    /// The prepared index answers as the table's own lookup does, on both contracts, for
    /// every template filled in, cut short, lengthened, with a literal changed, a parameter
    /// emptied or a literal's place taken by a parameter value, and for every method.
    #[test]
    fn the_route_index_answers_as_the_table_lookup_does() {
        use kafka_rest_api::support::routes::{lookup, Lookup};
        for routes in [
            kafka_rest_api::v2::routes::ROUTES,
            kafka_rest_api::v3::routes::ROUTES,
        ] {
            let index = RouteIndex::new(routes);
            let mut paths: Vec<String> = vec![
                String::new(),
                "/".into(),
                "//".into(),
                "no-slash".into(),
                "/clusters".into(),
                "/a/".repeat(30),
            ];
            for route in routes {
                let segments: Vec<&str> = route.path.split('/').collect();
                let filled: Vec<String> = segments
                    .iter()
                    .map(|s| {
                        if s.starts_with('{') {
                            "value".to_string()
                        } else {
                            s.to_string()
                        }
                    })
                    .collect();
                paths.push(route.path.to_string());
                paths.push(filled.join("/"));
                paths.push(format!("{}/", filled.join("/")));
                paths.push(format!("{}/extra", filled.join("/")));
                paths.push(filled[..filled.len() - 1].join("/"));
                for at in 1..filled.len() {
                    for replacement in ["", "other", "records", "topics", "partitions"] {
                        let mut changed = filled.clone();
                        changed[at] = replacement.to_string();
                        paths.push(changed.join("/"));
                    }
                }
            }
            // Found, MethodNotAllowed, NotFound: each must occur, or the paths test little.
            let mut kinds = [0; 3];
            for path in &paths {
                for method in [
                    "GET", "get", "POST", "PUT", "PATCH", "DELETE", "HEAD", "TRACE",
                ] {
                    let expected = lookup(routes, method, path);
                    let got = index
                        .lookup(method, path)
                        .map_or_else(|other| other, |(_, route)| Lookup::Found(route));
                    assert_eq!(got, expected, "{method} {path}");
                    kinds[match expected {
                        Lookup::Found(_) => 0,
                        Lookup::MethodNotAllowed(_) => 1,
                        Lookup::NotFound => 2,
                    }] += 1;
                }
            }
            assert!(kinds.iter().all(|&n| n > 100), "{kinds:?}");
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_plain() {
        assert!(valid_request_id(b"abc-123_x.y:z"));
        assert!(valid_request_id(&[b'a'; REQUEST_ID_MAX_LEN]));
        assert!(!valid_request_id(&[b'a'; REQUEST_ID_MAX_LEN + 1]));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(b"has space"));
        assert!(!valid_request_id(b"quote\""));
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert!(valid_request_id(a.as_bytes()));
        let prefix = &ids.prefix;
        assert_eq!(
            a.to_str().ok(),
            Some(format!("{prefix}-0000000001").as_str())
        );
        ids.next.store(12_345_678_901, Ordering::Relaxed);
        assert_eq!(
            ids.next().to_str().ok(),
            Some(format!("{prefix}-12345678901").as_str())
        );
    }

    #[test]
    fn a_line_renders_in_the_common_and_json_formats() {
        let line = |principal| Line {
            start: LineStart {
                time: "2026-12-02T04:10:00Z".parse().expect("a timestamp"),
                remote: "127.0.0.1".into(),
                method: Method::POST,
                path: "/topics/t1?x=1".into(),
                version: poem::http::Version::HTTP_11,
            },
            principal,
            route: "/topics/{topic_name}",
            status: 200,
            request_bytes: 40,
            response_bytes: Some(120),
            duration: Duration::from_micros(1500),
            request_id: "rid-1",
        };
        assert_eq!(
            line(None).render(AccessLogFormat::Common),
            "127.0.0.1 - - [02/Dec/2026:04:10:00 +0000] \"POST /topics/t1?x=1 HTTP/1.1\" 200 120 1.500 rid-1 /topics/{topic_name}"
        );
        // The authenticated user takes the common format's `authuser` field.
        assert_eq!(
            line(Some("alice")).render(AccessLogFormat::Common),
            "127.0.0.1 - alice [02/Dec/2026:04:10:00 +0000] \"POST /topics/t1?x=1 HTTP/1.1\" 200 120 1.500 rid-1 /topics/{topic_name}"
        );
        let json = |principal| -> serde_json::Value {
            serde_json::from_str(&line(principal).render(AccessLogFormat::Json)).expect("JSON")
        };
        let expected = |principal: serde_json::Value| {
            serde_json::json!({
                "time": "2026-12-02T04:10:00Z",
                "remote": "127.0.0.1",
                "principal": principal,
                "method": "POST",
                "path": "/topics/t1?x=1",
                "route": "/topics/{topic_name}",
                "status": 200,
                "request_bytes": 40,
                "response_bytes": 120,
                "duration_ms": 1.5,
                "request_id": "rid-1",
            })
        };
        assert_eq!(json(None), expected(serde_json::Value::Null));
        assert_eq!(json(Some("alice")), expected(serde_json::json!("alice")));
    }
}
