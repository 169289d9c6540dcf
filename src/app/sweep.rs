//! `poolsim sweep`: run the experiment, plan from its points, write the report set.
//!
//! The only place where simulation (`sweep`), planning (`recommend`) and
//! presentation (`report`) meet, so each of those flows one way.

use std::path::PathBuf;
use std::process::ExitCode;

use super::AppError;
use crate::cli::SweepArgs;
use crate::config::experiment::Experiment;
use crate::config::overrides::parse_override_value;
use crate::recommend::recommend;
use crate::sweep::{pool_axis, run_sweep};

pub fn run_sweep_command(args: &SweepArgs) -> Result<ExitCode, AppError> {
    let overrides: Vec<(String, toml::Value)> = args
        .overrides
        .iter()
        .map(|(path, value)| (path.clone(), parse_override_value(value)))
        .collect();
    let experiment = Experiment::load_with(&args.experiment, args.seed, &overrides)?;
    let out_dir: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| experiment.out_dir.clone());
    let result = run_sweep(&experiment, args.threads, !args.quiet)?;
    let recommendations = recommend(&experiment, &result.points, args.threads)?;
    let written =
        crate::report::write_sweep_outputs(&experiment, &result, &recommendations, &out_dir)?;
    let rec = &recommendations;
    if !args.quiet {
        eprintln!(
            "{} runs ({} points x {} replications) in {:.1} s; wrote {} files to {}",
            result.runs.len(),
            result.points.len(),
            experiment.replications,
            result.wall_seconds,
            written,
            out_dir.display()
        );
    }
    if pool_axis(&experiment).is_some() || !experiment.has_timeline() {
        println!("{}", rec.headline());
    } else {
        for p in &result.points {
            let first_page = p
                .alerts
                .first()
                .map(|a| format!(", first page at {:.0} min ({})", a.fired_s / 60.0, a.name))
                .unwrap_or_default();
            let name = &experiment.variants[p.variant].name;
            println!(
                "{}: {:.2}% of requests failed{first_page}",
                if name.is_empty() {
                    &experiment.baseline.name
                } else {
                    name
                },
                p.error_rate.mean * 100.0
            );
        }
    }
    if args.check {
        if let Some(reason) = rec.check_failure() {
            println!("check failed: {reason}");
            return Ok(ExitCode::from(1));
        }
        println!(
            "check passed: pool.max_size = {} carries the planned growth {:.2}x with all instances serving, with {} lost and during a deploy",
            rec.current_pool_size,
            rec.planned_growth,
            match rec.instance_loss {
                1 => "one instance".to_string(),
                n => format!("{n} instances"),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
