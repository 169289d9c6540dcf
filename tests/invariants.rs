//! Invariants every run must keep: conservation of requests, pool and database
//! limits, and determinism for a given seed.

use std::path::Path;

use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, RunOptions};
use poolsim::stats::summary::Summary;

fn model(text: &str) -> SystemSpec {
    ModelSource::from_text(Path::new("test.toml"), text.to_string())
        .and_then(|s| s.build(&[]))
        .unwrap()
}

/// An overloaded fleet that produces every failure kind: small pools, a database
/// that refuses connects (6 x 20 > 40 slots), tight timeouts, retries, full accept queues.
fn overloaded(fairness: &str, scope: &str, cancel: bool) -> SystemSpec {
    model(&overloaded_text(fairness, scope, cancel))
}

fn overloaded_text(fairness: &str, scope: &str, cancel: bool) -> String {
    format!(
        r#"
name = "overloaded"
[traffic]
rate = 2500
profile = [{{ at = "0s", factor = 0.5 }}, {{ at = "60s", factor = 1.5 }}, {{ at = "120s", factor = 1.0 }}]
[request]
connection_scope = "{scope}"
[[request.steps]]
name = "a"
kind = "db"
time = {{ dist = "lognormal", median = "4ms", p99 = "40ms" }}
[[request.steps]]
name = "b"
kind = "app"
time = {{ dist = "uniform", min = "5ms", max = "15ms" }}
[[request.steps]]
name = "c"
kind = "db"
time = {{ dist = "exponential", mean = "3ms" }}
[client]
timeout = "300ms"
retries = {{ max = 2, base = "20ms", cap = "200ms", jitter = "decorrelated" }}
retry_on = ["acquire_timeout", "db_refused", "rejected"]
cancel_on_timeout = {cancel}
[fleet]
instances = 6
balancer = "random"
workers = 8
accept_queue = 10
[pool]
max_size = 20
min_idle = 2
acquire_timeout = "250ms"
connect_time = {{ dist = "lognormal", median = "8ms", p99 = "30ms" }}
max_lifetime = "30s"
idle_timeout = "20s"
fairness = "{fairness}"
[database]
max_connections = 48
reserved_connections = 3
other_connections = 5
cores = 4
round_trip = "500us"
contention = {{ serial = 0.05, crosstalk = 0.001 }}
[simulation]
horizon = "3m"
warmup = "20s"
"#
    )
}

fn assert_conserved(s: &Summary) {
    assert!(s.requests.offered > 10_000);
    assert_eq!(
        s.requests.offered,
        s.requests.succeeded + s.requests.failed,
        "every request ends exactly once"
    );
    let f = &s.failures;
    assert_eq!(
        s.requests.failed,
        f.acquire_timeout
            + f.client_timeout
            + f.db_refused
            + f.rejected
            + f.retries_exhausted
            + f.backlog_full,
        "each failure is counted under exactly one kind"
    );
    assert!(s.requests.attempts >= s.requests.offered);
}

#[test]
fn every_request_is_accounted_for_in_every_mode() {
    for fairness in ["fifo", "barging"] {
        for scope in ["request", "step"] {
            for cancel in [false, true] {
                let spec = overloaded(fairness, scope, cancel);
                let s = simulate(&spec, RunOptions::default());
                assert_conserved(&s);
                assert!(
                    s.requests.failed > 0,
                    "{fairness}/{scope}: the model is meant to overload"
                );
                assert!(
                    s.requests.attempts > s.requests.offered,
                    "retries happen under overload"
                );
            }
        }
    }
}

#[test]
fn pools_and_database_stay_within_their_limits() {
    let spec = overloaded("fifo", "request", false);
    let s = simulate(&spec, RunOptions::default());
    let d = &s.diagnostics;
    assert!(Some(d.peak_pool_connections) <= spec.pool.max_connections());
    assert!(
        s.peak_db_connections <= spec.database.max_connections - spec.database.reserved_connections
    );
    // The fleet wants 6 x 20 = 120 connections but only 40 slots exist: the limit is reached and refusals happen.
    assert_eq!(
        s.peak_db_connections,
        spec.database.max_connections - spec.database.reserved_connections
    );
    assert!(d.db_connect_refusals > 0);
    assert!(s.failures.db_refused > 0 || s.failures.retries_exhausted > 0);
}

/// The overloaded fleet with another pool library: the same limits and accounting hold,
/// and the same seed gives the same results.
#[test]
fn every_pool_kind_keeps_the_invariants_under_overload() {
    let text = overloaded_text("fifo", "request", false);
    let (before, rest) = text.split_at(text.find("[pool]").unwrap());
    let after = &rest[rest.find("[database]").unwrap()..];
    for pool in [
        "kind = \"sqlalchemy\"\npool_size = 5\nmax_overflow = 15\npool_timeout = \"250ms\"\npool_recycle = \"30s\"",
        "kind = \"go_sql\"\nconn_max_lifetime = \"30s\"\nconn_max_idle_time = \"5s\"",
        "kind = \"go_sql\"\nmax_open = 20\nmax_idle = 4",
        "kind = \"node_pg\"\nmax = 20\nmin = 2\nconnectionTimeoutMillis = 250\nidleTimeoutMillis = 5000\nmaxLifetimeSeconds = 30",
        "kind = \"pgx\"\nmax_conns = 20\nmin_conns = 2\nmax_conn_lifetime = \"30s\"\nmax_conn_idle_time = \"5s\"\nhealth_check_period = \"2s\"",
    ] {
        let spec = model(&format!("{before}[pool]\n{pool}\n{after}"));
        let s = simulate(&spec, RunOptions { replication: 1 });
        assert_conserved(&s);
        let slots = spec.database.max_connections - spec.database.reserved_connections;
        assert!(s.peak_db_connections <= slots, "{pool}");
        let limit = spec.pool.max_connections_within(slots - spec.database.other_connections);
        assert!(s.diagnostics.peak_pool_connections <= limit, "{pool}");
        assert!(s.failures.db_refused > 0 || s.failures.retries_exhausted > 0, "{pool}");
        let mut again = simulate(&spec, RunOptions { replication: 1 });
        let mut first = s;
        (first.wall_seconds, again.wall_seconds) = (0.0, 0.0);
        assert_eq!(first, again, "{pool}");
    }
}

#[test]
fn the_same_seed_gives_the_same_results() {
    let spec = overloaded("barging", "step", true);
    let mut a = simulate(&spec, RunOptions { replication: 3 });
    let mut b = simulate(&spec, RunOptions { replication: 3 });
    a.wall_seconds = 0.0;
    b.wall_seconds = 0.0;
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let c = simulate(&spec, RunOptions { replication: 4 });
    assert_ne!(
        a.requests, c.requests,
        "another replication draws other numbers"
    );
}

#[test]
fn warmup_is_excluded() {
    let spec = model(
        r#"
name = "warm"
[traffic]
rate = 1000
[request]
[[request.steps]]
name = "q"
kind = "db"
time = { dist = "constant", value = "1ms" }
[fleet]
instances = 1
[database]
cores = 4
[simulation]
horizon = "100s"
warmup = "40s"
"#,
    );
    let s = simulate(&spec, RunOptions::default());
    // About 60 s x 1000/s are measured; with the warmup counted it would be about 100 000.
    let expected: f64 = 60_000.0;
    let sd = expected.sqrt();
    assert!(
        ((s.requests.offered as f64) - expected).abs() < 5.0 * sd,
        "offered {}",
        s.requests.offered
    );
    assert!((s.throughput_rps - 1000.0).abs() < 20.0);
}
