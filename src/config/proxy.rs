//! The `[proxy]` section (PgBouncer between the instances' pools and PostgreSQL) and
//! the request's transaction boundaries, which a transaction-mode proxy needs.
//!
//! Kept apart from `check_model` so that the proxy's rules, defaults and sources sit
//! in one place: the section as written, its checked spec, and the cross-field rules
//! (the server pools must fit `max_connections`; statement mode refuses multi-statement
//! transactions, as PgBouncer does). Defaults follow PgBouncer 1.23's documentation.

use std::path::Path;

use serde::Deserialize;

use super::distribution::{build_time_dist, DistSpec};
use super::duration::parse_duration;
use super::error::{locate_field, InputError};
pub use super::proxy_spec::{PoolMode, ProxySpec, Transaction};
use super::spec::{ConnectionScope, DatabaseSpec, StepKind};

/// `[proxy]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    #[serde(default = "default_pool_mode")]
    pub pool_mode: String,
    #[serde(default = "default_pool_size")]
    pub default_pool_size: u32,
    #[serde(default)]
    pub reserve_pool_size: u32,
    #[serde(default = "default_reserve_pool_timeout")]
    pub reserve_pool_timeout: String,
    #[serde(default = "default_max_client_conn")]
    pub max_client_conn: u32,
    #[serde(default = "default_query_wait_timeout")]
    pub query_wait_timeout: String,
    pub server_connect_time: Option<DistSpec>,
    #[serde(default = "one")]
    pub instances: u32,
}

/// PgBouncer pool_mode default.
fn default_pool_mode() -> String {
    "session".into()
}
/// PgBouncer default_pool_size.
fn default_pool_size() -> u32 {
    20
}
/// PgBouncer reserve_pool_timeout.
fn default_reserve_pool_timeout() -> String {
    "5s".into()
}
/// PgBouncer max_client_conn.
fn default_max_client_conn() -> u32 {
    100
}
/// PgBouncer query_wait_timeout.
fn default_query_wait_timeout() -> String {
    "120s".into()
}
fn one() -> u32 {
    1
}

fn err(path: &Path, text: &str, field: &str, message: String, hint: &str) -> InputError {
    InputError::at_field(path, text, field, message, hint)
}

/// The request's transactions, in step order. Consecutive steps naming the same
/// `transaction` form one; a run of steps without a name follows `connection_scope`
/// (request: one transaction over the run's db steps and the app steps between them;
/// step: each db step its own). A transaction spans its db steps only: app steps before
/// its first or after its last db step run outside it.
pub fn check_transactions(
    path: &Path,
    text: &str,
    scope: ConnectionScope,
    steps: &[(StepKind, Option<String>)],
) -> Result<Vec<Transaction>, InputError> {
    let mut transactions = Vec::new();
    let mut finished_names: Vec<&str> = Vec::new();
    let mut run_start = 0;
    while run_start < steps.len() {
        let name = steps[run_start].1.as_deref();
        let field = format!("request.steps[{run_start}].transaction");
        if name == Some("") {
            return Err(err(
                path,
                text,
                &field,
                "a transaction name cannot be empty".into(),
                "name it, e.g. transaction = \"login\", or omit it",
            ));
        }
        if let Some(name) = name {
            if finished_names.contains(&name) {
                return Err(err(path, text, &field, format!("transaction \"{name}\" is interrupted by other steps: a transaction's steps must be consecutive"), "give the steps after the interruption their own transaction name, or move them next to the others"));
            }
            finished_names.push(name);
        }
        let run_end = (run_start..steps.len())
            .find(|&i| steps[i].1.as_deref() != name)
            .unwrap_or(steps.len());
        let db_steps: Vec<u32> = (run_start..run_end)
            .filter(|&i| steps[i].0 == StepKind::Db)
            .map(|i| i as u32)
            .collect();
        if name.is_none() && scope == ConnectionScope::Step {
            transactions.extend(db_steps.iter().map(|&step| Transaction {
                first_db_step: step,
                last_db_step: step,
            }));
        } else if let (Some(&first), Some(&last)) = (db_steps.first(), db_steps.last()) {
            if scope == ConnectionScope::Step && db_steps.len() > 1 {
                return Err(err(path, text, &format!("request.steps[{last}].transaction"), format!("transaction \"{}\" has {} db steps, but connection_scope = \"step\" releases the connection after each: a transaction cannot span connections", name.unwrap_or_default(), db_steps.len()), "set connection_scope = \"request\", or give each db step its own transaction"));
            }
            transactions.push(Transaction {
                first_db_step: first,
                last_db_step: last,
            });
        }
        run_start = run_end;
    }
    Ok(transactions)
}

/// What `check_proxy` checks the section against.
pub struct ProxyContext<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// Where files named by `server_connect_time` live.
    pub base_dir: &'a Path,
    pub database: &'a DatabaseSpec,
    pub transactions: &'a [Transaction],
    /// Each step's kind, in order.
    pub steps: &'a [StepKind],
    pub default_connect: &'a DistSpec,
}

/// Checks `[proxy]` against the database and the request's transactions.
pub fn check_proxy(cx: &ProxyContext, section: &ProxySection) -> Result<ProxySpec, InputError> {
    let (path, text) = (cx.path, cx.text);
    let pool_mode = match section.pool_mode.as_str() {
        "session" => PoolMode::Session,
        "transaction" => PoolMode::Transaction,
        "statement" => PoolMode::Statement,
        other => {
            let guess = super::suggest(other, &["session", "transaction", "statement"])
                .map(|g| format!("did you mean \"{g}\"? "))
                .unwrap_or_default();
            return Err(err(
                path,
                text,
                "proxy.pool_mode",
                format!("\"{other}\" is not a PgBouncer pool_mode"),
                &format!("{guess}use one of: session, transaction, statement"),
            ));
        }
    };
    for (field, value) in [
        ("proxy.default_pool_size", section.default_pool_size),
        ("proxy.max_client_conn", section.max_client_conn),
        ("proxy.instances", section.instances),
    ] {
        if value == 0 {
            return Err(err(
                path,
                text,
                field,
                format!("{field} must be at least 1"),
                "PgBouncer's defaults: default_pool_size = 20, max_client_conn = 100, one instance",
            ));
        }
    }
    if section.instances > 1_000 {
        return Err(err(
            path,
            text,
            "proxy.instances",
            format!(
                "{} PgBouncers is beyond what poolsim models",
                section.instances
            ),
            "model at most 1000 PgBouncer instances",
        ));
    }
    let duration = |field: &str, value: &str| {
        parse_duration(value).map_err(|why| {
            err(
                path,
                text,
                field,
                why,
                "write a quoted duration with a unit, e.g. \"5s\" or \"120s\"",
            )
        })
    };
    let reserve_pool_timeout =
        duration("proxy.reserve_pool_timeout", &section.reserve_pool_timeout)?;
    let query_wait_timeout = duration("proxy.query_wait_timeout", &section.query_wait_timeout)?;
    if query_wait_timeout.is_zero() {
        return Err(err(path, text, "proxy.query_wait_timeout", "a query_wait_timeout of 0s would fail every client that waits for a server connection (PgBouncer reads 0 as \"wait forever\", which poolsim does not model)".into(), "use PgBouncer's default \"120s\" or a finite wait"));
    }
    let connect_spec = section
        .server_connect_time
        .clone()
        .unwrap_or_else(|| cx.default_connect.clone());
    let server_connect_time = build_time_dist(&connect_spec, cx.base_dir).map_err(|e| {
        InputError::new(path, format!("server_connect_time: {}", e.message))
            .field(format!("proxy.server_connect_time.{}", e.subfield))
            .line(locate_field(text, "proxy.server_connect_time"))
            .hint(e.hint)
    })?;
    let spec = ProxySpec {
        pool_mode,
        default_pool_size: section.default_pool_size,
        reserve_pool_size: section.reserve_pool_size,
        reserve_pool_timeout,
        max_client_conn: section.max_client_conn,
        query_wait_timeout,
        server_connect_time,
        instances: section.instances,
    };
    let database = cx.database;
    if let Some((servers, available)) = server_pools_overflow(database, [&spec]) {
        return Err(err(path, text, "proxy.default_pool_size", format!("the PgBouncer server pools can never fit the database: {} = {servers} server connections, but {}", pool_arithmetic(&spec), slots_left(database, available)), &format!("lower default_pool_size (or reserve_pool_size, or proxy.instances) so that instances x (default_pool_size + reserve_pool_size) <= {available}, or raise database.max_connections")));
    }
    if pool_mode == PoolMode::Statement {
        refuse_multi_statement_transactions(cx)?;
    }
    Ok(spec)
}

/// The server connections `pools` hold at most together and the slots the database
/// leaves the fleet, when the former exceed the latter. One rule for one PgBouncer
/// (`check_proxy`) and for several services' PgBouncers over one database
/// (`check_shared_server_pools`): each pool counts instances x (default_pool_size +
/// reserve_pool_size), against max_connections less reserved and other connections.
fn server_pools_overflow<'a>(
    database: &DatabaseSpec,
    pools: impl IntoIterator<Item = &'a ProxySpec>,
) -> Option<(u64, u64)> {
    let servers: u64 = pools
        .into_iter()
        .map(ProxySpec::max_server_connections)
        .sum();
    let available = u64::from(database.slots_for_fleet());
    (servers > available).then_some((servers, available))
}

/// "2 instance(s) x (default_pool_size 60 + reserve_pool_size 0)": one pool's count.
fn pool_arithmetic(spec: &ProxySpec) -> String {
    format!(
        "{} instance(s) x (default_pool_size {} + reserve_pool_size {})",
        spec.instances, spec.default_pool_size, spec.reserve_pool_size
    )
}

/// "max_connections 100 leaves 97 after reserved (3) and other (0) connections".
fn slots_left(database: &DatabaseSpec, available: u64) -> String {
    format!(
        "max_connections {} leaves {available} after reserved ({}) and other ({}) connections",
        database.max_connections, database.reserved_connections, database.other_connections
    )
}

/// Several services' PgBouncers over one database: their server pools together must
/// fit it, as one PgBouncer's must (each fitting alone is checked with its service).
/// `pools` are (index in `[[services]]`, name, proxy) in file order; the error points
/// at the `default_pool_size` of the first pool that no longer fits beside those before it.
pub fn check_shared_server_pools(
    path: &Path,
    text: &str,
    database: &DatabaseSpec,
    pools: &[(usize, &str, &ProxySpec)],
) -> Result<(), InputError> {
    let Some((servers, available)) = server_pools_overflow(database, pools.iter().map(|p| p.2))
    else {
        return Ok(());
    };
    let mut before = 0;
    let mut culprit = pools[pools.len() - 1];
    for &pool in pools {
        if before + pool.2.max_server_connections() > available {
            culprit = pool;
            break;
        }
        before += pool.2.max_server_connections();
    }
    let (index, name, _) = culprit;
    let terms: Vec<String> = pools
        .iter()
        .map(|(_, name, spec)| {
            format!(
                "{name}: {} = {}",
                pool_arithmetic(spec),
                spec.max_server_connections()
            )
        })
        .collect();
    Err(InputError::new(path, format!("the services' PgBouncer server pools can never fit the database together: {}; together {servers} server connections, but {}", terms.join("; "), slots_left(database, available)))
        .field(format!("services.{name}.proxy.default_pool_size"))
        .line(super::services::locate_in_service(text, index, "proxy.default_pool_size"))
        .hint(format!("the proxies' server pools share max_connections: lower default_pool_size (or reserve_pool_size, or proxy.instances) so that the services' instances x (default_pool_size + reserve_pool_size) sum to <= {available} (\"{name}\" fits {} beside the {before} of the services before it), or raise database.max_connections", available - before)))
}

/// PgBouncer's statement mode refuses transactions of several statements.
fn refuse_multi_statement_transactions(cx: &ProxyContext) -> Result<(), InputError> {
    let (path, text) = (cx.path, cx.text);
    let multi = cx.transactions.iter().find(|t| {
        cx.steps[t.first_db_step as usize..=t.last_db_step as usize]
            .iter()
            .filter(|k| **k == StepKind::Db)
            .count()
            > 1
    });
    if let Some(t) = multi {
        return Err(err(path, text, "proxy.pool_mode", format!("pool_mode = \"statement\" refuses multi-statement transactions (as PgBouncer does), but the transaction from step {} to step {} has several db steps", t.first_db_step, t.last_db_step), "use pool_mode = \"transaction\", or make every db step its own transaction (connection_scope = \"step\", or a distinct `transaction` name per db step)"));
    }
    Ok(())
}
