//! The experiment's `replications`: a plain number (that many replications of every
//! point, as always) or `{ min, max, precision }`, adaptive replications that stop
//! as soon as a point's SLO decision is clear or its intervals are narrow enough.
//!
//! Kept apart from experiment.rs so the parsing and its error messages sit together;
//! the rule itself (when a point is decided) lives in `crate::sweep`.

use toml::Value;

/// Adaptive replications: every point gets `min`, then more (up to the experiment's
/// `replications`, the maximum) while its SLO decision is still open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    /// Replications every point gets before any is judged (at least 2).
    pub min: u32,
    /// Relative half-width of the 95% intervals of p99 and error rate (0.05 = ±5% of
    /// the mean) at which a point counts as measured precisely enough.
    pub precision: f64,
}

/// `replications` as checked: the most replications of a point, and the adaptive rule if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replications {
    pub max: u32,
    pub adaptive: Option<Adaptive>,
}

/// The most replications a point may get: more is never needed for a review.
const MOST: u32 = 1000;

/// An error in `replications`: the (sub)field, what is wrong, the fix.
pub type FieldError = (String, String, &'static str);

fn count(field: &str, value: &Value) -> Result<u32, FieldError> {
    let hint =
        "use a whole number from 2 to 1000, e.g. 5 (or { min = 3, max = 30, precision = 0.05 })";
    let n = value.as_integer().ok_or_else(|| {
        (
            field.to_string(),
            format!("{value} is not a whole number"),
            hint,
        )
    })?;
    if n < 2 {
        return Err((
            field.to_string(),
            format!("{n} replication(s) give no confidence interval"),
            "use at least 2 (5 or more for stable recommendations)",
        ));
    }
    if n > i64::from(MOST) {
        return Err((
            field.to_string(),
            format!("{n} replications per point is more than any review needs"),
            "use 5 to 30",
        ));
    }
    Ok(n as u32)
}

/// Checks `replications` as written (None: the default of 5).
pub fn check(value: Option<&Value>) -> Result<Replications, FieldError> {
    let table = match value {
        None => {
            return Ok(Replications {
                max: 5,
                adaptive: None,
            })
        }
        Some(Value::Table(table)) => table,
        Some(plain) => {
            return Ok(Replications {
                max: count("replications", plain)?,
                adaptive: None,
            })
        }
    };
    let keys = ["min", "max", "precision"];
    if let Some(unknown) = table.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err((
            format!("replications.{unknown}"),
            format!("`{unknown}` is not a field of replications"),
            "write replications = { min = 3, max = 30, precision = 0.05 }",
        ));
    }
    let get = |key: &str| {
        table.get(key).ok_or_else(|| {
            (
                format!("replications.{key}"),
                format!("adaptive replications need `{key}`"),
                "write replications = { min = 3, max = 30, precision = 0.05 }",
            )
        })
    };
    let min = count("replications.min", get("min")?)?;
    let max = count("replications.max", get("max")?)?;
    if max < min {
        return Err((
            "replications.max".into(),
            format!("max = {max} is below min = {min}"),
            "make max at least min, e.g. min = 3, max = 30",
        ));
    }
    let written = get("precision")?;
    let precision = match written {
        Value::Float(f) => *f,
        Value::Integer(i) => *i as f64,
        _ => f64::NAN,
    };
    if !(precision > 0.0 && precision < 1.0) {
        return Err((
            "replications.precision".into(),
            format!("{written} is not a relative precision between 0 and 1"),
            "write the relative half-width of the 95% intervals, e.g. 0.05 for ±5%",
        ));
    }
    Ok(Replications {
        max,
        adaptive: Some(Adaptive { min, precision }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Replications, FieldError> {
        let table: toml::Table = toml::from_str(text).unwrap();
        check(table.get("replications"))
    }

    #[test]
    fn a_plain_number_keeps_fixed_replications() {
        let r = parse("replications = 7").unwrap();
        assert_eq!((r.max, r.adaptive), (7, None));
        assert_eq!(parse("").unwrap().max, 5);
    }

    #[test]
    fn a_table_gives_adaptive_replications() {
        let r = parse("replications = { min = 3, max = 30, precision = 0.05 }").unwrap();
        assert_eq!(r.max, 30);
        assert_eq!(
            r.adaptive,
            Some(Adaptive {
                min: 3,
                precision: 0.05
            })
        );
    }

    #[test]
    fn bad_tables_name_the_field() {
        let field = |text: &str| parse(text).unwrap_err().0;
        assert_eq!(field("replications = 1"), "replications");
        assert_eq!(
            field("replications = { min = 3, max = 30 }"),
            "replications.precision"
        );
        assert_eq!(
            field("replications = { min = 5, max = 3, precision = 0.1 }"),
            "replications.max"
        );
        assert_eq!(
            field("replications = { min = 3, max = 9, precision = 2.0 }"),
            "replications.precision"
        );
        assert_eq!(
            field("replications = { min = 3, max = 9, precision = \"5%\" }"),
            "replications.precision"
        );
        assert_eq!(
            field("replications = { min = 3, max = 9, precison = 0.1 }"),
            "replications.precison"
        );
        assert_eq!(
            field("replications = { min = 1, max = 9, precision = 0.1 }"),
            "replications.min"
        );
    }
}
