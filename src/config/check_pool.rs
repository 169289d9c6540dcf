//! `[pool]` for each pool library: its own field names, its own defaults, one behaviour.
//!
//! A Java, Python, Go or Node service is configured with its library's names
//! (`max_size`, `pool_size`, `max_open`, `max`, `max_conns`), so a model says what
//! the service's code says. This module refuses another library's names with the right
//! one for the chosen kind, fills in the library's defaults (docs/model.md gives their
//! versions) and maps every kind onto the one `PoolSpec` the engine runs.

use super::checker::Checker;
use super::distribution::{build_time_dist, DistSpec};
use super::error::{locate_field, InputError};
use super::sections::PoolSection;
use super::spec::{Fairness, PoolKind, PoolSpec};
use crate::sim::time::SimTime;

/// The path an override of `path` sets in `table`: `pool.max_size` is the kind-neutral
/// name of the pool's size, so for a non-HikariCP pool it sets that kind's own size field
/// (`pool.pool_size`, `pool.max_open`, `pool.max`, `pool.max_conns`). Other paths,
/// and a pool whose kind is not one poolsim knows (checking reports it), are unchanged.
pub fn resolve_pool_alias(table: &toml::Table, path: &str) -> String {
    if path != "pool.max_size" {
        return path.to_string();
    }
    let kind = table
        .get("pool")
        .and_then(|pool| pool.get("kind"))
        .and_then(toml::Value::as_str)
        .and_then(|name| PoolKind::ALL.into_iter().find(|k| k.name() == name));
    match kind {
        Some(kind) => kind.size_path(),
        None => path.to_string(),
    }
}

/// What a field does, so a field of another kind can be answered with this kind's name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Size,
    Minimum,
    AcquireTimeout,
    Lifetime,
    IdleTimeout,
    Other,
}

/// Every kind-specific field: its name in the file, the kind it belongs to and its role.
const FIELDS: [(&str, PoolKind, Role); 24] = [
    ("max_size", PoolKind::HikariCp, Role::Size),
    ("min_idle", PoolKind::HikariCp, Role::Minimum),
    ("acquire_timeout", PoolKind::HikariCp, Role::AcquireTimeout),
    ("max_lifetime", PoolKind::HikariCp, Role::Lifetime),
    ("idle_timeout", PoolKind::HikariCp, Role::IdleTimeout),
    ("fairness", PoolKind::HikariCp, Role::Other),
    ("pool_size", PoolKind::SqlAlchemy, Role::Size),
    ("max_overflow", PoolKind::SqlAlchemy, Role::Size),
    ("pool_timeout", PoolKind::SqlAlchemy, Role::AcquireTimeout),
    ("pool_recycle", PoolKind::SqlAlchemy, Role::Lifetime),
    ("max_open", PoolKind::GoSql, Role::Size),
    ("max_idle", PoolKind::GoSql, Role::Other),
    ("conn_max_lifetime", PoolKind::GoSql, Role::Lifetime),
    ("conn_max_idle_time", PoolKind::GoSql, Role::IdleTimeout),
    ("max", PoolKind::NodePg, Role::Size),
    ("min", PoolKind::NodePg, Role::Minimum),
    (
        "connectionTimeoutMillis",
        PoolKind::NodePg,
        Role::AcquireTimeout,
    ),
    ("idleTimeoutMillis", PoolKind::NodePg, Role::IdleTimeout),
    ("maxLifetimeSeconds", PoolKind::NodePg, Role::Lifetime),
    ("max_conns", PoolKind::Pgx, Role::Size),
    ("min_conns", PoolKind::Pgx, Role::Minimum),
    ("max_conn_lifetime", PoolKind::Pgx, Role::Lifetime),
    ("max_conn_idle_time", PoolKind::Pgx, Role::IdleTimeout),
    ("health_check_period", PoolKind::Pgx, Role::Other),
];

/// The names of the kind-specific fields that `pool` sets, in `FIELDS` order.
fn fields_set(pool: &PoolSection) -> Vec<&'static str> {
    let set = [
        pool.max_size.is_some(),
        pool.min_idle.is_some(),
        pool.acquire_timeout.is_some(),
        pool.max_lifetime.is_some(),
        pool.idle_timeout.is_some(),
        pool.fairness.is_some(),
        pool.pool_size.is_some(),
        pool.max_overflow.is_some(),
        pool.pool_timeout.is_some(),
        pool.pool_recycle.is_some(),
        pool.max_open.is_some(),
        pool.max_idle.is_some(),
        pool.conn_max_lifetime.is_some(),
        pool.conn_max_idle_time.is_some(),
        pool.max.is_some(),
        pool.min.is_some(),
        pool.connection_timeout_millis.is_some(),
        pool.idle_timeout_millis.is_some(),
        pool.max_lifetime_seconds.is_some(),
        pool.max_conns.is_some(),
        pool.min_conns.is_some(),
        pool.max_conn_lifetime.is_some(),
        pool.max_conn_idle_time.is_some(),
        pool.health_check_period.is_some(),
    ];
    FIELDS
        .iter()
        .zip(set)
        .filter(|(_, is_set)| *is_set)
        .map(|((name, _, _), _)| *name)
        .collect()
}

/// What a user of `kind` writes for `role`, or why the library has no such setting.
fn equivalent(kind: PoolKind, role: Role) -> &'static str {
    use PoolKind::*;
    match (kind, role) {
        (HikariCp, Role::Size) => "write max_size",
        (SqlAlchemy, Role::Size) => "write pool_size (+ max_overflow)",
        (GoSql, Role::Size) => "write max_open (0 = unlimited)",
        (NodePg, Role::Size) => "write max",
        (Pgx, Role::Size) => "write max_conns",
        (HikariCp, Role::Minimum) => "write min_idle",
        (NodePg, Role::Minimum) => "write min",
        (Pgx, Role::Minimum) => "write min_conns",
        (SqlAlchemy | GoSql, Role::Minimum) => {
            "the library keeps no minimum; connections open on demand"
        }
        (HikariCp, Role::AcquireTimeout) => "write acquire_timeout",
        (SqlAlchemy, Role::AcquireTimeout) => "write pool_timeout",
        (NodePg, Role::AcquireTimeout) => "write connectionTimeoutMillis",
        (GoSql | Pgx, Role::AcquireTimeout) => {
            "the pool waits until the request's context deadline; set client.timeout"
        }
        (HikariCp, Role::Lifetime) => "write max_lifetime",
        (SqlAlchemy, Role::Lifetime) => "write pool_recycle",
        (GoSql, Role::Lifetime) => "write conn_max_lifetime",
        (NodePg, Role::Lifetime) => "write maxLifetimeSeconds",
        (Pgx, Role::Lifetime) => "write max_conn_lifetime",
        (HikariCp, Role::IdleTimeout) => "write idle_timeout",
        (GoSql, Role::IdleTimeout) => "write conn_max_idle_time",
        (NodePg, Role::IdleTimeout) => "write idleTimeoutMillis",
        (Pgx, Role::IdleTimeout) => "write max_conn_idle_time",
        (SqlAlchemy, Role::IdleTimeout) => {
            "QueuePool never closes idle connections below pool_size; pool_recycle bounds their age"
        }
        (_, Role::Other) => "the library has no such setting; see docs/model.md for its fields",
    }
}

/// The library's name as its users know it.
fn library(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::HikariCp => "HikariCP",
        PoolKind::SqlAlchemy => "SQLAlchemy",
        PoolKind::GoSql => "database/sql",
        PoolKind::NodePg => "node-postgres",
        PoolKind::Pgx => "pgx",
    }
}

/// Connect time when the model gives none: a connect within one data centre (also
/// `proxy.server_connect_time`'s default: a PostgreSQL backend start).
pub(super) fn default_connect_time() -> DistSpec {
    DistSpec {
        dist: "lognormal".into(),
        median: Some("8ms".into()),
        p99: Some("30ms".into()),
        value: None,
        mean: None,
        cv: None,
        scale: None,
        shape: None,
        min: None,
        max: None,
        file: None,
        column: None,
        components: None,
        weight: None,
    }
}

/// HikariCP retires each connection up to 2.5% before `max_lifetime`.
const HIKARI_LIFETIME_JITTER: f64 = 0.025;
/// HikariCP's housekeeper runs every 30 s.
const HIKARI_HOUSEKEEPING: SimTime = SimTime(30_000_000_000);
/// database/sql's connection cleaner never runs more often than once a second.
const GO_CLEANER_MIN_INTERVAL: SimTime = SimTime(1_000_000_000);
/// pg-pool closes each idle client on its own timer; poolsim looks once a second.
const NODE_IDLE_CHECK: SimTime = SimTime(1_000_000_000);

/// Checks `[pool]` for its kind and maps it onto the engine's behaviour.
/// `fleet_cpus` is `[fleet] cpus`, which pgx's default max_conns depends on.
pub(super) fn check_pool(
    c: &Checker,
    pool: &PoolSection,
    fleet_cpus: Option<u32>,
) -> Result<PoolSpec, InputError> {
    let kind = c.choice(
        "pool.kind",
        pool.kind.as_deref().unwrap_or("hikaricp"),
        &PoolKind::ALL.map(|k| (k.name(), k)),
    )?;
    for name in fields_set(pool) {
        let (_, owner, role) = FIELDS.iter().find(|(n, _, _)| *n == name).expect("listed");
        if *owner != kind {
            return Err(c.err(
                &format!("pool.{name}"),
                format!(
                    "`{name}` is {}'s name; for kind = \"{}\" {}",
                    library(*owner),
                    kind.name(),
                    equivalent(kind, *role)
                ),
                &format!(
                    "use the {} fields listed in docs/model.md, or set kind = \"{}\"",
                    library(kind),
                    owner.name()
                ),
            ));
        }
    }
    let connect_spec = pool
        .connect_time
        .clone()
        .unwrap_or_else(default_connect_time);
    let connect_time = build_time_dist(&connect_spec, c.base_dir).map_err(|e| {
        InputError::new(c.path, format!("connect_time: {}", e.message))
            .field(format!("pool.connect_time.{}", e.subfield))
            .line(locate_field(c.text, "pool.connect_time"))
            .hint(e.hint)
    })?;
    let base = PoolSpec {
        kind,
        size_setting: 0,
        size_limit: None,
        max_idle: None,
        min_idle: 0,
        min_open: 0,
        acquire_timeout: None,
        connect_time,
        max_lifetime: SimTime::ZERO,
        lifetime_jitter: 0.0,
        idle_timeout: SimTime::ZERO,
        idle_check_period: NODE_IDLE_CHECK,
        opens_on_demand: true,
        fairness: Fairness::Fifo,
    };
    match kind {
        PoolKind::HikariCp => check_hikari(c, pool, base),
        PoolKind::SqlAlchemy => check_sqlalchemy(c, pool, base),
        PoolKind::GoSql => check_go_sql(c, pool, base),
        PoolKind::NodePg => check_node_pg(c, pool, base),
        PoolKind::Pgx => check_pgx(c, pool, base, fleet_cpus),
    }
}

/// A size field that must be at least 1.
fn positive(c: &Checker, field: &str, value: u32, default_note: &str) -> Result<u32, InputError> {
    if value == 0 {
        return Err(c.err(
            field,
            "a pool of 0 connections cannot serve any request".into(),
            &format!("set it to 1 or more ({default_note})"),
        ));
    }
    Ok(value)
}

/// A minimum that must not exceed the pool's size.
fn at_most_size(
    c: &Checker,
    field: &str,
    min: u32,
    size_field: &str,
    size: u32,
) -> Result<u32, InputError> {
    if min > size {
        let name = field.trim_start_matches("pool.");
        return Err(c.err(
            field,
            format!("{name} ({min}) is larger than {size_field} ({size})"),
            &format!("set {name} <= {size_field}, or omit it (the library's default is 0)"),
        ));
    }
    Ok(min)
}

fn check_hikari(c: &Checker, pool: &PoolSection, base: PoolSpec) -> Result<PoolSpec, InputError> {
    if pool.max_size == Some(0) {
        return Err(c.err(
            "pool.max_size",
            "a pool of 0 connections cannot serve any request".into(),
            "set max_size = 1 or more (HikariCP's default is 10)",
        ));
    }
    // HikariCP 5.x: maximumPoolSize 10, minimumIdle = maximumPoolSize.
    let max_size = pool.max_size.unwrap_or(10);
    let min_idle = pool.min_idle.unwrap_or(max_size);
    if min_idle > max_size {
        return Err(c.err("pool.min_idle", format!("min_idle ({min_idle}) is larger than max_size ({max_size})"), "set min_idle <= max_size, or omit it (HikariCP defaults minimumIdle to maximumPoolSize)"));
    }
    // connectionTimeout 30 s, maxLifetime 30 min, idleTimeout 10 min.
    let acquire_timeout = c.duration(
        "pool.acquire_timeout",
        pool.acquire_timeout.as_deref().unwrap_or("30s"),
    )?;
    let lifetime_text = pool.max_lifetime.as_deref().unwrap_or("30m");
    let max_lifetime = c.duration("pool.max_lifetime", lifetime_text)?;
    if !max_lifetime.is_zero() && max_lifetime < SimTime::from_millis(30_000) {
        return Err(c.err(
            "pool.max_lifetime",
            format!("max_lifetime {lifetime_text} is below HikariCP's minimum of 30s"),
            "use \"30m\" (the default), at least \"30s\", or \"0s\" for never",
        ));
    }
    let idle_timeout = c.duration(
        "pool.idle_timeout",
        pool.idle_timeout.as_deref().unwrap_or("10m"),
    )?;
    let fairness = c.choice(
        "pool.fairness",
        pool.fairness.as_deref().unwrap_or("fifo"),
        &[("fifo", Fairness::Fifo), ("barging", Fairness::Barging)],
    )?;
    Ok(PoolSpec {
        size_setting: max_size,
        size_limit: Some(max_size),
        min_idle,
        min_open: min_idle,
        acquire_timeout: Some(acquire_timeout),
        max_lifetime,
        lifetime_jitter: HIKARI_LIFETIME_JITTER,
        idle_timeout,
        idle_check_period: HIKARI_HOUSEKEEPING,
        opens_on_demand: false,
        fairness,
        ..base
    })
}

fn check_sqlalchemy(
    c: &Checker,
    pool: &PoolSection,
    base: PoolSpec,
) -> Result<PoolSpec, InputError> {
    // SQLAlchemy 2.0 QueuePool: pool_size 5, max_overflow 10, pool_timeout 30 s,
    // pool_recycle -1 (never).
    let pool_size = positive(
        c,
        "pool.pool_size",
        pool.pool_size.unwrap_or(5),
        "SQLAlchemy's default is 5; QueuePool reads 0 as no limit, which poolsim does not model",
    )?;
    let size_limit = match pool.max_overflow.unwrap_or(10) {
        -1 => None,
        overflow @ 0.. => Some(pool_size.saturating_add(u32::try_from(overflow).unwrap_or(u32::MAX))),
        overflow => {
            return Err(c.err(
                "pool.max_overflow",
                format!("max_overflow {overflow} is negative"),
                "set 0 for no overflow, a positive count, or -1 for unlimited overflow (SQLAlchemy's default is 10)",
            ))
        }
    };
    let pool_timeout = c.duration(
        "pool.pool_timeout",
        pool.pool_timeout.as_deref().unwrap_or("30s"),
    )?;
    let pool_recycle = c.duration(
        "pool.pool_recycle",
        pool.pool_recycle.as_deref().unwrap_or("0s"),
    )?;
    Ok(PoolSpec {
        size_setting: pool_size,
        size_limit,
        max_idle: Some(pool_size),
        acquire_timeout: Some(pool_timeout),
        max_lifetime: pool_recycle,
        ..base
    })
}

fn check_go_sql(c: &Checker, pool: &PoolSection, base: PoolSpec) -> Result<PoolSpec, InputError> {
    // Go 1.22 database/sql: MaxOpenConns 0 (unlimited), MaxIdleConns 2,
    // ConnMaxLifetime and ConnMaxIdleTime 0 (never).
    let max_open = pool.max_open.unwrap_or(0);
    let size_limit = (max_open > 0).then_some(max_open);
    // SetMaxIdleConns lowers max_idle to max_open when it is larger.
    let max_idle = pool
        .max_idle
        .unwrap_or(2)
        .min(size_limit.unwrap_or(u32::MAX));
    let max_lifetime = c.duration(
        "pool.conn_max_lifetime",
        pool.conn_max_lifetime.as_deref().unwrap_or("0s"),
    )?;
    let idle_timeout = c.duration(
        "pool.conn_max_idle_time",
        pool.conn_max_idle_time.as_deref().unwrap_or("0s"),
    )?;
    Ok(PoolSpec {
        size_setting: max_open,
        size_limit,
        max_idle: Some(max_idle),
        max_lifetime,
        idle_timeout,
        idle_check_period: idle_timeout.max(GO_CLEANER_MIN_INTERVAL),
        ..base
    })
}

fn check_node_pg(c: &Checker, pool: &PoolSection, base: PoolSpec) -> Result<PoolSpec, InputError> {
    // node-postgres 8.x pg-pool: max 10, min 0, connectionTimeoutMillis 0 (wait forever),
    // idleTimeoutMillis 10000, maxLifetimeSeconds 0 (never).
    let max = positive(
        c,
        "pool.max",
        pool.max.unwrap_or(10),
        "pg-pool's default is 10",
    )?;
    let min = at_most_size(c, "pool.min", pool.min.unwrap_or(0), "max", max)?;
    let acquire_timeout = match pool.connection_timeout_millis.unwrap_or(0) {
        0 => None,
        millis => Some(SimTime::from_millis(millis)),
    };
    Ok(PoolSpec {
        size_setting: max,
        size_limit: Some(max),
        min_open: min,
        acquire_timeout,
        max_lifetime: SimTime::from_millis(
            pool.max_lifetime_seconds.unwrap_or(0).saturating_mul(1000),
        ),
        idle_timeout: SimTime::from_millis(pool.idle_timeout_millis.unwrap_or(10_000)),
        ..base
    })
}

fn check_pgx(
    c: &Checker,
    pool: &PoolSection,
    base: PoolSpec,
    fleet_cpus: Option<u32>,
) -> Result<PoolSpec, InputError> {
    // pgx v5 pgxpool: MaxConns max(4, runtime.NumCPU()), MinConns 0, MaxConnLifetime 1 h,
    // MaxConnIdleTime 30 min, HealthCheckPeriod 1 min.
    let max_conns = match (pool.max_conns, fleet_cpus) {
        (Some(n), _) => positive(c, "pool.max_conns", n, "pgx's default is max(4, CPUs)")?,
        (None, Some(cpus)) => cpus.max(4),
        (None, None) => {
            return Err(c.err(
                "pool.max_conns",
                "pgx's default max_conns is max(4, the instance's CPU count), and the model does not say how many CPUs an instance has".into(),
                "set pool.max_conns, or [fleet] cpus = the CPUs Go sees on each instance (GOMAXPROCS)",
            ))
        }
    };
    let min_conns = at_most_size(
        c,
        "pool.min_conns",
        pool.min_conns.unwrap_or(0),
        "max_conns",
        max_conns,
    )?;
    let max_lifetime = c.duration(
        "pool.max_conn_lifetime",
        pool.max_conn_lifetime.as_deref().unwrap_or("1h"),
    )?;
    let idle_timeout = c.duration(
        "pool.max_conn_idle_time",
        pool.max_conn_idle_time.as_deref().unwrap_or("30m"),
    )?;
    let health_check_period = c.duration(
        "pool.health_check_period",
        pool.health_check_period.as_deref().unwrap_or("1m"),
    )?;
    if health_check_period.is_zero() {
        return Err(c.err(
            "pool.health_check_period",
            "a health check period of 0s would check without pause".into(),
            "use pgx's default \"1m\" or another positive duration",
        ));
    }
    Ok(PoolSpec {
        size_setting: max_conns,
        size_limit: Some(max_conns),
        min_open: min_conns,
        max_lifetime,
        idle_timeout,
        idle_check_period: health_check_period,
        ..base
    })
}
