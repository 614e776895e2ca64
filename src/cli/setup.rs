//! `setup`: creates or updates the streams and key-value buckets, then exits.

use anyhow::Context as _;

use rae_core::config::Config;
use rae_core::subjects;

use super::{connect, Failure};

/// Sets up the streams and buckets on the configured NATS and says which are ready.
pub(super) async fn run(config: &Config) -> Result<(), Failure> {
    let bus = connect(config).await?;
    bus.setup().await.context("setup")?;
    println!(
        "streams {}, {}, {}, {} and buckets {}, {}, {}, {}, {} are ready on {}",
        subjects::EVENTS_STREAM,
        subjects::ENRICHED_STREAM,
        subjects::DLQ_STREAM,
        subjects::AUDIT_STREAM,
        subjects::STATE_BUCKET,
        subjects::DEDUPE_BUCKET,
        subjects::WRITES_BUCKET,
        subjects::REPEATS_BUCKET,
        subjects::MEMORIES_BUCKET,
        config.nats.url
    );
    Ok(())
}
