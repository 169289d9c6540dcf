//! The system being simulated, built on `sim/`: traffic, clients, instances, pools, database.

pub mod budget;
pub mod client;
pub mod database;
pub mod pool;
pub mod proxy;
pub mod system;
pub mod traffic;

pub use system::{simulate, simulate_detailed, simulate_watched, RunOptions, RunOutput};
