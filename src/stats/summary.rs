//! Per-run streaming statistics: counters, hdrhistogram percentiles and time averages.
//!
//! Everything is recorded as the run goes, in fixed memory, so a ten-hour horizon
//! costs no more memory than a ten-minute one. Only requests offered after the
//! warmup count, and time averages integrate only over [warmup, horizon].

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::tally::{Tally, HISTOGRAM_MAX_US};
use crate::config::model::FailureKind;
use crate::sim::time::SimTime;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestCounts {
    pub offered: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub attempts: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FailureCounts {
    pub acquire_timeout: u64,
    pub client_timeout: u64,
    pub db_refused: u64,
    pub rejected: u64,
    pub retries_exhausted: u64,
    /// Dropped because the backlog reached the engine's limit (an unstable system).
    pub backlog_full: u64,
    /// Waited in PgBouncer past query_wait_timeout (models with a `[proxy]` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_wait_timeout: Option<u64>,
    /// Failed because PgBouncer refused the pool's client connections (max_client_conn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_refused: Option<u64>,
}

impl FailureCounts {
    pub fn get_mut(&mut self, kind: FailureKind) -> &mut u64 {
        match kind {
            FailureKind::AcquireTimeout => &mut self.acquire_timeout,
            FailureKind::ClientTimeout => &mut self.client_timeout,
            FailureKind::DbRefused => &mut self.db_refused,
            FailureKind::Rejected => &mut self.rejected,
            FailureKind::RetriesExhausted => &mut self.retries_exhausted,
            FailureKind::BacklogFull => &mut self.backlog_full,
            FailureKind::ProxyWaitTimeout => self.proxy_wait_timeout.get_or_insert(0),
            FailureKind::ProxyRefused => self.proxy_refused.get_or_insert(0),
        }
    }
    pub fn get(&self, kind: FailureKind) -> u64 {
        match kind {
            FailureKind::AcquireTimeout => self.acquire_timeout,
            FailureKind::ClientTimeout => self.client_timeout,
            FailureKind::DbRefused => self.db_refused,
            FailureKind::Rejected => self.rejected,
            FailureKind::RetriesExhausted => self.retries_exhausted,
            FailureKind::BacklogFull => self.backlog_full,
            FailureKind::ProxyWaitTimeout => self.proxy_wait_timeout.unwrap_or(0),
            FailureKind::ProxyRefused => self.proxy_refused.unwrap_or(0),
        }
    }
    /// Adds `other`'s counts (the proxy kinds stay absent unless one side has them).
    pub fn add(&mut self, other: &FailureCounts) {
        for kind in FailureKind::ALL
            .into_iter()
            .chain([FailureKind::BacklogFull])
        {
            let count = other.get(kind);
            let present = match kind {
                FailureKind::ProxyWaitTimeout => other.proxy_wait_timeout.is_some(),
                FailureKind::ProxyRefused => other.proxy_refused.is_some(),
                _ => true,
            };
            if present {
                *self.get_mut(kind) += count;
            }
        }
    }
    pub fn total(&self) -> u64 {
        self.acquire_timeout
            + self.client_timeout
            + self.db_refused
            + self.rejected
            + self.retries_exhausted
            + self.backlog_full
            + self.proxy_wait_timeout.unwrap_or(0)
            + self.proxy_refused.unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyMs {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PoolWaitMs {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// PgBouncer's figures for one run (models with a `[proxy]` only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProxySummary {
    pub pool_mode: String,
    /// Most server connections open at once, all PgBouncers together.
    pub peak_server_connections: u32,
    /// Time-average server connections open.
    pub mean_server_connections: f64,
    /// Time-average server connections held by a client (PgBouncer's sv_active).
    pub mean_active_server_connections: f64,
    /// proxy instances x default_pool_size.
    pub server_pool_capacity: u32,
    /// Share of server-connection requests that had to wait.
    pub p_wait: f64,
    /// Wait for a server connection in PgBouncer, over all requests for one, in ms.
    pub wait_mean_ms: f64,
    pub wait_p99_ms: f64,
    pub wait_max_ms: f64,
    /// Clients that waited past query_wait_timeout (attempts, retries included).
    pub wait_timeouts: u64,
    /// Client connects refused at max_client_conn (or, in session mode, for want of a server).
    pub refused_connects: u64,
    /// Reserve server connections opened after reserve_pool_timeout.
    pub reserve_opened: u64,
}

/// Figures the tests and `validate` use beyond the output keys of docs/outputs.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Diagnostics {
    /// Time-average number of requests in the system (client view, backoff included).
    pub mean_requests_in_system: f64,
    /// Mean time from offer to final outcome, success or failure, in ms.
    pub mean_sojourn_ms: f64,
    /// Measured offered rate, per second of measurement window.
    pub offered_rps: f64,
    /// Time-average connections in use, summed over the fleet.
    pub mean_connections_in_use: f64,
    /// Largest open + opening seen in any single pool.
    pub peak_pool_connections: u32,
    /// Largest number of statements active at once at the database.
    pub peak_db_statements: u32,
    /// Connects the database refused.
    pub db_connect_refusals: u64,
    /// Pool acquisitions by measured requests (immediate, waited or timed out).
    pub acquisitions: u64,
    /// Wall-clock-free count of connections opened.
    pub connections_opened: u64,
    /// Measured requests that succeeded by the horizon (the rest finished in the drain).
    pub succeeded_in_window: u64,
    /// Requests in the system when the first measured request arrived.
    pub backlog_at_warmup: u64,
    /// Requests in the system at the horizon.
    pub backlog_at_horizon: u64,
    /// Whether `backlog_at_horizon` has been taken.
    pub reached_horizon: bool,
    /// Successful latencies above the histogram's 24 h range (percentiles clamp there).
    pub latencies_above_range: u64,
}

/// An unstable run: offered load beyond what the system served, so the backlog grew.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Instability {
    /// Offered rate inside the measurement window, per second.
    pub offered_rps: f64,
    /// Successes that finished inside the window, per second.
    pub served_rps: f64,
    /// Requests in the system at the warmup and at the horizon.
    pub backlog_at_warmup: u64,
    pub backlog_at_horizon: u64,
    /// Growth of the requests in the system, per minute of the window.
    pub backlog_growth_per_min: f64,
    /// Requests dropped at the engine's backlog limit (`failures.backlog_full`).
    pub dropped: u64,
}

impl Instability {
    /// Whether the backlog grew by more than 1% of what was offered (and by more than
    /// 50 requests), or arrivals were dropped at the backlog limit.
    fn detect(
        counts: &RequestCounts,
        failures: &FailureCounts,
        d: &Diagnostics,
        window_s: f64,
    ) -> Option<Instability> {
        let growth = d.backlog_at_horizon as f64 - d.backlog_at_warmup as f64;
        let grew = growth > 50.0_f64.max(0.01 * counts.offered as f64);
        (grew || failures.backlog_full > 0).then(|| Instability {
            offered_rps: counts.offered as f64 / window_s,
            served_rps: d.succeeded_in_window as f64 / window_s,
            backlog_at_warmup: d.backlog_at_warmup,
            backlog_at_horizon: d.backlog_at_horizon,
            backlog_growth_per_min: growth / (window_s / 60.0),
            dropped: failures.backlog_full,
        })
    }
}

/// One run's results, with exactly the JSON keys of docs/outputs.md.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub requests: RequestCounts,
    pub failures: FailureCounts,
    pub error_rate: f64,
    pub throughput_rps: f64,
    pub latency_ms: LatencyMs,
    pub pool_wait_ms: PoolWaitMs,
    pub p_wait: f64,
    pub pool_utilization: f64,
    pub db_utilization: f64,
    pub peak_db_connections: u32,
    /// PgBouncer's figures (models with a `[proxy]` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySummary>,
    pub events_processed: u64,
    pub wall_seconds: f64,
    /// Present only when the run was unstable (see [`Instability`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unstable: Option<Instability>,
    #[serde(skip)]
    pub diagnostics: Diagnostics,
    /// Each service's own figures, in the model's order, when several services share
    /// the database (empty for a single-service model). The database's figures
    /// (`db_utilization`, `peak_db_connections`) are the shared database's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSummary>,
}

/// One service's summary in a multi-service run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceSummary {
    pub name: String,
    /// The most connections one of the service's pools held at once.
    pub peak_pool_connections: u32,
    /// Connects the service's pools had refused by the database (all slots taken).
    pub db_connect_refusals: u64,
    pub summary: Summary,
}

/// A quantity integrated over time within the measurement window.
#[derive(Debug, Clone, Copy)]
pub struct TimeAverage {
    value: f64,
    since: SimTime,
    area: f64,
}

impl TimeAverage {
    pub fn new() -> TimeAverage {
        TimeAverage {
            value: 0.0,
            since: SimTime::ZERO,
            area: 0.0,
        }
    }
    /// The quantity changes to `value` at `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, value: f64, window: (SimTime, SimTime)) {
        let start = self.since.max(window.0);
        let end = now.min(window.1);
        if end > start {
            self.area += self.value * (end - start).span_ns_f64();
        }
        self.value = value;
        self.since = now;
    }
    /// The average over the window; call after the window has closed.
    pub fn mean(&self, window: (SimTime, SimTime)) -> f64 {
        let mut copy = *self;
        copy.set(window.1, self.value, window);
        copy.area / (window.1 .0 - window.0 .0) as f64
    }
}

impl Default for TimeAverage {
    fn default() -> Self {
        Self::new()
    }
}

/// Accumulates one run's statistics as events happen.
pub struct Collector {
    pub window: (SimTime, SimTime),
    pub counts: RequestCounts,
    pub failures: FailureCounts,
    latency_us: Tally,
    latency_sum_ns: f64,
    pool_wait_us: Tally,
    pool_wait_sum_ns: f64,
    latency_max: SimTime,
    acquisitions_waited: u64,
    acquisitions: u64,
    sojourn_sum_ns: f64,
    pub in_system: TimeAverage,
    pub connections_in_use: TimeAverage,
    /// Fleet pool capacity (sum of max_size over running instances).
    pub pool_capacity: TimeAverage,
    pub busy_cores: TimeAverage,
    pub diagnostics: Diagnostics,
}

fn to_histogram_us(duration: SimTime) -> u64 {
    (duration.0 / 1_000).clamp(1, HISTOGRAM_MAX_US)
}

impl Collector {
    pub fn new(warmup: SimTime, horizon: SimTime) -> Collector {
        Collector {
            window: (warmup, horizon),
            counts: RequestCounts::default(),
            failures: FailureCounts::default(),
            latency_us: Tally::new(),
            latency_sum_ns: 0.0,
            pool_wait_us: Tally::new(),
            pool_wait_sum_ns: 0.0,
            latency_max: SimTime::ZERO,
            acquisitions_waited: 0,
            acquisitions: 0,
            sojourn_sum_ns: 0.0,
            in_system: TimeAverage::new(),
            connections_in_use: TimeAverage::new(),
            pool_capacity: TimeAverage::new(),
            busy_cores: TimeAverage::new(),
            diagnostics: Diagnostics::default(),
        }
    }

    /// Takes the backlog at the horizon (once).
    pub fn note_backlog_at_horizon(&mut self, requests_in_system: u32) {
        self.diagnostics.reached_horizon = true;
        self.diagnostics.backlog_at_horizon = u64::from(requests_in_system);
    }

    /// A measured request succeeded at `now` after `latency`.
    #[inline]
    pub fn record_success(&mut self, latency: SimTime, now: SimTime) {
        self.counts.succeeded += 1;
        if now <= self.window.1 {
            self.diagnostics.succeeded_in_window += 1;
        }
        if latency > self.latency_max {
            self.latency_max = latency;
        }
        self.latency_sum_ns += latency.span_ns_f64();
        self.sojourn_sum_ns += latency.span_ns_f64();
        self.latency_us.record(to_histogram_us(latency));
    }

    #[inline]
    pub fn record_failure(&mut self, kind: FailureKind, sojourn: SimTime) {
        self.counts.failed += 1;
        *self.failures.get_mut(kind) += 1;
        self.sojourn_sum_ns += sojourn.span_ns_f64();
    }

    /// One acquisition attempt: `waited` is zero when a connection was idle.
    #[inline]
    pub fn record_acquisition(&mut self, waited: SimTime) {
        self.acquisitions += 1;
        self.pool_wait_sum_ns += waited.span_ns_f64();
        if waited.is_zero() {
            self.pool_wait_us.record(0);
        } else {
            self.acquisitions_waited += 1;
            self.pool_wait_us.record(to_histogram_us(waited));
        }
    }

    pub fn finish(
        mut self,
        db_cores: u32,
        peak_db_connections: u32,
        events_processed: u64,
        wall_seconds: f64,
    ) -> Summary {
        let window = self.window;
        let window_s = (window.1 .0 - window.0 .0) as f64 / 1e9;
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(q) as f64 / 1e3
            }
        };
        let latency = &self.latency_us.histogram();
        let succeeded = self.counts.succeeded as f64;
        let latency_ms = LatencyMs {
            mean: if succeeded > 0.0 {
                self.latency_sum_ns / succeeded / 1e6
            } else {
                f64::NAN
            },
            p50: ms(latency, 0.50),
            p90: ms(latency, 0.90),
            p95: ms(latency, 0.95),
            p99: ms(latency, 0.99),
            p999: ms(latency, 0.999),
            max: if latency.is_empty() {
                f64::NAN
            } else if to_histogram_us(self.latency_max) == HISTOGRAM_MAX_US {
                // Above the histogram's range: the exact maximum, never a clamped one.
                self.latency_max.as_millis_f64()
            } else {
                latency.max() as f64 / 1e3
            },
        };
        self.diagnostics.latencies_above_range =
            latency.count_between(HISTOGRAM_MAX_US, HISTOGRAM_MAX_US);
        let wait = &self.pool_wait_us.histogram();
        let acquisitions = self.acquisitions as f64;
        let pool_wait_ms = PoolWaitMs {
            mean: if acquisitions > 0.0 {
                self.pool_wait_sum_ns / acquisitions / 1e6
            } else {
                f64::NAN
            },
            p50: ms(wait, 0.50),
            p95: ms(wait, 0.95),
            p99: ms(wait, 0.99),
            max: if wait.is_empty() {
                f64::NAN
            } else {
                wait.max() as f64 / 1e3
            },
        };
        debug_assert_eq!(self.counts.failed, self.failures.total());
        let offered = self.counts.offered as f64;
        let finished = offered.max(1.0);
        let in_use = self.connections_in_use.mean(window);
        self.diagnostics.mean_requests_in_system = self.in_system.mean(window);
        self.diagnostics.mean_sojourn_ms = self.sojourn_sum_ns / finished / 1e6;
        self.diagnostics.offered_rps = offered / window_s;
        self.diagnostics.mean_connections_in_use = in_use;
        self.diagnostics.acquisitions = self.acquisitions;
        Summary {
            error_rate: if offered > 0.0 {
                self.counts.failed as f64 / offered
            } else {
                0.0
            },
            throughput_rps: self.diagnostics.succeeded_in_window as f64 / window_s,
            unstable: Instability::detect(
                &self.counts,
                &self.failures,
                &self.diagnostics,
                window_s,
            ),
            latency_ms,
            pool_wait_ms,
            p_wait: if acquisitions > 0.0 {
                self.acquisitions_waited as f64 / acquisitions
            } else {
                0.0
            },
            pool_utilization: in_use / self.pool_capacity.mean(window).max(f64::MIN_POSITIVE),
            db_utilization: self.busy_cores.mean(window) / db_cores as f64,
            peak_db_connections,
            proxy: None,
            events_processed,
            wall_seconds,
            requests: self.counts,
            failures: self.failures,
            diagnostics: self.diagnostics,
            services: Vec::new(),
        }
    }
}
