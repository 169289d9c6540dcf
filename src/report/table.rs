//! The human-readable summary of one run, as `poolsim run` prints it.

use std::fmt::Write;

use crate::config::duration::format_duration;
use crate::config::model::{PoolKind, SystemSpec};
use crate::report::proxy_section::proxy_run_line;
use crate::stats::summary::Summary;

fn ms(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn pct(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value > 0.0 && value < 0.001 {
        format!("{:.3}%", value * 100.0)
    } else {
        format!("{:.1}%", value * 100.0)
    }
}

/// Renders the summary table for `summary` of `spec`.
pub fn render(spec: &SystemSpec, replication: u32, summary: &Summary) -> String {
    let s = summary;
    let sim = &spec.simulation;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — seed {}, replication {}, horizon {}, warmup {} excluded",
        spec.name,
        sim.seed,
        replication,
        format_duration(sim.horizon),
        format_duration(sim.warmup)
    );
    if spec.is_multi_service() {
        let _ = writeln!(
            out,
            "  {} services sharing one database: {} cores, max_connections {}",
            spec.service_count(),
            spec.database.cores,
            spec.database.max_connections
        );
    } else {
        write_fleet_line(&mut out, spec);
    }
    let _ = writeln!(out);
    let mut rows: Vec<(&str, String)> = vec![
        (
            "requests",
            format!(
                "offered {}  succeeded {}  failed {}  attempts {}",
                s.requests.offered, s.requests.succeeded, s.requests.failed, s.requests.attempts
            ),
        ),
        ("error rate", pct(s.error_rate)),
        (
            "failures",
            format!(
                "acquire_timeout {}  client_timeout {}  db_refused {}  rejected {}  retries_exhausted {}  backlog_full {}",
                s.failures.acquire_timeout,
                s.failures.client_timeout,
                s.failures.db_refused,
                s.failures.rejected,
                s.failures.retries_exhausted,
                s.failures.backlog_full
            ),
        ),
        ("throughput", format!("{} req/s succeeded", format_rate(s.throughput_rps))),
        (
            "latency (ms)",
            format!(
                "mean {}  p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}",
                ms(s.latency_ms.mean),
                ms(s.latency_ms.p50),
                ms(s.latency_ms.p90),
                ms(s.latency_ms.p95),
                ms(s.latency_ms.p99),
                ms(s.latency_ms.p999),
                ms(s.latency_ms.max)
            ),
        ),
        (
            "pool wait (ms)",
            format!(
                "mean {}  p50 {}  p95 {}  p99 {}  max {}   waited {} of acquisitions",
                ms(s.pool_wait_ms.mean),
                ms(s.pool_wait_ms.p50),
                ms(s.pool_wait_ms.p95),
                ms(s.pool_wait_ms.p99),
                ms(s.pool_wait_ms.max),
                pct(s.p_wait)
            ),
        ),
        (
            "utilization",
            format!("pool {}   database cores {}", pct(s.pool_utilization), pct(s.db_utilization)),
        ),
        (
            "db connections",
            format!(
                "peak {} of max_connections {} ({} reserved, {} other)",
                s.peak_db_connections,
                spec.database.max_connections,
                spec.database.reserved_connections,
                spec.database.other_connections
            ),
        ),
        (
            "engine",
            format!("{} events in {:.2} s wall", s.events_processed, s.wall_seconds),
        ),
    ];
    rows.extend(proxy_run_line(s, spec.service(0)).map(|l| ("pgbouncer", l)));
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<16}{value}");
    }
    write_services(&mut out, spec, s);
    write_warnings(&mut out, s);
    out
}

/// The fleet, pool and traffic of a single-service model.
fn write_fleet_line(out: &mut String, spec: &SystemSpec) {
    let _ = writeln!(
        out,
        "  {} instances x pool {}, {} req/s offered (growth {:.2}x), database {} cores, max_connections {}",
        spec.fleet.instances,
        match spec.pool.kind {
            PoolKind::HikariCp => format!("{} (min_idle {})", spec.pool.size_setting, spec.pool.min_idle),
            _ => spec.pool.summary(),
        },
        format_rate(spec.traffic.rate_per_s),
        spec.traffic.growth,
        spec.database.cores,
        spec.database.max_connections
    );
}

/// One line per service of a `[[services]]` model (the lines above are the whole system's).
fn write_services(out: &mut String, spec: &SystemSpec, s: &Summary) {
    if s.services.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n  per service (the lines above add them up; the database is shared):"
    );
    for (service, own) in spec.services().zip(&s.services) {
        let o = &own.summary;
        let _ = writeln!(
            out,
            "  {:<16}{} x pool {}, {} req/s offered: succeeded {}  failed {} ({})  throughput {} req/s  p50 {} ms  p99 {} ms  pool wait p99 {} ms  peak pool {}  db_refused {}",
            own.name,
            service.fleet.instances,
            service.pool.size_setting,
            format_rate(service.traffic.rate_per_s),
            o.requests.succeeded,
            o.requests.failed,
            pct(o.error_rate),
            format_rate(o.throughput_rps),
            ms(o.latency_ms.p50),
            ms(o.latency_ms.p99),
            ms(o.pool_wait_ms.p99),
            o.diagnostics.peak_pool_connections,
            o.failures.db_refused,
        );
        if let Some(line) = proxy_run_line(o, service) {
            let _ = writeln!(out, "  {:<16}pgbouncer {line}", "");
        }
    }
}

/// Says when the run was unstable or its percentiles hit the histogram's ceiling:
/// figures that would otherwise read as healthy.
fn write_warnings(out: &mut String, s: &Summary) {
    if let Some(u) = &s.unstable {
        let _ = writeln!(
            out,
            "\n  UNSTABLE: offered {} req/s but served {} req/s inside the window; requests in the system grew from {} to {} ({:+.0} per minute).",
            format_rate(u.offered_rps),
            format_rate(u.served_rps),
            u.backlog_at_warmup,
            u.backlog_at_horizon,
            u.backlog_growth_per_min
        );
        if u.dropped > 0 {
            let _ = writeln!(
                out,
                "  {} requests were dropped at the engine's backlog limit of {} requests in the system (failures.backlog_full).",
                u.dropped,
                crate::model::system::BACKLOG_LIMIT
            );
        }
        let _ = writeln!(
            out,
            "  The offered load exceeds what the pools or the database can serve: add capacity or lower the rate; latencies here grow with the horizon."
        );
    }
    if s.diagnostics.latencies_above_range > 0 {
        let _ = writeln!(
            out,
            "  {} latencies are at or above the histogram's 24 h range: percentiles shown as 86400000 ms mean at least 24 h.",
            s.diagnostics.latencies_above_range
        );
    }
}

fn format_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}
