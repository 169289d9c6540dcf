//! Timeline events in `[[services]]` models: the ones that act on the shared database
//! (`db_slowdown`) or on every service alike (`traffic`) work, each service feels them,
//! and the connection budget split stays a steady-state answer.

use std::path::Path;

use assert_cmd::Command;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, RunOptions};
use poolsim::stats::summary::Summary;

mod common;
use common::succeeded;

/// Two services on one 4-core database: a (40 req/s) and b (20 req/s), 3 simulated minutes.
fn model(events: &str) -> String {
    let service = |name: &str, rate: f64| {
        format!(
            r#"
[[services]]
name = "{name}"
[services.traffic]
rate = {rate}
[services.request]
[[services.request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "20ms" }}
[services.fleet]
instances = 2
[services.pool]
max_size = 6
acquire_timeout = "5s"
"#
        )
    };
    format!(
        r#"name = "shared"
{}{}
[database]
max_connections = 50
cores = 4
[simulation]
horizon = "3m"
warmup = "10s"
seed = 3
{events}"#,
        service("a", 40.0),
        service("b", 20.0)
    )
}

const SLOWDOWN: &str = r#"
[[events]]
at = "1m"
kind = "db_slowdown"
factor = 4.0
duration = "1m"
"#;

const SURGE: &str = r#"
[[events]]
at = "1m"
kind = "traffic"
factor = 2.0
duration = "1m"
"#;

fn build(text: &str) -> SystemSpec {
    ModelSource::from_text(Path::new("m.toml"), text.to_string())
        .and_then(|s| s.build(&[]))
        .unwrap()
}

fn runs(text: &str) -> Vec<Summary> {
    let spec = build(text);
    (0..4)
        .map(|replication| simulate(&spec, RunOptions { replication }))
        .collect()
}

fn mean(runs: &[Summary], value: impl Fn(&Summary) -> f64) -> f64 {
    runs.iter().map(value).sum::<f64>() / runs.len() as f64
}

#[test]
fn a_slow_shared_database_slows_every_service() {
    let calm = runs(&model(""));
    let slow = runs(&model(SLOWDOWN));
    for k in 0..2 {
        let latency = |r: &Summary| r.services[k].summary.latency_ms.mean;
        // 60 req/s of 20 ms on 4 cores is 30% busy; four times the demand for a third of
        // the window puts the database past saturation, and every service waits for it.
        let (before, during) = (mean(&calm, latency), mean(&slow, latency));
        assert!(
            during > 2.0 * before,
            "service {k}: mean latency {before:.1} ms -> {during:.1} ms"
        );
        // The same arrivals: the slowdown changes how long requests take, not how many come.
        let offered = |r: &Summary| r.services[k].summary.requests.offered as f64;
        assert_eq!(mean(&calm, offered), mean(&slow, offered));
    }
}

#[test]
fn a_traffic_event_raises_every_services_rate_by_its_factor() {
    let calm = runs(&model(""));
    let surged = runs(&model(SURGE));
    // Doubling the rate for 1 of the 2 m 50 s measured adds 60/170 of the traffic.
    let expected = 1.0 + 60.0 / 170.0;
    for k in 0..2 {
        let offered = |r: &Summary| r.services[k].summary.requests.offered as f64;
        let ratio = mean(&surged, offered) / mean(&calm, offered);
        assert!(
            (ratio - expected).abs() < 0.05,
            "service {k}: offered x{ratio:.3}, expected x{expected:.3}"
        );
    }
}

#[test]
fn the_budget_split_leaves_the_events_out_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), model(SLOWDOWN)).unwrap();
    let experiment = r#"model = "m.toml"
replications = 2
[sweep]
"services.a.pool.max_size" = [2, 6]
[slo]
latency_p99 = "500ms"
error_rate = 0.01
[output]
charts = []
"#;
    std::fs::write(dir.path().join("e.toml"), experiment).unwrap();
    let out = succeeded(
        Command::cargo_bin("poolsim")
            .unwrap()
            .args(["sweep", "--quiet", "--out"])
            .arg(dir.path().join("out"))
            .arg(dir.path().join("e.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Without the slowdown both services meet the SLO with their model's pools; with it in
    // the split's runs, no size would.
    assert!(
        stdout.contains("connection budget (steady state, without the model's events): a "),
        "{stdout}"
    );
    assert!(!stdout.contains("no size meets the SLO"), "{stdout}");
    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(
        report.contains("leave out the model's 1 timeline event(s)"),
        "{report}"
    );
}
