//! Each pool library's defaults and behaviour, in isolation and against closed forms.
//!
//! SQLAlchemy without overflow is an M/M/c pool (Erlang C, or Erlang B with
//! `pool_timeout = "0s"`); node-pg waits forever, so it is M/M/c with no acquire
//! timeouts; unlimited database/sql never queues, so connections in use are those of
//! an M/M/infinity system until PostgreSQL's max_connections turns it into an Erlang
//! loss system. The tolerances come from 99% intervals over replications
//! (`poolsim::validate`), as in tests/theory.rs.

mod common;

use std::path::Path;

use common::assert_check;
use poolsim::analytic::{erlang_b, erlang_c, mm_c_mean_wait};
use poolsim::config::model::{ModelSource, PoolKind, SystemSpec};
use poolsim::sim::time::SimTime;
use poolsim::stats::summary::Summary;
use poolsim::sweep::connections_needed;
use poolsim::validate::{check, replicate, single_pool_model_text};

const REPLICATIONS: u32 = 10;
const MEAN_HOLD_MS: f64 = 10.0;

/// One instance with `pool` as its `[pool]` body, exponential 10 ms statements, a
/// core per possible statement, 1 ms connects and `slots` connections for the pool
/// (PostgreSQL reserves 3 more).
fn model(pool: &str, rate: f64, slots: u32, horizon_s: u32) -> String {
    single_pool_model_text(pool, rate, MEAN_HOLD_MS, 400, slots + 3, horizon_s)
}

fn build(text: &str, overrides: &[(&str, toml::Value)]) -> SystemSpec {
    let overrides: Vec<(String, toml::Value)> = overrides
        .iter()
        .map(|(path, value)| (path.to_string(), value.clone()))
        .collect();
    ModelSource::from_text(Path::new("pool-kind.toml"), text.to_string())
        .and_then(|source| source.build(&overrides))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn runs(pool: &str, rate: f64, slots: u32, horizon_s: u32) -> Vec<Summary> {
    replicate(
        &build(&model(pool, rate, slots, horizon_s), &[]),
        REPLICATIONS,
    )
}

/// A model with only `[pool] kind = ...` (and `[fleet] cpus` for pgx): the library's defaults.
fn defaults(kind: &str) -> SystemSpec {
    let text = model(&format!("kind = \"{kind}\""), 10.0, 97, 60)
        .replace("instances = 1", "instances = 1\ncpus = 2");
    build(&text, &[])
}

#[test]
fn each_kind_takes_its_librarys_defaults() {
    let s = |seconds: u64| Some(SimTime::from_millis(seconds * 1000));
    let hikari = defaults("hikaricp").pool;
    assert_eq!(hikari.kind, PoolKind::HikariCp);
    assert_eq!(
        (hikari.max_connections(), hikari.max_idle),
        (Some(10), None)
    );
    assert_eq!((hikari.min_idle, hikari.acquire_timeout), (10, s(30)));
    assert_eq!(hikari.max_lifetime, SimTime::from_millis(1_800_000));
    assert!(!hikari.opens_on_demand);

    let sqlalchemy = defaults("sqlalchemy").pool;
    assert_eq!(sqlalchemy.size_setting, 5);
    assert_eq!(
        sqlalchemy.max_connections(),
        Some(15),
        "pool_size 5 + max_overflow 10"
    );
    assert_eq!(
        sqlalchemy.max_idle,
        Some(5),
        "the queue keeps pool_size connections"
    );
    assert_eq!(sqlalchemy.acquire_timeout, s(30));
    assert_eq!(
        (sqlalchemy.max_lifetime, sqlalchemy.idle_timeout),
        (SimTime::ZERO, SimTime::ZERO)
    );
    assert!(sqlalchemy.opens_on_demand);

    let go = defaults("go_sql").pool;
    assert_eq!(go.max_connections(), None, "max_open 0 = unlimited");
    assert_eq!((go.max_idle, go.acquire_timeout), (Some(2), None));
    assert_eq!(
        (go.max_lifetime, go.idle_timeout),
        (SimTime::ZERO, SimTime::ZERO)
    );

    let node = defaults("node_pg").pool;
    assert_eq!((node.max_connections(), node.min_open), (Some(10), 0));
    assert_eq!(
        node.acquire_timeout, None,
        "connectionTimeoutMillis 0 = wait forever"
    );
    assert_eq!(node.idle_timeout, SimTime::from_millis(10_000));

    let pgx = defaults("pgx").pool;
    assert_eq!(pgx.max_connections(), Some(4), "max(4, 2 CPUs)");
    assert_eq!((pgx.min_open, pgx.acquire_timeout), (0, None));
    assert_eq!(pgx.max_lifetime, SimTime::from_millis(3_600_000));
    assert_eq!(pgx.idle_timeout, SimTime::from_millis(1_800_000));
    assert_eq!(pgx.idle_check_period, SimTime::from_millis(60_000));
    let big = build(
        &model("kind = \"pgx\"", 10.0, 97, 60).replace("instances = 1", "instances = 1\ncpus = 16"),
        &[],
    );
    assert_eq!(big.pool.max_connections(), Some(16), "max(4, 16 CPUs)");
}

#[test]
fn max_size_is_the_kind_neutral_name_of_each_kinds_size() {
    let sized = |pool: &str| {
        let spec = build(
            &model(pool, 10.0, 97, 60),
            &[("pool.max_size", toml::Value::Integer(7))],
        );
        (spec.pool.size_setting, spec.pool.max_connections())
    };
    assert_eq!(sized("max_size = 3"), (7, Some(7)));
    assert_eq!(sized("kind = \"sqlalchemy\"\npool_size = 3"), (7, Some(17)));
    assert_eq!(sized("kind = \"go_sql\""), (7, Some(7)));
    assert_eq!(sized("kind = \"node_pg\""), (7, Some(7)));
    assert_eq!(sized("kind = \"pgx\"\nmax_conns = 3"), (7, Some(7)));
}

#[test]
fn the_database_check_counts_each_pools_most_connections() {
    // 4 instances x (pool_size 5 + max_overflow 10) + 3 reserved.
    let text =
        model("kind = \"sqlalchemy\"", 10.0, 97, 60).replace("instances = 1", "instances = 4");
    assert_eq!(connections_needed(&build(&text, &[]), 0), 4 * 15 + 3);
    // An unlimited database/sql pool may take every slot the database has.
    let text = model("kind = \"go_sql\"", 10.0, 97, 60).replace("instances = 1", "instances = 4");
    assert_eq!(connections_needed(&build(&text, &[]), 1), 5 * 97 + 3);
}

#[test]
fn sqlalchemy_without_overflow_waits_like_erlang_c() {
    let servers = 10;
    let rate = 0.8 * servers as f64 / (MEAN_HOLD_MS / 1e3);
    let pool = "kind = \"sqlalchemy\"\npool_size = 10\nmax_overflow = 0\npool_timeout = \"1h\"";
    let runs = waits_like_m_m_10(pool, "SQLAlchemy pool_size 10, no overflow");
    assert_check(&check(
        "SQLAlchemy pool_size 10, no overflow: mean wait ms".into(),
        mm_c_mean_wait(servers, rate, MEAN_HOLD_MS / 1e3) * 1e3,
        runs.iter().map(|s| s.pool_wait_ms.mean).collect(),
        0.10,
    ));
}

#[test]
fn sqlalchemy_with_zero_pool_timeout_loses_like_erlang_b() {
    let load = 8.0;
    let pool = "kind = \"sqlalchemy\"\npool_size = 10\nmax_overflow = 0\npool_timeout = \"0s\"";
    let runs = runs(pool, load / (MEAN_HOLD_MS / 1e3), 20, 200);
    assert_check(&check(
        "SQLAlchemy pool_size 10, pool_timeout 0: loss (Erlang B)".into(),
        erlang_b(10, load),
        runs.iter().map(|s| s.error_rate).collect(),
        0.05,
    ));
}

#[test]
fn node_pg_waits_forever_like_erlang_c() {
    // idleTimeoutMillis 0 keeps the pool full, as in M/M/c.
    waits_like_m_m_10(
        "kind = \"node_pg\"\nidleTimeoutMillis = 0",
        "node-pg max 10",
    );
}

/// A pool of 10 with no acquire timeout at 80% load is M/M/10: the probability of
/// waiting matches Erlang C, nobody gives up, and the pool never exceeds its 10.
/// Returns the runs for the caller's own checks.
fn waits_like_m_m_10(pool: &str, label: &str) -> Vec<Summary> {
    let servers = 10;
    let rate = 0.8 * servers as f64 / (MEAN_HOLD_MS / 1e3);
    let runs = runs(pool, rate, 20, 200);
    assert_check(&check(
        format!("{label}: P(wait) (Erlang C)"),
        erlang_c(servers, rate * MEAN_HOLD_MS / 1e3),
        runs.iter().map(|s| s.p_wait).collect(),
        0.05,
    ));
    assert!(
        runs.iter().all(|s| s.failures.total() == 0),
        "{label}: nobody gives up"
    );
    assert!(
        runs.iter()
            .all(|s| s.diagnostics.peak_pool_connections <= servers),
        "{label}: within its limit"
    );
    runs
}

#[test]
fn node_pg_requests_end_only_by_the_clients_timeout() {
    // Two connections at 95% load: long waits, but pg-pool has no acquire timeout.
    let text = model("kind = \"node_pg\"\nmax = 2", 190.0, 20, 120)
        .replace("[pool]", "[client]\ntimeout = \"50ms\"\n[pool]");
    let runs = replicate(&build(&text, &[]), 4);
    let total = |f: &dyn Fn(&Summary) -> u64| runs.iter().map(f).sum::<u64>();
    assert_eq!(total(&|s| s.failures.acquire_timeout), 0);
    assert!(total(&|s| s.failures.client_timeout) > 0);
}

#[test]
fn unlimited_go_sql_holds_connections_like_m_m_infinity() {
    // 2000/s x 10 ms = 20 connections in use on average, never queueing.
    let rate = 2000.0;
    let runs = runs("kind = \"go_sql\"", rate, 200, 100);
    assert_check(&check(
        "database/sql max_open 0: mean connections in use (M/M/inf)".into(),
        rate * MEAN_HOLD_MS / 1e3,
        runs.iter()
            .map(|s| s.diagnostics.mean_connections_in_use)
            .collect(),
        0.02,
    ));
    assert!(runs.iter().all(|s| s.failures.total() == 0));
    // Beyond max_idle = 2 idle connections, returned ones close: connects keep happening.
    assert!(runs.iter().all(|s| s.diagnostics.connections_opened > 1000));
}

#[test]
fn unlimited_go_sql_at_max_connections_is_an_erlang_loss_system() {
    // max_idle 0 closes every connection on return, so each request holds a database slot
    // for its 1 ms connect plus its statement; refused connects fail db_refused. Erlang B
    // depends on the hold time's mean only.
    let rate = 1500.0;
    let slots = 20;
    let runs = runs("kind = \"go_sql\"\nmax_idle = 0", rate, slots, 200);
    let load = rate * (MEAN_HOLD_MS + 1.0) / 1e3;
    assert_check(&check(
        "database/sql max_open 0, 20 slots: db_refused (Erlang B)".into(),
        erlang_b(slots, load),
        runs.iter()
            .map(|s| s.failures.db_refused as f64 / s.requests.offered as f64)
            .collect(),
        0.05,
    ));
    assert!(
        runs.iter().all(|s| s.failures.acquire_timeout == 0),
        "it never queues"
    );
}

#[test]
fn sqlalchemy_overflow_connections_close_on_return() {
    // 8 erlangs on pool_size 5: overflow connections are opened and closed again and again.
    let rate = 800.0;
    let overflow = runs("kind = \"sqlalchemy\"", rate, 40, 60);
    let sized = runs(
        "kind = \"sqlalchemy\"\npool_size = 15\nmax_overflow = 0",
        rate,
        40,
        60,
    );
    for (with, without) in overflow.iter().zip(&sized) {
        assert!(with.diagnostics.peak_pool_connections <= 15);
        assert!(without.diagnostics.connections_opened <= 15);
        assert!(
            with.diagnostics.connections_opened > 20 * without.diagnostics.connections_opened,
            "overflow: {} connects, 15 kept: {}",
            with.diagnostics.connections_opened,
            without.diagnostics.connections_opened
        );
    }
}

#[test]
fn pool_recycle_replaces_each_connection_once_per_period() {
    // 5 connections kept busy (4 erlangs) for 300 s, recycled every 30 s with no jitter:
    // each slot is opened 10 times, give or take the last one in flight.
    let pool = "kind = \"sqlalchemy\"\npool_size = 5\nmax_overflow = 0\npool_recycle = \"30s\"";
    for run in runs(pool, 400.0, 20, 300) {
        let opened = run.diagnostics.connections_opened;
        assert!((45..=55).contains(&opened), "{opened} connects");
    }
}

#[test]
fn a_sweep_of_a_sqlalchemy_pool_counts_its_overflow_against_the_database() {
    let dir = tempfile::tempdir().unwrap();
    common::sweep("billing-python.toml", dir.path(), &[]).success();
    let points = std::fs::read_to_string(dir.path().join("points.csv")).unwrap();
    let header: Vec<&str> = points.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (size, needed) = (column("pool_size"), column("fleet_connections"));
    for row in points.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let pool_size: u32 = cells[size].parse().unwrap();
        // (4 instances + 1 deploy surge) x (pool_size + max_overflow 10) + 5 other + 3 reserved.
        assert_eq!(
            cells[needed],
            (5 * (pool_size + 10) + 8).to_string(),
            "{row}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("recommendations.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["current_pool_size"], 5);
    // 92 slots / 5 instances = 18 connections each, 10 of them overflow.
    assert_eq!(json["scenarios"][0]["ceiling_pool_size"], 8);
    // The alert rules watch the OpenTelemetry pool metrics a Python service exports, not
    // HikariCP's, and guard on the pool's limit: pool_size 5 + max_overflow 10.
    let rules = std::fs::read_to_string(dir.path().join("alerts.rules.yml")).unwrap();
    assert!(!rules.contains("hikaricp"), "{rules}");
    assert!(rules.contains("db_client_connection_pending_requests"));
    assert!(
        rules.contains("(db_client_connection_max) == 15)"),
        "{rules}"
    );
    assert!(rules.contains("raise pool.pool_size"));
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("(`db_client_connection_pending_requests`)"));
    // ... and names the setting in the library's own words.
    assert!(
        report.contains("**Current setting:** `pool.pool_size = 5`"),
        "{report}"
    );
}

#[test]
fn pgx_waits_until_the_deadline_like_erlang_c() {
    // pgxpool has no acquire timeout: with max_conns 10 and no client deadline it is M/M/10.
    waits_like_m_m_10(
        "kind = \"pgx\"\nmax_conns = 10\nmin_conns = 10",
        "pgx max_conns 10",
    );
}

#[test]
fn lifetimes_of_go_sql_and_pgx_replace_each_connection_once_per_period() {
    // As pool_recycle above: 5 connections kept busy for 300 s, closed every 30 s.
    for pool in [
        "kind = \"pgx\"\nmax_conns = 5\nmin_conns = 5\nmax_conn_lifetime = \"30s\"",
        "kind = \"go_sql\"\nmax_open = 5\nmax_idle = 5\nconn_max_lifetime = \"30s\"",
    ] {
        for run in runs(pool, 400.0, 20, 300) {
            let opened = run.diagnostics.connections_opened;
            assert!((45..=60).contains(&opened), "{pool}: {opened} connects");
        }
        // Without a lifetime the 5 connections are opened once.
        let kept = pool.split("\nmax_conn_lifetime").next().unwrap();
        let kept = kept.split("\nconn_max_lifetime").next().unwrap();
        for run in runs(kept, 400.0, 20, 300) {
            assert!(run.diagnostics.connections_opened <= 5, "{kept}");
        }
    }
}
