//! Helpers shared by the end-to-end sweep tests: the fixture experiments and a
//! quiet `poolsim sweep` into a given output directory.

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
