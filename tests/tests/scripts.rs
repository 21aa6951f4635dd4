//! The repository's own tooling: scripts/testing-table.py, run on saved test output.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scratch workspace's sources: the member crates and test functions the log below names.
const SOURCES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        "[workspace]\nmembers = [\"agent\", \"tests\"]\n",
    ),
    ("agent/Cargo.toml", "[package]\nname = \"vestige\"\n"),
    ("agent/src/lib.rs", "mod glob;\nmod fetch;\n"),
    (
        "agent/src/glob.rs",
        "pub fn matches() {}\n\n#[cfg(test)]\nmod tests {\n    /// Globs match whole path\n    /// components | never across a slash.\n    ///\n    /// Details that stay out of the table.\n    #[test]\n    fn paths() {}\n}\n",
    ),
    (
        "agent/src/fetch.rs",
        "#[cfg(test)]\nmod tests {\n    /// A function of the same name in another module.\n    #[test]\n    fn paths() {}\n}\n",
    ),
    ("tests/Cargo.toml", "[package]\nname = \"e2e\"\n"),
    (
        "tests/tests/cli.rs",
        "#[test]\n/// [fault] Collect with no destination exits 2.\nfn collect_without_destination_exits_2() {}\n",
    ),
];

/// Runs testing-table.py on `log` in a scratch directory holding [`SOURCES`] and a README with
/// the counts sentence; returns its exit code, TESTING.md, the README after and its stderr.
fn table_of(log: &str) -> (Option<i32>, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    for (path, text) in SOURCES {
        let path = tmp.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
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
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), testing, readme, stderr)
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

/// A case run twice (the longer fuzz pass) is one row, and the counts and README say 3 cases.
#[test]
fn testing_table_counts_a_rerun_case_once() {
    let (code, testing, readme, _) = table_of(&log("ok"));
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

/// A case that passed once and failed on its rerun is one FAILED row, and the script exits 1.
#[test]
fn testing_table_keeps_a_failed_rerun_failed() {
    let (code, testing, readme, _) = table_of(&log("FAILED"));
    assert_eq!(code, Some(1), "{testing}");
    assert!(testing.contains("**2 of 3 passed**"), "{testing}");
    let row = testing.lines().find(|l| l.contains(FUZZ)).unwrap();
    assert!(row.ends_with("| FAILED |"), "{row}");
    assert_eq!(testing.matches(FUZZ).count(), 1, "{testing}");
    assert!(readme.contains("The suite has 3 cases"), "{readme}");
}

/// What a case checks is its doc comment's first paragraph (found in the file of its module path,
/// not in another module's function of the same name) and its kind the comment's tag; a case
/// without a doc comment falls back to its name and a kind guessed from it, and is listed on
/// stderr.
#[test]
fn testing_table_reads_doc_comments_and_tags_and_falls_back_to_names() {
    let (code, testing, readme, stderr) = table_of(&log("ok"));
    assert_eq!(code, Some(0), "{testing}");
    let row = |case: &str| {
        testing
            .lines()
            .find(|l| l.starts_with(&format!("| `{case}` |")))
            .unwrap_or_else(|| panic!("no row for {case}: {testing}"))
            .to_string()
    };
    assert_eq!(
        row("glob::tests::paths"),
        "| `glob::tests::paths` | function | Globs match whole path components \\| never across a slash. | ok |"
    );
    assert_eq!(
        row("collect_without_destination_exits_2"),
        "| `collect_without_destination_exits_2` | faults | Collect with no destination exits 2. | ok |"
    );
    assert_eq!(
        row(FUZZ),
        format!("| `{FUZZ}` | hostile input | parsers never panic on mutated corpus files | ok |")
    );
    assert!(
        testing.contains("By kind: faults 1, function 1, hostile input 1."),
        "{testing}"
    );
    assert!(
        readme.contains("3 cases — 1 of function, 1 of hostile input, 1 of faults, 0 of\nsecurity"),
        "{readme}"
    );
    let warned: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        warned,
        [format!("  vestige: src/lib.rs: {FUZZ}")],
        "{stderr}"
    );
}
