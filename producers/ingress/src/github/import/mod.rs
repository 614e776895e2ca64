//! `rae-pipeline import github` and the periodic sync (`sync_interval_secs`): a repository's
//! history read from the REST API becomes the events its webhooks would have made.
//!
//! For each repository: its name and owner (`GET /repos/{o}/{r}`), then by kind the issues,
//! pull requests (with their reviews), comments and releases, each listing walked page by page
//! (`per_page=100`, oldest first, `Link: rel="next"`). Each item becomes deliveries ([`rest`]),
//! the live normalizer (`github::normalize`) makes their memories, [`super::event_of`] their
//! events (the id from the item and its state, as for a webhook), routed to the tenant that
//! claims the repository. Events are published with `publish_new_once`; a finished page's
//! `ETag` and next link go to `rae_state` ([`crate::import::pages`]) after its events were
//! acknowledged, so a re-run asks each page with `If-None-Match` (a 304 costs no rate limit)
//! and an import stopped midway resumes at the first unfinished page.

pub mod api;
pub mod app_auth;
pub mod rest;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use rae_core::bus::Bus;
use rae_core::config::{Config, GithubConfig};
use rae_core::event::{Event, Limits};

use super::normalize::{self, Outcome};
use super::{event_of, Github, Registry};
use crate::import::progress::{Item, Progress};
use crate::import::{ImportError, Page, PageCursors, Summary};
use api::{Api, Credentials, Fetched, Target};
use app_auth::AppKey;
use rest::{IssueRef, Repo};

/// Items asked per page: the most GitHub serves.
const PER_PAGE: u32 = 100;

/// What to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pulls,
    Issues,
    Comments,
    Reviews,
    Releases,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Pulls,
        Kind::Issues,
        Kind::Comments,
        Kind::Reviews,
        Kind::Releases,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pulls => "pulls",
            Kind::Issues => "issues",
            Kind::Comments => "comments",
            Kind::Reviews => "reviews",
            Kind::Releases => "releases",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!("unknown kind {s:?}: expected pulls, issues, comments, reviews or releases")
            })
    }
}

/// One import run's choices.
#[derive(Debug, Clone)]
pub struct Options {
    /// `owner/name` repositories.
    pub repositories: Vec<String>,
    /// Organizations whose every repository is imported.
    pub organizations: Vec<String>,
    /// Only what happened at or after this time.
    pub since: Option<OffsetDateTime>,
    pub kinds: Vec<Kind>,
    /// Print the events instead of publishing them; no cursor is read or written.
    pub dry_run: bool,
}

/// Where events go (absent in a dry run).
/// The importer of one GitHub integration.
pub struct Importer {
    hook: Github,
    api: Api,
    sink: Option<crate::import::Sink>,
    limits: Limits,
    progress: Arc<Progress>,
    /// Issues named by comments, read once.
    issues: Mutex<HashMap<(String, u64), IssueRef>>,
}

/// The GitHub integration `id`, or the only enabled one.
///
/// # Errors
/// [`ImportError::Config`] naming what is missing.
pub fn integration<'c>(
    config: &'c Config,
    id: Option<&str>,
) -> Result<(&'c str, &'c GithubConfig), ImportError> {
    let all: Vec<_> = config.settings_of::<GithubConfig>().collect();
    match id {
        Some(id) => all
            .into_iter()
            .find(|(i, _)| i.id == id)
            .map(|(i, s)| (i.id.as_str(), s))
            .ok_or_else(|| {
                ImportError::Config(format!(
                    "no enabled github integration {id:?} in the config"
                ))
            }),
        None => match all.as_slice() {
            [(i, s)] => Ok((i.id.as_str(), *s)),
            [] => Err(ImportError::Config(
                "no enabled github integration in the config (add one under integrations)".into(),
            )),
            _ => Err(ImportError::Config(
                "several github integrations: name one with --integration".into(),
            )),
        },
    }
}

/// The credentials of `settings`, or `token` when given (it wins).
///
/// # Errors
/// [`ImportError::Config`] when the private key cannot be read or used.
pub fn credentials(
    settings: &GithubConfig,
    token: Option<rae_core::config::Secret>,
) -> Result<Credentials, ImportError> {
    if let Some(token) = token.or_else(|| settings.token.clone()) {
        return Ok(Credentials::Token(token));
    }
    match (settings.app_id, &settings.private_key_path) {
        (Some(app_id), Some(path)) => {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                ImportError::Config(format!(
                    "cannot read private_key_path {}: {e}",
                    path.display()
                ))
            })?;
            let key = AppKey::from_pem(&pem).map_err(|e| {
                ImportError::Config(format!("private_key_path {}: {e}", path.display()))
            })?;
            Ok(Credentials::App {
                app_id,
                key: Box::new(key),
            })
        }
        _ => Ok(Credentials::Anonymous),
    }
}

impl Importer {
    /// The importer of integration `id` (or the only one). `bus` is `None` for a dry run.
    ///
    /// # Errors
    /// [`ImportError::Config`] for a missing integration or unusable credentials;
    /// [`ImportError::Cursor`] or [`ImportError::Publish`] when the buckets are missing.
    pub async fn build(
        config: &Config,
        id: Option<&str>,
        credentials: Credentials,
        bus: Option<&Bus>,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<Importer, ImportError> {
        let (id, settings) = integration(config, id)?;
        let registry = Registry::build(config);
        let hook = registry
            .get(id)
            .cloned()
            .ok_or_else(|| ImportError::Config(format!("no enabled github integration {id:?}")))?;
        let sink = match bus {
            Some(bus) => Some(crate::import::Sink::open(bus, &format!("github.{id}")).await?),
            None => None,
        };
        let api = Api::new(&settings.api_url, credentials, progress.clone(), cancel)?;
        Ok(Importer {
            hook,
            api,
            sink,
            limits: config.limits.limits(),
            progress,
            issues: Mutex::new(HashMap::new()),
        })
    }

    /// Imports what `options` names and returns the counts.
    ///
    /// # Errors
    /// The first [`ImportError`] that waiting does not cure; pages finished before it stay done.
    pub async fn run(&self, options: &Options) -> Result<Summary, ImportError> {
        let mut repositories: Vec<String> = Vec::new();
        let add = |name: String, into: &mut Vec<String>| {
            if !into.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
                into.push(name);
            }
        };
        for repo in &options.repositories {
            add(repo.clone(), &mut repositories);
        }
        for org in &options.organizations {
            for repo in self.organization_repositories(org).await? {
                add(repo, &mut repositories);
            }
        }
        for repo in &repositories {
            self.repository(repo, options).await?;
        }
        Ok(self.progress.summary())
    }

    async fn organization_repositories(&self, org: &str) -> Result<Vec<String>, ImportError> {
        let target = Target::Org(org.to_owned());
        let mut url = Some(
            self.api
                .url(&format!("/orgs/{org}/repos?type=all&per_page={PER_PAGE}")),
        );
        let mut names = Vec::new();
        while let Some(u) = url {
            let Fetched::Page { body, next, .. } = self.api.get(&u, &target, None).await? else {
                break;
            };
            names.extend(
                items(&body, &u)?
                    .iter()
                    .filter_map(|r| r.get("full_name")?.as_str().map(str::to_owned)),
            );
            url = next;
        }
        Ok(names)
    }

    async fn repository(&self, full_name: &str, options: &Options) -> Result<(), ImportError> {
        let Some((owner, name)) = full_name.split_once('/') else {
            return Err(ImportError::Config(format!(
                "repository {full_name:?} must look like owner/name"
            )));
        };
        let target = Target::Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        };
        let base = format!("/repos/{owner}/{name}");
        let repo = self.repo(&self.api.url(&base), &target).await?;
        let Some((tenant, project)) = self
            .hook
            .route(Some(&repo.full_name), repo.organization.as_deref())
        else {
            tracing::warn!(repository = %repo.full_name, integration = %self.hook.id, "repository is not configured for any tenant of this integration; skipped");
            return Ok(());
        };
        let to = Dest {
            repo: &repo,
            tenant,
            project,
            since: options.since,
            target: &target,
        };
        let since = options
            .since
            .and_then(|s| s.format(&Rfc3339).ok())
            .map(|s| format!("&since={s}"))
            .unwrap_or_default();
        // A page's cursor records what was done with it: the same page walked for other kinds
        // or another --since is not the same work.
        let tag = |kinds: &[Kind]| {
            let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let since = options
                .since
                .and_then(|s| s.format(&Rfc3339).ok())
                .unwrap_or_default();
            format!("#{} since={since}", kinds.join(","))
        };
        let has = |k: Kind| options.kinds.contains(&k);
        let (repo, to, base) = (&repo, &to, base.as_str());

        if has(Kind::Issues) {
            let url = self.api.url(&format!(
                "{base}/issues?state=all&sort=created&direction=asc&per_page={PER_PAGE}{since}"
            ));
            self.walk(
                &url,
                &tag(&[Kind::Issues]),
                to,
                |page| async move {
                    let mut deliveries = Vec::new();
                    for issue in page {
                        if let Some(r) = IssueRef::from_issue(&issue) {
                            self.issues
                                .lock()
                                .await
                                .insert((repo.full_name.clone(), r.number), r);
                        }
                        if !rest::is_pull_request(&issue) {
                            deliveries.extend(rest::issue_deliveries(repo, &issue));
                        }
                    }
                    Ok((deliveries, Vec::new()))
                },
                options.dry_run,
            )
            .await?;
        }
        if has(Kind::Pulls) || has(Kind::Reviews) {
            let kinds: Vec<Kind> = [Kind::Pulls, Kind::Reviews]
                .into_iter()
                .filter(|k| has(*k))
                .collect();
            let url = self.api.url(&format!(
                "{base}/pulls?state=all&sort=created&direction=asc&per_page={PER_PAGE}"
            ));
            self.walk(
                &url,
                &tag(&kinds),
                to,
                |page| async move {
                    let mut deliveries = Vec::new();
                    let mut cursors = Vec::new();
                    for pr in page {
                        if has(Kind::Pulls) {
                            deliveries.extend(rest::pull_deliveries(repo, &pr));
                        }
                        if has(Kind::Reviews) && updated_since(&pr, options.since) {
                            let (reviews, pages) =
                                self.reviews(to, base, &pr, options.dry_run).await?;
                            deliveries.extend(reviews);
                            cursors.extend(pages);
                        }
                    }
                    Ok((deliveries, cursors))
                },
                options.dry_run,
            )
            .await?;
        }
        if has(Kind::Comments) {
            let url = self.api.url(&format!(
                "{base}/issues/comments?sort=created&direction=asc&per_page={PER_PAGE}{since}"
            ));
            self.walk(
                &url,
                &tag(&[Kind::Comments]),
                to,
                |page| async move {
                    let mut deliveries = Vec::new();
                    for comment in page {
                        let Some(number) = rest::comment_issue_number(&comment) else {
                            self.progress.item(Item::Skipped);
                            continue;
                        };
                        let issue = self.issue(to, base, number).await?;
                        deliveries.push(rest::comment_delivery(repo, &issue, &comment));
                    }
                    Ok((deliveries, Vec::new()))
                },
                options.dry_run,
            )
            .await?;
        }
        if has(Kind::Releases) {
            let url = self
                .api
                .url(&format!("{base}/releases?per_page={PER_PAGE}"));
            self.walk(
                &url,
                &tag(&[Kind::Releases]),
                to,
                |page| async move {
                    let deliveries = page
                        .iter()
                        .filter_map(|r| rest::release_delivery(repo, r))
                        .collect();
                    Ok((deliveries, Vec::new()))
                },
                options.dry_run,
            )
            .await?;
        }
        Ok(())
    }

    /// The repository's name and owner, from its cursor when unchanged.
    async fn repo(&self, url: &str, target: &Target) -> Result<Repo, ImportError> {
        let stored = match &self.sink {
            Some(sink) => sink.cursors.get(url).await?,
            None => None,
        };
        let known = stored.as_ref().and_then(|p| Repo::from_data(&p.data));
        let etag = known
            .as_ref()
            .and(stored.as_ref())
            .and_then(|p| p.etag.as_deref());
        match self.api.get(url, target, etag).await? {
            Fetched::NotModified => known.ok_or_else(|| ImportError::Shape {
                url: url.to_owned(),
                message: "304 without a stored repository".into(),
            }),
            Fetched::Page { body, etag, .. } => {
                let repo = Repo::from_api(&body).ok_or_else(|| ImportError::Shape {
                    url: url.to_owned(),
                    message: "no full_name and owner.login".into(),
                })?;
                if let Some(sink) = &self.sink {
                    let page = Page {
                        etag,
                        data: repo.to_data(),
                        ..Page::default()
                    };
                    sink.cursors.put(url, &page).await?;
                }
                Ok(repo)
            }
        }
    }

    /// Walks a listing from `first`: each changed page's items become deliveries (`make`, which
    /// also answers the cursors of listings it read for them, such as a PR's reviews), their
    /// events are published, then those cursors and the page's are stored.
    async fn walk<F, Fut>(
        &self,
        first: &str,
        tag: &str,
        to: &Dest<'_>,
        make: F,
        dry_run: bool,
    ) -> Result<(), ImportError>
    where
        F: Fn(Vec<Value>) -> Fut,
        Fut: std::future::Future<Output = Result<Made, ImportError>>,
    {
        let mut url = Some(first.to_owned());
        let mut first_page = true;
        while let Some(u) = url {
            let key = format!("{u}{tag}");
            let stored = match (&self.sink, dry_run) {
                (Some(sink), false) => sink.cursors.get(&key).await?,
                _ => None,
            };
            let fetched = self
                .api
                .get(
                    &u,
                    to.target,
                    stored.as_ref().and_then(|p| p.etag.as_deref()),
                )
                .await?;
            let page = match fetched {
                Fetched::NotModified => {
                    // Unchanged since its events were published: follow the stored link.
                    url = stored.and_then(|p| p.next);
                    self.progress.page();
                    first_page = false;
                    continue;
                }
                Fetched::Page {
                    body,
                    etag,
                    next,
                    last,
                } => {
                    if first_page {
                        self.progress.expect_pages(last.unwrap_or(1));
                    }
                    let (deliveries, cursors) = make(items(&body, &u)?.to_vec()).await?;
                    let events = self.events(deliveries, to);
                    crate::import::publish(self.sink.as_ref(), &self.progress, events).await?;
                    if let (Some(sink), false) = (&self.sink, dry_run) {
                        for (key, page) in &cursors {
                            sink.cursors.put(key, page).await?;
                        }
                    }
                    Page {
                        etag,
                        next,
                        ..Page::default()
                    }
                }
            };
            if let (Some(sink), false) = (&self.sink, dry_run) {
                sink.cursors.put(&key, &page).await?;
            }
            self.progress.page();
            first_page = false;
            url = page.next;
        }
        Ok(())
    }

    /// The submitted reviews of `pr` (its own listing, conditional like any other).
    async fn reviews(
        &self,
        to: &Dest<'_>,
        base: &str,
        pr: &Value,
        dry_run: bool,
    ) -> Result<Made, ImportError> {
        let Some(number) = pr.get("number").and_then(Value::as_u64) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut url = Some(self.api.url(&format!(
            "{base}/pulls/{number}/reviews?per_page={PER_PAGE}"
        )));
        let mut out = Vec::new();
        let mut cursors = Vec::new();
        while let Some(u) = url {
            let key = format!("{u}#reviews");
            let stored = match (&self.sink, dry_run) {
                (Some(sink), false) => sink.cursors.get(&key).await?,
                _ => None,
            };
            match self
                .api
                .get(
                    &u,
                    to.target,
                    stored.as_ref().and_then(|p| p.etag.as_deref()),
                )
                .await?
            {
                Fetched::NotModified => url = stored.and_then(|p| p.next),
                Fetched::Page {
                    body, etag, next, ..
                } => {
                    out.extend(
                        items(&body, &u)?
                            .iter()
                            .filter_map(|r| rest::review_delivery(to.repo, pr, r)),
                    );
                    // Stored after the PR's page is published, with it: stored before, a killed
                    // import would find these reviews unchanged and never publish them.
                    if !dry_run {
                        let page = Page {
                            etag,
                            next: next.clone(),
                            ..Page::default()
                        };
                        cursors.push((key, page));
                    }
                    url = next;
                }
            }
        }
        Ok((out, cursors))
    }

    /// The issue a comment is on: from the issues walked, else read once.
    async fn issue(&self, to: &Dest<'_>, base: &str, number: u64) -> Result<IssueRef, ImportError> {
        let key = (to.repo.full_name.clone(), number);
        if let Some(found) = self.issues.lock().await.get(&key) {
            return Ok(found.clone());
        }
        let url = self.api.url(&format!("{base}/issues/{number}"));
        let found = match self.api.get(&url, to.target, None).await {
            Ok(Fetched::Page { body, .. }) => IssueRef::from_issue(&body),
            // A comment on a deleted or transferred issue still names its number.
            Ok(Fetched::NotModified)
            | Err(ImportError::Status {
                status: 404 | 410, ..
            }) => None,
            Err(err) => return Err(err),
        }
        .unwrap_or(IssueRef {
            number,
            title: None,
            html_url: None,
            is_pr: false,
        });
        self.issues.lock().await.insert(key, found.clone());
        Ok(found)
    }

    /// The events of `deliveries` for `to`; what is not stored is counted as skipped.
    fn events(&self, deliveries: Vec<rest::Delivery>, to: &Dest<'_>) -> Vec<Event> {
        let mut events = Vec::with_capacity(deliveries.len());
        for (name, payload) in deliveries {
            let outcome = normalize::interpret(
                &normalize::Delivery {
                    event: name,
                    payload: &payload,
                },
                &self.limits,
            );
            let memory = match outcome {
                Ok(Outcome::Memory(memory)) => memory,
                Ok(Outcome::Ignored { reason }) => {
                    tracing::debug!(reason, "item not stored");
                    self.progress.item(Item::Skipped);
                    continue;
                }
                Ok(Outcome::Ping { .. }) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, repository = %to.repo.full_name, "item skipped");
                    self.progress.item(Item::Skipped);
                    continue;
                }
            };
            if let (Some(since), Some(at)) = (to.since, memory.occurred_at) {
                if at < since {
                    continue;
                }
            }
            match event_of(
                &self.hook.id,
                memory,
                (to.tenant, to.project),
                (name, None),
                &self.limits,
            ) {
                Ok(event) => events.push(event),
                Err(err) => {
                    tracing::warn!(error = %err, repository = %to.repo.full_name, "item skipped");
                    self.progress.item(Item::Skipped);
                }
            }
        }
        events
    }
}

/// The periodic import of one integration's `repositories` (`sync_interval_secs`), for
/// repositories where no webhook can be installed.
pub struct Sync {
    config: Config,
    id: String,
    bus: Bus,
    interval: std::time::Duration,
    repositories: Vec<String>,
}

impl Sync {
    /// The sync of integration `id` when it has `sync_interval_secs`; `Ok(None)` otherwise.
    ///
    /// # Errors
    /// [`ImportError::Config`] for unusable credentials (read once here, so a bad key stops
    /// the start), [`ImportError::Cursor`] when `rae_state` is missing.
    pub async fn build(config: &Config, id: &str, bus: &Bus) -> Result<Option<Sync>, ImportError> {
        let (_, settings) = integration(config, Some(id))?;
        let Some(interval) = settings.sync_interval_secs else {
            return Ok(None);
        };
        credentials(settings, None)?;
        PageCursors::open(bus, &format!("github.{id}")).await?;
        Ok(Some(Sync {
            config: config.clone(),
            id: id.to_owned(),
            bus: bus.clone(),
            interval: std::time::Duration::from_secs(interval),
            repositories: settings.repositories.clone(),
        }))
    }

    /// Imports every interval until `cancel`; a failed run is logged and tried again at the
    /// next interval (a page not finished is read again then).
    pub async fn run(self, cancel: CancellationToken) {
        let options = Options {
            repositories: self.repositories.clone(),
            organizations: Vec::new(),
            since: None,
            kinds: Kind::ALL.to_vec(),
            dry_run: false,
        };
        let name = format!("github sync {}", self.id);
        crate::import::every(&name, &self.id, self.interval, &cancel, |progress| async {
            let (_, settings) = integration(&self.config, Some(&self.id))?;
            let importer = Importer::build(
                &self.config,
                Some(&self.id),
                credentials(settings, None)?,
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

/// What a page's items made: deliveries, and the cursors to store once they are published.
type Made = (Vec<rest::Delivery>, Vec<(String, Page)>);

/// Where one repository's events go.
struct Dest<'a> {
    repo: &'a Repo,
    tenant: &'a str,
    project: &'a str,
    since: Option<OffsetDateTime>,
    target: &'a Target,
}

/// The array a listing answers.
fn items<'v>(body: &'v Value, url: &str) -> Result<&'v [Value], ImportError> {
    body.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| ImportError::Shape {
            url: url.to_owned(),
            message: "a listing must be a JSON array".into(),
        })
}

/// True when `item.updated_at` is at or after `since` (or unknown, or no `since`).
fn updated_since(item: &Value, since: Option<OffsetDateTime>) -> bool {
    let Some(since) = since else { return true };
    item.get("updated_at")
        .and_then(Value::as_str)
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .is_none_or(|t| t >= since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name() {
        assert_eq!("pulls".parse::<Kind>(), Ok(Kind::Pulls));
        assert_eq!(" releases".parse::<Kind>(), Ok(Kind::Releases));
        assert!("stars"
            .parse::<Kind>()
            .unwrap_err()
            .contains("unknown kind \"stars\""));
    }

    #[test]
    fn since_filters_on_updated_at() {
        let since = OffsetDateTime::parse("2020-01-01T00:00:00Z", &Rfc3339).ok();
        assert!(updated_since(
            &serde_json::json!({"updated_at": "2021-01-01T00:00:00Z"}),
            since
        ));
        assert!(!updated_since(
            &serde_json::json!({"updated_at": "2019-01-01T00:00:00Z"}),
            since
        ));
        assert!(updated_since(&serde_json::json!({}), since));
        assert!(updated_since(&serde_json::json!({}), None));
    }
}
