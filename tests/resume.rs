//! Transactional outputs end to end: a sweep killed with SIGKILL continues with
//! `--resume` and ends byte-identical to an uninterrupted one; a second writer is
//! refused while the first runs; `--timeseries` never replaces what is not a
//! regular file; variants whose names differ only in case and punctuation get
//! files of their own.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use common::{assert_same_files, fixture, snapshot, sweep};

/// Lines in the journal (the header included), or 0 while there is none.
fn journal_lines(journal: &Path) -> usize {
    std::fs::File::open(journal)
        .map(|f| std::io::BufReader::new(f).lines().count())
        .unwrap_or(0)
}

#[test]
fn a_sweep_killed_midway_resumes_to_the_same_bytes() {
    killed_midway_resumes_to_the_same_bytes("small.toml");
}

#[test]
fn an_adaptive_sweep_killed_midway_resumes_to_the_same_bytes() {
    killed_midway_resumes_to_the_same_bytes("small-adaptive.toml");
}

fn killed_midway_resumes_to_the_same_bytes(experiment: &str) {
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    sweep(experiment, &reference, &["--threads", "1"]).success();

    let out = root.path().join("review");
    let journal = root.path().join(".review.poolsim-journal");
    let mut child = std::process::Command::cargo_bin("poolsim")
        .unwrap()
        .arg("sweep")
        .arg(fixture(experiment))
        .args(["--out"])
        .arg(&out)
        .args(["--quiet", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (without a time limit on the result) until a few runs are journaled.
    let give_up = Instant::now() + Duration::from_secs(600);
    while journal_lines(&journal) < 4 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        assert!(Instant::now() < give_up, "no runs were journaled");
        std::thread::sleep(Duration::from_millis(20));
    }

    // While it runs, a second sweep into the same directory is refused.
    let second = sweep(experiment, &out, &[]).code(2);
    let message = String::from_utf8_lossy(&second.get_output().stderr).into_owned();
    assert!(message.contains("another poolsim"), "{message}");

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists(), "a killed sweep left outputs");
    let journaled = journal_lines(&journal);
    assert!(journaled >= 4, "the journal is gone");

    let resumed = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("sweep")
        .arg(fixture(experiment))
        .arg("--out")
        .arg(&out)
        .args(["--resume", "--threads", "2"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&resumed.get_output().stderr).into_owned();
    assert!(stderr.contains("resumed from the journal"), "{stderr}");
    assert_same_files(&reference, &out, "--resume");
    let beside: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("poolsim-lock"))
        .collect();
    let mut beside = beside;
    beside.sort();
    assert_eq!(beside, ["reference", "review"], "stray files");
}

#[test]
fn timeseries_refuses_targets_that_are_not_regular_files_before_writing_anything() {
    let root = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal.toml");
    let run = |target: &Path| {
        Command::cargo_bin("poolsim")
            .unwrap()
            .arg("run")
            .arg(&model)
            .arg("--timeseries")
            .arg(target)
            .assert()
    };
    // The CSV's path is a directory.
    let csv_dir = root.path().join("series.csv");
    std::fs::create_dir(&csv_dir).unwrap();
    let refused = run(&csv_dir).code(2);
    let message = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(message.contains("not a regular file"), "{message}");
    // A chart's path is a directory.
    let chart_dir = root.path().join("other-timeline.png");
    std::fs::create_dir(&chart_dir).unwrap();
    run(&root.path().join("other.csv")).code(2);
    let mut left: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["other-timeline.png", "series.csv"], "files written");
    #[cfg(unix)]
    run(Path::new("/dev/null")).code(2);
}

#[test]
fn variants_whose_names_differ_in_case_and_punctuation_get_their_own_files() {
    let root = tempfile::tempdir().unwrap();
    let experiment = root.path().join("clash.toml");
    let model = fixture("events-model.toml");
    std::fs::write(
        &experiment,
        format!(
            "model = {:?}\nreplications = 2\n[slo]\nlatency_p99 = \"300ms\"\nerror_rate = 0.001\n\
             [output]\ncharts = [\"svg\"]\n\
             [[variants]]\nname = \"pool 5\"\nset = {{ \"pool.max_size\" = 5 }}\n\
             [[variants]]\nname = \"Pool-5!\"\nset = {{ \"pool.max_size\" = 6 }}\n",
            model.display().to_string()
        ),
    )
    .unwrap();
    let out = root.path().join("out");
    Command::cargo_bin("poolsim")
        .unwrap()
        .arg("sweep")
        .arg(&experiment)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--set", "simulation.horizon=3m"])
        .assert()
        .success();
    let files = snapshot(&out);
    let series: Vec<&String> = files
        .keys()
        .filter(|k| k.starts_with("timeseries/"))
        .collect();
    assert_eq!(series.len(), 2, "{series:?}");
    assert_ne!(files[series[0]], files[series[1]]);
    let report = String::from_utf8_lossy(&files["report.md"]).into_owned();
    for name in series {
        assert!(
            report.contains(name.as_str()),
            "report.md does not link {name}"
        );
    }
}
