// The rae-pipeline memories API as the extension speaks it: request bodies, headers, answers
// and what each status means for a queued memory. Pure (no VS Code, no I/O) so it is unit-tested.

import type { CodeContext } from "./context";

/** Where memories go and whom they are for (the extension's settings). */
export interface Target {
  /** The ingress base URL, `http://127.0.0.1:8080`. */
  ingressUrl: string;
  /** `X-Tenant-ID`; empty sends none (the key's only tenant). */
  tenant: string;
  /** The RAE project. */
  project: string;
}

/** A commit the memory stands for: the ingress derives the git watcher's event id from it. */
export interface GitCommitRef {
  repository: string;
  sha: string;
}

/** One memory as `POST /api/v1/memories` takes it. */
export interface MemoryBody {
  content: string;
  source: string;
  kind: string;
  tags: string[];
  importance?: number;
  project?: string;
  occurred_at: string;
  idempotency_key?: string;
  git_commit?: GitCommitRef;
  metadata: Record<string, string | number>;
}

/** What a person typed in the remember box: a note, `#tags` and an `!importance`. */
export interface NoteInput {
  note: string;
  tags: string[];
  importance?: number;
}

/** The memory's source name in RAE (`attributes.origin` on the event). */
export const SOURCE = "vscode";
/** RAE's query limit. */
export const MAX_QUERY_CHARS = 1024;
/** The event schema's limits. */
export const MAX_TAGS = 32;
export const MAX_TAG_CHARS = 64;
/** The default content limit of the pipeline (`limits.max_content_bytes`). */
export const MAX_CONTENT_BYTES = 64 * 1024;

const NAMED_IMPORTANCE: Record<string, number> = {
  low: 0.3,
  normal: 0.5,
  medium: 0.5,
  high: 0.8,
  critical: 0.95,
};

/**
 * Reads the remember box: words starting with `#` are tags, one `!high`, `!low`, `!critical`
 * or `!0.7` is the importance, the rest is the note.
 *
 * @throws Error naming the word when an importance is not understood.
 */
export function parseNote(text: string): NoteInput {
  const words: string[] = [];
  const tags: string[] = [];
  let importance: number | undefined;
  for (const word of text.split(/(\s+)/)) {
    const tag = /^#([^\s#]+)$/u.exec(word);
    const bang = /^!(\S+)$/u.exec(word);
    if (tag?.[1] !== undefined) {
      const name = tag[1].toLowerCase().slice(0, MAX_TAG_CHARS);
      if (!tags.includes(name) && tags.length < MAX_TAGS) tags.push(name);
    } else if (bang?.[1] !== undefined) {
      const value = bang[1].toLowerCase();
      const named = NAMED_IMPORTANCE[value];
      const number = Number(value);
      if (named !== undefined) importance = named;
      else if (
        /^(0(\.\d+)?|1(\.0+)?)$/.test(value) &&
        number >= 0 &&
        number <= 1
      )
        importance = number;
      else
        throw new Error(
          `${word}: importance is !low, !normal, !high, !critical or a number from 0 to 1`,
        );
    } else {
      words.push(word);
    }
  }
  const note = words.join("").replace(/\s+/g, " ").trim();
  return importance === undefined ? { note, tags } : { note, tags, importance };
}

/** Text of a code block in Markdown, fenced with more backticks than the code holds. */
export function fenced(code: string, language: string): string {
  const longest = Math.max(
    2,
    ...Array.from(code.matchAll(/`+/g), (m) => m[0].length),
  );
  const fence = "`".repeat(longest + 1);
  return `${fence}${language}\n${code.replace(/\s+$/, "")}\n${fence}`;
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character. */
export function clipBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back off to the start of a UTF-8 sequence.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

/**
 * The memory for a selection (`code` with its `context`) or a note alone.
 *
 * @throws Error when there is nothing to store.
 */
export function memoryBody(
  input: NoteInput,
  code: string | undefined,
  context: CodeContext | undefined,
  project: string,
  now: Date,
  idempotencyKey: string,
): MemoryBody {
  const snippet = code !== undefined && code.trim() !== "" ? code : undefined;
  if (snippet === undefined && input.note === "") {
    throw new Error("nothing to remember: select code or type a note");
  }
  const parts: string[] = [];
  if (input.note !== "") parts.push(input.note);
  if (snippet !== undefined && context !== undefined) {
    const lines =
      context.lineStart === context.lineEnd
        ? `line ${context.lineStart}`
        : `lines ${context.lineStart}-${context.lineEnd}`;
    const where = context.symbol ? ` (${context.symbol})` : "";
    parts.push(
      `${context.path} ${lines}${where}:\n${fenced(snippet, context.language)}`,
    );
  } else if (snippet !== undefined) {
    parts.push(snippet);
  }
  const tags = [SOURCE, ...input.tags.filter((t) => t !== SOURCE)].slice(
    0,
    MAX_TAGS,
  );
  const body: MemoryBody = {
    content: clipBytes(parts.join("\n\n"), MAX_CONTENT_BYTES),
    source: SOURCE,
    kind: snippet !== undefined ? "code" : "note",
    tags,
    project,
    occurred_at: now.toISOString(),
    idempotency_key: idempotencyKey,
    metadata: context === undefined ? {} : contextMetadata(context),
  };
  if (input.importance !== undefined) body.importance = input.importance;
  return body;
}

/** The code context as memory metadata (RAE keeps metadata as given). */
export function contextMetadata(
  context: CodeContext,
): Record<string, string | number> {
  const metadata: Record<string, string | number> = {
    path: context.path,
    language: context.language,
    line_start: context.lineStart,
    line_end: context.lineEnd,
  };
  for (const [key, value] of [
    ["symbol", context.symbol],
    ["workspace", context.workspace],
    ["repository", context.repository],
    ["branch", context.branch],
    ["commit", context.commit],
    ["remote", context.remote],
  ] as const) {
    if (value !== undefined && value !== "") metadata[key] = value;
  }
  return metadata;
}

/** A commit as the memory of automatic code memory. */
export interface CommitFacts {
  repository: string;
  sha: string;
  branch?: string;
  message: string;
  author?: string;
  files?: string[];
  remote?: string;
  committedAt?: Date;
}

/** The memory of a commit made in VS Code, carrying the commit for the git watcher's id. */
export function commitBody(
  commit: CommitFacts,
  project: string,
  now: Date,
): MemoryBody {
  const [subject = "", ...rest] = commit.message.trim().split("\n");
  const short = commit.sha.slice(0, 7);
  const branch = commit.branch ? ` on ${commit.branch}` : "";
  const author = commit.author ? ` by ${commit.author}` : "";
  let content = `Commit ${short}${branch} in ${commit.repository}${author}: ${subject}`;
  const body = rest.join("\n").trim();
  if (body !== "") content += `\n\n${body}`;
  const files = commit.files ?? [];
  if (files.length > 0) {
    const listed = files.slice(0, 20).map((f) => `- ${f}`);
    if (files.length > 20) listed.push(`...and ${files.length - 20} more`);
    content += `\n\nFiles:\n${listed.join("\n")}`;
  }
  const metadata: Record<string, string | number> = {
    repository: commit.repository,
    commit: commit.sha,
  };
  if (commit.branch) metadata["branch"] = commit.branch;
  if (commit.remote) metadata["remote"] = commit.remote;
  return {
    content: clipBytes(content, MAX_CONTENT_BYTES),
    source: SOURCE,
    kind: "commit",
    tags: [SOURCE, "git", "commit"],
    project,
    occurred_at: (commit.committedAt ?? now).toISOString(),
    git_commit: { repository: commit.repository, sha: commit.sha },
    metadata,
  };
}

/** `POST /api/v1/memories/query`'s body. */
export function queryBody(
  query: string,
  project: string,
  k: number,
): { query: string; project: string; k: number } {
  const text = query.trim();
  if (text === "") throw new Error("type something to search for");
  return {
    query: Array.from(text).slice(0, MAX_QUERY_CHARS).join(""),
    project,
    k: Math.min(100, Math.max(1, Math.trunc(k))),
  };
}

/** The URL of `path` on the ingress.
 *
 * @throws Error when the setting is not an http(s) URL.
 */
export function endpoint(ingressUrl: string, path: string): string {
  let base: URL;
  try {
    base = new URL(ingressUrl.trim());
  } catch {
    throw new Error(
      `rae.ingressUrl: ${JSON.stringify(ingressUrl)} is not a URL`,
    );
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new Error(`rae.ingressUrl: must start with http:// or https://`);
  }
  return `${base.origin}${base.pathname.replace(/\/+$/, "")}${path}`;
}

/** The headers of an API request. */
export function headers(
  apiKey: string,
  tenant: string,
): Record<string, string> {
  const h: Record<string, string> = {
    authorization: `Bearer ${apiKey}`,
    "content-type": "application/json",
    "user-agent": "rae-vscode/0.1",
  };
  if (tenant.trim() !== "") h["x-tenant-id"] = tenant.trim();
  return h;
}

/** What an answer means for a memory waiting to be sent. */
export type Delivery =
  /** Stored (or a duplicate of one stored before): done. */
  | { kind: "sent"; id: string; duplicate: boolean }
  /** The pipeline may take it later (unreachable, 5xx, 429, 408): keep it and retry. */
  | { kind: "retry"; error: string; retryAfterMs?: number }
  /** A person must act (no key, refused key or tenant): keep it, retry after they do. */
  | { kind: "blocked"; error: string }
  /** The pipeline will never take it (400, 413, ...): drop it and say why. */
  | { kind: "rejected"; error: string };

/** What the ingress said, as its JSON error body has it. */
export function errorText(status: number, body: unknown): string {
  if (body !== null && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const message = typeof b["message"] === "string" ? b["message"] : undefined;
    const code = typeof b["error"] === "string" ? b["error"] : undefined;
    if (message !== undefined)
      return `${status} ${code ?? ""}: ${message}`.replace(" :", ":");
    if (code !== undefined) return `${status} ${code}`;
  }
  return `HTTP ${status}`;
}

/** Classifies the ingress's answer to `POST /api/v1/memories`. */
export function delivery(
  status: number,
  body: unknown,
  retryAfter: string | null,
): Delivery {
  if (status >= 200 && status < 300) {
    const b = (body ?? {}) as Record<string, unknown>;
    return {
      kind: "sent",
      id: typeof b["id"] === "string" ? b["id"] : "",
      duplicate: b["duplicate"] === true,
    };
  }
  const error = errorText(status, body);
  if (status === 401 || status === 403) return { kind: "blocked", error };
  if (status === 408 || status === 429 || status >= 500) {
    const seconds = Number(retryAfter);
    return retryAfter !== null && Number.isFinite(seconds) && seconds >= 0
      ? { kind: "retry", error, retryAfterMs: seconds * 1000 }
      : { kind: "retry", error };
  }
  return { kind: "rejected", error };
}

/** One memory a recall found. */
export interface Recalled {
  id: string;
  content: string;
  score?: number;
  source?: string;
  url?: string;
  path?: string;
  timestamp?: string;
  tags: string[];
}

/** The memories in RAE's search answer (`{results: [...]}`), tolerating missing fields. */
export function recalled(body: unknown): Recalled[] {
  const results = (body as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return [];
  return results.flatMap((r: unknown): Recalled[] => {
    if (r === null || typeof r !== "object") return [];
    const m = r as Record<string, unknown>;
    const meta = (m["metadata"] ?? {}) as Record<string, unknown>;
    const text = (v: unknown): string | undefined =>
      typeof v === "string" && v !== "" ? v : undefined;
    const content = text(m["content"]);
    if (content === undefined) return [];
    const item: Recalled = {
      id: text(m["id"]) ?? "",
      content,
      tags: Array.isArray(m["tags"])
        ? m["tags"].filter((t): t is string => typeof t === "string")
        : [],
    };
    if (typeof m["score"] === "number") item.score = m["score"];
    const source =
      text(m["source"]) ?? text(meta["origin"]) ?? text(meta["source"]);
    if (source !== undefined) item.source = source;
    const url = text(meta["url"]) ?? text(m["url"]);
    if (url !== undefined && /^https?:\/\//.test(url)) item.url = url;
    const path = text(meta["path"]);
    if (path !== undefined) item.path = path;
    const timestamp = text(m["timestamp"]) ?? text(meta["occurred_at"]);
    if (timestamp !== undefined) item.timestamp = timestamp;
    return [item];
  });
}

/** How long ago `timestamp` was, as a person says it (`3 min ago`). */
export function age(timestamp: string | undefined, now: Date): string {
  if (timestamp === undefined) return "";
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.round((now.getTime() - then) / 1000));
  if (seconds < 60) return "just now";
  const units: [number, string][] = [
    [60 * 60 * 24 * 365, "y"],
    [60 * 60 * 24 * 30, "mo"],
    [60 * 60 * 24, "d"],
    [60 * 60, "h"],
    [60, "min"],
  ];
  for (const [size, unit] of units) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit} ago`;
  }
  return "just now";
}

/** One line describing a recalled memory: score, source and age. */
export function describe(item: Recalled, now: Date): string {
  const parts: string[] = [];
  if (item.score !== undefined) parts.push(item.score.toFixed(2));
  if (item.source !== undefined) parts.push(item.source);
  const when = age(item.timestamp, now);
  if (when !== "") parts.push(when);
  return parts.join(" · ");
}

/** The answers that leave a memory waiting. */
export type Waiting = Extract<Delivery, { kind: "retry" | "blocked" }>;
