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
use super::sweep_values::{expand, is_defaultable_number, number_value, SweepValues};
use super::uncertainty::{check_uncertainty, UncertainInput};

mod focus;
mod replications;
mod slo;
pub use focus::Focus;
pub use replications::Adaptive;
pub use slo::Slo;
use slo::SloSection;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFile {
    model: String,
    /// A number, or `{ min, max, precision }` (see `replications::check`).
    replications: Option<Value>,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendSection {
    headroom: Option<f64>,
    /// Extra instances that run during a deploy, each with a full pool; default 25% of instances, rounded up.
    surge: Option<u32>,
    /// Instances the fleet must be able to lose and still meet the SLO (N+1 by default).
    instance_loss: Option<u32>,
    /// "max_growth" (default) or "min_connections".
    objective: Option<String>,
    /// The growth the plan must carry; default: the model's growth x (1 + headroom).
    planned_growth: Option<f64>,
    /// Traffic growth per month (0.05 or "5%"), for the runway.
    growth_per_month: Option<Value>,
    /// Traffic growth per quarter, if that is how the forecast is given.
    growth_per_quarter: Option<Value>,
    /// The month the runway counts from, "YYYY-MM" (the review's month).
    runway_from: Option<String>,
    /// Evaluate the model's `[uncertainty]` ranges (default true).
    sensitivity: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    dir: Option<String>,
    charts: Option<Vec<String>>,
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
    /// The overrides of the model that give `spec` (so related models can be built from it).
    pub overrides: Vec<(String, Value)>,
}

/// What the recommendation optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The size that carries the most growth in every condition (ties: the smaller).
    MaxGrowth,
    /// The smallest size that carries the planned growth.
    MinConnections,
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
    /// Replications per point: all of them, or the most adaptive replications give.
    pub replications: u32,
    /// Adaptive replications (None: every point gets `replications`).
    pub adaptive: Option<Adaptive>,
    /// At least one; a single unnamed variant when the file has none.
    pub variants: Vec<Variant>,
    pub phases: Vec<Phase>,
    pub axes: Vec<Axis>,
    /// The service the pool-size recommendations are about (see `Focus`).
    pub focus: Focus,
    pub points: Vec<Point>,
    /// The SLO: every service's in a single-service model, the default in a
    /// `[[services]]` model (each service's own is in `service_slos`).
    pub slo: Slo,
    /// Each service's SLO, in model order (`[slo.services.<name>]` over `[slo]`).
    pub service_slos: Vec<Slo>,
    pub headroom: f64,
    /// Deploy surge instances; None: 25% of the fleet, rounded up (see `surge_for`).
    pub surge: Option<u32>,
    /// Instances the plan must survive losing.
    pub instance_loss: u32,
    pub objective: Objective,
    pub planned_growth: f64,
    /// Traffic growth per month as a fraction (0.05 = 5%), for the runway.
    pub monthly_growth: Option<f64>,
    /// (year, month) the runway counts from.
    pub runway_from: Option<(i32, u32)>,
    /// The model's uncertain inputs, evaluated at their ends (empty: no sensitivity analysis).
    pub uncertainty: Vec<UncertainInput>,
    pub out_dir: PathBuf,
    pub png: bool,
    pub svg: bool,
}

pub const POOL_SIZE_PATH: &str = "pool.max_size";
pub const GROWTH_PATH: &str = "traffic.growth";

impl Experiment {
    pub fn load(path: &Path) -> Result<Experiment, InputError> {
        Experiment::load_with(path, None, &[])
    }

    /// Loads and checks `path`; `seed` overrides the model's simulation seed.
    pub fn load_with_seed(path: &Path, seed: Option<u64>) -> Result<Experiment, InputError> {
        Experiment::load_with(path, seed, &[])
    }

    /// Loads and checks `path`; `seed` overrides the model's simulation seed and
    /// `overrides` (`sweep --set`) change the model before the sweep values apply.
    pub fn load_with(
        path: &Path,
        seed: Option<u64>,
        overrides: &[(String, Value)],
    ) -> Result<Experiment, InputError> {
        let text = crate::config::input_file::read_regular(path).map_err(|e| {
            InputError::new(path, format!("cannot read the experiment file: {e}"))
                .hint("check the path; `ls experiments/` lists the experiments in this repository")
        })?;
        let table = parse_toml(path, &text)?;
        let file: ExperimentFile = deserialize_table(path, &text, table)?;
        let c = Checker { path, text: &text };
        let model = c.read_model(&file.model)?;
        let replications = replications::check(file.replications.as_ref())
            .map_err(|(field, message, hint)| c.err(&field, message, hint))?;
        let mut base_overrides: Vec<(String, Value)> = Vec::new();
        for (key, value) in file.simulation.iter().flatten() {
            base_overrides.push((format!("simulation.{key}"), value.clone()));
        }
        if let Some(seed) = seed {
            base_overrides.push(("simulation.seed".into(), Value::Integer(seed as i64)));
        }
        base_overrides.extend(overrides.iter().cloned());
        let baseline = c.baseline(&model, &base_overrides)?;
        let axes = c.axes(&model, &file.sweep)?;
        let focus = Focus::of(&baseline, &axes);
        let slo = c.slo(&file.slo)?;
        let service_slos = c.service_slos(&file.slo, &slo, &baseline)?;
        let planning = c.planning(&file.recommend, &baseline, &focus)?;
        let uncertainty = match file.recommend.sensitivity {
            Some(false) => Vec::new(),
            _ => check_uncertainty(&model)?,
        };
        if let Some(both) = uncertainty
            .iter()
            .find(|u| axes.iter().any(|a| a.path == u.path))
        {
            return Err(c.err(
                "sweep",
                format!("{} is both swept and given an uncertainty range in the model", both.path),
                "sweep it or leave it to [uncertainty], not both; `[recommend] sensitivity = false` skips the ranges",
            ));
        }
        let (png, svg) = c.chart_formats(file.output.charts.as_deref())?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        let out_dir = c.out_dir(file.output.dir.as_deref(), &name)?;
        let variants = c.variants(file.variants.as_deref().unwrap_or_default())?;
        let phases = c.phases(file.phases.as_deref().unwrap_or_default())?;
        let points = c.points(&model, &base_overrides, &variants, &axes, replications.max)?;
        Ok(Experiment {
            path: path.to_path_buf(),
            name,
            model,
            baseline,
            replications: replications.max,
            adaptive: replications.adaptive,
            variants,
            phases,
            axes,
            focus,
            points,
            slo,
            service_slos,
            headroom: planning.headroom,
            surge: planning.surge,
            instance_loss: planning.instance_loss,
            objective: planning.objective,
            planned_growth: planning.planned_growth,
            monthly_growth: planning.monthly_growth,
            runway_from: planning.runway_from,
            uncertainty,
            out_dir,
            png,
            svg,
        })
    }

    /// Instances added during a rolling deploy for a fleet of `instances`: the
    /// experiment's `surge`, or Kubernetes' default maxSurge of 25% rounded up.
    pub fn surge_for(&self, instances: u32) -> u32 {
        self.surge.unwrap_or(instances.div_ceil(4))
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

/// The planning settings of `[recommend]`, checked.
struct Planning {
    headroom: f64,
    surge: Option<u32>,
    instance_loss: u32,
    objective: Objective,
    planned_growth: f64,
    monthly_growth: Option<f64>,
    runway_from: Option<(i32, u32)>,
}

/// Names errors in the experiment file.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, field: &str, message: String, hint: &str) -> InputError {
        InputError::at_field(self.path, self.text, field, message, hint)
    }

    fn read_model(&self, model: &str) -> Result<ModelSource, InputError> {
        let model_path = self.path.parent().unwrap_or(Path::new(".")).join(model);
        ModelSource::read(&model_path).map_err(|e| {
            if e.file == model_path && e.field.is_none() && e.line.is_none() {
                self.err("model", format!("cannot read the model {}: {}", model_path.display(), e.message), "the model path is relative to the experiment file, e.g. \"../models/auth-service.toml\"")
            } else {
                e
            }
        })
    }

    fn baseline(
        &self,
        model: &ModelSource,
        overrides: &[(String, Value)],
    ) -> Result<SystemSpec, InputError> {
        model.build(overrides).map_err(|mut e| {
            if e.field
                .as_deref()
                .is_some_and(|f| f.starts_with("simulation."))
            {
                e.file = self.path.to_path_buf();
                e.line = e.field.as_deref().and_then(|f| locate_field(self.text, f));
            }
            e
        })
    }

    fn axes(
        &self,
        model: &ModelSource,
        sweep: &BTreeMap<String, SweepValues>,
    ) -> Result<Vec<Axis>, InputError> {
        let mut axes = Vec::new();
        for (axis_path, values) in sweep {
            let field = format!("sweep.\"{axis_path}\"");
            if get_number(&model.table, axis_path).is_none() && !is_defaultable_number(axis_path) {
                return Err(self.err(&field, format!("`{axis_path}` is not a numeric field of the model"), "sweep numeric paths such as pool.max_size, traffic.growth, traffic.rate, database.cores, fleet.instances"));
            }
            let numbers = expand(values).map_err(|why| {
                self.err(
                    &field,
                    why,
                    "write a list [4, 8, 16] or a range { from = 1.0, to = 3.0, step = 0.25 }",
                )
            })?;
            if numbers.is_empty() {
                return Err(self.err(
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
        Ok(axes)
    }

    /// A fraction written as a number (0.05) or a percentage string ("5%").
    fn fraction(&self, field: &str, value: &Value) -> Result<f64, InputError> {
        let parsed = match value {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            Value::String(text) => text
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|p| p / 100.0),
            _ => None,
        };
        parsed.filter(|f| f.is_finite()).ok_or_else(|| {
            self.err(
                field,
                format!("{value} is not a fraction or a percentage"),
                "write a number such as 0.001 or a percentage string such as \"0.1%\"",
            )
        })
    }

    fn planning(
        &self,
        r: &RecommendSection,
        baseline: &SystemSpec,
        focus: &Focus,
    ) -> Result<Planning, InputError> {
        let planned = baseline.service(focus.index);
        let headroom = r.headroom.unwrap_or(0.25);
        if !(headroom.is_finite() && (0.0..=10.0).contains(&headroom)) {
            return Err(self.err(
                "recommend.headroom",
                format!("headroom must be a fraction like 0.25, not {headroom}"),
                "0.25 plans for 25% more traffic than each growth level",
            ));
        }
        let planned_growth = r
            .planned_growth
            .unwrap_or(planned.traffic.growth * (1.0 + headroom));
        if !(planned_growth.is_finite() && planned_growth > 0.0) {
            return Err(self.err(
                "recommend.planned_growth",
                format!("planned_growth must be positive, not {planned_growth}"),
                "1.5 plans for 50% more traffic than today",
            ));
        }
        let instance_loss = r.instance_loss.unwrap_or(1);
        if instance_loss >= planned.fleet.instances && instance_loss > 0 {
            return Err(self.err(
                "recommend.instance_loss",
                format!(
                    "losing {instance_loss} of {} instances leaves none to serve",
                    planned.fleet.instances
                ),
                "use 0 (no loss) or fewer than fleet.instances; 1 is N+1 capacity",
            ));
        }
        let objective = match r.objective.as_deref().unwrap_or("max_growth") {
            "max_growth" => Objective::MaxGrowth,
            "min_connections" => Objective::MinConnections,
            other => return Err(self.err("recommend.objective", format!("\"{other}\" is not an objective"), "use \"max_growth\" (the size that carries the most growth) or \"min_connections\" (the smallest size that carries the planned growth)")),
        };
        Ok(Planning {
            headroom,
            surge: r.surge,
            instance_loss,
            objective,
            planned_growth,
            monthly_growth: self.monthly_growth(r)?,
            runway_from: self.runway_from(r.runway_from.as_deref())?,
        })
    }

    fn monthly_growth(&self, r: &RecommendSection) -> Result<Option<f64>, InputError> {
        let (field, monthly) = match (&r.growth_per_month, &r.growth_per_quarter) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    "recommend.growth_per_quarter",
                    "give the growth per month or per quarter, not both".into(),
                    "remove one of growth_per_month and growth_per_quarter",
                ))
            }
            (Some(m), None) => (
                "recommend.growth_per_month",
                self.fraction("recommend.growth_per_month", m)?,
            ),
            (None, Some(q)) => {
                let q = self.fraction("recommend.growth_per_quarter", q)?;
                (
                    "recommend.growth_per_quarter",
                    (1.0 + q).max(0.0).powf(1.0 / 3.0) - 1.0,
                )
            }
            (None, None) => return Ok(None),
        };
        if !(monthly > 0.0 && monthly <= 1.0) {
            return Err(self.err(
                field,
                format!(
                    "growth of {:.2}% per month cannot give a runway",
                    monthly * 100.0
                ),
                "write the expected traffic growth, e.g. growth_per_month = \"5%\"",
            ));
        }
        Ok(Some(monthly))
    }

    fn runway_from(&self, text: Option<&str>) -> Result<Option<(i32, u32)>, InputError> {
        let Some(text) = text else {
            return Ok(None);
        };
        let parsed = text.split_once('-').and_then(|(y, m)| {
            let year = y
                .parse::<i32>()
                .ok()
                .filter(|y| (1970..=9999).contains(y))?;
            let month = m.parse::<u32>().ok().filter(|m| (1..=12).contains(m))?;
            Some((year, month))
        });
        parsed.map(Some).ok_or_else(|| {
            self.err(
                "recommend.runway_from",
                format!("\"{text}\" is not a month"),
                "write the review's month as \"YYYY-MM\", e.g. \"2026-11\"",
            )
        })
    }

    fn chart_formats(&self, formats: Option<&[String]>) -> Result<(bool, bool), InputError> {
        let Some(formats) = formats else {
            return Ok((true, true));
        };
        let (mut png, mut svg) = (false, false);
        for (i, format) in formats.iter().enumerate() {
            match format.as_str() {
                "png" => png = true,
                "svg" => svg = true,
                other => {
                    return Err(self.err(
                        &format!("output.charts[{i}]"),
                        format!("unknown chart format \"{other}\""),
                        "use \"png\" and/or \"svg\"",
                    ))
                }
            }
        }
        Ok((png, svg))
    }

    fn out_dir(&self, dir: Option<&str>, name: &str) -> Result<PathBuf, InputError> {
        match dir {
            Some(d) if d.trim().is_empty() || d.trim() == "." => Err(self.err(
                "output.dir",
                format!("output.dir = \"{d}\" would replace the working directory"),
                "name a directory of its own, e.g. dir = \"output/review\"",
            )),
            Some(d) => Ok(PathBuf::from(d)),
            None => Ok(PathBuf::from(format!("output/{name}"))),
        }
    }

    fn variants(&self, sections: &[VariantSection]) -> Result<Vec<Variant>, InputError> {
        let mut variants = Vec::new();
        for (i, v) in sections.iter().enumerate() {
            if variants.iter().any(|other: &Variant| other.name == v.name) {
                return Err(self.err(
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
        Ok(variants)
    }

    fn phases(&self, sections: &[PhaseSection]) -> Result<Vec<Phase>, InputError> {
        let mut phases = Vec::new();
        for (i, p) in sections.iter().enumerate() {
            let at = |field: &str, value: &str, example: &str| {
                parse_duration(value).map_err(|why| {
                    self.err(
                        &format!("phases[{i}].{field}"),
                        why,
                        &format!("a duration from the start, e.g. \"{example}\""),
                    )
                })
            };
            let from = at("from", &p.from, "45m")?;
            let to = at("to", &p.to, "3h30m")?;
            if to <= from {
                return Err(self.err(
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
        Ok(phases)
    }

    fn points(
        &self,
        model: &ModelSource,
        base_overrides: &[(String, Value)],
        variants: &[Variant],
        axes: &[Axis],
        replications: u32,
    ) -> Result<Vec<Point>, InputError> {
        let count = variants.len() as u128
            * axes
                .iter()
                .map(|a| a.values.len() as u128)
                .product::<u128>();
        if count > MAX_POINTS as u128 {
            return Err(self.err(
                "sweep",
                format!("{count} points is too many to sweep (at most {MAX_POINTS})"),
                "sweep fewer values (a few hundred points are plenty)",
            ));
        }
        let runs = count * u128::from(replications);
        if runs > MAX_RUNS as u128 {
            return Err(self.err(
                "sweep",
                format!("{count} points x {replications} replications = {runs} runs is too many to sweep (at most {MAX_RUNS})"),
                "sweep fewer values or use fewer replications",
            ));
        }
        let mut points = Vec::new();
        for (variant_index, variant) in variants.iter().enumerate() {
            for values in cartesian(axes) {
                let mut overrides = base_overrides.to_vec();
                overrides.extend(variant.overrides.iter().cloned());
                for (axis, value) in axes.iter().zip(&values) {
                    overrides.push((
                        axis.path.clone(),
                        number_value(&model.table, &axis.path, *value),
                    ));
                }
                let spec = model
                    .build(&overrides)
                    .map_err(|e| self.point_error(e, variant, axes, &values))?;
                points.push(Point {
                    variant: variant_index,
                    values,
                    spec,
                    overrides,
                });
            }
        }
        Ok(points)
    }

    fn point_error(
        &self,
        e: InputError,
        variant: &Variant,
        axes: &[Axis],
        values: &[f64],
    ) -> InputError {
        let mut at: Vec<String> = axes
            .iter()
            .zip(values)
            .map(|(a, v)| format!("{} = {v}", a.path))
            .collect();
        if !variant.name.is_empty() {
            at.insert(0, format!("variant \"{}\"", variant.name));
        }
        InputError::new(
            self.path,
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
        .line(locate_field(self.text, "sweep"))
        .hint(
            e.hint
                .unwrap_or_else(|| "narrow the sweep to valid values".into()),
        )
    }
}

/// The most points a sweep may have; checked before any point's model is built.
pub const MAX_POINTS: usize = 100_000;
/// The most runs (points x replications) a sweep may have, checked before any model is built.
pub const MAX_RUNS: usize = 1_000_000;

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
