//! PgBouncer's side of a run: each PgBouncer's server pool, its FIFO of clients waiting
//! for a server connection, and which PgBouncer each client connection talks to.
//!
//! This is bookkeeping only (no events, no database); `model::system::proxy_hook`
//! wires it to jobs, the database's connection slots and the event queue. Server
//! connections are counted, not named: PgBouncer hands any idle one to the next client.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::config::model::{FailureKind, PoolMode, ProxySpec};
use crate::sim::rng::Stream;
use crate::sim::time::SimTime;
use crate::stats::summary::{ProxySummary, TimeAverage};

/// Marks a client connection that talks to no PgBouncer (closed, or never opened).
pub const UNBOUND: u32 = u32::MAX;

/// A client waiting in a PgBouncer for a server connection.
#[derive(Debug, Clone, Copy)]
pub struct ServerWaiter {
    pub job: u32,
    pub job_generation: u32,
    pub since: SimTime,
}

/// One PgBouncer: its client connections and its server pool.
#[derive(Debug, Default)]
pub struct Bouncer {
    /// Client connections open (or opening) to this PgBouncer.
    pub clients: u32,
    /// Server connections open or opening.
    pub servers: u32,
    /// Server connections given to a client (or about to be, once opened).
    pub busy: u32,
    /// Server connections still connecting to PostgreSQL.
    pub opening: u32,
    /// Clients waiting for a server connection, oldest first (stale entries skipped).
    pub waiters: VecDeque<ServerWaiter>,
    /// Live entries in `waiters`.
    pub waiting: u32,
    /// When the pending timer (reserve or query_wait_timeout) fires, if one is armed.
    pub timer_at: Option<SimTime>,
}

impl Bouncer {
    /// An open server connection that no client holds.
    pub fn has_idle_server(&self) -> bool {
        self.servers > self.busy + self.opening
    }
}

/// Every PgBouncer of the run, the client-connection map and the proxy statistics.
pub struct ProxyState {
    pub spec: ProxySpec,
    pub bouncers: Vec<Bouncer>,
    /// `[instance][pool connection]`: the PgBouncer that client connection talks to.
    pub client_bouncer: Vec<Vec<u32>>,
    /// Round robin over PgBouncers for new client connections.
    next_bouncer: u32,
    /// Draws server connect times (its own stream, so other draws are undisturbed).
    pub connect_rng: Stream,
    /// Per instance: why the proxy last refused that pool's connect.
    pub last_refusal: Vec<FailureKind>,
    /// Per db step: it is the first (begins) or last (ends) db step of a transaction.
    pub begins_transaction: Vec<bool>,
    pub ends_transaction: Vec<bool>,
    // ---- statistics (time averages over the measurement window, as in `stats::summary`)
    pub server_connections: TimeAverage,
    /// Server connections held by a client (PgBouncer's sv_active), fleet-wide.
    pub active_servers: TimeAverage,
    pub total_active: u32,
    pub peak_server_connections: u32,
    pub total_servers: u32,
    /// Waits for a server connection that ended in one, in µs.
    pub wait_us: Histogram<u64>,
    /// Server connections handed to measured clients, and how many of them waited.
    pub acquisitions: u64,
    pub waited: u64,
    pub wait_timeouts: u64,
    pub refused_connects: u64,
    pub reserve_opened: u64,
}

impl ProxyState {
    pub fn new(
        spec: &ProxySpec,
        instances: usize,
        steps: usize,
        transactions: &[crate::config::model::Transaction],
        connect_rng: Stream,
    ) -> ProxyState {
        let mut begins_transaction = vec![false; steps];
        let mut ends_transaction = vec![false; steps];
        for t in transactions {
            begins_transaction[t.first_db_step as usize] = true;
            ends_transaction[t.last_db_step as usize] = true;
        }
        if spec.pool_mode == PoolMode::Statement {
            // Checked: every transaction has one db step, so each statement is one.
            ends_transaction.clone_from(&begins_transaction);
        }
        ProxyState {
            bouncers: (0..spec.instances).map(|_| Bouncer::default()).collect(),
            spec: spec.clone(),
            client_bouncer: vec![Vec::new(); instances],
            next_bouncer: 0,
            connect_rng,
            last_refusal: vec![FailureKind::ProxyRefused; instances],
            begins_transaction,
            ends_transaction,
            server_connections: TimeAverage::new(),
            active_servers: TimeAverage::new(),
            total_active: 0,
            peak_server_connections: 0,
            total_servers: 0,
            wait_us: Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3)
                .expect("static histogram bounds are valid"),
            acquisitions: 0,
            waited: 0,
            wait_timeouts: 0,
            refused_connects: 0,
            reserve_opened: 0,
        }
    }

    /// The next PgBouncer (round robin) with room for a client connection.
    pub fn pick_bouncer(&mut self) -> Option<u32> {
        let count = self.bouncers.len() as u32;
        for _ in 0..count {
            let chosen = self.next_bouncer % count;
            self.next_bouncer = (chosen + 1) % count;
            if self.bouncers[chosen as usize].clients < self.spec.max_client_conn {
                return Some(chosen);
            }
        }
        None
    }

    /// Records that `connection` of `instance` talks to `bouncer`.
    pub fn bind(&mut self, instance: u32, connection: u32, bouncer: u32) {
        if self.client_bouncer.len() <= instance as usize {
            // An instance added by autoscaling or a rollout.
            self.client_bouncer
                .resize(instance as usize + 1, Vec::new());
        }
        let map = &mut self.client_bouncer[instance as usize];
        if map.len() <= connection as usize {
            map.resize(connection as usize + 1, UNBOUND);
        }
        map[connection as usize] = bouncer;
    }

    /// Remembers why the proxy refused `instance`'s last connect.
    pub fn set_refusal(&mut self, instance: u32, kind: FailureKind) {
        if self.last_refusal.len() <= instance as usize {
            self.last_refusal
                .resize(instance as usize + 1, FailureKind::ProxyRefused);
        }
        self.last_refusal[instance as usize] = kind;
    }

    /// Why the proxy last refused `instance`'s connect.
    pub fn refusal(&self, instance: u32) -> FailureKind {
        self.last_refusal
            .get(instance as usize)
            .copied()
            .unwrap_or(FailureKind::ProxyRefused)
    }

    /// A measured client got a server connection after waiting `wait`.
    pub fn note_wait(&mut self, wait: SimTime) {
        self.acquisitions += 1;
        if !wait.is_zero() {
            self.waited += 1;
        }
        self.wait_us.saturating_record(wait.0 / 1_000);
    }

    /// The PgBouncer `connection` of `instance` talks to.
    pub fn bouncer_of(&self, instance: u32, connection: u32) -> u32 {
        self.client_bouncer[instance as usize][connection as usize]
    }

    /// Server connections one PgBouncer may hold now: the pool, plus the reserve once
    /// its oldest waiter has waited `reserve_pool_timeout`.
    pub fn server_limit(&self, oldest_since: Option<SimTime>, now: SimTime) -> u32 {
        let reserve = oldest_since
            .is_some_and(|since| now.saturating_sub(since) >= self.spec.reserve_pool_timeout);
        self.spec.default_pool_size
            + if reserve {
                self.spec.reserve_pool_size
            } else {
                0
            }
    }

    /// The fleet-wide count of server connections changed by `delta` at `now`.
    pub fn servers_changed(&mut self, now: SimTime, delta: i32, window: (SimTime, SimTime)) {
        self.total_servers = self.total_servers.wrapping_add_signed(delta);
        // Over the whole run, like `peak_db_connections`: pools fill before the warmup ends.
        self.peak_server_connections = self.peak_server_connections.max(self.total_servers);
        self.server_connections
            .set(now, f64::from(self.total_servers), window);
    }

    /// PgBouncer `b` hands out (`delta` = 1) or gets back (-1) a server connection.
    pub fn active_changed(&mut self, b: u32, delta: i32, now: SimTime, window: (SimTime, SimTime)) {
        let bouncer = &mut self.bouncers[b as usize];
        bouncer.busy = bouncer.busy.wrapping_add_signed(delta);
        self.total_active = self.total_active.wrapping_add_signed(delta);
        self.active_servers
            .set(now, f64::from(self.total_active), window);
    }

    /// The run's proxy figures for the summary.
    pub fn summary(&self, window: (SimTime, SimTime)) -> ProxySummary {
        let waits = &self.wait_us;
        let ms = |us: u64| us as f64 / 1e3;
        ProxySummary {
            pool_mode: match self.spec.pool_mode {
                PoolMode::Session => "session",
                PoolMode::Transaction => "transaction",
                PoolMode::Statement => "statement",
            }
            .into(),
            peak_server_connections: self.peak_server_connections,
            mean_server_connections: self.server_connections.mean(window),
            mean_active_server_connections: self.active_servers.mean(window),
            server_pool_capacity: self.spec.instances * self.spec.default_pool_size,
            p_wait: if self.acquisitions == 0 {
                0.0
            } else {
                self.waited as f64 / self.acquisitions as f64
            },
            wait_mean_ms: if waits.is_empty() {
                0.0
            } else {
                waits.mean() / 1e3
            },
            wait_p99_ms: ms(waits.value_at_quantile(0.99)),
            wait_max_ms: ms(waits.max()),
            wait_timeouts: self.wait_timeouts,
            refused_connects: self.refused_connects,
            reserve_opened: self.reserve_opened,
        }
    }
}
