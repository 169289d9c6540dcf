//! The growth each pool size carries: with every instance serving, with instances
//! lost, and during a rolling deploy, and the lowest of the three.
//!
//! The normal condition comes from the sweep itself. The two degraded conditions
//! are simulated only where they decide an answer: for each feasible size, from the
//! growth it carries normally downwards until it meets the SLO (a degraded fleet
//! never carries more than a healthy one, and the lowest of the three is the answer),
//! in rounds, each round's models run in parallel and in a fixed order.

use serde::Serialize;
use toml::{Table, Value};

use crate::config::experiment::Experiment;
use crate::config::model::SystemSpec;
use crate::sim::time::{format_duration, SimTime};
use crate::sweep::{evaluate_specs, PointResult};

/// What one pool size carries, per condition. Growth factors; None: not even the lowest swept level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SizeCapacity {
    pub pool_size: u32,
    /// (instances + surge) x size + other + reserved <= max_connections.
    pub feasible: bool,
    /// Connections the database must hold for this size during a deploy.
    pub connections_needed: u32,
    /// Every instance serving.
    pub carries_normal: Option<f64>,
    /// `instances_lost` instances down, their traffic spread over the rest.
    pub carries_instance_lost: Option<f64>,
    pub instances_lost: u32,
    /// A rolling deploy: surge instances with full pools, one batch draining.
    pub carries_deploy: Option<f64>,
    /// Whether deploys were simulated: not in a `[[services]]` model, whose deploys are
    /// counted in the database limit only (see `deploy_simulated`).
    pub deploy_simulated: bool,
    /// The lowest of the three (None when infeasible): what the size carries.
    pub carries: Option<f64>,
    /// Which condition (or limit) sets `carries`.
    pub limited_by: String,
}

/// A degraded condition of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    InstanceLost,
    Deploy,
}

/// The sweep's points of one scenario at one pool size, in growth order.
pub struct SizeSeries<'a> {
    pub pool_size: u32,
    pub points: Vec<&'a PointResult>,
}

/// The largest growth up to which every level passes, as an index into `points`.
fn normal_level(points: &[&PointResult]) -> Option<usize> {
    points
        .iter()
        .take_while(|p| p.slo_pass)
        .count()
        .checked_sub(1)
}

/// The model of `point` in `condition`, or why it cannot be built.
pub fn condition_spec(
    experiment: &Experiment,
    point: &PointResult,
    condition: Condition,
) -> Result<SystemSpec, String> {
    spec_with(experiment, point, Some(condition), None)
}

/// The model of `point` with one more override (`extra`, applied last), in `condition`
/// (None: every instance serving), or why it cannot be built.
pub fn spec_with(
    experiment: &Experiment,
    point: &PointResult,
    condition: Option<Condition>,
    extra: Option<(&str, &Value)>,
) -> Result<SystemSpec, String> {
    let base = &experiment.points[point.index];
    let mut overrides = base.overrides.clone();
    if let Some((path, value)) = extra {
        overrides.push((path.to_string(), value.clone()));
    }
    let spec = &base.spec;
    match condition {
        None => {}
        Some(Condition::InstanceLost) => {
            let remaining = spec
                .service(experiment.focus.index)
                .fleet
                .instances
                .saturating_sub(experiment.instance_loss);
            if remaining == 0 {
                return Err("no instance would be left".into());
            }
            overrides.push((
                experiment.focus.path("fleet.instances"),
                Value::Integer(remaining as i64),
            ));
        }
        Some(Condition::Deploy) => {
            overrides.push(("events".into(), deploy_events(experiment, spec)))
        }
    }
    experiment
        .model
        .build(&overrides)
        .map_err(|e| e.message.clone())
}

/// The model's own events plus a rolling deploy spread over the measured window.
fn deploy_events(experiment: &Experiment, spec: &SystemSpec) -> Value {
    let instances = spec.fleet.instances;
    let surge = experiment.surge_for(instances);
    let batch = surge.clamp(1, instances);
    let batches = instances.div_ceil(batch) as u64;
    let window = spec
        .simulation
        .horizon
        .saturating_sub(spec.simulation.warmup);
    let drain = SimTime::from_millis(30_000);
    let interval = SimTime((window.0 / batches).max(drain.0 + 10_000_000_000));
    let mut events = experiment
        .model
        .table
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut set = Table::new();
    set.insert(
        "pool.max_size".into(),
        Value::Integer(spec.pool.size_setting as i64),
    );
    let mut deploy = Table::new();
    deploy.insert(
        "at".into(),
        Value::String(format_duration(spec.simulation.warmup)),
    );
    deploy.insert("kind".into(), Value::String("rolling_restart".into()));
    deploy.insert("batch".into(), Value::Integer(batch as i64));
    deploy.insert("surge".into(), Value::Integer(surge as i64));
    deploy.insert("interval".into(), Value::String(format_duration(interval)));
    deploy.insert("drain".into(), Value::String(format_duration(drain)));
    deploy.insert("set".into(), Value::Table(set));
    deploy.insert("label".into(), Value::String("rolling deploy".into()));
    events.push(Value::Table(deploy));
    Value::Array(events)
}

/// One open search: the size, the condition, and the growth level to try next.
struct Search {
    size: usize,
    condition: Condition,
    level: usize,
}

/// Carried growth per size and condition. With `degraded` false only the normal
/// condition is used (the degraded ones are reported as not evaluated).
pub fn carried_growth(
    experiment: &Experiment,
    sizes: &[SizeSeries],
    degraded: bool,
    threads: Option<usize>,
) -> anyhow::Result<Vec<SizeCapacity>> {
    let mut lost: Vec<Option<f64>> = vec![None; sizes.len()];
    let mut deploy: Vec<Option<f64>> = vec![None; sizes.len()];
    let mut open = Vec::new();
    for (i, series) in sizes.iter().enumerate() {
        let feasible = series.points.first().is_some_and(|p| p.feasible);
        match normal_level(&series.points) {
            Some(level) if feasible && degraded => {
                if experiment.instance_loss == 0 {
                    lost[i] = Some(series.points[level].growth);
                } else {
                    open.push(Search {
                        size: i,
                        condition: Condition::InstanceLost,
                        level,
                    });
                }
                if deploy_simulated(experiment) {
                    open.push(Search {
                        size: i,
                        condition: Condition::Deploy,
                        level,
                    });
                }
            }
            Some(level) => {
                lost[i] = Some(series.points[level].growth);
                deploy[i] = Some(series.points[level].growth);
            }
            None => {}
        }
    }
    while !open.is_empty() {
        let mut specs = Vec::new();
        let mut runnable = Vec::new();
        for search in open {
            let point = sizes[search.size].points[search.level];
            if let Ok(spec) = condition_spec(experiment, point, search.condition) {
                specs.push(spec);
                runnable.push(search);
            }
        }
        let verdicts = evaluate_specs(experiment, &specs, threads)?;
        open = Vec::new();
        for (search, verdict) in runnable.into_iter().zip(verdicts) {
            let growth = sizes[search.size].points[search.level].growth;
            if verdict.slo_pass {
                let slot = match search.condition {
                    Condition::InstanceLost => &mut lost[search.size],
                    Condition::Deploy => &mut deploy[search.size],
                };
                *slot = Some(growth);
            } else if search.level > 0 {
                open.push(Search {
                    level: search.level - 1,
                    ..search
                });
            }
        }
    }
    Ok(sizes
        .iter()
        .enumerate()
        .map(|(i, series)| capacity_of(experiment, series, lost[i], deploy[i], degraded))
        .collect())
}

fn capacity_of(
    experiment: &Experiment,
    series: &SizeSeries,
    lost: Option<f64>,
    deploy: Option<f64>,
    degraded: bool,
) -> SizeCapacity {
    let first = series.points.first();
    let feasible = first.is_some_and(|p| p.feasible);
    let connections_needed = first.map_or(0, |p| p.fleet_connections);
    let normal = normal_level(&series.points).map(|l| series.points[l].growth);
    let (carries, limited_by) = if !feasible {
        let max = first.map_or(0, |p| p.max_connections);
        match connections_needed > max {
            true => (None, format!("database limit: needs {connections_needed} connections during a deploy, max_connections is {max}")),
            false => (None, "PgBouncer's limit: the pools' client connections during a deploy exceed max_client_conn".to_string()),
        }
    } else if !degraded {
        (
            normal,
            "all instances serving (deploys and instance loss not evaluated for this scenario)"
                .to_string(),
        )
    } else {
        let simulated = deploy_simulated(experiment);
        let lowest = [
            (normal, "all instances serving"),
            (lost, lost_label(experiment)),
            (deploy, "a rolling deploy"),
        ]
        .into_iter()
        .filter(|(_, condition)| simulated || *condition != "a rolling deploy")
        .min_by(|a, b| a.0.unwrap_or(0.0).total_cmp(&b.0.unwrap_or(0.0)))
        .unwrap_or((normal, "all instances serving"));
        (lowest.0, lowest.1.to_string())
    };
    SizeCapacity {
        pool_size: series.pool_size,
        feasible,
        connections_needed,
        carries_normal: normal.filter(|_| feasible),
        carries_instance_lost: lost.filter(|_| feasible && degraded),
        instances_lost: experiment.instance_loss,
        carries_deploy: deploy.filter(|_| feasible && degraded),
        deploy_simulated: deploy_simulated(experiment),
        carries,
        limited_by,
    }
}

/// Whether a rolling deploy can be simulated: a `[[services]]` model has no timeline
/// events yet, so its deploys count only where they are a hard limit, in the surge
/// connections the database must hold.
pub fn deploy_simulated(experiment: &Experiment) -> bool {
    !experiment.baseline.is_multi_service()
}

/// "one instance lost", "2 instances lost".
pub fn instances_lost_phrase(instances: u32) -> String {
    match instances {
        1 => "one instance lost".to_string(),
        n => format!("{n} instances lost"),
    }
}

fn lost_label(experiment: &Experiment) -> &'static str {
    if experiment.instance_loss == 1 {
        "one instance lost"
    } else {
        "instances lost"
    }
}
