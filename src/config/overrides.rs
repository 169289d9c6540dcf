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

/// Sets `path` (e.g. `pool.max_size`) in `table`, creating intermediate tables.
/// Fails if the path runs through a value that is not a table.
pub fn set_path(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "`{path}` is not a dotted path like `pool.max_size`"
        ));
    }
    let (last, parents) = parts
        .split_last()
        .expect("split on '.' yields at least one part");
    let mut current = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(inner) => inner,
            _ => {
                return Err(format!(
                    "`{}` is not a table, so `{path}` cannot be set",
                    parts[..=depth].join(".")
                ))
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Reads the number at `path`, if there is one.
pub fn get_number(table: &Table, path: &str) -> Option<f64> {
    let mut current = table;
    let parts: Vec<&str> = path.split('.').collect();
    let (last, parents) = parts.split_last()?;
    for part in parents {
        current = current.get(*part)?.as_table()?;
    }
    match current.get(*last)? {
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
}
