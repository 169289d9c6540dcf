//! Replications to a mean and a Student-t confidence interval.
//!
//! Independent replications of a run are independent samples of each metric, so
//! the classic t interval applies; it is what points.csv and the SLO checks use.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A sample mean with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// Half-width of the interval.
    pub half_width: f64,
    pub samples: usize,
}

/// The two-sided Student-t quantile for `level` (e.g. 0.95) with `n - 1` degrees of freedom.
pub fn t_quantile(level: f64, n: usize) -> f64 {
    if n < 2 {
        return f64::INFINITY;
    }
    let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("degrees of freedom are positive");
    dist.inverse_cdf(0.5 + level / 2.0)
}

/// Mean and `level` confidence interval of `values`; NaNs (no data in a run) are skipped.
pub fn estimate(values: &[f64], level: f64) -> Estimate {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return Estimate {
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            half_width: f64::NAN,
            samples: 0,
        };
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Estimate {
            mean,
            lo: mean,
            hi: mean,
            half_width: 0.0,
            samples: 1,
        };
    }
    let variance = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half_width = t_quantile(level, n) * (variance / n as f64).sqrt();
    Estimate {
        mean,
        lo: mean - half_width,
        hi: mean + half_width,
        half_width,
        samples: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // Two-sided 95%: 12.706 (1 df), 2.776 (4 df), 2.045 (29 df).
        assert!((t_quantile(0.95, 2) - 12.706).abs() < 1e-3);
        assert!((t_quantile(0.95, 5) - 2.776).abs() < 1e-3);
        assert!((t_quantile(0.95, 30) - 2.045).abs() < 1e-3);
    }

    #[test]
    fn interval_of_known_sample() {
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        assert_eq!(e.mean, 3.0);
        // s = sqrt(2.5), se = s / sqrt(5) = 0.7071, t = 2.776
        assert!((e.half_width - 2.776 * (0.5f64).sqrt()).abs() < 1e-3);
        assert!(estimate(&[f64::NAN], 0.95).mean.is_nan());
    }
}
