//! `cargo xtask sdk-test --flows`: the generated Python and TypeScript SDKs each run a real
//! client flow (`tests/sdk/python/flow.py`, `tests/sdk/typescript/flow.ts`) against a proxy in
//! front of the running stack, the v3 Python, TypeScript and Java SDKs each run a flow
//! (`tests/sdk/python/flow_v3.py`, `tests/sdk/typescript/flow_v3.ts`,
//! `tests/sdk/java/FlowV3.java`) that creates, configures, produces to (streamed and batch, read
//! back through the v2 stateless read) and deletes its own topic, and `go test` in `tests/sdk/go`
//! runs both Go SDKs' flows (the v3 one the same flow as the others).
//!
//! Owns the SDKs' runtime environments under the cache root's `tools/` (a venv, made by
//! `tools.rs`, with both Python SDKs and their PyPI requirements; an npm project with the
//! pinned TypeScript compiler, where the SDKs and their flows are compiled; a copy of the v3 Java
//! SDK, compiled by Maven, and the compiled Java flow), the topics each v2 flow gets (created
//! here with rdkafka's admin client, because the v2 API cannot create topics, and deleted
//! afterwards), and running each flow with a time limit. What a flow checks is in the flow
//! itself; the proxy process is `proxy.rs`; Go keeps its own build cache.
//!
//! Each environment is rebuilt only when its inputs change: the venv when the SDK's
//! `requirements.txt` or our constraints change (each SDK itself is reinstalled when any of its
//! files changes), the npm project when `package-lock.json` changes, the Java build when a file
//! of the v3 Java SDK or the Java flow changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

use crate::proxy::Proxy;
use crate::stack::{self, StackInfo};
use crate::tools::{self, Pip};

/// The flows and their support files, relative to the repository root.
const PYTHON_FLOW: &str = "tests/sdk/python/flow.py";
const PYTHON_FLOW_V3: &str = "tests/sdk/python/flow_v3.py";
const PYTHON_CONSTRAINTS: &str = "tests/sdk/python/constraints.txt";
const TYPESCRIPT_DIR: &str = "tests/sdk/typescript";
const TYPESCRIPT_FLOW: &str = "tests/sdk/typescript/flow.ts";
const TYPESCRIPT_FLOW_V3: &str = "tests/sdk/typescript/flow_v3.ts";
const JAVA_FLOW_V3: &str = "tests/sdk/java/FlowV3.java";
/// The Go module whose tests are the Go flows (v2 and v3); its go.mod points at both SDKs.
const GO_DIR: &str = "tests/sdk/go";
/// The generated SDKs, relative to the repository root.
const PYTHON_SDK: &str = "generated/sdk/python";
const PYTHON_SDK_V3: &str = "generated/sdk-v3/python";
const TYPESCRIPT_SDK: &str = "generated/sdk/typescript";
const TYPESCRIPT_SDK_V3: &str = "generated/sdk-v3/typescript";
const JAVA_SDK_V3: &str = "generated/sdk-v3/java";

/// Longest run of one flow; each waits at most 60 s per topic for its records.
const FLOW_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for a new topic's partition leader.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);

/// The embedded formats each flow produces and reads, one topic each.
const FORMATS: &[&str] = &["json", "binary", "avro"];

/// `cargo xtask sdk-test --flows`: the stack (started if needed, left running), a proxy, every
/// flow.
pub fn sdk_flows() -> Result<()> {
    let info = stack::up(1)?;
    run(&info)
}

/// Prepares the SDK environments, starts a proxy in front of `info` and runs every flow; fails
/// naming every flow that failed.
pub fn run(info: &StackInfo) -> Result<()> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let python = python_env(&root)?;
    let typescript = typescript_build(&root)?;
    let java = java_build(&root)?;
    let admin = admin(&info.bootstrap)?;
    // Topics first: the proxy caches metadata for `metadata.cache.ms`, and a proxy started
    // after them lists them at once.
    // The v3 flows create and delete their own topic through the API they test.
    let mut flows = Vec::new();
    for lang in [
        "python",
        "typescript",
        "go",
        "python-v3",
        "typescript-v3",
        "java-v3",
    ] {
        let run_id = run_id(lang);
        let topics = if lang.ends_with("-v3") {
            FlowTopics { names: Vec::new() }
        } else {
            FlowTopics::create(&admin, &run_id)?
        };
        flows.push((lang, run_id, topics));
    }
    let proxy = Proxy::start(info, "sdk-flows")?;

    let mut failed = Vec::new();
    for (lang, run_id, topics) in &flows {
        let flow_started = Instant::now();
        let mut command = match *lang {
            "python" | "python-v3" => {
                let flow = if *lang == "python" {
                    PYTHON_FLOW
                } else {
                    PYTHON_FLOW_V3
                };
                let mut command = Command::new(&python);
                command
                    .arg(root.join(flow))
                    // No byte code next to the flow in the repository.
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                command
            }
            "go" => {
                // Both Go flows in one `go test`: the module has no dependency beyond the two
                // SDKs, which its `replace` directives take from their generated folders.
                let mut command = Command::new("go");
                command
                    .args(["test", "-count=1", "-v", "."])
                    .current_dir(root.join(GO_DIR))
                    .env("GOWORK", "off")
                    .env("GOFLAGS", "-mod=mod -buildvcs=false");
                command
            }
            "java-v3" => {
                let mut command = Command::new("java");
                command.arg("-cp").arg(&java).arg("FlowV3");
                command
            }
            _ => {
                let flow = if *lang == "typescript" {
                    &typescript.v2
                } else {
                    &typescript.v3
                };
                let mut command = Command::new("node");
                command.arg(flow);
                command
            }
        };
        if *lang != "go" {
            command.current_dir(&root);
        }
        command
            .env("KAFKA_REST_URL", &proxy.url)
            .env("FLOW_RUN", run_id);
        for (format, topic) in FORMATS.iter().zip(&topics.names) {
            command.env(format!("FLOW_TOPIC_{}", format.to_uppercase()), topic);
        }
        if topics.names.is_empty() {
            eprintln!("[sdk-test] {lang} flow ...");
        } else {
            eprintln!(
                "[sdk-test] {lang} flow: topics {} ...",
                topics.names.join(", ")
            );
        }
        let result = tools::run_with_timeout(command, FLOW_TIMEOUT);
        let secs = flow_started.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("[sdk-test] {lang} flow: ok ({secs:.1}s)"),
            Err(err) => {
                eprintln!("[sdk-test] {lang} flow: FAILED after {secs:.1}s: {err:#}");
                failed.push(*lang);
            }
        }
    }
    let proxy_log = proxy.log.clone();
    drop(proxy);
    for (_, _, topics) in &flows {
        if !topics.names.is_empty() {
            topics.delete(&admin);
        }
    }
    if !failed.is_empty() {
        bail!(
            "SDK flows failed: {} (proxy log: {})",
            failed.join(", "),
            proxy_log.display()
        );
    }
    eprintln!(
        "[sdk-test] flows passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Python

/// The venv's `python`, with the SDK's requirements (pinned by our constraints) and the SDK
/// itself installed; (re)built when its inputs changed.
fn python_env(root: &Path) -> Result<PathBuf> {
    let requirements = root.join(PYTHON_SDK).join("requirements.txt");
    let constraints = root.join(PYTHON_CONSTRAINTS);
    // setuptools builds the SDK below without build isolation, so without a download each time.
    let venv = tools::venv(
        "sdk-test",
        "sdk-python",
        &[
            Pip::Requirements(&requirements),
            Pip::Constraints(&constraints),
            Pip::Package("setuptools"),
        ],
    )?;
    let python = venv.join("bin").join("python");

    // Both SDKs go into one venv: the v3 SDK's requirements are the v2 SDK's.
    for (sdk, marker) in [(PYTHON_SDK, ".sdk"), (PYTHON_SDK_V3, ".sdk-v3")] {
        install_python_sdk(root, &python, &venv.join(marker), sdk)?;
    }
    Ok(python)
}

/// Installs the SDK in `sdk` (relative to `root`) into the venv of `python` when any of its
/// files changed since the fingerprint in `sdk_marker`.
fn install_python_sdk(root: &Path, python: &Path, sdk_marker: &Path, sdk: &str) -> Result<()> {
    let log = tools::logs_dir().join("sdk-python.log");
    let sdk_dir = root.join(sdk);
    let sdk_key = tools::fingerprint(&tree_files(&sdk_dir)?)?;
    if read_marker(sdk_marker).as_deref() != Some(sdk_key.as_str()) {
        let started = Instant::now();
        // pip builds in the source tree (build/, *.egg-info): build from a copy.
        let copy = tools::tools_dir().join("sdk-python-src");
        tools::remove_dir_if_exists(&copy)?;
        crate::codegen::copy_tree(&sdk_dir, &copy)?;
        let mut install = tools::pip_install(python);
        install
            .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
            .arg(&copy);
        tools::run_logged(
            install,
            &log,
            &format!("[sdk-test] python: installing {sdk} into the venv"),
            "pip in the venv",
        )?;
        tools::remove_dir_if_exists(&copy)?;
        fs::write(sdk_marker, &sdk_key)
            .with_context(|| format!("cannot write {}", sdk_marker.display()))?;
        eprintln!(
            "[sdk-test] python: {sdk} installed in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("[sdk-test] python: {sdk} up to date");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// TypeScript

/// The compiled TypeScript flows.
struct TypescriptFlows {
    v2: PathBuf,
    v3: PathBuf,
}

/// Installs the pinned compiler with `npm ci` (when the lock file changed), compiles both SDKs'
/// sources together with their flows, and returns the compiled flows' paths.
fn typescript_build(root: &Path) -> Result<TypescriptFlows> {
    let work = tools::tools_dir().join("sdk-typescript");
    let log = tools::logs_dir().join("sdk-typescript.log");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let manifest = root.join(TYPESCRIPT_DIR).join("package.json");
    let lock = root.join(TYPESCRIPT_DIR).join("package-lock.json");

    let deps_marker = work.join(".installed");
    let deps_key = tools::fingerprint(&[&manifest, &lock])?;
    let tsc = work.join("node_modules").join(".bin").join("tsc");
    if read_marker(&deps_marker).as_deref() != Some(deps_key.as_str()) || !tsc.exists() {
        let started = Instant::now();
        tools::fresh_log(&log)?;
        for file in [&manifest, &lock] {
            let name = file.file_name().context("a file name")?;
            fs::copy(file, work.join(name))
                .with_context(|| format!("cannot copy {} to {}", file.display(), work.display()))?;
        }
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&work);
        tools::run_logged(
            npm,
            &log,
            &format!(
                "[sdk-test] typescript: npm ci (typescript, @types/node from \
                 {TYPESCRIPT_DIR}/package-lock.json)"
            ),
            "Node.js 18+ with npm",
        )?;
        fs::write(&deps_marker, &deps_key)
            .with_context(|| format!("cannot write {}", deps_marker.display()))?;
        eprintln!(
            "[sdk-test] typescript: compiler installed in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }

    // The project file holds this machine's paths, so it is written here, not kept in the
    // repository. Each flow imports its SDK's sources, so all four compile in one program.
    let dist = work.join("dist");
    let tsconfig = work.join("tsconfig.json");
    let config = serde_json::json!({
        "compilerOptions": {
            "target": "es2020",
            "module": "commonjs",
            "lib": ["es2020", "dom"],
            "strict": true,
            "types": ["node"],
            "typeRoots": [work.join("node_modules").join("@types")],
            "rootDir": root,
            "outDir": dist,
        },
        "files": [root.join(TYPESCRIPT_FLOW), root.join(TYPESCRIPT_FLOW_V3)],
    });
    fs::write(&tsconfig, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("cannot write {}", tsconfig.display()))?;
    let compiled = TypescriptFlows {
        v2: dist.join(TYPESCRIPT_FLOW).with_extension("js"),
        v3: dist.join(TYPESCRIPT_FLOW_V3).with_extension("js"),
    };
    let build_marker = work.join(".built");
    let mut inputs = tree_files(&root.join(TYPESCRIPT_SDK).join("src"))?;
    inputs.extend(tree_files(&root.join(TYPESCRIPT_SDK_V3).join("src"))?);
    inputs.push(root.join(TYPESCRIPT_FLOW));
    inputs.push(root.join(TYPESCRIPT_FLOW_V3));
    inputs.push(tsconfig.clone());
    inputs.push(lock.clone());
    let build_key = tools::fingerprint(&inputs)?;
    if read_marker(&build_marker).as_deref() == Some(build_key.as_str())
        && compiled.v2.exists()
        && compiled.v3.exists()
    {
        eprintln!("[sdk-test] typescript: SDK and flow already compiled");
        return Ok(compiled);
    }
    let started = Instant::now();
    eprintln!(
        "[sdk-test] typescript: compiling {TYPESCRIPT_SDK}/src, {TYPESCRIPT_SDK_V3}/src and \
         their flows (tsc --strict) ..."
    );
    tools::remove_dir_if_exists(&dist)?;
    let _ = fs::remove_file(&build_marker);
    let mut build = Command::new(&tsc);
    build.arg("-p").arg(&tsconfig).current_dir(&work);
    let status = build
        .status()
        .with_context(|| format!("cannot run {}", tsc.display()))?;
    ensure!(status.success(), "tsc failed ({status})");
    for flow in [&compiled.v2, &compiled.v3] {
        ensure!(
            flow.exists(),
            "tsc succeeded but {} is missing",
            flow.display()
        );
    }
    fs::write(&build_marker, &build_key)
        .with_context(|| format!("cannot write {}", build_marker.display()))?;
    eprintln!(
        "[sdk-test] typescript: compiled in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(compiled)
}

// ---------------------------------------------------------------------------------------------
// Java

/// Compiles the v3 Java SDK with Maven from its generated pom (in a copy, since Maven builds in
/// the source tree), writes its dependencies' class path, compiles the flow with `javac`, and
/// returns the class path that runs the flow; rebuilt when the SDK or the flow changes.
fn java_build(root: &Path) -> Result<String> {
    let work = tools::tools_dir().join("sdk-java");
    let log = tools::logs_dir().join("sdk-java.log");
    let sdk = work.join("sdk-v3");
    let flow_classes = work.join("flow");
    let deps_file = work.join("classpath.txt");
    let marker = work.join(".built");
    let mut inputs = tree_files(&root.join(JAVA_SDK_V3))?;
    inputs.push(root.join(JAVA_FLOW_V3));
    let key = tools::fingerprint(&inputs)?;
    let classpath = |deps: &str| {
        format!(
            "{}:{}:{}",
            flow_classes.display(),
            sdk.join("target").join("classes").display(),
            deps.trim()
        )
    };
    if read_marker(&marker).as_deref() == Some(key.as_str()) {
        let deps = fs::read_to_string(&deps_file)
            .with_context(|| format!("cannot read {}", deps_file.display()))?;
        eprintln!("[sdk-test] java: SDK and flow already compiled");
        return Ok(classpath(&deps));
    }
    let started = Instant::now();
    tools::remove_dir_if_exists(&work)?;
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    crate::codegen::copy_tree(&root.join(JAVA_SDK_V3), &sdk)?;
    let mut mvn = Command::new("mvn");
    mvn.args(["-B", "-ntp", "compile", "dependency:build-classpath"])
        .arg(format!("-Dmdep.outputFile={}", deps_file.display()))
        .current_dir(&sdk);
    tools::run_logged(
        mvn,
        &log,
        &format!("[sdk-test] java: mvn compile of {JAVA_SDK_V3}"),
        "Apache Maven (`mvn`) and a JDK 11+",
    )?;
    let deps = fs::read_to_string(&deps_file)
        .with_context(|| format!("cannot read {}", deps_file.display()))?;
    let mut javac = Command::new("javac");
    javac
        .arg("-d")
        .arg(&flow_classes)
        .arg("-cp")
        .arg(classpath(&deps))
        .arg(root.join(JAVA_FLOW_V3));
    let status = javac.status().context("cannot run javac")?;
    ensure!(status.success(), "javac {JAVA_FLOW_V3} failed ({status})");
    fs::write(&marker, &key).with_context(|| format!("cannot write {}", marker.display()))?;
    eprintln!(
        "[sdk-test] java: SDK and flow compiled in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(classpath(&deps))
}

// ---------------------------------------------------------------------------------------------
// Topics

/// One flow's topics, one partition each, named after the flow, the format and the run.
struct FlowTopics {
    names: Vec<String>,
}

impl FlowTopics {
    fn create(admin: &AdminClient<DefaultClientContext>, run: &str) -> Result<Self> {
        let names: Vec<String> = FORMATS
            .iter()
            .map(|format| format!("sdkflow-{format}-{run}"))
            .collect();
        let new: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        let results = futures::executor::block_on(admin.create_topics(&new, &options))
            .context("cannot create the flow's topics")?;
        for result in results {
            result.map_err(|(name, code)| anyhow::anyhow!("cannot create topic {name}: {code}"))?;
        }
        let deadline = Instant::now() + TOPIC_TIMEOUT;
        for name in &names {
            loop {
                let metadata = admin
                    .inner()
                    .fetch_metadata(Some(name), Duration::from_secs(5))
                    .with_context(|| format!("no metadata for {name}"))?;
                let ready = metadata.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() == 1
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                });
                if ready {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "topic {name} has no leader after {}s",
                    TOPIC_TIMEOUT.as_secs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(FlowTopics { names })
    }

    /// Best effort: a topic left behind only costs space on a development stack.
    fn delete(&self, admin: &AdminClient<DefaultClientContext>) {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        if let Err(err) = futures::executor::block_on(admin.delete_topics(&names, &options)) {
            eprintln!("[sdk-test] could not delete {}: {err}", names.join(", "));
        }
    }
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create a Kafka admin client")
}

/// Unique per run and per flow: the flow, the process id and the clock in milliseconds.
fn run_id(lang: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{lang}-{}-{millis}", std::process::id())
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Every file under `dir`, sorted.
fn tree_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(crate::codegen::list_files(dir)?
        .into_iter()
        .map(|rel| dir.join(rel))
        .collect())
}

fn read_marker(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}
