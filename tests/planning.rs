//! Planning semantics a capacity planner signs: the database limit is a hard
//! constraint, the growth a size carries is the lowest of all instances serving,
//! an instance lost and a deploy, the recommendation carries the most growth of any
//! feasible size, and the runway follows from the carried growth and the forecast.

use std::path::Path;

mod common;
use common::sweep;

use serde_json::Value;

fn main_scenario(out: &Path) -> Value {
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("recommendations.json")).unwrap()).unwrap();
    json["scenarios"][0].clone()
}

#[test]
fn ten_instances_fail_on_the_database_limit_even_where_the_simulation_passed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ten");
    let assert = sweep(
        "small.toml",
        &out,
        &["--set", "fleet.instances=10", "--check"],
    )
    .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("infeasible"), "{stdout}");
    assert!(stdout.contains("check failed"), "{stdout}");
    // (10 + 3 surge) x 10 + 5 other + 3 reserved = 138 > 100: never a pass, in any output.
    let points = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(points.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut simulated_passes_beyond_limit = 0;
    for row in reader.records().map(Result::unwrap) {
        let size: u32 = row[col("pool_size")].parse().unwrap();
        let feasible = &row[col("feasible")] == "true";
        assert_eq!(feasible, 13 * size + 8 <= 100, "size {size}");
        if !feasible {
            assert_eq!(
                &row[col("slo_pass")],
                "false",
                "size {size} counted as passing"
            );
            simulated_passes_beyond_limit += (&row[col("simulated_slo_pass")] == "true") as u32;
        }
    }
    assert!(
        simulated_passes_beyond_limit > 0,
        "the case must include runs that passed in simulation yet cannot connect"
    );
    let scenario = main_scenario(&out);
    assert_eq!(scenario["ceiling_pool_size"], 7);
    let recommended = scenario["recommended_pool_size"].as_u64();
    assert!(recommended.is_none_or(|r| r <= 7), "{recommended:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("infeasible"));
}

#[test]
fn the_gate_fails_when_a_lost_instance_breaks_the_slo_at_the_planned_growth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planned");
    let assert = sweep("small-planned-2.0.toml", &out, &["--check"]).code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let scenario = main_scenario(&out);
    let current = &scenario["current"];
    // It carries the planned 2.0x with every instance serving, so only a degraded
    // condition can fail it, and the gate names that condition.
    assert_eq!(current["carries_normal"], 2.0, "{current}");
    let lowest = current["carries"].as_f64().unwrap();
    assert!(lowest < 2.0, "{current}");
    let limited_by = current["limited_by"].as_str().unwrap();
    assert!(limited_by == "one instance lost" || limited_by == "a rolling deploy");
    assert!(stdout.contains(limited_by), "{stdout}");
    assert_eq!(scenario["current_passes_planned_growth"], false);
    assert_eq!(scenario["current_carries_growth"], current["carries"]);
}

#[test]
fn the_recommendation_carries_at_least_as_much_as_any_feasible_size_and_runway_follows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planned");
    let assert = sweep("small-planned-2.0.toml", &out, &[]).success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let scenario = main_scenario(&out);
    let recommended = scenario["recommended_pool_size"].as_u64().unwrap();
    let sizes = scenario["sizes"].as_array().unwrap();
    let carries = |c: &Value| c["carries"].as_f64().unwrap_or(0.0);
    let best = sizes
        .iter()
        .find(|c| c["pool_size"] == recommended)
        .map(carries)
        .unwrap();
    for c in sizes.iter().filter(|c| c["feasible"] == true) {
        assert!(best >= carries(c), "{recommended} carries {best} but {c}");
        // Ties go to the smaller size.
        if carries(c) == best {
            assert!(c["pool_size"].as_u64().unwrap() >= recommended, "{c}");
        }
    }
    for c in sizes {
        if c["feasible"] == false {
            assert!(c["carries"].is_null(), "{c}");
        }
    }
    // Stdout and recommendations.json say the same numbers.
    assert!(
        stdout.contains(&format!("recommended pool.max_size = {recommended}")),
        "{stdout}"
    );
    // Runway: ln(carried) / ln(1.05) months from the review's month.
    let runway = &scenario["runway"]["current"];
    let carried = runway["carries"].as_f64().unwrap();
    let months = runway["months"].as_f64().unwrap();
    assert!(
        (months - carried.ln() / 1.05f64.ln()).abs() < 1e-9,
        "{runway}"
    );
    let whole = months.floor() as i32 + 10; // months after 2026-11, counted from January 2026
    let expected = format!("{:04}-{:02}", 2026 + whole / 12, whole % 12 + 1);
    assert_eq!(runway["runs_out"], expected.as_str());
}
