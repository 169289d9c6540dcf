//! Engine speed in simulated requests per second (one core, one run at a time).
//!
//! `cargo bench` prints, for each model, the time per run and the throughput in
//! simulated requests per second ("item/s"), which is the figure the README quotes.

use std::path::Path;

use divan::counter::ItemsCount;
use divan::Bencher;
use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate, RunOptions};
use poolsim::validate::mm_c_pool_model;

fn main() {
    divan::main();
}

fn auth_service() -> SystemSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/auth-service.toml");
    ModelSource::read(&path)
        .and_then(|s| {
            s.build(&[
                (
                    "simulation.horizon".into(),
                    toml::Value::String("10m".into()),
                ),
                ("simulation.warmup".into(), toml::Value::String("1m".into())),
            ])
        })
        .expect("models/auth-service.toml is valid")
}

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
