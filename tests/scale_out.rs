//! Scale-out end to end: a sweep run as three shards and merged writes exactly the
//! files one sweep writes, byte for byte, and a merge refuses a missing, duplicated
//! or foreign part.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{assert_same_files, fixture, snapshot, sweep};

/// Shortened so that the test runs in seconds; the same for every command.
const SHORTER: [&str; 2] = ["--set", "simulation.horizon=40s"];

fn shard(experiment: &str, index: u32, of: u32, out: &Path) {
    let spec = format!("{index}/{of}");
    sweep(experiment, out, &["--shard", &spec, SHORTER[0], SHORTER[1]]).success();
}

fn merge(out: &Path, parts: &[&Path]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("poolsim")
        .unwrap()
        .arg("merge")
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(parts)
        .assert()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn three_shards_and_a_merge_equal_one_sweep(experiment: &str) {
    let root = tempfile::tempdir().unwrap();
    let single = root.path().join("single");
    let single_run = sweep(experiment, &single, &SHORTER).success();
    let parts: Vec<_> = (1..=3)
        .map(|i| root.path().join(format!("part-{i}")))
        .collect();
    // Out of order, as a batch system may run them.
    for i in [2, 3, 1] {
        shard(experiment, i, 3, &parts[i as usize - 1]);
    }
    let merged = root.path().join("merged");
    let part_refs: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();
    let merge_run = merge(&merged, &part_refs).success();
    assert_same_files(&single, &merged, "the merge");
    assert_eq!(
        merge_run.get_output().stdout,
        single_run.get_output().stdout,
        "the merge prints the sweep's headline"
    );
}

#[test]
fn three_shards_merged_are_byte_identical_to_one_sweep() {
    three_shards_and_a_merge_equal_one_sweep("small.toml");
}

#[test]
fn three_shards_of_an_adaptive_sweep_merged_are_byte_identical_to_one_sweep() {
    three_shards_and_a_merge_equal_one_sweep("small-adaptive.toml");
}

#[test]
fn three_shards_of_a_timeline_sweep_merge_to_the_same_series_and_charts() {
    three_shards_and_a_merge_equal_one_sweep("events.toml");
}

#[test]
fn a_missing_a_duplicated_or_a_foreign_part_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let part = |i: u32| root.path().join(format!("part-{i}"));
    for i in 1..=3 {
        shard("small.toml", i, 3, &part(i));
    }
    let out = root.path().join("merged");

    let missing = merge(&out, &[&part(1), &part(3)]).code(2);
    let message = stderr_of(&missing);
    assert!(message.contains("shard 2 of 3 missing"), "{message}");

    let twice = merge(&out, &[&part(1), &part(2), &part(2), &part(3)]).code(2);
    let message = stderr_of(&twice);
    assert!(message.contains("given twice"), "{message}");

    // A part of the same experiment split another way is not one of these shards.
    let other = root.path().join("other");
    sweep(
        "small.toml",
        &other,
        &["--shard", "2/2", SHORTER[0], SHORTER[1]],
    )
    .success();
    let foreign = merge(&out, &[&part(1), &part(2), &other]).code(2);
    let message = stderr_of(&foreign);
    assert!(message.contains("another sweep"), "{message}");

    let into_a_part = merge(&part(3), &[&part(1), &part(2), &part(3)]).code(2);
    let message = stderr_of(&into_a_part);
    assert!(message.contains("both a part"), "{message}");

    let not_a_part = merge(&out, &[&part(1), &part(2), root.path()]).code(2);
    let message = stderr_of(&not_a_part);
    assert!(message.contains("shard.toml"), "{message}");
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
}

#[test]
fn shard_auto_reads_the_batch_systems_index() {
    let root = tempfile::tempdir().unwrap();
    let by_hand = root.path().join("by-hand");
    shard("small.toml", 2, 3, &by_hand);
    let from_k8s = root.path().join("k8s");
    Command::cargo_bin("poolsim")
        .unwrap()
        .args([
            "sweep", "--quiet", "--shard", "auto/3", SHORTER[0], SHORTER[1],
        ])
        .arg(fixture("small.toml"))
        .arg("--out")
        .arg(&from_k8s)
        .env("JOB_COMPLETION_INDEX", "1")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .assert()
        .success();
    assert_eq!(snapshot(&from_k8s), snapshot(&by_hand));
    let no_index = Command::cargo_bin("poolsim")
        .unwrap()
        .args(["sweep", "--quiet", "--shard", "auto"])
        .arg(fixture("small.toml"))
        .arg("--out")
        .arg(root.path().join("nowhere"))
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .assert()
        .code(2);
    let message = stderr_of(&no_index);
    assert!(message.contains("JOB_COMPLETION_INDEX"), "{message}");
}
