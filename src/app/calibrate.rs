//! `poolsim calibrate MODEL --observed OBS.toml [--fit PATH]`.
//!
//! Reads and checks every input, replays the observed request rate through the model,
//! compares, optionally searches one parameter, and only then writes charts and the
//! calibrated copy, so that bad input leaves nothing behind.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use toml_edit::DocumentMut;

use crate::app::AppError;
use crate::cli::{CalibrateArgs, OutputFormat};
use crate::config::model::ModelSource;
use crate::config::InputError;
use crate::model::{simulate_detailed, RunOptions};
use crate::report::line_chart::{Line, LineChart};

use crate::calibrate::compare::{compare, Comparison};
use crate::calibrate::knob::{apply, apply_replay, minimise, resolve, Knob};
use crate::calibrate::observed::{read_observed, Observed};

/// What `--fit` found.
#[derive(Debug, Serialize)]
pub struct FittedParameter {
    pub parameter: String,
    /// The factor on the model's value (or the value, for a number that was 0).
    pub value: f64,
    pub description: String,
    pub objective_before: f64,
    pub objective_after: f64,
    pub comparison: Comparison,
    pub calibrated_model: String,
}

#[derive(Debug, Serialize)]
pub struct CalibrationReport {
    pub model: String,
    pub observed: String,
    pub steps: usize,
    pub step_s: f64,
    pub inputs: Vec<String>,
    pub baseline: Comparison,
    pub fitted: Option<FittedParameter>,
    pub charts: Vec<String>,
}

/// The model as text, and how to replay it against the observations.
pub struct Replay<'a> {
    pub model: &'a Path,
    pub doc: DocumentMut,
    pub observed: &'a Observed,
}

impl Replay<'_> {
    /// Simulates the model with the knob at `x` (if any) over the observed window.
    pub fn evaluate(&self, knob: Option<(&Knob, f64)>) -> Result<Comparison, InputError> {
        let mut doc = self.doc.clone();
        if let Some((knob, x)) = knob {
            apply(self.model, &mut doc, knob, x)?;
        }
        let steps = self.observed.times_s.len();
        let step = self.observed.step_s;
        apply_replay(
            &mut doc,
            &self.observed.request_rate_file,
            steps as f64 * step,
            step,
        );
        let spec = ModelSource::from_text(self.model, doc.to_string())?.build(&[])?;
        let output = simulate_detailed(&spec, RunOptions { replication: 0 }, true);
        Ok(compare(
            self.observed,
            &output.series,
            &output.summary,
            spec.fleet.instances as f64,
        ))
    }
}

fn parse_document(path: &Path) -> Result<DocumentMut, InputError> {
    let source = ModelSource::read(path)?;
    source.build(&[])?;
    source.text.parse::<DocumentMut>().map_err(|e| {
        InputError::new(path, format!("cannot edit the model: {e}")).hint("check the TOML syntax")
    })
}

pub fn run(args: &CalibrateArgs) -> Result<ExitCode, AppError> {
    let doc = parse_document(&args.model)?;
    let observed = read_observed(&args.observed)?;
    let knob = match &args.fit {
        Some(path) => Some(resolve(&args.model, &doc, path)?),
        None => None,
    };
    let replay = Replay {
        model: &args.model,
        doc,
        observed: &observed,
    };
    let baseline = replay.evaluate(None)?;
    let fitted = match &knob {
        Some(knob) => Some(fit_parameter(&replay, knob, &baseline, &args.observed)?),
        None => None,
    };
    let mut report = CalibrationReport {
        model: args.model.display().to_string(),
        observed: args.observed.display().to_string(),
        steps: observed.times_s.len(),
        step_s: observed.step_s,
        inputs: observed.inputs.clone(),
        baseline,
        fitted,
        charts: Vec::new(),
    };
    report.charts = write_charts(&report, &observed, &args.out)?;
    match args.format {
        OutputFormat::Table => crate::app::console::out(&render(&report))?,
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
            crate::app::console::out(&format!("{json}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Searches the knob, then writes the calibrated copy beside the model.
fn fit_parameter(
    replay: &Replay,
    knob: &Knob,
    baseline: &Comparison,
    observed_path: &Path,
) -> Result<FittedParameter, AppError> {
    let objective = |x: f64| {
        replay
            .evaluate(Some((knob, x)))
            .map_or(f64::INFINITY, |c| c.objective())
    };
    let best = if knob.searches_factor() {
        let (log_x, _) = minimise(0.25f64.ln(), 4f64.ln(), |l| objective(l.exp()));
        log_x.exp()
    } else {
        minimise(0.0, 1.0, objective).0
    };
    let comparison = replay.evaluate(Some((knob, best)))?;
    let path = calibrated_path(replay.model);
    let mut doc = replay.doc.clone();
    apply(replay.model, &mut doc, knob, best)?;
    let header = calibration_comment(knob, best, baseline, &comparison, observed_path);
    let text = format!("{header}{doc}");
    crate::report::output::write_atomically(&path, text.as_bytes())?;
    Ok(FittedParameter {
        parameter: knob.path().to_string(),
        value: best,
        description: knob.describe(best),
        objective_before: baseline.objective(),
        objective_after: comparison.objective(),
        comparison,
        calibrated_model: path.display().to_string(),
    })
}

/// `models/x.toml` -> `models/x.calibrated.toml` (never the input itself).
pub fn calibrated_path(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    model.with_file_name(format!("{stem}.calibrated.toml"))
}

fn calibration_comment(
    knob: &Knob,
    x: f64,
    before: &Comparison,
    after: &Comparison,
    observed_path: &Path,
) -> String {
    let bias = |c: &Comparison, key: &str| {
        c.metric(key)
            .map(|m| format!("{:+.1}%", m.bias * 100.0))
            .unwrap_or_else(|| "n/a".into())
    };
    format!(
        "# Calibrated by `poolsim calibrate --fit {}`: {} fitted to the series named in {}\n\
         # (the observed request rate replayed; minimising the squared relative bias of connections in use and hold time).\n\
         # Bias before -> after: connections in use {} -> {}, hold time {} -> {}. Review before relying on it.\n",
        knob.path(),
        knob.describe(x),
        observed_path.display(),
        bias(before, "connections_in_use"),
        bias(after, "connections_in_use"),
        bias(before, "hold_ms"),
        bias(after, "hold_ms"),
    )
}

fn write_charts(
    report: &CalibrationReport,
    observed: &Observed,
    out: &Path,
) -> Result<Vec<String>, AppError> {
    let start = observed.times_s[0];
    let times: Vec<f64> = observed.times_s.iter().map(|t| t - start).collect();
    let pair = |values: &[f64]| -> Vec<(f64, f64)> {
        times.iter().copied().zip(values.iter().copied()).collect()
    };
    let mut files = Vec::new();
    for metric in &report.baseline.metrics {
        let mut lines = vec![
            Line {
                label: "observed".into(),
                points: pair(&metric.observed),
                is_data: true,
            },
            Line {
                label: format!("simulated (bias {:+.0}%)", metric.bias * 100.0),
                points: pair(&metric.simulated),
                is_data: false,
            },
        ];
        if let Some(fit) = &report.fitted {
            if let Some(after) = fit.comparison.metric(metric.key) {
                lines.push(Line {
                    label: format!(
                        "calibrated, {} (bias {:+.0}%)",
                        fit.description,
                        after.bias * 100.0
                    ),
                    points: pair(&after.simulated),
                    is_data: false,
                });
            }
        }
        let chart = LineChart {
            title: format!("{}: simulated vs observed", metric.label),
            subtitle: format!("{} replayed against {}", report.model, report.observed),
            x_label: format!(
                "seconds since the first sample (step {} s)",
                observed.step_s
            ),
            y_label: format!("{} ({})", metric.label, metric.unit),
            log_x: false,
            lines,
        };
        for name in chart.write(out, &format!("calibrate-{}", metric.key))? {
            files.push(out.join(name).display().to_string());
        }
    }
    Ok(files)
}

fn render(report: &CalibrationReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "calibrate {} against {}: {} steps of {} s ({})",
        report.model,
        report.observed,
        report.steps,
        report.step_s,
        report.inputs.join(", ")
    );
    let _ = writeln!(
        out,
        "  MAPE is weighted: sum |simulated - observed| / sum |observed| over the steps"
    );
    let _ = writeln!(
        out,
        "  {:<44} {:>12} {:>12} {:>9} {:>8}",
        "metric", "observed", "simulated", "bias", "MAPE"
    );
    let rows = |out: &mut String, c: &Comparison| {
        for m in &c.metrics {
            let _ = writeln!(
                out,
                "  {:<44} {:>12.4} {:>12.4} {:>8.1}% {:>7.1}%",
                format!("{} ({})", m.label, m.unit),
                m.mean_observed,
                m.mean_simulated,
                m.bias * 100.0,
                m.mape * 100.0
            );
        }
    };
    rows(&mut out, &report.baseline);
    let _ = writeln!(out, "verdict:");
    for v in &report.baseline.verdicts {
        let _ = writeln!(out, "  - {v}");
    }
    if let Some(fit) = &report.fitted {
        let _ = writeln!(
            out,
            "fit {}: {} (objective {:.5} -> {:.5})",
            fit.parameter, fit.description, fit.objective_before, fit.objective_after
        );
        rows(&mut out, &fit.comparison);
        for v in &fit.comparison.verdicts {
            let _ = writeln!(out, "  - {v}");
        }
        let _ = writeln!(out, "calibrated model: {}", fit.calibrated_model);
    }
    for chart in &report.charts {
        let _ = writeln!(out, "chart: {chart}");
    }
    out
}
