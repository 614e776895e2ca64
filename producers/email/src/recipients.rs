//! Which recipients the SMTP listener takes, and the tenant each selects.
//!
//! `memories@domain` (an address under `accept`, or any address of an `@domain` there) is for
//! the integration's own tenant; `memories+<tenant>@domain` is for a tenant configured under
//! `tenants`, named by its alias or by its `rae_tenant_id`. Nothing else: a raw RAE tenant id
//! configured nowhere would be written with the global RAE key into a tenant no one chose to
//! serve, so a sender could pick any tenant of the RAE instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use rae_core::config::{find_tenant, Config, TenantConfig};

use super::addresses::AddressList;
use super::Recipient;

/// The recipients of one email integration.
pub struct Recipients {
    /// The integration's own tenant and project, for addresses without `+tenant`.
    tenant: String,
    project: String,
    accept: AddressList,
    /// The configured tenants and their projects.
    config: Arc<Config>,
}

impl Recipients {
    pub fn new(tenant: String, project: String, accept: AddressList, config: Arc<Config>) -> Self {
        Recipients {
            tenant,
            project,
            accept,
            config,
        }
    }

    /// `address` as a recipient of the integration's own tenant (a polled mailbox).
    pub fn own(&self, address: &str) -> Recipient {
        Recipient {
            address: address.to_owned(),
            tenant: self.tenant.clone(),
            project: self.project.clone(),
        }
    }

    /// The recipient `address` if mail for it is accepted, else the reason for a 550.
    ///
    /// # Errors
    /// A sentence for the sender: the address is not served, or its `+tenant` is not a
    /// configured tenant.
    pub fn recipient(&self, address: &str) -> Result<Recipient, String> {
        let address = address.trim().to_ascii_lowercase();
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(format!("<{address}>: no such mailbox here"));
        };
        let (base, tag) = match local.split_once('+') {
            Some((base, tag)) => (base, Some(tag)),
            None => (local, None),
        };
        if !self.accept.contains(&format!("{base}@{domain}")) {
            return Err(format!("<{address}>: no such mailbox here"));
        }
        let Some(tag) = tag.filter(|t| !t.is_empty()) else {
            return Ok(self.own(&address));
        };
        let Some(tenant) = configured_tenant(&self.config.tenants, tag) else {
            return Err(format!(
                "<{address}>: unknown tenant {tag:?}; use the alias of a tenant configured here, or no +tenant"
            ));
        };
        let project = self.config.project_for(tenant, None).to_owned();
        Ok(Recipient {
            address,
            tenant: tenant.to_owned(),
            project,
        })
    }
}

/// The alias under `tenants` that `tag` names: an alias in any case (addresses are
/// lowercased), else the tenant the core's one lookup finds (its alias or `rae_tenant_id`).
pub fn configured_tenant<'a>(
    tenants: &'a BTreeMap<String, TenantConfig>,
    tag: &str,
) -> Option<&'a str> {
    tenants
        .keys()
        .find(|alias| alias.eq_ignore_ascii_case(tag))
        .map(String::as_str)
        .or_else(|| find_tenant(tenants, tag).map(|(alias, _)| alias))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rae_core::config::{Config, Source};

    use super::{AddressList, Recipients};

    const ACME: &str = "7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f";

    fn recipients() -> Recipients {
        let yaml = format!(
            "tenants:\n  Acme:\n    rae_tenant_id: {ACME}\n    project: platform\n  11111111-2222-3333-4444-555555555555: {{}}\n"
        );
        let config = Config::load(&Source::Text(yaml), &|_| None).unwrap();
        Recipients::new(
            "default-tenant".into(),
            "default".into(),
            AddressList::new(&["memories@rae.example.com", "@team.example.com"]),
            Arc::new(config),
        )
    }

    #[test]
    fn plus_tenants_are_configured_aliases_or_their_ids() {
        let r = recipients();
        let own = r.recipient("Memories@RAE.example.com").unwrap();
        assert_eq!(
            (own.tenant.as_str(), own.project.as_str()),
            ("default-tenant", "default")
        );
        for address in [
            "memories+acme@rae.example.com".to_owned(),
            format!("memories+{ACME}@rae.example.com"),
            format!("memories+{}@rae.example.com", ACME.to_uppercase()),
        ] {
            let got = r.recipient(&address).unwrap();
            assert_eq!(got.tenant, "Acme", "{address}");
            assert_eq!(got.project, "platform", "{address}");
        }
        let by_uuid_alias = r
            .recipient("x+11111111-2222-3333-4444-555555555555@team.example.com")
            .unwrap();
        assert_eq!(by_uuid_alias.tenant, "11111111-2222-3333-4444-555555555555");
    }

    #[test]
    fn unknown_tenants_and_addresses_are_refused_with_the_reason() {
        let r = recipients();
        let stranger = "9e107d9d-3721-4b3a-9c8f-2d5e6f7a8b9c";
        for tag in [stranger, "default-tenant", "nobody"] {
            let err = r
                .recipient(&format!("memories+{tag}@rae.example.com"))
                .unwrap_err();
            assert!(err.contains("unknown tenant"), "{err}");
            assert!(err.contains(tag), "{err}");
        }
        for address in [
            "someone@rae.example.com",
            "memories@other.example.com",
            "nobody",
        ] {
            let err = r.recipient(address).unwrap_err();
            assert!(err.contains("no such mailbox"), "{err}");
        }
    }
}
