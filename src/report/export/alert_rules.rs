//! `alerts.rules.yml`: the recommended alert thresholds as a ready Prometheus rules
//! file on the pool library's metric names (`report::pool_metrics`: HikariCP's
//! Micrometer names, or OpenTelemetry's for the other kinds), so the numbers in the
//! report are what gets deployed rather than retyped.
//!
//! One group per pool size the report gives thresholds for (today's and the
//! recommended one); each rule is guarded by the pool's limit gauge (e.g.
//! `hikaricp_connections_max == size`), so both groups can be loaded and only the one
//! matching the running pool fires (an unbounded pool has no limit to guard on). One
//! more group pages on acquisition timeouts, the symptom that the SLO is breaking.
//! Every string is written as a double-quoted YAML scalar (JSON escaping, which
//! YAML's double-quoted style accepts).

use std::fmt::Write;

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::config::model::PoolSpec;
use crate::recommend::AlertThresholds;
use crate::report::output::OutputFile;
use crate::report::pool_metrics::{limit_gauge_value, pool_metrics, PoolMetrics};
use crate::sim::time::{format_duration, SimTime};

pub struct AlertRules;

/// The file's name, as the Markdown report links it.
pub const ALERT_RULES_FILE: &str = "alerts.rules.yml";

impl Exporter for AlertRules {
    fn name(&self) -> &'static str {
        ALERT_RULES_FILE
    }

    fn render(&self, input: &ReportInput, _earlier: &[OutputFile]) -> Result<Vec<OutputFile>> {
        let rec = input.recommendations;
        let scenario = rec.main();
        let mut sizes: Vec<&AlertThresholds> = Vec::new();
        for a in [&scenario.alerts_current, &scenario.alerts_recommended]
            .into_iter()
            .flatten()
        {
            if a.utilization_above.is_some() && sizes.iter().all(|s| s.pool_size != a.pool_size) {
                sizes.push(a);
            }
        }
        let text = render_rules(
            &rec.model,
            &input.experiment.path.display().to_string(),
            &input.experiment.baseline.pool,
            &sizes,
        );
        Ok(vec![OutputFile::new(ALERT_RULES_FILE, text.into_bytes())])
    }
}

/// A double-quoted YAML scalar.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Prometheus duration for whole seconds ("1m", "1m30s"; Prometheus takes no fractions).
fn prometheus_duration(seconds: f64) -> String {
    format_duration(SimTime::from_secs_f64(seconds.round().max(0.0)))
}

struct Rule {
    alert: String,
    expr: String,
    for_s: f64,
    severity: &'static str,
    summary: String,
    description: String,
    runbook: String,
}

fn write_rule(out: &mut String, rule: &Rule, pool_size: Option<u32>) {
    let _ = writeln!(out, "      - alert: {}", quoted(&rule.alert));
    let _ = writeln!(out, "        expr: {}", quoted(&rule.expr));
    let _ = writeln!(
        out,
        "        for: {}",
        quoted(&prometheus_duration(rule.for_s))
    );
    let _ = writeln!(out, "        labels:");
    let _ = writeln!(out, "          severity: {}", quoted(rule.severity));
    if let Some(size) = pool_size {
        let _ = writeln!(out, "          pool_size: {}", quoted(&size.to_string()));
    }
    let _ = writeln!(out, "        annotations:");
    let _ = writeln!(out, "          summary: {}", quoted(&rule.summary));
    let _ = writeln!(out, "          description: {}", quoted(&rule.description));
    let _ = writeln!(out, "          runbook: {}", quoted(&rule.runbook));
}

/// The rules of one pool size's thresholds (all three thresholds must be set).
fn size_rules(a: &AlertThresholds, pool: &PoolSpec) -> Vec<Rule> {
    let m = pool_metrics(pool.kind);
    let by = m.pool_label;
    let guard = limit_gauge_value(pool, a.pool_size).map_or(String::new(), |limit| {
        format!("and on ({by}) (max by ({by}) ({}) == {limit})", m.max)
    });
    let lead = match a.replay.as_ref().map(|r| &r.rules) {
        Some(rules) => rules
            .iter()
            .filter(|l| l.source == "threshold")
            .map(|l| match l.lead_time_s {
                Some(s) => format!("{}: {s:.0} s lead", l.rule),
                None => format!("{}: no lead", l.rule),
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => "not replayed".into(),
    };
    let context = format!(
        "Threshold = the simulated state at {} growth (the SLO fails from {} growth at {} = {}). Surge replay: {lead}.",
        a.warning_growth.map_or("?".into(), |g| format!("{g:.2}x")),
        a.first_failing_growth.map_or("?".into(), |g| format!("{g:.2}x")),
        pool.kind.size_path(),
        a.pool_size
    );
    let runbook = format!("Check the request rate against the capacity review; raise {} within the database's max_connections, add instances, or shed load before connection timeouts start.", pool.kind.size_path());
    let utilization = a.utilization_above.unwrap_or(1.0);
    let per_pool = a.pending_per_pool_above.unwrap_or(0.0);
    let fleet = a.pending_fleet_total_above.unwrap_or(0.0);
    let mut rules = vec![
        Rule {
            alert: format!("{}UtilizationHigh", m.alert_prefix),
            expr: format!("(sum by ({by}) ({}) / sum by ({by}) ({}) > {utilization}) {guard}", m.active, m.max),
            for_s: a.for_s,
            severity: "warning",
            summary: format!("Connection pool {{{{ $labels.{by} }}}} is {{{{ $value | humanizePercentage }}}} busy across the fleet"),
            description: format!("Connections in use / pool capacity, fleet-wide, above {utilization} (a fraction). {context}"),
            runbook: runbook.clone(),
        },
        Rule {
            alert: format!("{}PendingPerPool", m.alert_prefix),
            expr: format!("(max by ({by}) ({}) > {per_pool}) {guard}", m.pending),
            for_s: a.for_s,
            severity: "warning",
            summary: format!("Requests are queueing for connections in pool {{{{ $labels.{by} }}}} ({{{{ $value }}}} pending on the busiest instance)"),
            description: format!("Pending acquisitions in one instance's pool above {per_pool} (per pool; the busiest instance fires no later than the fleet mean the threshold was measured on). {context}"),
            runbook: runbook.clone(),
        },
        Rule {
            alert: format!("{}PendingFleetTotal", m.alert_prefix),
            expr: format!("(sum by ({by}) ({}) > {fleet}) {guard}", m.pending),
            for_s: a.for_s,
            severity: "warning",
            summary: format!("{{{{ $value }}}} requests waiting for connections in pool {{{{ $labels.{by} }}}}, summed over the fleet"),
            description: format!("Pending acquisitions summed over the {} instances above {fleet} (the fleet total, like the model's [[alerts]] metric pool.pending). {context}", a.instances),
            runbook: runbook.clone(),
        },
    ];
    if pool.max_connections().is_none() {
        // An unbounded pool has no capacity to be a fraction of.
        rules.remove(0);
    }
    rules
}

fn timeout_rule(pool: &PoolSpec) -> Rule {
    let m = pool_metrics(pool.kind);
    let by = m.pool_label;
    let (limit, exception) = match pool.kind {
        crate::config::model::PoolKind::HikariCp => (
            "connectionTimeout",
            "Requests fail with SQLTransientConnectionException. ",
        ),
        _ => ("the pool's acquire timeout", ""),
    };
    Rule {
        alert: format!("{}ConnectionTimeouts", m.alert_prefix),
        expr: format!("sum by ({by}) (increase({}[5m])) > 0", m.timeouts_total),
        for_s: 60.0,
        severity: "critical",
        summary: format!("Connection acquisitions are timing out in pool {{{{ $labels.{by} }}}}"),
        description: format!("{{{{ $value }}}} acquisitions hit {limit} in the last 5 minutes: requests are failing, the SLO is breaking now."),
        runbook: format!("{exception}Check the database (slow queries, locks, max_connections) and traffic; if the pools are saturated, add capacity as the capacity review recommends."),
    }
}

/// The whole rules file, on the metrics of `pool`'s library.
pub fn render_rules(
    model: &str,
    experiment_path: &str,
    pool: &PoolSpec,
    sizes: &[&AlertThresholds],
) -> String {
    let m: PoolMetrics = pool_metrics(pool.kind);
    let mut out = String::new();
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let (model_line, path_line) = (one_line(model), one_line(experiment_path));
    let _ = writeln!(
        out,
        "# Prometheus alerting rules for {model_line}, from `poolsim sweep {path_line}`."
    );
    let _ = writeln!(
        out,
        "# Metrics: {}. Load with `rule_files:`; check with `promtool check rules`.",
        m.source
    );
    if pool.max_connections().is_some() {
        let _ = writeln!(
            out,
            "# Each pool-size group fires only where {} equals its pool's limit.",
            m.max
        );
    }
    let _ = writeln!(out, "groups:");
    for a in sizes {
        let _ = writeln!(
            out,
            "  - name: {}",
            quoted(&format!("poolsim-{model}-pool-size-{}", a.pool_size))
        );
        let _ = writeln!(out, "    rules:");
        for rule in size_rules(a, pool) {
            write_rule(&mut out, &rule, Some(a.pool_size));
        }
    }
    let _ = writeln!(
        out,
        "  - name: {}",
        quoted(&format!("poolsim-{model}-timeouts"))
    );
    let _ = writeln!(out, "    rules:");
    write_rule(&mut out, &timeout_rule(pool), None);
    out
}
