//! poolsim: a discrete-event simulator for capacity planning of database connection pools.
//!
//! A model file flows one way: parse and check (`config`), simulate (`model` on
//! top of `sim`), summarize (`stats`), and present (`report`). Each stage hands
//! plain data to the next.

pub mod analytic;
pub mod app;
pub mod calibrate;
pub mod cli;
pub mod config;
pub mod fit;
pub mod model;
pub mod progress;
pub mod recommend;
pub mod report;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod validate;
