//! Capacity-planning charts for the poolsim report.
//!
//! A capacity sweep produces a table of (pool size × traffic growth) results that is hard to
//! read as numbers; these charts show at a glance where p99 latency and error rate cross the
//! SLO, how the knee moves with growth, and how busy the pool and the database are. They are
//! rendered with plotters into PNG (for documents) and SVG (for the web) without touching any
//! system font: CI machines have none, so DejaVu Sans is compiled into the binary and
//! registered as the only "sans-serif" family. Every file is rendered to a temporary name in
//! the target directory and renamed into place, so a reader never sees a half-written chart.

use std::fs;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Output formats for [`write_capacity_charts`].
pub use super::plotting::ImageFormat;
use super::plotting::{
    draw_boxed_label, draw_notice, draw_title, format_number, group_thousands, nice_ticks,
    plottable_runs, rectangle_outline, register_bundled_font, text_style, write_image, Axis,
    AxisLook, Chart, TickedRange, YScale, SUBTITLE_COLOUR, ZERO_LINE_HEADROOM,
};

/// A mean with its 95% confidence interval, in the unit of the field that holds it.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Result of one cell of the capacity sweep.
///
/// `error_rate`, `pool_utilization` and `db_utilization` are fractions (0.0..=1.0); the charts
/// show them as percentages. `latency_p99_ms` is NaN when no request succeeded.
#[derive(Clone, Debug)]
pub struct CapacityPoint {
    pub pool_size: u32,
    pub growth: f64,
    pub latency_p99_ms: Interval,
    pub error_rate: Interval,
    pub pool_utilization: Interval,
    pub db_utilization: Interval,
    pub slo_pass: bool,
}

/// Everything the capacity charts need. `slo_error_rate` is a fraction like `error_rate`;
/// `current_pool_size` 0 means "unknown" and hides the current-size marker.
#[derive(Clone, Debug)]
pub struct CapacityChartSpec<'a> {
    pub model_name: &'a str,
    pub slo_latency_p99_ms: f64,
    pub slo_error_rate: f64,
    pub current_pool_size: u32,
    pub points: &'a [CapacityPoint],
}

/// Writes every capacity chart in every requested format into `dir` and returns the file names written (relative to dir), e.g. "capacity-p99.png".
pub fn write_capacity_charts(
    spec: &CapacityChartSpec,
    dir: &std::path::Path,
    formats: &[ImageFormat],
) -> anyhow::Result<Vec<String>> {
    register_bundled_font()?;
    fs::create_dir_all(dir)
        .with_context(|| format!("creating chart directory {}", dir.display()))?;
    let mut written = Vec::new();
    for chart in ChartKind::ALL {
        for &format in formats {
            let file_name = write_image(
                &CapacityChart { kind: chart, spec },
                dir,
                chart.file_stem(),
                format,
                IMAGE_SIZE_PX,
            )
            .with_context(|| format!("writing chart {} ({format:?})", chart.file_stem()))?;
            written.push(file_name);
        }
    }
    Ok(written)
}

const IMAGE_SIZE_PX: (u32, u32) = (1200, 750);

const TITLE_FONT_PX: u32 = 30;
const SUBTITLE_FONT_PX: u32 = 18;
const AXIS_DESC_FONT_PX: u32 = 20;
const TICK_LABEL_FONT_PX: u32 = 17;
const LEGEND_FONT_PX: u32 = 17;
const ANNOTATION_FONT_PX: u32 = 16;
const HEADER_HEIGHT_PX: u32 = 82;
const CHART_MARGIN_PX: u32 = 16;
const X_LABEL_AREA_PX: u32 = 64;
const Y_LABEL_AREA_PX: u32 = 96;
const AXES: AxisLook = AxisLook {
    desc_font_px: AXIS_DESC_FONT_PX,
    tick_font_px: TICK_LABEL_FONT_PX,
    minor_grid: RGBColor(240, 240, 240),
};

/// Tableau-10 without its red and grey, which are reserved for the SLO line and the
/// current-size marker; near-black and navy fill the last two slots.
const GROWTH_PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(34, 34, 34),
];
const SLO_COLOUR: RGBColor = RGBColor(214, 39, 40);
const CURRENT_MARKER_COLOUR: RGBColor = RGBColor(120, 120, 120);
const PASS_COLOUR: RGBColor = RGBColor(161, 217, 155);
const FAIL_COLOUR: RGBColor = RGBColor(244, 150, 140);
const MISSING_COLOUR: RGBColor = RGBColor(225, 225, 225);
const CI_BAND_OPACITY: f64 = 0.15;

#[derive(Clone, Copy, Debug)]
enum ChartKind {
    LatencyP99,
    ErrorRate,
    SloHeatmap,
    Utilization,
}

impl ChartKind {
    const ALL: [ChartKind; 4] = [
        ChartKind::LatencyP99,
        ChartKind::ErrorRate,
        ChartKind::SloHeatmap,
        ChartKind::Utilization,
    ];

    fn file_stem(self) -> &'static str {
        match self {
            ChartKind::LatencyP99 => "capacity-p99",
            ChartKind::ErrorRate => "capacity-errors",
            ChartKind::SloHeatmap => "slo-heatmap",
            ChartKind::Utilization => "utilization",
        }
    }
}

/// One capacity chart of one sweep, ready to render.
struct CapacityChart<'a> {
    kind: ChartKind,
    spec: &'a CapacityChartSpec<'a>,
}

impl Chart for CapacityChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let spec = self.spec;
        match self.kind {
            ChartKind::LatencyP99 => draw_line_chart(root, &latency_p99_chart(spec)),
            ChartKind::ErrorRate => draw_line_chart(root, &error_rate_chart(spec)),
            ChartKind::SloHeatmap => draw_slo_heatmap(root, spec),
            ChartKind::Utilization => draw_line_chart(root, &utilization_chart(spec)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation
// ---------------------------------------------------------------------------------------------

struct GrowthGroup<'a> {
    growth: f64,
    colour: RGBColor,
    /// Once the palette runs out, colours repeat with dashed lines so lines stay distinct.
    dashed: bool,
    /// Sorted by pool size.
    points: Vec<&'a CapacityPoint>,
}

/// One line per growth level, with its confidence band, of `value` against pool size.
fn growth_lines(
    groups: &[GrowthGroup],
    value: impl Fn(&CapacityPoint) -> Interval,
) -> Vec<PlotLine> {
    groups
        .iter()
        .map(|group| PlotLine {
            colour: group.colour,
            dashed: group.dashed,
            draw_ci_band: true,
            points: group
                .points
                .iter()
                .map(|p| (f64::from(p.pool_size), value(p)))
                .collect(),
        })
        .collect()
}

impl GrowthGroup<'_> {
    fn label(&self) -> String {
        format!("growth {:.2}x", self.growth)
    }
}

/// Growth levels come from float arithmetic in the sweep, so compare with a tolerance.
fn same_growth(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn group_by_growth(points: &[CapacityPoint]) -> Vec<GrowthGroup<'_>> {
    let mut growths: Vec<f64> = points
        .iter()
        .map(|p| p.growth)
        .filter(|g| g.is_finite())
        .collect();
    growths.sort_by(f64::total_cmp);
    growths.dedup_by(|a, b| same_growth(*a, *b));
    growths
        .iter()
        .enumerate()
        .map(|(index, &growth)| {
            let mut group_points: Vec<&CapacityPoint> = points
                .iter()
                .filter(|p| same_growth(p.growth, growth))
                .collect();
            group_points.sort_by_key(|p| p.pool_size);
            GrowthGroup {
                growth,
                colour: GROWTH_PALETTE[index % GROWTH_PALETTE.len()],
                dashed: index >= GROWTH_PALETTE.len(),
                points: group_points,
            }
        })
        .collect()
}

fn distinct_pool_sizes(points: &[CapacityPoint]) -> Vec<u32> {
    let mut sizes: Vec<u32> = points
        .iter()
        .filter(|p| p.growth.is_finite())
        .map(|p| p.pool_size)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

fn current_pool_size(spec: &CapacityChartSpec) -> Option<u32> {
    (spec.current_pool_size > 0).then_some(spec.current_pool_size)
}

fn scale_interval(interval: Interval, factor: f64) -> Interval {
    Interval {
        mean: interval.mean * factor,
        lo: interval.lo * factor,
        hi: interval.hi * factor,
    }
}

// ---------------------------------------------------------------------------------------------
// Line charts (p99, error rate, utilization)
// ---------------------------------------------------------------------------------------------

struct PlotLine {
    colour: RGBColor,
    dashed: bool,
    draw_ci_band: bool,
    /// (pool size, value in display units). Non-plottable means leave a gap.
    points: Vec<(f64, Interval)>,
}

struct HorizontalRule {
    value: f64,
    label: String,
}

struct LineChart {
    title: String,
    subtitle: String,
    y_desc: String,
    y_scale: YScale,
    x_axis: Axis,
    y_axis: Axis,
    lines: Vec<PlotLine>,
    slo: Option<HorizontalRule>,
    current_pool_size: Option<u32>,
    legend: Vec<LegendEntry>,
}

const X_DESC: &str = "pool size (max connections per instance)";

fn latency_p99_chart(spec: &CapacityChartSpec) -> LineChart {
    let groups = group_by_growth(spec.points);
    // A p99 of 0 ms only comes from an empty histogram, so treat it like NaN.
    let p99_of = |p: &CapacityPoint| {
        let mut interval = p.latency_p99_ms;
        if interval.mean <= 0.0 {
            interval.mean = f64::NAN;
        }
        interval
    };
    let slo_ms = (spec.slo_latency_p99_ms.is_finite() && spec.slo_latency_p99_ms > 0.0)
        .then_some(spec.slo_latency_p99_ms);

    let mut observed: Vec<f64> = Vec::new();
    for point in spec.points {
        let p99 = p99_of(point);
        if p99.mean.is_finite() {
            observed.extend(
                [p99.mean, p99.lo, p99.hi]
                    .into_iter()
                    .filter(|v| v.is_finite() && *v > 0.0),
            );
        }
    }
    observed.extend(slo_ms);
    let (y_scale, y_axis) = value_axis(&observed, true);

    let lines = growth_lines(&groups, p99_of);

    let scale_note = if y_scale == YScale::Log10 {
        "log scale; "
    } else {
        ""
    };
    let mut legend = growth_legend(&groups, true);
    legend.push(LegendEntry::new(
        "95% CI",
        LegendSample::Band(RGBColor(90, 90, 90)),
    ));
    if let Some(slo) = slo_ms {
        legend.push(LegendEntry::new(
            format!("SLO p99 {} ms", format_number(slo)),
            LegendSample::DashedRule(SLO_COLOUR),
        ));
    }
    push_current_legend(&mut legend, spec);

    LineChart {
        title: format!("{}: p99 latency vs pool size", spec.model_name),
        subtitle: format!(
            "one line per traffic growth level; {scale_note}shaded band = 95% confidence interval; points without successful requests are omitted"
        ),
        y_desc: "p99 latency (ms)".to_string(),
        y_scale,
        x_axis: pool_size_axis(&distinct_pool_sizes(spec.points), current_pool_size(spec)),
        y_axis,
        lines,
        slo: slo_ms.map(|slo| HorizontalRule {
            value: slo,
            label: format!("SLO p99 {} ms", format_number(slo)),
        }),
        current_pool_size: current_pool_size(spec),
        legend,
    }
}

fn error_rate_chart(spec: &CapacityChartSpec) -> LineChart {
    let groups = group_by_growth(spec.points);
    let slo_percent = (spec.slo_error_rate.is_finite() && spec.slo_error_rate >= 0.0)
        .then_some(spec.slo_error_rate * 100.0);

    let mut observed: Vec<f64> = Vec::new();
    for point in spec.points {
        let rate = scale_interval(point.error_rate, 100.0);
        if rate.mean.is_finite() {
            observed.extend(
                [rate.mean, rate.lo, rate.hi]
                    .into_iter()
                    .filter(|v| v.is_finite()),
            );
        }
    }
    observed.extend(slo_percent);
    // Error rates are often exactly 0, which a log axis cannot show.
    let (y_scale, y_axis) = value_axis(&observed, false);

    let lines = growth_lines(&groups, |p| scale_interval(p.error_rate, 100.0));

    let slo_label = slo_percent.map(|slo| format!("SLO error rate {}%", format_number(slo)));
    let mut legend = growth_legend(&groups, true);
    legend.push(LegendEntry::new(
        "95% CI",
        LegendSample::Band(RGBColor(90, 90, 90)),
    ));
    if let Some(label) = &slo_label {
        legend.push(LegendEntry::new(
            label.clone(),
            LegendSample::DashedRule(SLO_COLOUR),
        ));
    }
    push_current_legend(&mut legend, spec);

    LineChart {
        title: format!("{}: error rate vs pool size", spec.model_name),
        subtitle: "share of requests that failed; one line per traffic growth level; shaded band = 95% confidence interval".to_string(),
        y_desc: "error rate (%)".to_string(),
        y_scale,
        x_axis: pool_size_axis(&distinct_pool_sizes(spec.points), current_pool_size(spec)),
        y_axis,
        lines,
        slo: slo_percent.zip(slo_label).map(|(value, label)| HorizontalRule { value, label }),
        current_pool_size: current_pool_size(spec),
        legend,
    }
}

fn utilization_chart(spec: &CapacityChartSpec) -> LineChart {
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
        });
        lines.push(PlotLine {
            colour: group.colour,
            dashed: true,
            draw_ci_band: false,
            points: db_points,
        });
    }

    let mut legend = growth_legend(&groups, false);
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
    push_current_legend(&mut legend, spec);

    let percent_ticks: Vec<f64> = (0..=10).map(|i| f64::from(i) * 10.0).collect();
    LineChart {
        title: format!("{}: pool and database utilization", spec.model_name),
        subtitle: "solid = share of pool connections in use; dashed = database busy share; one colour per traffic growth level".to_string(),
        y_desc: "utilization (%)".to_string(),
        y_scale: YScale::Linear,
        x_axis: pool_size_axis(&distinct_pool_sizes(spec.points), current_pool_size(spec)),
        // A little headroom above 100% keeps a saturated line off the frame.
        y_axis: Axis {
            min: -100.0 * ZERO_LINE_HEADROOM,
            max: 104.0,
            ticks: percent_ticks,
            minor_ticks: Vec::new(),
        },
        lines,
        slo: None,
        current_pool_size: current_pool_size(spec),
        legend,
    }
}

/// `dash_repeated_colours` is false where dashes already mean something else (utilization).
fn growth_legend(groups: &[GrowthGroup], dash_repeated_colours: bool) -> Vec<LegendEntry> {
    groups
        .iter()
        .map(|group| {
            LegendEntry::new(
                group.label(),
                LegendSample::Line {
                    colour: group.colour,
                    dashed: dash_repeated_colours && group.dashed,
                    with_band: false,
                },
            )
        })
        .collect()
}

fn push_current_legend(legend: &mut Vec<LegendEntry>, spec: &CapacityChartSpec) {
    if let Some(current) = current_pool_size(spec) {
        legend.push(LegendEntry::new(
            format!("current pool size ({current})"),
            LegendSample::VerticalRule(CURRENT_MARKER_COLOUR),
        ));
    }
}

/// Chooses the pool-size axis: ticks at the simulated sizes when they fit, so readers can
/// tell which sizes were actually run; evenly spaced ticks otherwise.
fn pool_size_axis(pool_sizes: &[u32], current: Option<u32>) -> Axis {
    let mut all: Vec<f64> = pool_sizes.iter().map(|&s| f64::from(s)).collect();
    all.extend(current.map(f64::from));
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

    const MIN_TICK_GAP_PX: f64 = 42.0;
    const ESTIMATED_PLOT_WIDTH_PX: f64 = 800.0;
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
/// ticks, or log (see [`super::plotting::value_axis`]) with at most twelve 1-2-5 ticks.
fn value_axis(observed: &[f64], allow_log: bool) -> (YScale, Axis) {
    super::plotting::value_axis(observed, allow_log, 7, 12)
}

fn draw_line_chart<DB: DrawingBackend>(
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
    let (x_axis, y_axis) = (&chart_spec.x_axis, &chart_spec.y_axis);
    let y_range = TickedRange::for_axis(y_axis, scale);
    let (y_min_plot, y_max_plot) = (y_range.min, y_range.max);
    // Clamping keeps bands that reach past the axis (or below zero on a log axis) finite.
    let clamp_plot = |v: f64| scale.value_to_plot(v.clamp(y_axis.min, y_axis.max));

    let mut chart = ChartBuilder::on(&plot_area)
        .margin(CHART_MARGIN_PX)
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .build_cartesian_2d(TickedRange::for_axis(x_axis, YScale::Linear), y_range)?;

    let format_x = |v: &f64| format_number(*v);
    let format_y = |v: &f64| format_number(scale.plot_to_value(*v));
    AXES.apply(&mut chart.configure_mesh(), &format_x, &format_y)
        .x_desc(X_DESC)
        .y_desc(chart_spec.y_desc.as_str())
        .draw()?;

    let mut anything_drawn = false;
    for line in &chart_spec.lines {
        if line.draw_ci_band {
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
                        line.colour.mix(0.5).stroke_width(3),
                    )))?;
                }
            }
        }
    }

    if let Some(slo) = &chart_spec.slo {
        let y = clamp_plot(slo.value);
        chart.draw_series(DashedLineSeries::new(
            vec![(x_axis.min, y), (x_axis.max, y)],
            12,
            8,
            SLO_COLOUR.stroke_width(2),
        ))?;
    }

    if let Some(current) = chart_spec.current_pool_size {
        let x = f64::from(current);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, y_min_plot), (x, y_max_plot)],
            CURRENT_MARKER_COLOUR.stroke_width(2),
        )))?;
    }

    for line in &chart_spec.lines {
        for run in plottable_runs(&line.points, plottable_mean(scale)) {
            anything_drawn = true;
            let coords: Vec<(f64, f64)> = run
                .iter()
                .map(|(x, i)| (*x, scale.value_to_plot(i.mean)))
                .collect();
            if line.dashed {
                chart.draw_series(DashedLineSeries::new(
                    coords.clone(),
                    10,
                    6,
                    line.colour.stroke_width(2),
                ))?;
                chart.draw_series(coords.iter().map(|c| {
                    Circle::new(
                        *c,
                        4,
                        ShapeStyle {
                            color: line.colour.to_rgba(),
                            filled: false,
                            stroke_width: 2,
                        },
                    )
                }))?;
            } else {
                chart.draw_series(LineSeries::new(coords.clone(), line.colour.stroke_width(3)))?;
                chart.draw_series(
                    coords
                        .iter()
                        .map(|c| Circle::new(*c, 4, line.colour.filled())),
                )?;
            }
        }
    }

    // Labels go last so that they sit on top of the lines they might cross.
    if let Some(slo) = &chart_spec.slo {
        let (x_px, y_px) = chart.backend_coord(&(x_axis.max, clamp_plot(slo.value)));
        draw_boxed_label(
            root,
            (x_px - 8, y_px - 6),
            &slo.label,
            &text_style(ANNOTATION_FONT_PX, &SLO_COLOUR),
            Pos::new(HPos::Right, VPos::Bottom),
        )?;
    }
    if let Some(current) = chart_spec.current_pool_size {
        let (x_px, y_px) = chart.backend_coord(&(f64::from(current), y_max_plot));
        // Flip the label to the left of the marker when the marker is near the right edge.
        let near_right_edge = f64::from(current) > x_axis.min + 0.85 * (x_axis.max - x_axis.min);
        let (x_px, h_pos) = if near_right_edge {
            (x_px - 7, HPos::Right)
        } else {
            (x_px + 7, HPos::Left)
        };
        draw_boxed_label(
            root,
            (x_px, y_px + 8),
            "current",
            &text_style(ANNOTATION_FONT_PX, &BLACK),
            Pos::new(h_pos, VPos::Top),
        )?;
    }

    if !anything_drawn {
        draw_no_data_notice(root, chart.plotting_area().get_pixel_range())?;
    }
    draw_legend(&legend_area, &chart_spec.legend)?;
    Ok(())
}

/// For [`plottable_runs`]: keeps points whose mean `scale` can show, as they are.
fn plottable_mean(scale: YScale) -> impl Fn(Interval) -> Option<Interval> {
    move |interval| scale.is_plottable(interval.mean).then_some(interval)
}

// ---------------------------------------------------------------------------------------------
// SLO heatmap
// ---------------------------------------------------------------------------------------------

fn draw_slo_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &CapacityChartSpec,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let groups = group_by_growth(spec.points);
    let pool_sizes = distinct_pool_sizes(spec.points);
    let current_column =
        current_pool_size(spec).and_then(|current| pool_sizes.iter().position(|&s| s == current));
    let cell_at = |column: usize, row: usize| {
        groups[row]
            .points
            .iter()
            .find(|p| p.pool_size == pool_sizes[column])
            .copied()
    };
    let any_missing =
        (0..pool_sizes.len()).any(|c| (0..groups.len()).any(|r| cell_at(c, r).is_none()));

    let mut legend = vec![
        LegendEntry::new("meets SLO", LegendSample::Swatch(PASS_COLOUR)),
        LegendEntry::new("misses SLO", LegendSample::Swatch(FAIL_COLOUR)),
    ];
    if any_missing {
        legend.push(LegendEntry::new(
            "not simulated",
            LegendSample::Swatch(MISSING_COLOUR),
        ));
    }
    if current_column.is_some() {
        legend.push(LegendEntry::new(
            format!("current pool size ({})", spec.current_pool_size),
            LegendSample::Outline(BLACK),
        ));
    }
    legend.push(LegendEntry::new(
        "number = p99 (ms)",
        LegendSample::Text("60"),
    ));

    let subtitle = format!(
        "SLO: p99 latency \u{2264} {} ms and error rate \u{2264} {}%; each cell shows its p99 latency in ms",
        format_number(spec.slo_latency_p99_ms),
        format_number(spec.slo_error_rate * 100.0)
    );
    let title = format!("{}: SLO pass/fail by pool size and growth", spec.model_name);
    let (plot_area, legend_area) = layout(root, &title, &subtitle, &legend)?;

    let has_cells = !(pool_sizes.is_empty() || groups.is_empty());
    let columns = pool_sizes.len().max(1);
    let rows = groups.len().max(1);
    let centres = |count: usize| -> Vec<f64> {
        if has_cells {
            (0..count).map(|i| i as f64 + 0.5).collect()
        } else {
            Vec::new()
        }
    };
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(CHART_MARGIN_PX)
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .build_cartesian_2d(
            TickedRange {
                min: 0.0,
                max: columns as f64,
                major_ticks: centres(columns),
                minor_ticks: Vec::new(),
            },
            TickedRange {
                min: 0.0,
                max: rows as f64,
                major_ticks: centres(rows),
                minor_ticks: Vec::new(),
            },
        )?;

    let (plot_width_px, plot_height_px) = chart.plotting_area().dim_in_pixel();
    let cell_width_px = f64::from(plot_width_px) / columns as f64;
    let cell_height_px = f64::from(plot_height_px) / rows as f64;

    // With many columns, label every n-th pool size so the labels do not run together.
    let widest_pool_label_px = pool_sizes
        .iter()
        .map(|s| approx_text_width_px(&s.to_string(), TICK_LABEL_FONT_PX))
        .fold(0.0, f64::max)
        + 10.0;
    let label_every_nth_column = (widest_pool_label_px / cell_width_px).ceil().max(1.0) as usize;
    let column_label = |v: &f64| {
        let column = v.floor().max(0.0) as usize;
        if !column.is_multiple_of(label_every_nth_column) {
            return String::new();
        }
        pool_sizes
            .get(column)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let row_label = |v: &f64| {
        groups
            .get(v.floor().max(0.0) as usize)
            .map(|g| format!("{:.2}x", g.growth))
            .unwrap_or_default()
    };
    // No grid: the cells are the grid.
    AXES.apply(&mut chart.configure_mesh(), &column_label, &row_label)
        .disable_mesh()
        .x_desc(X_DESC)
        .y_desc("traffic growth (x current load)")
        .draw()?;

    if !has_cells {
        draw_no_data_notice(root, chart.plotting_area().get_pixel_range())?;
        draw_legend(&legend_area, &legend)?;
        return Ok(());
    }

    // Fit the cell text to the cell: full numbers when they fit at a readable size, "30k"
    // style otherwise; a second line with the verdict only when there is room for it.
    const MAX_VALUE_FONT_PX: f64 = 22.0;
    const MIN_READABLE_FONT_PX: f64 = 11.0;
    let font_px_for = |compact: bool| -> f64 {
        let widest_value_chars = groups
            .iter()
            .flat_map(|g| g.points.iter())
            .map(|p| {
                format_p99_cell(p.latency_p99_ms.mean, compact)
                    .chars()
                    .count()
            })
            .max()
            .unwrap_or(3) as f64;
        (cell_width_px * 0.9 / (widest_value_chars * APPROX_CHAR_WIDTH_EM))
            .min(cell_height_px * 0.34)
            .min(MAX_VALUE_FONT_PX)
    };
    let compact_values = font_px_for(false) < MIN_READABLE_FONT_PX;
    let value_font_px = font_px_for(compact_values).max(8.0) as u32;
    let verdict_font_px = (f64::from(value_font_px) * 0.72) as u32;
    let two_lines = f64::from(verdict_font_px) >= MIN_READABLE_FONT_PX - 1.0
        && cell_height_px >= f64::from(value_font_px + verdict_font_px) * 1.5;

    const CELL_GAP: f64 = 0.025;
    for (row, _) in groups.iter().enumerate() {
        for column in 0..pool_sizes.len() {
            let (x0, y0) = (column as f64, row as f64);
            let cell = cell_at(column, row);
            let fill = match cell {
                Some(p) if p.slo_pass => PASS_COLOUR,
                Some(_) => FAIL_COLOUR,
                None => MISSING_COLOUR,
            };
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (x0 + CELL_GAP, y0 + CELL_GAP),
                    (x0 + 1.0 - CELL_GAP, y0 + 1.0 - CELL_GAP),
                ],
                fill.filled(),
            )))?;
            let (value_text, verdict_text) = match cell {
                Some(p) => (
                    format_p99_cell(p.latency_p99_ms.mean, compact_values),
                    if p.slo_pass { "pass" } else { "FAIL" },
                ),
                None => ("\u{2013}".to_string(), ""),
            };
            let centre = (x0 + 0.5, y0 + 0.5);
            let centred = Pos::new(HPos::Center, VPos::Center);
            if two_lines && !verdict_text.is_empty() {
                let value_offset_px = -(verdict_font_px as i32) / 2 - 1;
                let verdict_offset_px = (value_font_px as i32) / 2 + 2;
                chart.draw_series(std::iter::once(
                    EmptyElement::at(centre)
                        + Text::new(
                            value_text,
                            (0, value_offset_px),
                            text_style(value_font_px, &BLACK).pos(centred),
                        )
                        + Text::new(
                            verdict_text.to_string(),
                            (0, verdict_offset_px),
                            text_style(verdict_font_px, &SUBTITLE_COLOUR).pos(centred),
                        ),
                ))?;
            } else {
                chart.draw_series(std::iter::once(
                    EmptyElement::at(centre)
                        + Text::new(
                            value_text,
                            (0, 0),
                            text_style(value_font_px, &BLACK).pos(centred),
                        ),
                ))?;
            }
        }
    }

    if let Some(column) = current_column {
        let x0 = column as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            rectangle_outline((x0 + 0.01, 0.005), (x0 + 0.99, rows as f64 - 0.005)),
            BLACK.stroke_width(3),
        )))?;
    }

    draw_legend(&legend_area, &legend)?;
    Ok(())
}

fn format_p99_cell(p99_ms: f64, compact: bool) -> String {
    if !(p99_ms.is_finite() && p99_ms > 0.0) {
        "n/a".to_string()
    } else if p99_ms < 10.0 {
        format!("{p99_ms:.1}")
    } else if compact && p99_ms >= 9_950.0 {
        format!("{:.0}k", p99_ms / 1000.0)
    } else if compact && p99_ms >= 1_000.0 {
        format!("{:.1}k", p99_ms / 1000.0)
    } else {
        group_thousands(p99_ms.round() as i64)
    }
}

/// DejaVu Sans averages about 0.6 em per digit; close enough to size cell text without
/// measuring every string through the backend.
const APPROX_CHAR_WIDTH_EM: f64 = 0.62;

fn approx_text_width_px(text: &str, font_px: u32) -> f64 {
    text.chars().count() as f64 * APPROX_CHAR_WIDTH_EM * f64::from(font_px)
}

// ---------------------------------------------------------------------------------------------
// Layout, legend and text helpers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum LegendSample {
    Line {
        colour: RGBColor,
        dashed: bool,
        with_band: bool,
    },
    Band(RGBColor),
    DashedRule(RGBColor),
    VerticalRule(RGBColor),
    Swatch(RGBColor),
    Outline(RGBColor),
    Text(&'static str),
}

struct LegendEntry {
    label: String,
    sample: LegendSample,
}

impl LegendEntry {
    fn new(label: impl Into<String>, sample: LegendSample) -> Self {
        Self {
            label: label.into(),
            sample,
        }
    }
}

const LEGEND_SAMPLE_WIDTH_PX: i32 = 40;
const LEGEND_ROW_HEIGHT_PX: i32 = 27;
const LEGEND_PADDING_PX: i32 = 12;
const LEGEND_GAP_PX: i32 = 10;
const LEGEND_OUTER_MARGIN_PX: i32 = 8;

/// Draws the white header with title and subtitle, then splits the rest into the plot and a
/// legend column on the right. The legend lives outside the plot so it can never hide data.
fn layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    legend: &[LegendEntry],
) -> Result<(DrawingArea<DB, Shift>, DrawingArea<DB, Shift>)>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (width_px, _) = root.dim_in_pixel();
    draw_title(
        root,
        (title, TITLE_FONT_PX),
        (subtitle, SUBTITLE_FONT_PX),
        52,
    )?;

    let (_, body) = root.split_vertically(HEADER_HEIGHT_PX);
    let legend_style = text_style(LEGEND_FONT_PX, &BLACK);
    let mut widest_label_px = 0u32;
    for entry in legend {
        widest_label_px =
            widest_label_px.max(root.estimate_text_size(&entry.label, &legend_style)?.0);
    }
    let legend_width_px = (widest_label_px as i32
        + LEGEND_SAMPLE_WIDTH_PX
        + LEGEND_GAP_PX
        + 2 * LEGEND_PADDING_PX
        + 2 * LEGEND_OUTER_MARGIN_PX)
        .min(width_px as i32 * 2 / 5);
    let (plot_area, legend_area) = body.split_horizontally(width_px as i32 - legend_width_px);
    Ok((plot_area, legend_area))
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if entries.is_empty() {
        return Ok(());
    }
    let (width_px, _) = area.dim_in_pixel();
    let left = 0;
    let right = width_px as i32 - 2 * LEGEND_OUTER_MARGIN_PX;
    // Align the box top with the top of the plotting area.
    let top = CHART_MARGIN_PX as i32;
    let bottom = top + 2 * LEGEND_PADDING_PX + LEGEND_ROW_HEIGHT_PX * entries.len() as i32;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        WHITE.filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        BLACK.stroke_width(1),
    ))?;

    let label_style = text_style(LEGEND_FONT_PX, &BLACK);
    for (index, entry) in entries.iter().enumerate() {
        let centre_y = top
            + LEGEND_PADDING_PX
            + LEGEND_ROW_HEIGHT_PX * index as i32
            + LEGEND_ROW_HEIGHT_PX / 2;
        let sample_left = left + LEGEND_PADDING_PX;
        let sample_right = sample_left + LEGEND_SAMPLE_WIDTH_PX;
        draw_legend_sample(area, entry.sample, sample_left, sample_right, centre_y)?;
        area.draw(&Text::new(
            entry.label.clone(),
            (sample_right + LEGEND_GAP_PX, centre_y),
            label_style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

fn draw_legend_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sample: LegendSample,
    left: i32,
    right: i32,
    centre_y: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let half_height = LEGEND_ROW_HEIGHT_PX / 2 - 4;
    let centre_x = (left + right) / 2;
    match sample {
        LegendSample::Line {
            colour,
            dashed,
            with_band,
        } => {
            if with_band {
                area.draw(&Rectangle::new(
                    [
                        (left, centre_y - half_height),
                        (right, centre_y + half_height),
                    ],
                    colour.mix(CI_BAND_OPACITY).filled(),
                ))?;
            }
            if dashed {
                area.draw(&DashedPathElement::new(
                    vec![(left, centre_y), (right, centre_y)],
                    8,
                    5,
                    colour.stroke_width(2),
                ))?;
                area.draw(&Circle::new(
                    (centre_x, centre_y),
                    4,
                    ShapeStyle {
                        color: colour.to_rgba(),
                        filled: false,
                        stroke_width: 2,
                    },
                ))?;
            } else {
                area.draw(&PathElement::new(
                    vec![(left, centre_y), (right, centre_y)],
                    colour.stroke_width(3),
                ))?;
                area.draw(&Circle::new((centre_x, centre_y), 4, colour.filled()))?;
            }
        }
        LegendSample::Band(colour) => {
            area.draw(&Rectangle::new(
                [
                    (left, centre_y - half_height),
                    (right, centre_y + half_height),
                ],
                colour.mix(CI_BAND_OPACITY * 2.0).filled(),
            ))?;
        }
        LegendSample::DashedRule(colour) => {
            area.draw(&DashedPathElement::new(
                vec![(left, centre_y), (right, centre_y)],
                9,
                6,
                colour.stroke_width(2),
            ))?;
        }
        LegendSample::VerticalRule(colour) => {
            area.draw(&PathElement::new(
                vec![
                    (centre_x, centre_y - half_height - 2),
                    (centre_x, centre_y + half_height + 2),
                ],
                colour.stroke_width(2),
            ))?;
        }
        LegendSample::Swatch(colour) => {
            area.draw(&Rectangle::new(
                [
                    (left + 4, centre_y - half_height),
                    (right - 4, centre_y + half_height),
                ],
                colour.filled(),
            ))?;
        }
        LegendSample::Outline(colour) => {
            area.draw(&PathElement::new(
                rectangle_outline(
                    (left + 4, centre_y - half_height),
                    (right - 4, centre_y + half_height),
                ),
                colour.stroke_width(3),
            ))?;
        }
        LegendSample::Text(text) => {
            area.draw(&Text::new(
                text,
                (centre_x, centre_y),
                text_style(LEGEND_FONT_PX, &BLACK).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

fn draw_no_data_notice<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot_pixel_range: (std::ops::Range<i32>, std::ops::Range<i32>),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x_range, y_range) = plot_pixel_range;
    let centre_px = (
        (x_range.start + x_range.end) / 2,
        (y_range.start + y_range.end) / 2,
    );
    draw_notice(root, "no data to plot", centre_px, AXIS_DESC_FONT_PX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_cells_switch_to_compact_form() {
        assert_eq!(format_p99_cell(28_451.2, false), "28,451");
        assert_eq!(format_p99_cell(28_451.2, true), "28k");
        assert_eq!(format_p99_cell(1_342.0, true), "1.3k");
        assert_eq!(format_p99_cell(f64::NAN, true), "n/a");
    }

    #[test]
    fn wide_latency_spread_uses_log_axis_with_1_2_5_ticks() {
        let (scale, axis) = value_axis(&[60.0, 300.0, 30_000.0], true);
        assert!(scale == YScale::Log10);
        assert_eq!(axis.min, 50.0);
        assert_eq!(axis.max, 50_000.0);
        assert_eq!(axis.ticks.first().copied(), Some(50.0));
        assert!(axis.ticks.contains(&1_000.0));
    }

    #[test]
    fn all_zero_values_still_get_a_linear_axis() {
        let (scale, axis) = value_axis(&[0.0, 0.0], false);
        assert!(scale == YScale::Linear);
        assert!(axis.min < 0.0 && axis.max > 0.0);
        let (_, empty) = value_axis(&[], true);
        assert!(empty.max > empty.min);
    }
}
