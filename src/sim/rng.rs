//! Independent random streams, one per source of randomness.
//!
//! Each stream is seeded from `(seed, replication, source)` only, never from the
//! sweep point or the thread that runs it. So every sweep point sees the same
//! arrivals and service times (common random numbers, which sharpens comparisons
//! between pool sizes), and results do not depend on how work is scheduled.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator behind every stream: fast, small and stable across platforms.
pub type Stream = Xoshiro256PlusPlus;

/// Where randomness is used. The numeric value is part of the seed derivation,
/// so never reorder these; add new sources at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Arrivals = 1,
    Routing = 2,
    Connects = 3,
    Lifetimes = 4,
    RetryJitter = 5,
    /// Step `i` of the request uses `StepTimes as u64 + i`, so adding a step
    /// does not disturb the streams of the others.
    StepTimes = 1000,
}

/// SplitMix64's finalizer: a strong 64-bit mix, so nearby inputs give unrelated seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream for `source` (plus `index`, e.g. the step number) in one replication.
pub fn stream(seed: u64, replication: u32, source: Source, index: u64) -> Stream {
    let key = mix(mix(mix(seed) ^ replication as u64) ^ (source as u64 + index));
    Stream::seed_from_u64(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_stable_values() {
        // Pins the numbers a seed produces: a dependency upgrade that changes them fails here.
        let mut s = stream(42, 0, Source::Arrivals, 0);
        let first: u64 = s.gen();
        let again: u64 = stream(42, 0, Source::Arrivals, 0).gen();
        assert_eq!(first, again);
        assert_eq!(first, PINNED_FIRST_DRAW);
    }

    #[test]
    fn sources_and_replications_differ() {
        let a: u64 = stream(42, 0, Source::Arrivals, 0).gen();
        let b: u64 = stream(42, 1, Source::Arrivals, 0).gen();
        let c: u64 = stream(42, 0, Source::Routing, 0).gen();
        let d: u64 = stream(42, 0, Source::StepTimes, 1).gen();
        let e: u64 = stream(42, 0, Source::StepTimes, 0).gen();
        let all = [a, b, c, d, e];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
    }

    const PINNED_FIRST_DRAW: u64 = 2_999_446_443_017_757_072;
}
