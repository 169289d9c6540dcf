//! Layout and drawing of the timeline chart: the header, the stacked panels with their
//! legends, event bands and alert lines across all panels, and the lane strip.

use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{format_duration, time_extent, TimeAxis};
use super::lanes::*;
use super::panels::{build_panels, Panel, SeriesLine, Stroke};
use super::*;
use crate::report::plotting::{
    draw_boxed_label, draw_notice, draw_title, format_number, plottable_runs, rectangle_outline,
    text_style, TickedRange,
};

/// Vertical extent of one panel, in root pixels.
pub(super) struct PanelRows {
    pub(super) header_top: i32,
    pub(super) header_rows: i32,
    pub(super) plot_top: i32,
    pub(super) plot_bottom: i32,
}

/// Time to root pixels. Horizontal geometry is fixed, so the mapping is known before the
/// vertical layout; it matches plotters' own mapping (pixel range end is exclusive).
struct XMap {
    min_s: f64,
    max_s: f64,
    left_px: i32,
    right_px: i32,
}

impl XMap {
    fn x_px(&self, t: f64) -> i32 {
        let frac = ((t - self.min_s) / (self.max_s - self.min_s)).clamp(0.0, 1.0);
        self.left_px + (f64::from(self.right_px - 1 - self.left_px) * frac + 1e-3).floor() as i32
    }
}

/// Where everything goes, worked out before anything is drawn.
struct Layout {
    time: TimeAxis,
    x: XMap,
    events: Vec<Annotation>,
    alerts: Vec<Annotation>,
    placed_events: Vec<Option<PlacedAnnotation>>,
    placed_alerts: Vec<Option<PlacedAnnotation>>,
    panels: [Panel; PANEL_COUNT],
    rows: Vec<PanelRows>,
    legend_layouts: Vec<Vec<(i32, i32)>>,
}

fn header_height(rows: i32) -> i32 {
    rows * LEGEND_ROW_HEIGHT_PX + 8
}

fn plan_layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &TimelineSpec,
) -> Result<Layout>
where
    DB::ErrorType: 'static,
{
    let (width_px, height_px) = root.dim_in_pixel();
    let (width_px, height_px) = (width_px as i32, height_px as i32);
    let (min_s, max_s) = time_extent(spec);
    let time = TimeAxis::new(min_s, max_s, spec.clock_start_minutes);
    let x = XMap {
        min_s: time.min_s,
        max_s: time.max_s,
        left_px: Y_LABEL_AREA_PX,
        right_px: width_px - RIGHT_MARGIN_PX,
    };
    let x_px = |t: f64| x.x_px(t);
    let (events, alerts) = annotations(spec, &time);
    let plot_span = (x.left_px, x.right_px);
    let placed_events = pack_lanes(root, &events, &x_px, plot_span)?;
    let placed_alerts = pack_lanes(root, &alerts, &x_px, plot_span)?;
    let strip_height_px = strip_height(lane_count(&placed_events), lane_count(&placed_alerts));

    // Panels need their plot height for tick density, and the legend rows for the layout; a
    // provisional height is close enough for the tick count.
    let provisional_height_px = (height_px - 480).max(300);
    let panels = build_panels(
        spec,
        PANEL_HEIGHT_SHARES.map(|share| (f64::from(provisional_height_px) * share) as i32),
    );
    let legend_layouts: Vec<Vec<(i32, i32)>> = panels
        .iter()
        .map(|p| legend_layout(root, p, x.right_px))
        .collect::<Result<_>>()?;
    let header_rows: Vec<i32> = legend_layouts
        .iter()
        .map(|layout| layout.iter().map(|(row, _)| row + 1).max().unwrap_or(1))
        .collect();
    let fixed_px = HEADER_HEIGHT_PX
        + header_rows.iter().map(|r| header_height(*r)).sum::<i32>()
        + strip_height_px
        + (PANEL_COUNT as i32 - 1) * PANEL_GAP_PX
        + X_LABEL_AREA_PX
        + BOTTOM_MARGIN_PX;
    let plots_px = (height_px - fixed_px).max(150);
    let mut rows: Vec<PanelRows> = Vec::new();
    let mut y = HEADER_HEIGHT_PX;
    for (index, share) in PANEL_HEIGHT_SHARES.iter().enumerate() {
        if index > 0 {
            y += PANEL_GAP_PX;
        }
        let header_top = y;
        y += header_height(header_rows[index]);
        if index == 0 {
            y += strip_height_px;
        }
        let plot_height = (f64::from(plots_px) * share) as i32;
        rows.push(PanelRows {
            header_top,
            header_rows: header_rows[index],
            plot_top: y,
            plot_bottom: y + plot_height,
        });
        y += plot_height;
    }
    // Recompute the value axes now that the real plot heights are known.
    let mut plot_heights_px = [0; PANEL_COUNT];
    for (height, row) in plot_heights_px.iter_mut().zip(&rows) {
        *height = row.plot_bottom - row.plot_top;
    }
    Ok(Layout {
        panels: build_panels(spec, plot_heights_px),
        time,
        x,
        events,
        alerts,
        placed_events,
        placed_alerts,
        rows,
        legend_layouts,
    })
}

fn strip_height(event_lanes: i32, alert_lanes: i32) -> i32 {
    if event_lanes + alert_lanes == 0 {
        return 0;
    }
    let gap = if event_lanes > 0 && alert_lanes > 0 {
        LANE_SECTION_GAP_PX
    } else {
        0
    };
    (event_lanes + alert_lanes) * LANE_HEIGHT_PX + gap + STRIP_TOP_PAD_PX + STRIP_BOTTOM_PAD_PX
}

type PanelChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, TickedRange>>;

pub(super) fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &TimelineSpec,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let layout = plan_layout(root, spec)?;
    let omitted = layout
        .placed_events
        .iter()
        .chain(&layout.placed_alerts)
        .filter(|p| p.is_none())
        .count();
    draw_header(root, spec, omitted)?;

    // Build the panel charts (this draws nothing yet).
    let (width_px, _) = root.dim_in_pixel();
    let areas: Vec<DrawingArea<DB, Shift>> = layout
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let last = index + 1 == layout.rows.len();
            let area_height =
                row.plot_bottom - row.plot_top + if last { X_LABEL_AREA_PX } else { 0 };
            root.clone()
                .shrink((0, row.plot_top), (width_px as i32, area_height))
        })
        .collect();
    let mut charts = Vec::new();
    for (index, (panel, area)) in layout.panels.iter().zip(&areas).enumerate() {
        let last = index + 1 == layout.panels.len();
        let chart = ChartBuilder::on(area)
            .margin_right(RIGHT_MARGIN_PX as u32)
            .y_label_area_size(Y_LABEL_AREA_PX as u32)
            .x_label_area_size(if last { X_LABEL_AREA_PX as u32 } else { 0 })
            .build_cartesian_2d(
                TickedRange {
                    min: layout.time.min_s,
                    max: layout.time.max_s,
                    major_ticks: layout.time.major_s.clone(),
                    minor_ticks: layout.time.minor_s.clone(),
                },
                TickedRange::for_axis(&panel.axis, panel.scale),
            )?;
        charts.push(chart);
    }
    // Overlays drawn on the root use x_px; make sure it agrees with the charts' mapping.
    for t in [layout.time.min_s, layout.time.max_s] {
        let chart_x = charts[0].backend_coord(&(t, 0.0)).0;
        debug_assert!(
            (chart_x - layout.x.x_px(t)).abs() <= 1,
            "x mapping {chart_x}"
        );
    }
    draw_backdrop(root, &layout)?;
    for (index, chart) in charts.iter_mut().enumerate() {
        draw_panel(root, chart, &layout, index)?;
    }
    draw_strip(root, &layout)
}

/// Behind everything: event bands and instants, then alert onsets, across all panels.
fn draw_backdrop<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, layout: &Layout) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let plots_top = layout.rows[0].plot_top;
    let plots_bottom = layout.rows[PANEL_COUNT - 1].plot_bottom;
    for event in &layout.events {
        let AnnotationKind::Event { colour } = event.kind else {
            continue;
        };
        let (x0, x1) = (layout.x.x_px(event.start_s), layout.x.x_px(event.end_s));
        if x1 > x0 {
            root.draw(&Rectangle::new(
                [(x0, plots_top), (x1, plots_bottom)],
                colour.mix(EVENT_BAND_OPACITY).filled(),
            ))?;
        } else {
            root.draw(&PathElement::new(
                vec![(x0, plots_top), (x0, plots_bottom)],
                colour.stroke_width(2),
            ))?;
        }
    }
    for alert in &layout.alerts {
        let x = layout.x.x_px(alert.start_s);
        root.draw(&PathElement::new(
            vec![(x, plots_top), (x, plots_bottom)],
            ALERT_COLOUR.mix(0.85).stroke_width(2),
        ))?;
    }
    Ok(())
}

/// One panel: axes, frame, reference lines, series, reference labels and its header.
fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut PanelChart<DB>,
    layout: &Layout,
    index: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (panel, row, time) = (&layout.panels[index], &layout.rows[index], &layout.time);
    let (plot_left, plot_right) = (layout.x.left_px, layout.x.right_px);
    let scale = panel.scale;
    let format_y = |v: &f64| format_number(scale.plot_to_value(*v));
    let format_x = |v: &f64| time.format(*v, time.tick_labels_with_seconds);
    let mut mesh = chart.configure_mesh();
    AXES.apply(&mut mesh, &format_x, &format_y)
        .y_desc(panel.y_desc);
    if index + 1 == PANEL_COUNT {
        mesh.x_desc(time.title());
    }
    mesh.draw()?;
    root.draw(&PathElement::new(
        rectangle_outline(
            (plot_left, row.plot_top),
            (plot_right - 1, row.plot_bottom - 1),
        ),
        FRAME_COLOUR.stroke_width(1),
    ))?;

    let y_range = (
        scale.value_to_plot(panel.axis.min),
        scale.value_to_plot(panel.axis.max),
    );
    let rule_y = |value: f64| scale.value_to_plot(value).clamp(y_range.0, y_range.1);
    for rule in &panel.rules {
        let y = rule_y(rule.value);
        let (size, spacing) = if rule.stroke == Stroke::Dotted {
            (3, 4)
        } else {
            (10, 6)
        };
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(time.min_s, y), (time.max_s, y)],
            size,
            spacing,
            rule.colour.stroke_width(2),
        )))?;
    }

    let mut obstacles_px: Vec<Vec<(i32, i32)>> = Vec::new();
    for line in &panel.lines {
        let plotted = |v: f64| scale.is_plottable(v).then(|| scale.value_to_plot(v));
        for run in plottable_runs(&line.points, plotted) {
            let run: Vec<(f64, f64)> = run
                .into_iter()
                .map(|(t, v)| (t, v.clamp(y_range.0, y_range.1)))
                .collect();
            obstacles_px.push(run.iter().map(|p| chart.backend_coord(p)).collect());
            draw_run(chart, &run, line)?;
        }
    }

    // Labels of the reference lines go where they hide the least data.
    let plot_box = (plot_left, plot_right, row.plot_top, row.plot_bottom);
    for rule in &panel.rules {
        let (_, y_px) = chart.backend_coord(&(time.min_s, rule_y(rule.value)));
        let style = text_style(ANNOTATION_FONT_PX, &rule.colour);
        let (anchor, pos) =
            place_rule_label(root, &rule.label, &style, y_px, plot_box, &obstacles_px)?;
        draw_boxed_label(root, anchor, &rule.label, &style, pos)?;
    }
    if obstacles_px.is_empty() {
        let centre_px = (
            (plot_left + plot_right) / 2,
            (row.plot_top + row.plot_bottom) / 2,
        );
        draw_notice(root, "no data in this period", centre_px, AXIS_DESC_FONT_PX)?;
    }
    draw_panel_header(root, panel, row, &layout.legend_layouts[index])
}

/// The lane strip sits between the first panel's header and its plot.
fn draw_strip<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, layout: &Layout) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let first = &layout.rows[0];
    let event_lanes = lane_count(&layout.placed_events);
    let strip_top = first.header_top + header_height(first.header_rows) + STRIP_TOP_PAD_PX;
    let alert_strip_top = strip_top
        + event_lanes * LANE_HEIGHT_PX
        + if event_lanes > 0 {
            LANE_SECTION_GAP_PX
        } else {
            0
        };
    let x_px = |t: f64| layout.x.x_px(t);
    draw_lane_section(
        root,
        &layout.events,
        &layout.placed_events,
        strip_top,
        first.plot_top,
        &x_px,
        "events",
    )?;
    draw_lane_section(
        root,
        &layout.alerts,
        &layout.placed_alerts,
        alert_strip_top,
        first.plot_top,
        &x_px,
        "alerts",
    )
}

pub(super) fn draw_run<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<TickedRange, TickedRange>>,
    run: &[(f64, f64)],
    line: &SeriesLine,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if let [point] = run {
        // A lone value has no line; show it as a dot.
        chart.draw_series(std::iter::once(Circle::new(
            *point,
            3,
            line.colour.filled(),
        )))?;
        return Ok(());
    }
    match line.stroke {
        Stroke::Solid | Stroke::Stepped => {
            chart.draw_series(LineSeries::new(run.to_vec(), line.colour.stroke_width(2)))?;
        }
        Stroke::Dashed => {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                run.to_vec(),
                9,
                5,
                line.colour.stroke_width(2),
            )))?;
        }
        Stroke::Dotted => {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                run.to_vec(),
                3,
                4,
                line.colour.stroke_width(2),
            )))?;
        }
    }
    Ok(())
}

pub(super) fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &TimelineSpec,
    omitted_labels: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let series = spec.series;
    let mut parts: Vec<String> = Vec::new();
    if !series.is_empty() {
        parts.push(format!(
            "fleet totals per {} interval",
            format_duration(spec.interval_s)
        ));
        let running = series.iter().map(|s| s.instances).filter(|v| v.is_finite());
        let lo = running.clone().fold(f64::INFINITY, f64::min);
        let hi = running.fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            parts.push(if (hi - lo).abs() < 0.5 {
                let plural = if (lo - 1.0).abs() < 0.5 { "" } else { "s" };
                format!("{} instance{plural} running", format_number(lo))
            } else {
                format!(
                    "{}\u{2013}{} instances running",
                    format_number(lo),
                    format_number(hi)
                )
            });
        }
    }
    if series.is_empty() {
        parts.push("no samples".to_string());
    }
    if !spec.events.is_empty() {
        parts.push("shaded = events".to_string());
    }
    if !spec.alerts.is_empty() {
        parts.push("orange = alert fired".to_string());
    }
    if omitted_labels > 0 {
        parts.push(format!("{omitted_labels} more events/alerts not labelled"));
    }
    let subtitle = parts.join("  \u{b7}  ");
    draw_title(
        root,
        (spec.title, TITLE_FONT_PX),
        (&subtitle, SUBTITLE_FONT_PX),
        64,
        THEME.min_font_px,
    )
}

/// Positions (row, x) of each legend entry in the panel header, flowing right of the panel
/// title and wrapping onto further rows when the header is full.
pub(super) fn legend_layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    right_px: i32,
) -> Result<Vec<(i32, i32)>>
where
    DB::ErrorType: 'static,
{
    let title_width = root
        .estimate_text_size(&panel.title, &text_style(PANEL_TITLE_FONT_PX, &BLACK))?
        .0 as i32;
    let start_x = (PANEL_TITLE_X_PX + title_width + 36).max(Y_LABEL_AREA_PX);
    let style = text_style(LEGEND_FONT_PX, &BLACK);
    let mut positions = Vec::new();
    let (mut row, mut x) = (0, start_x);
    for (label, _, _) in panel.legend() {
        let width = LEGEND_SAMPLE_WIDTH_PX + 6 + root.estimate_text_size(&label, &style)?.0 as i32;
        if x > start_x && x + width > right_px {
            row += 1;
            x = start_x;
        }
        positions.push((row, x));
        x += width + LEGEND_ENTRY_GAP_PX;
    }
    Ok(positions)
}

pub(super) fn draw_panel_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    row: &PanelRows,
    legend_positions: &[(i32, i32)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let row_centre =
        |r: i32| row.header_top + 4 + r * LEGEND_ROW_HEIGHT_PX + LEGEND_ROW_HEIGHT_PX / 2;
    root.draw(&Text::new(
        panel.title.clone(),
        (PANEL_TITLE_X_PX, row_centre(0)),
        text_style(PANEL_TITLE_FONT_PX, &BLACK).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    let style = text_style(LEGEND_FONT_PX, &BLACK);
    for ((label, colour, stroke), (r, x)) in panel.legend().into_iter().zip(legend_positions) {
        let y = row_centre(*r);
        let sample = vec![(*x, y), (x + LEGEND_SAMPLE_WIDTH_PX, y)];
        match stroke {
            Stroke::Solid => root.draw(&PathElement::new(sample, colour.stroke_width(3)))?,
            Stroke::Stepped => root.draw(&PathElement::new(
                vec![
                    (*x, y + 5),
                    (x + LEGEND_SAMPLE_WIDTH_PX / 2, y + 5),
                    (x + LEGEND_SAMPLE_WIDTH_PX / 2, y - 5),
                    (x + LEGEND_SAMPLE_WIDTH_PX, y - 5),
                ],
                colour.stroke_width(2),
            ))?,
            Stroke::Dashed => root.draw(&DashedPathElement::new(
                sample,
                9,
                5,
                colour.stroke_width(2),
            ))?,
            Stroke::Dotted => root.draw(&DashedPathElement::new(
                sample,
                3,
                4,
                colour.stroke_width(2),
            ))?,
        }
        root.draw(&Text::new(
            label,
            (x + LEGEND_SAMPLE_WIDTH_PX + 6, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}
