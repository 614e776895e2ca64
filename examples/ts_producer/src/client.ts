// A small client of `POST /api/v1/memories` with Node's own fetch: one batch per call, retried
// when the pipeline says to (429, 503, by Retry-After) or cannot be reached. Retrying is safe
// because every memory carries an idempotency key.

import type { ApiError, BatchAnswer, Memory, StoreRequest } from "./api.js";

/** The pipeline's default `ingress.max_batch`. */
export const MAX_BATCH = 100;
const MAX_ATTEMPTS = 5;
/** The longest wait between attempts, whatever Retry-After says. */
const MAX_DELAY_SECS = 60;

export interface Pipeline {
  /** `http://127.0.0.1:8080`, without a trailing path. */
  url: string;
  /** An API key (`rpk_...`) with the `memories:write` scope. */
  apiKey: string;
  /** `X-Tenant-ID`; may be left out when the key has one tenant. */
  tenant?: string;
  /** Says what it waits for between attempts. */
  log: (line: string) => void;
}

/** The pipeline refused the request, or could not be reached: nothing was stored. */
export class PipelineError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "PipelineError";
  }
}

const sleep = (secs: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, secs * 1000));

/** The error's message when `text` is the ingress's error body. */
function describe(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as Partial<ApiError>;
    if (typeof body.error === "string" && typeof body.message === "string") {
      const field = body.field === undefined ? "" : ` (field ${body.field})`;
      return `pipeline answered ${status}: ${body.error}: ${body.message}${field}`;
    }
  } catch {
    // Not JSON: a proxy's page, say. Shown as it came.
  }
  return `pipeline answered ${status}: ${text.slice(0, 500)}`;
}

function isBatchAnswer(value: unknown): value is BatchAnswer {
  return (
    typeof value === "object" &&
    value !== null &&
    Array.isArray((value as { results?: unknown }).results)
  );
}

/**
 * Stores one batch of at most MAX_BATCH memories. Answers the per-item results of a 202, a 207
 * (some refused) or a 400 where no item was valid; throws PipelineError for anything else
 * (a wrong key, a missing scope, a tenant the key may not use, an unreachable pipeline).
 */
export async function storeBatch(
  pipeline: Pipeline,
  memories: Memory[],
): Promise<BatchAnswer> {
  if (memories.length === 0 || memories.length > MAX_BATCH) {
    throw new RangeError(`a batch holds 1 to ${MAX_BATCH} memories`);
  }
  const body: StoreRequest = { memories };
  const headers: Record<string, string> = {
    authorization: `Bearer ${pipeline.apiKey}`,
    "content-type": "application/json",
  };
  if (pipeline.tenant !== undefined) headers["x-tenant-id"] = pipeline.tenant;
  const url = `${pipeline.url.replace(/\/+$/, "")}/api/v1/memories`;

  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new PipelineError(
          `pipeline unreachable at ${pipeline.url}: ${reason(err)}`,
        );
      }
      const delay = Math.min(2 ** attempt, MAX_DELAY_SECS);
      pipeline.log(`pipeline unreachable; retrying in ${delay} s`);
      await sleep(delay);
      continue;
    }
    const text = await response.text();
    const answer: unknown = text === "" ? undefined : safeParse(text);
    if ([202, 207, 400].includes(response.status) && isBatchAnswer(answer)) {
      return answer;
    }
    if ([429, 503].includes(response.status) && attempt < MAX_ATTEMPTS) {
      const asked = Number(response.headers.get("retry-after") ?? "1");
      const delay = Math.min(
        Number.isFinite(asked) && asked > 0 ? asked : 1,
        MAX_DELAY_SECS,
      );
      pipeline.log(
        `pipeline answered ${response.status}; retrying in ${delay} s`,
      );
      await sleep(delay);
      continue;
    }
    throw new PipelineError(describe(response.status, text), response.status);
  }
}

/** Why fetch failed: Node's "fetch failed" says little, its cause says more. */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error
    ? `${err.message} (${err.cause.message})`
    : err.message;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
