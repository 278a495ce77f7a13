//! The common v3 record, read in one pass: `{"partition_id":..,"key":{..},"value":{..}}` with
//! plain (`BINARY`, `STRING`, `JSON`) keys and values, as most streamed records look.
//!
//! The general reader of a v3 record is the generated decoder (`decode_produce_record`)
//! followed by the checks and conversions of `api::v3::produce`: a serde pass that boxes the
//! data, then a second pass over the data to check and compact it. [`read_plain_record`]
//! does all of that in one walk over the bytes, with one allocation per key or value (its
//! bytes), and gives up (`None`) at the first thing outside the common shape: a field other
//! than `partition_id`, `key` and `value`, a side without a plain `type` or with schema
//! fields, an escape in a string, a number with an exponent, a negative or large partition,
//! a repeated field, deep nesting, any syntax error. The general reader then reads the record
//! from the start, so errors and rare shapes keep its exact answers.
//!
//! [`read_plain_body`] does the same for a v2 `binary` or `json` produce body, whose general
//! reader (`records::decode_produce_general`) walks each value three times: serde skips it in
//! the envelope, again in the record, and the JSON check walks it once more; and
//! [`read_plain_schema_body`] for a v2 schema-format body by schema ids, whose keys and values
//! stay JSON text for the schema codec.
//!
//! Invariant: whenever a reader of this module returns records, the general reader returns the
//! same records. The tests compare the two on generated and mutated input, and so does the
//! `plain_record` fuzz target.

use super::stream::PlainFormat;
use super::{ProduceRecord, SchemaBatch, SchemaRecord, SchemaRefs};

/// A record read by [`read_plain_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainRecord {
    pub partition: Option<i32>,
    /// `None`: no key was given (or `null`).
    pub key: Option<PlainSide>,
    pub value: Option<PlainSide>,
}

/// A plain key or value: its format and its bytes (`None`: a Kafka null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainSide {
    pub format: PlainFormat,
    pub bytes: Option<Vec<u8>>,
}

/// Nesting of a JSON value this reader takes; deeper values take the general reader (whose
/// own limit is about the same, see `records::json_bytes`).
const DEPTH_MAX: usize = 100;

/// Characters of one number this reader takes (as `records::json_bytes`'s quick path).
const NUMBER_MAX: usize = 300;

/// The record `object` holds (one complete JSON object, as the framer cuts it), or `None`
/// when the general reader must read it.
pub fn read_plain_record(object: &[u8]) -> Option<PlainRecord> {
    let (record, end) = read_plain_prefix(object)?;
    object[end..]
        .iter()
        .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .then_some(record)
}

/// The record of the JSON object `bytes` begin with, and where that object ends; `None` when
/// the general reader must read it, or when `bytes` end before it does (what follows the
/// object is not looked at).
pub fn read_plain_prefix(bytes: &[u8]) -> Option<(PlainRecord, usize)> {
    let mut r = Reader::new(bytes);
    r.ws();
    let (partition, key, value) = r.record(b"partition_id", Reader::side)?;
    Some((
        PlainRecord {
            partition,
            key,
            value,
        },
        r.at,
    ))
}

/// The records of a v2 `binary` or `json` produce body of the common shape,
/// `{"records":[{"key":..,"value":..,"partition":..},..]}` (no headers, no schema fields), or
/// `None` when the general reader (`records::decode_produce_general`) must read it. The same
/// invariant holds: where this gives records, the general reader gives the same ones.
pub fn read_plain_body(format: PlainFormat, body: &[u8]) -> Option<Vec<ProduceRecord>> {
    let mut r = Reader::new(body);
    r.ws();
    r.eat(b'{')?;
    r.ws();
    if r.key()? != b"records" {
        return None;
    }
    r.ws();
    let records = r.array(|r| r.v2_record(format))?;
    r.ws();
    r.eat(b'}')?;
    r.ws();
    (r.at == body.len()).then_some(records)
}

/// The records of a v2 schema-format (`avro`, `jsonschema`, `protobuf`) produce body of the
/// common shape, `{"value_schema_id":..,"key_schema_id":..,"records":[..]}` with schema ids
/// rather than schema text, each key and value kept as its JSON text for the schema codec; or
/// `None` when the general reader (`records::decode_schema_produce_general`) must read it.
pub fn read_plain_schema_body(body: &[u8]) -> Option<SchemaBatch> {
    let mut r = Reader::new(body);
    let (mut records, mut schemas) = (None, SchemaRefs::default());
    let mut seen = [false; 3];
    r.ws();
    r.object(|r, name| {
        let field = match name {
            b"records" => 0,
            b"key_schema_id" => 1,
            b"value_schema_id" => 2,
            _ => return None,
        };
        if std::mem::replace(&mut seen[field], true) {
            return None;
        }
        match field {
            0 => records = Some(r.array(|r| r.schema_record())?),
            1 => schemas.key_schema_id = r.partition()?,
            _ => schemas.value_schema_id = r.partition()?,
        }
        Some(())
    })?;
    r.ws();
    let records = records.filter(|r| !r.is_empty())?;
    (r.at == body.len()).then_some(SchemaBatch { records, schemas })
}

/// A position in the bytes of one JSON text, walked by the readers of this module (and by the
/// Avro codec's text encoder, `schema::avro::text`). Each method consumes what it reads, or
/// gives up (`None`) at anything outside the subset it takes.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    /// Whether [`Reader::ws`] skipped anything since this was last cleared.
    spaced: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader {
            b,
            at: 0,
            spaced: false,
        }
    }

    /// Whether every byte was read.
    pub(crate) fn at_end(&self) -> bool {
        self.at == self.b.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// Skips JSON whitespace.
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
            self.spaced = true;
        }
    }

    /// A field name and its colon (whitespace after the colon is left).
    pub(crate) fn key(&mut self) -> Option<&'a [u8]> {
        let name = self.string()?;
        self.ws();
        self.eat(b':')?;
        Some(name)
    }

    /// A string without escapes, its quotes consumed; the text between them, checked as
    /// UTF-8 without control characters (what serde_json refuses).
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        // The common string (printable ASCII, no escapes) ends at its first special byte: it
        // is taken here, and anything else by `string_rest`, kept out of line so that this
        // path stays short (most strings of a record are a few bytes long).
        let rest = match self.b.get(self.at..) {
            Some([b'"', rest @ ..]) => rest,
            _ => return None,
        };
        let end = plain_run(rest);
        if rest.get(end) == Some(&b'"') {
            self.at += end + 2;
            return Some(&rest[..end]);
        }
        self.at += 1;
        self.string_rest(end)
    }

    /// The rest of a string whose first `end` bytes after the opening quote (at `self.at`)
    /// are plain.
    #[inline(never)]
    fn string_rest(&mut self, mut end: usize) -> Option<&'a [u8]> {
        let rest = &self.b[self.at..];
        let mut ascii = true;
        loop {
            end += plain_run(&rest[end..]);
            match *rest.get(end)? {
                b'"' => break,
                c if c >= 0x80 => {
                    ascii = false;
                    end += 1;
                }
                // A backslash or a control character.
                _ => return None,
            }
        }
        let text = &rest[..end];
        if !ascii && std::str::from_utf8(text).is_err() {
            return None;
        }
        self.at += end + 1;
        Some(text)
    }

    /// `null`, consumed, or nothing consumed.
    pub(crate) fn null(&mut self) -> bool {
        let is = self.b[self.at..].starts_with(b"null");
        if is {
            self.at += 4;
        }
        is
    }

    /// A partition: `null`, or a non-negative number of at most 9 digits without a leading
    /// zero (so it fits an `i32` and serde_json reads it alike).
    fn partition(&mut self) -> Option<Option<i32>> {
        if self.null() {
            return Some(None);
        }
        let digits = self.b[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let text = &self.b[self.at..self.at + digits];
        if digits == 0 || digits > 9 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if matches!(self.b.get(self.at + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.at += digits;
        Some(Some(
            text.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0')),
        ))
    }

    /// A key or value: `null`, or an object of a plain `type` and its `data`.
    fn side(&mut self) -> Option<Option<PlainSide>> {
        if self.null() {
            return Some(None);
        }
        let (mut format, mut data) = (None, None);
        self.object(|r, name| {
            match name {
                b"type" if format.is_none() => {
                    format = Some(match r.string()? {
                        b"BINARY" => PlainFormat::Binary,
                        b"STRING" => PlainFormat::String,
                        b"JSON" => PlainFormat::Json,
                        _ => return None,
                    });
                }
                // The data is read once the type is known: JSON's is compacted, the others
                // are a string.
                b"data" if data.is_none() => {
                    let start = r.at;
                    r.spaced = false;
                    r.skip_value(0)?;
                    data = Some((start, r.at, r.spaced));
                }
                _ => return None,
            }
            Some(())
        })?;
        let format = format?;
        let bytes = match data {
            None => None,
            Some((start, end, spaced)) => plain_bytes(format, &self.b[start..end], spaced)?,
        };
        Some(Some(PlainSide { format, bytes }))
    }

    /// One record of a v2 body.
    fn v2_record(&mut self, format: PlainFormat) -> Option<ProduceRecord> {
        let (partition, key, value) = self.record(b"partition", |r| r.data(format))?;
        Some(ProduceRecord {
            key,
            value,
            partition,
            headers: Vec::new(),
            timestamp: None,
        })
    }

    /// One record of a v2 schema-format body: its key and value as JSON text.
    fn schema_record(&mut self) -> Option<SchemaRecord> {
        let text = |r: &mut Self| {
            if r.null() {
                return Some(None);
            }
            let start = r.at;
            r.skip_value(0)?;
            // The value's bytes are ASCII outside its strings and checked UTF-8 inside.
            Some(Some(
                std::str::from_utf8(&r.b[start..r.at]).ok()?.to_string(),
            ))
        };
        let (partition, key, value) = self.record(b"partition", text)?;
        Some(SchemaRecord {
            key,
            value,
            partition,
            headers: Vec::new(),
        })
    }

    /// An array of at least one element, each read by `element`.
    fn array<T>(&mut self, mut element: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        self.ws();
        let mut items = Vec::new();
        loop {
            items.push(element(self)?);
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    /// An object of a partition (the member `partition`), `key` and `value`, each at most once,
    /// a key and a value read by `side`; what is missing is `None`.
    fn record<T>(
        &mut self,
        partition: &[u8],
        mut side: impl FnMut(&mut Self) -> Option<Option<T>>,
    ) -> Option<(Option<i32>, Option<T>, Option<T>)> {
        let (mut number, mut key, mut value) = (None, None, None);
        let mut seen = [false; 3];
        self.object(|r, name| {
            let field = match name {
                b"key" => 1,
                b"value" => 2,
                _ if name == partition => 0,
                _ => return None,
            };
            if std::mem::replace(&mut seen[field], true) {
                return None;
            }
            match field {
                0 => number = r.partition()?,
                1 => key = side(r)?,
                _ => value = side(r)?,
            }
            Some(())
        })?;
        Some((number, key, value))
    }

    /// An object: each member's name goes to `member`, which reads its value (whitespace
    /// around it is skipped here).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let name = self.key()?;
            self.ws();
            member(self, name)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A key or value's data in `format`: its bytes, `None` for `null`.
    fn data(&mut self, format: PlainFormat) -> Option<Option<Vec<u8>>> {
        let start = self.at;
        self.spaced = false;
        self.skip_value(0)?;
        plain_bytes(format, &self.b[start..self.at], self.spaced)
    }

    /// Walks one JSON value, checking its syntax (within this reader's subset).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' if depth >= DEPTH_MAX => None,
            b'{' => self.object(|r, _| r.skip_value(depth + 1)),
            b'[' => {
                self.at += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?`, no exponent, at most [`NUMBER_MAX`] characters.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int = self.digits();
        if int == 0 || (int > 1 && self.b[self.at - int] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        match self.peek() {
            Some(b'e' | b'E') => None,
            _ => (self.at - start <= NUMBER_MAX).then_some(()),
        }
    }

    /// A number as [`Reader::number`] takes it: its text.
    pub(crate) fn number_text(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.number()?;
        Some(&self.b[start..self.at])
    }

    fn digits(&mut self) -> usize {
        let n = self.b[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.at += n;
        n
    }
}

/// How many bytes `bytes` begins with that a string may hold as they are: printable ASCII
/// other than `"` and `\\`. Eight bytes are looked at a time.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `w` that is below `n` (n <= 0x80), or that is 0x80 and
    // above; exact for the first such byte, which is all that is looked for.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let equal = |w: u64, c: u8| below(w ^ (ONES * u64::from(c)), 1);
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let special = below(w, 0x20) | equal(w, b'"') | equal(w, b'\\') | (w & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .take_while(|&&c| (0x20..0x80).contains(&c) && c != b'"' && c != b'\\')
        .count()
}

/// The bytes of a plain key or value from its data's JSON text (checked; `spaced`: with
/// whitespace between its tokens), or `None` when the general reader must decide (data of the
/// wrong kind, bad base64).
fn plain_bytes(format: PlainFormat, text: &[u8], spaced: bool) -> Option<Option<Vec<u8>>> {
    if text == b"null" {
        return Some(None);
    }
    let string = || {
        // A string without escapes (`Reader::string` checked it): the text inside the quotes.
        (text.len() >= 2 && text[0] == b'"').then(|| &text[1..text.len() - 1])
    };
    Some(Some(match format {
        // Valid base64 is ASCII: the text needs no UTF-8 check unless the fast decoder refuses it.
        PlainFormat::Binary => match super::b64::decode(string()?) {
            Some(bytes) => bytes,
            None => super::decode_base64(std::str::from_utf8(string()?).ok()?).ok()?,
        },
        PlainFormat::String => string()?.to_vec(),
        PlainFormat::Json if spaced => compact(text),
        PlainFormat::Json => text.to_vec(),
    }))
}

/// `text` without the whitespace outside its strings (it has no escapes, so a string ends at
/// the next quote).
fn compact(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    while let Some(&c) = text.get(at) {
        if c == b'"' {
            let end = memchr::memchr(b'"', &text[at + 1..]).map_or(text.len(), |e| at + e + 2);
            out.extend_from_slice(&text[at..end]);
            at = end;
        } else {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                out.push(c);
            }
            at += 1;
        }
    }
    out
}

/// Compares the two readers on `per_seed` mutations of each seed (one to three bytes
/// deleted, replaced or inserted, from bytes that make JSON, break it or test the readers'
/// limits), with a fixed generator so that a failure names the same case every run.
/// `readers` gives what the one-pass reader gives (`None`: it gave up) and what the general
/// one gives: wherever the first gives something, the second must give the same. The
/// mutations must also reach the one-pass reader's successes, not only its refusals.
#[cfg(test)]
pub(crate) fn readers_agree_on_mutations<T, E>(
    seeds: &[&str],
    per_seed: usize,
    readers: impl Fn(&[u8]) -> (Option<T>, Result<T, E>),
) where
    T: PartialEq + std::fmt::Debug,
    E: PartialEq + std::fmt::Debug,
{
    const BYTES: &[u8] = b"{}[]\",:. \t\n\r0123456789-+eEtrufalsn\\uAZ=/\x01\x7f\xc3\xa9\xff";
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut below = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let (mut read, mut tried) = (0, 0);
    for seed in seeds {
        for _ in 0..per_seed {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..1 + below(3) {
                let at = below(bytes.len() + 1);
                let byte = BYTES[below(BYTES.len())];
                match below(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 if at < bytes.len() => bytes[at] = byte,
                    _ => bytes.insert(at, byte),
                }
            }
            tried += 1;
            let (plain, general) = readers(&bytes);
            if let Some(plain) = plain {
                read += 1;
                assert_eq!(Ok(plain), general, "{:?}", String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert!(read > tried / 50, "{read} of {tried} read in one pass");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{
        decode_produce_general, decode_schema_produce_general, EmbeddedFormat, ProduceBatch,
        SchemaRefs,
    };

    /// v2 bodies of the common shape, for both formats.
    const PLAIN_BODIES: &[(EmbeddedFormat, &str)] = &[
        (
            EmbeddedFormat::Json,
            r#"{"records":[{"value":{"id":"1","n":[1,-2.5,true,null]}},{"key":"k","value":"v","partition":0}]}"#,
        ),
        (
            EmbeddedFormat::Json,
            "{ \"records\" : [ { \"key\" : { \"a b\" : 1 } , \"value\" : null } ,\n{ } ] }\r\n",
        ),
        (
            EmbeddedFormat::Binary,
            r#"{"records":[{"key":"aGVsbG8=","value":"d29ybGQ","partition":2},{"value":null}]}"#,
        ),
    ];

    fn format_of(format: EmbeddedFormat) -> PlainFormat {
        match format {
            EmbeddedFormat::Binary => PlainFormat::Binary,
            _ => PlainFormat::Json,
        }
    }

    /// What the one-pass reader gives, as the general one would give it, and what the
    /// general one gives.
    fn both_readers(
        format: EmbeddedFormat,
        body: &[u8],
    ) -> (Option<ProduceBatch>, Result<ProduceBatch, String>) {
        let plain = read_plain_body(format_of(format), body).map(|records| ProduceBatch {
            records,
            schemas: SchemaRefs::default(),
        });
        let general = decode_produce_general(format, body).map_err(|e| format!("{e:?}"));
        (plain, general)
    }

    #[test]
    fn the_one_pass_reader_reads_common_v2_bodies_as_the_general_one() {
        for (format, body) in PLAIN_BODIES {
            let (plain, general) = both_readers(*format, body.as_bytes());
            let plain = plain.unwrap_or_else(|| panic!("not read in one pass: {body}"));
            assert_eq!(Ok(plain), general, "{body}");
        }
        for body in [
            r#"{"records":[]}"#,
            r#"{"records":[{"value":1}],"value_schema_id":1}"#,
            r#"{"records":[{"value":1,"headers":[]}]}"#,
            r#"{"records":[{"value":1e3}]}"#,
            r#"{"records":[{"partition":"1","value":1}]}"#,
            r#"{"records":[{"value":1}]} x"#,
        ] {
            assert_eq!(
                both_readers(EmbeddedFormat::Json, body.as_bytes()).0,
                None,
                "{body}"
            );
        }
    }

    /// v2 schema-format bodies of the common shape.
    const SCHEMA_BODIES: &[&str] = &[
        r#"{"value_schema_id":12,"records":[{"value":{"id":"1","name":"x","n":[1,2.5,null]}},{"value":null,"partition":1}]}"#,
        "{ \"records\" : [ { \"key\" : \"k\" , \"value\" : { \"a\" : true } } ] ,\n \"key_schema_id\" : 0 , \"value_schema_id\" : null }",
    ];

    #[test]
    fn where_the_one_pass_reader_gives_schema_records_the_general_one_gives_the_same() {
        let both = |body: &[u8]| {
            let plain = read_plain_schema_body(body);
            let general = decode_schema_produce_general(body).map_err(|e| format!("{e:?}"));
            (plain, general)
        };
        for body in SCHEMA_BODIES {
            let (plain, general) = both(body.as_bytes());
            let plain = plain.unwrap_or_else(|| panic!("not read in one pass: {body}"));
            assert_eq!(Ok(plain), general, "{body}");
        }
        for body in [
            r#"{"value_schema":""int"","records":[{"value":1}]}"#,
            r#"{"value_schema_id":"1","records":[{"value":1}]}"#,
            r#"{"value_schema_id":1,"records":[]}"#,
            r#"{"value_schema_id":1}"#,
        ] {
            assert_eq!(both(body.as_bytes()).0, None, "{body}");
        }
        readers_agree_on_mutations(SCHEMA_BODIES, 10_000, both);
    }

    #[test]
    fn where_the_one_pass_reader_gives_v2_records_the_general_one_gives_the_same() {
        for (format, body) in PLAIN_BODIES {
            readers_agree_on_mutations(&[body], 10_000, |bytes| both_readers(*format, bytes));
        }
    }

    #[test]
    fn a_plain_run_ends_at_the_first_byte_a_string_cannot_hold_as_it_is() {
        let plain = |c: u8| (0x20..0x80).contains(&c) && c != b'"' && c != b'\\';
        // Every special byte at every position of a word and past it, behind every other
        // kind of byte, so borrows between the bytes of a word are covered.
        for special in [0x00, 0x1f, b'"', b'\\', 0x80, 0xc3, 0xff] {
            for before in [b'a', b' ', 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x7e] {
                for at in 0..20 {
                    let mut bytes = vec![before; 24];
                    bytes[at] = special;
                    if at + 1 < bytes.len() {
                        bytes[at + 1] = 0x00;
                    }
                    let expected = bytes.iter().take_while(|&&c| plain(c)).count();
                    assert_eq!(plain_run(&bytes), expected, "{special:#x} at {at}");
                    assert_eq!(plain_run(&bytes[..at]), at, "{special:#x} cut at {at}");
                }
            }
        }
        assert_eq!(plain_run(b""), 0);
    }

    #[test]
    fn json_data_is_compacted_outside_its_strings_only() {
        let record = read_plain_record(
            b"{\"value\":{\"type\":\"JSON\",\"data\":{ \"a b\" :\t[ 1 ,\r\n\"c  d\" ] }}}",
        )
        .expect("the common shape");
        assert_eq!(
            record.value.and_then(|v| v.bytes).as_deref(),
            Some(&br#"{"a b":[1,"c  d"]}"#[..])
        );
    }
}
