//! The model file of MODEL.md: serde structs that mirror it, and the checked spec.
//!
//! `ModelFile` mirrors the TOML exactly (every table denies unknown keys), and
//! `SystemSpec` is what the engine runs: durations in simulated time, samplers
//! built, defaults filled in from HikariCP and PostgreSQL, and every cross-field
//! rule (`min_idle <= max_size`, warmup before horizon, ...) already checked.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Table;

use super::distribution::{build_time_dist, DistSpec, TimeDist};
use super::duration::parse_duration;
use super::error::{locate_field, locate_nearest, InputError};
use super::overrides::set_path;
use super::suggest;
use super::timeline::{
    check_timeline, AlertSection, AutoscaleSection, EventSection, Timeline, TimelineSections,
};
use crate::sim::time::SimTime;

// ---------------------------------------------------------------- the file

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub traffic: TrafficSection,
    pub request: RequestSection,
    pub client: Option<ClientSection>,
    pub fleet: FleetSection,
    #[serde(default)]
    pub pool: PoolSection,
    pub database: DatabaseSection,
    pub events: Option<Vec<EventSection>>,
    pub alerts: Option<Vec<AlertSection>>,
    pub autoscale: Option<AutoscaleSection>,
    #[serde(default)]
    pub simulation: SimulationSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSection {
    pub rate: f64,
    #[serde(default = "one")]
    pub growth: f64,
    #[serde(default = "default_arrivals")]
    pub arrivals: String,
    pub profile: Option<Vec<ProfilePoint>>,
    pub trace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePoint {
    pub at: String,
    pub factor: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSection {
    #[serde(default = "default_scope")]
    pub connection_scope: String,
    pub steps: Vec<StepSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    pub name: String,
    pub kind: String,
    pub time: DistSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    pub timeout: Option<String>,
    pub retries: Option<RetriesSection>,
    pub retry_on: Option<Vec<String>>,
    #[serde(default)]
    pub cancel_on_timeout: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetriesSection {
    pub max: u32,
    #[serde(default = "default_retry_base")]
    pub base: String,
    #[serde(default = "default_retry_cap")]
    pub cap: String,
    #[serde(default = "default_jitter")]
    pub jitter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    pub instances: u32,
    #[serde(default = "default_balancer")]
    pub balancer: String,
    pub workers: Option<u32>,
    pub accept_queue: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    #[serde(default = "default_pool_max")]
    pub max_size: u32,
    pub min_idle: Option<u32>,
    #[serde(default = "default_acquire_timeout")]
    pub acquire_timeout: String,
    pub connect_time: Option<DistSpec>,
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: String,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    #[serde(default = "default_fairness")]
    pub fairness: String,
}

impl Default for PoolSection {
    fn default() -> Self {
        PoolSection {
            max_size: default_pool_max(),
            min_idle: None,
            acquire_timeout: default_acquire_timeout(),
            connect_time: None,
            max_lifetime: default_max_lifetime(),
            idle_timeout: default_idle_timeout(),
            fairness: default_fairness(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_reserved")]
    pub reserved_connections: u32,
    #[serde(default)]
    pub other_connections: u32,
    pub cores: u32,
    #[serde(default = "default_round_trip")]
    pub round_trip: String,
    #[serde(default)]
    pub contention: ContentionSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentionSection {
    #[serde(default)]
    pub serial: f64,
    #[serde(default)]
    pub crosstalk: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSection {
    #[serde(default = "default_horizon")]
    pub horizon: String,
    #[serde(default = "default_warmup")]
    pub warmup: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_sample_interval")]
    pub sample_interval: String,
    pub clock_start: Option<String>,
}

impl Default for SimulationSection {
    fn default() -> Self {
        SimulationSection {
            horizon: default_horizon(),
            warmup: default_warmup(),
            seed: default_seed(),
            sample_interval: default_sample_interval(),
            clock_start: None,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn default_arrivals() -> String {
    "poisson".into()
}
fn default_scope() -> String {
    "request".into()
}
fn default_retry_base() -> String {
    "100ms".into()
}
fn default_retry_cap() -> String {
    "2s".into()
}
fn default_jitter() -> String {
    "full".into()
}
fn default_balancer() -> String {
    "round_robin".into()
}
/// HikariCP maximumPoolSize.
fn default_pool_max() -> u32 {
    10
}
/// HikariCP connectionTimeout.
fn default_acquire_timeout() -> String {
    "30s".into()
}
/// HikariCP maxLifetime.
fn default_max_lifetime() -> String {
    "30m".into()
}
/// HikariCP idleTimeout.
fn default_idle_timeout() -> String {
    "10m".into()
}
fn default_fairness() -> String {
    "fifo".into()
}
/// PostgreSQL max_connections.
fn default_max_connections() -> u32 {
    100
}
/// PostgreSQL superuser_reserved_connections.
fn default_reserved() -> u32 {
    3
}
fn default_round_trip() -> String {
    "0s".into()
}
fn default_horizon() -> String {
    "1h".into()
}
fn default_warmup() -> String {
    "5m".into()
}
fn default_seed() -> u64 {
    42
}
fn default_sample_interval() -> String {
    "10s".into()
}

// ---------------------------------------------------------------- the checked spec

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionScope {
    /// One connection from the first db step to the end of the last.
    Request,
    /// Acquire and release around every db step.
    Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Db,
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    RoundRobin,
    Random,
    LeastOutstanding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fairness {
    Fifo,
    Barging,
}

/// How a request (or one attempt of it) ends badly. Each failed request has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    AcquireTimeout = 0,
    ClientTimeout = 1,
    DbRefused = 2,
    Rejected = 3,
    RetriesExhausted = 4,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::AcquireTimeout,
        FailureKind::ClientTimeout,
        FailureKind::DbRefused,
        FailureKind::Rejected,
        FailureKind::RetriesExhausted,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::AcquireTimeout => "acquire_timeout",
            FailureKind::ClientTimeout => "client_timeout",
            FailureKind::DbRefused => "db_refused",
            FailureKind::Rejected => "rejected",
            FailureKind::RetriesExhausted => "retries_exhausted",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// Mean arrivals per second for the fleet, growth included, before the profile.
    pub rate_per_s: f64,
    pub growth: f64,
    /// Piecewise-linear multiplier over simulated time; empty means constant 1.
    pub profile: Vec<(SimTime, f64)>,
}

impl TrafficSpec {
    /// The profile multiplier at `t` (constant before the first and after the last point).
    pub fn profile_factor(&self, t: SimTime) -> f64 {
        let points = &self.profile;
        match points.iter().position(|(at, _)| *at > t) {
            None => points.last().map_or(1.0, |p| p.1),
            Some(0) => points[0].1,
            Some(i) => {
                let (t0, f0) = points[i - 1];
                let (t1, f1) = points[i];
                let span = (t1.0 - t0.0) as f64;
                f0 + (f1 - f0) * ((t.0 - t0.0) as f64 / span)
            }
        }
    }
    /// The largest profile multiplier: the thinning bound for time-varying arrivals.
    pub fn peak_factor(&self) -> f64 {
        if self.profile.is_empty() {
            1.0
        } else {
            self.profile.iter().map(|p| p.1).fold(0.0, f64::max)
        }
    }
}

#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub kind: StepKind,
    pub time: TimeDist,
}

#[derive(Debug, Clone)]
pub struct RetrySpec {
    /// Retries after the first attempt; 0 means none.
    pub max: u32,
    pub base: SimTime,
    pub cap: SimTime,
    pub jitter: Jitter,
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Per-attempt deadline; `None` means the client waits forever.
    pub timeout: Option<SimTime>,
    pub retry: RetrySpec,
    /// Bit `k` set means failure kind `k` is retried.
    pub retry_on_mask: u8,
    pub cancel_on_timeout: bool,
}

impl ClientSpec {
    pub fn retries(&self, kind: FailureKind) -> bool {
        self.retry_on_mask & (1 << kind as u8) != 0
    }
}

#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub instances: u32,
    pub balancer: Balancer,
    /// Concurrent requests per instance; `None` means unlimited.
    pub workers: Option<u32>,
    pub accept_queue: u32,
}

#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub max_size: u32,
    pub min_idle: u32,
    /// `SimTime::ZERO` means fail at once when no connection is idle.
    pub acquire_timeout: SimTime,
    pub connect_time: TimeDist,
    /// `SimTime::ZERO` means connections never retire.
    pub max_lifetime: SimTime,
    /// `SimTime::ZERO` means idle connections are never closed.
    pub idle_timeout: SimTime,
    pub fairness: Fairness,
}

#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub max_connections: u32,
    pub reserved_connections: u32,
    pub other_connections: u32,
    pub cores: u32,
    pub round_trip: SimTime,
    pub serial: f64,
    pub crosstalk: f64,
}

impl DatabaseSpec {
    /// Connection slots this fleet may hold before PostgreSQL refuses (SQLSTATE 53300).
    pub fn slots_for_fleet(&self) -> u32 {
        self.max_connections
            .saturating_sub(self.reserved_connections)
            .saturating_sub(self.other_connections)
    }
    /// Speed of each of `active` statements under processor sharing with USL contention.
    #[inline]
    pub fn per_statement_speed(&self, active: u32) -> f64 {
        if active == 0 {
            return 1.0;
        }
        let n = active as f64;
        let share = (self.cores as f64 / n).min(1.0);
        share / (1.0 + self.serial * (n - 1.0) + self.crosstalk * n * (n - 1.0))
    }
}

#[derive(Debug, Clone)]
pub struct SimulationSpec {
    pub horizon: SimTime,
    pub warmup: SimTime,
    pub seed: u64,
    pub sample_interval: SimTime,
    pub clock_start: Option<String>,
}

/// A checked model: everything the engine needs, nothing left to validate.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub name: String,
    pub description: String,
    pub traffic: TrafficSpec,
    pub scope: ConnectionScope,
    pub steps: Vec<StepSpec>,
    pub client: ClientSpec,
    pub fleet: FleetSpec,
    pub pool: PoolSpec,
    pub database: DatabaseSpec,
    pub simulation: SimulationSpec,
    /// Events, alerts, autoscaling and traces (empty for a steady-state model).
    pub timeline: Timeline,
}

// ---------------------------------------------------------------- loading

/// A model file read from disk and parsed as TOML, ready to take overrides and be checked.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub path: PathBuf,
    pub text: String,
    pub table: Table,
}

impl ModelSource {
    pub fn read(path: &Path) -> Result<ModelSource, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(path, format!("cannot read the model file: {e}"))
                .hint("check the path; `ls models/` lists the models in this repository")
        })?;
        ModelSource::from_text(path, text)
    }

    /// A model given as text; `path` labels errors and anchors relative files.
    pub fn from_text(path: &Path, text: String) -> Result<ModelSource, InputError> {
        let table = parse_toml(path, &text)?;
        Ok(ModelSource {
            path: path.to_path_buf(),
            text,
            table,
        })
    }

    /// Applies `overrides` (dotted path, value) and checks the result.
    pub fn build(&self, overrides: &[(String, toml::Value)]) -> Result<SystemSpec, InputError> {
        let mut table = self.table.clone();
        for (path, value) in overrides {
            set_path(&mut table, path, value.clone()).map_err(|why| {
                InputError::new(&self.path, why)
                    .field(path.clone())
                    .hint("override a field by its dotted path, e.g. pool.max_size=20 or traffic.growth=1.5")
            })?;
        }
        let file: ModelFile = deserialize_table(&self.path, &self.text, table.clone())?;
        let mut spec = check_model(&file, &self.path, &self.text)?;
        // The model as each `set` or `rolling_restart` leaves it, checked like the original.
        let mut steady = table;
        for key in ["events", "alerts", "autoscale"] {
            steady.remove(key);
        }
        let build_after = |extra: &[(String, toml::Value)]| -> Result<SystemSpec, InputError> {
            let mut changed = steady.clone();
            for (path, value) in extra {
                set_path(&mut changed, path, value.clone())
                    .map_err(|why| InputError::new(&self.path, why).field(path.clone()))?;
            }
            let file: ModelFile = deserialize_table(&self.path, &self.text, changed)?;
            check_model(&file, &self.path, &self.text)
        };
        let sections = TimelineSections {
            events: file.events.as_deref().unwrap_or_default(),
            alerts: file.alerts.as_deref().unwrap_or_default(),
            autoscale: file.autoscale.as_ref(),
            trace: file.traffic.trace.as_deref(),
        };
        spec.timeline = check_timeline(
            &self.path,
            &self.text,
            sections,
            spec.fleet.instances,
            &build_after,
        )?;
        Ok(spec)
    }
}

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
                    format!("add `{missing}`; MODEL.md lists every field with an example")
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
            error = error.hint("check this field against MODEL.md, which lists every field with an example");
        }
        error
    })
}

fn choice<T: Copy>(
    path: &Path,
    text: &str,
    field: &str,
    value: &str,
    options: &[(&str, T)],
) -> Result<T, InputError> {
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
        return Ok(*v);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let hint = match suggest(value, &names) {
        Some(best) => format!(
            "did you mean \"{best}\"? valid values: {}",
            names.join(", ")
        ),
        None => format!("use one of: {}", names.join(", ")),
    };
    Err(
        InputError::new(path, format!("\"{value}\" is not a valid value"))
            .field(field)
            .line(locate_field(text, field))
            .hint(hint),
    )
}

/// Checks cross-field rules and builds the engine's spec.
pub fn check_model(file: &ModelFile, path: &Path, text: &str) -> Result<SystemSpec, InputError> {
    let err = |field: &str, message: String, hint: &str| {
        InputError::new(path, message)
            .field(field)
            .line(locate_field(text, field))
            .hint(hint)
    };
    let duration = |field: &str, value: &str| {
        parse_duration(value).map_err(|why| {
            err(
                field,
                why,
                "write a quoted duration with a unit, e.g. \"250ms\", \"30s\", \"1h30m\"",
            )
        })
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));

    // traffic
    let traffic = &file.traffic;
    if !(traffic.rate.is_finite() && traffic.rate > 0.0) {
        return Err(err(
            "traffic.rate",
            format!(
                "rate must be a positive number of requests per second, not {}",
                traffic.rate
            ),
            "set e.g. rate = 300",
        ));
    }
    if !(traffic.growth.is_finite() && traffic.growth > 0.0) {
        return Err(err(
            "traffic.growth",
            format!(
                "growth must be a positive multiplier, not {}",
                traffic.growth
            ),
            "1.0 is today's traffic, 1.5 is 50% more",
        ));
    }
    choice(
        path,
        text,
        "traffic.arrivals",
        &traffic.arrivals,
        &[("poisson", ()), ("trace", ())],
    )?;
    if traffic.arrivals == "trace" && traffic.trace.is_none() {
        return Err(err(
            "traffic.arrivals",
            "arrivals = \"trace\" needs a `trace` file".into(),
            "add trace = \"traces/login.csv\" (columns seconds,rate or one arrival time per row)",
        ));
    }
    let mut profile = Vec::new();
    for (i, point) in traffic.profile.iter().flatten().enumerate() {
        let field = format!("traffic.profile[{i}]");
        let at = duration(&format!("{field}.at"), &point.at)?;
        if !(point.factor.is_finite() && point.factor >= 0.0) {
            return Err(err(
                &format!("{field}.factor"),
                format!(
                    "profile factor must be a non-negative number, not {}",
                    point.factor
                ),
                "1.0 is the base rate",
            ));
        }
        if let Some(&(previous, _)) = profile.last() {
            if at <= previous {
                return Err(err(
                    &format!("{field}.at"),
                    format!(
                        "profile times must increase, but {} is not after {}",
                        point.at, previous
                    ),
                    "list profile points in time order",
                ));
            }
        }
        profile.push((at, point.factor));
    }

    // request
    let scope = choice(
        path,
        text,
        "request.connection_scope",
        &file.request.connection_scope,
        &[
            ("request", ConnectionScope::Request),
            ("step", ConnectionScope::Step),
        ],
    )?;
    if file.request.steps.is_empty() {
        return Err(err(
            "request.steps",
            "a request needs at least one step".into(),
            "add [[request.steps]] with name, kind and time",
        ));
    }
    let mut steps = Vec::new();
    for (i, step) in file.request.steps.iter().enumerate() {
        let field = format!("request.steps[{i}]");
        let kind = choice(
            path,
            text,
            &format!("{field}.kind"),
            &step.kind,
            &[("db", StepKind::Db), ("app", StepKind::App)],
        )?;
        let time = build_time_dist(&step.time, base_dir).map_err(|e| {
            let sub = format!("{field}.time.{}", e.subfield);
            InputError::new(path, format!("step \"{}\": {}", step.name, e.message))
                .field(sub)
                .line(locate_field(text, &format!("{field}.time")))
                .hint(e.hint)
        })?;
        steps.push(StepSpec {
            name: step.name.clone(),
            kind,
            time,
        });
    }
    if !steps.iter().any(|s| s.kind == StepKind::Db) {
        return Err(err(
            "request.steps",
            "no step has kind = \"db\", so the pool would never be used".into(),
            "mark the steps that query the database with kind = \"db\"",
        ));
    }

    // client
    let client = match &file.client {
        None => ClientSpec {
            timeout: None,
            retry: RetrySpec {
                max: 0,
                base: SimTime::ZERO,
                cap: SimTime::ZERO,
                jitter: Jitter::None,
            },
            retry_on_mask: 0,
            cancel_on_timeout: false,
        },
        Some(c) => {
            let timeout = match &c.timeout {
                None => None,
                Some(t) => {
                    let t = duration("client.timeout", t)?;
                    if t.is_zero() {
                        return Err(err(
                            "client.timeout",
                            "a client timeout of 0s would fail every request".into(),
                            "omit `timeout` for a client that waits forever",
                        ));
                    }
                    Some(t)
                }
            };
            let retry = match &c.retries {
                None => RetrySpec {
                    max: 0,
                    base: SimTime::ZERO,
                    cap: SimTime::ZERO,
                    jitter: Jitter::None,
                },
                Some(r) => {
                    let base = duration("client.retries.base", &r.base)?;
                    let cap = duration("client.retries.cap", &r.cap)?;
                    if cap < base {
                        return Err(err(
                            "client.retries.cap",
                            format!("cap ({}) is below base ({})", r.cap, r.base),
                            "the cap bounds the growing backoff, so set cap >= base",
                        ));
                    }
                    if r.max > 100 {
                        return Err(err(
                            "client.retries.max",
                            format!("{} retries per request is not a client anyone ships", r.max),
                            "use at most a handful (2 or 3); 0 disables retries",
                        ));
                    }
                    let jitter = choice(
                        path,
                        text,
                        "client.retries.jitter",
                        &r.jitter,
                        &[
                            ("none", Jitter::None),
                            ("full", Jitter::Full),
                            ("equal", Jitter::Equal),
                            ("decorrelated", Jitter::Decorrelated),
                        ],
                    )?;
                    RetrySpec {
                        max: r.max,
                        base,
                        cap,
                        jitter,
                    }
                }
            };
            let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
            let default_retry_on = vec!["acquire_timeout".to_string(), "db_refused".to_string()];
            let mut mask = 0u8;
            for (i, kind) in c
                .retry_on
                .as_ref()
                .unwrap_or(&default_retry_on)
                .iter()
                .enumerate()
            {
                let field = format!("client.retry_on[{i}]");
                let k = choice(
                    path,
                    text,
                    &field,
                    kind,
                    &FailureKind::ALL.map(|k| (k.name(), k)),
                )?;
                if k == FailureKind::RetriesExhausted {
                    return Err(err(
                        &field,
                        "retries_exhausted cannot itself be retried".into(),
                        &format!("retry_on takes: {}", names[..4].join(", ")),
                    ));
                }
                mask |= 1 << k as u8;
            }
            ClientSpec {
                timeout,
                retry,
                retry_on_mask: mask,
                cancel_on_timeout: c.cancel_on_timeout,
            }
        }
    };

    // fleet
    let fleet = &file.fleet;
    if fleet.instances == 0 {
        return Err(err(
            "fleet.instances",
            "a fleet needs at least one instance".into(),
            "set instances = 1 or more",
        ));
    }
    if fleet.instances > 10_000 {
        return Err(err(
            "fleet.instances",
            format!(
                "{} instances is beyond what poolsim models",
                fleet.instances
            ),
            "model at most 10000 instances",
        ));
    }
    let balancer = choice(
        path,
        text,
        "fleet.balancer",
        &fleet.balancer,
        &[
            ("round_robin", Balancer::RoundRobin),
            ("random", Balancer::Random),
            ("least_outstanding", Balancer::LeastOutstanding),
        ],
    )?;
    if fleet.workers == Some(0) {
        return Err(err(
            "fleet.workers",
            "0 workers would reject every request".into(),
            "omit `workers` for unlimited concurrency, or set e.g. workers = 200",
        ));
    }
    if fleet.accept_queue.is_some() && fleet.workers.is_none() {
        return Err(err(
            "fleet.accept_queue",
            "accept_queue only applies when `workers` limits concurrency".into(),
            "set `workers` too, or remove accept_queue",
        ));
    }

    // pool
    let pool = &file.pool;
    if pool.max_size == 0 {
        return Err(err(
            "pool.max_size",
            "a pool of 0 connections cannot serve any request".into(),
            "set max_size = 1 or more (HikariCP's default is 10)",
        ));
    }
    let min_idle = pool.min_idle.unwrap_or(pool.max_size);
    if min_idle > pool.max_size {
        return Err(err("pool.min_idle", format!("min_idle ({min_idle}) is larger than max_size ({})", pool.max_size), "set min_idle <= max_size, or omit it (HikariCP defaults minimumIdle to maximumPoolSize)"));
    }
    let acquire_timeout = duration("pool.acquire_timeout", &pool.acquire_timeout)?;
    let connect_spec = pool.connect_time.clone().unwrap_or(DistSpec {
        dist: "lognormal".into(),
        median: Some("8ms".into()),
        p99: Some("30ms".into()),
        value: None,
        mean: None,
        cv: None,
        scale: None,
        shape: None,
        min: None,
        max: None,
        file: None,
        column: None,
        components: None,
        weight: None,
    });
    let connect_time = build_time_dist(&connect_spec, base_dir).map_err(|e| {
        InputError::new(path, format!("connect_time: {}", e.message))
            .field(format!("pool.connect_time.{}", e.subfield))
            .line(locate_field(text, "pool.connect_time"))
            .hint(e.hint)
    })?;
    let max_lifetime = duration("pool.max_lifetime", &pool.max_lifetime)?;
    if !max_lifetime.is_zero() && max_lifetime < SimTime::from_millis(30_000) {
        return Err(err(
            "pool.max_lifetime",
            format!(
                "max_lifetime {} is below HikariCP's minimum of 30s",
                pool.max_lifetime
            ),
            "use \"30m\" (the default), at least \"30s\", or \"0s\" for never",
        ));
    }
    let idle_timeout = duration("pool.idle_timeout", &pool.idle_timeout)?;
    let fairness = choice(
        path,
        text,
        "pool.fairness",
        &pool.fairness,
        &[("fifo", Fairness::Fifo), ("barging", Fairness::Barging)],
    )?;

    // database
    let db = &file.database;
    if db.cores == 0 {
        return Err(err(
            "database.cores",
            "a database needs at least one core".into(),
            "set cores to the database's vCPU count",
        ));
    }
    if db.reserved_connections + db.other_connections >= db.max_connections {
        return Err(err("database.max_connections", format!("max_connections ({}) leaves no slot after reserved ({}) and other ({}) connections", db.max_connections, db.reserved_connections, db.other_connections), "raise max_connections above reserved_connections + other_connections, or lower those"));
    }
    let round_trip = duration("database.round_trip", &db.round_trip)?;
    for (field, v) in [
        ("database.contention.serial", db.contention.serial),
        ("database.contention.crosstalk", db.contention.crosstalk),
    ] {
        if !(v.is_finite() && (0.0..1.0).contains(&v)) {
            return Err(err(
                field,
                format!("USL coefficient must be in [0, 1), not {v}"),
                "typical values: serial 0.01-0.05, crosstalk 0.0001-0.001; 0 for an ideal database",
            ));
        }
    }

    // simulation
    let sim = &file.simulation;
    let horizon = duration("simulation.horizon", &sim.horizon)?;
    let warmup = duration("simulation.warmup", &sim.warmup)?;
    if horizon.is_zero() {
        return Err(err(
            "simulation.horizon",
            "horizon must be above 0s".into(),
            "set e.g. horizon = \"1h\"",
        ));
    }
    if warmup >= horizon {
        return Err(err(
            "simulation.warmup",
            format!(
                "warmup ({}) must end before the horizon ({})",
                sim.warmup, sim.horizon
            ),
            "shorten the warmup or lengthen the horizon",
        ));
    }
    let sample_interval = duration("simulation.sample_interval", &sim.sample_interval)?;
    if sample_interval.is_zero() {
        return Err(err(
            "simulation.sample_interval",
            "sample_interval must be above 0s".into(),
            "set e.g. sample_interval = \"10s\"",
        ));
    }
    if let Some(clock) = &sim.clock_start {
        let ok = clock.len() == 5
            && clock.as_bytes()[2] == b':'
            && clock[..2].parse::<u32>().is_ok_and(|h| h < 24)
            && clock[3..].parse::<u32>().is_ok_and(|m| m < 60);
        if !ok {
            return Err(err(
                "simulation.clock_start",
                format!("\"{clock}\" is not a wall-clock time"),
                "write HH:MM in 24-hour time, e.g. \"09:00\"",
            ));
        }
    }

    Ok(SystemSpec {
        name: file.name.clone(),
        description: file.description.clone(),
        traffic: TrafficSpec {
            rate_per_s: traffic.rate * traffic.growth,
            growth: traffic.growth,
            profile,
        },
        scope,
        steps,
        client,
        fleet: FleetSpec {
            instances: fleet.instances,
            balancer,
            workers: fleet.workers,
            accept_queue: fleet.accept_queue.unwrap_or(100),
        },
        pool: PoolSpec {
            max_size: pool.max_size,
            min_idle,
            acquire_timeout,
            connect_time,
            max_lifetime,
            idle_timeout,
            fairness,
        },
        database: DatabaseSpec {
            max_connections: db.max_connections,
            reserved_connections: db.reserved_connections,
            other_connections: db.other_connections,
            cores: db.cores,
            round_trip,
            serial: db.contention.serial,
            crosstalk: db.contention.crosstalk,
        },
        simulation: SimulationSpec {
            horizon,
            warmup,
            seed: sim.seed,
            sample_interval,
            clock_start: sim.clock_start.clone(),
        },
        timeline: Timeline::default(),
    })
}
