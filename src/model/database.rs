//! The database: connection slots, and statements sharing cores with USL contention.
//!
//! Statements run under processor sharing: with `n` active, each progresses at
//! `min(1, cores/n) / (1 + serial (n-1) + crosstalk n (n-1))` (docs/model.md). Since
//! every active statement runs at the same speed, the model keeps one "virtual
//! work" clock instead of updating every statement: a statement that starts when
//! the clock reads `V` with demand `d` finishes when it reads `V + d`. That makes
//! each start and finish O(log n) and allocation-free.

use crate::config::model::DatabaseSpec;
use crate::sim::heap::MinHeap;
use crate::sim::time::{ceil_to_u64, SimTime};

/// A statement's finish mark on the virtual-work clock, with the job that runs it.
/// Marks are non-negative, so their IEEE bit patterns order like the numbers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FinishMark {
    work_bits: u64,
    job: u32,
    job_generation: u32,
}

/// Statement counts up to this have their speed precomputed (see `speed_by_active`).
const SPEED_TABLE_MAX_ACTIVE: u32 = 4096;

pub struct Database {
    /// Private so that a change goes through `set_spec`, which keeps `speed_by_active` in step.
    spec: DatabaseSpec,
    /// `spec.per_statement_speed(n)` for n = 0..=min(max_connections, SPEED_TABLE_MAX_ACTIVE):
    /// every start and finish needs the new speed, and a lookup takes a division and
    /// its latency off the event's critical path. Same values, bit for bit.
    speed_by_active: Vec<f64>,
    /// Connection slots held by this fleet's pools (open or opening).
    pub slots_used: u32,
    pub peak_slots_used: u32,
    /// Statements executing now.
    pub active_statements: u32,
    /// Work done by each active statement since the start, in nanoseconds of demand.
    virtual_work_ns: f64,
    last_update: SimTime,
    speed: f64,
    marks: MinHeap<FinishMark>,
    /// Multiplier on every statement's demand (a `db_slowdown` event sets it).
    pub demand_factor: f64,
    /// Bumped whenever the next completion moves, so stale wake-ups are ignored.
    pub epoch: u32,
    pub scheduled_completion: Option<SimTime>,
}

impl Database {
    pub fn new(spec: DatabaseSpec) -> Database {
        Database {
            speed_by_active: speed_table(&spec),
            spec,
            slots_used: 0,
            peak_slots_used: 0,
            active_statements: 0,
            virtual_work_ns: 0.0,
            last_update: SimTime::ZERO,
            speed: 1.0,
            marks: MinHeap::with_capacity(256),
            demand_factor: 1.0,
            epoch: 0,
            scheduled_completion: None,
        }
    }

    pub fn spec(&self) -> &DatabaseSpec {
        &self.spec
    }

    /// New settings (a hot change). The speed of running statements changes at the next
    /// start or finish, as before.
    pub fn set_spec(&mut self, spec: DatabaseSpec) {
        self.speed_by_active = speed_table(&spec);
        self.spec = spec;
    }

    /// Each of `active` statements' speed: `spec.per_statement_speed(active)`.
    #[inline]
    fn speed_with(&self, active: u32) -> f64 {
        match self.speed_by_active.get(active as usize) {
            Some(&speed) => speed,
            None => self.spec.per_statement_speed(active),
        }
    }

    /// Slots the fleet may still open before PostgreSQL refuses.
    pub fn has_free_slot(&self) -> bool {
        self.slots_used < self.spec.slots_for_fleet()
    }

    pub fn take_slot(&mut self) {
        self.slots_used += 1;
        self.peak_slots_used = self.peak_slots_used.max(self.slots_used);
        debug_assert!(self.slots_used <= self.spec.slots_for_fleet());
    }

    pub fn release_slot(&mut self) {
        debug_assert!(self.slots_used > 0);
        self.slots_used -= 1;
    }

    #[inline(always)]
    fn advance(&mut self, now: SimTime) {
        let elapsed_ns = (now - self.last_update).span_ns_f64();
        if self.active_statements > 0 {
            self.virtual_work_ns += elapsed_ns * self.speed;
        }
        self.last_update = now;
    }

    /// Starts a statement of `demand_ns` (at zero load) for `job`.
    pub fn start_statement(&mut self, now: SimTime, demand_ns: f64, job: u32, job_generation: u32) {
        self.advance(now);
        let finish = self.virtual_work_ns + demand_ns * self.demand_factor;
        self.marks.push(FinishMark {
            work_bits: finish.to_bits(),
            job,
            job_generation,
        });
        self.active_statements += 1;
        self.speed = self.speed_with(self.active_statements);
    }

    /// Forgets a statement whose job was cancelled; its mark is skipped when it surfaces.
    pub fn cancel_statement(&mut self, now: SimTime) {
        self.advance(now);
        self.active_statements -= 1;
        self.speed = self.speed_with(self.active_statements);
    }

    /// Pops the next statement that has finished by `now`, if any, as (job, generation).
    /// `is_live` says whether a mark still belongs to an executing statement. Inlined into
    /// its one caller (as is `next_completion`): a call costs as much as the work.
    #[inline(always)]
    pub fn pop_finished(
        &mut self,
        now: SimTime,
        is_live: impl Fn(u32, u32) -> bool,
    ) -> Option<(u32, u32)> {
        self.advance(now);
        while let Some(mark) = self.marks.peek().copied() {
            if !is_live(mark.job, mark.job_generation) {
                self.marks.pop();
                continue;
            }
            // Rounding the wake-up up to a whole nanosecond leaves at most one ns of slack.
            if f64::from_bits(mark.work_bits) <= self.virtual_work_ns + 1.0 {
                self.marks.pop();
                self.active_statements -= 1;
                self.speed = self.speed_with(self.active_statements);
                return Some((mark.job, mark.job_generation));
            }
            return None;
        }
        None
    }

    /// When the earliest live statement will finish at the current speed.
    #[inline(always)]
    pub fn next_completion(
        &mut self,
        now: SimTime,
        is_live: impl Fn(u32, u32) -> bool,
    ) -> Option<SimTime> {
        while let Some(mark) = self.marks.peek().copied() {
            if is_live(mark.job, mark.job_generation) {
                let remaining_ns = (f64::from_bits(mark.work_bits) - self.virtual_work_ns).max(0.0);
                // x / 1.0 is x exactly; skipping the division saves its latency when no
                // statement is slowed (fewer statements than cores, no contention).
                let wall_ns = if self.speed == 1.0 {
                    remaining_ns
                } else {
                    remaining_ns / self.speed
                };
                return Some(SimTime(now.0 + ceil_to_u64(wall_ns)));
            }
            self.marks.pop();
        }
        None
    }

    /// Busy cores now, for utilization.
    pub fn busy_cores(&self) -> u32 {
        self.active_statements.min(self.spec.cores)
    }
}

fn speed_table(spec: &DatabaseSpec) -> Vec<f64> {
    (0..=spec.max_connections.min(SPEED_TABLE_MAX_ACTIVE))
        .map(|active| spec.per_statement_speed(active))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(cores: u32, serial: f64, crosstalk: f64) -> Database {
        Database::new(DatabaseSpec {
            max_connections: 100,
            reserved_connections: 3,
            other_connections: 0,
            cores,
            round_trip: SimTime::ZERO,
            serial,
            crosstalk,
        })
    }

    #[test]
    fn speed_follows_processor_sharing_and_usl() {
        let db = database(4, 0.02, 0.001);
        assert_eq!(db.spec.per_statement_speed(1), 1.0);
        // 8 statements on 4 cores: half a core each, slowed by 1 + 0.02*7 + 0.001*56.
        let expected = 0.5 / (1.0 + 0.14 + 0.056);
        assert!((db.spec.per_statement_speed(8) - expected).abs() < 1e-12);
    }

    #[test]
    fn the_speed_table_matches_the_formula_before_and_after_a_change() {
        let mut db = database(4, 0.02, 0.001);
        let check = |db: &Database| {
            for active in 0..=db.spec.max_connections + 5 {
                let expected = db.spec.per_statement_speed(active);
                assert_eq!(
                    db.speed_with(active).to_bits(),
                    expected.to_bits(),
                    "{active}"
                );
            }
        };
        check(&db);
        let mut slower = db.spec.clone();
        slower.cores = 2;
        slower.serial = 0.1;
        db.set_spec(slower);
        check(&db);
    }

    #[test]
    fn statements_sharing_a_core_finish_together() {
        let mut db = database(1, 0.0, 0.0);
        let live = |_: u32, _: u32| true;
        db.start_statement(SimTime::ZERO, 10e6, 0, 0);
        db.start_statement(SimTime::ZERO, 10e6, 1, 0);
        // Two 10 ms statements on one core both need 20 ms.
        assert_eq!(
            db.next_completion(SimTime::ZERO, live),
            Some(SimTime::from_millis(20))
        );
        let now = SimTime::from_millis(20);
        assert_eq!(db.pop_finished(now, live), Some((0, 0)));
        assert_eq!(db.pop_finished(now, live), Some((1, 0)));
        assert_eq!(db.pop_finished(now, live), None);
        assert_eq!(db.active_statements, 0);
    }

    #[test]
    fn a_late_statement_slows_the_earlier_one() {
        let mut db = database(1, 0.0, 0.0);
        let live = |_: u32, _: u32| true;
        db.start_statement(SimTime::ZERO, 10e6, 0, 0);
        // At 5 ms, 5 ms of work is left; a second statement halves the speed: done at 15 ms.
        db.start_statement(SimTime::from_millis(5), 10e6, 1, 0);
        assert_eq!(
            db.next_completion(SimTime::from_millis(5), live),
            Some(SimTime::from_millis(15))
        );
        assert_eq!(
            db.pop_finished(SimTime::from_millis(15), live),
            Some((0, 0))
        );
        // The second has 5 ms left, alone again at full speed: done at 20 ms.
        assert_eq!(
            db.next_completion(SimTime::from_millis(15), live),
            Some(SimTime::from_millis(20))
        );
    }

    #[test]
    fn slots_stop_at_the_fleet_limit() {
        let mut db = database(1, 0.0, 0.0);
        for _ in 0..97 {
            assert!(db.has_free_slot());
            db.take_slot();
        }
        assert!(!db.has_free_slot(), "max_connections - reserved");
    }
}
