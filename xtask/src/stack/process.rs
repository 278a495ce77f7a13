//! The stack's processes: pid files and whether the process they name is still ours, starting
//! a detached background process with its log, stopping processes (SIGTERM, then SIGKILL),
//! checking that a port is free, and the lock file that serialises `stack up` and `stack down`
//! across xtask processes.
//!
//! Owns the rule that only a process recorded in a pid file, alive, a Java process and started
//! with its component's marker on the command line is ever signalled. Which processes make up
//! the stack and when they start is `mod.rs`; their command lines are `kafka.rs` and
//! `registry.rs`.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::paths::{Component, Paths, HOST};

/// How long stopped processes get to exit after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stack up` or `stack down` waits for another one to finish.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PidState {
    Missing,
    Running(u32),
    /// The pid file exists but its process is gone (or the file is unreadable: `None`).
    Stale(Option<u32>),
}

impl PidState {
    pub(super) fn is_running(self) -> bool {
        matches!(self, PidState::Running(_))
    }
}

impl Component {
    /// Whether the component's pid file names a live process that is ours.
    pub(super) fn state(self, paths: &Paths) -> PidState {
        let pid_file = self.pid_file(paths);
        if !pid_file.exists() {
            return PidState::Missing;
        }
        match read_pid(&pid_file) {
            Some(pid) if process_is_ours(pid, &self.cmdline_marker(paths)) => {
                PidState::Running(pid)
            }
            pid => PidState::Stale(pid),
        }
    }
}

/// A stack process that `up` started or `down` found running.
#[derive(Debug, Clone, Copy)]
pub(super) struct Launched {
    pub(super) component: Component,
    pub(super) pid: u32,
}

fn read_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

pub(super) fn write_pid(paths: &Paths, component: Component, pid: u32) -> Result<()> {
    let pid_file = component.pid_file(paths);
    fs::write(&pid_file, format!("{pid}\n"))
        .with_context(|| format!("cannot write {}", pid_file.display()))
}

/// Alive, a Java process, and started with `marker` on its command line. Zombies have an empty
/// command line, so they count as dead.
fn process_is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    contains(&cmdline, b"java") && contains(&cmdline, marker.as_bytes())
}

fn process_exists(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

pub(super) fn describe_stale(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid} is not running"),
        None => "unreadable pid".to_string(),
    }
}

fn signal(pid: u32, sig: &str) {
    // Failure only means the process is already gone.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM all, wait up to 30 s, SIGKILL the rest; removes their pid files.
pub(super) fn stop_processes(paths: &Paths, victims: &[Launched]) {
    let started = Instant::now();
    let alive =
        |victim: &&Launched| process_is_ours(victim.pid, &victim.component.cmdline_marker(paths));
    for victim in victims {
        if alive(&victim) {
            eprintln!(
                "[stack] stopping {} (pid {})",
                victim.component.name(),
                victim.pid
            );
            signal(victim.pid, "TERM");
        } else {
            eprintln!(
                "[stack] {} (pid {}) has already exited",
                victim.component.name(),
                victim.pid
            );
        }
    }
    while victims.iter().any(|v| alive(&v)) && started.elapsed() < STOP_TIMEOUT {
        sleep(Duration::from_millis(100));
    }
    for victim in victims.iter().filter(alive) {
        eprintln!(
            "[stack] {} (pid {}) ignored SIGTERM for {}s; sending SIGKILL",
            victim.component.name(),
            victim.pid,
            STOP_TIMEOUT.as_secs()
        );
        signal(victim.pid, "KILL");
    }
    let kill_deadline = Instant::now() + Duration::from_secs(5);
    while victims.iter().any(|v| alive(&v)) && Instant::now() < kill_deadline {
        sleep(Duration::from_millis(100));
    }
    for victim in victims {
        if alive(&victim) {
            eprintln!(
                "[stack] warning: {} (pid {}) is still running",
                victim.component.name(),
                victim.pid
            );
        } else {
            let _ = fs::remove_file(victim.component.pid_file(paths));
        }
    }
    eprintln!(
        "[stack] stopped {} process(es) in {}",
        victims.len(),
        secs(started.elapsed())
    );
}

/// Moves an existing log aside (`x.log` -> `x.log.1`) and opens a fresh one.
fn fresh_log(path: &Path) -> Result<File> {
    if path.exists() {
        let mut previous = path.as_os_str().to_owned();
        previous.push(".1");
        fs::rename(path, &previous)
            .with_context(|| format!("cannot rotate log file {}", path.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create log file {}", path.display()))
}

/// Spawns a background process in its own process group (so Ctrl-C in the terminal that ran
/// xtask does not reach it), with stdout and stderr appended to `log`.
pub(super) fn spawn_detached(mut command: Command, log: &Path, what: &str) -> Result<Child> {
    let file = fresh_log(log)?;
    let stderr = file
        .try_clone()
        .with_context(|| format!("cannot reopen log file {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    command.spawn().with_context(|| {
        format!(
            "cannot start {what} ({:?}); is Java installed?",
            command.get_program()
        )
    })
}

fn port_in_use(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

pub(super) fn ensure_port_free(port: u16, what: &str, paths: &Paths) -> Result<()> {
    if port_in_use(port) {
        bail!(
            "{HOST}:{port} (needed by {what}) is already in use by a process this stack did not \
             start (pid files: {}); stop that process and retry",
            paths.pids.display()
        );
    }
    Ok(())
}

pub(super) fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// Serialises `up`/`down` across processes with a pid-stamped lock file.
pub(super) struct StackLock {
    path: PathBuf,
}

impl StackLock {
    pub(super) fn acquire(stack: &Path) -> Result<Self> {
        let path = stack.join("lock");
        let started = Instant::now();
        let mut announced = false;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(StackLock { path });
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                    let holder = read_pid(&path);
                    let young = fs::metadata(&path)
                        .and_then(|meta| meta.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                        .is_some_and(|age| age < Duration::from_secs(5));
                    let held = match holder {
                        Some(pid) => process_exists(pid),
                        // Being written right now, or garbage left behind.
                        None => young,
                    };
                    if !held {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_TIMEOUT {
                        bail!(
                            "timed out waiting for {} (held by pid {}); remove it if no other \
                             `cargo xtask stack` command is running",
                            path.display(),
                            holder.map_or_else(|| "?".to_string(), |pid| pid.to_string())
                        );
                    }
                    if !announced {
                        eprintln!(
                            "[stack] waiting for another xtask stack command (lock {})",
                            path.display()
                        );
                        announced = true;
                    }
                    sleep(Duration::from_millis(250));
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub(super) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove {}", path.display())),
    }
}
