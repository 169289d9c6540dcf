//! runs.csv (every replication, every summary field) and points.csv (aggregated).
//!
//! Numbers are written with Rust's shortest round-trip formatting, so the files
//! are byte-identical for identical results; wall-clock fields are left out.

use serde_json::Value;

use crate::config::experiment::Experiment;
use crate::stats::confidence::Estimate;
use crate::sweep::{PointResult, Run};

fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        String::new()
    }
}

/// Flattens a JSON object into (dotted key, value) pairs.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::Number(n) => out.push((
            prefix.to_string(),
            n.as_f64().map(number).unwrap_or_else(|| n.to_string()),
        )),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The columns that identify a point: the variant (when named), then each swept path.
fn point_header(experiment: &Experiment) -> Vec<String> {
    let mut header = Vec::new();
    if experiment.has_variants() {
        header.push("variant".to_string());
    }
    header.extend(experiment.axes.iter().map(|a| a.path.clone()));
    header
}

fn point_row(experiment: &Experiment, variant: usize, values: &[f64]) -> Vec<String> {
    let mut row = Vec::new();
    if experiment.has_variants() {
        row.push(experiment.variants[variant].name.clone());
    }
    row.extend(values.iter().map(|v| number(*v)));
    row
}

/// Summary fields that depend on the machine, not the model: excluded so outputs are reproducible.
const MACHINE_DEPENDENT: [&str; 1] = ["wall_seconds"];

pub fn runs_csv(experiment: &Experiment, runs: &[Run]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        let mut fields = Vec::new();
        let mut whole = serde_json::to_value(&run.summary)?;
        // Each service of a `[[services]]` model gets its columns as services.<name>.<field>.
        let services = whole.as_object_mut().and_then(|o| o.remove("services"));
        flatten("", &whole, &mut fields);
        for service in services
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = service["name"].as_str().unwrap_or_default();
            let mut own = service.clone();
            if let Some(o) = own.as_object_mut() {
                o.remove("name");
                if let Some(Value::Object(summary)) = o.get_mut("summary") {
                    summary.remove("unstable");
                    summary.remove("events_processed");
                    summary.remove("wall_seconds");
                }
            }
            flatten(&format!("services.{name}"), &own, &mut fields);
        }
        fields.retain(|(k, _)| !MACHINE_DEPENDENT.contains(&k.as_str()));
        // The instability details appear only in unstable runs; a fixed column marks them.
        fields.retain(|(k, _)| !k.starts_with("unstable."));
        fields.push((
            "unstable".into(),
            run.summary.unstable.is_some().to_string(),
        ));
        rows.push(fields);
    }
    // Columns: the first run's, then any key only later runs have (a variant with a
    // `[proxy]` after one without); a run without a column leaves it empty.
    let mut columns: Vec<String> = Vec::new();
    for fields in &rows {
        for (key, _) in fields {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    if !rows.is_empty() {
        let mut header = point_header(experiment);
        header.push("replication".into());
        header.extend(columns.iter().cloned());
        writer.write_record(&header)?;
    }
    for (run, fields) in runs.iter().zip(rows) {
        let point = &experiment.points[run.point];
        let mut row = point_row(experiment, point.variant, &point.values);
        row.push(run.replication.to_string());
        row.extend(columns.iter().map(|column| {
            fields
                .iter()
                .find(|(k, _)| k == column)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }));
        writer.write_record(&row)?;
    }
    Ok(writer.into_inner()?)
}

/// Reads one aggregated metric of a point.
pub type MetricAccessor = fn(&PointResult) -> Estimate;

/// The aggregated metrics of points.csv, in column order: (name, accessor).
pub fn point_metrics() -> Vec<(&'static str, MetricAccessor)> {
    vec![
        ("latency_p99_ms", |p| p.latency_p99_ms),
        ("latency_p50_ms", |p| p.latency_p50_ms),
        ("error_rate", |p| p.error_rate),
        ("pool_wait_mean_ms", |p| p.pool_wait_mean_ms),
        ("p_wait", |p| p.p_wait),
        ("pool_pending", |p| p.pool_pending),
        ("pool_utilization", |p| p.pool_utilization),
        ("db_utilization", |p| p.db_utilization),
        ("throughput_rps", |p| p.throughput_rps),
        ("attempts_per_request", |p| p.attempts_per_request),
    ]
}

pub fn points_csv(experiment: &Experiment, points: &[PointResult]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = point_header(experiment);
    header.extend(["pool_size", "growth", "instances"].map(String::from));
    for (name, _) in point_metrics() {
        header.extend([
            format!("{name}.mean"),
            format!("{name}.ci95_lo"),
            format!("{name}.ci95_hi"),
        ]);
    }
    header.extend(
        [
            "peak_db_connections",
            "fleet_connections",
            "max_connections",
            "surge_instances",
            "feasible",
            "simulated_slo_pass",
            "slo_pass",
            "unstable_runs",
        ]
        .map(String::from),
    );
    let adaptive = experiment.adaptive.is_some();
    if adaptive {
        header.extend(
            [
                "replications",
                "latency_p99_rel_precision",
                "error_rate_rel_precision",
                "decided",
            ]
            .map(String::from),
        );
    }
    if let Some(first) = points.first() {
        header.extend(service_header(first));
    }
    let proxy = crate::report::proxy_section::proxy_columns(points);
    if let Some((columns, _)) = &proxy {
        header.extend(columns.iter().cloned());
    }
    let service_proxies = crate::report::proxy_section::service_proxy_columns(points);
    if let Some((columns, _)) = &service_proxies {
        header.extend(columns.iter().cloned());
    }
    writer.write_record(&header)?;
    for (index, p) in points.iter().enumerate() {
        let mut row = point_row(experiment, p.variant, &p.values);
        row.extend([
            p.pool_size.to_string(),
            number(p.growth),
            p.instances.to_string(),
        ]);
        for (_, metric) in point_metrics() {
            let e = metric(p);
            row.extend([number(e.mean), number(e.lo), number(e.hi)]);
        }
        row.extend([
            p.peak_db_connections.to_string(),
            p.fleet_connections.to_string(),
            p.max_connections.to_string(),
            p.surge_instances.to_string(),
            p.feasible.to_string(),
            p.simulated_slo_pass.to_string(),
            p.slo_pass.to_string(),
            p.unstable_runs.to_string(),
        ]);
        if adaptive {
            row.extend([
                p.replications.to_string(),
                number(p.precision.latency_p99),
                number(p.precision.error_rate),
                p.precision.decided.to_string(),
            ]);
        }
        row.extend(service_row(p));
        for (_, cells) in proxy.iter().chain(&service_proxies) {
            row.extend(cells[index].iter().cloned());
        }
        writer.write_record(&row)?;
    }
    Ok(writer.into_inner()?)
}

/// The per-service columns of points.csv (none for a single-service model).
fn service_header(point: &PointResult) -> Vec<String> {
    let mut header = Vec::new();
    for service in &point.services {
        let name = &service.name;
        header.extend(
            [
                "pool_size",
                "instances",
                "growth",
                "latency_p99_ms.mean",
                "latency_p99_ms.ci95_hi",
                "latency_p50_ms.mean",
                "error_rate.mean",
                "error_rate.ci95_hi",
                "throughput_rps.mean",
                "pool_wait_mean_ms.mean",
                "peak_pool_connections",
                "db_connect_refusals",
                "simulated_slo_pass",
            ]
            .map(|field| format!("services.{name}.{field}")),
        );
    }
    header
}

fn service_row(point: &PointResult) -> Vec<String> {
    let mut row = Vec::new();
    for s in &point.services {
        row.extend([
            s.pool_size.to_string(),
            s.instances.to_string(),
            number(s.growth),
            number(s.latency_p99_ms.mean),
            number(s.latency_p99_ms.hi),
            number(s.latency_p50_ms.mean),
            number(s.error_rate.mean),
            number(s.error_rate.hi),
            number(s.throughput_rps.mean),
            number(s.pool_wait_mean_ms.mean),
            s.peak_pool_connections.to_string(),
            number(s.db_connect_refusals),
            s.simulated_slo_pass.to_string(),
        ]);
    }
    row
}
