//! The engine's side of the database: starting statements, keeping the single
//! wake-up for the next completion current, and finishing statements.

use super::{still_in, Event, JobState, World};

impl World {
    pub(super) fn start_statement(&mut self, job: u32) {
        if !self.server_ready(job) {
            return;
        }
        let j = self.jobs[job as usize];
        let demand_ns = self.job_times_ns[job as usize * self.step_count + j.step as usize];
        self.jobs[job as usize].state = JobState::InDb;
        self.db
            .start_statement(self.now, demand_ns, job, j.generation);
        let diagnostics = &mut self.stats.diagnostics;
        diagnostics.peak_db_statements = diagnostics
            .peak_db_statements
            .max(self.db.active_statements);
        self.stats
            .busy_cores
            .set(self.now, self.db.busy_cores() as f64, self.stats.window);
        self.reschedule_db();
    }

    #[inline(always)]
    pub(super) fn reschedule_db(&mut self) {
        let jobs = &self.jobs;
        let next = self.db.next_completion(self.now, |job, generation| {
            still_in(jobs, job, generation, JobState::InDb)
        });
        if next != self.db.scheduled_completion {
            self.db.epoch = self.db.epoch.wrapping_add(1);
            self.db.scheduled_completion = next;
            if let Some(time) = next {
                self.queue.schedule_replacing(
                    time,
                    Event::DbWake {
                        epoch: self.db.epoch,
                    },
                );
            }
        }
    }

    pub(super) fn on_db_wake(&mut self) {
        self.db.scheduled_completion = None;
        loop {
            let jobs = &self.jobs;
            let finished = self.db.pop_finished(self.now, |job, generation| {
                still_in(jobs, job, generation, JobState::InDb)
            });
            let Some((job, _)) = finished else { break };
            self.stats
                .busy_cores
                .set(self.now, self.db.busy_cores() as f64, self.stats.window);
            let round_trip = self.spec.database.round_trip;
            if round_trip.is_zero() {
                self.jobs[job as usize].state = JobState::RoundTrip;
                self.finish_db_step(job);
            } else {
                let j = &mut self.jobs[job as usize];
                j.state = JobState::RoundTrip;
                let generation = j.generation;
                self.queue.schedule_after_constant_delay(
                    self.now + round_trip,
                    Event::StepDone { job, generation },
                );
            }
        }
        self.reschedule_db();
    }
}
