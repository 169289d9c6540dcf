//! Timelines of runs with events: the series CSV, alert detection times and the chart.
//!
//! A postmortem asks "when did it start, what did the pool look like, and which
//! signal would have caught it first". This module answers with the sampled
//! series (`--timeseries`), the firing and clearing time of every alert rule,
//! and each alert's lead time before the error rate first passed 1%.

use std::path::Path;

use serde::Serialize;

use super::output::OutputFile;
use super::output::{refuse_non_regular, write_atomically};
use super::plotting::write_rendered;
use super::timeline_chart;
use crate::config::model::SystemSpec;
use crate::config::timeline::{EventAction, TimelineEvent};
use crate::model::RunOutput;
use crate::stats::series::{first_error_rate_above, AlertFiring, IntervalSample};

/// The error rate at which users are clearly affected; alert lead times are measured to it.
pub const ERROR_RATE_INCIDENT: f64 = 0.01;

/// One alert firing, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertReport {
    pub name: String,
    pub fired_s: f64,
    pub fired_at: String,
    pub cleared_s: Option<f64>,
    pub cleared_at: Option<String>,
    /// Minutes between this firing and the first interval with more than 1% errors
    /// (positive: the alert came first). None when errors never passed 1%.
    pub lead_minutes: Option<f64>,
}

/// "09:45:10" from `clock_start` ("09:00") plus `seconds`, or "+0:45:10" without a clock.
pub fn clock(clock_start: Option<&str>, seconds: f64) -> String {
    let offset_s = match clock_start {
        Some(text) => {
            let hours: u64 = text[..2].parse().unwrap_or(0);
            let minutes: u64 = text[3..5].parse().unwrap_or(0);
            (hours * 3600 + minutes * 60) as f64
        }
        None => 0.0,
    };
    let total = (offset_s + seconds).round() as u64;
    let (h, m, s) = ((total / 3600) % 24, (total / 60) % 60, total % 60);
    match clock_start {
        Some(_) => format!("{h:02}:{m:02}:{s:02}"),
        None => format!("+{}:{m:02}:{s:02}", total / 3600),
    }
}

fn clock_minutes(clock_start: Option<&str>) -> Option<u32> {
    clock_start.map(|text| {
        text[..2].parse::<u32>().unwrap_or(0) * 60 + text[3..5].parse::<u32>().unwrap_or(0)
    })
}

/// Alert firings with their lead time before errors passed 1%.
pub fn detection(
    spec: &SystemSpec,
    series: &[IntervalSample],
    alerts: &[AlertFiring],
) -> Vec<AlertReport> {
    let interval_s = spec.simulation.sample_interval.as_secs_f64();
    let errors_s = first_error_rate_above(series, interval_s, ERROR_RATE_INCIDENT);
    let clock_start = spec.simulation.clock_start.as_deref();
    alerts
        .iter()
        .map(|a| AlertReport {
            name: a.name.clone(),
            fired_s: a.fired_s,
            fired_at: clock(clock_start, a.fired_s),
            cleared_s: a.cleared_s,
            cleared_at: a.cleared_s.map(|c| clock(clock_start, c)),
            lead_minutes: errors_s.map(|e| (e - a.fired_s) / 60.0),
        })
        .collect()
}

/// The alert section of `poolsim run`'s table (empty when there are no rules).
pub fn render_detection(
    spec: &SystemSpec,
    series: &[IntervalSample],
    alerts: &[AlertReport],
) -> String {
    if spec.timeline.alerts.is_empty() {
        return String::new();
    }
    let interval_s = spec.simulation.sample_interval.as_secs_f64();
    let clock_start = spec.simulation.clock_start.as_deref();
    let mut out = String::from("\n  alerts\n");
    match first_error_rate_above(series, interval_s, ERROR_RATE_INCIDENT) {
        Some(t) => out.push_str(&format!(
            "    error rate first above 1% at {}\n",
            clock(clock_start, t)
        )),
        None => out.push_str("    error rate never above 1%\n"),
    }
    if alerts.is_empty() {
        out.push_str("    no alert fired\n");
    }
    for a in alerts {
        let lead = match a.lead_minutes {
            Some(m) if m >= 0.0 => format!(", {m:.1} min before errors passed 1%"),
            Some(m) => format!(", {:.1} min after errors passed 1%", -m),
            None => String::new(),
        };
        out.push_str(&format!(
            "    {:<28} fired {}  cleared {}{lead}\n",
            a.name,
            a.fired_at,
            a.cleared_at.clone().unwrap_or_else(|| "never".into())
        ));
    }
    out
}

fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        String::new()
    }
}

/// The sampled series as CSV: one row per interval, counts and gauges with units in names.
pub fn series_csv(clock_start: Option<&str>, series: &[IntervalSample]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "start_s",
        "clock",
        "offered",
        "attempts",
        "succeeded",
        "failed",
        "acquire_timeout",
        "client_timeout",
        "db_refused",
        "rejected",
        "retries_exhausted",
        "backlog_full",
        "error_rate",
        "latency_p99_ms",
        "connections_in_use",
        "pending",
        "pool_capacity",
        "pool_utilization",
        "db_connections",
        "db_busy_fraction",
        "instances",
    ])?;
    for s in series {
        writer.write_record([
            number(s.start_s),
            clock(clock_start, s.start_s),
            number(s.offered),
            number(s.attempts),
            number(s.succeeded),
            number(s.failed),
            number(s.acquire_timeout),
            number(s.client_timeout),
            number(s.db_refused),
            number(s.rejected),
            number(s.retries_exhausted),
            number(s.backlog_full),
            number(s.error_rate()),
            number(s.latency_p99_ms),
            number(s.connections_in_use),
            number(s.pending),
            number(s.pool_capacity),
            number(s.pool_utilization()),
            number(s.db_connections),
            number(s.db_busy_fraction),
            number(s.instances),
        ])?;
    }
    Ok(writer.into_inner()?)
}

/// The events of `spec` as the chart should label them. A model's event labels are written
/// for the model as it is; a variant that changes the same setting beforehand (e.g.
/// `pool.max_size = 12` from the start) still runs the event, but a label such as
/// "pool.max_size 5 -> 12" would then describe a change that never happened. Such events
/// are relabelled with what they do in this scenario.
pub fn events_as_run(spec: &SystemSpec) -> Vec<TimelineEvent> {
    let mut events: Vec<&TimelineEvent> = spec.timeline.events.iter().collect();
    events.sort_by_key(|e| e.at);
    let mut pool_size = spec.pool.size_setting;
    let mut relabelled = Vec::new();
    for event in events {
        let mut event = event.clone();
        let (kind, after) = match &event.action {
            EventAction::Set { after } => ("set", after),
            EventAction::RollingRestart { after, .. } => ("rolling restart", after),
            _ => {
                relabelled.push(event);
                continue;
            }
        };
        let new_size = after.pool.size_setting;
        // Only labels that claim the pool-size change ("... -> 12") are replaced.
        if new_size == pool_size && event.label.contains(&format!("-> {new_size}")) {
            event.label = format!("{kind} (pool.max_size stays {new_size})");
        }
        pool_size = new_size;
        relabelled.push(event);
    }
    relabelled
}

/// The SLO drawn on a timeline chart: p99 in ms and error rate as a fraction.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChartSlo {
    pub latency_p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
}

/// Renders the timeline chart of `series` as `<stem>.png` / `.svg` (paths relative to the
/// chart directory).
pub fn render_chart(
    spec: &SystemSpec,
    title: &str,
    (series, alerts): (&[IntervalSample], &[AlertFiring]),
    slo: ChartSlo,
    stem: &str,
    formats: &[timeline_chart::ImageFormat],
) -> anyhow::Result<Vec<OutputFile>> {
    let events = events_as_run(spec);
    let chart = timeline_chart::TimelineSpec {
        title,
        clock_start_minutes: clock_minutes(spec.simulation.clock_start.as_deref()),
        interval_s: spec.simulation.sample_interval.as_secs_f64(),
        series,
        events: &events,
        instances: spec.fleet.instances,
        alerts,
        alert_rules: &spec.timeline.alerts,
        database: Some(&spec.database),
        slo_error_rate: slo.error_rate,
        slo_latency_p99_ms: slo.latency_p99_ms,
    };
    timeline_chart::render_timeline_chart(&chart, stem, formats)
}

/// `run --timeseries FILE.csv`: the CSV, and `<FILE stem>-timeline.png/svg` beside it.
pub fn write_run_timeline(
    spec: &SystemSpec,
    output: &RunOutput,
    path: &Path,
) -> anyhow::Result<()> {
    let csv = series_csv(spec.simulation.clock_start.as_deref(), &output.series)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = format!(
        "{}-timeline",
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    );
    // Every target is checked before anything is written: a device, a FIFO or a
    // directory is never replaced, and a refusal leaves no chart behind.
    for target in [
        path.to_path_buf(),
        dir.join(format!("{stem}.png")),
        dir.join(format!("{stem}.svg")),
    ] {
        refuse_non_regular(&target)?;
    }
    let charts = render_chart(
        spec,
        &spec.name,
        (&output.series, &output.alerts),
        ChartSlo::default(),
        &stem,
        &[
            timeline_chart::ImageFormat::Png,
            timeline_chart::ImageFormat::Svg,
        ],
    )?;
    write_rendered(dir, &charts)?;
    write_atomically(path, &csv)
}
