//! Timeline features, each with a test of its effect: surges, traces, database
//! slowdowns, instances going down, hot changes, rolling restarts, zombie work,
//! retry storms, alerts and autoscaling.

use std::path::Path;

use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate_detailed, RunOptions, RunOutput};
use poolsim::stats::series::IntervalSample;

/// Three instances with pools of 4; 100 req/s that each hold a connection for about
/// 20 ms (read, 15 ms of work, write: one transaction), so 0.67 erlang per pool.
fn model(extra: &str, overrides: &[(&str, &str)]) -> SystemSpec {
    let text = format!(
        r#"
name = "events-test"
[traffic]
rate = 100
[request]
[[request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "2.5ms" }}
[[request.steps]]
name = "work"
kind = "app"
time = {{ dist = "constant", value = "15ms" }}
[[request.steps]]
name = "write"
kind = "db"
time = {{ dist = "exponential", mean = "2.5ms" }}
[client]
timeout = "2s"
[fleet]
instances = 3
[pool]
max_size = 4
acquire_timeout = "500ms"
connect_time = {{ dist = "constant", value = "5ms" }}
[database]
max_connections = 40
reserved_connections = 3
cores = 8
[simulation]
horizon = "10m"
warmup = "1m"
sample_interval = "10s"
{extra}
"#
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events-test.toml");
    let overrides: Vec<(String, toml::Value)> = overrides
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                poolsim::config::overrides::parse_override_value(v),
            )
        })
        .collect();
    ModelSource::from_text(&path, text)
        .and_then(|s| s.build(&overrides))
        .unwrap()
}

fn run(spec: &SystemSpec) -> RunOutput {
    simulate_detailed(spec, RunOptions::default(), true)
}

/// Mean of `f` over the intervals starting in [from_s, to_s).
fn mean(series: &[IntervalSample], from_s: f64, to_s: f64, f: fn(&IntervalSample) -> f64) -> f64 {
    let values: Vec<f64> = series
        .iter()
        .filter(|s| s.start_s >= from_s && s.start_s < to_s)
        .map(f)
        .filter(|v| v.is_finite())
        .collect();
    values.iter().sum::<f64>() / values.len() as f64
}

fn total(series: &[IntervalSample], from_s: f64, to_s: f64, f: fn(&IntervalSample) -> f64) -> f64 {
    series
        .iter()
        .filter(|s| s.start_s >= from_s && s.start_s < to_s)
        .map(f)
        .sum()
}

#[test]
fn series_cover_the_horizon_and_count_every_request() {
    let out = run(&model("", &[]));
    assert_eq!(out.series.len(), 60, "10 minutes at 10 s");
    let offered: f64 = out.series.iter().map(|s| s.offered).sum();
    // About 100/s for 600 s.
    assert!(
        (offered - 60_000.0).abs() < 5.0 * 60_000f64.sqrt(),
        "offered {offered}"
    );
}

#[test]
fn a_traffic_surge_multiplies_the_rate_for_its_duration() {
    let out = run(&model(
        "[[events]]\nat = \"3m\"\nkind = \"traffic\"\nfactor = 2.5\nduration = \"2m\"\n",
        &[],
    ));
    let before = mean(&out.series, 60.0, 180.0, |s| s.offered) / 10.0;
    let during = mean(&out.series, 180.0, 300.0, |s| s.offered) / 10.0;
    let after = mean(&out.series, 300.0, 600.0, |s| s.offered) / 10.0;
    assert!((before - 100.0).abs() < 6.0, "before {before}/s");
    assert!((during - 250.0).abs() < 10.0, "during {during}/s");
    assert!((after - 100.0).abs() < 5.0, "after {after}/s");
}

#[test]
fn rate_traces_set_the_rate_and_arrival_traces_are_replayed_exactly() {
    let rates = model(
        "",
        &[
            ("traffic.trace", "\"traces/rates.csv\""),
            ("simulation.horizon", "\"3m\""),
            ("simulation.warmup", "\"0s\""),
        ],
    );
    let out = run(&rates);
    let first = total(&out.series, 0.0, 60.0, |s| s.offered) / 60.0;
    let second = total(&out.series, 60.0, 120.0, |s| s.offered) / 60.0;
    assert!((first - 100.0).abs() < 8.0, "{first}");
    assert!((second - 300.0).abs() < 12.0, "{second}");

    let arrivals = model(
        "",
        &[
            ("traffic.trace", "\"traces/arrivals.csv\""),
            ("simulation.horizon", "\"3m\""),
            ("simulation.warmup", "\"0s\""),
        ],
    );
    let out = run(&arrivals);
    assert_eq!(
        out.summary.requests.offered, 1000,
        "every row of the trace is one arrival"
    );
    assert_eq!(total(&out.series, 0.0, 10.0, |s| s.offered), 100.0);
}

#[test]
fn a_database_slowdown_slows_statements_only_while_it_lasts() {
    let out = run(&model(
        "[[events]]\nat = \"3m\"\nkind = \"db_slowdown\"\nfactor = 10.0\nduration = \"2m\"\n",
        &[],
    ));
    let p99 = |from, to| mean(&out.series, from, to, |s| s.latency_p99_ms);
    let (before, during, after) = (p99(60.0, 180.0), p99(190.0, 300.0), p99(320.0, 600.0));
    // Two 2.5 ms statements become 25 ms each: p99 rises from about 35 ms to well over 100 ms.
    assert!(
        during > 3.0 * before,
        "before {before} ms, during {during} ms"
    );
    assert!(
        (after - before).abs() < 0.3 * before,
        "before {before} ms, after {after} ms"
    );
}

#[test]
fn an_instance_down_fails_its_work_and_is_routed_around() {
    // 600/s with pools of 10: about 4 requests in flight on each instance when it goes down.
    let spec = model(
        "[[events]]\nat = \"3m\"\nkind = \"instance_down\"\ninstance = 1\nduration = \"2m\"\n",
        &[("traffic.rate", "600"), ("pool.max_size", "10")],
    );
    let out = run(&spec);
    let instances_during = mean(&out.series, 190.0, 290.0, |s| s.instances);
    assert_eq!(instances_during, 2.0);
    assert_eq!(mean(&out.series, 320.0, 600.0, |s| s.instances), 3.0);
    // The capacity of the two survivors carries the load: failures only at the moment it went down.
    // Events at a sample instant run before the sample, so they count in the interval ending then.
    let failed_at_down = total(&out.series, 170.0, 180.0, |s| s.rejected);
    let failed_later = total(&out.series, 180.0, 600.0, |s| s.failed);
    assert!(
        failed_at_down >= 1.0,
        "in-flight work on the instance fails"
    );
    assert_eq!(
        failed_later, 0.0,
        "no request is routed to the down instance"
    );
    // Its pool closed and refilled: the database saw the churn.
    assert!(out.summary.diagnostics.connections_opened >= 3 * 10 + 10);
}

#[test]
fn in_flight_work_on_a_lost_instance_is_retried_when_the_client_retries() {
    let spec = model(
        "[[events]]\nat = \"3m\"\nkind = \"instance_down\"\ninstance = 0\nduration = \"1m\"\n",
        &[
            ("traffic.rate", "600"),
            ("pool.max_size", "10"),
            (
                "client.retries",
                "{ max = 2, base = \"10ms\", cap = \"100ms\", jitter = \"equal\" }",
            ),
            ("client.retry_on", "[\"rejected\"]"),
        ],
    );
    let out = run(&spec);
    assert_eq!(
        out.summary.requests.failed, 0,
        "every rejected attempt succeeded on retry"
    );
    assert!(out.summary.requests.attempts > out.summary.requests.offered);
}

#[test]
fn a_hot_set_changes_the_pool_without_a_restart() {
    // 200/s x 20 ms = 1.33 erlangs per instance on 1 connection: overloaded until pools grow to 4.
    let spec = model(
        "[[events]]\nat = \"4m\"\nkind = \"set\"\nset = { \"pool.max_size\" = 4 }\n",
        &[("pool.max_size", "1"), ("traffic.rate", "200")],
    );
    let out = run(&spec);
    assert_eq!(mean(&out.series, 60.0, 230.0, |s| s.pool_capacity), 3.0);
    assert_eq!(mean(&out.series, 250.0, 600.0, |s| s.pool_capacity), 12.0);
    let errors_before = total(&out.series, 60.0, 240.0, |s| s.failed)
        / total(&out.series, 60.0, 240.0, |s| s.failed + s.succeeded);
    let errors_after = total(&out.series, 270.0, 600.0, |s| s.failed);
    assert!(errors_before > 0.2, "{errors_before}");
    assert_eq!(errors_after, 0.0);
}

#[test]
fn a_rolling_restart_drains_restarts_and_refills_with_new_settings() {
    let spec = model(
        "[[events]]\nat = \"3m\"\nkind = \"rolling_restart\"\nbatch = 1\ninterval = \"1m\"\ndrain = \"20s\"\nsurge = 1\nset = { \"pool.max_size\" = 6 }\n",
        &[],
    );
    let out = run(&spec);
    assert_eq!(mean(&out.series, 60.0, 170.0, |s| s.pool_capacity), 12.0);
    // The surge instance joins at once with the new pool.
    assert!(
        out.series.iter().any(|s| s.instances == 4.0),
        "surge instance"
    );
    // After the last batch (5m20s) and the surge's drain: 3 instances with pools of 6.
    assert_eq!(mean(&out.series, 360.0, 600.0, |s| s.pool_capacity), 18.0);
    assert_eq!(mean(&out.series, 360.0, 600.0, |s| s.instances), 3.0);
    // Every restarted pool refilled to min_idle (= max_size): 3 x 4 at start, 3 x 6 + 6 for the surge.
    assert!(out.summary.diagnostics.connections_opened >= 12 + 18 + 6);
    // Draining 20 s is far more than a 20 ms request: nobody notices the rollout.
    assert_eq!(out.summary.requests.failed, 0);
    assert!(out.summary.peak_db_connections <= 40 - 3);
}

#[test]
fn zombie_work_keeps_connections_busy_unless_cancelled() {
    // The app step takes 2 s but the client gives up after 200 ms.
    let slow = [
        (
            "request.steps",
            "[{ name = \"query\", kind = \"db\", time = { dist = \"constant\", value = \"2s\" } }]",
        ),
        ("client.timeout", "\"200ms\""),
        ("traffic.rate", "2"),
    ];
    let zombie = run(&model("", &slow));
    let mut cancelled_overrides = slow.to_vec();
    cancelled_overrides.push(("client.cancel_on_timeout", "true"));
    let cancelled = run(&model("", &cancelled_overrides));
    assert_eq!(
        zombie.summary.failures.client_timeout, zombie.summary.requests.offered,
        "every request times out"
    );
    assert_eq!(
        cancelled.summary.failures.client_timeout,
        cancelled.summary.requests.offered
    );
    // Zombies hold their connection for the full 2 s; cancelled work releases it at 200 ms.
    let ratio = zombie.summary.pool_utilization / cancelled.summary.pool_utilization;
    assert!((ratio - 10.0).abs() < 1.5, "utilization ratio {ratio}");
}

#[test]
fn retries_under_overload_multiply_attempts() {
    // Pools of 1 for 1.33 erlangs each; acquire timeouts are retried twice.
    let spec = model(
        "",
        &[
            ("pool.max_size", "1"),
            ("traffic.rate", "200"),
            (
                "client.retries",
                "{ max = 2, base = \"50ms\", cap = \"1s\", jitter = \"full\" }",
            ),
            ("client.retry_on", "[\"acquire_timeout\"]"),
        ],
    );
    let out = simulate_detailed(&spec, RunOptions::default(), false);
    let s = &out.summary;
    let amplification = s.requests.attempts as f64 / s.requests.offered as f64;
    assert!(
        amplification > 1.5,
        "a retry storm: {amplification:.2} attempts per request"
    );
    assert!(s.failures.retries_exhausted > 0);
    assert_eq!(
        s.failures.acquire_timeout, 0,
        "retried kinds end as retries_exhausted"
    );
}

#[test]
fn a_pending_alert_fires_before_the_error_rate_alert() {
    let spec = model(
        "[[events]]\nat = \"3m\"\nkind = \"traffic\"\nfactor = 8.0\nduration = \"4m\"\n[[alerts]]\nname = \"pending\"\nmetric = \"pool.pending\"\nabove = 3\nfor = \"30s\"\n[[alerts]]\nname = \"errors\"\nmetric = \"error_rate\"\nabove = 0.05\nfor = \"2m\"\n",
        &[],
    );
    let out = run(&spec);
    let fired = |name: &str| {
        out.alerts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.fired_s)
            .unwrap_or_else(|| panic!("{name} never fired"))
    };
    assert!(fired("pending") < fired("errors"));
    assert!(fired("pending") >= 180.0 && fired("pending") < 240.0);
    let cleared = out
        .alerts
        .iter()
        .find(|a| a.name == "pending")
        .unwrap()
        .cleared_s
        .unwrap();
    assert!(
        cleared > 420.0 && cleared < 480.0,
        "clears once the surge ends: {cleared}"
    );
}

#[test]
fn autoscaling_adds_instances_and_their_pools_can_exhaust_the_database() {
    // A sixfold surge (12 erlangs on 12 connections); each new instance opens 4 connections;
    // the database has 37 slots, so beyond 9 instances (36 connections) new pools are refused.
    let spec = model(
        "[[events]]\nat = \"2m\"\nkind = \"traffic\"\nfactor = 6.0\nduration = \"6m\"\n[autoscale]\nmetric = \"pool.utilization\"\ntarget = 0.3\nmin_instances = 3\nmax_instances = 15\nreaction_delay = \"30s\"\nboot_time = \"30s\"\ncooldown = \"30s\"\n",
        &[],
    );
    let out = run(&spec);
    let peak_instances = out.series.iter().map(|s| s.instances).fold(0.0, f64::max);
    assert!(peak_instances >= 10.0, "scaled out to {peak_instances}");
    assert_eq!(
        out.summary.peak_db_connections,
        40 - 3,
        "the database is full"
    );
    assert!(
        out.summary.diagnostics.db_connect_refusals > 0,
        "new pools were refused"
    );
    assert!(mean(&out.series, 0.0, 110.0, |s| s.instances) <= 4.0);
}

#[test]
fn runs_with_events_are_deterministic() {
    let spec = model("[[events]]\nat = \"2m\"\nkind = \"instance_down\"\ninstance = 2\nduration = \"1m\"\n[[events]]\nat = \"4m\"\nkind = \"rolling_restart\"\nset = { \"pool.max_size\" = 5 }\ninterval = \"30s\"\n", &[]);
    let a = run(&spec);
    let b = run(&spec);
    assert_eq!(a.series, b.series);
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(a.summary.requests, b.summary.requests);
}
