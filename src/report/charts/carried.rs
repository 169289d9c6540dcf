//! What a pool size carries: the carried-growth chart (the growth each size holds the SLO
//! at in normal operation, with one instance lost and during a deploy, against the planned
//! growth) and, when that is not available, pool and database utilization.

use super::legend::{LegendEntry, LegendSample};
use super::lines::{
    growth_legend, pool_size_axis, push_marks_legend, HorizontalRule, LineChart, Marks,
};
use super::*;
use crate::report::plotting::{format_number, linear_axis, Axis, YScale, ZERO_LINE_HEADROOM};

/// Reads the growth a size carries in one condition.
type CarriedIn = fn(&CarriedGrowth) -> Option<f64>;

/// Carried growth per pool size. A size that does not carry even today's load is drawn at
/// zero; sizes beyond the database limit carry nothing by definition, so the lines stop
/// there and the hatching says why.
pub(super) fn carried_growth_chart(spec: &CapacityChartSpec) -> LineChart {
    let mut rows: Vec<&CarriedGrowth> = spec.carried_growth.iter().collect();
    rows.sort_by_key(|c| c.pool_size);
    let series: [(&str, RGBColor, bool, CarriedIn); 3] = [
        ("normal operation", sequential_colour(2, 3), false, |c| {
            c.normal
        }),
        ("one instance lost", sequential_colour(1, 3), true, |c| {
            c.one_instance_lost
        }),
        ("during a deploy", RGBColor(148, 103, 189), true, |c| {
            c.deploy
        }),
    ];
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    let mut top: f64 = spec.planned_growth.unwrap_or(1.0);
    for (label, colour, dashed, value) in series {
        let points: Vec<(f64, Interval)> = rows
            .iter()
            .filter(|c| c.feasible)
            .map(|c| {
                let carried = value(c).unwrap_or(0.0);
                top = top.max(carried);
                let exact = Interval {
                    mean: carried,
                    lo: carried,
                    hi: carried,
                };
                (f64::from(c.pool_size), exact)
            })
            .collect();
        lines.push(PlotLine {
            colour,
            dashed,
            draw_ci_band: false,
            points,
            infeasible_x: Vec::new(),
        });
        legend.push(LegendEntry::new(
            label,
            LegendSample::Line {
                colour,
                dashed,
                with_band: false,
            },
        ));
    }
    let rules: Vec<HorizontalRule> = spec
        .planned_growth
        .filter(|g| g.is_finite() && *g > 0.0)
        .map(|growth| HorizontalRule {
            value: growth,
            label: format!("planned growth {}x", format_number(growth)),
            colour: SLO_COLOUR,
        })
        .into_iter()
        .collect();
    if let Some(rule) = rules.first() {
        legend.push(LegendEntry::new(
            rule.label.clone(),
            LegendSample::DashedRule(SLO_COLOUR),
        ));
    }
    push_marks_legend(&mut legend, spec);
    let mut marks = Marks::of(spec);
    if marks.db_limit.is_none() {
        let first_infeasible = rows
            .iter()
            .filter(|c| !c.feasible)
            .map(|c| c.pool_size)
            .min();
        marks.db_limit = first_infeasible.and_then(|first| {
            rows.iter()
                .map(|c| c.pool_size)
                .filter(|&s| s < first)
                .max()
        });
    }
    LineChart {
        title: format!("{}: traffic growth each pool size carries", spec.model_name),
        subtitle: "largest swept growth meeting the SLO; 0 = fails at today's load".to_string(),
        y_desc: "carried growth (x today's load)".to_string(),
        y_scale: YScale::Linear,
        x_axis: pool_size_axis(spec),
        y_axis: linear_axis(top * 1.15, 7),
        lines,
        rules,
        marks,
        legend,
    }
}

pub(super) fn utilization_chart(spec: &CapacityChartSpec) -> LineChart {
    let groups = group_by_growth(spec.points);
    let mut lines = Vec::new();
    for group in &groups {
        let pool_points = group
            .points
            .iter()
            .map(|p| {
                (
                    f64::from(p.pool_size),
                    scale_interval(p.pool_utilization, 100.0),
                )
            })
            .collect();
        let db_points = group
            .points
            .iter()
            .map(|p| {
                (
                    f64::from(p.pool_size),
                    scale_interval(p.db_utilization, 100.0),
                )
            })
            .collect();
        // Bands are left out here: two bands per growth level would bury the lines.
        lines.push(PlotLine {
            colour: group.colour,
            dashed: false,
            draw_ci_band: false,
            points: pool_points,
            infeasible_x: Vec::new(),
        });
        lines.push(PlotLine {
            colour: group.colour,
            dashed: true,
            draw_ci_band: false,
            points: db_points,
            infeasible_x: Vec::new(),
        });
    }

    let mut legend = growth_legend(&groups);
    legend.push(LegendEntry::new(
        "pool utilization",
        LegendSample::Line {
            colour: RGBColor(60, 60, 60),
            dashed: false,
            with_band: false,
        },
    ));
    legend.push(LegendEntry::new(
        "DB utilization",
        LegendSample::Line {
            colour: RGBColor(60, 60, 60),
            dashed: true,
            with_band: false,
        },
    ));
    push_marks_legend(&mut legend, spec);

    let percent_ticks: Vec<f64> = (0..=10).map(|i| f64::from(i) * 10.0).collect();
    LineChart {
        title: format!("{}: pool and database utilization", spec.model_name),
        subtitle: "solid = pool connections in use; dashed = database busy".to_string(),
        y_desc: "utilization (%)".to_string(),
        y_scale: YScale::Linear,
        x_axis: pool_size_axis(spec),
        // A little headroom above 100% keeps a saturated line off the frame.
        y_axis: Axis {
            min: -100.0 * ZERO_LINE_HEADROOM,
            max: 104.0,
            ticks: percent_ticks,
            minor_ticks: Vec::new(),
        },
        lines,
        rules: Vec::new(),
        marks: Marks::of(spec),
        legend,
    }
}
