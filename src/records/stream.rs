//! The framing of a v3 produce body: a byte stream holding any number of JSON objects one
//! after the other (whitespace between them optional), cut into one slice per object as the
//! bytes arrive, and the plain key and value formats of a v3 record (`BINARY`, `STRING`,
//! `JSON`) turned into the bytes Kafka gets.
//!
//! Pure and incremental: [`JsonFramer`] is fed chunks of any size and scans each byte once, so
//! a stream costs time linear in its length, and it never holds more than one unfinished
//! object (at most the per-record limit) besides the objects already complete. Parsing an
//! object is left to the caller; the framer only finds where each one ends (braces and
//! brackets outside strings).

use bytes::{Buf, Bytes, BytesMut};

/// Why the framer stops: the stream cannot be cut into records past this point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A byte that cannot start a JSON object where one must start.
    #[error(
        "Error processing JSON: unexpected character {found:?} at byte {offset}, expected '{{'"
    )]
    Unexpected { found: char, offset: u64 },
    /// The body ended inside an object.
    #[error("Error processing JSON: unexpected end of input inside a record")]
    Truncated,
    /// One record is larger than the per-record limit.
    #[error("Produce request size is larger than allowed threshold ({limit} bytes)")]
    TooLarge { limit: usize },
}

/// An object [`JsonFramer::next_read`] handed out.
#[derive(Debug)]
pub enum Framed<T> {
    /// Read by the caller's reader; `len` bytes long.
    Read { value: T, len: usize },
    /// Left to the caller: the object's bytes.
    Object(Bytes),
}

/// Cuts a byte stream into JSON objects.
#[derive(Debug)]
pub struct JsonFramer {
    /// Bytes not yet handed out: whitespace, complete objects, and the unfinished one.
    buf: BytesMut,
    /// How far `buf` has been scanned.
    pos: usize,
    /// Whether `buf[0]` starts an object that is being scanned.
    in_object: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Bytes of the stream handed out or skipped before `buf[0]`, for error offsets.
    consumed: u64,
    /// Largest object (`api.v3.produce.request.size.limit.max.bytes`).
    max_object: usize,
    /// Set once an error was returned: the stream cannot be cut further, and nothing more is
    /// returned.
    failed: bool,
}

impl JsonFramer {
    pub fn new(max_object: usize) -> JsonFramer {
        JsonFramer {
            buf: BytesMut::new(),
            pos: 0,
            in_object: false,
            depth: 0,
            in_string: false,
            escaped: false,
            consumed: 0,
            max_object,
            failed: false,
        }
    }

    /// Adds the next bytes of the stream (dropped once the stream failed).
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete object, `None` when more bytes are needed, or why the stream cannot
    /// go on.
    pub fn next_object(&mut self) -> Option<Result<Bytes, FrameError>> {
        if self.failed {
            return None;
        }
        let next = self.scan();
        self.failed = matches!(next, Some(Err(_)));
        next
    }

    /// As [`JsonFramer::next_object`], but an object at the start of the unscanned bytes is
    /// first offered to `read` (with everything after it), which either reads it in full and
    /// says where it ends, or gives up (`None`, as when the bytes end inside the object); then
    /// the object is framed as usual. A reader that checks the object's syntax as it reads
    /// saves the framer's own walk over it.
    pub fn next_read<T>(
        &mut self,
        read: impl FnOnce(&[u8]) -> Option<(T, usize)>,
    ) -> Option<Result<Framed<T>, FrameError>> {
        if !self.failed && !self.in_object {
            let skipped = self.buf[self.pos..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let start = self.pos + skipped;
            if self.buf.get(start) == Some(&b'{') {
                if let Some((value, len)) = read(&self.buf[start..]) {
                    if len <= self.max_object {
                        self.buf.advance(start + len);
                        self.consumed += (start + len) as u64;
                        self.pos = 0;
                        return Some(Ok(Framed::Read { value, len }));
                    }
                }
            }
        }
        self.next_object().map(|r| r.map(Framed::Object))
    }

    fn scan(&mut self) -> Option<Result<Bytes, FrameError>> {
        if !self.in_object {
            let skipped = self.buf[self.pos..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            self.pos += skipped;
            let &b = self.buf.get(self.pos)?;
            // Whitespace before an object is dropped at once.
            self.buf.advance(self.pos);
            self.consumed += self.pos as u64;
            self.pos = 0;
            if b != b'{' {
                return Some(Err(FrameError::Unexpected {
                    found: char::from(b),
                    offset: self.consumed,
                }));
            }
            self.in_object = true;
            self.depth = 1;
            self.pos = 1;
        }
        // Inside an object: the state lives in locals while the bytes are walked, and a
        // string is crossed in one jump to its next quote or backslash.
        let bytes = &self.buf[..];
        let (mut pos, mut depth) = (self.pos, self.depth);
        let (mut in_string, mut escaped) = (self.in_string, self.escaped);
        let mut end = None;
        while pos < bytes.len() && pos <= self.max_object {
            if escaped {
                escaped = false;
                pos += 1;
            } else if in_string {
                match memchr::memchr2(b'"', b'\\', &bytes[pos..]) {
                    None => pos = bytes.len(),
                    Some(at) => {
                        pos += at;
                        if bytes[pos] == b'"' {
                            in_string = false;
                        } else {
                            escaped = true;
                        }
                        pos += 1;
                    }
                }
            } else {
                let b = bytes[pos];
                pos += 1;
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(pos);
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        (self.pos, self.depth) = (pos, depth);
        (self.in_string, self.escaped) = (in_string, escaped);
        if let Some(end) = end {
            let object = self.buf.split_to(end).freeze();
            self.consumed += end as u64;
            self.pos = 0;
            self.in_object = false;
            if object.len() > self.max_object {
                return Some(Err(FrameError::TooLarge {
                    limit: self.max_object,
                }));
            }
            return Some(Ok(object));
        }
        if self.pos > self.max_object {
            return Some(Err(FrameError::TooLarge {
                limit: self.max_object,
            }));
        }
        None
    }

    /// Whether nothing but whitespace is left (checked when the body has ended).
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.in_object && !self.failed {
            return Err(FrameError::Truncated);
        }
        match self.buf.iter().find(|b| !b.is_ascii_whitespace()) {
            None => Ok(()),
            Some(&b) => Err(FrameError::Unexpected {
                found: char::from(b),
                offset: self.consumed,
            }),
        }
    }
}

/// The plain formats of a v3 key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainFormat {
    Binary,
    String,
    Json,
}

impl PlainFormat {
    /// The name the request and the answer use.
    pub fn name(self) -> &'static str {
        match self {
            PlainFormat::Binary => "BINARY",
            PlainFormat::String => "STRING",
            PlainFormat::Json => "JSON",
        }
    }
}

/// The bytes of a plain key or value, from its `data` (JSON text; `None` or `null` is a Kafka
/// null). The error is the client's message.
pub fn encode_plain(format: PlainFormat, data: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    let Some(text) = data.filter(|t| t.trim() != "null") else {
        return Ok(None);
    };
    let string = || {
        serde_json::from_str::<String>(text)
            .map_err(|_| format!("data={} is not a string.", super::abbreviate(text)))
    };
    match format {
        PlainFormat::Binary => {
            let s = serde_json::from_str::<String>(text)
                .map_err(|_| format!("data={} is not a base64 string.", super::abbreviate(text)))?;
            super::decode_base64(&s)
                .map(Some)
                .map_err(|_| format!("data={} is not a base64 string.", super::abbreviate(text)))
        }
        PlainFormat::String => string().map(|s| Some(s.into_bytes())),
        PlainFormat::Json => super::json_bytes(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut JsonFramer) -> Vec<Result<String, FrameError>> {
        std::iter::from_fn(|| framer.next_object())
            .map(|r| r.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }

    #[test]
    fn objects_are_cut_wherever_the_chunks_end() {
        let body = br#" {"a":"}{\""} {"b":[1,{"c":2}]}{"d":null}
"#;
        for split in 1..body.len() {
            let mut framer = JsonFramer::new(1000);
            framer.push(&body[..split]);
            let mut got = frames(&mut framer);
            framer.push(&body[split..]);
            got.extend(frames(&mut framer));
            assert_eq!(
                got,
                vec![
                    Ok(r#"{"a":"}{\""}"#.to_string()),
                    Ok(r#"{"b":[1,{"c":2}]}"#.to_string()),
                    Ok(r#"{"d":null}"#.to_string()),
                ],
                "split at {split}"
            );
            assert_eq!(framer.finish(), Ok(()));
        }
    }

    #[test]
    fn objects_a_reader_takes_and_the_others_are_cut_in_order() {
        // The reader takes `{}` only, as a reader gives up on what it does not know.
        let empty = |b: &[u8]| b.starts_with(b"{}").then_some(((), 2));
        let body = b" {} {\"a\":\"{}\"}{}\n{\"b\":[{}]} x";
        // An object the chunk ends inside is the framer's to cut, whoever could read it.
        for split in 1..=body.len() {
            let mut framer = JsonFramer::new(1000);
            let (mut got, mut reads) = (Vec::new(), 0);
            for part in [&body[..split], &body[split..]] {
                framer.push(part);
                while let Some(next) = framer.next_read(empty) {
                    got.push(match next {
                        Ok(Framed::Read { len, .. }) => {
                            reads += 1;
                            assert_eq!(len, 2);
                            "{}".to_string()
                        }
                        Ok(Framed::Object(b)) => String::from_utf8_lossy(&b).into_owned(),
                        Err(e) => e.to_string(),
                    });
                }
            }
            assert_eq!(
                got,
                [
                    "{}",
                    r#"{"a":"{}"}"#,
                    "{}",
                    r#"{"b":[{}]}"#,
                    "Error processing JSON: unexpected character 'x' at byte 28, expected '{'",
                ],
                "split at {split}"
            );
            let cut = |at: usize| (at + 1..at + 2).contains(&split);
            assert_eq!(
                reads,
                2 - usize::from(cut(1)) - usize::from(cut(14)),
                "split at {split}"
            );
        }
        let mut framer = JsonFramer::new(1);
        framer.push(b"{}");
        assert!(matches!(
            framer.next_read(empty),
            Some(Err(FrameError::TooLarge { limit: 1 }))
        ));
    }

    #[test]
    fn a_stray_byte_a_cut_object_and_a_large_one_stop_the_stream() {
        let mut framer = JsonFramer::new(1000);
        framer.push(b"{} x");
        assert_eq!(
            frames(&mut framer)[1],
            Err(FrameError::Unexpected {
                found: 'x',
                offset: 3
            })
        );
        let mut framer = JsonFramer::new(1000);
        framer.push(b"{\"a\":");
        assert!(frames(&mut framer).is_empty());
        assert_eq!(framer.finish(), Err(FrameError::Truncated));
        let mut framer = JsonFramer::new(8);
        framer.push(b"{\"a\":\"0123456789\"}");
        assert_eq!(
            frames(&mut framer),
            vec![Err(FrameError::TooLarge { limit: 8 })]
        );
        let mut framer = JsonFramer::new(8);
        framer.push(b"{\"a\":1}");
        assert_eq!(frames(&mut framer).len(), 1);
    }

    #[test]
    fn plain_formats_write_their_bytes() {
        assert_eq!(
            encode_plain(PlainFormat::Binary, Some("\"aGk=\"")),
            Ok(Some(b"hi".to_vec()))
        );
        assert!(encode_plain(PlainFormat::Binary, Some("1"))
            .is_err_and(|e| e == "data=1 is not a base64 string."));
        assert_eq!(
            encode_plain(PlainFormat::String, Some("\"h\\u00e9\"")),
            Ok(Some("hé".as_bytes().to_vec()))
        );
        assert!(encode_plain(PlainFormat::String, Some("{}")).is_err());
        assert_eq!(
            encode_plain(PlainFormat::Json, Some("{ \"a\" : [1, 2] }")),
            Ok(Some(br#"{"a":[1,2]}"#.to_vec()))
        );
        assert_eq!(encode_plain(PlainFormat::Json, Some("null")), Ok(None));
        assert_eq!(encode_plain(PlainFormat::String, None), Ok(None));
    }
}
