//! The reference in docs/ stays true: every complete example parses and checks with
//! the library, and every field the shipped models use is documented.
//!
//! A complete example is a ```toml block right after a line `<!-- example: model -->`
//! or `<!-- example: experiment -->`. Other toml blocks are fragments and are not run.

use std::path::{Path, PathBuf};

use poolsim::config::experiment::Experiment;
use poolsim::config::model::ModelSource;

const MARKER: &str = "<!-- example: ";

/// One marked example: the file it is in, the line of its marker, its kind and its text.
struct Example {
    file: PathBuf,
    line: usize,
    kind: String,
    text: String,
}

fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("docs")
        .expect("docs/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();
    files
}

/// The marked examples of `file`; panics on a marker without a toml block right after it.
fn examples_in(file: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(file).expect("readable doc");
    let lines: Vec<&str> = text.lines().collect();
    let mut examples = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(MARKER) else {
            continue;
        };
        let kind = rest.trim_end_matches("-->").trim().to_string();
        assert_eq!(
            lines.get(i + 1).map(|l| l.trim()),
            Some("```toml"),
            "{}:{}: an example marker must be followed by a ```toml line",
            file.display(),
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        examples.push(Example {
            file: file.to_path_buf(),
            line: i + 1,
            kind,
            text: body.join("\n") + "\n",
        });
    }
    examples
}

fn all_examples() -> Vec<Example> {
    doc_files().iter().flat_map(|f| examples_in(f)).collect()
}

fn check_model(example: &Example) {
    let source = ModelSource::from_text(&example.file, example.text.clone())
        .unwrap_or_else(|e| panic!("{}:{}: {e}", example.file.display(), example.line));
    source
        .build(&[])
        .unwrap_or_else(|e| panic!("{}:{}: {e}", example.file.display(), example.line));
}

/// Experiments name their model relative to themselves, so each runs from a temporary
/// `experiments/` folder beside a copy of the repository's `models/`.
fn check_experiment(example: &Example) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    for entry in std::fs::read_dir("models").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            std::fs::copy(
                &path,
                dir.path().join("models").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("experiments")).unwrap();
    let path = dir.path().join("experiments/example.toml");
    std::fs::write(&path, &example.text).unwrap();
    Experiment::load(&path)
        .unwrap_or_else(|e| panic!("{}:{}: {e}", example.file.display(), example.line));
}

#[test]
fn every_marked_example_parses_and_checks() {
    let examples = all_examples();
    for example in &examples {
        match example.kind.as_str() {
            "model" => check_model(example),
            "experiment" => check_experiment(example),
            other => panic!(
                "{}:{}: unknown example kind \"{other}\" (use model or experiment)",
                example.file.display(),
                example.line
            ),
        }
    }
    let count = |kind: &str| examples.iter().filter(|e| e.kind == kind).count();
    assert!(count("model") >= 1, "docs/ has no marked model example");
    assert!(
        count("experiment") >= 2,
        "docs/ has fewer than two marked experiment examples"
    );
}

#[test]
fn a_broken_example_is_caught() {
    let broken = Example {
        file: PathBuf::from("docs/model.md"),
        line: 1,
        kind: "model".into(),
        text: "name = \"x\"\n[traffic]\nrate = 10\nsurge = 2\n".into(),
    };
    assert!(std::panic::catch_unwind(|| check_model(&broken)).is_err());
}

/// Key names of a TOML table, recursively, skipping the free-form `set` tables.
fn keys(table: &toml::Table, out: &mut Vec<String>) {
    for (key, value) in table {
        out.push(key.clone());
        match value {
            toml::Value::Table(inner) if key != "set" => keys(inner, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        keys(inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_field_of_the_shipped_files_is_documented() {
    let model_doc = std::fs::read_to_string("docs/model.md").unwrap();
    let experiment_doc = std::fs::read_to_string("docs/experiment.md").unwrap();
    // An experiment's [simulation] and variants hold model fields, so both pages count.
    for (folder, doc, reference) in [
        ("models", "docs/model.md", model_doc.clone()),
        (
            "experiments",
            "docs/experiment.md",
            experiment_doc + &model_doc,
        ),
    ] {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let table: toml::Table =
                toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let mut found = Vec::new();
            keys(&table, &mut found);
            for key in found {
                // A sweep axis or a variant's override is a path, documented as such.
                if key.contains('.') {
                    continue;
                }
                let forms = [
                    format!("`{key}"),
                    format!(".{key}`"),
                    format!("`[{key}]`"),
                    format!("`[[{key}]]`"),
                ];
                assert!(
                    forms.iter().any(|form| reference.contains(form.as_str())),
                    "{}: field `{key}` is not described in {doc}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn no_doc_points_outside_the_repository() {
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("../shared") && !text.contains("/work/"),
            "{} links outside the repository",
            file.display()
        );
    }
}

/// README, `--help` and the shipped files point to docs/, which a clone has, never to
/// design notes outside the repository.
#[test]
fn readme_help_and_shipped_files_point_to_docs() {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("src/cli.rs")];
    for folder in ["models", "experiments"] {
        for entry in std::fs::read_dir(folder).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for outside in ["MODEL.md", "DOMAIN.md", "ARCHITECTURE.md", "../shared"] {
            assert!(
                !text.contains(outside),
                "{} mentions {outside}; point to docs/ instead",
                file.display()
            );
        }
    }
    let readme = std::fs::read_to_string("README.md").unwrap();
    let help = std::fs::read_to_string("src/cli.rs").unwrap();
    for doc in doc_files() {
        let name = doc.to_string_lossy().replace('\\', "/");
        assert!(readme.contains(&name), "README does not link {name}");
        assert!(help.contains(&name), "--help does not name {name}");
    }
}
