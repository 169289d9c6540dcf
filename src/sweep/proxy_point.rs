//! PgBouncer's figures for one point of a sweep, aggregated over its replications.
//!
//! Kept beside `sweep.rs` so that models without a `[proxy]` carry nothing extra: the
//! point's `proxy` is `None` and points.csv and the report leave the proxy columns out.

use crate::stats::confidence::{estimate, Estimate};
use crate::stats::summary::Summary;
use crate::sweep::mean_over;

/// The proxy figures of a point (models with a `[proxy]` only).
#[derive(Debug, Clone)]
pub struct ProxyPoint {
    pub pool_mode: String,
    /// proxy instances x default_pool_size.
    pub server_pool_capacity: u32,
    /// Largest over the replications.
    pub peak_server_connections: u32,
    /// Server connections held by clients, time-averaged (PgBouncer's sv_active).
    pub mean_active_server_connections: Estimate,
    /// Share of server-connection requests that waited in PgBouncer.
    pub p_wait: Estimate,
    pub wait_mean_ms: Estimate,
    /// Failures as `proxy_wait_timeout` and `proxy_refused`, mean per replication.
    pub wait_timeout_failures: f64,
    pub refused_failures: f64,
    /// Client connects PgBouncer refused (at `max_client_conn`, or in session mode for
    /// want of a server connection), mean per replication: pools that never reach
    /// their size show here even when no request fails.
    pub refused_connects: f64,
}

/// Aggregates the replications' proxy figures, or `None` when the model has no proxy.
pub fn aggregate_proxy(summaries: &[&Summary], confidence: f64) -> Option<ProxyPoint> {
    let first = summaries.first()?.proxy.as_ref()?;
    let proxies: Vec<_> = summaries.iter().filter_map(|s| s.proxy.as_ref()).collect();
    let metric = |f: &dyn Fn(&crate::stats::summary::ProxySummary) -> f64| {
        estimate(
            &proxies.iter().map(|p| f(p)).collect::<Vec<_>>(),
            confidence,
        )
    };
    Some(ProxyPoint {
        pool_mode: first.pool_mode.clone(),
        server_pool_capacity: first.server_pool_capacity,
        peak_server_connections: proxies
            .iter()
            .map(|p| p.peak_server_connections)
            .max()
            .unwrap_or(0),
        mean_active_server_connections: metric(&|p| p.mean_active_server_connections),
        p_wait: metric(&|p| p.p_wait),
        wait_mean_ms: metric(&|p| p.wait_mean_ms),
        wait_timeout_failures: mean_over(summaries, |s| {
            s.failures.proxy_wait_timeout.unwrap_or(0) as f64
        }),
        refused_failures: mean_over(summaries, |s| s.failures.proxy_refused.unwrap_or(0) as f64),
        refused_connects: mean_over(summaries, |s| {
            s.proxy.as_ref().map_or(0.0, |p| p.refused_connects as f64)
        }),
    })
}
