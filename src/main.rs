//! The `apprunner-audit` binary: everything lives in the library; this only sets the exit status
//! and the allocator.

/// mimalloc: evaluation and the AWS SDK allocate many small objects from many threads, where
/// glibc's allocator spent a fifth of the scan's CPU time (measured with perf on the org_scan
/// benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(apprunner_audit::cli::main());
}
