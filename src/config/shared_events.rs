//! The `[[events]]` of a `[[services]]` model. Only the events that mean the same for
//! every service are accepted there (`db_slowdown`: the one database slows; `traffic`:
//! every service's rate rises), since the others (an instance down, a `set`, a rolling
//! restart) would first have to say which service they meant. The accepted ones are then
//! checked by `check_timeline` as in any model.
//!
//! Its own module so that `services` (used by `proxy`) need not import `sections`.

use std::path::Path;

use serde::Deserialize;
use toml::Table;

use super::check_timeline::EVENT_KINDS;
use super::error::InputError;
use super::sections::EventSection;
use super::toml_input::deserialize_table;

/// Event kinds a multi-service model may have: they act on the shared database or on
/// every service alike, so no event has to say which service it means.
pub const SHARED_EVENT_KINDS: [&str; 2] = ["db_slowdown", "traffic"];

/// A multi-service model's `[[events]]`, as written.
#[derive(Deserialize)]
struct SharedEvents {
    #[serde(default)]
    events: Vec<EventSection>,
}

/// The `[[events]]` of a multi-service model: each one's kind must be one of
/// `SHARED_EVENT_KINDS` (the rest of its checks are `check_timeline`'s, as in any model).
pub fn shared_events(
    path: &Path,
    text: &str,
    table: &Table,
) -> Result<Vec<EventSection>, InputError> {
    let mut only_events = Table::new();
    if let Some(events) = table.get("events") {
        only_events.insert("events".into(), events.clone());
    }
    let SharedEvents { events } = deserialize_table(path, text, only_events)?;
    for (index, event) in events.iter().enumerate() {
        // An unknown kind is left to `check_timeline`, which suggests the likely one.
        let kind = event.kind.as_str();
        if EVENT_KINDS.contains(&kind) && !SHARED_EVENT_KINDS.contains(&kind) {
            return Err(InputError::at_field(
                path,
                text,
                &format!("events[{index}].kind"),
                format!("`{}` events are not supported in a model with [[services]] yet: which service's instances or settings it means would have to be said", event.kind),
                &format!("use {} here (they act on the shared database or on every service alike), or model one service at a time for this event", SHARED_EVENT_KINDS.join(" or ")),
            ));
        }
    }
    Ok(events)
}
