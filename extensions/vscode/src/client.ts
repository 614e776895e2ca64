// HTTP to the ingress with Node's fetch: a timeout on every request, answers classified by
// api.ts. No VS Code API here either.

import {
  delivery,
  endpoint,
  errorText,
  headers,
  type Delivery,
  type Target,
} from "./api";

/** How long one request may take. */
const TIMEOUT_MS = 10_000;

/** The answer of a request, or why none came. */
export type Answer =
  | { ok: true; status: number; body: unknown; retryAfter: string | null }
  | { ok: false; error: string };

/** Calls the ingress with the current settings and key. */
export class Client {
  constructor(
    private readonly target: () => Target,
    private readonly apiKey: () => Promise<string | undefined>,
  ) {}

  private async request(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Answer> {
    let url: string;
    try {
      url = endpoint(this.target().ingressUrl, path);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    const init: RequestInit = {
      method,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    };
    if (body !== undefined) {
      const key = await this.apiKey();
      if (key === undefined) {
        return { ok: false, error: "no API key: run RAE: Set API Key" };
      }
      init.headers = headers(key, this.target().tenant);
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text === "" ? null : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return {
        ok: true,
        status: response.status,
        body: parsed,
        retryAfter: response.headers.get("retry-after"),
      };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      return { ok: false, error: `${url} did not answer (${why})` };
    }
  }

  /** Sends one memory; the answer says whether it is stored, must wait or was refused. */
  async store(body: unknown): Promise<Delivery> {
    const answer = await this.request("POST", "/api/v1/memories", body);
    if (!answer.ok) {
      return answer.error.startsWith("no API key") ||
        answer.error.startsWith("rae.ingressUrl")
        ? { kind: "blocked", error: answer.error }
        : { kind: "retry", error: answer.error };
    }
    return delivery(answer.status, answer.body, answer.retryAfter);
  }

  /**
   * Searches memories.
   *
   * @throws Error with the ingress's message when the search fails.
   */
  async query(body: unknown): Promise<unknown> {
    const answer = await this.request("POST", "/api/v1/memories/query", body);
    if (!answer.ok) throw new Error(answer.error);
    if (answer.status !== 200)
      throw new Error(errorText(answer.status, answer.body));
    return answer.body;
  }

  /** The pipeline's readiness: `undefined` when ready, else why not. */
  async health(): Promise<string | undefined> {
    const answer = await this.request("GET", "/readyz");
    if (!answer.ok) return answer.error;
    return answer.status === 200
      ? undefined
      : `not ready (${errorText(answer.status, answer.body)})`;
  }
}
