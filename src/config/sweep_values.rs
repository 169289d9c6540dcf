//! Sweep values as written (a list or a `{ from, to, step }` range) and as applied to a model.
//!
//! Ranges expand exactly (1.0 to 3.0 by 0.25 gives nine values, 3.0 included), and
//! a swept number keeps the type the model file uses (an integer stays an integer).

use serde::Deserialize;
use toml::{Table, Value};

use super::overrides::get_number;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SweepValues {
    List(Vec<Value>),
    Range(RangeSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub from: Value,
    pub to: Value,
    pub step: Value,
}

/// Numeric fields that may be absent from a model file because they have defaults.
pub fn is_defaultable_number(path: &str) -> bool {
    matches!(
        path,
        "traffic.growth"
            | "pool.max_size"
            | "pool.pool_size"
            | "pool.max_overflow"
            | "pool.max_open"
            | "pool.max_idle"
            | "pool.max"
            | "pool.max_conns"
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
pub fn number_value(table: &Table, path: &str, value: f64) -> Value {
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

pub fn expand(values: &SweepValues) -> Result<Vec<f64>, String> {
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
}
