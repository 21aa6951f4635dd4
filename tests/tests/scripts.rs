//! The repository's own tooling: scripts/testing-table.py, run on saved test output.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs testing-table.py on `log` in a scratch directory holding a README with the counts
/// sentence; returns its exit code, TESTING.md and the README after.
fn table_of(log: &str) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("test.log"), log).unwrap();
    std::fs::write(
        tmp.path().join("README.md"),
        "Intro.\nThe suite has 9 cases — 9 of function, 0 of hostile input, 0 of faults, 0 of\nsecurity.\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(repo().join("scripts/testing-table.py"))
        .arg("test.log")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let testing = std::fs::read_to_string(tmp.path().join("TESTING.md")).unwrap_or_else(|e| {
        panic!(
            "no TESTING.md ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let readme = std::fs::read_to_string(tmp.path().join("README.md")).unwrap();
    (out.status.code(), testing, readme)
}

const FUZZ: &str = "procfs::hostile_tests::parsers_never_panic_on_mutated_corpus_files";

/// What scripts/test.sh prints: the workspace run, then the longer fuzz pass of one case.
fn log(rerun_result: &str) -> String {
    format!(
        "     Running unittests src/lib.rs (target/debug/deps/vestige-0123abcd)\n\
         test glob::tests::paths ... ok\n\
         test {FUZZ} ... ok\n\
         \n     Running tests/cli.rs (target/debug/deps/cli-89abcdef)\n\
         test collect_without_destination_exits_2 ... ok\n\
         \n     Running unittests src/lib.rs (target/debug/deps/vestige-0123abcd)\n\
         test {FUZZ} ... {rerun_result}\n"
    )
}

#[test]
fn testing_table_counts_a_rerun_case_once() {
    let (code, testing, readme) = table_of(&log("ok"));
    assert_eq!(code, Some(0), "{testing}");
    assert!(testing.contains("**3 of 3 passed**"), "{testing}");
    assert_eq!(testing.matches(FUZZ).count(), 1, "{testing}");
    assert_eq!(
        testing.matches("## vestige: src/lib.rs").count(),
        1,
        "{testing}"
    );
    assert!(readme.contains("The suite has 3 cases"), "{readme}");
}

#[test]
fn testing_table_keeps_a_failed_rerun_failed() {
    let (code, testing, readme) = table_of(&log("FAILED"));
    assert_eq!(code, Some(1), "{testing}");
    assert!(testing.contains("**2 of 3 passed**"), "{testing}");
    let row = testing.lines().find(|l| l.contains(FUZZ)).unwrap();
    assert!(row.ends_with("| FAILED |"), "{row}");
    assert_eq!(testing.matches(FUZZ).count(), 1, "{testing}");
    assert!(readme.contains("The suite has 3 cases"), "{readme}");
}
