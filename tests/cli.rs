//! The `run` command's outputs: JSON with exactly the keys of docs/outputs.md, a readable table,
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
        "failures.backlog_full",
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

#[test]
fn set_reaches_a_step_by_index_and_by_name() {
    let run = |set: Option<&str>| {
        let mut args = vec!["run", "tests/fixtures/minimal.toml", "--format", "json"];
        if let Some(set) = set {
            args.extend(["--set", set]);
        }
        let out = poolsim().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["wall_seconds"] = Value::Null;
        json
    };
    let base = run(None);
    let by_index = run(Some("request.steps[0].time.mean=4ms"));
    let by_name = run(Some("request.steps[\"query\"].time.mean=4ms"));
    assert_eq!(by_index, by_name, "the same step, named two ways");
    let mean = |json: &Value| json["latency_ms"]["mean"].as_f64().unwrap();
    assert!(
        mean(&by_index) > 1.5 * mean(&base),
        "doubling the query's mean demand raises latency: {} -> {}",
        mean(&base),
        mean(&by_index)
    );
}

/// A small sweep of the timeline fixture with variants and two growth levels.
fn variant_sweep(extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        "tests/fixtures/sweep/events-model.toml",
        dir.path().join("events-model.toml"),
    )
    .unwrap();
    let experiment = dir.path().join("growth.toml");
    std::fs::write(
        &experiment,
        "model = \"events-model.toml\"\nreplications = 2\n\
         [sweep]\n\"traffic.growth\" = [1.0, 1.5]\n\
         [slo]\nlatency_p99 = \"300ms\"\nerror_rate = \"0.1%\"\n\
         [[variants]]\nname = \"as is\"\n\
         [[variants]]\nname = \"bigger pool\"\nset = { \"pool.max_size\" = 6 }\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let mut args = vec![
        "sweep",
        experiment.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    poolsim().args(&args).output().unwrap()
}

#[test]
fn sweep_lines_name_their_point_and_use_the_report_clock() {
    let output = variant_sweep(&["--quiet"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "one line per point:\n{stdout}");
    for (line, label) in lines.iter().zip([
        "as is (traffic.growth = 1):",
        "as is (traffic.growth = 1.5):",
        "bigger pool (traffic.growth = 1):",
        "bigger pool (traffic.growth = 1.5):",
    ]) {
        assert!(
            line.starts_with(label),
            "{line:?} should start with {label:?}"
        );
    }
    // Pages are stamped like the report and the time series: 09:02:30, not "2 min".
    let paged: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("first page at"))
        .collect();
    assert!(
        !paged.is_empty(),
        "the surge pages at least once:\n{stdout}"
    );
    for line in paged {
        let at = line.split("first page at ").nth(1).unwrap();
        let stamp: Vec<char> = at.chars().take(8).collect();
        assert!(
            stamp.len() == 8
                && stamp[2] == ':'
                && stamp[5] == ':'
                && stamp.iter().filter(|c| c.is_ascii_digit()).count() == 6
                && at.starts_with("09:"),
            "{line:?} should give an HH:MM:SS clock from 09:00"
        );
        assert!(!line.contains(" min"), "{line:?}");
    }
}

#[test]
fn without_a_terminal_the_sweep_logs_progress_unless_quiet() {
    // assert_cmd pipes stderr, so the sweep sees no terminal.
    let progress = |extra: &[&str]| {
        let output = variant_sweep(extra);
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let logged = progress(&[]);
    assert!(
        logged.contains("sweep: 0/8 runs, 0/4 points"),
        "a progress line at the start:\n{logged}"
    );
    assert_eq!(
        progress(&["--quiet"]),
        "",
        "--quiet prints nothing on stderr"
    );
    assert!(
        progress(&["--quiet", "--progress"]).contains("sweep: 0/8 runs"),
        "the last of --quiet and --progress wins"
    );
}

#[test]
fn without_a_terminal_a_long_run_logs_its_simulated_clock_unless_quiet() {
    // A run of about a second in a test build, with lines every 100 ms instead of 5 s.
    let run = |extra: &[&str]| {
        let output = poolsim()
            .args([
                "run",
                "models/auth-service.toml",
                "--set",
                "simulation.horizon=15m",
            ])
            .args(extra)
            .env("POOLSIM_PROGRESS_INTERVAL", "100ms")
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let logged = run(&[]);
    let line = logged
        .lines()
        .find(|line| line.starts_with("run: simulated "))
        .unwrap_or_else(|| panic!("a progress line:\n{logged}"));
    assert!(
        line.contains(" of 15m (") && line.contains("%), ") && line.contains(" s elapsed"),
        "the line says how far the clock is: {line}"
    );
    assert_eq!(run(&["--quiet"]), "", "--quiet silences stderr");
    // Short runs say nothing at the default interval.
    let short = poolsim()
        .args(["run", "tests/fixtures/minimal.toml"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(short.stderr).unwrap(), "");
}
