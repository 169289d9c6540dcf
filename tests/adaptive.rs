//! Adaptive replications end to end: the same bytes with one or two threads, points
//! that stop at `min` only once decided, points that reach `max` only while undecided,
//! and report.md saying how many replications the points got.

mod common;

use common::{snapshot, sweep};

#[test]
fn adaptive_outputs_are_identical_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    sweep("small-adaptive.toml", &one, &["--threads", "1"]).success();
    sweep("small-adaptive.toml", &two, &["--threads", "2"]).success();
    let (a, b) = (snapshot(&one), snapshot(&two));
    assert!(a.contains_key("points.csv") && a.contains_key("report.md"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            b[name] == *bytes,
            "{name} differs between --threads 1 and 2"
        );
    }

    let mut csv = csv::Reader::from_path(one.join("points.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (replications, decided) = (col("replications"), col("decided"));
    let (p99_precision, error_precision) = (
        col("latency_p99_rel_precision"),
        col("error_rate_rel_precision"),
    );
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    let counts: Vec<u32> = rows
        .iter()
        .map(|r| r[replications].parse().unwrap())
        .collect();
    for (row, &count) in rows.iter().zip(&counts) {
        assert!((2..=8).contains(&count) && count % 2 == 0, "{row:?}");
        if &row[decided] == "false" {
            assert_eq!(count, 8, "an undecided point stopped early: {row:?}");
        }
        let p99: f64 = row[p99_precision].parse().unwrap_or(f64::NAN);
        let errors: f64 = row[error_precision].parse().unwrap_or(f64::NAN);
        assert!(
            errors >= 0.0 && (p99 >= 0.0 || row[p99_precision].is_empty()),
            "{row:?}"
        );
    }
    // Clear points stop at the minimum, points near the SLO get more.
    assert!(counts.contains(&2), "{counts:?}");
    assert!(counts.iter().any(|&c| c > 2), "{counts:?}");
    let runs = std::fs::read_to_string(one.join("runs.csv")).unwrap();
    assert_eq!(
        runs.lines().count() - 1,
        counts.iter().sum::<u32>() as usize,
        "runs.csv holds exactly the replications run"
    );
    let report = std::fs::read_to_string(one.join("report.md")).unwrap();
    assert!(
        report.contains("2 to 8 adaptive replications")
            && report.contains("Adaptive replications: every point got 2"),
        "{report}"
    );
}
