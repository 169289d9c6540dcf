//! The files `poolsim fit` reads: raw durations, Prometheus histograms, pg_stat_statements.
//!
//! Each is checked before anything is fitted or written: a duration that is not a
//! number, negative or NaN, an empty or all-zero column, a histogram whose buckets
//! are not cumulative, are input errors naming the file, the row and the fix.

use std::path::Path;

use crate::config::prometheus::{read_json_histogram, read_text_histograms};
use crate::config::InputError;

use super::binned::Buckets;

/// A time unit for durations in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Ns,
    Us,
    Ms,
    S,
}

impl TimeUnit {
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Ns => 1e-9,
            TimeUnit::Us => 1e-6,
            TimeUnit::Ms => 1e-3,
            TimeUnit::S => 1.0,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Ns => "ns",
            TimeUnit::Us => "us",
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
        }
    }
    /// The unit a column header names: `hold_ms`, `ms`, `latency_seconds`, `t_us`.
    pub fn from_header(header: &str) -> Option<TimeUnit> {
        let h = header.trim().to_ascii_lowercase();
        let ends = |suffix: &str| h == suffix || h.ends_with(&format!("_{suffix}"));
        if ends("ms") || h.contains("milli") {
            Some(TimeUnit::Ms)
        } else if ends("us") || h.contains("micro") {
            Some(TimeUnit::Us)
        } else if ends("ns") || h.contains("nano") {
            Some(TimeUnit::Ns)
        } else if ends("s") || ends("sec") || ends("secs") || h.contains("second") {
            Some(TimeUnit::S)
        } else {
            None
        }
    }
}

/// One query's summary from pg_stat_statements.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryMoments {
    pub query: String,
    pub calls: f64,
    pub mean_s: f64,
    pub stddev_s: f64,
}

/// What a file holds, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum FitInput {
    /// Raw positive durations; `zeros_dropped` counts exact zeros left out.
    Samples {
        column: String,
        unit: TimeUnit,
        values_s: Vec<f64>,
        zeros_dropped: usize,
    },
    /// One or more histograms (name, buckets).
    Histograms(Vec<(String, Buckets)>),
    /// pg_stat_statements rows.
    Moments(Vec<QueryMoments>),
}

fn bad(path: &Path, message: impl Into<String>, hint: &str) -> InputError {
    InputError::new(path, message).hint(hint)
}

/// Reads `path`, choosing the format by extension and, for CSV, by header.
pub fn read(path: &Path, unit: Option<TimeUnit>) -> Result<FitInput, InputError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "prom" | "txt" | "metrics" => {
            let scale = unit.unwrap_or(TimeUnit::S).seconds();
            let histograms = read_text_histograms(path)?;
            if histograms.is_empty() {
                return Err(bad(
                    path,
                    "no histogram (no `_bucket` series with `le`)",
                    "export a histogram, e.g. hikaricp_connections_usage_seconds_bucket with percentiles-histogram enabled",
                ));
            }
            Ok(FitInput::Histograms(
                histograms
                    .into_iter()
                    .map(|h| {
                        let mean = match (h.sum, h.count) {
                            (Some(s), Some(c)) if c > 0.0 => Some(s / c * scale),
                            _ => None,
                        };
                        let upper: Vec<f64> = h.upper_bounds.iter().map(|b| b * scale).collect();
                        (
                            h.name,
                            Buckets::from_cumulative(&upper, &h.cumulative, mean),
                        )
                    })
                    .collect(),
            ))
        }
        "json" => {
            let scale = unit.unwrap_or(TimeUnit::S).seconds();
            let h = read_json_histogram(path)?;
            let upper: Vec<f64> = h.upper_bounds.iter().map(|b| b * scale).collect();
            Ok(FitInput::Histograms(vec![(
                h.name,
                Buckets::from_cumulative(&upper, &h.cumulative, None),
            )]))
        }
        _ => read_csv(path, unit),
    }
}

fn read_csv(path: &Path, unit: Option<TimeUnit>) -> Result<FitInput, InputError> {
    let mut reader = crate::config::input_file::open_regular(path)
        .map(csv::Reader::from_reader)
        .map_err(|e| bad(path, format!("cannot read the file: {e}"), "check the path"))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            bad(
                path,
                format!("cannot read the header: {e}"),
                "the first row names the columns",
            )
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| bad(path, format!("{e}"), "fix the CSV row"))?;
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    if let (Some(calls), Some(mean), Some(stddev)) = (
        find(&["calls"]),
        find(&["mean_exec_time", "mean_time"]),
        find(&["stddev_exec_time", "stddev_time"]),
    ) {
        let query = find(&["query", "queryid"]);
        return read_pg_stat(path, &rows, [calls, mean, stddev], query);
    }
    if headers.len() != 1 {
        return Err(bad(
            path,
            format!("{} columns ({}); expected one column of durations, or pg_stat_statements columns", headers.len(), headers.join(",")),
            "keep one column such as `hold_ms`, or export pg_stat_statements with query,calls,mean_exec_time,stddev_exec_time",
        ));
    }
    let column = headers[0].clone();
    let unit = unit
        .or_else(|| TimeUnit::from_header(&column))
        .ok_or_else(|| {
            bad(
                path,
                format!("the header `{column}` names no time unit"),
                "name the column with its unit (e.g. `hold_ms`, `seconds`) or pass --unit ms",
            )
        })?;
    let mut values_s = Vec::with_capacity(rows.len());
    let mut zeros_dropped = 0;
    for (index, row) in rows.iter().enumerate() {
        let cell = row.get(0).unwrap_or("").trim();
        let value = cell.parse::<f64>().ok().filter(|v| v.is_finite());
        match value {
            Some(v) if v > 0.0 => values_s.push(v * unit.seconds()),
            Some(0.0) => zeros_dropped += 1,
            _ => {
                return Err(bad(
                    path,
                    format!("row {}: `{cell}` is not a non-negative duration", index + 2),
                    "durations are plain numbers, 0 or more (no NaN, no negative values, no empty cells)",
                ))
            }
        }
    }
    if values_s.len() < 10 {
        return Err(bad(
            path,
            format!(
                "{} positive durations{}: too few to fit a distribution",
                values_s.len(),
                if zeros_dropped > 0 {
                    format!(" ({zeros_dropped} zeros)")
                } else {
                    String::new()
                }
            ),
            "export at least 10 (better: thousands of) measured durations",
        ));
    }
    if values_s.iter().all(|v| *v == values_s[0]) {
        return Err(bad(
            path,
            "every duration is the same, so there is no spread to fit",
            "use { dist = \"constant\", value = ... } for a fixed time, or export more precise durations",
        ));
    }
    Ok(FitInput::Samples {
        column,
        unit,
        values_s,
        zeros_dropped,
    })
}

fn read_pg_stat(
    path: &Path,
    rows: &[csv::StringRecord],
    [calls, mean, stddev]: [usize; 3],
    query: Option<usize>,
) -> Result<FitInput, InputError> {
    let mut queries = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let number = |column: usize, what: &str| -> Result<f64, InputError> {
            let cell = row.get(column).unwrap_or("").trim();
            cell.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "row {}: {what} `{cell}` is not a non-negative number",
                            index + 2
                        ),
                        "export pg_stat_statements unchanged (times in milliseconds)",
                    )
                })
        };
        let calls = number(calls, "calls")?;
        let mean_ms = number(mean, "mean_exec_time")?;
        let stddev_ms = number(stddev, "stddev_exec_time")?;
        if calls == 0.0 || mean_ms == 0.0 {
            continue;
        }
        queries.push(QueryMoments {
            query: query
                .and_then(|q| row.get(q))
                .map(|q| q.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| format!("row {}", index + 2)),
            calls,
            mean_s: mean_ms * 1e-3,
            stddev_s: stddev_ms * 1e-3,
        });
    }
    if queries.is_empty() {
        return Err(bad(
            path,
            "no query with calls and a positive mean time",
            "export pg_stat_statements after the workload ran (SELECT query, calls, mean_exec_time, stddev_exec_time FROM pg_stat_statements)",
        ));
    }
    Ok(FitInput::Moments(queries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_headers() {
        assert_eq!(TimeUnit::from_header("hold_ms"), Some(TimeUnit::Ms));
        assert_eq!(TimeUnit::from_header("seconds"), Some(TimeUnit::S));
        assert_eq!(TimeUnit::from_header("latency_us"), Some(TimeUnit::Us));
        assert_eq!(TimeUnit::from_header("usage_seconds"), Some(TimeUnit::S));
        assert_eq!(TimeUnit::from_header("duration"), None);
    }
}
