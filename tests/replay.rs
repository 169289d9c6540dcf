//! Replay and variant reports end to end: every scenario gets its series, its chart and
//! a full row of the side-by-side table, with the p99 of each phase against the SLO next
//! to the error rate, even a variant that removes the model's events and alerts.

mod common;

use common::sweep;

#[test]
fn a_variant_without_events_is_reported_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    sweep("events-removed.toml", &out, &["--threads", "2"]).success();

    // One row per 10 s interval of the 6-minute horizon, not a header alone.
    let series = std::fs::read_to_string(out.join("timeseries/without-events.csv")).unwrap();
    assert_eq!(series.lines().count(), 1 + 36, "{series}");
    let chart = std::fs::read_to_string(out.join("charts/timeline-without-events.svg")).unwrap();
    assert!(!chart.contains("no samples"), "the chart has data");

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let header = report
        .lines()
        .find(|l| l.starts_with("| scenario |"))
        .expect("the side-by-side table");
    let columns = header.matches('|').count();
    for scenario in ["| as is |", "| without events |"] {
        let row = report
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("a row for {scenario}"));
        assert_eq!(row.matches('|').count(), columns, "{row}");
    }
    // The surge of "as is" misses the 300 ms p99 SLO; without it every phase is within.
    let as_is = report.lines().find(|l| l.starts_with("| as is |")).unwrap();
    assert!(as_is.contains("ms ✗"), "{as_is}");
    let without = report
        .lines()
        .find(|l| l.starts_with("| without events |"))
        .unwrap();
    assert_eq!(without.matches("ms ✓").count(), 2, "{without}");
    assert!(report.contains("against the SLO of 300 ms"));
}
