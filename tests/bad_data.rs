//! Bad measurement files for `fit`, `calibrate` and `.json` traces: exit code 2, a
//! message naming the file and what is wrong, and nothing written.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const REAL: &str = "tests/data/real-hikaricp-pg15";

/// Runs poolsim with `args` and `--out <dir>/out`; checks exit 2, that stderr names
/// `file` and says `says`, and that no output directory was created.
fn refuses(dir: &Path, args: &[&str], file: &str, says: &str) {
    let out = dir.join("out");
    Command::cargo_bin("poolsim")
        .unwrap()
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(file))
        .stderr(predicate::str::contains(says))
        .stderr(predicate::str::contains("panicked").not());
    assert!(!out.exists(), "{args:?} wrote {}", out.display());
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn fit_refuses_bad_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let zeros = format!("hold_ms\n{}", "0\n".repeat(20));
    let with_nan = format!("hold_ms\n{}NaN\n", "12.5\n".repeat(20));
    let negative = format!("hold_ms\n{}-3.2\n", "12.5\n".repeat(20));
    let cases = [
        ("empty.csv", "hold_ms\n".to_string(), "0 positive durations"),
        ("zeros.csv", zeros, "0 positive durations (20 zeros)"),
        (
            "nan.csv",
            with_nan,
            "row 22: `NaN` is not a non-negative duration",
        ),
        (
            "negative.csv",
            negative,
            "row 22: `-3.2` is not a non-negative duration",
        ),
        (
            "nounit.csv",
            "duration\n1\n2\n".to_string(),
            "names no time unit",
        ),
    ];
    for (name, text, says) in cases {
        let path = write(d, name, &text);
        refuses(d, &["fit", path.to_str().unwrap()], name, says);
    }
}

#[test]
fn fit_refuses_bad_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let not_cumulative = "x_seconds_bucket{le=\"0.01\"} 50\nx_seconds_bucket{le=\"0.1\"} 20\nx_seconds_bucket{le=\"+Inf\"} 70\n";
    let path = write(d, "percell.prom", not_cumulative);
    refuses(
        d,
        &["fit", path.to_str().unwrap()],
        "percell.prom",
        "not cumulative",
    );
    let unsorted = "x_seconds_bucket{le=\"0.1\"} 50\nx_seconds_bucket{le=\"0.01\"} 60\n";
    let path = write(d, "unsorted.prom", unsorted);
    refuses(
        d,
        &["fit", path.to_str().unwrap()],
        "unsorted.prom",
        "not increasing",
    );
    let error = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected identifier"}"#;
    let path = write(d, "error.json", error);
    refuses(
        d,
        &["fit", path.to_str().unwrap()],
        "error.json",
        "did not succeed: 1:5: parse error",
    );
}

/// A copy of the real data in a temporary directory, with one file replaced.
fn real_copy_with(dir: &Path, file: &str, edit: impl Fn(String) -> String) {
    std::fs::create_dir_all(dir.join("prometheus")).unwrap();
    for entry in std::fs::read_dir(format!("{REAL}/prometheus")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("prometheus").join(entry.file_name())).unwrap();
    }
    for name in ["model.toml", "observed.toml"] {
        std::fs::copy(format!("{REAL}/{name}"), dir.join(name)).unwrap();
    }
    let path = dir.join("prometheus").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

fn calibrate_refuses(file: &str, edit: impl Fn(String) -> String, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    real_copy_with(d, file, edit);
    let model = d.join("model.toml");
    let observed = d.join("observed.toml");
    let args = [
        "calibrate",
        model.to_str().unwrap(),
        "--observed",
        observed.to_str().unwrap(),
        "--fit",
        "request.steps[0].time",
    ];
    refuses(d, &args, file, says);
    assert!(!d.join("model.calibrated.toml").exists());
}

#[test]
fn calibrate_refuses_bad_series() {
    let rate = "http_requests_rate.json";
    calibrate_refuses(
        rate,
        |_| r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#.into(),
        "did not succeed: query timed out",
    );
    // A gap: the sample at 09:01:00 is missing.
    calibrate_refuses(
        rate,
        |t| t.replace("[1763283660.0,\"40.8\"],", ""),
        "a gap or uneven step after 1763283655",
    );
    calibrate_refuses(
        rate,
        |t| t.replacen("\"43.0\"", "\"NaN\"", 1),
        "is not a finite number",
    );
    // Timestamps shifted by one second against the request rate.
    calibrate_refuses(
        "hikaricp_connections_active.json",
        |t| t.replace(".0,\"", ".5,\""),
        "timestamps differ from the request rate",
    );
    // Two pods whose series disagree on timestamps.
    calibrate_refuses(
        "hikaricp_connections_pending.json",
        |t| {
            let json: serde_json::Value = serde_json::from_str(&t).unwrap();
            let mut second = json["data"]["result"][0].clone();
            second["values"].as_array_mut().unwrap().pop();
            let mut json = json;
            json["data"]["result"].as_array_mut().unwrap().push(second);
            json.to_string()
        },
        "differ from series 1 (misaligned)",
    );
}

#[test]
fn a_json_trace_with_a_gap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    real_copy_with(d, "http_requests_rate.json", |t| {
        t.replace("[1763283660.0,\"40.8\"],", "")
    });
    let model = std::fs::read_to_string(d.join("model.toml"))
        .unwrap()
        .replace(
            "rate = 100 ",
            "arrivals = \"trace\"\ntrace = \"prometheus/http_requests_rate.json\"\nrate = 100 ",
        );
    std::fs::write(d.join("model.toml"), model).unwrap();
    Command::cargo_bin("poolsim")
        .unwrap()
        .args(["check"])
        .arg(d.join("model.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("traffic.trace"))
        .stderr(predicate::str::contains("http_requests_rate.json"))
        .stderr(predicate::str::contains("gap"));
}
