//! What PgBouncer did in a sweep: the `proxy.*` columns of points.csv and the report's
//! "PgBouncer" section, which says in words when the proxy helps and when it cannot.
//!
//! Both appear only when some point's model has a `[proxy]`, so the outputs of
//! experiments without one are unchanged.

use std::fmt::Write;

use crate::config::experiment::Experiment;
use crate::config::model::{PoolMode, ServiceView};
use crate::stats::summary::Summary;
use crate::sweep::{PointResult, ProxyPoint};

fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        String::new()
    }
}

/// The points.csv columns for the proxy, and each point's cells (empty without a proxy);
/// `None` when no point has a proxy.
pub fn proxy_columns(points: &[PointResult]) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let proxies: Vec<Option<&ProxyPoint>> = points.iter().map(|p| p.proxy.as_ref()).collect();
    prefixed_proxy_columns("proxy", &proxies)
}

/// The `services.<name>.proxy.*` columns of points.csv for each service that has its own
/// PgBouncer at some point (`[services.proxy]`), and each point's cells.
pub fn service_proxy_columns(points: &[PointResult]) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let first = points.first()?;
    let mut header = Vec::new();
    let mut rows = vec![Vec::new(); points.len()];
    for (k, service) in first.services.iter().enumerate() {
        let proxies: Vec<Option<&ProxyPoint>> = points
            .iter()
            .map(|p| p.services.get(k).and_then(|s| s.proxy.as_ref()))
            .collect();
        let prefix = format!("services.{}.proxy", service.name);
        if let Some((columns, cells)) = prefixed_proxy_columns(&prefix, &proxies) {
            header.extend(columns);
            for (row, more) in rows.iter_mut().zip(cells) {
                row.extend(more);
            }
        }
    }
    (!header.is_empty()).then_some((header, rows))
}

/// The proxy columns named `<prefix>.<field>`, and one row of cells per entry of
/// `proxies` (empty cells where it is `None`); `None` when every entry is.
fn prefixed_proxy_columns(
    prefix: &str,
    proxies: &[Option<&ProxyPoint>],
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if proxies.iter().all(Option::is_none) {
        return None;
    }
    let mut header = vec![
        format!("{prefix}.pool_mode"),
        format!("{prefix}.server_pool_capacity"),
        format!("{prefix}.peak_server_connections"),
    ];
    for name in ["mean_active_server_connections", "p_wait", "wait_mean_ms"] {
        for part in ["mean", "ci95_lo", "ci95_hi"] {
            header.push(format!("{prefix}.{name}.{part}"));
        }
    }
    header.extend(
        [
            "wait_timeout_failures",
            "refused_failures",
            "refused_connects",
        ]
        .map(|field| format!("{prefix}.{field}")),
    );
    let rows = proxies
        .iter()
        .map(|p| match p {
            None => vec![String::new(); header.len()],
            Some(x) => {
                let mut row = vec![
                    x.pool_mode.clone(),
                    x.server_pool_capacity.to_string(),
                    x.peak_server_connections.to_string(),
                ];
                for e in [
                    &x.mean_active_server_connections,
                    &x.p_wait,
                    &x.wait_mean_ms,
                ] {
                    row.extend([number(e.mean), number(e.lo), number(e.hi)]);
                }
                row.extend([
                    number(x.wait_timeout_failures),
                    number(x.refused_failures),
                    number(x.refused_connects),
                ]);
                row
            }
        })
        .collect();
    Some((header, rows))
}

/// The `pgbouncer` line of `run`'s table for `service` (nothing without a proxy). It
/// ends with the client connects PgBouncer refused: pools larger than `max_client_conn`
/// allows never reach their size, which no failure shows while the connections they got
/// keep up, so the count is given, and when it is not zero, why.
pub fn proxy_run_line(s: &Summary, service: ServiceView) -> Option<String> {
    let p = s.proxy.as_ref()?;
    let ms = |v: f64| format!("{v:.1}");
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    Some(format!(
                "{} mode: server connections in use mean {:.1}, open peak {} of pool {}; waited {} (mean {} ms, p99 {} ms); failures: proxy_wait_timeout {}  proxy_refused {}; client connects refused {}{}",
                p.pool_mode,
                p.mean_active_server_connections,
                p.peak_server_connections,
                p.server_pool_capacity,
                pct(p.p_wait),
                ms(p.wait_mean_ms),
                ms(p.wait_p99_ms),
                s.failures.proxy_wait_timeout.unwrap_or(0),
                s.failures.proxy_refused.unwrap_or(0),
                p.refused_connects,
                if p.refused_connects == 0 { String::new() } else { refusal_cause(service) },
    ))
}

/// Why PgBouncer refused client connects: the pools may open more client connections
/// than its instances accept, or (session mode) no server connection was free.
fn refusal_cause(service: ServiceView) -> String {
    let Some(proxy) = service.proxy else {
        return String::new();
    };
    let accepted = u64::from(proxy.instances) * u64::from(proxy.max_client_conn);
    let instances = service.fleet.instances;
    let wanted = service
        .pool
        .max_connections()
        .map(|each| (each, u64::from(instances) * u64::from(each)));
    match wanted {
        Some((each, total)) if total > accepted => format!(
            " (the pools may open {instances} x {each} = {total} client connections; {} PgBouncer(s) x max_client_conn {} accept {accepted})",
            proxy.instances, proxy.max_client_conn
        ),
        None => format!(
            " (the pools' size is unlimited; {} PgBouncer(s) x max_client_conn {} accept {accepted})",
            proxy.instances, proxy.max_client_conn
        ),
        _ if proxy.pool_mode == PoolMode::Session => {
            " (session mode: no server connection was free for a new client connection)".into()
        }
        _ => format!(
            " (at max_client_conn {} x {} PgBouncer(s))",
            proxy.max_client_conn, proxy.instances
        ),
    }
}

/// One point's PgBouncer figures as the report's tables print them; `sweep`'s stdout
/// lines print the same strings, so the two cannot disagree.
struct ProxyRow {
    mode: String,
    active: String,
    peak: u32,
    pool: u32,
    /// Server connection held per successful request; empty when nothing succeeded.
    held_ms: String,
    waited: String,
    wait_ms: String,
    failures: String,
    refused: String,
}

impl ProxyRow {
    fn of(x: &ProxyPoint, throughput_rps: f64) -> ProxyRow {
        let active = x.mean_active_server_connections.mean;
        let held_ms = active / throughput_rps * 1e3;
        ProxyRow {
            mode: x.pool_mode.clone(),
            active: format!("{active:.1}"),
            peak: x.peak_server_connections,
            pool: x.server_pool_capacity,
            held_ms: if held_ms.is_finite() {
                format!("{held_ms:.1}")
            } else {
                String::new()
            },
            waited: format!("{:.1}%", x.p_wait.mean * 100.0),
            wait_ms: format!("{:.1}", x.wait_mean_ms.mean),
            failures: format!("{:.0}", x.wait_timeout_failures + x.refused_failures),
            refused: format!("{:.0}", x.refused_connects),
        }
    }

    /// The stdout line of `sweep` for this row.
    fn line(&self, label: &str) -> String {
        format!(
            "pgbouncer {label}: {} mode, server connections in use {} (peak {} of pool {}), held {} ms per request, waited {} (mean {} ms), proxy failures {}, client connects refused {} per run",
            self.mode, self.active, self.peak, self.pool,
            if self.held_ms.is_empty() { "-" } else { &self.held_ms },
            self.waited, self.wait_ms, self.failures, self.refused
        )
    }
}

/// `sweep`'s stdout lines about PgBouncer: one per point and proxy (a service's own, or
/// the model's), with the numbers of the report's PgBouncer tables. Empty without one.
pub fn proxy_verdict_lines(experiment: &Experiment, points: &[PointResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for p in points {
        let variant = variant_name(experiment, p);
        let label = |service: Option<&str>| {
            let mut at = if variant.is_empty() {
                String::new()
            } else {
                format!("\"{variant}\" ")
            };
            if let Some(name) = service {
                at.push_str(&format!("service {name} "));
            }
            at + &format!("at {}x", p.growth)
        };
        if let Some(x) = &p.proxy {
            lines.push(ProxyRow::of(x, p.throughput_rps.mean).line(&label(None)));
        }
        for s in &p.services {
            if let Some(x) = &s.proxy {
                lines.push(ProxyRow::of(x, s.throughput_rps.mean).line(&label(Some(&s.name))));
            }
        }
    }
    lines
}

/// The name of `p`'s variant, empty for an experiment without variants.
fn variant_name<'a>(experiment: &'a Experiment, p: &PointResult) -> &'a str {
    experiment
        .variants
        .get(p.variant)
        .map_or("", |v| v.name.as_str())
}

/// What the report's "client connects refused" column counts.
const REFUSED: &str = "\"Client connects refused\" counts the pools' connects PgBouncer \
    turned away (at instances x `max_client_conn`, or in session mode for want of a \
    server connection), retries included: pools larger than `max_client_conn` allows \
    never reach their size, which shows here even when no request fails.";

/// The report's PgBouncer section (nothing when no point has a proxy).
pub fn proxy_section(out: &mut String, experiment: &Experiment, points: &[PointResult]) {
    service_proxy_section(out, experiment, points);
    if points.iter().all(|p| p.proxy.is_none()) {
        return;
    }
    let _ = writeln!(out, "## PgBouncer\n");
    let _ = writeln!(
        out,
        "Server connections are PgBouncer's connections to PostgreSQL (they count against \
         `max_connections`); the pools behind it hold client connections, which do not. \
         \"Held per request\" is the mean server connections in use divided by the \
         throughput: how long each successful request kept a server connection. \
         \"Peak / pool\" is the most server connections open at once over PgBouncer's \
         `default_pool_size` x instances; on a direct row, the most pool connections open \
         at once over instances x each pool's limit (other clients' connections left out \
         of both). {REFUSED}\n"
    );
    let _ = writeln!(
        out,
        "| variant | growth | mode | error rate | p99 ms | server connections in use (mean) | peak / pool | held per request ms | waited in PgBouncer | mean wait ms | proxy failures per run | client connects refused per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in points {
        let variant = variant_name(experiment, p);
        let error = format!("{:.2}%", p.error_rate.mean * 100.0);
        let p99 = format!("{:.0}", p.latency_p99_ms.mean);
        match &p.proxy {
            None => {
                // Pool connections, as the proxy rows count server connections: the
                // database's peak less the other clients', over what the pools may open.
                let spec = &experiment.points[p.index].spec;
                let peak = p
                    .peak_db_connections
                    .saturating_sub(spec.database.other_connections);
                let pools = spec.pool.max_connections().map_or_else(
                    || "unlimited".to_string(),
                    |each| (u64::from(each) * u64::from(p.instances)).to_string(),
                );
                let _ = writeln!(
                    out,
                    "| {variant} | {}x | direct | {error} | {p99} | {:.1} (pool connections) | {peak} / {pools} (pool connections) | | | | | |",
                    p.growth,
                    p.pool_utilization.mean * f64::from(p.pool_size * p.instances),
                );
            }
            Some(x) => {
                let r = ProxyRow::of(x, p.throughput_rps.mean);
                let _ = writeln!(
                    out,
                    "| {variant} | {}x | {} | {error} | {p99} | {} | {} / {} | {} | {} | {} | {} | {} |",
                    p.growth, r.mode, r.active, r.peak, r.pool, r.held_ms, r.waited, r.wait_ms, r.failures, r.refused,
                );
            }
        }
    }
    let db = &experiment.baseline.database;
    let peak = crate::analytic::usl_peak_concurrency(db.serial, db.crosstalk).min(db.cores as f64);
    let _ = writeln!(
        out,
        "\nWhen the proxy helps: in transaction (or statement) mode a server connection is \
         held only from a transaction's first statement to the end of its last, so many \
         client connections share few server connections when transactions are short; \
         with S server connections and transactions of mean T, throughput saturates at \
         S / T. When it cannot: a transaction that spans application work (a password hash \
         inside the login transaction) holds its server connection through that work, \
         exactly as a direct pool connection was held, so the server pool saturates where \
         the direct pools did; in session mode every open client connection pins a server \
         connection. Moving the work out of the transaction is what shortens the hold. \
         Nor can it add database capacity: the database's throughput is highest at about \
         {peak:.0} statements running at once ({} cores, USL serial {} and crosstalk {}), \
         so once transactions are short a server pool well above that lets more \
         statements in than the cores serve, each slows down and holds its server \
         connection longer, and under a surge the pool saturates with the database; a \
         `default_pool_size` near that number, plus the round trips' share, queues the \
         excess in PgBouncer instead.\n",
        db.cores, db.serial, db.crosstalk,
    );
}

/// The report's "PgBouncer per service" table: for each point and each service with its
/// own PgBouncer (`[services.proxy]`), what its server pool held and what waited there.
fn service_proxy_section(out: &mut String, experiment: &Experiment, points: &[PointResult]) {
    let proxied = |p: &PointResult| p.services.iter().any(|s| s.proxy.is_some());
    if !points.iter().any(proxied) {
        return;
    }
    let _ = writeln!(
        out,
        "## PgBouncer per service
"
    );
    let _ = writeln!(
        out,
        "Each service with its own `[services.proxy]` talks to its own PgBouncer pool; only \
         its server connections count against the shared database's `max_connections`, \
         not the client connections of its pools. \"Held per request\" is the mean server \
         connections in use divided by the service's throughput. {REFUSED}\n"
    );
    let _ = writeln!(
        out,
        "| variant | growth | service | mode | error rate | p99 ms | server connections in use (mean) | peak / pool | held per request ms | waited in PgBouncer | mean wait ms | proxy failures per run | client connects refused per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in points {
        let variant = variant_name(experiment, p);
        for s in &p.services {
            let Some(x) = &s.proxy else { continue };
            let r = ProxyRow::of(x, s.throughput_rps.mean);
            let _ = writeln!(
                out,
                "| {variant} | {}x | {} | {} | {:.2}% | {:.0} | {} | {} / {} | {} | {} | {} | {} | {} |",
                p.growth,
                s.name,
                r.mode,
                s.error_rate.mean * 100.0,
                s.latency_p99_ms.mean,
                r.active, r.peak, r.pool, r.held_ms, r.waited, r.wait_ms, r.failures, r.refused,
            );
        }
    }
    let _ = writeln!(out);
}
