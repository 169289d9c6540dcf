//! Sensitivity analysis: on a toy model whose capacity hangs on the database's cores,
//! the cores rank first and an input that cannot matter moves nothing; bad ranges
//! are refused before anything runs.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn toy(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sensitivity")
        .join(name)
}

#[test]
fn the_input_the_answer_depends_on_ranks_first() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("poolsim")
        .unwrap()
        .args(["sweep", "--quiet", "--out"])
        .arg(dir.path())
        .arg(toy("experiment.toml"))
        .assert()
        .success();
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("recommendations.json")).unwrap())
            .unwrap();
    let s = &json["scenarios"][0]["sensitivity"];
    let inputs = s["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0]["path"], "database.cores");
    // 2 cores serve 200 statements of 10 ms per second: the 1.0x load saturates them;
    // 8 cores serve 800/s, so the pools carry far more.
    let cores = &inputs[0];
    assert!(cores["carries_at_low"].is_null(), "{cores}");
    assert!(cores["carries_at_high"].as_f64().unwrap() >= 2.5, "{cores}");
    assert!(cores["growth_swing"].as_f64().unwrap() >= 1.5);
    // The connections' lifetime cannot matter in a 60 s run.
    let lifetime = &inputs[1];
    assert_eq!(lifetime["path"], "pool.max_lifetime");
    assert_eq!(lifetime["growth_swing"].as_f64().unwrap(), 0.0);
    assert_eq!(lifetime["carries_at_low"], s["carries_as_written"]);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("## Which assumption matters most"));
    assert!(report.contains("| `database.cores` | 2 .. 8 |"));
    // The tornado chart names the inputs, most influential first, and marks the plan.
    let svg = std::fs::read_to_string(dir.path().join("charts/sensitivity-tornado.svg")).unwrap();
    let (cores, lifetime) = (
        svg.find("database.cores").expect("cores row"),
        svg.find("pool.max_lifetime").expect("lifetime row"),
    );
    assert!(cores < lifetime, "the cores row is drawn first (on top)");
    assert!(svg.contains("planned 1.25x") && svg.contains("as written 1.5x"));
    assert!(report.contains("charts/sensitivity-tornado.svg"));
}

#[test]
fn a_swept_input_cannot_also_be_uncertain() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = dir.path().join("both.toml");
    let text = std::fs::read_to_string(toy("experiment.toml"))
        .unwrap()
        .replace(
            "model = \"model.toml\"",
            &format!("model = {:?}", toy("model.toml")),
        )
        .replace("[slo]", "\"database.cores\" = [4, 6]\n\n[slo]");
    std::fs::write(&experiment, text).unwrap();
    Command::cargo_bin("poolsim")
        .unwrap()
        .args(["sweep", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&experiment)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "database.cores is both swept and given an uncertainty range",
        ));
    assert!(!dir.path().join("out").exists());
}
