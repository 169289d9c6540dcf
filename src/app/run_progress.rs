//! `poolsim run` with progress: the simulation on a worker thread publishes its
//! clock, and this thread turns it into a bar (terminal) or a line every few seconds
//! (pipe, log), so a long horizon is never a silent wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::config::model::SystemSpec;
use crate::model::{simulate_watched, RunOptions, RunOutput};
use crate::sim::time::SimTime;

/// How often the bar reads the simulated clock.
const POLL: Duration = Duration::from_millis(100);

/// Runs `spec` once, showing its progress on stderr when `enabled`.
pub fn simulate_with_progress(
    spec: &SystemSpec,
    options: RunOptions,
    record_series: bool,
    enabled: bool,
) -> RunOutput {
    if !enabled {
        return simulate_watched(spec, options, record_series, None);
    }
    let horizon_ms = spec.simulation.horizon.0 / 1_000_000;
    let style = crate::progress::ProgressStyleSpec {
        bar_template: "{spinner} [{elapsed_precise}] {wide_bar} {msg}, ETA {eta}",
        line_at_start: false,
    };
    let bar = crate::progress::start(
        horizon_ms.max(1),
        &style,
        simulated(0, horizon_ms),
        true,
        line,
    );
    let clock_ns = AtomicU64::new(0);
    let (done, finished) = mpsc::channel::<()>();
    let (bar, clock_ns) = (&bar, &clock_ns);
    let output = std::thread::scope(|scope| {
        scope.spawn(move || {
            // Wakes at once when the run ends (the sender is dropped), else every POLL.
            while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(POLL) {
                let now_ms = (clock_ns.load(Ordering::Relaxed) / 1_000_000).min(horizon_ms);
                bar.set_position(now_ms);
                bar.set_message(simulated(now_ms, horizon_ms));
            }
        });
        let output = simulate_watched(spec, options, record_series, Some(clock_ns));
        drop(done);
        output
    });
    bar.finish_and_clear();
    output
}

/// "simulated 12m5s of 1h" (whole seconds: the display is not the place for ms).
fn simulated(now_ms: u64, horizon_ms: u64) -> String {
    let at = |ms: u64| {
        let ms = if ms >= 1_000 { ms / 1_000 * 1_000 } else { ms };
        crate::config::duration::format_duration(SimTime(ms * 1_000_000))
    };
    format!("simulated {} of {}", at(now_ms), at(horizon_ms))
}

/// The plain-line form: "run: simulated 12m of 1h (20%), 4 s elapsed, about 16 s left".
fn line(bar: &ProgressBar) -> String {
    let total = bar.length().unwrap_or(1).max(1);
    format!(
        "run: {} ({:.0}%), {:.0} s elapsed{}",
        bar.message(),
        100.0 * bar.position() as f64 / total as f64,
        bar.elapsed().as_secs_f64(),
        crate::progress::time_left(bar)
    )
}
