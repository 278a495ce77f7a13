//! The payload, parameter and value types the generated API crate (`kafka-rest-api`) is built
//! from, shared by every API document it holds, plus the run-time tables' types: the routes
//! and media types of each operation ([`routes`]), the one `Accept` parser ([`accept`]) and
//! the routing of `name:action` path segments ([`actions`]).
//!
//! This crate is hand-written and the same for every contract; `cargo xtask codegen` only
//! writes code that uses it. Each payload type does two jobs: it tells poem-openapi what to
//! write into the derived document (media types, schemas, whether a body is required) and it
//! decides how much poem does at run time. Request bodies and non-string parameters are
//! handed to the implementation undecoded, so the server keeps its own decoders, limits and
//! error codes; responses are serialized with serde, so field order and `null`s are exactly
//! what the models declare. Which answer a server gives to a failed negotiation is left to it.

pub mod accept;
pub mod actions;
pub mod routes;

use std::borrow::Cow;
use std::marker::PhantomData;

use poem::http::{header, HeaderValue, StatusCode};
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::{Deserialize, Serialize};

/// A media type of the contract, as a type (see each document's generated `media.rs`).
pub trait MediaType: Send + Sync + 'static {
    /// The media type, without parameters.
    const CONTENT_TYPE: &'static str;
}

/// What the contract says about one operation's request body.
pub trait RequestMedia: Send + Sync + 'static {
    /// Every media type the body is documented with, in contract order.
    const CONTENT_TYPES: &'static [&'static str];
    /// Whether the contract marks the body as required.
    const REQUIRED: bool;
    /// The body's description in the contract.
    const DESCRIPTION: Option<&'static str>;
}

/// The media types of a response that the server may send in more than one type.
pub trait ResponseMedia: Send + Sync + 'static {
    /// Every media type the response is documented with, in contract order.
    const CONTENT_TYPES: &'static [&'static str];
}

/// Whether `content_type` (parameters such as `charset` allowed) has the essence `expected`.
pub fn has_essence(content_type: &str, expected: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A JSON response body of type `T`, sent with the content type `M` and serialized with serde,
/// or written by the server itself ([`Vnd::encoded`]).
pub struct Vnd<M, T> {
    body: VndBody<T>,
    media: PhantomData<fn() -> M>,
}

enum VndBody<T> {
    Value(T),
    Encoded(Vec<u8>),
}

impl<M, T> Vnd<M, T> {
    /// Wraps a value to be sent.
    pub fn new(value: T) -> Self {
        Vnd {
            body: VndBody::Value(value),
            media: PhantomData,
        }
    }

    /// A body the server wrote itself, for answers so frequent that serde's generic path
    /// shows in their cost: the bytes must be what serde writes for a `T` (the server keeps a
    /// test comparing the two).
    pub fn encoded(json: Vec<u8>) -> Self {
        Vnd {
            body: VndBody::Encoded(json),
            media: PhantomData,
        }
    }

    /// The wrapped value; `None` for a body made by [`Vnd::encoded`].
    pub fn into_inner(self) -> Option<T> {
        match self.body {
            VndBody::Value(value) => Some(value),
            VndBody::Encoded(_) => None,
        }
    }
}

impl<M, T: std::fmt::Debug> std::fmt::Debug for Vnd<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Vnd").finish_non_exhaustive()
    }
}

impl<M: MediaType, T: Type + Serialize + Send> Payload for Vnd<M, T> {
    const CONTENT_TYPE: &'static str = M::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        has_essence(content_type, M::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<M: MediaType, T: Serialize + Send> IntoResponse for Vnd<M, T> {
    fn into_response(self) -> Response {
        let encoded = match self.body {
            VndBody::Encoded(json) => Ok(json),
            VndBody::Value(value) => serde_json::to_vec(&value),
        };
        match encoded {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, M::CONTENT_TYPE)
                .body(body),
            // The models hold strings, numbers, lists and string-keyed maps only, which serde
            // always serializes; this arm exists so that no request can panic the server.
            Err(_) => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .header(header::CONTENT_TYPE, M::CONTENT_TYPE)
                .body(r#"{"error_code":500,"message":"Internal Server Error"}"#),
        }
    }
}

/// A response body the server has already encoded, documented with every media type of `M`
/// and the schema of `T`; it is sent with the content type the server chose.
pub struct RawResponse<T, M> {
    content_type: HeaderValue,
    body: Body,
    schema: PhantomData<fn() -> (T, M)>,
}

impl<T, M> RawResponse<T, M> {
    /// A body in `content_type`, which should be one of `M::CONTENT_TYPES`.
    pub fn new(content_type: HeaderValue, body: impl Into<Body>) -> Self {
        RawResponse {
            content_type,
            body: body.into(),
            schema: PhantomData,
        }
    }
}

impl<T, M> std::fmt::Debug for RawResponse<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse").finish_non_exhaustive()
    }
}

impl<T: Type, M: ResponseMedia> poem_openapi::ResponseContent for RawResponse<T, M> {
    fn media_types() -> Vec<MetaMediaType> {
        M::CONTENT_TYPES
            .iter()
            .map(|content_type| MetaMediaType {
                content_type,
                schema: T::schema_ref(),
            })
            .collect()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send, M: Send> IntoResponse for RawResponse<T, M> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .body(self.body)
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// A request body handed over unread: the implementation checks the content type, reads the
/// bytes within its own limits and decodes them. In the document it is the schema `T` in every
/// media type of `M`, required or not as `M` says.
pub struct RawBody<T, M> {
    content_type: Option<String>,
    body: Body,
    schema: PhantomData<fn() -> (T, M)>,
}

impl<T, M> RawBody<T, M> {
    /// The request's `Content-Type` header, if it has one that is text.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The unread body.
    pub fn into_body(self) -> Body {
        self.body
    }
}

impl<'a, T: Type, M: RequestMedia> ApiExtractor<'a> for RawBody<T, M> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: M::DESCRIPTION,
            content: M::CONTENT_TYPES
                .iter()
                .map(|content_type| MetaMediaType {
                    content_type,
                    schema: T::schema_ref(),
                })
                .collect(),
            required: M::REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(RawBody {
            content_type: request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            body: body.take()?,
            schema: PhantomData,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters

/// A parameter documented as `T` that never fails to parse: the implementation gets either the
/// value or, when the text is not a valid `T`, that text, and answers with its own error code.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T> {
    value: Result<T, String>,
}

impl<T> Lenient<T> {
    /// The parsed value, or the text that did not parse.
    pub fn into_result(self) -> Result<T, String> {
        self.value
    }
}

impl<T: Type> Type for Lenient<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.value.as_ref().ok().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.value {
            Ok(value) => value.raw_element_iter(),
            Err(_) => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ParseFromParameter> ParseFromParameter for Lenient<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Lenient {
            value: T::parse_from_parameter(value).map_err(|_| value.to_owned()),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Values of the models

/// A value that must be present but may be `null` (`required` and `nullable: true`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nullable<T>(pub Option<T>);

impl<T> From<Option<T>> for Nullable<T> {
    fn from(value: Option<T>) -> Self {
        Nullable(value)
    }
}

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref().merge(MetaSchema {
            nullable: true,
            ..MetaSchema::ANY
        })
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            None | Some(serde_json::Value::Null) => Ok(Nullable(None)),
            value => T::parse_from_json(value)
                .map(|v| Nullable(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<serde_json::Value> {
        match &self.0 {
            Some(value) => value.to_json(),
            None => Some(serde_json::Value::Null),
        }
    }
}

/// Defines a string type whose schema carries an OpenAPI `format` poem-openapi has no type for.
macro_rules! formatted_string {
    ($(#[$doc:meta])* $name:ident, $format:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl Type for $name {
            const IS_REQUIRED: bool = true;

            type RawValueType = String;

            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                concat!("string_", $format).into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", $format)))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(std::iter::once(&self.0))
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
                match value {
                    Some(serde_json::Value::String(s)) => Ok($name(s)),
                    other => Err(ParseError::expected_type(other.unwrap_or_default())),
                }
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    };
}

formatted_string!(
    /// A string of `format: byte`: base64 text.
    ByteString,
    "byte"
);

formatted_string!(
    /// A string of `format: date-time`: an RFC 3339 instant, kept as text.
    DateTimeString,
    "date-time"
);

// ---------------------------------------------------------------------------------------------
// Objects are objects

/// The serde code derived for a model struct, as `#[serde(remote = "Self")]` leaves it: an
/// inherent function, so that the trait impl can wrap it (see [`object_serde!`]).
pub trait DerivedObject<'de>: Sized {
    fn derived<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Reads a model struct only from a JSON object. serde's derived code also takes a struct from
/// an array of its field values in order (`[null, "x"]`), which the documents do not allow
/// (`type: object`): a request body or field that is not an object is refused as malformed.
pub fn deserialize_object<'de, D, T>(deserializer: D, name: &'static str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DerivedObject<'de>,
{
    struct ObjectOnly<T>(PhantomData<T>, &'static str);

    impl<'de, T: DerivedObject<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an object ({})", self.1)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::derived(serde::de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly(PhantomData, name))
}

/// The serde impls of a generated model struct declared with `#[serde(remote = "Self")]`:
/// serialization as derived, deserialization as derived but from an object only.
#[macro_export]
macro_rules! object_serde {
    ($name:ident) => {
        $crate::object_deserialize!($name);

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                $name::serialize(self, serializer)
            }
        }
    };
}

/// The deserialization half of [`object_serde!`], for a struct that only derives `Deserialize`
/// (the request-body types of the generated `decode` modules).
#[macro_export]
macro_rules! object_deserialize {
    ($name:ident) => {
        impl<'de> $crate::DerivedObject<'de> for $name {
            fn derived<D: $crate::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                $name::deserialize(deserializer)
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                $crate::deserialize_object(deserializer, stringify!($name))
            }
        }
    };
}

#[doc(hidden)]
pub use serde as __serde;

#[cfg(test)]
mod object_tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(remote = "Self")]
    struct Inner {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        a: Option<String>,
    }
    crate::object_serde!(Inner);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(remote = "Self")]
    struct Outer {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inner: Option<super::Nullable<Inner>>,
    }
    crate::object_serde!(Outer);

    #[test]
    fn objects_are_read_and_written_as_derived() {
        let text = r#"{"id":"x","inner":{"a":"b"}}"#;
        let outer: Outer = serde_json::from_str(text).expect("an object");
        assert_eq!(
            outer.inner,
            Some(super::Nullable(Some(Inner {
                a: Some("b".into())
            })))
        );
        assert_eq!(serde_json::to_string(&outer).expect("serializes"), text);
        // `null` for an optional field reads as absent, as serde's `Option` does.
        let null: Outer = serde_json::from_str(r#"{"id":"x","inner":null}"#).expect("null");
        assert_eq!(null.inner, None);
    }

    #[test]
    fn an_array_is_not_an_object_at_any_depth() {
        let top = serde_json::from_str::<Outer>(r#"["x", null]"#).expect_err("array body");
        assert!(top.to_string().contains("an object (Outer)"), "{top}");
        let nested =
            serde_json::from_str::<Outer>(r#"{"id":"x","inner":[null]}"#).expect_err("array field");
        assert!(nested.to_string().contains("an object (Inner)"), "{nested}");
    }
}
