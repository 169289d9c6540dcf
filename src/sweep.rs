//! Sweeps: every point x replication on rayon, in a deterministic order, then aggregated.
//!
//! Each run's random streams depend only on (seed, replication, source), so all
//! points of a replication share their arrivals and service times (common random
//! numbers), and the results are the same whatever the thread count: rayon's
//! indexed `collect` puts every run back in its place.

use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Instant;

use anyhow::Context;
use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::config::experiment::{Experiment, Slo, GROWTH_PATH, POOL_SIZE_PATH};
use crate::config::model::SystemSpec;
use crate::model::{simulate_detailed, RunOptions};
use crate::stats::confidence::{estimate, Estimate};
use crate::stats::series::{
    evaluate_alerts, mean_series, phase_stats, AlertFiring, IntervalSample, PhaseStats,
};
use crate::stats::summary::Summary;
use proxy_point::aggregate_proxy;
pub use proxy_point::ProxyPoint;

pub mod journal;
pub mod proxy_point;
pub mod run_lines;
pub mod shard;

/// Confidence level of the intervals in points.csv and of the SLO checks.
pub const CONFIDENCE: f64 = 0.95;

/// One simulation of one point.
#[derive(Debug, Clone)]
pub struct Run {
    pub point: usize,
    pub replication: u32,
    pub summary: Summary,
    /// The sampled series, for models with a timeline (empty otherwise).
    pub series: Vec<IntervalSample>,
}

/// The replications of one point, aggregated.
#[derive(Debug, Clone)]
pub struct PointResult {
    /// Index into the experiment's points (and so into `SweepResult::points`).
    pub index: usize,
    /// Index into the experiment's variants.
    pub variant: usize,
    /// The value of each swept axis, in the experiment's axis order.
    pub values: Vec<f64>,
    /// The pool's size setting: its kind's size field (`PoolKind::size_field`).
    pub pool_size: u32,
    pub growth: f64,
    pub instances: u32,
    pub latency_p99_ms: Estimate,
    pub latency_p50_ms: Estimate,
    pub error_rate: Estimate,
    pub pool_wait_mean_ms: Estimate,
    pub p_wait: Estimate,
    /// Mean waiters per pool (Little's law: acquisitions per second per pool x mean wait).
    pub pool_pending: Estimate,
    pub pool_utilization: Estimate,
    pub db_utilization: Estimate,
    pub throughput_rps: Estimate,
    pub attempts_per_request: Estimate,
    /// Largest over the replications.
    pub peak_db_connections: u32,
    /// (instances + deploy surge) x each pool's `max_connections` + other + reserved: what the database must hold
    /// with every pool full during a deploy (autoscaling's max_instances when it scales out further).
    pub fleet_connections: u32,
    pub max_connections: u32,
    /// Deploy surge instances counted in `fleet_connections`.
    pub surge_instances: u32,
    /// Whether the database can hold `fleet_connections` (a hard limit: PostgreSQL refuses the rest).
    pub feasible: bool,
    /// Whether the simulated p99 and error rate meet the SLO (upper 95% bounds).
    pub simulated_slo_pass: bool,
    /// Meets the SLO and is feasible: the only verdict a plan may rely on.
    pub slo_pass: bool,
    /// Replications whose backlog grew without bound (offered load beyond capacity).
    pub unstable_runs: u32,
    /// Mean series over replications (models with a timeline only).
    pub series: Vec<IntervalSample>,
    /// Alert rules evaluated on the mean series.
    pub alerts: Vec<AlertFiring>,
    /// The experiment's phases, measured on the mean series.
    pub phases: Vec<PhaseStats>,
    /// Database connects refused, mean per replication.
    pub db_connect_refusals: f64,
    /// PgBouncer's figures (models with a `[proxy]` only).
    pub proxy: Option<ProxyPoint>,
}

/// Everything a sweep produced.
pub struct SweepResult {
    pub runs: Vec<Run>,
    pub points: Vec<PointResult>,
    pub wall_seconds: f64,
}

/// Runs every point x replication on `threads` threads (all cores when `None`).
pub fn run_sweep(
    experiment: &Experiment,
    threads: Option<usize>,
    progress: bool,
) -> anyhow::Result<SweepResult> {
    let started = Instant::now();
    let all: Vec<usize> = (0..experiment.points.len() * experiment.replications as usize).collect();
    let runs = run_numbered(experiment, &all, threads, progress, &|_, _| Ok(()))?;
    Ok(sweep_result(experiment, runs, started))
}

/// The result of a sweep from all its runs, in run order (see `run_lines::run_number`).
pub fn sweep_result(experiment: &Experiment, runs: Vec<Run>, started: Instant) -> SweepResult {
    let points = aggregate(experiment, &runs);
    SweepResult {
        runs,
        points,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs the runs numbered `numbers` (point x replications + replication), returned in
/// that order; `finished` is called with each run as it finishes (the journal).
pub fn run_numbered(
    experiment: &Experiment,
    numbers: &[usize],
    threads: Option<usize>,
    progress: bool,
    finished: &(dyn Fn(usize, &Run) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<Vec<Run>> {
    let replications = experiment.replications as usize;
    // Every point records its series when any does: a variant that removes the events
    // (`set = { events = [] }`) is compared with the others interval by interval.
    let record_series = experiment.has_timeline();
    let mut runs_per_point = vec![0usize; experiment.points.len()];
    for &number in numbers {
        runs_per_point[number / replications] += 1;
    }
    let points_total = runs_per_point.iter().filter(|&&n| n > 0).count();
    let bar = progress_bar(numbers.len() as u64, points_total, progress);
    let done_per_point: Vec<AtomicUsize> =
        runs_per_point.iter().map(|_| AtomicUsize::new(0)).collect();
    let points_done = AtomicUsize::new(0);
    let pool = worker_pool(threads)?;
    let runs = pool.install(|| {
        numbers
            .par_iter()
            .map(|&number| {
                let point = number / replications;
                let replication = (number % replications) as u32;
                let spec = &experiment.points[point].spec;
                let output = simulate_detailed(spec, RunOptions { replication }, record_series);
                if done_per_point[point].fetch_add(1, Ordering::Relaxed) + 1
                    == runs_per_point[point]
                {
                    let done = points_done.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{done}/{points_total} points"));
                }
                bar.inc(1);
                let run = Run {
                    point,
                    replication,
                    summary: output.summary,
                    series: output.series,
                };
                finished(number, &run)?;
                Ok(run)
            })
            .collect::<anyhow::Result<Vec<Run>>>()
    });
    bar.finish_and_clear();
    runs
}

fn worker_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n.max(1));
    }
    builder.build().context("cannot start the worker threads")
}

/// The sweep's progress on stderr (see `crate::progress`): a line at the start, then
/// every few seconds when stderr is not a terminal.
fn progress_bar(total_runs: u64, points: usize, enabled: bool) -> ProgressBar {
    let style = crate::progress::ProgressStyleSpec {
        bar_template:
            "{spinner} [{elapsed_precise}] {wide_bar} {msg}, {pos}/{len} runs, {per_sec}, ETA {eta}",
        line_at_start: true,
    };
    let first_message = format!("0/{points} points");
    crate::progress::start(total_runs, &style, first_message, enabled, |bar| {
        format!(
            "sweep: {}/{} runs, {}, {:.0} s elapsed{}",
            bar.position(),
            bar.length().unwrap_or(0),
            bar.message(),
            bar.elapsed().as_secs_f64(),
            crate::progress::time_left(bar)
        )
    })
}

/// Mean and 95% interval of each key metric per point, and the SLO verdict.
pub fn aggregate(experiment: &Experiment, runs: &[Run]) -> Vec<PointResult> {
    let replications = experiment.replications as usize;
    experiment
        .points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let summaries: Vec<&Summary> = runs[index * replications..(index + 1) * replications]
                .iter()
                .map(|r| &r.summary)
                .collect();
            let metric = |f: &dyn Fn(&Summary) -> f64| {
                estimate(
                    &summaries.iter().map(|s| f(s)).collect::<Vec<_>>(),
                    CONFIDENCE,
                )
            };
            let spec = &point.spec;
            let instances = spec.fleet.instances;
            let latency_p99_ms = metric(&|s| s.latency_ms.p99);
            let error_rate = metric(&|s| s.error_rate);
            let simulated_slo_pass =
                passes(&experiment.slo, &latency_p99_ms, &error_rate, replications);
            let db = &spec.database;
            let surge_instances = experiment.surge_for(instances);
            let fleet_connections = connections_needed(spec, surge_instances);
            let feasible = fits_the_database(spec, fleet_connections);
            let series = mean_series(
                &runs[index * replications..(index + 1) * replications]
                    .iter()
                    .map(|r| r.series.as_slice())
                    .collect::<Vec<_>>(),
            );
            let interval_s = spec.simulation.sample_interval.as_secs_f64();
            let alerts = evaluate_alerts(&spec.timeline.alerts, &series, interval_s);
            let phases = if series.is_empty() {
                Vec::new()
            } else {
                experiment
                    .phases
                    .iter()
                    .map(|p| phase_stats(&p.name, p.from_s, p.to_s, &series))
                    .collect()
            };
            PointResult {
                proxy: aggregate_proxy(&summaries, CONFIDENCE),
                index,
                unstable_runs: summaries.iter().filter(|s| s.unstable.is_some()).count() as u32,
                variant: point.variant,
                series,
                alerts,
                phases,
                db_connect_refusals: mean_over(&summaries, |s| {
                    s.diagnostics.db_connect_refusals as f64
                }),
                values: point.values.clone(),
                pool_size: spec.pool.size_setting,
                growth: spec.traffic.growth,
                instances,
                latency_p99_ms,
                latency_p50_ms: metric(&|s| s.latency_ms.p50),
                error_rate,
                pool_wait_mean_ms: metric(&|s| s.pool_wait_ms.mean),
                p_wait: metric(&|s| s.p_wait),
                pool_pending: metric(&|s| {
                    let acquisitions_per_s = s.diagnostics.acquisitions as f64
                        / spec
                            .simulation
                            .horizon
                            .saturating_sub(spec.simulation.warmup)
                            .as_secs_f64();
                    let wait_s = if s.pool_wait_ms.mean.is_nan() {
                        0.0
                    } else {
                        s.pool_wait_ms.mean / 1e3
                    };
                    acquisitions_per_s * wait_s / instances as f64
                }),
                pool_utilization: metric(&|s| s.pool_utilization),
                db_utilization: metric(&|s| s.db_utilization),
                throughput_rps: metric(&|s| s.throughput_rps),
                attempts_per_request: metric(&|s| {
                    s.requests.attempts as f64 / (s.requests.offered.max(1)) as f64
                }),
                peak_db_connections: summaries
                    .iter()
                    .map(|s| s.peak_db_connections)
                    .max()
                    .unwrap_or(0),
                fleet_connections,
                max_connections: db.max_connections,
                surge_instances,
                feasible,
                simulated_slo_pass,
                slo_pass: simulated_slo_pass && feasible,
            }
        })
        .collect()
}

/// The mean of `f` over a point's replications.
pub fn mean_over(summaries: &[&Summary], f: impl Fn(&Summary) -> f64) -> f64 {
    summaries.iter().map(|s| f(s)).sum::<f64>() / summaries.len().max(1) as f64
}

/// Connections the database must hold with every pool full (an unbounded pool counted as
/// all the database's slots; behind a proxy, its server pools): the fleet at its largest
/// (autoscaling's max_instances, if higher) plus `surge` deploy instances, plus other
/// clients and the superuser reserve. Saturates instead of overflowing.
pub fn connections_needed(spec: &SystemSpec, surge: u32) -> u32 {
    let db = &spec.database;
    if let Some(proxy) = &spec.proxy {
        // Behind PgBouncer only its server pools reach the database, whatever the app pools.
        let total = proxy.max_server_connections()
            + db.other_connections as u64
            + db.reserved_connections as u64;
        return total.min(u32::MAX as u64) as u32;
    }
    let instances = spec
        .timeline
        .autoscale
        .as_ref()
        .map_or(spec.fleet.instances, |a| {
            a.max_instances.max(spec.fleet.instances)
        });
    let per_instance = spec.pool.max_connections_within(db.slots_for_fleet());
    let total = (instances as u64 + surge as u64) * per_instance as u64
        + db.other_connections as u64
        + db.reserved_connections as u64;
    total.min(u32::MAX as u64) as u32
}

/// Whether the database holds `fleet_connections` (`connections_needed`). An unbounded
/// pool (go_sql max_open = 0) is not refused on paper: the database refuses its connects
/// during the run, and those db_refused failures count against the SLO instead.
pub fn fits_the_database(spec: &SystemSpec, fleet_connections: u32) -> bool {
    let unbounded_pool = spec.proxy.is_none() && spec.pool.max_connections().is_none();
    unbounded_pool || fleet_connections <= spec.database.max_connections
}

/// The SLO holds when the upper 95% bounds of p99 and error rate are within it,
/// and every replication had successful requests to measure.
pub fn passes(
    slo: &Slo,
    latency_p99_ms: &Estimate,
    error_rate: &Estimate,
    replications: usize,
) -> bool {
    latency_p99_ms.samples == replications
        && latency_p99_ms.hi <= slo.latency_p99_ms
        && error_rate.hi <= slo.error_rate
}

/// The pool size axis value of a point (or the model's setting when not swept).
/// `pool.max_size` (the kind-neutral alias) or the kind's own size field.
pub fn pool_axis(experiment: &Experiment) -> Option<usize> {
    experiment.axis_index(POOL_SIZE_PATH).or_else(|| {
        let own = format!("pool.{}", experiment.baseline.pool.kind.size_field());
        experiment.axis_index(&own)
    })
}

pub fn growth_axis(experiment: &Experiment) -> Option<usize> {
    experiment.axis_index(GROWTH_PATH)
}

/// The SLO verdict of one extra model (a deploy, a lost instance, an uncertain input).
#[derive(Debug, Clone)]
pub struct Verdict {
    pub latency_p99_ms: Estimate,
    pub error_rate: Estimate,
    pub slo_pass: bool,
}

/// Simulates each model with the experiment's replications, in parallel and in a
/// fixed order (results do not depend on the thread count), and judges it against the SLO.
pub fn evaluate_specs(
    experiment: &Experiment,
    specs: &[SystemSpec],
    threads: Option<usize>,
) -> anyhow::Result<Vec<Verdict>> {
    let replications = experiment.replications as usize;
    let pool = worker_pool(threads)?;
    let summaries: Vec<Summary> = pool.install(|| {
        (0..specs.len() * replications)
            .into_par_iter()
            .map(|task| {
                let spec = &specs[task / replications];
                let replication = (task % replications) as u32;
                simulate_detailed(spec, RunOptions { replication }, false).summary
            })
            .collect()
    });
    Ok(summaries
        .chunks(replications.max(1))
        .map(|runs| {
            let latency_p99_ms = estimate(
                &runs.iter().map(|s| s.latency_ms.p99).collect::<Vec<_>>(),
                CONFIDENCE,
            );
            let error_rate = estimate(
                &runs.iter().map(|s| s.error_rate).collect::<Vec<_>>(),
                CONFIDENCE,
            );
            let slo_pass = passes(&experiment.slo, &latency_p99_ms, &error_rate, replications);
            Verdict {
                latency_p99_ms,
                error_rate,
                slo_pass,
            }
        })
        .collect())
}
