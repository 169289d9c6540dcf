//! The report of a what-if comparison (several variants, no pool-size axis, no timeline):
//! every point's row with its failures, a verdict per growth level, and variants whose
//! results came out identical named with the settings that never came into play.

mod common;
use common::sweep;

/// report.md and stdout of the what-if fixture.
fn report() -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = sweep("what-if.toml", &out, &[]).success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    (
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        stdout,
    )
}

/// The table row of `variant` at `growth`, as its cells.
fn row(report: &str, variant: &str, growth: &str) -> Vec<String> {
    let prefix = format!("| {variant} | {growth} |");
    let line = report
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row {prefix} in\n{report}"));
    line.trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn a_what_if_report_compares_the_variants_and_names_identical_ones() {
    let (report, stdout) = report();
    assert!(report.starts_with("# What-if comparison: auth-service"));
    assert!(report.contains("## Variants compared"));

    // At 2.5x today's pools fail (the accept queues fill); a pool of 4 fails more.
    let today = row(&report, "as today", "2.5x");
    let small = row(&report, "pool of 4", "2.5x");
    assert!(today[4].starts_with('✗'), "{today:?}");
    assert!(small[4].starts_with('✗'), "{small:?}");
    assert!(today[5].contains("rejected"), "{today:?}");
    let error = |cells: &[String]| -> f64 { cells[2].split('%').next().unwrap().parse().unwrap() };
    assert!(error(&small) > error(&today), "{small:?} vs {today:?}");
    assert_eq!(row(&report, "as today", "1x")[4], "✓");
    assert_eq!(row(&report, "as today", "1x")[5], "none");

    assert!(report.contains("- **At 1x:**"), "{report}");
    assert!(
        report.contains("- **At 2.5x:** no variant meets the SLO"),
        "{report}"
    );

    // The longer acquire timeout never fires (waits stay near 2 s): identical results,
    // and the report says which setting made no difference. The pool of 4 is not named.
    let identical = report
        .lines()
        .find(|l| l.starts_with("- **Identical results:**"))
        .unwrap_or_else(|| panic!("no identical-results line in\n{report}"));
    assert!(
        identical.contains("\"as today\" and \"acquire timeout 60s, not 30s\""),
        "{identical}"
    );
    assert!(identical.contains("`pool.acquire_timeout`"), "{identical}");
    assert!(!identical.contains("pool of 4"), "{identical}");
    assert!(identical.contains("rejected 100% at 2.5x"), "{identical}");

    // stdout says the same, line for line, and recommends no pool size (none was swept).
    let verdicts: Vec<&str> = report
        .lines()
        .filter_map(|l| l.strip_prefix("- **At "))
        .collect();
    assert_eq!(verdicts.len(), 2, "{report}");
    for verdict in verdicts {
        let text = verdict.replacen(":**", ":", 1);
        let text = text.trim_end_matches('.');
        assert!(
            stdout.contains(&format!("at {text}\n")),
            "{text} not in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("identical results: \"as today\" and"),
        "{stdout}"
    );
    assert!(!stdout.contains("recommended"), "{stdout}");
}

#[test]
fn other_axes_get_a_column_and_a_verdict_per_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = sweep("what-if-cores.toml", &out, &[]).success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| variant | `database.cores` | growth |"),
        "{report}"
    );
    // Four rows: two variants at each number of cores.
    for variant in ["as today", "pool of 6"] {
        for cores in ["4", "16"] {
            let prefix = format!("| {variant} | {cores} | 2x |");
            assert!(report.contains(&prefix), "no row {prefix} in\n{report}");
        }
    }
    for cores in ["4", "16"] {
        let at = format!("at 2x, `database.cores` = {cores}: ");
        assert!(stdout.contains(&at), "{at} not in\n{stdout}");
        assert!(report.contains(&format!("- **At 2x, `database.cores` = {cores}:** ")));
    }
}
