//! Several services sharing one database (`[[services]]`): the one-service form equals
//! the top-level form, identical services split the database evenly, one service's
//! growth exhausts the database and hurts its neighbour, every request is accounted
//! for per service, runs are deterministic, and bad input exits 2.

use std::path::Path;

use assert_cmd::Command;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, RunOptions};
use poolsim::stats::summary::Summary;

fn build(text: &str, overrides: &[(&str, toml::Value)]) -> SystemSpec {
    let overrides: Vec<(String, toml::Value)> = overrides
        .iter()
        .map(|(p, v)| (p.to_string(), v.clone()))
        .collect();
    ModelSource::from_text(Path::new("test.toml"), text.to_string())
        .and_then(|s| s.build(&overrides))
        .unwrap()
}

/// One service's sections, with `prefix` "" (top level) or "services." (in `[[services]]`).
fn service_sections(prefix: &str, rate: f64, instances: u32, pool: u32) -> String {
    format!(
        r#"
[{prefix}traffic]
rate = {rate}
[{prefix}request]
[[{prefix}request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "4ms" }}
[[{prefix}request.steps]]
name = "render"
kind = "app"
time = {{ dist = "gamma", mean = "5ms", cv = 0.5 }}
[{prefix}client]
timeout = "2s"
retries = {{ max = 1, base = "50ms", cap = "200ms", jitter = "full" }}
[{prefix}fleet]
instances = {instances}
balancer = "random"
[{prefix}pool]
max_size = {pool}
acquire_timeout = "500ms"
"#
    )
}

const SHARED: &str = r#"
[database]
max_connections = 43
reserved_connections = 3
cores = 4
contention = { serial = 0.02, crosstalk = 0.0001 }
[simulation]
horizon = "3m"
warmup = "20s"
seed = 7
"#;

fn two_services(rate_a: f64, rate_b: f64) -> String {
    format!(
        "name = \"two\"\n[[services]]\nname = \"a\"\n{}\n[[services]]\nname = \"b\"\n{}\n{SHARED}",
        service_sections("services.", rate_a, 2, 10),
        service_sections("services.", rate_b, 2, 10),
    )
}

fn replications(spec: &SystemSpec, count: u32) -> Vec<Summary> {
    (0..count)
        .map(|replication| simulate(spec, RunOptions { replication }))
        .collect()
}

/// Mean and half-width of a 95% interval (normal approximation) over replications.
fn mean_ci(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 1.96 * (var / n).sqrt())
}

#[test]
fn one_service_written_as_services_equals_the_top_level_form() {
    let top = format!(
        "name = \"one\"\n{}\n{SHARED}",
        service_sections("", 300.0, 2, 10)
    );
    let listed = format!(
        "name = \"one\"\n[[services]]\nname = \"only\"\n{}\n{SHARED}",
        service_sections("services.", 300.0, 2, 10)
    );
    let mut a = simulate(&build(&top, &[]), RunOptions { replication: 1 });
    let mut b = simulate(&build(&listed, &[]), RunOptions { replication: 1 });
    assert!(b.services.is_empty(), "one service has no per-service rows");
    a.wall_seconds = 0.0;
    b.wall_seconds = 0.0;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn two_identical_services_split_the_database_evenly() {
    let spec = build(&two_services(250.0, 250.0), &[]);
    let runs = replications(&spec, 8);
    for metric in [
        |s: &Summary| s.throughput_rps,
        |s: &Summary| s.diagnostics.mean_connections_in_use,
        |s: &Summary| s.latency_ms.p50,
    ] {
        let diff: Vec<f64> = runs
            .iter()
            .map(|r| metric(&r.services[0].summary) - metric(&r.services[1].summary))
            .collect();
        let level: f64 = runs
            .iter()
            .map(|r| metric(&r.services[0].summary))
            .sum::<f64>()
            / runs.len() as f64;
        let (mean, half) = mean_ci(&diff);
        // Paired differences: the services share the database, so their figures move
        // together and the interval is narrow; the histogram's 3 significant digits
        // add a quantisation of 0.1%, hence the small relative floor.
        assert!(
            mean.abs() <= 3.0 * half + 0.005 * level.abs(),
            "services differ: {mean} +- {half} (level {level})"
        );
    }
    // The two together are the whole; both see the same database utilization.
    for r in &runs {
        let sum: u64 = r.services.iter().map(|s| s.summary.requests.offered).sum();
        assert_eq!(sum, r.requests.offered);
        assert_eq!(r.services[0].summary.db_utilization, r.db_utilization);
        assert!(r.peak_db_connections <= 40);
    }
}

#[test]
fn every_request_is_accounted_for_per_service() {
    // Overloaded on purpose: refusals, timeouts and retries in both services.
    let text = two_services(900.0, 2500.0);
    let spec = build(&text, &[("services.b.pool.max_size", 25.into())]);
    let s = simulate(&spec, RunOptions { replication: 0 });
    for service in &s.services {
        let o = &service.summary;
        assert_eq!(
            o.requests.offered,
            o.requests.succeeded + o.requests.failed,
            "{}",
            service.name
        );
        assert_eq!(o.requests.failed, o.failures.total(), "{}", service.name);
        assert!(o.requests.attempts >= o.requests.offered);
    }
    assert!(s.peak_db_connections <= 40, "{}", s.peak_db_connections);
    assert!(
        s.services[1].db_connect_refusals > 0,
        "b's pools hit the shared limit"
    );
    assert!(s.services[0].peak_pool_connections <= 10);
}

#[test]
fn growth_of_one_service_exhausts_the_database_and_hurts_its_neighbour() {
    let quiet = build(&two_services(150.0, 150.0), &[]);
    let grown = build(
        &two_services(150.0, 150.0),
        &[("services.b.traffic.growth", toml::Value::Float(4.0))],
    );
    // The neighbour's own settings are untouched by the override.
    assert_eq!(quiet.traffic.rate_per_s, grown.traffic.rate_per_s);
    let before = replications(&quiet, 5);
    let after = replications(&grown, 5);
    let p50 = |runs: &[Summary], k: usize| {
        mean_ci(
            &runs
                .iter()
                .map(|r| r.services[k].summary.latency_ms.p50)
                .collect::<Vec<_>>(),
        )
    };
    let (a_before, a_before_ci) = p50(&before, 0);
    let (a_after, a_after_ci) = p50(&after, 0);
    assert!(
        a_after - a_after_ci > a_before + a_before_ci,
        "the neighbour's median latency rises through the shared cores: {a_before} -> {a_after}"
    );
    let util = mean_ci(&after.iter().map(|r| r.db_utilization).collect::<Vec<_>>()).0;
    assert!(util > 0.9, "the shared cores are exhausted: {util}");
    let b_errors = mean_ci(
        &after
            .iter()
            .map(|r| r.services[1].summary.error_rate)
            .collect::<Vec<_>>(),
    )
    .0;
    assert!(b_errors > 0.01, "the growing service fails: {b_errors}");
}

#[test]
fn adding_a_service_keeps_the_others_arrivals() {
    let one = format!(
        "name = \"x\"\n[[services]]\nname = \"a\"\n{}\n[[services]]\nname = \"b\"\n{}\n{SHARED}",
        service_sections("services.", 50.0, 2, 10),
        service_sections("services.", 50.0, 2, 10),
    );
    let three = format!(
        "{one}\n[[services]]\nname = \"c\"\n{}",
        service_sections("services.", 1.0, 1, 1),
    );
    let s2 = simulate(&build(&one, &[]), RunOptions::default());
    let s3 = simulate(&build(&three, &[]), RunOptions::default());
    for k in 0..2 {
        assert_eq!(
            s2.services[k].summary.requests.offered,
            s3.services[k].summary.requests.offered
        );
    }
}

#[test]
fn runs_are_deterministic() {
    let spec = build(&two_services(700.0, 400.0), &[]);
    let mut a = simulate(&spec, RunOptions { replication: 3 });
    let mut b = simulate(&spec, RunOptions { replication: 3 });
    a.wall_seconds = 0.0;
    b.wall_seconds = 0.0;
    for s in a.services.iter_mut().chain(b.services.iter_mut()) {
        s.summary.wall_seconds = 0.0;
    }
    assert_eq!(a, b);
}

fn run_exit(text: &str, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("run")
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_service_input_exits_2_with_the_fix() {
    let good = two_services(50.0, 50.0);
    let duplicate = good.replace("name = \"b\"", "name = \"a\"");
    let (code, err) = run_exit(&duplicate, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("two services are named \"a\""), "{err}");

    let empty = good.replace("name = \"b\"", "name = \"\"");
    let (code, err) = run_exit(&empty, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no name"), "{err}");

    let both = format!("{good}\n[pool]\nmax_size = 3\n");
    let (code, err) = run_exit(&both, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("remove the top-level [pool]"), "{err}");

    let (code, err) = run_exit(&good, &["--set", "services.c.pool.max_size=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no element named \"c\""), "{err}");

    let (code, err) = run_exit(&good, &["--set", "services.b.pool.max_size=0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services.b.pool.max_size"), "{err}");

    let proxy = format!("{good}\n[proxy]\npool_mode = \"transaction\"\n");
    let (code, err) = run_exit(&proxy, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("top-level [proxy] and [[services]]"), "{err}");
    assert!(err.contains("[services.proxy]"), "{err}");

    // Events aimed at one service's instances, and alerts, are refused (tests/services_events.rs
    // has the shared events that work).
    let events = format!("{good}\n[[events]]\nat = \"1m\"\nkind = \"instance_down\"\ninstance = 0\nduration = \"1m\"\n");
    let (code, err) = run_exit(&events, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("events[0].kind"), "{err}");
    assert!(
        err.contains("`instance_down` events are not supported in a model with [[services]]"),
        "{err}"
    );
    assert!(err.contains("use db_slowdown or traffic"), "{err}");
    let alerts =
        format!("{good}\n[[alerts]]\nname = \"p\"\nmetric = \"pool.pending\"\nabove = 1\n");
    let (code, err) = run_exit(&alerts, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`alerts` is not supported in a model with [[services]]"),
        "{err}"
    );
}

#[test]
fn run_prints_one_line_per_service() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, two_services(100.0, 100.0)).unwrap();
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 services sharing one database"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("a ")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("b ")),
        "{text}"
    );
}

#[test]
fn sweep_addresses_services_and_splits_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.toml");
    std::fs::write(&model, two_services(150.0, 150.0)).unwrap();
    let experiment = dir.path().join("e.toml");
    std::fs::write(
        &experiment,
        r#"
model = "m.toml"
replications = 2
[simulation]
horizon = "40s"
warmup = "10s"
[sweep]
"services.a.pool.max_size" = [2, 10]
"services.b.traffic.growth" = [1.0, 4.0]
[slo]
latency_p99 = "100ms"
error_rate = 0.01
[recommend]
surge = 0
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = Command::cargo_bin("poolsim")
        .unwrap()
        .args(["sweep", "--quiet", "--out"])
        .arg(&out)
        .arg(&experiment)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("connection budget: a "), "{stdout}");
    let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut lines = points.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (size, growth) = (column("services.a.pool_size"), column("services.b.growth"));
    let (a_pass, b_pass) = (
        column("services.a.simulated_slo_pass"),
        column("services.b.simulated_slo_pass"),
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    // The swept values reach the services they name, and only those.
    assert_eq!((rows[0][size], rows[0][growth]), ("2", "1"));
    assert_eq!((rows[3][size], rows[3][growth]), ("10", "4"));
    // Today's traffic with enough connections passes; b at 4x exhausts the shared cores.
    assert_eq!((rows[2][a_pass], rows[2][b_pass]), ("true", "true"));
    assert_eq!(rows[3][b_pass], "false");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("recommendations.json")).unwrap())
            .unwrap();
    let plan = &json["services"];
    assert_eq!(plan["slots"], 40);
    let shares = plan["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 2);
    let steady: u64 = shares
        .iter()
        .map(|s| s["connections"].as_u64().unwrap())
        .sum();
    assert_eq!(plan["steady_connections"].as_u64().unwrap(), steady);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Services sharing the database"),
        "{report}"
    );
}
