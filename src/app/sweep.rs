//! `poolsim sweep`: run the experiment, plan from its points, write the report set.
//!
//! The only place where simulation (`sweep`), planning (`recommend`) and
//! presentation (`report`) meet, so each of those flows one way.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{console, AppError};
use crate::cli::SweepArgs;
use crate::config::experiment::Experiment;
use crate::config::overrides::parse_override_value;
use crate::recommend::recommend;
use crate::report::timeline::clock;
use crate::sweep::{pool_axis, run_sweep, PointResult};

pub fn run_sweep_command(args: &SweepArgs) -> Result<ExitCode, AppError> {
    super::refuse_non_experiment(&args.experiment)?;
    let overrides: Vec<(String, toml::Value)> = args
        .overrides
        .iter()
        .map(|(path, value)| (path.clone(), parse_override_value(value)))
        .collect();
    let experiment = Experiment::load_with(&args.experiment, args.seed, &overrides)?;
    let (mut events, mut memory_bytes) = (0.0, 0.0_f64);
    for point in &experiment.points {
        let budget = crate::model::budget::estimate(&point.spec, experiment.has_timeline());
        events += budget.events * f64::from(experiment.replications);
        memory_bytes = memory_bytes.max(budget.memory_bytes);
    }
    if let Some(why) = args.limits.limits().check(events, memory_bytes) {
        return Err(crate::config::InputError::new(&args.experiment, why)
            .hint("sweep fewer points, use fewer replications or a shorter simulation.horizon")
            .into());
    }
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    if !args.quiet {
        super::announce_long_run(events, threads);
    }
    let out_dir: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| experiment.out_dir.clone());
    let result = run_sweep(&experiment, args.threads, !args.quiet)?;
    if !args.quiet && pool_axis(&experiment).is_some() {
        // Planning simulates more models (an instance lost, a deploy) with no bar of its own.
        console::err(&format!(
            "sweep: {} points in {:.0} s; now checking each pool size with an instance lost and during a rolling deploy\n",
            result.points.len(),
            result.wall_seconds
        ));
    }
    let recommendations = recommend(&experiment, &result.points, args.threads)?;
    let written =
        crate::report::write_sweep_outputs(&experiment, &result, &recommendations, &out_dir)?;
    let rec = &recommendations;
    if !args.quiet {
        console::err(&format!(
            "{} runs ({} points x {} replications) in {:.1} s; wrote {} files to {}\n",
            result.runs.len(),
            result.points.len(),
            experiment.replications,
            result.wall_seconds,
            written,
            out_dir.display()
        ));
    }
    if pool_axis(&experiment).is_some() || !experiment.has_timeline() {
        console::out(&format!("{}\n", rec.headline()))?;
    } else {
        // `aggregate` keeps the experiment's point order.
        for (p, point) in result.points.iter().zip(&experiment.points) {
            let clock_start = point.spec.simulation.clock_start.as_deref();
            let first_page = p
                .alerts
                .first()
                .map(|a| {
                    let at = clock(clock_start, a.fired_s);
                    format!(", first page at {at} ({})", a.name)
                })
                .unwrap_or_default();
            console::out(&format!(
                "{}: {:.2}% of requests failed{first_page}
",
                point_label(&experiment, p),
                p.error_rate.mean * 100.0
            ))?;
        }
    }
    if args.check {
        if let Some(reason) = rec.check_failure() {
            console::out(&format!("check failed: {reason}\n"))?;
            return Ok(ExitCode::from(1));
        }
        console::out(&format!(
            "check passed: pool.max_size = {} carries the planned growth {:.2}x with all instances serving, with {} lost and during a deploy\n",
            rec.current_pool_size,
            rec.planned_growth,
            match rec.instance_loss {
                1 => "one instance".to_string(),
                n => format!("{n} instances"),
            }
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Names a point on stdout: its variant (or the model) and, when the experiment
/// sweeps axes too, every axis value, so no two lines read alike.
fn point_label(experiment: &Experiment, point: &PointResult) -> String {
    let variant = &experiment.variants[point.variant].name;
    let mut label = if variant.is_empty() {
        experiment.baseline.name.clone()
    } else {
        variant.clone()
    };
    let values: Vec<String> = experiment
        .axes
        .iter()
        .zip(&point.values)
        .map(|(axis, value)| format!("{} = {value}", axis.path))
        .collect();
    if !values.is_empty() {
        label.push_str(&format!(" ({})", values.join(", ")));
    }
    label
}
