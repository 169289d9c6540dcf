//! Property tests (issue 11): generated models within the accepted ranges never panic,
//! conserve requests, keep pools within max_size and the database within its slots,
//! and give identical results for the same seed; the model parser and `--set` never
//! panic on arbitrary text. Few, short cases, so the whole file stays fast.

use std::path::Path;

use poolsim::config::model::ModelSource;
use poolsim::config::overrides::parse_override_value;
use poolsim::model::{simulate, RunOptions};
use proptest::prelude::*;

const MINIMAL: &str = include_str!("fixtures/minimal.toml");

/// A model text from generated settings (all within what the checks accept).
#[allow(clippy::too_many_arguments)]
fn model_text(
    rate: f64,
    instances: u32,
    max_size: u32,
    min_idle: u32,
    db_mean_ms: f64,
    app_mean_ms: f64,
    acquire_timeout_ms: u64,
    client_timeout_ms: Option<u64>,
    retries: u32,
    max_connections: u32,
    cores: u32,
    surge: Option<(u64, f64)>,
) -> String {
    let client = match client_timeout_ms {
        Some(ms) => format!("timeout = \"{ms}ms\"\n"),
        None => String::new(),
    };
    let events = match surge {
        Some((at_s, factor)) => format!(
            "[[events]]\nat = \"{at_s}s\"\nkind = \"traffic\"\nfactor = {factor}\nduration = \"5s\"\n"
        ),
        None => String::new(),
    };
    format!(
        r#"
name = "generated"
[traffic]
rate = {rate}
[request]
[[request.steps]]
name = "query"
kind = "db"
time = {{ dist = "exponential", mean = "{db_mean_ms}ms" }}
[[request.steps]]
name = "work"
kind = "app"
time = {{ dist = "gamma", mean = "{app_mean_ms}ms", cv = 0.5 }}
[client]
{client}retries = {{ max = {retries}, base = "10ms", cap = "100ms", jitter = "full" }}
[fleet]
instances = {instances}
accept_queue = 50
workers = 20
[pool]
max_size = {max_size}
min_idle = {min_idle}
acquire_timeout = "{acquire_timeout_ms}ms"
[database]
max_connections = {max_connections}
cores = {cores}
[simulation]
horizon = "20s"
warmup = "2s"
{events}"#
    )
}

fn settings() -> impl Strategy<Value = String> {
    (
        (1.0..800.0f64, 1u32..4, 1u32..12, 0u32..12, 0.2..20.0f64),
        (
            0.0..20.0f64,
            1u64..2_000,
            proptest::option::of(50u64..2_000),
            0u32..3,
        ),
        (
            10u32..80,
            1u32..8,
            proptest::option::of((3u64..15, 1.0..4.0f64)),
        ),
    )
        .prop_map(
            |(
                (rate, instances, max_size, min_idle, db),
                (app, acquire, client, retries),
                (max_connections, cores, surge),
            )| {
                model_text(
                    rate,
                    instances,
                    max_size,
                    min_idle.min(max_size),
                    db,
                    app,
                    acquire,
                    client,
                    retries,
                    max_connections,
                    cores,
                    surge,
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_models_conserve_requests_and_respect_limits(text in settings()) {
        let built = ModelSource::from_text(Path::new("generated.toml"), text.clone()).and_then(|s| s.build(&[]));
        // Some combinations (no free database slot) are refused: that is an input error, not a panic.
        let Ok(spec) = built else { return Ok(()) };
        let s = simulate(&spec, RunOptions { replication: 1 });
        prop_assert_eq!(s.requests.offered, s.requests.succeeded + s.requests.failed, "{}", text);
        prop_assert_eq!(s.requests.failed, s.failures.total());
        prop_assert!(Some(s.diagnostics.peak_pool_connections) <= spec.pool.max_connections(), "{}", text);
        let slots = spec.database.max_connections - spec.database.reserved_connections;
        prop_assert!(s.peak_db_connections <= slots, "{}", text);
        prop_assert!(s.throughput_rps * 18.0 <= s.requests.succeeded as f64 + 0.5);
        let again = simulate(&spec, RunOptions { replication: 1 });
        prop_assert_eq!(&s.requests, &again.requests);
        prop_assert_eq!(&s.failures, &again.failures);
        prop_assert_eq!(s.latency_ms.p99.to_bits(), again.latency_ms.p99.to_bits());
        prop_assert_eq!(s.events_processed, again.events_processed);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = ModelSource::from_text(Path::new("fuzz.toml"), text).and_then(|s| s.build(&[]));
    }

    #[test]
    fn set_never_panics_on_arbitrary_paths_and_values(
        path in prop_oneof![
            Just("pool.max_size".to_string()), Just("traffic.rate".to_string()),
            Just("simulation.horizon".to_string()), Just("database.reserved_connections".to_string()),
            Just("fleet".to_string()), Just("request.steps[0].time".to_string()),
            "[a-z._\\[\\]0-9]{1,30}",
        ],
        value in prop_oneof![
            Just("1e308".to_string()), Just("-1".to_string()), Just("4294967295".to_string()),
            Just("{ instances = 50 }".to_string()), Just("\"1ns\"".to_string()), Just("nan".to_string()),
            "\\PC{0,40}",
        ],
    ) {
        let source = ModelSource::from_text(Path::new("minimal.toml"), MINIMAL.to_string()).unwrap();
        let _ = source.build(&[(path, parse_override_value(&value))]);
    }
}
