//! Incident timeline chart for the poolsim report.
//!
//! The capacity charts answer "which pool size would have been enough"; a postmortem needs to
//! see the incident itself as it unfolded: when the pool saturated and waiters piled up, when
//! the error rate and p99 latency crossed the SLO, and how that lines up with what happened
//! (a traffic surge, a rolling restart) and with the alerts that fired. This module draws one
//! image of four stacked panels (connections, requests waiting for a connection, error rate,
//! p99 latency) over a single shared time axis in wall-clock or elapsed time, with events as
//! shaded bands and alerts as orange markers across all panels, labelled once in a lane strip
//! above the first panel. Waiters get a panel of their own because during an incident they
//! outnumber connections by one or two orders of magnitude and would flatten the connection
//! lines (in use, pool capacity, DB connections) against the floor of a shared axis. It renders
//! PNG (for documents) and SVG (for the web) with DejaVu Sans compiled into the binary, since
//! CI machines have no system fonts, and writes every file under a temporary name before
//! renaming it into place so a reader never sees half a chart. That groundwork (font, files,
//! axes, text) is shared with the capacity charts in `plotting`; what is drawn and how it
//! looks is this module's own.

use std::fs;

use anyhow::{ensure, Context, Result};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Output formats for [`write_timeline_chart`].
pub use super::plotting::ImageFormat;
use super::plotting::{
    draw_boxed_label, draw_notice, draw_title, format_number, linear_axis, plottable_runs,
    rectangle_outline, register_bundled_font, text_style, value_axis, write_image, Axis, AxisLook,
    Chart, TickedRange, YScale, SUBTITLE_COLOUR,
};

/// Fleet-wide metrics sampled once per interval; every vector has one value per entry of
/// `interval_start_s`.
///
/// Gauges (`connections_in_use`, `pending`, `pool_capacity`, `db_connections`, `instances`)
/// are drawn at the start of their interval; `pool_capacity` is held until the next sample
/// (a step line). Per-interval outcomes (`error_rate`, `latency_p99_ms`) are drawn at the
/// middle of their interval. A NaN value leaves a gap in its line.
#[derive(Clone, Debug, Default)]
pub struct TimelineSeries {
    /// Seconds since simulation start; one per sample interval, strictly increasing.
    pub interval_start_s: Vec<f64>,
    /// Sample interval length in seconds.
    pub interval_s: f64,
    /// Fleet total of connections checked out of the pools, at the time of the sample.
    pub connections_in_use: Vec<f64>,
    /// Fleet total of requests waiting for a connection.
    pub pending: Vec<f64>,
    /// Fleet total `max_size` of running instances (changes with restarts and autoscaling).
    pub pool_capacity: Vec<f64>,
    /// Connections held at the database, including other clients.
    pub db_connections: Vec<f64>,
    /// Fraction (0..=1) of requests finishing in the interval that failed; NaN if none finished.
    pub error_rate: Vec<f64>,
    /// p99 latency of successful requests finishing in the interval, in ms; NaN if none.
    pub latency_p99_ms: Vec<f64>,
    /// Running instances.
    pub instances: Vec<f64>,
}

/// Something that happened: `end_s == start_s` is an instant (a vertical line), otherwise a
/// shaded span. Times are seconds since simulation start.
#[derive(Clone, Debug)]
pub struct TimelineEvent {
    pub label: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// An alert that fired at `fired_s` and cleared at `cleared_s` (None: still firing at the end),
/// in seconds since simulation start.
#[derive(Clone, Debug)]
pub struct AlertFiring {
    pub name: String,
    pub fired_s: f64,
    pub cleared_s: Option<f64>,
}

/// Everything the timeline chart needs.
#[derive(Clone, Debug)]
pub struct TimelineSpec<'a> {
    /// E.g. "auth-service 2024-01-15: incident as it happened".
    pub title: &'a str,
    /// Wall-clock time of t = 0 in minutes after midnight UTC (09:00 is 540); None labels the
    /// axis with elapsed time ("0:45").
    pub clock_start_minutes: Option<u32>,
    /// The database's max_connections; a non-positive or non-finite value hides the line.
    pub db_max_connections: f64,
    /// Error-rate SLO as a fraction (0.01 = 1%); drawn as a dashed line when Some.
    pub slo_error_rate: Option<f64>,
    /// p99 latency SLO in ms; drawn as a dashed line when Some.
    pub slo_latency_p99_ms: Option<f64>,
    pub series: &'a TimelineSeries,
    pub events: &'a [TimelineEvent],
    pub alerts: &'a [AlertFiring],
}

/// Writes `<file_stem>.png` and/or `<file_stem>.svg` into dir; returns the file names written.
pub fn write_timeline_chart(
    spec: &TimelineSpec,
    dir: &std::path::Path,
    file_stem: &str,
    formats: &[ImageFormat],
) -> anyhow::Result<Vec<String>> {
    validate_spec(spec)?;
    ensure!(
        !file_stem.is_empty() && !file_stem.contains(['/', '\\']) && file_stem != "..",
        "timeline chart file stem {file_stem:?} must be a plain file name"
    );
    register_bundled_font()?;
    fs::create_dir_all(dir)
        .with_context(|| format!("creating chart directory {}", dir.display()))?;
    let mut written: Vec<String> = Vec::new();
    for &format in formats {
        let file_name = format.file_name(file_stem);
        if written.contains(&file_name) {
            continue;
        }
        write_image(spec, dir, file_stem, format, IMAGE_SIZE_PX).with_context(|| {
            format!("writing timeline chart {}", dir.join(&file_name).display())
        })?;
        written.push(file_name);
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Validation and rendering
// ---------------------------------------------------------------------------------------------

fn validate_spec(spec: &TimelineSpec) -> Result<()> {
    let series = spec.series;
    let count = series.interval_start_s.len();
    let columns: [(&str, &Vec<f64>); 8] = [
        ("connections_in_use", &series.connections_in_use),
        ("pending", &series.pending),
        ("pool_capacity", &series.pool_capacity),
        ("db_connections", &series.db_connections),
        ("error_rate", &series.error_rate),
        ("latency_p99_ms", &series.latency_p99_ms),
        ("instances", &series.instances),
        ("interval_start_s", &series.interval_start_s),
    ];
    for (name, values) in columns {
        ensure!(
            values.len() == count,
            "timeline series {name} has {} values but interval_start_s has {count}",
            values.len()
        );
    }
    if count > 0 {
        ensure!(
            series.interval_s.is_finite() && series.interval_s > 0.0,
            "timeline interval_s must be a positive number of seconds, got {}",
            series.interval_s
        );
    }
    for (index, pair) in series.interval_start_s.windows(2).enumerate() {
        ensure!(
            pair[0].is_finite() && pair[1].is_finite() && pair[1] > pair[0],
            "timeline interval_start_s must be finite and strictly increasing (index {index}: {} then {})",
            pair[0],
            pair[1]
        );
    }
    if let Some(first) = series.interval_start_s.first() {
        ensure!(first.is_finite(), "timeline interval_start_s[0] is {first}");
    }
    for event in spec.events {
        ensure!(
            event.start_s.is_finite() && event.end_s.is_finite(),
            "timeline event {:?} has a non-finite time ({} to {})",
            event.label,
            event.start_s,
            event.end_s
        );
    }
    for alert in spec.alerts {
        ensure!(
            alert.fired_s.is_finite() && alert.cleared_s.is_none_or(f64::is_finite),
            "timeline alert {:?} has a non-finite time",
            alert.name
        );
    }
    Ok(())
}

impl Chart for TimelineSpec<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        draw_timeline(root, self)
    }
}

// ---------------------------------------------------------------------------------------------
// Look and layout constants
// ---------------------------------------------------------------------------------------------

const IMAGE_SIZE_PX: (u32, u32) = (1200, 1350);

const TITLE_FONT_PX: u32 = 28;
const SUBTITLE_FONT_PX: u32 = 17;
const PANEL_TITLE_FONT_PX: u32 = 19;
const LEGEND_FONT_PX: u32 = 15;
const AXIS_DESC_FONT_PX: u32 = 17;
const TICK_LABEL_FONT_PX: u32 = 15;
const ANNOTATION_FONT_PX: u32 = 15;
const AXES: AxisLook = AxisLook {
    desc_font_px: AXIS_DESC_FONT_PX,
    tick_font_px: TICK_LABEL_FONT_PX,
    minor_grid: RGBColor(238, 238, 238),
};

/// Title and subtitle.
const HEADER_HEIGHT_PX: i32 = 80;
/// Width of the y tick labels and axis description left of every plot.
const Y_LABEL_AREA_PX: i32 = 104;
/// Room right of the plots for the last time label, which is centred on the right edge.
const RIGHT_MARGIN_PX: i32 = 34;
const PANEL_TITLE_X_PX: i32 = 14;
const PANEL_GAP_PX: i32 = 10;
const LEGEND_ROW_HEIGHT_PX: i32 = 22;
const LEGEND_SAMPLE_WIDTH_PX: i32 = 30;
const LEGEND_ENTRY_GAP_PX: i32 = 22;
const X_LABEL_AREA_PX: i32 = 58;
const BOTTOM_MARGIN_PX: i32 = 6;
const LANE_HEIGHT_PX: i32 = 24;
const LANE_SECTION_GAP_PX: i32 = 4;
/// Within a lane: label centre, and top of the bar that spans an event or a firing alert.
const LANE_LABEL_CENTRE_PX: i32 = 8;
const LANE_BAR_TOP_PX: i32 = 16;
const STRIP_TOP_PAD_PX: i32 = 4;
const STRIP_BOTTOM_PAD_PX: i32 = 6;
/// Beyond this many lanes per section, further labels are left out (their bands and lines
/// are still drawn) so the panels keep a useful height.
const MAX_LANES_PER_SECTION: usize = 6;
const MIN_Y_TICK_GAP_PX: f64 = 34.0;
/// Number of stacked panels: connections, waiters, error rate, latency.
const PANEL_COUNT: usize = 4;
/// Share of the plot height given to connections, waiters, error rate and latency.
const PANEL_HEIGHT_SHARES: [f64; PANEL_COUNT] = [0.31, 0.21, 0.22, 0.26];

const IN_USE_COLOUR: RGBColor = RGBColor(31, 119, 180);
const PENDING_COLOUR: RGBColor = RGBColor(148, 103, 189);
const CAPACITY_COLOUR: RGBColor = RGBColor(120, 120, 120);
const DB_CONNECTIONS_COLOUR: RGBColor = RGBColor(44, 160, 44);
const OUTCOME_COLOUR: RGBColor = RGBColor(31, 119, 180);
const LIMIT_COLOUR: RGBColor = RGBColor(214, 39, 40);
const ALERT_COLOUR: RGBColor = RGBColor(255, 127, 14);
const ALERT_TEXT_COLOUR: RGBColor = RGBColor(166, 77, 0);
/// Event hues avoid the data colours above; bands use them at low opacity.
const EVENT_PALETTE: [RGBColor; 5] = [
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(227, 119, 194),
    RGBColor(140, 86, 75),
    RGBColor(99, 110, 250),
];
const EVENT_BAND_OPACITY: f64 = 0.13;
const EVENT_LANE_OPACITY: f64 = 0.65;
const FRAME_COLOUR: RGBColor = RGBColor(170, 170, 170);

// ---------------------------------------------------------------------------------------------
// Time axis
// ---------------------------------------------------------------------------------------------

const MINUTE_S: f64 = 60.0;
const HOUR_S: f64 = 3600.0;

/// The shared x axis, in seconds since simulation start, with ticks on round wall-clock (or
/// elapsed) times.
struct TimeAxis {
    min_s: f64,
    max_s: f64,
    major_s: Vec<f64>,
    minor_s: Vec<f64>,
    clock_start_minutes: Option<u32>,
    /// Ticks closer than a minute need seconds in their labels.
    tick_labels_with_seconds: bool,
}

impl TimeAxis {
    fn new(min_s: f64, max_s: f64, clock_start_minutes: Option<u32>) -> Self {
        let span_s = max_s - min_s;
        let (major_step_s, minor_step_s) = if span_s < 2.0 * MINUTE_S {
            (15.0, 5.0)
        } else if span_s < 10.0 * MINUTE_S {
            (MINUTE_S, 0.0)
        } else if span_s < 30.0 * MINUTE_S {
            (5.0 * MINUTE_S, MINUTE_S)
        } else if span_s <= 3.0 * HOUR_S {
            (15.0 * MINUTE_S, 5.0 * MINUTE_S)
        } else if span_s <= 6.0 * HOUR_S {
            (30.0 * MINUTE_S, 10.0 * MINUTE_S)
        } else if span_s <= 12.0 * HOUR_S {
            (HOUR_S, 15.0 * MINUTE_S)
        } else if span_s <= 24.0 * HOUR_S {
            (2.0 * HOUR_S, 30.0 * MINUTE_S)
        } else {
            let step_h = [4.0, 6.0, 12.0, 24.0, 48.0, 96.0, 168.0]
                .into_iter()
                .find(|h| span_s / (h * HOUR_S) <= 12.0)
                .unwrap_or(168.0);
            (step_h * HOUR_S, step_h * HOUR_S / 4.0)
        };
        let offset_s = Self::offset_s(clock_start_minutes);
        let major_s = aligned_ticks(min_s, max_s, major_step_s, offset_s);
        let minor_s = aligned_ticks(min_s, max_s, minor_step_s, offset_s)
            .into_iter()
            .filter(|t| !major_s.iter().any(|m| (m - t).abs() < 1e-6))
            .collect();
        TimeAxis {
            min_s,
            max_s,
            major_s,
            minor_s,
            clock_start_minutes,
            tick_labels_with_seconds: major_step_s < MINUTE_S,
        }
    }

    fn offset_s(clock_start_minutes: Option<u32>) -> f64 {
        clock_start_minutes.map_or(0.0, |m| f64::from(m) * MINUTE_S)
    }

    fn title(&self) -> &'static str {
        if self.clock_start_minutes.is_some() {
            "time (UTC)"
        } else {
            "time since start (h:mm)"
        }
    }

    /// "09:45" (wall clock, wrapping at midnight) or "1:05" (elapsed); seconds are shown only
    /// when `with_seconds` is set and the time is not on a whole minute.
    fn format(&self, t_s: f64, with_seconds: bool) -> String {
        let total_s = (t_s + Self::offset_s(self.clock_start_minutes)).round() as i64;
        if self.clock_start_minutes.is_some() {
            let of_day_s = total_s.rem_euclid(86_400);
            let (hours, minutes, seconds) = (of_day_s / 3600, of_day_s / 60 % 60, of_day_s % 60);
            if with_seconds && seconds != 0 {
                format!("{hours:02}:{minutes:02}:{seconds:02}")
            } else {
                format!("{hours:02}:{minutes:02}")
            }
        } else {
            let sign = if total_s < 0 { "-" } else { "" };
            let magnitude_s = total_s.unsigned_abs();
            let (hours, minutes, seconds) =
                (magnitude_s / 3600, magnitude_s / 60 % 60, magnitude_s % 60);
            if with_seconds && seconds != 0 {
                format!("{sign}{hours}:{minutes:02}:{seconds:02}")
            } else {
                format!("{sign}{hours}:{minutes:02}")
            }
        }
    }
}

/// Multiples of `step_s` in wall-clock terms (t + offset) that fall inside min..=max.
fn aligned_ticks(min_s: f64, max_s: f64, step_s: f64, offset_s: f64) -> Vec<f64> {
    if !(step_s > 0.0 && max_s > min_s) {
        return Vec::new();
    }
    let first = ((min_s + offset_s) / step_s - 1e-9).ceil() as i64;
    let last = ((max_s + offset_s) / step_s + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step_s - offset_s)
        .collect()
}

/// The time range covers the samples and every event and alert onset.
fn time_extent(spec: &TimelineSpec) -> (f64, f64) {
    let series = spec.series;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    if let (Some(first), Some(last)) = (
        series.interval_start_s.first(),
        series.interval_start_s.last(),
    ) {
        lo = *first;
        hi = last + series.interval_s;
    }
    for event in spec.events {
        lo = lo.min(event.start_s.min(event.end_s));
        hi = hi.max(event.start_s.max(event.end_s));
    }
    for alert in spec.alerts {
        lo = lo.min(alert.fired_s);
        hi = hi.max(alert.fired_s);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 10.0 * MINUTE_S);
    }
    if hi <= lo {
        // A lone instant: ten minutes around it, not reaching before the start if possible.
        let start = if lo >= 0.0 {
            (lo - 5.0 * MINUTE_S).max(0.0)
        } else {
            lo - 5.0 * MINUTE_S
        };
        return (start, start + 10.0 * MINUTE_S);
    }
    if hi - lo < MINUTE_S {
        // A single short interval still gets a readable minute of axis.
        return (lo, lo + MINUTE_S);
    }
    (lo, hi)
}

// ---------------------------------------------------------------------------------------------
// Value axes
// ---------------------------------------------------------------------------------------------

/// Latency spans orders of magnitude during an incident (100 ms healthy, 30 s at the
/// timeout), so its axis may go log (see [`value_axis`]); a log axis thinned to decades keeps
/// its bounds labelled so the reader sees where it ends.
fn latency_axis(observed_ms: &[f64], target_ticks: u32) -> (YScale, Axis) {
    let (scale, mut axis) = value_axis(observed_ms, true, target_ticks, target_ticks.max(2));
    if scale == YScale::Log10 {
        for bound in [axis.min, axis.max] {
            if !axis.ticks.iter().any(|t| (t / bound - 1.0).abs() < 1e-9) {
                axis.ticks.push(bound);
            }
        }
        axis.ticks.sort_by(f64::total_cmp);
    }
    (scale, axis)
}

// ---------------------------------------------------------------------------------------------
// Panels
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Stroke {
    Solid,
    Dashed,
    Dotted,
    Stepped,
}

struct SeriesLine {
    label: &'static str,
    colour: RGBColor,
    stroke: Stroke,
    /// (seconds since start, value in panel units); a non-plottable value leaves a gap.
    points: Vec<(f64, f64)>,
}

/// A horizontal reference line: max_connections or an SLO.
struct Rule {
    value: f64,
    label: String,
    colour: RGBColor,
    stroke: Stroke,
}

struct Panel {
    title: String,
    y_desc: &'static str,
    scale: YScale,
    axis: Axis,
    lines: Vec<SeriesLine>,
    rules: Vec<Rule>,
}

impl Panel {
    fn legend(&self) -> Vec<(String, RGBColor, Stroke)> {
        self.lines
            .iter()
            .map(|l| (l.label.to_string(), l.colour, l.stroke))
            .chain(
                self.rules
                    .iter()
                    .map(|r| (r.label.clone(), r.colour, r.stroke)),
            )
            .collect()
    }
}

fn positive_finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v > 0.0)
}

fn gauge_points(series: &TimelineSeries, values: &[f64]) -> Vec<(f64, f64)> {
    series
        .interval_start_s
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect()
}

fn outcome_points(series: &TimelineSeries, values: &[f64], factor: f64) -> Vec<(f64, f64)> {
    series
        .interval_start_s
        .iter()
        .zip(values)
        .map(|(start, v)| (start + series.interval_s / 2.0, v * factor))
        .collect()
}

/// Sample-and-hold: each value lasts until the end of its interval, then steps to the next.
fn stepped_points(series: &TimelineSeries, values: &[f64]) -> Vec<(f64, f64)> {
    series
        .interval_start_s
        .iter()
        .zip(values)
        .flat_map(|(start, v)| [(*start, *v), (start + series.interval_s, *v)])
        .collect()
}

fn max_finite<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values
        .into_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max)
}

fn target_ticks(plot_height_px: i32) -> u32 {
    ((f64::from(plot_height_px) / MIN_Y_TICK_GAP_PX) as u32).clamp(2, 8)
}

fn connections_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let series = spec.series;
    let db_max = positive_finite(Some(spec.db_max_connections));
    // Drawn in order: "in use" last, so a saturated pool shows in use on top of its capacity.
    let lines = vec![
        SeriesLine {
            label: "pool capacity",
            colour: CAPACITY_COLOUR,
            stroke: Stroke::Stepped,
            points: stepped_points(series, &series.pool_capacity),
        },
        SeriesLine {
            label: "DB connections (all clients)",
            colour: DB_CONNECTIONS_COLOUR,
            stroke: Stroke::Dashed,
            points: gauge_points(series, &series.db_connections),
        },
        SeriesLine {
            label: "in use",
            colour: IN_USE_COLOUR,
            stroke: Stroke::Solid,
            points: gauge_points(series, &series.connections_in_use),
        },
    ];
    // Pending waiters have their own panel, so this range fits connections only.
    let observed = max_finite(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|(_, v)| v))
            .chain(db_max.as_ref()),
    );
    let rules = db_max
        .map(|max| Rule {
            value: max,
            label: format!("max_connections {}", format_number(max)),
            colour: LIMIT_COLOUR,
            stroke: Stroke::Dotted,
        })
        .into_iter()
        .collect();
    Panel {
        title: "Connections".to_string(),
        y_desc: "connections",
        scale: YScale::Linear,
        axis: linear_axis(observed * 1.08, target_ticks(plot_height_px)),
        lines,
        rules,
    }
}

/// Requests waiting for a connection, on a linear axis from zero: the size of the queue is
/// what matters here, and zero (no queue) must read as zero.
fn pending_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let series = spec.series;
    let points = gauge_points(series, &series.pending);
    let ticks = target_ticks(plot_height_px);
    // Waiters are whole requests: a floor on the top keeps the tick step at one or more
    // when the queue stays short or empty.
    let top = (max_finite(points.iter().map(|(_, v)| v)) * 1.08).max(f64::from(ticks));
    Panel {
        title: "Waiting for a connection".to_string(),
        y_desc: "pending requests",
        scale: YScale::Linear,
        axis: linear_axis(top, ticks),
        lines: vec![SeriesLine {
            label: "pending (fleet total)",
            colour: PENDING_COLOUR,
            stroke: Stroke::Solid,
            points,
        }],
        rules: Vec::new(),
    }
}

/// The stacked panels, top to bottom, each with its value axis sized for its plot height.
fn build_panels(spec: &TimelineSpec, plot_heights_px: [i32; PANEL_COUNT]) -> [Panel; PANEL_COUNT] {
    [
        connections_panel(spec, plot_heights_px[0]),
        pending_panel(spec, plot_heights_px[1]),
        error_rate_panel(spec, plot_heights_px[2]),
        latency_panel(spec, plot_heights_px[3]),
    ]
}

fn error_rate_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let series = spec.series;
    let slo_percent = spec
        .slo_error_rate
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * 100.0);
    let points = outcome_points(series, &series.error_rate, 100.0);
    let observed = max_finite(points.iter().map(|(_, v)| v));
    // Keep the SLO line clearly below the top of the panel even when errors stay under it.
    let top = (observed * 1.08).max(slo_percent.map_or(0.0, |slo| slo * 1.4));
    Panel {
        title: "Error rate (%)".to_string(),
        y_desc: "error rate (%)",
        scale: YScale::Linear,
        axis: linear_axis(top, target_ticks(plot_height_px)),
        lines: vec![SeriesLine {
            label: "failed requests",
            colour: OUTCOME_COLOUR,
            stroke: Stroke::Solid,
            points,
        }],
        rules: slo_rule(slo_percent, |slo| format!("SLO {}%", format_number(slo))),
    }
}

/// The dashed SLO line of a panel, when there is an SLO.
fn slo_rule(slo: Option<f64>, label: impl Fn(f64) -> String) -> Vec<Rule> {
    slo.map(|value| Rule {
        value,
        label: label(value),
        colour: LIMIT_COLOUR,
        stroke: Stroke::Dashed,
    })
    .into_iter()
    .collect()
}

fn latency_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let series = spec.series;
    let slo_ms = positive_finite(spec.slo_latency_p99_ms);
    // A p99 of 0 ms only comes from an empty histogram, so treat it like NaN.
    let p99_ms: Vec<f64> = series
        .latency_p99_ms
        .iter()
        .map(|v| if *v > 0.0 { *v } else { f64::NAN })
        .collect();
    let points = outcome_points(series, &p99_ms, 1.0);
    let mut observed: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    observed.extend(slo_ms);
    let (scale, axis) = latency_axis(&observed, target_ticks(plot_height_px));
    let title = if scale == YScale::Log10 {
        "p99 latency (ms, log scale)"
    } else {
        "p99 latency (ms)"
    };
    Panel {
        title: title.to_string(),
        y_desc: "p99 latency (ms)",
        scale,
        axis,
        lines: vec![SeriesLine {
            label: "p99 of successful requests",
            colour: OUTCOME_COLOUR,
            stroke: Stroke::Solid,
            points,
        }],
        rules: slo_rule(slo_ms, |slo| format!("SLO p99 {} ms", format_number(slo))),
    }
}

// ---------------------------------------------------------------------------------------------
// Event and alert annotations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum AnnotationKind {
    Event { colour: RGBColor },
    Alert { cleared: bool },
}

/// One labelled item in the lane strip above the first panel.
struct Annotation {
    kind: AnnotationKind,
    start_s: f64,
    /// End of the shaded span (events) or of the firing bar (alerts), clamped to the axis.
    end_s: f64,
    label: String,
}

/// Where an annotation ended up in the strip, in root pixels.
struct PlacedAnnotation {
    lane: usize,
    label: String,
    label_left_px: i32,
    label_width_px: i32,
}

fn annotations(spec: &TimelineSpec, time: &TimeAxis) -> (Vec<Annotation>, Vec<Annotation>) {
    let clamp = |t: f64| t.clamp(time.min_s, time.max_s);
    let mut events: Vec<Annotation> = spec
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let (start_s, end_s) = (
                event.start_s.min(event.end_s),
                event.start_s.max(event.end_s),
            );
            let when = if end_s > start_s {
                format!(
                    "{}\u{2013}{}",
                    time.format(start_s, true),
                    time.format(end_s, true)
                )
            } else {
                time.format(start_s, true)
            };
            Annotation {
                kind: AnnotationKind::Event {
                    colour: EVENT_PALETTE[index % EVENT_PALETTE.len()],
                },
                start_s: clamp(start_s),
                end_s: clamp(end_s),
                label: format!("{}  {when}", event.label),
            }
        })
        .collect();
    let mut alerts: Vec<Annotation> = spec
        .alerts
        .iter()
        .map(|alert| {
            let cleared_s = alert.cleared_s.map(|c| c.max(alert.fired_s));
            let when = match cleared_s {
                Some(cleared) => format!(
                    "{}\u{2013}{}",
                    time.format(alert.fired_s, true),
                    time.format(cleared, true)
                ),
                None => format!("{}, still firing", time.format(alert.fired_s, true)),
            };
            Annotation {
                kind: AnnotationKind::Alert {
                    cleared: cleared_s.is_some_and(|c| c <= time.max_s),
                },
                start_s: clamp(alert.fired_s),
                end_s: clamp(cleared_s.unwrap_or(time.max_s)),
                label: format!("{}  {when}", alert.name),
            }
        })
        .collect();
    events.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    alerts.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    (events, alerts)
}

/// Greedy interval packing: each item (its bar plus its label) goes into the first lane where
/// it does not touch the previous item. Labels sit right of the start marker, or left of it
/// when they would run off the plot. Returns None for items that did not fit in any lane.
fn pack_lanes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[Annotation],
    x_px: &dyn Fn(f64) -> i32,
    plot_px: (i32, i32),
) -> Result<Vec<Option<PlacedAnnotation>>>
where
    DB::ErrorType: 'static,
{
    const LABEL_OFFSET_PX: i32 = 9;
    const ITEM_GAP_PX: i32 = 12;
    let (plot_left, plot_right) = plot_px;
    let style = text_style(ANNOTATION_FONT_PX, &BLACK);
    let mut candidates: Vec<(i32, i32, PlacedAnnotation)> = Vec::new();
    for item in items {
        let (start_px, end_px) = (x_px(item.start_s), x_px(item.end_s).max(x_px(item.start_s)));
        let max_width_px = plot_right - plot_left - 2 * LABEL_OFFSET_PX;
        let label = truncate_to_width(root, &item.label, &style, max_width_px)?;
        let width_px = root.estimate_text_size(&label, &style)?.0 as i32;
        let right_side_left = start_px + LABEL_OFFSET_PX;
        let label_left_px = if right_side_left + width_px <= plot_right {
            right_side_left
        } else {
            (start_px - LABEL_OFFSET_PX - width_px).max(plot_left)
        };
        let occupied_left = label_left_px.min(start_px) - LABEL_OFFSET_PX;
        let occupied_right = (label_left_px + width_px).max(end_px) + ITEM_GAP_PX;
        candidates.push((
            occupied_left,
            occupied_right,
            PlacedAnnotation {
                lane: 0,
                label,
                label_left_px,
                label_width_px: width_px,
            },
        ));
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| candidates[i].0);
    let mut lane_ends: Vec<i32> = Vec::new();
    let mut lanes: Vec<Option<usize>> = vec![None; candidates.len()];
    for index in order {
        let (left, right, _) = &candidates[index];
        if let Some(lane) = lane_ends.iter().position(|end| end < left) {
            lane_ends[lane] = *right;
            lanes[index] = Some(lane);
        } else if lane_ends.len() < MAX_LANES_PER_SECTION {
            lane_ends.push(*right);
            lanes[index] = Some(lane_ends.len() - 1);
        }
    }
    Ok(candidates
        .into_iter()
        .zip(lanes)
        .map(|((_, _, mut placed), lane)| {
            lane.map(|lane| {
                placed.lane = lane;
                placed
            })
        })
        .collect())
}

fn lane_count(placed: &[Option<PlacedAnnotation>]) -> i32 {
    placed
        .iter()
        .flatten()
        .map(|p| p.lane as i32 + 1)
        .max()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

/// Vertical extent of one panel, in root pixels.
struct PanelRows {
    header_top: i32,
    header_rows: i32,
    plot_top: i32,
    plot_bottom: i32,
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &TimelineSpec,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (width_px, height_px) = root.dim_in_pixel();
    let (width_px, height_px) = (width_px as i32, height_px as i32);
    let (min_s, max_s) = time_extent(spec);
    let time = TimeAxis::new(min_s, max_s, spec.clock_start_minutes);

    // Horizontal geometry is fixed, so the time-to-pixel mapping is known before the vertical
    // layout; it matches plotters' own mapping (pixel range end is exclusive).
    let plot_left = Y_LABEL_AREA_PX;
    let plot_right = width_px - RIGHT_MARGIN_PX;
    let x_px = |t: f64| -> i32 {
        let frac = ((t - time.min_s) / (time.max_s - time.min_s)).clamp(0.0, 1.0);
        plot_left + (f64::from(plot_right - 1 - plot_left) * frac + 1e-3).floor() as i32
    };

    // Annotation lanes.
    let (events, alerts) = annotations(spec, &time);
    let placed_events = pack_lanes(root, &events, &x_px, (plot_left, plot_right))?;
    let placed_alerts = pack_lanes(root, &alerts, &x_px, (plot_left, plot_right))?;
    let (event_lanes, alert_lanes) = (lane_count(&placed_events), lane_count(&placed_alerts));
    let strip_height_px = if event_lanes + alert_lanes == 0 {
        0
    } else {
        (event_lanes + alert_lanes) * LANE_HEIGHT_PX
            + if event_lanes > 0 && alert_lanes > 0 {
                LANE_SECTION_GAP_PX
            } else {
                0
            }
            + STRIP_TOP_PAD_PX
            + STRIP_BOTTOM_PAD_PX
    };
    let omitted = placed_events
        .iter()
        .chain(&placed_alerts)
        .filter(|p| p.is_none())
        .count();

    // Panels need their plot height for tick density, and the legend rows for the layout; a
    // provisional height is close enough for the tick count.
    let provisional_height_px = (height_px - 420).max(300);
    let mut panels = build_panels(
        spec,
        PANEL_HEIGHT_SHARES.map(|share| (f64::from(provisional_height_px) * share) as i32),
    );
    let legend_layouts: Vec<Vec<(i32, i32)>> = panels
        .iter()
        .map(|p| legend_layout(root, p, plot_right))
        .collect::<Result<_>>()?;
    let header_rows: Vec<i32> = legend_layouts
        .iter()
        .map(|layout| layout.iter().map(|(row, _)| row + 1).max().unwrap_or(1))
        .collect();
    let header_height = |rows: i32| rows * LEGEND_ROW_HEIGHT_PX + 8;
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
    panels = build_panels(spec, plot_heights_px);

    draw_header(root, spec, omitted)?;

    // Build the panel charts (this draws nothing yet).
    let areas: Vec<DrawingArea<DB, Shift>> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let last = index + 1 == rows.len();
            let area_height =
                row.plot_bottom - row.plot_top + if last { X_LABEL_AREA_PX } else { 0 };
            root.clone()
                .shrink((0, row.plot_top), (width_px, area_height))
        })
        .collect();
    let mut charts = Vec::new();
    for (index, (panel, area)) in panels.iter().zip(&areas).enumerate() {
        let last = index + 1 == panels.len();
        let chart = ChartBuilder::on(area)
            .margin_right(RIGHT_MARGIN_PX as u32)
            .y_label_area_size(Y_LABEL_AREA_PX as u32)
            .x_label_area_size(if last { X_LABEL_AREA_PX as u32 } else { 0 })
            .build_cartesian_2d(
                TickedRange {
                    min: time.min_s,
                    max: time.max_s,
                    major_ticks: time.major_s.clone(),
                    minor_ticks: time.minor_s.clone(),
                },
                TickedRange::for_axis(&panel.axis, panel.scale),
            )?;
        charts.push(chart);
    }
    let (plots_top, plots_bottom) = (rows[0].plot_top, rows[PANEL_COUNT - 1].plot_bottom);
    // Overlays drawn on the root use x_px; make sure it agrees with the charts' mapping.
    for t in [time.min_s, time.max_s] {
        let chart_x = charts[0].backend_coord(&(t, 0.0)).0;
        debug_assert!(
            (chart_x - x_px(t)).abs() <= 1,
            "x mapping {chart_x} vs {}",
            x_px(t)
        );
    }

    // Behind everything: event bands and instants, then alert onsets, across all panels.
    for event in &events {
        let AnnotationKind::Event { colour } = event.kind else {
            continue;
        };
        let (x0, x1) = (x_px(event.start_s), x_px(event.end_s));
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
    for alert in &alerts {
        let x = x_px(alert.start_s);
        root.draw(&PathElement::new(
            vec![(x, plots_top), (x, plots_bottom)],
            ALERT_COLOUR.mix(0.85).stroke_width(2),
        ))?;
    }

    for (index, ((chart, panel), row)) in charts.iter_mut().zip(&panels).zip(&rows).enumerate() {
        let last = index + 1 == panels.len();
        let scale = panel.scale;
        let format_y = |v: &f64| format_number(scale.plot_to_value(*v));
        let format_x = |v: &f64| time.format(*v, time.tick_labels_with_seconds);
        let mut mesh = chart.configure_mesh();
        AXES.apply(&mut mesh, &format_x, &format_y)
            .y_desc(panel.y_desc);
        if last {
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
        for rule in &panel.rules {
            let y = scale.value_to_plot(rule.value).clamp(y_range.0, y_range.1);
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
        for rule in &panel.rules {
            let y = scale.value_to_plot(rule.value).clamp(y_range.0, y_range.1);
            let (_, y_px) = chart.backend_coord(&(time.min_s, y));
            let style = text_style(ANNOTATION_FONT_PX, &rule.colour);
            let (anchor, pos) = place_rule_label(
                root,
                &rule.label,
                &style,
                y_px,
                (plot_left, plot_right, row.plot_top, row.plot_bottom),
                &obstacles_px,
            )?;
            draw_boxed_label(root, anchor, &rule.label, &style, pos)?;
        }
        if obstacles_px.is_empty() {
            let centre_px = (
                (plot_left + plot_right) / 2,
                (row.plot_top + row.plot_bottom) / 2,
            );
            draw_notice(root, "no data in this period", centre_px, AXIS_DESC_FONT_PX)?;
        }
        draw_panel_header(root, panel, row, &legend_layouts[index])?;
    }

    // The strip sits between the first panel's header and its plot.
    let strip_top = rows[0].header_top + header_height(rows[0].header_rows) + STRIP_TOP_PAD_PX;
    let alert_strip_top = strip_top
        + event_lanes * LANE_HEIGHT_PX
        + if event_lanes > 0 {
            LANE_SECTION_GAP_PX
        } else {
            0
        };
    draw_lane_section(
        root,
        &events,
        &placed_events,
        strip_top,
        plots_top,
        &x_px,
        "events",
    )?;
    draw_lane_section(
        root,
        &alerts,
        &placed_alerts,
        alert_strip_top,
        plots_top,
        &x_px,
        "alerts",
    )?;
    Ok(())
}

fn draw_run<DB: DrawingBackend>(
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

fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &TimelineSpec,
    omitted_labels: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let series = spec.series;
    let mut parts: Vec<String> = Vec::new();
    if !series.interval_start_s.is_empty() {
        parts.push(format!(
            "fleet totals per {} interval",
            format_duration(series.interval_s)
        ));
        let running = series.instances.iter().copied().filter(|v| v.is_finite());
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
    if series.interval_start_s.is_empty() {
        parts.push("no samples".to_string());
    }
    if !spec.events.is_empty() {
        parts.push("shaded = events".to_string());
    }
    if !spec.alerts.is_empty() {
        parts.push("orange = alert fired (bar while firing)".to_string());
    }
    if omitted_labels > 0 {
        parts.push(format!("{omitted_labels} more events/alerts not labelled"));
    }
    let subtitle = parts.join("  \u{b7}  ");
    draw_title(
        root,
        (spec.title, TITLE_FONT_PX),
        (&subtitle, SUBTITLE_FONT_PX),
        50,
    )
}

/// Positions (row, x) of each legend entry in the panel header, flowing right of the panel
/// title and wrapping onto further rows when the header is full.
fn legend_layout<DB: DrawingBackend>(
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

fn draw_panel_header<DB: DrawingBackend>(
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

/// Draws one section of the lane strip (events or alerts) and the connectors from each item
/// down to the top of the first plot.
fn draw_lane_section<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[Annotation],
    placed: &[Option<PlacedAnnotation>],
    section_top: i32,
    plots_top: i32,
    x_px: &dyn Fn(f64) -> i32,
    section_name: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if placed.iter().all(Option::is_none) {
        return Ok(());
    }
    root.draw(&Text::new(
        section_name.to_string(),
        (Y_LABEL_AREA_PX - 10, section_top + LANE_LABEL_CENTRE_PX),
        text_style(LEGEND_FONT_PX, &SUBTITLE_COLOUR).pos(Pos::new(HPos::Right, VPos::Center)),
    ))?;
    let lanes: Vec<(&Annotation, &PlacedAnnotation)> = items
        .iter()
        .zip(placed)
        .filter_map(|(item, p)| p.as_ref().map(|p| (item, p)))
        .collect();

    // Connectors first, so that labels further down are drawn over them.
    for (item, p) in &lanes {
        let lane_top = section_top + p.lane as i32 * LANE_HEIGHT_PX;
        let (x0, x1) = (x_px(item.start_s), x_px(item.end_s));
        match item.kind {
            AnnotationKind::Event { colour } => {
                let edges: &[i32] = if x1 > x0 { &[x0, x1] } else { &[x0] };
                for &x in edges {
                    root.draw(&DashedPathElement::new(
                        vec![(x, lane_top + LANE_BAR_TOP_PX + 5), (x, plots_top)],
                        3,
                        3,
                        colour.mix(0.8).stroke_width(1),
                    ))?;
                }
            }
            AnnotationKind::Alert { .. } => {
                root.draw(&PathElement::new(
                    vec![(x0, lane_top + 12), (x0, plots_top)],
                    ALERT_COLOUR.mix(0.85).stroke_width(2),
                ))?;
            }
        }
    }

    let label_style = text_style(ANNOTATION_FONT_PX, &BLACK);
    for (item, p) in &lanes {
        let lane_top = section_top + p.lane as i32 * LANE_HEIGHT_PX;
        let (x0, x1) = (x_px(item.start_s), x_px(item.end_s));
        match item.kind {
            AnnotationKind::Event { colour } => {
                // A bar under the label spans the event; an instant is a short tick.
                if x1 > x0 {
                    root.draw(&Rectangle::new(
                        [
                            (x0, lane_top + LANE_BAR_TOP_PX),
                            (x1, lane_top + LANE_BAR_TOP_PX + 5),
                        ],
                        colour.mix(EVENT_LANE_OPACITY).filled(),
                    ))?;
                } else {
                    root.draw(&PathElement::new(
                        vec![(x0, lane_top + 1), (x0, lane_top + LANE_BAR_TOP_PX + 5)],
                        colour.stroke_width(3),
                    ))?;
                }
                draw_lane_label(root, p, lane_top + LANE_LABEL_CENTRE_PX, &label_style)?;
            }
            AnnotationKind::Alert { cleared } => {
                let bar_top = lane_top + LANE_BAR_TOP_PX;
                if x1 > x0 {
                    root.draw(&Rectangle::new(
                        [(x0, bar_top), (x1, bar_top + 3)],
                        ALERT_COLOUR.filled(),
                    ))?;
                }
                if cleared {
                    root.draw(&PathElement::new(
                        vec![(x1, bar_top - 4), (x1, bar_top + 6)],
                        ALERT_COLOUR.stroke_width(2),
                    ))?;
                }
                root.draw(&Polygon::new(
                    vec![
                        (x0 - 6, lane_top + 1),
                        (x0 + 6, lane_top + 1),
                        (x0, lane_top + 12),
                    ],
                    ALERT_COLOUR.filled(),
                ))?;
                let text_style = text_style(ANNOTATION_FONT_PX, &ALERT_TEXT_COLOUR);
                draw_lane_label(root, p, lane_top + LANE_LABEL_CENTRE_PX, &text_style)?;
            }
        }
    }
    Ok(())
}

fn draw_lane_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    placed: &PlacedAnnotation,
    centre_y: i32,
    style: &TextStyle,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    const HALF_HEIGHT_PX: i32 = 8;
    root.draw(&Rectangle::new(
        [
            (placed.label_left_px - 3, centre_y - HALF_HEIGHT_PX),
            (
                placed.label_left_px + placed.label_width_px + 3,
                centre_y + HALF_HEIGHT_PX,
            ),
        ],
        WHITE.mix(0.8).filled(),
    ))?;
    root.draw(&Text::new(
        placed.label.clone(),
        (placed.label_left_px, centre_y),
        style.pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

/// Picks the corner of the plot (above or below the reference line) where its label crosses
/// the fewest data segments. Returns the anchor in root pixels and the text position.
fn place_rule_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    label: &str,
    style: &TextStyle,
    rule_y_px: i32,
    plot_px: (i32, i32, i32, i32),
    obstacles_px: &[Vec<(i32, i32)>],
) -> Result<((i32, i32), Pos)>
where
    DB::ErrorType: 'static,
{
    let (left, right, top, bottom) = plot_px;
    let (w, h) = root.estimate_text_size(label, style)?;
    let (w, h) = (w as i32, h as i32);
    const INSET_PX: i32 = 8;
    const GAP_PX: i32 = 5;
    let mut best: Option<(usize, (i32, i32), Pos)> = None;
    for (h_pos, x) in [
        (HPos::Right, right - INSET_PX),
        (HPos::Left, left + INSET_PX),
        (HPos::Center, (left + right) / 2),
    ] {
        for above in [true, false] {
            let (y, v_pos) = if above {
                (rule_y_px - GAP_PX, VPos::Bottom)
            } else {
                (rule_y_px + GAP_PX, VPos::Top)
            };
            let rect_left = match h_pos {
                HPos::Left => x,
                HPos::Center => x - w / 2,
                HPos::Right => x - w,
            };
            let rect_top = if above { y - h } else { y };
            if rect_top < top + 2 || rect_top + h > bottom - 2 {
                continue;
            }
            let rect = (
                rect_left - 3,
                rect_top - 3,
                rect_left + w + 3,
                rect_top + h + 3,
            );
            let hits = obstacles_px
                .iter()
                .flat_map(|run| run.windows(2))
                .filter(|seg| segment_hits_rect(seg[0], seg[1], rect))
                .count()
                + obstacles_px
                    .iter()
                    .filter(|run| run.len() == 1 && point_in_rect(run[0], rect))
                    .count();
            if best.as_ref().is_none_or(|(score, _, _)| hits < *score) {
                best = Some((hits, (x, y), Pos::new(h_pos, v_pos)));
            }
        }
    }
    Ok(best.map(|(_, anchor, pos)| (anchor, pos)).unwrap_or((
        (right - INSET_PX, rule_y_px - GAP_PX),
        Pos::new(HPos::Right, VPos::Bottom),
    )))
}

fn point_in_rect(p: (i32, i32), rect: (i32, i32, i32, i32)) -> bool {
    p.0 >= rect.0 && p.0 <= rect.2 && p.1 >= rect.1 && p.1 <= rect.3
}

/// Whether the segment a-b passes through the rectangle (left, top, right, bottom).
fn segment_hits_rect(a: (i32, i32), b: (i32, i32), rect: (i32, i32, i32, i32)) -> bool {
    let (left, top, right, bottom) = (
        f64::from(rect.0),
        f64::from(rect.1),
        f64::from(rect.2),
        f64::from(rect.3),
    );
    let (ax, ay, bx, by) = (
        f64::from(a.0),
        f64::from(a.1),
        f64::from(b.0),
        f64::from(b.1),
    );
    let (x0, x1) = (ax.min(bx).max(left), ax.max(bx).min(right));
    if x0 > x1 {
        return false;
    }
    let y_at = |x: f64| {
        if (bx - ax).abs() < 1e-9 {
            ay
        } else {
            ay + (by - ay) * (x - ax) / (bx - ax)
        }
    };
    let (y0, y1) = if (bx - ax).abs() < 1e-9 {
        (ay.min(by), ay.max(by))
    } else {
        (y_at(x0).min(y_at(x1)), y_at(x0).max(y_at(x1)))
    };
    y1 >= top && y0 <= bottom
}

/// Shortens `text` with an ellipsis until it fits `max_width_px`.
fn truncate_to_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width_px: i32,
) -> Result<String>
where
    DB::ErrorType: 'static,
{
    if area.estimate_text_size(text, style)?.0 as i32 <= max_width_px {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let candidate: String = chars[..keep].iter().collect::<String>() + "\u{2026}";
        if area.estimate_text_size(&candidate, style)?.0 as i32 <= max_width_px {
            return Ok(candidate);
        }
    }
    Ok("\u{2026}".to_string())
}

/// "10 s", "1 min", "1 h" style interval lengths for the subtitle.
fn format_duration(seconds: f64) -> String {
    if seconds >= HOUR_S && (seconds % HOUR_S).abs() < 1e-9 {
        format!("{} h", format_number(seconds / HOUR_S))
    } else if seconds >= MINUTE_S && (seconds % MINUTE_S).abs() < 1e-9 {
        format!("{} min", format_number(seconds / MINUTE_S))
    } else {
        format!("{} s", format_number(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rendered charts go to $TIMELINE_CHART_OUT_DIR when set (to look at them), otherwise to
    /// a scratch directory under the system temp dir.
    fn output_dir() -> std::path::PathBuf {
        std::env::var_os("TIMELINE_CHART_OUT_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("poolsim-timeline-test"))
    }

    /// Small deterministic noise source so the samples look like measurements.
    struct Noise(u64);

    impl Noise {
        /// Uniform in -1..1.
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    fn empty_series(interval_s: f64) -> TimelineSeries {
        TimelineSeries {
            interval_s,
            ..TimelineSeries::default()
        }
    }

    fn push_sample(
        series: &mut TimelineSeries,
        start_s: f64,
        values: [f64; 7], // in use, pending, capacity, db, error rate, p99 ms, instances
    ) {
        series.interval_start_s.push(start_s);
        series.connections_in_use.push(values[0]);
        series.pending.push(values[1]);
        series.pool_capacity.push(values[2]);
        series.db_connections.push(values[3]);
        series.error_rate.push(values[4]);
        series.latency_p99_ms.push(values[5]);
        series.instances.push(values[6]);
    }

    /// 09:00 to 14:00 at 10 s: six instances with pool max_size 10 (capacity 60) against a
    /// database with max_connections 100, 15 of them held by other clients. A surge from
    /// 09:40 saturates the pools; a rolling restart at 13:00-13:15 raises max_size to 40.
    fn incident_series() -> TimelineSeries {
        const OTHER_CLIENTS: f64 = 15.0;
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let mut series = empty_series(10.0);
        for i in 0..1800 {
            let t_s = f64::from(i) * 10.0;
            let minute = t_s / 60.0;
            // Rolling restart: instance k is down from 240 + 2.5k for one minute, then back
            // with max_size 40.
            let (mut capacity, mut instances) = (60.0, 6.0);
            if minute >= 240.0 {
                capacity = 0.0;
                instances = 0.0;
                for k in 0..6 {
                    let down_at = 240.0 + 2.5 * f64::from(k);
                    if minute < down_at {
                        capacity += 10.0;
                        instances += 1.0;
                    } else if minute >= down_at + 1.0 {
                        capacity += 40.0;
                        instances += 1.0;
                    }
                }
            }
            let demand = if minute < 40.0 {
                25.0
            } else if minute < 45.0 {
                25.0 + (minute - 40.0) * 12.0
            } else if minute < 210.0 {
                140.0
            } else if minute < 255.0 {
                72.0
            } else {
                45.0
            };
            let in_use = (demand + 4.0 * noise.next()).min(capacity).max(0.0);
            let pending = if minute < 45.0 {
                0.0
            } else if minute < 210.0 {
                (300.0 * (1.0 - (-(minute - 45.0) / 4.0).exp()) + 12.0 * noise.next()).max(0.0)
            } else if minute < 240.0 {
                (40.0 + 260.0 * (-(minute - 210.0) / 3.0).exp() + 5.0 * noise.next()).max(0.0)
            } else {
                ((demand - capacity) * 4.0 + 3.0 * noise.next()).max(0.0)
            };
            let error_rate = if minute < 45.0 {
                (0.001 + 0.001 * noise.next()).max(0.0)
            } else if minute < 210.0 {
                (0.30 * (1.0 - (-(minute - 45.0) / 5.0).exp()) + 0.02 * noise.next()).max(0.0)
            } else if pending > 1.0 {
                (0.05 + 0.01 * noise.next()).max(0.0)
            } else {
                0.0
            };
            let p99_ms = if minute < 40.0 {
                115.0 + 15.0 * noise.next()
            } else if pending < 1.0 && minute >= 240.0 {
                130.0 + 15.0 * noise.next()
            } else if minute < 210.0 {
                (150.0 * (1.0 + (minute - 40.0) * 80.0)).min(29_500.0 + 500.0 * noise.next())
            } else {
                6_000.0 + 800.0 * noise.next()
            };
            let db = (in_use + 6.0 + 2.0 * noise.next() + OTHER_CLIENTS).min(100.0);
            push_sample(
                &mut series,
                t_s,
                [in_use, pending, capacity, db, error_rate, p99_ms, instances],
            );
        }
        series
    }

    fn minutes(hh_mm: (u32, u32)) -> f64 {
        // Seconds since the 09:00 simulation start.
        (f64::from(hh_mm.0 * 60 + hh_mm.1) - 540.0) * 60.0
    }

    #[test]
    fn incident_timeline_renders_png_and_svg() {
        let series = incident_series();
        let events = [
            TimelineEvent {
                label: "traffic surge".to_string(),
                start_s: minutes((9, 40)),
                end_s: minutes((12, 30)),
            },
            TimelineEvent {
                label: "rolling restart (pool 10 -> 40)".to_string(),
                start_s: minutes((13, 0)),
                end_s: minutes((13, 15)),
            },
        ];
        let alerts = [
            AlertFiring {
                name: "pool pending > 5 for 1m".to_string(),
                fired_s: minutes((9, 47)),
                cleared_s: Some(minutes((13, 10))),
            },
            AlertFiring {
                name: "error rate > 5% for 5m".to_string(),
                fired_s: minutes((10, 2)),
                cleared_s: Some(minutes((13, 14))),
            },
        ];
        let spec = TimelineSpec {
            title: "auth-service 2024-01-15: incident as it happened",
            clock_start_minutes: Some(540),
            db_max_connections: 100.0,
            slo_error_rate: Some(0.01),
            slo_latency_p99_ms: Some(500.0),
            series: &series,
            events: &events,
            alerts: &alerts,
        };
        let dir = output_dir();
        let written = write_timeline_chart(
            &spec,
            &dir,
            "incident-timeline",
            &[ImageFormat::Png, ImageFormat::Svg],
        )
        .unwrap();
        assert_eq!(written, ["incident-timeline.png", "incident-timeline.svg"]);
        let png = fs::read(dir.join("incident-timeline.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let svg = fs::read_to_string(dir.join("incident-timeline.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("09:30") && svg.contains("traffic surge"));
        assert!(svg.contains("max_connections 100"));
        assert!(svg.contains("Waiting for a connection") && svg.contains("pending (fleet total)"));
    }

    /// The review case: ~1,500 waiters next to ~30 connections in use. Fourteen instances at
    /// most with pool max_size 6 (capacity 30 to 84), 6 other DB clients, max_connections
    /// 100; the autoscaler adds instances but in-use stays pinned near 30 because the database
    /// is the bottleneck, and the queue only drains when the surge passes.
    fn pool_exhaustion_series() -> TimelineSeries {
        let mut noise = Noise(0x2545_f491_4f6c_dd1d);
        let mut series = empty_series(10.0);
        for i in 0..720 {
            let t_s = f64::from(i) * 10.0;
            let minute = t_s / 60.0;
            // One more instance every 5 minutes from 14:20, up to 14.
            let instances = if minute < 20.0 {
                5.0
            } else {
                (6.0 + ((minute - 20.0) / 5.0).floor()).min(14.0)
            };
            let capacity = instances * 6.0;
            let surge = (25.0..95.0).contains(&minute);
            let in_use = if surge {
                (30.0 + 1.5 * noise.next()).min(capacity)
            } else {
                (12.0 + 3.0 * noise.next()).min(capacity)
            };
            let pending = if minute < 25.0 {
                0.0
            } else if minute < 95.0 {
                (1_500.0 * (1.0 - (-(minute - 25.0) / 6.0).exp()) + 40.0 * noise.next()).max(0.0)
            } else {
                (1_500.0 * (-(minute - 95.0) / 2.0).exp() + 5.0 * noise.next()).max(0.0)
            };
            // Under load the pools hold every connection they may open; 6 other clients.
            let open = if surge { capacity } else { in_use + 15.0 };
            let db = (open + 6.0 + noise.next()).max(35.0 + noise.next());
            let error_rate = if pending > 50.0 {
                (0.12 * (pending / 1_500.0) + 0.01 * noise.next()).max(0.0)
            } else {
                (0.0005 + 0.0005 * noise.next()).max(0.0)
            };
            let p99_ms = if pending > 50.0 {
                (200.0 + 20.0 * pending).min(30_000.0) + 300.0 * noise.next()
            } else {
                90.0 + 10.0 * noise.next()
            };
            push_sample(
                &mut series,
                t_s,
                [in_use, pending, capacity, db, error_rate, p99_ms, instances],
            );
        }
        series
    }

    #[test]
    fn pool_exhaustion_timeline_renders() {
        let series = pool_exhaustion_series();
        let events = [TimelineEvent {
            label: "autoscaling 5 -> 14 instances".to_string(),
            start_s: 20.0 * MINUTE_S,
            end_s: 60.0 * MINUTE_S,
        }];
        let alerts = [AlertFiring {
            name: "pool pending > 100 for 2m".to_string(),
            fired_s: 29.0 * MINUTE_S,
            cleared_s: Some(100.0 * MINUTE_S),
        }];
        let spec = TimelineSpec {
            title: "orders-api 2024-03-02: connection pool exhaustion",
            clock_start_minutes: Some(14 * 60),
            db_max_connections: 100.0,
            slo_error_rate: Some(0.01),
            slo_latency_p99_ms: Some(300.0),
            series: &series,
            events: &events,
            alerts: &alerts,
        };
        let written = write_timeline_chart(
            &spec,
            &output_dir(),
            "pool-exhaustion-timeline",
            &[ImageFormat::Png],
        )
        .unwrap();
        assert_eq!(written, ["pool-exhaustion-timeline.png"]);
    }

    #[test]
    fn pending_gets_its_own_axis() {
        let series = pool_exhaustion_series();
        let spec = TimelineSpec {
            title: "axes",
            clock_start_minutes: None,
            db_max_connections: 100.0,
            slo_error_rate: None,
            slo_latency_p99_ms: None,
            series: &series,
            events: &[],
            alerts: &[],
        };
        let [connections, pending, _, _] = build_panels(&spec, [300, 200, 200, 250]);
        // Connections fit in-use, capacity, DB and max_connections, not ~1,500 waiters.
        assert!(connections
            .lines
            .iter()
            .all(|l| l.label != "pending (fleet total)"));
        assert!(
            (100.0..=125.0).contains(&connections.axis.max),
            "{:?}",
            connections.axis
        );
        assert_eq!(pending.scale, YScale::Linear);
        assert!(pending.axis.max >= 1_500.0 && pending.axis.max <= 2_000.0);
        assert_eq!(pending.axis.ticks.first(), Some(&0.0));
        assert!(pending.axis.min <= 0.0 && pending.axis.min > -0.05 * pending.axis.max);
        // An empty queue still gets whole-request ticks.
        let idle = TimelineSeries {
            pending: vec![0.0; series.interval_start_s.len()],
            ..series.clone()
        };
        let idle_spec = TimelineSpec {
            series: &idle,
            ..spec.clone()
        };
        let pending = pending_panel(&idle_spec, 200);
        assert!(pending.axis.ticks.windows(2).all(|w| w[1] - w[0] >= 1.0));
    }

    #[test]
    fn ten_minute_timeline_without_events_renders() {
        let mut noise = Noise(42);
        let mut series = empty_series(10.0);
        for i in 0..60 {
            let t_s = f64::from(i) * 10.0;
            let bump = if (200.0..320.0).contains(&t_s) {
                8.0
            } else {
                0.0
            };
            push_sample(
                &mut series,
                t_s,
                [
                    18.0 + bump + 3.0 * noise.next(),
                    if bump > 0.0 { 2.0 } else { 0.0 },
                    40.0,
                    30.0 + bump + 2.0 * noise.next(),
                    0.0,
                    95.0 + 8.0 * bump + 10.0 * noise.next(),
                    4.0,
                ],
            );
        }
        let spec = TimelineSpec {
            title: "checkout: 10 minutes of steady load",
            clock_start_minutes: None,
            db_max_connections: 200.0,
            slo_error_rate: Some(0.01),
            slo_latency_p99_ms: Some(250.0),
            series: &series,
            events: &[],
            alerts: &[],
        };
        let written =
            write_timeline_chart(&spec, &output_dir(), "short-timeline", &[ImageFormat::Png])
                .unwrap();
        assert_eq!(written, ["short-timeline.png"]);
    }

    #[test]
    fn edge_cases_render() {
        let dir = output_dir();
        let empty = empty_series(10.0);
        let instant = [TimelineEvent {
            label: "deploy".to_string(),
            start_s: 120.0,
            end_s: 120.0,
        }];
        let base = TimelineSpec {
            title: "edge case",
            clock_start_minutes: Some(23 * 60 + 50),
            db_max_connections: 100.0,
            slo_error_rate: None,
            slo_latency_p99_ms: None,
            series: &empty,
            events: &[],
            alerts: &[],
        };
        // No data at all, with and without an event.
        write_timeline_chart(&base, &dir, "edge-empty", &[ImageFormat::Png]).unwrap();
        let with_event = TimelineSpec {
            events: &instant,
            ..base.clone()
        };
        write_timeline_chart(&with_event, &dir, "edge-empty-event", &[ImageFormat::Svg]).unwrap();

        // A single interval.
        let mut single = empty_series(10.0);
        push_sample(
            &mut single,
            0.0,
            [5.0, 0.0, 10.0, 7.0, f64::NAN, f64::NAN, 1.0],
        );
        let spec = TimelineSpec {
            series: &single,
            ..base.clone()
        };
        write_timeline_chart(&spec, &dir, "edge-single", &[ImageFormat::Png]).unwrap();

        // Gaps, crowded overlapping events, an alert still firing, crossing midnight.
        let mut gaps = empty_series(30.0);
        for i in 0..240 {
            let t_s = f64::from(i) * 30.0;
            let missing = (60..70).contains(&i) || i == 100;
            let outcome = |v: f64| if missing { f64::NAN } else { v };
            push_sample(
                &mut gaps,
                t_s,
                [
                    20.0,
                    f64::from(i % 7),
                    40.0,
                    35.0,
                    outcome(0.002 * f64::from(i % 5)),
                    outcome(80.0 + f64::from(i)),
                    2.0,
                ],
            );
        }
        let crowded: Vec<TimelineEvent> = (0..14)
            .map(|k| TimelineEvent {
                label: format!("maintenance window number {k} with a long description"),
                start_s: 600.0 + f64::from(k) * 200.0,
                end_s: 900.0 + f64::from(k) * 200.0,
            })
            .collect();
        let alerts = [AlertFiring {
            name: "p99 > 200 ms".to_string(),
            fired_s: 6_900.0,
            cleared_s: None,
        }];
        let spec = TimelineSpec {
            series: &gaps,
            events: &crowded,
            alerts: &alerts,
            slo_error_rate: Some(0.005),
            ..base.clone()
        };
        let written = write_timeline_chart(
            &spec,
            &dir,
            "edge-gaps",
            &[ImageFormat::Png, ImageFormat::Png],
        )
        .unwrap();
        assert_eq!(written, ["edge-gaps.png"]);
    }

    #[test]
    fn inconsistent_series_is_rejected() {
        let mut series = empty_series(10.0);
        push_sample(&mut series, 0.0, [1.0; 7]);
        series.pending.clear();
        let spec = TimelineSpec {
            title: "bad",
            clock_start_minutes: None,
            db_max_connections: 100.0,
            slo_error_rate: None,
            slo_latency_p99_ms: None,
            series: &series,
            events: &[],
            alerts: &[],
        };
        let error = write_timeline_chart(&spec, &output_dir(), "bad", &[ImageFormat::Png])
            .unwrap_err()
            .to_string();
        assert!(error.contains("pending"), "{error}");
        let bad_stem = write_timeline_chart(&spec, &output_dir(), "a/b", &[]);
        assert!(bad_stem.is_err());
    }

    #[test]
    fn time_labels_follow_the_clock() {
        let clock = TimeAxis::new(0.0, 5.0 * HOUR_S, Some(540));
        assert_eq!(clock.format(45.0 * MINUTE_S, false), "09:45");
        assert_eq!(clock.format(47.5 * MINUTE_S, true), "09:47:30");
        assert_eq!(clock.title(), "time (UTC)");
        assert_eq!(clock.major_s.len(), 11);
        assert_eq!(clock.format(clock.major_s[1], false), "09:30");
        let elapsed = TimeAxis::new(0.0, 10.0 * MINUTE_S, None);
        assert_eq!(elapsed.format(65.0 * MINUTE_S, false), "1:05");
        assert_eq!(elapsed.major_s, [0.0, 300.0, 600.0]);
        assert_eq!(elapsed.title(), "time since start (h:mm)");
        // Ticks land on round wall-clock times even when t = 0 does not.
        let late = TimeAxis::new(0.0, 2.0 * HOUR_S, Some(23 * 60 + 50));
        assert_eq!(late.format(late.major_s[0], false), "00:00");
        assert_eq!(late.format(late.major_s[1], false), "00:15");
    }

    #[test]
    fn latency_axis_goes_log_for_wide_spreads() {
        let (scale, axis) = latency_axis(&[110.0, 30_000.0, f64::NAN], 6);
        assert_eq!(scale, YScale::Log10);
        assert_eq!((axis.min, axis.max), (100.0, 50_000.0));
        let (scale, _) = latency_axis(&[90.0, 200.0], 6);
        assert_eq!(scale, YScale::Linear);
        let (_, empty) = latency_axis(&[], 6);
        assert!(empty.max > empty.min);
    }

    #[test]
    fn rule_label_collision_test_sees_crossing_segments() {
        let rect = (10, 10, 20, 20);
        assert!(segment_hits_rect((0, 15), (30, 15), rect));
        assert!(segment_hits_rect((0, 0), (30, 30), rect));
        assert!(!segment_hits_rect((0, 0), (30, 5), rect));
        assert!(!segment_hits_rect((25, 0), (25, 30), rect));
    }
}
