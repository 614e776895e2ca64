//! `rae-pipeline import slack` and the periodic sync (`sync_interval_secs`): channels' history
//! read from Slack's Web API becomes the events the Events API would have made.
//!
//! For each channel: `conversations.history` page by page (`cursor`, 200 messages a page), and
//! for each thread's first message `conversations.replies`; each message goes through the live
//! producer's decision (`events::decide`: people's messages only) and event
//! (`slack::message_event`: id from workspace, channel and `ts`; a reply's `session_id` is its
//! thread), so an imported message and its live event are one event. The workspace comes from
//! `auth.test`; the channel's and authors' names from `conversations.info` and `users.info`,
//! asked once each (`channel_name`, `user_name` attributes). Slack's per-method rate limits
//! answer 429 with `Retry-After`, which is waited out.
//!
//! The channel's cursor in `rae_state` holds the newest `ts` of the last complete import (the
//! next import asks only for newer messages: one request when nothing is new) and, while an
//! import runs, the page cursor after the last page published, so a killed import resumes there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use rae_core::bus::Bus;
use rae_core::config::{Config, Secret, SlackConfig};
use rae_core::event::{Event, Limits};

use super::events::{decide, Decision};
use super::{message_event, Registry, SlackApp};
use crate::import::progress::{Item, Progress};
use crate::import::{backoff, retry_after, wait, ImportError, Page, PageCursors, Summary};
use crate::import::{MAX_ATTEMPTS, MAX_WAIT};

/// Messages asked per page (Slack recommends at most 200).
const LIMIT: u32 = 200;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A 429 without `Retry-After`.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// One import run's choices.
#[derive(Debug, Clone)]
pub struct Options {
    /// Channel ids (`C0123ABCD`).
    pub channels: Vec<String>,
    /// Only messages at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Print the events instead of publishing them; no cursor is read or written.
    pub dry_run: bool,
}

/// The importer of one Slack integration.
pub struct Importer {
    app: SlackApp,
    http: reqwest::Client,
    base: String,
    token: Secret,
    sink: Option<crate::import::Sink>,
    limits: Limits,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    /// `users.info` answers, by user id.
    users: Mutex<HashMap<String, Option<String>>>,
}

/// The Slack integration `id`, or the only enabled one.
///
/// # Errors
/// [`ImportError::Config`] naming what is missing.
pub fn integration<'c>(
    config: &'c Config,
    id: Option<&str>,
) -> Result<(&'c str, &'c SlackConfig), ImportError> {
    let all: Vec<_> = config.settings_of::<SlackConfig>().collect();
    match id {
        Some(id) => all
            .into_iter()
            .find(|(i, _)| i.id == id)
            .map(|(i, s)| (i.id.as_str(), s))
            .ok_or_else(|| {
                ImportError::Config(format!("no enabled slack integration {id:?} in the config"))
            }),
        None => match all.as_slice() {
            [(i, s)] => Ok((i.id.as_str(), *s)),
            [] => Err(ImportError::Config(
                "no enabled slack integration in the config (add one under integrations)".into(),
            )),
            _ => Err(ImportError::Config(
                "several slack integrations: name one with --integration".into(),
            )),
        },
    }
}

impl Importer {
    /// The importer of integration `id` (or the only one), with `token` or its `bot_token`.
    /// `bus` is `None` for a dry run.
    ///
    /// # Errors
    /// [`ImportError::Config`] for a missing integration or token; [`ImportError::Cursor`] when
    /// `rae_state` is missing.
    pub async fn build(
        config: &Config,
        id: Option<&str>,
        token: Option<Secret>,
        bus: Option<&Bus>,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Importer, ImportError> {
        let (id, settings) = integration(config, id)?;
        let token = token
            .or_else(|| settings.bot_token.clone())
            .ok_or_else(|| {
                ImportError::Config(format!(
                    "slack integration {id} has no bot_token (or pass --token / SLACK_BOT_TOKEN)"
                ))
            })?;
        let app = Registry::build(config)
            .get(id)
            .cloned()
            .ok_or_else(|| ImportError::Config(format!("no enabled slack integration {id:?}")))?;
        let sink = match bus {
            Some(bus) => Some(crate::import::Sink::open(bus, &format!("slack.{id}")).await?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ImportError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Importer {
            app,
            http,
            base: settings.api_url.trim_end_matches('/').to_owned(),
            token,
            sink,
            limits: config.limits.limits(),
            progress,
            cancel,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Imports `options.channels` and returns the counts.
    ///
    /// # Errors
    /// The first [`ImportError`] that waiting does not cure; pages finished stay done.
    pub async fn run(&self, options: &Options) -> Result<Summary, ImportError> {
        let auth = self.call("auth.test", &[]).await?;
        let team = auth
            .get("team_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for channel in &options.channels {
            self.channel(team.as_deref(), channel, options).await?;
        }
        Ok(self.progress.summary())
    }

    async fn channel(
        &self,
        team: Option<&str>,
        channel: &str,
        options: &Options,
    ) -> Result<(), ImportError> {
        let info = self
            .call("conversations.info", &[("channel", channel)])
            .await?;
        let channel_name = info
            .pointer("/channel/name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = format!("channel {channel}");
        let stored = match (&self.sink, options.dry_run) {
            (Some(sink), false) => sink.cursors.get(&key).await?,
            _ => None,
        };
        let mut state = stored
            .as_ref()
            .map(|p| Cursor::from_data(&p.data))
            .unwrap_or_default();
        let since = options
            .since
            .map(|t| format!("{}.000000", t.unix_timestamp()));
        let (oldest, from) = start(&state, since.as_deref());
        let mut cursor = match &state.run {
            Some(run) if run.oldest == oldest => Some(run.cursor.clone()),
            _ => None,
        };
        if cursor.is_none() {
            state.run = None;
        }
        let mut newest = state.run.as_ref().and_then(|r| r.newest.clone());
        loop {
            let mut params = vec![
                ("channel", channel.to_owned()),
                ("limit", LIMIT.to_string()),
            ];
            if let Some(oldest) = &oldest {
                params.push(("oldest", oldest.clone()));
            }
            if let Some(cursor) = &cursor {
                params.push(("cursor", cursor.clone()));
            }
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = self.call("conversations.history", &params).await?;
            let messages = messages(&page, "conversations.history")?;
            let mut events = Vec::new();
            for message in messages {
                let ts = message.get("ts").and_then(Value::as_str);
                if let Some(ts) = ts {
                    if newest.as_deref().is_none_or(|n| newer(ts, n)) {
                        newest = Some(ts.to_owned());
                    }
                }
                events.extend(
                    self.event(team, channel, channel_name.as_deref(), message)
                        .await,
                );
                let replies = message
                    .get("reply_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let starts_thread =
                    ts.is_some() && message.get("thread_ts").and_then(Value::as_str) == ts;
                if replies > 0 && starts_thread {
                    for reply in self.replies(channel, ts.unwrap_or_default()).await? {
                        events.extend(
                            self.event(team, channel, channel_name.as_deref(), &reply)
                                .await,
                        );
                    }
                }
            }
            crate::import::publish(self.sink.as_ref(), &self.progress, events).await?;
            let next = page
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            match &next {
                Some(next) => {
                    state.run = Some(Run {
                        oldest: oldest.clone(),
                        cursor: next.clone(),
                        newest: newest.clone(),
                    })
                }
                None => {
                    state.run = None;
                    state.from = from.clone();
                    state.done =
                        newest_of(newest.as_deref(), state.done.as_deref()).map(str::to_owned);
                }
            }
            if let (Some(sink), false) = (&self.sink, options.dry_run) {
                let page = Page {
                    data: state.to_data(),
                    ..Page::default()
                };
                sink.cursors.put(&key, &page).await?;
            }
            self.progress.page();
            cursor = next;
            if cursor.is_none() {
                return Ok(());
            }
        }
    }

    /// The replies of a thread (without its first message, which the history has).
    async fn replies(&self, channel: &str, thread: &str) -> Result<Vec<Value>, ImportError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let limit = LIMIT.to_string();
            let mut params = vec![
                ("channel", channel),
                ("ts", thread),
                ("limit", limit.as_str()),
            ];
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            let page = self.call("conversations.replies", &params).await?;
            out.extend(
                messages(&page, "conversations.replies")?
                    .iter()
                    .filter(|m| m.get("ts").and_then(Value::as_str) != Some(thread))
                    .cloned(),
            );
            cursor = page
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// The event of one message, or `None` (counted as skipped) when it is not stored.
    async fn event(
        &self,
        team: Option<&str>,
        channel: &str,
        channel_name: Option<&str>,
        message: &Value,
    ) -> Option<Event> {
        let Some(mut map) = message.as_object().cloned() else {
            self.progress.item(Item::Skipped);
            return None;
        };
        map.insert("channel".into(), json!(channel));
        map.entry("type").or_insert(json!("message"));
        let message = match decide(&map) {
            // History holds each message as it is now: an edited one is its latest version.
            Ok(Decision::Store(message) | Decision::Edit(message)) => message,
            Ok(Decision::Delete { .. }) => {
                self.progress.item(Item::Skipped);
                return None;
            }
            Ok(Decision::Skip { reason }) => {
                tracing::debug!(reason, channel, "message not stored");
                self.progress.item(Item::Skipped);
                return None;
            }
            Err(err) => {
                tracing::warn!(error = %err, channel, "message skipped");
                self.progress.item(Item::Skipped);
                return None;
            }
        };
        let mut extra = Map::new();
        extra.insert("imported".into(), json!(true));
        if let Some(name) = channel_name {
            extra.insert("channel_name".into(), json!(name));
        }
        if let Some(name) = self.user_name(&message.user).await {
            extra.insert("user_name".into(), json!(name));
        }
        match message_event(&self.app, team, &message, None, None, extra, &self.limits) {
            Ok(event) => Some(event),
            Err(err) => {
                tracing::warn!(error = ?err, channel, "message skipped");
                self.progress.item(Item::Skipped);
                None
            }
        }
    }

    /// A user's name, asked once (`None` when Slack cannot say).
    async fn user_name(&self, user: &str) -> Option<String> {
        if let Some(known) = self.users.lock().await.get(user) {
            return known.clone();
        }
        let name = match self.call("users.info", &[("user", user)]).await {
            Ok(info) => info
                .pointer("/user/real_name")
                .or_else(|| info.pointer("/user/name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            Err(err) => {
                tracing::debug!(error = %err, user, "user name not known");
                None
            }
        };
        self.users
            .lock()
            .await
            .insert(user.to_owned(), name.clone());
        name
    }

    /// Calls a Web API method; waits out 429s (`Retry-After`) and retries server errors.
    ///
    /// # Errors
    /// [`ImportError::Config`] for Slack's `ok: false` answers that the user fixes
    /// (`channel_not_found`, `not_in_channel`, `invalid_auth`, `missing_scope`, ...).
    async fn call(&self, method: &str, params: &[(&str, &str)]) -> Result<Value, ImportError> {
        let url = format!("{}/{method}", self.base);
        let mut attempt = 0;
        loop {
            let query = serde_urlencoded::to_string(params).unwrap_or_default();
            let request = self
                .http
                .get(format!("{url}?{query}"))
                .bearer_auth(self.token.expose())
                .header(
                    reqwest::header::USER_AGENT,
                    concat!("rae-pipeline/", env!("CARGO_PKG_VERSION")),
                );
            let sent = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(ImportError::Cancelled),
                sent = request.send() => sent,
            };
            attempt += 1;
            self.progress.request(false);
            let response = match sent {
                Ok(response) => response,
                Err(err) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(method, error = %err, attempt, "Slack request failed, retrying");
                    wait(backoff(attempt), &self.cancel).await?;
                    continue;
                }
                Err(err) => {
                    return Err(ImportError::Unreachable {
                        url,
                        message: err.to_string(),
                    })
                }
            };
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let delay = retry_after(response.headers(), MAX_WAIT).unwrap_or(DEFAULT_WAIT);
                self.progress
                    .rate_limited(delay, "Slack rate limit (429 Retry-After)");
                wait(delay, &self.cancel).await?;
                continue;
            }
            if status.is_server_error() && attempt < MAX_ATTEMPTS {
                wait(backoff(attempt), &self.cancel).await?;
                continue;
            }
            let body: Value = response.json().await.map_err(|e| ImportError::Shape {
                url: url.clone(),
                message: e.to_string(),
            })?;
            if body.get("ok").and_then(Value::as_bool) == Some(true) {
                return Ok(body);
            }
            let error = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            if error == "ratelimited" {
                self.progress
                    .rate_limited(DEFAULT_WAIT, "Slack rate limit (ratelimited)");
                wait(DEFAULT_WAIT, &self.cancel).await?;
                continue;
            }
            return Err(slack_error(method, params, error));
        }
    }
}

/// A Slack error code as a message that says what to do.
fn slack_error(method: &str, params: &[(&str, &str)], error: &str) -> ImportError {
    let channel = params
        .iter()
        .find(|(k, _)| *k == "channel")
        .map(|(_, v)| format!(" for channel {v}"))
        .unwrap_or_default();
    let hint = match error {
        "not_in_channel" => " (invite the app to the channel)",
        "channel_not_found" => " (check the channel id, and invite the app to private channels)",
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            " (check bot_token)"
        }
        "missing_scope" => {
            " (the app needs channels:history, groups:history, channels:read, groups:read, users:read)"
        }
        _ => "",
    };
    ImportError::Config(format!("Slack answered {error} to {method}{channel}{hint}"))
}

/// The `messages` array of an answer.
fn messages<'v>(page: &'v Value, method: &str) -> Result<&'v [Value], ImportError> {
    page.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| ImportError::Shape {
            url: method.to_owned(),
            message: "no messages array".into(),
        })
}

/// True when Slack timestamp `a` is after `b` (`1531420618.000200`: seconds, then a sequence).
fn newer(a: &str, b: &str) -> bool {
    let parse = |t: &str| {
        let (s, f) = t.split_once('.').unwrap_or((t, "0"));
        (s.parse::<u64>().unwrap_or(0), f.parse::<u64>().unwrap_or(0))
    };
    parse(a) > parse(b)
}

fn newest_of<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<&'a str> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if newer(b, a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Where a run starts (`oldest`) and the `from` it will have covered when complete. The last
/// complete import covered `from` (None: the channel's beginning) to `done`: only newer
/// messages are asked, unless this run reaches further back than `from`.
fn start(state: &Cursor, since: Option<&str>) -> (Option<String>, Option<String>) {
    let covered = match (&state.from, since) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(from), Some(since)) => !newer(from, since),
    };
    match &state.done {
        Some(done) if covered => (
            newest_of(since, Some(done)).map(str::to_owned),
            state.from.clone(),
        ),
        _ => (since.map(str::to_owned), since.map(str::to_owned)),
    }
}

/// A channel's cursor.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cursor {
    /// The oldest `ts` the last complete import asked from; `None`: the channel's beginning.
    from: Option<String>,
    /// The newest `ts` of the last complete import.
    done: Option<String>,
    /// An import under way.
    run: Option<Run>,
}

#[derive(Debug, Clone, PartialEq)]
struct Run {
    /// The `oldest` the run asked from.
    oldest: Option<String>,
    /// The page cursor after the last page published.
    cursor: String,
    newest: Option<String>,
}

impl Cursor {
    fn from_data(data: &Value) -> Cursor {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Cursor {
            from: text(data, "from"),
            done: text(data, "done"),
            run: data.get("run").filter(|r| r.is_object()).and_then(|r| {
                Some(Run {
                    oldest: text(r, "oldest"),
                    cursor: text(r, "cursor")?,
                    newest: text(r, "newest"),
                })
            }),
        }
    }

    fn to_data(&self) -> Value {
        json!({
            "from": self.from,
            "done": self.done,
            "run": self.run.as_ref().map(|r| json!({"oldest": r.oldest, "cursor": r.cursor, "newest": r.newest})),
        })
    }
}

/// The periodic import of one integration's `auto_store_channels` (`sync_interval_secs`).
pub struct Sync {
    config: Config,
    id: String,
    bus: Bus,
    interval: Duration,
    channels: Vec<String>,
}

impl Sync {
    /// The sync of integration `id` when it has `sync_interval_secs`; `Ok(None)` otherwise.
    ///
    /// # Errors
    /// [`ImportError::Cursor`] when `rae_state` is missing.
    pub async fn build(config: &Config, id: &str, bus: &Bus) -> Result<Option<Sync>, ImportError> {
        let (_, settings) = integration(config, Some(id))?;
        let Some(interval) = settings.sync_interval_secs else {
            return Ok(None);
        };
        PageCursors::open(bus, &format!("slack.{id}")).await?;
        Ok(Some(Sync {
            config: config.clone(),
            id: id.to_owned(),
            bus: bus.clone(),
            interval: Duration::from_secs(interval),
            channels: settings
                .auto_store_channels
                .iter()
                .map(|c| c.trim_start_matches('#').to_owned())
                .collect(),
        }))
    }

    /// Imports every interval until `cancel`; a failed run is logged and tried again.
    pub async fn run(self, cancel: CancellationToken) {
        let options = Options {
            channels: self.channels.clone(),
            since: None,
            dry_run: false,
        };
        let name = format!("slack sync {}", self.id);
        crate::import::every(&name, &self.id, self.interval, &cancel, |progress| async {
            let importer = Importer::build(
                &self.config,
                Some(&self.id),
                None,
                Some(&self.bus),
                progress,
                cancel.child_token(),
            )
            .await?;
            importer.run(&options).await
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_timestamps_compare_as_numbers() {
        assert!(newer("1531420618.000200", "1531420618.000100"));
        assert!(newer("1531420619.000000", "1531420618.999999"));
        assert!(!newer("1531420618.000100", "1531420618.000100"));
        assert_eq!(newest_of(Some("2.0"), Some("10.0")), Some("10.0"));
        assert_eq!(newest_of(None, Some("1.5")), Some("1.5"));
    }

    #[test]
    fn a_run_asks_only_what_the_last_complete_one_did_not_cover() {
        let never = Cursor::default();
        assert_eq!(start(&never, None), (None, None));
        assert_eq!(
            start(&never, Some("5.0")),
            (Some("5.0".into()), Some("5.0".into()))
        );
        let all = Cursor {
            from: None,
            done: Some("9.0".into()),
            run: None,
        };
        assert_eq!(start(&all, None), (Some("9.0".into()), None));
        assert_eq!(start(&all, Some("5.0")), (Some("9.0".into()), None));
        assert_eq!(start(&all, Some("10.0")), (Some("10.0".into()), None));
        // The last import began at 5: an earlier --since, or none, reads from there again.
        let recent = Cursor {
            from: Some("5.0".into()),
            done: Some("9.0".into()),
            run: None,
        };
        assert_eq!(
            start(&recent, Some("6.0")),
            (Some("9.0".into()), Some("5.0".into()))
        );
        assert_eq!(
            start(&recent, Some("2.0")),
            (Some("2.0".into()), Some("2.0".into()))
        );
        assert_eq!(start(&recent, None), (None, None));
    }

    #[test]
    fn cursors_survive_the_bucket() {
        let c = Cursor {
            from: Some("0.000001".into()),
            done: Some("1.000001".into()),
            run: Some(Run {
                oldest: None,
                cursor: "dXNlcjpVMEc5V0ZYTlo=".into(),
                newest: Some("9.000001".into()),
            }),
        };
        assert_eq!(Cursor::from_data(&c.to_data()), c);
        assert_eq!(Cursor::from_data(&Value::Null), Cursor::default());
    }

    #[test]
    fn errors_say_what_to_do() {
        let err = slack_error(
            "conversations.history",
            &[("channel", "C1")],
            "not_in_channel",
        );
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "Slack answered not_in_channel to conversations.history for channel C1 (invite the app to the channel)"
        );
    }

    #[test]
    fn history_messages_decide_like_events() {
        let history: Value = serde_json::from_str(include_str!(
            "../../../../tests/fixtures/slack/rest/conversations.history.json"
        ))
        .unwrap();
        let decided: Vec<Decision> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let mut map = m.as_object().unwrap().clone();
                map.insert("channel".into(), json!("C123ABC456"));
                decide(&map).unwrap()
            })
            .collect();
        assert!(matches!(&decided[0], Decision::Store(m) if m.text.starts_with("Team decided")));
        assert!(matches!(&decided[1], Decision::Skip { reason } if reason == "bot message"));
        assert!(
            matches!(&decided[2], Decision::Store(m) if m.thread_ts.as_deref() == Some("1482960137.003543"))
        );
    }
}
