//! The `apprunner-audit` binary: everything lives in the library; this only sets the exit status.

fn main() {
    std::process::exit(apprunner_audit::cli::main());
}
