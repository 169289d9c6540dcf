//! One instance's connection pool, with the behaviour its `PoolSpec` describes.
//!
//! The pool owns its connections and its queue of waiting jobs; the system
//! decides when to open, hand over and close them. Like HikariCP it can open one
//! connection at a time in the background (a single adder); like SQLAlchemy,
//! database/sql, pg-pool and pgx it can let each borrower open its own. Either way it
//! counts connections being opened against its limit, and retires each connection at
//! its (possibly jittered) lifetime.

use std::collections::VecDeque;

use crate::config::model::{FailureKind, PoolSpec};
use crate::sim::time::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Closed,
    Opening,
    Idle,
    InUse,
}

#[derive(Clone, Copy, Debug)]
pub struct Connection {
    pub state: ConnState,
    /// This occupant of the slot: unique among the connections the instance's pools
    /// opened (see `Pool::next_generation`), so retirement events of a previous
    /// occupant, or of a pool since replaced, are ignored.
    pub generation: u32,
    pub idle_since: SimTime,
    /// Past max_lifetime while in use: close on return.
    pub retire_on_return: bool,
    /// The job (and its generation) that opened this connection for itself, or `NO_JOB`
    /// when the background adder opened it.
    pub opened_for: (u32, u32),
}

/// `Connection::opened_for` of a connection the background adder opened.
pub const NO_JOB: (u32, u32) = (u32::MAX, 0);

/// A job waiting for a connection, with the time its acquire timeout fires.
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    pub job: u32,
    pub job_generation: u32,
    pub deadline: SimTime,
}

pub struct Pool {
    /// The settings in force (a hot change or a rollout may replace them).
    pub spec: PoolSpec,
    connections: Vec<Connection>,
    idle: Vec<u32>,
    closed_slots: Vec<u32>,
    /// Open connections (idle or in use); opening ones are counted in `opening`.
    open: u32,
    opening: u32,
    in_use: u32,
    waiters: VecDeque<Waiter>,
    /// Live waiters (the deque may also hold entries of jobs that left).
    waiting: u32,
    /// The single adder is connecting or backing off after a refusal.
    adder_busy: bool,
    connect_backoff: SimTime,
    last_connect_refused: bool,
    /// When the armed acquire-timeout timer fires, if one is armed.
    acquire_timer: Option<SimTime>,
    handoff_scheduled: bool,
    /// The generation the next opened connection gets. A pool that replaces another
    /// (`Pool::replacing`) continues its count, so a (slot, generation) pair names one
    /// connection across all of an instance's pools (until 2^32 connections were opened).
    next_generation: u32,
}

/// HikariCP retries a failed connect after 10 ms, doubling up to 5 s (docs/model.md).
pub const CONNECT_BACKOFF_FIRST: SimTime = SimTime(10_000_000);
pub const CONNECT_BACKOFF_MAX: SimTime = SimTime(5_000_000_000);

impl Pool {
    pub fn new(spec: PoolSpec) -> Pool {
        // Reserved for the usual sizes only: a max_size of a billion must not allocate
        // a billion slots that the database's max_connections would never let open.
        let capacity = spec.size_limit.unwrap_or(1024).min(1024) as usize;
        Pool {
            spec,
            connections: Vec::with_capacity(capacity),
            idle: Vec::with_capacity(capacity),
            closed_slots: Vec::new(),
            open: 0,
            opening: 0,
            in_use: 0,
            waiters: VecDeque::with_capacity(64),
            waiting: 0,
            adder_busy: false,
            connect_backoff: SimTime::ZERO,
            last_connect_refused: false,
            acquire_timer: None,
            handoff_scheduled: false,
            next_generation: 0,
        }
    }

    /// An empty pool with `spec` in place of `previous`, continuing its connection
    /// generations.
    pub fn replacing(previous: &Pool, spec: PoolSpec) -> Pool {
        Pool {
            next_generation: previous.next_generation,
            ..Pool::new(spec)
        }
    }

    /// Whether slot `index` holds the connection of `generation` (it may never have
    /// existed in this pool, if the event naming it is from a replaced one).
    pub fn holds(&self, index: u32, generation: u32) -> bool {
        self.connections
            .get(index as usize)
            .is_some_and(|c| c.generation == generation)
    }

    /// Open plus opening: what the pool's limit bounds.
    pub fn total(&self) -> u32 {
        self.open + self.opening
    }

    /// Open connections, idle or in use (not those being opened).
    pub fn open(&self) -> u32 {
        self.open
    }

    /// Connections lent to jobs now.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Live waiters: jobs waiting for a connection now.
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    pub fn has_idle(&self) -> bool {
        !self.idle.is_empty()
    }

    /// Whether one more connection fits under the pool's limit (always, when unbounded).
    pub fn below_limit(&self) -> bool {
        self.spec
            .size_limit
            .is_none_or(|limit| self.total() < limit)
    }

    /// Whether the pool keeps no more idle connections, so a returned one must close.
    pub fn idle_full(&self) -> bool {
        self.spec
            .max_idle
            .is_some_and(|max_idle| self.idle.len() as u32 >= max_idle)
    }

    /// A copy of connection `index`'s state.
    pub fn connection(&self, index: u32) -> Connection {
        self.connections[index as usize]
    }

    /// A job starts waiting for a connection, until `waiter.deadline` at the latest.
    pub fn enqueue_waiter(&mut self, waiter: Waiter) {
        self.waiters.push_back(waiter);
        self.waiting += 1;
    }

    /// A live waiter stops waiting: it got a connection, or its job ended.
    pub fn waiter_left(&mut self) {
        self.waiting -= 1;
    }

    /// Drops entries of jobs that left from the front of the queue (`is_live` tells
    /// which are still waiting) and returns the oldest live waiter, left in place.
    fn oldest_live_waiter(&mut self, is_live: impl Fn(&Waiter) -> bool) -> Option<Waiter> {
        while let Some(&waiter) = self.waiters.front() {
            if is_live(&waiter) {
                return Some(waiter);
            }
            self.waiters.pop_front();
        }
        None
    }

    /// Removes and returns the oldest live waiter, the next to get a connection.
    pub fn pop_live_waiter(&mut self, is_live: impl Fn(&Waiter) -> bool) -> Option<Waiter> {
        let waiter = self.oldest_live_waiter(is_live)?;
        self.waiters.pop_front();
        Some(waiter)
    }

    /// Removes and returns the oldest live waiter if its deadline has passed at `now`.
    pub fn pop_expired_waiter(
        &mut self,
        now: SimTime,
        is_live: impl Fn(&Waiter) -> bool,
    ) -> Option<Waiter> {
        let waiter = self.oldest_live_waiter(is_live)?;
        if waiter.deadline > now {
            return None;
        }
        self.waiters.pop_front();
        Some(waiter)
    }

    /// Arms the acquire-timeout timer for the oldest live waiter unless one is armed;
    /// returns when it must fire, for the caller to schedule.
    /// A waiter whose deadline is `SimTime::MAX` waits without a pool timeout.
    pub fn arm_acquire_timer(&mut self, is_live: impl Fn(&Waiter) -> bool) -> Option<SimTime> {
        if self.acquire_timer.is_some() {
            return None;
        }
        let deadline = self.oldest_live_waiter(is_live)?.deadline;
        if deadline == SimTime::MAX {
            return None;
        }
        self.acquire_timer = Some(deadline);
        Some(deadline)
    }

    /// The armed acquire-timeout timer fired.
    pub fn acquire_timer_fired(&mut self) {
        self.acquire_timer = None;
    }

    /// Under barging fairness, whether a hand-off to a waiter must be scheduled now:
    /// someone waits and no hand-off is pending. Claims it when so.
    pub fn claim_handoff(&mut self) -> bool {
        if self.waiting > 0 && !self.handoff_scheduled {
            self.handoff_scheduled = true;
            return true;
        }
        false
    }

    /// The scheduled hand-off runs.
    pub fn handoff_fired(&mut self) {
        self.handoff_scheduled = false;
    }

    /// The adder's back-off after a refused connect is over: it may try again.
    pub fn connect_retry_due(&mut self) {
        self.adder_busy = false;
    }

    /// Whether connection `index`, returned by its borrower, must close rather than be
    /// reused: it is past its lifetime, or a hot change shrank the pool below its size.
    pub fn closes_on_return(&self, index: u32) -> bool {
        self.connections[index as usize].retire_on_return || !self.within_limit()
    }

    /// Whether the open plus opening connections are within the limit (a hot change may
    /// have lowered it below them).
    fn within_limit(&self) -> bool {
        self.spec
            .size_limit
            .is_none_or(|limit| self.total() <= limit)
    }

    /// Connection `index`, in use, reached its lifetime: close it when it comes back.
    pub fn retire_on_return(&mut self, index: u32) {
        self.connections[index as usize].retire_on_return = true;
    }

    /// The idle check (HikariCP's housekeeper, pgx's health check, ...): closes connections
    /// idle for `idle_timeout` or longer at `now`, while more than `min_open` are open.
    /// Returns how many it closed.
    pub fn close_expired_idle(&mut self, now: SimTime) -> u32 {
        let idle_timeout = self.spec.idle_timeout;
        let mut closed = 0;
        let mut position = 0;
        while position < self.idle.len() && self.open > self.spec.min_open {
            let index = self.idle[position];
            if self.connections[index as usize].idle_since + idle_timeout <= now {
                self.close(index);
                closed += 1;
            } else {
                position += 1;
            }
        }
        closed
    }

    /// Whether the background adder should open another connection now: to keep
    /// `min_idle` idle or `min_open` open, or (HikariCP) for a waiting borrower.
    pub fn wants_connection(&self) -> bool {
        !self.adder_busy
            && self.below_limit()
            && ((self.idle.len() as u32) < self.spec.min_idle
                || self.total() < self.spec.min_open
                || (self.waiting > 0 && !self.spec.opens_on_demand))
    }

    /// Reserves a slot for a connection the background adder opens; returns its index.
    pub fn begin_open(&mut self) -> u32 {
        self.adder_busy = true;
        self.begin_open_for(NO_JOB)
    }

    /// Reserves a slot for a connection that `job` (with its generation) opens for itself,
    /// or the adder when `NO_JOB`; returns its index.
    pub fn begin_open_for(&mut self, job: (u32, u32)) -> u32 {
        self.opening += 1;
        let connection = Connection {
            state: ConnState::Opening,
            generation: self.next_generation,
            idle_since: SimTime::ZERO,
            retire_on_return: false,
            opened_for: job,
        };
        self.next_generation = self.next_generation.wrapping_add(1);
        match self.closed_slots.pop() {
            Some(index) => {
                self.connections[index as usize] = connection;
                index
            }
            None => {
                self.connections.push(connection);
                (self.connections.len() - 1) as u32
            }
        }
    }

    /// The connection finished opening; it is now open and owned by the caller. Returns
    /// the job that opened it for itself (`NO_JOB` for the adder's).
    pub fn finish_open(&mut self, index: u32) -> (u32, u32) {
        self.opening -= 1;
        self.open += 1;
        let opened_for = self.connections[index as usize].opened_for;
        if opened_for == NO_JOB {
            self.adder_busy = false;
        }
        self.connect_backoff = SimTime::ZERO;
        self.last_connect_refused = false;
        self.connections[index as usize].state = ConnState::InUse;
        self.in_use += 1;
        debug_assert!(self
            .spec
            .size_limit
            .is_none_or(|l| self.total() <= l.max(self.open)));
        opened_for
    }

    /// Takes an idle connection, if any (most recently returned first).
    pub fn take_idle(&mut self) -> Option<u32> {
        let index = self.idle.pop()?;
        self.connections[index as usize].state = ConnState::InUse;
        self.in_use += 1;
        Some(index)
    }

    pub fn make_idle(&mut self, index: u32, now: SimTime) {
        let connection = &mut self.connections[index as usize];
        debug_assert_eq!(connection.state, ConnState::InUse);
        connection.state = ConnState::Idle;
        connection.idle_since = now;
        self.in_use -= 1;
        self.idle.push(index);
    }

    /// Closes a connection that is in use (by the caller) or idle.
    pub fn close(&mut self, index: u32) {
        let connection = &mut self.connections[index as usize];
        match connection.state {
            ConnState::InUse => self.in_use -= 1,
            ConnState::Idle => {
                if let Some(position) = self.idle.iter().position(|&i| i == index) {
                    self.idle.swap_remove(position);
                }
            }
            ConnState::Opening | ConnState::Closed => {
                unreachable!("closing a connection that is not open")
            }
        }
        connection.state = ConnState::Closed;
        connection.retire_on_return = false;
        self.open -= 1;
        self.closed_slots.push(index);
    }

    /// How a borrower fails when no connection comes in time. HikariCP reports the last
    /// connect failure as the cause when the pool could not grow.
    pub fn acquire_failure(&self) -> FailureKind {
        if self.last_connect_refused {
            FailureKind::DbRefused
        } else {
            FailureKind::AcquireTimeout
        }
    }

    /// The database refused a connect: the adder backs off (10 ms doubling to 5 s).
    pub fn note_refused(&mut self) -> SimTime {
        self.adder_busy = true;
        self.last_connect_refused = true;
        self.connect_backoff = if self.connect_backoff.is_zero() {
            CONNECT_BACKOFF_FIRST
        } else {
            SimTime(self.connect_backoff.0.saturating_mul(2)).min(CONNECT_BACKOFF_MAX)
        };
        self.connect_backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool::new(crate::validate::mm_c_pool_model(4, 100.0, 10.0, "1s", 60).pool)
    }

    #[test]
    fn a_reused_slot_is_a_new_generation() {
        let mut pool = pool();
        let first = pool.begin_open();
        pool.finish_open(first);
        let generation = pool.connection(first).generation;
        pool.close(first);
        assert!(pool.holds(first, generation), "closed, not yet reused");
        let again = pool.begin_open();
        assert_eq!(again, first, "the closed slot is reused");
        assert!(!pool.holds(again, generation));
    }

    #[test]
    fn a_replacing_pool_never_holds_an_old_connection() {
        let mut old = pool();
        let mut named = Vec::new();
        for _ in 0..3 {
            let slot = old.begin_open();
            old.finish_open(slot);
            named.push((slot, old.connection(slot).generation));
        }
        let mut fresh = Pool::replacing(&old, old.spec.clone());
        assert!(named.iter().all(|&(slot, g)| !fresh.holds(slot, g)));
        for _ in 0..3 {
            let slot = fresh.begin_open();
            fresh.finish_open(slot);
        }
        // The same slots are in use again, by connections of later generations.
        assert!(named.iter().all(|&(slot, g)| !fresh.holds(slot, g)));
        assert!(fresh.holds(0, fresh.connection(0).generation));
    }
}
