//! report.md: an executive summary a planning document can quote, then the detail.
//!
//! The summary comes first (current setting, safe range, recommended value, the
//! growth the current setting carries, what to alert on); tables and charts
//! follow, linked by relative path so the report renders on GitHub as it is.

use std::fmt::Write;

use crate::config::duration::format_duration;
use crate::config::experiment::Experiment;
use crate::recommend::{Recommendations, Scenario};
use crate::sweep::PointResult;

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
    let today = experiment.baseline.traffic.growth;
    let _ = writeln!(out, "## Summary\n");
    let carries = match s.current_carries_growth {
        Some(g) => format!("meets the SLO up to **{}** of today's traffic", growth(g)),
        None => "**fails the SLO at every swept growth level**".into(),
    };
    let _ = writeln!(
        out,
        "- **Current setting:** `pool.max_size = {}` on each of {} instances {carries} (SLO: p99 ≤ {}, error rate ≤ {}).",
        rec.current_pool_size,
        rec.instances,
        ms(rec.slo_latency_p99_ms),
        percent(rec.slo_error_rate)
    );
    if let Some(level) = Recommendations::level_at_or_above(s, today) {
        match level.safe_range {
            Some([lo, hi]) => {
                let _ = writeln!(
                    out,
                    "- **Safe range at {}:** {lo} to {hi} connections per instance.",
                    growth(level.growth)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "- **Safe range at {}:** none. {}",
                    growth(level.growth),
                    level.reason.clone().unwrap_or_default()
                );
            }
        }
        match level.recommended_pool_size {
            Some(size) => {
                let _ = writeln!(
                    out,
                    "- **Recommended:** `pool.max_size = {size}`, sized for {} ({} plus {:.0}% headroom).",
                    growth(level.planned_for_growth),
                    growth(level.growth),
                    rec.headroom * 100.0
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "- **Recommended:** no safe value for {}. {}",
                    growth(level.planned_for_growth),
                    level.reason.clone().unwrap_or_default()
                );
            }
        }
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
    let slots = db.max_connections - db.reserved_connections - db.other_connections;
    let fleet = rec.instances + rec.surge_instances;
    let _ = writeln!(
        out,
        "- **Database:** max_connections {} − {} reserved − {} other = {slots} slots for {fleet} instances{}, so at most **{}** connections per instance with every pool full.",
        db.max_connections,
        db.reserved_connections,
        db.other_connections,
        if rec.surge_instances > 0 { format!(" (including {} surge)", rec.surge_instances) } else { String::new() },
        slots / fleet.max(1)
    );
    for (label, alerts) in [
        ("current", &s.alerts_current),
        ("recommended", &s.alerts_recommended),
    ] {
        if let Some(a) = alerts {
            match (a.pool_utilization_above, a.pool_pending_above) {
                (Some(u), Some(p)) => {
                    let _ = writeln!(
                        out,
                        "- **Alert on ({label} size {}):** pool utilization above {} or more than {p:.1} pending acquisitions per pool, for 1m ({}).",
                        a.pool_size,
                        percent(u),
                        a.note
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "- **Alert on ({label} size {}):** {}.",
                        a.pool_size, a.note
                    );
                }
            }
        }
    }
    let _ = writeln!(out);
}

fn levels_table(out: &mut String, s: &Scenario) {
    let _ = writeln!(out, "## Recommendations by growth level\n");
    let _ = writeln!(out, "| growth | smallest size meeting SLO | database holds | contention limit | safe range | plan for | recommended | why not |");
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
) -> String {
    let mut out = String::new();
    let b = &experiment.baseline;
    let _ = writeln!(out, "# Capacity review: {} ({})\n", b.name, experiment.name);
    if !b.description.is_empty() {
        let _ = writeln!(out, "_{}_\n", b.description);
    }
    let s = rec.main();
    if !s.fixed.is_empty() {
        let fixed: Vec<String> = s
            .fixed
            .iter()
            .map(|a| format!("{} = {}", a.path, a.value))
            .collect();
        let _ = writeln!(out, "The summary, tables and charts show the scenario {}; recommendations.json has every scenario.\n", fixed.join(", "));
    }
    summary(&mut out, experiment, rec, s);
    levels_table(&mut out, s);

    let _ = writeln!(out, "## Charts\n");
    for chart in charts.iter().filter(|c| c.ends_with(".png")) {
        let title = chart
            .trim_start_matches("charts/")
            .trim_end_matches(".png")
            .replace('-', " ");
        let _ = writeln!(out, "![{title}]({chart})\n");
    }
    let svgs: Vec<String> = charts
        .iter()
        .filter(|c| c.ends_with(".svg"))
        .map(|c| format!("[{}]({c})", c.trim_start_matches("charts/")))
        .collect();
    if !svgs.is_empty() {
        let _ = writeln!(out, "Vector versions: {}\n", svgs.join(", "));
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
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(out, "Each cell is the mean over {} replications; ✓ means the upper 95% confidence bounds of p99 and error rate are both within the SLO.\n", experiment.replications);
    matrix(
        &mut out,
        "p99 latency of successful requests",
        &in_scenario,
        |p| {
            format!(
                "{} {}",
                ms(p.latency_p99_ms.mean),
                if p.slo_pass { "✓" } else { "✗" }
            )
        },
    );
    matrix(
        &mut out,
        "Error rate (failed / offered)",
        &in_scenario,
        |p| percent(p.error_rate.mean),
    );
    matrix(
        &mut out,
        "Pool utilization (connections in use / max_size)",
        &in_scenario,
        |p| percent(p.pool_utilization.mean),
    );

    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "- Model `{}`: {} instances, pool.max_size {} (min_idle {}, acquire_timeout {}), database {} cores, max_connections {}.",
        experiment.model.path.display(),
        b.fleet.instances,
        b.pool.max_size,
        b.pool.min_idle,
        format_duration(b.pool.acquire_timeout),
        b.database.cores,
        b.database.max_connections
    );
    let _ = writeln!(
        out,
        "- {} points x {} replications; horizon {} with the first {} excluded; seed {}. Confidence intervals are Student-t 95% over replications.",
        points.len(),
        experiment.replications,
        format_duration(b.simulation.horizon),
        format_duration(b.simulation.warmup),
        b.simulation.seed
    );
    let _ = writeln!(out, "- Every point uses the same random streams per replication (common random numbers), so differences between pool sizes are not noise in the arrivals.");
    let _ = writeln!(out, "- Reproduce with `poolsim sweep {}`. Raw data: [points.csv](points.csv), [runs.csv](runs.csv), [recommendations.json](recommendations.json).", experiment.path.display());
    out
}
