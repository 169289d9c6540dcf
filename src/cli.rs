//! Command-line definitions (clap derive): one struct per subcommand.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::sweep::shard::{parse_shard_arg, ShardArg};

#[derive(Debug, Parser)]
#[command(
    name = "poolsim",
    version,
    about = "Discrete-event simulator for capacity planning of database connection pools",
    long_about = "poolsim simulates a fleet of application instances, each with a connection pool, in front of one database, request by request. It sweeps pool sizes against traffic growth and recommends safe limits.\n\nExit codes: 0 success; 1 `--check` found the current setting below the SLO (or `validate` found a mismatch); 2 bad input.\n\nReference (in the repository): docs/model.md (model files), docs/experiment.md (experiment files), docs/outputs.md (what each command writes), docs/domain.md (where the default numbers come from)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate one model once and print a summary.
    Run(RunArgs),
    /// Sweep an experiment (pool sizes x traffic growth x replications) and write the report.
    Sweep(SweepArgs),
    /// Check the engine against closed-form queueing results (Erlang B/C, M/M/c, Little's law).
    Validate(ValidateArgs),
    /// Check model or experiment files for errors without simulating.
    Check(CheckArgs),
    /// Fit time distributions to measured durations (samples, histogram, pg_stat_statements).
    Fit(FitArgs),
    /// Replay observed traffic through a model and compare with observed Prometheus series.
    Calibrate(CalibrateArgs),
    /// Combine the parts of a sharded sweep (`sweep --shard I/N`) into the files one sweep writes.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// `path=value`, e.g. `pool.max_size=20`.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((path, value)) if !path.trim().is_empty() && !value.trim().is_empty() => {
            Ok((path.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!(
            "`{text}` is not path=value; write e.g. --set pool.max_size=20"
        )),
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The model file (TOML; every field is described in docs/model.md).
    pub model: PathBuf,
    /// Override a field by its path: --set pool.max_size=20, --set request.steps[0].time.p99=30ms
    /// or --set 'request.steps["load user"].time.p99=30ms' (repeatable; paths in docs/model.md).
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_assignment)]
    pub overrides: Vec<(String, String)>,
    /// Seed for every random stream (overrides simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replication number (a different, independent set of streams for the same seed).
    #[arg(long, default_value_t = 0)]
    pub replication: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Write the sampled time series (one row per simulation.sample_interval) to this CSV,
    /// and a timeline chart beside it (<name>-timeline.png and .svg).
    #[arg(long, value_name = "FILE.csv")]
    pub timeseries: Option<PathBuf>,
    /// No estimate or progress on stderr (stdout is unchanged).
    #[arg(long, overrides_with = "progress")]
    pub quiet: bool,
    /// Report progress on stderr (the default): a bar on a terminal, otherwise a line
    /// every 5 s once a run takes that long. Overrides an earlier --quiet.
    #[arg(long, overrides_with = "quiet")]
    pub progress: bool,
}

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The experiment file (TOML; see docs/experiment.md).
    pub experiment: PathBuf,
    /// Worker threads (default: all cores), 1 to 1024. Results do not depend on it.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
    /// Output directory (overrides the experiment's output.dir).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress on stderr and no closing summary line (stdout is unchanged).
    #[arg(long, overrides_with = "progress")]
    pub quiet: bool,
    /// Report progress on stderr (the default): a bar on a terminal, otherwise a line
    /// at the start and every 5 s. Overrides an earlier --quiet.
    #[arg(long, overrides_with = "quiet")]
    pub progress: bool,
    /// Exit 1 when the model's current setting fails the SLO at the planned growth.
    #[arg(long)]
    pub check: bool,
    /// Seed (overrides the model's simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Override a field of the model before the sweep values apply: --set fleet.instances=10
    /// or --set request.steps[0].time.p99=30ms (repeatable; paths in docs/model.md).
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_assignment)]
    pub overrides: Vec<(String, String)>,
    /// Continue an interrupted sweep into the same --out from the runs it finished
    /// (each finished run is journaled); starts afresh when there is nothing to continue.
    #[arg(long)]
    pub resume: bool,
    /// Run only shard I of N (I from 1) and write a partial result to --out, for
    /// `poolsim merge`; `auto` or `auto/N` reads JOB_COMPLETION_INDEX (Kubernetes
    /// Indexed Job) or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm array).
    #[arg(long, value_name = "I/N|auto|auto/N", value_parser = parse_shard_arg, requires = "out", conflicts_with = "check")]
    pub shard: Option<ShardArg>,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The output directory: the files `poolsim sweep` would have written.
    #[arg(long, required = true)]
    pub out: PathBuf,
    /// The parts, one directory per shard (each `sweep --shard I/N --out PART`).
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// Worker threads for the recommendation's extra runs (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar or summary on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Limits on the estimated cost, checked before anything is simulated.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LimitArgs {
    /// Refuse when the estimated engine events (all runs together) exceed this.
    #[arg(long, value_name = "EVENTS", default_value_t = crate::model::budget::DEFAULT_MAX_EVENTS)]
    pub max_events: f64,
    /// Refuse when one run's estimated series and backlog exceed this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = crate::model::budget::DEFAULT_MAX_MEMORY_MIB)]
    pub max_memory: f64,
}

impl LimitArgs {
    pub fn limits(&self) -> crate::model::budget::Limits {
        crate::model::budget::Limits {
            max_events: self.max_events,
            max_memory_mib: self.max_memory,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Replications per check (more gives tighter intervals), 1 to 1000.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub replications: u32,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Model or experiment files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Raw durations (CSV, one column, unit from the header), a Prometheus histogram
    /// (.prom text exposition or query .json with `le` labels), or a pg_stat_statements
    /// CSV (query,calls,mean_exec_time,stddev_exec_time).
    pub file: PathBuf,
    /// Unit of the durations (or histogram bounds) when the header does not say.
    #[arg(long, value_enum)]
    pub unit: Option<crate::fit::input::TimeUnit>,
    /// Directory for the CDF charts.
    #[arg(long, default_value = "output/fit")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// The model file (TOML).
    pub model: PathBuf,
    /// OBS.toml: which Prometheus range-query JSON file holds which metric.
    #[arg(long, value_name = "OBS.toml")]
    pub observed: PathBuf,
    /// Search this parameter to minimise the error and write <model>.calibrated.toml:
    /// request.steps[N].time or request.steps["name"].time (a step's time scale, by index
    /// or by name as --set takes it), request.time (all steps), or a
    /// number or duration such as database.contention.serial.
    #[arg(long, value_name = "PATH")]
    pub fit: Option<String>,
    /// Directory for the overlay charts.
    #[arg(long, default_value = "output/calibrate")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}
