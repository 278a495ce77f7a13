//! The client SDKs generated from the contract: which openapi-generator generator and options
//! each language uses, which generator files are left out, and one generator run.
//!
//! Owns the per-language settings only; where the jar comes from and how the output reaches
//! `generated/sdk/` (or is compared with it) is `codegen.rs`.
//!
//! Output is byte-for-byte reproducible: the generator version is pinned, Java's generation
//! timestamp is hidden, and nothing machine-specific (paths, dates, user names) reaches the
//! files. CI scaffolding, git helpers, test stubs and build wrappers the generator would add
//! are listed in each `.openapi-generator-ignore`, which this module writes before the run
//! (openapi-generator never overwrites an existing one).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One generated SDK.
#[derive(Debug)]
pub struct Sdk {
    /// Folder under `generated/sdk/`.
    pub dir: &'static str,
    /// openapi-generator generator name (`-g`).
    pub generator: &'static str,
    /// Further command line arguments (library, additional properties, git ids), for the
    /// package names of one document.
    pub args: fn(&SdkNames) -> Vec<String>,
    /// Lines of `.openapi-generator-ignore` after the header (gitignore syntax).
    pub ignore: &'static [&'static str],
}

/// The package names of one document's SDKs; each document has its own, so that the SDKs of
/// several documents can be used side by side.
#[derive(Debug)]
pub struct SdkNames {
    /// The Python package (`import kafka_rest_client`).
    pub python_package: &'static str,
    /// The Python distribution (`pip install kafka-rest-client`) and the npm package.
    pub project: &'static str,
    /// The Go package.
    pub go_package: &'static str,
    /// The Go repository under `github.com/kafka-rest/`, a placeholder until the SDK is
    /// published; the module path is `github.com/kafka-rest/<go_repo>`.
    pub go_repo: &'static str,
    /// The Java package (`io.kafkarest.client`); `.api` and `.model` hold the APIs and models.
    pub java_package: &'static str,
    /// The closing paragraph of the folder's `README.md`.
    pub readme_note: &'static str,
}

/// First line of every `.openapi-generator-ignore`.
const IGNORE_HEADER: &str =
    "# Written by `cargo xtask codegen` (xtask/src/codegen/sdk.rs); do not edit.\n\
     # Files openapi-generator would write that this repository does not want.\n";

/// The SDKs, in generation order.
pub const SDKS: &[Sdk] = &[
    Sdk {
        dir: "python",
        generator: "python",
        args: |n| {
            vec![format!(
                "--additional-properties=packageName={},projectName={},packageVersion=0.1.0",
                n.python_package, n.project
            )]
        },
        ignore: &[
            ".github/**",
            ".gitlab-ci.yml",
            ".travis.yml",
            "git_push.sh",
            "test/**",
            "test-requirements.txt",
            "tox.ini",
        ],
    },
    Sdk {
        dir: "typescript",
        generator: "typescript-fetch",
        args: |n| {
            vec![format!(
                "--additional-properties=npmName={},npmVersion=0.1.0,supportsES6=true",
                n.project
            )]
        },
        ignore: &[".github/**", ".travis.yml", "git_push.sh"],
    },
    Sdk {
        dir: "go",
        generator: "go",
        args: |n| {
            vec![
                // Enum constants share one package namespace: prefixed with their enum's
                // name, two enums can both have `UNKNOWN`.
                format!(
                    "--additional-properties=packageName={},packageVersion=0.1.0,withGoMod=true,\
                     enumClassPrefix=true",
                    n.go_package
                ),
                "--git-user-id=kafka-rest".to_string(),
                format!("--git-repo-id={}", n.go_repo),
            ]
        },
        ignore: &[
            ".github/**",
            ".travis.yml",
            "git_push.sh",
            "api/**",
            "test/**",
        ],
    },
    Sdk {
        dir: "java",
        generator: "java",
        args: |n| {
            vec![
                "--library=native".to_string(),
                format!(
                    "--additional-properties=groupId=io.kafkarest,artifactId={0},\
                     artifactVersion=0.1.0,invokerPackage={1},apiPackage={1}.api,\
                     modelPackage={1}.model,hideGenerationTimestamp=true",
                    n.project, n.java_package
                ),
            ]
        },
        ignore: &[
            ".github/**",
            ".travis.yml",
            "git_push.sh",
            "api/**",
            "src/test/**",
            // Maven only: no Gradle or sbt build, and no wrapper jar in the repository.
            "build.gradle",
            "build.sbt",
            "settings.gradle",
            "gradle.properties",
            "gradle/**",
            "gradlew",
            "gradlew.bat",
            "src/main/AndroidManifest.xml",
        ],
    },
];

/// Generates `sdk` from `spec` into the empty or missing folder `out`; the generator's output
/// goes to `log`.
pub fn generate(
    java: &Path,
    jar: &Path,
    spec: &Path,
    sdk: &Sdk,
    names: &SdkNames,
    out: &Path,
    log: &Path,
) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let ignore_file = out.join(".openapi-generator-ignore");
    let mut ignore = IGNORE_HEADER.to_string();
    for line in sdk.ignore {
        ignore.push_str(line);
        ignore.push('\n');
    }
    fs::write(&ignore_file, ignore)
        .with_context(|| format!("cannot write {}", ignore_file.display()))?;

    let mut command = Command::new(java);
    command
        .arg("-jar")
        .arg(jar)
        .arg("generate")
        .arg("--input-spec")
        .arg(spec)
        .arg("--generator-name")
        .arg(sdk.generator)
        .arg("--output")
        .arg(out)
        .args((sdk.args)(names));
    crate::tools::run_logged(
        command,
        log,
        "[codegen] openapi-generator",
        "Java 11+ (`java`) to run openapi-generator",
    )
    .with_context(|| format!("generating the {} SDK failed", sdk.dir))
}

/// `cargo xtask sdk-test`: the smoke checks of the committed SDKs of every document. Python
/// must byte-compile (`python3 -m compileall`) and Go must pass `go vet`; both only need the
/// toolchain. Java must compile with Maven (`mvn compile` of the generated pom, in a copy under
/// the cache so that `target/` stays out of the tree; its dependencies come from Maven Central
/// once). A missing toolchain is reported and skipped, a failing check fails. TypeScript
/// (`tsc`) needs npm downloads and is compiled by the flows (`sdk-test --flows`).
pub fn smoke(root: &Path, cache: &Path) -> Result<()> {
    let mut failed = Vec::new();
    for api in super::APIS {
        let Some(sdk_dir) = api.sdk_dir else {
            continue;
        };
        let sdk_dir = root.join(sdk_dir);
        let mut python = Command::new("python3");
        python
            .args(["-m", "compileall", "-q"])
            .arg(sdk_dir.join("python"))
            // Byte code goes to the cache, not into the committed tree.
            .env("PYTHONPYCACHEPREFIX", cache.join("pycache"));
        check(&mut failed, "python: compileall", python)?;

        let mut go = Command::new("go");
        go.args(["vet", "./..."])
            .current_dir(sdk_dir.join("go"))
            // Never download a Go toolchain for the go.mod's `go` line; the local one is newer.
            .env("GOTOOLCHAIN", "local");
        check(&mut failed, "go: go vet", go)?;

        let java = cache.join("sdk-java").join(api.ident);
        crate::tools::remove_dir_if_exists(&java)?;
        super::copy_tree(&sdk_dir.join("java"), &java)?;
        let mut mvn = Command::new("mvn");
        mvn.args(["-B", "-ntp", "-q", "-DskipTests", "compile"])
            .current_dir(&java);
        check(&mut failed, "java: mvn compile", mvn)?;
    }

    if !failed.is_empty() {
        bail!("SDK smoke checks failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Runs one smoke check with inherited output; records a failure, skips a missing program.
fn check(failed: &mut Vec<String>, name: &str, mut command: Command) -> Result<()> {
    let started = std::time::Instant::now();
    match command.status() {
        Ok(status) if status.success() => eprintln!(
            "[sdk-test] {name}: ok ({:.1}s)",
            started.elapsed().as_secs_f64()
        ),
        Ok(status) => {
            eprintln!("[sdk-test] {name}: FAILED ({status})");
            failed.push(name.to_string());
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => eprintln!(
            "[sdk-test] {name}: skipped, {:?} is not installed",
            command.get_program()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot run {:?}", command.get_program()))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_names_reach_the_generator_arguments() {
        let names = SdkNames {
            python_package: "kafka_rest_v3",
            project: "kafka-rest-v3",
            go_package: "kafkarestv3",
            go_repo: "kafka-rest-v3-go",
            java_package: "io.kafkarest.v3.client",
            readme_note: "",
        };
        let args: Vec<String> = SDKS.iter().flat_map(|sdk| (sdk.args)(&names)).collect();
        assert_eq!(
            args,
            vec![
                "--additional-properties=packageName=kafka_rest_v3,projectName=kafka-rest-v3,\
                 packageVersion=0.1.0",
                "--additional-properties=npmName=kafka-rest-v3,npmVersion=0.1.0,supportsES6=true",
                "--additional-properties=packageName=kafkarestv3,packageVersion=0.1.0,\
                 withGoMod=true,enumClassPrefix=true",
                "--git-user-id=kafka-rest",
                "--git-repo-id=kafka-rest-v3-go",
                "--library=native",
                "--additional-properties=groupId=io.kafkarest,artifactId=kafka-rest-v3,\
                 artifactVersion=0.1.0,invokerPackage=io.kafkarest.v3.client,\
                 apiPackage=io.kafkarest.v3.client.api,modelPackage=io.kafkarest.v3.client.model,\
                 hideGenerationTimestamp=true",
            ]
        );
    }

    #[test]
    fn sdk_folders_are_unique_and_ignore_ci_scaffolding() {
        let mut dirs: Vec<&str> = SDKS.iter().map(|s| s.dir).collect();
        dirs.sort_unstable();
        dirs.dedup();
        assert_eq!(dirs.len(), SDKS.len());
        for sdk in SDKS {
            for unwanted in [".github/**", ".travis.yml", "git_push.sh"] {
                assert!(
                    sdk.ignore.contains(&unwanted),
                    "{} must ignore {unwanted}",
                    sdk.dir
                );
            }
        }
    }
}
