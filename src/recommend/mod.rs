//! Safe pool limits from the aggregated sweep: what meets the SLO, what the database
//! can hold, what to set for planned growth, and what to alert on.
//!
//! Points are grouped into *scenarios* (every swept axis except pool size and
//! growth) and, within a scenario, into growth levels. Each level gets the
//! smallest pool size that meets the SLO (and stays met for every larger swept
//! size), the largest size the database can hold with the whole fleet connected
//! and before contention makes p99 worse, and a reason whenever no safe value exists.

use serde::Serialize;

use crate::config::experiment::Experiment;
use crate::sweep::{growth_axis, pool_axis, PointResult};

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
    /// The smallest safe size at the planned growth.
    pub recommended_pool_size: Option<u32>,
    /// Why there is no safe range or recommendation, and what to change.
    pub reason: Option<String>,
}

/// When to page, measured at the pool size in use as traffic grows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertThresholds {
    pub pool_size: u32,
    /// The largest growth that still meets the SLO at this size (None: fails from the first level).
    pub last_passing_growth: Option<f64>,
    /// The first growth level that fails the SLO (None: passes everywhere swept).
    pub first_failing_growth: Option<f64>,
    /// Alert when pool utilization (in use / max_size, per instance) stays above this fraction.
    pub pool_utilization_above: Option<f64>,
    /// Alert when pending acquisitions per pool stay above this.
    pub pool_pending_above: Option<f64>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scenario {
    /// The experiment variant (empty when the experiment has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Swept axes other than pool size and growth (empty for the usual sweep).
    pub fixed: Vec<AxisValue>,
    pub levels: Vec<GrowthLevel>,
    /// The largest swept growth the model's current pool size carries (every level up to it passes).
    pub current_carries_growth: Option<f64>,
    /// Whether the current pool size meets the SLO at the planned growth (None: not swept).
    pub current_passes_planned_growth: Option<bool>,
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
    pub instances: u32,
    pub surge_instances: u32,
    pub max_connections: u32,
    pub reserved_connections: u32,
    pub other_connections: u32,
    pub replications: u32,
    pub confidence: f64,
    pub scenarios: Vec<Scenario>,
}

impl Recommendations {
    /// The first scenario (the whole sweep when only pool size and growth are swept).
    pub fn main(&self) -> &Scenario {
        &self.scenarios[0]
    }

    /// One line for the terminal.
    pub fn headline(&self) -> String {
        let s = self.main();
        let carries = match s.current_carries_growth {
            Some(g) => format!("carries growth up to {g:.2}x"),
            None => "fails the SLO at every swept growth".into(),
        };
        let planned = level_at_or_above(&s.levels, self.planned_growth);
        let recommended = match planned.and_then(|l| l.min_pool_size_meeting_slo.map(|m| (m, l))) {
            Some((m, l)) if l.safe_range.is_some() => format!(
                "smallest safe pool.max_size at {:.2}x: {m} (safe up to {})",
                l.growth,
                l.safe_range.unwrap()[1]
            ),
            _ => format!(
                "no safe pool.max_size at the planned growth {:.2}x",
                self.planned_growth
            ),
        };
        format!(
            "current pool.max_size = {} {carries}; {recommended}",
            self.current_pool_size
        )
    }

    /// Why `--check` fails, if it does: the current setting misses the SLO at the planned growth.
    pub fn check_failure(&self) -> Option<String> {
        let s = self.main();
        match s.current_passes_planned_growth {
            Some(true) => None,
            Some(false) => Some(format!(
                "pool.max_size = {} fails the SLO (p99 <= {} ms, errors <= {}) at the planned growth {:.2}x; {}",
                self.current_pool_size,
                self.slo_latency_p99_ms,
                self.slo_error_rate,
                self.planned_growth,
                s.current_reason.clone().unwrap_or_default()
            )),
            None => Some(s.current_reason.clone().unwrap_or_else(|| "the current setting was not evaluated".into())),
        }
    }
}

/// Builds the recommendations from aggregated points.
pub fn recommend(experiment: &Experiment, points: &[PointResult]) -> Recommendations {
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
        .map(|(variant, key)| {
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
            let mut scenario = scenario(experiment, fixed, &members);
            scenario.variant = experiment.variants[*variant].name.clone();
            scenario
        })
        .collect();

    Recommendations {
        model: baseline.name.clone(),
        experiment: experiment.name.clone(),
        slo_latency_p99_ms: experiment.slo.latency_p99_ms,
        slo_error_rate: experiment.slo.error_rate,
        headroom: experiment.headroom,
        planned_growth: experiment.planned_growth,
        current_pool_size: baseline.pool.max_size,
        instances: baseline.fleet.instances,
        surge_instances: experiment.surge,
        max_connections: baseline.database.max_connections,
        reserved_connections: baseline.database.reserved_connections,
        other_connections: baseline.database.other_connections,
        replications: experiment.replications,
        confidence: crate::sweep::CONFIDENCE,
        scenarios,
    }
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
fn database_limit(experiment: &Experiment, point: &PointResult) -> u32 {
    let db = &experiment.baseline.database;
    let slots = point
        .max_connections
        .saturating_sub(db.reserved_connections + db.other_connections);
    slots / (point.instances + experiment.surge).max(1)
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

/// Recommends for each level the smallest safe size of the swept level that covers
/// its growth plus headroom, or says why there is none.
fn plan(experiment: &Experiment, levels: &mut [GrowthLevel]) {
    let own: Vec<(f64, Option<[u32; 2]>, Option<String>)> = levels
        .iter()
        .map(|l| (l.growth, l.safe_range, l.reason.clone()))
        .collect();
    for level in levels.iter_mut() {
        let planned = level.planned_for_growth;
        let target = own.iter().find(|(g, _, _)| *g >= planned - GROWTH_EPSILON);
        let why_not = match target {
            None => Some(format!(
                "growth {planned:.2}x (this level plus {:.0}% headroom) is beyond the swept range; extend traffic.growth to at least {planned:.2}",
                experiment.headroom * 100.0
            )),
            Some((_, Some([smallest, _]), _)) => {
                level.recommended_pool_size = Some(*smallest);
                None
            }
            Some((g, None, reason)) => Some(format!("at the planned growth {g:.2}x: {}", reason.clone().unwrap_or_default())),
        };
        if level.reason.is_none() {
            level.reason = why_not;
        }
    }
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
        .map_or(experiment.baseline.fleet.instances, |p| p.instances);
    let fleet = instances + experiment.surge;
    match min_meeting {
        Some(m) if m > db_limit => format!(
            "database limit: the SLO needs {m} connections per instance, but ({instances} instances + {} surge) x {m} + {} other + {} reserved = {} > max_connections {}; raise max_connections, put PgBouncer in front, or shorten how long a request holds its connection (e.g. hash passwords outside the transaction: connection_scope = \"step\")",
            experiment.surge,
            db.other_connections,
            db.reserved_connections,
            fleet * m + db.other_connections + db.reserved_connections,
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
                    "no swept size meets the SLO (largest swept: {}); extend pool.max_size upward (the database holds up to {db_limit}) or add instances",
                    p.pool_size
                ),
                None => "no points at this growth".into(),
            }
        }
    }
}

fn alert_thresholds(
    points: &[&PointResult],
    growths: &[f64],
    pool_size: u32,
) -> Option<AlertThresholds> {
    let series: Vec<&PointResult> = growths
        .iter()
        .filter_map(|g| {
            at_growth(points, *g)
                .into_iter()
                .find(|p| p.pool_size == pool_size)
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    let last_pass = series.iter().take_while(|p| p.slo_pass).last();
    let first_fail = series.iter().find(|p| !p.slo_pass);
    let (utilization, pending, note) = match (last_pass, first_fail) {
        (Some(pass), Some(fail)) => {
            // Page at the load of the last passing level: the SLO is about to break from there.
            let utilization = pass.pool_utilization.mean;
            let pending = (pass.pool_pending.mean * 2.0).ceil().max(1.0) / 2.0;
            (
                Some(utilization),
                Some(pending),
                format!(
                    "the pool's state at the last growth that meets the SLO, {:.2}x (utilization {:.0}%, {:.2} pending); at {:.2}x it fails with utilization {:.0}% and {:.1} pending",
                    pass.growth,
                    pass.pool_utilization.mean * 100.0,
                    pass.pool_pending.mean,
                    fail.growth,
                    fail.pool_utilization.mean * 100.0,
                    fail.pool_pending.mean
                ),
            )
        }
        (Some(pass), None) => (
            Some(pass.pool_utilization.hi.max(pass.pool_utilization.mean)),
            Some(pass.pool_pending.hi.max(0.1)),
            format!("passes at every swept growth; thresholds are the highest seen (growth {:.2}x), so any alert means traffic beyond the swept range", pass.growth),
        ),
        (None, _) => (None, None, "fails the SLO at the lowest swept growth: no threshold keeps it safe; change the setting first".into()),
    };
    Some(AlertThresholds {
        pool_size,
        last_passing_growth: last_pass.map(|p| p.growth),
        first_failing_growth: first_fail.map(|p| p.growth),
        pool_utilization_above: utilization,
        pool_pending_above: pending,
        note,
    })
}

fn scenario(experiment: &Experiment, fixed: Vec<AxisValue>, points: &[&PointResult]) -> Scenario {
    let growths = growths_of(points);
    let mut levels: Vec<GrowthLevel> = growths
        .iter()
        .map(|g| growth_level(experiment, points, *g))
        .collect();
    plan(experiment, &mut levels);
    let current = experiment.baseline.pool.max_size;
    let current_series: Vec<&PointResult> = growths
        .iter()
        .filter_map(|g| {
            at_growth(points, *g)
                .into_iter()
                .find(|p| p.pool_size == current)
        })
        .collect();
    let (carries, passes_planned, reason) = if current_series.len() < growths.len() {
        (None, None, Some(format!("the current pool.max_size = {current} is not among the swept sizes; add it to the sweep")))
    } else {
        let carries = current_series
            .iter()
            .take_while(|p| p.slo_pass)
            .last()
            .map(|p| p.growth);
        let planned = experiment.planned_growth;
        match current_series.iter().find(|p| p.growth >= planned - GROWTH_EPSILON) {
            None => (carries, None, Some(format!("the planned growth {planned:.2}x is beyond the swept growth; extend traffic.growth to at least {planned:.2}"))),
            Some(p) => {
                let why = (!p.slo_pass).then(|| {
                    format!(
                        "at {:.2}x: p99 {:.0} ms (95% CI up to {:.0} ms), error rate {:.3}% (up to {:.3}%)",
                        p.growth,
                        p.latency_p99_ms.mean,
                        p.latency_p99_ms.hi,
                        p.error_rate.mean * 100.0,
                        p.error_rate.hi * 100.0
                    )
                });
                (carries, Some(p.slo_pass), why)
            }
        }
    };
    let recommended = level_at_or_above(&levels, experiment.baseline.traffic.growth)
        .and_then(|l| l.recommended_pool_size);
    Scenario {
        variant: String::new(),
        fixed,
        current_carries_growth: carries,
        current_passes_planned_growth: passes_planned,
        current_reason: reason,
        alerts_current: alert_thresholds(points, &growths, current),
        alerts_recommended: recommended.and_then(|size| alert_thresholds(points, &growths, size)),
        levels,
    }
}

/// The level whose growth is the smallest swept one at or above `growth`.
pub fn level_at_or_above(levels: &[GrowthLevel], growth: f64) -> Option<&GrowthLevel> {
    levels.iter().find(|l| l.growth >= growth - GROWTH_EPSILON)
}
