//! A service of a `[[services]]` model behind its own PgBouncer (`[services.proxy]`):
//! in transaction mode its server connections, not its client pools, reach the shared
//! database (mean busy servers = lambda x transaction time), its neighbour is unaffected
//! when the proxy absorbs its growth, the one-service form equals the top-level
//! `[proxy]`, the budget split counts server connections, and bad input exits 2.

use std::path::Path;

use assert_cmd::Command;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, RunOptions};
use poolsim::stats::summary::{ProxySummary, Summary};

/// Requests per second service `a` is offered at growth 1.
const RATE_A: f64 = 400.0;
/// a's statement (exponential mean) and the database round trip, in ms: a transaction of
/// one statement holds its server connection for both.
const STATEMENT_MS: f64 = 4.0;
const ROUND_TRIP_MS: f64 = 1.0;

/// Service `a`'s sections (4 instances x a client pool of 20, one db step per
/// transaction, then app work outside it) with `proxy` appended (empty: direct).
fn service_a(prefix: &str, growth: f64, proxy: &str) -> String {
    format!(
        r#"
[{prefix}traffic]
rate = {RATE_A}
growth = {growth}
[{prefix}request]
connection_scope = "step"
[[{prefix}request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "{STATEMENT_MS}ms" }}
[[{prefix}request.steps]]
name = "render"
kind = "app"
time = {{ dist = "gamma", mean = "5ms", cv = 0.5 }}
[{prefix}fleet]
instances = 4
[{prefix}pool]
max_size = 20
acquire_timeout = "1s"
connect_time = {{ dist = "constant", value = "1ms" }}
{proxy}"#
    )
}

const SHARED: &str = r#"
[database]
max_connections = 60
reserved_connections = 3
cores = 32
round_trip = "1ms"
contention = { serial = 0.0, crosstalk = 0.0 }
[simulation]
horizon = "100s"
warmup = "10s"
seed = 11
"#;

/// a's transaction-mode PgBouncer, as `[services.proxy]`.
const A_PROXY: &str = r#"[services.proxy]
pool_mode = "transaction"
default_pool_size = 10
server_connect_time = { dist = "constant", value = "1ms" }
"#;

/// Service `a` (behind `proxy`, or direct when empty) beside `b`, a direct service of
/// 2 instances x 10 connections, on a database with 57 slots for the pools.
fn two_services(growth_a: f64, proxy: &str) -> String {
    format!(
        r#"name = "proxied"
[[services]]
name = "a"
{}
[[services]]
name = "b"
[services.traffic]
rate = 100
[services.request]
[[services.request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "4ms" }}
[services.fleet]
instances = 2
[services.pool]
max_size = 10
acquire_timeout = "1s"
{SHARED}"#,
        service_a("services.", growth_a, proxy)
    )
}

fn build(text: &str) -> SystemSpec {
    ModelSource::from_text(Path::new("test.toml"), text.to_string())
        .and_then(|s| s.build(&[]))
        .unwrap_or_else(|e| panic!("{e}"))
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

fn proxy_of(summary: &Summary) -> &ProxySummary {
    summary.proxy.as_ref().expect("a proxied service")
}

#[test]
fn transaction_mode_holds_lambda_times_transaction_time_servers() {
    let runs = replications(&build(&two_services(1.0, A_PROXY)), 8);
    let busy: Vec<f64> = runs
        .iter()
        .map(|r| proxy_of(&r.services[0].summary).mean_active_server_connections)
        .collect();
    let (mean, half) = mean_ci(&busy);
    let expected = RATE_A * (STATEMENT_MS + ROUND_TRIP_MS) / 1e3;
    assert!(
        (mean - expected).abs() <= half,
        "mean busy servers {mean} +- {half}, Little's law {expected}"
    );
    for run in &runs {
        let a = &run.services[0];
        // 4 x 20 client connections, at most 10 server connections at the database.
        assert_eq!(a.summary.requests.failed, 0);
        assert!(a.peak_pool_connections > 10, "{}", a.peak_pool_connections);
        assert!(proxy_of(&a.summary).peak_server_connections <= 10);
        assert!(
            run.peak_db_connections <= 10 + 20,
            "{}",
            run.peak_db_connections
        );
        // Only the proxied service reports proxy figures; the whole system's has none.
        assert!(run.services[1].summary.proxy.is_none());
        assert!(run.proxy.is_none());
        assert_eq!(a.summary.failures.proxy_wait_timeout, Some(0));
    }
}

#[test]
fn the_proxy_absorbs_growth_and_the_neighbour_is_unaffected() {
    let b_p99 = |runs: &[Summary]| {
        mean_ci(
            &runs
                .iter()
                .map(|r| r.services[1].summary.latency_ms.p99)
                .collect::<Vec<_>>(),
        )
    };
    let today = replications(&build(&two_services(1.0, A_PROXY)), 6);
    let grown = replications(&build(&two_services(2.5, A_PROXY)), 6);
    let (p99_today, half_today) = b_p99(&today);
    let (p99_grown, half_grown) = b_p99(&grown);
    assert!(
        (p99_today - p99_grown).abs() <= half_today + half_grown,
        "b's p99 {p99_today} +- {half_today} today, {p99_grown} +- {half_grown} with a at 2.5x"
    );
    for run in &grown {
        let b = &run.services[1];
        assert_eq!(b.summary.requests.failed, 0);
        assert_eq!(b.db_connect_refusals, 0);
        assert!(proxy_of(&run.services[0].summary).peak_server_connections <= 10);
    }
    // Direct, a's 80 client connections are database connections: b's connects are refused.
    let direct = replications(&build(&two_services(2.5, "")), 2);
    assert!(direct.iter().all(|r| r.services[1].db_connect_refusals > 0));
}

#[test]
fn one_service_with_its_proxy_equals_the_top_level_form() {
    let proxy = A_PROXY.replace("[services.proxy]", "[proxy]");
    let top = format!("name = \"one\"\n{}{SHARED}", service_a("", 1.0, &proxy));
    let services = format!(
        "name = \"one\"\n[[services]]\nname = \"a\"\n{}{SHARED}",
        service_a("services.", 1.0, A_PROXY)
    );
    let strip = |s: &Summary| {
        let json = serde_json::to_string(s).unwrap();
        json.split("\"wall_seconds\"").next().unwrap().to_string()
    };
    for replication in 0..2 {
        let options = RunOptions { replication };
        let a = simulate(&build(&top), options);
        let b = simulate(&build(&services), options);
        assert!(a.proxy.is_some());
        assert_eq!(strip(&a), strip(&b));
    }
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
fn bad_service_proxy_input_exits_2() {
    let too_big = two_services(
        1.0,
        &A_PROXY.replace("= 10", "= 50\nreserve_pool_size = 10"),
    );
    let (code, err) = run_exit(&too_big, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services.a.proxy.default_pool_size"), "{err}");
    assert!(err.contains("60 server connections"), "{err}");

    let mode = two_services(1.0, &A_PROXY.replace("\"transaction\"", "\"transactoin\""));
    let (code, err) = run_exit(&mode, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services.a.proxy.pool_mode"), "{err}");
    assert!(err.contains("did you mean \"transaction\""), "{err}");

    let unknown = two_services(1.0, &format!("{A_PROXY}pool_size = 3\n"));
    let (code, err) = run_exit(&unknown, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pool_size"), "{err}");

    let statement = two_services(1.0, &A_PROXY.replace("\"transaction\"", "\"statement\""))
        .replacen("connection_scope = \"step\"", "connection_scope = \"request\"", 1)
        .replacen(
            "[[services.request.steps]]\nname = \"render\"",
            "[[services.request.steps]]\nname = \"write\"\nkind = \"db\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[[services.request.steps]]\nname = \"render\"",
            1,
        );
    let (code, err) = run_exit(&statement, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services.a.proxy.pool_mode"), "{err}");
    assert!(err.contains("multi-statement"), "{err}");

    let (code, err) = run_exit(
        &two_services(1.0, A_PROXY),
        &["--set", "services.a.proxy.default_pool_size=0"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("services.a.proxy.default_pool_size"), "{err}");

    let top_level = format!(
        "{}\n[proxy]\npool_mode = \"transaction\"\n",
        two_services(1.0, "")
    );
    let (code, err) = run_exit(&top_level, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[services.proxy]"), "{err}");
}

#[test]
fn run_prints_the_services_pgbouncer_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, two_services(1.0, A_PROXY)).unwrap();
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .args(["run", "--set", "services.a.proxy.default_pool_size=8"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("pgbouncer transaction mode") && stdout.contains("of pool 8"),
        "{stdout}"
    );
}

#[test]
fn sweep_and_budget_split_count_server_connections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), two_services(1.0, A_PROXY)).unwrap();
    let experiment = dir.path().join("e.toml");
    std::fs::write(
        &experiment,
        r#"
model = "m.toml"
replications = 2
[simulation]
horizon = "30s"
warmup = "5s"
[sweep]
"services.a.proxy.default_pool_size" = [3, 6]
[slo]
latency_p99 = "200ms"
error_rate = 0.01
[recommend]
surge = 1
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
    let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut lines = points.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let capacity = column("services.a.proxy.server_pool_capacity");
    let needed = column("fleet_connections");
    assert!(header.iter().all(|h| !h.starts_with("services.b.proxy")));
    assert_eq!((rows[0][capacity], rows[1][capacity]), ("3", "6"));
    // a's server pool, b's (2 + 1 surge) x 10 and the 3 reserved: a's 4 x 20 client
    // connections and its surge are not database connections.
    assert_eq!((rows[0][needed], rows[1][needed]), ("36", "39"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("recommendations.json")).unwrap())
            .unwrap();
    let shares = json["services"]["shares"].as_array().unwrap();
    let a = &shares[0];
    assert_eq!(a["setting"], "proxy.default_pool_size");
    assert_eq!(a["current_pool_size"], 10);
    let size = a["pool_size"]
        .as_u64()
        .expect("a server pool meets the SLO");
    assert_eq!(a["connections"].as_u64().unwrap(), size);
    // With b's deploy (30) and the reserve (3), 27 of the 60 connections are left for a's one PgBouncer.
    assert_eq!(a["ceiling"], 27);
    let b = &shares[1];
    assert_eq!(b["setting"], "pool.max_size");
    let b_size = b["pool_size"].as_u64().expect("b's pool meets the SLO");
    assert_eq!(b["connections"].as_u64().unwrap(), 2 * b_size);
    // The deploy counts b's surge instance, but no surge for a's server pool.
    assert_eq!(
        json["services"]["deploy_connections"].as_u64().unwrap(),
        size + 3 * b_size + 3
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## PgBouncer per service"), "{report}");
    assert!(report.contains("| proxy.default_pool_size |"), "{report}");
}

#[test]
fn the_example_model_keeps_auths_client_pools_off_the_database() {
    let source = ModelSource::read(Path::new("models/shared-database-pgbouncer.toml")).unwrap();
    let horizon = toml::Value::String("4m".into());
    let spec = source
        .build(&[("simulation.horizon".to_string(), horizon)])
        .unwrap_or_else(|e| panic!("{e}"));
    let auth = spec.service(0);
    assert_eq!(auth.name, "auth");
    let proxy = auth.proxy.expect("auth is behind PgBouncer");
    let run = simulate(&spec, RunOptions::default());
    let servers = proxy_of(&run.services[0].summary).peak_server_connections;
    assert!(servers <= proxy.default_pool_size, "{servers}");
    assert!(run.services[0].peak_pool_connections > servers);
    // auth's server connections, billing's 3 x 8 and reporting's 4 pool connections at most.
    assert!(
        run.peak_db_connections <= servers + 24 + 4,
        "{}",
        run.peak_db_connections
    );
    assert_eq!(run.requests.failed, 0);
}
