//! The rules of a model's timeline: events in time order, alert rules, autoscaling, traces.
//!
//! Each `set` or `rolling_restart` event is checked by building the whole model as
//! it is after the change (earlier changes included), so a bad value in an event is
//! an input error at load time, never a surprise an hour into a simulated incident.

use std::path::Path;

use toml::{Table, Value};

use super::duration::parse_duration;
use super::error::{locate_field, InputError};
use super::sections::{AlertSection, AutoscaleSection, EventSection};
use super::spec::{
    AlertRule, AutoscaleSpec, EventAction, Metric, SystemSpec, Timeline, TimelineEvent, Trace,
    METRICS,
};
use super::suggest;
use crate::sim::time::SimTime;

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

pub(super) const EVENT_KINDS: [&str; 5] = [
    "db_slowdown",
    "instance_down",
    "set",
    "rolling_restart",
    "traffic",
];

/// Paths a `set` or `rolling_restart` may not change: the engine cannot change them mid-run.
fn fixed_during_run(path: &str) -> bool {
    path == "fleet.instances"
        || path.starts_with("simulation")
        || path == "request.connection_scope"
        || path.starts_with("traffic.profile")
        || path.starts_with("traffic.trace")
}

/// Names errors in the model file.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, field: &str, message: String, hint: &str) -> InputError {
        InputError::at_field(self.path, self.text, field, message, hint)
    }

    /// A required duration of an event of kind `what`.
    fn duration(
        &self,
        field: &str,
        value: Option<&String>,
        what: &str,
    ) -> Result<SimTime, InputError> {
        let value = value.ok_or_else(|| {
            self.err(
                field,
                format!(
                    "a {what} event needs `{}`",
                    field.rsplit('.').next().unwrap_or(field)
                ),
                "add it as a quoted duration, e.g. \"10m\"",
            )
        })?;
        parse_duration(value).map_err(|why| {
            self.err(
                field,
                why,
                "write a quoted duration with a unit, e.g. \"10m\"",
            )
        })
    }
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
    let c = Checker { path, text };
    let events = check_events(&c, sections.events, instances, build_after)?;
    let alerts = check_alerts(&c, sections.alerts)?;
    let autoscale = match sections.autoscale {
        None => None,
        Some(a) => Some(check_autoscale(&c, a)?),
    };
    let trace = match sections.trace {
        None => None,
        Some(file) => Some(read_trace(path, text, file)?),
    };
    Ok(Timeline {
        events,
        alerts,
        autoscale,
        trace,
    })
}

/// Events in time order (ties in file order), `set` changes accumulating.
fn check_events(
    c: &Checker,
    events: &[EventSection],
    instances: u32,
    build_after: BuildAfter,
) -> Result<Vec<TimelineEvent>, InputError> {
    let mut times = Vec::new();
    for (i, e) in events.iter().enumerate() {
        times.push(parse_duration(&e.at).map_err(|why| {
            c.err(
                &format!("events[{i}].at"),
                why,
                "write when it happens as a duration from the start, e.g. \"45m\"",
            )
        })?);
    }
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (times[i], i));
    let mut cumulative: Vec<(String, Value)> = Vec::new();
    let mut checked = Vec::new();
    for i in order {
        let e = &events[i];
        let action = check_event(c, i, e, instances, &mut cumulative, build_after)?;
        let label = e.label.clone().unwrap_or_else(|| default_label(e));
        checked.push(TimelineEvent {
            at: times[i],
            label,
            action,
        });
    }
    Ok(checked)
}

fn positive_factor(c: &Checker, i: usize, e: &EventSection) -> Result<f64, InputError> {
    let field = format!("events[{i}].factor");
    match e.factor {
        Some(f) if f.is_finite() && f > 0.0 => Ok(f),
        Some(f) => Err(c.err(
            &field,
            format!("factor must be a positive multiplier, not {f}"),
            "e.g. factor = 3.0 triples it",
        )),
        None => Err(c.err(
            &field,
            format!("a {} event needs `factor`", e.kind),
            "add factor = 2.0 (a multiplier)",
        )),
    }
}

/// One event's action; `cumulative` holds the `set` changes of earlier events.
fn check_event(
    c: &Checker,
    i: usize,
    e: &EventSection,
    instances: u32,
    cumulative: &mut Vec<(String, Value)>,
    build_after: BuildAfter,
) -> Result<EventAction, InputError> {
    let field = |name: &str| format!("events[{i}].{name}");
    Ok(match e.kind.as_str() {
        "db_slowdown" => EventAction::DbSlowdown {
            factor: positive_factor(c, i, e)?,
            duration: c.duration(&field("duration"), e.duration.as_ref(), "db_slowdown")?,
        },
        "traffic" => EventAction::TrafficSurge {
            factor: positive_factor(c, i, e)?,
            duration: c.duration(&field("duration"), e.duration.as_ref(), "traffic")?,
        },
        "instance_down" => {
            let instance = e.instance.ok_or_else(|| {
                c.err(
                    &field("instance"),
                    "an instance_down event needs `instance`".into(),
                    "add instance = 0 (instances are numbered from 0)",
                )
            })?;
            if instance >= instances {
                return Err(c.err(&field("instance"), format!("instance {instance} does not exist: the fleet has {instances} (numbered 0 to {})", instances - 1), "use an index below fleet.instances"));
            }
            EventAction::InstanceDown {
                instance,
                duration: c.duration(&field("duration"), e.duration.as_ref(), "instance_down")?,
            }
        }
        "set" | "rolling_restart" => {
            let after = check_change(c, i, e, cumulative, build_after)?;
            if e.kind == "set" {
                EventAction::Set {
                    after: Box::new(after),
                }
            } else {
                check_rolling_restart(c, i, e, after)?
            }
        }
        other => {
            let guess = suggest(other, &EVENT_KINDS)
                .map(|g| format!("did you mean \"{g}\"? "))
                .unwrap_or_default();
            return Err(c.err(
                &field("kind"),
                format!("\"{other}\" is not an event kind"),
                &format!("{guess}use one of: {}", EVENT_KINDS.join(", ")),
            ));
        }
    })
}

/// The model as a `set` or `rolling_restart` leaves it, earlier changes included.
fn check_change(
    c: &Checker,
    i: usize,
    e: &EventSection,
    cumulative: &mut Vec<(String, Value)>,
    build_after: BuildAfter,
) -> Result<SystemSpec, InputError> {
    let field = format!("events[{i}].set");
    let set: &Table = e.set.as_ref().ok_or_else(|| {
        c.err(
            &field,
            format!("a {} event needs `set`", e.kind),
            "add set = { \"pool.max_size\" = 40 }",
        )
    })?;
    let added: Vec<(String, Value)> = set.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // Changes the engine cannot make while running are refused, not ignored.
    if let Some((path, _)) = added.iter().find(|(path, _)| fixed_during_run(path)) {
        return Err(c.err(
            &field,
            format!("`{path}` cannot change during a run"),
            "change the fleet size with instance_down or [autoscale], traffic with a `traffic` event; simulation settings apply to the whole run",
        ));
    }
    cumulative.extend(added);
    build_after(cumulative).map_err(|inner| {
        c.err(
            &field,
            format!(
                "the {} at {} makes the model invalid: {}",
                e.kind, e.at, inner.message
            ),
            inner.hint.as_deref().unwrap_or("fix the value"),
        )
    })
}

fn check_rolling_restart(
    c: &Checker,
    i: usize,
    e: &EventSection,
    after: SystemSpec,
) -> Result<EventAction, InputError> {
    let field = |name: &str| format!("events[{i}].{name}");
    let batch = e.batch.unwrap_or(1);
    if batch == 0 {
        return Err(c.err(
            &field("batch"),
            "batch = 0 would never restart anything".into(),
            "restart at least 1 instance per batch",
        ));
    }
    let surge = e.surge.unwrap_or(0);
    if u64::from(surge) + u64::from(after.fleet.instances) > 10_000 {
        return Err(c.err(
            &field("surge"),
            format!(
                "a surge of {surge} instances on a fleet of {} is beyond what poolsim models",
                after.fleet.instances
            ),
            "keep fleet.instances + surge at most 10000 (Kubernetes' maxSurge is typically 25% of the fleet)",
        ));
    }
    let optional = |name: &str, value: Option<&String>, default_ms: u64| match value {
        Some(_) => c.duration(&field(name), value, "rolling_restart"),
        None => Ok(SimTime::from_millis(default_ms)),
    };
    Ok(EventAction::RollingRestart {
        batch,
        interval: optional("interval", e.interval.as_ref(), 120_000)?,
        drain: optional("drain", e.drain.as_ref(), 30_000)?,
        surge,
        after: Box::new(after),
    })
}

fn check_alerts(c: &Checker, alerts: &[AlertSection]) -> Result<Vec<AlertRule>, InputError> {
    let mut rules = Vec::new();
    for (i, a) in alerts.iter().enumerate() {
        let m = metric(c.path, c.text, &format!("alerts[{i}].metric"), &a.metric)?;
        if !a.above.is_finite() {
            return Err(c.err(
                &format!("alerts[{i}].above"),
                "`above` must be a number".into(),
                "e.g. above = 5",
            ));
        }
        let hold = parse_duration(&a.hold)
            .map_err(|why| c.err(&format!("alerts[{i}].for"), why, "write e.g. for = \"1m\""))?;
        rules.push(AlertRule {
            name: a.name.clone(),
            metric: m,
            above: a.above,
            hold,
        });
    }
    Ok(rules)
}

fn check_autoscale(c: &Checker, a: &AutoscaleSection) -> Result<AutoscaleSpec, InputError> {
    let m = metric(c.path, c.text, "autoscale.metric", &a.metric)?;
    if !(a.target.is_finite() && a.target > 0.0) {
        return Err(c.err(
            "autoscale.target",
            format!("target must be positive, not {}", a.target),
            "e.g. target = 0.7 for 70% pool utilization",
        ));
    }
    if a.min_instances == 0 || a.min_instances > a.max_instances {
        return Err(c.err(
            "autoscale.min_instances",
            format!(
                "need 1 <= min_instances ({}) <= max_instances ({})",
                a.min_instances, a.max_instances
            ),
            "e.g. min_instances = 6, max_instances = 20",
        ));
    }
    if a.max_instances > 1000 {
        return Err(c.err(
            "autoscale.max_instances",
            format!(
                "{} instances is beyond what poolsim models",
                a.max_instances
            ),
            "use at most 1000",
        ));
    }
    let d = |field: &str, v: &str| {
        parse_duration(v).map_err(|why| c.err(field, why, "write a quoted duration, e.g. \"90s\""))
    };
    Ok(AutoscaleSpec {
        metric: m,
        target: a.target,
        min_instances: a.min_instances,
        max_instances: a.max_instances,
        reaction_delay: d("autoscale.reaction_delay", &a.reaction_delay)?,
        boot_time: d("autoscale.boot_time", &a.boot_time)?,
        cooldown: d("autoscale.cooldown", &a.cooldown)?,
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
    let mut reader = crate::config::input_file::open_regular(&path)
        .map(csv::Reader::from_reader)
        .map_err(|e| {
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
