//! The `apprunner-audit` binary: everything lives in the library; this only sets the exit status
//! and the allocator.

/// mimalloc: evaluation and the AWS SDK allocate many small objects from many threads, where
/// glibc's allocator spent a fifth of the scan's CPU time (measured with perf on the org_scan
/// benchmark). Built without transparent huge pages (`no_thp`): where the kernel gives them only
/// on request, asking for them made one run in three of the 100,000-service benchmark stall for
/// a second in the kernel compacting memory (sys time 0.4 s, else 1.4-1.9 s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(apprunner_audit::cli::main());
}
