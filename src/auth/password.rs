//! HTTP Basic credentials: the password file in the format of Jetty's `HashLoginService` /
//! `PropertyFileLoginModule` (what Confluent deployments use), the JAAS configuration that names
//! such a file, and the check of one user name and password against it.
//!
//! Everything here is pure: reading the file from disk and reloading it are the caller's
//! (`mod.rs`), and nothing here knows about HTTP.
//!
//! A line is `user: password[,role...]` (Java properties syntax, so `=` works as well as `:`).
//! The password is stored in one of Jetty's forms: plain text, `OBF:` (Jetty's reversible
//! obfuscation), `MD5:` (hex digest) or `CRYPT:` (traditional Unix `crypt(3)`, as Jetty's
//! `UnixCrypt`).

use std::collections::BTreeMap;
use std::fmt;

use openssl::hash::{hash, MessageDigest};

/// Why a password file or a JAAS configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// The line number only: the parser's message could quote a password.
    #[error("malformed properties syntax at line {}", line.map_or("?".to_string(), |l| l.to_string()))]
    Syntax { line: Option<usize> },
    #[error("the file is not UTF-8")]
    NotUtf8,
    #[error("user {user:?}: malformed {form} password")]
    Malformed { user: String, form: &'static str },
    #[error("no section {realm:?} in the JAAS configuration")]
    NoRealm { realm: String },
    #[error(
        "the JAAS section {realm:?} has no PropertyFileLoginModule with a `file` option \
         (the only login module this proxy reads)"
    )]
    NoFile { realm: String },
    #[error("malformed JAAS configuration: {0}")]
    Jaas(String),
}

/// A stored password, in the form the file gave it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Plain text (also what an `OBF:` password decodes to).
    Plain(String),
    /// The MD5 digest of the password.
    Md5([u8; 16]),
    /// A traditional `crypt(3)` string: two salt characters and eleven hash characters.
    Crypt(String),
}

/// Never shows the password or its hash, so that a `{:?}` in a log line cannot leak it.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match self {
            Credential::Plain(_) => "Plain",
            Credential::Md5(_) => "Md5",
            Credential::Crypt(_) => "Crypt",
        };
        write!(f, "{form}(<redacted>)")
    }
}

impl Credential {
    /// Reads one stored password the way Jetty's `Credential.getCredential` does.
    pub fn parse(user: &str, stored: &str) -> Result<Credential, PasswordFileError> {
        let malformed = |form| PasswordFileError::Malformed {
            user: user.to_string(),
            form,
        };
        if let Some(hex) = stored.strip_prefix("MD5:") {
            let bytes = decode_hex(hex).ok_or_else(|| malformed("MD5"))?;
            let digest: [u8; 16] = bytes.try_into().map_err(|_| malformed("MD5"))?;
            Ok(Credential::Md5(digest))
        } else if let Some(crypted) = stored.strip_prefix("CRYPT:") {
            if crypted.len() != 13 || !crypted.bytes().all(is_crypt_char) {
                return Err(malformed("CRYPT"));
            }
            Ok(Credential::Crypt(crypted.to_string()))
        } else if let Some(obfuscated) = stored.strip_prefix("OBF:") {
            deobfuscate(obfuscated)
                .map(Credential::Plain)
                .ok_or_else(|| malformed("OBF"))
        } else {
            Ok(Credential::Plain(stored.to_string()))
        }
    }

    /// Whether `password` is this credential's password. Comparisons of secrets take the
    /// same time whatever the first differing byte.
    pub fn matches(&self, password: &str) -> bool {
        match self {
            Credential::Plain(stored) => same_secret(stored.as_bytes(), password.as_bytes()),
            Credential::Md5(digest) => hash(MessageDigest::md5(), password.as_bytes())
                .is_ok_and(|computed| openssl::memcmp::eq(&computed, digest)),
            Credential::Crypt(stored) => pwhash::unix_crypt::verify(password, stored),
        }
    }
}

/// Compares two secrets in constant time for a given length: both are hashed first, so that
/// neither their lengths nor their contents show in the time taken.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    match (
        hash(MessageDigest::sha256(), a),
        hash(MessageDigest::sha256(), b),
    ) {
        (Ok(a), Ok(b)) => openssl::memcmp::eq(&a, &b),
        _ => false,
    }
}

fn is_crypt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reverses Jetty's `Password.obfuscate`: four base-36 digits per byte, or `U` and four digits
/// for a byte that does not fit in seven bits. `None` when the text is not such an encoding.
pub fn deobfuscate(text: &str) -> Option<String> {
    let chars = text.as_bytes();
    let mut bytes = Vec::with_capacity(chars.len() / 4);
    let mut i = 0;
    while i < chars.len() {
        let wide = chars[i] == b'U';
        if wide {
            i += 1;
        }
        let digits = std::str::from_utf8(chars.get(i..i + 4)?).ok()?;
        let value = u32::from_str_radix(digits, 36).ok()?;
        let byte = if wide {
            u8::try_from(value >> 8).ok()?
        } else {
            let (high, low) = (value / 256, value % 256);
            u8::try_from((high + low).checked_sub(254)? / 2).ok()?
        };
        bytes.push(byte);
        i += 4;
    }
    String::from_utf8(bytes).ok()
}

/// Jetty's `Password.obfuscate`, the inverse of [`deobfuscate`]; used by the tests to make
/// fixtures the way Jetty's command-line tool does.
#[cfg(test)]
pub fn obfuscate(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    for i in 0..b.len() {
        let (b1, b2) = (b[i], b[b.len() - (i + 1)]);
        if b1 >= 128 || b2 >= 128 {
            let value = u32::from(b1) * 256 + u32::from(b2);
            out.push('U');
            out.push_str(&format!("{:0>4}", radix36(value)));
        } else {
            let i1 = 127 + u32::from(b1) + u32::from(b2);
            let i2 = 127 + u32::from(b1) - u32::from(b2);
            out.push_str(&format!("{:0>4}", radix36(i1 * 256 + i2)));
        }
    }
    out
}

#[cfg(test)]
fn radix36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// One user of the password file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub credential: Credential,
    pub roles: Vec<String>,
}

/// The users of one password file, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: BTreeMap<String, User>,
}

impl PasswordFile {
    /// Parses the file's text as Jetty's `PropertyUserStore` does: Java properties, each value
    /// `password[,role...]`, every part trimmed, empty roles dropped.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordFileError> {
        let entries =
            java_properties::read(text.as_bytes()).map_err(|e| PasswordFileError::Syntax {
                line: e.line_number(),
            })?;
        let mut users = BTreeMap::new();
        for (name, value) in entries {
            let name = name.trim().to_string();
            let value = value.trim();
            let (stored, roles) = match value.split_once(',') {
                Some((stored, roles)) => (stored.trim(), roles),
                None => (value, ""),
            };
            let roles = roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            let credential = Credential::parse(&name, stored)?;
            users.insert(name, User { credential, roles });
        }
        Ok(PasswordFile { users })
    }

    /// The roles of `user` when `password` is theirs; `None` for an unknown user or a wrong
    /// password (the caller cannot tell which, and neither can the client).
    pub fn check(&self, user: &str, password: &str) -> Option<&[String]> {
        match self.users.get(user) {
            Some(found) if found.credential.matches(password) => Some(&found.roles),
            Some(_) => None,
            None => {
                // Spend the time a known user's check takes, so that the answer's timing does
                // not tell whether a user exists.
                let _ = same_secret(user.as_bytes(), password.as_bytes());
                None
            }
        }
    }

    /// The roles of `user` (for principals proven by a certificate: the password is not used).
    pub fn roles(&self, user: &str) -> Option<&[String]> {
        self.users.get(user).map(|u| u.roles.as_slice())
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }
}

/// Finds the password file that a JAAS login configuration (the file Confluent's proxy reads
/// through `-Djava.security.auth.login.config`) gives to `realm`: the `file` option of the
/// section's `PropertyFileLoginModule`. Other login modules are not supported.
pub fn jaas_password_file(text: &str, realm: &str) -> Result<String, PasswordFileError> {
    let tokens = jaas_tokens(text)?;
    let mut at = 0;
    let next = |at: &mut usize| -> Option<JaasToken> {
        let token = tokens.get(*at).cloned();
        *at += 1;
        token
    };
    let bad = |what: &str| PasswordFileError::Jaas(what.to_string());
    while let Some(token) = next(&mut at) {
        let JaasToken::Word(section) = token else {
            return Err(bad("expected a section name"));
        };
        if next(&mut at) != Some(JaasToken::Open) {
            return Err(bad("expected `{` after a section name"));
        }
        let mut file = None;
        // Entries: `class flag (name=value)* ;` until `}`.
        loop {
            match next(&mut at) {
                Some(JaasToken::Close) => break,
                Some(JaasToken::Word(class)) => {
                    let Some(JaasToken::Word(_flag)) = next(&mut at) else {
                        return Err(bad("expected a control flag after a login module"));
                    };
                    loop {
                        match next(&mut at) {
                            Some(JaasToken::Semicolon) => break,
                            Some(JaasToken::Word(name)) => {
                                if next(&mut at) != Some(JaasToken::Equals) {
                                    return Err(bad("expected `=` after an option name"));
                                }
                                let Some(JaasToken::Word(value)) = next(&mut at) else {
                                    return Err(bad("expected an option value"));
                                };
                                let is_property_file =
                                    class.rsplit('.').next() == Some("PropertyFileLoginModule");
                                if is_property_file && name == "file" && file.is_none() {
                                    file = Some(value);
                                }
                            }
                            _ => return Err(bad("unterminated login module entry")),
                        }
                    }
                }
                _ => return Err(bad("unterminated section")),
            }
        }
        // A section may end with `};` or `}`.
        if tokens.get(at) == Some(&JaasToken::Semicolon) {
            at += 1;
        }
        if section == realm {
            return file.ok_or_else(|| PasswordFileError::NoFile {
                realm: realm.to_string(),
            });
        }
    }
    Err(PasswordFileError::NoRealm {
        realm: realm.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum JaasToken {
    Word(String),
    Open,
    Close,
    Semicolon,
    Equals,
}

/// Splits a JAAS configuration into words (bare or double-quoted), braces, `;` and `=`,
/// dropping `//`, `#` and `/* */` comments.
fn jaas_tokens(text: &str) -> Result<Vec<JaasToken>, PasswordFileError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '{' => tokens.push(JaasToken::Open),
            '}' => tokens.push(JaasToken::Close),
            ';' => tokens.push(JaasToken::Semicolon),
            '=' => tokens.push(JaasToken::Equals),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                let mut closed = false;
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    last = c;
                }
                if !closed {
                    return Err(PasswordFileError::Jaas("unterminated comment".into()));
                }
            }
            '"' => {
                let mut word = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                word.push(escaped);
                            }
                        }
                        c => word.push(c),
                    }
                }
                if !closed {
                    return Err(PasswordFileError::Jaas("unterminated string".into()));
                }
                tokens.push(JaasToken::Word(word));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "{};=\"".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(JaasToken::Word(word));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_passwords_and_roles_are_read_as_jetty_does() {
        let file = PasswordFile::parse(
            "# users\nalice: secret,producer, admin\nbob = hunter2\ncarol:pw,,reader,\n",
        )
        .expect("valid file");
        assert_eq!(file.len(), 3);
        assert_eq!(
            file.check("alice", "secret"),
            Some(&["producer".to_string(), "admin".to_string()][..])
        );
        assert_eq!(file.check("bob", "hunter2"), Some(&[][..]));
        assert_eq!(file.check("carol", "pw"), Some(&["reader".to_string()][..]));
        assert_eq!(file.check("alice", "Secret"), None);
        assert_eq!(file.check("alice", ""), None);
        assert_eq!(file.check("nobody", "secret"), None);
    }

    #[test]
    fn md5_passwords_compare_the_digest_in_either_case() {
        // md5("secret") = 5ebe2294ecd0e0f08eab7690d2a6ee69.
        let file = PasswordFile::parse(
            "a: MD5:5ebe2294ecd0e0f08eab7690d2a6ee69,r\nb: MD5:5EBE2294ECD0E0F08EAB7690D2A6EE69\n",
        )
        .expect("valid file");
        assert!(file.check("a", "secret").is_some());
        assert!(file.check("b", "secret").is_some());
        assert!(file.check("a", "secret2").is_none());
        assert!(PasswordFile::parse("a: MD5:5ebe22").is_err());
        assert!(PasswordFile::parse("a: MD5:zz").is_err());
    }

    #[test]
    fn crypt_passwords_are_traditional_unix_crypt() {
        // crypt("secret", "ab") as made by glibc's crypt(3).
        let crypted = "abNANd1rDfiNc";
        let file = PasswordFile::parse(&format!("a: CRYPT:{crypted},r\n")).expect("valid file");
        assert!(file.check("a", "secret").is_some());
        assert!(file.check("a", "secreT").is_none());
        assert!(PasswordFile::parse("a: CRYPT:short").is_err());
    }

    #[test]
    fn obf_passwords_are_jettys_obfuscation() {
        // Jetty's own tool prints OBF:1v2j1uum1xtv1zej1zer1xtn1uvk1v1v for "password".
        assert_eq!(
            deobfuscate("1v2j1uum1xtv1zej1zer1xtn1uvk1v1v").as_deref(),
            Some("password")
        );
        for text in ["secret", "a", "pässwörd with spaces", ""] {
            assert_eq!(deobfuscate(&obfuscate(text)).as_deref(), Some(text));
        }
        let file =
            PasswordFile::parse(&format!("a: OBF:{},r\n", obfuscate("secret"))).expect("valid");
        assert!(file.check("a", "secret").is_some());
        assert!(file.check("a", "OBF:").is_none());
        assert!(PasswordFile::parse("a: OBF:1v2").is_err());
        assert!(PasswordFile::parse("a: OBF:!!!!").is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let file = PasswordFile::parse("a: topsecret\nb: MD5:5ebe2294ecd0e0f08eab7690d2a6ee69\n")
            .expect("valid");
        let shown = format!("{file:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(!shown.contains("5ebe22"), "{shown}");
    }

    const JAAS: &str = r#"
        // The proxy's realm.
        KafkaRest {
            org.eclipse.jetty.jaas.spi.PropertyFileLoginModule required
            file="/etc/kafka-rest/password.properties"
            debug="true";
        };
        /* another application */
        Other {
            com.example.Module optional key=value;
            org.eclipse.jetty.jaas.spi.PropertyFileLoginModule sufficient file = "/other";
        }
    "#;

    #[test]
    fn jaas_sections_name_their_password_file() {
        assert_eq!(
            jaas_password_file(JAAS, "KafkaRest").expect("found"),
            "/etc/kafka-rest/password.properties"
        );
        assert_eq!(jaas_password_file(JAAS, "Other").expect("found"), "/other");
        assert!(matches!(
            jaas_password_file(JAAS, "Missing"),
            Err(PasswordFileError::NoRealm { .. })
        ));
        assert!(matches!(
            jaas_password_file("R { com.example.Ldap required url=\"x\"; };", "R"),
            Err(PasswordFileError::NoFile { .. })
        ));
        assert!(matches!(
            jaas_password_file("R { x required file=\"a\" ", "R"),
            Err(PasswordFileError::Jaas(_))
        ));
        assert!(matches!(
            jaas_password_file("R { x required file=\"a ; };", "R"),
            Err(PasswordFileError::Jaas(_))
        ));
    }
}
