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

/// The largest number of `calls` in flight at once at the emulator (arrival to answer).
fn peak_in_flight<'a>(calls: impl IntoIterator<Item = &'a support::Call>) -> usize {
    let mut events: Vec<(std::time::Duration, i32)> = Vec::new();
    for c in calls {
        events.push((c.at, 1));
        events.push((c.at + c.took, -1));
    }
    // An answer before an arrival at the same instant: they did not overlap.
    events.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        peak = peak.max(now);
    }
    peak as usize
}

/// `--accounts` scans the named accounts and no other, assuming `--role-name` with
/// `--external-id` and `--role-session-name` (as STS receives them). Every call stays within
/// its caps: with `--region-concurrency 1`, one call at a time per service x account x region,
/// and four `AssumeRole` at a time (the caller's STS gate is four times a region's cap).
#[test]
fn accounts_list_is_scanned_with_the_role_options_within_the_caps() {
    let org = organization();
    let named: Vec<String> = org
        .active
        .iter()
        .filter(|a| **a != org.unassumable)
        .take(3)
        .cloned()
        .chain((1..=6).map(|i| format!("90000000000{i}")))
        .collect();
    assert!(named.iter().any(|a| a == MANAGEMENT));
    let emu = AppRunnerEmulator::start(
        org.scenario(|account, region| {
            (1..=3)
                .map(|i| service(account, region, &format!("api-{i}-{account}")).build())
                .collect()
        })
        .latency(std::time::Duration::from_millis(60)),
    );
    let list = named.join(",");
    let (status, doc, stderr) = org.scan(
        &emu,
        &[
            "--accounts",
            list.as_str(),
            "--regions",
            "us-east-1,eu-west-1",
            "--role-name",
            "AuditRole",
            "--external-id",
            "ext-4217",
            "--role-session-name",
            "audit-ci",
            "--region-concurrency",
            "1",
            "--format",
            "json",
        ],
    );
    assert!(doc.is_object(), "{stderr}");
    assert!(errors(&doc).is_empty(), "{stderr}");
    // The api-* services have no customer managed key: a finding in every named account that
    // has services, none in the others.
    assert_eq!(status, 1, "{stderr}");
    let scanned: BTreeSet<String> = doc["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["account_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(scanned, named.iter().cloned().collect::<BTreeSet<_>>());
    let with_services: BTreeSet<&str> = named
        .iter()
        .map(String::as_str)
        .filter(|a| org.active.iter().any(|x| x == a))
        .collect();
    // Exactly the planted findings: AR001 for each api-* service (no customer managed key), in
    // each region of each named account that has services; the web-* services are clean.
    let found: BTreeSet<(String, String, String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap().to_string();
            (
                text("rule_id"),
                text("account_id"),
                text("region"),
                text("resource_name"),
            )
        })
        .collect();
    let planted: BTreeSet<(String, String, String, String)> = with_services
        .iter()
        .flat_map(|account| {
            REGIONS.iter().flat_map(move |region| {
                (1..=3).map(move |i| {
                    (
                        "AR001".to_string(),
                        account.to_string(),
                        region.to_string(),
                        format!("api-{i}-{account}"),
                    )
                })
            })
        })
        .collect();
    assert_eq!(found, planted);

    let calls = emu.calls();
    // One AssumeRole per named account but the caller's, as STS received it.
    let assumed: Vec<&support::Call> = calls
        .iter()
        .filter(|c| c.operation == "AssumeRole")
        .collect();
    let roles: BTreeSet<&str> = assumed.iter().map(|c| c.form["RoleArn"].as_str()).collect();
    let expected: BTreeSet<String> = named
        .iter()
        .filter(|a| *a != MANAGEMENT)
        .map(|a| format!("arn:aws:iam::{a}:role/AuditRole"))
        .collect();
    assert_eq!(roles, expected.iter().map(String::as_str).collect());
    assert_eq!(assumed.len(), expected.len());
    for call in &assumed {
        assert_eq!(
            call.form.get("ExternalId").map(String::as_str),
            Some("ext-4217")
        );
        assert_eq!(
            call.form.get("RoleSessionName").map(String::as_str),
            Some("audit-ci")
        );
    }
    // No call as, or about, an account that was not named.
    for other in org.active.iter().chain([&org.suspended]) {
        if named.contains(other) {
            continue;
        }
        assert!(
            calls.iter().all(|c| c.account != *other
                && !c.resource.as_deref().unwrap_or("").contains(other.as_str())),
            "{other} was not named but was called"
        );
    }
    // Eight AssumeRole calls were ready at once; four at a time went.
    assert_eq!(peak_in_flight(assumed.iter().copied()), 4);
    // Four services per account x region, described one at a time.
    let mut scopes: BTreeMap<(&str, &str), Vec<&support::Call>> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| c.service == "apprunner" && with_services.contains(c.account.as_str()))
    {
        scopes.entry((&c.account, &c.region)).or_default().push(c);
    }
    assert_eq!(scopes.len(), 6, "3 accounts with services x 2 regions");
    for (scope, calls) in scopes {
        assert!(calls.len() >= 9, "{scope:?}: list, 4 describe, 4 domains");
        assert_eq!(peak_in_flight(calls), 1, "{scope:?}");
    }
}

/// Assumed-role credentials that are about to expire are replaced before they are used: here
/// they live a minute, less than the five minutes before expiry at which they are renewed, so
/// every call in a member account asks for new ones. With one call in flight over the whole
/// scan and four AssumeRole at a time (`--region-concurrency 1`), for ten accounts to assume,
/// the call waiting for new credentials holds the only scan-wide permit while first
/// AssumeRoles of other accounts wait: neither may wait on what the other holds (the scan
/// would hang).
#[test]
fn expiring_role_credentials_are_renewed_before_use_without_deadlock() {
    let org = organization();
    let emu = AppRunnerEmulator::start(
        org.scenario(|_, _| vec![])
            .credentials_lifetime(std::time::Duration::from_secs(60)),
    );
    let accounts = org
        .active
        .iter()
        .cloned()
        .chain((1..=6).map(|i| format!("90000000000{i}")))
        .collect::<Vec<_>>()
        .join(",");
    let out = scan_cmd_with(&emu, &org.moto, &Creds::testing())
        .env("AWS_ENDPOINT_URL", emu.endpoint())
        .args([
            "scan",
            "--accounts",
            &accounts,
            "--regions",
            "us-east-1,eu-west-1",
        ])
        .args(["--concurrency", "1", "--region-concurrency", "1"])
        .args(["--format", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "finished, clean: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(errors(&doc).is_empty(), "{stderr}");
    assert_eq!(doc["summary"]["services"], org.active.len() * REGIONS.len());
    let calls = emu.calls();
    for member in org.active.iter().filter(|a| **a != MANAGEMENT) {
        let role = format!("arn:aws:iam::{member}:role/OrganizationAccountAccessRole");
        let assumed = calls
            .iter()
            .filter(|c| c.operation == "AssumeRole" && c.fault.is_none())
            .filter(|c| c.resource.as_deref() == Some(role.as_str()))
            .count();
        let made = calls.iter().filter(|c| c.account == *member).count();
        // The first AssumeRole, then one for (nearly) every call made with the role.
        assert!(made >= 6, "{member}: {made} calls");
        assert!(
            assumed > made / 2,
            "{member}: {assumed} AssumeRole for {made} calls"
        );
        assert!(
            calls
                .iter()
                .filter(|c| c.account == *member)
                .all(|c| c.fault.is_none()),
            "{member}: every call was answered"
        );
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
    // The key every account's leaky service names (in the management account's us-east-1, in
    // both regions of every account) is read once for the whole scan.
    let shared_key_reads = emu
        .calls_of("DescribeKey")
        .iter()
        .filter(|c| {
            c.resource
                .as_deref()
                .is_some_and(|r| r.ends_with("00000000dead"))
        })
        .count();
    assert_eq!(
        shared_key_reads, 1,
        "a key shared across accounts is read once"
    );
    let n = 3;
    let mut shard_files = Vec::new();
    let mut owner: BTreeMap<String, u32> = BTreeMap::new();
    for k in 1..=n {
        let shard = format!("{k}/{n}");
        let mut args = base.to_vec();
        args.extend(["--shard", shard.as_str()]);
        let (status, doc, stderr) = org.scan(&emu, &args);
        assert!(doc.is_object(), "{stderr}");
        // Each shard's exit status is a scan's: 1 with a finding at or above `high`, else 3 if
        // something could not be read (the member whose role cannot be assumed), else 0.
        let failing = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "high" || f["severity"] == "critical");
        let expected = if failing {
            1
        } else if !doc["errors"].as_array().unwrap().is_empty() {
            3
        } else {
            0
        };
        assert_eq!(status, expected, "shard {shard}: {stderr}");
        assert_eq!(doc["exit_status"], expected);
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
    let missing = dir.join("missing.json");
    let inventory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo-inventory.json");
    let severe = dir.join("severe.json");
    std::fs::write(
        &severe,
        "{\"schema_version\": 1,\n\"findings\": [{\"severity\": \"severe\"}]}",
    )
    .unwrap();
    for (files, expected) in [
        (vec![&bad], "schema_version 9"),
        (vec![&missing], "cannot read report"),
        (vec![&inventory], "this is an inventory, not a report"),
        (vec![&severe], "at line 2 column"),
    ] {
        let stderr = refused_merge(&files);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// Runs `merge` on `files`, checks that it is refused (exit 2, one line on stderr, nothing on
/// stdout) and returns that line.
fn refused_merge(files: &[&PathBuf]) -> String {
    let out = assert_cmd::Command::cargo_bin("apprunner-audit")
        .unwrap()
        .arg("merge")
        .args(files.iter().map(|f| f.to_str().unwrap()))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{files:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(out.stdout.is_empty(), "no report on a refused merge");
    stderr
}

/// Reports that one scan could not have made together are refused, not combined into a report
/// that claims more than was checked: the same account and region twice (a report given twice),
/// different rules, and shard sets that are not exactly shards 1 to N of one N.
#[test]
fn merge_refuses_reports_of_different_scans_and_incomplete_shard_sets() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("merge-mismatched");
    std::fs::create_dir_all(&dir).unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo-inventory.json");
    let out = assert_cmd::Command::cargo_bin("apprunner-audit")
        .unwrap()
        .args(["scan", "--from-inventory", demo.to_str().unwrap()])
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let demo_report = String::from_utf8(out.stdout).unwrap();
    // The same report for three other accounts: a second part of the same scan.
    let other_accounts = demo_report
        .replace("111111111111", "444444444444")
        .replace("222222222222", "555555555555")
        .replace("333333333333", "666666666666");
    let write = |name: &str, text: &str, edit: &dyn Fn(&mut Value)| -> PathBuf {
        let mut doc: Value = serde_json::from_str(text).unwrap();
        edit(&mut doc);
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        path
    };
    let shard = |k: u32, n: u32| {
        move |doc: &mut Value| {
            doc["run"]["automation_id"] =
                format!("apprunner-audit/accounts-via-{MANAGEMENT}/3-regions/shard-{k}-of-{n}/")
                    .into()
        }
    };
    let a = write("a.json", &demo_report, &|_| {});
    let b = write("b.json", &other_accounts, &|_| {});
    // Made with --disable AR012: neither the rule nor its findings.
    let b_fewer_rules = write("b-fewer-rules.json", &other_accounts, &|doc| {
        doc["run"]["rules"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["id"] != "AR012");
        doc["findings"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["rule_id"] != "AR012");
    });
    let a1of2 = write("a-1-of-2.json", &demo_report, &shard(1, 2));
    let b2of2 = write("b-2-of-2.json", &other_accounts, &shard(2, 2));
    let b1of2 = write("b-1-of-2.json", &other_accounts, &shard(1, 2));
    let a1of3 = write("a-1-of-3.json", &demo_report, &shard(1, 3));
    let b3of3 = write("b-3-of-3.json", &other_accounts, &shard(3, 3));
    for (files, expected) in [
        (
            vec![&a, &a],
            "both cover account 111111111111 in region eu-west-1",
        ),
        (vec![&a, &b_fewer_rules], "different rules (only in "),
        (vec![&a1of3, &b3of3], "shard 2 of 3 is missing"),
        (vec![&a1of3], "shards 2, 3 of 3 are missing"),
        (vec![&a1of2, &b1of2], "are both shard 1 of 2"),
        (vec![&a1of3, &b2of2], "is a shard of 3 but "),
        (vec![&a1of2, &b], "is one shard of a scan but "),
    ] {
        let stderr = refused_merge(&files);
        assert!(stderr.contains(expected), "{files:?}: {stderr}");
    }
    // The parts of one scan merge: two unsharded reports of other accounts, or shards 1 and 2
    // of 2, which make the category of the whole scan.
    for files in [vec![&a, &b], vec![&b2of2, &a1of2]] {
        let out = assert_cmd::Command::cargo_bin("apprunner-audit")
            .unwrap()
            .arg("merge")
            .args(files.iter().map(|f| f.to_str().unwrap()))
            .args(["--format", "json", "--quiet"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{files:?}");
        let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(merged["summary"]["services"], 24);
        assert_eq!(merged["scopes"].as_array().unwrap().len(), 10);
        let id = merged["run"]["automation_id"].as_str().unwrap();
        assert!(!id.contains("shard"), "{id}");
    }
}

/// `--shard` without `--org` or `--accounts` would split the caller's one account: a shard
/// without it would scan nothing and pass. It is a usage error, before any AWS call.
#[test]
fn shard_needs_an_account_set() {
    let out = assert_cmd::Command::cargo_bin("apprunner-audit")
        .unwrap()
        .args(["scan", "--regions", "us-east-1", "--shard", "2/3"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--shard splits the accounts of --org or --accounts"),
        "{stderr}"
    );
}
