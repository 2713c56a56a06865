//! End-to-end tests of the binary with no AWS at all: `--from-inventory` re-scans, the three
//! output formats, the SARIF contract, determinism, exit statuses, the rule catalog, and every
//! kind of bad input (one line on stderr, exit status 2).

mod contract;
mod sample;

use apprunner_audit::inventory::{CollectionError, Inventory};
use assert_cmd::Command;
use sample::{inventory, key, service};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo-inventory.json");

/// The binary with no AWS configuration at all: an offline scan must not need any.
fn bin() -> Command {
    let mut cmd = Command::cargo_bin("apprunner-audit").unwrap();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&name);
        }
    }
    // Any AWS call would go to a closed loopback port and fail the test.
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .env_remove("COLUMNS");
    cmd
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = bin().args(args).output().unwrap();
    Run {
        status: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn scan_demo(extra: &[&str]) -> Run {
    let mut args = vec!["scan", "--from-inventory", DEMO];
    args.extend_from_slice(extra);
    run(&args)
}

fn write_inventory(name: &str, inv: &Inventory) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("offline");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, inv.to_json()).unwrap();
    path
}

fn scan_file(path: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["scan", "--from-inventory", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn demo_table_snapshot() {
    let r = scan_demo(&[]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    insta::assert_snapshot!("demo_table", r.stdout);
}

#[test]
fn json_and_sarif_are_byte_identical_across_runs() {
    for format in ["json", "sarif", "table"] {
        let a = scan_demo(&["--format", format]);
        let b = scan_demo(&["--format", format]);
        assert_eq!(a.status, 1);
        assert!(!a.stdout.is_empty());
        assert_eq!(a.stdout, b.stdout, "{format} differs between runs");
    }
}

#[test]
fn json_report_matches_the_demo() {
    let r = scan_demo(&["--format", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["exit_status"], 1);
    let s = &doc["summary"];
    assert_eq!(
        (
            s["critical"].as_u64(),
            s["high"].as_u64(),
            s["medium"].as_u64(),
            s["low"].as_u64()
        ),
        (Some(1), Some(7), Some(5), Some(1))
    );
    assert_eq!(s["services"], 12);
    assert_eq!(s["errors"], 1);
    assert_eq!(s["complete"], false);
    let findings = doc["findings"].as_array().unwrap();
    let ids: BTreeSet<&str> = findings
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "AR001", "AR002", "AR003", "AR004", "AR005", "AR010", "AR011", "AR012", "AR020",
    ]
    .into();
    assert_eq!(ids, want);
    // Sorted by severity first.
    let rank = |s: &str| {
        ["critical", "high", "medium", "low"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let ranks: Vec<usize> = findings
        .iter()
        .map(|f| rank(f["severity"].as_str().unwrap()))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    assert_eq!(doc["errors"][0]["code"], "AccessDeniedException");
    assert_eq!(doc["errors"][0]["account_id"], "333333333333");
    assert_eq!(doc["notices"].as_array().unwrap().len(), 2);
}

/// SARIF 2.1.0: valid against the official schema, and carrying every field RULES.md and
/// GitHub code scanning need.
#[test]
fn sarif_validates_and_meets_the_github_contract() {
    let r = scan_demo(&["--format", "sarif"]);
    let sarif: Value = serde_json::from_str(&r.stdout).unwrap();
    contract::validate_sarif(&sarif);
    contract::check_github_contract(&sarif, 14);
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    let notes = inv["toolExecutionNotifications"].as_array().unwrap();
    let error = notes.iter().find(|n| n["level"] == "error").unwrap();
    assert_eq!(error["descriptor"]["id"], "AccessDeniedException");
    assert!(
        error["message"]["text"]
            .as_str()
            .unwrap()
            .contains("333333333333")
    );
    assert_eq!(error["properties"]["region"], "eu-west-1");
    assert_eq!(notes.iter().filter(|n| n["level"] == "note").count(), 2);
}

#[test]
fn exit_statuses_follow_the_contract() {
    // 1: findings at or above the threshold (the demo has a critical).
    assert_eq!(scan_demo(&["--fail-on", "critical"]).status, 1);
    // 3: nothing at or above the threshold, but a collection error.
    assert_eq!(scan_demo(&["--fail-on", "never"]).status, 3);
    // 0: a clean, complete inventory.
    let k = key("111111111111", "us-east-1", "k1");
    let clean = inventory(
        vec![
            service("111111111111", "us-east-1", "web")
                .key(&k.arn())
                .build(),
        ],
        vec![k.build()],
        vec![],
    );
    let path = write_inventory("clean.json", &clean);
    let r = scan_file(&path, &[]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No findings."));
    // A medium finding fails only a medium threshold.
    let k2 = key("111111111111", "us-east-1", "k2").rotation("disabled", None);
    let medium = inventory(
        vec![
            service("111111111111", "us-east-1", "web")
                .key(&k2.arn())
                .build(),
        ],
        vec![k2.build()],
        vec![],
    );
    let path = write_inventory("medium.json", &medium);
    assert_eq!(scan_file(&path, &[]).status, 0);
    assert_eq!(scan_file(&path, &["--fail-on", "medium"]).status, 1);
    assert_eq!(scan_file(&path, &["--fail-on", "low"]).status, 1);
    // An incomplete scan with only sub-threshold findings is 3, never 0.
    let mut incomplete = medium.clone();
    incomplete.errors.push(CollectionError {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        resource: "arn:aws:kms:us-east-1:111111111111:key/other".into(),
        operation: "kms:DescribeKey".into(),
        code: "ThrottlingException".into(),
        message: "Rate exceeded".into(),
    });
    let path = write_inventory("incomplete.json", &incomplete);
    assert_eq!(scan_file(&path, &[]).status, 3);
}

#[test]
fn enable_and_disable_change_the_rule_set() {
    let r = scan_demo(&[
        "--format",
        "json",
        "--enable",
        "AR030,AR031,AR032",
        "--disable",
        "AR001",
    ]);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: BTreeSet<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains("AR030") && ids.contains("AR031") && ids.contains("AR032"));
    assert!(!ids.contains("AR001"));
}

#[test]
fn output_file_gets_the_report_and_stdout_stays_empty() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("out.sarif");
    let r = scan_demo(&["--format", "sarif", "--output", path.to_str().unwrap()]);
    assert_eq!(r.status, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("14 findings"), "{}", r.stderr);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["version"], "2.1.0");
}

/// A report file is replaced only by a whole report: a run that fails leaves the previous one
/// byte for byte, and no temporary file; a destination that is not a regular file (here
/// `/dev/null`, through a symlink) is written in place and never removed; a report never
/// replaces the inventory it is made from; `-` is stdout.
#[test]
fn output_file_is_replaced_only_by_a_whole_report() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("output-replace");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("report.sarif");
    let out_arg = out.to_str().unwrap();
    let first = scan_demo(&["--format", "sarif", "--output", out_arg, "--quiet"]);
    assert_eq!(first.status, 1, "{}", first.stderr);
    let before = std::fs::read(&out).unwrap();
    let bad = dir.join("bad-inventory.json");
    std::fs::write(&bad, "{\"schema_version\": 1").unwrap();
    let failed = scan_file(&bad, &["--format", "sarif", "--output", out_arg]);
    assert_eq!(failed.status, 2, "{}", failed.stderr);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the previous report is intact"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.iter().filter(|n| n.ends_with(".partial")).count(),
        0,
        "{left:?}"
    );

    let device = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &device).unwrap();
    for inventory in [bad.as_path(), Path::new(DEMO)] {
        let r = scan_file(
            inventory,
            &["--output", device.to_str().unwrap(), "--quiet"],
        );
        assert!(r.status == 1 || r.status == 2, "{}", r.stderr);
        let meta = std::fs::metadata(&device).expect("the device is still there");
        assert!(!meta.is_file(), "still /dev/null, not a regular file");
    }

    let inventory = dir.join("inventory.json");
    std::fs::copy(DEMO, &inventory).unwrap();
    let same = scan_file(&inventory, &["--output", inventory.to_str().unwrap()]);
    assert_eq!(same.status, 2);
    assert_eq!(same.stderr.lines().count(), 1, "{}", same.stderr);
    assert!(
        same.stderr
            .contains("--output and --from-inventory both name"),
        "{}",
        same.stderr
    );
    assert_eq!(
        std::fs::read(&inventory).unwrap(),
        std::fs::read(DEMO).unwrap()
    );

    let dash = scan_demo(&["--format", "json", "--output", "-", "--quiet"]);
    assert_eq!(dash.status, 1);
    assert!(dash.stdout.starts_with('{'), "the report went to stdout");
}

/// The exit status is the gate's even when the reader of the report goes away (`| head`), and
/// a closed stderr never aborts the process.
#[test]
fn closed_pipes_keep_the_exit_status() {
    use std::process::Stdio;
    let exe = assert_cmd::cargo::cargo_bin("apprunner-audit");
    let mut reader_gone = std::process::Command::new(&exe)
        .args(["scan", "--from-inventory", DEMO, "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(reader_gone.stdout.take());
    assert_eq!(reader_gone.wait().unwrap().code(), Some(1), "findings");
    let mut stderr_gone = std::process::Command::new(&exe)
        .args(["scan", "--from-inventory", "/nonexistent/inventory.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(stderr_gone.stderr.take());
    assert_eq!(stderr_gone.wait().unwrap().code(), Some(2), "a usage error");
}

#[test]
fn rules_catalog_and_explain() {
    let r = run(&["rules"]);
    assert_eq!(r.status, 0);
    for id in ["AR001", "AR002", "AR020", "AR032"] {
        assert!(r.stdout.contains(id), "{id}");
    }
    assert!(
        r.stdout.contains("critical / high"),
        "AR002 shows both severities"
    );
    let r = run(&["rules", "explain", "AR003"]);
    assert_eq!(r.status, 0);
    for section in [
        "What it does",
        "Why is this bad?",
        "How to fix it",
        "References",
        "enable-key-rotation",
    ] {
        assert!(r.stdout.contains(section), "{section}");
    }
    let r = run(&["rules", "explain", "AR999"]);
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("unknown rule ID 'AR999'"));
}

/// The README's rule table is generated from the rule files; this keeps it so.
#[test]
fn readme_rule_table_is_generated() {
    let r = run(&["rules", "--format", "markdown"]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- rules:start -->\n")
        .expect("README has the rules:start marker")
        + "<!-- rules:start -->\n".len();
    let end = readme
        .find("<!-- rules:end -->")
        .expect("README has the rules:end marker");
    assert_eq!(
        &readme[start..end],
        r.stdout,
        "README rule table is stale: paste `apprunner-audit rules --format markdown` between the markers"
    );
}

/// Each bad input: exit status 2, one line on stderr naming the problem, nothing on stdout.
#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"schema_version\": 1, \"services\": [").unwrap();
    let future = dir.join("future.json");
    std::fs::write(&future, "{\"schema_version\": 7}").unwrap();
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(
        rules_dir.join("XX001.toml"),
        "id = \"XX001\"\nname = \"X\"\nseverity = \"high\"\ntitle = \"t\"\nhelp_uri = \"https://x\"\ntags = [\"security\"]\n[docs]\nwhat = \"w\"\nwhy = \"y\"\nfix = \"f\"\n[logic]\nwhen = \"service.name ==\"\nmessage = \"'m'\"\n",
    )
    .unwrap();
    let missing = dir.join("missing.json");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                garbage.display().to_string(),
            ],
            "line 1",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                future.display().to_string(),
            ],
            "schema_version 7",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                missing.display().to_string(),
            ],
            "cannot read inventory file",
        ),
        (
            vec!["scan".into(), "--regions".into(), "mars-north-1".into()],
            "unknown region 'mars-north-1'",
        ),
        (
            vec!["scan".into(), "--role-session-name".into(), "a b/c".into()],
            "not a valid role session name",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--disable".into(),
                "AR001,AR002,AR003,AR004,AR005,AR010,AR011,AR012,AR020".into(),
            ],
            "no rule left to evaluate",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--enable".into(),
                "AR030".into(),
                "--disable".into(),
                "AR030".into(),
            ],
            "rule AR030 is in both --enable and --disable",
        ),
        (
            vec!["scan".into(), "--role-name".into(), "".into()],
            "not a valid IAM role name",
        ),
        (
            vec!["scan".into(), "--external-id".into(), "x".into()],
            "not a valid external ID",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--concurrency".into(),
                "4".into(),
            ],
            "cannot be used with '--concurrency",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--automation-id".into(),
                " ".into(),
            ],
            "the SARIF category is empty",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--enable".into(),
                "AR999".into(),
            ],
            "unknown rule ID 'AR999'",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--rules".into(),
                rules_dir.display().to_string(),
            ],
            "XX001.toml:12:",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--output".into(),
                "/nonexistent-dir/report.json".into(),
            ],
            "cannot write the report",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--fail-on".into(),
                "severe".into(),
            ],
            "--fail-on",
        ),
        (
            vec![
                "scan".into(),
                "--from-inventory".into(),
                DEMO.into(),
                "--format".into(),
                "xml".into(),
            ],
            "xml",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?} printed a report");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert_eq!(
            r.stderr.lines().count(),
            1,
            "{args:?}: one line: {}",
            r.stderr
        );
        assert!(r.stderr.contains("error"), "{args:?}: {}", r.stderr);
    }
}

/// An inventory edited by hand (or written by another tool) that claims what no collector
/// writes is refused, one line and exit 2, rather than passing rules silently: values in another
/// spelling, facts marked unread without the error saying why, services outside every scope.
#[test]
fn inconsistent_inventories_are_refused() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inconsistent");
    std::fs::create_dir_all(&dir).unwrap();
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(DEMO).unwrap()).unwrap();
    // A key with no error about it, and a service with no error about it.
    let errors: Vec<String> = demo["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].as_str().unwrap().to_string())
        .collect();
    let key = demo["keys"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| !errors.contains(k))
        .unwrap()
        .clone();
    let service = demo["services"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| !errors.iter().any(|e| e == s["arn"].as_str().unwrap()))
        .unwrap();
    type Edit = Box<dyn Fn(&mut Value)>;
    let k = key.clone();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "key-state-spelling",
            Box::new(move |d| d["keys"][&k]["state"] = "disabled".into()),
            "is 'disabled', which is not one of",
        ),
        (
            "rotation-unknown",
            Box::new({
                let k = key.clone();
                move |d| d["keys"][&k]["rotation"]["status"] = "unknown".into()
            }),
            "was not fully read",
        ),
        (
            "key-unread",
            Box::new({
                let k = key.clone();
                move |d| d["keys"][&k]["state"] = Value::Null
            }),
            "was not fully read",
        ),
        (
            "domains-unread",
            Box::new(move |d| d["services"][service]["custom_domains"] = Value::Null),
            "custom domains of service",
        ),
        (
            "service-status-spelling",
            Box::new(move |d| d["services"][service]["status"] = "running".into()),
            "service status is 'running'",
        ),
        (
            "no-scopes",
            Box::new(|d| d["scopes"] = Value::Array(vec![])),
            "which the inventory's scopes do not list",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut doc = demo.clone();
        edit(&mut doc);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        let r = scan_file(&path, &[]);
        assert_eq!(r.status, 2, "{name}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{name}: {}", r.stderr);
    }
}

#[test]
fn saved_inventory_round_trips_through_a_rescan() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("resaved.json");
    // --save-inventory with --from-inventory is refused (it would only copy the file).
    let r = scan_demo(&["--save-inventory", path.to_str().unwrap()]);
    assert_eq!(r.status, 2);
    let demo = Inventory::load(Path::new(DEMO)).unwrap();
    let again = Inventory::from_json(&demo.to_json(), "x").unwrap();
    assert_eq!(demo, again);
}
