//! Sensitivity: which assumed input moves the answer most, so a planner knows which
//! number to measure first.
//!
//! Each range of the model's `[uncertainty]` is evaluated at its two ends, one input
//! at a time, everything else as written. Two answers are recomputed per end: the
//! growth the measured size (the recommendation, else today's setting) carries in
//! the condition that limits it today (all serving, an instance lost, or a deploy),
//! and the floor: the smallest feasible size that meets the planned growth in that
//! condition. Both are local searches that start from today's answer and step over
//! the swept levels and sizes, so an end that changes nothing costs two evaluations.
//! All searches advance in rounds, each round's models simulated together in a fixed
//! order, so results do not depend on the thread count.

use serde::Serialize;
use toml::Value;

use super::capacity::{instances_lost_phrase, spec_with, Condition, SizeCapacity, SizeSeries};
use crate::config::experiment::Experiment;
use crate::config::model::SystemSpec;
use crate::config::uncertainty::UncertainInput;
use crate::sweep::{connections_needed, evaluate_specs, PointResult};

/// How far one uncertain input moves the answers between its two ends.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputSwing {
    /// The input's dotted path.
    pub path: String,
    /// The ends as the model writes them ("0.01", "70ms").
    pub low: String,
    pub high: String,
    /// Growth the measured size carries with the input at each end (None: not even the lowest swept level).
    pub carries_at_low: Option<f64>,
    pub carries_at_high: Option<f64>,
    /// The smallest feasible size meeting the planned growth at each end (None: no swept size).
    pub floor_at_low: Option<u32>,
    pub floor_at_high: Option<u32>,
    /// |carries_at_high - carries_at_low|, a growth factor (no growth counts as 0).
    pub growth_swing: f64,
    /// How many swept sizes apart the two floors are (no floor counts as one past the largest).
    pub floor_swing_sizes: u32,
}

/// The sensitivity analysis of the main scenario: inputs ranked, most influential first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sensitivity {
    /// The size whose carried growth is measured.
    pub pool_size: u32,
    /// The condition evaluated: the one that limits `pool_size` today.
    pub condition: String,
    /// The growth level the floor is measured at (the planned growth, rounded up to a swept level).
    pub planned_growth_level: f64,
    /// The same two answers with every input as written.
    pub carries_as_written: Option<f64>,
    pub floor_as_written: Option<u32>,
    pub inputs: Vec<InputSwing>,
}

/// A search along candidates in which the SLO holds on one side of a boundary.
/// `rising`: fails up to the boundary and holds after it (sizes, smallest first), the
/// answer is the first that holds; otherwise holds up to it (growth levels), the
/// answer is the last that holds.
struct Walk {
    known: Vec<Option<bool>>,
    next: Option<usize>,
    rising: bool,
}

impl Walk {
    fn new(len: usize, start: usize, rising: bool) -> Walk {
        Walk {
            known: vec![None; len],
            next: (len > 0).then_some(start.min(len.saturating_sub(1))),
            rising,
        }
    }

    fn step(&mut self, at: usize, holds: bool) {
        self.known[at] = Some(holds);
        let up = at + 1 < self.known.len() && self.known[at + 1].is_none();
        let down = at > 0 && self.known[at - 1].is_none();
        self.next = match (holds, self.rising) {
            (true, false) | (false, true) => up.then_some(at + 1),
            (true, true) | (false, false) => down.then(|| at - 1),
        };
    }

    fn answer(&self) -> Option<usize> {
        let mut holding = self
            .known
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == Some(true));
        if self.rising {
            holding.next().map(|(i, _)| i)
        } else {
            holding.next_back().map(|(i, _)| i)
        }
    }
}

/// One end of one input (or, with `value` None, the model as written) and its two searches.
struct EndSearch<'a> {
    value: Option<(&'a str, &'a Value)>,
    carried: Walk,
    floor_candidates: Vec<&'a PointResult>,
    floor: Walk,
}

/// The condition that limits `size` today, and its name.
fn limiting_condition(size: &SizeCapacity) -> (Option<Condition>, String) {
    match size.carries {
        Some(g) if size.carries_normal == Some(g) => (None, "all instances serving".into()),
        Some(g) if size.carries_instance_lost == Some(g) => (
            Some(Condition::InstanceLost),
            instances_lost_phrase(size.instances_lost),
        ),
        Some(_) => (Some(Condition::Deploy), "a rolling deploy".into()),
        None => (None, "all instances serving".into()),
    }
}

/// Ranks the experiment's uncertain inputs for the main scenario; None without any.
pub fn analyse(
    experiment: &Experiment,
    series: &[SizeSeries],
    capacities: &[SizeCapacity],
    measured_size: Option<u32>,
    planned_level: Option<f64>,
    threads: Option<usize>,
) -> anyhow::Result<Option<Sensitivity>> {
    if experiment.uncertainty.is_empty() {
        return Ok(None);
    }
    let (Some(size), Some(planned)) = (measured_size, planned_level) else {
        return Ok(None);
    };
    let (Some(measured), Some(capacity)) = (
        series.iter().find(|s| s.pool_size == size),
        capacities.iter().find(|c| c.pool_size == size),
    ) else {
        return Ok(None);
    };
    let (condition, condition_name) = limiting_condition(capacity);
    let start_level = capacity
        .carries
        .and_then(|g| measured.points.iter().position(|p| p.growth == g))
        .unwrap_or(0);
    let at_planned: Vec<&PointResult> = series
        .iter()
        .filter_map(|s| s.points.iter().find(|p| p.growth == planned).copied())
        .collect();
    let mut ends: Vec<Option<(&str, &Value)>> = vec![None];
    for input in &experiment.uncertainty {
        for (_, value) in input.ends() {
            ends.push(Some((input.path.as_str(), value)));
        }
    }
    let mut searches: Vec<EndSearch> = ends
        .into_iter()
        .map(|value| end_search(experiment, value, &at_planned, measured, start_level))
        .collect();
    run_searches(
        experiment,
        &measured.points,
        condition,
        &mut searches,
        threads,
    )?;

    let carries = |s: &EndSearch| s.carried.answer().map(|i| measured.points[i].growth);
    let floor = |s: &EndSearch| s.floor.answer().map(|i| s.floor_candidates[i].pool_size);
    let swept: Vec<u32> = series.iter().map(|s| s.pool_size).collect();
    let rank_of = |f: Option<u32>| {
        f.and_then(|f| swept.iter().position(|s| *s == f))
            .unwrap_or(swept.len())
    };
    let mut inputs: Vec<InputSwing> = experiment
        .uncertainty
        .iter()
        .zip(searches[1..].chunks(2))
        .map(|(input, pair)| {
            let (low, high) = (&pair[0], &pair[1]);
            InputSwing {
                path: input.path.clone(),
                low: UncertainInput::label(&input.low),
                high: UncertainInput::label(&input.high),
                carries_at_low: carries(low),
                carries_at_high: carries(high),
                floor_at_low: floor(low),
                floor_at_high: floor(high),
                growth_swing: (carries(high).unwrap_or(0.0) - carries(low).unwrap_or(0.0)).abs(),
                floor_swing_sizes: rank_of(floor(high)).abs_diff(rank_of(floor(low))) as u32,
            }
        })
        .collect();
    inputs.sort_by(|a, b| {
        b.growth_swing
            .total_cmp(&a.growth_swing)
            .then(b.floor_swing_sizes.cmp(&a.floor_swing_sizes))
            .then(a.path.cmp(&b.path))
    });
    Ok(Some(Sensitivity {
        pool_size: size,
        condition: condition_name,
        planned_growth_level: planned,
        carries_as_written: carries(&searches[0]),
        floor_as_written: floor(&searches[0]),
        inputs,
    }))
}

/// The two searches of one end: carried growth from today's level, the floor from the
/// measured size, over the sizes the database holds with this end.
fn end_search<'a>(
    experiment: &Experiment,
    value: Option<(&'a str, &'a Value)>,
    at_planned: &[&'a PointResult],
    measured: &SizeSeries,
    start_level: usize,
) -> EndSearch<'a> {
    let holds =
        |p: &PointResult| spec_with(experiment, p, None, value).is_ok_and(|s| fits(experiment, &s));
    // other_connections may move the database limit, so the candidates depend on the end.
    let floor_candidates: Vec<&PointResult> =
        at_planned.iter().copied().filter(|p| holds(p)).collect();
    let floor_start = floor_candidates
        .iter()
        .position(|p| p.pool_size >= measured.pool_size)
        .unwrap_or(floor_candidates.len().saturating_sub(1));
    // An end that puts the measured size beyond the database limit carries nothing.
    let levels = match measured.points.first() {
        Some(p) if holds(p) => measured.points.len(),
        _ => 0,
    };
    EndSearch {
        value,
        carried: Walk::new(levels, start_level, false),
        floor: Walk::new(floor_candidates.len(), floor_start, true),
        floor_candidates,
    }
}

/// Whether the database holds this model's fleet with every pool full during a deploy.
fn fits(experiment: &Experiment, spec: &SystemSpec) -> bool {
    connections_needed(spec, experiment.surge_for(spec.fleet.instances))
        <= spec.database.max_connections
}

/// Advances every open search by one candidate per round until all have answers.
fn run_searches(
    experiment: &Experiment,
    growth_points: &[&PointResult],
    condition: Option<Condition>,
    searches: &mut [EndSearch],
    threads: Option<usize>,
) -> anyhow::Result<()> {
    loop {
        // (search, which walk, candidate, model or None when it cannot hold)
        let mut round: Vec<(usize, bool, usize, Option<SystemSpec>)> = Vec::new();
        for (i, search) in searches.iter().enumerate() {
            if let Some(at) = search.carried.next {
                let spec = spec_with(experiment, growth_points[at], condition, search.value).ok();
                round.push((i, true, at, spec));
            }
            if let Some(at) = search.floor.next {
                let point = search.floor_candidates[at];
                let spec = spec_with(experiment, point, condition, search.value).ok();
                round.push((i, false, at, spec));
            }
        }
        if round.is_empty() {
            return Ok(());
        }
        let specs: Vec<SystemSpec> = round.iter().filter_map(|r| r.3.clone()).collect();
        let mut verdicts = evaluate_specs(experiment, &specs, threads)?.into_iter();
        for (i, carried, at, spec) in round {
            let holds = spec.is_some() && verdicts.next().is_some_and(|v| v.slo_pass);
            let walk = if carried {
                &mut searches[i].carried
            } else {
                &mut searches[i].floor
            };
            walk.step(at, holds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Walk;

    /// Drives a walk against a fixed pass/fail pattern.
    fn walk(pattern: &[bool], start: usize, rising: bool) -> (Option<usize>, usize) {
        let mut w = Walk::new(pattern.len(), start, rising);
        let mut evaluations = 0;
        while let Some(at) = w.next {
            evaluations += 1;
            w.step(at, pattern[at]);
        }
        (w.answer(), evaluations)
    }

    #[test]
    fn growth_walks_find_the_last_passing_level_from_either_side() {
        let pattern = [true, true, true, false, false];
        assert_eq!(walk(&pattern, 2, false), (Some(2), 2));
        assert_eq!(walk(&pattern, 0, false), (Some(2), 4));
        assert_eq!(walk(&pattern, 4, false), (Some(2), 3));
        assert_eq!(walk(&[false, false], 1, false), (None, 2));
        assert_eq!(walk(&[true, true], 0, false), (Some(1), 2));
    }

    #[test]
    fn size_walks_find_the_first_passing_size_from_either_side() {
        let pattern = [false, false, true, true, false];
        assert_eq!(walk(&pattern, 2, true), (Some(2), 2));
        assert_eq!(walk(&pattern, 0, true), (Some(2), 3));
        assert_eq!(walk(&pattern, 3, true), (Some(2), 3));
        assert_eq!(walk(&[], 0, true), (None, 0));
    }
}
