//! Alert thresholds for a pool size: when to page as traffic grows toward the
//! growth at which the SLO breaks. Kept apart from the recommendation itself so the
//! alerting rules (their units, lead time and export) can change on their own.
//!
//! Thresholds are stated in the unit each metric is reported in: per pool, as
//! HikariCP's Micrometer gauges report them (`hikaricp_connections_pending`,
//! `hikaricp_connections_active / hikaricp_connections_max`), and as the fleet total
//! that a model's `[[alerts]] metric = "pool.pending"` sees. They are the pool's
//! state (interpolated between swept levels) at the lower of: one growth step below
//! the last level meeting the SLO, and the growth the size carries in every
//! condition (beyond it a deploy or a lost instance breaks the SLO). So they fire
//! before the SLO breaks; a surge replay checks that they do and measures by how much.

use serde::Serialize;

use super::{at_growth, SizeCapacity};
use crate::config::experiment::Experiment;
use crate::config::model::SystemSpec;
use crate::config::timeline::{AlertRule, Metric, Timeline};
use crate::model::{simulate_detailed, RunOptions};
use crate::sim::time::SimTime;
use crate::stats::series::{evaluate_alerts, IntervalSample};
use crate::sweep::PointResult;

/// How long a threshold must be exceeded before the alert fires (Prometheus `for:`).
pub const ALERT_FOR_S: f64 = 60.0;
/// The surge replay: steady traffic for this long, then the ramp.
const REPLAY_STEADY_S: f64 = 30.0;
/// The surge replay's ramp from the lowest swept growth to beyond the first failing one.
const REPLAY_RAMP_S: f64 = 360.0;
/// The ramp ends this far beyond the first failing growth (x 1.25).
const REPLAY_OVERSHOOT: f64 = 1.25;

/// When to page, measured at the pool size in use as traffic grows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertThresholds {
    pub pool_size: u32,
    /// Instances of the fleet the per-pool and fleet-total figures assume.
    pub instances: u32,
    /// The largest growth that still meets the SLO at this size (None: fails from the first level).
    pub last_passing_growth: Option<f64>,
    /// The first growth level that fails the SLO (None: passes everywhere swept).
    pub first_failing_growth: Option<f64>,
    /// The growth the size carries in every condition (all instances, one lost, a deploy);
    /// None when not even the lowest swept level or when the database cannot hold the size.
    pub carries_every_condition: Option<f64>,
    /// The growth whose (interpolated) pool state the thresholds are: the lower of one
    /// growth step below the last passing level (but no lower than halfway up from the
    /// lowest swept growth) and `carries_every_condition` (no lower than the lowest swept growth).
    pub warning_growth: Option<f64>,
    /// Fraction (0..1) of the pool's connections in use, as
    /// `hikaricp_connections_active / hikaricp_connections_max`; the fleet-wide ratio
    /// (`pool.utilization`) is the mean over pools, so the same threshold applies to both.
    pub utilization_above: Option<f64>,
    /// Requests waiting for a connection in one pool: `hikaricp_connections_pending` of one instance.
    pub pending_per_pool_above: Option<f64>,
    /// Requests waiting summed over the fleet: the unit of `[[alerts]] metric = "pool.pending"`
    /// and of `sum by (pool) (hikaricp_connections_pending)`.
    pub pending_fleet_total_above: Option<f64>,
    /// How long a threshold must hold before the alert fires (Prometheus `for:`), in seconds.
    pub for_s: f64,
    /// The surge replay that checks the thresholds fire before the SLO breaks.
    pub replay: Option<SurgeReplay>,
    pub note: String,
}

/// A run of the model at one pool size with traffic ramping through the failing growth.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SurgeReplay {
    /// Growth at the start (steady for `steady_s`), then rising linearly to `to_growth`.
    pub from_growth: f64,
    pub to_growth: f64,
    pub steady_s: f64,
    pub ramp_s: f64,
    pub sample_interval_s: f64,
    pub seed: u64,
    pub replications: u32,
    /// End of the first sample interval whose p99 or error rate breaks the SLO (None: never).
    pub slo_breached_s: Option<f64>,
    /// The traffic growth at that moment.
    pub slo_breached_at_growth: Option<f64>,
    pub rules: Vec<RuleLead>,
}

/// One alert rule's firing in the surge replay.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleLead {
    /// The rule as the model's `[[alerts]]` would write it ("pool.utilization > 0.74").
    pub rule: String,
    /// Where the rule comes from: "threshold" (these thresholds) or "model" (the model's `[[alerts]]`).
    pub source: String,
    /// When the rule fired (end of the interval in which it had held for `for`), seconds.
    pub fired_s: Option<f64>,
    /// The traffic growth when it fired (independent of how fast the replay ramps).
    pub fired_at_growth: Option<f64>,
    /// SLO break time minus firing time, seconds (None: it did not fire before the SLO broke).
    pub lead_time_s: Option<f64>,
    /// Why there is no lead time, when there is none.
    pub note: Option<String>,
}

impl SurgeReplay {
    /// The traffic growth at `t_s` seconds into the replay.
    pub fn growth_at(&self, t_s: f64) -> f64 {
        let ramp = ((t_s - self.steady_s) / self.ramp_s).clamp(0.0, 1.0);
        self.from_growth + (self.to_growth - self.from_growth) * ramp
    }
}

/// The pool's state at one swept growth of one pool size.
struct LevelState {
    growth: f64,
    utilization: f64,
    pending_per_pool: f64,
    passes: bool,
}

/// Which sizes get a surge replay: the main scenario's (the one the report and the
/// rules file show) or none (the other scenarios, to keep the sweep fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    Run,
    Skip,
}

pub(super) fn alert_thresholds(
    experiment: &Experiment,
    points: &[&PointResult],
    growths: &[f64],
    sizes: &[SizeCapacity],
    pool_size: u32,
    replay: Replay,
) -> Option<AlertThresholds> {
    let series: Vec<&PointResult> = growths
        .iter()
        .filter_map(|g| {
            at_growth(points, *g)
                .into_iter()
                .find(|p| p.pool_size == pool_size)
        })
        .collect();
    let first = *series.first()?;
    let capacity = sizes.iter().find(|c| c.pool_size == pool_size);
    let states: Vec<LevelState> = series
        .iter()
        .map(|p| LevelState {
            growth: p.growth,
            utilization: p.pool_utilization.mean,
            pending_per_pool: p.pool_pending.mean,
            passes: p.slo_pass,
        })
        .collect();
    let passing = states.iter().take_while(|s| s.passes).count();
    let last_pass = passing.checked_sub(1).map(|i| &states[i]);
    let first_fail = states.iter().find(|s| !s.passes);
    let mut thresholds = AlertThresholds {
        pool_size,
        instances: first.instances,
        last_passing_growth: last_pass.map(|s| s.growth),
        first_failing_growth: first_fail.map(|s| s.growth),
        carries_every_condition: capacity.and_then(|c| c.carries),
        warning_growth: None,
        utilization_above: None,
        pending_per_pool_above: None,
        pending_fleet_total_above: None,
        for_s: ALERT_FOR_S,
        replay: None,
        note: String::new(),
    };
    match (last_pass, first_fail) {
        (Some(pass), Some(fail)) => {
            let warning = warning_growth(&states, pass, fail, capacity);
            set_warning(&mut thresholds, &states[..passing], warning, pass, fail);
            if replay == Replay::Run {
                let spec = &experiment.points[first.index].spec;
                let to_growth = fail.growth * REPLAY_OVERSHOOT;
                let replayed =
                    surge_replay(experiment, spec, &thresholds, states[0].growth, to_growth);
                thresholds.replay = Some(replayed);
            }
        }
        (Some(pass), None) => {
            let highest = series[passing - 1];
            let utilization = highest
                .pool_utilization
                .hi
                .max(highest.pool_utilization.mean);
            let pending = highest.pool_pending.hi.max(0.1);
            thresholds.utilization_above = Some(round_down(utilization, 100.0));
            thresholds.pending_per_pool_above = Some(round_down(pending, 100.0));
            thresholds.pending_fleet_total_above =
                Some(round_down(pending * first.instances as f64, 10.0));
            thresholds.note = format!("passes at every swept growth; thresholds are the highest seen (growth {:.2}x), so any alert means traffic beyond the swept range; no surge replay (nothing to break)", pass.growth);
        }
        (None, _) if !first.feasible => {
            thresholds.note = format!("the database cannot hold this size ({} connections needed with every pool full during a deploy, max_connections {}): no threshold keeps it safe; change the setting first", first.fleet_connections, first.max_connections);
        }
        (None, _) => {
            thresholds.note = "fails the SLO at the lowest swept growth: no threshold keeps it safe; change the setting first".into();
        }
    }
    Some(thresholds)
}

/// The growth whose state the thresholds are: one step below the last passing level
/// (no lower than halfway up from the lowest swept growth), or the growth carried in
/// every condition when that is lower (no lower than the lowest swept growth).
fn warning_growth(
    states: &[LevelState],
    pass: &LevelState,
    fail: &LevelState,
    capacity: Option<&SizeCapacity>,
) -> f64 {
    let low = states[0].growth;
    let step = fail.growth - pass.growth;
    let below_last_pass = (pass.growth - step).max((low + pass.growth) / 2.0);
    let every_condition = capacity.map_or(below_last_pass, |c| c.carries.unwrap_or(low).max(low));
    below_last_pass.min(every_condition)
}

/// Sets the thresholds to the (interpolated) state at `warning` and explains them.
fn set_warning(
    thresholds: &mut AlertThresholds,
    passing: &[LevelState],
    warning: f64,
    pass: &LevelState,
    fail: &LevelState,
) {
    let (utilization, pending) = interpolate(passing, warning);
    thresholds.warning_growth = Some(warning);
    thresholds.utilization_above = Some(round_down(utilization, 100.0));
    thresholds.pending_per_pool_above = Some(round_down(pending, 100.0));
    thresholds.pending_fleet_total_above =
        Some(round_down(pending * thresholds.instances as f64, 10.0));
    let why = match thresholds.carries_every_condition {
        Some(c) if c < pass.growth && (warning - c.max(passing[0].growth)).abs() < 1e-9 => {
            "the growth it carries with an instance lost or during a deploy".to_string()
        }
        None if warning <= passing[0].growth + 1e-9 => {
            "the lowest swept growth: an instance lost or a deploy already breaks the SLO there, so this alert may fire today".to_string()
        }
        _ => "one growth step below the last level meeting the SLO".to_string(),
    };
    thresholds.note = format!(
        "the pool's state at {warning:.2}x, {why} (last level meeting the SLO: {:.2}x, utilization {:.0}%, {:.2} pending per pool); at {:.2}x it fails with utilization {:.0}% and {:.2} pending per pool",
        pass.growth,
        pass.utilization * 100.0,
        pass.pending_per_pool,
        fail.growth,
        fail.utilization * 100.0,
        fail.pending_per_pool
    );
}

/// Utilization and pending per pool at `growth`, linear between the swept levels
/// (held at the ends).
fn interpolate(states: &[LevelState], growth: f64) -> (f64, f64) {
    let upper = states.iter().position(|s| s.growth >= growth);
    match upper {
        Some(0) | None => {
            let s = if upper.is_none() {
                &states[states.len() - 1]
            } else {
                &states[0]
            };
            (s.utilization, s.pending_per_pool)
        }
        Some(i) => {
            let (a, b) = (&states[i - 1], &states[i]);
            let w = (growth - a.growth) / (b.growth - a.growth);
            (
                a.utilization + (b.utilization - a.utilization) * w,
                a.pending_per_pool + (b.pending_per_pool - a.pending_per_pool) * w,
            )
        }
    }
}

/// Rounds down to a multiple of `1 / per_unit`, so a rounded threshold fires no later.
fn round_down(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).floor() / per_unit
}

/// Runs `spec` (the point at the lowest swept growth) with traffic steady at
/// `from_growth`, then ramping to `to_growth`, one replication with the sweep's seed,
/// and measures each rule's lead time before the SLO first breaks in an interval.
fn surge_replay(
    experiment: &Experiment,
    spec: &SystemSpec,
    thresholds: &AlertThresholds,
    from_growth: f64,
    to_growth: f64,
) -> SurgeReplay {
    let mut replay_spec = spec.clone();
    let horizon_s = REPLAY_STEADY_S + REPLAY_RAMP_S;
    // The point's rate already includes `from_growth`; the profile scales it up.
    replay_spec.traffic.profile = vec![
        (SimTime::from_secs_f64(REPLAY_STEADY_S), 1.0),
        (SimTime::from_secs_f64(horizon_s), to_growth / from_growth),
    ];
    let model_rules = spec.timeline.alerts.clone();
    replay_spec.timeline = Timeline::default();
    replay_spec.simulation.horizon = SimTime::from_secs_f64(horizon_s);
    replay_spec.simulation.warmup = SimTime::from_secs_f64(REPLAY_STEADY_S);
    let interval_s = replay_spec.simulation.sample_interval.as_secs_f64();
    let output = simulate_detailed(&replay_spec, RunOptions { replication: 0 }, true);
    // Judge from the end of the steady lead-in: the pools start empty.
    let series: Vec<IntervalSample> = output
        .series
        .into_iter()
        .filter(|s| s.start_s >= REPLAY_STEADY_S - 1e-9)
        .collect();
    let mut replay = SurgeReplay {
        from_growth,
        to_growth,
        steady_s: REPLAY_STEADY_S,
        ramp_s: REPLAY_RAMP_S,
        sample_interval_s: interval_s,
        seed: replay_spec.simulation.seed,
        replications: 1,
        slo_breached_s: first_slo_breach(experiment, &series, interval_s),
        slo_breached_at_growth: None,
        rules: Vec::new(),
    };
    replay.slo_breached_at_growth = replay.slo_breached_s.map(|t| replay.growth_at(t));
    let mut rules = threshold_rules(thresholds);
    let threshold_count = rules.len();
    rules.extend(model_rules);
    let firings = evaluate_alerts(&rules, &series, interval_s);
    replay.rules = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let fired_s = firings
                .iter()
                .find(|f| f.name == rule.name)
                .map(|f| f.fired_s);
            let source = if i < threshold_count {
                "threshold"
            } else {
                "model"
            };
            RuleLead {
                fired_at_growth: fired_s.map(|t| replay.growth_at(t)),
                ..rule_lead(rule, source, fired_s, replay.slo_breached_s)
            }
        })
        .collect();
    replay
}

/// The thresholds as rules on the sampled series (fleet totals and ratios).
fn threshold_rules(thresholds: &AlertThresholds) -> Vec<AlertRule> {
    let hold = SimTime::from_secs_f64(thresholds.for_s);
    let mut rules = Vec::new();
    for (metric, above) in [
        (Metric::PoolUtilization, thresholds.utilization_above),
        (Metric::PoolPending, thresholds.pending_fleet_total_above),
    ] {
        if let Some(above) = above {
            rules.push(AlertRule {
                name: format!("{} > {above}", metric.name()),
                metric,
                above,
                hold,
            });
        }
    }
    rules
}

fn rule_lead(
    rule: &AlertRule,
    source: &str,
    fired_s: Option<f64>,
    breached_s: Option<f64>,
) -> RuleLead {
    let (lead_time_s, note) = match (fired_s, breached_s) {
        (Some(f), Some(b)) if f < b => (Some(b - f), None),
        (Some(f), Some(b)) => (
            None,
            Some(format!(
                "fired {:.0} s after the SLO broke, not before",
                f - b
            )),
        ),
        (None, Some(_)) => (None, Some("did not fire before the SLO broke".into())),
        (_, None) => (
            None,
            Some("the SLO did not break in the replay; no lead time to measure".into()),
        ),
    };
    RuleLead {
        rule: format!("{} > {}", rule.metric.name(), rule.above),
        source: source.into(),
        fired_s,
        fired_at_growth: None,
        lead_time_s,
        note,
    }
}

/// The end of the first interval whose p99 or error rate is beyond the SLO.
fn first_slo_breach(
    experiment: &Experiment,
    samples: &[IntervalSample],
    interval_s: f64,
) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.error_rate() > experiment.slo.error_rate
                || s.latency_p99_ms > experiment.slo.latency_p99_ms
        })
        .map(|s| s.start_s + interval_s)
}
