//! Dotted paths ("pool.max_size") that read and write fields of a parsed TOML file.
//!
//! `poolsim run --set` and experiment sweeps change a model before it is checked,
//! so an override goes through exactly the same validation as a hand-written value.

use toml::{Table, Value};

/// Parses the text after `=` in `--set path=value`: a TOML value, or a bare string.
pub fn parse_override_value(text: &str) -> Value {
    let text = text.trim();
    match toml::from_str::<Table>(&format!("v = {text}")) {
        Ok(mut table) => table.remove("v").unwrap_or(Value::String(text.into())),
        Err(_) => Value::String(text.to_string()),
    }
}

/// One step of a path: a table key, an array index (`[0]`) or an array element
/// chosen by its `name` field (`["verify password"]`).
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
    Name(String),
}

/// Splits `request.steps["verify password"].time.mean` into segments, each with the
/// length of the path up to and including it (so errors can quote that prefix).
fn parse_path(path: &str) -> Result<Vec<(Segment, usize)>, String> {
    let bad = |why: &str| {
        format!("`{path}` is not a path like `pool.max_size`, `request.steps[0].time.p99` or `request.steps[\"load user\"].time.p99`: {why}")
    };
    let mut segments = Vec::new();
    let mut rest = path;
    loop {
        let key_len = rest.find(['.', '[']).unwrap_or(rest.len());
        if key_len == 0 {
            return Err(bad("a field name is missing"));
        }
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        segments.push((Segment::Key(key.to_string()), path.len() - rest.len()));
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').ok_or_else(|| bad("a `[` is not closed"))?;
            let selector = inner[..close].trim();
            let segment = if let Some(name) = quoted(selector) {
                Segment::Name(name.to_string())
            } else {
                Segment::Index(selector.parse().map_err(|_| {
                    bad("write an index like [0] or a quoted name like [\"load user\"]")
                })?)
            };
            rest = &inner[close + 1..];
            segments.push((segment, path.len() - rest.len()));
        }
        match rest.strip_prefix('.') {
            Some(after) => rest = after,
            None if rest.is_empty() => return Ok(segments),
            None => return Err(bad("a `.` must follow `]`")),
        }
    }
}

/// The text between matching double or single quotes, if `text` is quoted.
pub fn quoted(text: &str) -> Option<&str> {
    ['"', '\''].iter().find_map(|&q| {
        text.strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .filter(|_| text.len() >= 2)
    })
}

/// The `name`s of an array's tables, for an error that lists the choices.
fn element_names(items: &[Value]) -> String {
    let names: Vec<String> = items
        .iter()
        .filter_map(|item| item.get("name").and_then(Value::as_str))
        .map(|name| format!("\"{name}\""))
        .collect();
    if names.is_empty() {
        "its elements have no `name`; select one by index, e.g. [0]".into()
    } else {
        format!("the names are {}", names.join(", "))
    }
}

/// Sets `path` in `table`: dotted keys (`pool.max_size`), creating intermediate
/// tables, and array elements by index (`request.steps[0].time.p99`) or by their
/// `name` (`request.steps["verify password"].time.mean`), which must exist.
/// Fails if the path runs through a value of another kind.
pub fn set_path(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let segments = parse_path(path)?;
    let mut root = Value::Table(std::mem::take(table));
    let outcome = set_in(&mut root, &segments, path, value);
    if let Value::Table(restored) = root {
        *table = restored;
    }
    outcome
}

fn set_in(
    root: &mut Value,
    segments: &[(Segment, usize)],
    path: &str,
    value: Value,
) -> Result<(), String> {
    let mut current = root;
    for (depth, (segment, end)) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        let parent = if depth == 0 {
            ""
        } else {
            &path[..segments[depth - 1].1]
        };
        let slot = match (segment, current) {
            (Segment::Key(key), Value::Table(inner)) => {
                if last {
                    inner.insert(key.clone(), value);
                    return Ok(());
                }
                inner
                    .entry(key.clone())
                    .or_insert_with(|| Value::Table(Table::new()))
            }
            (Segment::Index(index), Value::Array(items)) => {
                let count = items.len();
                items.get_mut(*index).ok_or_else(|| {
                    format!("`{parent}` has {count} element(s), numbered from 0, so `{}` does not exist", &path[..*end])
                })?
            }
            (Segment::Name(name), Value::Array(items)) => {
                let Some(position) = items.iter().position(|item| {
                    item.get("name").and_then(Value::as_str) == Some(name.as_str())
                }) else {
                    return Err(format!(
                        "`{parent}` has no element named \"{name}\"; {}",
                        element_names(items)
                    ));
                };
                &mut items[position]
            }
            (Segment::Key(_), _) => {
                return Err(format!(
                    "`{parent}` is not a table, so `{path}` cannot be set"
                ))
            }
            (_, _) => {
                return Err(format!(
                    "`{parent}` is not an array, so `{}` cannot be selected",
                    &path[..*end]
                ))
            }
        };
        if last {
            *slot = value;
            return Ok(());
        }
        current = slot;
    }
    Ok(())
}

/// Reads the value at `path` (the syntax of `set_path`), if there is one.
fn get_value<'a>(table: &'a Table, path: &str) -> Option<&'a Value> {
    let segments = parse_path(path).ok()?;
    let (first, rest) = segments.split_first()?;
    let Segment::Key(key) = &first.0 else {
        return None;
    };
    let mut current = table.get(key)?;
    for (segment, _) in rest {
        current = match (segment, current) {
            (Segment::Key(key), Value::Table(inner)) => inner.get(key)?,
            (Segment::Index(index), Value::Array(items)) => items.get(*index)?,
            (Segment::Name(name), Value::Array(items)) => items
                .iter()
                .find(|item| item.get("name").and_then(Value::as_str) == Some(name.as_str()))?,
            _ => return None,
        };
    }
    Some(current)
}

/// Reads the number at `path`, if there is one.
pub fn get_number(table: &Table, path: &str) -> Option<f64> {
    match get_value(table, path)? {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_gets_nested_numbers() {
        let mut table: Table = toml::from_str("[pool]\nmax_size = 10\n").unwrap();
        set_path(&mut table, "pool.max_size", parse_override_value("20")).unwrap();
        set_path(&mut table, "traffic.growth", parse_override_value("1.5")).unwrap();
        assert_eq!(get_number(&table, "pool.max_size"), Some(20.0));
        assert_eq!(get_number(&table, "traffic.growth"), Some(1.5));
        assert_eq!(table["pool"]["max_size"], Value::Integer(20));
    }

    #[test]
    fn bare_words_become_strings() {
        assert_eq!(parse_override_value("250ms"), Value::String("250ms".into()));
        assert_eq!(
            parse_override_value("\"fifo\""),
            Value::String("fifo".into())
        );
    }

    #[test]
    fn refuses_paths_through_scalars() {
        let mut table: Table = toml::from_str("name = \"x\"\n").unwrap();
        assert!(set_path(&mut table, "name.first", Value::Integer(1)).is_err());
        assert!(set_path(&mut table, "pool..max", Value::Integer(1)).is_err());
    }

    const STEPS: &str = r#"
[request]
[[request.steps]]
name = "load user"
time = { dist = "constant", value = "2ms" }
[[request.steps]]
name = "verify password"
time = { dist = "gamma", mean = "50ms", cv = 0.1 }
"#;

    #[test]
    fn reaches_array_elements_by_index_and_by_name() {
        let mut table: Table = toml::from_str(STEPS).unwrap();
        set_path(&mut table, "request.steps[0].time.value", "3ms".into()).unwrap();
        set_path(
            &mut table,
            "request.steps[\"verify password\"].time.mean",
            "40ms".into(),
        )
        .unwrap();
        set_path(
            &mut table,
            "request.steps['verify password'].time.cv",
            Value::Float(0.2),
        )
        .unwrap();
        let steps = table["request"]["steps"].as_array().unwrap();
        assert_eq!(steps[0]["time"]["value"].as_str(), Some("3ms"));
        assert_eq!(steps[1]["time"]["mean"].as_str(), Some("40ms"));
        assert_eq!(
            get_number(&table, "request.steps[\"verify password\"].time.cv"),
            Some(0.2)
        );
        assert_eq!(get_number(&table, "request.steps[1].time.cv"), Some(0.2));
        // The other step is untouched.
        assert_eq!(steps[0]["time"].as_table().unwrap().len(), 2);
    }

    #[test]
    fn unknown_names_and_indices_are_refused_with_the_choices() {
        let mut table: Table = toml::from_str(STEPS).unwrap();
        let why = set_path(
            &mut table,
            "request.steps[\"hash\"].time.mean",
            "1ms".into(),
        )
        .unwrap_err();
        assert!(why.contains("no element named \"hash\""), "{why}");
        assert!(why.contains("\"load user\", \"verify password\""), "{why}");
        let why = set_path(&mut table, "request.steps[2].time.mean", "1ms".into()).unwrap_err();
        assert!(why.contains("has 2 element(s)"), "{why}");
        let why = set_path(&mut table, "request[0].steps", "1ms".into()).unwrap_err();
        assert!(why.contains("`request` is not an array"), "{why}");
        // The file is left as it was.
        assert_eq!(table, toml::from_str::<Table>(STEPS).unwrap());
    }

    #[test]
    fn malformed_selectors_are_refused() {
        let mut table: Table = toml::from_str(STEPS).unwrap();
        for path in [
            "request.steps[0",
            "request.steps[x].time",
            "request.steps[0]time",
            "request.steps[0].",
            "[0].time",
        ] {
            assert!(
                set_path(&mut table, path, Value::Integer(1)).is_err(),
                "{path}"
            );
        }
    }
}
