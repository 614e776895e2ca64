// The integration itself: an incident update (from an on-call tool's export or webhook) becomes
// one memory. The seed's integration template: extractContent, calculateImportance, extractTags,
// then the memory the pipeline stores.

import type { Memory } from "./api.js";

export type Severity = "sev1" | "sev2" | "sev3" | "sev4";
export type Status = "triggered" | "acknowledged" | "resolved";

/** One incident update, one JSON object per line of input. */
export interface Incident {
  id: string;
  title: string;
  status: Status;
  severity: Severity;
  service: string;
  summary?: string;
  /** RFC 3339. */
  opened_at: string;
  /** RFC 3339, once resolved. */
  resolved_at?: string;
  url?: string;
}

const SEVERITIES: readonly Severity[] = ["sev1", "sev2", "sev3", "sev4"];
const STATUSES: readonly Status[] = ["triggered", "acknowledged", "resolved"];

/** Reads one incident, or says which field is wrong. */
export function parseIncident(value: unknown): Incident {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("an incident must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  const text = (field: string, required: boolean): string | undefined => {
    const v = record[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v.trim() === "") {
      throw new Error(`field ${field} must be a non-empty string`);
    }
    return v;
  };
  const oneOf = <T extends string>(field: string, allowed: readonly T[]): T => {
    const v = text(field, true);
    if (!allowed.includes(v as T)) {
      throw new Error(`field ${field} must be one of ${allowed.join(", ")}`);
    }
    return v as T;
  };
  const incident: Incident = {
    id: text("id", true)!,
    title: text("title", true)!,
    status: oneOf("status", STATUSES),
    severity: oneOf("severity", SEVERITIES),
    service: text("service", true)!,
    opened_at: text("opened_at", true)!,
  };
  const summary = text("summary", false);
  const resolvedAt = text("resolved_at", false);
  const url = text("url", false);
  if (summary !== undefined) incident.summary = summary;
  if (resolvedAt !== undefined) incident.resolved_at = resolvedAt;
  if (url !== undefined) incident.url = url;
  return incident;
}

/** Minutes from opening to resolution, when both times are known. */
function minutesOpen(incident: Incident): number | undefined {
  if (incident.resolved_at === undefined) return undefined;
  const ms = Date.parse(incident.resolved_at) - Date.parse(incident.opened_at);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 60_000) : undefined;
}

/** The memory text: what happened, in one sentence an agent can use. */
export function extractContent(incident: Incident): string {
  let text = `${incident.severity.toUpperCase()} incident ${incident.id} on ${incident.service} ${incident.status}`;
  const minutes = minutesOpen(incident);
  if (minutes !== undefined) text += ` after ${minutes} min`;
  text += `: ${incident.title}`;
  if (incident.summary !== undefined) text += `. ${incident.summary}`;
  return text;
}

/** 0..1: a sev1 matters most; its resolution (with what was learned) a little more. */
export function calculateImportance(incident: Incident): number {
  const base = { sev1: 0.9, sev2: 0.75, sev3: 0.5, sev4: 0.3 }[
    incident.severity
  ];
  const learned =
    incident.status === "resolved" && incident.summary !== undefined ? 0.05 : 0;
  return Math.min(1, Math.round((base + learned) * 100) / 100);
}

/** Tags to find it by: incidents, the service, the severity and the status. */
export function extractTags(incident: Incident): string[] {
  return ["incident", incident.service, incident.severity, incident.status];
}

/**
 * One item of the memories API. The idempotency key is the incident's id and status, so each
 * status change is stored once however often it is sent.
 */
export function memory(incident: Incident): Memory {
  const metadata: Record<string, unknown> = {
    incident_id: incident.id,
    service: incident.service,
    severity: incident.severity,
    status: incident.status,
  };
  if (incident.url !== undefined) metadata["url"] = incident.url;
  return {
    content: extractContent(incident),
    importance: calculateImportance(incident),
    tags: extractTags(incident),
    source: "incidents",
    kind: `incident_${incident.status}`,
    idempotency_key: idempotencyKey(incident),
    occurred_at: incident.resolved_at ?? incident.opened_at,
    metadata,
  };
}

/** `incident/<id>/<status>`: the sender's own id of this update. */
export function idempotencyKey(incident: Incident): string {
  return `incident/${incident.id}/${incident.status}`;
}
