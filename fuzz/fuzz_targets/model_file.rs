//! Fuzzes the model parser and checker: any bytes as a model file must end in a checked
//! model or an `InputError` (exit 2), never a panic; an accepted model's cost estimate
//! (what `run` and `sweep` check before simulating) must not panic either.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use poolsim::config::model::ModelSource;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let built = ModelSource::from_text(Path::new("fuzz.toml"), text.to_string())
        .and_then(|source| source.build(&[]));
    if let Ok(spec) = built {
        let _ = poolsim::model::budget::estimate(&spec, true);
    }
});
