//! The demo inventory shipped in `fixtures/demo-inventory.json` (the README's first command scans
//! it) is generated here from readable builder calls, through the product's own masking, so it
//! holds exactly what a live scan would save and no secret value.
//!
//! `UPDATE_FIXTURES=1 cargo test --test demo_fixture` rewrites the file; otherwise the test fails
//! when the file and the generator disagree.

mod sample;

use apprunner_audit::inventory::{CollectionError, Inventory};
use apprunner_audit::rules::Catalog;
use apprunner_audit::rules::eval::evaluate;
use sample::{inventory, key, service};
use std::collections::BTreeSet;

const PROD: &str = "111111111111";
const STAGING: &str = "222222222222";
const SANDBOX: &str = "333333333333";

pub fn demo() -> Inventory {
    let prod_key = key(PROD, "us-east-1", "0b1a7c2e-5d4f-4e8a-9c3b-1f2e3d4c5b6a");
    let prod_eu_key = key(PROD, "eu-west-1", "4c9d2e1f-8a7b-4c6d-9e5f-0a1b2c3d4e5f");
    let doomed_key = key(PROD, "eu-west-1", "7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928")
        .pending_deletion("2026-12-04T10:15:00Z");
    let unrotated_key =
        key(PROD, "eu-west-1", "2f3e4d5c-6b7a-4988-8776-655443322110").rotation("disabled", None);
    let aws_key = key(PROD, "us-east-1", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d").aws_managed();
    let imported_key = key(STAGING, "us-east-1", "5b4a3928-1706-4f5e-8d4c-3b2a19080706")
        .origin("EXTERNAL")
        .valid_to("2027-02-28T00:00:00Z");
    let slow_key = key(
        STAGING,
        "ap-southeast-2",
        "8c7b6a59-4837-4261-9504-f3e2d1c0b9a8",
    )
    .rotation("enabled", Some(730));
    let disabled_key = key(
        STAGING,
        "ap-southeast-2",
        "3d2c1b0a-f9e8-4d7c-86b5-a4938271605f",
    )
    .state("Disabled");
    let gone_key = key(STAGING, "us-east-1", "6f5e4d3c-2b1a-4098-a7b6-c5d4e3f2a1b0").missing();
    // A key in the shared security account, read across accounts by ARN.
    let shared_key = key(
        "444444444444",
        "us-east-1",
        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    );

    let services = vec![
        // Clean: customer managed key with rotation, secrets in Secrets Manager, active domain.
        service(PROD, "us-east-1", "payments-api")
            .key(&prod_key.arn())
            .env("LOG_LEVEL", "info")
            .env(
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:111111111111:secret:payments-db-Xy12Ab",
            )
            .env("METRICS_SIDECAR", "http://localhost:9102/metrics")
            .secret(
                "DB_PASSWORD",
                "arn:aws:secretsmanager:us-east-1:111111111111:secret:payments-db-Xy12Ab",
            )
            .domain("pay.example.com", "ACTIVE", &["SUCCESS", "SUCCESS"])
            .build(),
        // AR001 (no EncryptionConfiguration), AR020 twice (credential pattern, secret-like name).
        service(PROD, "us-east-1", "checkout-web")
            .env("AWS_ACCESS_KEY_ID", "AKIAZ7EXAMPLEDEMO042")
            .env("SESSION_SECRET", "s3ssion-s3cret-do-not-ship")
            .env("NODE_ENV", "production")
            .build(),
        // AR001 (AWS managed key); environment in apprunner.yaml: AR012/AR020 not evaluated.
        service(PROD, "us-east-1", "marketing-site")
            .key(&aws_key.arn())
            .code(
                "https://github.com/example-corp/marketing-site",
                "REPOSITORY",
            )
            .build(),
        // Clean: key of the shared security account.
        service(PROD, "us-east-1", "identity")
            .key(&shared_key.arn())
            .env("ISSUER_URL", "https://login.example.com")
            .build(),
        // AR002 critical: key pending deletion (and not AR003, although rotation reads false).
        service(PROD, "eu-west-1", "ledger-worker")
            .key(&doomed_key.arn())
            .build(),
        // AR003 (rotation off), AR011 (domain waiting for DNS validation).
        service(PROD, "eu-west-1", "reports")
            .key(&unrotated_key.arn())
            .domain(
                "reports.example.eu",
                "PENDING_CERTIFICATE_DNS_VALIDATION",
                &["PENDING_VALIDATION"],
            )
            .domain("reports-old.example.eu", "ACTIVE", &["SUCCESS"])
            .build(),
        // Clean, in eu-west-1.
        service(PROD, "eu-west-1", "notifications")
            .key(&prod_eu_key.arn())
            .build(),
        // AR010 (http repository), AR012 (plain http dependency; the loopback one does not fire).
        service(STAGING, "us-east-1", "legacy-app")
            .key(&imported_key.arn())
            .code("http://git.legacy.example.com/team/legacy-app", "API")
            .env(
                "INVENTORY_URL",
                "http://inventory.staging.example.com:8080/v2",
            )
            .env("CACHE_URL", "http://127.0.0.1:6379")
            .build(),
        // AR005: imported key material, expiring (also used by legacy-app: read once).
        service(STAGING, "us-east-1", "imported-keys-demo")
            .key(&imported_key.arn())
            .build(),
        // AR002 high: the key does not exist any more.
        service(STAGING, "us-east-1", "orphan-service")
            .key(&gone_key.arn())
            .status("PAUSED")
            .build(),
        // AR004: rotation every 730 days.
        service(STAGING, "ap-southeast-2", "analytics")
            .key(&slow_key.arn())
            .build(),
        // AR002 high: key disabled.
        service(STAGING, "ap-southeast-2", "batch-export")
            .key(&disabled_key.arn())
            .public(Some(true))
            .egress(Some("DEFAULT"))
            .observability(false)
            .build(),
    ];
    let errors = vec![CollectionError {
        account_id: SANDBOX.into(),
        region: "eu-west-1".into(),
        resource: "apprunner:eu-west-1".into(),
        operation: "apprunner:ListServices".into(),
        code: "AccessDeniedException".into(),
        message: "User: arn:aws:sts::333333333333:assumed-role/AuditRole/apprunner-audit is not authorized to perform: apprunner:ListServices with an explicit deny in a service control policy".into(),
    }];
    inventory(
        services,
        vec![
            prod_key.build(),
            prod_eu_key.build(),
            doomed_key.build(),
            unrotated_key.build(),
            aws_key.build(),
            imported_key.build(),
            slow_key.build(),
            disabled_key.build(),
            gone_key.build(),
            shared_key.build(),
        ],
        errors,
    )
}

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo-inventory.json");

#[test]
fn demo_fixture_is_current() {
    let mut inv = demo();
    inv.source.collector = "file".into();
    let text = inv.to_json();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(PATH, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(PATH).expect("fixtures/demo-inventory.json exists");
    assert!(
        on_disk == text,
        "fixtures/demo-inventory.json is stale: run UPDATE_FIXTURES=1 cargo test --test demo_fixture"
    );
}

#[test]
fn demo_fires_every_default_rule_and_has_clean_services() {
    let inv = demo();
    let catalog = Catalog::embedded().unwrap();
    let all: Vec<_> = catalog.rules.values().collect();
    let ev = evaluate(&inv, &all);
    assert!(ev.errors.is_empty(), "{:?}", ev.errors);
    let fired: BTreeSet<&str> = ev.findings.iter().map(|f| f.rule_id.as_str()).collect();
    for rule in catalog.rules.values() {
        assert!(
            fired.contains(rule.id.as_str()),
            "{} never fires in the demo",
            rule.id
        );
    }
    let default: Vec<_> = catalog.select(&[], &[]).unwrap();
    let ev = evaluate(&inv, &default);
    let dirty: BTreeSet<&str> = ev
        .findings
        .iter()
        .map(|f| f.resource_name.as_str())
        .collect();
    let mut clean: Vec<&str> = inv
        .services
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !dirty.contains(n))
        .collect();
    clean.sort();
    assert_eq!(clean, vec!["identity", "notifications", "payments-api"]);
    // The demo shows secrets being caught without carrying them.
    let text = inv.to_json();
    for value in ["AKIAZ7EXAMPLEDEMO042", "s3ssion-s3cret-do-not-ship"] {
        assert!(!text.contains(value));
    }
}
