//! The stack's artifacts, resolved from Maven Central with `mvn` on first use and kept under
//! the cache root: the Apache Kafka runtime jars (through the pom in `xtask/assets/`) and the
//! Apicurio Registry distribution (a tarball, unpacked). A `.complete` file marks a finished
//! download, so an interrupted one starts over.
//!
//! Owns downloading and unpacking only; how the jars are run is `kafka.rs` and `registry.rs`.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use super::paths::Paths;
use super::process::secs;
use super::{APICURIO_VERSION, KAFKA_VERSION};
use crate::tools;

const KAFKA_POM: &str = include_str!("../../assets/kafka-pom.xml");
/// The plugin whose `copy` and `copy-dependencies` goals fetch the artifacts.
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";

/// Runs `mvn` with its output in a fresh `log`, after the progress line `step`; on failure
/// prints the log's tail.
fn run_maven(args: &[String], log: &Path, step: &str, what: &str) -> Result<()> {
    tools::fresh_log(log)?;
    let mut mvn = Command::new("mvn");
    mvn.args(args);
    tools::run_logged(
        mvn,
        log,
        step,
        &format!(
            "Apache Maven (`mvn`, e.g. `apt-get install maven`) to download {what} from Maven \
             Central"
        ),
    )
    .with_context(|| format!("cannot download {what}"))
}

pub(super) fn resolve_kafka(paths: &Paths) -> Result<()> {
    let marker = paths.kafka_home.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    let started = Instant::now();
    fs::create_dir_all(&paths.kafka_home)
        .with_context(|| format!("cannot create {}", paths.kafka_home.display()))?;
    if paths.kafka_libs.exists() {
        fs::remove_dir_all(&paths.kafka_libs)
            .with_context(|| format!("cannot remove {}", paths.kafka_libs.display()))?;
    }
    let pom = paths.kafka_home.join("pom.xml");
    fs::write(&pom, KAFKA_POM).with_context(|| format!("cannot write {}", pom.display()))?;
    let log = paths.kafka_home.join("mvn.log");
    let args = vec![
        "-B".to_string(),
        "-ntp".to_string(),
        "-f".to_string(),
        pom.display().to_string(),
        format!("{DEPENDENCY_PLUGIN}:copy-dependencies"),
        "-DincludeScope=runtime".to_string(),
        format!("-DoutputDirectory={}", paths.kafka_libs.display()),
    ];
    run_maven(
        &args,
        &log,
        &format!("[stack] resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central"),
        &format!("the Apache Kafka {KAFKA_VERSION} jars"),
    )?;

    let main_jar = paths
        .kafka_libs
        .join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    ensure!(
        main_jar.exists(),
        "`mvn` succeeded but {} is missing; see {}",
        main_jar.display(),
        log.display()
    );
    let (count, bytes) = dir_stats(&paths.kafka_libs)?;
    fs::write(&marker, "").with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[stack] kafka jars ready ({count} jars, {} MB) in {}",
        bytes / 1_000_000,
        secs(started.elapsed())
    );
    Ok(())
}

fn dir_stats(dir: &Path) -> Result<(usize, u64)> {
    let mut count = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let meta = entry
            .metadata()
            .with_context(|| format!("cannot stat {}", entry.path().display()))?;
        if meta.is_file() {
            count += 1;
            bytes += meta.len();
        }
    }
    Ok((count, bytes))
}

pub(super) fn resolve_registry(paths: &Paths) -> Result<()> {
    let home = &paths.apicurio_home;
    let marker = home.join(".complete");
    if marker.exists() {
        return Ok(());
    }
    let started = Instant::now();
    if home.exists() {
        fs::remove_dir_all(home).with_context(|| format!("cannot remove {}", home.display()))?;
    }
    fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let log = home.join("mvn.log");
    let args = vec![
        "-B".to_string(),
        "-ntp".to_string(),
        format!("{DEPENDENCY_PLUGIN}:copy"),
        format!("-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"),
        format!("-DoutputDirectory={}", home.display()),
    ];
    run_maven(
        &args,
        &log,
        &format!("[stack] resolving Apicurio Registry {APICURIO_VERSION} from Maven Central"),
        &format!("Apicurio Registry {APICURIO_VERSION}"),
    )?;

    let tarball = home.join(format!(
        "apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    ));
    let output = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(home)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `tar` to extract {}", tarball.display()))?;
    if !output.status.success() {
        bail!(
            "`tar -xzf {}` failed ({}): {}",
            tarball.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    fs::remove_file(&tarball).with_context(|| format!("cannot remove {}", tarball.display()))?;
    let jar = paths.registry_jar();
    ensure!(
        jar.exists(),
        "{} is missing after extracting the Apicurio Registry distribution",
        jar.display()
    );
    fs::write(&marker, "").with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[stack] registry unpacked into {} in {}",
        home.display(),
        secs(started.elapsed())
    );
    Ok(())
}
