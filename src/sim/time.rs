//! Simulated time as an integer number of nanoseconds.
//!
//! Event ordering must be exact and reproducible, so simulated time is never an
//! `f64`: two events scheduled for "the same" instant must compare equal on every
//! platform. Nanoseconds in a `u64` cover about 584 years, far beyond any horizon.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, or a span of it, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);
    pub const NANOS_PER_SEC: f64 = 1e9;

    pub fn from_secs_f64(seconds: f64) -> SimTime {
        if seconds <= 0.0 || seconds.is_nan() {
            SimTime(0)
        } else {
            SimTime((seconds * Self::NANOS_PER_SEC).round().min(u64::MAX as f64) as u64)
        }
    }
    pub fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }
    /// A span between two instants of a run, in ns, as an `f64`: `self.0 as f64`, through
    /// `i64`, which is one instruction on x86-64 where a `u64` conversion takes several.
    /// Exact, since durations are capped at 30 years (1e18 ns < 2^63); never for `MAX`.
    #[inline(always)]
    pub fn span_ns_f64(self) -> f64 {
        debug_assert!(self.0 <= i64::MAX as u64, "not a span of a run: {}", self.0);
        self.0 as i64 as f64
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_SEC
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn saturating_sub(self, other: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(other.0))
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Add for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}
impl AddAssign for SimTime {
    fn add_assign(&mut self, rhs: SimTime) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}
impl Sub for SimTime {
    type Output = SimTime;
    fn sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0 - rhs.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_duration(*self))
    }
}

/// Formats a duration compactly with the largest sensible unit ("250ms", "1.5s", "1h30m").
pub fn format_duration(time: SimTime) -> String {
    let ns = time.0;
    if ns == 0 {
        return "0s".into();
    }
    if ns >= 60_000_000_000 && ns.is_multiple_of(1_000_000_000) {
        let total_s = ns / 1_000_000_000;
        let (h, m, s) = (total_s / 3600, (total_s % 3600) / 60, total_s % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
        return out;
    }
    let (scale, unit) = if ns >= 1_000_000_000 {
        (1e9, "s")
    } else if ns >= 1_000_000 {
        (1e6, "ms")
    } else if ns >= 1_000 {
        (1e3, "us")
    } else {
        (1.0, "ns")
    };
    let value = ns as f64 / scale;
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// `x as i64` for `0 <= x < 2^52`, which the callers have checked: one `cvttsd2si`, without
/// the compare-and-select that `as` adds for NaN and out-of-range values (none can occur
/// here). Part of every event's time arithmetic.
#[inline(always)]
fn truncate_in_range(x: f64) -> i64 {
    debug_assert!((0.0..4_503_599_627_370_496.0).contains(&x));
    // SAFETY: x is finite and in 0..2^52, so its truncation is representable in i64.
    unsafe { x.to_int_unchecked::<i64>() }
}

/// `x.ceil() as u64`, without a call into libm on the common path (x86-64's baseline has
/// no rounding instruction, so `f64::ceil` is a function call). Same result for every `x`.
#[inline(always)]
pub fn ceil_to_u64(x: f64) -> u64 {
    // Below 2^52 the truncation and its conversion back are exact. Through i64, both
    // conversions are one instruction each; u64 ones need a branchy sequence on x86-64.
    if (0.0..4_503_599_627_370_496.0).contains(&x) {
        let whole = truncate_in_range(x);
        (whole + i64::from((whole as f64) < x)) as u64
    } else {
        x.ceil() as u64
    }
}

/// `x.round() as u64` (halves away from zero), like `ceil_to_u64` without libm.
#[inline(always)]
pub fn round_to_u64(x: f64) -> u64 {
    if (0.0..4_503_599_627_370_496.0).contains(&x) {
        let whole = truncate_in_range(x);
        // Exact: for whole >= 1, x < 2 whole, so the difference is representable.
        (whole + i64::from(x - whole as f64 >= 0.5)) as u64
    } else {
        x.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ns_f64_matches_the_plain_conversion() {
        let spans = [0, 1, 999, 1 << 53, (1 << 53) + 1, 1_000_000_000_000_000_000];
        for ns in spans.into_iter().chain([i64::MAX as u64]) {
            assert_eq!(
                SimTime(ns).span_ns_f64().to_bits(),
                (ns as f64).to_bits(),
                "{ns}"
            );
        }
    }

    #[test]
    fn ceil_and_round_match_libm() {
        let mut cases = vec![
            0.0,
            -0.0,
            0.5,
            0.49999999999999994,
            1.5,
            2.5,
            1.0,
            -0.4,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9.007_199_254_740_993e15,
            1e30,
        ];
        let mut x: f64 = 1e-9;
        while x < 1e17 {
            for y in [
                x,
                x.next_up(),
                x.next_down(),
                x + 0.5,
                (x + 0.5).next_down(),
            ] {
                cases.push(y);
            }
            x *= 1.37;
        }
        for x in cases {
            assert_eq!(ceil_to_u64(x), x.ceil() as u64, "ceil {x:e}");
            assert_eq!(round_to_u64(x), x.round() as u64, "round {x:e}");
        }
    }
}
