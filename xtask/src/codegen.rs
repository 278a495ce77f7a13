//! `cargo xtask codegen [--check]`, `cargo xtask lint-spec` and `cargo xtask sdk-test`:
//! everything derived from the API documents of [`APIS`] (`openapi/kafka-rest-v2.yaml` and
//! `openapi/kafka-rest-v3.yaml`).
//!
//! Owns the list of API documents, the tools that read the contract and where they live (under the cache root's `tools/`,
//! resolved once), the write/check modes and the tree comparison behind `--check`. What each
//! SDK is generated with (generator, options, ignore lists) is `codegen/sdk.rs`; the contract
//! itself is hand-written and only read here.
//!
//! Both modes generate into a fresh scratch directory. Writing then replaces each
//! `generated/sdk/<lang>/` as a whole, so files the generator no longer writes disappear;
//! `--check` compares the scratch tree with the committed one and names every file that
//! differs, is new or is missing.

pub mod ir;
pub mod rust_server;
pub mod sdk;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::tools;

/// One API document: a hand-written contract and everything generated from it.
#[derive(Debug)]
pub struct ApiDoc {
    /// Short name: the module of the generated crate (`kafka_rest_api::v2`) and the argument
    /// of its `served-spec` binary.
    pub ident: &'static str,
    /// The contract, relative to the repository root.
    pub spec: &'static str,
    /// The document the server serves, as poem-openapi derives it, relative to the
    /// repository root.
    pub served: &'static str,
    /// The URL path the proxy serves the JSON document at (the YAML one ends in `.yaml`).
    pub served_at: &'static str,
    /// The generated trait that gathers the document's per-tag traits.
    pub trait_name: &'static str,
    /// The generated poem-openapi adapter; with [`ApiDoc::tag_adapters`], the tuple of the
    /// per-tag adapters.
    pub adapter: &'static str,
    /// With `Some(suffix)`, one poem-openapi adapter per tag, named after the tag and the suffix
    /// (`TopicV3Api` for the tag `Topic` and the suffix `V3Api`), so that a server can mount the
    /// tags it implements; [`ApiDoc::adapter`] is then the tuple of them all.
    pub tag_adapters: Option<&'static str>,
    /// Whether the generated crate re-exports this module's items at its root (the v2 API,
    /// whose items lived there before the crate held more than one document).
    pub at_root: bool,
    /// Where the SDKs of this document go, relative to the repository root; `None` for none.
    /// Each folder holds one sub-folder per language of `sdk::SDKS`.
    pub sdk_dir: Option<&'static str>,
    /// The package names of the SDKs.
    pub sdk_names: sdk::SdkNames,
}

/// The API documents, in generation order. Adding a document is one entry here (and its
/// contract): the generated crate gets a module named `ident`, the served document and the
/// SDKs follow.
pub const APIS: &[ApiDoc] = &[
    ApiDoc {
        ident: "v2",
        spec: "openapi/kafka-rest-v2.yaml",
        served: "openapi/served/kafka-rest-v2.json",
        served_at: "/openapi.json",
        trait_name: "KafkaRestV2",
        adapter: "V2Api",
        tag_adapters: None,
        at_root: true,
        sdk_dir: Some("generated/sdk"),
        sdk_names: sdk::SdkNames {
            python_package: "kafka_rest_client",
            project: "kafka-rest-client",
            go_package: "kafkarest",
            go_repo: "kafka-rest-go",
            java_package: "io.kafkarest.client",
            readme_note: "How to choose the embedded format (binary, json, avro, jsonschema, \
                          protobuf) from each SDK:\nsee the section \"SDKs\" of the repository's \
                          README.md.",
        },
    },
    ApiDoc {
        ident: "v3",
        spec: "openapi/kafka-rest-v3.yaml",
        served: "openapi/served/kafka-rest-v3.json",
        served_at: "/v3/openapi.json",
        trait_name: "KafkaRestV3",
        adapter: "V3Api",
        tag_adapters: Some("V3Api"),
        at_root: false,
        sdk_dir: Some("generated/sdk-v3"),
        sdk_names: sdk::SdkNames {
            python_package: "kafka_rest_v3",
            project: "kafka-rest-v3",
            go_package: "kafkarestv3",
            go_repo: "kafka-rest-v3-go",
            java_package: "io.kafkarest.v3.client",
            readme_note: "The paths of the v3 API are relative to `/v3`: give each client the \
                          base URL\n`http://<proxy>:8082/v3`. The v2 SDKs are in `generated/sdk/`; \
                          both can be used side by side.",
        },
    },
];

/// Where the Rust server crate `kafka-rest-api` goes, relative to the repository root.
const SERVER_DIR: &str = "generated/rust-server";

const GENERATOR_VERSION: &str = "7.25.0";
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";
const VALIDATOR_VERSION: &str = "0.9.0";

/// The `README.md` of an SDK folder, written by codegen like everything else in the folder.
fn sdk_readme(api: &ApiDoc) -> String {
    let spec = api.spec;
    let name = api.ident;
    let up = "../".repeat(api.sdk_dir.map_or(0, |d| d.split('/').count()));
    let n = &api.sdk_names;
    format!(
        "\
<!-- Written by `cargo xtask codegen` from {spec}; do not edit. -->
# Generated SDKs

Clients for the kafka-rest {name} API, generated by openapi-generator {GENERATOR_VERSION} from
[`{spec}`]({up}{spec}). Do not edit anything here:
change the contract (or `xtask/src/codegen/sdk.rs`) and run `cargo xtask codegen`.
`cargo xtask codegen --check` fails when this folder is out of date.

| folder | generator | package |
|---|---|---|
| `python/` | `python` (urllib3) | `{python}` |
| `typescript/` | `typescript-fetch` | `{project}` |
| `go/` | `go` | `{go}` |
| `java/` | `java`, library `native` (JDK HttpClient + Jackson) | `{java}` |

{note}
",
        python = n.python_package,
        project = n.project,
        go = n.go_package,
        java = n.java_package,
        note = n.readme_note,
    )
}

/// `cargo xtask codegen`: regenerate the Rust server crate, the served documents and every
/// SDK of every document of [`APIS`]; with `check`, only compare. `server_only` skips the SDKs
/// (quicker while working on the server; `--check` in CI always covers everything).
pub fn codegen(check: bool, server_only: bool) -> Result<()> {
    let started = Instant::now();
    let root = crate::workspace_root();
    for api in APIS {
        let spec = root.join(api.spec);
        ensure!(spec.exists(), "the contract {} is missing", spec.display());
    }
    let mut differences = Vec::new();

    // The Rust server crate.
    let server_started = Instant::now();
    let server_scratch = Scratch::new("codegen-server")?;
    rust_server::generate(&root, APIS, &server_scratch.path)?;
    eprintln!(
        "[codegen] {SERVER_DIR}: {} files in {:.1}s",
        list_files(&server_scratch.path)?.len(),
        server_started.elapsed().as_secs_f64()
    );
    let server_target = root.join(SERVER_DIR);
    if check {
        differences.extend(compare_trees(
            &server_target,
            &server_scratch.path,
            Path::new(SERVER_DIR),
        )?);
    } else {
        let changed = sync_tree(&server_scratch.path, &server_target)?;
        eprintln!("[codegen] wrote {SERVER_DIR} ({changed} file(s) changed)");
    }

    // The documents poem-openapi derives from the adapters: built from the committed crate,
    // which in check mode is only meaningful when that crate is up to date.
    if !check || differences.is_empty() {
        for api in APIS {
            let served_started = Instant::now();
            let served = served_document(&root, api)?;
            let served_path = root.join(api.served);
            if check {
                let committed = fs::read_to_string(&served_path).unwrap_or_default();
                if committed != served {
                    differences.push(format!("differs: {}", api.served));
                }
            } else {
                if let Some(parent) = served_path.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                fs::write(&served_path, &served)
                    .with_context(|| format!("cannot write {}", served_path.display()))?;
                eprintln!(
                    "[codegen] wrote {} in {:.1}s",
                    api.served,
                    served_started.elapsed().as_secs_f64()
                );
            }
        }
    }

    if !server_only {
        for api in APIS {
            if let Some(sdk_dir) = api.sdk_dir {
                sdks(api, sdk_dir, check, &mut differences)?;
            }
        }
    }

    if check {
        if !differences.is_empty() {
            for line in &differences {
                eprintln!("[codegen] {line}");
            }
            bail!(
                "{} file(s) differ from what `cargo xtask codegen` writes; run it and commit the \
                 result",
                differences.len()
            );
        }
        eprintln!(
            "[codegen] everything generated is up to date ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("[codegen] done in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Runs the generated crate's `served-spec` binary for `api` and returns what it prints.
fn served_document(root: &Path, api: &ApiDoc) -> Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "-p",
            "kafka-rest-api",
            "--bin",
            "served-spec",
            "--",
            api.ident,
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    ensure!(
        output.status.success(),
        "`cargo run -p kafka-rest-api --bin served-spec -- {}` failed ({})",
        api.ident,
        output.status
    );
    String::from_utf8(output.stdout).context("the served document is not UTF-8")
}

/// Regenerates every SDK of `api` into `sdk_dir`, or (with `check`) adds the files that
/// differ to `differences`.
fn sdks(api: &ApiDoc, sdk_dir: &str, check: bool, differences: &mut Vec<String>) -> Result<()> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let spec = root.join(api.spec);
    let jar = generator_jar()?;
    let scratch = Scratch::new("codegen")?;
    for sdk in sdk::SDKS {
        let lang_started = Instant::now();
        eprintln!(
            "[codegen] {sdk_dir}/{}: openapi-generator {GENERATOR_VERSION} -g {} ...",
            sdk.dir, sdk.generator
        );
        let out = scratch.path.join(sdk.dir);
        let log = tools::tools_dir()
            .join("logs")
            .join(format!("codegen-{}-{}.log", api.ident, sdk.dir));
        tools::fresh_log(&log)?;
        sdk::generate(
            &tools::java(11, "openapi-generator")?,
            &jar,
            &spec,
            sdk,
            &api.sdk_names,
            &out,
            &log,
        )?;
        reject_unstable_output(api, &out)?;
        let files = list_files(&out)?.len();
        eprintln!(
            "[codegen] {sdk_dir}/{}: {files} files in {:.1}s",
            sdk.dir,
            lang_started.elapsed().as_secs_f64()
        );
    }
    let readme_text = sdk_readme(api);
    let readme = scratch.path.join("README.md");
    fs::write(&readme, &readme_text)
        .with_context(|| format!("cannot write {}", readme.display()))?;

    let target = root.join(sdk_dir);
    if check {
        differences.extend(compare_trees(&target, &scratch.path, Path::new(sdk_dir))?);
        return Ok(());
    }

    fs::create_dir_all(&target).with_context(|| format!("cannot create {}", target.display()))?;
    for sdk in sdk::SDKS {
        let dest = target.join(sdk.dir);
        tools::remove_dir_if_exists(&dest)?;
        copy_tree(&scratch.path.join(sdk.dir), &dest)?;
    }
    fs::write(target.join("README.md"), &readme_text)
        .with_context(|| format!("cannot write {}", target.join("README.md").display()))?;
    eprintln!(
        "[codegen] wrote {sdk_dir}/{{{}}} in {:.1}s",
        sdk::SDKS
            .iter()
            .map(|s| s.dir)
            .collect::<Vec<_>>()
            .join(","),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails on generator output that changes from run to run: openapi-generator prints examples
/// of `format: byte` fields as Java object ids such as `[B@7e7fe6d`.
fn reject_unstable_output(api: &ApiDoc, dir: &Path) -> Result<()> {
    for rel in list_files(dir)? {
        let bytes = fs::read(dir.join(&rel))
            .with_context(|| format!("cannot read {}", dir.join(&rel).display()))?;
        if bytes.windows(3).any(|w| w == b"[B@") {
            bail!(
                "the generated {} contains a Java object id (`[B@...`), which changes from run to \
                 run; remove the `example` of the `format: byte` field in {}",
                rel.display(),
                api.spec
            );
        }
    }
    Ok(())
}

/// `cargo xtask sdk-test`: offline smoke checks of the committed SDKs (see `sdk::smoke`).
pub fn sdk_test() -> Result<()> {
    sdk::smoke(&crate::workspace_root(), &tools::tools_dir())
}

/// `cargo xtask lint-spec`: validate every contract of [`APIS`] with openapi-spec-validator;
/// any finding fails.
pub fn lint_spec() -> Result<()> {
    let validator = spec_validator()?;
    for api in APIS {
        let started = Instant::now();
        let spec_name = api.spec;
        let spec = crate::workspace_root().join(spec_name);
        ensure!(spec.exists(), "the contract {} is missing", spec.display());
        let output = Command::new(&validator)
            .arg(&spec)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", validator.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprint!("{stdout}{stderr}");
            bail!(
                "openapi-spec-validator {VALIDATOR_VERSION} found problems in {spec_name} ({})",
                output.status
            );
        }
        eprintln!(
            "[lint-spec] {spec_name}: valid OpenAPI {} (openapi-spec-validator {VALIDATOR_VERSION}, \
             {:.1}s)",
            openapi_version(&spec)?,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The `openapi:` line of the contract, for the progress line.
fn openapi_version(spec: &Path) -> Result<String> {
    let text =
        fs::read_to_string(spec).with_context(|| format!("cannot read {}", spec.display()))?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("openapi:"))
        .map_or_else(|| "?".to_string(), |v| v.trim().to_string()))
}

/// The openapi-generator CLI jar, resolved from Maven Central with `mvn` on first use.
fn generator_jar() -> Result<PathBuf> {
    let home = tools::tools_dir().join(format!("openapi-generator-{GENERATOR_VERSION}"));
    let jar = home.join(format!("openapi-generator-cli-{GENERATOR_VERSION}.jar"));
    let marker = home.join(".complete");
    if marker.exists() && jar.exists() {
        return Ok(jar);
    }
    let started = Instant::now();
    tools::remove_dir_if_exists(&home)?;
    fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let log = home.join("mvn.log");
    eprintln!(
        "[codegen] resolving org.openapitools:openapi-generator-cli:{GENERATOR_VERSION} from Maven \
         Central (once; log: {}) ...",
        log.display()
    );
    let mut mvn = Command::new("mvn");
    mvn.args(["-B", "-ntp"])
        .arg(format!("{DEPENDENCY_PLUGIN}:copy"))
        .arg(format!(
            "-Dartifact=org.openapitools:openapi-generator-cli:{GENERATOR_VERSION}"
        ))
        .arg(format!("-DoutputDirectory={}", home.display()))
        .current_dir(&home);
    tools::run_logged(
        mvn,
        &log,
        "[codegen] mvn dependency:copy",
        "Apache Maven (`mvn`, e.g. `apt-get install maven`)",
    )?;
    ensure!(
        jar.exists(),
        "`mvn` succeeded but {} is missing; see {}",
        jar.display(),
        log.display()
    );
    fs::write(&marker, "").with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[codegen] openapi-generator {GENERATOR_VERSION} ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(jar)
}

// ---------------------------------------------------------------------------------------------
// Trees

/// A scratch directory under the system temp dir, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(what: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "kafka-rest-{what}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Every file under `dir`, as paths relative to it, sorted. A missing `dir` has no files.
pub(crate) fn list_files(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries =
            fs::read_dir(&current).with_context(|| format!("cannot list {}", current.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", current.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .with_context(|| format!("{} is outside {}", path.display(), dir.display()))?;
                out.insert(rel.to_path_buf());
            }
        }
    }
    Ok(out)
}

/// Lines naming each file that is only in `committed`, only in `fresh`, or differs; files are
/// shown under `shown_dir`.
fn compare_trees(committed: &Path, fresh: &Path, shown_dir: &Path) -> Result<Vec<String>> {
    let old = list_files(committed)?;
    let new = list_files(fresh)?;
    let mut lines = Vec::new();
    for rel in old.union(&new) {
        let shown = shown_dir.join(rel);
        match (old.contains(rel), new.contains(rel)) {
            (true, false) => lines.push(format!(
                "stale:   {} (committed, but codegen no longer writes it)",
                shown.display()
            )),
            (false, true) => lines.push(format!(
                "missing: {} (codegen writes it, but it is not committed)",
                shown.display()
            )),
            _ => {
                let a = fs::read(committed.join(rel))
                    .with_context(|| format!("cannot read {}", committed.join(rel).display()))?;
                let b = fs::read(fresh.join(rel))
                    .with_context(|| format!("cannot read {}", fresh.join(rel).display()))?;
                if a != b {
                    lines.push(format!("differs: {}", shown.display()));
                }
            }
        }
    }
    Ok(lines)
}

pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for rel in list_files(from)? {
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::copy(from.join(&rel), &dest)
            .with_context(|| format!("cannot copy {} to {}", rel.display(), dest.display()))?;
    }
    Ok(())
}

/// Makes `to` hold exactly the files of `from`, writing only files whose content differs (so
/// cargo does not rebuild an unchanged crate); returns how many files were written or removed.
fn sync_tree(from: &Path, to: &Path) -> Result<usize> {
    let fresh = list_files(from)?;
    let mut changed = 0;
    for rel in list_files(to)?.difference(&fresh) {
        fs::remove_file(to.join(rel))
            .with_context(|| format!("cannot remove {}", to.join(rel).display()))?;
        changed += 1;
    }
    for rel in &fresh {
        let content = fs::read(from.join(rel))
            .with_context(|| format!("cannot read {}", from.join(rel).display()))?;
        let dest = to.join(rel);
        if fs::read(&dest).ok().as_deref() == Some(content.as_slice()) {
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&dest, content).with_context(|| format!("cannot write {}", dest.display()))?;
        changed += 1;
    }
    Ok(changed)
}

/// The `openapi-spec-validator` console script, from a venv made on first use.
fn spec_validator() -> Result<PathBuf> {
    let spec = format!("openapi-spec-validator=={VALIDATOR_VERSION}");
    let venv = tools::venv(
        "lint-spec",
        &format!("openapi-spec-validator-{VALIDATOR_VERSION}"),
        &[tools::Pip::Package(&spec)],
    )?;
    Ok(venv.join("bin").join("openapi-spec-validator"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create dir");
        }
        fs::write(path, text).expect("write file");
    }

    #[test]
    fn compare_trees_names_stale_missing_and_differing_files() {
        let committed = Scratch::new("test-committed").expect("scratch");
        let fresh = Scratch::new("test-fresh").expect("scratch");
        write(&committed.path, "go/same.go", "same");
        write(&fresh.path, "go/same.go", "same");
        write(&committed.path, "go/changed.go", "old");
        write(&fresh.path, "go/changed.go", "new");
        write(&committed.path, "python/old.py", "x");
        write(&fresh.path, "java/New.java", "y");

        let lines = compare_trees(&committed.path, &fresh.path, Path::new("generated/sdk"))
            .expect("compare");

        assert_eq!(
            lines,
            vec![
                "differs: generated/sdk/go/changed.go".to_string(),
                "missing: generated/sdk/java/New.java (codegen writes it, but it is not committed)"
                    .to_string(),
                "stale:   generated/sdk/python/old.py (committed, but codegen no longer writes it)"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn sync_tree_writes_only_what_changed_and_removes_stale_files() {
        let from = Scratch::new("test-sync-from").expect("scratch");
        let to = Scratch::new("test-sync-to").expect("scratch");
        write(&from.path, "src/same.rs", "same");
        write(&to.path, "src/same.rs", "same");
        write(&from.path, "src/new.rs", "new");
        write(&to.path, "src/old.rs", "old");
        assert_eq!(sync_tree(&from.path, &to.path).expect("sync"), 2);
        assert!(compare_trees(&to.path, &from.path, Path::new("x"))
            .expect("compare")
            .is_empty());
        assert_eq!(sync_tree(&from.path, &to.path).expect("sync again"), 0);
    }

    #[test]
    fn identical_trees_have_no_differences() {
        let committed = Scratch::new("test-same-a").expect("scratch");
        let fresh = Scratch::new("test-same-b").expect("scratch");
        write(&committed.path, "a/b/c.txt", "x");
        write(&fresh.path, "a/b/c.txt", "x");
        let lines = compare_trees(&committed.path, &fresh.path, Path::new("generated/sdk"))
            .expect("compare");
        assert!(lines.is_empty(), "{lines:?}");
    }
}
