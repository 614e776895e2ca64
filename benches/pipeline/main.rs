//! The rae-pipeline benchmark (issues #9 and #4): how close the pipeline comes to what NATS
//! JetStream itself can do on the same machine, measured side by side in one run, and what it
//! costs and buys compared with posting straight to RAE.
//!
//! Run it with `bash scripts/bench.sh` (installs `wrk` and `nats-server` when missing), or
//! `cargo bench --bench pipeline -- [options]`. It starts its own `nats-server` (fresh store per
//! phase), a fake RAE in this process, the release `rae-pipeline` binary as a separate process,
//! and `wrk` as the HTTP load generator (it signs every webhook request, see
//! `benches/wrk/pipeline.lua`). The raw baselines use async-nats from this process. Every
//! pipeline figure is paired with a baseline measured right before it, interleaved round by
//! round, because absolute numbers drift on a shared 2-core machine while ratios hold.
//!
//! Prints a table and replaces the generated part of `docs/benchmarks.md` (between the
//! `bench:begin`/`bench:end` markers), leaving the hand-written notes around it alone.
//!
//! Without `--bench` (that is, under `cargo test --all-targets`) it does nothing, so CI only
//! compiles and lints it.
//!
//! Layout: `processes` starts nats-server and the pipeline, `usage` reads their CPU and memory,
//! `wrk` drives the HTTP load, `fake_rae` stands in for RAE, `raw` measures the async-nats
//! baselines, `phases` runs each measurement, `report` holds the figures and `render` turns them
//! into the tables of `docs/benchmarks.md`.

mod fake_rae;
mod phases;
mod processes;
mod raw;
mod render;
mod report;
mod usage;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use fake_rae::FakeRae;
use report::Report;

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
const API_KEY: &str = "rpk_bench_0123456789abcdef";
const API_TENANT: &str = "bench";
const RAE_KEY: &str = "bench-rae-key";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

/// What to run, from the command line.
#[derive(Debug, Clone)]
struct Options {
    /// Length of one measurement.
    secs: u64,
    /// Rounds of each interleaved pair (baseline, pipeline).
    rounds: usize,
    /// Phases to run.
    phases: Vec<String>,
    /// Where to write the report (`--doc`), or nothing (`--no-doc`).
    doc: Option<PathBuf>,
    /// Events per writer run.
    writer_events: usize,
    /// Connection counts of the ingress phase.
    connections: Vec<usize>,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            secs: 5,
            rounds: 2,
            phases: ["ingress", "batch", "e2e", "burst", "writer", "mapped"]
                .map(String::from)
                .to_vec(),
            doc: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md")),
            writer_events: 20_000,
            connections: vec![1, 16, 64, 256],
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => {}
                "--secs" => options.secs = value()?.parse()?,
                "--rounds" => options.rounds = value()?.parse()?,
                "--phases" => options.phases = value()?.split(',').map(String::from).collect(),
                "--doc" => options.doc = Some(PathBuf::from(value()?)),
                "--no-doc" => options.doc = None,
                "--writer-events" => options.writer_events = value()?.parse()?,
                "--connections" => {
                    options.connections = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                "--quick" => {
                    options.secs = 2;
                    options.rounds = 1;
                    options.writer_events = 5_000;
                }
                "-h" | "--help" => {
                    println!(
                        "cargo bench --bench pipeline -- [--secs N] [--rounds N] [--quick] \
                         [--phases ingress,batch,e2e,burst,writer,mapped] [--connections 1,16,64,256] \
                         [--writer-events N] [--doc PATH | --no-doc]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other} (see --help)").into()),
            }
        }
        Ok(options)
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "pipeline benchmark: run `bash scripts/bench.sh` or `cargo bench --bench pipeline`"
        );
        return ExitCode::SUCCESS;
    }
    let options = match Options::parse() {
        Ok(o) => o,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut report = Report {
        started: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        ..Report::default()
    };
    let rae = FakeRae::start().await?;
    if options.runs("ingress") || options.runs("batch") {
        phases::ingress_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("e2e") {
        phases::e2e_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("burst") {
        phases::burst_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("writer") {
        phases::writer_phase(&options, &rae, &mut report).await?;
    }
    if options.runs("mapped") {
        phases::mapped_phase(&options, &rae, &mut report).await?;
    }
    let text = render::render(&options, &report);
    println!("{text}");
    if let Some(path) = &options.doc {
        render::write_doc(path, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn progress(message: &str) {
    eprintln!("[bench] {message}");
}
