//! What each stacked panel shows: its series, reference lines (SLO, database slot limit,
//! alert thresholds) and value axis.

use super::axis::latency_axis;
use super::*;
use crate::config::timeline::Metric;
use crate::report::plotting::{format_number, linear_axis, symlog_axis, Axis, YScale};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Stroke {
    Solid,
    Dashed,
    Dotted,
    Stepped,
}

pub(super) struct SeriesLine {
    pub(super) label: &'static str,
    pub(super) colour: RGBColor,
    pub(super) stroke: Stroke,
    /// (seconds since start, value in panel units); a non-plottable value leaves a gap.
    pub(super) points: Vec<(f64, f64)>,
}

/// A horizontal reference line: the database slot limit, an SLO or an alert threshold.
pub(super) struct Rule {
    pub(super) value: f64,
    pub(super) label: String,
    pub(super) colour: RGBColor,
    pub(super) stroke: Stroke,
}

pub(super) struct Panel {
    pub(super) title: String,
    /// The unit beside the y axis, short enough for a short panel; the title names the quantity.
    pub(super) y_desc: &'static str,
    pub(super) scale: YScale,
    pub(super) axis: Axis,
    pub(super) lines: Vec<SeriesLine>,
    pub(super) rules: Vec<Rule>,
}

impl Panel {
    pub(super) fn legend(&self) -> Vec<(String, RGBColor, Stroke)> {
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

pub(super) fn positive_finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v > 0.0)
}

/// Gauges, read at the sample instant, drawn at the start of their interval.
fn gauge_points(spec: &TimelineSpec, value: impl Fn(&IntervalSample) -> f64) -> Vec<(f64, f64)> {
    spec.series.iter().map(|s| (s.start_s, value(s))).collect()
}

/// Per-interval outcomes, drawn at the middle of their interval.
fn outcome_points(spec: &TimelineSpec, value: impl Fn(&IntervalSample) -> f64) -> Vec<(f64, f64)> {
    spec.series
        .iter()
        .map(|s| (s.start_s + spec.interval_s / 2.0, value(s)))
        .collect()
}

/// Sample-and-hold: each value lasts until the end of its interval, then steps to the next.
fn stepped_points(spec: &TimelineSpec, value: impl Fn(&IntervalSample) -> f64) -> Vec<(f64, f64)> {
    spec.series
        .iter()
        .flat_map(|s| {
            [
                (s.start_s, value(s)),
                (s.start_s + spec.interval_s, value(s)),
            ]
        })
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

/// The thresholds of the alert rules on `metric`, in panel units (`to_panel` converts).
fn alert_rules(spec: &TimelineSpec, metric: Metric, to_panel: impl Fn(f64) -> f64) -> Vec<Rule> {
    spec.alert_rules
        .iter()
        .filter(|rule| rule.metric == metric && rule.above.is_finite())
        .map(|rule| Rule {
            value: to_panel(rule.above),
            label: format!("alert: {}", rule.name),
            colour: ALERT_TEXT_COLOUR,
            stroke: Stroke::Dashed,
        })
        .collect()
}

fn largest(lines: &[SeriesLine], rules: &[Rule]) -> f64 {
    max_finite(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|(_, v)| v))
            .chain(rules.iter().map(|r| &r.value)),
    )
}

/// The stacked panels, top to bottom, each with its value axis sized for its plot height.
pub(super) fn build_panels(
    spec: &TimelineSpec,
    plot_heights_px: [i32; PANEL_COUNT],
) -> [Panel; PANEL_COUNT] {
    [
        traffic_panel(spec, plot_heights_px[0]),
        connections_panel(spec, plot_heights_px[1]),
        pending_panel(spec, plot_heights_px[2]),
        utilization_panel(spec, plot_heights_px[3]),
        error_rate_panel(spec, plot_heights_px[4]),
        latency_panel(spec, plot_heights_px[5]),
    ]
}

/// What the clients asked for, per second: the cause of most incidents (a surge) shows here
/// first, and the gap to what succeeded is the damage.
fn traffic_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let per_s = spec.interval_s.max(f64::MIN_POSITIVE);
    let lines = vec![
        SeriesLine {
            label: "offered",
            colour: OFFERED_COLOUR,
            stroke: Stroke::Solid,
            points: outcome_points(spec, |s| s.offered / per_s),
        },
        SeriesLine {
            label: "succeeded",
            colour: DB_CONNECTIONS_COLOUR,
            stroke: Stroke::Dashed,
            points: outcome_points(spec, |s| s.succeeded / per_s),
        },
    ];
    Panel {
        title: "Offered traffic (requests/s)".to_string(),
        y_desc: "req/s",
        scale: YScale::Linear,
        axis: linear_axis(largest(&lines, &[]) * 1.08, target_ticks(plot_height_px)),
        lines,
        rules: Vec::new(),
    }
}

fn connections_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let other = spec
        .database
        .map_or(0.0, |db| f64::from(db.other_connections));
    // Drawn in order: "in use" last, so a saturated pool shows in use on top of its capacity.
    let lines = vec![
        SeriesLine {
            label: "pool capacity",
            colour: CAPACITY_COLOUR,
            stroke: Stroke::Stepped,
            points: stepped_points(spec, |s| s.pool_capacity),
        },
        SeriesLine {
            label: "DB connections of this fleet",
            colour: DB_CONNECTIONS_COLOUR,
            stroke: Stroke::Dashed,
            points: gauge_points(spec, |s| s.db_connections - other),
        },
        SeriesLine {
            label: "in use",
            colour: IN_USE_COLOUR,
            stroke: Stroke::Solid,
            points: gauge_points(spec, |s| s.connections_in_use),
        },
    ];
    let mut rules: Vec<Rule> = spec
        .database
        .map(|db| Rule {
            value: f64::from(db.slots_for_fleet()),
            label: format!(
                "DB slot limit {} ({} max - {} reserved - {} other)",
                db.slots_for_fleet(),
                db.max_connections,
                db.reserved_connections,
                db.other_connections
            ),
            colour: LIMIT_COLOUR,
            stroke: Stroke::Dotted,
        })
        .into_iter()
        .collect();
    rules.extend(alert_rules(spec, Metric::PoolActive, |v| v));
    // db.connections counts every client; this panel shows the fleet's share.
    rules.extend(alert_rules(spec, Metric::DbConnections, |v| v - other));
    Panel {
        title: "Connections".to_string(),
        y_desc: "connections",
        scale: YScale::Linear,
        axis: linear_axis(largest(&lines, &rules) * 1.08, target_ticks(plot_height_px)),
        lines,
        rules,
    }
}

/// Requests waiting for a connection, on a linear axis from zero: the size of the queue is
/// what matters here, and zero (no queue) must read as zero.
fn pending_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let lines = vec![SeriesLine {
        label: "pending (fleet total)",
        colour: PENDING_COLOUR,
        stroke: Stroke::Solid,
        points: gauge_points(spec, |s| s.pending),
    }];
    let rules = alert_rules(spec, Metric::PoolPending, |v| v);
    let ticks = target_ticks(plot_height_px);
    // Waiters are whole requests: a floor on the top keeps the tick step at one or more
    // when the queue stays short or empty.
    let top = (largest(&lines, &rules) * 1.08).max(f64::from(ticks));
    Panel {
        title: "Waiting for a connection".to_string(),
        y_desc: "requests",
        scale: YScale::Linear,
        axis: linear_axis(top, ticks),
        lines,
        rules,
    }
}

/// How full the pools and how busy the database were: pool saturation with an idle
/// database points at the pool size, a busy database at the database.
fn utilization_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let lines = vec![
        SeriesLine {
            label: "pool in use / capacity",
            colour: IN_USE_COLOUR,
            stroke: Stroke::Solid,
            points: gauge_points(spec, |s| s.pool_utilization() * 100.0),
        },
        SeriesLine {
            label: "database CPU busy",
            colour: DB_CPU_COLOUR,
            stroke: Stroke::Dashed,
            points: gauge_points(spec, |s| s.db_busy_fraction * 100.0),
        },
    ];
    let rules = alert_rules(spec, Metric::PoolUtilization, |v| v * 100.0);
    let top = (largest(&lines, &rules) * 1.04).max(100.0);
    Panel {
        title: "Utilization (%)".to_string(),
        y_desc: "%",
        scale: YScale::Linear,
        axis: linear_axis(top, target_ticks(plot_height_px)),
        lines,
        rules,
    }
}

fn error_rate_panel(spec: &TimelineSpec, plot_height_px: i32) -> Panel {
    let slo_percent = spec
        .slo_error_rate
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * 100.0);
    let lines = vec![SeriesLine {
        label: "failed requests",
        colour: OUTCOME_COLOUR,
        stroke: Stroke::Solid,
        points: outcome_points(spec, |s| s.error_rate() * 100.0),
    }];
    let mut rules = slo_rule(slo_percent, |slo| format!("SLO {}%", format_number(slo)));
    rules.extend(alert_rules(spec, Metric::ErrorRate, |v| v * 100.0));
    let observed = largest(&lines, &rules);
    // With an SLO: symlog, so that 0, the SLO (0.1%) and an incident's 25% are all
    // readable; without one, linear.
    let (scale, axis) = match slo_percent.filter(|slo| *slo > 0.0) {
        Some(slo) => {
            // Labels at 0, the SLO and the decades above it: a panel is too short for the
            // decade below the SLO, which stays a grid line.
            let mut axis = symlog_axis(observed.max(slo * 10.0), slo / 10.0);
            axis.ticks.retain(|t| *t == 0.0 || *t >= slo * 0.999);
            axis.minor_ticks = vec![slo / 10.0];
            (
                YScale::SymLog {
                    linear_width: slo / 10.0,
                },
                axis,
            )
        }
        None => (
            YScale::Linear,
            linear_axis(observed * 1.08, target_ticks(plot_height_px)),
        ),
    };
    Panel {
        title: "Error rate (%)".to_string(),
        y_desc: "%",
        scale,
        axis,
        lines,
        rules,
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
    let slo_ms = positive_finite(spec.slo_latency_p99_ms);
    // A p99 of 0 ms only comes from an empty histogram, so treat it like NaN.
    let points = outcome_points(spec, |s| {
        if s.latency_p99_ms > 0.0 {
            s.latency_p99_ms
        } else {
            f64::NAN
        }
    });
    let mut rules = slo_rule(slo_ms, |slo| format!("SLO p99 {} ms", format_number(slo)));
    rules.extend(alert_rules(spec, Metric::LatencyP99, |v| v));
    let mut observed: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    observed.extend(rules.iter().map(|r| r.value).filter(|v| *v > 0.0));
    let (scale, axis) = latency_axis(&observed, target_ticks(plot_height_px));
    let title = if scale == YScale::Log10 {
        "p99 latency (ms, log scale)"
    } else {
        "p99 latency (ms)"
    };
    Panel {
        title: title.to_string(),
        y_desc: "ms",
        scale,
        axis,
        lines: vec![SeriesLine {
            label: "p99 of successful requests",
            colour: OUTCOME_COLOUR,
            stroke: Stroke::Solid,
            points,
        }],
        rules,
    }
}
