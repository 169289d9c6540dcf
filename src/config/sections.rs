//! The model file as written: serde structs that mirror the TOML of docs/model.md exactly.
//!
//! Every table denies unknown keys, so a typo is an error, never a silently ignored
//! setting. Defaults that need no cross-field knowledge (PostgreSQL's, the client's)
//! live here; the pool's depend on its `kind` and are filled in by `check_pool`; everything else is decided when the file is checked (`check_model`).

use serde::Deserialize;

use super::distribution::DistSpec;
use toml::Table;

// ---------------------------------------------------------------- the file

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub traffic: TrafficSection,
    pub request: RequestSection,
    pub client: Option<ClientSection>,
    pub fleet: FleetSection,
    #[serde(default)]
    pub pool: PoolSection,
    pub database: DatabaseSection,
    /// `[proxy]`: PgBouncer between the pools and the database (`config::proxy`).
    pub proxy: Option<super::proxy::ProxySection>,
    pub events: Option<Vec<EventSection>>,
    pub alerts: Option<Vec<AlertSection>>,
    pub autoscale: Option<AutoscaleSection>,
    #[serde(default)]
    pub simulation: SimulationSection,
    /// `[uncertainty]`: low and high ends of inputs the model only assumes, by the
    /// dotted path `--set` takes (checked in `config::uncertainty`).
    pub uncertainty: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSection {
    pub rate: f64,
    #[serde(default = "one")]
    pub growth: f64,
    #[serde(default = "default_arrivals")]
    pub arrivals: String,
    pub profile: Option<Vec<ProfilePoint>>,
    pub trace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePoint {
    pub at: String,
    pub factor: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSection {
    #[serde(default = "default_scope")]
    pub connection_scope: String,
    pub steps: Vec<StepSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    pub name: String,
    pub kind: String,
    pub time: DistSpec,
    /// Names the transaction the step belongs to (`config::proxy::check_transactions`).
    pub transaction: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    pub timeout: Option<String>,
    pub retries: Option<RetriesSection>,
    pub retry_on: Option<Vec<String>>,
    #[serde(default)]
    pub cancel_on_timeout: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetriesSection {
    pub max: u32,
    #[serde(default = "default_retry_base")]
    pub base: String,
    #[serde(default = "default_retry_cap")]
    pub cap: String,
    #[serde(default = "default_jitter")]
    pub jitter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    pub instances: u32,
    #[serde(default = "default_balancer")]
    pub balancer: String,
    pub workers: Option<u32>,
    pub accept_queue: Option<u32>,
    /// CPUs each instance's runtime sees; only pgx's default max_conns reads it.
    pub cpus: Option<u32>,
}

/// `[pool]` as written: the fields of every pool library, each under its own library's
/// name. Which fields apply depends on `kind`; `check_pool` refuses the others and fills
/// in the library's own defaults (docs/model.md lists them with their versions).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// "hikaricp" (the default), "sqlalchemy", "go_sql", "node_pg" or "pgx".
    pub kind: Option<String>,
    pub connect_time: Option<DistSpec>,
    // HikariCP
    pub max_size: Option<u32>,
    pub min_idle: Option<u32>,
    pub acquire_timeout: Option<String>,
    pub max_lifetime: Option<String>,
    pub idle_timeout: Option<String>,
    pub fairness: Option<String>,
    // SQLAlchemy QueuePool
    pub pool_size: Option<u32>,
    /// -1 means unlimited overflow, as in SQLAlchemy.
    pub max_overflow: Option<i64>,
    pub pool_timeout: Option<String>,
    pub pool_recycle: Option<String>,
    // Go database/sql
    pub max_open: Option<u32>,
    pub max_idle: Option<u32>,
    pub conn_max_lifetime: Option<String>,
    pub conn_max_idle_time: Option<String>,
    // node-postgres pg-pool, under the names its users write in JavaScript
    pub max: Option<u32>,
    pub min: Option<u32>,
    #[serde(rename = "connectionTimeoutMillis")]
    pub connection_timeout_millis: Option<u64>,
    #[serde(rename = "idleTimeoutMillis")]
    pub idle_timeout_millis: Option<u64>,
    #[serde(rename = "maxLifetimeSeconds")]
    pub max_lifetime_seconds: Option<u64>,
    // pgx pgxpool
    pub max_conns: Option<u32>,
    pub min_conns: Option<u32>,
    pub max_conn_lifetime: Option<String>,
    pub max_conn_idle_time: Option<String>,
    pub health_check_period: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_reserved")]
    pub reserved_connections: u32,
    #[serde(default)]
    pub other_connections: u32,
    pub cores: u32,
    #[serde(default = "default_round_trip")]
    pub round_trip: String,
    #[serde(default)]
    pub contention: ContentionSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentionSection {
    #[serde(default)]
    pub serial: f64,
    #[serde(default)]
    pub crosstalk: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSection {
    #[serde(default = "default_horizon")]
    pub horizon: String,
    #[serde(default = "default_warmup")]
    pub warmup: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_sample_interval")]
    pub sample_interval: String,
    pub clock_start: Option<String>,
}

impl Default for SimulationSection {
    fn default() -> Self {
        SimulationSection {
            horizon: default_horizon(),
            warmup: default_warmup(),
            seed: default_seed(),
            sample_interval: default_sample_interval(),
            clock_start: None,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn default_arrivals() -> String {
    "poisson".into()
}
fn default_scope() -> String {
    "request".into()
}
fn default_retry_base() -> String {
    "100ms".into()
}
fn default_retry_cap() -> String {
    "2s".into()
}
fn default_jitter() -> String {
    "full".into()
}
fn default_balancer() -> String {
    "round_robin".into()
}
/// PostgreSQL max_connections.
fn default_max_connections() -> u32 {
    100
}
/// PostgreSQL superuser_reserved_connections.
fn default_reserved() -> u32 {
    3
}
fn default_round_trip() -> String {
    "0s".into()
}
fn default_horizon() -> String {
    "1h".into()
}
fn default_warmup() -> String {
    "5m".into()
}
fn default_seed() -> u64 {
    42
}
fn default_sample_interval() -> String {
    "10s".into()
}

// ---------------------------------------------------------------- the timeline sections

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSection {
    pub at: String,
    pub kind: String,
    pub factor: Option<f64>,
    pub duration: Option<String>,
    pub instance: Option<u32>,
    pub set: Option<Table>,
    pub batch: Option<u32>,
    pub interval: Option<String>,
    pub drain: Option<String>,
    pub surge: Option<u32>,
    /// Free text shown on timelines; defaults to a description of the event.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSection {
    pub name: String,
    pub metric: String,
    pub above: f64,
    #[serde(rename = "for", default = "zero")]
    pub hold: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSection {
    #[serde(default = "default_autoscale_metric")]
    pub metric: String,
    pub target: f64,
    pub min_instances: u32,
    pub max_instances: u32,
    #[serde(default = "default_reaction")]
    pub reaction_delay: String,
    #[serde(default = "default_boot")]
    pub boot_time: String,
    #[serde(default = "default_cooldown")]
    pub cooldown: String,
}

fn zero() -> String {
    "0s".into()
}
fn default_autoscale_metric() -> String {
    "pool.utilization".into()
}
/// The window the metric is averaged over before acting (HPA-style metric window).
fn default_reaction() -> String {
    "1m".into()
}
/// A JVM service: image pull, start-up and readiness probe.
fn default_boot() -> String {
    "90s".into()
}
/// HPA's scale-up stabilisation is short; 3 minutes between steps is a common setting.
fn default_cooldown() -> String {
    "3m".into()
}
