//! Value stability: the engine's results for a fixed set of models and seeds, pinned.
//!
//! Speed work must not move a single number: an engine change that keeps every closed-form
//! and invariant test green can still shift results (a tie broken the other way, a random
//! draw taken in another order). Each case runs one replication, serialises everything the
//! run reports (summary, per-service and proxy figures, sampled series, alert firings;
//! not `wall_seconds` or `events_processed`, which describe the run, not the system) and
//! compares a 64-bit FNV-1a digest of that text with the pinned one.
//!
//! A change that moves results on purpose (a new random stream, a model fix) re-pins in its
//! own commit, saying why: run `POOLSIM_PRINT_PINS=1 cargo test --test value_stability --
//! --nocapture` and copy the printed digests here. The digests hold for one platform's
//! `f64` maths (`exp`, `ln` from its libm); CI runs on the same kind of machine.

use std::path::Path;

use poolsim::config::model::{ModelSource, SystemSpec};
use poolsim::model::{simulate_detailed, RunOptions};
use poolsim::stats::summary::Summary;
use poolsim::validate::mm_c_pool_model;

/// A busy timeline (as benches/engine.rs has): a surge, a slow database, a lost instance,
/// a rollout, and an alert on pending borrowers.
const EVENTS: &str = r#"[
  { at = "1m", kind = "traffic", factor = 1.5, duration = "1m30s" },
  { at = "1m30s", kind = "db_slowdown", factor = 2.0, duration = "30s" },
  { at = "2m", kind = "instance_down", instance = 2, duration = "30s" },
  { at = "3m", kind = "rolling_restart", interval = "20s", drain = "5s", surge = 1, set = { "pool.max_size" = 12 } },
]"#;
const ALERTS: &str = r#"[{ name = "pending", metric = "pool.pending", above = 5, for = "30s" }]"#;

/// Transaction-mode PgBouncer in front of the auth service, bcrypt outside the transactions.
const PGBOUNCER: &str =
    r#"{ pool_mode = "transaction", default_pool_size = 16, max_client_conn = 500 }"#;

fn model(path: &str, overrides: &[(&str, &str)]) -> SystemSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let overrides: Vec<(String, toml::Value)> = overrides
        .iter()
        .map(|(key, value)| {
            (
                key.to_string(),
                poolsim::config::overrides::parse_override_value(value),
            )
        })
        .collect();
    ModelSource::read(&path)
        .and_then(|source| source.build(&overrides))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A few simulated minutes of `path` at `growth`.
fn short(path: &str, growth: &str, extra: &[(&str, &str)]) -> SystemSpec {
    let mut overrides = vec![
        ("simulation.horizon", "\"4m\""),
        ("simulation.warmup", "\"30s\""),
        ("traffic.growth", growth),
    ];
    if path.contains("shared-database") {
        // Multi-service models have no top-level traffic; their own growth stays.
        overrides.pop();
    }
    overrides.extend_from_slice(extra);
    model(path, &overrides)
}

fn cases() -> Vec<(&'static str, SystemSpec, &'static str)> {
    vec![
        (
            "M/M/10 pool, rho 0.9",
            mm_c_pool_model(10, 900.0, 10.0, "1h", 60),
            "9ef2b59ed0d5436e",
        ),
        (
            "M/M/10 pool, 50 ms acquire timeout",
            mm_c_pool_model(10, 950.0, 10.0, "50ms", 60),
            "44b5b9811858179d",
        ),
        (
            "auth-service today",
            short("models/auth-service.toml", "1.0", &[]),
            "abf853ad796d905c",
        ),
        (
            "auth-service at 2.5x (retries, timeouts, USL)",
            short("models/auth-service.toml", "2.5", &[]),
            "978079863cf6617e",
        ),
        (
            "auth-service with events and an alert",
            short(
                "models/auth-service.toml",
                "1.0",
                &[("events", EVENTS), ("alerts", ALERTS)],
            ),
            "5485640804762dd2",
        ),
        (
            "auth-service behind PgBouncer, bcrypt outside",
            short(
                "models/auth-service.toml",
                "2.0",
                &[
                    ("proxy", PGBOUNCER),
                    ("pool.max_size", "40"),
                    (r#"request.steps["load user"].transaction"#, "\"load\""),
                    (r#"request.steps["write session"].transaction"#, "\"write\""),
                ],
            ),
            "fee92aed937d0a39",
        ),
        (
            "billing-python (SQLAlchemy overflow)",
            short("models/billing-python.toml", "1.5", &[]),
            "6f8a300380e4bd3a",
        ),
        (
            "shared database, three services",
            short("models/shared-database.toml", "1.0", &[]),
            "31c16f0805a4b2d2",
        ),
        (
            "shared database behind PgBouncers",
            short("models/shared-database-pgbouncer.toml", "1.0", &[]),
            "9b16801328edfa75",
        ),
    ]
}

/// FNV-1a, 64 bits: enough to notice any change, with no dependency.
fn fnv1a(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Everything the run reports about the system, without its own running costs.
fn results_text(spec: &SystemSpec) -> String {
    let output = simulate_detailed(spec, RunOptions { replication: 1 }, true);
    let mut summary: Summary = output.summary;
    summary.wall_seconds = 0.0;
    summary.events_processed = 0;
    for service in &mut summary.services {
        service.summary.wall_seconds = 0.0;
        service.summary.events_processed = 0;
    }
    format!(
        "{}\n{}\n{:?}\n{:?}",
        serde_json::to_string(&summary).expect("summaries serialise"),
        serde_json::to_string(&output.series).expect("series serialise"),
        output.alerts,
        summary.diagnostics,
    )
}

#[test]
fn results_match_the_pinned_digests() {
    let print = std::env::var_os("POOLSIM_PRINT_PINS").is_some();
    let mut moved = Vec::new();
    for (name, spec, pinned) in cases() {
        let text = results_text(&spec);
        let digest = fnv1a(&text);
        if print {
            println!("{name}: \"{digest}\"");
        }
        if digest != pinned {
            moved.push(format!(
                "{name}: digest {digest}, pinned {pinned}\n  {}",
                &text[..text.len().min(600)]
            ));
        }
    }
    assert!(
        moved.is_empty(),
        "results moved (see this file's header to re-pin on purpose):\n{}",
        moved.join("\n")
    );
}

#[test]
fn the_digest_tells_texts_apart() {
    // The check can fail: one changed character changes the digest.
    assert_ne!(fnv1a("p99 = 41.2"), fnv1a("p99 = 41.3"));
    assert_eq!(fnv1a(""), "cbf29ce484222325");
}
