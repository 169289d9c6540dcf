//! The model's timeline: `[[events]]`, `[[alerts]]`, `[autoscale]` and traffic traces.
//!
//! Incident replays and what-ifs change the system while it runs. The sections as
//! written live in `sections`, the checked types in `spec` (an event carries the
//! whole model as it is after the change) and the rules in `check_timeline`; this
//! module gathers their names so callers have one place to import them from.

pub use super::check_timeline::{check_timeline, metric, TimelineSections};
pub use super::sections::{AlertSection, AutoscaleSection, EventSection};
pub use super::spec::{
    AlertRule, AutoscaleSpec, EventAction, Metric, Timeline, TimelineEvent, Trace, METRICS,
};
