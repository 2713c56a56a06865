//! Rules: one TOML data file each under `rules/`, embedded in the binary at build time.
//!
//! A rule file holds the rule's metadata (ID, name, default severity, documentation, tags, help
//! URI), its settings, and its logic as CEL expressions (the Common Expression Language, run by
//! the maintained `cel` crate). The format is documented in `rules/README.md`; the catalog users
//! read (`apprunner-audit rules`, `rules explain`, the README's table) is generated from these
//! files, so the documentation cannot drift from the logic.
//!
//! Loading checks every file fully (unknown keys, bad severities, expressions that do not parse)
//! and reports the first problem as `file:line:column: problem`, so a broken rule is exit 2, never
//! a rule silently skipped.

mod direct;
pub mod eval;
pub mod view;

use crate::finding::Severity;
use cel::{Env, Program};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use toml::Spanned;

/// The rule files compiled into the binary: `(file name, contents)`, sorted by name.
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// The CEL environment every rule runs in: the standard library, the strings extension and
/// [`contains_any`].
pub(crate) static CEL_ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension declares cleanly on the standard library");
    env.add_member_overload(
        "containsAny",
        "string.containsAny(list)",
        cel::common::types::STRING_TYPE,
        vec![cel::common::types::LIST_TYPE],
        contains_any,
    )
    .expect("containsAny is not declared by the standard library or the strings extension");
    Arc::new(env)
});

/// `text.containsAny(['a', 'b'])`: whether `text` contains any of the strings, like
/// `text.contains('a') || text.contains('b')` in one call, except that every word must be a
/// string (a word of another type is an error even after a match). Rules match names against lists of
/// words (AR020's secret-like names); written as a chain of `contains`, the interpreter resolved
/// and dispatched each call on its own, which was a third of all evaluation time on 100,000
/// services (341,000 environment variables).
fn contains_any<'b, 'v>(
    args: Vec<cel::common::value::CowVal<'b, 'v>>,
) -> Result<cel::common::value::CowVal<'b, 'v>, cel::ExecutionError> {
    use cel::common::types::{CelBool, CelString};
    use cel::common::value::{CowVal, Val};
    let unexpected = |v: &dyn Val, want: &str| cel::ExecutionError::UnexpectedType {
        got: v.get_type().name().to_owned(),
        want: want.to_owned(),
    };
    let [text, words] = args.as_slice() else {
        return Err(cel::ExecutionError::invalid_argument_count(2, args.len()));
    };
    let text = text
        .downcast_ref::<CelString>()
        .ok_or_else(|| unexpected(text.as_ref(), "string"))?;
    let mut words = words
        .as_iterable()
        .ok_or_else(|| unexpected(words.as_ref(), "list(string)"))?
        .iter();
    let mut found = false;
    while let Some(word) = words.next() {
        let word = word
            .downcast_ref::<CelString>()
            .ok_or_else(|| unexpected(word, "string"))?;
        found = found || text.inner().contains(word.inner());
    }
    Ok(CowVal::owned(CelBool::from(found)))
}

/// A rule file that could not be loaded: where and why (line and column 0: the whole file, or
/// the directory, and no position is shown).
#[derive(Debug, thiserror::Error)]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, 0) => write!(f, "{}: {}", self.file, self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
        }
    }
}

/// Which inventory facts a rule needs beyond the service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Facts only an active TLS probe (`--probe-tls`) collects; the rule is not evaluated unless
    /// the probe ran.
    TlsProbe,
}

/// The documentation sections of a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docs {
    /// What the rule checks.
    pub what: String,
    /// Why a violation matters.
    pub why: String,
    /// How to fix it.
    pub fix: String,
    /// Choices made where the rule catalog is silent.
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
}

/// The logic of a rule, as CEL source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogic {
    for_each: Option<Spanned<String>>,
    when: Spanned<String>,
    message: Spanned<String>,
    severity: Option<Spanned<String>>,
    discriminator: Option<Spanned<String>>,
    properties: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    name: String,
    severity: Spanned<String>,
    #[serde(default = "yes")]
    enabled_by_default: bool,
    title: String,
    help_uri: String,
    tags: Vec<String>,
    #[serde(default)]
    requires: Vec<Requirement>,
    docs: Docs,
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
    logic: RawLogic,
}

fn yes() -> bool {
    true
}

/// A compiled CEL expression and its source, for messages.
#[derive(Debug)]
pub struct Expr {
    pub source: String,
    pub program: Program,
    /// What evaluation runs: the program's expression with the variables' fields read directly
    /// ([`direct`]).
    pub run: cel::IdedExpr,
}

/// The variables a rule can read (see [`eval`]).
const VARIABLES: [&str; 4] = ["service", "key", "settings", "item"];

impl Expr {
    fn new(source: String, program: Program) -> Self {
        let run = direct::rewrite(program.expression(), &VARIABLES);
        Expr {
            source,
            program,
            run,
        }
    }
}

/// The compiled logic of a rule.
#[derive(Debug)]
pub struct Logic {
    pub for_each: Option<Expr>,
    pub when: Expr,
    pub message: Expr,
    pub severity: Option<Expr>,
    pub discriminator: Option<Expr>,
    pub properties: Option<Expr>,
    /// All of the above as one program, which is what runs: `null` when `for_each` is unknown,
    /// else the list of findings, each a map of `message`, `severity`, `discriminator` and
    /// `properties`. One program per rule and service lets CEL bind `item` in its own
    /// comprehension instead of the engine copying every item in and out of the interpreter
    /// (measured: the separate programs cost about twice as much).
    pub combined: Expr,
    /// `when` reads neither `service` nor `item` (and there is no `for_each`): its answer depends
    /// on the key alone, so evaluation asks it once per key instead of once per service.
    pub key_only: bool,
    /// `for_each` is one of the service's own lists and `when` reads neither `service` nor
    /// `key`: its answer depends on the item alone, so evaluation asks it once per distinct item
    /// (the same variables recur across the services of an organization) and builds the
    /// findings of the items that fire with [`ItemOnly::finding`].
    pub item_only: Option<ItemOnly>,
}

/// How an item-only rule ([`Logic::item_only`]) is evaluated.
#[derive(Debug)]
pub struct ItemOnly {
    /// The list of the service its `for_each` names.
    pub items: Items,
    /// The finding map alone (`message`, `severity`, `discriminator`, `properties`), with `item`
    /// bound by evaluation.
    pub finding: Expr,
}

/// A list of the service that `for_each` names directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// `service.environment`
    Environment,
    /// `service.secrets`
    Secrets,
    /// `service.custom_domains`
    CustomDomains,
}

impl Logic {
    /// The finding map of the combined program, on its own.
    fn finding_source(&self) -> String {
        let part = |e: &Option<Expr>, default: &str| {
            e.as_ref()
                .map_or(default.to_string(), |e| format!("({})", e.source.trim()))
        };
        format!(
            "{{'message': ({}), 'severity': {}, 'discriminator': {}, 'properties': {}}}",
            self.message.source.trim(),
            part(&self.severity, "null"),
            part(&self.discriminator, "null"),
            part(&self.properties, "{}"),
        )
    }

    /// The combined program's source, from the parts (each already compiled on its own, so that
    /// an error points at the part the author wrote).
    fn combined_source(&self) -> String {
        let finding = self.finding_source();
        let when = self.when.source.trim();
        match &self.for_each {
            Some(each) => {
                let each = each.source.trim();
                format!(
                    "({each}) == null ? null : ({each}).filter(item, ({when})).map(item, {finding})"
                )
            }
            None => format!("({when}) ? [{finding}] : []"),
        }
    }
}

/// A loaded, checked rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub name: String,
    /// The default severity; the `severity` expression may raise or lower it per finding.
    pub severity: Severity,
    pub enabled_by_default: bool,
    pub title: String,
    pub help_uri: String,
    pub tags: Vec<String>,
    pub requires: Vec<Requirement>,
    pub docs: Docs,
    /// Settings as JSON, bound to `settings` in every expression.
    pub settings: serde_json::Value,
    pub logic: Logic,
    /// Where it came from: `embedded:AR001.toml` or a path given with `--rules`.
    pub origin: String,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Byte offset where the contents of a TOML string literal spanning `span` start.
fn content_start(text: &str, span: &Range<usize>) -> usize {
    let literal = &text[span.clone()];
    let mut start = span.start;
    if literal.starts_with("'''") || literal.starts_with("\"\"\"") {
        start += 3;
        // TOML trims a newline directly after the opening delimiter.
        if text[start..].starts_with("\r\n") {
            start += 2;
        } else if text[start..].starts_with('\n') {
            start += 1;
        }
    } else if literal.starts_with('\'') || literal.starts_with('"') {
        start += 1;
    }
    start
}

/// Joins the hard-wrapped lines of each paragraph (rule files wrap at 100 columns; outputs should
/// not), keeping blank lines between paragraphs.
fn unwrap_paragraphs(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Rule {
    /// Parses and checks one rule file. `origin` names it in errors; `file_name` must be
    /// `<ID>.toml`.
    pub fn parse(text: &str, origin: &str, file_name: &str) -> Result<Rule, RuleError> {
        let error_at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            RuleError {
                file: origin.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawRule = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            error_at(offset, e.message().trim().to_string())
        })?;

        let id = raw.id.get_ref().clone();
        let id_ok = id.len() >= 3
            && id.chars().take_while(|c| c.is_ascii_uppercase()).count() >= 1
            && id
                .chars()
                .skip_while(|c| c.is_ascii_uppercase())
                .all(|c| c.is_ascii_digit())
            && id.chars().last().is_some_and(|c| c.is_ascii_digit());
        if !id_ok {
            return Err(error_at(
                raw.id.span().start,
                format!("rule id '{id}' must be upper-case letters then digits, like AR001"),
            ));
        }
        if file_name != format!("{id}.toml") {
            return Err(error_at(
                raw.id.span().start,
                format!(
                    "rule id '{id}' does not match the file name '{file_name}': name the file {id}.toml"
                ),
            ));
        }
        let severity: Severity = raw
            .severity
            .get_ref()
            .parse()
            .map_err(|e: String| error_at(raw.severity.span().start, e))?;
        if !raw.tags.iter().any(|t| t == "security") {
            return Err(error_at(
                0,
                "tags must include \"security\" (GitHub code scanning reads security-severity only then)".into(),
            ));
        }
        let settings = serde_json::to_value(&raw.settings)
            .map_err(|e| error_at(0, format!("settings cannot be represented: {e}")))?;

        let compile = |field: &str, spanned: &Spanned<String>| -> Result<Expr, RuleError> {
            let source = spanned.get_ref().clone();
            let start = content_start(text, &spanned.span());
            match CEL_ENV.compile(&source) {
                Ok(program) => Ok(Expr::new(source, program)),
                Err(errors) => {
                    let first = errors.errors.first();
                    let (l, c) = first.map_or((1, 0), |e| {
                        (e.pos.0.max(1) as usize, e.pos.1.max(0) as usize)
                    });
                    let msg = first.map_or_else(|| errors.to_string(), |e| e.msg.clone());
                    // Position inside the expression, mapped onto the file.
                    let (base_line, base_col) = line_col(text, start);
                    let (line, column) = if l == 1 {
                        (base_line, base_col + c)
                    } else {
                        (base_line + l - 1, c + 1)
                    };
                    Err(RuleError {
                        file: origin.to_string(),
                        line,
                        column,
                        message: format!("logic.{field} is not a valid CEL expression: {msg}"),
                    })
                }
            }
        };
        let optional = |field: &str, spanned: &Option<Spanned<String>>| {
            spanned.as_ref().map(|s| compile(field, s)).transpose()
        };
        let for_each = optional("for_each", &raw.logic.for_each)?;
        let when = compile("when", &raw.logic.when)?;
        let message = compile("message", &raw.logic.message)?;
        let severity_expr = optional("severity", &raw.logic.severity)?;
        let discriminator = optional("discriminator", &raw.logic.discriminator)?;
        let properties = optional("properties", &raw.logic.properties)?;
        let key_only = for_each.is_none() && {
            let refs = when.program.references();
            !refs.has_variable("service") && !refs.has_variable("item")
        };
        let items = for_each
            .as_ref()
            .and_then(|each| match each.source.trim() {
                "service.environment" => Some(Items::Environment),
                "service.secrets" => Some(Items::Secrets),
                "service.custom_domains" => Some(Items::CustomDomains),
                _ => None,
            })
            .filter(|_| {
                let refs = when.program.references();
                !refs.has_variable("service") && !refs.has_variable("key")
            });
        let placeholder = || {
            Expr::new(
                String::new(),
                CEL_ENV.compile("null").expect("null compiles"),
            )
        };
        let mut logic = Logic {
            key_only,
            item_only: None,
            for_each,
            when,
            message,
            severity: severity_expr,
            discriminator,
            properties,
            combined: placeholder(),
        };
        // The parts compiled on their own above; their combinations are expected to compile too.
        let combine = |source: String, at: usize, what: &str| {
            CEL_ENV
                .compile(&source)
                .map(|program| Expr::new(source, program))
                .map_err(|e| {
                    error_at(
                        at,
                        format!("the {what} does not combine into one CEL program: {e}"),
                    )
                })
        };
        if let Some(items) = items {
            let finding = combine(
                logic.finding_source(),
                raw.logic.message.span().start,
                "finding",
            )?;
            logic.item_only = Some(ItemOnly { items, finding });
        }
        logic.combined = combine(
            logic.combined_source(),
            raw.logic.when.span().start,
            "logic",
        )?;
        let mut docs = raw.docs;
        for text in [&mut docs.what, &mut docs.why, &mut docs.fix] {
            *text = unwrap_paragraphs(text);
        }
        docs.notes = docs.notes.as_deref().map(unwrap_paragraphs);
        Ok(Rule {
            id,
            name: raw.name,
            severity,
            enabled_by_default: raw.enabled_by_default,
            title: raw.title,
            help_uri: raw.help_uri,
            tags: raw.tags,
            requires: raw.requires,
            docs,
            settings,
            logic,
            origin: origin.to_string(),
        })
    }

    /// The rule's documentation as Markdown (used by `rules explain` and SARIF `help.markdown`).
    pub fn help_markdown(&self) -> String {
        let mut out = format!(
            "## {} {}\n\n{}\n\nDefault severity: **{}**{}\n\n### What it does\n\n{}\n\n### Why is this bad?\n\n{}\n\n### How to fix it\n\n{}\n",
            self.id,
            self.name,
            self.title,
            self.severity,
            if self.enabled_by_default {
                ""
            } else {
                " (off by default: enable with `--enable`)"
            },
            self.docs.what.trim(),
            self.docs.why.trim(),
            self.docs.fix.trim(),
        );
        if let Some(notes) = &self.docs.notes {
            out.push_str(&format!("\n### Choices made\n\n{}\n", notes.trim()));
        }
        if !self.docs.references.is_empty() || !self.help_uri.is_empty() {
            out.push_str("\n### References\n\n");
            out.push_str(&format!("- {}\n", self.help_uri));
            for r in &self.docs.references {
                out.push_str(&format!("- {r}\n"));
            }
        }
        out
    }

    /// The rule's documentation as plain text (SARIF `help.text`).
    pub fn help_text(&self) -> String {
        format!(
            "{}\n\nWhy: {}\n\nFix: {}",
            self.docs.what.trim(),
            self.docs.why.trim(),
            self.docs.fix.trim()
        )
    }
}

/// All rules known to a run, by ID.
#[derive(Debug, Default)]
pub struct Catalog {
    pub rules: BTreeMap<String, Rule>,
}

impl Catalog {
    /// Checks that `ids` name built-in rules, without compiling them: each built-in file is
    /// named after its rule's ID, which [`Rule::parse`] checks. Errors as [`Catalog::select`].
    pub fn check_embedded_ids<'a>(ids: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
        check_ids(ids, |id| {
            EMBEDDED
                .iter()
                .any(|(file_name, _)| file_name.strip_suffix(".toml") == Some(id))
        })
    }

    /// The rules built into the binary.
    pub fn embedded() -> Result<Catalog, RuleError> {
        let mut catalog = Catalog::default();
        for (file_name, text) in EMBEDDED {
            let rule = Rule::parse(text, &format!("rules/{file_name}"), file_name)?;
            catalog.rules.insert(rule.id.clone(), rule);
        }
        Ok(catalog)
    }

    /// Adds or replaces rules with every `*.toml` file of `dir` (`--rules DIR`).
    pub fn extend_from_dir(&mut self, dir: &Path) -> Result<(), RuleError> {
        let unreadable = |message: String| RuleError {
            file: dir.display().to_string(),
            line: 0,
            column: 0,
            message,
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| unreadable(format!("cannot read rules directory: {e}")))?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| unreadable(format!("cannot list rules directory: {e}")))?
                .path();
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
            {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(unreadable(
                "no rule files (*.toml) in this directory: point --rules at a folder of rule files"
                    .into(),
            ));
        }
        paths.sort();
        for path in paths {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| RuleError {
                file: shown.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read rule file: {e}"),
            })?;
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rule = Rule::parse(&text, &shown, &file_name)?;
            self.rules.insert(rule.id.clone(), rule);
        }
        Ok(())
    }

    /// The rules a run evaluates: the default-on ones, plus `enable`, minus `disable`.
    /// Unknown IDs are an error naming them.
    pub fn select(&self, enable: &[String], disable: &[String]) -> Result<Vec<&Rule>, String> {
        check_ids(enable.iter().chain(disable), |id| {
            self.rules.contains_key(id)
        })?;
        let selected: Vec<&Rule> = self
            .rules
            .values()
            .filter(|r| {
                (r.enabled_by_default || enable.contains(&r.id)) && !disable.contains(&r.id)
            })
            .collect();
        if selected.is_empty() {
            // A scan that checks nothing would pass.
            return Err(
                "no rule left to evaluate: --disable removed every rule the defaults and --enable select; keep at least one"
                    .into(),
            );
        }
        Ok(selected)
    }
}

/// The first of `ids` that is not `known`, as an error naming it.
fn check_ids<'a>(
    ids: impl IntoIterator<Item = &'a String>,
    known: impl Fn(&str) -> bool,
) -> Result<(), String> {
    match ids.into_iter().find(|id| !known(id)) {
        Some(id) => Err(format!(
            "unknown rule ID '{id}': run `apprunner-audit rules` to list the rule IDs"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "XX001"
name = "Example"
severity = "low"
title = "An example"
help_uri = "https://example.com"
tags = ["security"]
[docs]
what = "w"
why = "y"
fix = "f"
[logic]
when = "true"
message = "'m'"
"#;

    #[test]
    fn embedded_rules_load() {
        let catalog = Catalog::embedded().unwrap();
        assert!(catalog.rules.len() >= 11, "{}", catalog.rules.len());
    }

    #[test]
    fn embedded_ids_are_checked_without_compiling_as_select_checks_them() {
        let catalog = Catalog::embedded().unwrap();
        for id in catalog.rules.keys() {
            assert_eq!(Catalog::check_embedded_ids([id]), Ok(()));
        }
        let unknown = ["AR001".to_string(), "AR999".to_string()];
        assert_eq!(
            Catalog::check_embedded_ids(&unknown),
            catalog.select(&unknown, &[]).map(|_| ())
        );
        assert!(
            Catalog::check_embedded_ids(&unknown)
                .unwrap_err()
                .contains("'AR999'")
        );
    }

    #[test]
    fn parses_a_minimal_rule() {
        let rule = Rule::parse(GOOD, "x", "XX001.toml").unwrap();
        assert_eq!(rule.id, "XX001");
        assert!(rule.enabled_by_default);
    }

    #[test]
    fn points_at_a_bad_expression() {
        let text = GOOD.replace(
            "when = \"true\"",
            "when = '''\nservice.name == \n  && true'''",
        );
        let err = Rule::parse(&text, "rules/XX001.toml", "XX001.toml").unwrap_err();
        assert_eq!(err.file, "rules/XX001.toml");
        assert!(err.message.contains("logic.when"), "{err}");
        // The expression starts on line 14 of the file; the error is on its second line.
        assert_eq!(err.line, 15, "{err}");
    }

    #[test]
    fn points_at_a_bad_severity() {
        let text = GOOD.replace("\"low\"", "\"severe\"");
        let err = Rule::parse(&text, "f", "XX001.toml").unwrap_err();
        assert_eq!((err.line, err.column), (4, 12), "{err}");
        assert!(err.message.contains("unknown severity"));
    }

    #[test]
    fn refuses_unknown_keys_and_mismatched_names() {
        let err = Rule::parse(&format!("{GOOD}\nextra = 1\n"), "f", "XX001.toml").unwrap_err();
        assert!(err.message.contains("unknown field"), "{err}");
        let err = Rule::parse(GOOD, "f", "XX002.toml").unwrap_err();
        assert!(
            err.message.contains("does not match the file name"),
            "{err}"
        );
    }

    #[test]
    fn selects_by_default_and_flags() {
        let catalog = Catalog::embedded().unwrap();
        let ids = |rules: Vec<&Rule>| rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        let default = ids(catalog.select(&[], &[]).unwrap());
        assert!(default.contains(&"AR001".to_string()));
        assert!(!default.contains(&"AR030".to_string()));
        let custom = ids(catalog
            .select(&["AR030".into()], &["AR001".into()])
            .unwrap());
        assert!(custom.contains(&"AR030".to_string()) && !custom.contains(&"AR001".to_string()));
        assert!(
            catalog
                .select(&["AR999".into()], &[])
                .unwrap_err()
                .contains("AR999")
        );
    }
}
