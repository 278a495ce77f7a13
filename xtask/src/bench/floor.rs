//! The floor of one-record produce on this machine: R2 and RL1 run P2's and L1's work against
//! a minimal HTTP-to-Kafka server instead of the proxy, interleaved with the same native side.
//!
//! The server (`cargo xtask bench-floor`, started by the bench as a process of its own, as the
//! proxy is) does the least any HTTP proxy must do for a v2 JSON produce: read an HTTP/1.1
//! request from a keep-alive connection, parse its JSON body, hand each record's value to
//! librdkafka (one producer with the proxy's settings, the native side's), await the delivery
//! reports and write the answer. No HTTP library, no routing, no validation beyond what the
//! bench sends, no limits, no observation. It is not a product: it answers `POST /topics/{t}`
//! and nothing else. What it shows is how much of the gap between P2 (or L1) and the native
//! client is the HTTP round trip itself, on the same cores as the broker and the load
//! generator. It is a floor, not a proof: what work on the proxy's own code can win is, at
//! best, about the distance between the proxy's row and this one.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::produce::{self, FLOOR_P2};
use super::{native_overrides, Bench, Row};
use crate::load::{admin, free_port, spawn_listening, ProxyUnderTest};

/// The largest request the floor server reads; the bench's are under 1 KiB.
const MAX_REQUEST: usize = 1 << 20;

/// `cargo xtask bench-floor`: serves `POST /topics/{t}` (v2 JSON) on `listen` until killed.
pub fn serve(listen: &str, bootstrap: &str, set: &[String]) -> Result<()> {
    let producer = produce::native_producer(bootstrap, &native_overrides(set))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the floor server's runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        loop {
            let (stream, _) = listener.accept().await.context("accept")?;
            let producer = producer.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(stream, producer).await {
                    eprintln!("floor: connection closed: {e:#}");
                }
            });
        }
    })
}

/// One keep-alive connection: requests answered one after the other until the peer closes.
async fn connection(mut stream: TcpStream, producer: FutureProducer) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        let (head, body_len) = loop {
            if let Some(sizes) = request_sizes(&buf)? {
                if buf.len() >= sizes.0 + sizes.1 {
                    break sizes;
                }
            }
            if buf.len() > MAX_REQUEST {
                bail!("a request over {MAX_REQUEST} bytes");
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let answer = answer(&producer, &buf[..head], &buf[head..head + body_len]).await;
        buf.drain(..head + body_len);
        stream.write_all(&answer).await?;
    }
}

/// The length of the request head (through its blank line) and of the body its
/// `Content-Length` announces, once the whole head is in `buf`.
fn request_sizes(buf: &[u8]) -> Result<Option<(usize, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("a request head that is not UTF-8")?;
    let mut body_len = 0;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                body_len = value.trim().parse().context("Content-Length")?;
            }
        }
    }
    Ok(Some((end + 4, body_len)))
}

/// The whole HTTP answer to one request: the v2 produce answer with each record's partition
/// and offset, or an error status.
async fn answer(producer: &FutureProducer, head: &[u8], body: &[u8]) -> Vec<u8> {
    let request_line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next().unwrap_or_default());
    let topic = match (method, path.strip_prefix(b"/topics/")) {
        (Some(b"POST"), Some(topic)) if !topic.is_empty() => String::from_utf8_lossy(topic),
        _ => {
            return response(
                "404 Not Found",
                r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#,
            )
        }
    };
    let values: Vec<Vec<u8>> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut doc)) => match doc.remove("records") {
            Some(Value::Array(records)) => records
                .iter()
                .map(|r| serde_json::to_vec(&r["value"]).unwrap_or_default())
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if values.is_empty() {
        return response(
            "422 Unprocessable Entity",
            r#"{"error_code":422,"message":"no records"}"#,
        );
    }
    let sends = values.iter().map(|value| {
        producer.send(
            FutureRecord::<(), [u8]>::to(&topic).payload(value.as_slice()),
            Duration::from_secs(30),
        )
    });
    let mut offsets = String::new();
    for (i, report) in futures::future::join_all(sends)
        .await
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            offsets.push(',');
        }
        offsets.push_str(&match report {
            Ok(delivery) => format!(
                r#"{{"partition":{},"offset":{},"error_code":null,"error":null}}"#,
                delivery.partition, delivery.offset
            ),
            Err((e, _)) => format!(
                r#"{{"partition":null,"offset":null,"error_code":50002,"error":{}}}"#,
                Value::String(e.to_string())
            ),
        });
    }
    response(
        "200 OK",
        &format!(r#"{{"key_schema_id":null,"value_schema_id":null,"offsets":[{offsets}]}}"#),
    )
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Starts the floor server from this binary (the bench runs optimized) on a free port.
fn start(bootstrap: &str, set: &[String]) -> Result<ProxyUnderTest> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("kafka-rest-bench-floor-{port}.log"));
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut command = Command::new(exe);
    command.args(["bench-floor", "--listen", &addr, "--bootstrap", bootstrap]);
    for item in set {
        command.args(["--set", item]);
    }
    let child = spawn_listening(command, &addr, &log, "the floor server")?;
    println!("[bench] floor server pid {} on http://{addr}", child.id());
    Ok(ProxyUnderTest {
        host: addr.clone(),
        addr,
        base_path: String::new(),
        child: Some(child),
    })
}

/// R2 (when `throughput`) and RL1 (when `l1_rate` is given, L1's rate, so that RL1 is paced as
/// L1 was), against a floor server started for them and stopped after.
pub(super) async fn rows(
    bench: &Bench<'_>,
    throughput: bool,
    l1_rate: Option<f64>,
    set: &[String],
) -> Result<Vec<Row>> {
    let mut server = start(bench.bootstrap, set)?;
    let floor = Bench {
        admin: admin(bench.bootstrap)?,
        bootstrap: bench.bootstrap,
        proxy: &server,
        timing: bench.timing,
        quick: bench.quick,
        overrides: bench.overrides.clone(),
    };
    let result = floor_rows(&floor, throughput, l1_rate).await;
    server.stop();
    result
}

async fn floor_rows(floor: &Bench<'_>, throughput: bool, l1_rate: Option<f64>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    if throughput {
        let row = produce::throughput(floor, &FLOOR_P2).await?;
        let median = row.spread.as_ref().map_or(0.0, |s| s.median);
        let note = format!(
            "P2's work through a minimal HTTP-to-Kafka server (floor.rs): {median:.2}, {:.0} req/s",
            row.proxy.requests_per_s
        );
        rows.push(Row { note, ..row });
    }
    if let Some(rate) = l1_rate {
        let row = produce::latency(floor, "RL1", rate).await?;
        let median = row.spread.as_ref().map_or(0.0, |s| s.median);
        let note = format!("L1's work through a minimal HTTP-to-Kafka server: p99 +{median:.2} ms");
        rows.push(Row { note, ..row });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_wait_for_the_whole_head_and_read_content_length_in_any_case() {
        assert_eq!(
            request_sizes(b"POST /topics/t HTTP/1.1\r\nHost: x\r\n").expect("parses"),
            None
        );
        let head = b"POST /topics/t HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 12\r\n\r\n";
        assert_eq!(request_sizes(head).expect("parses"), Some((head.len(), 12)));
        let get = b"GET /topics HTTP/1.1\r\nHost: x\r\n\r\nGET";
        assert_eq!(
            request_sizes(get).expect("parses"),
            Some((get.len() - 3, 0))
        );
        assert!(request_sizes(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn a_response_announces_its_body_length() {
        let r = String::from_utf8(response("404 Not Found", "{}")).expect("UTF-8");
        assert_eq!(
            r,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
