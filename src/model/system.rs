//! One simulation run: traffic, clients, the fleet's pools and the database, wired together.
//!
//! A request arrives, is routed to an instance, waits for a worker, runs its
//! steps (taking a connection from the instance's pool for its db steps) and
//! ends in success or exactly one failure kind. The client side (`Request`) and
//! the server side (`Job`, one per attempt) are separate, because when a client
//! gives up the server keeps working (zombie work) unless told to cancel.
//!
//! All state lives in slabs indexed by `u32` with generation counters, so the
//! event loop neither allocates per event nor chases stale events: an event that
//! refers to a job, connection or database epoch that has since moved on is
//! recognised by its generation and ignored.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::model::PoolSpec;
use crate::config::model::{
    Balancer, ConnectionScope, FailureKind, Fairness, StepKind, SystemSpec,
};
use crate::config::timeline::EventAction;
use crate::model::client::backoff;
use crate::model::database::Database;
use crate::model::pool::{ConnState, Pool, Waiter};
use crate::model::traffic::ArrivalProcess;
use crate::sim::queue::EventQueue;
use crate::sim::rng::{stream, Source, Stream};
use crate::sim::time::SimTime;
use crate::stats::series::{evaluate_alerts, AlertFiring, IntervalSample};
use crate::stats::summary::{Collector, Summary};
use hdrhistogram::Histogram;

mod timeline;
use rand::Rng;

/// HikariCP hands a returned connection to a parked waiter by waking its thread;
/// under `fairness = "barging"` a borrower that arrives within this window takes it first.
pub const BARGING_HANDOFF: SimTime = SimTime(20_000);
/// HikariCP's housekeeper runs every 30 s to close connections idle past `idle_timeout`.
const HOUSEKEEPING_PERIOD: SimTime = SimTime(30_000_000_000);
/// HikariCP retires each connection up to 2.5% before `max_lifetime`.
const LIFETIME_JITTER: f64 = 0.025;
const NONE: u32 = u32::MAX;
/// An instance removed by autoscaling gets this long to finish its work.
const SCALE_IN_DRAIN: SimTime = SimTime(30_000_000_000);
/// Kubernetes HPA's default scale-down stabilization window.
const SCALE_IN_STABILIZATION: SimTime = SimTime(300_000_000_000);

/// Which run of a model this is.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Replication number: part of every random stream's seed.
    pub replication: u32,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival,
    RetryStart {
        request: u32,
    },
    StepDone {
        job: u32,
        generation: u32,
    },
    DbWake {
        epoch: u32,
    },
    ConnectDone {
        instance: u32,
        connection: u32,
        epoch: u32,
    },
    ConnectRetry {
        instance: u32,
        epoch: u32,
    },
    Retire {
        instance: u32,
        connection: u32,
        generation: u32,
        epoch: u32,
    },
    Housekeep {
        instance: u32,
        epoch: u32,
    },
    AcquireDeadline {
        instance: u32,
        epoch: u32,
    },
    ClientDeadline,
    Handoff {
        instance: u32,
        epoch: u32,
    },
    Sample,
    Timeline {
        index: u32,
    },
    SlowdownEnd {
        index: u32,
    },
    InstanceUp {
        instance: u32,
    },
    RestartBatch {
        index: u32,
        batch: u32,
    },
    RestartInstance {
        instance: u32,
        index: u32,
    },
    Decommission {
        instance: u32,
    },
    RolloutEnd {
        index: u32,
    },
    ScaleOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    Free,
    /// Allocated, not yet given a worker or queued.
    Starting,
    /// In the instance's accept queue, waiting for a worker.
    Queued,
    /// Waiting for a connection.
    Waiting,
    /// Running an app step.
    App,
    /// A statement is executing at the database.
    InDb,
    /// The statement finished; its result is on the wire back.
    RoundTrip,
}

/// The server side of one attempt.
#[derive(Clone, Copy, Debug)]
struct Job {
    generation: u32,
    state: JobState,
    request: u32,
    instance: u32,
    step: u32,
    connection: u32,
    holds_worker: bool,
    wait_started: SimTime,
    /// The client stopped waiting; the work goes on as a zombie.
    abandoned: bool,
    measured: bool,
}

/// Whether `job` is still the same attempt (same generation) and in `state`: queues
/// and the database keep entries of jobs that have since moved on, and skip them.
fn still_in(jobs: &[Job], job: u32, generation: u32, state: JobState) -> bool {
    let j = &jobs[job as usize];
    j.generation == generation && j.state == state
}

/// The client side of one request, across its attempts.
#[derive(Clone, Copy, Debug)]
struct Request {
    offered_at: SimTime,
    attempts: u32,
    last_backoff: SimTime,
    measured: bool,
}

struct Instance {
    pool: Pool,
    busy_workers: u32,
    accept_queue: VecDeque<(u32, u32)>,
    queued: u32,
    outstanding: u32,
    /// Running (false while down, restarting or decommissioned).
    up: bool,
    /// Receives new requests (false while draining).
    accepting: bool,
    /// Bumped when the pool is replaced, so events for the old pool are ignored.
    epoch: u32,
    /// Removed for good (scaled in, or a rollout's surge instance): never restarted.
    retired: bool,
}

impl Instance {
    fn new(pool: &PoolSpec) -> Instance {
        Instance {
            pool: Pool::new(pool.clone()),
            busy_workers: 0,
            accept_queue: VecDeque::new(),
            queued: 0,
            outstanding: 0,
            up: true,
            accepting: true,
            epoch: 0,
            retired: false,
        }
    }
}

/// Counts of what happened since the last sample.
struct IntervalCounters {
    sample: IntervalSample,
    latency_us: Histogram<u64>,
}

impl IntervalCounters {
    fn new() -> IntervalCounters {
        IntervalCounters {
            sample: IntervalSample::default(),
            latency_us: Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 2)
                .expect("static histogram bounds are valid"),
        }
    }
}

/// A rolling restart in progress.
#[derive(Clone, Debug)]
struct Rollout {
    /// The instances running when it began, restarted in batches in this order.
    targets: Vec<u32>,
    /// Extra instances started for the rollout and stopped at its end.
    surge: Vec<u32>,
}

struct World {
    /// The settings in force now (hot `set` events and rollouts change them).
    spec: SystemSpec,
    now: SimTime,
    queue: EventQueue<Event>,
    arrivals: ArrivalProcess,
    routing_rng: Stream,
    connect_rng: Stream,
    lifetime_rng: Stream,
    retry_rng: Stream,
    step_rngs: Vec<Stream>,
    step_count: usize,
    last_db_step: u32,
    jobs: Vec<Job>,
    /// Pre-drawn step times, `step_count` per job slot, in ns (common random numbers:
    /// the n-th attempt gets the same demands whatever the pool size).
    job_times_ns: Vec<f64>,
    free_jobs: Vec<u32>,
    requests: Vec<Request>,
    free_requests: Vec<u32>,
    live_requests: u32,
    instances: Vec<Instance>,
    db: Database,
    round_robin_next: u32,
    client_deadlines: VecDeque<(u32, u32, SimTime)>,
    client_timer_armed: bool,
    fleet_in_use: u32,
    stats: Collector,
    events_processed: u64,
    rollouts: Vec<Option<Rollout>>,
    /// Sampled series, when recorded (for --timeseries, alerts or autoscaling).
    series: Option<Vec<IntervalSample>>,
    interval: IntervalCounters,
    autoscale_booting: u32,
    autoscale_last: Option<SimTime>,
    /// Recent samples of the autoscaling metric (the averaging window).
    autoscale_window: VecDeque<(SimTime, f64)>,
    /// Recent desired instance counts (the scale-in stabilization window).
    autoscale_desired: VecDeque<(SimTime, u32)>,
    /// Connections in use integrated over the current sample interval (ns x connections).
    interval_in_use_area: f64,
    interval_in_use_since: SimTime,
    /// traffic.rate x growth at the start, for hot changes of either.
    base_rate_per_s: f64,
}

/// A run with its sampled series and alert firings.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub summary: Summary,
    /// Per sample interval, from t = 0 to the horizon (empty unless recorded).
    pub series: Vec<IntervalSample>,
    pub alerts: Vec<AlertFiring>,
}

/// Runs one replication of `spec` and summarizes it.
pub fn simulate(spec: &SystemSpec, options: RunOptions) -> Summary {
    simulate_detailed(spec, options, false).summary
}

/// Runs one replication; `record_series` keeps the sampled time series (it is
/// always sampled internally when the model has alerts or autoscaling).
pub fn simulate_detailed(spec: &SystemSpec, options: RunOptions, record_series: bool) -> RunOutput {
    let started = Instant::now();
    let mut world = World::new(spec, options.replication, record_series);
    world.run();
    let peak_db_connections = world.db.peak_slots_used + spec.database.other_connections;
    let series = world.series.take().unwrap_or_default();
    let alerts = evaluate_alerts(
        &spec.timeline.alerts,
        &series,
        spec.simulation.sample_interval.as_secs_f64(),
    );
    let summary = world.stats.finish(
        spec.database.cores,
        peak_db_connections,
        world.events_processed,
        started.elapsed().as_secs_f64(),
    );
    RunOutput {
        summary,
        series,
        alerts,
    }
}

impl World {
    fn new(spec: &SystemSpec, replication: u32, record_series: bool) -> World {
        let seed = spec.simulation.seed;
        let rng = |source: Source, index: u64| stream(seed, replication, source, index);
        let instances = (0..spec.fleet.instances)
            .map(|_| Instance::new(&spec.pool))
            .collect();
        let last_db_step = spec
            .steps
            .iter()
            .rposition(|s| s.kind == StepKind::Db)
            .unwrap_or(0) as u32;
        let surges = spec.timeline.surges();
        let sampling =
            record_series || !spec.timeline.alerts.is_empty() || spec.timeline.autoscale.is_some();
        World {
            spec: spec.clone(),
            rollouts: vec![None; spec.timeline.events.len()],
            series: sampling.then(Vec::new),
            interval: IntervalCounters::new(),
            autoscale_booting: 0,
            autoscale_last: None,
            autoscale_window: VecDeque::new(),
            autoscale_desired: VecDeque::new(),
            interval_in_use_area: 0.0,
            interval_in_use_since: SimTime::ZERO,
            base_rate_per_s: spec.traffic.rate_per_s,
            now: SimTime::ZERO,
            queue: EventQueue::with_capacity(1024),
            arrivals: ArrivalProcess::new(
                spec.traffic.clone(),
                surges,
                spec.timeline.trace.clone(),
                rng(Source::Arrivals, 0),
            ),
            routing_rng: rng(Source::Routing, 0),
            connect_rng: rng(Source::Connects, 0),
            lifetime_rng: rng(Source::Lifetimes, 0),
            retry_rng: rng(Source::RetryJitter, 0),
            step_rngs: (0..spec.steps.len())
                .map(|i| rng(Source::StepTimes, i as u64))
                .collect(),
            step_count: spec.steps.len(),
            last_db_step,
            jobs: Vec::with_capacity(1024),
            job_times_ns: Vec::with_capacity(1024 * spec.steps.len()),
            free_jobs: Vec::with_capacity(1024),
            requests: Vec::with_capacity(1024),
            free_requests: Vec::with_capacity(1024),
            live_requests: 0,
            instances,
            db: Database::new(spec.database.clone()),
            round_robin_next: 0,
            client_deadlines: VecDeque::new(),
            client_timer_armed: false,
            fleet_in_use: 0,
            stats: Collector::new(spec.simulation.warmup, spec.simulation.horizon),
            events_processed: 0,
        }
    }

    fn run(&mut self) {
        let horizon = self.spec.simulation.horizon;
        for instance in 0..self.instances.len() as u32 {
            self.maybe_open_connection(instance);
            if self.spec.pool.idle_timeout > SimTime::ZERO
                && self.spec.pool.min_idle < self.spec.pool.max_size
            {
                self.queue.schedule(
                    HOUSEKEEPING_PERIOD,
                    Event::Housekeep {
                        instance,
                        epoch: self.instances[instance as usize].epoch,
                    },
                );
            }
        }
        if let Some(first) = self.arrivals.next_after(SimTime::ZERO, horizon) {
            self.queue.schedule(first, Event::Arrival);
        }
        self.capacity_changed();
        for (index, event) in self.spec.timeline.events.iter().enumerate() {
            if event.at < horizon {
                self.queue.schedule(
                    event.at,
                    Event::Timeline {
                        index: index as u32,
                    },
                );
            }
        }
        if self.series.is_some() {
            self.queue
                .schedule(self.spec.simulation.sample_interval, Event::Sample);
        }
        while let Some((time, event)) = self.queue.pop() {
            if time >= horizon && self.live_requests == 0 {
                break;
            }
            self.now = time;
            self.events_processed += 1;
            self.dispatch(event);
        }
        // The sample that closes the last interval is due exactly at the horizon; the loop
        // may stop before reaching it when nothing is left in flight.
        if let Some(series) = &self.series {
            let interval = self.spec.simulation.sample_interval;
            let taken = series.len() as u64;
            let due = SimTime(interval.0 * (taken + 1));
            if due <= horizon && self.now <= due {
                self.now = due;
                self.on_sample();
            }
        }
        self.stats
            .in_system
            .set(self.now, self.live_requests as f64, self.stats.window);
    }

    /// Whether an event stamped with `epoch` still refers to the instance's current pool.
    fn current(&self, instance: u32, epoch: u32) -> bool {
        let i = &self.instances[instance as usize];
        i.up && i.epoch == epoch
    }

    #[inline]
    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Arrival => self.on_arrival(),
            Event::RetryStart { request } => self.start_attempt(request),
            Event::StepDone { job, generation } => {
                if self.jobs[job as usize].generation == generation {
                    self.on_step_done(job);
                }
            }
            Event::DbWake { epoch } => {
                if epoch == self.db.epoch {
                    self.on_db_wake();
                }
            }
            Event::ConnectDone {
                instance,
                connection,
                epoch,
            } => {
                if self.current(instance, epoch) {
                    self.on_connect_done(instance, connection);
                } else {
                    // The pool it was opened for is gone: the backend closes at once.
                    self.db.release_slot();
                }
            }
            Event::ConnectRetry { instance, epoch } => {
                if self.current(instance, epoch) {
                    self.instances[instance as usize].pool.adder_busy = false;
                    self.maybe_open_connection(instance);
                }
            }
            Event::Retire {
                instance,
                connection,
                generation,
                epoch,
            } => {
                if self.current(instance, epoch) {
                    self.on_retire(instance, connection, generation);
                }
            }
            Event::Housekeep { instance, epoch } => {
                if self.current(instance, epoch) {
                    self.on_housekeep(instance);
                }
            }
            Event::AcquireDeadline { instance, epoch } => {
                if self.current(instance, epoch) {
                    self.on_acquire_deadline(instance);
                }
            }
            Event::ClientDeadline => self.on_client_deadline(),
            Event::Handoff { instance, epoch } => {
                if self.current(instance, epoch) {
                    self.on_handoff(instance);
                }
            }
            Event::Sample => self.on_sample(),
            Event::Timeline { index } => self.on_timeline_event(index as usize),
            Event::SlowdownEnd { index } => {
                if let EventAction::DbSlowdown { factor, .. } =
                    self.spec.timeline.events[index as usize].action
                {
                    self.db.demand_factor /= factor;
                }
            }
            Event::InstanceUp { instance } => self.bring_up(instance, None),
            Event::RestartBatch { index, batch } => self.on_restart_batch(index, batch),
            Event::RestartInstance { instance, index } => {
                self.take_down(instance);
                let pool = match &self.spec.timeline.events[index as usize].action {
                    EventAction::RollingRestart { after, .. } => after.pool.clone(),
                    _ => self.spec.pool.clone(),
                };
                self.bring_up(instance, Some(pool));
            }
            Event::Decommission { instance } => {
                self.instances[instance as usize].retired = true;
                self.take_down(instance);
            }
            Event::RolloutEnd { index } => self.on_rollout_end(index as usize),
            Event::ScaleOut => {
                self.autoscale_booting -= 1;
                self.add_instance();
            }
        }
    }

    // ------------------------------------------------------------ requests and attempts

    fn on_arrival(&mut self) {
        let measured = self.now >= self.spec.simulation.warmup;
        let request = Request {
            offered_at: self.now,
            attempts: 0,
            last_backoff: self.spec.client.retry.base,
            measured,
        };
        let index = match self.free_requests.pop() {
            Some(index) => {
                self.requests[index as usize] = request;
                index
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        };
        self.live_requests += 1;
        self.stats
            .in_system
            .set(self.now, self.live_requests as f64, self.stats.window);
        if measured {
            self.stats.counts.offered += 1;
        }
        self.interval.sample.offered += 1.0;
        self.start_attempt(index);
        if let Some(next) = self
            .arrivals
            .next_after(self.now, self.spec.simulation.horizon)
        {
            self.queue.schedule(next, Event::Arrival);
        }
    }

    fn start_attempt(&mut self, request: u32) {
        let req = &mut self.requests[request as usize];
        req.attempts += 1;
        let measured = req.measured;
        if measured {
            self.stats.counts.attempts += 1;
        }
        self.interval.sample.attempts += 1.0;
        let Some(instance) = self.route() else {
            // No instance takes traffic: the load balancer answers 503 at once.
            self.attempt_failed(request, FailureKind::Rejected);
            return;
        };
        let job = self.alloc_job(request, instance, measured);
        let generation = self.jobs[job as usize].generation;
        if let Some(timeout) = self.spec.client.timeout {
            self.client_deadlines
                .push_back((job, generation, self.now + timeout));
            self.arm_client_timer();
        }
        self.instances[instance as usize].outstanding += 1;
        self.admit(job);
    }

    /// Picks an instance that accepts traffic, or `None` when none does.
    fn route(&mut self) -> Option<u32> {
        let count = self.instances.len() as u32;
        match self.spec.fleet.balancer {
            Balancer::RoundRobin => {
                for _ in 0..count {
                    let chosen = self.round_robin_next % count;
                    self.round_robin_next = (chosen + 1) % count;
                    if self.instances[chosen as usize].accepting {
                        return Some(chosen);
                    }
                }
                None
            }
            Balancer::Random => {
                let accepting = self.instances.iter().filter(|i| i.accepting).count() as u32;
                if accepting == 0 {
                    return None;
                }
                let pick = self.routing_rng.gen_range(0..accepting) as usize;
                self.instances
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.accepting)
                    .nth(pick)
                    .map(|(index, _)| index as u32)
            }
            Balancer::LeastOutstanding => {
                let mut best: Option<usize> = None;
                for (i, instance) in self.instances.iter().enumerate() {
                    if instance.accepting
                        && best.is_none_or(|b| instance.outstanding < self.instances[b].outstanding)
                    {
                        best = Some(i);
                    }
                }
                best.map(|b| b as u32)
            }
        }
    }

    fn alloc_job(&mut self, request: u32, instance: u32, measured: bool) -> u32 {
        let index = match self.free_jobs.pop() {
            Some(index) => index,
            None => {
                self.jobs.push(Job {
                    generation: 0,
                    state: JobState::Free,
                    request: NONE,
                    instance: 0,
                    step: 0,
                    connection: NONE,
                    holds_worker: false,
                    wait_started: SimTime::ZERO,
                    abandoned: false,
                    measured: false,
                });
                self.job_times_ns
                    .resize(self.jobs.len() * self.step_count, 0.0);
                (self.jobs.len() - 1) as u32
            }
        };
        let base = index as usize * self.step_count;
        for (step, rng) in self.step_rngs.iter_mut().enumerate() {
            self.job_times_ns[base + step] = self.spec.steps[step].time.sample_ns(rng);
        }
        let job = &mut self.jobs[index as usize];
        job.state = JobState::Starting;
        job.request = request;
        job.instance = instance;
        job.step = 0;
        job.connection = NONE;
        job.holds_worker = false;
        job.abandoned = false;
        job.measured = measured;
        index
    }

    /// Gives the job a worker, queues it, or rejects it when the accept queue is full.
    fn admit(&mut self, job: u32) {
        let instance_index = self.jobs[job as usize].instance as usize;
        let instance = &mut self.instances[instance_index];
        let has_worker = self
            .spec
            .fleet
            .workers
            .is_none_or(|workers| instance.busy_workers < workers);
        if has_worker {
            instance.busy_workers += 1;
            self.jobs[job as usize].holds_worker = true;
            self.advance_job(job);
        } else if instance.queued < self.spec.fleet.accept_queue {
            instance.queued += 1;
            self.jobs[job as usize].state = JobState::Queued;
            instance
                .accept_queue
                .push_back((job, self.jobs[job as usize].generation));
        } else {
            self.fail_job(job, FailureKind::Rejected);
        }
    }

    /// Runs the job's steps from its current one until it must wait for something.
    fn advance_job(&mut self, job: u32) {
        loop {
            let j = self.jobs[job as usize];
            if j.step as usize == self.step_count {
                self.complete_job(job);
                return;
            }
            let time_ns = self.job_times_ns[job as usize * self.step_count + j.step as usize];
            match self.spec.steps[j.step as usize].kind {
                StepKind::App => {
                    let duration = SimTime(time_ns.round() as u64);
                    if duration.is_zero() {
                        self.jobs[job as usize].step += 1;
                        continue;
                    }
                    self.jobs[job as usize].state = JobState::App;
                    self.queue.schedule(
                        self.now + duration,
                        Event::StepDone {
                            job,
                            generation: j.generation,
                        },
                    );
                    return;
                }
                StepKind::Db => {
                    if j.connection == NONE && !self.acquire(job) {
                        return;
                    }
                    self.start_statement(job);
                    return;
                }
            }
        }
    }

    fn on_step_done(&mut self, job: u32) {
        match self.jobs[job as usize].state {
            JobState::App => {
                self.jobs[job as usize].step += 1;
                self.advance_job(job);
            }
            JobState::RoundTrip => self.finish_db_step(job),
            state => unreachable!("StepDone for a job in state {state:?}"),
        }
    }

    fn finish_db_step(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if self.spec.scope == ConnectionScope::Step || j.step == self.last_db_step {
            self.release_connection(job);
        }
        self.jobs[job as usize].step += 1;
        self.advance_job(job);
    }

    fn complete_job(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if !j.abandoned {
            self.finish_request(j.request, None);
        }
        self.free_job(job);
    }

    fn fail_job(&mut self, job: u32, kind: FailureKind) {
        let j = self.jobs[job as usize];
        if !j.abandoned {
            self.attempt_failed(j.request, kind);
        }
        self.free_job(job);
    }

    /// An attempt failed: retry after backoff if the client does, else the request fails.
    fn attempt_failed(&mut self, request: u32, kind: FailureKind) {
        let client = &self.spec.client;
        let req = self.requests[request as usize];
        if client.retries(kind) && req.attempts <= client.retry.max {
            let sleep = backoff(
                &client.retry,
                req.attempts,
                req.last_backoff,
                &mut self.retry_rng,
            );
            self.requests[request as usize].last_backoff = sleep;
            self.queue
                .schedule(self.now + sleep, Event::RetryStart { request });
        } else if client.retries(kind) && client.retry.max > 0 {
            self.finish_request(request, Some(FailureKind::RetriesExhausted));
        } else {
            self.finish_request(request, Some(kind));
        }
    }

    fn finish_request(&mut self, request: u32, failure: Option<FailureKind>) {
        let req = self.requests[request as usize];
        if req.measured {
            let sojourn = self.now - req.offered_at;
            match failure {
                None => self.stats.record_success(sojourn),
                Some(kind) => self.stats.record_failure(kind, sojourn),
            }
        }
        if self.series.is_some() {
            let interval = &mut self.interval;
            match failure {
                None => {
                    interval.sample.succeeded += 1.0;
                    let latency_us = ((self.now - req.offered_at).0 / 1_000).max(1);
                    interval.latency_us.saturating_record(latency_us);
                }
                Some(kind) => {
                    interval.sample.failed += 1.0;
                    *match kind {
                        FailureKind::AcquireTimeout => &mut interval.sample.acquire_timeout,
                        FailureKind::ClientTimeout => &mut interval.sample.client_timeout,
                        FailureKind::DbRefused => &mut interval.sample.db_refused,
                        FailureKind::Rejected => &mut interval.sample.rejected,
                        FailureKind::RetriesExhausted => &mut interval.sample.retries_exhausted,
                    } += 1.0;
                }
            }
        }
        self.live_requests -= 1;
        self.stats
            .in_system
            .set(self.now, self.live_requests as f64, self.stats.window);
        self.free_requests.push(request);
    }

    /// Releases everything the job holds and recycles its slot.
    fn free_job(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if j.connection != NONE {
            self.release_connection(job);
        }
        let instance = &mut self.instances[j.instance as usize];
        match j.state {
            JobState::InDb => {
                self.db.cancel_statement(self.now);
                self.stats
                    .busy_cores
                    .set(self.now, self.db.busy_cores() as f64, self.stats.window);
            }
            JobState::Waiting => instance.pool.waiting -= 1,
            JobState::Queued => instance.queued -= 1,
            _ => {}
        }
        instance.outstanding -= 1;
        let slot = &mut self.jobs[job as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = JobState::Free;
        self.free_jobs.push(job);
        if j.state == JobState::InDb {
            self.reschedule_db();
        }
        if j.holds_worker {
            self.instances[j.instance as usize].busy_workers -= 1;
            self.start_next_queued(j.instance);
        }
    }

    fn start_next_queued(&mut self, instance_index: u32) {
        let instance = &mut self.instances[instance_index as usize];
        if !instance.up {
            return;
        }
        while let Some((job, generation)) = instance.accept_queue.pop_front() {
            if self.jobs[job as usize].generation != generation {
                continue;
            }
            instance.queued -= 1;
            instance.busy_workers += 1;
            self.jobs[job as usize].holds_worker = true;
            self.advance_job(job);
            return;
        }
    }

    // ------------------------------------------------------------ client deadlines

    fn arm_client_timer(&mut self) {
        if self.client_timer_armed {
            return;
        }
        while let Some(&(job, generation, deadline)) = self.client_deadlines.front() {
            if self.jobs[job as usize].generation == generation {
                self.queue.schedule(deadline, Event::ClientDeadline);
                self.client_timer_armed = true;
                return;
            }
            self.client_deadlines.pop_front();
        }
    }

    fn on_client_deadline(&mut self) {
        self.client_timer_armed = false;
        while let Some(&(job, generation, deadline)) = self.client_deadlines.front() {
            if self.jobs[job as usize].generation != generation {
                self.client_deadlines.pop_front();
                continue;
            }
            if deadline > self.now {
                break;
            }
            self.client_deadlines.pop_front();
            let request = self.jobs[job as usize].request;
            self.jobs[job as usize].abandoned = true;
            self.attempt_failed(request, FailureKind::ClientTimeout);
            if self.spec.client.cancel_on_timeout {
                self.free_job(job);
            }
        }
        self.arm_client_timer();
    }

    // ------------------------------------------------------------ the pool

    fn in_use_changed(&mut self, delta: i32) {
        if self.series.is_some() {
            self.interval_in_use_area +=
                self.fleet_in_use as f64 * (self.now - self.interval_in_use_since).0 as f64;
            self.interval_in_use_since = self.now;
        }
        self.fleet_in_use = self.fleet_in_use.wrapping_add_signed(delta);
        self.stats
            .connections_in_use
            .set(self.now, self.fleet_in_use as f64, self.stats.window);
    }

    /// Takes an idle connection for the job, or queues it (or fails it when the pool fails fast).
    fn acquire(&mut self, job: u32) -> bool {
        let j = self.jobs[job as usize];
        let pool = &mut self.instances[j.instance as usize].pool;
        if let Some(connection) = pool.take_idle() {
            self.jobs[job as usize].connection = connection;
            if j.measured {
                self.stats.record_acquisition(SimTime::ZERO);
            }
            self.in_use_changed(1);
            return true;
        }
        if pool.spec.acquire_timeout.is_zero() {
            let kind = pool.acquire_failure();
            if j.measured {
                self.stats.record_acquisition(SimTime::ZERO);
            }
            self.fail_job(job, kind);
            return false;
        }
        let deadline = self.now + pool.spec.acquire_timeout;
        pool.waiters.push_back(Waiter {
            job,
            job_generation: j.generation,
            deadline,
        });
        pool.waiting += 1;
        let slot = &mut self.jobs[job as usize];
        slot.state = JobState::Waiting;
        slot.wait_started = self.now;
        self.arm_acquire_timer(j.instance);
        self.maybe_open_connection(j.instance);
        false
    }

    /// A waiting job gets `connection` and starts its statement.
    fn grant(&mut self, job: u32, connection: u32) {
        let j = self.jobs[job as usize];
        self.instances[j.instance as usize].pool.waiting -= 1;
        if j.measured {
            self.stats.record_acquisition(self.now - j.wait_started);
        }
        self.jobs[job as usize].connection = connection;
        self.start_statement(job);
    }

    fn pop_live_waiter(&mut self, instance: u32) -> Option<u32> {
        let pool = &mut self.instances[instance as usize].pool;
        while let Some(waiter) = pool.waiters.pop_front() {
            if still_in(
                &self.jobs,
                waiter.job,
                waiter.job_generation,
                JobState::Waiting,
            ) {
                return Some(waiter.job);
            }
        }
        None
    }

    fn release_connection(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        self.jobs[job as usize].connection = NONE;
        let pool = &mut self.instances[j.instance as usize].pool;
        // Past its lifetime, or the pool was shrunk by a hot change: close rather than reuse.
        if pool.connections[j.connection as usize].retire_on_return
            || pool.total() > pool.spec.max_size
        {
            pool.close(j.connection);
            self.db.release_slot();
            self.in_use_changed(-1);
            self.maybe_open_connection(j.instance);
            return;
        }
        self.hand_over_or_idle(j.instance, j.connection);
    }

    /// A connection (in use by nobody now) goes to the next waiter, or back to idle.
    fn hand_over_or_idle(&mut self, instance: u32, connection: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let fifo = self.spec.pool.fairness == Fairness::Fifo;
        if fifo {
            if let Some(job) = self.pop_live_waiter(instance) {
                self.grant(job, connection);
                return;
            }
        }
        self.instances[instance as usize]
            .pool
            .make_idle(connection, self.now);
        self.in_use_changed(-1);
        let pool = &mut self.instances[instance as usize].pool;
        if !fifo && pool.waiting > 0 && !pool.handoff_scheduled {
            pool.handoff_scheduled = true;
            self.queue.schedule(
                self.now + BARGING_HANDOFF,
                Event::Handoff { instance, epoch },
            );
        }
    }

    fn on_handoff(&mut self, instance: u32) {
        self.instances[instance as usize].pool.handoff_scheduled = false;
        while !self.instances[instance as usize].pool.idle.is_empty() {
            let Some(job) = self.pop_live_waiter(instance) else {
                break;
            };
            let connection = self.instances[instance as usize]
                .pool
                .take_idle()
                .expect("checked non-empty");
            self.in_use_changed(1);
            self.grant(job, connection);
        }
    }

    fn arm_acquire_timer(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let pool = &mut self.instances[instance as usize].pool;
        if pool.acquire_timer.is_some() {
            return;
        }
        while let Some(waiter) = pool.waiters.front() {
            if still_in(
                &self.jobs,
                waiter.job,
                waiter.job_generation,
                JobState::Waiting,
            ) {
                pool.acquire_timer = Some(waiter.deadline);
                self.queue
                    .schedule(waiter.deadline, Event::AcquireDeadline { instance, epoch });
                return;
            }
            pool.waiters.pop_front();
        }
    }

    fn on_acquire_deadline(&mut self, instance: u32) {
        self.instances[instance as usize].pool.acquire_timer = None;
        loop {
            let pool = &mut self.instances[instance as usize].pool;
            let Some(&waiter) = pool.waiters.front() else {
                break;
            };
            if !still_in(
                &self.jobs,
                waiter.job,
                waiter.job_generation,
                JobState::Waiting,
            ) {
                pool.waiters.pop_front();
                continue;
            }
            if waiter.deadline > self.now {
                break;
            }
            pool.waiters.pop_front();
            let kind = pool.acquire_failure();
            let j = self.jobs[waiter.job as usize];
            if j.measured {
                self.stats.record_acquisition(self.now - j.wait_started);
            }
            self.fail_job(waiter.job, kind);
        }
        self.arm_acquire_timer(instance);
    }

    /// Starts the single adder on a new connection if the pool wants one.
    fn maybe_open_connection(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let pool = &mut self.instances[instance as usize].pool;
        if !pool.wants_connection() {
            return;
        }
        if !self.db.has_free_slot() {
            let backoff = pool.note_refused();
            self.stats.diagnostics.db_connect_refusals += 1;
            self.queue
                .schedule(self.now + backoff, Event::ConnectRetry { instance, epoch });
            return;
        }
        self.db.take_slot();
        let connection = pool.begin_open();
        let total = pool.total();
        debug_assert!(total <= pool.spec.max_size, "pool above max_size");
        let diagnostics = &mut self.stats.diagnostics;
        diagnostics.peak_pool_connections = diagnostics.peak_pool_connections.max(total);
        diagnostics.connections_opened += 1;
        let connect_ns = pool.spec.connect_time.sample_ns(&mut self.connect_rng);
        self.queue.schedule(
            self.now + SimTime(connect_ns.round() as u64),
            Event::ConnectDone {
                instance,
                connection,
                epoch,
            },
        );
    }

    fn on_connect_done(&mut self, instance: u32, connection: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let pool = &mut self.instances[instance as usize].pool;
        pool.finish_open(connection);
        let lifetime = pool.spec.max_lifetime;
        if !lifetime.is_zero() {
            let early = 1.0 - LIFETIME_JITTER * self.lifetime_rng.gen::<f64>();
            let retire_at = self.now + SimTime((lifetime.0 as f64 * early) as u64);
            let generation = pool.connections[connection as usize].generation;
            self.queue.schedule(
                retire_at,
                Event::Retire {
                    instance,
                    connection,
                    generation,
                    epoch,
                },
            );
        }
        self.in_use_changed(1);
        // A new connection goes straight to the oldest waiter, as HikariCP's handoff queue does.
        match self.pop_live_waiter(instance) {
            Some(job) => self.grant(job, connection),
            None => {
                self.instances[instance as usize]
                    .pool
                    .make_idle(connection, self.now);
                self.in_use_changed(-1);
            }
        }
        self.maybe_open_connection(instance);
    }

    fn on_retire(&mut self, instance: u32, connection: u32, generation: u32) {
        let pool = &mut self.instances[instance as usize].pool;
        let c = pool.connections[connection as usize];
        if c.generation != generation {
            return;
        }
        match c.state {
            ConnState::Idle => {
                pool.close(connection);
                self.db.release_slot();
                self.maybe_open_connection(instance);
            }
            ConnState::InUse => pool.connections[connection as usize].retire_on_return = true,
            ConnState::Opening | ConnState::Closed => {}
        }
    }

    fn on_housekeep(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let now = self.now;
        let pool = &mut self.instances[instance as usize].pool;
        let idle_timeout = pool.spec.idle_timeout;
        let mut position = 0;
        while position < pool.idle.len() && pool.open > pool.spec.min_idle {
            let index = pool.idle[position];
            if pool.connections[index as usize].idle_since + idle_timeout <= now {
                pool.close(index);
                self.db.release_slot();
            } else {
                position += 1;
            }
        }
        if now < self.spec.simulation.horizon {
            self.queue.schedule(
                now + HOUSEKEEPING_PERIOD,
                Event::Housekeep { instance, epoch },
            );
        }
        self.maybe_open_connection(instance);
    }

    // ------------------------------------------------------------ the database

    fn start_statement(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        let demand_ns = self.job_times_ns[job as usize * self.step_count + j.step as usize];
        self.jobs[job as usize].state = JobState::InDb;
        self.db
            .start_statement(self.now, demand_ns, job, j.generation);
        let diagnostics = &mut self.stats.diagnostics;
        diagnostics.peak_db_statements = diagnostics
            .peak_db_statements
            .max(self.db.active_statements);
        self.stats
            .busy_cores
            .set(self.now, self.db.busy_cores() as f64, self.stats.window);
        self.reschedule_db();
    }

    fn reschedule_db(&mut self) {
        let jobs = &self.jobs;
        let next = self.db.next_completion(self.now, |job, generation| {
            still_in(jobs, job, generation, JobState::InDb)
        });
        if next != self.db.scheduled_completion {
            self.db.epoch = self.db.epoch.wrapping_add(1);
            self.db.scheduled_completion = next;
            if let Some(time) = next {
                self.queue.schedule(
                    time,
                    Event::DbWake {
                        epoch: self.db.epoch,
                    },
                );
            }
        }
    }

    fn on_db_wake(&mut self) {
        self.db.scheduled_completion = None;
        loop {
            let jobs = &self.jobs;
            let finished = self.db.pop_finished(self.now, |job, generation| {
                still_in(jobs, job, generation, JobState::InDb)
            });
            let Some((job, _)) = finished else { break };
            self.stats
                .busy_cores
                .set(self.now, self.db.busy_cores() as f64, self.stats.window);
            let round_trip = self.spec.database.round_trip;
            if round_trip.is_zero() {
                self.jobs[job as usize].state = JobState::RoundTrip;
                self.finish_db_step(job);
            } else {
                let j = &mut self.jobs[job as usize];
                j.state = JobState::RoundTrip;
                let generation = j.generation;
                self.queue
                    .schedule(self.now + round_trip, Event::StepDone { job, generation });
            }
        }
        self.reschedule_db();
    }
}
