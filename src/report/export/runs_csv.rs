//! `runs.csv`: one row per simulation run (point x replication).

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::report::csv;
use crate::report::output::OutputFile;

pub struct RunsCsv;

impl Exporter for RunsCsv {
    fn name(&self) -> &'static str {
        "runs.csv"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let bytes = csv::runs_csv(input.experiment, &input.sweep.runs)?;
        Ok(vec![OutputFile::new("runs.csv", bytes)])
    }
}
