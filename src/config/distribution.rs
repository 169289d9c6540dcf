//! Distribution specs from model files, checked and turned into samplers.
//!
//! A step's time, a connect time or an empirical trace is written as a small
//! table (`{ dist = "lognormal", median = "2ms", p99 = "15ms" }`). This module
//! checks every parameter with the checked constructors of `rand_distr` (so a
//! bad parameter is an input error that names the step, never a panic) and
//! produces a `TimeDist` that draws durations in nanoseconds.

use std::path::Path;

use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Weibull};
use serde::Deserialize;

use super::duration::parse_duration;

/// The 99th percentile of the standard normal distribution.
const NORMAL_Z99: f64 = 2.326_347_874_040_840_8;
/// Redraws before a truncated sample is clamped to `max` (keeps draws bounded in time).
const TRUNCATION_REDRAWS: u32 = 64;
/// Every draw saturates here, in ns (about 11.6 days): far beyond any real step, and
/// small enough that simulated-time arithmetic on it stays exact in an `f64` and a `u64`
/// (a Weibull of shape 0.01 or an empirical 1e305 ms would otherwise overflow both).
pub const MAX_SAMPLE_NS: f64 = 1e15;

/// A distribution as written in a model file. Durations are strings with units.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistSpec {
    pub dist: String,
    pub value: Option<String>,
    pub mean: Option<String>,
    pub median: Option<String>,
    pub p99: Option<String>,
    pub cv: Option<f64>,
    pub scale: Option<String>,
    pub shape: Option<f64>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub file: Option<String>,
    pub column: Option<String>,
    pub components: Option<Vec<DistSpec>>,
    /// Only inside `mixture.components`: the relative weight of this component.
    pub weight: Option<f64>,
}

/// Why a spec is invalid: the sub-field at fault, the message and a fix.
#[derive(Debug, Clone, PartialEq)]
pub struct DistError {
    pub subfield: String,
    pub message: String,
    pub hint: String,
}

fn dist_error(subfield: &str, message: impl Into<String>, hint: impl Into<String>) -> DistError {
    DistError {
        subfield: subfield.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

#[derive(Debug, Clone)]
enum Sampler {
    Constant(f64),
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
    Weibull(Weibull<f64>),
    Uniform {
        min_ns: f64,
        width_ns: f64,
    },
    Empirical(Vec<f64>),
    Mixture {
        cumulative_weight: Vec<f64>,
        parts: Vec<TimeDist>,
    },
}

/// A checked distribution of durations, sampled in nanoseconds.
#[derive(Debug, Clone)]
pub struct TimeDist {
    sampler: Sampler,
    max_ns: Option<f64>,
    /// Mean of the untruncated distribution, for closed-form estimates and reports.
    pub mean_ns: f64,
}

impl TimeDist {
    /// Draws one duration in nanoseconds (never negative, at most [`MAX_SAMPLE_NS`]).
    #[inline]
    pub fn sample_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.sample_truncated(rng).min(MAX_SAMPLE_NS)
    }

    #[inline]
    fn sample_truncated<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let Some(max_ns) = self.max_ns else {
            return self.sample_untruncated(rng);
        };
        for _ in 0..TRUNCATION_REDRAWS {
            let x = self.sample_untruncated(rng);
            if x <= max_ns {
                return x;
            }
        }
        max_ns
    }

    #[inline]
    fn sample_untruncated<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match &self.sampler {
            Sampler::Constant(v) => *v,
            Sampler::Exponential(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
            Sampler::Gamma(d) => d.sample(rng),
            Sampler::Weibull(d) => d.sample(rng),
            Sampler::Uniform { min_ns, width_ns } => min_ns + width_ns * rng.gen::<f64>(),
            Sampler::Empirical(values) => values[rng.gen_range(0..values.len())],
            Sampler::Mixture {
                cumulative_weight,
                parts,
            } => {
                let u: f64 = rng.gen();
                let index = cumulative_weight
                    .iter()
                    .position(|&c| u < c)
                    .unwrap_or(parts.len() - 1);
                parts[index].sample_ns(rng)
            }
        }
    }
}

fn duration_ns(subfield: &str, text: &Option<String>, dist: &str) -> Result<f64, DistError> {
    let text = text.as_ref().ok_or_else(|| {
        dist_error(
            subfield,
            format!("`{dist}` needs `{subfield}`"),
            format!("add `{subfield} = \"10ms\"` (a duration with a unit)"),
        )
    })?;
    parse_duration(text)
        .map(|t| t.0 as f64)
        .map_err(|why| dist_error(subfield, why, "write a duration with a unit, e.g. \"10ms\""))
}

fn positive_duration_ns(
    subfield: &str,
    text: &Option<String>,
    dist: &str,
) -> Result<f64, DistError> {
    let ns = duration_ns(subfield, text, dist)?;
    if ns <= 0.0 {
        return Err(dist_error(
            subfield,
            format!(
                "`{subfield}` of {} distribution must be above zero",
                a(dist)
            ),
            "use a positive duration, or `dist = \"constant\"` for a fixed time",
        ));
    }
    Ok(ns)
}

/// "a gamma", "an exponential": the article for a distribution's name.
fn a(dist: &str) -> String {
    if dist.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {dist}")
    } else {
        format!("a {dist}")
    }
}

fn positive_number(subfield: &str, value: Option<f64>, dist: &str) -> Result<f64, DistError> {
    match value {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        Some(v) => Err(dist_error(
            subfield,
            format!(
                "`{subfield}` of {} distribution must be a positive number, not {v}",
                a(dist)
            ),
            if subfield == "cv" {
                "set `cv` above zero: the standard deviation over the mean, e.g. cv = 0.5 (1.0 is as spread as exponential)".to_string()
            } else {
                format!("set `{subfield}` above zero")
            },
        )),
        None => Err(dist_error(
            subfield,
            format!("`{dist}` needs `{subfield}`"),
            format!(
                "add `{subfield} = {}` (a positive number)",
                if subfield == "cv" { "0.5" } else { "1.5" }
            ),
        )),
    }
}

/// The parameters each kind accepts, so a stray one is reported instead of ignored.
fn allowed_fields(dist: &str) -> &'static [&'static str] {
    match dist {
        "constant" => &["value"],
        "exponential" => &["mean"],
        "lognormal" => &["median", "p99", "mean", "cv"],
        "gamma" => &["mean", "cv"],
        "weibull" => &["scale", "shape"],
        "uniform" => &["min"],
        "empirical" => &["file", "column"],
        "mixture" => &["components"],
        _ => &[],
    }
}

const KINDS: [&str; 8] = [
    "constant",
    "exponential",
    "lognormal",
    "gamma",
    "weibull",
    "uniform",
    "empirical",
    "mixture",
];

/// Refuses fields that do not apply to the distribution `dist` (e.g. `cv` on a lognormal).
fn check_fields_apply(spec: &DistSpec, dist: &str) -> Result<(), DistError> {
    let present: [(&str, bool); 12] = [
        ("value", spec.value.is_some()),
        ("mean", spec.mean.is_some()),
        ("median", spec.median.is_some()),
        ("p99", spec.p99.is_some()),
        ("cv", spec.cv.is_some()),
        ("scale", spec.scale.is_some()),
        ("shape", spec.shape.is_some()),
        ("min", spec.min.is_some()),
        ("file", spec.file.is_some()),
        ("column", spec.column.is_some()),
        ("components", spec.components.is_some()),
        ("weight", false),
    ];
    for (name, is_set) in present {
        if is_set && !allowed_fields(dist).contains(&name) {
            return Err(dist_error(
                name,
                format!("`{name}` does not apply to {} distribution", a(dist)),
                format!(
                    "remove `{name}`; {} distribution takes {}{}",
                    a(dist),
                    allowed_fields(dist).join(", "),
                    if dist == "uniform" {
                        ", max"
                    } else {
                        " (and optional max)"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Checks `spec` and builds its sampler. `base_dir` resolves `empirical` files.
pub fn build_time_dist(spec: &DistSpec, base_dir: &Path) -> Result<TimeDist, DistError> {
    let dist = spec.dist.as_str();
    if !KINDS.contains(&dist) {
        let suggestion = super::suggest(dist, &KINDS)
            .map(|s| format!("did you mean \"{s}\"? "))
            .unwrap_or_default();
        return Err(dist_error(
            "dist",
            format!("unknown distribution \"{dist}\""),
            format!("{suggestion}use one of {}", KINDS.join(", ")),
        ));
    }
    check_fields_apply(spec, dist)?;
    let max_ns = match (&spec.max, dist) {
        (_, "uniform") | (None, _) => None,
        (Some(_), _) => Some(positive_duration_ns("max", &spec.max, dist)?),
    };
    let (sampler, mean_ns) = match dist {
        "constant" => {
            let v = duration_ns("value", &spec.value, dist)?;
            (Sampler::Constant(v), v)
        }
        "exponential" => {
            let mean = positive_duration_ns("mean", &spec.mean, dist)?;
            let d = Exp::new(1.0 / mean)
                .map_err(|e| dist_error("mean", e.to_string(), "use a positive mean"))?;
            (Sampler::Exponential(d), mean)
        }
        "lognormal" => lognormal(spec)?,
        "gamma" => {
            let mean = positive_duration_ns("mean", &spec.mean, dist)?;
            let cv = positive_number("cv", spec.cv, dist)?;
            let shape = 1.0 / (cv * cv);
            let d = Gamma::new(shape, mean / shape)
                .map_err(|e| dist_error("cv", e.to_string(), "use a positive mean and cv"))?;
            (Sampler::Gamma(d), mean)
        }
        "weibull" => {
            let scale = positive_duration_ns("scale", &spec.scale, dist)?;
            let shape = positive_number("shape", spec.shape, dist)?;
            let d = Weibull::new(scale, shape).map_err(|e| {
                dist_error("shape", e.to_string(), "use a positive scale and shape")
            })?;
            let mean = scale * gamma_fn(1.0 + 1.0 / shape);
            (Sampler::Weibull(d), mean)
        }
        "uniform" => {
            let min = duration_ns("min", &spec.min, dist)?;
            let max = duration_ns("max", &spec.max, dist)?;
            if max < min {
                return Err(dist_error(
                    "max",
                    format!(
                        "uniform max ({}) is below min ({})",
                        spec.max.as_deref().unwrap_or_default(),
                        spec.min.as_deref().unwrap_or_default()
                    ),
                    "swap them so that min <= max",
                ));
            }
            (
                Sampler::Uniform {
                    min_ns: min,
                    width_ns: max - min,
                },
                (min + max) / 2.0,
            )
        }
        "empirical" => empirical(spec, base_dir)?,
        "mixture" => mixture(spec, base_dir)?,
        _ => unreachable!("checked against KINDS above"),
    };
    Ok(TimeDist {
        sampler,
        max_ns,
        mean_ns,
    })
}

fn lognormal(spec: &DistSpec) -> Result<(Sampler, f64), DistError> {
    let dist = "lognormal";
    let (mu, sigma) = match (&spec.median, &spec.p99, &spec.mean, spec.cv) {
        (Some(_), Some(_), None, None) => {
            let median = positive_duration_ns("median", &spec.median, dist)?;
            let p99 = positive_duration_ns("p99", &spec.p99, dist)?;
            if p99 <= median {
                return Err(dist_error(
                    "p99",
                    format!(
                        "lognormal p99 ({}) must be above its median ({})",
                        spec.p99.as_deref().unwrap_or_default(),
                        spec.median.as_deref().unwrap_or_default()
                    ),
                    "a latency's 99th percentile is larger than its median; raise p99 or lower median (for a fixed time use dist = \"constant\")",
                ));
            }
            (median.ln(), (p99 / median).ln() / NORMAL_Z99)
        }
        (None, None, Some(_), Some(_)) => {
            let mean = positive_duration_ns("mean", &spec.mean, dist)?;
            let cv = positive_number("cv", spec.cv, dist)?;
            let sigma2 = (1.0 + cv * cv).ln();
            (mean.ln() - sigma2 / 2.0, sigma2.sqrt())
        }
        (median, p99, mean, cv) => {
            let example = "write e.g. { dist = \"lognormal\", median = \"2ms\", p99 = \"15ms\" } or { dist = \"lognormal\", mean = \"3ms\", cv = 1.0 }";
            let by_quantiles = median.is_some() || p99.is_some();
            let by_moments = mean.is_some() || cv.is_some();
            let (subfield, message) = if by_quantiles && by_moments {
                (
                    if mean.is_some() { "mean" } else { "cv" },
                    "lognormal takes either `median` and `p99`, or `mean` and `cv`, not a mix",
                )
            } else if median.is_some() {
                ("p99", "lognormal with `median` also needs `p99`")
            } else if p99.is_some() {
                ("median", "lognormal with `p99` also needs `median`")
            } else if mean.is_some() {
                ("cv", "lognormal with `mean` also needs `cv`")
            } else if cv.is_some() {
                ("mean", "lognormal with `cv` also needs `mean`")
            } else {
                (
                    "median",
                    "lognormal needs either `median` and `p99`, or `mean` and `cv`",
                )
            };
            return Err(dist_error(subfield, message, example));
        }
    };
    let d = LogNormal::new(mu, sigma)
        .map_err(|e| dist_error("p99", e.to_string(), "check median and p99"))?;
    Ok((Sampler::LogNormal(d), (mu + sigma * sigma / 2.0).exp()))
}

fn empirical(spec: &DistSpec, base_dir: &Path) -> Result<(Sampler, f64), DistError> {
    let file = spec.file.as_ref().ok_or_else(|| {
        dist_error(
            "file",
            "empirical needs `file`",
            "add file = \"data/times.csv\" (relative to the model file)",
        )
    })?;
    let column = spec.column.as_ref().ok_or_else(|| {
        dist_error(
            "column",
            "empirical needs `column`",
            "add column = \"<header of a column in milliseconds>\"",
        )
    })?;
    let path = base_dir.join(file);
    let mut reader = crate::config::input_file::open_regular(&path)
        .map(csv::Reader::from_reader)
        .map_err(|e| {
            dist_error(
                "file",
                format!("cannot read {}: {e}", path.display()),
                "check the path; it is relative to the model file",
            )
        })?;
    let headers = reader
        .headers()
        .map_err(|e| {
            dist_error(
                "file",
                format!("cannot read the header of {}: {e}", path.display()),
                "the first row must name the columns",
            )
        })?
        .clone();
    let index = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| {
            dist_error(
                "column",
                format!("{} has no column \"{column}\"", path.display()),
                format!(
                    "use one of: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
    let mut values_ns = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            dist_error(
                "file",
                format!("{}: {e}", path.display()),
                "fix the CSV row",
            )
        })?;
        let cell = record.get(index).unwrap_or("").trim();
        let ms: f64 = cell.parse().map_err(|_| {
            dist_error(
                "file",
                format!(
                    "{} row {}: \"{cell}\" is not a number of milliseconds",
                    path.display(),
                    row + 2
                ),
                "empirical columns hold plain numbers in milliseconds",
            )
        })?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(dist_error(
                "file",
                format!(
                    "{} row {}: {ms} is not a non-negative time",
                    path.display(),
                    row + 2
                ),
                "remove negative or infinite values",
            ));
        }
        values_ns.push(ms * 1e6);
    }
    if values_ns.is_empty() {
        return Err(dist_error(
            "file",
            format!("{} has no data rows", path.display()),
            "add measured values below the header",
        ));
    }
    let mean = values_ns.iter().sum::<f64>() / values_ns.len() as f64;
    Ok((Sampler::Empirical(values_ns), mean))
}

fn mixture(spec: &DistSpec, base_dir: &Path) -> Result<(Sampler, f64), DistError> {
    let components = spec.components.as_ref().filter(|c| !c.is_empty()).ok_or_else(|| {
        dist_error("components", "mixture needs a non-empty `components` list", "write components = [{ weight = 0.9, dist = \"exponential\", mean = \"2ms\" }, ...]")
    })?;
    let mut parts = Vec::with_capacity(components.len());
    let mut weights = Vec::with_capacity(components.len());
    for (i, component) in components.iter().enumerate() {
        let weight = component.weight.unwrap_or(f64::NAN);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(dist_error(
                &format!("components[{i}].weight"),
                "every mixture component needs a positive `weight`",
                "add weight = 0.5 (weights are relative and need not sum to 1)",
            ));
        }
        let part = build_time_dist(component, base_dir).map_err(|e| DistError {
            subfield: format!("components[{i}].{}", e.subfield),
            ..e
        })?;
        weights.push(weight);
        parts.push(part);
    }
    // Relative to the largest, so weights of 1e308 do not sum to infinity.
    let largest = weights.iter().copied().fold(0.0, f64::max);
    weights.iter_mut().for_each(|w| *w /= largest);
    let total: f64 = weights.iter().sum();
    let mut running = 0.0;
    let cumulative_weight = weights
        .iter()
        .map(|w| {
            running += w / total;
            running
        })
        .collect();
    let mean = parts
        .iter()
        .zip(&weights)
        .map(|(p, w)| p.mean_ns * w / total)
        .sum();
    Ok((
        Sampler::Mixture {
            cumulative_weight,
            parts,
        },
        mean,
    ))
}

/// The gamma function (Lanczos approximation), for the Weibull mean.
fn gamma_fn(x: f64) -> f64 {
    statrs::function::gamma::gamma(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn spec(toml_text: &str) -> DistSpec {
        toml::from_str(toml_text).unwrap()
    }

    fn sample_mean(d: &TimeDist, n: usize) -> f64 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        (0..n).map(|_| d.sample_ns(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn lognormal_median_p99_matches_quantiles() {
        let d = build_time_dist(
            &spec("dist='lognormal'\nmedian='2ms'\np99='15ms'"),
            Path::new("."),
        )
        .unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut xs: Vec<f64> = (0..200_000).map(|_| d.sample_ns(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[100_000];
        let p99 = xs[198_000];
        assert!((median / 2e6 - 1.0).abs() < 0.02, "median {median}");
        assert!((p99 / 15e6 - 1.0).abs() < 0.05, "p99 {p99}");
    }

    #[test]
    fn means_match_parameters() {
        for (text, mean_ns) in [
            ("dist='exponential'\nmean='3ms'", 3e6),
            ("dist='gamma'\nmean='4ms'\ncv=0.5", 4e6),
            ("dist='lognormal'\nmean='5ms'\ncv=1.0", 5e6),
            ("dist='uniform'\nmin='1ms'\nmax='3ms'", 2e6),
            ("dist='constant'\nvalue='50ms'", 50e6),
        ] {
            let d = build_time_dist(&spec(text), Path::new(".")).unwrap();
            assert!((d.mean_ns / mean_ns - 1.0).abs() < 1e-9, "{text}");
            let m = sample_mean(&d, 200_000);
            assert!((m / mean_ns - 1.0).abs() < 0.02, "{text}: sampled mean {m}");
        }
    }

    #[test]
    fn empirical_resamples_the_measured_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("times.csv"),
            "endpoint,latency_ms\nlogin,2\nlogin,4\nlogin,6\n",
        )
        .unwrap();
        let d = build_time_dist(
            &spec("dist='empirical'\nfile='times.csv'\ncolumn='latency_ms'"),
            dir.path(),
        )
        .unwrap();
        assert!((d.mean_ns - 4e6).abs() < 1.0);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let draws: Vec<f64> = (0..1000).map(|_| d.sample_ns(&mut rng)).collect();
        assert!(draws.iter().all(|x| [2e6, 4e6, 6e6].contains(x)));
        assert!((draws.iter().sum::<f64>() / 1000.0 / 4e6 - 1.0).abs() < 0.05);
        let missing = build_time_dist(
            &spec("dist='empirical'\nfile='times.csv'\ncolumn='p50'"),
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(missing.subfield, "column");
    }

    #[test]
    fn max_truncates() {
        let d = build_time_dist(
            &spec("dist='exponential'\nmean='10ms'\nmax='12ms'"),
            Path::new("."),
        )
        .unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        assert!((0..50_000).all(|_| d.sample_ns(&mut rng) <= 12e6));
    }

    #[test]
    fn mixture_weights_the_components() {
        let d = build_time_dist(
            &spec("dist='mixture'\ncomponents=[{weight=3, dist='constant', value='1ms'}, {weight=1, dist='constant', value='5ms'}]"),
            Path::new("."),
        )
        .unwrap();
        assert!((d.mean_ns - 2e6).abs() < 1.0);
        assert!((sample_mean(&d, 100_000) / 2e6 - 1.0).abs() < 0.02);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        for (text, subfield) in [
            ("dist='lognormal'\nmedian='20ms'\np99='15ms'", "p99"),
            ("dist='exponential'\nmean='0s'", "mean"),
            ("dist='gamma'\nmean='1ms'\ncv=-1", "cv"),
            ("dist='uniform'\nmin='3ms'\nmax='1ms'", "max"),
            ("dist='weibul'\nscale='1ms'\nshape=1", "dist"),
            ("dist='constant'\nmean='1ms'", "mean"),
            ("dist='mixture'\ncomponents=[]", "components"),
        ] {
            let err = build_time_dist(&spec(text), Path::new(".")).unwrap_err();
            assert_eq!(err.subfield, subfield, "{text}");
        }
    }
}
