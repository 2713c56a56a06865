//! Evaluation: every selected rule against every service of an inventory, in parallel (rayon).
//!
//! Each service is bound as a lazy CEL map ([`view`]) and every rule runs against it, binding:
//! `service` (the inventory's service), `key` (the KMS key it names, or `null` when it names none
//! or the key could not be read), `settings` (the rule's settings) and, inside `for_each`, `item`.
//! A rule runs as one CEL program per service, except where its condition depends on less:
//! a key-only `when` is asked once per key, an item-only one once per distinct item (both per
//! rayon shard), with the same findings as the one program would give.
//!
//! A rule that fails at run time (a type error, a missing field) is not skipped silently: it
//! becomes an [`EvalError`], which the report treats like a collection error (the scan is
//! incomplete, exit status 3).

use super::{CEL_ENV, Expr, ItemOnly, Items, Requirement, Rule, view};
use crate::finding::{Finding, FindingParts, Severity};
use crate::inventory::{CustomDomain, EnvVar, Inventory, SecretRef, Service};
use cel::common::types::{CelBool, CelString, Kind};
use cel::common::value::Val;
use cel::{Context, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A rule that could not be evaluated against a service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalError {
    pub rule_id: String,
    pub account_id: String,
    pub region: String,
    pub resource_arn: String,
    pub message: String,
}

/// A rule not evaluated for a service because the facts it iterates over are unknown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub rule_id: String,
    pub account_id: String,
    pub region: String,
    pub resource_arn: String,
    pub reason: String,
}

/// What evaluation produced, sorted in report order.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub errors: Vec<EvalError>,
    pub skipped: Vec<Skipped>,
}

/// Facts beyond the inventory that decide which rules can run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    /// The active TLS probe ran (`--probe-tls`).
    pub tls_probe: bool,
}

/// Rules that can run with `caps`; the others are not evaluated at all (no finding, no pass).
pub fn runnable<'r>(rules: &[&'r Rule], caps: Capabilities) -> Vec<&'r Rule> {
    rules
        .iter()
        .copied()
        .filter(|r| {
            r.requires.iter().all(|req| match req {
                Requirement::TlsProbe => caps.tls_probe,
            })
        })
        .collect()
}

/// Evaluates `rules` against every service of `inventory`.
pub fn evaluate(inventory: &Inventory, rules: &[&Rule]) -> Evaluation {
    let settings = settings_values(rules);
    let parts = inventory
        .services
        .par_iter()
        .fold(
            || (Evaluation::default(), Memo::default()),
            |(mut acc, mut memo), service| {
                evaluate_service(inventory, service, rules, &settings, &mut memo, &mut acc);
                (acc, memo)
            },
        )
        .map(|(evaluation, _)| evaluation)
        .collect::<Vec<_>>();
    // Each finding is moved once, into a vector of the right size (a pairwise reduce moved
    // them once per level of rayon's splitting).
    let mut evaluation = Evaluation {
        findings: Vec::with_capacity(parts.iter().map(|p| p.findings.len()).sum()),
        ..Evaluation::default()
    };
    for part in parts {
        evaluation.findings.extend(part.findings);
        evaluation.errors.extend(part.errors);
        evaluation.skipped.extend(part.skipped);
    }
    evaluation
        .findings
        .par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    evaluation.errors.sort();
    evaluation.skipped.sort();
    evaluation
}

/// Each rule's settings as interpreter values, made once and shared by every service.
fn settings_values(rules: &[&Rule]) -> Vec<Result<Box<dyn Val>, String>> {
    rules
        .iter()
        .map(|r| {
            cel::to_value(&r.settings)
                .map_err(|e| e.to_string())
                .and_then(|v| Box::<dyn Val>::try_from(v).map_err(|e| e.to_string()))
                .map_err(|e| format!("settings: {e}"))
        })
        .collect()
}

/// Answers of `when` that depend on less than the whole service, per rayon shard.
#[derive(Default)]
struct Memo<'a> {
    /// Key-only rules, by (rule index, key ARN or none).
    keys: HashMap<(usize, Option<&'a str>), bool>,
    /// Item-only rules, by (rule index, the item's contents).
    items: HashMap<(usize, Item<'a>), bool>,
}

/// An item of a service's list, compared and hashed by its contents.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Item<'a> {
    Env(&'a EnvVar),
    Secret(&'a SecretRef),
    Domain(&'a CustomDomain),
}

impl<'a> Item<'a> {
    /// The items of `list` of `service`, in order; `None` where the inventory does not know
    /// them. (One of the three slices is the list, the others are empty.)
    fn of(service: &'a Service, list: Items) -> Option<impl Iterator<Item = Item<'a>>> {
        let (vars, secrets, domains): (&[EnvVar], &[SecretRef], &[CustomDomain]) = match list {
            Items::Environment => (service.environment.as_deref()?, &[], &[]),
            Items::Secrets => (&[], &service.secrets, &[]),
            Items::CustomDomains => (&[], &[], service.custom_domains.as_deref()?),
        };
        Some(
            vars.iter()
                .map(Item::Env)
                .chain(secrets.iter().map(Item::Secret))
                .chain(domains.iter().map(Item::Domain)),
        )
    }

    fn view(self) -> view::View<'a> {
        Box::new(match self {
            Item::Env(v) => view::Node::EnvVar(v),
            Item::Secret(s) => view::Node::Secret(s),
            Item::Domain(d) => view::Node::Domain(d),
        })
    }
}

/// Evaluates every rule against one service, adding to `out`.
fn evaluate_service<'a>(
    inventory: &'a Inventory,
    service: &'a Service,
    rules: &[&Rule],
    settings: &'a [Result<Box<dyn Val>, String>],
    memo: &mut Memo<'a>,
    out: &mut Evaluation,
) {
    let error = |rule: &Rule, message: String| EvalError {
        rule_id: rule.id.clone(),
        account_id: service.account_id.clone(),
        region: service.region.clone(),
        resource_arn: service.arn.clone(),
        message,
    };
    let key = inventory.key_of(service);
    let mut ctx = Context::with_env(CEL_ENV.clone());
    ctx.add_variable_as_val("service", view::service(service));
    ctx.add_variable_as_val("key", view::key(key));
    for (index, (rule, settings)) in rules.iter().zip(settings).enumerate() {
        // `settings` of this rule, bound in place of the previous rule's: a scope of its own
        // would cost a lookup for every name the rule reads.
        let settings = match settings {
            Ok(s) => {
                ctx.add_variable_as_val("settings", Box::new(view::Shared(&**s)));
                Ok(())
            }
            Err(e) => Err(e.clone()),
        };
        if rule.logic.key_only && settings.is_ok() {
            let slot = (index, key.map(|k| k.arn.as_str()));
            let verdict = match memo.keys.get(&slot) {
                Some(verdict) => Some(*verdict),
                None => match fires(&ctx, rule) {
                    Ok(verdict) => {
                        memo.keys.insert(slot, verdict);
                        Some(verdict)
                    }
                    // Not a bool, or an error: the full program below reports it.
                    _ => None,
                },
            };
            if verdict == Some(false) {
                continue;
            }
        }
        let outcome = settings.and_then(|()| match &rule.logic.item_only {
            Some(item_only) => evaluate_items(&ctx, service, rule, index, item_only, memo),
            None => evaluate_rule(&ctx, service, rule),
        });
        match outcome {
            Ok(Outcome::Findings(findings)) => out.findings.extend(findings),
            Ok(Outcome::Unknown(what)) => out.skipped.push(Skipped {
                rule_id: rule.id.clone(),
                account_id: service.account_id.clone(),
                region: service.region.clone(),
                resource_arn: service.arn.clone(),
                reason: skip_reason(service, rule, &what),
            }),
            Err(message) => out.errors.push(error(rule, message)),
        }
    }
}

/// How a run-time failure of `expr` (the rule's `what`) reads in the report.
fn failure<'e>(what: &'e str, expr: &'e Expr) -> impl Fn(cel::ExecutionError) -> String + 'e {
    move |e| format!("{what} failed: {e} (expression: {})", expr.source.trim())
}

/// Whether `when` of `rule` fires. Programs run through `Value::resolve_val`, not
/// `Program::execute`, whose conversion of the result knows nothing of the inventory's lazy maps
/// (`view::Node`), and which would copy what is read here in place.
fn fires(ctx: &Context, rule: &Rule) -> Result<bool, String> {
    let expr = &rule.logic.when;
    let value = Value::resolve_val(&expr.run, ctx).map_err(failure("logic.when", expr))?;
    value
        .downcast_ref::<CelBool>()
        .map(|fires| *fires.inner())
        .ok_or_else(|| {
            format!(
                "logic.when must give a bool, gave a {}",
                value.get_type().name()
            )
        })
}

/// What one rule gave for one service.
enum Outcome {
    Findings(Vec<Finding>),
    /// `for_each` gave `null`: the facts (named by the expression) are unknown.
    Unknown(String),
}

/// The facts `for_each` names are unknown (`null`): say so, never pass silently.
fn unknown(rule: &Rule) -> Outcome {
    let what = rule
        .logic
        .for_each
        .as_ref()
        .map_or("the facts", |e| e.source.trim());
    Outcome::Unknown(what.to_string())
}

/// Why a rule was not evaluated, in words a user can act on.
fn skip_reason(service: &Service, rule: &Rule, what: &str) -> String {
    let (why, fix) = if what.contains("environment")
        && service.source.configuration_source.as_deref() == Some("REPOSITORY")
    {
        (
            "its runtime environment variables are configured in apprunner.yaml in the source repository (ConfigurationSource REPOSITORY), which the App Runner API does not return".to_string(),
            "check it in the repository or set the configuration through the API",
        )
    } else {
        (
            format!("{what} could not be read (see the collection errors)"),
            "fix the access the collection errors name and scan again",
        )
    };
    format!(
        "{} {} not evaluated for service {}: {why}; {fix}",
        rule.id, rule.name, service.name
    )
}

fn evaluate_rule(ctx: &Context, service: &Service, rule: &Rule) -> Result<Outcome, String> {
    let expr = &rule.logic.combined;
    let failed = failure("logic", expr);
    // Read straight from the interpreter's values: converting each finding to a `cel::Value`
    // and then to JSON cost more than building it.
    let produced = Value::resolve_val(&expr.run, ctx).map_err(&failed)?;
    let produced = produced.as_ref();
    let items = match produced.get_type().kind() {
        // `null` means the facts `for_each` names are unknown: say so, never pass silently.
        Kind::NullType => return Ok(unknown(rule)),
        Kind::List => produced.as_iterable(),
        _ => None,
    };
    let Some(items) = items else {
        return Err(format!(
            "the logic gave {} (a {}), not a list of findings",
            view::to_json(produced).map_or_else(|_| "a value".to_string(), |v| v.to_string()),
            produced.get_type().name()
        ));
    };
    let mut findings = Vec::new();
    let mut iter = items.iter();
    while let Some(item) = iter.next() {
        findings.push(read_finding(item, service, rule, &failed)?);
    }
    Ok(Outcome::Findings(findings))
}

/// One finding of `rule` for `service`, read from the map the logic gave.
fn read_finding(
    item: &dyn Val,
    service: &Service,
    rule: &Rule,
    failed: &dyn Fn(cel::ExecutionError) -> String,
) -> Result<Finding, String> {
    let fields = (item.get_type().kind() == Kind::Map)
        .then(|| item.as_indexer())
        .flatten()
        .ok_or("a finding is not a map")?;
    // A field, `None` when absent or null.
    let field = |name: &str| -> Result<Option<serde_json::Value>, String> {
        match fields.get(&CelString::from(name)) {
            Ok(v) => match view::to_json(v.as_ref()).map_err(failed)? {
                serde_json::Value::Null => Ok(None),
                json => Ok(Some(json)),
            },
            Err(cel::ExecutionError::NoSuchKey(_)) => Ok(None),
            Err(e) => Err(failed(e)),
        }
    };
    let message = match field("message")? {
        Some(serde_json::Value::String(m)) => m,
        other => return Err(format!("logic.message must give a string, gave {other:?}")),
    };
    let severity = match field("severity")? {
        None => rule.severity,
        Some(serde_json::Value::String(s)) => s
            .parse::<Severity>()
            .map_err(|e| format!("logic.severity: {e}"))?,
        Some(other) => return Err(format!("logic.severity must give a string, gave {other}")),
    };
    let discriminator = match field("discriminator")? {
        None => None,
        Some(serde_json::Value::String(d)) => Some(d),
        Some(other) => {
            return Err(format!(
                "logic.discriminator must give a string, gave {other}"
            ));
        }
    };
    let mut properties = BTreeMap::new();
    match field("properties")? {
        None => {}
        Some(serde_json::Value::Object(map)) => properties.extend(map),
        Some(other) => return Err(format!("logic.properties must give a map, gave {other}")),
    }
    // Null properties carry nothing: drop them so outputs stay small and stable.
    properties.retain(|_, v| !v.is_null());
    properties.insert("accountId".into(), service.account_id.clone().into());
    properties.insert("region".into(), service.region.clone().into());
    properties.insert("resourceArn".into(), service.arn.clone().into());
    properties.insert("severity".into(), severity.as_str().into());
    Ok(Finding::new(FindingParts {
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        severity,
        account_id: service.account_id.clone(),
        region: service.region.clone(),
        resource_arn: service.arn.clone(),
        resource_name: service.name.clone(),
        discriminator,
        message,
        properties,
    }))
}

/// A rule whose `when` depends on the item alone ([`crate::rules::Logic::item_only`]): `when`
/// is asked once per distinct item (per rayon shard), and the finding map is built for the items
/// that fire, `item` bound to each in a scope of its own (no other rule sees it). Gives exactly
/// what the combined program gives: a failure is left to the combined program to report, in its
/// own words, as the key-only memo does.
fn evaluate_items<'a>(
    ctx: &Context<'_, 'a>,
    service: &'a Service,
    rule: &Rule,
    index: usize,
    item_only: &ItemOnly,
    memo: &mut Memo<'a>,
) -> Result<Outcome, String> {
    let Some(items) = Item::of(service, item_only.items) else {
        return Ok(unknown(rule));
    };
    let mut scope = ctx.new_inner_scope();
    match item_findings(
        &mut scope,
        service,
        rule,
        index,
        &item_only.finding,
        items,
        memo,
    ) {
        Ok(findings) => Ok(Outcome::Findings(findings)),
        Err(_) => evaluate_rule(ctx, service, rule),
    }
}

/// The findings of the items of `service` that fire, `item` bound to each in `scope`.
fn item_findings<'a>(
    scope: &mut Context<'_, 'a>,
    service: &'a Service,
    rule: &Rule,
    index: usize,
    finding: &Expr,
    items: impl Iterator<Item = Item<'a>>,
    memo: &mut Memo<'a>,
) -> Result<Vec<Finding>, String> {
    let failed = failure("logic", finding);
    let mut findings = Vec::new();
    for item in items {
        let known = memo.items.get(&(index, item)).copied();
        if known != Some(false) {
            // `when` has not seen this item yet, or its finding is to be made: both read `item`.
            scope.add_variable_as_val("item", item.view());
        }
        let fire = match known {
            Some(fire) => fire,
            None => {
                let fire = fires(scope, rule)?;
                memo.items.insert((index, item), fire);
                fire
            }
        };
        if fire {
            let produced = Value::resolve_val(&finding.run, scope).map_err(&failed)?;
            findings.push(read_finding(produced.as_ref(), service, rule, &failed)?);
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule of the given `[logic]` (and optional `[settings]`) lines.
    fn rule(logic: &str, settings: &str) -> Rule {
        let text = format!(
            "id = \"XX001\"\nname = \"Example\"\nseverity = \"low\"\ntitle = \"t\"\nhelp_uri = \"https://example.com\"\ntags = [\"security\"]\n[docs]\nwhat = \"w\"\nwhy = \"y\"\nfix = \"f\"\n{settings}\n[logic]\n{logic}\n"
        );
        Rule::parse(&text, "test", "XX001.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn demo() -> Inventory {
        let text = include_str!("../../fixtures/demo-inventory.json");
        Inventory::from_json(text, "demo").unwrap()
    }

    /// What one rule gives on the first demo service: its findings, or its error message.
    fn outcome(rule: &Rule) -> Result<Vec<Finding>, String> {
        let inventory = demo();
        let mut first = inventory.clone();
        first.services.truncate(1);
        let evaluation = evaluate(&first, &[rule]);
        match evaluation.errors.first() {
            Some(e) => Err(e.message.clone()),
            None => Ok(evaluation.findings),
        }
    }

    /// `evaluate` on one thread, one memo for every service in order: the memo's answers are
    /// then certainly reused.
    fn sequential(inventory: &Inventory, rules: &[&Rule]) -> Evaluation {
        let settings = settings_values(rules);
        sequential_with(inventory, rules, &settings, &mut Memo::default())
    }

    /// [`sequential`] with given settings values and memo, which it fills.
    fn sequential_with<'a>(
        inventory: &'a Inventory,
        rules: &[&Rule],
        settings: &'a [Result<Box<dyn Val>, String>],
        memo: &mut Memo<'a>,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        for service in &inventory.services {
            evaluate_service(inventory, service, rules, settings, memo, &mut out);
        }
        out.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        out.errors.sort();
        out.skipped.sort();
        out
    }

    /// The demo inventory with a copy of every service right after it, so that items repeat
    /// across neighbouring services.
    fn doubled_demo() -> Inventory {
        let mut inventory = demo();
        inventory.services = inventory
            .services
            .iter()
            .flat_map(|s| {
                let mut copy = s.clone();
                copy.arn.push_str("-copy");
                copy.name.push_str("-copy");
                [s.clone(), copy]
            })
            .collect();
        inventory
    }

    /// Item-only rules are evaluated once per distinct item: the findings, errors and notices
    /// are exactly those of the same rule evaluated as one program per service (forced here by
    /// making `when` read `service`), on the demo inventory with every service doubled, so that
    /// items repeat across services and the memo answers for the copies.
    #[test]
    fn item_only_rules_give_what_the_combined_program_gives() {
        let inventory = doubled_demo();
        let quotes = "'''";
        let mut checked = 0;
        for (file, text) in crate::rules::EMBEDDED {
            let rule = Rule::parse(text, "embedded", file).unwrap();
            if rule.logic.item_only.is_none() {
                continue;
            }
            let opening = format!("when = {quotes}");
            let start = text.find(&opening).expect("multi-line when") + opening.len();
            let end = start + text[start..].find(quotes).unwrap();
            let forced = format!(
                "{}service.arn != '' && ({}){}",
                &text[..start],
                &text[start..end],
                &text[end..]
            );
            let combined = Rule::parse(&forced, "forced", file).unwrap();
            assert!(combined.logic.item_only.is_none(), "{file}");
            let plain = evaluate(&inventory, &[&combined]);
            assert!(
                !plain.findings.is_empty() || !plain.skipped.is_empty(),
                "{file}"
            );
            let settings = settings_values(&[&rule]);
            let mut memo = Memo::default();
            let memoized = sequential_with(&inventory, &[&rule], &settings, &mut memo);
            // The memo is consulted, not only filled: with every answer it keeps turned round,
            // the same inventory gives other findings.
            memo.items.values_mut().for_each(|fire| *fire = !*fire);
            let turned = sequential_with(&inventory, &[&rule], &settings, &mut memo);
            assert_ne!(
                turned.findings, memoized.findings,
                "{file}: the memo answered nothing"
            );
            for memoized in [memoized, evaluate(&inventory, &[&rule])] {
                assert_eq!(memoized.findings, plain.findings, "{file}");
                assert_eq!(memoized.errors, plain.errors, "{file}");
                assert_eq!(memoized.skipped, plain.skipped, "{file}");
            }
            checked += 1;
        }
        assert_eq!(checked, 3, "AR011, AR012 and AR020 are item-only");
    }

    /// An item-only rule that fails reports what the combined program reports, and leaves no
    /// `item` behind for the rules after it.
    #[test]
    fn item_only_failures_read_as_the_combined_program_and_leave_no_item() {
        let inventory = doubled_demo();
        let logic = |when: &str| {
            format!("for_each = 'service.environment'\nwhen = '{when}'\nmessage = 'item.name'")
        };
        let failing = rule(&logic("item.nope"), "");
        let combined = rule(&logic("service.arn != \"\" && item.nope"), "");
        assert!(failing.logic.item_only.is_some());
        assert!(combined.logic.item_only.is_none());
        let reads_item = rule("when = 'item.name == \"x\"'\nmessage = '\"m\"'", "");
        let fires = rule(&logic("item.name != \"\""), "");

        let alone = sequential(&inventory, &[&reads_item]).errors;
        assert!(!alone.is_empty());
        let failed = sequential(&inventory, &[&failing, &reads_item]);
        let mut expected = sequential(&inventory, &[&combined, &reads_item]);
        // The same failures, quoting the same expression (less what forced the combined one).
        for e in &mut expected.errors {
            e.message = e.message.replace("service.arn != \"\" && ", "");
        }
        assert!(
            failed
                .errors
                .iter()
                .any(|e| e.message.contains("No such key: nope"))
        );
        assert_eq!(failed.errors, expected.errors);
        assert_eq!(failed.findings, expected.findings);
        // After an item-only rule that fired, `item` is unknown again.
        let after_firing = sequential(&inventory, &[&fires, &reads_item]);
        assert!(!after_firing.findings.is_empty());
        assert_eq!(after_firing.errors, alone);
    }

    #[test]
    fn contains_any_matches_any_word_and_checks_its_words() {
        for (when, fires) in [
            ("'API_TOKEN'.containsAny(['SECRET', 'TOKEN'])", true),
            ("'API_TOKEN'.containsAny(['SECRET'])", false),
            ("'API_TOKEN'.containsAny([])", false),
            (
                "service.name.upperAscii().containsAny(settings.words)",
                true,
            ),
        ] {
            let r = rule(
                &format!("when = \"{when}\"\nmessage = \"'m'\""),
                "[settings]\nwords = [\"NOPE\", \"\"]",
            );
            assert_eq!(outcome(&r).unwrap().len(), usize::from(fires), "{when}");
        }
        let r = rule(
            "when = \"'x'.containsAny(['y', 1])\"\nmessage = \"'m'\"",
            "",
        );
        let error = outcome(&r).unwrap_err();
        assert!(error.contains("string"), "{error}");
    }

    #[test]
    fn findings_are_read_and_bad_ones_are_errors_naming_the_field() {
        let good = rule(
            "when = \"true\"\nmessage = \"'m ' + service.name\"\nseverity = \"'high'\"\ndiscriminator = \"'d'\"\nproperties = '''{\"net\": service.network, \"n\": 1u, \"list\": [true, null], \"gone\": null}'''",
            "",
        );
        let findings = outcome(&good).unwrap();
        let service = &demo().services[0];
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.message, format!("m {}", service.name));
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.discriminator.as_deref(), Some("d"));
        // A whole struct of the inventory is written as serde writes it.
        assert_eq!(
            f.properties["net"],
            serde_json::to_value(&service.network).unwrap()
        );
        assert_eq!(f.properties["n"], serde_json::json!(1));
        assert_eq!(f.properties["list"], serde_json::json!([true, null]));
        assert!(
            !f.properties.contains_key("gone"),
            "null properties are dropped"
        );

        for (logic, says) in [
            ("message = \"1\"", "logic.message must give a string"),
            (
                "message = \"'m'\"\nseverity = \"'urgent'\"",
                "logic.severity",
            ),
            (
                "message = \"'m'\"\ndiscriminator = \"2\"",
                "logic.discriminator must give a string",
            ),
            (
                "message = \"'m'\"\nproperties = \"'x'\"",
                "logic.properties must give a map",
            ),
            ("message = \"service.nope\"", "nope"),
        ] {
            let r = rule(&format!("when = \"true\"\n{logic}"), "");
            let error = outcome(&r).unwrap_err();
            assert!(error.contains(says), "{logic}: {error}");
        }
    }
}
