//! Incident timeline chart for the poolsim report.
//!
//! The capacity charts answer "which pool size would have been enough"; a postmortem needs to
//! see the incident itself as it unfolded: what the traffic did (the cause), when the pool
//! saturated and waiters piled up, how busy the database was, when the error rate and p99
//! latency crossed the SLO, and how that lines up with what happened (a traffic surge, a
//! rolling restart) and with the alerts that fired. This module draws one image of stacked
//! panels over a single shared time axis in wall-clock or elapsed time, with events as shaded
//! bands and alerts as orange markers across all panels, labelled once in a lane strip above
//! the first panel; alert thresholds, the SLO and the database slot limit are drawn on their
//! panels. Waiters get a panel of their own because during an incident they outnumber
//! connections by one or two orders of magnitude. It takes the sampled series and the events
//! and alerts as `stats` and `config` define them, and renders PNG or SVG bytes through the
//! groundwork in `plotting`, with the fonts and colours of `theme`.
//!
//! `axis` holds the time and value axes, `panels` what each panel shows, `lanes` the event
//! and alert strip and label placement, and `draw` the layout and drawing.

mod axis;
mod draw;
mod lanes;
mod panels;
#[cfg(test)]
mod tests;

use anyhow::{ensure, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::output::OutputFile;
pub use super::plotting::ImageFormat;
use super::plotting::{render_image, Chart};
use super::theme::Theme;
use crate::config::model::DatabaseSpec;
use crate::config::timeline::{AlertRule, TimelineEvent};
use crate::stats::series::{AlertFiring, IntervalSample};
use draw::draw_timeline;

/// Everything the timeline chart needs. Gauges of `series` (connections, pending, capacity,
/// instances) are drawn at the start of their interval; per-interval outcomes (offered
/// traffic, error rate, p99, database busy share) at its middle. A NaN value leaves a gap.
#[derive(Clone, Debug)]
pub struct TimelineSpec<'a> {
    /// E.g. "auth-service 2024-01-15: incident as it happened".
    pub title: &'a str,
    /// Wall-clock time of t = 0 in minutes after midnight UTC (09:00 is 540); None labels the
    /// axis with elapsed time ("0:45").
    pub clock_start_minutes: Option<u32>,
    /// Sample interval length in seconds.
    pub interval_s: f64,
    /// Fleet-wide samples, one per interval, in time order.
    pub series: &'a [IntervalSample],
    /// The events of this run (labels as they should be shown).
    pub events: &'a [TimelineEvent],
    /// Instances of the fleet, for the end of a rolling restart ([`TimelineEvent::end`]).
    pub instances: u32,
    /// Alerts that fired.
    pub alerts: &'a [AlertFiring],
    /// Alert rules: each threshold is drawn on the panel of its metric.
    pub alert_rules: &'a [AlertRule],
    /// The database, for the slot limit (max_connections - reserved - other) on the
    /// connections panel; None hides it.
    pub database: Option<&'a DatabaseSpec>,
    /// Error-rate SLO as a fraction (0.01 = 1%); drawn as a dashed line when Some.
    pub slo_error_rate: Option<f64>,
    /// p99 latency SLO in ms; drawn as a dashed line when Some.
    pub slo_latency_p99_ms: Option<f64>,
}

/// Renders `<file_stem>.png` and/or `<file_stem>.svg` (paths relative to the chart directory).
pub fn render_timeline_chart(
    spec: &TimelineSpec,
    file_stem: &str,
    formats: &[ImageFormat],
) -> Result<Vec<OutputFile>> {
    validate_spec(spec)?;
    ensure!(
        !file_stem.is_empty() && !file_stem.contains(['/', '\\']) && file_stem != "..",
        "timeline chart file stem {file_stem:?} must be a plain file name"
    );
    let mut rendered: Vec<OutputFile> = Vec::new();
    for &format in formats {
        let file_name = format.file_name(file_stem);
        if rendered.iter().any(|f| f.path == file_name) {
            continue;
        }
        rendered.push(
            render_image(spec, file_stem, format, IMAGE_SIZE_PX)
                .with_context(|| format!("rendering timeline chart {file_name}"))?,
        );
    }
    Ok(rendered)
}

/// Writes `<file_stem>.png` and/or `.svg` into `dir`; returns the file names written.
pub fn write_timeline_chart(
    spec: &TimelineSpec,
    dir: &std::path::Path,
    file_stem: &str,
    formats: &[ImageFormat],
) -> Result<Vec<String>> {
    super::plotting::write_rendered(dir, &render_timeline_chart(spec, file_stem, formats)?)
}

fn validate_spec(spec: &TimelineSpec) -> Result<()> {
    if !spec.series.is_empty() {
        ensure!(
            spec.interval_s.is_finite() && spec.interval_s > 0.0,
            "timeline interval_s must be a positive number of seconds, got {}",
            spec.interval_s
        );
    }
    if let Some(first) = spec.series.first() {
        ensure!(
            first.start_s.is_finite(),
            "timeline start_s[0] is {}",
            first.start_s
        );
    }
    for (index, pair) in spec.series.windows(2).enumerate() {
        ensure!(
            pair[0].start_s.is_finite()
                && pair[1].start_s.is_finite()
                && pair[1].start_s > pair[0].start_s,
            "timeline start_s must be finite and strictly increasing (index {index}: {} then {})",
            pair[0].start_s,
            pair[1].start_s
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

const IMAGE_SIZE_PX: (u32, u32) = (1200, 1700);
const THEME: Theme = Theme::for_width(IMAGE_SIZE_PX.0);

const TITLE_FONT_PX: u32 = THEME.title_px;
const SUBTITLE_FONT_PX: u32 = THEME.subtitle_px;
const PANEL_TITLE_FONT_PX: u32 = THEME.panel_title_px;
const LEGEND_FONT_PX: u32 = THEME.legend_px;
const AXIS_DESC_FONT_PX: u32 = THEME.axis_desc_px;
const ANNOTATION_FONT_PX: u32 = THEME.annotation_px;
const AXES: super::plotting::AxisLook = THEME.axes(RGBColor(238, 238, 238));

/// Title and subtitle.
const HEADER_HEIGHT_PX: i32 = 112;
/// Width of the y tick labels and axis description left of every plot.
const Y_LABEL_AREA_PX: i32 = 150;
/// Room right of the plots for the last time label, which is centred on the right edge.
const RIGHT_MARGIN_PX: i32 = 48;
const PANEL_TITLE_X_PX: i32 = 14;
const PANEL_GAP_PX: i32 = 10;
const LEGEND_ROW_HEIGHT_PX: i32 = 36;
const LEGEND_SAMPLE_WIDTH_PX: i32 = 36;
const LEGEND_ENTRY_GAP_PX: i32 = 22;
const X_LABEL_AREA_PX: i32 = 86;
const BOTTOM_MARGIN_PX: i32 = 6;
const LANE_HEIGHT_PX: i32 = 38;
const LANE_SECTION_GAP_PX: i32 = 4;
/// Within a lane: label centre, and top of the bar that spans an event or a firing alert.
const LANE_LABEL_CENTRE_PX: i32 = 14;
const LANE_BAR_TOP_PX: i32 = 29;
const STRIP_TOP_PAD_PX: i32 = 4;
const STRIP_BOTTOM_PAD_PX: i32 = 6;
/// Beyond this many lanes per section, further labels are left out (their bands and lines
/// are still drawn) so the panels keep a useful height.
const MAX_LANES_PER_SECTION: usize = 6;
const MIN_Y_TICK_GAP_PX: f64 = 40.0;
/// Number of stacked panels: offered traffic, connections, waiters, utilization, error
/// rate, latency.
const PANEL_COUNT: usize = 6;
/// Share of the plot height given to each panel, top to bottom.
const PANEL_HEIGHT_SHARES: [f64; PANEL_COUNT] = [0.15, 0.20, 0.15, 0.14, 0.16, 0.20];

const IN_USE_COLOUR: RGBColor = RGBColor(31, 119, 180);
const PENDING_COLOUR: RGBColor = RGBColor(148, 103, 189);
const CAPACITY_COLOUR: RGBColor = RGBColor(120, 120, 120);
const DB_CONNECTIONS_COLOUR: RGBColor = RGBColor(44, 160, 44);
const OUTCOME_COLOUR: RGBColor = RGBColor(31, 119, 180);
const OFFERED_COLOUR: RGBColor = RGBColor(30, 30, 30);
const DB_CPU_COLOUR: RGBColor = RGBColor(140, 86, 75);
use super::theme::{ALERT_COLOUR, ALERT_TEXT_COLOUR, LIMIT_COLOUR};
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
