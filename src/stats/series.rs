//! The sampled time series of a run, and alert rules evaluated on it.
//!
//! Every `sample_interval` the engine records what a dashboard would show:
//! gauges read at the sample instant (connections in use, pending, database
//! connections) and counts of what finished during the interval (errors, p99).
//! Alerts are evaluated on these samples exactly as Prometheus rules with a
//! `for` clause would be, so their firing times are honest detection times.

use serde::Serialize;

use crate::config::timeline::{AlertRule, Metric};

/// One sample interval `[start_s, start_s + interval)`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IntervalSample {
    pub start_s: f64,
    pub offered: u64,
    pub attempts: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub acquire_timeout: u64,
    pub client_timeout: u64,
    pub db_refused: u64,
    pub rejected: u64,
    pub retries_exhausted: u64,
    /// p99 of successful requests that finished in the interval (NaN: none did).
    pub latency_p99_ms: f64,
    /// Gauges at the end of the interval, fleet totals.
    pub connections_in_use: f64,
    pub pending: f64,
    pub pool_capacity: f64,
    pub db_connections: f64,
    pub instances: f64,
}

impl IntervalSample {
    /// Failed / finished in the interval (NaN when nothing finished).
    pub fn error_rate(&self) -> f64 {
        let finished = self.succeeded + self.failed;
        if finished == 0 {
            f64::NAN
        } else {
            self.failed as f64 / finished as f64
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
