//! `timeseries/*.csv` and `charts/timeline-*.png|svg`: each point's mean series and its chart,
//! for models with a timeline (events, traces, alerts or autoscaling).

use anyhow::Result;

use super::{in_chart_dir, Exporter, ReportInput};
use crate::config::experiment::Experiment;
use crate::report::output::OutputFile;
use crate::report::plotting::ImageFormat;
use crate::report::timeline;
use crate::sweep::PointResult;

pub struct Timelines;

/// The chart formats the experiment asks for.
pub fn image_formats(experiment: &Experiment) -> Vec<ImageFormat> {
    let mut formats = Vec::new();
    if experiment.png {
        formats.push(ImageFormat::Png);
    }
    if experiment.svg {
        formats.push(ImageFormat::Svg);
    }
    formats
}

/// Where one point's timeline goes: its label in the report and a file stem unique in the set.
#[derive(Debug, Clone)]
pub struct PlannedTimeline {
    pub point: usize,
    pub label: String,
    pub stem: String,
}

impl PlannedTimeline {
    pub fn csv(&self) -> String {
        format!("timeseries/{}.csv", self.stem)
    }

    pub fn chart_stem(&self) -> String {
        format!("timeline-{}", self.stem)
    }
}

/// The timelines a sweep writes, one per point; stems are made unique ("pool-5", "pool-5-2").
pub fn timeline_plan(experiment: &Experiment, points: &[PointResult]) -> Vec<PlannedTimeline> {
    if !experiment.has_timeline() {
        return Vec::new();
    }
    let mut used = std::collections::BTreeSet::new();
    points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let mut parts = Vec::new();
            let variant = &experiment.variants[point.variant].name;
            if !variant.is_empty() {
                parts.push(variant.clone());
            }
            for (axis, value) in experiment.axes.iter().zip(&point.values) {
                parts.push(format!("{} {value}", axis.path));
            }
            let label = if parts.is_empty() {
                experiment.points[index].spec.name.clone()
            } else {
                parts.join(", ")
            };
            let base = match slug(&label) {
                s if s.is_empty() => format!("point-{index}"),
                s => s,
            };
            let mut stem = base.clone();
            let mut n = 2;
            while !used.insert(stem.clone()) {
                stem = format!("{base}-{n}");
                n += 1;
            }
            PlannedTimeline {
                point: index,
                label,
                stem,
            }
        })
        .collect()
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

impl Exporter for Timelines {
    fn name(&self) -> &'static str {
        "the timelines"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let experiment = input.experiment;
        let formats = image_formats(experiment);
        let slo = timeline::ChartSlo {
            latency_p99_ms: Some(experiment.slo.latency_p99_ms),
            error_rate: Some(experiment.slo.error_rate),
        };
        let mut files = Vec::new();
        for planned in timeline_plan(experiment, &input.sweep.points) {
            let point = &input.sweep.points[planned.point];
            let spec = &experiment.points[planned.point].spec;
            files.push(OutputFile::new(
                planned.csv(),
                timeline::series_csv(spec.simulation.clock_start.as_deref(), &point.series)?,
            ));
            let title = format!("{}: {}", spec.name, planned.label);
            let charts = timeline::render_chart(
                spec,
                &title,
                (&point.series, &point.alerts),
                slo,
                &planned.chart_stem(),
                &formats,
            )?;
            files.extend(in_chart_dir(charts));
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slug("Pool-5!"), "pool-5");
        assert_eq!(slug("pool 5"), "pool-5");
        assert_eq!(slug("  "), "");
    }
}
