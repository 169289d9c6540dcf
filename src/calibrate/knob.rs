//! The one model parameter `calibrate --fit` varies, and edits of the model's text.
//!
//! Edits go through `toml_edit`, so a calibrated copy keeps every comment and the
//! layout of the model it came from; the replay settings (trace, horizon) are applied
//! the same way to a copy that is only simulated, never written.

use std::path::Path;

use toml_edit::{DocumentMut, Item, TableLike, Value};

use crate::config::duration::parse_duration;
use crate::config::InputError;
use crate::fit::duration_text;

/// Duration keys of a distribution table that scale with its time.
const TIME_KEYS: [&str; 7] = ["value", "mean", "median", "p99", "scale", "min", "max"];

/// What `--fit PATH` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Knob {
    /// Multiply the times of these steps (indices into request.steps).
    StepTime { steps: Vec<usize>, path: String },
    /// A number at a dotted path, e.g. database.contention.serial.
    Number { path: String, base: f64 },
    /// A duration string at a dotted path, e.g. database.round_trip.
    Duration { path: String, base_s: f64 },
}

impl Knob {
    pub fn path(&self) -> &str {
        match self {
            Knob::StepTime { path, .. }
            | Knob::Number { path, .. }
            | Knob::Duration { path, .. } => path,
        }
    }
    /// The search interval: a factor on the model's value, or (for a number that is 0)
    /// the value itself.
    pub fn searches_factor(&self) -> bool {
        !matches!(self, Knob::Number { base, .. } if *base == 0.0)
    }
    /// The searched quantity in words.
    pub fn describe(&self, x: f64) -> String {
        match self {
            Knob::StepTime { .. } => format!("time scale x{x:.4}"),
            Knob::Number { base, .. } if *base == 0.0 => format!("{x:.5}"),
            Knob::Number { base, .. } => format!("{:.5} (x{x:.4} of {base})", base * x),
            Knob::Duration { base_s, .. } => {
                format!(
                    "{} (x{x:.4} of {})",
                    duration_text(base_s * x),
                    duration_text(*base_s)
                )
            }
        }
    }
}

fn knob_error(model: &Path, path: &str, message: impl Into<String>) -> InputError {
    InputError::new(model, message).field(path).hint(
        "--fit takes request.steps[N].time or request.steps[\"name\"].time (a step's time scale; N from 0, or the step's name quoted as --set takes it), request.time (every step), a number such as database.contention.serial, or a duration such as database.round_trip",
    )
}

/// The table-like item at a dotted path (no array indices).
fn item_at<'a>(doc: &'a mut DocumentMut, path: &str) -> Option<&'a mut Item> {
    let mut item = doc.as_item_mut();
    for part in path.split('.') {
        item = item.as_table_like_mut()?.get_mut(part)?;
    }
    Some(item)
}

fn steps(doc: &mut DocumentMut) -> Option<&mut toml_edit::ArrayOfTables> {
    item_at(doc, "request.steps")?.as_array_of_tables_mut()
}

/// Resolves `--fit PATH` against the model.
pub fn resolve(model: &Path, doc: &DocumentMut, path: &str) -> Result<Knob, InputError> {
    let mut doc = doc.clone();
    if path == "request.time" {
        let count = steps(&mut doc).map_or(0, |s| s.len());
        return Ok(Knob::StepTime {
            steps: (0..count).collect(),
            path: path.into(),
        });
    }
    if let Some(rest) = path.strip_prefix("request.steps[") {
        let (index, tail) = rest
            .split_once(']')
            .ok_or_else(|| knob_error(model, path, format!("`{path}` has no closing ]")))?;
        if !(tail.is_empty() || tail == ".time") {
            return Err(knob_error(
                model,
                path,
                format!("`{path}`: only a step's time can be fitted"),
            ));
        }
        let all = steps(&mut doc)
            .ok_or_else(|| knob_error(model, path, "the model has no [[request.steps]]"))?;
        let found = match index.trim().parse::<usize>() {
            Ok(i) if i < all.len() => Some(i),
            Ok(_) => None,
            // By name, quoted as --set takes it (`["load user"]`), or bare.
            Err(_) => {
                let name = crate::config::overrides::quoted(index.trim()).unwrap_or(index.trim());
                all.iter()
                    .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
            }
        };
        let step = found.ok_or_else(|| {
            knob_error(
                model,
                path,
                format!("no step `{index}` among the model's {} steps", all.len()),
            )
        })?;
        return Ok(Knob::StepTime {
            steps: vec![step],
            path: format!("request.steps[{step}].time"),
        });
    }
    let item = item_at(&mut doc, path)
        .ok_or_else(|| knob_error(model, path, format!("the model has no field `{path}`")))?;
    if let Some(number) = item
        .as_float()
        .or_else(|| item.as_integer().map(|i| i as f64))
    {
        return Ok(Knob::Number {
            path: path.into(),
            base: number,
        });
    }
    if let Some(text) = item.as_str() {
        if let Ok(time) = parse_duration(text) {
            let base_s = time.0 as f64 * 1e-9;
            if base_s > 0.0 {
                return Ok(Knob::Duration {
                    path: path.into(),
                    base_s,
                });
            }
        }
    }
    Err(knob_error(
        model,
        path,
        format!("`{path}` is not a number or a positive duration"),
    ))
}

/// Multiplies every duration of a distribution table by `factor`; mixtures recurse.
fn scale_distribution(table: &mut dyn TableLike, factor: f64) -> Result<(), String> {
    if table.get("file").is_some() {
        return Err(
            "an empirical distribution's times come from its file and cannot be scaled".into(),
        );
    }
    for key in TIME_KEYS {
        if let Some(item) = table.get_mut(key) {
            if let Some(text) = item.as_str() {
                let ns = parse_duration(text)?.0 as f64;
                *item = Item::Value(Value::from(duration_text(ns * 1e-9 * factor)));
            }
        }
    }
    if let Some(components) = table.get_mut("components").and_then(Item::as_array_mut) {
        for component in components.iter_mut() {
            if let Some(inline) = component.as_inline_table_mut() {
                scale_distribution(inline, factor)?;
            }
        }
    }
    Ok(())
}

/// Sets the knob to `x` (a factor, or the value itself for a number that is 0).
pub fn apply(model: &Path, doc: &mut DocumentMut, knob: &Knob, x: f64) -> Result<(), InputError> {
    let fail = |why: String| knob_error(model, knob.path(), why);
    match knob {
        Knob::StepTime { steps: indices, .. } => {
            let all = steps(doc).ok_or_else(|| fail("no [[request.steps]]".into()))?;
            for i in indices {
                let step = all
                    .get_mut(*i)
                    .ok_or_else(|| fail(format!("no step {i}")))?;
                let time = step
                    .get_mut("time")
                    .and_then(Item::as_table_like_mut)
                    .ok_or_else(|| fail(format!("step {i} has no time table")))?;
                scale_distribution(time, x).map_err(fail)?;
            }
        }
        Knob::Number { path, base } => {
            let value = if *base == 0.0 { x } else { base * x };
            *item_at(doc, path).ok_or_else(|| fail("field vanished".into()))? =
                Item::Value(Value::from(value));
        }
        Knob::Duration { path, base_s } => {
            *item_at(doc, path).ok_or_else(|| fail("field vanished".into()))? =
                Item::Value(Value::from(duration_text(base_s * x)));
        }
    }
    Ok(())
}

/// Makes the model replay the observed request rate over the observed window.
pub fn apply_replay(doc: &mut DocumentMut, trace: &Path, horizon_s: f64, step_s: f64) {
    let set = |doc: &mut DocumentMut, table: &str, key: &str, value: Value| {
        if !doc.contains_key(table) {
            doc[table] = toml_edit::table();
        }
        if let Some(t) = doc[table].as_table_like_mut() {
            t.insert(key, Item::Value(value));
        }
    };
    let ms = |s: f64| format!("{}ms", (s * 1e3).round());
    set(doc, "traffic", "arrivals", Value::from("trace"));
    set(
        doc,
        "traffic",
        "trace",
        Value::from(trace.display().to_string()),
    );
    set(doc, "traffic", "growth", Value::from(1.0));
    if let Some(traffic) = doc["traffic"].as_table_like_mut() {
        traffic.remove("profile");
    }
    // Planned events (restarts, surges) are hypotheses; the replay is what happened.
    doc.remove("events");
    set(doc, "simulation", "horizon", Value::from(ms(horizon_s)));
    set(doc, "simulation", "warmup", Value::from("0s"));
    set(
        doc,
        "simulation",
        "sample_interval",
        Value::from(ms(step_s)),
    );
}

/// Minimises `f` over [low, high]: a coarse grid to bracket the minimum, then
/// golden-section search inside the bracket. Returns (argmin, min).
pub fn minimise(low: f64, high: f64, mut f: impl FnMut(f64) -> f64) -> (f64, f64) {
    const GRID: usize = 9;
    let grid: Vec<(f64, f64)> = (0..GRID)
        .map(|i| {
            let x = low + (high - low) * i as f64 / (GRID - 1) as f64;
            (x, f(x))
        })
        .collect();
    let best = (0..GRID)
        .min_by(|a, b| grid[*a].1.total_cmp(&grid[*b].1))
        .unwrap_or(0);
    let (mut a, mut b) = (
        grid[best.saturating_sub(1)].0,
        grid[(best + 1).min(GRID - 1)].0,
    );
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..16 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    let (x, fx) = if fc < fd { (c, fc) } else { (d, fd) };
    if fx <= grid[best].1 {
        (x, fx)
    } else {
        grid[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_section_finds_a_parabola_minimum() {
        let (x, _) = minimise(-2.0, 3.0, |x| (x - 0.7).powi(2));
        assert!((x - 0.7).abs() < 1e-3, "{x}");
    }

    #[test]
    fn scales_a_step_and_keeps_comments() {
        let text = "# top\n[request]\n[[request.steps]]\nname = \"q\"\nkind = \"db\"\ntime = { dist = \"lognormal\", median = \"10ms\", p99 = \"50ms\" } # note\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        let path = Path::new("m.toml");
        let knob = resolve(path, &doc, "request.steps[q].time").unwrap();
        for quoted in ["request.steps[\"q\"].time", "request.steps['q'].time"] {
            assert_eq!(resolve(path, &doc, quoted).unwrap(), knob, "{quoted}");
        }
        apply(path, &mut doc, &knob, 1.5).unwrap();
        let out = doc.to_string();
        assert!(
            out.contains("median = \"15.00ms\"") && out.contains("p99 = \"75.00ms\""),
            "{out}"
        );
        assert!(out.contains("# top") && out.contains("# note"), "{out}");
    }
}
