//! The subject of a client certificate as an RFC 4514 distinguished name
//! (`CN=alice,OU=Sales,O=Example`), the form Java's `X500Principal.getName()` gives and the
//! authentication layer maps to a principal.
//!
//! This module owns only the reading of the subject out of the DER certificate (a few
//! structures of X.509, read without a general ASN.1 library) and its rendering. The certificate
//! has already been verified by rustls against the truststore when it gets here; anything that
//! does not parse is `None`, never a panic.

use std::fmt::Write;

/// DER tags this reader needs.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;

/// The subject of a DER certificate in RFC 4514 form; `None` when the certificate does not
/// have the X.509 shape.
pub(crate) fn subject_of(certificate: &[u8]) -> Option<String> {
    let (cert, _) = expect(certificate, SEQUENCE)?;
    let (mut tbs, _) = expect(cert, SEQUENCE)?;
    // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity,
    // subject, ...
    if tbs.first() == Some(&VERSION) {
        tbs = tlv(tbs)?.rest;
    }
    let (_, rest) = expect(tbs, INTEGER)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (_, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    name(subject)
}

/// Renders the content of an X.501 `Name` (a sequence of relative distinguished names):
/// the last RDN first, RDNs joined with `,`, the attributes of one RDN with `+` (RFC 4514 §2.1).
fn name(mut content: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    while !content.is_empty() {
        let (mut set, rest) = expect(content, SET)?;
        content = rest;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let (attribute, rest) = expect(set, SEQUENCE)?;
            set = rest;
            attributes.push(attribute_type_and_value(attribute)?);
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// `type=value`: the short name and the escaped string for the types RFC 4514 names, else the
/// dotted OID and `#` with the hex of the value's DER encoding (RFC 4514 §2.3, §2.4).
fn attribute_type_and_value(content: &[u8]) -> Option<String> {
    let (oid, rest) = expect(content, OID)?;
    let value = tlv(rest)?;
    let oid = dotted(oid)?;
    let short = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.6" => Some("C"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (short, string_value(value.tag, value.content)) {
        (Some(short), Some(text)) => Some(format!("{short}={}", escape(&text))),
        _ => {
            let mut out = format!("{oid}=#");
            for byte in value.whole {
                // Writing to a String cannot fail.
                let _ = write!(out, "{byte:02x}");
            }
            Some(out)
        }
    }
}

/// The text of the ASN.1 string types a directory string may use; `None` for anything else.
fn string_value(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString.
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => String::from_utf8(content.to_vec()).ok(),
        // TeletexString: read as ISO-8859-1, as most implementations do.
        0x14 => Some(content.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1e => {
            if content.len() % 2 != 0 {
                return None;
            }
            let units = content
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        // UniversalString: UTF-32BE.
        0x1c => {
            if content.len() % 4 != 0 {
                return None;
            }
            content
                .chunks_exact(4)
                .map(|quad| {
                    char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                })
                .collect()
        }
        _ => None,
    }
}

/// RFC 4514 §2.4: a backslash before `"`, `+`, `,`, `;`, `<`, `>` and `\`, before a leading
/// space or `#` and a trailing space; NUL as `\00`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// The dotted form of an OID's content octets.
fn dotted(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &byte) in content.iter().enumerate() {
        value = value
            .checked_mul(128)?
            .checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                // The first subidentifier holds the first two arcs (X.690 §8.19.4).
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == content.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// One DER element: its tag, its content, the whole encoding, and what follows it.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
    rest: &'a [u8],
}

/// Reads one element with a single-byte tag and a definite length.
fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        // 0x80 (indefinite) is not DER; four length octets are more than a certificate needs.
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for &byte in input.get(2..2 + count)? {
            length = (length << 8) | usize::from(byte);
        }
        (length, 2 + count)
    };
    let end = header.checked_add(length)?;
    Some(Tlv {
        tag,
        content: input.get(header..end)?,
        whole: input.get(..end)?,
        rest: input.get(end..)?,
    })
}

/// Reads one element that must have `tag`; its content and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let element = tlv(input)?;
    (element.tag == tag).then_some((element.content, element.rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One attribute: OID content octets, value tag, value content.
    type Attribute<'a> = (&'a [u8], u8, &'a [u8]);

    /// The DER of an RDN sequence built by hand: each RDN a list of attributes.
    fn der_name(rdns: &[&[Attribute<'_>]]) -> Vec<u8> {
        fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(content.len() as u8);
            } else {
                out.push(0x82);
                out.extend_from_slice(&(content.len() as u16).to_be_bytes());
            }
            out.extend_from_slice(content);
            out
        }
        let mut sets = Vec::new();
        for rdn in rdns {
            let mut set = Vec::new();
            for (oid, tag, value) in *rdn {
                let mut attribute = wrap(OID, oid);
                attribute.extend(wrap(*tag, value));
                set.extend(wrap(SEQUENCE, &attribute));
            }
            sets.extend(wrap(SET, &set));
        }
        sets
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn names_render_last_rdn_first_with_short_types() {
        let der = der_name(&[
            &[(C, 0x13, b"DE")],
            &[(O, 0x0c, b"Example")],
            &[(OU, 0x0c, b"Sales"), (CN, 0x0c, b"alice")],
        ]);
        assert_eq!(
            name(&der).as_deref(),
            Some("OU=Sales+CN=alice,O=Example,C=DE")
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        let der = der_name(&[&[(CN, 0x0c, b" #a,b+c\"d\\e;<f> ")]]);
        assert_eq!(
            name(&der).as_deref(),
            Some(r#"CN=\ #a\,b\+c\"d\\e\;\<f\>\ "#)
        );
        let der = der_name(&[&[(CN, 0x0c, b"#x")]]);
        assert_eq!(name(&der).as_deref(), Some(r"CN=\#x"));
    }

    #[test]
    fn other_types_are_dotted_oids_with_hex_values() {
        let der = der_name(&[
            &[(EMAIL, 0x16, b"a@b")],
            &[(CN, 0x1e, &[0, b'b', 0x00, 0xe9])],
        ]);
        assert_eq!(
            name(&der).as_deref(),
            Some("CN=b\u{e9},1.2.840.113549.1.9.1=#1603614062")
        );
    }

    #[test]
    fn long_values_use_long_form_lengths() {
        let long = "x".repeat(300);
        let der = der_name(&[&[(CN, 0x0c, long.as_bytes())]]);
        assert_eq!(name(&der), Some(format!("CN={long}")));
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for input in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x05, 0x30, 0x03],
            &[0x30, 0xff],
            &[0x31, 0x03, 0x30, 0x01, 0x06],
        ] {
            assert_eq!(subject_of(input), None, "{input:?}");
        }
        // A name whose RDN holds something other than an attribute.
        assert_eq!(name(&[0x31, 0x02, 0x02, 0x00]), None);
        // An OID whose last octet says more follow.
        assert_eq!(dotted(&[0x55, 0x84]), None);
    }
}
