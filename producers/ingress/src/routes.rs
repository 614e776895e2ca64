//! The route handlers: each finds its integration, then takes the common road of
//! [`respond`](crate::answer::respond) with its producer's handler; plus the health routes.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::answer::{finish, respond, respond_checked};
use crate::{admin, github, memories, presets, slack, webhook};
use crate::{ApiError, Caller, IngressState, API_INTEGRATION, DLQ_INTEGRATION, FORGET_INTEGRATION};
use rae_core::config::Scope;

/// The one `{...}` segment of a route's path. A segment axum cannot decode (bad UTF-8 after
/// percent-decoding) is our JSON 400 naming the path, not axum's plain-text answer.
pub(crate) struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Segment(value)),
            Err(rejection) => Err(ApiError::BadRequest {
                field: Some("path".into()),
                message: rejection.body_text(),
            }),
        }
    }
}

fn no_integration(kind: &str, id: &str) -> Response {
    ApiError::NotFound(format!("no enabled {kind} integration {id:?}")).into_response()
}

pub(crate) async fn webhook_route(
    State(state): State<IngressState>,
    Segment(integration): Segment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = state.webhooks.get(&integration) else {
        return no_integration("webhook", &integration);
    };
    let caller = Caller {
        tenant: Some(hook.tenant.clone()),
        key_id: None,
    };
    respond_checked(
        &state,
        &hook.id,
        caller,
        &headers,
        body,
        |caller| webhook::check_headers(hook, &headers, &state, caller),
        async |sender, body, caller| {
            webhook::accept(hook, sender, &headers, body, &state, caller).await
        },
    )
    .await
}

pub(crate) async fn memories_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond_checked(
        &state,
        API_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        |caller| memories::authorize_json(&state, &headers, Scope::MemoriesWrite, caller),
        async |tenant, body, _| memories::store(&state, tenant, body).await,
    )
    .await
}

pub(crate) async fn memories_query_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond_checked(
        &state,
        API_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        |caller| memories::authorize_json(&state, &headers, Scope::MemoriesRead, caller),
        async |tenant, body, _| memories::query(&state, tenant, body).await,
    )
    .await
}

pub(crate) async fn github_route(
    State(state): State<IngressState>,
    Segment(integration): Segment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = state.github.get(&integration) else {
        // The provider presets share GitHub's route: one URL shape for every provider.
        let Some(preset) = state.presets.get(&integration) else {
            return no_integration("GitHub or provider", &integration);
        };
        return respond(
            &state,
            &preset.id,
            Caller::default(),
            &headers,
            body,
            async |body, caller| presets::accept(preset, &headers, body, &state, caller).await,
        )
        .await;
    };
    respond(
        &state,
        &hook.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| github::accept(hook, &headers, body, &state, caller).await,
    )
    .await
}

pub(crate) async fn slack_events_route(
    State(state): State<IngressState>,
    Segment(integration): Segment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(app) = state.slack.get(&integration) else {
        return no_integration("Slack", &integration);
    };
    respond(
        &state,
        &app.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| slack::accept_event(app, &headers, body, &state, caller).await,
    )
    .await
}

pub(crate) async fn slack_commands_route(
    State(state): State<IngressState>,
    Segment(integration): Segment,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(app) = state.slack.get(&integration) else {
        return no_integration("Slack", &integration);
    };
    respond(
        &state,
        &app.id,
        Caller::default(),
        &headers,
        body,
        async |body, caller| slack::accept_command(app, &headers, body, &state, caller).await,
    )
    .await
}

pub(crate) async fn dlq_list_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<admin::Selection>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let started = Instant::now();
    let mut caller = Caller::default();
    let result = match query {
        Ok(axum::extract::Query(selection)) => {
            admin::list(&state, &headers, selection, &mut caller).await
        }
        Err(rejection) => Err(ApiError::BadRequest {
            field: None,
            message: rejection.body_text(),
        }),
    };
    finish(&state, DLQ_INTEGRATION, &caller, result, started)
}

pub(crate) async fn dlq_show_route(
    State(state): State<IngressState>,
    Segment(id): Segment,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let mut caller = Caller::default();
    let result = admin::show(&state, &headers, id, &mut caller).await;
    finish(&state, DLQ_INTEGRATION, &caller, result, started)
}

async fn dlq_operation(
    state: IngressState,
    headers: HeaderMap,
    body: Body,
    operation: admin::Operation,
) -> Response {
    respond(
        &state,
        DLQ_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        async |body, caller| admin::operate(&state, &headers, body, operation, caller).await,
    )
    .await
}

pub(crate) async fn dlq_replay_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dlq_operation(state, headers, body, admin::Operation::Replay).await
}

pub(crate) async fn dlq_purge_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    dlq_operation(state, headers, body, admin::Operation::Purge).await
}

pub(crate) async fn forget_route(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        &state,
        FORGET_INTEGRATION,
        Caller::default(),
        &headers,
        body,
        async |body, caller| crate::forget::forget(&state, &headers, body, caller).await,
    )
    .await
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `contracts/openapi.json`, as built into the binary.
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::OPENAPI,
    )
}

pub(crate) async fn readyz(State(state): State<IngressState>) -> Response {
    let connected = state.bus.is_connected();
    let streams = connected && state.bus.streams_present().await;
    let body = json!({"status": if streams { "ready" } else { "not_ready" }, "nats_connected": connected, "streams_present": streams});
    let status = if streams {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub(crate) async fn integrations_health(State(state): State<IngressState>) -> Json<Value> {
    let connected = state.bus.is_connected();
    let now = OffsetDateTime::now_utc();
    let activity = state.activity.summaries(now);
    let fmt = |t: &OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    };
    let mut out = serde_json::Map::new();
    for id in state.integration_ids() {
        let a = activity.get(&id).cloned().unwrap_or_default();
        let (status, error) = a.health(now, connected);
        out.insert(
            id,
            json!({"status": status, "last_activity": a.last_activity.as_ref().and_then(fmt), "error": error}),
        );
    }
    if let Some(health) = &state.rae_health {
        let (status, last, error) = health.report();
        out.insert(
            "rae".into(),
            json!({"status": status, "last_activity": last.as_ref().and_then(fmt), "error": error}),
        );
    }
    Json(Value::Object(out))
}
