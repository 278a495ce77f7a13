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
    /// The verified credential itself, which principal pass-through hands to Kafka.
    pub credential: Credential,
}

/// The secret a principal proved itself with. Its `Debug` form hides the value, so a logged
/// principal never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The HTTP Basic password the password file accepted.
    Password(String),
    /// The bearer token (the JWT's compact form) whose signature was verified.
    Token(String),
    /// A certificate: nothing that Kafka's SASL mechanisms could take.
    None,
}

impl Credential {
    /// The secret, for the Kafka client that acts for the principal.
    pub fn expose(&self) -> Option<&str> {
        match self {
            Credential::Password(s) | Credential::Token(s) => Some(s),
            Credential::None => None,
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(***)",
            Credential::Token(_) => "Token(***)",
            Credential::None => "None",
        })
    }
}

/// The verified client certificate of the TLS connection a request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The certificate's subject as an RFC 4514 distinguished name, e.g. `CN=alice,O=Example`.
    pub subject: String,
}

tokio::task_local! {
    /// The principal of the request being served, set by the authentication layer around
    /// everything after it (`None` inside it for a request served without one).
    static CALLER: Option<Principal>;
}

/// Runs `f` (the rest of a request) as `principal`, for [`caller`].
///
/// A plain function, not an `async fn`: an `async fn` keeps its argument `f` in its own state
/// beside the scope future it was moved into, which doubled the size of every request's future
/// from this layer outwards (5 KiB more, copied at each move).
pub fn serve_as<F: std::future::Future>(
    principal: Option<Principal>,
    f: F,
) -> tokio::task::futures::TaskLocalFuture<Option<Principal>, F> {
    CALLER.scope(principal, f)
}

/// The principal of the request this task serves: `None` outside a request (a background task,
/// or any request of a proxy without authentication and access lists), `Some(None)` for a
/// request served without a principal. Principal pass-through reads it where a service acts
/// for the caller (`docs/decisions.md` §24).
pub fn caller() -> Option<Option<Principal>> {
    CALLER.try_with(Clone::clone).ok()
}
