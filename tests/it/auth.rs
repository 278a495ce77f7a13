//! Authentication and authorization against the real stack: HTTP Basic with a Jetty password
//! file, bearer JWTs, roles that refuse a produce (and Kafka then holds nothing), and
//! Confluent's endpoint allow and block lists.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::json;

use crate::common::{self, TestProxy};
use crate::require_stack;

const V2_JSON: &str = "application/vnd.kafka.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";

/// `alice` may produce (role `producer`), `bob` may only read (`reader`).
const USERS: &str = "alice: MD5:6384e2b2184bcbf58eccf10ca7a6563c,producer,reader\n\
                     bob: OBF:1v2j1uum1xtv1zej1zer1xtn1uvk1v1v,reader\n";
// alice's MD5 is the digest of "alice"; bob's OBF is Jetty's obfuscation of "password".

/// A file in a fresh temporary folder, removed with the folder when dropped.
struct TempFile {
    folder: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let folder = std::env::temp_dir().join(format!(
            "kafka-rest-it-auth-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).expect("temp folder");
        let path = folder.join(name);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("temp file");
        TempFile { folder, path }
    }

    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

async fn proxy_with(stack: &common::Stack, extra: &[(&str, &str)]) -> TestProxy {
    let mut props = common::proxy_properties(stack);
    for (key, value) in extra {
        props.set(key, *value);
    }
    TestProxy::start_with(props).await
}

async fn basic_proxy(stack: &common::Stack, users: &TempFile) -> TestProxy {
    proxy_with(
        stack,
        &[
            ("authentication.method", "BASIC"),
            ("authentication.realm", "KafkaRest"),
            ("authentication.password.file", &users.path()),
            ("authorization.roles.produce", "producer"),
        ],
    )
    .await
}

/// Status, `WWW-Authenticate` and body text of a GET.
async fn get(
    url: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (u16, Option<String>, String) {
    let response = auth(reqwest::Client::new().get(url).header("Accept", V2_JSON))
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, challenge, response.text().await.expect("body"))
}

#[tokio::test]
async fn basic_authentication_refuses_missing_and_wrong_credentials() {
    let stack = require_stack!();
    let users = TempFile::new("password.properties", USERS);
    let proxy = basic_proxy(&stack, &users).await;
    let url = proxy.url("/topics");

    let (status, challenge, body) = get(&url, |r| r).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"KafkaRest\""));
    assert_eq!(body, r#"{"error_code":401,"message":"Unauthorized"}"#);

    let (status, challenge, body) = get(&url, |r| r.basic_auth("alice", Some("wrong"))).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"KafkaRest\""));
    assert_eq!(body, r#"{"error_code":401,"message":"Unauthorized"}"#);

    // Garbage in the header is a 401 too, never a 500.
    for garbage in ["Basic !!!", "Basic", "Bearer x", &"A".repeat(6000)] {
        let (status, _, _) = get(&url, |r| r.header("Authorization", garbage)).await;
        assert_eq!(status, 401, "{garbage:.20}");
    }

    let (status, _, body) = get(&url, |r| r.basic_auth("alice", Some("alice"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with('['), "{body}");
    let (status, _, _) = get(&url, |r| r.basic_auth("bob", Some("password"))).await;
    assert_eq!(status, 200);

    // Health is open by default.
    let (status, _, _) = get(&proxy.url("/health/live"), |r| r).await;
    assert_eq!(status, 200);
    proxy.stop().await;
}

async fn produce(
    proxy: &TestProxy,
    topic: &str,
    user: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(proxy.url(&format!("/topics/{topic}")))
        .basic_auth(user, Some(password))
        .header("Content-Type", BINARY)
        .header("Accept", V2_JSON)
        .body(r#"{"records":[{"value":"aGVsbG8="}]}"#)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn a_user_without_the_produce_role_is_refused_and_nothing_is_written() {
    let stack = require_stack!();
    let topic = common::rand_topic("auth-produce");
    common::create_topic(&stack, &topic, 1).await;
    let users = TempFile::new("password.properties", USERS);
    let proxy = basic_proxy(&stack, &users).await;

    let (status, body) = produce(&proxy, &topic, "bob", "password").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error_code": 40301, "message": "Forbidden: the user may not produce"})
    );
    assert_eq!(common::high_watermark(&stack, &topic, 0), Some(0));

    // The same request from a user with the role is written: the check above could fail.
    let (status, body) = produce(&proxy, &topic, "alice", "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], json!(0));
    assert_eq!(common::high_watermark(&stack, &topic, 0), Some(1));
    proxy.stop().await;
}

#[tokio::test]
async fn allowlist_and_blocklist_turn_endpoints_off_as_confluent_does() {
    let stack = require_stack!();
    let topic = common::rand_topic("auth-lists");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = proxy_with(
        &stack,
        &[
            (
                "api.endpoints.allowlist",
                "api.v2.topics.*,api.v2.brokers.list",
            ),
            ("api.endpoints.blocklist", "api.v2.topics.get"),
        ],
    )
    .await;
    let (status, _, _) = get(&proxy.url("/topics"), |r| r).await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&proxy.url("/brokers"), |r| r).await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&proxy.url(&format!("/topics/{topic}")), |r| r).await;
    assert_eq!(status, 404);
    assert_eq!(body, r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#);
    let (status, _, _) = get(&proxy.url(&format!("/topics/{topic}/partitions")), |r| r).await;
    assert_eq!(status, 404);
    let response = reqwest::Client::new()
        .post(proxy.url(&format!("/topics/{topic}")))
        .header("Content-Type", BINARY)
        .body(r#"{"records":[{"value":"aGVsbG8="}]}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.text().await.expect("body"),
        r#"{"error_code":405,"message":"HTTP 405 Method Not Allowed"}"#
    );
    assert_eq!(common::high_watermark(&stack, &topic, 0), Some(0));
    proxy.stop().await;
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey")
}

/// An ES256 JWT with `claims`, signed by `key`.
fn token(key: &PKey<Private>, claims: &serde_json::Value) -> String {
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": "test"});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key).expect("signer");
    signer.update(signed.as_bytes()).expect("update");
    let der = EcdsaSig::from_der(&signer.sign_to_vec().expect("sign")).expect("der");
    let mut raw = der.r().to_vec_padded(32).expect("r");
    raw.extend(der.s().to_vec_padded(32).expect("s"));
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[tokio::test]
async fn bearer_tokens_with_a_wrong_audience_or_expired_are_refused() {
    let stack = require_stack!();
    let key = ec_key();
    let pem = String::from_utf8(key.public_key_to_pem().expect("pem")).expect("utf-8");
    let key_file = TempFile::new("issuer.pem", &pem);
    let proxy = proxy_with(
        &stack,
        &[
            ("authentication.method", "BEARER"),
            ("authentication.bearer.public.key.file", &key_file.path()),
            ("authentication.bearer.issuer", "https://issuer.example"),
            ("authentication.bearer.audience", "kafka-rest"),
        ],
    )
    .await;
    let url = proxy.url("/topics");
    let claims = |aud: &str, exp: u64| {
        json!({"sub": "svc", "iss": "https://issuer.example", "aud": aud, "exp": exp,
               "roles": ["reader"]})
    };
    let invalid = Some("Bearer realm=\"KafkaRest\", error=\"invalid_token\"".to_string());
    let refused = r#"{"error_code":401,"message":"Unauthorized"}"#;

    let wrong_audience = token(&key, &claims("other", now() + 300));
    let (status, challenge, body) = get(&url, |r| r.bearer_auth(&wrong_audience)).await;
    assert_eq!(
        (status, &challenge, body.as_str()),
        (401, &invalid, refused)
    );

    let expired = token(&key, &claims("kafka-rest", now() - 3600));
    let (status, challenge, body) = get(&url, |r| r.bearer_auth(&expired)).await;
    assert_eq!(
        (status, &challenge, body.as_str()),
        (401, &invalid, refused)
    );

    let (status, challenge, _) = get(&url, |r| r).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"KafkaRest\""));

    let good = token(&key, &claims("kafka-rest", now() + 300));
    let (status, _, body) = get(&url, |r| r.bearer_auth(&good)).await;
    assert_eq!(status, 200, "{body}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_changed_password_file_is_taken_without_a_restart() {
    let stack = require_stack!();
    let users = TempFile::new("password.properties", USERS);
    let proxy = proxy_with(
        &stack,
        &[
            ("authentication.method", "BASIC"),
            ("authentication.password.file", &users.path()),
            ("authentication.password.file.reload.ms", "100"),
        ],
    )
    .await;
    let url = proxy.url("/topics");
    let (status, _, _) = get(&url, |r| r.basic_auth("carol", Some("carol-secret"))).await;
    assert_eq!(status, 401);

    std::fs::write(&users.path, "carol: carol-secret,reader\n").expect("rewrite");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = get(&url, |r| r.basic_auth("carol", Some("carol-secret"))).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 401);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new user was not accepted within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The users of the old file are gone.
    let (status, _, _) = get(&url, |r| r.basic_auth("alice", Some("alice"))).await;
    assert_eq!(status, 401);
    proxy.stop().await;
}

/// Authorization headers that are no credential at all (bytes that are not UTF-8, base64 of
/// bytes that are not UTF-8 or have no colon, malformed or huge tokens, other schemes) get the
/// JSON 401 from a Basic and from a Bearer proxy alike, never a 500 and never a served request.
#[tokio::test]
async fn authorization_headers_that_are_no_credential_are_401_never_500() {
    use base64::engine::general_purpose::STANDARD;
    let stack = require_stack!();
    let users = TempFile::new("password.properties", USERS);
    let basic = basic_proxy(&stack, &users).await;
    let key = ec_key();
    let pem = String::from_utf8(key.public_key_to_pem().expect("pem")).expect("utf-8");
    let key_file = TempFile::new("issuer.pem", &pem);
    let bearer = proxy_with(
        &stack,
        &[
            ("authentication.method", "BEARER"),
            ("authentication.bearer.public.key.file", &key_file.path()),
        ],
    )
    .await;
    let b64 = |bytes: &[u8]| STANDARD.encode(bytes).into_bytes();
    let with = |scheme: &str, rest: Vec<u8>| [scheme.as_bytes(), &rest].concat();
    let headers: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd".to_vec(),
        with("Basic ", b"\xff\xfe".to_vec()),
        with("Basic ", b64(b"\xff\xfe:\xfd")),
        with("Basic ", b64(b"alice\xff:alice")),
        with("Basic ", b64(b"no colon at all")),
        with("Basic ", b64(b":")),
        with("Basic ", b"=====".to_vec()),
        with("Basic ", "A".repeat(7000).into_bytes()),
        with("Bearer ", b"\xff.\xfe.\xfd".to_vec()),
        with("Bearer ", b"a.b.c".to_vec()),
        with("Bearer ", b"..".to_vec()),
        with(
            "Bearer ",
            [b64(b"{\"alg\":\"none\"}"), b".e30.".to_vec()].concat(),
        ),
        with("Bearer ", "e".repeat(7000).into_bytes()),
        b"Negotiate YIIB".to_vec(),
        b"Basic".to_vec(),
        b"Bearer".to_vec(),
    ];
    for proxy in [&basic, &bearer] {
        for header in &headers {
            let answer = common::raw_request(
                &proxy.base,
                "GET",
                b"/topics",
                &[("Authorization".to_string(), header.clone())],
                None,
                Duration::from_secs(10),
            )
            .await
            .expect("an answer");
            let shown = String::from_utf8_lossy(&header[..header.len().min(24)]).to_string();
            assert_eq!(answer.status, 401, "{shown}");
            assert_eq!(
                answer.json(),
                json!({"error_code": 401, "message": "Unauthorized"}),
                "{shown}"
            );
        }
    }
    basic.stop().await;
    bearer.stop().await;
}
