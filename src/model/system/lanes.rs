//! Services sharing one database: each service is a lane of the run, with its own
//! arrivals, random streams, routing, client deadlines and statistics, while the
//! event queue, the jobs and the database (its cores and its connection slots) are shared.
//!
//! A single-service model has one lane whose streams are exactly those the engine
//! always drew, so its results do not change; service `k` of a `[[services]]` model
//! draws from the same sources shifted by `k x SERVICE_STREAM_STRIDE`, so adding a
//! service after the others leaves their arrivals and step times as they were.

use std::collections::VecDeque;

use super::World;
use crate::config::model::{ServiceView, StepKind, SystemSpec};
use crate::model::proxy::ProxyState;
use crate::model::traffic::ArrivalProcess;
use crate::sim::rng::{stream, Source, Stream};
use crate::sim::time::SimTime;
use crate::stats::summary::Collector;

/// The index offset of service `k`'s random streams is `k` times this, far above the
/// step numbers `Source::StepTimes` adds.
const SERVICE_STREAM_STRIDE: u64 = 1 << 32;

/// One service's share of a run.
pub(super) struct Lane {
    pub(super) arrivals: ArrivalProcess,
    pub(super) routing_rng: Stream,
    pub(super) connect_rng: Stream,
    pub(super) lifetime_rng: Stream,
    pub(super) retry_rng: Stream,
    pub(super) step_rngs: Vec<Stream>,
    /// Steps of this service's requests.
    pub(super) step_count: usize,
    pub(super) last_db_step: u32,
    /// The service's instances are `first_instance` up to the next lane's first (or the end).
    pub(super) first_instance: u32,
    pub(super) round_robin_next: u32,
    pub(super) client_deadlines: VecDeque<(u32, u32, SimTime)>,
    pub(super) client_timer_armed: bool,
    /// Requests of this service in the system.
    pub(super) live_requests: u32,
    /// Connections of this service's pools in use.
    pub(super) in_use: u32,
    /// This service's own statistics, kept only when several services share the run
    /// (`World::stats` always has the whole system's).
    pub(super) stats: Option<Collector>,
    /// The service's PgBouncer tier (`[proxy]`, or `[services.proxy]`), if it has one.
    pub(super) proxy: Option<ProxyState>,
}

impl Lane {
    pub(super) fn new(
        spec: &SystemSpec,
        service: usize,
        first_instance: u32,
        replication: u32,
    ) -> Lane {
        let view: ServiceView = spec.service(service);
        let seed = spec.simulation.seed;
        let shift = service as u64 * SERVICE_STREAM_STRIDE;
        let rng = |source: Source, index: u64| stream(seed, replication, source, shift + index);
        let surges = spec.timeline.surges();
        Lane {
            arrivals: ArrivalProcess::new(
                view.traffic.clone(),
                surges,
                spec.timeline.trace.clone(),
                rng(Source::Arrivals, 0),
            ),
            routing_rng: rng(Source::Routing, 0),
            connect_rng: rng(Source::Connects, 0),
            lifetime_rng: rng(Source::Lifetimes, 0),
            retry_rng: rng(Source::RetryJitter, 0),
            step_rngs: (0..view.steps.len())
                .map(|i| rng(Source::StepTimes, i as u64))
                .collect(),
            step_count: view.steps.len(),
            last_db_step: view
                .steps
                .iter()
                .rposition(|s| s.kind == StepKind::Db)
                .unwrap_or(0) as u32,
            first_instance,
            round_robin_next: 0,
            client_deadlines: VecDeque::new(),
            client_timer_armed: false,
            live_requests: 0,
            in_use: 0,
            stats: spec
                .is_multi_service()
                .then(|| Collector::new(spec.simulation.warmup, spec.simulation.horizon)),
            proxy: view.proxy.map(|proxy| {
                ProxyState::new(
                    proxy,
                    (first_instance + view.fleet.instances) as usize,
                    view.steps.len(),
                    view.transactions,
                    rng(Source::Connects, 1),
                )
            }),
        }
    }
}

impl World {
    /// The instances of `service`: indices `start..end` into `instances`.
    pub(super) fn lane_instances(&self, service: u32) -> (u32, u32) {
        let start = self.lanes[service as usize].first_instance;
        let end = self
            .lanes
            .get(service as usize + 1)
            .map_or(self.instances.len() as u32, |next| next.first_instance);
        (start, end)
    }

    /// The service whose instance runs `job`.
    #[inline(always)]
    pub(super) fn service_of_job(&self, job: u32) -> u32 {
        self.jobs[job as usize].service
    }

    /// Records into the whole system's statistics and, with several services, into
    /// `service`'s own.
    #[inline(always)]
    pub(super) fn record(&mut self, service: u32, record: impl Fn(&mut Collector)) {
        record(&mut self.stats);
        if let Some(own) = self.lanes[service as usize].stats.as_mut() {
            record(own);
        }
    }

    /// Notes a change of the requests of `service` in the system (`delta` is +1 or -1).
    #[inline(always)]
    pub(super) fn live_changed(&mut self, service: u32, delta: i32) {
        self.live_requests = self.live_requests.wrapping_add_signed(delta);
        let now = self.now;
        let live = self.live_requests as f64;
        self.stats.in_system.set(now, live, self.stats.window);
        let lane = &mut self.lanes[service as usize];
        lane.live_requests = lane.live_requests.wrapping_add_signed(delta);
        if let Some(own) = lane.stats.as_mut() {
            own.in_system
                .set(now, lane.live_requests as f64, own.window);
        }
    }

    /// The backlog at the horizon, for the whole system and each service.
    pub(super) fn note_backlogs_at_horizon(&mut self) {
        self.stats.note_backlog_at_horizon(self.live_requests);
        for lane in &mut self.lanes {
            if let Some(own) = lane.stats.as_mut() {
                own.note_backlog_at_horizon(lane.live_requests);
            }
        }
    }

    /// The services' request counts and time averages closed at the end of the run.
    pub(super) fn close_lanes(&mut self) {
        let now = self.now;
        for lane in &mut self.lanes {
            if let Some(own) = lane.stats.as_mut() {
                own.in_system
                    .set(now, lane.live_requests as f64, own.window);
            }
        }
    }
}
