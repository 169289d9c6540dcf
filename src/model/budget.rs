//! What a run will cost, estimated before it starts, so a model that was accepted
//! cannot then run for hours or exhaust memory without warning.
//!
//! The estimate is an upper bound from the spec alone: arrivals at the profile's
//! peak rate (plus each surge's extra) over the horizon, a handful of events per
//! request step, one event and one row per sample interval. Commands compare it
//! with limits the user can raise (`--max-events`, `--max-memory`) and refuse with
//! exit code 2 and the estimate when it is over.

use crate::config::model::{StepKind, StepSpec, SystemSpec};
use crate::config::timeline::Trace;

/// Default limit on the events of one command (all runs of a sweep together):
/// a few minutes of engine time on one core.
pub const DEFAULT_MAX_EVENTS: f64 = 5e9;
/// Default limit on the memory of one run's growing state, in MiB.
pub const DEFAULT_MAX_MEMORY_MIB: f64 = 4096.0;
/// Bytes held per row of the sampled series (an `IntervalSample` and its share of exports).
const BYTES_PER_SERIES_ROW: f64 = 400.0;
/// Bytes per request in the system (request, job, pre-drawn step times, queue entries).
const BYTES_PER_REQUEST: f64 = 200.0;

/// The estimated cost of one run of a spec.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunBudget {
    /// Requests offered over the whole horizon (an upper bound).
    pub arrivals: f64,
    /// Engine events (an upper bound).
    pub events: f64,
    /// Rows of the sampled series, when sampled.
    pub series_rows: f64,
    /// Memory of the growing state, in bytes: the series and a full backlog.
    pub memory_bytes: f64,
}

/// Estimates one run of `spec`; `sampled` when the series is recorded (for
/// `--timeseries`; alerts and autoscaling sample it anyway).
pub fn estimate(spec: &SystemSpec, sampled: bool) -> RunBudget {
    let horizon_s = spec.simulation.horizon.as_secs_f64();
    let arrivals = match &spec.timeline.trace {
        Some(Trace::Arrivals(times)) => times.len() as f64,
        Some(Trace::Rates(rates)) => {
            let peak = rates.iter().map(|r| r.1).fold(0.0, f64::max);
            peak * spec.traffic.growth * spec.traffic.peak_factor() * horizon_s
        }
        None => spec.traffic.rate_per_s * spec.traffic.peak_factor() * horizon_s,
    };
    let base_rate = arrivals / horizon_s.max(1e-9);
    let surge_extra: f64 = spec
        .timeline
        .surges()
        .iter()
        .map(|(start, end, factor)| {
            let end = (*end).min(spec.simulation.horizon);
            let seconds = end.saturating_sub(*start).as_secs_f64();
            base_rate * (factor - 1.0).max(0.0) * seconds
        })
        .sum();
    let first_arrivals = arrivals + surge_extra;
    // The services after the first of a `[[services]]` model (none have timelines).
    let (more_arrivals, more_events) = spec.services().skip(1).fold((0.0, 0.0), |(a, e), s| {
        let arrivals = s.traffic.rate_per_s * s.traffic.peak_factor() * horizon_s;
        (a + arrivals, e + arrivals * events_per_request(s.steps))
    });
    let arrivals = first_arrivals + more_arrivals;
    let sampled = sampled || !spec.timeline.alerts.is_empty() || spec.timeline.autoscale.is_some();
    let interval_s = spec.simulation.sample_interval.as_secs_f64().max(1e-9);
    let series_rows = if sampled { horizon_s / interval_s } else { 0.0 };
    let backlog = (arrivals).min(f64::from(crate::model::system::BACKLOG_LIMIT));
    RunBudget {
        arrivals,
        events: first_arrivals * events_per_request(&spec.steps) + more_events + series_rows,
        series_rows,
        memory_bytes: series_rows * BYTES_PER_SERIES_ROW + backlog * BYTES_PER_REQUEST,
    }
}

/// Engine events one request causes at most: arrival, finish, one per step and two
/// more per db step (the statement's wake-up and its round trip).
fn events_per_request(steps: &[StepSpec]) -> f64 {
    let db_steps = steps.iter().filter(|s| s.kind == StepKind::Db).count() as f64;
    2.0 + steps.len() as f64 + 2.0 * db_steps
}

/// The limits a command enforces on its estimate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_events: f64,
    pub max_memory_mib: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: DEFAULT_MAX_EVENTS,
            max_memory_mib: DEFAULT_MAX_MEMORY_MIB,
        }
    }
}

impl Limits {
    /// `None` when `events` in total and `memory_bytes` per run fit, else what is over
    /// and which flag raises it.
    pub fn check(&self, events: f64, memory_bytes: f64) -> Option<String> {
        if events.is_nan() || events > self.max_events {
            return Some(format!(
                "this is estimated at {events:.3e} events (about {:.0} minutes at 10 million events per second), over the limit of {:.3e}; raise it with --max-events {:.0e} if you mean it",
                events / 1e7 / 60.0,
                self.max_events,
                events.min(1e300) * 1.5
            ));
        }
        let mib = memory_bytes / (1024.0 * 1024.0);
        if mib.is_nan() || mib > self.max_memory_mib {
            return Some(format!(
                "one run is estimated to need {mib:.0} MiB for its series and backlog, over the limit of {:.0} MiB; raise it with --max-memory {:.0} if the machine has it",
                self.max_memory_mib,
                mib.min(1e300).ceil()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_what_is_over_and_name_the_flag() {
        let limits = Limits::default();
        assert_eq!(limits.check(1e6, 1e6), None);
        assert!(limits.check(1e12, 0.0).unwrap().contains("--max-events"));
        assert!(limits.check(1.0, 1e15).unwrap().contains("--max-memory"));
        assert!(limits.check(f64::NAN, 0.0).is_some());
    }
}
