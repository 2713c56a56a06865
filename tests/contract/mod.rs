//! The output contract of RULES.md, checked the same way by the offline and the live tests.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeSet;

/// Validates against the official OASIS SARIF 2.1.0 schema (as shipped by serde-sarif).
pub fn validate_sarif(sarif: &Value) {
    // The official schema's `language` patterns have a stray `]` that strict regex engines refuse
    // to compile; replace them by what they mean (a two-letter language, optionally a region).
    let text = include_str!("../data/sarif-schema-2.1.0.json");
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
    broken["version"] = Value::from("2.0.0");
    assert!(!validator.is_valid(&broken));
    if let Some(result) = sarif["runs"][0]["results"]
        .as_array()
        .and_then(|r| r.first())
    {
        let mut result = result.clone();
        result.as_object_mut().unwrap().remove("message");
        let mut broken = sarif.clone();
        broken["runs"][0]["results"] = Value::Array(vec![result]);
        assert!(
            !validator.is_valid(&broken),
            "a result without a message must be invalid"
        );
    }
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
