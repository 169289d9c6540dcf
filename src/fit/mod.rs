//! Fitting time distributions to measured durations, for the `time = { ... }` of a model.
//!
//! A model's step times are only as good as their source. This module fits the four
//! families a model file accepts with two parameters (exponential, lognormal, gamma,
//! Weibull) to what production records: raw samples (maximum likelihood), histogram
//! buckets (maximum likelihood of the multinomial bucket counts, see [`binned`]) or a
//! mean and standard deviation only (moment matching). Fits are ranked by AIC; for raw
//! samples a Kolmogorov-Smirnov distance says how far the best is from the data.
//! All times here are in seconds.

pub mod binned;
pub mod input;

use serde::Serialize;
use statrs::distribution::{Continuous, ContinuousCDF, Exp, Gamma, LogNormal, Weibull};
use statrs::function::gamma::{digamma, gamma};

/// The 99th percentile of the standard normal distribution (as the model parser uses).
const NORMAL_Z99: f64 = 2.326_347_874_040_840_8;

/// A two-parameter family (exponential has one) that model files accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Exponential,
    Lognormal,
    Gamma,
    Weibull,
}

pub const FAMILIES: [Family; 4] = [
    Family::Exponential,
    Family::Lognormal,
    Family::Gamma,
    Family::Weibull,
];

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Exponential => "exponential",
            Family::Lognormal => "lognormal",
            Family::Gamma => "gamma",
            Family::Weibull => "weibull",
        }
    }
    /// Free parameters, for AIC.
    pub fn parameter_count(self) -> usize {
        if self == Family::Exponential {
            1
        } else {
            2
        }
    }
}

/// A distribution of one family with its parameters, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dist {
    pub family: Family,
    /// exponential: mean (s); lognormal: mu of ln(seconds); gamma, weibull: shape.
    pub a: f64,
    /// exponential: unused; lognormal: sigma of ln(seconds); gamma, weibull: scale (s).
    pub b: f64,
}

impl Dist {
    /// Whether the parameters describe a proper distribution.
    pub fn is_valid(&self) -> bool {
        let finite = self.a.is_finite() && self.b.is_finite();
        finite
            && match self.family {
                Family::Exponential => self.a > 0.0,
                Family::Lognormal => self.b > 0.0,
                Family::Gamma | Family::Weibull => self.a > 0.0 && self.b > 0.0,
            }
    }

    pub fn cdf(&self, seconds: f64) -> f64 {
        if seconds <= 0.0 {
            return 0.0;
        }
        match self.family {
            Family::Exponential => 1.0 - (-seconds / self.a).exp(),
            Family::Lognormal => {
                LogNormal::new(self.a, self.b).map_or(f64::NAN, |d| d.cdf(seconds))
            }
            Family::Gamma => Gamma::new(self.a, 1.0 / self.b).map_or(f64::NAN, |d| d.cdf(seconds)),
            Family::Weibull => 1.0 - (-(seconds / self.b).powf(self.a)).exp(),
        }
    }

    pub fn ln_pdf(&self, seconds: f64) -> f64 {
        match self.family {
            Family::Exponential => Exp::new(1.0 / self.a).map_or(f64::NAN, |d| d.ln_pdf(seconds)),
            Family::Lognormal => {
                LogNormal::new(self.a, self.b).map_or(f64::NAN, |d| d.ln_pdf(seconds))
            }
            Family::Gamma => {
                Gamma::new(self.a, 1.0 / self.b).map_or(f64::NAN, |d| d.ln_pdf(seconds))
            }
            Family::Weibull => Weibull::new(self.a, self.b).map_or(f64::NAN, |d| d.ln_pdf(seconds)),
        }
    }

    pub fn mean(&self) -> f64 {
        match self.family {
            Family::Exponential => self.a,
            Family::Lognormal => (self.a + self.b * self.b / 2.0).exp(),
            Family::Gamma => self.a * self.b,
            Family::Weibull => self.b * gamma(1.0 + 1.0 / self.a),
        }
    }

    /// The parameters in words, e.g. "median 25.1ms, p99 152ms".
    pub fn describe(&self) -> String {
        match self.family {
            Family::Exponential => format!("mean {}", duration_text(self.a)),
            Family::Lognormal => format!(
                "median {}, p99 {} (sigma {:.3})",
                duration_text(self.a.exp()),
                duration_text((self.a + NORMAL_Z99 * self.b).exp()),
                self.b
            ),
            Family::Gamma => format!(
                "mean {}, cv {:.3}",
                duration_text(self.mean()),
                1.0 / self.a.sqrt()
            ),
            Family::Weibull => format!("scale {}, shape {:.3}", duration_text(self.b), self.a),
        }
    }

    /// The distribution as a model file writes it, e.g.
    /// `{ dist = "lognormal", median = "25.1ms", p99 = "152ms" }`.
    pub fn time_spec(&self) -> String {
        match self.family {
            Family::Exponential => format!(
                "{{ dist = \"exponential\", mean = \"{}\" }}",
                duration_text(self.a)
            ),
            Family::Lognormal => format!(
                "{{ dist = \"lognormal\", median = \"{}\", p99 = \"{}\" }}",
                duration_text(self.a.exp()),
                duration_text((self.a + NORMAL_Z99 * self.b).exp())
            ),
            Family::Gamma => format!(
                "{{ dist = \"gamma\", mean = \"{}\", cv = {:.4} }}",
                duration_text(self.mean()),
                1.0 / self.a.sqrt()
            ),
            Family::Weibull => format!(
                "{{ dist = \"weibull\", scale = \"{}\", shape = {:.4} }}",
                duration_text(self.b),
                self.a
            ),
        }
    }
}

/// Seconds as a model-file duration with four significant digits: "25.13ms", "812.0us".
pub fn duration_text(seconds: f64) -> String {
    let (value, unit) = if seconds >= 1.0 {
        (seconds, "s")
    } else if seconds >= 1e-3 {
        (seconds * 1e3, "ms")
    } else if seconds >= 1e-6 {
        (seconds * 1e6, "us")
    } else {
        (seconds * 1e9, "ns")
    };
    let decimals = (3 - value.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{value:.decimals$}{unit}")
}

/// Finds the root of a monotone `f` on [low, high] by bisection in log space.
fn log_bisect(mut low: f64, mut high: f64, f: impl Fn(f64) -> f64) -> f64 {
    let increasing = f(high) > f(low);
    for _ in 0..200 {
        let mid = (low * high).sqrt();
        if (f(mid) > 0.0) == increasing {
            high = mid;
        } else {
            low = mid;
        }
        if high / low < 1.0 + 1e-12 {
            break;
        }
    }
    (low * high).sqrt()
}

/// Maximum-likelihood fit of `family` to positive samples (seconds).
pub fn fit_raw(family: Family, samples: &[f64]) -> Dist {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let mean_ln = samples.iter().map(|x| x.ln()).sum::<f64>() / n;
    match family {
        Family::Exponential => Dist {
            family,
            a: mean,
            b: 0.0,
        },
        Family::Lognormal => {
            let var = samples
                .iter()
                .map(|x| (x.ln() - mean_ln).powi(2))
                .sum::<f64>()
                / n;
            Dist {
                family,
                a: mean_ln,
                b: var.sqrt(),
            }
        }
        Family::Gamma => {
            // ln k - digamma(k) = ln(mean) - mean(ln x): decreasing in k.
            let s = mean.ln() - mean_ln;
            let shape = log_bisect(1e-4, 1e8, |k| k.ln() - digamma(k) - s);
            Dist {
                family,
                a: shape,
                b: mean / shape,
            }
        }
        Family::Weibull => {
            // With l = ln(x / geometric mean) (so mean l = 0), the shape k solves
            // sum(e^(k l) l) / sum(e^(k l)) - 1/k = 0, increasing in k; the weights
            // are taken relative to the largest l so that no power overflows.
            let logs: Vec<f64> = samples.iter().map(|x| x.ln() - mean_ln).collect();
            let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights = |k: f64| logs.iter().map(move |l| (k * (l - top)).exp());
            let score = |k: f64| {
                let total: f64 = weights(k).sum();
                let weighted: f64 = weights(k).zip(&logs).map(|(w, l)| w * l).sum();
                weighted / total - 1.0 / k
            };
            let shape = log_bisect(1e-2, 1e2, score);
            let mean_weight = weights(shape).sum::<f64>() / n;
            let scale = (mean_ln + top).exp() * mean_weight.powf(1.0 / shape);
            Dist {
                family,
                a: shape,
                b: scale,
            }
        }
    }
}

/// The distribution of `family` with this mean and standard deviation (seconds).
/// Exponential matches the mean only (its coefficient of variation is always 1).
pub fn fit_moments(family: Family, mean: f64, stddev: f64) -> Dist {
    let cv = stddev / mean;
    match family {
        Family::Exponential => Dist {
            family,
            a: mean,
            b: 0.0,
        },
        Family::Lognormal => {
            let sigma2 = (1.0 + cv * cv).ln();
            Dist {
                family,
                a: mean.ln() - sigma2 / 2.0,
                b: sigma2.sqrt(),
            }
        }
        Family::Gamma => {
            let shape = 1.0 / (cv * cv);
            Dist {
                family,
                a: shape,
                b: mean / shape,
            }
        }
        Family::Weibull => {
            // cv(k)^2 = G(1+2/k)/G(1+1/k)^2 - 1 decreases in k.
            let cv_of = |k: f64| (gamma(1.0 + 2.0 / k) / gamma(1.0 + 1.0 / k).powi(2) - 1.0).sqrt();
            let shape = log_bisect(0.05, 500.0, |k| cv_of(k) - cv);
            Dist {
                family,
                a: shape,
                b: mean / gamma(1.0 + 1.0 / shape),
            }
        }
    }
}

/// The Kolmogorov-Smirnov distance between sorted samples and `dist`, and its
/// asymptotic p-value (Stephens' small-sample correction).
pub fn kolmogorov_smirnov(sorted: &[f64], dist: &Dist) -> (f64, f64) {
    let n = sorted.len() as f64;
    let distance = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = dist.cdf(*x);
            (f - i as f64 / n).max((i + 1) as f64 / n - f)
        })
        .fold(0.0, f64::max);
    let root = n.sqrt();
    (
        distance,
        kolmogorov_q((root + 0.12 + 0.11 / root) * distance),
    )
}

/// P(K > lambda) for the Kolmogorov distribution.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let j = j as f64;
        let term = (-2.0 * j * j * lambda * lambda).exp();
        sum += if j as u32 % 2 == 1 { term } else { -term };
        if term < 1e-16 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// One fitted family with its scores.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub dist: Dist,
    /// Log-likelihood of the data (raw: density; binned: multinomial), if one exists.
    pub log_likelihood: Option<f64>,
    pub aic: Option<f64>,
    /// AIC minus the best AIC.
    pub delta_aic: Option<f64>,
    /// Kolmogorov-Smirnov distance (raw samples only).
    pub ks_distance: Option<f64>,
    pub ks_p_value: Option<f64>,
    /// The `time = { ... }` value for a model file.
    pub time: String,
}

/// Fits every family to raw samples (seconds) and ranks them by AIC.
pub fn rank_raw(samples: &[f64]) -> Vec<Ranked> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ranked = FAMILIES
        .iter()
        .map(|family| {
            let dist = fit_raw(*family, samples);
            let log_likelihood: f64 = samples.iter().map(|x| dist.ln_pdf(*x)).sum();
            let (ks_distance, ks_p_value) = kolmogorov_smirnov(&sorted, &dist);
            Ranked {
                dist,
                log_likelihood: Some(log_likelihood),
                aic: Some(aic(family.parameter_count(), log_likelihood)),
                delta_aic: None,
                ks_distance: Some(ks_distance),
                ks_p_value: Some(ks_p_value),
                time: dist.time_spec(),
            }
        })
        .collect();
    sort_by_aic(ranked)
}

pub fn aic(parameters: usize, log_likelihood: f64) -> f64 {
    2.0 * parameters as f64 - 2.0 * log_likelihood
}

/// Best (lowest AIC) first, with each AIC's distance from the best; fits without a
/// finite AIC go last.
pub fn sort_by_aic(mut ranked: Vec<Ranked>) -> Vec<Ranked> {
    let key = |r: &Ranked| r.aic.filter(|a| a.is_finite()).unwrap_or(f64::INFINITY);
    ranked.sort_by(|x, y| key(x).total_cmp(&key(y)));
    let best = ranked.first().map(key);
    for r in &mut ranked {
        r.delta_aic = match (r.aic, best) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => Some(a - b),
            _ => None,
        };
    }
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moment_matching_reproduces_mean_and_cv() {
        for family in [Family::Lognormal, Family::Gamma, Family::Weibull] {
            let d = fit_moments(family, 0.05, 0.04);
            assert!(
                (d.mean() - 0.05).abs() < 1e-9 * 0.05 + 1e-12,
                "{family:?} {d:?}"
            );
        }
        let w = fit_moments(Family::Weibull, 1.0, 1.0);
        assert!((w.a - 1.0).abs() < 1e-6, "cv 1 is the exponential: shape 1");
    }

    #[test]
    fn kolmogorov_tail_matches_known_values() {
        // P(K > 1.36) = 0.049 (the 5% critical value), P(K > 1.63) = 0.0098.
        assert!((kolmogorov_q(1.3581) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_q(1.6276) - 0.01).abs() < 1e-3);
    }

    #[test]
    fn durations_are_written_with_units() {
        assert_eq!(duration_text(0.025_13), "25.13ms");
        assert_eq!(duration_text(2.5), "2.500s");
        assert_eq!(duration_text(0.000_812), "812.0us");
    }
}
