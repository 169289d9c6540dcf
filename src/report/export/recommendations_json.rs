//! `recommendations.json`: the planning answers, for machines (the same numbers stdout prints).

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::report::output::OutputFile;

pub struct RecommendationsJson;

impl Exporter for RecommendationsJson {
    fn name(&self) -> &'static str {
        "recommendations.json"
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let mut bytes = serde_json::to_vec_pretty(input.recommendations)?;
        bytes.push(b'\n');
        Ok(vec![OutputFile::new("recommendations.json", bytes)])
    }
}
