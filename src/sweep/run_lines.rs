//! Finished runs as text, one per line, exact to the last bit: the sweep journal
//! (`--resume`) and a shard's partial result (`--shard`, `poolsim merge`) are both
//! made of these lines, so a merged or resumed sweep recomputes exactly what an
//! uninterrupted one computes.
//!
//! Each line is one TOML key/value, `r<run> = { point = .., replication = .., summary =
//! {..}, diagnostics = {..}, series = [..] }`, where `<run>` is the run's place in the
//! sweep (point x replications + replication). A file of such lines is a valid TOML
//! document, each line parses on its own (so a line cut short by a kill is detected
//! and dropped), and TOML writes every float in its shortest round-trip form and
//! has `nan` and `inf`, which JSON lacks (a run without successes has NaN latencies).
//! The summary's `wall_seconds` is written as 0: it is the machine's, not the model's.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::Run;
use crate::config::experiment::Experiment;
use crate::stats::series::IntervalSample;
use crate::stats::summary::{Diagnostics, Summary};

/// One run as written: the summary's diagnostics are kept apart because `Summary`
/// leaves them out of its serialized form (the JSON keys of docs/outputs.md).
#[derive(Serialize)]
struct RunLineOut<'a> {
    point: usize,
    replication: u32,
    summary: &'a Summary,
    diagnostics: &'a Diagnostics,
    series: &'a [IntervalSample],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunLineIn {
    point: usize,
    replication: u32,
    summary: Summary,
    diagnostics: Diagnostics,
    series: Vec<IntervalSample>,
}

/// The key of run number `run` (its place in the sweep).
fn key(run: usize) -> String {
    format!("r{run}")
}

/// One line (with its newline) holding `run`, the `run_number`-th of the sweep.
pub fn encode_run(run_number: usize, run: &Run) -> Result<String> {
    // The wall-clock time is the machine's, not the model's: left out (as from runs.csv)
    // so that the same runs give the same bytes on any machine.
    let summary = Summary {
        wall_seconds: 0.0,
        ..run.summary.clone()
    };
    let record = RunLineOut {
        point: run.point,
        replication: run.replication,
        summary: &summary,
        diagnostics: &run.summary.diagnostics,
        series: &run.series,
    };
    let mut value = String::new();
    record
        .serialize(toml::ser::ValueSerializer::new(&mut value))
        .with_context(|| format!("cannot encode run {run_number}"))?;
    Ok(format!("{} = {value}\n", key(run_number)))
}

/// The run number and run of one line written by `encode_run` (without its newline).
pub fn decode_run(line: &str) -> Result<(usize, Run)> {
    let mut table: BTreeMap<String, RunLineIn> = toml::from_str(line)?;
    let Some((name, record)) = table.pop_first() else {
        bail!("the line holds no run");
    };
    if !table.is_empty() {
        bail!("the line holds more than one run");
    }
    let Some(number) = name.strip_prefix('r').and_then(|n| n.parse().ok()) else {
        bail!("`{name}` is not a run key (r<number>)");
    };
    let mut summary = record.summary;
    summary.diagnostics = record.diagnostics;
    Ok((
        number,
        Run {
            point: record.point,
            replication: record.replication,
            summary,
            series: record.series,
        },
    ))
}

/// The run number of (point, replication): runs are numbered point by point.
pub fn run_number(experiment: &Experiment, point: usize, replication: u32) -> usize {
    point * experiment.replications as usize + replication as usize
}

/// Everything the sweep's results depend on, as a 64-bit hash in hex: the checked
/// experiment (every point's model, replications, SLO, planning settings) and the
/// poolsim version. Deterministic for a given build (SipHash with fixed keys).
pub fn fingerprint(experiment: &Experiment) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{experiment:?}").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summary::LatencyMs;

    #[test]
    fn a_run_survives_the_round_trip_bit_for_bit() {
        let mut summary = Summary {
            error_rate: 0.1 + 0.2,
            throughput_rps: 1e300,
            latency_ms: LatencyMs {
                mean: f64::NAN,
                p99: -0.0,
                max: f64::INFINITY,
                p50: 1.0 / 3.0,
                ..LatencyMs::default()
            },
            ..Summary::default()
        };
        summary.requests.offered = u32::MAX as u64 * 7;
        summary.diagnostics.acquisitions = 42;
        summary.diagnostics.mean_sojourn_ms = 5e-324;
        let run = Run {
            point: 3,
            replication: 2,
            summary,
            series: vec![IntervalSample {
                start_s: 0.1,
                latency_p99_ms: f64::NAN,
                ..IntervalSample::default()
            }],
        };
        let line = encode_run(17, &run).unwrap();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let (number, back) = decode_run(line.trim_end()).unwrap();
        assert_eq!(number, 17);
        assert_eq!(format!("{back:?}"), format!("{run:?}"));
        assert_eq!(back.summary.throughput_rps.to_bits(), 1e300f64.to_bits());
        assert_eq!(back.summary.latency_ms.p99.to_bits(), (-0.0f64).to_bits());
        assert_eq!(back.summary.diagnostics.mean_sojourn_ms, 5e-324);
        assert!(back.summary.latency_ms.mean.is_nan());
    }

    #[test]
    fn a_line_cut_short_is_refused() {
        let run = Run {
            point: 0,
            replication: 0,
            summary: Summary::default(),
            series: Vec::new(),
        };
        let line = encode_run(0, &run).unwrap();
        for cut in [line.len() / 2, line.len() - 3] {
            assert!(decode_run(&line[..cut]).is_err(), "{}", &line[..cut]);
        }
    }
}
