//! Optional LLM enrichment through an Ollama-compatible API (`/api/generate` or `/api/chat`):
//! after the rules, the model may set the importance and add tags. Strictly bounded: a timeout,
//! a fixed number of calls in flight (an event that finds none free is not delayed), and any
//! failure keeps the rules' result with the reason recorded. It never fails an event.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use rae_core::config::{LlmApi, LlmConfig};
use rae_core::event::{push_tag, Event, Limits};
use rae_core::rae::ClientError;
use rae_core::telemetry::names;

/// Most tags taken from one answer.
const MAX_LLM_TAGS: usize = 5;

/// A client of one model.
pub struct Llm {
    http: reqwest::Client,
    config: LlmConfig,
    slots: Arc<Semaphore>,
}

/// What the model said, once read.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub importance: Option<f64>,
    pub tags: Vec<String>,
}

impl Llm {
    /// # Errors
    /// [`ClientError`] when the HTTP client cannot be built.
    pub fn new(config: &LlmConfig) -> Result<Llm, ClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // The deadline is enforced around the whole call in `refine`; this only bounds a
            // connection left behind.
            .timeout(Duration::from_millis(config.timeout_ms) + Duration::from_secs(5))
            .build()
            .map_err(|source| ClientError {
                purpose: "the LLM",
                source,
            })?;
        Ok(Llm {
            http,
            config: config.clone(),
            slots: Arc::new(Semaphore::new(config.max_concurrent)),
        })
    }

    /// Asks the model about `event` and applies its verdict, or records why not.
    pub async fn refine(&self, event: &mut Event, limits: &Limits) {
        let outcome = match self.slots.clone().try_acquire_owned() {
            Err(_) => Err("all LLM calls busy".to_owned()),
            Ok(_slot) => {
                let deadline = Duration::from_millis(self.config.timeout_ms);
                match tokio::time::timeout(deadline, self.ask(event)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("timeout after {} ms", self.config.timeout_ms)),
                }
            }
        };
        let why = event.enrichment.get_or_insert_with(Default::default);
        match outcome {
            Ok(verdict) => {
                metrics::counter!(names::LLM_ENRICHMENTS, "outcome" => "applied").increment(1);
                why.rules.push("llm".into());
                let mut said = Vec::new();
                let sender_set = why.rules.iter().any(|r| r == "importance.given");
                if let (Some(importance), false) = (verdict.importance, sender_set) {
                    said.push(format!(
                        "importance {importance} (was {})",
                        event.importance.unwrap_or_default()
                    ));
                    event.importance = Some(importance);
                }
                let before = event.tags.len();
                for tag in &verdict.tags {
                    push_tag(&mut event.tags, tag, limits);
                }
                if event.tags.len() > before {
                    said.push(format!("tags +{}", event.tags[before..].join(", +")));
                }
                if said.is_empty() {
                    said.push("nothing to change".into());
                }
                why.reasons.push(format!("llm: {}", said.join(", ")));
            }
            Err(reason) => {
                let label = if reason.starts_with("timeout") {
                    "timeout"
                } else if reason.starts_with("all LLM") {
                    "busy"
                } else {
                    "error"
                };
                metrics::counter!(names::LLM_ENRICHMENTS, "outcome" => label).increment(1);
                tracing::debug!(event_id = %event.id, reason = %reason, "LLM enrichment skipped");
                why.reasons.push(format!("llm: skipped: {reason}"));
            }
        }
    }

    async fn ask(&self, event: &Event) -> Result<Verdict, String> {
        let prompt = prompt(event, self.config.max_content_chars);
        let base = self.config.url.trim_end_matches('/');
        let (url, body) = match self.config.api {
            LlmApi::Generate => (
                format!("{base}/api/generate"),
                json!({"model": self.config.model, "prompt": prompt, "stream": false, "format": "json", "options": {"temperature": 0}}),
            ),
            LlmApi::Chat => (
                format!("{base}/api/chat"),
                json!({"model": self.config.model, "messages": [{"role": "user", "content": prompt}], "stream": false, "format": "json", "options": {"temperature": 0}}),
            ),
        };
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let answer: Value = response
            .json()
            .await
            .map_err(|e| format!("unreadable answer: {e}"))?;
        let text = match self.config.api {
            LlmApi::Generate => answer.get("response"),
            LlmApi::Chat => answer.get("message").and_then(|m| m.get("content")),
        }
        .and_then(Value::as_str)
        .ok_or("the answer has no text")?;
        verdict(text)
    }
}

/// The question put to the model.
fn prompt(event: &Event, max_chars: usize) -> String {
    let content: String = event.content.chars().take(max_chars).collect();
    format!(
        "You rate events for a software team's long-term memory.\n\
         Answer with JSON only: {{\"importance\": <number from 0 to 1>, \"tags\": [<up to {MAX_LLM_TAGS} short lowercase tags>]}}.\n\
         High (0.8-1): incidents, outages, failed deploys, security issues, decisions. \
         Low (0-0.2): chatter, thanks, typo fixes.\n\
         Source: {}/{}\nTags so far: {}\nContent:\n{content}",
        event.source,
        event.kind,
        event.tags.join(", ")
    )
}

/// Reads the model's JSON text; tags are kept only when they look like tags.
///
/// # Errors
/// A message when the text is not the JSON object asked for.
pub fn verdict(text: &str) -> Result<Verdict, String> {
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("answer is not JSON: {e}"))?;
    let importance = match value.get("importance") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|i| i.is_finite())
                .ok_or("importance is not a number")?
                .clamp(0.0, 1.0),
        ),
    };
    let tags: Vec<String> = value
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(|t| t.trim().trim_start_matches('#').to_lowercase())
                .filter(|t| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
                })
                .take(MAX_LLM_TAGS)
                .collect()
        })
        .unwrap_or_default();
    if importance.is_none() && tags.is_empty() {
        return Err("answer has neither importance nor tags".into());
    }
    Ok(Verdict { importance, tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_strictly() {
        let v = verdict(r##"{"importance": 0.9, "tags": ["Incident", "#db", "two words", 3]}"##)
            .unwrap();
        assert_eq!(v.importance, Some(0.9));
        assert_eq!(v.tags, ["incident", "db"]);
        assert_eq!(
            verdict(r#"{"importance": 7}"#).unwrap().importance,
            Some(1.0)
        );
        assert!(verdict("sure! here you go").is_err());
        assert!(verdict(r#"{"importance": "high"}"#).is_err());
        assert!(verdict("{}").is_err());
    }
}
