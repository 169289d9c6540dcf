//! `[uncertainty]`: the ranges a model gives for inputs it only assumes.
//!
//! A capacity answer is only as good as its least certain input. A model may give a
//! low and a high end for any field `--set` can reach, e.g.
//! `"database.contention.serial" = [0.01, 0.05]` or
//! `'request.steps["verify password"].time.mean' = ["40ms", "70ms"]`; the sweep then
//! evaluates each end one at a time (see `recommend::sensitivity`). Every end is
//! checked here by building the model with it, so a bad range is an input error at
//! load time, not a failure halfway through a sweep.

use toml::Value;

use super::error::{locate_field, InputError};
use super::model::ModelSource;

/// One uncertain input: the field and the two ends of its plausible range.
#[derive(Debug, Clone, PartialEq)]
pub struct UncertainInput {
    /// The dotted path, as `--set` takes it.
    pub path: String,
    pub low: Value,
    pub high: Value,
}

impl UncertainInput {
    /// An end as the model file writes it: `0.05`, `70ms`.
    pub fn label(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    pub fn ends(&self) -> [(&'static str, &Value); 2] {
        [("low", &self.low), ("high", &self.high)]
    }
}

/// Reads and checks the model's `[uncertainty]` table (empty when there is none).
pub fn check_uncertainty(model: &ModelSource) -> Result<Vec<UncertainInput>, InputError> {
    let Some(table) = model.table.get("uncertainty") else {
        return Ok(Vec::new());
    };
    let err = |path: &str, message: String, hint: &str| {
        InputError::new(&model.path, message)
            .field(format!("uncertainty.\"{path}\""))
            .line(locate_field(&model.text, "uncertainty"))
            .hint(hint)
    };
    let Some(table) = table.as_table() else {
        return Err(err(
            "",
            "`uncertainty` must be a table".into(),
            "write [uncertainty] with lines like \"database.contention.serial\" = [0.01, 0.05]",
        ));
    };
    let mut inputs = Vec::new();
    for (path, range) in table {
        let hint = "give the low and the high end, e.g. \"database.other_connections\" = [0, 20] or 'request.steps[\"verify password\"].time.mean' = [\"40ms\", \"70ms\"]";
        let ends = match range.as_array().map(Vec::as_slice) {
            Some([low, high]) if same_kind(low, high) => (low.clone(), high.clone()),
            _ => {
                return Err(err(
                    path,
                    format!("`{range}` is not a range of two values of one kind"),
                    hint,
                ))
            }
        };
        if matches!(
            path.as_str(),
            "pool.max_size"
                | "pool.pool_size"
                | "pool.max_open"
                | "pool.max"
                | "pool.max_conns"
                | "traffic.growth"
        ) {
            return Err(err(
                path,
                format!("{path} is what a sweep varies, not an uncertain input"),
                "give ranges for inputs the model assumes (statement times, contention, other_connections)",
            ));
        }
        for (end, value) in [("low", &ends.0), ("high", &ends.1)] {
            model.build(&[(path.clone(), value.clone())]).map_err(|e| {
                err(
                    path,
                    format!(
                        "the {end} end {} does not make a valid model: {}",
                        UncertainInput::label(value),
                        e.message
                    ),
                    e.hint.as_deref().unwrap_or(hint),
                )
            })?;
        }
        inputs.push(UncertainInput {
            path: path.clone(),
            low: ends.0,
            high: ends.1,
        });
    }
    Ok(inputs)
}

/// Both numbers, or both strings (durations).
fn same_kind(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| matches!(v, Value::Integer(_) | Value::Float(_));
    (number(a) && number(b)) || (a.is_str() && b.is_str())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn model(extra: &str) -> ModelSource {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal.toml");
        let base = std::fs::read_to_string(&path).unwrap();
        ModelSource::from_text(&path, format!("{base}\n{extra}")).unwrap()
    }

    #[test]
    fn reads_ranges_and_checks_each_end() {
        let m = model("[uncertainty]\n\"database.other_connections\" = [0, 20]\n");
        let inputs = check_uncertainty(&m).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(UncertainInput::label(&inputs[0].high), "20");
    }

    #[test]
    fn refuses_bad_ranges() {
        for bad in [
            "\"database.other_connections\" = [0]",
            "\"database.other_connections\" = [0, \"5ms\"]",
            "\"database.other_connections\" = [0, -5]",
            "\"pool.max_size\" = [5, 10]",
            "\"database.no_such_field\" = [1, 2]",
        ] {
            let m = model(&format!("[uncertainty]\n{bad}\n"));
            let e = check_uncertainty(&m).expect_err(bad);
            assert!(
                e.field.as_deref().unwrap().starts_with("uncertainty."),
                "{bad}"
            );
        }
    }
}
