//! Prometheus data as input: range-query JSON series and text-exposition histograms.
//!
//! Production measurements reach poolsim as what Prometheus exports: the JSON of
//! `/api/v1/query_range` (one or several series per metric, e.g. one per pod) and
//! histograms with cumulative `le` buckets. Both are checked here as strictly as a
//! model file (an error response, a NaN, timestamps that disagree between series or
//! skip a step), so that `fit`, `calibrate` and `traffic.trace` never work on data
//! that only looks right. The readers live in `config` because they read user files
//! and report `InputError`s like every other input.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::InputError;

/// How the several series of one result (one per pod, say) become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Fleet totals: gauges of connections, counters, request rates.
    Sum,
    /// Ratios such as an error rate.
    Mean,
}

/// One series on a regular grid of timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Unix seconds of each sample, evenly spaced by `step_s`.
    pub times_s: Vec<f64>,
    /// The combined value at each timestamp.
    pub values: Vec<f64>,
    /// Seconds between samples (the query's step).
    pub step_s: f64,
    /// How many series the file held before combining.
    pub series_count: usize,
}

/// A histogram with cumulative bucket counts, as Prometheus exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketHistogram {
    /// The metric name without `_bucket`, and its labels other than `le`.
    pub name: String,
    /// Upper bounds in the metric's unit (seconds for Micrometer timers); the last may be +Inf.
    pub upper_bounds: Vec<f64>,
    /// Observations at or below each bound (non-decreasing).
    pub cumulative: Vec<f64>,
    /// `_sum` (same unit as the bounds), when present.
    pub sum: Option<f64>,
    /// `_count`, when present.
    pub count: Option<f64>,
}

fn bad(path: &Path, message: impl Into<String>, hint: &str) -> InputError {
    InputError::new(path, message).hint(hint)
}

fn read_json(path: &Path) -> Result<Value, InputError> {
    let text = crate::config::input_file::read_regular(path)
        .map_err(|e| bad(path, format!("cannot read the file: {e}"), "check the path"))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| {
        bad(
            path,
            format!("not valid JSON: {e}"),
            "save the body of /api/v1/query_range (or `promtool query range -o json`) unchanged",
        )
    })?;
    if json.get("status").and_then(Value::as_str) != Some("success") {
        let why = json
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no \"status\": \"success\"");
        return Err(bad(
            path,
            format!("the query did not succeed: {why}"),
            "fix the query and export it again; poolsim reads only successful responses",
        ));
    }
    Ok(json)
}

fn results<'a>(path: &Path, json: &'a Value) -> Result<&'a Vec<Value>, InputError> {
    let result = json
        .pointer("/data/result")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(
                path,
                "no data.result array",
                "export the JSON of a range query (/api/v1/query_range)",
            )
        })?;
    if result.is_empty() {
        return Err(bad(
            path,
            "the query returned no series",
            "check the metric name and label matchers, and the time range",
        ));
    }
    Ok(result)
}

/// Parses one `[<unix seconds>, "<value>"]` pair; `what` names the series in errors.
fn sample(path: &Path, pair: &Value, what: &str) -> Result<(f64, f64), InputError> {
    let pair = pair.as_array().filter(|p| p.len() == 2);
    let time = pair.and_then(|p| p[0].as_f64()).filter(|t| t.is_finite());
    let text = pair.and_then(|p| p[1].as_str());
    let (Some(time), Some(text)) = (time, text) else {
        return Err(bad(
            path,
            format!("{what}: a sample is not [<unix seconds>, \"<value>\"]"),
            "export the JSON Prometheus returns, unchanged",
        ));
    };
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok((time, value)),
        _ => Err(bad(
            path,
            format!("{what} at {time}: the value \"{text}\" is not a finite number"),
            "NaN or Inf comes from a division by zero or a missing series; fix the query (e.g. `or vector(0)`) and export again",
        )),
    }
}

/// Reads a range query's JSON and combines its series into one on a regular grid.
/// Refuses error responses, non-numeric or NaN values, unsorted or uneven timestamps
/// (a gap is a missing step) and series whose timestamps differ from each other.
pub fn read_range_series(path: &Path, combine: Combine) -> Result<RangeSeries, InputError> {
    let json = read_json(path)?;
    if json.pointer("/data/resultType").and_then(Value::as_str) != Some("matrix") {
        return Err(bad(
            path,
            "the result is not a matrix (a range query's result type)",
            "use /api/v1/query_range (or `promtool query range`), not an instant query",
        ));
    }
    let mut combined: Option<(Vec<f64>, Vec<f64>)> = None;
    let result = results(path, &json)?;
    for (index, series) in result.iter().enumerate() {
        let what = format!(
            "series {} ({})",
            index + 1,
            series.get("metric").unwrap_or(&Value::Null)
        );
        let values = series
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                bad(
                    path,
                    format!("{what} has no \"values\""),
                    "export a range query",
                )
            })?;
        let samples: Vec<(f64, f64)> = values
            .iter()
            .map(|pair| sample(path, pair, &what))
            .collect::<Result<_, _>>()?;
        let times: Vec<f64> = samples.iter().map(|s| s.0).collect();
        match &mut combined {
            None => combined = Some((times, samples.iter().map(|s| s.1).collect())),
            Some((first_times, sums)) => {
                if *first_times != times {
                    return Err(bad(
                        path,
                        format!("{what} has timestamps that differ from series 1 (misaligned)"),
                        "export all series of one query with the same start, end and step",
                    ));
                }
                for (sum, (_, value)) in sums.iter_mut().zip(&samples) {
                    *sum += value;
                }
            }
        }
    }
    let (times_s, mut values) = combined.expect("results() refuses an empty result");
    if combine == Combine::Mean {
        values.iter_mut().for_each(|v| *v /= result.len() as f64);
    }
    let step_s = check_grid(path, &times_s)?;
    Ok(RangeSeries {
        times_s,
        values,
        step_s,
        series_count: result.len(),
    })
}

/// The step of evenly spaced timestamps, or an error naming the first gap.
fn check_grid(path: &Path, times: &[f64]) -> Result<f64, InputError> {
    if times.len() < 2 {
        return Err(bad(
            path,
            format!("{} sample(s): too few for a series", times.len()),
            "export a longer range (at least two steps)",
        ));
    }
    let step = times[1] - times[0];
    for (i, pair) in times.windows(2).enumerate() {
        let delta = pair[1] - pair[0];
        if delta <= 0.0 {
            return Err(bad(
                path,
                format!(
                    "timestamps are not increasing at sample {} ({})",
                    i + 2,
                    pair[1]
                ),
                "export the series unchanged, sorted by time",
            ));
        }
        if (delta - step).abs() > 1e-6 * step.max(1.0) {
            return Err(bad(
                path,
                format!(
                    "a gap or uneven step after {}: {delta} s where the step is {step} s",
                    pair[0]
                ),
                "the series has missing samples (a scrape failed or a pod restarted); export a range without gaps, or fill them in the query (e.g. with `or`), and say so",
            ));
        }
    }
    Ok(step)
}

/// A rate trace from a range query: (seconds since the first sample, requests per
/// second from then on), one entry per step. Series are summed (one per pod).
pub fn read_rate_trace(path: &Path) -> Result<Vec<(f64, f64)>, InputError> {
    let series = read_range_series(path, Combine::Sum)?;
    if let Some(v) = series.values.iter().find(|v| **v < 0.0) {
        return Err(bad(
            path,
            format!("a negative request rate ({v})"),
            "export rate(...) of a counter, which is never negative",
        ));
    }
    let first = series.times_s[0];
    Ok(series
        .times_s
        .iter()
        .zip(&series.values)
        .map(|(t, v)| (t - first, *v))
        .collect())
}

fn parse_le(path: &Path, text: &str) -> Result<f64, InputError> {
    let value = match text.trim() {
        "+Inf" | "Inf" | "inf" => f64::INFINITY,
        other => other.parse::<f64>().unwrap_or(f64::NAN),
    };
    if value.is_nan() {
        return Err(bad(
            path,
            format!("bucket bound le=\"{text}\" is not a number"),
            "bounds are numbers or +Inf",
        ));
    }
    Ok(value)
}

/// Splits `name{a="x",le="0.5"} 12 [timestamp]` into (name, labels without `le`, le, value).
fn parse_exposition_line(line: &str) -> Option<(String, String, Option<String>, String)> {
    let (name, labels, rest) = match line.split_once('{') {
        Some((name, tail)) => {
            let (labels, rest) = tail.rsplit_once('}')?;
            (name.trim(), labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(char::is_whitespace)?;
            (name, "", rest)
        }
    };
    let value = rest.split_whitespace().next()?;
    let mut le = None;
    let mut others = Vec::new();
    for label in labels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let (key, quoted) = label.split_once('=')?;
        let unquoted = quoted.trim().trim_matches('"').to_string();
        if key.trim() == "le" {
            le = Some(unquoted);
        } else {
            others.push(format!("{}=\"{unquoted}\"", key.trim()));
        }
    }
    Some((name.to_string(), others.join(","), le, value.to_string()))
}

/// Reads every histogram (`_bucket` with `le`, `_sum`, `_count`) from a text exposition.
pub fn read_text_histograms(path: &Path) -> Result<Vec<BucketHistogram>, InputError> {
    let text = crate::config::input_file::read_regular(path)
        .map_err(|e| bad(path, format!("cannot read the file: {e}"), "check the path"))?;
    let mut found: BTreeMap<String, BucketHistogram> = BTreeMap::new();
    let key = |name: &str, labels: &str| format!("{name}{{{labels}}}");
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, labels, le, value)) = parse_exposition_line(line) else {
            return Err(bad(
                path,
                format!("line {}: not `name{{labels}} value`", number + 1),
                "save the /metrics (or /actuator/prometheus) page unchanged",
            ));
        };
        let value: f64 = match value.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => v,
            _ => {
                return Err(bad(
                    path,
                    format!(
                        "line {}: \"{value}\" is not a non-negative count",
                        number + 1
                    ),
                    "bucket counts, _sum and _count are non-negative numbers",
                ))
            }
        };
        let entry = |base: &str, found: &mut BTreeMap<String, BucketHistogram>| {
            found
                .entry(key(base, &labels))
                .or_insert_with(|| BucketHistogram {
                    name: key(base, &labels),
                    upper_bounds: Vec::new(),
                    cumulative: Vec::new(),
                    sum: None,
                    count: None,
                })
                .clone()
        };
        if let (Some(base), Some(le)) = (name.strip_suffix("_bucket"), &le) {
            let mut h = entry(base, &mut found);
            h.upper_bounds.push(parse_le(path, le)?);
            h.cumulative.push(value);
            found.insert(key(base, &labels), h);
        } else if let Some(base) = name.strip_suffix("_sum") {
            let mut h = entry(base, &mut found);
            h.sum = Some(value);
            found.insert(key(base, &labels), h);
        } else if let Some(base) = name.strip_suffix("_count") {
            let mut h = entry(base, &mut found);
            h.count = Some(value);
            found.insert(key(base, &labels), h);
        }
    }
    let histograms: Vec<BucketHistogram> = found
        .into_values()
        .filter(|h| !h.upper_bounds.is_empty())
        .collect();
    for h in &histograms {
        check_histogram(path, h)?;
    }
    Ok(histograms)
}

/// Reads a histogram from query JSON: one series per `le` label (e.g.
/// `sum by (le) (increase(x_bucket[1h]))`), each series' last value taken.
pub fn read_json_histogram(path: &Path) -> Result<BucketHistogram, InputError> {
    let json = read_json(path)?;
    let mut buckets = Vec::new();
    for series in results(path, &json)? {
        let le = series.pointer("/metric/le").and_then(Value::as_str).ok_or_else(|| {
            bad(
                path,
                "a series has no `le` label, so it is not a histogram bucket",
                "query the _bucket series and keep `le`, e.g. sum by (le) (increase(hikaricp_connections_usage_seconds_bucket[1h]))",
            )
        })?;
        let last = match series.get("values").and_then(Value::as_array) {
            Some(values) => values.last().cloned().unwrap_or(Value::Null),
            None => series.get("value").cloned().unwrap_or(Value::Null),
        };
        let (_, count) = sample(path, &last, &format!("bucket le=\"{le}\""))?;
        buckets.push((parse_le(path, le)?, count));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let name = json
        .pointer("/data/result/0/metric/__name__")
        .and_then(Value::as_str)
        .unwrap_or("histogram")
        .trim_end_matches("_bucket")
        .to_string();
    let histogram = BucketHistogram {
        name,
        upper_bounds: buckets.iter().map(|b| b.0).collect(),
        cumulative: buckets.iter().map(|b| b.1).collect(),
        sum: None,
        count: None,
    };
    check_histogram(path, &histogram)?;
    Ok(histogram)
}

fn check_histogram(path: &Path, h: &BucketHistogram) -> Result<(), InputError> {
    for (i, pair) in h.upper_bounds.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(bad(
                path,
                format!(
                    "{}: bucket bounds are not increasing (le={} after le={})",
                    h.name, pair[1], pair[0]
                ),
                "list each `le` once, in increasing order",
            ));
        }
        if h.cumulative[i + 1] < h.cumulative[i] {
            return Err(bad(
                path,
                format!(
                    "{}: bucket counts are not cumulative (le={} has {} but le={} has {})",
                    h.name, pair[1], h.cumulative[i + 1], pair[0], h.cumulative[i]
                ),
                "Prometheus buckets count everything at or below `le`; export them unchanged (not per-bucket differences)",
            ));
        }
    }
    if h.upper_bounds.first().is_some_and(|b| *b < 0.0) {
        return Err(bad(
            path,
            format!("{}: a negative bucket bound", h.name),
            "durations are never negative",
        ));
    }
    let total = h.cumulative.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return Err(bad(
            path,
            format!("{}: the histogram is empty (all buckets 0)", h.name),
            "export a range in which the pool was used",
        ));
    }
    if let Some(count) = h.count {
        if h.upper_bounds.last() == Some(&f64::INFINITY) && (count - total).abs() > 0.5 {
            return Err(bad(
                path,
                format!(
                    "{}: _count ({count}) differs from the +Inf bucket ({total})",
                    h.name
                ),
                "export _bucket and _count from the same scrape",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, extension: &str) -> tempfile::TempPath {
        let file = tempfile::Builder::new()
            .suffix(extension)
            .tempfile()
            .unwrap();
        std::fs::write(file.path(), text).unwrap();
        file.into_temp_path()
    }

    #[test]
    fn sums_or_averages_the_series_of_one_query() {
        let path = file(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[100,"1"],[110,"3"],[120,"5"]]},
            {"metric":{"pod":"b"},"values":[[100,"3"],[110,"5"],[120,"7"]]}]}}"#,
            ".json",
        );
        let sum = read_range_series(&path, Combine::Sum).unwrap();
        assert_eq!(sum.values, [4.0, 8.0, 12.0]);
        assert_eq!((sum.step_s, sum.series_count), (10.0, 2));
        let mean = read_range_series(&path, Combine::Mean).unwrap();
        assert_eq!(mean.values, [2.0, 4.0, 6.0]);
        assert_eq!(read_rate_trace(&path).unwrap()[1], (10.0, 8.0));
    }

    #[test]
    fn reads_exposition_histograms_with_labels_and_timestamps() {
        let path = file(
            "# TYPE h histogram\nh_bucket{pool=\"p\",le=\"0.1\"} 2 1700000000000\nh_bucket{pool=\"p\",le=\"+Inf\"} 5\nh_sum{pool=\"p\"} 0.9\nh_count{pool=\"p\"} 5\nother_gauge 3\n",
            ".prom",
        );
        let histograms = read_text_histograms(&path).unwrap();
        assert_eq!(histograms.len(), 1);
        let h = &histograms[0];
        assert_eq!(h.name, "h{pool=\"p\"}");
        assert_eq!(h.upper_bounds, [0.1, f64::INFINITY]);
        assert_eq!(h.cumulative, [2.0, 5.0]);
        assert_eq!((h.sum, h.count), (Some(0.9), Some(5.0)));
    }

    #[test]
    fn reads_a_histogram_from_query_json() {
        let path = file(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"le":"+Inf"},"value":[100,"9"]},
            {"metric":{"le":"0.05"},"value":[100,"4"]}]}}"#,
            ".json",
        );
        let h = read_json_histogram(&path).unwrap();
        assert_eq!(h.upper_bounds, [0.05, f64::INFINITY]);
        assert_eq!(h.cumulative, [4.0, 9.0]);
    }
}
