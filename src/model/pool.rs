//! One instance's connection pool, with HikariCP's semantics.
//!
//! The pool owns its connections and its queue of waiting jobs; the system
//! decides when to open, hand over and close them. Like HikariCP it opens one
//! connection at a time (a single adder), counts connections being opened
//! against `max_size`, and retires each connection at its jittered lifetime.

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
    /// Bumped on close, so retirement events of a previous occupant are ignored.
    pub generation: u32,
    pub idle_since: SimTime,
    /// Past max_lifetime while in use: close on return.
    pub retire_on_return: bool,
}

/// A job waiting for a connection, with the time its acquire timeout fires.
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    pub job: u32,
    pub job_generation: u32,
    pub deadline: SimTime,
}

pub struct Pool {
    pub spec: PoolSpec,
    pub connections: Vec<Connection>,
    pub idle: Vec<u32>,
    closed_slots: Vec<u32>,
    /// Open connections (idle or in use); opening ones are counted in `opening`.
    pub open: u32,
    pub opening: u32,
    pub in_use: u32,
    pub waiters: VecDeque<Waiter>,
    /// Live waiters (the deque may also hold entries of jobs that left).
    pub waiting: u32,
    /// The single adder is connecting or backing off after a refusal.
    pub adder_busy: bool,
    pub connect_backoff: SimTime,
    pub last_connect_refused: bool,
    pub acquire_timer: Option<SimTime>,
    pub handoff_scheduled: bool,
}

/// HikariCP retries a failed connect after 10 ms, doubling up to 5 s (MODEL.md).
pub const CONNECT_BACKOFF_FIRST: SimTime = SimTime(10_000_000);
pub const CONNECT_BACKOFF_MAX: SimTime = SimTime(5_000_000_000);

impl Pool {
    pub fn new(spec: PoolSpec) -> Pool {
        let capacity = spec.max_size as usize;
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
        }
    }

    /// Open plus opening: what `max_size` bounds.
    pub fn total(&self) -> u32 {
        self.open + self.opening
    }

    /// Whether the adder should open another connection now.
    pub fn wants_connection(&self) -> bool {
        !self.adder_busy
            && self.total() < self.spec.max_size
            && ((self.idle.len() as u32) < self.spec.min_idle || self.waiting > 0)
    }

    /// Reserves a slot for a connection being opened and returns its index.
    pub fn begin_open(&mut self) -> u32 {
        self.opening += 1;
        self.adder_busy = true;
        let connection = Connection {
            state: ConnState::Opening,
            generation: 0,
            idle_since: SimTime::ZERO,
            retire_on_return: false,
        };
        match self.closed_slots.pop() {
            Some(index) => {
                let generation = self.connections[index as usize].generation;
                self.connections[index as usize] = Connection {
                    generation,
                    ..connection
                };
                index
            }
            None => {
                self.connections.push(connection);
                (self.connections.len() - 1) as u32
            }
        }
    }

    /// The connection finished opening; it is now open and owned by the caller.
    pub fn finish_open(&mut self, index: u32) {
        self.opening -= 1;
        self.open += 1;
        self.adder_busy = false;
        self.connect_backoff = SimTime::ZERO;
        self.last_connect_refused = false;
        self.connections[index as usize].state = ConnState::InUse;
        self.in_use += 1;
        debug_assert!(self.total() <= self.spec.max_size.max(self.open));
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
        connection.generation = connection.generation.wrapping_add(1);
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
