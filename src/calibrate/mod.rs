//! Checking a model against production: replay the observed traffic, compare, fit.
//!
//! A capacity model earns trust by reproducing a window of production it was not
//! tuned on. `calibrate` replays the request rate Prometheus recorded through the
//! model, compares the simulated series with the observed ones interval by interval
//! (connections in use, waiters, hold time, timeouts, errors), says in words where
//! they disagree, and can search one parameter to close the gap.

pub mod compare;
pub mod knob;
pub mod observed;
