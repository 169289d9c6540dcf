//! The bad-input corpus of the topologies beyond one pool per database: PgBouncer
//! (`[proxy]`), several services sharing one database (`[[services]]`), and pool kinds
//! inside a service. Each bad model is a file in `tests/fixtures/bad-topologies/`, and
//! the real binary must report it as tests/bad_input.rs requires of every bad input:
//! exit code 2, nothing on stdout, the file and the line of the mistake, the field, and
//! a hint. In a `[[services]]` model the line is the one inside the service at fault,
//! not the first `[[services]]` header: every entry has its own `[services.pool]`, so a
//! line pointing at another entry's sends the reader to the wrong service.

use std::path::Path;

use assert_cmd::Command;

const DIR: &str = "tests/fixtures/bad-topologies";

/// One bad model file and what its error must say.
struct Case {
    /// File name in `DIR`, without `.toml`.
    name: &'static str,
    /// The dotted field the error names.
    field: &'static str,
    /// Text on the line the error must point at, and which occurrence of it (from 0).
    at: (&'static str, usize),
    /// Further text the message must contain (the fix, the offending value).
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "proxy-pool-above-max-connections",
        field: "proxy.default_pool_size",
        at: ("default_pool_size = 90", 0),
        says: &[
            "(default_pool_size 90 + reserve_pool_size 10) = 100 server connections",
            "max_connections 100 leaves 97",
            "lower default_pool_size",
        ],
    },
    Case {
        name: "proxy-pool-mode-unknown",
        field: "proxy.pool_mode",
        at: ("pool_mode = \"transacton\"", 0),
        says: &["did you mean \"transaction\"?"],
    },
    Case {
        name: "services-duplicate-name",
        field: "services[1].name",
        at: ("name = \"auth\"", 1),
        says: &["two services are named \"auth\"", "its own name"],
    },
    Case {
        name: "services-unknown-key-in-second-service",
        field: "services.billing.pool.max_sise",
        at: ("max_sise = 6", 0),
        says: &["service \"billing\"", "did you mean `max_size`?"],
    },
    Case {
        name: "services-proxy-pool-above-max-connections",
        field: "services.billing.proxy.default_pool_size",
        at: ("default_pool_size = 120", 0),
        says: &["120 server connections", "<= 97"],
    },
    Case {
        name: "services-proxies-together-above-max-connections",
        field: "services.billing.proxy.default_pool_size",
        at: ("default_pool_size = 60", 1),
        says: &[
            "auth: 1 instance(s) x (default_pool_size 60 + reserve_pool_size 0) = 60",
            "billing: 1 instance(s) x (default_pool_size 60 + reserve_pool_size 0) = 60",
            "together 120 server connections, but max_connections 100 leaves 97",
            "sum to <= 97 (\"billing\" fits 37 beside the 60",
        ],
    },
    Case {
        name: "services-pool-kind-unknown",
        field: "services.billing.pool.kind",
        at: ("kind = \"sqlalchmy\"", 0),
        says: &["did you mean \"sqlalchemy\"?"],
    },
    Case {
        name: "services-field-of-another-kind",
        field: "services.billing.pool.max_size",
        at: ("max_size = 7", 0),
        says: &["for kind = \"sqlalchemy\" write pool_size"],
    },
    Case {
        name: "services-interrupted-transaction",
        field: "services.billing.request.steps[2].transaction",
        at: ("transaction = \"pay\"", 1),
        says: &["must be consecutive"],
    },
];

/// The 1-based line of the `nth` line of `file` containing `needle`.
fn line_of(file: &str, (needle, nth): (&str, usize)) -> usize {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .nth(nth)
        .unwrap_or_else(|| panic!("{file} has no occurrence {nth} of {needle:?}"))
        .0
        + 1
}

/// What is wrong with `poolsim <command> FILE`'s report of `case`, if anything.
fn problems(command: &str, case: &Case) -> Vec<String> {
    let file = format!("{DIR}/{}.toml", case.name);
    let output = Command::cargo_bin("poolsim")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_BACKTRACE")
        .args([command, &file])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut wrong = Vec::new();
    if output.status.code() != Some(2) {
        wrong.push(format!("exit code {:?}, not 2", output.status.code()));
    }
    if !output.stdout.is_empty() {
        wrong.push("stdout is not empty".into());
    }
    let located = format!("{file}:{}: field `{}`", line_of(&file, case.at), case.field);
    let expected = std::iter::once(located.as_str())
        .chain(["\n  hint: "])
        .chain(case.says.iter().copied());
    for text in expected {
        if !stderr.contains(text) {
            wrong.push(format!("stderr lacks {text:?}"));
        }
    }
    if stderr.contains("panicked") {
        wrong.push("it panicked".into());
    }
    if wrong.is_empty() {
        return wrong;
    }
    vec![format!(
        "poolsim {command} {file}:\n    {}\n  stderr was:\n{stderr}",
        wrong.join("\n    ")
    )]
}

#[test]
fn each_bad_topology_names_the_file_line_field_and_fix() {
    let failures: Vec<String> = CASES
        .iter()
        .flat_map(|case| ["check", "run"].map(|command| (command, case)))
        .flat_map(|(command, case)| problems(command, case))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_has_a_case() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".toml")
                    .map(String::from)
            })
            .collect();
    on_disk.sort();
    let mut named: Vec<String> = CASES.iter().map(|c| c.name.to_string()).collect();
    named.sort();
    assert_eq!(on_disk, named, "fixtures in {DIR} and CASES differ");
}
