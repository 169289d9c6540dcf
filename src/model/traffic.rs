//! Arrivals: a Poisson process whose rate follows the profile, surges and traces.
//!
//! Time-varying rates use thinning (Lewis and Shedler): candidates arrive at a
//! peak rate and each is kept with probability rate(t) / peak. With a flat rate
//! every candidate is kept and no extra random number is drawn. A trace of
//! arrival times is replayed as it is.
//!
//! The peak is taken per time segment between surge boundaries (only the surges
//! active in the segment multiply it), not as the product of every surge of the
//! run: twelve surges of factor 3 would otherwise draw 3^12 candidates per arrival.
//! A candidate past the segment's end is dropped and drawing restarts at the
//! boundary with the next segment's peak, which the exponential's lack of memory allows.

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
    /// Peak rate without surges (profile peak and hot rescales included).
    peak_rate_per_ns: f64,
    /// Surge starts and ends, sorted: the segments' boundaries.
    boundaries: Vec<SimTime>,
    /// The segment the last candidate fell in: [start, end) and its peak rate per ns.
    segment: (SimTime, SimTime, f64),
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
        let mut boundaries: Vec<SimTime> = surges.iter().flat_map(|s| [s.0, s.1]).collect();
        boundaries.sort_unstable();
        boundaries.dedup();
        let mut process = ArrivalProcess {
            boundaries,
            segment: (SimTime::MAX, SimTime::MAX, 0.0),
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
        self.peak_rate_per_ns = base_peak * self.rate_scale * self.spec.peak_factor() / 1e9;
        self.segment = (SimTime::MAX, SimTime::MAX, 0.0);
        self.flat = self.spec.profile.iter().all(|p| p.1 == 1.0)
            && self.surges.is_empty()
            && !matches!(self.trace, Some(Trace::Rates(_)));
    }

    /// A hot change of the rate (traffic.rate or traffic.growth by a `set` event).
    pub fn rescale(&mut self, scale: f64) {
        self.rate_scale = scale;
        self.update_bounds();
    }

    /// The segment between surge boundaries that holds `t`: (start, end, peak per ns).
    fn segment_at(&self, t: SimTime) -> (SimTime, SimTime, f64) {
        let index = self.boundaries.partition_point(|b| *b <= t);
        let start = if index == 0 {
            SimTime::ZERO
        } else {
            self.boundaries[index - 1]
        };
        let end = self.boundaries.get(index).copied().unwrap_or(SimTime::MAX);
        let surge: f64 = self
            .surges
            .iter()
            .filter(|s| s.0 <= start && start < s.1)
            .map(|s| s.2.max(1.0))
            .product();
        (start, end, self.peak_rate_per_ns * surge)
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

    /// The next arrival after `now` and before `until` (the horizon: both are instants of
    /// the run, never `SimTime::MAX`), if there is one.
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
        // Through i64 (`span_ns_f64`): one instruction each, where u64 takes several.
        let mut t = now.span_ns_f64();
        let until_ns = until.span_ns_f64();
        if self.flat {
            let gap: f64 = Exp1.sample(&mut self.rng);
            t += gap / self.peak_rate_per_ns;
            return (t < until_ns).then(|| SimTime(ceil_to_u64(t)));
        }
        loop {
            let at = SimTime(ceil_to_u64(t));
            if !(self.segment.0 <= at && at < self.segment.1) {
                self.segment = self.segment_at(at);
            }
            let (_, segment_end, peak) = self.segment;
            let gap: f64 = Exp1.sample(&mut self.rng);
            t += gap / peak;
            if t >= until_ns {
                return None;
            }
            if t >= segment_end.0 as f64 {
                t = segment_end.0 as f64;
                continue;
            }
            let candidate = SimTime(ceil_to_u64(t));
            let keep = self.rate_at(candidate) / 1e9 / peak;
            if self.rng.gen::<f64>() < keep {
                return Some(candidate);
            }
        }
    }
}
