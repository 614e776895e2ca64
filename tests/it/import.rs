//! `import github` as a team would run it, against a fake GitHub REST API that serves
//! paginated, rate-limited answers in the documented shapes (items from
//! `tests/fixtures/github/rest/`, `Link` and `ETag` headers, `x-ratelimit-*`, secondary limits
//! with `Retry-After`, GitHub App installation tokens): what reached the fake RAE, what the fake
//! GitHub was asked, and what the command printed.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use rae_core::config::Secret;
use rae_ingress::github::import::api::Credentials;
use rae_ingress::github::import::{Importer, Kind, Options};
use rae_ingress::github::verify::sign;
use rae_ingress::import::{ImportError, Progress, Summary};

use crate::harness::*;

const TOKEN: &str = "ghp_test_token_0001";
const INSTALLATION_TOKEN: &str = "ghs_installation_token_0001";
const APP_ID: u64 = 4242;
const GITHUB_SECRET: &str = "github-secret-new";
const REPO: &str = "Codertocat/Hello-World";

fn rest(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/github/rest/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap()
}

/// One request the fake GitHub answered.
#[derive(Debug, Clone)]
pub struct Asked {
    #[allow(dead_code)] // shown when an assertion fails
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub if_none_match: Option<String>,
    pub status: u16,
}

/// A repository's history as the fake serves it.
#[derive(Default, Clone)]
pub struct History {
    pub repo: Value,
    /// Issues and PRs, as `GET /issues` lists them.
    pub issues: Vec<Value>,
    pub pulls: Vec<Value>,
    pub reviews: HashMap<u64, Vec<Value>>,
    pub comments: Vec<Value>,
    pub releases: Vec<Value>,
}

#[derive(Default)]
struct FakeState {
    history: History,
    asked: Vec<Asked>,
    /// Requests whose path and query contain the text are answered with a secondary rate limit
    /// (403, `Retry-After: 1`) this many times.
    secondary_limit: Option<(String, u32)>,
    /// Cancelled when a request containing the text arrives (an import killed midway).
    kill_at: Option<(String, CancellationToken)>,
    /// With a GitHub App: the public key (PKCS#1 DER) its JWTs must verify with.
    app_public_key: Option<Vec<u8>>,
}

/// A GitHub REST API on a loopback port.
pub struct FakeGithub {
    pub addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
}

impl FakeGithub {
    pub async fn start(history: History) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(FakeState {
            history,
            ..FakeState::default()
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state((state.clone(), addr));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGithub { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.state.lock().unwrap().asked.clone()
    }

    pub fn forget_asked(&self) {
        self.state.lock().unwrap().asked.clear();
    }

    pub fn secondary_limit(&self, at: &str, times: u32) {
        self.state.lock().unwrap().secondary_limit = Some((at.to_owned(), times));
    }

    pub fn kill_at(&self, at: &str, token: CancellationToken) {
        self.state.lock().unwrap().kill_at = Some((at.to_owned(), token));
    }

    pub fn require_app(&self, public_key_pem: &str) {
        let b64: String = public_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        self.state.lock().unwrap().app_public_key = Some(der);
    }
}

type Shared = (Arc<Mutex<FakeState>>, SocketAddr);

async fn answer(State((state, addr)): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let headers = request.headers().clone();
    let if_none_match = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = respond(
        &state,
        addr,
        &method,
        &uri,
        &headers,
        if_none_match.as_deref(),
    );
    let status = response.status().as_u16();
    state.lock().unwrap().asked.push(Asked {
        method,
        uri,
        if_none_match,
        status,
    });
    response
}

fn limits(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", "5000".parse().unwrap());
    h.insert("x-ratelimit-remaining", "4999".parse().unwrap());
    h.insert("x-ratelimit-reset", "1700000000".parse().unwrap());
    response
}

fn verify_jwt(token: &str, public_der: &[u8]) -> bool {
    use base64::Engine as _;
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let Ok(signature) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[2]) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_der,
    )
    .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
    .is_ok()
}

fn respond(
    state: &Arc<Mutex<FakeState>>,
    addr: SocketAddr,
    method: &str,
    uri: &str,
    headers: &HeaderMap,
    if_none_match: Option<&str>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some((at, token)) = &s.kill_at {
        if uri.contains(at.as_str()) {
            token.cancel();
        }
    }
    if let Some((at, times)) = &mut s.secondary_limit {
        if *times > 0 && uri.contains(at.as_str()) {
            *times -= 1;
            return (
                StatusCode::FORBIDDEN,
                [("retry-after", "1")],
                axum::Json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})),
            )
                .into_response();
        }
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // The app's own calls: authenticated by its JWT.
    if let Some(public) = &s.app_public_key {
        let app_call = matches!(
            segments.as_slice(),
            ["repos", _, _, "installation"] | ["app", "installations", _, "access_tokens"]
        );
        if app_call {
            if !verify_jwt(bearer, public) {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"message": "A JSON web token could not be decoded"})),
                )
                    .into_response();
            }
            return match (method, segments.as_slice()) {
                ("GET", ["repos", _, _, "installation"]) => limits(
                    axum::Json(
                        json!({"id": 42, "app_id": APP_ID, "account": {"login": "Codertocat"}}),
                    )
                    .into_response(),
                ),
                ("POST", ["app", "installations", "42", "access_tokens"]) => {
                    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                    let expires = expires
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap();
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({"token": INSTALLATION_TOKEN, "expires_at": expires})),
                    )
                        .into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            };
        }
    }
    let expected = if s.app_public_key.is_some() {
        INSTALLATION_TOKEN
    } else {
        TOKEN
    };
    if bearer != expected {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let h = &s.history;
    if segments.len() >= 3
        && segments[0] == "repos"
        && format!("{}/{}", segments[1], segments[2]) != REPO
    {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"}))).into_response();
    }
    let list: Option<&[Value]> = match segments.as_slice() {
        // The organization's repositories: the one repository of the history.
        ["orgs", "Codertocat", "repos"] => Some(std::slice::from_ref(&h.repo)),
        ["repos", _, _] => return conditional(h.repo.clone(), if_none_match, None),
        ["repos", _, _, "issues"] => Some(&h.issues),
        ["repos", _, _, "pulls"] => Some(&h.pulls),
        ["repos", _, _, "pulls", n, "reviews"] => Some(
            n.parse::<u64>()
                .ok()
                .and_then(|n| h.reviews.get(&n))
                .map_or(&[][..], Vec::as_slice),
        ),
        ["repos", _, _, "issues", "comments"] => Some(&h.comments),
        ["repos", _, _, "issues", n] => {
            let found = h
                .issues
                .iter()
                .find(|i| i["number"].as_u64() == n.parse().ok())
                .cloned();
            return match found {
                Some(issue) => conditional(issue, if_none_match, None),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"message": "Not Found"})),
                )
                    .into_response(),
            };
        }
        ["repos", _, _, "releases"] => Some(&h.releases),
        _ => None,
    };
    let Some(list) = list else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let per_page: usize = params
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = list.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = list
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let link_to = |n: usize| {
        let mut p: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        p.retain(|(k, _)| k != "page");
        p.push(("page".into(), n.to_string()));
        format!(
            "http://{addr}{path}?{}",
            serde_urlencoded::to_string(&p).unwrap()
        )
    };
    let mut link = Vec::new();
    if page < pages {
        link.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        link.push(format!("<{}>; rel=\"last\"", link_to(pages)));
    }
    if page > 1 {
        link.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        link.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    conditional(Value::Array(items), if_none_match, Some(link.join(", ")))
}

/// 200 with an `ETag`, or 304 when `If-None-Match` names it.
fn conditional(body: Value, if_none_match: Option<&str>, link: Option<String>) -> Response {
    let text = body.to_string();
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let etag = format!("W/\"{:016x}\"", hasher.finish());
    let mut response = if if_none_match == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [("content-type", "application/json; charset=utf-8")],
            text,
        )
            .into_response()
    };
    response.headers_mut().insert("etag", etag.parse().unwrap());
    if let Some(link) = link.filter(|l| !l.is_empty()) {
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    limits(response)
}

/// A history of `issues` issues (every third closed), `pulls` PRs (every other merged, each
/// with one approval), `comments` comments spread over the issues, and two releases (one a
/// draft), built on the documented shapes of the fixtures.
pub fn history(issues: u64, pulls: u64, comments: u64) -> History {
    let issue = rest("issues.json")[0].clone();
    let pr = rest("pulls.json")[0].clone();
    let review = rest("reviews.json")[0].clone();
    let comment = rest("comments.json")[0].clone();
    let release = rest("releases.json")[0].clone();
    let mut h = History {
        repo: rest("repo.json"),
        ..History::default()
    };
    for n in 1..=issues {
        let mut i = issue.clone();
        i["number"] = n.into();
        i["id"] = (1000 + n).into();
        i["title"] = format!("Issue number {n}").into();
        i["html_url"] = format!("https://github.com/{REPO}/issues/{n}").into();
        if n % 3 != 0 {
            i["state"] = "open".into();
            i["closed_at"] = Value::Null;
            i["state_reason"] = Value::Null;
        }
        h.issues.push(i);
    }
    for k in 1..=pulls {
        let n = issues + k;
        let mut p = pr.clone();
        p["number"] = n.into();
        p["id"] = (5000 + n).into();
        p["title"] = format!("Change number {n}").into();
        p["html_url"] = format!("https://github.com/{REPO}/pull/{n}").into();
        if k % 2 == 0 {
            p["state"] = "open".into();
            p["closed_at"] = Value::Null;
            p["merged_at"] = Value::Null;
        }
        let mut as_issue = rest("issues.json")[1].clone();
        as_issue["number"] = n.into();
        as_issue["title"] = p["title"].clone();
        h.issues.push(as_issue);
        let mut r = review.clone();
        r["id"] = (9000 + n).into();
        h.reviews.insert(n, vec![r]);
        h.pulls.push(p);
    }
    for c in 1..=comments {
        let mut m = comment.clone();
        m["id"] = (100_000 + c).into();
        let on = 1 + (c % issues.max(1));
        m["issue_url"] = format!("https://api.github.com/repos/{REPO}/issues/{on}").into();
        m["html_url"] = format!(
            "https://github.com/{REPO}/issues/{on}#issuecomment-{}",
            100_000 + c
        )
        .into();
        m["body"] = format!("Comment {c}").into();
        h.comments.push(m);
    }
    let mut draft = release.clone();
    draft["id"] = 2.into();
    draft["draft"] = true.into();
    h.releases = vec![release, draft];
    h
}

/// Events a history makes: issues opened (+ closed), PRs opened (+ merged), reviews, comments,
/// the published release.
fn expected_events(issues: u64, pulls: u64, comments: u64) -> usize {
    (issues + issues / 3 + pulls + pulls.div_ceil(2) + pulls + comments + 1) as usize
}

fn github_yaml(github: &FakeGithub, credentials: &str) -> String {
    format!(
        r#"  - id: github
    config:
      secrets: ["{GITHUB_SECRET}"]
      api_url: {}
{credentials}
"#,
        github.url()
    )
}

fn token_yaml() -> String {
    format!("      token: {TOKEN}")
}

fn options() -> Options {
    Options {
        repositories: vec![REPO.into()],
        organizations: Vec::new(),
        since: None,
        kinds: Kind::ALL.to_vec(),
        dry_run: false,
    }
}

/// Runs an import in this process, as the CLI does.
async fn import(
    config: &rae_core::config::Config,
    pipeline: &Pipeline,
    credentials: Credentials,
    cancel: CancellationToken,
) -> Result<Summary, ImportError> {
    import_with(config, pipeline, credentials, cancel, &options()).await
}

/// [`import`] with other options (`--org`, `--since`, ...).
async fn import_with(
    config: &rae_core::config::Config,
    pipeline: &Pipeline,
    credentials: Credentials,
    cancel: CancellationToken,
    options: &Options,
) -> Result<Summary, ImportError> {
    let progress = Arc::new(Progress::new("github", false));
    let importer = Importer::build(
        config,
        None,
        credentials,
        Some(pipeline.bus()),
        progress,
        cancel,
    )
    .await
    .expect("importer builds");
    importer.run(options).await
}

fn token() -> Credentials {
    Credentials::Token(Secret::new(TOKEN))
}

async fn rae_holds(rae: &FakeRae, count: usize) {
    wait_for(
        &format!("RAE to store {count} memories"),
        Duration::from_secs(30),
        || async { rae.stored().len() >= count },
    )
    .await;
    // Nothing more arrives: the enricher and writer have nothing left.
    let ids = rae.stored_event_ids();
    assert_eq!(ids.len(), count, "distinct memories");
    assert!(ids.values().all(|n| *n == 1), "a memory stored twice");
}

#[tokio::test]
async fn a_full_import_as_a_github_app_stores_every_item_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(130, 20, 150)).await;
    let key_path = format!(
        "{}/tests/fixtures/github/app/test-app-key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    github.require_app(&fixture("app/test-app-key.pub.pem"));
    let config = test_config(
        &nats,
        &rae,
        &github_yaml(
            &github,
            &format!("      app_id: {APP_ID}\n      private_key_path: {key_path}"),
        ),
    );
    let mut pipeline = Pipeline::start(&config).await;
    let settings = rae_ingress::github::import::integration(&config, None)
        .unwrap()
        .1;
    let credentials = rae_ingress::github::import::credentials(settings, None).unwrap();

    let summary = import(&config, &pipeline, credentials, CancellationToken::new())
        .await
        .expect("import succeeds");
    let expected = expected_events(130, 20, 150);
    assert_eq!(summary.published as usize, expected, "{summary:?}");
    assert_eq!(summary.duplicates, 0);
    rae_holds(&rae, expected).await;

    // The app's token was asked once and used for every request.
    let asked = github.asked();
    assert_eq!(
        asked
            .iter()
            .filter(|a| a.uri.ends_with("/access_tokens"))
            .count(),
        1
    );
    assert!(asked.iter().all(|a| a.status < 400), "{asked:?}");
    // Listings were walked by their Link headers: issues over two pages of 100.
    assert!(asked
        .iter()
        .any(|a| a.uri.contains("/issues?") && a.uri.contains("page=2")));

    // What RAE received is the memory a webhook makes, in the right conversation.
    let stored = rae.stored();
    let issue = stored
        .iter()
        .find(|r| {
            r.body["content"]
                .as_str()
                .unwrap_or("")
                .starts_with("Issue #3 closed")
        })
        .expect("issue 3's closing");
    assert_eq!(
        issue.body["content"],
        "Issue #3 closed as completed by someone in Codertocat/Hello-World: \"Issue number 3\"\n\
         Labels: bug, good first issue.\n\n\
         It looks like you accidently spelled 'commit' with two 't's."
    );
    assert_eq!(issue.body["session_id"], "github:Codertocat/Hello-World#3");
    let comment = stored
        .iter()
        .find(|r| {
            r.body["content"]
                .as_str()
                .unwrap_or("")
                .contains("Comment 7\n")
                || r.body["content"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("Comment 7")
        })
        .expect("comment 7");
    assert!(
        comment.body["content"].as_str().unwrap().starts_with(
            "Codertocat commented on issue #8 in Codertocat/Hello-World: \"Issue number 8\""
        ),
        "{}",
        comment.body["content"]
    );
    assert!(!stored.iter().any(
        |r| r.body["content"].as_str().unwrap_or("").contains("Draft")
            && r.body["content"]
                .as_str()
                .unwrap_or("")
                .starts_with("Release")
    ));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_secondary_rate_limit_in_the_middle_is_waited_out() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(150, 4, 10)).await;
    let config = test_config(&nats, &rae, &github_yaml(&github, &token_yaml()));
    let mut pipeline = Pipeline::start(&config).await;
    github.secondary_limit(
        "/issues?state=all&sort=created&direction=asc&per_page=100&page=2",
        1,
    );

    let summary = import(&config, &pipeline, token(), CancellationToken::new())
        .await
        .expect("the import waits instead of failing");
    assert_eq!(summary.rate_limit_waits, 1, "{summary:?}");
    assert!(summary.rate_limit_wait_secs >= 1.0);
    let page2: Vec<Asked> = github
        .asked()
        .into_iter()
        .filter(|a| a.uri.contains("/issues?") && a.uri.contains("page=2"))
        .collect();
    assert_eq!(
        page2.iter().map(|a| a.status).collect::<Vec<_>>(),
        [403, 200]
    );
    rae_holds(&rae, expected_events(150, 4, 10)).await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_killed_import_resumes_and_stores_each_item_once() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(250, 10, 120)).await;
    let config = test_config(&nats, &rae, &github_yaml(&github, &token_yaml()));
    let mut pipeline = Pipeline::start(&config).await;

    // Killed while it asks for the second page of comments.
    let kill = CancellationToken::new();
    github.kill_at("/issues/comments?", kill.clone());
    let first = import(&config, &pipeline, token(), kill.clone()).await;
    assert!(matches!(first, Err(ImportError::Cancelled)), "{first:?}");
    assert!(!github.asked().iter().any(|a| a.uri.contains("/releases")));

    // Run again: it resumes; the pages finished before are only asked conditionally.
    github.forget_asked();
    github.state.lock().unwrap().kill_at = None;
    let second = import(&config, &pipeline, token(), CancellationToken::new())
        .await
        .expect("the second run finishes");
    let asked = github.asked();
    let issue_pages: Vec<&Asked> = asked
        .iter()
        .filter(|a| a.uri.contains("/issues?"))
        .collect();
    assert_eq!(issue_pages.len(), 3);
    assert!(
        issue_pages
            .iter()
            .all(|a| a.status == 304 && a.if_none_match.is_some()),
        "{issue_pages:?}"
    );
    assert!(asked
        .iter()
        .any(|a| a.uri.contains("/releases") && a.status == 200));
    assert_eq!(
        second.duplicates, 0,
        "finished pages are not read again: {second:?}"
    );
    rae_holds(&rae, expected_events(250, 10, 120)).await;
    pipeline.shutdown().await;
}

/// `--org`: the organization's repositories are listed (paged, as GitHub pages them) and each is
/// imported as `--repo` would import it.
#[tokio::test]
async fn an_organization_import_walks_its_repositories() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(30, 4, 10)).await;
    let config = test_config(&nats, &rae, &github_yaml(&github, &token_yaml()));
    let mut pipeline = Pipeline::start(&config).await;
    let by_org = Options {
        repositories: Vec::new(),
        organizations: vec!["Codertocat".into()],
        ..options()
    };
    let summary = import_with(
        &config,
        &pipeline,
        token(),
        CancellationToken::new(),
        &by_org,
    )
    .await
    .unwrap();
    let asked = github.asked();
    assert!(
        asked
            .iter()
            .any(|a| a.uri.starts_with("/orgs/Codertocat/repos")),
        "{asked:?}"
    );
    let expected = expected_events(30, 4, 10);
    assert_eq!(summary.published, expected as u64, "{summary:?}");
    rae_holds(&rae, expected).await;

    // An organization the token cannot see is an error that names it.
    let unknown = Options {
        organizations: vec!["Nobody".into()],
        ..by_org
    };
    let refused = import_with(
        &config,
        &pipeline,
        token(),
        CancellationToken::new(),
        &unknown,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("Nobody"), "{refused}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_rerun_makes_only_conditional_requests() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(120, 6, 40)).await;
    let config = test_config(&nats, &rae, &github_yaml(&github, &token_yaml()));
    let mut pipeline = Pipeline::start(&config).await;
    let first = import(&config, &pipeline, token(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(first.not_modified, 0);

    github.forget_asked();
    let again = import(&config, &pipeline, token(), CancellationToken::new())
        .await
        .unwrap();
    let asked = github.asked();
    assert!(!asked.is_empty());
    for a in &asked {
        assert!(a.if_none_match.is_some(), "unconditional request {a:?}");
        assert_eq!(a.status, 304, "{a:?}");
    }
    assert_eq!(again.requests, asked.len() as u64);
    assert_eq!(again.not_modified, again.requests);
    assert_eq!((again.published, again.items), (0, 0), "{again:?}");
    rae_holds(&rae, expected_events(120, 6, 40)).await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_import_after_live_webhooks_stores_no_duplicate() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(History {
        repo: rest("repo.json"),
        issues: rest("issues.json").as_array().unwrap().clone(),
        pulls: rest("pulls.json").as_array().unwrap().clone(),
        reviews: HashMap::from([(2, rest("reviews.json").as_array().unwrap().clone())]),
        comments: rest("comments.json").as_array().unwrap().clone(),
        releases: rest("releases.json").as_array().unwrap().clone(),
    })
    .await;
    let config = test_config(&nats, &rae, &github_yaml(&github, &token_yaml()));
    let mut pipeline = Pipeline::start(&config).await;

    // The same items arrived live first.
    let mut live = Vec::new();
    for (event, file) in [
        ("issues", "issues.opened.json"),
        ("issues", "issues.closed.json"),
        ("issue_comment", "issue_comment.created.json"),
        ("pull_request", "pull_request.opened.json"),
        ("pull_request", "pull_request.closed_merged.json"),
        ("pull_request_review", "pull_request_review.submitted.json"),
        ("release", "release.published.json"),
    ] {
        let body = fixture(file);
        let (status, answer, _) = pipeline
            .post(
                "/api/v1/integrations/github/webhook",
                &body,
                &[
                    ("content-type", "application/json"),
                    ("x-github-event", event),
                    ("x-github-delivery", &format!("delivery-{file}")),
                    ("x-hub-signature-256", &sign(GITHUB_SECRET, body.as_bytes())),
                ],
            )
            .await;
        assert_eq!(status, 202, "{file}: {answer}");
        live.push(answer["id"].as_str().unwrap().to_owned());
    }
    rae_holds(&rae, 7).await;

    let summary = import(&config, &pipeline, token(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.published, 0, "{summary:?}");
    assert_eq!(summary.duplicates, 7, "{summary:?}");
    // Nothing new reaches RAE: every memory is the webhook's, stored once.
    let sent = stream_messages(pipeline.bus(), "RAE_EVENTS").await;
    assert_eq!(sent, 7);
    rae_holds(&rae, 7).await;
    let ids = rae.stored_event_ids();
    for id in &live {
        assert_eq!(ids.get(id), Some(&1), "{id}");
    }
    pipeline.shutdown().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_rae-pipeline");

fn cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("rae-pipeline runs")
}

#[tokio::test]
async fn the_command_prints_a_dry_run_and_refuses_bad_usage() {
    let github = FakeGithub::start(history(3, 1, 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("integrations.yaml");
    std::fs::write(
        &config,
        format!("integrations:\n{}", github_yaml(&github, &token_yaml())),
    )
    .unwrap();
    let path = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli(
            &path,
            &[
                "import",
                "github",
                "--repo",
                REPO,
                "--dry-run",
                "--kinds",
                "issues,releases",
            ],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Three issues opened, one closed, one release; then the counts.
    let events = &lines[..lines.len() - 1];
    assert_eq!(events.len(), 5, "{stdout}");
    assert!(events.iter().all(|e| e["source"] == "github"));
    let summary = lines.last().unwrap();
    assert_eq!(summary["would_publish"], 5);
    assert_eq!(summary["published"], 0);

    for (args, said) in [
        (
            vec!["import", "github", "--repo", "nope"],
            "must look like owner/name",
        ),
        (
            vec!["import", "github", "--repo", REPO, "--kinds", "stars"],
            "unknown kind",
        ),
        (
            vec!["import", "github", "--repo", REPO, "--since", "yesterday"],
            "2024-01-31",
        ),
        (vec!["import", "github"], "--repo"),
        (
            vec!["import", "github", "--repo", "someone/missing", "--dry-run"],
            "404",
        ),
    ] {
        let path = config.clone();
        let out = tokio::task::spawn_blocking(move || cli(&path, &args))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

/// `up` runs the periodic imports of a GitHub and a Slack integration with
/// `sync_interval_secs`, and its `/metrics` shows what each imported and that it succeeded.
#[tokio::test]
async fn a_sync_interval_imports_without_a_command() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let github = FakeGithub::start(history(20, 4, 10)).await;
    let (messages, replies) = slack_history(5);
    let slack = FakeSlack::start(messages, replies).await;
    let yaml = format!(
        "{}{}      sync_interval_secs: 3600\n",
        github_yaml(
            &github,
            &format!(
                "{}\n      repositories: [{REPO}]\n      sync_interval_secs: 3600",
                token_yaml()
            ),
        ),
        slack_yaml(&slack)
    );
    let config = test_config(&nats, &rae, &yaml);
    let started = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    // `up` runs the syncs beside the ingress; their first runs start at once.
    let mut pipeline = Pipeline::start_with_metrics(&config).await;
    let github_events = expected_events(20, 4, 10);
    // Five messages, the stored fixture message, the thread's first message and its reply.
    let slack_events = 5 + 3;
    rae_holds(&rae, github_events + slack_events).await;
    assert!(
        github.asked().iter().all(|a| a.status == 200),
        "{:?}",
        github.asked()
    );

    // The counters of both integrations, as a scrape shows them once each run ended.
    let url = pipeline.metrics_url();
    let runs_ok = |scrape: &str| {
        ["github", "slack"].map(|integration| {
            metric(
                scrape,
                &format!(
                    r#"rae_pipeline_import_runs_total{{integration="{integration}",outcome="ok"}}"#
                ),
            )
        })
    };
    wait_for(
        "both syncs' first runs to end",
        Duration::from_secs(30),
        || {
            let url = url.clone();
            async move {
                let scrape = get(&url).await.map(|r| r.1).unwrap_or_default();
                runs_ok(&scrape) == [Some(1.0), Some(1.0)]
            }
        },
    )
    .await;
    let scrape = get(&url).await.expect("metrics answer").1;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64 + 1.0;
    for (integration, published, skipped) in [
        ("github", github_events, 0),
        ("slack", slack_events, 1), // the bot's message
    ] {
        let series = |name: &str, outcome: Option<&str>| match outcome {
            Some(outcome) => {
                format!(r#"{name}{{integration="{integration}",outcome="{outcome}"}}"#)
            }
            None => format!(r#"{name}{{integration="{integration}"}}"#),
        };
        for (line, expected) in [
            (
                series("rae_pipeline_import_events_total", Some("published")),
                published as f64,
            ),
            (
                series("rae_pipeline_import_events_total", Some("duplicate")),
                0.0,
            ),
            (
                series("rae_pipeline_import_events_total", Some("skipped")),
                f64::from(skipped),
            ),
            (series("rae_pipeline_import_runs_total", Some("ok")), 1.0),
            (
                series("rae_pipeline_import_runs_total", Some("failed")),
                0.0,
            ),
            (
                series("rae_pipeline_import_rate_limit_waits_total", None),
                0.0,
            ),
            (series("rae_pipeline_import_interval_seconds", None), 3600.0),
        ] {
            assert_eq!(
                metric(&scrape, &line),
                Some(expected),
                "{line} in:\n{scrape}"
            );
        }
        let line = series("rae_pipeline_import_last_success_timestamp_seconds", None);
        let last = metric(&scrape, &line).unwrap_or_else(|| panic!("{line} in:\n{scrape}"));
        assert!(
            (started..=now).contains(&last),
            "{line} {last} not in {started}..={now}"
        );
    }
    pipeline.shutdown().await;
}

/// The measurement of docs/benchmarks.md (History import): 5,000 issues and 5,000 comments from
/// the fake API, imported by the real binary into JetStream; its time, requests and peak memory
/// (`/usr/bin/time`). Run by `scripts/bench-import.sh`; ignored in the normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: scripts/bench-import.sh"]
async fn measure_importing_ten_thousand_issues_and_comments() {
    let nats = NatsServer::start();
    let github = FakeGithub::start(history(5_000, 0, 5_000)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("integrations.yaml");
    std::fs::write(
        &config,
        format!(
            "nats:\n  url: {}\n  events_max_bytes: 268435456\nintegrations:\n{}",
            nats.url(),
            github_yaml(&github, &token_yaml())
        ),
    )
    .unwrap();
    for run in ["first import", "re-run (conditional)"] {
        let path = config.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("/usr/bin/time")
                .args(["-f", "peak_rss_kib=%M wall_secs=%e"])
                .arg(BIN)
                .arg("--config")
                .arg(&path)
                .args([
                    "import",
                    "github",
                    "--repo",
                    REPO,
                    "--kinds",
                    "issues,comments",
                ])
                .env_remove("GITHUB_TOKEN")
                .output()
                .expect("/usr/bin/time runs (Debian package time)")
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rss = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("peak_rss_kib="))
            .unwrap_or("");
        println!(
            "{run}: items {} published {} duplicates {} requests {} not_modified {} seconds {:.2} {rss}",
            summary["items"], summary["published"], summary["duplicates"], summary["requests"], summary["not_modified"], summary["seconds"].as_f64().unwrap_or(0.0)
        );
        if run == "first import" {
            assert_eq!(summary["published"], 5_000 + 5_000 / 3 + 5_000);
        } else {
            assert_eq!(summary["not_modified"], summary["requests"]);
        }
    }
}

// --- Slack ---------------------------------------------------------------------------------

const BOT_TOKEN: &str = "xoxb-test-token-0001";
const SLACK_SECRET: &str = "slack-secret-0001";
const CHANNEL: &str = "C123ABC456";

fn slack_rest(name: &str) -> Value {
    rest_at("slack", name)
}

fn rest_at(provider: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{provider}/rest/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[derive(Default)]
struct SlackState {
    /// A channel's messages, newest first (as `conversations.history` answers).
    history: Vec<Value>,
    /// A thread's messages by `thread_ts`, its first message first.
    replies: HashMap<String, Vec<Value>>,
    /// (method, query) of every request.
    asked: Vec<(String, String, u16)>,
    /// Requests of this method answer 429 with `Retry-After: 1` this many times.
    limited: Option<(String, u32)>,
    /// Cancelled when a request's query contains the text.
    kill_at: Option<(String, CancellationToken)>,
}

/// Slack's Web API on a loopback port.
struct FakeSlack {
    addr: SocketAddr,
    state: Arc<Mutex<SlackState>>,
}

impl FakeSlack {
    async fn start(history: Vec<Value>, replies: HashMap<String, Vec<Value>>) -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(SlackState {
            history,
            replies,
            ..SlackState::default()
        }));
        let app = axum::Router::new()
            .fallback(slack_answer)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSlack { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    fn asked(&self, method: &str) -> Vec<(String, u16)> {
        self.state
            .lock()
            .unwrap()
            .asked
            .iter()
            .filter(|(m, _, _)| m == method)
            .map(|(_, q, s)| (q.clone(), *s))
            .collect()
    }
}

/// A page of `items` after `cursor` (`off:N`), `limit` long, with Slack's `next_cursor`.
fn slack_page(items: &[Value], params: &HashMap<String, String>) -> Value {
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 999);
    let offset: usize = params
        .get("cursor")
        .and_then(|c| c.strip_prefix("off:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let more = offset + limit < items.len();
    json!({
        "ok": true,
        "messages": page,
        "has_more": more,
        "response_metadata": {"next_cursor": if more { format!("off:{}", offset + limit) } else { String::new() }}
    })
}

fn ts_number(ts: &str) -> f64 {
    ts.parse().unwrap_or(0.0)
}

async fn slack_answer(State(state): State<Arc<Mutex<SlackState>>>, request: Request) -> Response {
    let method = request.uri().path().trim_start_matches("/api/").to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {BOT_TOKEN}"));
    let params: HashMap<String, String> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let mut s = state.lock().unwrap();
    if let Some((at, token)) = &s.kill_at {
        if query.contains(at.as_str()) {
            token.cancel();
        }
    }
    let (status, body) = if let Some((m, times)) =
        s.limited.as_mut().filter(|(m, t)| *m == method && *t > 0)
    {
        let _ = m;
        *times -= 1;
        (429, json!({"ok": false, "error": "ratelimited"}))
    } else if !authorized {
        (200, json!({"ok": false, "error": "invalid_auth"}))
    } else {
        let body = match method.as_str() {
            "auth.test" => slack_rest("auth.test.json"),
            "conversations.info" if params.get("channel").map(String::as_str) == Some(CHANNEL) => {
                slack_rest("conversations.info.json")
            }
            "conversations.info" => json!({"ok": false, "error": "channel_not_found"}),
            "users.info" => {
                let mut user = slack_rest("users.info.json");
                user["user"]["id"] = params.get("user").cloned().unwrap_or_default().into();
                user
            }
            "conversations.history" => {
                let oldest = params
                    .get("oldest")
                    .map(|o| ts_number(o))
                    .unwrap_or(f64::MIN);
                let newer: Vec<Value> = s
                    .history
                    .iter()
                    .filter(|m| ts_number(m["ts"].as_str().unwrap_or("0")) > oldest)
                    .cloned()
                    .collect();
                slack_page(&newer, &params)
            }
            "conversations.replies" => {
                let thread = params.get("ts").cloned().unwrap_or_default();
                match s.replies.get(&thread) {
                    Some(replies) => slack_page(replies, &params),
                    None => json!({"ok": false, "error": "thread_not_found"}),
                }
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        (200, body)
    };
    s.asked.push((method, query, status));
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if status == 429 {
        response
            .headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    response
}

/// The fixtures' channel (a stored message, a bot message, a thread of one reply) and `extra`
/// more messages, newest first.
fn slack_history(extra: u64) -> (Vec<Value>, HashMap<String, Vec<Value>>) {
    let mut history: Vec<Value> = Vec::new();
    for n in (1..=extra).rev() {
        history.push(json!({
            "type": "message",
            "user": format!("U{:07}", n % 7),
            "text": format!("Message number {n}"),
            "ts": format!("{}.000100", 1_600_000_000 + n),
            "team": "T123ABC456"
        }));
    }
    let fixture = slack_rest("conversations.history.json");
    let mut old: Vec<Value> = fixture["messages"].as_array().unwrap().clone();
    old.sort_by(|a, b| {
        ts_number(b["ts"].as_str().unwrap()).total_cmp(&ts_number(a["ts"].as_str().unwrap()))
    });
    history.extend(old);
    let replies = HashMap::from([(
        "1482960137.003543".to_owned(),
        slack_rest("conversations.replies.json")["messages"]
            .as_array()
            .unwrap()
            .clone(),
    )]);
    (history, replies)
}

fn slack_yaml(slack: &FakeSlack) -> String {
    format!(
        r#"  - id: slack
    config:
      signing_secret: {SLACK_SECRET}
      bot_token: {BOT_TOKEN}
      api_url: {}
      auto_store_channels: ["{CHANNEL}"]
"#,
        slack.url()
    )
}

async fn import_slack(
    config: &rae_core::config::Config,
    pipeline: &Pipeline,
    cancel: CancellationToken,
) -> Result<Summary, ImportError> {
    use rae_ingress::slack::import::{Importer as SlackImporter, Options as SlackOptions};
    let progress = Arc::new(Progress::new("slack", false));
    let importer = SlackImporter::build(config, None, None, Some(pipeline.bus()), progress, cancel)
        .await
        .expect("importer builds");
    importer
        .run(&SlackOptions {
            channels: vec![CHANNEL.into()],
            since: None,
            dry_run: false,
        })
        .await
}

#[tokio::test]
async fn a_slack_import_stores_messages_and_threads_once_and_resumes() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (history, replies) = slack_history(450);
    let slack = FakeSlack::start(history, replies).await;
    let config = test_config(&nats, &rae, &slack_yaml(&slack));
    let mut pipeline = Pipeline::start(&config).await;
    // Slack's per-method limit in the middle; then the import is killed at the third page.
    slack.state.lock().unwrap().limited = Some(("conversations.history".into(), 1));
    let kill = CancellationToken::new();
    slack.state.lock().unwrap().kill_at = Some(("cursor=off%3A400".into(), kill.clone()));
    let first = import_slack(&config, &pipeline, kill).await;
    assert!(matches!(first, Err(ImportError::Cancelled)), "{first:?}");

    slack.state.lock().unwrap().kill_at = None;
    let second = import_slack(&config, &pipeline, CancellationToken::new())
        .await
        .unwrap();
    // It resumed at the third page: the first history request of the second run has its cursor.
    let history = slack.asked("conversations.history");
    let statuses: Vec<u16> = history.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses[0], 429, "{history:?}");
    let resumed = &history[history.len() - 1];
    assert!(resumed.0.contains("cursor=off%3A400"), "{history:?}");
    assert_eq!(second.duplicates, 0, "{second:?}");
    // 450 messages, the stored fixture message, the thread's first message and its reply.
    rae_holds(&rae, 453).await;
    let events = stream_json(pipeline.bus(), "RAE_EVENTS").await;
    let reply = events
        .iter()
        .find(|e| e["attributes"]["ts"] == "1483037603.017503")
        .expect("the thread reply");
    assert_eq!(
        reply["attributes"]["session_id"],
        "slack:T123ABC456:C123ABC456:1482960137.003543"
    );
    assert_eq!(reply["attributes"]["user_name"], "Egon Spengler");
    assert_eq!(reply["attributes"]["channel_name"], "engineering");
    assert_eq!(
        reply["content"],
        "Agreed, and we keep Redis only for the cache."
    );
    assert!(
        !events.iter().any(|e| e["content"] == "Deploy finished"),
        "bot messages are not stored"
    );
    // Names are asked once per author and run: seven authors on the first run's pages, the
    // same seven and the fixture's two on the second's.
    assert_eq!(slack.asked("users.info").len(), 7 + 9);

    // A re-run asks only for what is newer than the last message imported: one page, nothing new.
    let before = slack.asked("conversations.history").len();
    let again = import_slack(&config, &pipeline, CancellationToken::new())
        .await
        .unwrap();
    let history = slack.asked("conversations.history");
    assert_eq!(history.len(), before + 1);
    assert!(
        history
            .last()
            .unwrap()
            .0
            .contains("oldest=1600000450.000100"),
        "{history:?}"
    );
    assert_eq!((again.published, again.items), (0, 0), "{again:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_slack_import_after_live_events_stores_no_duplicate() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let (history, replies) = slack_history(0);
    let slack = FakeSlack::start(history, replies).await;
    let config = test_config(&nats, &rae, &slack_yaml(&slack));
    let mut pipeline = Pipeline::start(&config).await;
    for file in [
        "event_callback.message.json",
        "event_callback.thread_reply.json",
    ] {
        let body = std::fs::read_to_string(format!(
            "{}/tests/fixtures/slack/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let signature = rae_ingress::slack::verify::sign(SLACK_SECRET, &ts, body.as_bytes());
        let (status, answer, _) = pipeline
            .post(
                "/api/v1/integrations/slack/events",
                &body,
                &[
                    ("content-type", "application/json"),
                    ("x-slack-request-timestamp", &ts),
                    ("x-slack-signature", &signature),
                ],
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "accepted", "{answer}");
    }
    rae_holds(&rae, 2).await;
    let summary = import_slack(&config, &pipeline, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.duplicates, 2, "{summary:?}");
    assert_eq!(
        summary.published, 1,
        "only the thread's first message is new: {summary:?}"
    );
    rae_holds(&rae, 3).await;
    pipeline.shutdown().await;
}
