//! The observed side of a calibration: OBS.toml and the Prometheus series it names.
//!
//! OBS.toml says which exported file holds which metric. The series are read and
//! checked (same timestamps as the request rate, no gaps) and turned into per-interval
//! values: gauges as read at each scrape, counters as increases per step.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::model::{deserialize_table, parse_toml};
use crate::config::prometheus::{read_range_series, Combine, RangeSeries};
use crate::config::InputError;

/// OBS.toml as written: file paths relative to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedFile {
    /// "fleet" (series are summed over pods) or "pool" (averaged: one pool's view).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Requests per second reaching the fleet (replayed as the model's traffic).
    pub request_rate: String,
    /// hikaricp_connections_active (gauge).
    pub connections_active: Option<String>,
    /// hikaricp_connections_pending (gauge).
    pub connections_pending: Option<String>,
    /// hikaricp_connections_usage_seconds_sum / _count (counters).
    pub hold_sum: Option<String>,
    pub hold_count: Option<String>,
    /// hikaricp_connections_acquire_seconds_sum / _count (counters).
    pub acquire_sum: Option<String>,
    pub acquire_count: Option<String>,
    /// hikaricp_connections_timeout_total (counter).
    pub timeouts_total: Option<String>,
    /// Failed / finished requests per step (a ratio, averaged over series).
    pub error_rate: Option<String>,
}

fn default_scope() -> String {
    "fleet".into()
}

/// Observed values per step, aligned with the request rate. Counter-based values
/// are NaN at index 0 (no previous sample) and where the counter did not move.
#[derive(Debug, Clone)]
pub struct Observed {
    pub path: PathBuf,
    /// The request-rate file, as an absolute path (the replayed trace).
    pub request_rate_file: PathBuf,
    /// Whether pool metrics are one pool's (compared with the fleet / instances).
    pub per_pool: bool,
    pub step_s: f64,
    pub times_s: Vec<f64>,
    pub request_rate: Vec<f64>,
    pub active: Option<Vec<f64>>,
    pub pending: Option<Vec<f64>>,
    /// Connections in use averaged over each step: increase of usage_seconds_sum / step.
    pub in_use_average: Option<Vec<f64>>,
    /// Mean hold per step in ms: increase of usage sum / increase of usage count.
    pub hold_ms: Option<Vec<f64>>,
    /// Completed holds per second: increase of usage count / step.
    pub holds_per_s: Option<Vec<f64>>,
    pub acquire_ms: Option<Vec<f64>>,
    /// Successful acquisitions per second: increase of acquire count / step.
    pub acquires_per_s: Option<Vec<f64>>,
    pub timeouts_per_s: Option<Vec<f64>>,
    pub error_rate: Option<Vec<f64>>,
    /// Which OBS.toml keys were given, for the report.
    pub inputs: Vec<String>,
}

/// Increases of a counter per step (a drop is a reset: the increase is the new value).
fn increases(values: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN];
    out.extend(
        values
            .windows(2)
            .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] }),
    );
    out
}

fn ratio(numerator: &[f64], denominator: &[f64], scale: f64) -> Vec<f64> {
    numerator
        .iter()
        .zip(denominator)
        .map(|(n, d)| if *d > 0.0 { n / d * scale } else { f64::NAN })
        .collect()
}

/// Reads the series at `file` (relative to `base`), checked against the request rate's timestamps.
fn load_aligned(
    base: &Path,
    key: &str,
    file: Option<&str>,
    combine: Combine,
    (rate, rate_path): (&RangeSeries, &Path),
) -> Result<Option<Vec<f64>>, InputError> {
    let Some(file) = file else { return Ok(None) };
    let series_path = base.join(file);
    let series = read_range_series(&series_path, combine)?;
    if series.times_s != rate.times_s {
        return Err(InputError::new(
            &series_path,
            format!(
                "timestamps differ from the request rate's ({}): {} samples from {} step {} s, against {} from {} step {} s",
                rate_path.display(),
                series.times_s.len(), series.times_s[0], series.step_s,
                rate.times_s.len(), rate.times_s[0], rate.step_s
            ),
        )
        .field(key)
        .hint("export every series with the same start, end and step"));
    }
    Ok(Some(series.values))
}

/// Reads OBS.toml and every series it names.
pub fn read_observed(path: &Path) -> Result<Observed, InputError> {
    let text = crate::config::input_file::read_regular(path).map_err(|e| {
        InputError::new(path, format!("cannot read the file: {e}")).hint("check the path")
    })?;
    let table = parse_toml(path, &text)?;
    let file: ObservedFile = deserialize_table(path, &text, table)?;
    let per_pool = match file.scope.as_str() {
        "fleet" => false,
        "pool" => true,
        other => return Err(InputError::new(
            path,
            format!("scope \"{other}\" is not fleet or pool"),
        )
        .field("scope")
        .hint(
            "scope = \"fleet\" sums the series over pods; \"pool\" averages them (one pool's view)",
        )),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let rate_path = base.join(&file.request_rate);
    let rate = read_range_series(&rate_path, Combine::Sum)?;
    let pool_combine = if per_pool {
        Combine::Mean
    } else {
        Combine::Sum
    };
    let load = |key: &str, value: &Option<String>, combine| {
        load_aligned(base, key, value.as_deref(), combine, (&rate, &rate_path))
    };
    let counter = |key: &str, value: &Option<String>| {
        load(key, value, pool_combine).map(|v| v.map(|v| increases(&v)))
    };
    let hold_sum = counter("hold_sum", &file.hold_sum)?;
    let hold_count = counter("hold_count", &file.hold_count)?;
    let acquire_sum = counter("acquire_sum", &file.acquire_sum)?;
    let acquire_count = counter("acquire_count", &file.acquire_count)?;
    let timeouts = counter("timeouts_total", &file.timeouts_total)?;
    let step = rate.step_s;
    let per_second = |v: &Vec<f64>| v.iter().map(|x| x / step).collect::<Vec<f64>>();
    let both = |a: &Option<Vec<f64>>, b: &Option<Vec<f64>>, scale: f64| match (a, b) {
        (Some(a), Some(b)) => Some(ratio(a, b, scale)),
        _ => None,
    };
    let given: [(&str, bool); 9] = [
        ("request_rate", true),
        ("connections_active", file.connections_active.is_some()),
        ("connections_pending", file.connections_pending.is_some()),
        ("hold_sum", file.hold_sum.is_some()),
        ("hold_count", file.hold_count.is_some()),
        ("acquire_sum", file.acquire_sum.is_some()),
        ("acquire_count", file.acquire_count.is_some()),
        ("timeouts_total", file.timeouts_total.is_some()),
        ("error_rate", file.error_rate.is_some()),
    ];
    Ok(Observed {
        path: path.to_path_buf(),
        request_rate_file: std::path::absolute(&rate_path).unwrap_or(rate_path.clone()),
        per_pool,
        step_s: step,
        times_s: rate.times_s.clone(),
        request_rate: rate.values.clone(),
        active: load("connections_active", &file.connections_active, pool_combine)?,
        pending: load(
            "connections_pending",
            &file.connections_pending,
            pool_combine,
        )?,
        in_use_average: hold_sum.as_ref().map(per_second),
        hold_ms: both(&hold_sum, &hold_count, 1e3),
        holds_per_s: hold_count.as_ref().map(per_second),
        acquire_ms: both(&acquire_sum, &acquire_count, 1e3),
        acquires_per_s: acquire_count.as_ref().map(per_second),
        timeouts_per_s: timeouts.as_ref().map(per_second),
        error_rate: load("error_rate", &file.error_rate, Combine::Mean)?,
        inputs: given
            .iter()
            .filter(|(_, is_given)| *is_given)
            .map(|(k, _)| k.to_string())
            .collect(),
    })
}
