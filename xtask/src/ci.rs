//! `cargo xtask ci` and `cargo xtask test`: the exact sequence CI runs.
//!
//! Owns the order of the checks, the progress lines and the guarantee that a stack this command
//! started is stopped again, also when a step fails. The stack itself is `stack.rs`.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{codegen, stack};

/// Debian packages the Rust build needs (rdkafka's bundled librdkafka with SSL and zlib).
const SYSTEM_PACKAGES: &[&str] = &["libssl-dev", "pkg-config", "zlib1g-dev"];

/// Runs every check; returns an error if any failed.
pub fn ci() -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps::new(11);
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
    steps.run("lint the OpenAPI contract", codegen::lint_spec)?;
    steps.run(
        "generated SDKs match the contract (codegen --check)",
        || codegen::codegen(true),
    )?;
    steps.run("build integration tests", || {
        cargo(&["test", "--test", "it", "--no-run"], &[])
    })?;
    let info = steps.run("stack up", || stack::up(1))?;
    let tests = steps.run("integration tests against the stack", || {
        integration_tests(&info)
    });
    let down = steps.run("stack down", || {
        if info.started_now {
            stack::down()
        } else {
            println!("[ci] the stack was already running before ci; leaving it up");
            Ok(())
        }
    });
    tests?;
    down?;
    println!(
        "[ci] all {} steps passed in {:.0}s",
        steps.total,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test`: integration tests against a running stack (started if needed, left up).
pub fn test(extra: &[String]) -> Result<()> {
    let info = stack::up(1)?;
    integration_tests_with(&info, extra)
}

fn integration_tests(info: &stack::StackInfo) -> Result<()> {
    integration_tests_with(info, &[])
}

fn integration_tests_with(info: &stack::StackInfo, extra: &[String]) -> Result<()> {
    let mut args = vec!["test", "--test", "it"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    cargo(
        &args,
        &[
            ("KAFKA_BOOTSTRAP", info.bootstrap.as_str()),
            ("SCHEMA_REGISTRY_URL", info.registry_url.as_str()),
            ("KAFKA_REST_REQUIRE_STACK", "1"),
        ],
    )
    .with_context(|| {
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
    let mut args = vec!["install", "-y", "-q"];
    args.extend(missing.iter().copied());
    apt(&args)
}
