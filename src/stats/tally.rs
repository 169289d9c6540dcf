//! A per-request tally that ends up as an hdrhistogram, at a fraction of the cost per value.
//!
//! Each simulated request records one or two durations. `Histogram::saturating_record`
//! pays for range checks, an `Option` index, a saturating add, min/max upkeep and a
//! total count on every value: about as many instructions as the rest of the request's
//! bookkeeping. `Tally` counts into the very bucket hdrhistogram would use (same
//! index formula, for the configuration `new_histogram` builds) and hands the counts to
//! a real `Histogram` once, at the end of the run. Every figure the engine reads from
//! the histogram (quantiles, `max`, counts in a range, emptiness) depends only on the
//! bucket counts and on the bucket of the largest value, so the results are the same
//! bit for bit; `Tally::histogram` checks its buckets against hdrhistogram's own.

use hdrhistogram::Histogram;

/// Histograms hold microseconds up to this bound (values above are clamped).
pub const HISTOGRAM_MAX_US: u64 = 24 * 3600 * 1_000_000;
/// Significant decimal digits the histograms keep.
const SIGNIFICANT_DIGITS: u8 = 3;
/// hdrhistogram's layout for lowest value 1 and 3 significant digits: 2^11 = 2048 sub-buckets
/// (the smallest power of two above 2 x 10^3), of which each bucket after the first uses the
/// upper half.
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 10;
const SUB_BUCKET_HALF_COUNT: u64 = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = 2 * SUB_BUCKET_HALF_COUNT - 1;
/// 64 minus the unit magnitude (0, for a lowest value of 1) minus the sub-bucket magnitude (11).
const LEADING_ZERO_COUNT_BASE: u32 = 64 - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1);

/// The histogram every per-run duration statistic uses: 1 us to a day, 3 digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, SIGNIFICANT_DIGITS)
        .expect("static histogram bounds are valid")
}

/// hdrhistogram's bucket index for `value` (`index_for` in its source).
#[inline(always)]
fn index_of(value: u64) -> usize {
    let bucket = LEADING_ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = value >> bucket;
    (((u64::from(bucket) + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket
        - SUB_BUCKET_HALF_COUNT) as usize
}

/// The least value in bucket `index` (`value_for` in hdrhistogram's source).
fn lowest_value_at(index: usize) -> u64 {
    let index = index as u64;
    let bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE).saturating_sub(1);
    let sub_bucket = if index < SUB_BUCKET_HALF_COUNT {
        index
    } else {
        (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT
    };
    sub_bucket << bucket
}

/// Counts of values in microseconds (0 to `HISTOGRAM_MAX_US`), by hdrhistogram bucket.
pub struct Tally {
    counts: Vec<u64>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            counts: vec![0; index_of(HISTOGRAM_MAX_US) + 1],
        }
    }

    /// Counts one value; values above `HISTOGRAM_MAX_US` must be clamped by the caller.
    #[inline(always)]
    pub fn record(&mut self, value_us: u64) {
        debug_assert!(value_us <= HISTOGRAM_MAX_US);
        self.counts[index_of(value_us)] += 1;
    }

    /// The histogram recording every value counted would have built.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for (index, &count) in self.counts.iter().enumerate() {
            if count > 0 {
                let value = lowest_value_at(index);
                debug_assert_eq!(histogram.lowest_equivalent(value), value);
                debug_assert_eq!(index_of(value), index);
                histogram.saturating_record_n(value, count);
            }
        }
        histogram
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn buckets_and_figures_match_hdrhistogram() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut direct = new_histogram();
        let mut tally = Tally::new();
        let mut values = vec![0, 1, 2047, 2048, 2049, 4095, 4096, HISTOGRAM_MAX_US];
        // Log-uniform over the whole range, so every bucket size is exercised.
        values.extend((0..20_000).map(|_| {
            let exponent = rng.gen_range(0.0..(HISTOGRAM_MAX_US as f64).log2());
            (2f64.powf(exponent) as u64).min(HISTOGRAM_MAX_US)
        }));
        for value in values {
            direct.saturating_record(value);
            tally.record(value);
            assert_eq!(
                lowest_value_at(index_of(value)),
                direct.lowest_equivalent(value),
                "{value}"
            );
        }
        let folded = tally.histogram();
        assert_eq!(folded.len(), direct.len());
        assert_eq!(folded.max(), direct.max());
        for quantile in [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(
                folded.value_at_quantile(quantile),
                direct.value_at_quantile(quantile)
            );
        }
        for (a, b) in folded.iter_all().zip(direct.iter_all()) {
            assert_eq!(a.count_at_value(), b.count_at_value());
        }
    }
}
