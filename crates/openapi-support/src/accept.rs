//! The one parser of `Accept` headers, and the matching of media ranges against the media
//! types an operation can answer in.
//!
//! Owns the reading of media ranges (with the `mime` crate) and their quality values; which
//! types an operation offers comes from the generated route tables, and what a server answers
//! when nothing is acceptable is the server's business.
//!
//! One rule for every malformed part, so that all callers agree: a range that is not a media
//! type is ignored, and a `q` that is not a number counts as `q=0` (not acceptable).

use std::str::FromStr;

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype` (with any `+suffix`), lower case, without parameters.
    pub essence: String,
    /// The quality, between 0 and 1.
    pub q: f32,
}

/// The media ranges of the `Accept` header values `values`. `None` when there is no header,
/// or only blank ones: the client accepts anything.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Vec<MediaRange>> {
    let mut any = false;
    let mut ranges = Vec::new();
    for value in values {
        for item in value.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            any = true;
            let Ok(mime) = mime::Mime::from_str(item) else {
                continue;
            };
            let q = match mime.get_param("q") {
                None => 1.0,
                Some(q) => q
                    .as_str()
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .map_or(0.0, |q| q.clamp(0.0, 1.0)),
            };
            ranges.push(MediaRange {
                essence: mime.essence_str().to_ascii_lowercase(),
                q,
            });
        }
    }
    any.then_some(ranges)
}

/// How specifically `range` matches the concrete type `media` (2 exact, 1 `type/*`, 0 `*/*`);
/// `None` when it does not match. `media` is compared case-insensitively.
pub fn specificity(range: &str, media: &str) -> Option<u8> {
    if range.eq_ignore_ascii_case(media) {
        return Some(2);
    }
    if range == "*/*" {
        return Some(0);
    }
    let (rtype, rsub) = range.split_once('/')?;
    let (mtype, _) = media.split_once('/')?;
    (rsub == "*" && rtype.eq_ignore_ascii_case(mtype)).then_some(1)
}

/// The client's quality for `media`: the specificity and `q` of the most specific range that
/// matches it, when that `q` is above 0.
pub fn quality(ranges: &[MediaRange], media: &str) -> Option<(u8, f32)> {
    ranges
        .iter()
        .filter_map(|r| specificity(&r.essence, media).map(|s| (s, r.q)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .filter(|(_, q)| *q > 0.0)
}

/// Whether the parsed header `ranges` admits one of `offered`; no header admits anything.
pub fn accepts_any(ranges: Option<&[MediaRange]>, offered: &[&str]) -> bool {
    match ranges {
        None => true,
        Some(ranges) => offered.iter().any(|o| quality(ranges, o).is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "application/vnd.kafka.v2+json";

    fn ok(header: Option<&str>, offered: &[&str]) -> bool {
        let ranges = parse(header);
        accepts_any(ranges.as_deref(), offered)
    }

    #[test]
    fn ranges_match_exactly_by_type_wildcard_or_anything() {
        let rows = [
            (None, true),
            (Some(""), true),
            (Some("*/*"), true),
            (Some("application/*"), true),
            (Some("application/vnd.kafka.v2+json"), true),
            (Some("Application/Vnd.Kafka.V2+Json; charset=utf-8"), true),
            (Some("text/html, application/*;q=0.5"), true),
            (Some("text/html"), false),
            (Some("text/*"), false),
            (Some("application/json"), false),
            (Some("application/vnd.kafka.v2+json;q=0"), false),
            (Some("*/*;q=0"), false),
            (Some("not a media type"), false),
        ];
        for (header, expected) in rows {
            assert_eq!(ok(header, &[V2]), expected, "{header:?}");
        }
    }

    #[test]
    fn a_q_that_is_not_a_number_is_not_acceptable() {
        assert!(!ok(Some("application/vnd.kafka.v2+json;q=abc"), &[V2]));
        assert!(!ok(Some("*/*; q=NaN"), &[V2]));
        assert!(ok(Some("*/*;q=abc, application/*;q=0.2"), &[V2]));
        assert_eq!(parse(Some("a/b;q=7")).map(|r| r[0].q), Some(1.0));
    }

    #[test]
    fn the_most_specific_range_decides_the_quality() {
        let ranges =
            parse(Some("*/*;q=0.1, application/vnd.kafka.v2+json;q=0")).unwrap_or_default();
        assert_eq!(quality(&ranges, V2), None);
        assert_eq!(quality(&ranges, "application/json"), Some((0, 0.1)));
        assert_eq!(specificity("application/*", "APPLICATION/json"), Some(1));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let ranges = parse(["text/html", "application/vnd.kafka.v2+json"]);
        assert!(accepts_any(ranges.as_deref(), &[V2]));
    }
}
