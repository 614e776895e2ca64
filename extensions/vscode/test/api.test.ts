import assert from "node:assert/strict";
import { test } from "node:test";

import {
  age,
  clipBytes,
  commitBody,
  delivery,
  describe,
  endpoint,
  fenced,
  headers,
  memoryBody,
  parseNote,
  queryBody,
  recalled,
} from "../src/api";
import type { CodeContext } from "../src/context";

const NOW = new Date("2026-12-02T10:00:00Z");

const CONTEXT: CodeContext = {
  path: "src/cart.ts",
  language: "typescript",
  lineStart: 3,
  lineEnd: 5,
  symbol: "Cart.total",
  workspace: "shop",
  repository: "shop",
  branch: "main",
  commit: "0123456789abcdef0123456789abcdef01234567",
};

test("the remember box reads a note, #tags and an !importance", () => {
  assert.deepEqual(
    parseNote("  Totals round   half up #Billing #decision !high "),
    {
      note: "Totals round half up",
      tags: ["billing", "decision"],
      importance: 0.8,
    },
  );
  assert.deepEqual(parseNote(""), { note: "", tags: [] });
  assert.deepEqual(parseNote("#a #a !0.25"), {
    note: "",
    tags: ["a"],
    importance: 0.25,
  });
  assert.deepEqual(parseNote("!1"), { note: "", tags: [], importance: 1 });
  // A lone # or ! stays text.
  assert.deepEqual(parseNote("C# is fine!"), { note: "C# is fine!", tags: [] });
  assert.throws(() => parseNote("!urgent"), /!urgent: importance is/);
  assert.throws(() => parseNote("!1.5"), /!1.5: importance/);
});

test("a selection becomes a code memory with its context", () => {
  const body = memoryBody(
    parseNote("why totals round #billing !high"),
    "function total() {\n  return 1;\n}\n",
    CONTEXT,
    "shop",
    NOW,
    "key-1",
  );
  assert.equal(
    body.content,
    "why totals round\n\nsrc/cart.ts lines 3-5 (Cart.total):\n```typescript\nfunction total() {\n  return 1;\n}\n```",
  );
  assert.equal(body.kind, "code");
  assert.equal(body.source, "vscode");
  assert.deepEqual(body.tags, ["vscode", "billing"]);
  assert.equal(body.importance, 0.8);
  assert.equal(body.project, "shop");
  assert.equal(body.idempotency_key, "key-1");
  assert.equal(body.occurred_at, "2026-12-02T10:00:00.000Z");
  assert.deepEqual(body.metadata, {
    path: "src/cart.ts",
    language: "typescript",
    line_start: 3,
    line_end: 5,
    symbol: "Cart.total",
    workspace: "shop",
    repository: "shop",
    branch: "main",
    commit: "0123456789abcdef0123456789abcdef01234567",
  });
  assert.equal("git_commit" in body, false);
});

test("a note alone is a note memory; nothing at all is refused", () => {
  const body = memoryBody(
    parseNote("Deploys freeze on Fridays"),
    undefined,
    undefined,
    "p",
    NOW,
    "k",
  );
  assert.equal(body.content, "Deploys freeze on Fridays");
  assert.equal(body.kind, "note");
  assert.deepEqual(body.metadata, {});
  assert.equal("importance" in body, false);
  assert.throws(
    () => memoryBody(parseNote(" #x "), "  \n", CONTEXT, "p", NOW, "k"),
    /nothing to remember/,
  );
});

test("fences are longer than any backtick run in the code, and content fits the limit", () => {
  assert.equal(fenced("a ``` b", "md"), "````md\na ``` b\n````");
  assert.equal(fenced("x\n\n", ""), "```\nx\n```");
  assert.equal(clipBytes("héllo", 2), "h");
  assert.equal(clipBytes("héllo", 3), "hé");
  const big = memoryBody(
    parseNote(""),
    "é".repeat(40_000),
    CONTEXT,
    "p",
    NOW,
    "k",
  );
  assert.ok(Buffer.byteLength(big.content) <= 64 * 1024);
});

test("a commit memory names the commit for the git watcher's id", () => {
  const body = commitBody(
    {
      repository: "shop",
      sha: "0123456789abcdef0123456789abcdef01234567",
      branch: "main",
      author: "Ada",
      message: "Round totals half up\n\nBecause of the audit.\n",
      files: ["src/cart.ts"],
      committedAt: new Date("2026-12-01T09:00:00Z"),
    },
    "shop",
    NOW,
  );
  assert.deepEqual(body.git_commit, {
    repository: "shop",
    sha: "0123456789abcdef0123456789abcdef01234567",
  });
  assert.equal(body.kind, "commit");
  assert.equal(body.occurred_at, "2026-12-01T09:00:00.000Z");
  assert.equal(
    body.content,
    "Commit 0123456 on main in shop by Ada: Round totals half up\n\nBecause of the audit.\n\nFiles:\n- src/cart.ts",
  );
  assert.equal("idempotency_key" in body, false);
});

test("queries are trimmed and clamped to RAE's limits", () => {
  assert.deepEqual(queryBody("  totals ", "shop", 500), {
    query: "totals",
    project: "shop",
    k: 100,
  });
  assert.equal(queryBody("x".repeat(2000), "p", 0).query.length, 1024);
  assert.equal(queryBody("x", "p", 0).k, 1);
  assert.throws(() => queryBody("   ", "p", 5), /type something/);
});

test("endpoints and headers", () => {
  assert.equal(
    endpoint("http://127.0.0.1:8080/", "/readyz"),
    "http://127.0.0.1:8080/readyz",
  );
  assert.equal(
    endpoint(" https://rae.example.com/pipe// ", "/x"),
    "https://rae.example.com/pipe/x",
  );
  assert.throws(() => endpoint("localhost:8080", "/x"), /must start with http/);
  assert.throws(() => endpoint("not a url", "/x"), /is not a URL/);
  assert.deepEqual(headers("rpk_1", " acme "), {
    authorization: "Bearer rpk_1",
    "content-type": "application/json",
    "user-agent": "rae-vscode/0.1",
    "x-tenant-id": "acme",
  });
  assert.equal("x-tenant-id" in headers("rpk_1", ""), false);
});

test("answers decide what happens to a waiting memory", () => {
  assert.deepEqual(
    delivery(202, { id: "e1", status: "accepted", duplicate: true }, null),
    {
      kind: "sent",
      id: "e1",
      duplicate: true,
    },
  );
  assert.deepEqual(
    delivery(503, { error: "unavailable", message: "NATS is down" }, "2"),
    {
      kind: "retry",
      error: "503 unavailable: NATS is down",
      retryAfterMs: 2000,
    },
  );
  assert.equal(delivery(429, {}, null).kind, "retry");
  assert.equal(delivery(408, null, null).kind, "retry");
  assert.equal(
    delivery(401, { error: "unauthorized", message: "bad key" }, null).kind,
    "blocked",
  );
  assert.equal(delivery(403, null, null).kind, "blocked");
  assert.deepEqual(
    delivery(400, { error: "bad_request", message: "content: too long" }, null),
    {
      kind: "rejected",
      error: "400 bad_request: content: too long",
    },
  );
  assert.equal(delivery(413, "too big", null).kind, "rejected");
});

test("recall results are read leniently and described", () => {
  const items = recalled({
    results: [
      {
        id: "m1",
        content: "Totals round half up",
        score: 0.912,
        timestamp: "2026-12-02T09:57:00Z",
        tags: ["billing", 3],
        metadata: {
          origin: "vscode",
          url: "https://git.example.com/c/1",
          path: "src/cart.ts",
        },
      },
      { id: "m2", content: "" },
      "junk",
      { content: "bare", metadata: { url: "javascript:alert(1)" } },
    ],
  });
  assert.equal(items.length, 2);
  assert.deepEqual(items[0], {
    id: "m1",
    content: "Totals round half up",
    score: 0.912,
    source: "vscode",
    url: "https://git.example.com/c/1",
    path: "src/cart.ts",
    timestamp: "2026-12-02T09:57:00Z",
    tags: ["billing"],
  });
  assert.deepEqual(items[1], { id: "", content: "bare", tags: [] });
  assert.equal(describe(items[0]!, NOW), "0.91 · vscode · 3 min ago");
  assert.deepEqual(recalled({}), []);
  assert.deepEqual(recalled(null), []);
});

test("ages read like a person says them", () => {
  assert.equal(age(undefined, NOW), "");
  assert.equal(age("garbage", NOW), "");
  assert.equal(age("2026-12-02T09:59:30Z", NOW), "just now");
  assert.equal(age("2026-12-02T10:05:00Z", NOW), "just now");
  assert.equal(age("2026-12-02T07:00:00Z", NOW), "3 h ago");
  assert.equal(age("2026-11-25T10:00:00Z", NOW), "7 d ago");
  assert.equal(age("2024-12-02T10:00:00Z", NOW), "2 y ago");
});
