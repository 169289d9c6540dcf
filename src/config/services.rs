//! `[[services]]`: several services, each with its own traffic, requests, client, fleet
//! and pool (and optionally its own PgBouncer, `[services.proxy]`), sharing one
//! `[database]` (its cores and its max_connections).
//!
//! A multi-service model is checked one service at a time: each `[[services]]` entry,
//! put beside the model's shared sections (`name`, `[database]`, `[simulation]`, ...),
//! is an ordinary single-service model file, so it goes through exactly the checks and
//! defaults of `check_model`, and its errors are renamed to `services.<name>.<field>`.
//! The first service becomes the `SystemSpec`'s top-level fields and the others its
//! `more_services` (see `spec::ServiceSpec` for why). Of the timeline, the events that
//! mean the same for every service are shared: `db_slowdown` (the one database slows)
//! and `traffic` (every service's rate rises by the factor). Events aimed at one service's
//! instances or settings, alerts, autoscaling and traffic traces are refused in
//! multi-service models for now: which service they meant would have to be said first.

use std::collections::BTreeSet;
use std::path::Path;

use toml::{Table, Value};

use super::error::{locate_nearest, InputError};

/// The sections each service has for itself; everything else is shared.
/// A top-level `[proxy]` is refused beside `[[services]]` by the same rule as the
/// others: each service that goes through PgBouncer says so in its own
/// `[services.proxy]`, since PgBouncer keeps one server pool per database/user pair.
pub const SERVICE_SECTIONS: [&str; 6] = ["traffic", "request", "client", "fleet", "pool", "proxy"];

/// Sections a multi-service model may not have yet, with the reason.
const TIMELINE_SECTIONS: [&str; 2] = ["alerts", "autoscale"];

/// One `[[services]]` entry as a single-service model table: the service's own
/// sections over the model's shared ones.
pub struct ServiceTable {
    pub name: String,
    pub table: Table,
}

/// The per-service model tables of a `[[services]]` model, or `None` for a
/// single-service model (no `services` key).
pub fn service_tables(
    path: &Path,
    text: &str,
    table: &Table,
) -> Result<Option<Vec<ServiceTable>>, InputError> {
    let Some(services) = table.get("services") else {
        return Ok(None);
    };
    let err = |field: &str, message: String, hint: &str| {
        InputError::at_field(path, text, field, message, hint)
    };
    let Some(entries) = services
        .as_array()
        .filter(|a| a.iter().all(Value::is_table))
    else {
        return Err(err(
            "services",
            "`services` must be an array of tables".into(),
            "write each service as [[services]] with name = \"...\" and its [services.traffic], [services.request], [services.fleet] and [services.pool]",
        ));
    };
    if entries.is_empty() {
        return Err(err(
            "services",
            "`services` lists no service".into(),
            "add at least one [[services]] entry, or remove `services` and write a single-service model",
        ));
    }
    for section in SERVICE_SECTIONS {
        if table.contains_key(section) {
            return Err(err(
                section,
                format!("the model has both a top-level [{section}] and [[services]]"),
                &if section == "proxy" {
                    "move it into the [[services]] entry that goes through PgBouncer as [services.proxy] (each service gets its own PgBouncer pool; PgBouncer pools per database/user pair), or remove [[services]] for a single-service model".to_string()
                } else {
                    format!("remove the top-level [{section}] and give each [[services]] entry its own [services.{section}], or remove [[services]] for a single-service model")
                },
            ));
        }
    }
    for section in TIMELINE_SECTIONS {
        if table.contains_key(section) {
            return Err(err(
                section,
                format!("`{section}` is not supported in a model with [[services]] yet"),
                &format!("remove `{section}`, or model one service at a time to replay a timeline"),
            ));
        }
    }
    let mut shared = table.clone();
    shared.remove("services");
    // The events are the whole model's (`shared_events::shared_events`), not each service's.
    shared.remove("events");
    let mut seen = BTreeSet::new();
    let mut tables = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry = entry.as_table().expect("checked: every entry is a table");
        let service = service_table(path, text, index, entry, &shared)?;
        if !seen.insert(service.name.clone()) {
            return Err(err(
                &format!("services[{index}].name"),
                format!("two services are named \"{}\"", service.name),
                "give every [[services]] entry its own name",
            ));
        }
        tables.push(service);
    }
    Ok(Some(tables))
}

/// One `[[services]]` entry (number `index`) over the model's `shared` sections.
fn service_table(
    path: &Path,
    text: &str,
    index: usize,
    entry: &Table,
    shared: &Table,
) -> Result<ServiceTable, InputError> {
    let err = |field: &str, message: String, hint: &str| {
        InputError::at_field(path, text, field, message, hint)
    };
    let field = format!("services[{index}]");
    let name = match entry.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => {
            return Err(err(
                &format!("{field}.name"),
                format!("service {index} has no name"),
                "give every [[services]] entry a name = \"...\" (e.g. \"auth\"), used in outputs and in paths like services.auth.pool.max_size",
            ))
        }
    };
    if name.contains(['.', '[', ']', '"', '\'']) {
        return Err(err(
            &format!("{field}.name"),
            format!("service name \"{name}\" contains `.`, `[`, `]` or a quote"),
            "use letters, digits, `-` and `_`, so that paths like services.<name>.pool.max_size can name it",
        ));
    }
    let mut service = shared.clone();
    for (key, value) in entry {
        if key == "name" {
            continue;
        }
        if !SERVICE_SECTIONS.contains(&key.as_str()) {
            return Err(InputError::new(
                path,
                format!("service \"{name}\" has an unknown section `{key}`"),
            )
            .field(format!("services.{name}.{key}"))
            .line(locate_in_service(text, index, key))
            .hint(format!(
                "a service has name, {}; the database and simulation are shared",
                SERVICE_SECTIONS.join(", ")
            )));
        }
        service.insert(key.clone(), value.clone());
    }
    if entry.get("traffic").and_then(|t| t.get("trace")).is_some() {
        return Err(InputError::new(
            path,
            format!("service \"{name}\": traffic traces are not supported in a model with [[services]] yet"),
        )
        .field(format!("services.{name}.traffic.trace"))
        .line(locate_in_service(text, index, "traffic.trace"))
        .hint("remove `trace` (and arrivals = \"trace\") from the service's [services.traffic]; a `profile` works"));
    }
    Ok(ServiceTable {
        name,
        table: service,
    })
}

/// Renames an error found while checking service `name` (entry `index` of
/// `[[services]]`) on its own so that it points into the multi-service file:
/// `pool.max_size` becomes `services.<name>.pool.max_size`, at its line in that entry.
pub fn in_service(error: InputError, index: usize, name: &str, text: &str) -> InputError {
    let Some(field) = &error.field else {
        return error;
    };
    let shared = [
        "database",
        "simulation",
        "name",
        "description",
        "uncertainty",
        "events",
    ]
    .iter()
    .any(|s| field == s || field.starts_with(&format!("{s}.")));
    if shared {
        return error;
    }
    let renamed = format!("services.{name}.{field}");
    let line = locate_in_service(text, index, field);
    InputError {
        field: Some(renamed),
        line: line.or(error.line),
        message: format!("service \"{name}\": {}", error.message),
        ..error
    }
}

/// The 1-based line of `field` (a path within one service, e.g. `traffic.rate` or
/// `request.steps[2].transaction`) in entry `index` of `[[services]]`, or of the nearest
/// enclosing table written there (the entry's `[[services]]` header at worst). Every
/// entry has its own `[services.traffic]`, `[services.pool]`, ..., so the field is
/// looked for only between the entry's header and the next header outside it.
pub fn locate_in_service(text: &str, index: usize, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = |line: &str| -> Option<String> {
        let line = line.trim();
        let inner = line
            .strip_prefix("[[")
            .and_then(|h| h.split("]]").next())
            .or_else(|| line.strip_prefix('[').and_then(|h| h.split(']').next()))?;
        Some(inner.trim().to_string())
    };
    let entries: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            lines[i].trim().starts_with("[[") && header(lines[i]).as_deref() == Some("services")
        })
        .collect();
    let start = *entries.get(index)?;
    let end = (start + 1..lines.len())
        .find(|&i| header(lines[i]).is_some_and(|h| h == "services" || !h.starts_with("services.")))
        .unwrap_or(lines.len());
    let span = lines[start..end].join("\n");
    locate_nearest(&span, &format!("services.{field}")).map(|line| start + line)
}
