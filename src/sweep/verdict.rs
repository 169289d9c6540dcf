//! Whether a model meets its SLO, and whether its adaptive replications can stop.
//!
//! A single-service model is judged as a whole against `[slo]`. In a `[[services]]`
//! model every service is judged against its own SLO (`Experiment::service_slos`): the
//! model passes when every service does, and its decision is open while any service's
//! is. The whole model's mixed p99 is not judged there: with the same SLO for every
//! service it cannot fail when they all pass (the p99 of a mixture is at most the
//! largest of its parts'), and with different ones it has no objective to meet.

use crate::config::experiment::{Experiment, Slo};
use crate::stats::confidence::{estimate, Estimate};
use crate::stats::summary::Summary;

use super::CONFIDENCE;

/// Where a model's SLO decision stands after its replications so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    /// Half-width of the 95% interval of p99 over its mean (NaN without data).
    pub latency_p99: f64,
    /// Half-width of the 95% interval of the error rate over its mean (0 when all are 0).
    pub error_rate: f64,
    /// No further replication can change the verdict, or both intervals are within
    /// the precision asked for.
    pub decided: bool,
}

/// The adaptive rule: a model is decided when the 95% interval of p99 or of the error
/// rate lies wholly above the SLO (it fails whatever follows), when a replication had
/// no successful request (it fails too), or when each of the two intervals lies wholly
/// within the SLO or has a relative half-width of at most `precision`.
pub fn is_decided(slo: &Slo, precision: f64, summaries: &[&Summary]) -> Precision {
    let metric = |f: &dyn Fn(&Summary) -> f64| {
        estimate(
            &summaries.iter().map(|s| f(s)).collect::<Vec<_>>(),
            CONFIDENCE,
        )
    };
    let p99 = metric(&|s| s.latency_ms.p99);
    let errors = metric(&|s| s.error_rate);
    let relative = |e: &Estimate| match e.half_width {
        0.0 => 0.0,
        h => h / e.mean.abs(),
    };
    let above = |e: &Estimate, limit: f64| e.lo > limit;
    let settled = |e: &Estimate, limit: f64| e.hi <= limit || relative(e) <= precision;
    let decided = p99.samples < summaries.len()
        || above(&p99, slo.latency_p99_ms)
        || above(&errors, slo.error_rate)
        || (settled(&p99, slo.latency_p99_ms) && settled(&errors, slo.error_rate));
    Precision {
        latency_p99: relative(&p99),
        error_rate: relative(&errors),
        decided,
    }
}

/// The SLO holds when the upper 95% bounds of p99 and error rate are within it,
/// and every replication had successful requests to measure.
pub fn passes(
    slo: &Slo,
    latency_p99_ms: &Estimate,
    error_rate: &Estimate,
    replications: usize,
) -> bool {
    latency_p99_ms.samples == replications
        && latency_p99_ms.hi <= slo.latency_p99_ms
        && error_rate.hi <= slo.error_rate
}

/// Each service's replications (summaries of one service at a time), or `None` for a
/// model without per-service figures.
fn per_service<'a>(summaries: &[&'a Summary]) -> Option<Vec<Vec<&'a Summary>>> {
    let services = summaries.first()?.services.len();
    (services > 0).then(|| {
        (0..services)
            .map(|k| summaries.iter().map(|s| &s.services[k].summary).collect())
            .collect()
    })
}

/// `is_decided` for a whole model: in a `[[services]]` model, decided when every
/// service is against its own SLO, with the worst precision any service reached.
pub fn decision(experiment: &Experiment, precision: f64, summaries: &[&Summary]) -> Precision {
    let Some(services) = per_service(summaries) else {
        return is_decided(&experiment.slo, precision, summaries);
    };
    let worst = |a: f64, b: f64| if a.is_nan() || b > a { b } else { a };
    services
        .iter()
        .zip(&experiment.service_slos)
        .map(|(own, slo)| is_decided(slo, precision, own))
        .fold(
            Precision {
                latency_p99: 0.0,
                error_rate: 0.0,
                decided: true,
            },
            |all, one| Precision {
                latency_p99: worst(all.latency_p99, one.latency_p99),
                error_rate: worst(all.error_rate, one.error_rate),
                decided: all.decided && one.decided,
            },
        )
}

/// Whether `slo` holds for these replications (upper 95% bounds within it).
pub fn replications_pass(slo: &Slo, summaries: &[&Summary]) -> bool {
    let metric = |f: &dyn Fn(&Summary) -> f64| {
        estimate(
            &summaries.iter().map(|s| f(s)).collect::<Vec<_>>(),
            CONFIDENCE,
        )
    };
    passes(
        slo,
        &metric(&|s| s.latency_ms.p99),
        &metric(&|s| s.error_rate),
        summaries.len(),
    )
}

/// Whether a model's replications meet the SLO: the whole model's against `[slo]`, or
/// in a `[[services]]` model every service against its own.
pub fn meets_slo(experiment: &Experiment, summaries: &[&Summary]) -> bool {
    match per_service(summaries) {
        None => replications_pass(&experiment.slo, summaries),
        Some(services) => services
            .iter()
            .zip(&experiment.service_slos)
            .all(|(own, slo)| replications_pass(slo, own)),
    }
}
