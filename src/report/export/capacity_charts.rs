//! `charts/capacity-*.png|svg` and the SLO heat map: the sweep's capacity curves.

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::report::charts;
use crate::report::output::OutputFile;
use crate::stats::confidence::Estimate;

pub struct CapacityCharts;

fn interval(e: Estimate) -> charts::Interval {
    charts::Interval {
        mean: e.mean,
        lo: e.lo,
        hi: e.hi,
    }
}

impl Exporter for CapacityCharts {
    fn name(&self) -> &'static str {
        "the capacity charts"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let experiment = input.experiment;
        if crate::sweep::pool_axis(experiment).is_none() {
            return Ok(Vec::new());
        }
        let main = input.recommendations.main();
        let fixed: Vec<(usize, f64)> = main
            .fixed
            .iter()
            .filter_map(|a| experiment.axis_index(&a.path).map(|i| (i, a.value)))
            .collect();
        let capacity_points: Vec<charts::CapacityPoint> = input
            .sweep
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
        let chart_spec = charts::CapacityChartSpec {
            model_name: &experiment.baseline.name,
            slo_latency_p99_ms: experiment.slo.latency_p99_ms,
            slo_error_rate: experiment.slo.error_rate,
            current_pool_size: experiment.baseline.pool.max_size,
            points: &capacity_points,
        };
        let formats = super::timelines::image_formats(experiment);
        // Rendered through a private directory until the charts render to bytes themselves.
        let scratch = tempfile::tempdir()?;
        let names = charts::write_capacity_charts(&chart_spec, scratch.path(), &formats)?;
        names
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(scratch.path().join(&name))?;
                Ok(OutputFile::new(format!("charts/{name}"), bytes))
            })
            .collect()
    }
}
