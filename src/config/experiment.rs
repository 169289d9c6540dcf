//! Experiment files: which model, which paths to sweep, how many replications, the SLO.
//!
//! An experiment expands into sweep points, the cartesian product of every swept
//! path. Every point is built and checked when the experiment loads, so a bad
//! sweep value is reported (exit 2) before any simulation runs or file is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

use super::duration::parse_duration;
use super::error::{locate_field, InputError};
use super::model::{deserialize_table, parse_toml, ModelSource, SystemSpec};
use super::overrides::get_number;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFile {
    model: String,
    #[serde(default = "default_replications")]
    replications: u32,
    simulation: Option<Table>,
    #[serde(default)]
    sweep: BTreeMap<String, SweepValues>,
    slo: SloSection,
    #[serde(default)]
    recommend: RecommendSection,
    #[serde(default)]
    output: OutputSection,
    /// Named what-ifs run side by side (each a set of overrides of the model).
    variants: Option<Vec<VariantSection>>,
    /// Named time windows reported separately (e.g. "09:45-12:30").
    phases: Option<Vec<PhaseSection>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantSection {
    name: String,
    description: Option<String>,
    #[serde(default)]
    set: Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseSection {
    name: String,
    from: String,
    to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SweepValues {
    List(Vec<Value>),
    Range(RangeSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    from: Value,
    to: Value,
    step: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloSection {
    latency_p99: String,
    error_rate: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendSection {
    #[serde(default = "default_headroom")]
    headroom: f64,
    /// Extra instances that may run during a deploy (rolling-update surge), each with a full pool.
    #[serde(default)]
    surge: u32,
    /// The growth the plan must carry; default: the model's growth x (1 + headroom).
    planned_growth: Option<f64>,
}

impl Default for RecommendSection {
    fn default() -> Self {
        RecommendSection {
            headroom: default_headroom(),
            surge: 0,
            planned_growth: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    dir: Option<String>,
    charts: Option<Vec<String>>,
}

fn default_replications() -> u32 {
    5
}
fn default_headroom() -> f64 {
    0.25
}

/// The service-level objective every point is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// p99 latency of successful requests, in ms.
    pub latency_p99_ms: f64,
    /// Failed requests / offered requests.
    pub error_rate: f64,
}

/// One swept path and its values, in the order they are run.
#[derive(Debug, Clone)]
pub struct Axis {
    pub path: String,
    pub values: Vec<f64>,
}

/// One point of the sweep: a variant, a value for every axis, and the checked model there.
#[derive(Debug, Clone)]
pub struct Point {
    /// Index into `Experiment::variants`.
    pub variant: usize,
    pub values: Vec<f64>,
    pub spec: SystemSpec,
}

/// A named what-if: overrides applied to the model before the sweep values.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub description: String,
    pub overrides: Vec<(String, Value)>,
}

/// A named window of simulated time, reported separately.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub from_s: f64,
    pub to_s: f64,
}

/// A checked experiment, ready to run.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub path: PathBuf,
    pub name: String,
    pub model: ModelSource,
    /// The model as written (experiment simulation overrides applied, no sweep values).
    pub baseline: SystemSpec,
    pub replications: u32,
    /// At least one; a single unnamed variant when the file has none.
    pub variants: Vec<Variant>,
    pub phases: Vec<Phase>,
    pub axes: Vec<Axis>,
    pub points: Vec<Point>,
    pub slo: Slo,
    pub headroom: f64,
    pub surge: u32,
    pub planned_growth: f64,
    pub out_dir: PathBuf,
    pub png: bool,
    pub svg: bool,
}

pub const POOL_SIZE_PATH: &str = "pool.max_size";
pub const GROWTH_PATH: &str = "traffic.growth";

impl Experiment {
    pub fn load(path: &Path) -> Result<Experiment, InputError> {
        Experiment::load_with_seed(path, None)
    }

    /// Loads and checks `path`; `seed` overrides the model's simulation seed.
    pub fn load_with_seed(path: &Path, seed: Option<u64>) -> Result<Experiment, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(path, format!("cannot read the experiment file: {e}"))
                .hint("check the path; `ls experiments/` lists the experiments in this repository")
        })?;
        let table = parse_toml(path, &text)?;
        let file: ExperimentFile = deserialize_table(path, &text, table)?;
        let err = |field: &str, message: String, hint: &str| {
            InputError::new(path, message)
                .field(field)
                .line(locate_field(&text, field))
                .hint(hint)
        };

        let model_path = path.parent().unwrap_or(Path::new(".")).join(&file.model);
        let model = ModelSource::read(&model_path).map_err(|e| {
            if e.file == model_path && e.field.is_none() && e.line.is_none() {
                err("model", format!("cannot read the model {}: {}", model_path.display(), e.message), "the model path is relative to the experiment file, e.g. \"../models/auth-service.toml\"")
            } else {
                e
            }
        })?;

        if file.replications < 2 {
            return Err(err(
                "replications",
                format!(
                    "{} replication(s) give no confidence interval",
                    file.replications
                ),
                "use at least 2 (5 or more for stable recommendations)",
            ));
        }
        if file.replications > 1000 {
            return Err(err(
                "replications",
                format!(
                    "{} replications per point is more than any review needs",
                    file.replications
                ),
                "use 5 to 30",
            ));
        }

        let mut base_overrides: Vec<(String, Value)> = Vec::new();
        for (key, value) in file.simulation.iter().flatten() {
            base_overrides.push((format!("simulation.{key}"), value.clone()));
        }
        if let Some(seed) = seed {
            base_overrides.push(("simulation.seed".into(), Value::Integer(seed as i64)));
        }
        let baseline = model.build(&base_overrides).map_err(|mut e| {
            if e.field
                .as_deref()
                .is_some_and(|f| f.starts_with("simulation."))
            {
                e.file = path.to_path_buf();
                e.line = e.field.as_deref().and_then(|f| locate_field(&text, f));
            }
            e
        })?;

        let mut axes = Vec::new();
        for (axis_path, values) in &file.sweep {
            let field = format!("sweep.\"{axis_path}\"");
            if get_number(&model.table, axis_path).is_none() && !is_defaultable_number(axis_path) {
                return Err(err(&field, format!("`{axis_path}` is not a numeric field of the model"), "sweep numeric paths such as pool.max_size, traffic.growth, traffic.rate, database.cores, fleet.instances"));
            }
            let numbers = expand(values).map_err(|why| {
                err(
                    &field,
                    why,
                    "write a list [4, 8, 16] or a range { from = 1.0, to = 3.0, step = 0.25 }",
                )
            })?;
            if numbers.is_empty() {
                return Err(err(
                    &field,
                    "the sweep has no values".into(),
                    "list at least one value",
                ));
            }
            axes.push(Axis {
                path: axis_path.clone(),
                values: numbers,
            });
        }

        let slo_p99 = parse_duration(&file.slo.latency_p99).map_err(|why| {
            err(
                "slo.latency_p99",
                why,
                "write a quoted duration, e.g. \"300ms\"",
            )
        })?;
        if slo_p99.is_zero() {
            return Err(err(
                "slo.latency_p99",
                "a p99 SLO of 0s can never be met".into(),
                "write e.g. \"300ms\"",
            ));
        }
        if !(0.0..1.0).contains(&file.slo.error_rate) {
            return Err(err(
                "slo.error_rate",
                format!(
                    "error_rate is a fraction in [0, 1), not {}",
                    file.slo.error_rate
                ),
                "0.001 means 0.1% of requests may fail",
            ));
        }
        let headroom = file.recommend.headroom;
        if !(headroom.is_finite() && (0.0..=10.0).contains(&headroom)) {
            return Err(err(
                "recommend.headroom",
                format!("headroom must be a fraction like 0.25, not {headroom}"),
                "0.25 plans for 25% more traffic than each growth level",
            ));
        }
        let planned_growth = file
            .recommend
            .planned_growth
            .unwrap_or(baseline.traffic.growth * (1.0 + headroom));
        if !(planned_growth.is_finite() && planned_growth > 0.0) {
            return Err(err(
                "recommend.planned_growth",
                format!("planned_growth must be positive, not {planned_growth}"),
                "1.5 plans for 50% more traffic than today",
            ));
        }

        let mut png = true;
        let mut svg = true;
        if let Some(formats) = &file.output.charts {
            png = false;
            svg = false;
            for (i, format) in formats.iter().enumerate() {
                match format.as_str() {
                    "png" => png = true,
                    "svg" => svg = true,
                    other => {
                        return Err(err(
                            &format!("output.charts[{i}]"),
                            format!("unknown chart format \"{other}\""),
                            "use \"png\" and/or \"svg\"",
                        ))
                    }
                }
            }
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        let out_dir = PathBuf::from(
            file.output
                .dir
                .clone()
                .unwrap_or_else(|| format!("output/{name}")),
        );

        let mut variants = Vec::new();
        for (i, v) in file.variants.iter().flatten().enumerate() {
            if variants.iter().any(|other: &Variant| other.name == v.name) {
                return Err(err(
                    &format!("variants[{i}].name"),
                    format!("two variants are named \"{}\"", v.name),
                    "give every variant its own name",
                ));
            }
            variants.push(Variant {
                name: v.name.clone(),
                description: v.description.clone().unwrap_or_default(),
                overrides: v.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            });
        }
        if variants.is_empty() {
            variants.push(Variant {
                name: String::new(),
                description: String::new(),
                overrides: Vec::new(),
            });
        }
        let mut phases = Vec::new();
        for (i, p) in file.phases.iter().flatten().enumerate() {
            let from = parse_duration(&p.from).map_err(|why| {
                err(
                    &format!("phases[{i}].from"),
                    why,
                    "a duration from the start, e.g. \"45m\"",
                )
            })?;
            let to = parse_duration(&p.to).map_err(|why| {
                err(
                    &format!("phases[{i}].to"),
                    why,
                    "a duration from the start, e.g. \"3h30m\"",
                )
            })?;
            if to <= from {
                return Err(err(
                    &format!("phases[{i}].to"),
                    format!(
                        "phase \"{}\" ends ({}) before it starts ({})",
                        p.name, p.to, p.from
                    ),
                    "make `to` later than `from`",
                ));
            }
            phases.push(Phase {
                name: p.name.clone(),
                from_s: from.as_secs_f64(),
                to_s: to.as_secs_f64(),
            });
        }

        let mut points = Vec::new();
        for (variant_index, variant) in variants.iter().enumerate() {
            for values in cartesian(&axes) {
                let mut overrides = base_overrides.clone();
                overrides.extend(variant.overrides.iter().cloned());
                for (axis, value) in axes.iter().zip(&values) {
                    overrides.push((
                        axis.path.clone(),
                        number_value(&model.table, &axis.path, *value),
                    ));
                }
                let spec = model.build(&overrides).map_err(|e| {
                    let mut at: Vec<String> = axes
                        .iter()
                        .zip(&values)
                        .map(|(a, v)| format!("{} = {v}", a.path))
                        .collect();
                    if !variant.name.is_empty() {
                        at.insert(0, format!("variant \"{}\"", variant.name));
                    }
                    InputError::new(
                        path,
                        format!(
                            "the sweep point {} makes the model invalid: {}",
                            at.join(", "),
                            e.message
                        ),
                    )
                    .field(
                        e.field
                            .map(|f| format!("sweep.\"{f}\""))
                            .unwrap_or_else(|| "sweep".into()),
                    )
                    .line(locate_field(&text, "sweep"))
                    .hint(
                        e.hint
                            .unwrap_or_else(|| "narrow the sweep to valid values".into()),
                    )
                })?;
                points.push(Point {
                    variant: variant_index,
                    values,
                    spec,
                });
            }
        }
        if points.len() > 100_000 {
            return Err(err(
                "sweep",
                format!("{} points is too many to sweep", points.len()),
                "sweep fewer values (a few hundred points are plenty)",
            ));
        }

        Ok(Experiment {
            path: path.to_path_buf(),
            name,
            model,
            baseline,
            replications: file.replications,
            variants,
            phases,
            axes,
            points,
            slo: Slo {
                latency_p99_ms: slo_p99.as_millis_f64(),
                error_rate: file.slo.error_rate,
            },
            headroom,
            surge: file.recommend.surge,
            planned_growth,
            out_dir,
            png,
            svg,
        })
    }

    /// Whether variants were named (so outputs need a variant column).
    pub fn has_variants(&self) -> bool {
        self.variants.len() > 1 || !self.variants[0].name.is_empty()
    }

    /// Whether any point simulates a timeline (events, alerts, autoscaling, traces).
    pub fn has_timeline(&self) -> bool {
        self.points.iter().any(|p| !p.spec.timeline.is_empty())
    }

    /// The index of the axis for `path`, if it is swept.
    pub fn axis_index(&self, path: &str) -> Option<usize> {
        self.axes.iter().position(|a| a.path == path)
    }
}

/// Numeric fields that may be absent from a model file because they have defaults.
fn is_defaultable_number(path: &str) -> bool {
    matches!(
        path,
        "traffic.growth"
            | "pool.max_size"
            | "pool.min_idle"
            | "fleet.workers"
            | "fleet.accept_queue"
            | "database.max_connections"
            | "database.reserved_connections"
            | "database.other_connections"
            | "database.contention.serial"
            | "database.contention.crosstalk"
            | "client.retries.max"
            | "simulation.seed"
    )
}

/// Integer fields stay integers in TOML (serde refuses 10.0 for a u32).
fn number_value(table: &Table, path: &str, value: f64) -> Value {
    let integer_field = match path {
        "traffic.growth"
        | "traffic.rate"
        | "database.contention.serial"
        | "database.contention.crosstalk" => false,
        _ => get_number(table, path)
            .map(|_| is_integer_in(table, path))
            .unwrap_or(true),
    };
    if integer_field && value.fract() == 0.0 {
        Value::Integer(value as i64)
    } else {
        Value::Float(value)
    }
}

fn is_integer_in(table: &Table, path: &str) -> bool {
    let mut current = table;
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    for part in parents {
        match current.get(*part).and_then(Value::as_table) {
            Some(inner) => current = inner,
            None => return false,
        }
    }
    matches!(current.get(*last), Some(Value::Integer(_)))
}

fn as_number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Integer(i) => Ok(*i as f64),
        Value::Float(f) if f.is_finite() => Ok(*f),
        other => Err(format!("sweep values must be numbers, not {other}")),
    }
}

fn expand(values: &SweepValues) -> Result<Vec<f64>, String> {
    match values {
        SweepValues::List(list) => list.iter().map(as_number).collect(),
        SweepValues::Range(range) => {
            let (from, to, step) = (
                as_number(&range.from)?,
                as_number(&range.to)?,
                as_number(&range.step)?,
            );
            if step <= 0.0 {
                return Err(format!("step must be positive, not {step}"));
            }
            if to < from {
                return Err(format!("`to` ({to}) is below `from` ({from})"));
            }
            let count = ((to - from) / step + 1e-9).floor() as usize + 1;
            if count > 10_000 {
                return Err(format!("the range has {count} values"));
            }
            // Computed from the index, not accumulated, so 1.0 + 8 x 0.25 is exactly 3.0.
            Ok((0..count)
                .map(|i| round_to_step(from + i as f64 * step))
                .collect())
        }
    }
}

fn round_to_step(value: f64) -> f64 {
    (value * 1e9).round() / 1e9
}

/// Every combination of axis values, the last axis varying fastest.
fn cartesian(axes: &[Axis]) -> Vec<Vec<f64>> {
    axes.iter().fold(vec![Vec::new()], |combos, axis| {
        combos
            .iter()
            .flat_map(|combo| {
                axis.values.iter().map(move |v| {
                    let mut next = combo.clone();
                    next.push(*v);
                    next
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_exact_and_inclusive() {
        let range = SweepValues::Range(RangeSpec {
            from: Value::Float(1.0),
            to: Value::Float(3.0),
            step: Value::Float(0.25),
        });
        let values = expand(&range).unwrap();
        assert_eq!(values.len(), 9);
        assert_eq!(values[8], 3.0);
        assert_eq!(values[1], 1.25);
    }

    #[test]
    fn cartesian_product_orders_last_axis_fastest() {
        let axes = vec![
            Axis {
                path: "a".into(),
                values: vec![1.0, 2.0],
            },
            Axis {
                path: "b".into(),
                values: vec![10.0, 20.0, 30.0],
            },
        ];
        let combos = cartesian(&axes);
        assert_eq!(combos.len(), 6);
        assert_eq!(combos[0], vec![1.0, 10.0]);
        assert_eq!(combos[1], vec![1.0, 20.0]);
        assert_eq!(combos[5], vec![2.0, 30.0]);
    }
}
