//! Several services sharing one database: how its connection budget splits between them,
//! and which service's growth exhausts it first.
//!
//! The split: for each service in turn, the smallest pool size (tried upwards from 1, the
//! other services at their model sizes) at which that service meets the SLO with every
//! service's traffic at the planned growth; then whether the sizes together respect the
//! database's hard limit, `sum over services of (instances + surge) x max_size + other +
//! reserved <= max_connections`. A service behind its own PgBouncer (`[services.proxy]`)
//! is sized by its `proxy.default_pool_size` instead, and counts its server connections,
//! `proxy instances x (default_pool_size + reserve_pool_size)`, whatever its app
//! instances, surge and client pools: only those reach the database. Exhaustion: each service's traffic alone grows along a
//! ladder (the others at their model's growth) until some service misses the SLO; the
//! service needing the least growth exhausts the database first. Kept apart from the
//! single-service recommendations, which a `[[services]]` model does not change.

use rayon::prelude::*;
use serde::Serialize;
use toml::Value;

use crate::config::experiment::Experiment;
use crate::config::model::{ServiceView, SystemSpec};
use crate::model::{simulate, RunOptions};
use crate::stats::summary::Summary;
use crate::sweep::replications_pass;

/// Builds the experiment's model with some more overrides.
type BuildWith<'a> = dyn Fn(&[(String, Value)]) -> anyhow::Result<SystemSpec> + 'a;

/// Growth multipliers tried, in order, when growing one service's traffic alone.
pub const EXHAUSTION_LADDER: [f64; 8] = [1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0];

/// One service's share of the database's connections.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceShare {
    pub name: String,
    pub instances: u32,
    /// Deploy surge instances counted in the hard limit.
    pub surge: u32,
    /// The setting sized: the pool's size path (e.g. `pool.max_size`), or
    /// `proxy.default_pool_size` for a service behind its own PgBouncer.
    pub setting: String,
    /// The model's value of `setting`.
    pub current_pool_size: u32,
    /// The smallest value of `setting` meeting the SLO at the planned growth; `None` when
    /// no value up to `ceiling` does.
    pub pool_size: Option<u32>,
    /// The largest value the database's limit allows with the others at their model sizes.
    pub ceiling: u32,
    /// Database connections at `pool_size` (the model's value when none meets the SLO):
    /// instances x pool_size, or behind PgBouncer its server connections.
    pub connections: u32,
    /// The service's own SLO (`[slo.services.<name>]` over `[slo]`).
    pub slo_latency_p99_ms: f64,
    pub slo_error_rate: f64,
}

/// Database connections `service` holds with `setting` = `size` and every pool full over
/// `instances` app instances: behind PgBouncer its server pools (proxy instances x (size
/// + reserve_pool_size), whatever `instances`), else instances x size.
fn connections_at(service: ServiceView, size: u32, instances: u32) -> u64 {
    match service.proxy {
        Some(proxy) => {
            u64::from(proxy.instances) * (u64::from(size) + u64::from(proxy.reserve_pool_size))
        }
        None => u64::from(instances) * u64::from(size),
    }
}

/// The largest `setting` whose connections over `instances` fit in `room`.
fn largest_fitting(service: ServiceView, room: u64, instances: u32) -> u32 {
    let largest = match service.proxy {
        Some(proxy) => {
            (room / u64::from(proxy.instances)).saturating_sub(u64::from(proxy.reserve_pool_size))
        }
        None => room / u64::from(instances.max(1)),
    };
    largest.min(u64::from(u32::MAX)) as u32
}

/// How much one service's traffic alone can grow before the SLO fails somewhere.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exhaustion {
    pub name: String,
    /// The first growth of the ladder at which some service misses the SLO (`None`: none up to the ladder's top).
    pub fails_at_growth: Option<f64>,
    /// The services missing the SLO there.
    pub failing: Vec<String>,
    /// Mean share of the database's cores busy there.
    pub db_utilization: f64,
    /// Mean connects refused by the database there (all slots taken), per replication.
    pub db_connect_refusals: f64,
    /// Whether the shared database is what failed: another service misses the SLO, a
    /// connect was refused, or the cores were at least `BUSY_CORES` busy (otherwise the
    /// grown service's own pool or fleet limited it first).
    pub shared: bool,
}

/// The share of the database's cores busy from which the cores count as exhausted.
pub const BUSY_CORES: f64 = 0.9;

/// The budget split and the exhaustion order of a `[[services]]` model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServicePlan {
    /// Each service's traffic multiplier the split is sized for (1 + headroom).
    pub planned_factor: f64,
    pub shares: Vec<ServiceShare>,
    /// max_connections - reserved - other: what the pools may hold.
    pub slots: u32,
    /// Sum of instances x pool size.
    pub steady_connections: u32,
    /// Sum of (instances + surge) x pool size + other + reserved.
    pub deploy_connections: u32,
    pub max_connections: u32,
    pub exhaustion: Vec<Exhaustion>,
    /// The service whose growth exhausts the shared database first (least growth, ties in
    /// model order), if any does.
    pub exhausts_first: Option<String>,
    /// The model's timeline events, left out of the split's runs (see `base_overrides`).
    pub events_left_out: usize,
}

impl ServicePlan {
    /// "auth 60, billing 30, reporting 5: 95 of 97 slots".
    pub fn split_line(&self) -> String {
        let parts: Vec<String> = self
            .shares
            .iter()
            .map(|s| match s.pool_size {
                Some(_) => format!("{} {}", s.name, s.connections),
                None => format!("{} {} (no size meets the SLO)", s.name, s.connections),
            })
            .collect();
        format!(
            "{}: {} of {} slots",
            parts.join(", "),
            self.steady_connections,
            self.slots
        )
    }
}

/// The overrides every simulation here starts from: the experiment's own (simulation,
/// seed, `--set`), without the swept values, and without the model's events: the split
/// and the exhaustion order are steady-state answers, which a slowdown or surge in the
/// timeline would only blur (the replay shows those).
fn base_overrides(experiment: &Experiment) -> Vec<(String, Value)> {
    let mut overrides: Vec<(String, Value)> = experiment.points[0]
        .overrides
        .iter()
        .filter(|(path, _)| !experiment.axes.iter().any(|a| &a.path == path))
        .cloned()
        .collect();
    if !experiment.baseline.timeline.events.is_empty() {
        overrides.push(("events".into(), Value::Array(Vec::new())));
    }
    overrides
}

/// Each service's SLO verdict for `spec`, with the database's mean utilization and refusals.
fn judge(experiment: &Experiment, spec: &SystemSpec) -> (Vec<bool>, f64, f64) {
    let runs: Vec<Summary> = (0..experiment.replications)
        .into_par_iter()
        .map(|replication| simulate(spec, RunOptions { replication }))
        .collect();
    let n = runs.len();
    let verdicts = (0..spec.service_count())
        .map(|k| {
            let own: Vec<&Summary> = runs.iter().map(|r| &r.services[k].summary).collect();
            replications_pass(&experiment.service_slos[k], &own)
        })
        .collect();
    let utilization = runs.iter().map(|r| r.db_utilization).sum::<f64>() / n.max(1) as f64;
    let refusals = runs
        .iter()
        .flat_map(|r| r.services.iter().map(|s| s.db_connect_refusals as f64))
        .sum::<f64>()
        / n.max(1) as f64;
    (verdicts, utilization, refusals)
}

/// The split and exhaustion order, or `None` for a single-service model.
pub fn plan_services(experiment: &Experiment) -> anyhow::Result<Option<ServicePlan>> {
    let baseline = &experiment.baseline;
    if !baseline.is_multi_service() {
        return Ok(None);
    }
    let base = base_overrides(experiment);
    let build = |extra: &[(String, Value)]| -> anyhow::Result<SystemSpec> {
        let mut overrides = base.clone();
        overrides.extend_from_slice(extra);
        Ok(experiment.model.build(&overrides)?)
    };
    let planned_factor = experiment.planned_growth / experiment.planned_service().traffic.growth;
    let grown: Vec<(String, Value)> = baseline
        .services()
        .map(|s| {
            (
                format!("services.{}.traffic.growth", s.name),
                Value::Float(s.traffic.growth * planned_factor),
            )
        })
        .collect();
    let db = &baseline.database;
    let slots = db.slots_for_fleet();
    let with_surge = |instances: u32| instances + experiment.surge_for(instances);
    let deploy_total = |sizes: &[u32], skip: Option<usize>| -> u64 {
        baseline
            .services()
            .zip(sizes)
            .enumerate()
            .filter(|(k, _)| Some(*k) != skip)
            .map(|(_, (s, size))| connections_at(s, *size, with_surge(s.fleet.instances)))
            .sum::<u64>()
            + u64::from(db.other_connections)
            + u64::from(db.reserved_connections)
    };
    let current: Vec<u32> = baseline
        .services()
        .map(|s| match s.proxy {
            Some(proxy) => proxy.default_pool_size,
            None => s.pool.max_connections_within(slots),
        })
        .collect();
    let mut shares = Vec::new();
    for (k, service) in baseline.services().enumerate() {
        let room = u64::from(db.max_connections).saturating_sub(deploy_total(&current, Some(k)));
        let ceiling = largest_fitting(service, room, with_surge(service.fleet.instances));
        let setting = match service.proxy {
            Some(_) => "proxy.default_pool_size".to_string(),
            None => service.pool.kind.size_path(),
        };
        let path = format!("services.{}.{setting}", service.name);
        let found = smallest_passing(experiment, &build, &grown, (k, &path), ceiling);
        shares.push(ServiceShare {
            name: service.name.to_string(),
            instances: service.fleet.instances,
            surge: experiment.surge_for(service.fleet.instances),
            setting,
            current_pool_size: match service.proxy {
                Some(proxy) => proxy.default_pool_size,
                None => service.pool.size_setting,
            },
            pool_size: found,
            ceiling,
            connections: connections_at(
                service,
                found.unwrap_or(current[k]),
                service.fleet.instances,
            )
            .min(u64::from(u32::MAX)) as u32,
            slo_latency_p99_ms: experiment.service_slos[k].latency_p99_ms,
            slo_error_rate: experiment.service_slos[k].error_rate,
        });
    }
    let sizes: Vec<u32> = shares
        .iter()
        .map(|s| s.pool_size.unwrap_or(s.current_pool_size))
        .collect();
    let exhaustion = exhaustion_order(experiment, &build)?;
    let exhausts_first = exhaustion
        .iter()
        .filter(|e| e.shared)
        .filter_map(|e| e.fails_at_growth.map(|g| (g, &e.name)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.clone());
    Ok(Some(ServicePlan {
        planned_factor,
        steady_connections: shares.iter().map(|s| s.connections).sum(),
        deploy_connections: deploy_total(&sizes, None).min(u64::from(u32::MAX)) as u32,
        shares,
        slots,
        max_connections: db.max_connections,
        exhaustion,
        exhausts_first,
        events_left_out: baseline.timeline.events.len(),
    }))
}

/// The smallest value of `path` from 1 to `ceiling` at which service `k` meets the SLO
/// with the overrides `grown`; `None` when none does.
fn smallest_passing(
    experiment: &Experiment,
    build: &BuildWith,
    grown: &[(String, Value)],
    (k, path): (usize, &str),
    ceiling: u32,
) -> Option<u32> {
    for size in 1..=ceiling {
        let mut extra = grown.to_vec();
        extra.push((path.to_string(), Value::Integer(i64::from(size))));
        // A size below the service's own min_idle is no model: skip it.
        let Ok(spec) = build(&extra) else { continue };
        if judge(experiment, &spec).0[k] {
            return Some(size);
        }
    }
    None
}

/// Grows each service's traffic alone along `EXHAUSTION_LADDER` until some service misses the SLO.
fn exhaustion_order(experiment: &Experiment, build: &BuildWith) -> anyhow::Result<Vec<Exhaustion>> {
    let baseline = &experiment.baseline;
    let names: Vec<String> = baseline.services().map(|s| s.name.to_string()).collect();
    let mut order = Vec::new();
    for service in baseline.services() {
        let mut result = Exhaustion {
            name: service.name.to_string(),
            fails_at_growth: None,
            failing: Vec::new(),
            db_utilization: f64::NAN,
            db_connect_refusals: 0.0,
            shared: false,
        };
        for factor in EXHAUSTION_LADDER {
            let extra = [(
                format!("services.{}.traffic.growth", service.name),
                Value::Float(service.traffic.growth * factor),
            )];
            let (verdicts, utilization, refusals) = judge(experiment, &build(&extra)?);
            result.db_utilization = utilization;
            result.db_connect_refusals = refusals;
            if verdicts.iter().any(|pass| !pass) {
                result.fails_at_growth = Some(factor);
                result.failing = names
                    .iter()
                    .zip(&verdicts)
                    .filter(|(_, pass)| !**pass)
                    .map(|(name, _)| name.clone())
                    .collect();
                result.shared = result.failing.iter().any(|name| name != service.name)
                    || refusals > 0.0
                    || utilization >= BUSY_CORES;
                break;
            }
        }
        order.push(result);
    }
    Ok(order)
}
