//! Evaluation: every selected rule against every service of an inventory, in parallel (rayon).
//!
//! Each service is bound as a lazy CEL map ([`view`]) and every rule runs against it, binding:
//! `service` (the inventory's service), `key` (the KMS key it names, or `null` when it names none
//! or the key could not be read), `settings` (the rule's settings) and, inside `for_each`, `item`.
//!
//! A rule that fails at run time (a type error, a missing field) is not skipped silently: it
//! becomes an [`EvalError`], which the report treats like a collection error (the scan is
//! incomplete, exit status 3).

use super::{CEL_ENV, Expr, Requirement, Rule, view};
use crate::finding::{Finding, FindingParts, Severity};
use crate::inventory::{Inventory, Service};
use cel::{Context, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    // Each rule's settings become a CEL value once, not once per service.
    let settings: Vec<Result<Value, String>> = rules
        .iter()
        .map(|r| cel::to_value(&r.settings).map_err(|e| format!("settings: {e}")))
        .collect();
    let mut evaluation = inventory
        .services
        .par_iter()
        .fold(
            || (Evaluation::default(), KeyVerdicts::default()),
            |(mut acc, mut verdicts), service| {
                evaluate_service(
                    inventory,
                    service,
                    rules,
                    &settings,
                    &mut verdicts,
                    &mut acc,
                );
                (acc, verdicts)
            },
        )
        .map(|(evaluation, _)| evaluation)
        .reduce(Evaluation::default, |mut a, b| {
            a.findings.extend(b.findings);
            a.errors.extend(b.errors);
            a.skipped.extend(b.skipped);
            a
        });
    evaluation
        .findings
        .par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    evaluation.errors.sort();
    evaluation.skipped.sort();
    evaluation
}

/// The `when` answers of key-only rules, by (rule index, key ARN or none).
type KeyVerdicts<'a> = std::collections::HashMap<(usize, Option<&'a str>), bool>;

/// Evaluates every rule against one service, adding to `out`.
fn evaluate_service<'a>(
    inventory: &'a Inventory,
    service: &'a Service,
    rules: &[&Rule],
    settings: &[Result<Value, String>],
    verdicts: &mut KeyVerdicts<'a>,
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
        if rule.logic.key_only
            && let Ok(settings) = settings
        {
            let slot = (index, key.map(|k| k.arn.as_str()));
            let fires = match verdicts.get(&slot) {
                Some(fires) => Some(*fires),
                None => match run_in(&ctx, rule, settings.clone(), "when", &rule.logic.when) {
                    Ok(Value::Bool(fires)) => {
                        verdicts.insert(slot, fires);
                        Some(fires)
                    }
                    // Not a bool, or an error: the full program below reports it.
                    _ => None,
                },
            };
            if fires == Some(false) {
                continue;
            }
        }
        let outcome = settings
            .clone()
            .and_then(|settings| evaluate_rule(&ctx, service, rule, settings));
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

fn run(ctx: &Context, field: &str, expr: &Expr) -> Result<Value, String> {
    // Not `Program::execute`: its conversion of the result knows nothing of the inventory's
    // lazy maps (`view::Node`), which a rule may put in what it returns.
    Value::resolve_val(expr.program.expression(), ctx)
        .and_then(|v| view::to_value(v.as_ref()))
        .map_err(|e| {
            format!(
                "logic.{field} failed: {e} (expression: {})",
                expr.source.trim()
            )
        })
}

/// What one rule gave for one service.
enum Outcome {
    Findings(Vec<Finding>),
    /// `for_each` gave `null`: the facts (named by the expression) are unknown.
    Unknown(String),
}

/// Why a rule was not evaluated, in words a user can act on.
fn skip_reason(service: &Service, rule: &Rule, what: &str) -> String {
    let why = if what.contains("environment")
        && service.source.configuration_source.as_deref() == Some("REPOSITORY")
    {
        "its runtime environment variables are configured in apprunner.yaml in the source repository (ConfigurationSource REPOSITORY), which the App Runner API does not return".to_string()
    } else {
        format!("{what} could not be read (see the collection errors)")
    };
    format!(
        "{} {} not evaluated for service {}: {why}; check it in the repository or set the configuration through the API",
        rule.id, rule.name, service.name
    )
}

/// Runs `expr` of `rule` with the rule's settings bound (when it has any: binding an empty map
/// for each service would cost a conversion per rule per service for nothing).
fn run_in(
    ctx: &Context,
    rule: &Rule,
    settings: Value,
    field: &str,
    expr: &Expr,
) -> Result<Value, String> {
    let mut scope = ctx.new_inner_scope();
    if rule.settings.as_object().is_none_or(|m| !m.is_empty()) {
        scope.add_variable_from_value("settings", settings);
    }
    run(&scope, field, expr)
}

fn evaluate_rule(
    ctx: &Context,
    service: &Service,
    rule: &Rule,
    settings: Value,
) -> Result<Outcome, String> {
    let produced = match run_in(ctx, rule, settings, "logic", &rule.logic.combined)? {
        // `null` means the facts `for_each` names are unknown: say so, never pass silently.
        Value::Null => {
            let what = rule
                .logic
                .for_each
                .as_ref()
                .map_or("the facts", |e| e.source.trim());
            return Ok(Outcome::Unknown(what.to_string()));
        }
        Value::List(list) => list,
        other => return Err(format!("the logic gave {other:?}, not a list of findings")),
    };
    let mut findings = Vec::with_capacity(produced.len());
    for value in produced.iter() {
        let serde_json::Value::Object(mut fields) = value
            .json()
            .map_err(|e| format!("a finding cannot be read: {e:?}"))?
        else {
            return Err("a finding is not a map".into());
        };
        let message = match fields.remove("message") {
            Some(serde_json::Value::String(m)) => m,
            other => return Err(format!("logic.message must give a string, gave {other:?}")),
        };
        let severity = match fields.remove("severity") {
            None | Some(serde_json::Value::Null) => rule.severity,
            Some(serde_json::Value::String(s)) => s
                .parse::<Severity>()
                .map_err(|e| format!("logic.severity: {e}"))?,
            Some(other) => return Err(format!("logic.severity must give a string, gave {other}")),
        };
        let discriminator = match fields.remove("discriminator") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(d)) => Some(d),
            Some(other) => {
                return Err(format!(
                    "logic.discriminator must give a string, gave {other}"
                ));
            }
        };
        let mut properties = BTreeMap::new();
        match fields.remove("properties") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => properties.extend(map),
            Some(other) => return Err(format!("logic.properties must give a map, gave {other}")),
        }
        // Null properties carry nothing: drop them so outputs stay small and stable.
        properties.retain(|_, v| !v.is_null());
        properties.insert("accountId".into(), service.account_id.clone().into());
        properties.insert("region".into(), service.region.clone().into());
        properties.insert("resourceArn".into(), service.arn.clone().into());
        properties.insert("severity".into(), severity.as_str().into());
        findings.push(Finding::new(FindingParts {
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
        }));
    }
    Ok(Outcome::Findings(findings))
}
