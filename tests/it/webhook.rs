//! The generic webhook ingress as a sender sees it: answers, and what reached NATS and RAE.

use std::time::Duration;

use serde_json::json;

use rae_core::subjects::EVENTS_STREAM;
use rae_ingress::webhook::verify::sign;

use crate::harness::*;

#[tokio::test]
async fn the_seed_example_reaches_rae_with_its_event_id() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;

    let body = r#"{"content": "Team decided to use PostgreSQL", "source": "my_app", "importance": 0.8, "tags": ["decision"]}"#;
    let (status, answer, _) = pipeline
        .post_webhook(body, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["duplicate"], false);
    let id = answer["id"].as_str().unwrap().to_owned();

    wait_for(
        "RAE to receive the memory",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0];
    assert_eq!(stored.path, "/v2/memories/");
    assert_eq!(stored.body["content"], "Team decided to use PostgreSQL");
    assert_eq!(stored.body["source"], "my_app");
    assert_eq!(stored.body["importance"], 0.8);
    assert!(stored.body["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("decision")));
    assert_eq!(stored.body["metadata"]["event_id"], json!(id));
    assert_eq!(stored.headers["x-tenant-id"], "default-tenant");
    assert_eq!(stored.headers["x-api-key"], RAE_KEY);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn signatures_with_and_without_timestamp_and_rotated_secrets() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let strict = format!(
        "  - id: strict\n    config: {{ secrets: [\"{SECRET}\"], require_timestamp: true }}\n"
    );
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, &strict)).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let body = r#"{"content": "signed without timestamp"}"#;
    let sig = sign(SECRET, None, body.as_bytes());
    let (status, answer, _) = pipeline
        .post_webhook(body, &[("x-webhook-signature", &sig)])
        .await;
    assert_eq!(status, 202, "{answer}");
    // The same signed request again is a replay: answered as a duplicate, never a new event.
    let (status, replay, _) = pipeline
        .post_webhook(body, &[("x-webhook-signature", &sig)])
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["duplicate"], true, "{replay}");
    assert_eq!(replay["id"], answer["id"]);
    // An integration with require_timestamp refuses the body-only signature.
    let (status, refused, _) = pipeline
        .post(
            "/api/v1/webhooks/strict",
            body,
            &[("x-webhook-signature", &sig)],
        )
        .await;
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("X-Webhook-Timestamp is required"),
        "{refused}"
    );

    let body = r#"{"content": "signed with timestamp"}"#;
    let ts = now.to_string();
    let sig = sign(SECRET, Some(&ts), body.as_bytes());
    let headers = [
        ("x-webhook-signature", sig.as_str()),
        ("x-webhook-timestamp", &ts),
    ];
    let (status, answer, _) = pipeline.post_webhook(body, &headers).await;
    assert_eq!(status, 202, "{answer}");
    let (status, replay, _) = pipeline.post_webhook(body, &headers).await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["duplicate"], true, "{replay}");
    let (status, strict, _) = pipeline
        .post("/api/v1/webhooks/strict", body, &headers)
        .await;
    assert_eq!(status, 202, "{strict}");
    assert_eq!(strict["duplicate"], false, "{strict}");

    // The old secret of a rotation still works.
    let body = r#"{"content": "signed with the old secret"}"#;
    let sig = sign(OLD_SECRET, None, body.as_bytes());
    let (status, _, _) = pipeline
        .post_webhook(body, &[("x-webhook-signature", &sig)])
        .await;
    assert_eq!(status, 202);

    wait_for("four memories in RAE", Duration::from_secs(10), || async {
        rae.stored().len() == 4
    })
    .await;
    let stored = rae.stored_event_ids();
    assert!(stored.values().all(|n| *n == 1), "{stored:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_401_and_publish_nothing() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let body = r#"{"content": "should not pass"}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let stale = (now - 301).to_string();
    let future = (now + 301).to_string();
    let stale_sig = sign(SECRET, Some(&stale), body.as_bytes());
    let future_sig = sign(SECRET, Some(&future), body.as_bytes());
    let tampered = sign(SECRET, None, br#"{"content": "something else"}"#);
    let retired = sign("retired-secret", None, body.as_bytes());

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], "missing credentials"),
        (
            "wrong secret",
            vec![("x-webhook-secret", "nope-nope-nope")],
            "secret does not match",
        ),
        (
            "tampered body",
            vec![("x-webhook-signature", &tampered)],
            "signature does not match",
        ),
        (
            "retired secret",
            vec![("x-webhook-signature", &retired)],
            "signature does not match",
        ),
        (
            "stale timestamp",
            vec![
                ("x-webhook-signature", &stale_sig),
                ("x-webhook-timestamp", &stale),
            ],
            "away from the server clock",
        ),
        (
            "future timestamp",
            vec![
                ("x-webhook-signature", &future_sig),
                ("x-webhook-timestamp", &future),
            ],
            "away from the server clock",
        ),
        (
            "malformed signature",
            vec![("x-webhook-signature", "sha1=abc")],
            "sha256=",
        ),
    ];
    for (case, headers, message) in cases {
        let (status, answer, _) = pipeline.post_webhook(body, &headers).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert_eq!(answer["error"], "unauthorized", "{case}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{case}: {answer}"
        );
    }
    assert_eq!(stream_messages(pipeline.bus(), EVENTS_STREAM).await, 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field_and_413_over_the_limit() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let cases = [
        ("{not json", "body"),
        (r#"{"source": "x"}"#, "content"),
        (r#"{"content": ""}"#, "content"),
        (r#"{"content": " \n\t "}"#, "content"),
        // Only NULs, or only zero-width and byte-order marks: nothing a memory could show.
        (r#"{"content": "\u0000\u0000"}"#, "content"),
        (r#"{"content": "\u200b\ufeff\u2060"}"#, "content"),
        (r#"{"content": 42}"#, "content"),
        (r#"{"content": "x", "importance": "high"}"#, "importance"),
        (r#"{"content": "x", "importance": 1.2}"#, "importance"),
        (r#"{"content": "x", "tags": "decision"}"#, "tags"),
        (r#"{"content": "x", "colour": "red"}"#, "colour"),
    ];
    for (body, field) in cases {
        let (status, answer, _) = pipeline
            .post_webhook(body, &[("x-webhook-secret", SECRET)])
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let huge = json!({"content": "x".repeat(1024 * 1024 + 1)}).to_string();
    let (status, answer, _) = pipeline
        .post_webhook(&huge, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");

    // A body that does not declare itself JSON is 415, even when it happens to parse as JSON;
    // JSON formats with a `+json` suffix and a missing type are taken.
    let memory = r#"{"content": "typed"}"#;
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ] {
        let headers = [("x-webhook-secret", SECRET), ("content-type", content_type)];
        let (status, answer, _) = pipeline.post_webhook(memory, &headers).await;
        assert_eq!(status, 415, "{content_type}: {answer}");
        assert_eq!(answer["error"], "unsupported_media_type", "{answer}");
        let essence = content_type.split(';').next().unwrap();
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains(&format!("not {essence}")),
            "{answer}"
        );
    }
    for content_type in [
        "application/json; charset=utf-8",
        "application/cloudevents+json",
    ] {
        let headers = [("x-webhook-secret", SECRET), ("content-type", content_type)];
        let (status, answer, _) = pipeline.post_webhook(memory, &headers).await;
        assert_eq!(status, 202, "{content_type}: {answer}");
    }
    let accepted_typed = 2;

    let (status, answer, _) = pipeline
        .post(
            "/api/v1/webhooks/nope",
            "{}",
            &[("x-webhook-secret", SECRET)],
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "not_found");
    assert_eq!(
        stream_messages(pipeline.bus(), EVENTS_STREAM).await,
        accepted_typed
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn nats_down_is_503_with_retry_after_and_never_2xx() {
    let mut nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    pipeline.accept("before the outage").await;
    nats.stop();
    wait_for("client to notice", Duration::from_secs(10), || async {
        !pipeline.bus().is_connected()
    })
    .await;

    let (status, answer, headers) = pipeline
        .post_webhook(
            r#"{"content": "during the outage"}"#,
            &[("x-webhook-secret", SECRET)],
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable");
    assert!(headers.get("retry-after").is_some());

    nats.restart();
    wait_for("client to reconnect", Duration::from_secs(30), || async {
        pipeline.bus().is_connected()
    })
    .await;
    pipeline.accept("after the outage").await;
    wait_for(
        "both accepted memories in RAE",
        Duration::from_secs(60),
        || async { rae.stored().len() >= 2 },
    )
    .await;
    let contents: Vec<_> = rae
        .stored()
        .iter()
        .map(|r| r.body["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(!contents.contains(&"during the outage".to_owned()));
    assert_eq!(contents.len(), 2, "{contents:?}");
    drop(pipeline.running.take());
}

#[tokio::test]
async fn an_idempotency_key_makes_a_repeat_a_duplicate() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let body = r#"{"content": "order 1 shipped", "idempotency_key": "order-1"}"#;
    let (status, first, _) = pipeline
        .post_webhook(body, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202);
    assert_eq!(first["duplicate"], false);
    let (status, second, _) = pipeline
        .post_webhook(body, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["id"], first["id"]);
    wait_for("one memory", Duration::from_secs(10), || async {
        rae.stored().len() == 1
    })
    .await;
    assert_eq!(stream_messages(pipeline.bus(), EVENTS_STREAM).await, 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn health_routes() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let get = |path: &str| {
        let url = format!("{}{path}", pipeline.base);
        let http = pipeline.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    let (status, wrong_method) = get("/api/v1/webhooks/memory").await;
    assert_eq!(
        (status, wrong_method["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, ready) = get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    pipeline.accept("activity").await;
    let (_, health) = get("/api/v1/integrations/health").await;
    assert_eq!(health["memory"]["status"], "healthy", "{health}");
    assert!(health["memory"]["last_activity"].is_string(), "{health}");
    pipeline.shutdown().await;
}

/// Credentials in what a sender posts never reach JetStream or RAE: each is replaced by a
/// marker naming its kind, in the content and in the attributes.
#[tokio::test]
async fn credentials_are_redacted_before_the_event_is_published() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    let aws = "AKIAIOSFODNN7EXAMPLE";
    let body = json!({
        "content": format!("Rotated the bot token {token} after the leak"),
        "metadata": {"env": format!("AWS_ACCESS_KEY_ID={aws}"), "build": 7},
    })
    .to_string();
    let (status, answer, _) = pipeline
        .post_webhook(&body, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_for(
        "RAE to receive the memory",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0].body;
    assert_eq!(
        stored["content"],
        "Rotated the bot token [redacted github_token] after the leak"
    );
    let everything = stored.to_string();
    assert!(
        !everything.contains(token) && !everything.contains(aws),
        "{stored:#}"
    );
    assert!(
        everything.contains("[redacted aws_access_key]"),
        "{stored:#}"
    );
    // Nor is it in the event JetStream keeps.
    let events = stream_json(pipeline.bus(), EVENTS_STREAM).await;
    assert_eq!(events.len(), 1);
    let event = events[0].to_string();
    assert!(!event.contains(token) && !event.contains(aws), "{event}");
    // The event records which kinds were removed, never the values.
    assert_eq!(
        events[0]["attributes"]["redacted"],
        json!(["aws_access_key", "github_token"]),
        "{event}"
    );
    pipeline.shutdown().await;
}

/// Sends `request` as raw bytes and returns the status and the JSON body of the answer.
async fn raw_request(base: &str, request: &[u8]) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Malformed requests get our JSON error shape with the right status, not the HTTP stack's
/// plain text or an unrelated 413.
#[tokio::test]
async fn malformed_requests_get_the_json_error_shape() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let head = format!(
        "POST /api/v1/webhooks/memory HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Webhook-Secret: {SECRET}\r\n"
    );
    let bad_chunk = format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n");
    let (status, answer) = raw_request(&pipeline.base, bad_chunk.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "bad_request", "{answer}");
    assert_eq!(answer["field"], "body", "{answer}");

    let bad_utf8 = "GET /api/v1/dlq/%FF%FE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, answer) = raw_request(&pipeline.base, bad_utf8.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "bad_request", "{answer}");
    assert_eq!(answer["field"], "path", "{answer}");

    // Too many headers, or too large ones: our JSON 431, before any handler runs.
    let many: String = (0..120)
        .map(|i| format!("X-Padding-{i}: {i}\r\n"))
        .collect();
    let request =
        format!("{head}Content-Type: application/json\r\nContent-Length: 2\r\n{many}\r\n{{}}");
    let (status, answer) = raw_request(&pipeline.base, request.as_bytes()).await;
    assert_eq!(status, 431, "{answer}");
    assert_eq!(answer["error"], "headers_too_large", "{answer}");
    let large = format!("X-Padding: {}\r\n", "a".repeat(20 * 1024));
    let request =
        format!("{head}Content-Type: application/json\r\nContent-Length: 2\r\n{large}\r\n{{}}");
    let (status, answer) = raw_request(&pipeline.base, request.as_bytes()).await;
    assert_eq!(status, 431, "{answer}");
    assert_eq!(answer["error"], "headers_too_large", "{answer}");
    // Past the HTTP layer's own limit (64 KiB of headers) it is still a 431, without a body.
    let huge = format!("X-Padding: {}\r\n", "a".repeat(80 * 1024));
    let request =
        format!("{head}Content-Type: application/json\r\nContent-Length: 2\r\n{huge}\r\n{{}}");
    let (status, _) = raw_request(&pipeline.base, request.as_bytes()).await;
    assert_eq!(status, 431);

    assert_eq!(stream_messages(pipeline.bus(), EVENTS_STREAM).await, 0);
    pipeline.shutdown().await;
}

/// A flood of refused requests from one caller costs one audit record and one summary per
/// window, not a record each.
#[tokio::test]
async fn a_flood_of_refusals_is_folded_into_one_audit_summary() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;
    let body = r#"{"content": "refused"}"#;
    for _ in 0..300 {
        let (status, _, _) = pipeline
            .post_webhook(body, &[("x-webhook-secret", "not-the-secret-at-all")])
            .await;
        assert_eq!(status, 401);
    }
    // A record stands for one refusal; a summary for the `repeated` ones folded after it.
    let accounted = |records: &[serde_json::Value]| -> u64 {
        records
            .iter()
            .map(|r| r["repeated"].as_u64().unwrap_or(1))
            .sum()
    };
    wait_for(
        "all 300 refusals accounted for",
        Duration::from_secs(30),
        || async {
            accounted(&stream_json(pipeline.bus(), rae_core::subjects::AUDIT_STREAM).await) == 300
        },
    )
    .await;
    let records = stream_json(pipeline.bus(), rae_core::subjects::AUDIT_STREAM).await;
    // One record and one summary per 10 s window; the flood may straddle two windows.
    assert!(records.len() <= 4, "{} records: {records:?}", records.len());
    let summary = records
        .iter()
        .find(|r| r["repeated"].is_number())
        .expect("a summary");
    assert_eq!(summary["reason"], "unauthorized");
    assert!(summary["until"].is_string(), "{summary}");
    pipeline.shutdown().await;
}

/// A full events stream refuses new events with 503 and `Retry-After`, and keeps every event
/// it accepted; the audit stream drops its oldest records instead.
#[tokio::test]
async fn a_full_events_stream_is_503_and_keeps_what_it_accepted() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.nats.events_max_bytes = rae_core::config::MIN_STREAM_BYTES;
    let mut pipeline = Pipeline::start(&config).await;
    let events = pipeline.bus().stream(EVENTS_STREAM).await.unwrap();
    let info = events.clone().get_info().await.unwrap();
    assert_eq!(info.config.max_bytes, 1024 * 1024);
    assert_eq!(
        info.config.discard,
        async_nats::jetstream::stream::DiscardPolicy::New
    );
    let audit = pipeline
        .bus()
        .stream(rae_core::subjects::AUDIT_STREAM)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(
        audit.config.discard,
        async_nats::jetstream::stream::DiscardPolicy::Old
    );

    let mut accepted = Vec::new();
    let refusal = loop {
        assert!(
            accepted.len() < 40,
            "1 MiB held more than 40 events of 60 KB"
        );
        let body = json!({"content": format!("{} {}", accepted.len(), "x".repeat(60_000))});
        let (status, answer, headers) = pipeline
            .post_webhook(&body.to_string(), &[("x-webhook-secret", SECRET)])
            .await;
        match status {
            202 => accepted.push(answer["id"].as_str().unwrap().to_owned()),
            _ => break (status, answer, headers),
        }
    };
    let (status, answer, headers) = refusal;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable");
    assert!(headers.get("retry-after").is_some());
    assert!(accepted.len() >= 10, "{}", accepted.len());
    assert_eq!(
        stream_messages(pipeline.bus(), EVENTS_STREAM).await,
        accepted.len() as u64
    );
    wait_for(
        "every accepted event in RAE",
        Duration::from_secs(30),
        || async {
            let stored = rae.stored_event_ids();
            accepted.iter().all(|id| stored.contains_key(id))
        },
    )
    .await;
    pipeline.shutdown().await;
}

#[tokio::test]
async fn content_and_tags_arrive_cleaned_and_implausible_input_is_400() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut pipeline = Pipeline::start(&test_config(&nats, &rae, "")).await;

    // What a sender named and we would have to change is refused, naming the field.
    let refused = [
        (
            r#"{"content": "x", "occurred_at": "0000-01-01T00:00:00Z"}"#,
            "occurred_at",
        ),
        (
            r#"{"content": "x", "occurred_at": "9999-12-31T23:59:59Z"}"#,
            "occurred_at",
        ),
        (r#"{"content": "x", "project": "ops\u0000"}"#, "project"),
        (r#"{"content": "x", "project": "ops\u001b[2J"}"#, "project"),
        (r#"{"content": "x", "source": "my\tapp"}"#, "source"),
    ];
    for (body, field) in refused {
        let (status, answer, _) = pipeline
            .post_webhook(body, &[("x-webhook-secret", SECRET)])
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    assert_eq!(stream_messages(pipeline.bus(), EVENTS_STREAM).await, 0);

    // Text is cleaned: NUL and other controls gone, CRLF a newline, tabs kept; the three
    // spellings of one tag are one lowercase NFC tag.
    let body = json!({
        "content": "deploy\u{0} done\r\nall\tgreen\u{7}\u{85}",
        "tags": ["CAFÉ", "café", "cafe\u{301}", "Deploy"],
        "occurred_at": "2024-05-01T10:00:00Z",
    })
    .to_string();
    let (status, answer, _) = pipeline
        .post_webhook(&body, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_for(
        "RAE to receive the memory",
        Duration::from_secs(10),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let stored = &rae.stored()[0].body;
    assert_eq!(stored["content"], "deploy done\nall\tgreen");
    let tags: Vec<&str> = stored["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // The enricher adds its tags after the sender's.
    assert_eq!(tags[..2], ["caf\u{e9}", "deploy"], "{tags:?}");
    assert_eq!(tags.iter().filter(|t| t.starts_with("caf")).count(), 1);
    assert_eq!(stored["metadata"]["occurred_at"], "2024-05-01T10:00:00Z");
    pipeline.shutdown().await;
}

/// Reads until the server closes the connection; what it sent, or `None` past `deadline`.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    deadline: Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    match tokio::time::timeout(deadline, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

/// Connections an unauthenticated client opens are bounded: silent and slow-header ones are
/// closed after the header timeout, and past the cap a connection gets our JSON 503.
#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_connections_are_capped() {
    use tokio::io::AsyncWriteExt;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.ingress.header_timeout_ms = 5_000;
    config.ingress.max_connections = 3;
    let mut pipeline = Pipeline::start(&config).await;
    let addr = pipeline.base.trim_start_matches("http://").to_owned();
    let connect = || tokio::net::TcpStream::connect(addr.clone());

    // Three connections that send nothing fill the cap; a fourth is refused at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect().await.unwrap());
    }
    let mut fourth = connect().await.unwrap();
    let refused = read_until_closed(&mut fourth, Duration::from_secs(10))
        .await
        .expect("the connection past the cap is closed");
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.contains("retry-after:"), "{refused}");
    assert!(refused.contains(r#""error":"unavailable""#), "{refused}");

    // The silent ones are closed after the header timeout, which frees their slots.
    for stream in &mut silent {
        let answer = read_until_closed(stream, Duration::from_secs(20)).await;
        assert!(answer.is_some(), "a silent connection stayed open");
    }
    // A header sent a byte at a time does not keep its connection either.
    let mut slow = connect().await.unwrap();
    let closed = async {
        for byte in b"POST /api/v1/webhooks/memory HTTP/1.1\r\nHost: x\r\n"
            .iter()
            .cycle()
        {
            if slow.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await; // the slow client's pace
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(30), closed)
            .await
            .unwrap_or(false),
        "a slow header kept its connection"
    );
    pipeline.accept("after the slow clients").await;
    pipeline.shutdown().await;
}

/// What can be refused from the headers is refused before the body is read, and bodies held
/// at once are bounded by `ingress.max_inflight_body_bytes`.
#[tokio::test]
async fn bodies_are_read_only_after_the_headers_pass_and_within_a_budget() {
    use tokio::io::AsyncWriteExt;
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let mut config = test_config(&nats, &rae, "");
    config.ingress.max_inflight_body_bytes = config.ingress.max_body_bytes;
    let mut pipeline = Pipeline::start(&config).await;
    let addr = pipeline.base.trim_start_matches("http://").to_owned();
    let head = |path: &str, auth: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n")
    };
    // No credentials, or an unknown key: answered at once, the promised megabyte never sent.
    for (path, auth) in [
        ("/api/v1/webhooks/memory", ""),
        (
            "/api/v1/memories",
            "Authorization: Bearer rpk_unknown_key_000000000000\r\n",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(head(path, auth).as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 401 "), "{path}: {answer}");
    }

    // A sender holding the whole budget with a slow body makes others wait with 503.
    let mut holder = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let secret = format!("X-Webhook-Secret: {SECRET}\r\n");
    holder
        .write_all(head("/api/v1/webhooks/memory", &secret).as_bytes())
        .await
        .unwrap();
    holder.write_all(b"{\"content\": \"").await.unwrap();
    wait_for(
        "the budget to be spent",
        Duration::from_secs(10),
        || async {
            let (status, _, _) = pipeline
                .post_webhook(r#"{"content": "waits"}"#, &[("x-webhook-secret", SECRET)])
                .await;
            status == 503
        },
    )
    .await;
    let (status, answer, headers) = pipeline
        .post_webhook(r#"{"content": "waits"}"#, &[("x-webhook-secret", SECRET)])
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable");
    assert!(headers.get("retry-after").is_some());
    drop(holder);
    wait_for("the budget back", Duration::from_secs(15), || async {
        let (status, _, _) = pipeline
            .post_webhook(r#"{"content": "after"}"#, &[("x-webhook-secret", SECRET)])
            .await;
        status == 202
    })
    .await;
    pipeline.shutdown().await;
}
