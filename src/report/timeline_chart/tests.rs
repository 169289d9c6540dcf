//! Unit tests of the timeline chart: layouts that render, axes, and time labels.

use std::fs;

use super::axis::*;
use super::lanes::*;
use super::panels::*;
use super::*;
use crate::config::timeline::EventAction;
use crate::report::plotting::YScale;
use crate::sim::time::SimTime;

/// max_connections 100, 3 reserved, 6 held by other clients: 91 slots for the fleet.
static TEST_DATABASE: DatabaseSpec = DatabaseSpec {
    max_connections: 100,
    reserved_connections: 3,
    other_connections: 6,
    cores: 8,
    round_trip: SimTime(300_000),
    serial: 0.0,
    crosstalk: 0.0,
};

/// Samples and their interval, as the tests build them.
#[derive(Clone)]
struct TestSeries {
    interval_s: f64,
    samples: Vec<IntervalSample>,
}

/// An event shaded from `start_s` to `end_s` (an instant when they are equal).
fn event(label: impl Into<String>, start_s: f64, end_s: f64) -> TimelineEvent {
    TimelineEvent {
        at: SimTime::from_secs_f64(start_s),
        label: label.into(),
        action: EventAction::DbSlowdown {
            factor: 1.0,
            duration: SimTime::from_secs_f64(end_s - start_s),
        },
    }
}

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

fn empty_series(interval_s: f64) -> TestSeries {
    TestSeries {
        interval_s,
        samples: Vec::new(),
    }
}

/// One sample; the error rate becomes failed / finished out of 1,000 finished requests
/// (none finished when it is NaN), offered traffic follows the connections in use.
fn push_sample(
    series: &mut TestSeries,
    start_s: f64,
    values: [f64; 7], // in use, pending, capacity, db, error rate, p99 ms, instances
) {
    let error_rate = values[4];
    let (succeeded, failed) = if error_rate.is_finite() {
        (1000.0 * (1.0 - error_rate), 1000.0 * error_rate)
    } else {
        (0.0, 0.0)
    };
    series.samples.push(IntervalSample {
        start_s,
        offered: 30.0 * values[0] * series.interval_s,
        succeeded,
        failed,
        connections_in_use: values[0],
        pending: values[1],
        pool_capacity: values[2],
        db_connections: values[3],
        latency_p99_ms: values[5],
        instances: values[6],
        db_busy_fraction: (values[0] / 100.0).min(1.0),
        ..IntervalSample::default()
    });
}

/// 09:00 to 14:00 at 10 s: six instances with pool max_size 10 (capacity 60) against a
/// database with max_connections 100, 15 of them held by other clients. A surge from
/// 09:40 saturates the pools; a rolling restart at 13:00-13:15 raises max_size to 40.
fn incident_series() -> TestSeries {
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
        event(
            "traffic surge".to_string(),
            minutes((9, 40)),
            minutes((12, 30)),
        ),
        event(
            "rolling restart (pool 10 -> 40)".to_string(),
            minutes((13, 0)),
            minutes((13, 15)),
        ),
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
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: Some(0.01),
        slo_latency_p99_ms: Some(500.0),
        series: &series.samples,
        interval_s: series.interval_s,
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
    assert!(svg.contains("DB slot limit 91"));
    assert!(svg.contains("Waiting for a connection") && svg.contains("pending (fleet total)"));
}

/// The review case: ~1,500 waiters next to ~30 connections in use. Fourteen instances at
/// most with pool max_size 6 (capacity 30 to 84), 6 other DB clients, max_connections
/// 100; the autoscaler adds instances but in-use stays pinned near 30 because the database
/// is the bottleneck, and the queue only drains when the surge passes.
fn pool_exhaustion_series() -> TestSeries {
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
    let events = [event(
        "autoscaling 5 -> 14 instances".to_string(),
        20.0 * MINUTE_S,
        60.0 * MINUTE_S,
    )];
    let alerts = [AlertFiring {
        name: "pool pending > 100 for 2m".to_string(),
        fired_s: 29.0 * MINUTE_S,
        cleared_s: Some(100.0 * MINUTE_S),
    }];
    let spec = TimelineSpec {
        title: "orders-api 2024-03-02: connection pool exhaustion",
        clock_start_minutes: Some(14 * 60),
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: Some(0.01),
        slo_latency_p99_ms: Some(300.0),
        series: &series.samples,
        interval_s: series.interval_s,
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
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: None,
        slo_latency_p99_ms: None,
        series: &series.samples,
        interval_s: series.interval_s,
        events: &[],
        alerts: &[],
    };
    let [_, connections, pending, _, _, _] = build_panels(&spec, [150, 300, 200, 150, 200, 250]);
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
    let mut idle = series.clone();
    for sample in &mut idle.samples {
        sample.pending = 0.0;
    }
    let idle_spec = TimelineSpec {
        series: &idle.samples,
        interval_s: idle.interval_s,
        ..spec.clone()
    };
    let [_, _, pending, _, _, _] = build_panels(&idle_spec, [150, 300, 200, 150, 200, 250]);
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
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: Some(0.01),
        slo_latency_p99_ms: Some(250.0),
        series: &series.samples,
        interval_s: series.interval_s,
        events: &[],
        alerts: &[],
    };
    let written =
        write_timeline_chart(&spec, &output_dir(), "short-timeline", &[ImageFormat::Png]).unwrap();
    assert_eq!(written, ["short-timeline.png"]);
}

#[test]
fn edge_cases_render() {
    let dir = output_dir();
    let empty = empty_series(10.0);
    let instant = [event("deploy".to_string(), 120.0, 120.0)];
    let base = TimelineSpec {
        title: "edge case",
        clock_start_minutes: Some(23 * 60 + 50),
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: None,
        slo_latency_p99_ms: None,
        series: &empty.samples,
        interval_s: empty.interval_s,
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
        series: &single.samples,
        interval_s: single.interval_s,
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
        .map(|k| {
            event(
                format!("maintenance window number {k} with a long description"),
                600.0 + f64::from(k) * 200.0,
                900.0 + f64::from(k) * 200.0,
            )
        })
        .collect();
    let alerts = [AlertFiring {
        name: "p99 > 200 ms".to_string(),
        fired_s: 6_900.0,
        cleared_s: None,
    }];
    let spec = TimelineSpec {
        series: &gaps.samples,
        interval_s: gaps.interval_s,
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
    push_sample(&mut series, 10.0, [1.0; 7]);
    push_sample(&mut series, 10.0, [1.0; 7]);
    let spec = TimelineSpec {
        title: "bad",
        clock_start_minutes: None,
        database: Some(&TEST_DATABASE),
        instances: 6,
        alert_rules: &[],
        slo_error_rate: None,
        slo_latency_p99_ms: None,
        series: &series.samples,
        interval_s: series.interval_s,
        events: &[],
        alerts: &[],
    };
    let error = write_timeline_chart(&spec, &output_dir(), "bad", &[ImageFormat::Png])
        .unwrap_err()
        .to_string();
    assert!(error.contains("strictly increasing"), "{error}");
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
