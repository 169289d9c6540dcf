//! What every check of a model file needs to report an error: the file, its text and
//! where its relative files live, with the checks shared by all sections (durations,
//! choices among named values).
//!
//! Kept apart from `check_model` so that section checkers in their own modules
//! (`check_pool`) use it without importing back into `check_model`.

use std::path::Path;

use super::duration::parse_duration;
use super::error::InputError;
use super::suggest;
use crate::sim::time::SimTime;

/// What every check needs to name its errors: the file, its text and where relative files live.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) base_dir: &'a Path,
}

impl Checker<'_> {
    pub(super) fn err(&self, field: &str, message: String, hint: &str) -> InputError {
        InputError::at_field(self.path, self.text, field, message, hint)
    }

    pub(super) fn duration(&self, field: &str, value: &str) -> Result<SimTime, InputError> {
        parse_duration(value).map_err(|why| {
            self.err(
                field,
                why,
                "write a quoted duration with a unit, e.g. \"250ms\", \"30s\", \"1h30m\"",
            )
        })
    }

    pub(super) fn choice<T: Copy>(
        &self,
        field: &str,
        value: &str,
        options: &[(&str, T)],
    ) -> Result<T, InputError> {
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
            return Ok(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = match suggest(value, &names) {
            Some(best) => format!(
                "did you mean \"{best}\"? valid values: {}",
                names.join(", ")
            ),
            None => format!("use one of: {}", names.join(", ")),
        };
        Err(self.err(field, format!("\"{value}\" is not a valid value"), &hint))
    }
}
