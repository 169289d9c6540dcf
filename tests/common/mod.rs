//! Helpers shared by the end-to-end sweep tests (the fixture experiments and a
//! quiet `poolsim sweep` into a given output directory) and by the closed-form tests.

// Each test file uses its own share of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// An experiment of tests/fixtures/sweep/.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sweep")
        .join(name)
}

/// `poolsim sweep FIXTURE --out OUT --quiet EXTRA...`.
pub fn sweep(experiment: &str, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("poolsim")
        .unwrap()
        .arg("sweep")
        .arg(fixture(experiment))
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .assert()
}

/// Runs `command` (a configured `poolsim` invocation) and returns its output, failing
/// the test with its stderr unless it exited 0.
pub fn succeeded(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every file under `dir` (relative path -> bytes), for byte-for-byte comparisons.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Asserts that `got` holds exactly the files of `expected`, byte for byte.
pub fn assert_same_files(expected: &Path, got: &Path, after: &str) {
    let expected = snapshot(expected);
    let got = snapshot(got);
    assert!(expected.contains_key("runs.csv") && expected.contains_key("report.md"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &expected {
        assert!(got[name] == *bytes, "{name} differs after {after}");
    }
}

/// Asserts a closed-form check: its interval is narrow enough to judge, and holds theory.
pub fn assert_check(check: &poolsim::validate::Check) {
    assert!(
        check.precise_enough(),
        "{}: interval ±{:.5} too wide to judge theory {:.5}",
        check.name,
        check.estimate.half_width,
        check.theory
    );
    assert!(
        check.contains_theory(),
        "{}: simulated {:.5} ± {:.5} does not contain theory {:.5}",
        check.name,
        check.estimate.mean,
        check.estimate.half_width,
        check.theory
    );
}
