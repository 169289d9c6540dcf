//! `charts/sensitivity-tornado.png|svg`: which assumed input moves the answer most
//! (only when the model gives `[uncertainty]` ranges).

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::report::output::OutputFile;
use crate::report::tornado::render_tornado;

pub struct SensitivityChart;

impl Exporter for SensitivityChart {
    fn name(&self) -> &'static str {
        "the sensitivity chart"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let rec = input.recommendations;
        let Some(sensitivity) = rec.main().sensitivity.as_ref() else {
            return Ok(Vec::new());
        };
        let formats = super::timelines::image_formats(input.experiment);
        let files = render_tornado(&rec.model, rec.planned_growth, sensitivity, &formats)?;
        Ok(super::in_chart_dir(files))
    }
}
