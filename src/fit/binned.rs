//! Maximum-likelihood fits to histogram buckets (Prometheus `le` counts).
//!
//! A histogram only says how many observations fell between two bounds, so the
//! likelihood is multinomial: the sum over buckets of count x ln(P(bucket)). It has
//! no closed-form maximum for any family here, so a Nelder-Mead simplex searches it
//! in log-parameters, started from the moment estimates the buckets give.

use super::{aic, fit_moments, sort_by_aic, Dist, Family, Ranked, FAMILIES};

/// Bucket counts between consecutive bounds (seconds), derived from cumulative counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// Upper bound of each bucket in seconds (the last may be infinite).
    pub upper_s: Vec<f64>,
    /// Observations in `(previous bound, upper]`.
    pub counts: Vec<f64>,
    /// Mean from `_sum / _count`, when the histogram has them.
    pub exact_mean_s: Option<f64>,
}

impl Buckets {
    /// From cumulative counts at increasing bounds (already checked).
    pub fn from_cumulative(upper_s: &[f64], cumulative: &[f64], exact_mean_s: Option<f64>) -> Self {
        let counts = cumulative
            .iter()
            .scan(0.0, |previous, c| {
                let count = c - *previous;
                *previous = *c;
                Some(count)
            })
            .collect();
        Buckets {
            upper_s: upper_s.to_vec(),
            counts,
            exact_mean_s,
        }
    }

    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// Mean and standard deviation from bucket midpoints (the open last bucket at 1.5x
    /// its lower bound); the mean is replaced by `_sum / _count` when known.
    pub fn moments(&self) -> (f64, f64) {
        let mut lower = 0.0;
        let mut points = Vec::new();
        for (upper, count) in self.upper_s.iter().zip(&self.counts) {
            let mid = if upper.is_finite() {
                (lower + upper) / 2.0
            } else {
                lower * 1.5
            };
            points.push((mid, *count));
            lower = *upper;
        }
        let total = self.total();
        let mean = points.iter().map(|(m, c)| m * c).sum::<f64>() / total;
        let var = points
            .iter()
            .map(|(m, c)| c * (m - mean).powi(2))
            .sum::<f64>()
            / total;
        (
            self.exact_mean_s.unwrap_or(mean),
            var.sqrt().max(mean * 0.05),
        )
    }

    /// The multinomial log-likelihood of the counts under `dist`.
    pub fn log_likelihood(&self, dist: &Dist) -> f64 {
        if !dist.is_valid() {
            return f64::NEG_INFINITY;
        }
        let mut below = 0.0;
        let mut total = 0.0;
        for (upper, count) in self.upper_s.iter().zip(&self.counts) {
            let at = if upper.is_finite() {
                dist.cdf(*upper)
            } else {
                1.0
            };
            let p = (at - below).max(0.0);
            below = at;
            if *count > 0.0 {
                if p <= 0.0 || !p.is_finite() {
                    return f64::NEG_INFINITY;
                }
                total += count * p.ln();
            }
        }
        total
    }
}

/// Parameters as the optimiser sees them (unbounded), and back.
fn to_free(d: &Dist) -> [f64; 2] {
    match d.family {
        Family::Exponential => [d.a.ln(), 0.0],
        Family::Lognormal => [d.a, d.b.ln()],
        Family::Gamma | Family::Weibull => [d.a.ln(), d.b.ln()],
    }
}

fn from_free(family: Family, x: [f64; 2]) -> Dist {
    match family {
        Family::Exponential => Dist {
            family,
            a: x[0].exp(),
            b: 0.0,
        },
        Family::Lognormal => Dist {
            family,
            a: x[0],
            b: x[1].exp(),
        },
        Family::Gamma | Family::Weibull => Dist {
            family,
            a: x[0].exp(),
            b: x[1].exp(),
        },
    }
}

/// Minimises `f` over `dimensions` (1 or 2) coordinates from `start` by Nelder-Mead.
pub fn nelder_mead(f: impl Fn([f64; 2]) -> f64, start: [f64; 2], dimensions: usize) -> [f64; 2] {
    let value = |x: [f64; 2]| {
        let v = f(x);
        if v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    };
    let mut simplex: Vec<([f64; 2], f64)> = vec![(start, value(start))];
    for d in 0..dimensions {
        let mut x = start;
        x[d] += 0.3;
        simplex.push((x, value(x)));
    }
    let combine =
        |a: [f64; 2], b: [f64; 2], t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
    for _ in 0..2000 {
        simplex.sort_by(|p, q| p.1.total_cmp(&q.1));
        let (best, worst) = (simplex[0].1, simplex[dimensions].1);
        if (worst - best).abs() <= 1e-10 * (1.0 + best.abs()) {
            break;
        }
        let mut centroid = [0.0; 2];
        for (x, _) in &simplex[..dimensions] {
            centroid[0] += x[0] / dimensions as f64;
            centroid[1] += x[1] / dimensions as f64;
        }
        let worst_x = simplex[dimensions].0;
        let reflected = combine(centroid, worst_x, -1.0);
        let reflected_value = value(reflected);
        if reflected_value < best {
            let expanded = combine(centroid, worst_x, -2.0);
            let expanded_value = value(expanded);
            simplex[dimensions] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[dimensions - 1].1 {
            simplex[dimensions] = (reflected, reflected_value);
        } else {
            let contracted = combine(centroid, worst_x, 0.5);
            let contracted_value = value(contracted);
            if contracted_value < worst {
                simplex[dimensions] = (contracted, contracted_value);
            } else {
                let best_x = simplex[0].0;
                for point in simplex.iter_mut().skip(1) {
                    point.0 = combine(best_x, point.0, 0.5);
                    point.1 = value(point.0);
                }
            }
        }
    }
    simplex.sort_by(|p, q| p.1.total_cmp(&q.1));
    simplex[0].0
}

/// The maximum-likelihood `family` for the buckets.
pub fn fit_binned(family: Family, buckets: &Buckets) -> Dist {
    let (mean, stddev) = buckets.moments();
    let seed = fit_moments(family, mean, stddev);
    let objective = |x: [f64; 2]| -buckets.log_likelihood(&from_free(family, x));
    let dimensions = family.parameter_count();
    // A restart from the first optimum guards against a collapsed simplex.
    let first = nelder_mead(objective, to_free(&seed), dimensions);
    from_free(family, nelder_mead(objective, first, dimensions))
}

/// Fits every family to the buckets and ranks them by AIC.
pub fn rank_binned(buckets: &Buckets) -> Vec<Ranked> {
    let ranked = FAMILIES
        .iter()
        .map(|family| {
            let dist = fit_binned(*family, buckets);
            let log_likelihood = buckets.log_likelihood(&dist);
            Ranked {
                dist,
                log_likelihood: Some(log_likelihood),
                aic: Some(aic(family.parameter_count(), log_likelihood)),
                delta_aic: None,
                ks_distance: None,
                ks_p_value: None,
                time: dist.time_spec(),
            }
        })
        .collect();
    sort_by_aic(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let x = nelder_mead(
            |x| (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2),
            [0.0, 0.0],
            2,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] + 2.0).abs() < 1e-4,
            "{x:?}"
        );
        let y = nelder_mead(|x| (x[0] - 0.5).powi(2), [3.0, 0.0], 1);
        assert!((y[0] - 0.5).abs() < 1e-4, "{y:?}");
    }

    #[test]
    fn exact_bucket_probabilities_recover_the_distribution() {
        // Counts proportional to the true bucket probabilities: the optimum is the truth.
        let truth = Dist {
            family: Family::Lognormal,
            a: (0.025f64).ln(),
            b: 0.75,
        };
        let upper = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, f64::INFINITY];
        let mut cumulative = Vec::new();
        for u in upper {
            cumulative.push(1e6 * if u.is_finite() { truth.cdf(u) } else { 1.0 });
        }
        let buckets = Buckets::from_cumulative(&upper, &cumulative, None);
        let fitted = fit_binned(Family::Lognormal, &buckets);
        assert!((fitted.a - truth.a).abs() < 1e-3, "{fitted:?}");
        assert!((fitted.b - truth.b).abs() < 1e-3, "{fitted:?}");
    }
}
