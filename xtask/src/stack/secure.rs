//! The secured stack (`cargo xtask stack up --secure`): the same Kafka nodes with two more
//! listeners, and the test PKI and users they need.
//!
//! - `SASL_SSL` on port 9291 + node (+ offset): SASL `PLAIN`, `SCRAM-SHA-256` and
//!   `SCRAM-SHA-512` over TLS. The users are [`USERS`]; their SCRAM credentials are written into
//!   the cluster metadata when the storage is formatted (`StorageTool format --add-scram`), their
//!   PLAIN passwords are the listener's JAAS options.
//! - `SSL` on port 9391 + node (+ offset): TLS with a required client certificate; the
//!   principal is the certificate's subject (`User:CN=kafkarest,O=kafka-rest local stack`).
//!
//! Kafka's `StandardAuthorizer` then denies what no ACL allows
//! (`allow.everyone.if.no.acl.found=false`), except for the super users: `User:ANONYMOUS` (the
//! plaintext listener, so every plain test and tool keeps working unchanged), and the proxy's own
//! identity [`PROXY_USER`] by SASL and by certificate. `alice` and `bob` have no rights until a
//! test grants them some.
//!
//! The certificates are made at start (rcgen): a CA, one broker certificate for `127.0.0.1` and
//! `localhost`, a server certificate for the proxy's own `https` listener, and client
//! certificates for `kafkarest` and `alice`, all PEM (Kafka reads PEM keystores since 2.7), in
//! `stack/tls/`. Nothing is committed; the private keys are test keys of a loopback stack.
//!
//! When the stack starts and which files exist is `mod.rs`; the plain node properties are
//! `kafka.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::paths::{port_offset, Paths, HOST};

/// The proxy's own Kafka identity on the secured listeners: a super user.
pub const PROXY_USER: &str = "kafkarest";

/// The users of the secured listeners and their passwords (SCRAM and PLAIN alike). Test
/// credentials of a loopback stack, printed by `stack up --secure`.
pub const USERS: &[(&str, &str)] = &[
    (PROXY_USER, "kafkarest-secret"),
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
];

/// The organisation of every certificate subject the stack makes.
const ORGANIZATION: &str = "kafka-rest local stack";

/// The `SASL_SSL` port of node `node`.
pub(super) fn sasl_ssl_port(node: u8) -> u16 {
    9291 + u16::from(node) + port_offset()
}

/// The `SSL` (client certificate required) port of node `node`.
pub(super) fn ssl_port(node: u8) -> u16 {
    9391 + u16::from(node) + port_offset()
}

fn addresses(brokers: u8, port: fn(u8) -> u16) -> String {
    (1..=brokers)
        .map(|node| format!("{HOST}:{}", port(node)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Where a secured stack is reached, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secure {
    /// The `SASL_SSL` listeners, comma-separated.
    pub sasl_ssl_bootstrap: String,
    /// The `SSL` listeners (client certificate required), comma-separated.
    pub ssl_bootstrap: String,
    /// The directory with `ca.pem` and the other PEM files (see [`write_material`]).
    pub tls_dir: PathBuf,
}

impl Secure {
    pub(super) fn new(paths: &Paths, brokers: u8) -> Secure {
        Secure {
            sasl_ssl_bootstrap: addresses(brokers, sasl_ssl_port),
            ssl_bootstrap: addresses(brokers, ssl_port),
            tls_dir: paths.tls.clone(),
        }
    }

    /// The lines `stack up --secure` prints after the plain ones.
    pub(super) fn print_summary(&self) {
        println!("KAFKA_SASL_SSL_BOOTSTRAP={}", self.sasl_ssl_bootstrap);
        println!("KAFKA_SSL_BOOTSTRAP={}", self.ssl_bootstrap);
        println!("KAFKA_TLS_DIR={}", self.tls_dir.display());
        let users: Vec<String> = USERS.iter().map(|(u, p)| format!("{u}:{p}")).collect();
        println!("KAFKA_SASL_USERS={}", users.join(","));
    }
}

/// Writes the CA and the certificates into `paths.tls` (replacing what was there):
/// `ca.pem`, and PEM keystores (private key, certificate, CA certificate in one file):
/// `broker.pem` (the brokers'), `proxy.pem` (a server certificate for the proxy's own `https`
/// listener on 127.0.0.1 and localhost), `kafkarest.pem` (the proxy's client certificate for
/// the `SSL` listener) and `alice.pem` (a client certificate for the proxy's mTLS example).
pub(super) fn write_material(paths: &Paths) -> Result<()> {
    eprintln!(
        "[stack] making the test CA and certificates in {}",
        paths.tls.display()
    );
    if paths.tls.exists() {
        fs::remove_dir_all(&paths.tls)
            .with_context(|| format!("cannot remove {}", paths.tls.display()))?;
    }
    fs::create_dir_all(&paths.tls)
        .with_context(|| format!("cannot create {}", paths.tls.display()))?;

    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = subject("kafka-rest local stack CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_pem = params.self_signed(&ca_key)?.pem();
    let ca = Issuer::new(params, ca_key);
    write(&paths.tls.join("ca.pem"), &ca_pem)?;

    let server = [ExtendedKeyUsagePurpose::ServerAuth];
    let (cert, key) = leaf(&ca, "localhost", true, &server)?;
    // Kafka's PEM keystore: the private key (PKCS#8, unencrypted) and the certificate chain.
    write(
        &paths.tls.join("broker.pem"),
        &format!("{key}{cert}{ca_pem}"),
    )?;
    let (cert, key) = leaf(&ca, "localhost", true, &server)?;
    write(
        &paths.tls.join("proxy.pem"),
        &format!("{key}{cert}{ca_pem}"),
    )?;
    for user in [PROXY_USER, "alice"] {
        let (cert, key) = leaf(&ca, user, false, &[ExtendedKeyUsagePurpose::ClientAuth])?;
        write(
            &paths.tls.join(format!("{user}.pem")),
            &format!("{key}{cert}{ca_pem}"),
        )?;
    }
    Ok(())
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, ORGANIZATION);
    name.push(DnType::CommonName, common_name);
    name
}

/// A certificate signed by the CA and its private key, both PEM.
fn leaf(
    ca: &Issuer<'_, KeyPair>,
    common_name: &str,
    loopback: bool,
    usages: &[ExtendedKeyUsagePurpose],
) -> Result<(String, String)> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    if loopback {
        params.subject_alt_names = vec![
            SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
            SanType::DnsName("localhost".try_into()?),
        ];
    }
    params.distinguished_name = subject(common_name);
    params.extended_key_usages = usages.to_vec();
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The node properties a secured stack adds (listeners are `kafka.rs`'s, which asks for
/// [`listeners`] and [`protocol_map`]).
pub(super) fn properties(paths: &Paths) -> String {
    let plain_users: String = USERS
        .iter()
        .map(|(user, password)| format!(" user_{user}=\"{password}\""))
        .collect();
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    format!(
        "# The secured listeners of `cargo xtask stack up --secure`.\n\
         sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};\n\
         listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram}\n\
         listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram}\n\
         ssl.keystore.type=PEM\n\
         ssl.keystore.location={tls}/broker.pem\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location={tls}/ca.pem\n\
         listener.name.ssl.ssl.client.auth=required\n\
         ssl.principal.mapping.rules=RULE:^CN=([^,]+),O=.*$/$1/,DEFAULT\n",
        tls = paths.tls.display(),
    )
}

/// The extra `listeners=` entries of node `node`.
pub(super) fn listeners(node: u8) -> String {
    format!(
        ",SASL_SSL://{HOST}:{},SSL://{HOST}:{}",
        sasl_ssl_port(node),
        ssl_port(node)
    )
}

/// The extra `listener.security.protocol.map` entries.
pub(super) const PROTOCOL_MAP: &str = ",SASL_SSL:SASL_SSL,SSL:SSL";

/// The authorizer settings of a secured stack: deny without an ACL; the plaintext listener's
/// `ANONYMOUS` and the proxy's identity are super users.
pub(super) fn authorizer() -> String {
    format!(
        "allow.everyone.if.no.acl.found=false\n\
         super.users=User:ANONYMOUS;User:{PROXY_USER}\n"
    )
}

/// `StorageTool format` arguments that create every user's SCRAM credentials.
pub(super) fn format_args() -> Vec<String> {
    let mut args = Vec::new();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (user, password) in USERS {
            args.push("--add-scram".to_string());
            args.push(format!("{mechanism}=[name={user},password={password}]"));
        }
    }
    args
}
