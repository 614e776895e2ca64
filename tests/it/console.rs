//! The operator console (`console`), used as an operator would: in a real Chromium (Debian's
//! `chromium`, driven by npm `playwright-core` from `tests/it/console/`, which
//! `scripts/test.sh` installs with `npm ci`) against the pipeline running with the fake RAE,
//! and over plain HTTP for the refusals.

use std::path::Path;
use std::time::Duration;

use axum::http::header;
use serde_json::json;

use rae_core::dead_letter::{self, Filter};

use crate::harness::*;

const OPERATOR_KEY: &str = "rpk_console_operator_key_0001";
const READER_KEY: &str = "rpk_console_reader_key_00001";
const OTHER_KEY: &str = "rpk_console_other_tenant_001";
const WRITER_KEY: &str = "rpk_console_writer_only_0001";

/// The console on the ingress, with an operator (look and act), a reader (look only), a key of
/// another tenant, and a key without `console:read`.
fn console_yaml() -> String {
    format!(
        r#"
tenants:
  acme: {{ rae_tenant_id: 7f9c1a52-1b4e-4a51-9a3e-1f2b3c4d5e6f }}
api_keys:
  - {{ id: operator, key: "{OPERATOR_KEY}", scopes: ["console:read", "dlq:admin"], tenants: [default-tenant] }}
  - {{ id: reader, key: "{READER_KEY}", scopes: ["console:read"], tenants: [default-tenant] }}
  - {{ id: acme-operator, key: "{OTHER_KEY}", scopes: ["console:read", "dlq:admin"], tenants: [acme] }}
  - {{ id: writer, key: "{WRITER_KEY}", scopes: ["memories:write"], tenants: [default-tenant] }}
console:
  enabled: true
"#
    )
}

/// Waits for `count` dead letters.
async fn dead_letters(pipeline: &Pipeline, count: usize) -> Vec<dead_letter::Entry> {
    let bus = pipeline.bus().clone();
    wait_for("the dead letters", Duration::from_secs(20), || {
        let bus = bus.clone();
        async move {
            dead_letter::list(&bus, &Filter::default(), 100)
                .await
                .is_ok_and(|l| l.len() == count)
        }
    })
    .await;
    dead_letter::list(&bus, &Filter::default(), 100)
        .await
        .unwrap()
}

/// An HTTP client that does not follow redirects and keeps no cookies.
fn plain() -> reqwest::Client {
    let _ = http();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A `POST` of a form to `url`, with the session `cookie` when given.
async fn post_form(url: &str, cookie: Option<&str>, pairs: &[(&str, &str)]) -> reqwest::Response {
    let mut request = plain()
        .post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).unwrap());
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// Signs in with `key` and returns the session cookie (`rae_console=...`), or the status.
async fn sign_in(base: &str, key: &str) -> Result<String, u16> {
    let response = post_form(&format!("{base}/console/sign-in"), None, &[("key", key)]).await;
    if response.status() != 303 {
        return Err(response.status().as_u16());
    }
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    Ok(cookie.split(';').next().unwrap().to_owned())
}

/// The CSRF token of a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

#[tokio::test]
async fn the_console_refuses_what_it_should_over_http() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    rae.script([Reply::Status(422, json!({"error": {"code": "invalid"}}))]);
    let config = test_config(&nats, &rae, &console_yaml());
    let mut pipeline = Pipeline::start(&config).await;
    let base = pipeline.base.clone();
    pipeline.accept("refused by RAE").await;
    let sequence = dead_letters(&pipeline, 1).await[0].sequence;
    let client = plain();

    // Signed out: pages send to the sign-in page, forms are refused.
    let response = client
        .get(format!("{base}/console/dead-letters"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[header::LOCATION], "/console/sign-in");
    let headers = response.headers();
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");

    // A wrong key, an empty one and a key without console:read make no session.
    assert_eq!(sign_in(&base, "rpk_no_such_key_000000001").await, Err(401));
    assert_eq!(sign_in(&base, "").await, Err(401));
    assert_eq!(sign_in(&base, WRITER_KEY).await, Err(403));

    // Signed in, the list shows the dead letter.
    let operator = sign_in(&base, OPERATOR_KEY).await.unwrap();
    let page = client
        .get(format!("{base}/console/dead-letters"))
        .header(header::COOKIE, &operator)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("refused by RAE"), "{html}");
    let csrf = csrf_of(&html);

    // A form without the session's CSRF token, or with another, is refused and changes nothing.
    for token in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let response = post_form(
            &format!("{base}/console/dead-letters/apply"),
            Some(&operator),
            &[
                ("csrf", token),
                ("action", "purge-selected"),
                ("seq", &sequence.to_string()),
            ],
        )
        .await;
        assert_eq!(response.status(), 403, "csrf {token:?}");
    }
    // The same form without a session is refused too.
    let response = post_form(
        &format!("{base}/console/dead-letters/apply"),
        None,
        &[
            ("csrf", csrf.as_str()),
            ("action", "purge-selected"),
            ("seq", &sequence.to_string()),
        ],
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(dead_letters(&pipeline, 1).await[0].sequence, sequence);

    // A key that may look but not act is refused the dry run.
    let reader = sign_in(&base, READER_KEY).await.unwrap();
    let html = client
        .get(format!("{base}/console/dead-letters"))
        .header(header::COOKIE, &reader)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("refused by RAE"));
    assert!(html.contains("can look but not act"));
    let response = post_form(
        &format!("{base}/console/dead-letters/confirm"),
        Some(&reader),
        &[
            ("csrf", csrf_of(&html).as_str()),
            ("action", "purge-selected"),
            ("seq", &sequence.to_string()),
        ],
    )
    .await;
    assert_eq!(response.status(), 403);

    // Another tenant's key neither lists nor opens it.
    let other = sign_in(&base, OTHER_KEY).await.unwrap();
    let html = client
        .get(format!("{base}/console/dead-letters"))
        .header(header::COOKIE, &other)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("refused by RAE"));
    let response = client
        .get(format!("{base}/console/dead-letters/{sequence}"))
        .header(header::COOKIE, &other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The operator's purge, confirmed with the token, takes it; signing out ends the session.
    let response = post_form(
        &format!("{base}/console/dead-letters/apply"),
        Some(&operator),
        &[
            ("csrf", csrf.as_str()),
            ("action", "purge-selected"),
            ("seq", &sequence.to_string()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Purged 1 dead letter."));
    dead_letters(&pipeline, 0).await;
    let response = post_form(
        &format!("{base}/console/sign-out"),
        Some(&operator),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(response.status(), 303);
    let response = client
        .get(format!("{base}/console/dead-letters"))
        .header(header::COOKIE, &operator)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "the signed-out session still works");

    // Every decision is audited with the key's id.
    let bus = pipeline.bus().clone();
    wait_for(
        "the console's audit records",
        Duration::from_secs(10),
        || {
            let bus = bus.clone();
            async move {
                let records = stream_json(&bus, rae_core::subjects::AUDIT_STREAM).await;
                let console = |op: &str, outcome: &str, key: Option<&str>| {
                    records.iter().any(|r| {
                        r["integration"] == "console"
                            && r["operation"] == op
                            && r["outcome"] == outcome
                            && key.is_none_or(|k| r["key_id"] == k)
                    })
                };
                console("sign_in", "rejected", None)
                    && console("sign_in", "rejected", Some("writer"))
                    && console("sign_in", "answered", Some("operator"))
                    && console("dlq purge", "rejected", Some("operator"))
                    && console("dlq dry_run", "rejected", Some("reader"))
                    && console("dlq purge", "answered", Some("operator"))
                    && console("sign_out", "answered", Some("operator"))
            }
        },
    )
    .await;
    pipeline.shutdown().await;
}

/// The trace by URL, over HTTP as a bookmarked link would ask it: an event with a URL that RAE
/// stored is found by that URL and by its page's URL (a comment's `#fragment` dropped), and its
/// trace shows RAE's memory id; an operator of another tenant finds nothing.
#[tokio::test]
async fn the_trace_finds_a_stored_event_by_its_url() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let linked = format!(
        r#"  - id: linked
    config:
      secrets: ["{SECRET}"]
      mapping: {{ content: "{{{{ body.text }}}}", url: "{{{{ body.link }}}}" }}
{}"#,
        console_yaml()
    );
    let config = test_config(&nats, &rae, &linked);
    let mut pipeline = Pipeline::start(&config).await;
    let base = pipeline.base.clone();
    let page = "https://tracker.example.com/issues/42";
    let body = json!({"text": "Checkout fails for EU cards", "link": format!("{page}#comment-7")});
    let (status, answer, _) = pipeline
        .post(
            "/api/v1/webhooks/linked",
            &body.to_string(),
            &[
                ("content-type", "application/json"),
                ("x-webhook-secret", SECRET),
            ],
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let event_id = answer["id"].as_str().unwrap().to_owned();
    wait_for(
        "RAE to store the event",
        Duration::from_secs(15),
        || async { !rae.stored().is_empty() },
    )
    .await;
    let memory_id = rae.stored()[0].memory_id.clone().unwrap();

    let trace = |cookie: String, q: String| {
        let base = base.clone();
        async move {
            let response = plain()
                .get(format!(
                    "{base}/console/trace?{}",
                    serde_urlencoded::to_string([("q", q)]).unwrap()
                ))
                .header(header::COOKIE, cookie)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let operator = sign_in(&base, OPERATOR_KEY).await.unwrap();
    // The writer records the memory as it acks: wait for the trace to show it.
    wait_for(
        "the trace by URL to list the event",
        Duration::from_secs(15),
        || {
            let asked = trace(operator.clone(), format!("{page}#comment-7"));
            let event_id = event_id.clone();
            async move {
                let (status, html) = asked.await;
                status == 200 && html.contains(&event_id)
            }
        },
    )
    .await;
    let (status, by_page) = trace(operator.clone(), page.to_owned()).await;
    assert_eq!(status, 200, "{by_page}");
    assert!(by_page.contains(&event_id), "{by_page}");
    let (status, steps) = trace(operator, event_id.clone()).await;
    assert_eq!(status, 200, "{steps}");
    assert!(steps.contains(&memory_id), "{steps}");

    // Another tenant's operator: no such event, said as a 404 page.
    let other = sign_in(&base, OTHER_KEY).await.unwrap();
    let (status, elsewhere) = trace(other, page.to_owned()).await;
    assert_eq!(status, 404, "{elsewhere}");
    assert!(!elsewhere.contains(&event_id), "{elsewhere}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_console_is_off_unless_configured() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let config = test_config(&nats, &rae, "");
    let mut pipeline = Pipeline::start(&config).await;
    let (status, body) = get(&format!("{}/console/sign-in", pipeline.base))
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_console_can_have_its_own_address() {
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let yaml = console_yaml().replace(
        "console:\n  enabled: true",
        "console:\n  enabled: true\n  listen: 127.0.0.1:0\n  secure_cookie: true",
    );
    let config = test_config(&nats, &rae, &yaml);
    let mut pipeline = Pipeline::start(&config).await;
    let own = pipeline
        .running
        .as_ref()
        .unwrap()
        .console_addr()
        .expect("the console's own address");
    let base = format!("http://{own}");
    let (status, body) = get(&format!("{base}/console/sign-in")).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("API key"), "{body}");
    let response = post_form(
        &format!("{base}/console/sign-in"),
        None,
        &[("key", OPERATOR_KEY)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // Not on the ingress's listener.
    let (status, _) = get(&format!("{}/console/sign-in", pipeline.base))
        .await
        .unwrap();
    assert_eq!(status, 404);
    pipeline.shutdown().await;
}

/// The console's browser tests' folder, with `node_modules` installed.
fn browser_tests() -> &'static Path {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/console"));
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: scripts/test.sh installs it (cd tests/it/console && npm ci)"
    );
    dir
}

/// Debian's chromium.
fn chromium() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "chromium is not installed: scripts/test.sh installs it (apt-get install chromium)"
    );
    path
}

#[tokio::test]
async fn an_operator_finds_and_replays_a_dead_letter_in_a_browser() {
    let dir = browser_tests();
    let nats = NatsServer::start();
    let rae = FakeRae::start().await;
    let content = "Quarterly numbers for the board";
    rae.script([Reply::Status(
        422,
        json!({"error": {"code": "policy", "message": "content rejected by policy", "details": []}}),
    )]);
    let config = test_config(&nats, &rae, &console_yaml());
    let mut pipeline = Pipeline::start(&config).await;
    pipeline.accept(content).await;
    dead_letters(&pipeline, 1).await;
    // Another event RAE stores, to trace.
    let delivered = pipeline.accept("Deploy 42 went out").await;
    let rae = &rae;
    let delivered_id = delivered.as_str();
    let delivered_memory = move || {
        rae.stored()
            .into_iter()
            .find(|r| r.body["metadata"]["event_id"] == delivered_id)
            .and_then(|r| r.memory_id)
    };
    let memory_of = &delivered_memory;
    wait_for(
        "the delivered memory",
        Duration::from_secs(20),
        || async move { memory_of().is_some() },
    )
    .await;
    let memory_id = delivered_memory().unwrap();

    let home = tempfile::tempdir().unwrap();
    let screenshots = std::env::var("CONSOLE_SCREENSHOTS").unwrap_or_default();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg("dead_letters.mjs")
            .current_dir(dir)
            .env("BASE", &pipeline.base)
            .env("KEY", OPERATOR_KEY)
            .env("OTHER_KEY", OTHER_KEY)
            .env("CONTENT", content)
            .env("DELIVERED_ID", &delivered)
            .env("MEMORY_ID", &memory_id)
            .env("SECRET", SECRET)
            .env("CHROMIUM", chromium())
            .env("SCREENSHOTS", screenshots)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser test finishes in time")
    .expect("node runs (is Node.js installed?)");
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The replay reached RAE: the memory is stored.
    let rae = &rae;
    wait_for(
        "the replayed memory in RAE",
        Duration::from_secs(20),
        || async move {
            rae.stored().iter().any(|r| {
                r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.contains(content))
            })
        },
    )
    .await;
    dead_letters(&pipeline, 0).await;
    pipeline.shutdown().await;
}
