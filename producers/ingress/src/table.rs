//! The route table: every route of the ingress as (method, path, handler), in one place.
//! [`crate::router`] is built from this table alone, so [`route_table`] is exactly what the
//! ingress serves, and the contract tests check that `contracts/openapi.json` documents exactly
//! these (method, path) pairs, in both directions.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};

use crate::routes::*;
use crate::IngressState;

/// One route: its method, its path in axum's `{name}` syntax (also OpenAPI's) and its handler.
pub(crate) type Entry = (Method, &'static str, MethodRouter<IngressState>);

/// Every route the ingress serves. GET routes also answer HEAD (axum adds it).
pub(crate) fn table() -> Vec<Entry> {
    vec![
        route(
            Method::POST,
            "/api/v1/webhooks/{integration}",
            webhook_route,
        ),
        route(Method::POST, "/api/v1/memories", memories_route),
        route(Method::POST, "/api/v1/memories/query", memories_query_route),
        route(
            Method::POST,
            "/api/v1/integrations/{integration}/webhook",
            github_route,
        ),
        route(
            Method::POST,
            "/api/v1/integrations/{integration}/events",
            slack_events_route,
        ),
        route(
            Method::POST,
            "/api/v1/integrations/{integration}/commands",
            slack_commands_route,
        ),
        route(
            Method::GET,
            "/api/v1/integrations/health",
            integrations_health,
        ),
        route(Method::GET, "/api/v1/dlq", dlq_list_route),
        route(Method::POST, "/api/v1/dlq/replay", dlq_replay_route),
        route(Method::POST, "/api/v1/dlq/purge", dlq_purge_route),
        route(Method::GET, "/api/v1/dlq/{id}", dlq_show_route),
        route(Method::POST, "/api/v1/forget", forget_route),
        route(Method::GET, "/openapi.json", openapi),
        route(Method::GET, "/healthz", healthz),
        route(Method::GET, "/readyz", readyz),
    ]
}

/// The (method, path) pairs of every route the ingress serves, as [`crate::router`] builds them.
pub fn route_table() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// A table entry whose handler answers `method` only: the method is written once.
fn route<H, T>(method: Method, path: &'static str, handler: H) -> Entry
where
    H: Handler<T, IngressState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone())
        .unwrap_or_else(|_| panic!("{method} {path}: axum cannot route this method"));
    (method, path, on(filter, handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        let routes = route_table();
        let mut unique = routes.clone();
        unique.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        unique.dedup();
        assert_eq!(unique.len(), routes.len(), "{routes:?}");
    }
}
