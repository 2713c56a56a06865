//! `cargo bench --bench org_scan [-- org|offline]`: figures, not timed tests (nothing here fails
//! on a slow result; it fails only when the harness itself cannot run).
//!
//! 1. **org scan**: the real release binary (`scan --org`) against our App Runner emulator, which
//!    also fronts a private moto for KMS, STS and Organizations (`AWS_ENDPOINT_URL` and
//!    `AWS_ENDPOINT_URL_APPRUNNER` both point at it), so that every call is counted, delayed by
//!    40 ms and, for App Runner and KMS, throttled at random 10% of the time. The organization:
//!    the management account 123456789012 (the caller), 30 ACTIVE members and 2 closed
//!    (SUSPENDED) ones; 3 regions; 8 services per scanned account and region (744), one KMS key
//!    per account and region in a mix of states shared by 7 of them, so that the findings the scan
//!    must report are known exactly. Services are also planted in the suspended accounts: a scan
//!    that touched them would report unexpected findings.
//! 2. **offline evaluation**: a generated inventory of 100,000 services evaluated with every
//!    rule (AR030-AR032 enabled) into SARIF, under `/usr/bin/time -v`.
//!
//! The report is printed as tables and written to `target/org_scan.json`.
//!
//! Environment knobs: `ORG_SCAN_ARGS` (extra scan arguments, e.g. `--concurrency 64`),
//! `ORG_SCAN_RUNS` (scans of the same planted organization, default 1: a table of every run,
//! with minimum, median and maximum wall time and ratio, and the last run in full),
//! `ORG_SCAN_SEED` (seed of the random faults), `ORG_SCAN_THROTTLE` (fraction, default 0.10),
//! `ORG_SCAN_THROTTLE_SERVICES` (default `apprunner,kms`), `OFFLINE_SERVICES` (default 100000).
#![allow(clippy::print_stdout, clippy::manual_is_multiple_of, dead_code)]

#[path = "../tests/sample/mod.rs"]
mod sample;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apprunner_audit::inventory::{
    CustomDomain, EnvVar, Inventory, Key, Network, Observability, Scope, SecretRef, Service,
    Source, SourceInfo, ValidationRecord,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::moto::{Creds, DEFAULT_ACCOUNT, Moto};
use support::{AppRunnerEmulator, Call, Fault, LatencyModel, Scenario, service};

// The emulator runs in this process and shares the machine's 2 cores with the scanner: glibc's
// allocator was about a third of its CPU per call (frees and consolidation), mimalloc (the
// scanner's own allocator) far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const MEMBERS: usize = 30;
const CLOSED: usize = 2;
const SERVICES_PER_SCOPE: usize = 8;
const LATENCY: Duration = Duration::from_millis(40);
/// Requests the emulator answers at once: above the scanner's default `--concurrency` (512), so
/// that the harness is never the cap.
const WORKERS: usize = 2048;
const ORG_SCAN_TIMEOUT: Duration = Duration::from_secs(900);

fn main() {
    // `cargo bench` passes `--bench`; other words select the parts.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants =
        |part: &str| filters.is_empty() || filters.iter().any(|f| part.contains(f.as_str()));
    let binary = binary();
    eprintln!("org_scan: binary {}", binary.display());

    // Sections not run this time are kept from the previous report.
    let path = target_dir().join("org_scan.json");
    let mut out = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if wants("org") {
        let report = org_scan(&binary);
        print_org_scan(&report);
        out.insert("org_scan".into(), report);
    }
    if wants("offline") {
        let report = offline(&binary);
        print_offline(&report);
        out.insert("offline".into(), report);
    }
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&Value::Object(out)).unwrap() + "\n",
    )
    .expect("write target/org_scan.json");
    println!("\nreport written to {}", path.display());
}

/// `target/` (the parent of `CARGO_TARGET_TMPDIR`, so `CARGO_TARGET_DIR` is honoured).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_path_buf()
}

/// The release binary: cargo builds it for benches (`CARGO_BIN_EXE_*`); otherwise
/// `target/release/apprunner-audit`, built if missing.
fn binary() -> PathBuf {
    // A wrapper (e.g. one that records CPU time) may stand in for the binary.
    if let Some(path) = std::env::var_os("ORG_SCAN_BIN") {
        return PathBuf::from(path);
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_apprunner-audit") {
        let path = PathBuf::from(path);
        if path.exists() {
            return path;
        }
    }
    let path = target_dir().join("release").join("apprunner-audit");
    if !path.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "apprunner-audit"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
    }
    path
}

/// The binary with a clean AWS environment, as the tests set it up, except that the retry
/// settings are left to the binary: the benchmark measures its own retry behaviour.
fn clean_command(binary: &Path, endpoint: &str, creds: &Creds) -> Command {
    support::clean_aws_command(binary, endpoint, endpoint, creds)
}

/// Every call of the org scan, one JSON line each, times in ms since the binary was started, to
/// `target/org_scan_calls.jsonl`: the timeline behind the ratio, for anyone who wants to look.
fn write_trace(calls: &[Call], spawned_at: Duration) {
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let mut text = String::new();
    for c in calls {
        let line = json!({
            "at_ms": ms(c.at.saturating_sub(spawned_at)),
            "took_ms": ms(c.took),
            "service": c.service,
            "operation": c.operation,
            "account": c.account,
            "region": c.region,
            "resource": c.resource,
            "digest": c.request_digest,
            "fault": c.fault,
            "injected": c.injected,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let path = target_dir().join("org_scan_calls.jsonl");
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("org_scan: cannot write {}: {e}", path.display());
    }
}

/// CPU seconds (user + system) of the processes whose command line contains `needle` (NULs
/// separate the arguments), from `/proc`; 0 where there is none.
fn processes_cpu(needle: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .map(|e| processes_cpu_of(&e.file_name().to_string_lossy()))
        .sum()
}

/// CPU seconds (user + system) of one process (`self` or a pid), from `/proc/<pid>/stat`.
fn processes_cpu_of(pid: &str) -> f64 {
    stat_seconds(pid, 11)
}

/// CPU seconds (user + system) of this process's children that have been waited for: the
/// scanner's, once it has exited.
fn waited_children_cpu() -> f64 {
    stat_seconds("self", 13)
}

/// The sum of two adjacent tick fields of `/proc/<pid>/stat` (utime and stime from `first` =
/// 11, cutime and cstime from 13), in seconds.
fn stat_seconds(pid: &str, first: usize) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is the 1st, utime the 12th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // Clock ticks of 1/100 s, as on every Linux this runs on.
    (fields.get(first).unwrap_or(&0.0) + fields.get(first + 1).unwrap_or(&0.0)) / 100.0
}

/// (busy, total) jiffies of all cores from `/proc/stat`, where there is one.
fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    let total: u64 = fields.iter().take(8).sum();
    Some((total - idle, total))
}

/// What [`run`] gives: exit code, stdout, stderr, wall time, and when the binary was spawned.
struct Ran {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    wall: Duration,
    spawned: Instant,
}

/// Runs `cmd` to completion (killed after `timeout`). The wall time runs from just before the
/// spawn to the moment `wait` returns: a blocking wait, so the exit is seen at once (polling
/// every 2 ms added a millisecond on average to every figure).
fn run(mut cmd: Command, timeout: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned = Instant::now();
    let mut child = cmd.spawn().expect("start the binary");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    // A watchdog kills the binary if it outlives `timeout`; it is told when the wait is over.
    let (exited, watch) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(timeout) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    let status = child.wait().expect("wait for the binary");
    let wall = spawned.elapsed();
    let _ = exited.send(());
    let _ = watchdog.join();
    let stdout = out_reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Ran {
        status: status.code(),
        stdout,
        stderr,
        wall,
        spawned,
    }
}

// ------------------------------------------------------------------------------------------
// 1. org scan
// ------------------------------------------------------------------------------------------

/// The key of one account x region, shared by services 0-6 there (service 7 never has one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    /// Enabled, rotation on: clean.
    Rotating,
    /// Enabled, rotation off: AR003.
    NotRotating,
    /// PendingDeletion: AR002 (critical).
    PendingDeletion,
    /// Disabled: AR002 (high).
    Disabled,
    /// Origin EXTERNAL (moto: Enabled): AR005.
    External,
    /// No key at all: AR001 for every service.
    NoKey,
}

const KINDS: [KeyKind; 6] = [
    KeyKind::Rotating,
    KeyKind::NotRotating,
    KeyKind::PendingDeletion,
    KeyKind::Disabled,
    KeyKind::External,
    KeyKind::NoKey,
];

type FindingKey = (String, String, String); // (rule_id, resource_arn, discriminator or "")

struct OrgPlan {
    scenario: Scenario,
    expected: BTreeSet<FindingKey>,
    scanned_accounts: Vec<String>,
    suspended_accounts: Vec<String>,
    /// Key ARNs named by the services of scanned accounts.
    keys: BTreeSet<String>,
    /// Keys that can rotate automatically (Enabled, AWS_KMS, symmetric): DescribeKey ->
    /// GetKeyRotationStatus.
    rotatable_keys: usize,
    services: usize,
    max_domains: usize,
}

fn finding(rule: &str, arn: &str, discriminator: &str) -> FindingKey {
    (rule.to_string(), arn.to_string(), discriminator.to_string())
}

/// Creates the organization, accounts and keys in moto, and the services (with the findings
/// they must produce) for the emulator.
fn plan_org(moto: &Moto) -> OrgPlan {
    let orgs = moto.organizations();
    orgs.ensure_organization();
    let members: Vec<String> = (0..MEMBERS)
        .map(|i| {
            orgs.create_account(
                &format!("member-{i:02}"),
                &format!("member-{i:02}@example.com"),
            )
        })
        .collect();
    let suspended: Vec<String> = (0..CLOSED)
        .map(|i| {
            let id =
                orgs.create_account(&format!("closed-{i}"), &format!("closed-{i}@example.com"));
            orgs.close_account(&id);
            id
        })
        .collect();
    let mut scanned = vec![DEFAULT_ACCOUNT.to_string()];
    scanned.extend(members);

    let mut scenario = Scenario::new();
    let mut expected = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut rotatable_keys = 0;
    let mut services = 0;
    let mut max_domains = 0;
    for (a, account) in scanned.iter().enumerate() {
        let creds = moto.account_creds(account);
        for (r, region) in REGIONS.iter().enumerate() {
            let kind = KINDS[(a * REGIONS.len() + r) % KINDS.len()];
            let key = if kind == KeyKind::NoKey {
                None
            } else {
                let kms = moto.kms_as(region, &creds);
                let arn = match kind {
                    KeyKind::Rotating => kms.create_rotating_key(),
                    KeyKind::External => kms.create_external_key(),
                    _ => kms.create_key(),
                };
                match kind {
                    KeyKind::PendingDeletion => kms.schedule_deletion(&arn),
                    KeyKind::Disabled => kms.disable_key(&arn),
                    KeyKind::Rotating | KeyKind::NotRotating => rotatable_keys += 1,
                    _ => {}
                }
                keys.insert(arn.clone());
                Some(arn)
            };
            for j in 0..SERVICES_PER_SCOPE {
                let (spec, findings, domains) =
                    plan_service(account, region, j, key.as_deref(), kind);
                expected.extend(findings);
                max_domains = max_domains.max(domains);
                scenario = scenario.service(spec);
                services += 1;
            }
        }
    }
    // Services in the suspended accounts: never to be scanned (they would be AR001 findings).
    for account in &suspended {
        for region in REGIONS {
            for j in 0..2 {
                scenario =
                    scenario.service(service(account, region, &format!("ghost-{j}")).build());
            }
        }
    }
    OrgPlan {
        scenario,
        expected,
        scanned_accounts: scanned,
        suspended_accounts: suspended,
        keys,
        rotatable_keys,
        services,
        max_domains,
    }
}

/// Service `j` of an account and region: (spec, the findings it must produce, its domains).
fn plan_service(
    account: &str,
    region: &str,
    j: usize,
    key: Option<&str>,
    kind: KeyKind,
) -> (support::ServiceSpec, Vec<FindingKey>, usize) {
    let names = [
        "web", "api", "worker", "shop", "portal", "billing", "batch", "legacy",
    ];
    let tag = format!("{}-{}", &account[8..], region);
    let mut b = service(account, region, names[j]);
    let arn = b.arn();
    let mut findings = Vec::new();
    let key = if j == 7 { None } else { key };
    if let Some(key) = key {
        b = b.kms_key(key);
    }
    match (key, kind) {
        (None, _) => findings.push(finding("AR001", &arn, "")),
        (Some(_), KeyKind::NotRotating) => findings.push(finding("AR003", &arn, "")),
        (Some(_), KeyKind::PendingDeletion | KeyKind::Disabled) => {
            findings.push(finding("AR002", &arn, ""))
        }
        (Some(_), KeyKind::External) => findings.push(finding("AR005", &arn, "")),
        (Some(_), _) => {}
    }
    let mut domains = 0;
    match j {
        1 => {
            b = b
                .env("LOG_LEVEL", "info")
                .env("DB_PASSWORD", "hunter2-but-much-longer");
            findings.push(finding("AR020", &arn, "DB_PASSWORD"));
        }
        2 => {
            b = b
                .env("UPSTREAM_AUTH", "AKIAQ3EGRSTUVWXY2345")
                .env("ORDERS_URL", "http://orders.internal.example.com/v1")
                .env("HEALTH_URL", "http://localhost:8080/health");
            findings.push(finding("AR020", &arn, "UPSTREAM_AUTH"));
            findings.push(finding("AR012", &arn, "ORDERS_URL"));
        }
        3 => {
            let good = format!("shop-{tag}.example.com");
            let pending = format!("beta-shop-{tag}.example.com");
            b = b
                .custom_domain(&good, "ACTIVE", &["SUCCESS", "SUCCESS"])
                .custom_domain(
                    &pending,
                    "PENDING_CERTIFICATE_DNS_VALIDATION",
                    &["PENDING_VALIDATION"],
                );
            findings.push(finding("AR011", &arn, &pending));
            domains = 2;
        }
        4 => {
            // 7 domains: two DescribeCustomDomains pages of at most 5.
            for d in 0..6 {
                b = b.custom_domain(
                    &format!("p{d}-portal-{tag}.example.com"),
                    "ACTIVE",
                    &["SUCCESS"],
                );
            }
            let legacy = format!("legacy-portal-{tag}.example.com");
            b = b.custom_domain(&legacy, "ACTIVE", &["SUCCESS", "FAILED"]);
            findings.push(finding("AR011", &arn, &legacy));
            domains = 7;
        }
        5 => {
            b = b
                .secret(
                    "STRIPE_API_KEY",
                    &format!("arn:aws:secretsmanager:{region}:{account}:secret:stripe-AbCdEf"),
                )
                .env(
                    "API_TOKEN_ARN",
                    &format!("arn:aws:ssm:{region}:{account}:parameter/api-token"),
                )
                .env("PORT", "8080");
        }
        6 => b = b.status("PAUSED").public(false).observability(true),
        _ => {}
    }
    (b.build(), findings, domains)
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn org_scan(binary: &Path) -> Value {
    eprintln!("org_scan: starting a private moto and planting the organization ...");
    let setup = Instant::now();
    let moto = Moto::start_private();
    let plan = plan_org(&moto);
    let seed = std::env::var("ORG_SCAN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(support::emulator::DEFAULT_SEED);
    let throttle = env_f64("ORG_SCAN_THROTTLE", 0.10);
    let throttled_services =
        std::env::var("ORG_SCAN_THROTTLE_SERVICES").unwrap_or_else(|_| "apprunner,kms".into());
    // The latency is each call's response time by default (the emulator's and moto's own work
    // inside it); `ORG_SCAN_LATENCY_MODEL=added` adds it after that work instead.
    let latency_model = match std::env::var("ORG_SCAN_LATENCY_MODEL").as_deref() {
        Ok("added") => LatencyModel::Added,
        Ok("response-time") | Err(_) => LatencyModel::ResponseTime,
        Ok(other) => panic!("ORG_SCAN_LATENCY_MODEL={other}: use response-time or added"),
    };
    let mut scenario = plan
        .scenario
        .clone()
        .page_size(20)
        .latency(LATENCY)
        .latency_model(latency_model)
        .workers(WORKERS)
        .seed(seed)
        .accounts_from_moto(&moto.endpoint)
        .forward_to(&moto.endpoint);
    if throttle > 0.0 {
        for s in throttled_services.split(',').filter(|s| !s.is_empty()) {
            scenario = scenario.fault(
                Fault::new("ThrottlingException")
                    .service(s)
                    .probability(throttle),
            );
        }
    }
    let emulator = AppRunnerEmulator::start(scenario);
    eprintln!(
        "org_scan: {} accounts scanned + {} suspended, {} services, {} keys planted in {:.1} s",
        plan.scanned_accounts.len(),
        plan.suspended_accounts.len(),
        plan.services,
        plan.keys.len(),
        setup.elapsed().as_secs_f64()
    );

    // Each run scans the same planted organization; the emulator forgets the calls of the last
    // one (its random draws go on, so each run meets other throttles).
    let runs: usize = std::env::var("ORG_SCAN_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let extra: Vec<String> = std::env::var("ORG_SCAN_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // moto's process (and the `sh` that waits on it, which uses none) by its port argument.
    let moto_port = moto
        .endpoint
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let scan_once = || -> Value {
        emulator.clear_calls();
        let mut cmd = clean_command(binary, &emulator.endpoint(), &Creds::testing());
        cmd.args([
            "scan",
            "--org",
            "--regions",
            &REGIONS.join(","),
            "--format",
            "json",
            "--quiet",
        ]);
        cmd.args(&extra);
        eprintln!("org_scan: running the scan ...");
        // CPU seconds so far of moto, of this process (the emulator) and of the scanner (the
        // waited-for children), with the machine's busy and total ticks.
        let cpu = || {
            (
                processes_cpu(&format!("-p\0{moto_port}\0")),
                processes_cpu_of("self"),
                waited_children_cpu(),
                machine_cpu(),
            )
        };
        let (moto_cpu0, bench_cpu0, scanner_cpu0, cpu_before) = cpu();
        let Ran {
            status,
            stdout,
            stderr,
            wall,
            spawned,
        } = run(cmd, ORG_SCAN_TIMEOUT);
        // The spawn on the emulator's clock, which times the calls. (Read before the CPU
        // snapshots, as it once was, it counted their scan of /proc in "start -> first call".)
        let spawned_at = emulator.elapsed().saturating_sub(spawned.elapsed());
        let (moto_cpu1, bench_cpu1, scanner_cpu1, cpu_after) = cpu();
        let calls = emulator.calls();
        write_trace(&calls, spawned_at);
        let counts = emulator.call_counts();
        let throttled = emulator.throttled();

        let report: Option<Value> = serde_json::from_slice(&stdout).ok();
        let mut out = json!({
            "command": format!("apprunner-audit scan --org --regions {} --format json --quiet {}", REGIONS.join(","), extra.join(" ")).trim().to_string(),
            "exit_status": status,
            "wall_seconds": wall.as_secs_f64(),
            "scenario": {
                "accounts_scanned": plan.scanned_accounts.len(),
                "accounts_suspended": plan.suspended_accounts.len(),
                "regions": REGIONS,
                "services": plan.services,
                "keys": plan.keys.len(),
                "latency_ms": LATENCY.as_millis() as u64,
                "latency_model": format!("{latency_model:?}"),
                "throttle_probability": throttle,
                "throttled_services": throttled_services,
                "seed": seed,
                "emulator_workers": WORKERS,
            },
            // CPU seconds used during the scan: the scanner's own (this process's waited-for
            // children), moto's, and this process's (the emulator's threads, and the harness
            // waiting on the binary).
            "scanner_cpu_seconds": scanner_cpu1 - scanner_cpu0,
            "moto_cpu_seconds": moto_cpu1 - moto_cpu0,
            "emulator_cpu_seconds": bench_cpu1 - bench_cpu0,
            // Share of the machine's cores busy (binary, emulator, moto, anything else) while the
            // scan ran: near 1.0, the wall time measures the machine, not the client.
            "machine_cpu_busy": match (cpu_before, cpu_after) {
                (Some((busy0, all0)), Some((busy1, all1))) if all1 > all0 =>
                    json!((busy1 - busy0) as f64 / (all1 - all0) as f64),
                _ => Value::Null,
            },
        });
        let Some(report) = report else {
            out["error"] = json!(format!(
                "the scan did not print a JSON report (exit status {status:?}): {}",
                stderr.lines().take(5).collect::<Vec<_>>().join(" | ")
            ));
            out["api_calls_total"] = json!(calls.len());
            return out;
        };
        if !stderr.trim().is_empty() {
            out["stderr"] = json!(stderr.lines().take(10).collect::<Vec<_>>().join("\n"));
        }

        // Findings: (rule_id, resource_arn, discriminator) against the planted set.
        let actual: BTreeSet<FindingKey> = report["findings"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        finding(
                            f["rule_id"].as_str().unwrap_or_default(),
                            f["resource_arn"].as_str().unwrap_or_default(),
                            f["discriminator"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let lost: Vec<&FindingKey> = plan.expected.difference(&actual).collect();
        let unexpected: Vec<&FindingKey> = actual.difference(&plan.expected).collect();
        let errors: Vec<&Value> = report["errors"]
            .as_array()
            .map(|e| e.iter().collect())
            .unwrap_or_default();
        let collection_errors: Vec<&&Value> = errors
            .iter()
            .filter(|e| e["kind"] == "collection")
            .collect();
        let other_errors = errors.len() - collection_errors.len();
        let scanned_scopes = report["scopes"].as_array().map(Vec::len).unwrap_or(0);

        // Calls.
        let by_operation: BTreeMap<String, usize> = counts
            .iter()
            .map(|((s, o), n)| (format!("{s}:{o}"), *n))
            .collect();
        let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
        for ((s, _), n) in &counts {
            *by_service.entry(s.clone()).or_insert(0) += n;
        }
        let retried = throttled_then_retried(&calls);
        let repeats = repeated_calls(&calls);
        let suspended_touched = calls
            .iter()
            .filter(|c| {
                plan.suspended_accounts.iter().any(|a| {
                    c.account == *a
                        || c.resource
                            .as_deref()
                            .is_some_and(|r| r.contains(a.as_str()))
                })
            })
            .count();
        let describe_key_calls = calls
            .iter()
            .filter(|c| c.operation == "DescribeKey")
            .count();
        let describe_key_answered = calls
            .iter()
            .filter(|c| c.operation == "DescribeKey" && !c.injected)
            .count();
        let keys_read: BTreeSet<&str> = calls
            .iter()
            .filter(|c| c.operation == "DescribeKey" && !c.injected)
            .filter_map(|c| c.resource.as_deref())
            .collect();
        let rotation_calls_answered = calls
            .iter()
            .filter(|c| c.operation == "GetKeyRotationStatus" && !c.injected)
            .count();
        let apprunner_calls = by_service.get("apprunner").copied().unwrap_or(0);

        // Concurrency as the emulator saw it: calls in flight (arrival to answer, latency included).
        let mut edges: Vec<(Duration, i64)> = calls
            .iter()
            .flat_map(|c| [(c.at, 1), (c.at + c.took, -1)])
            .collect();
        edges.sort();
        let (mut in_flight, mut peak_in_flight) = (0i64, 0i64);
        for (_, delta) in &edges {
            in_flight += delta;
            peak_in_flight = peak_in_flight.max(in_flight);
        }
        let first = calls.iter().map(|c| c.at).min().unwrap_or_default();
        let last = calls
            .iter()
            .map(|c| c.at + c.took)
            .max()
            .unwrap_or_default();
        let busy: f64 = calls.iter().map(|c| c.took.as_secs_f64()).sum();
        let span = (last - first).as_secs_f64();
        if std::env::var_os("ORG_SCAN_DUMP_CALLS").is_some() {
            let dump: Vec<Value> = calls
                .iter()
                .map(|c| {
                    json!([
                        c.at.as_secs_f64(),
                        c.took.as_secs_f64(),
                        c.service,
                        c.operation,
                        c.account,
                        c.region,
                        c.resource,
                        c.fault,
                        c.injected,
                        c.request_digest
                    ])
                })
                .collect();
            let path = target_dir().join("org_scan_calls.json");
            std::fs::write(&path, serde_json::to_string(&dump).unwrap())
                .expect("write the call dump");
            eprintln!("org_scan: calls written to {}", path.display());
        }

        // The critical path: see `critical_path`.
        let path = critical_path(&calls, &plan);
        let lower_bound = LATENCY.as_secs_f64() * path.chain as f64;

        out["findings"] = json!({
            "expected": plan.expected.len(),
            "reported": actual.len(),
            "lost": lost.len(),
            "unexpected": unexpected.len(),
            "lost_examples": lost.iter().take(10).collect::<Vec<_>>(),
            "unexpected_examples": unexpected.iter().take(10).collect::<Vec<_>>(),
        });
        out["errors"] = json!({
            "collection": collection_errors.len(),
            "other": other_errors,
            "examples": errors.iter().take(10).collect::<Vec<_>>(),
        });
        out["scopes_reported"] = json!(scanned_scopes);
        out["api_calls"] = json!({
            "total": calls.len(),
            "by_operation": by_operation,
            "by_aws_service": by_service,
            "per_scanned_apprunner_service": calls.len() as f64 / plan.services as f64,
            "apprunner_per_scanned_apprunner_service": apprunner_calls as f64 / plan.services as f64,
            "throttled_answers": throttled,
            "throttled_then_retried": retried,
            "repeated_non_retry_calls": repeats,
            "calls_touching_suspended_accounts": suspended_touched,
        });
        out["timeline"] = json!({
            "start_to_first_call_seconds": first.saturating_sub(spawned_at).as_secs_f64(),
            "last_answer_to_exit_seconds": (spawned_at + wall).saturating_sub(last).as_secs_f64(),
            "calls_span_seconds": span,
            "mean_calls_in_flight": if span > 0.0 { busy / span } else { 0.0 },
            "peak_calls_in_flight": peak_in_flight,
            // Answers later than the latency: the emulator or moto could not keep up (their work
            // exceeded the response time), which no client can avoid.
            // (Only meaningful when the latency is the response time: added, every call is later.)
            "calls_slower_than_latency": calls.iter().filter(|c| c.took > LATENCY + Duration::from_millis(2)).count(),
            "slowest_call_ms": calls.iter().map(|c| c.took).max().unwrap_or_default().as_secs_f64() * 1e3,
        });
        // When each operation ran, relative to the process start: where the wall time goes.
        let mut phases: BTreeMap<String, (f64, f64, f64, usize)> = BTreeMap::new();
        for c in &calls {
            let start = c.at.saturating_sub(spawned_at).as_secs_f64();
            let end = start + c.took.as_secs_f64();
            let e = phases
                .entry(format!("{}:{}", c.service, c.operation))
                .or_insert((f64::MAX, 0.0, 0.0, 0));
            e.0 = e.0.min(start);
            e.1 = e.1.max(end);
            e.2 += c.took.as_secs_f64();
            e.3 += 1;
        }
        out["phases"] = json!(phases
            .iter()
            .map(|(op, (first, last, took, n))| (op.clone(), json!({
                "first_start_s": first, "last_end_s": last, "mean_took_ms": 1000.0 * took / *n as f64,
            })))
            .collect::<serde_json::Map<String, Value>>());
        out["keys"] = json!({
            "distinct_keys_named": plan.keys.len(),
            "distinct_keys_read": keys_read.len(),
            "describe_key_calls": describe_key_calls,
            "describe_key_answered": describe_key_answered,
            "rotatable_keys": plan.rotatable_keys,
            "get_key_rotation_status_answered": rotation_calls_answered,
        });
        out["critical_path"] = json!({
            "chain_calls": path.chain,
            "chain_calls_strict_dag": path.strict_chain,
            "list_accounts_pages": path.list_accounts_pages,
            "list_services_pages_max": path.list_services_pages,
            "describe_custom_domains_pages_max": path.domain_pages,
            "key_chain": path.key_chain,
            "lower_bound_seconds": lower_bound,
            "ratio": wall.as_secs_f64() / lower_bound,
        });
        out
    };
    let mut reports: Vec<Value> = (0..runs)
        .map(|i| {
            if runs > 1 {
                eprintln!("org_scan: run {} of {runs}", i + 1);
            }
            scan_once()
        })
        .collect();
    drop(emulator);
    drop(moto);
    // The last run in full (its call trace is the one written), and a line per run.
    let summary: Vec<Value> = reports.iter().map(run_summary).collect();
    let mut out = reports.pop().expect("at least one run");
    if runs > 1 {
        out["runs"] = json!(summary);
    }
    out
}

/// One run's figures for the table of runs.
fn run_summary(r: &Value) -> Value {
    json!({
        "wall_seconds": r["wall_seconds"],
        "ratio": r["critical_path"]["ratio"],
        "findings_lost": r["findings"]["lost"],
        "findings_unexpected": r["findings"]["unexpected"],
        "collection_errors": r["errors"]["collection"],
        "other_errors": r["errors"]["other"],
        "throttled_answers": r["api_calls"]["throttled_answers"],
        "throttled_then_retried": r["api_calls"]["throttled_then_retried"],
        "repeated_non_retry_calls": r["api_calls"]["repeated_non_retry_calls"],
        "calls_touching_suspended_accounts": r["api_calls"]["calls_touching_suspended_accounts"],
        "distinct_keys_read": r["keys"]["distinct_keys_read"],
        "describe_key_answered": r["keys"]["describe_key_answered"],
        "scanner_cpu_seconds": r["scanner_cpu_seconds"],
        "moto_cpu_seconds": r["moto_cpu_seconds"],
        "emulator_cpu_seconds": r["emulator_cpu_seconds"],
        "start_to_first_call_seconds": r["timeline"]["start_to_first_call_seconds"],
        "last_answer_to_exit_seconds": r["timeline"]["last_answer_to_exit_seconds"],
    })
}

/// Throttled answers followed later by an identical request that was answered (the retry).
fn throttled_then_retried(calls: &[Call]) -> usize {
    let mut pending: HashMap<(&str, &str, &str, &str, &str), usize> = HashMap::new();
    let mut retried = 0;
    for c in calls {
        let id = (
            c.service.as_str(),
            c.operation.as_str(),
            c.account.as_str(),
            c.region.as_str(),
            c.request_digest.as_str(),
        );
        if c.injected
            && c.fault
                .as_deref()
                .is_some_and(support::emulator::is_throttling)
        {
            *pending.entry(id).or_insert(0) += 1;
        } else if let Some(n) = pending.get_mut(&id) {
            retried += *n;
            *n = 0;
        }
    }
    retried
}

/// Identical requests answered (not injected faults) more than once: calls repeated other than
/// as retries.
fn repeated_calls(calls: &[Call]) -> usize {
    let mut answered: HashMap<(&str, &str, &str, &str, &str), usize> = HashMap::new();
    for c in calls.iter().filter(|c| !c.injected) {
        *answered
            .entry((
                c.service.as_str(),
                c.operation.as_str(),
                c.account.as_str(),
                c.region.as_str(),
                c.request_digest.as_str(),
            ))
            .or_insert(0) += 1;
    }
    answered.values().map(|n| n - 1).sum()
}

struct CriticalPath {
    /// L as defined below (the brief's chain).
    chain: usize,
    /// The same with DescribeCustomDomains depending only on ListServices (it needs only the
    /// service ARN): GetCallerIdentity -> ListAccounts pages -> AssumeRole -> ListServices pages
    /// -> max(DescribeCustomDomains pages, DescribeService -> key chain).
    strict_chain: usize,
    list_accounts_pages: usize,
    list_services_pages: usize,
    domain_pages: usize,
    key_chain: usize,
}

/// L, the longest chain of calls that must follow one another, each at least one latency:
///
/// ```text
/// ListAccounts pages                P_a each page needs the previous NextToken; in parallel,
///   (and GetCallerIdentity          1   the caller's account, scanned with its own credentials)
/// -> AssumeRole                     1   needs the account id from a page, and the caller's
/// -> ListServices pages             P_s in one account x region, token after token
/// -> DescribeService                1   needs the ARN from a page
/// -> max(DescribeCustomDomains pages P_d,          token after token
///        DescribeKey -> GetKeyRotationStatus  2)  the key ARN is in DescribeService's answer;
///                                                 rotation only for keys that can rotate
/// L = max(P_a, 1) + 1 + P_s + 1 + max(P_d, 2)
/// ```
///
/// (GetCallerIdentity needs nothing from ListAccounts nor the other way round, so it is not in
/// the chain; a binary that asks them one after the other pays one latency more than L.)
///
/// Page counts are those the scan actually made: the successful (not injected) distinct
/// requests of each chain (ListAccounts in total, ListServices per account x region,
/// DescribeCustomDomains per service); retries are excluded (they are what the ratio measures).
/// So L follows the page sizes the binary asked for: one that asked for smaller pages than an
/// API allows would lengthen L and ease its own ratio. The scanner asks for the largest page
/// AWS allows (20 accounts, 20 services, 5 domains), although moto would answer up to 100
/// accounts per page (below). Here
/// P_a = ceil(33 accounts / page size): 1 when the binary leaves ListAccounts' MaxResults unset
/// (moto then answers up to 100 per page), 2 with MaxResults 20 (AWS's maximum); P_s = 1
/// (8 services, pages of 20); P_d = 2 (7 domains, pages of at most 5): L = 6 or 7. The lower
/// bound is 40 ms x L: it ignores the process start-up, and with the added latency model
/// (`ORG_SCAN_LATENCY_MODEL=added`) moto's own processing time, which then comes on top.
///
/// `strict_chain` is the same DAG without the one edge the brief's chain adds:
/// DescribeCustomDomains needs only the ARN from ListServices, not DescribeService's answer, so
/// L' = P_a + 1 + P_s + max(P_d, 1 + 2). With P_d = 2 both give the same L.
fn critical_path(calls: &[Call], plan: &OrgPlan) -> CriticalPath {
    // Most distinct answered requests (pages) of `op` within one group of `group`.
    fn pages(calls: &[Call], op: &str, group: impl Fn(&Call) -> String) -> usize {
        let mut pages: HashMap<String, BTreeSet<&str>> = HashMap::new();
        for c in calls
            .iter()
            .filter(|c| c.operation == op && !c.injected && c.fault.is_none())
        {
            pages
                .entry(group(c))
                .or_default()
                .insert(c.request_digest.as_str());
        }
        pages.values().map(BTreeSet::len).max().unwrap_or(0)
    }
    let list_accounts_pages = pages(calls, "ListAccounts", |_| String::new()).max(1);
    let list_services_pages = pages(calls, "ListServices", |c| {
        format!("{}/{}", c.account, c.region)
    })
    .max(1);
    // At least ceil(7 / 5): DescribeCustomDomains pages hold 5 domains at most.
    let domain_pages = pages(calls, "DescribeCustomDomains", |c| {
        c.service_arn.clone().unwrap_or_default()
    })
    .max(plan.max_domains.div_ceil(5).max(1));
    let key_chain = if plan.rotatable_keys > 0 { 2 } else { 1 };
    let chain = list_accounts_pages + 1 + list_services_pages + 1 + domain_pages.max(key_chain);
    let strict_chain =
        list_accounts_pages + 1 + list_services_pages + domain_pages.max(1 + key_chain);
    CriticalPath {
        chain,
        strict_chain,
        list_accounts_pages,
        list_services_pages,
        domain_pages,
        key_chain,
    }
}

/// The table of runs (`ORG_SCAN_RUNS`), then wall time and ratio as minimum, median, maximum.
fn print_runs(runs: &[Value]) {
    println!("runs (the figures above are the last one's):");
    println!(
        "  {:>3} {:>7} {:>6} {:>5} {:>10} {:>6} {:>9} {:>7} {:>9} {:>5} {:>11} {:>13} {:>12}",
        "run",
        "wall s",
        "ratio",
        "lost",
        "unexpected",
        "errors",
        "throttled",
        "retried",
        "repeated",
        "keys",
        "scanner cpu",
        "to 1st call ms",
        "to exit ms"
    );
    for (i, r) in runs.iter().enumerate() {
        println!(
            "  {:>3} {:>7.3} {:>6.2} {:>5} {:>10} {:>6} {:>9} {:>7} {:>9} {:>5} {:>11.2} {:>13.1} {:>12.1}",
            i + 1,
            r["wall_seconds"].as_f64().unwrap_or(f64::NAN),
            r["ratio"].as_f64().unwrap_or(f64::NAN),
            r["findings_lost"].to_string(),
            r["findings_unexpected"].to_string(),
            r["collection_errors"].to_string(),
            r["throttled_answers"].to_string(),
            r["throttled_then_retried"].to_string(),
            r["repeated_non_retry_calls"].to_string(),
            r["distinct_keys_read"].to_string(),
            r["scanner_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            r["start_to_first_call_seconds"]
                .as_f64()
                .unwrap_or(f64::NAN)
                * 1e3,
            r["last_answer_to_exit_seconds"]
                .as_f64()
                .unwrap_or(f64::NAN)
                * 1e3,
        );
    }
    for (label, key) in [("wall s", "wall_seconds"), ("ratio", "ratio")] {
        let mut v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        v.sort_by(f64::total_cmp);
        if let (Some(min), Some(max)) = (v.first(), v.last()) {
            println!(
                "  {label}: min {min:.3}, median {:.3}, max {max:.3} over {} runs",
                v[v.len() / 2],
                v.len()
            );
        }
    }
}

fn print_org_scan(r: &Value) {
    println!(
        "\n== org scan: {} ==",
        r["command"].as_str().unwrap_or_default()
    );
    let s = &r["scenario"];
    println!(
        "scenario: {} accounts scanned (+{} suspended) x {} regions, {} services, {} keys; latency {} ms ({}); throttling {} on {} (seed {:#x}); {} emulator workers",
        s["accounts_scanned"],
        s["accounts_suspended"],
        s["regions"].as_array().map(Vec::len).unwrap_or(0),
        s["services"],
        s["keys"],
        s["latency_ms"],
        s["latency_model"].as_str().unwrap_or("Added"),
        s["throttle_probability"],
        s["throttled_services"].as_str().unwrap_or_default(),
        s["seed"].as_u64().unwrap_or(0),
        s["emulator_workers"],
    );
    if let Some(error) = r["error"].as_str() {
        println!("ERROR: {error}");
        println!(
            "wall time: {:.3} s, API calls: {}",
            r["wall_seconds"].as_f64().unwrap_or(0.0),
            r["api_calls_total"]
        );
        return;
    }
    let row = |name: &str, value: String| println!("  {name:<44} {value}");
    println!("figures:");
    row(
        "wall time",
        format!("{:.3} s", r["wall_seconds"].as_f64().unwrap_or(0.0)),
    );
    row("exit status", r["exit_status"].to_string());
    let cp = &r["critical_path"];
    row(
        "critical path L (calls)",
        format!(
            "{} (ListAccounts pages {}, ListServices pages {}, DescribeCustomDomains pages {}, key chain {}; strict DAG {})",
            cp["chain_calls"],
            cp["list_accounts_pages"],
            cp["list_services_pages_max"],
            cp["describe_custom_domains_pages_max"],
            cp["key_chain"],
            cp["chain_calls_strict_dag"]
        ),
    );
    row(
        "lower bound (40 ms x L)",
        format!("{:.3} s", cp["lower_bound_seconds"].as_f64().unwrap_or(0.0)),
    );
    row(
        "ratio wall / lower bound",
        format!(
            "{:.2}  (target <= 2.0)",
            cp["ratio"].as_f64().unwrap_or(0.0)
        ),
    );
    let f = &r["findings"];
    row(
        "findings expected / reported",
        format!("{} / {}", f["expected"], f["reported"]),
    );
    row("findings lost (target 0)", f["lost"].to_string());
    row("unexpected findings", f["unexpected"].to_string());
    row(
        "collection errors (target 0)",
        r["errors"]["collection"].to_string(),
    );
    row("other errors", r["errors"]["other"].to_string());
    row("scopes in the report", r["scopes_reported"].to_string());
    let c = &r["api_calls"];
    row("API calls", c["total"].to_string());
    let t = &r["timeline"];
    row(
        "process start -> first call / last answer -> exit",
        format!(
            "{:.3} s / {:.3} s",
            t["start_to_first_call_seconds"].as_f64().unwrap_or(0.0),
            t["last_answer_to_exit_seconds"].as_f64().unwrap_or(0.0)
        ),
    );
    row(
        "calls answered > 2 ms after the latency / slowest",
        format!(
            "{} / {:.1} ms (the emulator or moto could not keep up)",
            t["calls_slower_than_latency"],
            t["slowest_call_ms"].as_f64().unwrap_or(0.0)
        ),
    );
    row(
        "machine CPU busy during the scan (2 cores = 1.0)",
        format!(
            "{:.2}; CPU seconds: scanner {:.2}, moto {:.2}, emulator {:.2}",
            r["machine_cpu_busy"].as_f64().unwrap_or(f64::NAN),
            r["scanner_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            r["moto_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            r["emulator_cpu_seconds"].as_f64().unwrap_or(f64::NAN)
        ),
    );
    row(
        "calls in flight: mean / peak",
        format!(
            "{:.1} / {} over {:.3} s from first call to last answer",
            t["mean_calls_in_flight"].as_f64().unwrap_or(0.0),
            t["peak_calls_in_flight"],
            t["calls_span_seconds"].as_f64().unwrap_or(0.0)
        ),
    );
    row(
        "API calls per scanned App Runner service",
        format!(
            "{:.2} (App Runner only: {:.2})",
            c["per_scanned_apprunner_service"].as_f64().unwrap_or(0.0),
            c["apprunner_per_scanned_apprunner_service"]
                .as_f64()
                .unwrap_or(0.0)
        ),
    );
    row(
        "throttled answers (injected)",
        c["throttled_answers"].to_string(),
    );
    row(
        "throttled calls retried",
        c["throttled_then_retried"].to_string(),
    );
    row(
        "calls repeated other than retries (target 0)",
        c["repeated_non_retry_calls"].to_string(),
    );
    row(
        "calls touching suspended accounts (target 0)",
        c["calls_touching_suspended_accounts"].to_string(),
    );
    let k = &r["keys"];
    row(
        "DescribeKey calls / answered / distinct keys",
        format!(
            "{} / {} / {} read of {} named",
            k["describe_key_calls"],
            k["describe_key_answered"],
            k["distinct_keys_read"],
            k["distinct_keys_named"]
        ),
    );
    row(
        "GetKeyRotationStatus answered / rotatable",
        format!(
            "{} / {}",
            k["get_key_rotation_status_answered"], k["rotatable_keys"]
        ),
    );
    if let Some(runs) = r["runs"].as_array() {
        print_runs(runs);
    }
    println!("API calls by AWS service:");
    if let Some(m) = c["by_aws_service"].as_object() {
        for (k, v) in m {
            row(k, v.to_string());
        }
    }
    println!("API calls by operation:");
    if let Some(m) = c["by_operation"].as_object() {
        for (k, v) in m {
            row(k, v.to_string());
        }
    }
    for (label, key) in [
        ("lost", "lost_examples"),
        ("unexpected", "unexpected_examples"),
    ] {
        if let Some(list) = f[key].as_array().filter(|l| !l.is_empty()) {
            println!("{label} findings (first {}):", list.len());
            for item in list {
                println!("  {item}");
            }
        }
    }
    if let Some(list) = r["errors"]["examples"].as_array().filter(|l| !l.is_empty()) {
        println!("errors (first {}):", list.len());
        for e in list {
            println!(
                "  {} {} {} {} {}",
                e["account_id"].as_str().unwrap_or_default(),
                e["region"].as_str().unwrap_or_default(),
                e["operation"].as_str().unwrap_or_default(),
                e["code"].as_str().unwrap_or_default(),
                e["resource"].as_str().unwrap_or_default()
            );
        }
    }
    if let Some(stderr) = r["stderr"].as_str() {
        println!("stderr: {stderr}");
    }
}

// ------------------------------------------------------------------------------------------
// 2. offline evaluation
// ------------------------------------------------------------------------------------------

const OFFLINE_ACCOUNTS: usize = 10;
const OFFLINE_KEYS: usize = 1_000;

fn offline_account(a: usize) -> String {
    format!("{:012}", 300_000_000_000u64 + a as u64 * 1_010_101)
}

/// Account and region of offline key `k`.
fn offline_key_home(k: usize) -> (String, &'static str) {
    (
        offline_account(k % OFFLINE_ACCOUNTS),
        REGIONS[(k / OFFLINE_ACCOUNTS) % 3],
    )
}

/// Offline key `k`'s UUID, stable from run to run.
fn offline_key_uuid(k: usize) -> String {
    let h = support::emulator::hex_id(&format!("offline-key-{k}"));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn offline_key_arn(k: usize) -> String {
    let (account, region) = offline_key_home(k);
    format!("arn:aws:kms:{region}:{account}:key/{}", offline_key_uuid(k))
}

/// Key `k`: mostly clean, with every state the rules care about (by `k % 20`).
fn offline_key(k: usize) -> Key {
    let (account, region) = offline_key_home(k);
    let key = sample::key(&account, region, &offline_key_uuid(k));
    match k % 20 {
        12 | 13 => key.rotation("disabled", None),
        14 => key.pending_deletion("2026-12-04T00:00:00Z"),
        15 => key.state("Disabled"),
        16 => key.origin("EXTERNAL").valid_to("2027-06-01T00:00:00Z"),
        17 => key.aws_managed(),
        18 => key.missing(),
        19 => key.rotation("enabled", Some(730)),
        _ => key,
    }
    .build()
}

/// Service `i`: a realistic mix (a few variables, some secrets and domains, some findings).
fn offline_service(i: usize, env_cache: &mut HashMap<(&'static str, String), EnvVar>) -> Service {
    let k = i % OFFLINE_KEYS;
    let account = offline_account(k % OFFLINE_ACCOUNTS);
    let region = REGIONS[(k / OFFLINE_ACCOUNTS) % 3];
    let name = format!("svc-{i:06}");
    let id = support::emulator::hex_id(&format!("offline/{i}"));
    let arn = format!("arn:aws:apprunner:{region}:{account}:service/{name}/{id}");
    let mut env = |name: &'static str, value: String| {
        env_cache
            .entry((name, value.clone()))
            .or_insert_with(|| EnvVar::from_plain(name, &value))
            .clone()
    };
    let mut vars = vec![
        env("LOG_LEVEL", "info".into()),
        env("PORT", "8080".into()),
        env("APP_ENV", ["production", "staging"][i % 2].into()),
    ];
    if i % 5 == 0 {
        vars.push(env(
            "DATABASE_URL",
            "postgres://db.internal:5432/app".into(),
        ));
    }
    if i % 9 == 0 {
        vars.push(env("DB_PASSWORD", format!("pw-{}", i % 50)));
    }
    if i % 13 == 0 {
        vars.push(env(
            "ORDERS_URL",
            "http://orders.internal.example.com/v1".into(),
        ));
    }
    if i % 17 == 0 {
        vars.push(env("UPSTREAM_AUTH", "AKIAQ3EGRSTUVWXY2345".into()));
    }
    let mut source = Source {
        kind: "image".into(),
        image_identifier: Some(format!(
            "{account}.dkr.ecr.{region}.amazonaws.com/app-{}:latest",
            i % 300
        )),
        image_repository_type: Some("ECR".into()),
        auto_deployments_enabled: Some(i % 2 == 0),
        ..Default::default()
    };
    let mut environment = Some(vars);
    if i % 40 == 0 {
        let scheme = if i % 200 == 0 { "http" } else { "https" };
        let configuration = if i % 120 == 0 { "REPOSITORY" } else { "API" };
        source = Source {
            kind: "code".into(),
            repository_url: Some(format!("{scheme}://github.com/example/repo-{}", i % 100)),
            configuration_source: Some(configuration.into()),
            auto_deployments_enabled: Some(true),
            ..Default::default()
        };
        if configuration == "REPOSITORY" {
            environment = None;
        }
    }
    let secrets = if i % 3 == 0 {
        vec![SecretRef {
            name: "API_KEY".into(),
            value_from: format!(
                "arn:aws:secretsmanager:{region}:{account}:secret:api-{}-AbCdEf",
                i % 100
            ),
        }]
    } else {
        vec![]
    };
    let mut domains = Vec::new();
    if i % 4 == 0 {
        domains.push(CustomDomain {
            domain_name: format!("{name}.example.com"),
            status: "ACTIVE".into(),
            enable_www_subdomain: Some(true),
            certificate_validation_records: vec![
                ValidationRecord {
                    name: format!("_a1.{name}.example.com."),
                    status: "SUCCESS".into(),
                },
                ValidationRecord {
                    name: format!("_b2.www.{name}.example.com."),
                    status: "SUCCESS".into(),
                },
            ],
        });
    }
    if i % 15 == 0 {
        domains.push(CustomDomain {
            domain_name: format!("beta-{name}.example.com"),
            status: "PENDING_CERTIFICATE_DNS_VALIDATION".into(),
            enable_www_subdomain: Some(false),
            certificate_validation_records: vec![ValidationRecord {
                name: format!("_c3.beta-{name}.example.com."),
                status: "PENDING_VALIDATION".into(),
            }],
        });
    }
    let vpc = i % 3 != 0;
    Service {
        arn,
        name,
        id: id.clone(),
        account_id: account.clone(),
        region: region.to_string(),
        status: if i % 50 == 7 { "PAUSED" } else { "RUNNING" }.into(),
        url: Some(format!("{}.{region}.awsapprunner.com", &id[..10])),
        kms_key_arn: (i % 25 >= 2).then(|| offline_key_arn(k)),
        source,
        environment,
        secrets,
        custom_domains: Some(domains),
        network: Network {
            is_publicly_accessible: Some(i % 5 == 0),
            egress_type: Some(if vpc { "VPC" } else { "DEFAULT" }.into()),
            vpc_connector_arn: vpc.then(|| {
                format!("arn:aws:apprunner:{region}:{account}:vpcconnector/main/1/0123456789abcdef")
            }),
            ip_address_type: Some("IPV4".into()),
        },
        observability: Observability {
            enabled: i % 4 != 1,
            configuration_arn: (i % 4 != 1).then(|| {
                format!("arn:aws:apprunner:{region}:{account}:observabilityconfiguration/xray/1/0123456789abcdef")
            }),
        },
    }
}

fn generate_inventory(services: usize) -> Inventory {
    let mut inv = Inventory::new(SourceInfo {
        collector: "file".into(),
        collected_at: Some("2026-11-27T09:00:00Z".into()),
        caller_account: None,
        tool_version: None,
    });
    for a in 0..OFFLINE_ACCOUNTS {
        for region in REGIONS {
            inv.scopes.push(Scope {
                account_id: offline_account(a),
                region: region.to_string(),
                complete: true,
            });
        }
    }
    let mut cache = HashMap::new();
    inv.services = (0..services)
        .map(|i| offline_service(i, &mut cache))
        .collect();
    inv.keys = (0..OFFLINE_KEYS.min(services.max(1)))
        .map(offline_key)
        .map(|k| (k.arn.clone(), k))
        .collect();
    inv.normalize();
    inv
}

#[derive(Deserialize)]
struct SarifDoc {
    runs: Vec<SarifRun>,
}

#[derive(Deserialize)]
struct SarifRun {
    #[serde(default)]
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(rename = "ruleId")]
    rule_id: String,
}

/// `/usr/bin/time -v` fields: (max RSS in KiB, elapsed wall clock string).
fn time_v(stderr: &str) -> (Option<u64>, Option<String>) {
    let field = |label: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
    };
    (
        field("Maximum resident set size (kbytes):").and_then(|v| v.parse().ok()),
        field("Elapsed (wall clock) time (h:mm:ss or m:ss):"),
    )
}

fn offline(binary: &Path) -> Value {
    let services: usize = std::env::var("OFFLINE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let path = target_dir().join(format!("bench-inventory-{}k.json", services / 1000));
    eprintln!("offline: generating an inventory of {services} services ...");
    let started = Instant::now();
    let inventory = generate_inventory(services);
    let text = inventory.to_json();
    let keys = inventory.keys.len();
    drop(inventory);
    std::fs::write(&path, &text).expect("write the inventory");
    let inventory_bytes = text.len();
    drop(text);
    let generation = started.elapsed();

    let sarif = std::env::temp_dir().join(format!("org-scan-bench-{}.sarif", std::process::id()));
    let time = Path::new("/usr/bin/time");
    let args = [
        "scan",
        "--from-inventory",
        path.to_str().unwrap(),
        "--enable",
        "AR030,AR031,AR032",
        "--format",
        "sarif",
        "--output",
        sarif.to_str().unwrap(),
        "--quiet",
    ];
    let command = format!("/usr/bin/time -v {} {}", binary.display(), args.join(" "));
    eprintln!("offline: {command}");
    let mut cmd = if time.exists() {
        let mut cmd = Command::new(time);
        cmd.arg("-v").arg(binary);
        cmd
    } else {
        Command::new(binary)
    };
    cmd.args(args).env("NO_COLOR", "1");
    let Ran {
        status,
        stderr,
        wall,
        ..
    } = run(cmd, Duration::from_secs(900));
    let (max_rss_kib, time_elapsed) = time_v(&stderr);
    let sarif_bytes = std::fs::metadata(&sarif).map(|m| m.len()).unwrap_or(0);
    let parsed: Result<SarifDoc, String> = std::fs::File::open(&sarif)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            serde_json::from_reader(BufReader::with_capacity(1 << 20, f)).map_err(|e| e.to_string())
        });
    let _ = std::fs::remove_file(&sarif);
    let (results, by_rule, sarif_error) = match parsed {
        Ok(doc) => {
            let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
            for r in doc.runs.iter().flat_map(|r| &r.results) {
                *by_rule.entry(r.rule_id.clone()).or_insert(0) += 1;
            }
            (by_rule.values().sum::<usize>(), by_rule, None)
        }
        Err(e) => (0, BTreeMap::new(), Some(e)),
    };
    let tool_stderr: Vec<&str> = stderr
        .lines()
        .take_while(|l| !l.trim_start().starts_with("Command being timed"))
        .collect();
    json!({
        "command": command,
        "services": services,
        "keys": keys,
        "inventory_file": path.display().to_string(),
        "inventory_bytes": inventory_bytes,
        "generation_seconds": generation.as_secs_f64(),
        "exit_status": status,
        "wall_seconds": wall.as_secs_f64(),
        "time_v_elapsed": time_elapsed,
        "services_per_second": services as f64 / wall.as_secs_f64(),
        "max_rss_kib": max_rss_kib,
        "max_rss_mib": max_rss_kib.map(|k| k as f64 / 1024.0),
        "sarif_bytes": sarif_bytes,
        "sarif_results": results,
        "sarif_results_by_rule": by_rule,
        "sarif_error": sarif_error,
        "tool_stderr": tool_stderr.join("\n"),
    })
}

fn print_offline(r: &Value) {
    println!(
        "\n== offline evaluation: {} ==",
        r["command"].as_str().unwrap_or_default()
    );
    let row = |name: &str, value: String| println!("  {name:<44} {value}");
    row(
        "inventory",
        format!(
            "{} services, {} keys, {:.1} MB (generated in {:.1} s)",
            r["services"],
            r["keys"],
            r["inventory_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            r["generation_seconds"].as_f64().unwrap_or(0.0)
        ),
    );
    row("exit status", r["exit_status"].to_string());
    row(
        "wall time",
        format!(
            "{:.3} s (time -v: {})",
            r["wall_seconds"].as_f64().unwrap_or(0.0),
            r["time_v_elapsed"].as_str().unwrap_or("n/a")
        ),
    );
    row(
        "services per second (target >= 50,000)",
        format!("{:.0}", r["services_per_second"].as_f64().unwrap_or(0.0)),
    );
    row(
        "max resident set size (target < 1024 MiB)",
        match r["max_rss_mib"].as_f64() {
            Some(m) => format!("{m:.1} MiB"),
            None => "n/a (no /usr/bin/time)".into(),
        },
    );
    row(
        "SARIF results",
        format!(
            "{} ({:.1} MB)",
            r["sarif_results"],
            r["sarif_bytes"].as_f64().unwrap_or(0.0) / 1e6
        ),
    );
    if let Some(m) = r["sarif_results_by_rule"].as_object() {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
        row("results by rule", parts.join(", "));
    }
    if let Some(e) = r["sarif_error"].as_str() {
        println!("  SARIF could not be read: {e}");
    }
    if let Some(s) = r["tool_stderr"].as_str().filter(|s| !s.trim().is_empty()) {
        println!("  stderr: {s}");
    }
}
