//! HTTPS listeners against the real stack: a CA, server and client certificates made at the
//! start of each test (PEM files and PKCS#12 keystores in a temporary directory), clients that
//! trust or do not trust that CA, with or without a certificate, restricted to old TLS versions,
//! and keystores replaced while connections stay open.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, Stack, TestListener, TestProxy};
use crate::require_stack;

/// A test CA in a temporary directory and the certificates it signs.
struct Pki {
    dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and its PKCS#8 private key, both PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Leaf {
    fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert.as_bytes()).expect("certificate PEM")
    }
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "kafka-rest-it-tls-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("kafka-rest test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let ca_pem = params.self_signed(&key).expect("CA certificate").pem();
        Pki {
            dir,
            ca: Issuer::new(params, key),
            ca_pem,
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    fn server(&self, common_name: &str) -> Leaf {
        self.leaf(
            common_name,
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, common_name: &str) -> Leaf {
        self.leaf(common_name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, common_name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "kafka-rest tests");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca).expect("leaf certificate");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// The CA certificate as a PEM truststore.
    fn ca_file(&self) -> PathBuf {
        self.write("ca.pem", self.ca_pem.as_bytes())
    }

    /// A PKCS#12 keystore with the leaf and its key, as `keytool` or `openssl pkcs12 -export`
    /// makes one.
    fn pkcs12(&self, leaf: &Leaf, password: &str) -> Vec<u8> {
        let cert = openssl::x509::X509::from_pem(leaf.cert.as_bytes()).expect("cert");
        let key = openssl::pkey::PKey::private_key_from_pem(leaf.key.as_bytes()).expect("key");
        openssl::pkcs12::Pkcs12::builder()
            .name("kafka-rest")
            .pkey(&key)
            .cert(&cert)
            .build2(password)
            .expect("PKCS#12")
            .to_der()
            .expect("PKCS#12 DER")
    }

    /// A reqwest (OpenSSL) client that trusts this CA, with `identity` as its certificate.
    fn reqwest(&self, identity: Option<&Leaf>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA certificate"),
            )
            .timeout(Duration::from_secs(20));
        if let Some(leaf) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pkcs8_pem(leaf.cert.as_bytes(), leaf.key.as_bytes())
                    .expect("client identity"),
            );
        }
        builder.build().expect("client")
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("CA PEM"))
            .expect("CA certificate");
        roots
    }

    /// A rustls client configuration that trusts this CA.
    fn rustls(&self, identity: Option<&Leaf>) -> rustls::ClientConfig {
        let roots = self.roots();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
        match identity {
            None => builder.with_no_client_auth(),
            Some(leaf) => builder
                .with_client_auth_cert(
                    vec![leaf.der()],
                    PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("client key"),
                )
                .expect("client identity"),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}

/// A proxy with one HTTPS listener on a free port, configured with `settings` besides the
/// stack's; its base is `https://127.0.0.1:PORT`.
async fn https_proxy(stack: &Stack, settings: &[(&str, String)]) -> (TestProxy, SocketAddr) {
    let listener = TestListener::bind().await;
    let port = listener.port;
    let mut props = common::proxy_properties(stack);
    props.set("listeners", format!("https://127.0.0.1:{port}"));
    for (key, value) in settings {
        props.set(key, value.clone());
    }
    let base = format!("https://127.0.0.1:{port}");
    let proxy = TestProxy::serve_on(vec![listener.bound(true)], base, props).await;
    (proxy, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The names of a `GET /topics` answer, which must be 200.
async fn topics(client: &reqwest::Client, url: &str) -> Vec<String> {
    let resp = client.get(url).send().await.expect("GET /topics");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("a JSON list of names")
}

#[tokio::test]
async fn https_serves_topics_to_a_client_that_trusts_the_ca() {
    let stack = require_stack!();
    let topic = common::rand_topic("tls-topics");
    common::create_topic(&stack, &topic, 1).await;
    let pki = Pki::new("topics");
    let keystore = pki.write("server.p12", &pki.pkcs12(&pki.server("proxy"), "changeit"));
    let (proxy, _) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.type", "PKCS12".into()),
            ("ssl.keystore.password", "changeit".into()),
        ],
    )
    .await;

    let names = topics(&pki.reqwest(None), &proxy.url("/topics")).await;
    assert!(names.contains(&topic), "{topic} missing from {names:?}");

    // A client that does not trust the test CA refuses the server.
    let stranger = Pki::new("topics-stranger");
    let refused = stranger
        .reqwest(None)
        .get(proxy.url("/topics"))
        .send()
        .await
        .expect_err("the server certificate is not trusted");
    assert!(refused.is_connect(), "{refused:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn http_and_https_listeners_serve_side_by_side() {
    let stack = require_stack!();
    let topic = common::rand_topic("tls-side");
    common::create_topic(&stack, &topic, 1).await;
    let pki = Pki::new("side");
    let server = pki.server("proxy");
    let keystore = pki.write(
        "server.pem",
        format!("{}{}", server.cert, server.key).as_bytes(),
    );
    let http = TestListener::bind().await;
    let https = TestListener::bind().await;
    let (http_base, https_port) = (http.base.clone(), https.port);
    let mut props = common::proxy_properties(&stack);
    props
        .set(
            "listeners",
            format!("{http_base},https://127.0.0.1:{https_port}"),
        )
        .set("ssl.keystore.location", path_str(&keystore))
        .set("ssl.keystore.type", "PEM");
    let proxy = TestProxy::serve_on(
        vec![http.bound(false), https.bound(true)],
        http_base.clone(),
        props,
    )
    .await;

    let plain = topics(&reqwest::Client::new(), &format!("{http_base}/topics")).await;
    let secure = topics(
        &pki.reqwest(None),
        &format!("https://127.0.0.1:{https_port}/topics"),
    )
    .await;
    assert!(plain.contains(&topic), "{topic} missing from {plain:?}");
    assert!(secure.contains(&topic), "{topic} missing from {secure:?}");
    // Plain HTTP on the HTTPS port is not served.
    let err = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{https_port}/topics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect_err("plain HTTP to the HTTPS listener");
    assert!(!err.is_status(), "{err:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn required_client_certificates_are_checked_at_the_handshake() {
    let stack = require_stack!();
    let pki = Pki::new("required");
    let keystore = pki.write("server.p12", &pki.pkcs12(&pki.server("proxy"), "changeit"));
    let (proxy, addr) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.password", "changeit".into()),
            ("ssl.truststore.location", path_str(&pki.ca_file())),
            ("ssl.truststore.type", "PEM".into()),
            ("ssl.client.authentication", "REQUIRED".into()),
        ],
    )
    .await;

    topics(
        &pki.reqwest(Some(&pki.client("alice"))),
        &proxy.url("/topics"),
    )
    .await;
    let refused = pki
        .reqwest(None)
        .get(proxy.url("/topics"))
        .send()
        .await
        .expect_err("a client without a certificate is refused");
    assert!(!refused.is_status(), "{refused:?}");
    // The refusal is the handshake's: rustls's client sees the server's alert.
    let err = exchange(addr, pki.rustls(None), &[b"/topics"])
        .await
        .expect_err("refused at the handshake");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    // A certificate from another CA is refused too.
    let other = Pki::new("required-other");
    let err = exchange(
        addr,
        pki.rustls(Some(&other.client("mallory"))),
        &[b"/topics"],
    )
    .await
    .expect_err("a certificate from another CA");
    assert!(err.to_string().contains("alert"), "{err}");
    proxy.stop().await;
}

#[tokio::test]
async fn requested_client_certificates_are_optional() {
    let stack = require_stack!();
    let pki = Pki::new("requested");
    let keystore = pki.write("server.p12", &pki.pkcs12(&pki.server("proxy"), "changeit"));
    let (proxy, _) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.password", "changeit".into()),
            ("ssl.truststore.location", path_str(&pki.ca_file())),
            ("ssl.truststore.type", "PEM".into()),
            ("ssl.client.authentication", "REQUESTED".into()),
        ],
    )
    .await;
    topics(
        &pki.reqwest(Some(&pki.client("alice"))),
        &proxy.url("/topics"),
    )
    .await;
    topics(&pki.reqwest(None), &proxy.url("/topics")).await;
    proxy.stop().await;
}

#[tokio::test]
async fn clients_limited_to_tls_1_1_or_to_a_disabled_version_are_refused() {
    let stack = require_stack!();
    let pki = Pki::new("versions");
    let keystore = pki.write("server.p12", &pki.pkcs12(&pki.server("proxy"), "changeit"));
    let (proxy, addr) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.password", "changeit".into()),
        ],
    )
    .await;
    // OpenSSL still offers TLS 1.1 at security level 0; the server must refuse it with an
    // alert (rustls sends handshake_failure). A client that could not even offer TLS 1.1 would
    // fail with "no protocols available" instead, and this test with it.
    let refusal = tokio::task::spawn_blocking(move || {
        use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
        let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("connector");
        builder
            .set_min_proto_version(Some(SslVersion::TLS1_1))
            .expect("min version");
        builder
            .set_max_proto_version(Some(SslVersion::TLS1_1))
            .expect("max version");
        builder
            .set_cipher_list("DEFAULT:@SECLEVEL=0")
            .expect("cipher list");
        builder.set_verify(SslVerifyMode::NONE);
        let tcp = std::net::TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        match builder.build().connect("127.0.0.1", tcp) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        }
    })
    .await
    .expect("client thread")
    .expect("a TLS 1.1 handshake fails");
    assert!(refusal.contains("SSL alert number"), "{refusal}");
    proxy.stop().await;

    // With only TLS 1.3 enabled, a TLS 1.2 client is refused and a TLS 1.3 one served.
    let (proxy, addr) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.password", "changeit".into()),
            ("ssl.enabled.protocols", "TLSv1.3".into()),
        ],
    )
    .await;
    let tls12 = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .expect("versions")
    .with_root_certificates(pki.roots())
    .with_no_client_auth();
    let err = exchange(addr, tls12, &[b"/topics"])
        .await
        .expect_err("TLS 1.2 is disabled");
    assert!(err.to_string().contains("ProtocolVersion"), "{err}");
    let (_, answers) = exchange(addr, pki.rustls(None), &[b"/topics"])
        .await
        .expect("TLS 1.3 is served");
    assert_eq!(answers, [200]);
    proxy.stop().await;
}

#[tokio::test]
async fn a_changed_keystore_file_reaches_new_connections_while_open_ones_keep_working() {
    let stack = require_stack!();
    let pki = Pki::new("watch");
    let (first, second) = (pki.server("proxy-first"), pki.server("proxy-second"));
    let keystore = pki.write("server.p12", &pki.pkcs12(&first, "changeit"));
    let (proxy, addr) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.password", "changeit".into()),
            ("ssl.keystore.reload", "true".into()),
            ("ssl.keystore.reload.interval.ms", "100".into()),
        ],
    )
    .await;
    let mut open = KeptConnection::open(addr, pki.rustls(None)).await;
    assert_eq!(open.server_certificate, first.der());
    assert_eq!(open.get(b"/topics").await, 200);

    // Replaced the way deployment tools do: a new file renamed over the old one.
    let staged = pki.write("server.p12.new", &pki.pkcs12(&second, "changeit"));
    std::fs::rename(&staged, &keystore).expect("replace the keystore");
    wait_for_certificate(addr, &pki, &second).await;

    assert_eq!(
        open.get(b"/topics").await,
        200,
        "the open connection survives"
    );
    assert_eq!(open.server_certificate, first.der());
    proxy.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_keystore_without_dropping_connections() {
    let stack = require_stack!();
    let pki = Pki::new("sighup");
    let (first, second) = (pki.server("proxy-first"), pki.server("proxy-second"));
    let keystore = pki.write(
        "server.pem",
        format!("{}{}", first.cert, first.key).as_bytes(),
    );
    let (proxy, addr) = https_proxy(
        &stack,
        &[
            ("ssl.keystore.location", path_str(&keystore)),
            ("ssl.keystore.type", "PEM".into()),
        ],
    )
    .await;
    let mut open = KeptConnection::open(addr, pki.rustls(None)).await;
    assert_eq!(open.server_certificate, first.der());
    assert_eq!(open.get(b"/topics").await, 200);

    // Rewritten in place; without `ssl.keystore.reload` only the signal reloads it.
    std::fs::write(&keystore, format!("{}{}", second.cert, second.key)).expect("rewrite");
    let (fresh, _) = exchange(addr, pki.rustls(None), &[])
        .await
        .expect("handshake");
    assert_eq!(fresh, first.der(), "no reload before the signal");
    // The proxy answered, so its SIGHUP handler is installed: the signal reloads, it does
    // not end the test process.
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).expect("raise SIGHUP");
    wait_for_certificate(addr, &pki, &second).await;

    assert_eq!(
        open.get(b"/topics").await,
        200,
        "the open connection survives"
    );
    proxy.stop().await;
}

/// Waits until a new connection is served `expected`.
async fn wait_for_certificate(addr: SocketAddr, pki: &Pki, expected: &Leaf) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (served, _) = exchange(addr, pki.rustls(None), &[])
            .await
            .expect("handshake");
        if served == expected.der() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "new connections still get the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection kept open across requests (HTTP/1.1 keep-alive).
struct KeptConnection {
    stream: Stream,
    server_certificate: CertificateDer<'static>,
}

impl KeptConnection {
    async fn open(addr: SocketAddr, client: rustls::ClientConfig) -> KeptConnection {
        let (stream, server_certificate) = connect(addr, client).await.expect("handshake");
        KeptConnection {
            stream,
            server_certificate,
        }
    }

    async fn get(&mut self, path: &[u8]) -> u16 {
        get(&mut self.stream, path).await.expect("keep-alive GET")
    }
}

async fn connect(
    addr: SocketAddr,
    client: rustls::ClientConfig,
) -> std::io::Result<(Stream, CertificateDer<'static>)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await?;
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .cloned()
        .ok_or_else(|| std::io::Error::other("no server certificate"))?;
    Ok((stream, certificate))
}

/// A new connection: the server's certificate and the status of a GET of each path, in turn.
async fn exchange(
    addr: SocketAddr,
    client: rustls::ClientConfig,
    paths: &[&[u8]],
) -> std::io::Result<(CertificateDer<'static>, Vec<u16>)> {
    let (mut stream, certificate) = connect(addr, client).await?;
    let mut statuses = Vec::new();
    for path in paths {
        statuses.push(get(&mut stream, path).await?);
    }
    Ok((certificate, statuses))
}

/// One keep-alive `GET` on `stream`: writes the request, reads the whole answer (sized by
/// `Content-Length` or chunked) and returns its status.
async fn get(stream: &mut Stream, path: &[u8]) -> std::io::Result<u16> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(&request).await?;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, &mut buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head}")))?;
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while buf.len() < head_end + length {
                read_more(stream, &mut buf).await?;
            }
        }
        None if head.contains("transfer-encoding: chunked") => {
            while !buf[head_end..].ends_with(b"0\r\n\r\n") {
                read_more(stream, &mut buf).await?;
            }
        }
        None => {}
    }
    Ok(status)
}

async fn read_more(stream: &mut Stream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 << 10];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
        .await
        .map_err(|_| std::io::Error::other("no answer within 20 s"))??;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection closed",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

#[test]
fn a_keystore_that_cannot_be_opened_stops_the_binary_naming_the_key() {
    let pki = Pki::new("binary");
    let keystore = pki.write("server.p12", &pki.pkcs12(&pki.server("proxy"), "right"));
    let config = pki.write(
        "kafka-rest.properties",
        format!(
            "bootstrap.servers=127.0.0.1:9092\nlisteners=http://127.0.0.1:0,https://127.0.0.1:0\n\
             ssl.keystore.location={}\nssl.keystore.password=wrong\n",
            path_str(&keystore)
        )
        .as_bytes(),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-rest"))
        .arg(&config)
        .env_remove("KAFKA_REST_BOOTSTRAP_SERVERS")
        .output()
        .expect("run kafka-rest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("kafka-rest: configuration error: `ssl.keystore.location` file"),
        "{stderr}"
    );
    assert!(
        lines[0].contains("wrong `ssl.keystore.password`"),
        "{stderr}"
    );
    // Nothing was served: the listeners are bound only after the check.
    assert!(!stderr.contains("listening on"), "{stderr}");
}
