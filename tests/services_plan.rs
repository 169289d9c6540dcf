//! The recommendations of a `[[services]]` experiment are about the service whose pool
//! size is swept (the planned service): the headline, `--check`, recommendations.json,
//! points.csv and report.md all name `services.<name>.pool.max_size`, read that service's
//! setting, leave room in the database for the other services' pools, and say that
//! deploys are not simulated there. The connection-budget split ("a 8, b 8: 16 of 57
//! slots") gives two identical services the same share and a busier one a larger share.

use std::path::Path;

use assert_cmd::Command;

/// One `[[services]]` entry: `rate` requests per second of a `hold_ms` statement and
/// 5 ms of app work, 2 instances with pools of `pool`.
fn service(name: &str, rate: u32, hold_ms: u32, pool: u32) -> String {
    format!(
        r#"
[[services]]
name = "{name}"
[services.traffic]
rate = {rate}
[services.request]
[[services.request.steps]]
name = "read"
kind = "db"
time = {{ dist = "exponential", mean = "{hold_ms}ms" }}
[[services.request.steps]]
name = "render"
kind = "app"
time = {{ dist = "gamma", mean = "5ms", cv = 0.5 }}
[services.client]
timeout = "2s"
[services.fleet]
instances = 2
[services.pool]
max_size = {pool}
acquire_timeout = "500ms"
"#
    )
}

/// Two services on one database: `a` (2 instances of 10) and `b` (2 instances of 3).
fn model() -> String {
    format!(
        "name = \"two\"\n{}{}\n[database]\nmax_connections = 43\nreserved_connections = 3\ncores = 4\n[simulation]\nhorizon = \"40s\"\nwarmup = \"10s\"\nseed = 7\n",
        service("a", 150, 4, 10),
        service("b", 150, 4, 3)
    )
}

const EXPERIMENT: &str = r#"
model = "m.toml"
replications = 2
[sweep]
"services.b.pool.max_size" = [1, 3, 4]
"services.b.traffic.growth" = [1.0, 1.5]
[slo]
latency_p99 = "200ms"
error_rate = 0.01
[recommend]
surge = 1
instance_loss = 1
"#;

fn sweep(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .args(["sweep", "--quiet", "--out"])
        .arg(dir.join("out"))
        .args(extra)
        .arg(dir.join("e.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.is_empty() || out.status.code() == Some(1),
        "{stderr}"
    );
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_swept_service_is_the_one_planned_and_its_neighbours_keep_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), model()).unwrap();
    std::fs::write(dir.path().join("e.toml"), EXPERIMENT).unwrap();
    let (code, stdout) = sweep(dir.path(), &["--check"]);

    // a's pools with their deploy surge hold (2 + 1) x 10 = 30 of the 40 slots, so b's
    // instances (2 + 1 surge) get at most (43 - 3 - 30) / 3 = 3 each.
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/recommendations.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["current_pool_size"], 3);
    assert_eq!(json["instances"], 2);
    assert_eq!(json["other_services_connections"], 30);
    let main = &json["scenarios"][0];
    assert_eq!(main["ceiling_pool_size"], 3, "{main}");
    assert!(main["fixed"].as_array().unwrap().is_empty(), "{main}");
    let sizes = main["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 3);
    for size in sizes {
        assert_eq!(size["deploy_simulated"], false);
        assert!(size["carries_deploy"].is_null());
        let feasible = size["feasible"].as_bool().unwrap();
        assert_eq!(feasible, size["pool_size"].as_u64().unwrap() <= 3, "{size}");
        if feasible {
            // What a size carries: the lower of all instances and one instance lost.
            let lower = [&size["carries_normal"], &size["carries_instance_lost"]]
                .iter()
                .map(|g| g.as_f64().unwrap_or(0.0))
                .fold(f64::INFINITY, f64::min);
            assert_eq!(size["carries"].as_f64().unwrap_or(0.0), lower, "{size}");
        }
    }

    // The headline names the planned service's own setting, and agrees with the JSON.
    assert!(
        stdout.contains("current services.b.pool.max_size = 3 carries"),
        "{stdout}"
    );
    assert!(stdout.contains("deploys not simulated"), "{stdout}");
    assert!(
        stdout.contains("ceiling 3 = the database limit"),
        "{stdout}"
    );
    let passes = main["current_passes_planned_growth"].as_bool();
    assert_eq!(code == 0, passes == Some(true), "{stdout}");

    // points.csv: the unprefixed pool_size and growth are b's.
    let points = std::fs::read_to_string(dir.path().join("out/points.csv")).unwrap();
    let mut lines = points.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in lines {
        let row: Vec<&str> = line.split(',').collect();
        assert_eq!(
            row[column("pool_size")],
            row[column("services.b.pool_size")]
        );
        assert_eq!(row[column("growth")], row[column("services.b.growth")]);
        assert_eq!(row[column("services.a.pool_size")], "10");
    }

    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(
        report.contains("`services.b.pool.max_size = 3` on each of 2 instances"),
        "{report}"
    );
    assert!(
        report.contains("− 30 for the other services' pools (with their surge) = 10 slots"),
        "{report}"
    );
}

/// Sweeps `experiment` over the two-service model and returns points.csv's rows by column.
fn sweep_points(experiment: &str) -> Vec<std::collections::HashMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), model()).unwrap();
    std::fs::write(dir.path().join("e.toml"), experiment).unwrap();
    let (code, stdout) = sweep(dir.path(), &[]);
    assert_eq!(code, 0, "{stdout}");
    let points = std::fs::read_to_string(dir.path().join("out/points.csv")).unwrap();
    let mut lines = points.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

const PER_SERVICE: &str = r#"
model = "m.toml"
replications = 2
[sweep]
"services.b.pool.max_size" = [3]
[slo]
latency_p99 = "1ms"          # no request of either service meets this
error_rate = 0.01
[slo.services.a]
latency_p99 = "10s"
[slo.services.b]
latency_p99 = "B_SLO"
[recommend]
instance_loss = 0
"#;

#[test]
fn each_service_is_judged_against_its_own_slo() {
    // Both services with a loose SLO of their own pass, though [slo]'s 1 ms cannot be met:
    // the whole system's mixed p99 is not judged against the default.
    let loose = sweep_points(&PER_SERVICE.replace("B_SLO", "10s"));
    assert_eq!(loose.len(), 1);
    assert_eq!(loose[0]["services.a.simulated_slo_pass"], "true");
    assert_eq!(loose[0]["services.b.simulated_slo_pass"], "true");
    assert_eq!(loose[0]["simulated_slo_pass"], "true");
    // b's own 1 ms fails b, and so the point, while a still passes its own.
    let tight = sweep_points(&PER_SERVICE.replace("B_SLO", "1ms"));
    assert_eq!(tight[0]["services.a.simulated_slo_pass"], "true");
    assert_eq!(tight[0]["services.b.simulated_slo_pass"], "false");
    assert_eq!(tight[0]["simulated_slo_pass"], "false");
}

#[test]
fn a_per_service_slo_for_an_unknown_service_or_a_single_service_model_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), model()).unwrap();
    let unknown = PER_SERVICE
        .replace("B_SLO", "1s")
        .replace("[slo.services.a]", "[slo.services.c]");
    std::fs::write(dir.path().join("e.toml"), unknown).unwrap();
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("check")
        .arg(dir.path().join("e.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("slo.services.c"), "{stderr}");
    assert!(
        stderr.contains("the model's services are: a, b"),
        "{stderr}"
    );

    let single = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/auth-service.toml");
    let experiment = format!(
        "model = {:?}\nreplications = 2\n[sweep]\n\"pool.max_size\" = [10]\n[slo]\nlatency_p99 = \"300ms\"\nerror_rate = 0.001\n[slo.services.auth]\nlatency_p99 = \"1s\"\n",
        single.display().to_string()
    );
    std::fs::write(dir.path().join("single.toml"), experiment).unwrap();
    let out = Command::cargo_bin("poolsim")
        .unwrap()
        .arg("check")
        .arg(dir.path().join("single.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("need a model written as [[services]]"),
        "{stderr}"
    );
}

#[test]
fn behind_its_own_pgbouncer_the_planned_pool_is_bounded_by_max_client_conn() {
    // b's pools connect to a PgBouncer accepting 20 client connections: with 2 instances
    // and 1 surge, at most 20 / 3 = 6 each; b's 5 server connections and a's 30 fit the
    // database, so size 10 is refused by PgBouncer's limit, not max_connections.
    let proxied = model().replace(
        "max_size = 3\nacquire_timeout = \"500ms\"\n",
        "max_size = 3\nacquire_timeout = \"500ms\"\n[services.proxy]\npool_mode = \"transaction\"\ndefault_pool_size = 5\nmax_client_conn = 20\n",
    );
    assert_ne!(proxied, model());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), proxied).unwrap();
    let experiment = EXPERIMENT.replace("[1, 3, 4]", "[3, 10]");
    std::fs::write(dir.path().join("e.toml"), experiment).unwrap();
    let (_, stdout) = sweep(dir.path(), &[]);
    assert!(
        stdout.contains("ceiling 6 = PgBouncer's max_client_conn"),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/recommendations.json")).unwrap(),
    )
    .unwrap();
    let main = &json["scenarios"][0];
    assert_eq!(main["ceiling_limit"], "proxy_clients");
    assert_eq!(main["ceiling_pool_size"], 6);
    let sizes = main["sizes"].as_array().unwrap();
    assert_eq!(sizes[0]["feasible"], true, "{main}");
    assert_eq!(sizes[1]["feasible"], false, "{main}");
    assert!(
        sizes[1]["limited_by"]
            .as_str()
            .unwrap()
            .contains("max_client_conn"),
        "{main}"
    );
}

/// Two services `a` and `b` on one database, each 2 instances with pools of 10 and
/// `rate_a` / `rate_b` requests per second, and an experiment sweeping `a`'s pool.
fn pair(rate_a: u32, rate_b: u32) -> (String, &'static str) {
    let model = format!(
        "name = \"pair\"\n{}{}\n[database]\nmax_connections = 60\nreserved_connections = 3\ncores = 8\n[simulation]\nhorizon = \"40s\"\nwarmup = \"10s\"\nseed = 7\n",
        service("a", rate_a, 8, 10),
        service("b", rate_b, 8, 10)
    );
    let experiment = r#"
model = "m.toml"
replications = 2
[sweep]
"services.a.pool.max_size" = [2, 4, 6]
[slo]
latency_p99 = "100ms"
error_rate = 0.01
"#;
    (model, experiment)
}

/// The stdout split line's connections per service, e.g. "a 8, b 8: 16 of 57 slots"
/// gives [("a", 8), ("b", 8)]; every service must have a size meeting the SLO.
fn budget_split(rate_a: u32, rate_b: u32) -> (Vec<(String, u32)>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (model, experiment) = pair(rate_a, rate_b);
    std::fs::write(dir.path().join("m.toml"), model).unwrap();
    std::fs::write(dir.path().join("e.toml"), experiment).unwrap();
    let (_, stdout) = sweep(dir.path(), &[]);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("connection budget: "))
        .unwrap_or_else(|| panic!("no connection budget line:\n{stdout}"))
        .to_string();
    let (shares, _) = line.split_once(": ").unwrap();
    let parsed = shares
        .split(", ")
        .map(|part| {
            assert!(!part.contains("no size meets"), "{line}");
            let mut words = part.split_whitespace();
            let name = words.next().unwrap().to_string();
            (name, words.next().unwrap().parse().unwrap())
        })
        .collect();
    (parsed, line)
}

#[test]
fn identical_services_get_the_same_share_of_the_connection_budget_and_unequal_ones_do_not() {
    // 2 instances x 100 req/s each x 8 ms statements: each pool needs a few connections.
    let (same, line) = budget_split(200, 200);
    assert_eq!(same.len(), 2, "{line}");
    assert_eq!(
        same[0].1, same[1].1,
        "identical services, unequal shares: {line}"
    );
    assert!(
        same[0].1 > 2,
        "the split should size a pool above the minimum: {line}"
    );
    // The check can fail: b with a quarter of a's traffic needs a smaller share.
    let (unequal, line) = budget_split(200, 50);
    assert!(
        unequal[0].1 > unequal[1].1,
        "a busier service, same share: {line}"
    );
}
