//! Decisions of [`Auth`] for whole requests, and the middleware's answers, with configurations
//! written the way a deployment writes them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, Request};
use serde_json::json;

use super::*;
use crate::config::Properties;

const NOW: u64 = 1_800_000_000;

fn config(lines: &[(&str, &str)]) -> Config {
    let mut props = Properties::default();
    props.set("bootstrap.servers", "localhost:9092");
    for (key, value) in lines {
        props.set(key, *value);
    }
    Config::from_properties(&props).expect("valid test config")
}

/// A file in a fresh temporary folder, removed with the folder when the test ends.
struct TempFile {
    folder: PathBuf,
    pub path: PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let folder = std::env::temp_dir().join(format!(
            "kafka-rest-auth-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).expect("temp folder");
        let path = folder.join(name);
        let mut file = std::fs::File::create(&path).expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        TempFile { folder, path }
    }

    fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

const USERS: &str = "alice: alice-secret,admin\nbob: bob-secret,reader\nnorole: pw\n";

fn basic(user: &str, password: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))).into_bytes()
}

fn facts<'a>(method: &'a str, path: &'a str, authorization: Option<&'a [u8]>) -> RequestFacts<'a> {
    RequestFacts {
        method,
        path,
        authorization,
        media_type: None,
        peer: None,
        now: NOW,
    }
}

fn basic_auth(extra: &[(&str, &str)], file: &TempFile) -> Auth {
    let mut lines = vec![
        ("authentication.method", "BASIC"),
        ("authentication.password.file", file.path_str()),
    ];
    lines.extend_from_slice(extra);
    Auth::from_config(&config(&lines)).expect("auth settings")
}

#[test]
fn basic_credentials_are_checked_against_the_password_file() {
    let file = TempFile::new("users.properties", USERS);
    let auth = basic_auth(&[("authentication.roles", "admin,reader")], &file);
    let challenge = Decision::Unauthenticated {
        challenge: Some("Basic realm=\"KafkaRest\"".into()),
    };
    assert_eq!(auth.decide(&facts("GET", "/topics", None)), challenge);
    let wrong = basic("alice", "nope");
    assert_eq!(
        auth.decide(&facts("GET", "/topics", Some(&wrong))),
        challenge
    );
    for garbage in [&b"Basic !!!"[..], b"Basic", b"Digest abc", b"\xff\xfe", b""] {
        assert_eq!(
            auth.decide(&facts("GET", "/topics", Some(garbage))),
            challenge
        );
    }
    let right = basic("alice", "alice-secret");
    assert_eq!(
        auth.decide(&facts("GET", "/topics", Some(&right))),
        Decision::Serve(Some(Principal {
            name: "alice".into(),
            roles: vec!["admin".into()],
            method: AuthMethod::Basic,
            credential: Credential::Password("alice-secret".into()),
        }))
    );
    // A user without one of `authentication.roles`.
    let norole = basic("norole", "pw");
    assert!(matches!(
        auth.decide(&facts("GET", "/topics", Some(&norole))),
        Decision::Forbidden(_)
    ));
}

#[test]
fn health_and_metrics_are_open_unless_configured_otherwise() {
    let file = TempFile::new("users.properties", USERS);
    let open = basic_auth(&[], &file);
    for path in ["/health/live", "/health/ready", "/metrics"] {
        assert_eq!(
            open.decide(&facts("GET", path, None)),
            Decision::Serve(None)
        );
    }
    let closed = basic_auth(
        &[("authentication.health.and.metrics.open", "false")],
        &file,
    );
    assert!(matches!(
        closed.decide(&facts("GET", "/health/live", None)),
        Decision::Unauthenticated { .. }
    ));
    let skipped = basic_auth(
        &[("authentication.skip.paths", "/brokers,/public/*")],
        &file,
    );
    assert_eq!(
        skipped.decide(&facts("GET", "/brokers", None)),
        Decision::Serve(None)
    );
    assert_eq!(
        skipped.decide(&facts("GET", "/public/x/y", None)),
        Decision::Serve(None)
    );
    assert!(matches!(
        skipped.decide(&facts("GET", "/brokersx", None)),
        Decision::Unauthenticated { .. }
    ));
}

#[test]
fn roles_map_to_permissions_and_admin_writes_need_the_admin_role() {
    let file = TempFile::new("users.properties", USERS);
    let auth = basic_auth(
        &[
            ("authorization.roles.produce", "admin,producer"),
            ("authorization.roles.consume", ""),
        ],
        &file,
    );
    let bob = basic("bob", "bob-secret");
    let alice = basic("alice", "alice-secret");
    let serves = |d: Decision| matches!(d, Decision::Serve(Some(_)));
    let forbidden = |d: Decision| matches!(d, Decision::Forbidden(_));
    assert!(serves(auth.decide(&facts("GET", "/topics/t", Some(&bob)))));
    assert!(forbidden(auth.decide(&facts(
        "POST",
        "/topics/t",
        Some(&bob)
    ))));
    assert!(serves(auth.decide(&facts(
        "POST",
        "/topics/t",
        Some(&alice)
    ))));
    // An empty role list refuses everyone.
    assert!(forbidden(auth.decide(&facts(
        "POST",
        "/consumers/g",
        Some(&alice)
    ))));
    // v3: reads for any user, writes for `admin` only (the default), produce by its role.
    let topics = "/v3/clusters/c1/topics";
    assert!(serves(auth.decide(&facts("GET", topics, Some(&bob)))));
    assert!(forbidden(auth.decide(&facts("POST", topics, Some(&bob)))));
    assert!(serves(auth.decide(&facts("POST", topics, Some(&alice)))));
    assert!(forbidden(auth.decide(&facts(
        "DELETE",
        "/v3/clusters/c1/acls",
        Some(&bob)
    ))));
    assert!(forbidden(auth.decide(&facts(
        "POST",
        "/v3/clusters/c1/future",
        Some(&bob)
    ))));
    let records = "/v3/clusters/c1/topics/t/records";
    assert!(forbidden(auth.decide(&facts("POST", records, Some(&bob)))));
    assert!(serves(auth.decide(&facts("POST", records, Some(&alice)))));
    assert_eq!(
        auth.decide(&facts("POST", "/topics/t", Some(&bob))),
        Decision::Forbidden("Forbidden: the user may not produce".into())
    );
}

#[test]
fn access_lists_apply_with_or_without_authentication() {
    let auth = Auth::from_config(&config(&[
        (
            "api.endpoints.allowlist",
            "api.v2.topics.*,api.v2.produce-to-topic.json",
        ),
        ("api.endpoints.blocklist", "api.v2.topics.get"),
    ]))
    .expect("auth");
    assert_eq!(
        auth.decide(&facts("GET", "/topics", None)),
        Decision::Serve(None)
    );
    assert_eq!(
        auth.decide(&facts("GET", "/topics/t", None)),
        Decision::Disabled
    );
    assert_eq!(
        auth.decide(&facts("GET", "/brokers", None)),
        Decision::Disabled
    );
    let mut json = facts("POST", "/topics/t", None);
    json.media_type = Some("application/vnd.kafka.json.v2+json");
    assert_eq!(auth.decide(&json), Decision::Serve(None));
    let mut binary = facts("POST", "/topics/t", None);
    binary.media_type = Some("application/vnd.kafka.binary.v2+json");
    assert_eq!(auth.decide(&binary), Decision::Disabled);
    // Paths without a resource name are not gated by the lists.
    assert_eq!(
        auth.decide(&facts("GET", "/health/live", None)),
        Decision::Serve(None)
    );
}

#[test]
fn a_jaas_configuration_names_the_realms_password_file() {
    let users = TempFile::new("password.properties", USERS);
    let jaas = TempFile::new(
        "jaas.conf",
        &format!(
            "KafkaRest {{\n  org.eclipse.jetty.jaas.spi.PropertyFileLoginModule required\n  \
             file=\"{}\";\n}};\n",
            users.path_str()
        ),
    );
    let auth = Auth::from_config(&config(&[
        ("authentication.method", "BASIC"),
        ("authentication.jaas.config.file", jaas.path_str()),
    ]))
    .expect("auth");
    let bob = basic("bob", "bob-secret");
    assert!(matches!(
        auth.decide(&facts("GET", "/topics", Some(&bob))),
        Decision::Serve(Some(_))
    ));
    let other_realm = Auth::from_config(&config(&[
        ("authentication.method", "BASIC"),
        ("authentication.jaas.config.file", jaas.path_str()),
        ("authentication.realm", "Other"),
    ]));
    assert!(matches!(other_realm, Err(AuthError::Jaas { .. })));
}

#[test]
fn missing_or_broken_files_stop_the_start_with_the_key_named() {
    let missing = Auth::from_config(&config(&[
        ("authentication.method", "BASIC"),
        (
            "authentication.password.file",
            "/nonexistent/users.properties",
        ),
    ]));
    let Err(e) = missing else {
        panic!("a missing password file must be an error");
    };
    assert!(
        e.to_string().contains("authentication.password.file"),
        "{e}"
    );
    let broken = TempFile::new("users.properties", "a: MD5:nothex\n");
    assert!(matches!(
        basic_auth_result(&broken),
        Err(AuthError::PasswordFile { .. })
    ));
    let keys = TempFile::new("jwks.json", "{\"keys\": []}");
    assert!(matches!(
        Auth::from_config(&config(&[
            ("authentication.method", "BEARER"),
            ("authentication.bearer.jwks.file", keys.path_str()),
        ])),
        Err(AuthError::Keys { .. })
    ));
}

fn basic_auth_result(file: &TempFile) -> Result<Auth, AuthError> {
    Auth::from_config(&config(&[
        ("authentication.method", "BASIC"),
        ("authentication.password.file", file.path_str()),
    ]))
}

#[test]
fn basic_needs_exactly_one_password_source_and_bearer_one_key_source() {
    let mut props = Properties::default();
    props
        .set("bootstrap.servers", "localhost:9092")
        .set("authentication.method", "BASIC");
    assert!(Config::from_properties(&props).is_err());
    props.set("authentication.method", "BEARER");
    assert!(Config::from_properties(&props).is_err());
    props.set("authentication.method", "nonsense");
    assert!(Config::from_properties(&props).is_err());
}

fn bearer_auth(keys: &TempFile, extra: &[(&str, &str)]) -> Auth {
    let mut lines = vec![
        ("authentication.method", "BEARER"),
        ("authentication.bearer.jwks.file", keys.path_str()),
        ("authentication.bearer.issuer", "https://issuer.example"),
        ("authentication.bearer.audience", "kafka-rest"),
    ];
    lines.extend_from_slice(extra);
    Auth::from_config(&config(&lines)).expect("auth")
}

#[test]
fn bearer_tokens_are_verified_and_give_roles() {
    let key = jwt::tests::ec_key();
    let keys = TempFile::new("jwks.json", &jwt::tests::jwks(&[("k1", &key)]));
    let auth = bearer_auth(&keys, &[]);
    let claims = |aud: &str, exp: u64| {
        json!({"sub": "svc", "iss": "https://issuer.example", "aud": aud, "exp": exp,
               "roles": ["admin"]})
    };
    let good = format!(
        "Bearer {}",
        jwt::tests::sign(&key, "ES256", Some("k1"), &claims("kafka-rest", NOW + 60))
    );
    assert_eq!(
        auth.decide(&facts(
            "POST",
            "/v3/clusters/c/topics",
            Some(good.as_bytes())
        )),
        Decision::Serve(Some(Principal {
            name: "svc".into(),
            roles: vec!["admin".into()],
            method: AuthMethod::Bearer,
            credential: Credential::Token(good["Bearer ".len()..].to_string()),
        }))
    );
    let invalid = Decision::Unauthenticated {
        challenge: Some("Bearer realm=\"KafkaRest\", error=\"invalid_token\"".into()),
    };
    let wrong_audience = format!(
        "Bearer {}",
        jwt::tests::sign(&key, "ES256", Some("k1"), &claims("other", NOW + 60))
    );
    assert_eq!(
        auth.decide(&facts("GET", "/topics", Some(wrong_audience.as_bytes()))),
        invalid
    );
    let expired = format!(
        "Bearer {}",
        jwt::tests::sign(&key, "ES256", Some("k1"), &claims("kafka-rest", NOW - 3600))
    );
    assert_eq!(
        auth.decide(&facts("GET", "/topics", Some(expired.as_bytes()))),
        invalid
    );
    assert_eq!(
        auth.decide(&facts("GET", "/topics", None)),
        Decision::Unauthenticated {
            challenge: Some("Bearer realm=\"KafkaRest\"".into())
        }
    );
}

#[test]
fn certificates_map_their_subject_and_take_roles_from_the_password_file() {
    let users = TempFile::new("users.properties", "alice: unused,admin\n");
    let auth = Auth::from_config(&config(&[
        ("authentication.method", "CERTIFICATE"),
        ("ssl.principal.mapping.rules", "RULE:^CN=([^,]+),.*$/$1/L"),
        ("authentication.password.file", users.path_str()),
    ]))
    .expect("auth");
    let peer = PeerCertificate {
        subject: "CN=Alice,O=Example".into(),
    };
    let mut request = facts("POST", "/v3/clusters/c/topics", None);
    request.peer = Some(&peer);
    assert_eq!(
        auth.decide(&request),
        Decision::Serve(Some(Principal {
            name: "alice".into(),
            roles: vec!["admin".into()],
            method: AuthMethod::Certificate,
            credential: Credential::None,
        }))
    );
    assert_eq!(
        auth.decide(&facts("GET", "/topics", None)),
        Decision::Unauthenticated { challenge: None }
    );
    let unmapped = PeerCertificate {
        subject: "O=NoCommonName".into(),
    };
    request.peer = Some(&unmapped);
    assert_eq!(
        auth.decide(&request),
        Decision::Unauthenticated { challenge: None }
    );
}

#[test]
fn password_file_changes_are_taken_and_broken_ones_ignored() {
    let file = TempFile::new("users.properties", USERS);
    let auth = basic_auth(&[], &file);
    let store = auth.inner.passwords.as_ref().expect("store");
    let carol = basic("carol", "carol-secret");
    assert!(matches!(
        auth.decide(&facts("GET", "/topics", Some(&carol))),
        Decision::Unauthenticated { .. }
    ));
    store.update(b"carol: carol-secret,reader\n".to_vec());
    assert!(matches!(
        auth.decide(&facts("GET", "/topics", Some(&carol))),
        Decision::Serve(Some(_))
    ));
    store.update(b"carol: MD5:broken\n".to_vec());
    assert!(matches!(
        auth.decide(&facts("GET", "/topics", Some(&carol))),
        Decision::Serve(Some(_))
    ));
}

#[tokio::test]
async fn the_watcher_reloads_the_file_from_disk() {
    let file = TempFile::new("users.properties", USERS);
    let auth = basic_auth(&[], &file);
    auth.watch_password_file(Duration::from_millis(20));
    let carol = basic("carol", "carol-secret");
    std::fs::write(&file.path, "carol: carol-secret\n").expect("rewrite");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if matches!(
            auth.decide(&facts("GET", "/topics", Some(&carol))),
            Decision::Serve(Some(_))
        ) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rewritten password file was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn credentials_never_reach_the_log_or_the_answer() {
    let file = TempFile::new("users.properties", USERS);
    let key = jwt::tests::rsa_key();
    let keys = TempFile::new("jwks.json", &jwt::tests::jwks(&[("k1", &key)]));
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    // Other tests run in parallel without a subscriber: with a single registered dispatcher,
    // tracing would cache a callsite's interest as whichever thread reached it first saw it. A
    // second registered one (wanting nothing) leaves the decision to each thread's own.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::dispatcher::set_default(&dispatch);

    let token = jwt::tests::sign(
        &key,
        "RS256",
        None,
        &json!({"sub": "svc", "iss": "https://issuer.example", "aud": "other",
                "exp": now() + 60}),
    );
    let cases: Vec<(Config, String)> = vec![
        (
            config(&[
                ("authentication.method", "BASIC"),
                ("authentication.password.file", file.path_str()),
            ]),
            String::from_utf8(basic("alice", "wrong-pass-XYZZY")).expect("ascii"),
        ),
        (
            config(&[
                ("authentication.method", "BASIC"),
                ("authentication.password.file", file.path_str()),
            ]),
            String::from_utf8(basic("alice", "alice-secret")).expect("ascii"),
        ),
        (
            config(&[
                ("authentication.method", "BEARER"),
                ("authentication.bearer.jwks.file", keys.path_str()),
                ("authentication.bearer.audience", "kafka-rest"),
            ]),
            format!("Bearer {token}"),
        ),
    ];
    let mut bodies = String::new();
    for (config, header) in &cases {
        let app = poem::endpoint::make_sync(|_| "served").with(AuthLayer::new(config));
        let request = Request::builder()
            .method(poem::http::Method::POST)
            .uri(poem::http::Uri::from_static("/topics/t"))
            .header("authorization", header.as_str())
            .finish();
        let response = app.call(request).await.expect("an answer");
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::OK,
            "{status}"
        );
        bodies.push_str(&format!("{:?}", response.headers()));
        bodies.push_str(&response.into_body().into_string().await.expect("body"));
    }
    let log = String::from_utf8(captured.0.lock().map(|l| l.clone()).unwrap_or_default())
        .expect("utf-8 log");
    assert!(
        log.contains("bearer token refused"),
        "the log was not captured: {log}"
    );
    for secret in ["wrong-pass-XYZZY", "alice-secret", token.as_str()] {
        assert!(!log.contains(secret), "the log shows a credential: {log}");
        assert!(
            !bodies.contains(secret),
            "an answer shows a credential: {bodies}"
        );
    }
    for (_, header) in &cases {
        assert!(
            !log.contains(header.as_str()),
            "the log shows a header: {log}"
        );
    }
}

#[tokio::test]
async fn refusals_carry_the_confluent_body_and_challenge() {
    let file = TempFile::new("users.properties", USERS);
    let config = config(&[
        ("authentication.method", "BASIC"),
        ("authentication.password.file", file.path_str()),
        ("authentication.realm", "Proxy"),
        ("api.endpoints.blocklist", "api.v2.brokers.list"),
    ]);
    let app = poem::endpoint::make_sync(|_| "served").with(AuthLayer::new(&config));
    let call = |method: poem::http::Method, path: &'static str, auth: Option<Vec<u8>>| {
        let mut builder = Request::builder()
            .method(method)
            .uri(poem::http::Uri::from_static(path));
        if let Some(auth) = auth {
            builder = builder.header(
                "authorization",
                poem::http::HeaderValue::from_bytes(&auth).expect("header"),
            );
        }
        app.call(builder.finish())
    };
    let response = call(poem::http::Method::GET, "/topics", None)
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"Proxy\"")
    );
    assert_eq!(
        response.into_body().into_string().await.expect("body"),
        r#"{"error_code":401,"message":"Unauthorized"}"#
    );
    let bob = basic("bob", "bob-secret");
    let response = call(poem::http::Method::GET, "/brokers", Some(bob.clone()))
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = call(poem::http::Method::POST, "/v3/clusters/c/topics", Some(bob))
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        response.into_body().into_string().await.expect("body"),
        r#"{"error_code":40301,"message":"Forbidden: the user may not change the cluster"}"#
    );
}
