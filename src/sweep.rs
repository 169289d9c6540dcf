//! Sweeps: points x replications on rayon, in a deterministic order.

use std::process::ExitCode;

use crate::app::AppError;
use crate::cli::SweepArgs;

pub fn run_sweep_command(args: &SweepArgs) -> Result<ExitCode, AppError> {
    Err(AppError::Other(anyhow::anyhow!(
        "sweep of {} is not implemented yet",
        args.experiment.display()
    )))
}
