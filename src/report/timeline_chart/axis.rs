//! The shared time axis (ticks on round wall-clock or elapsed times) and the value axes of
//! the panels.

use super::*;
use crate::report::plotting::{format_number, value_axis, Axis, YScale};

// ---------------------------------------------------------------------------------------------
// Time axis
// ---------------------------------------------------------------------------------------------

pub(super) const MINUTE_S: f64 = 60.0;
pub(super) const HOUR_S: f64 = 3600.0;

/// The shared x axis, in seconds since simulation start, with ticks on round wall-clock (or
/// elapsed) times.
pub(super) struct TimeAxis {
    pub(super) min_s: f64,
    pub(super) max_s: f64,
    pub(super) major_s: Vec<f64>,
    pub(super) minor_s: Vec<f64>,
    pub(super) clock_start_minutes: Option<u32>,
    /// Ticks closer than a minute need seconds in their labels.
    pub(super) tick_labels_with_seconds: bool,
}

impl TimeAxis {
    pub(super) fn new(min_s: f64, max_s: f64, clock_start_minutes: Option<u32>) -> Self {
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

    pub(super) fn offset_s(clock_start_minutes: Option<u32>) -> f64 {
        clock_start_minutes.map_or(0.0, |m| f64::from(m) * MINUTE_S)
    }

    pub(super) fn title(&self) -> &'static str {
        if self.clock_start_minutes.is_some() {
            "time (UTC)"
        } else {
            "time since start (h:mm)"
        }
    }

    /// "09:45" (wall clock, wrapping at midnight) or "1:05" (elapsed); seconds are shown only
    /// when `with_seconds` is set and the time is not on a whole minute.
    pub(super) fn format(&self, t_s: f64, with_seconds: bool) -> String {
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
pub(super) fn aligned_ticks(min_s: f64, max_s: f64, step_s: f64, offset_s: f64) -> Vec<f64> {
    if !(step_s > 0.0 && max_s > min_s) {
        return Vec::new();
    }
    let first = ((min_s + offset_s) / step_s - 1e-9).ceil() as i64;
    let last = ((max_s + offset_s) / step_s + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step_s - offset_s)
        .collect()
}

/// Start and end of an event in seconds since the start (equal for an instant).
pub(super) fn event_span_s(event: &TimelineEvent, instances: u32) -> (f64, f64) {
    let (start_s, end_s) = (event.at.as_secs_f64(), event.end(instances).as_secs_f64());
    (start_s.min(end_s), start_s.max(end_s))
}

/// The time range covers the samples and every event and alert onset.
pub(super) fn time_extent(spec: &TimelineSpec) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    if let (Some(first), Some(last)) = (spec.series.first(), spec.series.last()) {
        lo = first.start_s;
        hi = last.start_s + spec.interval_s;
    }
    for event in spec.events {
        let (start_s, end_s) = event_span_s(event, spec.instances);
        lo = lo.min(start_s);
        hi = hi.max(end_s);
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
pub(super) fn latency_axis(observed_ms: &[f64], target_ticks: u32) -> (YScale, Axis) {
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
/// "10 s", "1 min", "1 h" style interval lengths for the subtitle.
pub(super) fn format_duration(seconds: f64) -> String {
    if seconds >= HOUR_S && (seconds % HOUR_S).abs() < 1e-9 {
        format!("{} h", format_number(seconds / HOUR_S))
    } else if seconds >= MINUTE_S && (seconds % MINUTE_S).abs() < 1e-9 {
        format!("{} min", format_number(seconds / MINUTE_S))
    } else {
        format!("{} s", format_number(seconds))
    }
}
