//! PgBouncer (`[proxy]`) in isolation: each pool mode's server-connection counts, the
//! server pool's saturation against Erlang C, query_wait_timeout, max_client_conn, the
//! reserve pool, determinism, and the bad inputs refused with exit 2.

use std::path::Path;

use assert_cmd::Command;
use poolsim::analytic::erlang_c;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::system::{simulate, RunOptions};
use poolsim::stats::confidence::estimate;
use poolsim::stats::summary::Summary;
use poolsim::validate::replicate;

mod common;
use common::succeeded;

/// One instance, a client pool of `clients`, one db step of exponential `hold_ms`
/// (a transaction of one statement), a database with a core per server connection.
fn model(clients: u32, rate: f64, hold_ms: f64, proxy: &str) -> String {
    format!(
        r#"
name = "proxy-test"
[traffic]
rate = {rate}
[request]
[[request.steps]]
name = "query"
kind = "db"
time = {{ dist = "exponential", mean = "{hold_ms}ms" }}
[fleet]
instances = 1
[pool]
max_size = {clients}
acquire_timeout = "1h"
connect_time = {{ dist = "constant", value = "1ms" }}
max_lifetime = "0s"
[database]
max_connections = 400
cores = 64
[proxy]
server_connect_time = {{ dist = "constant", value = "1ms" }}
{proxy}
[simulation]
horizon = "200s"
warmup = "20s"
"#
    )
}

fn build(text: &str) -> SystemSpec {
    ModelSource::from_text(Path::new("<test>"), text.to_string())
        .and_then(|source| source.build(&[]))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn proxy_of(summary: &Summary) -> &poolsim::stats::summary::ProxySummary {
    summary
        .proxy
        .as_ref()
        .expect("a proxy model reports proxy figures")
}

#[test]
fn transaction_mode_holds_far_fewer_server_than_client_connections() {
    // 80 client connections, 10 server connections, transactions of 5 ms at 400/s:
    // about 2 server connections busy on average.
    let spec = build(&model(
        80,
        400.0,
        5.0,
        "pool_mode = \"transaction\"\ndefault_pool_size = 10",
    ));
    let summary = simulate(&spec, RunOptions::default());
    let proxy = proxy_of(&summary);
    assert_eq!(summary.requests.failed, 0);
    assert!(proxy.peak_server_connections <= 10);
    assert!(
        proxy.mean_active_server_connections < 4.0,
        "{}",
        proxy.mean_active_server_connections
    );
    // The database holds only server connections: PgBouncer's pool, not the app's 80.
    assert!(
        summary.peak_db_connections <= 10,
        "{}",
        summary.peak_db_connections
    );
}

#[test]
fn transaction_mode_server_pool_saturates_where_erlang_c_puts_it() {
    // S = 5 server connections, transactions exponential with mean T = 10 ms, plenty of
    // client connections: the server pool is M/M/5 with offered load lambda x T.
    let servers = 5;
    let hold_ms = 10.0;
    for rho in [0.6, 0.85] {
        let rate = rho * servers as f64 / (hold_ms / 1e3);
        let spec = build(&model(
            100,
            rate,
            hold_ms,
            &format!("pool_mode = \"transaction\"\ndefault_pool_size = {servers}"),
        ));
        let runs = replicate(&spec, 10);
        let load = rate * hold_ms / 1e3;
        let busy = estimate(
            &runs
                .iter()
                .map(|s| proxy_of(s).mean_active_server_connections)
                .collect::<Vec<_>>(),
            0.99,
        );
        assert!(
            (busy.mean - load).abs() <= busy.half_width.max(0.02 * load),
            "rho {rho}: mean busy server connections {} ± {} vs lambda x T = {load}",
            busy.mean,
            busy.half_width
        );
        let p_wait = estimate(
            &runs.iter().map(|s| proxy_of(s).p_wait).collect::<Vec<_>>(),
            0.99,
        );
        let theory = erlang_c(servers, load);
        assert!(
            p_wait.half_width < 0.1 * theory,
            "rho {rho}: interval ±{} too wide",
            p_wait.half_width
        );
        assert!(
            (p_wait.mean - theory).abs() <= p_wait.half_width,
            "rho {rho}: P(wait) {} ± {} vs Erlang C {theory}",
            p_wait.mean,
            p_wait.half_width
        );
    }
}

#[test]
fn beyond_the_server_pool_throughput_stops_at_s_over_t() {
    // S / T = 5 / 10 ms = 500/s; offered 700/s: the backlog grows, served stays near 500/s.
    let spec = build(&model(
        100,
        700.0,
        10.0,
        "pool_mode = \"transaction\"\ndefault_pool_size = 5",
    ));
    let summary = simulate(&spec, RunOptions::default());
    let served = summary.throughput_rps;
    assert!((470.0..=510.0).contains(&served), "served {served}/s");
    assert!(proxy_of(&summary).mean_active_server_connections > 4.8);
}

#[test]
fn session_mode_pins_a_server_connection_per_client_connection() {
    let spec = build(&model(
        12,
        200.0,
        5.0,
        "pool_mode = \"session\"\ndefault_pool_size = 20",
    ));
    let summary = simulate(&spec, RunOptions::default());
    let proxy = proxy_of(&summary);
    // A fixed-size pool of 12 opens 12 client connections, each with its server.
    assert_eq!(proxy.peak_server_connections, 12);
    assert!((proxy.mean_active_server_connections - 12.0).abs() < 1e-9);
    assert_eq!(summary.peak_db_connections, 12);
}

#[test]
fn session_mode_with_fewer_servers_than_clients_caps_the_pool() {
    let spec = build(&model(
        12,
        200.0,
        5.0,
        "pool_mode = \"session\"\ndefault_pool_size = 8",
    ));
    let summary = simulate(&spec, RunOptions::default());
    let proxy = proxy_of(&summary);
    assert_eq!(proxy.peak_server_connections, 8);
    assert!(proxy.refused_connects > 0);
}

#[test]
fn statement_mode_releases_the_server_after_each_statement() {
    let text = model(60, 300.0, 5.0, "pool_mode = \"statement\"\ndefault_pool_size = 10")
        .replace(
            "[fleet]",
            "[[request.steps]]\nname = \"think\"\nkind = \"app\"\ntime = { dist = \"constant\", value = \"20ms\" }\n[[request.steps]]\nname = \"write\"\nkind = \"db\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[fleet]",
        )
        .replace("[request]", "[request]\nconnection_scope = \"step\"");
    let summary = simulate(&build(&text), RunOptions::default());
    let proxy = proxy_of(&summary);
    assert_eq!(summary.requests.failed, 0);
    // Busy only during statements: 300/s x (5 + 1) ms = 1.8, not the 20 ms of app work.
    assert!(
        (1.4..2.3).contains(&proxy.mean_active_server_connections),
        "{}",
        proxy.mean_active_server_connections
    );
}

#[test]
fn a_transaction_spanning_app_work_holds_its_server_connection() {
    // Load, 50 ms of app work, write, all in one transaction at 100/s: the server
    // connection is held about 56 ms per request, so about 5.6 busy on average.
    let text = model(60, 100.0, 5.0, "pool_mode = \"transaction\"\ndefault_pool_size = 20")
        .replace(
            "[fleet]",
            "[[request.steps]]\nname = \"hash\"\nkind = \"app\"\ntime = { dist = \"constant\", value = \"50ms\" }\n[[request.steps]]\nname = \"write\"\nkind = \"db\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[fleet]",
        );
    let held = simulate(&build(&text), RunOptions::default());
    let split = text.replace("name = \"hash\"", "name = \"hash\"\ntransaction = \"none\"");
    let split = simulate(&build(&split), RunOptions::default());
    let held_busy = proxy_of(&held).mean_active_server_connections;
    let split_busy = proxy_of(&split).mean_active_server_connections;
    assert!((5.0..6.2).contains(&held_busy), "{held_busy}");
    assert!(split_busy < 1.0, "{split_busy}");
}

#[test]
fn clients_waiting_past_query_wait_timeout_fail() {
    // 2 server connections for 600/s of 10 ms transactions: hopeless overload, and 100
    // clients queued 5 ms apart wait up to 500 ms, past the 200 ms query_wait_timeout.
    let spec = build(&model(
        100,
        600.0,
        10.0,
        "pool_mode = \"transaction\"\ndefault_pool_size = 2\nquery_wait_timeout = \"200ms\"",
    ));
    let summary = simulate(&spec, RunOptions::default());
    let timeouts = summary.failures.proxy_wait_timeout.unwrap();
    assert!(timeouts > 0);
    assert_eq!(proxy_of(&summary).wait_timeouts, timeouts);
    assert!(proxy_of(&summary).wait_max_ms <= 200.5);
    assert_eq!(summary.failures.total(), summary.requests.failed);
}

#[test]
fn max_client_conn_refuses_pool_connections_beyond_it() {
    let spec = build(&model(
        30,
        400.0,
        50.0,
        "pool_mode = \"transaction\"\ndefault_pool_size = 30\nmax_client_conn = 10",
    ))
    .clone();
    let mut spec = spec;
    spec.pool.acquire_timeout = Some(poolsim::sim::time::SimTime::from_millis(200));
    let summary = simulate(&spec, RunOptions::default());
    assert!(proxy_of(&summary).refused_connects > 0);
    assert!(summary.failures.proxy_refused.unwrap() > 0);
    assert!(summary.diagnostics.peak_pool_connections <= 11);
}

#[test]
fn the_reserve_pool_opens_only_after_reserve_pool_timeout() {
    let base = "pool_mode = \"transaction\"\ndefault_pool_size = 4\nreserve_pool_size = 3";
    // 200/s of 10 ms: load 2 on 4 servers, waits are short: the reserve never opens.
    let light = simulate(
        &build(&model(
            60,
            200.0,
            10.0,
            &format!("{base}\nreserve_pool_timeout = \"100ms\""),
        )),
        RunOptions::default(),
    );
    assert_eq!(proxy_of(&light).reserve_opened, 0);
    assert!(proxy_of(&light).peak_server_connections <= 4);
    // 450/s of 10 ms on 4 servers is overload: 60 clients queue, waits pass 100 ms and
    // the reserve opens.
    let heavy = simulate(
        &build(&model(
            60,
            450.0,
            10.0,
            &format!("{base}\nreserve_pool_timeout = \"100ms\""),
        )),
        RunOptions::default(),
    );
    assert!(proxy_of(&heavy).reserve_opened > 0);
    assert_eq!(proxy_of(&heavy).peak_server_connections, 7);
    // With no reserve, the same overload stays at 4.
    let none = simulate(
        &build(&model(
            60,
            450.0,
            10.0,
            "pool_mode = \"transaction\"\ndefault_pool_size = 4",
        )),
        RunOptions::default(),
    );
    assert_eq!(proxy_of(&none).peak_server_connections, 4);
}

#[test]
fn proxy_runs_are_deterministic() {
    let spec = build(&model(
        40,
        450.0,
        10.0,
        "pool_mode = \"transaction\"\ndefault_pool_size = 5\nreserve_pool_size = 2\ninstances = 2",
    ));
    let a = serde_json::to_string(&simulate(&spec, RunOptions::default())).unwrap();
    let b = serde_json::to_string(&simulate(&spec, RunOptions::default())).unwrap();
    let strip = |s: &str| s.split("\"wall_seconds\"").next().unwrap().to_string();
    assert_eq!(strip(&a), strip(&b));
}

fn check_fails(text: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in expected {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn bad_proxy_input_exits_2_with_the_field_and_a_fix() {
    check_fails(
        &model(
            10,
            10.0,
            5.0,
            "default_pool_size = 300\nreserve_pool_size = 100",
        ),
        &[
            "proxy.default_pool_size",
            "max_connections",
            "400 server connections",
        ],
    );
    check_fails(
        &model(10, 10.0, 5.0, "pool_mode = \"transactoin\""),
        &["proxy.pool_mode", "did you mean \"transaction\""],
    );
    let two_statements = model(10, 10.0, 5.0, "pool_mode = \"statement\"").replace(
        "[fleet]",
        "[[request.steps]]\nname = \"write\"\nkind = \"db\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[fleet]",
    );
    check_fails(&two_statements, &["proxy.pool_mode", "multi-statement"]);
    let interrupted = model(10, 10.0, 5.0, "")
        .replace("name = \"query\"", "name = \"query\"\ntransaction = \"a\"")
        .replace(
            "[fleet]",
            "[[request.steps]]\nname = \"x\"\nkind = \"app\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[[request.steps]]\nname = \"w\"\nkind = \"db\"\ntransaction = \"a\"\ntime = { dist = \"constant\", value = \"1ms\" }\n[fleet]",
        );
    check_fails(
        &interrupted,
        &["request.steps[2].transaction", "consecutive"],
    );
    check_fails(&model(10, 10.0, 5.0, "pool_size = 10"), &["pool_size"]);
}

#[test]
fn models_without_a_proxy_report_no_proxy_fields() {
    let text = model(10, 100.0, 5.0, "").replace(
        "[proxy]\nserver_connect_time = { dist = \"constant\", value = \"1ms\" }\n",
        "",
    );
    let summary = simulate(&build(&text), RunOptions::default());
    assert!(summary.proxy.is_none());
    let json = serde_json::to_string(&summary).unwrap();
    assert!(!json.contains("proxy"), "{json}");
}

#[test]
fn the_auth_experiment_shows_when_pgbouncer_helps_and_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let run = succeeded(
        Command::cargo_bin("poolsim")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["sweep", "experiments/pgbouncer.toml", "--quiet", "--out"])
            .arg(dir.path()),
    );
    let points = std::fs::read_to_string(dir.path().join("points.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(points.as_bytes());
    let header = rows.headers().unwrap().clone();
    let cell = |row: &csv::StringRecord, name: &str| -> String {
        row[header.iter().position(|h| h == name).unwrap()].to_string()
    };
    // Server connection held per login: the mean busy server connections over throughput.
    let mut held_ms = std::collections::HashMap::new();
    let mut passes = std::collections::HashMap::new();
    for row in rows.records().map(Result::unwrap) {
        let key = (cell(&row, "variant"), cell(&row, "growth"));
        passes.insert(key.clone(), cell(&row, "slo_pass") == "true");
        if let Ok(busy) = cell(&row, "proxy.mean_active_server_connections.mean").parse::<f64>() {
            let rps: f64 = cell(&row, "throughput_rps.mean").parse().unwrap();
            held_ms.insert(key, busy / rps * 1e3);
        }
    }
    let at = |variant: &str, growth: &str| (variant.to_string(), growth.to_string());
    // bcrypt (50 ms) inside the transaction holds the server connection through it ...
    let inside = held_ms[&at("pgbouncer, bcrypt inside the transaction", "1")];
    assert!(
        (50.0..62.0).contains(&inside),
        "held {inside} ms with bcrypt inside"
    );
    // ... moved out, only the two statements and their round trips hold it.
    let outside = held_ms[&at("pgbouncer, bcrypt outside", "1")];
    assert!(outside < 10.0, "held {outside} ms with bcrypt outside");
    // The 2.5x surge: today's pools fail; PgBouncer with a server pool near the cores holds.
    assert!(!passes[&at("as today", "2.5")]);
    assert!(!passes[&at("pgbouncer, bcrypt inside the transaction", "2.5")]);
    assert!(passes[&at("pgbouncer, bcrypt outside, 16 servers", "2.5")]);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for text in [
        "## PgBouncer",
        "When the proxy helps:",
        "When it cannot: a transaction that spans application work",
        "highest at about 8 statements running at once (8 cores",
        // Direct rows count pool connections as the proxy rows count server connections.
        "| as today | 1x | direct | 0.00% | 72 | 24.8 (pool connections) | 60 / 60 (pool connections) |",
        // The model's path as written, folded: not experiments/../models/...
        "- Model `models/auth-service.toml`:",
    ] {
        assert!(report.contains(text), "report lacks {text:?}:\n{report}");
    }
    // stdout has a pgbouncer line per proxy row of the report, with the same numbers.
    let stdout = String::from_utf8_lossy(&run.stdout);
    let rows: Vec<Vec<&str>> = report
        .lines()
        .filter(|l| l.starts_with("| pgbouncer") && l.contains(" | transaction | "))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 9, "{report}");
    for c in rows {
        let (peak, pool) = c[6].split_once(" / ").unwrap();
        let line = format!(
            "pgbouncer \"{}\" at {}: {} mode, server connections in use {} (peak {peak} of pool {pool}), held {} ms per request, waited {} (mean {} ms), proxy failures {}, client connects refused {} per run\n",
            c[0], c[1], c[2], c[5], c[7], c[8], c[9], c[10], c[11]
        );
        assert!(stdout.contains(&line), "stdout lacks {line:?}:\n{stdout}");
    }
}

/// The auth service behind one PgBouncer (transaction mode, 60 server connections) with
/// six fixed-size pools of 40, against `max_client_conn`.
fn auth_behind_pgbouncer(max_client_conn: u32) -> Vec<String> {
    [
        format!("proxy={{pool_mode=\"transaction\",default_pool_size=60,max_client_conn={max_client_conn}}}"),
        "pool.max_size=40".into(),
        "simulation.horizon=\"2m\"".into(),
        "simulation.warmup=\"30s\"".into(),
    ]
    .into_iter()
    .flat_map(|set| ["--set".to_string(), set])
    .collect()
}

#[test]
fn client_connects_refused_at_max_client_conn_show_in_run_even_without_failures() {
    let run = |max_client_conn: u32, json: bool| -> String {
        let output = succeeded(
            Command::cargo_bin("poolsim")
                .unwrap()
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["run", "models/auth-service.toml", "--quiet"])
                .args(auth_behind_pgbouncer(max_client_conn))
                .args(if json {
                    &["--format", "json"][..]
                } else {
                    &[][..]
                }),
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // 6 x 40 = 240 client connections against PgBouncer's default 100: the pools stay
    // short, yet 100 connections carry the load, so no request fails.
    let table = run(100, false);
    let line = table.lines().find(|l| l.contains("pgbouncer")).unwrap();
    assert!(line.contains("proxy_refused 0"), "{line}");
    assert!(!line.contains("client connects refused 0"), "{line}");
    assert!(
        line.contains("(the pools may open 6 x 40 = 240 client connections; 1 PgBouncer(s) x max_client_conn 100 accept 100)"),
        "{line}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(100, true)).unwrap();
    assert!(
        json["proxy"]["refused_connects"].as_u64().unwrap() > 0,
        "{json}"
    );
    // With room for every pool's connections PgBouncer refuses none.
    let roomy = run(500, false);
    assert!(roomy.contains("; client connects refused 0\n"), "{roomy}");
    let json: serde_json::Value = serde_json::from_str(&run(500, true)).unwrap();
    assert_eq!(json["proxy"]["refused_connects"], 0);
}

#[test]
fn client_connects_refused_show_in_points_csv_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/auth-service.toml");
    let variant = |name: &str, max_client_conn: u32| {
        format!("[[variants]]\nname = \"{name}\"\nset = {{ proxy = {{ pool_mode = \"transaction\", default_pool_size = 60, max_client_conn = {max_client_conn} }}, \"pool.max_size\" = 40 }}\n")
    };
    let experiment = format!(
        "model = {:?}\nreplications = 2\n[simulation]\nhorizon = \"2m\"\nwarmup = \"30s\"\n[sweep]\n\"traffic.growth\" = [1.0]\n[slo]\nlatency_p99 = \"300ms\"\nerror_rate = 0.001\n[output]\ncharts = []\n{}{}",
        model.display().to_string(),
        variant("default max_client_conn", 100),
        variant("max_client_conn 500", 500),
    );
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, experiment).unwrap();
    let out = dir.path().join("out");
    let run = succeeded(
        Command::cargo_bin("poolsim")
            .unwrap()
            .args(["sweep", "--quiet", "--out"])
            .arg(&out)
            .arg(&file),
    );
    let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(points.as_bytes());
    let column = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "proxy.refused_connects")
        .expect("points.csv has proxy.refused_connects");
    let refused: Vec<f64> = rows
        .records()
        .map(|r| r.unwrap()[column].parse().unwrap())
        .collect();
    assert!(refused[0] > 0.0 && refused[1] == 0.0, "{refused:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| client connects refused per run |"),
        "{report}"
    );
    assert!(
        report.contains(&format!("| 0 | {:.0} |\n", refused[0])),
        "{report}"
    );
    // The two variants serve the same requests, but max_client_conn came into play.
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!stdout.contains("never came into play"), "{stdout}");
}
