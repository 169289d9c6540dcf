//! `poolsim sweep` end to end: determinism across thread counts, recommendations
//! that agree with points.csv, the `--check` gate, and no output on bad input.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;

mod common;
use common::{fixture, sweep};

#[test]
fn outputs_are_identical_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    sweep("small.toml", &one, &["--threads", "1"]).success();
    sweep("small.toml", &two, &["--threads", "2"]).success();
    for file in [
        "runs.csv",
        "points.csv",
        "recommendations.json",
        "report.md",
    ] {
        let a = std::fs::read(one.join(file)).unwrap();
        let b = std::fs::read(two.join(file)).unwrap();
        assert!(!a.is_empty(), "{file} is empty");
        assert!(a == b, "{file} differs between --threads 1 and --threads 2");
    }
    for chart in [
        "capacity-p99",
        "capacity-errors",
        "slo-heatmap",
        "carried-growth",
    ] {
        for ext in ["png", "svg"] {
            let path = one.join("charts").join(format!("{chart}.{ext}"));
            assert!(
                std::fs::metadata(&path)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{} missing or empty",
                path.display()
            );
            let other = two.join("charts").join(format!("{chart}.{ext}"));
            assert!(
                std::fs::read(&path).unwrap() == std::fs::read(&other).unwrap(),
                "{chart}.{ext} differs between --threads 1 and --threads 2"
            );
        }
    }
    // No temporary files are left behind.
    for entry in std::fs::read_dir(&one)
        .unwrap()
        .chain(std::fs::read_dir(one.join("charts")).unwrap())
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("tmp"),
            "temporary file {name} left in the output"
        );
    }
}

/// points.csv as (growth, pool size) -> (slo_pass, p99 mean).
fn read_points(path: &Path) -> BTreeMap<(String, u32), bool> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (growth, size, pass) = (col("growth"), col("pool_size"), col("slo_pass"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                (r[growth].to_string(), r[size].parse().unwrap()),
                &r[pass] == "true",
            )
        })
        .collect()
}

#[test]
fn recommendations_agree_with_points_csv() {
    let dir = tempfile::tempdir().unwrap();
    sweep("small.toml", dir.path(), &[]).success();
    let points = read_points(&dir.path().join("points.csv"));
    // Unstable points are marked: 4 connections per instance cannot serve today's
    // load (its backlog grows in every replication); 10 serves it comfortably.
    let mut reader = csv::Reader::from_path(dir.path().join("points.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (size, growth, unstable) = (col("pool_size"), col("growth"), col("unstable_runs"));
    let unstable_at: BTreeMap<(String, String), String> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| {
            (
                (r[size].to_string(), r[growth].to_string()),
                r[unstable].to_string(),
            )
        })
        .collect();
    assert_eq!(unstable_at[&("4".into(), "1".into())], "3");
    assert_eq!(unstable_at[&("10".into(), "1".into())], "0");
    // ... and the report says so, next to the numbers they make unreliable.
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains("**Unstable:** size 4 at 1.00x (3 of 3 replications)"),
        "{report}"
    );
    assert!(report.contains(" ✗\u{221e} |"), "the p99 cell is marked");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("recommendations.json")).unwrap())
            .unwrap();
    let scenario = &rec["scenarios"][0];
    let levels = scenario["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 4);
    let mut any_recommendation = false;
    for level in levels {
        let growth = level["growth"].as_f64().unwrap();
        let key = format!("{growth}");
        let db_limit = level["max_pool_size_database_holds"].as_u64().unwrap() as u32;
        // 6 instances plus Kubernetes' default surge of 25% (2) during a deploy.
        assert_eq!(db_limit, (100 - 3 - 5) / (6 + 2));
        let upper = level["contention_limit"]
            .as_u64()
            .map_or(db_limit, |c| (c as u32).min(db_limit));
        let sizes: Vec<(u32, bool)> = points
            .iter()
            .filter(|((g, _), _)| *g == key)
            .map(|((_, s), p)| (*s, *p))
            .collect();
        assert_eq!(sizes.len(), 5, "growth {key}");
        // Recompute: the smallest passing size with every larger size up to the limit passing.
        let candidates: Vec<(u32, bool)> =
            sizes.iter().copied().filter(|(s, _)| *s <= upper).collect();
        let expected = candidates
            .iter()
            .rev()
            .take_while(|(_, pass)| *pass)
            .last()
            .map(|(s, _)| *s);
        let reported = level["min_pool_size_meeting_slo"]
            .as_u64()
            .map(|v| v as u32);
        if candidates.iter().any(|(_, p)| *p) {
            assert_eq!(
                reported, expected,
                "growth {key}: smallest size meeting the SLO"
            );
        }
        if let Some(size) = reported {
            assert!(
                points[&(key.clone(), size)],
                "growth {key}: recommended size {size} does not pass in points.csv"
            );
            any_recommendation = true;
        } else {
            assert!(
                level["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "growth {key}: no value and no reason"
            );
        }
    }
    assert!(any_recommendation);
    // With every instance serving, the current setting (10) carries a growth exactly
    // when every level up to it passes at 10 in points.csv; what it carries overall is
    // the lowest of that, one instance lost and a deploy.
    let current = &scenario["current"];
    let passing: Vec<f64> = [1.0, 1.5, 2.0, 2.5]
        .into_iter()
        .take_while(|g| points[&(format!("{g}"), 10)])
        .collect();
    assert_eq!(current["carries_normal"].as_f64(), passing.last().copied());
    let lowest = ["carries_normal", "carries_instance_lost", "carries_deploy"]
        .iter()
        .map(|k| current[*k].as_f64().unwrap_or(0.0))
        .fold(f64::INFINITY, f64::min);
    let carries = scenario["current_carries_growth"].as_f64().unwrap_or(0.0);
    assert_eq!(carries, lowest);
}

#[test]
fn check_gates_on_the_planned_growth() {
    let dir = tempfile::tempdir().unwrap();
    // Planned growth 1.25x (1.0 x 1.25): pool 10 meets the SLO there.
    sweep("small.toml", &dir.path().join("a"), &["--check"])
        .code(0)
        .stdout(predicates::str::contains("check passed"));
    // Planned growth 2.5x: pool 10 fails (its p99 and errors explode past 2.25x,
    // and with one of six instances lost it carries less still).
    sweep(
        "small-planned-2.5.toml",
        &dir.path().join("b"),
        &["--check"],
    )
    .code(1)
    .stdout(predicates::str::contains(
        "check failed: pool.max_size = 10 does not carry the planned growth 2.50x",
    ));
}

#[test]
fn bad_experiments_write_nothing_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(fixture("small.toml"))
        .unwrap()
        .replace(
            "../../../models/auth-service.toml",
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/auth-service.toml")
                .display()
                .to_string(),
        )
        .replace(
            "\"pool.max_size\" = [4, 8, 10, 12, 16]",
            "\"pool.max_size\" = [4, 0, 10]",
        );
    std::fs::write(&bad, text).unwrap();
    let out = dir.path().join("out");
    Command::cargo_bin("poolsim")
        .unwrap()
        .args([
            "sweep",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("pool.max_size"))
        .stderr(predicates::str::contains("hint:"));
    assert!(!out.exists(), "a bad experiment must not create output");
}

#[test]
fn sweeps_of_models_with_events_aggregate_series_per_variant() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    sweep("events.toml", &one, &["--threads", "1"]).success();
    sweep("events.toml", &two, &["--threads", "2"]).success();
    for file in [
        "runs.csv",
        "points.csv",
        "report.md",
        "timeseries/as-is.csv",
        "timeseries/bigger-pool.csv",
    ] {
        assert!(
            std::fs::read(one.join(file)).unwrap() == std::fs::read(two.join(file)).unwrap(),
            "{file} differs between thread counts"
        );
    }
    // One row per 10 s interval of the 6-minute horizon, averaged over the 2 replications.
    let mut reader = csv::Reader::from_path(one.join("timeseries/as-is.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 36);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("clock")], "09:00:00");
    let error_rate = |row: &csv::StringRecord| row[col("error_rate")].parse::<f64>().unwrap_or(0.0);
    // 400/s x 20 ms = 8 erlangs on 6 connections during the surge: failures; none once pools are 6.
    assert!(
        rows[12..18].iter().any(|r| error_rate(r) > 0.05),
        "the surge overloads pools of 2"
    );
    assert!(
        rows[30..].iter().all(|r| error_rate(r) == 0.0),
        "pools of 6 after the rollout"
    );
    for chart in [
        "timeline-as-is.png",
        "timeline-as-is.svg",
        "timeline-bigger-pool.png",
    ] {
        assert!(one.join("charts").join(chart).exists(), "{chart}");
    }
    let report = std::fs::read_to_string(one.join("report.md")).unwrap();
    assert!(report.contains("## Scenarios side by side"));
    assert!(report.contains("| as is |") && report.contains("| bigger pool |"));
    assert!(report.contains("charts/timeline-as-is.png"));
    let points = std::fs::read_to_string(one.join("points.csv")).unwrap();
    assert!(
        points.starts_with("variant,"),
        "points.csv names the variant"
    );
}

#[test]
fn the_p99_table_marks_exactly_the_sizes_the_database_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    sweep("small.toml", dir.path(), &[]).success();
    let mut reader = csv::Reader::from_path(dir.path().join("points.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (size, growth, feasible) = (col("pool_size"), col("growth"), col("feasible"));
    // Keyed by (size, growth's bits): growth reads 1.25 in points.csv and 1.25x in the report.
    let bits = |text: &str| text.parse::<f64>().unwrap().to_bits();
    let feasible_at: BTreeMap<(u32, u64), bool> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| {
            let key = (r[size].parse().unwrap(), bits(&r[growth]));
            (key, &r[feasible] == "true")
        })
        .collect();
    assert!(
        feasible_at.values().any(|f| !f),
        "the fixture sweeps infeasible sizes"
    );
    assert!(feasible_at.values().any(|f| *f));
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("✗DB marks a size the database cannot hold"));
    let table = report
        .split("### p99 latency of successful requests")
        .nth(1)
        .unwrap();
    let mut lines = table.lines().filter(|l| l.starts_with('|'));
    let sizes: Vec<u32> = lines
        .next()
        .unwrap()
        .split('|')
        .skip(2)
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let mut cells = 0;
    for row in lines.skip(1).take_while(|l| l.contains('x')) {
        let columns: Vec<&str> = row.split('|').map(str::trim).collect();
        let growth = columns[1].trim_end_matches('x');
        for (size, cell) in sizes.iter().zip(&columns[2..]) {
            let feasible = feasible_at[&(*size, bits(growth))];
            assert_eq!(
                cell.contains("✗DB"),
                !feasible,
                "size {size} at {growth}x: {cell}"
            );
            cells += 1;
        }
    }
    assert_eq!(cells, feasible_at.len(), "every point has a cell");
}
