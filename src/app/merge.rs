//! `poolsim merge --out DIR PART_1 ... PART_N`: the parts of a sharded sweep,
//! combined into exactly the files one `poolsim sweep` writes.
//!
//! The parts are checked first (one sweep, every shard once, each holding exactly
//! its share), then the experiment is loaded again from the path, `--seed` and
//! `--set` the parts record and must be the one they ran; the merge then does what
//! a sweep does after its grid: aggregate, plan (running the few degraded-condition
//! models itself) and commit the report set.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::sweep::{print_verdicts, publish};
use super::{console, AppError};
use crate::cli::MergeArgs;
use crate::config::experiment::Experiment;
use crate::config::overrides::parse_override_value;
use crate::config::InputError;
use crate::report::output::lock_output;
use crate::sweep::run_lines::fingerprint;
use crate::sweep::shard::{assemble, check_parts, read_part, Part, MANIFEST};

pub fn run_merge_command(args: &MergeArgs) -> Result<ExitCode, AppError> {
    let started = Instant::now();
    let parts = args
        .parts
        .iter()
        .map(|dir| read_part(dir))
        .collect::<Result<Vec<Part>, InputError>>()?;
    check_parts(&parts)?;
    let experiment = load_experiment(&parts[0])?;
    refuse_out_among_parts(&args.out, &parts)?;
    let runs = assemble(&experiment, parts)?;
    let lock = lock_output(&args.out)?;
    let runs: BTreeMap<usize, _> = runs.into_iter().enumerate().collect();
    let published = publish(&experiment, runs, started, &lock, args.threads, args.quiet)?;
    if !args.quiet {
        console::err(&format!(
            "merged {} parts ({} runs); wrote {} files to {}\n",
            args.parts.len(),
            published.result.runs.len(),
            published.files,
            args.out.display()
        ));
    }
    print_verdicts(&experiment, &published.result, &published.recommendations)?;
    Ok(ExitCode::SUCCESS)
}

/// The experiment the parts ran, loaded again and checked against their fingerprint.
fn load_experiment(part: &Part) -> Result<Experiment, AppError> {
    let manifest = &part.manifest;
    let manifest_path = part.dir.join(MANIFEST);
    let seed = manifest
        .seed
        .as_deref()
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                InputError::new(&manifest_path, format!("`{s}` is not a seed"))
                    .field("seed")
                    .hint("run the shard again")
            })
        })
        .transpose()?;
    let overrides: Vec<(String, toml::Value)> = manifest
        .set
        .iter()
        .map(|[path, value]| (path.clone(), parse_override_value(value)))
        .collect();
    let experiment = Experiment::load_with(Path::new(&manifest.experiment), seed, &overrides)?;
    if fingerprint(&experiment) != manifest.fingerprint {
        return Err(InputError::new(
            &manifest_path,
            format!(
                "the experiment {} (or its model) changed since the shards ran",
                manifest.experiment
            ),
        )
        .field("fingerprint")
        .hint("merge from the directory the shards ran in, with the files they ran, or run the shards again")
        .into());
    }
    Ok(experiment)
}

/// Merging into one of the parts would replace that part with the report.
fn refuse_out_among_parts(out: &Path, parts: &[Part]) -> Result<(), InputError> {
    let Ok(out_real) = out.canonicalize() else {
        return Ok(()); // It does not exist yet, so it is no part.
    };
    match parts
        .iter()
        .find(|p| p.dir.canonicalize().is_ok_and(|d| d == out_real))
    {
        Some(part) => Err(InputError::new(
            &part.dir,
            "is both a part and the merge's --out; the merge would replace the part",
        )
        .hint("write the merged report to another directory, e.g. --out output/merged")),
        None => Ok(()),
    }
}
