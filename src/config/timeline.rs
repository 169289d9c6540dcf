//! The model's timeline: `[[events]]`, `[[alerts]]`, `[autoscale]` and traffic traces.
//!
//! Incident replays and what-ifs change the system while it runs. Each `set` or
//! `rolling_restart` event carries the full checked model as it is after the
//! change (earlier changes included), so a bad value in an event is an input
//! error at load time, never a surprise an hour into a simulated incident.

use std::path::Path;

use serde::Deserialize;
use toml::{Table, Value};

use super::duration::parse_duration;
use super::error::{locate_field, InputError};
use super::model::SystemSpec;
use super::suggest;
use crate::sim::time::SimTime;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSection {
    pub at: String,
    pub kind: String,
    pub factor: Option<f64>,
    pub duration: Option<String>,
    pub instance: Option<u32>,
    pub set: Option<Table>,
    pub batch: Option<u32>,
    pub interval: Option<String>,
    pub drain: Option<String>,
    pub surge: Option<u32>,
    /// Free text shown on timelines; defaults to a description of the event.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSection {
    pub name: String,
    pub metric: String,
    pub above: f64,
    #[serde(rename = "for", default = "zero")]
    pub hold: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSection {
    #[serde(default = "default_autoscale_metric")]
    pub metric: String,
    pub target: f64,
    pub min_instances: u32,
    pub max_instances: u32,
    #[serde(default = "default_reaction")]
    pub reaction_delay: String,
    #[serde(default = "default_boot")]
    pub boot_time: String,
    #[serde(default = "default_cooldown")]
    pub cooldown: String,
}

fn zero() -> String {
    "0s".into()
}
fn default_autoscale_metric() -> String {
    "pool.utilization".into()
}
/// The window the metric is averaged over before acting (HPA-style metric window).
fn default_reaction() -> String {
    "1m".into()
}
/// A JVM service: image pull, start-up and readiness probe.
fn default_boot() -> String {
    "90s".into()
}
/// HPA's scale-up stabilisation is short; 3 minutes between steps is a common setting.
fn default_cooldown() -> String {
    "3m".into()
}

/// A metric of the sampled time series (fleet-wide, per sample interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Connections in use, fleet total.
    PoolActive,
    /// Requests waiting for a connection, fleet total.
    PoolPending,
    /// In use / (running instances x max_size).
    PoolUtilization,
    /// Connections held at the database, other clients included.
    DbConnections,
    /// Failed / finished requests in the interval.
    ErrorRate,
    /// p99 of successful requests finishing in the interval, in ms.
    LatencyP99,
}

pub const METRICS: [(&str, Metric); 6] = [
    ("pool.active", Metric::PoolActive),
    ("pool.pending", Metric::PoolPending),
    ("pool.utilization", Metric::PoolUtilization),
    ("db.connections", Metric::DbConnections),
    ("error_rate", Metric::ErrorRate),
    ("latency_p99", Metric::LatencyP99),
];

impl Metric {
    pub fn name(self) -> &'static str {
        METRICS
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

#[derive(Debug, Clone)]
pub enum EventAction {
    DbSlowdown {
        factor: f64,
        duration: SimTime,
    },
    InstanceDown {
        instance: u32,
        duration: SimTime,
    },
    /// A hot change: the model as it is afterwards.
    Set {
        after: Box<SystemSpec>,
    },
    RollingRestart {
        batch: u32,
        interval: SimTime,
        drain: SimTime,
        surge: u32,
        after: Box<SystemSpec>,
    },
    TrafficSurge {
        factor: f64,
        duration: SimTime,
    },
}

#[derive(Debug, Clone)]
pub struct TimelineEvent {
    pub at: SimTime,
    pub label: String,
    pub action: EventAction,
}

impl TimelineEvent {
    /// When the event's effect ends (for shading on charts).
    pub fn end(&self, instances: u32) -> SimTime {
        match &self.action {
            EventAction::DbSlowdown { duration, .. }
            | EventAction::InstanceDown { duration, .. }
            | EventAction::TrafficSurge { duration, .. } => self.at + *duration,
            EventAction::Set { .. } => self.at,
            EventAction::RollingRestart {
                batch,
                interval,
                drain,
                ..
            } => {
                let batches = instances.div_ceil((*batch).max(1)) as u64;
                self.at + SimTime(interval.0 * batches.saturating_sub(1)) + *drain
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub metric: Metric,
    pub above: f64,
    pub hold: SimTime,
}

#[derive(Debug, Clone)]
pub struct AutoscaleSpec {
    pub metric: Metric,
    pub target: f64,
    pub min_instances: u32,
    pub max_instances: u32,
    pub reaction_delay: SimTime,
    pub boot_time: SimTime,
    pub cooldown: SimTime,
}

/// Measured traffic: a rate per interval, or the arrivals themselves.
#[derive(Debug, Clone)]
pub enum Trace {
    /// (start, requests per second), piecewise constant, replacing `traffic.rate`.
    Rates(Vec<(SimTime, f64)>),
    /// Arrival times, replayed as they are.
    Arrivals(Vec<SimTime>),
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub events: Vec<TimelineEvent>,
    pub alerts: Vec<AlertRule>,
    pub autoscale: Option<AutoscaleSpec>,
    pub trace: Option<Trace>,
}

impl Timeline {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.alerts.is_empty()
            && self.autoscale.is_none()
            && self.trace.is_none()
    }
    /// Traffic surges as (start, end, factor).
    pub fn surges(&self) -> Vec<(SimTime, SimTime, f64)> {
        self.events
            .iter()
            .filter_map(|e| match e.action {
                EventAction::TrafficSurge { factor, duration } => {
                    Some((e.at, e.at + duration, factor))
                }
                _ => None,
            })
            .collect()
    }
}

pub fn metric(path: &Path, text: &str, field: &str, name: &str) -> Result<Metric, InputError> {
    METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
            let guess = suggest(name, &names)
                .map(|g| format!("did you mean \"{g}\"? "))
                .unwrap_or_default();
            InputError::new(path, format!("\"{name}\" is not a metric"))
                .field(field)
                .line(locate_field(text, field))
                .hint(format!("{guess}use one of: {}", names.join(", ")))
        })
}

/// Builds the model with extra overrides (for `set` and `rolling_restart`).
pub type BuildAfter<'a> = &'a dyn Fn(&[(String, Value)]) -> Result<SystemSpec, InputError>;

/// The timeline sections of a model file, as written.
pub struct TimelineSections<'a> {
    pub events: &'a [EventSection],
    pub alerts: &'a [AlertSection],
    pub autoscale: Option<&'a AutoscaleSection>,
    pub trace: Option<&'a str>,
}

/// Checks the timeline sections. `build_after` builds the model with extra overrides,
/// applied cumulatively in time order for `set` and `rolling_restart` events.
pub fn check_timeline(
    path: &Path,
    text: &str,
    sections: TimelineSections,
    instances: u32,
    build_after: BuildAfter,
) -> Result<Timeline, InputError> {
    let TimelineSections {
        events,
        alerts,
        autoscale,
        trace,
    } = sections;
    let err = |field: &str, message: String, hint: &str| {
        InputError::new(path, message)
            .field(field)
            .line(locate_field(text, field))
            .hint(hint)
    };
    let duration =
        |field: &str, value: Option<&String>, what: &str| -> Result<SimTime, InputError> {
            let value = value.ok_or_else(|| {
                err(
                    field,
                    format!(
                        "a {what} event needs `{}`",
                        field.rsplit('.').next().unwrap_or(field)
                    ),
                    "add it as a quoted duration, e.g. \"10m\"",
                )
            })?;
            parse_duration(value).map_err(|why| {
                err(
                    field,
                    why,
                    "write a quoted duration with a unit, e.g. \"10m\"",
                )
            })
        };
    let kinds = [
        "db_slowdown",
        "instance_down",
        "set",
        "rolling_restart",
        "traffic",
    ];

    let mut order: Vec<usize> = (0..events.len()).collect();
    let mut times = Vec::new();
    for (i, e) in events.iter().enumerate() {
        times.push(parse_duration(&e.at).map_err(|why| {
            err(
                &format!("events[{i}].at"),
                why,
                "write when it happens as a duration from the start, e.g. \"45m\"",
            )
        })?);
    }
    order.sort_by_key(|&i| (times[i], i));

    let mut cumulative: Vec<(String, Value)> = Vec::new();
    let mut checked = Vec::new();
    for i in order {
        let e = &events[i];
        let field = |name: &str| format!("events[{i}].{name}");
        let at = times[i];
        let positive_factor = |what: &str| -> Result<f64, InputError> {
            match e.factor {
                Some(f) if f.is_finite() && f > 0.0 => Ok(f),
                Some(f) => Err(err(
                    &field("factor"),
                    format!("factor must be a positive multiplier, not {f}"),
                    "e.g. factor = 3.0 triples it",
                )),
                None => Err(err(
                    &field("factor"),
                    format!("a {what} event needs `factor`"),
                    "add factor = 2.0 (a multiplier)",
                )),
            }
        };
        let overrides =
            |set: Option<&Table>, what: &str| -> Result<Vec<(String, Value)>, InputError> {
                let set = set.ok_or_else(|| {
                    err(
                        &field("set"),
                        format!("a {what} event needs `set`"),
                        "add set = { \"pool.max_size\" = 40 }",
                    )
                })?;
                Ok(set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            };
        let action = match e.kind.as_str() {
            "db_slowdown" => EventAction::DbSlowdown {
                factor: positive_factor("db_slowdown")?,
                duration: duration(&field("duration"), e.duration.as_ref(), "db_slowdown")?,
            },
            "traffic" => EventAction::TrafficSurge {
                factor: positive_factor("traffic")?,
                duration: duration(&field("duration"), e.duration.as_ref(), "traffic")?,
            },
            "instance_down" => {
                let instance = e.instance.ok_or_else(|| {
                    err(
                        &field("instance"),
                        "an instance_down event needs `instance`".into(),
                        "add instance = 0 (instances are numbered from 0)",
                    )
                })?;
                if instance >= instances {
                    return Err(err(&field("instance"), format!("instance {instance} does not exist: the fleet has {instances} (numbered 0 to {})", instances - 1), "use an index below fleet.instances"));
                }
                EventAction::InstanceDown {
                    instance,
                    duration: duration(&field("duration"), e.duration.as_ref(), "instance_down")?,
                }
            }
            "set" | "rolling_restart" => {
                let added = overrides(e.set.as_ref(), &e.kind)?;
                // Changes the engine cannot make while running are refused, not ignored.
                if let Some((path, _)) = added.iter().find(|(path, _)| {
                    path == "fleet.instances"
                        || path.starts_with("simulation")
                        || path == "request.connection_scope"
                        || path.starts_with("traffic.profile")
                        || path.starts_with("traffic.trace")
                }) {
                    return Err(err(
                        &field("set"),
                        format!("`{path}` cannot change during a run"),
                        "change the fleet size with instance_down or [autoscale], traffic with a `traffic` event; simulation settings apply to the whole run",
                    ));
                }
                cumulative.extend(added);
                let after = build_after(&cumulative).map_err(|inner| {
                    err(
                        &field("set"),
                        format!(
                            "the {} at {} makes the model invalid: {}",
                            e.kind, e.at, inner.message
                        ),
                        inner.hint.as_deref().unwrap_or("fix the value"),
                    )
                })?;
                if e.kind == "set" {
                    EventAction::Set {
                        after: Box::new(after),
                    }
                } else {
                    let batch = e.batch.unwrap_or(1);
                    if batch == 0 {
                        return Err(err(
                            &field("batch"),
                            "batch = 0 would never restart anything".into(),
                            "restart at least 1 instance per batch",
                        ));
                    }
                    EventAction::RollingRestart {
                        batch,
                        interval: match &e.interval {
                            Some(_) => duration(
                                &field("interval"),
                                e.interval.as_ref(),
                                "rolling_restart",
                            )?,
                            None => SimTime::from_millis(120_000),
                        },
                        drain: match &e.drain {
                            Some(_) => {
                                duration(&field("drain"), e.drain.as_ref(), "rolling_restart")?
                            }
                            None => SimTime::from_millis(30_000),
                        },
                        surge: e.surge.unwrap_or(0),
                        after: Box::new(after),
                    }
                }
            }
            other => {
                let guess = suggest(other, &kinds)
                    .map(|g| format!("did you mean \"{g}\"? "))
                    .unwrap_or_default();
                return Err(err(
                    &field("kind"),
                    format!("\"{other}\" is not an event kind"),
                    &format!("{guess}use one of: {}", kinds.join(", ")),
                ));
            }
        };
        let label = e.label.clone().unwrap_or_else(|| default_label(e));
        checked.push(TimelineEvent { at, label, action });
    }

    let mut rules = Vec::new();
    for (i, a) in alerts.iter().enumerate() {
        let m = metric(path, text, &format!("alerts[{i}].metric"), &a.metric)?;
        if !a.above.is_finite() {
            return Err(err(
                &format!("alerts[{i}].above"),
                "`above` must be a number".into(),
                "e.g. above = 5",
            ));
        }
        let hold = parse_duration(&a.hold)
            .map_err(|why| err(&format!("alerts[{i}].for"), why, "write e.g. for = \"1m\""))?;
        rules.push(AlertRule {
            name: a.name.clone(),
            metric: m,
            above: a.above,
            hold,
        });
    }

    let autoscale = match autoscale {
        None => None,
        Some(a) => {
            let m = metric(path, text, "autoscale.metric", &a.metric)?;
            if !(a.target.is_finite() && a.target > 0.0) {
                return Err(err(
                    "autoscale.target",
                    format!("target must be positive, not {}", a.target),
                    "e.g. target = 0.7 for 70% pool utilization",
                ));
            }
            if a.min_instances == 0 || a.min_instances > a.max_instances {
                return Err(err(
                    "autoscale.min_instances",
                    format!(
                        "need 1 <= min_instances ({}) <= max_instances ({})",
                        a.min_instances, a.max_instances
                    ),
                    "e.g. min_instances = 6, max_instances = 20",
                ));
            }
            if a.max_instances > 1000 {
                return Err(err(
                    "autoscale.max_instances",
                    format!(
                        "{} instances is beyond what poolsim models",
                        a.max_instances
                    ),
                    "use at most 1000",
                ));
            }
            let d = |field: &str, v: &str| {
                parse_duration(v)
                    .map_err(|why| err(field, why, "write a quoted duration, e.g. \"90s\""))
            };
            Some(AutoscaleSpec {
                metric: m,
                target: a.target,
                min_instances: a.min_instances,
                max_instances: a.max_instances,
                reaction_delay: d("autoscale.reaction_delay", &a.reaction_delay)?,
                boot_time: d("autoscale.boot_time", &a.boot_time)?,
                cooldown: d("autoscale.cooldown", &a.cooldown)?,
            })
        }
    };

    let trace = match trace {
        None => None,
        Some(file) => Some(read_trace(path, text, file)?),
    };
    Ok(Timeline {
        events: checked,
        alerts: rules,
        autoscale,
        trace,
    })
}

fn default_label(e: &EventSection) -> String {
    let set_text = || {
        e.set
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e.kind.as_str() {
        "db_slowdown" => format!("database {}x slower", e.factor.unwrap_or(1.0)),
        "traffic" => format!("traffic x{}", e.factor.unwrap_or(1.0)),
        "instance_down" => format!("instance {} down", e.instance.unwrap_or(0)),
        "set" => format!("set {}", set_text()),
        "rolling_restart" => format!("rolling restart: {}", set_text()),
        other => other.to_string(),
    }
}

/// Reads a trace CSV: `seconds,rate` rows (a rate from that second on), or a single
/// column of arrival times in seconds; a `.json` file is a Prometheus range query of
/// the request rate (a rate per step).
fn read_trace(model_path: &Path, text: &str, file: &str) -> Result<Trace, InputError> {
    let field = "traffic.trace";
    let path = model_path.parent().unwrap_or(Path::new(".")).join(file);
    let err = |message: String, hint: &str| {
        InputError::new(model_path, message)
            .field(field)
            .line(locate_field(text, field))
            .hint(hint)
    };
    if path.extension().is_some_and(|e| e == "json") {
        let rates = super::prometheus::read_rate_trace(&path)
            .map_err(|e| err(e.to_string(), "a .json trace is a Prometheus range query of the request rate, e.g. sum(rate(http_server_requests_seconds_count[1m]))"))?;
        let rates = rates
            .into_iter()
            .map(|(t, r)| (SimTime::from_secs_f64(t), r));
        return Ok(Trace::Rates(rates.collect()));
    }
    let mut reader = csv::Reader::from_path(&path).map_err(|e| {
        err(
            format!("cannot read the trace {}: {e}", path.display()),
            "the path is relative to the model file",
        )
    })?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            err(
                format!("{}: {e}", path.display()),
                "the first row names the columns",
            )
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let rate_trace = headers.len() >= 2 && headers[0] == "seconds" && headers[1] == "rate";
    let arrival_trace = headers.len() == 1
        && (headers[0] == "seconds" || headers[0] == "arrival_s" || headers[0] == "timestamp");
    if !rate_trace && !arrival_trace {
        return Err(err(format!("{} has columns {:?}", path.display(), headers), "use the header `seconds,rate` (a rate per interval) or a single column `seconds` (one arrival per row)"));
    }
    let mut rates = Vec::new();
    let mut arrivals = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| err(format!("{}: {e}", path.display()), "fix the CSV row"))?;
        let number = |i: usize| -> Result<f64, InputError> {
            let cell = record.get(i).unwrap_or("").trim();
            cell.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    err(
                        format!(
                            "{} row {}: \"{cell}\" is not a non-negative number",
                            path.display(),
                            row + 2
                        ),
                        "seconds and rates are plain non-negative numbers",
                    )
                })
        };
        let at = SimTime::from_secs_f64(number(0)?);
        let previous = if rate_trace {
            rates.last().map(|r: &(SimTime, f64)| r.0)
        } else {
            arrivals.last().copied()
        };
        if previous.is_some_and(|p| at < p) {
            return Err(err(
                format!("{} row {}: times go backwards", path.display(), row + 2),
                "sort the trace by time",
            ));
        }
        if rate_trace {
            rates.push((at, number(1)?));
        } else {
            arrivals.push(at);
        }
    }
    if rates.is_empty() && arrivals.is_empty() {
        return Err(err(
            format!("{} has no data rows", path.display()),
            "add rows below the header",
        ));
    }
    Ok(if rate_trace {
        Trace::Rates(rates)
    } else {
        Trace::Arrivals(arrivals)
    })
}
