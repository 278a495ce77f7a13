//! The security settings of the proxy's Kafka clients, as Confluent writes them (Java client
//! keys under `client.*`, `producer.*`, `consumer.*` and `admin.*`) turned into librdkafka's.
//!
//! librdkafka already understands `security.protocol`, `sasl.mechanism`, `sasl.username`,
//! `sasl.password`, `ssl.key.password`, `ssl.keystore.location` and `ssl.keystore.password`
//! (PKCS#12) and `ssl.endpoint.identification.algorithm`, which pass through unchanged. The Java
//! keys it lacks are rewritten here, once at start:
//!
//! - `sasl.jaas.config`: `PlainLoginModule` and `ScramLoginModule` with `username` and
//!   `password` become `sasl.username`/`sasl.password`; `OAuthBearerLoginModule` becomes
//!   librdkafka's unsecured JWT (`unsecuredLoginStringClaim_sub`) or its OIDC client
//!   (`clientId`, `clientSecret`, `scope`). Any other login module is refused.
//! - `ssl.truststore.location` (with `.type` and `.password`): a PEM file becomes
//!   `ssl.ca.location`; a PKCS#12 truststore is read (OpenSSL) and handed over as `ssl.ca.pem`;
//!   a Java KeyStore proper is refused with the `keytool` command that converts it.
//!   `ssl.truststore.certificates` (inline PEM) becomes `ssl.ca.pem`.
//! - `ssl.keystore.location` of type `PEM` becomes `ssl.certificate.location` and
//!   `ssl.key.location` (one file with both); PKCS#12 (also under Java's default type `JKS`)
//!   stays librdkafka's `ssl.keystore.location`. `ssl.keystore.certificate.chain` and
//!   `ssl.keystore.key` (inline PEM) become `ssl.certificate.pem` and `ssl.key.pem`.
//! - Java's TLS machinery keys (`ssl.protocol`, `ssl.enabled.protocols`, ...) are dropped with a
//!   warning, and Java's empty `ssl.endpoint.identification.algorithm` is librdkafka's `none`.
//!
//! Every error names the prefixed key. No value of these settings is ever logged. Creating
//! clients is left to the services; acting for a caller (pass-through) is `passthrough.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use openssl::pkcs12::Pkcs12;
use openssl::x509::X509;

use crate::config::Config;
use crate::principal::{Credential, Principal};

/// Why the Kafka client settings cannot be used. Every variant names the prefixed key.
#[derive(Debug, thiserror::Error)]
pub enum ClientSecurityError {
    #[error("invalid `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read {path} (`{key}`)")]
    Read {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Java keys with no librdkafka counterpart: dropped with a warning.
const JAVA_ONLY: &[&str] = &[
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.provider",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "sasl.login.callback.handler.class",
    "sasl.client.callback.handler.class",
];

/// A copy of `config` whose `client.*`, `producer.*`, `consumer.*` and `admin.*` maps speak
/// librdkafka, and the warnings for dropped keys.
pub fn translate_config(config: &Config) -> Result<(Config, Vec<String>), ClientSecurityError> {
    let mut translated = config.clone();
    let mut warnings = Vec::new();
    for (prefix, map) in [
        ("client.", &mut translated.client),
        ("producer.", &mut translated.producer),
        ("consumer.", &mut translated.consumer),
        ("admin.", &mut translated.admin),
    ] {
        warnings.extend(translate(prefix, map)?);
    }
    Ok((translated, warnings))
}

/// The librdkafka settings that make a client sign in to Kafka as `principal` (principal
/// pass-through): a Basic caller's user name and password over `mechanism` (PLAIN or SCRAM).
/// `None` for a principal without a password (a bearer token or a certificate).
pub fn caller_settings(principal: &Principal, mechanism: &str) -> Option<Vec<(String, String)>> {
    match &principal.credential {
        Credential::Password(password) => Some(vec![
            ("sasl.mechanism".to_string(), mechanism.to_string()),
            ("sasl.username".to_string(), principal.name.clone()),
            ("sasl.password".to_string(), password.clone()),
        ]),
        Credential::Token(_) | Credential::None => None,
    }
}

/// Rewrites one prefixed map in place (see the module doc); returns warnings.
pub fn translate(
    prefix: &str,
    map: &mut BTreeMap<String, String>,
) -> Result<Vec<String>, ClientSecurityError> {
    let mut warnings = Vec::new();
    for key in JAVA_ONLY {
        if map.remove(*key).is_some() {
            warnings.push(format!(
                "`{prefix}{key}` is a Java client setting librdkafka does not have; ignored"
            ));
        }
    }
    if map
        .get("ssl.endpoint.identification.algorithm")
        .is_some_and(|v| v.trim().is_empty())
    {
        map.insert(
            "ssl.endpoint.identification.algorithm".into(),
            "none".into(),
        );
    }
    if let Some(jaas) = map.remove("sasl.jaas.config") {
        let key = format!("{prefix}sasl.jaas.config");
        for (name, value) in jaas_settings(&jaas).map_err(|reason| invalid(&key, reason))? {
            map.insert(name.to_string(), value);
        }
    }
    truststore(prefix, map)?;
    keystore(prefix, map)?;
    Ok(warnings)
}

fn invalid(key: &str, reason: impl Into<String>) -> ClientSecurityError {
    ClientSecurityError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// The librdkafka settings of a Java `sasl.jaas.config` value.
fn jaas_settings(text: &str) -> Result<Vec<(&'static str, String)>, String> {
    let (module, options) = parse_jaas(text)?;
    let get = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let short = module.rsplit('.').next().unwrap_or_default();
    match short {
        "PlainLoginModule" | "ScramLoginModule" => {
            let (Some(user), Some(password)) = (get("username"), get("password")) else {
                return Err(format!("{short} needs username and password options"));
            };
            Ok(vec![("sasl.username", user), ("sasl.password", password)])
        }
        "OAuthBearerLoginModule" => {
            if let Some(sub) = get("unsecuredLoginStringClaim_sub") {
                return Ok(vec![
                    ("enable.sasl.oauthbearer.unsecure.jwt", "true".into()),
                    ("sasl.oauthbearer.config", format!("principal={sub}")),
                ]);
            }
            let (Some(id), Some(secret)) = (get("clientId"), get("clientSecret")) else {
                return Err(
                    "OAuthBearerLoginModule needs clientId and clientSecret (with \
                     sasl.oauthbearer.token.endpoint.url), or unsecuredLoginStringClaim_sub"
                        .into(),
                );
            };
            let mut settings = vec![
                ("sasl.oauthbearer.method", "oidc".to_string()),
                ("sasl.oauthbearer.client.id", id),
                ("sasl.oauthbearer.client.secret", secret),
            ];
            if let Some(scope) = get("scope") {
                settings.push(("sasl.oauthbearer.scope", scope));
            }
            Ok(settings)
        }
        _ => Err(format!(
            "login module {module} is not supported (PlainLoginModule, ScramLoginModule or \
             OAuthBearerLoginModule)"
        )),
    }
}

/// `module.Name required key="value" key2=value2;` into the module and its options. Quoted
/// values may contain spaces and `\"`.
fn parse_jaas(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let text = text.trim();
    let text = text.strip_suffix(';').unwrap_or(text).trim_end();
    let mut chars = text.chars().peekable();
    let mut word = || -> String {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut out = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            out.push(c);
        }
        out
    };
    let module = word();
    let flag = word();
    if module.is_empty()
        || !matches!(
            flag.as_str(),
            "required" | "requisite" | "sufficient" | "optional"
        )
    {
        return Err("expected `<LoginModule class> required key=\"value\" ...;`".into());
    }
    let mut options = Vec::new();
    let rest: String = chars.collect();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            return Err(format!("option without a value near {:?}", short(rest)));
        };
        let name = name.trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match (escaped, c) {
                    (true, _) => {
                        value.push(c);
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i + 1);
                        break;
                    }
                    (false, _) => value.push(c),
                }
            }
            let Some(end) = end else {
                return Err(format!("unterminated quoted value of option {name}"));
            };
            (value, &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if name.is_empty() {
            return Err("option without a name".into());
        }
        options.push((name, value));
        rest = remaining.trim_start();
    }
    Ok((module, options))
}

/// The first characters of a text, for messages that must not echo a secret in full.
fn short(text: &str) -> String {
    text.chars().take(12).collect()
}

/// What a store file holds, judged by its first bytes.
enum StoreKind {
    Pem,
    Pkcs12,
    JavaKeyStore,
}

fn store_kind(bytes: &[u8]) -> StoreKind {
    if bytes.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) || bytes.starts_with(&[0xCE, 0xCE, 0xCE, 0xCE])
    {
        StoreKind::JavaKeyStore
    } else if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        StoreKind::Pem
    } else {
        StoreKind::Pkcs12
    }
}

fn read_store(key: &str, path: &str) -> Result<Vec<u8>, ClientSecurityError> {
    std::fs::read(path).map_err(|source| ClientSecurityError::Read {
        key: key.to_string(),
        path: PathBuf::from(path),
        source,
    })
}

fn keytool_hint(key: &str, path: &str) -> ClientSecurityError {
    invalid(
        key,
        format!(
            "{path} is a Java KeyStore, which this proxy does not read; convert it with \
             `keytool -importkeystore -srckeystore {path} -destkeystore {path}.p12 \
             -deststoretype PKCS12` and name the .p12 file (or use PEM)"
        ),
    )
}

/// `ssl.truststore.*` into `ssl.ca.location` or `ssl.ca.pem`.
fn truststore(prefix: &str, map: &mut BTreeMap<String, String>) -> Result<(), ClientSecurityError> {
    let kind = map.remove("ssl.truststore.type");
    let password = map.remove("ssl.truststore.password").unwrap_or_default();
    if let Some(pem) = map.remove("ssl.truststore.certificates") {
        map.insert("ssl.ca.pem".into(), pem);
    }
    let Some(path) = map.remove("ssl.truststore.location") else {
        return Ok(());
    };
    let key = format!("{prefix}ssl.truststore.location");
    let kind = kind.unwrap_or_else(|| "JKS".into()).to_ascii_uppercase();
    if !matches!(kind.as_str(), "JKS" | "PKCS12" | "PEM") {
        return Err(invalid(
            &format!("{prefix}ssl.truststore.type"),
            format!("{kind} is not supported; expected PEM, PKCS12 or JKS"),
        ));
    }
    let bytes = read_store(&key, &path)?;
    match store_kind(&bytes) {
        StoreKind::Pem => {
            map.insert("ssl.ca.location".into(), path);
        }
        StoreKind::JavaKeyStore => return Err(keytool_hint(&key, &path)),
        StoreKind::Pkcs12 => {
            let parsed = Pkcs12::from_der(&bytes)
                .and_then(|p12| p12.parse2(&password))
                .map_err(|e| {
                    invalid(
                        &key,
                        format!(
                            "{path} is neither PEM nor a PKCS#12 file that \
                             `{prefix}ssl.truststore.password` opens ({e})"
                        ),
                    )
                })?;
            let mut certs: Vec<X509> = parsed.ca.into_iter().flatten().collect();
            certs.extend(parsed.cert);
            if certs.is_empty() {
                return Err(invalid(&key, format!("{path} holds no certificate")));
            }
            let mut pem = String::new();
            for cert in certs {
                let text = cert
                    .to_pem()
                    .map_err(|e| invalid(&key, format!("cannot encode a certificate ({e})")))?;
                pem.push_str(&String::from_utf8_lossy(&text));
            }
            map.insert("ssl.ca.pem".into(), pem);
        }
    }
    Ok(())
}

/// `ssl.keystore.*` of type PEM into librdkafka's certificate and key settings; PKCS#12 stays.
fn keystore(prefix: &str, map: &mut BTreeMap<String, String>) -> Result<(), ClientSecurityError> {
    let kind = map.remove("ssl.keystore.type");
    if let Some(chain) = map.remove("ssl.keystore.certificate.chain") {
        map.insert("ssl.certificate.pem".into(), chain);
    }
    if let Some(pem_key) = map.remove("ssl.keystore.key") {
        map.insert("ssl.key.pem".into(), pem_key);
    }
    let Some(path) = map.get("ssl.keystore.location").cloned() else {
        return Ok(());
    };
    let key = format!("{prefix}ssl.keystore.location");
    let kind = kind.unwrap_or_else(|| "JKS".into()).to_ascii_uppercase();
    if !matches!(kind.as_str(), "JKS" | "PKCS12" | "PEM") {
        return Err(invalid(
            &format!("{prefix}ssl.keystore.type"),
            format!("{kind} is not supported; expected PEM, PKCS12 or JKS"),
        ));
    }
    let bytes = read_store(&key, &path)?;
    match store_kind(&bytes) {
        StoreKind::JavaKeyStore => Err(keytool_hint(&key, &path)),
        StoreKind::Pkcs12 => Ok(()),
        StoreKind::Pem => {
            map.remove("ssl.keystore.location");
            // A PEM keystore has no store password; its key may be encrypted with
            // `ssl.key.password`, which librdkafka reads under the same name.
            map.remove("ssl.keystore.password");
            map.insert("ssl.certificate.location".into(), path.clone());
            map.insert("ssl.key.location".into(), path);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_and_scram_jaas_become_username_and_password() {
        for module in [
            "org.apache.kafka.common.security.plain.PlainLoginModule",
            "org.apache.kafka.common.security.scram.ScramLoginModule",
        ] {
            let mut m = map(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                (
                    "sasl.jaas.config",
                    &format!("{module} required username=\"kafka rest\" password=\"p\\\"w=;\";"),
                ),
            ]);
            translate("client.", &mut m).expect("valid");
            assert_eq!(m["sasl.username"], "kafka rest");
            assert_eq!(m["sasl.password"], "p\"w=;");
            assert!(!m.contains_key("sasl.jaas.config"));
            assert_eq!(m["security.protocol"], "SASL_SSL");
        }
        let mut unquoted = map(&[(
            "sasl.jaas.config",
            "PlainLoginModule required username=u password=p",
        )]);
        translate("client.", &mut unquoted).expect("valid");
        assert_eq!(unquoted["sasl.password"], "p");
    }

    #[test]
    fn oauthbearer_jaas_becomes_librdkafkas_settings() {
        let mut m = map(&[(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"kafkarest\";",
        )]);
        translate("client.", &mut m).expect("valid");
        assert_eq!(m["enable.sasl.oauthbearer.unsecure.jwt"], "true");
        assert_eq!(m["sasl.oauthbearer.config"], "principal=kafkarest");
        let mut oidc = map(&[(
            "sasl.jaas.config",
            "OAuthBearerLoginModule required clientId=\"id\" clientSecret=\"s\" scope=\"kafka\";",
        )]);
        translate("client.", &mut oidc).expect("valid");
        assert_eq!(oidc["sasl.oauthbearer.method"], "oidc");
        assert_eq!(oidc["sasl.oauthbearer.client.secret"], "s");
    }

    #[test]
    fn bad_jaas_is_an_error_naming_the_key_without_the_password() {
        let cases = [
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
            "PlainLoginModule required username=\"u\";",
            "PlainLoginModule username=\"u\" password=\"topsecret\";",
            "PlainLoginModule required username=\"u\" password=\"topsecret",
        ];
        for jaas in cases {
            let mut m = map(&[("sasl.jaas.config", jaas)]);
            let err = translate("producer.", &mut m).expect_err(jaas).to_string();
            assert!(err.contains("`producer.sasl.jaas.config`"), "{err}");
            assert!(!err.contains("topsecret"), "{err}");
        }
    }

    #[test]
    fn java_only_keys_are_dropped_with_a_warning() {
        let mut m = map(&[
            ("ssl.enabled.protocols", "TLSv1.3"),
            ("ssl.endpoint.identification.algorithm", ""),
        ]);
        let warnings = translate("client.", &mut m).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`client.ssl.enabled.protocols`"));
        assert_eq!(m["ssl.endpoint.identification.algorithm"], "none");
    }

    fn temp_file(name: &str, bytes: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!(
            "kafka-rest-unit-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path.display().to_string()
    }

    fn self_signed() -> (openssl::pkey::PKey<openssl::pkey::Private>, X509) {
        let key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .expect("curve"),
            )
            .expect("key"),
        )
        .expect("pkey");
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "test CA").expect("cn");
        let name = name.build();
        let mut builder = X509::builder().expect("builder");
        builder.set_subject_name(&name).expect("subject");
        builder.set_issuer_name(&name).expect("issuer");
        builder.set_pubkey(&key).expect("pubkey");
        let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
        let later = openssl::asn1::Asn1Time::days_from_now(1).expect("later");
        builder.set_not_before(&now).expect("nb");
        builder.set_not_after(&later).expect("na");
        builder
            .sign(&key, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        (key, builder.build())
    }

    #[test]
    fn truststores_become_librdkafka_ca_settings() {
        let (key, cert) = self_signed();
        let pem = cert.to_pem().expect("pem");
        let pem_path = temp_file("ca.pem", &pem);
        let mut m = map(&[
            ("ssl.truststore.location", &pem_path),
            ("ssl.truststore.type", "PEM"),
        ]);
        translate("client.", &mut m).expect("valid");
        assert_eq!(m["ssl.ca.location"], pem_path);
        assert!(!m.contains_key("ssl.truststore.location"));

        // A PKCS#12 truststore (read under Java's default type JKS too) is converted to PEM.
        let mut stack = openssl::stack::Stack::new().expect("stack");
        stack.push(cert.clone()).expect("push");
        let p12 = Pkcs12::builder()
            .ca(stack)
            .build2("changeit")
            .expect("p12")
            .to_der()
            .expect("der");
        let p12_path = temp_file("trust.p12", &p12);
        let mut m = map(&[
            ("ssl.truststore.location", &p12_path),
            ("ssl.truststore.password", "changeit"),
        ]);
        translate("client.", &mut m).expect("valid");
        assert_eq!(m["ssl.ca.pem"], String::from_utf8_lossy(&pem));
        assert!(!m.contains_key("ssl.truststore.password"));

        // A wrong password, a Java KeyStore and a missing file name the key.
        let mut wrong = map(&[
            ("ssl.truststore.location", &p12_path),
            ("ssl.truststore.password", "nope"),
        ]);
        let err = translate("client.", &mut wrong).expect_err("wrong password");
        assert!(err.to_string().contains("`client.ssl.truststore.location`"));
        let jks = temp_file("trust.jks", &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]);
        let mut m = map(&[("ssl.truststore.location", &jks)]);
        let err = translate("client.", &mut m).expect_err("jks").to_string();
        assert!(err.contains("keytool -importkeystore"), "{err}");
        let mut m = map(&[("ssl.truststore.location", "/nonexistent/ca.pem")]);
        let err = translate("consumer.", &mut m)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("`consumer.ssl.truststore.location`"), "{err}");

        // A PEM keystore is librdkafka's certificate and key locations.
        let mut both = key.private_key_to_pem_pkcs8().expect("key pem");
        both.extend_from_slice(&pem);
        let keystore = temp_file("client.pem", &both);
        let mut m = map(&[
            ("ssl.keystore.location", &keystore),
            ("ssl.keystore.type", "PEM"),
        ]);
        translate("client.", &mut m).expect("valid");
        assert_eq!(m["ssl.certificate.location"], keystore);
        assert_eq!(m["ssl.key.location"], keystore);
        assert!(!m.contains_key("ssl.keystore.location"));
    }
}
