//! The subcommands: each turns settled arguments into library calls and output.
//!
//! Kept apart from `main.rs` so that tests and benchmarks can drive the same code.

pub mod calibrate;
pub mod console;
pub mod fit;
mod merge;
mod run_progress;
mod sweep;

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{CheckArgs, Cli, Command, OutputFormat, RunArgs, ValidateArgs};
use crate::config::model::ModelSource;
use crate::config::overrides::parse_override_value;
use crate::config::InputError;
use crate::model::RunOptions;
use crate::report::table;

/// `run --format json`: the keys docs/outputs.md lists, plus `alerts` when the model defines alert rules.
#[derive(serde::Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    summary: &'a crate::stats::summary::Summary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alerts: &'a Vec<crate::report::timeline::AlertReport>,
}

/// What went wrong, and so which exit code to use.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: exit code 2.
    #[error("{0}")]
    Input(#[from] InputError),
    /// Anything else (I/O on outputs): exit code 2 as well, with the cause chain.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    /// Writing to stdout failed: quiet on a broken pipe, one line otherwise.
    #[error("cannot write to standard output: {0}")]
    Write(#[from] std::io::Error),
}

pub fn run(cli: Cli) -> Result<ExitCode, AppError> {
    match cli.command {
        Command::Run(args) => run_model(&args),
        Command::Sweep(args) => sweep::run_sweep_command(&args),
        Command::Validate(args) => validate(&args),
        Command::Check(args) => check_files(&args),
        Command::Fit(args) => crate::app::fit::run(&args),
        Command::Calibrate(args) => crate::app::calibrate::run(&args),
        Command::Merge(args) => merge::run_merge_command(&args),
    }
}

fn run_model(args: &RunArgs) -> Result<ExitCode, AppError> {
    let source = ModelSource::read(&args.model)?;
    refuse_wrong_kind(&args.model, &source.table, FileKind::Model)?;
    let mut overrides: Vec<(String, toml::Value)> = args
        .overrides
        .iter()
        .map(|(path, value)| (path.clone(), parse_override_value(value)))
        .collect();
    if let Some(seed) = args.seed {
        overrides.push(("simulation.seed".into(), toml::Value::Integer(seed as i64)));
    }
    let spec = source
        .build(&overrides)
        .map_err(|e| blame_override(e, &args.overrides))?;
    let budget = crate::model::budget::estimate(&spec, args.timeseries.is_some());
    if let Some(why) = args
        .limits
        .limits()
        .check(budget.events, budget.memory_bytes)
    {
        return Err(InputError::new(&args.model, why)
            .hint("shorten simulation.horizon, lower traffic.rate, or lengthen simulation.sample_interval")
            .into());
    }
    if !args.quiet {
        announce_long_run(budget.events, 1);
    }
    let output = run_progress::simulate_with_progress(
        &spec,
        RunOptions {
            replication: args.replication,
        },
        args.timeseries.is_some(),
        !args.quiet,
    );
    if output.summary.requests.offered == 0 {
        return Err(InputError::new(
            &args.model,
            format!(
                "nothing was measured: no request arrived between the warmup ({}) and the horizon ({})",
                crate::config::duration::format_duration(spec.simulation.warmup),
                crate::config::duration::format_duration(spec.simulation.horizon)
            ),
        )
        .field("simulation.warmup")
        .hint("lower simulation.warmup, lengthen simulation.horizon, or raise traffic.rate (or a zero traffic.profile)")
        .into());
    }
    let detection = crate::report::timeline::detection(&spec, &output.series, &output.alerts);
    if let Some(path) = &args.timeseries {
        crate::report::timeline::write_run_timeline(&spec, &output, path)?;
    }
    match args.format {
        OutputFormat::Table => {
            console::out(&table::render(&spec, args.replication, &output.summary))?;
            console::out(&crate::report::timeline::render_detection(
                &spec,
                &output.series,
                &detection,
            ))?;
        }
        OutputFormat::Json => {
            let report = RunJson {
                summary: &output.summary,
                alerts: &detection,
            };
            let json = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
            console::out(&format!("{json}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says up front, on stderr, how long a big job will take (at a conservative
/// 10 million events per second per thread), so a long silence is expected.
pub(crate) fn announce_long_run(events: f64, threads: usize) {
    const LONG_EVENTS: f64 = 2e8;
    if events >= LONG_EVENTS {
        console::err(&format!(
            "estimated {events:.2e} events: about {:.0} s of simulation on {threads} thread(s)\n",
            events / 1e7 / threads.max(1) as f64
        ));
    }
}

/// An error in a field that `--set` replaced is about the `--set`, not the file:
/// say so, and drop the file's line, which holds the value that was replaced.
fn blame_override(mut error: InputError, overrides: &[(String, String)]) -> InputError {
    let Some(field) = error.field.clone() else {
        return error;
    };
    let hit = overrides.iter().rev().find(|(path, _)| {
        let under = |outer: &str, inner: &str| {
            inner.strip_prefix(outer).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        };
        under(path, &field) || under(&field, path)
    });
    if let Some((path, value)) = hit {
        error.line = None;
        error.message = format!("{} (from --set {path}={value})", error.message);
    }
    error
}

fn validate(args: &ValidateArgs) -> Result<ExitCode, AppError> {
    let report = crate::validate::run_all(args.replications);
    console::out(&report.render())?;
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_files(args: &CheckArgs) -> Result<ExitCode, AppError> {
    for file in &args.files {
        check_one(file)?;
        console::out(&format!("{}: ok\n", file.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn check_one(file: &Path) -> Result<(), AppError> {
    let text = crate::config::input_file::read_regular(file).map_err(|e| {
        InputError::new(file, format!("cannot read the file: {e}")).hint("check the path")
    })?;
    let table = crate::config::model::parse_toml(file, &text)?;
    if FileKind::of(&table) == FileKind::Experiment {
        crate::config::experiment::Experiment::load(file)?;
    } else {
        ModelSource::read(file)?.build(&[])?;
    }
    Ok(())
}

/// Which of poolsim's two input files a TOML table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Model,
    Experiment,
}

impl FileKind {
    /// An experiment names its model (or sweeps, or replicates); a model does neither.
    fn of(table: &toml::Table) -> FileKind {
        let experiment_keys = ["model", "sweep", "replications", "slo", "variants"];
        if experiment_keys.iter().any(|key| table.contains_key(*key)) {
            FileKind::Experiment
        } else {
            FileKind::Model
        }
    }
}

/// Says so when `run` gets an experiment or `sweep` gets a model, instead of
/// letting the parser complain about a missing field of the other kind.
fn refuse_wrong_kind(file: &Path, table: &toml::Table, wanted: FileKind) -> Result<(), InputError> {
    let found = FileKind::of(table);
    if found == wanted {
        return Ok(());
    }
    let shown = file.display();
    Err(match found {
        FileKind::Experiment => InputError::new(file, "this is an experiment file (it has `model`, `sweep` or `slo`), but `run` takes a model file")
            .hint(format!("sweep it with `poolsim sweep {shown}`, or run its model: `poolsim run MODEL` (docs/experiment.md)")),
        FileKind::Model => InputError::new(file, "this is a model file, but `sweep` takes an experiment file (with `model = \"...\"`, `[sweep]` and `[slo]`)")
            .hint(format!("run it once with `poolsim run {shown}`, or write an experiment whose `model` points to it (docs/experiment.md)")),
    })
}

/// Reads `file` and refuses it if it is not an experiment. A file that cannot be
/// read or parsed passes, so the experiment loader reports it as it always has.
fn refuse_non_experiment(file: &Path) -> Result<(), InputError> {
    let Ok(text) = crate::config::input_file::read_regular(file) else {
        return Ok(());
    };
    match toml::from_str::<toml::Table>(&text) {
        Ok(table) => refuse_wrong_kind(file, &table, FileKind::Experiment),
        Err(_) => Ok(()),
    }
}
