//! Presenting results: the summary table, JSON, CSV, Markdown and charts.
//!
//! Every file is written atomically (a temporary file in the same directory,
//! then a rename), so an interrupted run never leaves a half-written output.

pub mod charts;
pub mod csv;
pub mod line_chart;
pub mod markdown;
pub mod plotting;
pub mod table;
pub mod timeline;
pub mod timeline_chart;

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::config::experiment::Experiment;
use crate::stats::confidence::Estimate;
use crate::sweep::SweepResult;

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // Temporary files are private (0600); outputs are ordinary files others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn interval(e: Estimate) -> charts::Interval {
    charts::Interval {
        mean: e.mean,
        lo: e.lo,
        hi: e.hi,
    }
}

/// Writes runs.csv, points.csv, recommendations.json, charts/ and report.md into
/// `dir`, each atomically. Everything is rendered before the first file is
/// replaced, so a failure leaves the previous outputs as they were.
/// Returns the number of files written.
pub fn write_sweep_outputs(
    experiment: &Experiment,
    result: &SweepResult,
    dir: &Path,
) -> anyhow::Result<usize> {
    let runs = csv::runs_csv(experiment, &result.runs)?;
    let points = csv::points_csv(experiment, &result.points)?;
    let mut recommendations = serde_json::to_vec_pretty(&result.recommendations)?;
    recommendations.push(b'\n');

    let main = result.recommendations.main();
    let fixed: Vec<(usize, f64)> = main
        .fixed
        .iter()
        .filter_map(|a| experiment.axis_index(&a.path).map(|i| (i, a.value)))
        .collect();
    let capacity_points: Vec<charts::CapacityPoint> = result
        .points
        .iter()
        .filter(|p| fixed.iter().all(|(i, v)| p.values[*i] == *v))
        .map(|p| charts::CapacityPoint {
            pool_size: p.pool_size,
            growth: p.growth,
            latency_p99_ms: interval(p.latency_p99_ms),
            error_rate: interval(p.error_rate),
            pool_utilization: interval(p.pool_utilization),
            db_utilization: interval(p.db_utilization),
            slo_pass: p.slo_pass,
        })
        .collect();
    let mut formats = Vec::new();
    if experiment.png {
        formats.push(plotting::ImageFormat::Png);
    }
    if experiment.svg {
        formats.push(plotting::ImageFormat::Svg);
    }
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir)
        .with_context(|| format!("cannot create {}", chart_dir.display()))?;
    let chart_spec = charts::CapacityChartSpec {
        model_name: &experiment.baseline.name,
        slo_latency_p99_ms: experiment.slo.latency_p99_ms,
        slo_error_rate: experiment.slo.error_rate,
        current_pool_size: experiment.baseline.pool.max_size,
        points: &capacity_points,
    };
    let chart_files: Vec<String> = if crate::sweep::pool_axis(experiment).is_some() {
        charts::write_capacity_charts(&chart_spec, &chart_dir, &formats)?
            .into_iter()
            .map(|name| format!("charts/{name}"))
            .collect()
    } else {
        Vec::new()
    };
    let timelines = write_timelines(experiment, result, dir, &formats)?;
    let report = markdown::render(
        experiment,
        &result.recommendations,
        &result.points,
        &chart_files,
        &timelines,
    );

    write_atomically(&dir.join("runs.csv"), &runs)?;
    write_atomically(&dir.join("points.csv"), &points)?;
    write_atomically(&dir.join("recommendations.json"), &recommendations)?;
    write_atomically(&dir.join("report.md"), report.as_bytes())?;
    Ok(4 + chart_files.len() + timelines.iter().map(|t| 1 + t.charts.len()).sum::<usize>())
}

/// A file-name-safe label: lowercase letters, digits and dashes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// For models with a timeline: each point's mean series as CSV under `timeseries/`
/// and its timeline chart under `charts/`.
fn write_timelines(
    experiment: &Experiment,
    result: &SweepResult,
    dir: &Path,
    formats: &[plotting::ImageFormat],
) -> anyhow::Result<Vec<markdown::TimelineFiles>> {
    if !experiment.has_timeline() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for (index, point) in result.points.iter().enumerate() {
        let spec = &experiment.points[index].spec;
        let mut parts = Vec::new();
        let variant = &experiment.variants[point.variant].name;
        if !variant.is_empty() {
            parts.push(variant.clone());
        }
        for (axis, value) in experiment.axes.iter().zip(&point.values) {
            parts.push(format!("{} {value}", axis.path));
        }
        let label = if parts.is_empty() {
            spec.name.clone()
        } else {
            parts.join(", ")
        };
        let stem = match slug(&label) {
            s if s.is_empty() => format!("point-{index}"),
            s => s,
        };
        let csv = format!("timeseries/{stem}.csv");
        write_atomically(
            &dir.join(&csv),
            &timeline::series_csv(spec.simulation.clock_start.as_deref(), &point.series)?,
        )?;
        let title = format!("{}: {label}", spec.name);
        let charts = timeline::write_chart(
            spec,
            &title,
            &point.series,
            &point.alerts,
            &dir.join("charts"),
            &format!("timeline-{stem}"),
            formats,
        )?
        .into_iter()
        .map(|name| format!("charts/{name}"))
        .collect();
        files.push(markdown::TimelineFiles {
            point: index,
            label,
            csv,
            charts,
        });
    }
    Ok(files)
}
