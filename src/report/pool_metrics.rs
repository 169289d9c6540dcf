//! The metric names a pool's alerts are written on, per pool library.
//!
//! HikariCP publishes its pool through Micrometer (`hikaricp_connections_*`, tag
//! `pool`). SQLAlchemy, database/sql, node-postgres and pgx have no metrics of their
//! own; their OpenTelemetry instrumentations publish the database-client pool metrics
//! of the OpenTelemetry semantic conventions (`db.client.connection.*`, which an OTLP
//! to Prometheus export names `db_client_connection_*`). The report and the rules file
//! name the same metrics, so what the report says is what gets deployed.

use crate::config::model::{PoolKind, PoolSpec};

/// PromQL pieces for one pool library's metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolMetrics {
    /// Where the names come from, for the rules file's header.
    pub source: &'static str,
    /// Connections in use (a gauge selector).
    pub active: &'static str,
    /// The pool's connection limit (a gauge).
    pub max: &'static str,
    /// Requests waiting for a connection (a gauge).
    pub pending: &'static str,
    /// Acquisitions that timed out (a counter).
    pub timeouts_total: &'static str,
    /// The label that names the pool.
    pub pool_label: &'static str,
    /// Prefix of the alert names.
    pub alert_prefix: &'static str,
}

const MICROMETER: PoolMetrics = PoolMetrics {
    source: "HikariCP's Micrometer binder (tag `pool`)",
    active: "hikaricp_connections_active",
    max: "hikaricp_connections_max",
    pending: "hikaricp_connections_pending",
    timeouts_total: "hikaricp_connections_timeout_total",
    pool_label: "pool",
    alert_prefix: "HikariPool",
};

const OPENTELEMETRY: PoolMetrics = PoolMetrics {
    source: "the OpenTelemetry semantic conventions for database client connection pools (db.client.connection.*), as an OTLP to Prometheus export names them; rename them if your exporter differs",
    active: "db_client_connection_count{db_client_connection_state=\"used\"}",
    max: "db_client_connection_max",
    pending: "db_client_connection_pending_requests",
    timeouts_total: "db_client_connection_timeouts_total",
    pool_label: "db_client_connection_pool_name",
    alert_prefix: "DbClientPool",
};

/// The metrics a pool of `kind` is watched on.
pub fn pool_metrics(kind: PoolKind) -> PoolMetrics {
    match kind {
        PoolKind::HikariCp => MICROMETER,
        PoolKind::SqlAlchemy | PoolKind::GoSql | PoolKind::NodePg | PoolKind::Pgx => OPENTELEMETRY,
    }
}

/// The value the pool's limit gauge reads for size setting `size` of a pool like
/// `pool` (SQLAlchemy's limit is pool_size + max_overflow); `None` when unbounded.
pub fn limit_gauge_value(pool: &PoolSpec, size: u32) -> Option<u32> {
    pool.max_connections()
        .map(|_| size.saturating_add(pool.overflow()))
}
