//! Human duration strings ("250us", "1.5s", "1h30m") to and from simulated time.
//!
//! Model files are written by people and kept for years, so every duration
//! carries its unit and no bare number is ever guessed to be milliseconds.

use crate::sim::time::SimTime;

const UNITS: [(&str, f64); 7] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parses "250ms", "1.5s", "2m", "1h30m", "0s". Returns a message fit for a hint on failure.
pub fn parse_duration(text: &str) -> Result<SimTime, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write a number with a unit, e.g. \"250ms\"".into());
    }
    if trimmed.starts_with('-') {
        return Err(format!(
            "`{trimmed}` is negative; durations are 0 or more, e.g. \"0s\" or \"250ms\""
        ));
    }
    let mut rest = trimmed;
    let mut total_ns = 0.0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!(
                "`{trimmed}` is not a duration; write a non-negative number followed by a unit (ns, us, ms, s, m, h), e.g. \"250ms\" or \"1h30m\""
            ));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| {
            format!(
                "`{trimmed}` has a malformed number `{}`",
                &rest[..number_len]
            )
        })?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| {
                if unit.is_empty() {
                    format!("`{trimmed}` has no unit; add one of ns, us, ms, s, m, h, e.g. \"{trimmed}ms\"")
                } else if unit.starts_with(char::is_whitespace)
                    && UNITS.iter().any(|(name, _)| *name == unit.trim())
                {
                    format!("`{trimmed}` has a space before its unit; write it without one, e.g. \"{}\"", trimmed.split_whitespace().collect::<String>())
                } else {
                    format!("`{trimmed}` has an unknown unit `{}`; use one of ns, us, ms, s, m, h", unit.trim())
                }
            })?;
        total_ns += number * scale;
        rest = &rest[unit_len..];
    }
    if !total_ns.is_finite() || total_ns > 1e18 {
        return Err(format!(
            "`{trimmed}` is too long; keep durations under 30 years"
        ));
    }
    Ok(SimTime(total_ns.round() as u64))
}

/// Formatting lives with the time type, which the engine prints too.
pub use crate::sim::time::format_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_compounds() {
        assert_eq!(parse_duration("250us").unwrap(), SimTime(250_000));
        assert_eq!(parse_duration("3ms").unwrap(), SimTime(3_000_000));
        assert_eq!(parse_duration("1.5s").unwrap(), SimTime(1_500_000_000));
        assert_eq!(parse_duration("2m").unwrap(), SimTime(120_000_000_000));
        assert_eq!(parse_duration("1h30m").unwrap(), SimTime(5_400_000_000_000));
        assert_eq!(parse_duration("0s").unwrap(), SimTime(0));
        assert_eq!(parse_duration("15ns").unwrap(), SimTime(15));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "250", "ms", "-5s", "1.2.3s", "5 parsecs", "10xs"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250us", "3ms", "1.5s", "2m", "1h30m", "45s", "0s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
            assert_eq!(parse_duration(&format_duration(parsed)).unwrap(), parsed);
        }
    }
}
