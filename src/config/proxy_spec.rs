//! The checked `[proxy]` and the request's transactions: what the engine runs.
//!
//! Apart from `config::proxy` (which checks the section) so that `spec::SystemSpec` can
//! hold these types without the checks depending back on it.

use super::distribution::TimeDist;
use crate::sim::time::SimTime;

/// When PgBouncer gives a client's server connection back to its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// When the client connection closes.
    Session,
    /// When the transaction ends (COMMIT or ROLLBACK).
    Transaction,
    /// After every statement; multi-statement transactions are refused.
    Statement,
}

/// A checked `[proxy]`: one or more PgBouncers, each with its own server pool.
#[derive(Debug, Clone)]
pub struct ProxySpec {
    pub pool_mode: PoolMode,
    /// Server connections per PgBouncer (per database/user pair).
    pub default_pool_size: u32,
    /// Extra server connections per PgBouncer, opened once a client waited `reserve_pool_timeout`.
    pub reserve_pool_size: u32,
    pub reserve_pool_timeout: SimTime,
    /// Client connections per PgBouncer beyond which connects are refused.
    pub max_client_conn: u32,
    /// A client waiting longer than this for a server connection gets an error.
    pub query_wait_timeout: SimTime,
    /// Opening a server connection: PostgreSQL's backend start.
    pub server_connect_time: TimeDist,
    /// PgBouncers behind a balancer; client connections spread over them.
    pub instances: u32,
}

impl ProxySpec {
    /// Server connections all PgBouncers may hold at most, reserve included.
    pub fn max_server_connections(&self) -> u64 {
        u64::from(self.instances)
            * (u64::from(self.default_pool_size) + u64::from(self.reserve_pool_size))
    }
}

/// One transaction of the request: from its first db step to its last (step indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    pub first_db_step: u32,
    pub last_db_step: u32,
}
