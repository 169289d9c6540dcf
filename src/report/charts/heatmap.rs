//! The SLO pass/fail grid: one cell per (pool size, growth level) with its p99 and, for a
//! failing cell, why it failed (p99, errors, both, or only the upper end of the p99
//! confidence interval); cells beyond the database limit are hatched, the recommended cell
//! and the planned-growth row are outlined.

use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::legend::{
    draw_hatching, draw_legend, draw_no_data_notice, layout, LegendEntry, LegendSample,
};
use super::*;
use crate::report::plotting::{
    format_number, group_thousands, rectangle_outline, text_style, TickedRange, SUBTITLE_COLOUR,
};

/// The cells in grid order: columns are pool sizes, rows growth levels.
struct Grid<'a> {
    groups: Vec<GrowthGroup<'a>>,
    pool_sizes: Vec<u32>,
}

impl Grid<'_> {
    fn cell(&self, column: usize, row: usize) -> Option<&CapacityPoint> {
        self.groups[row]
            .points
            .iter()
            .find(|p| p.pool_size == self.pool_sizes[column])
            .copied()
    }

    fn column_of(&self, pool_size: Option<u32>) -> Option<usize> {
        pool_size.and_then(|size| self.pool_sizes.iter().position(|&s| s == size))
    }

    /// The row the plan is for: the first growth level at or above the planned growth.
    fn planned_row(&self, planned_growth: Option<f64>) -> Option<usize> {
        let planned = planned_growth?;
        self.groups.iter().position(|g| g.growth >= planned - 1e-9)
    }
}

/// Why a cell failed, as the short text under its p99: P (p99), E (errors), P+E, or
/// "\u{2191}312" when only the upper 95% bound of the p99 (312 ms) misses the SLO; DB beyond
/// the database limit; "\u{221e}" when the system was unstable (its backlog kept growing).
fn verdict(spec: &CapacityChartSpec, p: &CapacityPoint) -> String {
    if !p.feasible {
        return "DB".into();
    }
    if p.slo_pass {
        return "ok".into();
    }
    if p.unstable {
        return UNSTABLE_MARK.into();
    }
    let p99 = p.latency_p99_ms;
    // A missing (NaN) bound fails.
    let p99_fails = p99.hi.is_nan() || p99.hi > spec.slo_latency_p99_ms;
    let errors_fail = p.error_rate.hi.is_nan() || p.error_rate.hi > spec.slo_error_rate;
    match (p99_fails, errors_fail) {
        (true, true) => "P+E".into(),
        (true, false) if p99.mean <= spec.slo_latency_p99_ms && p99.hi.is_finite() => {
            format!("\u{2191}{}", format_p99_cell(p99.hi, p99.hi >= 1_000.0))
        }
        (true, false) => "P".into(),
        (false, true) => "E".into(),
        (false, false) => "?".into(),
    }
}

fn heatmap_legend(spec: &CapacityChartSpec, grid: &Grid) -> Vec<LegendEntry> {
    let any_missing = (0..grid.pool_sizes.len())
        .any(|c| (0..grid.groups.len()).any(|r| grid.cell(c, r).is_none()));
    let mut legend = vec![
        LegendEntry::new("meets SLO", LegendSample::Swatch(PASS_COLOUR)),
        LegendEntry::new("misses SLO, because of", LegendSample::Swatch(FAIL_COLOUR)),
        LegendEntry::new("p99 (P), errors (E), both", LegendSample::Text("P+E")),
        LegendEntry::new("p99's upper 95% bound", LegendSample::Text("\u{2191}312")),
    ];
    if spec.points.iter().any(|p| !p.feasible) {
        legend.push(LegendEntry::new(INFEASIBLE_REASON, LegendSample::Hatched));
    }
    if spec
        .points
        .iter()
        .any(|p| p.unstable && p.feasible && !p.slo_pass)
    {
        legend.push(LegendEntry::new(
            "unstable: backlog kept growing",
            LegendSample::Text(UNSTABLE_MARK),
        ));
    }
    if any_missing {
        legend.push(LegendEntry::new(
            "not simulated",
            LegendSample::Swatch(MISSING_COLOUR),
        ));
    }
    if grid.column_of(current_pool_size(spec)).is_some() {
        legend.push(LegendEntry::new(
            format!("current ({})", spec.current_pool_size),
            LegendSample::Outline(BLACK),
        ));
    }
    if let Some(size) = spec
        .recommended_pool_size
        .filter(|s| grid.column_of(Some(*s)).is_some())
    {
        legend.push(LegendEntry::new(
            format!("recommended ({size})"),
            LegendSample::Outline(RECOMMENDED_COLOUR),
        ));
    }
    if let (Some(row), Some(planned)) = (grid.planned_row(spec.planned_growth), spec.planned_growth)
    {
        // The plan is checked at the first swept level at or above it.
        let level = grid.groups[row].growth;
        let label = if (level - planned).abs() < 1e-9 {
            format!("planned growth {}x", format_number(planned))
        } else {
            format!(
                "plan {}x, checked at {}x",
                format_number(planned),
                format_number(level)
            )
        };
        legend.push(LegendEntry::new(
            label,
            LegendSample::DashedOutline(SLO_COLOUR),
        ));
    }
    legend.push(LegendEntry::new(
        "number = p99 (ms)",
        LegendSample::Text("60"),
    ));
    legend
}

type GridChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, TickedRange>>;

pub(super) fn draw_slo_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &CapacityChartSpec,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let grid = Grid {
        groups: group_by_growth(spec.points),
        pool_sizes: distinct_pool_sizes(spec.points),
    };
    let legend = heatmap_legend(spec, &grid);
    let subtitle = format!(
        "pass: p99 \u{2264} {} ms and errors \u{2264} {}%, both at the upper 95% bound",
        format_number(spec.slo_latency_p99_ms),
        format_number(spec.slo_error_rate * 100.0)
    );
    let title = format!("{}: SLO pass/fail by pool size and growth", spec.model_name);
    let (plot_area, legend_area) = layout(root, &title, &subtitle, &legend)?;
    let mut chart = build_grid_chart(&plot_area, spec, &grid)?;
    if grid.pool_sizes.is_empty() || grid.groups.is_empty() {
        draw_no_data_notice(root, chart.plotting_area().get_pixel_range())?;
        return draw_legend(&legend_area, &legend);
    }
    let text = CellText::fit(&grid, chart.plotting_area().dim_in_pixel());
    for row in 0..grid.groups.len() {
        for column in 0..grid.pool_sizes.len() {
            draw_cell(
                &mut chart,
                spec,
                grid.cell(column, row),
                (column, row),
                &text,
            )?;
        }
    }
    draw_highlights(&mut chart, spec, &grid)?;
    draw_legend(&legend_area, &legend)
}

fn build_grid_chart<'a, DB: DrawingBackend>(
    plot_area: &'a DrawingArea<DB, Shift>,
    spec: &CapacityChartSpec,
    grid: &Grid,
) -> Result<GridChart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let columns = grid.pool_sizes.len().max(1);
    let rows = grid.groups.len().max(1);
    let has_cells = !(grid.pool_sizes.is_empty() || grid.groups.is_empty());
    let centres = |count: usize| -> Vec<f64> {
        if has_cells {
            (0..count).map(|i| i as f64 + 0.5).collect()
        } else {
            Vec::new()
        }
    };
    let mut chart = ChartBuilder::on(plot_area)
        .margin(CHART_MARGIN_PX)
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX + 30)
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
    let (plot_width_px, _) = chart.plotting_area().dim_in_pixel();
    let cell_width_px = f64::from(plot_width_px) / columns as f64;
    // With many columns, label every n-th pool size so the labels do not run together.
    let widest_pool_label_px = grid
        .pool_sizes
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
        grid.pool_sizes
            .get(column)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let planned_row = grid.planned_row(spec.planned_growth);
    let row_label = |v: &f64| {
        let row = v.floor().max(0.0) as usize;
        let plan = if Some(row) == planned_row {
            "plan "
        } else {
            ""
        };
        grid.groups
            .get(row)
            .map(|g| format!("{plan}{:.2}x", g.growth))
            .unwrap_or_default()
    };
    // No grid: the cells are the grid.
    AXES.apply(&mut chart.configure_mesh(), &column_label, &row_label)
        .disable_mesh()
        .x_desc(lines::X_DESC)
        .y_desc("traffic growth (x current load)")
        .draw()?;
    Ok(chart)
}

/// Font sizes of the cell text, fitted to the cell: full numbers when they fit at a
/// readable size, "30k" style otherwise.
struct CellText {
    compact_values: bool,
    value_font_px: u32,
    verdict_font_px: u32,
    two_lines: bool,
}

impl CellText {
    fn fit(grid: &Grid, plot_px: (u32, u32)) -> CellText {
        let cell_width_px = f64::from(plot_px.0) / grid.pool_sizes.len().max(1) as f64;
        let cell_height_px = f64::from(plot_px.1) / grid.groups.len().max(1) as f64;
        let min_px = f64::from(THEME.min_font_px);
        let points = || grid.groups.iter().flat_map(|g| g.points.iter());
        let widest =
            |texts: Vec<String>| texts.iter().map(|t| t.chars().count()).max().unwrap_or(3) as f64;
        let font_for = |chars: f64| cell_width_px * 0.9 / (chars * APPROX_CHAR_WIDTH_EM);
        let value_chars = |compact: bool| {
            widest(
                points()
                    .map(|p| format_p99_cell(p.latency_p99_ms.mean, compact))
                    .collect(),
            )
        };
        let compact_values = font_for(value_chars(false)) < min_px;
        let value_font_px = font_for(value_chars(compact_values))
            .min(cell_height_px * 0.4)
            .clamp(min_px, min_px * 1.3) as u32;
        let verdict_font_px = THEME.min_font_px;
        CellText {
            compact_values,
            value_font_px,
            verdict_font_px,
            two_lines: cell_height_px >= f64::from(value_font_px + verdict_font_px) * 1.15,
        }
    }
}

fn draw_cell<DB: DrawingBackend>(
    chart: &mut GridChart<DB>,
    spec: &CapacityChartSpec,
    cell: Option<&CapacityPoint>,
    (column, row): (usize, usize),
    text: &CellText,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    const CELL_GAP: f64 = 0.025;
    let (x0, y0) = (column as f64, row as f64);
    let fill = match cell {
        Some(p) if passes(p) => PASS_COLOUR,
        Some(p) if !p.feasible => MISSING_COLOUR,
        Some(_) => FAIL_COLOUR,
        None => MISSING_COLOUR,
    };
    let corners = [
        (x0 + CELL_GAP, y0 + CELL_GAP),
        (x0 + 1.0 - CELL_GAP, y0 + 1.0 - CELL_GAP),
    ];
    chart.draw_series(std::iter::once(Rectangle::new(corners, fill.filled())))?;
    if cell.is_some_and(|p| !p.feasible) {
        let top_left = chart.backend_coord(&(corners[0].0, corners[1].1));
        let bottom_right = chart.backend_coord(&(corners[1].0, corners[0].1));
        draw_hatching(chart.plotting_area(), top_left, bottom_right)?;
    }
    let Some(p) = cell else {
        return draw_cell_text(
            chart,
            (x0, y0),
            ("\u{2013}".to_string(), String::new()),
            text,
        );
    };
    let verdict = verdict(spec, p);
    let value = format_p99_cell(p.latency_p99_ms.mean, text.compact_values);
    draw_cell_text(chart, (x0, y0), (value, verdict), text)
}

fn draw_cell_text<DB: DrawingBackend>(
    chart: &mut GridChart<DB>,
    (x0, y0): (f64, f64),
    (value, verdict): (String, String),
    text: &CellText,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let centre = (x0 + 0.5, y0 + 0.5);
    let centred = Pos::new(HPos::Center, VPos::Center);
    let value_style = text_style(text.value_font_px, &BLACK).pos(centred);
    if text.two_lines && !verdict.is_empty() {
        let value_offset_px = -(text.verdict_font_px as i32) / 2 - 2;
        let verdict_offset_px = (text.value_font_px as i32) / 2 + 2;
        chart.draw_series(std::iter::once(
            EmptyElement::at(centre)
                + Text::new(value, (0, value_offset_px), value_style)
                + Text::new(
                    verdict,
                    (0, verdict_offset_px),
                    text_style(text.verdict_font_px, &SUBTITLE_COLOUR).pos(centred),
                ),
        ))?;
    } else {
        // No room for a second line: the verdict replaces the number on failing cells.
        let shown = if verdict.is_empty() || verdict == "ok" {
            value
        } else {
            verdict
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at(centre) + Text::new(shown, (0, 0), value_style),
        ))?;
    }
    Ok(())
}

/// The current column (black), the planned-growth row (dashed red) and the recommended
/// cell (thick green), drawn over the cells.
fn draw_highlights<DB: DrawingBackend>(
    chart: &mut GridChart<DB>,
    spec: &CapacityChartSpec,
    grid: &Grid,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (columns, rows) = (grid.pool_sizes.len() as f64, grid.groups.len() as f64);
    if let Some(column) = grid.column_of(current_pool_size(spec)) {
        let x0 = column as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            rectangle_outline((x0 + 0.01, 0.005), (x0 + 0.99, rows - 0.005)),
            BLACK.stroke_width(3),
        )))?;
    }
    let planned_row = grid.planned_row(spec.planned_growth);
    if let Some(row) = planned_row {
        let y0 = row as f64;
        chart.draw_series(std::iter::once(DashedPathElement::new(
            rectangle_outline((0.005, y0 + 0.01), (columns - 0.005, y0 + 0.99)),
            10,
            6,
            SLO_COLOUR.stroke_width(3),
        )))?;
    }
    if let Some(column) = grid.column_of(spec.recommended_pool_size) {
        let x0 = column as f64;
        let (y0, y1) = planned_row.map_or((0.0, rows), |row| (row as f64, row as f64 + 1.0));
        chart.draw_series(std::iter::once(PathElement::new(
            rectangle_outline((x0 + 0.04, y0 + 0.06), (x0 + 0.96, y1 - 0.06)),
            RECOMMENDED_COLOUR.stroke_width(5),
        )))?;
    }
    Ok(())
}

pub(super) fn format_p99_cell(p99_ms: f64, compact: bool) -> String {
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
