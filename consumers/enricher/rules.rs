//! Enrichment rules (pure): base importance per source and kind, `#hashtags` to tags, clamping.
//! Each applied rule is recorded in the event's `enrichment` so a user can see why.

use crate::config::EnrichConfig;
use crate::event::{push_tag, Enrichment, Event, Limits};

/// Fills `importance`, completes `tags` and records why.
pub fn enrich(mut event: Event, config: &EnrichConfig, limits: &Limits) -> Event {
    let mut why = Enrichment::default();
    match event.importance {
        Some(given) => {
            why.rules.push("importance.given".into());
            why.reasons.push(format!("sender set importance {given}"));
        }
        None => {
            let rule = config
                .base_importance
                .iter()
                .filter(|r| r.source == event.source)
                .find(|r| r.kind.as_deref() == Some(event.kind.as_str()))
                .or_else(|| {
                    config
                        .base_importance
                        .iter()
                        .find(|r| r.source == event.source && r.kind.is_none())
                });
            let importance = match rule {
                Some(rule) => {
                    let name = match &rule.kind {
                        Some(kind) => format!("base.{}.{}", rule.source, kind),
                        None => format!("base.{}", rule.source),
                    };
                    why.reasons
                        .push(format!("{name} sets importance {}", rule.importance));
                    why.rules.push(name);
                    rule.importance
                }
                None => {
                    why.rules.push("base.default".into());
                    why.reasons.push(format!(
                        "no base rule for {}/{}: default {}",
                        event.source, event.kind, config.default_importance
                    ));
                    config.default_importance
                }
            };
            event.importance = Some(importance);
        }
    }
    push_tag(&mut event.tags, &event.source.clone(), limits);
    if config.hashtags {
        let found = hashtags(&event.content);
        if !found.is_empty() {
            why.rules.push("tags.hashtags".into());
            why.reasons
                .push(format!("hashtags in content: {}", found.join(", ")));
            for tag in found {
                push_tag(&mut event.tags, &tag, limits);
            }
        }
    }
    event.importance = event.importance.map(|i| {
        if i.is_finite() {
            i.clamp(0.0, 1.0)
        } else {
            0.5
        }
    });
    event.enrichment = Some(why);
    event
}

/// `#words` in `text`, lowercased, without the `#`; a `#` inside a word (`C#`, URLs' anchors)
/// or followed by digits only (`#42`, an issue number) is not a hashtag.
pub fn hashtags(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts_word = prev.is_none_or(|p| p.is_whitespace() || "([{,;".contains(p));
        if c == '#' && starts_word {
            let rest = &text[i + 1..];
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '-'))
                .unwrap_or(rest.len());
            let tag = rest[..end].trim_end_matches('-').to_lowercase();
            if !tag.is_empty()
                && !tag.chars().all(|ch| ch.is_ascii_digit())
                && !found.contains(&tag)
            {
                found.push(tag);
            }
        }
        prev = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::sample;

    #[test]
    fn hashtags_are_words_that_start_with_hash() {
        assert_eq!(
            hashtags("Deploy failed #incident #Prod, see #42 and C# docs (#db-migration)"),
            ["incident", "prod", "db-migration"]
        );
        assert!(hashtags("http://x/y#anchor").is_empty());
    }

    #[test]
    fn base_importance_prefers_source_and_kind() {
        let config = EnrichConfig::default();
        let mut event = sample();
        event.source = "github".into();
        event.kind = "workflow_run_failed".into();
        let out = enrich(event, &config, &Limits::default());
        assert_eq!(out.importance, Some(0.8));
        assert_eq!(
            out.enrichment.unwrap().rules[0],
            "base.github.workflow_run_failed"
        );
    }

    #[test]
    fn given_importance_is_kept_and_tags_completed() {
        let mut event = sample();
        event.importance = Some(0.9);
        event.tags = vec!["decision".into()];
        event.content = "We picked Postgres #database #decision".into();
        let out = enrich(event, &EnrichConfig::default(), &Limits::default());
        assert_eq!(out.importance, Some(0.9));
        assert_eq!(out.tags, ["decision", "webhook", "database"]);
        let why = out.enrichment.unwrap();
        assert!(why.rules.contains(&"tags.hashtags".to_owned()));
    }

    #[test]
    fn unknown_sources_get_the_default() {
        let out = enrich(sample(), &EnrichConfig::default(), &Limits::default());
        assert_eq!(out.importance, Some(0.5));
        assert_eq!(out.enrichment.unwrap().rules, ["base.default"]);
    }
}
