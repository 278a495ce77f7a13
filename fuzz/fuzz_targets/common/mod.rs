//! What every fuzz target shares: running an input on a thread with the stack of a tokio
//! worker, where the proxy runs these decoders, and the rule that a refusal is a 4xx.

// Each target uses a part of this module.
#![allow(dead_code)]

use kafka_rest::fuzzing::ProxyError;
use kafka_rest::fuzzing::schema::{ParsedSchema, SchemaFormat};

/// The stack of a tokio worker thread (2 MiB): unbounded recursion has to show up here as it
/// would in the proxy, not be hidden by the 8 MiB of the fuzzer's main thread.
const WORKER_STACK: usize = 2 << 20;

/// Runs `f` on a fresh thread with [`WORKER_STACK`]. A panic or a stack overflow there aborts
/// the process, which libFuzzer reports as a crash with this input.
pub fn on_worker_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, f)
            .expect("spawn a fuzz worker");
        if handle.join().is_err() {
            // The panic hook of libfuzzer-sys aborts first; this is the fallback.
            std::process::abort();
        }
    });
}

/// A request the proxy refuses must be refused with a client error, never a 5xx.
pub fn assert_client_error(e: ProxyError) {
    let (status, code) = e.status_and_code();
    assert!(
        status.is_client_error(),
        "bad input answered {status} / {code}: {e:?}"
    );
}

/// The shared harness of the three schema codec targets. The first byte picks the mode:
///
/// * 0: the rest is JSON text, converted with one of `schemas` (second byte picks it); what
///   converts must decode again (a consumer can read what a producer wrote);
/// * 1: the rest is a payload decoded with one of `schemas` (bytes from Kafka); what decodes
///   must be JSON a client can parse;
/// * 2: the rest is schema text; a schema that parses converts and decodes a few fixed values.
pub fn schema_codec(format: SchemaFormat, schemas: &[&str], data: &[u8]) {
    let [mode, pick, rest @ ..] = data else {
        return;
    };
    match mode % 3 {
        0 | 1 => {
            let text = schemas[usize::from(*pick) % schemas.len()];
            let schema = ParsedSchema::parse(format, text).expect("the fixed schemas parse");
            if mode % 3 == 0 {
                if let Ok(json) = std::str::from_utf8(rest) {
                    encode_then_decode(&schema, json);
                }
            } else {
                decode_is_json(&schema, rest);
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(&data[1..]) else {
                return;
            };
            if let Ok(schema) = ParsedSchema::parse(format, text) {
                for json in ["null", "{}", "[]", "0", "\"\"", "{\"a\":1}", "true"] {
                    encode_then_decode(&schema, json);
                }
                for payload in [&b""[..], &[0], &[2, 2, 0], &[0; 16], &[0xff; 16]] {
                    decode_is_json(&schema, payload);
                }
            }
        }
    }
}

/// Converts JSON text (as a produce request would) and decodes the result again.
fn encode_then_decode(schema: &ParsedSchema, json: &str) {
    // The proxy converts only text that parsed as JSON inside a request body.
    if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
        return;
    }
    // Avro's walk of the text must give what the general encoder gives, errors included.
    let encoded = schema.encode(7, json);
    assert_eq!(encoded, schema.encode_general(7, json), "the encoders disagree");
    let Ok(framed) = encoded else {
        return;
    };
    let (id, payload) = kafka_rest::fuzzing::schema::unframe(&framed).expect("our own framing");
    assert_eq!(id, 7);
    let rendered = schema
        .decode(payload)
        .unwrap_or_else(|e| panic!("produced bytes {payload:?} of {json:?} do not decode: {e}"));
    assert_json(&rendered);
}

/// Decodes a payload; what decodes must be JSON that serde_json reads with its usual limits.
fn decode_is_json(schema: &ParsedSchema, payload: &[u8]) {
    if let Ok(rendered) = schema.decode(payload) {
        assert_json(&rendered);
    }
}

fn assert_json(text: &str) {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        panic!("rendered text is not JSON a client can parse ({e}): {text:.200}");
    }
}
