//! The report's "Which assumption matters most" section: the `[uncertainty]` inputs
//! ranked by how far they move the carried growth and the floor, so a planner knows
//! which number to measure before trusting the answer.

use std::fmt::Write as _;

use crate::recommend::Sensitivity;

fn growth(value: Option<f64>) -> String {
    value.map_or("none".into(), |g| format!("{g:.2}x"))
}

fn size(value: Option<u32>) -> String {
    value.map_or("none".into(), |s| s.to_string())
}

/// Writes the section (nothing when the model gives no ranges).
pub fn sensitivity_section(out: &mut String, sensitivity: Option<&Sensitivity>) {
    let Some(s) = sensitivity else {
        return;
    };
    let _ = writeln!(out, "## Which assumption matters most\n");
    let _ = writeln!(
        out,
        "Each `[uncertainty]` range of the model, evaluated at its two ends one at a time (everything else as written), in the condition that limits pool size {} today ({}). As written, {} carries {} and the smallest size meeting {:.2}x (the planned growth, rounded up to a swept level) is {}. \"none\" means the size misses the SLO at the lowest swept growth with that end, or the database can no longer hold it (an end of other_connections can move the limit). Measure the inputs at the top first: they move the answer most.\n",
        s.pool_size,
        s.condition,
        s.pool_size,
        growth(s.carries_as_written),
        s.planned_growth_level,
        size(s.floor_as_written)
    );
    let _ = writeln!(
        out,
        "| input | low .. high | pool {} carries | swing | smallest size for {:.2}x |",
        s.pool_size, s.planned_growth_level
    );
    let _ = writeln!(out, "|---|---|---|---:|---|");
    for i in &s.inputs {
        let _ = writeln!(
            out,
            "| `{}` | {} .. {} | {} .. {} | {:.2}x | {} .. {} |",
            i.path.replace('|', "/"),
            i.low,
            i.high,
            growth(i.carries_at_low),
            growth(i.carries_at_high),
            i.growth_swing,
            size(i.floor_at_low),
            size(i.floor_at_high)
        );
    }
    let _ = writeln!(out);
}
