//! `mail`: only the email intake (the SMTP listener and IMAP pollers of the enabled email
//! integrations); `--smtp-listen` and `--accept` configure the `email` integration without a
//! file.

use clap::Args;

use rae_core::config::Config;
use rae_pipeline::app::Roles;

use super::up::{run_roles, RunArgs};
use super::Failure;

#[derive(Args)]
pub(super) struct MailArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Address of the SMTP listener of the `email` integration (e.g. 0.0.0.0:2525).
    #[arg(long)]
    smtp_listen: Option<String>,
    /// Recipients to accept (`memories@example.com`, which takes `memories+<tenant>@...` too,
    /// or `@example.com`); several allowed.
    #[arg(long, num_args = 1..)]
    accept: Vec<String>,
}

/// Runs the mail role of `config` with the flags applied.
pub(super) async fn run(config: Config, args: &MailArgs) -> Result<(), Failure> {
    let config = mail_config(config, args)?;
    run_roles(
        &config,
        Roles {
            ingress: false,
            enricher: false,
            writer: false,
            git_watch: false,
        },
        &args.run,
        false,
    )
    .await
}

/// The config with the `mail` flags applied to the `email` integration (created when absent).
fn mail_config(mut config: Config, args: &MailArgs) -> Result<Config, Failure> {
    use rae_core::config::{
        EmailConfig, IntegrationConfig, IntegrationKind, IntegrationSettings, SmtpConfig, EMAIL_ID,
    };
    if args.smtp_listen.is_some() || !args.accept.is_empty() {
        if config.integrations.iter().all(|i| i.id != EMAIL_ID) {
            config.integrations.push(IntegrationConfig {
                id: EMAIL_ID.into(),
                name: None,
                enabled: true,
                settings: IntegrationSettings::default_of(IntegrationKind::Email),
            });
        }
        let email = config
            .integrations
            .iter_mut()
            .find(|i| i.id == EMAIL_ID)
            .and_then(|i| i.settings_as_mut::<EmailConfig>())
            .ok_or_else(|| {
                Failure::Usage(anyhow::anyhow!(
                    "integration {EMAIL_ID} is not of kind email: --smtp-listen and --accept configure an email integration"
                ))
            })?;
        let smtp = email.smtp.get_or_insert_with(SmtpConfig::default);
        if let Some(listen) = &args.smtp_listen {
            smtp.listen = listen.clone();
        }
        if !args.accept.is_empty() {
            smtp.accept = args.accept.clone();
        }
    }
    let problems = config.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {}", p.path, p.message))
            .collect();
        return Err(Failure::Usage(anyhow::anyhow!(
            "invalid mail settings:\n{}",
            text.join("\n")
        )));
    }
    if config
        .integrations_of(rae_core::config::IntegrationKind::Email)
        .next()
        .is_none()
    {
        return Err(Failure::Usage(anyhow::anyhow!(
            "no email integration: configure one or pass --smtp-listen and --accept"
        )));
    }
    Ok(config)
}
