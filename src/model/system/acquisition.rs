//! The engine's side of each instance's pool: acquiring a connection, waiting for one,
//! handing a returned one over, and the adder, retirement and housekeeping timers.
//!
//! `model::pool::Pool` keeps the pool's own bookkeeping; this module wires it to jobs,
//! the database's connection slots, statistics and the event queue.

use rand::Rng;

use super::{
    still_waiting, Event, JobState, World, BARGING_HANDOFF, HOUSEKEEPING_PERIOD, LIFETIME_JITTER,
    NONE,
};
use crate::config::model::{FailureKind, Fairness};
use crate::model::pool::{ConnState, Waiter};
use crate::sim::time::{round_to_u64, SimTime};

impl World {
    pub(super) fn in_use_changed(&mut self, delta: i32) {
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
    pub(super) fn acquire(&mut self, job: u32) -> bool {
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
            let kind = self.refusal_cause(j.instance, kind);
            if j.measured {
                self.stats.record_acquisition(SimTime::ZERO);
            }
            self.fail_job(job, kind);
            return false;
        }
        let deadline = self.now + pool.spec.acquire_timeout;
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

    /// A waiting job gets `connection` and starts its statement.
    pub(super) fn grant(&mut self, job: u32, connection: u32) {
        let j = self.jobs[job as usize];
        self.instances[j.instance as usize].pool.waiter_left();
        if j.measured {
            self.stats.record_acquisition(self.now - j.wait_started);
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
            self.in_use_changed(-1);
            self.maybe_open_connection(j.instance);
            return;
        }
        self.hand_over_or_idle(j.instance, j.connection);
    }

    /// A connection (in use by nobody now) goes to the next waiter, or back to idle.
    pub(super) fn hand_over_or_idle(&mut self, instance: u32, connection: u32) {
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
        if !fifo && pool.claim_handoff() {
            self.queue.schedule(
                self.now + BARGING_HANDOFF,
                Event::Handoff { instance, epoch },
            );
        }
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
            self.in_use_changed(1);
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
                self.stats.record_acquisition(self.now - j.wait_started);
            }
            self.fail_job(waiter.job, kind);
        }
        self.arm_acquire_timer(instance);
    }

    /// Starts the single adder on a new connection if the pool wants one.
    pub(super) fn maybe_open_connection(&mut self, instance: u32) {
        let epoch = self.instances[instance as usize].epoch;
        if !self.instances[instance as usize].pool.wants_connection() {
            return;
        }
        let through_proxy = match self.connect_slot(instance) {
            Ok(through_proxy) => through_proxy,
            Err(kind) => {
                let backoff = self.instances[instance as usize].pool.note_refused();
                if kind == FailureKind::DbRefused {
                    self.stats.diagnostics.db_connect_refusals += 1;
                }
                self.queue
                    .schedule(self.now + backoff, Event::ConnectRetry { instance, epoch });
                return;
            }
        };
        let pool = &mut self.instances[instance as usize].pool;
        let connection = pool.begin_open();
        let total = pool.total();
        debug_assert!(total <= pool.spec.max_size, "pool above max_size");
        let diagnostics = &mut self.stats.diagnostics;
        diagnostics.peak_pool_connections = diagnostics.peak_pool_connections.max(total);
        diagnostics.connections_opened += 1;
        let mut connect_ns = pool.spec.connect_time.sample_ns(&mut self.connect_rng);
        if let (Some((bouncer, extra_ns)), Some(proxy)) = (through_proxy, self.proxy.as_mut()) {
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

    pub(super) fn on_connect_done(&mut self, instance: u32, connection: u32) {
        let epoch = self.instances[instance as usize].epoch;
        let pool = &mut self.instances[instance as usize].pool;
        pool.finish_open(connection);
        let lifetime = pool.spec.max_lifetime;
        if !lifetime.is_zero() {
            let early = 1.0 - LIFETIME_JITTER * self.lifetime_rng.gen::<f64>();
            let retire_at = self.now + SimTime((lifetime.0 as f64 * early) as u64);
            let generation = pool.connection(connection).generation;
            self.queue.schedule_later(
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

    pub(super) fn on_retire(&mut self, instance: u32, connection: u32, generation: u32) {
        let pool = &mut self.instances[instance as usize].pool;
        let c = pool.connection(connection);
        if c.generation != generation {
            return;
        }
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
            self.queue.schedule_later(
                now + HOUSEKEEPING_PERIOD,
                Event::Housekeep { instance, epoch },
            );
        }
        self.maybe_open_connection(instance);
    }
}
