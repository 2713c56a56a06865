//! The JSON report, schema version 1 (`--format json`).
//!
//! This is a public, versioned format kept apart from the internal types: a field is never
//! renamed or removed within a version, only added. The schema is documented in the README
//! ("JSON report"). Output is deterministic: the same inventory gives the same bytes.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "tool": {"name": "apprunner-audit", "version": "0.1.0"},
//!   "run": {"collector": "aws", "collected_at": "...", "caller_account": "...",
//!           "automation_id": "apprunner-audit/<accounts>/<regions>/", "fail_on": "high",
//!           "rules": [{"id": "AR001", "name": "...", "severity": "high"}]},
//!   "scopes": [{"account_id": "...", "region": "...", "complete": true}],
//!   "summary": {"accounts": 1, "regions": 1, "services": 3, "findings": 2, "critical": 0,
//!               "high": 1, "medium": 1, "low": 0, "errors": 0, "notices": 0, "complete": true},
//!   "exit_status": 1,
//!   "findings": [{"rule_id": "AR001", "rule_name": "...", "severity": "high", "account_id": "...",
//!                 "region": "...", "resource_arn": "...", "resource_name": "...",
//!                 "discriminator": null, "message": "...", "properties": {...},
//!                 "fingerprint": "..."}],
//!   "errors": [{"kind": "collection", "account_id": "...", "region": "...", "resource": "...",
//!               "operation": "kms:DescribeKey", "code": "AccessDeniedException", "message": "..."}],
//!   "notices": [{"rule_id": "AR020", "account_id": "...", "region": "...", "resource": "...",
//!                "message": "..."}]
//! }
//! ```

use super::{FailOn, Notice, Report, ReportError, RuleSummary, Summary};
use crate::finding::Finding;
use crate::inventory::{Scope, SourceInfo};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{self, Write};

/// Version of the JSON report format.
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub collector: String,
    pub collected_at: Option<String>,
    pub caller_account: Option<String>,
    pub automation_id: String,
    pub fail_on: String,
    pub rules: Vec<RuleSummary>,
}

/// The JSON report document, version 1. Its lists borrow the report's when it is written, and
/// are owned when it is read (`merge`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonReportV1<'a> {
    pub schema_version: u32,
    pub tool: Tool,
    pub run: Run,
    pub scopes: Cow<'a, [Scope]>,
    pub summary: Summary,
    pub exit_status: i32,
    pub findings: Cow<'a, [Finding]>,
    pub errors: Cow<'a, [ReportError]>,
    pub notices: Cow<'a, [Notice]>,
}

impl<'a> JsonReportV1<'a> {
    pub fn from_report(report: &'a Report) -> Self {
        JsonReportV1 {
            schema_version: JSON_SCHEMA_VERSION,
            tool: tool(),
            run: run(report),
            scopes: Cow::Borrowed(&report.scopes),
            summary: report.summary(),
            exit_status: report.exit_status(),
            findings: Cow::Borrowed(&report.findings),
            errors: Cow::Borrowed(&report.errors),
            notices: Cow::Borrowed(&report.notices),
        }
    }

    /// Back to a report (for `merge` of shard reports).
    pub fn into_report(self) -> Result<Report, String> {
        let fail_on: FailOn = self.run.fail_on.parse()?;
        Ok(Report {
            source: SourceInfo {
                collector: self.run.collector,
                collected_at: self.run.collected_at,
                caller_account: self.run.caller_account,
                tool_version: Some(self.tool.version),
            },
            scopes: self.scopes.into_owned(),
            automation_id: self.run.automation_id,
            rules: self.run.rules,
            findings: self.findings.into_owned(),
            errors: self.errors.into_owned(),
            notices: self.notices.into_owned(),
            services: self.summary.services,
            fail_on,
        })
    }
}

fn tool() -> Tool {
    Tool {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn run(report: &Report) -> Run {
    Run {
        collector: report.source.collector.clone(),
        collected_at: report.source.collected_at.clone(),
        caller_account: report.source.caller_account.clone(),
        automation_id: report.automation_id.clone(),
        fail_on: report.fail_on.to_string(),
        rules: report.rules.clone(),
    }
}

/// Reads a JSON report written by [`render`], refusing other schema versions, other documents
/// (an inventory is named as such) and findings of rules the report does not list. Errors give
/// the line and column.
pub fn parse(text: &str) -> Result<Report, String> {
    /// The top level, all but skipped.
    #[derive(Deserialize)]
    struct Head {
        schema_version: Option<serde_json::Value>,
        keys: Option<serde::de::IgnoredAny>,
        findings: Option<serde::de::IgnoredAny>,
    }
    if !text.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let head: Head = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if head.keys.is_some() && head.findings.is_none() {
        return Err(
            "this is an inventory, not a report: make its report with `apprunner-audit scan --from-inventory FILE --format json`"
                .into(),
        );
    }
    match head.schema_version.as_ref().map(|v| (v, v.as_u64())) {
        Some((_, Some(v))) if v == u64::from(JSON_SCHEMA_VERSION) => {}
        Some((_, Some(v))) => {
            return Err(format!(
                "schema_version {v}, this build reads version {JSON_SCHEMA_VERSION}"
            ));
        }
        Some((other, None)) => {
            return Err(format!(
                "schema_version is {other}, not a whole number such as {JSON_SCHEMA_VERSION}"
            ));
        }
        None => return Err("no schema_version".into()),
    }
    let doc: JsonReportV1 = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let report = doc.into_report()?;
    let listed: std::collections::BTreeSet<&str> =
        report.rules.iter().map(|r| r.id.as_str()).collect();
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| !listed.contains(f.rule_id.as_str()))
    {
        return Err(format!(
            "finding {} is of rule {}, which the report's run.rules does not list",
            f.fingerprint, f.rule_id
        ));
    }
    Ok(report)
}

/// Writes `report` as pretty JSON with a trailing newline: exactly the bytes serde writes for
/// [`JsonReportV1::from_report`], with the findings, nearly all of the bytes, rendered on every
/// core (see [`super::write_in_parallel`]).
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    render_in_batches(report, out, 1024, 32)
}

fn render_in_batches(
    report: &Report,
    out: &mut dyn Write,
    batch: usize,
    window: usize,
) -> io::Result<()> {
    let doc = JsonReportV1 {
        findings: Cow::Borrowed(&[]),
        ..JsonReportV1::from_report(report)
    };
    // The document without findings, then the findings spliced in where serde wrote `[]`:
    // `"findings"` is a key of the top level only, and no JSON string holds a raw quote or
    // newline, so the marker is found once, at the top level's indentation.
    let head = serde_json::to_vec_pretty(&doc)?;
    const MARKER: &[u8] = b"\n  \"findings\": []";
    let at = head
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .ok_or_else(|| io::Error::other("the JSON report has no findings list"))?;
    let open = at + MARKER.len() - 1;
    out.write_all(&head[..open])?;
    if !report.findings.is_empty() {
        super::write_in_parallel(
            &report.findings,
            &mut *out,
            batch,
            window,
            1024,
            |f, bytes| {
                // Each finding as an element of the top-level list: two levels in.
                let mut alone = Vec::new();
                serde_json::to_writer_pretty(&mut alone, f)?;
                bytes.extend_from_slice(b",\n    ");
                for &b in &alone {
                    bytes.push(b);
                    if b == b'\n' {
                        bytes.extend_from_slice(b"    ");
                    }
                }
                Ok(())
            },
        )?;
        out.write_all(b"\n  ")?;
    }
    out.write_all(&head[open..])?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FindingParts, Severity};
    use crate::report::FailOn;
    use crate::rules::{Catalog, Rule};

    fn demo_report() -> Report {
        let text = include_str!("../../fixtures/demo-inventory.json");
        let inventory = crate::inventory::Inventory::from_json(text, "demo").unwrap();
        let catalog = Catalog::embedded().unwrap();
        let rules: Vec<&Rule> = catalog.rules.values().collect();
        let evaluation = crate::rules::eval::evaluate(&inventory, &rules);
        Report::build(
            &inventory,
            &rules,
            evaluation,
            FailOn::At(Severity::Low),
            None,
        )
    }

    /// What serde writes for the whole owned document.
    fn whole(report: &Report) -> String {
        let mut bytes = serde_json::to_vec_pretty(&JsonReportV1::from_report(report)).unwrap();
        bytes.push(b'\n');
        String::from_utf8(bytes).unwrap()
    }

    fn rendered(report: &Report, batch: usize, window: usize) -> String {
        let mut bytes = Vec::new();
        render_in_batches(report, &mut bytes, batch, window).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    /// The spliced, parallel output is byte for byte what serde writes for the whole document:
    /// with findings (in batches and windows of every shape), without any, and with findings
    /// whose text holds what the splice looks for.
    #[test]
    fn render_writes_exactly_the_whole_document() {
        let mut report = demo_report();
        assert!(report.findings.len() > 5 && !report.errors.is_empty());
        let expected = whole(&report);
        assert_eq!(rendered(&report, 1024, 32), expected);
        for (batch, window) in [(1, 1), (2, 1), (1, 3), (3, 2)] {
            assert_eq!(
                rendered(&report, batch, window),
                expected,
                "batches of {batch}, windows of {window}"
            );
        }
        let tricky = report.findings[0].clone();
        report.findings.push(Finding::new(FindingParts {
            rule_id: tricky.rule_id.clone(),
            rule_name: tricky.rule_name.clone(),
            severity: tricky.severity,
            account_id: tricky.account_id.clone(),
            region: tricky.region.clone(),
            resource_arn: tricky.resource_arn.clone(),
            resource_name: tricky.resource_name.clone(),
            discriminator: Some("\n  \"findings\": []".into()),
            message: "line one\nline \"two\"\n  \"findings\": []".into(),
            properties: [("findings".to_string(), serde_json::json!([]))].into(),
        }));
        assert_eq!(rendered(&report, 2, 2), whole(&report));
        report.findings.clear();
        assert_eq!(rendered(&report, 1024, 32), whole(&report));
        assert!(whole(&report).contains("\"findings\": [],"));
    }
}
