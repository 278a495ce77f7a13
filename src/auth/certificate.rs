//! The principal name of a TLS client certificate: Kafka's `ssl.principal.mapping.rules`
//! applied to the certificate's subject distinguished name.
//!
//! Pure: the TLS listener verifies the certificate and hands over its subject; this module
//! only maps the name. Rules are tried in order and the first whose pattern matches the whole
//! subject gives the name: `RULE:pattern/replacement/` with an optional `L` or `U` (lower or
//! upper case) after the last `/`, and `DEFAULT` (the subject as it is).

use regex::Regex;

/// Why `ssl.principal.mapping.rules` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("malformed rule {0:?}: expected DEFAULT or RULE:pattern/replacement/[LU]")]
    Malformed(String),
    #[error("invalid pattern in rule {rule:?}")]
    Pattern {
        rule: String,
        #[source]
        source: regex::Error,
    },
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// The parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses a comma-separated rule list; an empty text means `DEFAULT`.
    pub fn parse(text: &str) -> Result<PrincipalMapper, RuleError> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) =
                    until_slash(after).ok_or_else(|| RuleError::Malformed(rest.to_string()))?;
                let (replacement, after) =
                    until_slash(after).ok_or_else(|| RuleError::Malformed(rest.to_string()))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, &after[1..]),
                    Some('U') => (Case::Upper, &after[1..]),
                    _ => (Case::Keep, after),
                };
                // The whole subject must match, as Java's `Matcher.matches()` requires.
                let anchored = format!("^(?:{pattern})$");
                let pattern = Regex::new(&anchored).map_err(|source| RuleError::Pattern {
                    rule: rest.to_string(),
                    source,
                })?;
                rules.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(&replacement),
                    case,
                });
                rest = after;
            } else {
                return Err(RuleError::Malformed(rest.to_string()));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(after) => rest = after.trim_start(),
                None if rest.is_empty() => {}
                None => return Err(RuleError::Malformed(rest.to_string())),
            }
        }
        if rules.is_empty() {
            rules.push(Rule::Default);
        }
        Ok(PrincipalMapper { rules })
    }

    /// The principal name of `subject`; `None` when no rule matches (the certificate is then
    /// refused, as Kafka refuses such a connection).
    pub fn map(&self, subject: &str) -> Option<String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Some(subject.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } => {
                    if pattern.is_match(subject) {
                        let name = pattern.replace(subject, replacement.as_str()).into_owned();
                        return Some(match case {
                            Case::Keep => name,
                            Case::Lower => name.to_lowercase(),
                            Case::Upper => name.to_uppercase(),
                        });
                    }
                }
            }
        }
        None
    }
}

/// The text up to the first unescaped `/` (backslash escapes kept for the regex, `\/` made
/// `/`), and what follows that slash.
fn until_slash(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Java's `$1` group references, written as `${1}` so that a following letter is not read as
/// part of the group name by the regex crate.
fn java_replacement(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                out.push_str("$$");
            } else {
                out.push_str(&format!("${{{digits}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_whole_subject() {
        let mapper = PrincipalMapper::parse("").expect("rules");
        assert_eq!(
            mapper.map("CN=alice,O=Example").as_deref(),
            Some("CN=alice,O=Example")
        );
    }

    #[test]
    fn kafka_style_rules_map_the_subject_in_order() {
        let mapper = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=([a-zA-Z]+),O=(.*)$/$1@$2/L,DEFAULT",
        )
        .expect("rules");
        assert_eq!(
            mapper.map("CN=svc,OU=ServiceUsers,O=Example").as_deref(),
            Some("svc")
        );
        assert_eq!(
            mapper.map("CN=Alice,O=Example").as_deref(),
            Some("alice@example")
        );
        assert_eq!(mapper.map("O=Other").as_deref(), Some("O=Other"));
        let strict = PrincipalMapper::parse("RULE:^CN=([^,]+).*$/$1/U").expect("rules");
        assert_eq!(strict.map("CN=bob,O=x").as_deref(), Some("BOB"));
        assert_eq!(strict.map("O=x"), None);
    }

    #[test]
    fn malformed_rules_are_errors() {
        assert!(PrincipalMapper::parse("RULE:abc").is_err());
        assert!(PrincipalMapper::parse("RULE:(/x/").is_err());
        assert!(PrincipalMapper::parse("NOPE").is_err());
        assert!(PrincipalMapper::parse("DEFAULT DEFAULT").is_err());
    }
}
