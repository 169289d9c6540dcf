//! The report's comparison of variants, for experiments that ask "which of these settings
//! is safer?": several `[[variants]]`, no pool-size axis and no timeline to replay.
//!
//! Without it such a report had no results beyond the PgBouncer table (and none at all
//! without a proxy). It gives each variant's error rate and p99 with their 95% intervals
//! and what its failures were, says at each growth level which variants meet the SLO,
//! and names variants whose results came out identical: with common random numbers that
//! means the settings that set them apart never came into play, which a reader comparing
//! two equal rows would otherwise have to guess.

use std::fmt::Write;

use crate::config::experiment::Experiment;
use crate::config::model::FailureKind;
use crate::stats::confidence::Estimate;
use crate::stats::summary::FailureCounts;
use crate::sweep::PointResult;

fn percent(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value < 0.01 {
        format!("{:.2}%", value * 100.0)
    } else {
        format!("{:.1}%", value * 100.0)
    }
}

fn ms(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else {
        format!("{value:.0} ms")
    }
}

/// "mean (lo–hi)", or the mean alone from a single replication.
fn with_interval(e: &Estimate, unit: fn(f64) -> String) -> String {
    let (mean, lo, hi) = (unit(e.mean), unit(e.lo.max(0.0)), unit(e.hi));
    // One replication has no interval, and one too narrow to show is left out.
    if e.samples > 1 && e.lo.is_finite() && e.hi.is_finite() && !(lo == mean && hi == mean) {
        format!("{mean} ({lo}–{hi})")
    } else {
        mean
    }
}

/// The failure kinds with their shares of all failures, largest first: "rejected 100%".
pub fn failure_mix(failures: &FailureCounts) -> String {
    let total = failures.total();
    if total == 0 {
        return "none".into();
    }
    let mut kinds: Vec<(FailureKind, u64)> = FailureKind::ALL
        .into_iter()
        .chain([FailureKind::BacklogFull])
        .map(|kind| (kind, failures.get(kind)))
        .filter(|&(_, count)| count > 0)
        .collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name().cmp(b.0.name())));
    kinds
        .iter()
        .map(|(kind, count)| {
            let share = *count as f64 / total as f64 * 100.0;
            match share < 1.0 {
                true => format!("{} <1%", kind.name()),
                false => format!("{} {share:.0}%", kind.name()),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict(p: &PointResult) -> &'static str {
    if !p.feasible {
        "✗ connections exceed the database's limit"
    } else if p.unstable_runs > 0 && !p.simulated_slo_pass {
        "✗ unstable"
    } else if p.simulated_slo_pass {
        "✓"
    } else {
        "✗"
    }
}

/// The report's "Variants compared" section.
pub fn variants_section(out: &mut String, experiment: &Experiment, points: &[PointResult]) {
    let slo = &experiment.slo;
    let heading = match experiment.variants.len() > 1 {
        true => "Variants compared",
        false => "Results",
    };
    let _ = writeln!(out, "## {heading}\n");
    let _ = writeln!(
        out,
        "SLO: p99 ≤ {}, error rate ≤ {}; a variant meets it when the upper ends of both 95% \
         intervals do, and when the database can hold all its connections. Every variant \
         runs on the same random streams, so differences between rows come from the \
         settings, not from noise in the arrivals.\n",
        ms(slo.latency_p99_ms),
        percent(slo.error_rate)
    );
    // Axes other than growth (say `database.cores`) get a column each.
    let axes = other_axes(experiment);
    let axis_cells = |p: &PointResult| -> String {
        axes.iter()
            .map(|&a| format!(" {} |", p.values[a]))
            .collect()
    };
    let _ = writeln!(
        out,
        "| variant |{} growth | error rate (95% CI) | p99 (95% CI) | meets SLO | failures |",
        axes.iter()
            .map(|&a| format!(" `{}` |", experiment.axes[a].path))
            .collect::<String>()
    );
    let _ = writeln!(
        out,
        "|---|{}---:|---|---|---|---|",
        "---:|".repeat(axes.len())
    );
    for p in points {
        let _ = writeln!(
            out,
            "| {} |{} {}x | {} | {} | {} | {} |",
            experiment.variants[p.variant].name,
            axis_cells(p),
            p.growth,
            with_interval(&p.error_rate, percent),
            with_interval(&p.latency_p99_ms, ms),
            verdict(p),
            failure_mix(&p.failures),
        );
    }
    let _ = writeln!(out);
    for (at, verdict) in growth_verdicts(experiment, points) {
        let _ = writeln!(out, "- **At {at}:** {verdict}.");
    }
    for line in identical_variants(experiment, points) {
        let _ = writeln!(out, "- **Identical results:** {line}.");
    }
    let _ = writeln!(out);
}

/// What `poolsim sweep` prints for a what-if comparison: the report's verdicts, one a line.
pub fn verdict_lines(experiment: &Experiment, points: &[PointResult]) -> Vec<String> {
    let growths = growth_verdicts(experiment, points)
        .into_iter()
        .map(|(at, verdict)| format!("at {at}: {verdict}"));
    let identical = identical_variants(experiment, points)
        .into_iter()
        .map(|line| format!("identical results: {line}"));
    growths.chain(identical).collect()
}

/// The axes other than traffic growth, in the experiment's order.
fn other_axes(experiment: &Experiment) -> Vec<usize> {
    let growth = crate::sweep::growth_axis(experiment);
    (0..experiment.axes.len())
        .filter(|&a| Some(a) != growth)
        .collect()
}

/// Where the variants are compared: "2.5x", or "2.5x, `database.cores` = 16" with other axes.
fn comparison_label(experiment: &Experiment, axes: &[usize], p: &PointResult) -> String {
    let mut label = format!("{}x", p.growth);
    for &a in axes {
        label.push_str(&format!(
            ", `{}` = {}",
            experiment.axes[a].path, p.values[a]
        ));
    }
    label
}

/// Per growth level (ascending; with other axes, per combination of their values): which
/// variants meet the SLO, and the lowest error rate. Returns (where, verdict).
fn growth_verdicts(experiment: &Experiment, points: &[PointResult]) -> Vec<(String, String)> {
    let axes = other_axes(experiment);
    let key = |p: &PointResult| -> Vec<f64> {
        std::iter::once(p.growth)
            .chain(axes.iter().map(|&a| p.values[a]))
            .collect()
    };
    let mut keys: Vec<Vec<f64>> = points.iter().map(key).collect();
    keys.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                o.then(x.total_cmp(y))
            })
    });
    keys.dedup();
    let mut verdicts = Vec::new();
    for k in keys {
        let at: Vec<&PointResult> = points.iter().filter(|p| key(p) == k).collect();
        // Quoted: variant names may hold commas.
        let name = |p: &PointResult| format!("\"{}\"", experiment.variants[p.variant].name);
        let passing: Vec<String> = at.iter().filter(|p| p.slo_pass).map(|p| name(p)).collect();
        let best = at.iter().min_by(|a, b| {
            a.error_rate
                .mean
                .total_cmp(&b.error_rate.mean)
                .then(a.latency_p99_ms.mean.total_cmp(&b.latency_p99_ms.mean))
        });
        let meets = if passing.is_empty() {
            "no variant meets the SLO".to_string()
        } else if passing.len() == at.len() && at.len() > 1 {
            "every variant meets the SLO".to_string()
        } else {
            format!("meets the SLO: {}", passing.join(", "))
        };
        let lowest = best.map_or(String::new(), |p| {
            format!(
                "; lowest error rate: {} ({}, p99 {})",
                name(p),
                percent(p.error_rate.mean),
                ms(p.latency_p99_ms.mean)
            )
        });
        verdicts.push((
            comparison_label(experiment, &axes, at[0]),
            format!("{meets}{lowest}"),
        ));
    }
    verdicts
}

/// Whether two points' results are the same to the bit (so their runs behaved alike).
/// PgBouncer's refused client connects count too: pools cut short by `max_client_conn`
/// can serve the same requests, yet the setting came into play.
fn same_results(a: &PointResult, b: &PointResult) -> bool {
    let refused = |p: &PointResult| -> Vec<Option<u64>> {
        std::iter::once(&p.proxy)
            .chain(p.services.iter().map(|s| &s.proxy))
            .map(|x| x.as_ref().map(|x| x.refused_connects.to_bits()))
            .collect()
    };
    a.error_rate.mean.to_bits() == b.error_rate.mean.to_bits()
        && a.latency_p99_ms.mean.to_bits() == b.latency_p99_ms.mean.to_bits()
        && a.throughput_rps.mean.to_bits() == b.throughput_rps.mean.to_bits()
        && a.failures == b.failures
        && refused(a) == refused(b)
}

/// One sentence per group of variants whose results were identical at every growth
/// level, naming the settings that set them apart.
fn identical_variants(experiment: &Experiment, points: &[PointResult]) -> Vec<String> {
    let mut lines = Vec::new();
    let of = |variant: usize| -> Vec<&PointResult> {
        points.iter().filter(|p| p.variant == variant).collect()
    };
    let count = experiment.variants.len();
    let mut grouped = vec![false; count];
    for first in 0..count {
        if grouped[first] {
            continue;
        }
        let mine = of(first);
        let twins: Vec<usize> = (first + 1..count)
            .filter(|&other| {
                let theirs = of(other);
                !grouped[other]
                    && !mine.is_empty()
                    && mine.len() == theirs.len()
                    && mine.iter().zip(&theirs).all(|(a, b)| same_results(a, b))
            })
            .collect();
        if twins.is_empty() {
            continue;
        }
        let group: Vec<usize> = std::iter::once(first).chain(twins).collect();
        for &member in &group {
            grouped[member] = true;
        }
        let names: Vec<String> = group
            .iter()
            .map(|&v| format!("\"{}\"", experiment.variants[v].name))
            .collect();
        let settings = differing_settings(experiment, &group);
        let failures: Vec<String> = mine
            .iter()
            .filter(|p| p.failures.total() > 0)
            .map(|p| {
                let at = comparison_label(experiment, &other_axes(experiment), p);
                format!("{} at {at}", failure_mix(&p.failures))
            })
            .collect();
        let mut line = format!(
            "{} gave the same error rate, p99 and failures at every growth level: the \
             settings that set them apart ({settings}) never came into play in these runs",
            names.join(" and "),
        );
        if !failures.is_empty() {
            line.push_str(&format!(". Their failures: {}", failures.join("; ")));
        }
        lines.push(line);
    }
    lines
}

/// The override paths on which the variants of `group` differ, as "`a`, `b`".
fn differing_settings(experiment: &Experiment, group: &[usize]) -> String {
    let value_of = |variant: usize, path: &str| {
        experiment.variants[variant]
            .overrides
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.to_string())
    };
    let mut paths: Vec<&str> = group
        .iter()
        .flat_map(|&v| {
            experiment.variants[v]
                .overrides
                .iter()
                .map(|(p, _)| p.as_str())
        })
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths.retain(|path| {
        let first = value_of(group[0], path);
        group.iter().any(|&v| value_of(v, path) != first)
    });
    match paths.is_empty() {
        true => "none: their settings are the same".into(),
        false => paths
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_mix_lists_kinds_largest_first_with_their_shares() {
        let mut failures = FailureCounts::default();
        assert_eq!(failure_mix(&failures), "none");
        failures.rejected = 300;
        failures.acquire_timeout = 699;
        failures.backlog_full = 1;
        assert_eq!(
            failure_mix(&failures),
            "acquire_timeout 70%, rejected 30%, backlog_full <1%"
        );
    }

    #[test]
    fn failure_counts_add_up_and_keep_absent_proxy_kinds_absent() {
        let mut sum = FailureCounts::default();
        let one = FailureCounts {
            rejected: 2,
            client_timeout: 1,
            ..FailureCounts::default()
        };
        sum.add(&one);
        sum.add(&one);
        assert_eq!((sum.rejected, sum.client_timeout, sum.total()), (4, 2, 6));
        assert_eq!(sum.proxy_refused, None);
        sum.add(&FailureCounts {
            proxy_refused: Some(3),
            ..FailureCounts::default()
        });
        assert_eq!((sum.proxy_refused, sum.total()), (Some(3), 9));
    }
}
