//! The bad-input corpus: every mistake a user can make in a model file (or a
//! `--set` override of one) is reported by the real binary with the file, the
//! field, the line where TOML gives one and a hint, with exit code 2 and no panic.
//!
//! Each bad model is a small file in `tests/fixtures/bad/`, derived from the
//! valid `tests/fixtures/minimal.toml` and named after its mistake.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

const BAD_DIR: &str = "tests/fixtures/bad";
const AUTH: &str = "models/auth-service.toml";

/// One bad model file and what its error must say.
struct Case {
    /// File name in `tests/fixtures/bad/`, without `.toml`.
    name: &'static str,
    /// The dotted field the error names; `None` for TOML syntax errors.
    field: Option<&'static str>,
    /// Text on the line the error must point at (its first occurrence in the
    /// file); `None` where TOML gives no line (a field that is not written).
    at: Option<&'static str>,
    /// Further text the message must contain (a suggestion, the offending value).
    says: &'static [&'static str],
}

const fn case(
    name: &'static str,
    field: Option<&'static str>,
    at: Option<&'static str>,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        field,
        at,
        says,
    }
}

const CASES: &[Case] = &[
    // unknown keys, with "did you mean"
    case(
        "unknown-key-max-sise",
        Some("pool.max_sise"),
        Some("max_sise = 5"),
        &["unknown key `max_sise`", "did you mean `max_size`?"],
    ),
    case(
        "unknown-key-in-inline-table",
        Some("database.contention.crosstlak"),
        Some("crosstlak"),
        &["did you mean `crosstalk`?"],
    ),
    case(
        "unknown-key-in-step-time",
        Some("request.steps[0].time.maen"),
        Some("maen"),
        &["did you mean `mean`?"],
    ),
    case(
        "unknown-section-simulaton",
        Some("simulaton"),
        Some("[simulaton]"),
        &["did you mean `simulation`?"],
    ),
    // durations
    case(
        "duration-no-unit",
        Some("pool.acquire_timeout"),
        Some("acquire_timeout"),
        &["`250` has no unit", "\"250ms\""],
    ),
    case(
        "duration-unknown-unit",
        Some("simulation.horizon"),
        Some("horizon"),
        &["unknown unit `parsecs`"],
    ),
    case(
        "duration-space-before-unit",
        Some("simulation.horizon"),
        Some("horizon"),
        &["\"2m\""],
    ),
    case(
        "duration-negative",
        Some("simulation.warmup"),
        Some("warmup"),
        &["`-1s` is negative"],
    ),
    case(
        "duration-bare-number",
        Some("pool.acquire_timeout"),
        Some("acquire_timeout"),
        &["expected a quoted string", "acquire_timeout = \"30s\""],
    ),
    // numbers out of range
    case(
        "rate-negative",
        Some("traffic.rate"),
        Some("rate = -50"),
        &["positive", "-50"],
    ),
    case(
        "rate-zero",
        Some("traffic.rate"),
        Some("rate = 0"),
        &["positive"],
    ),
    case(
        "growth-negative",
        Some("traffic.growth"),
        Some("growth"),
        &["positive multiplier"],
    ),
    case(
        "instances-negative",
        Some("fleet.instances"),
        Some("instances = -1"),
        &["whole number, 0 or more", "`-1`"],
    ),
    case(
        "pool-max-size-zero",
        Some("pool.max_size"),
        Some("max_size = 0"),
        &["max_size = 1 or more"],
    ),
    case(
        "wrong-type-max-size",
        Some("pool.max_size"),
        Some("max_size = \"ten\""),
        &["found string \"ten\"", "without quotes"],
    ),
    // cross-field rules
    case(
        "min-idle-above-max-size",
        Some("pool.min_idle"),
        Some("min_idle = 8"),
        &[
            "min_idle (8) is larger than max_size (5)",
            "min_idle <= max_size",
        ],
    ),
    case(
        "warmup-not-before-horizon",
        Some("simulation.warmup"),
        Some("warmup"),
        &["must end before the horizon"],
    ),
    case(
        "database-no-free-slots",
        Some("database.max_connections"),
        Some("max_connections = 10"),
        &["leaves no slot"],
    ),
    case(
        "contention-serial-one",
        Some("database.contention.serial"),
        Some("contention"),
        &["[0, 1)"],
    ),
    case(
        "max-lifetime-below-30s",
        Some("pool.max_lifetime"),
        Some("max_lifetime"),
        &["minimum of 30s"],
    ),
    case(
        "retries-cap-below-base",
        Some("client.retries.cap"),
        Some("retries"),
        &["cap >= base"],
    ),
    case(
        "client-timeout-zero",
        Some("client.timeout"),
        Some("timeout = \"0s\""),
        &["omit `timeout`"],
    ),
    case(
        "clock-start-bad",
        Some("simulation.clock_start"),
        Some("clock_start"),
        &["\"9am\"", "HH:MM"],
    ),
    // distributions
    case(
        "lognormal-p99-below-median",
        Some("request.steps[0].time.p99"),
        Some("time ="),
        &[
            "step \"query\"",
            "p99 (15ms) must be above its median (20ms)",
        ],
    ),
    case(
        "lognormal-missing-p99",
        Some("request.steps[0].time.p99"),
        Some("time ="),
        &["also needs `p99`"],
    ),
    case(
        "lognormal-mixed-parameters",
        Some("request.steps[0].time.cv"),
        Some("time ="),
        &["not a mix"],
    ),
    case(
        "connect-time-lognormal-p99-below-median",
        Some("pool.connect_time.p99"),
        Some("connect_time"),
        &["p99 (8ms) must be above its median (30ms)"],
    ),
    case(
        "unknown-distribution-lognormel",
        Some("request.steps[0].time.dist"),
        Some("time ="),
        &[
            "unknown distribution \"lognormel\"",
            "did you mean \"lognormal\"?",
        ],
    ),
    case(
        "shape-on-exponential",
        Some("request.steps[0].time.shape"),
        Some("time ="),
        &[
            "does not apply to an exponential distribution",
            "remove `shape`",
        ],
    ),
    case(
        "gamma-negative-cv",
        Some("request.steps[0].time.cv"),
        Some("time ="),
        &["-0.5", "cv = 0.5"],
    ),
    case(
        "weibull-missing-shape",
        Some("request.steps[0].time.shape"),
        Some("time ="),
        &["needs `shape`"],
    ),
    case(
        "uniform-max-below-min",
        Some("request.steps[0].time.max"),
        Some("time ="),
        &["max (1ms) is below min (3ms)", "swap"],
    ),
    case(
        "mixture-component-without-weight",
        Some("request.steps[0].time.components[1].weight"),
        Some("time ="),
        &["positive `weight`"],
    ),
    case(
        "distribution-missing-dist",
        Some("request.steps[0].time.dist"),
        Some("time ="),
        &["`dist` is missing", "dist = \"exponential\""],
    ),
    case(
        "empirical-missing-csv",
        Some("request.steps[0].time.file"),
        Some("time ="),
        &["no-such-times.csv", "relative to the model file"],
    ),
    // enumerations, with a suggestion where one is close
    case(
        "balancer-round-robin",
        Some("fleet.balancer"),
        Some("balancer"),
        &["\"round-robin\"", "did you mean \"round_robin\"?"],
    ),
    case(
        "jitter-unknown",
        Some("client.retries.jitter"),
        Some("retries"),
        &["\"exponential\"", "none, full, equal, decorrelated"],
    ),
    case(
        "retry-on-unknown",
        Some("client.retry_on[1]"),
        Some("retry_on"),
        &["\"timeout\"", "acquire_timeout, client_timeout"],
    ),
    case(
        "step-kind-unknown",
        Some("request.steps[0].kind"),
        Some("kind ="),
        &["\"database\"", "db, app"],
    ),
    case(
        "connection-scope-unknown",
        Some("request.connection_scope"),
        Some("connection_scope"),
        &["\"transaction\"", "request, step"],
    ),
    // structure: missing or empty parts
    case(
        "missing-database-cores",
        Some("database.cores"),
        Some("[database]"),
        &["`cores` is missing", "cores = 8"],
    ),
    case(
        "missing-step-time",
        Some("request.steps[0].time"),
        Some("[[request.steps]]"),
        &["`time` is missing", "time = {"],
    ),
    case(
        "missing-name",
        Some("name"),
        None,
        &["`name` is missing", "name = \""],
    ),
    case(
        "missing-fleet-section",
        Some("fleet"),
        None,
        &["`fleet` is missing", "[fleet] section"],
    ),
    case(
        "no-db-step",
        Some("request.steps"),
        Some("[[request.steps]]"),
        &["no step has kind = \"db\""],
    ),
    case(
        "empty-steps",
        Some("request.steps"),
        Some("steps = []"),
        &["at least one step"],
    ),
    // TOML syntax
    // timelines: events, alerts, autoscaling, traces
    case(
        "event-kind-unknown",
        Some("events[0].kind"),
        Some("kind = \"db_slowdwn\""),
        &[
            "\"db_slowdwn\" is not an event kind",
            "did you mean \"db_slowdown\"?",
        ],
    ),
    case(
        "event-instance-out-of-range",
        Some("events[0].instance"),
        Some("instance = 5"),
        &["instance 5 does not exist"],
    ),
    case(
        "event-missing-duration",
        Some("events[0].duration"),
        None,
        &["a traffic event needs `duration`"],
    ),
    case(
        "event-set-invalid-value",
        Some("events[0].set"),
        Some("set = {"),
        &["makes the model invalid", "max_size"],
    ),
    case(
        "alert-metric-unknown",
        Some("alerts[0].metric"),
        Some("metric = \"pool.pendng\""),
        &["did you mean \"pool.pending\"?"],
    ),
    case(
        "autoscale-min-above-max",
        Some("autoscale.min_instances"),
        Some("min_instances = 8"),
        &["min_instances (8) <= max_instances (4)"],
    ),
    case(
        "trace-missing-file",
        Some("traffic.trace"),
        Some("trace = "),
        &["cannot read the trace", "nowhere.csv"],
    ),
    case(
        "toml-unclosed-string",
        None,
        Some("name = \"minimal"),
        &["TOML syntax error", "close the string"],
    ),
    case(
        "toml-missing-bracket",
        None,
        Some("[pool"),
        &["TOML syntax error", "closing bracket"],
    ),
    // pool kinds
    case(
        "pool-kind-unknown",
        Some("pool.kind"),
        Some("kind = \"hikari\""),
        &["did you mean \"hikaricp\"?", "hikaricp, sqlalchemy, go_sql, node_pg, pgx"],
    ),
    case(
        "pool-field-of-another-kind",
        Some("pool.max_size"),
        Some("max_size = 5"),
        &[
            "`max_size` is HikariCP's name; for kind = \"sqlalchemy\" write pool_size (+ max_overflow)",
        ],
    ),
    case(
        "pool-go-sql-with-pgx-field",
        Some("pool.max_conns"),
        Some("max_conns = 10"),
        &["`max_conns` is pgx's name; for kind = \"go_sql\" write max_open"],
    ),
    case(
        "pool-sqlalchemy-size-zero",
        Some("pool.pool_size"),
        Some("pool_size = 0"),
        &["0 connections", "SQLAlchemy's default is 5"],
    ),
    case(
        "pool-sqlalchemy-overflow-negative",
        Some("pool.max_overflow"),
        Some("max_overflow = -3"),
        &["max_overflow -3 is negative", "-1 for unlimited"],
    ),
    case(
        "pool-pgx-without-size-or-cpus",
        Some("pool.max_conns"),
        None,
        &["max(4, the instance's CPU count)", "[fleet] cpus"],
    ),
    case(
        "pool-node-min-above-max",
        Some("pool.min"),
        Some("min = 6"),
        &["min (6) is larger than max (4)"],
    ),
    case(
        "toml-duplicate-key",
        None,
        Some("max_size = 6"),
        &["duplicate key `max_size`"],
    ),
    case(
        "toml-missing-value",
        None,
        Some("rate ="),
        &["TOML syntax error", "write a value after `=`"],
    ),
];

fn poolsim() -> Command {
    let mut command = Command::cargo_bin("poolsim").expect("the poolsim binary is built");
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_BACKTRACE");
    command
}

/// The 1-based line of the first line of `file` that contains `needle`.
fn line_of(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("{file} has no line containing {needle:?}"))
        + 1
}

/// Runs poolsim with `args` and checks the contract of a bad-input error;
/// returns what is wrong with the output, if anything.
fn check_error(
    args: &[&str],
    file: &str,
    field: Option<&str>,
    line: Option<usize>,
    says: &[&str],
) -> Result<(), String> {
    let output = poolsim()
        .args(args)
        .output()
        .map_err(|e| format!("cannot run poolsim: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut problems = Vec::new();
    if output.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, not 2", output.status.code()));
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout is not empty: {stdout:?}"));
    }
    for forbidden in ["panicked", "RUST_BACKTRACE"] {
        if stderr.contains(forbidden) {
            problems.push(format!("stderr contains {forbidden:?}"));
        }
    }
    match line {
        Some(line) => {
            let located = format!("{file}:{line}:");
            if !stderr.contains(&located) {
                problems.push(format!("stderr lacks {located:?}"));
            }
        }
        None => {
            let named = format!("{file}: ");
            if !stderr.contains(&named) {
                problems.push(format!("stderr lacks {named:?}"));
            }
        }
    }
    if let Some(field) = field {
        let named = format!("field `{field}`");
        if !stderr.contains(&named) {
            problems.push(format!("stderr lacks {named:?}"));
        }
    }
    if !stderr.contains("\n  hint: ") {
        problems.push("stderr has no `  hint:` line".into());
    }
    for text in says {
        if !stderr.contains(text) {
            problems.push(format!("stderr lacks {text:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "poolsim {}:\n    {}\n  stderr was:\n{stderr}",
            args.join(" "),
            problems.join("\n    ")
        ))
    }
}

fn fixture(name: &str) -> String {
    format!("{BAD_DIR}/{name}.toml")
}

#[test]
fn minimal_model_runs() {
    poolsim()
        .args(["run", "tests/fixtures/minimal.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("minimal"))
        .stderr(predicate::str::is_empty());
}

#[test]
fn minimal_model_checks() {
    poolsim()
        .args(["check", "tests/fixtures/minimal.toml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("tests/fixtures/minimal.toml: ok"));
}

#[test]
fn every_bad_model_is_reported_with_file_field_line_and_hint() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|c| {
            let file = fixture(c.name);
            let line = c.at.map(|needle| line_of(&file, needle));
            check_error(&["run", &file], &file, c.field, line, c.says).err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs are badly reported:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_a_case_and_every_case_differs_from_minimal() {
    let minimal = std::fs::read_to_string("tests/fixtures/minimal.toml").unwrap();
    let mut on_disk: Vec<String> = std::fs::read_dir(BAD_DIR)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".toml").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut named: Vec<String> = CASES.iter().map(|c| c.name.to_string()).collect();
    named.sort();
    let before = named.len();
    named.dedup();
    assert_eq!(before, named.len(), "a case is listed twice");
    assert_eq!(on_disk, named, "fixtures in {BAD_DIR} and CASES differ");
    for name in &named {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        assert_ne!(text, minimal, "{name} is the minimal model unchanged");
    }
}

#[test]
fn check_reports_the_same_errors() {
    for (name, field, needle) in [
        ("unknown-key-max-sise", "pool.max_sise", "max_sise"),
        ("min-idle-above-max-size", "pool.min_idle", "min_idle"),
        (
            "lognormal-p99-below-median",
            "request.steps[0].time.p99",
            "time =",
        ),
    ] {
        let file = fixture(name);
        let line = line_of(&file, needle);
        check_error(&["check", &file], &file, Some(field), Some(line), &[])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn missing_file_names_the_path() {
    let file = "tests/fixtures/bad/no-such-model.toml";
    for command in ["run", "check"] {
        check_error(
            &[command, file],
            file,
            None,
            None,
            &["cannot read", "check the path"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_directory_is_not_a_model() {
    let dir = "tests/fixtures/bad";
    check_error(&["run", dir], dir, None, None, &["cannot read"]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bad_overrides_name_the_set_and_the_field() {
    for (set, field, says) in [
        (
            "pool.max_sise=3",
            "pool.max_sise",
            &["did you mean `max_size`?"][..],
        ),
        ("poool.max_size=3", "poool", &["did you mean `pool`?"][..]),
        (
            "pool.max_size=-4",
            "pool.max_size",
            &["whole number, 0 or more", "`-4`"][..],
        ),
        (
            "pool.max_size=ten",
            "pool.max_size",
            &["found string \"ten\""][..],
        ),
        (
            "pool.min_idle=50",
            "pool.min_idle",
            &["min_idle (50) is larger than max_size (10)"][..],
        ),
        (
            "simulation.warmup=5parsecs",
            "simulation.warmup",
            &["unknown unit `parsecs`"][..],
        ),
        (
            "pool.max_size.x=3",
            "pool.max_size.x",
            &["`pool.max_size` is not a table"][..],
        ),
    ] {
        let from = format!("(from --set {set})");
        let mut expected = vec![from.as_str()];
        expected.extend_from_slice(says);
        // The file's line holds the value the override replaced, so none is given.
        check_error(
            &["run", AUTH, "--set", set],
            AUTH,
            Some(field),
            None,
            &expected,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `--set` without `=` is refused by the argument parser (clap) before any file
/// is read, so its message names the argument and the fix rather than a file.
#[test]
fn set_without_equals_is_a_usage_error() {
    poolsim()
        .args(["run", AUTH, "--set", "pool.max_size"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("--set")
                .and(predicate::str::contains(
                    "`pool.max_size` is not path=value",
                ))
                .and(predicate::str::contains("--set pool.max_size=20"))
                .and(predicate::str::contains("panicked").not())
                .and(predicate::str::contains("RUST_BACKTRACE").not()),
        );
}

#[test]
fn an_unknown_step_name_lists_the_steps() {
    let set = "request.steps[\"hash password\"].time.mean=50ms";
    let from = format!("(from --set {set})");
    check_error(
        &["run", AUTH, "--set", set],
        AUTH,
        Some("request.steps[\"hash password\"].time.mean"),
        None,
        &[
            "no element named \"hash password\"",
            "\"load user\", \"verify password\", \"write session\"",
            &from,
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_error(
        &["run", AUTH, "--set", "request.steps[3].time.mean=50ms"],
        AUTH,
        Some("request.steps[3].time.mean"),
        None,
        &["`request.steps` has 3 element(s), numbered from 0"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn each_command_says_which_kind_of_file_it_got() {
    let experiment = "experiments/quarterly-review.toml";
    check_error(
        &["run", experiment],
        experiment,
        None,
        None,
        &["this is an experiment file", "poolsim sweep"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_error(
        &["sweep", AUTH],
        AUTH,
        None,
        None,
        &["this is a model file", "poolsim run"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_error_rate_is_a_fraction_or_a_percentage() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal.toml");
    let write = |name: &str, error_rate: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "model = {:?}\n[slo]\nlatency_p99 = \"300ms\"\nerror_rate = {error_rate}\n",
                model.to_str().unwrap()
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let percent = write("percent.toml", "\"0.1%\"");
    poolsim().args(["check", &percent]).assert().success();
    let bad = write("bad.toml", "\"0.1 percent\"");
    check_error(
        &["check", &bad],
        &bad,
        Some("slo.error_rate"),
        Some(4),
        &[
            "\"0.1 percent\" is not a fraction or a percentage",
            "\"0.1%\"",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}
