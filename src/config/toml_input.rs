//! TOML text to typed sections, with errors a user can act on.
//!
//! Syntax errors get a line number; serde's type errors are rewritten as what a
//! user writes ("expected a whole number, found \"ten\"") with a ready example;
//! unknown keys get a "did you mean".

use std::path::Path;

use toml::Table;

use super::error::{locate_field, locate_nearest, InputError};
use super::suggest;

/// Parses TOML text, turning syntax errors into input errors with a line number.
pub fn parse_toml(path: &Path, text: &str) -> Result<Table, InputError> {
    text.parse::<Table>().map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let what = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let hint = if what.contains("duplicate key") {
            "each key may appear once per table, and each [table] once; remove or merge the repeat"
        } else if what.contains("invalid string") {
            "write a value after `=`: a \"quoted string\", a number, true or false, a [list] or a { table }"
        } else if what.contains("string") {
            "close the string with a matching quote on the same line (use \"\"\"...\"\"\" for several lines)"
        } else if what.contains("table header") {
            "write table headers as [name] or [[name]], closing bracket included"
        } else {
            "fix the TOML syntax at that line: one `key = value` per line, strings in quotes, tables in [brackets]"
        };
        InputError::new(path, format!("TOML syntax error: {what}"))
            .line(line)
            .hint(hint)
    })
}

/// A ready-to-paste example for a required field, by its key.
fn example_for(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "name = \"my-service\"",
        "traffic" => "[traffic] section with rate = 300",
        "request" => "[request] section with at least one [[request.steps]]",
        "fleet" => "[fleet] section with instances = 6",
        "database" => "[database] section with cores = 8",
        "rate" => "rate = 300",
        "steps" => "[[request.steps]] with name, kind and time",
        "kind" => "kind = \"db\" (or \"app\")",
        "time" => "time = { dist = \"exponential\", mean = \"2ms\" }",
        "dist" => "dist = \"exponential\" (or constant, lognormal, gamma, weibull, uniform, empirical, mixture)",
        "instances" => "instances = 6",
        "cores" => "cores = 8 (the database's vCPU count)",
        "max" => "max = 2",
        "at" => "at = \"10m\"",
        "factor" => "factor = 1.5",
        _ => return None,
    })
}

/// Rewrites serde's "invalid type: string \"ten\", expected u32" as what a user
/// writes, and a hint with an example for `key`.
fn explain_type_error(message: &str, key: &str) -> (String, String) {
    let body = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .unwrap_or(message);
    let (found, expected) = body.split_once(", expected ").unwrap_or((body, ""));
    let (wanted, hint) = match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" => (
            "a whole number, 0 or more".to_string(),
            format!("write a non-negative whole number without quotes, e.g. `{key} = 10`"),
        ),
        "i8" | "i16" | "i32" | "i64" => (
            "a whole number".to_string(),
            format!("write a whole number without quotes, e.g. `{key} = 10`"),
        ),
        "f32" | "f64" => (
            "a number".to_string(),
            format!("write a number without quotes, e.g. `{key} = 1.5`"),
        ),
        "a string" => (
            "a quoted string".to_string(),
            format!("quote the value; a duration also needs a unit, e.g. `{key} = \"30s\"`"),
        ),
        "a boolean" => (
            "true or false".to_string(),
            format!("write `{key} = true` or `{key} = false`, without quotes"),
        ),
        "a sequence" => (
            "a list".to_string(),
            format!("write a list in brackets, e.g. `{key} = [\"a\", \"b\"]`"),
        ),
        other if other.starts_with("struct") || other.contains("map") => (
            "a table".to_string(),
            format!("write an inline table `{key} = {{ ... }}` or a [{key}] section"),
        ),
        other => (
            other.to_string(),
            "durations are quoted strings with a unit (\"250ms\"), counts are non-negative integers, rates and fractions are numbers".to_string(),
        ),
    };
    (format!("expected {wanted}, found {found}"), hint)
}

/// Deserializes a (possibly overridden) table, naming the field of any error and
/// suggesting the intended key for unknown ones.
pub fn deserialize_table<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    table: Table,
) -> Result<T, InputError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let mut field = e.path().to_string();
        if field == "." {
            field.clear();
        }
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        let key = field.rsplit('.').next().unwrap_or_default();
        let key = key.split('[').next().unwrap_or(key).to_string();
        if let Some(unknown) = message.strip_prefix("unknown field `") {
            let unknown = unknown.split('`').next().unwrap_or_default();
            let expected: Vec<&str> = message
                .split("expected ")
                .nth(1)
                .unwrap_or_default()
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            let hint = match suggest(unknown, &expected) {
                Some(best) => format!("did you mean `{best}`? (keys are checked so that typos are never silently ignored)"),
                None => format!("remove it; valid keys here are: {}", expected.join(", ")),
            };
            return InputError::new(path, format!("unknown key `{unknown}`"))
                .field(field.clone())
                .line(locate_field(text, &field))
                .hint(hint);
        }
        if let Some(missing) = message.strip_prefix("missing field `") {
            let missing = missing.split('`').next().unwrap_or_default();
            let full = if field.is_empty() {
                missing.to_string()
            } else {
                format!("{field}.{missing}")
            };
            let example = example_for(missing);
            let hint = match (field.is_empty(), example) {
                (true, Some(section)) if section.starts_with('[') => {
                    format!("add a {section}")
                }
                (true, Some(example)) => {
                    format!("add {example} at the top of the file, before any [section]")
                }
                (false, Some(example)) if field.contains(['.', '[']) => {
                    format!("add {example} to `{field}`")
                }
                (false, Some(example)) => format!("add {example} to [{field}]"),
                (_, None) => {
                    format!("add `{missing}`; docs/model.md lists every field with an example")
                }
            };
            return InputError::new(path, format!("required field `{missing}` is missing"))
                .field(full.clone())
                .line(locate_nearest(text, &full))
                .hint(hint);
        }
        let mut error = InputError::new(path, message.clone())
            .field(field.clone())
            .line(locate_field(text, &field));
        if message.starts_with("invalid type") || message.starts_with("invalid value") {
            let (message, hint) = explain_type_error(&message, &key);
            error.message = message;
            error = error.hint(hint);
        } else {
            error = error.hint("check this field against docs/model.md, which lists every field with an example");
        }
        error
    })
}
