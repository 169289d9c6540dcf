//! Fuzzes `--set PATH=VALUE` on the shipped login model: any lines of `path=value`
//! must give a checked model or an `InputError` naming the override, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use poolsim::config::model::ModelSource;
use poolsim::config::overrides::parse_override_value;

const MODEL: &str = include_str!("../../models/auth-service.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let overrides: Vec<_> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(path, value)| (path.trim().to_string(), parse_override_value(value.trim())))
        .collect();
    let Ok(source) = ModelSource::from_text(Path::new("models/auth-service.toml"), MODEL.into())
    else {
        return;
    };
    if let Ok(spec) = source.build(&overrides) {
        let _ = poolsim::model::budget::estimate(&spec, true);
    }
});
