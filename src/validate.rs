//! `poolsim validate`: the engine against closed-form queueing theory.
//!
//! A pool of `c` connections with Poisson arrivals and exponential hold times is
//! an M/M/c queue (Erlang C); with `acquire_timeout = "0s"` it is an Erlang loss
//! system (Erlang B); a database with `cores` and no contention is M/M/cores; and
//! any stable run obeys Little's law. Each check runs independent replications
//! and passes when theory lies inside the 99% Student-t interval of the estimate,
//! and the interval is narrow enough for the comparison to mean something.

use std::fmt::Write;
use std::path::Path;

use rayon::prelude::*;

use crate::analytic::{erlang_b, erlang_c, mm_c_mean_response, mm_c_mean_wait};
use crate::config::model::{ModelSource, SystemSpec};
use crate::model::{simulate, RunOptions};
use crate::stats::confidence::{estimate, Estimate};
use crate::stats::summary::Summary;

/// Confidence level of the interval that must contain the theoretical value.
pub const CHECK_CONFIDENCE: f64 = 0.99;

/// One comparison of a simulated estimate with its closed form.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub theory: f64,
    pub estimate: Estimate,
    /// Largest acceptable half-width relative to theory: wider means "not precise enough to judge".
    pub max_relative_half_width: f64,
}

impl Check {
    pub fn contains_theory(&self) -> bool {
        (self.estimate.mean - self.theory).abs() <= self.estimate.half_width + 1e-12
    }
    pub fn precise_enough(&self) -> bool {
        self.estimate.half_width <= self.max_relative_half_width * self.theory.abs()
    }
    pub fn passed(&self) -> bool {
        self.contains_theory() && self.precise_enough()
    }
}

pub struct ValidationReport {
    pub checks: Vec<Check>,
}

impl ValidationReport {
    pub fn all_passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<46} {:>12} {:>12} {:>12}  result",
            "check", "theory", "simulated", "99% ± "
        );
        for c in &self.checks {
            let verdict = match (c.contains_theory(), c.precise_enough()) {
                (true, true) => "ok",
                (false, _) => "MISMATCH",
                (true, false) => "TOO NOISY",
            };
            let _ = writeln!(
                out,
                "{:<46} {:>12.6} {:>12.6} {:>12.6}  {verdict}",
                c.name, c.theory, c.estimate.mean, c.estimate.half_width
            );
        }
        out
    }
}

/// A single-instance model whose pool of `servers` connections is an M/M/c queue:
/// exponential hold times, a database with a core per connection and no contention,
/// no round trip, no connection churn.
pub fn mm_c_pool_model(
    servers: u32,
    arrival_rate: f64,
    mean_hold_ms: f64,
    acquire_timeout: &str,
    horizon_s: u32,
) -> SystemSpec {
    let pool = format!(
        "max_size = {servers}\nacquire_timeout = \"{acquire_timeout}\"\nmax_lifetime = \"0s\""
    );
    let text = single_pool_model_text(
        &pool,
        arrival_rate,
        mean_hold_ms,
        servers,
        servers + 10,
        horizon_s,
    );
    build_text(&text)
}

/// The text of a single-instance model with `pool` as its `[pool]` body (plus 1 ms
/// connects): Poisson arrivals, one exponential statement of `mean_hold_ms`, a database
/// with `cores`, `max_connections` and no contention, a 10 s warm-up.
pub fn single_pool_model_text(
    pool: &str,
    arrival_rate: f64,
    mean_hold_ms: f64,
    cores: u32,
    max_connections: u32,
    horizon_s: u32,
) -> String {
    format!(
        r#"
name = "single-pool"
[traffic]
rate = {arrival_rate}
[request]
[[request.steps]]
name = "query"
kind = "db"
time = {{ dist = "exponential", mean = "{mean_hold_ms}ms" }}
[fleet]
instances = 1
[pool]
{pool}
connect_time = {{ dist = "constant", value = "1ms" }}
[database]
max_connections = {max_connections}
cores = {cores}
[simulation]
horizon = "{horizon_s}s"
warmup = "10s"
"#
    )
}

/// A model whose database (with `cores`) is the bottleneck: a pool far larger than
/// needed, exponential demand, no contention, so the database is M/M/cores.
pub fn mm_c_database_model(
    cores: u32,
    arrival_rate: f64,
    mean_demand_ms: f64,
    horizon_s: u32,
) -> SystemSpec {
    let text = format!(
        r#"
name = "mm{cores}-database"
[traffic]
rate = {arrival_rate}
[request]
[[request.steps]]
name = "query"
kind = "db"
time = {{ dist = "exponential", mean = "{mean_demand_ms}ms" }}
[fleet]
instances = 2
[pool]
max_size = 100
max_lifetime = "0s"
connect_time = {{ dist = "constant", value = "1ms" }}
[database]
max_connections = 300
cores = {cores}
[simulation]
horizon = "{horizon_s}s"
warmup = "10s"
"#
    );
    build_text(&text)
}

/// A realistic login-like model for Little's law: app work holding the connection,
/// client timeouts and retries, several instances.
pub fn littles_law_model(horizon_s: u32) -> SystemSpec {
    let text = format!(
        r#"
name = "little"
[traffic]
rate = 400
[request]
[[request.steps]]
name = "load user"
kind = "db"
time = {{ dist = "lognormal", median = "2ms", p99 = "15ms" }}
[[request.steps]]
name = "verify password"
kind = "app"
time = {{ dist = "constant", value = "20ms" }}
[[request.steps]]
name = "write session"
kind = "db"
time = {{ dist = "exponential", mean = "1.5ms" }}
[client]
timeout = "200ms"
retries = {{ max = 2, base = "50ms", cap = "1s", jitter = "full" }}
retry_on = ["acquire_timeout", "client_timeout"]
[fleet]
instances = 3
balancer = "least_outstanding"
[pool]
max_size = 4
acquire_timeout = "100ms"
[database]
max_connections = 50
cores = 4
round_trip = "300us"
[simulation]
horizon = "{horizon_s}s"
warmup = "10s"
"#
    );
    build_text(&text)
}

fn build_text(text: &str) -> SystemSpec {
    ModelSource::from_text(Path::new("<validate>"), text.to_string())
        .and_then(|source| source.build(&[]))
        .expect("built-in validation models are valid")
}

/// Runs `replications` independent replications of `spec` in parallel (deterministic order).
pub fn replicate(spec: &SystemSpec, replications: u32) -> Vec<Summary> {
    (0..replications)
        .into_par_iter()
        .map(|replication| simulate(spec, RunOptions { replication }))
        .collect()
}

/// A check of `values` (one per replication) against `theory`, judged at `CHECK_CONFIDENCE`.
pub fn check(name: String, theory: f64, values: Vec<f64>, max_relative_half_width: f64) -> Check {
    Check {
        name,
        theory,
        estimate: estimate(&values, CHECK_CONFIDENCE),
        max_relative_half_width,
    }
}

/// Pool waiting against Erlang C: P(wait) and mean wait, for an M/M/c pool at utilization `rho`.
pub fn erlang_c_checks(servers: u32, rho: f64, replications: u32, horizon_s: u32) -> Vec<Check> {
    let mean_hold_ms = 10.0;
    let arrival_rate = rho * servers as f64 / (mean_hold_ms / 1e3);
    let spec = mm_c_pool_model(servers, arrival_rate, mean_hold_ms, "1h", horizon_s);
    let runs = replicate(&spec, replications);
    let load = arrival_rate * mean_hold_ms / 1e3;
    vec![
        check(
            format!("M/M/{servers} pool rho={rho}: P(wait) (Erlang C)"),
            erlang_c(servers, load),
            runs.iter().map(|s| s.p_wait).collect(),
            0.05,
        ),
        check(
            format!("M/M/{servers} pool rho={rho}: mean wait ms"),
            mm_c_mean_wait(servers, arrival_rate, mean_hold_ms / 1e3) * 1e3,
            runs.iter().map(|s| s.pool_wait_ms.mean).collect(),
            0.10,
        ),
    ]
}

/// `acquire_timeout = "0s"`: the fraction of requests that find no idle connection (Erlang B).
pub fn erlang_b_check(servers: u32, load: f64, replications: u32, horizon_s: u32) -> Check {
    let mean_hold_ms = 10.0;
    let arrival_rate = load / (mean_hold_ms / 1e3);
    let spec = mm_c_pool_model(servers, arrival_rate, mean_hold_ms, "0s", horizon_s);
    let runs = replicate(&spec, replications);
    check(
        format!("M/M/{servers}/{servers} pool a={load}: loss (Erlang B)"),
        erlang_b(servers, load),
        runs.iter().map(|s| s.error_rate).collect(),
        0.05,
    )
}

/// The database alone against M/M/cores: mean statement response time.
pub fn database_check(cores: u32, rho: f64, replications: u32, horizon_s: u32) -> Check {
    let mean_demand_ms = 10.0;
    let arrival_rate = rho * cores as f64 / (mean_demand_ms / 1e3);
    let spec = mm_c_database_model(cores, arrival_rate, mean_demand_ms, horizon_s);
    let runs = replicate(&spec, replications);
    check(
        format!("M/M/{cores} database rho={rho}: mean response ms"),
        mm_c_mean_response(cores, arrival_rate, mean_demand_ms / 1e3) * 1e3,
        runs.iter().map(|s| s.latency_ms.mean).collect(),
        0.05,
    )
}

/// Little's law on a model with retries and timeouts: L / (lambda W) = 1.
pub fn littles_law_check(replications: u32, horizon_s: u32) -> Check {
    let spec = littles_law_model(horizon_s);
    let runs = replicate(&spec, replications);
    check(
        "Little's law L/(lambda W), retries and timeouts".into(),
        1.0,
        runs.iter()
            .map(|s| {
                let d = &s.diagnostics;
                d.mean_requests_in_system / (d.offered_rps * d.mean_sojourn_ms / 1e3)
            })
            .collect(),
        0.02,
    )
}

/// Every check, as `poolsim validate` runs them.
pub fn run_all(replications: u32) -> ValidationReport {
    let mut checks = Vec::new();
    for rho in [0.5, 0.8, 0.9] {
        checks.extend(erlang_c_checks(10, rho, replications, 300));
    }
    checks.push(erlang_b_check(10, 8.0, replications, 200));
    checks.push(database_check(4, 0.8, replications, 200));
    checks.push(littles_law_check(replications, 200));
    ValidationReport { checks }
}
