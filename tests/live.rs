//! End-to-end tests of a live scan: the built binary against our App Runner emulator
//! (`AWS_ENDPOINT_URL_APPRUNNER`) and moto for KMS and STS (`AWS_ENDPOINT_URL`), both on
//! loopback, reached only through the SDK's own endpoint configuration.
//!
//! Each test plants a scenario (services, keys in every state moto can produce, faults) and checks
//! that the scan reports exactly what was planted, in every format, with the right exit status.

mod contract;
mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use support::{AppRunnerEmulator, Fault, Scenario, moto, scan_cmd, service};

const ACCOUNT: &str = "123456789012";

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn scan(emu: &AppRunnerEmulator, args: &[&str]) -> Run {
    let out = scan_cmd(emu).arg("scan").args(args).output().unwrap();
    Run {
        status: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

/// (rule, service, discriminator) of every finding of a JSON report.
fn findings(doc: &Value) -> BTreeSet<(String, String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["resource_name"].as_str().unwrap().to_string(),
                f["discriminator"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn want(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const SECRET_VALUES: [&str; 3] = [
    "AKIAQ3EGRSTUVWXY2345",
    "hunter2-but-much-longer",
    "orders.internal.example.com/v1?token=abc",
];

/// One account, two regions, every key state moto can produce, paging, a deleted service.
#[test]
fn live_scan_reports_exactly_the_planted_findings_in_every_format() {
    let m = moto();
    let kms = m.kms("us-east-1");
    let good = kms.create_rotating_key();
    let unrotated = kms.create_key();
    let doomed = kms.create_key();
    kms.schedule_deletion(&doomed);
    let disabled = kms.create_rotating_key();
    kms.disable_key(&disabled);
    let imported = kms.create_external_key();
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000";
    let eu_key = m.kms("eu-west-1").create_rotating_key();

    let r = "us-east-1";
    let scenario = Scenario::new()
        .service(
            service(ACCOUNT, r, "clean")
                .kms_key(&good)
                .env("LOG_LEVEL", "info"),
        )
        // A second service on the same key: the key is read once, both are clean.
        .service(
            service(ACCOUNT, r, "clean-too")
                .kms_key(&good)
                .custom_domain("ok.example.com", "ACTIVE", &["SUCCESS"]),
        )
        .service(service(ACCOUNT, r, "no-cmk"))
        .service(service(ACCOUNT, r, "unrotated").kms_key(&unrotated))
        .service(service(ACCOUNT, r, "doomed").kms_key(&doomed))
        .service(service(ACCOUNT, r, "disabled").kms_key(&disabled))
        .service(service(ACCOUNT, r, "imported").kms_key(&imported))
        .service(service(ACCOUNT, r, "orphan").kms_key(missing))
        .service(
            service(ACCOUNT, r, "leaky")
                .kms_key(&good)
                .env("AWS_ACCESS_KEY_ID", SECRET_VALUES[0])
                .env("DB_PASSWORD", SECRET_VALUES[1])
                .env("ORDERS_URL", &format!("http://{}", SECRET_VALUES[2]))
                .env("SIDECAR", "http://localhost:2773/")
                .env(
                    "SECRET_REF",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
                )
                .secret(
                    "API_TOKEN",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-AbCdEf",
                ),
        )
        .service(
            service(ACCOUNT, r, "from-git")
                .kms_key(&good)
                .code_repo("http://git.example.com/team/app", "API")
                .custom_domain(
                    "app.example.com",
                    "PENDING_CERTIFICATE_DNS_VALIDATION",
                    &["PENDING_VALIDATION"],
                )
                .custom_domain("www.example.com", "ACTIVE", &["SUCCESS", "FAILED"]),
        )
        .service(
            service(ACCOUNT, r, "yaml-config")
                .kms_key(&good)
                .code_repo("https://github.com/o/r", "REPOSITORY"),
        )
        .service(service(ACCOUNT, r, "gone").status("DELETED"))
        .service(service(ACCOUNT, "eu-west-1", "eu-clean").kms_key(&eu_key))
        .service(service(ACCOUNT, "eu-west-1", "eu-no-cmk"))
        .page_size(3);
    let emu = AppRunnerEmulator::start(scenario);

    let inventory_path = tmp("planted-inventory.json");
    let run = scan(
        &emu,
        &[
            "--regions",
            "us-east-1,eu-west-1",
            "--format",
            "json",
            "--save-inventory",
            inventory_path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 1, "{}", run.stderr);
    let doc = json(&run);
    let expected = want(&[
        ("AR001", "no-cmk", ""),
        ("AR001", "eu-no-cmk", ""),
        ("AR003", "unrotated", ""),
        // Pending deletion: AR002 critical, and not AR003 although moto reads rotation off.
        ("AR002", "doomed", ""),
        ("AR002", "disabled", ""),
        ("AR002", "orphan", ""),
        // moto reports imported keys Enabled (real KMS: PendingImport); either way not AR003.
        ("AR005", "imported", ""),
        ("AR020", "leaky", "AWS_ACCESS_KEY_ID"),
        ("AR020", "leaky", "DB_PASSWORD"),
        ("AR012", "leaky", "ORDERS_URL"),
        ("AR010", "from-git", ""),
        ("AR011", "from-git", "app.example.com"),
        ("AR011", "from-git", "www.example.com"),
    ]);
    assert_eq!(findings(&doc), expected);
    let severity_of = |rule: &str, svc: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == rule && f["resource_name"] == svc)
            .unwrap()["severity"]
            .clone()
    };
    assert_eq!(severity_of("AR002", "doomed"), "critical");
    assert_eq!(severity_of("AR002", "disabled"), "high");
    assert_eq!(severity_of("AR002", "orphan"), "high");
    assert_eq!(
        doc["summary"]["services"], 13,
        "the DELETED service is skipped"
    );
    assert_eq!(doc["summary"]["errors"], 0, "{}", doc["errors"]);
    assert_eq!(doc["run"]["caller_account"], ACCOUNT);
    let notices = doc["notices"].as_array().unwrap();
    assert_eq!(
        notices.len(),
        2,
        "AR012 and AR020 not evaluated for yaml-config"
    );
    assert!(
        notices
            .iter()
            .all(|n| n["message"].as_str().unwrap().contains("yaml-config"))
    );
    let doomed_finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource_name"] == "doomed")
        .unwrap();
    assert_eq!(doomed_finding["properties"]["keyArn"], doomed.as_str());
    assert!(
        doomed_finding["message"]
            .as_str()
            .unwrap()
            .contains("will be deleted on")
    );

    // Every page was read, in both regions; each live service described once, the DELETED one
    // never. (Distinct ARNs: a transport retry of a pooled connection may repeat a call.)
    let lists = emu.calls_of("ListServices");
    assert!(
        lists.iter().filter(|c| c.region == "us-east-1").count() >= 4,
        "12 services at 3 per page"
    );
    assert!(lists.iter().any(|c| c.region == "eu-west-1"));
    let described: BTreeSet<String> = emu
        .calls_of("DescribeService")
        .into_iter()
        .filter_map(|c| c.service_arn)
        .collect();
    assert_eq!(described.len(), 13);
    assert!(
        !described.iter().any(|a| a.contains("service/gone/")),
        "DELETED services are not described"
    );
    let domains: BTreeSet<String> = emu
        .calls_of("DescribeCustomDomains")
        .into_iter()
        .filter_map(|c| c.service_arn)
        .collect();
    assert_eq!(domains, described);

    // The saved inventory re-scans offline to the same findings, and holds no secret value.
    let saved = std::fs::read_to_string(&inventory_path).unwrap();
    for secret in SECRET_VALUES {
        assert!(
            !saved.contains(secret),
            "the inventory holds a secret value"
        );
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
    let offline = scan(
        &emu,
        &[
            "--from-inventory",
            inventory_path.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(offline.status, 1);
    assert_eq!(findings(&json(&offline)), expected);
    let calls_before = emu.calls().len();
    for format in ["table", "sarif"] {
        let again = scan(
            &emu,
            &[
                "--from-inventory",
                inventory_path.to_str().unwrap(),
                "--format",
                format,
            ],
        );
        assert_eq!(again.status, 1);
        for secret in SECRET_VALUES {
            assert!(
                !again.stdout.contains(secret),
                "{format} shows a secret value"
            );
        }
        if format == "sarif" {
            let sarif: Value = serde_json::from_str(&again.stdout).unwrap();
            contract::validate_sarif(&sarif);
            contract::check_github_contract(&sarif, expected.len());
            assert_eq!(
                sarif["runs"][0]["invocations"][0]["executionSuccessful"],
                true
            );
        } else {
            assert!(
                again
                    .stdout
                    .contains("13 findings (1 critical, 7 high, 5 medium, 0 low)"),
                "{}",
                again.stdout
            );
        }
    }
    assert_eq!(
        emu.calls().len(),
        calls_before,
        "an offline re-scan calls no AWS API"
    );
}

#[test]
fn clean_account_exits_0() {
    let key = moto().kms("us-east-1").create_rotating_key();
    let emu = AppRunnerEmulator::start(
        Scenario::new().service(
            service(ACCOUNT, "us-east-1", "web")
                .kms_key(&key)
                .env("PORT", "8080"),
        ),
    );
    let run = scan(&emu, &[]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("No findings."));
    assert!(run.stdout.contains("0 findings (0 critical, 0 high, 0 medium, 0 low); 0 collection errors; 1 service scanned in 1 account and 1 region"), "{}", run.stdout);
    // stderr is not a terminal here: no progress, and the table (which holds the summary) says
    // it all.
    assert_eq!(run.stderr, "", "nothing on a non-terminal stderr");
    // A machine-readable report on stdout: stderr gets the summary line alone, and nothing
    // with --quiet.
    let run = scan(&emu, &["--format", "json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("0 findings (0 critical, 0 high, 0 medium, 0 low)"),
        "{}",
        run.stderr
    );
    let run = scan(&emu, &["--format", "json", "--quiet"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "", "--quiet");
}

/// A region denied by policy, a service whose domains cannot be read, a key whose endpoint is
/// unreachable: reported as collection errors in every format, exit status 3, and none of them
/// passes or fails a rule.
#[test]
fn unreadable_resources_are_errors_never_passes() {
    let key = moto().kms("us-east-1").create_rotating_key();
    let emu = AppRunnerEmulator::start(
        Scenario::new()
            .service(service(ACCOUNT, "us-east-1", "web").kms_key(&key))
            .service(service(ACCOUNT, "us-east-1", "api").kms_key(&key))
            .service(service(ACCOUNT, "eu-west-1", "hidden"))
            .fault(
                Fault::new("AccessDeniedException")
                    .operation("ListServices")
                    .region("eu-west-1"),
            )
            .fault(
                Fault::new("AccessDeniedException")
                    .operation("DescribeCustomDomains")
                    .arn_contains("service/api/"),
            ),
    );
    let run = scan(
        &emu,
        &["--regions", "us-east-1,eu-west-1", "--format", "json"],
    );
    assert_eq!(run.status, 3, "{}", run.stderr);
    let doc = json(&run);
    assert!(findings(&doc).is_empty(), "{:?}", findings(&doc));
    let errors = doc["errors"].as_array().unwrap();
    let got: BTreeSet<(String, String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["region"].as_str().unwrap().into(),
                e["operation"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        (
            "eu-west-1",
            "apprunner:ListServices",
            "AccessDeniedException",
        ),
        (
            "us-east-1",
            "apprunner:DescribeCustomDomains",
            "AccessDeniedException",
        ),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, expected);
    assert!(errors.iter().all(|e| e["account_id"] == ACCOUNT));
    assert_eq!(doc["summary"]["complete"], false);
    let scopes = doc["scopes"].as_array().unwrap();
    assert!(
        scopes
            .iter()
            .any(|s| s["region"] == "eu-west-1" && s["complete"] == false)
    );
    // AR011 could not be evaluated for api: a notice says so.
    assert!(
        doc["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["rule_id"] == "AR011" && n["message"].as_str().unwrap().contains("api"))
    );

    let sarif = scan(
        &emu,
        &["--regions", "us-east-1,eu-west-1", "--format", "sarif"],
    );
    assert_eq!(sarif.status, 3);
    let sarif: Value = serde_json::from_str(&sarif.stdout).unwrap();
    contract::validate_sarif(&sarif);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.iter().filter(|n| n["level"] == "error").count(), 2);

    let table = scan(&emu, &["--regions", "us-east-1,eu-west-1"]);
    assert_eq!(table.status, 3);
    assert!(table.stdout.contains("Collection errors"));
    assert!(table.stdout.contains("AccessDeniedException"));
    assert!(table.stdout.contains("INCOMPLETE"));

    // Findings at the threshold win over incompleteness: exit 1.
    let emu2 = AppRunnerEmulator::start(
        Scenario::new()
            .service(service(ACCOUNT, "us-east-1", "no-cmk"))
            .fault(
                Fault::new("AccessDeniedException")
                    .operation("ListServices")
                    .region("eu-west-1"),
            ),
    );
    assert_eq!(scan(&emu2, &["--regions", "us-east-1,eu-west-1"]).status, 1);
}

#[test]
fn unreachable_kms_is_a_collection_error_not_a_finding() {
    let emu = AppRunnerEmulator::start(
        Scenario::new().service(service(ACCOUNT, "us-east-1", "web").kms_key(
            "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555",
        )),
    );
    let out = scan_cmd(&emu)
        .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .args(["scan", "--format", "json", "--max-attempts", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        findings(&doc).is_empty(),
        "an unread key is neither AWS managed nor unusable"
    );
    let error = &doc["errors"][0];
    assert_eq!(error["operation"], "kms:DescribeKey");
    assert_eq!(error["code"], "EndpointUnreachable");
    assert_eq!(
        error["resource"],
        "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"
    );
}

#[test]
fn throttled_calls_are_retried_to_success() {
    let key = moto().kms("us-east-1").create_rotating_key();
    let emu = AppRunnerEmulator::start(
        Scenario::new()
            .service(service(ACCOUNT, "us-east-1", "web").kms_key(&key))
            .service(service(ACCOUNT, "us-east-1", "no-cmk"))
            .fault(
                Fault::new("ThrottlingException")
                    .operation("ListServices")
                    .times(1),
            )
            .fault(
                Fault::new("ThrottlingException")
                    .operation("DescribeService")
                    .times(2),
            ),
    );
    let run = scan(&emu, &["--format", "json", "--max-attempts", "4"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let doc = json(&run);
    assert_eq!(doc["summary"]["errors"], 0, "{}", doc["errors"]);
    assert_eq!(findings(&doc), want(&[("AR001", "no-cmk", "")]));
    let throttled = emu
        .calls()
        .iter()
        .filter(|c| c.fault.as_deref() == Some("ThrottlingException"))
        .count();
    assert_eq!(throttled, 3);
    let described: BTreeSet<String> = emu
        .calls_of("DescribeService")
        .into_iter()
        .filter(|c| c.fault.is_none())
        .filter_map(|c| c.service_arn)
        .collect();
    assert_eq!(
        described.len(),
        2,
        "both services described after their throttled attempts"
    );
}

#[test]
fn throttling_past_the_retry_budget_is_a_collection_error() {
    let emu = AppRunnerEmulator::start(
        Scenario::new()
            .service(service(ACCOUNT, "us-east-1", "web"))
            .fault(Fault::new("ThrottlingException").operation("DescribeService")),
    );
    let run = scan(&emu, &["--format", "json", "--max-attempts", "2"]);
    assert_eq!(run.status, 3, "{}", run.stderr);
    let doc = json(&run);
    assert!(
        findings(&doc).is_empty(),
        "a service that could not be described is not AR001"
    );
    assert_eq!(doc["errors"][0]["code"], "ThrottlingException");
    assert_eq!(doc["errors"][0]["operation"], "apprunner:DescribeService");
    assert_eq!(emu.calls_of("DescribeService").len(), 2);
}

/// Runs `cmd`, which must stop before scanning anything: exit status 2, nothing on stdout and
/// one line on stderr, which is returned.
fn setup_failure_line(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn missing_credentials_exit_2_with_one_line() {
    let emu = AppRunnerEmulator::start(Scenario::new());
    let stderr = setup_failure_line(
        scan_cmd(&emu)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["scan", "--max-attempts", "1"]),
    );
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
    assert!(stderr.contains("--profile"), "{stderr}");
    assert!(emu.calls().is_empty(), "nothing was scanned");

    // With --org, the caller's identity and the account listing are asked at once: the
    // credentials are still what the one line names, not the listing.
    let stderr = setup_failure_line(
        scan_cmd(&emu)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["scan", "--org", "--max-attempts", "1"]),
    );
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
    assert!(!stderr.contains("organization"), "{stderr}");
}

/// An STS endpoint that refuses connections is a network problem, not a credentials one: the
/// one line says so, and names what to check.
#[test]
fn unreachable_endpoint_exit_2_without_blaming_credentials() {
    let emu = AppRunnerEmulator::start(Scenario::new());
    let closed = closed_port();
    let stderr = setup_failure_line(
        scan_cmd(&emu)
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
            .args(["scan", "--max-attempts", "1"]),
    );
    assert!(stderr.contains("cannot reach AWS"), "{stderr}");
    assert!(stderr.contains("sts:GetCallerIdentity"), "{stderr}");
    assert!(stderr.contains("AWS_ENDPOINT_URL"), "{stderr}");
    assert!(!stderr.contains("credentials"), "{stderr}");
    assert!(emu.calls().is_empty(), "nothing was scanned");
}

/// A web server that is not AWS (a proxy's block page, a wrong endpoint override): whatever it
/// answers carries no AWS error code, and saying "no usable credentials" would send the user the
/// wrong way. At setup it is named as not AWS's answer (exit 2, one line); during the scan, a
/// collection error that says what answered (exit 3), and an empty answer is never read as an
/// empty result.
#[test]
fn an_answer_that_is_not_aws_is_named_as_such() {
    let emu =
        AppRunnerEmulator::start(Scenario::new().service(service(ACCOUNT, "us-east-1", "web")));
    let block_page = answering_server(403, Some("text/html"), BLOCK_PAGE);
    // STS speaks XML: the page is read as an answer with no AWS error code.
    let stderr = setup_failure_line(scan_cmd(&emu).env("AWS_ENDPOINT_URL", &block_page).args([
        "scan",
        "--max-attempts",
        "1",
    ]));
    assert!(
        stderr.contains("the answer was not AWS's (sts:GetCallerIdentity failed: MalformedResponse: an HTTP 403 answer (text/html) with no AWS error code)"),
        "{stderr}"
    );
    assert!(stderr.contains("AWS_ENDPOINT_URL"), "{stderr}");
    assert!(!stderr.contains("no usable AWS credentials"), "{stderr}");
    // Organizations speaks JSON: the page cannot be read at all. Nor is it a want of
    // management-account credentials.
    let stderr = setup_failure_line(
        scan_cmd(&emu)
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &block_page)
            .args(["scan", "--org", "--max-attempts", "1"]),
    );
    assert!(
        stderr.contains("the answer was not AWS's (organizations:ListAccounts failed: MalformedResponse: an HTTP 403 answer (text/html) with no AWS error code)"),
        "{stderr}"
    );
    assert!(!stderr.contains("management account"), "{stderr}");
    assert!(emu.calls().is_empty(), "nothing was scanned");

    let hint = "a proxy or an endpoint override (AWS_ENDPOINT_URL) may be answering instead of AWS";
    for (server, message) in [
        (
            answering_server(200, Some("text/html"), BLOCK_PAGE),
            "an HTTP 200 answer (text/html) that is not the operation's result",
        ),
        // Read as an empty result, this would be a region without services, and a pass.
        (
            answering_server(200, None, ""),
            "an HTTP 200 answer (no content type) with an empty body",
        ),
        // The same without a Content-Length to tell it: an empty chunked body.
        (
            answering_server(200, Some("application/x-amz-json-1.0"), CHUNKED_EMPTY),
            "an HTTP 200 answer (application/x-amz-json-1.0) with an empty body",
        ),
        // JSON, but without the list AWS always answers with: read, it would be empty.
        (
            answering_server(200, Some("application/x-amz-json-1.0"), "{}"),
            "an HTTP 200 answer (application/x-amz-json-1.0) without its ServiceSummaryList list",
        ),
    ] {
        let out = scan_cmd(&emu)
            .env("AWS_ENDPOINT_URL_APPRUNNER", server)
            .args(["scan", "--format", "json", "--max-attempts", "1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            findings(&doc).is_empty(),
            "nothing was read, nothing passes"
        );
        assert_eq!(doc["errors"].as_array().unwrap().len(), 1, "{doc}");
        let error = &doc["errors"][0];
        assert_eq!(error["operation"], "apprunner:ListServices");
        assert_eq!(error["code"], "MalformedResponse");
        assert_eq!(error["message"], format!("{message}: {hint}"));
        assert_eq!(doc["summary"]["complete"], false);
    }
}

const BLOCK_PAGE: &str = "<html><body><h1>Blocked by policy</h1></body></html>";

/// A body for [`answering_server`] that makes its answer chunked and empty.
const CHUNKED_EMPTY: &str = "chunked";

/// The endpoint of a loopback server that answers every request with `status`, `content_type`
/// and `body`, then closes the connection; it lives as long as the test process.
fn answering_server(status: u16, content_type: Option<&str>, body: &'static str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let content_type = content_type
        .map(|t| format!("Content-Type: {t}\r\n"))
        .unwrap_or_default();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let content_type = content_type.clone();
            // A thread per connection, and a bound on reading, so no client holds up another.
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let _ = reader.by_ref().take(length).read_to_end(&mut Vec::new());
                let framing = if body == CHUNKED_EMPTY {
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_string()
                } else {
                    format!("Content-Length: {}\r\n\r\n{body}", body.len())
                };
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 {status} Status\r\n{content_type}Connection: close\r\n{framing}"
                );
            });
        }
    });
    endpoint
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// With a proxy in the environment every call goes through it (the `http://` endpoints of the
/// emulators included), except to the hosts that `NO_PROXY` names.
#[test]
fn proxy_from_the_environment_is_honoured() {
    let emu = AppRunnerEmulator::start(Scenario::new());
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let with_proxy = |no_proxy: Option<&str>| {
        let mut cmd = scan_cmd(&emu);
        for name in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        ] {
            cmd.env_remove(name);
        }
        cmd.env("HTTP_PROXY", &proxy);
        if let Some(hosts) = no_proxy {
            cmd.env("NO_PROXY", hosts);
        }
        cmd.args(["scan", "--max-attempts", "1", "--format", "json"]);
        cmd
    };
    // The proxy (which nothing serves) is bypassed: the scan runs as it would without one.
    let out = with_proxy(Some("127.0.0.1")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let listed = emu.calls_of("ListServices").len();
    assert_eq!(listed, 1, "the emulator was reached straight");

    // Through the proxy: nothing reaches the endpoints, and the one line names the network.
    let stderr = setup_failure_line(&mut with_proxy(None));
    assert!(stderr.contains("cannot reach AWS"), "{stderr}");
    assert_eq!(
        emu.calls_of("ListServices").len(),
        listed,
        "no call got through"
    );
}

#[test]
fn unknown_profile_and_missing_region_exit_2() {
    let emu = AppRunnerEmulator::start(Scenario::new());
    let out = scan_cmd(&emu)
        .env_remove("AWS_REGION")
        .args(["scan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no region configured"), "{stderr}");

    let out = scan_cmd(&emu)
        .args(["scan", "--profile", "nope", "--max-attempts", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(emu.calls().is_empty());

    // The profile of AWS_PROFILE is checked like --profile's, and a config file that does not
    // parse is named, not taken for a missing region.
    let out = scan_cmd(&emu)
        .env("AWS_PROFILE", "nope")
        .args(["scan", "--max-attempts", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("AWS profile 'nope' (AWS_PROFILE) not found"),
        "{stderr}"
    );
    let config = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("broken-aws-config");
    std::fs::write(&config, "[default]\nregion = us-east-1\n[profile broken\n").unwrap();
    let out = scan_cmd(&emu)
        .env("AWS_CONFIG_FILE", &config)
        .env_remove("AWS_REGION")
        .args(["scan", "--max-attempts", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read the AWS config files"),
        "{stderr}"
    );
    assert!(emu.calls().is_empty());

    // Rule IDs are checked before any call, although a live scan compiles its rules while it
    // runs.
    for flag in ["--enable", "--disable"] {
        let out = scan_cmd(&emu)
            .args(["scan", flag, "AR001,AR999"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("unknown rule ID 'AR999'"), "{stderr}");
        assert!(emu.calls().is_empty());
    }
    // So is a selection that leaves nothing to evaluate.
    let out = scan_cmd(&emu)
        .args([
            "scan",
            "--disable",
            "AR001,AR002,AR003,AR004,AR005,AR010,AR011,AR012,AR020",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no rule left to evaluate"), "{stderr}");
    assert!(emu.calls().is_empty(), "refused before any call");
}

#[test]
fn all_regions_scans_every_app_runner_region() {
    let emu = AppRunnerEmulator::start(Scenario::new());
    let run = scan(&emu, &["--regions", "all", "--format", "json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let regions: BTreeSet<String> = emu
        .calls_of("ListServices")
        .iter()
        .map(|c| c.region.clone())
        .collect();
    assert_eq!(regions.len(), 11);
    assert_eq!(json(&run)["scopes"].as_array().unwrap().len(), 11);
}
