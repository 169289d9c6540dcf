//! Scale-out: `sweep --shard I/N` runs one share of a sweep's runs and writes a
//! partial result; `poolsim merge` puts the shares back together into exactly the
//! files one machine would have written.
//!
//! The split is deterministic and balanced by estimated cost: every run (point x
//! replication) costs its point's expected arrivals, and runs go, most expensive
//! first, to the shard with the least work so far (longest-processing-time first).
//! A run's random streams depend only on its point and replication, never on the
//! shard, so a run gives the same result wherever it runs.
//!
//! A part is a directory with two plain files: `shard.toml` (which sweep, which
//! shard, how many runs) and `runs.toml` (its runs, one `run_lines` line each, in
//! run order). Parts hold only the grid's runs: the merge aggregates them and runs
//! the few degraded-condition models of the recommendation itself, as a single
//! sweep does after its grid.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run_lines::{decode_run, encode_run, fingerprint};
use super::Run;
use crate::config::experiment::Experiment;
use crate::config::model::SystemSpec;
use crate::config::InputError;

/// The manifest of a part.
pub const MANIFEST: &str = "shard.toml";
/// The runs of a part.
pub const RUNS: &str = "runs.toml";
/// The manifest's format; a merge refuses any other.
pub const FORMAT: &str = "poolsim-shard/1";

/// `--shard`: a fixed share, or one read from the batch system's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// Shard `index` (from 1) of `count`.
    Fixed { index: u32, count: u32 },
    /// From JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID; the count from `auto/N` or SLURM_ARRAY_TASK_COUNT.
    Auto { count: Option<u32> },
}

/// One shard of a sweep: `index` from 1 to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `I/N`, `auto` or `auto/N` (clap's value parser for `--shard`).
pub fn parse_shard_arg(text: &str) -> Result<ShardArg, String> {
    let count = |n: &str| -> Result<u32, String> {
        match n.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "`{n}` is not a shard count; write a whole number of at least 1, e.g. --shard 2/8"
            )),
        }
    };
    let text = text.trim();
    if text == "auto" {
        return Ok(ShardArg::Auto { count: None });
    }
    let Some((first, n)) = text.split_once('/') else {
        return Err(format!(
            "`{text}` is not I/N or auto; write e.g. --shard 2/8 (shard 2 of 8) or --shard auto"
        ));
    };
    let count = count(n)?;
    if first.trim() == "auto" {
        return Ok(ShardArg::Auto { count: Some(count) });
    }
    match first.trim().parse::<u32>() {
        Ok(index) if (1..=count).contains(&index) => Ok(ShardArg::Fixed { index, count }),
        _ => Err(format!(
            "`{text}`: the shard must be a whole number from 1 to {count}, e.g. --shard 1/{count}"
        )),
    }
}

impl ShardArg {
    /// The shard, reading the batch system's variables through `env` for `auto`.
    pub fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (index, count) = match self {
            ShardArg::Fixed { index, count } => (index as u64, count),
            ShardArg::Auto { count } => auto_shard(count, env)?,
        };
        if index == 0 || index > count as u64 {
            return Err(format!(
                "--shard auto: the task is shard {index} of {count}; shards are numbered 1 to {count} (a Slurm array must be contiguous, e.g. --array=0-{})",
                count.saturating_sub(1)
            ));
        }
        Ok(Shard {
            index: index as u32,
            count,
        })
    }
}

fn auto_shard(
    count: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(u64, u32), String> {
    let number = |name: &str| -> Result<Option<u64>, String> {
        env(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("--shard auto: {name}={v:?} is not a whole number"))
            })
            .transpose()
    };
    if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let total = match (count, number("SLURM_ARRAY_TASK_COUNT")?) {
            (Some(n), _) => n,
            (None, Some(n)) => u32::try_from(n).unwrap_or(u32::MAX),
            (None, None) => return Err("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; write --shard auto/N with N the array's size".into()),
        };
        return Ok((task.saturating_sub(min).saturating_add(1), total));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let Some(total) = count else {
            return Err("--shard auto: JOB_COMPLETION_INDEX gives this pod's index but not the number of shards; write --shard auto/N with N the Job's completions".into());
        };
        return Ok((index.saturating_add(1), total));
    }
    Err("--shard auto reads JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (a Slurm job array), and neither is set; outside those, write --shard I/N".into())
}

/// What a run of `spec` is expected to cost: its expected arrivals (at least 1).
pub fn estimated_cost(spec: &SystemSpec) -> u64 {
    let arrivals = spec.traffic.rate_per_s * spec.simulation.horizon.as_secs_f64();
    // `as` saturates (and maps NaN to 0).
    (arrivals as u64).max(1)
}

/// How many runs go to a shard together: one, or with adaptive replications every
/// run a point may get (its replications are decided from its own runs, so a point
/// is never split).
fn runs_per_unit(experiment: &Experiment) -> usize {
    match experiment.adaptive {
        Some(_) => experiment.replications as usize,
        None => 1,
    }
}

/// Refuses more shards than runs (or, with adaptive replications, points): shards
/// beyond that would be empty, and the split's memory grows with the count.
pub fn check_count(experiment: &Experiment, count: u32) -> Result<(), String> {
    let units =
        experiment.points.len() * experiment.replications as usize / runs_per_unit(experiment);
    if count as usize > units {
        let what = match experiment.adaptive {
            Some(_) => "points (adaptive replications keep a point's runs together)",
            None => "runs",
        };
        return Err(format!(
            "--shard: {count} shards for {units} {what}; use at most {units} shards"
        ));
    }
    Ok(())
}

/// The run numbers of each shard (index 0 is shard 1), each in increasing order; with
/// adaptive replications every run a shard's points may get (it runs those it needs).
pub fn split_runs(experiment: &Experiment, count: u32) -> Vec<Vec<usize>> {
    let replications = experiment.replications as usize;
    let unit = runs_per_unit(experiment);
    let mut units: Vec<(u64, usize)> = (0..experiment.points.len() * replications / unit)
        .map(|first| {
            let run = first * unit;
            let cost = estimated_cost(&experiment.points[run / replications].spec);
            (cost.saturating_mul(unit as u64), first)
        })
        .collect();
    units.sort_by_key(|&(cost, unit)| (Reverse(cost), unit));
    let mut shards = vec![Vec::new(); count as usize];
    // The least loaded shard first; ties go to the lower shard.
    let mut loads: BinaryHeap<Reverse<(u64, usize)>> =
        (0..count as usize).map(|s| Reverse((0, s))).collect();
    for (cost, first) in units {
        let Some(Reverse((load, shard))) = loads.pop() else {
            break;
        };
        shards[shard].extend(first * unit..(first + 1) * unit);
        loads.push(Reverse((load.saturating_add(cost), shard)));
    }
    for runs in &mut shards {
        runs.sort_unstable();
    }
    shards
}

/// Whether a part holding the runs `held` holds exactly the share `share`: every run
/// of it, or with adaptive replications some runs of every point of it and no others.
fn holds_share(experiment: &Experiment, held: &[usize], share: &[usize]) -> bool {
    if experiment.adaptive.is_none() {
        return held == share;
    }
    let replications = experiment.replications as usize;
    let points = |runs: &[usize]| {
        let mut points: Vec<usize> = runs.iter().map(|r| r / replications).collect();
        points.dedup();
        points
    };
    held.iter().all(|r| share.binary_search(r).is_ok()) && points(held) == points(share)
}

/// `shard.toml`: which sweep a part belongs to and which share of it it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartManifest {
    /// Always `FORMAT`.
    pub format: String,
    /// The poolsim version that ran it (a merge needs the same).
    pub poolsim: String,
    /// The experiment file as given to `sweep`; `merge` reads it again from there.
    pub experiment: String,
    /// `--seed`, if given (a string: seeds go beyond TOML's integers).
    pub seed: Option<String>,
    /// `--set` overrides as given, `[path, value]`.
    pub set: Vec<[String; 2]>,
    /// `run_lines::fingerprint` of the checked experiment.
    pub fingerprint: String,
    pub shard: u32,
    pub shards: u32,
    /// Runs of the whole sweep.
    pub runs_total: usize,
    /// Runs in this part.
    pub runs: usize,
}

/// How the sweep was asked for: what a merge needs to load the same experiment.
#[derive(Debug, Clone)]
pub struct SweepSource {
    pub experiment: String,
    pub seed: Option<u64>,
    pub set: Vec<(String, String)>,
}

/// The files of a part (name, bytes): the manifest and the runs in run order.
pub fn part_files(
    experiment: &Experiment,
    source: &SweepSource,
    shard: Shard,
    runs: &BTreeMap<usize, Run>,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let manifest = PartManifest {
        format: FORMAT.into(),
        poolsim: env!("CARGO_PKG_VERSION").into(),
        experiment: source.experiment.clone(),
        seed: source.seed.map(|s| s.to_string()),
        set: source
            .set
            .iter()
            .map(|(p, v)| [p.clone(), v.clone()])
            .collect(),
        fingerprint: fingerprint(experiment),
        shard: shard.index,
        shards: shard.count,
        runs_total: experiment.points.len() * experiment.replications as usize,
        runs: runs.len(),
    };
    let mut lines = String::new();
    for (number, run) in runs {
        lines.push_str(&encode_run(*number, run)?);
    }
    Ok(vec![
        (MANIFEST.into(), toml::to_string(&manifest)?.into_bytes()),
        (RUNS.into(), lines.into_bytes()),
    ])
}

/// A part read back: where it is, its manifest and its runs by run number.
pub struct Part {
    pub dir: PathBuf,
    pub manifest: PartManifest,
    pub runs: BTreeMap<usize, Run>,
}

/// Reads the part in `dir`.
pub fn read_part(dir: &Path) -> Result<Part, InputError> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        InputError::new(
            &manifest_path,
            format!("cannot read the part's manifest: {e}"),
        )
        .hint("pass the directories `poolsim sweep --shard I/N --out DIR` wrote")
    })?;
    let manifest: PartManifest = toml::from_str(&text).map_err(|e| {
        InputError::new(
            &manifest_path,
            format!("not a shard manifest: {}", e.message()),
        )
        .hint("pass the directories `poolsim sweep --shard I/N --out DIR` wrote")
    })?;
    if manifest.format != FORMAT || manifest.poolsim != env!("CARGO_PKG_VERSION") {
        return Err(InputError::new(
            &manifest_path,
            format!(
                "written by poolsim {} ({}); this is poolsim {} ({FORMAT})",
                manifest.poolsim,
                manifest.format,
                env!("CARGO_PKG_VERSION")
            ),
        )
        .field("poolsim")
        .hint("run every shard and the merge with the same poolsim"));
    }
    let runs_path = dir.join(RUNS);
    let damaged = |message: String| {
        InputError::new(&runs_path, message)
            .hint("run this shard again (poolsim sweep --shard ... --resume)")
    };
    let text = std::fs::read_to_string(&runs_path)
        .map_err(|e| damaged(format!("cannot read the part's runs: {e}")))?;
    let mut runs = BTreeMap::new();
    for (line_number, line) in text.lines().enumerate() {
        let (number, run) = decode_run(line)
            .map_err(|e| damaged(format!("line {} is damaged: {e:#}", line_number + 1)))?;
        if runs.insert(number, run).is_some() {
            return Err(damaged(format!("run {number} appears twice")));
        }
    }
    if runs.len() != manifest.runs {
        return Err(damaged(format!(
            "holds {} runs, its manifest says {}",
            runs.len(),
            manifest.runs
        )));
    }
    Ok(Part {
        dir: dir.to_path_buf(),
        manifest,
        runs,
    })
}

/// Checks that `parts` are every shard of one sweep, each once.
pub fn check_parts(parts: &[Part]) -> Result<(), InputError> {
    let Some(first) = parts.first() else {
        return Err(InputError::new(Path::new("merge"), "no parts given")
            .hint("poolsim merge --out DIR PART_1 ... PART_N"));
    };
    let manifest_of = |part: &Part| part.dir.join(MANIFEST);
    for part in parts {
        let m = &part.manifest;
        let f = &first.manifest;
        let same = m.fingerprint == f.fingerprint
            && m.shards == f.shards
            && m.experiment == f.experiment
            && m.seed == f.seed
            && m.set == f.set;
        if !same {
            return Err(InputError::new(
                &manifest_of(part),
                format!(
                    "belongs to another sweep than {} (experiment, --seed, --set or the number of shards differ)",
                    first.dir.display()
                ),
            )
            .field("fingerprint")
            .hint("merge the parts of one sweep, all run with the same arguments but --shard and --out"));
        }
    }
    let mut seen: BTreeMap<u32, &Part> = BTreeMap::new();
    for part in parts {
        let (shard, shards) = (part.manifest.shard, part.manifest.shards);
        if shard == 0 || shard > shards {
            return Err(InputError::new(
                &manifest_of(part),
                format!("shard {shard} of {shards} does not exist"),
            )
            .field("shard")
            .hint("pass the directories `poolsim sweep --shard I/N --out DIR` wrote, unchanged"));
        }
        if let Some(earlier) = seen.insert(part.manifest.shard, part) {
            return Err(InputError::new(
                &manifest_of(part),
                format!(
                    "shard {}/{} is given twice: {} and {}",
                    part.manifest.shard,
                    part.manifest.shards,
                    earlier.dir.display(),
                    part.dir.display()
                ),
            )
            .field("shard")
            .hint("pass each shard's directory once"));
        }
    }
    let count = first.manifest.shards;
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(InputError::new(
            &manifest_of(first),
            format!(
                "shard {} of {count} missing: a merge needs every shard",
                missing.join(", ")
            ),
        )
        .field("shards")
        .hint("run the missing shards (poolsim sweep EXP --shard I/N --out PART_I) and pass every part"));
    }
    Ok(())
}

/// The sweep's runs in run order, after checking each part holds exactly its share.
pub fn assemble(experiment: &Experiment, mut parts: Vec<Part>) -> Result<Vec<Run>, InputError> {
    let count = parts.first().map_or(1, |p| p.manifest.shards);
    if let Err(why) = check_count(experiment, count) {
        let manifest = parts
            .first()
            .map(|p| p.dir.join(MANIFEST))
            .unwrap_or_default();
        return Err(InputError::new(&manifest, why).field("shards"));
    }
    let shares = split_runs(experiment, count);
    parts.sort_by_key(|p| p.manifest.shard);
    let mut runs = Vec::with_capacity(experiment.points.len() * experiment.replications as usize);
    for (part, share) in parts.into_iter().zip(&shares) {
        let held: Vec<usize> = part.runs.keys().copied().collect();
        if !holds_share(experiment, &held, share) {
            return Err(InputError::new(
                &part.dir.join(RUNS),
                format!(
                    "does not hold the runs of shard {}/{} of this experiment",
                    part.manifest.shard, part.manifest.shards
                ),
            )
            .hint("run the shard again with the same experiment and poolsim"));
        }
        runs.extend(part.runs);
    }
    runs.sort_by_key(|(number, _)| *number);
    Ok(runs.into_iter().map(|(_, run)| run).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shard_arguments_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(
            parse_shard_arg("2/8"),
            Ok(ShardArg::Fixed { index: 2, count: 8 })
        );
        assert_eq!(parse_shard_arg("auto"), Ok(ShardArg::Auto { count: None }));
        assert_eq!(
            parse_shard_arg("auto/4"),
            Ok(ShardArg::Auto { count: Some(4) })
        );
        for bad in ["0/3", "4/3", "1/0", "x", "1/x", "-1/3"] {
            let error = parse_shard_arg(bad).unwrap_err();
            assert!(error.contains("--shard"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_split_covers_every_run_once_and_balances_the_estimated_cost() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep/small.toml");
        let experiment = Experiment::load(&path).unwrap();
        let replications = experiment.replications as usize;
        let total = experiment.points.len() * replications;
        let cost = |run: usize| estimated_cost(&experiment.points[run / replications].spec);
        let largest = (0..total).map(cost).max().unwrap();
        for count in [1, 2, 3, 7, total as u32] {
            let shares = split_runs(&experiment, count);
            assert_eq!(shares, split_runs(&experiment, count), "deterministic");
            let mut all: Vec<usize> = shares.concat();
            all.sort_unstable();
            assert_eq!(all, (0..total).collect::<Vec<_>>(), "{count} shards");
            let loads: Vec<u64> = shares
                .iter()
                .map(|s| s.iter().map(|&r| cost(r)).sum())
                .collect();
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            // Longest-processing-time first: no shard exceeds another by more than one run.
            assert!(hi - lo <= largest, "{count} shards: {loads:?}");
        }
        assert!(check_count(&experiment, total as u32).is_ok());
        assert!(check_count(&experiment, total as u32 + 1).is_err());
    }

    #[test]
    fn adaptive_replications_keep_each_points_runs_in_one_shard() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep/small-adaptive.toml");
        let experiment = Experiment::load(&path).unwrap();
        let replications = experiment.replications as usize;
        let points = experiment.points.len();
        let shares = split_runs(&experiment, 3);
        let mut all: Vec<usize> = shares.concat();
        all.sort_unstable();
        assert_eq!(all, (0..points * replications).collect::<Vec<_>>());
        for share in &shares {
            for &run in share {
                let point = run / replications;
                assert!((point * replications..(point + 1) * replications)
                    .all(|r| share.binary_search(&r).is_ok()));
            }
        }
        // A part holding some runs of each of its points holds its share.
        let first_two: Vec<usize> = shares[0]
            .iter()
            .copied()
            .filter(|r| r % replications < 2)
            .collect();
        assert!(holds_share(&experiment, &first_two, &shares[0]));
        assert!(!holds_share(&experiment, &first_two[2..], &shares[0]));
        assert!(!holds_share(&experiment, &shares[1], &shares[0]));
        assert!(check_count(&experiment, points as u32).is_ok());
        assert!(check_count(&experiment, points as u32 + 1).is_err());
    }

    #[test]
    fn auto_reads_kubernetes_and_slurm_indices() {
        let k8s = env_of(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(
            ShardArg::Auto { count: Some(3) }.resolve(&k8s),
            Ok(Shard { index: 3, count: 3 })
        );
        assert!(ShardArg::Auto { count: None }
            .resolve(&k8s)
            .unwrap_err()
            .contains("auto/N"));
        let slurm = env_of(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            ShardArg::Auto { count: None }.resolve(&slurm),
            Ok(Shard { index: 2, count: 3 })
        );
        let past_the_end = env_of(&[("JOB_COMPLETION_INDEX", "3")]);
        assert!(ShardArg::Auto { count: Some(3) }
            .resolve(&past_the_end)
            .is_err());
        assert!(ShardArg::Auto { count: None }
            .resolve(&env_of(&[]))
            .unwrap_err()
            .contains("neither is set"));
    }
}
