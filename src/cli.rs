//! The command line: flags, dispatch, output files and exit statuses.
//!
//! Every bad input ends here as one line on stderr naming the problem and the fix, with exit
//! status 2 ([`EXIT_USAGE`]); nothing is scanned and no report claims success. A broken pipe on
//! stdout (`apprunner-audit scan | head`) is a quiet exit, not an error.

mod sink;

use crate::collect::aws::accounts::{AccountChoice, Shard};
use crate::collect::aws::{self, AwsOptions, RegionChoice};
use crate::collect::progress::Progress;
use crate::finding::Severity;
use crate::inventory::Inventory;
use crate::report::{EXIT_USAGE, FailOn, Report, json, sarif, table};
use crate::rules::eval::{self, Capabilities};
use crate::rules::{Catalog, Rule};
use anyhow::{Context as _, Result, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sink::{Sink, resolved};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "apprunner-audit",
    version,
    about = "Audits AWS App Runner services for data protection: customer managed KMS keys, key state and rotation, TLS-only access, secrets out of plain environment variables.",
    after_help = "Exit status: 0 no finding at or above --fail-on; 1 findings at or above it; 2 usage, configuration or credential error; 3 no such finding but the scan is incomplete."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan App Runner services (live AWS, or a saved inventory) and report findings.
    Scan(Box<ScanArgs>),
    /// List the rule catalog, or explain one rule.
    Rules(RulesArgs),
    /// Combine JSON reports (e.g. of `--shard` jobs) into one report.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// AWS profile for the caller's credentials (default: the SDK's default chain).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Regions to scan: a comma-separated list, or `all` (every region that offers App Runner).
    /// Default: the configured region.
    #[arg(long, value_name = "LIST")]
    regions: Option<String>,
    /// Scan every ACTIVE account of the organization (needs the management account or a
    /// delegated administrator).
    #[arg(long, conflicts_with = "accounts")]
    org: bool,
    /// Scan these accounts (comma-separated 12-digit IDs) instead of the caller's.
    #[arg(long, value_name = "IDS")]
    accounts: Option<String>,
    /// Role assumed in every scanned account other than the caller's.
    #[arg(
        long,
        default_value = "OrganizationAccountAccessRole",
        value_parser = parse_role_name,
        value_name = "NAME"
    )]
    role_name: String,
    /// External ID to pass when assuming the role.
    #[arg(long, value_parser = parse_external_id, value_name = "ID")]
    external_id: Option<String>,
    /// Session name of the assumed roles (shows in CloudTrail).
    #[arg(long, default_value = "apprunner-audit", value_parser = parse_session_name, value_name = "NAME")]
    role_session_name: String,
    /// Scan only slice K of N of the accounts (e.g. 2/8), for parallel jobs; merge their JSON
    /// reports with `apprunner-audit merge`.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Re-scan a saved inventory instead of calling AWS (no AWS call at all).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["profile", "regions", "save_inventory", "org", "accounts", "shard", "adaptive_retries", "role_name", "external_id", "role_session_name", "max_attempts", "concurrency", "region_concurrency"])]
    from_inventory: Option<PathBuf>,
    /// Also write the collected inventory (versioned JSON, secret values masked) to FILE.
    #[arg(long, value_name = "FILE")]
    save_inventory: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Lowest severity that makes the exit status 1: critical, high, medium, low or never.
    #[arg(long, default_value = "high", value_parser = parse_fail_on, value_name = "SEVERITY")]
    fail_on: FailOn,
    /// Add or override rules with the rule files (*.toml) of DIR.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Also evaluate these rules (comma-separated IDs), e.g. the off-by-default AR030-AR032.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    enable: Vec<String>,
    /// Do not evaluate these rules (comma-separated IDs).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    disable: Vec<String>,
    /// Use the SDK's adaptive retry mode (client-side rate limiting after throttling) instead of
    /// exponential backoff alone.
    #[arg(long)]
    adaptive_retries: bool,
    /// Attempts per AWS call, the first included (retries back off exponentially, with jitter).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=20), value_name = "N")]
    max_attempts: u32,
    /// AWS calls in flight at once over the whole scan.
    // 512: at 256 this cap, not the per-account ones, paced the org_scan benchmark (calls in
    // flight pinned at 250 for most of the scan); 1,024 was slower on 2 cores (a third more
    // memory and connections) and nears the usual soft limit of 1,024 open files.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=4096), value_name = "N")]
    concurrency: u32,
    /// AWS calls in flight at once within one account and region (keeps each account's API
    /// rate bounded however many accounts run at once).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64), value_name = "N")]
    region_concurrency: u32,
    /// SARIF `automationDetails.id` (default: derived from the accounts and regions scanned).
    #[arg(long, value_parser = parse_automation_id, value_name = "ID")]
    automation_id: Option<String>,
    /// No progress or summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// JSON reports written by `apprunner-audit scan --format json`.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Lowest severity that makes the exit status 1 (default: the one the reports were made with).
    #[arg(long, value_parser = parse_fail_on, value_name = "SEVERITY")]
    fail_on: Option<FailOn>,
    /// Rule files the reports were made with, if not only the built-in ones (for SARIF help).
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// SARIF `automationDetails.id` (default: derived from the merged accounts and regions).
    #[arg(long, value_parser = parse_automation_id, value_name = "ID")]
    automation_id: Option<String>,
    /// No summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RulesFormat {
    Table,
    Markdown,
}

#[derive(Debug, Args)]
struct RulesArgs {
    #[command(subcommand)]
    action: Option<RulesAction>,
    /// Catalog format (`markdown` is the README's rule table).
    #[arg(long, value_enum, default_value_t = RulesFormat::Table)]
    format: RulesFormat,
    /// Add or override rules with the rule files (*.toml) of DIR.
    #[arg(long, value_name = "DIR", global = true)]
    rules: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RulesAction {
    /// Print one rule's documentation: what, why, how to fix, references.
    Explain {
        /// Rule ID, e.g. AR003.
        id: String,
    },
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    s.parse()
}

/// `text` if it is `min..=max` characters of ASCII letters, digits and `extra`, as IAM and STS
/// require of the name; else why not. Checked here, a typo is one usage error, not an
/// `AssumeRole` failure in every account of the organization.
fn iam_name(text: &str, what: &str, min: usize, max: usize, extra: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || extra.contains(c);
    if !(min..=max).contains(&text.chars().count()) || !text.chars().all(allowed) {
        return Err(format!(
            "'{text}' is not a valid {what}: {min} to {max} characters of letters, digits and {}",
            extra
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(text.to_string())
}

/// A role name, optionally after its path (`security/AuditRole`).
fn parse_role_name(s: &str) -> Result<String, String> {
    iam_name(
        s,
        "IAM role name (with its path, if any)",
        1,
        576,
        "_+=,.@-/",
    )
}

fn parse_session_name(s: &str) -> Result<String, String> {
    iam_name(s, "role session name", 2, 64, "_+=,.@-")
}

fn parse_external_id(s: &str) -> Result<String, String> {
    iam_name(s, "external ID", 2, 1224, "_+=,.@:/-")
}

fn parse_automation_id(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("the SARIF category is empty: name it, e.g. apprunner-audit/prod/".into());
    }
    Ok(s.to_string())
}

/// A line on stderr, or nothing if stderr is gone (a closed pipe), where `eprintln!` would panic
/// (and, from the panic hook, abort).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A problem with the user's input or environment: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow!(UsageError(message.into()))
}

/// Runs the command line and returns the exit status.
pub fn main() -> i32 {
    std::panic::set_hook(Box::new(|info| {
        let info = info.to_string().replace('\n', " ");
        say!(
            "apprunner-audit: internal error (a bug, please report it): {info}; no report was produced"
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // One line, like every other usage error: clap's problem, its hint (possible
            // values, a similar flag) and the pointer to --help.
            let text = e.render().to_string();
            let line = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            say!("apprunner-audit: {line}");
            return EXIT_USAGE;
        }
    };
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Scan(args) => scan(*args),
        Command::Rules(args) => rules(args),
        Command::Merge(args) => merge(args),
    });
    match result {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            // One line, whatever the data in the message holds.
            let message = format!("{e:#}");
            say!("apprunner-audit: error: {}", table::printable(&message));
            EXIT_USAGE
        }
        Err(_) => EXIT_USAGE,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn catalog(dir: Option<&Path>) -> Result<Catalog> {
    let mut catalog = Catalog::embedded().map_err(|e| usage(format!("built-in rule {e}")))?;
    if let Some(dir) = dir {
        catalog
            .extend_from_dir(dir)
            .map_err(|e| usage(format!("rule file {e}")))?;
    }
    Ok(catalog)
}

/// Phase timings on stderr when `APPRUNNER_AUDIT_TIMINGS` is set: for performance work on real
/// inventories, never part of a report.
struct Timings {
    enabled: bool,
    last: std::time::Instant,
}

impl Timings {
    fn new() -> Self {
        Timings {
            enabled: std::env::var_os("APPRUNNER_AUDIT_TIMINGS").is_some(),
            last: std::time::Instant::now(),
        }
    }

    fn mark(&mut self, phase: &str) {
        if self.enabled {
            say!(
                "apprunner-audit: timing: {phase} {:.3} s",
                self.last.elapsed().as_secs_f64()
            );
            self.last = std::time::Instant::now();
        }
    }
}

/// The rules of a scan: compiled, or being compiled on a thread of their own.
enum Rules {
    Ready(Catalog),
    Compiling(std::thread::JoinHandle<Result<Catalog>>),
}

fn scan(args: ScanArgs) -> Result<i32> {
    let mut timings = Timings::new();
    if let Some(id) = args.enable.iter().find(|id| args.disable.contains(id)) {
        return Err(usage(format!(
            "rule {id} is in both --enable and --disable: keep it in one"
        )));
    }
    // The built-in rules take about 10 ms to compile, which a scan spent before its first AWS
    // call or before reading its inventory: they are compiled on a thread of their own while
    // the scan waits on the network or parses the file (on one core), the rule IDs named on
    // the command line checked first (built-in rules are named after their IDs). Rules of
    // --rules, which may not compile, and selections with --disable, which may leave no rule,
    // are compiled and checked before scanning.
    let rules = if args.rules.is_none() && args.disable.is_empty() {
        Catalog::check_embedded_ids(&args.enable).map_err(usage)?;
        Rules::Compiling(std::thread::spawn(|| catalog(None)))
    } else {
        let catalog = catalog(args.rules.as_deref())?;
        catalog.select(&args.enable, &args.disable).map_err(usage)?;
        Rules::Ready(catalog)
    };
    let region_choice = match &args.regions {
        Some(text) => RegionChoice::parse(text).map_err(usage)?,
        None => RegionChoice::Configured,
    };
    let account_choice = match (&args.accounts, args.org) {
        (Some(list), _) => AccountChoice::parse_list(list).map_err(usage)?,
        (None, true) => AccountChoice::Organization,
        (None, false) => AccountChoice::Caller,
    };
    if args.shard.is_some() && account_choice == AccountChoice::Caller {
        // One account has nothing to split: the shard without it would scan nothing and pass.
        return Err(usage(
            "--shard splits the accounts of --org or --accounts: add one of them, or drop --shard to scan the caller's account",
        ));
    }
    // One file for two of them: the report would replace the inventory it was made from, or
    // the inventory and the report would overwrite each other.
    let files = [
        ("--output", args.output.as_deref()),
        ("--from-inventory", args.from_inventory.as_deref()),
        ("--save-inventory", args.save_inventory.as_deref()),
    ];
    for (i, (flag, path)) in files.iter().enumerate() {
        for (other, other_path) in &files[i + 1..] {
            // (A device such as /dev/null may well be named twice.)
            if let (Some(a), Some(b)) = (path, other_path)
                && a.as_os_str() != "-"
                && std::fs::metadata(a).ok().is_none_or(|m| m.is_file())
                && let Some(file) = resolved(a)
                && resolved(b) == Some(file)
            {
                return Err(usage(format!(
                    "{flag} and {other} both name {}: choose another {flag} file",
                    a.display()
                )));
            }
        }
    }
    // Both destinations are made ready before the scan: an unwritable one fails fast.
    let sink = Sink::report(args.output.as_deref())?;
    let inventory_sink = args
        .save_inventory
        .as_deref()
        .map(|path| Sink::file(path, "inventory", "--save-inventory"))
        .transpose()?;

    // A live scan's progress, on a terminal only; cleared if the scan ends without a report.
    let progress = Progress::new(
        args.from_inventory.is_none() && !args.quiet && std::io::stderr().is_terminal(),
    );
    let inventory = match &args.from_inventory {
        Some(path) => match Inventory::load(path) {
            Ok(inv) => inv,
            Err(e) => {
                // A file that could not be read needs a readable path, not another file.
                return Err(usage(match e {
                    crate::inventory::LoadError::Io { .. } => {
                        format!("{e}: check the path and its permissions")
                    }
                    _ => format!(
                        "{e}; pass a file written by `apprunner-audit scan --save-inventory`"
                    ),
                }));
            }
        },
        None => {
            let opts = AwsOptions {
                profile: args.profile.clone(),
                regions: region_choice,
                accounts: account_choice,
                role_name: args.role_name.clone(),
                external_id: args.external_id.clone(),
                role_session_name: args.role_session_name.clone(),
                shard: args.shard,
                max_attempts: args.max_attempts,
                adaptive_retries: args.adaptive_retries,
                concurrency: args.concurrency as usize,
                scope_concurrency: args.region_concurrency as usize,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let collected = runtime.block_on(aws::collect(&opts, &progress));
            // Everything collected is in hand: the connections and idle tasks left need no
            // shutdown at all. Waiting for an orderly one took 18 ms after an organization
            // scan; one in the background (closing hundreds of connections, dropping their
            // tasks) competed with the evaluation for the cores (evaluation after the org_scan
            // benchmark: 23-29 ms with it, 17-19 ms without). The runtime's threads stay
            // parked, and the connection pool open and idle, until the process exits, right
            // after the report.
            std::mem::forget(runtime);
            match collected {
                Ok((inv, leftovers)) => {
                    std::mem::forget(leftovers);
                    inv
                }
                Err(e) => {
                    return Err(usage(e.to_string()));
                }
            }
        }
    };
    timings.mark("collect or load");
    if let Some(inventory_sink) = inventory_sink {
        // Not written, whatever the reason (a closed pipe included), is an error: the
        // inventory is the evidence asked for.
        inventory_sink
            .write_with(|out| out.write_all(inventory.to_json().as_bytes()))
            .map_err(|e| usage(format!("{e:#}")))?;
    }

    let catalog = match rules {
        Rules::Ready(catalog) => catalog,
        Rules::Compiling(thread) => thread
            .join()
            .map_err(|_| anyhow::anyhow!("compiling the built-in rules failed"))??,
    };
    let selected = catalog.select(&args.enable, &args.disable).map_err(usage)?;
    let runnable = eval::runnable(&selected, Capabilities::default());
    let evaluation = eval::evaluate(&inventory, &runnable);
    timings.mark("evaluate");
    // Shards of one scan get a category each, so that uploading one does not close the
    // alerts of another; `merge` of all shards gets the unsharded scan's category.
    let automation_id = args.automation_id.clone().or_else(|| {
        args.shard.map(|shard| {
            crate::report::shard_automation_id(
                &inventory.scopes,
                inventory.source.caller_account.as_deref(),
                shard.index,
                shard.count,
            )
        })
    });
    let report = Report::build(
        &inventory,
        &runnable,
        evaluation,
        args.fail_on,
        automation_id,
    );
    progress.done(report.findings.len(), report.errors.len());
    timings.mark("build report");
    let status = emit(&report, &runnable, args.format, sink, args.quiet);
    timings.mark("render");
    // The process ends right after: freeing the inventory and the report one small allocation
    // at a time (millions of them for a large organization) would only delay the exit.
    std::mem::forget(report);
    std::mem::forget(inventory);
    status
}

/// Renders `report` into `sink`, prints the summary line on stderr where the report itself
/// does not end with it, and returns the exit status.
fn emit(report: &Report, rules: &[&Rule], format: Format, sink: Sink, quiet: bool) -> Result<i32> {
    let to_file = !sink.is_stdout();
    let width = (!to_file && std::io::stdout().is_terminal())
        .then(terminal_width)
        .flatten();
    let written = sink.write_with(|out| match format {
        Format::Table => table::render(report, width, out),
        Format::Json => json::render(report, out),
        Format::Sarif => sarif::render(report, rules, out),
    });
    match written {
        // The reader went away (`| head`): the gate's answer stands, whatever was read of it.
        Err(e) if is_broken_pipe(&e) => return Ok(report.exit_status()),
        written => written?,
    }
    if format == Format::Sarif && report.findings.len() > sarif::GITHUB_MAX_RESULTS && !quiet {
        say!(
            "apprunner-audit: warning: {} results exceed GitHub code scanning's {} results per run: split the scan with --shard or --regions and upload each part with its own category",
            report.findings.len(),
            sarif::GITHUB_MAX_RESULTS
        );
    }
    if !quiet && (format != Format::Table || to_file) {
        say!("apprunner-audit: {}", report.summary_line());
    }
    Ok(report.exit_status())
}

fn merge(args: MergeArgs) -> Result<i32> {
    let catalog = catalog(args.rules.as_deref())?;
    let mut reports = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read report {}: {e}", path.display())))?;
        let report = json::parse(&text).map_err(|e| {
            usage(format!(
                "{} is not an apprunner-audit JSON report: {e}; merge reads files written by `scan --format json`",
                path.display()
            ))
        })?;
        reports.push((path.display().to_string(), report));
    }
    let report = Report::merge(reports, args.fail_on, args.automation_id.clone()).map_err(usage)?;
    let mut rules = Vec::new();
    for summary in &report.rules {
        let rule = catalog.rules.get(&summary.id).ok_or_else(|| {
            usage(format!(
                "the reports name rule {} which this build does not know: pass the rule files with --rules DIR",
                summary.id
            ))
        })?;
        rules.push(rule);
    }
    let sink = Sink::report(args.output.as_deref())?;
    emit(&report, &rules, args.format, sink, args.quiet)
}

/// Terminal width from `COLUMNS`, when set by the shell.
fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}

fn rules(args: RulesArgs) -> Result<i32> {
    let catalog = catalog(args.rules.as_deref())?;
    let mut out = Vec::new();
    match args.action {
        Some(RulesAction::Explain { id }) => {
            let rule = catalog.rules.get(&id).ok_or_else(|| {
                usage(format!(
                    "unknown rule ID '{id}': run `apprunner-audit rules` to list the rule IDs"
                ))
            })?;
            writeln!(out, "{}", rule.help_markdown())?;
        }
        None => {
            let rules: Vec<&Rule> = catalog.rules.values().collect();
            match args.format {
                RulesFormat::Table => write_rules_table(&rules, &mut out)?,
                RulesFormat::Markdown => out.extend(rules_markdown(&rules).into_bytes()),
            }
        }
    }
    Sink::Stdout.write_with(|w| w.write_all(&out))?;
    Ok(0)
}

fn write_rules_table(rules: &[&Rule], out: &mut Vec<u8>) -> Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec!["ID", "Name", "Severity", "Default", "Title"]);
    for r in rules {
        t.add_row(vec![
            r.id.clone(),
            r.name.clone(),
            severity_label(r),
            if r.enabled_by_default { "on" } else { "off" }.to_string(),
            r.title.clone(),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

fn severity_label(rule: &Rule) -> String {
    // A rule whose severity expression can lower the default shows both (e.g. critical / high).
    match &rule.logic.severity {
        Some(expr) => {
            let mut levels: Vec<Severity> = Severity::ALL
                .into_iter()
                .filter(|s| expr.source.contains(&format!("'{}'", s.as_str())))
                .collect();
            if !levels.contains(&rule.severity) {
                levels.push(rule.severity);
            }
            levels.sort_by(|a, b| b.cmp(a));
            levels
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        }
        None => rule.severity.to_string(),
    }
}

/// The rule catalog as a Markdown table: the README's rule section is this, verbatim.
pub fn rules_markdown(rules: &[&Rule]) -> String {
    let mut out = String::from(
        "| ID | Name | Severity | Default | What it checks |\n|---|---|---|---|---|\n",
    );
    for r in rules {
        out.push_str(&format!(
            "| [{}]({}) | {} | {} | {} | {} |\n",
            r.id,
            r.help_uri,
            r.name,
            severity_label(r),
            if r.enabled_by_default { "on" } else { "off" },
            r.title
        ));
    }
    out
}
