//! The experiment's `[slo]`: the p99 latency and error rate every point is judged
//! against, and in a `[[services]]` model each service's own where it differs
//! (`[slo.services.reporting] latency_p99 = "2s"`): a dashboard's heavy queries and a
//! login do not share a latency objective, though they share the database.
//!
//! Kept apart from experiment.rs so the parsing and its error messages sit together.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Value;

use super::Checker;
use crate::config::duration::parse_duration;
use crate::config::error::InputError;
use crate::config::model::SystemSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SloSection {
    latency_p99: String,
    /// A fraction (0.001) or a percentage string ("0.1%").
    error_rate: Value,
    /// `[slo.services.<name>]`: a service's own objective, each field defaulting to `[slo]`'s.
    #[serde(default)]
    services: BTreeMap<String, ServiceSloSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSloSection {
    latency_p99: Option<String>,
    error_rate: Option<Value>,
}

/// The service-level objective a point (or one service of it) is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// p99 latency of successful requests, in ms.
    pub latency_p99_ms: f64,
    /// Failed requests / offered requests.
    pub error_rate: f64,
}

impl Checker<'_> {
    pub(super) fn slo(&self, slo: &SloSection) -> Result<Slo, InputError> {
        Ok(Slo {
            latency_p99_ms: self.latency_objective("slo.latency_p99", &slo.latency_p99)?,
            error_rate: self.error_objective("slo.error_rate", &slo.error_rate)?,
        })
    }

    /// Each service's SLO in model order: its `[slo.services.<name>]` fields over `[slo]`'s.
    pub(super) fn service_slos(
        &self,
        section: &SloSection,
        default: &Slo,
        baseline: &SystemSpec,
    ) -> Result<Vec<Slo>, InputError> {
        let names: Vec<&str> = baseline.services().map(|s| s.name).collect();
        if let Some(name) = section
            .services
            .keys()
            .find(|n| !names.contains(&n.as_str()))
        {
            let field = format!("slo.services.{name}");
            return Err(match baseline.service_name.is_some() {
                true => self.err(
                    &field,
                    format!("the model has no service named \"{name}\""),
                    &format!("the model's services are: {}", names.join(", ")),
                ),
                false => self.err(
                    &field,
                    "per-service SLOs need a model written as [[services]]".into(),
                    "remove [slo.services.*]; [slo] is the whole model's objective",
                ),
            });
        }
        names
            .iter()
            .map(|name| {
                let Some(own) = section.services.get(*name) else {
                    return Ok(*default);
                };
                let field = |key: &str| format!("slo.services.{name}.{key}");
                Ok(Slo {
                    latency_p99_ms: match &own.latency_p99 {
                        Some(text) => self.latency_objective(&field("latency_p99"), text)?,
                        None => default.latency_p99_ms,
                    },
                    error_rate: match &own.error_rate {
                        Some(value) => self.error_objective(&field("error_rate"), value)?,
                        None => default.error_rate,
                    },
                })
            })
            .collect()
    }

    /// A p99 objective in ms: a positive duration.
    fn latency_objective(&self, field: &str, text: &str) -> Result<f64, InputError> {
        let p99 = parse_duration(text)
            .map_err(|why| self.err(field, why, "write a quoted duration, e.g. \"300ms\""))?;
        if p99.is_zero() {
            return Err(self.err(
                field,
                "a p99 SLO of 0s can never be met".into(),
                "write e.g. \"300ms\"",
            ));
        }
        Ok(p99.as_millis_f64())
    }

    /// An error-rate objective: a fraction in [0, 1).
    fn error_objective(&self, field: &str, value: &Value) -> Result<f64, InputError> {
        let error_rate = self.fraction(field, value)?;
        if !(0.0..1.0).contains(&error_rate) {
            return Err(self.err(
                field,
                format!("error_rate is a fraction in [0, 1), not {error_rate}"),
                "write error_rate = 0.001 or error_rate = \"0.1%\" (0.1% of requests may fail)",
            ));
        }
        Ok(error_rate)
    }
}
