//! The external programs xtask runs, found and run one way: a Java of at least some version,
//! Python venvs under the cache root's `tools/`, and tool commands whose output goes to a log
//! file, with one progress line before and the log's tail on failure.
//!
//! Owns where tools and their logs live (`tools_dir`, `logs_dir`), how Java is looked for
//! (`java`), how a venv is made and when it is made again (`venv`), and how a command runs
//! (`run_logged` with its output in a log, `run_with_timeout` with inherited output). What a
//! tool is used for, and its pinned version, stay with the command that uses it
//! (`schemathesis.rs`, `flows.rs`, `fuzz.rs`, `stack/`, `codegen.rs`).

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// Lines of a log shown when the command that wrote it failed.
const TAIL_LINES: usize = 40;

/// Where JDKs are installed on Debian and Ubuntu, one directory each with a `release` file.
const JVM_DIR: &str = "/usr/lib/jvm";

/// Tools installed on first use (venvs, jars, cargo-fuzz), one directory each.
pub(crate) fn tools_dir() -> PathBuf {
    crate::stack::cache_root().join("tools")
}

/// The logs of tool installs and runs.
pub(crate) fn logs_dir() -> PathBuf {
    tools_dir().join("logs")
}

// ---------------------------------------------------------------------------------------------
// Java

/// The first Java of at least version `min_major`, looked for in this order:
/// `$JAVA_HOME/bin/java`, `java` on PATH, then the newest JDK under `/usr/lib/jvm`. A Java too
/// old is passed over, so a machine whose default is 17 still finds an installed 21 for a tool
/// that needs it. `needed_by` names the tool in the error when none fits.
pub(crate) fn java(min_major: u32, needed_by: &str) -> Result<PathBuf> {
    let fits = |java: &Path| java_major(java).is_some_and(|major| major >= min_major);
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|home| !home.is_empty()) {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.exists() && fits(&java) {
            return Ok(java);
        }
    }
    let on_path = PathBuf::from("java");
    if fits(&on_path) {
        return Ok(on_path);
    }
    if let Some(java) = newest_installed_jdk(min_major) {
        return Ok(java);
    }
    bail!(
        "{needed_by} needs Java {min_major}+, but none was found (checked $JAVA_HOME, `java` on \
         PATH and {JVM_DIR}/*/release). Install a JDK {min_major}+ (e.g. Temurin {min_major}) or \
         point JAVA_HOME at one"
    )
}

/// The `bin/java` of the newest JDK of at least `min_major` under `/usr/lib/jvm`, read from
/// each JDK's `release` file (no JVM is started).
fn newest_installed_jdk(min_major: u32) -> Option<PathBuf> {
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in fs::read_dir(JVM_DIR).ok()?.flatten() {
        let dir = entry.path();
        let java = dir.join("bin").join("java");
        let Ok(release) = fs::read_to_string(dir.join("release")) else {
            continue;
        };
        let major = release
            .lines()
            .find_map(|line| line.strip_prefix("JAVA_VERSION="))
            .and_then(|value| parse_java_major(value.trim().trim_matches('"')));
        if let Some(major) = major {
            if major >= min_major
                && java.exists()
                && best.as_ref().is_none_or(|(best, _)| major > *best)
            {
                best = Some((major, java));
            }
        }
    }
    best.map(|(_, java)| java)
}

/// Major version from `java -version` (e.g. `openjdk version "17.0.15"` or `"1.8.0_392"`);
/// `None` when it does not run.
pub(crate) fn java_major(java: &Path) -> Option<u32> {
    let output = Command::new(java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text.split('"').nth(1)?;
    parse_java_major(version)
}

fn parse_java_major(version: &str) -> Option<u32> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

// ---------------------------------------------------------------------------------------------
// Python venvs

/// One argument group of `pip install`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pip<'a> {
    /// A requirement specifier, e.g. `schemathesis==4.32.5`.
    Package(&'a str),
    /// A requirements file (`-r`).
    Requirements(&'a Path),
    /// A constraints file (`-c`) that pins what the packages pull in.
    Constraints(&'a Path),
}

/// A venv at `tools/<name>` with `packages` installed from PyPI; returns its directory (its
/// programs are in `bin/`). It is made on first use and made again from scratch when the
/// packages or the contents of their files change: the key of what was installed is kept in
/// the venv's `.complete` file, written only after pip succeeded. `tag` prefixes the progress
/// lines; pip's output goes to `tools/logs/<name>.log`.
pub(crate) fn venv(tag: &str, name: &str, packages: &[Pip<'_>]) -> Result<PathBuf> {
    let dir = tools_dir().join(name);
    let marker = dir.join(".complete");
    let key = venv_key(packages)?;
    if fs::read_to_string(&marker).ok().as_deref() == Some(key.as_str())
        && dir.join("bin").join("python").exists()
    {
        return Ok(dir);
    }
    let started = Instant::now();
    remove_dir_if_exists(&dir)?;
    let log = logs_dir().join(format!("{name}.log"));
    fresh_log(&log)?;
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&dir);
    run_logged(
        create,
        &log,
        &format!("[{tag}] creating a venv at {}", dir.display()),
        "Python 3.10+ with the venv module (on Debian `apt-get install python3-venv`)",
    )?;
    let mut install = pip_install(&dir.join("bin").join("python"));
    let mut shown = Vec::new();
    for package in packages {
        match package {
            Pip::Package(spec) => {
                install.arg(spec);
                shown.push((*spec).to_string());
            }
            Pip::Requirements(file) => {
                install.arg("-r").arg(file);
                shown.push(format!("-r {}", file.display()));
            }
            Pip::Constraints(file) => {
                install.arg("-c").arg(file);
                shown.push(format!("-c {}", file.display()));
            }
        }
    }
    run_logged(
        install,
        &log,
        &format!("[{tag}] pip install {} (from PyPI)", shown.join(" ")),
        "pip in the new venv",
    )?;
    fs::write(&marker, key).with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[{tag}] venv {name} ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// `python -m pip install` without prompts or the version check, for installing more into a
/// venv made by [`venv`].
pub(crate) fn pip_install(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    command
}

/// What a venv was made from: each argument, and the contents of each file.
fn venv_key(packages: &[Pip<'_>]) -> Result<String> {
    let mut parts = Vec::new();
    for package in packages {
        parts.push(match package {
            Pip::Package(spec) => format!("package {spec}"),
            Pip::Requirements(file) => format!("requirements {}", fingerprint(&[file])?),
            Pip::Constraints(file) => format!("constraints {}", fingerprint(&[file])?),
        });
    }
    Ok(parts.join("\n"))
}

/// A hash of the files' names and contents, as a cache key.
pub(crate) fn fingerprint(files: &[impl AsRef<Path>]) -> Result<String> {
    let mut hasher = DefaultHasher::new();
    for file in files {
        let file = file.as_ref();
        file.hash(&mut hasher);
        fs::read(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

// ---------------------------------------------------------------------------------------------
// Running commands

/// Creates `path`'s parent and an empty log file there, replacing an old one.
pub(crate) fn fresh_log(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}

/// Runs a tool with its stdout and stderr appended to `log`, after one progress line
/// (`step`, the log's path and `...`). When it fails, the log's last lines are printed and
/// the error names the log. `needs` says what to install when the program itself is missing.
pub(crate) fn run_logged(mut command: Command, log: &Path, step: &str, needs: &str) -> Result<()> {
    eprintln!("{step} (log: {}) ...", log.display());
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log file {}", log.display()))?;
    let stderr = file
        .try_clone()
        .with_context(|| format!("cannot reopen log file {}", log.display()))?;
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .status();
    let status = match status {
        Ok(status) => status,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            bail!("`{program}` was not found; this step needs {needs}")
        }
        Err(err) => return Err(err).with_context(|| format!("cannot run `{program}`")),
    };
    if !status.success() {
        print_tail(log);
        bail!("`{program}` failed ({status}); see {}", log.display());
    }
    Ok(())
}

/// Prints the last lines of a log, between two marker lines.
pub(crate) fn print_tail(log: &Path) {
    eprintln!("---- last {TAIL_LINES} lines of {} ----", log.display());
    eprintln!("{}", tail(log, TAIL_LINES));
    eprintln!("---- end of {} ----", log.display());
}

/// The last `lines` lines of a file, or why it could not be read.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), lines),
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `command` with its output on the terminal; kills it after `timeout`.
pub(crate) fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run `{program}`"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "`{program}` failed ({status})");
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "`{program}` did not finish within {}s and was killed",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes a directory tree; a missing one is fine.
pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_major_versions_are_read_from_old_and_new_version_strings() {
        assert_eq!(parse_java_major("17.0.15"), Some(17));
        assert_eq!(parse_java_major("21"), Some(21));
        assert_eq!(parse_java_major("25.0.3"), Some(25));
        assert_eq!(parse_java_major("1.8.0_392"), Some(8));
        assert_eq!(parse_java_major("x"), None);
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nb", 5), "a\nb");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn a_venv_is_made_again_when_a_package_or_a_file_changes() {
        let dir = std::env::temp_dir().join(format!("xtask-venv-key-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let constraints = dir.join("constraints.txt");
        fs::write(&constraints, "a==1\n").expect("write");
        let key = |spec| venv_key(&[Pip::Package(spec), Pip::Constraints(&constraints)]);
        let first = key("tool==1").expect("key");
        assert_eq!(first, key("tool==1").expect("key"));
        assert_ne!(first, key("tool==2").expect("key"));
        fs::write(&constraints, "a==2\n").expect("write");
        assert_ne!(first, key("tool==1").expect("key"));
        let _ = fs::remove_dir_all(&dir);
    }
}
