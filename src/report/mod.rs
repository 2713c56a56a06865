//! The report: findings, errors and notices of one scan, the CI-gate decision, and the renderers.
//!
//! [`Report::build`] is the one place where policy meets output: it takes the evaluated findings,
//! turns collection and evaluation errors into one list, decides the exit status from `--fail-on`,
//! and fixes the order. Renderers ([`table`], [`json`], [`sarif`]) only format a finished report
//! into any `io::Write`; they decide nothing.

pub mod json;
pub mod sarif;
pub mod table;

use crate::finding::{Finding, Severity};
use crate::inventory::{Inventory, Scope, SourceInfo};
use crate::rules::Rule;
use crate::rules::eval::Evaluation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Exit status: scan complete, nothing at or above the threshold.
pub const EXIT_OK: i32 = 0;
/// Exit status: at least one finding at or above the threshold.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit status: usage, configuration or credential error; nothing was scanned.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: nothing at or above the threshold, but the scan is incomplete.
pub const EXIT_INCOMPLETE: i32 = 3;

/// `--fail-on`: the lowest severity that fails the gate, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    At(Severity),
    Never,
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "never" {
            return Ok(FailOn::Never);
        }
        s.parse::<Severity>().map(FailOn::At).map_err(|_| {
            format!("unknown --fail-on value '{s}' (expected critical, high, medium, low or never)")
        })
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailOn::At(s) => f.write_str(s.as_str()),
            FailOn::Never => f.write_str("never"),
        }
    }
}

/// Something that could not be read or evaluated: never a pass, never a finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportError {
    /// `collection` (AWS could not be read) or `evaluation` (a rule failed at run time).
    pub kind: String,
    pub account_id: String,
    pub region: String,
    pub resource: String,
    pub operation: String,
    pub code: String,
    pub message: String,
}

impl ReportError {
    /// One line for humans and SARIF notifications.
    pub fn describe(&self) -> String {
        format!(
            "{} failed for {} (account {}, region {}): {}: {}",
            self.operation, self.resource, self.account_id, self.region, self.code, self.message
        )
    }
}

/// Something the scan could not check that is not an error: a rule not evaluated for a service
/// because the facts it needs are not available from the API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub rule_id: String,
    pub account_id: String,
    pub region: String,
    pub resource: String,
    pub message: String,
}

/// A rule as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSummary {
    pub id: String,
    pub name: String,
    pub severity: Severity,
}

/// Counts for the summary line and the JSON `summary` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub accounts: usize,
    pub regions: usize,
    pub services: usize,
    pub findings: usize,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub errors: usize,
    pub notices: usize,
    /// True when nothing failed to be read or evaluated.
    pub complete: bool,
}

/// A finished scan, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub source: SourceInfo,
    pub scopes: Vec<Scope>,
    /// The SARIF `automationDetails.id`: names the scan's scope.
    pub automation_id: String,
    /// The rules that were evaluated, by ID.
    pub rules: Vec<RuleSummary>,
    pub findings: Vec<Finding>,
    pub errors: Vec<ReportError>,
    pub notices: Vec<Notice>,
    pub services: usize,
    pub fail_on: FailOn,
}

impl Report {
    /// Assembles a report from an inventory and its evaluation.
    pub fn build(
        inventory: &Inventory,
        rules: &[&Rule],
        evaluation: Evaluation,
        fail_on: FailOn,
        automation_id: Option<String>,
    ) -> Report {
        let mut errors: Vec<ReportError> = inventory
            .errors
            .iter()
            .map(|e| ReportError {
                kind: "collection".into(),
                account_id: e.account_id.clone(),
                region: e.region.clone(),
                resource: e.resource.clone(),
                operation: e.operation.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
            })
            .collect();
        errors.extend(evaluation.errors.into_iter().map(|e| ReportError {
            kind: "evaluation".into(),
            account_id: e.account_id,
            region: e.region,
            resource: e.resource_arn,
            operation: format!("evaluate {}", e.rule_id),
            code: "RuleEvaluationError".into(),
            message: e.message,
        }));
        errors.sort();
        errors.dedup();
        let mut notices: Vec<Notice> = evaluation
            .skipped
            .into_iter()
            .map(|s| Notice {
                rule_id: s.rule_id,
                account_id: s.account_id,
                region: s.region,
                resource: s.resource_arn,
                message: s.reason,
            })
            .collect();
        notices.sort();
        // Already in report order: evaluation sorts them.
        let findings = evaluation.findings;
        let automation_id = automation_id.unwrap_or_else(|| {
            default_automation_id(
                &inventory.scopes,
                inventory.source.caller_account.as_deref(),
            )
        });
        Report {
            source: inventory.source.clone(),
            scopes: inventory.scopes.clone(),
            automation_id,
            rules: rules
                .iter()
                .map(|r| RuleSummary {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    severity: r.severity,
                })
                .collect(),
            findings,
            errors,
            notices,
            services: inventory.services.len(),
            fail_on,
        }
    }

    /// Combines the reports of several scans (typically `--shard` jobs of one organization) into
    /// one, as if one scan had covered them all. Each report comes with the name it is known by
    /// (its file), for errors. `fail_on` defaults to the reports' own, which must then agree.
    ///
    /// Reports that could not have come from one scan are refused rather than combined into a
    /// report that claims more than was checked: two reports covering the same account and
    /// region (a report given twice would count its services twice), reports evaluated with
    /// different rules (the merged report would claim every rule ran everywhere), and shards
    /// that are not exactly shards 1 to N of one N (a merged report of an incomplete set is
    /// named like the whole organization's, and uploaded under that category it would close
    /// the alerts of the missing shards' accounts).
    pub fn merge(
        named: Vec<(String, Report)>,
        fail_on: Option<FailOn>,
        automation_id: Option<String>,
    ) -> Result<Report, String> {
        check_mergeable(&named)?;
        let reports: Vec<Report> = named.into_iter().map(|(_, r)| r).collect();
        let first = reports.first().ok_or("no report to merge")?;
        let fail_on = match fail_on {
            Some(f) => f,
            None => {
                let f = first.fail_on;
                if reports.iter().any(|r| r.fail_on != f) {
                    return Err("the reports were made with different --fail-on values: pass --fail-on to merge".into());
                }
                f
            }
        };
        let same = |get: &dyn Fn(&Report) -> Option<String>| -> Option<String> {
            let v = get(first);
            reports.iter().all(|r| get(r) == v).then_some(v).flatten()
        };
        let source = SourceInfo {
            collector: same(&|r| Some(r.source.collector.clone()))
                .unwrap_or_else(|| "merged".into()),
            collected_at: reports
                .iter()
                .filter_map(|r| r.source.collected_at.clone())
                .min(),
            caller_account: same(&|r| r.source.caller_account.clone()),
            tool_version: same(&|r| r.source.tool_version.clone()),
        };
        let mut scopes: std::collections::BTreeMap<(String, String), bool> = Default::default();
        let mut rules: std::collections::BTreeMap<String, RuleSummary> = Default::default();
        let mut findings = Vec::new();
        let mut errors = Vec::new();
        let mut notices = Vec::new();
        let mut services: usize = 0;
        for r in reports {
            for s in r.scopes {
                let complete = scopes.entry((s.account_id, s.region)).or_insert(true);
                *complete &= s.complete;
            }
            for rule in r.rules {
                rules.entry(rule.id.clone()).or_insert(rule);
            }
            findings.extend(r.findings);
            errors.extend(r.errors);
            notices.extend(r.notices);
            services = services
                .checked_add(r.services)
                .ok_or("the reports' service counts add up past any real organization: one of them is not a report of this tool")?;
        }
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        errors.sort();
        errors.dedup();
        notices.sort();
        notices.dedup();
        let scopes: Vec<Scope> = scopes
            .into_iter()
            .map(|((account_id, region), complete)| Scope {
                account_id,
                region,
                complete,
            })
            .collect();
        let automation_id = automation_id
            .unwrap_or_else(|| default_automation_id(&scopes, source.caller_account.as_deref()));
        Ok(Report {
            source,
            scopes,
            automation_id,
            rules: rules.into_values().collect(),
            findings,
            errors,
            notices,
            services,
            fail_on,
        })
    }

    /// The counts of the summary line.
    pub fn summary(&self) -> Summary {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        let accounts: BTreeSet<&str> = self.scopes.iter().map(|s| s.account_id.as_str()).collect();
        let regions: BTreeSet<&str> = self.scopes.iter().map(|s| s.region.as_str()).collect();
        Summary {
            accounts: accounts.len(),
            regions: regions.len(),
            services: self.services,
            findings: self.findings.len(),
            critical: count(Severity::Critical),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
            errors: self.errors.len(),
            notices: self.notices.len(),
            complete: self.errors.is_empty(),
        }
    }

    /// The CI-gate exit status (RULES.md): 1 beats 3, 3 beats 0.
    pub fn exit_status(&self) -> i32 {
        let failing = match self.fail_on {
            FailOn::Never => false,
            FailOn::At(threshold) => self.findings.iter().any(|f| f.severity >= threshold),
        };
        if failing {
            EXIT_FINDINGS
        } else if !self.errors.is_empty() {
            EXIT_INCOMPLETE
        } else {
            EXIT_OK
        }
    }

    /// The summary as one line, e.g. for stderr and the table footer.
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let mut line = format!(
            "{} ({} critical, {} high, {} medium, {} low); {}; {} scanned in {} and {}",
            plural(s.findings, "finding"),
            s.critical,
            s.high,
            s.medium,
            s.low,
            plural(s.errors, "collection error"),
            plural(s.services, "service"),
            plural(s.accounts, "account"),
            plural(s.regions, "region"),
        );
        if s.notices > 0 {
            line.push_str(&format!("; {} not evaluated", plural(s.notices, "check")));
        }
        if !s.complete {
            line.push_str(" (INCOMPLETE: see the collection errors)");
        }
        line
    }
}

/// Refuses reports that one scan could not have made together (see [`Report::merge`]).
fn check_mergeable(named: &[(String, Report)]) -> Result<(), String> {
    let Some((first_name, first)) = named.first() else {
        return Err("no report to merge".into());
    };
    let rule_ids =
        |r: &Report| -> BTreeSet<String> { r.rules.iter().map(|r| r.id.clone()).collect() };
    let first_rules = rule_ids(first);
    let mut covered: std::collections::BTreeMap<(&str, &str), &str> = Default::default();
    for (name, report) in named {
        for scope in &report.scopes {
            let key = (scope.account_id.as_str(), scope.region.as_str());
            if let Some(other) = covered.insert(key, name) {
                return Err(format!(
                    "{other} and {name} both cover account {} in region {}: give each scan's report once (the shards of one scan never overlap)",
                    scope.account_id, scope.region
                ));
            }
        }
        let rules = rule_ids(report);
        if rules != first_rules {
            let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
                let ids: Vec<&str> = a.difference(b).map(String::as_str).collect();
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            };
            return Err(format!(
                "{first_name} and {name} were evaluated with different rules (only in {first_name}: {}; only in {name}: {}): scan every part with the same --enable, --disable and --rules",
                only(&first_rules, &rules),
                only(&rules, &first_rules)
            ));
        }
    }
    // Shards: all or none, of one count, each index once, none missing.
    let shards: Vec<(&str, Option<(u32, u32)>)> = named
        .iter()
        .map(|(name, r)| (name.as_str(), shard_of(&r.automation_id)))
        .collect();
    if let Some((sharded, (_, count))) = shards.iter().find_map(|(name, s)| s.map(|s| (*name, s))) {
        let mut seen: std::collections::BTreeMap<u32, &str> = Default::default();
        for (name, shard) in &shards {
            match shard {
                None => {
                    return Err(format!(
                        "{sharded} is one shard of a scan but {name} is not: merge the reports of shards 1 to {count} of one scan"
                    ));
                }
                Some((_, n)) if *n != count => {
                    return Err(format!(
                        "{sharded} is a shard of {count} but {name} a shard of {n}: merge the reports of shards 1 to {count} of one scan"
                    ));
                }
                Some((k, _)) => {
                    if let Some(other) = seen.insert(*k, name) {
                        return Err(format!(
                            "{other} and {name} are both shard {k} of {count}: give each shard's report once"
                        ));
                    }
                }
            }
        }
        // The first few missing are enough to name (a category can claim any count).
        let missing: Vec<u32> = (1..=count)
            .filter(|k| !seen.contains_key(k))
            .take(6)
            .collect();
        if !missing.is_empty() {
            let named: Vec<String> = missing.iter().take(5).map(u32::to_string).collect();
            let more = if missing.len() > 5 { "..." } else { "" };
            let (noun, verb) = match missing.len() {
                1 => ("shard", "is"),
                _ => ("shards", "are"),
            };
            return Err(format!(
                "{noun} {}{more} of {count} {verb} missing: merge the reports of all {count} shards (a partial set would be reported, and uploaded, as the whole scan)",
                named.join(", ")
            ));
        }
    }
    Ok(())
}

/// The shard (index, count) a report's category names, from [`shard_automation_id`].
fn shard_of(automation_id: &str) -> Option<(u32, u32)> {
    let last = automation_id.trim_end_matches('/').rsplit('/').next()?;
    let (index, count) = last.strip_prefix("shard-")?.split_once("-of-")?;
    Some((index.parse().ok()?, count.parse().ok()?))
}

/// `apprunner-audit/<accounts>/<regions>/`: the scope of the scan, so that scans of different
/// scopes can be uploaded side by side. Up to three accounts are named. More accounts (an
/// organization) are named by the account that ran the scan, not by a hash of the list: GitHub
/// closes the alerts of a category missing from its newest upload, so the category must not
/// change when an account joins or leaves. Regions are named up to three, else counted and
/// hashed (the region set is the user's choice, stable from run to run).
pub fn default_automation_id(scopes: &[Scope], caller: Option<&str>) -> String {
    let accounts: BTreeSet<&str> = scopes.iter().map(|s| s.account_id.as_str()).collect();
    let accounts = match (accounts.len(), caller) {
        (0, _) => "no-accounts".to_string(),
        (1..=3, _) => accounts.iter().copied().collect::<Vec<_>>().join("+"),
        (_, Some(caller)) => format!("accounts-via-{caller}"),
        (_, None) => "many-accounts".to_string(),
    };
    format!("apprunner-audit/{accounts}/{}/", regions_part(scopes))
}

/// The category of one shard of a scan: named by the account that ran it (a shard's accounts
/// change as the organization does) and the shard, so shards upload side by side.
pub fn shard_automation_id(
    scopes: &[Scope],
    caller: Option<&str>,
    index: u32,
    count: u32,
) -> String {
    format!(
        "apprunner-audit/accounts-via-{}/{}/shard-{index}-of-{count}/",
        caller.unwrap_or("unknown"),
        regions_part(scopes)
    )
}

fn regions_part(scopes: &[Scope]) -> String {
    let regions: BTreeSet<&str> = scopes.iter().map(|s| s.region.as_str()).collect();
    match regions.len() {
        0 => "no-regions".to_string(),
        1..=3 => regions.iter().copied().collect::<Vec<_>>().join("+"),
        n => {
            let joined = regions.iter().copied().collect::<Vec<_>>().join(",");
            let hash = crate::finding::fingerprint("regions", &joined, None);
            format!("{n}-regions-{}", &hash[..8])
        }
    }
}

/// Writes `items` in order, each rendered by `item` into a buffer that starts with a comma (the
/// very first comma is left out), rendering them on every core: `batch` items per task (its
/// buffer sized for `bytes_per_item` each), `window` batches (at least one) rendered while the
/// previous ones are written. The bytes are those of rendering the items one after the other;
/// memory stays at two windows of rendered items. The SARIF results and the JSON report's
/// findings, nearly all of their bytes, are written through it.
pub(crate) fn write_in_parallel<T: Sync>(
    items: &[T],
    out: &mut dyn std::io::Write,
    batch: usize,
    window: usize,
    bytes_per_item: usize,
    item: impl Fn(&T, &mut Vec<u8>) -> std::io::Result<()> + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let batch = batch.max(1);
    let render = |window: &[T]| -> std::io::Result<Vec<Vec<u8>>> {
        window
            .par_chunks(batch)
            .map(|batch| {
                let mut bytes = Vec::with_capacity(batch.len() * bytes_per_item);
                for it in batch {
                    item(it, &mut bytes)?;
                }
                Ok(bytes)
            })
            .collect()
    };
    let mut first = true;
    let mut write = |rendered: Vec<Vec<u8>>| -> std::io::Result<()> {
        for bytes in rendered {
            // Every item comes after a comma but the very first.
            let skip = usize::from(first && !bytes.is_empty());
            first &= bytes.is_empty();
            out.write_all(&bytes[skip..])?;
        }
        Ok(())
    };
    // Each window is written while the next one is rendered.
    let mut pending: Option<Vec<Vec<u8>>> = None;
    for window in items.chunks(batch * window.max(1)) {
        let mut next = None;
        let mut written = Ok(());
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| next = Some(render(window)));
            if let Some(rendered) = pending.take() {
                written = write(rendered);
            }
        });
        written?;
        pending = next.transpose()?;
    }
    if let Some(rendered) = pending {
        write(rendered)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(a: &str, r: &str) -> Scope {
        Scope {
            account_id: a.into(),
            region: r.into(),
            complete: true,
        }
    }

    #[test]
    fn automation_id_is_stable_when_an_organization_changes() {
        let small =
            default_automation_id(&[scope("1", "us-east-1"), scope("2", "us-east-1")], None);
        assert_eq!(small, "apprunner-audit/1+2/us-east-1/");
        let five: Vec<Scope> = (0..5).map(|i| scope(&i.to_string(), "eu-west-1")).collect();
        let six: Vec<Scope> = (0..6).map(|i| scope(&i.to_string(), "eu-west-1")).collect();
        assert_eq!(
            default_automation_id(&five, Some("999")),
            "apprunner-audit/accounts-via-999/eu-west-1/"
        );
        assert_eq!(
            default_automation_id(&five, Some("999")),
            default_automation_id(&six, Some("999"))
        );
        let regions: Vec<Scope> = ["a", "b", "c", "d"].iter().map(|r| scope("1", r)).collect();
        let id = default_automation_id(&regions, None);
        assert!(id.starts_with("apprunner-audit/1/4-regions-"), "{id}");
    }

    #[test]
    fn fail_on_parses() {
        assert_eq!("never".parse::<FailOn>().unwrap(), FailOn::Never);
        assert_eq!("low".parse::<FailOn>().unwrap(), FailOn::At(Severity::Low));
        assert!("warn".parse::<FailOn>().unwrap_err().contains("--fail-on"));
    }
}
