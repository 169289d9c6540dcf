//! Line charts against pool size (p99 latency, error rate; the carried-growth and
//! utilization charts of `carried` share the drawing) and the planning marks on them: the
//! current size, the recommended size, the safe range and the region beyond the database
//! limit.

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::legend::{
    draw_hatching, draw_legend, draw_no_data_notice, layout, LegendEntry, LegendSample,
};
use super::*;
use crate::report::plotting::{
    draw_boxed_label, format_number, nice_ticks, plottable_runs, symlog_axis, text_style, Axis,
    TickedRange, YScale,
};

pub(super) struct PlotLine {
    pub(super) colour: RGBColor,
    pub(super) dashed: bool,
    pub(super) draw_ci_band: bool,
    /// (pool size, value in display units). Non-plottable means leave a gap.
    pub(super) points: Vec<(f64, Interval)>,
    /// Pool sizes of this line the database cannot hold: drawn as crosses, never as passing.
    pub(super) infeasible_x: Vec<f64>,
}

/// A horizontal reference line (an SLO, the planned growth) with its label.
pub(super) struct HorizontalRule {
    pub(super) value: f64,
    pub(super) label: String,
    pub(super) colour: RGBColor,
}

/// Pool sizes marked on the x axis.
#[derive(Default)]
pub(super) struct Marks {
    pub(super) current: Option<u32>,
    pub(super) recommended: Option<u32>,
    pub(super) safe_range: Option<(u32, u32)>,
    pub(super) db_limit: Option<u32>,
}

impl Marks {
    pub(super) fn of(spec: &CapacityChartSpec) -> Marks {
        Marks {
            current: current_pool_size(spec),
            recommended: spec.recommended_pool_size,
            safe_range: spec.safe_range,
            db_limit: db_limit(spec),
        }
    }

    fn sizes(&self) -> Vec<u32> {
        let range = self.safe_range.map_or(Vec::new(), |(lo, hi)| vec![lo, hi]);
        [self.current, self.recommended, self.db_limit]
            .into_iter()
            .flatten()
            .chain(range)
            .collect()
    }
}

pub(super) struct LineChart {
    pub(super) title: String,
    pub(super) subtitle: String,
    pub(super) y_desc: String,
    pub(super) y_scale: YScale,
    pub(super) x_axis: Axis,
    pub(super) y_axis: Axis,
    pub(super) lines: Vec<PlotLine>,
    pub(super) rules: Vec<HorizontalRule>,
    pub(super) marks: Marks,
    pub(super) legend: Vec<LegendEntry>,
}

pub(super) const X_DESC: &str = "pool size (max connections per instance)";

/// A p99 of 0 ms only comes from an empty histogram, so treat it like NaN.
fn p99_of(point: &CapacityPoint) -> Interval {
    let mut interval = point.latency_p99_ms;
    if interval.mean <= 0.0 {
        interval.mean = f64::NAN;
    }
    interval
}

pub(super) fn latency_p99_chart(spec: &CapacityChartSpec) -> LineChart {
    let groups = group_by_growth(spec.points);
    let slo_ms = (spec.slo_latency_p99_ms.is_finite() && spec.slo_latency_p99_ms > 0.0)
        .then_some(spec.slo_latency_p99_ms);
    let mut observed: Vec<f64> = Vec::new();
    for p99 in spec
        .points
        .iter()
        .map(p99_of)
        .filter(|i| i.mean.is_finite())
    {
        observed.extend(
            [p99.mean, p99.lo, p99.hi]
                .into_iter()
                .filter(|v| v.is_finite() && *v > 0.0),
        );
    }
    observed.extend(slo_ms);
    let (y_scale, y_axis) = value_axis(&observed, true);
    let scale_note = if y_scale == YScale::Log10 {
        "log scale; "
    } else {
        ""
    };
    let slo_label = slo_ms.map(|slo| format!("SLO p99 {} ms", format_number(slo)));
    LineChart {
        title: format!("{}: p99 latency vs pool size", spec.model_name),
        subtitle: format!("one line per traffic growth level; {scale_note}band = 95% CI"),
        y_desc: "p99 latency (ms)".to_string(),
        y_scale,
        x_axis: pool_size_axis(spec),
        y_axis,
        lines: growth_lines(&groups, p99_of),
        legend: line_legend(spec, &groups, slo_label.as_deref()),
        rules: slo_rule(slo_ms, slo_label),
        marks: Marks::of(spec),
    }
}

/// Error rates run from exactly 0 through the SLO (often 0.1%) to tens of percent, so the
/// axis is symlog: linear near zero, logarithmic above a tenth of the SLO.
pub(super) fn error_rate_chart(spec: &CapacityChartSpec) -> LineChart {
    let groups = group_by_growth(spec.points);
    let slo_percent = (spec.slo_error_rate.is_finite() && spec.slo_error_rate > 0.0)
        .then_some(spec.slo_error_rate * 100.0);
    let observed_max = spec
        .points
        .iter()
        .flat_map(|p| [p.error_rate.mean, p.error_rate.hi])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        * 100.0;
    let linear_width = slo_percent.map_or(0.01, |slo| slo / 10.0);
    let y_axis = symlog_axis(
        observed_max.max(slo_percent.unwrap_or(0.0) * 10.0),
        linear_width,
    );
    let slo_label = slo_percent.map(|slo| format!("SLO error rate {}%", format_number(slo)));
    // Confidence intervals of a mean can reach below zero; errors cannot.
    let non_negative = |p: &CapacityPoint| {
        let i = scale_interval(p.error_rate, 100.0);
        Interval {
            mean: i.mean.max(0.0),
            lo: i.lo.max(0.0),
            hi: i.hi.max(0.0),
        }
    };
    LineChart {
        title: format!("{}: error rate vs pool size", spec.model_name),
        subtitle: "failed requests; symlog scale (0 at the bottom); band = 95% CI".to_string(),
        y_desc: "error rate (%)".to_string(),
        y_scale: YScale::SymLog { linear_width },
        x_axis: pool_size_axis(spec),
        y_axis,
        lines: growth_lines(&groups, non_negative),
        legend: line_legend(spec, &groups, slo_label.as_deref()),
        rules: slo_rule(slo_percent, slo_label),
        marks: Marks::of(spec),
    }
}

/// The SLO as a red horizontal rule, when there is one.
fn slo_rule(value: Option<f64>, label: Option<String>) -> Vec<HorizontalRule> {
    value
        .zip(label)
        .map(|(value, label)| HorizontalRule {
            value,
            label,
            colour: SLO_COLOUR,
        })
        .into_iter()
        .collect()
}

fn line_legend(
    spec: &CapacityChartSpec,
    groups: &[GrowthGroup],
    slo_label: Option<&str>,
) -> Vec<LegendEntry> {
    let mut legend = growth_legend(groups);
    legend.push(LegendEntry::new(
        "95% CI",
        LegendSample::Band(RGBColor(90, 90, 90)),
    ));
    if let Some(label) = slo_label {
        legend.push(LegendEntry::new(
            label,
            LegendSample::DashedRule(SLO_COLOUR),
        ));
    }
    push_marks_legend(&mut legend, spec);
    legend
}

/// One entry per growth level; with many levels, only every n-th is named (the colour scale
/// runs light to dark in between).
pub(super) fn growth_legend(groups: &[GrowthGroup]) -> Vec<LegendEntry> {
    const MAX_ENTRIES: usize = 9;
    let step = groups.len().div_ceil(MAX_ENTRIES).max(1);
    groups
        .iter()
        .enumerate()
        .filter(|(index, _)| index % step == 0 || index + 1 == groups.len())
        .map(|(_, group)| {
            LegendEntry::new(
                group.label(),
                LegendSample::Line {
                    colour: group.colour,
                    dashed: false,
                    with_band: false,
                },
            )
        })
        .collect()
}

/// Legend entries for the pool-size marks that are drawn.
pub(super) fn push_marks_legend(legend: &mut Vec<LegendEntry>, spec: &CapacityChartSpec) {
    let marks = Marks::of(spec);
    if let Some(current) = marks.current {
        legend.push(LegendEntry::new(
            format!("current ({current})"),
            LegendSample::VerticalRule(CURRENT_MARKER_COLOUR),
        ));
    }
    if let Some(recommended) = marks.recommended {
        legend.push(LegendEntry::new(
            format!("recommended ({recommended})"),
            LegendSample::VerticalRule(RECOMMENDED_COLOUR),
        ));
    }
    if let Some((lo, hi)) = marks.safe_range {
        legend.push(LegendEntry::new(
            format!("safe range {lo}\u{2013}{hi}"),
            LegendSample::Swatch(SAFE_RANGE_COLOUR),
        ));
    }
    if let Some(limit) = marks.db_limit {
        legend.push(LegendEntry::new(
            format!("database limit ({limit})"),
            LegendSample::VerticalRule(SLO_COLOUR),
        ));
        legend.push(LegendEntry::new(INFEASIBLE_REASON, LegendSample::Hatched));
    }
}

/// Chooses the pool-size axis: ticks at the simulated sizes when they fit, so readers can
/// tell which sizes were actually run; evenly spaced ticks otherwise.
pub(super) fn pool_size_axis(spec: &CapacityChartSpec) -> Axis {
    let pool_sizes = distinct_pool_sizes(spec.points);
    let mut all: Vec<f64> = pool_sizes.iter().map(|&s| f64::from(s)).collect();
    all.extend(spec.carried_growth.iter().map(|c| f64::from(c.pool_size)));
    all.extend(Marks::of(spec).sizes().into_iter().map(f64::from));
    let (Some(&lowest), Some(&highest)) = (
        all.iter().min_by(|a, b| a.total_cmp(b)),
        all.iter().max_by(|a, b| a.total_cmp(b)),
    ) else {
        return Axis {
            min: 0.0,
            max: 10.0,
            ticks: nice_ticks(0.0, 10.0, 6),
            minor_ticks: Vec::new(),
        };
    };
    let span = highest - lowest;
    let padding = if span == 0.0 { 1.0 } else { span * 0.04 };
    let (min, max) = ((lowest - padding).max(0.0), highest + padding);

    const MIN_TICK_GAP_PX: f64 = 48.0;
    const ESTIMATED_PLOT_WIDTH_PX: f64 = 760.0;
    let min_gap = pool_sizes
        .windows(2)
        .map(|w| f64::from(w[1] - w[0]))
        .fold(f64::INFINITY, f64::min);
    let gap_px = min_gap / (max - min) * ESTIMATED_PLOT_WIDTH_PX;
    // With fewer than three sizes the axis would have almost no labels, so use regular ticks.
    let ticks = if (3..=24).contains(&pool_sizes.len()) && gap_px >= MIN_TICK_GAP_PX {
        pool_sizes.iter().map(|&s| f64::from(s)).collect()
    } else {
        nice_ticks(min, max, 10)
            .into_iter()
            .filter(|t| *t >= min && *t <= max && t.fract() == 0.0)
            .collect()
    };
    Axis {
        min,
        max,
        ticks,
        minor_ticks: Vec::new(),
    }
}

/// Chooses the value axis from every value that will be drawn: linear with about seven
/// ticks, or log (see [`crate::report::plotting::value_axis`]) with at most twelve 1-2-5 ticks.
pub(super) fn value_axis(observed: &[f64], allow_log: bool) -> (YScale, Axis) {
    crate::report::plotting::value_axis(observed, allow_log, 7, 12)
}

type LineChartContext<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, TickedRange>>;

pub(super) fn draw_line_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart_spec: &LineChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (plot_area, legend_area) = layout(
        root,
        &chart_spec.title,
        &chart_spec.subtitle,
        &chart_spec.legend,
    )?;
    let scale = chart_spec.y_scale;
    let y_range = TickedRange::for_axis(&chart_spec.y_axis, scale);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(CHART_MARGIN_PX)
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .build_cartesian_2d(
            TickedRange::for_axis(&chart_spec.x_axis, YScale::Linear),
            y_range,
        )?;
    let format_x = |v: &f64| format_number(*v);
    let format_y = |v: &f64| format_number(scale.plot_to_value(*v));
    AXES.apply(&mut chart.configure_mesh(), &format_x, &format_y)
        .x_desc(X_DESC)
        .y_desc(chart_spec.y_desc.as_str())
        .draw()?;

    draw_regions(&mut chart, chart_spec)?;
    draw_bands(&mut chart, chart_spec)?;
    draw_rules_and_marks(&mut chart, chart_spec)?;
    let anything_drawn = draw_lines(&mut chart, chart_spec)?;
    // Labels go last so that they sit on top of the lines they might cross.
    draw_labels(root, &chart, chart_spec)?;
    if !anything_drawn {
        draw_no_data_notice(root, chart.plotting_area().get_pixel_range())?;
    }
    draw_legend(&legend_area, &chart_spec.legend)?;
    Ok(())
}

fn y_limits(chart_spec: &LineChart) -> (f64, f64) {
    let scale = chart_spec.y_scale;
    (
        scale.value_to_plot(chart_spec.y_axis.min),
        scale.value_to_plot(chart_spec.y_axis.max),
    )
}

/// The safe range as a green band, and everything past the database limit hatched.
fn draw_regions<DB: DrawingBackend>(
    chart: &mut LineChartContext<DB>,
    chart_spec: &LineChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (y_min, y_max) = y_limits(chart_spec);
    let x_axis = &chart_spec.x_axis;
    if let Some((lo, hi)) = chart_spec.marks.safe_range {
        let (x0, x1) = (f64::from(lo) - 0.3, f64::from(hi) + 0.3);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0.max(x_axis.min), y_min), (x1.min(x_axis.max), y_max)],
            SAFE_RANGE_COLOUR.mix(0.35).filled(),
        )))?;
    }
    if let Some(limit) = chart_spec.marks.db_limit {
        let x0 = f64::from(limit);
        if x0 < x_axis.max {
            let top_left = chart.backend_coord(&(x0, y_max));
            let bottom_right = chart.backend_coord(&(x_axis.max, y_min));
            draw_hatching(chart.plotting_area(), top_left, bottom_right)?;
        }
    }
    Ok(())
}

fn draw_bands<DB: DrawingBackend>(
    chart: &mut LineChartContext<DB>,
    chart_spec: &LineChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let scale = chart_spec.y_scale;
    let y_axis = &chart_spec.y_axis;
    // Clamping keeps bands that reach past the axis (or below zero on a log axis) finite.
    let clamp_plot = |v: f64| scale.value_to_plot(v.clamp(y_axis.min, y_axis.max));
    for line in chart_spec.lines.iter().filter(|l| l.draw_ci_band) {
        for run in plottable_runs(&line.points, plottable_mean(scale)) {
            let band: Vec<(f64, f64, f64)> = run
                .iter()
                .filter(|(_, i)| i.lo.is_finite() && i.hi.is_finite())
                .map(|(x, i)| (*x, clamp_plot(i.lo.min(i.hi)), clamp_plot(i.lo.max(i.hi))))
                .collect();
            let band_style = line.colour.mix(CI_BAND_OPACITY).filled();
            if band.len() >= 2 {
                let outline: Vec<(f64, f64)> = band
                    .iter()
                    .map(|(x, lo, _)| (*x, *lo))
                    .chain(band.iter().rev().map(|(x, _, hi)| (*x, *hi)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, band_style)))?;
            } else if let [(x, lo, hi)] = band.as_slice() {
                // A lone point has no area to shade; show its interval as an error bar.
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(*x, *lo), (*x, *hi)],
                    line.colour.mix(0.4).stroke_width(2),
                )))?;
            }
        }
    }
    Ok(())
}

fn draw_rules_and_marks<DB: DrawingBackend>(
    chart: &mut LineChartContext<DB>,
    chart_spec: &LineChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let scale = chart_spec.y_scale;
    let (x_axis, y_axis) = (&chart_spec.x_axis, &chart_spec.y_axis);
    let (y_min, y_max) = y_limits(chart_spec);
    for rule in &chart_spec.rules {
        let y = scale.value_to_plot(rule.value.clamp(y_axis.min, y_axis.max));
        chart.draw_series(DashedLineSeries::new(
            vec![(x_axis.min, y), (x_axis.max, y)],
            12,
            8,
            rule.colour.stroke_width(2),
        ))?;
    }
    let marks = &chart_spec.marks;
    for (size, colour, width) in [
        (marks.db_limit, SLO_COLOUR, 2),
        (marks.current, CURRENT_MARKER_COLOUR, 2),
        (marks.recommended, RECOMMENDED_COLOUR, 3),
    ] {
        if let Some(size) = size {
            let x = f64::from(size);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, y_min), (x, y_max)],
                colour.stroke_width(width),
            )))?;
        }
    }
    Ok(())
}

/// Returns whether any line had a point to draw.
fn draw_lines<DB: DrawingBackend>(
    chart: &mut LineChartContext<DB>,
    chart_spec: &LineChart,
) -> Result<bool>
where
    DB::ErrorType: 'static,
{
    let scale = chart_spec.y_scale;
    let mut anything_drawn = false;
    for line in &chart_spec.lines {
        for run in plottable_runs(&line.points, plottable_mean(scale)) {
            anything_drawn = true;
            let coords: Vec<(f64, f64)> = run
                .iter()
                .map(|(x, i)| (*x, scale.value_to_plot(i.mean)))
                .collect();
            let style = line.colour.stroke_width(3);
            if line.dashed {
                chart.draw_series(DashedLineSeries::new(coords.clone(), 10, 6, style))?;
            } else {
                chart.draw_series(LineSeries::new(coords.clone(), style))?;
            }
            for &(x, y) in &coords {
                if line.infeasible_x.contains(&x) {
                    // A cross: measured, but the database cannot hold this size.
                    chart.draw_series(std::iter::once(Cross::new(
                        (x, y),
                        6,
                        INFEASIBLE_COLOUR.stroke_width(3),
                    )))?;
                } else {
                    chart.draw_series(std::iter::once(Circle::new(
                        (x, y),
                        5,
                        line.colour.filled(),
                    )))?;
                }
            }
        }
    }
    Ok(anything_drawn)
}

fn draw_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChartContext<DB>,
    chart_spec: &LineChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let scale = chart_spec.y_scale;
    let (x_axis, y_axis) = (&chart_spec.x_axis, &chart_spec.y_axis);
    for rule in &chart_spec.rules {
        let y = scale.value_to_plot(rule.value.clamp(y_axis.min, y_axis.max));
        let (x_px, y_px) = chart.backend_coord(&(x_axis.min, y));
        draw_boxed_label(
            root,
            (x_px + 8, y_px - 6),
            &rule.label,
            &text_style(ANNOTATION_FONT_PX, &rule.colour),
            Pos::new(HPos::Left, VPos::Bottom),
        )?;
    }
    // Vertical marks are labelled at the top, one row each so that close marks stay legible.
    let (_, y_max) = y_limits(chart_spec);
    let marks = &chart_spec.marks;
    let row_px = ANNOTATION_FONT_PX as i32 + 10;
    let labels = [
        (marks.current, "current", BLACK),
        (marks.recommended, "recommended", RECOMMENDED_COLOUR),
        (marks.db_limit, "database limit", SLO_COLOUR),
    ];
    let shown = labels
        .into_iter()
        .filter_map(|(size, name, colour)| size.map(|s| (s, name, colour)));
    for (row, (size, name, colour)) in shown.enumerate() {
        let label = format!("{name} {size}");
        let size = f64::from(size);
        let (x_px, y_px) = chart.backend_coord(&(size, y_max));
        // Flip the label to the left of the mark when the mark is near the right edge.
        let near_right_edge = size > x_axis.min + 0.7 * (x_axis.max - x_axis.min);
        let (x_px, h_pos) = if near_right_edge {
            (x_px - 7, HPos::Right)
        } else {
            (x_px + 7, HPos::Left)
        };
        draw_boxed_label(
            root,
            (x_px, y_px + 8 + row as i32 * row_px),
            &label,
            &text_style(ANNOTATION_FONT_PX, &colour),
            Pos::new(h_pos, VPos::Top),
        )?;
    }
    Ok(())
}

/// For [`plottable_runs`]: keeps points whose mean `scale` can show, as they are.
fn plottable_mean(scale: YScale) -> impl Fn(Interval) -> Option<Interval> {
    move |interval| scale.is_plottable(interval.mean).then_some(interval)
}
