//! `points.csv`: one row per sweep point, each metric's mean and 95% interval.

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::report::csv;
use crate::report::output::OutputFile;

pub struct PointsCsv;

impl Exporter for PointsCsv {
    fn name(&self) -> &'static str {
        "points.csv"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let bytes = csv::points_csv(input.experiment, &input.sweep.points)?;
        Ok(vec![OutputFile::new("points.csv", bytes)])
    }
}
