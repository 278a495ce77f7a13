//! The `base_uri` of a new consumer instance: which authority the answer names, from the
//! advertised listeners, `host.name` and the request (the Confluent rules, `docs/decisions.md`
//! §C5 and §11). Pure string rules; the create handler supplies the request's scheme and host.

use poem::http::header;
use poem::Request;

use crate::config::{Config, Listener};

/// What the `base_uri` of a new instance is built from.
#[derive(Debug, Clone, Default)]
pub struct BaseUriRules {
    pub advertised_listeners: Vec<Listener>,
    pub host_name: String,
    pub listeners: Vec<Listener>,
    pub port: u16,
}

impl BaseUriRules {
    pub fn from_config(config: &Config) -> BaseUriRules {
        BaseUriRules {
            advertised_listeners: config.advertised_listeners.clone(),
            host_name: config.host_name.clone(),
            listeners: config.listeners.clone(),
            port: config.port,
        }
    }

    /// `<scheme>://<authority>/consumers/<group>/instances/<instance>`, where the authority is
    /// the first advertised listener of the request's scheme, else `host.name` (with the
    /// listener's port only when the request named a port), else the request's `Host`.
    /// Group and instance are not URL-encoded (as in Confluent).
    pub fn base_uri(&self, scheme: &str, host: &str, group: &str, instance: &str) -> String {
        let authority = self.authority(scheme, host);
        format!("{scheme}://{authority}/consumers/{group}/instances/{instance}")
    }

    /// The authority of absolute URLs the proxy answers with (consumer `base_uri`s, v3
    /// links): the first advertised listener of the request's scheme, else `host.name` (with
    /// the listener's port only when the request named a port), else the request's `Host`.
    pub fn authority(&self, scheme: &str, host: &str) -> String {
        if let Some(l) = self
            .advertised_listeners
            .iter()
            .find(|l| l.scheme.eq_ignore_ascii_case(scheme))
        {
            authority(&l.host, Some(l.port))
        } else if !self.host_name.is_empty() {
            let port = has_port(host).then(|| {
                self.listeners
                    .iter()
                    .rev()
                    .find(|l| l.scheme.eq_ignore_ascii_case(scheme))
                    .map_or(self.port, |l| l.port)
            });
            authority(&self.host_name, port)
        } else {
            host.to_string()
        }
    }
}

fn authority(host: &str, port: Option<u16>) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Whether a `Host` value carries an explicit port (`h:1`, `[::1]:1`, not `[::1]`).
fn has_port(host: &str) -> bool {
    let after_bracket = match host.rfind(']') {
        Some(i) => &host[i + 1..],
        None => host,
    };
    after_bracket
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// The authority the client used: the `Host` header, else the address it connected to.
pub(crate) fn request_host(req: &Request) -> String {
    match req.header(header::HOST.as_str()).filter(|h| !h.is_empty()) {
        Some(host) => host.to_string(),
        None => req
            .local_addr()
            .as_socket_addr()
            .map(ToString::to_string)
            .unwrap_or_else(|| "localhost".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(scheme: &str, host: &str, port: u16) -> Listener {
        Listener {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn base_uri_prefers_the_advertised_listener_of_the_request_scheme() {
        let rules = BaseUriRules {
            advertised_listeners: vec![
                listener("https", "secure.example", 443),
                listener("http", "proxy.example", 8082),
            ],
            host_name: "ignored.example".into(),
            listeners: vec![listener("http", "0.0.0.0", 8082)],
            port: 8082,
        };
        assert_eq!(
            rules.base_uri("http", "10.0.0.1:9999", "g", "i"),
            "http://proxy.example:8082/consumers/g/instances/i"
        );
    }

    #[test]
    fn base_uri_uses_host_name_with_a_port_only_when_the_request_had_one() {
        let rules = BaseUriRules {
            advertised_listeners: vec![listener("https", "secure.example", 443)],
            host_name: "rest.example".into(),
            listeners: vec![
                listener("http", "0.0.0.0", 8082),
                listener("http", "0.0.0.0", 8090),
            ],
            port: 7000,
        };
        assert_eq!(
            rules.base_uri("http", "10.0.0.1:1234", "g", "i"),
            "http://rest.example:8090/consumers/g/instances/i"
        );
        assert_eq!(
            rules.base_uri("http", "10.0.0.1", "g", "i"),
            "http://rest.example/consumers/g/instances/i"
        );
        let no_listener = BaseUriRules {
            listeners: vec![],
            ..rules
        };
        assert_eq!(
            no_listener.base_uri("http", "[::1]:1", "g", "i"),
            "http://rest.example:7000/consumers/g/instances/i"
        );
    }

    #[test]
    fn base_uri_falls_back_to_the_host_header_without_encoding() {
        let rules = BaseUriRules::default();
        assert_eq!(
            rules.base_uri("http", "127.0.0.1:8082", "my group", "a/b"),
            "http://127.0.0.1:8082/consumers/my group/instances/a/b"
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_and_ports_detected() {
        assert_eq!(authority("::1", Some(80)), "[::1]:80");
        assert!(has_port("[::1]:80"));
        assert!(!has_port("[::1]"));
        assert!(has_port("h:1"));
        assert!(!has_port("h"));
    }
}
