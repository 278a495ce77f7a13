//! The untyped layer of the configuration: `key = value` pairs from a Confluent
//! `kafka-rest.properties` file, overridden by `KAFKA_REST_*` environment variables, each
//! remembering where it was set.
//!
//! This module owns the file syntax (delegated to the `java-properties` crate) and the naming of
//! the environment variables. It knows no key: which keys exist, their defaults and their types
//! are the table in `keys.rs`, read by `mod.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use java_properties::{LineContent, PropertiesIter};

use super::ConfigError;

/// Where a property value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a properties file.
    File { path: PathBuf, line: usize },
    /// An environment variable.
    Env { var: String },
    /// Set by the caller (tests, embedding), or a built-in default.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Code => write!(f, "built-in settings"),
        }
    }
}

/// A raw property with where it came from.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) value: String,
    pub(super) origin: Origin,
}

/// Properties from the file, overridden by the environment.
#[derive(Debug, Default, Clone)]
pub struct Properties {
    pub(super) entries: BTreeMap<String, Entry>,
}

/// `KAFKA_REST_*` variables that are not configuration keys: the log filter of `main.rs`, and
/// those of the development tooling and tests.
const PROCESS_ENV_VARS: &[&str] = &[
    "KAFKA_REST_LOG",
    "KAFKA_REST_CACHE",
    "KAFKA_REST_REQUIRE_STACK",
    "KAFKA_REST_REQUIRE_SECURE_STACK",
    "KAFKA_REST_REGISTRY_JAVA",
    "KAFKA_REST_STACK_BROKERS",
    "KAFKA_REST_STACK_PIDS",
    "KAFKA_REST_STACK_PORT_OFFSET",
];

impl Properties {
    /// Parses Java `.properties` text (the format of the Confluent config files): `#`/`!`
    /// comments, `=`, `:` or white space as separator, `\` line continuation and escapes.
    /// A malformed `\uXXXX` escape is an error, as in `java.util.Properties`.
    pub fn parse(text: &str, path: &Path) -> Result<Properties, ConfigError> {
        let mut props = Properties::default();
        // Compatibility case: `java.util.Properties.load(InputStream)` reads ISO-8859-1, but the
        // text here has already been read as UTF-8 (what editors write today, and what this
        // proxy has always read), so the parser is told UTF-8. Files that are pure ASCII with
        // `\uXXXX` escapes, the portable form, read the same either way.
        for line in PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8) {
            let line = line.map_err(|source| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: source.line_number().unwrap_or_default(),
                source,
            })?;
            let number = line.line_number();
            if let LineContent::KVPair(key, value) = line.consume_content() {
                props.entries.insert(
                    key,
                    Entry {
                        value,
                        origin: Origin::File {
                            path: path.to_path_buf(),
                            line: number,
                        },
                    },
                );
            }
        }
        Ok(props)
    }

    /// Reads and parses a properties file.
    pub fn from_file(path: &Path) -> Result<Properties, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Properties::parse(&text, path)
    }

    /// Applies `KAFKA_REST_*` variables, named as in Confluent's container images:
    /// `.` becomes `_`, `-` becomes `__` and `_` becomes `___`, upper case.
    pub fn apply_env<I, K, V>(&mut self, vars: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (var, value) in vars {
            let var = var.as_ref();
            // The proxy's own process settings, not configuration keys.
            if PROCESS_ENV_VARS.contains(&var) {
                continue;
            }
            if let Some(key) = env_var_to_key(var) {
                self.entries.insert(
                    key,
                    Entry {
                        value: value.as_ref().to_string(),
                        origin: Origin::Env {
                            var: var.to_string(),
                        },
                    },
                );
            }
        }
    }

    /// Sets one property from code (tests and embedding).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.entries.insert(
            key.to_string(),
            Entry {
                value: value.into(),
                origin: Origin::Code,
            },
        );
        self
    }

    pub(super) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }
}

/// `KAFKA_REST_BOOTSTRAP_SERVERS` -> `bootstrap.servers`; `None` for other variables.
pub fn env_var_to_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("KAFKA_REST_")?;
    if rest.is_empty() {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    let mut key = String::with_capacity(lower.len());
    let mut underscores = 0;
    let flush = |key: &mut String, n: usize| {
        // Runs of underscores: every `___` is `_`, then a `__` is `-`, then a `_` is `.`.
        let (triples, rest) = (n / 3, n % 3);
        key.extend(std::iter::repeat_n('_', triples));
        match rest {
            1 => key.push('.'),
            2 => key.push('-'),
            _ => {}
        }
    };
    for c in lower.chars() {
        if c == '_' {
            underscores += 1;
        } else {
            flush(&mut key, underscores);
            underscores = 0;
            key.push(c);
        }
    }
    flush(&mut key, underscores);
    Some(key)
}

/// The inverse of [`env_var_to_key`], used in error messages.
pub fn key_to_env_var(key: &str) -> String {
    let mut var = String::from("KAFKA_REST_");
    for c in key.chars() {
        match c {
            '.' => var.push('_'),
            '-' => var.push_str("__"),
            '_' => var.push_str("___"),
            c => var.push(c.to_ascii_uppercase()),
        }
    }
    var
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Properties {
        Properties::parse(text, Path::new("kafka-rest.properties")).expect("valid syntax")
    }

    #[test]
    fn properties_syntax_follows_java_properties() {
        let p = props(
            "# comment\n! also comment\n\n  a=1\nb : 2\nc 3\nd=multi\\\n   line\ne=tab\\tand\\u0041\nf=\n",
        );
        let get = |k: &str| p.get(k).map(|e| e.value.clone());
        assert_eq!(get("a").as_deref(), Some("1"));
        assert_eq!(get("b").as_deref(), Some("2"));
        assert_eq!(get("c").as_deref(), Some("3"));
        assert_eq!(get("d").as_deref(), Some("multiline"));
        assert_eq!(get("e").as_deref(), Some("tab\tandA"));
        assert_eq!(get("f").as_deref(), Some(""));
        assert_eq!(p.entries.len(), 6);
        // Errors point at the line where the value was written.
        let line = |k: &str| p.get(k).map(|e| e.origin.to_string());
        assert_eq!(line("c").as_deref(), Some("kafka-rest.properties:6"));
        assert_eq!(line("e").as_deref(), Some("kafka-rest.properties:9"));
    }

    #[test]
    fn utf8_values_and_escaped_separators_read_as_written() {
        let p = props("name=caf\u{e9}\npath\\=with\\:colon=x\n");
        assert_eq!(p.get("name").map(|e| e.value.as_str()), Some("caf\u{e9}"));
        assert_eq!(
            p.get("path=with:colon").map(|e| e.value.as_str()),
            Some("x")
        );
    }

    #[test]
    fn a_malformed_unicode_escape_is_an_error_naming_the_line() {
        let err = Properties::parse("a=1\nb=\\u00G1\n", Path::new("kafka-rest.properties"))
            .expect_err("malformed escape");
        let msg = err.to_string();
        assert!(msg.contains("kafka-rest.properties:2"), "{msg}");
    }

    #[test]
    fn env_names_map_like_confluent_images() {
        assert_eq!(
            env_var_to_key("KAFKA_REST_BOOTSTRAP_SERVERS").as_deref(),
            Some("bootstrap.servers")
        );
        assert_eq!(
            env_var_to_key("KAFKA_REST_CLIENT_SASL__MECHANISM").as_deref(),
            Some("client.sasl-mechanism")
        );
        assert_eq!(
            env_var_to_key("KAFKA_REST_SCHEMA___REGISTRY").as_deref(),
            Some("schema_registry")
        );
        assert_eq!(env_var_to_key("PATH"), None);
        assert_eq!(env_var_to_key("KAFKA_REST_"), None);
        for key in [
            "bootstrap.servers",
            "a-b.c_d",
            "consumer.request.timeout.ms",
        ] {
            assert_eq!(env_var_to_key(&key_to_env_var(key)).as_deref(), Some(key));
        }
    }
}
