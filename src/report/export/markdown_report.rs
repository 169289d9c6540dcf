//! `report.md`: the capacity review a planner reads, linking the charts and series rendered before it.

use anyhow::Result;

use super::{timeline_plan, Exporter, ReportInput};
use crate::report::markdown::{self, TimelineFiles};
use crate::report::output::OutputFile;

pub struct MarkdownReport;

impl Exporter for MarkdownReport {
    fn name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, input: &ReportInput, earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let experiment = input.experiment;
        let charts: Vec<String> = earlier
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| p.starts_with("charts/") && !p.starts_with("charts/timeline-"))
            .collect();
        let timelines: Vec<TimelineFiles> = timeline_plan(experiment, &input.sweep.points)
            .into_iter()
            .map(|planned| {
                let prefix = format!("charts/{}.", planned.chart_stem());
                TimelineFiles {
                    point: planned.point,
                    csv: planned.csv(),
                    charts: earlier
                        .iter()
                        .filter(|f| f.path.starts_with(&prefix))
                        .map(|f| f.path.clone())
                        .collect(),
                    label: planned.label,
                }
            })
            .collect();
        let report = markdown::render(
            experiment,
            input.recommendations,
            &input.sweep.points,
            &charts,
            &timelines,
        );
        Ok(vec![OutputFile::new("report.md", report.into_bytes())])
    }
}
