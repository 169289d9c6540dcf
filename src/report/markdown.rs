//! report.md: an executive summary a planning document can quote, then the detail.
//!
//! The summary comes first (current setting, safe range, recommended value, the
//! growth the current setting carries, what to alert on); tables and charts
//! follow, linked by relative path so the report renders on GitHub as it is.

use std::fmt::Write;

use crate::config::experiment::Experiment;
use crate::config::model::SystemSpec;
use crate::config::timeline::EventAction;
use crate::recommend::{
    describe_capacity, AlertThresholds, CeilingLimit, Recommendations, Scenario,
};
use crate::sweep::PointResult;

use super::charts::UNSTABLE_MARK;
use super::method::{method, unstable_note};
use super::pool_metrics::{pool_metrics, PoolMetrics};

fn growth(g: f64) -> String {
    format!("{g:.2}x")
}

fn ms(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value >= 1000.0 {
        format!("{:.1} s", value / 1000.0)
    } else {
        format!("{value:.0} ms")
    }
}

fn percent(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value > 0.0 && value < 0.0001 {
        "<0.01%".into()
    } else if value < 0.01 {
        format!("{:.2}%", value * 100.0)
    } else {
        format!("{:.1}%", value * 100.0)
    }
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or("none".into(), |v| v.to_string())
}

fn summary(out: &mut String, experiment: &Experiment, rec: &Recommendations, s: &Scenario) {
    let db = &experiment.baseline.database;
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(
        out,
        "- **Current setting:** `{} = {}` on each of {} instances {} (SLO: p99 ≤ {}, error rate ≤ {}).",
        rec.size_path,
        rec.current_pool_size,
        rec.instances,
        s.current
            .as_ref()
            .map_or("was not swept".into(), |c| format!("{}, so it carries **{}**", describe_capacity(c), c.carries.map_or("less than the lowest swept growth".into(), growth))),
        ms(rec.slo_latency_p99_ms),
        percent(rec.slo_error_rate)
    );
    match s.recommended_pool_size {
        Some(r) => {
            let _ = writeln!(
                out,
                "- **Recommended:** `{} = {r}`: {}. Floor {} (the smallest size that carries the planned {} in every condition), ceiling {} ({}).",
                rec.size_path,
                s.recommendation_why,
                opt(s.floor_pool_size),
                growth(rec.planned_growth),
                s.ceiling_pool_size,
                match s.ceiling_limit {
                    CeilingLimit::MaxConnections => "the most the database holds",
                    CeilingLimit::ProxyClients => "the most client connections PgBouncer accepts",
                }
            );
        }
        None => {
            let _ = writeln!(out, "- **Recommended:** none. {}.", s.recommendation_why);
        }
    }
    if let Some(runway) = &s.runway {
        let line = |item: &Option<crate::recommend::runway::RunwayItem>| {
            item.as_ref()
                .map_or("not swept".into(), crate::recommend::runway::describe)
        };
        let _ = writeln!(
            out,
            "- **Runway at {:.1}% growth a month:** today's setting {}; the recommended {}; no pool size helps after {}: {}.",
            runway.monthly_growth * 100.0,
            line(&runway.current),
            line(&runway.recommended),
            line(&runway.any_pool_size),
            runway.binding
        );
    }
    let planned = match s.current_passes_planned_growth {
        Some(true) => format!(
            "the current setting **passes** at the planned growth {}.",
            growth(rec.planned_growth)
        ),
        Some(false) => format!(
            "the current setting **fails** at the planned growth {}: {}.",
            growth(rec.planned_growth),
            s.current_reason.clone().unwrap_or_default()
        ),
        None => format!(
            "not evaluated: {}.",
            s.current_reason.clone().unwrap_or_default()
        ),
    };
    let _ = writeln!(out, "- **Deploy gate (`--check`):** {planned}");
    database_line(out, experiment, rec, s);
    if db.serial > 0.0 || db.crosstalk > 0.0 {
        // Throughput min(n, cores) / (1 + serial (n-1) + crosstalk n (n-1)) rises until n reaches
        // the cores or the USL peak sqrt((1 - serial) / crosstalk), whichever comes first.
        let usl_peak = crate::analytic::usl_peak_concurrency(db.serial, db.crosstalk);
        let peak = usl_peak.min(db.cores as f64);
        let _ = writeln!(
            out,
            "- **Contention:** with {} cores and USL coefficients serial {} and crosstalk {}, database throughput is highest at about {:.0} concurrent statements and falls beyond; more connections than keep that many statements running add waiting inside PostgreSQL, not throughput.",
            db.cores, db.serial, db.crosstalk, peak
        );
    }
    alert_summary(out, s, pool_metrics(experiment.planned_service().pool.kind));
    let _ = writeln!(out);
}

/// The summary's hard limit on the pool size: the database's slots left for these pools,
/// or behind PgBouncer the client connections it accepts.
fn database_line(out: &mut String, experiment: &Experiment, rec: &Recommendations, s: &Scenario) {
    let db = &experiment.baseline.database;
    let neighbours = rec.other_services_connections;
    let slots = (db.max_connections - db.reserved_connections - db.other_connections)
        .saturating_sub(neighbours);
    let fleet = rec.instances + rec.surge_instances;
    if s.ceiling_limit == CeilingLimit::ProxyClients {
        let _ = writeln!(
            out,
            "- **Database:** the pools connect to PgBouncer, so their client connections take no database slot; PgBouncer's server connections do (see the PgBouncer section). Its `max_client_conn` lets {fleet} instances (with surge) hold at most **{}** connections each.",
            s.ceiling_pool_size
        );
        return;
    }
    let _ = writeln!(
        out,
        "- **Database:** max_connections {} − {} reserved − {} other{} = {slots} slots for {fleet} instances{}, so at most **{}** connections per instance with every pool full.",
        db.max_connections,
        db.reserved_connections,
        db.other_connections,
        match neighbours {
            0 => String::new(),
            n => format!(" − {n} for the other services' pools (with their surge)"),
        },
        if rec.surge_instances > 0 { format!(" (including {} surge)", rec.surge_instances) } else { String::new() },
        slots / fleet.max(1)
    );
}

/// What each pool size carries per condition, and what limits it.
fn sizes_table(out: &mut String, rec: &Recommendations, s: &Scenario) {
    let _ = writeln!(out, "## What each pool size carries\n");
    let deploy = match s.sizes.iter().all(|c| c.deploy_simulated) {
        true => format!("and a rolling deploy ({} surge instance(s) with full pools, one batch draining)", rec.surge_instances),
        false => format!("a rolling deploy is not simulated in a `[[services]]` model, but its {} surge instance(s) with full pools count in the connections needed", rec.surge_instances),
    };
    let _ = writeln!(out, "The growth a size carries is the lowest of these conditions: all {} instances serving; {} instance(s) lost, their traffic spread over the rest; {deploy}. Sizes the database cannot hold during a deploy are infeasible, whatever the simulation measured.\n", rec.instances, rec.instance_loss);
    let _ = writeln!(out, "| pool size | connections needed | all instances | instance lost | deploy | carries | limited by |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|");
    let g = |v: Option<f64>| v.map_or("–".to_string(), growth);
    for c in &s.sizes {
        let mark = match (
            Some(c.pool_size) == s.recommended_pool_size,
            c.pool_size == rec.current_pool_size,
        ) {
            (true, true) => " (current, recommended)",
            (true, false) => " (recommended)",
            (false, true) => " (current)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "| {}{mark} | {} | {} | {} | {} | {} | {} |",
            c.pool_size,
            c.connections_needed,
            g(c.carries_normal),
            g(c.carries_instance_lost),
            g(c.carries_deploy),
            if c.feasible {
                format!("**{}**", g(c.carries))
            } else {
                "infeasible".into()
            },
            c.limited_by.replace('|', "/")
        );
    }
    let _ = writeln!(out);
}

/// The alert thresholds of today's and the recommended size (once when they are the same).
fn alert_summary(out: &mut String, s: &Scenario, metrics: PoolMetrics) {
    let same = matches!((&s.alerts_current, &s.alerts_recommended), (Some(c), Some(r)) if c.pool_size == r.pool_size);
    if same {
        if let Some(a) = &s.alerts_current {
            alert_lines(out, "current and recommended", a, metrics);
        }
        return;
    }
    for (label, alerts) in [
        ("current", &s.alerts_current),
        ("recommended", &s.alerts_recommended),
    ] {
        if let Some(a) = alerts {
            alert_lines(out, label, a, metrics);
        }
    }
}

/// The alert thresholds of one pool size, in their units, with the surge replay's lead times.
fn alert_lines(out: &mut String, label: &str, a: &AlertThresholds, m: PoolMetrics) {
    let (Some(u), Some(per_pool), Some(fleet)) = (
        a.utilization_above,
        a.pending_per_pool_above,
        a.pending_fleet_total_above,
    ) else {
        let _ = writeln!(
            out,
            "- **Alert on ({label} size {}):** {}.",
            a.pool_size, a.note
        );
        return;
    };
    let _ = writeln!(
        out,
        "- **Alert on ({label} size {}):** for {:.0}s, pool utilization (`{} / {}`, a fraction of each pool) above {u:.2}, or pending acquisitions (`{}`) above {per_pool} per pool, i.e. above {fleet} summed over the {} instances (the unit of `[[alerts]] metric = \"pool.pending\"`); {}. Ready rules: [alerts.rules.yml](alerts.rules.yml).",
        a.pool_size,
        a.for_s,
        m.active,
        m.max,
        m.pending,
        a.instances,
        a.note
    );
    let Some(r) = &a.replay else { return };
    let breach = match (r.slo_breached_s, r.slo_breached_at_growth) {
        (Some(t), Some(g)) => {
            format!("the SLO first broke in the interval ending at {t:.0} s ({g:.2}x)")
        }
        _ => "the SLO did not break".into(),
    };
    let leads: Vec<String> = r
        .rules
        .iter()
        .map(|l| match (l.lead_time_s, l.fired_s, l.fired_at_growth) {
            (Some(lead), Some(f), Some(g)) => format!(
                "`{}` ({}) fired at {f:.0} s ({g:.2}x), **{lead:.0} s before**",
                l.rule, l.source
            ),
            _ => format!(
                "`{}` ({}): {}",
                l.rule,
                l.source,
                l.note.clone().unwrap_or_default()
            ),
        })
        .collect();
    let ramp_per_minute = (r.to_growth - r.from_growth) / r.ramp_s * 60.0;
    let _ = writeln!(
        out,
        "  - Surge replay (seed {}, {} replication, {}s sample interval): traffic steady at {:.2}x for {:.0} s, then rising to {:.2}x over {:.0} s ({ramp_per_minute:.2}x per minute: lead times in seconds scale inversely with how fast traffic really grows, the growth at firing does not); {breach}; {}.",
        r.seed,
        r.replications,
        r.sample_interval_s,
        r.from_growth,
        r.steady_s,
        r.to_growth,
        r.ramp_s,
        leads.join("; ")
    );
}

fn levels_table(out: &mut String, s: &Scenario) {
    let _ = writeln!(out, "## Recommendations by growth level\n");
    let _ = writeln!(out, "| growth | smallest size meeting SLO | database holds | contention limit | safe range | plan for | floor (every condition) | why not |");
    let _ = writeln!(out, "|---:|---:|---:|---:|:---:|---:|---:|---|");
    for l in &s.levels {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            growth(l.growth),
            opt(l.min_pool_size_meeting_slo),
            l.max_pool_size_database_holds,
            opt(l.contention_limit),
            l.safe_range
                .map_or("none".into(), |[a, b]| format!("{a}–{b}")),
            growth(l.planned_for_growth),
            opt(l.recommended_pool_size),
            l.reason.clone().unwrap_or_default().replace('|', "/")
        );
    }
    let _ = writeln!(out);
}

fn matrix(
    out: &mut String,
    title: &str,
    points: &[&PointResult],
    cell: impl Fn(&PointResult) -> String,
) {
    let mut sizes: Vec<u32> = points.iter().map(|p| p.pool_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut growths: Vec<f64> = points.iter().map(|p| p.growth).collect();
    growths.sort_by(f64::total_cmp);
    growths.dedup();
    let _ = writeln!(out, "### {title}\n");
    let _ = write!(out, "| growth \\ pool size |");
    for s in &sizes {
        let _ = write!(out, " {s} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in &sizes {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out);
    for g in &growths {
        let _ = write!(out, "| {} |", growth(*g));
        for s in &sizes {
            let text = points
                .iter()
                .find(|p| p.pool_size == *s && p.growth == *g)
                .map(|p| cell(p))
                .unwrap_or_default();
            let _ = write!(out, " {text} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
}

/// Renders report.md. `charts` lists chart files (relative to the output directory).
pub fn render(
    experiment: &Experiment,
    rec: &Recommendations,
    points: &[PointResult],
    charts: &[String],
    timelines: &[TimelineFiles],
) -> String {
    let mut out = String::new();
    let b = &experiment.baseline;
    let capacity = crate::sweep::pool_axis(experiment).is_some();
    let kind = if capacity {
        "Capacity review"
    } else if timelines.is_empty() {
        "What-if comparison"
    } else {
        "Timeline replay"
    };
    let _ = writeln!(out, "# {kind}: {} ({})\n", b.name, experiment.name);
    if !b.description.is_empty() {
        let _ = writeln!(out, "_{}_\n", b.description);
    }
    if !timelines.is_empty() {
        timeline_section(&mut out, experiment, points, timelines);
    }
    if let Some(plan) = &rec.services {
        crate::report::services::services_section(&mut out, plan);
    }
    if capacity {
        capacity_sections(&mut out, experiment, rec, points, charts);
    } else if timelines.is_empty() {
        crate::report::variants::variants_section(&mut out, experiment, points);
    }
    crate::report::proxy_section::proxy_section(&mut out, experiment, points);
    method(&mut out, experiment, points);
    out
}

/// The files written for one point's timeline, relative to the output directory.
#[derive(Debug, Clone)]
pub struct TimelineFiles {
    pub point: usize,
    pub label: String,
    pub csv: String,
    pub charts: Vec<String>,
}

fn timeline_section(
    out: &mut String,
    experiment: &Experiment,
    points: &[PointResult],
    timelines: &[TimelineFiles],
) {
    let clock_start = experiment.baseline.simulation.clock_start.as_deref();
    let clock = |s: f64| crate::report::timeline::clock(clock_start, s);
    let interval_s = experiment.baseline.simulation.sample_interval.as_secs_f64();
    phase_table(out, experiment, points, timelines);

    for t in timelines {
        let p = &points[t.point];
        let spec = &experiment.points[t.point].spec;
        let _ = writeln!(out, "### {}\n", t.label);
        let description = &experiment.variants[p.variant].description;
        if !description.is_empty() {
            let _ = writeln!(out, "{description}\n");
        }
        autoscale_note(out, spec, p);
        if !p.alerts.is_empty() || !spec.timeline.alerts.is_empty() {
            let errors = crate::stats::series::first_error_rate_above(
                &p.series,
                interval_s,
                crate::report::timeline::ERROR_RATE_INCIDENT,
            );
            let _ = writeln!(
                out,
                "| alert | fired | cleared | lead before errors passed 1% |"
            );
            let _ = writeln!(out, "|---|---|---|---:|");
            for a in &p.alerts {
                let lead = errors
                    .map(|e| format!("{:.1} min", (e - a.fired_s) / 60.0))
                    .unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {lead} |",
                    a.name,
                    clock(a.fired_s),
                    a.cleared_s.map(clock).unwrap_or_else(|| "never".into())
                );
            }
            if p.alerts.is_empty() {
                let _ = writeln!(out, "| (none fired) | | | |");
            }
            let _ = writeln!(out);
        }
        for chart in t.charts.iter().filter(|c| c.ends_with(".png")) {
            let _ = writeln!(out, "![timeline: {}]({chart})\n", t.label);
        }
        let svgs: Vec<String> = t
            .charts
            .iter()
            .filter(|c| c.ends_with(".svg"))
            .map(|c| format!("[SVG]({c})"))
            .collect();
        let _ = writeln!(
            out,
            "Series: [{}]({}){}\n",
            t.csv,
            t.csv,
            if svgs.is_empty() {
                String::new()
            } else {
                format!(" · {}", svgs.join(" "))
            }
        );
    }
}

fn capacity_sections(
    out: &mut String,
    experiment: &Experiment,
    rec: &Recommendations,
    points: &[PointResult],
    charts: &[String],
) {
    let mut text = String::new();
    let out_inner = &mut text;
    let s = rec.main();
    if !s.fixed.is_empty() {
        let fixed: Vec<String> = s
            .fixed
            .iter()
            .map(|a| format!("{} = {}", a.path, a.value))
            .collect();
        let _ = writeln!(out_inner, "The summary, tables and charts show the scenario {}; recommendations.json has every scenario.\n", fixed.join(", "));
    }
    summary(out_inner, experiment, rec, s);
    sizes_table(out_inner, rec, s);
    super::sensitivity::sensitivity_section(out_inner, s.sensitivity.as_ref());
    levels_table(out_inner, s);

    let _ = writeln!(out_inner, "## Charts\n");
    for chart in charts.iter().filter(|c| c.ends_with(".png")) {
        let title = chart
            .trim_start_matches("charts/")
            .trim_end_matches(".png")
            .replace('-', " ");
        let _ = writeln!(out_inner, "![{title}]({chart})\n");
    }
    let svgs: Vec<String> = charts
        .iter()
        .filter(|c| c.ends_with(".svg"))
        .map(|c| format!("[{}]({c})", c.trim_start_matches("charts/")))
        .collect();
    if !svgs.is_empty() {
        let _ = writeln!(out_inner, "Vector versions: {}\n", svgs.join(", "));
    }

    let fixed_values: Vec<f64> = s.fixed.iter().map(|a| a.value).collect();
    let in_scenario: Vec<&PointResult> = points
        .iter()
        .filter(|p| {
            s.fixed.iter().zip(&fixed_values).all(|(axis, v)| {
                experiment
                    .axis_index(&axis.path)
                    .is_some_and(|i| p.values[i] == *v)
            })
        })
        .collect();
    let _ = writeln!(out_inner, "## Results\n");
    let over = match experiment.adaptive {
        Some(_) => "each point's replications (adaptive: see Method)".to_string(),
        None => format!("{} replications", experiment.replications),
    };
    // An infeasible size fails whatever it measured: say why, as the heat map's DB does.
    let infeasible_note = if in_scenario.iter().any(|p| !p.feasible) {
        "; ✗DB marks a size the database cannot hold with every pool full (the deploy surge included): it fails on max_connections, however good its simulated figures"
    } else {
        ""
    };
    let _ = writeln!(out_inner, "Each cell is the mean over {over}; ✓ means the upper 95% confidence bounds of p99 and error rate are both within the SLO{infeasible_note}.\n");
    matrix(
        out_inner,
        "p99 latency of successful requests",
        &in_scenario,
        |p| {
            format!(
                "{} {}{}{}",
                ms(p.latency_p99_ms.mean),
                if p.slo_pass { "✓" } else { "✗" },
                if p.feasible { "" } else { "DB" },
                if p.unstable_runs > 0 {
                    UNSTABLE_MARK
                } else {
                    ""
                }
            )
        },
    );
    unstable_note(out_inner, experiment, &in_scenario);
    matrix(
        out_inner,
        "Error rate (failed / offered)",
        &in_scenario,
        |p| percent(p.error_rate.mean),
    );
    matrix(
        out_inner,
        "Pool utilization (connections in use / max_size)",
        &in_scenario,
        |p| percent(p.pool_utilization.mean),
    );

    out.push_str(&text);
}

/// With autoscaling: whether the largest fleet's pools still fit in max_connections, and a
/// warning with the cap when they do not.
fn autoscale_note(out: &mut String, spec: &SystemSpec, p: &PointResult) {
    let Some(auto) = &spec.timeline.autoscale else {
        return;
    };
    let db = &spec.database;
    let slots = db.slots_for_fleet();
    // The largest pool any instance gets during the run (rollouts and hot changes included).
    let pool_size = spec
        .timeline
        .events
        .iter()
        .filter_map(|e| match &e.action {
            EventAction::Set { after } | EventAction::RollingRestart { after, .. } => {
                Some(after.pool.max_connections_within(slots))
            }
            _ => None,
        })
        .fold(spec.pool.max_connections_within(slots), u32::max);
    let needed = auto.max_instances * pool_size + db.other_connections + db.reserved_connections;
    if needed > db.max_connections {
        let cap = (db.max_connections - db.other_connections - db.reserved_connections)
            / pool_size.max(1);
        let _ = writeln!(
            out,
            "> **Warning: autoscaling can exhaust the database.** Every new instance brings its own pool: at max_instances = {} the fleet needs {} x {} + {} other + {} reserved = {needed} connections, more than max_connections = {}. Past {cap} instances new pools are refused (SQLSTATE 53300). Cap max_instances at {cap}, lower pool.max_size, or put PgBouncer in front.{}\n",
            auto.max_instances,
            auto.max_instances,
            pool_size,
            db.other_connections,
            db.reserved_connections,
            db.max_connections,
            if p.db_connect_refusals > 0.0 { format!(" In this simulation the database refused {:.0} connects per run.", p.db_connect_refusals) } else { " It did not happen in this simulation, but a larger surge would get there.".into() }
        );
    } else {
        let _ = writeln!(out, "Autoscaling on {} (target {}), {}..{} instances: at most {needed} database connections, within max_connections {}.\n", auto.metric.name(), auto.target, auto.min_instances, auto.max_instances, db.max_connections);
    }
}

/// One row per scenario, one column per postmortem phase: the failed share (with the
/// dominant failure kind) next to the worst interval p99 against the SLO, then the first
/// page, when errors passed 1% and the peaks. A scenario without samples still gets every
/// column.
fn phase_table(
    out: &mut String,
    experiment: &Experiment,
    points: &[PointResult],
    timelines: &[TimelineFiles],
) {
    let clock_start = experiment.baseline.simulation.clock_start.as_deref();
    let clock = |s: f64| crate::report::timeline::clock(clock_start, s);
    let interval_s = experiment.baseline.simulation.sample_interval.as_secs_f64();
    let slo_ms = experiment.slo.latency_p99_ms;
    let _ = writeln!(out, "## Scenarios side by side\n");
    let _ = writeln!(
        out,
        "Mean of {} replications per scenario. Each phase shows failed / finished requests (the failure kind that dominated in brackets) and the worst {}-second p99 of the phase against the SLO of {} ms (✓ within, ✗ above).\n",
        experiment.replications,
        interval_s,
        slo_ms
    );
    let _ = write!(out, "| scenario |");
    for phase in &experiment.phases {
        let _ = write!(
            out,
            " {} ({}–{}) |",
            phase.name,
            clock(phase.from_s),
            clock(phase.to_s)
        );
    }
    let _ = writeln!(
        out,
        " first page | errors > 1% from | peak instances | peak DB connections |"
    );
    let _ = write!(out, "|---|");
    for _ in &experiment.phases {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---|---|---:|---:|");
    let baseline_page = timelines
        .first()
        .and_then(|t| points[t.point].alerts.first().map(|a| a.fired_s));
    for t in timelines {
        let p = &points[t.point];
        let _ = write!(out, "| {} |", t.label);
        for index in 0..experiment.phases.len() {
            let _ = write!(out, " {} |", phase_cell(p.phases.get(index), slo_ms));
        }
        let page = match p.alerts.first() {
            Some(a) => {
                let versus = match baseline_page {
                    Some(b) if (b - a.fired_s).abs() >= 1.0 && t.point != timelines[0].point => {
                        let minutes = (b - a.fired_s) / 60.0;
                        if minutes > 0.0 {
                            format!(", {minutes:.1} min earlier than {}", timelines[0].label)
                        } else {
                            format!(", {:.1} min later than {}", -minutes, timelines[0].label)
                        }
                    }
                    _ => String::new(),
                };
                format!("{} \"{}\"{versus}", clock(a.fired_s), a.name)
            }
            None => "no alert fired".into(),
        };
        let errors = crate::stats::series::first_error_rate_above(
            &p.series,
            interval_s,
            crate::report::timeline::ERROR_RATE_INCIDENT,
        )
        .map(clock)
        .unwrap_or_else(|| "never".into());
        let peak = |f: fn(&crate::stats::series::IntervalSample) -> f64| {
            if p.series.is_empty() {
                "–".to_string()
            } else {
                format!("{:.0}", p.series.iter().map(f).fold(0.0, f64::max))
            }
        };
        let _ = writeln!(
            out,
            " {page} | {errors} | {} | {} |",
            peak(|s| s.instances),
            peak(|s| s.db_connections)
        );
    }
    let _ = writeln!(out);
}

/// "0.12% (acquire_timeout) · p99 1,234 ms ✗", or "no samples" when the scenario recorded
/// no series.
fn phase_cell(phase: Option<&crate::stats::series::PhaseStats>, slo_ms: f64) -> String {
    let Some(phase) = phase else {
        return "no samples".into();
    };
    let kind = phase
        .dominant_failure
        .as_deref()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    let p99 = if phase.worst_p99_ms.is_finite() {
        let verdict = if phase.worst_p99_ms <= slo_ms {
            "✓"
        } else {
            "✗"
        };
        format!("p99 {} {verdict}", ms(phase.worst_p99_ms))
    } else {
        "p99 –".into()
    };
    format!("{}{kind} · {p99}", percent(phase.failed_fraction))
}
