//! Experiment files (sweeps, replications, SLOs).

use std::path::Path;

use crate::config::InputError;

pub struct Experiment;

impl Experiment {
    pub fn load(path: &Path) -> Result<Experiment, InputError> {
        Err(InputError::new(path, "experiments are not supported yet"))
    }
}
