//! Arrivals: a Poisson process whose rate follows the traffic profile.
//!
//! Time-varying rates use thinning (Lewis and Shedler): candidates arrive at the
//! peak rate and each is kept with probability rate(t) / peak. With a flat
//! profile every candidate is kept and no extra random number is drawn.

use rand::Rng;
use rand_distr::{Distribution, Exp1};

use crate::config::model::TrafficSpec;
use crate::sim::rng::Stream;
use crate::sim::time::SimTime;

pub struct ArrivalProcess {
    spec: TrafficSpec,
    peak_rate_per_ns: f64,
    flat: bool,
    rng: Stream,
}

impl ArrivalProcess {
    pub fn new(spec: TrafficSpec, rng: Stream) -> ArrivalProcess {
        let flat = spec.profile.iter().all(|p| p.1 == 1.0);
        let peak_rate_per_ns = spec.rate_per_s * spec.peak_factor() / 1e9;
        ArrivalProcess {
            spec,
            peak_rate_per_ns,
            flat,
            rng,
        }
    }

    /// The next arrival after `now` and before `until`, if there is one.
    #[inline]
    pub fn next_after(&mut self, now: SimTime, until: SimTime) -> Option<SimTime> {
        if self.peak_rate_per_ns <= 0.0 {
            return None;
        }
        let mut t = now.0 as f64;
        loop {
            let gap: f64 = Exp1.sample(&mut self.rng);
            t += gap / self.peak_rate_per_ns;
            if t >= until.0 as f64 {
                return None;
            }
            let candidate = SimTime(t.ceil() as u64);
            if self.flat {
                return Some(candidate);
            }
            let keep = self.spec.rate_per_s * self.spec.profile_factor(candidate)
                / 1e9
                / self.peak_rate_per_ns;
            if self.rng.gen::<f64>() < keep {
                return Some(candidate);
            }
        }
    }
}
