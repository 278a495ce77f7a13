//! Content negotiation for the v2 API: parsing `Accept` and `Content-Type`, and choosing the
//! reader and response type of a records call (`docs/decisions.md` §15).
//!
//! Pure functions over header values; handlers call them before any service call. `Accept` is
//! read by the one parser of the generated crate's support (`support::accept`), which the
//! negotiation layer in `api/mod.rs` uses too, so both agree on every header.

use kafka_rest_api::support::accept::{self, quality};

use crate::error::{ProxyError, V2_JSON};
use crate::records::EmbeddedFormat;

fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The types a consumer control call may answer with or be sent as: the v2 type, the five
/// embedded types and `application/json`.
fn control_types() -> impl Iterator<Item = &'static str> {
    [V2_JSON, "application/json"].into_iter().chain(
        EmbeddedFormat::ALL
            .into_iter()
            .map(EmbeddedFormat::media_type),
    )
}

/// A control call (everything but records) answers `application/vnd.kafka.v2+json`; the
/// client must accept that, one of the embedded types or `application/json`, or anything.
pub fn check_control_accept(accept: Option<&str>) -> Result<(), ProxyError> {
    let Some(ranges) = accept::parse(accept) else {
        return Ok(());
    };
    if control_types().any(|t| quality(&ranges, t).is_some()) {
        Ok(())
    } else {
        Err(ProxyError::NotAcceptable)
    }
}

/// A control call's body may come as the v2 type, an embedded type, `application/json`, or
/// without a type.
pub fn check_control_content_type(content_type: Option<&str>) -> Result<(), ProxyError> {
    let Some(ct) = content_type.filter(|c| !c.trim().is_empty()) else {
        return Ok(());
    };
    let ct = essence(ct);
    if control_types().any(|t| t == ct) {
        Ok(())
    } else {
        Err(ProxyError::UnsupportedMediaType)
    }
}

/// What a records call's `Accept` selects: the reader format and the response media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsType {
    pub format: EmbeddedFormat,
    pub media_type: &'static str,
}

/// Chooses the reader of a records call. No `Accept`, `*/*`, the binary type or the plain v2
/// type read binary; an embedded type reads that format. When several are acceptable the most
/// specific match wins, then the client's `q`, then Confluent's server weights (binary 1, v2
/// 0.9, the others 0.1). Nothing acceptable is `406`.
///
/// When the client names several embedded types explicitly (generated SDKs send all five in
/// one `Accept`) and one of them has the reader of the instance (`instance`), that one is used,
/// as the contract says; wildcards and the plain v2 type keep meaning binary
/// (`docs/decisions.md` §15).
pub fn negotiate_records(
    accept: Option<&str>,
    instance: Option<EmbeddedFormat>,
) -> Result<RecordsType, ProxyError> {
    let binary = RecordsType {
        format: EmbeddedFormat::Binary,
        media_type: EmbeddedFormat::Binary.media_type(),
    };
    let Some(ranges) = accept::parse(accept) else {
        return Ok(binary);
    };
    let mut offers: Vec<(RecordsType, f32)> = vec![
        (binary, 1.0),
        (
            RecordsType {
                format: EmbeddedFormat::Binary,
                media_type: V2_JSON,
            },
            0.9,
        ),
    ];
    for format in EmbeddedFormat::ALL
        .into_iter()
        .filter(|f| *f != EmbeddedFormat::Binary)
    {
        offers.push((
            RecordsType {
                format,
                media_type: format.media_type(),
            },
            0.1,
        ));
    }
    let acceptable: Vec<(RecordsType, u8, f32, f32)> = offers
        .into_iter()
        .filter_map(|(offer, qs)| {
            quality(&ranges, offer.media_type).map(|(spec, q)| (offer, spec, q, qs))
        })
        .collect();
    let best = |candidates: &mut dyn Iterator<Item = &(RecordsType, u8, f32, f32)>| {
        candidates
            .max_by(|a, b| {
                a.1.cmp(&b.1)
                    .then(a.2.total_cmp(&b.2))
                    .then(a.3.total_cmp(&b.3))
            })
            .map(|(offer, ..)| *offer)
    };
    if let Some(instance) = instance {
        let named_for_instance = best(&mut acceptable.iter().filter(|(offer, spec, ..)| {
            *spec == 2
                && offer.media_type != V2_JSON
                && offer.format.reader_class() == instance.reader_class()
        }));
        if let Some(offer) = named_for_instance {
            return Ok(offer);
        }
    }
    best(&mut acceptable.iter()).ok_or(ProxyError::NotAcceptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(accept: Option<&str>) -> Option<(EmbeddedFormat, &'static str)> {
        negotiate_records(accept, None)
            .ok()
            .map(|t| (t.format, t.media_type))
    }

    const BINARY: &str = "application/vnd.kafka.binary.v2+json";
    const JSON: &str = "application/vnd.kafka.json.v2+json";

    #[test]
    fn records_pick_the_named_type_of_the_instance_among_several() {
        let all = "application/vnd.kafka.binary.v2+json, application/vnd.kafka.json.v2+json, \
                   application/vnd.kafka.avro.v2+json, application/vnd.kafka.jsonschema.v2+json, \
                   application/vnd.kafka.protobuf.v2+json";
        let pick = |accept: &str, instance| {
            negotiate_records(Some(accept), Some(instance))
                .ok()
                .map(|t| (t.format, t.media_type))
        };
        assert_eq!(
            pick(all, EmbeddedFormat::Json),
            Some((EmbeddedFormat::Json, EmbeddedFormat::Json.media_type()))
        );
        assert_eq!(
            pick(all, EmbeddedFormat::Protobuf).map(|p| p.0.reader_class()),
            Some(EmbeddedFormat::Protobuf.reader_class())
        );
        assert_eq!(
            pick(all, EmbeddedFormat::Binary).map(|p| p.0),
            Some(EmbeddedFormat::Binary)
        );
        // Wildcards and the plain v2 type still mean binary, whatever the instance.
        assert_eq!(
            pick("*/*", EmbeddedFormat::Json).map(|p| p.0),
            Some(EmbeddedFormat::Binary)
        );
        assert_eq!(
            pick("application/vnd.kafka.v2+json", EmbeddedFormat::Json).map(|p| p.0),
            Some(EmbeddedFormat::Binary)
        );
    }

    #[test]
    fn records_default_to_binary() {
        assert_eq!(reader(None), Some((EmbeddedFormat::Binary, BINARY)));
        assert_eq!(reader(Some("")), Some((EmbeddedFormat::Binary, BINARY)));
        assert_eq!(reader(Some("*/*")), Some((EmbeddedFormat::Binary, BINARY)));
        assert_eq!(
            reader(Some("application/*")),
            Some((EmbeddedFormat::Binary, BINARY))
        );
        assert_eq!(reader(Some(BINARY)), Some((EmbeddedFormat::Binary, BINARY)));
        assert_eq!(
            reader(Some("application/vnd.kafka.v2+json")),
            Some((EmbeddedFormat::Binary, "application/vnd.kafka.v2+json"))
        );
    }

    #[test]
    fn records_pick_the_embedded_type_asked_for() {
        assert_eq!(reader(Some(JSON)), Some((EmbeddedFormat::Json, JSON)));
        assert_eq!(
            reader(Some("Application/VND.kafka.json.v2+JSON; charset=utf-8")),
            Some((EmbeddedFormat::Json, JSON))
        );
        assert_eq!(
            reader(Some("application/vnd.kafka.avro.v2+json")),
            Some((EmbeddedFormat::Avro, "application/vnd.kafka.avro.v2+json"))
        );
        // An exact type beats a wildcard; then q decides.
        assert_eq!(
            reader(Some("*/*, application/vnd.kafka.json.v2+json")),
            Some((EmbeddedFormat::Json, JSON))
        );
        assert_eq!(
            reader(Some(
                "application/vnd.kafka.json.v2+json;q=0.5, application/vnd.kafka.binary.v2+json"
            )),
            Some((EmbeddedFormat::Binary, BINARY))
        );
    }

    #[test]
    fn records_refuse_what_they_cannot_produce() {
        assert_eq!(reader(Some("text/html")), None);
        assert_eq!(reader(Some("application/json")), None);
        assert_eq!(reader(Some("application/vnd.kafka.json.v2+json;q=0")), None);
    }

    #[test]
    fn control_calls_accept_the_v2_family_json_or_anything() {
        for ok in [
            None,
            Some(""),
            Some("*/*"),
            Some("application/json"),
            Some("application/vnd.kafka.v2+json"),
            Some("application/vnd.kafka.protobuf.v2+json"),
            Some("text/html, application/*;q=0.1"),
        ] {
            assert!(check_control_accept(ok).is_ok(), "{ok:?}");
        }
        for bad in [Some("text/html"), Some("application/xml"), Some("*/*;q=0")] {
            assert!(
                matches!(check_control_accept(bad), Err(ProxyError::NotAcceptable)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn control_bodies_come_as_json_types() {
        for ok in [
            None,
            Some("application/vnd.kafka.v2+json"),
            Some("application/json; charset=utf-8"),
            Some("application/vnd.kafka.binary.v2+json"),
        ] {
            assert!(check_control_content_type(ok).is_ok(), "{ok:?}");
        }
        assert!(matches!(
            check_control_content_type(Some("text/plain")),
            Err(ProxyError::UnsupportedMediaType)
        ));
    }
}
