//! The input-error type: what went wrong, in which file and field, and how to fix it.
//!
//! Users write model files by hand, so an input error is a value that carries
//! enough context to be fixed without reading source code. `main.rs` prints it
//! and exits with code 2; nothing below it ever panics on bad input.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a file the user wrote (or a `--set` override of it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InputError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Dotted path of the offending field, e.g. `pool.min_idle`.
    pub field: Option<String>,
    /// 1-based line in `file`, where it is known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl InputError {
    pub fn new(file: &Path, message: impl Into<String>) -> InputError {
        InputError {
            file: file.to_path_buf(),
            field: None,
            line: None,
            message: message.into(),
            hint: None,
        }
    }
    /// An error at `field` of the file at `path` whose text is `text`, with a fix.
    pub fn at_field(
        path: &Path,
        text: &str,
        field: &str,
        message: String,
        hint: &str,
    ) -> InputError {
        InputError::new(path, message)
            .field(field)
            .line(locate_field(text, field))
            .hint(hint)
    }

    pub fn field(mut self, field: impl Into<String>) -> InputError {
        self.field = Some(field.into());
        self
    }
    pub fn line(mut self, line: Option<usize>) -> InputError {
        self.line = line;
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> InputError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// `steps[1]` -> ("steps", Some(1)); `pool` -> ("pool", None); `steps[x]` or a path that
/// ends at its `[` (a misspelt field such as `reques[`, found by cargo fuzz) -> no index.
/// `[` is one byte, so the slice after it is always in bounds.
fn split_index(part: &str) -> (&str, Option<usize>) {
    match part.find('[') {
        Some(open) => (
            &part[..open],
            part[open + 1..].trim_end_matches(']').parse().ok(),
        ),
        None => (part, None),
    }
}

/// Finds the 1-based line where a dotted field path is written in TOML `source`,
/// e.g. `pool.min_idle` in a `[pool]` table or as `pool = { min_idle = .. }`.
/// Array indices (`request.steps[1].time`) match the n-th `[[request.steps]]` header.
pub fn locate_field(source: &str, field: &str) -> Option<usize> {
    let parts: Vec<&str> = field.split('.').collect();
    let (key, tables) = parts.split_last()?;
    let mut wanted_table = String::new();
    let mut wanted_index = 0usize;
    for (i, table) in tables.iter().enumerate() {
        let (name, index) = split_index(table);
        let index = index.unwrap_or(0);
        if i > 0 {
            wanted_table.push('.');
        }
        wanted_table.push_str(name);
        wanted_index = index;
    }
    let key = key.split('[').next().unwrap_or(key);
    let mut seen_of_wanted = 0usize;
    let mut in_wanted = wanted_table.is_empty();
    for (number, raw) in source.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix("[[") {
            let table = header.split("]]").next().unwrap_or("").trim();
            if table == wanted_table {
                in_wanted = seen_of_wanted == wanted_index;
                seen_of_wanted += 1;
            } else {
                in_wanted = false;
            }
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let table = header.split(']').next().unwrap_or("").trim();
            in_wanted = table == wanted_table;
            continue;
        }
        let line_key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if in_wanted && line_key == key {
            return Some(number + 1);
        }
    }
    // Inline tables: `retries = { max = 2 }` holds `client.retries.max` on one line.
    if let Some(parent) = tables.last() {
        let parent = parent.split('[').next().unwrap_or(parent);
        for (number, raw) in source.lines().enumerate() {
            let line = raw.trim();
            let line_key = line.split('=').next().unwrap_or("").trim();
            if line_key == parent && line.contains(key) {
                return Some(number + 1);
            }
        }
    }
    locate_table_header(source, field)
}

/// Finds the line of the header that opens table `field`: `[database]` for
/// `database`, the second `[[request.steps]]` for `request.steps[1]`.
fn locate_table_header(source: &str, field: &str) -> Option<usize> {
    let mut names = Vec::new();
    let mut wanted_index = 0usize;
    for part in field.split('.') {
        let (name, index) = split_index(part);
        names.push(name);
        // An array element whose index does not parse is nowhere in the file.
        wanted_index = if part.contains('[') { index? } else { 0 };
    }
    let wanted = names.join(".");
    let mut seen = 0usize;
    for (number, raw) in source.lines().enumerate() {
        let line = raw.trim();
        let (header, is_array) = if let Some(h) = line.strip_prefix("[[") {
            (h.split("]]").next().unwrap_or(""), true)
        } else if let Some(h) = line.strip_prefix('[') {
            (h.split(']').next().unwrap_or(""), false)
        } else {
            continue;
        };
        if header.trim() != wanted {
            continue;
        }
        if !is_array || seen == wanted_index {
            return Some(number + 1);
        }
        seen += 1;
    }
    None
}

/// Like [`locate_field`], but falls back to the nearest enclosing table or key
/// that is written in `source`: where a missing field belongs.
pub fn locate_nearest(source: &str, field: &str) -> Option<usize> {
    let mut current = field;
    loop {
        if let Some(line) = locate_field(source, current) {
            return Some(line);
        }
        current = &current[..current.rfind('.')?];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_ending_at_its_bracket_is_not_found_and_does_not_panic() {
        let source = "[request]\nx = 1\n";
        assert_eq!(locate_field(source, "reques[.x"), None);
        assert_eq!(locate_nearest(source, "reques[.x"), None);
        assert_eq!(locate_field(source, "request[.x"), Some(2));
    }

    #[test]
    fn locates_keys_in_tables_and_arrays() {
        let source = "name = \"x\"\n[pool]\nmax_size = 10\nmin_idle = 20\n[[request.steps]]\ntime = 1\n[[request.steps]]\ntime = 2\n[client]\nretries = { max = 2 }\n";
        assert_eq!(locate_field(source, "name"), Some(1));
        assert_eq!(locate_field(source, "pool.min_idle"), Some(4));
        assert_eq!(locate_field(source, "request.steps[1].time"), Some(8));
        assert_eq!(locate_field(source, "client.retries.max"), Some(10));
        assert_eq!(locate_field(source, "pool.missing"), None);
        assert_eq!(locate_field(source, "pool"), Some(2));
        assert_eq!(locate_field(source, "request.steps"), Some(5));
        assert_eq!(locate_field(source, "request.steps[1]"), Some(7));
        assert_eq!(
            locate_nearest(source, "request.steps[1].time.dist"),
            Some(8)
        );
        assert_eq!(locate_nearest(source, "pool.missing"), Some(2));
        assert_eq!(locate_nearest(source, "missing"), None);
    }
}
