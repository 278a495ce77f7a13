//! Tests of the HTTPS listener without Kafka: the stores, and a poem server on the
//! [`TlsAcceptor`] whose one endpoint answers with the certificate subject its request carries,
//! driven by a rustls client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::{handler, EndpointExt, Request, Server};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::config::Properties;
use crate::principal::PeerCertificate;

/// A test CA in a temporary directory, and certificates it signs.
struct Pki {
    dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and its PKCS#8 key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("kafka-rest-tls-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "kafka-rest test CA");
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

    fn leaf(&self, names: &[(DnType, &str)], client: bool) -> Leaf {
        let sans = if client {
            Vec::new()
        } else {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        };
        let mut params = CertificateParams::new(sans).expect("leaf params");
        // rcgen starts with a common name of its own; the test's names come in their order.
        params.distinguished_name = DistinguishedName::new();
        for (kind, value) in names {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca).expect("leaf certificate");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    fn pkcs12(&self, name: &str, leaf: &Leaf, password: &str) -> PathBuf {
        let cert = openssl::x509::X509::from_pem(leaf.cert.as_bytes()).expect("cert");
        let key = openssl::pkey::PKey::private_key_from_pem(leaf.key.as_bytes()).expect("key");
        let p12 = openssl::pkcs12::Pkcs12::builder()
            .name("server")
            .pkey(&key)
            .cert(&cert)
            .build2(password)
            .expect("PKCS#12");
        self.write(name, &p12.to_der().expect("PKCS#12 DER"))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(lines: &[(&str, &str)]) -> Config {
    let mut props = Properties::default();
    props
        .set("bootstrap.servers", "127.0.0.1:9")
        .set("listeners", "https://127.0.0.1:0");
    for (key, value) in lines {
        props.set(key, *value);
    }
    Config::from_properties(&props).expect("valid test config")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Answers with the subject of the request's certificate, or `none`.
#[handler]
fn subject(req: &Request) -> String {
    req.extensions()
        .get::<PeerCertificate>()
        .map_or_else(|| "none".to_string(), |c| c.subject.clone())
}

/// A server on the TLS acceptor; its address, the shared certificate table and a stop switch.
async fn serve(
    tls: Arc<ServerTls>,
) -> (
    std::net::SocketAddr,
    Arc<PeerCertificates>,
    tokio::sync::oneshot::Sender<()>,
) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("address");
    let peers = Arc::new(PeerCertificates::default());
    let acceptor = TlsAcceptor::new(
        crate::listener::NoDelayAcceptor::from_tokio(tcp, None).expect("acceptor"),
        tls,
        Arc::clone(&peers),
    );
    let app = with_peer_certificates(subject.boxed(), Arc::clone(&peers));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            app,
            async {
                let _ = stopped.await;
            },
            Some(Duration::from_secs(1)),
        ),
    );
    (addr, peers, stop)
}

fn client_config(pki: &Pki, identity: Option<&Leaf>) -> rustls::ClientConfig {
    let roots = root_store(pki);
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
                CertificateDer::pem_slice_iter(leaf.cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client certificate"),
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("client key"),
            )
            .expect("client identity"),
    }
}

/// One `GET /` on a new connection; the body, or the error of the exchange.
async fn get(addr: std::net::SocketAddr, client: rustls::ClientConfig) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut stream = connector.connect(name, tcp).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    Ok(answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or(answer))
}

#[tokio::test]
async fn a_requested_client_certificate_reaches_each_request_as_its_subject() {
    let pki = Pki::new("requested");
    let server = pki.leaf(&[(DnType::CommonName, "proxy")], false);
    let alice = pki.leaf(
        &[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Example, Inc."),
            (DnType::CommonName, "alice"),
        ],
        true,
    );
    let keystore = pki.write(
        "server.pem",
        format!("{}{}", server.cert, server.key).as_bytes(),
    );
    let truststore = pki.write("ca.pem", pki.ca_pem.as_bytes());
    let config = config(&[
        ("ssl.keystore.location", path_str(&keystore)),
        ("ssl.keystore.type", "PEM"),
        ("ssl.truststore.location", path_str(&truststore)),
        ("ssl.truststore.type", "PEM"),
        ("ssl.client.authentication", "REQUESTED"),
    ]);
    let tls = ServerTls::load(&config).expect("TLS settings load");
    let (addr, peers, _stop) = serve(tls).await;

    let with = get(addr, client_config(&pki, Some(&alice)))
        .await
        .expect("a client with a certificate is served");
    assert_eq!(with, r"CN=alice,O=Example\, Inc.,C=DE");
    let without = get(addr, client_config(&pki, None))
        .await
        .expect("a client without a certificate is served");
    assert_eq!(without, "none");

    // The table forgets a connection once it is closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while peers.len() > 0 {
        assert!(
            Instant::now() < deadline,
            "closed connections stay in the table"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_required_client_certificate_refuses_clients_without_one_or_from_another_ca() {
    let pki = Pki::new("required");
    let other = Pki::new("required-other");
    let server = pki.leaf(&[(DnType::CommonName, "proxy")], false);
    let bob = pki.leaf(&[(DnType::CommonName, "bob")], true);
    let mallory = other.leaf(&[(DnType::CommonName, "mallory")], true);
    let keystore = pki.pkcs12("server.p12", &server, "changeit");
    let truststore = pki.write("ca.pem", pki.ca_pem.as_bytes());
    let config = config(&[
        ("ssl.keystore.location", path_str(&keystore)),
        ("ssl.keystore.password", "changeit"),
        ("ssl.truststore.location", path_str(&truststore)),
        ("ssl.truststore.type", "PEM"),
        ("ssl.client.auth", "true"),
    ]);
    let tls = ServerTls::load(&config).expect("TLS settings load");
    let (addr, _peers, _stop) = serve(tls).await;

    assert_eq!(
        get(addr, client_config(&pki, Some(&bob)))
            .await
            .expect("bob is served"),
        "CN=bob"
    );
    let refused = get(addr, client_config(&pki, None))
        .await
        .expect_err("no certificate is refused");
    assert!(
        refused.to_string().contains("CertificateRequired"),
        "{refused}"
    );
    let mut foreign = client_config(&pki, Some(&mallory));
    foreign.alpn_protocols.clear();
    let refused = get(addr, foreign)
        .await
        .expect_err("a certificate from another CA is refused");
    assert!(refused.to_string().contains("alert"), "{refused}");
}

#[test]
fn stores_that_cannot_be_read_are_errors_naming_their_key() {
    let pki = Pki::new("stores");
    let server = pki.leaf(&[(DnType::CommonName, "proxy")], false);
    let p12 = pki.pkcs12("server.p12", &server, "right");
    let jks = pki.write("server.jks", &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]);
    let pem = pki.write(
        "server.pem",
        format!("{}{}", server.cert, server.key).as_bytes(),
    );
    let encrypted_key = openssl::pkey::PKey::private_key_from_pem(server.key.as_bytes())
        .expect("key")
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"secret")
        .expect("encrypted key");
    let mut encrypted = server.cert.clone().into_bytes();
    encrypted.extend_from_slice(&encrypted_key);
    let encrypted = pki.write("encrypted.pem", &encrypted);
    let missing = pki.dir.join("missing.p12");

    // Settings, the key the error must name, and a detail it must give.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                ("ssl.keystore.location", path_str(&p12)),
                ("ssl.keystore.password", "wrong"),
            ],
            "`ssl.keystore.location`",
            "wrong `ssl.keystore.password`",
        ),
        (
            vec![("ssl.keystore.location", path_str(&jks))],
            "`ssl.keystore.location`",
            "keytool -importkeystore",
        ),
        (
            vec![("ssl.keystore.location", path_str(&pem))],
            "`ssl.keystore.location`",
            "set `ssl.keystore.type=PEM`",
        ),
        (
            vec![
                ("ssl.keystore.location", path_str(&encrypted)),
                ("ssl.keystore.type", "PEM"),
                ("ssl.key.password", "wrong"),
            ],
            "`ssl.keystore.location`",
            "`ssl.key.password` does not open it",
        ),
        (
            vec![("ssl.keystore.location", path_str(&missing))],
            "cannot read `ssl.keystore.location`",
            "missing.p12",
        ),
        (
            vec![
                ("ssl.keystore.location", path_str(&p12)),
                ("ssl.keystore.password", "right"),
                ("ssl.truststore.location", path_str(&p12)),
                ("ssl.truststore.password", "wrong"),
                ("ssl.client.authentication", "REQUIRED"),
            ],
            "`ssl.truststore.location`",
            "wrong `ssl.truststore.password`",
        ),
        (
            vec![
                ("ssl.keystore.location", path_str(&p12)),
                ("ssl.keystore.password", "right"),
                ("ssl.cipher.suites", "TLS_RSA_WITH_AES_128_CBC_SHA"),
            ],
            "`ssl.cipher.suites`",
            "TLS_AES_128_GCM_SHA256",
        ),
    ];
    for (lines, key, detail) in cases {
        let err = ServerTls::load(&config(&lines)).expect_err(key);
        let text = ErrorChain(&err).to_string();
        assert!(text.contains(key), "{lines:?}: {text}");
        assert!(text.contains(detail), "{lines:?}: {text}");
    }

    // The same material read correctly: PKCS#12 under Confluent's default type JKS, and an
    // encrypted PEM key with its password.
    ServerTls::load(&config(&[
        ("ssl.keystore.location", path_str(&p12)),
        ("ssl.keystore.password", "right"),
    ]))
    .expect("a PKCS#12 file under type JKS is read");
    ServerTls::load(&config(&[
        ("ssl.keystore.location", path_str(&encrypted)),
        ("ssl.keystore.type", "pem"),
        ("ssl.key.password", "secret"),
        (
            "ssl.cipher.suites",
            "TLS_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA",
        ),
    ]))
    .expect("an encrypted PEM key is read with ssl.key.password");
}

#[tokio::test]
async fn listed_cipher_suites_are_the_only_ones_served() {
    let pki = Pki::new("suites");
    let server = pki.leaf(&[(DnType::CommonName, "proxy")], false);
    let keystore = pki.write(
        "server.pem",
        format!("{}{}", server.cert, server.key).as_bytes(),
    );
    let config = config(&[
        ("ssl.keystore.location", path_str(&keystore)),
        ("ssl.keystore.type", "PEM"),
        ("ssl.cipher.suites", "TLS_AES_256_GCM_SHA384"),
    ]);
    let (addr, _peers, _stop) = serve(ServerTls::load(&config).expect("TLS settings load")).await;

    let only = |suite: rustls::CipherSuite| {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.retain(|s| s.suite() == suite);
        rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(root_store(&pki))
            .with_no_client_auth()
    };
    assert_eq!(
        get(addr, only(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384))
            .await
            .expect("the listed suite is served"),
        "none"
    );
    let refused = get(addr, only(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256))
        .await
        .expect_err("an unlisted suite is refused");
    assert!(
        refused.to_string().contains("HandshakeFailure"),
        "{refused}"
    );
}

fn root_store(pki: &Pki) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    roots
}
