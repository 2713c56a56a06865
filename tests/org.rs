//! End-to-end tests of organization scans: the binary against moto (STS, Organizations, KMS in
//! several accounts) behind our emulator, which serves App Runner per caller account, forwards
//! everything else to moto, records every call and injects faults.
//!
//! The emulated organization: the management account (the caller, 123456789012), three ACTIVE
//! members, one SUSPENDED member, and one ACTIVE member whose role cannot be assumed.

mod contract;
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use support::{AppRunnerEmulator, Creds, Fault, Moto, Scenario, scan_cmd_with, service};

const MANAGEMENT: &str = "123456789012";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

struct Org {
    moto: Moto,
    active: Vec<String>,
    suspended: String,
    unassumable: String,
    /// KMS key ARN per (account, region), created in that account.
    keys: BTreeMap<(String, String), String>,
}

fn organization() -> Org {
    let moto = Moto::start_private();
    let orgs = moto.organizations();
    orgs.ensure_organization();
    let members: Vec<String> = ["alpha", "bravo", "charlie", "delta", "echo"]
        .iter()
        .map(|n| orgs.create_account(n, &format!("{n}@example.com")))
        .collect();
    let suspended = members[3].clone();
    orgs.close_account(&suspended);
    let unassumable = members[4].clone();
    let mut active: Vec<String> = vec![MANAGEMENT.to_string()];
    active.extend(members[..3].iter().cloned());
    active.push(unassumable.clone());
    active.sort();
    let mut keys = BTreeMap::new();
    for account in members
        .iter()
        .chain(std::iter::once(&MANAGEMENT.to_string()))
    {
        let creds = if account == MANAGEMENT {
            Creds::testing()
        } else {
            moto.account_creds(account)
        };
        for region in REGIONS {
            let key = moto.kms_as(region, &creds).create_rotating_key();
            keys.insert((account.clone(), region.to_string()), key);
        }
    }
    Org {
        moto,
        active,
        suspended,
        unassumable,
        keys,
    }
}

impl Org {
    /// Every account (suspended included) has one clean service per region, plus `extra`.
    fn scenario(&self, extra: impl Fn(&str, &str) -> Vec<support::ServiceSpec>) -> Scenario {
        let mut scenario = Scenario::new()
            .accounts_from_moto(&self.moto.endpoint)
            .forward_to(&self.moto.endpoint);
        let mut accounts = self.active.clone();
        accounts.push(self.suspended.clone());
        for account in &accounts {
            for region in REGIONS {
                let key = &self.keys[&(account.clone(), region.to_string())];
                scenario = scenario
                    .service(service(account, region, &format!("web-{account}")).kms_key(key));
                for spec in extra(account, region) {
                    scenario = scenario.service(spec);
                }
            }
        }
        scenario
    }

    fn scan(&self, emu: &AppRunnerEmulator, args: &[&str]) -> (i32, Value, String) {
        let out = scan_cmd_with(emu, &self.moto, &Creds::testing())
            .env("AWS_ENDPOINT_URL", emu.endpoint())
            .arg("scan")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), doc, stderr)
    }
}

fn errors(doc: &Value) -> BTreeSet<(String, String, String, String)> {
    doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["account_id"].as_str().unwrap().to_string(),
                e["region"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn org_scan_covers_active_accounts_with_their_roles_and_reports_what_it_could_not_read() {
    let org = organization();
    let bravo = org
        .active
        .iter()
        .find(|a| **a != MANAGEMENT && **a != org.unassumable)
        .unwrap()
        .clone();
    let alpha = org
        .active
        .iter()
        .find(|a| **a != MANAGEMENT && **a != org.unassumable && **a != bravo)
        .unwrap()
        .clone();
    let scenario = org
        .scenario(|_, _| vec![])
        // One region denied by policy in one account.
        .fault(
            Fault::new("AccessDeniedException")
                .service("apprunner")
                .operation("ListServices")
                .account(&bravo)
                .region("eu-west-1"),
        )
        // One account whose role cannot be assumed.
        .fault(
            Fault::new("AccessDenied")
                .service("sts")
                .operation("AssumeRole")
                .arn_contains(&format!(":{}:", org.unassumable)),
        )
        // Throttled operations, retried to success.
        .fault(
            Fault::new("ThrottlingException")
                .service("apprunner")
                .operation("DescribeService")
                .account(&alpha)
                .times(3),
        )
        .fault(
            Fault::new("ThrottlingException")
                .service("kms")
                .operation("DescribeKey")
                .times(2),
        );
    let emu = AppRunnerEmulator::start(scenario);
    let (status, doc, stderr) = org.scan(
        &emu,
        &[
            "--org",
            "--regions",
            "us-east-1,eu-west-1",
            "--format",
            "json",
            "--max-attempts",
            "5",
        ],
    );
    assert_eq!(status, 3, "collection errors and no finding: {stderr}");
    assert!(
        doc["findings"].as_array().unwrap().is_empty(),
        "{}",
        doc["findings"]
    );
    let expected: BTreeSet<(String, String, String, String)> = [
        (
            bravo.clone(),
            "eu-west-1".to_string(),
            "apprunner:ListServices".to_string(),
            "AccessDeniedException".to_string(),
        ),
        (
            org.unassumable.clone(),
            "global".to_string(),
            "sts:AssumeRole".to_string(),
            "AccessDenied".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(errors(&doc), expected);

    // Scopes: every ACTIVE account x region, the suspended account nowhere.
    let scopes: BTreeSet<(String, String, bool)> = doc["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["account_id"].as_str().unwrap().into(),
                s["region"].as_str().unwrap().into(),
                s["complete"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(scopes.len(), org.active.len() * REGIONS.len());
    assert!(!scopes.iter().any(|(a, _, _)| *a == org.suspended));
    // 4 readable accounts x 2 regions, minus bravo's denied region.
    assert_eq!(doc["summary"]["services"], 7);

    let calls = emu.calls();
    // The suspended account is never touched: no call as it, no role assumed in it.
    assert!(
        !calls.iter().any(|c| c.account == org.suspended),
        "a call ran as the suspended account"
    );
    assert!(!calls.iter().any(|c| {
        c.resource
            .as_deref()
            .is_some_and(|r| r.contains(&org.suspended))
    }));
    // Each ACTIVE member is scanned with credentials of its assumed role; the caller with its own.
    for account in &org.active {
        let apprunner: Vec<_> = calls
            .iter()
            .filter(|c| c.service == "apprunner" && c.account == *account)
            .collect();
        if *account == org.unassumable {
            assert!(apprunner.is_empty());
            continue;
        }
        assert!(!apprunner.is_empty(), "{account} was not scanned");
        let own = *account == MANAGEMENT;
        assert!(
            apprunner
                .iter()
                .all(|c| (c.access_key_id == "testing") == own),
            "{account} used the wrong credentials"
        );
    }
    // One AssumeRole per member account (none for the caller), retries aside.
    let assumed: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "AssumeRole" && c.fault.is_none())
        .filter_map(|c| c.resource.clone())
        .collect();
    assert_eq!(assumed.len(), 3, "{assumed:?}");
    // Throttled calls were retried to success, and every key was read exactly once.
    assert!(emu.throttled() >= 5);
    let describe_key: Vec<_> = calls
        .iter()
        .filter(|c| c.operation == "DescribeKey" && c.fault.is_none())
        .collect();
    let distinct: BTreeSet<_> = describe_key
        .iter()
        .filter_map(|c| c.resource.clone())
        .collect();
    assert_eq!(describe_key.len(), distinct.len(), "a key was read twice");
    assert_eq!(distinct.len(), 7, "one key per scanned account x region");
    // No request repeated except after an error (a retry).
    let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
    for c in &calls {
        if let Some(earlier_failed) = seen.get(c.request_digest.as_str()) {
            assert!(
                *earlier_failed,
                "{} {} repeated without an error",
                c.service, c.operation
            );
        }
        seen.insert(&c.request_digest, c.fault.is_some());
    }
}

#[test]
fn org_listing_denied_is_exit_2() {
    let org = organization();
    let emu = AppRunnerEmulator::start(
        org.scenario(|_, _| vec![]).fault(
            Fault::new("AccessDeniedException")
                .service("organizations")
                .operation("ListAccounts"),
        ),
    );
    let (status, doc, stderr) =
        org.scan(&emu, &["--org", "--format", "json", "--max-attempts", "1"]);
    assert_eq!(status, 2);
    assert!(doc.is_null(), "no report");
    assert!(
        stderr.contains("cannot list the organization's accounts"),
        "{stderr}"
    );
    assert!(stderr.contains("--accounts"), "{stderr}");
}

#[test]
fn shards_cover_every_account_once_and_merge_to_the_unsharded_report() {
    let org = organization();
    // Findings in every account: a service without a customer managed key, one with a secret.
    let emu = AppRunnerEmulator::start(org.scenario(|account, region| {
        vec![
            service(account, region, &format!("nocmk-{account}")).build(),
            service(account, region, &format!("leaky-{account}"))
                .kms_key(
                    "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000dead",
                )
                .env("DB_PASSWORD", "not-a-real-password-but-long")
                .build(),
        ]
    }));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shards");
    std::fs::create_dir_all(&dir).unwrap();
    let base = [
        "--org",
        "--regions",
        "us-east-1,eu-west-1",
        "--format",
        "json",
    ];

    let (status, full, stderr) = org.scan(&emu, &base);
    assert_eq!(status, 1, "{stderr}");
    let n = 3;
    let mut shard_files = Vec::new();
    let mut owner: BTreeMap<String, u32> = BTreeMap::new();
    for k in 1..=n {
        let shard = format!("{k}/{n}");
        let mut args = base.to_vec();
        args.extend(["--shard", shard.as_str()]);
        let (_, doc, stderr) = org.scan(&emu, &args);
        assert!(doc.is_object(), "{stderr}");
        let category = doc["run"]["automation_id"].as_str().unwrap();
        assert!(
            category.ends_with(&format!("/shard-{k}-of-{n}/")),
            "{category}"
        );
        for scope in doc["scopes"].as_array().unwrap() {
            let account = scope["account_id"].as_str().unwrap().to_string();
            if let Some(other) = owner.insert(account.clone(), k) {
                assert_eq!(other, k, "{account} is in shards {other} and {k}");
            }
        }
        let path = dir.join(format!("shard-{k}.json"));
        std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
        shard_files.push(path);
    }
    let covered: BTreeSet<String> = owner.keys().cloned().collect();
    let expected: BTreeSet<String> = org.active.iter().cloned().collect();
    assert_eq!(
        covered, expected,
        "shards cover every ACTIVE account exactly once"
    );

    let merge = |format: &str| {
        let mut cmd = assert_cmd::Command::cargo_bin("apprunner-audit").unwrap();
        cmd.arg("merge")
            .args(&shard_files)
            .args(["--format", format]);
        cmd.output().unwrap()
    };
    let merged = merge("json");
    assert_eq!(
        merged.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    for field in [
        "scopes",
        "summary",
        "exit_status",
        "findings",
        "errors",
        "notices",
    ] {
        assert_eq!(
            merged[field], full[field],
            "merged {field} differs from the unsharded scan"
        );
    }
    assert_eq!(merged["run"]["automation_id"], full["run"]["automation_id"]);
    assert_eq!(merged["run"]["rules"], full["run"]["rules"]);

    let sarif = merge("sarif");
    assert_eq!(sarif.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&sarif.stdout).unwrap();
    contract::validate_sarif(&sarif);
    contract::check_github_contract(&sarif, full["findings"].as_array().unwrap().len());
}

#[test]
fn merge_refuses_bad_reports() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("merge-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 9}").unwrap();
    let out = assert_cmd::Command::cargo_bin("apprunner-audit")
        .unwrap()
        .args(["merge", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("schema_version 9"), "{stderr}");
    let out = assert_cmd::Command::cargo_bin("apprunner-audit")
        .unwrap()
        .args(["merge", dir.join("missing.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
