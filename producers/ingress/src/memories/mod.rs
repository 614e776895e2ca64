//! The seed's API integration: `POST /api/v1/memories` stores one memory or a batch
//! (`{"memories": [...]}`), and `POST /api/v1/memories/query` searches RAE. Both take
//! `Authorization: Bearer <api key>` and `X-Tenant-ID`.

use axum::http::{HeaderMap, StatusCode};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::rate_limit::Budget;
use crate::webhook::{self, normalize};
use crate::{require_content_type, Answer, ApiError, Caller, IngressState, API_INTEGRATION};
use rae_core::audit::Outcome;
use rae_core::config::Scope;
use rae_core::event::{commit_id, Event, InvalidField, Limits, Route, Source};

/// Header naming the tenant of a request.
pub use rae_core::api_keys::TENANT_HEADER;

/// Authenticates the key, resolves the tenant and checks `scope` for it, and that the body
/// is declared JSON: everything a request is checked for before its body is read.
///
/// # Errors
/// 401, 403, 400 for a bad `X-Tenant-ID`, 415, 429.
pub fn authorize_json(
    state: &IngressState,
    headers: &HeaderMap,
    scope: Scope,
    caller: &mut Caller,
) -> Result<String, ApiError> {
    let tenant = authorize(state, headers, scope, caller)?;
    require_content_type(headers, &["application/json"])?;
    Ok(tenant)
}

/// Authenticates the key, resolves the tenant and checks `scope` for it.
fn authorize(
    state: &IngressState,
    headers: &HeaderMap,
    scope: Scope,
    caller: &mut Caller,
) -> Result<String, ApiError> {
    let key = state
        .keys
        .authenticate(headers, OffsetDateTime::now_utc())?;
    caller.key_id = Some(key.id.clone());
    let tenant = key.tenant_of(headers, &state.config)?;
    caller.tenant = Some(tenant.clone());
    key.allow(scope, &tenant)?;
    rae_core::api_keys::configured(&state.config, &tenant)?;
    state.admit(Budget::Key(&key.id))?;
    Ok(tenant)
}

/// `POST /api/v1/memories` for `tenant`, which [`authorize_json`] admitted.
///
/// # Errors
/// [`ApiError`] for the whole request; a batch answers each item on its own.
pub async fn store(state: &IngressState, tenant: String, body: &[u8]) -> Result<Answer, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        field: Some("body".into()),
        message: format!("body: not valid JSON ({e})"),
    })?;
    let project = state.config.project_for(&tenant, None).to_owned();
    let route = Route {
        integration: API_INTEGRATION,
        source: Source::Api,
        tenant: &tenant,
        project: &project,
    };
    let now = OffsetDateTime::now_utc();
    let watcher = |repository: &str| {
        state
            .config
            .git_integration_for(&tenant, repository)
            .to_owned()
    };
    let build =
        |value: Value, prefix: &str| build_one(value, prefix, route, &state.limits, now, &watcher);
    let Some(items) = batch_items(&value)? else {
        let (event, keyed) = build(value, "").map_err(ApiError::from)?;
        let accepted = webhook::publish(&event, keyed, &state.context()).await?;
        return Ok(Answer::accepted(&accepted));
    };
    if items.len() > state.config.ingress.max_batch {
        return Err(ApiError::BadRequest {
            field: Some("memories".into()),
            message: format!(
                "memories: at most {} per request, got {}",
                state.config.ingress.max_batch,
                items.len()
            ),
        });
    }
    let built: Vec<Result<(Event, bool), InvalidField>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| build(item.clone(), &format!("memories[{i}]")))
        .collect();
    let ctx = state.context();
    let published = join_all(built.iter().map(|item| async {
        match item {
            Ok((event, keyed)) => Some(webhook::publish(event, *keyed, &ctx).await),
            Err(_) => None,
        }
    }))
    .await;
    Ok(batch_answer(&built, published))
}

/// The event of one memory, the whole body (`prefix` empty) or the batch item `prefix`
/// (`memories[3]`), and whether it is keyed (an idempotency key or a commit). `watcher` names
/// the git integration that watches a repository for this tenant.
///
/// # Errors
/// [`InvalidField`] naming the field below `prefix` (`memories[3].content`), or `body` for a
/// single memory that is not an object.
fn build_one(
    mut value: Value,
    prefix: &str,
    route: Route<'_>,
    limits: &Limits,
    now: OffsetDateTime,
    watcher: &dyn Fn(&str) -> String,
) -> Result<(Event, bool), InvalidField> {
    let at = |field: &str| {
        if prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{prefix}.{field}")
        }
    };
    let commit = take_git_commit(&mut value).map_err(|mut e| {
        e.field = at(&e.field);
        e
    })?;
    let parsed = normalize::parse_value(value, prefix).map_err(|mut e| {
        e.field = match e.field.trim_start_matches('.') {
            "" => "body".to_owned(),
            field => field.to_owned(),
        };
        e
    })?;
    if commit.is_some() && parsed.idempotency_key.is_some() {
        return Err(InvalidField::new(
            at("idempotency_key"),
            "give idempotency_key or git_commit, not both: a commit's memory is keyed by the commit",
        ));
    }
    let keyed = parsed.idempotency_key.is_some() || commit.is_some();
    let mut event = normalize::normalize(parsed, route, limits, now).map_err(|mut e| {
        if !prefix.is_empty() {
            e.field = format!("{prefix}.{}", e.field);
        }
        e
    })?;
    if let Some(commit) = commit {
        // The git watcher's id for this commit, so running both stores the commit once.
        event.id = commit_id(
            &watcher(&commit.repository),
            route.tenant,
            &commit.repository,
            &commit.sha,
        );
    }
    Ok((event, keyed))
}

/// `git_commit` of a memory: the commit it stands for, as the git watcher names it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitCommit {
    /// The repository's name in the git watcher (`repositories[].name`, by default its
    /// directory's name).
    repository: String,
    /// The full commit id (40 or 64 hex digits).
    sha: String,
}

/// Takes `git_commit` out of a memory object (the webhooks' body has no such field) and checks
/// it.
///
/// # Errors
/// [`InvalidField`] naming `git_commit` or the field inside it.
fn take_git_commit(value: &mut Value) -> Result<Option<GitCommit>, InvalidField> {
    let Some(raw) = value.as_object_mut().and_then(|o| o.remove("git_commit")) else {
        return Ok(None);
    };
    let commit: GitCommit = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = match path.as_str() {
            "." => "git_commit".to_owned(),
            inner => format!("git_commit.{inner}"),
        };
        InvalidField::new(field.clone(), format!("{field}: {}", e.into_inner()))
    })?;
    let name = &commit.repository;
    if name.trim().is_empty()
        || name.len() > 128
        || name.contains('/')
        || name.contains(char::is_control)
    {
        return Err(InvalidField::new(
            "git_commit.repository",
            "must be 1 to 128 characters without / (the git watcher's repository name)",
        ));
    }
    let sha = &commit.sha;
    if !matches!(sha.len(), 40 | 64) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(InvalidField::new(
            "git_commit.sha",
            "must be a full commit id of 40 (or 64) hex digits",
        ));
    }
    Ok(Some(commit))
}

/// The items of `{"memories": [...]}`, or `None` for a single memory.
fn batch_items(value: &Value) -> Result<Option<&Vec<Value>>, ApiError> {
    match value.get("memories") {
        None => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => Ok(Some(items)),
        Some(_) => Err(ApiError::BadRequest {
            field: Some("memories".into()),
            message: "memories: must be a non-empty array of memory objects".into(),
        }),
    }
}

/// One result per item; 202 when all were stored, 207 when some were, otherwise 503 when
/// JetStream took none (retry the batch) or 400 when every item was invalid.
fn batch_answer(
    built: &[Result<(Event, bool), InvalidField>],
    published: Vec<Option<Result<webhook::Accepted, ApiError>>>,
) -> Answer {
    let mut results = Vec::with_capacity(built.len());
    let (mut accepted, mut unavailable) = (0usize, None);
    for (index, (item, outcome)) in built.iter().zip(published).enumerate() {
        results.push(match (item, outcome) {
            (Err(e), _) => {
                json!({"index": index, "status": "rejected", "error": "bad_request", "field": e.field, "message": e.to_string()})
            }
            (Ok(_), Some(Ok(a))) => {
                accepted += 1;
                json!({"index": index, "status": "accepted", "id": a.id, "duplicate": a.duplicate})
            }
            (Ok(_), Some(Err(e))) => {
                let answer = json!({"index": index, "status": "rejected", "error": e.code(), "message": e.to_string()});
                unavailable = Some(e);
                answer
            }
            (Ok(_), None) => json!({"index": index, "status": "rejected", "error": "internal"}),
        });
    }
    let total = results.len();
    let body = json!({"accepted": accepted, "rejected": total - accepted, "results": results});
    if accepted == 0 {
        if let Some(ApiError::Unavailable { retry_after_secs }) = unavailable {
            // The whole batch can be retried: answer like a single memory would.
            let mut answer = Answer::reply(StatusCode::SERVICE_UNAVAILABLE, body);
            answer.outcome = Outcome::Rejected;
            answer.reason = Some("unavailable".into());
            answer.retry_after_secs = Some(retry_after_secs);
            return answer;
        }
    }
    let status = match accepted {
        n if n == total => StatusCode::ACCEPTED,
        0 => StatusCode::BAD_REQUEST,
        _ => StatusCode::MULTI_STATUS,
    };
    let mut answer = Answer::reply(status, body);
    answer.outcome = if accepted > 0 {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    };
    if accepted < total {
        answer.reason = Some(format!("{} of {total} items rejected", total - accepted));
    }
    answer
}

/// `POST /api/v1/memories/query` body, RAE's query fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    query: String,
    #[serde(default)]
    k: Option<u32>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    layers: Option<Vec<String>>,
    #[serde(default)]
    filters: Option<Value>,
}

/// `POST /api/v1/memories/query`: RAE's search for `tenant`, which [`authorize_json`]
/// admitted.
///
/// # Errors
/// 400 for a bad query, 502 when RAE cannot answer.
pub async fn query(state: &IngressState, tenant: String, body: &[u8]) -> Result<Answer, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let q: QueryBody = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::BadRequest {
            message: format!("{field}: {}", e.inner()),
            field: Some(field),
        }
    })?;
    let chars = q.query.trim().chars().count();
    if chars == 0 || chars > 1024 {
        return Err(InvalidField::new("query", "must be 1 to 1024 characters").into());
    }
    let k = q.k.unwrap_or(10);
    if !(1..=100).contains(&k) {
        return Err(InvalidField::new("k", "must be 1 to 100").into());
    }
    let project = state
        .config
        .project_for(&tenant, q.project.as_deref())
        .to_owned();
    let mut request = json!({"query": q.query, "project": project, "k": k});
    if let Some(layers) = q.layers {
        request["layers"] = json!(layers);
    }
    if let Some(filters) = q.filters {
        request["filters"] = filters;
    }
    let answer = state.rae.query(&tenant, &request).await.map_err(|e| {
        tracing::warn!(error = %e, "RAE search failed");
        ApiError::Upstream(e.public_message())
    })?;
    Ok(Answer::reply(StatusCode::OK, answer))
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::fuzz;
    use proptest::prelude::*;

    const ROUTE: Route<'static> = Route {
        integration: API_INTEGRATION,
        source: Source::Api,
        tenant: "default-tenant",
        project: "default",
    };

    /// A memory object: known fields (and a stray one) with arbitrary values.
    fn memory() -> impl Strategy<Value = Value> {
        fuzz::memory_object().prop_map(Value::Object)
    }

    fn build(value: Value, prefix: &str) -> Result<(Event, bool), InvalidField> {
        build_one(
            value,
            prefix,
            ROUTE,
            &Limits::default(),
            OffsetDateTime::now_utc(),
            &|_| "git".to_owned(),
        )
    }

    proptest! {
        #![proptest_config(fuzz::config(256))]

        #[test]
        fn batch_items_are_read_or_refused_on_memories(value in fuzz::json()) {
            match batch_items(&value) {
                Ok(None) => prop_assert!(value.get("memories").is_none()),
                Ok(Some(items)) => prop_assert!(!items.is_empty()),
                Err(ApiError::BadRequest { field, .. }) => {
                    prop_assert_eq!(field.as_deref(), Some("memories"));
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }

        #[test]
        fn a_single_memory_is_an_event_or_names_its_field(
            value in prop_oneof![memory(), fuzz::json()],
        ) {
            match build(value, "") {
                Ok((event, _)) => {
                    event.validate(&Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                Err(err) => {
                    prop_assert!(!err.field.is_empty(), "{err}");
                    prop_assert!(!err.field.starts_with('.'), "{err}");
                }
            }
        }

        #[test]
        fn batch_items_are_events_or_name_their_field(
            items in prop::collection::vec(prop_oneof![memory(), fuzz::json()], 1..6),
        ) {
            for (i, item) in items.into_iter().enumerate() {
                let prefix = format!("memories[{i}]");
                match build(item, &prefix) {
                    Ok((event, _)) => {
                        event.validate(&Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                    Err(err) => prop_assert!(
                        err.field == prefix || err.field.starts_with(&format!("{prefix}.")),
                        "{err}"
                    ),
                }
            }
        }
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_memory_naming_a_commit_gets_the_git_watchers_id() {
        let body = json!({"content": "Commit 0123456", "kind": "commit",
            "git_commit": {"repository": "shop", "sha": SHA.to_uppercase()}});
        let (event, keyed) = build(body, "").unwrap();
        assert!(keyed);
        assert_eq!(event.id, commit_id("git", "default-tenant", "shop", SHA));
        assert_eq!(event.kind, "commit");
        // In a batch, the same commit is the same event.
        let item = json!({"content": "again", "git_commit": {"repository": "shop", "sha": SHA}});
        assert_eq!(build(item, "memories[1]").unwrap().0.id, event.id);
    }

    #[test]
    fn a_bad_git_commit_names_its_field() {
        let field = |commit: Value, prefix: &str| {
            build(json!({"content": "x", "git_commit": commit}), prefix)
                .unwrap_err()
                .field
        };
        assert_eq!(field(json!("shop"), ""), "git_commit");
        assert_eq!(field(json!({"repository": "shop"}), ""), "git_commit");
        assert_eq!(
            field(
                json!({"repository": "shop", "sha": SHA, "branch": "main"}),
                ""
            ),
            "git_commit.branch"
        );
        assert_eq!(
            field(json!({"repository": "a/b", "sha": SHA}), ""),
            "git_commit.repository"
        );
        assert_eq!(
            field(
                json!({"repository": "shop", "sha": "0123abc"}),
                "memories[2]"
            ),
            "memories[2].git_commit.sha"
        );
        assert_eq!(
            field(json!({"repository": "shop", "sha": 5}), ""),
            "git_commit.sha"
        );
        let both = json!({"content": "x", "idempotency_key": "k",
            "git_commit": {"repository": "shop", "sha": SHA}});
        assert_eq!(build(both, "").unwrap_err().field, "idempotency_key");
    }

    /// Shrunk from `a_single_memory_is_an_event_or_names_its_field`: a single memory that is
    /// not an object was refused naming the empty field `""`.
    #[test]
    fn a_single_memory_that_is_not_an_object_names_the_body() {
        for body in [
            serde_json::json!([]),
            serde_json::json!("x"),
            serde_json::json!(null),
        ] {
            assert_eq!(build(body.clone(), "").unwrap_err().field, "body", "{body}");
        }
        assert_eq!(
            build(serde_json::json!({"content": 5}), "")
                .unwrap_err()
                .field,
            "content"
        );
    }
}
