//! REST API items as webhook deliveries (pure, no I/O).
//!
//! The REST API describes an item as it is now; a webhook described it when something
//! happened. Each function here turns one REST item into the deliveries GitHub would have sent
//! for what the item shows happened, shaped as the live normalizer (`github::normalize`) reads
//! them, so an imported item makes the same memory and the same event id as its webhook:
//!
//! | REST item | deliveries |
//! |---|---|
//! | issue (`GET /repos/{o}/{r}/issues`, not a PR) | `issues` `opened`; `closed` when closed |
//! | pull request (`GET /repos/{o}/{r}/pulls`) | `pull_request` `opened`; `closed` (merged or not) when closed |
//! | review (`GET /repos/{o}/{r}/pulls/{n}/reviews`) | `pull_request_review` `submitted` (not pending ones) |
//! | comment (`GET /repos/{o}/{r}/issues/comments`) | `issue_comment` `created` |
//! | release (`GET /repos/{o}/{r}/releases`) | `release` `published` (not drafts) |
//!
//! Who closed an issue or merged a PR is in the item only when the API includes `closed_by` /
//! `merged_by` (single-item reads do, lists do not); without it the memory says "by someone",
//! and a webhook's memory of the same state, stored first, keeps its name (same event id).

use serde_json::{json, Map, Value};

/// A repository as its deliveries name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// `owner/name` as GitHub spells it.
    pub full_name: String,
    pub owner: String,
    /// The owner's login when it is an organization.
    pub organization: Option<String>,
}

impl Repo {
    /// From `GET /repos/{owner}/{repo}`; `None` without `full_name` and `owner.login`.
    pub fn from_api(value: &Value) -> Option<Repo> {
        let full_name = value.get("full_name")?.as_str()?.to_owned();
        let owner = value.get("owner")?;
        let login = owner.get("login")?.as_str()?.to_owned();
        let organization = (owner.get("type").and_then(Value::as_str) == Some("Organization"))
            .then(|| login.clone());
        Some(Repo {
            full_name,
            owner: login,
            organization,
        })
    }

    /// What a cursor keeps of it.
    pub fn to_data(&self) -> Value {
        json!({"full_name": self.full_name, "owner": self.owner, "organization": self.organization})
    }

    pub fn from_data(value: &Value) -> Option<Repo> {
        Some(Repo {
            full_name: value.get("full_name")?.as_str()?.to_owned(),
            owner: value.get("owner")?.as_str()?.to_owned(),
            organization: value
                .get("organization")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// One delivery: the `X-GitHub-Event` name and the payload.
pub type Delivery = (&'static str, Value);

/// The part of an issue a comment's memory names.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueRef {
    pub number: u64,
    pub title: Option<String>,
    pub html_url: Option<String>,
    pub is_pr: bool,
}

impl IssueRef {
    /// From an issue item (`GET /repos/{o}/{r}/issues[/{n}]`, where PRs are issues too).
    pub fn from_issue(issue: &Value) -> Option<IssueRef> {
        Some(IssueRef {
            number: issue.get("number")?.as_u64()?,
            title: issue
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            html_url: issue
                .get("html_url")
                .and_then(Value::as_str)
                .map(str::to_owned),
            is_pr: issue.get("pull_request").is_some_and(Value::is_object),
        })
    }

    fn to_payload(&self) -> Value {
        let mut issue =
            json!({"number": self.number, "title": self.title, "html_url": self.html_url});
        if self.is_pr {
            issue["pull_request"] = json!({});
        }
        issue
    }
}

/// The number of the issue a comment is on, from its `issue_url` (`.../issues/7`).
pub fn comment_issue_number(comment: &Value) -> Option<u64> {
    comment
        .get("issue_url")?
        .as_str()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// True for an item of `GET /issues` that is a pull request.
pub fn is_pull_request(issue: &Value) -> bool {
    issue.get("pull_request").is_some_and(Value::is_object)
}

fn payload(repo: &Repo, action: &str, key: &str, item: Value, sender: Option<&Value>) -> Value {
    let mut p = Map::new();
    p.insert("action".into(), json!(action));
    p.insert(key.into(), item);
    p.insert(
        "repository".into(),
        json!({"full_name": repo.full_name, "owner": {"login": repo.owner}}),
    );
    if let Some(org) = &repo.organization {
        p.insert("organization".into(), json!({"login": org}));
    }
    if let Some(sender) = sender.filter(|s| s.get("login").and_then(Value::as_str).is_some()) {
        p.insert("sender".into(), sender.clone());
    }
    Value::Object(p)
}

/// `item` as it was when it opened: open, not closed, not merged.
fn as_opened(item: &Value) -> Value {
    let mut opened = item.clone();
    if let Some(map) = opened.as_object_mut() {
        map.insert("state".into(), json!("open"));
        for key in [
            "closed_at",
            "state_reason",
            "merged_at",
            "merged_by",
            "closed_by",
        ] {
            map.remove(key);
        }
        map.insert("merged".into(), json!(false));
    }
    opened
}

fn is_closed(item: &Value) -> bool {
    item.get("state").and_then(Value::as_str) == Some("closed")
        || item.get("closed_at").and_then(Value::as_str).is_some()
}

/// An issue (not a PR): `opened`, and `closed` when it is closed.
pub fn issue_deliveries(repo: &Repo, issue: &Value) -> Vec<Delivery> {
    let mut out = vec![(
        "issues",
        payload(repo, "opened", "issue", as_opened(issue), issue.get("user")),
    )];
    if is_closed(issue) {
        out.push((
            "issues",
            payload(
                repo,
                "closed",
                "issue",
                issue.clone(),
                issue.get("closed_by"),
            ),
        ));
    }
    out
}

/// A pull request: `opened`, and `closed` (merged when `merged_at` is set) when it is closed.
pub fn pull_deliveries(repo: &Repo, pr: &Value) -> Vec<Delivery> {
    let mut out = vec![(
        "pull_request",
        payload(
            repo,
            "opened",
            "pull_request",
            as_opened(pr),
            pr.get("user"),
        ),
    )];
    if is_closed(pr) {
        let merged = pr.get("merged_at").and_then(Value::as_str).is_some()
            || pr.get("merged").and_then(Value::as_bool) == Some(true);
        let mut closed = pr.clone();
        if let Some(map) = closed.as_object_mut() {
            map.insert("merged".into(), json!(merged));
        }
        let sender = if merged { pr.get("merged_by") } else { None };
        out.push((
            "pull_request",
            payload(repo, "closed", "pull_request", closed, sender),
        ));
    }
    out
}

/// A submitted review of `pr`; `None` for a pending one (not submitted yet).
pub fn review_delivery(repo: &Repo, pr: &Value, review: &Value) -> Option<Delivery> {
    let state = review.get("state").and_then(Value::as_str)?;
    if state.eq_ignore_ascii_case("pending") {
        return None;
    }
    let mut p = payload(
        repo,
        "submitted",
        "review",
        review.clone(),
        review.get("user"),
    );
    p["pull_request"] = pr.clone();
    Some(("pull_request_review", p))
}

/// A comment on `issue`.
pub fn comment_delivery(repo: &Repo, issue: &IssueRef, comment: &Value) -> Delivery {
    let mut p = payload(
        repo,
        "created",
        "comment",
        comment.clone(),
        comment.get("user"),
    );
    p["issue"] = issue.to_payload();
    ("issue_comment", p)
}

/// A published release; `None` for a draft.
pub fn release_delivery(repo: &Repo, release: &Value) -> Option<Delivery> {
    if release.get("draft").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    Some((
        "release",
        payload(
            repo,
            "published",
            "release",
            release.clone(),
            release.get("author"),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::normalize::{interpret, Delivery as Hook, Memory, Outcome};
    use rae_core::event::Limits;

    macro_rules! rest {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../../../../tests/fixtures/github/rest/",
                $name
            )))
            .unwrap()
        };
    }
    macro_rules! hook {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../../../../tests/fixtures/github/",
                $name
            )))
            .unwrap()
        };
    }

    fn memory((event, payload): &Delivery) -> Memory {
        match interpret(&Hook { event, payload }, &Limits::default()).unwrap() {
            Outcome::Memory(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn webhook(event: &str, payload: &Value) -> Memory {
        match interpret(&Hook { event, payload }, &Limits::default()).unwrap() {
            Outcome::Memory(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn hello() -> Repo {
        Repo::from_api(&rest!("repo.json")).unwrap()
    }

    #[test]
    fn the_repository_is_read_from_the_api() {
        let repo = hello();
        assert_eq!(repo.full_name, "Codertocat/Hello-World");
        assert_eq!(repo.owner, "Codertocat");
        assert_eq!(repo.organization, None);
        assert_eq!(Repo::from_data(&repo.to_data()), Some(repo));
        let org = Repo::from_api(
            &json!({"full_name": "acme/w", "owner": {"login": "acme", "type": "Organization"}}),
        );
        assert_eq!(org.unwrap().organization.as_deref(), Some("acme"));
        assert_eq!(Repo::from_api(&json!({"full_name": "x"})), None);
    }

    #[test]
    fn an_issue_makes_the_memories_and_keys_its_webhooks_made() {
        let issues = rest!("issues.json");
        let issue = &issues[0];
        let deliveries = issue_deliveries(&hello(), issue);
        assert_eq!(deliveries.len(), 2);
        let opened = memory(&deliveries[0]);
        let live = webhook("issues", &hook!("issues.opened.json"));
        assert_eq!(opened.kind, "issue_opened");
        assert_eq!(opened.content, live.content);
        assert_eq!(opened.key, live.key);
        assert_eq!(
            opened.key.as_deref(),
            Some("codertocat/hello-world issue 1 opened")
        );
        assert_eq!(opened.actor, live.actor);
        assert_eq!(opened.tags, live.tags);
        assert_eq!(opened.occurred_at, live.occurred_at);
        assert_eq!(opened.attributes["state"], "open");

        let closed = memory(&deliveries[1]);
        let live = webhook("issues", &hook!("issues.closed.json"));
        assert_eq!(closed.kind, "issue_closed");
        assert_eq!(closed.key, live.key);
        assert_eq!(closed.occurred_at, live.occurred_at);
        // Lists do not say who closed it.
        assert!(
            closed
                .content
                .starts_with("Issue #1 closed as completed by someone"),
            "{}",
            closed.content
        );

        // An open issue is only opened.
        let mut open = issue.clone();
        open["state"] = "open".into();
        open["closed_at"] = Value::Null;
        assert_eq!(issue_deliveries(&hello(), &open).len(), 1);
        assert!(!is_pull_request(issue));
        assert!(is_pull_request(&issues[1]));
    }

    #[test]
    fn a_pull_request_makes_opened_and_merged() {
        let pulls = rest!("pulls.json");
        let deliveries = pull_deliveries(&hello(), &pulls[0]);
        assert_eq!(deliveries.len(), 2);
        let opened = memory(&deliveries[0]);
        let live = webhook("pull_request", &hook!("pull_request.opened.json"));
        assert_eq!(opened.kind, "pull_request_opened");
        assert_eq!(opened.key, live.key);
        assert_eq!(
            opened.key.as_deref(),
            Some("codertocat/hello-world pr 2 opened")
        );
        let merged = memory(&deliveries[1]);
        assert_eq!(merged.kind, "pull_request_merged");
        let live = webhook("pull_request", &hook!("pull_request.closed_merged.json"));
        assert_eq!(merged.key, live.key);
        assert_eq!(merged.attributes["merged"], true);

        let mut unmerged = pulls[0].clone();
        unmerged["merged_at"] = Value::Null;
        let closed = memory(&pull_deliveries(&hello(), &unmerged)[1]);
        assert_eq!(closed.kind, "pull_request_closed");
    }

    #[test]
    fn a_review_and_a_comment_keep_their_ids() {
        let pulls = rest!("pulls.json");
        let reviews = rest!("reviews.json");
        let review = memory(&review_delivery(&hello(), &pulls[0], &reviews[0]).unwrap());
        let live = webhook(
            "pull_request_review",
            &hook!("pull_request_review.submitted.json"),
        );
        assert_eq!(review.kind, "pull_request_review");
        assert_eq!(review.key, live.key);
        assert_eq!(review.content, live.content);
        let mut pending = reviews[0].clone();
        pending["state"] = "PENDING".into();
        assert_eq!(review_delivery(&hello(), &pulls[0], &pending), None);

        let comments = rest!("comments.json");
        let comment = &comments[0];
        assert_eq!(comment_issue_number(comment), Some(1));
        let issue = IssueRef::from_issue(&rest!("issues.json")[0]).unwrap();
        let m = memory(&comment_delivery(&hello(), &issue, comment));
        let live = webhook("issue_comment", &hook!("issue_comment.created.json"));
        assert_eq!(m.key, live.key);
        assert_eq!(m.content, live.content);
        assert_eq!(m.url, live.url);
        assert_eq!(m.actor, live.actor);
    }

    #[test]
    fn a_release_is_published_and_a_draft_is_not() {
        let releases = rest!("releases.json");
        let m = memory(&release_delivery(&hello(), &releases[0]).unwrap());
        let live = webhook("release", &hook!("release.published.json"));
        assert_eq!(m.key, live.key);
        assert_eq!(m.content, live.content);
        let mut draft = releases[0].clone();
        draft["draft"] = true.into();
        assert_eq!(release_delivery(&hello(), &draft), None);
    }
}
