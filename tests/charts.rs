//! Chart snapshot tests: each chart is rendered to SVG from a small fixture, and the marks a
//! planner relies on (database limit, recommended size, safe range, SLO lines, infeasible
//! hatching, failure reasons, the offered-traffic panel, alert thresholds) are looked up in
//! the SVG text. Every mark is also checked to be absent from a spec without it, so a check
//! cannot pass by accident. Layout may change the bytes; these checks only need the marks.

mod common;

use std::path::Path;

use poolsim::config::model::ModelSource;
use poolsim::config::timeline::{AlertRule, Metric};
use poolsim::report::charts::{
    render_capacity_charts, CapacityChartSpec, CapacityPoint, CarriedGrowth, ImageFormat, Interval,
};
use poolsim::report::output::OutputFile;
use poolsim::report::timeline::events_as_run;
use poolsim::report::timeline_chart::{render_timeline_chart, TimelineSpec};
use poolsim::sim::time::SimTime;
use poolsim::stats::series::{AlertFiring, IntervalSample};

fn exact(value: f64) -> Interval {
    Interval {
        mean: value,
        lo: value,
        hi: value,
    }
}

/// Pool sizes 4..16 at growth 1.0, 1.5 and 2.0 under a 300 ms / 0.1% SLO. Size 16 is
/// beyond the database limit; size 8 at 1.5x has a p99 of 291 ms whose upper bound (312 ms)
/// fails the SLO; size 4 at 2.0x was unstable (its backlog kept growing).
fn points() -> Vec<CapacityPoint> {
    let mut points = Vec::new();
    for (row, growth) in [1.0, 1.5, 2.0].into_iter().enumerate() {
        for pool_size in [4u32, 8, 12, 16] {
            let p99 = 2_000.0 / f64::from(pool_size) * (1.0 + row as f64 * 0.4);
            let mut latency = Interval {
                mean: p99,
                lo: p99 * 0.95,
                hi: p99 * 1.05,
            };
            if pool_size == 8 && row == 1 {
                latency = Interval {
                    mean: 291.0,
                    lo: 270.0,
                    hi: 312.0,
                };
            }
            let errors = if pool_size == 4 { 0.02 } else { 0.0 };
            points.push(CapacityPoint {
                pool_size,
                growth,
                latency_p99_ms: latency,
                error_rate: exact(errors),
                pool_utilization: exact(0.5),
                db_utilization: exact(0.3),
                slo_pass: latency.hi <= 300.0 && errors <= 0.001,
                feasible: pool_size <= 12,
                unstable: pool_size == 4 && row == 2,
            });
        }
    }
    points
}

fn carried() -> Vec<CarriedGrowth> {
    [4u32, 8, 12, 16]
        .into_iter()
        .map(|pool_size| CarriedGrowth {
            pool_size,
            feasible: pool_size <= 12,
            normal: (pool_size > 4).then_some(f64::from(pool_size) / 6.0),
            one_instance_lost: (pool_size > 4).then_some(f64::from(pool_size) / 7.0),
            deploy: (pool_size > 8).then_some(f64::from(pool_size) / 8.0),
        })
        .collect()
}

fn full_spec<'a>(
    points: &'a [CapacityPoint],
    carried: &'a [CarriedGrowth],
) -> CapacityChartSpec<'a> {
    CapacityChartSpec {
        model_name: "fixture",
        slo_latency_p99_ms: 300.0,
        slo_error_rate: 0.001,
        current_pool_size: 4,
        points,
        db_limit_pool_size: Some(12),
        recommended_pool_size: Some(12),
        safe_range: Some((12, 12)),
        planned_growth: Some(1.5),
        carried_growth: carried,
    }
}

/// The same points with nothing to mark: all feasible, no plan, no SLO.
fn bare_points() -> Vec<CapacityPoint> {
    points()
        .into_iter()
        .map(|p| CapacityPoint {
            feasible: true,
            unstable: false,
            ..p
        })
        .collect()
}

fn bare_spec(points: &[CapacityPoint]) -> CapacityChartSpec<'_> {
    CapacityChartSpec {
        model_name: "fixture",
        slo_latency_p99_ms: 300.0,
        slo_error_rate: 0.0,
        current_pool_size: 0,
        points,
        db_limit_pool_size: None,
        recommended_pool_size: None,
        safe_range: None,
        planned_growth: None,
        carried_growth: &[],
    }
}

/// The SVG text of `path`; with $CHART_TEST_OUT set, also written there to look at.
fn svg<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    if let Some(dir) = std::env::var_os("CHART_TEST_OUT") {
        for file in files {
            std::fs::write(Path::new(&dir).join(&file.path), &file.bytes).unwrap();
        }
    }
    let file = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered; got {:?}", paths(files)));
    std::str::from_utf8(&file.bytes).expect("SVG is UTF-8")
}

fn paths(files: &[OutputFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

/// Every text is at least 11 px when the image is shown 650 px wide.
fn assert_legible(svg: &str) {
    let width: f64 = svg
        .split("width=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|w| w.parse().ok())
        .expect("SVG has a width");
    let smallest = 11.0 * width / 650.0;
    for size in svg.split("font-size=\"").skip(1) {
        let px: f64 = size.split('"').next().unwrap().parse().unwrap();
        assert!(
            px >= smallest - 0.5,
            "text of {px} px is below {smallest:.1} px"
        );
    }
}

/// The hatching colour of infeasible regions and cells (the theme's grey, 120,120,120).
const HATCH: &str = "#787878";

#[test]
fn capacity_p99_marks_limit_safe_range_and_recommendation() {
    let (points, carried) = (points(), carried());
    let files = render_capacity_charts(&full_spec(&points, &carried), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "capacity-p99.svg");
    assert_legible(chart);
    for mark in [
        "database limit 12",
        "recommended 12",
        "safe range 12\u{2013}12",
        "beyond database limit",
        "SLO p99 300 ms",
        "current 4",
        HATCH,
    ] {
        assert!(chart.contains(mark), "capacity-p99 lacks {mark:?}");
    }
    let bare = bare_points();
    let files = render_capacity_charts(&bare_spec(&bare), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "capacity-p99.svg");
    for mark in [
        "database limit",
        "recommended",
        "safe range",
        "beyond database limit",
        "current",
        HATCH,
    ] {
        assert!(!chart.contains(mark), "bare capacity-p99 has {mark:?}");
    }
}

#[test]
fn capacity_errors_uses_symlog_with_visible_slo() {
    let (points, carried) = (points(), carried());
    let files = render_capacity_charts(&full_spec(&points, &carried), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "capacity-errors.svg");
    assert_legible(chart);
    // 0, the 0.1% SLO and 1% each get a tick of their own.
    for tick in ["\n0\n", "\n0.1\n", "\n1\n", "SLO error rate 0.1%", "symlog"] {
        assert!(chart.contains(tick), "capacity-errors lacks {tick:?}");
    }
    let bare = bare_points();
    let files = render_capacity_charts(&bare_spec(&bare), &[ImageFormat::Svg]).unwrap();
    assert!(!svg(&files, "capacity-errors.svg").contains("SLO error rate"));
}

#[test]
fn slo_heatmap_explains_failures_and_marks_plan() {
    let (points, carried) = (points(), carried());
    let files = render_capacity_charts(&full_spec(&points, &carried), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "slo-heatmap.svg");
    assert_legible(chart);
    // 291 ms fails because its upper bound does; 16 is beyond the limit.
    for mark in [
        "\n291\n",
        "\n\u{2191}312\n",
        "\nDB\n",
        "beyond database limit",
        "\n\u{221e}\n",
        "unstable: backlog kept growing",
        "plan 1.50x",
        "recommended (12)",
        "planned growth",
        HATCH,
    ] {
        assert!(chart.contains(mark), "slo-heatmap lacks {mark:?}");
    }
    let bare = bare_points();
    let files = render_capacity_charts(&bare_spec(&bare), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "slo-heatmap.svg");
    for mark in [
        "\nDB\n",
        "beyond database limit",
        "unstable",
        "plan ",
        "recommended",
        "planned growth",
        HATCH,
    ] {
        assert!(!chart.contains(mark), "bare slo-heatmap has {mark:?}");
    }
}

#[test]
fn heatmap_stays_legible_with_sixteen_growth_rows() {
    let points: Vec<CapacityPoint> = (0..16)
        .flat_map(|row| {
            [4u32, 6, 8, 10, 12, 14, 16, 20].map(|pool_size| CapacityPoint {
                pool_size,
                growth: 1.0 + f64::from(row) * 0.25,
                latency_p99_ms: exact(28_000.0 / f64::from(pool_size)),
                error_rate: exact(0.0),
                pool_utilization: exact(0.5),
                db_utilization: exact(0.5),
                slo_pass: false,
                feasible: pool_size <= 14,
                unstable: false,
            })
        })
        .collect();
    let files = render_capacity_charts(&bare_spec(&points), &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "slo-heatmap.svg");
    assert_legible(chart);
    assert!(chart.contains("4.75x") && chart.contains("\nP\n"));
}

#[test]
fn carried_growth_replaces_utilization_when_available() {
    let (points, carried) = (points(), carried());
    let files = render_capacity_charts(&full_spec(&points, &carried), &[ImageFormat::Svg]).unwrap();
    assert!(!paths(&files).contains(&"utilization.svg"));
    let chart = svg(&files, "carried-growth.svg");
    assert_legible(chart);
    for mark in [
        "normal operation",
        "one instance lost",
        "during a deploy",
        "planned growth 1.5x",
        "beyond database limit",
        HATCH,
    ] {
        assert!(chart.contains(mark), "carried-growth lacks {mark:?}");
    }
    let bare = bare_points();
    let files = render_capacity_charts(&bare_spec(&bare), &[ImageFormat::Svg]).unwrap();
    assert!(!paths(&files).contains(&"carried-growth.svg"));
    let chart = svg(&files, "utilization.svg");
    assert!(!chart.contains("planned growth") && !chart.contains(HATCH));
}

#[test]
fn png_and_svg_render_to_bytes() {
    let (points, carried) = (points(), carried());
    let files = render_capacity_charts(
        &full_spec(&points, &carried),
        &[ImageFormat::Png, ImageFormat::Svg],
    )
    .unwrap();
    assert_eq!(files.len(), 8);
    let png = files.iter().find(|f| f.path == "capacity-p99.png").unwrap();
    assert!(png.bytes.starts_with(b"\x89PNG"));
    // Same inputs, same bytes.
    let again = render_capacity_charts(
        &full_spec(&points, &carried),
        &[ImageFormat::Png, ImageFormat::Svg],
    )
    .unwrap();
    assert_eq!(files, again);
}

fn incident_samples() -> Vec<IntervalSample> {
    (0..180)
        .map(|i| {
            let surge = (60..120).contains(&i);
            IntervalSample {
                start_s: f64::from(i) * 10.0,
                offered: if surge { 9_000.0 } else { 3_000.0 },
                succeeded: if surge { 6_000.0 } else { 3_000.0 },
                failed: if surge { 3_000.0 } else { 0.0 },
                latency_p99_ms: if surge { 2_000.0 } else { 90.0 },
                connections_in_use: if surge { 30.0 } else { 12.0 },
                pending: if surge { 400.0 } else { 0.0 },
                pool_capacity: 30.0,
                db_connections: 41.0,
                db_busy_fraction: if surge { 0.6 } else { 0.2 },
                instances: 6.0,
                ..IntervalSample::default()
            }
        })
        .collect()
}

#[test]
fn timeline_shows_traffic_cpu_slo_thresholds_and_slot_limit() {
    let model = ModelSource::read(Path::new("models/incident-2024-01-15.toml")).unwrap();
    let system = model.build(&[]).unwrap();
    let samples = incident_samples();
    let rules = [AlertRule {
        name: "pool pending > 5 for 1m".into(),
        metric: Metric::PoolPending,
        above: 5.0,
        hold: SimTime::from_millis(60_000),
    }];
    let alerts = [AlertFiring {
        name: "pool pending > 5 for 1m".into(),
        fired_s: 660.0,
        cleared_s: Some(1_210.0),
    }];
    let spec = TimelineSpec {
        title: "fixture incident",
        clock_start_minutes: Some(540),
        interval_s: 10.0,
        series: &samples,
        events: &[],
        instances: 6,
        alerts: &alerts,
        alert_rules: &rules,
        database: Some(&system.database),
        slo_error_rate: Some(0.001),
        slo_latency_p99_ms: Some(300.0),
    };
    let files = render_timeline_chart(&spec, "timeline", &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "timeline.svg");
    assert_legible(chart);
    for mark in [
        "Offered traffic (requests/s)",
        "database CPU busy",
        "SLO p99 300 ms",
        "SLO 0.1%",
        "alert: pool pending &gt; 5 for 1m",
        "DB slot limit 92 (100 max - 3 reserved - 5 other)",
    ] {
        assert!(chart.contains(mark), "timeline lacks {mark:?}");
    }
    let bare = TimelineSpec {
        alert_rules: &[],
        database: None,
        slo_error_rate: None,
        slo_latency_p99_ms: None,
        ..spec
    };
    let files = render_timeline_chart(&bare, "timeline", &[ImageFormat::Svg]).unwrap();
    let chart = svg(&files, "timeline.svg");
    for mark in ["SLO p99", "SLO 0.1%", "alert: ", "DB slot limit"] {
        assert!(!chart.contains(mark), "bare timeline has {mark:?}");
    }
}

#[test]
fn pool_size_change_label_only_where_the_size_changes() {
    let model = ModelSource::read(Path::new("models/incident-2024-01-15.toml")).unwrap();
    let as_it_happened = model.build(&[]).unwrap();
    let labels = |events: Vec<poolsim::config::timeline::TimelineEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.label).collect()
    };
    assert!(labels(events_as_run(&as_it_happened))
        .iter()
        .any(|l| l.contains("5 -> 12")));
    let twelve_from_start = model
        .build(&[("pool.max_size".into(), toml::Value::Integer(12))])
        .unwrap();
    let relabelled = labels(events_as_run(&twelve_from_start));
    assert!(
        relabelled.iter().all(|l| !l.contains("5 -> 12")),
        "{relabelled:?}"
    );
    assert!(
        relabelled.iter().any(|l| l.contains("stays 12")),
        "{relabelled:?}"
    );
}

/// The sweep's charts carry main's plan: the recommended size and the database limit of
/// recommendations.json, and the planned growth, on the line charts and the heat map.
#[test]
fn sweep_charts_mark_the_recommendation_of_recommendations_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    common::sweep("small.toml", &out, &["--threads", "2"]).success();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("recommendations.json")).unwrap()).unwrap();
    let scenario = &json["scenarios"][0];
    let recommended = scenario["recommended_pool_size"]
        .as_u64()
        .expect("a recommendation");
    let ceiling = scenario["ceiling_pool_size"].as_u64().unwrap();
    let planned = json["planned_growth"].as_f64().unwrap();
    let read = |name: &str| std::fs::read_to_string(out.join("charts").join(name)).unwrap();
    for name in [
        "capacity-p99.svg",
        "capacity-errors.svg",
        "carried-growth.svg",
    ] {
        let chart = read(name);
        assert_legible(&chart);
        for mark in [
            format!("recommended ({recommended})"),
            format!("database limit ({ceiling})"),
            "beyond database limit".to_string(),
        ] {
            assert!(chart.contains(&mark), "{name} lacks {mark:?}");
        }
    }
    assert!(read("carried-growth.svg").contains(&format!("planned growth {planned}x")));
    let heatmap = read("slo-heatmap.svg");
    assert!(heatmap.contains(&format!("recommended ({recommended})")));
    assert!(
        heatmap.contains(&format!("plan {planned}x"))
            || heatmap.contains(&format!("planned growth {planned}x"))
    );
}
