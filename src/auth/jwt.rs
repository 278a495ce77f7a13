//! Bearer tokens: verification of a JWT (RS256 or ES256) against public keys from a JWKS
//! document or a PEM file, with issuer, audience, expiry and not-before checks, and the
//! principal name and roles read from its claims.
//!
//! Pure functions over text and a clock value; reading the key files is the caller's
//! (`mod.rs`). No network fetch of keys.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use openssl::x509::X509;
use serde_json::Value;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a JWKS document (a JSON object with a `keys` array)")]
    NotJwks(#[source] serde_json::Error),
    #[error("the JWKS document has no RSA or P-256 signing key")]
    NoUsableKey,
    #[error("no PEM public key or certificate")]
    Pem(#[source] openssl::error::ErrorStack),
}

/// Why a token was refused. The variants name the check, never the token's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported signature algorithm (RS256 and ES256 are accepted)")]
    Algorithm,
    #[error("bad signature or unknown key")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token has no expiry")]
    NoExpiry,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("no principal claim")]
    NoPrincipal,
}

/// One verification key.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    key: PKey<Public>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("type", &self.key.id())
            .finish()
    }
}

/// Reads the RSA and P-256 signing keys of a JWKS document; keys of other types, curves or
/// uses are skipped.
pub fn jwks_keys(text: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    #[derive(serde::Deserialize)]
    struct Jwks {
        keys: Vec<Value>,
    }
    let jwks: Jwks = serde_json::from_str(text).map_err(KeyError::NotJwks)?;
    let keys: Vec<VerifyingKey> = jwks.keys.iter().filter_map(jwk_key).collect();
    if keys.is_empty() {
        return Err(KeyError::NoUsableKey);
    }
    Ok(keys)
}

fn jwk_key(jwk: &Value) -> Option<VerifyingKey> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let number = |name: &str| {
        let bytes = URL_SAFE_NO_PAD.decode(field(name)?).ok()?;
        BigNum::from_slice(&bytes).ok()
    };
    if field("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match field("kty")? {
        "RSA" => {
            let rsa = Rsa::from_public_components(number("n")?, number("e")?).ok()?;
            PKey::from_rsa(rsa).ok()?
        }
        "EC" if field("crv") == Some("P-256") => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok()?;
            let (x, y) = (number("x")?, number("y")?);
            let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
            ec.check_key().ok()?;
            PKey::from_ec_key(ec).ok()?
        }
        _ => return None,
    };
    Some(VerifyingKey {
        kid: field("kid").map(str::to_string),
        key,
    })
}

/// Reads a PEM public key (`BEGIN PUBLIC KEY`) or the key of a PEM certificate.
pub fn pem_key(text: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    let key = if text.contains("BEGIN CERTIFICATE") {
        X509::from_pem(text.as_bytes())
            .and_then(|cert| cert.public_key())
            .map_err(KeyError::Pem)?
    } else {
        PKey::public_key_from_pem(text.as_bytes()).map_err(KeyError::Pem)?
    };
    Ok(vec![VerifyingKey { kid: None, key }])
}

/// What a token must satisfy, and where its principal and roles are.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The `iss` the token must carry; `None` accepts any.
    pub issuer: Option<String>,
    /// A value the token's `aud` (a string or an array) must contain; `None` accepts any.
    pub audience: Option<String>,
    /// How far `exp` and `nbf` may be off the proxy's clock.
    pub clock_skew: Duration,
    /// The claim naming the principal (`sub` by default).
    pub principal_claim: String,
    /// The claim holding the roles, as a dotted path into nested objects
    /// (`realm_access.roles`): an array of strings or one space- or comma-separated string.
    pub roles_claim: String,
}

/// The principal a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub name: String,
    pub roles: Vec<String>,
}

/// Verifies `token` with `keys` and `rules` at `now` (seconds since the Unix epoch).
pub fn verify(
    token: &str,
    keys: &[VerifyingKey],
    rules: &Rules,
    now: u64,
) -> Result<Verified, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    let header: Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
    let signature = decode(signature)?;
    let alg = header.get("alg").and_then(Value::as_str);
    let kid = header.get("kid").and_then(Value::as_str);
    let signed = &token[..token.rfind('.').ok_or(TokenError::Malformed)?];
    let (expected_type, signature) = match alg {
        Some("RS256") => (Id::RSA, signature),
        Some("ES256") => (Id::EC, es256_der(&signature).ok_or(TokenError::Signature)?),
        _ => return Err(TokenError::Algorithm),
    };
    let candidates = keys.iter().filter(|k| {
        k.key.id() == expected_type && (kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
    });
    let mut verified = false;
    for candidate in candidates {
        if check_signature(&candidate.key, signed.as_bytes(), &signature) {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(TokenError::Signature);
    }
    let claims: Value =
        serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
    check_claims(&claims, rules, now)
}

fn check_signature(key: &PKey<Public>, signed: &[u8], signature: &[u8]) -> bool {
    Verifier::new(MessageDigest::sha256(), key)
        .and_then(|mut verifier| {
            verifier.update(signed)?;
            verifier.verify(signature)
        })
        .unwrap_or(false)
}

/// A JWT's ES256 signature is the raw `r || s` (32 bytes each); OpenSSL verifies DER.
fn es256_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let r = BigNum::from_slice(&raw[..32]).ok()?;
    let s = BigNum::from_slice(&raw[32..]).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

fn check_claims(claims: &Value, rules: &Rules, now: u64) -> Result<Verified, TokenError> {
    let skew = rules.clock_skew.as_secs();
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    let exp = time("exp").ok_or(TokenError::NoExpiry)?;
    // Seconds, possibly fractional; compared in whole seconds as the tolerance is.
    if (exp as u64).saturating_add(skew) <= now {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = time("nbf") {
        if (nbf as u64) > now.saturating_add(skew) {
            return Err(TokenError::NotYetValid);
        }
    }
    if let Some(issuer) = &rules.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(TokenError::Issuer);
        }
    }
    if let Some(audience) = &rules.audience {
        let matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !matches {
            return Err(TokenError::Audience);
        }
    }
    let name = claims
        .get(&rules.principal_claim)
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or(TokenError::NoPrincipal)?
        .to_string();
    let mut roles_value = Some(claims);
    for step in rules.roles_claim.split('.') {
        roles_value = roles_value.and_then(|v| v.get(step));
    }
    let roles = match roles_value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(text)) => text
            .split([' ', ','])
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Verified { name, roles })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::ec::EcKey;
    use openssl::pkey::Private;
    use openssl::sign::Signer;
    use serde_json::json;

    /// Signs `claims` with `key` as a JWT with algorithm `alg` and key id `kid`.
    pub fn sign(key: &PKey<Private>, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signer = Signer::new(MessageDigest::sha256(), key).expect("signer");
        signer.update(signed.as_bytes()).expect("update");
        let der = signer.sign_to_vec().expect("sign");
        let signature = if alg == "ES256" {
            let sig = EcdsaSig::from_der(&der).expect("ecdsa der");
            let mut raw = sig.r().to_vec_padded(32).expect("r");
            raw.extend(sig.s().to_vec_padded(32).expect("s"));
            raw
        } else {
            der
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    pub fn rsa_key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey")
    }

    pub fn ec_key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
        PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey")
    }

    /// The JWKS document of `keys` (`kid`, key).
    pub fn jwks(keys: &[(&str, &PKey<Private>)]) -> String {
        let b64 = |n: &openssl::bn::BigNumRef| URL_SAFE_NO_PAD.encode(n.to_vec());
        let entries: Vec<Value> = keys
            .iter()
            .map(|(kid, key)| match key.id() {
                Id::RSA => {
                    let rsa = key.rsa().expect("rsa");
                    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                           "n": b64(rsa.n()), "e": b64(rsa.e())})
                }
                _ => {
                    let ec = key.ec_key().expect("ec");
                    let mut ctx = openssl::bn::BigNumContext::new().expect("ctx");
                    let (mut x, mut y) = (BigNum::new().expect("x"), BigNum::new().expect("y"));
                    ec.public_key()
                        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                        .expect("coordinates");
                    json!({"kty": "EC", "crv": "P-256", "kid": kid,
                           "x": URL_SAFE_NO_PAD.encode(x.to_vec_padded(32).expect("x")),
                           "y": URL_SAFE_NO_PAD.encode(y.to_vec_padded(32).expect("y"))})
                }
            })
            .collect();
        json!({ "keys": entries }).to_string()
    }

    fn rules() -> Rules {
        Rules {
            issuer: Some("https://issuer.example".into()),
            audience: Some("kafka-rest".into()),
            clock_skew: Duration::from_secs(30),
            principal_claim: "sub".into(),
            roles_claim: "roles".into(),
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn claims() -> Value {
        json!({"sub": "alice", "iss": "https://issuer.example", "aud": ["other", "kafka-rest"],
               "exp": NOW + 60, "nbf": NOW - 60, "roles": ["producer", "reader"]})
    }

    #[test]
    fn rs256_and_es256_tokens_from_a_jwks_are_verified() {
        let (rsa, ec) = (rsa_key(), ec_key());
        let keys = jwks_keys(&jwks(&[("r1", &rsa), ("e1", &ec)])).expect("jwks");
        assert_eq!(keys.len(), 2);
        for token in [
            sign(&rsa, "RS256", Some("r1"), &claims()),
            sign(&ec, "ES256", Some("e1"), &claims()),
            sign(&ec, "ES256", None, &claims()),
        ] {
            assert_eq!(
                verify(&token, &keys, &rules(), NOW),
                Ok(Verified {
                    name: "alice".into(),
                    roles: vec!["producer".into(), "reader".into()]
                })
            );
        }
    }

    #[test]
    fn a_pem_public_key_verifies_tokens() {
        let rsa = rsa_key();
        let pem = String::from_utf8(rsa.public_key_to_pem().expect("pem")).expect("utf8");
        let keys = pem_key(&pem).expect("pem key");
        let token = sign(&rsa, "RS256", Some("any"), &claims());
        assert!(verify(&token, &keys, &rules(), NOW).is_ok());
        assert!(pem_key("not a key").is_err());
    }

    #[test]
    fn forged_or_unknown_algorithm_tokens_are_refused() {
        let (rsa, other) = (rsa_key(), rsa_key());
        let keys = jwks_keys(&jwks(&[("r1", &rsa)])).expect("jwks");
        let foreign = sign(&other, "RS256", Some("r1"), &claims());
        assert_eq!(
            verify(&foreign, &keys, &rules(), NOW),
            Err(TokenError::Signature)
        );
        // Claims swapped under a valid signature.
        let token = sign(&rsa, "RS256", Some("r1"), &claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims();
        evil["sub"] = json!("mallory");
        let evil = URL_SAFE_NO_PAD.encode(evil.to_string());
        parts[1] = &evil;
        assert_eq!(
            verify(&parts.join("."), &keys, &rules(), NOW),
            Err(TokenError::Signature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert_eq!(
            verify(&none, &keys, &rules(), NOW),
            Err(TokenError::Algorithm)
        );
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(verify(garbage, &keys, &rules(), NOW).is_err(), "{garbage}");
        }
        // An RSA key cannot verify an ES256 token, nor the other way round.
        let ec = ec_key();
        let es = sign(&ec, "ES256", None, &claims());
        assert_eq!(
            verify(&es, &keys, &rules(), NOW),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn expiry_not_before_issuer_and_audience_are_checked_with_bounded_skew() {
        let rsa = rsa_key();
        let keys = jwks_keys(&jwks(&[("r1", &rsa)])).expect("jwks");
        let check = |edit: &dyn Fn(&mut Value), now: u64| {
            let mut c = claims();
            edit(&mut c);
            verify(&sign(&rsa, "RS256", None, &c), &keys, &rules(), now)
        };
        // Expired 20 s ago: inside the 30 s skew. 40 s ago: refused.
        assert!(check(&|_| {}, NOW + 80).is_ok());
        assert_eq!(check(&|_| {}, NOW + 100), Err(TokenError::Expired));
        assert_eq!(
            check(&|c| c["nbf"] = json!(NOW + 100), NOW),
            Err(TokenError::NotYetValid)
        );
        assert!(check(&|c| c["nbf"] = json!(NOW + 20), NOW).is_ok());
        assert_eq!(
            check(
                &|c| c
                    .as_object_mut()
                    .map(|o| o.remove("exp"))
                    .map_or((), |_| ()),
                NOW
            ),
            Err(TokenError::NoExpiry)
        );
        assert_eq!(
            check(&|c| c["iss"] = json!("https://evil.example"), NOW),
            Err(TokenError::Issuer)
        );
        assert_eq!(
            check(&|c| c["aud"] = json!("other"), NOW),
            Err(TokenError::Audience)
        );
        assert!(check(&|c| c["aud"] = json!("kafka-rest"), NOW).is_ok());
        assert_eq!(
            check(&|c| c["sub"] = json!(""), NOW),
            Err(TokenError::NoPrincipal)
        );
    }

    #[test]
    fn roles_come_from_the_configured_claim() {
        let rsa = rsa_key();
        let keys = jwks_keys(&jwks(&[("r1", &rsa)])).expect("jwks");
        let mut rules = rules();
        rules.roles_claim = "realm_access.roles".into();
        let mut c = claims();
        c["realm_access"] = json!({"roles": ["admin"]});
        let token = sign(&rsa, "RS256", None, &c);
        assert_eq!(
            verify(&token, &keys, &rules, NOW).map(|v| v.roles),
            Ok(vec!["admin".to_string()])
        );
        rules.roles_claim = "scope".into();
        c["scope"] = json!("produce consume");
        let token = sign(&rsa, "RS256", None, &c);
        assert_eq!(
            verify(&token, &keys, &rules, NOW).map(|v| v.roles),
            Ok(vec!["produce".to_string(), "consume".to_string()])
        );
        rules.roles_claim = "missing".into();
        assert_eq!(
            verify(&token, &keys, &rules, NOW).map(|v| v.roles),
            Ok(vec![])
        );
    }

    #[test]
    fn jwks_without_usable_keys_is_an_error() {
        assert!(matches!(jwks_keys("{}"), Err(KeyError::NotJwks(_))));
        assert!(matches!(
            jwks_keys(r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#),
            Err(KeyError::NoUsableKey)
        ));
    }
}
