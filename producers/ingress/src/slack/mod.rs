//! Slack: the Events API at `POST /api/v1/integrations/{id}/events` and slash commands at
//! `POST /api/v1/integrations/{id}/commands` (`slack` by default).
//!
//! Both verify Slack's v0 request signature and answer within Slack's 3 seconds: a message is
//! answered as soon as JetStream stored it, and a `/rae query` that RAE cannot answer in
//! `command_deadline_ms` is answered later through the command's `response_url`.

pub mod commands;
pub mod events;
pub mod import;
pub mod verify;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::rate_limit::Budget;
use crate::verified::Verified;
use crate::webhook;
use crate::{require_content_type, Answer, ApiError, Caller, IngressState};
use rae_core::audit::Outcome;
use rae_core::config::{Config, Secret, SlackConfig};
use rae_core::event::{self, Event, Layer, Limits, Route, Source};
use rae_core::forget;

/// A workspace's tenant and channels.
#[derive(Debug, Clone)]
struct Workspace {
    tenant: String,
    project: String,
    channel_whitelist: Vec<String>,
    auto_store_channels: Vec<String>,
}

/// One Slack app ready to take requests.
#[derive(Debug, Clone)]
pub struct SlackApp {
    pub id: String,
    secrets: Vec<Secret>,
    /// Workspaces claimed by a tenant, by team id.
    workspaces: HashMap<String, Workspace>,
    /// Every other workspace.
    fallback: Workspace,
    response_url_prefixes: Vec<String>,
    deadline: Duration,
    query_results: usize,
}

/// The enabled Slack integrations, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    apps: HashMap<String, SlackApp>,
}

impl Registry {
    /// The registry of a validated config.
    pub fn build(config: &Config) -> Registry {
        let apps = config
            .settings_of::<SlackConfig>()
            .map(|(integration, settings)| {
                let (tenant, project) =
                    config.destination(settings.tenant.as_deref(), settings.project.as_deref());
                let fallback = Workspace {
                    project,
                    tenant,
                    channel_whitelist: settings.channel_whitelist.clone(),
                    auto_store_channels: settings.auto_store_channels.clone(),
                };
                let workspaces = config
                    .tenants
                    .iter()
                    .filter_map(|(alias, t)| {
                        let slack = t.integrations.slack.as_ref().filter(|s| s.enabled)?;
                        Some((
                            slack.workspace_id.clone()?,
                            Workspace {
                                tenant: alias.clone(),
                                project: config.project_for(alias, None).to_owned(),
                                channel_whitelist: slack.channel_whitelist.clone(),
                                auto_store_channels: slack.auto_store_channels.clone(),
                            },
                        ))
                    })
                    .collect();
                (
                    integration.id.clone(),
                    SlackApp {
                        id: integration.id.clone(),
                        secrets: settings.secrets(),
                        workspaces,
                        fallback,
                        response_url_prefixes: settings.response_url_prefixes.clone(),
                        deadline: Duration::from_millis(settings.command_deadline_ms),
                        query_results: settings.query_results,
                    },
                )
            })
            .collect();
        Registry { apps }
    }

    pub fn get(&self, id: &str) -> Option<&SlackApp> {
        self.apps.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.apps.keys().map(String::as_str)
    }
}

/// True when `channels` names the channel by id or, when known, by name (`#` optional).
fn listed(channels: &[String], id: &str, name: Option<&str>) -> bool {
    channels.iter().any(|c| {
        let c = c.trim_start_matches('#');
        c == id || name.is_some_and(|n| c.eq_ignore_ascii_case(n))
    })
}

impl SlackApp {
    fn workspace(&self, team_id: Option<&str>) -> &Workspace {
        team_id
            .and_then(|t| self.workspaces.get(t))
            .unwrap_or(&self.fallback)
    }

    fn verify<'b>(
        &self,
        headers: &HeaderMap,
        body: &'b [u8],
        state: &IngressState,
    ) -> Result<Verified<'b>, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verified = verify::verify(
            header(verify::SIGNATURE_HEADER),
            header(verify::TIMESTAMP_HEADER),
            body,
            &self.secrets,
            state.tolerance_secs,
            OffsetDateTime::now_utc().unix_timestamp(),
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        state.admit(Budget::Integration(&self.id))?;
        Ok(verified)
    }

    /// Publishes `event` and waits at most the Slack deadline for the ack. The publish goes on
    /// in the background past the deadline, so Slack's retry finds the event remembered.
    async fn publish(
        &self,
        event: Event,
        state: &IngressState,
    ) -> Result<webhook::Accepted, ApiError> {
        let publishing = {
            let tasks = &state.tasks;
            let state = state.clone();
            tasks.spawn(async move { webhook::publish(&event, true, &state.context()).await })
        };
        match tokio::time::timeout(self.deadline, publishing).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::Internal),
            Err(_) => Err(ApiError::Unavailable {
                retry_after_secs: state.retry_after_secs,
            }),
        }
    }
}

/// What a Slack event or command becomes.
struct Draft<'a> {
    id: String,
    workspace: &'a Workspace,
    integration: &'a str,
    kind: &'a str,
    content: String,
    layer: Layer,
    tags: &'a [&'a str],
    actor: Option<String>,
    occurred_at: OffsetDateTime,
    attributes: Map<String, Value>,
}

impl Draft<'_> {
    fn event(self, limits: &Limits) -> Result<Event, ApiError> {
        let mut tags = Vec::new();
        for tag in ["slack"].iter().chain(self.tags) {
            event::push_tag(&mut tags, tag, limits);
        }
        let route = Route {
            tenant: &self.workspace.tenant,
            project: &self.workspace.project,
            source: Source::Slack,
            integration: self.integration,
        };
        let event = Event::builder(route, self.id, self.kind, self.content)
            .tags(tags)
            .layer(self.layer)
            .occurred_at(self.occurred_at)
            .actor(self.actor)
            .attributes(self.attributes)
            .validated(limits)?;
        Ok(event)
    }
}

/// `POST /api/v1/integrations/{id}/events`.
///
/// # Errors
/// [`ApiError`]; Slack retries a delivery that is not answered 2xx.
pub async fn accept_event(
    app: &SlackApp,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let verified = app.verify(headers, body, state)?;
    require_content_type(headers, &["application/json"])?;
    let callback = match events::parse(verified.body())? {
        events::Envelope::UrlVerification { challenge } => {
            return Ok(Answer::reply(
                StatusCode::OK,
                json!({"challenge": challenge}),
            ))
        }
        events::Envelope::Other { kind } => {
            return Ok(Answer::ignored(format!(
                "envelope type {kind} is not stored"
            )))
        }
        events::Envelope::Callback(callback) => callback,
    };
    let workspace = app.workspace(callback.team_id.as_deref());
    caller.tenant = Some(workspace.tenant.clone());
    let team = callback.team_id.as_deref().unwrap_or("-");
    let (message, edit) = match callback.event {
        events::Decision::Skip { reason } => return Ok(Answer::ignored(reason)),
        events::Decision::Store(message) => (message, false),
        events::Decision::Edit(message) => (message, true),
        events::Decision::Delete { channel, ts } => {
            let whitelist = &workspace.channel_whitelist;
            if !whitelist.is_empty() && !listed(whitelist, &channel, None) {
                return Ok(Answer::ignored(format!(
                    "channel {channel} is not in channel_whitelist"
                )));
            }
            // Whatever was stored of it (a message, a mention, its edits) is forgotten.
            let route = Route {
                tenant: &workspace.tenant,
                project: &workspace.project,
                source: Source::Slack,
                integration: &app.id,
            };
            let selector = forget::Selector::new(forget::By::Item, item(team, &channel, &ts));
            let id = event::derived_id(&app.id, &callback.event_id);
            let event = forget::request(route, id, &selector, "Slack message deleted")
                .validated(&state.limits)?;
            let accepted = app.publish(event, state).await?;
            let mut answer = Answer::accepted(&accepted);
            answer.status = StatusCode::OK;
            return Ok(answer);
        }
    };
    let whitelist = &workspace.channel_whitelist;
    if !whitelist.is_empty() && !listed(whitelist, &message.channel, None) {
        return Ok(Answer::ignored(format!(
            "channel {} is not in channel_whitelist",
            message.channel
        )));
    }
    let auto_store = listed(&workspace.auto_store_channels, &message.channel, None);
    // A mention is a request to remember; in an auto-stored channel the message event
    // itself already stores the text.
    match (message.mention, auto_store) {
        (false, false) => {
            return Ok(Answer::ignored(format!(
                "channel {} is not in auto_store_channels",
                message.channel
            )))
        }
        (true, true) => {
            return Ok(Answer::ignored(
                "mention in an auto-stored channel: stored from its message event",
            ))
        }
        _ => {}
    }
    let event = message_event(
        app,
        callback.team_id.as_deref(),
        &message,
        callback.event_time,
        edit.then_some(callback.event_id.as_str()),
        Map::new(),
        &state.limits,
    )?;
    let accepted = app.publish(event, state).await?;
    let mut answer = Answer::accepted(&accepted);
    answer.status = StatusCode::OK;
    Ok(answer)
}

/// The event of a stored `message` of workspace `team`: the same for an Events API delivery and
/// a message imported from `conversations.history` (`slack::import`). Its id derives from the
/// workspace, channel and `ts` (a message's identity in Slack), so a retry of the event, the
/// `app_mention` of the same message, and the imported message are one event; `edit` is the
/// event id of an edit's delivery, which makes a new version. `extra` are attributes the caller
/// adds (an import's `imported`, names).
///
/// # Errors
/// [`ApiError`] when the message does not make a valid event within `limits`.
pub(crate) fn message_event(
    app: &SlackApp,
    team: Option<&str>,
    message: &events::Message,
    event_time: Option<i64>,
    edit: Option<&str>,
    extra: Map<String, Value>,
    limits: &Limits,
) -> Result<Event, ApiError> {
    let workspace = app.workspace(team);
    let mut attributes = Map::new();
    attributes.insert("channel".into(), json!(message.channel));
    if let Some(team) = team {
        attributes.insert("team_id".into(), json!(team));
    }
    attributes.insert("ts".into(), json!(message.ts));
    if let Some(thread) = &message.thread_ts {
        attributes.insert("thread_ts".into(), json!(thread));
    }
    // A reply joins its thread; a message that may start one is its own thread's first.
    let thread = message.thread_ts.as_deref().unwrap_or(&message.ts);
    let team = team.unwrap_or("-");
    attributes.insert(
        event::SESSION_ID.into(),
        json!(format!("slack:{team}:{}:{thread}", message.channel)),
    );
    attributes.insert(
        event::HUMAN_LABEL.into(),
        json!(format!("Slack thread {thread} in {}", message.channel)),
    );
    // An edited text replaces the memory of every earlier version.
    forget::mark_version(
        &mut attributes,
        &item(team, &message.channel, &message.ts),
        edit.is_some(),
    );
    attributes.extend(extra);
    let occurred_at = slack_time(&message.ts)
        .or_else(|| event_time.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()))
        .unwrap_or_else(OffsetDateTime::now_utc);
    Draft {
        // An edit is a new version of the message: its own delivery's id.
        id: match edit {
            Some(event_id) => event::derived_id(&app.id, event_id),
            None => event::derived_id(
                &app.id,
                &format!("message {team} {} {}", message.channel, message.ts),
            ),
        },
        workspace,
        integration: &app.id,
        kind: if message.mention {
            "app_mention"
        } else {
            "message"
        },
        content: events::unescape(&message.text),
        layer: Layer::Episodic,
        tags: &[],
        actor: Some(message.user.clone()),
        occurred_at,
        attributes,
    }
    .event(limits)
}

/// The name of one message, the same for every version of it (attribute `item`).
fn item(team: &str, channel: &str, ts: &str) -> String {
    format!("slack:{team}:{channel}:{ts}")
}

/// A Slack `ts` (`1531420618.000200`) as a time.
fn slack_time(ts: &str) -> Option<OffsetDateTime> {
    let secs: i64 = ts.split('.').next()?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// An ephemeral slash-command answer; `failure` marks it as a refusal in the audit trail.
fn ephemeral(text: &str, failure: Option<&str>) -> Answer {
    let mut answer = Answer::reply(StatusCode::OK, commands::ephemeral(text));
    if let Some(reason) = failure {
        answer.outcome = Outcome::Rejected;
        answer.reason = Some(reason.to_owned());
    }
    answer
}

/// `POST /api/v1/integrations/{id}/commands`: `/rae store|query|reflect <text>`.
///
/// Slack shows any non-200 answer as a failure without our message, so everything after the
/// signature check is answered 200 with an ephemeral text saying what happened.
///
/// # Errors
/// [`ApiError`] for an unauthenticated or malformed request.
pub async fn accept_command(
    app: &SlackApp,
    headers: &HeaderMap,
    body: &[u8],
    state: &IngressState,
    caller: &mut Caller,
) -> Result<Answer, ApiError> {
    let verified = app.verify(headers, body, state)?;
    require_content_type(headers, &["application/x-www-form-urlencoded"])?;
    let command = commands::parse(verified.body())?;
    let workspace = app.workspace(Some(&command.team_id));
    caller.tenant = Some(workspace.tenant.clone());
    let whitelist = &workspace.channel_whitelist;
    if !whitelist.is_empty()
        && !listed(
            whitelist,
            &command.channel_id,
            command.channel_name.as_deref(),
        )
    {
        return Ok(ephemeral(
            "RAE is not enabled in this channel.",
            Some("channel_not_allowed"),
        ));
    }
    let (text, reflect) = match commands::action(&command.text) {
        commands::Action::Usage(reason) => {
            let usage = commands::usage_text(&command.command);
            let text = match reason {
                Some(reason) => format!("{reason}\n{usage}"),
                None => usage,
            };
            return Ok(ephemeral(&text, None));
        }
        commands::Action::Query(query) => {
            return Ok(query_command(app, workspace, &command, query, state).await)
        }
        commands::Action::Store(text) => (text, false),
        commands::Action::Reflect(text) => (text, true),
    };
    let mut attributes = Map::new();
    attributes.insert("channel".into(), json!(command.channel_id));
    if let Some(name) = &command.channel_name {
        attributes.insert("channel_name".into(), json!(name));
    }
    attributes.insert("team_id".into(), json!(command.team_id));
    attributes.insert("user_id".into(), json!(command.user_id));
    let id = match &command.trigger_id {
        Some(trigger) => event::derived_id(&app.id, trigger),
        None => event::new_id(),
    };
    let event = Draft {
        id,
        workspace,
        integration: &app.id,
        kind: if reflect {
            "reflection"
        } else {
            "command_store"
        },
        content: text,
        layer: if reflect {
            Layer::Reflective
        } else {
            Layer::Episodic
        },
        tags: if reflect { &["reflection"] } else { &[] },
        actor: Some(
            command
                .user_name
                .clone()
                .unwrap_or_else(|| command.user_id.clone()),
        ),
        occurred_at: OffsetDateTime::now_utc(),
        attributes,
    }
    .event(&state.limits);
    let event = match event {
        Ok(event) => event,
        Err(err) => {
            return Ok(ephemeral(
                &format!("Not stored: {err}"),
                Some("bad_request"),
            ))
        }
    };
    let what = if reflect { "Reflection" } else { "Memory" };
    Ok(match app.publish(event, state).await {
        Ok(accepted) => {
            let text = if accepted.duplicate {
                format!("{what} was already stored (id `{}`).", accepted.id)
            } else {
                format!("{what} stored (id `{}`).", accepted.id)
            };
            let mut answer = ephemeral(&text, None);
            answer.outcome = if accepted.duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Accepted
            };
            answer.event_id = Some(accepted.id);
            answer
        }
        Err(err) => ephemeral(
            &format!("{what} not stored: {err}. Please try again in a moment."),
            Some(err.code()),
        ),
    })
}

/// `/rae query <text>`: RAE's answer within the deadline, else "searching" now and the results
/// through `response_url` when RAE answers.
async fn query_command(
    app: &SlackApp,
    workspace: &Workspace,
    command: &commands::SlashCommand,
    query: String,
    state: &IngressState,
) -> Answer {
    let request = json!({"query": query, "project": workspace.project, "k": app.query_results});
    let searching = {
        let rae = state.rae.clone();
        let tenant = workspace.tenant.clone();
        let query = query.clone();
        state.tasks.spawn(async move {
            match rae.query(&tenant, &request).await {
                Ok(answer) => Ok(results_message(&query, &answer)),
                Err(err) => {
                    tracing::warn!(error = %err, "RAE search for a slash command failed");
                    Err(err.public_message())
                }
            }
        })
    };
    let mut searching = searching;
    match tokio::time::timeout(app.deadline, &mut searching).await {
        Ok(Ok(Ok(message))) => Answer::reply(StatusCode::OK, message),
        Ok(Ok(Err(err))) => ephemeral(
            &format!("RAE could not answer: {err}"),
            Some("rae_unavailable"),
        ),
        Ok(Err(_)) => ephemeral("The search failed.", Some("internal")),
        Err(_) => {
            let Some(url) = command.response_url.clone().filter(|u| {
                app.response_url_prefixes
                    .iter()
                    .any(|p| u.starts_with(p.as_str()))
            }) else {
                searching.abort();
                return ephemeral(
                    "RAE is slow to answer right now; please try again.",
                    Some("rae_slow"),
                );
            };
            let http = state.outbound.clone();
            state.tasks.spawn(async move {
                let message = match searching.await {
                    Ok(Ok(message)) => message,
                    Ok(Err(err)) => commands::ephemeral(&format!("RAE could not answer: {err}")),
                    Err(_) => commands::ephemeral("The search failed."),
                };
                if let Err(err) = http.post(&url).json(&message).send().await {
                    tracing::warn!(error = %err, "slack response_url not reached");
                }
            });
            ephemeral("Searching RAE… the results will follow here.", None)
        }
    }
}

/// Slack's message for RAE's query answer `{results, total_count}`.
fn results_message(query: &str, answer: &Value) -> Value {
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    commands::query_results(
        query,
        results,
        answer.get("total_count").and_then(Value::as_u64),
    )
}
