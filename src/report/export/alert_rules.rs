//! `alerts.rules.yml`: the recommended alert thresholds as a ready Prometheus rules
//! file on HikariCP's Micrometer metric names, so the numbers in the report are what
//! gets deployed rather than retyped.
//!
//! One group per pool size the report gives thresholds for (today's and the
//! recommended one); each rule is guarded by `hikaricp_connections_max == size`, so
//! both groups can be loaded and only the one matching the running pool fires. One
//! more group pages on acquisition timeouts, the symptom that the SLO is breaking.
//! Every string is written as a double-quoted YAML scalar (JSON escaping, which
//! YAML's double-quoted style accepts).

use std::fmt::Write;

use anyhow::Result;

use super::{Exporter, ReportInput};
use crate::recommend::AlertThresholds;
use crate::report::output::OutputFile;
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
    alert: &'static str,
    expr: String,
    for_s: f64,
    severity: &'static str,
    summary: String,
    description: String,
    runbook: &'static str,
}

fn write_rule(out: &mut String, rule: &Rule, pool_size: Option<u32>) {
    let _ = writeln!(out, "      - alert: {}", quoted(rule.alert));
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
    let _ = writeln!(out, "          runbook: {}", quoted(rule.runbook));
}

/// The rules of one pool size's thresholds (all three thresholds must be set).
fn size_rules(a: &AlertThresholds) -> Vec<Rule> {
    let guard = format!(
        "and on (pool) (max by (pool) (hikaricp_connections_max) == {})",
        a.pool_size
    );
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
        "Threshold = the simulated state at {} growth (the SLO fails from {} growth at pool.max_size = {}). Surge replay: {lead}.",
        a.warning_growth.map_or("?".into(), |g| format!("{g:.2}x")),
        a.first_failing_growth.map_or("?".into(), |g| format!("{g:.2}x")),
        a.pool_size
    );
    let runbook = "Check the request rate against the capacity review; raise pool.max_size within the database's max_connections, add instances, or shed load before connection timeouts start.";
    let utilization = a.utilization_above.unwrap_or(1.0);
    let per_pool = a.pending_per_pool_above.unwrap_or(0.0);
    let fleet = a.pending_fleet_total_above.unwrap_or(0.0);
    vec![
        Rule {
            alert: "HikariPoolUtilizationHigh",
            expr: format!("(sum by (pool) (hikaricp_connections_active) / sum by (pool) (hikaricp_connections_max) > {utilization}) {guard}"),
            for_s: a.for_s,
            severity: "warning",
            summary: "Connection pool {{ $labels.pool }} is {{ $value | humanizePercentage }} busy across the fleet".into(),
            description: format!("Connections in use / pool capacity, fleet-wide, above {utilization} (a fraction). {context}"),
            runbook,
        },
        Rule {
            alert: "HikariPoolPendingPerPool",
            expr: format!("(max by (pool) (hikaricp_connections_pending) > {per_pool}) {guard}"),
            for_s: a.for_s,
            severity: "warning",
            summary: "Requests are queueing for connections in pool {{ $labels.pool }} ({{ $value }} pending on the busiest instance)".into(),
            description: format!("Pending acquisitions in one instance's pool above {per_pool} (per pool; the busiest instance fires no later than the fleet mean the threshold was measured on). {context}"),
            runbook,
        },
        Rule {
            alert: "HikariPoolPendingFleetTotal",
            expr: format!("(sum by (pool) (hikaricp_connections_pending) > {fleet}) {guard}"),
            for_s: a.for_s,
            severity: "warning",
            summary: "{{ $value }} requests waiting for connections in pool {{ $labels.pool }}, summed over the fleet".into(),
            description: format!("Pending acquisitions summed over the {} instances above {fleet} (the fleet total, like the model's [[alerts]] metric pool.pending). {context}", a.instances),
            runbook,
        },
    ]
}

fn timeout_rule() -> Rule {
    Rule {
        alert: "HikariConnectionTimeouts",
        expr: "sum by (pool) (increase(hikaricp_connections_timeout_total[5m])) > 0".into(),
        for_s: 60.0,
        severity: "critical",
        summary: "Connection acquisitions are timing out in pool {{ $labels.pool }}".into(),
        description: "{{ $value }} acquisitions hit connectionTimeout in the last 5 minutes: requests are failing, the SLO is breaking now.".into(),
        runbook: "Requests fail with SQLTransientConnectionException. Check the database (slow queries, locks, max_connections) and traffic; if the pools are saturated, add capacity as the capacity review recommends.",
    }
}

/// The whole rules file.
pub fn render_rules(model: &str, experiment_path: &str, sizes: &[&AlertThresholds]) -> String {
    let mut out = String::new();
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let (model_line, path_line) = (one_line(model), one_line(experiment_path));
    let _ = writeln!(
        out,
        "# Prometheus alerting rules for {model_line}, from `poolsim sweep {path_line}`."
    );
    let _ = writeln!(out, "# Metrics: HikariCP's Micrometer binder (tag `pool`). Load with `rule_files:`; check with `promtool check rules`.");
    let _ = writeln!(
        out,
        "# Each pool-size group fires only where hikaricp_connections_max equals its size."
    );
    let _ = writeln!(out, "groups:");
    for a in sizes {
        let _ = writeln!(
            out,
            "  - name: {}",
            quoted(&format!("poolsim-{model}-pool-size-{}", a.pool_size))
        );
        let _ = writeln!(out, "    rules:");
        for rule in size_rules(a) {
            write_rule(&mut out, &rule, Some(a.pool_size));
        }
    }
    let _ = writeln!(
        out,
        "  - name: {}",
        quoted(&format!("poolsim-{model}-timeouts"))
    );
    let _ = writeln!(out, "    rules:");
    write_rule(&mut out, &timeout_rule(), None);
    out
}
