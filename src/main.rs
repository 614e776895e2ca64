//! `rae-pipeline`: one binary that runs any role of the pipeline, or all of them (`up`), and the
//! operator commands (setup, check-config, send, tail, dlq, backfill, keys). The command line
//! lives in [`cli`], a module per command; the wiring of the roles in `rae_pipeline::app`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
