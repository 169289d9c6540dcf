//! The report's section for a `[[services]]` model: how the shared database's connection
//! budget splits between the services, and which service's growth exhausts it first.
//!
//! Kept out of `markdown.rs` so the single-service report reads as before.

use std::fmt::Write;

use crate::recommend::services::ServicePlan;

/// The "Services sharing the database" section of report.md.
pub fn services_section(out: &mut String, plan: &ServicePlan) {
    let _ = writeln!(out, "## Services sharing the database\n");
    let _ = writeln!(
        out,
        "Connection budget at {:.2}x each service's traffic (the planned headroom), each service's smallest pool meeting its own SLO with the others at their model sizes: **{}**. A service behind its own PgBouncer is sized by its `proxy.default_pool_size` and counts its server connections (proxy instances x (default_pool_size + reserve_pool_size)), not its client pools.\n",
        plan.planned_factor,
        plan.split_line()
    );
    events_note(out, plan);
    let _ = writeln!(
        out,
        "| service | SLO (p99, errors) | instances | setting sized | today | smallest meeting its SLO | connections | largest the database allows |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for s in &plan.shares {
        let size = s
            .pool_size
            .map_or_else(|| format!("none up to {}", s.ceiling), |v| v.to_string());
        let _ = writeln!(
            out,
            "| {} | ≤ {} ms, ≤ {}% | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.slo_latency_p99_ms,
            s.slo_error_rate * 100.0,
            s.instances,
            s.setting,
            s.current_pool_size,
            size,
            s.connections,
            s.ceiling
        );
    }
    let verdict = if plan.deploy_connections <= plan.max_connections {
        "fits"
    } else {
        "does NOT fit"
    };
    let _ = writeln!(
        out,
        "\nDuring a rolling deploy (each fleet with its surge instances, pools full, plus other and reserved connections) the split needs {} connections: it {verdict} in max_connections {}.\n",
        plan.deploy_connections, plan.max_connections
    );
    let _ = writeln!(
        out,
        "The split simulates every service at exactly {:.2}x. The recommendations below judge the swept service only at the sweep's growth levels, and a size carries a level only if it met the SLO there, so when {:.2}x falls between two levels their floor can be larger than that service's share here.\n",
        plan.planned_factor, plan.planned_factor
    );
    let _ = writeln!(
        out,
        "Each service's traffic grown alone (the others at the model's traffic):\n"
    );
    let _ = writeln!(
        out,
        "| service grown | SLO first missed at | services missing it | limit reached | database cores busy | connects refused per run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for e in &plan.exhaustion {
        let at = e
            .fails_at_growth
            .map_or_else(|| "not up to 5x".to_string(), |g| format!("{g}x"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0}% | {:.0} |",
            e.name,
            at,
            if e.failing.is_empty() {
                "-".to_string()
            } else {
                e.failing.join(", ")
            },
            match (e.fails_at_growth, e.shared) {
                (None, _) => "-",
                (Some(_), true) => "the shared database",
                (Some(_), false) => "its own pool or fleet",
            },
            e.db_utilization * 100.0,
            e.db_connect_refusals
        );
    }
    let _ = writeln!(
        out,
        "\nDatabase cores busy is the mean over the replications at that growth. A service misses its SLO when the upper end of a 95% interval over the replications does, so one replication whose backlog ran away (retrograde throughput under USL contention) is enough, even with the cores well below busy on average."
    );
    match &plan.exhausts_first {
        Some(name) => {
            let _ = writeln!(
                out,
                "\n**{name}'s growth exhausts the shared database first.**\n"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nNo single service's growth up to 5x exhausts the shared database.\n"
            );
        }
    }
}

/// With timeline events in the model: the split's runs leave them out, and say so.
fn events_note(out: &mut String, plan: &ServicePlan) {
    if plan.events_left_out > 0 {
        let _ = writeln!(
            out,
            "The split and the exhaustion order are steady-state answers: their runs leave out the model's {} timeline event(s) (the database slowdowns and traffic surges the replay shows).\n",
            plan.events_left_out
        );
    }
}
