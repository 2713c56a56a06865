//! The terminal table (`--format table`, the default).
//!
//! Findings are sorted by severity, account, region and service; collection errors and checks
//! that were not evaluated follow in tables of their own, then one summary line. The width is the
//! terminal's when writing to one, else a fixed 160 columns, so output to files and snapshot tests
//! is stable.

use super::Report;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use std::io::{self, Write};

fn new_table(width: u16, header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(header.to_vec());
    table
}

/// Writes `report` as tables and a summary line. `width` is the terminal width, if any.
pub fn render(report: &Report, width: Option<u16>, out: &mut dyn Write) -> io::Result<()> {
    let width = width.unwrap_or(160).max(60);
    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        let mut table = new_table(
            width,
            &[
                "Severity", "Rule", "Account", "Region", "Service", "Finding",
            ],
        );
        for f in &report.findings {
            table.add_row(vec![
                f.severity.as_str().to_uppercase(),
                format!("{}\n{}", f.rule_id, f.rule_name),
                f.account_id.clone(),
                f.region.clone(),
                f.resource_name.clone(),
                f.message.clone(),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    if !report.errors.is_empty() {
        writeln!(
            out,
            "\nCollection errors (not checked, NOT compliant: fix access and scan again):"
        )?;
        let mut table = new_table(
            width,
            &["Account", "Region", "Resource", "Operation", "Error"],
        );
        for e in &report.errors {
            table.add_row(vec![
                e.account_id.clone(),
                e.region.clone(),
                e.resource.clone(),
                e.operation.clone(),
                format!("{}: {}", e.code, e.message),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    if !report.notices.is_empty() {
        writeln!(out, "\nChecks not evaluated:")?;
        let mut table = new_table(width, &["Rule", "Account", "Region", "Reason"]);
        for n in &report.notices {
            table.add_row(vec![
                n.rule_id.clone(),
                n.account_id.clone(),
                n.region.clone(),
                n.message.clone(),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    writeln!(out, "\n{}", report.summary_line())
}
