//! The client's retry backoff: exponential with the four jitter kinds.
//!
//! Formulas follow the AWS Architecture Blog's "Exponential Backoff And Jitter",
//! which is what most SDKs implement; full jitter does the least total work.

use rand::Rng;

use crate::config::model::{Jitter, RetrySpec};
use crate::sim::time::{round_to_u64, SimTime};

/// The sleep before retry number `retry` (1 for the first retry). `previous` is the
/// last sleep (decorrelated jitter grows from it); it is `base` before the first retry.
pub fn backoff<R: Rng + ?Sized>(
    spec: &RetrySpec,
    retry: u32,
    previous: SimTime,
    rng: &mut R,
) -> SimTime {
    let base = spec.base.0 as f64;
    let cap = spec.cap.0 as f64;
    let exponential = (base * 2f64.powi(retry.saturating_sub(1).min(60) as i32)).min(cap);
    let sleep_ns = match spec.jitter {
        Jitter::None => exponential,
        Jitter::Full => rng.gen::<f64>() * exponential,
        Jitter::Equal => exponential / 2.0 + rng.gen::<f64>() * exponential / 2.0,
        Jitter::Decorrelated => {
            let upper = (previous.0 as f64 * 3.0).max(base);
            (base + rng.gen::<f64>() * (upper - base)).min(cap)
        }
    };
    SimTime(round_to_u64(sleep_ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn spec(jitter: Jitter) -> RetrySpec {
        RetrySpec {
            max: 5,
            base: SimTime::from_millis(100),
            cap: SimTime::from_millis(2000),
            jitter,
        }
    }

    #[test]
    fn no_jitter_doubles_up_to_the_cap() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let s = spec(Jitter::None);
        let sleeps: Vec<u64> = (1..=6)
            .map(|r| backoff(&s, r, s.base, &mut rng).0 / 1_000_000)
            .collect();
        assert_eq!(sleeps, [100, 200, 400, 800, 1600, 2000]);
    }

    #[test]
    fn jitter_kinds_stay_in_their_ranges() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        for _ in 0..10_000 {
            let full = backoff(&spec(Jitter::Full), 3, SimTime::ZERO, &mut rng);
            assert!(full <= SimTime::from_millis(400));
            let equal = backoff(&spec(Jitter::Equal), 3, SimTime::ZERO, &mut rng);
            assert!(equal >= SimTime::from_millis(200) && equal <= SimTime::from_millis(400));
            let decorrelated = backoff(
                &spec(Jitter::Decorrelated),
                3,
                SimTime::from_millis(300),
                &mut rng,
            );
            assert!(
                decorrelated >= SimTime::from_millis(100)
                    && decorrelated <= SimTime::from_millis(900)
            );
        }
    }
}
