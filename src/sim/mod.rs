//! The discrete-event engine's building blocks: time, the event list and random streams.
//!
//! Nothing here knows about pools or databases; `model/` builds the system on top.

pub mod heap;
pub mod queue;
pub mod rng;
pub mod time;
