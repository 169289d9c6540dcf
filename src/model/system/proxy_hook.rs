//! The engine's side of PgBouncer (`[proxy]`): client connections of the pools go to a
//! PgBouncer instead of the database, and statements wait for a server connection.
//!
//! Session mode binds a server connection to each client connection from its connect
//! to its close; transaction mode hands one out from a transaction's first statement to
//! the end of its last; statement mode per statement. Only server connections take the
//! database's connection slots. `model::proxy` keeps the bookkeeping; this module ties
//! it to jobs, the database and the event queue. Each service (lane) has its own
//! PgBouncer tier or none (`Lane::proxy`): a service's pools talk only to its own, and
//! only server connections of any of them take the shared database's slots. Every
//! method here is a no-op (or the engine's old behaviour) for a service without a proxy.

use super::{Event, JobState, World, NONE};
use crate::config::model::{FailureKind, PoolMode};
use crate::model::pool::ConnState;
use crate::model::proxy::{ProxyState, ServerWaiter, UNBOUND};
use crate::sim::time::{round_to_u64, SimTime};

impl World {
    /// A pool wants a new connection: the database slot it takes (no proxy), or a
    /// PgBouncer client connection (and in session mode a server connection). Returns
    /// the PgBouncer and the extra connect time in ns, or the refusal's failure kind.
    pub(super) fn connect_slot(
        &mut self,
        instance: u32,
    ) -> Result<Option<(u32, f64)>, FailureKind> {
        let service = self.instances[instance as usize].service;
        let Some(proxy) = self.lanes[service as usize].proxy.as_mut() else {
            if !self.db.has_free_slot() {
                return Err(FailureKind::DbRefused);
            }
            self.db.take_slot();
            return Ok(None);
        };
        let measured = self.now >= self.spec.simulation.warmup;
        let refuse = |proxy: &mut ProxyState, kind: FailureKind| {
            if measured {
                proxy.refused_connects += 1;
            }
            proxy.set_refusal(instance, kind);
            Err(kind)
        };
        let Some(b) = proxy.pick_bouncer() else {
            return refuse(proxy, FailureKind::ProxyRefused);
        };
        let mut extra_ns = 0.0;
        if proxy.spec.pool_mode == PoolMode::Session {
            // HikariCP validates a new connection with a query, so its server is taken at connect.
            let bouncer = &mut proxy.bouncers[b as usize];
            if bouncer.has_idle_server() {
                proxy.active_changed(b, 1, self.now, self.stats.window);
            } else if bouncer.servers < proxy.spec.default_pool_size && self.db.has_free_slot() {
                bouncer.servers += 1;
                proxy.active_changed(b, 1, self.now, self.stats.window);
                self.db.take_slot();
                proxy.servers_changed(self.now, 1, self.stats.window);
                extra_ns = proxy
                    .spec
                    .server_connect_time
                    .sample_ns(&mut proxy.connect_rng);
            } else {
                return refuse(proxy, FailureKind::ProxyWaitTimeout);
            }
        }
        proxy.bouncers[b as usize].clients += 1;
        Ok(Some((b, extra_ns)))
    }

    /// The failure a borrower sees when its pool could not grow: the proxy's refusal
    /// when the pool talks to PgBouncer, else the pool's own verdict.
    pub(super) fn refusal_cause(&self, instance: u32, kind: FailureKind) -> FailureKind {
        let service = self.instances[instance as usize].service;
        match (&self.lanes[service as usize].proxy, kind) {
            (Some(proxy), FailureKind::DbRefused) => proxy.refusal(instance),
            _ => kind,
        }
    }

    /// `count` connections of the instance's pool closed (0 or more).
    pub(super) fn pool_connections_closed(&mut self, instance: u32, count: u32) {
        if !self.behind_proxy(instance) {
            for _ in 0..count {
                self.db.release_slot();
            }
        } else if count > 0 {
            self.unbind_clients(instance, false);
        }
    }

    /// The instance's pool was replaced (instance down): all its client connections close.
    pub(super) fn pool_replaced(&mut self, instance: u32, open: u32) {
        if !self.behind_proxy(instance) {
            self.pool_connections_closed(instance, open);
        } else {
            self.unbind_clients(instance, true);
        }
    }

    /// A connection opened for a pool that is gone (no proxy: its database slot frees).
    pub(super) fn stale_connect_done(&mut self, instance: u32) {
        if !self.behind_proxy(instance) {
            self.db.release_slot();
        }
    }

    /// Releases the PgBouncer side of the instance's closed client connections (of all
    /// of them when `all`): the client slot, and in session mode the server connection.
    fn unbind_clients(&mut self, instance: u32, all: bool) {
        let service = self.instances[instance as usize].service;
        let proxy = self.lanes[service as usize]
            .proxy
            .as_mut()
            .expect("called with a proxy");
        let pool = &self.instances[instance as usize].pool;
        let Some(map) = proxy.client_bouncer.get(instance as usize) else {
            return;
        };
        let session = proxy.spec.pool_mode == PoolMode::Session;
        for connection in 0..map.len() {
            let bound = proxy.client_bouncer[instance as usize][connection];
            if bound == UNBOUND
                || !(all || pool.connection(connection as u32).state == ConnState::Closed)
            {
                continue;
            }
            proxy.bouncers[bound as usize].clients -= 1;
            if session {
                proxy.active_changed(bound, -1, self.now, self.stats.window);
            }
            proxy.client_bouncer[instance as usize][connection] = UNBOUND;
        }
    }

    /// Before a statement: the one that begins a transaction (transaction and statement
    /// modes) needs a server connection first. Returns whether the job may run it now;
    /// otherwise it waits in its PgBouncer.
    pub(super) fn server_ready(&mut self, job: u32) -> bool {
        if !self.any_proxy {
            return true;
        }
        let j = self.jobs[job as usize];
        let service = self.instances[j.instance as usize].service;
        let Some(proxy) = self.lanes[service as usize].proxy.as_mut() else {
            return true;
        };
        if proxy.spec.pool_mode == PoolMode::Session
            || j.server != NONE
            || !proxy.begins_transaction[j.step as usize]
        {
            return true;
        }
        let b = proxy.bouncer_of(j.instance, j.connection);
        self.jobs[job as usize].server = b;
        if proxy.bouncers[b as usize].has_idle_server() {
            proxy.active_changed(b, 1, self.now, self.stats.window);
            if j.measured {
                proxy.note_wait(SimTime::ZERO);
            }
            return true;
        }
        let bouncer = &mut proxy.bouncers[b as usize];
        bouncer.waiters.push_back(ServerWaiter {
            job,
            job_generation: j.generation,
            since: self.now,
        });
        bouncer.waiting += 1;
        let slot = &mut self.jobs[job as usize];
        slot.state = JobState::ServerWaiting;
        slot.wait_started = self.now;
        self.open_servers(service, b);
        self.arm_proxy_timer(service, b);
        false
    }

    /// After a statement: the last one of a transaction (every one in statement mode)
    /// gives the server connection back.
    pub(super) fn statement_finished(&mut self, job: u32) {
        if !self.any_proxy {
            return;
        }
        let j = self.jobs[job as usize];
        let service = self.instances[j.instance as usize].service;
        let Some(proxy) = self.lanes[service as usize].proxy.as_ref() else {
            return;
        };
        if j.server != NONE
            && proxy.spec.pool_mode != PoolMode::Session
            && proxy.ends_transaction[j.step as usize]
        {
            self.jobs[job as usize].server = NONE;
            self.release_server(service, j.server);
        }
    }

    /// A job ended (success, failure or abandonment): its wait or its server ends too
    /// (PgBouncer rolls an open transaction back when the client goes).
    pub(super) fn job_left_proxy(&mut self, instance: u32, server: u32, state: JobState) {
        if server == NONE {
            return;
        }
        let service = self.instances[instance as usize].service;
        if state == JobState::ServerWaiting {
            let proxy = self.proxy_of(service);
            proxy.bouncers[server as usize].waiting -= 1;
        } else {
            self.release_server(service, server);
        }
    }

    /// Whether the instance's pool talks to a PgBouncer (its service has a proxy).
    fn behind_proxy(&self, instance: u32) -> bool {
        let service = self.instances[instance as usize].service;
        self.lanes[service as usize].proxy.is_some()
    }

    /// The PgBouncer tier of `service`, which the caller knows it has.
    fn proxy_of(&mut self, service: u32) -> &mut ProxyState {
        self.lanes[service as usize]
            .proxy
            .as_mut()
            .expect("a server implies a proxy")
    }

    fn release_server(&mut self, service: u32, b: u32) {
        let window = self.stats.window;
        let now = self.now;
        self.proxy_of(service).active_changed(b, -1, now, window);
        self.hand_idle_server(service, b);
    }

    /// The oldest client still waiting in PgBouncer `b`, stale entries dropped.
    fn oldest_server_waiter(&mut self, service: u32, b: u32) -> Option<ServerWaiter> {
        let proxy = self.lanes[service as usize].proxy.as_mut()?;
        let bouncer = &mut proxy.bouncers[b as usize];
        while let Some(&w) = bouncer.waiters.front() {
            let j = &self.jobs[w.job as usize];
            if j.generation == w.job_generation && j.state == JobState::ServerWaiting {
                return Some(w);
            }
            bouncer.waiters.pop_front();
        }
        None
    }

    /// An idle server connection of PgBouncer `b` goes to its oldest waiter; with none, a
    /// reserve connection closes and a pool connection stays open.
    fn hand_idle_server(&mut self, service: u32, b: u32) {
        if let Some(w) = self.oldest_server_waiter(service, b) {
            let proxy = self.lanes[service as usize]
                .proxy
                .as_mut()
                .expect("checked");
            let bouncer = &mut proxy.bouncers[b as usize];
            bouncer.waiters.pop_front();
            bouncer.waiting -= 1;
            proxy.active_changed(b, 1, self.now, self.stats.window);
            if self.jobs[w.job as usize].measured {
                proxy.note_wait(self.now - w.since);
            }
            self.start_statement(w.job);
            return;
        }
        let proxy = self.lanes[service as usize]
            .proxy
            .as_mut()
            .expect("called with a proxy");
        let pool_size = proxy.spec.default_pool_size;
        let bouncer = &mut proxy.bouncers[b as usize];
        if bouncer.servers > pool_size && bouncer.has_idle_server() {
            bouncer.servers -= 1;
            self.db.release_slot();
            proxy.servers_changed(self.now, -1, self.stats.window);
        }
    }

    /// Opens server connections in PgBouncer `b` for its waiters, up to its limit now.
    fn open_servers(&mut self, service: u32, b: u32) {
        let oldest = self.oldest_server_waiter(service, b).map(|w| w.since);
        let proxy = self.lanes[service as usize]
            .proxy
            .as_mut()
            .expect("called with a proxy");
        let limit = proxy.server_limit(oldest, self.now);
        let pool_size = proxy.spec.default_pool_size;
        loop {
            let bouncer = &mut proxy.bouncers[b as usize];
            if bouncer.servers >= limit
                || bouncer.opening >= bouncer.waiting
                || !self.db.has_free_slot()
            {
                return;
            }
            bouncer.servers += 1;
            bouncer.opening += 1;
            if bouncer.servers > pool_size {
                proxy.reserve_opened += 1;
            }
            self.db.take_slot();
            proxy.servers_changed(self.now, 1, self.stats.window);
            let connect_ns = proxy
                .spec
                .server_connect_time
                .sample_ns(&mut proxy.connect_rng);
            self.queue.schedule(
                self.now + SimTime(round_to_u64(connect_ns)),
                Event::ServerConnectDone {
                    service,
                    bouncer: b,
                },
            );
        }
    }

    pub(super) fn on_server_connect_done(&mut self, service: u32, b: u32) {
        self.proxy_of(service).bouncers[b as usize].opening -= 1;
        self.hand_idle_server(service, b);
    }

    /// Keeps one timer per PgBouncer at the next moment its oldest waiter reaches the
    /// reserve timeout or query_wait_timeout.
    fn arm_proxy_timer(&mut self, service: u32, b: u32) {
        let Some(oldest) = self.oldest_server_waiter(service, b) else {
            return;
        };
        let proxy = self.lanes[service as usize]
            .proxy
            .as_mut()
            .expect("checked");
        let spec = &proxy.spec;
        let mut due = oldest.since + spec.query_wait_timeout;
        let reserve_at = oldest.since + spec.reserve_pool_timeout;
        if spec.reserve_pool_size > 0 && reserve_at > self.now {
            due = due.min(reserve_at);
        }
        let bouncer = &mut proxy.bouncers[b as usize];
        if bouncer
            .timer_at
            .is_some_and(|at| at <= due && at >= self.now)
        {
            return;
        }
        bouncer.timer_at = Some(due);
        self.queue.schedule_later(
            due,
            Event::ProxyTimer {
                service,
                bouncer: b,
            },
        );
    }

    pub(super) fn on_proxy_timer(&mut self, service: u32, b: u32) {
        let now = self.now;
        let proxy = self.proxy_of(service);
        let bouncer = &mut proxy.bouncers[b as usize];
        if bouncer.timer_at == Some(now) {
            bouncer.timer_at = None;
        }
        let timeout = proxy.spec.query_wait_timeout;
        while let Some(w) = self.oldest_server_waiter(service, b) {
            if w.since + timeout > self.now {
                break;
            }
            if self.jobs[w.job as usize].measured {
                self.proxy_of(service).wait_timeouts += 1;
            }
            // The job leaves the queue as it is freed (`job_left_proxy`).
            self.fail_job(w.job, FailureKind::ProxyWaitTimeout);
        }
        self.open_servers(service, b);
        self.arm_proxy_timer(service, b);
    }
}
