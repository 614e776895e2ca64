// The local queue: every memory is written here before it is sent, so a memory made while the
// ingress is unreachable waits (in the extension's storage, surviving restarts) and is sent when
// it answers again. Each item carries its idempotency key from the start, so a retry after a lost
// answer is stored once. Pure apart from the storage and sender it is given.

import type { Delivery, MemoryBody, Waiting } from "./api";

/** Storage that survives restarts (VS Code's `globalState` has this shape). */
export interface Store {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

/** A memory waiting to be sent. */
export interface Queued {
  /** The memory's idempotency key, or a local id for a commit (which has its own). */
  key: string;
  body: MemoryBody;
  queuedAt: string;
  attempts: number;
  lastError?: string;
}

/** What one flush did. */
export interface Flushed {
  sent: number;
  /** Dropped: the ingress refused them for good; each with its reason. */
  rejected: { item: Queued; error: string }[];
  /** Why the flush stopped early (the first retryable or blocked answer), if it did. */
  stopped?: Waiting;
  /** Still waiting. */
  waiting: number;
}

/** Storage key of the queue. */
export const QUEUE_KEY = "rae.queue";
/** At most this many memories wait; beyond that a new one is refused with a message, never dropped. */
export const MAX_QUEUED = 1000;

/** The delay before retry `attempt` (1-based): 1 s doubling to 30 s, raised to `retryAfterMs`. */
export function retryDelayMs(attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.min(60_000, Math.max(backoff, retryAfterMs ?? 0));
}

/** The queue over `store`; `send` delivers one memory. */
export class Queue {
  private flushing: Promise<Flushed> | undefined;

  constructor(
    private readonly store: Store,
    private readonly send: (item: Queued) => Promise<Delivery>,
  ) {}

  /** The waiting memories, oldest first. */
  items(): Queued[] {
    return this.store.get<Queued[]>(QUEUE_KEY) ?? [];
  }

  get size(): number {
    return this.items().length;
  }

  /**
   * Adds a memory; it is stored before anything is sent.
   *
   * @throws Error when the queue is full.
   */
  async add(key: string, body: MemoryBody, now: Date): Promise<void> {
    const items = this.items();
    if (items.some((i) => i.key === key)) return;
    if (items.length >= MAX_QUEUED) {
      throw new Error(
        `${items.length} memories are waiting for the pipeline already: check RAE: Show Status`,
      );
    }
    items.push({ key, body, queuedAt: now.toISOString(), attempts: 0 });
    await this.store.update(QUEUE_KEY, items);
  }

  /**
   * Sends the waiting memories in order until one must wait. One flush runs at a time; a call
   * during one gets that flush's result.
   */
  flush(): Promise<Flushed> {
    if (this.flushing === undefined) {
      this.flushing = this.run().finally(() => {
        this.flushing = undefined;
      });
    }
    return this.flushing;
  }

  private async run(): Promise<Flushed> {
    const result: Flushed = { sent: 0, rejected: [], waiting: 0 };
    for (;;) {
      const head = this.items()[0];
      if (head === undefined) break;
      let outcome: Delivery;
      try {
        outcome = await this.send(head);
      } catch (e) {
        outcome = {
          kind: "retry",
          error: e instanceof Error ? e.message : String(e),
        };
      }
      if (outcome.kind === "sent") {
        result.sent++;
        await this.remove(head.key);
      } else if (outcome.kind === "rejected") {
        result.rejected.push({ item: head, error: outcome.error });
        await this.remove(head.key);
      } else {
        await this.update(head.key, {
          attempts: head.attempts + 1,
          lastError: outcome.error,
        });
        result.stopped = outcome;
        break;
      }
    }
    result.waiting = this.size;
    return result;
  }

  private async remove(key: string): Promise<void> {
    await this.store.update(
      QUEUE_KEY,
      this.items().filter((i) => i.key !== key),
    );
  }

  private async update(key: string, change: Partial<Queued>): Promise<void> {
    await this.store.update(
      QUEUE_KEY,
      this.items().map((i) => (i.key === key ? { ...i, ...change } : i)),
    );
  }
}
