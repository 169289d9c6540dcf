//! Simulated against observed, interval by interval, and what the difference means.
//!
//! Interval k of the replay covers the step that ends at observed timestamp k, so a
//! gauge read at that scrape meets the simulated gauge at the interval's end, and a
//! counter's increase meets the simulated count of the interval. Errors are the
//! relative bias of the means and the weighted mean absolute percentage error
//! (sum |sim - obs| / sum |obs|, which stays defined where a gauge reads 0).

use serde::Serialize;

use crate::stats::series::IntervalSample;
use crate::stats::summary::Summary;

use super::observed::Observed;

/// Below this relative bias a metric is called consistent with the data.
pub const CONSISTENT_BIAS: f64 = 0.10;

/// One metric, simulated and observed per interval.
#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    /// Short key, e.g. `connections_in_use`.
    pub key: &'static str,
    /// Words for reports, e.g. "connections in use".
    pub label: &'static str,
    pub unit: &'static str,
    pub observed: Vec<f64>,
    pub simulated: Vec<f64>,
    /// Intervals where both are defined.
    pub intervals: usize,
    pub mean_observed: f64,
    pub mean_simulated: f64,
    /// (mean simulated - mean observed) / mean observed.
    pub bias: f64,
    /// sum |sim - obs| / sum |obs| over the intervals.
    pub mape: f64,
}

impl MetricComparison {
    fn new(
        key: &'static str,
        label: &'static str,
        unit: &'static str,
        observed: Vec<f64>,
        simulated: Vec<f64>,
    ) -> MetricComparison {
        let pairs: Vec<(f64, f64)> = observed
            .iter()
            .zip(&simulated)
            .filter(|(o, s)| o.is_finite() && s.is_finite())
            .map(|(o, s)| (*o, *s))
            .collect();
        let n = pairs.len() as f64;
        let mean_observed = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_simulated = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let absolute_observed: f64 = pairs.iter().map(|p| p.0.abs()).sum();
        let mape = pairs.iter().map(|p| (p.1 - p.0).abs()).sum::<f64>() / absolute_observed;
        MetricComparison {
            key,
            label,
            unit,
            observed,
            simulated,
            intervals: pairs.len(),
            mean_observed,
            mean_simulated,
            bias: (mean_simulated - mean_observed) / mean_observed,
            mape,
        }
    }

    /// "connections in use: simulated 27% below observed (2.1 vs 2.9 connections)".
    pub fn sentence(&self) -> String {
        if !self.bias.is_finite() {
            return format!(
                "{}: observed mean {} {}, simulated {} {}: no relative error (the observed mean is 0)",
                self.label,
                round(self.mean_observed),
                self.unit,
                round(self.mean_simulated),
                self.unit
            );
        }
        let direction = if self.bias < 0.0 { "below" } else { "above" };
        let judgement = if self.bias.abs() < CONSISTENT_BIAS {
            ": consistent"
        } else {
            ""
        };
        format!(
            "{}: simulated {:.0}% {direction} observed ({} vs {} {}){judgement}",
            self.label,
            self.bias.abs() * 100.0,
            round(self.mean_simulated),
            round(self.mean_observed),
            self.unit
        )
    }
}

fn round(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// The whole comparison of one replay.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub metrics: Vec<MetricComparison>,
    /// The model's mean hold per request over the replay (ms).
    pub model_hold_ms: f64,
    /// Observed mean usage (hold) over the window, from the counters' totals (ms).
    pub observed_hold_ms: Option<f64>,
    /// Observed mean acquire time of successful acquisitions over the window (ms).
    pub observed_acquire_ms: Option<f64>,
    /// The model's mean pool wait over every attempt, failed ones included (ms); the
    /// `acquire_ms` metric compares successful acquisitions per interval, as HikariCP does.
    pub model_pool_wait_ms: f64,
    pub verdicts: Vec<String>,
}

impl Comparison {
    /// The calibration objective: the mean squared relative bias of connections in
    /// use and hold time (the metrics a time or contention parameter moves).
    pub fn objective(&self) -> f64 {
        let biases: Vec<f64> = self
            .metrics
            .iter()
            .filter(|m| m.key == "connections_in_use" || m.key == "hold_ms")
            .map(|m| m.bias)
            .filter(|b| b.is_finite())
            .collect();
        if biases.is_empty() {
            return f64::INFINITY;
        }
        biases.iter().map(|b| b * b).sum::<f64>() / biases.len() as f64
    }

    pub fn metric(&self, key: &str) -> Option<&MetricComparison> {
        self.metrics.iter().find(|m| m.key == key)
    }
}

/// A simulated per-interval value from one sample (fleet totals), given the step (s)
/// and the divisor for per-pool comparisons.
type Simulated = fn(&IntervalSample, f64, f64) -> f64;

/// A comparable metric: key, words, unit, the observed series and the simulated value.
struct Definition<'a> {
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    observed: Option<&'a Vec<f64>>,
    simulated: Simulated,
}

fn metric_definitions(observed: &Observed) -> Vec<Definition<'_>> {
    let define = |key, label, unit, observed, simulated| Definition {
        key,
        label,
        unit,
        observed,
        simulated,
    };
    let in_use = observed
        .in_use_average
        .as_ref()
        .or(observed.active.as_ref());
    let hold: Simulated = |s, step, _| {
        if s.succeeded > 0.0 {
            s.connections_in_use * step / s.succeeded * 1e3
        } else {
            f64::NAN
        }
    };
    vec![
        define(
            "connections_in_use",
            "connections in use",
            "connections",
            in_use,
            |s, _, per| s.connections_in_use / per,
        ),
        define(
            "pending",
            "threads waiting for a connection",
            "threads",
            observed.pending.as_ref(),
            |s, _, per| s.pending / per,
        ),
        define(
            "hold_ms",
            "hold time",
            "ms",
            observed.hold_ms.as_ref(),
            hold,
        ),
        define(
            "throughput",
            "completed requests",
            "per s",
            observed.holds_per_s.as_ref(),
            |s, step, per| s.succeeded / step / per,
        ),
        define(
            "acquire_ms",
            "acquire time",
            "ms",
            observed.acquire_ms.as_ref(),
            // Successful acquisitions only, as HikariCP times them.
            |s, _, _| s.acquire_wait_ms_mean(),
        ),
        define(
            "timeouts",
            "acquire timeouts",
            "per s",
            observed.timeouts_per_s.as_ref(),
            |s, step, per| s.acquire_timeout / step / per,
        ),
        define(
            "error_rate",
            "error rate",
            "",
            observed.error_rate.as_ref(),
            |s, _, _| s.error_rate(),
        ),
    ]
}

/// sum(mean per step x count per step) / sum(count): the window's mean from per-step means.
fn window_mean(means: &Option<Vec<f64>>, per_second: &Option<Vec<f64>>, step: f64) -> Option<f64> {
    let (means, rates) = (means.as_ref()?, per_second.as_ref()?);
    let (total, count) = means
        .iter()
        .zip(rates)
        .map(|(m, r)| (*m, r * step))
        .filter(|(m, c)| m.is_finite() && c.is_finite() && *c > 0.0)
        .fold((0.0, 0.0), |t, (m, c)| (t.0 + m * c, t.1 + c));
    (count > 0.0).then_some(total / count)
}

/// Compares a replay's series (fleet totals) with the observations.
pub fn compare(
    observed: &Observed,
    series: &[IntervalSample],
    summary: &Summary,
    instances: f64,
) -> Comparison {
    let n = observed.times_s.len();
    let step = observed.step_s;
    let per = if observed.per_pool {
        instances.max(1.0)
    } else {
        1.0
    };
    let metrics = metric_definitions(observed)
        .into_iter()
        .filter_map(|d| {
            let simulated = (0..n)
                .map(|k| {
                    series
                        .get(k)
                        .map_or(f64::NAN, |s| (d.simulated)(s, step, per))
                })
                .collect();
            Some(MetricComparison::new(
                d.key,
                d.label,
                d.unit,
                d.observed?.clone(),
                simulated,
            ))
        })
        .collect();
    let area: f64 = series
        .iter()
        .take(n)
        .map(|s| s.connections_in_use * step)
        .sum();
    let finished: f64 = series.iter().take(n).map(|s| s.succeeded).sum();
    let mut comparison = Comparison {
        metrics,
        model_hold_ms: area / finished * 1e3,
        observed_hold_ms: window_mean(&observed.hold_ms, &observed.holds_per_s, step),
        observed_acquire_ms: window_mean(&observed.acquire_ms, &observed.acquires_per_s, step),
        model_pool_wait_ms: summary.pool_wait_ms.mean,
        verdicts: Vec::new(),
    };
    comparison.verdicts = verdicts(&comparison);
    comparison
}

/// Sentences a capacity reviewer can act on.
fn verdicts(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    for metric in &c.metrics {
        let mut sentence = metric.sentence();
        if metric.key == "connections_in_use" && metric.bias.abs() >= CONSISTENT_BIAS {
            if let Some(observed_hold) = c.observed_hold_ms {
                let longer = observed_hold > c.model_hold_ms;
                let hold_off =
                    (observed_hold - c.model_hold_ms).abs() / observed_hold >= CONSISTENT_BIAS;
                sentence.push_str(&format!(
                    "; the model's hold time is {:.1} ms, the observed mean usage is {:.1} ms: {}",
                    c.model_hold_ms,
                    observed_hold,
                    if !hold_off {
                        "the hold times agree, so the difference is in throughput (the replayed rate, timeouts or retries)"
                    } else if longer {
                        "the request holds its connection longer than modelled"
                    } else {
                        "the request holds its connection shorter than modelled"
                    }
                ));
            }
        }
        out.push(sentence);
    }
    out
}
