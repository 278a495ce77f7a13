//! The memory scenarios: the idle proxy (M1-idle), and the proxy holding 1, 100 and 1000 idle
//! consumer instances, each in its own group, subscribed and joined (M1-consumers-N). Each
//! reads the proxy's RSS, threads and file descriptors from `/proc`, so they need our own
//! proxy; there is no native side.
//!
//! Owns the instances' lifecycle over the HTTP API (create, subscribe, wait until joined,
//! delete) and what is reported about them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{Bench, Measured, Row};
use crate::load::{delete_topic, fresh_topic, http_request, HttpConn, ProcSample, ProxyUnderTest};

/// Instance counts of the M1-consumers scenario; `--quick` runs the first two.
const M1_INSTANCES: [usize; 3] = [1, 100, 1000];

/// Concurrent HTTP connections that create, join and delete the M1 instances.
const M1_CONNECTIONS: usize = 16;

/// Bound on creating and joining all instances of one M1 step. Both must stay well under the
/// proxy's `consumer.instance.timeout.ms` and librdkafka's `max.poll.interval.ms` (5 min each),
/// or the first instances would expire or leave their groups before the sample is taken.
const M1_JOIN_DEADLINE: Duration = Duration::from_secs(240);

/// How long the idle CPU use of the M1 instances is measured.
const M1_IDLE_WINDOW: Duration = Duration::from_secs(5);

/// M1-idle: the proxy's RSS, threads and descriptors right after it started; `None` for an
/// external proxy.
pub(super) fn idle_proxy(proxy: &ProxyUnderTest) -> Option<Row> {
    let sample = proxy.sample()?;
    Some(Row::single(
        "M1-idle",
        "proxy RSS, idle after start",
        measured(&sample),
        "target <= 30 MiB",
    ))
}

/// M1-consumers: one row per instance count (the first two with `--quick`), on one topic.
pub(super) async fn idle_consumer_rows(bench: &Bench<'_>) -> Result<Vec<Row>> {
    if bench.proxy.pid().is_none() {
        println!("[bench] M1-consumers: skipped (needs /proc of our own proxy)");
        return Ok(Vec::new());
    }
    let counts: &[usize] = if bench.quick {
        &M1_INSTANCES[..2]
    } else {
        &M1_INSTANCES
    };
    let topic = fresh_topic(&bench.admin, "bench-m1", 1).await?;
    let mut rows = Vec::new();
    for &count in counts {
        rows.push(idle_consumers(bench.proxy, &topic, count).await?);
    }
    delete_topic(&bench.admin, &topic).await;
    Ok(rows)
}

/// M1-consumers: `count` consumer instances, each in its own group and subscribed to `topic`
/// (so each is a member of its group with the partition assigned), created through the HTTP
/// API; the proxy's RSS, threads and file descriptors with all of them alive, then again after
/// they were deleted.
async fn idle_consumers(proxy: &ProxyUnderTest, topic: &str, count: usize) -> Result<Row> {
    let id = format!("M1-consumers-{count}");
    let before = proxy.sample().context("cannot read /proc of the proxy")?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let prefix = format!("bench-m1-{stamp}-{count}");
    println!("[bench] {id}: creating {count} consumer instance(s), each in its own group ...");
    let started = Instant::now();
    let deadline = Instant::now() + M1_JOIN_DEADLINE;
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        let topic = topic.to_string();
        async move { instance.create_and_subscribe(conn, &topic).await }
    })
    .await?;
    let create_s = started.elapsed().as_secs_f64();
    println!("[bench] {id}: {count} created and subscribed in {create_s:.1}s; waiting until each holds its partition ...");
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        async move { instance.wait_joined(conn, deadline).await }
    })
    .await?;
    let join_s = started.elapsed().as_secs_f64();
    println!("[bench] {id}: all {count} joined after {join_s:.1}s");
    // Let the blocking threads of the creations go idle and the allocator settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = proxy.sample().context("cannot read /proc of the proxy")?;
    tokio::time::sleep(M1_IDLE_WINDOW).await;
    let idle = proxy.sample().context("cannot read /proc of the proxy")?;
    let idle_cpu_pct = (idle.cpu_s - held.cpu_s) / M1_IDLE_WINDOW.as_secs_f64() * 100.0;

    println!("[bench] {id}: deleting the {count} instance(s) ...");
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        async move { instance.delete(conn).await }
    })
    .await?;
    let after = proxy.sample().context("cannot read /proc of the proxy")?;

    let per = |x: f64, base: f64| (x - base) / count as f64;
    let note = format!(
        "{count} live instances: +{:.2} MiB RSS, +{:.2} threads (librdkafka: +{:.2}), +{:.2} fds per instance over the proxy before; \
         threads by name {}; idle CPU {idle_cpu_pct:.1}% of a core; joined in {join_s:.1}s; \
         after deleting all: {:.1} MiB RSS, {} threads, {} fds (before: {:.1} MiB, {} threads, {} fds)",
        per(held.rss_mib, before.rss_mib),
        per(held.threads as f64, before.threads as f64),
        per(held.librdkafka_threads() as f64, before.librdkafka_threads() as f64),
        per(held.fds as f64, before.fds as f64),
        held.threads_by_name(),
        after.rss_mib,
        after.threads,
        after.fds,
        before.rss_mib,
        before.threads,
        before.fds,
    );
    Ok(Row::single(
        id,
        format!("{count} idle consumer instance(s), one group each, subscribed and joined"),
        measured(&held),
        note,
    ))
}

/// Runs `f` for instances `0..count` over [`M1_CONNECTIONS`] keep-alive connections; each
/// connection takes the next index when it is done with one.
async fn for_each_instance<F, Fut>(proxy: &ProxyUnderTest, count: usize, f: F) -> Result<()>
where
    F: Fn(HttpConn, usize) -> Fut,
    Fut: std::future::Future<Output = Result<HttpConn>>,
{
    let next = AtomicU64::new(0);
    let worker = |_| async {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        loop {
            let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
            if i >= count {
                return Ok::<(), anyhow::Error>(());
            }
            conn = f(conn, i).await?;
        }
    };
    let workers = futures::future::join_all((0..M1_CONNECTIONS.min(count)).map(worker)).await;
    workers.into_iter().collect()
}

/// One instance of the M1-consumers scenario: its group, and the requests made to it.
struct M1Instance {
    /// `Host` header.
    host: String,
    group: String,
    /// `/consumers/<group>` under the proxy's base path.
    group_path: String,
    /// `/consumers/<group>/instances/m1` under the proxy's base path.
    path: String,
}

impl M1Instance {
    fn new(proxy: &ProxyUnderTest, prefix: &str, i: usize) -> M1Instance {
        let group = format!("{prefix}-{i}");
        let group_path = format!("{}/consumers/{group}", proxy.base_path);
        M1Instance {
            host: proxy.host.clone(),
            path: format!("{group_path}/instances/m1"),
            group_path,
            group,
        }
    }

    fn request(&self, method: &str, path: &str, accept: &str, body: Option<&str>) -> Vec<u8> {
        let body = body.map(|b| ("application/vnd.kafka.v2+json", b));
        http_request(&self.host, "", method, path, accept, body)
    }

    async fn call(
        &self,
        conn: &mut HttpConn,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<&str>,
        expected: u16,
    ) -> Result<Vec<u8>> {
        let (status, answer) = conn
            .roundtrip(&self.request(method, path, accept, body))
            .await?;
        if status != expected {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(answer)
    }

    async fn create_and_subscribe(&self, mut conn: HttpConn, topic: &str) -> Result<HttpConn> {
        let v2 = "application/vnd.kafka.v2+json";
        let create = json!({"name": "m1", "format": "binary", "auto.offset.reset": "earliest"});
        self.call(
            &mut conn,
            "POST",
            &self.group_path,
            v2,
            Some(&create.to_string()),
            200,
        )
        .await?;
        let subscribe = json!({ "topics": [topic] });
        let path = format!("{}/subscription", self.path);
        self.call(
            &mut conn,
            "POST",
            &path,
            v2,
            Some(&subscribe.to_string()),
            204,
        )
        .await?;
        Ok(conn)
    }

    /// Reads (which lets librdkafka apply the group's assignment) until the instance holds
    /// the partition: it is then a member of its group.
    async fn wait_joined(&self, mut conn: HttpConn, deadline: Instant) -> Result<HttpConn> {
        let records = format!("{}/records?timeout=100", self.path);
        let assignments = format!("{}/assignments", self.path);
        loop {
            self.call(
                &mut conn,
                "GET",
                &records,
                "application/vnd.kafka.binary.v2+json",
                None,
                200,
            )
            .await?;
            let body = self
                .call(
                    &mut conn,
                    "GET",
                    &assignments,
                    "application/vnd.kafka.v2+json",
                    None,
                    200,
                )
                .await?;
            let partitions: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if partitions["partitions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
            {
                return Ok(conn);
            }
            if Instant::now() > deadline {
                bail!(
                    "group {} gave its instance no partition within {}s",
                    self.group,
                    M1_JOIN_DEADLINE.as_secs()
                );
            }
        }
    }

    async fn delete(&self, mut conn: HttpConn) -> Result<HttpConn> {
        self.call(
            &mut conn,
            "DELETE",
            &self.path,
            "application/vnd.kafka.v2+json",
            None,
            204,
        )
        .await?;
        Ok(conn)
    }
}

/// The bench row of one look at the proxy.
fn measured(sample: &ProcSample) -> Measured {
    Measured {
        peak_rss_mib: Some(sample.rss_mib),
        threads: Some(sample.threads),
        open_fds: Some(sample.fds),
        ..Measured::default()
    }
}
