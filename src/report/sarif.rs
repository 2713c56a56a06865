//! SARIF 2.1.0 output (`--format sarif`) for GitHub code scanning and other dashboards.
//!
//! A small typed model of the part of SARIF we write, so that every field RULES.md requires is a
//! field of a struct here and cannot be forgotten:
//! - every evaluated rule in `tool.driver.rules` (not only the ones that fired), with help text and
//!   markdown, `helpUri`, `defaultConfiguration.level`, tags and `security-severity`;
//! - each result with `ruleId`, `ruleIndex`, `level`, one location holding both a physical
//!   location (a stable relative URI for the resource, `aws/<account>/<region>/apprunner/<name>`,
//!   line 1) and a logical location (the resource ARN, kind `resource`), the
//!   `primaryLocationLineHash` fingerprint and the finding's properties;
//! - collection errors as `toolExecutionNotifications` with `executionSuccessful = false`, so a
//!   dashboard never mistakes an unread region for a fixed one.
//!
//! Lines count from 1. The output is deterministic (no timestamps) and compact (`jq .` shows it
//! indented).

use super::Report;
use crate::finding::{Finding, Severity};
use crate::rules::Rule;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// GitHub code scanning keeps at most this many results of one run.
pub const GITHUB_MAX_RESULTS: usize = 25_000;
/// Where users read about the tool.
pub const INFORMATION_URI: &str = "https://github.com/apprunner-audit/apprunner-audit";

/// The whole log, as [`render`] writes it (kept as the reference its output is tested against).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[cfg_attr(not(test), allow(dead_code))]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    automation_details: AutomationDetails<'a>,
    invocations: Vec<Invocation>,
    results: Vec<SarifResult<'a>>,
    column_kind: &'static str,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<ReportingDescriptor<'a>>,
}

#[derive(Serialize)]
struct Text<T: Serialize> {
    text: T,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor<'a> {
    id: &'a str,
    name: &'a str,
    short_description: Text<&'a str>,
    full_description: Text<&'a str>,
    help: Help,
    help_uri: &'a str,
    default_configuration: DefaultConfiguration,
    properties: RuleProperties<'a>,
}

#[derive(Serialize)]
struct DefaultConfiguration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties<'a> {
    tags: &'a [String],
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    precision: &'static str,
    #[serde(rename = "problem.severity")]
    problem_severity: &'static str,
}

#[derive(Serialize)]
struct AutomationDetails<'a> {
    id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Text<String>,
    descriptor: NotificationDescriptor,
    properties: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct NotificationDescriptor {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text<&'a str>,
    locations: Vec<Location<'a>>,
    partial_fingerprints: PartialFingerprints<'a>,
    properties: &'a BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation,
    logical_locations: Vec<LogicalLocation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    name: &'a str,
    fully_qualified_name: &'a str,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartialFingerprints<'a> {
    primary_location_line_hash: &'a str,
}

/// The stable relative URI of a resource, e.g. `aws/123456789012/us-east-1/apprunner/web`.
pub fn resource_uri(account: &str, region: &str, name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "aws/{}/{}/apprunner/{}",
        clean(account),
        clean(region),
        clean(name)
    )
}

/// Everything of the log but the results, and how to make each result.
struct Parts<'a> {
    tool: Tool<'a>,
    automation_details: AutomationDetails<'a>,
    invocations: Vec<Invocation>,
    index: BTreeMap<&'a str, usize>,
}

impl<'a> Parts<'a> {
    fn result(&self, f: &'a Finding) -> SarifResult<'a> {
        SarifResult {
            rule_id: &f.rule_id,
            rule_index: self.index[f.rule_id.as_str()],
            level: f.severity.sarif_level(),
            message: Text { text: &f.message },
            locations: vec![Location {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri: resource_uri(&f.account_id, &f.region, &f.resource_name),
                    },
                    region: Region { start_line: 1 },
                },
                logical_locations: vec![LogicalLocation {
                    name: &f.resource_name,
                    fully_qualified_name: &f.resource_arn,
                    kind: "resource",
                }],
            }],
            partial_fingerprints: PartialFingerprints {
                primary_location_line_hash: &f.fingerprint,
            },
            properties: &f.properties,
        }
    }
}

fn parts<'a>(report: &'a Report, rules: &[&'a Rule]) -> io::Result<Parts<'a>> {
    let index: BTreeMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let descriptors = rules
        .iter()
        .map(|r| ReportingDescriptor {
            id: &r.id,
            name: &r.name,
            short_description: Text { text: &r.title },
            full_description: Text {
                text: r.docs.what.trim(),
            },
            help: Help {
                text: r.help_text(),
                markdown: r.help_markdown(),
            },
            help_uri: &r.help_uri,
            default_configuration: DefaultConfiguration {
                level: r.severity.sarif_level(),
            },
            properties: RuleProperties {
                tags: &r.tags,
                security_severity: r.severity.security_severity(),
                precision: "very-high",
                problem_severity: match r.severity {
                    Severity::Critical | Severity::High => "error",
                    Severity::Medium => "warning",
                    Severity::Low => "recommendation",
                },
            },
        })
        .collect();
    // Resolve every finding's rule up front, so that rendering cannot fail half-way.
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| !index.contains_key(f.rule_id.as_str()))
    {
        return Err(io::Error::other(format!(
            "finding of rule {} which is not in the rule list",
            f.rule_id
        )));
    }
    let mut notifications: Vec<Notification> = report
        .errors
        .iter()
        .map(|e| Notification {
            level: "error",
            message: Text { text: e.describe() },
            descriptor: NotificationDescriptor { id: e.code.clone() },
            properties: BTreeMap::from([
                ("accountId", e.account_id.clone()),
                ("region", e.region.clone()),
                ("resource", e.resource.clone()),
                ("operation", e.operation.clone()),
                ("code", e.code.clone()),
                ("kind", e.kind.clone()),
            ]),
        })
        .collect();
    notifications.extend(report.notices.iter().map(|n| Notification {
        level: "note",
        message: Text {
            text: n.message.clone(),
        },
        descriptor: NotificationDescriptor {
            id: "RuleNotEvaluated".into(),
        },
        properties: BTreeMap::from([
            ("accountId", n.account_id.clone()),
            ("region", n.region.clone()),
            ("resource", n.resource.clone()),
            ("ruleId", n.rule_id.clone()),
        ]),
    }));
    Ok(Parts {
        tool: Tool {
            driver: Driver {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
                semantic_version: env!("CARGO_PKG_VERSION"),
                information_uri: INFORMATION_URI,
                rules: descriptors,
            },
        },
        automation_details: AutomationDetails {
            id: &report.automation_id,
        },
        invocations: vec![Invocation {
            execution_successful: report.errors.is_empty(),
            tool_execution_notifications: notifications,
        }],
        index,
    })
}

/// Writes `report` as SARIF 2.1.0. `rules` are the rules the report names, in report order.
///
/// Memory: besides the report, two windows of rendered results (65,536 results each, about
/// 55 MB) are held at once, one being written while the next renders.
pub fn render(report: &Report, rules: &[&Rule], out: &mut dyn Write) -> io::Result<()> {
    render_in_batches(report, rules, out, 2048, 32)
}

/// [`render`], serializing results in parallel `batch` at a time, `window` batches (at least
/// one) rendered while the previous ones are written.
fn render_in_batches(
    report: &Report,
    rules: &[&Rule],
    out: &mut dyn Write,
    batch: usize,
    window: usize,
) -> io::Result<()> {
    let parts = parts(report, rules)?;
    // Compact: SARIF is read by machines, and for an organization it runs to hundreds of
    // megabytes; pretty printing made it 65% larger and took twice as long to write (measured
    // on 155,796 results: 216 MB in 0.6 s against 131 MB in 0.33 s).
    //
    // The envelope is written field by field in `Log`'s order, exactly as serde would, so that
    // the results, nearly all of the bytes, can be serialized on every core: batches of results
    // are rendered in parallel and written in order (bounded memory, same bytes as one pass).
    write!(
        out,
        "{{\"$schema\":{},\"version\":\"2.1.0\",\"runs\":[{{\"tool\":",
        serde_json::to_string(SCHEMA_URI)?
    )?;
    serde_json::to_writer(&mut *out, &parts.tool)?;
    out.write_all(b",\"automationDetails\":")?;
    serde_json::to_writer(&mut *out, &parts.automation_details)?;
    out.write_all(b",\"invocations\":")?;
    serde_json::to_writer(&mut *out, &parts.invocations)?;
    out.write_all(b",\"results\":[")?;
    super::write_in_parallel(&report.findings, out, batch, window, 900, |f, bytes| {
        bytes.push(b',');
        serde_json::to_writer(&mut *bytes, &parts.result(f))?;
        Ok(())
    })?;
    out.write_all(b"],\"columnKind\":\"unicodeCodePoints\"}]}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed, parallel output is byte for byte what serde makes of the whole typed log.
    #[test]
    fn render_writes_exactly_the_typed_log() {
        let text = include_str!("../../fixtures/demo-inventory.json");
        let inventory = crate::inventory::Inventory::from_json(text, "demo").unwrap();
        let catalog = crate::rules::Catalog::embedded().unwrap();
        let rules: Vec<&Rule> = catalog.rules.values().collect();
        let evaluation = crate::rules::eval::evaluate(&inventory, &rules);
        let report = Report::build(
            &inventory,
            &rules,
            evaluation,
            crate::report::FailOn::At(Severity::Low),
            None,
        );
        assert!(report.findings.len() > 5 && !report.errors.is_empty());
        let mut streamed = Vec::new();
        render(&report, &rules, &mut streamed).unwrap();
        // Small batches and windows: many windows, each written while the next renders.
        for (batch, window) in [(1, 1), (2, 1), (1, 3), (2, 32)] {
            let mut small = Vec::new();
            render_in_batches(&report, &rules, &mut small, batch, window).unwrap();
            assert_eq!(small, streamed, "batches of {batch}, windows of {window}");
        }

        let parts = parts(&report, &rules).unwrap();
        let log = Log {
            schema: SCHEMA_URI,
            version: "2.1.0",
            runs: vec![Run {
                results: report.findings.iter().map(|f| parts.result(f)).collect(),
                tool: parts.tool,
                automation_details: parts.automation_details,
                invocations: parts.invocations,
                column_kind: "unicodeCodePoints",
            }],
        };
        let mut whole = serde_json::to_vec(&log).unwrap();
        whole.push(b'\n');
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            String::from_utf8(whole).unwrap()
        );
    }

    #[test]
    fn uris_are_relative_and_safe() {
        assert_eq!(
            resource_uri("123456789012", "us-east-1", "web api/v2"),
            "aws/123456789012/us-east-1/apprunner/web_api_v2"
        );
    }
}
