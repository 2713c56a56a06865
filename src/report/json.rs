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

/// The JSON report document, version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonReportV1 {
    pub schema_version: u32,
    pub tool: Tool,
    pub run: Run,
    pub scopes: Vec<Scope>,
    pub summary: Summary,
    pub exit_status: i32,
    pub findings: Vec<Finding>,
    pub errors: Vec<ReportError>,
    pub notices: Vec<Notice>,
}

impl JsonReportV1 {
    pub fn from_report(report: &Report) -> Self {
        JsonReportV1 {
            schema_version: JSON_SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME").into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run: Run {
                collector: report.source.collector.clone(),
                collected_at: report.source.collected_at.clone(),
                caller_account: report.source.caller_account.clone(),
                automation_id: report.automation_id.clone(),
                fail_on: report.fail_on.to_string(),
                rules: report.rules.clone(),
            },
            scopes: report.scopes.clone(),
            summary: report.summary(),
            exit_status: report.exit_status(),
            findings: report.findings.clone(),
            errors: report.errors.clone(),
            notices: report.notices.clone(),
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
            scopes: self.scopes,
            automation_id: self.run.automation_id,
            rules: self.run.rules,
            findings: self.findings,
            errors: self.errors,
            notices: self.notices,
            services: self.summary.services,
            fail_on,
        })
    }
}

/// Reads a JSON report written by [`render`], refusing other schema versions.
pub fn parse(text: &str) -> Result<Report, String> {
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match raw.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(JSON_SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schema_version {v}, this build reads version {JSON_SCHEMA_VERSION}"
            ));
        }
        None => return Err("no schema_version".into()),
    }
    let doc: JsonReportV1 = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    doc.into_report()
}

/// Writes `report` as pretty JSON with a trailing newline.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let doc = JsonReportV1::from_report(report);
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}
