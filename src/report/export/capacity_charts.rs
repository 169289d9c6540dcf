//! `charts/capacity-*.png|svg`, the SLO heat map and the carried-growth chart: the sweep's
//! capacity curves with the plan's marks (database limit, safe range, recommended size).

use anyhow::Result;

use super::{in_chart_dir, Exporter, ReportInput};
use crate::recommend::Scenario;
use crate::report::charts;
use crate::report::output::OutputFile;
use crate::stats::confidence::Estimate;
use crate::sweep::PointResult;

pub struct CapacityCharts;

fn interval(e: Estimate) -> charts::Interval {
    charts::Interval {
        mean: e.mean,
        lo: e.lo,
        hi: e.hi,
    }
}

fn capacity_point(p: &PointResult) -> charts::CapacityPoint {
    charts::CapacityPoint {
        pool_size: p.pool_size,
        growth: p.growth,
        latency_p99_ms: interval(p.latency_p99_ms),
        error_rate: interval(p.error_rate),
        pool_utilization: interval(p.pool_utilization),
        db_utilization: interval(p.db_utilization),
        slo_pass: p.slo_pass,
        feasible: p.feasible,
        unstable: p.unstable_runs > 0,
    }
}

/// What each swept size carries per condition, as the recommendation measured it.
fn carried_growth(scenario: &Scenario) -> Vec<charts::CarriedGrowth> {
    scenario
        .sizes
        .iter()
        .map(|c| charts::CarriedGrowth {
            pool_size: c.pool_size,
            feasible: c.feasible,
            normal: c.carries_normal,
            one_instance_lost: c.carries_instance_lost,
            deploy: c.carries_deploy,
        })
        .collect()
}

/// The sizes from the floor up to the largest size that still carries the planned growth
/// in every condition (the recommendation's own capacity figures).
fn safe_range(scenario: &Scenario, planned: f64) -> Option<(u32, u32)> {
    let floor = scenario.floor_pool_size?;
    let top = scenario
        .sizes
        .iter()
        .filter(|c| c.carries.is_some_and(|g| g >= planned - 1e-9))
        .map(|c| c.pool_size)
        .max()?;
    Some((floor, top))
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
        // The main scenario's points: its variant (the first point's) and fixed axis values.
        let variant = input.sweep.points.first().map(|p| p.variant);
        let capacity_points: Vec<charts::CapacityPoint> = input
            .sweep
            .points
            .iter()
            .filter(|p| Some(p.variant) == variant)
            .filter(|p| fixed.iter().all(|(i, v)| p.values[*i] == *v))
            .map(capacity_point)
            .collect();
        let planned = input.recommendations.planned_growth;
        let carried = carried_growth(main);
        let chart_spec = charts::CapacityChartSpec {
            model_name: &experiment.baseline.name,
            slo_latency_p99_ms: experiment.slo.latency_p99_ms,
            slo_error_rate: experiment.slo.error_rate,
            current_pool_size: experiment.baseline.pool.size_setting,
            points: &capacity_points,
            db_limit_pool_size: Some(main.ceiling_pool_size),
            recommended_pool_size: main.recommended_pool_size,
            safe_range: safe_range(main, planned),
            planned_growth: Some(planned),
            carried_growth: &carried,
        };
        let formats = super::timelines::image_formats(experiment);
        Ok(in_chart_dir(charts::render_capacity_charts(
            &chart_spec,
            &formats,
        )?))
    }
}
