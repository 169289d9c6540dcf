//! Safe pool limits from the aggregated sweep: what meets the SLO, what the database
//! can hold, what to set for planned growth, and what to alert on.
//!
//! Points are grouped into *scenarios* (every swept axis except pool size and
//! growth) and, within a scenario, into growth levels. Each level gets the
//! smallest pool size that meets the SLO (and stays met for every larger swept
//! size), the largest size the database can hold with the whole fleet connected
//! and before contention makes p99 worse, and a reason whenever no safe value exists.

mod alerts;
pub mod capacity;
pub mod runway;
pub mod sensitivity;
pub mod services;

use serde::Serialize;

use crate::config::experiment::{Experiment, Objective};
use crate::sweep::{growth_axis, in_worker_pool, pool_axis, PointResult};
pub use alerts::AlertThresholds;
use alerts::{alert_thresholds, Replay};
pub use capacity::SizeCapacity;
use capacity::{carried_growth, SizeSeries};
pub use runway::Runway;
pub use sensitivity::Sensitivity;

/// Growth levels closer than this are the same level.
const GROWTH_EPSILON: f64 = 1e-9;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AxisValue {
    pub path: String,
    pub value: f64,
}

/// The recommendation for one growth level of one scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GrowthLevel {
    pub growth: f64,
    /// Smallest swept pool size meeting the SLO, with every larger swept size passing too.
    pub min_pool_size_meeting_slo: Option<u32>,
    /// Largest size with (instances + surge) x size + other + reserved <= max_connections.
    pub max_pool_size_database_holds: u32,
    /// The first swept size past which p99 is significantly worse than its best (contention), if any.
    pub contention_limit: Option<u32>,
    /// min_pool_size_meeting_slo ..= min(database limit, contention limit), if not empty.
    pub safe_range: Option<[u32; 2]>,
    /// The growth this level plans for: growth x (1 + headroom).
    pub planned_for_growth: f64,
    /// The smallest feasible size that carries `planned_for_growth` in every condition
    /// (all instances, an instance lost, a deploy): this level's floor.
    pub recommended_pool_size: Option<u32>,
    /// Why there is no safe range or recommendation, and what to change.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scenario {
    /// The experiment variant (empty when the experiment has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Swept axes other than pool size and growth (empty for the usual sweep).
    pub fixed: Vec<AxisValue>,
    pub levels: Vec<GrowthLevel>,
    /// What each swept pool size carries, per condition.
    pub sizes: Vec<SizeCapacity>,
    /// The recommendation: by default the feasible size that carries the most growth
    /// in every condition (ties: the smaller); with objective "min_connections", the floor.
    pub recommended_pool_size: Option<u32>,
    /// The smallest feasible size that carries the planned growth in every condition.
    pub floor_pool_size: Option<u32>,
    /// The largest size the database can hold (with the deploy surge connected); behind
    /// PgBouncer, the most client connections its instances accept.
    pub ceiling_pool_size: u32,
    /// What sets `ceiling_pool_size`.
    pub ceiling_limit: CeilingLimit,
    /// One sentence: why the recommendation differs from today's setting (or does not).
    pub recommendation_why: String,
    /// The current setting's capacity per condition (None: not swept).
    pub current: Option<SizeCapacity>,
    /// The largest swept growth the model's current pool size carries in every condition.
    pub current_carries_growth: Option<f64>,
    /// Whether the current pool size carries the planned growth in every condition (None: not swept).
    pub current_passes_planned_growth: Option<bool>,
    /// Months of traffic growth the settings carry (when `growth_per_month` is given).
    pub runway: Option<Runway>,
    /// How far each `[uncertainty]` input moves the answer (main scenario only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
    pub current_reason: Option<String>,
    pub alerts_current: Option<AlertThresholds>,
    pub alerts_recommended: Option<AlertThresholds>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendations {
    pub model: String,
    pub experiment: String,
    pub slo_latency_p99_ms: f64,
    pub slo_error_rate: f64,
    pub headroom: f64,
    pub planned_growth: f64,
    pub current_pool_size: u32,
    /// The setting the pool sizes are values of, in the pool library's own words:
    /// `pool.max_size` (HikariCP), `pool.pool_size` (SQLAlchemy), `pool.max_open` (Go), ...
    #[serde(skip)]
    pub size_path: String,
    pub instances: u32,
    /// Deploy surge instances (the experiment's `surge`, or 25% of instances rounded up).
    pub surge_instances: u32,
    /// Instances the plan must survive losing.
    pub instance_loss: u32,
    pub objective: Objective,
    pub max_connections: u32,
    pub reserved_connections: u32,
    pub other_connections: u32,
    /// In a `[[services]]` model, the other services' (instances + surge) x connections
    /// per instance at the model's settings: slots the planned service cannot have (0 with one service).
    pub other_services_connections: u32,
    pub replications: u32,
    pub confidence: f64,
    pub scenarios: Vec<Scenario>,
    /// The connection budget split and exhaustion order of a `[[services]]` model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<services::ServicePlan>,
}

impl Recommendations {
    /// The first scenario (the whole sweep when only pool size and growth are swept).
    pub fn main(&self) -> &Scenario {
        &self.scenarios[0]
    }

    /// One line for the terminal: the same numbers as report.md and recommendations.json.
    pub fn headline(&self) -> String {
        let s = self.main();
        let current = match &s.current {
            Some(c) => format!(
                "current {} = {} {}",
                self.size_path,
                c.pool_size,
                describe_capacity(c)
            ),
            None => format!(
                "current {} = {} was not swept",
                self.size_path, self.current_pool_size
            ),
        };
        let recommended = match s.recommended_pool_size {
            Some(r) => format!(
                "recommended {} = {r} ({}; floor {} for the planned {:.2}x, ceiling {} = {})",
                self.size_path,
                s.sizes
                    .iter()
                    .find(|c| c.pool_size == r)
                    .map(describe_capacity)
                    .unwrap_or_default(),
                s.floor_pool_size
                    .map_or("none".to_string(), |f| f.to_string()),
                self.planned_growth,
                s.ceiling_pool_size,
                s.ceiling_limit.phrase()
            ),
            None => format!(
                "no feasible {} meets the SLO (ceiling {} = {})",
                self.size_path,
                s.ceiling_pool_size,
                s.ceiling_limit.phrase()
            ),
        };
        format!("{current}; {recommended}")
    }

    /// Why `--check` fails, if it does: the current setting does not carry the planned
    /// growth in every condition (all instances, one lost, a deploy) or the database cannot hold it.
    pub fn check_failure(&self) -> Option<String> {
        let s = self.main();
        match s.current_passes_planned_growth {
            Some(true) => None,
            Some(false) => Some(format!(
                "{} = {} does not carry the planned growth {:.2}x (SLO p99 <= {} ms, errors <= {}): {}",
                self.size_path,
                self.current_pool_size,
                self.planned_growth,
                self.slo_latency_p99_ms,
                self.slo_error_rate,
                s.current_reason.clone().unwrap_or_default()
            )),
            None => Some(s.current_reason.clone().unwrap_or_else(|| "the current setting was not evaluated".into())),
        }
    }
}

/// What bounds the pool size from above: the database's slots, or behind PgBouncer the
/// client connections its instances accept (the pools' connections take no database slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CeilingLimit {
    MaxConnections,
    ProxyClients,
}

impl CeilingLimit {
    /// "the database limit", "PgBouncer's max_client_conn".
    pub fn phrase(self) -> &'static str {
        match self {
            CeilingLimit::MaxConnections => "the database limit",
            CeilingLimit::ProxyClients => "PgBouncer's max_client_conn",
        }
    }
}

/// "carries 2.25x normally, 1.90x with one instance lost, 2.00x during a deploy".
pub fn describe_capacity(c: &SizeCapacity) -> String {
    if !c.feasible {
        return format!("is infeasible ({})", c.limited_by);
    }
    let g = |v: Option<f64>| {
        v.map_or("less than the lowest swept growth".to_string(), |g| {
            format!("{g:.2}x")
        })
    };
    match (c.carries_instance_lost, c.carries_deploy) {
        (None, None) if c.limited_by.contains("not evaluated") => {
            format!("carries {} with all instances serving", g(c.carries_normal))
        }
        _ if !c.deploy_simulated && c.instances_lost == 0 => format!(
            "carries {} normally, deploys not simulated",
            g(c.carries_normal)
        ),
        _ if !c.deploy_simulated => format!(
            "carries {} normally, {} with {}, deploys not simulated",
            g(c.carries_normal),
            g(c.carries_instance_lost),
            capacity::instances_lost_phrase(c.instances_lost)
        ),
        _ if c.instances_lost == 0 => format!(
            "carries {} normally, {} during a deploy",
            g(c.carries_normal),
            g(c.carries_deploy)
        ),
        _ => format!(
            "carries {} normally, {} with {}, {} during a deploy",
            g(c.carries_normal),
            g(c.carries_instance_lost),
            capacity::instances_lost_phrase(c.instances_lost),
            g(c.carries_deploy)
        ),
    }
}

/// Builds the recommendations from aggregated points.
/// The degraded conditions (an instance lost, a deploy) are simulated for the first
/// scenario only, on `threads` threads; the others report them as not evaluated.
pub fn recommend(
    experiment: &Experiment,
    points: &[PointResult],
    threads: Option<usize>,
) -> anyhow::Result<Recommendations> {
    let baseline = &experiment.baseline;
    let pool_axis = pool_axis(experiment);
    let growth_axis = growth_axis(experiment);
    let fixed_axes: Vec<usize> = (0..experiment.axes.len())
        .filter(|i| Some(*i) != pool_axis && Some(*i) != growth_axis)
        .collect();

    // Scenarios in first-seen order.
    let mut scenario_keys: Vec<(usize, Vec<f64>)> = Vec::new();
    for p in points {
        let key = (
            p.variant,
            fixed_axes
                .iter()
                .map(|&i| p.values[i])
                .collect::<Vec<f64>>(),
        );
        if !scenario_keys.contains(&key) {
            scenario_keys.push(key);
        }
    }
    let scenarios = scenario_keys
        .iter()
        .enumerate()
        .map(|(index, (variant, key))| {
            let members: Vec<&PointResult> = points
                .iter()
                .filter(|p| {
                    p.variant == *variant
                        && fixed_axes.iter().zip(key).all(|(&i, v)| p.values[i] == *v)
                })
                .collect();
            let fixed = fixed_axes
                .iter()
                .zip(key)
                .map(|(&i, v)| AxisValue {
                    path: experiment.axes[i].path.clone(),
                    value: *v,
                })
                .collect();
            let mut scenario = scenario(experiment, fixed, &members, index == 0, threads)?;
            scenario.variant = experiment.variants[*variant].name.clone();
            Ok(scenario)
        })
        .collect::<anyhow::Result<Vec<Scenario>>>()?;

    Ok(Recommendations {
        model: baseline.name.clone(),
        experiment: experiment.name.clone(),
        slo_latency_p99_ms: experiment.service_slos[experiment.focus.index].latency_p99_ms,
        slo_error_rate: experiment.service_slos[experiment.focus.index].error_rate,
        headroom: experiment.headroom,
        planned_growth: experiment.planned_growth,
        current_pool_size: experiment.planned_service().pool.size_setting,
        size_path: experiment.size_path(),
        instances: experiment.planned_service().fleet.instances,
        surge_instances: experiment.surge_for(experiment.planned_service().fleet.instances),
        instance_loss: experiment.instance_loss,
        objective: experiment.objective,
        max_connections: baseline.database.max_connections,
        reserved_connections: baseline.database.reserved_connections,
        other_connections: baseline.database.other_connections,
        other_services_connections: crate::sweep::neighbour_connections(experiment, baseline),
        replications: experiment.replications,
        confidence: crate::sweep::CONFIDENCE,
        scenarios,
        services: services::plan_services(experiment)?,
    })
}

fn growths_of(points: &[&PointResult]) -> Vec<f64> {
    let mut growths: Vec<f64> = Vec::new();
    for p in points {
        if !growths
            .iter()
            .any(|g| (g - p.growth).abs() < GROWTH_EPSILON)
        {
            growths.push(p.growth);
        }
    }
    growths.sort_by(f64::total_cmp);
    growths
}

fn at_growth<'a>(points: &[&'a PointResult], growth: f64) -> Vec<&'a PointResult> {
    let mut level: Vec<&PointResult> = points
        .iter()
        .copied()
        .filter(|p| (p.growth - growth).abs() < GROWTH_EPSILON)
        .collect();
    level.sort_by_key(|p| p.pool_size);
    level
}

/// Largest per-instance pool the database holds with the whole fleet (plus surge) connected.
/// Behind PgBouncer the pools hold client connections, which take no database slot: the
/// limit is then PgBouncer's `max_client_conn` over its instances.
fn database_limit(experiment: &Experiment, point: &PointResult) -> u32 {
    let fleet = (point.instances + experiment.surge_for(point.instances)).max(1);
    let spec = &experiment.points[point.index].spec;
    if let Some(proxy) = spec.service(experiment.focus.index).proxy {
        let clients = u64::from(proxy.instances) * u64::from(proxy.max_client_conn);
        return ((clients / u64::from(fleet)) as u32)
            .saturating_sub(experiment.planned_service().pool.overflow());
    }
    let db = &experiment.baseline.database;
    let slots = point.max_connections.saturating_sub(
        db.reserved_connections + db.other_connections + point.neighbour_connections,
    );
    // Connections past the size setting (SQLAlchemy's max_overflow) count against the
    // database too, so the largest size setting it holds is that much lower.
    (slots / fleet).saturating_sub(experiment.planned_service().pool.overflow())
}

/// The first size past the best p99 whose p99 is significantly worse (interval entirely above the best's).
fn contention_limit(level: &[&PointResult]) -> Option<u32> {
    let best = level
        .iter()
        .filter(|p| p.latency_p99_ms.mean.is_finite() && p.error_rate.mean <= 0.5)
        .min_by(|a, b| a.latency_p99_ms.mean.total_cmp(&b.latency_p99_ms.mean))?;
    let mut previous = best.pool_size;
    for p in level.iter().filter(|p| p.pool_size > best.pool_size) {
        if p.latency_p99_ms.lo > best.latency_p99_ms.hi * 1.05 {
            return Some(previous);
        }
        previous = p.pool_size;
    }
    None
}

/// The smallest size that meets the SLO with every larger swept size up to `upper`
/// (the database and contention limit) meeting it too. Sizes past `upper` are not
/// candidates, so their failures do not disqualify smaller sizes. When nothing
/// up to `upper` passes, the smallest size from which every larger one passes.
fn smallest_passing_size(level: &[&PointResult], upper: u32) -> Option<u32> {
    let candidates: Vec<&&PointResult> = level.iter().filter(|p| p.pool_size <= upper).collect();
    let pool = if candidates.iter().any(|p| p.slo_pass) {
        candidates
    } else {
        level.iter().collect()
    };
    let mut smallest = None;
    for p in pool.iter().rev() {
        if !p.slo_pass {
            break;
        }
        smallest = Some(p.pool_size);
    }
    smallest
}

/// A growth level's own limits and safe range; the recommendation is filled in by `plan`.
fn growth_level(experiment: &Experiment, points: &[&PointResult], growth: f64) -> GrowthLevel {
    let level = at_growth(points, growth);
    let db_limit = level
        .first()
        .map(|p| database_limit(experiment, p))
        .unwrap_or(0);
    let contention = contention_limit(&level);
    let upper = contention.map_or(db_limit, |c| c.min(db_limit));
    let min_meeting = smallest_passing_size(&level, upper);
    let safe_range = min_meeting.filter(|m| *m <= upper).map(|m| [m, upper]);
    let reason = safe_range
        .is_none()
        .then(|| explain_no_safe_value(experiment, &level, min_meeting, db_limit, contention));
    GrowthLevel {
        growth,
        min_pool_size_meeting_slo: min_meeting,
        max_pool_size_database_holds: db_limit,
        contention_limit: contention,
        safe_range,
        planned_for_growth: growth * (1.0 + experiment.headroom),
        recommended_pool_size: None,
        reason,
    }
}

/// Each level's floor: the smallest feasible size that carries the level's growth
/// plus headroom in every condition, or why there is none.
fn plan(experiment: &Experiment, levels: &mut [GrowthLevel], sizes: &[SizeCapacity]) {
    let own: Vec<(f64, Option<String>)> = levels
        .iter()
        .map(|l| (l.growth, l.reason.clone()))
        .collect();
    for level in levels.iter_mut() {
        let planned = level.planned_for_growth;
        let target = own.iter().find(|(g, _)| *g >= planned - GROWTH_EPSILON);
        let why_not = match target {
            None => Some(format!(
                "growth {planned:.2}x (this level plus {:.0}% headroom) is beyond the swept range; extend {} to at least {planned:.2}",
                experiment.headroom * 100.0,
                experiment.focus.path(crate::config::experiment::GROWTH_PATH)
            )),
            Some((g, reason)) => {
                level.recommended_pool_size = floor_for(sizes, *g);
                level.recommended_pool_size.is_none().then(|| match reason {
                    Some(r) => format!("at the planned growth {g:.2}x: {r}"),
                    None => format!("at the planned growth {g:.2}x no feasible size meets the SLO in every condition (all instances, an instance lost, a deploy)"),
                })
            }
        };
        if level.reason.is_none() {
            level.reason = why_not;
        }
    }
}

/// The smallest feasible size that carries `growth` in every condition.
fn floor_for(sizes: &[SizeCapacity], growth: f64) -> Option<u32> {
    sizes
        .iter()
        .filter(|c| c.carries.is_some_and(|g| g >= growth - GROWTH_EPSILON))
        .map(|c| c.pool_size)
        .min()
}

/// The feasible size that carries the most growth in every condition (ties: the smaller).
fn most_growth(sizes: &[SizeCapacity]) -> Option<&SizeCapacity> {
    sizes
        .iter()
        .filter(|c| c.carries.is_some())
        .fold(None, |best: Option<&SizeCapacity>, c| match best {
            Some(b) if b.carries >= c.carries => Some(b),
            _ => Some(c),
        })
}

fn explain_no_safe_value(
    experiment: &Experiment,
    level: &[&PointResult],
    min_meeting: Option<u32>,
    db_limit: u32,
    contention: Option<u32>,
) -> String {
    let db = &experiment.baseline.database;
    let instances = level
        .first()
        .map_or(experiment.planned_service().fleet.instances, |p| {
            p.instances
        });
    let surge = experiment.surge_for(instances);
    let fleet = instances + surge;
    let neighbours = level.first().map_or(0, |p| p.neighbour_connections);
    let other_services = match neighbours {
        0 => String::new(),
        n => format!(" + {n} for the other services"),
    };
    match min_meeting {
        Some(m) if m > db_limit => format!(
            "database limit: the SLO needs {m} connections per instance, but ({instances} instances + {} surge) x {m}{other_services} + {} other + {} reserved = {} > max_connections {}; raise max_connections, put PgBouncer in front, or shorten how long a request holds its connection (e.g. hash passwords outside the transaction: connection_scope = \"step\")",
            surge,
            db.other_connections,
            db.reserved_connections,
            fleet * m + neighbours + db.other_connections + db.reserved_connections,
            db.max_connections
        ),
        Some(m) => format!(
            "contention: the SLO needs {m} connections per instance but p99 gets worse beyond {} (database contention); add database cores or cut the work per request",
            contention.unwrap_or(m)
        ),
        None => {
            let largest = level.last();
            match largest {
                Some(p) if p.db_utilization.mean > 0.85 => format!(
                    "database saturated: even at pool size {} the database cores are {:.0}% busy; add database cores or cut query cost",
                    p.pool_size,
                    p.db_utilization.mean * 100.0
                ),
                Some(p) if p.pool_size > db_limit => format!(
                    "no swept size meets the SLO; sizes above {db_limit} cannot all connect (max_connections {}), so the pools cannot grow enough; raise max_connections or add PgBouncer",
                    db.max_connections
                ),
                Some(p) if p.pool_utilization.mean < 0.7 => format!(
                    "fleet too small: the pools are only {:.0}% busy at size {} yet the SLO fails, so the bottleneck is elsewhere (workers, app time); add instances or workers",
                    p.pool_utilization.mean * 100.0,
                    p.pool_size
                ),
                Some(p) => format!(
                    "no swept size meets the SLO (largest swept: {}); extend {} upward (the database holds up to {db_limit}) or add instances",
                    p.pool_size,
                    experiment.size_path()
                ),
                None => "no points at this growth".into(),
            }
        }
    }
}

/// The sweep's points per swept pool size, each in growth order.
fn size_series<'a>(points: &[&'a PointResult], growths: &[f64]) -> Vec<SizeSeries<'a>> {
    let mut sizes: Vec<u32> = points.iter().map(|p| p.pool_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|pool_size| SizeSeries {
            pool_size,
            points: growths
                .iter()
                .filter_map(|g| {
                    at_growth(points, *g)
                        .into_iter()
                        .find(|p| p.pool_size == pool_size)
                })
                .collect(),
        })
        .collect()
}

fn scenario(
    experiment: &Experiment,
    fixed: Vec<AxisValue>,
    points: &[&PointResult],
    degraded: bool,
    threads: Option<usize>,
) -> anyhow::Result<Scenario> {
    let growths = growths_of(points);
    let mut levels: Vec<GrowthLevel> = growths
        .iter()
        .map(|g| growth_level(experiment, points, *g))
        .collect();
    let series = size_series(points, &growths);
    let complete: Vec<SizeSeries> = series
        .into_iter()
        .filter(|s| s.points.len() == growths.len())
        .collect();
    let sizes = carried_growth(experiment, &complete, degraded, threads)?;
    plan(experiment, &mut levels, &sizes);
    let planned = level_at_or_above(&levels, experiment.planned_growth).map(|l| l.growth);
    let floor = planned.and_then(|g| floor_for(&sizes, g));
    let recommended = match experiment.objective {
        Objective::MaxGrowth => most_growth(&sizes).map(|c| c.pool_size),
        Objective::MinConnections => floor,
    };
    let ceiling = points
        .first()
        .map(|p| database_limit(experiment, p))
        .unwrap_or(0);
    let current_size = experiment.planned_service().pool.size_setting;
    let current = sizes.iter().find(|c| c.pool_size == current_size).cloned();
    let (passes_planned, reason) = current_verdict(experiment, current.as_ref(), planned);
    let why = why_recommended(experiment, &sizes, current.as_ref(), recommended, floor);
    let runway = runway_of(experiment, &sizes, current.as_ref(), recommended, &growths);
    let measured = recommended.or(current.as_ref().map(|c| c.pool_size));
    // The sampled series mix every service's pools, so a `[[services]]` model has no
    // surge replay of one service's alerts (its thresholds are the service's own).
    let replay = match degraded && !experiment.baseline.is_multi_service() {
        true => Replay::Run,
        false => Replay::Skip,
    };
    let alerts_at =
        |size: u32| alert_thresholds(experiment, points, &growths, &sizes, size, replay);
    let other_size = recommended.filter(|&size| size != current_size);
    // The surge replays are single long runs: they run beside the sensitivity walks,
    // not after them, so the threads have work while each waits for its last run.
    let (sensitivity, (alerts_current, alerts_other)) = in_worker_pool(threads, || {
        rayon::join(
            || match degraded {
                true => {
                    sensitivity::analyse(experiment, &complete, &sizes, measured, planned, threads)
                }
                false => Ok(None),
            },
            || {
                rayon::join(
                    || alerts_at(current_size),
                    || other_size.and_then(alerts_at),
                )
            },
        )
    })?;
    let sensitivity = sensitivity?;
    Ok(Scenario {
        variant: String::new(),
        fixed,
        current_carries_growth: current.as_ref().and_then(|c| c.carries),
        current_passes_planned_growth: passes_planned,
        current_reason: reason,
        alerts_recommended: match other_size {
            Some(_) => alerts_other,
            None => recommended.and(alerts_current.clone()),
        },
        alerts_current,
        levels,
        recommended_pool_size: recommended,
        floor_pool_size: floor,
        ceiling_pool_size: ceiling,
        ceiling_limit: match points.first().and_then(|p| {
            experiment.points[p.index]
                .spec
                .service(experiment.focus.index)
                .proxy
        }) {
            Some(_) => CeilingLimit::ProxyClients,
            None => CeilingLimit::MaxConnections,
        },
        recommendation_why: why,
        current,
        runway,
        sensitivity,
        sizes,
    })
}

/// Whether today's setting carries the planned growth, and if not, why.
fn current_verdict(
    experiment: &Experiment,
    current: Option<&SizeCapacity>,
    planned_level: Option<f64>,
) -> (Option<bool>, Option<String>) {
    let size = experiment.planned_service().pool.size_setting;
    let size_path = experiment.size_path();
    let growth_path = experiment
        .focus
        .path(crate::config::experiment::GROWTH_PATH);
    let planned = experiment.planned_growth;
    let Some(c) = current else {
        return (None, Some(format!("the current {size_path} = {size} is not among the swept sizes; add it to the sweep")));
    };
    let Some(level) = planned_level else {
        return (None, Some(format!("the planned growth {planned:.2}x is beyond the swept growth; extend {growth_path} to at least {planned:.2}")));
    };
    let passes = c.carries.is_some_and(|g| g >= level - GROWTH_EPSILON);
    let reason = (!passes).then(|| match c.carries {
        _ if !c.feasible => c.limited_by.clone(),
        Some(g) => format!("it carries only {g:.2}x, limited by {}", c.limited_by),
        None => format!(
            "it misses the SLO at the lowest swept growth ({})",
            c.limited_by
        ),
    });
    (Some(passes), reason)
}

/// One sentence on why the recommendation is what it is, compared with today's setting.
fn why_recommended(
    experiment: &Experiment,
    sizes: &[SizeCapacity],
    current: Option<&SizeCapacity>,
    recommended: Option<u32>,
    floor: Option<u32>,
) -> String {
    let Some(r) = recommended else {
        return "no feasible pool size meets the SLO in every condition; see the reasons per growth level".into();
    };
    let carried = |size: u32| {
        sizes
            .iter()
            .find(|c| c.pool_size == size)
            .and_then(|c| c.carries)
    };
    let g = |v: Option<f64>| v.map_or("none".to_string(), |g| format!("{g:.2}x"));
    let today = experiment.planned_service().pool.size_setting;
    match (experiment.objective, current) {
        (Objective::MinConnections, _) => format!("{r} is the smallest feasible size that carries the planned {:.2}x in every condition (objective = \"min_connections\")", experiment.planned_growth),
        (_, Some(c)) if c.pool_size == r => format!("today's {today} already carries the most growth of any feasible size ({})", g(c.carries)),
        (_, Some(c)) if c.feasible && c.carries == carried(r) => format!("{r} carries as much as today's {today} ({}) with fewer connections", g(c.carries)),
        (_, Some(c)) if !c.feasible => format!("today's {today} is beyond what the database can hold; {r} carries {} and fits", g(carried(r))),
        (_, Some(c)) => format!(
            "{r} carries {} in every condition against {} for today's {today} (limited by {}); smaller sizes run out of connections first and larger ones gain nothing or exceed the database{}",
            g(carried(r)),
            g(c.carries),
            c.limited_by,
            floor.map(|f| format!(" (the smallest that carries the planned growth is {f})")).unwrap_or_default()
        ),
        (_, None) => format!("{r} carries {} in every condition, the most of any feasible swept size (today's {today} was not swept)", g(carried(r))),
    }
}

fn runway_of(
    experiment: &Experiment,
    sizes: &[SizeCapacity],
    current: Option<&SizeCapacity>,
    recommended: Option<u32>,
    growths: &[f64],
) -> Option<Runway> {
    let monthly = experiment.monthly_growth?;
    let today = experiment.planned_service().traffic.growth;
    let top = growths.last().copied().unwrap_or(today);
    let from = experiment.runway_from;
    let item = |c: &SizeCapacity| runway::item(c.pool_size, c.carries, today, monthly, from, top);
    let best = most_growth(sizes);
    let binding = match best {
        None => "no feasible pool size meets the SLO today: add database cores, cut the work per request, or add a proxy".to_string(),
        Some(b) if b.carries.is_some_and(|g| g >= top - GROWTH_EPSILON) => format!("pool size {} still meets the SLO at the top of the swept growth ({top:.2}x): extend {} to see what binds next", b.pool_size, experiment.focus.path(crate::config::experiment::GROWTH_PATH)),
        Some(b) => binding_constraint(experiment, b, sizes),
    };
    Some(Runway {
        monthly_growth: monthly,
        current: current.map(item),
        recommended: recommended
            .and_then(|r| sizes.iter().find(|c| c.pool_size == r))
            .map(item),
        any_pool_size: best.map(item),
        binding,
    })
}

/// What stops every pool size beyond the best one's carried growth, and what then.
fn binding_constraint(
    experiment: &Experiment,
    best: &SizeCapacity,
    sizes: &[SizeCapacity],
) -> String {
    let ceiling = sizes
        .iter()
        .filter(|c| c.feasible)
        .map(|c| c.pool_size)
        .max();
    let db = &experiment.baseline.database;
    if ceiling == Some(best.pool_size) && sizes.iter().any(|c| !c.feasible) {
        format!("beyond {}, max_connections binds: larger pools would need more than the database's {} connections; then raise max_connections, run fewer instances with bigger pools, or put PgBouncer in front", best.carries.map_or("today".into(), |g| format!("{g:.2}x")), db.max_connections)
    } else if best.limited_by.contains("database") {
        best.limited_by.clone()
    } else {
        format!("beyond {}, more connections do not help ({} with pool size {}): the database's {} cores or the work per request bind; then add database cores, cut the time a request holds its connection, or add a proxy in transaction mode", best.carries.map_or("today".into(), |g| format!("{g:.2}x")), best.limited_by, best.pool_size, db.cores)
    }
}

/// The level whose growth is the smallest swept one at or above `growth`.
pub fn level_at_or_above(levels: &[GrowthLevel], growth: f64) -> Option<&GrowthLevel> {
    levels.iter().find(|l| l.growth >= growth - GROWTH_EPSILON)
}
