//! A sweep's outputs are one set: a failure in any exporter leaves the output
//! directory exactly as it was, and files an earlier run wrote that this run does
//! not produce go with the old set.

mod common;

use std::path::Path;

use common::snapshot;

use poolsim::config::experiment::Experiment;
use poolsim::recommend::recommend;
use poolsim::report::export::{default_exporters, Exporter, ReportInput};
use poolsim::report::output::OutputFile;
use poolsim::report::{write_sweep_outputs, write_with};
use poolsim::sweep::run_sweep;

struct FailingExporter;

impl Exporter for FailingExporter {
    fn name(&self) -> &'static str {
        "an exporter that fails"
    }

    fn render(&self, _: &ReportInput, earlier: &[OutputFile]) -> anyhow::Result<Vec<OutputFile>> {
        assert!(!earlier.is_empty(), "runs after the real exporters");
        anyhow::bail!("disk on fire")
    }
}

fn small_experiment() -> Experiment {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep/small.toml");
    Experiment::load(&path).unwrap()
}

#[test]
fn a_failing_last_exporter_leaves_the_directory_exactly_as_before() {
    let experiment = small_experiment();
    let sweep = run_sweep(&experiment, Some(2), false).unwrap();
    let recommendations = recommend(&experiment, &sweep.points, Some(2)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("review");
    write_sweep_outputs(&experiment, &sweep, &recommendations, &dir).unwrap();
    let before = snapshot(&dir);
    assert!(before.contains_key("report.md") && before.contains_key("charts/slo-heatmap.png"));

    let mut exporters = default_exporters();
    exporters.push(Box::new(FailingExporter));
    let input = ReportInput {
        experiment: &experiment,
        sweep: &sweep,
        recommendations: &recommendations,
    };
    let error = write_with(&input, &exporters, &dir).unwrap_err();
    assert!(format!("{error:#}").contains("disk on fire"), "{error:#}");
    assert_eq!(
        snapshot(&dir),
        before,
        "the failed run changed the directory"
    );
    let beside: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "review" && !n.ends_with("poolsim-lock"))
        .collect();
    assert!(
        beside.is_empty(),
        "stray files beside the output: {beside:?}"
    );
}

#[test]
fn files_this_run_does_not_produce_do_not_survive() {
    let mut experiment = small_experiment();
    let sweep = run_sweep(&experiment, Some(2), false).unwrap();
    let recommendations = recommend(&experiment, &sweep.points, Some(2)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("review");
    write_sweep_outputs(&experiment, &sweep, &recommendations, &dir).unwrap();
    assert!(snapshot(&dir).keys().any(|k| k.ends_with(".svg")));
    experiment.svg = false;
    write_sweep_outputs(&experiment, &sweep, &recommendations, &dir).unwrap();
    let after = snapshot(&dir);
    assert!(after.keys().any(|k| k.ends_with(".png")));
    assert!(
        !after.keys().any(|k| k.ends_with(".svg")),
        "{:?}",
        after.keys()
    );
}
