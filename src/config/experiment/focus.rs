//! Which service an experiment's pool-size recommendations are about.
//!
//! A single-service model has one pool, addressed by bare paths (`pool.max_size`,
//! `traffic.growth`, `fleet.instances`). In a `[[services]]` model every service has
//! its own, addressed as `services.<name>.pool.max_size`; the sweep's pool-size axis
//! names the service whose size is being planned (the "focus"), and the headline,
//! `--check`, recommendations.json and the report speak of that service's setting,
//! with its neighbours' connections counted against the shared database. Without a
//! swept size the service whose growth is swept is the focus, and otherwise the first.

use crate::config::experiment::{Axis, GROWTH_PATH, POOL_SIZE_PATH};
use crate::config::model::SystemSpec;
use crate::config::spec::ServiceView;

/// The planned service: its index in `SystemSpec::services()` and the prefix of its paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// Index into `SystemSpec::services()` (0 for a single-service model).
    pub index: usize,
    /// `""` for a single-service model, `"services.<name>."` for a model written as
    /// `[[services]]` (even with one entry, whose paths carry the prefix too).
    pub prefix: String,
}

impl Focus {
    /// The focus of a single-service model: its only service, bare paths.
    pub fn single() -> Focus {
        Focus {
            index: 0,
            prefix: String::new(),
        }
    }

    /// `path` (as in a single-service model, e.g. `pool.max_size`) for the focus service.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The focus service's name, or `None` in a single-service model.
    pub fn name(&self) -> Option<&str> {
        self.prefix
            .strip_prefix("services.")
            .and_then(|rest| rest.strip_suffix('.'))
    }

    /// Finds the focus of `baseline` under the swept `axes`: the service whose pool size
    /// is swept, else the one whose growth is swept, else the first.
    pub fn of(baseline: &SystemSpec, axes: &[Axis]) -> Focus {
        if baseline.service_name.is_none() {
            return Focus::single();
        }
        let swept = |path: String| axes.iter().any(|a| a.path == path);
        let prefixes: Vec<String> = baseline
            .services()
            .map(|s| format!("services.{}.", s.name))
            .collect();
        let sized = baseline.services().zip(&prefixes).position(|(s, prefix)| {
            swept(format!("{prefix}{POOL_SIZE_PATH}"))
                || swept(format!("{prefix}{}", s.pool.kind.size_path()))
        });
        let grown = || {
            prefixes
                .iter()
                .position(|prefix| swept(format!("{prefix}{GROWTH_PATH}")))
        };
        let index = sized.or_else(grown).unwrap_or(0);
        Focus {
            index,
            prefix: prefixes[index].clone(),
        }
    }
}

impl crate::config::experiment::Experiment {
    /// The focus service of the model as written (the whole model with one service).
    pub fn planned_service(&self) -> ServiceView<'_> {
        self.baseline.service(self.focus.index)
    }

    /// The path of the focus service's own size setting: `pool.max_size`, `pool.pool_size`
    /// (SQLAlchemy), ..., prefixed with `services.<name>.` in a `[[services]]` model.
    pub fn size_path(&self) -> String {
        self.focus
            .path(&self.planned_service().pool.kind.size_path())
    }
}
