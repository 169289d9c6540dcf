//! Requests and attempts: arrivals, routing, admission, running a job's steps, and
//! every way an attempt ends (success, failure, retry, client timeout).
//!
//! This is the client and server side of the engine's request path; the pool and the
//! database it calls into live in `acquisition.rs` and `statements.rs`.

use rand::Rng;

use super::{Event, Job, JobState, Request, World, BACKLOG_LIMIT, NONE};
use crate::config::model::{Balancer, ConnectionScope, FailureKind, StepKind};
use crate::model::client::backoff;
use crate::sim::time::{round_to_u64, SimTime};

impl World {
    pub(super) fn on_arrival(&mut self, service: u32) {
        let measured = self.now >= self.spec.simulation.warmup;
        let request = Request {
            service,
            offered_at: self.now,
            attempts: 0,
            last_backoff: self.spec.service(service as usize).client.retry.base,
            measured,
        };
        let index = match self.free_requests.pop() {
            Some(index) => {
                self.requests[index as usize] = request;
                index
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        };
        self.live_changed(service, 1);
        if measured {
            if self.stats.counts.offered == 0 {
                self.stats.diagnostics.backlog_at_warmup = u64::from(self.live_requests - 1);
            }
            self.stats.counts.offered += 1;
            let lane = &mut self.lanes[service as usize];
            if let Some(own) = lane.stats.as_mut() {
                if own.counts.offered == 0 {
                    own.diagnostics.backlog_at_warmup = u64::from(lane.live_requests - 1);
                }
                own.counts.offered += 1;
            }
        }
        self.interval.sample.offered += 1.0;
        let active_jobs = self.jobs.len() - self.free_jobs.len();
        if self.live_requests > BACKLOG_LIMIT || active_jobs >= BACKLOG_LIMIT as usize {
            self.finish_request(index, Some(FailureKind::BacklogFull));
        } else {
            self.start_attempt(index);
        }
        if let Some(next) = self.lanes[service as usize]
            .arrivals
            .next_after(self.now, self.spec.simulation.horizon)
        {
            self.queue.schedule(next, Event::Arrival { service });
        }
    }

    pub(super) fn start_attempt(&mut self, request: u32) {
        let req = &mut self.requests[request as usize];
        req.attempts += 1;
        let measured = req.measured;
        let service = req.service;
        if measured {
            self.record(service, |c| c.counts.attempts += 1);
        }
        self.interval.sample.attempts += 1.0;
        let Some(instance) = self.route(service) else {
            // No instance takes traffic: the load balancer answers 503 at once.
            self.attempt_failed(request, FailureKind::Rejected);
            return;
        };
        let job = self.alloc_job(request, instance, measured);
        let generation = self.jobs[job as usize].generation;
        if let Some(timeout) = self.spec.service(service as usize).client.timeout {
            self.lanes[service as usize].client_deadlines.push_back((
                job,
                generation,
                self.now + timeout,
            ));
            self.arm_client_timer(service);
        }
        self.instances[instance as usize].outstanding += 1;
        self.admit(job);
    }

    /// Picks an instance of `service` that accepts traffic, or `None` when none does.
    pub(super) fn route(&mut self, service: u32) -> Option<u32> {
        let (first, end) = self.lane_instances(service);
        let count = end - first;
        let fleet = &self.instances[first as usize..end as usize];
        let lane = &mut self.lanes[service as usize];
        let chosen = match self.spec.service(service as usize).fleet.balancer {
            Balancer::RoundRobin => (0..count).find_map(|_| {
                // `%` only when the fleet shrank under the cursor: a division per
                // request costs more than the rest of the choice.
                let next = lane.round_robin_next;
                let chosen = if next < count { next } else { next % count };
                lane.round_robin_next = if chosen + 1 < count { chosen + 1 } else { 0 };
                fleet[chosen as usize].accepting.then_some(chosen)
            }),
            Balancer::Random => {
                let accepting = fleet.iter().filter(|i| i.accepting).count() as u32;
                if accepting == 0 {
                    return None;
                }
                let pick = lane.routing_rng.gen_range(0..accepting) as usize;
                fleet
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.accepting)
                    .nth(pick)
                    .map(|(index, _)| index as u32)
            }
            Balancer::LeastOutstanding => {
                let mut best: Option<usize> = None;
                for (i, instance) in fleet.iter().enumerate() {
                    if instance.accepting
                        && best.is_none_or(|b| instance.outstanding < fleet[b].outstanding)
                    {
                        best = Some(i);
                    }
                }
                best.map(|b| b as u32)
            }
        };
        chosen.map(|index| first + index)
    }

    pub(super) fn alloc_job(&mut self, request: u32, instance: u32, measured: bool) -> u32 {
        let index = match self.free_jobs.pop() {
            Some(index) => index,
            None => {
                self.jobs.push(Job {
                    generation: 0,
                    state: JobState::Free,
                    request: NONE,
                    instance: 0,
                    service: 0,
                    step: 0,
                    connection: NONE,
                    server: NONE,
                    holds_worker: false,
                    wait_started: SimTime::ZERO,
                    abandoned: false,
                    measured: false,
                });
                self.job_times_ns
                    .resize(self.jobs.len() * self.step_count, 0.0);
                (self.jobs.len() - 1) as u32
            }
        };
        let base = index as usize * self.step_count;
        let service = self.instances[instance as usize].service as usize;
        let steps = self.spec.service(service).steps;
        for (step, rng) in self.lanes[service].step_rngs.iter_mut().enumerate() {
            self.job_times_ns[base + step] = steps[step].time.sample_ns(rng);
        }
        let job = &mut self.jobs[index as usize];
        job.state = JobState::Starting;
        job.request = request;
        job.instance = instance;
        job.service = service as u32;
        job.step = 0;
        job.connection = NONE;
        job.server = NONE;
        job.holds_worker = false;
        job.abandoned = false;
        job.measured = measured;
        index
    }

    /// Gives the job a worker, queues it, or rejects it when the accept queue is full.
    pub(super) fn admit(&mut self, job: u32) {
        let instance_index = self.jobs[job as usize].instance as usize;
        let instance = &mut self.instances[instance_index];
        let fleet = self.spec.service(instance.service as usize).fleet;
        let has_worker = fleet
            .workers
            .is_none_or(|workers| instance.busy_workers < workers);
        if has_worker {
            instance.busy_workers += 1;
            self.jobs[job as usize].holds_worker = true;
            self.advance_job(job);
        } else if instance.queued < fleet.accept_queue {
            instance.queued += 1;
            self.jobs[job as usize].state = JobState::Queued;
            instance
                .accept_queue
                .push_back((job, self.jobs[job as usize].generation));
        } else {
            self.fail_job(job, FailureKind::Rejected);
        }
    }

    /// Runs the job's steps from its current one until it must wait for something.
    pub(super) fn advance_job(&mut self, job: u32) {
        let service = self.service_of_job(job) as usize;
        loop {
            let j = self.jobs[job as usize];
            if j.step as usize == self.lanes[service].step_count {
                self.complete_job(job);
                return;
            }
            let time_ns = self.job_times_ns[job as usize * self.step_count + j.step as usize];
            match self.spec.service(service).steps[j.step as usize].kind {
                StepKind::App => {
                    let duration = SimTime(round_to_u64(time_ns));
                    if duration.is_zero() {
                        self.jobs[job as usize].step += 1;
                        continue;
                    }
                    self.jobs[job as usize].state = JobState::App;
                    self.queue.schedule(
                        self.now + duration,
                        Event::StepDone {
                            job,
                            generation: j.generation,
                        },
                    );
                    return;
                }
                StepKind::Db => {
                    if j.connection == NONE && !self.acquire(job) {
                        return;
                    }
                    self.start_statement(job);
                    return;
                }
            }
        }
    }

    pub(super) fn on_step_done(&mut self, job: u32) {
        match self.jobs[job as usize].state {
            JobState::App => {
                self.jobs[job as usize].step += 1;
                self.advance_job(job);
            }
            JobState::RoundTrip => self.finish_db_step(job),
            state => unreachable!("StepDone for a job in state {state:?}"),
        }
    }

    pub(super) fn finish_db_step(&mut self, job: u32) {
        self.statement_finished(job);
        let j = self.jobs[job as usize];
        let service = self.service_of_job(job) as usize;
        if self.spec.service(service).scope == ConnectionScope::Step
            || j.step == self.lanes[service].last_db_step
        {
            self.release_connection(job);
        }
        self.jobs[job as usize].step += 1;
        self.advance_job(job);
    }

    pub(super) fn complete_job(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if !j.abandoned {
            self.finish_request(j.request, None);
        }
        self.free_job(job);
    }

    pub(super) fn fail_job(&mut self, job: u32, kind: FailureKind) {
        let j = self.jobs[job as usize];
        if !j.abandoned {
            self.attempt_failed(j.request, kind);
        }
        self.free_job(job);
    }

    /// An attempt failed: retry after backoff if the client does, else the request fails.
    pub(super) fn attempt_failed(&mut self, request: u32, kind: FailureKind) {
        let req = self.requests[request as usize];
        let client = self.spec.service(req.service as usize).client;
        if client.retries(kind) && req.attempts <= client.retry.max {
            let sleep = backoff(
                &client.retry,
                req.attempts,
                req.last_backoff,
                &mut self.lanes[req.service as usize].retry_rng,
            );
            self.requests[request as usize].last_backoff = sleep;
            self.queue
                .schedule(self.now + sleep, Event::RetryStart { request });
        } else if client.retries(kind) && client.retry.max > 0 {
            self.finish_request(request, Some(FailureKind::RetriesExhausted));
        } else {
            self.finish_request(request, Some(kind));
        }
    }

    pub(super) fn finish_request(&mut self, request: u32, failure: Option<FailureKind>) {
        let req = self.requests[request as usize];
        if req.measured {
            let sojourn = self.now - req.offered_at;
            let now = self.now;
            match failure {
                None => self.record(req.service, |c| c.record_success(sojourn, now)),
                Some(kind) => self.record(req.service, |c| c.record_failure(kind, sojourn)),
            }
        }
        if self.series.is_some() {
            let interval = &mut self.interval;
            match failure {
                None => {
                    interval.sample.succeeded += 1.0;
                    let latency_us = ((self.now - req.offered_at).0 / 1_000).max(1);
                    interval.latency_us.saturating_record(latency_us);
                }
                Some(kind) => {
                    interval.sample.failed += 1.0;
                    let by_kind = match kind {
                        FailureKind::AcquireTimeout => Some(&mut interval.sample.acquire_timeout),
                        FailureKind::ClientTimeout => Some(&mut interval.sample.client_timeout),
                        FailureKind::DbRefused => Some(&mut interval.sample.db_refused),
                        FailureKind::Rejected => Some(&mut interval.sample.rejected),
                        FailureKind::RetriesExhausted => {
                            Some(&mut interval.sample.retries_exhausted)
                        }
                        FailureKind::BacklogFull => Some(&mut interval.sample.backlog_full),
                        // The series has no proxy columns: counted in `failed` only.
                        FailureKind::ProxyWaitTimeout | FailureKind::ProxyRefused => None,
                    };
                    if let Some(count) = by_kind {
                        *count += 1.0;
                    }
                }
            }
        }
        self.live_changed(req.service, -1);
        self.free_requests.push(request);
    }

    /// Releases everything the job holds and recycles its slot.
    pub(super) fn free_job(&mut self, job: u32) {
        let j = self.jobs[job as usize];
        if j.connection != NONE {
            self.release_connection(job);
        }
        let instance = &mut self.instances[j.instance as usize];
        match j.state {
            JobState::InDb => {
                self.db.cancel_statement(self.now);
                self.stats
                    .busy_cores
                    .set(self.now, self.db.busy_cores() as f64, self.stats.window);
            }
            JobState::Waiting => instance.pool.waiter_left(),
            JobState::Queued => instance.queued -= 1,
            _ => {}
        }
        instance.outstanding -= 1;
        let slot = &mut self.jobs[job as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = JobState::Free;
        self.free_jobs.push(job);
        if j.state == JobState::InDb {
            self.reschedule_db();
        }
        self.job_left_proxy(j.instance, j.server, j.state);
        if j.holds_worker {
            self.instances[j.instance as usize].busy_workers -= 1;
            self.start_next_queued(j.instance);
        }
    }

    pub(super) fn start_next_queued(&mut self, instance_index: u32) {
        let instance = &mut self.instances[instance_index as usize];
        if !instance.up {
            return;
        }
        while let Some((job, generation)) = instance.accept_queue.pop_front() {
            if self.jobs[job as usize].generation != generation {
                continue;
            }
            instance.queued -= 1;
            instance.busy_workers += 1;
            self.jobs[job as usize].holds_worker = true;
            self.advance_job(job);
            return;
        }
    }

    // ------------------------------------------------------------ client deadlines

    pub(super) fn arm_client_timer(&mut self, service: u32) {
        let lane = &mut self.lanes[service as usize];
        if lane.client_timer_armed {
            return;
        }
        while let Some(&(job, generation, deadline)) = lane.client_deadlines.front() {
            if self.jobs[job as usize].generation == generation {
                self.queue
                    .schedule_later(deadline, Event::ClientDeadline { service });
                lane.client_timer_armed = true;
                return;
            }
            lane.client_deadlines.pop_front();
        }
    }

    pub(super) fn on_client_deadline(&mut self, service: u32) {
        self.lanes[service as usize].client_timer_armed = false;
        while let Some(&(job, generation, deadline)) =
            self.lanes[service as usize].client_deadlines.front()
        {
            if self.jobs[job as usize].generation != generation {
                self.lanes[service as usize].client_deadlines.pop_front();
                continue;
            }
            if deadline > self.now {
                break;
            }
            self.lanes[service as usize].client_deadlines.pop_front();
            let request = self.jobs[job as usize].request;
            self.jobs[job as usize].abandoned = true;
            self.attempt_failed(request, FailureKind::ClientTimeout);
            if self.spec.service(service as usize).client.cancel_on_timeout {
                self.free_job(job);
            }
        }
        self.arm_client_timer(service);
    }
}
