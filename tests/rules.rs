//! Table-driven tests of every rule in `rules/`, in-process: each case is one service (and its
//! key) and the findings one rule must give for it, including every trap RULES.md names.

mod sample;

use apprunner_audit::finding::Severity;
use apprunner_audit::inventory::{Inventory, Key, Service};
use apprunner_audit::rules::Catalog;
use apprunner_audit::rules::eval::{Evaluation, evaluate};
use sample::{inventory, key, service};

const ACCT: &str = "111111111111";
const REGION: &str = "us-east-1";

fn eval_rule(rule_id: &str, inv: &Inventory) -> Evaluation {
    let catalog = Catalog::embedded().expect("embedded rules load");
    let rule = catalog.rules.get(rule_id).expect("rule exists");
    let evaluation = evaluate(inv, &[rule]);
    assert!(
        evaluation.errors.is_empty(),
        "{rule_id} failed to evaluate: {:?}",
        evaluation.errors
    );
    evaluation
}

/// (severity, discriminator) of each finding `rule_id` gives for one service and its key.
fn fired(rule_id: &str, svc: Service, keys: Vec<Key>) -> Vec<(Severity, Option<String>)> {
    let inv = inventory(vec![svc], keys, vec![]);
    eval_rule(rule_id, &inv)
        .findings
        .into_iter()
        .map(|f| (f.severity, f.discriminator))
        .collect()
}

fn message(rule_id: &str, svc: Service, keys: Vec<Key>) -> String {
    let inv = inventory(vec![svc], keys, vec![]);
    let ev = eval_rule(rule_id, &inv);
    assert_eq!(ev.findings.len(), 1, "{:?}", ev.findings);
    ev.findings[0].message.clone()
}

/// What one rule should give: (severity, discriminator) per finding.
type Want = Vec<(Severity, Option<String>)>;
/// A key-driven case: what it is, the service's key, what the rule should give.
type KeyCase = (&'static str, sample::KeyBuilder, Want);

fn svc(name: &str) -> sample::ServiceBuilder {
    service(ACCT, REGION, name)
}

fn k(uuid: &str) -> sample::KeyBuilder {
    key(ACCT, REGION, uuid)
}

#[test]
fn ar001_customer_managed_key() {
    use Severity::High;
    let cmk = k("1111");
    let aws = k("2222").aws_managed();
    let unread = k("3333");
    let cases: Vec<(&str, Service, Vec<Key>, Want)> = vec![
        (
            "no EncryptionConfiguration",
            svc("a").build(),
            vec![],
            vec![(High, None)],
        ),
        (
            "customer managed key",
            svc("b").key(&cmk.arn()).build(),
            vec![cmk.build()],
            vec![],
        ),
        (
            "AWS managed key",
            svc("c").key(&aws.arn()).build(),
            vec![aws.build()],
            vec![(High, None)],
        ),
        // A key that could not be read is a collection error, not a finding.
        (
            "unreadable key",
            svc("d").key(&unread.arn()).build(),
            vec![],
            vec![],
        ),
    ];
    for (what, s, keys, want) in cases {
        assert_eq!(fired("AR001", s, keys), want, "{what}");
    }
    assert!(message("AR001", svc("a").build(), vec![]).contains("no EncryptionConfiguration"));
}

#[test]
fn ar002_key_usable() {
    use Severity::{Critical, High};
    let cases: Vec<KeyCase> = vec![
        ("enabled", k("1"), vec![]),
        (
            "pending deletion",
            k("2").pending_deletion("2026-12-04T00:00:00Z"),
            vec![(Critical, None)],
        ),
        (
            "pending replica deletion",
            k("3").state("PendingReplicaDeletion"),
            vec![(Critical, None)],
        ),
        ("disabled", k("4").state("Disabled"), vec![(High, None)]),
        (
            "pending import",
            k("5").origin("EXTERNAL").state("PendingImport"),
            vec![(High, None)],
        ),
        (
            "unavailable",
            k("6").origin("AWS_CLOUDHSM").state("Unavailable"),
            vec![(High, None)],
        ),
        ("missing", k("7").missing(), vec![(High, None)]),
        ("creating", k("8").state("Creating"), vec![]),
    ];
    for (what, kb, want) in cases {
        let s = svc("s").key(&kb.arn()).build();
        assert_eq!(fired("AR002", s, vec![kb.build()]), want, "{what}");
    }
    let pending = k("2").pending_deletion("2026-12-04T00:00:00Z");
    let msg = message(
        "AR002",
        svc("s").key(&pending.arn()).build(),
        vec![pending.build()],
    );
    assert!(msg.contains("2026-12-04T00:00:00Z"), "{msg}");
    let missing = k("7").missing();
    let msg = message(
        "AR002",
        svc("s").key(&missing.arn()).build(),
        vec![missing.build()],
    );
    assert!(msg.contains("NotFoundException"), "{msg}");
}

#[test]
fn ar003_rotation_enabled() {
    use Severity::Medium;
    let cases: Vec<KeyCase> = vec![
        ("rotation on", k("1"), vec![]),
        (
            "rotation off",
            k("2").rotation("disabled", None),
            vec![(Medium, None)],
        ),
        // Traps: a key pending deletion reports rotation off; AR002 covers it.
        (
            "pending deletion",
            k("3")
                .rotation("disabled", None)
                .pending_deletion("2026-12-04T00:00:00Z"),
            vec![],
        ),
        // Imported material cannot rotate: AR005 covers it.
        (
            "imported material",
            k("4").origin("EXTERNAL").rotation("disabled", None),
            vec![],
        ),
        (
            "custom key store",
            k("5").origin("AWS_CLOUDHSM").rotation("disabled", None),
            vec![],
        ),
        (
            "asymmetric",
            k("6").spec("RSA_2048").rotation("disabled", None),
            vec![],
        ),
        (
            "AWS managed",
            k("7").aws_managed().rotation("disabled", None),
            vec![],
        ),
        ("rotation unknown", k("8").rotation("unknown", None), vec![]),
        (
            "disabled key",
            k("9").rotation("disabled", None).state("Disabled"),
            vec![],
        ),
    ];
    for (what, kb, want) in cases {
        let s = svc("s").key(&kb.arn()).build();
        assert_eq!(fired("AR003", s, vec![kb.build()]), want, "{what}");
    }
}

#[test]
fn ar004_rotation_period() {
    use Severity::Low;
    let cases: Vec<KeyCase> = vec![
        ("365 days", k("1").rotation("enabled", Some(365)), vec![]),
        ("90 days", k("2").rotation("enabled", Some(90)), vec![]),
        (
            "366 days",
            k("3").rotation("enabled", Some(366)),
            vec![(Low, None)],
        ),
        (
            "2560 days",
            k("4").rotation("enabled", Some(2560)),
            vec![(Low, None)],
        ),
        ("period unknown", k("5").rotation("enabled", None), vec![]),
        (
            "rotation off",
            k("6").rotation("disabled", Some(730)),
            vec![],
        ),
    ];
    for (what, kb, want) in cases {
        let s = svc("s").key(&kb.arn()).build();
        assert_eq!(fired("AR004", s, vec![kb.build()]), want, "{what}");
    }
    let kb = k("4").rotation("enabled", Some(2560));
    let msg = message("AR004", svc("s").key(&kb.arn()).build(), vec![kb.build()]);
    assert!(
        msg.contains("2560 days") && msg.contains("365 days"),
        "{msg}"
    );
}

#[test]
fn ar005_manual_rotation() {
    use Severity::Medium;
    let cases: Vec<KeyCase> = vec![
        ("AWS_KMS", k("1"), vec![]),
        ("imported", k("2").origin("EXTERNAL"), vec![(Medium, None)]),
        (
            "CloudHSM",
            k("3").origin("AWS_CLOUDHSM"),
            vec![(Medium, None)],
        ),
        (
            "external key store",
            k("4").origin("EXTERNAL_KEY_STORE"),
            vec![(Medium, None)],
        ),
        (
            "imported but disabled",
            k("5").origin("EXTERNAL").state("Disabled"),
            vec![],
        ),
        (
            "imported, AWS managed",
            k("6").origin("EXTERNAL").aws_managed(),
            vec![],
        ),
    ];
    for (what, kb, want) in cases {
        let s = svc("s").key(&kb.arn()).build();
        assert_eq!(fired("AR005", s, vec![kb.build()]), want, "{what}");
    }
    let kb = k("2").origin("EXTERNAL").valid_to("2027-01-31T00:00:00Z");
    let msg = message("AR005", svc("s").key(&kb.arn()).build(), vec![kb.build()]);
    assert!(
        msg.contains("2027-01-31T00:00:00Z") && msg.contains("EXTERNAL"),
        "{msg}"
    );
}

#[test]
fn ar010_source_repository_tls() {
    use Severity::High;
    let cases = vec![
        (
            "https",
            svc("a").code("https://github.com/o/r", "API").build(),
            vec![],
        ),
        (
            "HTTPS upper case",
            svc("b").code("HTTPS://github.com/o/r", "API").build(),
            vec![],
        ),
        (
            "http",
            svc("c").code("http://git.example.com/o/r", "API").build(),
            vec![(High, None)],
        ),
        (
            "git scheme",
            svc("d")
                .code("git://git.example.com/o/r", "REPOSITORY")
                .build(),
            vec![(High, None)],
        ),
        ("image", svc("e").build(), vec![]),
    ];
    for (what, s, want) in cases {
        assert_eq!(fired("AR010", s, vec![]), want, "{what}");
    }
}

#[test]
fn ar011_custom_domain_certificate() {
    use Severity::Medium;
    let s = svc("a")
        .domain("ok.example.com", "ACTIVE", &["SUCCESS", "SUCCESS"])
        .domain(
            "pending.example.com",
            "PENDING_CERTIFICATE_DNS_VALIDATION",
            &["PENDING_VALIDATION"],
        )
        .domain("renewal.example.com", "ACTIVE", &["SUCCESS", "FAILED"])
        .domain("failed.example.com", "CREATE_FAILED", &[])
        .build();
    let got = fired("AR011", s.clone(), vec![]);
    let want: Vec<(Severity, Option<String>)> = [
        "failed.example.com",
        "pending.example.com",
        "renewal.example.com",
    ]
    .iter()
    .map(|d| (Medium, Some(d.to_string())))
    .collect();
    assert_eq!(got, want);
    let inv = inventory(vec![s], vec![], vec![]);
    let ev = eval_rule("AR011", &inv);
    let renewal = ev
        .findings
        .iter()
        .find(|f| f.discriminator.as_deref() == Some("renewal.example.com"))
        .unwrap();
    assert!(
        renewal.message.contains("FAILED") && renewal.message.contains("ACTIVE"),
        "{}",
        renewal.message
    );
    // Domains that could not be read: not evaluated, said so, never a pass.
    let inv = inventory(vec![svc("b").domains_unknown().build()], vec![], vec![]);
    let ev = eval_rule("AR011", &inv);
    assert!(ev.findings.is_empty());
    assert_eq!(ev.skipped.len(), 1);
}

#[test]
fn ar012_plaintext_http_endpoint() {
    use Severity::Medium;
    let s = svc("a")
        .env("UPSTREAM", "http://orders.internal.example.com:8080/v1")
        .env("SIDECAR", "http://localhost:2773/secrets")
        .env("LOOPBACK", "http://127.0.0.1:9000 and http://127.45.0.3")
        .env("IPV6_LOOPBACK", "http://[::1]:8080")
        .env("METADATA", "http://169.254.169.254/latest/meta-data")
        .env("SECURE", "https://api.example.com")
        .env("MIXED", "http://localhost:1 http://evil.example.net")
        .env("LOOKALIKE", "http://127.example.com/")
        .build();
    let got = fired("AR012", s, vec![]);
    let want: Vec<(Severity, Option<String>)> = ["LOOKALIKE", "MIXED", "UPSTREAM"]
        .iter()
        .map(|d| (Medium, Some(d.to_string())))
        .collect();
    assert_eq!(got, want);
    let msg = message(
        "AR012",
        svc("b")
            .env("MIXED", "http://localhost:1 http://evil.example.net")
            .build(),
        vec![],
    );
    assert!(
        msg.contains("evil.example.net") && !msg.contains("localhost"),
        "{msg}"
    );
}

#[test]
fn ar020_plaintext_secret() {
    use Severity::High;
    let s = svc("a")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("DB_PASSWORD", "correct horse battery staple")
        .env("db_passwd", "x")
        .env("STRIPE_API_KEY", "sk_live_51H8abcdefghijkl")
        .env("GITHUB", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")
        .env("SLACK_HOOK_TOKEN", "")
        .env("SESSION_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:111111111111:secret:s-AbCdEf")
        .env("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")
        .env("LOG_LEVEL", "debug")
        .env("TLS_KEY", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE")
        .secret("DB_PASSWORD_FROM_SM", "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf")
        .build();
    let got = fired("AR020", s, vec![]);
    let want: Vec<(Severity, Option<String>)> = [
        "AWS_ACCESS_KEY_ID",
        "DB_PASSWORD",
        "GITHUB",
        "JWT",
        "STRIPE_API_KEY",
        "TLS_KEY",
        "db_passwd",
    ]
    .iter()
    .map(|d| (High, Some(d.to_string())))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn ar020_repository_configured_service_is_not_evaluated_and_says_so() {
    let inv = inventory(
        vec![
            svc("a")
                .code("https://github.com/o/r", "REPOSITORY")
                .build(),
        ],
        vec![],
        vec![],
    );
    for rule in ["AR012", "AR020"] {
        let ev = eval_rule(rule, &inv);
        assert!(ev.findings.is_empty());
        assert_eq!(ev.skipped.len(), 1, "{rule}");
        assert!(
            ev.skipped[0].reason.contains("apprunner.yaml"),
            "{}",
            ev.skipped[0].reason
        );
    }
}

#[test]
fn ar030_to_ar032_network_parity_rules() {
    use Severity::Low;
    assert_eq!(fired("AR030", svc("a").build(), vec![]), vec![]);
    assert_eq!(
        fired("AR030", svc("a").public(Some(true)).build(), vec![]),
        vec![(Low, None)]
    );
    // Absent IngressConfiguration: App Runner's default is public.
    assert_eq!(
        fired("AR030", svc("a").public(None).build(), vec![]),
        vec![(Low, None)]
    );
    assert_eq!(fired("AR031", svc("a").build(), vec![]), vec![]);
    assert_eq!(
        fired("AR031", svc("a").observability(false).build(), vec![]),
        vec![(Low, None)]
    );
    assert_eq!(fired("AR032", svc("a").build(), vec![]), vec![]);
    assert_eq!(
        fired("AR032", svc("a").egress(Some("DEFAULT")).build(), vec![]),
        vec![(Low, None)]
    );
    assert_eq!(
        fired("AR032", svc("a").egress(None).build(), vec![]),
        vec![(Low, None)]
    );
}

/// Every rule evaluates without a run-time error over a grid of key and service shapes, and a
/// clean service with a clean key fires nothing.
#[test]
fn every_rule_evaluates_over_a_grid_of_shapes() {
    let catalog = Catalog::embedded().unwrap();
    let rules: Vec<_> = catalog.rules.values().collect();
    let states = [
        "Enabled",
        "Disabled",
        "PendingDeletion",
        "PendingImport",
        "Unavailable",
        "Creating",
    ];
    let origins = ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
    let rotations = [
        ("enabled", Some(365)),
        ("enabled", Some(2000)),
        ("disabled", None),
        ("unknown", None),
        ("not_applicable", None),
    ];
    let mut services = Vec::new();
    let mut keys = Vec::new();
    let mut n = 0;
    for state in states {
        for origin in origins {
            for (rot, period) in rotations {
                for managed_by_aws in [false, true] {
                    n += 1;
                    let mut kb = k(&format!("{n:04}"))
                        .origin(origin)
                        .state(state)
                        .rotation(rot, period);
                    if managed_by_aws {
                        kb = kb.aws_managed();
                    }
                    services.push(
                        svc(&format!("s{n}"))
                            .key(&kb.arn())
                            .public(None)
                            .egress(None)
                            .build(),
                    );
                    keys.push(kb.build());
                }
            }
        }
    }
    services.push(
        svc("nokey")
            .code("http://x", "REPOSITORY")
            .domains_unknown()
            .build(),
    );
    let missing = k("missing").missing();
    services.push(svc("missing").key(&missing.arn()).build());
    keys.push(missing.build());
    let inv = inventory(services, keys, vec![]);
    let ev = evaluate(&inv, &rules);
    assert!(ev.errors.is_empty(), "{:?}", ev.errors.first());
    // Each key is reported by at most one of AR003 and AR005.
    for s in &inv.services {
        let of = |id: &str| {
            ev.findings
                .iter()
                .filter(|f| f.rule_id == id && f.resource_arn == s.arn)
                .count()
        };
        assert!(of("AR003") + of("AR005") <= 1, "{}", s.name);
    }

    let clean_key = k("clean");
    let clean = inventory(
        vec![svc("clean").key(&clean_key.arn()).build()],
        vec![clean_key.build()],
        vec![],
    );
    let ev = evaluate(&clean, &rules);
    assert!(ev.findings.is_empty(), "{:?}", ev.findings);
    assert!(ev.errors.is_empty() && ev.skipped.is_empty());
}

/// Rules whose condition reads only the key are asked once per key; every service sharing the
/// key still gets its own finding (or none), and services without a key are not confused with
/// each other.
#[test]
fn key_level_answers_apply_to_every_service_sharing_the_key() {
    let catalog = Catalog::embedded().unwrap();
    assert!(catalog.rules["AR002"].logic.key_only && catalog.rules["AR003"].logic.key_only);
    assert!(!catalog.rules["AR001"].logic.key_only && !catalog.rules["AR020"].logic.key_only);
    let doomed = k("doomed").pending_deletion("2026-12-04T00:00:00Z");
    let fine = k("fine");
    let mut services = Vec::new();
    for i in 0..40 {
        let key = if i % 2 == 0 { doomed.arn() } else { fine.arn() };
        services.push(svc(&format!("s{i:02}")).key(&key).build());
        services.push(svc(&format!("n{i:02}")).build());
    }
    let inv = inventory(services, vec![doomed.build(), fine.build()], vec![]);
    let rules: Vec<_> = catalog.rules.values().collect();
    let ev = evaluate(&inv, &rules);
    assert!(ev.errors.is_empty(), "{:?}", ev.errors);
    let of = |rule: &str| -> Vec<String> {
        ev.findings
            .iter()
            .filter(|f| f.rule_id == rule)
            .map(|f| f.resource_name.clone())
            .collect()
    };
    let mut ar002 = of("AR002");
    ar002.sort();
    let want: Vec<String> = (0..40).step_by(2).map(|i| format!("s{i:02}")).collect();
    assert_eq!(ar002, want);
    assert_eq!(of("AR001").len(), 40, "each service without a key");
    assert!(of("AR003").is_empty());
}
