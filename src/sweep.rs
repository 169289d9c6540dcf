//! Sweeps: every point x replication on rayon, in a deterministic order, then aggregated.
//!
//! Each run's random streams depend only on (seed, replication, source), so all
//! points of a replication share their arrivals and service times (common random
//! numbers), and the results are the same whatever the thread count: rayon's
//! indexed `collect` puts every run back in its place.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Instant;

use anyhow::Context;
use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::config::experiment::{Experiment, GROWTH_PATH, POOL_SIZE_PATH};
use crate::config::model::{ServiceView, SystemSpec};
use crate::model::{simulate_detailed, RunOptions};
use crate::stats::confidence::{estimate, Estimate};
use crate::stats::series::{
    evaluate_alerts, mean_series, phase_stats, AlertFiring, IntervalSample, PhaseStats,
};
use crate::stats::summary::{FailureCounts, ServiceSummary, Summary};
use proxy_point::aggregate_proxy;
pub use proxy_point::ProxyPoint;
pub use verdict::{decision, is_decided, meets_slo, passes, replications_pass, Precision};

pub mod journal;
pub mod proxy_point;
pub mod run_lines;
pub mod shard;
pub mod verdict;

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
    /// In a `[[services]]` model, these three are the focus service's (`Experiment::focus`).
    pub pool_size: u32,
    pub growth: f64,
    pub instances: u32,
    /// The other services' (instances + surge) x connections per instance: what the
    /// database holds for them beside the focus service's pools (0 with one service).
    pub neighbour_connections: u32,
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
    /// Replications this point got (fewer than the maximum when adaptive replications stopped early).
    pub replications: u32,
    /// The relative precision its p99 and error-rate intervals reached, and whether its
    /// SLO decision was settled (adaptive replications stop there).
    pub precision: Precision,
    /// Mean series over replications (models with a timeline only).
    pub series: Vec<IntervalSample>,
    /// Alert rules evaluated on the mean series.
    pub alerts: Vec<AlertFiring>,
    /// The experiment's phases, measured on the mean series.
    pub phases: Vec<PhaseStats>,
    /// Database connects refused, mean per replication.
    pub db_connect_refusals: f64,
    /// Failed requests by kind, summed over the replications (the whole system's).
    pub failures: FailureCounts,
    /// Each service's own figures when several share the database (empty otherwise).
    pub services: Vec<ServicePoint>,
    /// PgBouncer's figures (models with a `[proxy]` only).
    pub proxy: Option<ProxyPoint>,
}

/// One service's aggregated figures at a point of a `[[services]]` model.
#[derive(Debug, Clone)]
pub struct ServicePoint {
    pub name: String,
    pub pool_size: u32,
    pub instances: u32,
    pub growth: f64,
    pub latency_p99_ms: Estimate,
    pub latency_p50_ms: Estimate,
    pub error_rate: Estimate,
    pub throughput_rps: Estimate,
    pub pool_wait_mean_ms: Estimate,
    /// Largest over the replications.
    pub peak_pool_connections: u32,
    /// Database connects this service's pools had refused, mean per replication.
    pub db_connect_refusals: f64,
    /// Whether this service's simulated p99 and error rate meet the SLO.
    pub simulated_slo_pass: bool,
    /// The service's own PgBouncer figures (a service with `[services.proxy]` only).
    pub proxy: Option<ProxyPoint>,
}

/// Everything a sweep produced.
pub struct SweepResult {
    pub runs: Vec<Run>,
    pub points: Vec<PointResult>,
    pub wall_seconds: f64,
}

/// Runs every point's replications on `threads` threads (all cores when `None`).
pub fn run_sweep(
    experiment: &Experiment,
    threads: Option<usize>,
    progress: bool,
) -> anyhow::Result<SweepResult> {
    let started = Instant::now();
    let all: Vec<usize> = (0..experiment.points.len() * experiment.replications as usize).collect();
    let runs = run_numbered(
        experiment,
        &all,
        &BTreeMap::new(),
        threads,
        progress,
        &|_, _| Ok(()),
    )?;
    Ok(sweep_result(
        experiment,
        runs.into_values().collect(),
        started,
    ))
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

/// Runs the points of the runs numbered `numbers` (point x replications + replication):
/// with fixed replications exactly those runs; with adaptive replications as many of
/// each point's runs as `replicate` decides. Runs in `resumed` are taken from there
/// instead of simulated; `finished` is called with each run simulated (the journal).
/// Returns every run of those points, resumed ones included, by run number.
pub fn run_numbered(
    experiment: &Experiment,
    numbers: &[usize],
    resumed: &BTreeMap<usize, Run>,
    threads: Option<usize>,
    progress: bool,
    finished: &(dyn Fn(usize, &Run) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<BTreeMap<usize, Run>> {
    let replications = experiment.replications;
    // Every point records its series when any does: a variant that removes the events
    // (`set = { events = [] }`) is compared with the others interval by interval.
    let record_series = experiment.has_timeline();
    let mut candidates: Vec<(usize, Vec<u32>)> = Vec::new();
    for &number in numbers {
        let (point, replication) = (
            number / replications as usize,
            (number % replications as usize) as u32,
        );
        match candidates.last_mut() {
            Some((last, list)) if *last == point => list.push(replication),
            _ => candidates.push((point, vec![replication])),
        }
    }
    let points_total = candidates.len();
    let bar = progress_bar(numbers.len() as u64, points_total, progress);
    let points_done = AtomicUsize::new(0);
    let point_done = |_point: usize, skipped: usize| {
        let done = points_done.fetch_add(1, Ordering::Relaxed) + 1;
        bar.dec_length(skipped as u64);
        bar.set_message(format!("{done}/{points_total} points"));
    };
    let simulate = |point: usize, replication: u32| {
        let number = point * replications as usize + replication as usize;
        if let Some(run) = resumed.get(&number) {
            bar.inc(1);
            return Ok(run.clone());
        }
        let spec = &experiment.points[point].spec;
        let output = simulate_detailed(spec, RunOptions { replication }, record_series);
        bar.inc(1);
        let run = Run {
            point,
            replication,
            summary: output.summary,
            series: output.series,
        };
        finished(number, &run)?;
        Ok(run)
    };
    let runs = in_worker_pool(threads, || {
        replicate(experiment, &candidates, &simulate, &point_done)
    })?;
    bar.finish_and_clear();
    Ok(runs?
        .into_iter()
        .map(|run| {
            (
                run.point * replications as usize + run.replication as usize,
                run,
            )
        })
        .collect())
}

/// The one replication rule of every phase that simulates (the grid, the degraded
/// conditions, the sensitivity walks). `models` lists each model (a point, or an
/// index into the models `run` knows) with the replications it may get, in order.
///
/// With fixed replications every model gets all of them. With adaptive ones each
/// model gets `min`, then further batches of `min` while its decision is still open
/// (see `is_decided`), up to the list's end. A model's decisions depend only on its
/// own runs, and replication k always has the same random streams (common random
/// numbers), so the runs are the same whatever the thread count, the other models or
/// the shard. Models run in parallel, and each batch's replications too; the runs
/// come back model by model, each in replication order. `model_done` is told each
/// finished model and how many of its replications it did not need.
pub fn replicate(
    experiment: &Experiment,
    models: &[(usize, Vec<u32>)],
    run: &(dyn Fn(usize, u32) -> anyhow::Result<Run> + Sync),
    model_done: &(dyn Fn(usize, usize) + Sync),
) -> anyhow::Result<Vec<Run>> {
    let per_model = models
        .par_iter()
        .map(|(model, allowed)| {
            let batch = match experiment.adaptive {
                Some(rule) => rule.min as usize,
                None => allowed.len(),
            };
            let mut runs: Vec<Run> = Vec::with_capacity(allowed.len());
            while runs.len() < allowed.len() {
                let next = &allowed[runs.len()..(runs.len() + batch).min(allowed.len())];
                let fresh = next
                    .par_iter()
                    .map(|&replication| run(*model, replication))
                    .collect::<anyhow::Result<Vec<Run>>>()?;
                runs.extend(fresh);
                if let Some(rule) = experiment.adaptive {
                    let summaries: Vec<&Summary> = runs.iter().map(|r| &r.summary).collect();
                    if decision(experiment, rule.precision, &summaries).decided {
                        break;
                    }
                }
            }
            model_done(*model, allowed.len() - runs.len());
            Ok(runs)
        })
        .collect::<anyhow::Result<Vec<Vec<Run>>>>()?;
    Ok(per_model.into_iter().flatten().collect())
}

/// Runs `work` on `threads` worker threads: on the pool the caller already runs on
/// (planning runs its phases side by side there), or on a new one.
pub fn in_worker_pool<R: Send>(
    threads: Option<usize>,
    work: impl FnOnce() -> R + Send,
) -> anyhow::Result<R> {
    if rayon::current_thread_index().is_some() {
        return Ok(work());
    }
    Ok(worker_pool(threads)?.install(work))
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

/// The runs of each point: `runs` in run order, cut where the point changes.
fn runs_by_point(points: usize, runs: &[Run]) -> Vec<&[Run]> {
    let mut rest = runs;
    (0..points)
        .map(|point| {
            let count = rest.iter().take_while(|r| r.point == point).count();
            let (these, after) = rest.split_at(count);
            rest = after;
            these
        })
        .collect()
}

/// A point's mean series over its runs, the alerts it fires and the experiment's
/// phases measured on it (all empty for models without a timeline).
fn point_series(
    experiment: &Experiment,
    spec: &SystemSpec,
    runs: &[Run],
) -> (Vec<IntervalSample>, Vec<AlertFiring>, Vec<PhaseStats>) {
    let series = mean_series(&runs.iter().map(|r| r.series.as_slice()).collect::<Vec<_>>());
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
    (series, alerts, phases)
}

/// Mean and 95% interval of each key metric per point, and the SLO verdict.
pub fn aggregate(experiment: &Experiment, runs: &[Run]) -> Vec<PointResult> {
    experiment
        .points
        .iter()
        .zip(runs_by_point(experiment.points.len(), runs))
        .enumerate()
        .map(|(index, (point, point_runs))| {
            let replications = point_runs.len();
            let summaries: Vec<&Summary> = point_runs.iter().map(|r| &r.summary).collect();
            let metric = |f: &dyn Fn(&Summary) -> f64| {
                estimate(
                    &summaries.iter().map(|s| f(s)).collect::<Vec<_>>(),
                    CONFIDENCE,
                )
            };
            let spec = &point.spec;
            let precision = decision(
                experiment,
                experiment.adaptive.map_or(0.0, |a| a.precision),
                &summaries,
            );
            let planned = spec.service(experiment.focus.index);
            let instances = planned.fleet.instances;
            // The pool figures are the planned service's own in a `[[services]]` model.
            let pool_summaries: Vec<&Summary> = match spec.is_multi_service() {
                true => summaries
                    .iter()
                    .map(|s| &s.services[experiment.focus.index].summary)
                    .collect(),
                false => summaries.clone(),
            };
            let pool_metric = |f: &dyn Fn(&Summary) -> f64| {
                estimate(
                    &pool_summaries.iter().map(|s| f(s)).collect::<Vec<_>>(),
                    CONFIDENCE,
                )
            };
            let latency_p99_ms = metric(&|s| s.latency_ms.p99);
            let error_rate = metric(&|s| s.error_rate);
            let services = service_points(experiment, spec, &summaries);
            // A `[[services]]` model passes when every service meets its own SLO.
            let simulated_slo_pass = match services.is_empty() {
                true => passes(&experiment.slo, &latency_p99_ms, &error_rate, replications),
                false => services.iter().all(|s| s.simulated_slo_pass),
            };
            let db = &spec.database;
            let surge_instances = experiment.surge_for(instances);
            let fleet_connections = shared_connections_needed(experiment, spec);
            let feasible =
                fits_the_database(spec, fleet_connections) && fits_the_proxies(experiment, spec);
            let (series, alerts, phases) = point_series(experiment, spec, point_runs);
            PointResult {
                proxy: aggregate_proxy(&summaries, CONFIDENCE),
                index,
                replications: replications as u32,
                precision,
                unstable_runs: summaries.iter().filter(|s| s.unstable.is_some()).count() as u32,
                variant: point.variant,
                series,
                alerts,
                phases,
                db_connect_refusals: mean_over(&summaries, |s| {
                    s.diagnostics.db_connect_refusals as f64
                }),
                failures: total_failures(&summaries),
                values: point.values.clone(),
                pool_size: planned.pool.size_setting,
                growth: planned.traffic.growth,
                instances,
                neighbour_connections: neighbour_connections(experiment, spec),
                latency_p99_ms,
                latency_p50_ms: metric(&|s| s.latency_ms.p50),
                error_rate,
                pool_wait_mean_ms: pool_metric(&|s| s.pool_wait_ms.mean),
                p_wait: pool_metric(&|s| s.p_wait),
                pool_pending: pool_metric(&|s| pool_pending(spec, instances, s)),
                pool_utilization: pool_metric(&|s| s.pool_utilization),
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
                services,
            }
        })
        .collect()
}

/// Failed requests by kind, summed over `summaries`.
fn total_failures(summaries: &[&Summary]) -> FailureCounts {
    let mut total = FailureCounts::default();
    for s in summaries {
        total.add(&s.failures);
    }
    total
}

/// Mean waiters per pool in one run (Little's law: acquisitions per second per pool x mean wait).
fn pool_pending(spec: &SystemSpec, instances: u32, s: &Summary) -> f64 {
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
}

/// Each service's figures at one point (with several services, a point meets the SLO
/// only when every service does), from its replications' summaries (empty for a
/// single-service model).
fn service_points(
    experiment: &Experiment,
    spec: &SystemSpec,
    summaries: &[&Summary],
) -> Vec<ServicePoint> {
    if !spec.is_multi_service() {
        return Vec::new();
    }
    spec.services()
        .enumerate()
        .map(|(k, service)| {
            let named: Vec<&ServiceSummary> = summaries.iter().map(|s| &s.services[k]).collect();
            let own: Vec<&Summary> = named.iter().map(|s| &s.summary).collect();
            let metric = |f: &dyn Fn(&Summary) -> f64| {
                estimate(&own.iter().map(|s| f(s)).collect::<Vec<_>>(), CONFIDENCE)
            };
            let latency_p99_ms = metric(&|s| s.latency_ms.p99);
            let error_rate = metric(&|s| s.error_rate);
            ServicePoint {
                proxy: aggregate_proxy(&own, CONFIDENCE),
                name: service.name.to_string(),
                pool_size: service.pool.size_setting,
                instances: service.fleet.instances,
                growth: service.traffic.growth,
                simulated_slo_pass: passes(
                    &experiment.service_slos[k],
                    &latency_p99_ms,
                    &error_rate,
                    own.len(),
                ),
                latency_p99_ms,
                latency_p50_ms: metric(&|s| s.latency_ms.p50),
                error_rate,
                throughput_rps: metric(&|s| s.throughput_rps),
                pool_wait_mean_ms: metric(&|s| s.pool_wait_ms.mean),
                peak_pool_connections: named
                    .iter()
                    .map(|s| s.peak_pool_connections)
                    .max()
                    .unwrap_or(0),
                db_connect_refusals: named
                    .iter()
                    .map(|s| s.db_connect_refusals as f64)
                    .sum::<f64>()
                    / named.len().max(1) as f64,
            }
        })
        .collect()
}

/// `connections_needed` over every service of the model, each fleet with its own deploy
/// surge: `sum over services of (instances + surge) x max_size + other + reserved`, a
/// service behind PgBouncer counting its server pools instead (`service_connections`).
/// The same as `connections_needed` for a single-service model.
pub fn shared_connections_needed(experiment: &Experiment, spec: &SystemSpec) -> u32 {
    let first = connections_needed(spec, experiment.surge_for(spec.fleet.instances)) as u64;
    let more: u64 = spec
        .services()
        .skip(1)
        .map(|s| {
            let instances = s.fleet.instances + experiment.surge_for(s.fleet.instances);
            service_connections(s, spec.database.slots_for_fleet(), instances)
        })
        .sum();
    (first + more).min(u32::MAX as u64) as u32
}

/// Database connections one service may hold with every pool full over `instances`
/// instances: behind PgBouncer only its server pools reach the database (proxy instances
/// x (default_pool_size + reserve_pool_size), however many app instances and client
/// connections), else instances x the pool's limit (an unbounded pool: all `slots`).
pub fn service_connections(service: ServiceView, slots: u32, instances: u32) -> u64 {
    match service.proxy {
        Some(proxy) => proxy.max_server_connections(),
        None => u64::from(instances) * u64::from(service.pool.max_connections_within(slots)),
    }
}

/// The connections the database holds for every service but the planned one, with every
/// pool full during a deploy: what the planned service's pools cannot have.
pub fn neighbour_connections(experiment: &Experiment, spec: &SystemSpec) -> u32 {
    let focus = experiment.focus.index;
    let all: u64 = spec
        .services()
        .enumerate()
        .filter(|(k, _)| *k != focus)
        .map(|(_, s)| {
            let instances = s.fleet.instances + experiment.surge_for(s.fleet.instances);
            service_connections(s, spec.database.slots_for_fleet(), instances)
        })
        .sum();
    all.min(u32::MAX as u64) as u32
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
/// Whether every PgBouncer accepts its service's client connections with every pool full
/// during a deploy: (instances + surge) x the pool's limit <= proxy instances x
/// `max_client_conn` (a hard limit too: PgBouncer refuses the rest). An unbounded pool
/// is judged by the refusals in the run instead.
pub fn fits_the_proxies(experiment: &Experiment, spec: &SystemSpec) -> bool {
    spec.services().all(|s| {
        let (Some(proxy), Some(per_instance)) = (s.proxy, s.pool.max_connections()) else {
            return true;
        };
        let instances = s.fleet.instances + experiment.surge_for(s.fleet.instances);
        u64::from(instances) * u64::from(per_instance)
            <= u64::from(proxy.instances) * u64::from(proxy.max_client_conn)
    })
}

pub fn fits_the_database(spec: &SystemSpec, fleet_connections: u32) -> bool {
    let unbounded_pool = spec
        .services()
        .any(|s| s.proxy.is_none() && s.pool.max_connections().is_none());
    unbounded_pool || fleet_connections <= spec.database.max_connections
}

/// The pool size axis value of a point (or the model's setting when not swept).
/// `pool.max_size` (the kind-neutral alias) or the kind's own size field.
/// In a `[[services]]` model, the focus service's (`services.<name>.pool.max_size`).
pub fn pool_axis(experiment: &Experiment) -> Option<usize> {
    let focus = &experiment.focus;
    let kind = experiment.baseline.service(focus.index).pool.kind;
    experiment
        .axis_index(&focus.path(POOL_SIZE_PATH))
        .or_else(|| experiment.axis_index(&focus.path(&kind.size_path())))
}

/// The traffic growth axis: `traffic.growth`, or the focus service's in a `[[services]]` model.
pub fn growth_axis(experiment: &Experiment) -> Option<usize> {
    experiment.axis_index(&experiment.focus.path(GROWTH_PATH))
}

/// The SLO verdict of one extra model (a deploy, a lost instance, an uncertain input).
#[derive(Debug, Clone)]
pub struct Verdict {
    pub latency_p99_ms: Estimate,
    pub error_rate: Estimate,
    pub slo_pass: bool,
}

/// Simulates each model with the experiment's replications (adaptive ones where the
/// experiment asks for them, through `replicate`), in parallel and in a fixed order
/// (results do not depend on the thread count), and judges it against the SLO.
pub fn evaluate_specs(
    experiment: &Experiment,
    specs: &[SystemSpec],
    threads: Option<usize>,
) -> anyhow::Result<Vec<Verdict>> {
    let all: Vec<u32> = (0..experiment.replications).collect();
    let models: Vec<(usize, Vec<u32>)> = (0..specs.len()).map(|m| (m, all.clone())).collect();
    let simulate = |model: usize, replication: u32| {
        let output = simulate_detailed(&specs[model], RunOptions { replication }, false);
        Ok(Run {
            point: model,
            replication,
            summary: output.summary,
            series: Vec::new(),
        })
    };
    let runs = in_worker_pool(threads, || {
        replicate(experiment, &models, &simulate, &|_, _| {})
    })??;
    Ok(runs_by_point(specs.len(), &runs)
        .into_iter()
        .map(|runs| {
            let latency_p99_ms = estimate(
                &runs
                    .iter()
                    .map(|r| r.summary.latency_ms.p99)
                    .collect::<Vec<_>>(),
                CONFIDENCE,
            );
            let error_rate = estimate(
                &runs
                    .iter()
                    .map(|r| r.summary.error_rate)
                    .collect::<Vec<_>>(),
                CONFIDENCE,
            );
            let summaries: Vec<&Summary> = runs.iter().map(|r| &r.summary).collect();
            let slo_pass = meets_slo(experiment, &summaries);
            Verdict {
                latency_p99_ms,
                error_rate,
                slo_pass,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::experiment::Slo;

    fn runs(p99_ms: &[f64], error_rate: &[f64]) -> Vec<Summary> {
        p99_ms
            .iter()
            .zip(error_rate)
            .map(|(&p99, &errors)| {
                let mut s = Summary {
                    error_rate: errors,
                    ..Summary::default()
                };
                s.latency_ms.p99 = p99;
                s
            })
            .collect()
    }

    fn decided(p99_ms: &[f64], error_rate: &[f64]) -> Precision {
        let slo = Slo {
            latency_p99_ms: 300.0,
            error_rate: 0.001,
        };
        let summaries = runs(p99_ms, error_rate);
        is_decided(&slo, 0.05, &summaries.iter().collect::<Vec<_>>())
    }

    #[test]
    fn a_point_is_decided_when_its_intervals_settle_the_slo() {
        // Wholly within the SLO: p99 100 ± 3.5 (t = 4.30, s = 1.41), no errors.
        let clear = decided(&[99.0, 100.0, 101.0], &[0.0; 3]);
        assert!(clear.decided);
        assert_eq!(clear.error_rate, 0.0);
        assert!((clear.latency_p99 - 4.303 * 1.0 / 3f64.sqrt() / 100.0).abs() < 1e-3);
        // Wholly above on p99 alone: fails whatever the error rate does.
        assert!(decided(&[400.0, 410.0, 420.0], &[0.0, 0.01, 0.0]).decided);
        // Straddling the SLO, wide: open.
        let open = decided(&[250.0, 300.0, 350.0], &[0.0; 3]);
        assert!(!open.decided && open.latency_p99 > 0.05);
        // Straddling but within ±5%: measured closely enough.
        assert!(decided(&[299.0, 300.0, 301.0], &[0.0; 3]).decided);
        // The error rate straddles its SLO widely: open although p99 is clear.
        assert!(!decided(&[100.0, 100.0, 100.0], &[0.0, 0.002, 0.0]).decided);
        // A replication without successes fails the point: decided.
        assert!(decided(&[100.0, f64::NAN, 100.0], &[0.0, 1.0, 0.0]).decided);
    }
}
