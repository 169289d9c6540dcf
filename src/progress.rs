//! Progress on stderr for commands that can run long (`sweep`, `run`).
//!
//! On a terminal it is an animated bar; anywhere else (a pipe, a CI log, a batch
//! job's output file) it is a plain line every few seconds, so a long command is
//! never silent and a log is never filled with carriage returns. `--quiet` turns
//! both off. Lines go through `writeln!` with the error ignored: a closed or full
//! stderr must not stop the work (issue 11).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a progress line is written when stderr is not a terminal, unless the
/// environment says otherwise.
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);
/// Environment variable with another interval for the lines (a duration such as
/// `30s`, for batch logs that want fewer lines); an unreadable value is ignored.
pub const LINE_INTERVAL_ENV: &str = "POOLSIM_PROGRESS_INTERVAL";

/// `LINE_INTERVAL`, or the environment's valid, positive `POOLSIM_PROGRESS_INTERVAL`.
fn line_interval() -> Duration {
    std::env::var(LINE_INTERVAL_ENV)
        .ok()
        .and_then(|text| crate::config::duration::parse_duration(&text).ok())
        .filter(|interval| interval.0 > 0)
        .map_or(LINE_INTERVAL, |interval| Duration::from_nanos(interval.0))
}

/// How a command shows its progress.
pub struct ProgressStyleSpec {
    /// indicatif template of the terminal bar.
    pub bar_template: &'static str,
    /// Whether the plain-line form writes a first line at once (a sweep announces
    /// itself) or only after `LINE_INTERVAL` (a run that ends in a second says nothing).
    pub line_at_start: bool,
}

/// A bar over `total` units with `message`, shown per `style` when `enabled`; `line`
/// renders the plain-line form from the bar's state. Finish it with `finish_and_clear`.
pub fn start(
    total: u64,
    style: &ProgressStyleSpec,
    message: String,
    enabled: bool,
    line: fn(&ProgressBar) -> String,
) -> ProgressBar {
    let terminal = std::io::stderr().is_terminal();
    let target = if enabled && terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template(style.bar_template).expect("static template is valid"),
    );
    bar.set_message(message);
    if enabled && !terminal {
        log_lines(&bar, style.line_at_start, line);
    } else {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

/// ", about 2 minutes left" once anything is done, else nothing.
pub fn time_left(bar: &ProgressBar) -> String {
    if bar.position() == 0 {
        String::new()
    } else {
        format!(", about {} left", indicatif::HumanDuration(bar.eta()))
    }
}

/// Writes `line(bar)` now (when `at_start`) and every `line_interval()` until the bar
/// finishes or is dropped, from a thread of its own.
fn log_lines(bar: &ProgressBar, at_start: bool, line: fn(&ProgressBar) -> String) {
    let interval = line_interval();
    let write = move |bar: &ProgressBar| {
        let _ = writeln!(std::io::stderr(), "{}", line(bar));
    };
    if at_start {
        write(bar);
    }
    let watched = bar.downgrade();
    std::thread::spawn(move || {
        let mut last = Instant::now();
        loop {
            std::thread::sleep(interval.min(Duration::from_millis(100)));
            let Some(bar) = watched.upgrade() else { return };
            if bar.is_finished() {
                return;
            }
            if last.elapsed() >= interval {
                write(&bar);
                last = Instant::now();
            }
        }
    });
}
