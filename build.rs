//! Build script of the `kafka-rest` crate: names the git commit the binary is built from.
//!
//! Sets `BUILD_GIT_COMMIT` for the crate's targets (`kafka-rest --version` and the start log
//! line show it) to `git rev-parse --short HEAD`, or to `unknown` when git or the repository is
//! missing, as in a source archive. Everything else about the version is Cargo's. The name stays
//! outside the `KAFKA_REST_` prefix: Cargo also sets it in the environment of what `cargo run`
//! and `cargo test` start, where the proxy would read it as a setting.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
    // Run again when HEAD moves: a checkout changes HEAD itself, a commit changes the branch's
    // ref file, or packed-refs when the ref was packed. Only existing files are named, because
    // Cargo reruns a build script on every build while one of its named files is missing.
    let mut watched = vec![git_path("HEAD")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git_path(&branch));
    }
    watched.push(git_path("packed-refs"));
    for path in watched.into_iter().flatten() {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// The trimmed standard output of a successful git command, `None` if git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Where git keeps `name` (`HEAD`, `refs/heads/main`), also in a linked worktree, whose `.git`
/// is a file pointing elsewhere.
fn git_path(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(git(&["rev-parse", "--git-path", name])?);
    Some(if path.is_absolute() {
        path
    } else {
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).join(path)
    })
}
