//! The 2024-01-15 replay reproduces the postmortem's timeline (one replication).

use std::path::Path;

use poolsim::config::model::ModelSource;
use poolsim::config::overrides::parse_override_value;
use poolsim::model::{simulate_detailed, RunOptions};
use poolsim::stats::series::{first_error_rate_above, phase_stats};

#[test]
fn the_replay_matches_the_postmortem() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/incident-2024-01-15.toml");
    let alerts = parse_override_value(
        r#"[{ name = "pending", metric = "pool.pending", above = 5, for = "1m" }, { name = "errors", metric = "error_rate", above = 0.05, for = "5m" }]"#,
    );
    let spec = ModelSource::read(&path)
        .unwrap()
        .build(&[("alerts".into(), alerts)])
        .unwrap();
    let out = simulate_detailed(&spec, RunOptions::default(), true);
    let s = &out.series;
    let clock = |h: f64, m: f64| (h - 9.0) * 3600.0 + m * 60.0;

    // Failures start near 09:45.
    let start = first_error_rate_above(s, 10.0, 0.01).expect("the incident happens");
    assert!(
        start > clock(9.0, 40.0) && start < clock(9.0, 50.0),
        "errors from {start} s"
    );

    // 25-35% of logins fail between 09:45 and 12:30, mostly acquire timeouts.
    let incident = phase_stats("incident", clock(9.0, 45.0), clock(12.0, 30.0), s);
    assert!(
        (0.25..=0.35).contains(&incident.failed_fraction),
        "{}",
        incident.failed_fraction
    );
    assert_eq!(
        incident.dominant_failure.as_deref(),
        Some("acquire_timeout")
    );

    // After the 13:00-13:15 rollout of the larger pool, errors are below 0.1%.
    let fixed = phase_stats("fixed", clock(13.0, 15.0), clock(14.0, 0.0), s);
    assert!(fixed.failed_fraction < 0.001, "{}", fixed.failed_fraction);
    assert!(fixed.peak_db_connections <= 97.0);

    // The pool-pending alert pages before the error-rate alert and before errors pass 1%.
    let fired = |name: &str| out.alerts.iter().find(|a| a.name == name).unwrap().fired_s;
    assert!(fired("pending") < fired("errors"));
    assert!(fired("pending") <= start);
}
