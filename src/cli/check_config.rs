//! `check-config`: the loaded and validated config, printed with secrets redacted. Loading
//! already failed with exit code 2 and every problem when the config is invalid.

use anyhow::Context as _;
use rae_core::config::Config;

use super::Failure;

/// Prints `config` (secrets redacted) on stdout and says it is valid on stderr.
pub(super) fn run(config: &Config) -> Result<(), Failure> {
    print!("{}", config.redacted_yaml().context("check-config")?);
    eprintln!("config is valid");
    Ok(())
}
