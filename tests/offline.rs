//! End-to-end tests of the binary with no AWS at all: `--from-inventory` re-scans, the three
//! output formats, the SARIF contract, determinism, exit statuses, the rule catalog, and every
//! kind of bad input (one line on stderr, exit status 2).

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
    validate_sarif(&sarif);
    check_github_contract(&sarif, 14);
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

/// Validates against the official OASIS SARIF 2.1.0 schema (as shipped by serde-sarif).
pub fn validate_sarif(sarif: &Value) {
    // The official schema's `language` patterns have a stray `]` that strict regex engines refuse
    // to compile; replace them by what they mean (a two-letter language, optionally a region).
    let text = include_str!("data/sarif-schema-2.1.0.json");
    let bad = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(bad));
    let schema: Value =
        serde_json::from_str(&text.replace(bad, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And it is not vacuous: a result without a message is rejected.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    broken["version"] = Value::from("2.0.0");
    assert!(!validator.is_valid(&broken));
}

/// The checks of RULES.md's SARIF contract, shared with the live end-to-end tests.
pub fn check_github_contract(sarif: &Value, results: usize) {
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one scan is one run");
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "apprunner-audit");
    assert!(driver["version"].is_string() && driver["informationUri"].is_string());
    let rules = driver["rules"].as_array().unwrap();
    let levels = [
        ("critical", "error", "9.5"),
        ("high", "error", "8.0"),
        ("medium", "warning", "5.5"),
        ("low", "note", "3.0"),
    ];
    for rule in rules {
        for field in ["id", "name"] {
            assert!(rule[field].is_string(), "{field} in {rule}");
        }
        for field in ["shortDescription", "fullDescription"] {
            assert!(!rule[field]["text"].as_str().unwrap().is_empty());
        }
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
        assert!(
            rule["help"]["markdown"]
                .as_str()
                .unwrap()
                .contains("How to fix")
        );
        assert!(
            rule["helpUri"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.aws.amazon.com/")
        );
        let tags: Vec<&str> = rule["properties"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(tags.contains(&"security"));
        let level = rule["defaultConfiguration"]["level"].as_str().unwrap();
        let sev = rule["properties"]["security-severity"].as_str().unwrap();
        assert!(
            levels.iter().any(|(_, l, s)| *l == level && *s == sev),
            "{level} {sev}"
        );
    }
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // Every enabled rule is listed, fired or not (AR030-AR032 are off by default).
    assert_eq!(
        ids,
        [
            "AR001", "AR002", "AR003", "AR004", "AR005", "AR010", "AR011", "AR012", "AR020"
        ]
    );
    assert!(
        run["automationDetails"]["id"]
            .as_str()
            .unwrap()
            .starts_with("apprunner-audit/")
    );
    let results_list = run["results"].as_array().unwrap();
    assert_eq!(results_list.len(), results);
    let mut fingerprints = BTreeSet::new();
    for result in results_list {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let severity = result["properties"]["severity"].as_str().unwrap();
        let (_, level, _) = levels.iter().find(|(s, _, _)| *s == severity).unwrap();
        assert_eq!(result["level"], *level);
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let locations = result["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 1);
        let physical = &locations[0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        let props = &result["properties"];
        let want_uri = format!(
            "aws/{}/{}/apprunner/",
            props["accountId"].as_str().unwrap(),
            props["region"].as_str().unwrap()
        );
        assert!(uri.starts_with(&want_uri), "{uri}");
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
        let logical = &locations[0]["logicalLocations"][0];
        assert_eq!(logical["kind"], "resource");
        assert_eq!(logical["fullyQualifiedName"], props["resourceArn"]);
        assert!(
            props["resourceArn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:apprunner:")
        );
        let rule_id = result["ruleId"].as_str().unwrap();
        if rule_id.starts_with("AR00") {
            assert!(
                props["keyArn"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("arn:aws:kms:"))
                    || rule_id == "AR001",
                "{result}"
            );
        }
        let fp = result["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap();
        assert!(
            fingerprints.insert(fp.to_string()),
            "fingerprints are unique"
        );
    }
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
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("error"), "{args:?}: {}", r.stderr);
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
