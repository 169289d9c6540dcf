//! The sampled time series of a run, and alert rules evaluated on it.
//!
//! Every `sample_interval` the engine records what a dashboard would show:
//! gauges read at the sample instant (connections in use, pending, database
//! connections) and counts of what finished during the interval (errors, p99).
//! Alerts are evaluated on these samples exactly as Prometheus rules with a
//! `for` clause would be, so their firing times are honest detection times.

use serde::{Deserialize, Serialize};

use crate::config::timeline::{AlertRule, Metric};

/// One sample interval `[start_s, start_s + interval)`. Counts are of one run, or
/// the mean over replications in a sweep (hence floating point).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IntervalSample {
    pub start_s: f64,
    pub offered: f64,
    pub attempts: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub acquire_timeout: f64,
    pub client_timeout: f64,
    pub db_refused: f64,
    pub rejected: f64,
    pub retries_exhausted: f64,
    pub backlog_full: f64,
    /// p99 of successful requests that finished in the interval (NaN: none did).
    pub latency_p99_ms: f64,
    /// Gauges at the end of the interval, fleet totals.
    pub connections_in_use: f64,
    pub pending: f64,
    pub pool_capacity: f64,
    pub db_connections: f64,
    /// Share of the database's cores busy with statements (0..=1), at the sample instant.
    pub db_busy_fraction: f64,
    pub instances: f64,
    /// Connections handed out in the interval (successful acquisitions only, as
    /// HikariCP's `hikaricp_connections_acquire_seconds_count` counts them).
    pub acquisitions: f64,
    /// Sum of their waits for a connection, ms (0 for an idle one).
    pub acquire_wait_ms_sum: f64,
}

impl IntervalSample {
    /// One successful acquisition after `waited_ms`.
    #[inline]
    pub fn note_acquired(&mut self, waited_ms: f64) {
        self.acquisitions += 1.0;
        self.acquire_wait_ms_sum += waited_ms;
    }

    /// Mean wait of the interval's successful acquisitions, ms (NaN: none).
    pub fn acquire_wait_ms_mean(&self) -> f64 {
        if self.acquisitions > 0.0 {
            self.acquire_wait_ms_sum / self.acquisitions
        } else {
            f64::NAN
        }
    }

    /// Failed / finished in the interval (NaN when nothing finished).
    pub fn error_rate(&self) -> f64 {
        let finished = self.succeeded + self.failed;
        if finished == 0.0 {
            f64::NAN
        } else {
            self.failed / finished
        }
    }

    pub fn pool_utilization(&self) -> f64 {
        if self.pool_capacity > 0.0 {
            self.connections_in_use / self.pool_capacity
        } else {
            0.0
        }
    }

    pub fn metric(&self, metric: Metric) -> f64 {
        match metric {
            Metric::PoolActive => self.connections_in_use,
            Metric::PoolPending => self.pending,
            Metric::PoolUtilization => self.pool_utilization(),
            Metric::DbConnections => self.db_connections,
            Metric::ErrorRate => self.error_rate(),
            Metric::LatencyP99 => self.latency_p99_ms,
        }
    }
}

/// The mean series of replications (interval by interval): counts and gauges are
/// averaged, p99 is the mean of the replications' interval p99s that have data.
pub fn mean_series(runs: &[&[IntervalSample]]) -> Vec<IntervalSample> {
    let length = runs.iter().map(|r| r.len()).min().unwrap_or(0);
    let n = runs.len().max(1) as f64;
    (0..length)
        .map(|i| {
            let mean =
                |f: fn(&IntervalSample) -> f64| runs.iter().map(|r| f(&r[i])).sum::<f64>() / n;
            let p99: Vec<f64> = runs
                .iter()
                .map(|r| r[i].latency_p99_ms)
                .filter(|v| v.is_finite())
                .collect();
            IntervalSample {
                start_s: runs[0][i].start_s,
                offered: mean(|s| s.offered),
                attempts: mean(|s| s.attempts),
                succeeded: mean(|s| s.succeeded),
                failed: mean(|s| s.failed),
                acquire_timeout: mean(|s| s.acquire_timeout),
                client_timeout: mean(|s| s.client_timeout),
                db_refused: mean(|s| s.db_refused),
                rejected: mean(|s| s.rejected),
                retries_exhausted: mean(|s| s.retries_exhausted),
                backlog_full: mean(|s| s.backlog_full),
                latency_p99_ms: if p99.is_empty() {
                    f64::NAN
                } else {
                    p99.iter().sum::<f64>() / p99.len() as f64
                },
                connections_in_use: mean(|s| s.connections_in_use),
                pending: mean(|s| s.pending),
                pool_capacity: mean(|s| s.pool_capacity),
                db_connections: mean(|s| s.db_connections),
                db_busy_fraction: mean(|s| s.db_busy_fraction),
                instances: mean(|s| s.instances),
                acquisitions: mean(|s| s.acquisitions),
                acquire_wait_ms_sum: mean(|s| s.acquire_wait_ms_sum),
            }
        })
        .collect()
}

/// What happened between two times: for postmortem phases ("09:45-12:30").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseStats {
    pub name: String,
    pub from_s: f64,
    pub to_s: f64,
    /// Requests finished in the phase (per replication).
    pub finished: f64,
    pub attempts: f64,
    pub offered: f64,
    /// Failed / finished.
    pub failed_fraction: f64,
    /// The failure kind with the most failures, if any failed.
    pub dominant_failure: Option<String>,
    /// Worst interval p99 in the phase, in ms.
    pub worst_p99_ms: f64,
    pub peak_pending: f64,
    pub peak_db_connections: f64,
    pub peak_instances: f64,
}

/// Statistics of the intervals that start in `[from_s, to_s)`.
pub fn phase_stats(name: &str, from_s: f64, to_s: f64, series: &[IntervalSample]) -> PhaseStats {
    let in_phase: Vec<&IntervalSample> = series
        .iter()
        .filter(|s| s.start_s >= from_s - 1e-9 && s.start_s < to_s - 1e-9)
        .collect();
    let sum = |f: fn(&IntervalSample) -> f64| in_phase.iter().map(|s| f(s)).sum::<f64>();
    let peak = |f: fn(&IntervalSample) -> f64| {
        in_phase
            .iter()
            .map(|s| f(s))
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max)
    };
    let finished = sum(|s| s.succeeded + s.failed);
    let failed = sum(|s| s.failed);
    let kinds = [
        ("acquire_timeout", sum(|s| s.acquire_timeout)),
        ("client_timeout", sum(|s| s.client_timeout)),
        ("db_refused", sum(|s| s.db_refused)),
        ("rejected", sum(|s| s.rejected)),
        ("retries_exhausted", sum(|s| s.retries_exhausted)),
        ("backlog_full", sum(|s| s.backlog_full)),
    ];
    let dominant = kinds
        .iter()
        .filter(|k| k.1 > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|k| k.0.to_string());
    PhaseStats {
        name: name.to_string(),
        from_s,
        to_s,
        finished,
        attempts: sum(|s| s.attempts),
        offered: sum(|s| s.offered),
        failed_fraction: if finished > 0.0 {
            failed / finished
        } else {
            f64::NAN
        },
        dominant_failure: dominant,
        worst_p99_ms: peak(|s| s.latency_p99_ms),
        peak_pending: peak(|s| s.pending),
        peak_db_connections: peak(|s| s.db_connections),
        peak_instances: peak(|s| s.instances),
    }
}

/// When an alert fired and cleared, in seconds since the start.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertFiring {
    pub name: String,
    pub fired_s: f64,
    pub cleared_s: Option<f64>,
}

/// Evaluates `rules` on `samples`: a rule fires at the end of the interval in which
/// its condition has held for `for`, and clears at the end of the first interval
/// where it no longer holds. A metric with no data (NaN) does not hold.
pub fn evaluate_alerts(
    rules: &[AlertRule],
    samples: &[IntervalSample],
    interval_s: f64,
) -> Vec<AlertFiring> {
    let mut firings = Vec::new();
    for rule in rules {
        let hold_s = rule.hold.as_secs_f64();
        let mut true_since: Option<f64> = None;
        let mut firing: Option<usize> = None;
        for sample in samples {
            let end_s = sample.start_s + interval_s;
            let value = sample.metric(rule.metric);
            if value > rule.above {
                let since = *true_since.get_or_insert(sample.start_s);
                if firing.is_none() && end_s - since >= hold_s - 1e-9 {
                    firings.push(AlertFiring {
                        name: rule.name.clone(),
                        fired_s: end_s,
                        cleared_s: None,
                    });
                    firing = Some(firings.len() - 1);
                }
            } else {
                true_since = None;
                if let Some(index) = firing.take() {
                    firings[index].cleared_s = Some(end_s);
                }
            }
        }
    }
    firings.sort_by(|a, b| a.fired_s.total_cmp(&b.fired_s));
    firings
}

/// The end of the first interval whose error rate exceeded `threshold` (e.g. 0.01).
pub fn first_error_rate_above(
    samples: &[IntervalSample],
    interval_s: f64,
    threshold: f64,
) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.error_rate() > threshold)
        .map(|s| s.start_s + interval_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::time::SimTime;

    fn samples(pending: &[f64]) -> Vec<IntervalSample> {
        pending
            .iter()
            .enumerate()
            .map(|(i, p)| IntervalSample {
                start_s: i as f64 * 10.0,
                pending: *p,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn fires_after_holding_and_clears() {
        let rule = AlertRule {
            name: "pending".into(),
            metric: Metric::PoolPending,
            above: 5.0,
            hold: SimTime::from_millis(20_000),
        };
        let s = samples(&[0.0, 6.0, 7.0, 8.0, 1.0, 9.0]);
        let firings = evaluate_alerts(&[rule], &s, 10.0);
        // True from 10 s; held 20 s at the end of the interval starting at 20 s (t = 30 s).
        assert_eq!(
            firings,
            vec![AlertFiring {
                name: "pending".into(),
                fired_s: 30.0,
                cleared_s: Some(50.0)
            }]
        );
    }

    #[test]
    fn short_spikes_do_not_fire() {
        let rule = AlertRule {
            name: "p".into(),
            metric: Metric::PoolPending,
            above: 5.0,
            hold: SimTime::from_millis(30_000),
        };
        let s = samples(&[6.0, 6.0, 0.0, 6.0, 6.0, 0.0]);
        assert!(evaluate_alerts(&[rule], &s, 10.0).is_empty());
    }
}
