//! The engine's side of each instance's pool: acquiring a connection, waiting for one,
//! handing a returned one over, and the adder, retirement and housekeeping timers.
//!
//! `model::pool::Pool` keeps the pool's own bookkeeping; this module wires it to jobs,
//! the database's connection slots, statistics and the event queue.

use rand::Rng;

use super::{still_in, still_waiting, Event, JobState, World, BARGING_HANDOFF, NONE};
use crate::config::model::{FailureKind, Fairness};
use crate::model::pool::{ConnState, Waiter, NO_JOB};
use crate::sim::time::{round_to_u64, SimTime};

impl World {
    /// Notes a change of the connections in use on `instance` (`delta` of them).
    #[inline(always)]
    pub(super) fn in_use_changed(&mut self, instance: u32, delta: i32) {
        if self.series.is_some() {
            self.interval_in_use_area +=
                self.fleet_in_use as f64 * (self.now - self.interval_in_use_since).0 as f64;
            self.interval_in_use_since = self.now;
        }
        self.fleet_in_use = self.fleet_in_use.wrapping_add_signed(delta);
        self.stats
            .connections_in_use
            .set(self.now, self.fleet_in_use as f64, self.stats.window);
        let lane = &mut self.lanes[self.instances[instance as usize].service as usize];
        lane.in_use = lane.in_use.wrapping_add_signed(delta);
        if let Some(own) = lane.stats.as_mut() {
            own.connections_in_use
                .set(self.now, lane.in_use as f64, own.window);
        }
    }

    /// Records how long a job on `instance` waited for a connection.
    fn record_acquisition(&mut self, instance: u32, waited: SimTime) {
        let service = self.instances[instance as usize].service;
        self.record(service, |c| c.record_acquisition(waited));
    }

    /// Takes an idle connection for the job, or queues it (or fails it when the pool fails fast).
    pub(super) fn acquire(&mut self, job: u32) -> bool {
        let j = self.jobs[job as usize];
        let pool = &mut self.instances[j.instance as usize].pool;
        if let Some(connection) = pool.take_idle() {
            self.jobs[job as usize].connection = connection;
            self.interval.sample.note_acquired(0.0);
            if j.measured {
                self.record_acquisition(j.instance, SimTime::ZERO);
            }
            self.in_use_changed(j.instance, 1);
            return true;
        }
        if pool.spec.opens_on_demand && pool.below_limit() {
            self.jobs[job as usize].wait_started = self.now;
            self.open_for_borrower(job);
            return false;
        }
        if pool.spec.acquire_timeout == Some(SimTime::ZERO) {
            let kind = pool.acquire_failure();
            let kind = self.refusal_cause(j.instance, kind);
            if j.measured {
                self.record_acquisition(j.instance, SimTime::ZERO);
            }
            self.fail_job(job, kind);
            return false;
        }
        let deadline = pool
            .spec
            .acquire_timeout
            .map_or(SimTime::MAX, |timeout| self.now + timeout);
        pool.enqueue_waiter(Waiter {
            job,
            job_generation: j.generation,
            deadline,
        });
        let slot = &mut self.jobs[job as usize];
        slot.state = JobState::Waiting;
        slot.wait_started = self.now;
        self.arm_acquire_timer(j.instance);
        self.maybe_open_connection(j.instance);
        false
    }

    /// `job` (waiting since `wait_started`) opens a connection for itself, as borrowers of
    /// SQLAlchemy, database/sql, pg-pool and pgx do; a refused connect fails it `db_refused`.
    fn open_for_borrower(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        let through_proxy = match self.connect_slot(j.instance) {
            Ok(through_proxy) => through_proxy,
            Err(kind) => {
                if kind == FailureKind::DbRefused {
                    let service = self.instances[j.instance as usize].service;
                    self.record(service, |c| c.diagnostics.db_connect_refusals += 1);
                }
                if j.measured {
                    self.record_acquisition(j.instance, self.now - j.wait_started);
                }
                self.fail_job(job, kind);
                return;
            }
        };
        let pool = &mut self.instances[j.instance as usize].pool;
        let connection = pool.begin_open_for((job, j.generation));
        self.jobs[job as usize].state = JobState::Connecting;
        self.connect_started(j.instance, connection, through_proxy);
    }

    /// Under an on-demand pool, waiters (queued while it was at its limit) open
    /// connections for themselves once it is below the limit again, as database/sql does.
    fn open_for_waiters(&mut self, instance: u32) {
        while self.instances[instance as usize].pool.below_limit() {
            let Some(job) = self.pop_live_waiter(instance) else {
                break;
            };
            self.instances[instance as usize].pool.waiter_left();
            self.open_for_borrower(job);
        }
    }

    /// Counts a connect that began and schedules its end after a sampled connect time
    /// (plus, through PgBouncer, the server connect a session-mode client waits for).
    fn connect_started(
        &mut self,
        instance: u32,
        connection: u32,
        through_proxy: Option<(u32, f64)>,
    ) {
        let epoch = self.instances[instance as usize].epoch;
        let service = self.instances[instance as usize].service;
        let pool = &mut self.instances[instance as usize].pool;
        let total = pool.total();
        debug_assert!(
            pool.spec.max_connections().is_none_or(|l| total <= l),
            "pool above its limit"
        );
        let lane = &mut self.lanes[service as usize];
        let mut connect_ns = pool.spec.connect_time.sample_ns(&mut lane.connect_rng);
        self.record(service, |c| {
            let diagnostics = &mut c.diagnostics;
            diagnostics.peak_pool_connections = diagnostics.peak_pool_connections.max(total);
            diagnostics.connections_opened += 1;
        });
        let proxy = self.lanes[service as usize].proxy.as_mut();
        if let (Some((bouncer, extra_ns)), Some(proxy)) = (through_proxy, proxy) {
            proxy.bind(instance, connection, bouncer);
            connect_ns += extra_ns;
        }
        self.queue.schedule(
            self.now + SimTime(round_to_u64(connect_ns)),
            Event::ConnectDone {
                instance,
                connection,
                epoch,
            },
        );
    }

    /// A waiting job gets `connection` and starts its statement.
    pub(super) fn grant(&mut self, job: u32, connection: u32) {
        let j = self.jobs[job as usize];
        self.instances[j.instance as usize].pool.waiter_left();
        self.acquired(job, connection);
    }

    /// A job that waited since `wait_started` (in the queue or for its own connect) has
    /// `connection` and starts its statement.
    fn acquired(&mut self, job: u32, connection: u32) {
        let j = self.jobs[job as usize];
        let waited = self.now - j.wait_started;
        self.interval.sample.note_acquired(waited.0 as f64 / 1e6);
        if j.measured {
            self.record_acquisition(j.instance, waited);
        }
        self.jobs[job as usize].connection = connection;
        self.start_statement(job);
    }

    pub(super) fn pop_live_waiter(&mut self, instance: u32) -> Option<u32> {
        let jobs = &self.jobs;
        self.instances[instance as usize]
            .pool
            .pop_live_waiter(|w| still_waiting(jobs, w))
            .map(|w| w.job)
    }

    pub(super) fn release_connection(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        self.jobs[job as usize].connection = NONE;
        let pool = &mut self.instances[j.instance as usize].pool;
        // Past its lifetime, or the pool was shrunk by a hot change: close rather than reuse.
        if pool.closes_on_return(j.connection) {
            pool.close(j.connection);
            self.pool_connections_closed(j.instance, 1);
            self.in_use_changed(j.instance, -1);
            self.maybe_open_connection(j.instance);
            return;
        }
        self.hand_over_or_idle(j.instance, j.connection);
    }

    /// A connection (in use by nobody now) goes to the next waiter, or back to idle.
    pub(super) fn hand_over_or_idle(&mut self, instance: u32, connection: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let service = self.instances[instance as usize].service as usize;
        let fifo = self.spec.service(service).pool.fairness == Fairness::Fifo;
        if fifo {
            if let Some(job) = self.pop_live_waiter(instance) {
                self.grant(job, connection);
                return;
            }
        }
        if !self.idle_or_close(instance, connection) {
            return;
        }
        let pool = &mut self.instances[instance as usize].pool;
        if !fifo && pool.claim_handoff() {
            self.queue.schedule(
                self.now + BARGING_HANDOFF,
                Event::Handoff { instance, epoch },
            );
        }
    }

    /// A connection nobody waits for goes idle, or closes when the pool keeps no more
    /// idle ones (`max_idle`). Returns whether it went idle.
    fn idle_or_close(&mut self, instance: u32, connection: u32) -> bool {
        let pool = &mut self.instances[instance as usize].pool;
        let keep = !pool.idle_full();
        if keep {
            pool.make_idle(connection, self.now);
        } else {
            pool.close(connection);
            self.pool_connections_closed(instance, 1);
        }
        self.in_use_changed(instance, -1);
        keep
    }

    pub(super) fn on_handoff(&mut self, instance: u32) {
        self.instances[instance as usize].pool.handoff_fired();
        while self.instances[instance as usize].pool.has_idle() {
            let Some(job) = self.pop_live_waiter(instance) else {
                break;
            };
            let connection = self.instances[instance as usize]
                .pool
                .take_idle()
                .expect("checked non-empty");
            self.in_use_changed(instance, 1);
            self.grant(job, connection);
        }
    }

    pub(super) fn arm_acquire_timer(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let jobs = &self.jobs;
        let pool = &mut self.instances[instance as usize].pool;
        if let Some(deadline) = pool.arm_acquire_timer(|w| still_waiting(jobs, w)) {
            self.queue
                .schedule_later(deadline, Event::AcquireDeadline { instance, epoch });
        }
    }

    pub(super) fn on_acquire_deadline(&mut self, instance: u32) {
        self.instances[instance as usize].pool.acquire_timer_fired();
        loop {
            let jobs = &self.jobs;
            let pool = &mut self.instances[instance as usize].pool;
            let Some(waiter) = pool.pop_expired_waiter(self.now, |w| still_waiting(jobs, w)) else {
                break;
            };
            let kind = pool.acquire_failure();
            let kind = self.refusal_cause(instance, kind);
            let j = self.jobs[waiter.job as usize];
            if j.measured {
                self.record_acquisition(instance, self.now - j.wait_started);
            }
            self.fail_job(waiter.job, kind);
        }
        self.arm_acquire_timer(instance);
    }

    /// Starts the single adder on a new connection if the pool wants one.
    pub(super) fn maybe_open_connection(&mut self, instance: u32) {
        if self.instances[instance as usize].pool.spec.opens_on_demand {
            self.open_for_waiters(instance);
        }
        let epoch = self.instances[instance as usize].epoch;
        let service = self.instances[instance as usize].service;
        if !self.instances[instance as usize].pool.wants_connection() {
            return;
        }
        let through_proxy = match self.connect_slot(instance) {
            Ok(through_proxy) => through_proxy,
            Err(kind) => {
                let backoff = self.instances[instance as usize].pool.note_refused();
                if kind == FailureKind::DbRefused {
                    self.record(service, |c| c.diagnostics.db_connect_refusals += 1);
                }
                self.queue
                    .schedule(self.now + backoff, Event::ConnectRetry { instance, epoch });
                return;
            }
        };
        let pool = &mut self.instances[instance as usize].pool;
        let connection = pool.begin_open();
        self.connect_started(instance, connection, through_proxy);
    }

    pub(super) fn on_connect_done(&mut self, instance: u32, connection: u32) {
        let lane = &mut self.lanes[self.instances[instance as usize].service as usize];
        let pool = &mut self.instances[instance as usize].pool;
        let opened_for = pool.finish_open(connection);
        let lifetime = pool.spec.max_lifetime;
        if !lifetime.is_zero() {
            let early = 1.0 - pool.spec.lifetime_jitter * lane.lifetime_rng.gen::<f64>();
            let retire_at = self.now + SimTime((lifetime.0 as f64 * early) as u64);
            let generation = pool.connection(connection).generation;
            self.queue.schedule_later(
                retire_at,
                Event::Retire {
                    instance,
                    connection,
                    generation,
                },
            );
        }
        self.in_use_changed(instance, 1);
        let (owner, generation) = opened_for;
        if opened_for != NO_JOB && still_in(&self.jobs, owner, generation, JobState::Connecting) {
            // The borrower that opened it uses it.
            self.acquired(owner, connection);
        } else {
            // A new connection goes straight to the oldest waiter, as HikariCP's handoff
            // queue does (also when the borrower that opened it has left).
            match self.pop_live_waiter(instance) {
                Some(job) => self.grant(job, connection),
                None => {
                    self.idle_or_close(instance, connection);
                }
            }
        }
        self.maybe_open_connection(instance);
    }

    pub(super) fn on_retire(&mut self, instance: u32, connection: u32, generation: u32) {
        let pool = &mut self.instances[instance as usize].pool;
        if !pool.holds(connection, generation) {
            return;
        }
        let c = pool.connection(connection);
        match c.state {
            ConnState::Idle => {
                pool.close(connection);
                self.pool_connections_closed(instance, 1);
                self.maybe_open_connection(instance);
            }
            ConnState::InUse => pool.retire_on_return(connection),
            ConnState::Opening | ConnState::Closed => {}
        }
    }

    pub(super) fn on_housekeep(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let now = self.now;
        let closed = self.instances[instance as usize]
            .pool
            .close_expired_idle(now);
        self.pool_connections_closed(instance, closed);
        if now < self.spec.simulation.horizon {
            let period = self.instances[instance as usize]
                .pool
                .spec
                .idle_check_period;
            self.queue
                .schedule_later(now + period, Event::Housekeep { instance, epoch });
        }
        self.maybe_open_connection(instance);
    }
}
