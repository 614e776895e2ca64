import assert from "node:assert/strict";
import { test } from "node:test";

import type { Delivery, MemoryBody } from "../src/api";
import {
  MAX_QUEUED,
  Queue,
  QUEUE_KEY,
  retryDelayMs,
  type Queued,
  type Store,
} from "../src/queue";

/** A store like globalState: values survive as JSON. */
class MemoryStore implements Store {
  data = new Map<string, string>();
  get<T>(key: string): T | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.data.set(key, JSON.stringify(value));
  }
}

const NOW = new Date("2026-12-02T10:00:00Z");

function body(content: string): MemoryBody {
  return {
    content,
    source: "vscode",
    kind: "note",
    tags: [],
    occurred_at: NOW.toISOString(),
    idempotency_key: content,
    metadata: {},
  };
}

test("memories wait while the ingress is down and go in order, once, when it answers", async () => {
  const store = new MemoryStore();
  const sent: Queued[] = [];
  let up = false;
  const queue = new Queue(store, async (item): Promise<Delivery> => {
    if (!up) throw new Error("connect ECONNREFUSED");
    sent.push(item);
    return { kind: "sent", id: item.key, duplicate: false };
  });
  await queue.add("a", body("a"), NOW);
  await queue.add("b", body("b"), NOW);
  await queue.add("a", body("a"), NOW); // the same memory twice is queued once
  let result = await queue.flush();
  assert.equal(result.sent, 0);
  assert.equal(result.waiting, 2);
  assert.deepEqual(result.stopped, {
    kind: "retry",
    error: "connect ECONNREFUSED",
  });
  assert.equal(queue.items()[0]?.attempts, 1);
  assert.equal(queue.items()[0]?.lastError, "connect ECONNREFUSED");

  // A new Queue over the same store is a restarted VS Code.
  up = true;
  const again = new Queue(store, async (item) => {
    sent.push(item);
    return { kind: "sent", id: item.key, duplicate: false };
  });
  result = await again.flush();
  assert.equal(result.sent, 2);
  assert.equal(result.waiting, 0);
  assert.deepEqual(
    sent.map((i) => i.body.idempotency_key),
    ["a", "b"],
  );
  assert.deepEqual(store.get(QUEUE_KEY), []);
});

test("a refused memory is dropped and reported; a blocked one waits for the person", async () => {
  const store = new MemoryStore();
  const answers: Delivery[] = [
    { kind: "rejected", error: "400 bad_request: content: too long" },
    { kind: "blocked", error: "401 unauthorized: unknown key" },
  ];
  const queue = new Queue(
    store,
    async () => answers.shift() ?? { kind: "sent", id: "x", duplicate: false },
  );
  await queue.add("bad", body("bad"), NOW);
  await queue.add("good", body("good"), NOW);
  const result = await queue.flush();
  assert.deepEqual(
    result.rejected.map((r) => [r.item.key, r.error]),
    [["bad", "400 bad_request: content: too long"]],
  );
  assert.equal(result.stopped?.kind, "blocked");
  assert.deepEqual(
    queue.items().map((i) => i.key),
    ["good"],
  );
  assert.equal((await queue.flush()).sent, 1);
});

test("concurrent flushes share one run, so nothing is sent twice", async () => {
  const store = new MemoryStore();
  let calls = 0;
  const queue = new Queue(store, async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    return { kind: "sent", id: "x", duplicate: false };
  });
  await queue.add("a", body("a"), NOW);
  const [one, two] = await Promise.all([queue.flush(), queue.flush()]);
  assert.equal(calls, 1);
  assert.equal(one, two);
});

test("a full queue refuses a new memory with a message instead of dropping one", async () => {
  const store = new MemoryStore();
  const queue = new Queue(store, async () => ({
    kind: "retry",
    error: "down",
  }));
  await store.update(
    QUEUE_KEY,
    Array.from({ length: MAX_QUEUED }, (_, i) => ({
      key: `${i}`,
      body: body(`${i}`),
      queuedAt: "",
      attempts: 0,
    })),
  );
  await assert.rejects(
    queue.add("new", body("new"), NOW),
    /1000 memories are waiting/,
  );
  assert.equal(queue.size, MAX_QUEUED);
});

test("retry delays double from a second to half a minute and honour Retry-After", () => {
  assert.deepEqual(
    [1, 2, 3, 5, 6, 20].map((a) => retryDelayMs(a)),
    [1000, 2000, 4000, 16000, 30000, 30000],
  );
  assert.equal(retryDelayMs(1, 5000), 5000);
  assert.equal(retryDelayMs(1, 3_600_000), 60_000);
});
