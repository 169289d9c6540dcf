//! Engine speed in simulated requests per second (one core, one run at a time).
//!
//! `cargo bench` prints, for each model, the time per run and the throughput in
//! simulated requests per second ("item/s"), which is the figure the README quotes.

use std::path::Path;

use divan::counter::ItemsCount;
use divan::Bencher;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, simulate_detailed, RunOptions};
use poolsim::validate::mm_c_pool_model;

fn main() {
    divan::main();
}

fn auth_service_with(extra: &[(&str, &str)]) -> SystemSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/auth-service.toml");
    let mut overrides = vec![
        (
            "simulation.horizon".to_string(),
            toml::Value::String("10m".into()),
        ),
        (
            "simulation.warmup".to_string(),
            toml::Value::String("1m".into()),
        ),
    ];
    for (path, value) in extra {
        overrides.push((
            path.to_string(),
            poolsim::config::overrides::parse_override_value(value),
        ));
    }
    ModelSource::read(&path)
        .and_then(|s| s.build(&overrides))
        .expect("models/auth-service.toml is valid")
}

fn auth_service() -> SystemSpec {
    auth_service_with(&[])
}

/// A busy timeline in 10 minutes: a surge, a slow database, a lost instance and a rollout.
const EVENTS: &str = r#"[
  { at = "2m", kind = "traffic", factor = 1.5, duration = "3m" },
  { at = "3m", kind = "db_slowdown", factor = 2.0, duration = "1m" },
  { at = "4m", kind = "instance_down", instance = 2, duration = "1m" },
  { at = "6m", kind = "rolling_restart", interval = "30s", drain = "10s", surge = 1, set = { "pool.max_size" = 12 } },
]"#;
const ALERTS: &str = r#"[{ name = "pending", metric = "pool.pending", above = 5, for = "1m" }]"#;

fn bench_model(bencher: Bencher, spec: SystemSpec) {
    // Every request is simulated, warmup included: rate x horizon of them on average.
    let requests = (spec.traffic.rate_per_s * spec.simulation.horizon.as_secs_f64()) as usize;
    bencher
        .counter(ItemsCount::new(requests))
        .bench(|| simulate(divan::black_box(&spec), RunOptions::default()));
}

/// M/M/10 pool at rho = 0.9: one instance, exponential 10 ms holds, 900 req/s, 200 s simulated.
#[divan::bench(sample_count = 10)]
fn mm10_pool(bencher: Bencher) {
    bench_model(bencher, mm_c_pool_model(10, 900.0, 10.0, "1h", 200));
}

/// models/auth-service.toml over 10 simulated minutes (300 req/s, 6 instances, retries, USL).
#[divan::bench(sample_count = 10)]
fn auth_service_model(bencher: Bencher) {
    bench_model(bencher, auth_service());
}

/// models/auth-service.toml with the time series sampled every 10 s (as `--timeseries` does).
#[divan::bench(sample_count = 10)]
fn auth_service_with_series(bencher: Bencher) {
    let spec = auth_service();
    let requests = (spec.traffic.rate_per_s * spec.simulation.horizon.as_secs_f64()) as usize;
    bencher
        .counter(ItemsCount::new(requests))
        .bench(|| simulate_detailed(divan::black_box(&spec), RunOptions::default(), true));
}

/// models/auth-service.toml with four events and an alert rule, series sampled.
#[divan::bench(sample_count = 10)]
fn auth_service_with_events(bencher: Bencher) {
    let spec = auth_service_with(&[("events", EVENTS), ("alerts", ALERTS)]);
    // The surge adds half the rate for 3 of the 10 minutes.
    let requests =
        (spec.traffic.rate_per_s * (spec.simulation.horizon.as_secs_f64() + 0.5 * 180.0)) as usize;
    bencher
        .counter(ItemsCount::new(requests))
        .bench(|| simulate_detailed(divan::black_box(&spec), RunOptions::default(), true));
}
