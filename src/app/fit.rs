//! `poolsim fit FILE`: fit, rank, print the `time = { ... }` line, chart the CDFs.
//!
//! Reads everything and fits before writing anything, so a bad file leaves no output.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::app::AppError;
use crate::cli::{FitArgs, OutputFormat};
use crate::report::line_chart::{Line, LineChart};

use crate::fit::binned::{rank_binned, Buckets};
use crate::fit::input::{read, FitInput, QueryMoments};
use crate::fit::{duration_text, fit_moments, rank_raw, Ranked, FAMILIES};

/// One fitted data set (a file, a histogram in it, or a query).
#[derive(Debug, Serialize)]
pub struct FitReport {
    pub name: String,
    /// "samples", "histogram" or "moments".
    pub kind: &'static str,
    /// Observations behind the fit (samples, bucket counts or calls).
    pub observations: f64,
    pub mean_ms: f64,
    /// Best first (by AIC where there is a likelihood).
    pub fits: Vec<Ranked>,
    pub notes: Vec<String>,
    pub charts: Vec<String>,
}

pub fn run(args: &FitArgs) -> Result<ExitCode, AppError> {
    let input = read(&args.file, args.unit)?;
    let stem = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("fit")
        .to_string();
    let mut reports = fit_all(&input, &stem);
    for report in &mut reports {
        if let Some(chart) = cdf_chart(&input, report) {
            let file_stem = format!("{}-cdf", slug(&report.name));
            report.charts = chart
                .write(&args.out, &file_stem)?
                .into_iter()
                .map(|f| args.out.join(f).display().to_string())
                .collect();
        }
    }
    match args.format {
        OutputFormat::Table => crate::app::console::out(&render(&args.file, &reports))?,
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&reports).map_err(anyhow::Error::from)?;
            crate::app::console::out(&format!("{json}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Fits every data set in `input`; `stem` names a file of raw samples.
pub fn fit_all(input: &FitInput, stem: &str) -> Vec<FitReport> {
    match input {
        FitInput::Samples {
            column,
            unit,
            values_s,
            zeros_dropped,
        } => {
            let mut notes = vec![format!(
                "maximum likelihood on {} raw samples of `{column}` ({}); KS p-values use parameters fitted to the same data, so they are optimistic (Lilliefors)",
                values_s.len(),
                unit.name()
            )];
            if *zeros_dropped > 0 {
                notes.push(format!("{zeros_dropped} zero durations left out (lognormal, gamma and Weibull densities need positive times)"));
            }
            vec![FitReport {
                name: stem.to_string(),
                kind: "samples",
                observations: values_s.len() as f64,
                mean_ms: values_s.iter().sum::<f64>() / values_s.len() as f64 * 1e3,
                fits: rank_raw(values_s),
                notes,
                charts: Vec::new(),
            }]
        }
        FitInput::Histograms(histograms) => histograms
            .iter()
            .map(|(name, buckets)| FitReport {
                name: name.clone(),
                kind: "histogram",
                observations: buckets.total(),
                mean_ms: buckets.moments().0 * 1e3,
                fits: rank_binned(buckets),
                notes: vec![format!(
                    "maximum likelihood of the multinomial counts in {} buckets; no KS test (the data are binned)",
                    buckets.counts.len()
                )],
                charts: Vec::new(),
            })
            .collect(),
        FitInput::Moments(queries) => queries.iter().map(moment_report).collect(),
    }
}

fn moment_report(query: &QueryMoments) -> FitReport {
    let cv = query.stddev_s / query.mean_s;
    let families: Vec<_> = if cv > 0.0 {
        FAMILIES.to_vec()
    } else {
        vec![crate::fit::Family::Exponential]
    };
    let fits = families
        .into_iter()
        .map(|family| {
            let dist = fit_moments(family, query.mean_s, query.stddev_s);
            Ranked {
                dist,
                log_likelihood: None,
                aic: None,
                delta_aic: None,
                ks_distance: None,
                ks_p_value: None,
                time: dist.time_spec(),
            }
        })
        .collect();
    FitReport {
        name: query.query.clone(),
        kind: "moments",
        observations: query.calls,
        mean_ms: query.mean_s * 1e3,
        fits,
        notes: vec![format!(
            "only two moments were known (mean {}, stddev {}, cv {cv:.2}): moment matching, no likelihood, so no ranking; lognormal, gamma and Weibull match both moments, exponential only the mean (its cv is 1); their tails differ, so prefer raw samples or a histogram for the p99",
            duration_text(query.mean_s),
            duration_text(query.stddev_s)
        )],
        charts: Vec::new(),
    }
}

/// The empirical CDF against each fitted CDF (none for moments: there is no data curve).
fn cdf_chart(input: &FitInput, report: &FitReport) -> Option<LineChart> {
    let data = match input {
        FitInput::Samples { values_s, .. } => empirical_cdf(values_s),
        FitInput::Histograms(histograms) => {
            let (_, buckets) = histograms.iter().find(|(n, _)| *n == report.name)?;
            bucket_cdf(buckets)
        }
        FitInput::Moments(_) => return None,
    };
    let low = data.first()?.0 / 2.0;
    let high = data.last()?.0 * 2.0;
    let grid: Vec<f64> = (0..=200)
        .map(|i| low * (high / low).powf(i as f64 / 200.0))
        .collect();
    let mut lines = vec![Line {
        label: format!("observed ({})", report.kind),
        points: data.iter().map(|(x, y)| (x * 1e3, *y)).collect(),
        is_data: true,
    }];
    for fit in &report.fits {
        lines.push(Line {
            label: format!("{}: {}", fit.dist.family.name(), fit.dist.describe()),
            points: grid.iter().map(|x| (x * 1e3, fit.dist.cdf(*x))).collect(),
            is_data: false,
        });
    }
    Some(LineChart {
        title: format!("{}: empirical vs fitted CDF", report.name),
        subtitle: format!(
            "{} observations; best by AIC: {}",
            report.observations,
            report.fits.first()?.dist.family.name()
        ),
        x_label: "time (ms, log scale)".into(),
        y_label: "fraction at or below".into(),
        log_x: true,
        lines,
    })
}

/// Up to 1000 points of the empirical CDF of `values` (seconds).
fn empirical_cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let stride = n.div_ceil(1000).max(1);
    let mut points: Vec<(f64, f64)> = (0..n)
        .step_by(stride)
        .map(|i| (sorted[i], (i + 1) as f64 / n as f64))
        .collect();
    points.push((sorted[n - 1], 1.0));
    points
}

/// The cumulative fraction at each finite bucket bound.
fn bucket_cdf(buckets: &Buckets) -> Vec<(f64, f64)> {
    let total = buckets.total();
    let mut cumulative = 0.0;
    buckets
        .upper_s
        .iter()
        .zip(&buckets.counts)
        .filter_map(|(upper, count)| {
            cumulative += count;
            (upper.is_finite() && *upper > 0.0).then_some((*upper, cumulative / total))
        })
        .collect()
}

/// A file-name-safe version of a data set's name.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    s.chars().take(60).collect()
}

fn option(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map(format).unwrap_or_else(|| "-".into())
}

/// The ranking table and the `time = ...` line of each data set.
pub fn render(file: &Path, reports: &[FitReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(
            out,
            "{} ({}): {} {}, mean {:.3} ms",
            report.name,
            file.display(),
            report.observations,
            if report.kind == "moments" {
                "calls"
            } else {
                "observations"
            },
            report.mean_ms
        );
        let _ = writeln!(
            out,
            "  {:<4} {:<12} {:<44} {:>14} {:>10} {:>8} {:>10}",
            "rank", "distribution", "parameters", "AIC", "dAIC", "KS D", "KS p"
        );
        for (i, fit) in report.fits.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:<4} {:<12} {:<44} {:>14} {:>10} {:>8} {:>10}",
                if fit.aic.is_some() {
                    (i + 1).to_string()
                } else {
                    "-".into()
                },
                fit.dist.family.name(),
                fit.dist.describe(),
                option(fit.aic, |v| format!("{v:.1}")),
                option(fit.delta_aic, |v| format!("{v:.1}")),
                option(fit.ks_distance, |v| format!("{v:.4}")),
                option(fit.ks_p_value, |v| format!("{v:.3}")),
            );
        }
        for note in &report.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        if let Some(best) = report.fits.first() {
            let which = if best.aic.is_some() {
                "best by AIC"
            } else {
                "one of the above; pick by the tail you expect"
            };
            let _ = writeln!(out, "  paste into the model ({which}):");
            let _ = writeln!(out, "  time = {}", best.time);
        }
        for chart in &report.charts {
            let _ = writeln!(out, "  chart: {chart}");
        }
        out.push('\n');
    }
    out
}
