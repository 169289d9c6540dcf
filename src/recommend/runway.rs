//! Runway: how many months of traffic growth a carried growth factor buys.
//!
//! At a monthly growth rate r, traffic reaches g times today's after
//! ln(g / today) / ln(1 + r) months. A setting that carries the top of the swept
//! range may carry more: its runway is then "at least" that long.

use serde::Serialize;

/// The runway of one pool size.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunwayItem {
    pub pool_size: u32,
    /// The growth it carries (in every condition).
    pub carries: Option<f64>,
    /// Months until traffic exceeds it (0 when it already does).
    pub months: f64,
    /// The month it runs out ("2028-03"), when the experiment gives `runway_from`.
    pub runs_out: Option<String>,
    /// True when it carries the top of the swept range, so the runway is a lower bound.
    pub at_least: bool,
}

/// How long today's and the recommended settings last, and when no size helps.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Runway {
    /// Traffic growth per month, as a fraction.
    pub monthly_growth: f64,
    pub current: Option<RunwayItem>,
    pub recommended: Option<RunwayItem>,
    /// The best any feasible size can do: after this no pool size helps.
    pub any_pool_size: Option<RunwayItem>,
    /// What binds then, and what to do about it.
    pub binding: String,
}

/// Months from `today` to `carries` at `monthly` growth (0 when already beyond).
pub fn months_until(today: f64, carries: f64, monthly: f64) -> f64 {
    if carries <= today || monthly <= 0.0 {
        return 0.0;
    }
    (carries / today).ln() / (1.0 + monthly).ln()
}

/// "YYYY-MM" for `months` (rounded down) after `from`.
pub fn month_after(from: (i32, u32), months: f64) -> String {
    let whole = months.max(0.0).floor() as i64;
    let index = from.0 as i64 * 12 + (from.1 as i64 - 1) + whole;
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// The runway of a size that carries `carries` (None: fails already).
pub fn item(
    pool_size: u32,
    carries: Option<f64>,
    today: f64,
    monthly: f64,
    from: Option<(i32, u32)>,
    top_of_sweep: f64,
) -> RunwayItem {
    let months = carries.map_or(0.0, |c| months_until(today, c, monthly));
    RunwayItem {
        pool_size,
        carries,
        months,
        runs_out: from.map(|f| month_after(f, months)),
        at_least: carries.is_some_and(|c| c >= top_of_sweep - 1e-9),
    }
}

/// "about 16 months (2028-03)", "at least 23 months", "none: it already fails".
pub fn describe(item: &RunwayItem) -> String {
    if item.carries.is_none() || item.months <= 0.0 {
        return "none: it does not carry today's traffic in every condition".into();
    }
    let when = item
        .runs_out
        .as_ref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    if item.at_least {
        format!(
            "at least {:.0} months{when}, the top of the swept growth",
            item.months.floor()
        )
    } else {
        format!("about {:.0} months{when}", item.months.floor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_follow_from_the_carried_growth_and_the_monthly_rate() {
        // 2.25x at 5% a month: ln 2.25 / ln 1.05 = 16.6 months.
        let m = months_until(1.0, 2.25, 0.05);
        assert!((m - 16.62).abs() < 0.01, "{m}");
        assert_eq!(months_until(1.0, 0.9, 0.05), 0.0);
        // Doubling at 10% a month takes 7.27 months, whatever today's level.
        assert!((months_until(1.5, 3.0, 0.10) - 7.27).abs() < 0.01);
    }

    #[test]
    fn months_become_calendar_months() {
        assert_eq!(month_after((2026, 11), 16.6), "2028-03");
        assert_eq!(month_after((2026, 12), 0.0), "2026-12");
        assert_eq!(month_after((2026, 12), 1.0), "2027-01");
    }
}
