//! `keys`: API keys of `POST /api/v1/memories`. Hashes a key for `api_keys[].sha256` or makes a
//! new one; needs no config.

use anyhow::Context as _;
use clap::Subcommand;

use super::Failure;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Print the SHA-256 of a key, the value of `api_keys[].sha256`. Reads the key from stdin
    /// when it is not given, so it stays out of the shell history.
    Hash {
        /// The key.
        key: Option<String>,
    },
    /// Print a new random key and its SHA-256.
    Generate,
}

/// Runs a `keys` subcommand.
pub(super) fn run(command: KeysCommand) -> Result<(), Failure> {
    use rae_ingress::auth;
    match command {
        KeysCommand::Hash { key } => {
            let key = match key {
                Some(key) => key,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the key from stdin")
                        .map_err(Failure::Runtime)?;
                    line
                }
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(Failure::Usage(anyhow::anyhow!(
                    "no key given: pass it as an argument or on stdin"
                )));
            }
            println!("{}", auth::hash_key(key));
        }
        KeysCommand::Generate => {
            let key = auth::generate_key();
            println!("key:    {key}");
            println!("sha256: {}", auth::hash_key(&key));
            eprintln!("Give the key to the caller and put only the sha256 into api_keys[].sha256.");
        }
    }
    Ok(())
}
