//! The files users write: model and experiment TOML, checked into settled specs.
//!
//! Parsing happens in two steps, as ripgrep does with its arguments: serde
//! structs that mirror the file (unknown keys rejected), then a checked spec that
//! the engine trusts without re-validating anything.

pub mod check_model;
pub mod check_pool;
pub mod check_timeline;
mod checker;
pub mod distribution;
pub mod duration;
pub mod error;
pub mod experiment;
pub mod input_file;
pub mod model;
pub mod overrides;
pub mod prometheus;
pub mod proxy;
pub mod proxy_spec;
pub mod sections;
pub mod services;
pub mod shared_events;
pub mod spec;
pub mod sweep_values;
pub mod timeline;
pub mod toml_input;
pub mod uncertainty;

pub use error::InputError;

/// The closest candidate to a misspelt name, if any is close enough to be a likely typo.
pub fn suggest<'a>(wrong: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
