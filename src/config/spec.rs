//! The checked model: what the engine runs, with nothing left to validate.
//!
//! Durations are in simulated time, samplers are built, defaults are filled in and
//! every cross-field rule already holds, so the engine trusts these types as they are.

use super::distribution::TimeDist;
use crate::sim::time::{format_duration, SimTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionScope {
    /// One connection from the first db step to the end of the last.
    Request,
    /// Acquire and release around every db step.
    Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Db,
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    RoundRobin,
    Random,
    LeastOutstanding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fairness {
    Fifo,
    Barging,
}

/// How a request (or one attempt of it) ends badly. Each failed request has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    AcquireTimeout = 0,
    ClientTimeout = 1,
    DbRefused = 2,
    Rejected = 3,
    RetriesExhausted = 4,
    /// Dropped on arrival because the requests in the system reached the engine's
    /// backlog limit (an unstable system); never retried, not a choice for `retry_on`.
    BacklogFull = 5,
    /// Waited in PgBouncer for a server connection past `proxy.query_wait_timeout`.
    ProxyWaitTimeout = 6,
    /// PgBouncer refused the pool's client connection (`proxy.max_client_conn`).
    ProxyRefused = 7,
}

impl FailureKind {
    pub const ALL: [FailureKind; 7] = [
        FailureKind::AcquireTimeout,
        FailureKind::ClientTimeout,
        FailureKind::DbRefused,
        FailureKind::Rejected,
        FailureKind::RetriesExhausted,
        FailureKind::ProxyWaitTimeout,
        FailureKind::ProxyRefused,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::AcquireTimeout => "acquire_timeout",
            FailureKind::ClientTimeout => "client_timeout",
            FailureKind::DbRefused => "db_refused",
            FailureKind::Rejected => "rejected",
            FailureKind::RetriesExhausted => "retries_exhausted",
            FailureKind::BacklogFull => "backlog_full",
            FailureKind::ProxyWaitTimeout => "proxy_wait_timeout",
            FailureKind::ProxyRefused => "proxy_refused",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// Mean arrivals per second for the fleet, growth included, before the profile.
    pub rate_per_s: f64,
    pub growth: f64,
    /// Piecewise-linear multiplier over simulated time; empty means constant 1.
    pub profile: Vec<(SimTime, f64)>,
}

impl TrafficSpec {
    /// The profile multiplier at `t` (constant before the first and after the last point).
    pub fn profile_factor(&self, t: SimTime) -> f64 {
        let points = &self.profile;
        match points.iter().position(|(at, _)| *at > t) {
            None => points.last().map_or(1.0, |p| p.1),
            Some(0) => points[0].1,
            Some(i) => {
                let (t0, f0) = points[i - 1];
                let (t1, f1) = points[i];
                let span = (t1.0 - t0.0) as f64;
                f0 + (f1 - f0) * ((t.0 - t0.0) as f64 / span)
            }
        }
    }
    /// The largest profile multiplier: the thinning bound for time-varying arrivals.
    pub fn peak_factor(&self) -> f64 {
        if self.profile.is_empty() {
            1.0
        } else {
            self.profile.iter().map(|p| p.1).fold(0.0, f64::max)
        }
    }
}

#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub kind: StepKind,
    pub time: TimeDist,
}

#[derive(Debug, Clone)]
pub struct RetrySpec {
    /// Retries after the first attempt; 0 means none.
    pub max: u32,
    pub base: SimTime,
    pub cap: SimTime,
    pub jitter: Jitter,
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Per-attempt deadline; `None` means the client waits forever.
    pub timeout: Option<SimTime>,
    pub retry: RetrySpec,
    /// Bit `k` set means failure kind `k` is retried.
    pub retry_on_mask: u8,
    pub cancel_on_timeout: bool,
}

impl ClientSpec {
    pub fn retries(&self, kind: FailureKind) -> bool {
        self.retry_on_mask & (1 << kind as u8) != 0
    }
}

#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub instances: u32,
    pub balancer: Balancer,
    /// Concurrent requests per instance; `None` means unlimited.
    pub workers: Option<u32>,
    pub accept_queue: u32,
}

/// The pool library whose semantics and defaults a `[pool]` section uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    HikariCp,
    SqlAlchemy,
    GoSql,
    NodePg,
    Pgx,
}

impl PoolKind {
    pub const ALL: [PoolKind; 5] = [
        PoolKind::HikariCp,
        PoolKind::SqlAlchemy,
        PoolKind::GoSql,
        PoolKind::NodePg,
        PoolKind::Pgx,
    ];
    /// The value of `[pool] kind`.
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::HikariCp => "hikaricp",
            PoolKind::SqlAlchemy => "sqlalchemy",
            PoolKind::GoSql => "go_sql",
            PoolKind::NodePg => "node_pg",
            PoolKind::Pgx => "pgx",
        }
    }
    /// The dotted path of that field in a model: `pool.max_size`, `pool.pool_size`, ...
    pub fn size_path(self) -> String {
        format!("pool.{}", self.size_field())
    }
    /// The `[pool]` field that sizes this kind's pool (what `pool.max_size` aliases).
    pub fn size_field(self) -> &'static str {
        match self {
            PoolKind::HikariCp => "max_size",
            PoolKind::SqlAlchemy => "pool_size",
            PoolKind::GoSql => "max_open",
            PoolKind::NodePg => "max",
            PoolKind::Pgx => "max_conns",
        }
    }
}

/// One instance's pool as behaviour, whichever library it came from (docs/model.md maps
/// each library's fields onto these).
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub kind: PoolKind,
    /// The value of the kind's size field (`PoolKind::size_field`), as written or
    /// defaulted; 0 for an unlimited go_sql pool. Reports and sweeps show this number.
    pub size_setting: u32,
    /// Most connections (open plus opening) the pool holds; `None` = unbounded (only the
    /// database's max_connections stops it). Read it through `max_connections`.
    pub size_limit: Option<u32>,
    /// Idle connections kept: one returned while this many are idle is closed (SQLAlchemy's
    /// pool_size, Go's max_idle); `None` = every returned connection is kept.
    pub max_idle: Option<u32>,
    /// The pool opens connections in the background until this many are idle (HikariCP).
    pub min_idle: u32,
    /// Idle connections are never closed below this many open; the pool opens connections
    /// in the background up to it (HikariCP: min_idle, pgx: min_conns, node-pg: min).
    pub min_open: u32,
    /// How long a borrower waits for a connection when the pool is at its limit;
    /// `Some(ZERO)` fails at once, `None` waits until the client's deadline (or forever).
    pub acquire_timeout: Option<SimTime>,
    pub connect_time: TimeDist,
    /// `SimTime::ZERO` means connections never retire.
    pub max_lifetime: SimTime,
    /// Each connection retires up to this fraction early (HikariCP 2.5%, others 0).
    pub lifetime_jitter: f64,
    /// `SimTime::ZERO` means idle connections are never closed.
    pub idle_timeout: SimTime,
    /// How often idle connections past `idle_timeout` are looked for.
    pub idle_check_period: SimTime,
    /// A borrower that finds no idle connection below the limit opens its own at once,
    /// concurrently with others, and fails `db_refused` if the database refuses
    /// (SQLAlchemy, database/sql, pg-pool, pgx). Otherwise HikariCP's single background
    /// adder opens them one at a time, backing off after a refusal.
    pub opens_on_demand: bool,
    pub fairness: Fairness,
}

impl PoolSpec {
    /// The most connections one instance's pool can open; `None` = unbounded.
    pub fn max_connections(&self) -> Option<u32> {
        self.size_limit
    }
    /// The most connections one instance's pool can open, an unbounded pool counted
    /// as `database_slots` (all the database lets this fleet hold).
    pub fn max_connections_within(&self, database_slots: u32) -> u32 {
        self.size_limit.unwrap_or(database_slots)
    }
    /// Connections beyond the size setting (SQLAlchemy's max_overflow; 0 for the others).
    pub fn overflow(&self) -> u32 {
        self.size_limit
            .map_or(0, |limit| limit.saturating_sub(self.size_setting))
    }
    /// The pool in its own library's words, for reports of a non-HikariCP pool, e.g.
    /// "sqlalchemy pool_size 5 + max_overflow 10, pool_timeout 30s".
    pub fn summary(&self) -> String {
        let size = match (self.kind, self.size_limit) {
            (PoolKind::SqlAlchemy, Some(_)) => {
                format!("pool_size {} + max_overflow {}", self.size_setting, self.overflow())
            }
            (PoolKind::SqlAlchemy, None) => {
                format!("pool_size {} + unlimited overflow", self.size_setting)
            }
            (PoolKind::GoSql, None) => {
                "max_open 0 (unbounded: only the database's max_connections limits it, and connects past it fail db_refused)".into()
            }
            (kind, _) => format!("{} {}", kind.size_field(), self.size_setting),
        };
        let wait = match self.acquire_timeout {
            Some(timeout) => format!("acquire timeout {}", format_duration(timeout)),
            None => "waits until the client's deadline".into(),
        };
        format!("{} {size}, {wait}", self.kind.name())
    }
    /// Whether idle connections can ever be closed, so the idle check must run.
    pub fn closes_idle(&self) -> bool {
        self.idle_timeout > SimTime::ZERO && self.size_limit.is_none_or(|l| self.min_open < l)
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub max_connections: u32,
    pub reserved_connections: u32,
    pub other_connections: u32,
    pub cores: u32,
    pub round_trip: SimTime,
    pub serial: f64,
    pub crosstalk: f64,
}

impl DatabaseSpec {
    /// Connection slots this fleet may hold before PostgreSQL refuses (SQLSTATE 53300).
    pub fn slots_for_fleet(&self) -> u32 {
        self.max_connections
            .saturating_sub(self.reserved_connections)
            .saturating_sub(self.other_connections)
    }
    /// Speed of each of `active` statements under processor sharing with USL contention.
    #[inline]
    pub fn per_statement_speed(&self, active: u32) -> f64 {
        if active == 0 {
            return 1.0;
        }
        let n = active as f64;
        let share = (self.cores as f64 / n).min(1.0);
        share / (1.0 + self.serial * (n - 1.0) + self.crosstalk * n * (n - 1.0))
    }
}

#[derive(Debug, Clone)]
pub struct SimulationSpec {
    pub horizon: SimTime,
    pub warmup: SimTime,
    pub seed: u64,
    pub sample_interval: SimTime,
    pub clock_start: Option<String>,
}

/// A checked model: everything the engine needs, nothing left to validate.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub name: String,
    pub description: String,
    pub traffic: TrafficSpec,
    pub scope: ConnectionScope,
    pub steps: Vec<StepSpec>,
    pub client: ClientSpec,
    pub fleet: FleetSpec,
    pub pool: PoolSpec,
    pub database: DatabaseSpec,
    /// The request's transactions in step order (used by a proxy in transaction mode).
    pub transactions: Vec<super::proxy_spec::Transaction>,
    /// PgBouncer between the pools and the database, if any.
    pub proxy: Option<super::proxy_spec::ProxySpec>,
    pub simulation: SimulationSpec,
    /// Events, alerts, autoscaling and traces (empty for a steady-state model).
    pub timeline: Timeline,
    /// The first service's name when the model is written as `[[services]]`; `None` for
    /// a single-service model (whose top-level fields are its one, unnamed service).
    pub service_name: Option<String>,
    /// The services after the first, in file order (empty for a single-service model).
    pub more_services: Vec<ServiceSpec>,
}

/// One service of a `[[services]]` model, beside the first: its own traffic, requests,
/// client, fleet, pool and optional PgBouncer (`[services.proxy]`), sharing the model's
/// database and simulation settings.
///
/// The first service lives in `SystemSpec`'s own top-level fields, so the code written
/// for single-service models (which reads `spec.pool.max_size` and the like) keeps
/// working on it unchanged, and the multi-service code reaches every service, the first
/// included, through `SystemSpec::service` without a second copy that could drift.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub traffic: TrafficSpec,
    pub scope: ConnectionScope,
    pub steps: Vec<StepSpec>,
    pub client: ClientSpec,
    pub fleet: FleetSpec,
    pub pool: PoolSpec,
    /// The request's transactions in step order (used by its proxy in transaction mode).
    pub transactions: Vec<super::proxy_spec::Transaction>,
    /// The service's own PgBouncer (`[services.proxy]`), if any.
    pub proxy: Option<super::proxy_spec::ProxySpec>,
}

/// One service's settings, borrowed from a `SystemSpec` (the first or a later service).
#[derive(Debug, Clone, Copy)]
pub struct ServiceView<'a> {
    /// The service's name; empty for a single-service model.
    pub name: &'a str,
    pub traffic: &'a TrafficSpec,
    pub scope: ConnectionScope,
    pub steps: &'a [StepSpec],
    pub client: &'a ClientSpec,
    pub fleet: &'a FleetSpec,
    pub pool: &'a PoolSpec,
    pub transactions: &'a [super::proxy_spec::Transaction],
    /// The PgBouncer in front of the service's pools, if any.
    pub proxy: Option<&'a super::proxy_spec::ProxySpec>,
}

impl SystemSpec {
    /// How many services share the database: 1 for a single-service model.
    pub fn service_count(&self) -> usize {
        1 + self.more_services.len()
    }
    /// Whether the model is written as `[[services]]` with more than one entry.
    pub fn is_multi_service(&self) -> bool {
        !self.more_services.is_empty()
    }
    /// Service `index` (0 is the first, held in the top-level fields).
    pub fn service(&self, index: usize) -> ServiceView<'_> {
        match index.checked_sub(1) {
            None => ServiceView {
                name: self.service_name.as_deref().unwrap_or(""),
                traffic: &self.traffic,
                scope: self.scope,
                steps: &self.steps,
                client: &self.client,
                fleet: &self.fleet,
                pool: &self.pool,
                transactions: &self.transactions,
                proxy: self.proxy.as_ref(),
            },
            Some(later) => {
                let s = &self.more_services[later];
                ServiceView {
                    name: &s.name,
                    traffic: &s.traffic,
                    scope: s.scope,
                    steps: &s.steps,
                    client: &s.client,
                    fleet: &s.fleet,
                    pool: &s.pool,
                    transactions: &s.transactions,
                    proxy: s.proxy.as_ref(),
                }
            }
        }
    }
    /// Every service, the first included.
    pub fn services(&self) -> impl Iterator<Item = ServiceView<'_>> {
        (0..self.service_count()).map(|index| self.service(index))
    }
    /// The checked model as one service of a multi-service model named `name`.
    pub fn into_service(self, name: String) -> ServiceSpec {
        ServiceSpec {
            name,
            traffic: self.traffic,
            scope: self.scope,
            steps: self.steps,
            client: self.client,
            fleet: self.fleet,
            pool: self.pool,
            transactions: self.transactions,
            proxy: self.proxy,
        }
    }
}

// ---------------------------------------------------------------- loading

// ---------------------------------------------------------------- the checked timeline

/// A metric of the sampled time series (fleet-wide, per sample interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Connections in use, fleet total.
    PoolActive,
    /// Requests waiting for a connection, fleet total.
    PoolPending,
    /// In use / (running instances x each pool's `max_connections`).
    PoolUtilization,
    /// Connections held at the database, other clients included.
    DbConnections,
    /// Failed / finished requests in the interval.
    ErrorRate,
    /// p99 of successful requests finishing in the interval, in ms.
    LatencyP99,
}

pub const METRICS: [(&str, Metric); 6] = [
    ("pool.active", Metric::PoolActive),
    ("pool.pending", Metric::PoolPending),
    ("pool.utilization", Metric::PoolUtilization),
    ("db.connections", Metric::DbConnections),
    ("error_rate", Metric::ErrorRate),
    ("latency_p99", Metric::LatencyP99),
];

impl Metric {
    pub fn name(self) -> &'static str {
        METRICS
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

#[derive(Debug, Clone)]
pub enum EventAction {
    DbSlowdown {
        factor: f64,
        duration: SimTime,
    },
    InstanceDown {
        instance: u32,
        duration: SimTime,
    },
    /// A hot change: the model as it is afterwards.
    Set {
        after: Box<SystemSpec>,
    },
    RollingRestart {
        batch: u32,
        interval: SimTime,
        drain: SimTime,
        surge: u32,
        after: Box<SystemSpec>,
    },
    TrafficSurge {
        factor: f64,
        duration: SimTime,
    },
}

#[derive(Debug, Clone)]
pub struct TimelineEvent {
    pub at: SimTime,
    pub label: String,
    pub action: EventAction,
}

impl TimelineEvent {
    /// When the event's effect ends (for shading on charts).
    pub fn end(&self, instances: u32) -> SimTime {
        match &self.action {
            EventAction::DbSlowdown { duration, .. }
            | EventAction::InstanceDown { duration, .. }
            | EventAction::TrafficSurge { duration, .. } => self.at + *duration,
            EventAction::Set { .. } => self.at,
            EventAction::RollingRestart {
                batch,
                interval,
                drain,
                ..
            } => {
                let batches = instances.div_ceil((*batch).max(1)) as u64;
                self.at + SimTime(interval.0 * batches.saturating_sub(1)) + *drain
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub metric: Metric,
    pub above: f64,
    pub hold: SimTime,
}

#[derive(Debug, Clone)]
pub struct AutoscaleSpec {
    pub metric: Metric,
    pub target: f64,
    pub min_instances: u32,
    pub max_instances: u32,
    pub reaction_delay: SimTime,
    pub boot_time: SimTime,
    pub cooldown: SimTime,
}

/// Measured traffic: a rate per interval, or the arrivals themselves.
#[derive(Debug, Clone)]
pub enum Trace {
    /// (start, requests per second), piecewise constant, replacing `traffic.rate`.
    Rates(Vec<(SimTime, f64)>),
    /// Arrival times, replayed as they are.
    Arrivals(Vec<SimTime>),
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub events: Vec<TimelineEvent>,
    pub alerts: Vec<AlertRule>,
    pub autoscale: Option<AutoscaleSpec>,
    pub trace: Option<Trace>,
}

impl Timeline {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.alerts.is_empty()
            && self.autoscale.is_none()
            && self.trace.is_none()
    }
    /// Traffic surges as (start, end, factor).
    pub fn surges(&self) -> Vec<(SimTime, SimTime, f64)> {
        self.events
            .iter()
            .filter_map(|e| match e.action {
                EventAction::TrafficSurge { factor, duration } => {
                    Some((e.at, e.at + duration, factor))
                }
                _ => None,
            })
            .collect()
    }
}
