//! `cargo xtask`: every developer task of this repository, one subcommand each.
//!
//! The commands themselves live in their modules: `stack/` (local Kafka and Schema Registry),
//! `codegen.rs` (everything derived from the OpenAPI contract, and its lint), `ci.rs` (the CI
//! sequence), `fuzz.rs` (libFuzzer runs), `bench/` and `soak.rs` (load on the release proxy,
//! through `load.rs`), `tidy.rs` (house rules as tests). `tools.rs` finds and runs the
//! external programs they need (Java, Python venvs, logged commands).

// xtask is synchronous tooling: sleeping while polling a starting broker is what it should do.
#![allow(clippy::disallowed_methods)]

mod bench;
mod ci;
mod codegen;
mod dist;
mod flows;
mod fuzz;
mod load;
mod proxy;
mod schemathesis;
mod soak;
mod stack;
mod tidy;
mod tools;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Developer tasks for kafka-rest")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage the local Kafka (KRaft) and Schema Registry stack.
    Stack {
        #[command(subcommand)]
        action: StackCmd,
    },
    /// Start the stack, then run the release proxy in the foreground on 127.0.0.1:8082.
    Up {
        /// Run a debug build instead (faster to build while developing, far slower to run).
        #[arg(long)]
        debug: bool,
    },
    /// Run the integration tests against the local stack (started if needed, left running).
    Test {
        /// The stack to run against: 1 broker, or 3 for the `faults::` tests.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        brokers: u8,
        /// Start (or reuse) the secured stack, which the `secure_kafka::` tests need.
        #[arg(long)]
        secure: bool,
        /// Arguments passed to the test binary (a name filter, --nocapture, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Validate the OpenAPI contract (openapi/kafka-rest-v2.yaml) with openapi-spec-validator.
    LintSpec,
    /// Regenerate everything under generated/ (the Rust server crate and the SDKs) and
    /// openapi/served/ from the OpenAPI contract.
    Codegen {
        /// Change nothing; fail, naming the files, if anything generated is out of date.
        #[arg(long)]
        check: bool,
        /// Only the Rust server crate and the served document, not the SDKs.
        #[arg(long)]
        server_only: bool,
    },
    /// Smoke-check the generated SDKs offline (python compileall, go vet, tsc, mvn compile);
    /// with `--flows`, run the SDK flows (Python, TypeScript and Go for v2 and v3, Java for v3)
    /// against a proxy instead.
    SdkTest {
        /// Run the tests/sdk/ flows through the generated SDKs against a proxy
        /// started on a free port in front of the stack (started if needed, left running).
        #[arg(long)]
        flows: bool,
    },
    /// Property-based contract test: schemathesis against a proxy's v2 and v3 documents (the stack
    /// is started if needed and left running).
    Schemathesis {
        /// Time budget of the run in seconds.
        #[arg(long, default_value_t = schemathesis::DEFAULT_MAX_TIME_S)]
        max_time: u64,
        /// Random seed; the same seed replays the same test cases.
        #[arg(long, default_value_t = schemathesis::DEFAULT_SEED)]
        seed: u64,
        /// Most test cases per operation and phase.
        #[arg(long, default_value_t = schemathesis::DEFAULT_MAX_EXAMPLES)]
        max_examples: u32,
    },
    /// Build the release binary, then write the archive (Confluent layout: bin/kafka-rest-start,
    /// bin/kafka-rest-stop, etc/kafka-rest/kafka-rest.properties) and the Debian package into
    /// target/dist/.
    Dist {
        /// Package the debug build instead: quicker to build, for trying the packaging only.
        #[arg(long)]
        debug: bool,
        /// Then install both for real against the local stack (started if needed): unpack,
        /// start, produce, stop; as root also dpkg -i, start from PATH, produce, stop, dpkg -r.
        #[arg(long)]
        check_install: bool,
    },
    /// Everything CI runs: fmt, clippy, unit tests, a 60 s fuzz run, spec lint, codegen check,
    /// SDK smoke checks, the stack, integration tests, SDK flows, schemathesis, teardown, fault
    /// tests.
    Ci,
    /// Fuzz the request decoders and record codecs with libFuzzer (cargo-fuzz, installed on
    /// first use), a time budget split over the targets in fuzz/.
    Fuzz {
        /// Seconds of fuzzing in all, split evenly over the targets.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (repeatable): produce_body, consumer_requests, avro, jsonschema,
        /// protobuf, plain_record.
        #[arg(long)]
        target: Vec<String>,
    },
    /// Soak: a moderate mixed load on the release proxy for a long while, sampling its RSS,
    /// open file descriptors and threads; fails unless they stayed flat. Not part of ci.
    Soak {
        /// How long the load runs.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Seconds between two samples of the proxy.
        #[arg(long, default_value_t = 5)]
        every: u64,
    },
    /// Benchmarks: the proxy against a native Kafka client on the same broker, same run.
    Bench {
        /// A reduced set (one short run per scenario), under 3 minutes.
        #[arg(long)]
        quick: bool,
        /// Drive another Confluent-v2-compatible proxy at this base URL instead of ours.
        #[arg(long)]
        target: Option<String>,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write `results.json` and SVG charts (throughput, latency) into this directory.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Draw the charts of this saved results JSON into `--report DIR`; runs nothing.
        #[arg(long, value_name = "FILE", requires = "report")]
        from: Option<PathBuf>,
        /// Only scenarios whose id starts with one of these (repeatable), e.g. `--only P1`.
        #[arg(long)]
        only: Vec<String>,
        /// A proxy setting for this run, `KEY=VALUE` (repeatable); `producer.*`/`client.*`
        /// settings apply to the native producer too.
        #[arg(long)]
        set: Vec<String>,
    },
    /// The bench's floor server (R2, RL1): a minimal HTTP-to-Kafka server, started by
    /// `bench` from its own binary.
    #[command(hide = true)]
    BenchFloor {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        bootstrap: String,
        /// As `bench --set`: the `producer.*`/`client.*` settings apply to its producer.
        #[arg(long)]
        set: Vec<String>,
    },
}

#[derive(Subcommand)]
enum StackCmd {
    /// Resolve and start Kafka and the registry (idempotent).
    Up {
        /// Number of Kafka nodes (1, or 3 for failover tests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        brokers: u8,
        /// Also the secured listeners: SASL_SSL (PLAIN, SCRAM) and SSL with client
        /// certificates, the test CA and users, and an authorizer that denies without an ACL.
        #[arg(long)]
        secure: bool,
    },
    /// Stop exactly the processes `stack up` started and remove their data.
    Down,
    /// Show what runs.
    Status,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Stack { action } => match action {
            StackCmd::Up { brokers, secure } => stack::up_with(brokers, secure).map(|_| ()),
            StackCmd::Down => stack::down(),
            StackCmd::Status => stack::status(),
        },
        Cmd::Up { debug } => up(debug),
        Cmd::Test {
            brokers,
            secure,
            args,
        } => ci::test(brokers, secure, &args),
        Cmd::LintSpec => codegen::lint_spec(),
        Cmd::Codegen { check, server_only } => codegen::codegen(check, server_only),
        Cmd::SdkTest { flows: false } => codegen::sdk_test(),
        Cmd::SdkTest { flows: true } => flows::sdk_flows(),
        Cmd::Schemathesis {
            max_time,
            seed,
            max_examples,
        } => schemathesis::standalone(schemathesis::Options {
            max_time,
            seed,
            max_examples,
        }),
        Cmd::Dist {
            debug,
            check_install,
        } => dist::dist(debug, check_install),
        Cmd::Ci => ci::ci(),
        Cmd::Soak { minutes, every } => soak::soak(soak::SoakArgs { minutes, every }),
        Cmd::Fuzz { seconds, target } => fuzz::fuzz(fuzz::FuzzArgs {
            seconds,
            targets: target,
        }),
        // The load generator and the native client are this binary: measured in a debug
        // build they would be what limits a row, so the bench always runs optimized.
        Cmd::Bench { from: None, .. } if cfg!(debug_assertions) => bench::run_optimized(),
        Cmd::BenchFloor {
            listen,
            bootstrap,
            set,
        } => bench::serve_floor(&listen, &bootstrap, &set),
        Cmd::Bench {
            quick,
            target,
            json,
            report,
            from,
            only,
            set,
        } => bench::bench(bench::BenchArgs {
            quick,
            target,
            json,
            report,
            from,
            only,
            set,
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The repository root (the parent of this crate's directory). `cargo run` names the crate's
/// directory in the environment; the compile-time value is only a fallback, because cargo
/// reuses an xtask binary built in another clone with the same sources when clones share a
/// `CARGO_TARGET_DIR`, and that binary would then work on the other clone.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo xtask up`: the stack, then the proxy in the foreground with the shipped config; the
/// release build, the one users deploy and measure, unless `debug`.
fn up(debug: bool) -> Result<()> {
    let info = stack::up(1)?;
    let profile: &[&str] = if debug { &[] } else { &["--release"] };
    let build = [&["build", "--bin", "kafka-rest"], profile].concat();
    ci::cargo(&build, &[])?;
    let root = workspace_root();
    let config = root.join("config/kafka-rest.properties");
    println!("[up] proxy on http://127.0.0.1:8082 (Ctrl-C stops the proxy; `cargo xtask stack down` stops the stack)");
    println!("[up] try: curl -s http://127.0.0.1:8082/topics");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    use std::os::unix::process::CommandExt;
    // Replace this process, so that Ctrl-C goes straight to the proxy.
    let err = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--bin", "kafka-rest"])
        .args(profile)
        .args(["--", "--config"])
        .arg(&config)
        .env("KAFKA_REST_BOOTSTRAP_SERVERS", &info.bootstrap)
        .env("KAFKA_REST_SCHEMA_REGISTRY_URL", &info.registry_url)
        .current_dir(&root)
        .exec();
    Err(err).context("cannot start the proxy")
}
