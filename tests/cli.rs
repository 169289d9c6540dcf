//! The `run` command's outputs: JSON with exactly MODEL.md's keys, a readable table,
//! overrides and seeds, and the time series.

use assert_cmd::Command;
use serde_json::Value;

fn poolsim() -> Command {
    Command::cargo_bin("poolsim").unwrap()
}

fn keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_object() {
                keys(v, &name, out);
            } else {
                out.push(name);
            }
        }
    }
}

#[test]
fn json_has_exactly_the_contract_keys() {
    let output = poolsim()
        .args(["run", "tests/fixtures/minimal.toml", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut found = Vec::new();
    keys(&json, "", &mut found);
    found.sort();
    let mut expected: Vec<String> = [
        "requests.offered",
        "requests.succeeded",
        "requests.failed",
        "requests.attempts",
        "failures.acquire_timeout",
        "failures.client_timeout",
        "failures.db_refused",
        "failures.rejected",
        "failures.retries_exhausted",
        "error_rate",
        "throughput_rps",
        "latency_ms.mean",
        "latency_ms.p50",
        "latency_ms.p90",
        "latency_ms.p95",
        "latency_ms.p99",
        "latency_ms.p999",
        "latency_ms.max",
        "pool_wait_ms.mean",
        "pool_wait_ms.p50",
        "pool_wait_ms.p95",
        "pool_wait_ms.p99",
        "pool_wait_ms.max",
        "p_wait",
        "pool_utilization",
        "db_utilization",
        "peak_db_connections",
        "events_processed",
        "wall_seconds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(json["requests"]["offered"], json["requests"]["succeeded"]);
}

#[test]
fn set_and_seed_change_the_run_and_the_same_seed_repeats_it() {
    let run = |args: &[&str]| {
        let mut all = vec!["run", "tests/fixtures/minimal.toml", "--format", "json"];
        all.extend_from_slice(args);
        let out = poolsim().args(&all).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["wall_seconds"] = Value::Null;
        json
    };
    let base = run(&["--seed", "7"]);
    assert_eq!(base, run(&["--seed", "7"]), "same seed, same output");
    assert_ne!(base["requests"], run(&["--seed", "8"])["requests"]);
    let doubled = run(&["--seed", "7", "--set", "traffic.growth=2"]);
    let ratio = doubled["requests"]["offered"].as_f64().unwrap()
        / base["requests"]["offered"].as_f64().unwrap();
    assert!(
        (ratio - 2.0).abs() < 0.1,
        "growth 2 doubles the offered load: {ratio}"
    );
}

#[test]
fn the_table_names_every_section() {
    let output = poolsim()
        .args(["run", "tests/fixtures/minimal.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    for label in [
        "requests",
        "error rate",
        "failures",
        "throughput",
        "latency (ms)",
        "pool wait (ms)",
        "utilization",
        "db connections",
    ] {
        assert!(text.contains(label), "missing {label} in\n{text}");
    }
}

#[test]
fn timeseries_writes_the_csv_and_the_timeline_chart() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("series.csv");
    poolsim()
        .args([
            "run",
            "tests/fixtures/minimal.toml",
            "--timeseries",
            csv.to_str().unwrap(),
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    // 2 minutes at the default 10 s: a header and 12 rows.
    assert_eq!(text.lines().count(), 13);
    assert!(text.starts_with("start_s,clock,offered,"));
    for ext in ["png", "svg"] {
        assert!(dir.path().join(format!("series-timeline.{ext}")).exists());
    }
}
