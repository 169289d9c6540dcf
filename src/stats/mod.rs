//! Statistics: per-run streaming summaries and, across replications, confidence intervals.

pub mod confidence;
pub mod series;
pub mod summary;
pub mod tally;
