//! `rae-pipeline`: one binary that runs any role of the pipeline, or all of them (`up`), and the
//! operator commands (setup, check-config, send, tail, dlq, backfill, keys). The command line
//! lives in [`cli`], a module per command; the wiring of the roles in `rae_pipeline::app`.

mod cli;

/// mimalloc instead of glibc's allocator: the ingress allocates a few hundred small blocks per
/// request, and glibc's `malloc`/`free` took a fifth of its instructions (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
