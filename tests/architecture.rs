//! The architecture rules, checked on the source itself: no import cycle between
//! modules, no source file over 800 lines, and every module opening with a `//!`
//! paragraph that says why it exists.
//!
//! A module depends on another when it names it through `crate::` or `super::`
//! (in a `use` or inline). A parent module using the children it declares is
//! composition, not a dependency, so it is not counted: `report/export/mod.rs`
//! may list its exporters while each exporter implements the trait it defines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` -> ["a", "b"], `src/a/mod.rs` -> ["a"], `src/lib.rs` -> [].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code outside `#[cfg(test)]` items and comments.
fn production_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `use a::{b, c::{d, e}};` into "a::b", "a::c::d", "a::c::e".
fn expand_use(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = format!("{prefix}{}", &tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&inner[start..i], &head, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_use(&inner[start..], &head, out);
    } else if !tree.is_empty() {
        out.push(format!("{prefix}{tree}"));
    }
}

/// Every `crate::...` or `super::...` path the code names.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let s = statement.trim();
        let s = s.strip_prefix("pub ").unwrap_or(s);
        if let Some(tree) = s.strip_prefix("use ") {
            expand_use(tree, "", &mut paths);
        }
    }
    let bytes = code.as_bytes();
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword) {
            let begin = from + at;
            let mut end = begin;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            let before = if begin == 0 { b' ' } else { bytes[begin - 1] };
            if !(before.is_ascii_alphanumeric() || before == b'_' || before == b':') {
                paths.push(code[begin..end].to_string());
            }
            from = end.max(begin + 1);
        }
    }
    paths
}

/// The module file a path lands in, as the longest module prefix that exists.
fn resolve(path: &str, from: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut base: Vec<String> = match parts.first() {
        Some(&"crate") => {
            parts.remove(0);
            Vec::new()
        }
        Some(&"super") => {
            let mut base = from.to_vec();
            while parts.first() == Some(&"super") {
                parts.remove(0);
                base.pop();
            }
            base
        }
        _ => return None,
    };
    let mut best = None;
    if modules.contains(&base) {
        best = Some(base.clone());
    }
    for part in parts {
        base.push(part.to_string());
        if modules.contains(&base) {
            best = Some(base.clone());
        }
    }
    best
}

/// Module (as its path segments) -> the modules it depends on.
type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

fn dependency_graph() -> (Graph, Vec<(PathBuf, String)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    let mut texts = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let module = module_of(&src, file);
        let mut deps = BTreeSet::new();
        for path in named_paths(&production_code(&text)) {
            if let Some(target) = resolve(&path, &module, &modules) {
                let composition = target.len() > module.len() && target.starts_with(&module);
                if target != module && !target.is_empty() && !composition {
                    deps.insert(target);
                }
            }
        }
        graph.insert(module, deps);
        texts.push((file.clone(), text));
    }
    (graph, texts)
}

fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        graph: &Graph,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
                    cycle.push(next.join("::"));
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_import_cycle_between_modules() {
    let (graph, _) = dependency_graph();
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let a = vec!["a".to_string()];
    let b = vec!["b".to_string()];
    let mut graph = BTreeMap::new();
    graph.insert(a.clone(), BTreeSet::from([b.clone()]));
    graph.insert(b.clone(), BTreeSet::new());
    assert!(find_cycle(&graph).is_none());
    graph.get_mut(&b).unwrap().insert(a.clone());
    assert_eq!(find_cycle(&graph).unwrap(), vec!["a", "b", "a"]);
}

#[test]
fn paths_resolve_to_module_files() {
    let modules: BTreeSet<Vec<String>> = [
        vec![],
        vec!["config".to_string()],
        vec!["config".to_string(), "model".to_string()],
    ]
    .into_iter()
    .collect();
    let from = vec!["config".to_string(), "spec".to_string()];
    assert_eq!(
        resolve("super::model::SystemSpec", &from, &modules),
        Some(vec!["config".to_string(), "model".to_string()])
    );
    assert_eq!(
        resolve("crate::config::suggest", &from, &modules),
        Some(vec!["config".to_string()])
    );
    let mut uses = Vec::new();
    expand_use("super::{a::X, b::{c, d}}", "", &mut uses);
    assert_eq!(uses, vec!["super::a::X", "super::b::c", "super::b::d"]);
}

#[test]
fn no_source_file_over_800_lines_and_every_module_says_why_it_exists() {
    let (_, texts) = dependency_graph();
    for (file, text) in texts {
        let lines = text.lines().count();
        assert!(
            lines <= 800,
            "{} has {lines} lines (at most 800)",
            file.display()
        );
        assert!(
            text.trim_start().starts_with("//!"),
            "{} does not open with a //! paragraph",
            file.display()
        );
    }
}

/// The length in lines of each `fn` item in `text` whose body closes at its own
/// indentation (rustfmt's layout), as (name, lines).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut lengths = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = signature else { continue };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[start + 1..]
            .iter()
            .position(|l| l.trim_end() == close)
        {
            lengths.push((name, end + 2));
        }
    }
    lengths
}

#[test]
fn no_function_over_100_lines() {
    let (_, texts) = dependency_graph();
    for (file, text) in texts {
        for (name, lines) in function_lengths(&text) {
            assert!(
                lines <= 100,
                "{}: fn {name} has {lines} lines (at most 100)",
                file.display()
            );
        }
    }
    // The measure itself: a 3-line function is 3 lines.
    assert_eq!(
        function_lengths("fn a() {\n    1\n}\n"),
        vec![("a".to_string(), 3)]
    );
}
