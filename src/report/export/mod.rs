//! One exporter per output of a sweep, as hyperfine's `Exporter` trait does it.
//!
//! Each exporter renders its files to bytes and never touches the disk; `render_all`
//! runs them in order and `output::commit_set` writes the whole set at once. Adding
//! an output is one new file here and one line in `default_exporters`. Exporters that
//! link to other outputs (the Markdown report) come last and see what was rendered
//! before them.

mod alert_rules;
mod capacity_charts;
mod markdown_report;
mod points_csv;
mod recommendations_json;
mod runs_csv;
mod sensitivity_chart;
mod timelines;

use anyhow::{Context, Result};

use super::output::OutputFile;
use crate::config::experiment::Experiment;
use crate::recommend::Recommendations;
use crate::sweep::SweepResult;

pub use alert_rules::render_rules;
pub use timelines::{timeline_plan, PlannedTimeline};

/// Everything a sweep's outputs are rendered from.
pub struct ReportInput<'a> {
    pub experiment: &'a Experiment,
    pub sweep: &'a SweepResult,
    pub recommendations: &'a Recommendations,
}

/// Renders one kind of output to bytes.
pub trait Exporter {
    /// What it renders, for error messages ("points.csv").
    fn name(&self) -> &'static str;
    /// The files of this output, given those rendered by earlier exporters.
    fn render(&self, input: &ReportInput, earlier: &[OutputFile]) -> Result<Vec<OutputFile>>;
}

/// The outputs of `poolsim sweep`, in the order they are rendered.
pub fn default_exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(runs_csv::RunsCsv),
        Box::new(points_csv::PointsCsv),
        Box::new(recommendations_json::RecommendationsJson),
        Box::new(capacity_charts::CapacityCharts),
        Box::new(timelines::Timelines),
        Box::new(sensitivity_chart::SensitivityChart),
        Box::new(alert_rules::AlertRules),
        Box::new(markdown_report::MarkdownReport),
    ]
}

/// Runs every exporter; the first failure stops everything before anything is written.
pub fn render_all(input: &ReportInput, exporters: &[Box<dyn Exporter>]) -> Result<Vec<OutputFile>> {
    let mut files: Vec<OutputFile> = Vec::new();
    for exporter in exporters {
        let rendered = exporter
            .render(input, &files)
            .with_context(|| format!("cannot render {}", exporter.name()))?;
        files.extend(rendered);
    }
    Ok(files)
}

/// Charts render with paths relative to the chart directory; the set keeps them under `charts/`.
fn in_chart_dir(charts: Vec<OutputFile>) -> Vec<OutputFile> {
    charts
        .into_iter()
        .map(|chart| OutputFile::new(format!("charts/{}", chart.path), chart.bytes))
        .collect()
}
