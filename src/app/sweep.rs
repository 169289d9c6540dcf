//! `poolsim sweep`: run the experiment, plan from its points, write the report set.
//!
//! The only place where simulation (`sweep`), planning (`recommend`) and
//! presentation (`report`) meet, so each of those flows one way. The output's
//! lock is taken before the first run and held until the set is committed; every
//! finished run is journaled beside the output so that `--resume` continues a
//! killed sweep, and `--shard` writes one share of the runs as a part for `merge`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::{console, AppError};
use crate::cli::SweepArgs;
use crate::config::experiment::Experiment;
use crate::config::overrides::parse_override_value;
use crate::recommend::{recommend, Recommendations};
use crate::report::export::{default_exporters, render_all, ReportInput};
use crate::report::output::{lock_output, OutputFile, OutputLock};
use crate::report::timeline::clock;
use crate::sweep::journal::Journal;
use crate::sweep::run_lines::fingerprint;
use crate::sweep::shard::{check_count, part_files, split_runs, Shard, SweepSource};
use crate::sweep::{pool_axis, run_numbered, sweep_result, PointResult, Run, SweepResult};

pub fn run_sweep_command(args: &SweepArgs) -> Result<ExitCode, AppError> {
    super::refuse_non_experiment(&args.experiment)?;
    let overrides: Vec<(String, toml::Value)> = args
        .overrides
        .iter()
        .map(|(path, value)| (path.clone(), parse_override_value(value)))
        .collect();
    let experiment = Experiment::load_with(&args.experiment, args.seed, &overrides)?;
    let (mut events, mut memory_bytes) = (0.0, 0.0_f64);
    // Adaptive replications: the `min` every point gets (most points stop there).
    let replications = experiment
        .adaptive
        .map_or(experiment.replications, |a| a.min);
    for point in &experiment.points {
        let budget = crate::model::budget::estimate(&point.spec, experiment.has_timeline());
        events += budget.events * f64::from(replications);
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
    let shard = args
        .shard
        .map(|s| s.resolve(&|name| std::env::var(name).ok()))
        .transpose()
        .and_then(|shard| match shard {
            Some(s) => check_count(&experiment, s.count).map(|_| shard),
            None => Ok(None),
        })
        .map_err(anyhow::Error::msg)?;
    let out_dir: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| experiment.out_dir.clone());
    let lock = lock_output(&out_dir)?;
    let started = Instant::now();
    let runs_total = experiment.points.len() * experiment.replications as usize;
    let numbers: Vec<usize> = match shard {
        Some(s) => split_runs(&experiment, s.count).swap_remove(s.index as usize - 1),
        None => (0..runs_total).collect(),
    };
    let (runs, journal, resumed) = run_journaled(&experiment, &numbers, shard, &lock, args)?;
    let Some(shard) = shard else {
        let published = publish(&experiment, runs, started, &lock, args.threads, args.quiet)?;
        journal.remove()?;
        if !args.quiet {
            console::err(&format!(
                "{} runs ({} points x {} replications{}) in {:.1} s; wrote {} files to {}\n",
                published.result.runs.len(),
                published.result.points.len(),
                match experiment.adaptive {
                    Some(rule) => format!("{} to {} adaptive", rule.min, experiment.replications),
                    None => experiment.replications.to_string(),
                },
                match resumed {
                    0 => String::new(),
                    n => format!(", {n} resumed from the journal"),
                },
                published.result.wall_seconds,
                published.files,
                out_dir.display()
            ));
        }
        print_verdicts(&experiment, &published.result, &published.recommendations)?;
        return Ok(check(&published.recommendations, args.check)?);
    };
    let source = SweepSource {
        experiment: args.experiment.display().to_string(),
        seed: args.seed,
        set: args.overrides.clone(),
    };
    let files: Vec<OutputFile> = part_files(&experiment, &source, shard, &runs)?
        .into_iter()
        .map(|(path, bytes)| OutputFile::new(path, bytes))
        .collect();
    lock.commit(&files)?;
    journal.remove()?;
    if !args.quiet {
        console::err(&format!(
            "shard {shard}: {} of {runs_total} runs ({resumed} resumed) in {:.1} s; wrote the part to {} (combine the parts with poolsim merge)\n",
            runs.len(),
            started.elapsed().as_secs_f64(),
            out_dir.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `numbers` (those an earlier journal of the same sweep holds are taken from it
/// with `--resume`), journaling each as it finishes. Returns the runs by number, the
/// journal (to remove once the outputs are committed) and how many were resumed.
fn run_journaled(
    experiment: &Experiment,
    numbers: &[usize],
    shard: Option<Shard>,
    lock: &OutputLock,
    args: &SweepArgs,
) -> Result<(BTreeMap<usize, Run>, Journal, usize), AppError> {
    let sweep_id = format!(
        "{} shard {}",
        fingerprint(experiment),
        shard.map_or("all".to_string(), |s| s.to_string())
    );
    let opened = Journal::open(&lock.beside("journal"), &sweep_id, args.resume)?;
    let journal = opened.journal;
    if opened.discarded && !args.quiet {
        console::err(&format!(
            "note: started over; {} held the runs of an interrupted sweep (--resume continues them)\n",
            journal.path().display()
        ));
    }
    let resumed_runs: BTreeMap<usize, Run> = opened
        .finished
        .into_iter()
        .filter(|(number, _)| numbers.binary_search(number).is_ok())
        .collect();
    let resumed = resumed_runs.len();
    let runs = run_numbered(
        experiment,
        numbers,
        &resumed_runs,
        args.threads,
        !args.quiet,
        &|number, run| journal.append(number, run),
    )?;
    Ok((runs, journal, resumed))
}

/// What `publish` made.
pub(super) struct Published {
    pub result: SweepResult,
    pub recommendations: Recommendations,
    /// Files written.
    pub files: usize,
}

/// Aggregates every run of the sweep (by run number), plans from the points and
/// commits the whole report set under `lock`: the end of `sweep` and of `merge`.
pub(super) fn publish(
    experiment: &Experiment,
    runs: BTreeMap<usize, Run>,
    started: Instant,
    lock: &OutputLock,
    threads: Option<usize>,
    quiet: bool,
) -> anyhow::Result<Published> {
    let result = sweep_result(experiment, runs.into_values().collect(), started);
    if !quiet && pool_axis(experiment).is_some() {
        // Planning simulates more models (an instance lost, a deploy) with no bar of its own.
        console::err(&format!(
            "sweep: {} points in {:.0} s; now checking each pool size with an instance lost and during a rolling deploy\n",
            result.points.len(),
            result.wall_seconds
        ));
    }
    let recommendations = recommend(experiment, &result.points, threads)?;
    let input = ReportInput {
        experiment,
        sweep: &result,
        recommendations: &recommendations,
    };
    let files = render_all(&input, &default_exporters())?;
    lock.commit(&files)?;
    Ok(Published {
        files: files.len(),
        result,
        recommendations,
    })
}

/// The headline; without a pool size axis, the what-if verdicts or (with a timeline) each
/// point's outcome.
pub(super) fn print_verdicts(
    experiment: &Experiment,
    result: &SweepResult,
    rec: &Recommendations,
) -> std::io::Result<()> {
    print_main_verdicts(experiment, result, rec)?;
    let proxy = crate::report::proxy_section::proxy_verdict_lines(experiment, &result.points);
    if proxy.is_empty() {
        return Ok(());
    }
    console::out(&(proxy.join("\n") + "\n"))
}

/// The verdicts without PgBouncer's lines (`print_verdicts` adds those).
fn print_main_verdicts(
    experiment: &Experiment,
    result: &SweepResult,
    rec: &Recommendations,
) -> std::io::Result<()> {
    if let Some(plan) = &rec.services {
        let steady = if plan.events_left_out > 0 {
            " (steady state, without the model's events)"
        } else {
            ""
        };
        console::out(&format!(
            "connection budget{steady}: {}\n",
            plan.split_line()
        ))?;
        if let Some(first) = &plan.exhausts_first {
            console::out(&format!(
                "{first}'s growth exhausts the shared database first\n"
            ))?;
        }
    }
    if pool_axis(experiment).is_some() {
        return console::out(&format!("{}\n", rec.headline()));
    }
    if !experiment.has_timeline() {
        // A what-if comparison: no pool size was swept, so there is no size to recommend.
        let lines = crate::report::variants::verdict_lines(experiment, &result.points);
        return console::out(&(lines.join("\n") + "\n"));
    }
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
            "{}: {:.2}% of requests failed{first_page}\n",
            point_label(experiment, p),
            p.error_rate.mean * 100.0
        ))?;
    }
    Ok(())
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

/// `--check`: exit 1 when the current setting does not carry the planned growth.
fn check(rec: &Recommendations, enabled: bool) -> std::io::Result<ExitCode> {
    if !enabled {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(reason) = rec.check_failure() {
        console::out(&format!("check failed: {reason}\n"))?;
        return Ok(ExitCode::from(1));
    }
    console::out(&format!(
        "check passed: {} = {} carries the planned growth {:.2}x with all instances serving, with {} lost and during a deploy\n",
        rec.size_path,
        rec.current_pool_size,
        rec.planned_growth,
        match rec.instance_loss {
            1 => "one instance".to_string(),
            n => format!("{n} instances"),
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}
