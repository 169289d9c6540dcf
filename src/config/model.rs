//! A model file: read, overridden with `--set`, and checked into a `SystemSpec`.
//!
//! The file's mirror lives in `sections`, the checked types in `spec` and the rules
//! in `check_model`; this module ties them together and re-exports the types so
//! that `config::model::SystemSpec` stays the one name callers use.

use std::path::{Path, PathBuf};

use toml::Table;

use super::check_model::check_model;
use super::check_pool::resolve_pool_alias;
use super::check_timeline::{check_timeline, TimelineSections};
use super::error::InputError;
use super::overrides::set_path;
use super::proxy::check_shared_server_pools;
pub use super::proxy::{PoolMode, ProxySection, ProxySpec, Transaction};
pub use super::sections::*;
use super::services::{in_service, service_tables, ServiceTable};
use super::shared_events::shared_events;
pub use super::spec::*;
pub use super::toml_input::{deserialize_table, parse_toml};

/// PgBouncer's settings and the transactions are fixed for a run: the engine builds
/// its PgBouncers once, so a timeline event that changes them is refused.
fn refuse_proxy_changes(path: &Path, spec: &SystemSpec) -> Result<(), InputError> {
    let fixed = |s: &SystemSpec| format!("{:?} {:?}", s.proxy, s.transactions);
    for (i, event) in spec.timeline.events.iter().enumerate() {
        let after = match &event.action {
            EventAction::Set { after } | EventAction::RollingRestart { after, .. } => after,
            _ => continue,
        };
        if fixed(after) != fixed(spec) {
            return Err(InputError::new(
                path,
                "`[proxy]` settings and steps' `transaction` cannot change during a run"
                    .to_string(),
            )
            .field(format!("events[{i}].set"))
            .hint("set them in the model itself, or compare them as experiment variants"));
        }
    }
    Ok(())
}

/// A model file read from disk and parsed as TOML, ready to take overrides and be checked.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub path: PathBuf,
    pub text: String,
    pub table: Table,
}

impl ModelSource {
    pub fn read(path: &Path) -> Result<ModelSource, InputError> {
        let text = crate::config::input_file::read_regular(path).map_err(|e| {
            InputError::new(path, format!("cannot read the model file: {e}"))
                .hint("check the path; `ls models/` lists the models in this repository")
        })?;
        ModelSource::from_text(path, text)
    }

    /// A model given as text; `path` labels errors and anchors relative files.
    pub fn from_text(path: &Path, text: String) -> Result<ModelSource, InputError> {
        let table = parse_toml(path, &text)?;
        Ok(ModelSource {
            path: path.to_path_buf(),
            text,
            table,
        })
    }

    /// Applies `overrides` (dotted path, value) and checks the result.
    pub fn build(&self, overrides: &[(String, toml::Value)]) -> Result<SystemSpec, InputError> {
        let mut table = self.table.clone();
        for (path, value) in overrides {
            if path.starts_with("services.") && !table.contains_key("services") {
                return Err(InputError::new(&self.path, format!("`{path}` names a service, but this model has no [[services]]"))
                    .field(path.clone())
                    .hint("drop the `services.<name>.` prefix for a single-service model, e.g. pool.max_size=20"));
            }
            let resolved = resolve_pool_alias(&table, path);
            set_path(&mut table, &resolved, value.clone()).map_err(|why| {
                InputError::new(&self.path, why)
                    .field(path.clone())
                    .hint("override a field by its path, e.g. pool.max_size=20, traffic.growth=1.5, services.auth.pool.max_size=30 or request.steps[\"load user\"].time.p99=20ms (docs/model.md)")
            })?;
        }
        if let Some(services) = service_tables(&self.path, &self.text, &table)? {
            let events = shared_events(&self.path, &self.text, &table)?;
            return self.build_services(services, &events);
        }
        let file: ModelFile = deserialize_table(&self.path, &self.text, table.clone())?;
        let mut spec = check_model(&file, &self.path, &self.text)?;
        // The model as each `set` or `rolling_restart` leaves it, checked like the original.
        let mut steady = table;
        for key in ["events", "alerts", "autoscale"] {
            steady.remove(key);
        }
        let build_after = |extra: &[(String, toml::Value)]| -> Result<SystemSpec, InputError> {
            let mut changed = steady.clone();
            for (path, value) in extra {
                let resolved = resolve_pool_alias(&changed, path);
                set_path(&mut changed, &resolved, value.clone())
                    .map_err(|why| InputError::new(&self.path, why).field(path.clone()))?;
            }
            let file: ModelFile = deserialize_table(&self.path, &self.text, changed)?;
            check_model(&file, &self.path, &self.text)
        };
        let sections = TimelineSections {
            events: file.events.as_deref().unwrap_or_default(),
            alerts: file.alerts.as_deref().unwrap_or_default(),
            autoscale: file.autoscale.as_ref(),
            trace: file.traffic.trace.as_deref(),
        };
        spec.timeline = check_timeline(
            &self.path,
            &self.text,
            sections,
            spec.fleet.instances,
            &build_after,
        )?;
        refuse_proxy_changes(&self.path, &spec)?;
        Ok(spec)
    }

    /// Checks each `[[services]]` entry as a model of its own and joins them: the
    /// first service in the top-level fields, the others in `more_services`.
    fn build_services(
        &self,
        services: Vec<ServiceTable>,
        events: &[EventSection],
    ) -> Result<SystemSpec, InputError> {
        let mut joined: Option<SystemSpec> = None;
        for (index, service) in services.into_iter().enumerate() {
            let name = service.name;
            let checked = deserialize_table(&self.path, &self.text, service.table)
                .and_then(|file: ModelFile| check_model(&file, &self.path, &self.text))
                .map_err(|e| in_service(e, index, &name, &self.text))?;
            match joined.as_mut() {
                None => {
                    let mut first = checked;
                    first.service_name = Some(name);
                    joined = Some(first);
                }
                Some(spec) => spec.more_services.push(checked.into_service(name)),
            }
        }
        let mut spec = joined.expect("service_tables returns at least one service");
        // Only shared events reach here (`shared_events`): none changes the model, so
        // none needs the model as an event leaves it.
        let no_changes = |_: &[(String, toml::Value)]| -> Result<SystemSpec, InputError> {
            Err(InputError::new(
                &self.path,
                "a multi-service model's events cannot change settings".to_string(),
            ))
        };
        let instances = spec.services().map(|s| s.fleet.instances).sum();
        let sections = TimelineSections {
            events,
            alerts: &[],
            autoscale: None,
            trace: None,
        };
        spec.timeline = check_timeline(&self.path, &self.text, sections, instances, &no_changes)?;
        let pools: Vec<(usize, &str, &ProxySpec)> = spec
            .services()
            .enumerate()
            .filter_map(|(index, s)| Some((index, s.name, s.proxy?)))
            .collect();
        check_shared_server_pools(&self.path, &self.text, &spec.database, &pools)?;
        Ok(spec)
    }
}
