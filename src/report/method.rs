//! report.md's notes on how the numbers were measured: the method section (model,
//! points, replications, seeds, how to reproduce), adaptive replications, and the note
//! on unstable points whose percentiles describe a queue that was still growing.
//!
//! Kept apart from markdown.rs, which lays out the findings, so that file stays readable.

use std::fmt::Write;

use crate::config::duration::format_duration;
use crate::config::experiment::Experiment;
use crate::config::model::PoolKind;
use crate::sweep::PointResult;

use super::charts::UNSTABLE_MARK;

/// Below the p99 table: which points were unstable and what that means for their numbers.
pub(super) fn unstable_note(out: &mut String, experiment: &Experiment, points: &[&PointResult]) {
    let unstable: Vec<&&PointResult> = points.iter().filter(|p| p.unstable_runs > 0).collect();
    if unstable.is_empty() {
        return;
    }
    let listed: Vec<String> = unstable
        .iter()
        .map(|p| {
            format!(
                "size {} at {:.2}x ({} of {} replications)",
                p.pool_size, p.growth, p.unstable_runs, experiment.replications
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "{UNSTABLE_MARK} **Unstable:** {}. Offered load exceeded what the pools or the database serve and the backlog kept growing to the horizon, so these percentiles describe a queue that was still growing, not a steady state: a longer horizon would give larger numbers. runs.csv marks each such replication (`unstable`), points.csv counts them (`unstable_runs`).\n",
        listed.join(", ")
    );
}

/// `path` with `.` dropped and each `name/..` folded, on the text alone (no file needs to
/// exist, no link is followed): `experiments/../models/auth.toml` is `models/auth.toml`.
/// A `..` with nothing left to fold (`../x`, or above the root) stays as written.
pub(crate) fn lexically_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(part),
            },
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return std::path::PathBuf::from(".");
    }
    parts.iter().collect()
}

pub(super) fn method(out: &mut String, experiment: &Experiment, points: &[PointResult]) {
    let b = &experiment.baseline;
    let planned = experiment.planned_service();
    let _ = writeln!(out, "## Method\n");
    let pool = match (planned.pool.kind, planned.pool.acquire_timeout) {
        (PoolKind::HikariCp, Some(timeout)) => format!(
            "pool.max_size {} (min_idle {}, acquire_timeout {})",
            planned.pool.size_setting,
            planned.pool.min_idle,
            format_duration(timeout)
        ),
        _ => format!("pool {}", planned.pool.summary()),
    };
    let service = match experiment.focus.name() {
        Some(name) => format!("service `{name}` (the one planned here) "),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "- Model `{}`: {service}{} instances, {pool}, database {} cores, max_connections {}.",
        lexically_normal(&experiment.model.path).display(),
        planned.fleet.instances,
        b.database.cores,
        b.database.max_connections
    );
    let replications = match experiment.adaptive {
        Some(rule) => format!(
            "{} to {} adaptive replications",
            rule.min, experiment.replications
        ),
        None => format!("{} replications", experiment.replications),
    };
    let _ = writeln!(
        out,
        "- {} points x {replications}; horizon {} with the first {} excluded; seed {}. Confidence intervals are Student-t 95% over replications.",
        points.len(),
        format_duration(b.simulation.horizon),
        format_duration(b.simulation.warmup),
        b.simulation.seed
    );
    adaptive_replications(out, experiment, points);
    let _ = writeln!(out, "- Every point uses the same random streams per replication (common random numbers), so differences between pool sizes are not noise in the arrivals.");
    let _ = writeln!(out, "- Reproduce with `poolsim sweep {}`. Raw data: [points.csv](points.csv), [runs.csv](runs.csv), [recommendations.json](recommendations.json).", experiment.path.display());
}

/// With adaptive replications: the rule, how many replications the points got, and
/// which points reached the maximum with their decision still open.
fn adaptive_replications(out: &mut String, experiment: &Experiment, points: &[PointResult]) {
    let Some(rule) = experiment.adaptive else {
        return;
    };
    let mut counts: Vec<u32> = points.iter().map(|p| p.replications).collect();
    counts.sort_unstable();
    let (Some(least), Some(most)) = (counts.first(), counts.last()) else {
        return;
    };
    let median = counts[counts.len() / 2];
    let _ = writeln!(
        out,
        "- Adaptive replications: every point got {}, then {} more at a time while its SLO decision was open (the 95% intervals of p99 and error rate neither wholly on one side of the SLO nor within ±{}% of the mean), up to {}. Points got {least} to {most} replications (median {median}); the reached precision of each is in [points.csv](points.csv).",
        rule.min,
        rule.min,
        rule.precision * 100.0,
        experiment.replications
    );
    let open: Vec<String> = points
        .iter()
        .filter(|p| !p.precision.decided)
        .map(|p| {
            format!(
                "pool {} at {}x (p99 ±{:.0}%, error rate ±{:.0}%)",
                p.pool_size,
                p.growth,
                p.precision.latency_p99 * 100.0,
                p.precision.error_rate * 100.0
            )
        })
        .collect();
    let _ = match open.is_empty() {
        true => writeln!(out, "- Every point's decision was settled."),
        false => writeln!(
            out,
            "- {} point(s) reached {} replications still undecided (judged on the upper bound, as always): {}.",
            open.len(),
            experiment.replications,
            open.join("; ")
        ),
    };
}

#[cfg(test)]
mod tests {
    use super::lexically_normal;
    use std::path::Path;

    #[test]
    fn folds_dot_and_dot_dot_on_the_text() {
        let normal = |p: &str| lexically_normal(Path::new(p)).display().to_string();
        assert_eq!(
            normal("experiments/../models/auth-service.toml"),
            "models/auth-service.toml"
        );
        assert_eq!(normal("./a/./b/../c.toml"), "a/c.toml");
        assert_eq!(normal("../models/x.toml"), "../models/x.toml");
        assert_eq!(normal("a/../../x.toml"), "../x.toml");
        assert_eq!(normal("/srv/../etc/x.toml"), "/etc/x.toml");
        assert_eq!(normal("/../x.toml"), "/x.toml");
        assert_eq!(normal("a/.."), ".");
    }
}
