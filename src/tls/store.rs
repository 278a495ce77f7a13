//! Reading the key material of the HTTPS listeners: the keystore (certificate chain and private
//! key) and the truststore (the CAs client certificates must chain to), from PKCS#12 or PEM
//! files, with Confluent's keys.
//!
//! OpenSSL does the reading (PKCS#12 decryption, encrypted PEM keys); rustls gets plain DER.
//! Java KeyStore files proper (JKS, JCEKS) are refused with the command that converts them.
//! Every error names the key whose file or password is at fault.

use std::path::{Path, PathBuf};

use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::x509::{X509Ref, X509};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;

use crate::config::{KeystoreType, Secret};

use super::TlsError;

/// The certificate chain (server certificate first) and private key of a keystore.
pub(super) struct Identity {
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: PrivateKeyDer<'static>,
}

/// Where a store is and how to open it.
pub(super) struct StoreFile<'a> {
    /// The `*.location` key, named in errors.
    pub(super) key: &'static str,
    pub(super) path: &'a Path,
    pub(super) kind: KeystoreType,
    pub(super) password: &'a Secret,
}

/// The formats a file is read in, once its type and contents are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pkcs12,
    Pem,
}

/// Reads the keystore; `key_password` opens an encrypted PEM key, and a PKCS#12 key that the
/// store password does not open.
pub(super) fn read_keystore(
    store: &StoreFile<'_>,
    key_password: &Secret,
) -> Result<Identity, TlsError> {
    let bytes = read(store)?;
    match format(store, &bytes)? {
        Format::Pkcs12 => {
            let p12 = Pkcs12::from_der(&bytes)
                .map_err(|e| openssl_error(store, "is not a PKCS#12 file", e))?;
            let parsed = p12
                .parse2(store.password.expose())
                .or_else(|first| {
                    if key_password.is_empty() || key_password == store.password {
                        Err(first)
                    } else {
                        p12.parse2(key_password.expose())
                    }
                })
                .map_err(|e| {
                    openssl_error(
                        store,
                        "cannot be opened: wrong `ssl.keystore.password` (or `ssl.key.password`), \
                         or an encryption OpenSSL 3 no longer reads by default (RC2, 3DES: \
                         export it again with AES)",
                        e,
                    )
                })?;
            let (Some(cert), Some(pkey)) = (parsed.cert, parsed.pkey) else {
                return Err(invalid(store, "holds no private key with its certificate"));
            };
            let mut chain = vec![der(store, &cert)?];
            for ca in parsed.ca.iter().flatten() {
                chain.push(der(store, ca)?);
            }
            let key = pkey.private_key_to_pkcs8().map_err(|e| {
                openssl_error(store, "has a private key that cannot be exported", e)
            })?;
            Ok(Identity {
                chain,
                key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            })
        }
        Format::Pem => {
            let certs = X509::stack_from_pem(&bytes)
                .map_err(|e| openssl_error(store, "has a malformed CERTIFICATE block", e))?;
            if certs.is_empty() {
                return Err(invalid(
                    store,
                    "has no CERTIFICATE block (a PEM keystore holds the certificate chain, \
                     server certificate first, and the private key)",
                ));
            }
            // With a passphrase (even an empty one) OpenSSL never falls back to asking on the
            // terminal for the password of an encrypted key.
            let pkey =
                PKey::private_key_from_pem_passphrase(&bytes, key_password.expose().as_bytes())
                    .map_err(|e| {
                        openssl_error(
                            store,
                            "has no private key that can be read (missing, or encrypted and \
                         `ssl.key.password` does not open it)",
                            e,
                        )
                    })?;
            let key = pkey.private_key_to_pkcs8().map_err(|e| {
                openssl_error(store, "has a private key that cannot be exported", e)
            })?;
            Ok(Identity {
                chain: certs
                    .iter()
                    .map(|c| der(store, c))
                    .collect::<Result<_, _>>()?,
                key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            })
        }
    }
}

/// Reads the CA certificates of a truststore.
pub(super) fn read_truststore(store: &StoreFile<'_>) -> Result<RootCertStore, TlsError> {
    let bytes = read(store)?;
    let certs: Vec<X509> = match format(store, &bytes)? {
        Format::Pkcs12 => {
            let p12 = Pkcs12::from_der(&bytes)
                .map_err(|e| openssl_error(store, "is not a PKCS#12 file", e))?;
            let parsed = p12.parse2(store.password.expose()).map_err(|e| {
                openssl_error(
                    store,
                    "cannot be opened: wrong `ssl.truststore.password`, or an encryption OpenSSL 3 \
                     no longer reads by default (RC2, 3DES: export it again with AES)",
                    e,
                )
            })?;
            parsed
                .cert
                .into_iter()
                .chain(parsed.ca.into_iter().flatten())
                .collect()
        }
        Format::Pem => X509::stack_from_pem(&bytes)
            .map_err(|e| openssl_error(store, "has a malformed CERTIFICATE block", e))?,
    };
    let mut roots = RootCertStore::empty();
    for cert in &certs {
        roots
            .add(der(store, cert)?)
            .map_err(|e| TlsError::Certificate {
                key: store.key,
                path: store.path.to_path_buf(),
                source: e,
            })?;
    }
    if roots.is_empty() {
        return Err(invalid(store, "holds no CA certificate"));
    }
    Ok(roots)
}

fn read(store: &StoreFile<'_>) -> Result<Vec<u8>, TlsError> {
    std::fs::read(store.path).map_err(|e| TlsError::Read {
        key: store.key,
        path: store.path.to_path_buf(),
        source: e,
    })
}

/// The format to read `bytes` in: `PKCS12` and `PEM` as configured, and `JKS` as PKCS#12 (what
/// Java itself does with a PKCS#12 file under that type). The magic numbers of Java's own
/// formats, and PEM text under a binary type, are errors that say what to do.
fn format(store: &StoreFile<'_>, bytes: &[u8]) -> Result<Format, TlsError> {
    let type_key = if store.key.starts_with("ssl.truststore") {
        "ssl.truststore.type"
    } else {
        "ssl.keystore.type"
    };
    match store.kind {
        KeystoreType::Pem => Ok(Format::Pem),
        KeystoreType::Pkcs12 | KeystoreType::Jks => {
            if bytes.starts_with(&[0xfe, 0xed, 0xfe, 0xed]) || bytes.starts_with(&[0xce; 4]) {
                Err(invalid(
                    store,
                    &format!(
                        "is a Java KeyStore (JKS/JCEKS), which this proxy cannot read; convert it \
                         with `keytool -importkeystore -srckeystore {path} -destkeystore {path}.p12 \
                         -deststoretype PKCS12` and set `{type_key}=PKCS12`",
                        path = store.path.display()
                    ),
                ))
            } else if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
                Err(invalid(
                    store,
                    &format!("is a PEM file; set `{type_key}=PEM`"),
                ))
            } else {
                Ok(Format::Pkcs12)
            }
        }
    }
}

fn der(store: &StoreFile<'_>, cert: &X509Ref) -> Result<CertificateDer<'static>, TlsError> {
    cert.to_der()
        .map(CertificateDer::from)
        .map_err(|e| openssl_error(store, "has a certificate that cannot be encoded", e))
}

fn invalid(store: &StoreFile<'_>, reason: &str) -> TlsError {
    TlsError::Invalid {
        key: store.key,
        path: store.path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn openssl_error(
    store: &StoreFile<'_>,
    reason: &str,
    source: openssl::error::ErrorStack,
) -> TlsError {
    TlsError::Open {
        key: store.key,
        path: PathBuf::from(store.path),
        reason: reason.to_string(),
        source,
    }
}
