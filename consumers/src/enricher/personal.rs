//! The `enrich.personal_data` policy: email addresses, phone numbers, card numbers and IBANs in
//! an event's text are left alone (`off`, the default), tagged `personal-data`, redacted, or the
//! event is not stored (`drop`), per tenant. Each finding is counted in
//! `rae_pipeline_personal_data_total{kind,action}` and named (never its value) in the event's
//! enrichment reasons. Credentials never get this far: every producer redacts them.

use std::collections::HashMap;

use rae_core::config::{EnrichConfig, PersonalData};
use rae_core::event::{push_tag, Event, Limits};
use rae_core::sensitive::{self, Class, Kind};
use rae_core::telemetry::names;

/// The global policy, the tenants' own and the integrations' own (which win).
#[derive(Debug, Clone)]
pub struct Policy {
    default: PersonalData,
    tenants: HashMap<String, PersonalData>,
    integrations: HashMap<String, PersonalData>,
}

impl Policy {
    pub fn new(config: &EnrichConfig) -> Policy {
        Policy {
            default: config.personal_data,
            tenants: config
                .tenants
                .iter()
                .filter_map(|(alias, t)| t.personal_data.map(|p| (alias.clone(), p)))
                .collect(),
            integrations: config
                .integrations
                .iter()
                .filter_map(|(id, i)| i.personal_data.map(|p| (id.clone(), p)))
                .collect(),
        }
    }

    /// Applies the event's integration's, else its tenant's, else the global policy; false
    /// when the event must not be stored.
    pub fn apply(&self, event: &mut Event, limits: &Limits) -> bool {
        let policy = self
            .integrations
            .get(&event.integration)
            .or_else(|| self.tenants.get(&event.tenant))
            .copied()
            .unwrap_or(self.default);
        if policy == PersonalData::Off {
            return true;
        }
        let replace = policy == PersonalData::Redact;
        let found = sensitive::in_event(event, Class::PersonalData, replace);
        if found.is_empty() {
            return true;
        }
        for kind in &found {
            metrics::counter!(
                names::PERSONAL_DATA,
                "kind" => kind.as_str(),
                "action" => policy.as_str()
            )
            .increment(1);
        }
        let mut kinds: Vec<&str> = found.iter().map(|k| Kind::as_str(*k)).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let reason = format!("personal data ({}): {}", kinds.join(", "), policy.as_str());
        if let Some(enrichment) = &mut event.enrichment {
            enrichment.rules.push("personal-data".into());
            enrichment.reasons.push(reason);
        }
        match policy {
            PersonalData::Tag => push_tag(&mut event.tags, "personal-data", limits),
            PersonalData::Drop => return false,
            PersonalData::Off | PersonalData::Redact => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rae_core::config::TenantEnrichConfig;

    fn event(tenant: &str) -> Event {
        let mut event = rae_core::event::sample();
        event.tenant = tenant.into();
        event.content = "Mail alice@example.com or call +49 30 1234 5678".into();
        event.enrichment = Some(Default::default());
        event
    }

    #[test]
    fn each_policy_does_what_it_says_and_tenants_choose_their_own() {
        let mut config = EnrichConfig {
            personal_data: PersonalData::Redact,
            ..EnrichConfig::default()
        };
        for (alias, policy) in [
            ("tagged", PersonalData::Tag),
            ("strict", PersonalData::Drop),
            ("open", PersonalData::Off),
        ] {
            config.tenants.insert(
                alias.into(),
                TenantEnrichConfig {
                    personal_data: Some(policy),
                    ..TenantEnrichConfig::default()
                },
            );
        }
        let policy = Policy::new(&config);
        let limits = Limits::default();

        let mut redacted = event("acme");
        assert!(policy.apply(&mut redacted, &limits));
        assert_eq!(
            redacted.content,
            "Mail [redacted email] or call [redacted phone]"
        );
        let why = redacted.enrichment.unwrap().reasons.join("; ");
        assert!(
            why.contains("personal data (email, phone): redact"),
            "{why}"
        );

        let mut tagged = event("tagged");
        assert!(policy.apply(&mut tagged, &limits));
        assert!(tagged.content.contains("alice@example.com"));
        assert!(tagged.tags.contains(&"personal-data".to_owned()));

        assert!(!policy.apply(&mut event("strict"), &limits));

        let mut open = event("open");
        assert!(policy.apply(&mut open, &limits));
        assert!(open.content.contains("alice@example.com"));
        assert!(open.tags.is_empty());
    }

    #[test]
    fn an_integrations_policy_wins_over_its_tenants() {
        let mut config = EnrichConfig {
            personal_data: PersonalData::Off,
            ..EnrichConfig::default()
        };
        config.tenants.insert(
            "strict".into(),
            TenantEnrichConfig {
                personal_data: Some(PersonalData::Drop),
                ..TenantEnrichConfig::default()
            },
        );
        config.integrations.insert(
            "support-mail".into(),
            rae_core::config::IntegrationEnrichConfig {
                personal_data: Some(PersonalData::Redact),
            },
        );
        let policy = Policy::new(&config);
        let limits = Limits::default();
        let mut mail = event("strict");
        mail.integration = "support-mail".into();
        assert!(policy.apply(&mut mail, &limits), "redacted, not dropped");
        assert!(
            mail.content.contains("[redacted email]"),
            "{}",
            mail.content
        );
        assert!(
            !policy.apply(&mut event("strict"), &limits),
            "other integrations: the tenant's"
        );
    }
}
