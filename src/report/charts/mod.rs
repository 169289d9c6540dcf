//! Capacity-planning charts for the poolsim report.
//!
//! A capacity sweep produces a table of (pool size x traffic growth) results that is hard to
//! read as numbers; these charts show at a glance where p99 latency and error rate cross the
//! SLO, which pool sizes the database can hold at all, the safe range and the recommended
//! size, and how much growth each pool size carries in normal operation, with an instance
//! lost and during a deploy. They render to PNG or SVG bytes (see `plotting`) in the look of
//! `theme`, sized to stay legible at document width.
//!
//! `lines` draws the line charts (p99, errors, carried growth, utilization) and their marks,
//! `heatmap` the SLO pass/fail grid, and `legend` the shared header and legend column.

mod carried;
mod heatmap;
mod legend;
mod lines;
#[cfg(test)]
mod tests;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::output::OutputFile;
/// Output formats for [`render_capacity_charts`].
pub use super::plotting::ImageFormat;
use super::plotting::{render_image, Chart};
use super::theme::{sequential_colour, Theme};

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
    /// False when the database cannot hold this pool size here; such a point never counts
    /// as passing, whatever it measured.
    pub feasible: bool,
    /// True when a replication's backlog grew without bound (offered load beyond what
    /// the pools or the database serve): its percentiles describe a growing queue.
    pub unstable: bool,
}

/// How much traffic growth one pool size carries (growth factors; None = not even 1.0x, or
/// not evaluated).
#[derive(Clone, Debug, PartialEq)]
pub struct CarriedGrowth {
    pub pool_size: u32,
    pub feasible: bool,
    pub normal: Option<f64>,
    pub one_instance_lost: Option<f64>,
    pub deploy: Option<f64>,
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
    /// The largest pool size the database can hold.
    pub db_limit_pool_size: Option<u32>,
    pub recommended_pool_size: Option<u32>,
    /// Pool sizes (inclusive) that meet the SLO with the planned headroom.
    pub safe_range: Option<(u32, u32)>,
    /// The growth factor the recommendation plans for.
    pub planned_growth: Option<f64>,
    pub carried_growth: &'a [CarriedGrowth],
}

/// Renders every capacity chart in every requested format; paths are relative to the chart
/// directory, e.g. "capacity-p99.png".
pub fn render_capacity_charts(
    spec: &CapacityChartSpec,
    formats: &[ImageFormat],
) -> Result<Vec<OutputFile>> {
    let mut rendered = Vec::new();
    for kind in ChartKind::for_spec(spec) {
        let size_px = kind.size_px(spec);
        for &format in formats {
            let chart = CapacityChart { kind, spec };
            rendered.push(
                render_image(&chart, kind.file_stem(), format, size_px).with_context(|| {
                    format!("rendering chart {} ({format:?})", kind.file_stem())
                })?,
            );
        }
    }
    Ok(rendered)
}

const IMAGE_WIDTH_PX: u32 = 1200;
const IMAGE_HEIGHT_PX: u32 = 800;
const THEME: Theme = Theme::for_width(IMAGE_WIDTH_PX);

const TITLE_FONT_PX: u32 = THEME.title_px;
const SUBTITLE_FONT_PX: u32 = THEME.subtitle_px;
const AXIS_DESC_FONT_PX: u32 = THEME.axis_desc_px;
const TICK_LABEL_FONT_PX: u32 = THEME.tick_px;
const LEGEND_FONT_PX: u32 = THEME.legend_px;
const ANNOTATION_FONT_PX: u32 = THEME.annotation_px;
const HEADER_HEIGHT_PX: u32 = 112;
const CHART_MARGIN_PX: u32 = 16;
const X_LABEL_AREA_PX: u32 = 90;
const Y_LABEL_AREA_PX: u32 = 136;
const AXES: super::plotting::AxisLook = THEME.axes(RGBColor(240, 240, 240));

use super::theme::{
    CI_BAND_OPACITY, CURRENT_COLOUR as CURRENT_MARKER_COLOUR, INFEASIBLE_COLOUR,
    LIMIT_COLOUR as SLO_COLOUR, RECOMMENDED_COLOUR, SAFE_RANGE_COLOUR,
};
const PASS_COLOUR: RGBColor = RGBColor(161, 217, 155);
const FAIL_COLOUR: RGBColor = RGBColor(244, 150, 140);
const MISSING_COLOUR: RGBColor = RGBColor(225, 225, 225);
/// A failing point whose backlog grew without bound, wherever it is marked (the heat
/// map's cell, the report's tables).
pub const UNSTABLE_MARK: &str = "\u{221e}";
/// Why a pool size is infeasible, wherever it is marked.
const INFEASIBLE_REASON: &str = "beyond database limit";

#[derive(Clone, Copy, Debug, PartialEq)]
enum ChartKind {
    LatencyP99,
    ErrorRate,
    SloHeatmap,
    CarriedGrowth,
    Utilization,
}

impl ChartKind {
    /// The carried-growth chart replaces utilization when its data is there.
    fn for_spec(spec: &CapacityChartSpec) -> [ChartKind; 4] {
        let last = if spec.carried_growth.is_empty() {
            ChartKind::Utilization
        } else {
            ChartKind::CarriedGrowth
        };
        [
            ChartKind::LatencyP99,
            ChartKind::ErrorRate,
            ChartKind::SloHeatmap,
            last,
        ]
    }

    fn file_stem(self) -> &'static str {
        match self {
            ChartKind::LatencyP99 => "capacity-p99",
            ChartKind::ErrorRate => "capacity-errors",
            ChartKind::SloHeatmap => "slo-heatmap",
            ChartKind::CarriedGrowth => "carried-growth",
            ChartKind::Utilization => "utilization",
        }
    }

    /// The heatmap grows with its rows so that 16 growth levels stay readable.
    fn size_px(self, spec: &CapacityChartSpec) -> (u32, u32) {
        if self != ChartKind::SloHeatmap {
            return (IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX);
        }
        let rows = group_by_growth(spec.points).len() as u32;
        let row_px = THEME.min_font_px * 3;
        let height = HEADER_HEIGHT_PX + X_LABEL_AREA_PX + 2 * CHART_MARGIN_PX + rows * row_px;
        (IMAGE_WIDTH_PX, height.max(IMAGE_HEIGHT_PX))
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
            ChartKind::LatencyP99 => lines::draw_line_chart(root, &lines::latency_p99_chart(spec)),
            ChartKind::ErrorRate => lines::draw_line_chart(root, &lines::error_rate_chart(spec)),
            ChartKind::SloHeatmap => heatmap::draw_slo_heatmap(root, spec),
            ChartKind::CarriedGrowth => {
                lines::draw_line_chart(root, &carried::carried_growth_chart(spec))
            }
            ChartKind::Utilization => {
                lines::draw_line_chart(root, &carried::utilization_chart(spec))
            }
        }
    }
}

/// The largest pool size the database holds: given, or else the largest simulated size
/// below the first infeasible one. None when every size is feasible.
fn db_limit(spec: &CapacityChartSpec) -> Option<u32> {
    if spec.db_limit_pool_size.is_some() {
        return spec.db_limit_pool_size;
    }
    let first_infeasible = spec
        .points
        .iter()
        .filter(|p| !p.feasible)
        .map(|p| p.pool_size)
        .min()?;
    spec.points
        .iter()
        .map(|p| p.pool_size)
        .filter(|&s| s < first_infeasible)
        .max()
}

/// A point counts as passing only when it met the SLO and the database can hold it.
fn passes(point: &CapacityPoint) -> bool {
    point.slo_pass && point.feasible
}

use lines::PlotLine;

struct GrowthGroup<'a> {
    growth: f64,
    colour: RGBColor,
    /// Growth levels are told apart by a sequential colour scale, so lines stay solid.
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
            infeasible_x: group
                .points
                .iter()
                .filter(|p| !p.feasible)
                .map(|p| f64::from(p.pool_size))
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
                colour: sequential_colour(index, growths.len()),
                dashed: false,
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
