//! The rules of a model file that serde cannot express, section by section.
//!
//! Each `check_*` function takes one section as written and returns its checked
//! spec, or an `InputError` naming the field, its line and the fix. The order of
//! the checks is the order of the sections in docs/model.md, so the first error a user
//! sees is the first one in the file.

use std::path::Path;

use super::check_pool::{check_pool, default_connect_time};
use super::checker::Checker;
use super::distribution::build_time_dist;
use super::error::{locate_field, InputError};
use super::proxy::{check_proxy, check_transactions, ProxyContext};
use super::sections::*;
use super::spec::*;
use super::timeline::Timeline;
use crate::sim::time::SimTime;

/// Checks cross-field rules and builds the engine's spec (its timeline is checked separately).
pub fn check_model(file: &ModelFile, path: &Path, text: &str) -> Result<SystemSpec, InputError> {
    let c = Checker {
        path,
        text,
        base_dir: path.parent().unwrap_or(Path::new(".")),
    };
    let traffic = check_traffic(&c, &file.traffic)?;
    let (scope, steps) = check_request(&c, &file.request)?;
    let client = check_client(&c, file.client.as_ref())?;
    let fleet = check_fleet(&c, &file.fleet)?;
    let pool = check_pool(&c, &file.pool, file.fleet.cpus)?;
    let database = check_database(&c, &file.database)?;
    let step_groups: Vec<(StepKind, Option<String>)> = steps
        .iter()
        .zip(&file.request.steps)
        .map(|(step, section)| (step.kind, section.transaction.clone()))
        .collect();
    let transactions = check_transactions(path, text, scope, &step_groups)?;
    let proxy = match &file.proxy {
        None => None,
        Some(section) => Some(check_proxy(
            &ProxyContext {
                path,
                text,
                base_dir: c.base_dir,
                database: &database,
                transactions: &transactions,
                steps: &step_groups.iter().map(|s| s.0).collect::<Vec<_>>(),
                default_connect: &default_connect_time(),
            },
            section,
        )?),
    };
    let simulation = check_simulation(&c, &file.simulation)?;
    Ok(SystemSpec {
        name: file.name.clone(),
        description: file.description.clone(),
        traffic,
        scope,
        steps,
        client,
        fleet,
        pool,
        database,
        transactions,
        proxy,
        simulation,
        timeline: Timeline::default(),
        service_name: None,
        more_services: Vec::new(),
    })
}

fn check_traffic(c: &Checker, traffic: &TrafficSection) -> Result<TrafficSpec, InputError> {
    if !(traffic.rate.is_finite() && traffic.rate > 0.0) {
        return Err(c.err(
            "traffic.rate",
            format!(
                "rate must be a positive number of requests per second, not {}",
                traffic.rate
            ),
            "set e.g. rate = 300",
        ));
    }
    if !(traffic.growth.is_finite() && traffic.growth > 0.0) {
        return Err(c.err(
            "traffic.growth",
            format!(
                "growth must be a positive multiplier, not {}",
                traffic.growth
            ),
            "1.0 is today's traffic, 1.5 is 50% more",
        ));
    }
    c.choice(
        "traffic.arrivals",
        &traffic.arrivals,
        &[("poisson", ()), ("trace", ())],
    )?;
    if traffic.arrivals == "trace" && traffic.trace.is_none() {
        return Err(c.err(
            "traffic.arrivals",
            "arrivals = \"trace\" needs a `trace` file".into(),
            "add trace = \"traces/login.csv\" (columns seconds,rate or one arrival time per row)",
        ));
    }
    let mut profile = Vec::new();
    for (i, point) in traffic.profile.iter().flatten().enumerate() {
        let field = format!("traffic.profile[{i}]");
        let at = c.duration(&format!("{field}.at"), &point.at)?;
        if !(point.factor.is_finite() && point.factor >= 0.0) {
            return Err(c.err(
                &format!("{field}.factor"),
                format!(
                    "profile factor must be a non-negative number, not {}",
                    point.factor
                ),
                "1.0 is the base rate",
            ));
        }
        if let Some(&(previous, _)) = profile.last() {
            if at <= previous {
                return Err(c.err(
                    &format!("{field}.at"),
                    format!(
                        "profile times must increase, but {} is not after {}",
                        point.at, previous
                    ),
                    "list profile points in time order",
                ));
            }
        }
        profile.push((at, point.factor));
    }

    Ok(TrafficSpec {
        rate_per_s: traffic.rate * traffic.growth,
        growth: traffic.growth,
        profile,
    })
}

fn check_request(
    c: &Checker,
    request: &RequestSection,
) -> Result<(ConnectionScope, Vec<StepSpec>), InputError> {
    let scope = c.choice(
        "request.connection_scope",
        &request.connection_scope,
        &[
            ("request", ConnectionScope::Request),
            ("step", ConnectionScope::Step),
        ],
    )?;
    if request.steps.is_empty() {
        return Err(c.err(
            "request.steps",
            "a request needs at least one step".into(),
            "add [[request.steps]] with name, kind and time",
        ));
    }
    let mut steps = Vec::new();
    for (i, step) in request.steps.iter().enumerate() {
        let field = format!("request.steps[{i}]");
        let kind = c.choice(
            &format!("{field}.kind"),
            &step.kind,
            &[("db", StepKind::Db), ("app", StepKind::App)],
        )?;
        let time = build_time_dist(&step.time, c.base_dir).map_err(|e| {
            let sub = format!("{field}.time.{}", e.subfield);
            InputError::new(c.path, format!("step \"{}\": {}", step.name, e.message))
                .field(sub)
                .line(locate_field(c.text, &format!("{field}.time")))
                .hint(e.hint)
        })?;
        steps.push(StepSpec {
            name: step.name.clone(),
            kind,
            time,
        });
    }
    if !steps.iter().any(|s| s.kind == StepKind::Db) {
        return Err(c.err(
            "request.steps",
            "no step has kind = \"db\", so the pool would never be used".into(),
            "mark the steps that query the database with kind = \"db\"",
        ));
    }

    Ok((scope, steps))
}

fn no_retries() -> RetrySpec {
    RetrySpec {
        max: 0,
        base: SimTime::ZERO,
        cap: SimTime::ZERO,
        jitter: Jitter::None,
    }
}

fn check_client(c: &Checker, client: Option<&ClientSection>) -> Result<ClientSpec, InputError> {
    let Some(c_section) = client else {
        return Ok(ClientSpec {
            timeout: None,
            retry: no_retries(),
            retry_on_mask: 0,
            cancel_on_timeout: false,
        });
    };
    let timeout = match &c_section.timeout {
        None => None,
        Some(t) => {
            let t = c.duration("client.timeout", t)?;
            if t.is_zero() {
                return Err(c.err(
                    "client.timeout",
                    "a client timeout of 0s would fail every request".into(),
                    "omit `timeout` for a client that waits forever",
                ));
            }
            Some(t)
        }
    };
    let retry = match &c_section.retries {
        None => no_retries(),
        Some(r) => check_retries(c, r)?,
    };
    Ok(ClientSpec {
        timeout,
        retry,
        retry_on_mask: check_retry_on(c, c_section.retry_on.as_deref())?,
        cancel_on_timeout: c_section.cancel_on_timeout,
    })
}

fn check_retries(c: &Checker, r: &RetriesSection) -> Result<RetrySpec, InputError> {
    let base = c.duration("client.retries.base", &r.base)?;
    let cap = c.duration("client.retries.cap", &r.cap)?;
    if cap < base {
        return Err(c.err(
            "client.retries.cap",
            format!("cap ({}) is below base ({})", r.cap, r.base),
            "the cap bounds the growing backoff, so set cap >= base",
        ));
    }
    if r.max > 100 {
        return Err(c.err(
            "client.retries.max",
            format!("{} retries per request is not a client anyone ships", r.max),
            "use at most a handful (2 or 3); 0 disables retries",
        ));
    }
    let jitter = c.choice(
        "client.retries.jitter",
        &r.jitter,
        &[
            ("none", Jitter::None),
            ("full", Jitter::Full),
            ("equal", Jitter::Equal),
            ("decorrelated", Jitter::Decorrelated),
        ],
    )?;
    Ok(RetrySpec {
        max: r.max,
        base,
        cap,
        jitter,
    })
}

/// The failure kinds a client retries, as a bit mask over `FailureKind`.
fn check_retry_on(c: &Checker, retry_on: Option<&[String]>) -> Result<u8, InputError> {
    let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
    let default_retry_on = ["acquire_timeout".to_string(), "db_refused".to_string()];
    let mut mask = 0u8;
    for (i, kind) in retry_on.unwrap_or(&default_retry_on).iter().enumerate() {
        let field = format!("client.retry_on[{i}]");
        let k = c.choice(&field, kind, &FailureKind::ALL.map(|k| (k.name(), k)))?;
        if k == FailureKind::RetriesExhausted {
            return Err(c.err(
                &field,
                "retries_exhausted cannot itself be retried".into(),
                &format!(
                    "retry_on takes: {}",
                    names
                        .iter()
                        .filter(|n| **n != "retries_exhausted")
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        mask |= 1 << k as u8;
    }
    Ok(mask)
}

fn check_fleet(c: &Checker, fleet: &FleetSection) -> Result<FleetSpec, InputError> {
    if fleet.instances == 0 {
        return Err(c.err(
            "fleet.instances",
            "a fleet needs at least one instance".into(),
            "set instances = 1 or more",
        ));
    }
    if fleet.instances > 10_000 {
        return Err(c.err(
            "fleet.instances",
            format!(
                "{} instances is beyond what poolsim models",
                fleet.instances
            ),
            "model at most 10000 instances",
        ));
    }
    let balancer = c.choice(
        "fleet.balancer",
        &fleet.balancer,
        &[
            ("round_robin", Balancer::RoundRobin),
            ("random", Balancer::Random),
            ("least_outstanding", Balancer::LeastOutstanding),
        ],
    )?;
    if fleet.workers == Some(0) {
        return Err(c.err(
            "fleet.workers",
            "0 workers would reject every request".into(),
            "omit `workers` for unlimited concurrency, or set e.g. workers = 200",
        ));
    }
    if fleet.cpus == Some(0) {
        return Err(c.err(
            "fleet.cpus",
            "an instance needs at least one CPU".into(),
            "set cpus to the CPUs each instance's runtime sees (e.g. GOMAXPROCS), or omit it",
        ));
    }
    if fleet.accept_queue.is_some() && fleet.workers.is_none() {
        return Err(c.err(
            "fleet.accept_queue",
            "accept_queue only applies when `workers` limits concurrency".into(),
            "set `workers` too, or remove accept_queue",
        ));
    }

    Ok(FleetSpec {
        instances: fleet.instances,
        balancer,
        workers: fleet.workers,
        accept_queue: fleet.accept_queue.unwrap_or(100),
    })
}

fn check_database(c: &Checker, db: &DatabaseSection) -> Result<DatabaseSpec, InputError> {
    if db.cores == 0 {
        return Err(c.err(
            "database.cores",
            "a database needs at least one core".into(),
            "set cores to the database's vCPU count",
        ));
    }
    if u64::from(db.reserved_connections) + u64::from(db.other_connections)
        >= u64::from(db.max_connections)
    {
        return Err(c.err("database.max_connections", format!("max_connections ({}) leaves no slot after reserved ({}) and other ({}) connections", db.max_connections, db.reserved_connections, db.other_connections), "raise max_connections above reserved_connections + other_connections, or lower those"));
    }
    let round_trip = c.duration("database.round_trip", &db.round_trip)?;
    for (field, v) in [
        ("database.contention.serial", db.contention.serial),
        ("database.contention.crosstalk", db.contention.crosstalk),
    ] {
        if !(v.is_finite() && (0.0..1.0).contains(&v)) {
            return Err(c.err(
                field,
                format!("USL coefficient must be in [0, 1), not {v}"),
                "typical values: serial 0.01-0.05, crosstalk 0.0001-0.001; 0 for an ideal database",
            ));
        }
    }

    Ok(DatabaseSpec {
        max_connections: db.max_connections,
        reserved_connections: db.reserved_connections,
        other_connections: db.other_connections,
        cores: db.cores,
        round_trip,
        serial: db.contention.serial,
        crosstalk: db.contention.crosstalk,
    })
}

fn check_simulation(c: &Checker, sim: &SimulationSection) -> Result<SimulationSpec, InputError> {
    let horizon = c.duration("simulation.horizon", &sim.horizon)?;
    let warmup = c.duration("simulation.warmup", &sim.warmup)?;
    if horizon.is_zero() {
        return Err(c.err(
            "simulation.horizon",
            "horizon must be above 0s".into(),
            "set e.g. horizon = \"1h\"",
        ));
    }
    if warmup >= horizon {
        return Err(c.err(
            "simulation.warmup",
            format!(
                "warmup ({}) must end before the horizon ({})",
                sim.warmup, sim.horizon
            ),
            "shorten the warmup or lengthen the horizon",
        ));
    }
    let sample_interval = c.duration("simulation.sample_interval", &sim.sample_interval)?;
    if sample_interval.is_zero() {
        return Err(c.err(
            "simulation.sample_interval",
            "sample_interval must be above 0s".into(),
            "set e.g. sample_interval = \"10s\"",
        ));
    }
    if let Some(clock) = &sim.clock_start {
        let ok = clock.len() == 5
            && clock.as_bytes()[2] == b':'
            && clock[..2].parse::<u32>().is_ok_and(|h| h < 24)
            && clock[3..].parse::<u32>().is_ok_and(|m| m < 60);
        if !ok {
            return Err(c.err(
                "simulation.clock_start",
                format!("\"{clock}\" is not a wall-clock time"),
                "write HH:MM in 24-hour time, e.g. \"09:00\"",
            ));
        }
    }

    Ok(SimulationSpec {
        horizon,
        warmup,
        seed: sim.seed,
        sample_interval,
        clock_start: sim.clock_start.clone(),
    })
}
