//! Who a request comes from: the types the TLS listener and the authentication layer share.
//!
//! The TLS listener (when a client presented a certificate the truststore verified) attaches a
//! [`PeerCertificate`] to each request of that connection; the authentication layer turns a
//! verified credential (HTTP Basic, a bearer token, or that certificate) into a [`Principal`]
//! and attaches it to the request, where authorization, the access log and the Kafka clients
//! acting for the user read it. Neither the certificate checks nor the credential checks live
//! here.

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic against the configured password file.
    Basic,
    /// A bearer token (JWT) whose signature, issuer and audience were verified.
    Bearer,
    /// A TLS client certificate verified against the truststore.
    Certificate,
}

/// An authenticated user of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name (for a certificate: the principal its subject maps to).
    pub name: String,
    /// The roles the credential store grants the user.
    pub roles: Vec<String>,
    pub method: AuthMethod,
}

/// The verified client certificate of the TLS connection a request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The certificate's subject as an RFC 4514 distinguished name, e.g. `CN=alice,O=Example`.
    pub subject: String,
}
