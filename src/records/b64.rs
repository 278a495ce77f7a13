//! Decoding the base64 of binary keys and values, in one table lookup per character.
//!
//! The `base64` crate's decoder costs about 11 instructions per character (1,470 for the 136
//! characters of a 100-byte value, a seventh of everything a binary record costs the proxy).
//! [`decode`] handles what clients send, valid standard base64 with or without its padding, in
//! a third of that; anything else (a character outside the alphabet, padding in the middle,
//! non-zero trailing bits, a length no encoder makes) it leaves to the crate, so that what is
//! accepted, and the message of what is refused, stay the crate's.

/// The value of each base64 character (standard alphabet) shifted to its place in a group of
/// four characters (24 bits), and [`INVALID`] for every other byte: OR-ing the four lookups of
/// a group gives its three bytes, or a number with the [`INVALID`] bit set.
static PLACED: [[u32; 256]; 4] = [placed(18), placed(12), placed(6), placed(0)];

const INVALID: u32 = 1 << 31;

const fn placed(shift: u32) -> [u32; 256] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = (i as u32) << shift;
        i += 1;
    }
    table
}

/// The 24 bits of up to four characters, with the [`INVALID`] bit set when one of them is
/// not a base64 character.
fn group(chars: &[u8]) -> u32 {
    chars
        .iter()
        .zip(&PLACED)
        .fold(0, |bits, (&c, table)| bits | table[usize::from(c)])
}

/// The bytes of `text`, standard base64 with or without its padding; `None` when `text` is
/// anything else, including base64 that only a lenient decoder accepts (non-zero trailing
/// bits).
pub(super) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let body = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] if text.len() % 4 == 0 => rest,
        _ => text,
    };
    let (quads, tail) = body.split_at(body.len() / 4 * 4);
    // The bytes of the last, partial group, and the bits past its end that an encoder leaves 0.
    let (tail_bytes, unused_bits) = match tail.len() {
        0 => (0, 0),
        2 => (1, 0xFFFF),
        3 => (2, 0xFF),
        _ => return None,
    };
    let whole = quads.len() / 4 * 3;
    let mut out = vec![0; whole + tail_bytes];
    let mut invalid = 0;
    // Two groups at a time: eight characters, six bytes.
    let octets = quads.chunks_exact(8);
    let odd_quad = octets.remainder();
    let mut sextets = out[..whole].chunks_exact_mut(6);
    for (chars, bytes) in octets.zip(&mut sextets) {
        let high = group(&chars[..4]);
        let low = group(&chars[4..]);
        invalid |= high | low;
        let bits = u64::from(high) << 24 | u64::from(low);
        bytes.copy_from_slice(&bits.to_be_bytes()[2..]);
    }
    let odd = group(odd_quad);
    invalid |= odd;
    sextets
        .into_remainder()
        .copy_from_slice(&odd.to_be_bytes()[4 - odd_quad.len() / 4 * 3..]);
    let last = group(tail);
    if (invalid | last) & INVALID != 0 || last & unused_bits != 0 {
        return None;
    }
    out[whole..].copy_from_slice(&last.to_be_bytes()[1..=tail_bytes]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;

    /// What the crate decides: padded, else unpadded.
    fn crate_decode(text: &[u8]) -> Option<Vec<u8>> {
        STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .ok()
    }

    /// A small deterministic generator (xorshift), so that failures repeat.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).expect("small")
        }
    }

    #[test]
    fn valid_base64_decodes_as_the_crate_decodes_it() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for len in 0..300 {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                for text in [STANDARD.encode(&bytes), STANDARD_NO_PAD.encode(&bytes)] {
                    assert_eq!(decode(text.as_bytes()), Some(bytes.clone()), "{text}");
                }
            }
        }
    }

    /// Every `Some` of [`decode`] is the crate's answer; a `None` sends the text to the crate.
    /// Texts made of base64 characters, padding and a few others, at every short length, and
    /// mutations of valid base64.
    #[test]
    fn whatever_it_accepts_the_crate_accepts_the_same() {
        let symbols = b"AQgw+/z9=a-_ \n.";
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for len in 0..12 {
            for _ in 0..2_000 {
                texts.push(
                    (0..len)
                        .map(|_| symbols[rng.below(symbols.len())])
                        .collect(),
                );
            }
        }
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            let mut text = STANDARD.encode(&bytes).into_bytes();
            if !text.is_empty() {
                let at = rng.below(text.len());
                text[at] = symbols[rng.below(symbols.len())];
            }
            texts.push(text);
        }
        let mut accepted = 0;
        for text in &texts {
            if let Some(bytes) = decode(text) {
                accepted += 1;
                assert_eq!(
                    crate_decode(text),
                    Some(bytes),
                    "{}",
                    String::from_utf8_lossy(text)
                );
            }
        }
        // The generator is not so lopsided that the comparison above is empty.
        assert!(accepted > 1_000, "only {accepted} texts accepted");
    }

    #[test]
    fn refuses_what_an_encoder_never_writes() {
        for text in [
            "A", "AB=C", "AB==C", "A===", "AB=", "AR==", "ABD=", "QQ", "QR", " QQ==",
        ] {
            // `None` leaves the text to the crate.
            if let Some(bytes) = decode(text.as_bytes()) {
                assert_eq!(Some(bytes), crate_decode(text.as_bytes()), "{text}");
            }
        }
        assert_eq!(decode(b"QQ"), Some(b"A".to_vec()));
        assert_eq!(decode(b"QR"), None, "non-zero trailing bits");
        assert_eq!(decode(b"QUI="), Some(b"AB".to_vec()));
        assert_eq!(decode(b"QUJ="), None, "non-zero trailing bits");
        assert_eq!(decode(b"A"), None);
        assert_eq!(decode(b""), Some(Vec::new()));
    }
}
