//! `cargo xtask dist`: the release archive and the Debian package, and `--check-install`, the
//! CI step that installs both for real and runs them against the local stack.
//!
//! Owns the layout of both artifacts (the Confluent REST Proxy's `bin/` and `etc/kafka-rest/`,
//! and `/usr/bin`, `/etc/kafka-rest`, a systemd unit in the package), filling in the templates
//! under `dist/` and the install checks. What the scripts and the unit do is in those templates;
//! the stack is `stack.rs`.
//!
//! The package is built with `dpkg-deb --build` from a staging tree written here, not with
//! cargo-deb: dpkg-deb is part of every Debian system, while cargo-deb would be one more crate
//! to compile on every fresh CI machine for what is a control file, three maintainer scripts and
//! a file list.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::stack::StackInfo;

/// The Debian revision of our own packaging of a version.
const DEB_REVISION: &str = "1";

/// The port the installed proxies listen on in `--check-install`: below the kernel's ephemeral
/// range, so it never collides with the integration tests' port-0 listeners, and not the 8082
/// of a development proxy. A free ephemeral port is used when it is taken.
const CHECK_PORT: u16 = 18082;

/// How long an installed proxy may take to answer `/health/ready` (it connects to Kafka first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `kafka-rest-stop` may take, draining included; the script's own limit is 30 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

/// Where `kafka-rest-start -daemon` of the package logs.
const DEB_LOG: &str = "/var/log/kafka-rest/kafka-rest.out";

/// The topic of the quickstart produce; `stack up` creates it.
const QUICKSTART_TOPIC: &str = "jsontest";

/// What `cargo xtask dist` wrote.
#[derive(Debug)]
pub struct Artifacts {
    /// The version the binary reports, e.g. `0.1.0`.
    pub version: String,
    /// The whole `--version` line, e.g. `kafka-rest 0.1.0 (abc1234)`.
    pub version_line: String,
    /// `target/dist/kafka-rest-VERSION-linux-ARCH.tar.gz`.
    pub archive: PathBuf,
    /// `target/dist/kafka-rest_VERSION-1_DEBARCH.deb`.
    pub deb: PathBuf,
}

/// `cargo xtask dist [--debug] [--check-install]`.
pub fn dist(debug: bool, check: bool) -> Result<()> {
    let artifacts = build(debug)?;
    if check {
        let info = crate::stack::up(1)?;
        check_install(&info, &artifacts)?;
    }
    Ok(())
}

/// The CI step: builds the artifacts, then installs and runs both against `info`'s stack.
pub fn build_and_check(info: &StackInfo) -> Result<()> {
    let artifacts = build(false)?;
    check_install(info, &artifacts)
}

/// The name of the release archive (and, without `.tar.gz`, of its top folder's parent).
pub fn archive_name(version: &str, arch: &str) -> String {
    format!("kafka-rest-{version}-linux-{arch}.tar.gz")
}

/// The name of the Debian package file.
pub fn deb_name(version: &str, deb_arch: &str) -> String {
    format!("kafka-rest_{version}-{DEB_REVISION}_{deb_arch}.deb")
}

/// Builds the release binary (the debug one if `debug`: quicker to build, for trying the
/// packaging, never for users) and writes the archive and the package into `target/dist/`.
pub fn build(debug: bool) -> Result<Artifacts> {
    let started = Instant::now();
    let (profile, folder): (&[&str], &str) = if debug {
        (&[], "debug")
    } else {
        (&["--release"], "release")
    };
    let args = [&["build", "--bin", "kafka-rest"], profile].concat();
    println!("[dist] cargo {} ...", args.join(" "));
    crate::ci::cargo(&args, &[])?;
    let binary = target_dir().join(folder).join("kafka-rest");
    let version_line = output(Command::new(&binary).arg("--version"))?
        .trim()
        .to_string();
    let version = parse_version(&version_line)?;
    println!("[dist] {version_line}");

    let root = crate::workspace_root();
    let out = root.join("target").join("dist");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    let arch = std::env::consts::ARCH;
    let deb_arch = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_string();

    let archive = out.join(archive_name(&version, arch));
    write_archive(&root, &binary, &version, &out, &archive)?;
    println!("[dist] wrote {}", archive.display());
    let deb = out.join(deb_name(&version, &deb_arch));
    write_deb(&root, &binary, &version, &deb_arch, &out, &deb)?;
    println!("[dist] wrote {}", deb.display());
    println!("[dist] done in {:.0}s", started.elapsed().as_secs_f64());
    Ok(Artifacts {
        version,
        version_line,
        archive,
        deb,
    })
}

/// `kafka-rest 0.1.0 (abc1234)` -> `0.1.0`.
fn parse_version(line: &str) -> Result<String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("kafka-rest"), Some(version))
            if version.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Ok(version.to_string())
        }
        _ => bail!("`kafka-rest --version` printed {line:?}, not `kafka-rest VERSION (COMMIT)`"),
    }
}

/// The archive: `kafka-rest-VERSION/` with `bin/` (the binary and the start and stop scripts),
/// `etc/kafka-rest/kafka-rest.properties`, `LICENSE` and `README`, as the Confluent archive
/// lays them out. The scripts keep their log and pid file under the unpacked folder.
fn write_archive(
    root: &Path,
    binary: &Path,
    version: &str,
    out: &Path,
    archive: &Path,
) -> Result<()> {
    let top = format!("kafka-rest-{version}");
    let stage = out.join("archive").join(&top);
    let vars = [
        ("VERSION", version),
        ("LOG_DIR", "$base_dir/logs"),
        ("PID_DIR", "$base_dir/run"),
    ];
    install_binary(binary, &stage.join("bin/kafka-rest"))?;
    for script in ["kafka-rest-start", "kafka-rest-stop"] {
        let text = render_file(root, &format!("dist/bin/{script}"), &vars)?;
        write(&stage.join("bin").join(script), &text, 0o755)?;
    }
    copy(
        &root.join("config/kafka-rest.properties"),
        &stage.join("etc/kafka-rest/kafka-rest.properties"),
        0o644,
    )?;
    copy(&root.join("LICENSE"), &stage.join("LICENSE"), 0o644)?;
    let readme = render_file(root, "dist/README", &vars)?;
    write(&stage.join("README"), &readme, 0o644)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(out.join("archive"))
        .args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--sort=name",
            "-czf",
        ])
        .arg(archive)
        .arg(&top))
}

/// The Debian package: `/usr/bin/{kafka-rest,kafka-rest-start,kafka-rest-stop}`, the conffile
/// `/etc/kafka-rest/kafka-rest.properties`, the systemd unit, the copyright file, and the
/// maintainer scripts that create the `kafka-rest` user.
fn write_deb(
    root: &Path,
    binary: &Path,
    version: &str,
    deb_arch: &str,
    out: &Path,
    deb: &Path,
) -> Result<()> {
    let stage = out.join("deb");
    let vars = [
        ("VERSION", version),
        ("LOG_DIR", "/var/log/kafka-rest"),
        ("PID_DIR", "/run/kafka-rest"),
    ];
    install_binary(binary, &stage.join("usr/bin/kafka-rest"))?;
    for script in ["kafka-rest-start", "kafka-rest-stop"] {
        let text = render_file(root, &format!("dist/bin/{script}"), &vars)?;
        write(&stage.join("usr/bin").join(script), &text, 0o755)?;
    }
    copy(
        &root.join("config/kafka-rest.properties"),
        &stage.join("etc/kafka-rest/kafka-rest.properties"),
        0o644,
    )?;
    let unit = render_file(root, "dist/systemd/kafka-rest.service", &vars)?;
    write(
        &stage.join("usr/lib/systemd/system/kafka-rest.service"),
        &unit,
        0o644,
    )?;
    let copyright = render_file(root, "dist/debian/copyright", &vars)?;
    write(
        &stage.join("usr/share/doc/kafka-rest/copyright"),
        &copyright,
        0o644,
    )?;

    let installed_kib = tree_size(&stage)?.div_ceil(1024).to_string();
    let md5sums = md5sums(&stage)?;
    let depends = shared_library_packages(binary)?.join(", ");
    let deb_version = format!("{version}-{DEB_REVISION}");
    let control_vars = [
        ("VERSION", version),
        ("DEB_VERSION", deb_version.as_str()),
        ("ARCH", deb_arch),
        ("INSTALLED_SIZE", installed_kib.as_str()),
        ("DEPENDS", depends.as_str()),
        ("PID_DIR", "/run/kafka-rest"),
    ];
    let debian = stage.join("DEBIAN");
    write(
        &debian.join("control"),
        &render_file(root, "dist/debian/control", &control_vars)?,
        0o644,
    )?;
    write(&debian.join("md5sums"), &md5sums, 0o644)?;
    copy(
        &root.join("dist/debian/conffiles"),
        &debian.join("conffiles"),
        0o644,
    )?;
    for script in ["postinst", "prerm", "postrm"] {
        let text = render_file(root, &format!("dist/debian/{script}"), &control_vars)?;
        write(&debian.join(script), &text, 0o755)?;
    }
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&stage)
        .arg(deb)
        .stdout(Stdio::null()))
}

/// A stripped copy of the release binary: the symbol table is a third of its size and of no
/// use without debug information.
fn install_binary(binary: &Path, to: &Path) -> Result<()> {
    copy(binary, to, 0o755)?;
    run(Command::new("strip").arg("--strip-unneeded").arg(to))
}

/// The Debian packages that ship the shared libraries `binary` loads (`libssl3`, `zlib1g`,
/// `libc6`, ...), found with `ldd` and `dpkg -S`, so the package depends on what the build
/// machine's release calls them.
fn shared_library_packages(binary: &Path) -> Result<Vec<String>> {
    let ldd = output(Command::new("ldd").arg(binary))?;
    let mut packages = Vec::new();
    for line in ldd.lines() {
        // `libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)` or
        // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
        let Some(path) = line
            .split_whitespace()
            .find(|word| word.starts_with('/'))
            .map(PathBuf::from)
        else {
            continue;
        };
        let package = package_of(&path).with_context(|| {
            format!(
                "no Debian package ships {}, which the proxy loads",
                path.display()
            )
        })?;
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    packages.sort();
    ensure!(!packages.is_empty(), "ldd found no shared libraries");
    Ok(packages)
}

/// The package owning `path`, also where `/lib` is a link to `/usr/lib` and dpkg knows only
/// one of the two names.
fn package_of(path: &Path) -> Result<String> {
    let mut candidates = vec![path.to_path_buf()];
    if let Ok(real) = fs::canonicalize(path) {
        candidates.push(real);
    }
    let more: Vec<PathBuf> = candidates
        .iter()
        .filter_map(|p| {
            let text = p.to_str()?;
            Some(match text.strip_prefix("/usr") {
                Some(rest) => PathBuf::from(rest),
                None => PathBuf::from(format!("/usr{text}")),
            })
        })
        .collect();
    candidates.extend(more);
    for candidate in &candidates {
        let found = Command::new("dpkg").arg("-S").arg(candidate).output();
        if let Ok(found) = found {
            if found.status.success() {
                let text = String::from_utf8_lossy(&found.stdout);
                if let Some((package, _)) = text.lines().next().and_then(|l| l.split_once(':')) {
                    return Ok(package.trim().to_string());
                }
            }
        }
    }
    bail!("dpkg -S found none of {candidates:?}")
}

/// The `DEBIAN/md5sums` lines of every file under `stage`.
fn md5sums(stage: &Path) -> Result<String> {
    let files: Vec<PathBuf> = files_under(stage)?
        .into_iter()
        .filter_map(|p| p.strip_prefix(stage).ok().map(Path::to_path_buf))
        .filter(|p| !p.starts_with("DEBIAN"))
        .collect();
    output(Command::new("md5sum").args(&files).current_dir(stage))
}

/// The bytes of every file under `dir`.
fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for file in files_under(dir)? {
        total += fs::metadata(&file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
    }
    Ok(total)
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A template under `dist/` with every `@NAME@` replaced.
fn render_file(root: &Path, template: &str, vars: &[(&str, &str)]) -> Result<String> {
    let path = root.join(template);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    render(&text, vars).with_context(|| format!("in {template}"))
}

/// `@NAME@` -> its value; fails on a placeholder left without a value.
fn render(text: &str, vars: &[(&str, &str)]) -> Result<String> {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("@{name}@"), value);
    }
    let left: Vec<&str> = out
        .split('@')
        .skip(1)
        .step_by(2)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    ensure!(left.is_empty(), "placeholders without a value: {left:?}");
    Ok(out)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, mode)
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    set_mode(to, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Runs a command to completion; fails on a non-zero exit.
fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed ({status})");
    Ok(())
}

/// The standard output of a command that must succeed.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed ({})", out.status);
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?} printed no UTF-8"))
}

/// `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

// ---------------------------------------------------------------------------------------------
// --check-install

/// Installs both artifacts and runs them against `info`'s stack, cleaning up also on failure:
/// the archive unpacked in a temporary folder, started with
/// `bin/kafka-rest-start etc/kafka-rest/kafka-rest.properties`, the quickstart produce,
/// `bin/kafka-rest-stop`; then (as root) `dpkg -i`, `kafka-rest-start -daemon` from `PATH`, the
/// same produce, `kafka-rest-stop`, `dpkg -r` keeping the conffile, `dpkg -P`.
pub fn check_install(info: &StackInfo, artifacts: &Artifacts) -> Result<()> {
    check_archive(info, artifacts)?;
    if is_root()? {
        check_deb(info, artifacts)
    } else {
        println!("[dist] not root: the Debian package is built but not installed");
        Ok(())
    }
}

fn check_archive(info: &StackInfo, artifacts: &Artifacts) -> Result<()> {
    let tmp = TempDir::new("archive")?;
    println!(
        "[dist] archive: unpacking {} in {}",
        artifacts.archive.display(),
        tmp.0.display()
    );
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&artifacts.archive)
        .arg("-C")
        .arg(&tmp.0))?;
    let home = tmp.0.join(format!("kafka-rest-{}", artifacts.version));
    for file in [
        "bin/kafka-rest",
        "bin/kafka-rest-start",
        "bin/kafka-rest-stop",
        "etc/kafka-rest/kafka-rest.properties",
        "LICENSE",
        "README",
    ] {
        ensure!(home.join(file).is_file(), "the archive has no {file}");
    }
    let version = output(Command::new(home.join("bin/kafka-rest")).arg("--version"))?;
    ensure!(
        version.trim() == artifacts.version_line,
        "bin/kafka-rest --version printed {version:?}"
    );

    // What a user does first: point the shipped file at the brokers and pick the listener.
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let props = home.join("etc/kafka-rest/kafka-rest.properties");
    let text = fs::read_to_string(&props)?;
    let text = set_property(&text, "listeners", &url)?;
    let text = set_property(&text, "bootstrap.servers", &info.bootstrap)?;
    let text = set_property(&text, "schema.registry.url", &info.registry_url)?;
    fs::write(&props, text)?;

    // Outside the temporary folder, so that it outlives a failed check.
    let log = artifacts.archive.with_file_name("check-archive.log");
    println!(
        "[dist] archive: bin/kafka-rest-start etc/kafka-rest/kafka-rest.properties (listeners={url}, log: {})",
        log.display()
    );
    let log_file = fs::File::create(&log)?;
    let mut start = Command::new(home.join("bin/kafka-rest-start"));
    start
        .arg("etc/kafka-rest/kafka-rest.properties")
        .current_dir(&home)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    without_proxy_env(&mut start);
    let child = start.spawn().context("cannot run bin/kafka-rest-start")?;
    let mut proxy = Foreground {
        child,
        stop: home.join("bin/kafka-rest-stop"),
    };
    wait_ready(&url, Some(&mut proxy.child), &log)?;
    quickstart_produce(&url)?;
    println!("[dist] archive: bin/kafka-rest-stop");
    let mut stop = Command::new(&proxy.stop);
    stop.current_dir(&home);
    run(&mut stop)?;
    let status = proxy.wait(STOP_TIMEOUT)?;
    ensure!(
        status.success(),
        "the proxy exited with {status} after kafka-rest-stop (log: {})",
        log.display()
    );
    let text = fs::read_to_string(&log)?;
    check_log(&text, artifacts, &log)?;
    ensure!(
        !home.join("run/kafka-rest.pid").exists(),
        "kafka-rest-stop left run/kafka-rest.pid behind"
    );
    println!("[dist] archive: started, produced, stopped cleanly");
    Ok(())
}

fn check_deb(info: &StackInfo, artifacts: &Artifacts) -> Result<()> {
    ensure!(
        package_status()?.is_none(),
        "a kafka-rest package is installed already; `dpkg -P kafka-rest` removes it"
    );
    let user_existed = user_exists()?;
    println!("[dist] deb: dpkg -i {}", artifacts.deb.display());
    let installed = Installed {
        user_existed,
        keep_log: artifacts.deb.with_file_name("check-deb.log"),
    };
    run(Command::new("dpkg")
        .arg("-i")
        .arg(&artifacts.deb)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    for file in [
        "/usr/bin/kafka-rest",
        "/usr/bin/kafka-rest-start",
        "/usr/bin/kafka-rest-stop",
        "/etc/kafka-rest/kafka-rest.properties",
        "/usr/lib/systemd/system/kafka-rest.service",
    ] {
        ensure!(Path::new(file).is_file(), "the package installed no {file}");
    }
    ensure!(user_exists()?, "the package created no kafka-rest user");
    let found = output(Command::new("sh").args(["-c", "command -v kafka-rest-start"]))?;
    ensure!(
        found.trim() == "/usr/bin/kafka-rest-start",
        "kafka-rest-start on PATH is {found:?}"
    );
    let version = output(Command::new("kafka-rest").arg("--version"))?;
    ensure!(
        version.trim() == artifacts.version_line,
        "kafka-rest --version printed {version:?}"
    );

    // The conffile stays as shipped: the stack's addresses come from the environment, the way
    // containers configure the proxy, so `dpkg -r` below must keep it unchanged.
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    println!(
        "[dist] deb: kafka-rest-start -daemon /etc/kafka-rest/kafka-rest.properties (KAFKA_REST_LISTENERS={url})"
    );
    let mut start = Command::new("kafka-rest-start");
    start
        .args(["-daemon", "/etc/kafka-rest/kafka-rest.properties"])
        .stdin(Stdio::null());
    without_proxy_env(&mut start);
    start
        .env("KAFKA_REST_LISTENERS", &url)
        .env("KAFKA_REST_BOOTSTRAP_SERVERS", &info.bootstrap)
        .env("KAFKA_REST_SCHEMA_REGISTRY_URL", &info.registry_url);
    run(&mut start)?;
    // Error messages name the copy that outlives the purge.
    let kept = installed.keep_log.clone();
    wait_ready(&url, None, &kept)?;
    quickstart_produce(&url)?;
    let pid = fs::read_to_string("/run/kafka-rest/kafka-rest.pid")
        .context("kafka-rest-start -daemon wrote no /run/kafka-rest/kafka-rest.pid")?;
    let pid = pid.trim().to_string();
    println!("[dist] deb: kafka-rest-stop (pid {pid})");
    run(&mut Command::new("kafka-rest-stop"))?;
    ensure!(
        !is_running(&pid),
        "the proxy (pid {pid}) still runs after kafka-rest-stop"
    );
    let text = fs::read_to_string(DEB_LOG)?;
    check_log(&text, artifacts, &kept)?;

    let conffile = "/etc/kafka-rest/kafka-rest.properties";
    let shipped = fs::read_to_string(crate::workspace_root().join("config/kafka-rest.properties"))?;
    println!("[dist] deb: dpkg -r kafka-rest");
    run(Command::new("dpkg")
        .args(["-r", "kafka-rest"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    ensure!(
        !Path::new("/usr/bin/kafka-rest").exists(),
        "dpkg -r left /usr/bin/kafka-rest"
    );
    ensure!(
        fs::read_to_string(conffile).ok().as_deref() == Some(shipped.as_str()),
        "dpkg -r did not keep the conffile {conffile} as shipped"
    );
    let status = package_status()?;
    ensure!(
        status.as_deref() == Some("deinstall ok config-files"),
        "after dpkg -r the package is {status:?}, not `deinstall ok config-files`"
    );
    drop(installed);
    ensure!(
        !Path::new(conffile).exists(),
        "dpkg -P left the conffile {conffile}"
    );
    println!("[dist] deb: installed, started from PATH, produced, stopped, removed (conffile kept), purged");
    Ok(())
}

/// The proxy's start line names the version and commit, and its last line says it stopped.
fn check_log(text: &str, artifacts: &Artifacts, log: &Path) -> Result<()> {
    let version = artifacts
        .version_line
        .strip_prefix("kafka-rest ")
        .unwrap_or(&artifacts.version_line);
    ensure!(
        text.contains(&format!("kafka-rest {version} listening on http://")),
        "the start log line does not name {version} (log: {})",
        log.display()
    );
    ensure!(
        text.contains("kafka-rest stopped"),
        "the proxy did not log `kafka-rest stopped` (log: {})",
        log.display()
    );
    Ok(())
}

/// Polls `/health/ready` until it answers 200; fails early when `child` (the start script run in
/// the foreground) exits.
fn wait_ready(url: &str, mut child: Option<&mut Child>, log: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let (status, _) = curl(&["-s", &format!("{url}/health/ready")])?;
        if status == 200 {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut() {
            if let Some(exit) = child.try_wait()? {
                bail!(
                    "the proxy exited with {exit} before it was ready (log: {})",
                    log.display()
                );
            }
        }
        ensure!(
            Instant::now() < deadline,
            "{url}/health/ready did not answer 200 within {}s (log: {})",
            READY_TIMEOUT.as_secs(),
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's quickstart produce, with curl; checks the answer names an offset and no error.
fn quickstart_produce(url: &str) -> Result<()> {
    let (status, body) = curl(&[
        "-s",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.kafka.json.v2+json",
        "-H",
        "Accept: application/vnd.kafka.v2+json",
        "--data",
        r#"{"records":[{"value":{"foo":"bar"}}]}"#,
        &format!("{url}/topics/{QUICKSTART_TOPIC}"),
    ])?;
    ensure!(
        status == 200 && body.contains(r#""offset":"#) && body.contains(r#""error":null"#),
        "the quickstart produce to {QUICKSTART_TOPIC} answered {status} {body}"
    );
    println!("[dist] quickstart produce to {QUICKSTART_TOPIC}: {body}");
    Ok(())
}

/// Runs curl with `args`; returns the HTTP status (0 when nothing answered) and the body.
fn curl(args: &[&str]) -> Result<(u16, String)> {
    let out = Command::new("curl")
        .args(["--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

/// `key=value` in a properties text, replacing the key's line; the key must be there.
fn set_property(text: &str, key: &str, value: &str) -> Result<String> {
    let prefix = format!("{key}=");
    let mut found = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with(&prefix) {
            out.push_str(&format!("{key}={value}"));
            found = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    ensure!(found, "the properties file has no `{key}=` line");
    Ok(out)
}

/// The proxy reads `KAFKA_REST_*` variables as settings; the installed proxies get only the ones
/// a check sets, not those of the developer's or CI's environment.
fn without_proxy_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KAFKA_REST_") {
            cmd.env_remove(key);
        }
    }
}

/// [`CHECK_PORT`] if it is free, else a free ephemeral port.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", CHECK_PORT))
        .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether `pid` is a live process. An exited daemon whose parent is gone stays a zombie until
/// the machine's init reaps it, which some containers' init never does.
fn is_running(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(") ")?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

fn is_root() -> Result<bool> {
    Ok(output(Command::new("id").arg("-u"))?.trim() == "0")
}

fn user_exists() -> Result<bool> {
    Ok(Command::new("getent")
        .args(["passwd", "kafka-rest"])
        .stdout(Stdio::null())
        .status()
        .context("cannot run getent")?
        .success())
}

/// dpkg's status of the kafka-rest package (`install ok installed`, `deinstall ok config-files`),
/// `None` when dpkg does not know it.
fn package_status() -> Result<Option<String>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "kafka-rest"])
        .stderr(Stdio::null())
        .output()
        .context("cannot run dpkg-query")?;
    let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(
        (out.status.success() && !status.is_empty() && status != "unknown ok not-installed")
            .then_some(status),
    )
}

/// The foreground proxy of the archive check; dropping it stops the proxy, also on failure.
struct Foreground {
    child: Child,
    stop: PathBuf,
}

impl Foreground {
    /// Waits for the proxy to exit after `kafka-rest-stop`, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            ensure!(
                Instant::now() < deadline,
                "the proxy still runs {}s after kafka-rest-stop",
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new(&self.stop)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if self.wait(STOP_TIMEOUT).is_err() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// The installed package; dropping it stops a proxy the check started and purges the package,
/// and removes the kafka-rest user and group when the package created them, so the machine is
/// left as it was also when a check fails.
struct Installed {
    user_existed: bool,
    /// Where the proxy's log goes before the purge deletes `/var/log/kafka-rest`.
    keep_log: PathBuf,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = fs::copy(DEB_LOG, &self.keep_log);
        if Path::new("/run/kafka-rest/kafka-rest.pid").exists() {
            let _ = Command::new("/usr/bin/kafka-rest-stop")
                .stdout(Stdio::null())
                .status();
        }
        println!("[dist] deb: dpkg -P kafka-rest");
        let purged = Command::new("dpkg")
            .args(["-P", "kafka-rest"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status();
        if !purged.is_ok_and(|s| s.success()) {
            eprintln!("[dist] deb: dpkg -P kafka-rest failed; remove the package by hand");
        }
        if !self.user_existed {
            let _ = Command::new("userdel")
                .arg("kafka-rest")
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("groupdel")
                .arg("kafka-rest")
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir> {
        let path =
            std::env::temp_dir().join(format!("kafka-rest-dist-{tag}-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_every_placeholder_and_rejects_a_missing_one() {
        let text = "LOG_DIR=${LOG_DIR:-@LOG_DIR@} # kafka-rest @VERSION@, mail a@b.c";
        let done = render(text, &[("LOG_DIR", "$base_dir/logs"), ("VERSION", "1.2.3")])
            .expect("all placeholders have values");
        assert_eq!(
            done,
            "LOG_DIR=${LOG_DIR:-$base_dir/logs} # kafka-rest 1.2.3, mail a@b.c"
        );
        let err = render(text, &[("VERSION", "1.2.3")]).expect_err("LOG_DIR has no value");
        assert!(format!("{err}").contains("LOG_DIR"), "{err}");
    }

    #[test]
    fn every_template_renders_with_the_values_dist_gives_it() {
        let root = crate::workspace_root();
        let vars = [
            ("VERSION", "1.2.3"),
            ("DEB_VERSION", "1.2.3-1"),
            ("ARCH", "amd64"),
            ("INSTALLED_SIZE", "1"),
            ("DEPENDS", "libc6"),
            ("LOG_DIR", "/var/log/kafka-rest"),
            ("PID_DIR", "/run/kafka-rest"),
        ];
        for template in [
            "dist/bin/kafka-rest-start",
            "dist/bin/kafka-rest-stop",
            "dist/systemd/kafka-rest.service",
            "dist/debian/control",
            "dist/debian/copyright",
            "dist/debian/postinst",
            "dist/debian/prerm",
            "dist/debian/postrm",
            "dist/README",
        ] {
            render_file(&root, template, &vars).expect(template);
        }
    }

    #[test]
    fn set_property_replaces_the_line_and_requires_the_key() {
        let text = "# listeners=commented\nlisteners=http://127.0.0.1:8082\nid=x\n";
        assert_eq!(
            set_property(text, "listeners", "http://127.0.0.1:1").expect("key present"),
            "# listeners=commented\nlisteners=http://127.0.0.1:1\nid=x\n"
        );
        assert!(set_property(text, "bootstrap.servers", "b:9092").is_err());
    }

    #[test]
    fn parse_version_takes_the_second_word_of_the_version_line() {
        assert_eq!(
            parse_version("kafka-rest 0.1.0 (abc1234)").expect("a version line"),
            "0.1.0"
        );
        assert!(parse_version("kafka-rest (abc1234)").is_err());
        assert!(parse_version("other 0.1.0").is_err());
    }

    /// The README's install commands name the files `cargo xtask dist` writes for the version
    /// in Cargo.toml, so they work verbatim after a version bump only if the README follows.
    #[test]
    fn the_readme_install_commands_name_the_current_artifacts() {
        let root = crate::workspace_root();
        let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        let version = manifest
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("a version line in Cargo.toml");
        let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
        for name in [archive_name(version, "x86_64"), deb_name(version, "amd64")] {
            assert!(readme.contains(&name), "README.md does not mention {name}");
        }
    }
}
