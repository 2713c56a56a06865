//! The terminal table (`--format table`, the default).
//!
//! Findings are sorted by severity, account, region and service; collection errors and checks
//! that were not evaluated follow in tables of their own, then one summary line. The width is the
//! terminal's when writing to one, else a fixed 160 columns, so output to files and snapshot tests
//! is stable. Text from the data (names, messages, AWS's error messages) is shown with its control
//! characters escaped ([`printable`]): a terminal escape sequence in a service name must not
//! redraw the reader's screen.

use super::Report;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use std::borrow::Cow;
use std::io::{self, Write};

/// `text` with every control character (escape, carriage return, newline...) written as a
/// Rust-style escape (`\u{1b}`), so that it shows as text instead of acting on the terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect(),
    )
}

/// [`printable`], owned, for a table cell.
fn cell(text: &str) -> String {
    printable(text).into_owned()
}

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
                format!("{}\n{}", cell(&f.rule_id), cell(&f.rule_name)),
                cell(&f.account_id),
                cell(&f.region),
                cell(&f.resource_name),
                cell(&f.message),
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
                cell(&e.account_id),
                cell(&e.region),
                cell(&e.resource),
                cell(&e.operation),
                cell(&format!("{}: {}", e.code, e.message)),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    if !report.notices.is_empty() {
        writeln!(out, "\nChecks not evaluated:")?;
        let mut table = new_table(width, &["Rule", "Account", "Region", "Reason"]);
        for n in &report.notices {
            table.add_row(vec![
                cell(&n.rule_id),
                cell(&n.account_id),
                cell(&n.region),
                cell(&n.message),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    writeln!(out, "\n{}", report.summary_line())
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("web-api"), "web-api");
        assert_eq!(
            printable("x\u{1b}[2J\u{1b}]0;pwned\u{7}\r\ny"),
            "x\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\r\\ny"
        );
    }
}
