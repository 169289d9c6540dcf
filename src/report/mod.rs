//! Presenting results: the summary table, JSON, CSV, Markdown and charts.
//!
//! A sweep's outputs are rendered to bytes by one exporter each (`export`) and
//! written as one set by `output`, so an interrupted or failed run leaves the
//! previous set as it was.

pub mod charts;
pub mod csv;
pub mod export;
pub mod line_chart;
pub mod markdown;
mod method;
pub mod output;
pub mod plotting;
pub mod pool_metrics;
pub mod proxy_section;
pub mod sensitivity;
pub mod services;
pub mod table;
mod theme;
pub mod timeline;
pub mod timeline_chart;
pub mod tornado;
pub mod variants;

use std::path::Path;

use crate::config::experiment::Experiment;
use crate::recommend::Recommendations;
use crate::sweep::SweepResult;
use export::{default_exporters, render_all, Exporter, ReportInput};

/// Renders every output of a sweep and replaces `dir` with them as one set
/// (see `output::commit_set`): a failure anywhere leaves `dir` as it was.
/// Returns the number of files written.
pub fn write_sweep_outputs(
    experiment: &Experiment,
    result: &SweepResult,
    recommendations: &Recommendations,
    dir: &Path,
) -> anyhow::Result<usize> {
    let input = ReportInput {
        experiment,
        sweep: result,
        recommendations,
    };
    write_with(&input, &default_exporters(), dir)
}

/// `write_sweep_outputs` with a chosen list of exporters (tests inject failing ones).
pub fn write_with(
    input: &ReportInput,
    exporters: &[Box<dyn Exporter>],
    dir: &Path,
) -> anyhow::Result<usize> {
    let files = render_all(input, exporters)?;
    output::commit_set(dir, &files)?;
    Ok(files.len())
}
