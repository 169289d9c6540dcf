//! Alert thresholds: in explicit units, below the pool's state where the SLO fails,
//! firing with lead time in a surge replay, and exported as a Prometheus rules file
//! that parses (and passes `promtool check rules` where promtool is installed).

use std::path::Path;
use std::sync::OnceLock;

use poolsim::config::experiment::Experiment;
use poolsim::recommend::{recommend, AlertThresholds, Recommendations};
use poolsim::report::export::{default_exporters, render_all, ReportInput};
use poolsim::report::output::OutputFile;
use poolsim::sweep::{run_sweep, PointResult};
use yaml_rust2::{Yaml, YamlLoader};

struct Swept {
    points: Vec<PointResult>,
    recommendations: Recommendations,
    files: Vec<OutputFile>,
}

/// The small fixture, swept once for every test of this file.
fn swept() -> &'static Swept {
    static SWEPT: OnceLock<Swept> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep/small.toml");
        let experiment = Experiment::load(&path).unwrap();
        let sweep = run_sweep(&experiment, Some(2), false).unwrap();
        let recommendations = recommend(&experiment, &sweep.points, Some(2)).unwrap();
        let files = render_all(
            &ReportInput {
                experiment: &experiment,
                sweep: &sweep,
                recommendations: &recommendations,
            },
            &default_exporters(),
        )
        .unwrap();
        Swept {
            points: sweep.points,
            recommendations,
            files,
        }
    })
}

/// The threshold sets that have a failing growth (and so thresholds and a replay).
fn with_failing_level(s: &Swept) -> Vec<&AlertThresholds> {
    let main = s.recommendations.main();
    let sets: Vec<&AlertThresholds> = [&main.alerts_current, &main.alerts_recommended]
        .into_iter()
        .flatten()
        .filter(|a| a.first_failing_growth.is_some() && a.last_passing_growth.is_some())
        .collect();
    assert!(
        !sets.is_empty(),
        "the small fixture's current size fails at some swept growth"
    );
    sets
}

fn point(s: &Swept, pool_size: u32, growth: f64) -> &PointResult {
    s.points
        .iter()
        .find(|p| p.pool_size == pool_size && (p.growth - growth).abs() < 1e-9)
        .unwrap()
}

#[test]
fn thresholds_are_below_the_state_at_the_failing_level_and_units_agree() {
    let s = swept();
    for a in with_failing_level(s) {
        let fail = point(s, a.pool_size, a.first_failing_growth.unwrap());
        let pass = point(s, a.pool_size, a.last_passing_growth.unwrap());
        let utilization = a.utilization_above.unwrap();
        let per_pool = a.pending_per_pool_above.unwrap();
        let fleet = a.pending_fleet_total_above.unwrap();
        assert!(
            utilization > 0.0 && utilization < 1.0,
            "a fraction: {utilization}"
        );
        assert!(
            utilization < fail.pool_utilization.mean,
            "{a:?} vs {fail:?}"
        );
        assert!(
            utilization <= pass.pool_utilization.mean,
            "{a:?} vs {pass:?}"
        );
        assert!(per_pool < fail.pool_pending.mean, "{a:?} vs {fail:?}");
        assert!(per_pool <= pass.pool_pending.mean, "{a:?} vs {pass:?}");
        // The fleet total is the per-pool figure times the instances (rounded down to 0.1).
        let instances = f64::from(a.instances);
        assert_eq!(a.instances, fail.instances);
        assert!(fleet <= per_pool * instances + 0.1 + 1e-9 && fleet >= per_pool * instances - 0.1);
        // Below the last passing level, and no higher than what the size carries with an
        // instance lost or during a deploy.
        let warning = a.warning_growth.unwrap();
        assert!(warning < a.last_passing_growth.unwrap(), "{a:?}");
        if let Some(carried) = a.carries_every_condition {
            let lowest = s
                .points
                .iter()
                .map(|p| p.growth)
                .fold(f64::INFINITY, f64::min);
            assert!(warning <= carried.max(lowest) + 1e-9, "{a:?}");
        }
    }
}

#[test]
fn the_surge_replay_fires_the_rules_before_the_slo_breaks() {
    let s = swept();
    for a in with_failing_level(s) {
        let replay = a.replay.as_ref().expect("replayed when a growth fails");
        assert!(replay.to_growth > a.first_failing_growth.unwrap());
        let breached = replay
            .slo_breached_s
            .expect("the ramp goes beyond the failing growth");
        let utilization = replay
            .rules
            .iter()
            .find(|r| r.source == "threshold" && r.rule.starts_with("pool.utilization"))
            .unwrap();
        let fired = utilization.fired_s.expect("the utilization rule fires");
        let lead = utilization.lead_time_s.expect("and before the SLO breaks");
        assert!(
            lead > 0.0 && (lead - (breached - fired)).abs() < 1e-9,
            "{replay:?}"
        );
        // In growth terms too: it fires at a lower traffic level than the SLO breaks at.
        let fired_at = utilization.fired_at_growth.unwrap();
        assert!(
            fired_at < replay.slo_breached_at_growth.unwrap(),
            "{replay:?}"
        );
        assert!((fired_at - replay.growth_at(fired)).abs() < 1e-9);
        // It fires after holding for `for` above a threshold reached during the ramp.
        assert!(fired >= replay.steady_s + a.for_s, "{replay:?}");
        for rule in &replay.rules {
            assert_eq!(rule.lead_time_s.is_some(), rule.note.is_none(), "{rule:?}");
        }
    }
}

fn file<'a>(s: &'a Swept, name: &str) -> &'a str {
    let f = s.files.iter().find(|f| f.path == name).unwrap();
    std::str::from_utf8(&f.bytes).unwrap()
}

#[test]
fn the_rules_file_parses_with_the_expected_groups_and_rules() {
    let s = swept();
    let text = file(s, "alerts.rules.yml");
    let docs = YamlLoader::load_from_str(text).unwrap();
    let groups = docs[0]["groups"].as_vec().unwrap();
    let sets = with_failing_level(s);
    let model = &s.recommendations.model;
    let mut expected: Vec<String> = Vec::new();
    for a in &sets {
        let name = format!("poolsim-{model}-pool-size-{}", a.pool_size);
        if !expected.contains(&name) {
            expected.push(name);
        }
    }
    expected.push(format!("poolsim-{model}-timeouts"));
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, expected);
    for group in groups {
        for rule in group["rules"].as_vec().unwrap() {
            for key in ["alert", "expr", "for"] {
                assert!(rule[key].as_str().is_some(), "{key} in {rule:?}");
            }
            assert!(matches!(
                rule["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ));
            for key in ["summary", "description", "runbook"] {
                assert!(
                    rule["annotations"][key].as_str().is_some(),
                    "{key} in {rule:?}"
                );
            }
        }
    }
    let first = &groups[0]["rules"];
    let a = sets[0];
    let expr = |alert: &str| -> String {
        first
            .as_vec()
            .unwrap()
            .iter()
            .find(|r| r["alert"] == Yaml::String(alert.into()))
            .map(|r| r["expr"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(expr("HikariPoolUtilizationHigh").contains(&format!(
        "sum by (pool) (hikaricp_connections_active) / sum by (pool) (hikaricp_connections_max) > {}",
        a.utilization_above.unwrap()
    )));
    assert!(expr("HikariPoolPendingPerPool").contains(&format!(
        "max by (pool) (hikaricp_connections_pending) > {}",
        a.pending_per_pool_above.unwrap()
    )));
    assert!(expr("HikariPoolPendingFleetTotal").contains(&format!(
        "sum by (pool) (hikaricp_connections_pending) > {}",
        a.pending_fleet_total_above.unwrap()
    )));
    assert!(text.contains("sum by (pool) (increase(hikaricp_connections_timeout_total[5m])) > 0"));
}

#[test]
fn promtool_accepts_the_rules_file_where_installed() {
    let Ok(output) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        eprintln!("promtool is not on PATH; skipping `promtool check rules`");
        return;
    };
    assert!(output.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.rules.yml");
    std::fs::write(&path, file(swept(), "alerts.rules.yml")).unwrap();
    let check = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_report_states_units_and_lead_time_and_links_the_rules() {
    let report = file(swept(), "report.md");
    assert!(report.contains("[alerts.rules.yml](alerts.rules.yml)"));
    assert!(report.contains("per pool") && report.contains("summed over the"));
    assert!(report.contains("Surge replay") && report.contains("s before**"));
}
