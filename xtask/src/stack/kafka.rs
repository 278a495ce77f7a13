//! The stack's Kafka nodes: KRaft combined broker/controller nodes, 1 to 9 of them. Owns their
//! properties and log4j2 settings, formatting their storage, their command lines, waiting
//! until every node answers with the whole cluster's metadata, and the quickstart topics.
//!
//! Starting and stopping in the right order, and deciding which nodes to (re)start, is
//! `mod.rs`; pid files and detached processes are `process.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::paths::{bootstrap, broker_port, controller_port, kafka_conf, Component, Paths, HOST};
use super::process::{secs, spawn_detached, write_pid};
use super::secure;
use super::KAFKA_VERSION;
use crate::tools;

const KAFKA_LOG4J2: &str = include_str!("../../assets/log4j2.properties");
/// Fixed KRaft cluster id (22 characters of base64url, i.e. a 16-byte UUID).
const CLUSTER_ID: &str = "kafkarestlocalstack01A";

/// Writes the log4j2 settings and every node's properties, regenerated on every start.
pub(super) fn write_configs(paths: &Paths, brokers: u8, secure: bool) -> Result<()> {
    fs::write(paths.log4j2(), KAFKA_LOG4J2)
        .with_context(|| format!("cannot write {}", paths.log4j2().display()))?;
    for node in 1..=brokers {
        let conf = kafka_conf(paths, node);
        fs::write(&conf, kafka_properties(paths, node, brokers, secure))
            .with_context(|| format!("cannot write {}", conf.display()))?;
    }
    Ok(())
}

/// The Java that runs the brokers: Kafka 4 needs 17 or newer.
pub(super) fn kafka_java() -> Result<PathBuf> {
    tools::java(
        17,
        &format!("Apache Kafka {KAFKA_VERSION} (the local brokers)"),
    )
}

fn kafka_properties(paths: &Paths, node: u8, brokers: u8, secure: bool) -> String {
    let voters = (1..=brokers)
        .map(|j| format!("{j}@{HOST}:{}", controller_port(j)))
        .collect::<Vec<_>>()
        .join(",");
    let replication = brokers.min(3);
    let min_isr = if replication >= 3 { 2 } else { 1 };
    let data = paths.data.join(format!("kafka-{node}"));
    let broker = broker_port(node);
    let controller = controller_port(node);
    let (secure_listeners, secure_protocols, authorizer, secure_settings) = if secure {
        (
            secure::listeners(node),
            secure::PROTOCOL_MAP,
            secure::authorizer(),
            secure::properties(paths),
        )
    } else {
        (
            String::new(),
            "",
            "allow.everyone.if.no.acl.found=true\nsuper.users=User:ANONYMOUS\n".to_string(),
            String::new(),
        )
    };
    format!(
        "# Written by `cargo xtask stack up`; regenerated on every start.\n\
         process.roles=broker,controller\n\
         node.id={node}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://{HOST}:{broker},CONTROLLER://{HOST}:{controller}{secure_listeners}\n\
         advertised.listeners=PLAINTEXT://{HOST}:{broker}{secure_listeners}\n\
         inter.broker.listener.name=PLAINTEXT\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT{secure_protocols}\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         default.replication.factor={replication}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={replication}\n\
         offsets.topic.num.partitions=1\n\
         transaction.state.log.replication.factor={replication}\n\
         transaction.state.log.min.isr={min_isr}\n\
         transaction.state.log.num.partitions=1\n\
         share.coordinator.state.topic.replication.factor={replication}\n\
         share.coordinator.state.topic.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=false\n\
         num.network.threads=2\n\
         num.io.threads=2\n\
         num.recovery.threads.per.data.dir=1\n\
         log.cleaner.dedupe.buffer.size=16777216\n\
         message.max.bytes=16777216\n\
         replica.fetch.max.bytes=16777216\n\
         # The standard KRaft authorizer, so that the v3 ACL endpoints work against real Kafka.\n\
         # No ACL matching means allowed, and every listener is plaintext (principal\n\
         # User:ANONYMOUS, the proxy and the tests included), which is a super user: ACLs the\n\
         # tests create are stored and listed, but they change nobody's access. A secured\n\
         # stack denies what no ACL allows on its secured listeners (see secure.rs).\n\
         authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
         {authorizer}{secure_settings}",
        data = data.display(),
    )
}

fn kafka_classpath(paths: &Paths) -> String {
    format!("{}/*", paths.kafka_libs.display())
}

/// Formats the given nodes' storage (in parallel; each is a short-lived JVM).
/// A secured stack's storage also gets the SCRAM credentials of its users.
pub(super) fn format_kafka(paths: &Paths, java: &Path, nodes: &[u8], secure: bool) -> Result<()> {
    let mut running = Vec::new();
    for &node in nodes {
        eprintln!("[stack] formatting kafka-{node}");
        let data = paths.data.join(format!("kafka-{node}"));
        if data.exists() {
            fs::remove_dir_all(&data)
                .with_context(|| format!("cannot remove {}", data.display()))?;
        }
        let child = Command::new(java)
            .arg("-Xmx256m")
            .arg("-cp")
            .arg(kafka_classpath(paths))
            .args(["kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c"])
            .arg(kafka_conf(paths, node))
            .args(if secure {
                secure::format_args()
            } else {
                Vec::new()
            })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} to format kafka-{node}; is Java 17+ installed?",
                    java.display()
                )
            })?;
        running.push((node, child));
    }
    let mut failures = Vec::new();
    for (node, child) in running {
        let output = child
            .wait_with_output()
            .with_context(|| format!("formatting kafka-{node} failed"))?;
        if !output.status.success() {
            failures.push(format!(
                "kafka-{node} ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "formatting Kafka storage failed:\n{}",
        failures.join("\n")
    );
    Ok(())
}

pub(super) fn start_kafka(paths: &Paths, java: &Path, node: u8) -> Result<u32> {
    let log = Component::Kafka(node).log_file(paths);
    eprintln!(
        "[stack] starting kafka-{node} on {HOST}:{} (log: {})",
        broker_port(node),
        log.display()
    );
    let mut command = Command::new(java);
    command
        .args([
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
        ])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            paths.log4j2().display()
        ))
        .arg(format!("-Dkafka.logs.dir={}", paths.logs.display()))
        .arg("-cp")
        .arg(kafka_classpath(paths))
        .arg("kafka.Kafka")
        .arg(kafka_conf(paths, node))
        .current_dir(&paths.stack);
    let child = spawn_detached(command, &log, &format!("kafka-{node}"))?;
    let pid = child.id();
    write_pid(paths, Component::Kafka(node), pid)?;
    Ok(pid)
}

/// Topics of the Confluent quickstart, created up front so that its curl commands work verbatim
/// although the local brokers do not create topics on first use (`auto.create.topics.enable`
/// is off, so tests can see 40401 for unknown topics).
const QUICKSTART_TOPICS: &[&str] = &[
    "jsontest",
    "binarytest",
    "avrotest",
    "jsonschematest",
    "protobuftest",
];

/// Creates the quickstart topics that do not exist yet.
pub(super) fn create_quickstart_topics(brokers: u8) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap(brokers))
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka admin client for the local stack")?;
    let replication = i32::from(brokers.min(3));
    let topics: Vec<NewTopic<'_>> = QUICKSTART_TOPICS
        .iter()
        .map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = futures::executor::block_on(admin.create_topics(&topics, &opts))
        .context("cannot create the quickstart topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create quickstart topic {name}: {code}"),
        }
    }
    Ok(())
}

pub(super) fn metadata_client(bootstrap: &str) -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("socket.connection.setup.timeout.ms", "2000")
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka client to probe the local stack")
}

/// Asks node `node` itself (a fresh client knows no other broker yet) for the cluster metadata;
/// ready when it answers and lists every broker. Probing each node separately matters after a
/// restart: the other nodes keep listing a killed broker until its session expires.
fn probe_node(node: u8, brokers: u8) -> Result<()> {
    let client = metadata_client(&format!("{HOST}:{}", broker_port(node)))?;
    let metadata = client
        .fetch_metadata(None, Duration::from_secs(2))
        .map_err(|err| anyhow::anyhow!("no metadata answer ({err})"))?;
    let registered = metadata.brokers().len();
    ensure!(
        registered == usize::from(brokers),
        "{registered} of {brokers} broker(s) registered"
    );
    Ok(())
}

/// Waits until every node answers; quiet when nothing was started (a reused stack).
pub(super) fn wait_for_kafka(paths: &Paths, brokers: u8, verbose: bool) -> Result<()> {
    let timeout = Duration::from_secs(if brokers == 1 { 90 } else { 180 });
    if verbose {
        eprintln!("[stack] waiting for {brokers} broker(s)...");
    }
    let started = Instant::now();
    let mut pending: Vec<u8> = (1..=brokers).collect();
    let mut next_report = Duration::from_secs(5);
    let failure = loop {
        let mut last = String::new();
        while let Some(&node) = pending.first() {
            match probe_node(node, brokers) {
                Ok(()) => {
                    pending.remove(0);
                }
                Err(err) => {
                    last = format!("kafka-{node}: {err}");
                    break;
                }
            }
        }
        if pending.is_empty() {
            if verbose {
                eprintln!("[stack] kafka ready in {}", secs(started.elapsed()));
            }
            return Ok(());
        }
        if let Some(dead) = (1..=brokers).find(|&i| !Component::Kafka(i).state(paths).is_running())
        {
            break format!("kafka-{dead} exited while starting");
        }
        if started.elapsed() > timeout {
            break format!(
                "kafka did not become ready within {}s ({last})",
                timeout.as_secs()
            );
        }
        if started.elapsed() >= next_report {
            eprintln!(
                "[stack]   still waiting for kafka ({}s, {last})",
                next_report.as_secs()
            );
            next_report += Duration::from_secs(5);
        }
        sleep(Duration::from_millis(500));
    };
    let logs: Vec<PathBuf> = (1..=brokers)
        .map(|i| Component::Kafka(i).log_file(paths))
        .collect();
    for log in &logs {
        tools::print_tail(log);
    }
    bail!(
        "{failure}; see {}",
        logs.iter()
            .map(|log| log.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::paths::port_offset;

    #[test]
    fn three_node_properties() {
        // Ports move with KAFKA_REST_STACK_PORT_OFFSET (set when ci runs beside another stack).
        let o = port_offset();
        let paths = Paths::new();
        let props = kafka_properties(&paths, 2, 3, false);
        assert!(props.contains("node.id=2\n"));
        let voters = format!(
            "controller.quorum.voters=1@127.0.0.1:{},2@127.0.0.1:{},3@127.0.0.1:{}\n",
            19092 + o,
            19093 + o,
            19094 + o
        );
        assert!(props.contains(&voters), "{props}");
        let listeners = format!(
            "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}\n",
            9093 + o,
            19093 + o
        );
        assert!(props.contains(&listeners), "{props}");
        assert!(props.contains("default.replication.factor=3\n"));
        assert!(props.contains("min.insync.replicas=2\n"));
        // The authorizer is on, and allows what it allowed before it was on.
        assert!(props.contains(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
        ));
        assert!(props.contains("allow.everyone.if.no.acl.found=true\n"));
        assert!(props.contains("super.users=User:ANONYMOUS\n"));
        assert_eq!(
            bootstrap(3),
            format!(
                "127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
                9092 + o,
                9093 + o,
                9094 + o
            )
        );
    }

    #[test]
    fn secured_node_properties() {
        let o = port_offset();
        let paths = Paths::new();
        let props = kafka_properties(&paths, 1, 1, true);
        let listeners = format!(
            "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{},\
             SASL_SSL://127.0.0.1:{},SSL://127.0.0.1:{}\n",
            9092 + o,
            19092 + o,
            9292 + o,
            9392 + o
        );
        assert!(props.contains(&listeners), "{props}");
        assert!(props.contains("allow.everyone.if.no.acl.found=false\n"));
        assert!(props.contains("super.users=User:ANONYMOUS;User:kafkarest\n"));
        assert!(props.contains("user_alice=\"alice-secret\""), "{props}");
        assert!(!props.contains("allow.everyone.if.no.acl.found=true"));
    }
}
