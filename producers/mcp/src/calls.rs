//! What each tool does for one caller: parse its arguments ([`tools`]), then publish through
//! the core path or ask RAE or NATS, and say how it went as an [`Answer`].

use std::time::Duration;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use rae_core::audit::Outcome;
use rae_core::bus::Bus;
use rae_core::dead_letter;
use rae_core::event::Event;
use rae_core::telemetry::error_chain;

use crate::answer::Answer;
use crate::caller::Caller;
use crate::{resources, status, tools, McpServer, StoreError};

impl McpServer {
    pub(crate) async fn store_memory(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
        client: Option<String>,
    ) -> Answer {
        let args = match tools::parse(arguments) {
            Ok(args) => args,
            Err(e) => return Answer::invalid(e),
        };
        let origin = tools::Origin {
            tenant: &caller.tenant,
            project: &caller.project,
            client: client.as_deref(),
        };
        let event = match tools::store_event(
            args,
            &origin,
            &self.inner.limits,
            OffsetDateTime::now_utc(),
        ) {
            Ok(event) => event,
            Err(e) => return Answer::invalid(e),
        };
        match self.publish(&event).await {
            Ok((subject, duplicate)) => Answer::ok(json!({
                "id": event.id,
                "status": "accepted",
                "duplicate": duplicate,
                "tenant": event.tenant,
                "project": event.project,
                "layer": event.layer,
                "subject": subject,
                "message": "stored in the pipeline: it is enriched and written to RAE within moments",
            }))
            .stored(
                event.id.clone(),
                if duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                },
            ),
            Err(err) => Answer::error(
                "unavailable",
                format!("memory not stored: {}", error_chain(&err)),
            ),
        }
    }

    /// Publishes `event` and awaits the JetStream ack, within bounded time.
    async fn publish(&self, event: &Event) -> Result<(String, bool), StoreError> {
        let nats = &self.inner.nats;
        let budget = Duration::from_secs(nats.config.connect_timeout_secs + 5)
            + Duration::from_millis(nats.config.publish_timeout_ms);
        let url = nats.config.url.clone();
        let publishing = async {
            let bus = nats.bus().await?;
            Ok::<_, StoreError>(bus.publisher().publish_new(event).await?)
        };
        let published = tokio::time::timeout(budget, publishing)
            .await
            .map_err(|_| StoreError::Timeout(budget.as_secs(), url))??;
        Ok((published.subject, published.duplicate))
    }

    pub(crate) async fn query_memories(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        self.search_with(caller, arguments, tools::query_body).await
    }

    pub(crate) async fn search_memory(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        self.search_with(caller, arguments, tools::search_body)
            .await
    }

    /// A search of RAE with the arguments of one of the search tools, turned into RAE's query
    /// by `body`.
    async fn search_with<A: serde::de::DeserializeOwned>(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
        body: fn(A, &str) -> Result<Value, rae_core::event::InvalidField>,
    ) -> Answer {
        let body = match tools::parse(arguments).and_then(|args| body(args, &caller.project)) {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query(&caller.tenant, &body).await;
        Answer::from_rae("search", answer)
    }

    pub(crate) async fn get_related_context(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        let (related, body) = match tools::parse(arguments)
            .and_then(|args| tools::related_body(args, &caller.project))
        {
            Ok(parts) => parts,
            Err(e) => return Answer::invalid(e),
        };
        let answer = self.inner.rae.query(&caller.tenant, &body).await;
        Answer::from_rae(
            "related context",
            answer.map(|answer| tools::related_answer(&related, answer)),
        )
    }

    /// RAE, NATS, the consumers and the dead letters: every dead letter for the local user,
    /// the caller's tenant's over HTTP (an API key sees no other tenant's).
    pub(crate) async fn pipeline_status(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        if let Err(e) = tools::parse::<tools::StatusArgs>(arguments) {
            return Answer::invalid(e);
        }
        let url = status::without_credentials(&self.inner.nats.config.url);
        let tenant = caller.key_id.is_some().then_some(caller.tenant.as_str());
        // RAE is asked while NATS is connected and read: neither waits for the other.
        let rae = status::rae(&self.inner.rae);
        let pipeline = async {
            match self.bus().await {
                Ok(bus) => {
                    let consumers = status::consumers(bus).await;
                    let dead = match status::dead_letters(bus, tenant).await {
                        Ok(dead) => dead,
                        Err(error) => {
                            json!({"total": 0, "by_reason": {}, "counted": 0, "error": error})
                        }
                    };
                    (
                        json!({"reachable": true, "url": url}),
                        consumers,
                        Some(dead),
                    )
                }
                Err(error) => (
                    json!({"reachable": false, "url": url, "error": error}),
                    Vec::new(),
                    None,
                ),
            }
        };
        let (rae, (nats, consumers, dead)) = tokio::join!(rae, pipeline);
        Answer::ok(status::answer(rae, nats, consumers, dead))
    }

    /// The text of a resource or prompt: RAE searched for `kind` in `project` (default: the
    /// caller's).
    pub(crate) async fn context_text(
        &self,
        caller: &Caller,
        kind: resources::Kind,
        project: Option<String>,
        topic: Option<&str>,
    ) -> Result<String, rae_core::rae::RaeError> {
        let project = project.unwrap_or_else(|| caller.project.clone());
        let body = resources::query_body(kind, &project, topic);
        let answer = self.inner.rae.query(&caller.tenant, &body).await?;
        Ok(resources::render(kind, &project, topic, &answer))
    }

    /// The connected bus, within the time an assistant waits.
    async fn bus(&self) -> Result<&Bus, String> {
        let nats = &self.inner.nats;
        let budget = Duration::from_secs(nats.config.connect_timeout_secs + 5);
        match tokio::time::timeout(budget, nats.bus()).await {
            Ok(Ok(bus)) => Ok(bus),
            Ok(Err(err)) => Err(error_chain(&err)),
            Err(_) => Err(format!(
                "NATS did not answer within {} s (is nats-server running at {}? NATS_URL names it)",
                budget.as_secs(),
                nats.config.url
            )),
        }
    }

    pub(crate) async fn dlq_list(&self, caller: &Caller, arguments: Map<String, Value>) -> Answer {
        let tenant = &caller.tenant;
        let (filter, limit) =
            match tools::parse(arguments).and_then(|args| tools::dlq_list_filter(args, tenant)) {
                Ok(parts) => parts,
                Err(e) => return Answer::invalid(e),
            };
        let listed = match self.bus().await {
            Ok(bus) => dead_letter::list(bus, &filter, limit)
                .await
                .map_err(|e| error_chain(&e)),
            Err(error) => Err(error),
        };
        match listed {
            Ok(entries) => Answer::ok(json!({
                "dead_letters": entries.iter().map(tools::dlq_entry).collect::<Vec<_>>(),
                "count": entries.len(),
                "tenant": tenant,
            })),
            Err(error) => Answer::error("unavailable", format!("dead letters not read: {error}")),
        }
    }

    pub(crate) async fn dlq_replay(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        let tenant = &caller.tenant;
        let filter =
            match tools::parse(arguments).and_then(|args| tools::dlq_replay_filter(args, tenant)) {
                Ok(filter) => filter,
                Err(e) => return Answer::invalid(e),
            };
        let id = filter.id.clone().unwrap_or_default();
        let bus = match self.bus().await {
            Ok(bus) => bus,
            Err(error) => {
                return Answer::error("unavailable", format!("nothing replayed: {error}"))
            }
        };
        let entry = match dead_letter::list(bus, &filter, 1).await {
            Ok(entries) => entries.into_iter().next(),
            Err(err) => {
                return Answer::error(
                    "unavailable",
                    format!("nothing replayed: {}", error_chain(&err)),
                )
            }
        };
        let Some(entry) = entry else {
            return Answer::error(
                "bad_request",
                format!(
                    "no dead letter {id:?} of tenant {tenant}: dlq_list shows the sequences and \
                     event ids there are"
                ),
            );
        };
        let letter = &entry.letter;
        let subject = letter
            .stage
            .input_subject(letter.tenant(), letter.source(), letter.kind());
        match dead_letter::replay(bus, &entry).await {
            Ok(_) => Answer::ok(json!({
                "replayed": 1,
                "sequence": entry.sequence,
                "event_id": letter.event_id(),
                "subject": subject,
            }))
            .stored(letter.event_id().to_owned(), Outcome::Accepted),
            Err(err) => Answer::error(
                "unavailable",
                format!(
                    "dead letter {} not replayed: {} (it stays in the dead letters: try again)",
                    entry.sequence,
                    error_chain(&err)
                ),
            ),
        }
    }

    pub(crate) async fn query_graph(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        let rae = &self.inner.rae;
        let tenant_id = rae.body_tenant_id(&caller.tenant);
        let body = match tools::parse(arguments).and_then(|args| {
            tools::graph_body(args, &caller.project, &tenant_id, rae.graph_reranking())
        }) {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = rae.query_graph(&caller.tenant, &body).await;
        Answer::from_rae("graph search", answer)
    }

    pub(crate) async fn generate_reflection(
        &self,
        caller: &Caller,
        arguments: Map<String, Value>,
    ) -> Answer {
        let rae = &self.inner.rae;
        let tenant_id = rae.body_tenant_id(&caller.tenant);
        let body = match tools::parse(arguments)
            .and_then(|args| tools::reflection_body(args, &caller.project, &tenant_id))
        {
            Ok(body) => body,
            Err(e) => return Answer::invalid(e),
        };
        let answer = rae.generate_reflection(&caller.tenant, &body).await;
        Answer::from_rae("reflection", answer)
    }
}
