//! The timeline side of a run: scheduled events, rolling restarts, instances
//! coming and going, the sampled series and autoscaling.
//!
//! Kept apart from the request path in `system.rs` so each reads on its own; it
//! works on the same `World` (a child module sees its private fields).

use super::*;
use crate::config::model::FailureKind;

impl World {
    pub(super) fn capacity_changed(&mut self) {
        let slots = self.db.spec().slots_for_fleet();
        let capacity: u32 = self
            .instances
            .iter()
            .filter(|i| i.up)
            .map(|i| i.pool.spec.max_connections_within(slots))
            .sum();
        self.stats
            .pool_capacity
            .set(self.now, capacity as f64, self.stats.window);
        for service in 0..self.lanes.len() as u32 {
            let (first, end) = self.lane_instances(service);
            let capacity: u32 = self.instances[first as usize..end as usize]
                .iter()
                .filter(|i| i.up)
                .map(|i| i.pool.spec.max_connections_within(slots))
                .sum();
            if let Some(own) = self.lanes[service as usize].stats.as_mut() {
                own.pool_capacity.set(self.now, capacity as f64, own.window);
            }
        }
    }

    pub(super) fn on_timeline_event(&mut self, index: usize) {
        let action = self.spec.timeline.events[index].action.clone();
        match action {
            EventAction::DbSlowdown { factor, duration } => {
                self.db.demand_factor *= factor;
                self.queue.schedule(
                    self.now + duration,
                    Event::SlowdownEnd {
                        index: index as u32,
                    },
                );
            }
            EventAction::InstanceDown { instance, duration } => {
                self.take_down(instance);
                self.queue
                    .schedule(self.now + duration, Event::InstanceUp { instance });
            }
            EventAction::Set { after } => self.apply_hot_change(&after),
            EventAction::RollingRestart {
                batch,
                interval,
                drain,
                surge,
                after,
            } => {
                let targets: Vec<u32> = (0..self.instances.len() as u32)
                    .filter(|&i| self.instances[i as usize].accepting)
                    .collect();
                let mut surge_instances = Vec::new();
                for _ in 0..surge {
                    surge_instances.push(self.add_instance_with(after.pool.clone()));
                }
                let batches = (targets.len() as u32).div_ceil(batch);
                self.rollouts[index] = Some(Rollout {
                    targets,
                    surge: surge_instances,
                });
                for b in 0..batches {
                    self.queue.schedule(
                        self.now + SimTime(interval.0 * b as u64),
                        Event::RestartBatch {
                            index: index as u32,
                            batch: b,
                        },
                    );
                }
                let end = self.now + SimTime(interval.0 * batches.saturating_sub(1) as u64) + drain;
                self.queue.schedule(
                    end,
                    Event::RolloutEnd {
                        index: index as u32,
                    },
                );
            }
            // Surges are part of the arrival rate from the start.
            EventAction::TrafficSurge { .. } => {}
        }
    }

    /// A `set` event: new settings take effect now, without restarts.
    pub(super) fn apply_hot_change(&mut self, after: &SystemSpec) {
        for instance in 0..self.instances.len() as u32 {
            if self.instances[instance as usize].up {
                self.instances[instance as usize].pool.spec = after.pool.clone();
                self.maybe_open_connection(instance);
            }
        }
        self.lanes[0]
            .arrivals
            .rescale(after.traffic.rate_per_s / self.base_rate_per_s);
        self.db.set_spec(after.database.clone());
        self.spec.pool = after.pool.clone();
        self.spec.client = after.client.clone();
        self.spec.steps = after.steps.clone();
        self.spec.fleet.workers = after.fleet.workers;
        self.spec.fleet.accept_queue = after.fleet.accept_queue;
        self.spec.fleet.balancer = after.fleet.balancer;
        self.capacity_changed();
    }

    pub(super) fn on_restart_batch(&mut self, index: u32, batch: u32) {
        let Some(rollout) = &self.rollouts[index as usize] else {
            return;
        };
        let EventAction::RollingRestart {
            batch: size, drain, ..
        } = self.spec.timeline.events[index as usize].action
        else {
            return;
        };
        let first = (batch * size) as usize;
        let last = ((batch + 1) * size).min(rollout.targets.len() as u32) as usize;
        for instance in rollout.targets[first..last].iter().copied() {
            if !self.instances[instance as usize].accepting {
                continue; // stopped since the rollout began (scaled in or down)
            }
            // Out of the load balancer first; in-flight work gets `drain` to finish.
            self.instances[instance as usize].accepting = false;
            self.queue
                .schedule(self.now + drain, Event::RestartInstance { instance, index });
        }
    }

    pub(super) fn on_rollout_end(&mut self, index: usize) {
        let EventAction::RollingRestart { drain, after, .. } =
            &self.spec.timeline.events[index].action
        else {
            return;
        };
        let (drain, pool) = (*drain, after.pool.clone());
        if let Some(rollout) = self.rollouts[index].take() {
            for instance in rollout.surge {
                self.instances[instance as usize].accepting = false;
                self.queue
                    .schedule(self.now + drain, Event::Decommission { instance });
            }
        }
        // Instances started from now on (autoscaling) use the rolled-out settings.
        self.spec.pool = pool;
    }

    /// Stops an instance: work still on it fails (and is retried as the client does),
    /// its pool closes every connection, and the balancer stops routing to it.
    pub(super) fn take_down(&mut self, instance: u32) {
        if !self.instances[instance as usize].up {
            return;
        }
        self.instances[instance as usize].up = false;
        self.instances[instance as usize].accepting = false;
        let on_instance: Vec<(u32, u32)> = self
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.state != JobState::Free && j.instance == instance)
            .map(|(index, j)| (index as u32, j.generation))
            .collect();
        for (job, generation) in on_instance {
            if self.jobs[job as usize].generation == generation
                && self.jobs[job as usize].state != JobState::Free
            {
                self.fail_job(job, FailureKind::Rejected);
            }
        }
        let current = &self.instances[instance as usize].pool;
        let fresh = Pool::replacing(current, current.spec.clone());
        let old = std::mem::replace(&mut self.instances[instance as usize].pool, fresh);
        self.pool_replaced(instance, old.open());
        self.in_use_changed(instance, -(old.in_use() as i32));
        let state = &mut self.instances[instance as usize];
        state.epoch = state.epoch.wrapping_add(1);
        state.accept_queue.clear();
        state.queued = 0;
        state.busy_workers = 0;
        state.outstanding = 0;
        self.capacity_changed();
    }

    /// Starts (or restarts) an instance with an empty pool that fills to min_idle.
    pub(super) fn bring_up(&mut self, instance: u32, pool: Option<PoolSpec>) {
        let state = &mut self.instances[instance as usize];
        if state.up || state.retired {
            return;
        }
        if let Some(pool) = pool {
            state.pool = Pool::replacing(&state.pool, pool);
        }
        state.up = true;
        state.accepting = true;
        state.epoch = state.epoch.wrapping_add(1);
        let epoch = state.epoch;
        if state.pool.spec.closes_idle() {
            self.queue.schedule(
                self.now + state.pool.spec.idle_check_period,
                Event::Housekeep { instance, epoch },
            );
        }
        self.capacity_changed();
        self.maybe_open_connection(instance);
    }

    pub(super) fn add_instance_with(&mut self, pool: PoolSpec) -> u32 {
        let mut instance = Instance::new(&pool, 0);
        instance.up = false;
        self.instances.push(instance);
        let index = (self.instances.len() - 1) as u32;
        self.bring_up(index, None);
        index
    }

    pub(super) fn add_instance(&mut self) {
        self.add_instance_with(self.spec.pool.clone());
    }

    pub(super) fn on_sample(&mut self) {
        let interval = self.spec.simulation.sample_interval;
        let mut sample = std::mem::take(&mut self.interval.sample);
        sample.start_s = (self.now - interval).as_secs_f64();
        sample.latency_p99_ms = if self.interval.latency_us.is_empty() {
            f64::NAN
        } else {
            self.interval.latency_us.value_at_quantile(0.99) as f64 / 1e3
        };
        self.interval.latency_us.reset();
        let running = self.instances.iter().filter(|i| i.up);
        sample.pending = running.clone().map(|i| i.pool.waiting() as f64).sum();
        let slots = self.db.spec().slots_for_fleet();
        sample.pool_capacity = running
            .clone()
            .map(|i| i.pool.spec.max_connections_within(slots) as f64)
            .sum();
        sample.instances = running.count() as f64;
        // Connections in use are averaged over the interval; a single reading is too noisy
        // for alerts and autoscaling. The other gauges are read at the sample instant.
        self.interval_in_use_area +=
            self.fleet_in_use as f64 * (self.now - self.interval_in_use_since).0 as f64;
        self.interval_in_use_since = self.now;
        sample.connections_in_use = self.interval_in_use_area / interval.0 as f64;
        self.interval_in_use_area = 0.0;
        sample.db_connections = (self.db.slots_used + self.db.spec().other_connections) as f64;
        sample.db_busy_fraction = self.db.busy_cores() as f64 / self.db.spec().cores.max(1) as f64;
        self.autoscale(&sample);
        if let Some(series) = &mut self.series {
            series.push(sample);
        }
        if self.now + interval <= self.spec.simulation.horizon {
            self.queue
                .schedule_later(self.now + interval, Event::Sample);
        }
    }

    /// Horizontal autoscaling on a sampled metric, as Kubernetes' HPA decides:
    /// desired = ceil(running x value / target), bounded, with a cooldown between steps.
    pub(super) fn autoscale(&mut self, sample: &IntervalSample) {
        let Some(auto) = self.spec.timeline.autoscale.clone() else {
            return;
        };
        let value = sample.metric(auto.metric);
        if value.is_finite() {
            self.autoscale_window.push_back((self.now, value));
        }
        // The metric is averaged over `reaction_delay`, as HPA averages over its metric window.
        let window = auto
            .reaction_delay
            .max(self.spec.simulation.sample_interval);
        while self
            .autoscale_window
            .front()
            .is_some_and(|(t, _)| *t + window <= self.now)
        {
            self.autoscale_window.pop_front();
        }
        if self.autoscale_window.is_empty() {
            return;
        }
        let average = self.autoscale_window.iter().map(|(_, v)| v).sum::<f64>()
            / self.autoscale_window.len() as f64;
        let running = self.instances.iter().filter(|i| i.accepting).count() as u32;
        let desired = ((running as f64 * average / auto.target).ceil() as u32)
            .clamp(auto.min_instances, auto.max_instances);
        self.autoscale_desired.push_back((self.now, desired));
        while self
            .autoscale_desired
            .front()
            .is_some_and(|(t, _)| *t + SCALE_IN_STABILIZATION <= self.now)
        {
            self.autoscale_desired.pop_front();
        }
        if self
            .autoscale_last
            .is_some_and(|last| self.now < last + auto.cooldown)
        {
            return;
        }
        let planned = running + self.autoscale_booting;
        // Scale in only to the largest count wanted over the stabilization window (HPA: 5 min).
        let stable_desired = self
            .autoscale_desired
            .iter()
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(desired);
        if desired > planned {
            for _ in planned..desired {
                self.queue
                    .schedule(self.now + auto.boot_time, Event::ScaleOut);
            }
            self.autoscale_booting += desired - planned;
            self.autoscale_last = Some(self.now);
        } else if stable_desired < running && self.autoscale_booting == 0 {
            // Scale in one instance at a time: out of the balancer, drained, then stopped.
            if let Some(instance) = self.instances.iter().rposition(|i| i.accepting) {
                self.instances[instance].accepting = false;
                self.instances[instance].retired = true;
                self.queue.schedule(
                    self.now + SCALE_IN_DRAIN,
                    Event::Decommission {
                        instance: instance as u32,
                    },
                );
                self.autoscale_last = Some(self.now);
            }
        }
    }
}
