//! House rules that a machine can check, run as unit tests of the xtask crate.
//!
//! Owns: module docs on every Rust file, no stubs or ignored tests, no absolute paths of a
//! developer's machine, and `.ci/run` calling the README's test command.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn rust_files(root: &Path, dirs: &[&str]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack: Vec<PathBuf> = dirs.iter().map(|d| root.join(d)).collect();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    fn sources() -> Vec<(PathBuf, String)> {
        let root = crate::workspace_root();
        let files = rust_files(&root, &["src", "tests", "xtask/src"]);
        assert!(
            files.len() > 5,
            "found too few sources under {}",
            root.display()
        );
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                (p, text)
            })
            .collect()
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        let bad: Vec<_> = sources()
            .into_iter()
            .filter(|(_, text)| !text.trim_start().starts_with("//!"))
            .map(|(p, _)| p)
            .collect();
        assert!(bad.is_empty(), "files without a leading //! doc: {bad:?}");
    }

    #[test]
    fn no_stubs_or_ignored_tests() {
        // Built from pieces so that this file does not match itself.
        let needles = [
            format!("{}!(", "todo"),
            format!("{}!(", "unimplemented"),
            format!("#[{}", "ignore"),
        ];
        let mut bad = Vec::new();
        for (path, text) in sources() {
            for needle in &needles {
                if text.contains(needle.as_str()) {
                    bad.push(format!("{}: {needle}", path.display()));
                }
            }
        }
        assert!(bad.is_empty(), "stubs or ignored tests: {bad:?}");
    }

    #[test]
    fn no_absolute_paths_of_a_machine() {
        let needles = [format!("/{}/", "root"), format!("/{}/", "home")];
        let mut bad = Vec::new();
        let root = crate::workspace_root();
        let mut files: Vec<PathBuf> = sources().into_iter().map(|(p, _)| p).collect();
        for extra in [
            "README.md",
            "ARCHITECTURE.md",
            "config/kafka-rest.properties",
            ".ci/run",
        ] {
            files.push(root.join(extra));
        }
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for needle in &needles {
                if text.contains(needle.as_str()) {
                    bad.push(format!("{}: {needle}", path.display()));
                }
            }
        }
        assert!(bad.is_empty(), "machine paths in the repo: {bad:?}");
    }

    #[test]
    fn ci_runs_the_readme_test_command() {
        let root = crate::workspace_root();
        let run = std::fs::read_to_string(root.join(".ci/run")).unwrap_or_default();
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
        assert!(
            run.contains("cargo xtask ci"),
            ".ci/run must call `cargo xtask ci`"
        );
        assert!(
            readme.contains("cargo xtask ci"),
            "README must show `cargo xtask ci`"
        );
        assert!(
            readme.contains("cargo xtask up"),
            "README must show `cargo xtask up`"
        );
    }
}
