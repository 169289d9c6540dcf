//! Arrivals: a Poisson process whose rate follows the profile, surges and traces.
//!
//! Time-varying rates use thinning (Lewis and Shedler): candidates arrive at a
//! peak rate and each is kept with probability rate(t) / peak. With a flat rate
//! every candidate is kept and no extra random number is drawn. A trace of
//! arrival times is replayed as it is.

use rand::Rng;
use rand_distr::{Distribution, Exp1};

use crate::config::model::TrafficSpec;
use crate::config::timeline::Trace;
use crate::sim::rng::Stream;
use crate::sim::time::{ceil_to_u64, SimTime};

pub struct ArrivalProcess {
    spec: TrafficSpec,
    /// (start, end, factor) of `traffic` surge events.
    surges: Vec<(SimTime, SimTime, f64)>,
    trace: Option<Trace>,
    /// Next row of an arrival-time trace.
    replay_index: usize,
    /// Multiplier set by hot `set` events on traffic.rate or traffic.growth.
    rate_scale: f64,
    peak_rate_per_ns: f64,
    flat: bool,
    rng: Stream,
}

impl ArrivalProcess {
    pub fn new(
        spec: TrafficSpec,
        surges: Vec<(SimTime, SimTime, f64)>,
        trace: Option<Trace>,
        rng: Stream,
    ) -> ArrivalProcess {
        let mut process = ArrivalProcess {
            spec,
            surges,
            trace,
            replay_index: 0,
            rate_scale: 1.0,
            peak_rate_per_ns: 0.0,
            flat: true,
            rng,
        };
        process.update_bounds();
        process
    }

    fn update_bounds(&mut self) {
        let base_peak = match &self.trace {
            Some(Trace::Rates(rates)) => {
                rates.iter().map(|r| r.1).fold(0.0, f64::max) * self.spec.growth
            }
            _ => self.spec.rate_per_s,
        };
        let surge_peak: f64 = self.surges.iter().map(|s| s.2.max(1.0)).product();
        self.peak_rate_per_ns =
            base_peak * self.rate_scale * self.spec.peak_factor() * surge_peak / 1e9;
        self.flat = self.spec.profile.iter().all(|p| p.1 == 1.0)
            && self.surges.is_empty()
            && !matches!(self.trace, Some(Trace::Rates(_)));
    }

    /// A hot change of the rate (traffic.rate or traffic.growth by a `set` event).
    pub fn rescale(&mut self, scale: f64) {
        self.rate_scale = scale;
        self.update_bounds();
    }

    /// The arrival rate at `t`, per second.
    pub fn rate_at(&self, t: SimTime) -> f64 {
        let base = match &self.trace {
            Some(Trace::Rates(rates)) => {
                let index = rates.partition_point(|r| r.0 <= t);
                if index == 0 {
                    0.0
                } else {
                    rates[index - 1].1 * self.spec.growth
                }
            }
            _ => self.spec.rate_per_s,
        };
        let surge: f64 = self
            .surges
            .iter()
            .filter(|s| s.0 <= t && t < s.1)
            .map(|s| s.2)
            .product();
        base * self.rate_scale * self.spec.profile_factor(t) * surge
    }

    /// The next arrival after `now` and before `until`, if there is one.
    #[inline]
    pub fn next_after(&mut self, now: SimTime, until: SimTime) -> Option<SimTime> {
        if let Some(Trace::Arrivals(times)) = &self.trace {
            while self.replay_index < times.len() && times[self.replay_index] < now {
                self.replay_index += 1;
            }
            let next = times.get(self.replay_index).copied().filter(|t| *t < until);
            self.replay_index += 1;
            return next;
        }
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
            let candidate = SimTime(ceil_to_u64(t));
            if self.flat {
                return Some(candidate);
            }
            let keep = self.rate_at(candidate) / 1e9 / self.peak_rate_per_ns;
            if self.rng.gen::<f64>() < keep {
                return Some(candidate);
            }
        }
    }
}
