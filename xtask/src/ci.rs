//! `cargo xtask ci` and `cargo xtask test`: the exact sequence CI runs.
//!
//! Owns the order of the checks, the progress lines and the guarantee that a stack this command
//! started is stopped again, also when a step fails. The stack itself is `stack/`.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{codegen, dist, flows, fuzz, schemathesis, stack};

/// Debian packages the build and the tests need: rdkafka's bundled librdkafka (SSL, zlib),
/// nginx, the real load balancer in front of several proxy instances in the tests, and
/// Chromium, the headless browser that runs the README's records stream example
/// (`tests/it/browser.rs`).
const SYSTEM_PACKAGES: &[&str] = &[
    "libssl-dev",
    "pkg-config",
    "zlib1g-dev",
    "nginx-light",
    "chromium",
];

/// Debian's `policy-rc.d` hook: while it exists and exits 101, package installs start no
/// services (nginx would otherwise start a system-wide server on port 80).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// The fuzzing budget of a CI run, all targets together.
const CI_FUZZ_SECONDS: u64 = 60;

/// Ports of the fault tests' three-node stack are the usual ones plus this.
const FAULT_STACK_PORT_OFFSET: &str = "1000";

/// Ports of the secured stack (`stack up --secure`) of the `secure_kafka::` tests.
const SECURE_STACK_PORT_OFFSET: &str = "1500";

/// Runs every check; returns an error if any failed.
pub fn ci() -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps::new(21);
    steps.run("system packages", ensure_system_packages)?;
    steps.run("cargo fmt --check", || {
        cargo(&["fmt", "--all", "--check"], &[])
    })?;
    steps.run("cargo clippy -D warnings", || {
        cargo(
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    steps.run("unit tests", || {
        cargo(&["test", "--workspace", "--lib", "--bins"], &[])
    })?;
    steps.run("fuzz the request decoders and record codecs (60 s)", || {
        fuzz::fuzz(fuzz::FuzzArgs {
            seconds: CI_FUZZ_SECONDS,
            targets: Vec::new(),
        })
    })?;
    steps.run("lint the OpenAPI contract", codegen::lint_spec)?;
    steps.run(
        "generated server crate, served document and SDKs match the contract (codegen --check)",
        || codegen::codegen(true, false),
    )?;
    steps.run("generated SDKs compile (sdk-test)", codegen::sdk_test)?;
    steps.run("build integration tests", || {
        cargo(&["test", "--test", "it", "--no-run"], &[])
    })?;
    let info = steps.run("stack up (1 broker)", || stack::up(1))?;
    let skip = [
        "--skip".to_string(),
        "faults::".to_string(),
        "--skip".to_string(),
        "secure_kafka::".to_string(),
    ];
    let tests = steps.run("integration tests against the stack", || {
        integration_tests_with(&info, &skip)
    });
    // The contract tests need the same 1-broker stack; each starts its own proxy.
    let flows = steps.run(
        "SDK flows: python, typescript, go (v2 and v3) and java (v3) against a proxy (sdk-test --flows)",
        || flows::run(&info),
    );
    let contract = steps.run(
        "schemathesis against the proxy's v2 and v3 documents (bounded, fixed seed)",
        || schemathesis::run(&info, schemathesis::Options::default()),
    );
    let install = steps.run(
        "release archive and Debian package: install, start, produce, stop, remove (dist --check-install)",
        || dist::build_and_check(&info),
    );
    let down = steps.run("stack down", || {
        if info.started_now {
            stack::down()
        } else {
            println!("[ci] the stack was already running before ci; leaving it up");
            Ok(())
        }
    });
    tests?;
    flows?;
    contract?;
    install?;
    down?;
    // The fault tests kill and freeze brokers: they get a three-node stack of their own, on
    // other ports and with its own state, so a development stack is never touched.
    std::env::set_var("KAFKA_REST_STACK_PORT_OFFSET", FAULT_STACK_PORT_OFFSET);
    let info3 = steps.run("stack up (3 brokers, for fault tests)", || stack::up(3))?;
    let only = ["faults::".to_string(), "--test-threads=1".to_string()];
    let faults = steps.run("fault tests against the 3-broker stack", || {
        integration_tests_with(&info3, &only)
    });
    let down3 = steps.run("stack down (3 brokers)", stack::down);
    std::env::remove_var("KAFKA_REST_STACK_PORT_OFFSET");
    faults?;
    down3?;
    // The secured-Kafka tests need the SASL_SSL and SSL listeners and an authorizer that denies:
    // a 1-node secured stack on ports of its own.
    std::env::set_var("KAFKA_REST_STACK_PORT_OFFSET", SECURE_STACK_PORT_OFFSET);
    let secured = steps.run("stack up --secure (1 broker, SASL_SSL and SSL)", || {
        stack::up_with(1, true)
    })?;
    let only = ["secure_kafka::".to_string()];
    let secure_tests = steps.run("secured-Kafka tests against the secured stack", || {
        integration_tests_with(&secured, &only)
    });
    let down_secure = steps.run("stack down (secured)", stack::down);
    std::env::remove_var("KAFKA_REST_STACK_PORT_OFFSET");
    secure_tests?;
    down_secure?;
    println!(
        "[ci] all {} steps passed in {:.0}s",
        steps.total,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test`: integration tests against a running stack (started if needed, left up);
/// `secure` starts the secured stack, which the `secure_kafka::` tests need.
pub fn test(brokers: u8, secure: bool, extra: &[String]) -> Result<()> {
    let info = stack::up_with(brokers, secure)?;
    integration_tests_with(&info, extra)
}

fn integration_tests_with(info: &stack::StackInfo, extra: &[String]) -> Result<()> {
    let mut args = vec!["test", "--test", "it"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    let brokers = info.brokers.to_string();
    let pids = stack::pid_dir().display().to_string();
    let mut env = vec![
        ("KAFKA_BOOTSTRAP", info.bootstrap.clone()),
        ("SCHEMA_REGISTRY_URL", info.registry_url.clone()),
        ("KAFKA_REST_REQUIRE_STACK", "1".to_string()),
        ("KAFKA_REST_STACK_BROKERS", brokers),
        ("KAFKA_REST_STACK_PIDS", pids),
    ];
    // The `secure_kafka::` tests run only where these are set (and fail without them when
    // `KAFKA_REST_REQUIRE_SECURE_STACK` is set, as here for a secured stack).
    if let Some(secure) = &info.secure {
        env.push((
            "KAFKA_SASL_SSL_BOOTSTRAP",
            secure.sasl_ssl_bootstrap.clone(),
        ));
        env.push(("KAFKA_SSL_BOOTSTRAP", secure.ssl_bootstrap.clone()));
        env.push(("KAFKA_TLS_DIR", secure.tls_dir.display().to_string()));
        env.push(("KAFKA_REST_REQUIRE_SECURE_STACK", "1".to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cargo(&args, &env).with_context(|| {
        format!(
            "integration tests failed (stack logs: {})",
            stack::log_dir().display()
        )
    })
}

/// Numbered progress lines with the time each step took.
struct Steps {
    done: usize,
    total: usize,
}

impl Steps {
    fn new(total: usize) -> Steps {
        Steps { done: 0, total }
    }

    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.done += 1;
        println!("[ci] step {}/{}: {name} ...", self.done, self.total);
        let started = Instant::now();
        let result = f();
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(_) => println!(
                "[ci] step {}/{}: {name} ok ({secs:.1}s)",
                self.done, self.total
            ),
            Err(e) => println!(
                "[ci] step {}/{}: {name} FAILED after {secs:.1}s: {e:#}",
                self.done, self.total
            ),
        }
        result
    }
}

/// Runs `cargo` with arguments and extra environment; fails on a non-zero exit.
pub fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(crate::workspace_root())
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs the Debian packages the build needs, when they are missing and we may.
fn ensure_system_packages() -> Result<()> {
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        println!("[ci] present: {}", SYSTEM_PACKAGES.join(", "));
        return Ok(());
    }
    println!("[ci] installing missing packages: {}", missing.join(", "));
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!(
                "apt-get {} failed; install {} by hand",
                args.join(" "),
                missing.join(" ")
            );
        }
        Ok(())
    };
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    let ours = !std::path::Path::new(POLICY_RC_D).exists()
        && std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n").is_ok()
        && Command::new("chmod")
            .args(["755", POLICY_RC_D])
            .status()
            .is_ok_and(|s| s.success());
    let result = apt(&args);
    if ours {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    result
}
