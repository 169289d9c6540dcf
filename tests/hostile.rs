//! The hostile corpus of issue 11: inputs and commands that once panicked, ran out of
//! memory, hung or misled, each run by the real binary with its expected exit code and
//! a fragment of what it must say. Files live in `tests/hostile/`; every case must end
//! within seconds, never with a panic.

use std::fs::File;
use std::io::Read;
use std::process::{Command as Process, Stdio};

use assert_cmd::Command;

const DIR: &str = "tests/hostile";

/// One command line and what it must end with.
struct Case {
    args: &'static [&'static str],
    code: i32,
    /// Must appear in stdout or stderr.
    says: &'static str,
}

const fn case(args: &'static [&'static str], code: i32, says: &'static str) -> Case {
    Case { args, code, says }
}

const CASES: &[Case] = &[
    // Bounded before anything is allocated or simulated.
    case(
        &["run", "min.toml", "--set", "traffic.rate=1e7"],
        2,
        "--max-events",
    ),
    case(
        &["run", "min.toml", "--set", "simulation.horizon=100000h"],
        2,
        "--max-events",
    ),
    case(
        &[
            "run",
            "min.toml",
            "--set",
            "simulation.sample_interval=1ns",
            "--timeseries",
            "target/hostile-ts.csv",
        ],
        2,
        "--max-events",
    ),
    case(
        &["run", "min.toml", "--set", "pool.max_size=1000000000"],
        0,
        "offered",
    ),
    case(
        &["sweep", "sweep-10-million-runs.toml", "--quiet"],
        2,
        "runs is too many",
    ),
    case(&["validate", "--replications", "4294967295"], 2, "1..=1000"),
    case(&["validate", "--replications", "0"], 2, "1..=1000"),
    case(
        &["sweep", "min.toml", "--threads", "100000000"],
        2,
        "1..=1024",
    ),
    // Once hours of thinning or a spinning loop; now fast.
    case(&["run", "twelve-surges.toml"], 0, "offered"),
    case(&["run", "surge-factor-100000.toml"], 0, "offered"),
    case(
        &["run", "rolling-restart-surge-million.toml"],
        2,
        "events[0].surge",
    ),
    case(&["run", "weibull-shape-0.01.toml"], 0, "offered"),
    case(&["run", "empirical-1e305.toml"], 0, "offered"),
    // Found by `cargo fuzz run model_file`: a key path ending at its `[` panicked while
    // looking for its line.
    case(
        &["check", "key-ending-at-bracket.toml"],
        2,
        "did you mean `request`?",
    ),
    // Once misleading.
    case(
        &["run", "rho-1.25-long-acquire-timeout.toml"],
        0,
        "UNSTABLE",
    ),
    case(&["run", "zero-profile.toml"], 2, "nothing was measured"),
    case(
        &["run", "all-arrivals-before-warmup.toml"],
        2,
        "nothing was measured",
    ),
    case(
        &["run", "reserved-connections-u32-max.toml"],
        2,
        "database.max_connections",
    ),
    case(
        &["run", "reserved-plus-other-wraps.toml"],
        2,
        "database.max_connections",
    ),
    case(&["run", "mixture-weights-1e308.toml"], 0, "mean 5.00"),
    case(
        &["run", "name-with-escape-sequence.toml"],
        0,
        "evil\\u{1b}[31mRED",
    ),
    case(
        &[
            "sweep",
            "variant-table-form-set.toml",
            "--quiet",
            "--out",
            "../../target/hostile-variant",
        ],
        0,
        "ceiling 1 = the database limit",
    ),
];

#[test]
fn every_hostile_input_ends_as_expected_without_a_panic() {
    for case in CASES {
        let output = Command::cargo_bin("poolsim")
            .unwrap()
            .current_dir(DIR)
            .args(case.args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("{:?}\nstdout: {stdout}\nstderr: {stderr}", case.args);
        assert_eq!(output.status.code(), Some(case.code), "{context}");
        assert!(!stderr.contains("panicked"), "{context}");
        assert!(
            stdout.contains(case.says) || stderr.contains(case.says),
            "expected `{}` in {context}",
            case.says
        );
        assert!(!stdout.contains('\u{1b}'), "raw escape printed: {context}");
    }
}

fn poolsim() -> Process {
    Process::new(assert_cmd::cargo::cargo_bin("poolsim"))
}

#[test]
fn a_full_stdout_is_one_line_and_exit_2_for_every_subcommand() {
    for args in [
        &["run", "tests/hostile/min.toml"][..],
        &["check", "tests/hostile/min.toml"],
        &["--help"],
        &["run", "tests/hostile/min.toml", "--format", "json"],
    ] {
        let output = poolsim()
            .args(args)
            .stdout(File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("No space left"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_full_stderr_or_a_closed_pipe_ends_quietly() {
    let status = poolsim()
        .args(["run", "tests/hostile/no-such-model.toml"])
        .stderr(File::create("/dev/full").unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "a bad input still exits 2");
    for args in [&["run", "tests/hostile/min.toml"][..], &["--help"]] {
        let mut child = poolsim()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "a broken pipe is quiet");
    }
}

#[test]
fn a_fifo_as_the_model_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.toml");
    let made = Process::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here: nothing to test
    }
    for command in ["run", "check"] {
        let output = Command::cargo_bin("poolsim")
            .unwrap()
            .arg(command)
            .arg(&fifo)
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{command}: {stderr}");
    }
}
